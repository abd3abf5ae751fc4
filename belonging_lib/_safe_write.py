"""Writing CSV and Excel files that a spreadsheet program cannot run as formulas.

A cell whose text begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return may be run as a
formula when the file is opened in Excel, LibreOffice or Google Sheets ("CSV injection", OWASP).  A
pupil's name, a note or a free-text answer typed by anyone can carry one, for example
``=HYPERLINK("http://x","y")``.  Every CSV and Excel file the library writes goes through
:func:`write_csv` or :func:`write_excel`, which prefix such a text cell with a single quote
(OWASP's rule), so the spreadsheet shows the text and runs nothing.

Only text is changed: a number (``-3``, ``-0.25``) is data and is written as it is, and so is text
that is a plain number (``"-3"``, ``"+44"`` would not be; a signed integer or decimal such as
``"-1.5"`` is), so negative scores and changes keep their values.  Column names and index labels are
text cells too and are treated the same way.

Examples
--------
>>> neutralise_cell('=1+1'), neutralise_cell(-2.5), neutralise_cell('-2.5'), neutralise_cell('@SUM(A1)')
("'=1+1", -2.5, '-2.5', "'@SUM(A1)")
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

__all__ = ["FORMULA_STARTS", "neutralise_cell", "neutralise_frame", "write_csv", "write_excel"]

#: First characters that make a spreadsheet read a cell as a formula (OWASP CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def neutralise_cell(value):
    """``value`` with a leading single quote when it is text a spreadsheet could run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.match(value):
        return "'" + value
    return value


def _neutralise_labels(index: pd.Index) -> pd.Index:
    if isinstance(index, pd.MultiIndex):
        return index.set_levels([_neutralise_labels(lev) for lev in index.levels])
    if index.dtype == object or pd.api.types.is_string_dtype(index.dtype):
        return pd.Index([neutralise_cell(v) for v in index], name=neutralise_cell(index.name), dtype=object)
    return index


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` in which every text cell, column name and index label is neutralised."""
    out = frame.copy()
    for i in range(out.shape[1]):
        col = out.iloc[:, i]
        if col.dtype == object or pd.api.types.is_string_dtype(col.dtype) or isinstance(col.dtype, pd.CategoricalDtype):
            out.isetitem(i, col.astype(object).map(neutralise_cell))
    out.columns = _neutralise_labels(out.columns)
    out.index = _neutralise_labels(out.index)
    return out


def write_csv(frame: pd.DataFrame, path: str | os.PathLike, **kwargs) -> Path:
    """``frame.to_csv(path, **kwargs)`` with formula-like text neutralised; returns the path."""
    path = Path(path)
    neutralise_frame(frame).to_csv(path, **kwargs)
    return path


def write_excel(
    sheets: pd.DataFrame | dict, path: str | os.PathLike, *, index: bool = False, sheet_name: str = "Sheet1", after=None
) -> Path:
    """Write one frame, or ``{sheet name: frame}``, to an .xlsx file with formula-like text neutralised.

    ``after(writer)``, when given, runs before the file is closed (for example to add drop-down
    validation or freeze the header with openpyxl); cells it writes are its own responsibility.
    """
    path = Path(path)
    if isinstance(sheets, pd.DataFrame):
        sheets = {sheet_name: sheets}
    with pd.ExcelWriter(path, engine="openpyxl") as xl:
        for name, frame in sheets.items():
            neutralise_frame(frame).to_excel(xl, sheet_name=name, index=index)
        if after is not None:
            after(xl)
    return path
