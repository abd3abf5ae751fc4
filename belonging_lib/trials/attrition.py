"""Attrition (What Works Clearinghouse), baseline balance and CONSORT counts."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd

from .._errors import DataError
from .._results import Result
from .._validation import (as_frame, as_list, check_choice, describe_rows, require_columns, require_finite,
                           require_numeric, row_numbers)
from ._common import hedges_j, treatment_indicator

__all__ = [
    "WWC_OVERALL", "WWC_CAUTIOUS", "WWC_OPTIMISTIC", "wwc_boundary",
    "AttritionResult", "attrition", "BalanceResult", "balance", "ConsortCounts", "consort_counts",
]

#: Overall attrition (%) at which WWC Handbook v4.0 Table II.1 is tabulated here.
WWC_OVERALL = (0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 57)
#: Largest differential attrition (percentage points) still "low", cautious boundary.
WWC_CAUTIOUS = (5.7, 6.1, 6.3, 5.9, 5.4, 4.8, 4.1, 3.3, 2.6, 1.8, 1.0, 0.3, 0.0)
#: Same, optimistic boundary.
WWC_OPTIMISTIC = (10.0, 10.5, 10.9, 10.8, 10.2, 9.4, 8.4, 7.4, 6.3, 5.1, 3.9, 2.8, 2.3)


def wwc_boundary(overall_pct: float, *, boundary: str = "cautious") -> float:
    """Largest differential attrition (percentage points) that is still "low".

    Between tabulated overall-attrition points the **smaller** of the two
    neighbouring boundary values is used (a conservative step rule: it never
    rates as low a trial that the full WWC table would rate high, given that
    the true boundary is monotone within each 5-point bracket).  At a
    tabulated point the tabulated value is used.  Above 57% overall attrition
    the boundary is taken as 0 (every differential is high): the cautious
    table ends there and the optimistic one is only known to continue to about
    65% [verify], so we do not extrapolate.

    Examples
    --------
    >>> wwc_boundary(10)
    6.3
    >>> wwc_boundary(12.5)
    5.9
    >>> wwc_boundary(12.5, boundary="optimistic")
    10.8
    """
    check_choice("boundary", boundary, ["cautious", "optimistic"])
    values = WWC_CAUTIOUS if boundary == "cautious" else WWC_OPTIMISTIC
    x = float(overall_pct)
    if not 0 <= x <= 100:
        raise DataError(f"Overall attrition must be a percentage from 0 to 100, but {overall_pct!r} was passed.")
    if x > WWC_OVERALL[-1]:
        return 0.0
    for i, point in enumerate(WWC_OVERALL):
        if x == point:
            return values[i]
        if x < point:
            return min(values[i - 1], values[i])
    return values[-1]  # pragma: no cover


@dataclasses.dataclass(frozen=True)
class AttritionResult(Result):
    """Overall and differential attrition judged against the WWC boundaries.

    Attributes
    ----------
    table : DataFrame
        One row per arm (and "overall"): randomised, analysed, lost, attrition (proportion).
    overall, differential : float
        Proportions (lost / randomised; ``|attrition_T - attrition_C|``).
    boundary_cautious, boundary_optimistic : float
        Largest differential attrition (proportion) still low at this overall attrition.
    rating_cautious, rating_optimistic : str
        ``"low"`` or ``"high"``.
    unit : str
        What was counted ("pupils" or "schools").
    """

    table: pd.DataFrame = dataclasses.field(repr=False)
    overall: float
    differential: float
    boundary_cautious: float
    boundary_optimistic: float
    rating_cautious: str
    rating_optimistic: str
    unit: str = "pupils"
    title = "Attrition (WWC standard)"

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def notes(self) -> list[str]:
        return [
            f"Overall attrition {self.overall:.1%}, differential {self.differential:.1%} "
            f"(percentage points {100 * self.differential:.1f}).",
            f"WWC cautious boundary {100 * self.boundary_cautious:.1f} pp: {self.rating_cautious} attrition; "
            f"optimistic boundary {100 * self.boundary_optimistic:.1f} pp: {self.rating_optimistic} attrition.",
        ]


def _lost_indicator(data, attrited, outcome):
    if (attrited is None) == (outcome is None):
        raise DataError("Give exactly one of `attrited` (a 0/1 column, 1 = lost) or `outcome` "
                        "(a column that is missing for lost pupils).")
    if attrited is not None:
        require_columns(data, attrited, role="attrition column")
        require_numeric(data, attrited)
        lost = pd.to_numeric(data[attrited], errors="coerce")
        bad = lost.isna() | ~lost.isin([0, 1])
        if bad.any():
            raise DataError(f"Column {attrited!r} must be 0/1 for every pupil; "
                            f"{int(bad.sum())} values are missing or other than 0/1.")
        return lost.astype(bool)
    require_columns(data, outcome, role="outcome column")
    return data[outcome].isna()


def attrition(data: pd.DataFrame, *, treatment: str, treated=None, attrited: str | None = None,
              outcome: str | None = None, cluster: str | None = None) -> AttritionResult:
    """Overall and differential attrition per arm, judged against the WWC boundaries.

    Parameters
    ----------
    data : DataFrame
        One row per **randomised** pupil (lost pupils included).
    treatment : str
        Arm column (0/1, or two values with ``treated=``).
    attrited : str, optional
        0/1 column, 1 = not in the analysis.
    outcome : str, optional
        Alternatively, the outcome column: a missing outcome counts as lost.
    cluster : str, optional
        If given, attrition is counted in clusters (a school is lost when
        none of its pupils is analysed) instead of pupils.

    Returns
    -------
    AttritionResult

    Notes
    -----
    Overall attrition = lost / randomised; differential =
    ``|attrition_T - attrition_C|``.  The differential (in percentage points)
    is compared with the What Works Clearinghouse boundary at the observed
    overall attrition (Handbook v4.0, Table II.1), using
    :func:`wwc_boundary`'s conservative rule between tabulated points.
    "Low" means differential <= boundary.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"t": [0] * 50 + [1] * 50, "lost": [1] * 5 + [0] * 45 + [1] * 8 + [0] * 42})
    >>> res = attrition(df, treatment="t", attrited="lost")
    >>> round(res.overall, 3), round(res.differential, 3), res.rating_cautious
    (0.13, 0.06, 'high')
    """
    data = as_frame(data)
    arm = treatment_indicator(data, treatment, treated)
    if arm.isna().any():
        raise DataError(f"Column {treatment!r} is missing for {int(arm.isna().sum())} randomised pupils.")
    lost = _lost_indicator(data, attrited, outcome)
    unit = "pupils"
    if cluster is not None:
        require_columns(data, cluster, role="cluster column")
        frame = pd.DataFrame({"arm": arm, "lost": lost, "c": data[cluster]})
        per = frame.groupby("c").agg(arm=("arm", "first"), lost=("lost", "all"))
        arm, lost, unit = per["arm"], per["lost"], "schools"
    rows = []
    for label, mask in (("treated", arm == 1), ("control", arm == 0), ("overall", arm.notna())):
        n = int(mask.sum())
        k = int(lost[mask].sum())
        rows.append({"arm": label, "randomised": n, "analysed": n - k, "lost": k, "attrition": k / n})
    table = pd.DataFrame(rows)
    overall = float(table.loc[2, "attrition"])
    diff = abs(float(table.loc[0, "attrition"] - table.loc[1, "attrition"]))
    bc = wwc_boundary(100 * overall, boundary="cautious") / 100
    bo = wwc_boundary(100 * overall, boundary="optimistic") / 100
    # compare in percentage points to one-in-a-billion precision so 0.057 vs 5.7/100 is not a float artefact
    rate = lambda b: "low" if diff <= b + 1e-12 else "high"  # noqa: E731
    return AttritionResult(table=table, overall=overall, differential=diff, boundary_cautious=bc,
                           boundary_optimistic=bo, rating_cautious=rate(bc), rating_optimistic=rate(bo),
                           unit=unit)


@dataclasses.dataclass(frozen=True)
class BalanceResult(Result):
    """Baseline balance: standardised differences and the WWC judgement.

    ``table`` columns: covariate, kind ("continuous"/"binary"), mean_treated,
    mean_control, n_treated, n_control, difference (Hedges' g or Cox index),
    status ("satisfies" <= 0.05, "adjustment required" 0.05-0.25,
    "fails" > 0.25; "undefined", with a missing difference, when a binary
    covariate is 0 or 1 for a whole arm or a continuous one does not vary
    within the arms).
    """

    table: pd.DataFrame = dataclasses.field(repr=False)
    n_excluded: dict = dataclasses.field(default_factory=dict, repr=False)
    title = "Baseline balance (standardised differences)"

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def notes(self) -> list[str]:
        out = ["Hedges' g for continuous, Cox index for binary covariates; WWC: |diff| <= 0.05 "
               "satisfies, 0.05-0.25 needs statistical adjustment, > 0.25 fails."]
        missing = {k: v for k, v in self.n_excluded.items() if v}
        if missing:
            out.append("Missing values excluded per covariate: "
                       + ", ".join(f"{k} {v}" for k, v in missing.items()) + ".")
        return out


def _status(d: float) -> str:
    a = abs(d)
    if a <= 0.05:
        return "satisfies"
    if a <= 0.25:
        return "adjustment required"
    return "fails"


def balance(data: pd.DataFrame, *, treatment: str, covariates, treated=None) -> BalanceResult:
    """Baseline equivalence of the arms as standardised differences.

    Parameters
    ----------
    data : DataFrame
        The analysed sample (pupils with an outcome), one row per pupil.
    treatment : str
    covariates : list of str
        Numeric baseline measures; a covariate whose values are all 0/1 is
        treated as binary.
    treated : scalar, optional

    Returns
    -------
    BalanceResult

    Notes
    -----
    Continuous: Hedges' g = J (mean_T - mean_C) / pooled SD.  Binary: the Cox
    index ``J (logit(p_T) - logit(p_C)) / 1.65`` (WWC Handbook; the same
    small-sample factor ``J``).  Thresholds 0.05 and 0.25 (WWC).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"t": [0, 1] * 50, "x": list(range(100)), "b": [0, 0, 1, 1] * 25})
    >>> balance(df, treatment="t", covariates=["x", "b"]).table["status"].tolist()
    ['satisfies', 'satisfies']
    """
    data = as_frame(data)
    covs = as_list(covariates)
    require_columns(data, covs, role="covariate")
    require_numeric(data, covs)
    require_finite(data, covs, what="balance check")
    arm = treatment_indicator(data, treatment, treated)
    rows, excluded = [], {}
    for c in covs:
        x = pd.to_numeric(data[c], errors="coerce")
        ok = x.notna() & arm.notna()
        excluded[c] = int((~ok).sum())
        xt, xc = x[ok & (arm == 1)].to_numpy(float), x[ok & (arm == 0)].to_numpy(float)
        n1, n2 = len(xt), len(xc)
        if n1 < 2 or n2 < 2:
            raise DataError(f"Covariate {c!r} has fewer than 2 non-missing values in an arm.")
        j = hedges_j(n1 + n2 - 2)
        binary = set(np.unique(x[ok])) <= {0.0, 1.0}
        if binary:
            pt, pc = xt.mean(), xc.mean()
            if pt in (0, 1) or pc in (0, 1):
                d = math.nan
            else:
                d = j * (math.log(pt / (1 - pt)) - math.log(pc / (1 - pc))) / 1.65
        else:
            sp = math.sqrt(((n1 - 1) * xt.var(ddof=1) + (n2 - 1) * xc.var(ddof=1)) / (n1 + n2 - 2))
            d = j * (xt.mean() - xc.mean()) / sp if sp > 0 else math.nan   # constant within arms
        rows.append({"covariate": c, "kind": "binary" if binary else "continuous",
                     "mean_treated": xt.mean(), "mean_control": xc.mean(), "n_treated": n1,
                     "n_control": n2, "difference": d,
                     "status": "undefined" if math.isnan(d) else _status(d)})
    return BalanceResult(table=pd.DataFrame(rows), n_excluded=excluded)


@dataclasses.dataclass(frozen=True)
class ConsortCounts(Result):
    """Counts for a CONSORT flow diagram of a (cluster-)randomised trial.

    ``table`` has one row per arm with: schools_randomised, pupils_randomised,
    schools_delivered / pupils_in_delivering_schools (if compliance given),
    pupils_lost, schools_lost (schools with no analysed pupil),
    pupils_analysed, schools_analysed.
    """

    table: pd.DataFrame = dataclasses.field(repr=False)
    arm_labels: tuple = ("programme", "control")
    assessed: int | None = None
    excluded_before_randomisation: int | None = None
    title = "CONSORT flow counts"

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def count(self, arm: str, what: str) -> int:
        """One count, e.g. ``count("programme", "pupils_analysed")``."""
        return int(self.table.set_index("arm").loc[arm, what])


def consort_counts(data: pd.DataFrame, *, treatment: str, cluster: str, treated=None,
                   attrited: str | None = None, outcome: str | None = None,
                   complied: str | None = None, arm_labels=("programme", "control"),
                   assessed: int | None = None,
                   excluded_before_randomisation: int | None = None) -> ConsortCounts:
    """Counts for the CONSORT flow diagram: allocation, follow-up, analysis.

    Parameters
    ----------
    data : DataFrame
        One row per randomised pupil.
    treatment, cluster : str
        Arm and randomised-unit (school) columns.
    attrited / outcome : str
        As in :func:`attrition` (give one).
    complied : str, optional
        0/1 school-level delivery flag (pupil rows carry their school's value);
        counts schools that delivered the programme.
    arm_labels : tuple
        Names of the treated and control arms for the table and figure.
    assessed, excluded_before_randomisation : int, optional
        Enrolment counts (schools approached / excluded), shown if given.

    Returns
    -------
    ConsortCounts

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"s": [1, 1, 2, 2, 3, 3, 4, 4], "t": [1, 1, 1, 1, 0, 0, 0, 0],
    ...                    "lost": [0, 1, 0, 0, 0, 0, 1, 1]})
    >>> c = consort_counts(df, treatment="t", cluster="s", attrited="lost")
    >>> c.count("programme", "pupils_analysed"), c.count("control", "schools_analysed")
    (3, 1)
    """
    data = as_frame(data)
    require_columns(data, cluster, role="cluster column")
    arm = treatment_indicator(data, treatment, treated)
    # every randomised pupil belongs in the diagram: one without an arm or a school cannot be placed
    for col, missing in ((treatment, arm.isna()), (cluster, data[cluster].isna())):
        if missing.any():
            rows = row_numbers(data, missing)
            raise DataError(f"Column {col!r} is missing for {int(missing.sum())} randomised pupil"
                            f"{'s' if missing.sum() != 1 else ''} ({describe_rows(rows)}, counted from 1); "
                            "each randomised pupil needs an arm and a school in the flow diagram.")
    lost = _lost_indicator(data, attrited, outcome)
    frame = pd.DataFrame({"arm": arm, "lost": lost, "c": data[cluster]})
    if complied is not None:
        require_columns(data, complied, role="compliance column")
        frame["complied"] = pd.to_numeric(data[complied], errors="coerce")
    rows = []
    for label, value in zip(arm_labels, (1, 0)):
        f = frame[frame["arm"] == value]
        per = f.groupby("c").agg(lost_all=("lost", "all"))
        row = {"arm": label, "schools_randomised": int(f["c"].nunique()), "pupils_randomised": len(f)}
        if complied is not None:
            delivered = f.groupby("c")["complied"].max() == 1
            row["schools_delivered"] = int(delivered.sum())
            row["pupils_in_delivering_schools"] = int(f["c"].isin(delivered.index[delivered]).sum())
        row.update({"pupils_lost": int(f["lost"].sum()), "schools_lost": int(per["lost_all"].sum()),
                    "pupils_analysed": int((~f["lost"]).sum()),
                    "schools_analysed": int((~per["lost_all"]).sum())})
        rows.append(row)
    return ConsortCounts(table=pd.DataFrame(rows), arm_labels=tuple(arm_labels), assessed=assessed,
                         excluded_before_randomisation=excluded_before_randomisation)
