"""Figures for panels across a transition (chapter 07): group means wave by wave.

``wave_means_plot`` draws the rows of a disclosure-controlled table of means (``disclosure.summarise_by``
by wave and group, columns ``mean, sd, n``), so a group under the threshold is never drawn. Each point
carries a t-based interval for the mean of independent pupils (mean +/- t * sd / sqrt(n)).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from .._errors import ColumnError
from ._style import PALETTE, new_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["wave_means_plot"]


def wave_means_plot(table, *, wave: str = "wave", by: str | None = None, wave_labels: Sequence[str] | None = None,
                    group_labels: Mapping | None = None, ylabel: str = "Mean", title: str | None = None,
                    ci_level: float = 0.95, ax=None) -> Axes:
    """Mean per wave (one line per ``by`` group) with its interval; returns the Axes.

    ``table`` is a ``SuppressedTable`` (its shown rows are drawn) or a DataFrame with the columns
    ``wave, [by], mean, sd, n``.
    """
    frame = table.shown if hasattr(table, "shown") else pd.DataFrame(table)
    needed = [wave, "mean", "sd", "n"] + ([by] if by else [])
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ColumnError(f"wave_means_plot needs the column(s) {missing} in the table")
    ax = new_axes(ax, figsize=(6.5, 4))
    waves = sorted(frame[wave].unique())
    groups = [(None, frame)] if by is None else list(frame.groupby(by, sort=True))
    offsets = np.linspace(-0.06, 0.06, len(groups)) if len(groups) > 1 else [0.0]
    for (key, part), offset, colour in zip(groups, offsets, PALETTE):
        part = part.set_index(wave).reindex(waves)
        n = part["n"].astype(float)
        half = stats.t.ppf(0.5 + ci_level / 2, np.maximum(n - 1, 1)) * part["sd"] / np.sqrt(n)
        x = np.arange(len(waves)) + offset
        name = None if key is None else (group_labels or {}).get(key, str(key))
        ax.errorbar(x, part["mean"], yerr=half, marker="o", capsize=3, color=colour, label=name)
    ax.set_xticks(np.arange(len(waves)), list(wave_labels) if wave_labels else [str(w) for w in waves])
    ax.set_ylabel(ylabel)
    if by is not None:
        ax.legend(title=by)
    if title:
        ax.set_title(title)
    return ax
