"""Tests of belonging_lib.trials: reference values from tests/reference/trials.R (R effectsize,
lm, lme4/lmerTest), PowerUpR's published cross-checks, the EEF months table, WWC boundaries,
and simulated known truth."""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from belonging_lib import DataError, ModelError
from belonging_lib import trials as tr

REF_DIR = Path(__file__).parent / "reference"
REF = json.loads((REF_DIR / "trials.json").read_text())


def _read(name):
    path = REF_DIR / "data" / name
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    assert md5 == REF["md5"][name], f"{name} changed since trials.R was run; rerun the R script"
    return pd.read_csv(path)


@pytest.fixture(scope="module")
def ind():
    return _read("trials_individual.csv")


@pytest.fixture(scope="module")
def crt_data():
    return _read("trials_crt.csv")


# ---------------------------------------------------------------- effect sizes vs R effectsize
@pytest.mark.parametrize("ci", [0.95, 0.90])
def test_hedges_g_and_d_match_effectsize(ind, ci):
    r = REF["smd"][f"ci{round(100 * ci):02d}"]
    g = tr.hedges_g(ind, outcome="post", treatment="arm", treated="programme", ci_level=ci)
    d = tr.cohens_d(ind, outcome="post", treatment="arm", treated="programme", ci_level=ci)
    # effectsize finds the noncentral-t limits with optim (Nelder-Mead, abstol 1e-9 on
    # probabilities); ours are exact roots. Measured agreement 1.6e-7 relative.
    assert_allclose([g.estimate, g.ci_low, g.ci_high], [r["g"], r["g_low"], r["g_high"]], rtol=1e-6, atol=0)
    assert_allclose([d.estimate, d.ci_low, d.ci_high], [r["d"], r["d_low"], r["d_high"]], rtol=1e-6, atol=0)
    assert g.n_treated + g.n_control == 60 and g.n_excluded == 4


def test_hedges_g_second_dataset(ind):
    r = REF["smd"]["pre_ci95"]
    g = tr.hedges_g(ind, outcome="pre", treatment="arm", treated="programme")
    assert_allclose([g.estimate, g.ci_low, g.ci_high], [r["g"], r["g_low"], r["g_high"]], rtol=1e-6, atol=0)


def test_hedges_g_tiny_arms_far_in_the_tails():
    # df = 2 and g = 5.6: SciPy's noncentral t returns NaN over part of the search range,
    # which used to stop the root finder.  effectsize gives the limits below.
    r = REF["smd"]["tiny_ci95"]
    d = pd.DataFrame({"y": r["x"] + r["y"], "arm": [1] * len(r["x"]) + [0] * len(r["y"])})
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        g = tr.hedges_g(d, outcome="y", treatment="arm", treated=1)
    assert_allclose([g.estimate, g.ci_low, g.ci_high], [r["g"], r["g_low"], r["g_high"]], rtol=1e-5, atol=0)


def test_hedges_correction_close_to_approximation(ind):
    g = tr.hedges_g(ind, outcome="post", treatment="arm", treated="programme")
    m = g.n_treated + g.n_control - 2
    assert_allclose(g.correction, 1 - 3 / (4 * m - 1), rtol=1e-4)  # the approximation is O(m^-2) off


def test_normal_ci_uses_var_formula(ind):
    g = tr.hedges_g(ind, outcome="post", treatment="arm", treated="programme", ci_method="normal")
    d = g.estimate / g.correction
    n1, n2 = g.n_treated, g.n_control
    se_d = math.sqrt((n1 + n2) / (n1 * n2) + d**2 / (2 * (n1 + n2)))
    assert_allclose(g.ci_high - g.ci_low, 2 * 1.959963984540054 * se_d * g.correction, rtol=1e-9)
    t = tr.hedges_g(ind, outcome="post", treatment="arm", treated="programme")
    assert_allclose(g.ci_low, t.ci_low, rtol=0.05)  # the two CI methods are close at n = 60


def test_sign_is_treated_minus_control(ind):
    flipped = ind.assign(arm=ind.arm.map({"programme": "control", "control": "programme"}))
    a = tr.hedges_g(ind, outcome="post", treatment="arm", treated="programme")
    b = tr.hedges_g(flipped, outcome="post", treatment="arm", treated="programme")
    assert_allclose(a.estimate, -b.estimate, rtol=1e-12)


def test_effect_size_bad_input(ind):
    with pytest.raises(DataError, match="treated value"):
        tr.hedges_g(ind, outcome="post", treatment="arm", treated="mentoring")
    with pytest.raises(DataError, match="0 \\(control\\) / 1"):
        tr.hedges_g(ind, outcome="post", treatment="arm")
    with pytest.raises(DataError, match="ci_method"):
        tr.hedges_g(ind, outcome="post", treatment="arm", treated="programme", ci_method="boot")


def test_ancova_matches_lm(ind):
    r = REF["ancova"]
    a = tr.ancova(ind, outcome="post", treatment="arm", treated="programme", pretest="pre")
    assert_allclose([a.effect, a.effect_se, a.p, a.effect_ci_low, a.effect_ci_high, a.df],
                    [r["b"], r["se"], r["p"], r["ci"][0], r["ci"][1], r["df"]], rtol=1e-6, atol=0)
    assert a.n == r["n"] and a.n_excluded == 4
    assert_allclose(a.estimate, a.effect / a.sd_pooled * tr.hedges_g(
        ind, outcome="post", treatment="arm", treated="programme").correction, rtol=1e-12)


# ---------------------------------------------------------------- months' progress
TOOLKIT = [(0, -0.01, 0.01), (1, 0.02, 0.09), (2, 0.10, 0.18), (3, 0.19, 0.26), (4, 0.27, 0.35),
           (5, 0.36, 0.44), (6, 0.45, 0.52), (7, 0.53, 0.61), (8, 0.62, 0.69), (9, 0.70, 0.78),
           (10, 0.79, 0.87), (11, 0.88, 0.95), (12, 0.96, 3.0)]


@pytest.mark.parametrize("months,lo,hi", TOOLKIT)
def test_months_toolkit_every_boundary(months, lo, hi):
    assert tr.months_progress(lo) == months
    assert tr.months_progress(hi) == months
    if months > 0:
        assert tr.months_progress(-lo) == -months and tr.months_progress(-hi) == -months
        assert tr.months_progress(round(lo - 0.01, 2)) == months - 1
    # rounding to 2 dp: just under the next lower bound still rounds into this band
    assert tr.months_progress(hi + 0.0049) == months


def test_months_project_table():
    assert [tr.months_progress(x, table="project") for x in (0.04, 0.045, 0.05, 0.09, 0.10, -0.05)] == \
        [0, 1, 1, 1, 2, -1]
    assert tr.months_progress(0.04) == 1  # the Toolkit table differs here
    with pytest.raises(DataError, match="table"):
        tr.months_progress(0.2, table="eef")
    with pytest.raises(DataError):
        tr.months_progress(float("nan"))


def test_months_table_frame():
    t = tr.months_table()
    assert list(t.months) == list(range(13)) and t.es_from.iloc[1] == 0.02 and t.es_to.iloc[11] == 0.95


# ---------------------------------------------------------------- WWC attrition and balance
def test_wwc_boundary_table_points_and_rule():
    assert tr.wwc_boundary(0) == 5.7 and tr.wwc_boundary(57) == 0.0
    assert tr.wwc_boundary(30, boundary="optimistic") == 8.4
    assert tr.wwc_boundary(7) == 6.1                       # between 5 (6.1) and 10 (6.3): smaller
    assert tr.wwc_boundary(32) == 3.3                      # between 30 (4.1) and 35 (3.3)
    assert tr.wwc_boundary(56, boundary="optimistic") == 2.3
    assert tr.wwc_boundary(60, boundary="optimistic") == 0.0  # beyond the table: high


def _attr_frame(n_t, lost_t, n_c, lost_c):
    return pd.DataFrame({"arm": ["programme"] * n_t + ["control"] * n_c,
                         "attrited": [1] * lost_t + [0] * (n_t - lost_t) + [1] * lost_c + [0] * (n_c - lost_c)})


def test_attrition_counts_and_ratings():
    # overall 20% (boundary 5.4 / 10.2); differential 6 pp -> high cautious, low optimistic
    res = tr.attrition(_attr_frame(500, 115, 500, 85), treatment="arm", treated="programme", attrited="attrited")
    assert_allclose([res.overall, res.differential], [0.20, 0.06], rtol=1e-12)
    assert (res.rating_cautious, res.rating_optimistic) == ("high", "low")
    assert_allclose([res.boundary_cautious, res.boundary_optimistic], [0.054, 0.102], rtol=1e-12)
    # exactly on the boundary counts as low
    res = tr.attrition(_attr_frame(2000, 161, 2000, 39), treatment="arm", treated="programme", attrited="attrited")
    assert_allclose([res.overall, res.differential, res.boundary_cautious], [0.05, 0.061, 0.061], rtol=1e-12)
    assert res.rating_cautious == "low"
    res = tr.attrition(_attr_frame(2000, 162, 2000, 38), treatment="arm", treated="programme", attrited="attrited")
    assert res.rating_cautious == "high" and res.rating_optimistic == "low"


def test_attrition_from_outcome_and_cluster():
    df = pd.DataFrame({"t": [1] * 6 + [0] * 6, "s": [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6],
                       "y": [1, np.nan, np.nan, np.nan, 2, 3, 1, 2, 3, 4, np.nan, 1]})
    res = tr.attrition(df, treatment="t", outcome="y")
    assert res.table.set_index("arm").loc["treated", "lost"] == 3
    res = tr.attrition(df, treatment="t", outcome="y", cluster="s")
    assert res.unit == "schools" and res.table.set_index("arm").loc["treated", "lost"] == 1
    with pytest.raises(DataError, match="exactly one"):
        tr.attrition(df, treatment="t")


def test_balance_g_and_cox():
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"t": np.repeat([0, 1], 200), "x": rng.normal(size=400),
                       "b": np.r_[np.repeat([0, 1], [150, 50]), np.repeat([0, 1], [120, 80])]})
    res = tr.balance(df, treatment="t", covariates=["x", "b"]).table.set_index("covariate")
    g = tr.hedges_g(df, outcome="x", treatment="t").estimate
    assert_allclose(res.loc["x", "difference"], g, rtol=1e-12)
    j = g / tr.cohens_d(df, outcome="x", treatment="t").estimate
    cox = j * (math.log(0.4 / 0.6) - math.log(0.25 / 0.75)) / 1.65
    assert_allclose(res.loc["b", "difference"], cox, rtol=1e-12)
    assert res.loc["b", "kind"] == "binary" and res.loc["b", "status"] == "fails"


def test_balance_thresholds():
    from belonging_lib.trials.attrition import _status
    assert [_status(v) for v in (0.05, 0.0501, -0.25, 0.2501)] == \
        ["satisfies", "adjustment required", "adjustment required", "fails"]


def test_consort_counts(crt_data):
    c = tr.consort_counts(crt_data, treatment="treat", cluster="school_id", outcome="post", complied="complied")
    t = c.table.set_index("arm")
    assert t.loc["programme", "schools_randomised"] + t.loc["control", "schools_randomised"] == 18
    assert t.pupils_randomised.sum() == len(crt_data)
    assert t.pupils_lost.sum() == crt_data.post.isna().sum()
    assert t.loc["control", "schools_delivered"] == 0
    assert t.loc["programme", "schools_delivered"] == crt_data.groupby("school_id").complied.max().sum()


def test_consort_figure(crt_data):
    import matplotlib.pyplot as plt

    from belonging_lib.plots import trials as ptr
    c = tr.consort_counts(crt_data, treatment="treat", cluster="school_id", outcome="post", complied="complied")
    ax = ptr.consort(c)
    texts = " ".join(t.get_text() for t in ax.texts)
    assert f"{c.count('programme', 'pupils_analysed')} pupils" in texts and "Allocated" in texts
    plt.close(ax.figure)


# ---------------------------------------------------------------- power (PowerUp!)
def test_mdes_powerupr_cross_check():
    # PowerUpR vignette "cross_checks": mdes.cra2r2(power=.80, rho2=.17, n=15, J=20) (no covariates);
    # Dong & Maynard (2013) / PowerUp! publish df 18, SSE 0.212, MDES 0.629 (3 dp).
    m = tr.mdes(n_clusters=20, cluster_size=15, icc=0.17)
    assert round(m, 3) == 0.629
    sse = math.sqrt(0.17 / (0.25 * 20) + 0.83 / (0.25 * 300))
    assert round(sse, 3) == 0.212
    assert round(tr.mdes(n_clusters=20, cluster_size=15, icc=0.18), 3) != 0.629  # the check can fail


def test_mdes_three_level_cross_check():
    # PowerUpR cross-check mdes.cra3r3(power=.80, rho3=.06, rho2=.17, n=15, J=3, K=60): 0.269
    m = tr.mdes_three_level(n_clusters=60, clusters_per_unit=3, cluster_size=15, icc_level3=0.06, icc_level2=0.17)
    assert round(m, 3) == 0.269


def test_mdes_covariates_and_df():
    base = tr.mdes(n_clusters=40, cluster_size=25, icc=0.2)
    cov = tr.mdes(n_clusters=40, cluster_size=25, icc=0.2, r2_level1=0.5, r2_level2=0.5, n_covariates_level2=1)
    from scipy import stats
    M = stats.t.ppf(0.975, 37) + stats.t.ppf(0.8, 37)
    sse = math.sqrt(0.2 * 0.5 / (0.25 * 40) + 0.8 * 0.5 / (0.25 * 40 * 25))
    assert_allclose(cov, M * sse, rtol=1e-12) and cov < base
    with pytest.raises(DataError, match="icc"):
        tr.mdes(n_clusters=40, cluster_size=25, icc=1.2)


def test_n_clusters_needed_round_trip():
    m = tr.mdes(n_clusters=20, cluster_size=15, icc=0.17)
    assert tr.n_clusters_needed(mdes=m, cluster_size=15, icc=0.17) == 20  # mrss.cra2r2 cross-check
    J = tr.n_clusters_needed(mdes=0.2, cluster_size=25, icc=0.15, r2_level2=0.6, n_covariates_level2=1)
    assert tr.mdes(n_clusters=J, cluster_size=25, icc=0.15, r2_level2=0.6, n_covariates_level2=1) <= 0.2
    assert tr.mdes(n_clusters=J - 1, cluster_size=25, icc=0.15, r2_level2=0.6, n_covariates_level2=1) > 0.2


# ---------------------------------------------------------------- cluster-randomised trials vs lme4
@pytest.fixture(scope="module")
def crt_fit(crt_data):
    return tr.crt_effect(crt_data, "post ~ treat + pre + fsm", cluster="school_id", treatment="treat")


def test_crt_matches_lme4(crt_fit):
    r = REF["crt"]
    f = crt_fit
    # lme4 with bobyqa rhoend 1e-12 against belonging_lib.models (REML, (X'V^-1X)^-1, Satterthwaite)
    assert_allclose([f.effect, f.effect_se], [r["b"], r["se"]], rtol=1e-6, atol=0)
    assert_allclose(f.se, r["se"] / f.sd, rtol=1e-6, atol=0)           # the effect size's SE
    assert_allclose(f.df, r["df"], rtol=1e-6, atol=0)  # Satterthwaite (measured 6e-8)
    assert_allclose([f.var_cluster, f.var_pupil],
                    [r["denominator"]["var"]["school"], r["denominator"]["var"]["pupil"]], rtol=1e-6, atol=0)
    assert_allclose(f.estimate, r["es_eef"], rtol=1e-6, atol=0)
    assert_allclose([f.ci_low, f.ci_high], r["ci_eef"], rtol=1e-6, atol=0)
    assert_allclose(f.icc, r["icc_denominator"], rtol=1e-6)
    assert (f.n, f.n_clusters, f.n_excluded) == (r["n"], r["n_clusters"], 15)
    assert f.denominator == "eef" and "treat" in f.denominator_formula


def test_crt_intercept_only_denominator(crt_data):
    r = REF["crt"]
    f = tr.crt_effect(crt_data, "post ~ treat + pre + fsm", cluster="school_id", treatment="treat",
                      denominator="intercept_only")
    assert_allclose(f.estimate, r["es_intercept_only"], rtol=1e-6, atol=0)
    assert_allclose([f.var_cluster, f.var_pupil], [r["empty"]["var"]["school"], r["empty"]["var"]["pupil"]],
                    rtol=1e-6, atol=0)
    assert f.denominator == "intercept_only" and f.denominator_formula == "post ~ 1"


def test_crt_errors(crt_data):
    with pytest.raises(DataError, match="must appear"):
        tr.crt_effect(crt_data, "post ~ pre", cluster="school_id", treatment="treat")
    with pytest.raises(DataError, match="varies within cluster"):
        tr.crt_effect(crt_data, "post ~ fsm + pre", cluster="school_id", treatment="fsm")
    with pytest.raises(DataError, match="denominator"):
        tr.crt_effect(crt_data, "post ~ treat", cluster="school_id", treatment="treat", denominator="total")


def test_crt_names_the_row_of_a_value_the_design_cannot_use(crt_data):
    """A log of zero is named by its row in the user's data, counted past the rows left out."""
    d = crt_data.assign(x=1.0)
    first_missing = int(np.flatnonzero(d["post"].isna())[0])
    row = int(np.flatnonzero(d["post"].notna().to_numpy() & (np.arange(len(d)) > first_missing))[0])
    d.loc[d.index[row], "x"] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DataError, match=rf"'np.log\(x\)'.* in row {row + 1} \(counted from 1"):
            tr.crt_effect(d, "post ~ treat + np.log(x)", cluster="school_id", treatment="treat")


@pytest.mark.slow
def test_crt_bootstrap_and_permutation_stable_across_seeds(crt_data):
    runs = [tr.crt_effect(crt_data, "post ~ treat + pre + fsm", cluster="school_id", treatment="treat",
                          block="block", n_boot=150, n_perm=150, seed=s, progress=False) for s in (11, 12)]
    a, b = runs
    assert a.estimate == b.estimate and a.n_boot == 150
    # Monte Carlo SE of a 2.5% / 97.5% percentile limit with 150 draws is about 0.3 sd(boot);
    # two runs differ by at most ~3.3 such SEs (0.3 * sqrt(2) * 2.4 = 1.0 sd(boot))
    sd_boot = np.std(a.boot_estimates)
    assert abs(a.boot_ci_low - b.boot_ci_low) < sd_boot and abs(a.boot_ci_high - b.boot_ci_high) < sd_boot
    # the bootstrap SD agrees with the model SE of the effect size to within 35% (9 schools per arm)
    assert_allclose(sd_boot, a.se, rtol=0.35)
    # permutation p: binomial MC error sqrt(p(1-p)/150) per run
    mc = math.sqrt(a.p_permutation * (1 - a.p_permutation) / 150)
    assert abs(a.p_permutation - b.p_permutation) < 4 * math.sqrt(2) * mc
    # randomisation inference and the model-based test tell the same story here
    assert abs(a.p_permutation - a.p) < 0.1
    # re-randomisation kept blocks balanced: every permuted coefficient came from a valid allocation
    assert np.isfinite(a.perm_estimates).all() and np.std(a.perm_estimates) > 0


def test_crt_bootstrap_replicate_refitted_by_multilevel(crt_data):
    """A bootstrap replicate of crt_effect is the EEF effect size of the drawn schools, refitted in full."""
    import warnings

    from belonging_lib._resampling import resampled_rows, stratified_cluster_draws
    from belonging_lib.models import multilevel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = tr.crt_effect(crt_data, "post ~ treat + pre", cluster="school_id", treatment="treat", n_boot=20,
                          seed=3, progress=False)
        used = crt_data.dropna(subset=["post", "pre"]).reset_index(drop=True)
        codes, _ = pd.factorize(used["school_id"])
        arm = used.groupby(codes)["treat"].first().to_numpy()
        # the same seed gives the same draws: control schools first, then programme schools
        draws = stratified_cluster_draws([np.flatnonzero(arm == v) for v in (0, 1)], 20, np.random.default_rng(3))
        for r in (0, 7):
            idx, labels = resampled_rows([np.flatnonzero(codes == c) for c in range(len(arm))], draws[r])
            assert (arm[draws[r]] == 1).sum() == (arm == 1).sum()        # arms keep their numbers of schools
            rep = used.iloc[idx].assign(school_id=labels)
            num = multilevel(rep, "post ~ treat + pre", cluster="school_id")
            den = multilevel(rep, "post ~ treat", cluster="school_id").variance["variance"]
            assert_allclose(f.boot_estimates[r], num.fixed.loc["treat", "estimate"] / math.sqrt(den.sum()),
                            rtol=1e-6)


def _refit_coefficient(y, X, labels, k):
    """The coefficient of column k of X refitted in full (REML); all-zero columns dropped first."""
    from belonging_lib.models import fit_random_intercept

    keep = np.any(X != 0, axis=0)
    fit = fit_random_intercept(y, X[:, keep], cluster=labels)
    return fit.coefficients[int(np.sum(keep[:k]))], fit


@pytest.mark.parametrize("formula", ["post ~ treat + pre + C(block)", "post ~ treat * pre"])
def test_crt_resamples_equal_refits(crt_data, formula):
    """Every bootstrap and permutation replicate (solved from cached cluster blocks) equals a refit of
    its resample to 1e-9, with the draws the seed always gave."""
    import patsy

    from belonging_lib._resampling import rerandomise, resampled_rows, stratified_cluster_draws

    B = 20
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = tr.crt_effect(crt_data, formula, cluster="school_id", treatment="treat", block="block",
                          n_boot=B, n_perm=B, seed=4, progress=False)
        used = crt_data.dropna(subset=["post", "pre", "block"]).reset_index(drop=True)
        codes, _ = pd.factorize(used["school_id"])
        arm = used.groupby(codes)["treat"].first().to_numpy(float)
        blk = used.groupby(codes)["block"].first().to_numpy()
        y, X = patsy.dmatrices(formula, used, return_type="dataframe")
        y, Xn, k = y.to_numpy(float)[:, 0], X.to_numpy(float), list(X.columns).index("treat")
        rng = np.random.default_rng(4)
        draws = stratified_cluster_draws([np.flatnonzero(arm == v) for v in (0, 1)], B, rng)
        rows_of = [np.flatnonzero(codes == c) for c in range(len(arm))]
        boot = []
        for r in range(B):
            idx, labels = resampled_rows(rows_of, draws[r])
            b, _ = _refit_coefficient(y[idx], Xn[idx], labels, k)
            Xd = np.column_stack([np.ones(len(idx)), used["treat"].to_numpy(float)[idx]])
            _, den = _refit_coefficient(y[idx], Xd, labels, 0)
            boot.append(b / math.sqrt(den.tau00 + den.sigma2))
        perm = []
        for r in range(B):
            new = rerandomise(arm, blk, rng)
            frame = used.assign(treat=new[codes])
            Xp = np.asarray(patsy.build_design_matrices([X.design_info], frame)[0], dtype=float)
            perm.append(_refit_coefficient(y, Xp, codes, k)[0])
    assert_allclose(f.boot_estimates, boot, rtol=1e-9, atol=1e-12)
    assert_allclose(f.perm_estimates, perm, rtol=1e-9, atol=1e-12)


def _sim_crt(rng, J=30, n=25, effect=0.3, icc=0.2, comply=None):
    school = np.repeat(np.arange(J), n)
    treat_s = rng.permutation(np.r_[np.ones(J // 2), np.zeros(J - J // 2)])
    treat = treat_s[school]
    complied_s = treat_s * (rng.random(J) < comply) if comply is not None else treat_s
    pre = rng.normal(size=J * n)
    u = rng.normal(0, math.sqrt(icc), J)[school]
    e = rng.normal(0, math.sqrt(1 - icc), J * n)
    post = effect * complied_s[school] + 0.5 * pre + u + e
    return pd.DataFrame({"school": school, "treat": treat, "pre": pre, "post": post,
                         "complied": complied_s[school]})


@pytest.mark.slow
def test_crt_known_truth_coverage():
    # 40 simulated trials: the effect in SD units of the y ~ treat model's total SD.
    rng = np.random.default_rng(2026)
    hits, ests = 0, []
    for _ in range(40):
        d = _sim_crt(rng, effect=0.3)
        f = tr.crt_effect(d, "post ~ treat + pre", cluster="school", treatment="treat")
        true_es = 0.3 / math.sqrt(1 + 0.25)  # total variance of post given treat: 0.5^2 var(pre) + 1
        hits += f.ci_low <= true_es <= f.ci_high
        ests.append(f.estimate)
    assert hits >= 34  # 95% coverage: P(hits < 34 | n=40, p=.95) < 0.005
    assert abs(np.mean(ests) - 0.3 / math.sqrt(1.25)) < 0.05


def test_cace_known_truth():
    # programme delivered by ~60% of programme schools; effect 0.4 only where delivered
    rng = np.random.default_rng(7)
    d = _sim_crt(rng, J=80, n=20, effect=0.4, icc=0.1, comply=0.6)
    c = tr.cace(d, outcome="post", treatment="treat", complied="complied", cluster="school",
                covariates=["pre"], ci_method="delta")
    assert c.ci_low * c.sd <= 0.4 <= c.ci_high * c.sd
    assert_allclose(c.effect, c.itt_effect / c.compliance_difference, rtol=1e-12)
    assert c.compliance_control == 0 and 0.4 < c.compliance_treated < 0.8
    assert abs(c.effect) > abs(c.itt_effect)


@pytest.mark.slow
def test_cace_bootstrap(crt_data):
    a = tr.cace(crt_data, outcome="post", treatment="treat", complied="complied", cluster="school_id",
                covariates=["pre", "fsm"], n_boot=100, seed=1, progress=False)
    b = tr.cace(crt_data, outcome="post", treatment="treat", complied="complied", cluster="school_id",
                covariates=["pre", "fsm"], n_boot=100, seed=2, progress=False)
    assert a.estimate == b.estimate and a.ci_low < a.estimate < a.ci_high
    assert abs(a.ci_low - b.ci_low) < 0.5 * (a.ci_high - a.ci_low)



def test_cace_bootstrap_equals_the_refit_loop(crt_data, monkeypatch):
    """The CACE bootstrap from cached cluster blocks gives the interval of the replicate-by-replicate
    refits (forced here by leaving every replicate unsolved) to 1e-9."""
    from belonging_lib.trials import crt

    kw = {"outcome": "post", "treatment": "treat", "complied": "complied", "cluster": "school_id",
          "covariates": ["pre", "fsm"], "n_boot": 40, "seed": 3, "progress": False}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = tr.cace(crt_data, **kw)
        solve = crt._boot_coefficient

        def nothing_solved(*args):
            est, counts, ok = solve(*args)
            return est, counts, np.zeros_like(ok)

        monkeypatch.setattr(crt, "_boot_coefficient", nothing_solved)
        loop = tr.cace(crt_data, **kw)
    assert_allclose([fast.ci_low, fast.ci_high], [loop.ci_low, loop.ci_high], rtol=1e-9, atol=1e-12)
    assert fast.n_boot_undefined == loop.n_boot_undefined


def test_crt_subgroups(crt_data):
    s = tr.crt_subgroups(crt_data, "post ~ treat + pre", cluster="school_id", treatment="treat", subgroup="fsm")
    t = s.table
    assert list(t.term) == ["fsm = 0", "fsm = 1"] and t.n.sum() == crt_data.post.notna().sum()
    # each subgroup's effect equals a direct fit on that subgroup, scaled by the whole-sample SD
    part = crt_data[crt_data.fsm == 1]
    direct = tr.crt_effect(part, "post ~ treat + pre", cluster="school_id", treatment="treat")
    assert_allclose(t.effect.iloc[1], direct.effect, rtol=1e-10)
    assert_allclose(t.estimate.iloc[1], direct.effect / s.sd, rtol=1e-10)
    assert 0 <= s.p_interaction <= 1


@pytest.mark.slow
def test_simulate_power_matches_powerup():
    m = tr.mdes(n_clusters=20, cluster_size=10, icc=0.15)
    sim = tr.simulate_power(effect_size=m, n_clusters=20, cluster_size=10, icc=0.15, n_sims=250, seed=5,
                            progress=False)
    assert_allclose(sim.analytic_power, 0.80, atol=0.01)  # noncentral-t power at the MDES is ~0.80
    assert abs(sim.power - sim.analytic_power) < 4 * sim.mc_se


# ---------------------------------------------------------------- known truth on the sample trial
SAMPLE_TRIAL_MD5 = "fe9c837fa3fe4a68213094c214d3bd04"  # data/sample/trial.csv this test was written for


@pytest.fixture(scope="module")
def sample_trial():
    import belonging_lib as bl
    from belonging_lib.datasets import sample_path

    md5 = hashlib.md5(sample_path("trial").read_bytes()).hexdigest()
    if md5 != SAMPLE_TRIAL_MD5:
        pytest.fail(f"data/sample/trial.csv changed (MD5 {md5}, expected {SAMPLE_TRIAL_MD5}): "
                    "re-check the known-truth test and update SAMPLE_TRIAL_MD5")
    return bl.load_sample("trial"), bl.load_truth()["trial"]


def test_sample_trial_truth_inside_ci(sample_trial):
    d, truth = sample_trial
    f = tr.crt_effect(d, "post_belonging ~ treat + pre_belonging + C(block)", cluster="school_id",
                      treatment="treat")
    assert f.ci_low <= truth["effect_sd"]["value"] <= f.ci_high
    c = tr.cace(d, outcome="post_belonging", treatment="treat", complied="complied", cluster="school_id",
                covariates=["pre_belonging", "C(block)"], ci_method="delta")
    assert c.ci_low <= truth["cace_sd"]["value"] <= c.ci_high
    assert_allclose(c.compliance_difference, truth["compliance_share"]["value"], atol=0.05)
    att = tr.attrition(d, treatment="treat", attrited="attrited").table.set_index("arm")
    assert att.loc["treated", "lost"] == truth["attrited_n"]["value"]["programme"]
    assert att.loc["control", "lost"] == truth["attrited_n"]["value"]["control"]


def test_progress_bar_path_runs(capsys):
    sim = tr.simulate_power(effect_size=0.3, n_clusters=10, cluster_size=5, icc=0.1, n_sims=10, seed=1,
                            progress=True)
    assert 0 <= sim.power <= 1 and sim.n_sims == 10 and len(sim.estimates) == 10


# ---------------------------------------------------------------- more checks (mutation testing)
def test_months_tables_as_published():
    t = tr.months_table()
    assert list(t.columns) == ["months", "es_from", "es_to"]
    assert [tuple(r) for r in t.itertuples(index=False)][:-1] == [(m, lo, hi) for m, lo, hi in TOOLKIT[:-1]]
    assert t.es_from.iloc[12] == 0.96 and t.es_to.iloc[12] == float("inf")
    p = tr.months_table("project")
    assert (p.es_from.iloc[0], p.es_to.iloc[0], p.es_from.iloc[1], p.es_to.iloc[1]) == (-0.04, 0.04, 0.05, 0.09)
    with pytest.raises(DataError, match="`table`"):
        tr.months_table("eef")
    with pytest.raises(DataError, match="`effect_size` must be a number, but 'big'"):
        tr.months_progress("big")
    with pytest.raises(DataError, match="`effect_size` must be a finite number, but inf"):
        tr.months_progress(float("inf"))
    assert tr.months_progress(-0.004) == 0 and tr.months_progress(-20) == -12


def test_cohens_d_by_hand():
    # treated 3..6 (mean 4.5), control 1..4 (mean 2.5), both variances 5/3: d = 2 / sqrt(5/3)
    df = pd.DataFrame({"y": [1.0, 2, 3, 4, 3, 4, 5, 6, np.nan], "arm": [0, 0, 0, 0, 1, 1, 1, 1, 1]})
    d = tr.cohens_d(df, outcome="y", treatment="arm")
    dd = 2 / math.sqrt(5 / 3)
    se = math.sqrt(8 / 16 + dd ** 2 / 16)
    assert_allclose([d.estimate, d.se, d.sd_pooled, d.mean_treated, d.mean_control],
                    [dd, se, math.sqrt(5 / 3), 4.5, 2.5], rtol=1e-12)
    assert (d.kind, d.ci_method, d.ci_level, d.correction, d.n_excluded) == ("cohens_d", "noncentral_t", 0.95, 1.0, 1)
    # the raw difference behind d: 2 points, Student t interval on 6 df with the pooled SD
    half = 2.4469118511449688 * math.sqrt(5 / 3) * math.sqrt(0.5)    # qt(0.975, 6) in R
    assert_allclose([d.effect, d.effect_ci_low, d.effect_ci_high], [2.0, 2 - half, 2 + half], rtol=1e-12)
    f = d.to_frame()
    assert list(f.columns) == ["term", "estimate", "se", "ci_low", "ci_high", "n", "n_treated", "n_control",
                               "effect", "effect_ci_low", "effect_ci_high"]
    assert f.iloc[0].tolist() == ["cohens_d", d.estimate, d.se, d.ci_low, d.ci_high, 8, 4, 4, d.effect,
                                  d.effect_ci_low, d.effect_ci_high]
    assert d.notes() == ["95% CI by noncentral t; treated mean 4.500, control mean 2.500, pooled SD 1.291.",
                         "1 rows excluded (missing outcome or group)."]
    assert d.title == "Cohen's d"
    g = tr.hedges_g(df, outcome="y", treatment="arm", ci_level=0.9, ci_method="normal")
    assert (g.kind, g.title) == ("hedges_g", "Hedges' g") and "90% CI by normal" in g.notes()[0]
    assert_allclose(g.se, g.correction * se, rtol=1e-12)
    with pytest.raises(DataError, match=r"at least 2 pupils with 'y'; found 1 treated and 4 control"):
        tr.cohens_d(df.iloc[[0, 1, 2, 3, 4]], outcome="y", treatment="arm")
    with pytest.raises(DataError, match=r"found 4 treated and 1 control"):
        tr.cohens_d(df.iloc[[0, 4, 5, 6, 7]], outcome="y", treatment="arm")
    with pytest.raises(DataError, match="'y' does not vary within the arms"):
        tr.cohens_d(df.assign(y=df.arm * 1.0), outcome="y", treatment="arm")
    with pytest.raises(DataError, match="`ci_level`"):
        tr.cohens_d(df, outcome="y", treatment="arm", ci_level=95)


@pytest.mark.parametrize("t,df", [(2.0, 30), (0.5, 5), (25.0, 3), (-25.0, 3), (60.0, 2)])
def test_ncp_interval_limits_solve_the_noncentral_t(t, df):
    from scipy import stats

    from belonging_lib.trials.effect_sizes import ncp_t_interval
    ci = ncp_t_interval(t, df)
    lo, hi = ci.ci_low, ci.ci_high
    assert ci == ncp_t_interval(t, df, 0.95) and lo < t < hi and ci.estimate == t and ci.df == df
    # at the limits the observed t sits at the 97.5th and 2.5th percentile (SciPy's noncentral t)
    assert_allclose([stats.nct.cdf(t, df, lo), stats.nct.cdf(t, df, hi)], [0.975, 0.025], rtol=0, atol=1e-8)
    ci90 = ncp_t_interval(t, df, 0.90)
    lo90, hi90 = ci90.ci_low, ci90.ci_high
    assert lo < lo90 < hi90 < hi


def test_ancova_table_matches_lm(ind):
    r = REF["ancova"]
    a = tr.ancova(ind, outcome="post", treatment="arm", treated="programme", pretest="pre")
    f = a.to_frame().set_index("term")
    assert list(f.index) == ["effect size (g)", "treatment (outcome units)"]
    assert list(f.columns) == ["estimate", "se", "ci_low", "ci_high", "statistic", "df", "p", "n"]
    row = f.loc["treatment (outcome units)"]
    assert_allclose(row[["estimate", "se", "ci_low", "ci_high", "statistic", "df", "p"]].to_numpy(float),
                    [r["b"], r["se"], *r["ci"], r["b"] / r["se"], r["df"], r["p"]], rtol=1e-6)
    # pooled within-arm SD of the analysed pupils' outcome, and J with m = n - 2
    ok = ind[["post", "pre"]].notna().all(axis=1)
    yt, yc = ind.post[ok & (ind.arm == "programme")], ind.post[ok & (ind.arm == "control")]
    sp = math.sqrt(((len(yt) - 1) * yt.var() + (len(yc) - 1) * yc.var()) / (len(yt) + len(yc) - 2))
    j = 1 - 3 / (4 * (r["n"] - 2) - 1)
    g = f.loc["effect size (g)"]
    assert_allclose(g[["estimate", "se", "ci_low", "ci_high"]].to_numpy(float),
                    np.array([r["b"], r["se"], *r["ci"]]) * j / sp, rtol=1e-3)   # J approximation is O(m^-2)
    # the effect size's test is the coefficient's own t test
    assert_allclose(g[["statistic", "df", "p"]].to_numpy(float), [r["b"] / r["se"], r["df"], r["p"]], rtol=1e-6)
    assert (f["n"] == r["n"]).all()
    assert (a.estimate, a.se, a.ci_low, a.ci_high) == tuple(g[["estimate", "se", "ci_low", "ci_high"]])
    assert a.sd_pooled == pytest.approx(sp, rel=1e-12) and a.model.nobs == r["n"]
    assert a.notes() == [f"Effect size = J x coefficient / pooled SD of the outcome ({sp:.3f}).",
                         "4 pupils excluded for missing values."]
    # outcome and pre-test: at least 2 + 3 complete rows
    small = ind.dropna(subset=["post", "pre"]).groupby("arm").head(3).sort_values("arm")
    with pytest.raises(ModelError, match=r"Too few complete rows \(4\) for the ANCOVA"):
        tr.ancova(small.iloc[1:5], outcome="post", treatment="arm", treated="programme", pretest="pre")
    assert tr.ancova(small.iloc[1:], outcome="post", treatment="arm", treated="programme", pretest="pre").n == 5


def test_power_inputs_are_checked_by_name():
    base = dict(n_clusters=20, cluster_size=15, icc=0.17)
    for name, value, pattern in [("cluster_size", 0, "`cluster_size` must be positive, but 0"),
                                 ("icc", 1.0, "`icc` must be from 0 up to 1, but 1.0"),
                                 ("r2_level1", -0.1, "`r2_level1`"), ("r2_level2", 1, "`r2_level2`"),
                                 ("p_treated", 1, "`p_treated`"), ("alpha", 0, "`alpha`"),
                                 ("power", 1.5, "`power`"), ("n_clusters", 2, "n_clusters")]:
        with pytest.raises(DataError, match=pattern):
            tr.mdes(**{**base, name: value})
    assert tr.mdes(n_clusters=20, cluster_size=0.5, icc=0.17) > tr.mdes(**base)
    with pytest.raises(DataError, match=r"Too few clusters \(5\) for 3 school-level covariates: df = 0"):
        tr.mdes(n_clusters=5, cluster_size=15, icc=0.17, n_covariates_level2=3)
    assert tr.mdes(n_clusters=6, cluster_size=15, icc=0.17, n_covariates_level2=3) > 0   # df = 1


def test_three_level_mdes_with_covariates_by_hand():
    from scipy import stats
    kw = dict(n_clusters=30, clusters_per_unit=4, cluster_size=20, icc_level3=0.05, icc_level2=0.15,
              r2_level1=0.3, r2_level2=0.4, r2_level3=0.5, p_treated=0.4, alpha=0.1, power=0.9,
              n_covariates_level3=2)
    q = 0.4 * 0.6
    se = math.sqrt(0.05 * 0.5 / (q * 30) + 0.15 * 0.6 / (q * 120) + 0.8 * 0.7 / (q * 2400))
    m = stats.t.ppf(0.95, 26) + stats.t.ppf(0.9, 26)      # df = K - g3 - 2
    assert_allclose(tr.mdes_three_level(**kw), m * se, rtol=1e-12)
    one = stats.t.ppf(0.9, 26) + stats.t.ppf(0.9, 26)
    assert_allclose(tr.mdes_three_level(**kw, two_tailed=False), one * se, rtol=1e-12)
    with pytest.raises(DataError, match=r"`icc_level3 \+ icc_level2` must be below 1"):
        tr.mdes_three_level(**{**kw, "icc_level3": 0.5, "icc_level2": 0.5})
    for name in ("icc_level3", "icc_level2", "r2_level1", "r2_level2", "r2_level3", "alpha", "power"):
        with pytest.raises(DataError, match=f"`{name}`"):
            tr.mdes_three_level(**{**kw, name: 1.5})
    with pytest.raises(DataError, match=r"Too few top-level units \(4\) for the covariates: df = 0"):
        tr.mdes_three_level(**{**kw, "n_clusters": 4})
    assert tr.mdes_three_level(**{**kw, "n_clusters": 5}) > 0
    with pytest.raises(DataError, match="n_clusters"):
        tr.mdes_three_level(**{**kw, "n_clusters": 2, "n_covariates_level3": 0})


def test_n_clusters_needed_passes_every_design_setting():
    kw = dict(cluster_size=20, icc=0.1, r2_level1=0.4, r2_level2=0.3, p_treated=0.3, alpha=0.1, power=0.9,
              n_covariates_level2=2, two_tailed=False)
    J = tr.n_clusters_needed(mdes=0.3, **kw)
    assert tr.mdes(n_clusters=J, **kw) <= 0.3 < tr.mdes(n_clusters=J - 1, **kw)
    assert tr.n_clusters_needed(mdes=50, **kw) == 5                 # the smallest design, g2 + 3
    with pytest.raises(DataError, match="`mdes` must be positive, but 0"):
        tr.n_clusters_needed(mdes=0, cluster_size=20, icc=0.1)
    with pytest.raises(DataError, match="More than 50 schools would be needed for an MDES of 0.05"):
        tr.n_clusters_needed(mdes=0.05, cluster_size=20, icc=0.1, max_clusters=50)


def test_simulated_power_under_the_null_and_its_spread():
    sim = tr.simulate_power(effect_size=0.0, n_clusters=10, cluster_size=5, icc=0.2, n_sims=400, seed=3,
                            progress=False)
    # no effect: the test rejects at its level (binomial MC error 0.011), and the estimates spread
    # with the PowerUp! standard error sqrt(rho / (P(1-P) J) + (1 - rho) / (P(1-P) J n))
    assert abs(sim.power - 0.05) < 4 * math.sqrt(0.05 * 0.95 / 400)
    assert_allclose(sim.mc_se, math.sqrt(sim.power * (1 - sim.power) / 400), rtol=1e-12)
    assert_allclose(np.std(sim.estimates), math.sqrt(0.2 / 2.5 + 0.8 / 12.5), rtol=0.15)
    assert abs(np.mean(sim.estimates)) < 4 * math.sqrt(0.2 / 2.5 + 0.8 / 12.5) / 20
    assert_allclose(sim.analytic_power, 0.05, rtol=1e-9)           # power at effect 0 is alpha
    assert sim.settings == {"effect_size": 0.0, "n_clusters": 10, "cluster_size": 5, "icc": 0.2,
                            "p_treated": 0.5, "alpha": 0.05, "seed": 3}
    f = sim.to_frame()
    assert f.loc[0, "power"] == sim.power and f.loc[0, "n_clusters"] == 10
    for name, value in [("n_clusters", 3), ("cluster_size", 0), ("n_sims", 9), ("icc", 1.0)]:
        with pytest.raises(DataError, match=name):
            tr.simulate_power(**{**dict(effect_size=0.2, n_clusters=10, cluster_size=5, icc=0.2, n_sims=20,
                                        progress=False), name: value})


def test_attrition_inputs_and_texts():
    df = _attr_frame(10, 5, 10, 5)
    res = tr.attrition(df, treatment="arm", treated="programme", attrited="attrited")
    # 50% overall: the cautious table gives 1.0 pp, the optimistic 3.9 pp
    assert res.notes() == ["Overall attrition 50.0%, differential 0.0% (percentage points 0.0).",
                           "WWC cautious boundary 1.0 pp: low attrition; optimistic boundary 3.9 pp: low attrition."]
    assert list(res.to_frame().columns) == ["arm", "randomised", "analysed", "lost", "attrition"]
    with pytest.raises(DataError, match=r"Column 'attrited' must be 0/1 for every pupil; 2 values"):
        tr.attrition(df.assign(attrited=[2, np.nan] + [0] * 18), treatment="arm", treated="programme",
                     attrited="attrited")
    with pytest.raises(DataError, match=r"Column 'arm' is missing for 1 randomised pupils"):
        tr.attrition(df.assign(arm=[None] + ["programme"] * 9 + ["control"] * 10), treatment="arm",
                     treated="programme", attrited="attrited")
    with pytest.raises(DataError, match="exactly one"):
        tr.attrition(df.assign(y=1.0), treatment="arm", treated="programme", attrited="attrited", outcome="y")
    with pytest.raises(DataError, match="percentage from 0 to 100, but 101"):
        tr.wwc_boundary(101)
    with pytest.raises(DataError, match="`boundary`"):
        tr.wwc_boundary(10, boundary="liberal")
    assert tr.wwc_boundary(57.5) == 0.0 and tr.wwc_boundary(100) == 0.0 and tr.wwc_boundary(2.5) == 5.7


def test_balance_edge_cases():
    df = pd.DataFrame({"t": [0] * 6 + [1] * 6, "b": [0, 0, 0, 1, 1, 1] + [1] * 6,
                       "x": [1.0, 2, 3, 4, np.nan, 6, 2, 3, 4, 5, 6, 7]})
    res = tr.balance(df, treatment="t", covariates=["b", "x"])
    t = res.table.set_index("covariate")
    assert np.isnan(t.loc["b", "difference"]) and t.loc["b", "status"] == "undefined"  # p_T = 1: no logit
    assert (t.loc["x", "n_treated"], t.loc["x", "n_control"]) == (6, 5) and t.loc["x", "kind"] == "continuous"
    assert_allclose(t.loc["x", "difference"], tr.hedges_g(df, outcome="x", treatment="t").estimate, rtol=1e-12)
    assert t.loc["x", "mean_control"] == 3.2 and t.loc["x", "mean_treated"] == 4.5
    assert res.n_excluded == {"b": 0, "x": 1}
    assert res.notes()[1] == "Missing values excluded per covariate: x 1."
    with pytest.raises(DataError, match="Covariate 'x' has fewer than 2 non-missing values in an arm"):
        tr.balance(df.assign(x=[1.0] + [np.nan] * 5 + [1.0] * 6), treatment="t", covariates=["x"])


def test_consort_counts_with_enrolment_and_delivery():
    df = pd.DataFrame({"s": [1, 1, 2, 2, 3, 3, 4, 4], "t": [1, 1, 1, 1, 0, 0, 0, 0],
                       "y": [1.0, np.nan, np.nan, np.nan, 2, 3, 1, np.nan], "c": [1, 1, 0, 0, 0, 0, 0, 0]})
    c = tr.consort_counts(df, treatment="t", cluster="s", outcome="y", complied="c", arm_labels=("mentoring", "usual"),
                          assessed=10, excluded_before_randomisation=2)
    t = c.table.set_index("arm")
    assert t.loc["mentoring"].to_dict() == {"schools_randomised": 2, "pupils_randomised": 4, "schools_delivered": 1,
                                            "pupils_in_delivering_schools": 2, "pupils_lost": 3, "schools_lost": 1,
                                            "pupils_analysed": 1, "schools_analysed": 1}
    assert c.count("usual", "pupils_lost") == 1 and c.count("usual", "schools_lost") == 0
    assert (c.arm_labels, c.assessed, c.excluded_before_randomisation) == (("mentoring", "usual"), 10, 2)


def test_crt_bootstrap_without_the_reference_block():
    """A resample that draws no school of the reference block: its other block dummies add up to the
    intercept, and one of them is dropped instead of the replicate failing (seed 2027's sample did)."""
    from belonging_lib.trials.crt import _drop_empty_columns

    # block 1 (the reference) not drawn: the dummies of blocks 2 and 3 add up to the intercept
    X = np.column_stack([np.ones(6), [0, 1, 0, 1, 0, 1], [1, 1, 0, 0, 0, 0], [0, 0, 1, 1, 1, 1.0]])
    reduced, k = _drop_empty_columns(X, 1)
    assert reduced.shape == (6, 3) and k == 1 and np.array_equal(reduced, X[:, :3])


def test_crt_bootstrap_resamples_missing_the_reference_block():
    rng = np.random.default_rng(5)
    school = np.repeat(np.arange(16), 30)
    block = school // 4  # four blocks of four schools, two in each arm
    treat = (school % 2).astype(float)
    y = 0.3 * treat + 0.3 * rng.normal(size=16)[school] + rng.normal(size=len(school))
    frame = pd.DataFrame({"y": y, "treat": treat, "block": block.astype(str), "school": school.astype(str)})
    res = tr.crt_effect(frame, "y ~ treat + C(block)", cluster="school", treatment="treat", block="block",
                     n_boot=400, seed=1, progress=False)
    # the control and the treated draws both miss block 0 in about 1 replicate in 100
    assert np.isfinite(res.boot_estimates).all() and res.boot_ci_low < res.estimate < res.boot_ci_high
