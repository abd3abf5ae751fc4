"""Bifactor models and omega hierarchical, against lavaan (tests/reference/bifactor.R) and known truth."""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from belonging_lib import ModelError
from belonging_lib._errors import BelongingWarning
from belonging_lib.reliability import omega, reliability
from belonging_lib.structure import bifactor, bifactor_omega

ROOT = Path(__file__).resolve().parents[1]
REF = json.loads((ROOT / "tests" / "reference" / "bifactor.json").read_text(encoding="utf-8"))
HS_FILE = ROOT / "tests" / "reference" / "data" / "holzinger_swineford_1939.csv"
SURVEY_FILE = ROOT / "data" / "sample" / "survey.csv"
HS_ITEMS = [f"x{i}" for i in range(1, 10)]
PSSM = [f"pssm_{i:02d}" for i in range(1, 19)]
NEGATIVE = ["pssm_03", "pssm_06", "pssm_09", "pssm_12", "pssm_16"]


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def hs():
    assert _md5(HS_FILE) == REF["inputs"]["holzinger_swineford_1939.csv"], "HS fixture changed: rerun bifactor.R"
    return pd.read_csv(HS_FILE)


@pytest.fixture(scope="module")
def survey():
    assert _md5(SURVEY_FILE) == REF["inputs"]["survey.csv"], "sample changed: rerun bifactor.R"
    return pd.read_csv(SURVEY_FILE)


def _compare(res, ref):
    # lavaan's optimiser stops near 1e-7 in its objective; omega and the fit agree to 1e-6
    np.testing.assert_allclose(res.omega_h, ref["omega_h"], rtol=1e-6, atol=0)
    np.testing.assert_allclose(res.omega_total, ref["omega_total"], rtol=1e-6, atol=0)
    np.testing.assert_allclose(res.ecv, ref["ecv"], rtol=1e-6, atol=0)
    spec = res.specific.set_index("factor")
    for name, want in ref["share"].items():
        np.testing.assert_allclose(spec.loc[name, "share"], want, rtol=1e-5, atol=0, err_msg=name)
        np.testing.assert_allclose(spec.loc[name, "omega_hs"], ref["omega_hs"][name], rtol=1e-5, atol=0)
    np.testing.assert_allclose(res.fit.fit["chisq"], ref["fit"]["chisq"], rtol=1e-6, atol=0)
    assert int(res.fit.fit["df"]) == ref["fit"]["df"]
    np.testing.assert_allclose(res.fit.fit["cfi"], ref["fit"]["cfi"], rtol=0, atol=1e-6)
    assert res.n == ref["nobs"]
    ld = res.fit.loadings.set_index(["factor", "item"])["estimate"]
    want = pd.DataFrame(ref["loadings"]).set_index(["factor", "item"])["estimate"]
    # loadings of the badly fitting HS model (CFI .83) sit on a flat likelihood, where lavaan's optimiser
    # (stopping at ~1e-7 in F) leaves them within 2e-5 relative of the optimum; chi-square agrees to 1e-6
    np.testing.assert_allclose(ld.loc[want.index].to_numpy(), want.to_numpy(), rtol=5e-5, atol=0)


@pytest.mark.parametrize(
    "case, specific",
    [
        ("hs_speed", {"speed": ["x7", "x8", "x9"]}),
        ("hs_two", {"textual": ["x4", "x5", "x6"], "speed": ["x7", "x8", "x9"]}),
    ],
)
def test_bifactor_matches_lavaan_on_holzinger_swineford(hs, case, specific):
    _compare(bifactor(hs, items=HS_ITEMS, specific=specific), REF[case])


def test_bifactor_matches_lavaan_on_the_sample(survey):
    res = bifactor(survey, items=PSSM, specific={"negative": NEGATIVE}, reverse=NEGATIVE, response_range=(1, 5))
    _compare(res, REF["pssm"])
    assert res.n_excluded == len(survey) - res.n


def test_comparison_can_fail(hs):
    res = bifactor(hs, items=HS_ITEMS, specific={"speed": ["x7", "x8", "x9"]})
    bad = json.loads(json.dumps(REF["hs_speed"]))
    bad["omega_h"] += 1e-4
    with pytest.raises(AssertionError):
        _compare(res, bad)


def test_bifactor_recovers_known_loadings():
    rng = np.random.default_rng(20261207)
    n = 20000
    g = np.array([0.7, 0.6, 0.65, 0.55, 0.7, 0.6, 0.5, 0.65])
    s = np.array([0, 0, 0, 0, 0, 0.4, 0.35, 0.45])
    theta = 1 - g**2 - s**2
    x = rng.normal(size=(n, 1)) * g + rng.normal(size=(n, 1)) * s + rng.normal(size=(n, 8)) * np.sqrt(theta)
    cols = [f"q{i}" for i in range(8)]
    res = bifactor(pd.DataFrame(x, columns=cols), items=cols, specific={"neg": cols[5:]})
    truth = bifactor_omega(g, {"neg": s}, theta)
    assert abs(res.omega_h - truth.omega_h) < 0.01
    assert abs(res.specific.loc[0, "share"] - truth.share["neg"]) < 0.01
    assert abs(res.omega_total - truth.omega_total) < 0.01


def test_bifactor_omega_formula_by_hand():
    out = bifactor_omega([0.6, 0.6, 0.6], {"s": [0.3, 0.3, 0.3]}, [0.55, 0.55, 0.55])
    total = 1.8**2 + 0.9**2 + 1.65
    assert out.omega_h == pytest.approx(1.8**2 / total, rel=1e-12)
    assert out.share["s"] == pytest.approx(0.81 / total, rel=1e-12)
    assert out.omega_total == pytest.approx(1 - 1.65 / total, rel=1e-12)
    with pytest.raises(ModelError, match="one value per item"):
        bifactor_omega([0.6, 0.6], {"s": [0.3, 0.3, 0.3]}, [0.5, 0.5])


def test_bifactor_refuses_models_that_are_not_identified(hs):
    with pytest.raises(ModelError, match="needs at least 3 to be identified"):
        bifactor(hs, items=HS_ITEMS, specific={"speed": ["x8", "x9"]})
    with pytest.raises(ModelError, match="not among `items`"):
        bifactor(hs, items=HS_ITEMS[:6], specific={"speed": ["x7", "x8", "x9"]})
    with pytest.raises(ModelError, match="in two specific factors"):
        bifactor(hs, items=HS_ITEMS, specific={"a": ["x1", "x2", "x3"], "b": ["x3", "x4", "x5"]})
    with pytest.raises(ModelError, match="must map"):
        bifactor(hs, items=HS_ITEMS, specific=["x7", "x8", "x9"])


def test_schmid_leiman_with_two_group_factors_warns(hs):
    with pytest.warns(BelongingWarning, match="not identified"):
        reliability(hs[HS_ITEMS], n_factors=2)
    with pytest.warns(BelongingWarning, match="not identified"):
        omega(hs[HS_ITEMS], n_factors=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", BelongingWarning)
        reliability(hs[HS_ITEMS], n_factors=3)


def test_orthogonal_cfa_fixes_factor_covariances_at_zero(hs):
    from belonging_lib.structure import cfa

    res = cfa(hs, "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6", orthogonal=True)
    cov = res.parameters[res.parameters["kind"] == "factor covariance"]
    assert len(cov) == 1 and cov["estimate"].iloc[0] == 0 and cov["free"].iloc[0] == 0
    assert res.factor_correlations.loc["visual", "textual"] == 0
    free = cfa(hs, "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6")
    assert int(res.fit["df"]) == int(free.fit["df"]) + 1
