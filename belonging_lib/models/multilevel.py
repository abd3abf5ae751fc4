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
from .._results import Result, RowLedger
from .._validation import as_frame, as_list, check_probability, describe_rows, require_columns
from . import _lmm
from ._design import build_design, check_rank

__all__ = ["MultilevelResult", "multilevel", "null_model", "compare", "fit_random_intercept"]


@dataclasses.dataclass(frozen=True)
class MultilevelResult(Result):
    """A fitted multilevel model.

    Attributes
    ----------
    fixed : pandas.DataFrame
        Indexed by term: ``estimate``, ``se``, ``df`` (Satterthwaite),
        ``statistic`` (t), ``p_value`` (and ``p``, the same, named as in the
        issue tracker's interface), ``ci_low``, ``ci_high``.
    variance : pandas.DataFrame
        Variance components: one row per random-effect variance (and
        covariance) and the residual, with ``group``, ``term``, ``variance``, ``sd``.
    icc : float
        Share of the total variance at the top grouping level (for random
        slopes: at the random-effect variables' zero).
    icc_levels : dict
        ICC per grouping level (three-level models).
    loglik, aic, bic : float
        As ``logLik``, ``AIC``, ``BIC`` of lme4 (REML or ML as fitted).
    r2 : dict
        Nakagawa's ``marginal`` and ``conditional`` R-squared.
    n, n_excluded : int
        Rows used, and rows excluded for missing values (see ``ledger``).
    n_groups : dict
        Number of groups per grouping level.
    """

    fixed: pd.DataFrame
    variance: pd.DataFrame
    icc: float
    icc_levels: dict
    loglik: float
    aic: float
    bic: float
    r2: dict
    n: int
    n_excluded: int
    n_groups: dict
    reml: bool
    formula: str
    groups: tuple
    random: str | None
    boundary: bool
    converged: bool
    method: str
    ledger: RowLedger
    _spec: dict = dataclasses.field(repr=False, compare=False, default_factory=dict)

    title = "Multilevel model"

    @property
    def p(self) -> pd.Series:
        """Satterthwaite p-values (alias of ``fixed["p_value"]``)."""
        return self.fixed["p_value"]

    def to_frame(self) -> pd.DataFrame:
        out = self.fixed.drop(columns=["p"]).reset_index()
        out["n"] = self.n
        return out

    def notes(self) -> list[str]:
        groups = ", ".join(f"{k}: {v}" for k, v in self.n_groups.items())
        comps = "; ".join(f"{r.group} {r.term}: {r.variance:.4g}" for r in self.variance.itertuples())
        lines = [f"{'REML' if self.reml else 'ML'} fit ({self.method}); N = {self.n} ({groups}); "
                 f"{self.n_excluded} rows excluded for missing values.",
                 f"Variance components: {comps}. ICC = {self.icc:.3f}.",
                 f"logLik = {self.loglik:.3f}, AIC = {self.aic:.2f}, BIC = {self.bic:.2f}; "
                 f"R2 marginal = {self.r2['marginal']:.3f}, conditional = {self.r2['conditional']:.3f}.",
                 "df and p-values: Satterthwaite (as lmerTest)."]
        if self.boundary:
            lines.append(_lmm.SINGULAR_MESSAGE)
        return lines


def _codes(values) -> tuple[np.ndarray, int]:
    codes, uniques = pd.factorize(pd.Series(values), sort=True)
    return codes.astype(np.int64), len(uniques)


def fit_random_intercept(y, X, groups, *, reml: bool = True, satterthwaite: bool = False) -> _lmm.LMMFit:
    """Fit ``y = X beta + u_group + e`` exactly, fast, on arrays (no formula).

    For loops (bootstraps, permutations, power simulations).  Uses per-cluster
    sufficient statistics: one pass over the data and a one-dimensional
    optimisation over the variance ratio.

    Parameters
    ----------
    y : array (n,)
    X : array (n, p)
        Fixed-effect design including the intercept column.
    groups : array (n,)
        Cluster labels.
    reml : bool
    satterthwaite : bool
        Also compute Satterthwaite df (slower; off by default in loops).

    Returns
    -------
    LMMFit
        ``beta``, ``vcov``, ``sigma2``, ``theta`` (tau / sigma), ``loglik``,
        and ``tau2 = (theta * sigma)^2`` via :func:`tau2`.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> g = np.repeat(np.arange(50), 20)
    >>> x = rng.normal(size=1000)
    >>> y = 1 + 0.5 * x + rng.normal(0, 0.5, 50)[g] + rng.normal(size=1000)
    >>> fit = fit_random_intercept(y, np.column_stack([np.ones(1000), x]), g)
    >>> round(float(fit.beta[1]), 2)
    0.5
    """
    y = np.asarray(y, dtype=float)
    X = np.asarray(X, dtype=float)
    if y.ndim != 1 or X.ndim != 2 or X.shape[0] != len(y) or len(groups) != len(y):
        raise DataError(f"`y` (shape {y.shape}), `X` (shape {X.shape}) and `groups` ({len(groups)} labels) "
                        "must have one entry or row per observation.")
    bad = ~np.isfinite(y) | ~np.isfinite(X).all(axis=1) | pd.isna(pd.Series(groups)).to_numpy()
    if bad.any():
        rows = np.nonzero(bad)[0]
        raise DataError(f"`y`, `X` and `groups` must be complete and finite, but {describe_rows(rows)} "
                        f"hold missing or infinite values ({len(rows)} in all).")
    n, p = X.shape
    if n <= p:
        raise ModelError(f"A random-intercept model with {p} fixed effects needs more than {p} observations, "
                         f"but {n} were passed.")
    if np.ptp(y) == 0:
        raise ModelError(f"`y` has the same value ({y[0]:g}) in all {n} observations; there is no variance "
                         "to model.")
    codes, n_groups = _codes(groups)
    _check_identified(codes, n_groups, None, ["groups"])
    try:
        return _lmm.fit_random_intercept(y, X, codes, n_groups, reml=reml, satterthwaite_df=satterthwaite)
    except np.linalg.LinAlgError:
        raise ModelError(f"The {p} columns of `X` are linearly dependent (a constant or duplicated "
                         "predictor?); the fixed effects cannot be estimated.") from None


def _check_identified(top: np.ndarray, n_top: int, nested: np.ndarray | None, group_cols) -> None:
    """Variance components need clusters with more than one row (issue 20)."""
    if n_top < 2:
        raise ModelError(f"The grouping column {group_cols[0]!r} has only one group; the between-group variance "
                         "cannot be estimated (a multilevel model needs at least two, preferably 20 or more, "
                         "groups).")
    sizes = np.bincount(top, minlength=n_top)
    if nested is None:
        if sizes.max() < 2:
            raise ModelError(f"Every group of {group_cols[0]!r} has a single row ({n_top} groups, {len(top)} rows), "
                             "so the between-group and within-group variances cannot be told apart; the model is "
                             "not identified. Fit a single-level regression, or use a grouping with several rows "
                             "per group.")
        return
    class_sizes = np.bincount(nested)
    if class_sizes.max() < 2:
        raise ModelError(f"Every group of {group_cols[1]!r} has a single row, so the {group_cols[1]!r} variance "
                         "cannot be told apart from the residual variance; the three-level model is not "
                         f"identified. Drop {group_cols[1]!r} from `groups`.")
    classes_per_top = np.bincount(top[np.unique(nested, return_index=True)[1]], minlength=n_top)
    if classes_per_top.max() < 2:
        raise ModelError(f"Every group of {group_cols[0]!r} holds a single {group_cols[1]!r} group, so the two "
                         "levels' variances cannot be told apart; the three-level model is not identified. Drop "
                         "one level from `groups`.")


def tau2(fit: _lmm.LMMFit) -> float:
    """Random-intercept variance of a :func:`fit_random_intercept` result."""
    return float(fit.theta[0] ** 2 * fit.sigma2)


def _random_design(random: str | None, frame: pd.DataFrame) -> tuple[np.ndarray, tuple]:
    if random is None:
        return np.ones((len(frame), 1)), ("(Intercept)",)
    rhs = random.strip()
    if rhs.startswith("~"):
        rhs = rhs[1:]
    Z = patsy.dmatrix(rhs, frame, return_type="dataframe", NA_action="raise")
    names = tuple("(Intercept)" if c == "Intercept" else str(c) for c in Z.columns)
    return Z.to_numpy(float), names


def multilevel(formula: str, data: pd.DataFrame, *, groups: str | Sequence[str], random: str | None = None,
               reml: bool = True, ci: float = 0.95) -> MultilevelResult:
    """Fit a two- or three-level linear mixed model.

    Parameters
    ----------
    formula : str
        Fixed part, e.g. ``"ks2_score ~ belonging + fsm"`` (patsy syntax:
        ``C(x)`` for categories, ``x * z`` for interactions).
    data : pandas.DataFrame
    groups : str or [str, str]
        Grouping column (``"school_id"``), or the top level and the level
        nested in it (``["school_id", "class_id"]``) for three-level models.
    random : str, optional
        Random slopes at the top level: ``"~ses"`` gives each group its own
        intercept and slope for ``ses`` with an unstructured covariance
        (lme4's ``(ses | school)``).  Not combined with three levels.
    reml : bool
        REML (default, as lme4) or maximum likelihood (needed to compare models
        that differ in fixed effects; :func:`compare` refits for you).
    ci : float
        Confidence level for ``ci_low`` / ``ci_high`` (t on the Satterthwaite df).

    Returns
    -------
    MultilevelResult

    Raises
    ------
    DataError
        Non-numeric outcome, no complete rows.
    ModelError
        Fewer than two groups, perfectly collinear predictors, or variance
        components that the data cannot identify (every group a single row;
        in three-level models every class a single row or every school a
        single class).

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
    Rows with a missing value in any model variable are excluded and counted.
    Validated against ``lme4::lmer`` and ``lmerTest`` (tests/reference/multilevel.R).

    A plain reading: the fixed effects are average relationships across
    schools; the variance components say how much schools (and classes)
    differ beyond what the predictors explain.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> d = pd.DataFrame({"school": np.repeat(np.arange(30), 25), "x": rng.normal(size=750)})
    >>> d["y"] = 2 + 0.4 * d["x"] + rng.normal(0, 0.6, 30)[d["school"]] + rng.normal(size=750)
    >>> m = multilevel("y ~ x", d, groups="school")
    >>> round(float(m.fixed.loc["x", "estimate"]), 2), round(m.icc, 2)
    (0.4, 0.24)
    """
    data = as_frame(data)
    level = check_probability("ci", ci)
    group_cols = as_list(groups)
    if not 1 <= len(group_cols) <= 2:
        raise DataError("`groups` takes one grouping column, or two (top level first) for three levels.")
    require_columns(data, group_cols, role="grouping column")
    if len(group_cols) == 2 and random is not None:
        raise DataError("Random slopes are supported in two-level models only; drop `random` or one level.")
    random_vars: list[str] = []
    if random is not None:
        random_vars = [c for c in data.columns if isinstance(c, str)
                       and c in set(random.replace("~", " ").replace("+", " ").replace("*", " ").split())]
    design = build_design(formula, data, extra=group_cols + random_vars)
    check_rank(design.X, design.names)
    frame = design.frame
    top, n_top = _codes(frame[group_cols[0]])
    if n_top < 2:
        raise ModelError(f"The grouping column {group_cols[0]!r} has only one group in the complete rows; "
                         "a multilevel model needs at least two (and preferably 20 or more) groups.")
    if np.ptp(design.y) == 0:
        raise ModelError(f"The outcome {design.outcome!r} has the same value ({design.y[0]:g}) in all "
                         f"{len(design.y)} complete rows; there is no variance to model.")
    nested = None
    n_groups = {group_cols[0]: n_top}
    if len(group_cols) == 2:
        # nested level: make labels unique within the top level
        pair = frame[group_cols[0]].astype(str) + "\x1f" + frame[group_cols[1]].astype(str)
        nested, n_nested = _codes(pair)
        n_groups[group_cols[1]] = n_nested
    Z, znames = _random_design(random, frame)
    y, X, n, p = design.y, design.X, len(design.y), design.X.shape[1]

    _check_identified(top, n_top, nested, group_cols)
    if nested is None:
        fit, engine = _lmm.fit_two_level(y, X, Z, top, n_top, reml=reml, satterthwaite_df=True)
        method = ("profiled REML/ML by Newton on the score equations, from per-cluster sufficient statistics"
                  if reml else "profiled ML by Newton on the score equations, from per-cluster sufficient statistics")
    else:
        fit, engine = _lmm.fit_nested(y, X, top, nested, reml=reml, satterthwaite_df=True)
        method = "profiled REML/ML by Newton on the score equations, from class-level sufficient statistics"
    G, nested_var = engine.random_covariance(fit.theta, fit.sigma2)
    n_theta = engine.n_theta

    if fit.boundary:
        warnings.warn(_lmm.SINGULAR_MESSAGE, BelongingWarning, stacklevel=2)
    if not fit.converged:
        warnings.warn(f"The REML/ML iterations stopped before the score equations were solved (largest relative "
                      f"score {fit.gradient:.2g}); treat the estimates with caution.", BelongingWarning,
                      stacklevel=2)

    se = np.sqrt(np.diag(fit.vcov))
    df = np.asarray(fit.df_satterthwaite, dtype=float)
    tval = fit.beta / se
    pval = 2 * stats.t.sf(np.abs(tval), df)
    crit = stats.t.ppf(0.5 + level / 2, df)
    fixed = pd.DataFrame({
        "estimate": fit.beta, "se": se, "df": df, "statistic": tval, "p_value": pval, "p": pval,
        "ci_low": fit.beta - crit * se, "ci_high": fit.beta + crit * se,
    }, index=pd.Index(["(Intercept)" if c == "Intercept" else c for c in design.names], name="term"))

    rows = []
    for i, zi in enumerate(znames):
        rows.append({"group": group_cols[0], "term": zi, "variance": G[i, i], "sd": np.sqrt(G[i, i])})
    for i in range(len(znames)):
        for j in range(i + 1, len(znames)):
            cov = G[i, j]
            sd_i, sd_j = np.sqrt(G[i, i]), np.sqrt(G[j, j])    # separately: the product may underflow
            corr = cov / (sd_i * sd_j) if sd_i * sd_j > 0 else np.nan
            rows.append({"group": group_cols[0], "term": f"cov({znames[i]}, {znames[j]})",
                         "variance": cov, "sd": np.nan, "corr": corr})
    if nested_var is not None:
        rows.append({"group": group_cols[1], "term": "(Intercept)", "variance": nested_var,
                     "sd": np.sqrt(nested_var)})
    rows.append({"group": "Residual", "term": "", "variance": fit.sigma2, "sd": np.sqrt(fit.sigma2)})
    variance = pd.DataFrame(rows)
    if "corr" not in variance:
        variance["corr"] = np.nan
    variance.index = [f"{r['group']}: {r['term']}" if r["term"] else "Residual" for r in rows]

    intercept_var = G[0, 0] if znames[0] == "(Intercept)" else 0.0
    total0 = intercept_var + (nested_var or 0.0) + fit.sigma2
    icc_levels = {group_cols[0]: intercept_var / total0}
    if nested_var is not None:
        icc_levels[group_cols[1]] = nested_var / total0
    fitted_fixed = X @ fit.beta
    var_f = float(np.var(fitted_fixed, ddof=1)) if n > 1 else 0.0
    var_r = float(np.mean(np.einsum("ij,jk,ik->i", Z, G, Z))) + (nested_var or 0.0)
    denom = var_f + var_r + fit.sigma2
    r2 = {"marginal": var_f / denom, "conditional": (var_f + var_r) / denom}
    k = p + n_theta + 1
    aic = -2 * fit.loglik + 2 * k
    bic = -2 * fit.loglik + np.log(n) * k
    spec = {"formula": formula, "data": data, "groups": group_cols, "random": random, "ci": ci}
    return MultilevelResult(fixed, variance, float(icc_levels[group_cols[0]]), icc_levels, fit.loglik, float(aic),
                            float(bic), r2, n, design.n_excluded, n_groups, reml, formula, tuple(group_cols),
                            random, fit.boundary, fit.converged, method, design.ledger, spec)


def null_model(data: pd.DataFrame, *, outcome: str, groups: str | Sequence[str], reml: bool = True) -> MultilevelResult:
    """The intercept-only model, whose ICC says how much of the outcome lies between groups.

    Examples
    --------
    >>> rng = np.random.default_rng(2)
    >>> d = pd.DataFrame({"school": np.repeat(np.arange(40), 30)})
    >>> d["y"] = rng.normal(0, 0.5, 40)[d["school"]] + rng.normal(size=1200)
    >>> round(null_model(d, outcome="y", groups="school").icc, 2)
    0.16
    """
    return multilevel(f"{outcome} ~ 1", data, groups=groups, reml=reml)


def compare(smaller: MultilevelResult, larger: MultilevelResult) -> pd.DataFrame:
    """Likelihood-ratio test of two nested models (as ``anova()`` in lme4).

    Models fitted by REML are refitted by ML first (lme4 does the same),
    because REML likelihoods of models with different fixed effects are not
    comparable.  Both models must use the same rows.

    Returns
    -------
    pandas.DataFrame
        One row per model: ``n_par``, ``aic``, ``bic``, ``loglik``, ``deviance``,
        and for the larger model ``chisq``, ``df`` and ``p_value``.
    """
    models = []
    refit = False
    for m in (smaller, larger):
        if m.reml:
            refit = True
            spec = m._spec
            m = multilevel(spec["formula"], spec["data"], groups=spec["groups"], random=spec["random"],
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
    out = pd.DataFrame({
        "n_par": [k_a, k_b], "aic": [a.aic, b.aic], "bic": [a.bic, b.bic], "loglik": [a.loglik, b.loglik],
        "deviance": [-2 * a.loglik, -2 * b.loglik], "chisq": [np.nan, chisq], "df": [np.nan, df],
        "p_value": [np.nan, stats.chi2.sf(chisq, df)],
    }, index=[a.formula, b.formula])
    out.attrs["refitted_with_ml"] = refit
    return out
