"""Attrition weights, recovery on the balanced panel, the growth model with schools and the measurement-error
simulation, against R (tests/reference/recovery.R), formulas and known truth."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from belonging_lib import DataError, ModelError
from belonging_lib import transitions as T

ROOT = Path(__file__).resolve().parents[1]
REF = json.loads((ROOT / "tests" / "reference" / "recovery.json").read_text(encoding="utf-8"))
PANEL_FILE = ROOT / "data" / "sample" / "transition.csv"


@pytest.fixture(scope="module")
def panel():
    assert hashlib.md5(PANEL_FILE.read_bytes()).hexdigest() == REF["inputs"]["transition.csv"], (
        "the sample's panel changed: rerun tests/reference/recovery.R"
    )
    return pd.read_csv(PANEL_FILE, dtype={"pupil_id": str})


@pytest.fixture(scope="module")
def weights(panel):
    return T.attrition_weights(
        panel, id="pupil_id", wave="wave", predictors=["belonging", "fsm", "send"], outcome="belonging"
    )


def test_attrition_weights_match_glm(weights):
    want = pd.Series(REF["weights"]["weight"], index=REF["weights"]["pupil_id"])
    got = weights.dropna()
    assert sorted(got.index) == sorted(want.index)
    np.testing.assert_allclose(got.loc[want.index].to_numpy(), want.to_numpy(), rtol=1e-6, atol=0)
    assert weights.isna().sum() == (weights.index.size - want.size)


@pytest.mark.parametrize("weighted", [False, True])
def test_recovery_matches_r(panel, weights, weighted):
    res = T.recovery(
        panel,
        outcome="belonging",
        id="pupil_id",
        wave="wave",
        before=1,
        dip=2,
        after=3,
        weight=weights if weighted else None,
        cluster="secondary_id",
        n_boot=200,
    )
    ref = REF["weighted" if weighted else "balanced"]
    # the weights come from two iterative logistic fits (ours and glm's), which agree to about 1e-9
    np.testing.assert_allclose(res.estimate, ref["recovery"], rtol=1e-8, atol=0)
    np.testing.assert_allclose(res.means["mean"].to_numpy(), ref["means"], rtol=1e-8, atol=0)
    assert res.n == REF["n_balanced"] and res.weighted is weighted
    assert res.ci_low < res.estimate < res.ci_high
    bad = ref["recovery"] + 1e-6
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(res.estimate, bad, rtol=1e-8, atol=0)


def test_recovery_recovers_the_truth_where_wave_means_do_not():
    # half of each pupil's dip comes back; pupils with low belonging leave before the last waves
    rng = np.random.default_rng(11)
    n = 6000
    base = rng.normal(size=n)
    dip = -0.4 + 0.2 * rng.normal(size=n)
    y = np.column_stack([base, base + dip, base + 0.5 * dip]) + 0.3 * rng.normal(size=(n, 3))
    stay = rng.random(n) < 1 / (1 + np.exp(-(1.0 + 1.2 * base)))  # dropout on the stable level
    rows = [
        pd.DataFrame({"pupil": [f"p{i}" for i in range(n)], "wave": w, "score": y[:, w - 1], "start": base})
        for w in (1, 2, 3)
    ]
    long = pd.concat([rows[0], rows[1][stay], rows[2][stay]], ignore_index=True)
    means = long.groupby("wave")["score"].mean()
    naive = (means[3] - means[2]) / (means[1] - means[2])
    res = T.recovery(long, outcome="score", id="pupil", wave="wave", before=1, dip=2, after=3, n_boot=200)
    assert abs(res.estimate - 0.5) < 0.05 and abs(naive - 0.5) > 0.5  # wave means mix up different pupils
    w = T.attrition_weights(long, id="pupil", wave="wave", predictors="start")
    weighted = T.recovery(
        long, outcome="score", id="pupil", wave="wave", before=1, dip=2, after=3, weight=w, n_boot=200
    )
    assert abs(weighted.estimate - 0.5) < 0.05


def test_recovery_and_weights_refuse_bad_input(panel):
    with pytest.raises(DataError, match="no rows with the value 4"):
        T.recovery(panel, outcome="belonging", id="pupil_id", wave="wave", before=1, dip=2, after=4)
    with pytest.raises(DataError, match="missing or not positive"):
        T.recovery(
            panel,
            outcome="belonging",
            id="pupil_id",
            wave="wave",
            before=1,
            dip=2,
            after=3,
            weight=pd.Series({"T0001": 1.0}),
        )
    flat = pd.DataFrame(
        {"pupil": np.repeat([f"p{i}" for i in range(20)], 3), "wave": np.tile([1, 2, 3], 20), "score": 1.0}
    )
    with pytest.raises(DataError, match="no dip"):
        T.recovery(flat, outcome="score", id="pupil", wave="wave", before=1, dip=2, after=3)
    holes = panel.copy()
    holes.loc[holes.index[0], "fsm"] = np.nan
    with pytest.raises(DataError, match="row 1 lack"):
        T.attrition_weights(holes, id="pupil_id", wave="wave", predictors=["belonging", "fsm"])
    with pytest.raises(DataError, match="every pupil stayed"):
        T.attrition_weights(flat, id="pupil", wave="wave", predictors=["score"])


def test_growth_model_with_schools_matches_lme4(panel):
    data = panel.assign(moved=(panel["wave"] > 1).astype(int), end_of_y7=(panel["wave"] == 3).astype(int))
    res = T.growth_model(
        data,
        outcome="belonging",
        wave="moved",
        id="pupil_id",
        predictors=["send"],
        covariates=["end_of_y7"],
        random_slope=False,
        cluster="secondary_id",
    )
    ref = pd.DataFrame(REF["growth_fixed"]).set_index("term")
    np.testing.assert_allclose(res.fixed.loc[ref.index, "estimate"], ref["estimate"], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(res.fixed.loc[ref.index, "se"], ref["se"], rtol=1e-4, atol=0)
    with pytest.raises(ModelError, match="random_slope=False"):
        T.growth_model(data, outcome="belonging", wave="moved", id="pupil_id", cluster="secondary_id")
    with pytest.raises(DataError, match="more than one 'school_id'"):
        T.growth_model(data, outcome="belonging", wave="moved", id="pupil_id", random_slope=False, cluster="school_id")


@pytest.mark.parametrize("r, rho", [(0.83, 0.4), (0.6, -0.3), (0.9, 0.0)])
def test_regression_to_the_mean_follows_the_formula(r, rho):
    res = T.regression_to_the_mean(reliability=r, correlation=rho, n=400_000, seed=5)
    assert res.slope_baseline == pytest.approx(r, abs=0.01)
    assert res.spurious == pytest.approx(rho * (1 - r) / (1 - r * rho**2) * np.sqrt(r), abs=0.005)
    assert abs(res.spurious_change_score) < 0.01
    assert res.low_after > res.low_before and res.low_still < 1
    # the flagged group's expected second score is r times its first (true score unchanged)
    assert res.low_after == pytest.approx(r * res.low_before, abs=0.02)
    # drops with no real change: the difference of two noisy waves has SD sqrt(2(1 - r)) first-wave SDs
    assert res.drop == 0.5
    assert res.drop_share == pytest.approx(norm.cdf(-0.5 / np.sqrt(2 * (1 - r))), abs=0.005)
    assert res.to_frame().iloc[-1]["truth"] == 0.0
    # expected regression toward the mean = (1 - reliability) x distance from the mean
    assert res.low_after - res.low_before == pytest.approx(-(1 - r) * res.low_before, abs=0.02)
    assert T.regression_to_the_mean(reliability=r, drop=0.0, n=400_000, seed=5).drop_share == pytest.approx(
        0.5, abs=0.005
    )
    with pytest.raises(DataError, match="drop"):
        T.regression_to_the_mean(reliability=0.8, drop=-1)
    with pytest.raises(DataError, match="reliability"):
        T.regression_to_the_mean(reliability=1.0)
    with pytest.raises(DataError, match="correlation"):
        T.regression_to_the_mean(reliability=0.8, correlation=1.0)
