"""Batched exact random-intercept fits: many outcome vectors, one design and one clustering.

For permutation tests and simulations where the outcome changes but the predictors and the schools do
not.  Each column of ``Y`` is fitted by the library's one mixed-model engine
(:mod:`belonging_lib.models._lmm`), exactly as :func:`belonging_lib.models.fit_random_intercept` fits
it: the per-cluster sums of X are formed once, those of all columns of Y in one pass, and each column's
score equations are then solved from its own sufficient statistics.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from .._errors import DataError, ModelError
from .._results import Result
from . import _lmm

__all__ = ["RandomInterceptBatch", "fit_random_intercept_batch"]


@dataclasses.dataclass(frozen=True, eq=False)
class RandomInterceptBatch(Result):
    """Random-intercept fits of many outcome columns (:func:`fit_random_intercept_batch`).

    Attributes
    ----------
    coefficients, se : numpy.ndarray (B, p)
        Fixed effects and their standard errors, one row per column of ``Y``.
    tau00, sigma2, loglik, theta : numpy.ndarray (B,)
        The random-intercept variance, the residual variance, the (REML) log-likelihood and the
        relative standard deviation of the intercepts, per column.
    """

    coefficients: np.ndarray
    se: np.ndarray
    tau00: np.ndarray
    sigma2: np.ndarray
    loglik: np.ndarray
    theta: np.ndarray

    title = "Random-intercept fits, one per outcome column"

    def to_frame(self) -> pd.DataFrame:
        """One row per outcome column: ``column`` (from 1), ``tau00, sigma2, loglik, theta``, then
        ``b0, b1, ...`` and ``se0, se1, ...``."""
        frame = pd.DataFrame({"column": np.arange(1, len(self.tau00) + 1), "tau00": self.tau00,
                              "sigma2": self.sigma2, "loglik": self.loglik, "theta": self.theta})
        for j in range(self.coefficients.shape[1]):
            frame[f"b{j}"] = self.coefficients[:, j]
        for j in range(self.se.shape[1]):
            frame[f"se{j}"] = self.se[:, j]
        return frame


def fit_random_intercept_batch(Y, X, *, cluster, reml: bool = True) -> RandomInterceptBatch:
    """Fit ``Y[:, b] = X beta_b + u_cluster + e`` for every column b of ``Y``.

    Parameters
    ----------
    Y : array (n, B)
    X : array (n, p), with the intercept column
    cluster : array (n,)
        Cluster labels.
    reml : bool
        Every column is solved to the engine's tolerance (the score equations, near machine
        precision).

    Returns
    -------
    RandomInterceptBatch
        ``coefficients`` (B, p), ``se`` (B, p), and per column ``tau00`` (the random-intercept
        variance), ``sigma2``, ``loglik`` and ``theta`` (B,): the fields of
        :class:`~belonging_lib.models.RandomInterceptFit`, one row per column of ``Y``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> g = np.repeat(np.arange(30), 10)
    >>> X = np.column_stack([np.ones(300), rng.normal(size=300)])
    >>> Y = 1 + 0.5 * X[:, [1]] + rng.normal(0, 0.5, (30, 4))[g] + rng.normal(size=(300, 4))
    >>> fit_random_intercept_batch(Y, X, cluster=g).coefficients.shape
    (4, 2)
    """
    Y = np.asarray(Y, float)
    if Y.ndim == 1:
        Y = Y[:, None]
    X = np.asarray(X, float)
    if X.ndim != 2 or X.shape[0] != Y.shape[0] or len(cluster) != Y.shape[0]:
        raise DataError(f"`Y` ({Y.shape[0]} rows), `X` ({X.shape[0]} rows) and `cluster` ({len(cluster)} labels) "
                        "must have one row per observation.")
    if not (np.isfinite(Y).all() and np.isfinite(X).all()):
        bad = np.flatnonzero(~(np.isfinite(Y).all(axis=1) & np.isfinite(X).all(axis=1)))
        raise DataError(f"`Y` and `X` must be complete and finite, but rows {', '.join(str(r + 1) for r in bad[:5])}"
                        f"{' ...' if len(bad) > 5 else ''} (counted from 1) hold missing or infinite values "
                        f"({len(bad)} in all).")
    from .multilevel import _check_identified, _codes     # the same coding and identification rule as multilevel()

    codes, J = _codes(cluster)
    if (codes < 0).any():
        raise DataError(f"`cluster` is missing for {int((codes < 0).sum())} rows; every row needs a cluster.")
    n, p = X.shape
    if n <= p:
        raise ModelError(f"A random-intercept model with {p} fixed effects needs more than {p} observations, "
                         f"but {n} were passed.")
    _check_identified(codes, J, None, ["cluster"])
    constant = np.flatnonzero(np.ptp(Y, axis=0) == 0)
    if len(constant):
        raise ModelError(f"Column(s) {', '.join(str(int(c) + 1) for c in constant[:5])} of `Y` (counted from 1) have "
                         "the same value in every row; there is no variance to model.")
    order = _lmm.stable_order(codes, J)
    c = codes[order]
    starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
    nj = np.diff(np.r_[starts, n]).astype(float)[:, None, None]
    Xs, Ys = X[order], Y[order]
    sx = np.add.reduceat(Xs, starts, axis=0)                     # (J, p)
    sy = np.add.reduceat(Ys, starts, axis=0)                     # (J, B)
    xtx = np.einsum("ir,is->rs", Xs, Xs)
    xty = np.einsum("ir,ib->rb", Xs, Ys)
    yty = np.einsum("ib,ib->b", Ys, Ys)
    B = Y.shape[1]
    out = {k: np.empty((B, p)) for k in ("coefficients", "se")}
    out.update({k: np.empty(B) for k in ("tau00", "sigma2", "loglik", "theta")})
    for b in range(B):
        wtw = np.empty((p + 1, p + 1))
        wtw[:p, :p] = xtx
        wtw[:p, p] = wtw[p, :p] = xty[:, b]
        wtw[p, p] = yty[b]
        ztw = np.concatenate([sx, sy[:, b:b + 1]], axis=1)[:, None, :]
        fit = _lmm.fit(_lmm.TwoLevel(nj, ztw, wtw, n), reml=reml, satterthwaite_df=False)
        out["coefficients"][b] = fit.beta
        out["se"][b] = np.sqrt(np.diag(fit.vcov))
        out["theta"][b] = fit.theta[0]
        out["tau00"][b] = fit.theta[0] ** 2 * fit.sigma2
        out["sigma2"][b] = fit.sigma2
        out["loglik"][b] = fit.loglik
    return RandomInterceptBatch(**out)
