"""Single-level regression with heteroscedasticity- and cluster-robust errors.

:func:`ols` fits linear regression (statsmodels) with classical, HC0-HC3 or
cluster-robust CR1 / CR2 standard errors.  CR2 (Bell & McCaffrey, 2002) comes
with Satterthwaite degrees of freedom, as R's ``clubSandwich::coef_test``
reports them: the small-sample standard for data with few clusters (schools).
:func:`logit` fits logistic regression for binary outcomes (for example
scoring in a high-need band) with cluster-robust CR1 errors.
Both return the same ``fixed`` table as :func:`belonging_lib.models.multilevel`.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from .._errors import DataError, ModelError
from .._results import Result, RowLedger
from .._validation import as_frame, check_choice, check_probability, require_columns
from ._design import build_design, check_rank

__all__ = ["RegressionResult", "ols", "logit", "cr2_vcov"]

VCOV_TYPES = ["classical", "HC0", "HC1", "HC2", "HC3", "CR1", "CR2"]


@dataclasses.dataclass(frozen=True)
class RegressionResult(Result):
    """A fitted single-level regression.

    Attributes
    ----------
    fixed : pandas.DataFrame
        Indexed by term: ``estimate``, ``se``, ``df``, ``statistic``, ``p_value``,
        ``p`` (alias), ``ci_low``, ``ci_high`` (and ``odds_ratio`` for logit).
    vcov : pandas.DataFrame
        Covariance matrix of the coefficients.
    vcov_type : str
    n, n_excluded, n_clusters : int
    r2 : float
        R-squared (OLS) or McFadden's pseudo R-squared (logit).
    """

    fixed: pd.DataFrame
    vcov: pd.DataFrame
    vcov_type: str
    n: int
    n_excluded: int
    n_clusters: int | None
    r2: float
    model: str
    formula: str
    ledger: RowLedger

    title = "Regression"

    def to_frame(self) -> pd.DataFrame:
        out = self.fixed.drop(columns=["p"]).reset_index()
        out["n"] = self.n
        return out

    def notes(self) -> list[str]:
        clusters = f", {self.n_clusters} clusters" if self.n_clusters else ""
        label = "R2" if self.model == "ols" else "McFadden R2"
        return [f"{self.model.upper()}, {self.vcov_type} standard errors; N = {self.n}{clusters}; "
                f"{self.n_excluded} rows excluded for missing values; {label} = {self.r2:.3f}."]


def _cluster_blocks(codes: np.ndarray, n_clusters: int) -> list[np.ndarray]:
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(n_clusters + 1))
    return [order[bounds[g]:bounds[g + 1]] for g in range(n_clusters)]


def _cr2_parts(X: np.ndarray, resid: np.ndarray, codes: np.ndarray):
    """CR2 covariance and the pieces its Satterthwaite df need (codes are 0..G-1)."""
    p = X.shape[1]
    n_clusters = int(codes.max()) + 1
    M = np.linalg.inv(X.T @ X)
    blocks = _cluster_blocks(codes, n_clusters)
    adj = []
    meat = np.zeros((p, p))
    for idx in blocks:
        Xg = X[idx]
        IH = np.eye(len(idx)) - Xg @ M @ Xg.T
        vals, vecs = np.linalg.eigh(IH)
        if np.any(vals <= 1e-12):
            raise ModelError("CR2 standard errors are undefined: a cluster is fitted exactly (for example "
                             "a cluster-level predictor with one pupil per cluster); use vcov='CR1'.")
        Ag = (vecs / np.sqrt(vals)) @ vecs.T
        adj.append(Ag)
        u = Xg.T @ (Ag @ resid[idx])
        meat += np.outer(u, u)
    return M @ meat @ M, (X, M, tuple(blocks), tuple(adj))


def _cr2_df(parts, L) -> float:
    """Satterthwaite df of the contrast ``L'beta`` under CR2 (see :func:`cr2_vcov`)."""
    X, M, blocks, adj = parts
    c = M @ np.asarray(L, dtype=float)
    a_list = [Ag @ (X[idx] @ c) for Ag, idx in zip(adj, blocks)]
    T = np.column_stack([X[idx].T @ a for a, idx in zip(a_list, blocks)])   # p x G
    QQ = -T.T @ M @ T
    QQ[np.diag_indices_from(QQ)] += np.array([a @ a for a in a_list])
    return float(np.trace(QQ) ** 2 / np.sum(QQ * QQ))


def cr2_vcov(X: np.ndarray, resid: np.ndarray, codes: np.ndarray, *, weights: np.ndarray | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
    """Bell-McCaffrey CR2 covariance and Satterthwaite df for every coefficient.

    Parameters
    ----------
    X : array (n, p)
    resid : array (n,)
    codes : int array (n,)
        Cluster codes 0..G-1.

    Returns
    -------
    vcov : array (p, p)
    df : array (p,)

    Notes
    -----
    :math:`V = M \\sum_g X_g' A_g e_g e_g' A_g X_g M` with :math:`M = (X'X)^{-1}` and
    :math:`A_g = (I - X_g M X_g')^{-1/2}` (symmetric square root).  For a
    contrast c, with :math:`a_g = A_g X_g M c` and :math:`t_g = X_g' a_g`,
    the matrix :math:`Q'Q = \\mathrm{diag}(a_g'a_g) - T'MT` gives Satterthwaite's
    :math:`\\nu = \\mathrm{tr}(Q'Q)^2 / \\mathrm{tr}((Q'Q)^2)` under a working model of
    independent, equal-variance errors (Bell & McCaffrey 2002; Pustejovsky &
    Tipton 2018), which is ``clubSandwich::coef_test(vcov = "CR2", test =
    "Satterthwaite")`` for an unweighted ``lm``.
    """
    if weights is not None:
        raise ModelError("Weighted CR2 is not implemented.")
    X = np.asarray(X, dtype=float)
    resid = np.asarray(resid, dtype=float)
    codes = np.asarray(codes)
    if X.ndim != 2 or resid.shape != (X.shape[0],) or codes.shape != (X.shape[0],):
        raise DataError(f"`X` must be an (n, p) matrix with `resid` and `codes` of length n, but shapes "
                        f"{X.shape}, {resid.shape} and {codes.shape} were passed.")
    for name, arr in (("X", X), ("resid", resid)):
        if not np.isfinite(arr).all():
            raise DataError(f"`{name}` holds values that are not finite (NaN or inf); drop those rows first.")
    n, p = X.shape
    if n <= p or np.linalg.matrix_rank(X) < p:
        why = f"only {n} rows for {p} columns" if n <= p else "columns that are linearly dependent"
        raise ModelError(f"The design has {why}; its coefficients, and so their CR2 covariance, cannot all "
                         "be estimated.")
    codes = pd.factorize(pd.Series(codes))[0]
    if codes.min() < 0:
        raise DataError("`codes` holds missing cluster codes; drop those rows first.")
    if codes.max() < 1:
        raise ModelError("Cluster-robust standard errors need at least two clusters.")
    V, parts = _cr2_parts(X, resid, codes)
    eye = np.eye(X.shape[1])
    df = np.array([_cr2_df(parts, eye[k]) for k in range(X.shape[1])])
    return V, df


def _prepare(formula, data, cluster):
    data = as_frame(data)
    extra = []
    if cluster is not None:
        require_columns(data, [cluster], role="cluster column")
        extra = [cluster]
    design = build_design(formula, data, extra=extra)
    check_rank(design.X, design.names)
    codes = None
    n_clusters = None
    if cluster is not None:
        codes, uniq = pd.factorize(design.frame[cluster], sort=True)
        n_clusters = len(uniq)
        if n_clusters < 2:
            raise ModelError("Cluster-robust standard errors need at least two clusters.")
    return design, codes, n_clusters


def _table(names, params, V, df, level, *, normal=False, odds=False):
    se = np.sqrt(np.diag(V))
    stat = params / se
    if normal:
        p = 2 * stats.norm.sf(np.abs(stat))
        crit = stats.norm.ppf(0.5 + level / 2)
        df = np.full(len(params), np.inf)
    else:
        df = np.broadcast_to(np.asarray(df, float), params.shape).copy()
        p = 2 * stats.t.sf(np.abs(stat), df)
        crit = stats.t.ppf(0.5 + level / 2, df)
    idx = pd.Index(["(Intercept)" if c == "Intercept" else c for c in names], name="term")
    out = pd.DataFrame({"estimate": params, "se": se, "df": df, "statistic": stat, "p_value": p, "p": p,
                        "ci_low": params - crit * se, "ci_high": params + crit * se}, index=idx)
    if odds:  # a log-odds limit above about 709 has an odds ratio beyond the float range: inf
        with np.errstate(over="ignore"):
            out["odds_ratio"] = np.exp(params)
            out["or_ci_low"] = np.exp(out["ci_low"])
            out["or_ci_high"] = np.exp(out["ci_high"])
    return out, idx


def ols(formula: str, data: pd.DataFrame, *, cluster: str | None = None, vcov: str | None = None,
        ci: float = 0.95) -> RegressionResult:
    """Linear regression with classical, robust or cluster-robust standard errors.

    Parameters
    ----------
    formula : str
        Patsy formula, e.g. ``"belonging ~ teacher_care + fsm"``.
    data : pandas.DataFrame
    cluster : str, optional
        Cluster column (for example ``"school_id"``).
    vcov : str, optional
        One of ``"classical"``, ``"HC0"``-``"HC3"``, ``"CR1"``, ``"CR2"``.  Default:
        ``"CR2"`` with a cluster, ``"classical"`` without.
    ci : float
        Confidence level.

    Returns
    -------
    RegressionResult

    Notes
    -----
    HC types as ``sandwich::vcovHC``; CR1 as ``sandwich::vcovCL(type = "HC1")``
    (Stata's ``vce(cluster)``: factor :math:`G/(G-1) \\cdot (n-1)/(n-p)`) with
    t on G - 1 df; CR2 as ``clubSandwich::coef_test(vcov = "CR2", test =
    "Satterthwaite")`` (see :func:`cr2_vcov`).  Validated against those R
    functions (tests/reference/robust.R).

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> d = pd.DataFrame({"school": np.repeat(np.arange(20), 10), "x": rng.normal(size=200)})
    >>> d["y"] = 1 + 0.5 * d["x"] + rng.normal(size=200)
    >>> fit = ols("y ~ x", d, cluster="school")
    >>> fit.vcov_type, round(float(fit.fixed.loc["x", "estimate"]), 2)
    ('CR2', 0.53)
    """
    level = check_probability("ci", ci)
    vcov = vcov or ("CR2" if cluster is not None else "classical")
    check_choice("vcov", vcov, VCOV_TYPES)
    if vcov.startswith("CR") and cluster is None:
        raise DataError(f"vcov={vcov!r} needs a `cluster` column.")
    design, codes, n_clusters = _prepare(formula, data, cluster)
    y, X = design.y, design.X
    if np.ptp(y) == 0:
        raise ModelError(f"The outcome {design.outcome!r} has the same value ({y[0]:g}) in all {len(y)} "
                         "complete rows; there is nothing to model.")
    res = sm.OLS(y, X).fit()
    params = np.asarray(res.params)
    n, p = X.shape
    if vcov == "classical":
        V, df = np.asarray(res.cov_params()), float(res.df_resid)
    elif vcov.startswith("HC"):
        V, df = np.asarray(getattr(res, f"cov_{vcov}")), float(res.df_resid)
    elif vcov == "CR1":
        r = sm.OLS(y, X).fit(cov_type="cluster", cov_kwds={"groups": codes, "use_correction": True,
                                                           "df_correction": True})
        V, df = np.asarray(r.cov_params()), float(n_clusters - 1)
    else:
        V, df = cr2_vcov(X, np.asarray(res.resid), codes)
    fixed, idx = _table(design.names, params, V, df, level)
    return RegressionResult(fixed, pd.DataFrame(V, index=idx, columns=idx), vcov, n, design.n_excluded,
                            n_clusters, float(res.rsquared), "ols", formula, design.ledger)


def logit(formula: str, data: pd.DataFrame, *, cluster: str | None = None, vcov: str | None = None,
          ci: float = 0.95) -> RegressionResult:
    """Logistic regression for a 0/1 outcome, with cluster-robust errors.

    Parameters
    ----------
    formula : str
        Outcome coded 0/1 (for example ``"high_need ~ belonging + fsm"``).
    cluster : str, optional
        Cluster column; with it the default ``vcov`` is ``"CR1"``
        (``sandwich::vcovCL(type = "HC1")`` on a ``glm``).
    vcov : {"classical", "HC0", "CR1"}

    Returns
    -------
    RegressionResult
        ``fixed`` is on the log-odds scale with z tests, plus ``odds_ratio``
        and its interval (``inf`` where a log-odds value exceeds about 709,
        e.g. for a predictor on a very small scale).

    Raises
    ------
    DataError
        When the outcome is not coded 0/1.
    ModelError
        When a predictor perfectly separates the outcome.
    """
    level = check_probability("ci", ci)
    vcov = vcov or ("CR1" if cluster is not None else "classical")
    check_choice("vcov", vcov, ["classical", "HC0", "CR1"])
    if vcov == "CR1" and cluster is None:
        raise DataError("vcov='CR1' needs a `cluster` column.")
    design, codes, n_clusters = _prepare(formula, data, cluster)
    y, X = design.y, design.X
    bad = ~np.isin(y, [0.0, 1.0])
    if bad.any():
        rows = design.rows[bad]
        raise DataError(f"The outcome {design.outcome!r} must be coded 0/1, but rows "
                        f"{', '.join(map(str, rows[:5]))} hold {y[bad][0]!r}.")
    if y.min() == y.max():
        raise ModelError(f"The outcome {design.outcome!r} takes only one value; nothing to model.")
    import warnings

    from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

    # exp() may overflow harmlessly while Newton steps are large; a fit that has not converged
    # (often a near-separation the separation check misses, e.g. a tiny-scaled predictor) is an error
    with warnings.catch_warnings(), np.errstate(over="ignore"):
        warnings.simplefilter("error", PerfectSeparationWarning)
        warnings.simplefilter("error", ConvergenceWarning)
        try:
            if vcov == "CR1":
                res = sm.Logit(y, X).fit(disp=0, cov_type="cluster",
                                         cov_kwds={"groups": codes, "use_correction": True,
                                                   "df_correction": False})
            elif vcov == "HC0":
                res = sm.Logit(y, X).fit(disp=0, cov_type="HC0")
            else:
                res = sm.Logit(y, X).fit(disp=0)
        except (PerfectSeparationWarning, ConvergenceWarning, np.linalg.LinAlgError) as exc:
            raise ModelError(f"The logistic model cannot be estimated: {exc}. A predictor may perfectly "
                             "separate the outcome groups.") from None
    V = np.asarray(res.cov_params())
    fixed, idx = _table(design.names, np.asarray(res.params), V, np.inf, level, normal=True, odds=True)
    return RegressionResult(fixed, pd.DataFrame(V, index=idx, columns=idx), vcov, len(y), design.n_excluded,
                            n_clusters, float(res.prsquared), "logit", formula, design.ledger)
