"""Shares of pupils with an interval: Wilson for independent pupils, a cluster-robust interval for pupils in schools.

``proportion_ci`` answers "what share of pupils ...?" with a confidence interval:

- without ``cluster``: the Wilson score interval (as R's ``prop.test(x, n, correct = FALSE)``), which
  treats every pupil as an independent observation (:func:`wilson_ci` gives it from counts: the one
  implementation of the Wilson interval in the library);
- with ``cluster``: the design-based interval of R's ``survey::svyciprop(method = "logit")`` for a
  one-stage cluster sample (pupils in schools): the share's standard error allows for pupils in the same
  school being alike, the interval is built on the logit scale and uses a t quantile with (number of
  clusters - 1) degrees of freedom.  With ``by``, each group is a domain (R's ``svyby``): the standard
  error uses every cluster, and the degrees of freedom count the clusters that hold the group.

Each function returns a :class:`ProportionTable`, one row per group (or item, or pair of counts); its
``to_frame()`` has ``estimate, se, ci_low, ci_high, ci_level, n, n_events, n_excluded`` (and ``df``,
``n_clusters`` when clustered); pass that table through ``disclosure.suppress`` before showing groups
of pupils (``count_col=["n", "n_events"]``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ._errors import DataError
from ._results import EstimateTable
from ._validation import as_frame, as_list, check_probability, describe_rows, require_columns

__all__ = ["ProportionTable", "proportion_ci", "missing_share_ci", "wilson_ci"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class ProportionTable(EstimateTable):
    """Shares of pupils with their confidence intervals, one row per group, item or pair of counts.

    ``to_frame()`` gives the tidy table: the group (or ``item``) columns, then ``estimate, se,
    ci_low, ci_high, df, n`` (those that apply), then ``ci_level``, the counts and the ``method``.
    """

    title = "Shares with confidence intervals"


def _as_indicator(values: pd.Series, name: str) -> pd.Series:
    """0/1 (or True/False) as float with NaN kept; anything else is an error naming rows and value."""
    if values.dtype == bool:
        return values.astype(float)
    numeric = pd.to_numeric(values, errors="coerce")
    bad = values.notna() & ~numeric.isin([0, 1])
    if bad.any():
        rows = np.flatnonzero(bad.to_numpy()) + 1
        raise DataError(f"column {name!r} must hold 0/1 or True/False; {describe_rows(rows)} "
                        f"hold other values, first {values[bad].tolist()[0]!r}")
    return numeric.astype(float)


def wilson_ci(count, n, *, ci_level: float = 0.95) -> ProportionTable:
    """Share ``count / n`` with its Wilson score interval, from counts.

    The Wilson interval (Wilson, 1927) stays inside 0-1 and behaves well for small counts and shares
    near 0 or 1, unlike "estimate +/- 1.96 SE".  It equals R's ``prop.test(x, n, correct = FALSE)``
    (``tests/reference/proportion_ci.R``).  It treats pupils as independent; for pupils clustered in
    schools it is too narrow when the share differs between schools (use :func:`proportion_ci` with
    ``cluster``).

    Parameters
    ----------
    count, n : int or array-like of int
        Number with the characteristic and number of pupils (``0 <= count <= n``, ``n >= 1``).
    ci_level : float
        Confidence level.

    Returns
    -------
    ProportionTable
        ``to_frame()`` has the columns ``estimate, ci_low, ci_high, n, count, ci_level`` (one row per
        pair).

    Examples
    --------
    >>> wilson_ci(12, 80).to_frame().round(4).iloc[0].tolist()
    [0.15, 0.0879, 0.2441, 80.0, 12.0, 0.95]
    """
    k = np.atleast_1d(np.asarray(count, dtype=float))
    m = np.atleast_1d(np.asarray(n, dtype=float))
    if k.shape != m.shape:
        raise DataError(f"count and n must have the same length; got {k.shape} and {m.shape}.")
    check_probability("ci_level", ci_level)
    bad = np.flatnonzero((m < 1) | (k < 0) | (k > m) | (k != np.round(k)) | (m != np.round(m)))
    if bad.size:
        i = int(bad[0])
        raise DataError(f"count and n must be whole numbers with 0 <= count <= n and n >= 1; "
                        f"row {i + 1} has count {k[i]:g}, n {m[i]:g}.")
    z = stats.norm.ppf(0.5 + ci_level / 2)
    p = k / m
    denom = 1 + z**2 / m
    centre = (p + z**2 / (2 * m)) / denom
    half = z * np.sqrt(p * (1 - p) / m + z**2 / (4 * m**2)) / denom
    table = pd.DataFrame({"estimate": p, "ci_low": np.clip(centre - half, 0, 1),
                          "ci_high": np.clip(centre + half, 0, 1), "n": m, "count": k, "ci_level": ci_level})
    return ProportionTable(table=table)


def _wilson(events: int, n: int, level: float) -> tuple[float, float]:
    row = wilson_ci(events, n, ci_level=level).table.iloc[0]
    return float(row["ci_low"]), float(row["ci_high"])


def proportion_ci(data: pd.DataFrame, *, outcome: str, by: str | Sequence[str] | None = None,
                  cluster: str | None = None, ci_level: float = 0.95) -> ProportionTable:
    """Share of rows where ``outcome`` is 1 (or True), with a confidence interval, overall or by group.

    Parameters
    ----------
    data : DataFrame
    outcome : str
        A 0/1 or True/False column; missing values are excluded and counted in ``n_excluded``.
    by : str or list of str, optional
        Groups to give a share for (missing group values are excluded and counted).
    cluster : str, optional
        Cluster column (school).  Without it the Wilson interval is used; with it, a cluster-robust
        interval on the logit scale (R: ``survey::svyciprop(method = "logit")``).
    ci_level : float
        Confidence level, 0.95 by default.

    Returns
    -------
    ProportionTable
        One row per group (or one row); ``to_frame()`` has ``by..., estimate, se, ci_low, ci_high,
        ci_level, n, n_events, n_excluded, method`` and, with ``cluster``, ``df`` and ``n_clusters``
        (after ``ci_high``).

    Examples
    --------
    >>> d = pd.DataFrame({"dropped": [1] * 20 + [0] * 80})
    >>> t = proportion_ci(d, outcome="dropped").to_frame()
    >>> t[["estimate", "ci_low", "ci_high"]].round(3).values.tolist()
    [[0.2, 0.133, 0.289]]
    """
    data = as_frame(data)
    keys = as_list(by)
    require_columns(data, [outcome, *keys, *as_list(cluster)])
    check_probability("ci_level", ci_level)
    y = _as_indicator(data[outcome], outcome)
    frame = data[keys].copy() if keys else pd.DataFrame(index=data.index)
    frame["_y"] = y
    if cluster is not None:
        if data[cluster].isna().any():
            rows = np.flatnonzero(data[cluster].isna().to_numpy()) + 1
            raise DataError(f"column {cluster!r} (cluster) is missing in {describe_rows(rows)}")
        frame["_c"] = data[cluster].astype(str)
    usable = frame["_y"].notna()
    if keys:
        usable &= frame[keys].notna().all(axis=1)
    n_excluded_all = int((~usable).sum())
    frame = frame[usable]
    if frame.empty:
        raise DataError(f"column {outcome!r} has no usable values")
    groups = frame.groupby(keys, sort=True, observed=True) if keys else [((), frame)]
    all_clusters = pd.Index(frame["_c"].unique()) if cluster is not None else None
    rows = []
    for key, part in groups:
        key = key if isinstance(key, tuple) else (key,)
        n = len(part)
        events = int(part["_y"].sum())
        p = events / n
        row = dict(zip(keys, key))
        if cluster is None:
            low, high = _wilson(events, n, ci_level)
            se = float(np.sqrt(p * (1 - p) / n))
            row.update(estimate=p, se=se, ci_low=low, ci_high=high, method="wilson")
        else:
            # domain estimation: residuals of the group's pupils, summed per cluster over all clusters
            totals = ((part["_y"] - p) / n).groupby(part["_c"]).sum().reindex(all_clusters, fill_value=0.0)
            n_c = len(all_clusters)
            if n_c < 2:
                raise DataError(f"a cluster-robust interval needs at least 2 clusters in {cluster!r}; found {n_c}")
            se = float(np.sqrt(n_c / (n_c - 1) * np.sum(totals.to_numpy() ** 2)))
            df = part["_c"].nunique() - 1
            if df < 1:
                raise DataError(f"group {key!r} lies in a single cluster of {cluster!r}: no cluster-robust "
                                "interval can be estimated")
            if 0 < p < 1:
                t = stats.t.ppf(0.5 + ci_level / 2, df)
                half = t * se / (p * (1 - p))
                logit = np.log(p / (1 - p))
                low, high = (float(1 / (1 + np.exp(-(logit + s * half)))) for s in (-1, 1))
            else:
                # no variation: the logit interval is undefined; fall back to Wilson with the
                # number of clusters as a cautious effective sample size
                low, high = _wilson(int(round(p * part["_c"].nunique())), part["_c"].nunique(), ci_level)
            row.update(estimate=p, se=se, ci_low=low, ci_high=high, method="cluster logit",
                       df=float(df), n_clusters=int(part["_c"].nunique()))
        row.update(ci_level=ci_level, n=n, n_events=events)
        rows.append(row)
    out = pd.DataFrame(rows)
    out["n_excluded"] = n_excluded_all
    order = keys + ["estimate", "se", "ci_low", "ci_high", "ci_level", "n", "n_events", "n_excluded", "method"]
    if cluster is not None:
        order += ["df", "n_clusters"]
    return ProportionTable(table=out[order], keys=tuple(keys))


def missing_share_ci(data: pd.DataFrame, *, items: Sequence[str], cluster: str | None = None,
                     ci_level: float = 0.95) -> ProportionTable:
    """Share of rows with no answer for each column in ``items``, with its interval (one row per item).

    The same intervals as :func:`proportion_ci` (Wilson, or cluster-robust with ``cluster``); a
    :class:`ProportionTable` whose ``to_frame()`` has the columns
    ``item, estimate, se, ci_low, ci_high, ci_level, n, n_events, ...`` where ``n_events`` counts the
    rows with no answer.
    """
    data = as_frame(data)
    items = as_list(items)
    require_columns(data, [*items, *as_list(cluster)])
    rows = []
    for item in items:
        flags = pd.DataFrame({"_missing": data[item].isna().astype(float)}, index=data.index)
        if cluster is not None:
            flags[cluster] = data[cluster]
        rows.append(proportion_ci(flags, outcome="_missing", cluster=cluster, ci_level=ci_level)
                    .table.assign(item=item))
    out = pd.concat(rows, ignore_index=True)
    return ProportionTable(table=out[["item", *[c for c in out.columns if c != "item"]]], keys=("item",))
