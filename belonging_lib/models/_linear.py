"""Linear-model machinery shared by regression, moderation, mediation and importance (private).

Complete-case selection with a count of excluded rows, and the library's one OLS fit with its one
covariance dispatch (:func:`fit_ols`): classical, HC0-HC3, cluster-robust CR1 and CR2
(Bell-McCaffrey, with the pieces its Satterthwaite df need).  :func:`belonging_lib.models.ols`
and the claims' analyses all fit through it.  The cluster-robust mean (:func:`cluster_robust_mean`,
the intercept-only case of CR1) is here too, for the one-school reports'
:mod:`belonging_lib.school_intervals`.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from statsmodels.regression.linear_model import OLS  # not statsmodels.api: it imports the whole package

from .._errors import DataError, ModelError
from .._validation import as_frame, as_list, require_columns, require_finite, require_numeric

__all__ = ["complete_cases", "fit_ols", "cluster_robust_mean", "OLSFit", "VCOV_TYPES"]

#: The covariance types :func:`fit_ols` knows.
VCOV_TYPES = ["classical", "HC0", "HC1", "HC2", "HC3", "CR1", "CR2"]


def complete_cases(data, columns, *, cluster=None, numeric=None):
    """Rows complete on ``columns`` (and ``cluster``); returns (frame, n_excluded).

    ``numeric`` lists the columns that must be numbers (default: all of ``columns``).
    """
    data = as_frame(data)
    cols = list(dict.fromkeys(as_list(columns)))
    require_columns(data, cols)
    if cluster is not None:
        require_columns(data, [cluster], role="cluster column")
    numeric = cols if numeric is None else as_list(numeric)
    require_numeric(data, numeric)
    require_finite(data, numeric, what="model")
    use = cols + ([cluster] if cluster is not None and cluster not in cols else [])
    frame = data[use].copy()
    for c in numeric:
        frame[c] = pd.to_numeric(frame[c], errors="coerce").astype(float)
    keep = frame.notna().all(axis=1)
    out = frame.loc[keep]
    if out.shape[0] == 0:
        raise DataError(f"No row is complete on the columns {', '.join(map(repr, use))}.")
    return out, int((~keep).sum())


@dataclasses.dataclass(frozen=True)
class OLSFit:
    """Coefficients, covariance and t-test df of an OLS fit (private)."""

    names: tuple
    params: np.ndarray
    vcov: np.ndarray
    df: float
    n: int
    n_clusters: int | None
    vcov_type: str
    rsquared: float
    cr2_parts: tuple | None = dataclasses.field(default=None, repr=False)

    def index(self, name):
        return self.names.index(name)

    def satterthwaite_df(self, L) -> float:
        """Satterthwaite df of the contrast ``L'beta`` under CR2 (clubSandwich's ``coef_test``)."""
        return _cr2_df(self.cr2_parts, L)


def _cluster_blocks(codes: np.ndarray, n_clusters: int) -> list[np.ndarray]:
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(n_clusters + 1))
    return [order[bounds[g]:bounds[g + 1]] for g in range(n_clusters)]


#: Columns of X whose lengths differ by more than this factor are scaled to unit length before the
#: CR2 algebra (``X'X`` would be too ill-conditioned to invert); the covariance is scaled back.
_CR2_SCALE_RATIO = 1e6


def _cr2_parts(X: np.ndarray, resid: np.ndarray, codes: np.ndarray):
    """CR2 covariance and the pieces its Satterthwaite df need (codes are 0..G-1).

    The hat matrix and CR2's adjustment do not depend on the scale of X's columns, so columns of
    very different lengths (a predictor in units of 1e-9 beside the intercept) are scaled to unit
    length first and the covariance is scaled back; other designs are used as they are.
    """
    norms = np.sqrt((X * X).sum(axis=0))
    scale = None
    if norms.min() > 0 and norms.max() > _CR2_SCALE_RATIO * norms.min():
        scale = 1.0 / norms
        X = X * scale
    p = X.shape[1]
    n_clusters = int(codes.max()) + 1
    M = np.linalg.inv(X.T @ X)
    blocks = _cluster_blocks(codes, n_clusters)
    adj = []
    meat = np.zeros((p, p))
    for idx in blocks:
        Xg = X[idx]
        IH = np.eye(len(idx)) - Xg @ M @ Xg.T
        vals, vecs = np.linalg.eigh(IH)
        if np.any(vals <= 1e-12):
            raise ModelError("CR2 standard errors are undefined: a cluster is fitted exactly (for example "
                             "a cluster-level predictor with one pupil per cluster); use vcov='CR1'.")
        Ag = (vecs / np.sqrt(vals)) @ vecs.T
        adj.append(Ag)
        u = Xg.T @ (Ag @ resid[idx])
        meat += np.outer(u, u)
    V = M @ meat @ M
    if scale is not None:
        V = V * np.outer(scale, scale)
    return V, (X, M, tuple(blocks), tuple(adj), scale)


def _cr2_df(parts, L) -> float:
    """Satterthwaite df of the contrast ``L'beta`` under CR2 (see ``models.cr2_vcov``)."""
    X, M, blocks, adj, scale = parts
    L = np.asarray(L, dtype=float)
    if scale is not None:
        L = L * scale          # the contrast of the scaled design's coefficients
    c = M @ L
    a_list = [Ag @ (X[idx] @ c) for Ag, idx in zip(adj, blocks)]
    T = np.column_stack([X[idx].T @ a for a, idx in zip(a_list, blocks)])   # p x G
    QQ = -T.T @ M @ T
    QQ[np.diag_indices_from(QQ)] += np.array([a @ a for a in a_list])
    return float(np.trace(QQ) ** 2 / np.sum(QQ * QQ))


def cluster_robust_mean(y: np.ndarray, groups: np.ndarray, *, what: str = "The data"
                        ) -> tuple[float, float, int]:
    """Mean of ``y``, its cluster-robust standard error and the number of clusters of ``groups``.

    The intercept-only case of :func:`fit_ols`'s ``"CR1"``: the sandwich ``sum_g (sum_i e_gi)^2 / N^2``
    with the factor G/(G-1) (N-1)/(N-K), which for K = 1 is G/(G-1) alone; this is
    ``clubSandwich::vcovCR(type = "CR1S")`` on an intercept-only ``lm`` in R.  Written out (no
    regression is fitted), so that an outcome that does not vary has a standard error of 0 rather
    than an error.  ``what`` names the rows in the error for fewer than two clusters.
    """
    codes = pd.factorize(groups)[0]
    g = int(codes.max()) + 1 if len(codes) else 0
    n = len(y)
    if g < 2:
        raise DataError(f"{what} has {g} cluster(s); a cluster-robust interval needs at least 2.")
    m = float(y.mean())
    sums = np.bincount(codes, weights=y - m)
    meat = float((sums ** 2).sum())
    var = meat / n ** 2 * g / (g - 1)   # CR1: G/(G-1) * (N-1)/(N-K), and (N-1)/(N-K) = 1 for K = 1
    return m, float(np.sqrt(var)), g


def fit_ols(y: np.ndarray, X: np.ndarray, names, *, groups=None, vcov: str | None = None,
            outcome: str = "outcome") -> OLSFit:
    """OLS of ``y`` on ``X`` (which holds the intercept column): the library's one covariance dispatch.

    ``vcov`` is ``"classical"`` (R's ``lm``), ``"HC0"``-``"HC3"`` (``sandwich::vcovHC``), ``"CR1"``
    or ``"CR2"``; the default is ``"CR2"`` with ``groups`` (cluster labels) and ``"classical"``
    without.  A cluster-robust type without ``groups`` means "when clustered" and gives the classical
    covariance (the claims' analyses take ``vcov="CR2"`` whether or not a cluster is named).
    Classical and HC types test on the residual df; the cluster-robust types on G - 1 df
    (``satterthwaite_df`` gives CR2's Satterthwaite df of any contrast).  CR1 has the small-sample
    factor G/(G-1) (N-1)/(N-K) (R's ``sandwich::vcovCL(type = "HC1")``, Stata's ``vce(cluster)``);
    CR2 is Bell-McCaffrey (``clubSandwich::vcovCR(type = "CR2")``).  ``outcome`` names ``y`` in
    error messages.
    """
    names = tuple(names)
    vcov = vcov or ("CR2" if groups is not None else "classical")
    if vcov not in VCOV_TYPES:
        raise DataError(f"vcov must be one of {', '.join(map(repr, VCOV_TYPES))}; got {vcov!r}.")
    if vcov.startswith("CR") and groups is None:
        vcov = "classical"
    n, k = X.shape
    if n <= k:
        raise ModelError(f"The model has {k} coefficients but only {n} complete rows.")
    if np.ptp(y) == 0:
        raise ModelError(f"The outcome {outcome!r} has the same value ({y[0]:g}) in all {n} complete rows; "
                         "there is nothing to model.")
    if np.linalg.matrix_rank(X) < k:
        raise ModelError("The predictors are perfectly collinear (or one does not vary); "
                         f"the model's coefficients {', '.join(names)} cannot all be estimated.")
    res = OLS(y, X).fit()
    params = np.asarray(res.params, dtype=float)
    parts = None
    n_clusters = None
    if vcov == "classical":
        V, df = np.asarray(res.cov_params(), dtype=float), float(res.df_resid)
    elif vcov.startswith("HC"):
        V, df = np.asarray(getattr(res, f"cov_{vcov}"), dtype=float), float(res.df_resid)
    else:
        codes = pd.factorize(pd.Series(groups), sort=True)[0]
        if (codes < 0).any():
            raise DataError(f"The cluster is missing for {int((codes < 0).sum())} rows; drop those rows first.")
        n_clusters = int(codes.max() + 1)
        if n_clusters < 2:
            raise ModelError("Cluster-robust standard errors need at least two clusters.")
        df = float(n_clusters - 1)
        if vcov == "CR1":
            r = OLS(y, X).fit(cov_type="cluster", cov_kwds={"groups": codes, "use_correction": True,
                                                            "df_correction": True})
            V = np.asarray(r.cov_params(), dtype=float)
        else:
            V, parts = _cr2_parts(X, np.asarray(res.resid, dtype=float), codes)
    return OLSFit(names, params, V, df, int(n), n_clusters, vcov, float(res.rsquared), parts)
