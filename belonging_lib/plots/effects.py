"""Figures of effects: simple slopes and Johnson-Neyman plots, relative importance.

They draw a :class:`belonging_lib.models.moderation.ModerationResult`; every
number comes from the result (its coefficients and covariance), nothing is
re-estimated here.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from ._style import PALETTE, new_axes

__all__ = ["simple_slopes_plot", "johnson_neyman_plot", "dominance_plot"]


def simple_slopes_plot(result, *, ax=None, n_points: int = 50):
    """Predicted outcome against the predictor, one line per probed moderator value.

    Covariates are held at their means.  Returns the Axes.
    """
    ax = new_axes(ax)
    p = np.asarray(result.params)
    x_lo, x_hi = result.predictor_range
    binary_x = x_lo == 0.0 and x_hi == 1.0
    xs = np.array([0.0, 1.0]) if binary_x else np.linspace(x_lo, x_hi, n_points)
    cov_part = float(np.dot(p[4:], result.covariate_means)) if len(p) > 4 else 0.0
    for i, w in enumerate(result.simple_slopes["moderator_value"]):
        yhat = p[0] + p[1] * xs + p[2] * w + p[3] * xs * w + cov_part
        ax.plot(xs, yhat, marker="o" if binary_x else None, color=PALETTE[i % len(PALETTE)],
                label=f"{result.moderator} = {w:.2f}")
    ax.set_xlabel(result.predictor)
    ax.set_ylabel(f"predicted {result.outcome}")
    if binary_x:
        ax.set_xticks([0, 1])
    ax.set_title("Simple slopes")
    ax.legend(title=None)
    return ax


def johnson_neyman_plot(result, *, ax=None, n_points: int = 200):
    """Slope of the predictor (with its confidence band) across the moderator.

    The band uses the same alpha as the Johnson-Neyman interval; the moderator
    values where the slope is significant are shaded and the bounds marked.
    Returns the Axes.
    """
    from ..models.moderation import simple_slope

    ax = new_axes(ax)
    lo, hi = result.moderator_range
    pad = 0.05 * (hi - lo if hi > lo else 1.0)
    ws = np.linspace(lo - pad, hi + pad, n_points)
    V = result.vcov
    est, se = simple_slope(result.params[1], result.params[3], V[1, 1], V[3, 3], V[1, 3], ws)
    t = stats.t.ppf(1.0 - result.alpha_jn / 2.0, result.df_at(ws))
    low, high = est - t * se, est + t * se
    sig = (low > 0) | (high < 0)
    ax.plot(ws, est, color=PALETTE[0], label=f"slope of {result.predictor}")
    ax.fill_between(ws, low, high, color=PALETTE[0], alpha=0.2,
                    label=f"{100 * (1 - result.alpha_jn):g}% confidence band")
    ax.fill_between(ws, low, high, where=sig, color=PALETTE[2], alpha=0.35,
                    label="significant region")
    ax.axhline(0.0, color="black", linewidth=0.8)
    for b in result.jn_in_range:
        ax.axvline(b, color=PALETTE[5], linestyle="--", linewidth=1)
        ax.annotate(f"{b:.2f}", (b, ax.get_ylim()[1]), ha="center", va="bottom", fontsize=9)
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_xlabel(result.moderator)
    ax.set_ylabel(f"slope of {result.predictor} on {result.outcome}")
    ax.set_title("Johnson-Neyman plot")
    ax.legend(loc="best", fontsize=9)
    return ax


def dominance_plot(result, *, ax=None, labels=None):
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
    ax.set_xlabel(f"share of explained variance in {result.outcome} (R-squared = {result.rsquared:.2f})")
    ax.set_title("Relative importance (general dominance)")
    return ax
