"""Resampling replicates of a random-intercept model as re-weightings of cached cluster blocks.

A cluster bootstrap draws whole clusters and a re-randomisation changes a cluster-level arm, so a
replicate's data are the original clusters, each counted some number of times (and, for a
re-randomisation, each in one of two versions of its design row).  The sufficient statistics of the
engine (:mod:`belonging_lib.models._lmm`) for ``y = X beta + u_cluster + e`` are, per cluster j, its
size ``n_j``, ``u_j = 1'[X y]`` and ``P_j = [X y]'[X y]``; a replicate's are ``sum_j c_bj (n_j, u_j
u_j', P_j)`` with its counts ``c_bj``.  They are formed once here (:func:`cluster_blocks`) and every
replicate is then a weighted sum of cached blocks and a solve of the one-parameter profiled (RE)ML
criterion, for all replicates at once: the engine's projected Newton iteration (analytic score,
forward-difference Hessian of it, Levenberg safeguard, backtracking) vectorised over the replicates,
warm-started from the full-data fit and stopped by the engine's test (a step below ``1e-11``
relative to theta).

A replicate whose solution is not an interior, converged optimum (a variance at or near zero, a
singular design, no convergence) is flagged, and the caller refits it by the engine's full search
(:func:`belonging_lib.models._lmm.fit`), so every replicate equals a refit of its resample.  As in the
engine, the weighted sums are numpy loops (``einsum`` without BLAS) and the small algebra is written
out elementwise, so the digits do not depend on the BLAS kernel.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ._lmm import LOG2PI

__all__ = ["ClusterBlocks", "ReplicateFits", "cluster_blocks", "fit_replicates"]


@dataclasses.dataclass(frozen=True)
class ClusterBlocks:
    """Per-cluster sufficient statistics of ``[X y]``: sizes ``nj`` (J,), sums ``u`` (J, r) and
    cross-products ``ww`` (J, r, r), r = p + 1 (the outcome last)."""

    nj: np.ndarray
    u: np.ndarray
    ww: np.ndarray

    def columns(self, keep: np.ndarray) -> ClusterBlocks:
        """The blocks of a design with only the columns ``keep`` (boolean over the p columns of X)."""
        sel = np.r_[np.asarray(keep, bool), True]
        return ClusterBlocks(self.nj, self.u[:, sel], self.ww[:, sel][:, :, sel])


def cluster_blocks(y, X, codes, n_groups: int) -> ClusterBlocks:
    """Blocks of ``y`` and ``X`` (n, p) for clusters ``codes`` (0..J-1), summed in row order."""
    W = np.column_stack([np.asarray(X, float), np.asarray(y, float)])
    codes = np.asarray(codes, dtype=np.int64)
    r = W.shape[1]
    cols = [np.ascontiguousarray(W[:, k]) for k in range(r)]
    nj = np.bincount(codes, minlength=n_groups).astype(float)
    u = np.stack([np.bincount(codes, weights=c, minlength=n_groups) for c in cols], axis=1)
    ww = np.empty((n_groups, r, r))
    for a in range(r):
        for b in range(a + 1):
            ww[:, a, b] = ww[:, b, a] = np.bincount(codes, weights=cols[a] * cols[b], minlength=n_groups)
    return ClusterBlocks(nj, u, ww)


@dataclasses.dataclass(frozen=True)
class ReplicateFits:
    """Solutions of B replicates: ``beta`` (B, p), ``sigma2``, ``theta`` (lme4's relative SD of the
    cluster effect), ``f`` (the profiled criterion) and ``settled`` (B,): False where the caller must
    refit by the engine's full search (see the module's notes)."""

    beta: np.ndarray
    sigma2: np.ndarray
    theta: np.ndarray
    f: np.ndarray
    settled: np.ndarray


def _chol_masked(A):
    """Cholesky factors of a batch (B, k, k) as :func:`_lmm._chol`; ``ok`` False where not positive
    definite (those factors are filled with a harmless identity row so that the batch runs on)."""
    k = A.shape[-1]
    L = np.zeros_like(A)
    ok = np.ones(A.shape[0], bool)
    for j in range(k):
        s = A[:, j, j] - np.sum(L[:, j, :j] * L[:, j, :j], axis=-1)
        bad = ~(s > 0)
        ok &= ~bad
        d = np.sqrt(np.where(bad, 1.0, s))
        L[:, j, j] = d
        if j + 1 < k:
            off = A[:, j + 1 :, j] - np.sum(L[:, j + 1 :, :j] * L[:, None, j, :j], axis=-1)
            L[:, j + 1 :, j] = np.where(bad[:, None], 0.0, off / d[:, None])
    return L, ok


def _cho_solve(L, B):
    from ._lmm import _cho_solve as solve

    return solve(L, B)


class _Batch:
    """The replicates' weighted blocks and the criterion at a theta per replicate."""

    def __init__(self, sets, nj, reml: bool):
        # sets: list of (C (B, J) counts, ClusterBlocks); the clusters' sizes are the same in each set
        self.nj = np.asarray(nj, float)
        self.C = [np.asarray(c, float) for c, _ in sets]
        self.uu = [np.einsum("jr,js->jrs", b.u, b.u).reshape(len(self.nj), -1) for _, b in sets]
        r = sets[0][1].u.shape[1]
        self.r, self.p = r, r - 1
        self.wtw: np.ndarray = np.sum(
            [np.einsum("bj,jk->bk", c, b.ww.reshape(len(self.nj), -1)) for c, b in zip(self.C, (b for _, b in sets))],
            axis=0,
        )
        self.c: np.ndarray = np.sum(self.C, axis=0)
        self.n = np.einsum("bj,j->b", self.c, self.nj)
        self.m = self.n - self.p if reml else self.n
        self.reml = reml

    def point(self, theta, rows, derivs: bool):
        """Criterion (and scores) at ``theta`` for the replicates ``rows``; a dict of arrays."""
        p, r = self.p, self.r
        lam2 = theta * theta
        den = 1.0 + lam2[:, None] * self.nj[None, :]
        w = lam2[:, None] / den
        M = self.wtw[rows].copy()
        for C, uu in zip(self.C, self.uu):
            M -= np.einsum("bj,jk->bk", C[rows] * w, uu)
        M = M.reshape(len(rows), r, r)
        c = self.c[rows]
        ldv = np.einsum("bj,bj->b", c, np.log1p(lam2[:, None] * self.nj[None, :]))
        A, bv, yvy = M[:, :p, :p], M[:, :p, p], M[:, p, p]
        LA, ok = _chol_masked(A)
        beta = _cho_solve(LA, bv)
        r2 = np.maximum(yvy - np.sum(bv * beta, axis=1), 1e-300)
        lda = 2.0 * np.sum(np.log(np.diagonal(LA, axis1=-2, axis2=-1)), axis=-1)
        m = self.m[rows]
        f = ldv + (lda if self.reml else 0.0) + m * (1 + LOG2PI + np.log(r2 / m))
        out = {"theta": theta, "f": np.where(ok, f, np.inf), "ok": ok, "beta": beta, "r2": r2, "m": m}
        if not derivs:
            return out
        fj = 1.0 / den
        dM = np.zeros((len(rows), r * r))
        for C, uu in zip(self.C, self.uu):
            dM -= np.einsum("bj,jk->bk", C[rows] * fj * fj, uu)
        dM = (2.0 * theta)[:, None] * dM
        dM = dM.reshape(len(rows), r, r)
        dldv = 2.0 * theta * np.einsum("bj,bj->b", c, self.nj[None, :] * fj)
        Ainv = _cho_solve(LA, np.broadcast_to(np.eye(p), LA.shape))
        v = np.concatenate([-beta, np.ones((len(rows), 1))], axis=1)
        dr2 = np.einsum("br,brs,bs->b", v, dM, v)
        dlda = np.einsum("brs,brs->b", Ainv, dM[:, :p, :p])
        p1 = dldv + (dlda if self.reml else 0.0)
        out.update(g=p1 + m * dr2 / r2, p1=p1, dr2=dr2)
        return out


def _take(P, k):
    return {key: val[k] for key, val in P.items()}


def fit_replicates(
    sets, nj, theta0: float, *, reml: bool = True, max_iter: int = 100, xtol: float = 1e-11
) -> ReplicateFits:
    """Solve every replicate's random-intercept model from weighted cluster blocks.

    ``sets``: a list of ``(C, blocks)``, ``C`` (B, J) the number of times each replicate counts each
    cluster in the version ``blocks`` (:class:`ClusterBlocks`); a replicate's statistics are the sum
    over the sets.  ``theta0``: the full-data solution (the warm start).
    """
    batch = _Batch(sets, nj, reml)
    B = batch.c.shape[0]
    rows_all = np.arange(B)
    # warm start, unless a point of the engine's own starting grid is better
    grid = np.r_[float(theta0), 0.0, np.exp(np.linspace(np.log(1e-3), np.log(1e2), 21))]
    fs = np.stack([batch.point(np.full(B, t), rows_all, False)["f"] for t in grid])
    best = np.where(fs[0] <= fs.min(axis=0), 0, np.argmin(fs, axis=0))
    theta = np.maximum(grid[best], 0.0)
    P = batch.point(theta, rows_all, True)
    keys = ("theta", "f", "ok", "beta", "r2", "m", "g", "p1", "dr2")
    state = {k: np.array(P[k], copy=True) for k in keys}
    settled = np.zeros(B, bool)
    done = ~state["ok"]
    for _ in range(max_iter):
        act = np.flatnonzero(~done)
        if not len(act):
            break
        S = _take(state, act)
        th, g = S["theta"], S["g"]
        at_bound = (th <= 0.0) & (g > 0)
        settled[act[at_bound]] = True
        done[act[at_bound]] = True
        keep = ~at_bound
        act = act[keep]
        if not len(act):
            break
        S = _take(S, keep)
        th, g, f = S["theta"], S["g"], S["f"]
        # Hessian of the criterion: forward difference of the analytic score's pieces (as the engine)
        h = 1e-6 * np.maximum(np.abs(th), 1e-2)
        Q = batch.point(th + h, act, True)
        bad = ~Q["ok"]
        j1 = (Q["p1"] - S["p1"]) / h
        j2 = (Q["dr2"] - S["dr2"]) / h
        r2, m = S["r2"], S["m"]
        H = j1 + m * (j2 / r2 - S["dr2"] ** 2 / r2**2)
        lam = np.zeros_like(H)
        scale = np.maximum(np.abs(H), 1e-8)
        for _ in range(400):  # Levenberg: the engine's sequence of lambdas
            need = ~(H + lam > 0)
            if not need.any():
                break
            lam = np.where(need, np.maximum(lam * 10.0, 1e-8 * scale), lam)
        step = -g / (H + lam)
        # backtracking line search, replicate by replicate (vectorised over those still searching)
        alpha = np.ones(len(act))
        accepted = np.zeros(len(act), bool)
        new = {k: np.array(S[k], copy=True) for k in keys}
        search = np.flatnonzero(~bad)
        for _ in range(60):
            if not len(search):
                break
            cand = np.maximum(th[search] + alpha[search] * step[search], 0.0)
            C = batch.point(cand, act[search], True)
            tol_f = 1e-13 * np.maximum(1.0, np.abs(f[search]))
            good = C["ok"] & (
                (C["f"] < f[search]) | ((C["f"] <= f[search] + tol_f) & (np.abs(C["g"]) <= np.abs(g[search])))
            )
            for k in keys:
                new[k][search[good]] = C[k][good]
            accepted[search[good]] = True
            alpha[search[~good]] /= 2
            search = search[~good]
        failed = ~accepted
        # no acceptable step: converged only if the score is already negligible (the engine's rule)
        conv_stall = failed & ~bad & (np.abs(g) <= 1e-6 * np.maximum(1.0, np.abs(f)))
        settled[act[conv_stall]] = True
        done[act[failed]] = True
        moved = np.abs(new["theta"] - th)
        conv = accepted & (moved <= xtol * np.maximum(1.0, np.abs(new["theta"])))
        for k in keys:
            state[k][act[accepted]] = new[k][accepted]
        settled[act[conv]] = True
        done[act[conv]] = True
    settled &= state["ok"] & np.isfinite(state["f"])
    th, f = np.abs(state["theta"]), state["f"]
    zero = batch.point(np.zeros(B), rows_all, False)
    # an interior solution that the boundary theta = 0 beats: left to the engine's full search
    settled &= ~((th >= 1e-6) & (zero["f"] < f))
    # a solution at or near zero, as the engine settles it: it moves theta off zero to the points
    # (0.3, 0.1, 0.03, 0.01, 0.001) and searches again where one of them is lower (left to the full
    # search here), and puts a theta below 1e-7 at exactly zero when that is no worse
    small = np.flatnonzero(settled & (th < 1e-6))
    if len(small):
        lower = np.zeros(len(small), bool)
        for delta in (0.3, 0.1, 0.03, 0.01, 1e-3):
            ft = batch.point(np.full(len(small), delta), small, False)["f"]
            lower |= ft < f[small] - 1e-12 * np.maximum(1.0, np.abs(f[small]))
        snap = ~lower & (th[small] < 1e-7) & (zero["f"][small] <= f[small] + 1e-10 * np.maximum(1.0, np.abs(f[small])))
        settled[small[~snap]] = False
        z = small[snap]
        for k in ("theta", "f", "beta", "r2"):
            state[k][z] = zero[k][z]
    return ReplicateFits(state["beta"], state["r2"] / state["m"], np.abs(state["theta"]), state["f"], settled)
