"""Small helpers for editable Word documents (python-docx)."""

from __future__ import annotations

import pandas as pd


def add_table(doc, frame: pd.DataFrame, *, blank_rows: int = 0, style: str = "Table Grid"):
    """Append ``frame`` as a Word table (header row, then its rows and ``blank_rows`` empty rows)."""
    table = doc.add_table(rows=1, cols=frame.shape[1])
    table.style = style
    for cell, name in zip(table.rows[0].cells, frame.columns):
        cell.text = str(name)
        for run in cell.paragraphs[0].runs:
            run.bold = True
    for row in frame.itertuples(index=False):
        cells = table.add_row().cells
        for cell, value in zip(cells, row):
            cell.text = "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)
    for _ in range(blank_rows):
        table.add_row()
    return table


def field(doc, label: str, value: str = "", *, hint: str = ""):
    """A labelled field: bold label, then the value or an empty line to fill in."""
    p = doc.add_paragraph()
    p.add_run(f"{label}: ").bold = True
    p.add_run(value if value else "_" * 40)
    if hint:
        doc.add_paragraph(hint).runs[0].italic = True
    return p


def set_a4(doc) -> None:
    """Every section of ``doc`` on A4 paper (210 x 297 mm), keeping each section's orientation."""
    from docx.enum.section import WD_ORIENT
    from docx.shared import Mm

    for section in doc.sections:
        if section.orientation == WD_ORIENT.LANDSCAPE:
            section.page_width, section.page_height = Mm(297), Mm(210)
        else:
            section.page_width, section.page_height = Mm(210), Mm(297)
