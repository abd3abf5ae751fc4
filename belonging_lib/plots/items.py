"""Figures for questionnaire items: response distributions and item-total statistics.

- :func:`diverging_bars` — diverging stacked bars of each item's answers,
  centred on the neutral point (agreement scales);
- :func:`item_total_plot` — corrected item-total correlations with
  "alpha if dropped" from a :class:`~belonging_lib.reliability.ReliabilityResult`.

Examples
--------
>>> import pandas as pd
>>> from belonging_lib.plots.items import diverging_bars
>>> d = pd.DataFrame({"tr_care_1": [1, 4, 5, 4, 3], "tr_care_2": [2, 2, 4, 5, 5]})
>>> ax = diverging_bars(d, instrument="tr_care")
>>> ax.get_xlabel()
'Share of answers (%)'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .._errors import DataError
from .._validation import as_frame, require_columns, require_numeric
from ._style import DIVERGING, PALETTE, new_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["response_shares", "diverging_bars", "item_total_plot"]


def response_shares(data: pd.DataFrame, *, items: Sequence[str] | None = None,
                    response_range: tuple[int, int]) -> pd.DataFrame:
    """Share of answers in each response category, per item (missing answers left out).

    Parameters
    ----------
    data : DataFrame
        One row per pupil.
    items : list of str, optional
        The item columns; every column of ``data`` by default.
    response_range : (min, max)
        The response codes.

    Returns
    -------
    DataFrame
        Items x categories (``response_range[0]`` .. ``response_range[1]``), rows summing to 1.

    Examples
    --------
    >>> import pandas as pd
    >>> response_shares(pd.DataFrame({"a": [1, 2, 2, None]}), response_range=(1, 3)).loc["a"].tolist()
    [0.3333333333333333, 0.6666666666666666, 0.0]
    """
    data = as_frame(data)
    items = data[require_columns(data, list(items), role="item column")] if items is not None else data
    require_numeric(items, list(items.columns))
    cats = list(range(int(response_range[0]), int(response_range[1]) + 1))
    rows = {}
    for col in items.columns:
        v = pd.to_numeric(items[col], errors="coerce").dropna()
        if len(v) == 0:
            raise DataError(f"Item {col!r} has no answers to plot.")
        outside = v[~v.isin(cats)]
        if len(outside):
            raise DataError(f"Item {col!r} holds {float(outside.iloc[0]):g}, outside the response codes "
                            f"{cats[0]}-{cats[-1]} ({len(outside)} values).")
        rows[col] = [float((v == c).sum()) / len(v) for c in cats]
    return pd.DataFrame.from_dict(rows, orient="index", columns=cats)


def _colours(n: int) -> list:
    if n == len(DIVERGING):
        return list(DIVERGING)
    import seaborn as sns

    return sns.color_palette("RdBu", n)


def diverging_bars(data: pd.DataFrame, *, items: Sequence[str] | None = None, instrument=None,
                   response_range: tuple[int, int] | None = None,
                   labels: Sequence[str] | Mapping[int, str] | None = None,
                   item_labels: Mapping[str, str] | None = None, sort: bool = True,
                   ax=None, title: str | None = None) -> Axes:
    """Diverging stacked bars of item responses (Likert plot).

    Each item is a horizontal bar: answers below the neutral point extend
    to the left of zero, answers above it to the right, and a neutral
    middle category (odd number of categories) is split across zero.

    Parameters
    ----------
    data : DataFrame
        Response codes (as answered, before reverse keying), one row per pupil.
    items : list of str, optional
        The item columns; every column of ``data`` by default.
    instrument : str or Instrument, optional
        Takes ``response_range`` and ``labels`` from an instrument definition.
    response_range : (min, max)
        Response codes (needed without ``instrument``).
    labels : list or mapping, optional
        Legend text of each code ("Strongly disagree", ...).
    item_labels : mapping, optional
        Display name of each item.
    sort : bool
        Order items by the share on the positive side.
    ax : matplotlib Axes, optional
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    if instrument is not None:
        from ..instruments import load_instrument

        inst = load_instrument(instrument)
        response_range = response_range or inst.response_range
        if labels is None and inst.labels:
            labels = dict(inst.labels)
    if response_range is None:
        raise DataError("Pass `response_range=(min, max)` or `instrument=` so the response codes are known.")
    shares = response_shares(data, items=items, response_range=response_range) * 100
    cats = list(shares.columns)
    n = len(cats)
    mid = (n - 1) / 2
    left = shares[[c for i, c in enumerate(cats) if i < mid]].sum(axis=1)
    if n % 2:
        left = left + shares[cats[n // 2]] / 2
    right_side = shares[[c for i, c in enumerate(cats) if i > mid]].sum(axis=1)
    if sort:
        order = right_side.sort_values().index
        shares, left = shares.loc[order], left.loc[order]
    if isinstance(labels, Mapping):
        names = [str(labels.get(c, c)) for c in cats]
    elif labels is not None:
        names = list(labels)
    else:
        names = [str(c) for c in cats]
    colours = _colours(n)
    ax = new_axes(ax, figsize=(8, 0.45 * len(shares) + 1.6))
    ypos = np.arange(len(shares))
    start = -left.to_numpy()
    for i, c in enumerate(cats):
        width = shares[c].to_numpy()
        ax.barh(ypos, width, left=start, color=colours[i], label=names[i], edgecolor="white",
                linewidth=0.5, height=0.75)
        start = start + width
    ax.axvline(0, color="0.3", linewidth=0.8)
    disp = [item_labels.get(i, i) if item_labels else i for i in shares.index]
    ax.set_yticks(ypos, labels=disp)
    lim = max(100 - float(left.min()), float(left.max())) + 5
    ax.set_xlim(-lim, lim)
    ticks = ax.get_xticks()
    ax.set_xticks(ticks, labels=[f"{abs(t):.0f}" for t in ticks])
    ax.set_xlim(-lim, lim)
    ax.set_xlabel("Share of answers (%)")
    ax.legend(ncol=min(n, 5), loc="upper center", bbox_to_anchor=(0.5, -0.12 - 0.3 / max(len(shares), 1)),
              fontsize="small")
    ax.grid(axis="y", visible=False)
    if title:
        ax.set_title(title)
    return ax


def item_total_plot(result, *, threshold: float = 0.3, ax=None, title: str | None = None) -> Axes:
    """Corrected item-total correlation of each item, with alpha if the item is dropped.

    Parameters
    ----------
    result : ReliabilityResult
        From :func:`belonging_lib.reliability.reliability`.
    threshold : float
        Reference line for a weak item (.30 is a common rule of thumb).
    ax : matplotlib Axes, optional
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes

    Notes
    -----
    Points are the corrected item-total correlations (``r_drop``: each item
    with the sum of the others).  Items below ``threshold`` or whose removal
    would raise alpha are drawn in orange and labelled with the alpha the
    scale would have without them.
    """
    items = getattr(result, "items", None)
    if not isinstance(items, pd.DataFrame) or "r_drop" not in items:
        raise DataError("item_total_plot needs a ReliabilityResult (from reliability()).")
    table = items.iloc[::-1]
    ax = new_axes(ax, figsize=(6.5, 0.35 * len(table) + 1.4))
    ypos = np.arange(len(table))
    weak = (table["r_drop"] < threshold) | (table["alpha_if_dropped"] > result.alpha)
    colours = [PALETTE[1] if w else PALETTE[0] for w in weak]
    ax.hlines(ypos, 0, table["r_drop"], color="0.75", linewidth=1)
    ax.scatter(table["r_drop"], ypos, color=colours, zorder=3, s=36)
    for y, (_name, row), w in zip(ypos, table.iterrows(), weak, strict=True):
        if w:
            ax.annotate(f"alpha without: {row['alpha_if_dropped']:.2f}", (row["r_drop"], y),
                        xytext=(6, 0), textcoords="offset points", va="center", fontsize="small")
    ax.axvline(threshold, color=PALETTE[5], linestyle="--", linewidth=1)
    ax.set_yticks(ypos, labels=list(table.index))
    ax.set_xlim(min(0.0, float(table["r_drop"].min()) - 0.05), 1.0)
    ax.set_xlabel("Corrected item-total correlation (item with the rest of the scale)")
    ax.set_title(title or f"Item-total correlations (alpha = {result.alpha:.2f})")
    ax.grid(axis="y", visible=False)
    return ax
