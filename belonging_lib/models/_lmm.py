"""Linear mixed models by profiled (RE)ML, in lme4's formulation.

Private engine behind :func:`belonging_lib.models.multilevel`.  Random effects
are grouped by the top-level cluster; within a cluster the relative covariance
of the observations is ``V* = I + Z L L' Z' (+ theta_c^2 C C')`` and the
deviance is profiled over the fixed effects and the residual variance exactly
as lme4 does, so the optimum is lme4's optimum.

Two engines share the formulas:

- :func:`_ri_suffstats` / :func:`fit_random_intercept`: random intercept only,
  from per-cluster sufficient statistics (n_j, sum x, sum y and the pooled
  cross-products): one pass over the data and a one-dimensional optimisation.
- :class:`_DenseLMM`: random slopes and a nested second level, with a dense
  Cholesky factor per top-level cluster.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import linalg, optimize

LOG2PI = np.log(2 * np.pi)


# ----------------------------------------------------------------------------- common

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
    boundary: bool = False


def _criterion(logdet_v: float, logdet_a: float, r2: float, n: int, p: int, reml: bool) -> float:
    """lme4's profiled deviance (REML criterion when ``reml``)."""
    if reml:
        m = n - p
        return logdet_v + logdet_a + m * (1 + LOG2PI + np.log(r2 / m))
    return logdet_v + n * (1 + LOG2PI + np.log(r2 / n))


def _deviance_varpar(logdet_v: float, logdet_a: float, r2: float, sigma2: float, n: int, p: int,
                     reml: bool) -> float:
    """-2 log-likelihood at a given residual variance (fixed effects profiled)."""
    if reml:
        return (n - p) * (LOG2PI + np.log(sigma2)) + logdet_v + logdet_a + r2 / sigma2
    return n * (LOG2PI + np.log(sigma2)) + logdet_v + r2 / sigma2


def _solve_beta(A: np.ndarray, b: np.ndarray, yVy: float):
    """GLS solution from X'V*^-1X, X'V*^-1y, y'V*^-1y: beta, log|A|, r2, chol."""
    c, lower = linalg.cho_factor(A, lower=True, check_finite=False)
    beta = linalg.cho_solve((c, lower), b, check_finite=False)
    r2 = float(yVy - b @ beta)
    logdet_a = 2.0 * float(np.sum(np.log(np.diag(c))))
    return beta, logdet_a, max(r2, 1e-300), (c, lower)


# ----------------------------------------------------------------------------- random intercept

@dataclasses.dataclass(frozen=True)
class RISuffStats:
    """Sufficient statistics of a random-intercept model."""

    nj: np.ndarray      # (J,) cluster sizes
    sx: np.ndarray      # (J, p) per-cluster column sums of X
    sy: np.ndarray      # (J,) per-cluster sums of y
    xtx: np.ndarray     # (p, p)
    xty: np.ndarray     # (p,)
    yty: float
    n: int
    p: int


def ri_suffstats(y: np.ndarray, X: np.ndarray, codes: np.ndarray, n_groups: int) -> RISuffStats:
    """One pass over the data: per-cluster sums and pooled cross-products."""
    n, p = X.shape
    nj = np.bincount(codes, minlength=n_groups).astype(float)
    sx = np.empty((n_groups, p))
    for k in range(p):
        sx[:, k] = np.bincount(codes, weights=X[:, k], minlength=n_groups)
    sy = np.bincount(codes, weights=y, minlength=n_groups)
    return RISuffStats(nj, sx, sy, X.T @ X, X.T @ y, float(y @ y), n, p)


def _ri_parts(s: RISuffStats, lam: float):
    w = lam / (1.0 + lam * s.nj)                      # V*_j^-1 = I - w_j 11'
    A = s.xtx - (s.sx * w[:, None]).T @ s.sx
    b = s.xty - s.sx.T @ (w * s.sy)
    yVy = s.yty - float(np.sum(w * s.sy ** 2))
    logdet_v = float(np.sum(np.log1p(lam * s.nj)))
    return A, b, yVy, logdet_v


def _ri_profiled(s: RISuffStats, theta: float, reml: bool) -> float:
    A, b, yVy, logdet_v = _ri_parts(s, theta * theta)
    _beta, logdet_a, r2, _ = _solve_beta(A, b, yVy)
    return _criterion(logdet_v, logdet_a, r2, s.n, s.p, reml)


def fit_ri_suffstats(s: RISuffStats, *, reml: bool = True, satterthwaite: bool = True) -> LMMFit:
    """Fit a random-intercept model from sufficient statistics.

    The profiled deviance is minimised over theta = tau / sigma (lme4's
    parameter) by a bounded Brent search on a bracket found by a coarse grid,
    and the boundary theta = 0 is checked explicitly.
    """
    f = lambda t: _ri_profiled(s, t, reml)  # noqa: E731
    grid = np.concatenate([[0.0], np.exp(np.linspace(np.log(1e-3), np.log(1e2), 41))])
    vals = np.array([f(t) for t in grid])
    k = int(np.argmin(vals))
    lo = grid[max(k - 1, 0)]
    hi = grid[min(k + 1, len(grid) - 1)]
    res = optimize.minimize_scalar(f, bounds=(lo, hi), method="bounded",
                                   options={"xatol": 1e-12, "maxiter": 500})
    theta = float(res.x)
    # boundary: lme4 calls a fit singular when theta < 1e-4; we move such a fit to theta = 0
    # exactly when that costs no more than 1e-8 in deviance (floating-point noise)
    if f(0.0) <= res.fun + (1e-8 if theta < 1e-4 else 0.0):
        theta = 0.0
    boundary = theta == 0.0
    A, b, yVy, logdet_v = _ri_parts(s, theta * theta)
    beta, logdet_a, r2, chol = _solve_beta(A, b, yVy)
    sigma2 = r2 / (s.n - s.p if reml else s.n)
    ainv = linalg.cho_solve(chol, np.eye(s.p), check_finite=False)
    vcov = sigma2 * ainv
    loglik = -0.5 * _criterion(logdet_v, logdet_a, r2, s.n, s.p, reml)
    df = None
    if satterthwaite:
        def parts(varpar):
            th, sig = varpar
            A_, b_, yVy_, ldv = _ri_parts(s, th * th)
            return A_, b_, yVy_, ldv, sig * sig
        df = _satterthwaite(parts, np.array([theta, np.sqrt(sigma2)]), s.n, s.p, reml)
    return LMMFit(beta, vcov, float(sigma2), np.array([theta]), float(loglik), reml, s.n, s.p, df,
                  bool(res.success) if hasattr(res, "success") else True, boundary)


# ----------------------------------------------------------------------------- Satterthwaite

def _num_hessian(f, x: np.ndarray, rel: float = 1e-4) -> np.ndarray:
    k = len(x)
    h = rel * np.maximum(np.abs(x), 1e-2)
    H = np.empty((k, k))
    f0 = f(x)
    for i in range(k):
        ei = np.zeros(k); ei[i] = h[i]
        H[i, i] = (f(x + ei) - 2 * f0 + f(x - ei)) / h[i] ** 2
        for j in range(i + 1, k):
            ej = np.zeros(k); ej[j] = h[j]
            H[i, j] = H[j, i] = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (
                4 * h[i] * h[j])
    return H


def _satterthwaite(parts, varpar: np.ndarray, n: int, p: int, reml: bool) -> np.ndarray:
    """Satterthwaite df for each fixed effect, as lmerTest computes them.

    ``parts(varpar)`` returns (A, b, yVy, logdet_v, sigma2) where varpar is
    lme4's theta followed by sigma.  A = 2 H^-1 with H the Hessian of the
    deviance in varpar; df_k = 2 C_kk^2 / (g_k' A g_k), g_k the gradient of
    C_kk = Var(beta_k) in varpar.
    """
    def deviance(vp):
        A, b, yVy, ldv, s2 = parts(vp)
        _beta, lda, r2, _ = _solve_beta(A, b, yVy)
        return _deviance_varpar(ldv, lda, r2, s2, n, p, reml)

    def cdiag(vp):
        A, _b, _y, _l, s2 = parts(vp)
        return s2 * np.diag(np.linalg.inv(A))

    H = _num_hessian(deviance, varpar)
    try:
        Acov = 2.0 * np.linalg.inv(H)
    except np.linalg.LinAlgError:
        return np.full(p, np.nan)
    k = len(varpar)
    grads = np.empty((k, p))
    for i in range(k):
        h = 1e-5 * max(abs(varpar[i]), 1e-2)
        e = np.zeros(k); e[i] = h
        grads[i] = (cdiag(varpar + e) - cdiag(varpar - e)) / (2 * h)
    c = cdiag(varpar)
    denom = np.einsum("ik,ij,jk->k", grads, Acov, grads)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = 2.0 * c ** 2 / denom
    return df


# ----------------------------------------------------------------------------- dense engine

class DenseLMM:
    """Random intercept and slopes at the top level, optional nested intercept.

    Parameters
    ----------
    y, X : arrays
    Z : array (n, q)
        Random-effect design of the top level (first column ones for the intercept).
    top : array of int codes (top-level clusters, 0..J-1)
    nested : array of int codes or None (second-level clusters, globally unique)
    """

    def __init__(self, y, X, Z, top, nested=None):
        self.y, self.X, self.Z = np.asarray(y, float), np.asarray(X, float), np.asarray(Z, float)
        self.n, self.p = self.X.shape
        self.q = self.Z.shape[1]
        order = np.argsort(top, kind="stable")
        top_sorted = top[order]
        bounds = np.flatnonzero(np.diff(top_sorted)) + 1
        # Blocks of equal size are stacked so that one batched Cholesky handles them all
        # (growth models have thousands of pupils with one to three waves each).
        by_size: dict[int, list[np.ndarray]] = {}
        for idx in np.split(order, bounds):
            by_size.setdefault(len(idx), []).append(idx)
        self.batches = []
        for size, groups in sorted(by_size.items()):
            rows = np.stack(groups)                     # (G, s)
            batch = {"X": self.X[rows], "y": self.y[rows], "Z": self.Z[rows]}
            if nested is not None:
                codes = nested[rows]                    # (G, s)
                batch["CC"] = (codes[:, :, None] == codes[:, None, :]).astype(float)
            self.batches.append(batch)
        self.nested = nested is not None
        if not self.nested:
            # Woodbury form (as lme4): per-cluster cross-products Z'Z, Z'X, Z'y are all that is needed.
            bounds0 = np.concatenate([[0], bounds])
            Zs, Xs, ys = self.Z[order], self.X[order], self.y[order]
            self.ztz = np.add.reduceat(np.einsum("iq,ir->iqr", Zs, Zs), bounds0, axis=0)
            self.ztx = np.add.reduceat(np.einsum("iq,ip->iqp", Zs, Xs), bounds0, axis=0)
            self.zty = np.add.reduceat(Zs * ys[:, None], bounds0, axis=0)
            self.xtx = self.X.T @ self.X
            self.xty = self.X.T @ self.y
            self.yty = float(self.y @ self.y)
        self.tril = np.tril_indices(self.q)
        self.n_theta = len(self.tril[0]) + (1 if self.nested else 0)

    def lower_bounds(self):
        lb = [0.0 if i == j else -np.inf for i, j in zip(*self.tril)]
        if self.nested:
            lb.append(0.0)
        return np.array(lb)

    def theta_start(self):
        t = [1.0 if i == j else 0.0 for i, j in zip(*self.tril)]
        if self.nested:
            t.append(1.0)
        return np.array(t)

    def _lam(self, theta):
        L = np.zeros((self.q, self.q))
        L[self.tril] = theta[: len(self.tril[0])]
        return L

    def parts(self, theta):
        if not self.nested:
            return self._parts_woodbury(theta)
        return self._parts_dense(theta)

    def _parts_woodbury(self, theta):
        """V*_j^-1 = I - Z_j L W_j^-1 L'Z_j', W_j = I + L'Z_j'Z_j L; |V*_j| = |W_j|."""
        L = self._lam(theta)
        W = np.einsum("qa,gqr,rb->gab", L, self.ztz, L)
        W[:, np.arange(self.q), np.arange(self.q)] += 1.0
        chol = np.linalg.cholesky(W)
        LZX = np.einsum("qa,gqp->gap", L, self.ztx)
        LZy = np.einsum("qa,gq->ga", L, self.zty)
        rhs = np.concatenate([LZX, LZy[:, :, None]], axis=2)
        sol = np.linalg.solve(W, rhs)
        A = self.xtx - np.einsum("gap,gar->pr", LZX, sol[:, :, :-1])
        b = self.xty - np.einsum("gap,ga->p", LZX, sol[:, :, -1])
        yVy = self.yty - float(np.einsum("ga,ga->", LZy, sol[:, :, -1]))
        ldv = 2.0 * float(np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2))))
        return A, b, yVy, ldv

    def _parts_dense(self, theta):
        L = self._lam(theta)
        G = L @ L.T
        tc2 = theta[-1] ** 2 if self.nested else 0.0
        A = np.zeros((self.p, self.p)); b = np.zeros(self.p); yVy = 0.0; ldv = 0.0
        for bt in self.batches:
            Zb = bt["Z"]
            V = np.einsum("gsq,qr,gtr->gst", Zb, G, Zb)
            if self.nested:
                V = V + tc2 * bt["CC"]
            s = V.shape[1]
            V[:, np.arange(s), np.arange(s)] += 1.0
            chol = np.linalg.cholesky(V)
            rhs = np.concatenate([bt["X"], bt["y"][:, :, None]], axis=2)
            sol = np.linalg.solve(V, rhs)
            Xs, ys = sol[:, :, :-1], sol[:, :, -1]
            A += np.einsum("gsp,gsq->pq", bt["X"], Xs)
            b += np.einsum("gsp,gs->p", bt["X"], ys)
            yVy += float(np.einsum("gs,gs->", bt["y"], ys))
            ldv += 2.0 * float(np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2))))
        return A, b, yVy, ldv

    def profiled(self, theta, reml):
        A, b, yVy, ldv = self.parts(theta)
        _beta, lda, r2, _ = _solve_beta(A, b, yVy)
        return _criterion(ldv, lda, r2, self.n, self.p, reml)

    def fit(self, *, reml=True, satterthwaite=True, start=None) -> LMMFit:
        lb = self.lower_bounds()
        bounds = [(None if np.isinf(l) else l, None) for l in lb]
        x0 = self.theta_start() if start is None else np.asarray(start, float)
        f = lambda t: self.profiled(t, reml)  # noqa: E731
        res = optimize.minimize(f, x0, method="L-BFGS-B", bounds=bounds,
                                options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 2000})
        # polish: derivative-free and tight (as bobyqa with a small rhoend in lme4), from a small simplex
        # around the quasi-Newton solution so that boundary fits do not re-explore the whole space
        x1 = np.asarray(res.x, dtype=float)
        simplex = [x1] + [x1 + np.eye(len(x1))[i] * max(1e-3, 1e-3 * abs(x1[i])) for i in range(len(x1))]
        res2 = optimize.minimize(f, x1, method="Nelder-Mead",
                                 options={"xatol": 1e-10, "fatol": 1e-13, "maxiter": 1500,
                                          "initial_simplex": np.array(simplex)})
        theta = res2.x if res2.fun <= res.fun else res.x
        theta = np.where(lb == 0.0, np.abs(theta), theta)
        A, b, yVy, ldv = self.parts(theta)
        beta, lda, r2, chol = _solve_beta(A, b, yVy)
        sigma2 = r2 / (self.n - self.p if reml else self.n)
        vcov = sigma2 * linalg.cho_solve(chol, np.eye(self.p), check_finite=False)
        loglik = -0.5 * _criterion(ldv, lda, r2, self.n, self.p, reml)
        diag_idx = [k for k, (i, j) in enumerate(zip(*self.tril)) if i == j]
        boundary = bool(np.any(np.abs(theta[diag_idx]) < 1e-6)) or (self.nested and abs(theta[-1]) < 1e-6)
        df = None
        if satterthwaite:
            def parts(vp):
                A_, b_, y_, l_ = self.parts(vp[:-1])
                return A_, b_, y_, l_, vp[-1] ** 2
            df = _satterthwaite(parts, np.append(theta, np.sqrt(sigma2)), self.n, self.p, reml)
        return LMMFit(beta, vcov, float(sigma2), theta, float(loglik), reml, self.n, self.p, df,
                      bool(res.success or res2.success), boundary)

    def random_covariance(self, theta, sigma2):
        """Top-level random-effect covariance (q x q) and nested variance."""
        L = self._lam(theta)
        G = sigma2 * (L @ L.T)
        nested_var = sigma2 * theta[-1] ** 2 if self.nested else None
        return G, nested_var


# ----------------------------------------------------------------------------- three-level random intercepts

@dataclasses.dataclass(frozen=True)
class RI3SuffStats:
    """Sufficient statistics of a three-level random-intercept model."""

    nc: np.ndarray      # (C,) class sizes
    sx: np.ndarray      # (C, p) per-class column sums of X
    sy: np.ndarray      # (C,) per-class sums of y
    school: np.ndarray  # (C,) school code of each class
    n_schools: int
    xtx: np.ndarray
    xty: np.ndarray
    yty: float
    n: int
    p: int


def ri3_suffstats(y: np.ndarray, X: np.ndarray, top: np.ndarray, nested: np.ndarray) -> RI3SuffStats:
    """Per-class sums (classes nested in schools) and pooled cross-products."""
    n, p = X.shape
    n_classes = int(nested.max()) + 1
    nc = np.bincount(nested, minlength=n_classes).astype(float)
    sx = np.empty((n_classes, p))
    for k in range(p):
        sx[:, k] = np.bincount(nested, weights=X[:, k], minlength=n_classes)
    sy = np.bincount(nested, weights=y, minlength=n_classes)
    school = np.zeros(n_classes, dtype=np.int64)
    school[nested] = top
    return RI3SuffStats(nc, sx, sy, school, int(top.max()) + 1, X.T @ X, X.T @ y, float(y @ y), n, p)


def ri3_parts(s: RI3SuffStats, theta: np.ndarray):
    """X'V*^-1X, X'V*^-1y, y'V*^-1y and log|V*| in closed form.

    Within a school, V* = W^-1 + ts2 11' with W^-1 = blockdiag(I + tc2 11') over
    classes; W = blockdiag(I - w_c 11'), w_c = tc2 / (1 + tc2 n_c), and the
    school term is a rank-one (Sherman-Morrison) update.
    """
    ts2, tc2 = theta[0] ** 2, theta[1] ** 2
    w = tc2 / (1.0 + tc2 * s.nc)
    # X'WX, X'Wy, y'Wy pooled over classes
    A = s.xtx - (s.sx * w[:, None]).T @ s.sx
    b = s.xty - s.sx.T @ (w * s.sy)
    yVy = s.yty - float(np.sum(w * s.sy ** 2))
    # per school: u = X'W1, v = y'W1, m = 1'W1
    f = 1.0 - w * s.nc
    u = np.zeros((s.n_schools, s.p))
    for k in range(s.p):
        u[:, k] = np.bincount(s.school, weights=s.sx[:, k] * f, minlength=s.n_schools)
    v = np.bincount(s.school, weights=s.sy * f, minlength=s.n_schools)
    m = np.bincount(s.school, weights=s.nc * f, minlength=s.n_schools)
    c = ts2 / (1.0 + ts2 * m)
    A = A - (u * c[:, None]).T @ u
    b = b - u.T @ (c * v)
    yVy = yVy - float(np.sum(c * v ** 2))
    ldv = float(np.sum(np.log1p(tc2 * s.nc)) + np.sum(np.log1p(ts2 * m)))
    return A, b, yVy, ldv


def fit_ri3_suffstats(s: RI3SuffStats, *, reml: bool = True, satterthwaite: bool = True) -> LMMFit:
    """Fit pupils-in-classes-in-schools random intercepts from class-level sums."""
    def f(theta):
        A, b, yVy, ldv = ri3_parts(s, np.abs(theta))
        _beta, lda, r2, _ = _solve_beta(A, b, yVy)
        return _criterion(ldv, lda, r2, s.n, s.p, reml)

    best = None
    for start in ([1.0, 1.0], [0.3, 0.3], [0.05, 0.5], [0.5, 0.05]):
        res = optimize.minimize(f, np.array(start), method="L-BFGS-B", bounds=[(0, None), (0, None)],
                                options={"ftol": 1e-15, "gtol": 1e-11, "maxiter": 2000})
        if best is None or res.fun < best.fun:
            best = res
    res2 = optimize.minimize(f, best.x, method="Nelder-Mead",
                             options={"xatol": 1e-11, "fatol": 1e-14, "maxiter": 4000})
    theta = np.abs(res2.x if res2.fun <= best.fun else best.x)
    A, b, yVy, ldv = ri3_parts(s, theta)
    beta, lda, r2, chol = _solve_beta(A, b, yVy)
    sigma2 = r2 / (s.n - s.p if reml else s.n)
    vcov = sigma2 * linalg.cho_solve(chol, np.eye(s.p), check_finite=False)
    loglik = -0.5 * _criterion(ldv, lda, r2, s.n, s.p, reml)
    df = None
    if satterthwaite:
        def parts(vp):
            A_, b_, y_, l_ = ri3_parts(s, vp[:2])
            return A_, b_, y_, l_, vp[2] ** 2
        df = _satterthwaite(parts, np.array([theta[0], theta[1], np.sqrt(sigma2)]), s.n, s.p, reml)
    boundary = bool(np.any(theta < 1e-6))
    return LMMFit(beta, vcov, float(sigma2), theta, float(loglik), reml, s.n, s.p, df,
                  bool(best.success or res2.success), boundary)
