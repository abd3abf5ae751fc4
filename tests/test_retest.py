"""Test-retest reliability (reliability.test_retest) against psych::ICC and lme4 (tests/reference/retest.R),
pingouin, and a simulation with known reliability."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from belonging_lib import ColumnError, DataError
from belonging_lib.reliability import RetestResult
from belonging_lib.reliability import test_retest as retest
from belonging_lib.transitions import reliable_change

ROOT = Path(__file__).resolve().parents[1]
REF = json.loads((ROOT / "tests" / "reference" / "retest.json").read_text(encoding="utf-8"))
PANEL_FILE = ROOT / "data" / "sample" / "transition.csv"


@pytest.fixture(scope="module")
def panel():
    assert hashlib.md5(PANEL_FILE.read_bytes()).hexdigest() == REF["inputs"]["transition.csv"], (
        "the sample's panel changed: rerun tests/reference/retest.R"
    )
    return pd.read_csv(PANEL_FILE, dtype={"pupil_id": str})


def _compare(res: RetestResult, ref: dict):
    i = ref["type"].index("ICC2")
    # closed-form ANOVA estimates: agreement to rounding
    np.testing.assert_allclose(res.estimate, ref["ICC"][i], rtol=1e-10, atol=0)
    np.testing.assert_allclose(res.icc_consistency, ref["ICC"][ref["type"].index("ICC3")], rtol=1e-10, atol=0)
    np.testing.assert_allclose(res.statistic, ref["F"][i], rtol=1e-10, atol=0)
    np.testing.assert_allclose([res.ci_low, res.ci_high], [ref["lower"][i], ref["upper"][i]], rtol=1e-8, atol=0)
    assert res.n == ref["n"] and res.n_excluded == ref["n_only_one"]
    # lme4's REML variance components equal the ANOVA ones in a balanced design (optimiser precision)
    np.testing.assert_allclose(res.estimate, ref["lmer_icc_agreement"], rtol=0, atol=1e-4)


@pytest.mark.parametrize(
    "case, before, after, level", [("waves_2_3", 2, 3, 0.95), ("waves_1_2", 1, 2, 0.95), ("waves_1_3_90", 1, 3, 0.90)]
)
def test_matches_psych_and_lme4(panel, case, before, after, level):
    res = retest(panel, outcome="belonging", id="pupil_id", wave="wave", before=before, after=after, ci_level=level)
    _compare(res, REF[case])
    assert res.ci_level == level


def test_comparison_can_fail(panel):
    res = retest(panel, outcome="belonging", id="pupil_id", wave="wave", before=2, after=3)
    bad = json.loads(json.dumps(REF["waves_2_3"]))
    bad["upper"][bad["type"].index("ICC2")] += 1e-6
    with pytest.raises(AssertionError):
        _compare(res, bad)


def test_matches_pingouin(panel):
    pg = pytest.importorskip("pingouin")
    d = panel[panel["wave"].isin([1, 2])]
    keep = d.groupby("pupil_id")["belonging"].count()
    d = d[d["pupil_id"].isin(keep.index[keep == 2])]
    table = pg.intraclass_corr(data=d, targets="pupil_id", raters="wave", ratings="belonging").set_index("Type")
    res = retest(panel, outcome="belonging", id="pupil_id", wave="wave", before=1, after=2)
    np.testing.assert_allclose(res.estimate, table.loc["ICC(A,1)", "ICC"], rtol=1e-10, atol=0)
    np.testing.assert_allclose(res.icc_consistency, table.loc["ICC(C,1)", "ICC"], rtol=1e-10, atol=0)


def _simulated(n, reliability, shift, seed):
    rng = np.random.default_rng(seed)
    true = rng.normal(size=n)
    err_sd = np.sqrt((1 - reliability) / reliability)
    scores = np.concatenate([true + rng.normal(scale=err_sd, size=n), true + shift + rng.normal(scale=err_sd, size=n)])
    return pd.DataFrame(
        {"pupil": np.tile([f"p{i}" for i in range(n)], 2), "wave": np.repeat(["a", "b"], n), "score": scores}
    )


def test_recovers_a_known_reliability_and_agreement_counts_a_shift():
    same = retest(_simulated(20000, 0.8, 0.0, 1), outcome="score", id="pupil", wave="wave", before="a", after="b")
    assert abs(same.estimate - 0.8) < 0.01 and same.ci_low < 0.8 < same.ci_high
    shifted = retest(_simulated(20000, 0.8, 0.5, 1), outcome="score", id="pupil", wave="wave", before="a", after="b")
    assert shifted.estimate < shifted.icc_consistency  # agreement counts the shift, consistency not
    assert abs(shifted.icc_consistency - 0.8) < 0.01
    assert abs(shifted.mean_change - 0.5) < 0.02


def test_reliable_change_from_retest_reliability_keeps_its_false_alarm_rate():
    # no pupil really changes: with the test-retest reliability about 2.5% show a "reliable decline";
    # with a larger reliability (as alpha from one sitting can be) far more do
    data = _simulated(40000, 0.7, 0.0, 2)
    res = retest(data, outcome="score", id="pupil", wave="wave", before="a", after="b")
    wide = data.pivot(index="pupil", columns="wave", values="score")
    rate = (reliable_change(wide["a"], wide["b"], reliability=res.estimate)["category"] == "reliable decline").mean()
    assert abs(rate - 0.025) < 0.004
    too_high = (reliable_change(wide["a"], wide["b"], reliability=0.9)["category"] == "reliable decline").mean()
    assert too_high > 2 * rate


def test_bad_input_is_named(panel):
    with pytest.raises(ColumnError):
        retest(panel, outcome="nope", id="pupil_id", wave="wave", before=1, after=2)
    with pytest.raises(DataError, match="no rows with the value 7"):
        retest(panel, outcome="belonging", id="pupil_id", wave="wave", before=1, after=7)
    with pytest.raises(DataError, match="two different waves"):
        retest(panel, outcome="belonging", id="pupil_id", wave="wave", before=1, after=1)
    twice = pd.concat([panel, panel.iloc[[0]]], ignore_index=True)
    with pytest.raises(DataError, match=r"more than one row at wave = 1 \(rows 1, \d+\)"):
        retest(twice, outcome="belonging", id="pupil_id", wave="wave", before=1, after=2)
    tiny = _simulated(2, 0.8, 0, 3)
    with pytest.raises(DataError, match="at least 3 pupils"):
        retest(tiny, outcome="score", id="pupil", wave="wave", before="a", after="b")
    flat = pd.DataFrame({"pupil": list("abcabc"), "wave": [1] * 3 + [2] * 3, "score": [1.0, 2, 3, 2, 3, 4]})
    with pytest.raises(DataError, match="no measurement error"):
        retest(flat, outcome="score", id="pupil", wave="wave", before=1, after=2)
