"""Instrument definitions stored as data (scoring keys, never item wording).

Each YAML file in this folder defines one instrument, or several under an
``instruments:`` list.  A definition holds the id, name, citation, licence
note, the response range and labels, the items (id, subscale, reverse key),
and the scores to compute (mean, sum, prorated sum, sum of other scores,
table conversion) with their missing-data rules and published bands.

``load_instrument("pssm")`` loads a bundled definition;
``load_instrument("my_scale.yaml")`` loads a user's own file in the same
format.  :func:`belonging_lib.scoring.score` turns item responses into
scores with them.

Examples
--------
>>> from belonging_lib.instruments import load_instrument, list_instruments
>>> pssm = load_instrument("pssm")
>>> pssm.n_items, pssm.reverse_items
(18, ('pssm_03', 'pssm_06', 'pssm_09', 'pssm_12', 'pssm_16'))
>>> "sdq_self_11_17" in list_instruments()
True
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import yaml

from .._errors import DataError

__all__ = ["Item", "ScoreRule", "Band", "Instrument", "load_instrument", "list_instruments",
           "instrument_from_dict", "ALIASES"]

_HERE = Path(__file__).resolve().parent

#: Short names accepted by :func:`load_instrument` besides the ids.
ALIASES = {"sdq": "sdq_self_11_17", "wemwbs_short": "swemwbs", "pisa": "pisa_belong",
           "class_primary": "ocb_primary", "class_secondary": "ocb_secondary"}

_METHODS = ("mean", "sum", "prorated_sum", "sum_of_scores", "convert")


@dataclasses.dataclass(frozen=True)
class Item:
    """One item of an instrument: its column id, subscale and reverse key."""

    id: str
    subscale: str | None = None
    reverse: bool = False


@dataclasses.dataclass(frozen=True)
class Band:
    """A published score band such as ``close to average`` (inclusive limits)."""

    label: str
    low: float
    high: float


@dataclasses.dataclass(frozen=True)
class ScoreRule:
    """How one score is computed.

    ``method`` is one of ``"mean"`` (mean of answered items), ``"sum"`` (sum
    of items; needs ``min_answered`` = all items to be a true sum),
    ``"prorated_sum"`` (mean of answered items times the number of items,
    rounded as ``rounding`` says), ``"sum_of_scores"`` (sum of other scores,
    missing if any is missing) or ``"convert"`` (look up another score in
    ``table``).
    """

    id: str
    method: str
    label: str = ""
    subscale: str | None = None
    items: tuple[str, ...] = ()
    min_answered: int | None = None
    rounding: str | None = None
    scores: tuple[str, ...] = ()
    source_score: str | None = None
    table: tuple[tuple[float, float], ...] = ()
    bands: tuple[Band, ...] = ()
    note: str = ""


@dataclasses.dataclass(frozen=True)
class Instrument:
    """A questionnaire's scoring key.

    Attributes
    ----------
    id, name, citation, licence : str
    response_min, response_max : int
        The response range of every item (codes as stored in the data).
    labels : tuple of (code, label)
        Text labels of the response codes ("Strongly agree", ...).
    items : tuple of Item
    scores : tuple of ScoreRule
    bands_note : str
        Caveats about published bands.
    band_ages : tuple of (youngest, oldest) or None
        The ages in years (inclusive) the published bands were made for, where the instrument file
        states them (``band_ages: {min: 11, max: 17}``); :func:`~belonging_lib.scoring.score` withholds
        the bands of pupils outside them when it is given their ages.
    source : str
        The file the definition was read from.
    """

    id: str
    name: str
    response_min: int
    response_max: int
    items: tuple[Item, ...]
    scores: tuple[ScoreRule, ...]
    labels: tuple[tuple[int, str], ...] = ()
    citation: str = ""
    licence: str = ""
    construct: str = ""
    bands_note: str = ""
    source: str = ""
    band_ages: tuple[float, float] | None = None

    @property
    def item_ids(self) -> tuple[str, ...]:
        """Item ids in order (these are also the expected column names)."""
        return tuple(i.id for i in self.items)

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def reverse_items(self) -> tuple[str, ...]:
        """Ids of the reverse-keyed items."""
        return tuple(i.id for i in self.items if i.reverse)

    @property
    def response_range(self) -> tuple[int, int]:
        """``(min, max)`` of the response codes, as :func:`reliability` wants it."""
        return (self.response_min, self.response_max)

    @property
    def subscales(self) -> dict[str, tuple[str, ...]]:
        """Subscale name -> item ids (empty when the instrument has none)."""
        out: dict[str, list[str]] = {}
        for it in self.items:
            if it.subscale:
                out.setdefault(it.subscale, []).append(it.id)
        return {k: tuple(v) for k, v in out.items()}

    def items_of(self, subscale: str | None = None) -> tuple[str, ...]:
        """Item ids of one subscale (all items when ``subscale`` is None)."""
        if subscale is None:
            return self.item_ids
        subs = self.subscales
        if subscale not in subs:
            raise DataError(f"The value for `subscale` must be one of {list(subs)}, "
                            f"but {subscale!r} was passed.")
        return subs[subscale]

    @property
    def score_ids(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.scores)

    def label_map(self) -> dict[str, int]:
        """Lower-cased label text -> code."""
        return {lab.strip().lower(): code for code, lab in self.labels}

    def describe(self) -> str:
        """A short plain-text description (items, keys, scores)."""
        lines = [f"{self.name} [{self.id}]",
                 f"{self.n_items} items coded {self.response_min}-{self.response_max}; "
                 f"reverse-keyed: {', '.join(self.reverse_items) or 'none'}"]
        for s in self.scores:
            lines.append(f"  {s.id}: {s.method}" + (f" (at least {s.min_answered} answered)"
                                                    if s.min_answered else ""))
        if self.licence:
            lines.append(f"Licence: {self.licence}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.describe()


def _as_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return bool(v)
    if isinstance(v, str) and v.strip().lower() in ("yes", "true", "1", "r", "reverse"):
        return True
    return False


def instrument_from_dict(d: dict, *, source: str = "", defaults: dict | None = None) -> Instrument:
    """Build an :class:`Instrument` from a parsed definition (checks it)."""
    defaults = defaults or {}
    where = source or "the definition"
    for key in ("id", "response", "items"):
        if key not in d:
            raise DataError(f"Instrument definition in {where} has no `{key}` entry.")
    iid = str(d["id"])
    resp = d["response"]
    try:
        rmin, rmax = int(resp["min"]), int(resp["max"])
    except (KeyError, TypeError, ValueError):
        raise DataError(f"Instrument {iid!r} in {where}: `response` needs integer `min` and `max`.") from None
    if rmin >= rmax:
        raise DataError(f"Instrument {iid!r}: response min {rmin} must be below max {rmax}.")
    labels = tuple((int(k), str(v)) for k, v in (resp.get("labels") or {}).items())
    items = []
    for raw in d["items"]:
        if isinstance(raw, str):
            raw = {"id": raw}
        items.append(Item(id=str(raw["id"]), subscale=raw.get("subscale"),
                          reverse=_as_bool(raw.get("reverse", False))))
    ids = [i.id for i in items]
    dup = {x for x in ids if ids.count(x) > 1}
    if dup:
        raise DataError(f"Instrument {iid!r} lists items more than once: {sorted(dup)}.")
    rules = []
    raw_scores = d.get("scores") or [{"id": iid, "method": d.get("score_type", "mean")}]
    known: set[str] = set()
    for s in raw_scores:
        method = str(s.get("method", "mean"))
        if method not in _METHODS:
            raise DataError(f"Instrument {iid!r}, score {s.get('id')!r}: method must be one of "
                            f"{list(_METHODS)}, but {method!r} was given.")
        sub = s.get("subscale")
        if s.get("items"):
            its = tuple(str(x) for x in s["items"])
        elif sub:
            its = tuple(i.id for i in items if i.subscale == sub)
            if not its:
                raise DataError(f"Instrument {iid!r}, score {s['id']!r}: no item has subscale {sub!r}.")
        else:
            its = tuple(ids) if method in ("mean", "sum", "prorated_sum") else ()
        unknown = [x for x in its if x not in ids]
        if unknown:
            raise DataError(f"Instrument {iid!r}, score {s['id']!r} names unknown items {unknown}.")
        scs = tuple(str(x) for x in (s.get("scores") or ()))
        src = s.get("score")
        for dep in scs + ((src,) if src else ()):
            if dep not in known:
                raise DataError(f"Instrument {iid!r}, score {s['id']!r} uses score {dep!r}, which "
                                "must be defined before it.")
        if method == "convert" and not s.get("table"):
            raise DataError(f"Instrument {iid!r}, score {s['id']!r}: method 'convert' needs a `table`.")
        if method == "sum_of_scores" and not scs:
            raise DataError(f"Instrument {iid!r}, score {s['id']!r}: method 'sum_of_scores' needs `scores`.")
        mina = s.get("min_answered")
        if mina is not None:
            mina = int(mina)
            if not 1 <= mina <= len(its):
                raise DataError(f"Instrument {iid!r}, score {s['id']!r}: min_answered must be "
                                f"between 1 and {len(its)}, but {mina} was given.")
        bands = tuple(Band(str(b["label"]), float(b["low"]), float(b["high"]))
                      for b in (s.get("bands") or ()))
        table = tuple(sorted((float(k), float(v)) for k, v in (s.get("table") or {}).items()))
        rules.append(ScoreRule(id=str(s["id"]), method=method, label=str(s.get("label", "")),
                               subscale=sub, items=its, min_answered=mina,
                               rounding=s.get("rounding"), scores=scs, source_score=src,
                               table=table, bands=bands, note=str(s.get("note", "")).strip()))
        known.add(str(s["id"]))
    ages = None
    if d.get("band_ages") is not None:
        a = d["band_ages"]
        try:
            ages = (float(a["min"]), float(a["max"]))
        except (TypeError, KeyError, ValueError):
            raise DataError(f"Instrument {iid!r}: `band_ages` must be a mapping with numbers `min` and `max` "
                            f"(such as {{min: 11, max: 17}}), but {a!r} was given.") from None
        if not 0 <= ages[0] <= ages[1]:
            raise DataError(f"Instrument {iid!r}: `band_ages` needs 0 <= min <= max, but {a!r} was given.")
    return Instrument(id=iid, name=str(d.get("name", iid)), response_min=rmin, response_max=rmax,
                      items=tuple(items), scores=tuple(rules), labels=labels,
                      citation=str(d.get("citation", defaults.get("citation", ""))).strip(),
                      licence=str(d.get("licence", defaults.get("licence", ""))).strip(),
                      construct=str(d.get("construct", "")),
                      bands_note=str(d.get("bands_note", "")).strip(), source=source, band_ages=ages)


def _read_file(path: Path) -> list[Instrument]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise DataError(f"Instrument file {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise DataError(f"Instrument file {path} must hold a mapping (one instrument) or an "
                        "`instruments:` list.")
    if "instruments" in data:
        defaults = {k: v for k, v in data.items() if k != "instruments"}
        return [instrument_from_dict(d, source=str(path), defaults=defaults)
                for d in data["instruments"]]
    return [instrument_from_dict(data, source=str(path))]


_CACHE: dict[str, Instrument] | None = None


def _bundled() -> dict[str, Instrument]:
    global _CACHE
    if _CACHE is None:
        found: dict[str, Instrument] = {}
        for path in sorted(_HERE.glob("*.yaml")):
            for inst in _read_file(path):
                found[inst.id] = inst
        _CACHE = found
    return _CACHE


def list_instruments() -> list[str]:
    """Ids of the bundled instruments, sorted.

    Examples
    --------
    >>> list_instruments()[:3]
    ['bully', 'engage', 'leader_support']
    """
    return sorted(_bundled())


def load_instrument(name_or_path: str | os.PathLike | Instrument) -> Instrument:
    """Load a bundled instrument by id, or a user's own definition file.

    Parameters
    ----------
    name_or_path : str, path or Instrument
        A bundled id (see :func:`list_instruments`; ``"sdq"`` is accepted for
        ``"sdq_self_11_17"``), or the path of a YAML file in the same format
        holding one instrument.  An :class:`Instrument` is returned unchanged.

    Returns
    -------
    Instrument

    Raises
    ------
    DataError
        Unknown id, unreadable file or an invalid definition.

    Examples
    --------
    >>> sdq = load_instrument("sdq")
    >>> sorted(sdq.subscales)
    ['conduct', 'emotional', 'hyperactivity', 'peer', 'prosocial']
    """
    if isinstance(name_or_path, Instrument):
        return name_or_path
    key = str(name_or_path)
    bundled = _bundled()
    key = ALIASES.get(key, key)
    if key in bundled:
        return bundled[key]
    path = Path(key)
    if path.suffix.lower() in (".yaml", ".yml") or path.exists():
        if not path.exists():
            raise DataError(f"Instrument file {path} does not exist.")
        found = _read_file(path)
        if len(found) != 1:
            raise DataError(f"Instrument file {path} holds {len(found)} instruments; "
                            "load_instrument reads files with exactly one.")
        return found[0]
    raise DataError(f"The value for `instrument` must be one of {sorted(bundled)} or the path of a "
                    f"YAML definition file, but {key!r} was passed.")
