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


class StyledDocument:
    """A python-docx document whose ``add_paragraph`` and ``add_heading`` look each style up once.

    python-docx looks a paragraph style up by name on every paragraph, and checks whether it is the
    document's default style by reading every style of its template (about 160): writing a hundred
    support plans spent half its time there.  Here each style's id is found once per document, the
    same way, and set on the paragraph as python-docx sets it, so the documents written are the same.
    Everything else is the wrapped document's.
    """

    def __init__(self, doc):
        self._doc = doc
        self._style_ids: dict[str, str | None] = {}

    def __getattr__(self, name):
        return getattr(self._doc, name)

    def add_paragraph(self, text: str = "", style=None):
        """``doc.add_paragraph(text, style)``, with the style's id looked up once per document."""
        if not isinstance(style, str):  # None, or a style object: python-docx's own way
            return self._doc.add_paragraph(text, style)
        if style not in self._style_ids:
            from docx.enum.style import WD_STYLE_TYPE

            self._style_ids[style] = self._doc.part.get_style_id(style, WD_STYLE_TYPE.PARAGRAPH)
        para = self._doc.add_paragraph(text)
        para._p.style = self._style_ids[style]
        return para

    def add_heading(self, text: str = "", level: int = 1):
        """``doc.add_heading(text, level)``: the ``Title`` style for level 0, else ``Heading <level>``."""
        if not 0 <= level <= 9:
            raise ValueError(f"level must be in range 0-9, got {level}")
        return self.add_paragraph(text, "Title" if level == 0 else f"Heading {level}")
