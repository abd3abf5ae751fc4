"""The school culture audit: the rater ICC equals psych::ICC; profile, priorities, outputs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from belonging_lib import ColumnError, DataError
from belonging_lib.cli import main
from belonging_lib.schools._common import read_table
from belonging_lib.schools.audit import (ACTION_PLAN_COLUMNS, analyse_audit, framework, rater_icc, read_audit,
                                         simulate_audit)
from belonging_lib.schools.questionnaire import simulate_responses

REF = Path(__file__).parent / "reference"
ICC_REF = json.loads((REF / "audit_icc.json").read_text())


@pytest.mark.parametrize("case", sorted(ICC_REF["cases"]))
def test_rater_icc_matches_psych_icc(case):
    ref = ICC_REF["cases"][case]
    path = REF / "data" / ref["input"]
    assert hashlib.md5(path.read_bytes()).hexdigest() == ref["md5"], f"{path.name} changed: rerun audit_icc.R"
    ratings = read_audit(read_table(path, what="audit"))
    agreement = rater_icc(ratings)
    table = agreement.to_frame()
    assert agreement.n_indicators_left_out == ref["n_indicators"] - ref["n_complete"]
    assert agreement.n_indicators == ref["n_complete"]
    # psych names the six ICC1 ... ICC3k; the library uses Shrout & Fleiss's ICC(1,1) ... ICC(3,k)
    psych_names = {"ICC1": "ICC(1,1)", "ICC2": "ICC(2,1)", "ICC3": "ICC(3,1)", "ICC1k": "ICC(1,k)",
                   "ICC2k": "ICC(2,k)", "ICC3k": "ICC(3,k)"}
    assert table["term"].tolist() == [psych_names[t] for t in ref["type"]]
    np.testing.assert_allclose(table["estimate"], ref["ICC"], rtol=1e-10, atol=0)
    np.testing.assert_allclose(table["statistic"], ref["F"], rtol=1e-10, atol=0)
    np.testing.assert_allclose(table["df1"], ref["df1"], rtol=0, atol=0)
    np.testing.assert_allclose(table["df2"], ref["df2"], rtol=0, atol=0)
    np.testing.assert_allclose(table["p"], ref["p"], rtol=1e-6, atol=0)
    assert agreement.icc("ICC(2,1)") == table.loc[1, "estimate"]
    with pytest.warns(DeprecationWarning, match="ICC\\(2,k\\)"):
        assert agreement.icc("ICC2k") == table.loc[4, "estimate"]
    # pingouin rounds its confidence limits to two decimals, so they match R's to half a unit of the last digit
    np.testing.assert_allclose(table["ci_low"], ref["lower"], rtol=0, atol=0.005 + 1e-12)
    np.testing.assert_allclose(table["ci_high"], ref["upper"], rtol=0, atol=0.005 + 1e-12)


def test_framework_has_ten_areas_of_several_indicators():
    f = framework()
    assert f["area"].nunique() == 10 and f.groupby("area").size().min() >= 3   # disclosure: no pupils
    assert set(f["pupil_part"].dropna()) == {"staff", "peers", "engage", "safe", "voice"}


def test_ratings_accept_words_and_name_bad_rows():
    d = simulate_audit(n_raters=2, seed=1)
    d["rating"] = d["rating"].astype(object)
    d.loc[1, "rating"] = "Embedded"
    d.loc[2, "rating"] = " not yet "
    r = read_audit(d)
    assert r.loc[1, "rating"] == 4 and r.loc[2, "rating"] == 1
    bad = d.copy()
    bad.loc[5, "rating"] = "5"
    with pytest.raises(DataError, match=r"'rating'.*row 5.*'5'"):
        read_audit(bad)
    bad = d.copy()
    bad.loc[7, "indicator"] = "teaching_9"
    with pytest.raises(DataError, match="'teaching_9'.*row 7"):
        read_audit(bad)
    with pytest.raises(ColumnError, match="'rater'"):
        read_audit(d.drop(columns="rater"))
    dup = pd.concat([d, d.iloc[[0]]], ignore_index=True)
    dup.index = range(1, len(dup) + 1)
    with pytest.raises(DataError, match="twice"):
        read_audit(dup)


def test_profile_and_priorities_hand_checked():
    # two raters; voice rated 1 by both, relationships 4 by both, send split 1 vs 4, everything else 3
    f = framework()
    rows = []
    for rater in ("A", "B"):
        for r in f.itertuples():
            v = {"voice": 1, "relationships": 4}.get(r.area, 3)
            if r.area == "send":
                v = 1 if rater == "A" else 4
            rows.append({"rater": rater, "indicator": r.indicator, "rating": v})
    d = pd.DataFrame(rows)
    d.index = range(1, len(d) + 1)
    res = analyse_audit(d)
    a = res.areas.set_index("area")
    assert a.loc["voice", "mean_rating"] == 1 and a.loc["relationships", "mean_rating"] == 4
    assert a.loc["send", "mean_rating"] == 2.5 and a.loc["send", "rater_min"] == 1 and a.loc["send", "rater_max"] == 4
    assert a["low"].tolist() == [area == "voice" for area in a.index]
    assert a["disagreement"].tolist() == [area == "send" for area in a.index]
    assert res.priorities[0].startswith("Pupil voice and agency: rated low")
    assert "SEND inclusion: raters disagree" in res.priorities[1]
    assert "Only 2 raters" in res.caveat
    assert list(res.action_plan.columns) == ACTION_PLAN_COLUMNS and len(res.action_plan) == 2
    # to_frame: one row per area, the area first, the mean rating as `estimate` over `n` raters
    tidy = res.to_frame()
    assert list(tidy.columns[:4]) == ["area", "area_label", "estimate", "n"] and len(tidy) == len(f["area"].unique())
    t = tidy.set_index("area")
    assert t.loc["send", "estimate"] == 2.5 and t.loc["voice", "n"] == 2 and t.loc["send", "rater_max"] == 4
    assert "mean_rating" not in tidy and bool(t.loc["send", "disagreement"])


def test_pupils_view_beside_each_area():
    survey = simulate_responses(version="primary", n_classes=1, class_size=25, seed=2)
    survey.index = range(1, 26)
    res = analyse_audit(simulate_audit(n_raters=6), survey=survey)
    a = res.areas.set_index("area")
    from belonging_lib.schools.questionnaire import score_responses

    s = score_responses(survey)
    assert a.loc["voice", "pupil_percent"] == pytest.approx((s["voice"].mean() - 1) / 2 * 100, rel=1e-12)
    assert np.isnan(a.loc["send", "pupil_percent"])
    small = analyse_audit(simulate_audit(n_raters=6), survey=survey.iloc[:6])
    assert small.areas["pupil_percent"].isna().all()            # under the disclosure threshold


def test_audit_commands_end_to_end(tmp_path, capsys):
    import docx

    assert main(["audit", "--template", "--out", str(tmp_path / "blank")]) == 0
    form = pd.read_csv(tmp_path / "blank" / "audit_form.csv")
    assert len(form) == 30 and {"rater", "indicator", "rating", "evidence"} <= set(form.columns)
    guidance = (tmp_path / "blank" / "audit_guidance.html").read_text()
    assert guidance.count("<li><code>") == 30 and "without discussing it first" in guidance
    assert all(level in guidance for level in ("not yet", "emerging", "established", "embedded"))
    blank_plan = docx.Document(str(tmp_path / "blank" / "action_plan.docx"))
    assert [c.text for c in blank_plan.tables[0].rows[0].cells] == ACTION_PLAN_COLUMNS
    ratings = simulate_audit(n_raters=3, seed=9)
    ratings.to_csv(tmp_path / "ratings.csv", index=False)
    survey = simulate_responses(version="secondary", n_classes=1, class_size=30, seed=2)
    survey.to_csv(tmp_path / "survey.csv", index=False)
    assert main(["audit", "--data", str(tmp_path / "ratings.csv"), "--survey", str(tmp_path / "survey.csv"),
                 "--out", str(tmp_path / "rep")]) == 0
    assert "Only 3 raters" in capsys.readouterr().out
    html = (tmp_path / "rep" / "audit_report.html").read_text()
    for must in ("Profile of the ten areas", "data:image/png;base64", "ICC(2,k)", "Priorities",
                 "Staff view beside pupils' view", "Only 3 raters"):
        assert must in html
    assert (tmp_path / "rep" / "area_profile.png").stat().st_size > 5000
    plan = docx.Document(str(tmp_path / "rep" / "action_plan.docx"))
    header = [c.text for c in plan.tables[0].rows[0].cells]
    assert header == ACTION_PLAN_COLUMNS
    xl = pd.read_excel(tmp_path / "rep" / "action_plan.xlsx")
    assert list(xl.columns) == ACTION_PLAN_COLUMNS
    assert [r.cells[0].text for r in plan.tables[0].rows[1:] if r.cells[0].text] == xl["area"].tolist()
    bad = ratings.copy()
    bad.loc[4, "rating"] = "7"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    assert main(["audit", "--data", str(tmp_path / "bad.csv"), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err  # label 4 is the fourth rating: spreadsheet row 5 (the column names are row 1)
    assert "row 5 (as numbered in the spreadsheet, where the column names are row 1)" in err and "'7'" in err
