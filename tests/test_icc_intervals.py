"""Intervals of ICC(1), ICC(2) and the between-group variance explained.

The profile-likelihood intervals of ICC(1) and ICC(2) (the default) are checked against ``uniroot`` on
lme4's REML deviance function (``reference/icc_profile.R``), and their coverage by simulation.

For the cluster-bootstrap intervals the reference refits ``lme4::lmer(REML = TRUE)`` in R on the very same replicates (the drawn schools
are written to CSV by Python), so each replicate's estimate and the percentile interval must agree to
the optimisers' tolerance. Coverage is checked by simulation against a known truth (slow).
"""

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from belonging_lib import DataError
from belonging_lib.reliability import (_cluster_boot_reml, _icc_boot_draws, aggregation_reliability,
                                       between_variance_explained, cluster_bootstrap_indices, icc,
                                       position_against)

REF_DIR = Path(__file__).parent / "reference"
REF = json.loads((REF_DIR / "icc_intervals.json").read_text())
FIX = pd.read_csv(REF_DIR / "data" / REF["inputs"]["fixture"], dtype={"school": str})
IDX = pd.read_csv(REF_DIR / "data" / REF["inputs"]["indices"]).to_numpy() - 1
TOL = {"rtol": 1e-5, "atol": 1e-7}


def _codes():
    labels, inv = np.unique(FIX["school"].to_numpy(), return_inverse=True)
    return inv, len(labels)


def test_reference_inputs_unchanged():
    for key in ("fixture", "indices"):
        path = REF_DIR / "data" / REF["inputs"][key]
        assert hashlib.md5(path.read_bytes()).hexdigest() == REF["inputs"][key + "_md5"], f"{path} changed"


def test_seeded_draws_are_the_reference_replicates():
    assert np.array_equal(cluster_bootstrap_indices(REF["n_groups"], REF["n_boot"], seed=17), IDX)


def test_each_replicate_matches_lmer():
    inv, j = _codes()
    d1, d2 = _icc_boot_draws(FIX["y"].to_numpy(), inv, j, IDX)
    np.testing.assert_allclose(d1, REF["draws"]["icc1"], **TOL)
    np.testing.assert_allclose(d2, REF["draws"]["icc2"], **TOL)
    X = np.column_stack([np.ones(len(FIX)), FIX["x"]])
    t1, _, _ = _cluster_boot_reml(FIX["y"].to_numpy(), X, inv, j, IDX)
    np.testing.assert_allclose(t1, REF["draws"]["tau_model"], **TOL)


def test_icc_interval_matches_r():
    r = icc(FIX, outcome="y", cluster="school", ci_method="bootstrap", n_boot=REF["n_boot"], seed=17,
            progress=False)
    np.testing.assert_allclose([r.icc1, r.icc2], [REF["estimate"]["icc1"], REF["estimate"]["icc2"]], **TOL)
    np.testing.assert_allclose([r.icc1_ci_low, r.icc1_ci_high], REF["ci95"]["icc1"], **TOL)
    np.testing.assert_allclose([r.icc2_ci_low, r.icc2_ci_high], REF["ci95"]["icc2"], **TOL)
    assert r.ci_level == 0.95 and r.n_boot == REF["n_boot"] and r.n_boot_failed == 0
    assert "cluster bootstrap" in r.ci_method and "cluster bootstrap" in " ".join(r.notes())
    frame = r.to_frame().set_index("term")
    assert frame.loc["icc2", "ci_low"] == r.icc2_ci_low and np.isnan(frame.loc["tau00", "ci_low"])


def test_variance_explained_matches_r():
    r = between_variance_explained(FIX, outcome="y", covariates=["x"], cluster="school", n_boot=REF["n_boot"],
                                   seed=17, progress=False)
    np.testing.assert_allclose([r.tau00_null, r.tau00_model, r.estimate],
                               [REF["estimate"]["tau_null"], REF["estimate"]["tau_model"],
                                REF["estimate"]["explained"]], **TOL)
    np.testing.assert_allclose([r.ci_low, r.ci_high], REF["ci95"]["explained"], **TOL)
    np.testing.assert_allclose([r.tau00_null_ci_low, r.tau00_null_ci_high], REF["ci95"]["tau_null"], **TOL)
    np.testing.assert_allclose([r.tau00_model_ci_low, r.tau00_model_ci_high], REF["ci95"]["tau_model"], **TOL)


def test_point_estimates_unchanged_by_the_interval():
    a = icc(FIX, outcome="y", cluster="school", ci_method="bootstrap", n_boot=0)
    b = icc(FIX, outcome="y", cluster="school", ci_method="bootstrap", n_boot=50, seed=1, progress=False)
    c = icc(FIX, outcome="y", cluster="school")
    d = icc(FIX, outcome="y", cluster="school", ci_method=None)
    for f in ("icc1", "icc2", "icc1_anova", "icc2_anova", "tau00", "sigma2", "msb", "msw"):
        assert getattr(a, f) == getattr(b, f) == getattr(c, f) == getattr(d, f)
    assert np.isnan(a.icc1_ci_low) and a.n_boot == 0 and np.isnan(d.icc2_ci_high)
    for r in (b, c):
        assert r.icc1_ci_low <= r.icc1 <= r.icc1_ci_high and r.icc2_ci_low <= r.icc2 <= r.icc2_ci_high


def test_same_seed_same_interval_and_alias_passes_options():
    boot = {"ci_method": "bootstrap", "n_boot": 40, "progress": False}
    a = icc(FIX, outcome="y", cluster="school", seed=5, **boot)
    b = aggregation_reliability(FIX, outcome="y", cluster="school", seed=5, **boot)
    assert (a.icc2_ci_low, a.icc2_ci_high) == (b.icc2_ci_low, b.icc2_ci_high)
    c = icc(FIX, outcome="y", cluster="school", seed=6, **boot)
    assert (a.icc2_ci_low, a.icc2_ci_high) != (c.icc2_ci_low, c.icc2_ci_high)


def test_position_against_threshold():
    assert position_against(0.71, 0.9, 0.70) == "wholly above"
    assert position_against(0.4, 0.69, 0.70) == "wholly below"
    assert position_against(0.6, 0.8, 0.70) == "straddles"
    assert position_against(0.70, 0.8, 0.70) == "straddles"
    with pytest.raises(DataError):
        position_against(float("nan"), 0.8, 0.70)


def test_bad_options_and_input():
    with pytest.raises(DataError):
        icc(FIX, outcome="y", cluster="school", ci_level=1.5)
    with pytest.raises(DataError, match="n_boot"):
        icc(FIX, outcome="y", cluster="school", ci_method="bootstrap", n_boot=-1)
    with pytest.raises(DataError, match="ci_method"):
        icc(FIX, outcome="y", cluster="school", ci_method="wald")
    for method in ("profile", None):      # a bootstrap asked for is never silently replaced
        with pytest.raises(DataError, match="n_boot=200 applies to ci_method='bootstrap' only"):
            icc(FIX, outcome="y", cluster="school", ci_method=method, n_boot=200)
    with pytest.raises(DataError, match="collinear"):
        between_variance_explained(FIX.assign(x2=FIX["x"] * 2), outcome="y", covariates=["x", "x2"],
                                   cluster="school", n_boot=20, progress=False)
    with pytest.raises(DataError, match="covariate"):
        between_variance_explained(FIX, outcome="y", covariates=[], cluster="school", n_boot=20)


@pytest.mark.slow
def test_coverage_by_simulation():
    """Coverage of the 95% intervals of ICC(1) and ICC(2) against a known truth.

    Truth: tau00 = 0.15, sigma2 = 0.85 (ICC(1) = .15), 40 groups of unequal size (10 to 30).
    ICC(2) is judged against its truth at each sample's mean group size.  A study of 200 samples x 300
    replicates gave .900 (ICC(1)) and .905 (ICC(2)): the percentile cluster bootstrap undercovers a
    little with 40 groups, as the docstring of ``icc`` says.  To keep the suite short this test runs 60
    samples x 200 replicates (binomial standard error about .04) and fails if coverage drops below .75
    (the interval much too narrow, e.g. pupils resampled instead of groups) or reaches 1 (much too wide).
    """
    rng = np.random.default_rng(2026)
    hits1 = hits2 = 0
    n_sim = 60
    for s in range(n_sim):
        sizes = rng.integers(10, 31, size=40)
        g = np.repeat(np.arange(40), sizes)
        y = rng.normal(0, np.sqrt(0.15), 40)[g] + rng.normal(0, np.sqrt(0.85), len(g))
        r = icc(pd.DataFrame({"y": y, "g": g}), outcome="y", cluster="g", ci_method="bootstrap", n_boot=200,
                seed=s, progress=False)
        nbar = len(g) / 40
        hits1 += r.icc1_ci_low <= 0.15 <= r.icc1_ci_high
        true2 = 0.15 / (0.15 + 0.85 / nbar)
        hits2 += r.icc2_ci_low <= true2 <= r.icc2_ci_high
    cov1, cov2 = hits1 / n_sim, hits2 / n_sim
    print(f"coverage ICC(1) {cov1:.3f}, ICC(2) {cov2:.3f}")
    assert 0.75 <= cov1 < 1 and 0.75 <= cov2 < 1


@pytest.mark.parametrize("with_covariate", [False, True])
def test_replicates_equal_refits_of_the_resampled_rows(with_covariate):
    """The replicates, solved together from the groups' cached statistics, equal a refit of each
    resample's rows by the engine (a group drawn twice entering as two groups) to 1e-9."""
    from belonging_lib._resampling import cluster_rows, resampled_rows
    from belonging_lib.models import _lmm

    inv, j = _codes()
    y = FIX["y"].to_numpy(float)
    X = np.column_stack([np.ones(len(FIX)), FIX["x"]]) if with_covariate else np.ones((len(FIX), 1))
    idx = IDX[:40]
    tau, s2, nb = _cluster_boot_reml(y, X, inv, j, idx)
    rows = cluster_rows(inv, j)
    for b in range(len(idx)):
        r, labels = resampled_rows(rows, idx[b])
        fit = _lmm.fit(_lmm.TwoLevel.from_data(y[r], X[r], np.ones((len(r), 1)), labels, j), reml=True,
                       satterthwaite_df=False)
        assert nb[b] == len(r)
        np.testing.assert_allclose([tau[b], s2[b]], [fit.theta[0] ** 2 * fit.sigma2, fit.sigma2], rtol=1e-9,
                                   atol=1e-12)


# ---- profile-likelihood intervals (the default) ---------------------------------------------------

PROFILE = json.loads((REF_DIR / "icc_profile.json").read_text())
PTOL = {"rtol": 1e-7, "atol": 1e-9}


def test_profile_reference_input_unchanged():
    path = REF_DIR / "data" / PROFILE["inputs"]["fixture"]
    assert hashlib.md5(path.read_bytes()).hexdigest() == PROFILE["inputs"]["fixture_md5"]


@pytest.mark.parametrize("case", PROFILE["results"], ids=lambda c: f"{c['outcome']}-{c['level']}")
def test_profile_interval_matches_lme4_deviance(case):
    data = FIX.assign(y_small=FIX["y"] - 0.9 * FIX.groupby("school")["y"].transform("mean"))
    if case["lambda"] == 0:
        with pytest.warns(UserWarning, match="boundary"):
            r = icc(data, outcome=case["outcome"], cluster="school", ci_level=case["level"])
    else:
        r = icc(data, outcome=case["outcome"], cluster="school", ci_level=case["level"])
    # the deviance is flat at its minimum (a change of 1e-7 in lambda moves it by 1e-13), so two optimisers
    # agree on the estimate to about 1e-7; the ends of the interval, where the deviance is steep, agree closely
    np.testing.assert_allclose([r.icc1, r.icc2], [case["icc1"], case["icc2"]], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose([r.icc1_ci_low, r.icc1_ci_high], case["icc1_ci"], **PTOL)
    np.testing.assert_allclose([r.icc2_ci_low, r.icc2_ci_high], case["icc2_ci"], **PTOL)
    assert r.ci_method == "profile likelihood (REML)" and r.n_boot == 0 and r.ci_level == case["level"]
    assert "profile likelihood" in " ".join(r.notes())


def _profile_coverage(true_icc1, n_sim, seed):
    rng = np.random.default_rng(seed)
    lam = true_icc1 / (1 - true_icc1)
    hits1 = hits2 = 0
    for _ in range(n_sim):
        sizes = rng.integers(40, 119, size=40)
        g = np.repeat(np.arange(40), sizes)
        y = rng.normal(0, np.sqrt(lam), 40)[g] + rng.normal(size=len(g))
        with warnings.catch_warnings():     # a sample whose between-school variance is 0 warns
            warnings.simplefilter("ignore")
            r = icc(pd.DataFrame({"y": y, "g": g}), outcome="y", cluster="g")
        nbar = len(g) / 40
        hits1 += r.icc1_ci_low <= true_icc1 <= r.icc1_ci_high
        hits2 += r.icc2_ci_low <= lam / (lam + 1 / nbar) <= r.icc2_ci_high
    return hits1 / n_sim, hits2 / n_sim


@pytest.mark.parametrize("true_icc1", [0.10, 0.03])
def test_profile_coverage_by_simulation(true_icc1):
    """The figures in ``icc``'s docstring: 400 samples of 40 schools of 40 to 118 pupils.

    With 400 samples the Monte-Carlo SE of a coverage near .95 is about .011; the test fails if coverage
    is more than 2.5 SEs from .95 (an interval much too narrow or too wide, as the bootstrap's .90 is).
    ICC(2) has the same coverage as ICC(1): both are the same interval of tau00 / sigma2.
    """
    cov1, cov2 = _profile_coverage(true_icc1, 400, seed=int(true_icc1 * 1000))
    print(f"profile coverage at ICC(1) {true_icc1}: {cov1:.4f}")
    assert cov1 == cov2
    assert abs(cov1 - 0.95) <= 2.5 * np.sqrt(0.95 * 0.05 / 400)
