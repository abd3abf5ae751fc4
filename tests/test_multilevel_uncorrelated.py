"""Uncorrelated random effects (issue 28): lme4's ``(1 | g) + (0 + x | g)`` and ``(x || g)``, whose
intercept-slope covariance is fixed at 0, against lme4 and lmerTest (tests/reference/uncorrelated.R)."""

from __future__ import annotations

import hashlib
import json
import pathlib

import numpy as np
import pandas as pd
import pytest

from belonging_lib._errors import ModelError
from belonging_lib.models import compare, multilevel

REF = pathlib.Path(__file__).parent / "reference"
UC = json.loads((REF / "uncorrelated.json").read_text())


def _load(name: str, **kw) -> pd.DataFrame:
    path = REF / "data" / name
    assert hashlib.md5(path.read_bytes()).hexdigest() == UC["md5"][name], f"{name} changed since its R script ran"
    return pd.read_csv(path, **kw)


SLEEP = _load("sleepstudy.csv", dtype={"Subject": str})
HSB = _load("hsb.csv", dtype={"School": str})
TERMS = _load("multilevel_random_terms.csv")

CASES = {
    "sleep_diag": (SLEEP, "Reaction ~ Days", "Subject", "(1 | Subject) + (0 + Days | Subject)"),
    "sleep_dbar": (SLEEP, "Reaction ~ Days", "Subject", "(Days || Subject)"),
    "hsb_dbar": (HSB, "MathAch ~ SES_gc * MEANSES + SES_gc * catholic", "School", "(SES_gc || School)"),
    "terms_blocks": (TERMS, "y ~ ses * fsm + I(ses**2)", "school", "(1 + I(ses**2) | school) + (0 + ses:fsm | school)"),
}


def _lme4_name(name: str) -> str:
    return name.replace(" ** ", "^").replace("**", "^")


def _r_components(ref: dict, m) -> tuple[list, list]:
    """(ours, lme4's) variance components, matched by the names of their terms."""
    vc = ref["varcomp"]
    table = {(g, a, b): v for g, a, b, v in zip(vc["grp"], vc["var1"], vc["var2"], vc["vcov"])}
    ours, theirs = [], []
    for row in m.variance.itertuples():
        if row.cluster == "Residual":
            key = ("Residual", "", "")
        elif row.term.startswith("cov("):
            a, b = row.term[4:-1].split(", ")
            key = next(k for k in table if k[1:] == (_lme4_name(a), _lme4_name(b)))
        else:
            key = next(k for k in table if k[1:] == (_lme4_name(row.term), ""))
        ours.append(row.variance)
        theirs.append(table.pop(key))
    assert not table, f"lme4 components with no counterpart: {table}"
    return ours, theirs


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("case", list(CASES))
def test_matches_lme4_lmertest(case, reml):
    data, formula, cluster, random = CASES[case]
    ref = UC["models"][f"{case}_{'reml' if reml else 'ml'}"]
    m = multilevel(data, formula, cluster=cluster, random=random, reml=reml)
    fixed = m.fixed.rename(index=_lme4_name)
    assert sorted(fixed.index) == sorted(ref["terms"])
    fixed = fixed.loc[ref["terms"]]  # patsy and R order the interactions differently
    np.testing.assert_allclose(fixed["estimate"], ref["estimate"], rtol=1e-6, atol=0)
    np.testing.assert_allclose(fixed["se"], ref["se"], rtol=1e-6, atol=0)
    np.testing.assert_allclose(fixed["df"], ref["df"], rtol=1e-4, atol=0)
    ours, theirs = _r_components(ref, m)
    # HSB's slope variance is tiny next to the intercept's: its likelihood is flat to the last digit
    # over 5e-6 of it, where lme4's derivative-free optimiser stops (its score there is 1e-4; ours
    # is 1e-11, and the log-likelihood is no lower than lme4's, checked below)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5 if case == "hsb_dbar" else 1e-6, atol=1e-10)
    np.testing.assert_allclose(m.loglik, ref["loglik"], rtol=1e-9, atol=0)
    assert m.loglik >= ref["loglik"] - 1e-12 * abs(ref["loglik"])
    np.testing.assert_allclose([m.aic, m.bic], [ref["aic"], ref["bic"]], rtol=1e-9, atol=0)
    assert m.n == ref["nobs"] and not m.boundary and m.converged


def test_the_two_spellings_and_the_unstructured_model():
    a = multilevel(SLEEP, "Reaction ~ Days", cluster="Subject", random="(1 | Subject) + (0 + Days | Subject)")
    b = multilevel(SLEEP, "Reaction ~ Days", cluster="Subject", random="(1 + Days || Subject)")
    pd.testing.assert_frame_equal(a.fixed, b.fixed)
    pd.testing.assert_frame_equal(a.variance, b.variance)
    # no covariance row where the model fixes it at 0
    assert list(a.variance.index) == ["Subject: (Intercept)", "Subject: Days", "Residual"]
    # one bar is lme4's unstructured covariance, the same as random="~ Days"
    c = multilevel(SLEEP, "Reaction ~ Days", cluster="Subject", random="(1 + Days | Subject)")
    d = multilevel(SLEEP, "Reaction ~ Days", cluster="Subject", random="~ Days")
    pd.testing.assert_frame_equal(c.variance, d.variance)
    assert "Subject: cov((Intercept), Days)" in c.variance.index
    # the diagonal model is nested in the unstructured one: one parameter fewer
    lrt = compare(a, c)
    assert lrt.df == 1


def test_the_icc_finds_the_intercept_wherever_it_stands():
    a = multilevel(SLEEP, "Reaction ~ Days", cluster="Subject", random="(0 + Days | Subject) + (1 | Subject)")
    b = multilevel(SLEEP, "Reaction ~ Days", cluster="Subject", random="(Days || Subject)")
    np.testing.assert_allclose(a.loglik, b.loglik, rtol=1e-12)
    np.testing.assert_allclose(a.icc, b.icc, rtol=1e-8)
    assert 0 < a.icc < 1


@pytest.mark.parametrize(
    ("random", "message"),
    [
        ("(Days || school)", r"grouped by 'school'.*`cluster` is 'Subject'"),
        ("(1 | Subject) + Days", r"'Days' is not of the form"),
        ("( | Subject)", r"no terms before the bar"),
        ("(1 | Subject) + (1 | Subject)", r"linearly dependent"),
    ],
)
def test_bad_bar_terms_are_refused(random, message):
    with pytest.raises(ModelError, match=message):
        multilevel(SLEEP, "Reaction ~ Days", cluster="Subject", random=random)


def test_another_outcome_keeps_the_blocks_of_a_weighted_model():
    """``with_outcome`` (the survey fit's next plausible value) keeps the covariance fixed at 0."""
    from belonging_lib.models import _lmm

    rng = np.random.default_rng(3)
    codes = np.repeat(np.arange(30), 12)
    x = rng.normal(size=len(codes))
    X = np.column_stack([np.ones(len(codes)), x])
    Z = X.copy()
    y1, y2 = (x + rng.normal(size=30)[codes] + rng.normal(size=len(codes)) for _ in range(2))
    a, cw = rng.uniform(0.5, 1.5, len(codes)), rng.uniform(1, 3, 30)

    def build(y):
        return _lmm.WeightedTwoLevel.from_weighted_data(y, X, Z, codes, 30, a, cw).restrict_to_blocks([0, 1])

    shared = build(y1).with_outcome(y2)
    assert shared.n_theta == 2 and list(shared.blocks) == [0, 1]
    got, want = (_lmm.fit(m, reml=False, satterthwaite_df=False) for m in (shared, build(y2)))
    np.testing.assert_array_equal(got.theta, want.theta)
    np.testing.assert_array_equal(got.beta, want.beta)
