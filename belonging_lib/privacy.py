"""Pupil-data protection: keyed pseudonyms and a scan for real identifiers.

:func:`pseudonymise` replaces identifier columns with a keyed hash
(HMAC-SHA256 with a secret key the user keeps apart from the data), never a
bare hash: a bare hash of a UPN can be reversed by hashing every possible
UPN, a keyed one cannot without the key.  The same key gives the same
pseudonym, so files pseudonymised separately still link.

:func:`find_identifiers` scans text (notebook outputs, reports) for things
that look like real identifiers.  What is scanned for, and its limits:

* **UPN** (unique pupil number): a capital letter followed by 12 digits.
* **UK postcodes**: outward code, a space, inward code (``SW1A 1AA``);
  postcodes written without the space are not detected.
* **Email addresses**.
* **Dates of birth**: dates written ``dd/mm/yyyy``, ``dd-mm-yyyy`` or
  ``yyyy-mm-dd`` with a year from 1995 to 2022 (the birth years of school
  pupils in the data's period); survey dates in 2023 or later are ignored.
* Names cannot be detected reliably (no list of names is used); keep name
  columns out of data files instead (:func:`belonging_lib.disclosure.drop_identifiers`).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Sequence

import pandas as pd

from ._errors import DataError, DisclosureError
from ._validation import as_frame, as_list, require_columns

__all__ = ["pseudonymise", "find_identifiers", "check_no_identifiers", "IDENTIFIER_PATTERNS", "KEY_ENV"]

#: Environment variable read for the key when ``key=None``.
KEY_ENV = "BELONGING_PSEUDONYM_KEY"
_MIN_KEY_BYTES = 16

#: Regular expressions used by :func:`find_identifiers`.
IDENTIFIER_PATTERNS = {
    "UPN": r"(?<![A-Za-z0-9])[A-Z]\d{12}(?![0-9])",
    "postcode": r"(?<![A-Za-z0-9])(?:[A-Z]{1,2}\d[A-Z\d]?|[A-Z]{1,2}\d{1,2}) \d[ABD-HJLNP-UW-Z]{2}(?![A-Za-z0-9])",
    "email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
    "date of birth": r"(?<!\d)(?:(?:0?[1-9]|[12]\d|3[01])[/-](?:0?[1-9]|1[0-2])[/-](?:199[5-9]|20[01]\d|202[0-2])"
                     r"|(?:199[5-9]|20[01]\d|202[0-2])-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01]))(?!\d)",
}


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


def pseudonymise(data: pd.DataFrame, columns: str | Sequence[str], *, key: str | bytes | None = None,
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
        A copy; missing identifiers stay missing.

    Notes
    -----
    pseudonym = prefix + hex(HMAC-SHA256(key, str(value)))[:length].  With
    16 hex characters (64 bits) a collision among a million pupils has a
    probability of about 3e-8; collisions are checked and raise.

    Examples
    --------
    >>> frame = pd.DataFrame({"pupil_id": ["P0001", "P0002"]})
    >>> out = pseudonymise(frame, "pupil_id", key="a-secret-key-of-16+chars")
    >>> out["pupil_id"].str.len().tolist()
    [17, 17]
    """
    data = as_frame(data)
    cols = require_columns(data, columns, role="identifier column")
    if isinstance(length, bool) or not isinstance(length, int) or not 8 <= length <= 64:
        raise DataError(f"`length` must be a whole number from 8 to 64, but {length!r} was passed.")
    k = _key_bytes(key)
    out = data.copy()
    for col in cols:
        values = data[col]
        cache: dict = {}

        def one(v):
            if pd.isna(v):
                return v
            text = str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)
            if text not in cache:
                cache[text] = prefix + hmac.new(k, text.encode("utf-8"), hashlib.sha256).hexdigest()[:length]
            return cache[text]

        new = values.astype(object).map(one)
        pairs = pd.DataFrame({"old": values.astype(str), "new": new}).dropna().drop_duplicates()
        if pairs["new"].duplicated().any():
            raise DataError(f"Two identifiers in {col!r} received the same pseudonym; increase `length`.")
        out[col] = new
    return out


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


_ = as_list
