"""One disclosure ledger per data set: what earlier commands published from the same file.

A :class:`~belonging_lib.disclosure.DisclosureContext` protects the tables of
one output, and the automatic context of :mod:`belonging_lib.disclosure` the
tables of one process.  Separate commands on one file (a report on a school
today, a year-group table tomorrow) are separate processes: without a record,
each protects itself only, and one output's shown counts minus another's give
away a group that both hide.

A :class:`DisclosureLedger` is that record.  It is kept per data set, found by
the SHA-256 hash of the file's bytes, in a folder of its own outside any output
folder (``BELONGING_LEDGER_DIR``, else the user's cache folder).  It holds
**counts only**: each published count as the conditions that select its group
(``school_id = 'S01'`` and ``gender = 'girl'`` and a belonging score present)
and the number, and each withheld small group as its conditions alone (its
size is not written).  No pupil row, identifier or fingerprint is stored.
A later command replays the record against the same data: the groups are
selected again, and the new output is checked against every count published
before, suppressing more cells where a withheld group could otherwise be
derived.

Use :func:`tracked` around everything one command publishes::

    with tracked(data, file="survey.csv", name="report on S01") as session:
        school_report(data, school="S01", ...)
    print(session.summary())

Conditions are tuples: ``("eq", column, value)``, ``("in", column, [values])``,
``("isna", column)``, ``("notna", column)``, ``("eq_text", column, text)`` and
``("ne_text", column, text)`` (the column as text; a missing value is not
equal to any text), and ``("score", label)`` (the report's score of that label
is present).  A count whose group cannot be written so (a table of a subset of
the data, a group of dates) is not recorded; the session's ``summary()``
says how many.
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

__all__ = ["DisclosureLedger", "LedgerSession", "tracked", "ledger_folder", "LEDGER_ENV"]

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
                ctx._facts.append((group, float(len(group)), f"{e['label']} (published by {e['output']})"))
            elif 0 < len(group) < int(e["threshold"]):
                ctx._sensitive.append((group, f"{e['label']} (withheld by {e['output']})", int(e["threshold"])))
            used += 1
        return used, skipped

    def _record(self, data: pd.DataFrame, ctx: DisclosureContext, output: str, start: int = 0) -> tuple[int, int]:
        """Add what ``ctx`` published (from its log entry ``start`` on) and save the ledger.

        Only groups whose conditions select exactly the pupils behind the
        count in ``data`` are recorded.  Returns ``(recorded, not_recorded)``.
        """
        log = ctx._log[start:]
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
    start = len(ctx._log)
    previous = get_context()
    set_context(ctx)
    try:
        yield session
    finally:
        set_context(previous)
    session.recorded, session.not_recorded = ledger._record(data, ctx, name, start)
