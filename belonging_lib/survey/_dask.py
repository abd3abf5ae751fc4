"""Survey means and regressions from a Dask DataFrame: weighted sums per partition (private).

A weighted mean and a weighted least-squares fit need only sums over pupils: for every weight column
(the final weight and each replicate weight) the sums ``W'C`` of products of the analysis columns
(:func:`belonging_lib.survey.design._wls_sums`).  Sums over parts of the rows add up to the sums
over all of them, so each worker computes them for the partitions it holds, group by group, a Dask
reduction adds them, and the client solves and pools them with the in-memory design's own code
(``_wls_solve``, ``SurveyDesign._pool``: replicate variance and Rubin's rules).

What the sums need from the whole data is found by Dask first, in one pass: the rows and the pupils
each step leaves out (for the ledger, counted as in memory), the groups of ``by``, each group's
levels of every categorical variable (so that patsy's design in a group is the one the in-memory
design builds from the same rows) and each group's means of the numeric variables (the columns are
centred near their means before the products are summed, for accuracy; the solution does not
depend on the centre).  Results equal the in-memory design's to rounding (``tests/test_survey_dask.py``).

Only :meth:`SurveyDesign.mean` and :meth:`SurveyDesign.regress` run here; the methods that need every
pupil's values together (percentiles, percentages, correlations, differences, multilevel models)
refuse a Dask design.  Scheduling and partitioning are Dask's.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from .._errors import DataError, ModelError
from .._optional import require_extra
from .._results import RowLedger
from .._validation import as_list, require_columns
from ..models._formula import design_matrices, design_matrix, parse_formula, rebuild
from ._weighted import (
    _check_statistic,
    _check_total_weight,
    _empty_pv_error,
    _pv_groups,
    _replicate_columns,
    _replicate_weight_error,
    _wls_solve,
    _wls_sums,
)

__all__ = ["DaskSource", "check_design", "mean_estimates", "regress_estimates"]


@dataclasses.dataclass(frozen=True)
class DaskSource:
    """What a design of a Dask DataFrame knows without holding its rows."""

    weight: str
    replicates: list
    pv: dict
    n_rows: int


def _numeric_dtype(meta: pd.DataFrame, cols) -> None:
    for c in cols:
        dtype = meta[c].dtype
        if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)):
            raise DataError(
                f"Column {c!r} must be numeric, but its column in the Dask DataFrame is of type {dtype}; "
                "convert it first (for example ddf[col] = dd.to_numeric(ddf[col]))."
            )


def _merge_all(items) -> dict:
    """Dictionaries of partial results merged: numbers and arrays added, sets joined."""
    out: dict = {}
    for d in items:
        for k, v in d.items():
            if k not in out:
                out[k] = set(v) if isinstance(v, set) else v
            elif isinstance(v, set):
                out[k] |= v
            else:
                out[k] = out[k] + v
    return out


def _reduce(ddf, fn, *args, merge=_merge_all) -> dict:
    """``fn`` on every partition (on the workers), its dictionaries merged ``merge``-wise, eight at a time.

    A graph of Dask's delayed calls: the active ``distributed`` client runs it, else Dask's default
    scheduler for delayed calls (threads)."""
    import dask

    parts = [dask.delayed(fn)(part, *args) for part in ddf.to_delayed()]
    while len(parts) > 1:
        parts = [dask.delayed(merge)(parts[i : i + 8]) for i in range(0, len(parts), 8)]
    return parts[0].compute()


# ---------------------------------------------------------------------------------- the weights


def _weight_scan(part: pd.DataFrame, cols: list, pv_cols: list) -> dict:
    """A partition's weight checks and plausible values present (run on a worker)."""
    w = part[cols].to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(w) | (w < 0)
    out = {"n": len(part), "bad": int(bad.sum()), "first_bad": None, "pv": part[pv_cols].notna().sum().to_dict()}
    if out["bad"]:
        rows, cidx = np.nonzero(bad)
        col = cols[cidx[0]]
        out["first_bad"] = (col, part[col].iloc[rows[0]], part.index[rows[0]])
        return out
    full, reps = w[:, 0], w[:, 1:]
    out["positive"] = bool((full > 0).any())
    out["equal"] = bool(np.allclose(reps, full[:, None], rtol=1e-12, atol=0))
    zero = (full == 0) & (reps > 0).any(axis=1)
    out["zero"] = np.flatnonzero(zero).tolist()
    if out["zero"]:
        j = int(np.flatnonzero(reps[out["zero"][0]] > 0)[0])
        out["example"] = (j, reps[out["zero"][0], j])
    return out


def check_design(ddf, *, weight, replicates, pv) -> DaskSource:
    """The design's columns, and its weights checked on the workers as the in-memory design checks them."""
    require_extra("dask")
    import dask

    meta = ddf._meta
    weight = require_columns(meta, weight, role="weight column")[0]
    reps = _replicate_columns(meta, replicates)
    cols = [weight] + reps
    _numeric_dtype(meta, cols)
    groups = _pv_groups(meta, pv)
    pv_cols = [c for cs in groups.values() for c in cs]
    parts = dask.compute(*[dask.delayed(_weight_scan)(p, cols, pv_cols) for p in ddf.to_delayed()])
    n_rows = sum(p["n"] for p in parts)
    if n_rows == 0:
        raise DataError("`data` has no rows.")
    n_bad = sum(p["bad"] for p in parts)
    if n_bad:
        col, value, label = next(p["first_bad"] for p in parts if p["first_bad"] is not None)
        raise DataError(
            f"Weights must be present and non-negative, but column {col!r} holds {value!r} at row {label!r} "
            f"({n_bad} bad weight values in all)."
        )
    offsets = np.cumsum([0] + [p["n"] for p in parts])
    zero = [int(off + r) for p, off in zip(parts, offsets) for r in p["zero"]]
    example = next((p["example"] for p in parts if p["zero"]), None)
    error = _replicate_weight_error(
        cols,
        any(p["positive"] for p in parts),
        bool(reps) and all(p["equal"] for p in parts),
        len(zero),
        zero,
        example,
    )
    if error is not None:
        raise error
    present = {c: sum(int(p["pv"][c]) for p in parts) for c in pv_cols}
    for name, pcols in groups.items():
        empty = [c for c in pcols if present[c] == 0]
        if empty:
            raise _empty_pv_error(name, empty)
    return DaskSource(weight, reps, groups, int(n_rows))


# ---------------------------------------------------------------------------------- the rows


@dataclasses.dataclass(frozen=True, eq=False)
class _Counts:
    """The rows of one analysis of a Dask design, as counts (``SurveyDesign._select``'s selection)."""

    names: list
    n_pv: int
    by: list
    keys: list  # one tuple of ``by`` values per group, sorted
    n_used: list
    n_excl: list
    n_without_group: int
    universe: np.ndarray  # no pupil positions: empty
    ledger: RowLedger
    centre: dict  # group -> column -> mean over the group's used pupils
    levels: dict  # group -> column -> set of values among the group's used pupils

    def used(self, k: int) -> range:
        return range(self.n_used[k])

    def excluded(self, k: int) -> range:
        return range(self.n_excl[k])


def _key(key) -> tuple:
    return key if isinstance(key, tuple) else (key,)


def _rows(part: pd.DataFrame, by_cols: list, var_cols: list):
    """A partition's pupils with every ``by`` value, whether each misses an analysis value, and
    their groups (key -> positions in ``part``)."""
    inside = ~part[by_cols].isna().any(axis=1).to_numpy() if by_cols else np.ones(len(part), dtype=bool)
    missing = part[var_cols].isna().any(axis=1).to_numpy()
    if by_cols:
        pos = np.flatnonzero(inside)
        groups = {
            _key(k): pos[np.asarray(ix)]
            for k, ix in part.iloc[pos].groupby(by_cols, sort=False, observed=True).indices.items()
        }
    else:
        groups = {(): np.arange(len(part))}
    return inside, missing, groups


def _scan(part: pd.DataFrame, by_cols: list, var_cols: list, centre_cols: list, cat_cols: list) -> dict:
    """A partition's counts by group, sums of the numeric columns and levels (run on a worker)."""
    inside, missing, groups = _rows(part, by_cols, var_cols)
    out: dict = {("rows",): len(part), ("nogroup",): int((~inside).sum())}
    values = part[centre_cols].to_numpy(dtype=float, na_value=np.nan)
    for key, ix in groups.items():
        miss = missing[ix]
        used = ix[~miss]
        out[("g", key)] = np.concatenate([[len(ix), miss.sum()], values[used].sum(axis=0)])
        for col in cat_cols:
            out[("lv", key, col)] = set(part[col].to_numpy()[used].tolist())
    return out


def _select(design, variables: list, by, var_cols: list, centre_cols: list, cat_cols: list) -> _Counts:
    """The groups and every pupil left out, counted by Dask as ``SurveyDesign._select`` counts them."""
    meta = design.data._meta
    by_cols = require_columns(meta, as_list(by), role="group column")
    cols = list(dict.fromkeys(by_cols + var_cols))
    found = _reduce(design.data[cols], _scan, by_cols, var_cols, centre_cols, cat_cols)
    n_rows, n_without = int(found[("rows",)]), int(found[("nogroup",)])
    stats = {k[1]: v for k, v in found.items() if k[0] == "g"}
    if by_cols:
        order = pd.DataFrame(list(stats), columns=by_cols).sort_values(by_cols)
        keys = [tuple(k) for k in order.itertuples(index=False)]
    else:
        keys = [()]
        stats.setdefault((), np.zeros(2 + len(centre_cols)))
    n_member = [int(stats[k][0]) for k in keys]
    n_excl = [int(stats[k][1]) for k in keys]
    n_used = [a - b for a, b in zip(n_member, n_excl)]
    centre = {k: dict(zip(centre_cols, stats[k][2:] / n_used[i])) if n_used[i] else {} for i, k in enumerate(keys)}
    levels = {k: {c: found.get(("lv", k, c), set()) for c in cat_cols} for k in keys}
    ledger = RowLedger("pupils", start=n_rows, source="the survey design")
    if by_cols:
        ledger.record(
            "breakdown value present", n_out=n_rows - n_without, reason=f"missing {', '.join(map(str, by_cols))}"
        )
    ledger.record("analysis values present", n_out=sum(n_used), reason=f"missing {', '.join(variables)}")
    return _Counts(
        list(variables),
        design._n_pv_of(variables),
        by_cols,
        keys,
        n_used,
        n_excl,
        n_without if by_cols else 0,
        np.zeros(0, dtype=int),
        ledger,
        centre,
        levels,
    )


def _where(sel: _Counts, key) -> str:
    return f"group {key!r}" if sel.by else "the data"


# ---------------------------------------------------------------------------------- the mean


def _mean_sums(part: pd.DataFrame, by_cols, var_cols, weight_cols, ids) -> dict:
    """A partition's sums W'[Y, 1] by group (run on a worker)."""
    _, missing, groups = _rows(part, by_cols, var_cols)
    out = {}
    for key, ix in groups.items():
        used = ix[~missing[ix]]
        if len(used) == 0:
            continue
        W = part[weight_cols].to_numpy(dtype=float)[used]
        Y = part[var_cols].to_numpy(dtype=float, na_value=np.nan)[used]
        out[ids[key]] = W.T @ np.column_stack([Y, np.ones(len(used))])
    return out


def mean_estimates(design, outcome: str, by):
    """The selection and each group's weighted means, (R+1, M, 1), for :meth:`SurveyDesign.mean`."""
    cols = design._columns_of(outcome)
    _numeric_dtype(design.data._meta, cols)
    sel = _select(design, [outcome], by, cols, [], [])
    ids = {k: i for i, k in enumerate(sel.keys)}
    sums = _reduce(
        design.data[list(dict.fromkeys(sel.by + cols + _weights(design)))],
        _mean_sums,
        sel.by,
        cols,
        _weights(design),
        ids,
    )
    thetas: list[np.ndarray | None] = []
    for i, key in enumerate(sel.keys):
        if i not in sums:
            thetas.append(None)
            continue
        S = sums[i]
        _check_total_weight(S[:, -1], _where(sel, key), sel.n_used[i], _weights(design))
        with np.errstate(divide="ignore", invalid="ignore"):
            theta = (S[:, :-1] / S[:, -1:])[:, :, None]
        _check_statistic(theta, sel.names, _where(sel, key), sel.n_used[i], _weights(design))
        thetas.append(theta)
    if all(t is None for t in thetas):
        raise DataError(f"No pupil has complete values for {sel.names}.")
    return sel, thetas


def _weights(design) -> list:
    return [design.weight] + list(design.replicates)


# ---------------------------------------------------------------------------------- the regression


@dataclasses.dataclass(frozen=True)
class _Plan:
    """What a worker needs to build a group's design: its text and a small frame of the group's levels
    (patsy's designs cannot be pickled), and the centre of its columns."""

    template: pd.DataFrame
    shifts: list
    ybar: np.ndarray
    ones: np.ndarray


def _template(sel: _Counts, key, used: list, pv: dict, cat_cols: list) -> pd.DataFrame:
    """A small frame holding the group's levels of each categorical variable (numbers elsewhere), so
    that patsy builds the group's design (its columns and their order) as from the group's rows."""
    levels = {c: list(sel.levels[key][c]) for c in cat_cols}
    n = max([2] + [len(v) for v in levels.values()])
    out = {}
    for v in used:
        if v in levels:
            vals = np.asarray(levels[v])
            if vals.dtype.kind in "USO":
                vals = np.asarray(levels[v], dtype=object)
            out[v] = np.resize(vals, n)
        else:
            out[v] = np.linspace(1.0, 2.0, n)
    return pd.DataFrame(out)


def _centre_frame(sel: _Counts, key, used: list, pv: dict, cat_cols: list, m: int) -> pd.DataFrame:
    """One row near the middle of the group: each numeric variable's mean, a level of each categorical one."""
    row = {}
    for v in used:
        if v in cat_cols:
            row[v] = np.asarray([next(iter(sel.levels[key][v]))], dtype=object)
        else:
            col = pv[v][m % len(pv[v])] if v in pv else v
            row[v] = np.asarray([sel.centre[key][col]])
    return pd.DataFrame(row)


def _designs(formula, desc, rhs_desc, template: pd.DataFrame, shared: bool):
    """patsy's design infos of a group (from its template): [x] when the outcome is a column as it
    stands, else [y, x]."""
    if shared:
        return [design_matrix(rhs_desc, template, NA_action="raise", return_type="matrix").design_info]
    y, x = design_matrices(desc, template, NA_action="raise", return_type="matrix")
    if y.shape[1] != 1:
        raise DataError(
            f"The outcome of {formula!r} must be one numeric column, but it gives {y.shape[1]} "
            f"({', '.join(y.design_info.column_names)})."
        )
    return [y.design_info, x.design_info]


def _frame_for(part: pd.DataFrame, rows: np.ndarray, used: list, pv: dict, m: int) -> pd.DataFrame:
    return pd.DataFrame({v: part[pv[v][m % len(pv[v])] if v in pv else v].to_numpy()[rows] for v in used})


def _matrices(formula, infos, frame_of, n_pv: int, outcome_values, shared: bool):
    """The design matrices and the outcome, (n, M), of a group's rows, as the in-memory regression builds them."""
    if shared:
        X = rebuild(infos, frame_of(0), formula=formula, NA_action="raise")[0]
        return [np.asarray(X, dtype=float)], outcome_values()
    Xs, ys = [], []
    for m in range(n_pv):
        y, X = rebuild(infos, frame_of(m), formula=formula, NA_action="raise")
        Xs.append(np.asarray(X, dtype=float))
        ys.append(np.asarray(y, dtype=float)[:, 0])
    return Xs, np.column_stack(ys)


def _read(formula: str):
    """The formula's ModelDesc and that of its right-hand side (patsy's objects cannot be pickled, so
    each worker reads the text again)."""
    import patsy

    desc = parse_formula(formula)
    return desc, patsy.ModelDesc([], desc.rhs_termlist)


def _regress_sums(
    part, by_cols, var_cols, weight_cols, ids, plans, formula, used, pv, n_pv, outcome_cols, shared
) -> dict:
    """A partition's sums W'C by group and its count of ones per design column (run on a worker)."""
    desc, rhs_desc = _read(formula)
    _, missing, groups = _rows(part, by_cols, var_cols)
    out = {}
    for key, ix in groups.items():
        rows = ix[~missing[ix]]
        if len(rows) == 0:
            continue
        plan = plans[ids[key]]
        infos = _designs(formula, desc, rhs_desc, plan.template, shared)

        def outcome_values(rows=rows):
            Y = part[outcome_cols].to_numpy(dtype=float, na_value=np.nan)[rows]
            return np.broadcast_to(Y, (len(rows), n_pv)) if Y.shape[1] == 1 else Y

        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            Xs, Y = _matrices(
                formula, infos, lambda m, rows=rows: _frame_for(part, rows, used, pv, m), n_pv, outcome_values, shared
            )
            W = part[weight_cols].to_numpy(dtype=float)[rows]
            S = _wls_sums(W, Xs, Y, plan.shifts, plan.ybar, plan.ones)
        out[ids[key]] = (S, (Xs[0] == 1).sum(axis=0))
    return out


def _merge_regress(items) -> dict:
    out: dict = {}
    for d in items:
        for k, (S, ones) in d.items():
            if k in out:
                out[k] = (out[k][0] + S, out[k][1] + ones)
            else:
                out[k] = (S, ones)
    return out


def regress_estimates(design, formula: str, desc, used: list, outcome, rhs_pv: bool, n_pv: int, by):
    """The selection, each group's coefficients and R-squared, (R+1, M, p + 1), and each group's
    terms, for :meth:`SurveyDesign.regress`."""
    from ..models._distributed import _categorical_columns, _refuse_stateful

    _refuse_stateful([desc], formula)
    meta = design.data._meta
    pv = design.pv
    var_cols = [c for v in used for c in design._columns_of(v)]
    cat_cols = [c for c in _categorical_columns([desc], meta) if c in used and c not in pv]
    centre_cols = [c for c in var_cols if c not in cat_cols]
    _numeric_dtype(meta, centre_cols)
    sel = _select(design, used, by, var_cols, centre_cols, cat_cols)
    shared = outcome is not None and not rhs_pv
    desc, rhs_desc = _read(formula)
    outcome_cols = design._columns_of(outcome) if shared else []
    ids, plans, terms = {}, {}, {}
    for i, key in enumerate(sel.keys):
        if not sel.n_used[i]:
            continue
        template = _template(sel, key, used, pv, cat_cols)
        infos = _designs(formula, desc, rhs_desc, template, shared)
        names = list(infos[-1].column_names)
        ones = np.array([c == "Intercept" for c in names])
        M = n_pv
        if ones.any():  # centred near the group's means, the intercept column kept
            shifts, ybars = [], []
            for m in range(1 if shared else n_pv):
                frame = _centre_frame(sel, key, used, pv, cat_cols, m)
                with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                    built = rebuild(infos, frame, formula=formula, NA_action="raise")
                shifts.append(np.where(ones, 0.0, np.asarray(built[-1], dtype=float)[0]))
                if not shared:
                    ybars.append(float(np.asarray(built[0], dtype=float)[0, 0]))
            if shared:
                cols = [outcome_cols[m % len(outcome_cols)] for m in range(M)]
                ybar = np.array([sel.centre[key][c] for c in cols])
            else:
                ybar = np.array(ybars)
            shifts = [np.nan_to_num(s) for s in shifts]
            ybar = np.nan_to_num(ybar)
        else:
            shifts = [np.zeros(len(names))] * (1 if shared else n_pv)
            ybar = np.zeros(M)
        ids[key] = i
        plans[i] = _Plan(template, shifts, ybar, ones)
        terms[i] = names
    weights = _weights(design)
    cols = list(dict.fromkeys(sel.by + var_cols + weights))
    sums = _reduce(
        design.data[cols],
        _regress_sums,
        sel.by,
        var_cols,
        weights,
        ids,
        plans,
        formula,
        used,
        pv,
        n_pv,
        outcome_cols,
        shared,
        merge=_merge_regress,
    )
    thetas: list[np.ndarray | None] = []
    fitted: list[list[str]] = []
    for i, key in enumerate(sel.keys):
        if i not in sums:
            thetas.append(None)
            continue
        S, n_ones = sums[i]
        where, n = _where(sel, key), sel.n_used[i]
        _check_total_weight(S[:, -1], where, n, weights)
        plan = plans[i]
        if plan.ones.any() and (n_ones == n).sum() > 1:
            raise ModelError(
                f"The regression cannot be estimated in {where}: Singular matrix. "
                "Check for predictors with no variation."
            )
        try:
            with np.errstate(divide="ignore", invalid="ignore"):
                theta = _wls_solve(S, plan.shifts, plan.ybar, plan.ones, n_pv)
        except np.linalg.LinAlgError as exc:
            raise ModelError(
                f"The regression cannot be estimated in {where}: {exc}. Check for predictors with no variation."
            ) from None
        _check_statistic(theta, sel.names, where, n, weights)
        thetas.append(theta)
        fitted.append(terms[i])
    if all(t is None for t in thetas):
        raise DataError(f"No pupil has complete values for {sel.names}.")
    return sel, thetas, fitted
