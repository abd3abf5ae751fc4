"""Multilevel (linear mixed) models that match R's lme4 and lmerTest.

Pupils sit in classes in schools.  :func:`multilevel` fits two-level models
with a random intercept and optional random slopes, and three-level models
(pupils in classes in schools) with random intercepts, by REML or ML.

Estimates are lme4's: the deviance is profiled over the fixed effects and
the residual variance exactly as lme4 does, and the score equations are solved
(Newton on the analytic scores, to machine precision) by the library's one
mixed-model engine, :mod:`belonging_lib.models._lmm`, from per-cluster
sufficient statistics; the same digits come out whatever BLAS kernel the
machine uses.  Fixed-effect standard errors are :math:`(X'V^{-1}X)^{-1}` at the
estimates; degrees of freedom and p-values are Satterthwaite's, as lmerTest
reports them.  An evaluation costs the same however many pupils a school has,
so the models are fast enough for bootstraps, permutation tests, power
simulations and PISA-size data.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
import patsy
from scipy import stats

from .._errors import BelongingWarning, DataError, ModelError
from .._results import Result, RowLedger, coef_table, tidy
from .._validation import as_frame, as_list, check_probability, describe_rows, require_columns
from . import _lmm
from ._design import _clearly_full_rank, build_design, check_rank
from ._formula import design_matrix, formula_columns, numeric_design, parse_formula, parse_right_side

__all__ = ["MultilevelResult", "RandomInterceptFit", "LikelihoodRatioTest", "multilevel", "null_model",
           "compare", "fit_random_intercept"]


@dataclasses.dataclass(frozen=True)
class MultilevelResult(Result):
    """A fitted multilevel model.

    Attributes
    ----------
    fixed : pandas.DataFrame
        Indexed by term: ``estimate``, ``se``, ``ci_low``, ``ci_high``, ``statistic`` (t),
        ``df`` (Satterthwaite), ``p``.
    variance : pandas.DataFrame
        Variance components: one row per random-effect variance (and
        covariance) and the residual, with ``cluster`` (the level), ``term``, ``variance``,
        ``sd`` and ``corr``; a weighted fit adds ``se``, the sandwich standard error of each
        variance and covariance (as WeMix's).
    icc : float
        Share of the total variance at the top grouping level (for random
        slopes: at the random-effect variables' zero).
    icc_levels : dict
        ICC per grouping level (three-level models).
    loglik, aic, bic : float
        As ``logLik``, ``AIC``, ``BIC`` of lme4 (REML or ML as fitted).
    r2_marginal, r2_conditional : float
        Nakagawa's marginal (fixed effects) and conditional (fixed and random effects) R-squared.
    n, n_excluded : int
        Rows used, and rows excluded for missing values (see ``ledger``).
    n_clusters : dict
        Number of clusters per level, outermost first.
    cluster : tuple
        The clustering columns, outermost first.
    ci_level : float
        The level of ``ci_low`` and ``ci_high``.
    """

    fixed: pd.DataFrame
    variance: pd.DataFrame
    icc: float
    icc_levels: dict
    loglik: float
    aic: float
    bic: float
    r2_marginal: float
    r2_conditional: float
    n: int
    n_excluded: int
    n_clusters: dict
    reml: bool
    formula: str
    cluster: tuple
    random: str | None
    boundary: bool
    converged: bool
    method: str
    ledger: RowLedger
    ci_level: float = 0.95
    _spec: dict = dataclasses.field(repr=False, compare=False, default_factory=dict)

    title = "Multilevel model"

    def to_frame(self) -> pd.DataFrame:
        """The fixed effects, one row per term, with the tidy columns first and ``n``."""
        out = self.fixed.copy()
        out["n"] = self.n
        return tidy(out)

    def notes(self) -> list[str]:
        groups = ", ".join(f"{k}: {v}" for k, v in self.n_clusters.items())
        comps = "; ".join(f"{r.cluster} {r.term}: {r.variance:.4g}" for r in self.variance.itertuples())
        lines = [f"{'REML' if self.reml else 'ML'} fit ({self.method}); N = {self.n} ({groups}); "
                 f"{self.n_excluded} rows excluded for missing values.",
                 f"Variance components: {comps}. ICC = {self.icc:.3f}.",
                 f"logLik = {self.loglik:.3f}, AIC = {self.aic:.2f}, BIC = {self.bic:.2f}; "
                 f"R2 marginal = {self.r2_marginal:.3f}, conditional = {self.r2_conditional:.3f}.",
                 "df and p-values: Satterthwaite (as lmerTest)."]
        if self._spec.get("weights"):
            w = self._spec["weights"]
            lines[2:] = [f"Pseudo-log-likelihood = {self.loglik:.3f} (weighted; no AIC, BIC or likelihood-ratio test); "
                         f"R2 marginal = {self.r2_marginal:.3f}, conditional = {self.r2_conditional:.3f}.",
                         f"Weights: pupil {w['pupil']!r} ({self._spec['pupil_weight']}), school {w['school']!r}; "
                         f"pupil weights scaled within schools: {self._spec['scaling']}.",
                         "Standard errors: sandwich over schools (as WeMix); normal-theory p-values and intervals."]
        if self.boundary:
            lines.append(_lmm.SINGULAR_MESSAGE)
        return lines


@dataclasses.dataclass(frozen=True)
class RandomInterceptFit(Result):
    """A random-intercept model fitted on arrays by :func:`fit_random_intercept`.

    Attributes
    ----------
    predictors : tuple of str
        Names of the columns of ``X`` (its column names when ``X`` is a DataFrame).
    coefficients : numpy.ndarray
        The fixed effects, in the order of ``predictors``.
    vcov : numpy.ndarray
        Their covariance, :math:`\\sigma^2 (X'V_*^{-1}X)^{-1}`.
    df : numpy.ndarray or None
        Satterthwaite df per coefficient (``None`` unless asked for: they cost a Hessian).
    tau00, sigma2 : float
        Random-intercept and residual variances.
    loglik : float
        REML or ML log-likelihood, as ``logLik`` of lme4.
    reml, converged, boundary : bool
        REML or ML; whether the score equations were solved; a zero intercept variance.
    n, n_clusters : int
    ci_level : float
        Level of the intervals of :meth:`to_frame`.
    """

    predictors: tuple
    coefficients: np.ndarray
    vcov: np.ndarray
    df: np.ndarray | None
    tau00: float
    sigma2: float
    loglik: float
    reml: bool
    converged: bool
    boundary: bool
    n: int
    n_clusters: int
    ci_level: float = 0.95

    title = "Random-intercept model"

    @property
    def se(self) -> np.ndarray:
        """Standard errors of the coefficients."""
        return np.sqrt(np.diag(self.vcov))

    @property
    def icc(self) -> float:
        """Share of the residual variance (given X) that lies between clusters."""
        return float(self.tau00 / (self.tau00 + self.sigma2))

    def to_frame(self) -> pd.DataFrame:
        """The fixed effects: t on the Satterthwaite df when computed, normal theory otherwise."""
        df = np.inf if self.df is None else self.df
        out = coef_table(self.predictors, self.coefficients, self.se, df, ci_level=self.ci_level)
        out["n"] = self.n
        return tidy(out)

    def notes(self) -> list[str]:
        return [f"{'REML' if self.reml else 'ML'}; N = {self.n} in {self.n_clusters} clusters; "
                f"tau00 = {self.tau00:.4g}, sigma2 = {self.sigma2:.4g}."]


def _codes(values) -> tuple[np.ndarray, int]:
    """Codes 0 .. J-1 of the clusters, in the sorted order of their labels, and J.

    Integer labels spanning a range no wider than a few times the number of rows are coded in one
    pass (a count per label, then a running count of the labels present): the same codes as
    ``pandas.factorize(..., sort=True)``, without its hashing and sorting.  Other labels (text
    IDs, missing values) go to ``factorize``.
    """
    arr = values.to_numpy() if isinstance(values, pd.Series) else np.asarray(values)
    if arr.ndim == 1 and arr.dtype.kind in "iu" and 0 < len(arr):
        lo, hi = int(arr.min()), int(arr.max())
        if 0 <= lo and hi <= 4 * len(arr) + 1024:
            lo = 0                                # labels from 0 (the common case) need no shift
        if hi - lo <= 4 * len(arr) + 1024:
            shifted = (arr - arr.dtype.type(lo)) if lo else arr
            shifted = shifted.astype(np.intp, copy=False)
            present = np.bincount(shifted, minlength=hi - lo + 1) > 0
            rank = np.cumsum(present, dtype=np.int64) - 1
            return rank[shifted], int(rank[-1]) + 1
    codes, uniques = pd.factorize(pd.Series(values), sort=True)
    return codes.astype(np.int64), len(uniques)


def fit_random_intercept(outcome, X, *, cluster, reml: bool = True, satterthwaite: bool = False,
                         ci_level: float = 0.95) -> RandomInterceptFit:
    """Fit ``outcome = X beta + u_cluster + e`` exactly, fast, on arrays (no formula).

    For loops (bootstraps, permutations, power simulations).  Uses per-cluster
    sufficient statistics: one pass over the data and a one-dimensional
    optimisation over the variance ratio.

    Parameters
    ----------
    outcome : array (n,)
        The outcome's values.
    X : array or DataFrame (n, p)
        Fixed-effect design including the intercept column (a DataFrame's column names name the
        coefficients; otherwise a column of ones is ``(Intercept)`` and column j, counted from 0, is ``x<j>``).
    cluster : array (n,)
        Cluster labels.
    reml : bool
    satterthwaite : bool
        Also compute Satterthwaite df (slower; off by default in loops).
    ci_level : float
        Level of the intervals in :meth:`RandomInterceptFit.to_frame`.

    Returns
    -------
    RandomInterceptFit

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> g = np.repeat(np.arange(50), 20)
    >>> x = rng.normal(size=1000)
    >>> y = 1 + 0.5 * x + rng.normal(0, 0.5, 50)[g] + rng.normal(size=1000)
    >>> fit = fit_random_intercept(y, np.column_stack([np.ones(1000), x]), cluster=g)
    >>> fit.predictors, round(float(fit.coefficients[1]), 2)
    (('(Intercept)', 'x1'), 0.5)
    """
    level = check_probability("ci_level", ci_level)
    names = None
    if isinstance(X, pd.DataFrame):
        names = tuple(str(c) for c in X.columns)
    y = np.asarray(outcome, dtype=float)
    X = np.asarray(X, dtype=float)
    if y.ndim != 1 or X.ndim != 2 or X.shape[0] != len(y) or len(cluster) != len(y):
        raise DataError(f"`outcome` (shape {y.shape}), `X` (shape {X.shape}) and `cluster` ({len(cluster)} "
                        "labels) must have one entry or row per observation.")
    no_label = pd.isna(pd.Series(cluster)).to_numpy()
    if not (np.isfinite(y).all() and np.isfinite(X).all()) or no_label.any():
        bad = ~np.isfinite(y) | ~np.isfinite(X).all(axis=1) | no_label
        rows = np.nonzero(bad)[0]
        raise DataError(f"`outcome`, `X` and `cluster` must be complete and finite, but {describe_rows(rows)} "
                        f"hold missing or infinite values ({len(rows)} in all).")
    n, p = X.shape
    if n <= p:
        raise ModelError(f"A random-intercept model with {p} fixed effects needs more than {p} observations, "
                         f"but {n} were passed.")
    if np.ptp(y) == 0:
        raise ModelError(f"`outcome` has the same value ({y[0]:g}) in all {n} observations; there is no variance "
                         "to model.")
    if names is None:
        names = tuple("(Intercept)" if X[0, j] == 1 and np.all(X[:, j] == 1) else f"x{j}" for j in range(p))
    codes, n_clusters = _codes(cluster)
    _check_identified(codes, n_clusters, None, ["cluster"])
    try:
        fit = _lmm.fit_random_intercept(y, X, codes, n_clusters, reml=reml, satterthwaite_df=satterthwaite)
    except np.linalg.LinAlgError:
        raise ModelError(f"The {p} columns of `X` are linearly dependent (a constant or duplicated "
                         "predictor?); the fixed effects cannot be estimated.") from None
    df = None if fit.df_satterthwaite is None else np.asarray(fit.df_satterthwaite, dtype=float)
    return RandomInterceptFit(names, np.asarray(fit.beta, dtype=float), np.asarray(fit.vcov, dtype=float), df,
                              float(fit.theta[0] ** 2 * fit.sigma2), float(fit.sigma2), float(fit.loglik),
                              bool(reml), bool(fit.converged), bool(fit.boundary), int(n), int(n_clusters), level)


def _check_identified(top: np.ndarray, n_top: int, nested: np.ndarray | None, group_cols) -> None:
    """Variance components need clusters with more than one row (issue 20)."""
    if n_top < 2:
        raise ModelError(f"The cluster column {group_cols[0]!r} has only one cluster; the between-cluster variance "
                         "cannot be estimated (a multilevel model needs at least two, preferably 20 or more, "
                         "clusters).")
    sizes = np.bincount(top, minlength=n_top)
    if nested is None:
        if sizes.max() < 2:
            raise ModelError(f"Every cluster of {group_cols[0]!r} has a single row ({n_top} clusters, {len(top)} "
                             "rows), so the between-cluster and within-cluster variances cannot be told apart; the "
                             "model is not identified. Fit a single-level regression, or use a clustering with "
                             "several rows per cluster.")
        return
    class_sizes = np.bincount(nested)
    if class_sizes.max() < 2:
        raise ModelError(f"Every cluster of {group_cols[1]!r} has a single row, so the {group_cols[1]!r} variance "
                         "cannot be told apart from the residual variance; the three-level model is not "
                         f"identified. Drop {group_cols[1]!r} from `cluster`.")
    classes_per_top = np.bincount(top[np.unique(nested, return_index=True)[1]], minlength=n_top)
    if classes_per_top.max() < 2:
        raise ModelError(f"Every cluster of {group_cols[0]!r} holds a single {group_cols[1]!r} cluster, so the two "
                         "levels' variances cannot be told apart; the three-level model is not identified. Drop "
                         "one level from `cluster`.")


def _split_top(text: str, sep: str) -> list[str]:
    """``text`` cut at every ``sep`` outside parentheses and brackets."""
    parts, depth, last = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[last:i])
            last = i + 1
    parts.append(text[last:])
    return parts


def _bar_terms(text: str, random: str, cluster: str | None) -> list[patsy.ModelDesc]:
    """lme4's random terms ``(lhs | g)`` and ``(lhs || g)``, joined by ``+``: one block of correlated
    random effects per ``|`` term; ``||`` puts the intercept and each term in a block of its own (as
    lme4 expands ``(1 + x || g)`` into ``(1 | g) + (0 + x | g)``)."""
    blocks = []
    for piece in _split_top(text, "+"):
        piece = piece.strip()
        if not (piece.startswith("(") and piece.endswith(")")) or len(_split_top(piece[1:-1], "|")) < 2:
            raise ModelError(f"`random={random!r}` mixes lme4's bar terms with other terms: {piece!r} is not of the "
                             "form '(terms | cluster)' or '(terms || cluster)'.")
        inner = _split_top(piece[1:-1], "|")
        double = len(inner) == 3 and inner[1].strip() == ""
        if len(inner) > 3 or (len(inner) == 3 and not double):
            raise ModelError(f"The random term {piece!r} of `random={random!r}` has more than one bar; write "
                             "'(terms | cluster)' or '(terms || cluster)'.")
        lhs, group = inner[0].strip(), inner[-1].strip()
        if cluster is not None and group != str(cluster):
            raise ModelError(f"The random term {piece!r} of `random={random!r}` is grouped by {group!r}, but "
                             f"`cluster` is {cluster!r}; random effects are fitted at the cluster level only, so "
                             "the name after the bar must be the cluster column.")
        if not lhs:
            raise ModelError(f"The random term {piece!r} of `random={random!r}` has no terms before the bar "
                             "(write '1' for a random intercept).")
        desc = parse_formula(f"~ {lhs}")
        if not double:
            blocks.append(desc)
            continue
        for term in desc.rhs_termlist:          # the intercept (no factors) first, then each term alone
            blocks.append(patsy.ModelDesc([], [term]))
    return blocks


def _random_terms(random: str | None, data: pd.DataFrame, cluster: str | None = None
                  ) -> tuple[list[patsy.ModelDesc] | None, list[str]]:
    """The random part as blocks that patsy reads, and the columns it uses (which must be complete).

    ``random`` is a right-hand side (``"~ ses"``, ``"~ I(ses**2)"``, ``"~ C(year)"``, ``"~ ses:fsm"``),
    one block of correlated random effects; or lme4's bar terms (``"(1 | school) + (0 + ses |
    school)"``, ``"(1 + ses || school)"``, ``"(1 + ses | school)"``), one block per ``|`` term and,
    for ``||``, one per term.  Terms and their variables come from patsy's parse, never from text.
    """
    if random is None:
        return None, []
    if isinstance(random, str) and "|" in random:
        blocks = _bar_terms(random.strip().lstrip("~ "), random, cluster)
    else:
        desc = parse_right_side(random, role="`random`")
        if not any(term.factors for term in desc.rhs_termlist):
            raise ModelError(f"`random={random!r}` names no variable; leave `random` out for a random intercept "
                             "only.")
        blocks = [desc]
    columns: list[str] = []
    for desc in blocks:
        columns += formula_columns(desc, data)
    return blocks, list(dict.fromkeys(columns))


def _random_design(blocks: list[patsy.ModelDesc] | None, random: str | None, frame: pd.DataFrame
                   ) -> tuple[np.ndarray, tuple, np.ndarray | None]:
    """Z (the random-effect design) for the complete rows, with lme4's column names, and each column's
    block (``None``: one block, an unstructured covariance)."""
    if blocks is None:
        return np.broadcast_to(1.0, (len(frame), 1)), ("(Intercept)",), None  # read only: no column of ones made
    parts, names, labels = [], [], []
    for k, desc in enumerate(blocks):
        plain = numeric_design(desc, frame, outcome=False)         # plain numeric columns, without patsy
        if plain is not None:
            values, columns = plain[1], plain[2]
        else:
            Z = design_matrix(desc, frame, what=f"The random part {random!r}", NA_action="raise", eval_env=2)
            values, columns = Z.to_numpy(float), Z.design_info.column_names
        parts.append(values)
        names += ["(Intercept)" if c == "Intercept" else str(c) for c in columns]
        labels += [k] * values.shape[1]
    values = parts[0] if len(parts) == 1 else np.column_stack(parts)
    if not np.isfinite(values).all():
        bad = ~np.isfinite(values)
        j = int(np.flatnonzero(bad.any(axis=0))[0])
        raise DataError(f"The random-effect term {names[j]!r} of {random!r} is not a finite number in "
                        f"{describe_rows(frame.index[bad[:, j]])}; correct or exclude those rows.")
    if not _clearly_full_rank(values) and np.linalg.matrix_rank(values) < values.shape[1]:
        raise ModelError(f"The random part {random!r} gives the columns {', '.join(names)}, which are linearly "
                         "dependent in the complete rows (a term that does not vary, a category with no "
                         "rows, or the same term twice), so their variances cannot all be estimated.")
    return values, tuple(names), (np.asarray(labels) if len(blocks) > 1 else None)


def _intercept_variance(G: np.ndarray, znames) -> float:
    """The random intercept's variance (0 without one), wherever the intercept stands in Z."""
    names = list(znames)
    return float(G[names.index("(Intercept)"), names.index("(Intercept)")]) if "(Intercept)" in names else 0.0


SCALINGS = ("cluster_size", "effective_size", "none")


def multilevel(data: pd.DataFrame, formula: str, *, cluster: str | Sequence[str], random: str | None = None,
               reml: bool | None = None, weights: dict | None = None, pupil_weight: str = "conditional",
               scaling: str = "cluster_size", ci_level: float = 0.95) -> MultilevelResult:
    """Fit a two- or three-level linear mixed model.

    Parameters
    ----------
    data : pandas.DataFrame
        Or a Dask DataFrame (with the ``dask`` extra, for data larger than memory): the per-cluster
        sufficient statistics are computed on the Dask workers and the same engine solves the model;
        two-level models without weights (see the API reference, "Data larger than memory").
    formula : str
        Fixed part, e.g. ``"ks2_score ~ belonging + fsm"`` (patsy syntax:
        ``C(x)`` for categories, ``x * z`` for interactions).
    cluster : str or [str, str]
        Clustering column (``"school_id"``), or the outer level and the level
        nested in it (``["school_id", "class_id"]``, outermost first) for three-level models.
    random : str, optional
        Random slopes at the cluster level: ``"~ ses"`` gives each cluster its own
        intercept and slope for ``ses`` with an unstructured covariance
        (lme4's ``(ses | school)``).  Any patsy terms work: ``"~ I(ses**2)"``,
        ``"~ C(year)"`` (lme4's ``(factor(year) | school)``), ``"~ ses:fsm"``.
        lme4's bar terms work too, grouped by the ``cluster`` column:
        ``"(1 + ses | school)"`` is the same unstructured model, while
        ``"(1 | school) + (0 + ses | school)"`` or ``"(1 + ses || school)"`` gives an
        intercept and a slope that are uncorrelated (their covariance fixed at 0, as in
        the WeMix vignette's Table 2); each ``|`` term is a block of correlated effects,
        and ``||`` puts each term in a block of its own.  Not combined with three levels.
    reml : bool, optional
        REML (the default without weights, as lme4) or maximum likelihood (needed to compare models
        that differ in fixed effects; :func:`compare` refits for you).  A weighted model is fitted
        by pseudo-maximum likelihood, which has no REML form: leave ``reml`` out or pass ``False``.
    weights : dict, optional
        Survey weights at both levels, ``{"pupil": column, "school": column}``: the school's weight
        (one value per school: the inverse of its probability of selection) and the pupil's weight.
        The model is then fitted by pseudo-maximum likelihood (Rabe-Hesketh & Skrondal, 2006) as
        R's WeMix fits it, and the fixed effects' standard errors are the sandwich over schools.
        Two-level models only.
    pupil_weight : {"conditional", "total"}
        What the pupil weight column holds.  ``"conditional"`` (the default): the weight of the
        pupil *within* the school, the inverse of the pupil's probability of selection given that
        the school was sampled.  ``"total"``: the pupil's full survey weight (PISA's ``W_FSTUWT``,
        TIMSS's ``TOTWGT``), the product of the school and conditional weights; the conditional
        weight is derived as ``total / school`` (what PISA users do, and what WeMix does with its
        default ``cWeights = FALSE``).
    scaling : {"cluster_size", "effective_size", "none"}
        How the conditional pupil weights are scaled within each school before fitting (the WeMix
        vignette's methods A and B; Pfeffermann et al., 1998; Rabe-Hesketh & Skrondal, 2006):
        ``"cluster_size"`` multiplies them by ``n_j / sum_i w_ij`` so they sum to the school's
        number of pupils in the sample; ``"effective_size"`` by ``sum_i w_ij / sum_i w_ij^2`` so
        they sum to the school's effective sample size; ``"none"`` uses them as given (WeMix's and
        Stata ``mixed``'s behaviour: WeMix expects weights scaled beforehand).  The default is
        ``"cluster_size"``: unscaled conditional weights make each school look as if it held as
        many pupils as it represents, which biases the school-level variance when schools
        contribute few pupils (Pfeffermann et al., 1998; Rabe-Hesketh & Skrondal, 2006, who find
        that "the scaling of the weights becomes important"); scaled to the cluster size, each
        school's pupils carry the information of the pupils actually observed, and weights that
        are constant within a school (PISA's usual case) have no effect on the estimates.  All
        three leave weights of 1 unchanged.
    ci_level : float
        Confidence level for ``ci_low`` / ``ci_high`` (t on the Satterthwaite df).

    Returns
    -------
    MultilevelResult

    Raises
    ------
    DataError
        Non-numeric outcome, no complete rows.
    ModelError
        Fewer than two clusters, perfectly collinear predictors, random-effect
        columns that are linearly dependent, or variance components that the
        data cannot identify (every cluster a single row; in three-level models
        every class a single row or every school a single class).

    Notes
    -----
    Model: :math:`y = X\\beta + Zu + e`, :math:`u \\sim N(0, \\sigma^2 \\Lambda\\Lambda')`,
    :math:`e \\sim N(0, \\sigma^2 I)`.  The REML criterion profiled over
    :math:`\\beta` and :math:`\\sigma^2` is minimised over lme4's :math:`\\theta` by
    solving its score equations (analytic scores, projected Newton from a grid
    start, zero variances handled explicitly; a fit with a zero variance or a
    correlation of +1 or -1 is reported as singular, as lme4's ``isSingular``).  :math:`\\mathrm{Var}(\\hat\\beta) = \\hat\\sigma^2 (X'V_*^{-1}X)^{-1}`.
    Satterthwaite's df for coefficient k are :math:`2 C_{kk}^2 / (g' A g)` with
    :math:`A = 2H^{-1}`, H the Hessian of the deviance in
    :math:`(\\theta, \\sigma)` and g the gradient of :math:`C_{kk}` (lmerTest).
    Rows with a missing value in any model variable (fixed or random part) are excluded and counted.
    With uncorrelated blocks of random effects, :math:`\\Lambda` is block-diagonal: its elements
    between blocks are fixed at 0 and :math:`\\theta` holds each block's lower triangle, block by
    block, as lme4 orders separate terms.
    Validated against ``lme4::lmer`` and ``lmerTest`` (tests/reference/multilevel.R, and
    tests/reference/uncorrelated.R for uncorrelated random effects).

    With ``weights``, the pseudo-log-likelihood is
    :math:`\\sum_j w_j \\log \\int \\prod_i f(y_{ij} \\mid u_j)^{a_{ij}} \\phi(u_j)\\,du_j`, with
    :math:`w_j` the school weight and :math:`a_{ij}` the scaled conditional pupil weight; for the
    linear model the integral is closed, so the fit is the same Newton on the profiled criterion,
    from the weighted per-school cross-products.  The residual variance is the weighted
    :math:`\\hat\\sigma^2 = r'V_*^{-1}r / \\sum_{ij} w_j a_{ij}` and ``loglik`` is the
    pseudo-log-likelihood (as WeMix reports it; it is not a likelihood, so ``aic``, ``bic`` and
    :func:`compare` do not apply and are NaN or refused).  The fixed effects' covariance is the
    sandwich :math:`\\frac{J}{J-1} A^{-1} (\\sum_j w_j^2 g_j g_j') A^{-1}` over the J schools, with
    :math:`A = \\sum_j w_j X_j'V_{*j}^{-1}X_j` and :math:`g_j` the school's score (WeMix's robust
    standard errors); intervals and p-values are normal-theory (``df`` is infinite).  The
    variance components' standard errors (``variance["se"]``) are WeMix's sandwich in the
    variance parameters :math:`(\\theta, \\sigma)`, with the fixed effects held at their
    estimates, carried to the variances by the delta method.  With all
    weights equal to 1 the estimates are the unweighted ML fit's.  Validated against R's WeMix
    (tests/reference/wemix.R) and the WeMix vignette's published Tables 1 and 2.

    A plain reading: the fixed effects are average relationships across
    schools; the variance components say how much schools (and classes)
    differ beyond what the predictors explain.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> d = pd.DataFrame({"school": np.repeat(np.arange(30), 25), "x": rng.normal(size=750)})
    >>> d["y"] = 2 + 0.4 * d["x"] + rng.normal(0, 0.6, 30)[d["school"]] + rng.normal(size=750)
    >>> m = multilevel(d, "y ~ x", cluster="school")
    >>> round(float(m.fixed.loc["x", "estimate"]), 2), round(m.icc, 2)
    (0.4, 0.24)
    """
    if _is_dask(data):
        return _multilevel_dask(data, formula, cluster, random, reml, weights, ci_level)
    data = as_frame(data)
    level = check_probability("ci_level", ci_level)
    group_cols = as_list(cluster)
    if not 1 <= len(group_cols) <= 2:
        raise DataError("`cluster` takes one clustering column, or two (outermost first) for three levels.")
    require_columns(data, group_cols, role="cluster column")
    if weights is not None:
        return _multilevel_weighted(data, formula, group_cols, random, reml, weights, pupil_weight, scaling, level)
    if reml is None:
        reml = True
    if len(group_cols) == 2 and random is not None:
        raise DataError("Random slopes are supported in two-level models only; drop `random` or one level.")
    random_desc, random_vars = _random_terms(random, data, group_cols[0])
    design = build_design(formula, data, extra=group_cols + random_vars)
    check_rank(design.X, design.names)
    frame = design.frame
    top, n_top = _codes(frame[group_cols[0]])
    if n_top < 2:
        raise ModelError(f"The cluster column {group_cols[0]!r} has only one cluster in the complete rows; "
                         "a multilevel model needs at least two (and preferably 20 or more) clusters.")
    if np.ptp(design.y) == 0:
        raise ModelError(f"The outcome {design.outcome!r} has the same value ({design.y[0]:g}) in all "
                         f"{len(design.y)} complete rows; there is no variance to model.")
    nested = None
    n_clusters = {group_cols[0]: n_top}
    if len(group_cols) == 2:
        # nested level: make labels unique within the top level
        pair = frame[group_cols[0]].astype(str) + "\x1f" + frame[group_cols[1]].astype(str)
        nested, n_nested = _codes(pair)
        n_clusters[group_cols[1]] = n_nested
    Z, znames, blocks = _random_design(random_desc, random, frame)
    y, X, n = design.y, design.X, len(design.y)

    _check_identified(top, n_top, nested, group_cols)
    if nested is None:
        fit, engine = _lmm.fit_two_level(y, X, Z, top, n_top, reml=reml, satterthwaite_df=True,
                                           blocks=blocks)
        method = ("profiled REML/ML by Newton on the score equations, from per-cluster sufficient statistics"
                  if reml else "profiled ML by Newton on the score equations, from per-cluster sufficient statistics")
    else:
        fit, engine = _lmm.fit_nested(y, X, top, nested, reml=reml, satterthwaite_df=True)
        method = "profiled REML/ML by Newton on the score equations, from class-level sufficient statistics"
    G, nested_var = engine.random_covariance(fit.theta, fit.sigma2)
    fitted_fixed = X @ fit.beta
    var_f = float(np.var(fitted_fixed, ddof=1)) if n > 1 else 0.0
    # the mean over rows of z_i'G z_i is sum(G * Z'Z) / n; a two-level engine holds Z'Z (summed over clusters)
    ztz = getattr(engine, "sum_ztz", None)
    zgz = float(np.sum(G * ztz)) / n if ztz is not None else float(np.mean(np.einsum("ij,jk,ik->i", Z, G, Z)))
    var_r = zgz + (nested_var or 0.0)
    spec = {"formula": formula, "data": data, "cluster": group_cols, "random": random, "ci_level": level,
            "weights": None}
    return _unweighted_result(fit, engine, design.names, znames, blocks, group_cols, n_clusters, var_f, var_r, n,
                              design.n_excluded, design.ledger, reml, formula, random, method, level, spec)


def _unweighted_result(fit, engine, names, znames, blocks, group_cols, n_clusters, var_f, var_r, n, n_excluded,
                       ledger, reml, formula, random, method, level, spec) -> MultilevelResult:
    """The result of an unweighted fit, from the engine's fit and the two variances of Nakagawa's R2
    (of the fitted fixed part, and the random part's mean variance)."""
    G, nested_var = engine.random_covariance(fit.theta, fit.sigma2)
    n_theta = engine.n_theta
    p = len(names)

    if fit.boundary:
        warnings.warn(_lmm.SINGULAR_MESSAGE, BelongingWarning, stacklevel=3)
    if not fit.converged:
        warnings.warn(f"The REML/ML iterations stopped before the score equations were solved (largest relative "
                      f"score {fit.gradient:.2g}); treat the estimates with caution.", BelongingWarning,
                      stacklevel=3)

    fixed = coef_table(names, fit.beta, np.sqrt(np.diag(fit.vcov)),
                       np.asarray(fit.df_satterthwaite, dtype=float), ci_level=level)
    rows = []
    for i, zi in enumerate(znames):
        rows.append({"cluster": group_cols[0], "term": zi, "variance": G[i, i], "sd": np.sqrt(G[i, i])})
    for i in range(len(znames)):
        for j in range(i + 1, len(znames)):
            if blocks is not None and blocks[i] != blocks[j]:
                continue                                        # uncorrelated by the model: no row
            cov = G[i, j]
            sd_i, sd_j = np.sqrt(G[i, i]), np.sqrt(G[j, j])    # separately: the product may underflow
            corr = cov / (sd_i * sd_j) if sd_i * sd_j > 0 else np.nan
            rows.append({"cluster": group_cols[0], "term": f"cov({znames[i]}, {znames[j]})",
                         "variance": cov, "sd": np.nan, "corr": corr})
    if nested_var is not None:
        rows.append({"cluster": group_cols[1], "term": "(Intercept)", "variance": nested_var,
                     "sd": np.sqrt(nested_var)})
    rows.append({"cluster": "Residual", "term": "", "variance": fit.sigma2, "sd": np.sqrt(fit.sigma2)})
    variance = pd.DataFrame(rows)
    if "corr" not in variance:
        variance["corr"] = np.nan
    variance.index = [f"{r['cluster']}: {r['term']}" if r["term"] else "Residual" for r in rows]

    intercept_var = _intercept_variance(G, znames)
    total0 = intercept_var + (nested_var or 0.0) + fit.sigma2
    icc_levels = {group_cols[0]: intercept_var / total0}
    if nested_var is not None:
        icc_levels[group_cols[1]] = nested_var / total0
    denom = var_f + var_r + fit.sigma2
    k = p + n_theta + 1
    aic = -2 * fit.loglik + 2 * k
    bic = -2 * fit.loglik + np.log(n) * k
    return MultilevelResult(fixed, variance, float(icc_levels[group_cols[0]]), icc_levels, fit.loglik, float(aic),
                            float(bic), float(var_f / denom), float((var_f + var_r) / denom), n, n_excluded,
                            n_clusters, reml, formula, tuple(group_cols), random, fit.boundary, fit.converged,
                            method, ledger, level, spec)


# ----------------------------------------------------------------------------- Dask DataFrames

def _is_dask(data) -> bool:
    module = type(data).__module__.split(".")[0]
    return module in ("dask", "dask_expr") and hasattr(data, "map_partitions")


def _multilevel_dask(data, formula, cluster, random, reml, weights, ci_level) -> MultilevelResult:
    """:func:`multilevel` on a Dask DataFrame: the per-cluster blocks come from a Dask group-by on the
    workers (:mod:`belonging_lib.models._distributed`) and go to the same engine as an in-memory fit."""
    from . import _distributed

    if not _distributed.is_dask_frame(data):
        raise DataError(f"`data` must be a pandas or a Dask DataFrame, but a {type(data).__name__} was passed "
                        "(for a Dask Series, select the columns as a DataFrame).")
    level = check_probability("ci_level", ci_level)
    group_cols = as_list(cluster)
    if weights is not None:
        raise ModelError("A weighted multilevel model (`weights`) is not fitted from a Dask DataFrame: its "
                         "sandwich standard errors need each school's score at the estimates, a second pass that "
                         "this path does not make. Fit it from a pandas DataFrame (PISA-size data fit in memory).")
    if len(group_cols) != 1:
        raise ModelError("Three-level models (two `cluster` columns) are not fitted from a Dask DataFrame: the "
                         "engine works from class sums within schools, which this path does not compute. Fit it "
                         "from a pandas DataFrame, or fit two levels.")
    if reml is None:
        reml = True
    # the random part is read from the columns' names and types (the DataFrame's metadata)
    random_desc, random_vars = _random_terms(random, data._meta, group_cols[0])
    blk = _distributed.cluster_blocks(data, formula, group_cols[0], random_desc, random, random_vars)
    ledger = RowLedger("rows", start=blk.n_rows, source="the data")
    remaining = blk.n_rows
    for col, count in blk.dropped:
        ledger.record(f"complete {col}", n_in=remaining, n_out=remaining - count, reason=f"{col} missing")
        remaining -= count
    n, J = blk.n, len(blk.labels)
    if J < 2:
        raise ModelError(f"The cluster column {group_cols[0]!r} has only one cluster in the complete rows; "
                         "a multilevel model needs at least two (and preferably 20 or more) clusters.")
    p = len(blk.names)
    if n <= p:
        raise ModelError(f"The model has {p} coefficients but only {n} complete rows.")
    _distributed.check_gram_rank(blk.wtw[:p, :p], blk.names, "predictors")
    yy, ysum = blk.wtw[p, p], float(blk.wsum[p])
    if yy - ysum * ysum / n <= 1e-14 * max(yy, 1e-300):
        raise ModelError(f"The outcome {blk.outcome!r} has the same value in all {n} complete rows; there is no "
                         "variance to model.")
    if blk.sizes.max() < 2:
        raise ModelError(f"Every cluster of {group_cols[0]!r} has a single row ({J} clusters, {n} rows), so the "
                         "between-cluster and within-cluster variances cannot be told apart; the model is not "
                         "identified. Fit a single-level regression, or use a clustering with several rows per "
                         "cluster.")
    if random is not None:
        _distributed.check_gram_rank(blk.ztz.sum(axis=0), blk.znames, f"columns of the random part {random!r}")
    engine = _lmm.TwoLevel(blk.ztz, blk.ztw, blk.wtw, n)
    if blk.z_labels is not None:
        engine.restrict_to_blocks(blk.z_labels)
    fit = _lmm.fit(engine, reml=reml, satterthwaite_df=True)
    G, _ = engine.random_covariance(fit.theta, fit.sigma2)
    beta = np.asarray(fit.beta, float)
    total = float(blk.wsum[:p] @ beta)
    var_f = float((beta @ blk.wtw[:p, :p] @ beta - total * total / n) / (n - 1)) if n > 1 else 0.0
    var_r = float(np.sum(G * engine.sum_ztz)) / n
    method = (f"profiled {'REML' if reml else 'ML'} by Newton on the score equations, from per-cluster sufficient "
              "statistics computed by a Dask group-by")
    spec = {"formula": formula, "data": data, "cluster": group_cols, "random": random, "ci_level": level,
            "weights": None}
    return _unweighted_result(fit, engine, blk.names, blk.znames, blk.z_labels, group_cols, {group_cols[0]: J},
                              var_f, var_r, n, blk.n_rows - n, ledger, reml, formula, random, method, level, spec)


def null_model(data: pd.DataFrame, *, outcome: str, cluster: str | Sequence[str], reml: bool = True
               ) -> MultilevelResult:
    """The intercept-only model, whose ICC says how much of the outcome lies between clusters.

    Examples
    --------
    >>> rng = np.random.default_rng(2)
    >>> d = pd.DataFrame({"school": np.repeat(np.arange(40), 30)})
    >>> d["y"] = rng.normal(0, 0.5, 40)[d["school"]] + rng.normal(size=1200)
    >>> round(null_model(d, outcome="y", cluster="school").icc, 2)
    0.16
    """
    if not isinstance(outcome, str):
        raise DataError(f"`outcome` must be a column name, but a {type(outcome).__name__} was passed.")
    term = outcome if outcome.isidentifier() else f"Q({outcome!r})"
    return multilevel(data, f"{term} ~ 1", cluster=cluster, reml=reml)


@dataclasses.dataclass(frozen=True)
class LikelihoodRatioTest(Result):
    """Likelihood-ratio test of two nested multilevel models (:func:`compare`).

    Attributes
    ----------
    statistic, df, p : float
        The chi-squared statistic, its df (the difference in parameters) and p-value.
    table : pandas.DataFrame
        One row per model (indexed by formula): ``n_par``, ``aic``, ``bic``, ``loglik``, ``deviance``.
    method : str
        ``"ML"`` or, where REML fits were refitted by ML first, ``"ML (refitted from REML)"``.
    n : int
        Rows used by both models.
    """

    statistic: float
    df: int
    p: float
    table: pd.DataFrame
    method: str
    n: int

    title = "Likelihood-ratio test"

    def to_frame(self) -> pd.DataFrame:
        """One row per model; the larger model's row holds ``statistic``, ``df`` and ``p``."""
        out = self.table.copy()
        out.insert(0, "statistic", [np.nan, self.statistic])
        out.insert(1, "df", [np.nan, self.df])
        out.insert(2, "p", [np.nan, self.p])
        out.index.name = "model"
        return out

    def notes(self) -> list[str]:
        return [f"chi-squared({self.df}) = {self.statistic:.3f}, p = {self.p:.3g}; {self.method} fits; "
                f"N = {self.n}."]


def compare(smaller: MultilevelResult, larger: MultilevelResult) -> LikelihoodRatioTest:
    """Likelihood-ratio test of two nested models (as ``anova()`` in lme4).

    Models fitted by REML are refitted by ML first (lme4 does the same),
    because REML likelihoods of models with different fixed effects are not
    comparable.  Both models must use the same rows.

    Returns
    -------
    LikelihoodRatioTest
    """
    models = []
    refit = False
    if any(m._spec.get("weights") for m in (smaller, larger)):
        raise ModelError("A weighted model's log-likelihood is a pseudo-likelihood (a sum weighted by the survey "
                         "weights), so a likelihood-ratio test of two weighted models has no chi-squared "
                         "distribution; compare their fixed effects with the sandwich standard errors instead.")
    for m in (smaller, larger):
        if m.reml:
            refit = True
            spec = m._spec
            m = multilevel(spec["data"], spec["formula"], cluster=spec["cluster"], random=spec["random"],
                           reml=False)
        models.append(m)
    a, b = models
    if a.n != b.n:
        raise DataError(f"The models use different rows ({a.n} and {b.n}); fit both on the same complete "
                        "rows before comparing them.")
    k_a = len(a.fixed) + len(a.variance)
    k_b = len(b.fixed) + len(b.variance)
    if k_b <= k_a:
        raise DataError("The second model must have more parameters than the first (nested models).")
    chisq = max(2 * (b.loglik - a.loglik), 0.0)
    df = k_b - k_a
    table = pd.DataFrame({
        "n_par": [k_a, k_b], "aic": [a.aic, b.aic], "bic": [a.bic, b.bic], "loglik": [a.loglik, b.loglik],
        "deviance": [-2 * a.loglik, -2 * b.loglik],
    }, index=[a.formula, b.formula])
    return LikelihoodRatioTest(float(chisq), int(df), float(stats.chi2.sf(chisq, df)), table,
                               "ML (refitted from REML)" if refit else "ML", int(a.n))


# ----------------------------------------------------------------------------- weighted (pseudo-ML) models

def _weight_columns(data: pd.DataFrame, weights, pupil_weight: str) -> tuple[str, str]:
    """The pupil and school weight columns named by ``weights``, checked."""
    if not isinstance(weights, dict) or set(weights) != {"pupil", "school"}:
        raise DataError("`weights` takes the two weight columns as {'pupil': column, 'school': column}, but "
                        f"{weights!r} was passed.")
    if pupil_weight not in ("conditional", "total"):
        raise DataError(f"`pupil_weight` is 'conditional' (the pupil's weight within the school) or 'total' (the "
                        f"pupil's full survey weight), not {pupil_weight!r}.")
    cols = [weights["pupil"], weights["school"]]
    require_columns(data, cols, role="weight column")
    for col in cols:
        values = pd.to_numeric(data[col], errors="coerce")
        text = data[col].notna() & values.isna()
        if text.any():
            rows = [i + 1 for i in np.flatnonzero(text.to_numpy())]
            raise DataError(f"The weight column {col!r} must be numeric, but {describe_rows(rows)} (counted from 1) "
                            f"hold{'s' if len(rows) == 1 else ''} {data[col][text].iloc[0]!r}.")
        bad = values.notna() & ~(np.isfinite(values) & (values > 0))
        if bad.any():
            rows = [i + 1 for i in np.flatnonzero(bad.to_numpy())]
            raise DataError(f"The weight column {col!r} must hold positive finite weights, but {describe_rows(rows)} "
                            f"(counted from 1) hold{'s' if len(rows) == 1 else ''} {values[bad].iloc[0]!r}; a "
                            "pupil or school with a zero weight represents no one and should be dropped first.")
    return cols[0], cols[1]


def _school_weights(frame: pd.DataFrame, col: str, codes: np.ndarray, n_top: int, cluster: str) -> np.ndarray:
    """One weight per school, refusing a school weight that varies within a school."""
    w = frame[col].to_numpy(float)
    lo = np.full(n_top, np.inf)
    hi = np.full(n_top, -np.inf)
    np.minimum.at(lo, codes, w)
    np.maximum.at(hi, codes, w)
    varies = hi - lo > 1e-9 * np.maximum(1.0, np.abs(hi))
    if varies.any():
        j = int(np.flatnonzero(varies)[0])
        label = frame[cluster].to_numpy()[np.flatnonzero(codes == j)[0]]
        raise DataError(f"The school weight {col!r} must be the same for every pupil of a school, but it varies "
                        f"within {int(varies.sum())} schools of {cluster!r} (for example {label!r}: from {lo[j]:g} "
                        f"to {hi[j]:g}).")
    return lo


def _scale_pupil_weights(conditional, codes, n_clusters: int, scaling: str) -> np.ndarray:
    """Scale conditional pupil weights within each cluster (see :func:`multilevel`, ``scaling``)."""
    a = np.asarray(conditional, float)
    codes = np.asarray(codes, dtype=np.int64)
    if scaling == "none":
        return a.copy()
    s1 = np.bincount(codes, weights=a, minlength=n_clusters)
    if scaling == "cluster_size":
        factor = np.bincount(codes, minlength=n_clusters) / s1
    elif scaling == "effective_size":
        factor = s1 / np.bincount(codes, weights=a * a, minlength=n_clusters)
    else:
        raise DataError(f"`scaling` is one of {', '.join(repr(s) for s in SCALINGS)}, not {scaling!r}.")
    return a * factor[codes]


def _multilevel_weighted(data, formula, group_cols, random, reml, weights, pupil_weight, scaling, level):
    if reml:
        raise ModelError("A weighted multilevel model is fitted by pseudo-maximum likelihood, which has no REML "
                         "form (as in WeMix and Stata's mixed with pweights); leave `reml` out or pass reml=False.")
    if len(group_cols) != 1:
        raise DataError("Weighted multilevel models take one clustering column (pupils in schools); three levels "
                        "with weights are not supported.")
    if scaling not in SCALINGS:
        raise DataError(f"`scaling` is one of {', '.join(repr(s) for s in SCALINGS)}, not {scaling!r}.")
    wp, ws = _weight_columns(data, weights, pupil_weight)
    random_desc, random_vars = _random_terms(random, data, group_cols[0])
    design = build_design(formula, data, extra=group_cols + random_vars + [wp, ws])
    check_rank(design.X, design.names)
    frame = design.frame
    top, n_top = _codes(frame[group_cols[0]])
    if np.ptp(design.y) == 0:
        raise ModelError(f"The outcome {design.outcome!r} has the same value ({design.y[0]:g}) in all "
                         f"{len(design.y)} complete rows; there is no variance to model.")
    _check_identified(top, n_top, None, group_cols)
    Z, znames, blocks = _random_design(random_desc, random, frame)
    school_w = _school_weights(frame, ws, top, n_top, group_cols[0])
    pupil = frame[wp].to_numpy(float)
    conditional = pupil / school_w[top] if pupil_weight == "total" else pupil
    a = _scale_pupil_weights(conditional, top, n_top, scaling)
    fit, engine, vcov = _fit_weighted_arrays(design.y, design.X, Z, top, n_top, a, school_w, blocks)
    out = _weighted_result(fit, engine, vcov, design, Z, znames, group_cols, n_top, level, a * school_w[top],
                           formula, random)
    spec = {"formula": formula, "data": data, "cluster": group_cols, "random": random, "ci_level": level,
            "weights": dict(weights), "pupil_weight": pupil_weight, "scaling": scaling}
    return dataclasses.replace(out, _spec=spec)


def _fit_weighted_arrays(y, X, Z, codes, n_clusters, pupil_w, cluster_w, blocks=None):
    """Pseudo-ML fit and sandwich covariance from arrays (conditional pupil weights already scaled)."""
    try:
        fit, engine = _lmm.fit_weighted(y, X, Z, codes, n_clusters, pupil_w, cluster_w, blocks=blocks)
    except np.linalg.LinAlgError:
        raise ModelError("The weighted fixed-effect design is singular (a predictor that does not vary once "
                         "weighted?); the fixed effects cannot be estimated.") from None
    vcov = _lmm.sandwich(engine, fit.theta, fit.beta, fit.vcov / fit.sigma2)
    return fit, engine, vcov


def _varcomp_statistics(engine, x, pairs, icol, fisher: bool) -> np.ndarray:
    """The random-effect variances, the covariances of ``pairs`` (their correlations on Fisher's z
    scale when ``fisher``), the residual variance and the ICC at ``x = (theta, sigma)``."""
    L = engine.lam(x[:-1])
    s2 = float(x[-1]) ** 2
    G = s2 * np.einsum("ab,cb->ac", L, L)
    out = [G[i, i] for i in range(engine.q)]
    for i, j in pairs:
        if not fisher:
            out.append(G[i, j])
            continue
        den = np.sqrt(G[i, i]) * np.sqrt(G[j, j])
        r = G[i, j] / den if den > 0 else 0.0
        out.append(np.arctanh(np.clip(r, -1 + 1e-15, 1 - 1e-15)))
    tau = G[icol, icol] if icol is not None else 0.0
    return np.array(out + [s2, tau / (tau + s2)])


def _varcomp_covariance(engine, fit, pairs, icol, fisher: bool) -> np.ndarray:
    """Sandwich covariance of :func:`_varcomp_statistics` (WeMix's, carried by the delta method);
    NaN where it cannot be computed (a variance on the boundary at 0)."""
    x0 = np.r_[np.asarray(fit.theta, float), np.sqrt(fit.sigma2)]
    k = len(_varcomp_statistics(engine, x0, pairs, icol, fisher))
    if fit.boundary:
        return np.full((k, k), np.nan)
    try:
        with np.errstate(divide="ignore", invalid="ignore"):
            V = _lmm.variance_sandwich(engine, fit)
            jac = np.column_stack([
                _lmm._richardson(lambda x: _varcomp_statistics(engine, x, pairs, icol, fisher), x0, i,
                                 1e-4 * max(abs(x0[i]), 1e-2)) for i in range(len(x0))])
    except np.linalg.LinAlgError:
        return np.full((k, k), np.nan)
    return np.einsum("ia,ab,jb->ij", jac, V, jac)


def _weighted_result(fit, engine, vcov, design, Z, znames, group_cols, n_top, level, total_w, formula, random):
    if fit.boundary:
        warnings.warn(_lmm.SINGULAR_MESSAGE, BelongingWarning, stacklevel=3)
    if not fit.converged:
        warnings.warn(f"The pseudo-ML iterations stopped before the score equations were solved (largest relative "
                      f"score {fit.gradient:.2g}); treat the estimates with caution.", BelongingWarning, stacklevel=3)
    fixed = coef_table(design.names, fit.beta, np.sqrt(np.diag(vcov)), np.inf, ci_level=level)
    G, _ = engine.random_covariance(fit.theta, fit.sigma2)
    rows = []
    for i, zi in enumerate(znames):
        rows.append({"cluster": group_cols[0], "term": zi, "variance": G[i, i], "sd": np.sqrt(G[i, i])})
    blocks = engine.blocks
    for i in range(len(znames)):
        for j in range(i + 1, len(znames)):
            if blocks is not None and blocks[i] != blocks[j]:
                continue
            sd_i, sd_j = np.sqrt(G[i, i]), np.sqrt(G[j, j])
            corr = G[i, j] / (sd_i * sd_j) if sd_i * sd_j > 0 else np.nan
            rows.append({"cluster": group_cols[0], "term": f"cov({znames[i]}, {znames[j]})", "variance": G[i, j],
                         "sd": np.nan, "corr": corr})
    rows.append({"cluster": "Residual", "term": "", "variance": fit.sigma2, "sd": np.sqrt(fit.sigma2)})
    variance = pd.DataFrame(rows)
    if "corr" not in variance:
        variance["corr"] = np.nan
    variance.index = [f"{r['cluster']}: {r['term']}" if r["term"] else "Residual" for r in rows]
    pairs = [(i, j) for i in range(len(znames)) for j in range(i + 1, len(znames))
             if blocks is None or blocks[i] == blocks[j]]
    icol = list(znames).index("(Intercept)") if "(Intercept)" in znames else None
    vc = _varcomp_covariance(engine, fit, pairs, icol, fisher=False)
    variance["se"] = np.sqrt(np.diag(vc))[:-1]                  # the last statistic is the ICC
    intercept_var = _intercept_variance(G, znames)
    icc = intercept_var / (intercept_var + fit.sigma2)
    X = design.X
    fitted = X @ fit.beta
    wsum = float(np.sum(total_w))
    mean_f = float(np.sum(total_w * fitted)) / wsum
    var_f = float(np.sum(total_w * (fitted - mean_f) ** 2)) / wsum
    var_r = float(np.sum(total_w * np.einsum("ij,jk,ik->i", Z, G, Z))) / wsum
    denom = var_f + var_r + fit.sigma2
    n = len(design.y)
    method = ("pseudo-maximum likelihood with survey weights at both levels (Rabe-Hesketh & Skrondal, 2006; as "
              "WeMix), Newton on the score equations from weighted per-school sufficient statistics; sandwich "
              "standard errors over schools")
    return MultilevelResult(fixed, variance, float(icc), {group_cols[0]: float(icc)}, float(fit.loglik), np.nan,
                            np.nan, float(var_f / denom), float((var_f + var_r) / denom), n, design.n_excluded,
                            {group_cols[0]: n_top}, False, formula, tuple(group_cols), random, fit.boundary, fit.converged, method, design.ledger, level, {})
