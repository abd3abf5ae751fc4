"""Standardised mean differences for trials: Cohen's d, Hedges' g, ANCOVA.

Validated against R's ``effectsize::cohens_d`` / ``effectsize::hedges_g``
(0.8.3) and ``stats::lm`` in ``tests/reference/trials.R``.
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pandas as pd
from scipy import optimize, stats

from .._errors import DataError, ModelError
from .._results import Interval, Result, coef_table, tidy
from .._validation import (
    as_frame,
    as_list,
    check_choice,
    check_probability,
    require_columns,
    require_finite,
    require_numeric,
)
from ._common import hedges_j, treatment_indicator

__all__ = ["EffectSize", "cohens_d", "hedges_g", "ancova", "AncovaResult", "ncp_t_interval"]


@dataclasses.dataclass(frozen=True)
class EffectSize(Result):
    """A standardised mean difference (treated minus control) with its CI.

    Attributes
    ----------
    estimate, se, ci_low, ci_high : float
        The effect size, its standard error and confidence limits (the SE is
        the large-sample one, ``sqrt(var(d))``, times ``J`` for g).
    effect, effect_ci_low, effect_ci_high : float
        The raw difference in means (treated minus control, outcome units) and its
        pooled-variance Student t interval (``df = n_T + n_C - 2``).
    n, n_treated, n_control : int
        Pupils in each arm with an outcome.
    kind : str
        ``"cohens_d"`` or ``"hedges_g"``.
    ci_method : str
        ``"noncentral_t"`` or ``"normal"``.
    ci_level : float
    correction : float
        Hedges' factor ``J`` (1 for d).
    mean_treated, mean_control, sd_pooled : float
    n_excluded : int
        Rows dropped because the outcome or the group was missing.
    """

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    effect: float
    effect_ci_low: float
    effect_ci_high: float
    n: int
    n_treated: int
    n_control: int
    kind: str
    ci_method: str
    ci_level: float
    correction: float
    mean_treated: float
    mean_control: float
    sd_pooled: float
    n_excluded: int = 0

    @property
    def title(self) -> str:  # type: ignore[override]
        return "Hedges' g" if self.kind == "hedges_g" else "Cohen's d"

    def to_frame(self) -> pd.DataFrame:
        return tidy(pd.DataFrame([{
            "term": self.kind, "estimate": self.estimate, "se": self.se,
            "ci_low": self.ci_low, "ci_high": self.ci_high, "n": self.n,
            "n_treated": self.n_treated, "n_control": self.n_control, "effect": self.effect,
            "effect_ci_low": self.effect_ci_low, "effect_ci_high": self.effect_ci_high,
        }]))

    def notes(self) -> list[str]:
        lines = [f"{self.ci_level:.0%} CI by {self.ci_method.replace('_', ' ')}; "
                 f"treated mean {self.mean_treated:.3f}, control mean {self.mean_control:.3f}, "
                 f"pooled SD {self.sd_pooled:.3f}."]
        if self.n_excluded:
            lines.append(f"{self.n_excluded} rows excluded (missing outcome or group).")
        return lines


def ncp_t_interval(t: float, df: float, ci_level: float = 0.95) -> Interval:
    """Confidence limits of a noncentrality parameter by inverting the noncentral t.

    Finds ``lo`` and ``hi`` with ``P(T <= t | ncp=lo) = 1 - a/2`` and
    ``P(T <= t | ncp=hi) = a/2`` (``a = 1 - ci_level``) by Brent's method.

    Returns
    -------
    Interval
        ``estimate`` (the observed ``t``), ``ci_low`` and ``ci_high`` (the limits of the
        noncentrality parameter), ``ci_level`` and ``df``.
    """
    tail = 1 - ci_level

    def cdf(ncp):
        # SciPy's noncentral t returns NaN (with a RuntimeWarning) far in a tail
        # for small df; use the reflected form there, and the limit (1 below t,
        # 0 above) if both fail.  Only the sign matters to the root finder.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            v = stats.nct.cdf(t, df, ncp)
            if np.isnan(v):
                v = 1.0 - stats.nct.cdf(-t, df, -ncp)
        if np.isnan(v):
            v = 1.0 if ncp < t else 0.0
        return float(v)

    def root(p):
        width = 10 + abs(t)
        lo, hi = t - width, t + width
        for _ in range(20):          # widen until the root is bracketed (heavy tails at small df)
            if cdf(lo) - p > 0 > cdf(hi) - p:
                break
            width *= 2
            lo, hi = t - width, t + width
        return optimize.brentq(lambda ncp: cdf(ncp) - p, lo, hi, xtol=1e-12, rtol=1e-12, maxiter=500)

    return Interval(estimate=float(t), ci_low=float(root(1 - tail / 2)), ci_high=float(root(tail / 2)),
                    ci_level=ci_level, df=float(df), ci_method="noncentral t")


def _smd(data, outcome, treatment, treated, ci_level, ci_method, correct):
    data = as_frame(data)
    require_columns(data, [outcome], role="outcome column")
    require_numeric(data, outcome)
    require_finite(data, outcome, what="effect size")
    ci_level = check_probability("ci_level", ci_level)
    check_choice("ci_method", ci_method, ["noncentral_t", "normal"])
    arm = treatment_indicator(data, treatment, treated)
    y = pd.to_numeric(data[outcome], errors="coerce")
    ok = y.notna() & arm.notna()
    y, arm = y[ok].to_numpy(float), arm[ok].to_numpy(float)
    yt, yc = y[arm == 1], y[arm == 0]
    n1, n2 = len(yt), len(yc)
    if n1 < 2 or n2 < 2:
        raise DataError(f"Each arm needs at least 2 pupils with {outcome!r}; found {n1} treated and {n2} control.")
    df = n1 + n2 - 2
    s = math.sqrt(((n1 - 1) * yt.var(ddof=1) + (n2 - 1) * yc.var(ddof=1)) / df)
    if s == 0:
        raise DataError(f"The outcome {outcome!r} does not vary within the arms.")
    diff = yt.mean() - yc.mean()
    d = diff / s
    j = hedges_j(df) if correct else 1.0
    se_d = math.sqrt((n1 + n2) / (n1 * n2) + d**2 / (2 * (n1 + n2)))
    hn = 1 / n1 + 1 / n2
    if ci_method == "noncentral_t":
        t = d / math.sqrt(hn)
        ncp = ncp_t_interval(t, df, ci_level)
        low, high = ncp.ci_low * math.sqrt(hn), ncp.ci_high * math.sqrt(hn)
    else:
        z = stats.norm.ppf(0.5 + ci_level / 2)
        low, high = d - z * se_d, d + z * se_d
    raw = coef_table(["difference"], [diff], [s * math.sqrt(hn)], df, ci_level=ci_level).iloc[0]
    return EffectSize(
        estimate=j * d, se=j * se_d, ci_low=j * low, ci_high=j * high, effect=float(diff),
        effect_ci_low=float(raw["ci_low"]), effect_ci_high=float(raw["ci_high"]),
        n=n1 + n2, n_treated=n1, n_control=n2, kind="hedges_g" if correct else "cohens_d",
        ci_method=ci_method, ci_level=ci_level, correction=j, mean_treated=float(yt.mean()),
        mean_control=float(yc.mean()), sd_pooled=s, n_excluded=int((~ok).sum()),
    )


def cohens_d(data: pd.DataFrame, *, outcome: str, treatment: str, treated=None, ci_level: float = 0.95,
             ci_method: str = "noncentral_t") -> EffectSize:
    """Cohen's d: difference in means (treated minus control) over the pooled SD.

    Parameters
    ----------
    data : DataFrame
        One row per pupil.
    outcome : str
        Numeric outcome column.
    treatment : str
        The arm column.
    treated : scalar, optional
        The value of ``treatment`` that marks the treated arm (for example
        ``"programme"``).  If omitted, ``treatment`` must be coded 0/1.
    ci_level : float
        Confidence level (0.95).
    ci_method : {"noncentral_t", "normal"}
        ``"noncentral_t"`` (default, as R's ``effectsize``) inverts the
        noncentral t distribution; ``"normal"`` uses ``d +/- z se(d)``.

    Returns
    -------
    EffectSize

    Raises
    ------
    DataError
        ``treatment`` holds more (or fewer) than two arms (a third arm is never pooled
        with control), or the outcome holds an infinite value (named with its rows).

    Notes
    -----
    .. math:: d = (\\bar y_T - \\bar y_C) / s_p,\\quad
              s_p^2 = ((n_T-1)s_T^2 + (n_C-1)s_C^2)/(n_T+n_C-2)

    ``var(d) = (n_T+n_C)/(n_T n_C) + d^2 / (2(n_T+n_C))``.  The noncentral-t
    interval finds the noncentrality parameters whose t distribution puts
    the observed ``t = d / sqrt(1/n_T + 1/n_C)`` at the 97.5th and 2.5th
    percentiles and rescales them.  Validated against
    ``effectsize::cohens_d(x, y)`` (tests/reference/trials.R).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"y": [1., 2, 3, 4, 3, 4, 5, 6], "arm": [0, 0, 0, 0, 1, 1, 1, 1]})
    >>> round(float(cohens_d(df, outcome="y", treatment="arm").estimate), 4)
    1.5492
    """
    return _smd(data, outcome, treatment, treated, ci_level, ci_method, correct=False)


def hedges_g(data: pd.DataFrame, *, outcome: str, treatment: str, treated=None, ci_level: float = 0.95,
             ci_method: str = "noncentral_t") -> EffectSize:
    """Hedges' g: Cohen's d with the exact small-sample correction.

    Parameters are as :func:`cohens_d`.

    Returns
    -------
    EffectSize

    Notes
    -----
    ``g = J d`` with ``J = exp(lgamma(m/2) - log(sqrt(m/2)) - lgamma((m-1)/2))``
    and ``m = n_T + n_C - 2`` (close to ``1 - 3/(4m - 1)``).  The CI limits
    of d (noncentral t by default) are multiplied by ``J``, as R's
    ``effectsize::hedges_g`` does; the test suite checks both to 1e-6.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"y": [1., 2, 3, 4, 3, 4, 5, 6], "arm": ["c"] * 4 + ["t"] * 4})
    >>> round(float(hedges_g(df, outcome="y", treatment="arm", treated="t").estimate), 4)
    1.3457
    """
    return _smd(data, outcome, treatment, treated, ci_level, ci_method, correct=True)


@dataclasses.dataclass(frozen=True)
class AncovaResult(Result):
    """ANCOVA for an individually randomised trial.

    Attributes
    ----------
    estimate, se, ci_low, ci_high : float
        The effect size, ``J * effect / s_p`` with ``s_p`` the pooled within-arm SD of the
        (unadjusted) outcome, with the coefficient's SE and interval on the same scale.
    p, df : float
        The t test of the adjusted treatment coefficient.
    effect, effect_ci_low, effect_ci_high : float
        The adjusted treatment coefficient (outcome units) and its interval (its SE is
        :attr:`effect_se`).
    sd_pooled, correction : float
        ``s_p`` and Hedges' ``J``.
    n, n_excluded : int
    ci_level : float
    model : statsmodels results
    """

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    p: float
    df: float
    effect: float
    effect_ci_low: float
    effect_ci_high: float
    sd_pooled: float
    correction: float
    n: int
    n_excluded: int
    ci_level: float
    model: object = dataclasses.field(repr=False, compare=False)
    title = "ANCOVA treatment effect"

    @property
    def effect_se(self) -> float:
        """Standard error of the treatment coefficient (outcome units)."""
        return self.se * self.sd_pooled / self.correction

    def to_frame(self) -> pd.DataFrame:
        return tidy(pd.DataFrame([
            {"term": "effect size (g)", "estimate": self.estimate, "se": self.se, "ci_low": self.ci_low,
             "ci_high": self.ci_high, "statistic": self.estimate / self.se, "df": self.df, "p": self.p,
             "n": self.n},
            {"term": "treatment (outcome units)", "estimate": self.effect, "se": self.effect_se,
             "ci_low": self.effect_ci_low, "ci_high": self.effect_ci_high,
             "statistic": self.effect / self.effect_se, "df": self.df, "p": self.p, "n": self.n},
        ]))

    def notes(self) -> list[str]:
        out = [f"Effect size = J x coefficient / pooled SD of the outcome ({self.sd_pooled:.3f})."]
        if self.n_excluded:
            out.append(f"{self.n_excluded} pupils excluded for missing values.")
        return out


def ancova(data: pd.DataFrame, *, outcome: str, treatment: str, pretest: str,
           covariates=None, treated=None, ci_level: float = 0.95) -> AncovaResult:
    """ANCOVA of the post-test on arm and pre-test (individually randomised trial).

    Parameters
    ----------
    data : DataFrame
    outcome : str
        Post-test column.
    treatment : str
        Arm column (0/1, or any two values with ``treated=`` naming the treated one).
    pretest : str
        Pre-test column.
    covariates : list of str, optional
        Further numeric baseline covariates (for example randomisation strata
        as dummies).
    treated : scalar, optional
        Treated value of ``treatment`` when it is not 0/1.
    ci_level : float
        Level of the interval (0.95).

    Returns
    -------
    AncovaResult

    Notes
    -----
    OLS ``outcome ~ treat + pretest + covariates`` (statsmodels); the effect
    size divides the coefficient and its CI by the pooled within-arm SD of
    the outcome on the analysed pupils and multiplies by Hedges' ``J``
    (``m = n - 2``).  The coefficient is checked against R's ``lm``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> df = pd.DataFrame({"pre": rng.normal(size=200), "t": np.repeat([0, 1], 100)})
    >>> df["post"] = 0.6 * df.pre + 0.3 * df.t + rng.normal(size=200)
    >>> res = ancova(df, outcome="post", treatment="t", pretest="pre")
    >>> res.effect_ci_low < 0.3 < res.effect_ci_high
    True
    """
    import statsmodels.api as sm

    data = as_frame(data)
    covs = as_list(covariates)
    cols = [outcome, pretest] + covs
    require_columns(data, cols)
    require_numeric(data, cols)
    require_finite(data, cols, what="ANCOVA")
    ci_level = check_probability("ci_level", ci_level)
    arm = treatment_indicator(data, treatment, treated)
    frame = data[cols].apply(pd.to_numeric, errors="coerce").assign(_treat=arm)
    ok = frame.notna().all(axis=1)
    frame = frame[ok]
    if len(frame) < len(cols) + 3:
        raise ModelError(f"Too few complete rows ({len(frame)}) for the ANCOVA.")
    t = frame["_treat"].to_numpy(float)
    for label, n_arm in (("treated", int((t == 1).sum())), ("control", int((t == 0).sum()))):
        if n_arm < 2:
            raise DataError(f"The {label} arm of {treatment!r} has {n_arm} complete row(s); the pooled SD "
                            "of the ANCOVA effect size needs at least 2 in each arm.")
    X = sm.add_constant(frame[["_treat", pretest] + covs].to_numpy(float), has_constant="add")
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise ModelError(f"The ANCOVA terms (arm, {', '.join([pretest] + covs)}) are collinear or one of "
                         "them does not vary in the complete rows; the arm effect cannot be estimated.")
    fit = sm.OLS(frame[outcome].to_numpy(float), X).fit()
    coef = coef_table(["treatment"], [fit.params[1]], [fit.bse[1]], float(fit.df_resid), ci_level=ci_level).iloc[0]
    b, lo, hi = float(coef["estimate"]), float(coef["ci_low"]), float(coef["ci_high"])
    y = frame[outcome].to_numpy(float)
    n1, n2 = int((t == 1).sum()), int((t == 0).sum())
    sp = math.sqrt(((n1 - 1) * y[t == 1].var(ddof=1) + (n2 - 1) * y[t == 0].var(ddof=1)) / (n1 + n2 - 2))
    if sp == 0:
        raise ModelError(f"The outcome {outcome!r} does not vary within either arm (value {y[0]:g}); the "
                         "effect size has no standard deviation to divide by.")
    j = hedges_j(n1 + n2 - 2)
    return AncovaResult(
        estimate=j * b / sp, se=j * float(coef["se"]) / sp, ci_low=j * lo / sp, ci_high=j * hi / sp,
        p=float(coef["p"]), df=float(fit.df_resid), effect=b, effect_ci_low=lo, effect_ci_high=hi,
        sd_pooled=sp, correction=j, n=len(frame), n_excluded=int((~ok).sum()), ci_level=ci_level, model=fit,
    )
