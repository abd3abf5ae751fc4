"""Figures of effects: simple slopes and Johnson-Neyman plots, relative importance.

They draw a :class:`belonging_lib.models.moderation.ModerationResult` from its own methods
(``predicted_lines()`` and ``jn_curve()``) and a dominance result from its table: nothing is
re-estimated or recomputed here, and this module imports no estimator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ._style import PALETTE, new_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["simple_slopes_plot", "johnson_neyman_plot", "dominance_plot"]


def simple_slopes_plot(result, *, ax=None, n_points: int = 50) -> Axes:
    """Predicted outcome against the predictor, one line per probed moderator value.

    Draws ``result.predicted_lines()`` (covariates held at their means).  Returns the Axes.
    """
    ax = new_axes(ax)
    lines = result.predicted_lines(n_points=n_points)
    binary_x = set(lines["predictor_value"]) <= {0.0, 1.0}
    for i, (w, line) in enumerate(lines.groupby("moderator_value", sort=False)):
        ax.plot(line["predictor_value"], line["predicted"], marker="o" if binary_x else None,
                color=PALETTE[i % len(PALETTE)], label=f"{result.moderator} = {w:.2f}")
    ax.set_xlabel(result.predictor)
    ax.set_ylabel(f"predicted {result.outcome}")
    if binary_x:
        ax.set_xticks([0, 1])
    ax.set_title("Simple slopes")
    ax.legend(title=None)
    return ax


def johnson_neyman_plot(result, *, ax=None, n_points: int = 200) -> Axes:
    """Slope of the predictor (with its confidence band) across the moderator.

    Draws ``result.jn_curve()``: the band uses the same alpha as the Johnson-Neyman interval; the
    moderator values where the slope is significant are shaded and the bounds marked.  Returns the
    Axes.
    """
    ax = new_axes(ax)
    curve = result.jn_curve(n_points=n_points)
    ws = curve["moderator_value"].to_numpy()
    low, high = curve["ci_low"].to_numpy(), curve["ci_high"].to_numpy()
    ax.plot(ws, curve["estimate"], color=PALETTE[0], label=f"slope of {result.predictor}")
    ax.fill_between(ws, low, high, color=PALETTE[0], alpha=0.2,
                    label=f"{100 * (1 - result.alpha_jn):g}% confidence band")
    ax.fill_between(ws, low, high, where=curve["significant"].to_numpy(), color=PALETTE[2], alpha=0.35,
                    label="significant region")
    ax.axhline(0.0, color="black", linewidth=0.8)
    for b in result.jn_in_range:
        ax.axvline(b, color=PALETTE[5], linestyle="--", linewidth=1)
        ax.annotate(f"{b:.2f}", (b, ax.get_ylim()[1]), ha="center", va="bottom", fontsize=9)
    ax.set_xlim(ws[0], ws[-1])
    ax.set_xlabel(result.moderator)
    ax.set_ylabel(f"slope of {result.predictor} on {result.outcome}")
    ax.set_title("Johnson-Neyman plot")
    ax.legend(loc="best", fontsize=9)
    return ax


def dominance_plot(result, *, ax=None, labels=None) -> Axes:
    """Horizontal bars of each predictor's share of R-squared (general dominance).

    With a bootstrap, the bars carry the share's interval.  ``labels`` maps
    column names to readable names.  Returns the Axes.
    """
    ax = new_axes(ax)
    tab = result.table.sort_values("share")
    names = [(labels or {}).get(i, i) for i in tab.index]
    err = None
    if "share_ci_low" in tab:
        err = np.vstack([tab["share"] - tab["share_ci_low"], tab["share_ci_high"] - tab["share"]])
    ax.barh(names, tab["share"], xerr=err, color=PALETTE[0], capsize=3)
    ax.set_xlabel(f"share of explained variance in {result.outcome} (R-squared = {result.r2:.2f})")
    ax.set_title("Relative importance (general dominance)")
    return ax
