"""The collection's figure style (colour-blind-safe palette, readable fonts)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import seaborn as sns

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["PALETTE", "DIVERGING", "use_style", "new_axes"]

#: Okabe-Ito colours: safe for the common forms of colour blindness.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
#: Diverging colours for agreement scales, from "strongly disagree" to "strongly agree".
DIVERGING = ["#B2182B", "#EF8A62", "#D9D9D9", "#67A9CF", "#2166AC"]


def use_style(*, dpi: int = 110) -> None:
    """Set seaborn's whitegrid theme with the collection's palette."""
    sns.set_theme(style="whitegrid", context="notebook", palette=PALETTE)
    plt.rcParams.update({
        "figure.dpi": dpi,
        "savefig.dpi": 200,
        "figure.figsize": (7.0, 4.2),
        "axes.titlesize": 12,
        "axes.titleweight": "bold",
        "axes.spines.top": False,
        "axes.spines.right": False,
        "legend.frameon": False,
    })


def new_axes(ax=None, *, figsize=None) -> Axes:
    """Return ``ax`` or a new Axes on a new figure."""
    if ax is not None:
        return ax
    _fig, ax = plt.subplots(figsize=figsize)
    return ax


def figure_of(ax: Axes) -> Figure:
    """The figure an Axes is drawn on (the top-level one, to save or close)."""
    fig = ax.get_figure(root=True)
    if fig is None:
        raise ValueError("This Axes is not on a figure.")
    return fig
