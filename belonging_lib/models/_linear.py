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
from .._validation import as_frame, as_list, require_columns, require_numeric

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

    def index(self, name):
        return self.names.index(name)


def fit_ols(y: np.ndarray, X: np.ndarray, names, *, groups=None) -> OLSFit:
    """OLS of ``y`` on ``X`` (which holds the intercept column).

    Without ``groups`` the covariance is the classical one and t tests use the
    residual df (R's ``lm``).  With ``groups`` it is the cluster-robust CR1
    covariance with the small-sample factor G/(G-1) (N-1)/(N-K) (R's
    ``sandwich::vcovCL(type = "HC1")``, Stata's ``vce(cluster)``) and t tests
    use G - 1 df.
    """
    names = tuple(names)
    n, k = X.shape
    if n <= k:
        raise ModelError(f"The model has {k} coefficients but only {n} complete rows.")
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
        res = model.fit(cov_type="cluster", cov_kwds={"groups": codes, "use_correction": True,
                                                      "df_correction": True})
        df = float(n_clusters - 1)
        vtype = "CR1"
    return OLSFit(names, np.asarray(res.params, dtype=float), np.asarray(res.cov_params(), dtype=float),
                  df, int(n), n_clusters, vtype, float(res.rsquared))
