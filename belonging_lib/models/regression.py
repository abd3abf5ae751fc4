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
from statsmodels.discrete.discrete_model import Logit  # not statsmodels.api: it imports the whole package

from .._errors import DataError, ModelError
from .._results import Result, RowLedger, coef_table, tidy
from .._validation import as_frame, check_choice, check_probability, require_columns
from ._design import build_design, check_rank
from ._linear import VCOV_TYPES, _cr2_df, _cr2_parts, fit_ols

__all__ = ["CR2Covariance", "RegressionResult", "ols", "logit", "cr2_vcov"]


@dataclasses.dataclass(frozen=True)
class RegressionResult(Result):
    """A fitted single-level regression.

    Attributes
    ----------
    fixed : pandas.DataFrame
        Indexed by term: ``estimate``, ``se``, ``ci_low``, ``ci_high``, ``statistic``, ``df``, ``p``
        (and ``odds_ratio``, ``or_ci_low``, ``or_ci_high`` for logit).
    vcov : pandas.DataFrame
        Covariance matrix of the coefficients.
    vcov_type : str
    n, n_excluded, n_clusters : int
    r2 : float
        R-squared (OLS) or McFadden's pseudo R-squared (logit).
    ci_level : float
        The level of ``ci_low`` and ``ci_high``.
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
    ci_level: float = 0.95

    title = "Regression"

    def to_frame(self) -> pd.DataFrame:
        """The coefficient table, one row per term, with the tidy columns first and ``n``."""
        out = self.fixed.copy()
        out["n"] = self.n
        return tidy(out)

    def notes(self) -> list[str]:
        clusters = f", {self.n_clusters} clusters" if self.n_clusters else ""
        label = "R2" if self.model == "ols" else "McFadden R2"
        return [f"{self.model.upper()}, {self.vcov_type} standard errors; N = {self.n}{clusters}; "
                f"{self.n_excluded} rows excluded for missing values; {label} = {self.r2:.3f}."]


@dataclasses.dataclass(frozen=True, eq=False)
class CR2Covariance(Result):
    """Bell-McCaffrey CR2 covariance and Satterthwaite df (:func:`cr2_vcov`).

    Attributes
    ----------
    vcov : numpy.ndarray (p, p)
        The CR2 covariance matrix of the coefficients.
    df : numpy.ndarray (p,)
        Satterthwaite degrees of freedom of each coefficient's t test.
    """

    vcov: np.ndarray
    df: np.ndarray

    title = "CR2 covariance"

    def to_frame(self) -> pd.DataFrame:
        """One row per coefficient (by position, from 0): ``term, se, df``."""
        return pd.DataFrame({"term": np.arange(len(self.df)), "se": np.sqrt(np.diag(self.vcov)), "df": self.df})


def cr2_vcov(X: np.ndarray, resid: np.ndarray, codes: np.ndarray, *, weights: np.ndarray | None = None
             ) -> CR2Covariance:
    """Bell-McCaffrey CR2 covariance and Satterthwaite df for every coefficient.

    Parameters
    ----------
    X : array (n, p)
    resid : array (n,)
    codes : int array (n,)
        Cluster codes 0..G-1.

    Returns
    -------
    CR2Covariance
        ``vcov`` (p, p) and ``df`` (p,).

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
    return CR2Covariance(vcov=V, df=df)


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


def _odds_ratios(fixed: pd.DataFrame) -> pd.DataFrame:
    """Add the odds ratio and its interval (a log-odds limit above about 709 gives inf)."""
    with np.errstate(over="ignore"):
        fixed["odds_ratio"] = np.exp(fixed["estimate"])
        fixed["or_ci_low"] = np.exp(fixed["ci_low"])
        fixed["or_ci_high"] = np.exp(fixed["ci_high"])
    return fixed


def ols(data: pd.DataFrame, formula: str, *, cluster: str | None = None, vcov: str | None = None,
        ci_level: float = 0.95) -> RegressionResult:
    """Linear regression with classical, robust or cluster-robust standard errors.

    Parameters
    ----------
    data : pandas.DataFrame
    formula : str
        Patsy formula, e.g. ``"belonging ~ teacher_care + fsm"``.
    cluster : str, optional
        Cluster column (for example ``"school_id"``).
    vcov : str, optional
        One of ``"classical"``, ``"HC0"``-``"HC3"``, ``"CR1"``, ``"CR2"``.  Default:
        ``"CR2"`` with a cluster, ``"classical"`` without.
    ci_level : float
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
    >>> fit = ols(d, "y ~ x", cluster="school")
    >>> fit.vcov_type, round(float(fit.fixed.loc["x", "estimate"]), 2)
    ('CR2', 0.53)
    """
    level = check_probability("ci_level", ci_level)
    vcov = vcov or ("CR2" if cluster is not None else "classical")
    check_choice("vcov", vcov, VCOV_TYPES)
    if vcov.startswith("CR") and cluster is None:
        raise DataError(f"vcov={vcov!r} needs a `cluster` column.")
    design, codes, n_clusters = _prepare(formula, data, cluster)
    fit = fit_ols(design.y, design.X, design.names, groups=codes, vcov=vcov, outcome=design.outcome)
    df = fit.df
    if vcov == "CR2":    # Satterthwaite df per coefficient, as clubSandwich::coef_test reports them
        eye = np.eye(len(fit.params))
        df = np.array([fit.satterthwaite_df(eye[k]) for k in range(len(fit.params))])
    fixed = coef_table(design.names, fit.params, np.sqrt(np.diag(fit.vcov)), df, ci_level=level)
    return RegressionResult(fixed, pd.DataFrame(fit.vcov, index=fixed.index, columns=fixed.index), vcov, fit.n,
                            design.n_excluded, n_clusters, fit.rsquared, "ols", formula, design.ledger, level)


def logit(data: pd.DataFrame, formula: str, *, cluster: str | None = None, vcov: str | None = None,
          ci_level: float = 0.95) -> RegressionResult:
    """Logistic regression for a 0/1 outcome, with cluster-robust errors.

    Parameters
    ----------
    data : pandas.DataFrame
    formula : str
        Outcome coded 0/1 (for example ``"high_need ~ belonging + fsm"``).
    cluster : str, optional
        Cluster column; with it the default ``vcov`` is ``"CR1"``
        (``sandwich::vcovCL(type = "HC1")`` on a ``glm``).
    vcov : {"classical", "HC0", "CR1"}
    ci_level : float
        Confidence level (normal-theory intervals, as ``confint.default`` in R).

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
    level = check_probability("ci_level", ci_level)
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
                res = Logit(y, X).fit(disp=0, cov_type="cluster",
                                      cov_kwds={"groups": codes, "use_correction": True,
                                                "df_correction": False})
            elif vcov == "HC0":
                res = Logit(y, X).fit(disp=0, cov_type="HC0")
            else:
                res = Logit(y, X).fit(disp=0)
        except (PerfectSeparationWarning, ConvergenceWarning, np.linalg.LinAlgError) as exc:
            raise ModelError(f"The logistic model cannot be estimated: {exc}. A predictor may perfectly "
                             "separate the outcome groups.") from None
    V = np.asarray(res.cov_params())
    fixed = _odds_ratios(coef_table(design.names, np.asarray(res.params), np.sqrt(np.diag(V)), np.inf,
                                    ci_level=level))
    return RegressionResult(fixed, pd.DataFrame(V, index=fixed.index, columns=fixed.index), vcov, len(y),
                            design.n_excluded, n_clusters, float(res.prsquared), "logit", formula, design.ledger,
                            level)
