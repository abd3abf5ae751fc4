"""Codebooks: map a survey tool's raw export onto the standard schema.

A codebook is a CSV file with one row per variable.  Columns used here:

``file``
    the target file in the sample layout (``survey.csv``); optional when the
    codebook describes one file.
``variable``
    the standard column name (``pssm_01``).
``source_name``
    the column's name in the raw export (``Q1_1``); empty = same as ``variable``.
``type``
    ``id``, ``categorical``, ``binary``, ``integer``, ``continuous``, ``item``,
    ``weight`` or ``pv``.
``allowed``
    ``"1-5"`` (a range), ``"girl;boy"`` or ``"0;1"`` (a list); other text
    (``"S01-C1 style"``) is documentation only.
``value_labels``
    ``"1=Not at all true;2=Not very true;..."``: text answers mapped to codes
    (case and spacing ignored).
``missing_codes``
    ``"9;-99"``: codes meaning "not answered", set to missing; text answers
    can be declared missing too (``"9;Prefer not to say"``, case and spacing
    ignored).  Declared missing codes apply before the allowed values are
    checked.

``constant``
    a value for every pupil of the file, where the export has no column for it
    (``phase`` = ``secondary`` for a secondary school's survey); such a row
    names no ``source_name``.  The value is checked against ``allowed`` and
    ``value_labels`` like any answer.
``instrument``
    the bundled instrument whose items the variable is (``pssm``, ``tr_care``;
    see :func:`belonging_lib.instruments.list_instruments`), or the name of the
    codebook's own scale.  An item of a bundled instrument filed under another
    name is an error that suggests the right one; an own scale's name close to
    a bundled instrument's is a warning.

``label``, ``reverse``, ``synthetic``: documentation.

One raw column may feed several variables that are not items (KS2 as both
``ks2_score`` and ``prior_attainment``; SEN as both ``send`` and
``send_level``, each with its own ``value_labels``): :func:`validate` shows the
mapping as a note.  Two items drawn from one column are an error.

:func:`apply_codebook` renames, recodes and checks every column and counts
every change; :func:`validate` lists the problems of a raw export without
changing it.

Raw columns are matched to ``source_name`` after both names are put in
Unicode NFC form and trimmed; where that changed anything, :func:`validate`
and :func:`apply_codebook` say so.  Rows in messages are counted from 1 (the
first pupil is row 1).
"""

from __future__ import annotations

import dataclasses
import os
import re
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd

from ._errors import ColumnError, DataError
from ._results import Result, RowLedger
from ._validation import as_frame, check_choice, describe_rows

__all__ = ["read_codebook", "apply_codebook", "validate", "summary_line", "answer_labels", "CodebookResult",
           "CODEBOOK_COLUMNS"]

#: Columns of a codebook file (only ``variable`` is required).
CODEBOOK_COLUMNS = ["file", "variable", "label", "type", "allowed", "instrument", "reverse",
                    "missing_codes", "value_labels", "source_name", "synthetic", "constant"]
_TYPES = {"id", "categorical", "binary", "integer", "continuous", "item", "weight", "pv", ""}


def _norm(text) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", str(text))).strip().casefold()


def _norm_name(name) -> str:
    """A column name as matched: Unicode NFC and trimmed."""
    return unicodedata.normalize("NFC", str(name)).strip()


def _rows(index) -> str:
    """Rows for a message, counted from 1 when the frame has the default 0, 1, 2 ... index."""
    index = pd.Index(index)
    if pd.api.types.is_integer_dtype(index):
        return describe_rows([int(i) + 1 for i in index])
    return describe_rows(index)


def read_codebook(path: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    """Read and check a codebook (CSV, or a DataFrame already read).

    Parameters
    ----------
    path : path or DataFrame

    Returns
    -------
    DataFrame
        One row per variable, every cell text (empty string when blank),
        with every column of :data:`CODEBOOK_COLUMNS` present.

    Raises
    ------
    ColumnError
        No ``variable`` column.
    DataError
        A duplicated variable within a file, an unknown ``type``, or a
        malformed ``value_labels`` / ``missing_codes`` cell.

    Examples
    --------
    >>> cb = read_codebook(pd.DataFrame({"variable": ["q1"], "allowed": ["1-5"]}))
    >>> cb.loc[0, "source_name"]
    'q1'
    """
    if isinstance(path, pd.DataFrame):
        frame = path.astype(object).where(path.notna(), "").astype(str)
        name = "codebook"
    else:
        from .io import read_data

        p = Path(path)
        frame = read_data(p, ids=["allowed", "missing_codes", "value_labels", "source_name", "variable"])
        frame = frame.astype(object).where(frame.notna(), "")
        frame = frame.map(lambda v: str(int(v)) if isinstance(v, float) and v == int(v) else str(v))
        name = p.name
    frame = frame.copy()
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    if "variable" not in frame.columns:
        raise ColumnError(f"The codebook {name!r} needs a 'variable' column; it has {list(frame.columns)}.")
    for col in CODEBOOK_COLUMNS:
        if col not in frame.columns:
            frame[col] = ""
    frame = frame.map(lambda v: unicodedata.normalize("NFC", v).strip())
    both = (frame["constant"] != "") & (frame["source_name"] != "") & (frame["source_name"] != frame["variable"])
    if both.any():
        raise DataError(f"Codebook {name!r}: variable {frame.loc[both, 'variable'].iloc[0]!r} has both a "
                        f"source_name and a constant ({describe_rows(frame.index[both])}); give one: the column "
                        "of your export it comes from, or the one value it has for every pupil.")
    frame["source_name"] = frame["source_name"].where((frame["source_name"] != "") | (frame["constant"] != ""),
                                                      frame["variable"])
    frame.loc[frame["constant"] != "", "source_name"] = ""
    blank = frame["variable"] == ""
    if blank.any():
        raise DataError(f"Codebook {name!r}: 'variable' is empty in {describe_rows(frame.index[blank])}.")
    dup = frame.duplicated(["file", "variable"], keep=False)
    if dup.any():
        raise DataError(f"Codebook {name!r}: variable {frame.loc[dup, 'variable'].iloc[0]!r} is listed "
                        f"twice for the same file ({describe_rows(frame.index[dup])}).")
    bad_type = ~frame["type"].str.lower().isin(_TYPES)
    if bad_type.any():
        raise DataError(f"Codebook {name!r}: unknown type {frame.loc[bad_type, 'type'].iloc[0]!r} in "
                        f"{describe_rows(frame.index[bad_type])}; use one of {sorted(t for t in _TYPES if t)}.")
    for i, row in frame.iterrows():
        _parse_labels(row["value_labels"], row["variable"])
        _parse_codes(row["missing_codes"], row["variable"])
    return frame.reset_index(drop=True)


def answer_labels(codebook: pd.DataFrame | str | os.PathLike, items) -> dict[int, str] | None:
    """The answer labels a codebook gives a scale's items, for a figure's legend.

    Parameters
    ----------
    codebook : DataFrame or path
    items : list of str
        The scale's item variables (``pssm_01`` ...).

    Returns
    -------
    dict or None
        ``{code: label}`` (``{1: "Strongly disagree", ...}``) when every item is in the codebook with
        the same ``value_labels``; ``None`` when an item is missing, has none, or the items differ
        (then the instrument's own labels serve).

    Examples
    --------
    >>> cb = read_codebook(pd.DataFrame({"variable": ["q1", "q2"], "value_labels": ["1=No;2=Yes"] * 2}))
    >>> answer_labels(cb, ["q1", "q2"])
    {1: 'No', 2: 'Yes'}
    """
    cb = read_codebook(codebook)
    items = list(items)
    rows = cb[cb["variable"].isin(items)]
    if rows["variable"].nunique() != len(set(items)):
        return None
    found = {tuple(sorted(_code_labels(cell).items())) for cell in rows["value_labels"]}
    if len(found) != 1:
        return None
    labels = dict(next(iter(found)))
    if not labels:
        return None
    return {int(k) if float(k).is_integer() else k: v for k, v in labels.items()}


def _number(text: str, variable: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise DataError(f"Codebook: {what} {text!r} of variable {variable!r} is not a number.") from None


def _parse_labels(cell: str, variable: str) -> dict[str, float]:
    out: dict[str, float] = {}
    if not cell:
        return out
    for part in cell.split(";"):
        if not part.strip():
            continue
        if "=" not in part:
            raise DataError(f"Codebook: value_labels of {variable!r} must look like '1=Label;2=Label', "
                            f"but {part!r} has no '='.")
        code, label = part.split("=", 1)
        try:
            out[_norm(label)] = float(code.strip())
        except ValueError:  # text code of a categorical variable: "girl=F"
            out[_norm(label)] = code.strip()
    return out


def _parse_codes(cell: str, variable: str) -> list:
    """Missing codes: numbers as floats, text answers ("Prefer not to say") normalised."""
    out: list = []
    for part in (cell.split(";") if cell else []):
        if not part.strip():
            continue
        try:
            out.append(float(part.strip()))
        except ValueError:
            out.append(_norm(part))
    return out


def _is_constant(spec) -> bool:
    return bool(spec.get("constant", ""))


def _codebook_problems(cb: pd.DataFrame) -> list[dict]:
    """Problems of the codebook itself: reversed ranges, two items from one source column, instrument
    names the registry lacks; and, as notes, one source feeding several variables.

    Each problem has a ``severity``; :func:`apply_codebook` stops on the errors.
    """
    import difflib

    from .instruments import ALIASES, list_instruments

    out = []
    for _, spec in cb.iterrows():
        m = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*-\s*(-?\d+(?:\.\d+)?)\s*", spec["allowed"] or "")
        if m and spec["type"].lower() != "id" and float(m.group(1)) > float(m.group(2)):
            out.append({"variable": spec["variable"], "source_name": spec["source_name"],
                        "problem": "reversed range", "n": 0, "rows": "", "severity": "error",
                        "example": f"allowed={spec['allowed']!r}; write it low-high, "
                                   f"'{m.group(2)}-{m.group(1)}'"})
    sourced = cb[cb["constant"] == ""]
    files = sourced["file"] if "file" in sourced.columns else pd.Series("", index=sourced.index)
    key = files.astype(str) + "\x00" + sourced["source_name"].map(_norm_name)
    for _, group in sourced[key.duplicated(keep=False)].groupby(key[key.duplicated(keep=False)], sort=False):
        names = group["variable"].tolist()
        items = group["type"].str.lower() == "item"
        for _, spec in group.iterrows():
            if items.sum() >= 2:
                out.append({"variable": spec["variable"], "source_name": spec["source_name"],
                            "problem": "source used twice", "n": 0, "rows": "", "severity": "error",
                            "example": f"{spec['source_name']!r} is the source of {', '.join(map(repr, names))}, "
                                       "two items of a questionnaire: map each item from its own column"})
            else:
                out.append({"variable": spec["variable"], "source_name": spec["source_name"],
                            "problem": "one source, several variables", "n": 0, "rows": "", "severity": "note",
                            "example": f"{spec['source_name']!r} -> {' and '.join(map(repr, names))}"})
    known = set(list_instruments()) | set(ALIASES)
    reg = _registry_items()
    for name, group in cb[cb["instrument"] != ""].groupby("instrument", sort=False):
        if name in known:
            continue
        registry_ids = sorted({reg[v][0] for v in group["variable"] if v in reg})
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
        first = group.iloc[0]
        variables = group["variable"].tolist()
        shown = ", ".join(variables[:3]) + (f" and {len(variables) - 3} more" if len(variables) > 3 else "")
        if registry_ids:
            out.append({"variable": first["variable"], "source_name": first["source_name"],
                        "problem": "instrument name unknown", "n": len(group), "rows": "", "severity": "error",
                        "example": f"instrument {name!r} ({shown}) is not an instrument id; did you mean "
                                   f"{' or '.join(map(repr, registry_ids))}? Write the id of the bundled "
                                   "instrument whose items these are"})
        elif close:
            out.append({"variable": first["variable"], "source_name": first["source_name"],
                        "problem": "instrument not in the registry", "n": len(group), "rows": "",
                        "severity": "warning",
                        "example": f"instrument {name!r} ({shown}) is not a bundled instrument; did you mean "
                                   f"{close[0]!r}? If it is a scale of your own, name it so that it is not "
                                   "taken for one"})
    return out


def _file_meta(data) -> tuple[pd.DataFrame, dict, dict, str, dict]:
    """The table, declared missing codes, value labels, source and header renames of an export.

    ``data`` is a DataFrame (nothing is known beyond its cells) or a
    :class:`belonging_lib.io.LabelledData` from :func:`belonging_lib.io.read_labelled`.
    """
    from .io import LabelledData

    if isinstance(data, LabelledData):
        return (as_frame(data.data, name="data"), dict(data.missing_codes), dict(data.value_labels),
                data.source, dict(data.renamed_columns))
    return as_frame(data, name="data"), {}, {}, "raw export", {}


def _match_columns(raw: pd.DataFrame, cb: pd.DataFrame,
                   earlier: dict | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """Raw column for each source_name, matching names in NFC form and trimmed.

    Returns ``(found, renamed)``: ``found[source_name] = raw column`` and
    ``renamed[raw name as written] = name matched`` where normalising changed it
    (here, or already when the file was read).
    """
    names = [_norm_name(c) for c in raw.columns]
    dup = sorted({n for n in names if names.count(n) > 1}) if len(set(names)) < len(names) else []
    if dup:
        positions = [i + 1 for i, n in enumerate(names) if n == dup[0]]
        raise ColumnError(f"The raw export has the column {dup[0]!r} more than once (columns "
                          f"{', '.join(map(str, positions))}, after trimming spaces and Unicode NFC); "
                          "rename or remove the copies so that each column has its own name.")
    by_norm: dict[str, str] = {}
    for c in raw.columns:
        by_norm.setdefault(_norm_name(c), c)
    found: dict[str, str] = {}
    renamed: dict[str, str] = {}
    back = {v: k for k, v in (earlier or {}).items()}
    for src in cb["source_name"]:
        if src in raw.columns:
            found[src] = src
            if src in back:
                renamed[back[src]] = src
        elif _norm_name(src) in by_norm:
            found[src] = by_norm[_norm_name(src)]
            renamed[found[src]] = src
    return found, renamed


def _parse_allowed(cell: str, kind: str):
    """Return ("range", lo, hi), ("set", values) or None."""
    m = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*-\s*(-?\d+(?:\.\d+)?)\s*", cell or "")
    if m and kind not in ("id",):
        return ("range", float(m.group(1)), float(m.group(2)))
    if cell and ";" in cell and kind in ("categorical", "binary", "integer", "item", ""):
        return ("set", [v.strip() for v in cell.split(";") if v.strip()])
    return None


@dataclasses.dataclass
class _Column:
    mapped: pd.Series
    recoded: pd.Series      # text label turned into a code / category re-spelled
    coded_missing: pd.Series  # a declared missing code turned into missing
    invalid: pd.Series      # a value the codebook does not allow
    n_present: int = 0      # cells that are not blank


def _code_labels(cell: str) -> dict[float, str]:
    """Numeric code -> label text as written (``"1=Girl;2=Boy"`` -> ``{1.0: "Girl", 2.0: "Boy"}``)."""
    out: dict[float, str] = {}
    for part in (cell.split(";") if cell else []):
        if "=" in part:
            code, label = part.split("=", 1)
            try:
                out[float(code.strip())] = label.strip()
            except ValueError:
                pass
    return out


def _map_column(series: pd.Series, spec: pd.Series, declared_missing=(), file_labels=None) -> _Column:
    """Map one raw column; each distinct raw value is classified once (fast on big files).

    ``file_labels`` are the file's own value labels (SPSS, Stata): a numeric
    code of a categorical variable becomes its label, as it does with the
    codebook's ``value_labels``, so that no category is left as ``9.0``.
    """
    kind = spec["type"].lower()
    allowed = _parse_allowed(spec["allowed"], kind)
    labels = _parse_labels(spec["value_labels"], spec["variable"])
    code_labels = {}
    for code, label in (file_labels or {}).items():
        try:
            code_labels[float(code)] = str(label)
        except (TypeError, ValueError):
            pass
    code_labels.update(_code_labels(spec["value_labels"]))
    parsed = _parse_codes(spec["missing_codes"], spec["variable"]) + [c for c in declared_missing
                                                                      if not isinstance(c, tuple)]
    codes = {c for c in parsed if not isinstance(c, str)}
    text_codes = {c for c in parsed if isinstance(c, str)}
    whole = kind in ("item", "integer", "binary")
    numeric_kind = kind in ("binary", "integer", "continuous", "item", "weight", "pv") or (
        allowed is not None and allowed[0] == "range")
    allowed_set = None
    if allowed is not None and allowed[0] == "set":
        try:
            allowed_set = {float(v) for v in allowed[1]}
        except ValueError:
            numeric_kind = False
    lookup = {_norm(a): a for a in allowed[1]} if (allowed is not None and allowed[0] == "set") else None

    def classify(v):
        """Return (status, value): status in blank/same/recoded/missing/invalid."""
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return "blank", np.nan
        text = str(v).strip() if not isinstance(v, (int, float, np.number)) else None
        if text == "":
            return "blank", np.nan
        if kind == "id":
            if isinstance(v, (float, np.floating)) and float(v).is_integer():
                return "same", str(int(v))
            return "same", (text if text is not None else str(v))
        if isinstance(v, (bool, np.bool_)):
            v = int(v)
        try:
            number = float(v if text is None else text)
        except ValueError:
            number = None
        if number is not None and number in codes:
            return "missing", np.nan
        if text_codes and _norm(v) in text_codes:
            return "missing", np.nan
        if not numeric_kind:
            if number is not None and number in code_labels:   # a numeric code of a category
                label = code_labels[number]
                if _norm(label) in text_codes:
                    return "missing", np.nan
                if lookup is None:
                    return "recoded", label
                hit = lookup.get(_norm(label))
                return ("recoded", hit) if hit is not None else ("invalid", np.nan)
            if lookup is None and not labels:
                return "same", (text if text is not None else v)
            if lookup is None:
                hit = labels.get(_norm(v))
                if hit is not None and not isinstance(hit, str) and hit in codes:
                    return "missing", np.nan
                return ("recoded", hit) if hit is not None else ("same", text if text is not None else v)
            hit = lookup.get(_norm(v))
            if hit is None and _norm(v) in labels:
                hit = labels[_norm(v)]
                if not isinstance(hit, str) and hit in codes:
                    return "missing", np.nan
                hit = lookup.get(_norm(hit), hit) if isinstance(hit, str) else hit
                return "recoded", hit
            if hit is None:
                return "invalid", np.nan
            return ("same" if hit == text else "recoded"), hit
        status = "same"
        if number is None:
            number = labels.get(_norm(text))
            if number is None or isinstance(number, str):
                return "invalid", np.nan
            if number in codes:
                return "missing", np.nan
            status = "recoded"
        if not np.isfinite(number):
            return "invalid", np.nan
        if whole and number != round(number):   # 4.5 on a 1-5 item: scoring would reject it later
            return "invalid", np.nan
        if allowed is not None and allowed[0] == "range" and not (allowed[1] <= number <= allowed[2]):
            return "invalid", np.nan
        if allowed_set is not None and number not in allowed_set:
            return "invalid", np.nan
        return status, number

    # factorize: each distinct raw value is classified once, then spread to the rows by its code
    codes_, uniques = pd.factorize(series.to_numpy(dtype=object), use_na_sentinel=True)
    n_u = len(uniques)
    status_u = np.empty(n_u + 1, dtype=object)
    mapped_u = np.empty(n_u + 1, dtype=object)
    for i, u in enumerate(uniques):
        status_u[i], mapped_u[i] = classify(u)
    status_u[n_u], mapped_u[n_u] = "blank", np.nan   # missing values (code -1) point here
    idx = np.where(codes_ < 0, n_u, codes_)
    status_arr = status_u[idx]
    mapped = pd.Series(mapped_u[idx], index=series.index, dtype=object)
    if numeric_kind:
        mapped = pd.to_numeric(mapped, errors="coerce").astype(float)
    return _Column(mapped, pd.Series(status_arr == "recoded", index=series.index),
                   pd.Series(status_arr == "missing", index=series.index),
                   pd.Series(status_arr == "invalid", index=series.index),
                   int((status_arr != "blank").sum()))


def _show(value) -> str:
    return repr(value.item() if hasattr(value, "item") else value)


def _answer(value) -> str:
    """A coded answer as written on the questionnaire: 5, not 5.0."""
    v = value.item() if hasattr(value, "item") else value
    return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)


def _is_missing_code(value, codes) -> bool:
    try:
        return float(value) in codes
    except (TypeError, ValueError):
        return False


def _select(codebook: pd.DataFrame, file: str | None) -> pd.DataFrame:
    files = [f for f in codebook["file"].unique() if f]
    if file is None:
        if len(files) > 1:
            raise DataError(f"The codebook describes several files {files}; pass `file=` (for example "
                            f"file={files[0]!r}) to say which one the raw export maps to.")
        return codebook
    rows = codebook[codebook["file"] == file]
    if rows.empty:
        raise DataError(f"The codebook has no rows for file {file!r}; it describes {files}.")
    return rows


@dataclasses.dataclass(frozen=True)
class CodebookResult(Result):
    """A raw export mapped through a codebook.

    Attributes
    ----------
    data : DataFrame
        The mapped data in the standard schema (codebook order).
    changes : DataFrame
        Per variable: ``variable, source_name, n_present, n_recoded,
        n_set_missing, n_invalid_set_missing, n_missing``.
    ledger : RowLedger
        Rows in and out (the codebook drops no row).
    unused_columns : tuple
        Raw columns the codebook does not map (left out of ``data``).
    renamed_columns : tuple
        ``(name in the file, name matched)`` pairs for raw columns matched
        only after their names were put in NFC form and trimmed.
    extra_notes : tuple
        Other changes said in :meth:`notes`, such as class names made
        school-qualified because they repeat across schools.
    """

    data: pd.DataFrame
    changes: pd.DataFrame
    ledger: RowLedger
    unused_columns: tuple = ()
    renamed_columns: tuple = ()
    extra_notes: tuple = ()
    title = "Codebook applied"

    def to_frame(self) -> pd.DataFrame:
        return self.changes.copy()

    def notes(self) -> list[str]:
        c = self.changes
        lines = [f"{len(self.data)} rows, {len(c)} variables; {int(c['n_recoded'].sum())} text answers recoded, "
                 f"{int(c['n_set_missing'].sum())} 'not answered' codes set missing, "
                 f"{int(c['n_invalid_set_missing'].sum())} invalid values set missing."]
        if self.unused_columns:
            lines.append(f"Raw columns not in the codebook (left out): {', '.join(self.unused_columns)}.")
        if self.renamed_columns:
            lines.append("Matched after trimming spaces or putting the name in Unicode NFC form: "
                         + ", ".join(f"{a!r} -> {b!r}" for a, b in self.renamed_columns) + ".")
        lines.extend(self.extra_notes)
        return lines


def apply_codebook(data: pd.DataFrame, codebook: pd.DataFrame | str | os.PathLike, *,
                   file: str | None = None, invalid: str = "raise", id: str | None = None,
                   ledger: RowLedger | None = None) -> CodebookResult:
    """Map a survey tool's raw export onto the standard schema.

    Renames ``source_name`` to ``variable``, turns text answers into codes
    (case and spacing ignored), sets "not answered" codes (``missing_codes``
    and, for SPSS files read with ``read_labelled(..., user_missing="keep")``, the declared
    user-missing codes) to missing, re-spells categories to the codebook's
    form (``" Girl"`` -> ``"girl"``), checks allowed values and checks that
    the identifier is unique.  Every change is counted.  A numeric code of a
    categorical variable becomes its label (from ``value_labels``, else the
    SPSS file's own labels), so a declared missing answer never stays as a
    category such as ``9.0``.  When ``class_id`` names repeat across schools
    (``7A`` in every school), ``class_id`` becomes ``"<school_id>-<class>"``
    and :meth:`CodebookResult.notes` says so.

    Parameters
    ----------
    data : DataFrame or LabelledData
        The raw export: a table (for example from :func:`belonging_lib.io.read_data`), or a
        :class:`~belonging_lib.io.LabelledData` from :func:`belonging_lib.io.read_labelled`, whose
        declared missing codes, value labels and header renames are then used.
    codebook : DataFrame or path
        See the module notes; read with :func:`read_codebook` if a path.
    file : str, optional
        Which target file of the codebook to produce (``"survey.csv"``);
        required when the codebook describes several files.
    invalid : {"raise", "missing"}
        An unknown label or out-of-range value raises a
        :class:`~belonging_lib.DataError` naming the column, rows and value
        (default), or is set to missing and counted.
    id : str, optional
        Identifier that must be unique (default: the first ``type == "id"``
        variable).
    ledger : RowLedger, optional
        Ledger to continue (a new one is started otherwise).

    Returns
    -------
    CodebookResult

    Raises
    ------
    ColumnError
        A ``source_name`` is not in the raw export.
    DataError
        Invalid values (with ``invalid="raise"``) or duplicated identifiers.

    Examples
    --------
    >>> cb = read_codebook(pd.DataFrame({
    ...     "variable": ["pupil_id", "q1"], "source_name": ["ID", "Question 1"],
    ...     "type": ["id", "item"], "allowed": ["", "1-3"],
    ...     "value_labels": ["", "1=No;2=Sometimes;3=Yes"], "missing_codes": ["", "9"]}))
    >>> raw = pd.DataFrame({"ID": ["A", "B", "C"], "Question 1": ["yes ", 9, "2"]})
    >>> apply_codebook(raw, cb).data["q1"].tolist()
    [3.0, nan, 2.0]
    """
    raw, declared, file_labels, source, earlier = _file_meta(data)
    id_col = id
    check_choice("invalid", invalid, ["raise", "missing"])
    cb = _select(read_codebook(codebook), file)
    bad_cb = [p for p in _codebook_problems(cb) if p["severity"] == "error"]
    if bad_cb:
        p = bad_cb[0]
        raise DataError(f"Codebook: variable {p['variable']!r} ({p['source_name']!r}): {p['problem']}: "
                        f"{p['example']}. Fix the codebook; `validate` lists every such problem.")
    found, renamed = _match_columns(raw, cb, earlier)
    missing_cols = [s for s, c in zip(cb["source_name"], cb["constant"]) if s not in found and not c]
    if missing_cols:
        raise ColumnError(
            f"The raw export lacks {len(missing_cols)} column{'s' if len(missing_cols) != 1 else ''} named in "
            f"the codebook's source_name: {', '.join(map(repr, missing_cols[:10]))}"
            f"{' ...' if len(missing_cols) > 10 else ''}. Check the codebook or the export."
        )
    ledger = ledger or RowLedger("pupils", source=str(source))
    n = len(raw)
    out = {}
    rows = []
    for _, spec in cb.iterrows():
        if _is_constant(spec):   # one value for every pupil, checked like any answer
            src = f"(constant {spec['constant']!r})"
            col = _map_column(pd.Series(spec["constant"], index=raw.index, dtype=object), spec)
            if col.invalid.any():
                raise DataError(f"Codebook: variable {spec['variable']!r} has the constant {spec['constant']!r}, "
                                f"which is not an allowed value ({spec['allowed'] or spec['value_labels']}).")
        else:
            src = found[spec["source_name"]]
            col = _map_column(raw[src], spec, declared.get(src, ()), file_labels.get(src))
        if col.invalid.any() and invalid == "raise":
            bad_rows = raw.index[col.invalid]
            value = raw.loc[bad_rows[0], src]
            allowed = spec["allowed"] or "(see value_labels)"
            whole = " whole numbers only;" if spec["type"].lower() in ("item", "integer", "binary") else ""
            raise DataError(
                f"Column {src!r} (-> {spec['variable']!r}): {_rows(bad_rows)} "
                f"hold{'s' if len(bad_rows) == 1 else ''} {value!r}, which is not an allowed value "
                f"({allowed};{whole}{' labels ' + spec['value_labels'] if spec['value_labels'] else ''}); "
                f"{int(col.invalid.sum())} such value{'s' if col.invalid.sum() != 1 else ''}. "
                "Fix the export or codebook, or pass invalid='missing' to set them missing."
            )
        out[spec["variable"]] = col.mapped
        rows.append({"variable": spec["variable"], "source_name": src,
                     "n_present": col.n_present,
                     "n_recoded": int(col.recoded.sum()), "n_set_missing": int(col.coded_missing.sum()),
                     "n_invalid_set_missing": int(col.invalid.sum()),
                     "n_missing": int(col.mapped.isna().sum())})
    data = pd.DataFrame(out, index=raw.index)
    for c in data.columns:
        s = data[c]
        if pd.api.types.is_float_dtype(s) and s.notna().all() and np.all(s == np.round(s)):
            data[c] = s.astype("int64")
    class_note = ""
    shared = _shared_classes(data)
    if shared:
        qualified = data["school_id"].astype(str) + "-" + data["class_id"].astype(str)
        qualified = qualified.where(data["class_id"].notna() & data["school_id"].notna())
        n_before = data["class_id"].nunique()
        data["class_id"] = qualified
        class_note = (f"Class names repeat across schools ({', '.join(map(repr, shared[:5]))}"
                      f"{' ...' if len(shared) > 5 else ''}): class_id is now school-qualified "
                      f"('{qualified.dropna().iloc[0]}'), so {n_before} class names are "
                      f"{data['class_id'].nunique()} classes.")
    ids = cb.loc[cb["type"].str.lower() == "id", "variable"].tolist()
    id_col = id_col or (ids[0] if ids else None)
    if ledger.start is None:
        ledger.record("read raw export", n_in=n, n_out=n, reason="")
    if id_col is not None:
        from .io import check_ids

        check_ids(data, id=id_col)
    changes = pd.DataFrame(rows)
    ledger.record("apply codebook", n_in=n, n_out=len(data),
                  reason=f"{int(changes['n_recoded'].sum())} recoded, "
                         f"{int(changes['n_set_missing'].sum())} coded missing, "
                         f"{int(changes['n_invalid_set_missing'].sum())} invalid set missing; no rows dropped")
    unused = tuple(c for c in raw.columns if c not in set(found.values()))
    return CodebookResult(data=data.reset_index(drop=True), changes=changes, ledger=ledger,
                          unused_columns=unused, renamed_columns=tuple(renamed.items()),
                          extra_notes=(class_note,) if class_note else ())


def _shared_classes(data: pd.DataFrame) -> list[str]:
    """Class names (``class_id``) used in more than one school (``school_id``), sorted."""
    if not {"class_id", "school_id"} <= set(data.columns):
        return []
    pairs = data[["school_id", "class_id"]].dropna().astype(str).drop_duplicates()
    counts = pairs.groupby("class_id")["school_id"].nunique()
    return sorted(counts.index[counts > 1])


def _numeric_keys(labels) -> dict:
    out = {}
    for k, v in (labels or {}).items():
        try:
            out[float(k)] = v
        except (TypeError, ValueError):
            pass
    return out


def _missing_kinds(values: pd.Series, mask: pd.Series):
    """``(kind, mask)`` for each declared missing code met: 9, -99, "prefer not to say" ..."""
    if not mask.any():
        return []
    def key(v):
        try:
            return float(v)
        except (TypeError, ValueError):
            return _norm(v)
    keys = values[mask].map(key)
    return [(k, mask & values.index.isin(keys.index[keys == k])) for k in pd.unique(keys)]


def _registry_items() -> dict[str, tuple[str, bool, int]]:
    """Item id -> (instrument id, reverse key, number of items) over the bundled instruments."""
    from .instruments import list_instruments, load_instrument

    out = {}
    for name in list_instruments():
        inst = load_instrument(name)
        for item in inst.items:
            out.setdefault(item.id, (inst.id, bool(item.reverse), inst.n_items))
    return out


def _scales(cb: pd.DataFrame, frame: pd.DataFrame) -> dict[str, list[str]]:
    """Instrument id -> its item columns present in the mapped data (bundled instruments only)."""
    reg = _registry_items()
    out: dict[str, list[str]] = {}
    for var in cb["variable"]:
        if var in reg and var in frame.columns:
            out.setdefault(reg[var][0], []).append(var)
    return out


def _reverse_problems(cb: pd.DataFrame, frame: pd.DataFrame) -> list[dict]:
    """The codebook's ``reverse`` column against the instrument, and the keys against the data.

    Scoring applies the instrument's reverse keys, not the codebook's; a
    variable the codebook marks otherwise is listed.  With the instrument's
    keys applied, an item whose correlation with the rest of its scale is
    negative is listed with the correlation (an item reversed twice or not at
    all, or a wrong mapping).
    """
    from .instruments import load_instrument

    reg = _registry_items()
    out = []
    for _, spec in cb.iterrows():
        var, cell = spec["variable"], str(spec["reverse"]).strip().lower()
        if var not in reg or cell in ("", "nan"):
            continue
        marked = cell in ("1", "1.0", "true", "yes", "y")
        inst_id, keyed, _ = reg[var]
        if marked != keyed:
            answered = frame[var].notna() if var in frame.columns else pd.Series(False, index=frame.index)
            out.append({"variable": var, "source_name": spec["source_name"],
                        "problem": "reverse key differs from instrument", "n": int(answered.sum()),
                        "rows": "every answer" if answered.any() else "",
                        "example": f"codebook reverse={int(marked)}, instrument {inst_id!r} "
                                   f"{'reverses' if keyed else 'does not reverse'} {var}; scoring uses the "
                                   "instrument's keys: map each source column to the instrument item with "
                                   "the same key", "severity": "warning"})
    for inst_id, items in _scales(cb, frame).items():
        if len(items) < 3:
            continue
        inst = load_instrument(inst_id)
        lo, hi = inst.response_range
        x = frame[items].apply(pd.to_numeric, errors="coerce").astype(float)
        x = x.where((x >= lo) & (x <= hi))
        for c in items:
            if c in inst.reverse_items:
                x[c] = lo + hi - x[c]
        for c in items:
            rest = x.drop(columns=c).mean(axis=1)
            ok = x[c].notna() & rest.notna()
            if ok.sum() < 10 or x.loc[ok, c].std() == 0 or rest[ok].std() == 0:
                continue
            r = float(np.corrcoef(x.loc[ok, c], rest[ok])[0, 1])
            if r < 0:
                spec = cb[cb["variable"] == c].iloc[0]
                out.append({"variable": c, "source_name": spec["source_name"],
                            "problem": "negative item-rest correlation", "n": int(ok.sum()), "rows": "",
                            "example": f"r = {r:.2f} with the rest of {inst_id!r} (instrument keys applied): "
                                       "is the item reversed twice, or not at all?", "severity": "warning"})
    return out


#: A column is called constant when at least this many pupils answered it, all alike.
CONSTANT_MIN_VALUES = 10

#: Scales with at least this many items are checked for straight-lining.
STRAIGHT_LINE_MIN_ITEMS = 6
#: A pupil who answered every item alike but skipped at most this many is a straight-liner too.
STRAIGHT_LINE_SKIPS = 1


def _straight_liners(cb: pd.DataFrame, frame: pd.DataFrame) -> list[dict]:
    """Pupils who give the same answer to every item of a scale of 6 or more items (all answered).

    Scales are the bundled instruments whose items the data hold, and the
    codebook's own ``instrument`` groups of ``item`` variables.
    """
    out = []
    scales = _scales(cb, frame)
    listed = {c for items in scales.values() for c in items}
    own = cb[(cb["type"].str.lower() == "item") & (cb["instrument"] != "") & ~cb["variable"].isin(listed)
             & cb["variable"].isin(frame.columns)]
    for name, group in own.groupby("instrument", sort=False):   # the codebook's own scales
        scales.setdefault(name, group["variable"].tolist())
    for inst_id, items in scales.items():
        if len(items) < STRAIGHT_LINE_MIN_ITEMS:
            continue
        x = frame[items].apply(pd.to_numeric, errors="coerce")
        n_answered = x.notna().sum(axis=1)
        # every item answered alike, or all but one (a skipped item does not hide straight-lining)
        same = (n_answered >= len(items) - STRAIGHT_LINE_SKIPS) & (x.nunique(axis=1) == 1)
        if same.any():
            answer = x.loc[same].bfill(axis=1).iloc[:, 0]
            counts = answer.value_counts().sort_values(ascending=False, kind="stable")
            by_answer = ", ".join(f"{_answer(v)} by {int(k)} pupil{'s' if k != 1 else ''}" for v, k in counts.items())
            n_skip = int((n_answered[same] < len(items)).sum())
            skipped = (f"; {n_skip} of them skipped one item" if n_skip else "")
            out.append({"variable": inst_id, "source_name": ", ".join(
                            cb.set_index("variable").loc[items[:2], "source_name"]) + " ...",
                        "problem": "straight-lining", "n": int(same.sum()), "rows": _rows(frame.index[same]),
                        "example": f"the same answer to all {len(items)} items: {by_answer}{skipped}",
                        "severity": "warning"})
    return out


def summary_line(problems: pd.DataFrame) -> str:
    """One line summing up :func:`validate`'s table: errors, warnings, notes, straight-liners."""
    sev = problems["severity"] if len(problems) else pd.Series([], dtype=object)
    n_err, n_warn = int((sev == "error").sum()), int((sev == "warning").sum())
    n_note = int((sev == "note").sum())
    def n_(k, word):
        return f"{k} {word}{'s' if k != 1 else ''}"
    parts = [n_(n_err, "error") + " (mapping would stop)", n_(n_note, "note"),
             n_(n_warn, "warning") + " (look before analysing)"]
    extra = []
    for problem, one, many in (
            ("straight-lining", "straight-lining pupil", "straight-lining pupils"),
            ("empty throughout", "variable empty throughout", "variables empty throughout"),
            ("constant column", "constant column", "constant columns"),
            ("reverse key differs from instrument", "reverse key unlike the instrument's",
             "reverse keys unlike the instrument's"),
            ("negative item-rest correlation", "item against its scale", "items against their scale")):
        hit = problems[problems["problem"] == problem] if len(problems) else problems
        if len(hit):
            k = int(hit["n"].sum()) if problem == "straight-lining" else len(hit)
            extra.append(f"{k} {one if k == 1 else many}")
    return (", ".join(parts) + (f" ({'; '.join(extra)})" if extra else "")
            + "; rows are counted from 1 (the first pupil is row 1).")


def validate(data: pd.DataFrame, codebook: pd.DataFrame | str | os.PathLike, *,
             file: str | None = None) -> pd.DataFrame:
    """List the problems of a raw export against a codebook, changing nothing.

    Everything :func:`apply_codebook` (or a later step such as scoring) would
    reject is listed, so a clean result means the export maps.

    Parameters
    ----------
    data : DataFrame or LabelledData
        The raw export (see :func:`apply_codebook`).
    codebook : DataFrame or path
    file : str, optional
        Target file of the codebook (see :func:`apply_codebook`).

    Returns
    -------
    DataFrame
        One row per problem: ``variable, source_name, problem, n, rows,
        example, severity``.  Rows are counted from 1.  Errors (``severity ==
        "error"``) stop :func:`apply_codebook`: ``"column missing"``,
        ``"invalid value"`` (unknown label, out of range, or not a whole number
        on an item, integer or binary variable), ``"duplicated id"``, ``"blank
        id"`` (of the identifier), ``"reversed range"`` (``allowed="5-1"``),
        ``"source used twice"`` (two items drawn from one raw column), ``"instrument name
        unknown"`` (an item of a bundled instrument filed under another name; the message says
        which), and ``"constant declared"`` with a value that is not allowed.
        Notes: ``"not-answered code"`` (will be set missing), ``"text label"``
        (will be recoded), ``"column name normalised"`` (matched after trimming
        or Unicode NFC), ``"blank id"`` of another identifier column, and
        ``"id stored as number"`` (leading zeros may already be lost: read the
        file with :func:`belonging_lib.io.read_data`, which keeps IDs as text).
        A ``"not-answered code"`` row counts each kind of declared missing
        apart in its ``example`` (``"9.0 (Prefer not to say): 31; -99.0 (Not
        asked): 136"``, with the code's label where known).
        ``"file read with a change"`` (merged Excel cells filled from their
        top-left cell, hidden rows read: the note names the cells) is a note.
        ``"one source, several variables"`` (the mapping shown), ``"constant
        declared"`` (a ``constant`` row),
        ``"constant column"`` (one value for every pupil who answered, when
        at least 10 did) and ``"class name in several schools"`` (``class_id``
        will be school-qualified) are notes too.  Warnings (``severity ==
        "warning"``) do not stop the mapping but need a look before any
        analysis: ``"instrument not in the registry"`` (an own scale's name close
        to a bundled instrument's: a typing slip?), ``"empty throughout"`` (no pupil has a value),
        ``"straight-lining"`` (pupils giving the same answer to every item of
        a scale of 6 or more items, all answered or all but one; listed by row, with how many
        gave each answer; scales are
        the bundled instruments and the codebook's ``instrument`` groups),
        ``"reverse key differs from instrument"`` (the codebook's
        ``reverse`` column against the bundled instrument's key: scoring
        uses the instrument's) and ``"negative item-rest correlation"``
        (with the instrument's keys applied, the item correlates negatively
        with the mean of the rest of its scale; the correlation is given).
        :func:`summary_line` sums the table up in one line.
        An empty table means the export maps cleanly.

    Examples
    --------
    >>> cb = read_codebook(pd.DataFrame({"variable": ["q1"], "allowed": ["1-5"]}))
    >>> validate(pd.DataFrame({"q1": [1, 7, 9]}), cb)[["variable", "problem", "n", "rows"]]
      variable        problem  n       rows
    0       q1  invalid value  2  rows 2, 3
    """
    raw, declared, file_labels, _, earlier = _file_meta(data)
    cb = _select(read_codebook(codebook), file)
    problems = []
    errors = {"column missing", "invalid value", "duplicated id", "reversed range", "source used twice"}

    def add(spec, problem, mask, values, severity=None):
        rows = raw.index[mask]
        problems.append({"variable": spec["variable"], "source_name": spec["source_name"], "problem": problem,
                         "n": int(mask.sum()), "rows": _rows(rows),
                         "example": _show(values[mask].iloc[0]) if mask.any() else "",
                         "severity": severity or ("error" if problem in errors else "note")})

    problems += _codebook_problems(cb)
    for note in getattr(data, "extra_notes", ()):     # merged Excel cells filled, hidden rows read
        problems.append({"variable": "", "source_name": "", "problem": "file read with a change", "n": 0,
                         "rows": "", "example": note, "severity": "note"})
    found, renamed = _match_columns(raw, cb, earlier)
    for before, after in renamed.items():
        spec = cb[cb["source_name"] == after].iloc[0] if (cb["source_name"] == after).any() else None
        problems.append({"variable": spec["variable"] if spec is not None else after, "source_name": after,
                         "problem": "column name normalised", "n": 0, "rows": "",
                         "example": f"{before!r} -> {after!r}", "severity": "note"})
    ids = cb.loc[cb["type"].str.lower() == "id"]
    first_id = ids.iloc[0]["variable"] if len(ids) else None
    mapped: dict[str, pd.Series] = {}
    for _, spec in cb.iterrows():
        if _is_constant(spec):
            col = _map_column(pd.Series(spec["constant"], index=raw.index, dtype=object), spec)
            mapped[spec["variable"]] = col.mapped
            problems.append({"variable": spec["variable"], "source_name": "", "problem": "constant declared",
                             "n": len(raw), "rows": "all rows", "example": f"{spec['constant']!r} for every pupil"
                             + (", which is not an allowed value" if col.invalid.any() else ""),
                             "severity": "error" if col.invalid.any() else "note"})
            continue
        if spec["source_name"] not in found:
            problems.append({"variable": spec["variable"], "source_name": spec["source_name"],
                             "problem": "column missing", "n": len(raw), "rows": "all rows", "example": "",
                             "severity": "error"})
            continue
        src = found[spec["source_name"]]
        values = raw[src]
        col = _map_column(values, spec, declared.get(src, ()), file_labels.get(src))
        mapped[spec["variable"]] = col.mapped
        if col.invalid.any():
            add(spec, "invalid value", col.invalid, values)
        kinds = _missing_kinds(values, col.coded_missing)
        if kinds:   # one row per variable; each kind of missing counted in the example
            add(spec, "not-answered code", col.coded_missing, values)
            labels = {**_numeric_keys(file_labels.get(src, {})), **_code_labels(spec["value_labels"])}
            parts = []
            for kind, mask in kinds:
                label = labels.get(kind) if not isinstance(kind, str) else None
                shown = _show(values[mask].iloc[0])
                parts.append(f"{shown}{' (' + label + ')' if label else ''}: {int(mask.sum())}")
            problems[-1]["example"] = "; ".join(parts)
        if col.recoded.any():
            add(spec, "text label", col.recoded, values)
        if col.n_present == 0 and len(raw):
            problems.append({"variable": spec["variable"], "source_name": spec["source_name"],
                             "problem": "empty throughout", "n": len(raw), "rows": "all rows", "example": "",
                             "severity": "warning"})
        elif spec["type"].lower() != "id" and len(raw) > 1:
            kept = col.mapped.dropna()
            if len(kept) >= CONSTANT_MIN_VALUES and kept.astype(str).nunique() == 1:
                problems.append({"variable": spec["variable"], "source_name": spec["source_name"],
                                 "problem": "constant column", "n": int(len(kept)), "rows": "",
                                 "example": _show(kept.iloc[0]), "severity": "note"})
        if spec["type"].lower() == "id":
            blank = values.isna() | (values.astype(str).str.strip() == "")
            if blank.any():
                add(spec, "blank id", blank, values.astype(object).where(~values.isna(), ""),
                    severity="error" if spec["variable"] == first_id else "note")
            if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
                problems.append({"variable": spec["variable"], "source_name": spec["source_name"],
                                 "problem": "id stored as number", "n": int(values.notna().sum()), "rows": "",
                                 "example": _show(values.dropna().iloc[0]) if values.notna().any() else "",
                                 "severity": "note"})
    if first_id is not None:
        spec = ids.iloc[0]
        if spec["source_name"] in found:
            values = raw[found[spec["source_name"]]]
            dup = values.duplicated(keep=False) & values.notna()
            if dup.any():
                add(spec, "duplicated id", dup, values)
    frame = pd.DataFrame(mapped, index=raw.index)
    problems += _reverse_problems(cb, frame)
    problems += _straight_liners(cb, frame)
    shared = _shared_classes(frame)
    if shared:
        spec = cb[cb["variable"] == "class_id"].iloc[0]
        n_names = frame["class_id"].nunique()
        n_classes = frame[["school_id", "class_id"]].dropna().drop_duplicates().shape[0]
        problems.append({"variable": "class_id", "source_name": spec["source_name"],
                         "problem": "class name in several schools", "n": len(shared), "rows": "",
                         "example": f"{shared[0]!r}; {n_names} class names are {n_classes} classes: class_id "
                                    f"will be school-qualified ('school-class')", "severity": "note"})
    return pd.DataFrame(problems, columns=["variable", "source_name", "problem", "n", "rows", "example",
                                           "severity"])
