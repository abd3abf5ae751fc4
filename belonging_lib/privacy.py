"""Pupil-data protection: keyed pseudonyms and a scan for real identifiers.

:func:`pseudonymise` replaces identifier columns with a keyed hash
(HMAC-SHA256 with a secret key the user keeps apart from the data), never a
bare hash: a bare hash of a UPN can be reversed by hashing every possible
UPN, a keyed one cannot without the key.  The same key gives the same
pseudonym, so files pseudonymised separately still link.

:func:`find_identifiers` scans text (notebook outputs, reports) for things
that look like real identifiers.  What is scanned for, and its limits:

* **UPN** (unique pupil number): a letter followed by 12 digits, in capitals
  or not (``upn a123456789012``).
* **UK postcodes**: outward code, a space or none, inward code (``SW1A 1AA``,
  ``SW1A1AA``), in capitals.
* **Email addresses**.
* **Dates of birth**: dates written ``dd/mm/yyyy``, ``dd-mm-yyyy``,
  ``yyyy-mm-dd`` or ``yyyy/mm/dd`` (day and month with one digit or two:
  ``2012-3-4``) with a year from 1995 to 2022 (the birth years of school
  pupils in the data's period); survey dates in 2023 or later are ignored.
* Names cannot be detected reliably (no list of names is used); keep name
  columns out of data files instead (:func:`drop_identifiers`).

:func:`drop_identifiers` removes (or pseudonymises) identifier columns of a
data set before it is shown.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import unicodedata
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ._errors import DataError, DisclosureError
from ._validation import as_frame, as_list, require_columns

__all__ = ["pseudonymise", "find_identifiers", "check_no_identifiers", "looks_like_id_column",
           "normalise_column_name", "drop_identifiers", "IDENTIFIER_PATTERNS", "ID_COLUMN_PATTERN", "KEY_ENV"]

#: Environment variable read for the key when ``key=None``.
KEY_ENV = "BELONGING_PSEUDONYM_KEY"
_MIN_KEY_BYTES = 16

#: Regular expressions used by :func:`find_identifiers`.
IDENTIFIER_PATTERNS = {
    "UPN": r"(?<![A-Za-z0-9])[A-Za-z]\d{12}(?![0-9])",
    "postcode": r"(?<![A-Za-z0-9])(?:[A-Z]{1,2}\d[A-Z\d]?|[A-Z]{1,2}\d{1,2}) ?\d[ABD-HJLNP-UW-Z]{2}(?![A-Za-z0-9])",
    "email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
    "date of birth": r"(?<!\d)(?:(?:0?[1-9]|[12]\d|3[01])[/-](?:0?[1-9]|1[0-2])[/-](?:199[5-9]|20[01]\d|202[0-2])"
                     r"|(?:199[5-9]|20[01]\d|202[0-2])([/-])(?:0?[1-9]|1[0-2])\1(?:0?[1-9]|[12]\d|3[01]))(?!\d)",
}


#: Last words of a column name that make it an identifier (``Pupil ID``, ``ResponseId``, ``UPN``).
_ID_WORDS = {"id", "ids", "uid", "uuid", "upn", "ref", "urn", "identifier", "laestab"}
#: Whole names that are identifiers without a separate word (PISA, common exports).
_ID_NAMES = {"cntschid", "cntstuid", "cntryid", "responseid", "pupilid", "studentid", "schoolid", "classid",
             "staffid", "respondentid", "participantid"}


def normalise_column_name(name) -> str:
    """A column name as matched: Unicode NFC, trimmed, runs of spaces, hyphens or dots as one ``_``.

    Examples
    --------
    >>> normalise_column_name(" Pupil ID ")
    'Pupil_ID'
    """
    text = unicodedata.normalize("NFC", str(name)).strip()
    return re.sub(r"[\s.\-]+", "_", text)


def _name_words(name) -> list[str]:
    text = unicodedata.normalize("NFC", str(name)).strip()
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", text)   # ResponseId -> Response Id
    return [w for w in re.split(r"[^0-9a-z]+", text.lower()) if w]


def looks_like_id_column(name) -> bool:
    """Whether a column name says the column holds identifiers.

    True for names such as ``pupil_id``, ``Pupil ID``, ``ResponseId``,
    ``UPN``, ``Pupil Ref``, ``CNTSTUID`` (case, spacing and a trailing space
    ignored); such columns are read as text by
    :func:`belonging_lib.io.read_data`.

    Examples
    --------
    >>> [looks_like_id_column(n) for n in ["Pupil ID", "UPN ", "ResponseId", "paid", "Q1"]]
    [True, True, True, False, False]
    """
    words = _name_words(name)
    if not words:
        return False
    return (words[-1] in _ID_WORDS or "".join(words) in _ID_NAMES
            or (len(words) >= 2 and words[-2] in ("id", "upn") and words[-1] in ("number", "no", "code")))


def _key_bytes(key: str | bytes | None) -> bytes:
    if key is None:
        key = os.environ.get(KEY_ENV)
        if not key:
            raise DataError(f"pseudonymise needs a secret key: pass key=... or set ${KEY_ENV}. "
                            "Keep the key apart from the data; without it pseudonyms cannot be linked back.")
    if isinstance(key, str):
        key = key.encode("utf-8")
    if not isinstance(key, bytes):
        raise DataError(f"The pseudonymisation key must be text or bytes, not {type(key).__name__}.")
    if len(key) < _MIN_KEY_BYTES:
        raise DataError(f"The pseudonymisation key is too short ({len(key)} bytes); use at least "
                        f"{_MIN_KEY_BYTES} random characters (for example from `python -c \"import secrets; "
                        "print(secrets.token_hex(16))\"`).")
    return key


def pseudonymise(data: pd.DataFrame, *, columns: str | Sequence[str], key: str | bytes | None = None,
                 prefix: str = "X", length: int = 16) -> pd.DataFrame:
    """Replace identifier columns by keyed pseudonyms (HMAC-SHA256).

    Parameters
    ----------
    data : DataFrame
    columns : str or list of str
        Identifier columns (pupil_id, UPN, ...).
    key : str or bytes, optional
        Secret key of at least 16 bytes; default ``$BELONGING_PSEUDONYM_KEY``.
    prefix : str
        Put before each pseudonym.
    length : int
        Hex characters kept from the 64-character digest (8 to 64).

    Returns
    -------
    DataFrame
        A copy; missing identifiers stay missing.  An index level that is
        named as one of ``columns``, or that holds the same identifiers, is
        pseudonymised too, so no raw identifier survives in the index that
        ``to_csv()`` writes.  ``columns`` may also name an index level.

    Notes
    -----
    pseudonym = prefix + hex(HMAC-SHA256(key, text))[:length], where text is
    the identifier as written: ``"007"`` and ``"7"`` are different pupils.
    A whole number stored as a number (``7`` or ``7.0``) has the text ``"7"``;
    :func:`belonging_lib.io.read_data` reads identifiers as text in every
    format, so the same ID read from CSV, Excel, SPSS or Stata gets the same
    pseudonym.  With 16 hex characters (64 bits) a collision among a million
    pupils has a probability of about 3e-8; collisions are checked and raise.

    Examples
    --------
    >>> frame = pd.DataFrame({"pupil_id": ["P0001", "P0002"]})
    >>> out = pseudonymise(frame, columns="pupil_id", key="a-secret-key-of-16+chars")
    >>> out["pupil_id"].str.len().tolist()
    [17, 17]
    """
    data = as_frame(data)
    names = as_list(columns)
    level_names = [n for n in data.index.names if n is not None]
    missing = [c for c in names if c not in data.columns and c not in level_names]
    if missing or not names:
        require_columns(data, missing or names, role="identifier column")
        if not names:
            raise DataError("pseudonymise: name at least one identifier column.")
    cols = [c for c in names if c in data.columns]
    if isinstance(length, bool) or not isinstance(length, int) or not 8 <= length <= 64:
        raise DataError(f"`length` must be a whole number from 8 to 64, but {length!r} was passed.")
    k = _key_bytes(key)
    cache: dict = {}

    def one(v):
        if pd.isna(v):
            return v
        text = _id_text(v)
        if text not in cache:
            cache[text] = prefix + hmac.new(k, text.encode("utf-8"), hashlib.sha256).hexdigest()[:length]
        return cache[text]

    def convert(values: pd.Series, what: str) -> pd.Series:
        new = values.astype(object).map(one)
        pairs = pd.DataFrame({"old": values.astype(object).map(lambda v: v if pd.isna(v) else _id_text(v)),
                              "new": new}).dropna().drop_duplicates()
        if pairs["new"].duplicated().any():
            raise DataError(f"Two identifiers in {what} received the same pseudonym; increase `length`.")
        return new

    out = data.copy()
    raw_ids: set = set()
    for col in cols:
        raw_ids |= {_id_text(v) for v in data[col].dropna().unique()}
        out[col] = convert(data[col], repr(col)).to_numpy()
    # the index: a level named as an identifier, or holding the raw identifiers, is pseudonymised too
    if not isinstance(out.index, pd.RangeIndex):
        levels = []
        for i, name in enumerate(out.index.names):
            level = pd.Series(out.index.get_level_values(i), dtype=object)
            named = name is not None and name in names
            holds = bool(raw_ids) and level.dropna().map(_id_text).isin(raw_ids).any()
            levels.append(convert(level, f"the index level {name!r}").to_numpy() if (named or holds)
                          else out.index.get_level_values(i))
        if isinstance(out.index, pd.MultiIndex):
            out.index = pd.MultiIndex.from_arrays(levels, names=out.index.names)
        else:
            out.index = pd.Index(levels[0], name=out.index.name)
    return out


def _id_text(v) -> str:
    """The text an identifier is hashed from: as written, or a whole number without ``.0``."""
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return str(int(v))
    return str(v)


def find_identifiers(text: str) -> list[tuple[str, str]]:
    """Find things in ``text`` that look like real identifiers.

    Returns
    -------
    list of (kind, match)
        For example ``[("email", "a.pupil@school.org")]``; empty if none.

    Examples
    --------
    >>> find_identifiers("pupil P0001 scored 3.4")
    []
    >>> find_identifiers("UPN A123456789012, born 03/04/2012")
    [('UPN', 'A123456789012'), ('date of birth', '03/04/2012')]
    """
    if not isinstance(text, str):
        raise DataError(f"find_identifiers expects text, not {type(text).__name__}.")
    found = []
    for kind, pattern in IDENTIFIER_PATTERNS.items():
        found += [(kind, m.group(0)) for m in re.finditer(pattern, text)]
    return found


def check_no_identifiers(obj, *, where: str = "output") -> None:
    """Raise :class:`~belonging_lib.DisclosureError` if ``obj`` holds identifier-like text.

    ``obj`` is text or a DataFrame (its column names and cells are scanned).

    Examples
    --------
    >>> check_no_identifiers("mean belonging 3.6 (n = 120)")
    """
    if isinstance(obj, pd.DataFrame):
        text = " ".join(map(str, obj.columns)) + "\n" + obj.astype(str).to_csv(index=False)
    else:
        text = str(obj)
    hits = find_identifiers(text)
    if hits:
        shown = ", ".join(f"{k}: {v!r}" for k, v in hits[:5])
        raise DisclosureError(f"The {where} contains {len(hits)} value{'s' if len(hits) != 1 else ''} that "
                              f"look like real identifiers ({shown}). Remove or pseudonymise them.")



#: Column names treated as pupil identifiers by :func:`drop_identifiers`.
ID_COLUMN_PATTERN = (r"(?i)^(pupil_?id|student_?id|responseid|response_id|upn|cntstuid|staff_?id|name|"
                     r"first_?name|surname|last_?name|dob|date_?of_?birth|postcode|email)$")


def drop_identifiers(data: pd.DataFrame, *, columns: Sequence[str] | None = None,
                     key: str | bytes | None = None) -> pd.DataFrame:
    """Remove (or, with ``key``, pseudonymise) pupil identifier columns before display.

    Parameters
    ----------
    data : DataFrame
    columns : list of str, optional
        Identifier columns; by default those matching :data:`ID_COLUMN_PATTERN`
        (pupil_id, ResponseId, UPN, name, date of birth, postcode, email ...).
    key : str or bytes, optional
        If given, identifiers are replaced by keyed pseudonyms
        (:func:`pseudonymise`) instead of dropped.

    Examples
    --------
    >>> drop_identifiers(pd.DataFrame({"pupil_id": ["P1"], "y": [3]})).columns.tolist()
    ['y']
    """
    data = as_frame(data)
    # normalised names: "Pupil ID", "UPN " (spaces, hyphens, NFC) match too
    cols = as_list(columns) if columns is not None else [
        c for c in data.columns if re.match(ID_COLUMN_PATTERN, normalise_column_name(c))]
    require_columns(data, cols, role="identifier column")
    if key is not None:
        return pseudonymise(data, columns=cols, key=key)
    return data.drop(columns=cols)
