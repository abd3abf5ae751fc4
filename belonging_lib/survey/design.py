"""A survey design with final weights, replicate weights and plausible values.

International surveys such as PISA give every pupil a final weight, a set of
replicate weights (80 Fay-BRR weights in PISA) and, for achievement, several
*plausible values* (10 in PISA since 2015).  A correct standard error combines
the sampling variance, estimated from the replicate weights, with the
imputation variance between plausible values (Rubin's rules, from
``belonging_lib._pooling``, the one pooling the library has).

:class:`~belonging_lib.survey.SurveyDesign` holds the weights and the
plausible-value groups and computes means, percentages, percentiles,
correlations, group differences and linear regressions, each with that
combined standard error, by group in one call.  They return a
:class:`~belonging_lib.survey.SurveyEstimate` (a
:class:`~belonging_lib.survey.ComparisonResult` for a difference between two
groups): the table, and what was done with which rows.  Every computation is vectorised: one matrix product gives the
statistic for the full weight, all replicate weights and all plausible values
at once (no loop of 810 model fits).  The design knows no survey's column
names: PISA's are in ``belonging_lib.survey.pisa``.

Validated against R ``survey::svrepdesign`` (type ``"Fay"``, ``rho = 0.5``,
``mse = TRUE``) with ``mitools::MIcombine`` (``tests/reference/survey.R``).
"""

from __future__ import annotations

import ast
import dataclasses
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .._errors import ColumnError, DataError, ModelError
from .._pooling import rubin
from .._results import Result, RowLedger, coef_table, tidy
from .._validation import (as_frame, as_list, check_choice, check_probability, describe_rows, require_columns,
                           require_numeric)

__all__ = ["SurveyDesign", "SurveyEstimate", "ComparisonResult", "REPLICATE_METHODS"]

#: Replicate methods and the variance scale factor each uses (R = number of replicates).
REPLICATE_METHODS = {
    "fay": "1 / (R (1 - rho)^2)",
    "brr": "1 / R",
    "jk1": "(R - 1) / R",
    "jk2": "1",
    "bootstrap": "1 / (R - 1)",
}

_PV_PATTERN = re.compile(r"^PV(\d+)([A-Za-z_][A-Za-z0-9_]*)$")


def _survey_notes(result) -> list[str]:
    lines = [f"{result.method}; {100 * result.ci_level:g}% intervals.",
             f"{result.n} pupils used, {result.n_excluded} left out for a missing value."]
    if "suppressed" in result.table and result.table["suppressed"].any():
        lines.append(f"{int(result.table['suppressed'].sum())} row(s) withheld by the disclosure policy.")
    return lines


@dataclasses.dataclass(frozen=True)
class SurveyEstimate(Result):
    """A survey statistic for the whole sample or by group (:class:`SurveyDesign`'s methods).

    Attributes
    ----------
    table : pandas.DataFrame
        One row per group (and category, percentile or term): the ``by`` columns, labels,
        ``estimate``, ``se``, ``ci_low``, ``ci_high``, ``df``, the Rubin variances
        ``var_within`` (mean replicate sampling variance over the plausible values) and
        ``var_between`` (variance between plausible values), ``n`` (pupils used),
        ``n_excluded`` (pupils of the group left out for a missing value) and ``suppressed``
        (numbers withheld by the disclosure policy).  Correlations and regressions add the
        ``statistic`` and ``p`` of a test of zero (none for R-squared).  ``to_frame()`` puts the
        tidy columns first.
    kind : str
        ``"mean"``, ``"percent"``, ``"percentile"``, ``"corr"`` or ``"regress"``.
    outcome : str
        The variable described (a column or a plausible-value group; a regression's outcome).
    predictor : str or None
        The second variable of a correlation.
    formula : str or None
        A regression's formula.
    by : tuple of str
        The breakdown columns.
    weight : str
        The final weight.
    method : str
        How the standard errors were found (replicates, plausible values, Rubin's rules).
    ci_level : float
        Confidence level of the intervals.
    n, n_excluded : int
        Pupils used, and pupils left out for a missing value of an analysis variable or of a
        ``by`` column (``ledger`` gives the reasons).
    ledger : RowLedger
        The pupils in each step, from the design's rows to those used.
    """

    table: pd.DataFrame
    kind: str
    outcome: str
    by: tuple
    weight: str
    method: str
    ci_level: float
    n: int
    n_excluded: int
    ledger: RowLedger
    predictor: str | None = None
    formula: str | None = None

    title = "Survey estimate"

    display_digits = 2

    def to_frame(self) -> pd.DataFrame:
        """The table, the tidy columns first (``estimate, se, ci_low, ci_high[, statistic], df[, p], n``)."""
        return tidy(self.table.copy())

    def notes(self) -> list[str]:
        return _survey_notes(self)


@dataclasses.dataclass(frozen=True)
class ComparisonResult(Result):
    """A difference between two groups of a survey (:meth:`SurveyDesign.diff`).

    Attributes
    ----------
    table : pandas.DataFrame
        One row (per ``within`` group): ``level_1``, ``level_2`` (the groups compared,
        ``estimate = level_1 - level_2``), ``estimate``, ``se``, ``ci_low``, ``ci_high``,
        ``statistic``, ``df``, ``p``, ``var_within``, ``var_between``, ``n`` (pupils used),
        ``n_1`` and ``n_2`` (of them, in each group), ``n_excluded`` and ``suppressed``.
    kind : str
        ``"mean"`` (a difference of means) or ``"percent"`` (of percentages, in points).
    outcome : str
        The variable compared.
    by : tuple of str
        The column whose two groups are compared.
    within : tuple of str
        Columns within whose groups the difference is computed separately.
    Other fields as :class:`SurveyEstimate`.
    """

    table: pd.DataFrame
    kind: str
    outcome: str
    by: tuple
    weight: str
    method: str
    ci_level: float
    n: int
    n_excluded: int
    ledger: RowLedger
    within: tuple = ()

    title = "Survey comparison of two groups"

    display_digits = 2

    def to_frame(self) -> pd.DataFrame:
        """The table, the tidy columns first (``estimate, se, ci_low, ci_high[, statistic], df[, p], n``)."""
        return tidy(self.table.copy())

    def notes(self) -> list[str]:
        return _survey_notes(self)


class SurveyDesign:
    """A survey design with a final weight, replicate weights and plausible values.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per pupil.
    weight : str
        Column of final (full-sample) weights.
    replicates : str or list of str
        Replicate weight columns: a list, or a prefix (every column named
        prefix + number, in numeric order: ``RW1`` ... ``RW80``).  For PISA's
        names and conventions use :func:`belonging_lib.survey.pisa_design`.
        The replicate weights are *full* weights (R's ``combined.weights = TRUE``).
    method : {"fay", "brr", "jk1", "jk2", "bootstrap"}, default "fay"
        How the replicates were made; sets the variance scale (Notes).
    rho : float, default 0.5
        Fay's factor k (PISA: 0.5); used only by ``method="fay"``.
    pv : dict, "auto" or None
        Plausible-value groups, name -> list of columns, for example
        ``{"MATH": ["PV1MATH", ..., "PV10MATH"]}``; ``"auto"`` finds every
        group of columns named ``PV<number><NAME>``.
    scale, rscales : optional
        Override the variance scale factor and per-replicate multipliers.
    mse : bool, default True
        Replicate deviations are taken from the full-sample estimate (PISA's
        rule, R's ``mse = TRUE``); ``False`` uses the mean of the replicates.
    ci_level : float, default 0.95
        Default confidence level of the methods.

    Notes
    -----
    For a statistic :math:`\\theta` computed with the full weight
    (:math:`\\hat\\theta`) and with each of the :math:`R` replicate weights
    (:math:`\\hat\\theta_r`), the sampling variance is

    .. math:: V = c \\sum_r a_r (\\hat\\theta_r - \\hat\\theta)^2

    with :math:`a_r = 1` (``rscales``) and the scale :math:`c` of R's
    ``survey::svrepdesign``: Fay :math:`1/(R(1-k)^2)` (PISA: 0.05 for
    R = 80, k = 0.5); BRR :math:`1/R`; JK1 :math:`(R-1)/R`; JK2 1;
    bootstrap :math:`1/(R-1)`.

    With :math:`M` plausible values the statistic is computed for each
    (:math:`\\hat\\theta_m`, sampling variance :math:`V_m`); the estimate is
    their mean, :math:`U = \\bar V_m` (``var_within``), :math:`B = \\sum_m (\\hat\\theta_m -
    \\bar\\theta)^2/(M-1)` (``var_between``) and the total variance :math:`U + (1 + 1/M) B`
    (Rubin's rules, as ``mitools::MIcombine``), with Rubin's degrees of freedom
    :math:`(M-1)(1 + 1/r)^2`, :math:`r = (1 + 1/M) B / U`, and a t interval.
    Without plausible values ``df`` is infinite and the interval normal (as
    ``confint`` on a ``svrepstat``).

    Rows with a missing value in an analysis's variables are left out of that
    analysis only; each result counts them (``n_excluded``, and its ``ledger``).  Domains (``by=``)
    are estimated by keeping the group's rows, which for replicate designs is
    the same as giving other rows zero weight.  Every pupil is counted once in
    ``n`` or ``n_excluded``: a group whose pupils all miss a variable is a row
    with ``n`` 0 and no estimate, and pupils with a missing ``by`` value are a
    last row whose ``by`` columns are missing.

    Results go through the project's disclosure policy
    (:mod:`belonging_lib.disclosure`), as every group table does: the
    numbers of a group (or of a category of :meth:`percent`) that rests on
    fewer pupils than the threshold, and those of another group that would let
    it be worked out from the total, are missing, with ``suppressed`` True; a
    regression with fewer residual degrees of freedom than the policy's
    ``min_residual_df`` is withheld the same way.  Under an active disclosure
    context the group counts are also checked against the output's other
    tables.  ``DisclosurePolicy(enabled=False)`` (secure, unpublished work)
    gives every number.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> n = 200
    >>> d = pd.DataFrame({"W": rng.uniform(1, 3, n), "g": rng.integers(0, 2, n)})
    >>> sign = np.where(rng.random((n, 4)) < 0.5, 1, -1)
    >>> for r in range(4):
    ...     d[f"RW{r + 1}"] = d["W"] * (1 + 0.5 * sign[:, r])
    >>> for m in range(5):
    ...     d[f"PV{m + 1}SCORE"] = 500 + 10 * d["g"] + rng.normal(0, 100, n)
    >>> des = SurveyDesign(d, weight="W", replicates="RW", pv="auto")
    >>> des
    SurveyDesign(200 rows, weight 'W', 4 replicates (fay, rho 0.5), plausible values: SCORE (5))
    >>> des.mean("SCORE", by="g").to_frame()[["g", "estimate", "se", "n"]].round(2)
       g  estimate     se    n
    0  0    508.45  11.88  102
    1  1    511.88  14.12   98
    >>> des.regress("SCORE ~ g").to_frame()[["term", "estimate", "se", "p"]].round(3)
              term  estimate      se      p
    0  (Intercept)   508.451  11.878  0.000
    1            g     3.428  20.831  0.872
    2    R-squared     0.005   0.012    NaN
    """

    def __init__(self, data: pd.DataFrame, *, weight: str, replicates: str | Sequence[str],
                 method: str = "fay", rho: float = 0.5, pv: dict[str, Sequence[str]] | str | None = None,
                 scale: float | None = None, rscales: Sequence[float] | None = None,
                 mse: bool = True, ci_level: float = 0.95):
        data = as_frame(data)
        self.data = data
        method = check_choice("method", str(method).lower(), list(REPLICATE_METHODS))
        self.method = method
        self.weight = require_columns(data, weight, role="weight column")[0]
        self.replicates = _replicate_columns(data, replicates)
        cols = [self.weight] + self.replicates
        require_numeric(data, cols)
        w = np.ascontiguousarray(data[cols].to_numpy(dtype=float, na_value=np.nan))
        bad = ~np.isfinite(w) | (w < 0)
        if bad.any():
            rows, cidx = np.nonzero(bad)
            raise DataError(
                f"Weights must be present and non-negative, but column {cols[cidx[0]]!r} holds "
                f"{data[cols[cidx[0]]].iloc[rows[0]]!r} at row {data.index[rows[0]]!r} "
                f"({int(bad.sum())} bad weight values in all).")
        self._w = w  # (n, R + 1): full weight then replicates
        _check_replicate_weights(data, cols, w)
        n_rep = len(self.replicates)
        self.rho = float(rho)
        if method == "fay" and not 0 <= self.rho < 1:
            raise DataError(f"`rho` must be in [0, 1), but {rho!r} was passed.")
        if method in ("jk1", "bootstrap") and n_rep < 2:
            raise DataError(f"method={method!r} needs at least 2 replicate weight columns, but only "
                            f"{self.replicates[0]!r} was found; its variance scale is undefined for one.")
        default_scale = {
            "fay": 1.0 / (n_rep * (1.0 - self.rho) ** 2),
            "brr": 1.0 / n_rep,
            "jk1": (n_rep - 1.0) / n_rep,
            "jk2": 1.0,
            "bootstrap": 1.0 / (n_rep - 1.0) if n_rep > 1 else np.nan,
        }[method]
        self.scale = float(default_scale if scale is None else scale)
        if not (np.isfinite(self.scale) and self.scale > 0):
            raise DataError(f"`scale` must be a positive number, but {scale!r} was passed.")
        self.rscales = (np.ones(n_rep) if rscales is None
                        else np.asarray(rscales, dtype=float).reshape(-1))
        if self.rscales.shape != (n_rep,):
            raise DataError(f"`rscales` must have one value per replicate ({n_rep}), "
                            f"but {self.rscales.size} were passed.")
        if not np.all(np.isfinite(self.rscales) & (self.rscales >= 0)):
            bad = int(np.nonzero(~(np.isfinite(self.rscales) & (self.rscales >= 0)))[0][0])
            raise DataError(f"`rscales` must be finite and non-negative, but the value for replicate "
                            f"{self.replicates[bad]!r} is {self.rscales[bad]!r}.")
        self.mse = bool(mse)
        self.ci_level = check_probability("ci_level", ci_level)
        self.pv = _pv_groups(data, pv)
        for name, pv_cols in self.pv.items():
            empty = [c for c in pv_cols if data[c].isna().all()]
            if empty:
                raise DataError(f"The plausible value{'s' if len(empty) > 1 else ''} {', '.join(map(repr, empty))} "
                                f"of {name!r} {'are' if len(empty) > 1 else 'is'} empty for every pupil: every "
                                "plausible value is needed for Rubin's rules. Check that the column was read "
                                "from the right file, or leave the group's plausible values out.")

    # ------------------------------------------------------------------ display
    def __repr__(self) -> str:
        pvs = ", ".join(f"{k} ({len(v)})" for k, v in self.pv.items()) or "none"
        extra = f", rho {self.rho:g}" if self.method == "fay" else ""
        return (f"SurveyDesign({len(self.data)} rows, weight {self.weight!r}, "
                f"{len(self.replicates)} replicates ({self.method}{extra}), plausible values: {pvs})")

    @property
    def n_pv(self) -> int:
        """Largest number of plausible values in any group (1 if none)."""
        return max([len(v) for v in self.pv.values()], default=1)

    # ------------------------------------------------------------------ statistics
    def mean(self, outcome: str, *, by: str | Sequence[str] | None = None,
             ci_level: float | None = None) -> SurveyEstimate:
        """Weighted mean of a column or plausible-value group, with its SE.

        Returns a :class:`SurveyEstimate` whose table has the ``by`` columns,
        ``variable``, ``estimate``, ``se``, ``df``, ``ci_low``, ``ci_high``,
        ``var_within``, ``var_between``, ``n`` (pupils used), ``n_excluded``
        (pupils of the group left out for missing values) and ``suppressed``
        (numbers withheld by the disclosure policy).

        Notes
        -----
        :math:`\\sum_i w_i y_i / \\sum_i w_i` for the full weight and every
        replicate weight; SE as in :class:`SurveyDesign`.  R: ``svymean``
        (``svyby`` for groups) on a ``svrepdesign``, pooled by ``MIcombine``.
        """
        self._numeric(outcome)

        def stat(W, vals):
            (Y,) = vals
            return (W.T @ Y / W.sum(axis=0)[:, None])[:, :, None]  # (R+1, M, 1)

        out, ledger, n_pv = self._run([outcome], stat, by, ci_level, labels=pd.DataFrame({"variable": [outcome]}))
        return self._estimate(out, ledger, n_pv, "mean", outcome, by, ci_level)

    def percent(self, outcome: str, *, by: str | Sequence[str] | None = None,
                ci_level: float | None = None) -> SurveyEstimate:
        """Weighted percentage of pupils in each category of ``outcome``.

        One row per category (column ``category``); percentages of a group add
        to 100.  Notes: :math:`100 \\sum_i w_i [y_i = c] / \\sum_i w_i`; R:
        ``svymean(~factor(outcome))`` times 100.
        """
        var = outcome
        vals = self._values(var)
        flat = pd.unique(pd.Series(vals.reshape(-1)).dropna())
        if len(flat) > 100:
            raise DataError(f"Column {var!r} has {len(flat)} distinct values; `percent` is for "
                            "categories. Cut it into groups first.")
        cats = np.sort(flat) if _sortable(flat) else flat

        def stat(W, vals_):
            (Y,) = vals_
            tot = W.sum(axis=0)
            out = np.empty((W.shape[1], Y.shape[1], len(cats)))
            for k, c in enumerate(cats):
                out[:, :, k] = 100.0 * (W.T @ (Y == c).astype(float)) / tot[:, None]
            return out

        out, ledger, n_pv = self._run([var], stat, by, ci_level,
                                labels=pd.DataFrame({"variable": var, "category": cats}))
        out = self._suppress_categories(out, var, as_list(by))
        return self._estimate(out, ledger, n_pv, "percent", var, by, ci_level)

    def _suppress_categories(self, out: pd.DataFrame, var: str, by_cols: list) -> pd.DataFrame:
        """A category that fewer pupils than the threshold give is withheld, as any small cell.

        Within each group the percentages add to 100, so the categories are a
        block with a known total: secondary suppression as for any group table
        (:func:`belonging_lib.disclosure.suppress`).  The count is the number
        of pupils (unweighted) in the category, the smallest over plausible
        values.
        """
        from ..disclosure import _protect_block, get_default_policy

        policy = get_default_policy()
        if not policy.enabled or out.empty:
            return out
        vals = self._values(var)
        counts = np.zeros(len(out))
        for i in range(len(out)):
            row = out.iloc[i]
            if row["suppressed"] or row["n"] == 0 or pd.isna(row["n"]):
                counts[i] = np.inf
                continue
            member = np.ones(len(self.data), dtype=bool)
            for c in by_cols:
                member &= (self.data[c] == row[c]).to_numpy()
            counts[i] = min(int(((vals[:, m] == row["category"]) & member).sum()) for m in range(vals.shape[1]))
        primary = counts < policy.threshold
        rows = primary.copy()
        if policy.secondary:
            keys = out[by_cols].astype(str).agg("|".join, axis=1) if by_cols else pd.Series("", index=out.index)
            for _, ix in out.groupby(keys.to_numpy(), sort=False).indices.items():
                ix = np.asarray(ix)
                finite = ix[np.isfinite(counts[ix])]
                if len(finite):
                    _protect_block(counts[finite], rows, finite, policy.threshold)
        if rows.any():
            keep = set(by_cols) | {"variable", "category", "suppressed"}
            for c in out.columns:
                if c not in keep and pd.api.types.is_numeric_dtype(out[c]):
                    out[c] = out[c].astype(float).where(~rows)
            out["suppressed"] = out["suppressed"].to_numpy() | rows
        return out

    def percentile(self, outcome: str, q: float | Sequence[float], *,
                   by: str | Sequence[str] | None = None, ci_level: float | None = None) -> SurveyEstimate:
        """Weighted percentiles (``q`` from 0 to 100) with replicate SEs.

        Notes
        -----
        The quantile for weights :math:`w` is the smallest value :math:`y`
        whose weighted cumulative share reaches :math:`p`, that is
        :math:`\\min\\{y_{(i)}: \\sum_{j \\le i} w_{(j)} \\ge p \\sum w\\}`
        (R ``survey``'s default ``qrule = "math"``, the inverse of the
        weighted distribution function).  It is computed with the full weight
        and with every replicate weight, and the SE comes from the replicate
        quantiles, as PISA's own tools do and as
        ``svyquantile(..., qrule = "math", interval.type = "quantile")``.
        (R's default ``interval.type = "mean"`` inverts a Woodruff interval
        instead.)
        """
        var = outcome
        self._numeric(var)
        qs = np.atleast_1d(np.asarray(q, dtype=float))
        if np.any((qs <= 0) | (qs >= 100)):
            raise DataError(f"`q` must lie strictly between 0 and 100 (percent), but {q!r} was passed.")
        p = qs / 100.0

        def stat(W, vals):
            (Y,) = vals
            out = np.empty((W.shape[1], Y.shape[1], len(p)))
            for m in range(Y.shape[1]):
                order = np.argsort(Y[:, m], kind="stable")
                ys = Y[order, m]
                cw = np.cumsum(W[order], axis=0)  # (n, R+1)
                for k, pk in enumerate(p):
                    target = pk * cw[-1]
                    idx = (cw < target).sum(axis=0)  # first i with cw_i >= target
                    out[:, m, k] = ys[np.minimum(idx, len(ys) - 1)]
            return out

        out, ledger, n_pv = self._run([var], stat, by, ci_level,
                                labels=pd.DataFrame({"variable": var, "percentile": qs}))
        return self._estimate(out, ledger, n_pv, "percentile", var, by, ci_level)

    def corr(self, outcome: str, predictor: str, *, by: str | Sequence[str] | None = None,
             ci_level: float | None = None) -> SurveyEstimate:
        """Weighted Pearson correlation of two columns or PV groups.

        The correlation is symmetric: ``outcome`` and ``predictor`` only name
        the two variables (the table's ``outcome`` and ``predictor`` columns).

        Notes: the weighted covariance over the weighted SDs, for every weight
        column and plausible value; R: ``withReplicates(design,
        function(w, d) cov.wt(cbind(x, y), w, cor = TRUE)$cor[1, 2])``.
        The ``statistic`` and ``p`` test a zero correlation with the
        combined SE.
        """
        x, y = outcome, predictor
        self._numeric(x)
        self._numeric(y)

        def stat(W, vals):
            X, Y = vals
            M = max(X.shape[1], Y.shape[1])
            X = np.broadcast_to(X, (X.shape[0], M))
            Y = np.broadcast_to(Y, (Y.shape[0], M))
            X = X - X.mean(axis=0)
            Y = Y - Y.mean(axis=0)
            sw = W.sum(axis=0)[:, None]
            mx, my = W.T @ X / sw, W.T @ Y / sw
            sxy = W.T @ (X * Y) / sw - mx * my
            sxx = W.T @ (X * X) / sw - mx ** 2
            syy = W.T @ (Y * Y) / sw - my ** 2
            return (sxy / np.sqrt(sxx * syy))[:, :, None]

        out, ledger, n_pv = self._run([x, y], stat, by, ci_level,
                                labels=pd.DataFrame({"outcome": [x], "predictor": [y]}), test=True)
        return self._estimate(out, ledger, n_pv, "corr", x, by, ci_level, predictor=y)

    def diff(self, outcome: str, *, by: str, levels: Sequence[Any] | None = None,
             within: str | Sequence[str] | None = None, stat: str = "mean",
             category: Any = None, ci_level: float | None = None) -> ComparisonResult:
        """Difference between two groups: ``stat(levels[0]) - stat(levels[1])``.

        Parameters
        ----------
        outcome : str
            Column or plausible-value group.
        by : str
            Column whose groups are compared (for example gender).
        levels : pair, optional
            The two groups; defaults to the two values of ``by`` in sorted
            order (an error if there are more than two).
        within : str or list, optional
            Compute the difference separately within these groups (country).
        stat : {"mean", "percent"}
            Compare means, or the percentage of pupils in ``category``
            (a difference in percentage points).
        category : optional
            The category for ``stat="percent"`` (default 1 for a 0/1 column).

        Returns
        -------
        ComparisonResult
            Its table has one row (per ``within`` group) with ``estimate, se,
            ci_low, ci_high, statistic, df, p``, the pupils used ``n`` and, of
            them, ``n_1`` in ``levels[0]`` and ``n_2`` in ``levels[1]`` (for
            disclosure checks: the smaller group decides).

        Notes
        -----
        The difference is computed for every weight column and plausible
        value, so its SE accounts for the covariance of the two group
        estimates.  R: ``svyby(..., covmat = TRUE)`` then ``svycontrast``.
        """
        var = outcome
        check_choice("stat", stat, ["mean", "percent"])
        require_columns(self.data, by, role="group column")
        if stat == "mean":
            self._numeric(var)
        g = self.data[by]
        if levels is None:
            lv = np.sort(pd.unique(g.dropna()))
            if len(lv) != 2:
                raise DataError(f"Column {by!r} has {len(lv)} groups; pass `levels=(a, b)` to choose two.")
            levels = (lv[0], lv[1])
        levels = tuple(levels)
        if len(levels) != 2:
            raise DataError(f"`levels` must name two groups of {by!r}, but {levels!r} was passed.")
        for lv_ in levels:
            if not (g == lv_).any():
                raise DataError(f"Group {lv_!r} does not occur in column {by!r}.")
        if stat == "percent" and category is None:
            category = 1
        gcodes = np.where(g == levels[0], 0.0, np.where(g == levels[1], 1.0, np.nan))

        def fn(W, vals):
            Y, G = vals
            out = np.empty((W.shape[1], Y.shape[1], 1))
            res = []
            for code in (0.0, 1.0):
                keep = G[:, 0] == code
                if not keep.any():
                    raise DataError(f"Group {levels[int(code)]!r} of {by!r} has no pupils with {var!r} "
                                    "in this part of the data.")
                Wk = W[keep]
                Yk = Y[keep]
                if stat == "percent":
                    Yk = 100.0 * (Yk == category)
                res.append(Wk.T @ Yk / Wk.sum(axis=0)[:, None])
            out[:, :, 0] = res[0] - res[1]
            return out

        labels = pd.DataFrame({"variable": [var], "level_1": [levels[0]], "level_2": [levels[1]]})
        out, ledger, n_pv = self._run([var, ("__group__", gcodes)], fn, within, ci_level, labels=labels, test=True,
                                counts=lambda rows: {"n_1": int((gcodes[rows] == 0).sum()),
                                                     "n_2": int((gcodes[rows] == 1).sum())},
                                outside=f"not in group {levels[0]!r} or {levels[1]!r} of {by!r}")
        level = self.ci_level if ci_level is None else ci_level
        n, n_excl = _totals(ledger)
        return ComparisonResult(out, stat, var, (by,), self.weight, self._method_text(n_pv), level, n,
                                n_excl,
                                ledger, tuple(as_list(within)))

    def regress(self, formula: str, *, by: str | Sequence[str] | None = None,
                ci_level: float | None = None) -> SurveyEstimate:
        """Weighted linear regression with replicate and plausible-value SEs.

        Parameters
        ----------
        formula : str
            A patsy formula such as ``"MATH ~ ESCS + BELONG + C(IMMIG)"``;
            plausible-value names can appear on either side.

        Returns
        -------
        SurveyEstimate
            Its table has one row per coefficient (``term``; the intercept is
            ``(Intercept)``) and a last row ``term = "R-squared"``, with
            ``estimate, se, ci_low, ci_high, statistic, df, p, n,
            n_excluded`` (and the ``by`` columns).  R-squared has an interval
            but no test: its ``statistic`` and ``p`` are missing.

        Notes
        -----
        For every weight column :math:`w` (full and replicates) and every
        plausible value the coefficients solve :math:`X'WX b = X'Wy`; all
        cross-products come from one matrix product per block (weights x
        products of columns), so 81 weights x 10 PVs cost little more than
        one fit.  :math:`R^2 = 1 - \\sum w e^2 / \\sum w (y - \\bar y_w)^2`.
        The formula's variables are read from patsy's ``ModelDesc`` (the
        code of every factor), and the design matrix is patsy's.
        R: ``svyglm(formula, design)`` coefficients (and ``withReplicates``
        for :math:`R^2`), pooled by ``MIcombine``.
        """
        import patsy

        desc, used, lhs_names, outcome, rhs_pv = self._read_formula(formula)
        n_pv = self._n_pv_of(used)
        rhs_desc = patsy.ModelDesc([], desc.rhs_termlist)
        info: dict[str, Any] = {}

        def frame_for(rows: np.ndarray, m: int) -> pd.DataFrame:
            cols = {}
            for v in used:
                if v in self.pv:
                    c = self.pv[v][m % len(self.pv[v])]
                    cols[v] = self.data[c].to_numpy()[rows]
                else:
                    cols[v] = self.data[v].to_numpy()[rows]
            return pd.DataFrame(cols)

        def fn(W, vals, rows):
            n = W.shape[0]
            if outcome is not None and not rhs_pv:
                # one design matrix for every plausible value of the outcome
                X = patsy.dmatrix(rhs_desc, frame_for(rows, 0), NA_action="raise")
                info["terms"] = list(X.design_info.column_names)
                Xs = [np.asarray(X, dtype=float)]
                Y = vals[used.index(outcome)]
                Y = np.broadcast_to(Y, (n, n_pv)) if Y.shape[1] == 1 else Y
            else:
                Xs, ys, infos = [], [], None
                for m in range(n_pv):
                    frame = frame_for(rows, m)
                    if infos is None:
                        yd, xd = patsy.dmatrices(desc, frame, NA_action="raise")
                        infos = [yd.design_info, xd.design_info]
                    else:   # the same terms and levels for every plausible value of this group
                        yd, xd = patsy.build_design_matrices(infos, frame, NA_action="raise")
                    if yd.shape[1] != 1:
                        raise DataError(f"The outcome of {formula!r} must be one numeric column, but it "
                                        f"gives {yd.shape[1]} ({', '.join(yd.design_info.column_names)}).")
                    info["terms"] = list(xd.design_info.column_names)
                    Xs.append(np.asarray(xd, dtype=float))
                    ys.append(np.asarray(yd, dtype=float)[:, 0])
                Y = np.column_stack(ys)
            return _wls_all(W, Xs, np.asarray(Y, dtype=float), info)

        out, ledger, n_pv = self._run(used, fn, by, ci_level, labels=None, pass_rows=True, regression=info, test=True)
        return self._estimate(out, ledger, n_pv, "regress", outcome or ", ".join(lhs_names), by, ci_level,
                              formula=formula)

    def multilevel(self, formula: str, *, cluster: str, school_weight: str, random: str | None = None,
                   scaling: str = "cluster_size", by: str | Sequence[str] | None = None,
                   ci_level: float | None = None, se: str = "replicate") -> SurveyEstimate:
        """A two-level model (pupils in schools) with both weights, plausible values and replicate SEs.

        Parameters
        ----------
        formula : str
            The fixed part, as :meth:`regress`: ``"MATH ~ BELONG + ESCS"``; a plausible-value group
            may be the outcome or a predictor.
        cluster : str
            The school column.
        school_weight : str
            The school's weight (one value per school).  The pupil's weight is the design's final
            weight, a *total* weight, and each replicate weight likewise; the conditional pupil
            weight is total / school (see :func:`belonging_lib.models.multilevel`, ``weights``).
        random : str, optional
            Random slopes (``"~ ESCS"``, or lme4's ``"(1 + ESCS || school)"`` for a slope
            uncorrelated with the intercept), as :func:`~belonging_lib.models.multilevel`.
        scaling : {"cluster_size", "effective_size", "none"}
            Scaling of the conditional pupil weights within schools (see
            :func:`~belonging_lib.models.multilevel`).
        by : str or list of str, optional
            Fit separately in each group (each country: ``by="CNT"``); see
            :func:`belonging_lib.survey.average` for the OECD average over countries.
        se : {"replicate", "sandwich"}
            Each plausible value's sampling variance: ``"replicate"`` (the default) from refits
            with the design's replicate weights; ``"sandwich"`` from the sandwich over schools
            (WeMix's, for the fixed effects and, by the delta method, the variance components and
            the ICC), with no refits, for designs whose replicate weights do not replicate the
            school sample or when refits are too slow.

        Returns
        -------
        SurveyEstimate
            One row per term: the fixed effects, then ``var: <cluster> <term>`` (random-effect
            variances), ``corr: ...`` (their correlations), ``var: Residual`` and ``ICC`` (the
            school share of the residual variance at the random terms' zero), each with its
            replicate standard error pooled over plausible values.

        Notes
        -----
        For every plausible value the model is fitted by pseudo-maximum likelihood with the full
        weights (as WeMix), then refitted with each replicate weight: a school's replicate factor
        (its replicate total over its full total) multiplies its school weight, and where the
        factor is the same for all of a school's pupils (PISA's and TIMSS's replicates, which
        replicate schools) the per-school sufficient statistics are reused, so a replicate costs
        a few Newton steps on J-vectors, not a pass over the pupils (as BIFIEsurvey's
        ``BIFIE.twolevelreg`` uses replicate weights).  The replicate variance and Rubin's rules
        are the design's (the mean of the estimates; the mean sampling variance plus
        :math:`(1 + 1/M)` times the between-PV variance, as EdSurvey's ``mixed.sdf``).
        Correlations are pooled on Fisher's z scale and transformed back.  With
        ``se="sandwich"`` the same pooling uses each plausible value's sandwich variance (a
        variance estimated at 0 has no sandwich standard error: NaN).
        """
        from ._multilevel import design_multilevel

        return design_multilevel(self, formula, cluster=cluster, school_weight=school_weight, random=random,
                                 scaling=scaling, by=by, ci_level=ci_level, se=se)

    # ------------------------------------------------------------------ internals
    def _read_formula(self, formula: str):
        """The formula's terms from patsy's ModelDesc, and the data's variables in each factor.

        Returns the ModelDesc, the variables used (columns or plausible-value groups, in formula
        order), those of the outcome, the outcome's name when it is one variable as it stands (else
        None), and whether a plausible-value group is among the predictors.
        """
        import patsy

        if not isinstance(formula, str):
            raise DataError(f"`formula` must be a string such as 'outcome ~ predictors', but {formula!r} "
                            "was passed.")
        try:
            desc = patsy.ModelDesc.from_formula(formula)
        except patsy.PatsyError as exc:
            raise DataError(f"The formula {formula!r} cannot be read: {exc}") from None
        if not desc.lhs_termlist:
            raise DataError(f"`formula` must look like 'outcome ~ predictors', but {formula!r} was passed.")

        def variables(terms) -> list[str]:
            found = []
            for term in terms:
                for factor in term.factors:
                    found += self._factor_variables(factor.code)
            return list(dict.fromkeys(found))

        lhs_names = variables(desc.lhs_termlist)
        rhs_names = variables(desc.rhs_termlist)
        used = list(dict.fromkeys(lhs_names + rhs_names))
        if not lhs_names:
            raise ColumnError(f"The outcome of {formula!r} is not a column or plausible-value group.")
        lhs = desc.lhs_termlist
        outcome = None
        if len(lhs) == 1 and len(lhs[0].factors) == 1 and lhs[0].factors[0].code in lhs_names:
            outcome = lhs[0].factors[0].code
        return desc, used, lhs_names, outcome, any(v in self.pv for v in rhs_names)

    def _factor_variables(self, code: str) -> list[str]:
        """Columns and plausible-value groups that one patsy factor reads (``C(g)``, ``I(x**2)``, ``x``).

        The factor's Python code is parsed: a name is a variable when it is a column of the data or
        a plausible-value group and is not called as a function; ``Q("a name")`` names a column.
        A factor that reads no variable and names something unknown is an error.
        """
        try:
            tree = ast.parse(code, mode="eval")
        except SyntaxError:
            raise DataError(f"The formula term {code!r} is not valid Python.") from None
        called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
        found = []
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Q"
                    and node.args and isinstance(node.args[0], ast.Constant)):
                found.append(str(node.args[0].value))
            elif isinstance(node, ast.Name) and id(node) not in called:
                found.append(node.id)
        known = [v for v in found if v in self.pv or v in self.data.columns]
        unknown = [v for v in found if v not in known and v not in ("np", "Q", "C", "I")]
        if not known and unknown:
            raise ColumnError(f"The formula term {code!r} names {', '.join(map(repr, unknown))}, which is "
                              "not a column of the data or a plausible-value group.")
        return known

    def _numeric(self, var: str) -> None:
        if var in self.pv:
            require_numeric(self.data, self.pv[var])
        else:
            require_columns(self.data, var, role="analysis variable")
            require_numeric(self.data, var)

    def _columns_of(self, var: str) -> list[str]:
        if var in self.pv:
            return list(self.pv[var])
        return require_columns(self.data, var, role="analysis variable")

    def _values(self, var: str) -> np.ndarray:
        cols = self._columns_of(var)
        block = self.data[cols]
        if all(pd.api.types.is_numeric_dtype(block[c]) for c in cols):
            return block.to_numpy(dtype=float, na_value=np.nan)
        return block.to_numpy(dtype=object)

    def _n_pv_of(self, variables: Sequence[str]) -> int:
        counts = {len(self.pv[v]) for v in variables if isinstance(v, str) and v in self.pv}
        if len(counts) > 1:
            raise DataError("Plausible-value groups used together must have the same number of "
                            f"plausible values, but {sorted(counts)} were found.")
        return counts.pop() if counts else 1

    def _estimate(self, out: pd.DataFrame, ledger: RowLedger, n_pv: int, kind: str, outcome: str, by, ci_level,
                  **extra) -> SurveyEstimate:
        level = self.ci_level if ci_level is None else ci_level
        n, n_excl = _totals(ledger)
        return SurveyEstimate(out, kind, outcome, tuple(as_list(by)), self.weight,
                              self._method_text(n_pv), level, n, n_excl, ledger, **extra)

    def _method_text(self, n_pv: int) -> str:
        extra = f", rho {self.rho:g}" if self.method == "fay" else ""
        return (f"{self.method} replicate weights ({len(self.replicates)}{extra}), "
                f"{n_pv} plausible value(s), Rubin's rules")

    def _run(self, variables, fn, by, ci_level, *, labels, pass_rows=False,
             regression=None, counts=None, test=False, outside=None, pool=None) -> tuple[pd.DataFrame, RowLedger, int]:
        """Missing-value handling, grouping, the statistic for all weights and PVs, pooling.

        ``pool`` replaces :meth:`_pool` (same arguments): for a statistic whose sampling variance
        is not from the replicates, ``fn`` returns (2, M, K), the estimates then their variances.

        Returns the table, the ledger of the design's rows (those outside the comparison, with the
        reason ``outside``; those without a ``by`` value; those with a missing analysis value) and
        the number of plausible values.
        """
        level = self.ci_level if ci_level is None else check_probability("ci_level", ci_level)
        by_cols = require_columns(self.data, as_list(by), role="group column")
        arrays = []
        subset = np.ones(len(self.data), dtype=bool)
        for v in variables:
            if isinstance(v, tuple):  # a helper column (group codes): NaN = not in the comparison
                a = np.asarray(v[1], dtype=float)[:, None]
                subset &= ~np.isnan(a[:, 0])
                arrays.append(a)
            else:
                arrays.append(self._values(v))
        n_pv = self._n_pv_of([v for v in variables if isinstance(v, str)])
        missing = np.zeros(len(self.data), dtype=bool)
        for a in arrays:
            if a.dtype.kind == "f":
                missing |= np.isnan(a).any(axis=1)
            else:
                missing |= pd.isna(pd.DataFrame(a)).to_numpy().any(axis=1)
        if by_cols:
            gmiss = self.data[by_cols].isna().any(axis=1).to_numpy()
            keys = self.data.loc[~gmiss, by_cols].drop_duplicates().sort_values(by_cols)
            groups = [tuple(k) for k in keys.itertuples(index=False)]
        else:
            gmiss = np.zeros(len(self.data), dtype=bool)
            groups = [()]
        rows_all = []
        for key in groups:
            member = ~gmiss & subset
            for c, val in zip(by_cols, key):
                member &= (self.data[c] == val).to_numpy()
            rows_all.append(member)
        records = []
        empty = []          # groups whose pupils all miss a variable: counted, with no estimate
        used_rows = []
        for key, member in zip(groups, rows_all):
            use = member & ~missing
            n_excl = int((member & missing).sum())
            if use.all():  # no copy of the weights when every row is used
                rows = np.arange(len(use))
                W, vals = self._w, list(arrays)
            else:
                rows = np.nonzero(use)[0]
                if len(rows) == 0:
                    if by_cols:
                        empty.append((len(records), key, n_excl))
                        records.append(None)
                        used_rows.append((np.zeros(0, dtype=np.int64), np.nonzero(member)[0]))
                    continue
                W = self._w[rows]
                vals = [a[rows] for a in arrays]
            vals = [np.broadcast_to(v, (len(rows), n_pv)) if v.shape[1] == 1 and n_pv > 1 and not
                    isinstance(variables[i], tuple) and regression is None else v
                    for i, v in enumerate(vals)]
            where = f"group {key!r}" if by_cols else "the data"
            weight_cols = [self.weight] + self.replicates
            zero = np.nonzero(W.sum(axis=0) <= 0)[0]
            if len(zero):
                raise DataError(f"The {len(rows)} pupils of {where} have a total weight of 0 in column "
                                f"{weight_cols[zero[0]]!r} ({len(zero)} weight column(s) in all), so no "
                                "estimate or replicate variance exists there. Merge it with another group.")
            try:
                with np.errstate(divide="ignore", invalid="ignore"):
                    theta = fn(W, vals, rows) if pass_rows else fn(W, vals)
            except np.linalg.LinAlgError as exc:
                raise ModelError(f"The regression cannot be estimated in {where}: "
                                 f"{exc}. Check for predictors with no variation.") from None
            checked = theta[:1] if pool is not None else theta    # a sampling variance may be undefined (NaN)
            if not np.all(np.isfinite(checked)):
                r = int(np.nonzero(~np.isfinite(checked).reshape(checked.shape[0], -1).all(axis=1))[0][0])
                names = [v for v in variables if isinstance(v, str)]
                raise DataError(f"The statistic of {names} is undefined in {where} ({len(rows)} pupils) "
                                f"with weight column {weight_cols[r]!r}: a variable does not vary there "
                                "(or only one pupil carries weight).")
            if regression is not None:
                pooled = self._pool(theta, level, regression["terms"] + ["R-squared"], test=True)
                pooled.loc[pooled.index[-1], ["statistic", "p"]] = np.nan     # R-squared has no test
                block = pooled.reset_index()
            else:
                pooled = (pool or self._pool)(theta, level, list(range(theta.shape[2])), test=test)
                block = pd.concat([labels.reset_index(drop=True), pooled.reset_index(drop=True)], axis=1)
            block["n"] = len(rows)
            if counts is not None:          # pupils behind each part of the statistic (e.g. each group)
                for name, value in counts(rows).items():
                    block[name] = value
            block["n_excluded"] = n_excl
            for c, val in reversed(list(zip(by_cols, key))):
                block.insert(0, c, val)
            records.append(block)
            used_rows.append((rows, np.nonzero(member & missing)[0]))
        real = np.array([b is not None for b in records], dtype=bool)
        if not real.any():
            raise DataError("No pupil has complete values for "
                            f"{[v for v in variables if isinstance(v, str)]}.")
        template = records[int(np.argmax(real))]
        # Every exclusion is counted: a group with no complete pupil, and pupils without a group.
        for k, key, n_excl in empty:
            records[k] = _empty_block(template, by_cols, key, n_excl)
        n_gmiss = int((gmiss & subset).sum())
        if by_cols and n_gmiss:
            records.append(_empty_block(template, by_cols, (None,) * len(by_cols), n_gmiss))
            real = np.append(real, False)
        out = pd.concat(records, ignore_index=True)
        out = self._disclose(out, records, real, used_rows, by_cols, regression,
                             np.nonzero(~gmiss & subset)[0])
        ledger = RowLedger("pupils", start=len(self.data), source="the survey design")
        if outside is not None:
            ledger.record("in the groups compared", n_out=int(subset.sum()), reason=outside)
        if by_cols:
            ledger.record("breakdown value present", n_out=int((subset & ~gmiss).sum()),
                          reason=f"missing {', '.join(map(str, by_cols))}")
        names = [v for v in variables if isinstance(v, str)]
        ledger.record("analysis values present", n_out=int((subset & ~gmiss & ~missing).sum()),
                      reason=f"missing {', '.join(names)}")
        return out, ledger, n_pv

    def _disclose(self, out: pd.DataFrame, records: list, real: np.ndarray, used_rows: list, by_cols: list,
                  regression: dict | None, universe_rows: np.ndarray) -> pd.DataFrame:
        """Route the result through the disclosure policy (the same as every group table).

        A group whose estimate rests on fewer pupils than the threshold (or,
        for a regression, with fewer residual degrees of freedom than the
        policy's minimum) has its numbers withheld (missing) and
        ``suppressed`` True; secondary suppression protects it from the
        total, and the active disclosure context checks the group counts
        against the output's other tables.  The pupils of the design's rows
        are matched by their ID column or a fingerprint of their rows.
        """
        from ..disclosure import _Cell, _protect_block, _resolve_context, _row_ids, get_default_policy

        policy = get_default_policy()
        sizes = [len(b) for b in records]
        unit_of_row = np.repeat(np.arange(len(records)), sizes)
        out["suppressed"] = False
        if not policy.enabled:
            return out
        n_groups = len(records)
        n_used = np.array([int(b["n"].iloc[0]) for b in records], dtype=float)
        n_excl = np.array([int(b["n_excluded"].iloc[0]) for b in records], dtype=float)
        has_group = np.arange(n_groups) < len(used_rows)     # the no-group row is never a group
        if "n_1" in out.columns:                              # a difference: the smaller group decides
            n_used = np.array([min(int(b["n_1"].iloc[0]), int(b["n_2"].iloc[0])) if real[k] else 0
                               for k, b in enumerate(records)], dtype=float)
        described = np.where(real, n_used, n_excl)            # pupils a row describes
        primary = has_group & (described < policy.threshold)
        rows = primary.copy()
        if policy.secondary and by_cols:
            ix = np.nonzero(has_group)[0]
            _protect_block((n_used + n_excl)[ix], rows, ix, policy.threshold)
        if regression is not None and regression.get("terms"):
            # too few residual df: the model is withheld, but its group is not small, so no
            # secondary suppression follows from it
            rows |= real & (n_used - len(regression["terms"]) < policy.min_residual_df)
        # the context (found by a fingerprint of the whole data set) checks group counts only
        ctx = _resolve_context(None, self.data, policy) if by_cols else None
        if ctx is not None:
            ids = _row_ids(ctx, self.data)
            cells = []
            for u, (used, excl) in enumerate(used_rows):
                label = f"group {records[u][by_cols].iloc[0].tolist()!r}"
                cells.append(_Cell(ids[used], len(used), u, bool(rows[u]),
                                   0 < len(used) < policy.threshold, f"{label} (used)"))
                cells.append(_Cell(ids[excl], len(excl), u, bool(rows[u]), False, f"{label} (excluded)"))
                both = np.concatenate([used, excl])
                if 0 < len(both) < policy.threshold:
                    cells.append(_Cell(ids[both], len(both), u, bool(rows[u]), True, label))
            units = ctx.protect(cells, universe=ids[universe_rows], threshold=policy.threshold)
            for u in units:
                rows[u] = True
        hide = rows[unit_of_row]
        if hide.any():
            keep = set(by_cols) | {"variable", "category", "percentile", "term", "outcome", "predictor",
                                   "level_1", "level_2", "suppressed"}
            for c in out.columns:
                if c not in keep and pd.api.types.is_numeric_dtype(out[c]):
                    out[c] = out[c].astype(float).where(~hide)
            out["suppressed"] = hide
        return out

    def _pool(self, theta: np.ndarray, level: float, terms: list, *, test: bool) -> pd.DataFrame:
        """theta (R+1, M, K) -> estimate, se, interval, df (and a test of zero) for K statistics.

        The sampling variance of each plausible value's statistic comes from the replicates; the
        plausible values are pooled by Rubin's rules (``belonging_lib._pooling.rubin``), and the
        table is the library's coefficient table (``_results.coef_table``).
        """
        full = theta[0]  # (M, K)
        reps = theta[1:]
        centre = full if self.mse else reps.mean(axis=0)
        dev = reps - centre[None]
        v_m = self.scale * np.einsum("r,rmk->mk", self.rscales, dev ** 2)
        pooled = rubin(full, v_m)
        table = coef_table(terms, pooled.estimate, pooled.se, pooled.df, ci_level=level)
        if not test:
            table = table.drop(columns=["statistic", "p"])
        table["var_within"] = pooled.var_within
        table["var_between"] = pooled.var_between
        return table


def _empty_block(template: pd.DataFrame, by_cols: list, key: tuple, n_excluded: int) -> pd.DataFrame:
    """Rows for a group with no estimate: its statistics missing, ``n`` 0, its pupils in ``n_excluded``."""
    block = template.copy()
    for c in block.columns:
        if c in by_cols:
            continue
        if pd.api.types.is_numeric_dtype(block[c]) and c not in ("percentile", "category"):
            block[c] = np.nan
    block["n"] = 0
    block["n_excluded"] = n_excluded
    for c, val in zip(by_cols, key):
        # pupils without a group: a missing label of the column's own kind (NaN in a numeric column)
        block[c] = np.nan if val is None and pd.api.types.is_numeric_dtype(template[c]) else val
    return block


def _wls_all(W: np.ndarray, Xs: list[np.ndarray], Y: np.ndarray, info: dict) -> np.ndarray:
    """Coefficients and R^2 for every weight column (n, R+1) and every PV column of Y (n, M).

    ``Xs`` is one design matrix shared by all PVs or one per PV.  Returns
    (R+1, M, p + 1): the coefficients then R^2.  All weighted sums come from
    one matrix product ``W' C`` where the columns of C are the products
    :math:`x_j x_k`, :math:`x_j y_m`, :math:`y_m`, :math:`y_m^2` and 1.
    """
    n, M = Y.shape
    p = Xs[0].shape[1]
    ones = np.all(Xs[0] == 1, axis=0)
    has_icept = bool(ones.any())
    # Centre (by unweighted means) for accuracy; the intercept is restored afterwards.
    Ybar = Y.mean(axis=0) if has_icept else np.zeros(M)
    Yc = Y - Ybar
    iu = np.triu_indices(p)
    nq = len(iu[0])
    shared = len(Xs) == 1
    nX = len(Xs)
    shifts = [np.where(ones, 0.0, X.mean(axis=0)) if has_icept else np.zeros(p) for X in Xs]
    # C holds, side by side: x_j x_k (per design matrix), x_j y_m, y_m, y_m^2, 1; filled in place
    C = np.empty((n, nX * nq + p * M + 2 * M + 1))
    for j, (X, shift) in enumerate(zip(Xs, shifts)):
        Xc = X - shift
        np.multiply(Xc[:, iu[0]], Xc[:, iu[1]], out=C[:, j * nq:(j + 1) * nq])
        if shared:
            np.multiply(Xc[:, :, None], Yc[:, None, :],
                        out=C[:, nX * nq:nX * nq + p * M].reshape(n, p, M))
        else:
            np.multiply(Xc, Yc[:, [j]], out=C[:, nX * nq + j * p:nX * nq + (j + 1) * p])
    pos = nX * nq + p * M
    C[:, pos:pos + M] = Yc
    np.multiply(Yc, Yc, out=C[:, pos + M:pos + 2 * M])
    C[:, -1] = 1.0
    S = W.T @ C  # (R+1, columns): every weighted sum at once
    pos = nX * nq
    if shared:
        XtWY = S[:, pos:pos + p * M].reshape(-1, p, M)
        pos += p * M
    else:
        XtWY = np.stack([S[:, pos + j * p: pos + (j + 1) * p] for j in range(M)], axis=2)
        pos += p * M
    swy = S[:, pos:pos + M]
    swyy = S[:, pos + M:pos + 2 * M]
    sw = S[:, pos + 2 * M]
    sst = swyy - swy ** 2 / sw[:, None]
    R1 = W.shape[1]
    coefs = np.empty((R1, M, p))
    sse = np.empty((R1, M))
    for j in range(nX):
        A = np.empty((R1, p, p))
        A[:, iu[0], iu[1]] = S[:, j * nq:(j + 1) * nq]
        A[:, iu[1], iu[0]] = S[:, j * nq:(j + 1) * nq]
        cols = list(range(M)) if shared else [j]
        Bm = XtWY[:, :, cols]
        b = np.linalg.solve(A, Bm)  # (R+1, p, m)
        sse[:, cols] = swyy[:, cols] - np.einsum("rpm,rpm->rm", b, Bm)
        if has_icept:  # intercept = a_c + ybar - sum(b * shift)
            k = int(np.nonzero(ones)[0][0])
            b[:, k, :] += Ybar[cols][None, :] - np.einsum("p,rpm->rm", shifts[j], b)
        coefs[:, cols, :] = np.transpose(b, (0, 2, 1))
    r2 = 1.0 - sse / sst
    return np.concatenate([coefs, r2[:, :, None]], axis=2)


def _totals(ledger: RowLedger) -> tuple[int, int]:
    """Pupils used, and pupils left out for a missing ``by`` or analysis value (from the ledger)."""
    left_out = sum(e.n_dropped for e in ledger.entries if e.step != "in the groups compared")
    return int(ledger.n), int(left_out)


def _sortable(values) -> bool:
    try:
        np.sort(values)
        return True
    except TypeError:
        return False


def _replicate_columns(data: pd.DataFrame, replicates) -> list[str]:
    if isinstance(replicates, str):
        pat = re.compile("^" + re.escape(replicates) + r"(\d+)$")
        found = [(int(m.group(1)), c) for c in data.columns if (m := pat.match(str(c)))]
        if not found:
            raise ColumnError(f"No replicate weight columns named {replicates!r} + number "
                              f"(for example {replicates}1) are in the data.")
        return [c for _, c in sorted(found)]
    cols = require_columns(data, list(replicates), role="replicate weight column")
    if not cols:
        raise ColumnError("`replicates` is empty.")
    return cols


def _check_replicate_weights(data: pd.DataFrame, cols: list[str], w: np.ndarray) -> None:
    """Replicate weights that can give a standard error: they vary, and follow the final weight.

    Every replicate equal to the final weight gives a standard error of 0 (an
    interval of no width, read as certainty).  A pupil with final weight 0
    but a positive replicate weight contradicts how replicate weights are made
    (the final weight times a factor), so the replicates belong to other data.
    """
    full, reps = w[:, 0], w[:, 1:]
    if not (full > 0).any():
        raise DataError(f"Every final weight in {cols[0]!r} is 0: no pupil counts, so nothing can be estimated.")
    if reps.shape[1] and np.allclose(reps, full[:, None], rtol=1e-12, atol=0):
        raise DataError(
            f"Every replicate weight ({cols[1]!r} ... {cols[-1]!r}) equals the final weight {cols[0]!r} for every "
            "pupil, so the replicates carry no variance: every standard error would be 0 and every interval "
            "of no width. Check that the replicate columns are the survey's replicate weights (for PISA, "
            "W_FSTR1-80), not copies of the final weight.")
    zero = (full == 0) & (reps > 0).any(axis=1)
    if zero.any():
        rows = np.flatnonzero(zero)
        j = int(np.flatnonzero(reps[rows[0]] > 0)[0])
        raise DataError(
            f"{int(zero.sum())} pupil{'s have' if zero.sum() != 1 else ' has'} final weight 0 in {cols[0]!r} but a "
            f"positive replicate weight ({describe_rows((rows + 1).tolist())}, counted from 1; for example "
            f"{cols[1 + j]!r} = {reps[rows[0], j]:g}). A replicate weight is the final weight times a factor, "
            "so the two cannot both hold: check that the weights come from one file and one release.")


def _pv_groups(data: pd.DataFrame, pv) -> dict[str, list[str]]:
    if pv is None:
        return {}
    if isinstance(pv, str):
        if pv != "auto":
            raise DataError(f"`pv` must be a dict, 'auto' or None, but {pv!r} was passed.")
        groups: dict[str, list[tuple[int, str]]] = {}
        for c in data.columns:
            m = _PV_PATTERN.match(str(c))
            if m:
                groups.setdefault(m.group(2), []).append((int(m.group(1)), c))
        out = {}
        for name, items in groups.items():
            nums = sorted(i for i, _ in items)
            if len(items) >= 2 and nums == list(range(1, len(items) + 1)):
                out[name] = [c for _, c in sorted(items)]
        return out
    out = {}
    for name, cols in dict(pv).items():
        cols = require_columns(data, list(cols), role=f"plausible value of {name!r}")
        if len(cols) < 2:
            raise DataError(f"Plausible-value group {name!r} needs at least 2 columns.")
        if name in data.columns:
            raise ColumnError(f"Plausible-value name {name!r} is also a column of the data; rename one.")
        out[str(name)] = cols
    return out
