"""Gaps in an outcome between groups of pupils, with intervals that respect schools.

:func:`group_gaps` answers "which groups score lower, and how sure are we?":
the difference between each group and a reference group, from one model in
which pupils are clustered in schools.  Two models are offered:

- ``method="multilevel"`` (default): a linear mixed model with a random
  intercept per cluster, fitted by REML, with Satterthwaite degrees of
  freedom (lme4 + lmerTest; :func:`belonging_lib.models.multilevel`);
- ``method="cr2"``: ordinary least squares with CR2 cluster-robust standard
  errors and Satterthwaite degrees of freedom (clubSandwich's
  ``coef_test(vcov = "CR2")``; :func:`belonging_lib.models.ols`).

A gap describes where the outcome is lower; it does not say why.  With
``covariates`` the gaps are adjusted for them (groups overlap: SEND and FSM,
for example), which changes the question being answered, not the data.

Checked against R (``tests/reference/group_gaps.R``).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .._deprecation import renamed_keywords
from .._errors import DataError, ModelError
from .._results import Result
from .._validation import as_frame, as_list, check_probability, describe_rows, require_columns
from .multilevel import multilevel
from .regression import ols

__all__ = ["FairnessResult", "GroupGapsResult", "group_gaps", "scale_fairness"]

METHODS = ("multilevel", "cr2")
COLUMNS = ["term", "estimate", "se", "ci_low", "ci_high", "statistic", "df", "p", "n", "group", "reference",
           "ci_level", "n_reference", "n_excluded"]


@dataclasses.dataclass(frozen=True)
class GroupGapsResult(Result):
    """Gaps between groups and a reference group.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per non-reference group, columns as :data:`COLUMNS`:
        ``estimate`` is the group's mean minus the reference group's (adjusted
        for ``covariates`` if given), ``n`` the group's pupils in the model and
        ``n_reference`` the reference group's.
    group_sizes : pandas.Series
        Pupils in the model per group (reference included), in model order.
    reference : str
    outcome, by, cluster, method : str
    covariates : tuple of str
    n, n_excluded, n_clusters : int
        Pupils used; rows left out for a missing outcome, group, cluster or
        covariate; clusters in the model.
    ci_level : float
    model : MultilevelResult or RegressionResult
        The fitted model behind the gaps.
    pairwise : pandas.DataFrame or None
        With ``pairwise=True``: one row per pair of groups, columns as :data:`COLUMNS` plus
        ``p_holm``: ``estimate`` is ``group`` minus ``reference`` (the pair's second group), from the
        same model, its interval and p-value on the contrast's own Satterthwaite df; ``p_holm`` is the
        p-value adjusted by Holm's method over all the pairs.  ``None`` otherwise.
    """

    table: pd.DataFrame
    group_sizes: pd.Series
    reference: str
    outcome: str
    by: str
    cluster: str
    method: str
    covariates: tuple
    n: int
    n_excluded: int
    n_clusters: int
    ci_level: float
    model: object = dataclasses.field(repr=False, compare=False)
    pairwise: pd.DataFrame | None = None

    title = "Group gaps"

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: one row per group compared with the reference."""
        return self.table.copy()

    def notes(self) -> list[str]:
        how = ("multilevel model, random intercept per " + self.cluster + ", REML, Satterthwaite df"
               if self.method == "multilevel" else
               "OLS, CR2 cluster-robust standard errors by " + self.cluster + ", Satterthwaite df")
        adj = f"; adjusted for {', '.join(self.covariates)}" if self.covariates else ""
        lines = [f"{self.outcome}: each group minus '{self.reference}' ({self.by}); {how}{adj}.",
                 f"N = {self.n} in {self.n_clusters} clusters; {self.n_excluded} rows excluded for missing values."]
        if self.pairwise is not None:
            lines.append(self.multiplicity_note())
        return lines

    @property
    def n_pairs(self) -> int:
        """Number of pairs of groups (k groups give k(k-1)/2)."""
        k = len(self.group_sizes)
        return k * (k - 1) // 2

    @property
    def chance_hits(self) -> float:
        """Intervals of the pairwise differences expected to exclude zero by chance alone if no two
        groups differed: the number of pairs times (1 - ``ci_level``)."""
        return self.n_pairs * (1.0 - self.ci_level)

    def multiplicity_note(self) -> str:
        """One sentence on multiplicity: how many pairs, how many intervals would exclude zero by chance."""
        pct = f"{100 * self.ci_level:g}%"
        if self.pairwise is None:
            return (f"{self.n_pairs} pairs of groups; ask for pairwise=True for each pair's difference and "
                    f"{pct} interval.")
        hits = int(((self.pairwise["ci_low"] > 0) | (self.pairwise["ci_high"] < 0)).sum())
        return (f"{self.n_pairs} pairs of groups: if no two groups differed, about {self.chance_hits:.2g} of the "
                f"{self.n_pairs} {pct} intervals would exclude zero by chance alone; {hits} do here "
                f"({int((self.pairwise['p_holm'] < 1 - self.ci_level).sum())} after Holm's adjustment).")


def _label(value) -> str:
    """Text label of a group value: 1.0 (a 0/1 column read with blanks) shows as '1'."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _levels(values: pd.Series) -> list:
    if isinstance(values.dtype, pd.CategoricalDtype):
        present = set(values.dropna().unique())
        return [c for c in values.cat.categories if c in present]
    return sorted(values.dropna().unique(), key=lambda v: (str(type(v)), v))


def group_gaps(data: pd.DataFrame, *, outcome: str, by: str, cluster: str, reference=None,
               covariates: str | Sequence[str] | None = None, method: str = "multilevel",
               ci_level: float = 0.95, pairwise: bool = False) -> GroupGapsResult:
    """Compare an outcome across groups, each group against a reference group.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per pupil.
    outcome : str
        Numeric outcome column (for example a belonging score).
    by : str
        Column holding the groups (text, numbers or a categorical).  Rows with
        no group are excluded and counted.
    cluster : str
        Cluster column (school).  Every model respects it.
    reference : optional
        The group the others are compared with.  Default: the first category
        of a categorical ``by``, otherwise the largest group.
    covariates : str or list of str, optional
        Columns to adjust for (text columns are treated as categories).
    method : {"multilevel", "cr2"}
        Random-intercept mixed model (lmerTest) or OLS with CR2 cluster-robust
        errors (clubSandwich).
    ci_level : float
        Confidence level (t on the Satterthwaite degrees of freedom).
    pairwise : bool
        Also compare every pair of groups (``result.pairwise``): each difference from the same
        model, with its interval on the contrast's Satterthwaite df and a Holm-adjusted p-value.
        Two groups whose intervals overlap may still differ; the interval of their difference
        says whether they do.  With k groups there are k(k-1)/2 pairs, and about 5% of 95%
        intervals exclude zero by chance alone (the result's ``multiplicity_note()``).

    Returns
    -------
    GroupGapsResult

    Raises
    ------
    ColumnError
        A named column is absent.
    DataError
        The outcome is not numeric, fewer than two groups remain, or
        ``reference`` is not one of the groups.
    ModelError
        The model cannot be estimated (for example a group that sits entirely
        in one school together with a school covariate, or fewer than two
        clusters).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> d = pd.DataFrame({"school": np.repeat([f"S{i}" for i in range(20)], 30),
    ...                   "group": rng.choice(["a", "b", "c"], 600)})
    >>> d["y"] = (d["group"] == "b") * -0.5 + rng.normal(size=600)
    >>> res = group_gaps(d, outcome="y", by="group", cluster="school", reference="a")
    >>> res.to_frame()["group"].tolist()
    ['b', 'c']
    """
    data = as_frame(data)
    covariates = as_list(covariates)
    require_columns(data, outcome, role="outcome column")
    require_columns(data, by, role="grouping column (`by`)")
    require_columns(data, cluster, role="cluster column")
    require_columns(data, covariates, role="covariate column")
    if method not in METHODS:
        raise DataError(f"group_gaps: method must be one of {METHODS}, not {method!r}.")
    if by in covariates or outcome in covariates or by == outcome:
        raise DataError(f"group_gaps: `by` ({by!r}), `outcome` ({outcome!r}) and `covariates` must be "
                        "different columns.")
    level = check_probability("ci_level", ci_level)

    y = data[outcome]
    if not (pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y)):
        bad = pd.to_numeric(y, errors="coerce").isna() & y.notna()
        raise DataError(f"group_gaps: the outcome {outcome!r} must be numeric; "
                        f"{describe_rows(np.flatnonzero(bad.to_numpy()) + 1)} hold text "
                        f"(first: {y[bad].iloc[0]!r}).")

    used = data[[outcome, by, cluster, *covariates]]
    complete = used.notna().all(axis=1)
    frame = data.loc[complete]
    n_excluded = int((~complete).sum())
    if frame.empty:
        raise DataError(f"group_gaps: no row has all of {outcome!r}, {by!r}, {cluster!r}"
                        + (f" and {covariates}" if covariates else "") + ".")

    groups = frame[by]
    levels = _levels(groups)
    if len(levels) < 2:
        raise DataError(f"group_gaps: {by!r} has {len(levels)} group(s) among the {len(frame)} complete rows "
                        f"({levels!r}); at least two are needed to compare.")
    sizes = groups.value_counts(sort=False).reindex(levels).astype(int)
    if reference is None:
        reference = levels[0] if isinstance(groups.dtype, pd.CategoricalDtype) else sizes.idxmax()
    elif reference not in levels:
        match = [v for v in levels if _label(v) == str(reference) or str(v) == str(reference)]
        if not match:
            raise DataError(f"group_gaps: reference {reference!r} is not a group of {by!r} among the complete "
                            f"rows; the groups are {[_label(v) for v in levels]}.")
        reference = match[0]

    n_clusters = int(frame[cluster].astype(str).nunique())
    if n_clusters < 2:
        raise ModelError(f"group_gaps: the complete rows sit in {n_clusters} cluster of {cluster!r}; "
                         "intervals that respect clustering need at least two.")

    def gaps_against(ref):
        """Fit the model with ``ref`` as the reference group; one row per other group."""
        work = pd.DataFrame({"_y": pd.to_numeric(frame[outcome]).astype(float),
                             "_cluster": frame[cluster].astype(str)}, index=frame.index)
        names = {}
        for k, value in enumerate([v for v in levels if v != ref], start=1):
            work[f"_g{k}"] = (groups == value).astype(float).to_numpy()
            names[f"_g{k}"] = value
        terms = list(names)
        for k, cov in enumerate(covariates):
            col = frame[cov]
            work[f"_c{k}"] = col if (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)) \
                else col.astype(str)
            terms.append(f"_c{k}" if pd.api.types.is_numeric_dtype(work[f"_c{k}"]) else f"C(_c{k})")
        formula = "_y ~ " + " + ".join(terms)
        if method == "multilevel":
            fit = multilevel(work, formula, cluster="_cluster", ci_level=level)
        else:
            fit = ols(work, formula, cluster="_cluster", vcov="CR2", ci_level=level)
        fixed = fit.fixed
        rows = []
        for term, value in names.items():
            r = fixed.loc[term]
            rows.append({"term": f"{by}[{_label(value)}]", "group": _label(value), "reference": _label(ref),
                         "estimate": float(r["estimate"]), "se": float(r["se"]),
                         "ci_low": float(r["ci_low"]), "ci_high": float(r["ci_high"]), "ci_level": level,
                         "p": float(r["p"]), "df": float(r["df"]), "n": int(sizes[value]),
                         "n_reference": int(sizes[ref]), "n_excluded": n_excluded})
        table = pd.DataFrame(rows, columns=COLUMNS)
        table["statistic"] = table["estimate"] / table["se"]
        if not np.isfinite(table[["estimate", "se"]].to_numpy()).all():
            raise ModelError(f"group_gaps: the model of {outcome!r} gave no finite gap for some group of {by!r}.")
        return table, fit, len(work)

    table, fit, n_used = gaps_against(reference)
    pair_table = None
    if pairwise:
        # Each pair's difference is a contrast of two coefficients of the one model.  Refitting with each
        # group in turn as the reference is the same model with its fixed effects re-expressed (the same
        # likelihood, variance components and residuals), so each coefficient is the contrast itself,
        # with its standard error sqrt(L V L') and its own Satterthwaite df (lmerTest's contest; CR2:
        # clubSandwich's Wald test of the contrast), as tests/reference/group_pairwise.R checks.
        parts = []
        for i, ref in enumerate(levels[:-1]):
            t = table if ref == reference else gaps_against(ref)[0]
            later = {_label(v) for v in levels[i + 1:]}
            parts.append(t[t["group"].isin(later)])
        pair_table = pd.concat(parts, ignore_index=True)
        pair_table["term"] = pair_table["group"] + " - " + pair_table["reference"]
        pair_table["p_holm"] = _holm(pair_table["p"].to_numpy())
    group_sizes = pd.Series({_label(v): int(sizes[v]) for v in levels}, name="n")
    group_sizes.index.name = by
    return GroupGapsResult(table, group_sizes, _label(reference), outcome, by, cluster, method, tuple(covariates),
                           int(n_used), n_excluded, n_clusters, level, fit, pair_table)


def _holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment of a set of p-values (as R's ``p.adjust(method = "holm")``)."""
    p = np.asarray(p, dtype=float)
    m = len(p)
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adjusted
    return out


@dataclasses.dataclass(frozen=True)
class FairnessResult(Result):
    """Whether a scale can be compared across the groups of one column (measurement invariance).

    Attributes
    ----------
    verdict : str
        ``"scalar"`` (every step passes), ``"partial scalar"`` (passes once the
        intercepts in ``freed`` are freed), ``"not established"``, or ``"not
        checked"`` (fewer than two groups large enough).
    freed : tuple of str
        Intercepts freed for partial invariance (lavaan syntax, ``"item ~ 1"``).
    groups_checked, too_small : tuple of str
        Groups in the check; groups left out because fewer than ``min_n``
        pupils answered every item.
    table : pandas.DataFrame
        The :func:`~belonging_lib.structure.invariance` table of the final model.
    group : str
        The column whose groups are compared (the multi-group column, ``group`` as in
        :func:`~belonging_lib.structure.invariance`).
    min_n : int
    """

    group: str
    verdict: str
    freed: tuple
    groups_checked: tuple
    too_small: tuple
    table: pd.DataFrame
    min_n: int

    title = "Scale fairness across groups"

    @property
    def by(self) -> str:
        """The old name of :attr:`group` (read with a warning until the next release)."""
        warnings.warn("FairnessResult.by is now FairnessResult.group; the old name will stop working in the "
                      "next release.", DeprecationWarning, stacklevel=2)
        return self.group

    def _summary_row(self) -> dict:
        """One row for a table of several comparisons."""
        t = self.table
        return {"groups checked": ", ".join(self.groups_checked),
                "too small to check": ", ".join(self.too_small) or "none",
                "metric delta CFI": float(t.loc["metric", "delta_cfi"]),
                "scalar delta CFI": float(t.loc["scalar", "delta_cfi"]),
                "scalar chi-square p": float(t.loc["scalar", "p_diff"]),
                "items freed": ", ".join(f.split(" ~")[0] for f in self.freed) or "none",
                "verdict": self.verdict}

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([self._summary_row()], index=pd.Index([self.group], name="group"))


@renamed_keywords(by="group")
def scale_fairness(data: pd.DataFrame, *, model: str, group: str, min_n: int = 100, alpha: float = 0.05,
                   max_delta_cfi: float = 0.01, max_delta_rmsea: float = 0.015) -> FairnessResult:
    """Check that a scale measures the same thing in every group before comparing group means.

    Fits configural, metric and scalar multi-group factor models
    (:func:`belonging_lib.structure.invariance`) on the groups of ``group`` with
    at least ``min_n`` complete answers.  A step passes when it meets the
    CFI/RMSEA rules of thumb *and* its chi-square difference has p >= ``alpha``
    (the rules of thumb alone miss a single biased item).  If the scalar step
    fails, the intercept with the largest Holm-significant release test
    (:func:`belonging_lib.structure.release_tests`) is freed and the models are
    refitted, one item at a time, at most until a third of the items are freed.

    When fewer than two groups have ``min_n`` complete answers there is
    nothing to compare: the verdict is ``"not checked"``, the groups are
    listed in ``too_small`` and the table's statistics are missing.

    ``group`` is the multi-group column, named as in :func:`~belonging_lib.structure.invariance`
    (it was ``by`` before 0.3; ``by=`` still works, with a ``DeprecationWarning``, until the next
    release).  ``alpha`` is the significance level of the chi-square difference and release tests,
    not a confidence level.
    """
    from ..structure import invariance, release_tests

    data = as_frame(data)
    require_columns(data, group, role="grouping column (`group`)")
    items = sorted({tok.strip() for line in model.splitlines() if "=~" in line
                    for tok in line.split("=~")[1].split("+")})
    require_columns(data, items, role="item column")
    complete = data[items].notna().all(axis=1) & data[group].notna()
    counts = data.loc[complete, group].value_counts()
    keep = [g for g in _levels(data.loc[complete, group]) if counts.get(g, 0) >= min_n]
    small = [g for g in _levels(data[group]) if g not in keep]
    if len(keep) < 2:
        # Nothing to compare: say so in the result (verdict "not checked", every group too small) rather
        # than stop a report or a chapter that checks several groupings in turn.
        empty = pd.DataFrame(np.nan, index=pd.Index(["configural", "metric", "scalar"], name="level"),
                             columns=["delta_cfi", "delta_rmsea", "p_diff"])
        empty["verdict"] = f"not checked: fewer than two groups with {min_n} complete answers"
        return FairnessResult(group, "not checked", (), (), tuple(_label(g) for g in small), empty, int(min_n))
    sub = data.loc[data[group].isin(keep)].copy()
    sub[group] = pd.Categorical(sub[group], keep)

    def passes(table, step):
        return (str(table.loc[step, "verdict"]).startswith("supported")
                and float(table.loc[step, "p_diff"]) >= alpha)

    kw = dict(max_delta_cfi=max_delta_cfi, max_delta_rmsea=max_delta_rmsea)
    table = invariance(sub, model, group=group, **kw).table
    freed: list[str] = []
    if not passes(table, "metric"):
        verdict = "not established"
    elif passes(table, "scalar"):
        verdict = "scalar"
    else:
        verdict = "not established"
        while len(freed) < max(1, len(items) // 3):
            tests = release_tests(sub, model, group=group, step="scalar", partial=freed or None).to_frame()
            tests = tests[~tests["term"].isin(freed)]
            if tests.empty or float(tests.iloc[0]["p_holm"]) >= alpha:
                break
            freed.append(str(tests.iloc[0]["term"]))
            table = invariance(sub, model, group=group, partial=freed, **kw).table
            if passes(table, "scalar"):
                verdict = "partial scalar"
                break
    return FairnessResult(group, verdict, tuple(freed), tuple(_label(g) for g in keep), tuple(_label(g) for g in small),
                          table, int(min_n))
