"""Cluster-robust intervals for attrition, balance and the subgroup difference, against R (clubSandwich CR1S)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from belonging_lib import trials
from belonging_lib._errors import DataError

HERE = Path(__file__).resolve().parent
REF = json.loads((HERE / "reference" / "trial_intervals.json").read_text())
DATA = pd.read_csv(HERE / "fixtures" / "trial_intervals_trial.csv", dtype={"school_id": str, "pupil_id": str})
FIELDS = ["estimate", "se", "ci_low", "ci_high"]


def test_attrition_intervals_match_r():
    result = trials.attrition_intervals(DATA, treatment="treat", attrited="attrited", cluster="school_id")
    assert isinstance(result, trials.AttritionIntervals) and len(result) == 4
    out = result.to_frame()
    assert list(out.columns[:9]) == ["term", "estimate", "se", "ci_low", "ci_high", "statistic", "df", "p", "n"]
    out = out.set_index("term")
    for term in ["treated", "control", "overall", "differential"]:
        for f in FIELDS:
            assert out.loc[term, f] == pytest.approx(REF[f"attrition_{term}"][f], rel=1e-7, abs=1e-10), (term, f)
    assert out.loc["overall", "n"] == len(DATA)
    assert out.loc["differential", "df"] == DATA["school_id"].nunique() - 1


def test_balance_intervals_match_r_and_the_point_estimates_of_balance():
    analysed = DATA[DATA["attrited"] == 0]
    covs = ["pre_belonging", "pre_attain", "fsm", "send"]
    out = trials.balance_intervals(analysed, treatment="treat", covariates=covs, cluster="school_id").to_frame()
    assert list(out.columns[:9]) == ["term", "estimate", "se", "ci_low", "ci_high", "statistic", "df", "p", "n"]
    out = out.set_index("term")
    for c in covs:
        for f in FIELDS:
            assert out.loc[c, f] == pytest.approx(REF[f"balance_{c}"][f], rel=1e-7, abs=1e-10), (c, f)
    point = trials.balance(analysed, treatment="treat", covariates=covs).table.set_index("covariate")
    np.testing.assert_allclose(out["estimate"], point.loc[covs, "difference"], rtol=1e-12)


def test_subgroup_difference_equals_crt_subgroups_and_its_interval_holds_the_estimate():
    f = "post_belonging ~ treat + pre_belonging + C(block)"
    diff = trials.subgroup_difference(DATA, f, cluster="school_id", treatment="treat", subgroup="fsm")
    sub = trials.crt_subgroups(DATA, f, cluster="school_id", treatment="treat", subgroup="fsm")
    assert diff.estimate == pytest.approx(sub.interaction_estimate, rel=1e-10)
    assert diff.p == pytest.approx(sub.p_interaction, rel=1e-10)
    assert diff.ci_low < diff.estimate < diff.ci_high
    assert diff.ci_high - diff.ci_low == pytest.approx(2 * 1.96 * diff.se, rel=0.01)


def test_bad_attrition_codes_name_the_column_and_rows():
    bad = DATA.copy()
    bad.loc[4, "attrited"] = 2
    with pytest.raises(DataError, match=r"'attrited'.*rows \[5\]"):
        trials.attrition_intervals(bad, treatment="treat", attrited="attrited", cluster="school_id")


def test_constant_binary_covariate_is_an_error_not_an_infinite_interval():
    d = DATA.copy()
    d["all_one"] = 1
    d.loc[d["treat"] == 0, "all_one"] = 0
    with pytest.raises(DataError, match="all_one"):
        trials.balance_intervals(d, treatment="treat", covariates=["all_one"], cluster="school_id")
