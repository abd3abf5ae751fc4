"""Batched exact random-intercept fits: many outcome vectors, one design and one clustering.

For permutation tests and simulations where the outcome changes but the
predictors and the schools do not.  Each column of ``Y`` is fitted exactly as
:func:`belonging_lib.models.fit_random_intercept` fits it (profiled REML/ML over
theta = tau / sigma, lme4's parameter), all columns at once: the per-cluster
sums of X are computed once, those of Y in one pass, and the one-dimensional
search is a vectorised golden-section search on a bracket from a shared grid.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._lmm import LOG2PI

__all__ = ["fit_random_intercept_batch"]


def _crit(theta, nj, sx, sy, xtx, xty, yty, n, p, reml):
    """Profiled criterion for each column b at its own theta[b] (vectorised)."""
    lam = theta * theta                                          # (B,)
    w = lam[None, :] / (1.0 + lam[None, :] * nj[:, None])        # (J, B)
    A = xtx[None] - np.einsum("jk,jb,jl->bkl", sx, w, sx)        # (B, p, p)
    b = xty - np.einsum("jk,jb->kb", sx, w * sy)                 # (p, B)
    yvy = yty - np.sum(w * sy * sy, axis=0)
    L = np.linalg.cholesky(A)
    beta = np.linalg.solve(A, b.T[..., None])[..., 0]           # (B, p)
    r2 = np.maximum(yvy - np.sum(b.T * beta, axis=1), 1e-300)
    ldv = np.sum(np.log1p(lam[None, :] * nj[:, None]), axis=0)
    lda = 2 * np.sum(np.log(np.diagonal(L, axis1=1, axis2=2)), axis=1)
    m = n - p if reml else n
    crit = ldv + (lda if reml else 0.0) + m * (1 + LOG2PI + np.log(r2 / m))
    return crit, beta, A, r2


def fit_random_intercept_batch(Y, X, groups, *, reml: bool = True, tol: float = 1e-10) -> dict:
    """Fit ``Y[:, b] = X beta_b + u_group + e`` for every column b of ``Y``.

    Parameters
    ----------
    Y : array (n, B)
    X : array (n, p), with the intercept column
    groups : array (n,)
    reml : bool
    tol : float
        Width of the final bracket in theta.

    Returns
    -------
    dict
        ``beta`` (B, p), ``se`` (B, p), ``tau2``, ``sigma2``, ``loglik`` (B,).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> g = np.repeat(np.arange(30), 10)
    >>> X = np.column_stack([np.ones(300), rng.normal(size=300)])
    >>> Y = 1 + 0.5 * X[:, [1]] + rng.normal(0, 0.5, (30, 4))[g] + rng.normal(size=(300, 4))
    >>> fit_random_intercept_batch(Y, X, g)["beta"].shape
    (4, 2)
    """
    Y = np.asarray(Y, float)
    if Y.ndim == 1:
        Y = Y[:, None]
    X = np.asarray(X, float)
    codes, uniq = pd.factorize(pd.Series(groups), sort=True)
    J = len(uniq)
    n, p = X.shape
    nj = np.bincount(codes, minlength=J).astype(float)
    sx = np.stack([np.bincount(codes, weights=X[:, k], minlength=J) for k in range(p)], axis=1)
    sy = np.zeros((J, Y.shape[1]))
    np.add.at(sy, codes, Y)
    xtx, xty, yty = X.T @ X, X.T @ Y, np.einsum("ib,ib->b", Y, Y)
    B = Y.shape[1]
    args = (nj, sx, sy, xtx, xty, yty, n, p, reml)
    grid = np.concatenate([[0.0], np.exp(np.linspace(np.log(1e-3), np.log(1e2), 41))])
    vals = np.stack([_crit(np.full(B, t), *args)[0] for t in grid])    # (G, B)
    k = np.argmin(vals, axis=0)
    lo, hi = grid[np.maximum(k - 1, 0)], grid[np.minimum(k + 1, len(grid) - 1)]
    gr = (np.sqrt(5) - 1) / 2
    c, d = hi - gr * (hi - lo), lo + gr * (hi - lo)
    fc, fd = _crit(c, *args)[0], _crit(d, *args)[0]
    while np.max(hi - lo) > tol:
        left = fc < fd
        hi = np.where(left, d, hi)
        lo = np.where(left, lo, c)
        new_c = hi - gr * (hi - lo)
        new_d = lo + gr * (hi - lo)
        c2 = np.where(left, new_c, d)
        d2 = np.where(left, c, new_d)
        f_new = _crit(np.where(left, c2, d2), *args)[0]
        fc, fd = np.where(left, f_new, fd), np.where(left, fc, f_new)
        c, d = c2, d2
    theta = (lo + hi) / 2
    f_theta = _crit(theta, *args)[0]
    f0 = _crit(np.zeros(B), *args)[0]
    theta = np.where(f0 <= f_theta + np.where(theta < 1e-4, 1e-8, 0.0), 0.0, theta)
    crit, beta, A, r2 = _crit(theta, *args)
    sigma2 = r2 / (n - p if reml else n)
    se = np.sqrt(sigma2[:, None] * np.diagonal(np.linalg.inv(A), axis1=1, axis2=2))
    return {"beta": beta, "se": se, "tau2": theta ** 2 * sigma2, "sigma2": sigma2, "loglik": -0.5 * crit,
            "theta": theta}
