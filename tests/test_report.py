"""Tests of belonging_lib.report (school report with disclosure control)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import belonging_lib as bl
from belonging_lib import DataError
from belonging_lib.disclosure import DisclosurePolicy
from belonging_lib.report import report_tables, school_report


@pytest.fixture
def data():
    rng = np.random.default_rng(3)
    n_school, n_rest = 30, 200
    school = ["S1"] * n_school + [f"S{2 + i % 5}" for i in range(n_rest)]
    fsm = [1] * 5 + [0] * 25 + list(rng.integers(0, 2, n_rest))          # 5 FSM pupils in S1
    gender = ["girl"] * 14 + ["boy"] * 16 + list(rng.choice(["girl", "boy"], n_rest))
    belong = np.round(rng.normal(3.5, 0.6, n_school + n_rest), 3)
    return pd.DataFrame({"pupil_id": [f"P{i:04d}" for i in range(n_school + n_rest)], "school_id": school,
                         "fsm": fsm, "gender": gender, "belong": belong, "care": belong / 2 + 1})


def test_overall_table_values(data):
    t = report_tables(data, school="S1", scores={"Belonging": "belong", "Care": "care"}, by=["fsm"])
    o = t.overall.data.set_index("score")
    ins = data["school_id"] == "S1"
    assert o.loc["Belonging", "n_school"] == 30 and o.loc["Belonging", "n_rest"] == 200
    assert o.loc["Belonging", "school_mean"] == pytest.approx(data.loc[ins, "belong"].mean(), rel=1e-12)
    assert o.loc["Belonging", "difference"] == pytest.approx(
        data.loc[ins, "belong"].mean() - data.loc[~ins, "belong"].mean(), rel=1e-12)
    assert t.n_school == 30 and t.n_rest == 200


def test_small_groups_suppressed_with_secondary(data):
    t = report_tables(data, school="S1", scores={"Belonging": "belong"}, by=["fsm", "gender"])
    f = t.by["fsm"]
    school_cols = ["n_school", "mean_school", "sd_school"]
    assert f.mask[school_cols].to_numpy().all()       # FSM = 5 (primary), not FSM = 25 (secondary)
    # The sample's FSM count is public (other outputs show it), so the other schools' FSM count
    # would give away the school's 5: the other schools' FSM cells are withheld as well.
    assert f.mask[["n_rest"]].to_numpy().all()
    g = t.by["gender"]
    assert not g.mask.to_numpy().any()                 # 14 girls, 16 boys: shown
    girls = g.data.set_index("group").loc["girl"]
    ins = (data["school_id"] == "S1") & (data["gender"] == "girl")
    assert girls["mean_school"] == pytest.approx(data.loc[ins, "belong"].mean(), rel=1e-12)
    # with threshold 5 the FSM cells are shown
    t5 = report_tables(data, school="S1", scores={"Belonging": "belong"}, by=["fsm"],
                       policy=DisclosurePolicy(threshold=5))
    assert not t5.by["fsm"].mask.to_numpy().any()


def test_html_has_symbol_no_ids_and_is_written(data, tmp_path):
    out = tmp_path / "r.html"
    page = school_report(data, school="S1", scores={"Belonging": "belong"}, by=["fsm", "gender"], out=out)
    assert out.read_text(encoding="utf-8") == page
    assert "[c]" in page and "fewer than 10" in page
    assert "P0001" not in page and "pupil_id" not in page
    with pytest.raises(DataError, match="not in column 'school_id'"):
        school_report(data, school="S99", scores={"Belonging": "belong"}, by=["fsm"])
    with pytest.raises(DataError, match="no rest of the sample"):
        school_report(data[data.school_id == "S1"], school="S1", scores={"Belonging": "belong"}, by=["fsm"])


def test_tiny_school_overall_suppressed(data):
    tiny = pd.concat([data[data.school_id != "S1"], data[data.school_id == "S1"].head(6)])
    t = report_tables(tiny, school="S1", scores={"Belonging": "belong"}, by=["fsm"])
    assert t.overall.mask.loc[0, ["n_school", "school_mean", "difference"]].all()
    # the other schools' N beside the sample's public N would give the school's 6 away
    assert t.overall.mask.loc[0, "n_rest"] and not t.overall.mask.loc[0, "rest_mean"]
    assert not t.n_school_shown and not t.n_rest_shown


def test_sample_report_scores_from_items():
    page = school_report(bl.load_sample("survey"), school="S01", synthetic=True)
    assert "Teacher care" in page and "Synthetic sample data" in page
