"""The disclosure context: the counts one output (a chapter, a report) has published so far.

The active context and the automatic contexts of data sets are held in the
disclosure settings (a ``contextvars.ContextVar``, see ``_policy``),
never in a module global.  Pupils are matched across tables by their ID
column, or by a fingerprint of their rows' values (never by row labels).
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd

from .._errors import DataError, DisclosureError
from .._validation import as_frame
from ._audit import _audit, _protected
from ._policy import DisclosurePolicy, _change, _settings, get_default_policy

__all__ = ["DisclosureContext", "context", "get_context", "set_context", "automatic_context"]


@dataclasses.dataclass
class _Cell:
    """One published (or withheld) count of a table, as the set of pupils behind it."""

    ids: np.ndarray
    count: int
    unit: int  # cells of one unit are shown or suppressed together (a table row)
    suppressed: bool
    sensitive: bool  # a count that must stay protected when suppressed
    label: str
    where: tuple | None = None  # the group as conditions on the data's columns (for a ledger), if known


class DisclosureContext:
    """The counts that one output (a chapter, a report) has published so far.

    Every table built from pupil data in the output is checked against the
    counts already published: a suppressed small group must stay protected
    (see the module's protection rule) given everything the output shows,
    and cells of the new table are suppressed until it is.  Use one context
    per chapter or report: :func:`context` makes one (and, used in a
    ``with`` block, makes it the active context that :func:`count_by`,
    :func:`summarise_by`, :func:`magnitude_by` and ``SurveyDesign``
    breakdowns use by default); :func:`belonging_lib.notebook.setup` opens
    one for each chapter.

    Pupils are identified by their ID column, or by a fingerprint of their
    rows (:meth:`pupils_of`), never by row labels.

    Parameters
    ----------
    policy : DisclosurePolicy, optional
        Default: the project's policy at the time of each check.
    name : str, optional
        For messages (the chapter or report).

    Examples
    --------
    >>> d = pd.DataFrame({"year": ["Y5"] * 59 + ["Y6"] * 60,
    ...                   "gender": ["F"] * 9 + ["M"] * 50 + ["F"] * 30 + ["M"] * 30,
    ...                   "y": 1.0})
    >>> from belonging_lib.disclosure import count_by, summarise_by
    >>> with context() as ctx:
    ...     years = count_by(d, by="year")
    ...     both = summarise_by(d, outcome="y", by=["year", "gender"])
    >>> years.display()["n"].tolist()
    ['59', '60']
    >>> both.display()["n"].tolist()     # the boys' 50 would give away the girls' 9
    ['[c]', '[c]', '[c]', '30']
    """

    def __init__(self, policy: DisclosurePolicy | None = None, *, name: str | None = None):
        if policy is not None and not isinstance(policy, DisclosurePolicy):
            raise DataError("DisclosureContext: `policy` must be a DisclosurePolicy or None.")
        self._policy = policy
        self.name = name or "this output"
        self._ids: dict = {}
        self._by_id: dict = {}  # (ID column, ID) -> pupil
        self._id_owner: set = set()  # pupils known by an ID
        self._colhash: dict = {}  # column -> per-pupil hash of its value (0: not seen)
        self._facts: list[tuple[np.ndarray, float, str]] = []
        self._earlier: list[tuple[np.ndarray, str]] = []  # counts published by earlier outputs (a ledger)
        self._sensitive: list[tuple[np.ndarray, str, int]] = []
        self._log: list[dict] = []  # what this context published or protected, for a ledger
        self._previous: list[DisclosureContext | None] = []

    @property
    def policy(self) -> DisclosurePolicy:
        return self._policy or get_default_policy()

    def __repr__(self) -> str:
        return (
            f"DisclosureContext({self.name!r}: {len(self._facts)} published counts, "
            f"{len(self._sensitive)} protected small groups)"
        )

    def __enter__(self) -> DisclosureContext:
        self._previous.append(_settings().context)
        _change(context=self)
        return self

    def __exit__(self, *exc) -> None:
        _change(context=self._previous.pop() if self._previous else None)

    def published(self) -> pd.DataFrame:
        """The counts published so far: ``label, n``."""
        return pd.DataFrame({"label": [f[2] for f in self._facts], "n": [f[1] for f in self._facts]})

    def add_published(self, ids: np.ndarray, n: float, label: str) -> None:
        """Hold a count published by an earlier output (a disclosure ledger's replay) against this one.

        Unlike :meth:`assume_published`, the count is taken as given, whatever its size, and is not
        written to this output's log (it was recorded when first published).
        """
        self._facts.append((np.asarray(ids, dtype=np.int64), float(n), label))
        self._earlier.append((np.unique(np.asarray(ids, dtype=np.int64)), label))

    def add_protected(self, ids: np.ndarray, label: str, threshold: int) -> None:
        """Hold a small group withheld by an earlier output against this one (a ledger's replay)."""
        self._sensitive.append((np.asarray(ids, dtype=np.int64), label, int(threshold)))

    @property
    def log(self) -> list[dict]:
        """What this output published or protected, in order (a disclosure ledger records it).

        Each entry is a mapping with ``kind`` (``"published"`` or ``"protected"``), ``ids`` (context
        pupil ids), ``label``, ``where`` (conditions, when known) and ``n`` or ``threshold``.  The
        list is a copy.
        """
        return [dict(e) for e in self._log]

    def assume_published(self, ids: np.ndarray, label: str) -> None:
        """Record a count as public although this output does not show it (a sample's size).

        Counts below the threshold are not recorded: they would never be
        published.
        """
        ids = np.unique(np.asarray(ids, dtype=np.int64))
        if len(ids) >= self.policy.threshold:
            self._facts.append((ids, float(len(ids)), label))

    # -- ids
    def ids_of(self, labels) -> np.ndarray:
        """Context-wide integer ids of arbitrary keys (the same key -> the same pupil).

        Tables of pupil data find their pupils with :meth:`pupils_of`; this
        lower-level mapping serves callers that already hold a key per pupil.
        """
        table = self._ids
        return np.fromiter((table.setdefault(lab, len(table)) for lab in labels), dtype=np.int64, count=len(labels))

    def private_ids(self, n: int) -> np.ndarray:
        """Ids that match no other table's pupils."""
        token = object()
        return self.ids_of([(token, i) for i in range(n)])

    def pupils_of(self, data: pd.DataFrame) -> np.ndarray:
        """Context ids of the pupils in the rows of ``data``, whatever its row labels.

        A pupil is recognised by the frame's pupil ID column when it has one
        (a column named like an identifier, such as ``pupil_id``, whose values
        are all present and different), and otherwise, or for pupils not yet
        seen with their ID, by a fingerprint of the row's values in the
        columns this context has seen before.  Row labels (the index) play no
        part, so a shuffled copy or one with a fresh index (``reset_index``)
        still describes the same pupils.  Rows that agree in every shared
        column are told apart by their order of appearance: no table of those
        columns can tell them apart either.
        """
        n = len(data)
        out = np.full(n, -1, dtype=np.int64)
        id_col = _pupil_id_column(data)
        if id_col is not None:
            keys = [(str(id_col), _id_text(v)) for v in data[id_col].tolist()]
            known = np.fromiter((self._by_id.get(k, -1) for k in keys), dtype=np.int64, count=n)
            out[:] = known
        hashes = _column_hashes(data, skip=id_col)
        todo = np.nonzero(out < 0)[0]
        if len(todo):
            common = [c for c in hashes if c in self._colhash]
            if common:
                taken = np.zeros(len(self._ids), dtype=bool)
                taken[out[out >= 0]] = True
                if id_col is not None:  # a pupil known by another ID is another pupil
                    taken[list(self._id_owner)] = True
                cand = np.nonzero(~taken)[0]
                mine = self._colhash_of(common, cand)
                ok = np.all([self._hashes(c)[cand] != 0 for c in common], axis=0)
                cand, mine = cand[ok], mine[ok]
                theirs = _combine({c: hashes[c][todo] for c in common})
                match = _pair_by_hash(theirs, mine)
                found = match >= 0
                out[todo[found]] = cand[match[found]]
        fresh = out < 0
        if fresh.any():
            out[fresh] = self.private_ids(int(fresh.sum()))
        for c, h in hashes.items():  # remember each pupil's values (as hashes)
            if c not in self._colhash:
                self._colhash[c] = np.zeros(0, dtype=np.uint64)
            arr = self._hashes(c)
            unset = arr[out] == 0
            arr[out[unset]] = h[unset]
        if id_col is not None:
            for k, i in zip(keys, out.tolist()):
                self._by_id.setdefault(k, i)
                self._id_owner.add(i)
        return out

    def _hashes(self, column: str) -> np.ndarray:
        """The stored hash of ``column`` for every pupil so far (0 where not seen)."""
        arr = self._colhash[column]
        size = len(self._ids)
        if len(arr) < size:
            grown = np.zeros(max(size, 2 * len(arr)), dtype=np.uint64)
            grown[: len(arr)] = arr
            arr = self._colhash[column] = grown
        return arr[:size]

    def _colhash_of(self, columns: list, ids: np.ndarray) -> np.ndarray:
        return _combine({c: self._hashes(c)[ids] for c in columns})

    def protect(
        self,
        cells: list[_Cell],
        *,
        universe: np.ndarray | None = None,
        threshold: int | None = None,
        expand=None,
        where: tuple | None = None,
    ) -> set[int]:
        """Suppress more units of a new table until every small group is protected; record it.

        ``universe``: the pupils of the whole table, when the table publishes
        their number (a percentage of all rows does).  ``expand``: the table's
        own secondary rule, applied to the set of suppressed units after each
        addition.  ``where``: ``universe`` as conditions on the data's
        columns, for a disclosure ledger (each cell carries its own).
        Returns the units suppressed in the end (those already suppressed
        included).
        """
        thr = int(threshold or self.policy.threshold)
        suppressed = {c.unit for c in cells if c.suppressed}
        if expand is not None:
            suppressed = set(expand(suppressed))
        extra_facts = []
        if universe is not None and len(universe) >= thr:
            extra_facts.append((universe, float(len(universe)), "all pupils of a table"))
        new_ids = np.unique(
            np.concatenate(
                [c.ids for c in cells] + ([universe] if universe is not None else []) + [np.zeros(0, np.int64)]
            )
        )
        n_ids = len(self._ids)
        touched = np.zeros(n_ids, dtype=bool)
        touched[new_ids] = True
        old_sens = [(s, lab, t) for s, lab, t in self._sensitive if touched[s].any()]
        old_facts = [(f, v) for f, v, _ in self._facts]
        # A small group that the output had already given away before this table (a count shown
        # earlier, such as a small number of missing values) cannot be protected by it: it is not
        # held against this table.
        fresh = [k for k, c in enumerate(cells) if c.sensitive]
        if fresh:
            before = _audit(old_facts + [(f, v) for f, v, _ in extra_facts], [cells[k].ids for k in fresh], n_ids, thr)
            out_already = {k for k, (lo, hi) in zip(fresh, before) if not _protected(lo, hi, thr)}
        else:
            out_already = set()
        watch = [k for k in fresh if k not in out_already]
        # A shown cell nested in a count an earlier output published (or holding one), with fewer than
        # the threshold between them, gives away the pupils in between by difference (a school's count
        # and one of its classes' counts, in two reports): those pupils are protected as a small group.
        between = self._between_earlier(cells, suppressed, n_ids, thr, touched)
        if between:
            pinned = _audit(old_facts + [(f, v) for f, v, _ in extra_facts], [d for d, _ in between], n_ids, thr)
            between = [b for b, (lo, hi) in zip(between, pinned) if _protected(lo, hi, thr)]
        verified: set = set()  # suppressing more only widens intervals: a protected group stays so
        while True:
            facts = (
                old_facts
                + [(f, v) for f, v, _ in extra_facts]
                + [(c.ids, float(c.count)) for c in cells if c.unit not in suppressed]
            )
            sens = (
                [(("old", i),) + item for i, item in enumerate(old_sens)]
                + [(("new", k), cells[k].ids, cells[k].label, thr) for k in watch if cells[k].unit in suppressed]
                + [(("between", i), d, lab, thr) for i, (d, lab) in enumerate(between)]
            )
            sens = [item for item in sens if item[0] not in verified]
            if not sens:
                break
            intervals = _audit(facts, [item[1] for item in sens], n_ids, thr)
            bad = []
            for pos, ((key, _, _, t), (lo, hi)) in enumerate(zip(sens, intervals)):
                if _protected(lo, hi, t):
                    verified.add(key)
                else:
                    bad.append(pos)
            if not bad:
                break
            _, target, label, _ = sens[bad[0]]
            unit = self._choose(cells, suppressed, target, facts)
            if unit is None:
                lo, hi = intervals[bad[0]]
                raise DisclosureError(
                    f"In {self.name}, the counts already published pin the small group {label!r} to "
                    f"between {lo:g} and {hi:g} pupils, and suppressing more of the new table cannot "
                    "protect it. Leave this table out, or publish the earlier tables at a coarser level."
                )
            suppressed.add(unit)
            if expand is not None:
                suppressed = set(expand(suppressed))
        for k, c in enumerate(cells):
            if c.unit not in suppressed:
                self._facts.append((c.ids, float(c.count), c.label))
                self._log.append(
                    {"kind": "published", "ids": c.ids, "n": int(c.count), "label": c.label, "where": c.where}
                )
            elif c.sensitive and k not in out_already:
                self._sensitive.append((c.ids, c.label, thr))
                self._log.append(
                    {"kind": "protected", "ids": c.ids, "label": c.label, "where": c.where, "threshold": thr}
                )
        for d, lab in between:
            self._sensitive.append((d, lab, thr))
            self._log.append({"kind": "protected", "ids": d, "label": lab, "where": None, "threshold": thr})
        self._facts.extend(extra_facts)
        for f, v, lab in extra_facts:
            self._log.append({"kind": "published", "ids": f, "n": int(v), "label": lab, "where": where})
        return suppressed

    def _between_earlier(self, cells, suppressed, n_ids: int, thr: int, touched) -> list[tuple[np.ndarray, str]]:
        """The pupils between a shown cell of a new table and a count published by an earlier output,
        where one holds the other and fewer than ``thr`` pupils separate them (none: an empty list)."""
        earlier = [(f, lab) for f, lab in self._earlier if len(f) and touched[f].any()]
        out: list[tuple[np.ndarray, str]] = []
        seen: set = set()
        for c in cells:
            if c.unit in suppressed or c.count <= 0 or len(c.ids) == 0:
                continue
            inside = np.zeros(n_ids, dtype=bool)
            inside[c.ids] = True
            m = int(inside.sum())
            for f, lab in earlier:
                common = int(inside[f].sum())
                if common == m and 0 < len(f) - m < thr:
                    diff = np.setdiff1d(f, c.ids)
                elif common == len(f) and 0 < m - len(f) < thr:
                    diff = np.setdiff1d(np.unique(c.ids), f)
                else:
                    continue
                key = diff.tobytes()
                if key not in seen:
                    seen.add(key)
                    out.append((diff, f"the {len(diff)} pupils between {c.label!r} and {lab!r}"))
        return out

    @staticmethod
    def _choose(cells, suppressed, target, facts):
        """A shown unit of the new table to suppress next, to widen ``target``'s interval.

        The published counts that overlap the unprotected group are taken
        from the most specific (fewest pupils) up; the first one that shares
        pupils with shown cells of the new table gives the candidates, and
        the smallest of them is chosen.  Failing that, the smallest shown
        unit of the table.
        """
        n_ids = 1 + max(
            [int(target.max(initial=-1))]
            + [int(c.ids.max(initial=-1)) for c in cells]
            + [int(f.max(initial=-1)) for f, _ in facts]
        )
        in_target = np.zeros(n_ids, dtype=bool)
        in_target[target] = True
        open_cells = [c for c in cells if c.unit not in suppressed and c.count > 0]
        if not open_cells:
            return None
        linked = sorted((len(f), k) for k, (f, _) in enumerate(facts) if in_target[f].any())
        for _, k in linked:
            inside = np.zeros(n_ids, dtype=bool)
            inside[facts[k][0]] = True
            near = [c for c in open_cells if inside[c.ids].any()]
            if near:
                return min(near, key=lambda c: c.count).unit
        return min(open_cells, key=lambda c: c.count).unit


def context(policy: DisclosurePolicy | None = None, *, name: str | None = None) -> DisclosureContext:
    """A new disclosure context for one output (use it in a ``with`` block, or :func:`set_context`)."""
    return DisclosureContext(policy, name=name)


def get_context() -> DisclosureContext | None:
    """The active disclosure context, or ``None``."""
    return _settings().context


def set_context(ctx: DisclosureContext | None) -> DisclosureContext | None:
    """Make ``ctx`` the active context (``None``: no context); returns it."""
    if ctx is not None and not isinstance(ctx, DisclosureContext):
        raise DataError("set_context expects a DisclosureContext or None.")
    _change(context=ctx)
    return ctx


def _resolve_context(
    ctx, data: pd.DataFrame | None = None, policy: DisclosurePolicy | None = None
) -> DisclosureContext | None:
    """The context a table goes through: the one passed, else the active one, else ``data``'s own.

    ``False`` means none.  Without an explicit or active context, tables made
    from the same data in one process share an automatic context
    (:func:`automatic_context`), so two tables of one data frame cannot undo
    each other even when nobody opened a context.
    """
    if ctx is False:
        return None
    if ctx is None:
        active = _settings().context
        if active is not None:
            return active
        return automatic_context(data, policy=policy) if data is not None else None
    if not isinstance(ctx, DisclosureContext):
        raise DataError(
            f"`context` must be a DisclosureContext (bl.disclosure.context()), None or False, not {type(ctx).__name__}."
        )
    return ctx


#: How many data sets keep an automatic context (the most recent ones).
_AUTOMATIC_KEEP = 16


def _data_key(data: pd.DataFrame) -> str:
    """A fingerprint of a data set: its columns and the multiset of its rows (not their order or labels)."""
    import hashlib

    hashes = _column_hashes(data, skip=None)
    rows = np.sort(_combine(hashes)) if hashes else np.zeros(0, dtype=np.uint64)
    h = hashlib.sha256()
    h.update(json.dumps(sorted(hashes), default=str).encode("utf-8"))
    h.update(np.int64(len(data)).tobytes())
    h.update(rows.tobytes())
    return h.hexdigest()


def automatic_context(data: pd.DataFrame, *, policy: DisclosurePolicy | None = None) -> DisclosureContext:
    """The disclosure context that tables of ``data`` share when no context is open.

    One per data set in this process, found by a fingerprint of the data's
    rows (so a shuffled copy, or one with a fresh index, is the same data
    set); the most recent 16 data sets are kept.  Tables made under another
    policy (another threshold) share another one.  Open a context
    (:func:`context`) to share one across several data frames, such as a
    data set and a subset of it.

    Examples
    --------
    >>> d = pd.DataFrame({"year": ["Y5"] * 59 + ["Y6"] * 60,
    ...                   "gender": ["F"] * 9 + ["M"] * 50 + ["F"] * 30 + ["M"] * 30, "y": 1.0})
    >>> automatic_context(d) is automatic_context(d.sample(frac=1, random_state=1).reset_index(drop=True))
    True
    """
    data = as_frame(data)
    policy = policy or get_default_policy()
    key = (_data_key(data), repr(policy))
    kept = _settings().automatic  # (key, context) pairs, the most recent last
    ctx = next((c for k, c in kept if k == key), None)
    if ctx is None:
        ctx = DisclosureContext(policy, name="the tables of this data set")
    kept = tuple((k, c) for k, c in kept if k != key) + ((key, ctx),)
    _change(automatic=kept[-_AUTOMATIC_KEEP:])
    return ctx


def _forget_automatic() -> None:
    """Drop every automatic context (a fresh start, as in a new process; used between tests)."""
    _change(automatic=())


_PREFERRED_ID_WORDS = ("pupil", "student", "upn", "response", "cntstuid", "respondent", "child")


def _pupil_id_column(data: pd.DataFrame):
    """The column that identifies the pupils of ``data``, or ``None``.

    A column named like an identifier whose values are all present and all
    different; among several, one named for pupils (``pupil_id``, ``UPN``)
    first.
    """
    from ..privacy import looks_like_id_column

    found = []
    for c in data.columns:
        if not isinstance(c, str) or not looks_like_id_column(c):
            continue
        col = data[c]
        if isinstance(col, pd.DataFrame) or col.isna().any() or not col.is_unique:
            continue
        found.append(c)
    if not found:
        return None
    preferred = [c for c in found if any(w in c.lower().replace(" ", "") for w in _PREFERRED_ID_WORDS)]
    return (preferred or found)[0]


def _id_text(value) -> str:
    """An ID as text: 1, 1.0 and '1' are one pupil; ' P001 ' is 'P001'."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)
    return str(value).strip()


def _column_hashes(data: pd.DataFrame, *, skip=None) -> dict:
    """A 64-bit hash of each row's value in each column (numbers as floats; never 0)."""
    out = {}
    seen = set()
    for c in data.columns:
        if c == skip or c in seen:
            continue
        seen.add(c)
        col = data[c]
        if isinstance(col, pd.DataFrame):
            continue
        if pd.api.types.is_bool_dtype(col) or (
            pd.api.types.is_numeric_dtype(col) and not isinstance(col.dtype, pd.CategoricalDtype)
        ):
            col = col.astype(float)
        try:
            h = pd.util.hash_pandas_object(col, index=False).to_numpy(dtype=np.uint64)
        except TypeError:  # unhashable cells (lists): their text
            h = pd.util.hash_pandas_object(col.astype(str), index=False).to_numpy(dtype=np.uint64)
        h = h.copy()
        h[h == 0] = 1
        out[str(c)] = h
    return out


def _column_weight(name: str) -> np.uint64:
    import hashlib

    return np.uint64(int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "little") | 1)


def _combine(hashes: dict) -> np.ndarray:
    """One hash per row from the hashes of its columns (independent of the columns' order)."""
    out = None
    with np.errstate(over="ignore"):
        for c, h in hashes.items():
            term = h * _column_weight(c)
            out = term if out is None else out + term
    return out if out is not None else np.zeros(0, dtype=np.uint64)


def _pair_by_hash(new: np.ndarray, old: np.ndarray) -> np.ndarray:
    """For each of ``new``, the position in ``old`` of a row with the same hash (k-th with k-th), or -1."""
    a = pd.DataFrame({"h": new, "k": pd.Series(new).groupby(new).cumcount().to_numpy(), "i": np.arange(len(new))})
    b = pd.DataFrame({"h": old, "k": pd.Series(old).groupby(old).cumcount().to_numpy(), "j": np.arange(len(old))})
    m = a.merge(b, on=["h", "k"], how="left")
    out = np.full(len(new), -1, dtype=np.int64)
    hit = m["j"].notna().to_numpy()
    out[m["i"].to_numpy()[hit]] = m["j"].to_numpy()[hit].astype(np.int64)
    return out
