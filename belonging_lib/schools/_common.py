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

#: Printed by every command that reads or writes pupil-level data.
DATA_PROTECTION_REMINDER = (
    "Data protection: these files hold pupil-level personal data. Keep them only in the folder you "
    "named, on a school system with access control; share them only with staff who need them; delete "
    "them under your retention schedule; never put them in a shared report or on a public site. "
    "Survey answers are not a safeguarding screen: any safeguarding concern goes to the designated "
    "safeguarding lead the same day.")

NOT_A_SCREEN = ("Survey answers are not a safeguarding screen. Any concern that a pupil may be at risk "
                "of harm goes to the designated safeguarding lead the same day, under the school's child "
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


def out_dir(path: str | os.PathLike) -> Path:
    """The output folder the user named (created if needed)."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {str(out)!r} is a file; name a folder.")
    out.mkdir(parents=True, exist_ok=True)
    return out


def read_table(path: str | os.PathLike, *, what: str = "data") -> pd.DataFrame:
    """Read a CSV or Excel file as text-preserving columns, rows numbered from 1.

    The index is the data row number counted from 1 (the row after the header is row 1), so every
    error message names the row a user sees in their spreadsheet program minus the header line.
    Completely empty rows (the unused end of a data-entry sheet) are skipped, and their number is
    printed to standard error; the other rows keep their numbers.
    """
    from ..io import read_data

    p = Path(path)
    if not p.exists():
        raise DataError(f"The {what} file {str(p)!r} does not exist.")
    if p.suffix.lower() == ".csv":
        frame = pd.read_csv(p, dtype=str, keep_default_na=False, na_values=[""])
    else:
        frame = read_data(p)
    frame.columns = [str(c).strip() for c in frame.columns]
    frame.index = pd.RangeIndex(1, len(frame) + 1)
    blank = frame.apply(lambda c: c.isna() | c.astype("string").str.strip().eq("").fillna(True)
                        .astype(bool)).all(axis=1)
    if blank.any():     # e.g. the unused rows at the end of a data-entry sheet: counted, then skipped
        import sys

        print(f"The {what} file: {int(blank.sum())} completely empty row(s) skipped.", file=sys.stderr)
        frame = frame[~blank]
    return frame
