"""Figures for papers and notebooks, in one consistent style.

Each family of figures lives in its own module (``plots.items``,
``plots.effects``, ...); this package holds the shared style.  Figure
functions take ``ax=None`` and return the matplotlib ``Axes`` they drew on;
they compute nothing that a statistics module does not already give them.
"""

from __future__ import annotations

from ._style import PALETTE, DIVERGING, use_style, new_axes
from . import survey_figures  # noqa: F401  (estimates_with_intervals)

__all__ = ["PALETTE", "DIVERGING", "use_style", "new_axes"]
from .gaps import gaps_plot  # noqa: E402,F401
from .timeline import measurement_timeline, school_means_plot  # noqa: F401  (chapter 05)
