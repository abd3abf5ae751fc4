"""Intervals for a one-school report: the school's mean against the rest of the sample.

:func:`school_differences` gives, for each score of :func:`belonging_lib.report.report_tables`,
the school's mean minus the mean of the pupils in all other schools, with a confidence interval.

- The school's mean describes its own pupils: its standard error is ``sd / sqrt(n)``.
- The other schools' pupils are clustered in schools: the standard error of their mean is
  cluster-robust (CR1S, as ``clubSandwich::vcovCR(type = "CR1S")`` in R on an intercept-only
  ``lm``), with ``G - 1`` degrees of freedom for ``G`` other schools.
- The difference's standard error adds the two variances; its t reference uses the
  Welch-Satterthwaite degrees of freedom of the two parts.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

import numpy as np
import pandas as pd

from ._errors import DataError
from ._results import Estimate, EstimateTable, coef_table
from ._validation import as_frame, check_probability, require_columns
from .models._linear import cluster_robust_mean

__all__ = ["ClusterMean", "SchoolDifferences", "ShareIntervals", "cluster_mean", "school_differences",
           "share_intervals"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class SchoolDifferences(EstimateTable):
    """One school's mean minus the other schools' mean, one row per score (:func:`school_differences`).

    ``to_frame()`` has ``score, estimate, se, ci_low, ci_high, df``, then ``ci_level, n_school,
    n_rest, n_clusters_rest``; show it through :func:`belonging_lib.disclosure.suppress` with
    ``count_col=["n_school", "n_rest"]``.
    """

    school: str

    title = "School minus the other schools"


@dataclasses.dataclass(frozen=True, kw_only=True)
class ShareIntervals(EstimateTable):
    """Percentages of pupils with each flag and their cluster-robust intervals (:func:`share_intervals`).

    ``to_frame()`` has ``flag, estimate, se, ci_low, ci_high, df, n``, then ``count, ci_level,
    n_clusters, n_excluded`` (percentages 0-100); show it through
    :func:`belonging_lib.disclosure.suppress` with ``count_col=["count", "n"]``.
    """

    title = "Shares of pupils (%)"


def _cr1s_mean(y: np.ndarray, groups: np.ndarray) -> tuple[float, float, int]:
    """Mean, CR1S standard error and number of clusters of an intercept-only model (the library's
    one cluster-robust mean, :func:`belonging_lib.models._linear.cluster_robust_mean`)."""
    return cluster_robust_mean(y, groups, what="The rest of the sample")


def school_differences(data: pd.DataFrame, *, school: str, cluster: str = "school_id",
                       scores: Mapping[str, str] | None = None, ci_level: float = 0.95) -> SchoolDifferences:
    """The school's mean minus the other schools' mean, per score, with a confidence interval.

    Parameters
    ----------
    data : DataFrame
        Pupils of every school, in the collection's layout (item columns).
    school : str
        The school the report is about (a value of ``cluster``).
    scores : mapping, optional
        Row label -> score name, as for :func:`belonging_lib.report.report_tables` (default: its scores).
    ci_level : float
        Confidence level (default 0.95).

    Returns
    -------
    SchoolDifferences, whose ``to_frame()`` has ``score, estimate, se, ci_low, ci_high, df, ci_level,
    n_school, n_rest, n_clusters_rest``; show that through :func:`belonging_lib.disclosure.suppress` with
    ``count_col=["n_school", "n_rest"]``.
    """
    from .report import DEFAULT_SCORES, _scores

    ci_level = check_probability("ci_level", ci_level)
    data = as_frame(data)
    require_columns(data, cluster, role="school column")
    where = data[cluster].astype(str)
    in_school = where == str(school)
    if not in_school.any():
        raise DataError(f"School {school!r} is not in column {cluster!r}.")
    sc = _scores(data, scores or DEFAULT_SCORES)
    rows = []
    for label in sc.columns:
        a = sc.loc[in_school, label].dropna().to_numpy(float)
        rest = sc.loc[~in_school, label].notna()
        b = sc.loc[~in_school, label][rest].to_numpy(float)
        if len(a) < 2:
            raise DataError(f"Score {label!r} has fewer than 2 pupils with a value in school {school!r}.")
        se_a = float(a.std(ddof=1) / np.sqrt(len(a)))
        mb, se_b, g = _cr1s_mean(b, where[~in_school][rest].to_numpy())
        va, vb = se_a ** 2, se_b ** 2
        se = float(np.sqrt(va + vb))
        df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (g - 1)) if se > 0 else float("nan")
        est = float(a.mean() - mb)
        t = coef_table([label], [est], [se], df, ci_level=ci_level).iloc[0]
        rows.append({"score": label, "estimate": est, "se": se, "ci_low": float(t["ci_low"]),
                     "ci_high": float(t["ci_high"]), "ci_level": ci_level, "df": float(df), "n_school": len(a),
                     "n_rest": len(b), "n_clusters_rest": g})
    return SchoolDifferences(table=pd.DataFrame(rows), keys=("score",), school=str(school))


@dataclasses.dataclass(frozen=True, eq=False)
class ClusterMean(Estimate):
    """A mean with a cluster-robust (CR1S) interval (:func:`cluster_mean`).

    Attributes
    ----------
    estimate, se, ci_low, ci_high, ci_level, df : float
        The mean, its CR1S standard error and its t interval with ``G - 1`` df.
    n, n_excluded : int
        Rows used, and rows left out for a missing outcome or cluster.
    n_clusters : int
        Clusters (``G``).
    outcome, cluster : str
        The columns.
    """

    n_clusters: int
    outcome: str
    cluster: str

    title = "Mean with a cluster-robust interval"
    term = "mean"


def cluster_mean(data: pd.DataFrame, *, outcome: str, cluster: str, ci_level: float = 0.95) -> ClusterMean:
    """Mean of ``outcome`` with a cluster-robust (CR1S) interval, t with ``G - 1`` df.

    For pupils grouped in classes or schools, or ratings grouped by rater. Rows with a missing
    ``outcome`` are left out and counted (``n_excluded``).

    Returns
    -------
    ClusterMean
        ``estimate, se, ci_low, ci_high, ci_level, df, n, n_clusters, n_excluded``.
    """
    ci_level = check_probability("ci_level", ci_level)
    data = as_frame(data)
    require_columns(data, [outcome, cluster])
    y = pd.to_numeric(data[outcome], errors="coerce")
    bad = y.isna() & data[outcome].notna()
    if bad.any():
        rows = (np.flatnonzero(bad.to_numpy()) + 1)[:5].tolist()
        raise DataError(f"Column {outcome!r} must be numeric; rows {rows} (counted from 1) hold "
                        f"{data.loc[bad, outcome].iloc[0]!r}.")
    ok = y.notna() & data[cluster].notna()
    m, se, g = cluster_robust_mean(y[ok].to_numpy(float), data.loc[ok, cluster].astype(str).to_numpy(),
                                   what=f"Column {cluster!r} (in the rows with a value of {outcome!r})")
    t = coef_table([outcome], [m], [se], g - 1, ci_level=ci_level).iloc[0]
    return ClusterMean(estimate=m, se=se, ci_low=float(t["ci_low"]), ci_high=float(t["ci_high"]), ci_level=ci_level,
                       df=float(g - 1), n=int(ok.sum()), n_clusters=g, n_excluded=int((~ok).sum()),
                       outcome=outcome, cluster=cluster)


def share_intervals(data: pd.DataFrame, *, columns, cluster: str, ci_level: float = 0.95) -> ShareIntervals:
    """Percentage of pupils with each 0/1 (or True/False) flag, with a cluster-robust interval.

    Each share is :func:`cluster_mean` of the indicator, times 100; the interval is clipped to
    0-100. Returns a :class:`ShareIntervals`, one row per column, whose ``to_frame()`` has ``flag,
    estimate, se, ci_low, ci_high, df, n, count, ci_level, n_clusters, n_excluded``; show that through
    :func:`belonging_lib.disclosure.suppress` with ``count_col=["count", "n"]``.
    """
    from ._validation import as_list

    data = as_frame(data)
    rows = []
    for c in as_list(columns):
        require_columns(data, [c, cluster])
        x = data[c].map(lambda v: float(v) if isinstance(v, (bool, np.bool_)) else v)
        x = pd.to_numeric(x, errors="coerce")
        bad = x.notna() & ~x.isin([0.0, 1.0])
        if bad.any():
            at = (np.flatnonzero(bad.to_numpy()) + 1)[:5].tolist()
            raise DataError(f"Column {c!r} must be 0/1; rows {at} (counted from 1) hold {data.loc[bad, c].iloc[0]!r}.")
        r = cluster_mean(pd.DataFrame({"y": x, "g": data[cluster]}), outcome="y", cluster="g", ci_level=ci_level)
        rows.append({"flag": c, "count": int(x.sum()), "n": r.n, "estimate": 100 * r.estimate,
                     "se": 100 * r.se, "ci_low": max(0.0, 100 * r.ci_low),
                     "ci_high": min(100.0, 100 * r.ci_high), "ci_level": ci_level, "df": r.df,
                     "n_clusters": r.n_clusters, "n_excluded": r.n_excluded})
    return ShareIntervals(table=pd.DataFrame(rows), keys=("flag",))
