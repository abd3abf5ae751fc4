"""Figures for survey estimates: one estimate per group with its confidence interval."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .._errors import ColumnError
from ._style import PALETTE, new_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["estimates_with_intervals", "score_histogram"]


def estimates_with_intervals(table: pd.DataFrame, *, label: str, ax=None, xlabel: str = "Estimate (95% CI)",
                             ylabel: str | None = None, title: str | None = None, reference: float | None = None) -> Axes:
    """Dot-and-interval chart: one row per group (a country, a quarter of ESCS ...).

    Parameters
    ----------
    table : DataFrame or result
        Columns ``estimate``, ``ci_low``, ``ci_high`` and ``label``; pass the rows that
        passed disclosure control (``suppress(...).shown``).  A survey result (a
        :class:`~belonging_lib.survey.SurveyEstimate`) is drawn from its protected table
        (``disclosed()``, under the project's policy and the active disclosure context), without
        the rows the disclosure rules withheld; another result with ``to_frame()``, from its tidy
        table without the rows marked ``suppressed``.  Rows are drawn top to bottom in table order.
    reference : float, optional
        Draws a dashed vertical line there (for example the overall estimate).

    Returns
    -------
    matplotlib.axes.Axes
    """
    if hasattr(table, "disclosed"):
        table = table.disclosed().shown        # a figure is an output: only the groups that may be shown
    elif hasattr(table, "to_frame"):
        table = table.to_frame()
        if "suppressed" in table.columns:
            table = table[~table["suppressed"].astype(bool)]
    missing = [c for c in (label, "estimate", "ci_low", "ci_high") if c not in table.columns]
    if missing:
        raise ColumnError(f"The table to plot lacks the column(s) {missing}; it needs "
                          f"{label!r}, 'estimate', 'ci_low' and 'ci_high'.")
    if len(table) == 0:
        raise ColumnError("The table to plot has no rows (were all groups suppressed by disclosure control?).")
    ax = new_axes(ax, figsize=(6, 0.45 * len(table) + 1.3))
    y = np.arange(len(table))[::-1]
    est = table["estimate"].to_numpy(float)
    ax.errorbar(est, y, xerr=[est - table["ci_low"].to_numpy(float), table["ci_high"].to_numpy(float) - est],
                fmt="o", color=PALETTE[0], ecolor=PALETTE[0], capsize=3)
    if reference is not None:
        ax.axvline(reference, color="#777777", linestyle="--", linewidth=1)
    ax.set_yticks(y)
    ax.set_yticklabels(table[label].astype(str))
    ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.grid(axis="y", visible=False)
    if title:
        ax.set_title(title)
    return ax


def score_histogram(scores, *, ax=None, bins: int = 20, xlabel: str = "Score", ylabel: str = "Pupils",
                    title: str | None = None) -> Axes:
    """Histogram of one score (a Series; missing values are left out).

    Use it for a whole sample, never for a small group: the bars count pupils.

    Returns
    -------
    matplotlib.axes.Axes
    """
    values = pd.to_numeric(pd.Series(scores), errors="coerce").dropna()
    if values.empty:
        raise ColumnError("The score to plot has no values (all missing or not numeric).")
    ax = new_axes(ax, figsize=(6.5, 3.4))
    ax.hist(values, bins=bins, color=PALETTE[0], edgecolor="white")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    return ax
