"""Figure of group gaps: each group's difference from its reference group, with its interval.

Draws the table of :func:`belonging_lib.models.group_gaps` (or several of
them, stacked), after disclosure control: pass the
:class:`~belonging_lib.disclosure.SuppressedTable` and only the rows with
nothing suppressed are drawn.  Nothing is estimated here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .._errors import DataError
from ._style import PALETTE, new_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["gaps_plot"]

#: the palette without its yellow, which is hard to see as a thin line on white
COLOURS = [c for c in PALETTE if c != "#F0E442"]


def _as_table(gaps) -> pd.DataFrame:
    if hasattr(gaps, "shown"):                       # SuppressedTable: draw only what may be shown
        return gaps.shown
    if hasattr(gaps, "to_frame"):
        return gaps.to_frame()
    if isinstance(gaps, pd.DataFrame):
        return gaps
    raise DataError("gaps_plot: pass a GroupGapsResult, a table of gaps or a SuppressedTable of one.")


def gaps_plot(gaps, *, ax=None, label: str = "group", by: str | None = None, truth=None,
              xlabel: str = "difference from the reference group") -> Axes:
    """Dot-and-interval chart of group gaps, one row per group, with a line at zero.

    Parameters
    ----------
    gaps : GroupGapsResult, DataFrame or SuppressedTable
        Columns ``estimate``, ``ci_low``, ``ci_high`` and ``label``.
    label : str
        Column naming each row.
    by : str, optional
        Column that groups the rows into blocks (for example the comparison:
        SEND, FSM, ethnicity); each block gets its own colour.
    truth : mapping or Series, optional
        Known values by row label (for synthetic data), drawn as open diamonds.
    xlabel : str

    Returns
    -------
    matplotlib.axes.Axes
    """
    table = _as_table(gaps)
    missing = [c for c in ("estimate", "ci_low", "ci_high", label) if c not in table.columns]
    if missing:
        raise DataError(f"gaps_plot: the table has no column(s) {missing}.")
    if table.empty:
        raise DataError("gaps_plot: no group to draw (all rows were suppressed or the table is empty).")
    table = table.reset_index(drop=True)
    ax = new_axes(ax, figsize=(7.0, 0.45 * len(table) + 1.2))
    ypos = np.arange(len(table))[::-1]
    blocks = list(dict.fromkeys(table[by])) if by else [None]
    for k, block in enumerate(blocks):
        rows = table.index if block is None else table.index[table[by] == block]
        colour = COLOURS[k % len(COLOURS)]
        est, lo, hi = (table.loc[rows, c].to_numpy(float) for c in ("estimate", "ci_low", "ci_high"))
        ax.errorbar(est, ypos[rows], xerr=[est - lo, hi - est], fmt="o", color=colour, capsize=3,
                    label=None if block is None else str(block))
    if truth is not None:
        truth = pd.Series(truth)
        known = table[label].map(truth)
        has = known.notna().to_numpy()
        if has.any():
            ax.scatter(known[has].to_numpy(float), ypos[has], marker="D", facecolors="none",
                       edgecolors="black", zorder=3, label="true value (simulation)")
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set_yticks(ypos)
    names = table[label].astype(str)
    if "reference" in table.columns:                 # say what each group is compared with
        names = names + " vs " + table["reference"].astype(str)
    ax.set_yticklabels(names)
    ax.set_xlabel(xlabel)
    if by or truth is not None:
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=9)
    return ax
