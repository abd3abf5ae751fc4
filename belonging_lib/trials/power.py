"""Power for cluster-randomised trials: PowerUp! MDES formulas and simulation."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
from scipy import stats

from .._errors import DataError
from .._progress import progress_bar, show_progress
from .._results import Result
from .._validation import check_positive_int, check_probability

__all__ = ["mdes", "mdes_three_level", "n_clusters_needed", "PowerSimulation", "simulate_power"]


def _check_fraction(name, value, *, allow_zero=True):
    v = float(value)
    ok = (0 <= v < 1) if allow_zero else (0 < v < 1)
    if not ok:
        raise DataError(f"`{name}` must be {'from 0 up to' if allow_zero else 'between 0 and'} 1, "
                        f"but {value!r} was passed.")
    return v


def _multiplier(df: float, alpha: float, power: float, two_tailed: bool) -> float:
    a = alpha / 2 if two_tailed else alpha
    return float(stats.t.ppf(1 - a, df) + stats.t.ppf(power, df))


def mdes(*, n_clusters: int, cluster_size: float, icc: float, r2_level1: float = 0.0,
         r2_level2: float = 0.0, p_treated: float = 0.5, alpha: float = 0.05, power: float = 0.8,
         n_covariates_level2: int = 0, two_tailed: bool = True) -> float:
    """Minimum detectable effect size of a two-level cluster-randomised trial.

    Parameters
    ----------
    n_clusters : int
        Number of schools randomised (``J``).
    cluster_size : float
        Pupils per school (harmonic mean, ``n``).
    icc : float
        Intra-class correlation of the outcome (``rho``).
    r2_level1, r2_level2 : float
        Proportions of pupil- and school-level variance explained by covariates.
    p_treated : float
        Proportion of schools allocated to the programme.
    alpha, power : float
    n_covariates_level2 : int
        School-level covariates (``g2``), which cost degrees of freedom.
    two_tailed : bool

    Returns
    -------
    float

    Notes
    -----
    Dong & Maynard (2013), PowerUp! model 3.1 (R: ``PowerUpR::mdes.cra2r2``):

    .. math:: MDES = M_{J-g_2-2}\\sqrt{\\frac{\\rho(1-R^2_2)}{P(1-P)J} +
              \\frac{(1-\\rho)(1-R^2_1)}{P(1-P)Jn}}

    with ``M = t(1 - alpha/2, df) + t(power, df)``.  Checked against PowerUpR's
    documented cross-check ``mdes.cra2r2(power=.80, rho2=.17, n=15, J=20)``
    (no covariates): df 18, SE 0.212, MDES 0.629 (Dong & Maynard's published
    value, also produced by the PowerUp! spreadsheet).

    Examples
    --------
    >>> round(mdes(n_clusters=20, cluster_size=15, icc=0.17), 3)
    0.629
    """
    J = check_positive_int("n_clusters", n_clusters, minimum=3)
    n = float(cluster_size)
    if not n > 0:
        raise DataError(f"`cluster_size` must be positive, but {cluster_size!r} was passed.")
    rho = _check_fraction("icc", icc)
    r1 = _check_fraction("r2_level1", r2_level1)
    r2 = _check_fraction("r2_level2", r2_level2)
    p = check_probability("p_treated", p_treated)
    alpha = check_probability("alpha", alpha)
    power = check_probability("power", power)
    g2 = int(n_covariates_level2)
    df = J - g2 - 2
    if df < 1:
        raise DataError(f"Too few clusters ({J}) for {g2} school-level covariates: df = {df}.")
    sse = math.sqrt(rho * (1 - r2) / (p * (1 - p) * J) + (1 - rho) * (1 - r1) / (p * (1 - p) * J * n))
    return _multiplier(df, alpha, power, two_tailed) * sse


def mdes_three_level(*, n_clusters: int, clusters_per_unit: float, cluster_size: float,
                     icc_level3: float, icc_level2: float, r2_level1: float = 0.0,
                     r2_level2: float = 0.0, r2_level3: float = 0.0, p_treated: float = 0.5,
                     alpha: float = 0.05, power: float = 0.8, n_covariates_level3: int = 0,
                     two_tailed: bool = True) -> float:
    """MDES of a three-level trial randomised at the top level (PowerUp! model 3.2).

    ``n_clusters`` = ``K`` top-level units randomised (for example trusts or
    districts), ``clusters_per_unit`` = ``J`` schools in each, ``cluster_size``
    = ``n`` pupils per school; ``icc_level3`` / ``icc_level2`` = ``rho3`` / ``rho2``.

    Notes
    -----
    ``SE^2 = rho3(1-R3)/(P(1-P)K) + rho2(1-R2)/(P(1-P)JK) + (1-rho3-rho2)(1-R1)/(P(1-P)JKn)``,
    df = K - g3 - 2 (``PowerUpR::mdes.cra3r3``).  Checked against the
    PowerUpR cross-check ``mdes.cra3r3(rho3=.06, rho2=.17, n=15, J=3, K=60)`` = 0.269.

    Examples
    --------
    >>> round(mdes_three_level(n_clusters=60, clusters_per_unit=3, cluster_size=15,
    ...                        icc_level3=0.06, icc_level2=0.17), 3)
    0.269
    """
    K = check_positive_int("n_clusters", n_clusters, minimum=3)
    J, n = float(clusters_per_unit), float(cluster_size)
    r3, r2 = _check_fraction("icc_level3", icc_level3), _check_fraction("icc_level2", icc_level2)
    if r3 + r2 >= 1:
        raise DataError("`icc_level3 + icc_level2` must be below 1.")
    R1, R2, R3 = (_check_fraction(k, v) for k, v in
                  (("r2_level1", r2_level1), ("r2_level2", r2_level2), ("r2_level3", r2_level3)))
    p = check_probability("p_treated", p_treated)
    df = K - int(n_covariates_level3) - 2
    if df < 1:
        raise DataError(f"Too few top-level units ({K}) for the covariates: df = {df}.")
    q = p * (1 - p)
    sse = math.sqrt(r3 * (1 - R3) / (q * K) + r2 * (1 - R2) / (q * J * K)
                    + (1 - r3 - r2) * (1 - R1) / (q * J * K * n))
    return _multiplier(df, check_probability("alpha", alpha), check_probability("power", power),
                       two_tailed) * sse


def n_clusters_needed(*, mdes: float, cluster_size: float, icc: float, r2_level1: float = 0.0,
                      r2_level2: float = 0.0, p_treated: float = 0.5, alpha: float = 0.05,
                      power: float = 0.8, n_covariates_level2: int = 0, two_tailed: bool = True,
                      max_clusters: int = 100_000) -> int:
    """Smallest number of schools whose MDES is at most ``mdes`` (two-level CRT).

    Notes
    -----
    Searches ``J = g2 + 3, g2 + 4, ...`` (bisection on the monotone
    :func:`mdes`), so the degrees of freedom are exact for every ``J``; this
    gives the same answer as ``PowerUpR::mrss.cra2r2``'s iteration.
    Round-trip check: ``mdes(J=20, n=15, rho=.17)`` needs 20 schools.

    Examples
    --------
    >>> n_clusters_needed(mdes=0.25, cluster_size=25, icc=0.15, r2_level2=0.5)
    57
    """
    target = float(mdes)
    if not target > 0:
        raise DataError(f"`mdes` must be positive, but {mdes!r} was passed.")
    kw = dict(cluster_size=cluster_size, icc=icc, r2_level1=r2_level1, r2_level2=r2_level2,
              p_treated=p_treated, alpha=alpha, power=power, n_covariates_level2=n_covariates_level2,
              two_tailed=two_tailed)
    f = lambda J: globals()["mdes"](n_clusters=J, **kw)  # noqa: E731
    lo = int(n_covariates_level2) + 3
    if f(lo) <= target:
        return lo
    hi = lo
    while f(hi) > target:
        hi *= 2
        if hi > max_clusters:
            raise DataError(f"More than {max_clusters} schools would be needed for an MDES of {target}.")
    while hi - lo > 1:  # f(lo) > target >= f(hi)
        mid = (lo + hi) // 2
        if f(mid) <= target:
            hi = mid
        else:
            lo = mid
    return hi


@dataclasses.dataclass(frozen=True)
class PowerSimulation(Result):
    """Simulated power of a two-level cluster-randomised trial.

    Attributes
    ----------
    power : float
        Share of simulated trials whose treatment test was significant.
    mc_se : float
        Monte Carlo standard error ``sqrt(power (1 - power) / n_sims)``.
    n_sims : int
    analytic_power : float
        Power from the PowerUp! formula at the same design (noncentral t), for comparison.
    settings : dict
    """

    power: float
    mc_se: float
    n_sims: int
    analytic_power: float
    settings: dict = dataclasses.field(default_factory=dict, repr=False)
    estimates: np.ndarray = dataclasses.field(default=None, repr=False, compare=False)
    title = "Simulated power (two-level cluster-randomised trial)"

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{"power": self.power, "mc_se": self.mc_se, "n_sims": self.n_sims,
                              "analytic_power": self.analytic_power, **self.settings}])


def _analytic_power(effect, J, n, rho, p, alpha, r1, r2, g2):
    df = J - g2 - 2
    sse = math.sqrt(rho * (1 - r2) / (p * (1 - p) * J) + (1 - rho) * (1 - r1) / (p * (1 - p) * J * n))
    tcrit = stats.t.ppf(1 - alpha / 2, df)
    lam = effect / sse
    return float(stats.nct.sf(tcrit, df, lam) + stats.nct.cdf(-tcrit, df, lam))


def simulate_power(*, effect_size: float, n_clusters: int, cluster_size: int, icc: float,
                   p_treated: float = 0.5, alpha: float = 0.05, n_sims: int = 500,
                   seed=0, progress: bool | None = None) -> PowerSimulation:
    """Power of a two-level cluster-randomised trial by simulation.

    Each replicate draws ``y = effect * treat + u_school + e_pupil`` with
    ``var(u) = icc`` and ``var(e) = 1 - icc`` (total variance 1, so the effect
    is in SD units), fits the random-intercept model with the fast path
    :func:`belonging_lib.models.fit_random_intercept` (REML), and tests the
    treatment coefficient with a t test on ``J - 2`` df (the PowerUp! df).

    Parameters
    ----------
    effect_size : float
    n_clusters, cluster_size : int
    icc : float
    p_treated, alpha : float
    n_sims : int
    seed : int or None
        Seed of the simulation (0 by default, so the same call gives the same digits).
    progress : bool or None
        Show a progress bar (None: when the run takes about 2 seconds or more and
        someone is watching; ``BELONGING_PROGRESS=0`` silences every bar).

    Returns
    -------
    PowerSimulation
        With the analytic (PowerUp!) power at the same design for comparison;
        at ``effect_size = mdes(...)`` both should be close to 0.80.
    """
    from ..models import fit_random_intercept

    J = check_positive_int("n_clusters", n_clusters, minimum=4)
    n = check_positive_int("cluster_size", cluster_size, minimum=1)
    n_sims = check_positive_int("n_sims", n_sims, minimum=10)
    rho = _check_fraction("icc", icc)
    p = check_probability("p_treated", p_treated)
    alpha = check_probability("alpha", alpha)
    rng = np.random.default_rng(seed)
    n_t = int(round(p * J))
    if min(n_t, J - n_t) < 2:
        raise DataError(f"With n_clusters={J} and p_treated={p:g}, {n_t} cluster(s) are treated and {J - n_t} "
                        "are control. A cluster-randomised trial needs at least 2 clusters in each arm; "
                        "with one, the treatment effect cannot be told apart from that cluster's own effect.")
    groups = np.repeat(np.arange(J), n)
    treat_c = np.zeros(J)
    treat_c[:n_t] = 1
    X = np.column_stack([np.ones(J * n), np.repeat(treat_c, n)])
    df = J - 2
    tcrit = stats.t.ppf(1 - alpha / 2, df)
    # draw all replicates at once (vectorised), fit one at a time with the fast path
    u = rng.normal(0, math.sqrt(rho), size=(n_sims, J))
    e = rng.normal(0, math.sqrt(1 - rho), size=(n_sims, J * n))
    Y = effect_size * X[:, 1][None, :] + u[:, groups] + e
    est = np.empty(n_sims)
    sig = np.empty(n_sims, dtype=bool)
    show = show_progress(progress, seconds=n_sims * J * n / 1_000_000)
    for i in progress_bar(range(n_sims), desc="simulated trials", enabled=show):
        fit = fit_random_intercept(Y[i], X, cluster=groups, reml=True)
        est[i] = fit.coefficients[1]
        sig[i] = abs(fit.coefficients[1] / math.sqrt(fit.vcov[1, 1])) > tcrit
    pw = float(sig.mean())
    return PowerSimulation(
        power=pw, mc_se=math.sqrt(pw * (1 - pw) / n_sims), n_sims=n_sims,
        analytic_power=_analytic_power(effect_size, J, n, rho, n_t / J, alpha, 0, 0, 0),
        settings={"effect_size": effect_size, "n_clusters": J, "cluster_size": n, "icc": rho,
                  "p_treated": n_t / J, "alpha": alpha, "seed": seed},
        estimates=est,
    )

