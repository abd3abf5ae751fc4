"""Tests for belonging_lib.models.multilevel against lme4/lmerTest (tests/reference/multilevel.R)."""

from __future__ import annotations

import hashlib
import json
import pathlib
import warnings

import numpy as np
import pandas as pd
import pytest

from belonging_lib._errors import BelongingWarning, ColumnError, DataError, ModelError
from belonging_lib.models import center, compare, multilevel, null_model
from belonging_lib.models.multilevel import MultilevelResult

REF = pathlib.Path(__file__).parent / "reference"
R = json.loads((REF / "multilevel.json").read_text())


def _load(name: str, **kw) -> pd.DataFrame:
    path = REF / "data" / name
    assert hashlib.md5(path.read_bytes()).hexdigest() == R["md5"][name], f"{name} changed since multilevel.R ran"
    return pd.read_csv(path, **kw)


SLEEP = _load("sleepstudy.csv")
THREE = _load("multilevel_three_level.csv")
SCHOOL = _load("multilevel_school_predictor.csv")
HSB = _load("hsb.csv", dtype={"School": str})          # nlme::MathAchieve, SES centred within school
THREE2 = _load("multilevel_three_level_predictors.csv")   # synthetic: predictors at all three levels
TERMS = _load("multilevel_random_terms.csv")             # synthetic: random slopes on transformed terms

CASES = {
    "sleep_ri": (lambda reml: multilevel(SLEEP, "Reaction ~ Days", cluster="Subject", reml=reml)),
    "sleep_rs": (lambda reml: multilevel(SLEEP, "Reaction ~ Days", cluster="Subject", random="~Days", reml=reml)),
    "three": (lambda reml: multilevel(THREE, "y ~ ses", cluster=["school", "class"], reml=reml)),
    "school": (lambda reml: multilevel(SCHOOL, "y ~ belong + urban + climate", cluster="school", reml=reml)),
    # issue 14: a small slope variance next to the intercept variance (df need an accurate Hessian)
    "hsb": (lambda reml: multilevel(HSB, "MathAch ~ SES_gc * MEANSES + SES_gc * catholic", cluster="School",
                                    random="~SES_gc", reml=reml)),
    "three2": (lambda reml: multilevel(THREE2, "y ~ ses + class_size + urban", cluster=["school", "class"],
                                       reml=reml)),
}


def _r_varcomp(ref: dict, m: MultilevelResult, names: dict | None = None) -> list[tuple[float, float]]:
    """Pairs (python, R) of variance components, matched by group and term (``names``: R's -> ours)."""
    vc = ref["varcomp"]
    names = names or {}
    pairs = []
    for grp, v1, v2, value in zip(vc["grp"], vc["var1"], vc["var2"], vc["vcov"]):
        if grp == "Residual":
            py = m.variance.loc["Residual", "variance"]
        else:
            group = grp.split(":")[0]          # "class:school" -> class (nested level)
            v1, v2 = names.get(v1, v1), names.get(v2, v2)
            term = v1 if not v2 else f"cov({v1}, {v2})"
            row = m.variance[(m.variance["cluster"] == group) & (m.variance["term"] == term)]
            assert len(row) == 1, (grp, v1, v2)
            py = row["variance"].iloc[0]
        pairs.append((py, value))
    return pairs


@pytest.mark.parametrize("reml", [True, False], ids=["reml", "ml"])
@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.slow) if c in ("three", "sleep_rs", "hsb", "three2") else c for c in CASES])
def test_matches_lme4_lmertest(case, reml):
    ref = R["models"][f"{case}_{'reml' if reml else 'ml'}"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BelongingWarning)
        m = CASES[case](reml)
    assert sorted(m.fixed.index) == sorted(ref["terms"])      # patsy and R may order the terms differently
    fixed = m.fixed.loc[ref["terms"]]
    assert m.n == ref["nobs"]
    # issue 5 acceptance: fixed effects and SEs 1e-4 relative (we reach ~1e-7, see the report)
    np.testing.assert_allclose(fixed["estimate"], ref["estimate"], rtol=1e-6, atol=0)
    np.testing.assert_allclose(fixed["se"], ref["se"], rtol=1e-5, atol=0)
    # issue 14: lmerTest's Satterthwaite df to 1e-3 (we reach ~1e-6: exact scores, Richardson Hessian)
    np.testing.assert_allclose(fixed["df"], ref["df"], rtol=1e-3, atol=0)
    # p in the far tail (~1e-6) moves ~1% for a 1e-3 relative change in df: looser than df itself
    np.testing.assert_allclose(fixed["p"], ref["p"], rtol=5e-2, atol=1e-12)
    for py, r in _r_varcomp(ref, m):
        np.testing.assert_allclose(py, r, rtol=1e-3, atol=1e-8)
    np.testing.assert_allclose(m.loglik, ref["loglik"], rtol=1e-6, atol=0)
    np.testing.assert_allclose([m.aic, m.bic], [ref["aic"], ref["bic"]], rtol=1e-6, atol=0)


# issue 15: random slopes on a transformed term, a category and an interaction (patsy reads the terms);
# R's names for the terms, then ours
TERM_CASES = {
    "terms_sq": ("y ~ ses + I(ses**2)", "~ I(ses**2)", {"I(ses^2)": "I(ses ** 2)"}),
    "terms_year": ("y ~ C(year)", "~ C(year)", {"factor(year)8": "C(year)[T.8]", "factor(year)9": "C(year)[T.9]"}),
    "terms_int": ("y ~ ses * fsm", "~ ses:fsm", {}),
}


@pytest.mark.parametrize("reml", [True, False], ids=["reml", "ml"])
@pytest.mark.parametrize("case", list(TERM_CASES))
def test_random_slopes_on_transformed_terms_match_lme4(case, reml):
    formula, random, names = TERM_CASES[case]
    ref = R["models"][f"{case}_{'reml' if reml else 'ml'}"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BelongingWarning)
        m = multilevel(TERMS, formula, cluster="school", random=random, reml=reml)
    terms = [names.get(t, t) for t in ref["terms"]]
    assert sorted(m.fixed.index) == sorted(terms)
    # rows missing ses are excluded because the random part uses ses (eight of them), and counted
    assert m.n == ref["nobs"] and m.n + m.n_excluded == len(TERMS)
    assert m.n_excluded == (int(TERMS["ses"].isna().sum()) if "ses" in formula else 0)
    fixed = m.fixed.loc[terms]
    np.testing.assert_allclose(fixed["estimate"], ref["estimate"], rtol=1e-6, atol=0)
    np.testing.assert_allclose(fixed["se"], ref["se"], rtol=1e-5, atol=0)
    np.testing.assert_allclose(fixed["df"], ref["df"], rtol=1e-3, atol=0)
    np.testing.assert_allclose(fixed["p"], ref["p"], rtol=5e-2, atol=1e-12)
    pairs = _r_varcomp(ref, m, names)
    assert len(pairs) == len(m.variance)
    for py, r in pairs:
        np.testing.assert_allclose(py, r, rtol=1e-3, atol=1e-8)
    np.testing.assert_allclose(m.loglik, ref["loglik"], rtol=1e-6, atol=0)


def test_random_part_errors_are_clear():
    with pytest.raises(ColumnError, match="random part"):
        multilevel(TERMS, "y ~ ses", cluster="school", random="~ not_a_column")
    with pytest.raises(ModelError, match="right-hand side only"):
        multilevel(TERMS, "y ~ ses", cluster="school", random="y ~ ses")
    with pytest.raises(ModelError, match="linearly dependent"):
        multilevel(TERMS.assign(one=1.0), "y ~ ses", cluster="school", random="~ one")
    with pytest.raises(ModelError, match="names no variable"):
        multilevel(TERMS, "y ~ ses", cluster="school", random="~ 1")


def test_excluded_rows_counted():
    m = CASES["school"](True)
    assert m.n_excluded == 2
    assert m.n + m.n_excluded == len(SCHOOL)
    assert "2 rows excluded" in m.summary() if isinstance(m.summary(), str) else True


def test_compare_refits_with_ml_as_anova():
    m0 = multilevel(SCHOOL, "y ~ belong", cluster="school")
    m1 = multilevel(SCHOOL, "y ~ belong + urban + climate", cluster="school")
    out = compare(m0, m1)
    assert out.method == "ML (refitted from REML)"
    lrt = R["lrt"]
    np.testing.assert_allclose(out.table["loglik"], lrt["loglik"], rtol=1e-7, atol=0)
    np.testing.assert_allclose(out.statistic, lrt["chisq"], rtol=1e-5, atol=0)
    assert out.df == lrt["df"]
    np.testing.assert_allclose(out.p, lrt["p"], rtol=1e-4, atol=0)
    frame = out.to_frame()
    assert list(frame.columns[:3]) == ["statistic", "df", "p"] and frame["p"].iloc[1] == out.p


def test_icc_and_r2_by_definition():
    m = CASES["school"](True)
    v = m.variance["variance"]
    tau, sigma = v.iloc[0], v.loc["Residual"]
    assert m.icc == pytest.approx(tau / (tau + sigma), rel=1e-12)
    frame = SCHOOL.dropna()
    fitted = np.column_stack([np.ones(len(frame)), frame[["belong", "urban", "climate"]]]) @ m.fixed["estimate"]
    vf = np.var(fitted, ddof=1)
    assert m.r2_marginal == pytest.approx(vf / (vf + tau + sigma), rel=1e-12)
    assert m.r2_conditional == pytest.approx((vf + tau) / (vf + tau + sigma), rel=1e-12)
    n0 = null_model(SCHOOL, outcome="y", cluster="school")
    assert 0 < n0.icc < 1 and n0.fixed.index.tolist() == ["(Intercept)"]


@pytest.mark.slow
def test_three_level_icc_levels():
    m = CASES["three"](True)
    assert set(m.icc_levels) == {"school", "class"}
    assert m.n_clusters["school"] == THREE["school"].nunique()
    assert m.n_clusters["class"] == THREE.groupby(["school", "class"]).ngroups
    assert m.cluster == ("school", "class")


def test_tidy_table_and_summary():
    m = CASES["sleep_ri"](True)
    tidy = m.to_frame()
    assert list(tidy.columns) == ["term", "estimate", "se", "ci_low", "ci_high", "statistic", "df", "p", "n"]
    assert tidy["term"].iloc[0] == "(Intercept)"
    assert isinstance(m._repr_html_(), str)
    assert "Satterthwaite" in str(m.summary())


# ---------------------------------------------------------------- degenerate input

def _toy(seed=0, J=20, m=10, tau=0.5):
    rng = np.random.default_rng(seed)
    d = pd.DataFrame({"g": np.repeat(np.arange(J), m), "x": rng.normal(size=J * m)})
    d["y"] = 1 + 0.5 * d["x"] + rng.normal(0, tau, J)[d["g"]] + rng.normal(size=J * m)
    return d


def test_single_group_is_a_clear_error():
    d = _toy()
    d["g"] = 1
    with pytest.raises(ModelError, match="only one cluster"):
        multilevel(d, "y ~ x", cluster="g")


def test_groups_of_size_one_are_not_identified():
    # issue 20: every group has one pupil, so tau2 and sigma2 are not separately identified (lme4
    # refuses too: the number of levels of each grouping factor must be < number of observations)
    d = _toy(J=60, m=1)
    with pytest.raises(ModelError, match="single row.*not identified"):
        multilevel(d, "y ~ x", cluster="g")
    with pytest.raises(ModelError, match="single row"):
        null_model(d, outcome="y", cluster="g")
    d1 = _toy(J=1, m=30)
    with pytest.raises(ModelError, match="only one cluster"):
        null_model(d1, outcome="y", cluster="g")
    from belonging_lib.models import fit_random_intercept
    with pytest.raises(ModelError, match="single row"):
        fit_random_intercept(d["y"].to_numpy(), np.column_stack([np.ones(60), d["x"]]), cluster=d["g"].to_numpy())


def test_three_level_not_identified():
    rng = np.random.default_rng(5)
    # one class per school: school and class variances cannot be told apart
    d = pd.DataFrame({"s": np.repeat(np.arange(20), 8), "c": np.repeat(np.arange(20), 8),
                      "y": rng.normal(size=160)})
    with pytest.raises(ModelError, match="single 'c' cluster"):
        multilevel(d, "y ~ 1", cluster=["s", "c"])
    # one pupil per class
    d2 = pd.DataFrame({"s": np.repeat(np.arange(20), 8), "c": np.arange(160), "y": rng.normal(size=160)})
    with pytest.raises(ModelError, match="single row"):
        multilevel(d2, "y ~ 1", cluster=["s", "c"])


def test_zero_variance_component_is_a_reported_boundary_fit():
    rng = np.random.default_rng(3)
    d = pd.DataFrame({"g": np.repeat(np.arange(30), 10), "x": rng.normal(size=300)})
    # within-group noise only, and then remove any chance between-group variation
    e = rng.normal(size=300)
    e = e - pd.Series(e).groupby(d["g"]).transform("mean").to_numpy()
    d["y"] = 1 + 0.5 * d["x"] + e
    with pytest.warns(BelongingWarning, match="Boundary fit"):
        m = multilevel(d, "y ~ x", cluster="g")
    assert m.boundary
    assert m.variance["variance"].iloc[0] == 0.0
    assert "Boundary fit" in " ".join(m.notes())


def test_collinear_predictors_named():
    d = _toy()
    d["x2"] = 2 * d["x"]
    with pytest.raises(ModelError, match="x2"):
        multilevel(d, "y ~ x + x2", cluster="g")


def test_non_numeric_outcome_named():
    d = _toy()
    d["y"] = d["y"].astype(str)
    d.loc[3, "y"] = "absent"
    with pytest.raises(DataError, match="'y' must be numeric"):
        multilevel(d, "y ~ x", cluster="g")


def test_missing_group_column():
    from belonging_lib._errors import ColumnError
    with pytest.raises(ColumnError):
        multilevel(_toy(), "y ~ x", cluster="school")


# ---------------------------------------------------------------- centring

def test_centring():
    d = pd.DataFrame({"s": [1, 1, 2, 2, 2], "x": [1.0, 3.0, 5.0, 7.0, np.nan]})
    out = center(d, columns="x", cluster="s")
    np.testing.assert_allclose(out["x_gm"], [2, 2, 6, 6, 6], rtol=0, atol=0)
    np.testing.assert_allclose(out["x_cwc"][:4], [-1, 1, -1, 1], rtol=0, atol=0)
    assert np.isnan(out["x_cwc"].iloc[4])
    g = center(d, columns="x")
    np.testing.assert_allclose(g["x_cgm"][:4], [-3, -1, 1, 3], rtol=0, atol=1e-15)


def test_random_slope_without_slope_variance_is_singular_not_nan():
    # issue 14: a random slope whose variance is zero is reported as singular (lme4's isSingular),
    # with what that means; estimates, SEs and df stay finite.  lme4 on these data: isSingular TRUE,
    # variances 0.3589181, 5.65e-06, covariance -1.42426e-03 (correlation -1), residual 1.039975
    rng = np.random.default_rng(10)
    d = pd.DataFrame({"g": np.repeat(np.arange(40), 15), "x": rng.normal(size=600)})
    d["y"] = 1 + 0.5 * d["x"] + rng.normal(0, 0.7, 40)[d["g"]] + rng.normal(size=600)
    with pytest.warns(BelongingWarning, match="correlation of \\+1 or -1"):
        m = multilevel(d, "y ~ x", cluster="g", random="~x")
    assert m.boundary and m.converged
    assert np.all(np.isfinite(m.fixed[["estimate", "se", "df", "p"]].to_numpy()))
    assert any("isSingular" in line for line in m.notes())
    v = m.variance["variance"].to_numpy()
    np.testing.assert_allclose(v[[0, 3]], [0.3589181372, 1.039974812], rtol=1e-4)
    assert abs(m.variance["corr"].iloc[2]) == pytest.approx(1.0, abs=1e-9)


def test_engine_solves_score_equations_to_machine_precision():
    from belonging_lib.models import _lmm
    from belonging_lib.models.multilevel import _codes
    top, n_top = _codes(HSB["School"])
    X = np.column_stack([np.ones(len(HSB)), HSB["SES_gc"], HSB["MEANSES"], HSB["catholic"],
                         HSB["SES_gc"] * HSB["MEANSES"], HSB["SES_gc"] * HSB["catholic"]])
    Z = X[:, :2]
    fit, model = _lmm.fit_two_level(HSB["MathAch"].to_numpy(), X, Z, top, n_top, reml=True)
    assert fit.converged and not fit.boundary
    assert fit.gradient < 1e-9                       # |score| / |criterion| at the solution
    # a perturbation of theta raises the criterion on both sides (a minimum, not a saddle)
    f0 = _lmm._profiled(model, fit.theta, True)
    for i in range(len(fit.theta)):
        for sgn in (-1, 1):
            t = fit.theta.copy()
            t[i] += sgn * 1e-4
            assert _lmm._profiled(model, t, True) > f0
