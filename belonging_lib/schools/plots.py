"""Figures of the tools for schools (the chapters call these; a plotting cell stays a few lines).

Each function takes a table computed elsewhere, draws it in the collection's style on ``ax`` (or on a
new figure sized for the table) and returns the matplotlib Axes it drew on, as every plot function of
:mod:`belonging_lib.plots` does (``ax.figure`` is the figure to save); nothing is computed here that a
statistics function does not already give.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["part_profile", "audit_profile", "flag_scores"]


def part_profile(summary: pd.DataFrame, *, school: bool = False,
                 response_range: tuple[float, float] = (1, 5), ax=None) -> Axes:
    """Class mean of each part with its interval (and the school's mean as a marker).

    ``summary`` is the parts table of a class report (``ClassReport.parts`` or ``to_frame()``: the
    table of :func:`belonging_lib.schools.class_report.part_summary` with ``label``, and
    ``school_estimate`` when ``school``); ``response_range`` is the answer scale's
    ``(lowest, highest)`` code. Returns the Axes drawn on.
    """
    from ..plots import PALETTE, new_axes

    lo, hi = response_range
    level = float(summary["ci_level"].iloc[0]) if "ci_level" in summary and len(summary) else 0.95
    own = ax is None
    ax = new_axes(ax, figsize=(6.4, 0.5 * len(summary) + 1.0))
    y = np.arange(len(summary))[::-1]
    ax.errorbar(summary["estimate"], y, xerr=[summary["estimate"] - summary["ci_low"],
                                              summary["ci_high"] - summary["estimate"]],
                fmt="o", color=PALETTE[0], capsize=3, label=f"Class ({level:.0%} interval)")
    if school and "school_estimate" in summary:
        ax.plot(summary["school_estimate"], y, "D", color=PALETTE[1], label="School mean")
    ax.set_yticks(y, summary["label"])
    ax.set_xlim(lo, hi)
    ax.set_xlabel(f"Mean score ({lo:g}-{hi:g}; higher is better)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, fontsize=8, frameon=False)
    if own:
        ax.figure.tight_layout()
    return ax


def audit_profile(profile: pd.DataFrame, *, ax=None) -> Axes:
    """Mean staff rating of each audit area (1 = not yet ... 4 = embedded) with the raters' range.

    The range is drawn only for areas rated by at least three raters: with two, its ends would be each
    person's own mean.

    ``profile`` is :attr:`belonging_lib.schools.audit.AuditResult.areas`. Returns the Axes drawn on.
    """
    from ..plots import PALETTE, new_axes
    from ._framework import LEVELS, MIN_RATERS_FOR_RANGE

    own = ax is None
    ax = new_axes(ax, figsize=(8.0, 0.42 * len(profile) + 1.4))
    y = np.arange(len(profile))[::-1]
    # the range only where enough raters rated the area: with two, its ends are each person's mean
    wide = (profile["n_raters"] >= MIN_RATERS_FOR_RANGE).to_numpy() if "n_raters" in profile else np.ones(len(y), bool)
    if wide.any():
        ax.hlines(y[wide], profile["rater_min"][wide], profile["rater_max"][wide], color="#999999", lw=3,
                  label="Range of raters' area means")
    ax.plot(profile["mean_rating"], y, "o", color=PALETTE[0], label="Mean of all raters")
    ax.set_yticks(y, profile["area_label"])
    ax.set_xlim(0.8, 4.2)
    ax.set_xticks(range(1, 5), [lab for _, lab in LEVELS], fontsize=8)
    ax.axvline(2.5, color="#bbbbbb", ls=":", lw=1)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, fontsize=8, frameon=False)
    if own:
        ax.figure.tight_layout()
    return ax


def flag_scores(flags: pd.DataFrame, *, cutoff: float, outcome: str = "total",
                response_range: tuple[float, float] = (1, 5), ci_level: float = 0.95, ax=None) -> Axes:
    """Each pupil's score with its measurement-error interval against the cut-off (no pupil labels).

    ``flags`` is :attr:`belonging_lib.schools.support_plan.FlagResult.flags`; ``outcome`` the score
    drawn (its ``<outcome>_sem`` column gives the band); ``response_range`` the answer scale's
    ``(lowest, highest)`` code; ``ci_level`` the band's level (use the one the flags were made with).
    Returns the Axes drawn on.
    """
    from scipy import stats

    from ..plots import PALETTE, new_axes

    d = flags.sort_values(outcome).reset_index(drop=True)
    own = ax is None
    ax = new_axes(ax, figsize=(6.4, 3.2))
    x = np.arange(len(d))
    sem = d[f"{outcome}_sem"].to_numpy() * float(stats.norm.ppf(0.5 + ci_level / 2))
    below = d[outcome] < cutoff
    ax.errorbar(x[~below], d[outcome][~below], yerr=sem[~below], fmt=".", color="#888888", alpha=.6, lw=.8)
    ax.errorbar(x[below], d[outcome][below], yerr=sem[below], fmt="o", color=PALETTE[1], ms=4, lw=.8,
                label="Below the cut-off")
    ax.axhline(cutoff, color="black", ls="--", lw=1, label=f"Cut-off {cutoff:g}")
    ax.set_ylim(response_range[0] - 0.3, response_range[1] + 0.3)
    ax.set_xticks([])
    ax.set_xlabel("Pupils, ordered by score (no names)")
    ax.set_ylabel(f"Score with {ci_level:.0%} band of measurement error")
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    if own:
        ax.figure.tight_layout()
    return ax
