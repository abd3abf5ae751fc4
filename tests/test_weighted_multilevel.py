"""Weighted two-level models (issue 28): multilevel(weights=) against R's WeMix, lme4, hand algebra and
the WeMix vignette's published Table 1."""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import warnings

import numpy as np
import pandas as pd
import pytest

from belonging_lib._errors import DataError, ModelError
from belonging_lib.models import compare, multilevel
from belonging_lib.models.multilevel import _scale_pupil_weights

REF = pathlib.Path(__file__).parent / "reference"
ROOT = pathlib.Path(__file__).resolve().parents[1]
ML = json.loads((REF / "multilevel.json").read_text())
WM = json.loads((REF / "wemix.json").read_text())
UC = json.loads((REF / "uncorrelated.json").read_text())
SHARED = pathlib.Path(os.environ.get("BELONGING_SHARED", ROOT.parent / "shared")) / "data" / "wemix"
PISA2012 = SHARED / "pisa2012_usa_mlmusingr.csv"


def _load(name: str, ref: dict, **kw) -> pd.DataFrame:
    path = REF / "data" / name
    assert hashlib.md5(path.read_bytes()).hexdigest() == ref["md5"][name], f"{name} changed since its R script ran"
    return pd.read_csv(path, **kw)


SLEEP = _load("sleepstudy.csv", ML, dtype={"Subject": str})
SCHOOL = _load("multilevel_school_predictor.csv", ML)
FIX = _load("wemix_fixture.csv", WM, dtype={"school": str})
UNIT = {"pupil": "w1", "school": "w1"}


def _close(a, b, tol):
    a, b = np.asarray(a, float), np.asarray(b, float)
    assert np.all(np.abs(a - b) <= tol * np.maximum(1.0, np.abs(b))), (a, b)


# ----------------------------------------------------------------------------- all weights 1


@pytest.mark.parametrize("random", [None, "~ Days", "(Days || Subject)"])
@pytest.mark.parametrize("scaling", ["none", "cluster_size", "effective_size"])
def test_unit_weights_reproduce_the_unweighted_ml_fit(random, scaling):
    d = SLEEP.assign(w1=1.0)
    u = multilevel(d, "Reaction ~ Days", cluster="Subject", random=random, reml=False)
    w = multilevel(d, "Reaction ~ Days", cluster="Subject", random=random, weights=UNIT, scaling=scaling)
    _close(w.fixed["estimate"], u.fixed["estimate"], 1e-8)
    _close(w.variance["variance"], u.variance["variance"], 1e-8)
    _close(w.loglik, u.loglik, 1e-10)
    # ... and lme4's ML fit (tests/reference/multilevel.R)
    ref = {None: ML["models"]["sleep_ri_ml"], "~ Days": ML["models"]["sleep_rs_ml"]}.get(
        random, UC["models"]["sleep_dbar_ml"]
    )
    _close(w.fixed["estimate"], ref["estimate"], 1e-6)
    _close(w.loglik, ref["loglik"], 1e-7)
    _close(w.variance["variance"], ref["varcomp"]["vcov"], 1e-5)


def test_unit_weights_match_lme4_on_a_school_predictor_model():
    d = SCHOOL.assign(w1=1.0)
    w = multilevel(d, "y ~ belong + urban + climate", cluster="school", weights=UNIT)
    ref = ML["models"]["school_ml"]
    _close(w.fixed["estimate"], ref["estimate"], 1e-6)
    _close(w.loglik, ref["loglik"], 1e-8)
    _close(w.variance["variance"], ref["varcomp"]["vcov"], 1e-5)
    assert w.n_excluded == 2  # the two incomplete rows, counted as unweighted


# ----------------------------------------------------------------------------- hand algebra


def _hand(d, formula_cols, a, w_school, beta, theta_lam, sigma2, Zcols):
    """Pseudo-log-likelihood and WeMix's sandwich from dense per-school matrices."""
    codes, _ = pd.factorize(d["school"], sort=True)
    X = np.column_stack([np.ones(len(d))] + [d[c].to_numpy(float) for c in formula_cols])
    Z = np.column_stack([np.ones(len(d))] + [d[c].to_numpy(float) for c in Zcols])
    y = d["y"].to_numpy(float)
    ll, G, info = 0.0, [], 0.0
    for j in range(codes.max() + 1):
        i = codes == j
        A = np.diag(a[i])
        r = y[i] - X[i] @ beta
        W = np.eye(Z.shape[1]) + theta_lam.T @ Z[i].T @ A @ Z[i] @ theta_lam
        t = theta_lam.T @ Z[i].T @ A @ r
        ll += w_school[j] * (
            -a[i].sum() / 2 * np.log(2 * np.pi * sigma2)
            - 0.5 * np.linalg.slogdet(W)[1]
            - (r @ A @ r - t @ np.linalg.solve(W, t)) / (2 * sigma2)
        )
        Vi = A - A @ Z[i] @ theta_lam @ np.linalg.solve(W, theta_lam.T @ Z[i].T @ A)
        G.append(w_school[j] * X[i].T @ Vi @ r)
        info = info + w_school[j] * X[i].T @ Vi @ X[i]
    G = np.array(G)
    Ainv = np.linalg.inv(info)
    J = len(G)
    return ll, J / (J - 1) * Ainv @ G.T @ G @ Ainv


@pytest.mark.parametrize("random", [None, "~ x"])
@pytest.mark.parametrize("scaling", ["none", "cluster_size", "effective_size"])
def test_pseudo_likelihood_and_sandwich_match_dense_algebra(random, scaling):
    fit = multilevel(
        FIX,
        "y ~ x + female",
        cluster="school",
        random=random,
        weights={"pupil": "w_pupil", "school": "w_school"},
        pupil_weight="total",
        scaling=scaling,
    )
    codes, _ = pd.factorize(FIX["school"], sort=True)
    w_school = FIX.groupby("school")["w_school"].first().to_numpy()
    a = _scale_pupil_weights(FIX["w_pupil"].to_numpy() / w_school[codes], codes, len(w_school), scaling)
    sigma2 = float(fit.variance.loc["Residual", "variance"])
    q = 1 if random is None else 2
    G = np.zeros((q, q))
    G[0, 0] = fit.variance["variance"].iloc[0]
    if q == 2:
        G[1, 1] = fit.variance["variance"].iloc[1]
        G[0, 1] = G[1, 0] = fit.variance["variance"].iloc[2]
    lam = np.linalg.cholesky(G / sigma2)
    ll, V = _hand(
        FIX,
        ["x", "female"],
        a,
        w_school,
        fit.fixed["estimate"].to_numpy(),
        lam,
        sigma2,
        [] if random is None else ["x"],
    )
    _close(fit.loglik, ll, 1e-12)
    _close(fit.fixed["se"], np.sqrt(np.diag(V)), 1e-9)


def test_scaling_follows_the_wemix_vignette_formulas():
    codes = np.array([0, 0, 0, 1, 1])
    w = np.array([1.0, 2.0, 3.0, 4.0, 4.0])
    _close(_scale_pupil_weights(w, codes, 2, "cluster_size"), [0.5, 1.0, 1.5, 1.0, 1.0], 1e-15)
    _close(_scale_pupil_weights(w, codes, 2, "effective_size"), w * np.r_[[6 / 14] * 3, [8 / 32] * 2], 1e-15)
    _close(_scale_pupil_weights(w, codes, 2, "none"), w, 0)


# ----------------------------------------------------------------------------- R's WeMix


@pytest.mark.parametrize("scaling", ["none", "cluster_size", "effective_size"])
@pytest.mark.parametrize("kind", ["ri", "rs", "dg"])
def test_matches_wemix(kind, scaling):
    ref = WM["models"][f"fixture_{kind}_{scaling}"]
    fit = multilevel(
        FIX,
        "y ~ x + female",
        cluster="school",
        random={"ri": None, "rs": "~ x", "dg": "(1 | school) + (0 + x | school)"}[kind],
        weights={"pupil": "w_pupil", "school": "w_school"},
        pupil_weight="total",
        scaling=scaling,
    )
    _close(fit.fixed["estimate"], ref["estimate"], 1e-6)
    _close(fit.fixed["se"], ref["se"], 1e-6)
    _close(fit.loglik, ref["loglik"], 1e-6)
    var = fit.variance["variance"].to_numpy()
    wm = ref["variance"]
    if kind == "ri":
        _close(var, [wm["school.(Intercept)"], wm["Residual"]], 1e-6)
    elif kind == "dg":  # uncorrelated: no covariance row
        assert list(fit.variance.index) == ["school: (Intercept)", "school: x", "Residual"]
        _close(var, [wm["school.(Intercept)"], wm["school.x"], wm["Residual"]], 1e-6)
    else:
        _close(var[[0, 1, 3]], [wm["school.(Intercept)"], wm["school.x"], wm["Residual"]], 1e-6)


def _wemix_variance_se(ref: dict, fit) -> tuple[list, list]:
    """(ours, WeMix's) sandwich SEs of the variance components, matched by term."""
    vc = ref["varcomp"]
    table = {}
    for grp, a, b, se in zip(vc["grp"], vc["var1"], vc["var2"], vc["se"]):
        name = "Residual" if grp == "Residual" else (f"{grp}: {a}" if not b else f"{grp}: cov({a}, {b})")
        table[name] = se
    assert set(table) == set(fit.variance.index), (table, list(fit.variance.index))
    return list(fit.variance["se"]), [table[k] for k in fit.variance.index]


@pytest.mark.parametrize("scaling", ["none", "cluster_size", "effective_size"])
@pytest.mark.parametrize("kind", ["ri", "rs", "dg"])
def test_variance_sandwich_matches_wemix(kind, scaling):
    ref = WM["models"][f"fixture_{kind}_{scaling}"]
    fit = multilevel(
        FIX,
        "y ~ x + female",
        cluster="school",
        random={"ri": None, "rs": "~ x", "dg": "(1 | school) + (0 + x | school)"}[kind],
        weights={"pupil": "w_pupil", "school": "w_school"},
        pupil_weight="total",
        scaling=scaling,
    )
    ours, theirs = _wemix_variance_se(ref, fit)
    # relative: WeMix's Hessian is a numerical second difference (step 1.2e-4), ours Richardson's
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=0)


def test_conditional_and_total_pupil_weights_give_the_same_fit():
    d = FIX.assign(w_cond=FIX["w_pupil"] / FIX["w_school"])
    a = multilevel(
        d,
        "y ~ x",
        cluster="school",
        weights={"pupil": "w_pupil", "school": "w_school"},
        pupil_weight="total",
        scaling="none",
    )
    b = multilevel(d, "y ~ x", cluster="school", weights={"pupil": "w_cond", "school": "w_school"}, scaling="none")
    _close(a.fixed["estimate"], b.fixed["estimate"], 1e-10)
    _close(a.loglik, b.loglik, 1e-12)


# ----------------------------------------------------------------------------- published: WeMix vignette, Table 1


@pytest.mark.skipif(not PISA2012.exists(), reason="the PISA 2012 USA file is kept beside the project")
def test_wemix_vignette_table_1():
    d = pd.read_csv(PISA2012, dtype={"schoolid": str})
    fit = multilevel(
        d,
        "pv1math ~ C(st29q03) + C(sc14q02) + C(st04q01) + escs",
        cluster="schoolid",
        weights={"pupil": "w_fstuwt", "school": "w_fschwt"},
        pupil_weight="total",
        scaling="none",
    )
    # "Introduction to Mixed Effects Models With WeMix", Table 1 (WeMix column), as published
    assert round(fit.fixed.loc["escs", "estimate"], 3) == 25.568
    assert round(fit.fixed.loc["escs", "se"], 4) == 2.1175
    assert round(fit.variance.loc["schoolid: (Intercept)", "variance"], 2) == 1413.81
    assert round(fit.variance.loc["Residual", "variance"], 2) == 5264.80
    # the variances' sandwich standard errors, as published
    assert round(fit.variance.loc["schoolid: (Intercept)", "se"], 2) == 327.50
    assert round(fit.variance.loc["Residual", "se"], 2) == 152.49
    assert round(fit.loglik) == -12789992
    assert fit.n == 3136 and fit.n_clusters == {"schoolid": 157}
    if "pisa_ri" in WM["models"]:  # and R's WeMix on the same file, to 1e-6
        ref = WM["models"]["pisa_ri"]
        assert hashlib.md5(PISA2012.read_bytes()).hexdigest() == WM["md5"][PISA2012.name]
        est = fit.fixed["estimate"].to_numpy()
        order = [list(ref["terms"]).index(t) for t in ref["terms"]]
        _close(est[-1], ref["estimate"][-1], 1e-6)
        _close(fit.fixed["se"].iloc[-1], ref["se"][-1], 1e-6)
        _close(fit.loglik, ref["loglik"], 1e-9)
        _close(fit.variance["variance"], [ref["variance"]["schoolid.(Intercept)"], ref["variance"]["Residual"]], 1e-6)
        assert order


@pytest.mark.skipif(not PISA2012.exists(), reason="the PISA 2012 USA file is kept beside the project")
@pytest.mark.parametrize("random", ["(1 | schoolid) + (0 + escs | schoolid)", "(1 + escs || schoolid)"])
def test_wemix_vignette_table_2(random):
    """A random intercept and an uncorrelated random slope of escs (their covariance fixed at 0)."""
    d = pd.read_csv(PISA2012, dtype={"schoolid": str})
    # the vignette's reference levels: "Strongly agree", "Not at all", "Female"
    formula = (
        "pv1math ~ C(st29q03, Treatment('Strongly agree')) + C(sc14q02, Treatment('Not at all')) + C(st04q01) + escs"
    )
    fit = multilevel(
        d,
        formula,
        cluster="schoolid",
        random=random,
        weights={"pupil": "w_fstuwt", "school": "w_fschwt"},
        pupil_weight="total",
        scaling="none",
    )
    # "Introduction to Mixed Effects Models With WeMix", Table 2 (WeMix column), as published
    published = {  # term: (estimate, SE)
        "(Intercept)": (483.89, 7.4055),
        "Agree": (-10.628, 5.4905),
        "Strongly disagree": (-38.708, 6.7682),
        "Disagree": (-17.303, 5.3723),
        "A lot": (-39.941, 7.2393),
        "To some extent": (-12.592, 12.669),
        "Very little": (-20.064, 15.583),
        "Male": (10.294, 3.0285),
        "escs": (28.016, 2.5631),
    }

    def row(label):
        hits = [t for t in fit.fixed.index if t == label or t.endswith(f"[T.{label}]")]
        assert len(hits) == 1, (label, list(fit.fixed.index))
        return fit.fixed.loc[hits[0]]

    def printed(value, text):  # rounded to the digits the table prints
        decimals = len(text.split(".")[1]) if "." in text else 0
        return round(float(value), decimals) == float(text)

    for label, (est, se) in published.items():
        r = row(label)
        assert printed(r["estimate"], f"{est}") and printed(r["se"], f"{se}"), (label, r["estimate"], r["se"])
    v = fit.variance["variance"]
    assert list(v.index) == ["schoolid: (Intercept)", "schoolid: escs", "Residual"]
    assert printed(v["schoolid: (Intercept)"], "1354.71")
    assert printed(v["schoolid: escs"], "370.33")
    assert printed(v["Residual"], "4967.36")
    assert printed(fit.loglik, "-12741522.7")
    se = fit.variance["se"]  # the variances' sandwich standard errors
    assert printed(se["schoolid: (Intercept)"], "287.89")
    assert printed(se["schoolid: escs"], "67.99")
    assert printed(se["Residual"], "137.70")
    assert fit.n == 3136 and fit.n_clusters == {"schoolid": 157}
    # and R's WeMix on the same file (tests/reference/wemix.R), to 1e-6
    ref = WM["models"]["pisa_dg"]
    assert hashlib.md5(PISA2012.read_bytes()).hexdigest() == WM["md5"][PISA2012.name]
    _close(fit.fixed.loc["escs", ["estimate", "se"]], [ref["estimate"][-1], ref["se"][-1]], 1e-6)
    _close(row("Male")[["estimate", "se"]], [ref["estimate"][-2], ref["se"][-2]], 1e-6)
    _close(fit.loglik, ref["loglik"], 1e-9)
    wm = ref["variance"]
    _close(v, [wm["schoolid.(Intercept)"], wm["schoolid.escs"], wm["Residual"]], 1e-6)
    np.testing.assert_allclose(*_wemix_variance_se(ref, fit), rtol=1e-6, atol=0)


# ----------------------------------------------------------------------------- bad input


def test_bad_weights_are_refused_with_column_row_and_value():
    d = FIX.copy()
    d.loc[4, "w_pupil"] = 0.0
    with pytest.raises(DataError, match=r"'w_pupil'.*row 5.*0\.0"):
        multilevel(d, "y ~ x", cluster="school", weights={"pupil": "w_pupil", "school": "w_school"})
    d = FIX.copy()
    d.loc[0, "w_school"] = d.loc[0, "w_school"] + 1
    with pytest.raises(DataError, match="same for every pupil of a school.*'S01'"):
        multilevel(d, "y ~ x", cluster="school", weights={"pupil": "w_pupil", "school": "w_school"})
    with pytest.raises(DataError, match="`weights` takes"):
        multilevel(FIX, "y ~ x", cluster="school", weights={"pupil": "w_pupil"})
    with pytest.raises(DataError, match="`scaling`"):
        multilevel(FIX, "y ~ x", cluster="school", weights={"pupil": "w_pupil", "school": "w_school"}, scaling="size")
    with pytest.raises(ModelError, match="no REML"):
        multilevel(FIX, "y ~ x", cluster="school", weights={"pupil": "w_pupil", "school": "w_school"}, reml=True)


def test_missing_weight_rows_are_excluded_and_counted():
    d = FIX.copy()
    d.loc[[2, 7], "w_pupil"] = np.nan
    fit = multilevel(
        d, "y ~ x", cluster="school", weights={"pupil": "w_pupil", "school": "w_school"}, pupil_weight="total"
    )
    assert fit.n == len(d) - 2 and fit.n_excluded == 2


def test_likelihood_ratio_test_is_refused_for_pseudo_likelihoods():
    w = {"pupil": "w_pupil", "school": "w_school"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = multilevel(FIX, "y ~ x", cluster="school", weights=w, pupil_weight="total")
        b = multilevel(FIX, "y ~ x + female", cluster="school", weights=w, pupil_weight="total")
    with pytest.raises(ModelError, match="pseudo-likelihood"):
        compare(a, b)
    assert np.isnan(b.aic) and "sandwich" in " ".join(b.notes())
