"""Figures for the belonging-and-attainment chapters: the order of measures and school means.

:func:`measurement_timeline` draws when each measure is taken (prior attainment, the autumn
survey, the end-of-year test) as boxes on a time line, so that a reader sees which measure can
influence which.  :func:`school_means_plot` draws each school's mean with its interval (95% by default) from
a disclosure-checked summary (``belonging_lib.disclosure.summarise_by(...).shown``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from .._errors import DataError
from ._style import PALETTE, new_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["measurement_timeline", "school_means_plot", "DEFAULT_STEPS"]

#: The design of the synthetic sample: (when, what) for each measure, earliest first.
DEFAULT_STEPS = (
    ("Before the survey", "Prior attainment\n(KS2 for Years 7-10;\nschool test for Years 5-6)"),
    ("Autumn term", "Belonging survey\n(PSSM and other scales)"),
    ("June, same year", "End-of-year test\n(attainment)"),
)


def measurement_timeline(steps: Sequence[tuple[str, str]] = DEFAULT_STEPS, *, ax=None,
                         title: str | None = "The order of measures") -> Axes:
    """Draw measures as boxes on a time line, earliest on the left, with arrows between them.

    Parameters
    ----------
    steps : sequence of (str, str)
        ``(when, what)`` for each measure, in time order (at least two).
    ax : matplotlib Axes, optional
    title : str or None

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> ax = measurement_timeline([("before", "prior test"), ("later", "final test")])
    >>> [t.get_text() for t in ax.texts if t.get_text() in ("before", "later")]
    ['before', 'later']
    """
    steps = list(steps)
    if len(steps) < 2 or any(len(s) != 2 for s in steps):
        raise DataError("steps must be at least two (when, what) pairs, earliest first.")
    ax = new_axes(ax, figsize=(7.5, 2.4))
    n = len(steps)
    xs = np.linspace(0.5 / n, 1 - 0.5 / n, n)
    width = 0.8 / n
    ax.annotate("", xy=(0.99, 0.12), xytext=(0.01, 0.12), xycoords="axes fraction",
                arrowprops=dict(arrowstyle="-|>", color="grey", lw=1.2))
    ax.text(0.99, 0.02, "time", ha="right", va="bottom", fontsize=9, color="grey",
            transform=ax.transAxes)
    for i, (x, (when, what)) in enumerate(zip(xs, steps)):
        ax.text(x, 0.90, when, ha="center", va="center", fontsize=10, fontweight="bold",
                transform=ax.transAxes)
        ax.text(x, 0.52, what, ha="center", va="center", fontsize=9, transform=ax.transAxes,
                bbox=dict(boxstyle="round,pad=0.5", fc="#F2F2F2",
                          ec=PALETTE[i % len(PALETTE)], lw=1.5))
        if i < n - 1:
            ax.annotate("", xy=(xs[i + 1] - width / 2 - 0.01, 0.52),
                        xytext=(x + width / 2 + 0.01, 0.52), xycoords="axes fraction",
                        arrowprops=dict(arrowstyle="-|>", color="black", lw=1.2))
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def school_means_plot(table: pd.DataFrame, *, reference: float | None = None, ax=None,
                      ylabel: str = "Average score", ci_level: float = 0.95,
                      title: str | None = None) -> Axes:
    """Each school's mean with its interval (t interval from ``mean``, ``sd`` and ``n``), sorted.

    Parameters
    ----------
    table : DataFrame
        One row per school with columns ``mean``, ``sd`` and ``n`` (the ``shown`` table of
        ``summarise_by``, so schools under the disclosure threshold are already left out).
    reference : float, optional
        Draws a dashed reference line at this value (for example the overall mean).
    ax : matplotlib Axes, optional
    ylabel, title : str
    ci_level : float
        Confidence level of the intervals.

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> t = pd.DataFrame({"mean": [50.0, 48.0], "sd": [10.0, 8.0], "n": [25, 16]})
    >>> ax = school_means_plot(t, reference=49.0)
    >>> [round(y, 1) for y in ax.lines[0].get_ydata()]
    [48.0, 50.0]
    """
    missing = [c for c in ("mean", "sd", "n") if c not in table.columns]
    if missing:
        raise DataError(f"table needs the columns mean, sd and n; missing: {missing}.")
    if not 0 < ci_level < 1:
        raise DataError(f"ci_level must lie between 0 and 1, got {ci_level!r}.")
    t = table.sort_values("mean").reset_index(drop=True)
    n = t["n"].to_numpy(dtype=float)
    if (n < 2).any():
        raise DataError("every school needs n >= 2 for an interval.")
    half = stats.t.ppf(0.5 + ci_level / 2, n - 1) * t["sd"].to_numpy(dtype=float) / np.sqrt(n)
    ax = new_axes(ax, figsize=(7, 3.6))
    ax.errorbar(np.arange(len(t)), t["mean"], yerr=half, fmt="o", ms=4, color=PALETTE[0],
                ecolor="#9ecae1")
    if reference is not None:
        ax.axhline(reference, color="grey", lw=1, ls="--")
    ax.set_xticks([])
    ax.set_xlabel("Schools, from lowest to highest average")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    return ax
