"""The classroom questionnaire answered online: the CSV export of Microsoft Forms or Google Forms.

An online form exports one row per response and one column per question, headed by the question's
text, with the answers as text ("Strongly agree", "Sometimes").  Microsoft Forms adds ``ID``,
``Start time``, ``Completion time``, ``Email`` and ``Name`` (and ``Last modified time``); Google
Forms adds ``Timestamp`` (and ``Email address`` when it collects addresses).  A grid question of
Google Forms exports one column per row, headed ``Question [row text]``.

:func:`read_form_export` turns such an export into the data-entry sheet's layout (``ocbs_01`` ...,
or ``ocbp_01`` ...), so that every school tool reads it like a typed-in sheet:

* each column is matched to an item by its question text, compared after Unicode NFC, with case,
  punctuation, spacing and a leading question number ignored; a column that is neither a question
  of the questionnaire, nor one the form service adds, nor a pupil detail (pupil code, class) is an
  error that names it, and so is a question of the questionnaire that no column asks;
* the answers are turned into codes through the codebook machinery
  (:func:`belonging_lib.codebook.apply_codebook`, whose ``value_labels`` map the version's answer
  labels to codes, case and spacing ignored), so an answer that is not one of the labels is an error
  naming the column, the rows (as the spreadsheet numbers them: the column names are row 1, the
  first response row 2) and the value;
* the service's own columns are left out, and ``Email``/``Name`` columns, which are personal data, are
  left out with a note that names the column only; their contents are never printed or written.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from .._errors import ColumnError, DataError
from ..instruments import load_instrument

__all__ = [
    "SERVICE_COLUMNS",
    "PERSONAL_COLUMNS",
    "DETAIL_COLUMNS",
    "question_key",
    "looks_like_form_export",
    "FormExport",
    "read_form_export",
]

#: Version of the classroom questionnaire -> its instrument id (as ``questionnaire.VERSIONS``, which
#: this module does not import: the sheet reader imports this module).
VERSIONS = {"primary": "ocb_primary", "secondary": "ocb_secondary"}

#: Columns the form services add (compared as :func:`question_key` gives them): left out.
SERVICE_COLUMNS = (
    "id",
    "start time",
    "completion time",
    "last modified time",
    "timestamp",
    "total points",
    "quiz feedback",
    "points",
    "score",
)

#: Columns that hold who answered: personal data, left out with a note, never printed.
PERSONAL_COLUMNS = ("email", "email address", "name", "username", "respondent", "full name")

#: Questions of the form that fill the sheet's detail columns (question key -> column).
DETAIL_COLUMNS = {
    "pupil ref": "pupil_ref",
    "pupil code": "pupil_ref",
    "pupil code from your teacher": "pupil_ref",
    "your pupil code": "pupil_ref",
    "class": "class",
    "your class": "class",
    "class or form": "class",
    "form": "class",
    "tutor group": "class",
    "synthetic": "synthetic",
}

_ORDER = ["pupil_ref", "class", "synthetic"]


def question_key(text) -> str:
    """A question's text as compared: Unicode NFC, case folded, punctuation and a leading number dropped.

    Examples
    --------
    >>> question_key("  3. I feel SAFE at school!  ")
    'i feel safe at school'
    >>> question_key("pupil_ref")
    'pupil ref'
    """
    s = unicodedata.normalize("NFC", str(text)).casefold()
    s = s.replace("\u2019", "'").replace("\u2018", "'")
    s = re.sub(r"[\W_]+", " ", s).strip()
    return re.sub(r"^\d+\s+", "", s)


def _grid_row(text) -> str | None:
    """The row text of a Google Forms grid column (``Question [row text]``), else None."""
    m = re.fullmatch(r"\s*(.*?)\s*\[(.+)\]\s*", str(text), flags=re.S)
    return m.group(2) if m and m.group(1) else None


def _texts(version: str) -> dict[str, str]:
    """Item id -> question text of one version, from its instrument file (the registry keeps no wording)."""
    inst = load_instrument(VERSIONS[version])
    d = yaml.safe_load(Path(inst.source).read_text(encoding="utf-8"))
    return {str(it["id"]): str(it["text"]) for it in d["items"]}


def _item_keys() -> dict[str, dict[str, str]]:
    """Version -> {question key: item id} of the classroom questionnaire."""
    return {v: {question_key(t): i for i, t in _texts(v).items()} for v in VERSIONS}


def _match(column, keys: dict[str, str]) -> str | None:
    for text in (column, _grid_row(column)):
        if text is not None and question_key(text) in keys:
            return keys[question_key(text)]
    return None


def looks_like_form_export(columns) -> bool:
    """True when some column is headed by a question of the classroom questionnaire and none by an item id.

    Examples
    --------
    >>> looks_like_form_export(["Timestamp", "Class", "I feel safe at school."])
    True
    >>> looks_like_form_export(["pupil_ref", "ocbp_11"])
    False
    """
    ids = {i for v in VERSIONS for i in load_instrument(VERSIONS[v]).item_ids}
    if ids & {str(c).strip() for c in columns}:
        return False
    keys = _item_keys()
    return any(_match(c, k) for c in columns for k in keys.values())


@dataclass(frozen=True)
class FormExport:
    """An online form's export in the data-entry sheet's layout.

    Attributes
    ----------
    data : DataFrame
        The sheet: ``pupil_ref`` and ``class`` when the form asked for them, then the items as codes.
    notes : list of str
        What was done: the version found, the columns left out, the text answers turned into codes.
    """

    data: pd.DataFrame
    notes: list[str]


def read_form_export(data: pd.DataFrame, *, what: str = "data") -> FormExport:
    """The export of an online form in the data-entry sheet's layout, and notes on what was done.

    Parameters
    ----------
    data : DataFrame
        The export as read (one row per response, columns headed by the question text).
    what : str
        The file's role in messages ("class", "survey" ...).

    Returns
    -------
    FormExport
        ``data``: the sheet (``pupil_ref`` and ``class`` when the form asked for them, then the version's
        items as codes, rows numbered from 1) and the notes to show: the version found, the columns
        left out, and how many text answers became codes (``notes``).

    Raises
    ------
    ColumnError
        A column is not a question of the questionnaire (named, with its position), two columns ask
        the same question, a question has no column, or the columns fit neither version.
    DataError
        An answer is not one of the version's answer labels or codes (column, rows and value named).
    """
    from ..codebook import apply_codebook

    raw = data.reset_index(drop=True)
    # labels 1, 2 ...: the codebook's messages add 1 to an integer index, giving the spreadsheet's rows
    raw.index = pd.RangeIndex(1, len(raw) + 1)
    keys = _item_keys()
    found: dict[str, dict[str, str]] = {}
    for v, k in keys.items():
        hits = {c: _match(c, k) for c in raw.columns}
        found[v] = {c: hit for c, hit in hits.items() if hit is not None}
    counts = {v: len(m) for v, m in found.items()}
    best = max(counts.values())
    versions = [v for v, n in counts.items() if n == best]
    if best == 0 or len(versions) > 1:
        raise ColumnError(
            f"The {what} file's columns fit neither version of the questionnaire "
            f"(matched questions: {counts}); check the questions' wording in the form."
        )
    version = versions[0]
    items = found[version]
    service, personal, details, unmatched = [], [], {}, []
    for pos, col in enumerate(raw.columns, start=1):
        key = question_key(col)
        if col in items:
            continue
        if key in SERVICE_COLUMNS:
            service.append(col)
        elif key in PERSONAL_COLUMNS:
            personal.append(col)
        elif key in DETAIL_COLUMNS:
            details[col] = DETAIL_COLUMNS[key]
        else:
            other = next((v for v in VERSIONS if v != version and _match(col, keys[v])), None)
            unmatched.append(f"{col!r} (column {pos}" + (f", a question of the {other} version" if other else "") + ")")
    if unmatched:
        raise ColumnError(
            f"The {what} file (an online form's export, {version} version) has column(s) that are not questions of "
            f"the questionnaire: {', '.join(unmatched[:5])}{' ...' if len(unmatched) > 5 else ''}. Columns are "
            "matched to the questions by their text (case, spacing and punctuation ignored): correct the column's "
            "heading to the question's wording, or delete the column."
        )
    inst = load_instrument(VERSIONS[version])
    text_of = _texts(version)
    seen: dict[str, str] = {}
    for col, item in items.items():
        if item in seen:
            raise ColumnError(
                f"In the {what} file, columns {seen[item]!r} and {col!r} both ask "
                f"\u201c{text_of[item]}\u201d ({item}); keep one of them."
            )
        seen[item] = col
    missing = [i for i in inst.item_ids if i not in seen]
    if missing:
        raise ColumnError(
            f"The {what} file (an online form's export, {version} version) has no column for "
            + "; ".join(f"\u201c{text_of[i]}\u201d ({i})" for i in missing[:5])
            + (" ..." if len(missing) > 5 else "")
            + ". Every question of the questionnaire needs its own question in the form."
        )
    dup_details = {v for v in details.values() if list(details.values()).count(v) > 1}
    if dup_details:
        raise ColumnError(
            f"In the {what} file, several columns give {sorted(dup_details)[0]!r}: "
            f"{', '.join(repr(c) for c, v in details.items() if v in dup_details)}; keep one."
        )
    labels = ";".join(f"{c}={lab}" for c, lab in inst.labels)
    rows = [
        {
            "variable": v,
            "source_name": c,
            "type": "categorical",
            "allowed": "",
            "instrument": "",
            "value_labels": "",
            "missing_codes": "",
        }
        for c, v in sorted(details.items(), key=lambda cv: _ORDER.index(cv[1]))  # the data-entry sheet's order
    ]
    rows += [
        {
            "variable": i,
            "source_name": seen[i],
            "type": "item",
            "allowed": f"{inst.response_min}-{inst.response_max}",
            "instrument": inst.id,
            "value_labels": labels,
            "missing_codes": "",
        }
        for i in inst.item_ids
    ]
    try:
        mapped = apply_codebook(raw, pd.DataFrame(rows), invalid="raise")
    except DataError as exc:
        msg = str(exc).split(" Fix the export or codebook")[0]
        raise DataError(
            f"In the {what} file (an online form's export): {msg} Rows are as numbered in the spreadsheet, where the "
            f"column names are row 1. The answers must be the questionnaire's ({', '.join(lab for _, lab in inst.labels)})"
            " or their codes: correct the answer in the export, or clear the cell."
        ) from None
    sheet = mapped.data.copy()
    sheet.index = pd.RangeIndex(2, len(sheet) + 2)
    for col in sheet.columns:
        if col in inst.item_ids:
            sheet[col] = pd.array(sheet[col], dtype="Int64")
    n_text = int(mapped.changes.loc[mapped.changes["variable"].isin(inst.item_ids), "n_recoded"].sum())
    notes = [
        f"The {what} file is an online form's export ({version} version, {len(sheet)} responses): "
        f"{len(inst.item_ids)} questions matched by their text; {n_text} text answers turned into codes."
    ]
    if service:
        notes.append(f"Columns the form service adds were left out: {', '.join(map(repr, service))}.")
    if personal:
        notes.append(
            f"Column(s) {', '.join(map(repr, personal))} hold who answered (personal data): left out, and "
            "their contents are neither shown nor saved. To respond to a pupil's answers that need an adult's "
            "response today, ask for the pupil's code in the form instead (a 'Pupil code' question)."
        )
    return FormExport(sheet, notes)
