"""SurveyDesign.multilevel (issue 28): plausible values pooled by Rubin's rules over replicate-weight
refits, checked against a hand computation over per-PV, per-replicate fits of multilevel(weights=)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from belonging_lib._errors import DataError
from belonging_lib.disclosure import DisclosurePolicy, set_default_policy, get_default_policy
from belonging_lib.models import multilevel
from belonging_lib.survey import SurveyDesign

N_REP, N_PV = 6, 3


def _data(seed=3, pupil_level_factors=False):
    """Synthetic pupils in schools: school and pupil weights, 3 plausible values, 6 Fay replicates."""
    rng = np.random.default_rng(seed)
    J = 24
    sizes = rng.integers(8, 20, J)
    g = np.repeat(np.arange(J), sizes)
    n = len(g)
    u = rng.normal(0, 0.6, J)
    x = rng.normal(size=n)
    w_school = np.round(rng.uniform(5, 50, J), 3)
    w_total = w_school[g] * np.round(rng.uniform(1, 3, n), 3)
    d = pd.DataFrame(
        {
            "school": [f"S{j:02d}" for j in g],
            "x": x,
            "W": w_total,
            "W_SCH": w_school[g],
            "CNT": np.where(g < 12, "AAA", "BBB"),
        }
    )
    slope = rng.normal(0, 0.3, J)
    true = 1 + 0.4 * x + u[g] + slope[g] * x + rng.normal(size=n)
    for m in range(N_PV):
        d[f"PV{m + 1}MATH"] = true + rng.normal(0, 0.3, n)
    signs = rng.choice([-1.0, 1.0], size=(J, N_REP))
    for r in range(N_REP):
        factor = 1 + 0.5 * signs[g, r]
        if pupil_level_factors:  # replicates that vary within schools
            factor = factor * rng.uniform(0.9, 1.1, n)
        d[f"RW{r + 1}"] = w_total * factor
    return d


def _hand(d, formula, rows=None):
    """Per PV: the full-sample fit and each replicate's refit by multilevel(weights=); then Rubin."""
    d = d if rows is None else d[rows]
    est, var = [], []
    for m in range(N_PV):
        dm = d.assign(MATH=d[f"PV{m + 1}MATH"])
        full = multilevel(
            dm, formula, cluster="school", weights={"pupil": "W", "school": "W_SCH"}, pupil_weight="total"
        )

        def stats(f):
            return np.r_[f.fixed["estimate"].to_numpy(), f.variance["variance"].to_numpy(), f.icc]

        t0 = stats(full)
        reps = []
        for r in range(N_REP):
            col = f"RW{r + 1}"
            f_j = dm.groupby("school")[col].transform("sum") / dm.groupby("school")["W"].transform("sum")
            dr = dm.assign(W_R_SCH=dm["W_SCH"] * f_j)
            fit = multilevel(
                dr, formula, cluster="school", weights={"pupil": col, "school": "W_R_SCH"}, pupil_weight="total"
            )
            reps.append(stats(fit))
        reps = np.array(reps)
        est.append(t0)
        var.append(1 / (N_REP * 0.25) * np.sum((reps - t0) ** 2, axis=0))  # Fay, k = 0.5
    est, var = np.array(est), np.array(var)
    q = est.mean(axis=0)
    b = est.var(axis=0, ddof=1)
    total = var.mean(axis=0) + (1 + 1 / N_PV) * b
    return q, np.sqrt(total), b


@pytest.mark.parametrize("pupil_level", [False, True])
def test_pv_pooling_matches_a_hand_computation(pupil_level):
    d = _data(pupil_level_factors=pupil_level)
    des = SurveyDesign(d, weight="W", replicates="RW", pv="auto")
    res = des.multilevel("MATH ~ x", cluster="school", school_weight="W_SCH").to_frame()
    q, se, b = _hand(d, "MATH ~ x")
    assert list(res["term"]) == ["(Intercept)", "x", "var: school (Intercept)", "var: Residual", "ICC"]
    np.testing.assert_allclose(res["estimate"], q, rtol=1e-8)
    # school-level factors: replicates reuse the full sample's sufficient statistics (exact to rounding)
    np.testing.assert_allclose(res["se"], se, rtol=1e-6)
    np.testing.assert_allclose(res["var_between"], b, rtol=1e-6)
    assert (res["n"] == len(d)).all()


def test_by_country_fits_each_country_alone():
    d = _data()
    des = SurveyDesign(d, weight="W", replicates="RW", pv="auto")
    with _policy_off():
        res = des.multilevel("MATH ~ x", cluster="school", school_weight="W_SCH", by="CNT").to_frame()
        q, se, _ = _hand(d, "MATH ~ x", rows=(d["CNT"] == "BBB").to_numpy())
    bbb = res[res["CNT"] == "BBB"]
    np.testing.assert_allclose(bbb["estimate"], q, rtol=1e-8)
    np.testing.assert_allclose(bbb["se"], se, rtol=1e-6)


def test_random_slope_correlation_is_pooled_on_fishers_z():
    d = _data()
    des = SurveyDesign(d, weight="W", replicates="RW", pv="auto")
    res = des.multilevel("MATH ~ x", cluster="school", school_weight="W_SCH", random="~ x").to_frame()
    corr = res[res["term"] == "corr: school (Intercept), x"].iloc[0]
    assert -1 <= corr["estimate"] <= 1 and corr["ci_low"] <= corr["estimate"] <= corr["ci_high"]
    # the pooled correlation is tanh of the mean of the per-PV Fisher z values
    zs = []
    for m in range(N_PV):
        fit = multilevel(
            d.assign(MATH=d[f"PV{m + 1}MATH"]),
            "MATH ~ x",
            cluster="school",
            random="~ x",
            weights={"pupil": "W", "school": "W_SCH"},
            pupil_weight="total",
        )
        zs.append(np.arctanh(fit.variance["corr"].iloc[2]))
    assert corr["estimate"] == pytest.approx(np.tanh(np.mean(zs)), rel=1e-7)


def test_school_weight_must_be_constant_within_a_school():
    d = _data()
    d.loc[0, "W_SCH"] += 1
    des = SurveyDesign(d, weight="W", replicates="RW", pv="auto")
    with pytest.raises(DataError, match="same for every pupil of a school"):
        des.multilevel("MATH ~ x", cluster="school", school_weight="W_SCH")


class _policy_off:
    def __enter__(self):
        self.old = get_default_policy()
        set_default_policy(DisclosurePolicy(enabled=False))

    def __exit__(self, *exc):
        set_default_policy(self.old)


@pytest.mark.parametrize("random", [None, "(1 + x || school)"])
def test_sandwich_pv_pooling_matches_a_hand_computation(random):
    """se="sandwich": each PV's fit with WeMix's sandwich (fixed effects and variances), then Rubin by hand."""
    d = _data()
    des = SurveyDesign(d, weight="W", replicates="RW", pv="auto")
    res = des.multilevel("MATH ~ x", cluster="school", school_weight="W_SCH", random=random, se="sandwich")
    table = res.to_frame()
    est, var, icc = [], [], []
    for m in range(N_PV):
        fit = multilevel(
            d.assign(MATH=d[f"PV{m + 1}MATH"]),
            "MATH ~ x",
            cluster="school",
            random=random,
            weights={"pupil": "W", "school": "W_SCH"},
            pupil_weight="total",
        )
        est.append(np.r_[fit.fixed["estimate"], fit.variance["variance"]])
        var.append(np.r_[fit.fixed["se"], fit.variance["se"]] ** 2)
        icc.append(fit.icc)
    est, var = np.array(est), np.array(var)
    q = est.mean(axis=0)
    b = est.var(axis=0, ddof=1)
    se = np.sqrt(var.mean(axis=0) + (1 + 1 / N_PV) * b)
    expected_terms = ["(Intercept)", "x", "var: school (Intercept)"]
    expected_terms += ["var: school x"] if random else []
    assert list(table["term"]) == expected_terms + ["var: Residual", "ICC"]  # no correlation: fixed at 0
    body = table.iloc[:-1]
    np.testing.assert_allclose(body["estimate"], q, rtol=1e-10)
    np.testing.assert_allclose(body["var_between"], b, rtol=1e-8)
    np.testing.assert_allclose(body["se"], se, rtol=1e-8)
    assert table["estimate"].iloc[-1] == pytest.approx(np.mean(icc), rel=1e-10)
    assert 0 < table["se"].iloc[-1] < 1
    assert res.method.startswith("sandwich over schools")


def test_sandwich_and_replicate_standard_errors_differ_but_agree_in_size():
    d = _data()
    des = SurveyDesign(d, weight="W", replicates="RW", pv="auto")
    a = des.multilevel("MATH ~ x", cluster="school", school_weight="W_SCH").to_frame()
    b = des.multilevel("MATH ~ x", cluster="school", school_weight="W_SCH", se="sandwich").to_frame()
    np.testing.assert_allclose(a["estimate"], b["estimate"], rtol=1e-12)
    assert not np.allclose(a["se"], b["se"])
    assert np.all((b["se"] / a["se"] > 0.2) & (b["se"] / a["se"] < 5))
    with pytest.raises(DataError, match="`se` is 'replicate'"):
        des.multilevel("MATH ~ x", cluster="school", school_weight="W_SCH", se="bootstrap")


def test_uncorrelated_slope_with_replicate_weights():
    d = _data()
    des = SurveyDesign(d, weight="W", replicates="RW", pv="auto")
    kw = {"cluster": "school", "school_weight": "W_SCH", "random": "(1 + x || school)"}
    a = des.multilevel("MATH ~ x", **kw).to_frame()
    b = des.multilevel("MATH ~ x", se="sandwich", **kw).to_frame()
    assert list(a["term"]) == list(b["term"]) and not a["term"].str.startswith("corr").any()
    np.testing.assert_allclose(a["estimate"], b["estimate"], rtol=1e-12)
    assert np.isfinite(a["se"]).all() and (a["se"] > 0).all()


def test_sandwich_at_a_boundary_gives_no_variance_se_but_keeps_the_fixed_effects():
    """A variance estimated at 0 has no sandwich SE (NaN): the fit is kept, not refused as undefined."""
    d = _data()
    rng = np.random.default_rng(0)
    for m in range(N_PV):  # no school effect: the school variance at (or near) the boundary
        d[f"PV{m + 1}MATH"] = 1 + 0.4 * d["x"] + rng.normal(size=len(d))
    des = SurveyDesign(d, weight="W", replicates="RW", pv="auto")
    res = des.multilevel("MATH ~ x", cluster="school", school_weight="W_SCH", se="sandwich")
    table = res.to_frame(disclosure=False).set_index("term")
    assert np.isfinite(table.loc[["(Intercept)", "x"], "se"]).all()
    assert np.isnan(table.loc["var: school (Intercept)", "se"])
    assert np.isfinite(table["estimate"]).all()
