"""Disclosure ledgers: what earlier commands published, from the same file or about the same pupils.

A :class:`~belonging_lib.disclosure.DisclosureContext` protects the tables of
one output, and the automatic context of :mod:`belonging_lib.disclosure` the
tables of one process.  Separate commands (a report on a school today, a
year-group table tomorrow; a report on each class, then on the whole year)
are separate processes: without a record, each protects itself only, and one
output's shown counts minus another's give away a group that both hide.  A
ledger is that record.  Two kinds are kept, both in one folder outside any
output folder (``BELONGING_LEDGER_DIR``, else the user's cache folder,
``~/.cache/belonging_lib/ledgers``).

**Per data file** (:class:`DisclosureLedger`, :func:`tracked`; used by
``belonging report``).  One file per data set, ``<SHA-256 of the file's
bytes>.json``.  It holds **counts only**: each published count as the
conditions that select its group (``school_id = 'S01'`` and ``gender =
'girl'`` and a belonging score present) and the number, and each withheld
small group as its conditions alone (its size is not written).  No pupil
row, identifier or token is stored.  A later command on the same file replays
the record against the data: the groups are selected again, and the new
output is checked against every count published before.

**Per pupil** (:class:`PupilLedger`, :func:`tracked_pupils`; used by
``belonging class-report``). A class's file, another class's and the whole
year's file are different files holding the same pupils, so this record
follows pupils, not files. ``pupils.json`` holds, for every pupil in a
recorded count, keyed tokens (HMAC-SHA256 truncated to 64 bits, 128 for an
ID) of the pupil's ID when the data have an ID column (``pupil_ref``,
``UPN`` ...), and of the value in each other column with the column's name;
and for each count the positions of its pupils in that list, the number (or,
for a withheld group, the threshold), its label (the group's name, such as
``gender=girl (with a value)``), the output's name and the time. No name, ID
or answer is stored as such. The key is 32 random bytes made on first use in
``ledger.key`` beside it, readable by its owner only (permissions 0600;
``pupils.json`` too, and the folder 0700 when the library makes it); it
never leaves the folder, and a folder inside a git working tree is refused.
Pupils of a new file are matched to the record by their ID token or else by
the tokens of the columns they share with it (a year's file with an extra
``class`` column still matches a class's file), as
:meth:`~belonging_lib.disclosure.DisclosureContext.pupils_of` does within
one process, or, for a row corrected since, when every shared column but one
agrees and no other pupil does. A row changed in two shared cells or more is
a new pupil, and the earlier counts then treat its old record as a pupil
missing from the data, which can protect too little: sheets with an ID
column (``pupil_ref``) keep the link whatever is corrected. The earlier
counts then become published counts and withheld groups of the new context,
so its audit suppresses more cells where a group could otherwise be worked
out; pupils never seen before change nothing.

Either ledger can be deleted at any time: remove its file, or the whole
folder (``rm -r ~/.cache/belonging_lib/ledgers``, or the folder named by
``BELONGING_LEDGER_DIR``).  Removing ``ledger.key`` alone makes the pupil
tokens unmatchable, so the pupil ledger is forgotten too.  A deleted ledger
no longer protects against counts already shared: delete it when nothing
made from the data has been or will be shared, or when the data themselves
are deleted.  With the key, someone holding ``pupils.json`` could test guesses
of a pupil's answers; keep both as private as the data.

Use :func:`tracked` (or :func:`tracked_pupils`) around everything one command
publishes::

    with tracked(data, file="survey.csv", name="report on S01") as session:
        school_report(data, school="S01", ...)
    print(session.summary())

Conditions of the per-file ledger are tuples: ``("eq", column, value)``,
``("in", column, [values])``, ``("isna", column)``, ``("notna", column)``,
``("eq_text", column, text)`` and ``("ne_text", column, text)`` (the column
as text; a missing value is not equal to any text), and ``("score", label)``
(the report's score of that label is present).  A count whose group cannot be
written so (a table of a subset of the data, a group of dates) is not
recorded; the session's ``summary()`` says how many.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ._errors import BelongingError, DataError
from .disclosure import DisclosureContext, DisclosurePolicy, get_default_policy, set_context, get_context

__all__ = [
    "DisclosureLedger",
    "LedgerSession",
    "tracked",
    "ledger_folder",
    "LEDGER_ENV",
    "PupilLedger",
    "PupilLedgerSession",
    "tracked_pupils",
    "PUPIL_LEDGER_FILE",
    "KEY_FILE",
]

#: Environment variable naming the folder that holds the ledgers.
LEDGER_ENV = "BELONGING_LEDGER_DIR"
_VERSION = 1


def ledger_folder() -> Path:
    """The folder of the ledgers: ``$BELONGING_LEDGER_DIR``, else ``~/.cache/belonging_lib/ledgers``."""
    env = os.environ.get(LEDGER_ENV)
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "belonging_lib" / "ledgers"


def _file_hash(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _as_json(where) -> list:
    return [
        list(c[:2]) + ([list(c[2]) if isinstance(c[2], (list, tuple)) else c[2]] if len(c) > 2 else []) for c in where
    ]


def _select(data: pd.DataFrame, where, derived: dict) -> np.ndarray | None:
    """Rows of ``data`` in the group the conditions describe (``None`` if a column is unknown)."""
    mask = np.ones(len(data), dtype=bool)
    for cond in where:
        op = cond[0]
        if op == "score":
            col = derived.get(("score", cond[1]))
            if col is None:
                return None
            mask &= col.notna().to_numpy()
            continue
        column = cond[1]
        if column not in data.columns:
            return None
        values = data[column]
        if op == "eq":
            mask &= (values == cond[2]).fillna(False).to_numpy(dtype=bool)
        elif op == "in":
            mask &= values.isin(list(cond[2])).to_numpy()
        elif op == "isna":
            mask &= values.isna().to_numpy()
        elif op == "notna":
            mask &= values.notna().to_numpy()
        elif op in ("eq_text", "ne_text"):
            same = (values.astype(str) == str(cond[2])).to_numpy()
            mask &= same if op == "eq_text" else ~same
        else:
            return None
    return mask


def _derived(data: pd.DataFrame, entries) -> dict:
    """Columns that conditions name but the data compute: the report's scores."""
    labels = {c[1] for e in entries for c in e["where"] if c[0] == "score"}
    if not labels:
        return {}
    from .report import _score_table

    try:
        scores = _score_table(data, None)[0]
    except BelongingError:  # no scale can be scored: such groups cannot be selected
        return {}
    return {("score", lab): scores[lab] for lab in labels if lab in scores.columns}


class DisclosureLedger:
    """The published counts of one data set (see the module's description).

    Attributes
    ----------
    path : Path
        The ledger file (``<folder>/<sha256 of the data file>.json``).
    source : str
        The data file's name when the ledger was made.
    counts : list of dict
        ``{"kind": "published", "where": [...], "n": int, "label": str,
        "output": str, "time": str}``, or ``"kind": "protected"`` with a
        ``"threshold"`` and no count.
    """

    def __init__(self, path, source: str = "", counts: list | None = None):
        self.path = Path(path)
        self.source = source
        self.counts = list(counts or [])

    def __repr__(self) -> str:
        return f"DisclosureLedger({str(self.path)!r}: {len(self.counts)} counts of {self.source!r})"

    @classmethod
    def for_file(cls, file, *, path=None) -> DisclosureLedger:
        """The ledger of the data file ``file``, kept in the folder ``path`` (default :func:`ledger_folder`)."""
        data_path = Path(file)
        if not data_path.is_file():
            raise DataError(f"The data file {str(data_path)!r} does not exist, so it has no disclosure ledger.")
        folder = Path(path) if path is not None else ledger_folder()
        path = folder / f"{_file_hash(data_path)}.json"
        entries = []
        if path.exists():
            try:
                stored = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise DataError(
                    f"The disclosure ledger {str(path)!r} cannot be read ({exc}); it records what "
                    "earlier commands published from this data. Restore it, or remove it only if "
                    "nothing made from the data has been shared."
                ) from None
            entries = stored.get("counts", [])
        return cls(path, data_path.name, list(entries))

    def _replay(self, data: pd.DataFrame, ctx: DisclosureContext) -> tuple[int, int]:
        """Put the recorded counts into ``ctx`` as published (and withheld groups as protected).

        Returns ``(used, left_out)``: entries replayed, and entries whose group
        could not be selected in ``data`` or whose count no longer matches.
        """
        if not self.counts:
            return 0, 0
        ids = ctx.pupils_of(data)
        derived = _derived(data, self.counts)
        used = skipped = 0
        for e in self.counts:
            mask = _select(data, e["where"], derived)
            if mask is None:
                skipped += 1
                continue
            group = np.unique(ids[mask])
            if e["kind"] == "published":
                if len(group) != int(e["n"]):
                    skipped += 1
                    continue
                ctx.add_published(group, len(group), f"{e['label']} (published by {e['output']})")
            elif 0 < len(group) < int(e["threshold"]):
                ctx.add_protected(group, f"{e['label']} (withheld by {e['output']})", int(e["threshold"]))
            used += 1
        return used, skipped

    def _record(self, data: pd.DataFrame, ctx: DisclosureContext, output: str, start: int = 0) -> tuple[int, int]:
        """Add what ``ctx`` published (from its log entry ``start`` on) and save the ledger.

        Only groups whose conditions select exactly the pupils behind the
        count in ``data`` are recorded.  Returns ``(recorded, not_recorded)``.
        """
        log = ctx.log[start:]
        if not log:
            return 0, 0
        ids = ctx.pupils_of(data)
        derived = _derived(data, [{"where": e["where"]} for e in log if e["where"] is not None])
        when = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        seen = {json.dumps([e["kind"], e["where"], e.get("n")], default=str) for e in self.counts}
        done = left = 0
        for e in log:
            if e["where"] is None:
                left += 1
                continue
            where = _as_json(e["where"])
            mask = _select(data, where, derived)
            if mask is None or not np.array_equal(np.unique(ids[mask]), np.unique(e["ids"])):
                left += 1
                continue
            entry = {"kind": e["kind"], "where": where, "label": e["label"], "output": output, "time": when}
            if e["kind"] == "published":
                entry["n"] = int(e["n"])
            else:
                entry["threshold"] = int(e["threshold"])
            key = json.dumps([entry["kind"], entry["where"], entry.get("n")], default=str)
            if key not in seen:
                seen.add(key)
                self.counts.append(entry)
            done += 1
        self._save()
        return done, left

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps({"version": _VERSION, "source": self.source, "counts": self.counts}, indent=1, default=str),
            encoding="utf-8",
        )
        os.replace(tmp, self.path)


class LedgerSession:
    """What :func:`tracked` did: the ledger, the context, counts replayed from earlier commands and recorded."""

    def __init__(self, ledger: DisclosureLedger, context: DisclosureContext):
        self.ledger = ledger
        self.context = context
        self.replayed = self.not_replayed = self.recorded = self.not_recorded = 0

    def summary(self) -> str:
        parts = []
        if self.replayed:
            parts.append(f"{self.replayed} counts published earlier from this data set were taken into account")
        parts.append(f"{self.recorded} counts recorded in the disclosure ledger {str(self.ledger.path)!r}")
        if self.not_recorded:
            parts.append(f"{self.not_recorded} not recorded (their groups are not whole-data groups)")
        if self.not_replayed:
            parts.append(f"{self.not_replayed} earlier counts did not apply to these data")
        return "Disclosure ledger: " + "; ".join(parts) + "."


@contextlib.contextmanager
def tracked(
    data: pd.DataFrame, *, file, name: str = "this output", path=None, out=None, policy: DisclosurePolicy | None = None
):
    """Open a disclosure context that knows what earlier commands published from ``data_path``.

    Inside the block the context is the active one, so every table made from
    ``data`` is checked against the counts published before (by any command
    that used the ledger) as well as against each other; on leaving the block
    without an error, what the block published is added to the ledger.

    Parameters
    ----------
    data : DataFrame
        The data as the command analyses them (after any codebook).
    file : path
        The file the data were read from (its hash finds the ledger).
    name : str
        The output, for the record and for messages.
    path : path, optional
        The folder the ledgers are kept in (default :func:`ledger_folder`).
    out : path, optional
        The command's output folder: the ledger must not be inside it.
    """
    ledger = DisclosureLedger.for_file(file, path=path)
    if out is not None:
        out_dir = Path(out).resolve()
        if out_dir == ledger.path.parent.resolve() or out_dir in ledger.path.resolve().parents:
            raise DataError(
                f"The disclosure ledger folder {str(ledger.path.parent)!r} is inside the output "
                f"{str(out)!r}, which is meant to be shared; set ${LEDGER_ENV} to a private folder."
            )
    ctx = DisclosureContext(policy or get_default_policy(), name=name)
    session = LedgerSession(ledger, ctx)
    session.replayed, session.not_replayed = ledger._replay(data, ctx)
    start = len(ctx.log)
    previous = get_context()
    set_context(ctx)
    try:
        yield session
    finally:
        set_context(previous)
    session.recorded, session.not_recorded = ledger._record(data, ctx, name, start)


# ----------------------------------------------------------------------------- a ledger that follows pupils

#: The pupil ledger's file name, in the ledger folder.
PUPIL_LEDGER_FILE = "pupils.json"
#: The file name of the pupil ledger's secret key, beside it (permissions 0600).
KEY_FILE = "ledger.key"
_PUPIL_VERSION = 1


def _private_folder(folder: Path) -> Path:
    """The ledger folder, made readable by its owner only, and never inside a git working tree."""
    full = folder.resolve()
    for parent in [full, *full.parents]:
        if (parent / ".git").exists():
            raise DataError(
                f"The disclosure ledger folder {str(folder)!r} is inside the git working tree {str(parent)!r}, "
                f"where its key is easily committed and shared; set ${LEDGER_ENV} to a private folder."
            )
    if not folder.exists():
        folder.mkdir(parents=True, mode=0o700)
    return folder


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` (replacing it whole), readable and writable by its owner only."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _ledger_key(folder: Path) -> bytes:
    """The ledger's secret key (32 random bytes), made in ``folder`` on first use with permissions 0600."""
    import secrets

    path = folder / KEY_FILE
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_hex(32) + "\n")
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)  # a key others could read would let them test guesses of pupils' answers
    try:
        key = bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError) as exc:
        raise DataError(
            f"The disclosure ledger's key {str(path)!r} cannot be read ({exc}). Without it the ledger cannot "
            "recognise pupils: restore it, or remove the whole ledger folder only if nothing made from "
            "these pupils' data has been shared."
        ) from None
    if len(key) < 16:
        raise DataError(f"The disclosure ledger's key {str(path)!r} is too short ({len(key)} bytes).")
    return key


def _value_text(value) -> str:
    """A cell as text for a token: 3, 3.0 and '3' alike; a missing value its own text."""
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
        return "\x00missing"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, float, np.integer, np.floating)):
        x = float(value)
        return str(int(x)) if x.is_integer() else repr(x)
    return str(value).strip()


def _id_column(data: pd.DataFrame):
    """The pupil ID column (named like one, every value present and different), or ``None``.

    The same rule as :meth:`belonging_lib.disclosure.DisclosureContext.pupils_of`.
    """
    from .privacy import looks_like_id_column

    found = [
        c
        for c in data.columns
        if isinstance(c, str)
        and looks_like_id_column(c)
        and not isinstance(data[c], pd.DataFrame)
        and not data[c].isna().any()
        and data[c].is_unique
    ]
    words = ("pupil", "student", "upn", "response", "cntstuid", "respondent", "child")
    preferred = [c for c in found if any(w in c.lower().replace(" ", "") for w in words)]
    chosen = preferred or found
    return chosen[0] if chosen else None


class _Tokens:
    """Keyed tokens (HMAC-SHA256, truncated) of a frame's pupils: an ID token, and one per column value."""

    def __init__(self, key: bytes, data: pd.DataFrame):
        import hmac

        def token(*parts: str, size: int = 8) -> str:
            msg = "\x1f".join(parts).encode("utf-8")
            return hmac.new(key, msg, "sha256").hexdigest()[: 2 * size]

        self.id_column = _id_column(data)
        n = len(data)
        self.ids: list = [None] * n
        if self.id_column is not None:  # an ID as text: 1, 1.0 and '1' are one pupil; ' P001 ' is 'P001'
            self.ids = [token("id", str(self.id_column), _value_text(v), size=16) for v in data[self.id_column]]
        self.columns: dict[str, list[str]] = {}
        seen = set()
        for c in data.columns:
            if c == self.id_column or str(c) in seen or isinstance(data[c], pd.DataFrame):
                continue
            seen.add(str(c))
            texts = [_value_text(v) for v in data[c].tolist()]
            cache: dict[str, str] = {}
            name = token("column", str(c))
            for t in set(texts):
                cache[t] = token("value", str(c), t)
            self.columns[name] = [cache[t] for t in texts]


class _Audit:
    """Feasible ranges of groups of pupils given published counts (sets of pupil ids and their sizes)."""

    def __init__(self, facts: list, size: int):
        from scipy import sparse

        self.size = size
        self.counts = np.array([v for _, v in facts], dtype=float)
        rows = np.concatenate([np.full(len(f), k) for k, (f, _) in enumerate(facts)] + [np.zeros(0, int)])
        cols = np.concatenate([f for f, _ in facts] + [np.zeros(0, np.int64)]).astype(np.int64)
        self.sets = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(facts), size))
        self.owners = self.sets.T.tocsr()

    def interval(self, target: np.ndarray) -> tuple[float, float]:
        """Smallest and largest number of pupils of ``target`` that the counts allow.

        Only the counts linked to ``target`` through shared pupils matter; the pupils are grouped into
        the finest groups those sets define, and :func:`belonging_lib.disclosure.feasible_interval`
        solves the two linear programmes.
        """
        from scipy import sparse

        from .disclosure import feasible_interval

        inside = np.zeros(self.size, dtype=bool)
        inside[target] = True
        chosen = np.zeros(len(self.counts), dtype=bool)
        frontier = np.unique(target)
        while len(frontier):
            facts = np.unique(self.owners[frontier].indices)
            facts = facts[~chosen[facts]]
            if not len(facts):
                break
            chosen[facts] = True
            pupils = np.unique(self.sets[facts].indices)
            frontier = pupils[~inside[pupils]]
            inside[frontier] = True
        rows = np.nonzero(chosen)[0]
        if not len(rows):
            return 0.0, float("inf")
        sub = self.sets[rows]
        # the finest groups: pupils with the same memberships (a random 64-bit code per set, summed)
        codes = np.random.default_rng(20_261_207).integers(1, np.iinfo(np.int64).max, size=len(rows) + 1)
        codes = codes.astype(np.uint64)
        members = sub.T.tocsr()
        h = np.zeros(self.size, dtype=np.uint64)
        with np.errstate(over="ignore"):
            np.add.at(h, np.repeat(np.arange(self.size), np.diff(members.indptr)), codes[members.indices])
            h[np.unique(target)] += codes[-1]
        pupils = np.nonzero(inside)[0]
        _, atom = np.unique(h[pupils], return_inverse=True)
        k = int(atom.max()) + 1
        to_atom = sparse.csr_matrix((np.ones(len(pupils)), (pupils, atom)), shape=(self.size, k))
        A = (sub @ to_atom).sign()
        t = np.zeros(k)
        t[np.unique(atom[np.isin(pupils, target)])] = 1.0
        found = feasible_interval(A, self.counts[rows], t)
        return found.low, found.high


class PupilLedger:
    """What earlier commands published about pupils, whichever file they were read from.

    Kept in one file, ``pupils.json``, in the ledger folder (see the module's description), beside
    the secret key ``ledger.key`` that makes its tokens.

    Attributes
    ----------
    path : Path
        The ledger file.
    pupils : list of dict
        One per pupil seen in a recorded count: ``{"id": token or None, "columns": {column token:
        value token}}``.
    counts : list of dict
        ``{"kind": "published", "pupils": [positions in pupils], "n": int, "label": str,
        "output": str, "time": str}``, or ``"kind": "protected"`` with a ``"threshold"``.
    """

    def __init__(self, path, key: bytes, pupils: list | None = None, counts: list | None = None):
        self.path = Path(path)
        self._key = key
        self.pupils = list(pupils or [])
        self.counts = list(counts or [])

    def __repr__(self) -> str:
        return f"PupilLedger({str(self.path)!r}: {len(self.counts)} counts of {len(self.pupils)} pupils)"

    @classmethod
    def open(cls, path=None) -> PupilLedger:
        """The pupil-linked ledger of the folder ``path`` (default :func:`ledger_folder`), made if absent."""
        folder = _private_folder(Path(path) if path is not None else ledger_folder())
        key = _ledger_key(folder)
        file = folder / PUPIL_LEDGER_FILE
        pupils, counts = [], []
        if file.exists():
            try:
                stored = json.loads(file.read_text(encoding="utf-8"))
                pupils, counts = list(stored["pupils"]), list(stored["counts"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise DataError(
                    f"The disclosure ledger {str(file)!r} cannot be read ({exc}); it records what earlier "
                    "commands published about these pupils. Restore it, or remove it only if nothing made "
                    "from their data has been shared."
                ) from None
        return cls(file, key, pupils, counts)

    def _match(self, tokens: _Tokens) -> np.ndarray:
        """For each row, the position of the same pupil in the ledger, or -1 (a pupil not seen before).

        By the ID token when the rows have an ID column; otherwise, or for pupils not found by ID, by
        the value tokens of the columns the rows share with the pupil's record (at least half the
        columns of the smaller of the two), pairing equal rows in order; then a row left over that
        differs from a pupil left over in one shared column only (of three or more), when no other
        row or pupil agrees in all the others (a cell corrected since).  A pupil recorded with an ID
        is not matched by values to rows that have IDs: another ID is another pupil.
        """
        n = len(tokens.ids)
        match = np.full(n, -1, dtype=np.int64)
        used: set[int] = set()
        if tokens.id_column is not None:
            by_id = {p["id"]: i for i, p in enumerate(self.pupils) if p.get("id")}
            for k, t in enumerate(tokens.ids):
                i = by_id.get(t, -1)
                if i >= 0 and i not in used:
                    match[k] = i
                    used.add(i)
        groups: dict[frozenset, list[int]] = {}
        for i, p in enumerate(self.pupils):
            if i not in used and not (tokens.id_column is not None and p.get("id")):
                groups.setdefault(frozenset(p["columns"]), []).append(i)
        mine = set(tokens.columns)
        left: list[tuple[list, list]] = []  # (shared columns, pupils not matched) of each kind of record
        for cols, members in sorted(groups.items(), key=lambda g: -len(g[0] & mine)):
            common = sorted(cols & mine)
            if not common or 2 * len(common) < min(len(cols), len(mine)):
                continue
            waiting: dict[tuple, list[int]] = {}
            for i in members:
                waiting.setdefault(tuple(self.pupils[i]["columns"][c] for c in common), []).append(i)
            for k in np.nonzero(match < 0)[0].tolist():
                pending = waiting.get(tuple(tokens.columns[c][k] for c in common))
                if pending:
                    match[k] = pending.pop(0)
            left.append((common, [i for pending in waiting.values() for i in pending]))
        # a row corrected in one cell since: the one pupil left who agrees in every other shared column
        for common, rest in left:
            for drop in range(len(common) if len(common) >= 3 else 0):
                rows = np.nonzero(match < 0)[0].tolist()
                if not rows or not rest:
                    break
                keep = common[:drop] + common[drop + 1 :]
                theirs: dict[tuple, list[int]] = {}
                for i in rest:
                    theirs.setdefault(tuple(self.pupils[i]["columns"][c] for c in keep), []).append(i)
                ours: dict[tuple, list[int]] = {}
                for k in rows:
                    ours.setdefault(tuple(tokens.columns[c][k] for c in keep), []).append(k)
                for key, ks in ours.items():
                    cand = theirs.get(key, [])
                    if len(ks) == 1 and len(cand) == 1:
                        match[ks[0]] = cand[0]
                        rest.remove(cand[0])
        return match

    def _save(self) -> None:
        _write_private(
            self.path,
            json.dumps({"version": _PUPIL_VERSION, "pupils": self.pupils, "counts": self.counts}, default=str),
        )


class PupilLedgerSession:
    """What :func:`tracked_pupils` did: counts replayed from earlier commands, protected and recorded."""

    def __init__(self, ledger: PupilLedger, context: DisclosureContext):
        self.ledger = ledger
        self.context = context
        self.replayed = self.recorded = self.not_recorded = 0
        self.protected = self.given_away = 0
        self.seen = self.rows = 0
        self._tokens: _Tokens | None = None
        self._match = np.zeros(0, dtype=np.int64)
        self._row_ids = np.zeros(0, dtype=np.int64)
        self._ledger_ids = np.zeros(0, dtype=np.int64)

    def summary(self) -> str:
        parts = []
        if self.replayed:
            parts.append(
                f"{self.replayed} counts published earlier about {self.seen} of these {self.rows} pupils "
                "(from this file or another) were taken into account"
            )
        parts.append(f"{self.recorded} counts recorded in the disclosure ledger {str(self.ledger.path)!r}")
        if self.not_recorded:
            parts.append(f"{self.not_recorded} not recorded (they count pupils of other data)")
        if self.given_away:
            parts.append(
                f"{self.given_away} small groups that earlier outputs had already given away could not be protected"
            )
        return "Disclosure ledger: " + "; ".join(parts) + "."

    def _replay(self, data: pd.DataFrame) -> None:
        """Put the recorded counts into the context: published counts, and the small groups to protect.

        Besides the recorded withheld groups, a published count of at least the threshold split by
        these data (some of its pupils here, some not) gives a small group to protect when either
        part is small: showing
        the part here would give the other away.  The part here stands for it (with the published
        count known, both parts are pinned together), so the context's audit, which looks at the
        groups a new table touches, protects it.  A withheld group with no pupil here stands for
        itself in the same way through a published count holding it and pupils here.  Groups that
        the counts already pin are given away before this command, and left out (``given_away``).
        """
        ledger, ctx = self.ledger, self.context
        self._tokens = tokens = _Tokens(ledger._key, data)
        self._match = match = ledger._match(tokens)
        self._row_ids = row_ids = ctx.pupils_of(data)
        self.rows, self.seen = len(data), int((match >= 0).sum())
        if not ledger.counts:
            return
        ledger_ids = ctx.ids_of([("disclosure ledger pupil", str(ledger.path), i) for i in range(len(ledger.pupils))])
        ledger_ids[match[match >= 0]] = row_ids[match >= 0]
        self._ledger_ids = ledger_ids
        size = 1 + int(max(ledger_ids.max(initial=-1), row_ids.max(initial=-1)))
        here = np.zeros(size, dtype=bool)
        here[row_ids] = True
        thr = ctx.policy.threshold
        facts, withheld = [], []
        for e in ledger.counts:
            ids = np.unique(ledger_ids[np.asarray(e["pupils"], dtype=np.int64)])
            label = f"{e['label']} ({'published' if e['kind'] == 'published' else 'withheld'} by {e['output']})"
            if e["kind"] == "published":
                facts.append((ids, float(len(ids)), label))
            elif 0 < len(ids) < int(e["threshold"]):
                withheld.append((ids, label, int(e["threshold"])))
        candidates = []
        for ids, label, t in withheld:
            if here[ids].any():
                candidates.append((ids, label, t))
                continue
            for f, _, flabel in facts:  # the rest of a published count holding the group, some of it here
                rest = np.setdiff1d(f, ids)
                if len(rest) == len(f) - len(ids) and here[rest].any():
                    candidates.append((rest, f"{flabel}, less {label}", t))
                    break
        for f, _, flabel in facts:  # (a count shown although small, such as missing answers, is left as it is)
            inner = f[here[f]]
            if len(f) >= thr and 0 < len(inner) < len(f) and (len(inner) < thr or len(f) - len(inner) < thr):
                candidates.append((inner, f"{flabel}, its pupils in these data", thr))
        for f, v, flabel in facts:
            ctx.add_published(f, v, flabel)
        audit = _Audit([(f, v) for f, v, _ in facts], size)
        for ids, label, t in candidates:
            lo, hi = audit.interval(ids)
            if hi - lo >= t - 1e-6:
                ctx.add_protected(ids, label, t)
                self.protected += 1
            else:
                self.given_away += 1
        self.replayed = sum(bool(here[f].any()) for f, _, _ in facts) + sum(bool(here[w].any()) for w, _, _ in withheld)

    def _record(self, output: str, start: int) -> None:
        """Add what the context published or withheld (from its log entry ``start`` on), and save."""
        ledger, ctx = self.ledger, self.context
        log = ctx.log[start:]
        if not log or self._tokens is None:
            return
        where: dict[int, tuple[str, int]] = {}  # context id -> ("ledger", position) or ("row", row)
        for i, cid in enumerate(self._ledger_ids.tolist()):
            where[cid] = ("ledger", i)
        for k, cid in enumerate(self._row_ids.tolist()):
            where[cid] = ("row", k)
        when = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        seen = {json.dumps([e["kind"], e["pupils"], e.get("n")]) for e in ledger.counts}
        for e in log:
            found = [where.get(int(c)) for c in np.unique(e["ids"]).tolist()]
            places = [w for w in found if w is not None]
            if len(places) < len(found):
                self.not_recorded += 1
                continue
            pupils = sorted(i if kind == "ledger" else self._pupil(i) for kind, i in places)
            entry = {"kind": e["kind"], "pupils": pupils, "label": e["label"], "output": output, "time": when}
            if e["kind"] == "published":
                entry["n"] = len(pupils)
            else:
                entry["threshold"] = int(e["threshold"])
            key = json.dumps([entry["kind"], pupils, entry.get("n")])
            if key not in seen:
                seen.add(key)
                ledger.counts.append(entry)
            self.recorded += 1
        ledger._save()

    def _pupil(self, row: int) -> int:
        """The ledger position of the pupil of a row: added if new, its record completed if not."""
        tokens, ledger = self._tokens, self.ledger
        if tokens is None:  # _record returns before any pupil is looked up when there are no tokens
            raise BelongingError(
                "The pupil ledger has no tokens for these data: record them before looking a pupil up."
            )
        columns = {c: v[row] for c, v in tokens.columns.items()}
        i = int(self._match[row])
        if i < 0:
            ledger.pupils.append({"id": tokens.ids[row], "columns": columns})
            self._match[row] = i = len(ledger.pupils) - 1
            return i
        record = ledger.pupils[i]
        for c, v in columns.items():  # what another file adds about the pupil (a class column)
            record["columns"].setdefault(c, v)
        if tokens.ids[row] and not record.get("id"):
            record["id"] = tokens.ids[row]
        return i


@contextlib.contextmanager
def tracked_pupils(
    data: pd.DataFrame, *, name: str = "this output", path=None, out=None, policy: DisclosurePolicy | None = None
):
    """Open a disclosure context that knows what earlier commands published about these pupils.

    As :func:`tracked`, but the record follows pupils, not files: the counts published from a
    class's file are taken into account when the whole year's file (the same pupils' rows, maybe
    with other columns) is reported on, and the other way round.

    Parameters
    ----------
    data : DataFrame
        The pupils as the command reads them.
    name : str
        The output, for the record and for messages.
    path : path, optional
        The ledger folder (default :func:`ledger_folder`).
    out : path, optional
        The command's output folder: the ledger folder must not be inside it.
    policy : DisclosurePolicy, optional
    """
    folder = Path(path) if path is not None else ledger_folder()
    if out is not None:
        out_dir = Path(out).resolve()
        if out_dir == folder.resolve() or out_dir in folder.resolve().parents:
            raise DataError(
                f"The disclosure ledger folder {str(folder)!r} is inside the output {str(out)!r}, which is "
                f"meant to be shared; set ${LEDGER_ENV} to a private folder."
            )
    ledger = PupilLedger.open(folder)
    ctx = DisclosureContext(policy or get_default_policy(), name=name)
    session = PupilLedgerSession(ledger, ctx)
    session._replay(data)
    start = len(ctx.log)
    previous = get_context()
    set_context(ctx)
    try:
        yield session
    finally:
        set_context(previous)
    session._record(name, start)
