"""Rubin's rules: the library's one pooling of estimates over imputations or plausible values.

:func:`rubin` combines ``m`` estimates of ``k`` statistics, each with its variance, into one
estimate, its total variance and degrees of freedom (Rubin, 1987), optionally with the
Barnard-Rubin (1999) small-sample degrees of freedom.  :func:`belonging_lib.imputation.pool`
uses it for models fitted to multiply imputed data sets, and
:class:`belonging_lib.survey.SurveyDesign` for statistics over plausible values (the variances
there are the replicate-weight sampling variances).

Imports nothing from the rest of the package.
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["RubinPool", "rubin"]


@dataclasses.dataclass(frozen=True)
class RubinPool:
    """Rubin's rules for ``k`` statistics (every field is an array of length ``k``).

    ``var_within`` is the mean of the ``m`` variances (:math:`\\bar U`), ``var_between`` the
    variance of the ``m`` estimates (:math:`B`), ``var_total`` :math:`T = \\bar U + (1 + 1/m) B`;
    ``riv`` is the relative increase in variance :math:`r = (1 + 1/m) B / \\bar U` and ``fmi`` the
    fraction of missing information.  ``df`` is infinite where :math:`B = 0`.
    """

    estimate: np.ndarray
    var_within: np.ndarray
    var_between: np.ndarray
    var_total: np.ndarray
    df: np.ndarray
    riv: np.ndarray
    fmi: np.ndarray
    m: int

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(self.var_total)


def rubin(estimates, variances, *, df_complete: float | None = None) -> RubinPool:
    """Pool ``m`` estimates of ``k`` statistics by Rubin's rules.

    Parameters
    ----------
    estimates, variances : array (m, k)
        One row per imputation (or plausible value): the estimates and their variances.
    df_complete : float, optional
        Degrees of freedom of the analysis had the data been complete; when given, the
        Barnard-Rubin degrees of freedom replace Rubin's large-sample ones.

    Notes
    -----
    :math:`\\bar Q = \\tfrac1m \\sum Q_i`, :math:`\\bar U = \\tfrac1m \\sum U_i`,
    :math:`B = \\tfrac1{m-1} \\sum (Q_i - \\bar Q)^2`, :math:`T = \\bar U + (1 + 1/m) B`,
    :math:`r = (1 + 1/m) B / \\bar U` and Rubin's :math:`\\nu = (m-1)(1 + 1/r)^2` (infinite when
    :math:`B = 0`).  With :math:`\\nu_c`: :math:`\\gamma = (1 + 1/m) B / T`,
    :math:`\\nu_{obs} = \\frac{\\nu_c + 1}{\\nu_c + 3} \\nu_c (1 - \\gamma)` and
    :math:`\\nu_{BR} = (1/\\nu + 1/\\nu_{obs})^{-1}`.  The fraction of missing information is
    :math:`(r + 2/(\\nu + 3)) / (r + 1)`.  With one row (``m = 1``) there is nothing to pool:
    :math:`B = 0`, :math:`T = U` and :math:`\\nu` is infinite.  As ``mitools::MIcombine`` and
    ``mice::pool``.

    >>> p = rubin([[1.0], [1.2]], [[0.01], [0.01]])
    >>> float(p.estimate[0]), round(float(p.var_total[0]), 4), round(float(p.df[0]), 3)
    (1.1, 0.04, 1.778)
    """
    q = np.asarray(estimates, dtype=float)
    u = np.asarray(variances, dtype=float)
    if q.ndim != 2 or q.shape != u.shape:
        raise ValueError(f"estimates and variances must be arrays of the same shape (m, k); got "
                         f"{q.shape} and {u.shape}.")
    m = q.shape[0]
    est = q.mean(axis=0)
    within = u.mean(axis=0)
    if m > 1:
        between = q.var(axis=0, ddof=1)
        total = within + (1 + 1 / m) * between
        with np.errstate(divide="ignore", invalid="ignore"):
            riv = (1 + 1 / m) * between / within
            df = np.where(between > 0, (m - 1) * (1 + 1 / riv) ** 2, np.inf)
    else:
        between = np.zeros_like(within)
        total = within
        riv = np.zeros_like(within)
        df = np.full_like(within, np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        if df_complete is not None:
            gamma = (1 + 1 / m) * between / total
            df_obs = (df_complete + 1) / (df_complete + 3) * df_complete * (1 - gamma)
            df = 1 / (1 / df + 1 / df_obs)
        fmi = (riv + 2 / (df + 3)) / (riv + 1)
    return RubinPool(est, within, between, total, df, riv, fmi, m)
