"""Cell suppression: primary (small cells) and secondary (so that no total gives a small cell away).

:func:`suppress` handles one table on its own: a group summary (one row per
group, a count column) or a cross-table (cells are groups, with a table of
counts).  The result is a :class:`SuppressedTable`.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
from collections.abc import Sequence
from typing import cast

import numpy as np
import pandas as pd

from .._errors import DataError
from .._validation import as_frame, as_list, require_columns, require_numeric
from ._audit import _interval, _protected
from ._policy import DisclosurePolicy, get_default_policy

__all__ = ["SuppressedTable", "suppress"]


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
        mask = (
            self.mask.assign(**{index: self.data[index], columns: self.data[columns]})
            .pivot(index=index, columns=columns, values=values)
            .fillna(False)
            .astype(bool)
        )
        mask = mask.loc[data.index, data.columns]
        whole = [int(c) if isinstance(c, float) and c.is_integer() else c for c in data.columns]
        data.columns = mask.columns = pd.Index(whole, name=columns)  # 25.0 -> 25 in the header
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
                out[col] = ["" if pd.isna(v) else f"{v:g}" for v in values]  # a code: 3, not 3.00
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


def _line_rule(counts: np.ndarray, primary: np.ndarray) -> np.ndarray:
    """The classic first pass: add cells until no row or column has exactly one suppressed cell.

    The extra cell is the smallest unsuppressed one in the line (least
    information lost).  :func:`_protect_cross` then audits the result.
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


_MARGIN_WORDS = re.compile(r"(?i)(^|[^a-z])(total|totals|all|subtotal|overall|sum)([^a-z]|$)")


def _margin_candidates(labels: list, is_tot: np.ndarray, i: int) -> list[np.ndarray]:
    """Blocks of inner lines that the margin line ``i`` may add up, most likely first.

    Every inner line; the inner lines since the previous margin (a subtotal
    under its group); those up to the next margin (a subtotal above its
    group); the inner lines whose label starts like the margin's ('Y7' of
    'Y7 all', or the first level of a two-level label).
    """
    n = len(labels)
    inner = ~is_tot
    out = [inner.copy()]
    above = np.zeros(n, bool)
    k = i - 1
    while k >= 0 and not is_tot[k]:
        above[k] = True
        k -= 1
    below = np.zeros(n, bool)
    k = i + 1
    while k < n and not is_tot[k]:
        below[k] = True
        k += 1
    out += [above, below]
    lab = labels[i]
    head = lab[0] if isinstance(lab, tuple) else (str(lab).split()[0] if str(lab).split() else "")
    if head != "":
        same = (
            np.array(
                [
                    (la[0] == head) if isinstance(la, tuple) else (bool(str(la).split()) and str(la).split()[0] == head)
                    for la in labels
                ]
            )
            & inner
        )
        out.append(same)
    return [b for b in out if b.any()]


def _margin_blocks(c: np.ndarray, labels: list, is_tot: np.ndarray, other_tot: np.ndarray, what: str) -> dict:
    """For each margin line (row of ``c``), the inner lines it adds up (a boolean over inner lines).

    Tables may hold several levels of margins (subtotal rows 'Y7 all' and
    'Y8 all' under a grand 'Total'): each margin is matched to the block of
    inner lines that its numbers add up to.  A margin that adds up no block
    is an error naming it.
    """
    inner_pos = np.nonzero(~is_tot)[0]
    cols = ~other_tot
    out = {}
    for i in np.nonzero(is_tot)[0]:
        for block in _margin_candidates(labels, is_tot, int(i)):
            if np.allclose(c[block][:, cols].sum(axis=0), c[i, cols], rtol=0, atol=1e-9):
                out[int(i)] = block[inner_pos]
                break
        else:
            raise DataError(
                f"suppress: the {what} {labels[i]!r} is named as a total, but its counts are not the "
                f"sum of all the other {what}s, nor of the {what}s of its own group (above or below "
                f"it, or sharing its first word), so the table's totals cannot be trusted."
            )
    return out


def _named_margins(c: np.ndarray, labels: list, is_tot: np.ndarray, other_tot: np.ndarray) -> np.ndarray:
    """Lines not declared as margins whose label says 'total' or 'all' and whose counts add up a block."""
    found = np.zeros(len(labels), dtype=bool)
    cols = ~other_tot
    for i, lab in enumerate(labels):
        text = " ".join(map(str, lab)) if isinstance(lab, tuple) else str(lab)
        if is_tot[i] or not _MARGIN_WORDS.search(text):
            continue
        trial = is_tot | found
        trial[i] = True
        for block in _margin_candidates(labels, trial, i):
            if block.sum() >= 2 and np.allclose(c[block][:, cols].sum(axis=0), c[i, cols], rtol=0, atol=1e-9):
                found[i] = True
                break
    return found


def _protect_cross(
    c: np.ndarray,
    primary: np.ndarray,
    threshold: int,
    tot_rows: np.ndarray,
    tot_cols: np.ndarray,
    *,
    row_blocks: dict | None = None,
    col_blocks: dict | None = None,
) -> np.ndarray:
    """Secondary suppression of a cross-table of counts ``c`` (totals rows/columns included).

    The unknowns are the inner cells; a total cell is the sum of its line.
    A reader knows every shown cell.  When the table shows no totals, its
    row and column sums (and the grand total) count as known whenever they
    describe at least ``threshold`` pupils, because they are usually
    published elsewhere.  Cells are added until every small cell (inner or
    total) passes :func:`_protected`: first the smallest inner cell in the
    line of an unprotected cell, then a total in its line, then the
    smallest inner cell anywhere.  :func:`_fewest_cross` then looks for a
    pattern with fewer cells.
    """
    R, K = c.shape
    in_r = np.nonzero(~tot_rows)[0]
    in_c = np.nonzero(~tot_cols)[0]
    nr, nc = len(in_r), len(in_c)
    pos_r = {int(i): k for k, i in enumerate(in_r)}
    pos_c = {int(j): k for k, j in enumerate(in_c)}
    inner = np.ix_(in_r, in_c)

    row_blocks = row_blocks or {}
    col_blocks = col_blocks or {}

    def vec(i, j):
        v = np.zeros((nr, nc))
        rs = row_blocks.get(int(i), np.ones(nr, bool)) if tot_rows[i] else pos_r[int(i)]
        cs = col_blocks.get(int(j), np.ones(nc, bool)) if tot_cols[j] else pos_c[int(j)]
        if isinstance(rs, np.ndarray) and isinstance(cs, np.ndarray):
            v[np.ix_(rs, cs)] = 1
        else:
            v[rs, cs] = 1
        return v.ravel()

    assumed = []
    if not tot_rows.any() and not tot_cols.any():
        ci = c[inner]
        for k in range(nr):
            if ci[k].sum() >= threshold:
                v = np.zeros((nr, nc))
                v[k] = 1
                assumed.append((v.ravel(), ci[k].sum()))
        for k in range(nc):
            if ci[:, k].sum() >= threshold:
                v = np.zeros((nr, nc))
                v[:, k] = 1
                assumed.append((v.ravel(), ci[:, k].sum()))
        if ci.sum() >= threshold:
            assumed.append((np.ones(nr * nc), ci.sum()))
    sup = primary.copy()
    sup[inner] = _line_rule(c[inner], primary[inner])
    sensitive = np.argwhere(primary)
    vecs = {(int(i), int(j)): vec(i, j) for i in range(R) for j in range(K)}

    verified: set = set()  # suppressing more only widens intervals: a protected cell stays so

    def first_bad():
        facts = assumed + [(vecs[(i, j)], c[i, j]) for i in range(R) for j in range(K) if not sup[i, j]]
        A = np.array([f[0] for f in facts]).reshape(-1, nr * nc)
        b = [f[1] for f in facts]
        for i, j in sensitive:
            key = (int(i), int(j))
            if key in verified:
                continue
            lo, hi = _interval(A, b, vecs[key])
            if not _protected(lo, hi, threshold):
                return key
            verified.add(key)
        return None

    is_inner = np.zeros((R, K), dtype=bool)
    is_inner[inner] = True
    while True:
        bad = first_bad()
        if bad is None:
            return _fewest_cross(c, primary, sup, is_inner, vecs, assumed, sensitive, threshold)
        i, j = bad
        line = np.zeros((R, K), dtype=bool)
        line[i, :] = True
        line[:, j] = True
        open_ = ~sup & (c > 0)
        for pool in (line & open_ & is_inner, line & open_ & ~is_inner, open_ & is_inner, open_):
            if pool.any():
                at = np.unravel_index(int(np.argmin(np.where(pool, c, np.inf))), c.shape)
                sup[at] = True
                break
        else:
            return sup  # everything that could be suppressed is
        sup[inner] = _line_rule(c[inner], sup[inner])  # no inner line left with one suppressed cell


#: At most this many candidate sets are audited when looking for a smaller secondary suppression.
_SEARCH_BUDGET = 600


def _fewest_cross(c, primary, found, is_inner, vecs, assumed, sensitive, threshold) -> np.ndarray:
    """The fewest secondary cells that protect every small cell, starting from a pattern that does.

    ``found`` is a protecting pattern (the line rule and the audit hold).
    First each secondary cell is dropped in turn, the largest first, when
    the pattern still holds without it.  Then every set of fewer inner
    cells is tried, smallest sets first and, among sets of one size, the
    fewest pupils first: the first set that keeps every inner line from
    holding exactly one suppressed cell and that the linear-programming
    audit finds protecting is the answer.  The search stops after
    :data:`_SEARCH_BUDGET` audits, or does not start when a size has more
    than twenty times as many sets (a large table): then the pattern found
    by dropping cells stands.
    """
    R, K = c.shape
    in_r = np.nonzero(is_inner.any(axis=1))[0]
    in_c = np.nonzero(is_inner.any(axis=0))[0]
    cells = [(int(i), int(j)) for i in range(R) for j in range(K)]
    sens = [(int(i), int(j)) for i, j in sensitive]
    prim_inner = [(i, j) for i, j in sens if is_inner[i, j]]
    nr, nc = len(in_r), len(in_c)
    pos = {(int(i), int(j)): a * nc + b for a, i in enumerate(in_r) for b, j in enumerate(in_c)}

    def lines_ok(sup) -> bool:
        block = sup[np.ix_(in_r, in_c)]
        return not ((block.sum(axis=1) == 1).any() or (block.sum(axis=0) == 1).any())

    def pinned(sup) -> bool:
        """A cheap necessary check: a small inner cell worked out by peeling known sums one cell at a time."""
        facts = [np.nonzero(v)[0] for v, _ in assumed] + [np.nonzero(vecs[k])[0] for k in cells if not sup[k]]
        known = np.zeros(nr * nc, dtype=bool)
        for k in cells:
            if is_inner[k] and not sup[k]:
                known[pos[k]] = True
        changed = True
        while changed:
            changed = False
            for f in facts:
                left = f[~known[f]]
                if len(left) == 1:
                    known[left[0]] = True
                    changed = True
        return any(known[pos[k]] for k in prim_inner)

    def protects(sup) -> bool:
        if not lines_ok(sup) or pinned(sup):
            return False
        facts = assumed + [(vecs[k], c[k]) for k in cells if not sup[k]]
        A = np.array([f[0] for f in facts]).reshape(-1, nr * nc)
        b = [f[1] for f in facts]
        return all(_protected(*_interval(A, b, vecs[k]), threshold) for k in sens)

    best = found.copy()
    for k in sorted((k for k in cells if best[k] and not primary[k]), key=lambda k: (-c[k], k)):
        best[k] = False
        if not protects(best):
            best[k] = True
    pool = [k for k in cells if is_inner[k] and not primary[k] and c[k] > 0]
    spent = 0
    for size in range(1, int(best.sum() - primary.sum())):
        if math.comb(len(pool), size) > 20 * _SEARCH_BUDGET:
            return best  # too many sets to list: a large table keeps the pattern found by dropping cells
        for combo in sorted(itertools.combinations(pool, size), key=lambda t: (sum(c[k] for k in t), t)):
            trial = primary.copy()
            for k in combo:
                trial[k] = True
            if not lines_ok(trial) or pinned(trial):
                continue
            spent += 1
            if spent > _SEARCH_BUDGET:
                return best
            if protects(trial):
                return trial
    return best


def suppress(
    table: pd.DataFrame,
    *,
    count_col: str | Sequence[str] | None = None,
    counts: pd.DataFrame | None = None,
    within: str | Sequence[str] | None = None,
    labels: str | Sequence[str] | None = None,
    policy: DisclosurePolicy | None = None,
    totals: Sequence[str] = (),
) -> SuppressedTable:
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
      table itself): cells below the threshold are suppressed, then the
      fewest more cells (among those, the fewest pupils) such that no row or
      column has exactly one suppressed cell and the linear-programming
      audit (:func:`feasible_interval`) finds every small cell protected;
      a table too large to search keeps a protecting pattern with every
      unneeded cell given back.  Rows or
      columns named in ``totals`` are margins: never chosen for secondary
      suppression, and suppressed only if they are small themselves.  Margins
      may have several levels (subtotal rows such as 'Y7 all' beside a grand
      'Total'): each is matched to the block of rows or columns it adds up.
      A row or column named like a margin ('Total', 'Y7 all') whose counts
      add up such a block is a margin even when ``totals`` leaves it out.

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
    if count_col is not None:
        count_cols = require_columns(table, count_col, role="count column")
        if not count_cols:
            raise DataError("suppress: `count_col` names no column.")
        table = table.copy()
        for col in count_cols:  # counts stored as text ("9") are counts
            require_numeric(table, col)
            if not pd.api.types.is_numeric_dtype(table[col]) or pd.api.types.is_bool_dtype(table[col]):
                table[col] = pd.to_numeric(table[col], errors="coerce")
    else:
        counts = as_frame(counts, name="counts")
        if (
            counts.shape != table.shape
            or not counts.index.equals(table.index)
            or not counts.columns.equals(table.columns)
        ):
            raise DataError("suppress: `counts` must have the same rows and columns as `table`.")
        table = table.copy()
        for col in table.columns:  # a table of counts stored as text is a table of counts
            if not pd.api.types.is_numeric_dtype(table[col]):
                require_numeric(table, col)
                table[col] = pd.to_numeric(table[col], errors="coerce")
    mask = pd.DataFrame(False, index=table.index, columns=table.columns)
    ints = tuple(
        c for c in table.columns if pd.api.types.is_integer_dtype(table[c]) and not pd.api.types.is_bool_dtype(table[c])
    )
    if not policy.enabled:
        return SuppressedTable(table.copy(), mask, policy, int_columns=ints)
    if count_col is not None:
        for col in count_cols:
            bad = table.index[pd.to_numeric(table[col], errors="coerce").isna().to_numpy()]
            if len(bad):
                raise DataError(
                    f"suppress: the count column {col!r} has missing values (rows {', '.join(map(str, bad[:5]))})."
                )
            values = pd.to_numeric(table[col], errors="coerce").to_numpy(dtype=float)
            neg = np.nonzero(values < 0)[0]
            if len(neg):
                from .._validation import describe_rows

                raise DataError(
                    f"suppress: the count column {col!r} holds negative numbers "
                    f"({describe_rows((neg + 1).tolist())} counted from 1, first value "
                    f"{values[neg[0]]:g}); a count of pupils is 0 or more."
                )
        n = np.min(np.column_stack([pd.to_numeric(table[c]).to_numpy(dtype=float) for c in count_cols]), axis=1)
        primary = n < policy.threshold
        rows = primary.copy()
        if policy.secondary:
            keys = as_list(within)
            require_columns(table, keys, role="block column")
            blocks = (
                [np.arange(len(table))]
                if not keys
                else [np.asarray(ix) for ix in table.groupby(keys, sort=False, dropna=False).indices.values()]
            )
            for ix in blocks:
                _protect_block(n[ix], rows, ix, policy.threshold)
        require_columns(table, labels, role="label column")
        value_cols = [
            c
            for c in table.columns
            if c not in as_list(within) + as_list(labels)
            and pd.api.types.is_numeric_dtype(table[c])
            and not pd.api.types.is_bool_dtype(table[c])
        ]
        return _mask_rows(
            table, rows, value_cols, policy, int(primary.sum()), ints, tuple(as_list(within) + as_list(labels))
        )
    counts = cast(pd.DataFrame, counts)  # a cross-table: `counts` was checked above
    c = counts.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    if np.isnan(c).any():
        raise DataError("suppress: `counts` has missing or non-numeric cells.")
    if (c < 0).any():
        raise DataError("suppress: `counts` holds negative numbers; counts of pupils are 0 or more.")
    primary = (c < policy.threshold) & (c > 0)
    tot = set(totals)
    sup = primary.copy()
    if policy.secondary:
        tot_rows = np.array([r in tot for r in table.index])
        tot_cols = np.array([col in tot for col in table.columns])
        if tot_rows.all() or tot_cols.all():
            raise DataError("suppress: `totals` names every row or every column; name only the margins.")
        # margins not declared but named and added up as margins ('Y7 all', 'Total') are margins too
        tot_rows |= _named_margins(c, list(table.index), tot_rows, tot_cols)
        tot_cols |= _named_margins(c.T, list(table.columns), tot_cols, tot_rows)
        row_blocks = _margin_blocks(c, list(table.index), tot_rows, tot_cols, "row")
        col_blocks = _margin_blocks(c.T, list(table.columns), tot_cols, tot_rows, "column")
        sup = _protect_cross(
            c, primary, policy.threshold, tot_rows, tot_cols, row_blocks=row_blocks, col_blocks=col_blocks
        )
    mask = pd.DataFrame(sup, index=table.index, columns=table.columns)
    data = table.astype(float).where(~sup)
    numeric_counts = counts.apply(pd.to_numeric, errors="coerce")
    ints = tuple(col for col in ints if numeric_counts[col].equals(table[col]))  # counts stay whole numbers
    return SuppressedTable(data, mask, policy, int(primary.sum()), int(sup.sum() - primary.sum()), int_columns=ints)


def _protect_block(n: np.ndarray, rows: np.ndarray, ix: np.ndarray, threshold: int) -> None:
    """Secondary suppression in a block of groups whose total is known (in place on ``rows``).

    With the total known, the suppressed groups add up to a known number, and
    each lies between 0 and that number: the protection rule asks for at least
    two suppressed groups adding up to ``threshold`` pupils or more.
    """
    if n.sum() < threshold:  # the block is small itself: its total is not published
        return
    while True:
        s = rows[ix]
        if not s.any() or (s.sum() >= 2 and n[s].sum() >= threshold):
            return
        cand = np.where(s, np.inf, n)
        if np.isinf(cand).all():
            return
        rows[ix[int(np.argmin(cand))]] = True


def _mask_rows(
    table: pd.DataFrame,
    rows: np.ndarray,
    value_cols: list,
    policy: DisclosurePolicy,
    n_primary: int,
    ints: tuple,
    label_columns: tuple,
) -> SuppressedTable:
    mask = pd.DataFrame(False, index=table.index, columns=table.columns)
    for c in value_cols:
        mask.loc[rows, c] = True
    data = table.copy()
    for c in value_cols:
        data[c] = data[c].astype(float).where(~mask[c].to_numpy())
    return SuppressedTable(
        data, mask, policy, n_primary, int(rows.sum() - n_primary), int_columns=ints, label_columns=label_columns
    )
