"""Result objects and the row ledger shared by every estimator.

A result is a small frozen dataclass: its headline numbers are attributes,
``to_frame()`` returns a tidy table, ``summary()`` a readable text and
``_repr_html_`` a table for notebooks.  Numbers are never rounded inside a
result; only the display rounds.

The :class:`RowLedger` counts pupils in and out of every step with a reason,
so any analysis can print the flow from the raw file to a model's N.

Imports nothing from the rest of the package except ``_errors``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ._errors import DataError

__all__ = ["TIDY_COLUMNS", "Estimate", "EstimateTable", "Interval", "MatrixResult", "Result", "RowLedger", "LedgerEntry", "coef_table", "format_p", "tidy"]

#: Column names that start every tidy table of estimates in the library (those that apply, in this
#: order; docs/api/conventions.md).
TIDY_COLUMNS = ["term", "estimate", "se", "ci_low", "ci_high", "statistic", "df", "p", "n"]


def coef_table(terms, estimate, se, df=np.inf, *, ci_level: float = 0.95) -> pd.DataFrame:
    """The library's one coefficient table: estimates, SEs, Wald statistics, p-values and intervals.

    ``df`` is one number or one per term; ``np.inf`` (the default) gives normal-theory p-values and
    intervals.  A term named ``Intercept`` is shown as ``(Intercept)``, as R shows it.  The table is
    indexed by ``term`` and its columns are the tidy ones: ``estimate, se, ci_low, ci_high,
    statistic, df, p``.

    >>> t = coef_table(["Intercept", "x"], [1.0, 0.5], [0.5, 0.25], df=10)
    >>> list(t.index), list(t.columns)
    (['(Intercept)', 'x'], ['estimate', 'se', 'ci_low', 'ci_high', 'statistic', 'df', 'p'])
    >>> round(float(t.loc["x", "p"]), 4)
    0.0734
    """
    from scipy import stats

    estimate = np.asarray(estimate, dtype=float).reshape(-1)
    se = np.asarray(se, dtype=float).reshape(-1)
    df = np.broadcast_to(np.asarray(df, dtype=float), estimate.shape).copy()
    if not 0 < ci_level < 1:
        raise ValueError(f"ci_level must be between 0 and 1; got {ci_level!r}.")
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = estimate / se
    normal = ~np.isfinite(df)
    safe_df = np.where(normal, 1.0, df)
    p = np.where(normal, 2 * stats.norm.sf(np.abs(stat)), 2 * stats.t.sf(np.abs(stat), safe_df))
    crit = np.where(normal, stats.norm.ppf(0.5 + ci_level / 2), stats.t.ppf(0.5 + ci_level / 2, safe_df))
    index = pd.Index(["(Intercept)" if str(t) == "Intercept" else str(t) for t in terms], name="term")
    return pd.DataFrame({"estimate": estimate, "se": se, "ci_low": estimate - crit * se,
                         "ci_high": estimate + crit * se, "statistic": stat, "df": df, "p": p}, index=index)


def tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """Order a table's columns so that the tidy columns that are present come first.

    A table indexed by ``term`` gets the index back as its first column.
    """
    if frame.index.name == "term":
        frame = frame.reset_index()
    first = [c for c in TIDY_COLUMNS if c in frame.columns]
    return frame[first + [c for c in frame.columns if c not in first]]


def format_p(p: float) -> str:
    """Format a p-value the APA way (``p < .001``, ``p = .034``)."""
    if p != p:  # NaN
        return "p = NA"
    if p < 0.001:
        return "p < .001"
    return f"p = {p:.3f}".replace("0.", ".", 1)


@dataclasses.dataclass(frozen=True)
class Result:
    """Base class of result objects.

    Subclasses are frozen dataclasses; they override :meth:`to_frame` and
    usually :attr:`title`.  The display helpers here round for reading only.
    """

    #: heading used by :meth:`summary` and the HTML repr
    title = "Result"
    #: decimals shown by the display (the stored numbers are never rounded)
    display_digits = 3

    def to_frame(self) -> pd.DataFrame:  # pragma: no cover - overridden
        """Return the result as a tidy DataFrame."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                  if _is_scalar(getattr(self, f.name))}
        return pd.DataFrame([fields])

    def notes(self) -> list[str]:
        """Lines printed under the table (method, N, exclusions)."""
        return []

    def summary(self) -> str:
        """A readable plain-text summary."""
        table = self.to_frame()
        text = table.to_string(float_format=lambda v: f"{v:.{self.display_digits}f}")
        lines = [self.title, "=" * len(self.title), text]
        lines += self.notes()
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        table = self.to_frame()
        html = table.to_html(float_format=lambda v: f"{v:.{self.display_digits}f}",
                             border=0, classes="bl-table", na_rep="")
        notes = "".join(f"<p style='margin:0'><small>{n}</small></p>" for n in self.notes())
        return f"<div class='bl-result'><strong>{self.title}</strong>{html}{notes}</div>"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Estimate(Result):
    """Base class of results with one headline estimate.

    The fields are the conventions page's: ``estimate, se, ci_low, ci_high,
    ci_level, p, df, n, n_excluded``.  Those a method does not give are NaN
    (``n`` None).  Subclasses add their own fields (keyword-only here, so a
    subclass may declare fields without defaults) and set ``term``, the
    name of the estimate in :meth:`to_frame`.
    """

    estimate: float
    se: float = float("nan")
    ci_low: float = float("nan")
    ci_high: float = float("nan")
    ci_level: float = 0.95
    p: float = float("nan")
    df: float = float("nan")
    n: int | None = None
    n_excluded: int = 0

    title = "Estimate"
    term: ClassVar[str] = "estimate"   # the ``term`` of the one row of to_frame()

    def to_frame(self) -> pd.DataFrame:
        """One row: term, then the tidy columns, then the subclass's other numbers and labels."""
        row: dict[str, Any] = {"term": self.term}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if _is_scalar(value) or isinstance(value, (np.floating, np.integer)):
                row[f.name] = value
        return tidy(pd.DataFrame([row]))


@dataclasses.dataclass(frozen=True, kw_only=True)
class Interval(Estimate):
    """An estimate with a confidence interval and the method that gave the interval.

    What the interval helpers return (:func:`belonging_lib.reliability.feldt_ci`,
    ``belonging_lib.models.mediation.bootstrap_ci``,
    ``belonging_lib.trials.effect_sizes.ncp_t_interval``): read ``ci_low`` and ``ci_high``.
    """

    ci_method: str = ""

    title = "Confidence interval"

    def notes(self) -> list[str]:
        return [f"CI: {self.ci_method}, {self.ci_level:.0%}."] if self.ci_method else []


@dataclasses.dataclass(frozen=True, kw_only=True)
class EstimateTable(Result):
    """Base class of results that are a table of several estimates, one row each.

    What a function returns when it gives one estimate per group, score, item or term: the rows are
    in ``table`` (never changed after the result is made), and :meth:`to_frame` gives a copy with
    the label columns (``keys``) first, then the tidy columns that apply (``term, estimate, se,
    ci_low, ci_high, statistic, df, p, n``), then the others.  Subclasses set :attr:`title` and may
    add fields.
    """

    table: pd.DataFrame = dataclasses.field(repr=False)
    #: the columns that label a row (a group, a score, an item), shown first
    keys: tuple[str, ...] = ()

    title = "Estimates"

    def to_frame(self) -> pd.DataFrame:
        """A copy of the table: label columns, then the tidy columns, then the rest."""
        frame = tidy(self.table.copy())
        keys = [c for c in self.keys if c in frame.columns]
        frame = frame[keys + [c for c in frame.columns if c not in keys]]
        return frame.reset_index(drop=True)

    def __len__(self) -> int:
        return len(self.table)


@dataclasses.dataclass(frozen=True, kw_only=True)
class MatrixResult(Result):
    """Base class of results that are a square matrix of estimates (correlations, covariances).

    The matrix itself is ``matrix`` (a labelled DataFrame, rows and columns the same names);
    :meth:`to_frame` gives it as a tidy table with one row per pair.
    """

    matrix: pd.DataFrame = dataclasses.field(repr=False)

    title = "Matrix"
    #: whether ``to_frame()`` lists the diagonal (variances yes, correlations of 1 no)
    diagonal: ClassVar[bool] = True

    def to_frame(self) -> pd.DataFrame:
        """One row per pair of names (each pair once): ``term`` (``a ~~ b``), ``estimate``, ``row``, ``column``."""
        names = [str(c) for c in self.matrix.columns]
        values = self.matrix.to_numpy(dtype=float)
        rows = []
        for i, a in enumerate(names):
            for j in range(i if self.diagonal else i + 1, len(names)):
                rows.append({"term": f"{a} ~~ {names[j]}", "estimate": float(values[i, j]), "row": a,
                             "column": names[j]})
        return pd.DataFrame(rows, columns=["term", "estimate", "row", "column"])

    def to_numpy(self) -> np.ndarray:
        """The matrix as a NumPy array (rows and columns in the order of ``matrix``)."""
        return self.matrix.to_numpy(dtype=float)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (int, float, str, bool)) or value is None


@dataclasses.dataclass(frozen=True)
class LedgerEntry:
    """One step of a row ledger: how many rows went in and out, and why."""

    step: str
    n_in: int
    n_out: int
    reason: str
    dropped: tuple = ()

    @property
    def n_dropped(self) -> int:
        return self.n_in - self.n_out


class RowLedger:
    """Counts rows (pupils) through the steps of an analysis.

    Every step that removes rows records how many and why; nothing is lost
    without a line here.  ``str(ledger)`` prints the flow.

    Examples
    --------
    >>> ledger = RowLedger("pupils", start=3000, source="survey.csv")
    >>> ledger.record("complete outcome", n_out=2950, reason="ks2_score missing")
    >>> ledger.n
    2950
    """

    def __init__(self, unit: str = "rows", *, start: int | None = None, source: str = "data"):
        self.unit = unit
        self.source = source
        self.entries: list[LedgerEntry] = []
        self._start = start

    @property
    def start(self) -> int | None:
        return self._start

    @property
    def n(self) -> int | None:
        """Rows remaining after the last step."""
        if self.entries:
            return self.entries[-1].n_out
        return self._start

    def record(self, step: str, *, n_out: int, reason: str = "", n_in: int | None = None,
               dropped: Iterable[Any] = ()) -> None:
        """Record a step.  ``n_in`` defaults to the rows remaining before it."""
        if n_in is None:
            n_in = self.n if self.n is not None else n_out
        if self._start is None:
            self._start = n_in
        if n_out > n_in and "merge" not in step.lower():
            raise DataError(f"Ledger step {step!r} reports more {self.unit} out ({n_out}) than in ({n_in}).")
        self.entries.append(LedgerEntry(step, int(n_in), int(n_out), reason, tuple(dropped)))

    def record_drop(self, step: str, before: pd.Index, after: pd.Index, reason: str) -> None:
        """Record a step from the row labels before and after it."""
        dropped = before.difference(after)
        self.record(step, n_in=len(before), n_out=len(after), reason=reason, dropped=tuple(dropped))

    def extend(self, other: RowLedger) -> None:
        """Append the steps of another ledger (for example a model's exclusions)."""
        for e in other.entries:
            self.entries.append(e)

    def to_frame(self) -> pd.DataFrame:
        """The flow as a table: step, n_in, n_out, n_dropped, reason."""
        rows = [{"step": e.step, "n_in": e.n_in, "n_out": e.n_out,
                 "n_dropped": e.n_dropped, "reason": e.reason} for e in self.entries]
        return pd.DataFrame(rows, columns=["step", "n_in", "n_out", "n_dropped", "reason"])

    def __str__(self) -> str:
        lines = [f"{self._start} {self.unit} in {self.source}"]
        for e in self.entries:
            change = f"-{e.n_dropped}" if e.n_dropped >= 0 else f"+{-e.n_dropped}"
            why = f" ({e.reason})" if e.reason and e.n_dropped else ""
            lines.append(f"  {e.step}: {e.n_out} {self.unit} [{change}]{why}")
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return "<pre>" + str(self) + "</pre>"
