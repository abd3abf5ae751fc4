"""Own data end to end: an SPSS survey and an online form's Excel file, written by hand.

The fixtures in ``tests/fixtures/own_data/`` are made by ``make_fixtures.py`` there (numpy random,
not the project's simulator) and committed.  Each test reproduces one way the path from a real file
to results went wrong (issue 19) and checks the behaviour now: reading, ``validate``, the codebook,
``belonging report``.  ``belonging run`` on these files is not tested here.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from belonging_lib import DataError
from belonging_lib.cli import main
from belonging_lib.codebook import apply_codebook, read_codebook, summary_line, validate
from belonging_lib.io import read_labelled
from belonging_lib.report import school_report

HERE = Path(__file__).resolve().parent / "fixtures" / "own_data"
SAV, SAV_CB = HERE / "school_survey.sav", HERE / "school_survey_codebook.csv"
XLSX, XLSX_CB = HERE / "form_responses.xlsx", HERE / "form_codebook.csv"


def _read(path, cb):
    return read_labelled(path, user_missing="keep", ids=cb.loc[cb["type"] == "id", "source_name"].tolist())


@pytest.fixture(scope="module")
def spss():
    cb = read_codebook(SAV_CB)
    return _read(SAV, cb), cb


@pytest.fixture(scope="module")
def form():
    cb = read_codebook(XLSX_CB)
    return _read(XLSX, cb), cb


def _problem(table, variable, problem):
    hit = table[(table["variable"] == variable) & (table["problem"] == problem)]
    return hit


# --------------------------------------------------------------------------- the fixtures themselves
def test_fixtures_are_small_and_shaped_as_the_issue_says(spss, form):
    for f in (SAV, XLSX, SAV_CB, XLSX_CB):
        assert f.stat().st_size < 1_000_000
    raw, _ = spss
    assert len(raw.data) == 1524 and raw.data["SchoolCode"].nunique() == 12
    assert raw.data.groupby(["SchoolCode", "Class"]).ngroups == 60 and raw.data["Class"].nunique() == 6
    assert (raw.data["SchoolCode"] == "0520").sum() == 14
    assert ((raw.data["SchoolCode"] == "0520") & (raw.data["Class"] == "7B")).sum() == 6
    assert raw.missing_codes["Q1_1"] == [9.0, -99.0]
    assert not any(c.startswith(("peer", "bully", "sdq", "Q6", "Q7")) for c in raw.data.columns)
    fraw, _ = form
    assert len(fraw.data) == 571 and fraw.data["School code"].nunique() == 8


# --------------------------------------------------------------------------- IDs and "None"
def test_ids_keep_leading_zeros_from_both_files(spss, form):
    raw, cb = spss
    data = apply_codebook(raw, cb).data
    assert data.loc[0, "pupil_id"] == "021657" and data.loc[0, "school_id"] == "0031"
    assert data["pupil_id"].str.len().eq(6).all()
    fraw, fcb = form
    fdata = apply_codebook(fraw, fcb).data
    assert fdata["pupil_id"].str.len().eq(5).all() and fdata["pupil_id"].str.startswith("0").any()
    assert fdata["school_id"].str.startswith("0").all()


def test_excel_sen_none_is_an_answer_not_a_blank(form):
    import openpyxl

    ws = openpyxl.load_workbook(XLSX, read_only=True).active
    header = [c.value for c in next(ws.iter_rows(max_row=1))]
    col = header.index("SEN status")
    n_none = sum(1 for row in ws.iter_rows(min_row=2, values_only=True) if row[col] == "None")
    assert n_none > 400
    fraw, fcb = form
    data = apply_codebook(fraw, fcb).data
    assert (data["send"] == "None").sum() == n_none and data["send"].notna().all()


# --------------------------------------------------------------------------- categories and missing codes
def test_spss_gender_codes_become_labels_and_9_is_missing(spss):
    raw, cb = spss
    assert _problem(validate(raw, cb), "gender", "invalid value").empty   # before: 1,493 "invalid"
    g = apply_codebook(raw, cb).data["gender"]
    assert set(g.dropna()) == {"girl", "boy", "non-binary"}
    assert g.isna().sum() == 31


def test_code_9_declared_missing_by_its_text_leaves_no_9_category(spss):
    raw, cb = spss
    raw = dataclasses.replace(raw, missing_codes={k: v for k, v in raw.missing_codes.items() if k != "Gender"})
    cb = cb.copy()
    row = cb["variable"] == "gender"
    cb.loc[row, "allowed"] = ""
    cb.loc[row, "value_labels"] = "1=Girl;2=Boy;3=Non-binary;9=Prefer not to say"
    cb.loc[row, "missing_codes"] = "Prefer not to say"
    g = apply_codebook(raw, cb).data["gender"]
    assert 9.0 not in set(g.dropna()) and "9.0" not in set(g.dropna().astype(str))
    assert g.isna().sum() == 31
    assert set(g.dropna()) == {"Girl", "Boy", "Non-binary"}


def test_each_kind_of_missing_counted_per_variable(spss):
    raw, cb = spss
    v = validate(raw, cb)
    wb1 = _problem(v, "swemwbs_1", "not-answered code")
    not_asked = int(((raw.data["WB1"] == -99)).sum())
    prefer = int(((raw.data["WB1"] == 9)).sum())
    assert not_asked == (raw.data["SchoolCode"] == "0117").sum()
    assert wb1["n"].tolist() == [prefer + not_asked]
    assert wb1["example"].iloc[0] == f"9.0 (Prefer not to say): {prefer}; -99.0 (Not asked): {not_asked}"


def test_text_answer_declared_missing_in_excel(form):
    fraw, fcb = form
    v = validate(fraw, fcb)
    assert (v["severity"] == "error").sum() == 0
    got = apply_codebook(fraw, fcb).data
    assert got["gender"].isna().sum() == (fraw.data["Gender"] == "Prefer not to say").sum() == 17


# --------------------------------------------------------------------------- classes
def test_repeated_class_names_are_school_qualified(spss, form):
    raw, cb = spss
    res = apply_codebook(raw, cb)
    assert res.data["class_id"].nunique() == 60                    # before: 6 names pooled 60 classes
    assert res.data.loc[0, "class_id"] == "0031-7A"
    assert any("school-qualified" in n for n in res.notes())
    note = _problem(validate(raw, cb), "class_id", "class name in several schools")
    assert len(note) == 1 and "60 classes" in note["example"].iloc[0]
    fraw, fcb = form
    assert apply_codebook(fraw, fcb).data["class_id"].nunique() == fraw.data.groupby(
        ["School code", "Tutor group"]).ngroups


# --------------------------------------------------------------------------- reverse keys, straight-lining, empty
def _naive_codebook(cb):
    """Q1_k mapped to pssm_k, the survey's own reversed positions marked only in `reverse`."""
    cb = cb.copy()
    q = cb["source_name"].str.fullmatch(r"Q1_\d+")
    cb.loc[q, "variable"] = [f"pssm_{int(s[3:]):02d}" for s in cb.loc[q, "source_name"]]
    return cb


def test_reverse_column_checked_against_instrument_and_data(spss):
    raw, cb = spss
    clean = validate(raw, cb)
    assert clean["problem"].isin(["reverse key differs from instrument", "negative item-rest correlation"]).sum() == 0
    v = validate(raw, _naive_codebook(cb))
    rev = v[v["problem"] == "reverse key differs from instrument"]
    # own reversed positions 2, 7, 10, 13, 17 against the instrument's 3, 6, 9, 12, 16
    assert set(rev["variable"]) == {f"pssm_{k:02d}" for k in (2, 3, 6, 7, 9, 10, 12, 13, 16, 17)}
    assert (rev["severity"] == "warning").all()
    neg = v[v["problem"] == "negative item-rest correlation"]
    assert len(neg) > 0
    r = neg["example"].str.extract(r"r = (-?\d\.\d\d)")[0].astype(float)
    assert (r < 0).all()
    assert "reverse keys unlike the instrument's" in summary_line(v)


def test_negative_item_rest_correlation_value_is_right(spss):
    raw, cb = spss
    v = validate(raw, _naive_codebook(cb))
    row = v[(v["problem"] == "negative item-rest correlation")].iloc[0]
    data = apply_codebook(raw, _naive_codebook(cb)).data
    items = [f"pssm_{k:02d}" for k in range(1, 19)]
    x = data[items].astype(float).copy()
    for k in (3, 6, 9, 12, 16):
        x[f"pssm_{k:02d}"] = 6 - x[f"pssm_{k:02d}"]
    c = row["variable"]
    rest = x.drop(columns=c).mean(axis=1)
    ok = x[c].notna() & rest.notna()
    r = np.corrcoef(x.loc[ok, c], rest[ok])[0, 1]
    assert row["example"].startswith(f"r = {r:.2f}") and row["n"] == ok.sum()


def test_straight_liners_listed_by_row_from_1(spss):
    raw, cb = spss
    v = validate(raw, cb)
    s = _problem(v, "pssm", "straight-lining")
    items = [f"Q1_{k}" for k in range(1, 19)]
    x = raw.data[items].where(~raw.data[items].isin([9, -99]))
    same = x.notna().all(axis=1) & (x.nunique(axis=1) == 1)
    assert int(s["n"].iloc[0]) == same.sum() == 16
    first = int(np.flatnonzero(same.to_numpy())[0]) + 1
    assert s["rows"].iloc[0].startswith(f"rows {first},")
    # the teacher items are two 4-item scales (care, fairness): too short to call straight-lining
    assert _problem(v, "tr_care", "straight-lining").empty


def test_empty_and_constant_columns_flagged(spss, form):
    raw, cb = spss
    v = validate(raw, cb)
    assert _problem(v, "eal", "empty throughout")["severity"].tolist() == ["warning"]
    assert _problem(v, "phase", "constant column")["example"].tolist() == ["'secondary'"]
    fraw, fcb = form
    fv = validate(fraw, fcb)
    assert len(_problem(fv, "attendance", "empty throughout")) == 1
    assert int(_problem(fv, "pisa_belong", "straight-lining")["n"].iloc[0]) >= 9


def test_validate_command_ends_with_summary(capsys):
    rc = main(["validate", "--data", str(SAV), "--codebook", str(SAV_CB)])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert rc == 0
    assert last.startswith("0 errors (mapping would stop), ")
    assert "16 straight-lining pupils" not in last    # pssm 16 + wellbeing's own: summed
    n = int(re.search(r"(\d+) straight-lining pupils", last).group(1))
    assert n >= 16 and "1 variable empty throughout" in last and "1 constant column" in last
    assert "rows are counted from 1" in last


# --------------------------------------------------------------------------- belonging report
def _text(path):
    page = Path(path).read_text(encoding="utf-8")
    page = re.sub(r"<style>.*?</style>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def test_report_on_spss_with_leading_zero_school(tmp_path, capsys, spss):
    out = tmp_path / "r.html"
    rc = main(["report", "--data", str(SAV), "--codebook", str(SAV_CB), "--school", "0031", "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    text = _text(out)
    assert "School 0031" in text
    assert "(sum, 7-35)" in text and "(mean, 1-5)" in text           # each scale on its own range
    assert "1-5 scale" not in text
    assert "bully" not in text.lower() and "peer" not in text.lower()  # scales not measured: not mentioned
    assert "Synthetic" not in text
    raw, _ = spss
    assert not any(pid in text for pid in raw.data["PupilID"])             # no pupil ID on the page
    # belonging first: the group tables break down belonging
    assert re.search(r"Belonging \(PSSM\) \(mean, 1-5\) by fsm", text)


def test_report_scores_keep_order_and_unknown_scales_are_one_line_errors(tmp_path, capsys):
    out = tmp_path / "r.html"
    rc = main(["report", "--data", str(SAV), "--codebook", str(SAV_CB), "--school", "0031", "--out", str(out),
               "--scores", "swemwbs,pssm"])
    assert rc == 0
    text = _text(out)
    assert text.index("Wellbeing (SWEMWBS)") < text.index("Belonging (PSSM)")
    assert "Teacher care" not in text
    assert re.search(r"SWEMWBS\) \(sum, 7-35\) by fsm", text)
    capsys.readouterr()
    for scores in ("bully", "swemwbs,nonsense"):
        rc = main(["report", "--data", str(SAV), "--codebook", str(SAV_CB), "--school", "0031",
                   "--out", str(out), "--scores", scores])
        err = capsys.readouterr().err
        assert rc == 2 and len(err.strip().splitlines()) == 1 and "KeyError" not in err
        assert err.startswith("belonging report: error:")


def test_report_school_without_leading_zero_is_a_clear_error(tmp_path, capsys):
    rc = main(["report", "--data", str(SAV), "--codebook", str(SAV_CB), "--school", "31",
               "--out", str(tmp_path / "r.html")])
    err = capsys.readouterr().err
    assert rc == 2 and "'0031'" in err and "leading zeros" in err


def test_report_on_excel_form_with_invalid_option(tmp_path, capsys, form):
    out = tmp_path / "f.html"
    rc = main(["report", "--data", str(XLSX), "--codebook", str(XLSX_CB), "--school", "0093",
               "--out", str(out), "--invalid", "missing", "--scores", "pisa_belong,peer"])
    assert rc == 0, capsys.readouterr().err
    text = _text(out)
    assert "Belonging (PISA-style) (mean, 1-4)" in text and text.index("PISA") < text.index("Peer acceptance")
    assert "Bullying" not in text and "bullying" not in text


def test_report_leaves_out_scales_without_answers(spss):
    raw, cb = spss
    data = apply_codebook(raw, cb).data
    data[[f"tr_fair_{k}" for k in range(1, 5)]] = np.nan
    page = school_report(data, school="0031", by=["fsm"])
    assert "Left out, because no pupil answered their items: Teacher fairness" in page
    assert "Teacher care" in page


def test_report_from_mapped_csv_keeps_leading_zero_school(tmp_path, capsys, spss):
    raw, cb = spss
    data = apply_codebook(raw, cb).data
    path = tmp_path / "survey.csv"
    data.to_csv(path, index=False)
    out = tmp_path / "r.html"
    rc = main(["report", "--data", str(path), "--school", "0520", "--out", str(out), "--scores", "pssm"])
    assert rc == 0, capsys.readouterr().err
    text = _text(out)
    assert "School 0520:" in text and "School 520" not in text


# --------------------------------------------------------------------------- errors on own data
def test_missing_file_on_own_data_does_not_point_to_the_simulator(tmp_path):
    from belonging_lib.datasets import sample_path

    (tmp_path / "survey.csv").write_text("pupil_id\n001\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        sample_path("schools", data_dir=tmp_path)
    msg = str(err.value)
    assert "schools.csv" in msg and "Your data" in msg
    assert not re.search(r"simulat|regenerat|sample-data", msg, flags=re.I)
    assert "--notebooks" in msg


def test_report_scores_a_multi_score_scale_without_keyerror_and_keeps_order(spss):
    from belonging_lib.report import report_tables

    raw, cb = spss
    data = apply_codebook(raw, cb).data
    data["wellbeing_total"] = data[[f"swemwbs_{k}" for k in range(1, 8)]].sum(axis=1, min_count=7)
    # before: KeyError 'swemwbs' (its scores are swemwbs_raw and swemwbs_metric), and a column
    # already in the data was put first, so the group tables broke down wellbeing
    t = report_tables(data, school="0031", by=["fsm"],
                      scores={"Belonging": "pssm", "Wellbeing (own total)": "wellbeing_total", "SWEMWBS": "swemwbs"})
    assert t["main_score"] == "Belonging"
    assert t["overall"].data["score"].tolist() == ["Belonging", "Wellbeing (own total)", "SWEMWBS"]
    o = t["overall"].data.set_index("score")
    assert o.loc["SWEMWBS", "school_mean"] == pytest.approx(o.loc["Wellbeing (own total)", "school_mean"], rel=1e-12)
    assert [e["low"] for e in t["scales"]][2] == 7 and [e["high"] for e in t["scales"]][2] == 35


def test_missing_truth_on_own_data_says_real_data_have_none(tmp_path):
    from belonging_lib.datasets import load_truth

    with pytest.raises(DataError) as err:
        load_truth(tmp_path)
    msg = str(err.value)
    assert "real data have none" in msg and not re.search(r"simulat|regenerat", msg, flags=re.I)
