"""Cluster-randomised trials: the EEF effect size, bootstrap and permutation inference,
subgroup effects and the complier-average causal effect.

The two-level models are fitted by :mod:`belonging_lib.models` (REML, Var(beta) =
(X'V^-1X)^-1 and Satterthwaite df as lme4/lmerTest), each built and fitted once; the
resampling draws its clusters with :mod:`belonging_lib._resampling` (one cluster bootstrap
and re-randomisation for the library).  The replicates of :func:`crt_effect` are re-weightings of
per-cluster blocks formed once, all solved together by the engine's Newton iteration
(:mod:`belonging_lib.models._replicates`); a replicate that is not a settled interior optimum is
refitted with :func:`~belonging_lib.models.fit_random_intercept`, and every replicate equals that
refit of its resample (``tests/test_trials.py``).
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from .._errors import BelongingWarning, DataError, ModelError
from .._progress import progress_bar, show_progress
from .._resampling import cluster_bootstrap, cluster_rows, rerandomise, stratified_cluster_draws
from .._results import EstimateTable, Result, coef_table, tidy
from .._validation import (
    as_frame,
    check_choice,
    check_positive_int,
    check_probability,
    require_columns,
    require_finite,
    require_one_kind_of_label,
)
from ._common import treatment_indicator

__all__ = ["CRTResult", "crt_effect", "SubgroupResult", "crt_subgroups", "CACEResult", "cace", "EEFTable", "eef_table"]

DENOMINATORS = {
    "eef": "outcome ~ treatment + (1 | cluster): total variance of the model with the treatment "
           "and no covariates (EEF statistical analysis guidance)",
    "intercept_only": "outcome ~ 1 + (1 | cluster): total variance of the empty model (eefAnalytics)",
}


# ------------------------------------------------------------------ model adapters
def _multilevel(data, formula, cluster):
    """The two-level REML random-intercept model (the one place this module calls ``multilevel``)."""
    from ..models import multilevel

    return multilevel(data, formula, cluster=cluster, reml=True)


def _fixed_row(model, term):
    fixed = model.fixed
    if term not in fixed.index:
        raise ModelError(f"Term {term!r} is not in the model (terms: {list(fixed.index)}).")
    return fixed.loc[term]


def _components(model) -> tuple[float, float]:
    """(cluster variance, residual variance) of a random-intercept model."""
    v = model.variance
    resid = v.index.astype(str).str.lower() == "residual"
    return float(v.loc[~resid, "variance"].iloc[0]), float(v.loc[resid, "variance"].iloc[0])


def _fast(y, X, clusters):
    """Fast exact REML random-intercept fit: (beta, se, cluster var, residual var)."""
    from ..models import fit_random_intercept

    fit = fit_random_intercept(y, X, cluster=clusters, reml=True)
    return fit.coefficients, fit.se, fit.tau00, fit.sigma2


def _auto_progress(progress, n_fits: int) -> bool:
    """``progress=None``: a bar only when the resampling is long (the library's one rule)."""
    return show_progress(progress, seconds=n_fits / 1000)


# ------------------------------------------------------------------ helpers
def _has_main_effect(formula: str, treatment: str) -> bool:
    from ..models._formula import has_term

    return has_term(formula, [treatment])


def _prepare(data, formula, cluster, treatment, block):
    """Check a trial's data and formula.

    Returns (outcome, analysed rows, labels of excluded rows, rows to give the model).  No design
    matrix is built here: the model is built and fitted once, by ``multilevel``.  The analysed rows
    are those complete on every column the formula uses and on the cluster, the treatment and the
    block, which is the rule ``multilevel`` applies; the rows to give the model are all the rows
    with a block (``multilevel`` leaves out the others itself), so that a value its design cannot
    use (``np.log(0)``) is named by its row in ``data``.
    """
    from ..models._design import screen_formula_data
    from ..models._formula import outcome_code, parse_formula

    data = as_frame(data)
    if not isinstance(formula, str) or "~" not in formula:
        raise DataError(f"`formula` must look like 'outcome ~ treatment + covariates', but {formula!r} was passed.")
    parse_formula(formula)
    outcome = outcome_code(formula)
    require_columns(data, [outcome, treatment, cluster] + ([block] if block else []))
    require_one_kind_of_label(data[cluster], cluster)      # school 1 and school '1' are one school
    arm = treatment_indicator(data, treatment, None)
    frame = data.copy()
    frame[treatment] = arm
    extra = [cluster, treatment] + ([block] if block else [])
    used = screen_formula_data(formula, frame, extra)
    if not _has_main_effect(formula, treatment):
        raise DataError(f"The treatment {treatment!r} must appear as a term of the formula {formula!r}.")
    keep = frame[list(dict.fromkeys(used + extra))].notna().all(axis=1)
    excluded = frame.index[~keep]
    model_rows = frame if not block else frame.loc[frame[block].notna()]
    frame = frame.loc[keep]
    per = frame.groupby(cluster)[treatment].nunique()
    if (per > 1).any():
        bad = list(per.index[per > 1])
        raise DataError(f"Treatment {treatment!r} varies within cluster(s) {bad[:5]}: a cluster-randomised "
                        "trial needs one arm per cluster.")
    _require_clusters_per_arm(frame, cluster, treatment)
    if block:
        per_b = frame.groupby(block)[treatment].nunique()
        if (per_b < 2).any():
            raise DataError(f"Block(s) {list(per_b.index[per_b < 2])[:5]} hold only one arm; "
                            "re-randomisation within blocks is impossible.")
    return outcome, frame, list(excluded), model_rows


def _design(formula, frame):
    """y and X of the analysed rows, as arrays for the resampling loops (and X's patsy frame)."""
    from ..models._formula import design_matrices

    y, X = design_matrices(formula, frame, NA_action="raise")
    return y.iloc[:, 0].to_numpy(float), X


#: Fewer analysed clusters than this in an arm: a small-sample warning (2 or more are needed at all).
SMALL_ARM_CLUSTERS = 10


def _clusters_per_arm(frame, cluster, treatment) -> dict:
    arms = frame.groupby(cluster)[treatment].first()
    return {"treated": int((arms == 1).sum()), "control": int((arms == 0).sum())}


def _require_clusters_per_arm(frame, cluster, treatment) -> None:
    """A trial needs at least 2 analysed clusters in each arm to be estimated at all."""
    counts = _clusters_per_arm(frame, cluster, treatment)
    if min(counts.values()) < 2:
        raise ModelError(
            f"The analysed pupils are in {counts['treated']} treated and {counts['control']} control "
            f"cluster(s) of {cluster!r}. A cluster-randomised trial needs at least 2 clusters in each arm: "
            "with one cluster in an arm, the treatment effect cannot be told apart from that cluster's own "
            "effect, so the between-cluster variance, the standard error and the confidence interval are "
            "not estimable.")


def _warn_few_clusters(frame, cluster, treatment) -> None:
    counts = _clusters_per_arm(frame, cluster, treatment)
    if min(counts.values()) < SMALL_ARM_CLUSTERS:
        warnings.warn(
            f"Only {counts['treated']} treated and {counts['control']} control clusters of {cluster!r} are "
            f"analysed (fewer than {SMALL_ARM_CLUSTERS} in an arm). With so few clusters the between-cluster "
            "variance is poorly estimated, the Satterthwaite df are small and the model's interval leans on "
            "normal cluster effects, and a cluster bootstrap under-covers. Read the interval with caution and "
            "report the permutation p (`n_perm=`) beside it.", BelongingWarning, stacklevel=4)


@dataclasses.dataclass(frozen=True)
class CRTResult(Result):
    """The EEF effect size of a cluster-randomised trial.

    Attributes
    ----------
    estimate, se, ci_low, ci_high : float
        The effect size (adjusted treatment coefficient / SD), its standard error and the
        model-based interval (the coefficient's SE and interval divided by the same SD).
    p, df : float
        Satterthwaite t test of the treatment coefficient.
    effect, effect_ci_low, effect_ci_high : float
        The adjusted treatment coefficient in outcome units and its interval (its SE is
        :attr:`effect_se`).
    sd, var_cluster, var_pupil : float
        The denominator SD and the variance components it is built from.
    icc : float
        Intra-cluster correlation of the denominator model.
    denominator : str
        ``"eef"`` or ``"intercept_only"``.
    boot_ci_low, boot_ci_high, n_boot : cluster-bootstrap percentile CI of the effect size
        (NaN if not run).
    p_permutation, n_perm : randomisation-inference p (NaN if not run).
    n, n_clusters, n_excluded : int
    ci_level : float
    numerator_model, denominator_model : the fitted models.
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
    sd: float
    var_cluster: float
    var_pupil: float
    icc: float
    denominator: str
    numerator_formula: str
    denominator_formula: str
    n: int
    n_clusters: int
    n_excluded: int
    ci_level: float = 0.95
    boot_ci_low: float = math.nan
    boot_ci_high: float = math.nan
    n_boot: int = 0
    p_permutation: float = math.nan
    n_perm: int = 0
    block: str | None = None
    numerator_model: object = dataclasses.field(default=None, repr=False, compare=False)
    denominator_model: object = dataclasses.field(default=None, repr=False, compare=False)
    boot_estimates: np.ndarray = dataclasses.field(default=None, repr=False, compare=False)
    perm_estimates: np.ndarray = dataclasses.field(default=None, repr=False, compare=False)
    title = "Cluster-randomised trial: EEF effect size"

    @property
    def model(self):
        """The numerator (analysis) model."""
        return self.numerator_model

    @property
    def effect_se(self) -> float:
        """Standard error of the treatment coefficient (outcome units)."""
        return self.se * self.sd

    def to_frame(self) -> pd.DataFrame:
        nan = np.nan
        rows = [
            {"term": "effect size (model CI)", "estimate": self.estimate, "se": self.se,
             "ci_low": self.ci_low, "ci_high": self.ci_high, "statistic": self.estimate / self.se,
             "df": self.df, "p": self.p, "n": self.n},
            {"term": "treatment (outcome units)", "estimate": self.effect, "se": self.effect_se,
             "ci_low": self.effect_ci_low, "ci_high": self.effect_ci_high,
             "statistic": self.effect / self.effect_se, "df": self.df, "p": self.p, "n": self.n},
        ]
        if self.n_boot:
            rows.append({"term": "effect size (cluster bootstrap CI)", "estimate": self.estimate, "se": nan,
                         "ci_low": self.boot_ci_low, "ci_high": self.boot_ci_high, "statistic": nan,
                         "df": nan, "p": nan, "n": self.n})
        if self.n_perm:
            rows.append({"term": "randomisation inference", "estimate": self.effect, "se": nan, "ci_low": nan,
                         "ci_high": nan, "statistic": nan, "df": nan, "p": self.p_permutation, "n": self.n})
        return tidy(pd.DataFrame(rows))

    def notes(self) -> list[str]:
        out = [
            f"Numerator model: {self.numerator_formula} + (1 | cluster), REML.",
            f"Denominator ({self.denominator}): {self.denominator_formula} + (1 | cluster); "
            f"SD = sqrt({self.var_cluster:.4g} + {self.var_pupil:.4g}) = {self.sd:.4g}; ICC = {self.icc:.3f}.",
            f"{self.n} pupils in {self.n_clusters} clusters; model CI uses Satterthwaite df ({self.df:.1f}).",
        ]
        if self.n_boot:
            out.append(f"Cluster bootstrap: {self.n_boot} resamples of clusters within arms, percentile CI.")
        if self.n_perm:
            out.append(f"Permutation p: {self.n_perm} re-randomisations of clusters"
                       f"{' within blocks' if self.block else ''}.")
        if self.n_excluded:
            out.append(f"{self.n_excluded} pupils excluded for missing values.")
        return out


def crt_effect(data: pd.DataFrame, formula: str, *, cluster: str, treatment: str,
               denominator: str = "eef", block: str | None = None, ci_level: float = 0.95,
               n_boot: int = 0, n_perm: int = 0, seed=0, progress: bool | None = None) -> CRTResult:
    """Effect size of a cluster-randomised trial as the EEF computes it.

    Parameters
    ----------
    data : DataFrame
        One row per pupil.
    formula : str
        The numerator (analysis) model's fixed part, for example
        ``"post_attain ~ treat + pre_attain + fsm"``; the random intercept for
        ``cluster`` is added.  The treatment must enter as a main effect.
    cluster : str
        The randomised unit (school) column.
    treatment : str
        0/1 column, constant within clusters.
    denominator : {"eef", "intercept_only"}
        ``"eef"`` (default): SD from ``outcome ~ treatment + (1|cluster)``;
        ``"intercept_only"``: SD from the empty model, as the R package
        eefAnalytics does.  The result states which was used.
    block : str, optional
        Randomisation stratum: permutations re-randomise within blocks.  (The
        bootstrap resamples within arms only; see Notes.)
    ci_level : float
        Level of the intervals (0.95).
    n_boot : int
        Cluster-bootstrap resamples for the bootstrap interval (0, the default: none; the
        model gives the interval).
    n_perm : int
        Re-randomisations for the permutation p (0 = none).
    seed : int or None
        Seed of the resampling (0 by default, so the same call gives the same digits).
    progress : bool or None
        Show a progress bar (None: when the run takes about 2 seconds or more and
        someone is watching; ``BELONGING_PROGRESS=0`` silences every bar).

    Returns
    -------
    CRTResult

    Raises
    ------
    ModelError
        Fewer than 2 analysed clusters in an arm: with one, the treatment effect
        cannot be told apart from that cluster's own effect.
    DataError
        An infinite value in a modelled column (named, with its rows), or a
        treatment that varies within a cluster.

    Warns
    -----
    BelongingWarning
        Fewer than 10 analysed clusters in an arm (``SMALL_ARM_CLUSTERS``): the
        between-cluster variance rests on few clusters, so the interval leans on
        the model's assumptions; report the permutation p beside it.

    Notes
    -----
    Effect size ``ES = b_T / sqrt(sigma^2_school + sigma^2_pupil)``, where
    ``b_T`` is the adjusted treatment coefficient of the numerator model and
    the variances come from the denominator model, both REML two-level
    random-intercept models fitted on the same pupils (complete cases on the
    numerator's variables).  Model-based CI: ``(b_T +/- t_{df} se) / SD``
    with lmerTest's Satterthwaite df.  Cluster bootstrap: clusters are
    resampled with replacement within each arm (not within blocks, which hold
    too few schools to resample), both models are
    refitted and the percentile interval of ES is reported (the SD is
    re-estimated in each resample).  Permutation p: clusters' arms are
    re-randomised (within blocks), the numerator model is refitted, and
    ``p = (1 + #{|b*| >= |b|}) / (1 + n_perm)``.  ICC = school variance over
    total variance of the denominator model.

    Validated against lme4/lmerTest (tests/reference/trials.R): coefficient,
    SE, df, variance components, ES and its CI.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(4)
    >>> school = np.repeat(np.arange(20), 30)
    >>> treat = (school % 2).astype(float)
    >>> pre = rng.normal(size=600)
    >>> post = 0.3 * treat + 0.5 * pre + rng.normal(0, 0.4, 20)[school] + rng.normal(0, 0.8, 600)
    >>> df = pd.DataFrame({"school": school, "treat": treat, "pre": pre, "post": post})
    >>> res = crt_effect(df, "post ~ treat + pre", cluster="school", treatment="treat")
    >>> res.denominator, res.n_clusters
    ('eef', 20)
    """
    res, _ = _fit_crt(data, formula, cluster=cluster, treatment=treatment, denominator=denominator,
                      block=block, ci_level=ci_level, n_boot=n_boot, n_perm=n_perm, seed=seed,
                      progress=progress)
    return res


def _fit_crt(data, formula, *, cluster, treatment, denominator="eef", block=None, ci_level=0.95,
             n_boot=0, n_perm=0, seed=0, progress=None):
    """:func:`crt_effect`, also returning the analysed rows (for :func:`cace`)."""
    from ..models._formula import rebuild

    check_choice("denominator", denominator, list(DENOMINATORS))
    ci_level = check_probability("ci_level", ci_level)
    outcome, frame, excluded, model_rows = _prepare(data, formula, cluster, treatment, block)
    _warn_few_clusters(frame, cluster, treatment)
    num = _multilevel(model_rows, formula, cluster)
    row = _fixed_row(num, treatment)
    b, se, df = float(row["estimate"]), float(row["se"]), float(row["df"])
    coef = coef_table([treatment], [b], [se], df, ci_level=ci_level).iloc[0]
    lo, hi = float(coef["ci_low"]), float(coef["ci_high"])
    den_formula = f"{outcome} ~ {treatment}" if denominator == "eef" else f"{outcome} ~ 1"
    den = _multilevel(frame, den_formula, cluster)
    tau2, sig2 = _components(den)
    sd = math.sqrt(tau2 + sig2)
    codes, uniq = pd.factorize(frame[cluster].to_numpy())
    res = dict(
        estimate=b / sd, se=se / sd, ci_low=lo / sd, ci_high=hi / sd, p=float(row["p"]), df=df,
        effect=b, effect_ci_low=lo, effect_ci_high=hi, sd=sd,
        var_cluster=tau2, var_pupil=sig2, icc=tau2 / (tau2 + sig2), denominator=denominator,
        numerator_formula=formula, denominator_formula=den_formula, n=len(frame),
        n_clusters=len(uniq), n_excluded=len(excluded), ci_level=ci_level, block=block,
        numerator_model=num, denominator_model=den,
    )
    if not (n_boot or n_perm):
        return CRTResult(**res), frame
    rng = np.random.default_rng(seed)
    y, X = _design(formula, frame)
    Xn = X.to_numpy(float)
    k = list(X.columns).index(treatment)
    cl_arm = frame.groupby(codes)[treatment].first().to_numpy(float)
    cl_block = frame.groupby(codes)[block].first().to_numpy() if block else None
    rows_of = cluster_rows(codes, len(uniq))
    if n_boot:
        n_boot = check_positive_int("n_boot", n_boot, minimum=20)
        Xd = (np.column_stack([np.ones(len(y)), frame[treatment].to_numpy(float)]) if denominator == "eef"
              else np.ones((len(y), 1)))
        # resample within arms only: blocks hold few schools per arm, and resampling 3 schools
        # within a block shrinks the variance by a factor (k - 1) / k = 2/3 (ignoring the
        # blocking instead is slightly conservative); control clusters first, then treated
        draws = stratified_cluster_draws([np.flatnonzero(cl_arm == v) for v in (0.0, 1.0)], n_boot, rng)

        def effect_size(idx, labels):
            Xr, kr = _drop_empty_columns(Xn[idx], k)
            beta, _, _, _ = _fast(y[idx], Xr, labels)
            _, _, t2, s2 = _fast(y[idx], Xd[idx], labels)
            return beta[kr] / math.sqrt(t2 + s2)

        est, rest = _boot_effect_sizes(y, Xn, Xd, k, codes, len(uniq), draws,
                                       (_components(num), _components(den)))
        est[rest] = cluster_bootstrap(effect_size, rows_of, draws[rest], desc="cluster bootstrap",
                                      progress=_auto_progress(progress, 2 * len(rest)))
        a = (1 - ci_level) / 2
        res.update(boot_ci_low=float(np.quantile(est, a)), boot_ci_high=float(np.quantile(est, 1 - a)),
                   n_boot=n_boot, boot_estimates=est)
    if n_perm:
        n_perm = check_positive_int("n_perm", n_perm, minimum=20)
        design = X.design_info if hasattr(X, "design_info") else None
        # when the treatment enters only as a main effect, swap its column instead of
        # rebuilding the design matrix for every re-randomisation
        if sum(treatment in str(c) for c in X.columns) == 1:
            design = None
        pframe = frame.copy()

        def permuted_design(arm_of_row):
            pframe[treatment] = arm_of_row
            if design is not None:
                return np.asarray(rebuild([design], pframe, formula=formula)[0], dtype=float)
            Xp = Xn.copy()
            Xp[:, k] = arm_of_row
            return Xp

        # the draws first, in the order the re-randomisations always made them
        arms = np.stack([rerandomise(cl_arm, cl_block, rng) for _ in range(n_perm)])
        perm, rest = _perm_coefficients(y, permuted_design, k, codes, len(uniq), arms, _components(num))
        for r in progress_bar(rest, desc="re-randomisations", enabled=_auto_progress(progress, len(rest))):
            beta, _, _, _ = _fast(y, permuted_design(arms[r][codes]), codes)
            perm[r] = beta[k]
        p = (1 + np.sum(np.abs(perm) >= abs(b) - 1e-12 * abs(b))) / (1 + n_perm)
        res.update(p_permutation=float(p), n_perm=n_perm, perm_estimates=perm)
    return CRTResult(**res), frame


@dataclasses.dataclass(frozen=True)
class SubgroupResult(Result):
    """Treatment effects within subgroups and the test of their difference.

    ``table``, one row per subgroup: term (the subgroup), estimate, se, ci_low, ci_high (the
    effect size on the whole-sample SD), statistic, df, p (Satterthwaite t test of the
    subgroup's treatment coefficient), n, effect, effect_ci_low, effect_ci_high (outcome
    units), n_clusters, n_excluded (pupils of that subgroup left out for missing values).
    ``interaction_effect``, ``interaction_se``, ``p_interaction``: coefficient, SE and p of
    treatment x subgroup in the whole sample; ``interaction_estimate`` is the coefficient on the
    effect-size scale.  ``n_excluded``: every pupil of ``data`` in no subgroup's analysis
    (subgroup missing, or a modelled value missing).
    """

    table: pd.DataFrame = dataclasses.field(repr=False)
    interaction_effect: float
    interaction_se: float
    p_interaction: float
    interaction_estimate: float
    sd: float
    subgroup: str
    n_excluded: int = 0
    ci_level: float = 0.95
    title = "Subgroup effects"

    def to_frame(self) -> pd.DataFrame:
        return tidy(self.table.copy())

    def notes(self) -> list[str]:
        return [f"Effect sizes use the whole-sample SD ({self.sd:.4g}) so subgroups are on one scale.",
                *([f"{self.n_excluded} pupils are in no subgroup's analysis (subgroup or a modelled value "
                   "missing)."] if self.n_excluded else []),
                f"Difference between subgroups (treatment x {self.subgroup}): {self.interaction_effect:.3f} "
                f"outcome units (effect size {self.interaction_estimate:.3f}), p = {self.p_interaction:.3f}.",
                "Subgroup analyses have less power than the main analysis; read them as exploratory "
                "unless pre-specified, and judge a difference by the interaction test, not by one "
                "subgroup being significant and the other not."]


def _effect_size_row(term, row, sd, ci_level, n) -> dict:
    """One tidy row: a treatment coefficient of a model on the effect-size scale, and in outcome units."""
    b, se, df = float(row["estimate"]), float(row["se"]), float(row["df"])
    table = coef_table([term], [b / sd], [se / sd], df, ci_level=ci_level)
    out = table.reset_index().iloc[0].to_dict()
    out["p"] = float(row["p"])              # the model's own p (the same t test)
    out["n"] = int(n)
    out.update(effect=b, effect_ci_low=out["ci_low"] * sd, effect_ci_high=out["ci_high"] * sd)
    return out


def _interaction(data, formula, *, cluster, treatment, subgroup):
    """The whole-sample model with ``subgroup`` and ``treatment:subgroup`` added: (its row, rows used)."""
    from ..models._formula import with_terms

    # patsy's parse: the subgroup's main effect and interaction are added as terms
    inter_formula = with_terms(formula, subgroup, (treatment, subgroup))
    _, frame, _, _ = _prepare(data, inter_formula, cluster, treatment, None)
    return _fixed_row(_multilevel(frame, inter_formula, cluster), f"{treatment}:{subgroup}"), frame


def crt_subgroups(data: pd.DataFrame, formula: str, *, cluster: str, treatment: str, subgroup: str,
                  denominator: str = "eef", ci_level: float = 0.95) -> SubgroupResult:
    """Effect of the programme within each level of a pupil subgroup (for example FSM).

    Parameters
    ----------
    data, formula, cluster, treatment, denominator, ci_level
        As :func:`crt_effect` (``formula`` should not already contain ``subgroup``
        interactions; a main effect of ``subgroup`` is fine).
    subgroup : str
        0/1 (or two-valued) pupil column.

    Returns
    -------
    SubgroupResult

    Notes
    -----
    Each subgroup's effect is the treatment coefficient of the numerator
    model fitted to that subgroup's pupils, divided by the whole-sample
    denominator SD (so the effect sizes are comparable).  The difference is
    tested by the ``treatment:subgroup`` coefficient of the whole-sample model
    with the subgroup main effect added (Satterthwaite df).
    """
    data = as_frame(data)
    require_columns(data, subgroup, role="subgroup column")
    ci_level = check_probability("ci_level", ci_level)
    whole = crt_effect(data, formula, cluster=cluster, treatment=treatment, denominator=denominator,
                       ci_level=ci_level, progress=False)
    levels = sorted(data[subgroup].dropna().unique())
    if len(levels) != 2:
        raise DataError(f"Subgroup column {subgroup!r} must hold two values; found {len(levels)}.")
    rows = []
    for lev in levels:
        members = data[data[subgroup] == lev]
        try:
            _, part, dropped, _ = _prepare(members, formula, cluster, treatment, None)
        except ModelError as exc:
            raise ModelError(f"Subgroup {subgroup} = {lev}: {exc}") from None
        r = _fixed_row(_multilevel(part, formula, cluster), treatment)
        row = _effect_size_row(f"{subgroup} = {lev}", r, whole.sd, ci_level, len(part))
        row.update(n_clusters=int(part[cluster].nunique()), n_excluded=len(dropped))
        rows.append(row)
    ri, _ = _interaction(data, formula, cluster=cluster, treatment=treatment, subgroup=subgroup)
    return SubgroupResult(table=tidy(pd.DataFrame(rows)), interaction_effect=float(ri["estimate"]),
                          interaction_se=float(ri["se"]), p_interaction=float(ri["p"]),
                          interaction_estimate=float(ri["estimate"]) / whole.sd, sd=whole.sd,
                          subgroup=subgroup, n_excluded=int(len(data) - sum(row["n"] for row in rows)),
                          ci_level=ci_level)


@dataclasses.dataclass(frozen=True)
class CACEResult(Result):
    """Complier-average causal effect (instrumental-variable / Wald estimator).

    Attributes
    ----------
    estimate, ci_low, ci_high : float
        CACE as an effect size (ITT effect size / compliance difference) and its CI.
    effect, effect_ci_low, effect_ci_high : float
        CACE in outcome units.
    itt_effect, itt_estimate : float
        Intention-to-treat coefficient and effect size.
    compliance_treated, compliance_control, compliance_difference : float
    ci_method : str
        ``"bootstrap"`` (cluster bootstrap, percentile) or ``"delta"``.
    n, n_clusters, n_excluded : int
        Pupils analysed, their clusters, and pupils left out for missing values.
    ci_level : float
    """

    estimate: float
    ci_low: float
    ci_high: float
    effect: float
    effect_ci_low: float
    effect_ci_high: float
    itt_effect: float
    itt_estimate: float
    compliance_treated: float
    compliance_control: float
    compliance_difference: float
    sd: float
    ci_method: str
    n_boot: int
    n: int
    n_clusters: int
    ci_level: float = 0.95
    n_boot_undefined: int = 0
    n_excluded: int = 0
    title = "Complier-average causal effect (CACE)"

    def to_frame(self) -> pd.DataFrame:
        nan = np.nan
        return tidy(pd.DataFrame([
            {"term": "CACE effect size", "estimate": self.estimate, "ci_low": self.ci_low,
             "ci_high": self.ci_high, "n": self.n},
            {"term": "CACE (outcome units)", "estimate": self.effect, "ci_low": self.effect_ci_low,
             "ci_high": self.effect_ci_high, "n": self.n},
            {"term": "ITT effect size", "estimate": self.itt_estimate, "ci_low": nan, "ci_high": nan, "n": self.n},
            {"term": "compliance difference", "estimate": self.compliance_difference, "ci_low": nan,
             "ci_high": nan, "n": self.n},
        ]))

    def notes(self) -> list[str]:
        return [f"Compliance: {self.compliance_treated:.1%} of programme pupils and "
                f"{self.compliance_control:.1%} of control pupils were in schools that delivered it.",
                f"CI: {self.ci_method}" + (f" ({self.n_boot} cluster resamples, {self.n_boot_undefined} "
                                          "without a compliance difference left out)" if self.n_boot else "") + ".",
                *([f"{self.n_excluded} pupils excluded for missing values."] if self.n_excluded else []),
                "Assumes random allocation, no effect of allocation except through delivery "
                "(exclusion restriction), no defiers (monotonicity) and no interference between schools."]


def cace(data: pd.DataFrame, *, outcome: str, treatment: str, complied: str, cluster: str,
         covariates=None, denominator: str = "eef", ci_level: float = 0.95, ci_method: str = "bootstrap",
         n_boot: int = 1000, seed=0, progress: bool | None = None) -> CACEResult:
    """Complier-average causal effect of a cluster-randomised trial.

    Parameters
    ----------
    data : DataFrame
        One row per pupil.
    outcome, treatment, cluster : str
        The outcome, the 0/1 arm column and the randomised unit (school).
    complied : str
        0/1: the pupil's school delivered the programme as intended (0 in control
        schools unless they obtained it).
    covariates : list of str, optional
        Terms added to the ITT model (as in the primary analysis; formula terms
        such as ``"C(block)"`` are allowed).
    denominator : {"eef", "intercept_only"}
        For the effect-size scale (as :func:`crt_effect`).
    ci_level : float
        Level of the interval (0.95).
    ci_method : {"bootstrap", "delta"}
        ``"bootstrap"``: resample clusters within arms, recompute ITT (fast
        random-intercept fit) and compliance difference, percentile CI.
        ``"delta"``: ``se = sqrt(se_ITT^2 / c^2 + ITT^2 se_c^2 / c^4)`` with
        ``se_c`` the cluster-level SE of the compliance difference (ignores
        their covariance).
    n_boot : int
        Cluster-bootstrap resamples (1000); the bootstrap gives the interval.
    seed : int or None
        Seed of the bootstrap (0 by default).
    progress : bool or None
        A progress bar (None: only for long runs).

    Returns
    -------
    CACEResult

    Notes
    -----
    Wald / instrumental-variable estimator with random allocation as the
    instrument: ``CACE = ITT / (c_T - c_C)``, where ``ITT`` is the adjusted
    treatment coefficient of the two-level model and ``c_T``, ``c_C`` the
    shares of analysed pupils in each arm whose school complied.  Valid under
    the exclusion restriction (allocation affects outcomes only through
    delivery), monotonicity (no school delivers it *because* it was
    allocated to control), and no interference.  The CACE is larger than the
    ITT and less precise; report it beside, never instead of, the ITT.
    """
    from .._validation import as_list

    covs = as_list(covariates)
    check_choice("ci_method", ci_method, ["bootstrap", "delta"])
    ci_level = check_probability("ci_level", ci_level)
    require_columns(data, [complied], role="compliance column")
    require_finite(data, complied, what="CACE")
    formula = f"{outcome} ~ {' + '.join([treatment] + covs)}"
    itt, frame = _fit_crt(data, formula, cluster=cluster, treatment=treatment, denominator=denominator,
                          ci_level=ci_level, progress=False)
    used = data.loc[frame.index]
    if used[complied].isna().any():
        raise DataError(f"Column {complied!r} is missing for {int(used[complied].isna().sum())} analysed pupils.")
    comp = pd.to_numeric(used[complied], errors="coerce").to_numpy(float)
    arm = frame[treatment].to_numpy(float)
    cT, cC = comp[arm == 1].mean(), comp[arm == 0].mean()
    cdiff = cT - cC
    if abs(cdiff) < 1e-8:
        raise ModelError("Compliance is the same in both arms: the CACE is not identified.")
    est = float(itt.effect / cdiff)
    a = (1 - ci_level) / 2
    codes = pd.factorize(used[cluster])[0]
    if ci_method == "delta":
        cl = pd.DataFrame({"c": comp, "a": arm, "g": codes}).groupby("g").agg(c=("c", "mean"), a=("a", "first"),
                                                                               n=("c", "size"))

        def _var_share(part):
            w = part.n / part.n.sum()
            m = np.sum(w * part.c)
            k = len(part)
            return k / (k - 1) * np.sum(w**2 * (part.c - m) ** 2) if k > 1 else 0.0
        se_c = math.sqrt(_var_share(cl[cl.a == 1]) + _var_share(cl[cl.a == 0]))
        se = math.sqrt(itt.effect_se**2 / cdiff**2 + itt.effect**2 * se_c**2 / cdiff**4)
        z = stats.norm.ppf(1 - a)
        lo, hi = float(est - z * se), float(est + z * se)
        nb = n_undefined = 0
    else:
        nb = check_positive_int("n_boot", n_boot, minimum=20)
        rng = np.random.default_rng(seed)
        yv, X = _design(formula, frame)
        Xv = X.to_numpy(float)
        k = list(X.columns).index(treatment)
        rows_of = cluster_rows(codes)
        cl_arm = np.array([arm[r[0]] for r in rows_of])
        # treated clusters first, then control
        draws = stratified_cluster_draws([np.flatnonzero(cl_arm == v) for v in (1.0, 0.0)], nb, rng)

        def cace_effect(idx, labels):
            Xr, kr = _drop_empty_columns(Xv[idx], k)
            beta, _, _, _ = _fast(yv[idx], Xr, labels)
            a_r, c_r = arm[idx], comp[idx]
            cd_r = c_r[a_r == 1].mean() - c_r[a_r == 0].mean()
            # a resample in which no programme school complied has no CACE: left out and counted
            return beta[kr] / cd_r if abs(cd_r) > 1e-12 else np.nan

        # the ITT coefficient of every replicate from cached cluster blocks, the compliance
        # difference from the clusters' sums; the replicates not settled there are refitted
        coef, counts, solved = _boot_coefficient(yv, Xv, k, codes, len(rows_of), draws,
                                                 _components(itt.numerator_model))
        n_j = np.bincount(codes, minlength=len(rows_of)).astype(float)
        c_j = np.bincount(codes, weights=comp, minlength=len(rows_of))
        with np.errstate(all="ignore"):
            share = [np.einsum("bj,j->b", counts, c_j * (cl_arm == v)) / np.einsum("bj,j->b", counts, n_j * (cl_arm == v))
                     for v in (1.0, 0.0)]
            cd = share[0] - share[1]
            boots = np.where(np.abs(cd) > 1e-12, coef / cd, np.nan)
        rest = np.flatnonzero(~solved)
        boots[rest] = cluster_bootstrap(cace_effect, rows_of, draws[rest], desc="CACE bootstrap",
                                        progress=_auto_progress(progress, len(rest)))
        n_undefined = int(np.isnan(boots).sum())
        if n_undefined > 0.05 * nb:
            raise ModelError(f"{n_undefined} of {nb} bootstrap resamples had no compliance difference; "
                             "use ci_method='delta'.")
        lo, hi = (float(v) for v in np.nanquantile(boots, [a, 1 - a]))
    return CACEResult(estimate=est / itt.sd, ci_low=lo / itt.sd, ci_high=hi / itt.sd, effect=est,
                      effect_ci_low=lo, effect_ci_high=hi, itt_effect=itt.effect, itt_estimate=itt.estimate,
                      compliance_treated=float(cT), compliance_control=float(cC), compliance_difference=float(cdiff),
                      sd=itt.sd, ci_method=ci_method, n_boot=nb, n=itt.n, n_clusters=itt.n_clusters,
                      ci_level=ci_level, n_boot_undefined=n_undefined, n_excluded=itt.n_excluded)


# ------------------------------------------------------------------ resampling from cached cluster blocks
def _theta0(components) -> float:
    """lme4's theta (relative SD of the cluster effect) of a fit's (cluster, residual) variances."""
    tau2, sig2 = components
    return math.sqrt(max(tau2, 0.0) / sig2) if sig2 > 0 else 0.1


def _replicate_counts(draws: np.ndarray, n_clusters: int) -> np.ndarray:
    """(B, J): how many times each replicate of ``draws`` holds each cluster."""
    counts = np.zeros((len(draws), n_clusters))
    np.add.at(counts, (np.repeat(np.arange(len(draws)), draws.shape[1]), draws.ravel()), 1.0)
    return counts


def _boot_coefficient(y, Xn, k, codes, n_clusters, draws, components):
    """Coefficient of column ``k`` in each cluster-bootstrap replicate of ``draws``, from cached blocks.

    Each replicate's model is a weighted sum of the clusters' blocks, solved for all replicates at
    once (:func:`belonging_lib.models._replicates.fit_replicates`); a design column that is zero in
    every drawn cluster (a block dummy whose schools were not drawn) is dropped, as the refit does.
    Returns the coefficients, the counts of each cluster in each replicate (B, J) and a mask of the
    replicates solved here; the others are to be refitted one by one (an optimum the batch does not
    settle, a design the engine cannot solve, or data the refit refuses).
    """
    from ..models._replicates import cluster_blocks, fit_replicates

    counts = _replicate_counts(draws, n_clusters)
    drawn = counts > 0
    num = cluster_blocks(y, Xn, codes, n_clusters)
    nj = num.nj
    nonzero = np.stack([np.bincount(codes, weights=(Xn[:, c] != 0).astype(float), minlength=n_clusters) > 0
                        for c in range(Xn.shape[1])], axis=1)
    keep = np.einsum("bj,jc->bc", drawn.astype(float), nonzero.astype(float)) > 0
    ymin = np.full(n_clusters, np.inf)
    ymax = np.full(n_clusters, -np.inf)
    np.minimum.at(ymin, codes, y)
    np.maximum.at(ymax, codes, y)
    n_rep = np.einsum("bj,j->b", counts, nj)
    # what fit_random_intercept refuses (a constant outcome, single-row clusters only, too few rows):
    # left to the refit, which raises its own error
    refused = ((np.where(drawn, ymax, -np.inf).max(axis=1) == np.where(drawn, ymin, np.inf).min(axis=1))
               | (np.where(drawn, nj, 0).max(axis=1) < 2) | (n_rep <= keep.sum(axis=1)))
    est = np.full(len(draws), np.nan)
    ok = ~refused
    patterns, which = np.unique(keep, axis=0, return_inverse=True)
    with np.errstate(all="ignore"):
        for i, pattern in enumerate(patterns):
            rows = np.flatnonzero(np.asarray(which).ravel() == i)
            f = fit_replicates([(counts[rows], num.columns(pattern))], nj, _theta0(components), reml=True)
            est[rows] = f.beta[:, int(np.sum(pattern[:k]))]
            ok[rows] &= f.settled
    return est, counts, ok & np.isfinite(est)


def _boot_effect_sizes(y, Xn, Xd, k, codes, n_clusters, draws, components):
    """Effect sizes of the cluster-bootstrap replicates ``draws`` from cached cluster blocks: the
    numerator's coefficient (:func:`_boot_coefficient`) over the square root of the denominator
    model's total variance.  Returns the estimates and the replicates to refit one by one."""
    from ..models._replicates import cluster_blocks, fit_replicates

    b, counts, ok = _boot_coefficient(y, Xn, k, codes, n_clusters, draws, components[0])
    den = cluster_blocks(y, Xd, codes, n_clusters)
    with np.errstate(all="ignore"):
        d = fit_replicates([(counts, den)], den.nj, _theta0(components[1]), reml=True)
        est = b / np.sqrt(d.theta ** 2 * d.sigma2 + d.sigma2)
    ok &= d.settled & np.isfinite(est)
    return est, np.flatnonzero(~ok)


def _perm_coefficients(y, permuted_design, k, codes, n_clusters, arms, components):
    """Treatment coefficients of the re-randomisations ``arms`` (B, J) from cached cluster blocks.

    The treatment is constant within a cluster, so each cluster has two versions of its block (its
    rows' design with the arm set to 0 and to 1); a re-randomisation takes each cluster's version of
    its new arm.  Returns the coefficients and the replicates to refit one by one.
    """
    from ..models._replicates import cluster_blocks, fit_replicates

    b0 = cluster_blocks(y, permuted_design(np.zeros(len(y))), codes, n_clusters)
    b1 = cluster_blocks(y, permuted_design(np.ones(len(y))), codes, n_clusters)
    a = np.asarray(arms, float)
    with np.errstate(all="ignore"):
        f = fit_replicates([(1.0 - a, b0), (a, b1)], b0.nj, _theta0(components), reml=True)
    est = f.beta[:, k].copy()
    ok = f.settled & np.isfinite(est)
    return est, np.flatnonzero(~ok)


def _drop_empty_columns(X, k):
    """Drop the columns a resampled design cannot estimate.

    These are all-zero columns (a block dummy whose schools were not drawn) and, when the reference
    block's schools were not drawn, one block dummy: the others then add up to the intercept. Columns
    are kept in order while they add to the rank, so the intercept, the treatment and the covariates
    stay and the last dependent dummy goes (another reference block; the treatment coefficient is the
    same whichever block is the reference). Returns the reduced matrix and the new position of column
    ``k``.
    """
    keep = np.any(X != 0, axis=0)
    if np.linalg.matrix_rank(X[:, keep]) < keep.sum():
        rank = 0
        for j in np.flatnonzero(keep):
            trial = np.flatnonzero(keep[:j]).tolist() + [j]
            if np.linalg.matrix_rank(X[:, trial]) > rank:
                rank += 1
            else:
                keep[j] = False
    if keep.all():
        return X, k
    if not keep[k]:
        raise ModelError("The treatment cannot be estimated in a cluster-bootstrap resample.")
    return X[:, keep], int(np.sum(keep[:k]))



@dataclasses.dataclass(frozen=True, kw_only=True)
class EEFTable(EstimateTable):
    """A results table in the layout of an EEF evaluation report (what :func:`eef_table` returns).

    ``to_frame()`` has one row per outcome: ``outcome, effect_size, ci_low, ci_high,
    months_progress, n_schools, n_pupils, p`` (the report's own columns and order; numbers
    unrounded, round when displaying).  Show it through :func:`belonging_lib.disclosure.suppress`
    with ``count_col="n_pupils"``.
    """

    #: the months' progress table used (``"toolkit"`` or ``"project"``)
    months_table: str = "toolkit"

    title = "Results (EEF report layout)"

    def to_frame(self) -> pd.DataFrame:
        """A copy of the table in the report's layout (its columns are the report's, not reordered)."""
        return self.table.copy().reset_index(drop=True)


def eef_table(rows: dict, *, table: str = "toolkit", ci_column: str = "model", attainment=None) -> EEFTable:
    """Results table in the form of an EEF evaluation report.

    Parameters
    ----------
    rows : dict
        Label -> a :class:`CRTResult`, or a mapping / Series with ``estimate``,
        ``ci_low``, ``ci_high``, ``n`` (and optionally ``p``,
        ``n_clusters``), for example a row of :class:`SubgroupResult`'s table.
    table : {"toolkit", "project"}
        Months' progress table (:func:`~belonging_lib.trials.months_progress`).
    ci_column : {"model", "bootstrap"}
        Which CI of a :class:`CRTResult` to show.
    attainment : list of str, optional
        The labels of ``rows`` whose outcome is attainment: months' progress are given for these
        only (missing for the others), since the EEF's conversion was built for attainment.  ``None``
        (the default) gives months for every row.

    Returns
    -------
    EEFTable
        Its ``to_frame()`` has the columns: outcome, effect_size, ci_low, ci_high, months_progress,
        n_schools, n_pupils, p (the layout of an EEF report's table; numbers unrounded,
        round when displaying).
    """
    from .months import months_progress

    check_choice("ci_column", ci_column, ["model", "bootstrap"])
    if attainment is not None:
        attainment = [attainment] if isinstance(attainment, str) else list(attainment)
        unknown = [a for a in attainment if a not in rows]
        if unknown:
            raise DataError(f"`attainment` names {unknown}, which are not labels of `rows` ({list(rows)}).")
    out = []
    for label, r in rows.items():
        if isinstance(r, CRTResult):
            lo, hi = (r.ci_low, r.ci_high) if ci_column == "model" else (r.boot_ci_low, r.boot_ci_high)
            rec = {"estimate": r.estimate, "ci_low": lo, "ci_high": hi, "n": r.n,
                   "n_clusters": r.n_clusters, "p": r.p}
        else:
            rec = dict(r)
        out.append({"outcome": label, "effect_size": rec["estimate"], "ci_low": rec["ci_low"],
                    "ci_high": rec["ci_high"],
                    "months_progress": (months_progress(rec["estimate"], table=table)
                                        if attainment is None or label in attainment else np.nan),
                    "n_schools": rec.get("n_clusters", np.nan), "n_pupils": rec["n"],
                    "p": rec.get("p", np.nan)})
    return EEFTable(table=pd.DataFrame(out), keys=("outcome",), months_table=table)
