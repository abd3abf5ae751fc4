"""Confidence intervals for the trial quantities that are usually shown bare.

A trial report prints attrition rates, the differential attrition, baseline
standardised differences and the subgroup difference.  Pupils are clustered in
the schools that were randomised, so each interval here respects clustering:

- :func:`attrition_intervals`: attrition in each arm, overall, and the
  differential (treated minus control), from a linear probability model with a
  cluster-robust (CR1S) variance and a t reference with ``G - 1`` df, where G is
  the number of schools.  R: ``lm`` + ``clubSandwich::coef_test(vcov = "CR1S",
  test = "naive-t")``.
- :func:`balance_intervals`: the WWC standardised differences of
  :func:`belonging_lib.trials.balance` with cluster-robust intervals.  For a
  continuous covariate the raw mean difference and its CR1S standard error are
  scaled by the same ``J / pooled SD`` as the point estimate; for a binary one
  the log odds ratio of a logistic regression with a CR1S variance is scaled by
  ``J / 1.65`` (the Cox index).  The pooled SD and J are treated as fixed.
- :func:`subgroup_difference`: the difference in effect size between two
  subgroups of a cluster-randomised trial (the ``treatment:subgroup``
  coefficient of the multilevel model, Satterthwaite df) with its interval.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
from .._errors import DataError
from .._results import Estimate, EstimateTable, coef_table, tidy
from .._validation import as_frame, as_list, require_columns
from ._common import treatment_indicator

__all__ = ["AttritionIntervals", "BalanceIntervals", "SubgroupDifference", "attrition_intervals", "balance_intervals",
           "subgroup_difference"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class AttritionIntervals(EstimateTable):
    """Attrition in each arm, overall and the differential, with cluster-robust intervals.

    What :func:`attrition_intervals` returns; ``to_frame()`` has one row per ``term`` (``treated``,
    ``control``, ``overall``, ``differential``) and the columns ``term, estimate, se, ci_low,
    ci_high, statistic, df, p, n, ci_level, n_clusters`` (proportions).
    """

    title = "Attrition with cluster-robust intervals"


@dataclasses.dataclass(frozen=True, kw_only=True)
class BalanceIntervals(EstimateTable):
    """WWC standardised baseline differences with cluster-robust intervals, one row per covariate.

    What :func:`balance_intervals` returns; ``to_frame()`` has ``term`` (the covariate), ``estimate,
    se, ci_low, ci_high, statistic, df, p, n``, then ``kind, ci_level, n_treated, n_control,
    n_clusters, n_excluded``.
    """

    title = "Baseline differences with cluster-robust intervals"


def _check_level(ci_level: float) -> float:
    if not 0 < ci_level < 1:
        raise DataError(f"`ci_level` must be between 0 and 1 (for example 0.95), but {ci_level!r} was passed.")
    return float(ci_level)


def _cluster_frame(data, treatment, treated, cluster, columns):
    data = as_frame(data)
    require_columns(data, [treatment, cluster] + list(columns))
    frame = pd.DataFrame({"arm": treatment_indicator(data, treatment, treated),
                          "cluster": data[cluster].astype(str)})
    for c in columns:
        frame[c] = pd.to_numeric(data[c], errors="coerce")
    return frame


def _crs_fit(y, X, groups, family=None):
    """OLS or logistic fit with the CR1S cluster-robust variance and G - 1 df."""
    import statsmodels.api as sm

    codes = pd.factorize(groups)[0]
    n_groups = int(codes.max()) + 1
    if n_groups < 2:
        raise DataError("Cluster-robust intervals need at least 2 clusters; the data hold 1.")
    if family is None:
        model = sm.OLS(y, X)
    else:
        model = sm.GLM(y, X, family=family)
    extra = {} if family is None else {"tol": 1e-12, "maxiter": 200}   # IRLS to full precision
    fit = model.fit(cov_type="cluster", cov_kwds={"groups": codes, "use_correction": True, "df_correction": True},
                    **extra)
    return fit, n_groups


def _row(label, estimate, se, df, ci_level, n, n_clusters, scale=1.0):
    """One tidy row (t interval on ``df``), rescaled by ``scale`` (a negative scale swaps the limits)."""
    row = coef_table([label], [scale * estimate], [abs(scale) * se], df, ci_level=ci_level).reset_index()
    out = row.iloc[0].to_dict()
    if not se > 0:
        out.update(statistic=math.nan, p=math.nan)
    out.update(df=float(df), n=int(n), ci_level=ci_level, n_clusters=int(n_clusters))
    return out


def attrition_intervals(data: pd.DataFrame, *, treatment: str, attrited: str, cluster: str,
                        treated=None, ci_level: float = 0.95) -> AttritionIntervals:
    """Attrition by arm, overall and the differential, with cluster-robust intervals.

    Parameters
    ----------
    data : DataFrame
        One row per randomised pupil.
    treatment : str
        The arm column; ``treated`` is its value for the programme arm (None: 0/1 coded).
    attrited : str
        0/1 column, 1 = lost to follow-up.
    cluster : str
        The unit of randomisation (school).

    Returns
    -------
    AttritionIntervals, whose ``to_frame()`` has rows (``term``) ``treated``, ``control``,
    ``overall`` and ``differential`` (treated minus control), and columns ``term, estimate, se, ci_low, ci_high, statistic, df,
    p, n, ci_level, n_clusters`` (proportions, not percentages).  ``p`` tests a value of zero.
    """
    ci_level = _check_level(ci_level)
    frame = _cluster_frame(data, treatment, treated, cluster, [attrited])
    bad = frame[attrited].notna() & ~frame[attrited].isin([0, 1])
    if bad.any():
        rows = (np.flatnonzero(bad.to_numpy()) + 1)[:5].tolist()
        raise DataError(f"Column {attrited!r} must be 0/1; rows {rows} (counted from 1) hold "
                        f"{frame.loc[bad, attrited].iloc[0]!r}.")
    frame = frame.dropna()
    out = []
    for label, part in (("treated", frame[frame["arm"] == 1]), ("control", frame[frame["arm"] == 0]),
                        ("overall", frame)):
        y = part[attrited].to_numpy(float)
        fit, g = _crs_fit(y, np.ones((len(y), 1)), part["cluster"])
        out.append(_row(label, float(fit.params[0]), float(fit.bse[0]), g - 1, ci_level, len(y), g))
    X = np.column_stack([np.ones(len(frame)), frame["arm"].to_numpy(float)])
    fit, g = _crs_fit(frame[attrited].to_numpy(float), X, frame["cluster"])
    out.append(_row("differential", float(fit.params[1]), float(fit.bse[1]), g - 1, ci_level, len(frame), g))
    return AttritionIntervals(table=tidy(pd.DataFrame(out)))


def balance_intervals(data: pd.DataFrame, *, treatment: str, covariates, cluster: str,
                      treated=None, ci_level: float = 0.95) -> BalanceIntervals:
    """WWC standardised baseline differences with cluster-robust intervals.

    The point estimates equal :func:`belonging_lib.trials.balance`'s
    ``difference``.  Returns a :class:`BalanceIntervals`, one row per covariate, whose ``to_frame()``
    has ``term`` (the covariate),
    ``estimate, se, ci_low, ci_high, statistic, df, p, n, kind, ci_level, n_treated,
    n_control, n_clusters, n_excluded``.
    """
    import statsmodels.api as sm

    from .effect_sizes import hedges_j

    ci_level = _check_level(ci_level)
    covs = as_list(covariates)
    frame = _cluster_frame(data, treatment, treated, cluster, covs)
    rows = []
    for c in covs:
        ok = frame[c].notna() & frame["arm"].notna()
        part = frame[ok]
        x, arm = part[c].to_numpy(float), part["arm"].to_numpy(float)
        n1, n2 = int((arm == 1).sum()), int((arm == 0).sum())
        if n1 < 2 or n2 < 2:
            raise DataError(f"Covariate {c!r} has fewer than 2 non-missing values in an arm.")
        j = hedges_j(n1 + n2 - 2)
        X = np.column_stack([np.ones(len(x)), arm])
        binary = set(np.unique(x)) <= {0.0, 1.0}
        if binary:
            pt, pc = x[arm == 1].mean(), x[arm == 0].mean()
            if pt in (0, 1) or pc in (0, 1):
                raise DataError(f"Covariate {c!r} is all 0 or all 1 in an arm, so its Cox index is undefined.")
            fit, g = _crs_fit(x, X, part["cluster"], family=sm.families.Binomial())
            scale = j / 1.65
        else:
            xt, xc = x[arm == 1], x[arm == 0]
            sp = math.sqrt(((n1 - 1) * xt.var(ddof=1) + (n2 - 1) * xc.var(ddof=1)) / (n1 + n2 - 2))
            if sp == 0:
                raise DataError(f"Covariate {c!r} is constant within both arms, so no standardised difference exists.")
            fit, g = _crs_fit(x, X, part["cluster"])
            scale = j / sp
        r = _row(c, float(fit.params[1]), float(fit.bse[1]), g - 1, ci_level, len(x), g, scale=scale)
        rows.append({**r, "kind": "binary" if binary else "continuous",
                     "n_treated": n1, "n_control": n2, "n_excluded": int((~ok).sum())})
    return BalanceIntervals(table=tidy(pd.DataFrame(rows)))


@dataclasses.dataclass(frozen=True, eq=False)
class SubgroupDifference(Estimate):
    """The difference in effect size between two subgroups (:func:`subgroup_difference`).

    Attributes
    ----------
    estimate, se, ci_low, ci_high, ci_level, p, df : float
        The ``treatment:subgroup`` coefficient over the whole-sample SD, with
        its Satterthwaite-t interval and p-value.
    n : int
        Pupils in the model.
    subgroup : str
        The subgroup column.
    """

    subgroup: str

    title = "Difference in effect size between subgroups"
    term = "difference"


def subgroup_difference(data: pd.DataFrame, formula: str, *, cluster: str, treatment: str, subgroup: str,
                        denominator: str = "eef", ci_level: float = 0.95) -> SubgroupDifference:
    """Difference in effect size between two subgroups of a cluster-randomised trial, with its interval.

    Fits the multilevel model of :func:`belonging_lib.trials.crt_subgroups`
    (``formula`` plus ``subgroup`` and ``treatment:subgroup``) and returns the
    interaction coefficient divided by the whole-sample denominator SD, with a
    Satterthwaite-t interval: a :class:`SubgroupDifference` with ``estimate, se,
    ci_low, ci_high, ci_level, p, df, n``.  Its estimate equals ``crt_subgroups(...).interaction_estimate``.
    """
    from .crt import _interaction, crt_effect

    ci_level = _check_level(ci_level)
    whole = crt_effect(data, formula, cluster=cluster, treatment=treatment, denominator=denominator,
                       ci_level=ci_level, progress=False)
    require_columns(as_frame(data), subgroup, role="subgroup column")
    r, frame = _interaction(data, formula, cluster=cluster, treatment=treatment, subgroup=subgroup)
    b, se, df = float(r["estimate"]), float(r["se"]), float(r["df"])
    row = coef_table(["difference"], [b / whole.sd], [se / whole.sd], df, ci_level=ci_level).iloc[0]
    return SubgroupDifference(estimate=float(row["estimate"]), se=float(row["se"]), ci_low=float(row["ci_low"]),
                              ci_high=float(row["ci_high"]), ci_level=ci_level, p=float(r["p"]), df=df,
                              n=int(len(frame)), subgroup=subgroup)
