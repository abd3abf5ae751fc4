"""Tables of groups of pupils with disclosure control applied, the dominance rules, and models' df."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .._errors import DataError, DisclosureError
from .._validation import as_frame, require_columns, require_finite, require_numeric
from ._context import DisclosureContext, _Cell, _resolve_context
from ._policy import DisclosurePolicy, get_default_policy
from ._protect import _through_context
from ._suppression import SuppressedTable, _mask_rows, _protect_block, suppress

__all__ = ["summarise_by", "count_by", "magnitude_by", "nk_rule", "p_ratio_rule", "check_model_df"]


def _plain(value):
    """A group value as JSON can hold it (numpy numbers to Python ones)."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def _key_where(keys: list, values: list) -> tuple | None:
    """Conditions that select a group: each key equal to its value (or missing)."""
    out: list[tuple] = []
    for k, v in zip(keys, values):
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT:
            out.append(("isna", str(k)))
        elif isinstance(_plain(v), (str, int, float, bool)):
            out.append(("eq", str(k), _plain(v)))
        else:
            return None  # a value a ledger cannot write (a date): the group is not recorded
    return tuple(out)


def _group_cells(
    ctx: DisclosureContext,
    data: pd.DataFrame,
    keys: list,
    out_keys: pd.DataFrame,
    parts: dict,
    threshold: int,
    shown_small: tuple = (),
    part_where: dict | None = None,
) -> tuple[list[_Cell], np.ndarray]:
    """Cells (sets of pupil ids) of a group table: ``parts`` maps a name to a row mask of ``data``.

    Every output row is one unit; ``parts`` splits each group into the
    published counts of that row (for example pupils with and without a
    value).  Parts named in ``shown_small`` are counts the table shows
    even when small (missing values): published, never protected.  Returns
    the cells and the ids of every row of ``data``.
    """
    ids = ctx.pupils_of(data)
    codes = data.groupby(keys, dropna=False, sort=True, observed=True).ngroup().to_numpy()
    # output rows follow the same sorted group order
    cells = []
    for unit in range(len(out_keys)):
        member = codes == unit
        label = ", ".join(f"{k}={v}" for k, v in zip(keys, out_keys.iloc[unit].tolist()))
        key_where = _key_where(keys, out_keys.iloc[unit].tolist())
        whole = ids[member]
        protected_sizes = []
        for name, part in parts.items():
            sel = ids[member & part]
            if name not in shown_small:
                protected_sizes.append(len(sel))
            extra = (part_where or {}).get(name, None)
            where = None if key_where is None or extra is None else key_where + tuple(extra)
            cells.append(
                _Cell(
                    sel,
                    len(sel),
                    unit,
                    False,
                    name not in shown_small and 0 < len(sel) < threshold,
                    f"{label} ({name})",
                    where,
                )
            )
        # the whole group is protected too, unless a protected part already is the whole group (a part
        # shown even when small, such as the missing values, does not protect a group made only of it)
        if 0 < len(whole) < threshold and len(whole) not in protected_sizes:
            cells.append(_Cell(whole, len(whole), unit, False, True, label, key_where))
    return cells, ids


def _outcome_by(data: pd.DataFrame, outcome: str, by, what: str):
    """The grouping columns and the numeric outcome of a table by group (checked: present, numeric, finite)."""
    keys = require_columns(data, by, role="grouping column")
    require_columns(data, outcome, role="outcome column")
    require_numeric(data, outcome)
    require_finite(data, outcome, what=what)
    return keys, pd.to_numeric(data[outcome], errors="coerce")


def summarise_by(
    data: pd.DataFrame,
    *,
    outcome: str,
    by: str | Sequence[str],
    policy: DisclosurePolicy | None = None,
    context: DisclosureContext | None = None,
) -> SuppressedTable:
    """Group summary (n, mean, SD) with disclosure control applied.

    Parameters
    ----------
    data : DataFrame
    outcome : str
        Numeric column summarised.
    by : str or list of str
        Grouping column(s).
    policy : DisclosurePolicy, optional
    context : DisclosureContext or False, optional
        The output's disclosure context (default: the active one, if any);
        the table is checked against the counts the output has already
        published.  ``False``: no context.

    Returns
    -------
    SuppressedTable
        Columns ``by..., n, n_missing, mean, sd``; ``n`` counts pupils with a
        value (pupils missing ``outcome`` are counted in ``n_missing``).

    Examples
    --------
    >>> d = pd.DataFrame({"g": ["a"] * 12 + ["b"] * 3 + ["c"] * 20, "y": range(35)})
    >>> summarise_by(d, outcome="y", by="g").display()["mean"].tolist()
    ['[c]', '[c]', '24.50']

    Group ``b`` has 3 pupils (primary suppression); with the overall total
    known, ``a`` and ``c`` would reveal it, so the smaller (``a``, 12 pupils)
    is suppressed too (secondary suppression).
    """
    data = as_frame(data)
    keys, y = _outcome_by(data, outcome, by, "summary by group")
    g = y.groupby([data[k] for k in keys], dropna=False, sort=True)
    out = pd.DataFrame({"n": g.count(), "n_missing": g.size() - g.count(), "mean": g.mean(), "sd": g.std()})
    out = out.reset_index()
    policy = policy or get_default_policy()
    st = suppress(out, count_col="n", labels=keys, policy=policy)
    ctx = _resolve_context(context, data, policy)
    if ctx is None or not policy.enabled:
        return st
    has = y.notna().to_numpy()
    cells, ids = _group_cells(
        ctx,
        data,
        keys,
        out[keys],
        {"with a value": has, "missing": ~has},
        policy.threshold,
        shown_small=("missing",),
        part_where={"with a value": (("notna", str(outcome)),), "missing": (("isna", str(outcome)),)},
    )
    value_cols = ["n", "n_missing", "mean", "sd"]
    # the table does not publish its total: the context links it only through its shown cells
    return _through_context(st, ctx, cells, None, value_cols, counts=out["n"].to_numpy())


def count_by(
    data: pd.DataFrame,
    *,
    by: str | Sequence[str],
    policy: DisclosurePolicy | None = None,
    context: DisclosureContext | None = None,
) -> SuppressedTable:
    """Number and percentage of pupils in each group, with disclosure control applied.

    Every row of ``data`` is counted once; a missing group value is a group
    of its own (shown as missing), so the counts always add up to the rows
    passed in.

    Parameters
    ----------
    data : DataFrame
    by : str or list of str
        Grouping column(s).
    policy : DisclosurePolicy, optional
    context : DisclosureContext or False, optional
        The output's disclosure context (default: the active one, if any).

    Returns
    -------
    SuppressedTable
        Columns ``by..., n, percent`` (percent of all rows).

    Examples
    --------
    >>> d = pd.DataFrame({"band": ["low"] * 4 + ["mid"] * 30 + ["high"] * 50})
    >>> count_by(d, by="band").display()["n"].tolist()
    ['50', '[c]', '[c]']
    """
    data = as_frame(data)
    keys = require_columns(data, by, role="grouping column")
    sizes = data.groupby(keys, dropna=False, sort=True, observed=True).size()
    out = sizes.rename("n").reset_index()
    total = int(out["n"].sum())
    out["percent"] = out["n"] / total * 100 if total else np.nan
    policy = policy or get_default_policy()
    st = suppress(out, count_col="n", labels=keys, policy=policy)
    ctx = _resolve_context(context, data, policy)
    if ctx is None or not policy.enabled:
        return st
    cells, ids = _group_cells(
        ctx, data, keys, out[keys], {"pupils": np.ones(len(data), bool)}, policy.threshold, part_where={"pupils": ()}
    )
    # percentages of all rows publish the table's total
    return _through_context(st, ctx, cells, ids, ["n", "percent"], counts=out["n"].to_numpy(), universe_where=())


def nk_rule(values, *, n: int | None = None, k: float | None = None, policy: DisclosurePolicy | None = None) -> bool:
    """The (n, k) dominance rule: ``True`` when a magnitude cell must be suppressed.

    A cell (a total of non-negative contributions, one per pupil, school or
    business) is sensitive when its ``n`` largest contributions make up at
    least a share ``k`` of the total: a reader who is one of the largest
    contributors learns too much about the others.

    Parameters
    ----------
    values : array-like
        The contributions to one cell (missing values are left out).
    n, k : optional
        Default: the policy's ``nk_n`` and ``nk_k`` (2 and 0.9).

    Raises
    ------
    DataError
        For negative contributions (dominance is undefined then).

    Notes
    -----
    Hundepool et al. (2012), section 4.2.2; Eurostat SDC handbook; ACRO's
    ``check_nk_dominance`` uses the same comparison (share >= k).

    Examples
    --------
    >>> nk_rule([100, 5, 3, 2])          # the two largest make up 95% of 110
    True
    >>> nk_rule([30, 25, 20, 15, 10])
    False
    """
    policy = policy or get_default_policy()
    n = policy.nk_n if n is None else n
    k = policy.nk_k if k is None else k
    x = _contributions(values)
    total = x.sum()
    if total <= 0:
        return False
    top = np.sort(x)[::-1][: int(n)].sum()
    return bool(top / total >= k)


def p_ratio_rule(values, *, p: float | None = None, policy: DisclosurePolicy | None = None) -> bool:
    """The p% rule: ``True`` when a magnitude cell must be suppressed.

    The second-largest contributor, knowing the total, can estimate the
    largest contribution by subtracting its own; the cell is sensitive when
    what remains besides the two largest, ``total - x1 - x2``, is less than
    ``p`` times the largest ``x1`` (so that estimate is within ``p`` of the
    truth).

    Notes
    -----
    Hundepool et al. (2012), section 4.2.2 (the p% rule); ACRO's
    ``check_ppercent_dominance`` uses ``(total - x1 - x2) / x1 < p``.

    Examples
    --------
    >>> p_ratio_rule([100, 40, 5])        # 5 < 0.1 * 100
    True
    >>> p_ratio_rule([100, 40, 30])
    False
    """
    policy = policy or get_default_policy()
    p = policy.p_ratio if p is None else p
    x = np.sort(_contributions(values))[::-1]
    if len(x) == 0 or x[0] <= 0:
        return False
    rest = x.sum() - x[:2].sum()
    return bool(rest / x[0] < p)


def _contributions(values) -> np.ndarray:
    x = pd.to_numeric(pd.Series(np.asarray(values).reshape(-1)), errors="coerce").dropna().to_numpy(float)
    if np.isinf(x).any():
        raise DataError("A magnitude cell holds infinite contributions.")
    if (x < 0).any():
        raise DataError(
            f"Dominance rules need contributions of 0 or more, but {x[x < 0][0]!r} was passed "
            "(dominance is undefined with negative values)."
        )
    return x


def magnitude_by(
    data: pd.DataFrame,
    *,
    outcome: str,
    by: str | Sequence[str],
    policy: DisclosurePolicy | None = None,
    context: DisclosureContext | None = None,
) -> SuppressedTable:
    """Totals of a quantity by group (a magnitude table), with threshold and dominance rules.

    A group's row is suppressed when it has fewer contributors than the
    threshold, or its total fails the (n, k) rule (:func:`nk_rule`) or the
    p% rule (:func:`p_ratio_rule`); then secondary suppression as for any
    group table (the grand total counts as known).

    Returns
    -------
    SuppressedTable
        Columns ``by..., n, total, mean``, plus ``rule``: why a row was
        suppressed (``"threshold"``, ``"nk"``, ``"p%"``, ``"secondary"`` or
        empty).

    Examples
    --------
    >>> d = pd.DataFrame({"school": ["A"] * 12 + ["B"] * 12,
    ...                   "minutes": [500] + [1] * 11 + [10] * 12})
    >>> magnitude_by(d, outcome="minutes", by="school", context=False).display()["rule"].tolist()
    ['nk', 'secondary']
    """
    data = as_frame(data)
    policy = policy or get_default_policy()
    keys, y = _outcome_by(data, outcome, by, "magnitude table")
    if (y < 0).any():
        bad = data.index[(y < 0).to_numpy()]
        raise DataError(
            f"magnitude_by: column {outcome!r} holds negative values (rows "
            f"{', '.join(map(str, bad[:5]))}); dominance rules need contributions of 0 or more."
        )
    g = y.groupby([data[k] for k in keys], dropna=False, sort=True)
    out = pd.DataFrame({"n": g.count(), "total": g.sum(), "mean": g.mean()}).reset_index()
    nk = np.array([nk_rule(v, policy=policy) for _, v in g], dtype=bool)
    pp = np.array([p_ratio_rule(v, policy=policy) for _, v in g], dtype=bool)
    small = out["n"].to_numpy() < policy.threshold
    rule = np.where(small, "threshold", np.where(nk, "nk", np.where(pp, "p%", "")))
    if not policy.enabled:
        out["rule"] = ""
        return suppress(out, count_col="n", labels=keys + ["rule"], policy=policy)
    primary = rule != ""
    rows = primary.copy()
    if policy.secondary:
        # the protection rule on the contributors' counts, the grand total known
        _protect_block(out["n"].to_numpy(dtype=float), rows, np.arange(len(out)), policy.threshold)
        if rows.sum() == 1 and len(rows) > 1:
            rows[int(np.argmin(np.where(rows, np.inf, out["total"].to_numpy(dtype=float))))] = True
    out["rule"] = np.where(primary, rule, np.where(rows, "secondary", ""))
    ints = tuple(c for c in out.columns if pd.api.types.is_integer_dtype(out[c]))
    st = _mask_rows(out, rows, ["n", "total", "mean"], policy, int(primary.sum()), ints, tuple(keys + ["rule"]))
    ctx = _resolve_context(context, data, policy)
    if ctx is None:
        return st
    has = y.notna().to_numpy()
    cells, ids = _group_cells(
        ctx,
        data,
        keys,
        out[keys],
        {"contributors": has},
        policy.threshold,
        part_where={"contributors": (("notna", str(outcome)),)},
    )
    st = _through_context(st, ctx, cells, None, ["n", "total", "mean"], counts=out["n"].to_numpy())
    rule = st.data["rule"].where(~(st.mask["n"] & (st.data["rule"] == "")), "secondary")
    return dataclasses.replace(st, data=st.data.assign(rule=rule))


def check_model_df(residual_df: float, *, minimum: int | None = None, policy: DisclosurePolicy | None = None) -> float:
    """Raise unless a model has at least ``minimum`` residual degrees of freedom.

    Output checkers (for example in ONS/SRS secure settings, and ACRO's
    ``safe_dof_threshold``) refuse models whose residual degrees of freedom
    are below 10, because such a model can nearly reproduce individual
    pupils' values.  ``minimum`` defaults to the policy's ``min_residual_df``.

    Examples
    --------
    >>> check_model_df(25)
    25.0
    """
    try:
        df = float(residual_df)
    except (TypeError, ValueError):
        raise DataError(f"check_model_df: residual_df must be a number, not {residual_df!r}.") from None
    if np.isnan(df):
        raise DataError("check_model_df: residual_df is missing (NaN).")
    policy = policy or get_default_policy()
    minimum = policy.min_residual_df if minimum is None else minimum
    if policy.enabled and df < minimum:
        raise DisclosureError(
            f"The model has {df:g} residual degrees of freedom; at least {minimum} are "
            "needed before its results can be released."
        )
    return df
