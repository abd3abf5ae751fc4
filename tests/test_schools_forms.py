"""The other printable forms: a teacher's self-reflection and a survey for parents and carers."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from belonging_lib import DataError
from belonging_lib.cli import main
from belonging_lib.instruments import list_instruments, load_instrument
from belonging_lib.schools.questionnaire import FORMS, form_items, write_form
from belonging_lib.scoring import score


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
