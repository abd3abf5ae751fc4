"""Own data end to end: an SPSS survey and an online form's Excel file, written by hand.

The fixtures in ``tests/fixtures/own_data/`` are made by ``make_fixtures.py`` there (numpy random,
not the project's simulator) and committed.  Each test reproduces one way the path from a real file
to results went wrong (issue 19) and checks the behaviour now: reading, ``validate``, the codebook,
``belonging report``, and (marked slow) ``belonging run`` end to end on each fixture.
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


def test_chapters_read_own_data_with_only_blank_cells_missing(tmp_path, spss):
    """The chapters load the mapped survey.csv; SEN "None" must stay an answer there too."""
    from belonging_lib.datasets import load_sample

    raw, cb = spss
    data = apply_codebook(raw, cb).data
    data.to_csv(tmp_path / "survey.csv", index=False)
    got = load_sample("survey", tmp_path)
    n_none = int((data["send"] == "None").sum())
    assert n_none > 1000 and (got["send"] == "None").sum() == n_none     # before: 1,224 blanks
    assert got["send"].isna().sum() == data["send"].isna().sum()


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
    same = (x.notna().sum(axis=1) >= 17) & (x.nunique(axis=1) == 1)     # one skipped item allowed
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
    assert t.main_score == "Belonging"
    assert t.overall.data["score"].tolist() == ["Belonging", "Wellbeing (own total)", "SWEMWBS"]
    o = t.overall.data.set_index("score")
    assert o.loc["SWEMWBS", "school_mean"] == pytest.approx(o.loc["Wellbeing (own total)", "school_mean"], rel=1e-12)
    assert [e.low for e in t.scales][2] == 7 and [e.high for e in t.scales][2] == 35


def test_missing_truth_on_own_data_says_real_data_have_none(tmp_path):
    from belonging_lib.datasets import load_truth

    with pytest.raises(DataError) as err:
        load_truth(tmp_path)
    msg = str(err.value)
    assert "real data have none" in msg and not re.search(r"simulat|regenerat", msg, flags=re.I)


# --------------------------------------------------------------------------- what each chapter needs: the plan
NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"


def _chapter(tmp_path, front: str, body: str, name="01_test.md"):
    path = tmp_path / name
    path.write_text("---\njupytext:\n  text_representation:\n    extension: .md\n    format_name: myst\n"
                    "kernelspec:\n  display_name: Python 3\n  language: python\n  name: python3\n"
                    + front + "---\n\n" + body, encoding="utf-8")
    return path


def test_needs_parser_reads_the_block_and_rejects_a_heading_the_chapter_lacks(tmp_path):
    from belonging_lib import BelongingError
    from belonging_lib.book import read_needs

    body = "# 01 · Test\n\n## A: one\n\n```{code-cell} ipython3\n# ## not a heading\n```\n\n### B\n"
    path = _chapter(tmp_path, "belonging:\n  needs: [survey, pssm]\n  optional: [schools]\n  sections:\n"
                    "    'A: one': [tr_care, school_id]\n    B: sample\n", body)
    assert read_needs(path) == {"needs": ("survey", "pssm"), "optional": ("schools",),
                                "sections": {"A: one": ("tr_care", "school_id"), "B": ("sample",)}, "headings": {}}
    assert read_needs(_chapter(tmp_path, "", body, "02_plain.md")) == {"needs": ("survey",), "optional": (),
                                                                       "sections": {}, "headings": {}}
    bad = _chapter(tmp_path, "belonging:\n  sections:\n    not a heading: [pssm]\n", body, "03_bad.md")
    with pytest.raises(BelongingError, match="not a heading"):
        read_needs(bad)
    typo = _chapter(tmp_path, "belonging:\n  need: [pssm]\n", body, "04_typo.md")
    with pytest.raises(BelongingError, match="unknown key"):
        read_needs(typo)


def test_every_chapter_declares_needs_whose_headings_exist():
    from belonging_lib.book import chapter_sources, read_needs

    for source in chapter_sources(NOTEBOOKS):
        needs = read_needs(source)            # raises on a section heading the chapter does not have
        assert needs["needs"], source.name


def test_sample_book_runs_every_chapter_and_every_section():
    """On the sample (DATA_DIR None) every need is met: make notebooks runs what it ran before."""
    import jupytext

    from belonging_lib.book import plan_chapters, skip_sections

    plans = plan_chapters(NOTEBOOKS, None)
    assert len(plans) == len(list(NOTEBOOKS.glob("[0-9][0-9]_*.md")))
    assert all(p.runs and not p.skipped for p in plans)
    nb = jupytext.read(NOTEBOOKS / "02_measuring_belonging.md")
    before = [c.source for c in nb.cells]
    assert [c.source for c in skip_sections(nb, {}).cells] == before


def test_plan_05_runs_without_schools_file_and_02_on_any_scale(tmp_path):
    import shutil

    from belonging_lib.book import format_plan, plan_chapters

    shutil.copy(SAMPLE / "survey.csv", tmp_path / "survey.csv")
    plans = {p.name[:2]: p for p in plan_chapters(NOTEBOOKS, tmp_path)}
    assert plans["05"].runs and list(plans["05"].skipped) == ["Within and between schools"]
    assert "schools.csv" in plans["05"].skipped["Within and between schools"]
    assert plans["02"].runs and not plans["08"].runs and not plans["00"].runs
    # a survey with one scale only (peer): 02 still runs, its PSSM sections are skipped
    import pandas as pd

    one = pd.read_csv(SAMPLE / "survey.csv", dtype=str, usecols=["pupil_id", "school_id", "class_id"]
                      + [f"peer_{k}" for k in range(1, 5)])
    other = tmp_path / "one"
    other.mkdir()
    one.to_csv(other / "survey.csv", index=False)
    p02 = {p.name[:2]: p for p in plan_chapters(NOTEBOOKS, other)}["02"]
    assert p02.runs and "2. How consistent is the PSSM? Cronbach's alpha" in p02.skipped
    text = format_plan(plan_chapters(NOTEBOOKS, other))
    assert "skip '2. How consistent is the PSSM? Cronbach's alpha': it needs the scale pssm" in text
    assert "05_belonging_and_attainment: skipped (it needs the scale pssm; the columns attainment" in text


def test_skipped_section_keeps_its_heading_says_why_and_runs_nothing():
    import nbformat

    from belonging_lib.book import skip_sections

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# T\n\n## Keep\n\ntext"),
                nbformat.v4.new_code_cell("a = 1"),
                nbformat.v4.new_markdown_cell("more\n\n## Drop me\n\nabout the sample\n\n### Inner"),
                nbformat.v4.new_code_cell("raise ValueError"),
                nbformat.v4.new_markdown_cell("```\n## fenced, not a heading\n```\n\n## After\n\nback")]
    skip_sections(nb, {"Drop me": "it needs the scale sdq, which your data do not have"})
    text = "\n".join(c.source for c in nb.cells)
    assert [c.source for c in nb.cells if c.cell_type == "code"] == ["a = 1"]
    assert "## Drop me\n\n*This section was skipped on your data: it needs the scale sdq" in text
    assert "about the sample" not in text and "### Inner" not in text and "fenced" not in text
    assert "## After\n\nback" in text and "more" in text
    # a solution's prose skipped with its section: the next section, in the same cell, is no solution
    nb.cells = [nbformat.v4.new_markdown_cell("## Exercises\n\ntext"), nbformat.v4.new_code_cell("raise ValueError"),
                nbformat.v4.new_markdown_cell("The answer.\n\n## References\n\n- A book.",
                                              metadata={"tags": ["solution"]})]
    skip_sections(nb, {"Exercises": "it needs the scale peer"})
    assert nb.cells[-1].source.startswith("## References") and "solution" not in nb.cells[-1].metadata["tags"]


def test_own_data_prose_leaves_out_uncomputed_numbers_and_sample_sentences():
    from belonging_lib.book import _own_data_code, _own_data_prose

    text = ("Alpha is {glue:text}`a:.2f`. The data are synthetic, so no. Last.\n\n"
            "- **Synthetic data.** Made by the simulator.\n- Keep {glue:text}`b`.\n- Gone {glue:text}`skipped`.\n\n"
            "```{admonition} For researchers\n:class: dropdown\n\nICC {glue:text}`n:.3f` here.\n```\n")
    got = _own_data_prose(text, {"a": "0.9", "b": "3", "n": "nan"})
    assert "Alpha is {glue:text}`a:.2f`. Last." in got and "- Keep {glue:text}`b`." in got
    assert "ynthetic" not in got and "Gone" not in got and "ICC" not in got
    assert "{admonition}" not in got            # a directive whose prose all went is left out too
    code = "x = 1  # the synthetic sample\n# how the simulator made it\ny = 2"
    assert _own_data_code(code) == "x = 1\ny = 2"


def test_failed_cell_shows_its_error_and_its_cell(tmp_path):
    from belonging_lib.book import execute_chapters

    src = tmp_path / "src"
    src.mkdir()
    _chapter(src, "", "# 01 · Fails\n\n```{code-cell} ipython3\nx = 1\n```\n\n"
             "```{code-cell} ipython3\ny = x + 1\nraise ValueError('the scale peer has no answers')\n```\n")
    runs = execute_chapters(src, tmp_path / "out", workers=1)
    err = runs[0].error
    line = (src / "01_test.md").read_text().splitlines().index("y = x + 1") + 1
    assert f"code cell 2 (line {line} of 01_test.md): 'y = x + 1', at \"raise ValueError('the scale" in err
    assert "ValueError: the scale peer has no answers" in err
    import nbformat

    nb = nbformat.read(runs[0].path, as_version=4)
    shown = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
             if o.get("output_type") == "error"]
    assert shown and shown[0]["evalue"] == "the scale peer has no answers"


def test_run_advice_uses_command_line_words(tmp_path, capsys):
    raw = pd.read_excel(XLSX, dtype=str, keep_default_na=False)
    raw.loc[4, "Friends 1"] = "Maybe"                       # an answer the codebook does not allow
    raw.to_csv(tmp_path / "form.csv", index=False)
    rc = main(["run", "--data", str(tmp_path / "form.csv"), "--codebook", str(XLSX_CB), "--out", str(tmp_path / "o"),
               "--work", str(tmp_path / "w")])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "--invalid missing" in err and "invalid='missing'" not in err
    assert not re.search(r"simulat|regenerat|sample-data", err, flags=re.I)


@pytest.mark.slow
def test_failed_cell_never_reaches_a_page_of_an_own_data_book(tmp_path):
    """Issue 25: the section gives way to a notice of what failed and what to change; no traceback."""
    from belonging_lib.book import OWN_DATA_NOTICE, build_book, execute_chapters

    src = tmp_path / "src"
    src.mkdir()
    _chapter(src, "", "# 01 · Fails\n\n## Peers\n\n```{code-cell} ipython3\n"
             "raise ValueError('the scale peer has no answers')\n```\n\n## Next\n\nStill here.\n")
    runs = execute_chapters(src, tmp_path / "notebooks", workers=1)        # not contained: the error stays
    assert runs[0].error
    index = build_book(tmp_path / "notebooks", tmp_path / "site", notice=OWN_DATA_NOTICE,
                       chapter_notice=OWN_DATA_NOTICE, own_data=True, glossary=NOTEBOOKS / "glossary.md")
    page = _text(index.parent / "01_test.html")
    assert "This section could not be run on your data. What failed: the scale peer has no answers (ValueError)" in page
    assert "Traceback" not in page and "raise ValueError" not in page and "Still here." in page


@pytest.mark.slow
def test_executed_chapters_kept_beside_an_own_data_book_do_not_say_synthetic(tmp_path):
    """The executed chapters a run on own data keeps under --out (notebooks/) carry the own-data notice,
    not the chapter's boxed note that the data are synthetic."""
    import nbformat

    from belonging_lib.book import OWN_DATA_NOTICE, build_book, execute_chapters

    src = tmp_path / "src"
    src.mkdir()
    _chapter(src, "", "# 01 · Notice\n\n> **All data in this collection are synthetic.** Every pupil was simulated.\n"
             "> No result is evidence about real pupils.\n\n## Peers\n\n```{code-cell} ipython3\n1 + 1\n```\n")
    execute_chapters(src, tmp_path / "notebooks", workers=1)
    build_book(tmp_path / "notebooks", tmp_path / "site", notice=OWN_DATA_NOTICE, chapter_notice=OWN_DATA_NOTICE,
               own_data=True, glossary=NOTEBOOKS / "glossary.md")
    nb = nbformat.read(tmp_path / "notebooks" / "01_test.ipynb", as_version=4)
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "synthetic" not in prose.lower() and "simulated" not in prose and OWN_DATA_NOTICE in prose
    assert "## Peers" in prose and any(c.get("outputs") for c in nb.cells if c.cell_type == "code")


# --------------------------------------------------------------------------- belonging run, end to end
# One run per fixture (module scope): the plan, the chapters, the book. Each takes a few minutes.
RUNS = {
    "spss": ([SAV, SAV_CB], {"02_measuring_belonging": ["A survey tool's export"],
                             "03_who_belongs": ["Step 1: how many parts do the answers suggest?",
                                                "Step 2: confirm the five-part model",
                                                "Step 3: does the questionnaire work the same way for every group?",
                                                "Step 4: which question is unfair?",
                                                "Step 5: only now, compare the groups",
                                                "Does the analysis find what was built in?", "Exercises"],
                             "04_relationships_and_belonging": [
                                 "Relative importance: which relationship goes most with belonging?",
                                 "Checking against the truth",
                                 "Mediation: teacher care -> belonging -> attainment", "Exercises"],
                             "06_belonging_and_mental_health": [
                                 "The high-need band", "Does belonging buffer disadvantage?",
                                 "Protection under adversity, and one caring adult", "Exercises"],
                             "11_using_your_own_data": ["1. Your export and its codebook", "2. Check, then apply",
                                                        "3. Rerunning the analyses: `belonging run`"]}),
    "excel": ([XLSX, XLSX_CB, "--invalid", "missing"],
              {"02_measuring_belonging": ["1. From answers to scores", "A survey tool's export",
                                          "2. How consistent is the PSSM? Cronbach's alpha",
                                          "4. Omega: one factor or more?",
                                          "5. From pupils to schools: is a school's average reliable?", "Exercises"],
               "11_using_your_own_data": ["1. Your export and its codebook", "2. Check, then apply",
                                          "3. Rerunning the analyses: `belonging run`"]}),
}


@pytest.fixture(scope="module", params=sorted(RUNS))
def own_run(request, tmp_path_factory):
    import contextlib
    import io

    name = request.param
    (data, cb, *extra), skipped = RUNS[name]
    out = tmp_path_factory.mktemp(f"run-{name}")
    work = tmp_path_factory.mktemp(f"work-{name}")
    so, se = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(so), contextlib.redirect_stderr(se):
        rc = main(["run", "--data", str(data), "--codebook", str(cb), "--out", str(out), "--work", str(work),
                   "--workers", "2", *extra])
    return {"name": name, "rc": rc, "out": out, "stdout": so.getvalue(), "stderr": se.getvalue(),
            "skipped": skipped, "data": data, "codebook": cb}


def _site_pages(out):
    return sorted((out / "site").rglob("*.html"))


@pytest.mark.slow
def test_run_prints_the_plan_first_naming_what_is_skipped_and_why(own_run):
    out = own_run["stdout"]
    assert own_run["rc"] == 0, own_run["stderr"]
    assert out.index("Plan:") < out.index("Running chapters")
    for chapter, sections in own_run["skipped"].items():
        for heading in sections:
            assert re.search(rf"skip '{re.escape(heading)}': (it needs |it works through the course's sample)", out)
    not_run = {p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.md")} - set(own_run["skipped"])
    assert {"00_start_here", "05_belonging_and_attainment", "07_transitions", "12_tools_for_schools"} <= not_run
    for chapter in sorted(not_run):
        assert re.search(rf"{chapter}: skipped \((it needs|it works through) ", out), chapter
    assert "simulat" not in (out + own_run["stderr"]).lower()


@pytest.mark.slow
def test_run_executes_every_chapter_and_section_the_data_support_without_a_failed_cell(own_run):
    import nbformat

    assert own_run["rc"] == 0, own_run["stderr"]
    executed = sorted(p.stem for p in (own_run["out"] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert executed == sorted(own_run["skipped"])
    for stem in executed:
        nb = nbformat.read(own_run["out"] / "notebooks" / f"{stem}.ipynb", as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(c.get("execution_count") for c in code), stem
        assert not [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"], stem
        prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        for heading in own_run["skipped"][stem]:
            # the heading stays with one line saying why, unless it sits inside a section skipped already
            said = re.search(rf"#+ {re.escape(heading)}\n\n\*This section was skipped on your data: ", prose)
            assert said or not re.search(rf"^#+ {re.escape(heading)}$", prose, flags=re.M), (stem, heading)
        assert 1 <= prose.count("This section was skipped") <= len(own_run["skipped"][stem]), stem
    index = (own_run["out"] / "site" / "index.html").read_text(encoding="utf-8")
    assert "What ran on your data" in index and "data-protection duties" in index


def _site_files(out):
    """Every file of the built site: pages, sources, notebooks, search index, scripts, images."""
    return sorted(p for p in (out / "site").rglob("*") if p.is_file())


#: Sections of chapters 03, 04 and 06 that the SPSS survey's scales (belonging, teacher care and
#: fairness, wellbeing; gender, FSM, SEND) support, and a glue value each must have computed there.
SPSS_SECTIONS_RUN = {
    "03_who_belongs": {"Who belongs least?": "gaps_reading", "First, is the scale fair in every group?": "fair_full",
                       "Then, the gaps": "gap_send", "SEN support and EHCP": "lvl_support_estimate"},
    "04_relationships_and_belonging": {"Teacher and peer relationships": "corr_direction",
                                       "Fairness: does everyone feel treated fairly?": "fair_gap"},
    "06_belonging_and_mental_health": {"Belonging, difficulties and wellbeing": "corr_reading"},
}


@pytest.mark.slow
def test_spss_runs_the_sections_of_03_04_06_its_scales_support(own_run):
    import nbformat

    from belonging_lib.book import _glued_values

    if own_run["name"] != "spss":
        pytest.skip("the SPSS survey's sections")
    for stem, sections in SPSS_SECTIONS_RUN.items():
        assert re.search(rf"  {stem}: runs, ", own_run["stdout"]), stem
        nb = nbformat.read(own_run["out"] / "notebooks" / f"{stem}.ipynb", as_version=4)
        prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        glued = _glued_values(nb)
        for heading, key in sections.items():
            assert re.search(rf"^#+ {re.escape(heading)}$", prose, flags=re.M), (stem, heading)
            assert not re.search(rf"#+ {re.escape(heading)}\n\n\*This section was skipped", prose), (stem, heading)
            assert key in glued and glued[key].strip().lower() not in {"nan", ""}, (stem, key)
    page = _text(own_run["out"] / "site" / "06_belonging_and_mental_health.html")
    assert re.search(r"report better wellbeing: \w+ correlation: 0\.\d\d \(95% CI", page)
    assert "SDQ total difficulties score" not in page and "sdq_total 0.0" not in page
    page = _text(own_run["out"] / "site" / "04_relationships_and_belonging.html")
    assert "teacher care and teacher fairness report more belonging" in page
    assert "bullied" not in page and "listened to." not in page
    page = _text(own_run["out"] / "site" / "03_who_belongs.html")
    assert "the same FSM and gender)" in page and "LGBT is asked" not in page


@pytest.mark.slow
def test_no_file_of_the_book_says_synthetic(own_run):
    import nbformat

    pages = _site_pages(own_run["out"])
    assert len(pages) >= 3
    files = _site_files(own_run["out"])
    assert len(files) > len(pages)
    for f in files:       # bytes, so that no file type is passed over (images cannot hold the word by chance)
        assert b"synthetic" not in f.read_bytes().lower(), f.relative_to(own_run["out"])
    for f in (own_run["out"] / "notebooks").glob("*.ipynb"):   # the executed chapters kept beside the book
        notes = [c.source for c in nbformat.read(f, as_version=4).cells if c.cell_type == "markdown"]
        assert not any(re.search(r"^> \*\*[^*]*synthetic", n, flags=re.I | re.M) for n in notes), f.name
    # no copies of the chapters' sources and no download buttons: the notebooks hold the course's code
    site = own_run["out"] / "site"
    assert not [p for d in ("_sources", "_downloads") for p in (site / d).rglob("*") if p.is_file()]
    assert not any(".ipynb" in p.read_text(encoding="utf-8") for p in pages)


@pytest.mark.slow
def test_no_pupil_id_appears_in_the_book(own_run):
    cb = read_codebook(own_run["codebook"])
    raw = _read(own_run["data"], cb).data
    id_col = cb.loc[cb["variable"] == "pupil_id", "source_name"].iloc[0]
    ids = set(raw[id_col].dropna().astype(str))
    assert len(ids) > 500 and any(i.startswith("0") for i in ids)
    files = _site_files(own_run["out"]) + list((own_run["out"] / "notebooks").glob("*.ipynb"))
    pattern = re.compile(r"(?<![\w.])(\d{5,6})(?![\w.])")
    for f in files:
        found = set(pattern.findall(f.read_bytes().decode("utf-8", errors="replace"))) & ids
        assert not found, (f.name, sorted(found)[:3])


@pytest.mark.slow
@pytest.mark.parametrize("data,cb,school", [(SAV, SAV_CB, "0520"), (XLSX, XLSX_CB, "0093")])
def test_report_school_with_leading_zero_on_both_fixtures(tmp_path, capsys, data, cb, school):
    out = tmp_path / "r.html"
    rc = main(["report", "--data", str(data), "--codebook", str(cb), "--school", school, "--out", str(out),
               "--invalid", "missing"])
    assert rc == 0, capsys.readouterr().err
    assert f"School {school}" in _text(out)


# --------------------------------------------------------------------------- no sentence about what did not run
#: How the chapters name each scale of the course in prose (words of that scale only), by the prefix of
#: its item columns; written here from the chapters' text, not taken from the library's screen.
SCALE_NAMES = {
    "pssm": r"\bPSSM\b|Psychological Sense of School Membership",
    "pisa_belong": r"\bPISA\b",
    "sdq": r"\bSDQ\b|Strengths and Difficulties|difficulties",
    "swemwbs": r"WEMWBS|wellbeing|well-being",
    "tr_care": r"teacher care|cared for",
    "tr_fair": r"teacher fairness|treated fairly",
    "tr_listen": r"listened to|listen to",
    "peer": r"peer acceptance|peer relationships?|(?:with|by) peers\b|\bfriends\b",
    "bully": r"\bbull(?:y|ied|ying)\b",
    "voice": r"pupil voice",
}
#: Pupil groups, by the column that records them.
GROUP_NAMES = {"eal": r"\bEAL\b|additional language", "ethnicity": r"\bethnic", "lgbt": r"\bLGBT",
               "adversity": r"\badversity\b", "fsm": r"\bFSM\b|free school meals"}


def _prose_blocks(page: str) -> list[tuple[bool, str]]:
    """The sentences of a page outside code, scripts, styles and navigation, each with whether it is
    (part of) a heading."""
    from html.parser import HTMLParser

    skip = {"pre", "code", "script", "style", "head", "nav"}
    block = {"p", "li", "h1", "h2", "h3", "h4", "td", "th", "figcaption", "div", "caption"}

    class Prose(HTMLParser):
        def __init__(self):
            super().__init__()
            self.depth, self.heading, self.blocks = 0, False, [(False, "")]

        def handle_starttag(self, tag, attrs):
            self.depth += tag in skip
            if tag in block:
                self.heading = tag in {"h1", "h2", "h3", "h4"}
                self.blocks.append((self.heading, ""))

        def handle_endtag(self, tag):
            self.depth -= tag in skip and self.depth > 0
            if tag in block:
                self.heading = False
                self.blocks.append((False, ""))

        def handle_data(self, data):
            if not self.depth:
                head, text = self.blocks[-1]
                self.blocks[-1] = (head, text + data)

    parser = Prose()
    parser.feed(page)
    out = []
    for head, text in parser.blocks:
        text = re.sub(r"\s+", " ", text).strip()
        out += [(head, x) for x in re.split(r"(?<=[.!?])\s+(?=[A-Z(])", text) if x]
    return out


def _names_of_absent(sentence: str, columns: set[str]) -> list[str]:
    found = [s for s, w in SCALE_NAMES.items() if not any(c.startswith(s + "_") for c in columns)
             and re.search(w, sentence, flags=re.I)]
    found += [g for g, w in GROUP_NAMES.items() if g not in columns and re.search(w, sentence)]
    return found


@pytest.mark.slow
def test_no_sentence_names_a_scale_group_or_section_the_run_did_not_compute(own_run):
    """The two fixtures record different scales (belonging, teacher care and fairness, wellbeing; a
    PISA-style belonging block, peers and bullying): on every page, and in every piece of Markdown that
    a chapter glues into its prose, no sentence names a scale or pupil group the survey does not record,
    and no sentence but its own heading names a section that was skipped.

    Headings are left out of the first check: a section that ran keeps the course's heading
    ("Teacher and peer relationships" on a survey with teacher scales only) while its prose says what
    it computed."""
    import nbformat

    assert own_run["rc"] == 0, own_run["stderr"]
    columns = set(read_codebook(own_run["codebook"])["variable"])
    bad = []
    for stem, skipped in own_run["skipped"].items():
        page = (own_run["out"] / "site" / f"{stem}.html").read_text(encoding="utf-8")
        blocks = _prose_blocks(page)
        sentences = [x for head, x in blocks if not head]
        nb = nbformat.read(own_run["out"] / "notebooks" / f"{stem}.ipynb", as_version=4)
        glued = _glued_markdown_values(nb)
        for where, sentence in [("page", s) for s in sentences] + [(f"glue {k}", s) for k, v in glued.items()
                                                                   for s in re.split(r"(?<=[.!?])\s+", v)]:
            if "This section was skipped" in sentence or any(sentence in h for h in skipped):
                continue
            for name in _names_of_absent(sentence, columns):
                bad.append((stem, where, name, sentence[:120]))
        for heading in (h for h in skipped if len(h) > 12):
            title = re.sub(r"^\d+\.\s*", "", heading).replace("`", "")
            # the note under a section that ran only in part names the sub-section that did not run
            mentions = [
                x for _, x in blocks if title in x.replace("`", "") and not x.startswith("This section ran only in part")
            ]
            assert len(mentions) <= 1, (stem, heading, mentions)
    assert not bad, bad
    # the screen is not empty: each run's pages do name the scales it recorded
    page = (own_run["out"] / "site" / "02_measuring_belonging.html").read_text(encoding="utf-8")
    text = " ".join(x for _, x in _prose_blocks(page))
    recorded = [s for s in SCALE_NAMES if any(c.startswith(s + "_") for c in columns)]
    assert any(re.search(SCALE_NAMES[s], text, flags=re.I) for s in recorded), recorded


def _glued_markdown_values(nb) -> dict[str, str]:
    """Each Markdown glue of an executed notebook with its text (a chapter's computed sentences)."""
    out = {}
    for cell in nb.cells:
        for o in cell.get("outputs", []) if cell.cell_type == "code" else []:
            meta = o.get("metadata", {}).get("scrapbook")
            text = o.get("data", {}).get("text/markdown")
            if meta and text is not None:
                out[meta["name"]] = "".join(text) if isinstance(text, list) else text
    return out


def test_own_data_prose_leaves_out_paragraphs_naming_scales_and_groups_the_survey_lacks():
    from belonging_lib.book import _absent_names, _own_data_prose

    text = ("Belonging is {glue:text}`a:.2f`.\n\nShort scales are too noisy for one pupil's wellbeing. They suit groups.\n\n"
            "- Pupils with EAL score {glue:text}`a`.\n- Relationships with peers matter.\n"
            "- **A gap is no cause.** Pupils with EAL may be treated differently.\n- Code `sdq_total` is no prose.\n\n"
            "```{admonition} What research says\n:class: evidence\n\nThe PSSM's negative items.\n\nSources:\n\n"
            "- Ye (2014). The PSSM.\n```\n")
    survey = ["pupil_id", "pssm_01", "peer_1", "eal"]
    got = _own_data_prose(text, {"a": "0.9"}, _absent_names(survey))
    assert "Belonging is" in got and "EAL" in got and "peers matter" in got and "PSSM" in got
    assert "wellbeing" not in got and "They suit groups." in got    # the sentence, not its paragraph
    assert "sdq_total" in got                                           # a name in code is not prose
    got = _own_data_prose(text, {"a": "0.9"}, _absent_names(["pupil_id", "swemwbs_1", "sdq_1"]))
    assert "wellbeing" in got
    assert "EAL" not in got and "peers" not in got and "PSSM" not in got and "Ye (2014)" not in got
    assert "- **A gap is no cause.**\n" in got + "\n"                    # the item stays, less the sentence
    assert "{admonition}" not in got and "Sources:" not in got   # only a lead-in left: the box goes
    assert _absent_names(["pupil_id"] + [f"{s}_1" for s in ("pssm", "pisa_belong", "sdq", "swemwbs", "tr_care",
                                                           "tr_fair", "tr_listen", "peer", "bully", "engage",
                                                           "voice", "parent_engage")]
                         + ["fsm", "send", "eal", "ethnicity", "lgbt", "adversity"]) is None
