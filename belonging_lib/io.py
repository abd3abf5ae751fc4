"""Reading survey files, checking identifiers, safe merges and the missing-data picture.

:func:`read_data` reads CSV, Excel (``.xlsx``), SPSS (``.sav``) and Stata
(``.dta``) files into a :class:`pandas.DataFrame`.  Labels travel with the
frame in ``frame.attrs`` (a documented choice: no second return value to
forget):

``frame.attrs["variable_labels"]``
    ``{column: "question text"}`` (SPSS / Stata; empty for CSV and Excel).
``frame.attrs["value_labels"]``
    ``{column: {code: "label"}}`` (SPSS / Stata).
``frame.attrs["missing_codes"]``
    ``{column: [codes]}`` declared user-missing in an SPSS file.
``frame.attrs["source"]``
    the file name.

Problems raise :class:`~belonging_lib.DataError` with a message naming the
file, row and value: a missing or empty file, a truncated or corrupt file, a
text encoding that is not UTF-8 (pass ``encoding=``), duplicated identifiers
(:func:`check_ids`).

The codebook (mapping a survey tool's export to the standard schema) lives
in :mod:`belonging_lib.codebook`; its functions are re-exported here.
"""

from __future__ import annotations

import csv
import dataclasses
import io as _io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ._errors import ColumnError, DataError
from ._results import Result, RowLedger
from ._validation import as_frame, as_list, check_choice, describe_rows, require_columns

__all__ = [
    "read_data",
    "check_ids",
    "safe_merge",
    "missingness",
    "Missingness",
    "read_codebook",
    "apply_codebook",
    "validate",
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


def read_data(path: str | os.PathLike, *, columns: Sequence[str] | None = None,
              encoding: str | None = None, sheet: int | str = 0,
              user_missing: str = "missing") -> pd.DataFrame:
    """Read a survey file (CSV, Excel, SPSS or Stata) with its labels.

    Parameters
    ----------
    path : path
        ``.csv`` (or ``.csv.gz``), ``.xlsx``, ``.sav`` or ``.dta`` file.
    columns : list of str, optional
        Columns to keep (all by default); a name not in the file raises
        :class:`~belonging_lib.ColumnError`.
    encoding : str, optional
        Text encoding of a CSV file.  By default UTF-8 (with or without a
        byte-order mark) is tried and a file in another encoding raises a
        :class:`~belonging_lib.DataError` suggesting ``encoding="cp1252"``.
    sheet : int or str
        Excel sheet (first by default).
    user_missing : {"missing", "keep"}
        SPSS user-missing codes (for example 9 = "not answered"): set to
        missing (default) or keep the codes so that
        :func:`~belonging_lib.codebook.apply_codebook` can count them.  The
        declared codes are listed in ``frame.attrs["missing_codes"]`` either way.

    Returns
    -------
    pandas.DataFrame
        Every row of the file; labels in ``frame.attrs`` (see the module notes).

    Raises
    ------
    DataError
        The file is missing, empty, truncated, corrupt or not UTF-8 text.
    ColumnError
        A requested column is absent.

    Notes
    -----
    CSV cells are read as text and converted column by column to numbers
    where every non-empty cell is a number, so codes such as ``"007"`` in an
    identifier column survive as text only when mixed with letters; read an
    identifier that is all digits as a number and format it yourself.  A CSV
    row with fewer or more fields than the header (a file cut short while
    copying, a stray delimiter) raises rather than being padded with missing
    values.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "mini.csv").write_text("pupil_id,q1\\nP1,4\\nP2,\\n", encoding="utf-8")
    >>> frame = read_data(folder / "mini.csv")
    >>> frame["q1"].tolist()
    [4.0, nan]
    """
    path = Path(path)
    check_choice("user_missing", user_missing, ["missing", "keep"])
    if not path.exists():
        raise DataError(f"The file {str(path)!r} does not exist.")
    if path.is_dir():
        raise DataError(f"{str(path)!r} is a folder, not a data file.")
    if path.stat().st_size == 0:
        raise DataError(f"The file {path.name!r} is empty (0 bytes).")
    kind = _kind(path)
    if kind == "csv":
        frame, meta = _read_csv(path, encoding), {}
    elif kind == "excel":
        frame, meta = _read_excel(path, sheet), {}
    else:
        frame, meta = _read_labelled(path, kind, user_missing)
    if frame.shape[1] == 0:
        raise DataError(f"The file {path.name!r} has no columns.")
    frame.columns = [str(c) for c in frame.columns]
    dupes = pd.Index(frame.columns)[pd.Index(frame.columns).duplicated()].unique().tolist()
    if dupes:
        raise ColumnError(f"The file {path.name!r} has duplicated column names: {dupes}.")
    if columns is not None:
        cols = require_columns(frame, columns, role="column")
        frame = frame[cols].copy()
    frame.attrs["source"] = path.name
    frame.attrs["variable_labels"] = {k: v for k, v in meta.get("variable_labels", {}).items()
                                      if k in frame.columns}
    frame.attrs["value_labels"] = {k: v for k, v in meta.get("value_labels", {}).items()
                                   if k in frame.columns}
    frame.attrs["missing_codes"] = {k: v for k, v in meta.get("missing_codes", {}).items()
                                    if k in frame.columns}
    return frame


def _decode(path: Path, encoding: str | None) -> str:
    raw = path.read_bytes()
    if path.name.lower().endswith(".gz"):
        import gzip

        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataError(f"The file {path.name!r} is not a complete gzip file ({exc}).") from None
    enc = encoding or "utf-8-sig"
    try:
        return raw.decode(enc)
    except LookupError:
        raise DataError(f"Unknown text encoding {encoding!r} for {path.name!r}.") from None
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        hint = ("Save it as 'CSV UTF-8' or pass encoding='cp1252' (Windows/Excel) or "
                "encoding='latin-1'." if encoding is None else "Check the `encoding` argument.")
        raise DataError(
            f"The file {path.name!r} is not valid {enc} text: byte {raw[exc.start:exc.start + 1]!r} "
            f"on line {line} cannot be decoded. {hint}"
        ) from None


def _read_csv(path: Path, encoding: str | None) -> pd.DataFrame:
    text = _decode(path, encoding)
    if "\x00" in text:
        raise DataError(f"The file {path.name!r} holds NUL bytes: it is binary or corrupt, not CSV text.")
    try:
        rows = list(csv.reader(_io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise DataError(f"The file {path.name!r} is not readable CSV ({exc}).") from None
    while rows and not any(cell.strip() for cell in rows[-1]):
        rows.pop()  # trailing blank lines
    if not rows:
        raise DataError(f"The file {path.name!r} has no header row.")
    header, body = rows[0], rows[1:]
    width = len(header)
    bad = [i + 2 for i, r in enumerate(body) if len(r) != width]  # file line numbers (1 = header)
    if bad:
        first = body[bad[0] - 2]
        truncated = bad == [len(body) + 1] and not text.endswith(("\n", "\r"))
        why = ("the file looks truncated (its last line is cut short)" if truncated
               else "a delimiter or quote is out of place, or the file is truncated")
        raise DataError(
            f"The file {path.name!r} has {width} columns in its header but line{'s' if len(bad) > 1 else ''} "
            f"{', '.join(map(str, bad[:5]))}{' ...' if len(bad) > 5 else ''} "
            f"ha{'ve' if len(bad) > 1 else 's'} a different number of fields "
            f"(line {bad[0]} has {len(first)}): {why}."
        )
    frame = pd.DataFrame(body, columns=header, dtype=object)
    frame = frame.replace({"": np.nan})
    for col in frame.columns:
        frame[col] = _maybe_numeric(frame[col])
    return frame


def _maybe_numeric(series: pd.Series) -> pd.Series:
    present = series.dropna()
    if present.empty:
        return pd.to_numeric(series, errors="coerce").astype("float64")
    converted = pd.to_numeric(present.astype(str).str.strip(), errors="coerce")
    if converted.isna().any():
        return series.astype(object)
    out = pd.to_numeric(series.astype(object).where(series.notna(), np.nan).map(
        lambda v: v.strip() if isinstance(v, str) else v), errors="coerce")
    if out.notna().all() and np.all(np.isfinite(out)) and np.all(out == np.round(out)) \
            and np.all(np.abs(out) < 2**53):
        return out.astype("int64")
    return out.astype("float64")


def _read_excel(path: Path, sheet: int | str) -> pd.DataFrame:
    try:
        frame = pd.read_excel(path, sheet_name=sheet, engine="openpyxl" if path.suffix.lower() == ".xlsx" else None)
    except (ValueError, KeyError) as exc:
        raise DataError(f"Cannot read sheet {sheet!r} of {path.name!r}: {exc}") from None
    except Exception as exc:  # zipfile.BadZipFile, OSError: a truncated or corrupt workbook
        raise DataError(f"The Excel file {path.name!r} is corrupt or truncated ({type(exc).__name__}: {exc}).") from None
    return frame


def _read_labelled(path: Path, kind: str, user_missing: str) -> tuple[pd.DataFrame, dict]:
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

def check_ids(data: pd.DataFrame, id_col: str | Sequence[str] = "pupil_id") -> None:
    """Raise if an identifier is missing or appears more than once.

    Parameters
    ----------
    data : DataFrame
    id_col : str or list of str
        The identifier column (or columns that together identify a row, such
        as ``["pupil_id", "wave"]``).

    Raises
    ------
    DataError
        Naming the duplicated identifier values and their rows.

    Examples
    --------
    >>> check_ids(pd.DataFrame({"pupil_id": ["P1", "P2"]}))
    >>> check_ids(pd.DataFrame({"pupil_id": ["P1", "P1"]}))
    Traceback (most recent call last):
    ...
    belonging_lib._errors.DataError: Identifier 'pupil_id' is duplicated: value 'P1' appears 2 times (rows 0, 1); 1 identifier value duplicated in all.
    """
    data = as_frame(data)
    cols = require_columns(data, id_col, role="identifier column")
    keys = data[cols]
    missing = keys.isna().any(axis=1)
    name = cols[0] if len(cols) == 1 else "+".join(cols)
    if missing.any():
        raise DataError(f"Identifier {name!r} is missing in {describe_rows(data.index[missing])} "
                        f"({int(missing.sum())} in all).")
    dup = keys.duplicated(keep=False)
    if dup.any():
        first = keys[dup].iloc[0]
        value = first.iloc[0] if len(cols) == 1 else tuple(first)
        rows = data.index[(keys == first.values).all(axis=1)]
        n_values = int(keys[dup].drop_duplicates().shape[0])
        raise DataError(
            f"Identifier {name!r} is duplicated: value {value!r} appears {len(rows)} times "
            f"({describe_rows(rows)}); {n_values} identifier value{'s' if n_values != 1 else ''} "
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

    Attributes
    ----------
    by_variable : DataFrame
        ``variable, n, n_missing, share_missing``.
    by_group : DataFrame or None
        Share missing per variable (columns) in each group (rows), with the
        group's ``n``; groups of fewer pupils than the disclosure threshold
        are suppressed (shown as missing and listed in ``suppressed_groups``).
    patterns : DataFrame
        One row per pattern of missing values across the variables
        (``"x"`` = missing, ``"."`` = present), most common first, with
        ``n`` and ``share``; patterns shared by fewer pupils than the
        threshold are pooled into one row ``"rarer patterns"``.
    n : int
        Rows looked at.
    """

    by_variable: pd.DataFrame
    by_group: pd.DataFrame | None
    patterns: pd.DataFrame
    n: int
    suppressed_groups: tuple = ()
    title = "Missing data"

    def to_frame(self) -> pd.DataFrame:
        return self.by_variable.copy()

    def notes(self) -> list[str]:
        complete = self.patterns.loc[self.patterns["pattern"].str.fullmatch(r"\.+"), "n"]
        n_complete = int(complete.sum()) if len(complete) else 0
        lines = [f"{self.n} rows; {n_complete} complete on all {len(self.by_variable)} variables."]
        if self.suppressed_groups:
            lines.append(f"Groups with fewer than the disclosure threshold suppressed: "
                         f"{len(self.suppressed_groups)}.")
        return lines


def missingness(data: pd.DataFrame, columns: Sequence[str] | None = None, *,
                by: str | None = None, policy=None) -> Missingness:
    """Describe which values are missing: per variable, by group and as patterns.

    Parameters
    ----------
    data : DataFrame
    columns : list of str, optional
        Variables to describe (all columns by default).
    by : str, optional
        A grouping column (school, FSM, ...) for the share missing per group.
    policy : DisclosurePolicy, optional
        Disclosure policy for group sizes and rare patterns (the project's
        default policy if omitted).

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
    from .disclosure import get_default_policy

    data = as_frame(data)
    cols = require_columns(data, columns if columns is not None else list(data.columns), role="column")
    if not cols:
        raise ColumnError("missingness: no columns to describe.")
    policy = policy or get_default_policy()
    miss = data[cols].isna()
    n = len(data)
    by_variable = pd.DataFrame({
        "variable": cols,
        "n": n,
        "n_missing": miss.sum().to_numpy().astype(int),
        "share_missing": miss.mean().to_numpy(),
    })
    by_group = None
    suppressed: list = []
    if by is not None:
        require_columns(data, by, role="grouping column")
        if by in cols:
            raise ColumnError(f"missingness: the grouping column {by!r} is also one of the columns.")
        groups = data[by]
        shares = miss.groupby(groups, dropna=False).mean()
        sizes = groups.value_counts(dropna=False).reindex(shares.index)
        by_group = shares.copy()
        by_group.insert(0, "n", sizes.to_numpy().astype(float))
        small = sizes.to_numpy() < policy.threshold if policy.enabled else np.zeros(len(sizes), bool)
        if small.any():
            suppressed = list(shares.index[small])
            by_group.loc[small, :] = np.nan
        by_group.index.name = by
    pattern = miss.apply(lambda r: "".join("x" if v else "." for v in r), axis=1)
    counts = pattern.value_counts()
    rare = counts < policy.threshold if policy.enabled else pd.Series(False, index=counts.index)
    patterns = pd.DataFrame({"pattern": counts.index[~rare.to_numpy()],
                             "n": counts[~rare.to_numpy()].to_numpy()})
    patterns["n_missing_vars"] = patterns["pattern"].str.count("x")
    if rare.any():
        patterns = pd.concat([patterns, pd.DataFrame({
            "pattern": ["rarer patterns"], "n": [int(counts[rare.to_numpy()].sum())],
            "n_missing_vars": [np.nan]})], ignore_index=True)
    patterns["share"] = patterns["n"] / n
    return Missingness(by_variable=by_variable, by_group=by_group, patterns=patterns, n=n,
                       suppressed_groups=tuple(suppressed))


def read_codebook(path):  # noqa: D103 - re-exported, documented in codebook
    from .codebook import read_codebook as _rc

    return _rc(path)


def apply_codebook(raw, codebook, **kwargs):  # noqa: D103
    from .codebook import apply_codebook as _ac

    return _ac(raw, codebook, **kwargs)


def validate(raw, codebook, **kwargs):  # noqa: D103
    from .codebook import validate as _v

    return _v(raw, codebook, **kwargs)


read_codebook.__doc__ = "Read a codebook file; see :func:`belonging_lib.codebook.read_codebook`."
apply_codebook.__doc__ = "Map a raw export to the schema; see :func:`belonging_lib.codebook.apply_codebook`."
validate.__doc__ = "Problems in a raw export; see :func:`belonging_lib.codebook.validate`."
_ = as_list  # re-exported helper used by codebook
