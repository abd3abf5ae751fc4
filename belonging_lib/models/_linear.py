"""Small linear-model helpers shared by moderation, mediation and importance.

Private: complete-case selection with a count of excluded rows, and an OLS
fit that returns coefficients, their covariance and the degrees of freedom
used for t tests (residual df, or clusters - 1 for cluster-robust SEs).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import statsmodels.api as sm

from .._errors import DataError, ModelError
from .._validation import as_frame, as_list, require_columns, require_finite, require_numeric
from .regression import _cr2_df, _cr2_parts

__all__ = ["complete_cases", "fit_ols", "OLSFit"]


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


def _cr2(X: np.ndarray, resid: np.ndarray, codes: np.ndarray, n_clusters: int):
    """CR2 covariance and its Satterthwaite pieces (one implementation: models.regression)."""
    return _cr2_parts(X, resid, codes)


def fit_ols(y: np.ndarray, X: np.ndarray, names, *, groups=None, vcov: str = "CR2",
            outcome: str = "outcome") -> OLSFit:
    """OLS of ``y`` on ``X`` (which holds the intercept column).

    Without ``groups`` the covariance is the classical one and t tests use the
    residual df (R's ``lm``).  With ``groups`` it is cluster-robust and t tests
    use G - 1 df: ``vcov="CR2"`` (default) is the Bell-McCaffrey estimator
    (R's ``clubSandwich::vcovCR(type = "CR2")``); ``vcov="CR1"`` has the
    small-sample factor G/(G-1) (N-1)/(N-K) (R's ``sandwich::vcovCL(type =
    "HC1")``, Stata's ``vce(cluster)``).  ``outcome`` names ``y`` in error messages.
    """
    names = tuple(names)
    n, k = X.shape
    if n <= k:
        raise ModelError(f"The model has {k} coefficients but only {n} complete rows.")
    if np.ptp(y) == 0:
        raise ModelError(f"The outcome {outcome!r} has the same value ({y[0]:g}) in all {n} complete rows; "
                         "there is nothing to model.")
    if np.linalg.matrix_rank(X) < k:
        raise ModelError("The predictors are perfectly collinear (or one does not vary); "
                         f"the model's coefficients {', '.join(names)} cannot all be estimated.")
    model = sm.OLS(y, X)
    if groups is None:
        res = model.fit()
        df = float(res.df_resid)
        n_clusters = None
        vtype = "classical"
    else:
        codes = pd.factorize(pd.Series(groups))[0]
        n_clusters = int(codes.max() + 1)
        if n_clusters < 2:
            raise ModelError("Cluster-robust standard errors need at least two clusters.")
        df = float(n_clusters - 1)
        vtype = vcov
        if vcov == "CR1":
            res = model.fit(cov_type="cluster", cov_kwds={"groups": codes, "use_correction": True,
                                                          "df_correction": True})
        else:
            res = model.fit()
            V, parts = _cr2(X, np.asarray(res.resid, dtype=float), codes, n_clusters)
            return OLSFit(names, np.asarray(res.params, dtype=float), V, df, int(n), n_clusters, vtype,
                          float(res.rsquared), parts)
    return OLSFit(names, np.asarray(res.params, dtype=float), np.asarray(res.cov_params(), dtype=float),
                  df, int(n), n_clusters, vtype, float(res.rsquared))
