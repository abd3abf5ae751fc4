"""Disclosure control: no output describes fewer pupils than a threshold.

One policy (:class:`DisclosurePolicy`) governs every table, figure and
report that shows groups of pupils.  It is **on by default** with a threshold
of 10 pupils (the rule used by secure research services in England).  Set it
per project with :func:`set_default_policy`, the environment variable
``BELONGING_DISCLOSURE_THRESHOLD`` or a JSON/YAML file named by
``BELONGING_DISCLOSURE_CONFIG`` (keys ``threshold``, ``symbol``,
``secondary``, ``enabled``).

:func:`suppress` applies primary suppression (cells describing fewer than
``threshold`` pupils: counts, percentages, means, SDs) and secondary
suppression (so that a row or column total cannot reveal a suppressed
cell).  Suppressed cells are missing in the numbers and shown as ``[c]`` in
the display, with a footnote.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ._errors import DataError, DisclosureError
from ._validation import as_frame, as_list, require_columns, require_numeric

__all__ = ["DisclosurePolicy", "get_default_policy", "set_default_policy", "suppress",
           "SuppressedTable", "summarise_by", "count_by", "check_model_df", "drop_identifiers",
           "ID_PATTERNS"]


@dataclasses.dataclass(frozen=True)
class DisclosurePolicy:
    """The project's disclosure rule.

    Parameters
    ----------
    threshold : int
        Smallest number of pupils a cell may describe (default 10).
    symbol : str
        Shown in place of a suppressed cell (default ``"[c]"``, "confidential").
    secondary : bool
        Apply secondary suppression (default ``True``).
    enabled : bool
        ``False`` switches suppression off (only for secure, non-published work).

    Examples
    --------
    >>> DisclosurePolicy(threshold=5).threshold
    5
    """

    threshold: int = 10
    symbol: str = "[c]"
    secondary: bool = True
    enabled: bool = True

    def __post_init__(self):
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, (int, np.integer)) \
                or self.threshold < 1:
            raise DataError(f"DisclosurePolicy: `threshold` must be a whole number of at least 1, "
                            f"but {self.threshold!r} was passed.")

    @property
    def footnote(self) -> str:
        return (f"{self.symbol} = suppressed: the cell describes fewer than {self.threshold} pupils, "
                "or would let a suppressed cell be worked out from a total.")

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> DisclosurePolicy:
        """Read a policy from a JSON or YAML file."""
        text = open(path, encoding="utf-8").read()
        try:
            conf = json.loads(text)
        except json.JSONDecodeError:
            import yaml

            conf = yaml.safe_load(text)
        if not isinstance(conf, dict):
            raise DataError(f"Disclosure config {str(path)!r} must hold a mapping such as {{'threshold': 10}}.")
        unknown = set(conf) - {"threshold", "symbol", "secondary", "enabled"}
        if unknown:
            raise DataError(f"Disclosure config {str(path)!r} has unknown keys {sorted(unknown)}.")
        return cls(**conf)


_DEFAULT: DisclosurePolicy | None = None


def set_default_policy(policy: DisclosurePolicy | None) -> None:
    """Set the project's default policy (``None`` returns to the environment/default)."""
    global _DEFAULT
    if policy is not None and not isinstance(policy, DisclosurePolicy):
        raise DataError("set_default_policy expects a DisclosurePolicy or None.")
    _DEFAULT = policy


def get_default_policy() -> DisclosurePolicy:
    """The policy in force: set_default_policy, else the environment, else threshold 10."""
    if _DEFAULT is not None:
        return _DEFAULT
    conf = os.environ.get("BELONGING_DISCLOSURE_CONFIG")
    if conf:
        return DisclosurePolicy.from_file(conf)
    thr = os.environ.get("BELONGING_DISCLOSURE_THRESHOLD")
    if thr:
        try:
            return DisclosurePolicy(threshold=int(thr))
        except ValueError:
            raise DataError(f"BELONGING_DISCLOSURE_THRESHOLD must be a whole number, not {thr!r}.") from None
    return DisclosurePolicy()


@dataclasses.dataclass(frozen=True)
class SuppressedTable:
    """A table after disclosure control.

    Attributes
    ----------
    data : DataFrame
        Numbers, with suppressed cells set to missing.
    mask : DataFrame of bool
        ``True`` where a cell was suppressed.
    policy : DisclosurePolicy
    n_primary, n_secondary : int
        Cells suppressed because they are small, and to protect them.
    """

    data: pd.DataFrame
    mask: pd.DataFrame
    policy: DisclosurePolicy
    n_primary: int = 0
    n_secondary: int = 0
    digits: int = 2
    int_columns: tuple = ()
    label_columns: tuple = ()

    @property
    def footnote(self) -> str:
        return self.policy.footnote if (self.n_primary or self.n_secondary) else ""

    @property
    def shown(self) -> pd.DataFrame:
        """The rows with nothing suppressed (for example, the groups a figure may draw)."""
        return self.data[~self.mask.any(axis=1).to_numpy()].copy()

    def pivot(self, *, index: str, columns: str, values: str) -> SuppressedTable:
        """Reshape a long table to wide, keeping which cells are suppressed.

        Examples
        --------
        >>> t = pd.DataFrame({"country": ["A", "A", "B", "B"], "q": [25, 75, 25, 75],
        ...                   "value": [1.0, 2.0, 3.0, 4.0], "n": [40, 40, 6, 6]})
        >>> suppress(t, count_col="n", labels="q").pivot(index="country", columns="q",
        ...                                                    values="value").display()[25].tolist()
        ['1.00', '[c]']
        """
        require_columns(self.data, [index, columns, values], role="pivot column")
        data = self.data.pivot(index=index, columns=columns, values=values)
        mask = self.mask.assign(**{index: self.data[index], columns: self.data[columns]}) \
            .pivot(index=index, columns=columns, values=values).fillna(False).astype(bool)
        mask = mask.loc[data.index, data.columns]
        whole = [int(c) if isinstance(c, float) and c.is_integer() else c for c in data.columns]
        data.columns = mask.columns = pd.Index(whole, name=columns)       # 25.0 -> 25 in the header
        return dataclasses.replace(self, data=data, mask=mask, int_columns=(), label_columns=())

    def round(self, digits: int) -> SuppressedTable:
        """The same table, displayed with ``digits`` decimals."""
        return dataclasses.replace(self, digits=int(digits))

    def display(self, *, digits: int | None = None) -> pd.DataFrame:
        """Strings for showing: numbers rounded, suppressed cells as the symbol."""
        digits = self.digits if digits is None else digits
        out = self.data.copy().astype(object)
        for col in out.columns:
            values = self.data[col]
            if col in self.label_columns and pd.api.types.is_float_dtype(values):
                out[col] = ["" if pd.isna(v) else f"{v:g}" for v in values]   # a code: 3, not 3.00
            elif pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
                is_int = col in self.int_columns or col in ("n", "count") or str(col).startswith("n_")
                out[col] = [("" if pd.isna(v) else (f"{int(v)}" if is_int else f"{v:.{digits}f}")) for v in values]
            out[col] = out[col].where(~self.mask[col], self.policy.symbol)
        return out

    def to_frame(self) -> pd.DataFrame:
        return self.data.copy()

    def to_markdown(self, *, digits: int | None = None) -> str:
        shown = self.display(digits=digits)
        if not isinstance(shown.index, pd.RangeIndex):
            shown = shown.reset_index()
        head = "| " + " | ".join(map(str, shown.columns)) + " |"
        rule = "|" + "---|" * shown.shape[1]
        body = ["| " + " | ".join(map(str, r)) + " |" for r in shown.itertuples(index=False)]
        text = "\n".join([head, rule] + body)
        return text + (f"\n\n{self.footnote}" if self.footnote else "")

    def _repr_html_(self) -> str:
        html = self.display().to_html(border=0, classes="bl-table", na_rep="")
        note = f"<p style='margin:0'><small>{self.footnote}</small></p>" if self.footnote else ""
        return f"<div class='bl-suppressed'>{html}{note}</div>"

    def __str__(self) -> str:
        return self.display().to_string() + (f"\n{self.footnote}" if self.footnote else "")


def _secondary(counts: np.ndarray, primary: np.ndarray) -> np.ndarray:
    """Add cells until every row/column has zero or at least two suppressed cells.

    The extra cell is the smallest unsuppressed one in the line (least
    information lost).  Margins (totals) are excluded by the caller.
    """
    sup = primary.copy()
    changed = True
    while changed:
        changed = False
        lines = [(i, None) for i in range(sup.shape[0])] + [(None, j) for j in range(sup.shape[1])]
        for i, j in lines:
            line = sup[i, :] if j is None else sup[:, j]
            if line.sum() == 1:
                cand = ~line
                if not cand.any():
                    continue
                vals = np.where(cand, counts[i, :] if j is None else counts[:, j], np.inf)
                k = int(np.argmin(vals))
                if j is None:
                    sup[i, k] = True
                else:
                    sup[k, j] = True
                changed = True
    return sup


def suppress(table: pd.DataFrame, *, count_col: str | Sequence[str] | None = None,
             counts: pd.DataFrame | None = None,
             within: str | Sequence[str] | None = None, labels: str | Sequence[str] | None = None,
             policy: DisclosurePolicy | None = None, totals: Sequence[str] = ()) -> SuppressedTable:
    """Suppress cells that describe fewer pupils than the policy's threshold.

    Two shapes of table are handled:

    * **a group summary** (one row per group) with a count column
      ``count_col``: a row whose count is below the threshold has every cell
      suppressed (its count, mean, SD, percentage ...).  A row that compares
      groups (a difference, an effect size) names each group's count column
      (``count_col=["n_treated", "n_control"]``): the smallest decides.  Secondary: if only
      one row (within each ``within`` block) is suppressed, the next-smallest
      row is suppressed too, so the block's total cannot reveal it.
    * **a cross-table** (cells are groups) with ``counts`` (same shape, the
      number of pupils behind each cell; for a table of counts pass the
      table itself): cells below the threshold are suppressed, then more
      cells until no row or column has exactly one suppressed cell.  Rows or
      columns named in ``totals`` are margins: never chosen for secondary
      suppression, and suppressed only if they are small themselves.

    Parameters
    ----------
    table : DataFrame
    count_col : str or list of str, optional
    counts : DataFrame, optional
    within : str or list of str, optional
        Columns defining blocks for secondary suppression of a group summary
        (for example the grouping variable when several are stacked).
        They are never suppressed.
    labels : str or list of str, optional
        Numeric columns that name a row rather than describe pupils (a group
        code, a percentile, a category): shown even in a suppressed row.
        Text columns are always shown.
    policy : DisclosurePolicy, optional
        Default: :func:`get_default_policy`.
    totals : list of str
        Labels of margin rows/columns in a cross-table.

    Returns
    -------
    SuppressedTable

    Examples
    --------
    >>> t = pd.DataFrame({"group": ["a", "b", "c"], "n": [40, 4, 30], "mean": [3.1, 2.0, 3.4]})
    >>> s = suppress(t, count_col="n")
    >>> s.display()["n"].tolist()
    ['40', '[c]', '[c]']
    """
    table = as_frame(table, name="table")
    policy = policy or get_default_policy()
    if (count_col is None) == (counts is None):
        raise DataError("suppress: pass exactly one of `count_col` (group summary) or `counts` (cross-table).")
    mask = pd.DataFrame(False, index=table.index, columns=table.columns)
    ints = tuple(c for c in table.columns if pd.api.types.is_integer_dtype(table[c])
                 and not pd.api.types.is_bool_dtype(table[c]))
    if not policy.enabled:
        return SuppressedTable(table.copy(), mask, policy, int_columns=ints)
    if count_col is not None:
        count_cols = require_columns(table, count_col, role="count column")
        if not count_cols:
            raise DataError("suppress: `count_col` names no column.")
        for col in count_cols:
            require_numeric(table, col)
            bad = table.index[pd.to_numeric(table[col], errors="coerce").isna().to_numpy()]
            if len(bad):
                raise DataError(f"suppress: the count column {col!r} has missing values "
                                f"(rows {', '.join(map(str, bad[:5]))}).")
        n = np.min(np.column_stack([pd.to_numeric(table[c]).to_numpy(dtype=float) for c in count_cols]), axis=1)
        primary = n < policy.threshold
        rows = primary.copy()
        if policy.secondary:
            keys = as_list(within)
            require_columns(table, keys, role="block column")
            blocks = [np.arange(len(table))] if not keys else \
                [np.asarray(ix) for ix in table.groupby(keys, sort=False, dropna=False).indices.values()]
            for ix in blocks:
                if rows[ix].sum() == 1 and len(ix) > 1:
                    cand = np.where(rows[ix], np.inf, n[ix])
                    rows[ix[int(np.argmin(cand))]] = True
        require_columns(table, labels, role="label column")
        value_cols = [c for c in table.columns if c not in as_list(within) + as_list(labels)
                      and pd.api.types.is_numeric_dtype(table[c]) and not pd.api.types.is_bool_dtype(table[c])]
        for c in value_cols:
            mask.loc[rows, c] = True
        data = table.copy()
        for c in value_cols:
            data[c] = data[c].astype(float).where(~mask[c].to_numpy())
        return SuppressedTable(data, mask, policy, int(primary.sum()), int(rows.sum() - primary.sum()),
                               int_columns=ints, label_columns=tuple(as_list(within) + as_list(labels)))
    counts = as_frame(counts, name="counts")
    if counts.shape != table.shape or not counts.index.equals(table.index) or not counts.columns.equals(table.columns):
        raise DataError("suppress: `counts` must have the same rows and columns as `table`.")
    c = counts.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    if np.isnan(c).any():
        raise DataError("suppress: `counts` has missing or non-numeric cells.")
    primary = (c < policy.threshold) & (c > 0)
    tot = set(totals)
    sup = primary.copy()
    if policy.secondary:
        rows_int = np.array([r not in tot for r in table.index])
        cols_int = np.array([col not in tot for col in table.columns])
        sup[np.ix_(rows_int, cols_int)] = _secondary(c[np.ix_(rows_int, cols_int)], primary[np.ix_(rows_int, cols_int)])
    mask = pd.DataFrame(sup, index=table.index, columns=table.columns)
    data = table.astype(float).where(~sup)
    ints = tuple(c for c in ints if counts[c].equals(table[c]))    # a table of counts stays whole numbers
    return SuppressedTable(data, mask, policy, int(primary.sum()), int(sup.sum() - primary.sum()),
                           int_columns=ints)


def summarise_by(data: pd.DataFrame, value: str, by: str | Sequence[str], *,
                 policy: DisclosurePolicy | None = None, ci: float | None = None) -> SuppressedTable:
    """Group summary (n, mean, SD) with disclosure control applied.

    Parameters
    ----------
    data : DataFrame
    value : str
        Numeric column summarised.
    by : str or list of str
        Grouping column(s).
    policy : DisclosurePolicy, optional

    Returns
    -------
    SuppressedTable
        Columns ``by..., n, mean, sd``; ``n`` counts pupils with a value
        (pupils missing ``value`` are counted in ``n_missing``).

    Examples
    --------
    >>> d = pd.DataFrame({"g": ["a"] * 12 + ["b"] * 3 + ["c"] * 20, "y": range(35)})
    >>> summarise_by(d, "y", "g").display()["mean"].tolist()
    ['[c]', '[c]', '24.50']

    Group ``b`` has 3 pupils (primary suppression); with the overall total
    known, ``a`` and ``c`` would reveal it, so the smaller (``a``, 12 pupils)
    is suppressed too (secondary suppression).
    """
    data = as_frame(data)
    keys = require_columns(data, by, role="grouping column")
    require_columns(data, value, role="value column")
    require_numeric(data, value)
    y = pd.to_numeric(data[value], errors="coerce")
    if np.isinf(y).any():
        raise DataError(f"summarise_by: column {value!r} holds infinite values.")
    g = y.groupby([data[k] for k in keys], dropna=False, sort=True)
    out = pd.DataFrame({"n": g.count(), "n_missing": g.size() - g.count(), "mean": g.mean(), "sd": g.std()})
    out = out.reset_index()
    return suppress(out, count_col="n", labels=keys, policy=policy)


def count_by(data: pd.DataFrame, by: str | Sequence[str], *,
             policy: DisclosurePolicy | None = None) -> SuppressedTable:
    """Number and percentage of pupils in each group, with disclosure control applied.

    Every row of ``data`` is counted once; a missing group value is a group
    of its own (shown as missing), so the counts always add up to the rows
    passed in.

    Parameters
    ----------
    data : DataFrame
    by : str or list of str
        Grouping column(s).
    policy : DisclosurePolicy, optional

    Returns
    -------
    SuppressedTable
        Columns ``by..., n, percent`` (percent of all rows).

    Examples
    --------
    >>> d = pd.DataFrame({"band": ["low"] * 4 + ["mid"] * 30 + ["high"] * 50})
    >>> count_by(d, "band").display()["n"].tolist()
    ['50', '[c]', '[c]']
    """
    data = as_frame(data)
    keys = require_columns(data, by, role="grouping column")
    sizes = data.groupby(keys, dropna=False, sort=True, observed=True).size()
    out = sizes.rename("n").reset_index()
    total = int(out["n"].sum())
    out["percent"] = out["n"] / total * 100 if total else np.nan
    return suppress(out, count_col="n", labels=keys, policy=policy)


def check_model_df(residual_df: float, *, minimum: int = 10, policy: DisclosurePolicy | None = None) -> float:
    """Raise unless a model has at least ``minimum`` residual degrees of freedom.

    Output checkers (for example in ONS/SRS secure settings) refuse models
    whose residual degrees of freedom are below 10, because such a model can
    nearly reproduce individual pupils' values.

    Examples
    --------
    >>> check_model_df(25)
    25.0
    """
    try:
        df = float(residual_df)
    except (TypeError, ValueError):
        raise DataError(f"check_model_df: residual_df must be a number, not {residual_df!r}.") from None
    if np.isnan(df):
        raise DataError("check_model_df: residual_df is missing (NaN).")
    policy = policy or get_default_policy()
    if policy.enabled and df < minimum:
        raise DisclosureError(f"The model has {df:g} residual degrees of freedom; at least {minimum} are "
                              "needed before its results can be released.")
    return df


#: Column names treated as pupil identifiers by :func:`drop_identifiers`.
ID_PATTERNS = (r"(?i)^(pupil_?id|student_?id|responseid|response_id|upn|cntstuid|staff_?id|name|"
               r"first_?name|surname|last_?name|dob|date_?of_?birth|postcode|email)$")


def drop_identifiers(data: pd.DataFrame, *, columns: Sequence[str] | None = None,
                     key: str | bytes | None = None) -> pd.DataFrame:
    """Remove (or, with ``key``, pseudonymise) pupil identifier columns before display.

    Parameters
    ----------
    data : DataFrame
    columns : list of str, optional
        Identifier columns; by default those matching :data:`ID_PATTERNS`
        (pupil_id, ResponseId, UPN, name, date of birth, postcode, email ...).
    key : str or bytes, optional
        If given, identifiers are replaced by keyed pseudonyms
        (:func:`belonging_lib.privacy.pseudonymise`) instead of dropped.

    Examples
    --------
    >>> drop_identifiers(pd.DataFrame({"pupil_id": ["P1"], "y": [3]})).columns.tolist()
    ['y']
    """
    import re

    data = as_frame(data)
    from .privacy import normalise_column_name  # "Pupil ID", "UPN " (spaces, hyphens, NFC) match too

    cols = as_list(columns) if columns is not None else [
        c for c in data.columns if re.match(ID_PATTERNS, normalise_column_name(c))]
    require_columns(data, cols, role="identifier column")
    if key is not None:
        from .privacy import pseudonymise

        return pseudonymise(data, cols, key=key)
    return data.drop(columns=cols)
