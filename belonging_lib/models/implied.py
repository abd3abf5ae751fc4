"""Model-implied covariance of predictors and an outcome from a linear structural model.

For predictors with correlation matrix ``R`` and an outcome ``y = beta' x + e`` with total variance
``var_y``, the implied covariances are ``cov(x, y) = R beta`` and the implied matrix is

    [[R,        R beta],
     [beta' R,  var_y ]]

Chapter 04 uses it to work out what dominance analysis would find with perfectly measured scales
and an infinite sample (``dominance_from_matrix`` on the result).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .._errors import DataError
from .._results import MatrixResult

__all__ = ["ImpliedCovariance", "structural_covariance"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class ImpliedCovariance(MatrixResult):
    """The covariance matrix a linear structural model implies (what :func:`structural_covariance` returns).

    ``matrix`` holds it (rows and columns: the kept predictors, then the outcome), ready for
    :func:`~belonging_lib.models.importance.dominance_from_matrix`; ``to_frame()`` gives one row per
    pair (variances included).
    """

    outcome: str

    title = "Model-implied covariance matrix"


def structural_covariance(corr, coef: Mapping[str, float], *, names: Sequence[str],
                          keep: Sequence[str] | None = None, outcome: str = "y",
                          outcome_variance: float | None = None) -> ImpliedCovariance:
    """Implied covariance matrix of ``keep`` predictors and the outcome.

    Parameters
    ----------
    corr : array-like, (k, k)
        Correlation (or covariance) matrix of all ``names`` predictors.
    coef : mapping
        Effect of each predictor on the outcome; every name in ``names`` must be present.
    names : sequence of str
        Order of the rows and columns of ``corr``.
    keep : sequence of str, optional
        Predictors to keep in the result (default: all). Predictors left out still contribute
        to the outcome's covariances with the kept ones.
    outcome : str
        Name of the outcome row and column.
    outcome_variance : float, optional
        Total variance of the outcome (default: the variance the predictors explain, beta' R beta,
        i.e. an outcome without residual).

    Returns
    -------
    ImpliedCovariance
        ``matrix``: the symmetric matrix with rows and columns ``keep + [outcome]``.

    Examples
    --------
    >>> m = structural_covariance([[1, .5], [.5, 1]], {"a": .3, "b": .2}, names=["a", "b"],
    ...                           outcome_variance=1.0)
    >>> [round(float(m.matrix.loc[k, "y"]), 3) for k in ("a", "b")]
    [0.4, 0.35]
    """
    r = np.asarray(corr, dtype=float)
    names = list(names)
    if r.ndim != 2 or r.shape != (len(names), len(names)):
        raise DataError(f"corr must be {len(names)} x {len(names)} to match names; got shape {r.shape}.")
    if not np.allclose(r, r.T):
        raise DataError("corr must be symmetric.")
    missing = [n for n in names if n not in coef]
    if missing:
        raise DataError(f"coef has no value for {missing}.")
    keep = names if keep is None else list(keep)
    unknown = [k for k in keep if k not in names]
    if unknown:
        raise DataError(f"keep names predictors not in names: {unknown}.")
    beta = np.array([coef[n] for n in names], dtype=float)
    cov_xy = r @ beta
    explained = float(beta @ r @ beta)
    var_y = explained if outcome_variance is None else float(outcome_variance)
    if var_y < explained - 1e-12:
        raise DataError(f"outcome_variance {var_y:.4g} is smaller than the variance the predictors "
                        f"explain ({explained:.4g}).")
    idx = [names.index(k) for k in keep]
    labels = keep + [outcome]
    out = np.empty((len(labels), len(labels)))
    out[:-1, :-1] = r[np.ix_(idx, idx)]
    out[:-1, -1] = out[-1, :-1] = cov_xy[idx]
    out[-1, -1] = var_y
    return ImpliedCovariance(matrix=pd.DataFrame(out, index=labels, columns=labels), outcome=outcome)
