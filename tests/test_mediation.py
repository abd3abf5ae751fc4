"""Mediation: paths against R's lm(), bootstrap replicates against refits, interval coverage."""

import importlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from belonging_lib import ColumnError, DataError
from belonging_lib.models.mediation import bootstrap_ci, mediation

# the module itself: belonging_lib.models exports the function of the same name
med_mod = importlib.import_module("belonging_lib.models.mediation")

REF_DIR = Path(__file__).parent / "reference"
REF = json.loads((REF_DIR / "claims.json").read_text())




def _simulate(rng, n, a=0.4, b=0.4, cprime=0.2, n_schools=None, school_sd=0.0):
    x = rng.normal(size=n)
    m = a * x + rng.normal(size=n)
    y = b * m + cprime * x + rng.normal(size=n)
    d = pd.DataFrame({"x": x, "m": m, "y": y})
    if n_schools:
        s = rng.integers(0, n_schools, n)
        u = rng.normal(0, school_sd, (n_schools, 3))[s]
        d["x"] += u[:, 0]
        d["m"] = a * d["x"] + u[:, 1] + rng.normal(size=n)
        d["y"] = b * d["m"] + cprime * d["x"] + u[:, 2] + rng.normal(size=n)
        d["school"] = s
    return d


@pytest.mark.parametrize("cluster, vcov", [(None, "CR2"), ("school", "CR1"), ("school", "CR2")])
def test_paths_match_r_lm(claims_fixture, cluster, vcov):
    ref = REF["results"]["mediation"]
    res = mediation(claims_fixture, predictor="teacher", mediator="mediator", outcome="outcome", covariates=["covar"],
                    cluster=cluster, n_boot=200, seed=1, vcov=vcov)
    paths = res.paths.set_index("term")
    se_ref = ref if cluster is None else ref["cluster_se" if vcov == "CR1" else "cluster_se_cr2"]
    for term in ["a", "b", "c_prime", "c"]:
        np.testing.assert_allclose(paths.loc[term, "estimate"], ref[term]["estimate"], rtol=1e-8, atol=0)
        np.testing.assert_allclose(paths.loc[term, "se"], se_ref[term]["se"], rtol=1e-8, atol=0)
    if cluster is not None and vcov == "CR2":
        for term in ["a", "b", "c_prime", "c"]:
            np.testing.assert_allclose(paths.loc[term, "df"], ref["cluster_df_cr2"][term], rtol=1e-8, atol=0)
    np.testing.assert_allclose(res.indirect, ref["indirect"], rtol=1e-8, atol=0)
    np.testing.assert_allclose(res.direct, ref["c_prime"]["estimate"], rtol=1e-8, atol=0)
    np.testing.assert_allclose(res.total, ref["c"]["estimate"], rtol=1e-8, atol=0)
    # with OLS the decomposition is exact: c = c' + ab
    np.testing.assert_allclose(res.direct + res.indirect, res.total, rtol=1e-10, atol=0)
    assert res.to_frame()["term"].tolist() == ["indirect", "direct", "total"]
    assert {"estimate", "ci_low", "ci_high", "se"} <= set(res.to_frame().columns)


@pytest.mark.parametrize("cluster", [None, "school"])
def test_vectorised_replicates_equal_refits_on_resampled_data(claims_fixture, cluster):
    d = claims_fixture
    covs = ["covar"]
    Z = med_mod._design(d, "teacher", "mediator", "outcome", covs)
    groups = None if cluster is None else d[cluster].to_numpy()
    draws = med_mod._boot_draws(Z, groups, 3, np.random.default_rng(7), len(covs), False)
    # redraw the same resampling counts and refit with statsmodels on the resampled rows
    rng = np.random.default_rng(7)
    if cluster is None:
        counts = rng.multinomial(len(d), np.full(len(d), 1 / len(d)), size=3)
        row_counts = counts
    else:
        codes, _ = pd.factorize(d[cluster])
        g = codes.max() + 1
        counts = rng.multinomial(g, np.full(g, 1 / g), size=3)
        row_counts = counts[:, codes]
    for r in range(3):
        rs = d.loc[np.repeat(d.index.to_numpy(), row_counts[r])]
        fa = sm.OLS(rs["mediator"], sm.add_constant(rs[["teacher", "covar"]])).fit()
        fb = sm.OLS(rs["outcome"], sm.add_constant(rs[["teacher", "covar", "mediator"]])).fit()
        fc = sm.OLS(rs["outcome"], sm.add_constant(rs[["teacher", "covar"]])).fit()
        want = [fa.params["teacher"] * fb.params["mediator"], fb.params["teacher"], fc.params["teacher"]]
        np.testing.assert_allclose(draws[r], want, rtol=1e-9, atol=0)


def test_seed_reproducible_and_stable_across_seeds(claims_fixture):
    kw = dict(predictor="teacher", mediator="mediator", outcome="outcome", covariates=["covar"], n_boot=5000, progress=False)
    r1 = mediation(claims_fixture, seed=1, **kw)
    r1b = mediation(claims_fixture, seed=1, **kw)
    r2 = mediation(claims_fixture, seed=2, **kw)
    pd.testing.assert_frame_equal(r1.effects, r1b.effects)
    # Monte Carlo SE of a 2.5% / 97.5% quantile of B = 5000 draws is about 0.04 bootstrap SDs;
    # two seeds differ by sqrt(2) of that: allow four times it (0.22 SD).
    for eff in ["indirect", "direct", "total"]:
        sd = r1.effects.loc[eff, "se"]
        for col in ["ci_low", "ci_high"]:
            assert abs(r1.effects.loc[eff, col] - r2.effects.loc[eff, col]) < 0.22 * sd, (eff, col)
        np.testing.assert_allclose(r1.effects.loc[eff, "se"], r2.effects.loc[eff, "se"], rtol=0.05)
    assert not np.allclose(r1.draws, r2.draws)


def test_bootstrap_ci_percentile_and_bc_by_hand():
    draws = np.arange(1, 1000) / 1000
    # percentile: quantile type 7 of 0.001..0.999 at .025 and .975
    ci = bootstrap_ci(draws, 0.5)
    np.testing.assert_allclose([ci.ci_low, ci.ci_high], [0.02595, 0.97405], rtol=1e-12, atol=0)
    # BC with the estimate below the middle: z0 = Phi^-1(0.299) < 0 shifts the interval down
    from scipy.stats import norm
    z0 = norm.ppf(299 / 999)
    lo, hi = norm.cdf(2 * z0 - norm.ppf(0.975)), norm.cdf(2 * z0 + norm.ppf(0.975))
    bc = bootstrap_ci(draws, 0.2995, ci_method="bc")
    np.testing.assert_allclose([bc.ci_low, bc.ci_high], np.quantile(draws, [lo, hi]), rtol=1e-12, atol=0)
    # every draw below the estimate: z0 is infinite and BC is undefined
    undefined = bootstrap_ci(draws, 2.0, ci_method="bc")
    assert np.isnan(undefined.ci_low) and np.isnan(undefined.ci_high)


@pytest.mark.slow
def test_intervals_cover_known_indirect_effect():
    # 200 data sets with a true indirect effect of 0.4 * 0.4 = 0.16; percentile and BC intervals
    # from the same draws.  Coverage should be near .95; with 200 replications its Monte Carlo SE
    # is 0.015, so [.90, .99] is about +/- 3 SE.
    rng = np.random.default_rng(20261123)
    hits = {"percentile": 0, "bc": 0}
    reps = 200
    for i in range(reps):
        d = _simulate(rng, 150)
        res = mediation(d, predictor="x", mediator="m", outcome="y", n_boot=500, seed=i, progress=False)
        for method in hits:
            tab = res.ci_table(ci_method=method)
            hits[method] += tab.loc["indirect", "ci_low"] <= 0.16 <= tab.loc["indirect", "ci_high"]
    for method, h in hits.items():
        assert 0.90 <= h / reps <= 0.99, (method, h / reps)


def test_cluster_bootstrap_is_wider_when_schools_differ():
    d = _simulate(np.random.default_rng(5), 1200, n_schools=30, school_sd=1.0)
    kw = dict(predictor="x", mediator="m", outcome="y", n_boot=1000, seed=3, progress=False)
    pupils = mediation(d, **kw)
    schools = mediation(d, cluster="school", **kw)
    assert schools.n_clusters == 30
    np.testing.assert_allclose(pupils.indirect, schools.indirect, rtol=1e-12)
    w_p = pupils.effects["ci_high"] - pupils.effects["ci_low"]
    w_s = schools.effects["ci_high"] - schools.effects["ci_low"]
    assert (w_s > w_p).all()


def test_missing_values_counted_and_errors(claims_fixture):
    d = claims_fixture.copy()
    d.loc[[1, 2], "mediator"] = np.nan
    res = mediation(d, predictor="teacher", mediator="mediator", outcome="outcome", n_boot=200, seed=1)
    assert res.n == len(d) - 2 and res.n_excluded == 2
    assert "2 rows excluded" in res.summary()
    with pytest.raises(ColumnError, match="nothere"):
        mediation(d, predictor="teacher", mediator="nothere", outcome="outcome")
    with pytest.raises(DataError, match="n_boot"):
        mediation(d, predictor="teacher", mediator="mediator", outcome="outcome", n_boot=10)
    with pytest.raises(DataError, match="method"):
        mediation(d, predictor="teacher", mediator="mediator", outcome="outcome", ci_method="bca")
    with pytest.raises(DataError, match="different"):
        mediation(d, predictor="teacher", mediator="teacher", outcome="outcome")
    tab = res.ci_table(ci_method="bc")
    assert tab.loc["indirect", "ci_low"] < res.indirect < tab.loc["indirect", "ci_high"]
