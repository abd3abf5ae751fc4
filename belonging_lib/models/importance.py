"""Relative importance of correlated predictors: dominance analysis.

Tests the claim that "teacher relationships are among the strongest predictors
of belonging": how much of the explained variance in belonging each of teacher
care, fairness, listening, peer acceptance, bullying and engagement accounts
for, when the predictors overlap.
"""

from __future__ import annotations

import dataclasses
import itertools
import warnings
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .._errors import BelongingWarning, DataError, ModelError
from .._progress import show_progress
from .._resampling import bootstrap_counts, unit_sums
from .._results import Result, tidy
from .._validation import as_frame, as_list, check_positive_int, check_probability, require_clusters, require_columns
from ._linear import complete_cases

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["dominance", "dominance_from_matrix", "DominanceResult", "subset_r2"]

_MAX_PREDICTORS = 15


def _subsets(p: int) -> list[tuple[int, ...]]:
    """All subsets of range(p) as index tuples, including the empty set, in bitmask order."""
    return [tuple(i for i in range(p) if mask >> i & 1) for mask in range(1 << p)]


def subset_r2(corr: np.ndarray) -> np.ndarray:
    """R-squared of every subset model from correlation matrices.

    Parameters
    ----------
    corr : ndarray, shape (p+1, p+1) or (B, p+1, p+1)
        Correlation (or covariance) matrices of the p predictors followed by the outcome.

    Returns
    -------
    ndarray, shape (2**p,) or (B, 2**p)
        Element ``mask`` holds the R-squared of the model with predictors
        ``{i : mask >> i & 1}`` (0 for the empty model):
        :math:`R^2_S = r_{yS}' R_{SS}^{-1} r_{yS}`.

    Examples
    --------
    >>> r = np.array([[1.0, 0.0, 0.3], [0.0, 1.0, 0.4], [0.3, 0.4, 1.0]])
    >>> np.round(subset_r2(r), 3).tolist()
    [0.0, 0.09, 0.16, 0.25]
    """
    C = np.asarray(corr, dtype=float)
    single = C.ndim == 2
    if single:
        C = C[None]
    p = C.shape[-1] - 1
    # standardise (so a covariance matrix works too)
    sd = np.sqrt(np.einsum("bii->bi", C))
    C = C / sd[:, :, None] / sd[:, None, :]
    out = np.zeros((C.shape[0], 1 << p))
    for mask, S in enumerate(_subsets(p)):
        if not S:
            continue
        idx = list(S)
        Rss = C[:, idx][:, :, idx]
        rys = C[:, idx, p]
        beta = np.linalg.solve(Rss, rys[..., None])[..., 0]
        out[:, mask] = np.einsum("bi,bi->b", beta, rys)
    return out[0] if single else out


def _dominance_from_r2(r2: np.ndarray, p: int):
    """General weights (.., p) and conditional weights (.., p, p: by subset size) from subset R^2."""
    r2 = np.atleast_2d(r2)
    B = r2.shape[0]
    cond = np.zeros((B, p, p))
    counts = np.zeros((p, p))
    for mask in range(1 << p):
        k = bin(mask).count("1")
        for i in range(p):
            if mask >> i & 1:
                continue
            cond[:, i, k] += r2[:, mask | (1 << i)] - r2[:, mask]
            counts[i, k] += 1
    cond /= counts[None]
    general = cond.mean(axis=2)
    return general, cond


def _complete_dominance(r2: np.ndarray, p: int) -> np.ndarray:
    """p x p matrix: 1 if row completely dominates column, 0 if dominated, NaN if undetermined."""
    out = np.full((p, p), np.nan)
    for i, j in itertools.combinations(range(p), 2):
        diffs = []
        for mask in range(1 << p):
            if mask >> i & 1 or mask >> j & 1:
                continue
            diffs.append(r2[mask | (1 << i)] - r2[mask | (1 << j)])
        diffs = np.array(diffs)
        if np.all(diffs > 0):
            out[i, j], out[j, i] = 1.0, 0.0
        elif np.all(diffs < 0):
            out[i, j], out[j, i] = 0.0, 1.0
    return out


@dataclasses.dataclass(frozen=True, eq=False)
class DominanceResult(Result):
    """Dominance analysis of a linear regression.

    Attributes
    ----------
    table : DataFrame
        Indexed by predictor (``term``): ``estimate`` (the general dominance weight) and, with a
        bootstrap, its ``ci_low``, ``ci_high``; ``share`` (estimate / R-squared) and, with a
        bootstrap, ``share_ci_low``, ``share_ci_high``; ``rank`` (1 = largest) and, with a
        bootstrap, ``prop_top`` (the proportion of bootstrap draws in which the predictor ranks
        first; not a p-value).
    conditional : DataFrame
        Predictor x number of other predictors in the model: the average increase in
        R-squared (conditional dominance).
    complete : DataFrame
        1 where the row predictor completely dominates the column one, 0 where it is
        dominated, NaN where neither.
    r2 : float
        R-squared of the full model (the sum of the general weights).
    subsets : DataFrame
        R-squared (``r2``) of every subset model.
    """

    outcome: str
    predictors: tuple
    table: pd.DataFrame
    conditional: pd.DataFrame
    complete: pd.DataFrame
    r2: float
    subsets: pd.DataFrame
    n: int | None
    n_excluded: int
    n_boot: int
    ci_level: float
    seed: int | None
    cluster: str | None

    title = "Dominance analysis (relative importance)"

    def __repr__(self) -> str:
        return self.summary()

    def to_frame(self) -> pd.DataFrame:
        """The general dominance weights as a tidy table: one row per predictor (``term``)."""
        return tidy(self.table.copy())

    def notes(self) -> list[str]:
        lines = [f"Outcome {self.outcome}; R-squared of the full model = {self.r2:.3f} "
                 "(the general weights add up to it).",
                 f"N = {self.n} ({self.n_excluded} rows excluded for missing values)." if self.n is not None
                 else "Computed from a correlation (or covariance) matrix."]
        if self.n_boot:
            unit = f"clusters ({self.cluster})" if self.cluster else "pupils"
            lines.append(f"{100 * self.ci_level:g}% percentile bootstrap intervals, {self.n_boot} draws "
                         f"resampling {unit}, seed {self.seed}.")
        lines.append("Importance describes shares of explained variance among these predictors, "
                     "not causal effects.")
        return lines

    def plot(self, *, ax=None, labels=None) -> Axes:
        """Bar chart of each predictor's share of R-squared (with intervals after a bootstrap).

        Returns the matplotlib Axes drawn on.
        """
        from ..plots.effects import dominance_plot

        return dominance_plot(self, ax=ax, labels=labels)


def dominance(data, *, outcome: str, predictors, n_boot: int = 0, seed: int | None = 0,
              ci_level: float = 0.95, cluster: str | None = None, progress: bool | None = None
              ) -> DominanceResult:
    """General, conditional and complete dominance of predictors of ``outcome``.

    Parameters
    ----------
    data : DataFrame
        One row per pupil.
    outcome : str
        Numeric outcome column.
    predictors : list of str
        Two to 15 numeric predictor columns.
    n_boot : int
        Bootstrap draws for intervals of the general weights (0 = none, the default: the
        intervals are an optional extra).
    seed : int or None
        Seed of the bootstrap (default 0; ``None`` for fresh entropy).
    ci_level : float
        Confidence level of the bootstrap intervals.
    cluster : str, optional
        Resample whole clusters (schools) in the bootstrap.
    progress : bool, optional
        Show a progress bar (None: when the run takes about 2 seconds or more and
        someone is watching; ``BELONGING_PROGRESS=0`` silences every bar).

    Returns
    -------
    DominanceResult
        ``to_frame()``: one row per predictor (``term``) with ``estimate`` (the general weight),
        ``share`` and ``rank``, and the bootstrap intervals when ``n_boot`` is set.

    Raises
    ------
    ColumnError, DataError, ModelError

    Notes
    -----
    For every subset S of predictors, :math:`R^2_S = r_{yS}' R_{SS}^{-1} r_{yS}`
    from the one correlation matrix of the complete cases (equal to the R-squared
    of ``lm`` on that subset).  The conditional dominance of :math:`X_i` at size k is
    the mean of :math:`R^2_{S \\cup i} - R^2_S` over subsets S of k other predictors;
    its general dominance weight is the mean of those over k = 0..p-1 (Azen &
    Budescu, 2003), identical to the LMG measure of ``relaimpo`` (Groemping, 2006),
    and the weights sum to the full model's R-squared.  :math:`X_i` completely
    dominates :math:`X_j` when it adds more to every subset containing neither.
    The bootstrap recomputes the weighted correlation matrix of each replicate
    from resampling counts (vectorised) and takes percentile intervals.

    Validated against R: every subset's ``summary(lm())$r.squared`` and the general
    weights computed from them (tests/reference/claims.R), on a simulated fixture
    and on R's ``swiss`` data (``Fertility`` on its five predictors, the example of
    ``relaimpo``'s documentation), and against the known weights of orthogonal
    predictors (:math:`r_{yi}^2`).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> d = pd.DataFrame(rng.normal(size=(500, 3)), columns=["care", "fair", "peer"])
    >>> d["belong"] = 0.5 * d.care + 0.3 * d.fair + 0.1 * d.peer + rng.normal(size=500)
    >>> res = dominance(d, outcome="belong", predictors=["care", "fair", "peer"])
    >>> bool(np.isclose(res.table["estimate"].sum(), res.r2))
    True
    >>> res.table["rank"].tolist()
    [1, 2, 3]
    """
    data = as_frame(data)
    preds = as_list(predictors)
    ci_level = check_probability("ci_level", ci_level)
    if not isinstance(outcome, str):
        raise DataError(f"`outcome` must be one column name, but {outcome!r} was passed.")
    require_columns(data, [outcome], role="outcome column")
    require_columns(data, preds, role="predictor column")
    if len(preds) < 2 or len(preds) > _MAX_PREDICTORS:
        raise DataError(f"`predictors` must name 2 to {_MAX_PREDICTORS} columns, but {len(preds)} were passed.")
    if len(set(preds)) < len(preds) or outcome in preds:
        raise DataError("`predictors` must be distinct columns, none of them the outcome.")
    if n_boot != 0:
        n_boot = check_positive_int("n_boot", n_boot, minimum=100)
    frame, n_excl = complete_cases(data, preds + [outcome], cluster=cluster)
    p = len(preds)
    Z = frame[preds + [outcome]].to_numpy(dtype=float)
    sd = Z.std(axis=0)
    if np.any(sd == 0):
        const = [c for c, s in zip(preds + [outcome], sd) if s == 0]
        raise ModelError(f"The column(s) {', '.join(map(repr, const))} do not vary in the complete rows.")
    if n_boot and cluster is not None:
        n_clusters = require_clusters(frame[cluster], cluster, what="The cluster bootstrap of the dominance weights")
        if n_clusters < 10:
            warnings.warn(f"Only {n_clusters} clusters of {cluster!r}: a cluster bootstrap with so few clusters "
                          "under-covers; read the intervals with caution.", BelongingWarning, stacklevel=2)
    C = np.corrcoef(Z, rowvar=False)
    table, cond, complete, rsq, subsets = _core(C, preds)
    if n_boot:
        draws = _boot_general(Z, None if cluster is None else frame[cluster].to_numpy(), n_boot,
                              np.random.default_rng(seed), p,
                              progress=show_progress(progress, seconds=n_boot / 1000))
        ok = np.all(np.isfinite(draws), axis=1)
        if ok.sum() < n_boot:
            warnings.warn(f"{n_boot - ok.sum()} of {n_boot} bootstrap draws had a predictor or the outcome "
                          f"without variation (or a singular design) and were dropped.",
                          BelongingWarning, stacklevel=2)
        if ok.sum() < 100:
            raise ModelError(f"Only {ok.sum()} of {n_boot} bootstrap draws could be estimated from "
                             f"{frame.shape[0]} complete rows; the interval needs at least 100.")
        draws = draws[ok]
        alpha = 1.0 - ci_level
        q = np.nanquantile(draws, [alpha / 2, 1 - alpha / 2], axis=0)
        share = draws / draws.sum(axis=1, keepdims=True)
        qs = np.nanquantile(share, [alpha / 2, 1 - alpha / 2], axis=0)
        table.insert(1, "ci_low", q[0])
        table.insert(2, "ci_high", q[1])
        table.insert(4, "share_ci_low", qs[0])
        table.insert(5, "share_ci_high", qs[1])
        table["prop_top"] = np.mean(np.argmax(draws, axis=1)[:, None] == np.arange(p)[None], axis=0)

    return DominanceResult(
        outcome=outcome, predictors=tuple(preds), table=table, conditional=cond, complete=complete,
        r2=rsq, subsets=subsets, n=int(frame.shape[0]), n_excluded=n_excl, n_boot=int(n_boot),
        ci_level=ci_level, seed=seed, cluster=cluster,
    )


def _core(C: np.ndarray, preds: list[str]):
    """Dominance statistics from the correlation matrix of [predictors, outcome]."""
    p = len(preds)
    if np.linalg.matrix_rank(C[:p, :p]) < p:
        raise ModelError("The predictors are perfectly collinear; dominance analysis is undefined.")
    r2 = subset_r2(C)
    general, cond = _dominance_from_r2(r2, p)
    general, cond = general[0], cond[0]
    rsq = float(r2[-1])
    index = pd.Index(preds, name="term")
    table = pd.DataFrame({"estimate": general, "share": general / rsq}, index=index)
    table["rank"] = table["estimate"].rank(ascending=False, method="min").astype(int)
    subsets = pd.DataFrame({"predictors": [" + ".join(preds[i] for i in S) or "(none)" for S in _subsets(p)],
                            "size": [len(S) for S in _subsets(p)], "r2": r2})
    conditional = pd.DataFrame(cond, index=index, columns=[f"k={k}" for k in range(p)])
    complete = pd.DataFrame(_complete_dominance(r2, p), index=preds, columns=preds)
    return table, conditional, complete, rsq, subsets


def dominance_from_matrix(matrix, *, outcome: str, predictors) -> DominanceResult:
    """Dominance analysis from a correlation or covariance matrix.

    Use it for a published correlation table, or for the model-implied correlations
    of latent variables (from a structural equation model or a simulation's
    generating model), where no pupil-level data are at hand.

    Parameters
    ----------
    matrix : DataFrame
        Square, labelled by variable on both axes; must include ``outcome`` and
        ``predictors``.  A covariance matrix is standardised first.
    outcome : str
    predictors : list of str

    Returns
    -------
    DominanceResult
        As :func:`dominance`, without bootstrap intervals (``n`` is None).

    Examples
    --------
    >>> r = pd.DataFrame([[1.0, 0.0, 0.3], [0.0, 1.0, 0.4], [0.3, 0.4, 1.0]],
    ...                  index=["care", "peer", "belong"], columns=["care", "peer", "belong"])
    >>> dominance_from_matrix(r, outcome="belong", predictors=["care", "peer"]).table["estimate"].round(2).tolist()
    [0.09, 0.16]
    """
    if not isinstance(matrix, pd.DataFrame):
        raise DataError(f"`matrix` must be a labelled pandas DataFrame, but a {type(matrix).__name__} was passed.")
    preds = as_list(predictors)
    names = preds + [outcome]
    require_columns(matrix, names, role="matrix column")
    missing_rows = [c for c in names if c not in matrix.index]
    if missing_rows:
        raise DataError(f"The matrix has no row for {', '.join(map(repr, missing_rows))}.")
    if len(preds) < 2 or len(preds) > _MAX_PREDICTORS or len(set(names)) < len(names):
        raise DataError(f"`predictors` must name 2 to {_MAX_PREDICTORS} distinct columns other than the outcome.")
    C = matrix.loc[names, names].to_numpy(dtype=float)
    if not np.allclose(C, C.T, rtol=1e-10, atol=1e-12) or np.any(np.diag(C) <= 0):
        raise DataError("`matrix` must be symmetric with positive diagonal (a correlation or covariance matrix).")
    sd = np.sqrt(np.diag(C))
    C = C / np.outer(sd, sd)
    table, cond, complete, rsq, subsets = _core(C, preds)
    return DominanceResult(outcome=outcome, predictors=tuple(preds), table=table, conditional=cond,
                           complete=complete, r2=rsq, subsets=subsets, n=None, n_excluded=0,
                           n_boot=0, ci_level=0.95, seed=None, cluster=None)


def _boot_general(Z: np.ndarray, units, n_boot: int, rng: np.random.Generator, p: int,
                  progress: bool) -> np.ndarray:
    """General dominance weights of bootstrap replicates (B x p), vectorised over replicates."""
    n, q = Z.shape
    Zc = Z - Z.mean(axis=0)
    full_var = Zc.var(axis=0)
    aug = np.column_stack([np.ones(n), Zc])
    outer = (aug[:, :, None] * aug[:, None, :]).reshape(n, (q + 1) ** 2)
    su = unit_sums(outer, units)
    out = np.empty((n_boot, p))
    for start, counts in bootstrap_counts(len(su), n_boot, rng, max_cells=2_000_000, progress=progress):
        size = len(counts)
        M = (counts @ su).reshape(size, q + 1, q + 1)
        w = M[:, 0, 0]
        mean = M[:, 0, 1:] / w[:, None]
        cov = M[:, 1:, 1:] / w[:, None, None] - mean[:, :, None] * mean[:, None, :]
        # a resample in which a column does not vary (possible with few pupils) has no
        # correlation matrix: NaN, left out and counted by the caller
        ok = np.all(np.einsum("bii->bi", cov) > 1e-10 * full_var, axis=1)
        gen = np.full((size, p), np.nan)
        try:
            gen[ok] = _dominance_from_r2(subset_r2(cov[ok]), p)[0]
        except np.linalg.LinAlgError:   # a singular resample among them: one draw at a time
            for b in np.nonzero(ok)[0]:
                try:
                    gen[b] = _dominance_from_r2(subset_r2(cov[b]), p)[0][0]
                except np.linalg.LinAlgError:
                    pass
        out[start:start + size] = gen
    return out
