"""Figures of factor models: standardized loadings, and group differences on latent variables.

They draw a :class:`belonging_lib.structure.CFAResult` (or the table of
:meth:`~belonging_lib.structure.CFAResult.latent_means`); every number comes
from the result, nothing is re-estimated here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib.patches import Patch

from .._errors import DataError
from ._style import PALETTE, new_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["loadings_plot", "latent_means_plot"]


def loadings_plot(result, *, group=None, ax=None, reference: float | None = 0.4) -> Axes:
    """Standardized loadings (lavaan's ``std.all``) as horizontal bars, one colour per factor.

    Parameters
    ----------
    result : CFAResult
    group : optional
        For a multi-group result, the group to draw (default: the first).
    ax : matplotlib Axes, optional
    reference : float or None
        Draw a dotted line at this loading (a common rule of thumb for a
        "salient" loading); ``None`` for no line.

    Returns
    -------
    matplotlib.axes.Axes
    """
    table = result.loadings
    if "group" in table.columns:
        group = result.groups[0] if group is None else group
        if group not in result.groups:
            raise DataError(f"The value for `group` must be one of {list(result.groups)}, but {group!r} was passed.")
        table = table[table["group"] == group]
    ax = new_axes(ax, figsize=(6.5, 0.28 * len(table) + 1.2))
    factors = list(dict.fromkeys(table["factor"]))
    colours = {f: PALETTE[i % len(PALETTE)] for i, f in enumerate(factors)}
    y = np.arange(len(table))[::-1]
    ax.barh(y, table["std_estimate"], color=[colours[f] for f in table["factor"]], height=0.7)
    ax.set_yticks(y, table["item"])
    ax.set_xlim(min(0.0, float(table["std_estimate"].min()) - 0.05), 1.0)
    if reference is not None:
        ax.axvline(reference, color="0.4", linestyle=":", linewidth=1)
    handles = [Patch(color=colours[f], label=f) for f in factors]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    ax.set_xlabel("standardized loading")
    ax.set_title("How strongly each question reflects its part" + (f" ({group})" if group is not None else ""))
    return ax


def latent_means_plot(table, *, ax=None, label: str = "difference from the reference group (SD)") -> Axes:
    """Standardized latent mean differences with their confidence intervals.

    Parameters
    ----------
    table : DataFrame
        From :meth:`CFAResult.latent_means` (columns ``factor``,
        ``std_difference``, ``std_ci_low``, ``std_ci_high``, ``group``).
    ax : matplotlib Axes, optional
    label : str
        x-axis label.

    Returns
    -------
    matplotlib.axes.Axes
    """
    frame = table.reset_index() if "factor" not in table.columns else table
    ax = new_axes(ax, figsize=(6.0, 0.45 * len(frame) + 1.2))
    y = np.arange(len(frame))[::-1]
    est = frame["std_difference"].to_numpy()
    lo, hi = frame["std_ci_low"].to_numpy(), frame["std_ci_high"].to_numpy()
    ax.errorbar(est, y, xerr=[est - lo, hi - est], fmt="o", color=PALETTE[0], capsize=3)
    ax.axvline(0, color="0.3", linewidth=1)
    ax.set_yticks(y, frame["factor"])
    ax.set_xlabel(label)
    groups = ", ".join(map(str, dict.fromkeys(frame["group"]))) if "group" in frame.columns else ""
    ax.set_title(f"Latent differences: {groups}" if groups else "Latent differences")
    return ax
