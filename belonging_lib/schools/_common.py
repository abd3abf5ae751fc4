"""Shared pieces of the tools for schools: templates, figures as images, file checks."""

from __future__ import annotations

import base64
import datetime as _dt
import io
import os
from pathlib import Path

import pandas as pd

from .._errors import DataError

_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

#: How the school tools' messages number rows: as the spreadsheet program shows them, the row of
#: column names being row 1, so the first pupil is on row 2 (:func:`read_table` numbers rows so).
SHEET_ROWS = "as numbered in the spreadsheet, where the column names are row 1"

#: Printed by every command that reads or writes pupil-level data.
DATA_PROTECTION_REMINDER = (
    "Data protection: these files hold pupil-level personal data. Keep them only in the folder you "
    "named, on a school system with access control; share them only with staff who need them; delete "
    "them under your retention schedule; never put them in a shared report or on a public site. "
    "Survey answers are not a safeguarding screen: any safeguarding concern goes to the designated "
    "safeguarding lead immediately.")

NOT_A_SCREEN = ("Survey answers are not a safeguarding screen. Any concern that a pupil may be at risk "
                "of harm goes to the designated safeguarding lead immediately, under the school's child "
                "protection policy, whatever the survey says.")


def render(template: str, **context) -> str:
    """Render one of the package's Jinja templates (autoescaped)."""
    import jinja2

    from .. import __version__

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
                             autoescape=jinja2.select_autoescape(["html", "j2"]), trim_blocks=True,
                             lstrip_blocks=True)
    context.setdefault("version", __version__)
    context.setdefault("date", _dt.date.today().isoformat())
    return env.get_template(template).render(**context)


def figure_to_data_uri(fig) -> str:
    """A matplotlib figure as a PNG data URI (the page needs no side files)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _git_tree(folder: Path) -> Path | None:
    """The root of the git working tree that holds ``folder`` (the nearest parent with ``.git``)."""
    for parent in (folder, *folder.parents):
        if (parent / ".git").exists():
            return parent
    return None


def out_dir(path: str | os.PathLike, *, personal: bool = True) -> Path:
    """The output folder the user named (created if needed), refused where files could leak.

    An empty name is refused (it would mean the current folder).  With ``personal`` (pupil or staff
    data), a folder inside a git working tree, or inside this project's source tree, is refused with a
    one-line reason: files there are easily committed and shared.
    """
    if path is None or not str(path).strip():
        raise DataError("--out '' names no folder: give the folder for the files (for pupil-level files, a "
                        "secure folder outside any project).")
    out = Path(path).expanduser()
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {str(out)!r} is a file; name a folder.")
    if personal:
        full = out.resolve()
        project = _TEMPLATES.parent.parent.resolve()
        tree = _git_tree(full)
        if tree is not None or full == project or project in full.parents:
            where = tree if tree is not None else project
            raise DataError(f"--out {str(out)!r} is inside {'the git working tree' if tree is not None else 'the project'} "
                            f"{str(where)!r}: personal data there is easily committed or shared; name a secure "
                            "folder outside it.")
    out.mkdir(parents=True, exist_ok=True)
    return out


def unused_path(path: Path) -> Path:
    """``path`` if nothing is there, else the first free ``stem_2.suffix``, ``stem_3.suffix`` ..."""
    path = Path(path)
    k = 2
    candidate = path
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}_{k}{path.suffix}")
        k += 1
    return candidate


_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
                     *(f"LPT{i}" for i in range(1, 10))}


def safe_file_stem(text: str, *, limit: int = 60) -> str:
    """Text made safe as part of a file name on Windows, macOS and Linux.

    Path characters (``/ \\ : * ? " < > |``), control characters and spaces become ``_``; letters
    with accents are kept (Unicode NFC); trailing dots and spaces are removed; a reserved Windows
    device name (CON, PRN, AUX, NUL, COM1-9, LPT1-9) gets a leading ``_``.

    Examples
    --------
    >>> safe_file_stem("A/1"), safe_file_stem("Zoë"), safe_file_stem("CON"), safe_file_stem("2026-03-01 00:00:00")
    ('A_1', 'Zoë', '_CON', '2026-03-01_00_00_00')
    """
    import re
    import unicodedata

    s = unicodedata.normalize("NFC", str(text))
    s = re.sub(r"[\x00-\x1f\x7f/\\:*?\"<>|\s]+", "_", s)
    s = s.rstrip(". ").strip("_")[:limit].rstrip(". ")
    if not s:
        s = "pupil"
    if s.split(".")[0].upper() in _WINDOWS_RESERVED:
        s = "_" + s
    return s


def unique_file_stems(texts) -> tuple[dict, list[list[str]]]:
    """``{text: unique safe stem}`` and the groups of texts whose stems collided.

    Stems are compared without regard to case (Windows and macOS file names ignore case); the second
    and later members of a colliding group get ``_2``, ``_3`` ... in the order given.
    """
    stems: dict = {}
    taken: dict[str, str] = {}
    groups: dict[str, list[str]] = {}
    for text in texts:
        base = safe_file_stem(text)
        groups.setdefault(base.casefold(), []).append(text)
        stem, k = base, 2
        while stem.casefold() in taken:
            stem, k = f"{base}_{k}", k + 1
        taken[stem.casefold()] = text
        stems[text] = stem
    return stems, [g for g in groups.values() if len(g) > 1]


#: Column names by which the school tools recognise their own files' header rows.
_KNOWN_HEADERS = {"pupil_ref", "rater", "indicator", "rating", "ocbs_01", "ocbp_01", "class"}


def _title_rows_hint(p: Path) -> str:
    """Where the header seems to be when the first line is a title (an empty string when not found)."""
    try:
        if p.suffix.lower() == ".csv":
            from ..io import _decode

            grid = [line.replace(";", ",").replace("\t", ",").split(",")
                    for line in _decode(p, None).splitlines()[:10]]
        else:
            grid = pd.read_excel(p, header=None, nrows=10, dtype=str).fillna("").to_numpy().tolist()
    except Exception:       # the hint is a courtesy; the original error is raised anyway
        return ""
    for k, row in enumerate(grid[1:], start=2):
        if _KNOWN_HEADERS & {str(c).strip().strip('"').lower() for c in row}:
            return (f" Its column names seem to be on line {k}, below a title: delete the line(s) above the "
                    "column names (pupil_ref, ...) and save the file again.")
    return ""


def read_table(path: str | os.PathLike, *, what: str = "data", expect=None, stack: bool = False) -> pd.DataFrame:
    """Read a CSV or Excel file through :func:`belonging_lib.io.read_data`, rows numbered from 1.

    The library's reader handles stray quotes (an error naming the line, never pupils silently
    dropped), UTF-8/UTF-16 byte-order marks, ``;`` and tab delimiters and empty files; a CSV that is
    not UTF-8 (Excel on Windows saves Windows-1252) is read as Windows-1252, with a note.  A title
    line above the header gives an error that says so.  ``expect(columns)``, when given, picks the
    sheet of a workbook that holds the answers (the first whose columns it accepts), whatever its
    position; blank sheets are skipped with a note.  With ``stack`` (the audit: one sheet per rater), every
    sheet whose columns ``expect`` accepts is read and the sheets are stacked, in order, with a note.

    The export of an online form (Microsoft Forms, Google Forms: one column per question, headed by
    its text, answers as text) is turned into the data-entry sheet's layout by
    :func:`belonging_lib.schools.online_forms.read_form_export`, with notes.

    The index is the row number the spreadsheet program shows (the column names are row 1, the
    first pupil row 2: :data:`SHEET_ROWS`), so every error message names the row a teacher sees in
    Excel.  Rows stacked from several sheets are labelled ``"5 (sheet 'TA1')"``.  Completely empty rows (the unused end of a data-entry sheet) are skipped, and their number is
    printed to standard error; the other rows keep their numbers.
    """
    import sys

    from .._errors import ColumnError
    from ..io import read_data

    p = Path(path)
    if not str(path).strip():
        raise DataError(f"No {what} file was named.")
    if not p.exists():
        raise DataError(f"The {what} file {str(p)!r} does not exist.")
    try:
        frame = _read_first_fitting(p, what, expect, stack)
    except DataError as exc:
        if p.suffix.lower() == ".csv" and "cp1252" in str(exc) and "not valid" in str(exc):
            frame = read_data(p, encoding="cp1252")
            print(f"The {what} file is not UTF-8 text: read as Windows-1252 (the encoding Excel uses on "
                  "Windows). Check that accented names look right.", file=sys.stderr)
        else:
            raise type(exc)(f"{exc}{_title_rows_hint(p)}") from None
    except ColumnError as exc:
        raise type(exc)(f"{exc}{_title_rows_hint(p)}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if expect is not None and not expect(frame.columns):
        from .online_forms import looks_like_form_export, read_form_export

        if looks_like_form_export(frame.columns):     # Microsoft Forms or Google Forms: questions as headers
            export = read_form_export(frame, what=what)
            frame, notes = export.data, export.notes
            for line in notes:
                print(line, file=sys.stderr)
    if expect is not None and not expect(frame.columns):
        hint = _title_rows_hint(p)
        if hint:
            raise DataError(f"The {what} file {p.name!r} does not start with its column names.{hint}")
    labels = frame.attrs.pop("sheet_rows", None)
    frame.index = pd.Index(labels) if labels is not None else pd.RangeIndex(2, len(frame) + 2)
    blank = frame.apply(lambda c: c.isna() | c.astype("string").str.strip().eq("").fillna(True)
                        .astype(bool)).all(axis=1)
    trailing = _trailing_blank_records(p)      # the reader drops these itself; they are counted here
    if blank.any() or trailing:     # e.g. the unused rows at the end of a data-entry sheet: counted, then skipped
        print(f"The {what} file: {int(blank.sum()) + trailing} completely empty row(s) skipped.", file=sys.stderr)
        frame = frame[~blank]
    return frame


def _trailing_blank_records(p: Path) -> int:
    """Lines at the end of a CSV file that hold only delimiters (rows the reader leaves out)."""
    import re

    if p.suffix.lower() != ".csv":
        return 0
    try:
        from ..io import _decode

        lines = _decode(p, None).splitlines()
    except Exception:       # a count for a note only
        return 0
    n = 0
    for line in reversed(lines):
        if not re.fullmatch(r'[\s,;|"]*', line):
            break
        n += 1
    return n


def _read_first_fitting(p: Path, what: str, expect, stack: bool = False) -> pd.DataFrame:
    """The first sheet (or the CSV) whose columns ``expect`` accepts; blank sheets are skipped."""
    import sys

    from ..io import read_data

    if p.suffix.lower() not in (".xlsx", ".xls") or expect is None:
        return read_data(p)
    names = pd.ExcelFile(p).sheet_names
    blank, fitting = [], []
    for name in names:
        try:
            frame = read_data(p, sheet=name)
        except DataError as exc:
            if "is empty" in str(exc):
                blank.append(name)
                continue
            raise
        if stack and expect([str(c).strip() for c in frame.columns]):
            fitting.append((name, frame))
            continue
        if expect([str(c).strip() for c in frame.columns]):
            if blank or name != names[0]:
                print(f"The {what} file: read sheet {name!r}" + (f"; blank sheet(s) {', '.join(map(repr, blank))} "
                      "skipped" if blank else "") + ".", file=sys.stderr)
            return frame
    if fitting:
        if len(fitting) > 1 or blank:
            print(f"The {what} file: stacked {len(fitting)} sheet(s) ({', '.join(repr(n) for n, _ in fitting)}), "
                  "rows numbered in that order" + (f"; blank sheet(s) {', '.join(map(repr, blank))} skipped"
                                                   if blank else "") + ".", file=sys.stderr)
        stacked = pd.concat([f for _, f in fitting], ignore_index=True)
        # each row keeps the row number its own sheet shows, with the sheet's name
        stacked.attrs["sheet_rows"] = [f"{k} (sheet {n!r})" for n, f in fitting for k in range(2, len(f) + 2)]
        return stacked
    return read_data(p, sheet=names[0])


def check_rounds_match(now: pd.Index, before: pd.Index, n_matched: int, *, what: str) -> None:
    """Stop when two survey rounds share few pupils (fewer than half of the smaller round), naming the
    likely cause (leading zeros Excel dropped, capitals or spaces, another ID column) and the count matched."""
    import re

    smaller = min(len(now), len(before))
    if smaller == 0 or n_matched >= 0.5 * smaller:
        return

    def strip0(idx):
        return pd.Index([re.sub(r"^0+(?=\d)", "", str(r)) for r in idx])

    def folded(idx):
        return pd.Index([str(r).strip().casefold() for r in idx])

    causes = []
    n_zeros = len(strip0(now).intersection(strip0(before)))
    n_case = len(folded(now).intersection(folded(before)))
    if n_zeros > n_matched:
        causes.append(f"leading zeros: {n_zeros} would match if leading zeros were ignored (Excel drops them "
                      "from codes such as 007; format the column as Text and enter the codes again)")
    if n_case > n_matched:
        causes.append(f"capitals or spaces: {n_case} would match if case and spaces were ignored")
    if not causes:
        causes.append("the two files may use different ID columns, or be of different pupils")
    raise DataError(f"Only {n_matched} of the {len(now)} pupils in the {what} file match a pupil_ref in the "
                    f"previous file ({len(before)} pupils), so most changes could not be assessed. Likely cause: "
                    + "; ".join(causes) + ". Correct pupil_ref in one file so that the same pupil has the same "
                    "reference in both.")
