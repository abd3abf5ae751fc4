"""Publication-ready (APA style) tables from tidy result frames.

:func:`apa_table` turns a tidy table (columns ``term, estimate, se, ci_low,
ci_high, statistic, df, p, n`` or any others) into an
:class:`APATable` that renders as HTML (notebooks, site, report), Markdown
or LaTeX.  APA conventions applied: numbers rounded only for display;
p-values as ``< .001`` or ``.034`` (no leading zero, since p cannot exceed 1);
the confidence interval as one column ``[low, high]``; italic statistic
symbols in the header; a title above and a note below.  Suppressed cells of
a :class:`~belonging_lib.disclosure.SuppressedTable` show as ``[c]`` with the
disclosure footnote.
"""

from __future__ import annotations

import dataclasses
import html as _html
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ._errors import DataError
from ._validation import as_frame

__all__ = ["apa_table", "APATable", "format_number", "format_p_apa"]

_HEADERS = {"term": "Term", "estimate": "Estimate", "se": "SE", "ci": "95% CI", "statistic": "Statistic",
            "df": "df", "p": "p", "n": "N", "mean": "M", "sd": "SD", "variable": "Variable",
            "group": "Group", "alpha": "α", "omega": "ω", "r": "r"}
_ITALIC = {"SE", "df", "p", "N", "M", "SD", "r", "t", "z", "F", "n"}
#: Columns bounded by 1 in absolute value: shown without a leading zero (APA).
NO_LEADING_ZERO = ("p", "alpha", "omega", "r", "share", "share_missing", "icc")


def format_p_apa(p: float, *, digits: int = 3) -> str:
    """APA p-value: ``"< .001"``, ``".034"``; ``""`` for missing.

    Examples
    --------
    >>> format_p_apa(0.0004), format_p_apa(0.0341), format_p_apa(1.0)
    ('< .001', '.034', '1.000')
    """
    if p is None or (isinstance(p, float) and np.isnan(p)):
        return ""
    p = float(p)
    if not 0 <= p <= 1:
        raise DataError(f"A p-value must lie in [0, 1], but {p!r} was passed.")
    floor = 10 ** -digits
    if p < floor:
        return f"< {floor:.{digits}f}".replace("0.", ".", 1)
    text = f"{p:.{digits}f}"
    return text if text.startswith("1") else text.replace("0.", ".", 1)


def format_number(value, *, digits: int = 2, leading_zero: bool = True) -> str:
    """Round for display; ``""`` for missing, a proper minus sign kept as ``-``.

    Examples
    --------
    >>> format_number(-0.456, leading_zero=False)
    '-.46'
    """
    if value is None or (isinstance(value, (float, np.floating)) and np.isnan(value)):
        return ""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return f"{int(value):,}".replace(",", "")
    if isinstance(value, (float, np.floating)):
        if np.isinf(value):
            return "∞" if value > 0 else "-∞"
        text = f"{float(value):.{digits}f}"
        if text.startswith("-") and float(text) == 0:
            text = text[1:]
        if not leading_zero:
            text = text.replace("0.", ".", 1) if text.lstrip("-").startswith("0.") else text
        return text
    return str(value)


@dataclasses.dataclass(frozen=True)
class APATable:
    """An APA-style table: ``.html``, ``.markdown``, ``.latex`` and the cells as text."""

    cells: pd.DataFrame
    title: str | None = None
    note: str | None = None
    number: int | None = None

    def _caption(self) -> str:
        lead = f"Table {self.number}" if self.number is not None else ""
        return " ".join(x for x in (lead, self.title or "") if x)

    @property
    def html(self) -> str:
        head = "".join(f"<th>{_header_html(c)}</th>" for c in self.cells.columns)
        body = "".join("<tr>" + "".join(f"<td>{_html.escape(str(v))}</td>" for v in row) + "</tr>"
                       for row in self.cells.itertuples(index=False))
        cap = f"<caption style='caption-side:top;text-align:left'><em>{_html.escape(self._caption())}</em></caption>" \
            if self._caption() else ""
        note = f"<p class='bl-apa-note'><em>Note.</em> {_html.escape(self.note)}</p>" if self.note else ""
        return (f"<div class='bl-apa'><table class='bl-apa-table' style='border-collapse:collapse;"
                f"border-top:2px solid #000;border-bottom:2px solid #000'>{cap}<thead style='border-bottom:1px solid #000'>"
                f"<tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}</div>")

    @property
    def markdown(self) -> str:
        cols = list(self.cells.columns)
        lines = []
        if self._caption():
            lines += [f"*{self._caption()}*", ""]
        lines.append("| " + " | ".join(_header_md(c) for c in cols) + " |")
        lines.append("|" + "|".join(":---" if i == 0 else "---:" for i in range(len(cols))) + "|")
        lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in self.cells.itertuples(index=False)]
        if self.note:
            lines += ["", f"*Note.* {self.note}"]
        return "\n".join(lines)

    @property
    def latex(self) -> str:
        def esc(s):
            return str(s).replace("\\", r"\textbackslash{}").replace("&", r"\&").replace("%", r"\%") \
                .replace("_", r"\_").replace("#", r"\#").replace("[c]", r"[c]")
        cols = list(self.cells.columns)
        spec = "l" + "r" * (len(cols) - 1)
        lines = [r"\begin{table}", r"\centering"]
        if self._caption():
            lines.append(r"\caption{" + esc(self._caption()) + "}")
        lines += [r"\begin{tabular}{" + spec + "}", r"\toprule",
                  " & ".join(r"\textit{" + esc(h) + "}" if h in _ITALIC else esc(h) for h in cols) + r" \\",
                  r"\midrule"]
        lines += [" & ".join(esc(v) for v in row) + r" \\" for row in self.cells.itertuples(index=False)]
        lines += [r"\bottomrule", r"\end{tabular}"]
        if self.note:
            lines.append(r"\par\textit{Note.} " + esc(self.note))
        lines.append(r"\end{table}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return self.html

    def __str__(self) -> str:
        return self.markdown


def _header_html(h: str) -> str:
    return f"<em>{_html.escape(h)}</em>" if h in _ITALIC else _html.escape(h)


def _header_md(h: str) -> str:
    return f"*{h}*" if h in _ITALIC else h


def apa_table(table, *, digits: int = 2, p_digits: int = 3, title: str | None = None,
              note: str | None = None, number: int | None = None, ci_level: float = 0.95,
              statistic: str | None = None, labels: Mapping[str, str] | None = None,
              columns: Sequence[str] | None = None, index: bool = False) -> APATable:
    """Format a tidy result table the APA way.

    Parameters
    ----------
    table : DataFrame, Result or SuppressedTable
        A tidy table; a result object is turned into one with ``to_frame()``.
    digits : int
        Decimals for estimates and other numbers (display only).
    p_digits : int
        Decimals for p-values (``p < .001`` below ``10**-p_digits``).
    title, note : str, optional
        Title above and note below the table.
    number : int, optional
        Table number (``Table 2``).
    ci_level : float
        Level named in the CI column header.
    statistic : str, optional
        Symbol of the test statistic (``"t"``, ``"z"``, ``"F"``).
    labels : mapping, optional
        Extra header names ``{"column": "Header"}``.
    columns : list of str, optional
        Columns to keep (in this order).
    index : bool
        Keep the frame's index as the first column.

    Returns
    -------
    APATable

    Examples
    --------
    >>> tidy = pd.DataFrame({"term": ["fsm"], "estimate": [-0.153], "se": [0.041], "ci_low": [-0.233],
    ...                      "ci_high": [-0.073], "statistic": [-3.73], "df": [3000.0], "p": [0.0002], "n": [3131]})
    >>> print(apa_table(tidy, statistic="t").markdown)
    | Term | Estimate | *SE* | 95% CI | *t* | *df* | *p* | *N* |
    |:---|---:|---:|---:|---:|---:|---:|---:|
    | fsm | -0.15 | 0.04 | [-0.23, -0.07] | -3.73 | 3000 | < .001 | 3131 |
    """
    from .disclosure import SuppressedTable

    frame = table
    footnote = ""
    mask = None
    if isinstance(frame, SuppressedTable):
        footnote, mask, symbol = frame.footnote, frame.mask, frame.policy.symbol
        frame = frame.data
    elif hasattr(frame, "to_frame") and not isinstance(frame, pd.DataFrame):
        frame = frame.to_frame()
    frame = as_frame(frame, name="table")
    if index:
        frame = frame.reset_index()
        if mask is not None:
            mask = mask.reset_index(drop=True)
            mask.insert(0, frame.columns[0], False)
    frame = frame.reset_index(drop=True)
    if mask is not None:
        mask = mask.reset_index(drop=True)
    if columns is not None:
        from ._validation import require_columns

        require_columns(frame, columns)
        frame = frame[list(columns)]
    cells = pd.DataFrame(index=frame.index)
    names = dict(_HEADERS)
    names["ci"] = f"{round(ci_level * 100):g}% CI"
    if statistic:
        names["statistic"] = statistic
    names.update(labels or {})
    done = set()
    for col in frame.columns:
        if col in done:
            continue
        if col == "ci_low" and "ci_high" in frame.columns:
            lo, hi = frame["ci_low"], frame["ci_high"]
            cells[names["ci"]] = [("" if pd.isna(a) or pd.isna(b) else
                                   f"[{format_number(float(a), digits=digits)}, {format_number(float(b), digits=digits)}]")
                                  for a, b in zip(lo, hi)]
            if mask is not None:
                cells.loc[mask["ci_low"] | mask["ci_high"], names["ci"]] = symbol
            done |= {"ci_low", "ci_high"}
            continue
        if col == "ci_high":
            continue
        values = frame[col]
        header = names.get(col, str(col))
        if col == "p" or str(col).startswith("p_"):     # p-values: `p`, `p_<what>`
            shown = [format_p_apa(v, digits=p_digits) if not pd.isna(v) else "" for v in values]
        elif col in ("n", "df") or str(col).startswith("n_"):
            shown = [("" if pd.isna(v) else (f"{int(v)}" if float(v).is_integer() else format_number(float(v), digits=digits)))
                     if isinstance(v, (int, float, np.integer, np.floating)) else str(v) for v in values]
        elif pd.api.types.is_integer_dtype(values) and not pd.api.types.is_bool_dtype(values):
            shown = ["" if pd.isna(v) else f"{int(v)}" for v in values]     # whole numbers stay whole: 7, not 7.00
        elif pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            lz = col not in NO_LEADING_ZERO
            shown = [format_number(float(v), digits=digits, leading_zero=lz) for v in values]
        else:
            shown = ["" if pd.isna(v) else str(v) for v in values]
        cells[header] = shown
        if mask is not None and col in mask.columns:
            cells.loc[mask[col].to_numpy(), header] = symbol
        done.add(col)
    full_note = " ".join(x for x in (note or "", footnote) if x) or None
    return APATable(cells=cells, title=title, note=full_note, number=number)
