"""Bar charts of shares of pupils (percentages) with their confidence intervals.

Draws a table from :func:`belonging_lib.proportions.proportion_ci` (its ``to_frame()``) or any table
with ``estimate``, ``ci_low`` and ``ci_high`` as proportions; computes nothing itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .._errors import ColumnError
from ._style import PALETTE, new_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["share_bars"]


def share_bars(table: pd.DataFrame, *, label: str, ax=None, ylabel: str = "% of pupils",
               title: str | None = None, colour: str = PALETTE[0]) -> Axes:
    """One bar per row of ``table`` at ``100 * estimate``, with its interval as an error bar.

    ``label`` names the column whose values label the bars. Returns the Axes.
    """
    missing = [c for c in (label, "estimate", "ci_low", "ci_high") if c not in table.columns]
    if missing:
        raise ColumnError(f"share_bars needs the column(s) {missing} in the table")
    ax = new_axes(ax, figsize=(7, 3.2))
    est = 100 * table["estimate"].to_numpy(float)
    err = np.vstack([est - 100 * table["ci_low"].to_numpy(float), 100 * table["ci_high"].to_numpy(float) - est])
    x = np.arange(len(table))
    ax.bar(x, est, color=colour, yerr=err, capsize=2, error_kw={"elinewidth": 1, "ecolor": "#444444"})
    ax.set_xticks(x, table[label].astype(str), rotation=90)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    return ax
