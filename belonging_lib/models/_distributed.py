"""Multilevel models from a Dask DataFrame: per-cluster sufficient statistics by a Dask group-by (private).

The mixed-model engine (:mod:`belonging_lib.models._lmm`) needs only each cluster's cross-products
(``Z_j'Z_j``, ``Z_j'[X y]``, ``[X y]'[X y]``), which map and reduce: each partition's blocks are
computed on the worker that holds it by the engine's own :func:`~belonging_lib.models._lmm.cluster_cross_products`,
and a Dask group-by on the cluster label sums a cluster's blocks over the partitions it spans.  Only
the J clusters' blocks (a few numbers per cluster) come back to the client, which hands them to
the same engine as an in-memory fit.

What the formula needs from the whole data is computed by Dask before the design is built: the
rows complete on the model's variables (and how many each variable excludes) and the levels of
every categorical variable, so that patsy's design (its terms, its columns and their order) is the
one the in-memory fit builds from the same rows.  A formula term that needs the data's own
statistics (patsy's ``center``, ``standardize``, ``scale``) is refused: its values depend on every
row, so compute such a column first (``center(ddf, ...)`` centres within clusters with Dask).

Scheduling and partitioning are Dask's: the computation runs on the active ``distributed`` client
(or Dask's default scheduler without one).  Imports nothing from the package but the engine, the
formula reader, the errors and the optional-dependency check.
"""

from __future__ import annotations

import ast
import dataclasses

import numpy as np
import pandas as pd
import patsy

from .._errors import ColumnError, DataError, ModelError
from .._optional import require_extra
from . import _lmm
from ._formula import (
    design_matrices,
    design_matrix,
    factor_names,
    formula_columns,
    outcome_code,
    parse_formula,
    rebuild,
)

__all__ = ["is_dask_frame", "Blocks", "cluster_blocks", "STATEFUL"]

#: patsy's stateful transforms: their values depend on statistics of the whole data
STATEFUL = ("center", "standardize", "scale")


def is_dask_frame(data) -> bool:
    """Whether ``data`` is a Dask DataFrame (checked without importing Dask)."""
    if type(data).__module__.split(".")[0] not in ("dask", "dask_expr"):
        return False
    import dask.dataframe as dd

    return isinstance(data, dd.DataFrame)


@dataclasses.dataclass(frozen=True)
class Blocks:
    """Per-cluster sufficient statistics and what the result needs besides the fit."""

    ztz: np.ndarray  # (J, q, q)
    ztw: np.ndarray  # (J, q, p + 1)
    wtw: np.ndarray  # (p + 1, p + 1), pooled
    wsum: np.ndarray  # (p + 1,): column sums of [X y]
    sizes: np.ndarray  # (J,): rows per cluster
    labels: pd.Index  # the clusters, sorted
    names: tuple  # fixed-effect columns
    znames: tuple  # random-effect columns
    z_labels: np.ndarray | None  # each random-effect column's block (None: one block)
    outcome: str
    n: int
    n_rows: int  # rows of the data before exclusions
    dropped: list  # (column, rows it excludes) in the order checked


def _stateful_calls(code: str) -> list[str]:
    try:
        tree = ast.parse(code.strip(), mode="eval")
    except SyntaxError:
        return []
    return [
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in STATEFUL
    ]


def _refuse_stateful(descs, formula_text: str) -> None:
    for desc in descs:
        for term in desc.lhs_termlist + desc.rhs_termlist:
            for factor in term.factors:
                calls = _stateful_calls(factor.code)
                if calls:
                    raise ModelError(
                        f"The term {factor.code!r} of {formula_text!r} uses patsy's {calls[0]}(), whose values "
                        "depend on statistics of the whole data; with a Dask DataFrame each partition would be "
                        f"transformed by its own statistics. Compute the column first (for example with "
                        f"center(ddf, columns=..., cluster=...), which runs on Dask) and use it in the formula."
                    )


def _categorical_columns(descs, meta: pd.DataFrame) -> list[str]:
    """Columns whose levels patsy reads: every column that is not numeric, and numeric columns inside C()."""
    out = []
    for desc in descs:
        for term in desc.lhs_termlist + desc.rhs_termlist:
            for factor in term.factors:
                tree = ast.parse(factor.code.strip(), mode="eval")
                in_c = set()
                for node in ast.walk(tree):
                    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "C":
                        for sub in ast.walk(node):
                            if isinstance(sub, ast.Name):
                                in_c.add(sub.id)
                            elif isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                                in_c.add(sub.value)
                used = set(factor_names(factor.code)[0])  # the factor's columns, in data order
                for col in (c for c in meta.columns if isinstance(c, str) and c in used):
                    numeric = pd.api.types.is_numeric_dtype(meta[col]) and not pd.api.types.is_bool_dtype(meta[col])
                    if not numeric or col in in_c:
                        out.append(col)
    return list(dict.fromkeys(out))


def _exclusions(part: pd.DataFrame, check: list) -> pd.DataFrame:
    """A partition's rows, and the rows each column of ``check`` excludes in turn (run on a worker)."""
    keep = np.ones(len(part), dtype=bool)
    out = {"__rows": [len(part)]}
    for col in check:
        miss = part[col].isna().to_numpy()
        out[col] = [int(np.count_nonzero(keep & miss))]
        keep &= ~miss
    return pd.DataFrame(out)


def _categories_of(part: pd.Series) -> pd.Series:
    """A partition's categories, in order, as one tuple (run on a worker)."""
    return pd.Series([tuple(part.cat.categories)], dtype=object)


def _template(meta: pd.DataFrame, columns: list[str], levels: dict) -> pd.DataFrame:
    """A small pandas frame holding every level of each categorical column (numbers elsewhere): patsy
    builds the design's terms and columns from it exactly as from the whole data."""
    n = max([2] + [len(v) for v in levels.values()])
    out = {}
    for col in columns:
        if col in levels:
            vals = levels[col]
            if isinstance(meta[col].dtype, pd.CategoricalDtype):
                dtype = pd.CategoricalDtype(vals, ordered=meta[col].cat.ordered)
                out[col] = pd.Categorical(np.resize(np.asarray(vals, dtype=object), n), dtype=dtype)
            else:
                out[col] = pd.Series(np.resize(np.asarray(vals, dtype=object), n)).astype(meta[col].dtype)
        else:
            out[col] = np.linspace(1.0, 2.0, n)
    return pd.DataFrame(out)


def block_width(p: int, q: int) -> int:
    """Numbers per cluster in a partition's row: Z'Z, Z'[X y], [X y]'[X y], the sums of [X y], the
    row count, and the non-finite counts of y, X and Z."""
    r = p + 1
    return q * q + q * r + r * r + r + 1 + (1 + p + q)


def _designs(formula: str, z_formulas: tuple, template: pd.DataFrame):
    """patsy's design infos, built from the template (the whole data's levels): the same on every worker."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        y_t, X_t = design_matrices(formula, template, NA_action="raise", return_type="matrix")
        z_infos = [design_matrix(f, template, NA_action="raise", return_type="matrix").design_info for f in z_formulas]
    return y_t.design_info, X_t.design_info, z_infos


def _partition_blocks(part, formula, z_formulas, template, cluster, width):
    """One partition's per-cluster blocks, flattened into one row per cluster (run on a worker).

    patsy's design objects cannot be pickled, so each worker rebuilds them from the formula's text
    and the small template frame that holds the whole data's levels."""
    if len(part) == 0:
        return pd.DataFrame({"__cluster": part[cluster].iloc[:0], **{f"b{k}": np.zeros(0) for k in range(width)}})
    y_info, x_info, z_infos = _designs(formula, z_formulas, template)
    # the rows are complete; a value a transformation makes missing (np.log of a negative number) is
    # kept, counted below and reported by its term, as the in-memory fit reports it
    keep_nan = patsy.NAAction(NA_types=[])
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        y, X = rebuild([y_info, x_info], part, formula=formula, NA_action=keep_nan)
        Zs = [np.asarray(m, float) for m in rebuild(z_infos, part, formula=formula, NA_action=keep_nan)]
    y, X = np.asarray(y, float)[:, 0], np.asarray(X, float)
    Z = np.column_stack(Zs) if Zs else np.ones((len(y), 1))
    codes, labels = pd.factorize(part[cluster], sort=True)
    J = len(labels)
    ztz, ztw, wtw = _lmm.cluster_cross_products(y, X, Z, codes, J, pooled=False)
    wsum = np.stack([np.bincount(codes, weights=v, minlength=J) for v in [*X.T, y]], axis=1)
    count = np.bincount(codes, minlength=J).astype(float)
    terms = [y, *X.T, *Z.T]
    if all(np.isfinite(v).all() for v in terms):  # the usual case: no per-cluster count needed
        bad = np.zeros((J, len(terms)))
    else:
        bad = np.stack([np.bincount(codes, weights=(~np.isfinite(v)).astype(float), minlength=J) for v in terms], 1)
    flat = np.concatenate([ztz.reshape(J, -1), ztw.reshape(J, -1), wtw.reshape(J, -1), wsum, count[:, None], bad], 1)
    frame = pd.DataFrame(flat, columns=[f"b{k}" for k in range(width)])
    frame.insert(0, "__cluster", labels)
    return frame


def cluster_blocks(ddf, formula: str, cluster: str, random_blocks, random_text, random_columns) -> Blocks:
    """Everything a two-level fit needs from a Dask DataFrame, computed on the workers."""
    require_extra("dask")
    import dask

    meta = ddf._meta
    columns = [str(c) for c in meta.columns]
    if cluster not in columns:
        raise ColumnError(f"The cluster column {cluster!r} is not a column of the data (columns: {columns[:12]}).")
    desc = parse_formula(formula)
    descs = [desc] + list(random_blocks or [])
    _refuse_stateful(descs, formula if not random_blocks else f"{formula}; random {random_text}")
    outcome = outcome_code(formula)
    used = formula_columns(desc, meta)
    if outcome in columns and outcome not in used:
        used.insert(0, outcome)
    if outcome in columns and not (
        pd.api.types.is_numeric_dtype(meta[outcome]) or pd.api.types.is_bool_dtype(meta[outcome])
    ):
        raise DataError(
            f"The outcome {outcome!r} must be numeric, but its column in the Dask DataFrame is of type "
            f"{meta[outcome].dtype}; convert it before fitting."
        )
    check = list(dict.fromkeys(used + [cluster] + list(random_columns)))
    data = ddf[check]
    # rows excluded by each variable in turn, as the in-memory ledger counts them: one pass
    counts = data.map_partitions(
        _exclusions, check, meta=pd.DataFrame({c: np.zeros(0, np.int64) for c in ["__rows", *check]})
    ).sum()
    complete = data.dropna(subset=check)
    categorical = _categorical_columns(descs, meta)
    # a pandas categorical's levels are its categories, in their order (as patsy reads them in memory);
    # every partition must hold the same ones, or patsy could not code them alike
    typed = [col for col in categorical if isinstance(meta[col].dtype, pd.CategoricalDtype)]
    unknown = [col for col in typed if not ddf[col].cat.known]
    dropped_counts, uniques, part_cats = dask.compute(
        counts,
        {col: complete[col].drop_duplicates() for col in categorical if col not in typed},
        {col: data[col].map_partitions(_categories_of, meta=(col, object)) for col in unknown},
    )
    n_rows = int(dropped_counts["__rows"])
    dropped = [(col, int(dropped_counts[col])) for col in check if int(dropped_counts[col])]
    n = int(n_rows) - sum(c for _, c in dropped)
    if n == 0:
        raise DataError(f"No row is complete on the model's variables ({', '.join(check)}).")
    levels = {col: sorted(pd.Series(vals).dropna().tolist()) for col, vals in uniques.items()}
    for col in typed:
        if col in part_cats:
            found = set(pd.Series(part_cats[col]).tolist())
            if len(found) != 1:
                raise DataError(
                    f"The categorical column {col!r} has different categories in different partitions of the Dask "
                    "DataFrame, so its levels have no one order; give it one set of categories first, e.g. "
                    f"ddf[{col!r}] = ddf[{col!r}].astype(pandas.CategoricalDtype([...]))."
                )
            levels[col] = list(found.pop())
        else:
            levels[col] = list(meta[col].cat.categories)
    template = _template(meta, check, levels)
    y_t, X_t = design_matrices(formula, template, NA_action="raise")
    if y_t.shape[1] != 1:
        raise DataError(f"The outcome {outcome!r} must be a single numeric column.")
    z_infos, znames, z_labels = [], [], []
    for k, rdesc in enumerate(random_blocks or []):
        Zt = design_matrix(rdesc, template, what=f"The random part {random_text!r}", NA_action="raise")
        z_infos.append(Zt.design_info)
        znames += ["(Intercept)" if c == "Intercept" else str(c) for c in Zt.design_info.column_names]
        z_labels += [k] * Zt.shape[1]
    if not z_infos:
        znames = ["(Intercept)"]
    names = tuple(str(c) for c in X_t.columns)
    p, q = len(names), len(znames)
    r = p + 1
    width = block_width(p, q)
    z_formulas = tuple(rdesc.describe() for rdesc in random_blocks or [])
    meta_out = _partition_blocks(meta[check], formula, z_formulas, template, cluster, width)
    per_part = complete.map_partitions(
        _partition_blocks, formula, z_formulas, template, cluster, width, meta=meta_out, align_dataframes=False
    )
    sums = per_part.groupby("__cluster", sort=False, observed=True).sum().compute()
    sums = sums.sort_index()
    flat = sums.to_numpy(float)
    observed = flat[:, q * q + q * r + r * r + r] > 0  # a categorical cluster column's unused categories
    flat, sums = flat[observed], sums[observed]
    J = flat.shape[0]
    at = 0

    def take(k):
        nonlocal at
        out = flat[:, at : at + k]
        at += k
        return out

    ztz = take(q * q).reshape(J, q, q)
    ztw = take(q * r).reshape(J, q, r)
    wtw = take(r * r).reshape(J, r, r).sum(axis=0)
    wsum = take(r).sum(axis=0)
    sizes = take(1)[:, 0]
    bad = take(1 + p + q).sum(axis=0)
    if bad.any():
        terms = [outcome, *names, *znames]
        j = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"The term {terms[j]!r} of the model is not a finite number in {int(bad[j])} complete rows (for "
            "example a log of zero or an infinite value); correct or exclude those rows."
        )
    return Blocks(
        ztz,
        ztw,
        wtw,
        wsum,
        sizes,
        pd.Index(sums.index),
        names,
        tuple(znames),
        np.asarray(z_labels) if len(random_blocks or []) > 1 else None,
        outcome,
        n,
        int(n_rows),
        dropped,
    )


def check_gram_rank(gram: np.ndarray, names, what: str) -> None:
    """Refuse linearly dependent columns from their cross-product matrix (``X'X`` or ``Z'Z``)."""
    d = np.sqrt(np.clip(np.diag(gram), 0, None))
    k = len(d)

    def rank(m):
        sub = gram[:m, :m]
        dd = d[:m]
        with np.errstate(divide="ignore", invalid="ignore"):
            scaled = np.where(np.outer(dd, dd) > 0, sub / np.outer(dd, dd), 0.0)
        return np.linalg.matrix_rank(scaled, tol=1e-10 * m, hermitian=True)

    if rank(k) < k:
        bad = [names[j] for j in range(1, k) if rank(j + 1) <= rank(j)]
        if d[0] == 0:
            bad.insert(0, names[0])
        raise ModelError(
            f"The {what} are perfectly collinear (or one does not vary): {', '.join(bad) or 'some terms'} can be "
            "written from the other terms, so they cannot all be estimated. Drop one of them."
        )
