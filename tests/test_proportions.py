"""proportion_ci against R: prop.test (Wilson) and survey::svyciprop(method = "logit") with svyby."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from belonging_lib import DataError
from belonging_lib.proportions import missing_share_ci, proportion_ci

REF_DIR = Path(__file__).resolve().parent / "reference"
REF = json.loads((REF_DIR / "proportions.json").read_text())
DATA = pd.read_csv(REF_DIR / "data" / "proportions_fixture.csv", dtype={"school": str, "g": str})


def _check(row, ref, tol=1e-8):
    for key in ("estimate", "ci_low", "ci_high"):
        assert row[key] == pytest.approx(ref[key], abs=tol), key
    if "se" in ref:
        assert row["se"] == pytest.approx(ref["se"], abs=tol)


def test_wilson_overall_matches_prop_test():
    out = proportion_ci(DATA, outcome="flag").to_frame()
    assert len(out) == 1
    _check(out.iloc[0], REF["wilson_overall"])
    assert out.loc[0, "n"] == REF["n"] and out.loc[0, "n_excluded"] == REF["n_excluded"]
    assert out.loc[0, "method"] == "wilson"


def test_wilson_by_group_matches_prop_test():
    out = proportion_ci(DATA, outcome="flag", by="g").to_frame().set_index("g")
    for g, ref in REF["wilson_by"].items():
        _check(out.loc[g], ref)


def test_cluster_overall_matches_svyciprop():
    out = proportion_ci(DATA, outcome="flag", cluster="school").to_frame().iloc[0]
    _check(out, REF["cluster_overall"])
    assert out["df"] == DATA["school"].nunique() - 1


def test_cluster_by_group_matches_svyby_domains():
    out = proportion_ci(DATA, outcome="flag", by="g", cluster="school").to_frame().set_index("g")
    for g, ref in REF["cluster_by"].items():
        _check(out.loc[g], ref)


def test_clustered_interval_is_wider_when_schools_differ():
    plain = proportion_ci(DATA, outcome="flag").to_frame().iloc[0]
    clustered = proportion_ci(DATA, outcome="flag", cluster="school").to_frame().iloc[0]
    assert clustered["ci_high"] - clustered["ci_low"] > plain["ci_high"] - plain["ci_low"]


def test_boolean_outcome_and_level():
    d = pd.DataFrame({"x": [True] * 30 + [False] * 70})
    r90 = proportion_ci(d, outcome="x", ci_level=0.90).to_frame().iloc[0]
    r95 = proportion_ci(d, outcome="x").to_frame().iloc[0]
    assert r90["estimate"] == pytest.approx(0.3)
    assert r95["ci_low"] < r90["ci_low"] < 0.3 < r90["ci_high"] < r95["ci_high"]


def test_bad_values_name_column_rows_and_value():
    d = pd.DataFrame({"x": [0, 1, 2, 1], "s": list("aabb")})
    with pytest.raises(DataError, match=r"'x'.*row 3.*first 2"):
        proportion_ci(d, outcome="x")


def test_single_cluster_group_is_an_error():
    d = pd.DataFrame({"x": [0, 1, 1, 0, 1, 0], "s": list("aabbcc"), "g": list("ppqqqq")})
    with pytest.raises(DataError, match="single cluster"):
        proportion_ci(d, outcome="x", by="g", cluster="s")


def test_missing_cluster_is_an_error():
    d = pd.DataFrame({"x": [0, 1, 1], "s": ["a", None, "b"]})
    with pytest.raises(DataError, match="row 2"):
        proportion_ci(d, outcome="x", cluster="s")


def test_missing_share_ci_is_proportion_ci_of_the_missing_flag():
    d = DATA.assign(other=np.where(np.arange(len(DATA)) % 7 == 0, np.nan, 1.0))
    out = missing_share_ci(d, items=["flag", "other"], cluster="school").to_frame().set_index("item")
    assert out.loc["flag", "n_events"] == REF["n_excluded"]
    direct = proportion_ci(d.assign(m=d["other"].isna()), outcome="m", cluster="school").to_frame().iloc[0]
    assert out.loc["other", "ci_low"] == pytest.approx(direct["ci_low"], abs=1e-12)
    assert out.loc["other", "estimate"] == pytest.approx(d["other"].isna().mean(), abs=1e-12)


def test_the_result_is_a_table_of_estimates_with_tidy_columns():
    """proportion_ci returns a ProportionTable: group first, then the tidy columns, the stored rows unchanged."""
    from belonging_lib.proportions import ProportionTable

    out = proportion_ci(DATA, outcome="flag", by="g", cluster="school")
    assert isinstance(out, ProportionTable) and len(out) == out.table.shape[0]
    frame = out.to_frame()
    assert list(frame.columns[:7]) == ["g", "estimate", "se", "ci_low", "ci_high", "df", "n"]
    frame.loc[0, "estimate"] = -1.0  # a copy: the result keeps its numbers
    assert out.to_frame().loc[0, "estimate"] == out.table.iloc[0]["estimate"] != -1.0
    assert "Shares with confidence intervals" in out.summary() and "<table" in out._repr_html_()
