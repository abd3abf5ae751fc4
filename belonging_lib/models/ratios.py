"""Ratio of two shares (a risk ratio) with a log-scale interval that can respect clustering.

"The share in the high-need band is N times as high in group A as in group B" is a risk ratio,
``RR = p_A / p_B``.  Its interval is built on the log scale, where the estimate is close to normal,
and turned back with ``exp``.

- Without ``cluster`` the variance of ``log RR`` is Katz's (Katz et al., 1978),
  ``1/a - 1/n_A + 1/c - 1/n_B`` for ``a`` of ``n_A`` and ``c`` of ``n_B`` pupils with the
  characteristic.  This treats pupils as independent.
- With ``cluster`` (pupils in schools) it is the cluster-robust sandwich of a Poisson (log-link)
  model of the 0/1 outcome on the group indicator -- Zou's (2004) "modified Poisson" risk ratio --
  with the CR1 small-sample factor ``G/(G-1) * (N-1)/(N-2)``.  That model's estimate is exactly
  ``p_A / p_B``; its sandwich is ``sandwich::vcovCL(type = "HC1")`` on
  ``glm(y ~ group, family = poisson)`` (``clubSandwich::vcovCR(type = "CR1S")`` agrees to about one part
  in ten thousand), and the limits
  use the normal critical value, as :func:`belonging_lib.models.logit` does.  Without the small-sample
  factor and with every pupil their own cluster it reduces to Katz's variance, so the two options
  differ only in how they treat pupils who share a school.

Checked against R in ``tests/test_ratios.py`` (``tests/reference/ratios.R``).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from scipy import stats

from .._errors import DataError, ModelError
from .._results import Estimate
from .._validation import (as_frame, check_probability, describe_rows, require_one_kind_of_label, require_roles,
                           row_numbers)

__all__ = ["RiskRatio", "risk_ratio"]

_COLUMNS = ["term", "estimate", "se", "ci_low", "ci_high", "statistic", "df", "p", "n", "numerator", "denominator",
            "count_numerator", "n_numerator", "share_numerator", "count_denominator", "n_denominator",
            "share_denominator", "log_estimate", "ci_level", "method", "n_excluded", "n_clusters"]


@dataclasses.dataclass(frozen=True, eq=False)
class RiskRatio(Estimate):
    """The ratio of two shares with its log-scale interval (:func:`risk_ratio`).

    Attributes
    ----------
    estimate, ci_low, ci_high, ci_level : float
        The ratio ``share_numerator / share_denominator`` and its interval.
    se, statistic, p, df : float
        The standard error of ``log_estimate``, the z statistic and p-value of a ratio of 1, and
        ``df`` (inf: a normal reference).
    log_estimate : float
        The log of the ratio.
    numerator, denominator
        The two groups compared (values of ``by``).
    count_numerator, n_numerator, share_numerator, count_denominator, n_denominator, share_denominator
        Pupils with the characteristic, pupils, and their share, in each group.
    method : str
        ``"katz"`` or ``"cluster CR1"``.
    n, n_excluded, n_clusters : int
        Pupils in the two groups used, those left out (missing outcome or cluster), clusters (None
        without ``cluster``).
    """

    numerator: object
    denominator: object
    count_numerator: int
    n_numerator: int
    share_numerator: float
    count_denominator: int
    n_denominator: int
    share_denominator: float
    log_estimate: float
    statistic: float
    method: str
    n_clusters: int | None

    title = "Risk ratio"
    term = "risk ratio"

    def to_frame(self) -> pd.DataFrame:
        """One row: ``term`` ("risk ratio"), the tidy columns, then the groups' counts and shares."""
        row = {c: getattr(self, c) for c in _COLUMNS if c != "term"}
        return pd.DataFrame([{"term": self.term, **row}], columns=_COLUMNS)

    def notes(self) -> list[str]:
        return [f"{self.numerator!r} over {self.denominator!r}; interval on the log scale ({self.method}); "
                f"N = {self.n}" + (f", {self.n_excluded} left out." if self.n_excluded else ".")]


def risk_ratio(data: pd.DataFrame, *, outcome: str, by: str, levels: tuple, cluster: str | None = None,
               ci_level: float = 0.95) -> RiskRatio:
    """Ratio of the share with a 0/1 ``outcome`` in one group to the share in another.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per pupil.
    outcome : str
        Column coded 0/1 (or True/False); missing values are excluded and counted.
    by : str
        Column naming each pupil's group.
    levels : (numerator, denominator)
        The two values (levels) of the breakdown ``by`` to compare: the share in ``numerator`` is divided by the share
        in ``denominator``.  Rows in other groups are not used (and not counted as excluded).
    cluster : str, optional
        Cluster column (for example ``"school_id"``): cluster-robust (CR1) interval from a Poisson
        model.  Without it, Katz's interval, which treats pupils as independent.
    ci_level : float
        Confidence level (default 0.95).

    Returns
    -------
    RiskRatio
        ``numerator``, ``denominator``, the count, number and share of each group, ``estimate``
        (the ratio), ``log_estimate``, ``se`` (standard error of ``log_estimate``), ``ci_low``,
        ``ci_high`` (limits of the ratio), ``ci_level``, ``statistic`` and ``p`` (z test of a
        ratio of 1), ``df`` (inf: normal reference), ``method`` ("katz" or "cluster CR1"), ``n``
        (pupils in the two groups used), ``n_excluded`` (pupils of the two groups with a missing
        outcome or cluster) and ``n_clusters``; ``to_frame()`` gives them as one tidy row.

    Raises
    ------
    DataError
        A column holds values other than 0/1, or a group is absent.
    ModelError
        A group has no pupil with the characteristic (the ratio is 0 or infinite and its log-scale
        interval undefined), every pupil of a group has it (no sampling variation to estimate), or
        fewer than two clusters remain.

    Examples
    --------
    >>> d = pd.DataFrame({"y": [1] * 20 + [0] * 80 + [1] * 10 + [0] * 90, "g": ["a"] * 100 + ["b"] * 100})
    >>> r = risk_ratio(d, outcome="y", by="g", levels=("a", "b"))
    >>> [round(r.estimate, 3), round(r.ci_low, 3), round(r.ci_high, 3)]
    [2.0, 0.987, 4.054]
    """
    data = as_frame(data)
    roles = {"outcome": outcome, "by": by}
    if cluster is not None:
        roles["cluster"] = cluster
    require_roles(data, roles)
    if cluster is not None:
        require_one_kind_of_label(data[cluster], cluster)
    level = check_probability("ci_level", ci_level)
    if not isinstance(levels, (tuple, list)) or len(levels) != 2 or levels[0] == levels[1]:
        raise DataError(f"`levels` must be two different values of {by!r}: (numerator, denominator); "
                        f"{levels!r} was passed.")
    num, den = levels
    present = set(data[by].dropna().unique())
    for g in (num, den):
        if g not in present:
            shown = ", ".join(map(repr, sorted(present, key=str)[:10]))
            raise DataError(f"The group {g!r} does not occur in column {by!r} (its values: {shown}).")
    in_two = data[by].isin([num, den]).to_numpy()
    y_all = data[outcome]
    if pd.api.types.is_bool_dtype(y_all):
        y_all = y_all.astype(float)
    y_num = pd.to_numeric(y_all, errors="coerce")
    bad = in_two & ((y_num.isna() & y_all.notna()) | (y_num.notna() & ~y_num.isin([0, 1]))).to_numpy()
    if bad.any():
        first = y_all[bad].iloc[0]
        raise DataError(f"The outcome {outcome!r} must be coded 0/1, but "
                        f"{describe_rows(row_numbers(data, bad))} hold other values (first: {first!r}).")
    missing = y_num.isna().to_numpy()
    if cluster is not None:
        missing |= data[cluster].isna().to_numpy()
    use = in_two & ~missing
    n_excluded = int((in_two & missing).sum())
    y = y_num.to_numpy(dtype=float)[use]
    is_num = (data[by].to_numpy()[use] == num)
    counts, sizes = [], []
    for mask, g in ((is_num, num), (~is_num, den)):
        n_g, a_g = int(mask.sum()), int(y[mask].sum())
        if n_g == 0:
            raise DataError(f"The group {g!r} has no pupil with a recorded {outcome!r}.")
        if a_g == 0:
            raise ModelError(f"No pupil in group {g!r} has {outcome!r} = 1, so the ratio is 0 or infinite "
                             "and its log-scale interval is undefined.")
        if a_g == n_g:
            raise ModelError(f"Every pupil in group {g!r} has {outcome!r} = 1: the share has no sampling "
                             "variation to estimate on the log scale.")
        counts.append(a_g)
        sizes.append(n_g)
    p1, p0 = counts[0] / sizes[0], counts[1] / sizes[1]
    log_rr = np.log(p1) - np.log(p0)
    n = len(y)
    if cluster is None:
        var = 1 / counts[0] - 1 / sizes[0] + 1 / counts[1] - 1 / sizes[1]
        n_clusters, method = None, "katz"
    else:
        # influence of each pupil on log(p1) - log(p0), summed within clusters (Poisson score / bread)
        infl = np.where(is_num, (y - p1) / (sizes[0] * p1), -(y - p0) / (sizes[1] * p0))
        codes = pd.factorize(pd.Series(data[cluster].to_numpy()[use]))[0]
        n_clusters = int(codes.max()) + 1
        if n_clusters < 2:
            raise ModelError(f"A cluster-robust interval needs at least two clusters of {cluster!r}, but the "
                             "pupils compared are all in one.")
        z_c = np.bincount(codes, weights=infl, minlength=n_clusters)
        var = float(z_c @ z_c) * n_clusters / (n_clusters - 1) * (n - 1) / (n - 2)
        method = "cluster CR1"
    se = float(np.sqrt(var))
    crit = stats.norm.ppf(0.5 + level / 2)
    stat = log_rr / se
    return RiskRatio(numerator=num, denominator=den,
                     count_numerator=counts[0], n_numerator=sizes[0], share_numerator=p1,
                     count_denominator=counts[1], n_denominator=sizes[1], share_denominator=p0,
                     estimate=float(np.exp(log_rr)), log_estimate=float(log_rr), se=se,
                     ci_low=float(np.exp(log_rr - crit * se)), ci_high=float(np.exp(log_rr + crit * se)),
                     ci_level=level, statistic=float(stat), p=float(2 * stats.norm.sf(abs(stat))),
                     df=np.inf, method=method, n=int(n), n_excluded=n_excluded, n_clusters=n_clusters)
