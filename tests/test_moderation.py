"""Moderation: simple slopes and Johnson-Neyman bounds against R and hand-derived cases."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from belonging_lib import ColumnError, DataError, ModelError
from belonging_lib.models.moderation import johnson_neyman, moderation, simple_slope

REF_DIR = Path(__file__).parent / "reference"
REF = json.loads((REF_DIR / "claims.json").read_text())




def _check_against_r(res, ref, *, rtol=1e-7):
    # R orders (Intercept), X, W, C, X:W; ours (Intercept), X, W, X:W, C
    order = [0, 1, 2, 4, 3]
    est_r = np.array(ref["fit"]["estimate"])[order]
    V_r = np.array(ref["fit"]["vcov"])[np.ix_(order, order)]
    np.testing.assert_allclose(res.coefficients["estimate"], est_r, rtol=rtol, atol=0)
    np.testing.assert_allclose(res.vcov, V_r, rtol=rtol, atol=1e-12)
    slopes = pd.DataFrame(ref["slopes"])
    np.testing.assert_allclose(res.simple_slopes["moderator_value"], ref["at"], rtol=1e-12, atol=0)
    for col in ["estimate", "se", "ci_low", "ci_high", "p"]:
        np.testing.assert_allclose(res.simple_slopes[col], slopes[col], rtol=rtol, atol=0, err_msg=col)
    np.testing.assert_allclose(res.jn_interval, ref["jn"], rtol=rtol, atol=0)
    np.testing.assert_allclose(res.t_crit_jn, ref["t_crit"], rtol=1e-10, atol=0)


def test_continuous_moderator_matches_r_lm(claims_fixture):
    ref = REF["results"]["moderation_classical"]
    res = moderation(claims_fixture, outcome="attain", predictor="belong", moderator="covar",
                     covariates=["teacher"])
    assert res.vcov_type == "classical" and res.df == ref["fit"]["df_resid"]
    _check_against_r(res, ref)
    assert res.jn_region == "inside"  # b3^2 < t^2 v33: significant between the bounds


@pytest.mark.parametrize("vcov, key", [("CR1", "moderation_cluster"), ("CR2", "moderation_cluster_cr2")])
def test_cluster_robust_matches_r_vcovcl_and_clubsandwich(claims_fixture, vcov, key):
    # t on clusters - 1 df, as the R script computes them
    ref = REF["results"][key]
    res = moderation(claims_fixture, outcome="attain", predictor="fsm", moderator="belong",
                     covariates=["covar"], cluster="school", vcov=vcov, df_method="clusters")
    assert res.vcov_type == vcov and res.n_clusters == 30 and res.df == 29
    _check_against_r(res, ref)


def test_cr2_satterthwaite_matches_clubsandwich_coef_test(claims_fixture):
    ref = REF["results"]["moderation_cluster_cr2_satterthwaite"]
    res = moderation(claims_fixture, outcome="attain", predictor="fsm", moderator="belong",
                     covariates=["covar"], cluster="school")
    assert res.vcov_type == "CR2" and res.df_method == "satterthwaite"
    assert "Satterthwaite" in res.summary()
    order = [0, 1, 2, 4, 3]  # R: (Intercept), X, W, C, X:W
    want = pd.DataFrame(ref["coefficients"]).iloc[order].reset_index(drop=True)
    got = pd.DataFrame(ref["slopes"])
    for col in ["estimate", "se", "df", "p", "ci_low", "ci_high"]:
        np.testing.assert_allclose(res.coefficients[col], want[col], rtol=1e-7, atol=0, err_msg=col)
        np.testing.assert_allclose(res.simple_slopes[col], got[col], rtol=1e-7, atol=0, err_msg=col)
    # Johnson-Neyman with df that vary with the moderator: at each bound |t| equals the critical
    # t on that bound's own Satterthwaite df
    assert res.jn_interval
    for b in res.jn_interval:
        tab = res.slope_at([b])
        np.testing.assert_allclose(tab["p"].iloc[0], 0.05, rtol=1e-8, atol=0)
        assert tab["df"].iloc[0] < 29


def test_binary_moderator_probes_zero_and_one(claims_fixture):
    ref = REF["results"]["moderation_binary_moderator"]
    res = moderation(claims_fixture, outcome="attain", predictor="belong", moderator="fsm", covariates=["covar"])
    assert res.moderator_binary
    _check_against_r(res, ref)
    # the jn bounds lie outside the observed 0..1 range of a binary moderator
    assert res.jn_in_range == []


@pytest.mark.parametrize("args, bounds, region", [
    # slope 2 - W, SE 0.5 everywhere: |2 - W| = 2 * 0.5 at W = 1 and W = 3
    ((2.0, -1.0, 0.25, 0.0, 0.0, 2.0), (1.0, 3.0), "outside"),
    # slope 3, SE sqrt(1 + W^2): 3 = 2 sqrt(1 + W^2) at W = +/- sqrt(5)/2
    ((3.0, 0.0, 1.0, 1.0, 0.0, 2.0), (-np.sqrt(5) / 2, np.sqrt(5) / 2), "inside"),
    # slope W, SE sqrt(1 + W^2): |t| < 1 < 2 always
    ((0.0, 1.0, 1.0, 1.0, 0.0, 2.0), (), "nowhere"),
    # slope 5 + 0 W, SE 1: always significant
    ((5.0, 0.0, 1.0, 0.0, 0.0, 1.96), (), "everywhere"),
    # slope W, SE 1, t = 1.5: linear in W^2 -> roots +/- 1.5
    ((0.0, 1.0, 1.0, 0.0, 0.0, 1.5), (-1.5, 1.5), "outside"),
    # slope 1 + 0.5 W with Var = 1 + 0.25 W^2 + 2 W 0.5 ... a = 0 case: b3^2 = t^2 v33
    # (0.5^2 = 1^2 * 0.25): 2 (0.5 - 0.5) W -> b = 2 (b1 b3 - t^2 v13) = 2 (0.5 - 0.25) = 0.5,
    # c = 1 - 1 = 0 ... single root W = 0, significant above it
    ((1.0, 0.5, 1.0, 0.25, 0.25, 1.0), (0.0,), "above"),
])
def test_johnson_neyman_hand_derived(args, bounds, region):
    jn = johnson_neyman(*args)
    got, where = jn.bounds, jn.region
    assert where == region
    np.testing.assert_allclose(got, bounds, rtol=1e-12, atol=1e-12)
    # at each bound |slope / se| equals t exactly
    b1, b3, v11, v33, v13, t = args
    for w in got:
        slope = simple_slope(b1, b3, v11, v33, v13, [w])
        np.testing.assert_allclose(abs(slope.estimate[0]) / slope.se[0], t, rtol=1e-10, atol=0)


def test_slope_at_and_sd_probe(claims_fixture):
    res = moderation(claims_fixture, outcome="attain", predictor="belong", moderator="covar", probe="sd")
    w = claims_fixture["covar"]
    np.testing.assert_allclose(res.simple_slopes["moderator_value"],
                               [w.mean() - w.std(), w.mean(), w.mean() + w.std()], rtol=1e-12, atol=0)
    again = res.slope_at(res.simple_slopes["moderator_value"])
    pd.testing.assert_frame_equal(again, res.simple_slopes)
    # significance flips exactly at the JN bounds inside the range
    for b in res.jn_in_range:
        tab = res.slope_at([b])
        np.testing.assert_allclose(tab["p"].iloc[0], 1 - res.ci_level, rtol=1e-8, atol=0)


def test_missing_rows_are_counted_not_silently_dropped(claims_fixture):
    d = claims_fixture.copy()
    d.loc[[3, 10, 11], "belong"] = np.nan
    d.loc[20, "attain"] = np.nan
    res = moderation(d, outcome="attain", predictor="fsm", moderator="belong")
    assert res.n == len(d) - 4 and res.n_excluded == 4
    assert "4 rows excluded" in res.summary()


def test_bad_input_raises_library_errors(claims_fixture):
    with pytest.raises(ColumnError, match="nope"):
        moderation(claims_fixture, outcome="nope", predictor="fsm", moderator="belong")
    d = claims_fixture.copy()
    d["txt"] = "a"
    with pytest.raises(DataError, match="txt"):
        moderation(d, outcome="attain", predictor="txt", moderator="belong")
    with pytest.raises(DataError, match="probe"):
        moderation(claims_fixture, outcome="attain", predictor="fsm", moderator="belong", probe="median")
    d["const"] = 1.0
    with pytest.raises(ModelError):
        moderation(d, outcome="attain", predictor="fsm", moderator="const")


def test_plot_draws_both_panels(claims_fixture):
    res = moderation(claims_fixture, outcome="attain", predictor="fsm", moderator="belong")
    axes = res.plot()
    assert len(axes) == 2 and axes[1].get_xlabel() == "belong"
    assert "<table" in res._repr_html_()


def test_plots_for_a_continuous_predictor_mark_the_bounds(claims_fixture):
    res = moderation(claims_fixture, outcome="attain", predictor="belong", moderator="covar", covariates=["teacher"])
    ax = res.plot("slopes")
    assert len(ax.get_lines()) == 3 and ax.get_xlabel() == "belong"
    ax = res.plot("jn")
    # one dashed line per Johnson-Neyman bound inside the observed range
    dashed = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert len(dashed) == len(res.jn_in_range) == 1
    np.testing.assert_allclose(dashed[0].get_xdata()[0], res.jn_in_range[0], rtol=1e-12)


def test_jn_curve_and_predicted_lines_are_the_figures_numbers(claims_fixture):
    """The plots draw these methods; check them against the model's own coefficients."""
    res = moderation(claims_fixture, outcome="attain", predictor="belong", moderator="covar",
                     covariates=["teacher"], cluster="school", alpha_jn=0.1)
    curve = res.jn_curve(n_points=101)
    lo, hi = res.moderator_range
    pad = 0.05 * (hi - lo)
    np.testing.assert_allclose(curve["moderator_value"].iloc[[0, -1]], [lo - pad, hi + pad], rtol=1e-12)
    # the curve is the simple slope at each grid value, at the Johnson-Neyman level (1 - alpha_jn)
    again = res.slope_at(curve["moderator_value"], ci_level=0.9)
    pd.testing.assert_frame_equal(curve.drop(columns="significant"), again)
    assert (curve["significant"] == (curve["p"] < 0.1)).all()
    b = res.coefficients.set_index("term")["estimate"]
    np.testing.assert_allclose(curve["estimate"], b["belong"] + b["belong:covar"] * curve["moderator_value"],
                               rtol=1e-12, atol=1e-12)
    # the significant region changes exactly at the bounds inside the range
    for bound in res.jn_in_range:
        np.testing.assert_allclose(res.slope_at([bound], ci_level=0.9)["p"].iloc[0], 0.1, rtol=1e-6)

    lines = res.predicted_lines(n_points=7)
    assert len(lines) == 7 * len(res.simple_slopes)
    t_mean = claims_fixture.dropna(subset=["attain", "belong", "covar", "teacher"])["teacher"].mean()
    want = (b["(Intercept)"] + b["belong"] * lines["predictor_value"] + b["covar"] * lines["moderator_value"]
            + b["belong:covar"] * lines["predictor_value"] * lines["moderator_value"] + b["teacher"] * t_mean)
    np.testing.assert_allclose(lines["predicted"], want, rtol=1e-12)


def test_plots_draw_the_results_methods(claims_fixture):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = moderation(claims_fixture, outcome="attain", predictor="fsm", moderator="belong")
    axes = res.plot()
    slope_line = axes[1].get_lines()[0]
    curve = res.jn_curve()
    np.testing.assert_allclose(slope_line.get_ydata(), curve["estimate"], rtol=1e-12)
    lines = res.predicted_lines()
    first = axes[0].get_lines()[0]
    np.testing.assert_allclose(first.get_ydata(), lines["predicted"].iloc[:2], rtol=1e-12)
    plt.close("all")
