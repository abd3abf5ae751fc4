"""Transition panel analyses: pairing waves, change, reliable change, growth.

References: hand-derivable cases (the Jacobson-Truax formula on chosen numbers),
known truth of simulated panels, and the regression core's own R-validated fits.
"""

import numpy as np
import pandas as pd
import pytest

from belonging_lib import DataError
from belonging_lib.transitions import change_scores, growth_model, reliable_change, residualised_change, to_wide


def _panel(seed=4, n=400, drop=0.1):
    """Three waves; mean change -0.3 at wave 2, +0.1 at wave 3; SEND pupils drop 0.2 more."""
    rng = np.random.default_rng(seed)
    pupil = np.arange(n)
    send = rng.binomial(1, 0.2, n)
    school = rng.integers(0, 20, n)
    start = rng.normal(3.5, 0.5, n)
    slope_dev = rng.normal(0, 0.15, n)
    rows = []
    for wave, shift in [(1, 0.0), (2, -0.3), (3, -0.2)]:
        extra = -0.2 * send * (wave > 1)
        y = start + shift + extra + slope_dev * (wave - 1) + rng.normal(0, 0.2, n)
        rows.append(pd.DataFrame({"pupil": pupil, "wave": wave, "send": send, "school": school, "belonging": y}))
    panel = pd.concat(rows, ignore_index=True)
    gone = rng.uniform(size=len(panel)) < drop
    gone &= panel["wave"].to_numpy() > 1
    return panel.loc[~gone].reset_index(drop=True)


def test_to_wide_counts_every_pupil_it_cannot_pair():
    panel = _panel()
    panel.loc[panel.index[5], "belonging"] = np.nan  # a pupil with a missing score
    w = to_wide(panel, id="pupil", wave="wave", columns="belonging", before=1, after=2, keep=["send", "school"])
    n_pupils = panel["pupil"].nunique()
    present = set(panel.loc[panel.wave == 1, "pupil"]) & set(panel.loc[panel.wave == 2, "pupil"])
    table = w.ledger.to_frame()
    assert table["n_in"].iloc[0] == n_pupils
    assert table["n_out"].iloc[0] == len(present)
    assert w.ledger.n == len(w.data) == len(present) - 1
    assert table["n_dropped"].sum() == n_pupils - len(w.data)
    assert {"send", "school", "belonging_1", "belonging_2"} <= set(w.data.columns)


def test_to_wide_rejects_duplicated_waves_and_unknown_waves():
    panel = _panel(n=30)
    dup = pd.concat([panel, panel.iloc[[0]]], ignore_index=True)
    with pytest.raises(DataError, match="more than one row at wave"):
        to_wide(dup, id="pupil", wave="wave", columns="belonging", before=1, after=2)
    with pytest.raises(DataError, match="no rows with wave 7"):
        to_wide(panel, id="pupil", wave="wave", columns="belonging", before=1, after=7)


def test_change_scores_recover_the_simulated_mean_drop():
    w = to_wide(_panel(n=3000, drop=0.0), id="pupil", wave="wave", columns="belonging", before=1, after=2,
                keep="send")
    change = change_scores(w, outcome="belonging")
    not_send = change[w.data["send"] == 0]
    se = not_send.std(ddof=1) / np.sqrt(len(not_send))
    assert abs(not_send.mean() - (-0.3)) < 3 * se


def test_reliable_change_matches_the_hand_computed_index():
    # SD 0.6, reliability .84: SE_diff = 0.6 * sqrt(2) * 0.4 = 0.339411...
    out = reliable_change(pd.Series([3.0, 3.0, 3.0, np.nan]), pd.Series([2.2, 3.5, 3.7, 3.0]),
                          reliability=0.84, sd=0.6)
    se_diff = 0.6 * np.sqrt(2) * np.sqrt(1 - 0.84)
    np.testing.assert_allclose(out["rci"].iloc[:3], np.array([-0.8, 0.5, 0.7]) / se_diff, rtol=1e-12, atol=0)
    assert out["category"].tolist()[:3] == ["reliable decline", "no reliable change", "reliable improvement"]
    assert pd.isna(out["category"].iloc[3]) and np.isnan(out["rci"].iloc[3])


def test_reliable_change_bad_input():
    with pytest.raises(DataError, match="reliability"):
        reliable_change(pd.Series([1.0, 2.0]), pd.Series([1.0, 2.0]), reliability=1.2)
    with pytest.raises(DataError, match="standard deviation"):
        reliable_change(pd.Series([1.0, 1.0]), pd.Series([1.0, 2.0]), reliability=0.8)


def test_residualised_change_finds_the_extra_drop_of_send_pupils():
    w = to_wide(_panel(n=2000, drop=0.0), id="pupil", wave="wave", columns="belonging", before=1, after=2,
                keep=["send", "school"])
    fit = residualised_change(w, outcome="belonging", predictors=["send"], cluster="school")
    row = fit.fixed.loc["send"]
    assert row["ci_low"] < -0.2 < row["ci_high"]


@pytest.mark.slow
def test_growth_model_recovers_mean_trajectory_with_random_slopes():
    panel = _panel(n=600, drop=0.05)
    panel["time"] = panel["wave"] - 1
    fit = growth_model(panel, outcome="belonging", wave="time", id="pupil", predictors=["send"])
    fixed = fit.fixed
    # truth: time slope for non-SEND is -0.1 per wave on average (0, -0.3, -0.2 is not linear, so
    # compare with the least-squares line through the three wave means instead)
    means = np.array([0.0, -0.3, -0.2])
    slope = np.polyfit([0, 1, 2], means, 1)[0]
    assert fixed.loc["time", "ci_low"] < slope < fixed.loc["time", "ci_high"]
    assert fit.n_excluded == 0
