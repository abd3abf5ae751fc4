"""Figures for papers and notebooks, in one consistent style.

Each family of figures lives in its own module (``plots.items``,
``plots.effects``, ...); this package holds the shared style.  Figure
functions compute nothing that a statistics module does not already give them.

Every plot function of the library (here, in ``belonging_lib.schools.plots``
and every result's ``.plot()`` method) takes ``ax=None`` and returns the
matplotlib ``Axes`` it drew on: the one passed, or a new one on a new figure.
Axes rather than Figure, because

- a function that is handed an ``ax`` draws one panel of someone else's
  figure; returning that panel is the only answer that means the same thing
  whether or not ``ax`` was given (the figure may hold other panels);
- the chapters and users adjust what was drawn (titles, limits, labels,
  reference lines) on the Axes, and the figure is always one step away as
  ``ax.figure`` (to save it: ``ax.figure.savefig(...)``);
- it is what seaborn's axes-level functions and pandas' ``DataFrame.plot``
  return, so the library reads like the tools it sits beside.

A figure of two panels drawn by one call (``ModerationResult.plot("both")``)
returns its two Axes as a NumPy array, as ``plt.subplots`` does.
"""

from __future__ import annotations

from ._style import PALETTE, DIVERGING, use_style, new_axes
from . import survey_figures  # noqa: F401  (estimates_with_intervals)

__all__ = ["PALETTE", "DIVERGING", "use_style", "new_axes"]
from .gaps import gaps_plot  # noqa: E402,F401
from .timeline import measurement_timeline, school_means_plot  # noqa: F401  (chapter 05)
