"""Figures for trial evaluation: the CONSORT flow diagram and a forest plot."""

from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ._style import PALETTE, new_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["consort", "forest"]


def _box(ax, x, y, text, *, width=0.40, height=0.13, colour="#F2F2F2"):
    ax.add_patch(plt.Rectangle((x - width / 2, y - height / 2), width, height, facecolor=colour,
                               edgecolor="#555555", linewidth=1.0))
    ax.text(x, y, text, ha="center", va="center", fontsize=8.5, wrap=True)


def _arrow(ax, x0, y0, x1, y1):
    ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                arrowprops=dict(arrowstyle="->", color="#555555", linewidth=1.0))


def consort(counts, *, ax=None, title="CONSORT flow diagram") -> Axes:
    """Draw the CONSORT flow diagram of a cluster-randomised trial.

    Parameters
    ----------
    counts : ConsortCounts
        From :func:`belonging_lib.trials.consort_counts`.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = new_axes(ax, figsize=(8.5, 7.5))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    t = counts.table.set_index("arm")
    arms = list(counts.arm_labels)
    total_s = int(t["schools_randomised"].sum())
    total_p = int(t["pupils_randomised"].sum())
    top = f"Randomised\n{total_s} schools, {total_p} pupils"
    if counts.assessed is not None:
        top = f"Assessed for eligibility: {counts.assessed} schools\n" + top
    if counts.excluded_before_randomisation is not None:
        top += f"\n(excluded before randomisation: {counts.excluded_before_randomisation})"
    _box(ax, 0.5, 0.90, top, width=0.5, height=0.12, colour="#E8F1F8")
    xs = (0.26, 0.74)
    for x, arm in zip(xs, arms):
        r = t.loc[arm]
        alloc = f"Allocated to {arm}\n{int(r.schools_randomised)} schools, {int(r.pupils_randomised)} pupils"
        if "schools_delivered" in t.columns and arm == arms[0]:
            alloc += (f"\nDelivered as intended: {int(r.schools_delivered)} schools"
                      f"\n({int(r.pupils_in_delivering_schools)} pupils)")
        _box(ax, x, 0.66, alloc, colour="#FFF4E0" if arm == arms[0] else "#EEEEEE", height=0.17)
        _box(ax, x, 0.40, f"Follow-up\nLost (no outcome): {int(r.pupils_lost)} pupils"
                          f"\nSchools with no analysed pupil: {int(r.schools_lost)}", height=0.15)
        _box(ax, x, 0.15, f"Analysed\n{int(r.schools_analysed)} schools, {int(r.pupils_analysed)} pupils",
             colour="#E6F4EE", height=0.13)
        _arrow(ax, 0.5, 0.84, x, 0.745)
        _arrow(ax, x, 0.575, x, 0.475)
        _arrow(ax, x, 0.325, x, 0.215)
    for y, label in ((0.66, "Allocation"), (0.40, "Follow-up"), (0.15, "Analysis")):
        ax.text(0.005, y, label, rotation=90, va="center", ha="left", fontsize=9, fontweight="bold",
                color=PALETTE[0])
    ax.set_title(title)
    return ax


def forest(table: pd.DataFrame, *, ax=None, label="term", null=0.0, xlabel="Effect size (g)",
           title=None) -> Axes:
    """Forest plot of effects with CIs (one row per subgroup or analysis).

    Parameters
    ----------
    table : DataFrame
        Columns ``estimate``, ``ci_low``, ``ci_high`` and a label column.
    """
    ax = new_axes(ax, figsize=(6.5, 0.6 * len(table) + 1.4))
    y = np.arange(len(table))[::-1]
    ax.errorbar(table["estimate"], y, xerr=[table["estimate"] - table["ci_low"],
                                             table["ci_high"] - table["estimate"]],
                fmt="o", color=PALETTE[0], ecolor=PALETTE[0], capsize=3)
    ax.axvline(null, color="#777777", linestyle="--", linewidth=1)
    ax.set_yticks(y)
    ax.set_yticklabels(table[label])
    ax.set_xlabel(xlabel)
    ax.grid(axis="y", visible=False)
    if title:
        ax.set_title(title)
    return ax
