"""The library's one engine for linear mixed models: profiled (RE)ML in lme4's formulation.

Every mixed model of belonging_lib is fitted here: :func:`~belonging_lib.models.multilevel`,
:func:`~belonging_lib.models.null_model`, :func:`~belonging_lib.models.fit_random_intercept` and its
batch form, :func:`~belonging_lib.reliability.icc`, the cluster-randomised trial analyses and the
growth models.

Model and criterion
-------------------
Within a top-level cluster j the relative covariance of the observations is
``V*_j = I + Z_j G Z_j'`` with ``G = Lambda Lambda'`` (lme4's ``theta`` holds the lower triangle of
``Lambda``, column by column), or, for pupils in classes in schools, ``V*_s = I + ts2 11' +
tc2 blockdiag(11')`` with ``theta = (ts, tc)``.  The deviance is profiled over the fixed effects and
the residual variance exactly as lme4 does, so the optimum is lme4's optimum.

Everything is computed from per-cluster sufficient statistics (``Z'Z``, ``Z'X``, ``Z'y`` per cluster
and the pooled ``X'X``, ``X'y``, ``y'y``; class sums for the nested case): one pass over the data,
and an evaluation costs the same however many pupils a cluster has.

Solving, not merely minimising
------------------------------
The fit solves the score equations: the gradient of the profiled criterion is analytic, the Hessian is
the central difference of the analytic gradient (Richardson-extrapolated where it enters the
Satterthwaite df), and a projected Newton iteration with a Levenberg safeguard and a backtracking line
search runs from a grid start until the Newton step is below ``1e-11`` relative to theta.  A variance
parameter whose score points out of the parameter space at zero is held at exactly zero (an explicit
boundary, reported as singular as lme4's ``isSingular``).

Same digits on every machine
----------------------------
No result depends on the BLAS library or its kernel: the cross-products are formed with
``numpy.einsum`` (numpy's own loops, not BLAS), the sums are taken in a fixed order and the small
``p x p`` and ``q x q`` algebra (Cholesky factors, triangular solves) is written out here in
elementwise numpy instead of calling LAPACK, whose results change with the OpenBLAS kernel
(``OPENBLAS_CORETYPE``).  ``tests/test_cross_kernel.py`` checks the digits across kernels.
"""

from __future__ import annotations

import dataclasses

import numpy as np

LOG2PI = float(np.log(2 * np.pi))
SINGULAR_TOL = 1e-4          # lme4's isSingular tolerance on the diagonal of Lambda
SINGULAR_MESSAGE = ("Boundary fit, singular as lme4's isSingular says: a variance component is estimated as zero, or two "
                    "random effects are perfectly correlated (correlation of +1 or -1). The fixed effects and "
                    "their tests are still valid, but the random-effect structure is more complex than the data "
                    "support; consider dropping the random slope or the level whose variance is zero.")


# ----------------------------------------------------------------------------- deterministic small algebra

def _chol(A: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor of a (batch of) symmetric positive-definite matrices, without LAPACK.

    Vectorised over the leading dimensions; the loop runs over the (small) matrix order.
    Raises ``numpy.linalg.LinAlgError`` when a matrix is not positive definite.
    """
    A = np.asarray(A, dtype=float)
    k = A.shape[-1]
    L = np.zeros_like(A)
    for j in range(k):
        s = A[..., j, j] - np.sum(L[..., j, :j] * L[..., j, :j], axis=-1)
        if np.any(~(s > 0)):
            raise np.linalg.LinAlgError("matrix is not positive definite")
        d = np.sqrt(s)
        L[..., j, j] = d
        if j + 1 < k:
            off = A[..., j + 1:, j] - np.sum(L[..., j + 1:, :j] * L[..., None, j, :j], axis=-1)
            L[..., j + 1:, j] = off / d[..., None]
    return L


def _cho_solve(L: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Solve (L L') X = B for X; B (..., k) or (..., k, m); vectorised, no LAPACK."""
    vec = B.ndim == L.ndim - 1
    Y = np.array(B[..., None] if vec else B, dtype=float)
    k = L.shape[-1]
    for i in range(k):                                           # L Y = B
        if i:
            Y[..., i, :] -= np.sum(L[..., i, :i, None] * Y[..., :i, :], axis=-2)
        Y[..., i, :] /= L[..., i, i, None]
    for i in range(k - 1, -1, -1):                               # L' X = Y
        if i + 1 < k:
            Y[..., i, :] -= np.sum(L[..., i + 1:, i, None] * Y[..., i + 1:, :], axis=-2)
        Y[..., i, :] /= L[..., i, i, None]
    return Y[..., 0] if vec else Y


def _logdet_chol(L: np.ndarray) -> np.ndarray:
    return 2.0 * np.sum(np.log(np.diagonal(L, axis1=-2, axis2=-1)), axis=-1)


def _sym_inverse(A: np.ndarray) -> np.ndarray:
    L = _chol(A)
    return _cho_solve(L, np.broadcast_to(np.eye(A.shape[-1]), A.shape))


def _identity_plus_lsl(L: np.ndarray, S: np.ndarray, q: int, J: int) -> tuple[np.ndarray, np.ndarray]:
    """``Lambda' S_j`` and ``I + Lambda' S_j Lambda`` for every cluster j, written out over the (q, q) indices, each step
    one operation on J-long vectors (``L`` lower triangular). Shared by the unweighted and weighted
    criteria, so both do the same arithmetic in the same order."""
    LtS = np.zeros_like(S)  # Lambda' S_j
    for bb in range(q):
        for a in range(bb, q):
            if L[a, bb] != 0.0:
                LtS[bb] += L[a, bb] * S[a]
    W = np.empty_like(S)
    for bb in range(q):
        for d in range(bb + 1):
            acc = np.zeros(J)
            for c in range(d, q):
                if L[c, d] != 0.0:
                    acc += L[c, d] * LtS[bb, c]
            W[bb, d] = acc
            W[d, bb] = acc
        W[bb, bb] = W[bb, bb] + 1.0
    return LtS, W


def _chol_last(A: np.ndarray) -> list:
    """Cholesky factors of J small matrices stored cluster-axis-last, A (k, k, J); returns L[i][j] (J,)."""
    k = A.shape[0]
    L = [[None] * k for _ in range(k)]
    for j in range(k):
        s = A[j, j].copy()
        for m in range(j):
            s -= L[j][m] * L[j][m]
        if np.any(~(s > 0)):
            raise np.linalg.LinAlgError("matrix is not positive definite")
        L[j][j] = np.sqrt(s)
        for i in range(j + 1, k):
            t = A[i, j].copy()
            for m in range(j):
                t -= L[i][m] * L[j][m]
            L[i][j] = t / L[j][j]
    return L


def _cho_solve_last(L: list, B: np.ndarray) -> np.ndarray:
    """Solve (L L') X = B for J systems at once; B (k, m, J)."""
    k = len(L)
    Y = [None] * k
    for i in range(k):
        t = B[i].copy()
        for m in range(i):
            t -= L[i][m] * Y[m]
        Y[i] = t / L[i][i]
    for i in range(k - 1, -1, -1):
        t = Y[i]
        for m in range(i + 1, k):
            t = t - L[m][i] * Y[m]
        Y[i] = t / L[i][i]
    return np.stack(Y)


def stable_order(codes: np.ndarray, n_groups: int) -> np.ndarray:
    """The rows ordered by cluster code, rows of a cluster in their original order: ``argsort(codes,
    kind="stable")``.  A stable order is unique, so codes below 256 or 65,536 are sorted as 8- or
    16-bit integers (numpy's radix sort, one pass per byte) with the same result."""
    codes = np.asarray(codes)
    if len(codes) and 0 <= codes.min() and codes.max() < n_groups:
        if n_groups <= 256:
            return np.argsort(codes.astype(np.uint8), kind="stable")
        if n_groups <= 65536:
            return np.argsort(codes.astype(np.uint16), kind="stable")
    return np.argsort(codes, kind="stable")


def _segment_sum(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Sums over consecutive row segments (rows sorted by cluster), in a fixed order."""
    return np.add.reduceat(values, starts, axis=0)


# ----------------------------------------------------------------------------- results

@dataclasses.dataclass(frozen=True)
class LMMFit:
    """Raw results of a fit (arrays only)."""

    beta: np.ndarray
    vcov: np.ndarray            # Var(beta) = sigma2 (X'V*^-1 X)^-1
    sigma2: float
    theta: np.ndarray           # relative covariance parameters (lme4's theta)
    loglik: float               # REML or ML log-likelihood at the optimum
    reml: bool
    n: int
    p: int
    df_satterthwaite: np.ndarray | None = None
    converged: bool = True
    boundary: bool = False      # singular fit (lme4's isSingular)
    gradient: float = 0.0       # largest |score| of the free parameters at the solution, relative
    iterations: int = 0


# ----------------------------------------------------------------------------- sufficient statistics

def cluster_cross_products(y, X, Z, codes, n_groups, *, pooled: bool = True):
    """The per-cluster sufficient statistics of a two-level model, in one pass over the rows.

    Returns ``ztz`` (J, q, q) with each cluster's ``Z_j'Z_j``, ``ztw`` (J, q, p + 1) with ``[Z_j'X_j,
    Z_j'y_j]`` and ``wtw``: the pooled ``[X y]'[X y]`` (p + 1, p + 1) or, with ``pooled=False``, each
    cluster's (J, p + 1, p + 1), whose sum over clusters is the pooled one.  Each cluster's sums are
    taken by ``bincount`` in row order.  :meth:`TwoLevel.from_data` builds its model from these; a
    data set split into parts (a Dask DataFrame's partitions) gives each part's blocks here, and the
    blocks of a cluster, summed over the parts, are the cluster's blocks (up to rounding).
    """
    X = np.asarray(X, float)
    # the columns of X, each contiguous, from one pass over X (the rows of its transpose)
    cols = list(np.ascontiguousarray(X.T)) + [np.asarray(y, float).ravel()]
    Z = np.asarray(Z, float)
    codes = np.asarray(codes, dtype=np.int64)
    q, r = Z.shape[1], len(cols)

    def csum(v):
        return np.bincount(codes, weights=v, minlength=n_groups)
    if q == 1 and np.all(Z == 1.0):
        ztz = np.bincount(codes, minlength=n_groups).astype(float)[:, None, None]
        ztw = np.stack([csum(c) for c in cols], axis=1)[:, None, :]
    else:
        zc = list(np.ascontiguousarray(Z.T))
        # A column of Z that is a column of [X y] (the intercept, a random slope's variable) is taken
        # as that column, so that each distinct product is formed and summed per cluster once; a
        # product with a column of ones is the other column itself.  Both are exact (x * 1 = x, and
        # x * z = z * x), so the sums are those of every product formed and summed separately.
        vec = cols + zc
        zkey = []
        for a in range(q):
            same = [k for k in range(r) if len(cols[k]) and cols[k][0] == zc[a][0] and np.array_equal(cols[k], zc[a])]
            zkey.append(same[0] if same else r + a)
        ones = {k: bool(len(vec[k]) and vec[k][0] == 1.0 and np.all(vec[k] == 1.0)) for k in set(zkey) | set(range(r))}
        sums: dict = {}

        def psum(i, j):
            key = (min(i, j), max(i, j))
            if key not in sums:
                v = vec[j] if ones[i] else vec[i] if ones[j] else vec[i] * vec[j]
                sums[key] = csum(v)
            return sums[key]
        ztz = np.empty((n_groups, q, q))
        for a in range(q):
            for b in range(a + 1):
                ztz[:, a, b] = ztz[:, b, a] = psum(zkey[a], zkey[b])
        ztw = np.empty((n_groups, q, r))
        for a in range(q):
            for k in range(r):
                ztw[:, a, k] = psum(zkey[a], k)
    if pooled:
        wtw = np.empty((r, r))
        for a in range(r):
            for b in range(a + 1):
                wtw[a, b] = wtw[b, a] = np.einsum("i,i->", cols[a], cols[b])
    else:
        wtw = np.empty((n_groups, r, r))
        for a in range(r):
            for b in range(a + 1):
                wtw[:, a, b] = wtw[:, b, a] = csum(cols[a] * cols[b])
    return ztz, ztw, wtw


# ----------------------------------------------------------------------------- model structures

class TwoLevel:
    """Random intercept and slopes at one grouping level, from per-cluster cross-products.

    ``ztz`` (J, q, q), ``ztw`` (J, q, p + 1) holding ``[Z_j'X_j, Z_j'y_j]``, ``wtw`` (p + 1, p + 1)
    holding ``[X y]'[X y]``.
    """

    def __init__(self, ztz, ztw, wtw, n: int):
        self.ztz, self.ztw, self.wtw = ztz, ztw, wtw
        self.J, self.q = ztz.shape[0], ztz.shape[1]
        self.p = wtw.shape[0] - 1
        self.n = int(n)
        self.tril = np.tril_indices(self.q)
        # lme4's order of theta: the lower triangle column by column
        order = np.lexsort((self.tril[0], self.tril[1]))
        self.tril = (self.tril[0][order], self.tril[1][order])
        self.n_theta = len(self.tril[0])
        self.lower = np.array([0.0 if i == j else -np.inf for i, j in zip(*self.tril)])
        self.blocks = None                                               # unstructured (restrict_to_blocks)
        # the Newton steps and the Satterthwaite Hessian use second_derivatives (a subclass with its
        # own criterion sets this False and falls back on differences of its analytic scores)
        self.analytic_second_derivatives = type(self) is TwoLevel
        self.sum_ztz = np.sum(ztz, axis=0)
        # cluster axis last: the per-cluster algebra runs on long contiguous vectors
        self.S = np.ascontiguousarray(np.moveaxis(ztz, 0, -1))          # (q, q, J)
        self.ZW = np.ascontiguousarray(np.moveaxis(ztw, 0, -1))         # (q, p + 1, J)

    @classmethod
    def from_data(cls, y, X, Z, codes, n_groups) -> "TwoLevel":
        """Per-cluster cross-products in one pass (bincount sums each cluster in row order)."""
        ztz, ztw, wtw = cluster_cross_products(y, X, Z, codes, n_groups)
        return cls(ztz, ztw, wtw, len(np.asarray(y)))

    def restrict_to_blocks(self, blocks) -> "TwoLevel":
        """Random effects correlated only within blocks: ``blocks`` gives each column of Z its block.

        lme4's ``(1 | g) + (0 + x | g)`` (or ``(1 + x || g)``) is two blocks, ``[0, 1]``: the
        off-diagonal elements of Lambda between blocks are fixed at 0, so theta holds the lower
        triangle of each block, block by block, column by column (lme4's order for separate
        terms when each block's columns are contiguous).  One block (all labels equal) is the
        unstructured covariance.  Returns the model itself.
        """
        blocks = np.asarray(blocks)
        if blocks.shape != (self.q,):
            raise ValueError(f"blocks needs one label per random effect ({self.q}), got shape {blocks.shape}")
        keep = blocks[self.tril[0]] == blocks[self.tril[1]]
        self.tril = (self.tril[0][keep], self.tril[1][keep])
        self.n_theta = len(self.tril[0])
        self.lower = np.array([0.0 if i == j else -np.inf for i, j in zip(*self.tril)])
        self.blocks = blocks
        return self

    def lam(self, theta) -> np.ndarray:
        L = np.zeros((self.q, self.q))
        L[self.tril] = theta
        return L

    def start_points(self):
        if self.q == 1:
            return [np.array([t]) for t in np.r_[0.0, np.exp(np.linspace(np.log(1e-3), np.log(1e2), 21))]]
        pts = []
        for c in (0.1, 0.3, 1.0, 3.0):
            pts.append(np.array([c if i == j else 0.0 for i, j in zip(*self.tril)]))
        return pts

    def evaluate(self, theta, derivs: bool = False):
        """M = [X y]'V*^-1[X y] and log|V*|; with ``derivs`` their derivatives in theta."""
        L = self.lam(theta)
        q = self.q
        if q == 1:
            lam2 = L[0, 0] ** 2
            s = self.S[0, 0]
            wj = lam2 / (1.0 + lam2 * s)                   # V*_j^-1 = I - w_j 11'
            u = self.ZW[0]                                  # (p + 1, J)
            M = self.wtw - np.einsum("rj,sj->rs", u * wj, u)
            ldv = float(np.sum(np.log1p(lam2 * s)))
            if not derivs:
                return M, ldv, None
            f = 1.0 / (1.0 + lam2 * s)                     # Z_j'V*^-1 = f_j 1'
            U = u * f                                       # Z_j'V*^-1 [X y]
            UU = np.einsum("rj,sj->rs", U, U)
            dG = 2.0 * L[0, 0]
            dM = -dG * UU
            dldv = dG * float(np.sum(s * f))
            # kept for second_derivatives at the same theta (the next Newton step)
            self._parts = (np.asarray(theta, float).tobytes(), f, U, UU)
            return M, ldv, [(dldv, dM)]
        # Small-matrix algebra written out over the (q, q) indices, each step one operation on
        # J-long contiguous vectors (Lambda is lower triangular: L[a, b] = 0 for a < b).
        S, ZW = self.S, self.ZW
        LtS, W = _identity_plus_lsl(L, S, q, self.J)                  # I + Lambda' S_j Lambda
        C = _chol_last(W)
        R = np.zeros_like(ZW)                                    # Lambda' Z_j'[X y]
        for bb in range(q):
            for a in range(bb, q):
                if L[a, bb] != 0.0:
                    R[bb] += L[a, bb] * ZW[a]
        sol = _cho_solve_last(C, R)                              # W_j^-1 Lambda' Z_j'[X y]
        M = self.wtw.copy()
        for bb in range(q):
            M -= np.einsum("rj,sj->rs", R[bb], sol[bb])
        ldv = 2.0 * float(sum(np.sum(np.log(C[a][a])) for a in range(q)))
        if not derivs:
            return M, ldv, None
        # Z_j'V*^-1 [X y] = Z_j'W_j - S_j Lambda W_j^-1 Lambda' Z_j'W_j; S_j Lambda = (Lambda' S_j)'
        U = ZW.copy()
        for a in range(q):
            for bb in range(q):
                U[a] -= LtS[bb, a] * sol[bb]
        Q = _cho_solve_last(C, LtS)                              # W_j^-1 Lambda' S_j
        P = self.sum_ztz.copy()                                  # sum_j Z_j'V*^-1 Z_j
        for a in range(q):
            for c in range(q):
                for bb in range(q):
                    P[a, c] -= np.einsum("j,j->", LtS[bb, a], Q[bb, c])
        T = np.empty((q, q) + self.wtw.shape)
        for a in range(q):
            for bb in range(a + 1):
                T[a, bb] = np.einsum("rj,sj->rs", U[a], U[bb])
                T[bb, a] = T[a, bb].T
        out = []
        for i, jcol in zip(*self.tril):
            E = np.zeros((q, q))
            E[i, jcol] = 1.0
            dG = np.einsum("ab,cb->ac", E, L) + np.einsum("ab,cb->ac", L, E)     # d(Lambda Lambda')
            out.append((float(np.sum(dG * P)), -np.einsum("ab,abrs->rs", dG, T)))
        # kept for second_derivatives at the same theta (the next Newton step, the Satterthwaite df)
        self._parts = (np.asarray(theta, float).tobytes(), U, T, LtS, Q)
        return M, ldv, out

    def _dG(self, L) -> list:
        """d(Lambda Lambda') / d theta_i for each element of theta."""
        out = []
        for i, jcol in zip(*self.tril):
            E = np.zeros((self.q, self.q))
            E[i, jcol] = 1.0
            out.append(np.einsum("ab,cb->ac", E, L) + np.einsum("ab,cb->ac", L, E))
        return out

    def second_derivatives(self, theta) -> tuple[list, np.ndarray]:
        """Second derivatives in theta of M = [X y]'V*^-1[X y] and of log|V*|, analytically.

        With G = Lambda Lambda', P_j = Z_j'V*_j^-1 Z_j and U_j = Z_j'V*_j^-1 [X y]_j (so that
        dU_j = -P_j dG U_j and dP_j = -P_j dG P_j):

        - d2M/dtheta_i dtheta_k = sum_j U_j'(dG_i P_j dG_k + dG_k P_j dG_i)U_j - U_j' d2G_ik U_j;
        - d2 log|V*| = sum_j tr(P_j d2G_ik) - tr(P_j dG_k P_j dG_i).

        Returns ``(d2M, d2ldv)``: ``d2M[i][k]`` a (p + 1, p + 1) matrix and ``d2ldv`` (k, k).  The
        arithmetic is elementwise over J-long vectors and ``einsum`` (no BLAS), as in :meth:`evaluate`.
        """
        L = self.lam(theta)
        q, k = self.q, self.n_theta
        dG = self._dG(L)
        d2G = [[None] * k for _ in range(k)]
        for i, (ri, ci) in enumerate(zip(*self.tril)):
            for m, (rm, cm) in enumerate(zip(*self.tril)):
                D = np.zeros((q, q))
                if ci == cm:                                        # E_i E_m' + E_m E_i'
                    D[ri, rm] += 1.0
                    D[rm, ri] += 1.0
                d2G[i][m] = D
        S, ZW = self.S, self.ZW
        if q == 1:
            lam2 = L[0, 0] ** 2
            s = S[0, 0]
            parts = getattr(self, "_parts", None)
            if parts is not None and len(parts) == 4 and parts[0] == np.asarray(theta, float).tobytes():
                _, f, U, T = parts                                 # as evaluate() formed them at this theta
            else:
                f = 1.0 / (1.0 + lam2 * s)
                U = ZW[0] * f                                      # (p + 1, J)
                T = np.einsum("rj,sj->rs", U, U)
            P = s * f
            PT = np.einsum("rj,sj->rs", U * P, U)
            g, h = dG[0][0, 0], d2G[0][0][0, 0]
            d2M = [[2.0 * g * g * PT - h * T]]
            d2ldv = np.array([[h * float(np.sum(P)) - g * g * float(np.einsum("j,j->", P, P))]])
            return d2M, d2ldv
        parts = getattr(self, "_parts", None)
        if parts is None or parts[0] != np.asarray(theta, float).tobytes():
            self.evaluate(theta, derivs=True)
            parts = self._parts
        _, U, T, LtS, Q = parts                    # U (q, p + 1, J), T (q, q, p + 1, p + 1)
        P = S - np.einsum("baj,bcj->acj", LtS, Q)                  # (q, q, J): each cluster's P_j
        dGs = np.stack(dG)                                         # (k, q, q)
        d2Gs = np.array([[d2G[i][m] for m in range(k)] for i in range(k)])
        # sum_j U_j'dG_i P_j dG_m U_j = sum over a, b, c, d of dG_i[a, b] dG_m[c, d] N[a, c, b, d], with
        # N[a, c, b, d] = sum_j P_j[a, c] U_j[b]'U_j[d] ((p + 1)-square): the dG's are the same for every
        # cluster, so the sums over clusters are taken once per (a, c, b, d), not per pair of parameters
        r = U.shape[1]
        N = np.empty((q, q, q, q, r, r))
        for a in range(q):
            for c in range(a + 1):
                for b in range(q):
                    wb = U[b] * P[a, c]
                    for d in range(b if a == c else 0, q):         # N[c, a, d, b] = N[a, c, b, d]'
                        N[a, c, b, d] = np.einsum("rj,sj->rs", wb, U[d])
                        N[c, a, d, b] = N[a, c, b, d].T
        cross = np.einsum("iab,acbdrs,mcd->imrs", dGs, N, dGs)
        PG = np.einsum("abj,ibc->iacj", P, dGs)                    # P_j dG_i
        second = np.einsum("imab,abrs->imrs", d2Gs, T)
        full = cross + np.swapaxes(cross, 2, 3) - second
        d2M = [[full[i, m] for m in range(k)] for i in range(k)]
        tr_pp = np.einsum("macj,icaj->im", PG, PG)
        d2ldv = np.einsum("imab,ab->im", d2Gs, np.sum(P, axis=-1)) - tr_pp
        d2ldv = 0.5 * (d2ldv + d2ldv.T)
        return d2M, d2ldv

    def random_covariance(self, theta, sigma2):
        L = self.lam(theta)
        return sigma2 * np.einsum("ab,cb->ac", L, L), None


class Nested(TwoLevel):
    """Random intercepts for pupils in classes in schools, from class-level sums."""

    def __init__(self, nc, sw, school, n_schools, wtw, n: int):
        self.nc, self.sw, self.school, self.n_schools = nc, sw, school, n_schools
        self.wtw = wtw
        self.p = wtw.shape[0] - 1
        self.n = int(n)
        self.q = 1
        self.n_theta = 2
        self.lower = np.array([0.0, 0.0])

    @classmethod
    def from_data(cls, y, X, top, nested) -> "Nested":
        W = np.column_stack([np.asarray(X, float), np.asarray(y, float)])
        n_classes = int(nested.max()) + 1
        order = stable_order(nested, n_classes)
        c = nested[order]
        starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
        nc = np.diff(np.r_[starts, len(c)]).astype(float)
        sw = _segment_sum(W[order], starts)
        school = np.zeros(n_classes, dtype=np.int64)
        school[nested] = top
        return cls(nc, sw, school, int(top.max()) + 1, np.einsum("ir,is->rs", W, W), len(W))

    def start_points(self):
        return [np.array([a, b]) for a in (0.1, 0.3, 1.0) for b in (0.1, 0.3, 1.0)]

    def _school_sum(self, v):
        v = np.asarray(v, float)
        if v.ndim == 1:
            return np.bincount(self.school, weights=v, minlength=self.n_schools)
        return np.stack([np.bincount(self.school, weights=v[:, r], minlength=self.n_schools)
                         for r in range(v.shape[1])], axis=1)

    def evaluate(self, theta, derivs: bool = False):
        ts, tc = float(theta[0]), float(theta[1])
        ts2, tc2 = ts * ts, tc * tc
        w = tc2 / (1.0 + tc2 * self.nc)                      # class blocks: (I + tc2 11')^-1 = I - w 11'
        f = 1.0 / (1.0 + tc2 * self.nc)                      # 1 - w n_c
        M = self.wtw - np.einsum("c,cr,cs->rs", w, self.sw, self.sw)
        u = self._school_sum(self.sw * f[:, None])            # 1_s'W [X y]
        m = self._school_sum(self.nc * f)                     # 1_s'W 1_s
        cs = ts2 / (1.0 + ts2 * m)
        M = M - np.einsum("s,sr,sq->rq", cs, u, u)          # school term: Sherman-Morrison
        ldv = float(np.sum(np.log1p(tc2 * self.nc)) + np.sum(np.log1p(ts2 * m)))
        if not derivs:
            return M, ldv, None
        g = 1.0 / (1.0 + ts2 * m)
        vs = u * g[:, None]                                    # 1_s'V*^-1 [X y]
        d_ts2 = (float(np.sum(m * g)), -np.einsum("sr,sq->rq", vs, vs))
        fn = f * self.nc
        vc = self.sw * f[:, None] - (cs[self.school] * fn)[:, None] * u[self.school]   # 1_c'V*^-1 [X y]
        d_tc2 = (float(np.sum(fn - cs[self.school] * fn * fn)), -np.einsum("cr,cq->rq", vc, vc))
        return M, ldv, [(2 * ts * d_ts2[0], 2 * ts * d_ts2[1]), (2 * tc * d_tc2[0], 2 * tc * d_tc2[1])]

    def random_covariance(self, theta, sigma2):
        return np.array([[sigma2 * theta[0] ** 2]]), sigma2 * theta[1] ** 2


# ----------------------------------------------------------------------------- criterion and scores

class _Point:
    """Everything at one theta: the GLS solution, the criterion and (optionally) its scores."""

    def __init__(self, model, theta, reml: bool, derivs: bool = False):
        p, n = model.p, model.n
        self.theta = np.asarray(theta, float)
        M, self.ldv, self.d = model.evaluate(self.theta, derivs)
        A, b, yvy = M[:p, :p], M[:p, p], M[p, p]
        self.LA = _chol(A)
        self.beta = _cho_solve(self.LA, b)
        self.r2 = max(float(yvy - np.sum(b * self.beta)), 1e-300)
        self.lda = float(_logdet_chol(self.LA))
        self.m = n - p if reml else n
        self.reml = reml
        self.f = self.ldv + (self.lda if reml else 0.0) + self.m * (1 + LOG2PI + np.log(self.r2 / self.m))
        if derivs:
            self.Ainv = _cho_solve(self.LA, np.eye(p))
            v = np.r_[-self.beta, 1.0]
            self.dldv = np.array([d[0] for d in self.d])
            self.dA = [d[1][:p, :p] for d in self.d]
            self.dr2 = np.array([float(np.einsum("r,rs,s->", v, d[1], v)) for d in self.d])
            self.dlda = np.array([float(np.sum(self.Ainv * dA)) for dA in self.dA])

    def pieces(self) -> np.ndarray:
        """Derivatives of log|V*| (+ log|A| under REML) and of the profiled r2, stacked."""
        return np.r_[self.dldv + (self.dlda if self.reml else 0.0), self.dr2]

    def hess(self, J: np.ndarray) -> np.ndarray:
        """Hessian of the profiled criterion from the Jacobian ``J`` of :meth:`pieces` (rows: theta_i)."""
        k = len(self.theta)
        H = J[:, :k] + self.m * (J[:, k:] / self.r2 - np.outer(self.dr2, self.dr2) / self.r2 ** 2)
        return 0.5 * (H + H.T)

    def hess_varpar(self, J: np.ndarray, sigma: float) -> np.ndarray:
        """Hessian of the deviance in lmerTest's varpar = (theta, sigma) from the same Jacobian."""
        k = len(self.theta)
        s2 = sigma * sigma
        H = np.empty((k + 1, k + 1))
        Htt = J[:, :k] + J[:, k:] / s2
        H[:k, :k] = 0.5 * (Htt + Htt.T)
        H[:k, k] = H[k, :k] = -2.0 * self.dr2 / (s2 * sigma)
        H[k, k] = -2.0 * self.m / s2 + 6.0 * self.r2 / (s2 * s2)
        return H

    def grad(self) -> np.ndarray:
        """Score of the profiled criterion (deviance or REML criterion) in theta."""
        return self.dldv + (self.dlda if self.reml else 0.0) + self.m * self.dr2 / self.r2

    def grad_varpar(self, sigma: float) -> np.ndarray:
        """Score of the deviance in lmerTest's varpar = (theta, sigma)."""
        s2 = sigma * sigma
        g = self.dldv + (self.dlda if self.reml else 0.0) + self.dr2 / s2
        return np.r_[g, 2 * self.m / sigma - 2 * self.r2 / (s2 * sigma)]


def _grid_values(model, starts, reml) -> list:
    """The profiled criterion at each start point (:func:`_profiled`), all points at once for a
    random intercept (the same arithmetic as :meth:`TwoLevel.evaluate` and :class:`_Point`, each
    point a row)."""
    if type(model) is not TwoLevel or model.q != 1 or len(starts) < 2:
        return [_profiled(model, t, reml) for t in starts]
    p, n = model.p, model.n
    lam2 = np.array([float(t[0]) ** 2 for t in starts])[:, None]
    s = model.S[0, 0]
    u = model.ZW[0]                                              # (p + 1, J)
    wj = lam2 / (1.0 + lam2 * s)                                 # (points, J)
    # point by point, the arithmetic of TwoLevel.evaluate (each product u * w_j stays in the cache)
    M = np.stack([model.wtw - np.einsum("rj,sj->rs", u * w, u) for w in wj])
    ldv = np.sum(np.log1p(lam2 * s), axis=1)
    A, b, yvy = M[:, :p, :p], M[:, :p, p], M[:, p, p]
    try:
        LA = _chol(A)
    except np.linalg.LinAlgError:                                # some point not positive definite: one by one
        return [_profiled(model, t, reml) for t in starts]
    beta = _cho_solve(LA, b)
    r2 = np.maximum(yvy - np.sum(b * beta, axis=-1), 1e-300)
    m = n - p if reml else n
    lda = _logdet_chol(LA)
    return list(ldv + (lda if reml else 0.0) + m * (1 + LOG2PI + np.log(r2 / m)))


def _profiled(model, theta, reml):
    try:
        return _Point(model, theta, reml).f
    except np.linalg.LinAlgError:
        return np.inf


def _analytic_jacobian(model, pt: _Point, reml: bool) -> np.ndarray:
    """The Jacobian of :meth:`_Point.pieces` in theta from :meth:`TwoLevel.second_derivatives`.

    With v = [-beta, 1] and g_i = (dM_i v)[:p] (so d beta / d theta_i = A^-1 g_i):
    d2 r2 = v' d2M_ik v - 2 g_i' A^-1 g_k (r2 is minimised over beta, which removes the beta terms
    of the first derivative but not of the second), and
    d2 log|A| = tr(A^-1 d2A_ik) - tr(A^-1 dA_i A^-1 dA_k).
    """
    d2M, d2ldv = model.second_derivatives(pt.theta)
    p, k = model.p, len(pt.theta)
    v = np.r_[-pt.beta, 1.0]
    Ainv = pt.Ainv
    g = [np.einsum("rs,s->r", d[1], v)[:p] for d in pt.d]
    AdA = [np.einsum("ab,bc->ac", Ainv, dA) for dA in pt.dA]
    J = np.empty((k, 2 * k))
    for i in range(k):
        for m in range(k):
            r2 = float(np.einsum("r,rs,s->", v, d2M[i][m], v)) - 2.0 * float(np.einsum("r,rs,s->", g[i], Ainv, g[m]))
            lda = float(np.sum(Ainv * d2M[i][m][:p, :p])) - float(np.einsum("ab,ba->", AdA[i], AdA[m]))
            J[i, m] = d2ldv[i, m] + (lda if reml else 0.0)
            J[i, k + m] = r2
    return J


def _pieces_jacobian(model, pt: _Point, reml: bool, *, levels: int = 1, rel: float = 1e-6) -> np.ndarray:
    """Jacobian in theta of the analytic scores' pieces (:meth:`_Point.pieces`).

    A :class:`TwoLevel` model gives it analytically (:func:`_analytic_jacobian`). Other models
    difference the analytic scores: ``levels = 1``, forward differences (for the Newton iterations);
    ``levels >= 2``, central differences Richardson-extrapolated over ``levels`` halvings of the step
    (for the Satterthwaite df, as lmerTest's numDeriv does on the deviance itself).
    """
    if getattr(model, "analytic_second_derivatives", False):
        return _analytic_jacobian(model, pt, reml)
    x = pt.theta
    k = len(x)
    base = pt.pieces()
    J = np.empty((k, len(base)))
    for i in range(k):
        h = rel * max(abs(x[i]), 1e-2)
        if levels == 1:
            e = np.zeros(k)
            e[i] = h
            J[i] = (_Point(model, x + e, reml, derivs=True).pieces() - base) / h
            continue
        table = []
        for lev in range(levels):
            e = np.zeros(k)
            e[i] = h / 2 ** lev
            table.append((_Point(model, x + e, reml, derivs=True).pieces()
                          - _Point(model, x - e, reml, derivs=True).pieces()) / (2 * e[i]))
        for m in range(1, levels):                               # Richardson: O(h^2) error per level
            table = [(4 ** m * table[t + 1] - table[t]) / (4 ** m - 1) for t in range(len(table) - 1)]
        J[i] = table[0]
    return J


def _newton(model, theta0, reml, max_iter: int = 100, xtol: float = 1e-11):
    """Projected Newton with a Levenberg safeguard and backtracking, from theta0."""
    lb = model.lower
    theta = np.maximum(np.asarray(theta0, float), lb)
    pt = _Point(model, theta, reml, derivs=True)
    g = pt.grad()
    it = 0
    converged = False
    for it in range(1, max_iter + 1):
        at_bound = (theta <= lb) & (g > 0)
        free = ~at_bound
        theta = np.where(at_bound, lb, theta)
        if not free.any():
            converged = True
            break
        H = pt.hess(_pieces_jacobian(model, pt, reml))[np.ix_(free, free)]
        gf = g[free]
        if not (np.all(np.isfinite(H)) and np.all(np.isfinite(gf))):
            break                  # an undefined Hessian or score (a flat criterion): not converged
        lam = 0.0
        scale = max(float(np.max(np.abs(np.diag(H)))), 1e-8)
        while True:
            try:
                step = -_cho_solve(_chol(H + lam * np.eye(len(gf))), gf)
                break
            except np.linalg.LinAlgError:
                lam = max(lam * 10.0, 1e-8 * scale)
        full = np.zeros_like(theta)
        full[free] = step
        alpha, accepted = 1.0, None
        for _ in range(60):
            cand = np.maximum(theta + alpha * full, lb)
            try:
                cp = _Point(model, cand, reml, derivs=True)
            except np.linalg.LinAlgError:
                alpha /= 2
                continue
            cg = cp.grad()
            if cp.f < pt.f or (cp.f <= pt.f + 1e-13 * max(1.0, abs(pt.f))
                               and np.max(np.abs(cg[free])) <= np.max(np.abs(gf))):
                accepted = (cand, cp, cg)
                break
            alpha /= 2
        if accepted is None:
            converged = bool(np.max(np.abs(gf)) <= 1e-6 * max(1.0, abs(pt.f)))
            break
        moved = np.max(np.abs(accepted[0] - theta))
        theta, pt, g = accepted
        if moved <= xtol * max(1.0, float(np.max(np.abs(theta)))):
            converged = True
            break
    return theta, pt, g, converged, it


def _boundary_candidates(model, theta):
    """Boundary points worth comparing with an interior solution (q = 1: theta = 0)."""
    if model.n_theta == 1:
        return [np.zeros(1)]
    return []


def _boundary_stays(model, theta) -> bool:
    """Whether Newton started at the boundary point ``theta`` (all zeros) ends where it starts.

    For a :class:`TwoLevel` model with one random effect every derivative of M and log|V*| in theta
    carries the factor ``2 theta``, so the score at zero is exactly zero and the Newton step too."""
    return isinstance(model, TwoLevel) and not isinstance(model, Nested) and model.q == 1 and not np.any(theta)


def satterthwaite(model, pt: _Point, sigma2: float) -> np.ndarray:
    """Satterthwaite df of each fixed effect, as lmerTest defines them.

    ``A = 2 H^-1`` with H the Hessian of the deviance in varpar = (theta, sigma) (analytic for a
    :class:`TwoLevel` model, else Richardson-extrapolated differences of the analytic score); df_k = 2 C_kk^2 / (g_k' A g_k), g_k the gradient
    (analytic) of C_kk = Var(beta_k) in varpar.
    """
    sigma = float(np.sqrt(sigma2))
    H = pt.hess_varpar(_pieces_jacobian(model, pt, pt.reml, levels=2, rel=1e-3), sigma)
    try:
        Acov = 2.0 * _sym_inverse(H)
    except np.linalg.LinAlgError:
        Acov = 2.0 * np.linalg.pinv(H)
    Ainv = pt.Ainv
    diag_c = sigma2 * np.diag(Ainv)
    grads = []
    for dA in pt.dA:
        grads.append(-sigma2 * np.einsum("ir,rs,si->i", Ainv, dA, Ainv))
    grads.append(2 * sigma * np.diag(Ainv))
    G = np.array(grads)                                         # (n_varpar, p)
    denom = np.einsum("ik,ij,jk->k", G, Acov, G)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 2.0 * diag_c ** 2 / denom


def fit(model, *, reml: bool = True, satterthwaite_df: bool = True) -> LMMFit:
    """Fit a :class:`TwoLevel` or :class:`Nested` model by REML or ML."""
    starts = model.start_points()
    vals = _grid_values(model, starts, reml)
    order = np.argsort(vals, kind="stable")
    runs = [_newton(model, starts[order[0]], reml)]
    # Newton from the best grid point can stall on a ridge towards a false boundary (a random slope of
    # I(ses**2), issue 15): then it runs from the other grid points too, best criterion first, until one
    # converges; the lowest criterion wins below
    for k in order[1:]:
        if runs[-1][3]:
            break
        runs.append(_newton(model, starts[k], reml))
    for t in _boundary_candidates(model, runs[0][0]):
        if _boundary_stays(model, t):
            # Newton from this point stays there (its score is exactly zero, or points out of the
            # parameter space), so the run can only win when the point's criterion is no higher
            # than the best run's: the run is made only then
            best_f = min(r[1].f for r in runs)
            if _profiled(model, t, reml) > best_f:
                continue
        runs.append(_newton(model, t, reml))
    theta, pt, g, converged, iters = min(runs, key=lambda r: (r[1].f, -r[3]))
    # The criterion is even in each diagonal element of Lambda, so its score vanishes at zero whether
    # zero is a minimum or a maximum there: a diagonal element that ended at zero is moved off it and
    # the iteration restarted whenever that lowers the criterion (an escape from the false boundary).
    for _ in range(2 * model.n_theta):
        best = None
        for i in np.flatnonzero((model.lower == 0.0) & (np.abs(theta) < 1e-6)):
            for delta in (0.3, 0.1, 0.03, 0.01, 1e-3):
                t = theta.copy()
                t[i] = delta * max(1.0, float(np.max(np.abs(theta))))
                f_t = _profiled(model, t, reml)
                if f_t < pt.f - 1e-12 * max(1.0, abs(pt.f)) and (best is None or f_t < best[0]):
                    best = (f_t, t)
        if best is None:
            break
        run = _newton(model, best[1], reml)
        if run[1].f >= pt.f:
            break
        theta, pt, g, converged, iters = run
    diag = model.lower == 0.0
    # a variance whose optimum is at zero within rounding is put exactly at zero (explicit boundary)
    for i in np.flatnonzero(diag & (np.abs(theta) < 1e-7) & (theta != 0)):
        t0 = theta.copy()
        t0[i] = 0.0
        p0 = _Point(model, t0, reml, derivs=True)
        if p0.f <= pt.f + 1e-10 * max(1.0, abs(pt.f)):
            theta, pt = t0, p0
    if not np.array_equal(pt.theta, theta):               # else the point in hand is this one, recomputed
        pt = _Point(model, theta, reml, derivs=True)
    g = pt.grad()
    free = ~((theta <= model.lower) & (g > 0))
    grad_rel = float(np.max(np.abs(g[free]))) / max(1.0, abs(pt.f)) if free.any() else 0.0
    p, n = model.p, model.n
    sigma2 = pt.r2 / pt.m
    vcov = sigma2 * pt.Ainv
    loglik = -0.5 * pt.f
    boundary = bool(np.any(np.abs(theta[diag]) < SINGULAR_TOL))
    df = satterthwaite(model, pt, sigma2) if satterthwaite_df else None
    return LMMFit(pt.beta, vcov, float(sigma2), theta, float(loglik), reml, n, p, df,
                  bool(converged), boundary, grad_rel, iters)


# ----------------------------------------------------------------------------- entry points

def fit_two_level(y, X, Z, codes, n_groups, *, reml=True, satterthwaite_df=True, blocks=None):
    """Random intercept (Z = ones) or intercept and slopes at one grouping level (``blocks``: see
    :meth:`TwoLevel.restrict_to_blocks`; ``None`` is an unstructured covariance)."""
    model = TwoLevel.from_data(y, X, Z, codes, n_groups)
    if blocks is not None:
        model.restrict_to_blocks(blocks)
    return fit(model, reml=reml, satterthwaite_df=satterthwaite_df), model


def fit_nested(y, X, top, nested, *, reml=True, satterthwaite_df=True):
    """Random intercepts for schools and for classes within schools."""
    model = Nested.from_data(y, X, top, nested)
    return fit(model, reml=reml, satterthwaite_df=satterthwaite_df), model


def fit_random_intercept(y, X, codes, n_groups, *, reml=True, satterthwaite_df=False) -> LMMFit:
    return fit_two_level(y, X, np.ones((len(y), 1)), codes, n_groups, reml=reml,
                         satterthwaite_df=satterthwaite_df)[0]


# ----------------------------------------------------------------------------- weighted (pseudo-ML) two-level model

class WeightedTwoLevel(TwoLevel):
    """Pseudo-maximum likelihood for pupils in schools with weights at both levels.

    The weighted log-likelihood of Rabe-Hesketh & Skrondal (2006, eq. 1), as WeMix evaluates it for
    the linear model: ``sum_j w_j log int prod_i f(y_ij | u_j)^(a_ij) phi(u_j) du_j`` with school
    weights ``w_j`` and conditional (scaled) pupil weights ``a_ij``.  For the normal model the
    integral is closed: the school's term is its unweighted term with the pupils' cross-products
    weighted by ``a_ij`` and ``sum_i a_ij`` in place of its pupil count, multiplied by ``w_j``.
    So everything is computed from the weighted per-cluster cross-products ``Z'AZ``, ``Z'A[X y]``
    and ``[X y]'A[X y]`` (kept per cluster for the sandwich) and the school weights; the profiled
    deviance is lme4's ML deviance with ``n`` replaced by ``sum_ij w_j a_ij``.  With all weights 1
    every quantity is the unweighted one.
    """

    def __init__(self, ztz, ztw, xax, cw, n_rows: int):
        cw = np.asarray(cw, float)
        wtw = np.einsum("j,jrs->rs", cw, xax)
        super().__init__(ztz, ztw, wtw, n_rows)
        self.cw = cw
        self.ztz_raw, self.ztw_raw = ztz, ztw                         # kept to refit with other cluster weights
        self.xax = xax                                            # (J, p + 1, p + 1), per cluster
        self.n_rows = int(n_rows)
        self.sum_ztz = np.einsum("j,jab->ab", cw, ztz)

    @classmethod
    def from_weighted_data(cls, y, X, Z, codes, n_groups, pupil_w, cluster_w) -> "WeightedTwoLevel":
        """Weighted per-cluster cross-products in one pass; ``pupil_w`` the conditional weights (scaled)."""
        X = np.asarray(X, float)
        cols = [np.ascontiguousarray(X[:, k]) for k in range(X.shape[1])] + [np.asarray(y, float)]
        Z = np.asarray(Z, float)
        a = np.asarray(pupil_w, float)
        codes = np.asarray(codes, dtype=np.int64)
        q, r = Z.shape[1], len(cols)

        def csum(v):
            return np.bincount(codes, weights=v, minlength=n_groups)
        zc = [np.ascontiguousarray(Z[:, k]) for k in range(q)]
        za = [z * a for z in zc]
        ztz = np.empty((n_groups, q, q))
        for i in range(q):
            for k in range(i + 1):
                ztz[:, i, k] = ztz[:, k, i] = csum(za[i] * zc[k])
        ztw = np.empty((n_groups, q, r))
        for i in range(q):
            for k in range(r):
                ztw[:, i, k] = csum(za[i] * cols[k])
        ca = [c * a for c in cols]
        xax = np.empty((n_groups, r, r))
        for i in range(r):
            for k in range(i + 1):
                xax[:, i, k] = xax[:, k, i] = csum(ca[i] * cols[k])
        model = cls(ztz, ztw, xax, cluster_w, len(cols[-1]))
        model.asum = csum(a)                                          # sum_i a_ij per cluster
        model.n = float(np.einsum("j,j->", np.asarray(cluster_w, float), model.asum))
        model._design = (codes, n_groups, za, cols[:-1], a)            # for another outcome (with_outcome)
        return model

    def with_outcome(self, y) -> "WeightedTwoLevel":
        """The same design, weights and clusters with another outcome (another plausible value).

        Only the sums that involve the outcome are formed (``Z'Ay``, ``X'Ay`` and ``y'Ay`` per
        cluster: ``q + p + 1`` passes over the pupils instead of all of them); the rest is shared
        with this model.  Each sum is the same operation on the same arrays as in
        :meth:`from_weighted_data`, so the result has the same digits as a fit from scratch.  A
        restriction to blocks (:meth:`TwoLevel.restrict_to_blocks`) carries over.
        """
        codes, n_groups, za, xcols, a = self._design
        y = np.asarray(y, float)
        q, p = self.q, self.p

        def csum(v):
            return np.bincount(codes, weights=v, minlength=n_groups)
        ztw = self.ztw_raw.copy()
        for i in range(q):
            ztw[:, i, p] = csum(za[i] * y)
        ya = y * a
        xax = self.xax.copy()
        for k in range(p):
            xax[:, p, k] = xax[:, k, p] = csum(ya * xcols[k])
        xax[:, p, p] = csum(ya * y)
        model = type(self)(self.ztz_raw, ztw, xax, self.cw, self.n_rows)
        model.asum, model.n, model._design = self.asum, self.n, self._design
        if self.blocks is not None:                                   # uncorrelated random effects stay so
            model.restrict_to_blocks(self.blocks)
        return model

    def evaluate(self, theta, derivs: bool = False):
        """As :meth:`TwoLevel.evaluate`, each cluster's terms multiplied by its weight."""
        L = self.lam(theta)
        q, cw = self.q, self.cw
        if q == 1:
            lam2 = L[0, 0] ** 2
            s = self.S[0, 0]
            wj = lam2 / (1.0 + lam2 * s)
            u = self.ZW[0]
            M = self.wtw - np.einsum("rj,sj->rs", u * (wj * cw), u)
            ldv = float(np.einsum("j,j->", cw, np.log1p(lam2 * s)))
            if not derivs:
                return M, ldv, None
            f = 1.0 / (1.0 + lam2 * s)
            U = u * f
            dG = 2.0 * L[0, 0]
            dM = -dG * np.einsum("rj,sj->rs", U * cw, U)
            dldv = dG * float(np.einsum("j,j->", cw, s * f))
            return M, ldv, [(dldv, dM)]
        S, ZW = self.S, self.ZW
        LtS, W = _identity_plus_lsl(L, S, q, self.J)
        C = _chol_last(W)
        R = np.zeros_like(ZW)
        for bb in range(q):
            for a in range(bb, q):
                if L[a, bb] != 0.0:
                    R[bb] += L[a, bb] * ZW[a]
        sol = _cho_solve_last(C, R)
        M = self.wtw.copy()
        for bb in range(q):
            M -= np.einsum("rj,sj->rs", R[bb] * cw, sol[bb])
        ldv = 2.0 * float(sum(np.einsum("j,j->", cw, np.log(C[a][a])) for a in range(q)))
        if not derivs:
            return M, ldv, None
        U = ZW.copy()
        for a in range(q):
            for bb in range(q):
                U[a] -= LtS[bb, a] * sol[bb]
        Q = _cho_solve_last(C, LtS)
        P = self.sum_ztz.copy()
        for a in range(q):
            for c in range(q):
                for bb in range(q):
                    P[a, c] -= np.einsum("j,j->", LtS[bb, a] * cw, Q[bb, c])
        T = np.empty((q, q) + self.wtw.shape)
        for a in range(q):
            for bb in range(a + 1):
                T[a, bb] = np.einsum("rj,sj->rs", U[a] * cw, U[bb])
                T[bb, a] = T[a, bb].T
        out = []
        for i, jcol in zip(*self.tril):
            E = np.zeros((q, q))
            E[i, jcol] = 1.0
            dG = np.einsum("ab,cb->ac", E, L) + np.einsum("ab,cb->ac", L, E)
            out.append((float(np.sum(dG * P)), -np.einsum("ab,abrs->rs", dG, T)))
        return M, ldv, out

    def cluster_scores(self, theta, beta) -> np.ndarray:
        """Each cluster's score in beta times sigma^2, unweighted by its cluster weight: (J, p).

        ``g_j = X_j'A_j r_j - (Z_j'A_j X_j)' Lambda W_j^-1 Lambda' Z_j'A_j r_j`` with ``r_j = y_j - X_j beta``
        and ``W_j = I + Lambda' Z_j'A_j Z_j Lambda``; the score of the school's pseudo-log-likelihood in
        beta is ``w_j g_j / sigma^2``.
        """
        p, q = self.p, self.q
        v = np.r_[-np.asarray(beta, float), 1.0]
        xar = np.einsum("jrs,s->jr", self.xax[:, :p, :], v)           # X'A r per cluster
        zar = np.einsum("ksj,s->kj", self.ZW, v)                       # Z'A r (q, J)
        L = self.lam(theta)
        S = self.S
        LtS, W = _identity_plus_lsl(L, S, q, self.J)
        C = _chol_last(W)
        lz = np.zeros((q, 1, self.J))                                  # Lambda' Z'A r
        for bb in range(q):
            for a in range(bb, q):
                if L[a, bb] != 0.0:
                    lz[bb, 0] += L[a, bb] * zar[a]
        h0 = _cho_solve_last(C, lz)[:, 0, :]                           # W^-1 Lambda' Z'A r
        h = np.zeros((q, self.J))                                       # Lambda W^-1 Lambda' Z'A r
        for a in range(q):
            for bb in range(a + 1):
                if L[a, bb] != 0.0:
                    h[a] += L[a, bb] * h0[bb]
        g = xar.copy()
        for a in range(q):
            g -= (self.ZW[a, :p, :] * h[a]).T
        return g


def sandwich(model: WeightedTwoLevel, theta, beta, Ainv) -> np.ndarray:
    """Cluster sandwich of the fixed effects, as WeMix: ``J/(J-1) A^-1 (sum_j w_j^2 g_j g_j') A^-1``.

    ``A = sum_j w_j X_j'V*_j^-1 X_j`` (the weighted information times sigma^2) and ``g_j`` from
    :meth:`WeightedTwoLevel.cluster_scores`; sigma^2 cancels.
    """
    g = model.cluster_scores(theta, beta) * model.cw[:, None]
    meat = np.einsum("ja,jb->ab", g, g)
    J = g.shape[0]
    return J / (J - 1) * np.einsum("ab,bc,cd->ad", Ainv, meat, Ainv)


def fit_weighted(y, X, Z, codes, n_groups, pupil_w, cluster_w, *, blocks=None):
    """Pseudo-ML fit of a weighted two-level model: the fit and the model (for the sandwich)."""
    model = WeightedTwoLevel.from_weighted_data(y, X, Z, codes, n_groups, pupil_w, cluster_w)
    if blocks is not None:
        model.restrict_to_blocks(blocks)
    return fit(model, reml=False, satterthwaite_df=False), model


def refit_intercept_weights(model: WeightedTwoLevel, cws: np.ndarray, theta0: float, *, max_iter: int = 60,
                            xtol: float = 1e-12, block: int = 512):
    """Random-intercept pseudo-ML fits for many sets of cluster weights at once (replicate weights).

    The per-cluster sufficient statistics of ``model`` are shared; only the cluster weights change
    (``cws``, one row per set).  Each set's profiled criterion is solved by Newton in theta with the
    analytic first and second derivatives, all sets together, from ``theta0`` (the full-sample
    solution).  Returns theta (R,), beta (R, p), sigma2 (R,) and whether each set converged.

    With ``d_j = 1 + t^2 s_j``: ``M = sum_j c_j XAX_j - t^2 sum_j (c_j / d_j) u_j u_j'``,
    ``f = sum_j c_j log d_j + N (1 + log 2 pi + log(r2 / N))`` with ``r2 = v'Mv`` at
    ``v = (-beta, 1)``; ``r2' = v'M'v`` and ``r2'' = v'M''v - 2 g'A^-1 g``, ``g = (M'v)[:p]``, where
    ``M' = -2t sum_j (c_j / d_j^2) u_j u_j'`` and ``M'' = -sum_j c_j (8 / d_j - 6) / d_j^2 u_j u_j'``.
    The sums over clusters run over blocks of ``block`` clusters (all sets at once), so the
    ``sets x block`` intermediates stay in the processor's cache; each sum is taken in the same
    fixed order every time.  A step is accepted when the criterion does not increase (beyond its
    rounding, about 1e-13 relative) or, within 1e-10 relative, when the score falls; iteration
    stops when the next Newton step is below ``xtol`` relative to theta.
    """
    if model.q != 1:
        raise ValueError("refit_intercept_weights is for random-intercept models")
    cws = np.asarray(cws, float)
    R = cws.shape[0]
    p = model.p
    k = p + 1
    s = model.S[0, 0]                                            # (J,)
    u = model.ZW[0]                                              # (p + 1, J)
    n_clusters = len(s)
    iu = np.triu_indices(k)
    uu = np.ascontiguousarray(np.einsum("aj,bj->abj", u, u)[iu[0], iu[1]])    # u_j u_j', upper triangle
    base = np.einsum("rj,jab->rab", cws, model.xax)              # sum_j c_j XAX_j, per set
    N = np.einsum("rj,j->r", cws, model.asum)
    blocks = [slice(a, min(a + block, n_clusters)) for a in range(0, n_clusters, block)]

    def crit(t):
        t2 = (t * t)[:, None]
        low = np.zeros((R, len(iu[0])))                          # sum_j (c_j / d_j) u_j u_j'
        ldv = np.zeros(R)                                        # sum_j c_j log d_j
        a1 = np.zeros(R)                                         # sum_j c_j s_j / d_j
        for sl in blocks:
            den = t2 * s[sl]
            den += 1.0
            inv = np.reciprocal(den)
            ci = cws[:, sl] * inv
            low += np.einsum("rj,kj->rk", ci, uu[:, sl])
            a1 += np.einsum("rj,j->r", ci, s[sl])
            np.log(den, out=den)
            ldv += np.einsum("rj,rj->r", cws[:, sl], den)
        M = base.copy()
        M[:, iu[0], iu[1]] -= low * t2
        M[:, iu[1], iu[0]] = M[:, iu[0], iu[1]]
        A, b = M[:, :p, :p], M[:, :p, p]
        LA = _chol(A)
        beta = _cho_solve(LA, b)
        r2 = M[:, p, p] - np.einsum("ra,ra->r", b, beta)
        f = ldv + N * (1.0 + LOG2PI + np.log(r2 / N))
        v = np.concatenate([-beta, np.ones((R, 1))], axis=1)
        m1 = np.zeros((R, k))                                    # sum_j (c_j u_j'v / d_j^2) u_j
        e6 = np.zeros(R)                                         # sum_j c_j (u_j'v)^2 / d_j^2
        e8 = np.zeros(R)                                         # sum_j c_j (u_j'v)^2 / d_j^3
        a2 = np.zeros(R)                                         # sum_j c_j s_j / d_j^2
        for sl in blocks:
            den = t2 * s[sl]
            den += 1.0
            inv = np.reciprocal(den)
            ci = cws[:, sl] * inv
            ci *= inv
            a2 += np.einsum("rj,j->r", ci, s[sl])
            uv = np.einsum("ra,aj->rj", v, u[:, sl])
            ci *= uv
            m1 += np.einsum("rj,aj->ra", ci, u[:, sl])
            ci *= uv
            e6 += np.einsum("rj->r", ci)
            e8 += np.einsum("rj,rj->r", ci, inv)
        M1v = -2.0 * t[:, None] * m1                             # M'v
        r2_1 = np.einsum("ra,ra->r", v, M1v)
        g = M1v[:, :p]
        r2_2 = 6.0 * e6 - 8.0 * e8 - 2 * np.einsum("ra,ra->r", g, _cho_solve(LA, g))
        # log d_j: first derivative 2 t s_j / d_j, second 2 s_j (1 - t^2 s_j) / d_j^2 = 2 s_j (2 / d_j - 1) / d_j
        f1 = 2.0 * t * a1 + N * r2_1 / r2
        f2 = 4.0 * a2 - 2.0 * a1 + N * (r2_2 / r2 - (r2_1 / r2) ** 2)
        return f, beta, r2, f1, f2

    t = np.full(R, float(abs(theta0)))
    done = np.zeros(R, dtype=bool)
    f, beta, r2, f1, f2 = crit(t)
    for _ in range(max_iter):
        step = np.where(f2 > 0, -f1 / np.where(f2 > 0, f2, 1.0), -np.sign(f1) * 0.5 * np.maximum(t, 1e-3))
        done |= (f2 > 0) & (np.abs(step) <= xtol * np.maximum(1.0, t))
        if done.all():
            break
        step = np.where(done, 0.0, step)
        alpha = np.ones(R)
        tol = np.maximum(1.0, np.abs(f))
        for _ in range(40):                                      # backtracking, every set at once
            cand = np.maximum(t + alpha * step, 0.0)
            res = crit(cand)                                     # the next step's derivatives too
            ok = ((res[0] <= f + 1e-13 * tol) | ((res[0] <= f + 1e-10 * tol) & (np.abs(res[3]) <= np.abs(f1)))
                  | (alpha < 1e-10) | done)
            if ok.all():
                break
            alpha = np.where(ok, alpha, alpha / 2)
        moved = np.abs(cand - t)
        t = cand
        f, beta, r2, f1, f2 = res
        done |= moved <= xtol * np.maximum(1.0, t)
        if done.all():
            break
    return t, beta, r2 / N, done


# ----------------------------------------------------------------------------- sandwich of the variance parameters

def cluster_loglik(model: WeightedTwoLevel, beta, theta, sigma: float) -> np.ndarray:
    """Each cluster's pseudo-log-likelihood at (beta, theta, sigma), not multiplied by its weight: (J,).

    ``l_j = -(a_j log(2 pi sigma^2) + log|W_j| + (r_j'A_j r_j - c_j'W_j^-1 c_j) / sigma^2) / 2`` with
    ``a_j = sum_i a_ij``, ``W_j = I + Lambda' Z_j'A_j Z_j Lambda`` and ``c_j = Lambda' Z_j'A_j r_j``;
    ``sum_j w_j l_j`` is the fit's pseudo-log-likelihood.
    """
    q, J = model.q, model.J
    v = np.r_[-np.asarray(beta, float), 1.0]
    rar = np.einsum("jrs,r,s->j", model.xax, v, v)
    zar = np.einsum("ksj,s->kj", model.ZW, v)
    L = model.lam(theta)
    _, W = _identity_plus_lsl(L, model.S, q, J)
    C = _chol_last(W)
    c = np.zeros((q, 1, J))
    for bb in range(q):
        for a in range(bb, q):
            if L[a, bb] != 0.0:
                c[bb, 0] += L[a, bb] * zar[a]
    sol = _cho_solve_last(C, c)
    quad = rar - np.sum(c[:, 0, :] * sol[:, 0, :], axis=0)
    logdet = 2.0 * sum(np.log(C[a][a]) for a in range(q))
    return -0.5 * (model.asum * np.log(2 * np.pi * sigma * sigma) + logdet + quad / (sigma * sigma))


def _richardson(f, x: np.ndarray, i: int, h: float, levels: int = 3) -> np.ndarray:
    """Central-difference derivative of ``f`` in ``x[i]``, Richardson-extrapolated over ``levels`` halvings."""
    table = []
    for lev in range(levels):
        e = np.zeros_like(x)
        e[i] = h / 2 ** lev
        table.append((f(x + e) - f(x - e)) / (2 * e[i]))
    for m in range(1, levels):
        table = [(4 ** m * table[t + 1] - table[t]) / (4 ** m - 1) for t in range(len(table) - 1)]
    return table[0]


def variance_sandwich(model: WeightedTwoLevel, fit: LMMFit) -> np.ndarray:
    """Sandwich covariance of the variance parameters ``(theta, sigma)``, as WeMix computes it.

    ``H^-1 (J/(J-1) sum_j w_j^2 s_j s_j') H^-1`` with ``s_j`` each cluster's score in ``(theta,
    sigma)`` and ``H`` the Hessian of the pseudo-log-likelihood in ``(theta, sigma)``, both at the
    estimates with beta held at its estimate (WeMix's ``mix``: its per-group Jacobian and the
    Hessian of the variance parameters' block).  Derivatives are central differences,
    Richardson-extrapolated.  Returns a (n_theta + 1) square matrix; the delta method carries it
    to the variances.
    """
    x0 = np.r_[np.asarray(fit.theta, float), np.sqrt(fit.sigma2)]
    k = len(x0)
    beta = fit.beta

    def per_cluster(x):
        return cluster_loglik(model, beta, x[:k - 1], float(x[-1]))

    steps = 1e-3 * np.maximum(np.abs(x0), 1e-2)
    scores = np.column_stack([_richardson(per_cluster, x0, i, steps[i]) for i in range(k)])   # (J, k)
    g = scores * model.cw[:, None]
    J = g.shape[0]
    meat = J / (J - 1) * np.einsum("ja,jb->ab", g, g)

    def total_score(x):
        s = np.array([np.einsum("j,j->", model.cw, _richardson(per_cluster, x, i, steps[i], levels=2))
                      for i in range(k)])
        return s
    H = np.column_stack([_richardson(total_score, x0, i, steps[i], levels=2) for i in range(k)])
    H = 0.5 * (H + H.T)
    Hinv = _sym_inverse(-H)
    return np.einsum("ab,bc,cd->ad", Hinv, meat, Hinv)
