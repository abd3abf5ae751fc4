"""Reading survey files, checking identifiers, safe merges and the missing-data picture.

:func:`read_data` reads CSV, Excel (``.xlsx``), SPSS (``.sav``) and Stata
(``.dta``) files into a :class:`pandas.DataFrame`.  :func:`read_labelled`
reads the same files into a :class:`LabelledData` result: the table and what
the file says about it, in fields (never in ``DataFrame.attrs``, which pandas
drops on many operations):

``variable_labels``
    ``{column: "question text"}`` (SPSS / Stata; empty for CSV and Excel).
``value_labels``
    ``{column: {code: "label"}}`` (SPSS / Stata).
``missing_codes``
    ``{column: [codes]}`` declared user-missing in an SPSS file.
``source``
    the file name.

Pass a :class:`LabelledData` to :func:`belonging_lib.codebook.apply_codebook`
or :func:`~belonging_lib.codebook.validate` and they use its labels and
declared missing codes.

Problems raise :class:`~belonging_lib.DataError` with a message naming the
file, row and value: a missing or empty file, a truncated or corrupt file, a
text encoding that is not UTF-8 (pass ``encoding=``), duplicated identifiers
(:func:`check_ids`).

The codebook (mapping a survey tool's export to the standard schema) lives
in :mod:`belonging_lib.codebook` (import its functions from there).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as _dt
import io as _io
import os
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ._errors import BelongingWarning, ColumnError, DataError
from ._results import Result, RowLedger, tidy
from ._validation import as_frame, as_list, check_choice, describe_rows, require_columns

__all__ = [
    "read_data",
    "read_labelled",
    "LabelledData",
    "check_ids",
    "safe_merge",
    "missingness",
    "Missingness",
]

_READERS = {".csv": "csv", ".txt": "csv", ".gz": "csv", ".xlsx": "excel", ".xls": "excel",
            ".sav": "spss", ".zsav": "spss", ".dta": "stata"}


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".gz" and not path.name.lower().endswith(".csv.gz"):
        suffix = ".unknown"
    if suffix not in _READERS:
        raise DataError(
            f"Cannot read {path.name!r}: the file type {path.suffix or '(none)'!r} is not supported. "
            "Use CSV (.csv), Excel (.xlsx), SPSS (.sav) or Stata (.dta)."
        )
    return _READERS[suffix]


@dataclasses.dataclass(frozen=True)
class LabelledData(Result):
    """A survey file as read by :func:`read_labelled`: the table and what the file says about it.

    Attributes
    ----------
    data : DataFrame
        Every row of the file (as :func:`read_data` returns it).
    source : str
        The file name.
    variable_labels : dict
        ``{column: "question text"}`` (SPSS / Stata; empty for CSV and Excel).
    value_labels : dict
        ``{column: {code: "label"}}`` (SPSS / Stata).
    missing_codes : dict
        ``{column: [codes]}`` declared user-missing in an SPSS file.
    renamed_columns : dict
        ``{name as written: name used}`` for header names that were trimmed or put in NFC form.
    id_columns : tuple
        Columns read as identifiers (text).
    delimiter : str or None
        A CSV file's field delimiter.
    multiline_rows : tuple
        ``(first line, last line)`` of CSV records whose quoted fields span several lines.
    extra_notes : tuple
        What reading did that the user should know: merged Excel cells filled
        from each merge's top-left cell (the ranges named), hidden rows read.
    """

    data: pd.DataFrame
    source: str
    variable_labels: dict
    value_labels: dict
    missing_codes: dict
    renamed_columns: dict
    id_columns: tuple = ()
    delimiter: str | None = None
    multiline_rows: tuple = ()
    extra_notes: tuple = ()
    title = "Survey file"

    def to_frame(self) -> pd.DataFrame:
        """One row per column: its label, number of value labels, declared missing codes, whether an ID."""
        cols = list(self.data.columns)
        return pd.DataFrame({
            "variable": cols,
            "label": [self.variable_labels.get(c, "") for c in cols],
            "n_value_labels": [len(self.value_labels.get(c, {})) for c in cols],
            "missing_codes": [list(self.missing_codes.get(c, [])) for c in cols],
            "id": [c in self.id_columns for c in cols],
        })

    def notes(self) -> list[str]:
        return [f"{self.source}: {len(self.data)} rows, {self.data.shape[1]} columns."] + list(self.extra_notes)


def read_data(path: str | os.PathLike, *, columns: Sequence[str] | None = None,
              encoding: str | None = None, sheet: int | str = 0, ids: Sequence[str] | None = None,
              delimiter: str | None = None) -> pd.DataFrame:
    """Read a survey file (CSV, Excel, SPSS or Stata), keeping every row and ID.

    The table alone: SPSS user-missing codes are set to missing.  For the
    file's labels and declared missing codes, use :func:`read_labelled`,
    whose arguments, errors and notes these are.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "mini.csv").write_text("pupil_id,q1\\n007,4\\n010,\\n", encoding="utf-8")
    >>> frame = read_data(folder / "mini.csv")
    >>> frame["pupil_id"].tolist(), frame["q1"].tolist()
    (['007', '010'], [4.0, nan])
    """
    return read_labelled(path, columns=columns, encoding=encoding, sheet=sheet, ids=ids,
                         delimiter=delimiter).data


def read_labelled(path: str | os.PathLike, *, columns: Sequence[str] | None = None,
                  encoding: str | None = None, sheet: int | str = 0,
                  user_missing: str = "missing", ids: Sequence[str] | None = None,
                  delimiter: str | None = None) -> LabelledData:
    """Read a survey file (CSV, Excel, SPSS or Stata) with its labels, keeping every row and ID.

    Parameters
    ----------
    path : path
        ``.csv`` (or ``.csv.gz``), ``.xlsx``, ``.sav`` or ``.dta`` file.
    columns : list of str, optional
        Columns to keep (all by default); a name not in the file raises
        :class:`~belonging_lib.ColumnError`.
    encoding : str, optional
        Text encoding of a CSV file.  By default a byte-order mark decides
        (UTF-8, UTF-16 or UTF-32); without one the file is read as UTF-8
        (UTF-16 without a mark is recognised and named in the error), and a
        file in another encoding raises a :class:`~belonging_lib.DataError`
        suggesting ``encoding="cp1252"``.
    sheet : int or str
        Excel sheet (first by default).
    user_missing : {"missing", "keep"}
        SPSS user-missing codes (for example 9 = "not answered"): set to
        missing (default) or keep the codes so that
        :func:`~belonging_lib.codebook.apply_codebook` can count them.  The
        declared codes are listed in ``missing_codes`` either way.
    ids : list of str, optional
        Identifier columns, read as text whatever they look like (surrounding
        spaces removed; names not in the file are ignored, so a codebook's
        identifiers can be passed whole).  Columns whose names look like
        identifiers (``pupil_id``, ``ResponseId``, ``Pupil ID``, ``UPN``,
        ``Pupil Ref`` ...) are read as text anyway.
    delimiter : str, optional
        Field delimiter of a CSV file; by default a comma, or a semicolon,
        tab or bar when the header holds one of those and no comma.  In a
        semicolon-separated file a decimal comma (``94,5``) is read as a
        decimal point.

    Returns
    -------
    LabelledData
        Every row of the file (``data``) with the file's labels and declared
        missing codes (see the module notes).

    Raises
    ------
    DataError
        The file is missing, empty, truncated, corrupt or not readable text;
        a row has too few or too many fields; a double quote opens a field
        that swallows the lines of other pupils.
    ColumnError
        A requested column is absent, or the header names a column twice.

    Notes
    -----
    Identifiers stay text in every format: ``"007"`` stays ``"007"``,
    ``"1E5"`` stays ``"1E5"`` and a 17-digit number keeps every digit.  A
    numeric identifier in an SPSS or Stata file becomes the text of the whole
    number (``7``), zero-padded to the width of an SPSS ``N`` format or a
    Stata ``%0w`` format (``007``), so the same pupil has the same ID text
    whichever file it came from.

    Other CSV and Excel cells are read as text and converted column by column
    to numbers where every non-empty cell is a number and the conversion
    loses nothing: a column in which any value has a leading zero (``"01"``)
    or more than 15 digits stays text.  Only empty cells are missing: words
    such as ``"None"`` or ``"NA"`` stay as written (declare them missing in
    the codebook).  Header names are put in Unicode NFC form and trimmed; the
    names this changed are listed in ``renamed_columns``.  A
    CSV row with fewer or more fields than the header (a file cut short while
    copying, a stray delimiter) raises rather than being padded with missing
    values, and the rows read are checked against the file's lines.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "mini.csv").write_text("pupil_id,q1\\n007,4\\n010,\\n", encoding="utf-8")
    >>> read_labelled(folder / "mini.csv").id_columns
    ('pupil_id',)
    """
    path = Path(path)
    check_choice("user_missing", user_missing, ["missing", "keep"])
    if not path.exists():
        raise DataError(f"The file {str(path)!r} does not exist.")
    if path.is_dir():
        raise DataError(f"{str(path)!r} is a folder, not a data file.")
    if path.stat().st_size == 0:
        raise DataError(f"The file {path.name!r} is empty (0 bytes).")
    if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1):
        raise DataError(f"`delimiter` must be one character, such as ';', but {delimiter!r} was passed.")
    id_names = {_norm_header(c) for c in as_list(ids)}
    kind = _kind(path)
    extra: dict = {}
    if kind == "csv":
        frame, extra = _read_csv(path, encoding, delimiter, id_names)
        meta: dict = {}
    elif kind == "excel":
        frame, excel_notes = _read_excel(path, sheet, id_names)
        meta = {}
        extra["notes"] = excel_notes
    else:
        frame, meta = _read_labelled(path, kind, user_missing, id_names)
    if frame.shape[1] == 0:
        raise DataError(f"The file {path.name!r} has no columns.")
    if kind != "csv":  # CSV headers are checked before the cells are converted
        names, renamed = _check_header(path.name, [str(c) for c in frame.columns])
        frame.columns = names
        meta = _rename_meta(meta, renamed)
    else:
        renamed = extra.get("renamed", {})
    if columns is not None:
        cols = require_columns(frame, [_norm_header(c) for c in as_list(columns)], role="column")
        frame = frame[cols].copy()
    for note in extra.get("notes") or ():
        import warnings

        warnings.warn(note, BelongingWarning, stacklevel=3)
    return LabelledData(
        data=frame, source=path.name,
        variable_labels={k: v for k, v in meta.get("variable_labels", {}).items() if k in frame.columns},
        value_labels={k: v for k, v in meta.get("value_labels", {}).items() if k in frame.columns},
        missing_codes={k: v for k, v in meta.get("missing_codes", {}).items() if k in frame.columns},
        renamed_columns=dict(renamed),
        id_columns=tuple(c for c in frame.columns if _is_id(c, id_names)),
        delimiter=extra.get("delimiter"), multiline_rows=tuple(extra.get("multiline") or ()),
        extra_notes=tuple(extra.get("notes") or ()))


# --------------------------------------------------------------------------- reading helpers

def _norm_header(name) -> str:
    """A header name as matched: Unicode NFC, surrounding whitespace removed."""
    return unicodedata.normalize("NFC", str(name)).strip()


def _is_id(name: str, id_names=frozenset()) -> bool:
    from .privacy import looks_like_id_column

    return _norm_header(name) in id_names or looks_like_id_column(name)


def _check_header(source: str, header: list[str]) -> tuple[list[str], dict[str, str]]:
    """Normalise header names; raise naming a column that appears twice."""
    names = [_norm_header(h) for h in header]
    renamed = {h: n for h, n in zip(header, names) if h != n}
    seen: dict[str, int] = {}
    for pos, n in enumerate(names):
        if n in seen:
            first = seen[n]
            same = header[first] == header[pos]
            how = "" if same else (f" ({header[first]!r} and {header[pos]!r} are the same name once "
                                   "trimmed and put in Unicode NFC form)")
            blank = (" Blank header cells usually mean the first row is not the header: if a title or an "
                     "empty row sits above the column names, delete it and read the file again."
                     if n == "" else "")
            raise ColumnError(
                f"The file {source!r} has the column {n!r} twice in its header (columns {first + 1} and "
                f"{pos + 1}){how}. Rename or remove one of them so that each column has its own name.{blank}"
            )
        seen[n] = pos
    blank = [i + 1 for i, n in enumerate(names) if n == ""]
    if blank and len(names) > 1:
        names = [n if n else f"column_{i + 1}" for i, n in enumerate(names)]
        renamed.update({header[i - 1]: f"column_{i}" for i in blank})
    return names, renamed


def _rename_meta(meta: dict, renamed: dict) -> dict:
    if not renamed:
        return meta
    return {k: ({renamed.get(c, c): v for c, v in d.items()} if isinstance(d, dict) else d)
            for k, d in meta.items()}


_BOMS = ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"), (b"\xef\xbb\xbf", "utf-8-sig"),
         (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


def _guess_encoding(raw: bytes) -> str | None:
    """The encoding a byte-order mark names, or UTF-16 recognised by its zero bytes."""
    for bom, enc in _BOMS:
        if raw.startswith(bom):
            return enc
    head = raw[:400]
    if len(head) >= 4:
        even, odd = head[0::2], head[1::2]
        if odd.count(0) >= 0.4 * len(odd) and even.count(0) == 0:
            return "utf-16-le"
        if even.count(0) >= 0.4 * len(even) and odd.count(0) == 0:
            return "utf-16-be"
    return None


def _decode(path: Path, encoding: str | None) -> str:
    raw = path.read_bytes()
    if path.name.lower().endswith(".gz"):
        import gzip

        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataError(f"The file {path.name!r} is not a complete gzip file ({exc}).") from None
    guessed = _guess_encoding(raw)
    enc = encoding or guessed or "utf-8-sig"
    try:
        text = raw.decode(enc)
    except LookupError:
        raise DataError(f"Unknown text encoding {encoding!r} for {path.name!r}.") from None
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        if encoding is None:
            hint = ("Save it as 'CSV UTF-8' or pass encoding='cp1252' (Windows/Excel) or encoding='latin-1'."
                    if guessed is None else f"It starts like {guessed} text but is not valid {guessed}; "
                    "it may be cut short or corrupt.")
        else:
            hint = "Check the `encoding` argument."
            if guessed and guessed.split("-")[0] != enc.lower().replace("_", "-").split("-")[0]:
                hint += f" The file looks like {guessed} text."
        raise DataError(
            f"The file {path.name!r} is not valid {enc} text: byte {raw[exc.start:exc.start + 1]!r} "
            f"on line {line} cannot be decoded. {hint}"
        ) from None
    return text[1:] if text.startswith("\ufeff") else text


def _physical_lines(text: str) -> list[str]:
    """The file's lines as the csv module counts them (\\n, \\r\\n or \\r ends a line)."""
    return re.split(r"\r\n|\r|\n", text)


def _shape(text: str) -> str:
    """The look of a cell: digits as 9, letters as a (``"P0012"`` -> ``"a9999"``)."""
    return re.sub(r"[^\W\d_]", "a", re.sub(r"\d", "9", text.strip()))


def _sniff_delimiter(text: str) -> str:
    first = text.split("\n", 1)[0].rstrip("\r")
    if len(next(csv.reader([first]), [""])) > 1:
        return ","
    best, width = ",", 1
    for d in (";", "\t", "|"):
        n = len(next(csv.reader([first], delimiter=d), [""]))
        if n > width:
            best, width = d, n
    return best


def _read_csv(path: Path, encoding: str | None, delimiter: str | None,
              id_names=frozenset()) -> tuple[pd.DataFrame, dict]:
    text = _decode(path, encoding)
    if "\x00" in text:
        raise DataError(f"The file {path.name!r} holds NUL bytes: it is binary or corrupt, not CSV text.")
    delim = delimiter or _sniff_delimiter(text)
    try:
        rows = list(csv.reader(_io.StringIO(text, newline=""), delimiter=delim))
    except csv.Error as exc:
        raise DataError(f"The file {path.name!r} is not readable CSV ({exc}).") from None
    n_all = len(rows)   # records including blank lines, to compare with the file's lines
    while rows and not any(cell.strip() for cell in rows[-1]):
        rows.pop()  # trailing blank lines
    if not rows:
        raise DataError(f"The file {path.name!r} has no header row.")
    header, body = rows[0], rows[1:]
    width = len(header)
    multiline = _check_records(path.name, text, delim, n_all, width)
    line_of = _line_numbers(text, delim, len(rows)) if multiline else None
    bad = [i for i, r in enumerate(body) if len(r) != width]
    if bad:
        lines = [(line_of[i + 1] if line_of else i + 2) for i in bad]  # file line numbers (1 = header)
        first = body[bad[0]]
        truncated = bad == [len(body) - 1] and not text.endswith(("\n", "\r"))
        why = ("the file looks truncated (its last line is cut short)" if truncated
               else "a delimiter or quote is out of place, or the file is truncated")
        hint = ""
        if width == 1 and delimiter is None:
            hint = (" If the file is not comma-separated, save it again as comma-separated CSV, or in Python "
                    "pass delimiter=';' (or the one it uses) to read_data.")
        raise DataError(
            f"The file {path.name!r} has {width} columns in its header but line{'s' if len(bad) > 1 else ''} "
            f"{', '.join(map(str, lines[:5]))}{' ...' if len(bad) > 5 else ''} "
            f"ha{'ve' if len(bad) > 1 else 's'} a different number of fields "
            f"(line {lines[0]} has {len(first)}): {why}.{hint}"
        )
    names, renamed = _check_header(path.name, header)
    n_body = len(body)
    cells = list(zip(*body)) if body else [()] * width   # one tuple of cells per column
    del rows, body
    decimal_comma = delim == ";"
    index = pd.RangeIndex(n_body)
    converted = {}
    for name, col in zip(names, cells):
        converted[name] = _convert_column(pd.Series(np.array(col, dtype=object), index=index, dtype=object),
                                          is_id=_is_id(name, id_names), decimal_comma=decimal_comma)
    del cells
    frame = pd.DataFrame(converted, index=index, columns=names)
    if len(frame) != n_body:  # cannot happen; a guard that no record is lost on the way
        raise DataError(f"Reading {path.name!r} kept {len(frame)} of its {n_body} records.")
    extra: dict = {"renamed": renamed}
    if delim != ",":
        extra["delimiter"] = delim
    if multiline:
        extra["multiline"] = multiline
    return frame, extra


def _line_numbers(text: str, delim: str, n_records: int) -> list[int]:
    """The file line on which each record starts (1 = first line)."""
    reader = csv.reader(_io.StringIO(text, newline=""), delimiter=delim)
    starts, prev = [], 0
    for _ in reader:
        starts.append(prev + 1)
        prev = reader.line_num
        if len(starts) >= n_records:
            break
    return starts


def _check_records(source: str, text: str, delim: str, n_all: int, width: int) -> list[tuple[int, int]]:
    """Check the parsed records against the file's lines.

    Returns the (first, last) line of each record that legitimately spans
    lines (quoted text holding a line break); raises when a double quote
    swallows lines that are records of their own.
    """
    n_lines = text.count("\n") + text.count("\r") - text.count("\r\n") + (not text.endswith(("\n", "\r")))
    if n_lines == n_all:   # one record per line: nothing spans lines (the usual case, counted in C)
        return []
    lines = _physical_lines(text)
    while lines and not lines[-1].strip():
        lines.pop()
    reader = csv.reader(_io.StringIO(text, newline=""), delimiter=delim)
    spans = []
    prev = 0
    for _ in reader:
        start, end = prev + 1, reader.line_num
        prev = end
        if end > start:
            spans.append((start, end))
    # a line inside a quoted cell "looks like a record" when, read alone, it has the header's number of
    # fields and its first field looks like the first field of the records (an ID such as P0012)
    reader = csv.reader(_io.StringIO(text, newline=""), delimiter=delim)
    next(reader, None)
    shapes = {_shape(r[0]) for r in reader if r and "\n" not in r[0] and "\r" not in r[0]}
    suspicious = []
    for start, end in spans:
        looks = []
        for ln in range(start + 1, end + 1):
            if width < 2 or ln - 1 >= len(lines):
                continue
            alone = next(csv.reader([lines[ln - 1].replace('"', "")], delimiter=delim), [])
            if len(alone) == width and alone[0].strip() and _shape(alone[0]) in shapes:
                looks.append(ln)
        if looks:
            suspicious.append((start, end, looks))
    unclosed = spans and spans[-1][1] >= len(lines) and text.rstrip("\r\n").count('"') % 2 == 1
    if unclosed and not suspicious:
        start = spans[-1][0]
        raise DataError(
            f"The file {source!r} has a double quote on line {start} that is never closed: every line from "
            f"{start} to the end ({len(lines)}) would be read as one cell. Remove the stray quote, or write a "
            "quote inside a text answer twice (\"\")."
        )
    if suspicious:
        start, end, looks = suspicious[0]
        n_lost = len(looks)
        more = f" ({len(suspicious)} such quotes in all)" if len(suspicious) > 1 else ""
        raise DataError(
            f"The file {source!r} has a double quote on line {start} that opens a text cell running on to "
            f"line {end}: {'line ' + str(looks[0]) if n_lost == 1 else f'lines {looks[0]}-{looks[-1]}'} "
            f"look{'s' if n_lost == 1 else ''} like {n_lost} separate row{'s' if n_lost != 1 else ''} "
            f"that would be swallowed into that cell{more}. Remove the stray quote on line {start}, or write "
            "a quote inside a text answer twice (\"\"), and read the file again."
        )
    return spans


_LOSSY = re.compile(r"^[+-]?0\d|^[+-]?\d{16,}$")
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")


def _blank(v) -> bool:
    return v is None or (isinstance(v, float) and v != v) or (isinstance(v, str) and not v.strip()) \
        or v is pd.NaT or (isinstance(v, np.floating) and np.isnan(v))


def _id_text(v, width: int | None = None):
    """The text of one identifier (missing when blank)."""
    if _blank(v):
        return np.nan
    if isinstance(v, (bool, np.bool_)):
        return str(v)
    if isinstance(v, (int, np.integer)):
        text = str(int(v))
    elif isinstance(v, (float, np.floating)):
        text = str(int(v)) if float(v).is_integer() else repr(float(v))
    else:
        return str(v).strip()
    if width and text.isdigit() and len(text) < width:
        text = text.zfill(width)
    return text


def _convert_column(series: pd.Series, *, is_id: bool = False, decimal_comma: bool = False,
                    width: int | None = None) -> pd.Series:
    """Convert one column of read cells: identifiers to text, lossless numbers to numbers.

    Each distinct value is classified once (``pd.factorize``), so a column of
    200,000 answers with five distinct values costs five conversions.
    """
    values = series.to_numpy(dtype=object)
    if is_id:   # nearly every value distinct: one pass, no hashing
        out = np.array([v.strip() if type(v) is str else _id_text(v, width) for v in values] or [], dtype=object)
        if len(out):
            out[out == ""] = np.nan
        return pd.Series(out, index=series.index, dtype=object)
    codes, uniq = pd.factorize(values, use_na_sentinel=True)
    n_u = len(uniq)
    idx = np.where(codes < 0, n_u, codes)   # missing cells point at the extra last slot
    present = [u for u in uniq if not _blank(u)]
    if present and all(isinstance(u, (_dt.datetime, _dt.date, pd.Timestamp)) for u in present):
        # Excel dates stay dates (blank cells NaT)
        return pd.to_datetime(pd.Series([None if _blank(v) else v for v in values], index=series.index))
    numbers = np.full(n_u + 1, np.nan)
    text_column = False
    for i, u in enumerate(uniq):
        if _blank(u):
            continue
        if isinstance(u, (bool, np.bool_)):
            text_column = True
            break
        if isinstance(u, (int, float, np.integer, np.floating)):
            numbers[i] = float(u)
            continue
        if not isinstance(u, str):
            text_column = True
            break
        s = u.strip()
        if _LOSSY.match(s):
            text_column = True
            break
        if decimal_comma and _DECIMAL_COMMA.match(s):
            s = s.replace(",", ".")
        try:
            numbers[i] = float(s)
        except ValueError:
            text_column = True
            break
    if text_column:
        out_u = np.empty(n_u + 1, dtype=object)
        out_u[:n_u] = uniq
        for i, u in enumerate(uniq):
            if isinstance(u, str) and u == "":
                out_u[i] = np.nan
        out_u[n_u] = np.nan
        return pd.Series(out_u[idx], index=series.index, dtype=object)
    arr = numbers[idx]
    if len(arr) and not np.isnan(arr).any() and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)) \
            and np.all(np.abs(arr) < 2**53):
        return pd.Series(arr.astype("int64"), index=series.index)
    return pd.Series(arr, index=series.index, dtype="float64")


def _read_excel(path: Path, sheet: int | str, id_names=frozenset()) -> tuple[pd.DataFrame, list[str]]:
    """An Excel sheet as a table, and notes on what reading it did (merged cells, hidden rows)."""
    if path.suffix.lower() == ".xlsx":
        return _read_xlsx(path, sheet, id_names)
    try:
        grid = pd.read_excel(path, sheet_name=sheet, header=None, dtype=object, keep_default_na=False,
                             na_filter=False)
    except (ValueError, KeyError) as exc:
        raise DataError(f"Cannot read sheet {sheet!r} of {path.name!r}: {exc}") from None
    except Exception as exc:  # OSError, a truncated or corrupt workbook
        raise DataError(f"The Excel file {path.name!r} is corrupt or truncated ({type(exc).__name__}: {exc}).") from None
    if grid.empty:
        raise DataError(f"The sheet {sheet!r} of {path.name!r} is empty.")
    return _frame_from_grid(path, grid.values.tolist(), id_names), []


def _frame_from_grid(path: Path, rows: list[list], id_names, title_hint: str = "") -> pd.DataFrame:
    """The table of a sheet's rows of cell values (the first row the header)."""
    header = ["" if _blank(h) else _id_text(h) if isinstance(h, (int, float)) else str(h) for h in rows[0]]
    try:
        names, _ = _check_header(path.name, header)
    except ColumnError as exc:
        if not title_hint:
            raise
        raise ColumnError(str(exc).split(" Blank header cells")[0] + title_hint) from None
    body = pd.DataFrame([list(r) for r in rows[1:]], columns=names, dtype=object) if len(rows) > 1 else \
        pd.DataFrame({n: pd.Series([], dtype=object) for n in names})
    frame = pd.DataFrame({c: _convert_column(body[c], is_id=_is_id(c, id_names)) for c in names}, index=body.index)
    frame.columns = header  # read_data normalises and reports the names
    return frame


def _ranges(numbers: list[int]) -> str:
    """Row numbers as runs: [3, 4, 5, 9] -> '3-5, 9'."""
    out, start, prev = [], None, None
    for n in sorted(numbers):
        if start is None:
            start = prev = n
        elif n == prev + 1:
            prev = n
        else:
            out.append(f"{start}-{prev}" if prev > start else f"{start}")
            start = prev = n
    if start is not None:
        out.append(f"{start}-{prev}" if prev > start else f"{start}")
    return ", ".join(out)


def _shown_id(value, fmt: str):
    """The text Excel shows for a number in an identifier cell (its own number format decides)."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and not value.is_integer():
        return repr(value)
    text = str(int(value))
    body = (fmt or "").split(";")[0]
    m = re.fullmatch(r'(?:"([^"]*)"|\\(.))?(0+)', body)
    if m:
        prefix = m.group(1) or m.group(2) or ""
        text = prefix + text.zfill(len(m.group(3)))
    return text


def _read_xlsx(path: Path, sheet: int | str, id_names=frozenset()) -> tuple[pd.DataFrame, list[str]]:
    """An .xlsx sheet read cell by cell with openpyxl.

    Merged cells take the value of the merge's top-left cell (Excel shows that
    value across the merge; openpyxl leaves the other cells empty), hidden
    rows are read, and an identifier is the text Excel shows in its cell: a
    number formatted ``000000`` is zero-padded in that cell only, never in its
    neighbours.  A date in an identifier column is an error naming the cells.
    """
    import zipfile

    import openpyxl
    from openpyxl.utils import get_column_letter

    try:
        wb = openpyxl.load_workbook(path, data_only=True)
    except (zipfile.BadZipFile, OSError, KeyError, ValueError, EOFError) as exc:
        raise DataError(f"The Excel file {path.name!r} is corrupt or truncated ({type(exc).__name__}: {exc}).") from None
    try:
        try:
            ws = wb.worksheets[sheet] if isinstance(sheet, int) else wb[sheet]
        except (IndexError, KeyError):
            raise DataError(f"Cannot read sheet {sheet!r} of {path.name!r}: it has the sheets "
                            f"{wb.sheetnames}.") from None
        rows = [[c.value for c in r] for r in ws.iter_rows()]
        formats = [[c.number_format for c in r] for r in ws.iter_rows()]
        while rows and all(_blank(v) for v in rows[-1]):
            rows.pop()
        if not rows or not any(not _blank(v) for r in rows for v in r):
            raise DataError(f"The sheet {sheet!r} of {path.name!r} is empty.")
        width = max((max((i + 1 for i, v in enumerate(r) if not _blank(v)), default=0) for r in rows), default=0)
        rows = [(list(r) + [None] * width)[:width] for r in rows]
        formats = [(list(f) + ["General"] * width)[:width] for f in formats[:len(rows)]]
        notes = []
        # a title above the header: the first row has one cell filled, a later row looks like a header
        filled = [i for i, v in enumerate(rows[0]) if not _blank(v)]
        title_hint = ""
        if width > 1 and len(filled) == 1:
            for k in range(1, min(len(rows), 6)):
                if sum(isinstance(v, str) and v.strip() != "" for v in rows[k]) >= max(2, width - 1):
                    title_hint = (f" Row 1 of the sheet holds only {rows[0][filled[0]]!r}, which looks like a "
                                  f"title; the header seems to be on row {k + 1}. Delete the rows above the "
                                  "header (or save the table alone) and read the file again.")
                    break
        merged = []
        for rng in sorted(ws.merged_cells.ranges, key=lambda r: (r.min_row, r.min_col)):
            if rng.max_row < 2 or rng.min_row > len(rows):        # the header's own merges stay as they are
                continue
            top = rows[rng.min_row - 1][rng.min_col - 1] if rng.min_col <= width else None
            fmt = formats[rng.min_row - 1][rng.min_col - 1] if rng.min_col <= width else "General"
            for r in range(max(rng.min_row, 2), min(rng.max_row, len(rows)) + 1):
                for c in range(rng.min_col, min(rng.max_col, width) + 1):
                    rows[r - 1][c - 1] = top
                    formats[r - 1][c - 1] = fmt
            merged.append(rng.coord)
        if merged:
            notes.append(f"{path.name}: merged cells {', '.join(merged[:12])}{' ...' if len(merged) > 12 else ''} "
                         "were filled with the value of each merge's top-left cell (as Excel shows them).")
        hidden = [r for r in range(2, len(rows) + 1) if ws.row_dimensions[r].hidden]
        if hidden:
            notes.append(f"{path.name}: {len(hidden)} row{'s' if len(hidden) != 1 else ''} hidden in Excel "
                         f"(sheet rows {_ranges(hidden)}) {'were' if len(hidden) != 1 else 'was'} read like the others.")
        header = ["" if _blank(h) else str(h) for h in rows[0]]
        for j, name in enumerate(header):
            if not _is_id(_norm_header(name), id_names) or not name:
                continue
            dates = []
            for i in range(1, len(rows)):
                v = rows[i][j]
                if isinstance(v, (_dt.datetime, _dt.date, _dt.time, _dt.timedelta)):
                    dates.append((f"{get_column_letter(j + 1)}{i + 1}", v))
                elif isinstance(v, (int, float)) and not isinstance(v, bool):
                    rows[i][j] = _shown_id(v, formats[i][j])
            if dates:
                shown = ", ".join(f"{cell} ({v.date() if isinstance(v, _dt.datetime) and v.time() == _dt.time() else v})"
                                  for cell, v in dates[:5])
                raise DataError(
                    f"The identifier column {name.strip()!r} of {path.name!r} holds dates in "
                    f"{len(dates)} cell{'s' if len(dates) != 1 else ''}: {shown}{' ...' if len(dates) > 5 else ''}. "
                    "Excel turned these identifiers into dates; format the column as Text, type the "
                    "identifiers again and save, then read the file again.")
        return _frame_from_grid(path, rows, id_names, title_hint), notes
    finally:
        wb.close()


def _read_labelled(path: Path, kind: str, user_missing: str, id_names=frozenset()) -> tuple[pd.DataFrame, dict]:
    import pyreadstat

    reader = pyreadstat.read_sav if kind == "spss" else pyreadstat.read_dta
    kwargs = {"user_missing": True} if kind == "spss" else {}
    try:
        frame, meta = reader(str(path), **kwargs)
    except Exception as exc:  # pyreadstat.ReadstatError / PyreadstatError for truncated or corrupt files
        label = "SPSS" if kind == "spss" else "Stata"
        raise DataError(
            f"The {label} file {path.name!r} is corrupt or truncated and cannot be read "
            f"({type(exc).__name__}: {exc})."
        ) from None
    value_labels = {col: dict(meta.value_labels[name])
                    for col, name in meta.variable_to_label.items() if name in meta.value_labels}
    missing_codes: dict[str, list] = {}
    for col, ranges in (getattr(meta, "missing_ranges", None) or {}).items():
        codes = []
        for r in ranges:
            if r["lo"] == r["hi"]:
                codes.append(r["lo"])
            else:
                codes.append((r["lo"], r["hi"]))
        missing_codes[col] = codes
    for col, codes in (getattr(meta, "missing_user_values", None) or {}).items():
        missing_codes.setdefault(col, list(codes))
    if user_missing == "missing":
        for col, codes in missing_codes.items():
            frame[col] = frame[col].mask(_is_code(frame[col], codes))
    formats = getattr(meta, "original_variable_types", None) or {}
    for col in frame.columns:
        if _is_id(col, id_names):
            fmt = str(formats.get(col, ""))
            m = re.fullmatch(r"N(\d+)", fmt) or re.fullmatch(r"%0(\d+)\.0[fg]", fmt)
            frame[col] = _convert_column(frame[col], is_id=True, width=int(m.group(1)) if m else None)
    meta_out = {
        "variable_labels": {k: v for k, v in dict(zip(meta.column_names, meta.column_labels)).items() if v},
        "value_labels": value_labels,
        "missing_codes": missing_codes,
    }
    return frame, meta_out


def _is_code(series: pd.Series, codes: Sequence) -> pd.Series:
    numeric = pd.to_numeric(series, errors="coerce")
    hit = pd.Series(False, index=series.index)
    for c in codes:
        if isinstance(c, tuple):
            hit |= (numeric >= c[0]) & (numeric <= c[1])
        else:
            hit |= numeric == c
    return hit


# --------------------------------------------------------------------------- identifiers and merges

def _user_rows(index) -> str:
    """Rows for a message, counted from 1 when the frame has the default 0, 1, 2 ... index."""
    index = pd.Index(index)
    if pd.api.types.is_integer_dtype(index):
        return describe_rows([int(i) + 1 for i in index])
    return describe_rows(index)


def check_ids(data: pd.DataFrame, *, id: str | Sequence[str] = "pupil_id") -> None:
    """Raise if an identifier is missing or appears more than once.

    Parameters
    ----------
    data : DataFrame
    id : str or list of str
        The identifier column (or columns that together identify a row, such
        as ``["pupil_id", "wave"]``).

    Raises
    ------
    DataError
        Naming the duplicated identifier values and their rows (counted from
        1 when the frame has the default 0, 1, 2 ... index).

    Examples
    --------
    >>> check_ids(pd.DataFrame({"pupil_id": ["P1", "P2"]}))
    >>> check_ids(pd.DataFrame({"pupil_id": ["P1", "P1"]}))
    Traceback (most recent call last):
    ...
    belonging_lib._errors.DataError: Identifier 'pupil_id' is duplicated: value 'P1' appears 2 times (rows 1, 2); 1 identifier value duplicated in all.
    """
    data = as_frame(data)
    cols = require_columns(data, id, role="identifier column")
    keys = data[cols]
    missing = keys.isna().any(axis=1) | keys.apply(
        lambda s: s.astype(str).str.strip().eq("") if s.dtype == object else pd.Series(False, index=s.index)
    ).any(axis=1)
    name = cols[0] if len(cols) == 1 else "+".join(cols)
    if missing.any():
        raise DataError(f"Identifier {name!r} is missing in {_user_rows(data.index[missing])} "
                        f"({int(missing.sum())} in all).")
    dup = keys.duplicated(keep=False)
    if dup.any():
        first = keys[dup].iloc[0]
        value = first.iloc[0] if len(cols) == 1 else tuple(first)
        rows = data.index[(keys == first.values).all(axis=1)]
        n_values = int(keys[dup].drop_duplicates().shape[0])
        raise DataError(
            f"Identifier {name!r} is duplicated: value {value!r} appears {len(rows)} times "
            f"({_user_rows(rows)}); {n_values} identifier value{'s' if n_values != 1 else ''} "
            "duplicated in all."
        )


def safe_merge(left: pd.DataFrame, right: pd.DataFrame, *, on: str | Sequence[str],
               how: str = "left", expect: str = "many_to_one",
               ledger: RowLedger | None = None, step: str | None = None) -> pd.DataFrame:
    """Merge two tables without silently duplicating or dropping pupils.

    Parameters
    ----------
    left : DataFrame
        The pupils (every row is kept exactly once).
    right : DataFrame
        The table merged on (school characteristics, another wave, ...).
    on : str or list of str
        Key column(s) present in both tables.
    how : {"left", "inner"}
        ``"left"`` keeps unmatched pupils (their new columns are missing and
        they are counted in the ledger's reason); ``"inner"`` raises if any
        pupil has no match, because they would be dropped.
    expect : {"one_to_one", "many_to_one"}
        ``"one_to_one"``: keys unique in both tables; ``"many_to_one"``: keys
        unique in ``right`` (many pupils per school).
    ledger : RowLedger, optional
        A step is recorded: rows in, rows out, unmatched rows.

    Returns
    -------
    DataFrame
        Exactly ``len(left)`` rows, in the order of ``left``.

    Raises
    ------
    DataError
        A key is duplicated where it must be unique (pupils would be
        duplicated), a key is missing, or (``how="inner"``) pupils have no match.

    Examples
    --------
    >>> pupils = pd.DataFrame({"pupil_id": ["P1", "P2"], "school_id": ["S1", "S1"]})
    >>> schools = pd.DataFrame({"school_id": ["S1"], "urban": [1]})
    >>> safe_merge(pupils, schools, on="school_id")["urban"].tolist()
    [1, 1]
    """
    left, right = as_frame(left, name="left"), as_frame(right, name="right")
    check_choice("how", how, ["left", "inner"])
    check_choice("expect", expect, ["one_to_one", "many_to_one"])
    keys = require_columns(left, on, role="merge key")
    require_columns(right, keys, role="merge key")
    for side, frame in (("right", right),) + ((("left", left),) if expect == "one_to_one" else ()):
        dup = frame[keys].duplicated(keep=False)
        if dup.any():
            value = frame.loc[dup, keys].iloc[0].tolist()
            raise DataError(
                f"safe_merge: key {keys} is not unique in `{side}` ({describe_rows(frame.index[dup])} "
                f"share values such as {value[0] if len(value) == 1 else value!r}); merging would "
                f"duplicate pupils. Expected {expect}."
            )
    miss = left[keys].isna().any(axis=1)
    if miss.any():
        raise DataError(f"safe_merge: key {keys} is missing in `left` {describe_rows(left.index[miss])}.")
    overlap = [c for c in right.columns if c in left.columns and c not in keys]
    if overlap:
        raise ColumnError(f"safe_merge: columns {overlap} are in both tables; rename or drop them first.")
    for k in keys:   # numbers against text: 1 never matches '001', and pandas refuses to try
        kinds = {side: ("text" if not (pd.api.types.is_numeric_dtype(f[k]) or pd.api.types.is_bool_dtype(f[k]))
                        else "numbers") for side, f in (("left", left), ("right", right))}
        if kinds["left"] != kinds["right"]:
            examples = {side: f[k].dropna().iloc[0] if f[k].notna().any() else None
                        for side, f in (("left", left), ("right", right))}
            raise DataError(
                f"safe_merge: the key {k!r} holds {kinds['left']} in `left` (such as {examples['left']!r}) but "
                f"{kinds['right']} in `right` (such as {examples['right']!r}), so no pupil would match "
                f"(1 is not '001'). Identifiers are text: read both files with belonging_lib.io.read_data, "
                f"or convert the key column of both tables to text with the same leading zeros.")
    marker = "__bl_merge__"
    merged = left.reset_index(drop=False).merge(right.assign(**{marker: True}), on=keys, how="left",
                                                 validate="many_to_one" if expect == "many_to_one" else "one_to_one",
                                                 sort=False)
    unmatched = merged[marker].isna().to_numpy()
    if len(merged) != len(left):  # cannot happen after the checks; guard anyway
        raise DataError("safe_merge: the merge changed the number of rows.")
    n_unmatched = int(unmatched.sum())
    if how == "inner" and n_unmatched:
        rows = left.index[unmatched]
        raise DataError(
            f"safe_merge: {n_unmatched} row{'s' if n_unmatched != 1 else ''} of `left` ({describe_rows(rows)}, "
            f"key {left.loc[rows[0], keys].tolist()}) have no match in `right` and would be dropped. "
            "Use how='left' to keep them with missing values, or fix the keys."
        )
    merged = merged.drop(columns=marker)
    index_name = left.index.name or "index"
    merged = merged.set_index(index_name if index_name in merged.columns else merged.columns[0])
    merged.index.name = left.index.name
    if ledger is not None:
        reason = f"{n_unmatched} unmatched (kept, new columns missing)" if n_unmatched else "all matched"
        ledger.record(step or f"merge on {'+'.join(keys)}", n_in=len(left), n_out=len(merged), reason=reason)
    return merged


# --------------------------------------------------------------------------- missing-data picture

@dataclasses.dataclass(frozen=True)
class Missingness(Result):
    """The missing-data picture: share missing per variable, by group, and patterns.

    The fields hold raw counts and shares of every group and pattern (a data
    layer result: no disclosure rule is applied here).  To show groups or
    patterns, use :meth:`group_table` and :meth:`pattern_table`, which apply
    the disclosure policy you pass.

    Attributes
    ----------
    by_variable : DataFrame
        ``variable, n, n_missing, share_missing`` (every pupil looked at).
    by_group : DataFrame or None
        Share missing per variable (columns) in each group (rows, indexed by
        the grouping column), with the group's ``n``; every group, however
        small.
    patterns : DataFrame
        One row per pattern of missing values across the variables
        (``"x"`` = missing, ``"."`` = present), most common first, with
        ``n``, ``n_missing_vars`` and ``share``; every pattern, however rare.
    n : int
        Rows looked at.
    by : str or None
        The grouping column of ``by_group``.
    """

    by_variable: pd.DataFrame
    by_group: pd.DataFrame | None
    patterns: pd.DataFrame
    n: int
    by: str | None = None
    title = "Missing data"

    def to_frame(self) -> pd.DataFrame:
        return tidy(self.by_variable)

    def notes(self) -> list[str]:
        complete = self.patterns.loc[self.patterns["pattern"].str.fullmatch(r"\.+"), "n"]
        n_complete = int(complete.sum()) if len(complete) else 0
        return [f"{self.n} rows; {n_complete} complete on all {len(self.by_variable)} variables."]

    def group_table(self, *, policy):
        """The share missing by group, for showing: groups below the policy's threshold suppressed.

        Parameters
        ----------
        policy : DisclosurePolicy
            The disclosure rules of the output the table goes into.

        Returns
        -------
        SuppressedTable
            ``<by>, n, <variables>...``; a group of fewer pupils than the
            threshold (and, by secondary suppression, as many more as its
            protection needs) is suppressed.
        """
        from .disclosure import suppress

        if self.by_group is None:
            raise DataError("Missingness.group_table: the picture has no groups; call "
                            "missingness(..., by=<column>).")
        return suppress(self.by_group.reset_index(), count_col="n", labels=[self.by], policy=policy)

    def pattern_table(self, *, policy) -> pd.DataFrame:
        """The patterns, for showing: patterns of fewer pupils than the threshold pooled in one row.

        Patterns shared by fewer pupils than the policy's threshold are pooled
        into one row, ``"rarer patterns"``, so no small group of pupils can be
        picked out by the questions they skipped.

        Parameters
        ----------
        policy : DisclosurePolicy
            The disclosure rules of the output the table goes into.
        """
        from .disclosure import DisclosurePolicy

        if not isinstance(policy, DisclosurePolicy):
            raise DataError("Missingness.pattern_table: `policy` must be a DisclosurePolicy "
                            "(for example belonging_lib.disclosure.get_default_policy()).")
        pats = self.patterns
        rare = (pats["n"] < policy.threshold).to_numpy() if policy.enabled else np.zeros(len(pats), bool)
        shown = pats.loc[~rare].reset_index(drop=True)
        if rare.any():
            shown = pd.concat([shown, pd.DataFrame({
                "pattern": ["rarer patterns"], "n": [int(pats.loc[rare, "n"].sum())],
                "n_missing_vars": [np.nan], "share": [pats.loc[rare, "n"].sum() / self.n]})],
                ignore_index=True)
        return shown


def missingness(data: pd.DataFrame, *, columns: Sequence[str] | None = None,
                by: str | None = None) -> Missingness:
    """Describe which values are missing: per variable, by group and as patterns.

    A data-layer function: the result holds the raw counts of every group and
    pattern.  Show groups and patterns through :meth:`Missingness.group_table`
    and :meth:`Missingness.pattern_table`, which apply an explicit disclosure
    policy.

    Parameters
    ----------
    data : DataFrame
    columns : list of str, optional
        Variables to describe (all columns by default).
    by : str, optional
        A grouping column (school, FSM, ...) for the share missing per group.

    Returns
    -------
    Missingness

    Examples
    --------
    >>> frame = pd.DataFrame({"a": [1, None, 3, 4], "b": [1, 2, None, None]})
    >>> m = missingness(frame)
    >>> m.by_variable["n_missing"].tolist()
    [1, 2]
    """
    data = as_frame(data)
    cols = require_columns(data, columns if columns is not None else list(data.columns), role="column")
    if not cols:
        raise ColumnError("missingness: no columns to describe.")
    miss = data[cols].isna()
    n = len(data)
    by_variable = pd.DataFrame({
        "variable": cols,
        "n": n,
        "n_missing": miss.sum().to_numpy().astype(int),
        "share_missing": miss.mean().to_numpy(),
    })
    by_group = None
    if by is not None:
        require_columns(data, by, role="grouping column")
        if by in cols:
            raise ColumnError(f"missingness: the grouping column {by!r} is also one of the columns.")
        groups = data[by]
        shares = miss.groupby(groups, dropna=False).mean()
        sizes = groups.value_counts(dropna=False).reindex(shares.index)
        by_group = shares.copy()
        by_group.insert(0, "n", sizes.to_numpy().astype(int))
        by_group.index.name = by
    pattern = miss.apply(lambda r: "".join("x" if v else "." for v in r), axis=1)
    counts = pattern.value_counts()
    patterns = pd.DataFrame({"pattern": counts.index.to_numpy(), "n": counts.to_numpy()})
    patterns["n_missing_vars"] = patterns["pattern"].str.count("x")
    patterns["share"] = patterns["n"] / n
    return Missingness(by_variable=by_variable, by_group=by_group, patterns=patterns, n=n, by=by)
