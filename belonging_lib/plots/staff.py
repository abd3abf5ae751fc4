"""Figures for school-level comparisons (chapter 08): one point per school, with a fitted line."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import seaborn as sns

from .._errors import ColumnError
from ._style import new_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["school_scatter"]


def school_scatter(data: pd.DataFrame, *, x: str, y: str, hue: str | None = None, xlabel: str | None = None,
                   ylabel: str | None = None, title: str | None = None, ax=None) -> Axes:
    """Scatter of school means (``x`` against ``y``, coloured by ``hue``) with a least-squares line and
    its 95% confidence band; returns the Axes. ``data`` holds one row per school (already through the
    disclosure rule)."""
    missing = [c for c in (x, y, *([hue] if hue else [])) if c not in data.columns]
    if missing:
        raise ColumnError(f"school_scatter needs the column(s) {missing}")
    ax = new_axes(ax, figsize=(6, 4.2))
    sns.scatterplot(data=data, x=x, y=y, hue=hue, s=60, ax=ax)
    sns.regplot(data=data, x=x, y=y, scatter=False, color="grey", ax=ax)
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or y)
    if title:
        ax.set_title(title)
    return ax
