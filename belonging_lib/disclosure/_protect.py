"""The one hook through which other modules apply disclosure control to a table: :func:`protect`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .._errors import DataError
from .._validation import as_frame
from ._context import DisclosureContext, _Cell, _resolve_context
from ._policy import DisclosurePolicy, get_default_policy
from ._suppression import SuppressedTable, _mask_rows, _protect_block

__all__ = ["protect"]


def protect(
    table: pd.DataFrame | SuppressedTable,
    *,
    counts,
    ids: Sequence | None = None,
    policy: DisclosurePolicy | None = None,
    context: DisclosureContext | None = None,
    source: pd.DataFrame | None = None,
    suppressed=None,
    blocks: Sequence | None = None,
    columns: Sequence[str] | None = None,
    names: Sequence[str] | None = None,
    where: Sequence | None = None,
    shown_small: Sequence[str] = (),
    universe=None,
) -> SuppressedTable:
    """Apply disclosure control to a table whose rows are groups of pupils, through a context.

    The hook for tables that :func:`suppress`, :func:`count_by` and
    :func:`summarise_by` do not build themselves (a report's tables, a survey
    design's estimates by group).  Each row of ``table`` describes one group:

    1. **primary suppression**: a row whose count (``counts``) is below the
       policy's threshold is suppressed (or the rows named by ``suppressed``);
    2. **secondary suppression** within each block of rows whose total is
       known (``blocks``): at least two rows suppressed, adding up to the
       threshold or more (the module's protection rule for a known total);
    3. **the output's context**: the pupils behind each row (``ids``) are
       checked against every count the output has published before (see
       :class:`DisclosureContext`); more rows are suppressed until every small
       group is protected, and the context records what this table publishes
       and withholds.

    Parameters
    ----------
    table : DataFrame or SuppressedTable
        One row per group.  A :class:`SuppressedTable` keeps the suppression
        it has (steps 1 and 2 are taken as done) and goes through step 3.
    counts : array-like or str
        The number of pupils each row describes, or the name of its column.
    ids : list, optional
        The pupils behind each row, one entry per row: ``None`` (the row
        publishes no count of pupils), a selection (the row's pupils), or a
        mapping from a name to a selection when the row publishes several
        counts (for example ``{"used": ..., "excluded": ...}``); then the
        whole group (all the parts together) is protected too when small.  A
        selection is a boolean mask or positions of the rows of ``source``, or,
        without ``source``, context ids of pupils
        (:meth:`DisclosureContext.pupils_of`).  Without ``ids`` there is no
        step 3.
    policy : DisclosurePolicy, optional
        Default: the table's own (a :class:`SuppressedTable`), else
        :func:`get_default_policy`.
    context : DisclosureContext or False, optional
        The output's context.  Default: the active one, else the automatic
        context of ``source`` (:func:`automatic_context`), else none.
        ``False``: none (steps 1 and 2 only).
    source : DataFrame, optional
        The pupil data the table was made from, whose rows ``ids`` and
        ``universe`` select.
    suppressed : array-like of bool, optional
        Rows withheld before step 2, instead of ``counts`` below the
        threshold (for example groups too small on another count).  Only for
        a DataFrame.
    blocks : list of array-like of int, optional
        Positions of rows whose total is known (for example the categories of
        one group, which add up to 100%).  Secondary suppression (when the
        policy asks for it) within each, and again after each row the context
        suppresses.  Default: none.
    columns : list of str, optional
        The columns withheld in a suppressed row.  Default: the numeric
        columns (of a :class:`SuppressedTable`: those not among its label
        columns).
    names : list of str, optional
        A name for each row's group, for messages and a disclosure ledger.
        Default: ``"row 1"``, ``"row 2"`` ...
    where : list, optional
        For each row, its group as conditions on the data's columns (as a
        disclosure ledger writes them, see :mod:`belonging_lib.disclosure_ledger`),
        or ``None``; for a row with several named counts, a mapping from each
        name (and ``None`` for the whole group) to conditions.
    shown_small : list of str
        Names of counts (in ``ids`` mappings) that the table shows even when
        small (for example the pupils excluded from an estimate): published,
        never protected.
    universe : selection, optional
        All the pupils of the table, when the table publishes their number (a
        percentage of all rows does): recorded as published.

    Returns
    -------
    SuppressedTable
        The table after the three steps; ``mask`` says which cells are
        withheld.

    Raises
    ------
    DataError
        When ``counts``, ``ids``, ``suppressed``, ``names`` or ``where`` do not
        have one entry per row, or ``context`` is neither a
        :class:`DisclosureContext`, ``None`` nor ``False``.
    DisclosureError
        When the counts already published pin a small group that no further
        suppression of this table can protect.

    Examples
    --------
    >>> d = pd.DataFrame({"year": ["Y5"] * 59 + ["Y6"] * 60,
    ...                   "gender": ["F"] * 9 + ["M"] * 50 + ["F"] * 30 + ["M"] * 30})
    >>> from belonging_lib.disclosure import context, count_by
    >>> girls, y5 = (d["gender"] == "F").to_numpy(), (d["year"] == "Y5").to_numpy()
    >>> with context():
    ...     years = count_by(d, by="year")
    ...     t = pd.DataFrame({"group": ["Y5 girls", "Y5 boys"], "n": [9, 50]})
    ...     shown = protect(t, counts="n", source=d, ids=[y5 & girls, y5 & ~girls])
    >>> shown.display()["n"].tolist()      # Y5's 59 less its 50 boys would give away its 9 girls
    ['[c]', '[c]']
    """
    frame: pd.DataFrame
    if isinstance(table, SuppressedTable):
        frame = table.data
    elif isinstance(table, pd.DataFrame):
        frame = table
    else:
        raise DataError(
            f"protect: `table` must be a pandas DataFrame or a SuppressedTable, but a "
            f"{type(table).__name__} was passed."
        )
    n_rows = len(frame)
    if isinstance(counts, str):
        if counts not in frame.columns:
            raise DataError(
                f"protect: `counts` names the column {counts!r}, which the table does not have "
                f"(columns: {list(map(str, frame.columns))})."
            )
        counts = frame[counts]
    n = np.asarray(pd.to_numeric(pd.Series(np.asarray(counts, dtype=object).reshape(-1)), errors="coerce"), dtype=float)
    for what, value in (("counts", n), ("ids", ids), ("suppressed", suppressed), ("names", names), ("where", where)):
        if value is not None and len(value) != n_rows:
            raise DataError(
                f"protect: `{what}` has {len(value)} entries, but the table has {n_rows} rows "
                "(one entry per row is needed)."
            )
    if isinstance(table, SuppressedTable):
        if suppressed is not None:
            raise DataError("protect: `suppressed` is for a DataFrame; a SuppressedTable keeps its own mask.")
        policy = policy or table.policy
        st = table if policy == table.policy else dataclasses.replace(table, policy=policy)
        if columns is None:
            columns = [
                c
                for c in frame.columns
                if c not in table.label_columns
                and pd.api.types.is_numeric_dtype(frame[c])
                and not pd.api.types.is_bool_dtype(frame[c])
            ]
    else:
        policy = policy or get_default_policy()
        if columns is None:
            columns = [
                c
                for c in frame.columns
                if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
            ]
        ints = tuple(
            c
            for c in frame.columns
            if pd.api.types.is_integer_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
        )
        labels = tuple(c for c in frame.columns if c not in columns)
        if not policy.enabled:
            return SuppressedTable(
                frame.copy(),
                pd.DataFrame(False, index=frame.index, columns=frame.columns),
                policy,
                int_columns=ints,
                label_columns=labels,
            )
        primary = n < policy.threshold if suppressed is None else np.asarray(suppressed, dtype=bool).copy()
        rows = primary.copy()
        if policy.secondary:
            for ix in blocks or []:
                ix = np.asarray(ix, dtype=np.int64)
                _protect_block(n[ix], rows, ix, policy.threshold)
        st = _mask_rows(frame, rows, list(columns), policy, int(primary.sum()), ints, labels)
    if ids is None or not policy.enabled:
        return st
    ctx = _resolve_context(context, source, policy)
    if ctx is None:
        return st
    pupils = ctx.pupils_of(as_frame(source, name="source")) if source is not None else None

    def pupils_in(selection) -> np.ndarray:
        """Context ids of a selection: a boolean mask or positions of ``source``'s rows, or ids already."""
        chosen = np.asarray(selection).reshape(-1)
        if pupils is None:
            return chosen.astype(np.int64)
        return pupils[chosen if chosen.dtype == bool else chosen.astype(np.int64)]

    thr = policy.threshold
    cells = []
    for unit, entry in enumerate(ids):
        if entry is None:
            continue
        name = names[unit] if names is not None else f"row {unit + 1}"
        cond = where[unit] if where is not None else None
        if isinstance(entry, Mapping):
            parts = {part: pupils_in(sel) for part, sel in entry.items()}
            sizes = []
            for part, sel in parts.items():
                if part not in shown_small:
                    sizes.append(len(sel))
                part_where = cond.get(part) if isinstance(cond, Mapping) else None
                cells.append(
                    _Cell(
                        sel,
                        len(sel),
                        unit,
                        False,
                        part not in shown_small and 0 < len(sel) < thr,
                        f"{name} ({part})",
                        part_where,
                    )
                )
            whole = np.unique(np.concatenate(list(parts.values()) + [np.zeros(0, np.int64)]))
            # the whole group too, unless a protected part already is the whole group
            if 0 < len(whole) < thr and len(whole) not in sizes:
                cells.append(
                    _Cell(
                        whole,
                        len(whole),
                        unit,
                        False,
                        True,
                        name,
                        cond.get(None) if isinstance(cond, Mapping) else None,
                    )
                )
        else:
            sel = pupils_in(entry)
            cells.append(
                _Cell(sel, len(sel), unit, False, 0 < len(sel) < thr, name, None if isinstance(cond, Mapping) else cond)
            )
    every = pupils_in(universe) if universe is not None else None
    return _through_context(
        st,
        ctx,
        cells,
        every,
        list(columns),
        counts=n if blocks is not None else None,
        blocks=None if blocks is None else list(blocks),
    )


def _through_context(
    st: SuppressedTable,
    ctx: DisclosureContext | None,
    cells: list[_Cell],
    universe: np.ndarray | None,
    value_cols: list,
    *,
    counts: np.ndarray | None = None,
    blocks: list | None = None,
    universe_where: tuple | None = None,
) -> SuppressedTable:
    """Check a group table (one unit per row) against the output's published counts.

    ``counts`` (one per row) and ``blocks`` (lists of rows) re-apply the
    table's own secondary rule whenever the context suppresses a row.
    """
    if ctx is None or not st.policy.enabled:
        return st
    rows = st.mask[value_cols].any(axis=1).to_numpy() if value_cols else np.zeros(len(st.data), bool)
    for c in cells:
        c.suppressed = bool(rows[c.unit])
    expand = None
    if counts is not None and st.policy.secondary:
        blocks = blocks if blocks is not None else [np.arange(len(rows))]
        n = np.asarray(counts, dtype=float)

        def expand(units):
            r = np.zeros(len(rows), dtype=bool)
            r[list(units)] = True
            for ix in blocks:
                ix = np.asarray(ix)
                _protect_block(n[ix], r, ix, st.policy.threshold)
            return set(np.nonzero(r)[0].tolist())

    units = ctx.protect(cells, universe=universe, threshold=st.policy.threshold, expand=expand, where=universe_where)
    extra = np.array([i in units for i in range(len(rows))], dtype=bool) & ~rows
    if not extra.any():
        return st
    mask = st.mask.copy()
    data = st.data.copy()
    for col in value_cols:
        mask.loc[extra, col] = True
        data[col] = data[col].astype(float).where(~mask[col].to_numpy())
    return dataclasses.replace(st, data=data, mask=mask, n_secondary=st.n_secondary + int(extra.sum()))
