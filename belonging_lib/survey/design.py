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
groups): the table of every number, and what was done with which rows; the
disclosure policy is applied where the table is shown (``disclosed()``).  Every
computation is vectorised: one matrix product gives the
statistic for the full weight, all replicate weights and all plausible values
at once (no loop of 810 model fits).  The design knows no survey's column
names: PISA's are in ``belonging_lib.survey.pisa``.

Validated against R ``survey::svrepdesign`` (type ``"Fay"``, ``rho = 0.5``,
``mse = TRUE``) with ``mitools::MIcombine`` (``tests/reference/survey.R``).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .._errors import BelongingWarning, ColumnError, DataError, ModelError
from .._pooling import rubin
from .._results import Result, RowLedger, coef_table, tidy
from ..models._formula import factor_variables, numeric_design, parse_formula
from .._validation import as_frame, as_list, check_choice, check_probability, require_columns, require_numeric
from ._weighted import (_check_statistic, _check_total_weight, _empty_pv_error, _pv_groups, _replicate_columns,
                        _replicate_weight_error, _wls_solve, _wls_sums)

__all__ = ["SurveyDesign", "SurveyEstimate", "ComparisonResult", "REPLICATE_METHODS"]

#: Replicate methods and the variance scale factor each uses (R = number of replicates).
REPLICATE_METHODS = {
    "fay": "1 / (R (1 - rho)^2)",
    "brr": "1 / R",
    "jk1": "(R - 1) / R",
    "jk2": "1",
    "bootstrap": "1 / (R - 1)",
}



#: Columns that name a row of a survey table rather than describe pupils: shown even when withheld.
_LABEL_COLUMNS = ("variable", "category", "percentile", "term", "outcome", "predictor", "level_1", "level_2")

#: The test of zero, dropped from the tables of statistics that have none (means, percentages, percentiles).
_TEST_COLUMNS = ["statistic", "p"]


def _survey_notes(result) -> list[str]:
    lines = [f"{result.method}; {100 * result.ci_level:g}% intervals.",
             f"{result.n} pupils used, {result.n_excluded} left out for a missing value."]
    shown = result.to_frame()
    if "suppressed" in shown and shown["suppressed"].any():
        lines.append(f"{int(shown['suppressed'].sum())} row(s) withheld by the disclosure policy.")
    prot = result._protection
    if prot is not None and prot.data is None and prot.by:
        lines.append("Computed from a Dask DataFrame: small groups and their complements are withheld, but the "
                     "groups were not checked against the output's other tables, nor recorded for the tables "
                     "checked after it (no pupil rows to match).")
    return lines


@dataclasses.dataclass(frozen=True, eq=False)
class _Protection:
    """What the disclosure rules need to protect a survey table: the pupils behind each of its parts.

    A *unit* is one group of the breakdown (its rows are shown or withheld together); when pupils
    lack a ``by`` value, their row is a last unit that is not a group.  Positions are row positions
    of ``data``, the design's rows.
    """

    data: pd.DataFrame            # the design's rows: the disclosure context finds its pupils in them
    by: tuple                     # the breakdown columns (none: one unit, never checked against a context)
    unit: np.ndarray              # (rows,) the unit of each table row
    has_group: np.ndarray         # (units,) the unit is a group (not the pupils without a group)
    real: np.ndarray              # (units,) the unit has an estimate
    count: np.ndarray             # (units,) pupils its estimate rests on (a difference: the smaller group)
    n_excluded: np.ndarray        # (units,) pupils of the unit left out for a missing value
    used: tuple                   # per group: positions of the pupils used
    excluded: tuple               # per group: positions of the pupils left out
    labels: tuple                 # per group: its name in the disclosure context's messages
    universe: np.ndarray          # positions of every pupil in a group (the table's total)
    residual_df: np.ndarray | None = None      # (units,) a regression's residual degrees of freedom
    category_count: np.ndarray | None = None   # (rows,) pupils in each category of a percentage (inf: none)
    shown: dict = dataclasses.field(default_factory=dict)   # (policy, context) -> the protected table


def _disclose(table: pd.DataFrame, protection: _Protection | None, *, policy=None, context=None):
    """The protected version of a survey table: the one place survey results meet the disclosure rules.

    A unit (group) whose estimate rests on fewer pupils than the policy's threshold (its ``count``; a
    group without an estimate: its ``n_excluded``) is withheld; secondary suppression protects it
    from the total of the groups (``count + n_excluded`` of each group); a regression with fewer
    residual degrees of freedom than ``min_residual_df`` is withheld; the disclosure context (the one
    passed, else the active one, else the data set's own) checks the groups' pupils (``used``,
    ``excluded`` and both together, matched in ``data`` by their ID column or a fingerprint of their
    rows) against the output's other tables; last, a category of a percentage that fewer pupils than
    the threshold give (``category_count``) is withheld, with secondary suppression within its group.
    Withheld rows keep their labels (the ``by`` and label columns) and lose every other number.  A
    table is protected once for each policy and context: showing it again changes nothing.  Every step goes
    through the disclosure package's public hook, :func:`belonging_lib.disclosure.protect`.
    """
    from ..disclosure import (DisclosureContext, SuppressedTable, automatic_context, get_context, get_default_policy,
                              protect)

    policy = policy or get_default_policy()
    prot = protection
    # without a context passed or active, the data set's own: found once (it fingerprints the data)
    own = (policy, "the data set's own context") if context is None and get_context() is None else None
    if prot is not None and own in prot.shown:
        return prot.shown[own]
    ctx = None
    # a design of a Dask DataFrame has no pupil rows to match against other tables (``data`` None):
    # its groups get the threshold and complement rules only, and a context in use is told so
    if prot is not None and policy.enabled and prot.by and prot.data is None:
        if context is not None and context is not False and not isinstance(context, DisclosureContext):
            raise DataError(f"`context` must be a DisclosureContext (bl.disclosure.context()), None or False, "
                            f"not {type(context).__name__}.")
        if (context is not None and context is not False) or (context is None and get_context() is not None):
            warnings.warn("This table comes from a survey design of a Dask DataFrame, which holds no pupil rows: "
                          "its groups are neither checked against the disclosure context's other tables nor "
                          "recorded in it. Check by hand that no group can be worked out from another table of "
                          "this output, or build the design from ddf[columns].compute().",
                          BelongingWarning, stacklevel=3)
    if prot is not None and policy.enabled and prot.by and prot.data is not None:
        if context is None:
            active = get_context()
            ctx = active if active is not None else automatic_context(prot.data, policy=policy)
        elif context is not False:
            if not isinstance(context, DisclosureContext):
                raise DataError(f"`context` must be a DisclosureContext (bl.disclosure.context()), None or False, "
                                f"not {type(context).__name__}.")
            ctx = context
    if prot is not None and (policy, ctx) in prot.shown:
        return prot.shown[(policy, ctx)]
    hide = first = np.zeros(len(table), dtype=bool)
    if prot is not None and policy.enabled:
        thr = policy.threshold
        primary = prot.has_group & (np.where(prot.real, prot.count, prot.n_excluded) < thr)
        # the groups add up to the table's total: secondary suppression within them
        groups = pd.DataFrame({"n": prot.count + prot.n_excluded})
        units = protect(groups, counts="n", suppressed=primary, policy=policy, context=False,
                        blocks=[np.nonzero(prot.has_group)[0]] if prot.by else None).mask["n"].to_numpy()
        if prot.residual_df is not None:
            # too few residual df: the model is withheld, but its group is not small, so no
            # secondary suppression follows from it
            too_few = prot.real & (prot.residual_df < policy.min_residual_df)
            units = units | too_few
            primary = primary | too_few
        if ctx is not None:
            # the pupils each group uses and leaves out (shown even when few), one entry per unit
            ids = [{"used": used, "excluded": excl} for used, excl in zip(prot.used, prot.excluded)]
            ids += [None] * (len(units) - len(ids))
            names = list(prot.labels) + [""] * (len(units) - len(prot.labels))
            units = protect(groups, counts="n", suppressed=units, ids=ids, names=names, shown_small=("excluded",),
                            source=prot.data, universe=prot.universe, policy=policy,
                            context=ctx).mask["n"].to_numpy()
        hide, first = units[prot.unit], primary[prot.unit]
        if prot.category_count is not None:
            # a category that fewer pupils than the threshold give; its group's categories add up to 100%
            counts = np.where(hide, np.inf, prot.category_count)
            small = counts < thr
            blocks = [ix[np.isfinite(counts[ix])]
                      for ix in (np.nonzero(prot.unit == u)[0] for u in dict.fromkeys(prot.unit.tolist()))]
            rows = protect(pd.DataFrame({"n": counts}), counts="n", suppressed=small, policy=policy, context=False,
                           blocks=[ix for ix in blocks if len(ix)]).mask["n"].to_numpy()
            hide, first = hide | rows, first | small
    shown = SuppressedTable(*_withheld(table, hide, protection), policy, int(first.sum()),
                            int((hide & ~first).sum()), digits=2,
                            int_columns=tuple(c for c in table.columns if pd.api.types.is_integer_dtype(table[c])
                                              and not pd.api.types.is_bool_dtype(table[c])),
                            label_columns=_label_columns(table, protection))
    if prot is not None:
        prot.shown[(policy, ctx)] = shown
        if own is not None:
            prot.shown[own] = shown
    return shown


def _label_columns(table: pd.DataFrame, protection: _Protection | None) -> tuple:
    by = protection.by if protection is not None else ()
    return tuple(c for c in table.columns if c in by or c in _LABEL_COLUMNS)


def _withheld(table: pd.DataFrame, hide: np.ndarray, protection: _Protection | None):
    """The table with the numbers of the rows in ``hide`` missing, and the mask of those cells."""
    labels = _label_columns(table, protection)
    values = [c for c in table.columns if c not in labels and pd.api.types.is_numeric_dtype(table[c])]
    data = table.copy()
    mask = pd.DataFrame(False, index=table.index, columns=table.columns)
    if hide.any():
        for c in values:
            data[c] = data[c].astype(float).where(~hide)
            mask[c] = hide
    return data, mask


class _SurveyTable(Result):
    """What the survey results share: a raw table, shown through the disclosure rules."""

    display_digits = 2

    def disclosed(self, *, policy=None, context=None):
        """The table as it may be shown: small groups and categories withheld.

        The estimator keeps every number (``table``); this applies the disclosure rules where an
        output is made, as :meth:`belonging_lib.io.Missingness.group_table` does.  A group (or a
        category of a percentage) that rests on fewer pupils than the threshold has its numbers
        withheld, and so has another group whose numbers would let it be worked out from the total;
        a regression with fewer residual degrees of freedom than the policy's ``min_residual_df`` is
        withheld; a breakdown's groups are checked against the counts the output has already
        shown (the disclosure context).  Calling it again with the same policy and context gives
        the same table and records nothing new.

        Parameters
        ----------
        policy : DisclosurePolicy, optional
            The rules of the output the table goes into; default: the project's policy
            (:func:`belonging_lib.disclosure.get_default_policy`).
        context : DisclosureContext, None or False
            The output's record of the counts it has shown; default: the active context (a
            chapter's, from :func:`belonging_lib.notebook.setup`), else the one shared by the tables
            of the design's data.  ``False`` checks the table on its own.

        Returns
        -------
        SuppressedTable
            The tidy table with withheld cells missing and marked in its ``mask``; its
            ``display()`` shows them as the policy's symbol.
        """
        return _copy(_disclose(tidy(self.table.copy()), self._protection, policy=policy, context=context))

    def to_frame(self, *, disclosure: bool = True) -> pd.DataFrame:
        """The table, the tidy columns first (``estimate, se, ci_low, ci_high[, statistic], df[, p], n``).

        By default the table as it may be shown (:meth:`disclosed` under the project's policy and the
        active disclosure context), with a last column ``suppressed`` (the row's numbers were
        withheld).  ``disclosure=False`` gives every number, however few pupils it rests on, and no
        ``suppressed`` column: for secure, unpublished work, never for an output.
        """
        if not disclosure or self._protection is None:
            return tidy(self.table.copy())
        shown = self.disclosed()
        frame = shown.data
        frame["suppressed"] = shown.mask.any(axis=1).to_numpy()
        return frame

    def notes(self) -> list[str]:
        return _survey_notes(self)

    def __repr__(self) -> str:
        return self.summary()


def _copy(shown):
    """A copy of a protected table that its reader may change without changing the stored one."""
    return dataclasses.replace(shown, data=shown.data.copy(), mask=shown.mask.copy())


@dataclasses.dataclass(frozen=True)
class SurveyEstimate(_SurveyTable):
    """A survey statistic for the whole sample or by group (:class:`SurveyDesign`'s methods).

    The result holds every number, however few pupils it rests on (``table``); it is shown through
    the disclosure rules.  :meth:`disclosed` gives the table as it may be shown (a
    :class:`~belonging_lib.disclosure.SuppressedTable`), and ``to_frame()``, ``summary()``, the
    printed form and the notebook display show that protected table; ``to_frame(disclosure=False)``
    gives the raw numbers.

    Attributes
    ----------
    table : pandas.DataFrame
        Every number, before disclosure control.  One row per group (and category, percentile or
        term): the ``by`` columns, labels, ``estimate``, ``se``, ``ci_low``, ``ci_high``, ``df``,
        the Rubin variances ``var_within`` (mean replicate sampling variance over the plausible
        values) and ``var_between`` (variance between plausible values), ``n`` (pupils used) and
        ``n_excluded`` (pupils of the group left out for a missing value).  Correlations and
        regressions add the ``statistic`` and ``p`` of a test of zero (none for R-squared).
        ``to_frame()`` puts the tidy columns first and adds ``suppressed`` (numbers withheld by
        the disclosure policy).
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
    _protection: _Protection | None = dataclasses.field(default=None, repr=False, compare=False)

    title = "Survey estimate"

    disclosed = _SurveyTable.disclosed
    to_frame = _SurveyTable.to_frame
    __repr__ = _SurveyTable.__repr__


@dataclasses.dataclass(frozen=True)
class ComparisonResult(_SurveyTable):
    """A difference between two groups of a survey (:meth:`SurveyDesign.diff`).

    Shown through the disclosure rules as :class:`SurveyEstimate` (:meth:`disclosed`): the smaller
    of the two groups decides whether a row may be shown.

    Attributes
    ----------
    table : pandas.DataFrame
        Every number, before disclosure control.  One row (per ``within`` group): ``level_1``,
        ``level_2`` (the groups compared, ``estimate = level_1 - level_2``), ``estimate``, ``se``,
        ``ci_low``, ``ci_high``, ``statistic``, ``df``, ``p``, ``var_within``, ``var_between``,
        ``n`` (pupils used), ``n_1`` and ``n_2`` (of them, in each group) and ``n_excluded``.
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
    _protection: _Protection | None = dataclasses.field(default=None, repr=False, compare=False)

    title = "Survey comparison of two groups"

    disclosed = _SurveyTable.disclosed
    to_frame = _SurveyTable.to_frame
    __repr__ = _SurveyTable.__repr__


class SurveyDesign:
    """A survey design with a final weight, replicate weights and plausible values.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per pupil.  A Dask DataFrame (the ``dask`` extra) runs :meth:`mean` and
        :meth:`regress` from weighted sums computed per partition on the workers (equal to the
        in-memory results to 1e-9); the other methods need every pupil's values together and refuse
        it (pass ``ddf[columns].compute()``).  Its groups are protected by their counts (small groups,
        their complement, too few residual df), without the check against the output's other tables
        in either direction (a disclosure context in use gets a warning).
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

    The methods apply no disclosure rule: a result keeps every number with the
    pupils behind it, and the disclosure policy (:mod:`belonging_lib.disclosure`)
    is applied where an output is made, by the result's ``disclosed(policy=...,
    context=...)``, as for every group table.  There the numbers of a group (or
    of a category of :meth:`percent`) that rests on fewer pupils than the
    threshold, and those of another group that would let it be worked out from
    the total, are missing; a regression with fewer residual degrees of freedom
    than the policy's ``min_residual_df`` is withheld the same way; a
    breakdown's group counts are checked against the output's other tables
    (the disclosure context).  ``to_frame()`` and the printed and notebook
    displays show that protected table under the project's policy (withheld
    rows have ``suppressed`` True); ``to_frame(disclosure=False)`` gives every
    number (secure, unpublished work).

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
        from ..models._distributed import is_dask_frame

        self._dask = None
        self._w_total: np.ndarray | None = None  # the weights' column totals, summed once when needed
        if is_dask_frame(data):
            # the weights stay on the workers; checked there (survey/_dask.py)
            from ._dask import check_design

            self._dask = check_design(data, weight=weight, replicates=replicates, pv=pv)
            self.data = data
            self.method = check_choice("method", str(method).lower(), list(REPLICATE_METHODS))
            self.weight, self.replicates = self._dask.weight, self._dask.replicates
            self._w = None
        else:
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
        method = self.method
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
        if self._dask is not None:
            self.pv = self._dask.pv
            return
        self.pv = _pv_groups(data, pv)
        for name, pv_cols in self.pv.items():
            empty = [c for c in pv_cols if data[c].isna().all()]
            if empty:
                raise _empty_pv_error(name, empty)

    # ------------------------------------------------------------------ display
    def __repr__(self) -> str:
        pvs = ", ".join(f"{k} ({len(v)})" for k, v in self.pv.items()) or "none"
        extra = f", rho {self.rho:g}" if self.method == "fay" else ""
        rows = self._dask.n_rows if self._dask is not None else len(self.data)
        return (f"SurveyDesign({rows} rows, weight {self.weight!r}, "
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
        ``var_within``, ``var_between``, ``n`` (pupils used) and ``n_excluded``
        (pupils of the group left out for missing values); ``to_frame()`` adds
        ``suppressed`` (numbers withheld by the disclosure policy).

        Notes
        -----
        :math:`\\sum_i w_i y_i / \\sum_i w_i` for the full weight and every
        replicate weight; SE as in :class:`SurveyDesign`.  R: ``svymean``
        (``svyby`` for groups) on a ``svrepdesign``, pooled by ``MIcombine``.
        """
        self._numeric(outcome)

        def stat(W, vals, rows):
            (Y,) = vals
            return (W.T @ Y / W.sum(axis=0)[:, None])[:, :, None]  # (R+1, M, 1)

        level = self._level(ci_level)
        if self._dask is not None:
            from ._dask import mean_estimates

            sel, thetas = mean_estimates(self, outcome, by)
        else:
            sel = self._select([outcome], by)
            thetas = self._estimates(sel, stat)
        pooled = [None if theta is None else self._pool(theta, level).drop(columns=_TEST_COLUMNS)
                  for theta in thetas]
        out, unit, labels = self._assemble(sel, _labelled(pd.DataFrame({"variable": [outcome]}), pooled))
        return self._estimate(out, sel, "mean", outcome, by, ci_level, self._protection(sel, unit, labels))

    def percent(self, outcome: str, *, by: str | Sequence[str] | None = None,
                ci_level: float | None = None) -> SurveyEstimate:
        """Weighted percentage of pupils in each category of ``outcome``.

        One row per category (column ``category``); percentages of a group add
        to 100.  Notes: :math:`100 \\sum_i w_i [y_i = c] / \\sum_i w_i`; R:
        ``svymean(~factor(outcome))`` times 100.
        """
        self._in_memory_only("percent")
        var = outcome
        vals = self._values(var)
        flat = pd.unique(pd.Series(vals.reshape(-1)).dropna())
        if len(flat) > 100:
            raise DataError(f"Column {var!r} has {len(flat)} distinct values; `percent` is for "
                            "categories. Cut it into groups first.")
        cats = np.sort(flat) if _sortable(flat) else flat

        def stat(W, vals_, rows):
            (Y,) = vals_
            tot = W.sum(axis=0)
            out = np.empty((W.shape[1], Y.shape[1], len(cats)))
            for k, c in enumerate(cats):
                out[:, :, k] = 100.0 * (W.T @ (Y == c).astype(float)) / tot[:, None]
            return out

        level = self._level(ci_level)
        sel = self._select([var], by)
        pooled = [None if theta is None else self._pool(theta, level).drop(columns=_TEST_COLUMNS)
                  for theta in self._estimates(sel, stat)]
        out, unit, labels = self._assemble(sel, _labelled(pd.DataFrame({"variable": var, "category": cats}), pooled))
        # pupils in each category of each group, the fewest over plausible values (for disclosure)
        counts = np.full(len(out), np.inf)
        for k, member in enumerate(sel.members):
            rows = np.nonzero((unit == k) & (out["n"].to_numpy() > 0))[0]
            for i in rows:
                counts[i] = min(int(((vals[:, m] == out["category"].iloc[i]) & member).sum())
                                for m in range(vals.shape[1]))
        return self._estimate(out, sel, "percent", var, by, ci_level,
                              self._protection(sel, unit, labels, category_count=counts))

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
        self._in_memory_only("percentile")
        var = outcome
        self._numeric(var)
        qs = np.atleast_1d(np.asarray(q, dtype=float))
        if np.any((qs <= 0) | (qs >= 100)):
            raise DataError(f"`q` must lie strictly between 0 and 100 (percent), but {q!r} was passed.")
        p = qs / 100.0

        def stat(W, vals, rows):
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

        level = self._level(ci_level)
        sel = self._select([var], by)
        pooled = [None if theta is None else self._pool(theta, level).drop(columns=_TEST_COLUMNS)
                  for theta in self._estimates(sel, stat)]
        out, unit, labels = self._assemble(sel, _labelled(pd.DataFrame({"variable": var, "percentile": qs}), pooled))
        return self._estimate(out, sel, "percentile", var, by, ci_level, self._protection(sel, unit, labels))

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
        self._in_memory_only("corr")
        x, y = outcome, predictor
        self._numeric(x)
        self._numeric(y)

        def stat(W, vals, rows):
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

        level = self._level(ci_level)
        sel = self._select([x, y], by)
        pooled = [None if theta is None else self._pool(theta, level) for theta in self._estimates(sel, stat)]
        out, unit, labels = self._assemble(sel, _labelled(pd.DataFrame({"outcome": [x], "predictor": [y]}), pooled))
        return self._estimate(out, sel, "corr", x, by, ci_level, self._protection(sel, unit, labels), predictor=y)

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
        self._in_memory_only("diff")
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

        def fn(W, vals, rows):
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
        level = self._level(ci_level)
        sel = self._select([var], within, codes=gcodes,
                           outside=f"not in group {levels[0]!r} or {levels[1]!r} of {by!r}")
        pooled = [None if theta is None else self._pool(theta, level) for theta in self._estimates(sel, fn)]
        out, unit, group_labels = self._assemble(sel, _labelled(labels, pooled),
                                                 counts=lambda rows: {"n_1": int((gcodes[rows] == 0).sum()),
                                                                      "n_2": int((gcodes[rows] == 1).sum())})
        # the smaller of the two groups decides whether a difference may be shown
        smaller = out.groupby(unit, sort=True)[["n_1", "n_2"]].first().min(axis=1).fillna(0).to_numpy()
        n, n_excl = _totals(sel.ledger)
        return ComparisonResult(out, stat, var, (by,), self.weight, self._method_text(sel.n_pv),
                                self.ci_level if ci_level is None else ci_level, n, n_excl, sel.ledger,
                                tuple(as_list(within)), self._protection(sel, unit, group_labels, count=smaller))

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
        fitted_terms: list[list[str]] = []      # the design matrix's columns, group by group

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
                frame = frame_for(rows, 0)
                plain = numeric_design(rhs_desc, frame, outcome=False)  # patsy's matrix, from the columns
                if plain is not None:
                    terms, Xs = list(plain[2]), [plain[1]]
                else:
                    X = patsy.dmatrix(rhs_desc, frame, NA_action="raise")
                    terms = list(X.design_info.column_names)
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
                    terms = list(xd.design_info.column_names)
                    Xs.append(np.asarray(xd, dtype=float))
                    ys.append(np.asarray(yd, dtype=float)[:, 0])
                Y = np.column_stack(ys)
            fitted_terms.append(terms)
            return _wls_all(W, Xs, np.asarray(Y, dtype=float), info)

        level = self._level(ci_level)
        if self._dask is not None:
            from ._dask import regress_estimates

            sel, thetas, fitted_terms = regress_estimates(self, formula, desc, used, outcome, rhs_pv, n_pv, by)
        else:
            sel = self._select(used, by)
            thetas = self._estimates(sel, fn)
        terms_of = iter(fitted_terms)
        pooled = []
        for theta in thetas:
            if theta is None:
                pooled.append(None)
                continue
            table = self._pool(theta, level, next(terms_of) + ["R-squared"])
            table.loc[table.index[-1], _TEST_COLUMNS] = np.nan     # R-squared has no test
            pooled.append(table.reset_index())
        out, unit, labels = self._assemble(sel, pooled)
        n_coef = [0 if t is None else len(t) - 1 for t in pooled]
        return self._estimate(out, sel, "regress", outcome or ", ".join(lhs_names), by, ci_level,
                              self._protection(sel, unit, labels, n_coef=n_coef), formula=formula)

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
        self._in_memory_only("multilevel")
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
        if not isinstance(formula, str):
            raise DataError(f"`formula` must be a string such as 'outcome ~ predictors', but {formula!r} "
                            "was passed.")
        if "~" not in formula:
            raise DataError(f"`formula` must look like 'outcome ~ predictors', but {formula!r} was passed.")
        try:
            desc = parse_formula(formula)
        except ModelError as exc:  # a malformed formula is bad input to a survey estimate
            raise DataError(str(exc)) from None
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
        """Columns and plausible-value groups that one patsy factor reads (``C(g)``, ``I(x**2)``, ``x``):
        the package's formula reader (:func:`belonging_lib.models._formula.factor_variables`) with the
        plausible-value groups as variables too."""
        known = set(self.pv) | set(self.data.columns)
        return factor_variables(code, known, what="a column of the data or a plausible-value group")

    def _numeric(self, var: str) -> None:
        data = self.data._meta if self._dask is not None else self.data
        if var in self.pv:
            require_numeric(data, self.pv[var])
        else:
            require_columns(data, var, role="analysis variable")
            require_numeric(data, var)

    def _in_memory_only(self, method: str) -> None:
        """Refuse a method that needs every pupil's values together on a design of a Dask DataFrame."""
        if self._dask is not None:
            raise DataError(
                f"SurveyDesign.{method}() needs every pupil's values in memory, and this design holds a Dask "
                "DataFrame: on a Dask DataFrame only mean() and regress() run (from sums over the partitions). "
                "For the others, select the columns you need and pass a pandas DataFrame: "
                "SurveyDesign(ddf[columns].compute(), ...).")

    def _columns_of(self, var: str) -> list[str]:
        if var in self.pv:
            return list(self.pv[var])
        return require_columns(self.data, var, role="analysis variable")

    def _values(self, var: str) -> np.ndarray:
        cols = self._columns_of(var)
        series = [self.data[c] for c in cols]
        if all(pd.api.types.is_numeric_dtype(s) for s in series):
            out = np.empty((len(self.data), len(cols)), order="F")  # column by column, no frame copied
            for j, s in enumerate(series):
                out[:, j] = s.to_numpy(dtype=float, na_value=np.nan)
            return out
        return self.data[cols].to_numpy(dtype=object)

    def _n_pv_of(self, variables: Sequence[str]) -> int:
        counts = {len(self.pv[v]) for v in variables if isinstance(v, str) and v in self.pv}
        if len(counts) > 1:
            raise DataError("Plausible-value groups used together must have the same number of "
                            f"plausible values, but {sorted(counts)} were found.")
        return counts.pop() if counts else 1

    def _method_text(self, n_pv: int) -> str:
        extra = f", rho {self.rho:g}" if self.method == "fay" else ""
        return (f"{self.method} replicate weights ({len(self.replicates)}{extra}), "
                f"{n_pv} plausible value(s), Rubin's rules")

    # An analysis is four steps, each public method calling them in turn: _select (the rows and
    # the exclusions, in a ledger), _estimates (the statistic for every weight column and plausible
    # value, group by group), _pool (replicate variance and Rubin's rules), _assemble (the table).
    # The result carries _protection, what the disclosure rules need to protect the table.

    def _level(self, ci_level) -> float:
        return self.ci_level if ci_level is None else check_probability("ci_level", ci_level)

    def _select(self, variables: Sequence[str], by, *, codes: np.ndarray | None = None,
                outside: str | None = None) -> _Selection:
        """The rows of an analysis: its variables' values, its groups, and every pupil left out.

        ``codes`` (a difference between two groups): one number per row, NaN for a pupil in
        neither group, who is outside the comparison for the reason ``outside``; it is passed to
        the statistic after the variables.
        """
        by_cols = require_columns(self.data, as_list(by), role="group column")
        arrays = [self._values(v) for v in variables]
        subset = np.ones(len(self.data), dtype=bool)
        if codes is not None:
            codes = np.asarray(codes, dtype=float)
            subset = ~np.isnan(codes)
            arrays.append(codes[:, None])
        n_pv = self._n_pv_of(variables)
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
        members = []
        for key in groups:
            member = ~gmiss & subset
            for c, val in zip(by_cols, key):
                member &= (self.data[c] == val).to_numpy()
            members.append(member)
        ledger = RowLedger("pupils", start=len(self.data), source="the survey design")
        if outside is not None:
            ledger.record("in the groups compared", n_out=int(subset.sum()), reason=outside)
        if by_cols:
            ledger.record("breakdown value present", n_out=int((subset & ~gmiss).sum()),
                          reason=f"missing {', '.join(map(str, by_cols))}")
        ledger.record("analysis values present", n_out=int((subset & ~gmiss & ~missing).sum()),
                      reason=f"missing {', '.join(variables)}")
        return _Selection(list(variables), arrays, n_pv, by_cols, groups, members, missing,
                          int((gmiss & subset).sum()) if by_cols else 0, np.nonzero(~gmiss & subset)[0], ledger)

    def _estimates(self, sel: _Selection, stat, *, variances: bool = False) -> list[np.ndarray | None]:
        """The statistic of each group for every weight column and plausible value.

        ``stat(W, values, rows)`` gets the weights (n, R + 1) of the group's complete pupils, their
        values (one (n, M) array per variable; a variable without plausible values repeated M
        times) and their row positions, and returns (R + 1, M, K).  A group whose pupils all miss a
        value has none (``None``).  With ``variances`` (a statistic whose sampling variance is not
        from the replicates) it returns (2, M, K), the estimates then their variances, and only the
        estimates must be finite (a variance may be undefined: NaN).
        """
        weight_cols = [self.weight] + self.replicates
        thetas: list[np.ndarray | None] = []
        for key, member in zip(sel.keys, sel.members):
            use = member & ~sel.missing
            if use.all():  # no copy of the weights when every row is used
                rows = np.arange(len(use))
                W, vals = self._w, list(sel.arrays)
                if self._w_total is None:
                    self._w_total = self._w.sum(axis=0)
                total = self._w_total
            else:
                rows = np.nonzero(use)[0]
                if len(rows) == 0:
                    thetas.append(None)
                    continue
                W = self._w[rows]
                vals = [a[rows] for a in sel.arrays]
                total = W.sum(axis=0)
            vals = [np.broadcast_to(v, (len(rows), sel.n_pv)) if v.shape[1] == 1 and sel.n_pv > 1 else v
                    for v in vals]
            where = f"group {key!r}" if sel.by else "the data"
            _check_total_weight(total, where, len(rows), weight_cols)
            try:
                with np.errstate(divide="ignore", invalid="ignore"):
                    theta = stat(W, vals, rows)
            except np.linalg.LinAlgError as exc:
                raise ModelError(f"The regression cannot be estimated in {where}: "
                                 f"{exc}. Check for predictors with no variation.") from None
            checked = theta[:1] if variances else theta     # a sampling variance may be undefined (NaN)
            _check_statistic(checked, sel.names, where, len(rows), weight_cols)
            thetas.append(theta)
        if all(theta is None for theta in thetas):
            raise DataError(f"No pupil has complete values for {sel.names}.")
        return thetas

    def _pool(self, theta: np.ndarray, level: float, terms: list | None = None) -> pd.DataFrame:
        """theta (R+1, M, K) -> estimate, se, interval, test of zero, df and the Rubin variances.

        The sampling variance of each plausible value's statistic comes from the replicates; the
        plausible values are pooled by Rubin's rules (``belonging_lib._pooling.rubin``), and the
        table is the library's coefficient table (``_results.coef_table``), indexed by ``terms``
        (default: 0 ... K - 1).
        """
        full = theta[0]  # (M, K)
        reps = theta[1:]
        centre = full if self.mse else reps.mean(axis=0)
        dev = reps - centre[None]
        v_m = self.scale * np.einsum("r,rmk->mk", self.rscales, dev ** 2)
        pooled = rubin(full, v_m)
        table = coef_table(list(range(theta.shape[2])) if terms is None else terms, pooled.estimate, pooled.se,
                           pooled.df, ci_level=level)
        table["var_within"] = pooled.var_within
        table["var_between"] = pooled.var_between
        return table

    def _assemble(self, sel: _Selection, blocks: list, counts=None) -> tuple[pd.DataFrame, np.ndarray, list]:
        """The table: each group's block, its pupils used and left out, and its ``by`` values.

        ``blocks`` holds one table per group (``None`` for a group without an estimate);
        ``counts(rows)`` adds columns of pupil counts from the rows a group used.  Every pupil is
        counted: a group without an estimate is a row with ``n`` 0, and the pupils without a ``by``
        value are a last row.  Returns the table, the unit (group) of each row, and a label of each
        group for the disclosure rules.
        """
        records: list[pd.DataFrame | None] = []
        for k, (key, block) in enumerate(zip(sel.keys, blocks)):
            if block is None:
                records.append(None)
                continue
            block["n"] = len(sel.used(k))
            if counts is not None:          # pupils behind each part of the statistic (e.g. each group)
                for name, value in counts(sel.used(k)).items():
                    block[name] = value
            block["n_excluded"] = len(sel.excluded(k))
            for c, val in reversed(list(zip(sel.by, key))):
                block.insert(0, c, val)
            records.append(block)
        template = next(b for b in records if b is not None)
        filled = [_empty_block(template, sel.by, key, len(sel.excluded(k))) if b is None else b
                  for k, (key, b) in enumerate(zip(sel.keys, records))]
        if sel.by and sel.n_without_group:
            filled.append(_empty_block(template, sel.by, (None,) * len(sel.by), sel.n_without_group))
        labels = [f"group {b[sel.by].iloc[0].tolist()!r}" for b in filled[:len(sel.keys)]]
        unit = np.repeat(np.arange(len(filled)), [len(b) for b in filled])
        return pd.concat(filled, ignore_index=True), unit, labels

    def _protection(self, sel: _Selection, unit: np.ndarray, labels: list, *, count=None, n_coef=None,
                    category_count=None) -> _Protection:
        """What the disclosure rules need: per group its pupils used and left out (see ``_disclose``).

        ``count``: the pupils each unit's estimate rests on (default: those used); ``n_coef``: a
        regression's coefficients per group (its residual df are the pupils used less these);
        ``category_count``: the pupils in each row's category (a percentage).
        """
        n_units = int(unit.max()) + 1
        groups = len(sel.keys)
        used = tuple(sel.used(k) for k in range(groups))
        excluded = tuple(sel.excluded(k) for k in range(groups))
        pad = [0] * (n_units - groups)                   # the pupils without a group: no estimate
        n_used = np.array([len(u) for u in used] + pad, dtype=float)
        return _Protection(
            None if self._dask is not None else self.data, tuple(sel.by), unit, np.arange(n_units) < groups, n_used > 0,
            n_used if count is None else np.asarray(count, dtype=float),
            np.array([len(e) for e in excluded] + [sel.n_without_group] * (n_units - groups), dtype=float),
            used, excluded, tuple(labels), sel.universe,
            None if n_coef is None else n_used - np.array(list(n_coef) + pad, dtype=float),
            category_count)

    def _estimate(self, out: pd.DataFrame, sel: _Selection, kind: str, outcome: str, by, ci_level,
                  protection: _Protection, **extra) -> SurveyEstimate:
        level = self.ci_level if ci_level is None else ci_level
        n, n_excl = _totals(sel.ledger)
        return SurveyEstimate(out, kind, outcome, tuple(as_list(by)), self.weight, self._method_text(sel.n_pv),
                              level, n, n_excl, sel.ledger, **extra, _protection=protection)


@dataclasses.dataclass(frozen=True, eq=False)
class _Selection:
    """The rows of one analysis (``SurveyDesign._select``)."""

    names: list                 # the analysis variables (columns or plausible-value groups)
    arrays: list                # their values, (n, M) or (n, 1); a difference's group codes last
    n_pv: int
    by: list
    keys: list                  # one tuple of ``by`` values per group, sorted
    members: list               # one boolean mask per group (inside the comparison)
    missing: np.ndarray         # a missing analysis value
    n_without_group: int        # pupils of the comparison without a ``by`` value
    universe: np.ndarray        # positions of the pupils in a group
    ledger: RowLedger

    def used(self, k: int) -> np.ndarray:
        return np.nonzero(self.members[k] & ~self.missing)[0]

    def excluded(self, k: int) -> np.ndarray:
        return np.nonzero(self.members[k] & self.missing)[0]


def _labelled(labels: pd.DataFrame, pooled: list) -> list:
    """Each group's pooled table after the columns that label its rows (``None`` stays ``None``)."""
    return [None if p is None else pd.concat([labels.reset_index(drop=True), p.reset_index(drop=True)], axis=1)
            for p in pooled]


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
    :math:`x_j x_k`, :math:`x_j y_m`, :math:`y_m`, :math:`y_m^2` and 1
    (:func:`_wls_sums`); :func:`_wls_solve` solves from them.
    """
    M = Y.shape[1]
    p = Xs[0].shape[1]
    ones = np.all(Xs[0] == 1, axis=0)
    has_icept = bool(ones.any())
    # Centre (by unweighted means) for accuracy; the intercept is restored afterwards.
    Ybar = Y.mean(axis=0) if has_icept else np.zeros(M)
    shifts = [np.where(ones, 0.0, X.mean(axis=0)) if has_icept else np.zeros(p) for X in Xs]
    S = _wls_sums(W, Xs, Y, shifts, Ybar, ones)
    return _wls_solve(S, shifts, Ybar, ones, M)


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


def _replicates_equal_full(reps: np.ndarray, full: np.ndarray) -> bool:
    """Every replicate weight equals the final weight (to 1e-12, relative).  The first rows are
    compared first: replicates that differ there answer at once, without a pass over every pupil."""
    head = min(len(full), 1024)
    if not np.allclose(reps[:head], full[:head, None], rtol=1e-12, atol=0):
        return False
    return bool(np.allclose(reps, full[:, None], rtol=1e-12, atol=0))


def _check_replicate_weights(data: pd.DataFrame, cols: list[str], w: np.ndarray) -> None:
    """Replicate weights that can give a standard error: they vary, and follow the final weight.

    Every replicate equal to the final weight gives a standard error of 0 (an
    interval of no width, read as certainty).  A pupil with final weight 0
    but a positive replicate weight contradicts how replicate weights are made
    (the final weight times a factor), so the replicates belong to other data.
    """
    full, reps = w[:, 0], w[:, 1:]
    zero = (full == 0) & (reps > 0).any(axis=1)
    rows = np.flatnonzero(zero)
    example = (int(np.flatnonzero(reps[rows[0]] > 0)[0]), reps[rows[0], :]) if len(rows) else None
    error = _replicate_weight_error(
        cols, bool((full > 0).any()), bool(reps.shape[1] and _replicates_equal_full(reps, full)),
        int(zero.sum()), rows.tolist(), None if example is None else (example[0], example[1][example[0]]))
    if error is not None:
        raise error
