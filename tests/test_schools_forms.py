"""The other printable forms (teacher reflection, parent survey) and online-form exports read as sheets."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from belonging_lib import ColumnError, DataError
from belonging_lib.cli import main
from belonging_lib.instruments import list_instruments, load_instrument
from belonging_lib.schools.online_forms import question_key, read_form_export
from belonging_lib.schools.questionnaire import FORMS, form_items, questionnaire_items, write_form
from belonging_lib.scoring import score

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "data" / "examples"


# ------------------------------------------------------------------ the teacher's reflection and the parent survey


@pytest.mark.parametrize(
    "form,registry_id,k", [("teacher_reflection", "teacher_reflection", 4), ("parent", "parent_partnership", 5)]
)
def test_the_other_forms_are_in_the_registry_and_marked_not_yet_validated(form, registry_id, k):
    assert registry_id in list_instruments()
    inst = load_instrument(registry_id)
    assert FORMS[form][0] == registry_id and inst.response_range == (1, k)
    assert "not yet validated" in inst.name.lower() and "CC BY 4.0" in inst.licence
    assert "not yet validated" in inst.citation.lower()
    items = form_items(form)
    assert list(items["id"]) == list(inst.item_ids) and items["text"].str.len().between(10, 100).all()
    assert list(items["part"].unique()) == list(inst.subscales)
    assert [s.id for s in inst.scores][-1].endswith("_total")


def test_the_parent_survey_is_not_the_sample_datas_parent_scale():
    # parent_engage (parent_staff.yaml) scores the synthetic sample data and stores no wording; the survey
    # a school prints is its own instrument, with the same agreement labels
    engage, survey = load_instrument("parent_engage"), load_instrument("parent_partnership")
    assert not set(engage.item_ids) & set(survey.item_ids)
    assert engage.labels == survey.labels


def test_teacher_reflection_scoring_hand_worked():
    inst = load_instrument("teacher_reflection")
    # teacher 1: knowing 4, 4, 3; place 2, blank, blank (1 of 3: no part score); everything else 3
    # teacher 2: every answer 1 except item 15 = 4
    t1 = dict(zip(inst.item_ids, [4, 4, 3, 2, None, None] + [3] * 9))
    t2 = dict(zip(inst.item_ids, [1] * 14 + [4]))
    s = score(pd.DataFrame([t1, t2]), inst)
    assert s.loc[0, "tref_knowing"] == pytest.approx(11 / 3) and np.isnan(s.loc[0, "tref_place"])
    assert s.loc[0, "tref_total"] == pytest.approx((11 + 2 + 27) / 13)
    assert s.loc[1, "tref_noticing"] == pytest.approx(6 / 3) and s.loc[1, "tref_total"] == pytest.approx(18 / 15)


def test_parent_survey_scoring_hand_worked_with_text_answers():
    inst = load_instrument("parent_partnership")
    answers = [
        "Strongly agree",
        "Agree",
        "agree ",
        "Disagree",
        "Neither agree nor disagree",
        None,
        "Strongly disagree",
        2,
        3,
        None,
    ]
    s = score(pd.DataFrame([dict(zip(inst.item_ids, answers))]), inst)
    assert s.loc[0, "parp_welcome"] == pytest.approx(13 / 3)
    assert s.loc[0, "parp_informed"] == pytest.approx(5 / 2)
    assert s.loc[0, "parp_child"] == pytest.approx(6 / 3)
    assert s.loc[0, "parp_total"] == pytest.approx(24 / 8)


@pytest.mark.parametrize("form", list(FORMS))
def test_questionnaire_command_writes_each_other_form(form, tmp_path, capsys):
    assert main(["questionnaire", "--instrument", form, "--out", str(tmp_path)]) == 0
    inst = load_instrument(FORMS[form][0])
    page = (tmp_path / f"{inst.id}.html").read_text(encoding="utf-8")
    assert "@media print" in page and "size: A4" in page and page.count('class="item"') == inst.n_items
    for text in form_items(form)["text"]:
        assert text.replace("'", "&#39;") in page
    for _, label in inst.labels:
        assert f">{label}<" in page
    sheet = pd.read_csv(tmp_path / f"data_entry_{inst.id}.csv")
    assert list(sheet.columns)[-inst.n_items :] == list(inst.item_ids) and len(sheet) == 0
    codes = pd.read_csv(tmp_path / f"codes_{inst.id}.csv")
    assert list(codes["column"]) == list(inst.item_ids)
    assert not (tmp_path / "questionnaire_primary.html").exists()  # only the form asked for
    assert "not yet validated" in capsys.readouterr().out


def test_the_other_forms_print_on_one_a4_side_each(tmp_path):
    exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if exe is None:
        pytest.skip("no Chromium to print with")
    for form in FORMS:
        html = write_form(tmp_path / "f", instrument=form)[0]
        pdf = tmp_path / f"{html.stem}.pdf"
        subprocess.run(
            [
                exe,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-pdf-header-footer",
                f"--print-to-pdf={pdf}",
                html.resolve().as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        assert len(re.findall(rb"/Type\s*/Page[^s]", pdf.read_bytes())) == 1, form


def test_an_unknown_form_is_refused(tmp_path):
    with pytest.raises(DataError, match="teacher_reflection"):
        write_form(tmp_path, instrument="governors")


# ------------------------------------------------------------------ online forms: Microsoft Forms and Google Forms


def _export(version="secondary", n=12, seed=1, **extra):
    """A form export: service columns, then one column per question headed by its text, answers as labels."""
    items = questionnaire_items(version)
    inst = load_instrument(f"class_{version}")
    rng = np.random.default_rng(seed)
    codes = rng.integers(inst.response_min, inst.response_max + 1, size=(n, len(items)))
    labels = dict(inst.labels)
    frame = pd.DataFrame(
        {
            "ID": range(1, n + 1),
            "Email": [f"kid{i}@example.invalid" for i in range(n)],
            "Name": [f"Kid {i}" for i in range(n)],
        }
    )
    for j, text in enumerate(items["text"]):
        frame[text] = [labels[int(c)] for c in codes[:, j]]
    for k, v in extra.items():
        frame[k] = v
    return frame, pd.DataFrame(codes, columns=items["id"])


def test_the_form_reader_knows_the_same_versions_as_the_questionnaire():
    from belonging_lib.schools import online_forms, questionnaire

    assert online_forms.VERSIONS == questionnaire.VERSIONS


def test_question_text_is_matched_whatever_the_case_spacing_and_punctuation():
    assert question_key("I feel safe at school.") == question_key("  i FEEL safe  at school ")
    assert question_key("2) My teacher treats me fairly!") == question_key("My teacher treats me fairly")
    assert question_key("Pupils\u2019 voice") == question_key("Pupils' voice")
    assert question_key("I feel safe at school.") != question_key("I feel safe at home.")


def test_a_microsoft_forms_export_becomes_the_sheet_with_the_codes(capsys):
    raw, truth = _export()
    raw.columns = [c.upper() if k % 2 else c.rstrip(".") for k, c in enumerate(raw.columns)]  # retyped headings
    export = read_form_export(raw, what="class")
    sheet, notes = export.data, export.notes
    inst = load_instrument("ocb_secondary")
    assert list(sheet.columns) == list(inst.item_ids) and list(sheet.index) == list(range(2, 14))
    assert (sheet.to_numpy(dtype=int) == truth.to_numpy()).all()
    said = " ".join(notes)
    assert "secondary version, 12 responses" in said and f"{12 * 17} text answers" in said
    assert "'EMAIL'" in said and "'Name'" in said and "'ID'" in said
    assert "@example.invalid" not in said and "Kid 0" not in said


def test_a_google_forms_grid_export_is_read_and_blank_answers_stay_blank():
    items = questionnaire_items("primary")
    raw = pd.DataFrame(
        {
            "Timestamp": ["2026/09/22 09:12:36", "2026/09/22 09:14:13"],
            "Class": ["4B", "4B"],
            "Pupil code": ["P01", "P02"],
        }
    )
    for text in items["text"]:
        raw[f"Tick one box for each sentence. [{text}]"] = ["Yes", "sometimes"]
    raw.iloc[1, 3] = np.nan
    export = read_form_export(raw)
    sheet, notes = export.data, export.notes
    assert list(sheet.columns[:2]) == ["pupil_ref", "class"] and sheet["pupil_ref"].tolist() == ["P01", "P02"]
    # rows as the spreadsheet numbers them: the column names are row 1, the first response row 2
    assert sheet.loc[2, "ocbp_01"] == 3 and pd.isna(sheet.loc[3, "ocbp_01"]) and sheet.loc[3, "ocbp_17"] == 2
    assert "'Timestamp'" in " ".join(notes)


def test_an_unmatched_question_is_an_error_that_names_it():
    raw, _ = _export(**{"What is your favourite lesson?": "Art"})
    with pytest.raises(ColumnError, match=r"'What is your favourite lesson\?' \(column 21"):
        read_form_export(raw)
    raw, _ = _export()
    raw = raw.drop(columns=[questionnaire_items("secondary")["text"].iloc[4]])
    with pytest.raises(ColumnError, match=r"no column for .*I have friends at school I can count on.*ocbs_05"):
        read_form_export(raw)


def test_an_answer_that_is_not_a_label_names_the_column_row_and_value():
    raw, _ = _export()
    col = questionnaire_items("secondary")["text"].iloc[10]
    raw.loc[3, col] = "Kind of"
    with pytest.raises(DataError) as err:
        read_form_export(raw, what="class")
    msg = str(err.value)
    assert repr(col) in msg and "row 5" in msg and "'Kind of'" in msg and "invalid=" not in msg


def test_class_report_reads_each_synthetic_example_export(tmp_path, capsys):
    for name, version, n in (("microsoft", "secondary", 14), ("google", "primary", 12)):
        path = EXAMPLES / f"forms_export_{name}_synthetic.csv"
        out = tmp_path / name
        assert main(["class-report", "--data", str(path), "--out", str(out)]) == 0
        said = capsys.readouterr()
        assert f"({version} version, {n} pupils)" in said.out
        assert "online form's export" in said.err
        page = (out / "class_report.html").read_text(encoding="utf-8")
        assert "synthetic" in page.lower()
        raw = pd.read_csv(path, encoding="utf-8-sig", dtype=str)
        for col in ("Email", "Name"):
            if col in raw:  # personal data: never printed, never in a file written
                for value in raw[col]:
                    assert value not in said.out + said.err
                    assert not [p for p in out.rglob("*") if p.is_file() and value in p.read_text(errors="ignore")]
    # the Google example is coded (pupil codes): its answers that need a response are listed per pupil
    listed = (tmp_path / "google" / "answers_needing_response.html").read_text(encoding="utf-8")
    assert "P07" in listed and "worried" in listed


def test_the_examples_are_labelled_synthetic_and_documented():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in ("microsoft", "google"):
        path = EXAMPLES / f"forms_export_{name}_synthetic.csv"
        assert pd.read_csv(path, encoding="utf-8-sig")["synthetic"].all()
        assert re.search(rf"class-report --data data/examples/{path.name}", readme)
    assert "synthetic" in (EXAMPLES / "README.md").read_text(encoding="utf-8").lower()
