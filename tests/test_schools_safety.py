"""Safety of the tools for schools with named pupils (issue 24's safety items; issue 27's school-tool cases).

* answers that need an adult's response are listed per pupil, whatever the scores, by every tool that
  reads pupil answers; an anonymous survey says it cannot do this;
* a rerun of the support plans never overwrites a plan staff have edited, and says what changed;
* no CSV or Excel cell written by the library can run as a formula;
* ``--out`` inside a git working tree (or empty) is refused; rounds that match few pupils stop with the
  likely cause; file names from pupil references are safe and unique; impossible reliabilities are refused
  and a band that cannot be computed gives no verdict;
* the school tools read files through the library's reader (stray quotes, encodings, delimiters, empty
  files, title rows, the answers' sheet found by its columns).
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from belonging_lib import DataError
from belonging_lib.cli import main
from belonging_lib.instruments import load_instrument
from belonging_lib.schools.questionnaire import questionnaire_items, simulate_responses
from belonging_lib.schools.support_plan import support_flags, write_support_plans

INST = load_instrument("ocb_secondary")
N = INST.n_items
N_PRIMARY = load_instrument("ocb_primary").n_items
ROOT = Path(__file__).resolve().parents[1]


def _pupil(ref, keyed, **answers):
    """A sheet row whose keyed values (one per item) are ``keyed``; ``answers`` overrides raw codes by item id."""
    row = {"pupil_ref": ref}
    for item, v in zip(INST.item_ids, keyed):
        row[item] = 6 - v if item in INST.reverse_items else v
    row.update(answers)
    return row


def _class_with_victim(n=24, seed=3):
    """A class of ``n`` simulated pupils plus V01: high scores, but picked on and not feeling safe."""
    d = simulate_responses(n_classes=1, class_size=n, seed=seed).drop(columns=["synthetic"])
    d["pupil_ref"] = [f"P{i:02d}" for i in range(1, n + 1)]
    victim = _pupil("V01", [5] * N, ocbs_07=5, ocbs_11=1, ocbs_13=1)
    d = pd.concat([d, pd.DataFrame([victim])], ignore_index=True)
    d.index = range(1, len(d) + 1)
    return d


# ------------------------------------------------------------------ 1. answers that need a response


def test_instruments_mark_the_answers_that_need_a_response():
    from belonging_lib.schools.safeguarding import needs_response_items

    for version, bully, safe in (("secondary", "ocbs_07", "ocbs_11"), ("primary", "ocbp_07", "ocbp_11")):
        marks = needs_response_items(version).set_index("item")
        assert marks.loc[bully, "concern"] == "bullying" and marks.loc[safe, "concern"] == "not_safe"
        assert "no_adult" in set(marks["concern"])
        # the last question asks for an adult to talk to when worried: its low answers need a response
        last = questionnaire_items(version).iloc[-1]
        assert last["part"] == "staff" and not last["reverse"] and "worried" in last["text"]
        assert marks.loc[last["id"], "concern"] == "no_trusted_adult"
        assert set(marks.loc[last["id"], "codes"]) == ({1} if version == "primary" else {1, 2})


def test_a_victim_with_high_scores_is_listed_though_not_flagged():
    d = _class_with_victim()
    res = support_flags(d, reliability={"staff": 0.8, "total": 0.8})
    assert not res.pupils.loc["V01", "flagged"]  # the statistics alone would miss this pupil
    mine = res.needs_response[res.needs_response["pupil_ref"] == "V01"]
    assert set(mine["concern"]) == {"bullying", "not_safe"}
    assert mine["what_to_do"].str.contains("anti-bullying").any()
    assert mine["what_to_do"].str.contains("immediately").all()
    assert "Some pupils pick on me" in res.pupils.loc["V01", "needs_response"]


def test_primary_answers_are_found_by_code():
    from belonging_lib.schools.safeguarding import answers_needing_response

    d = pd.DataFrame({f"ocbp_{i:02d}": [2, 3] for i in range(1, N_PRIMARY + 1)})
    d["pupil_ref"] = ["A", "B"]
    d.loc[1, "ocbp_07"] = 3  # "Someone at school keeps being mean to me": Yes
    d.loc[0, "ocbp_07"] = 1
    d.index = [1, 2]
    found = answers_needing_response(d, version="primary")
    assert found[["pupil_ref", "concern", "answer"]].values.tolist() == [["B", "bullying", "Yes"]]


def test_no_adult_to_talk_to_is_listed_whatever_the_scores():
    from belonging_lib.schools.safeguarding import answers_needing_response

    # every other answer as positive as it can be: only the trusted-adult answer stands out
    d = pd.DataFrame([_pupil("A1", [5] * N), _pupil("A2", [5] * N, ocbs_17=2), _pupil("A3", [5] * N, ocbs_17=3)])
    d.index = [1, 2, 3]
    found = answers_needing_response(d, version="secondary")
    assert found[["pupil_ref", "item", "concern", "answer"]].values.tolist() == [
        ["A2", "ocbs_17", "no_trusted_adult", "Disagree"]
    ]
    assert "immediately" in found["what_to_do"].iloc[0] and "worried" in found["question"].iloc[0]


def test_support_plan_command_lists_the_victim(tmp_path, capsys):
    d = _class_with_victim()
    d.to_csv(tmp_path / "now.csv", index=False)
    assert (
        main(
            [
                "support-plan",
                "--data",
                str(tmp_path / "now.csv"),
                "--reliability",
                "0.8",
                "--out",
                str(tmp_path / "plans"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "NEED A RESPONSE TODAY" in out and "V01" not in out
    page = next((tmp_path / "plans").glob("plans_*/answers_needing_response.html")).read_text()
    assert (
        "V01" in page and "Some pupils pick on me again and again." in page and "designated safeguarding lead" in page
    )
    assert "keeping-children-safe-in-education" in page


def test_class_report_and_audit_survey_list_them_on_a_named_survey(tmp_path, capsys):
    d = _class_with_victim()
    d.to_csv(tmp_path / "c.csv", index=False)
    assert main(["class-report", "--data", str(tmp_path / "c.csv"), "--out", str(tmp_path / "r")]) == 0
    assert "NEED A RESPONSE TODAY" in capsys.readouterr().out
    assert "V01" in (tmp_path / "r" / "answers_needing_response.html").read_text()
    assert "V01" not in (tmp_path / "r" / "class_report.html").read_text()
    from belonging_lib.schools.audit import simulate_audit

    simulate_audit(n_raters=5).to_csv(tmp_path / "ratings.csv", index=False)
    assert (
        main(
            [
                "audit",
                "--data",
                str(tmp_path / "ratings.csv"),
                "--survey",
                str(tmp_path / "c.csv"),
                "--out",
                str(tmp_path / "a"),
            ]
        )
        == 0
    )
    assert "V01" in (tmp_path / "a" / "answers_needing_response.html").read_text()


def test_an_anonymous_survey_says_it_cannot_list_pupils(tmp_path, capsys):
    d = _class_with_victim().drop(columns=["pupil_ref"])
    d.to_csv(tmp_path / "anon.csv", index=False)
    assert main(["class-report", "--data", str(tmp_path / "anon.csv"), "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "anonymous" in out and "cannot be traced" in out and "anti-bullying lead" in out
    assert not (tmp_path / "r" / "answers_needing_response.html").exists()


# ------------------------------------------------------------------ 2. pastoral records never lost


def test_rerun_keeps_an_edited_plan_and_says_what_changed(tmp_path, capsys):
    import docx

    d = _class_with_victim(n=30, seed=4)
    low = [_pupil(f"L{i}", [1] * N) for i in range(3)]
    first = pd.concat([d, pd.DataFrame(low)], ignore_index=True)
    first.to_csv(tmp_path / "autumn.csv", index=False)
    out = tmp_path / "pastoral"
    assert main(["support-plan", "--data", str(tmp_path / "autumn.csv"), "--out", str(out)]) == 0
    (run1,) = [p for p in out.iterdir() if p.is_dir()]
    plan = run1 / "support_plan_L0.docx"
    doc = docx.Document(str(plan))
    doc.add_paragraph("Agreed with L0 and mum: lunch club on Tuesdays (Ms Khan).")
    doc.save(str(plan))
    edited = plan.read_bytes()
    # second round: L0 still low, L1 recovered, a new pupil L9 low
    second = pd.concat(
        [d, pd.DataFrame([low[0], _pupil("L1", [5] * N), low[2], _pupil("L9", [1] * N)])], ignore_index=True
    )
    second.to_csv(tmp_path / "spring.csv", index=False)
    capsys.readouterr()
    assert main(["support-plan", "--data", str(tmp_path / "spring.csv"), "--out", str(out)]) == 0
    msg = capsys.readouterr().out
    assert plan.read_bytes() == edited  # the edit is intact, byte for byte
    assert "lunch club" in "\n".join(p.text for p in docx.Document(str(plan)).paragraphs)
    run2 = [p for p in out.iterdir() if p.is_dir() and p != run1]
    assert len(run2) == 1
    assert "1 newly flagged" in msg and "no longer flagged" in msg and "edited" in msg
    new_plan = "\n".join(p.text for p in docx.Document(str(run2[0] / "support_plan_L0.docx")).paragraphs)
    assert str(plan) in new_plan  # the new plan names the edited one
    summary = (run2[0] / "support_summary.html").read_text()
    assert re.search(r"Newly flagged \(1\): L9", summary) and re.search(r"No longer flagged \(\d+\):[^<]*L1", summary)


# ------------------------------------------------------------------ 3. formulas neutralised everywhere

_FORMULAS = ['=HYPERLINK("http://x","y")', "=1+1"]


def _is_formula_text(v) -> bool:
    return (
        isinstance(v, str)
        and v[:1] in ("=", "+", "-", "@", "\t", "\r")
        and not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", v)
    )


def _csv_cells(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return [c for row in csv.reader(fh) for c in row]


def _xlsx_cells(path):
    import openpyxl

    wb = openpyxl.load_workbook(path)
    return [c for ws in wb.worksheets for row in ws.iter_rows() for c in row]


def test_safe_writers_neutralise_text_but_keep_numbers(tmp_path):
    from belonging_lib._safe_write import write_csv, write_excel

    frame = pd.DataFrame(
        {"name": _FORMULAS + ["@x", "-2"], "change": [-1.5, 2.0, -3.0, 0.0], "=col": ["+44 20", "\tx", "ok", None]}
    )
    write_csv(frame, tmp_path / "f.csv", index=False)
    cells = _csv_cells(tmp_path / "f.csv")
    assert not [c for c in cells if _is_formula_text(c)]
    assert "-1.5" in cells and "-2" in cells and "'=1+1" in cells
    write_excel({"a": frame}, tmp_path / "f.xlsx")
    xl = _xlsx_cells(tmp_path / "f.xlsx")
    assert not [c.value for c in xl if c.data_type == "f" or _is_formula_text(c.value)]
    assert -1.5 in [c.value for c in xl]


def test_no_writer_bypasses_the_safe_writer():
    """Every CSV and Excel file of the library is written through belonging_lib._safe_write."""
    offenders = []
    for p in (ROOT / "belonging_lib").rglob("*.py"):
        if p.name == "_safe_write.py":
            continue
        for k, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#")[0]
            if (
                re.search(r"\.to_csv\(|\.to_excel\(|ExcelWriter\(|csv\.writer\(|\.save\(.*\.xlsx", code)
                and "astype(str).to_csv" not in code
            ):
                offenders.append(f"{p.relative_to(ROOT)}:{k}")
    assert not offenders, offenders


def test_support_plan_files_hold_no_formula(tmp_path):
    d = _class_with_victim()
    low = pd.DataFrame([_pupil(_FORMULAS[1], [1] * N), _pupil("L2", [1] * N)])
    d = pd.concat([d, low], ignore_index=True)
    d["name"] = [_FORMULAS[0]] * len(d)
    d["adjustment"] = [_FORMULAS[1]] * len(d)
    d.to_csv(tmp_path / "now.csv", index=False)
    assert main(["support-plan", "--data", str(tmp_path / "now.csv"), "--out", str(tmp_path / "o")]) == 0
    flags = next((tmp_path / "o").glob("plans_*/flags.csv"))
    cells = _csv_cells(flags)
    assert "'=1+1" in cells and "'" + _FORMULAS[0] in cells
    assert not [c for c in cells if _is_formula_text(c)]


def test_mapped_files_hold_no_formula(tmp_path):
    from belonging_lib.cli import map_to_layout

    (tmp_path / "cb.csv").write_text(
        "file,variable,label,type,allowed,instrument,reverse,synthetic,source_name,value_labels,missing_codes\n"
        "survey.csv,pupil_id,Pupil,id,,,0,no,ResponseId,,\n"
        "survey.csv,note,Note,,,,0,no,Note,,\n"
        "survey.csv,change,Change,continuous,,,0,no,Change,,\n",
        encoding="utf-8",
    )
    (tmp_path / "raw.csv").write_text(
        'ResponseId,Note,Change\nP1,"=HYPERLINK(""http://x"",""y"")",-2\nP2,=1+1,1.5\n=1+1,@x,-0.5\n', encoding="utf-8"
    )
    map_to_layout(tmp_path / "raw.csv", tmp_path / "cb.csv", tmp_path / "out")
    cells = _csv_cells(tmp_path / "out" / "survey.csv")
    assert "'=1+1" in cells and {"-2", "-2.0"} & set(cells) and "-0.5" in cells
    assert not [c for c in cells if _is_formula_text(c)]


def test_template_workbooks_hold_no_formula(tmp_path):
    from belonging_lib.schools.audit import write_audit_template
    from belonging_lib.schools.questionnaire import write_questionnaire

    paths = write_questionnaire(tmp_path / "q") + write_audit_template(tmp_path / "a")
    for p in paths:
        if p.suffix == ".xlsx":
            assert not [c.value for c in _xlsx_cells(p) if c.data_type == "f" or _is_formula_text(c.value)], p
        elif p.suffix == ".csv":
            assert not [c for c in _csv_cells(p) if _is_formula_text(c)], p


#: Every function of the library that writes a CSV or Excel file (through the safe writer), by module,
#: and the cases below that feed formula text through it.  A new writer fails the coverage test until it
#: has a case.
_WRITERS = {
    "belonging_lib/cli.py": {"map"},
    "belonging_lib/schools/support_plan.py": {
        "support-plan",
        "support-plan-forms-microsoft",
        "support-plan-forms-google",
    },
    "belonging_lib/schools/audit.py": {"audit-report", "templates"},
    "belonging_lib/schools/questionnaire.py": {"templates"},
    "belonging_lib/trials/trial_report.py": {"trial-report"},
    # synthetic data only, no text a user gives: its files are checked for formulas all the same
    "belonging_lib/simulate/sample.py": {"sample-data"},
}


def _formula_text_cells(paths):
    """(file name, cell) of every cell of ``paths`` that a spreadsheet could run as a formula."""
    bad = []
    for p in paths:
        if p.suffix == ".xlsx":
            bad += [(p.name, c.value) for c in _xlsx_cells(p) if c.data_type == "f" or _is_formula_text(c.value)]
        elif p.name.endswith(".csv"):
            bad += [(p.name, c) for c in _csv_cells(p) if _is_formula_text(c)]
    return bad


def _table_files(folder):
    return sorted(p for p in Path(folder).rglob("*") if p.name.endswith((".csv", ".xlsx")))


def _forms_export(service):
    """An online form's export of 16 pupils whose pupil code and class are formula text (answers as words)."""
    items = questionnaire_items("secondary")
    labels = dict(INST.labels)
    rng = np.random.default_rng(5)
    codes = rng.integers(1, 6, size=(16, len(items)))
    codes[:3] = 1  # three low pupils: flagged, so their codes reach flags.csv
    codes[:3, [i for i, r in enumerate(items["reverse"]) if r]] = 5
    first = {
        "microsoft": {
            "ID": range(1, 17),
            "Start time": "1/9/26 09:00",
            "Completion time": "1/9/26 09:10",
            "Email": "anonymous",
            "Name": _FORMULAS[0],
        },
        "google": {"Timestamp": ["2026/09/01 9:00:00 AM GMT+1"] * 16},
    }[service]
    frame = pd.DataFrame(first)
    frame["Pupil code"] = [_FORMULAS[k % 2] + f"{k}" for k in range(16)]
    frame["Class"] = _FORMULAS[0]
    for j, text in enumerate(items["text"]):
        frame[text] = [labels[int(c)] for c in codes[:, j]]
    return frame


def _case_support_plan(tmp_path):
    d = _class_with_victim()
    low = pd.DataFrame([_pupil(_FORMULAS[1], [1] * N), _pupil("-L2", [1] * N), _pupil("@L3", [1] * N)])
    d = pd.concat([d, low], ignore_index=True)
    d["class"] = _FORMULAS[0]
    d["name"] = [_FORMULAS[0]] * len(d)
    d["adjustment"] = [_FORMULAS[1]] * len(d)
    d["notes"] = "+44 20 7946 0000"
    d.to_csv(tmp_path / "now.csv", index=False)
    assert main(["support-plan", "--data", str(tmp_path / "now.csv"), "--out", str(tmp_path / "o")]) == 0
    cells = _csv_cells(next((tmp_path / "o").glob("plans_*/flags.csv")))
    assert {"'=1+1", "'" + _FORMULAS[0], "'-L2", "'@L3"} <= set(cells)  # the text is kept, made inert
    return _table_files(tmp_path / "o")


def _case_forms(service):
    def case(tmp_path):
        _forms_export(service).to_csv(tmp_path / "export.csv", index=False)
        assert main(["support-plan", "--data", str(tmp_path / "export.csv"), "--out", str(tmp_path / "o")]) == 0
        files = _table_files(tmp_path / "o")
        assert any("'=1+1" in c for c in _csv_cells(next(p for p in files if p.name == "flags.csv")))
        return files

    return case


def _case_map(tmp_path):
    from belonging_lib.cli import map_to_layout

    (tmp_path / "cb.csv").write_text(
        "file,variable,label,type,allowed,instrument,reverse,synthetic,source_name,value_labels,missing_codes\n"
        "survey.csv,pupil_id,=1+1,id,,,0,no,ResponseId,,\n"
        'survey.csv,note,"=HYPERLINK(""http://x"",""y"")",,,,0,no,Note,,\n'
        "survey.csv,change,@Change,continuous,,,0,no,Change,,\n",
        encoding="utf-8",
    )
    (tmp_path / "raw.csv").write_text(
        'ResponseId,Note,Change\nP1,"=HYPERLINK(""http://x"",""y"")",-2\nP2,=1+1,1.5\n=1+1,@x,-0.5\n', encoding="utf-8"
    )
    map_to_layout(tmp_path / "raw.csv", tmp_path / "cb.csv", tmp_path / "out")
    cells = _csv_cells(tmp_path / "out" / "survey.csv")
    assert "'=1+1" in cells and {"-2", "-2.0"} & set(cells) and "-0.5" in cells  # numbers stay numbers
    assert "'=1+1" in _csv_cells(tmp_path / "out" / "codebook.csv")
    return _table_files(tmp_path / "out")


def _case_audit(tmp_path):
    from belonging_lib.schools.audit import simulate_audit

    ratings = simulate_audit(n_raters=5, seed=9)
    raters = sorted(ratings["rater"].unique())
    ratings["rater"] = ratings["rater"].map(dict(zip(raters, [_FORMULAS[0], "=1+1", "@r3", "-r4", "+r5"])))
    ratings["evidence"] = [_FORMULAS[k % 2] for k in range(len(ratings))]
    ratings.to_csv(tmp_path / "ratings.csv", index=False)
    survey = simulate_responses(version="secondary", n_classes=1, class_size=30, seed=2)
    survey["pupil_ref"] = [_FORMULAS[k % 2] + str(k) for k in range(len(survey))]
    survey["class"] = _FORMULAS[1]
    survey.to_csv(tmp_path / "survey.csv", index=False)
    out = tmp_path / "rep"
    assert (
        main(
            [
                "audit",
                "--data",
                str(tmp_path / "ratings.csv"),
                "--survey",
                str(tmp_path / "survey.csv"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    files = _table_files(out)
    assert "action_plan.xlsx" in [p.name for p in files]
    return files


def _case_templates(tmp_path):
    from belonging_lib.schools.audit import write_audit_template
    from belonging_lib.schools.questionnaire import FORMS, write_form, write_questionnaire

    paths = write_questionnaire(tmp_path / "q") + write_audit_template(tmp_path / "a")
    for form in FORMS:
        paths += write_form(tmp_path / form, instrument=form)
    return [p for p in paths if p.suffix in (".csv", ".xlsx")]


def _case_trial_report(tmp_path):
    import sys

    sys.path.insert(0, str(ROOT / "tests"))
    from test_trial_report import fixture_design, fixture_trial, write_design

    from belonging_lib.trials import trial_report

    data = fixture_trial()
    data["arm"] = data["arm"].map({"programme": _FORMULAS[0], "control": "=1+1"})
    data["school"] = "@" + data["school"]
    spec = fixture_design()
    spec["title"] = "=1+1 trial (synthetic)"
    spec["arms"] = {"column": "arm", "treated": _FORMULAS[0], "labels": [_FORMULAS[0], "=1+1"]}
    spec["outcomes"]["primary"]["label"] = "=1+1"
    spec["analysis"] = {"n_perm": 0, "n_imputations": 2}
    (tmp_path / "in").mkdir()
    trial_report(data, design=write_design(tmp_path / "in", spec), out=tmp_path / "out")
    files = _table_files(tmp_path / "out")
    assert any(c.startswith("'=1+1") for c in _csv_cells(tmp_path / "out" / "summary.csv"))
    return files


def _case_sample_data(tmp_path):
    from belonging_lib.simulate import write_sample_data

    write_sample_data(tmp_path / "s", progress=False)
    return [p for p in _table_files(tmp_path / "s") if p.suffix == ".csv"]


_CASES = {
    "support-plan": _case_support_plan,
    "support-plan-forms-microsoft": _case_forms("microsoft"),
    "support-plan-forms-google": _case_forms("google"),
    "map": _case_map,
    "audit-report": _case_audit,
    "templates": _case_templates,
    "trial-report": _case_trial_report,
    "sample-data": _case_sample_data,
}


@pytest.mark.parametrize("case", list(_CASES))
def test_every_table_file_holds_no_formula(case, tmp_path, capsys):
    """Formula text fed as names, notes, codes, classes, labels, raters and evidence comes out inert."""
    files = _CASES[case](tmp_path)
    assert files, "the case wrote no CSV or Excel file"
    assert not _formula_text_cells(files)


def test_every_writer_has_a_formula_case():
    """Every module that writes a CSV or Excel file is listed in _WRITERS with cases that exist."""
    writers = set()
    for p in (ROOT / "belonging_lib").rglob("*.py"):
        if p.name != "_safe_write.py" and re.search(r"\bwrite_(csv|excel)\(", p.read_text(encoding="utf-8")):
            writers.add(p.relative_to(ROOT).as_posix())
    assert writers == set(_WRITERS)
    assert set().union(*_WRITERS.values()) == set(_CASES)


# ------------------------------------------------------------------ 4. where files go; matching; names; numbers


def test_out_inside_a_git_tree_or_empty_is_refused(tmp_path, capsys):
    d = _class_with_victim()
    d.to_csv(tmp_path / "c.csv", index=False)
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    for cmd in (["support-plan"], ["class-report"]):
        assert main([*cmd, "--data", str(tmp_path / "c.csv"), "--out", str(repo / "plans")]) == 2
        err = capsys.readouterr().err
        assert "git working tree" in err and len(err.strip().splitlines()) <= 2
        assert not (repo / "plans").exists()
        assert main([*cmd, "--data", str(tmp_path / "c.csv"), "--out", ""]) == 2
        assert "names no folder" in capsys.readouterr().err
    assert main(["support-plan", "--data", str(tmp_path / "c.csv"), "--out", str(ROOT / "plans")]) == 2
    assert not (ROOT / "plans").exists()
    assert main(["questionnaire", "--out", ""]) == 2


def test_readme_examples_write_outside_the_project():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for m in re.finditer(r"belonging (support-plan|class-report|audit --data)[^\n]*--out (\S+)", text):
        assert m.group(2).startswith(("/", "~")), m.group(0)


def test_rounds_matching_few_pupils_stop_with_the_likely_cause():
    rows = [_pupil(f"{i:03d}", [3 + (i % 3 == 0)] * N) for i in range(1, 21)]
    now = pd.DataFrame(rows)
    before = now.assign(pupil_ref=[str(int(r)) for r in now["pupil_ref"]])  # Excel dropped the zeros
    for frame in (now, before):
        frame.index = range(1, len(frame) + 1)
    with pytest.raises(DataError, match=r"Only 0 of the 20 pupils.*leading zeros: 20 would match"):
        support_flags(now, previous=before)
    case = now.assign(pupil_ref=[" p" + r for r in now["pupil_ref"]])
    now2 = now.assign(pupil_ref=["P" + r for r in now["pupil_ref"]])
    with pytest.raises(DataError, match=r"Only 0 of .*capitals or spaces: 20 would match"):
        support_flags(now2, previous=case)


def test_file_names_are_safe_and_unique(tmp_path):
    refs = ["A/1", "A_1", "A 1", "A.1", "Zoë", "Zoé", "CON", "2026-03-01 00:00:00", "a/1"]
    d = pd.DataFrame([_pupil(r, [1] * N) for r in refs] + [_pupil(f"H{i}", [5] * N) for i in range(12)])
    d.index = range(1, len(d) + 1)
    res = support_flags(d, reliability={"staff": 0.8, "total": 0.8})
    run = write_support_plans(res, tmp_path / "o")
    plans = sorted(run.folder.glob("support_plan_*.docx"))
    assert len(plans) == len(refs) == res.n_flagged
    assert len({p.name.casefold() for p in plans}) == len(refs)
    assert all(not re.search(r"[/\\:*?\"<>| ]", p.name) for p in plans)
    assert (run.folder / "support_plan__CON.docx").exists()
    assert "numbered suffix" in run.message()
    table = pd.read_csv(run.folder / "flags.csv", dtype=str).set_index("pupil_ref")
    assert sorted(table.loc[refs, "plan_file"]) == sorted(p.name for p in plans)


@pytest.mark.parametrize("bad", [1.5, float("nan"), -0.3, 0.0, 1.0, float("inf")])
def test_impossible_reliabilities_are_refused(bad):
    d = pd.DataFrame([_pupil(f"P{i}", [2 + i % 3] * N) for i in range(12)])
    d.index = range(1, 13)
    with pytest.raises(DataError, match=r"reliability 'staff'.*strictly between 0 and 1"):
        support_flags(d, reliability={"staff": bad, "total": 0.8})


def test_no_band_gives_no_verdict(tmp_path, capsys):
    d = pd.DataFrame([_pupil("P1", [1] * N)])
    d.index = [1]
    res = support_flags(d, reliability={"staff": 0.85, "total": 0.85})
    reasons = " ".join(res.pupils.loc["P1", "reasons"])
    assert "nan" not in reasons and "no verdict" in reasons and "whole band" not in reasons
    assert res.pupils.loc["P1", "possible_false_alarm"]
    d.to_csv(tmp_path / "one.csv", index=False)
    assert (
        main(
            ["support-plan", "--data", str(tmp_path / "one.csv"), "--reliability", "1.5", "--out", str(tmp_path / "o")]
        )
        == 2
    )
    assert "strictly between 0 and 1" in capsys.readouterr().err


def test_bands_stay_on_the_scale():
    d = pd.DataFrame([_pupil(f"P{i}", [1 + (i % 5)] * N) for i in range(20)])
    d.index = range(1, 21)
    res = support_flags(d, reliability={"staff": 0.3, "total": 0.3})
    for r in res.pupils.loc[res.pupils["low_staff"], "reasons"]:
        low, high = map(float, re.search(r"band (-?[\d.]+) to (-?[\d.]+)", r[0]).groups())
        assert 1 <= low <= high <= 5


# ------------------------------------------------------------------ 5. reading through the library's reader


def _sheet(n=26, seed=6):
    d = simulate_responses(n_classes=1, class_size=n, seed=seed).drop(columns=["synthetic"])
    d["adjustment"] = ""
    return d


def test_a_stray_quote_never_drops_pupils(tmp_path, capsys):
    d = _sheet(30)
    d.loc[4, "adjustment"] = "QOPEN"
    d.loc[13, "adjustment"] = "QCLOSE"
    # a note that opens a quote on one pupil's row and another that closes one nine rows later
    text = d.to_csv(index=False).replace("QOPEN", '"extra time').replace("QCLOSE", 'scribe"')
    (tmp_path / "q.csv").write_text(text, encoding="utf-8")
    code = main(["class-report", "--data", str(tmp_path / "q.csv"), "--out", str(tmp_path / "r")])
    out = capsys.readouterr()
    assert (code == 0 and "30 pupils" in out.out) or (code == 2 and "quote" in out.err)
    assert "21 pupils" not in out.out


def test_empty_file_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "empty.csv").write_bytes(b"")
    for cmd in (["class-report"], ["support-plan"], ["audit"]):
        assert main([*cmd, "--data", str(tmp_path / "empty.csv"), "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err
        assert "empty (0 bytes)" in err and "bug" not in err


@pytest.mark.parametrize("encoding", ["cp1252", "utf-16", "utf-8-sig"])
def test_encodings_are_read(tmp_path, capsys, encoding):
    d = _sheet()
    d["adjustment"] = ["Siobhán reads aloud"] + [""] * (len(d) - 1)
    d.to_csv(tmp_path / "w.csv", index=False, encoding=encoding)
    assert main(["class-report", "--data", str(tmp_path / "w.csv"), "--out", str(tmp_path / "r")]) == 0
    assert f"{len(d)} pupils" in capsys.readouterr().out


@pytest.mark.parametrize("sep", [";", "\t"])
def test_other_delimiters_are_read(tmp_path, capsys, sep):
    d = _sheet()
    d.to_csv(tmp_path / "s.csv", index=False, sep=sep)
    assert main(["class-report", "--data", str(tmp_path / "s.csv"), "--out", str(tmp_path / "r")]) == 0
    assert f"{len(d)} pupils" in capsys.readouterr().out


def test_a_title_row_is_explained(tmp_path, capsys):
    d = _sheet()
    (tmp_path / "t.csv").write_text(
        "Year 7 survey, autumn" + "," * (d.shape[1] - 1) + "\n" + d.to_csv(index=False), encoding="utf-8"
    )
    assert main(["class-report", "--data", str(tmp_path / "t.csv"), "--out", str(tmp_path / "r")]) == 2
    assert "line 2" in capsys.readouterr().err


def test_the_answers_sheet_is_found_by_its_columns(tmp_path, capsys):
    d = _sheet()
    with pd.ExcelWriter(tmp_path / "w.xlsx") as xl:
        pd.DataFrame({"column": ["ocbs_01"], "meaning": ["..."]}).to_excel(xl, sheet_name="codes", index=False)
        d.to_excel(xl, sheet_name="answers", index=False)
    assert main(["class-report", "--data", str(tmp_path / "w.xlsx"), "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr()
    assert f"{len(d)} pupils" in out.out and "'answers'" in out.err


def test_audit_survey_of_few_pupils_prints_no_count(tmp_path):
    from belonging_lib.schools.audit import simulate_audit

    simulate_audit(n_raters=5).to_csv(tmp_path / "ratings.csv", index=False)
    _sheet(6).to_csv(tmp_path / "six.csv", index=False)
    assert (
        main(
            [
                "audit",
                "--data",
                str(tmp_path / "ratings.csv"),
                "--survey",
                str(tmp_path / "six.csv"),
                "--out",
                str(tmp_path / "a"),
            ]
        )
        == 0
    )
    page = (tmp_path / "a" / "audit_report.html").read_text()
    assert "fewer than 10" in page and not re.search(r"<td>6</td>", page)


def test_class_report_never_asks_the_class_about_bullying():
    from belonging_lib.schools.class_report import class_report

    d = _sheet(20)
    d["ocbs_07"] = [5] * 8 + [1] * 12  # 40% strongly agree that they are picked on
    d.index = range(1, 21)
    rep = class_report(d)
    text = re.sub(r"<[^>]+>", " ", rep.html)
    assert "Some pupils pick on me" in " ".join(rep.items["text"])
    assert "Ask the class" not in text and "anti-bullying lead" in text
    assert "answers_needing_response.html" in text


def test_class_report_threshold_applies_to_every_cell():
    from belonging_lib.schools.class_report import class_report

    d = _sheet(11)
    d.index = range(1, 12)
    for item in ("ocbs_14", "ocbs_15", "ocbs_16"):  # "Being listened to": two pupils skip the part
        d.loc[[1, 2], item] = np.nan
    d.loc[[3, 4, 5], "ocbs_16"] = np.nan  # one question answered by 6
    rep = class_report(d)
    voice = rep.parts.set_index("part").loc["voice"]
    assert voice["n"] == 9 and np.isnan(voice["estimate"]) and np.isnan(voice["ci_low"])
    row = rep.items.set_index("item").loc["ocbs_16"]
    assert row["n"] == 6 and np.isnan(row[[lab for _, lab in INST.labels]].astype(float)).all()
    assert re.search(r"<td>Being listened to</td>\s*<td>fewer than 10</td>\s*<td>\[c\]</td>", rep.html)
    assert re.search(
        r"without being laughed at\.</td><td class='num'>fewer than 10</td>(<td class='num'>\[c\]</td>){5}", rep.html
    )


# ------------------------------------------------------------------ the audit for a leadership meeting


def test_audit_all_blank_is_an_error(tmp_path, capsys):
    from belonging_lib.schools.audit import simulate_audit

    simulate_audit(n_raters=3, missing=1.0).to_csv(tmp_path / "blank.csv", index=False)
    assert main(["audit", "--data", str(tmp_path / "blank.csv"), "--out", str(tmp_path / "a")]) == 2
    assert "no rating at all" in capsys.readouterr().err


def test_audit_workbook_with_one_sheet_per_rater(tmp_path, capsys):
    from belonging_lib.schools.audit import simulate_audit

    d = simulate_audit(n_raters=4)
    with pd.ExcelWriter(tmp_path / "raters.xlsx") as xl:
        for rater, block in d.groupby("rater"):
            block.to_excel(xl, sheet_name=rater, index=False)
    assert main(["audit", "--data", str(tmp_path / "raters.xlsx"), "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr()
    assert "Audit of 4 raters" in out.out and "stacked 4 sheet(s)" in out.err


def test_audit_page_one_and_anonymous_raters(tmp_path):
    from belonging_lib.schools.audit import analyse_audit, framework, write_audit_report

    f = framework()
    rows = []
    for rater in ("TA1", "HT"):  # two raters: no interval, no range of raters
        for k, r in enumerate(f.itertuples()):
            v = 1 + (k + (rater == "HT") * 2) % 4
            rows.append(
                {"rater": rater, "indicator": r.indicator, "rating": v, "evidence": "seen in a walk" if k == 0 else ""}
            )
    d = pd.DataFrame(rows)
    d.index = range(1, len(d) + 1)
    res = analyse_audit(d)
    assert len(res.priorities) <= 3 and len(res.action_plan) == len(res.priorities)
    write_audit_report(res, tmp_path / "a")
    page = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", (tmp_path / "a" / "audit_report.html").read_text())
    assert "TA1" not in page and "HT" not in re.sub(r"HTML|<[^>]+>", " ", page).split()
    assert "-0." not in re.sub(r"<[^>]+>", " ", page.split("Appendix")[1])
    assert "no interval" in page and "not shown (fewer than 3 raters)" in page
    # with two raters, neither the chart, the priorities nor the split column shows a person's ratings
    from belonging_lib.schools.plots import audit_profile

    ax = audit_profile(res.areas)
    assert not ax.collections, "the chart drew the raters' range"
    assert not any("ratings from" in p for p in res.priorities)
    split_cells = re.findall(r"<td>([^<]*)</td>\s*</tr>", page.split("Every area")[1].split("</table>")[0])
    assert split_cells and all(c == "not shown" for c in split_cells)
    first = page.split("Every area")[0]
    assert "Priorities" in first and "Actions to consider" in first and "ICC" not in first


def test_plans_and_action_plans_are_a4(tmp_path):
    import docx

    from belonging_lib.schools.audit import write_audit_template

    write_audit_template(tmp_path / "t")
    d = _class_with_victim()
    low = pd.DataFrame([_pupil("L1", [1] * N)])
    res = support_flags(
        pd.concat([d, low], ignore_index=True).set_axis(range(1, len(d) + 2)), reliability={"staff": 0.8, "total": 0.8}
    )
    run = write_support_plans(res, tmp_path / "p")
    for path in [tmp_path / "t" / "action_plan.docx", *run.folder.glob("*.docx")]:
        s = docx.Document(str(path)).sections[0]
        assert {round(s.page_width.mm), round(s.page_height.mm)} == {210, 297}, path


# ------------------------------------------------------------------ a plan for a conversation


def _plan_text(path):
    import docx

    return "\n".join(p.text for p in docx.Document(str(path)).paragraphs)


def test_plan_speaks_in_answers_and_keeps_statistics_for_staff(tmp_path):
    d = _class_with_victim()
    low = _pupil("L1", [5, 5, 5, 5, 5, 5, 5, 2, 2, 2, 2, 2, 1, 1, 1, 1])
    d = pd.concat([d, pd.DataFrame([low])], ignore_index=True)
    d.index = range(1, len(d) + 1)
    res = support_flags(d, reliability={"staff": 0.8, "total": 0.8}, belonging_cutoff=3.5)
    assert res.pupils.loc["L1", "flagged"]
    run = write_support_plans(res, tmp_path / "o")
    text = _plan_text(run.folder / "support_plan_L1.docx")
    why, rest = text.split("Why we are talking")[1].split("Strengths", 1)
    assert (
        "\u201cIf I suggest a change, staff tell me what they will do about it.\u201d \u2014 Strongly disagree" in why
    )
    assert "reliable change" not in why and "cut-off" not in why and "alpha" not in why
    strengths = rest.split("Trusted adult")[0]
    assert "\u201cAdults in this school care about how I am getting on.\u201d \u2014 Strongly agree" in strengths
    appendix = text.split("For staff only")[1]
    assert "cut-off" in appendix and "alpha" in appendix
    assert "What the behaviour may be communicating" not in text  # no behaviour notes were recorded
    noted = d.assign(behaviour_notes=["" for _ in range(len(d) - 1)] + ["leaves lessons often"])
    run2 = write_support_plans(
        support_flags(noted, reliability={"staff": 0.8, "total": 0.8}, belonging_cutoff=3.5), tmp_path / "o2"
    )
    text2 = _plan_text(run2.folder / "support_plan_L1.docx")
    assert "What the behaviour may be communicating" in text2 and "leaves lessons often" in text2


def test_summary_lists_flagged_codes_with_reasons(tmp_path):
    d = pd.concat([_class_with_victim(), pd.DataFrame([_pupil("L1", [1] * N)])], ignore_index=True)
    d.index = range(1, len(d) + 1)
    run = write_support_plans(support_flags(d, reliability={"staff": 0.8, "total": 0.8}), tmp_path / "o")
    summary = (run.folder / "support_summary.html").read_text()
    assert re.search(r"<td>L1</td><td>[^<]*low belonging score", summary)


def test_summary_cut_offs_are_rounded_and_the_change_index_is_in_words(tmp_path):
    from belonging_lib.schools.questionnaire import simulate_follow_up, simulate_responses

    before = simulate_responses(n_classes=1, class_size=40, seed=8)
    after = simulate_follow_up(before, seed=9, share_dropping=0.2)
    run = write_support_plans(support_flags(after, previous=before), tmp_path / "o")
    summary = (run.folder / "support_summary.html").read_text(encoding="utf-8")
    assert "1.95996" not in summary and not re.search(r"cut-off -?\d+\.\d{3}", summary)
    assert "a fall larger than measurement error explains: change index below -1.96" in summary


def test_sdq_total_out_of_range_is_an_error():
    d = pd.DataFrame([_pupil(f"P{i}", [3] * N) for i in range(12)])
    d["sdq_total"] = [10] * 11 + [41]
    d.index = range(1, 13)
    with pytest.raises(DataError, match=r"sdq_total.*0 to 40.*row 12.*41"):
        support_flags(d, reliability={"staff": 0.8, "total": 0.8})


def test_review_date_skips_holidays(tmp_path, capsys):
    import datetime as dt

    from belonging_lib.schools.support_plan import _review_date, read_term_dates

    (tmp_path / "terms.csv").write_text("start,end\n26/10/2026,30/10/2026\n2026-12-21,2027-01-01\n", encoding="utf-8")
    hol = read_term_dates(tmp_path / "terms.csv")
    assert hol[0] == (dt.date(2026, 10, 26), dt.date(2026, 10, 30))
    assert _review_date(dt.date(2026, 10, 19), 1, hol) == dt.date(2026, 11, 2)  # the half term is not counted
    assert _review_date(dt.date(2026, 12, 14), 1, hol) == dt.date(2027, 1, 4)  # never inside a holiday
    assert _review_date(dt.date(2026, 10, 19), 1) == dt.date(2026, 10, 26)


# ------------------------------------------------------------------ a questionnaire pupils can answer


def _pdf_pages(html: Path, tmp_path: Path) -> int:
    import shutil

    exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if exe is None:
        if os.environ.get("CI") == "true":  # CI installs Chromium (make browser): a missing one is a failure
            pytest.fail("chromium is not installed in CI")
        pytest.skip("no Chromium to print with")
    pdf = tmp_path / (html.stem + ".pdf")
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
    return len(re.findall(rb"/Type\s*/Page[^s]", pdf.read_bytes()))


@pytest.mark.browser
def test_each_version_prints_on_one_a4_side(tmp_path):
    from belonging_lib.schools.questionnaire import write_questionnaire

    write_questionnaire(tmp_path / "q")
    for version in ("primary", "secondary"):
        html = tmp_path / "q" / f"questionnaire_{version}.html"
        assert "size: A4" in html.read_text()
        assert _pdf_pages(html, tmp_path) == 1, version


def test_pupil_sheet_holds_only_what_pupils_read(tmp_path):
    from belonging_lib.schools.questionnaire import PRACTICE, write_questionnaire

    write_questionnaire(tmp_path / "q")
    for version in ("primary", "secondary"):
        text = re.sub(r"<[^>]+>", " ", (tmp_path / "q" / f"questionnaire_{version}.html").read_text())
        assert "Practice: " + PRACTICE[version] in text
        for staff in ("Read-aloud guidance", "CC BY", "not yet validated", "safeguarding screen", "for the adult"):
            assert staff.lower() not in text.lower(), (version, staff)
    notes = (tmp_path / "q" / "administration_notes.html").read_text()
    assert "nothing happens to them" not in notes and "same day" not in notes
    assert "immediately" in notes and "anti-bullying" in notes and "keeping-children-safe-in-education" in notes
    assert "named in effect" in notes


def test_fairness_items_ask_about_fair_treatment_not_sameness():
    from belonging_lib.schools.questionnaire import questionnaire_items

    for version in ("primary", "secondary"):
        text = " ".join(questionnaire_items(version)["text"])
        assert "same fair way" not in text and "fair to every child" not in text
        assert re.search(r"treats? me fairly", text)
        assert not re.search(r"\bsame\b|every child|everyone", text)  # fair treatment, not identical treatment


def test_excel_entry_sheet_has_drop_downs_frozen_header_and_questions(tmp_path):
    import openpyxl

    from belonging_lib.schools.questionnaire import write_questionnaire

    write_questionnaire(tmp_path / "q", version="secondary")
    ws = openpyxl.load_workbook(tmp_path / "q" / "data_entry_secondary.xlsx")["answers"]
    assert ws.freeze_panes == "A2"
    header = [c.value for c in ws[1]]
    col = header.index("ocbs_07") + 1
    assert "Some pupils pick on me again and again." in ws.cell(row=1, column=col).comment.text
    lists = [dv for dv in ws.data_validations.dataValidation if dv.type == "list"]
    assert any(dv.formula1 == '"1,2,3,4,5"' and "G2" in str(dv.sqref) for dv in lists)


# ------------------------------------------------------------------ a pack for a school


def _school_file(sizes=(24, 22, 8)):
    frames = []
    for k, n in enumerate(sizes):
        d = simulate_responses(n_classes=1, class_size=n, seed=20 + k).drop(columns=["synthetic"])
        d["class"] = f"7{'ABC'[k]}"
        d["pupil_ref"] = [f"P{i:02d}" for i in range(1, n + 1)]  # numbered within each class, as the notes say
        frames.append(d)
    d = pd.concat(frames, ignore_index=True)
    d.index = range(1, len(d) + 1)
    return d


def test_a_file_of_several_classes_gives_a_pack(tmp_path, capsys):
    _school_file().to_csv(tmp_path / "year7.csv", index=False)
    assert main(["class-report", "--data", str(tmp_path / "year7.csv"), "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "3 classes" in out and "54 pupils" in out
    for c in ("7A", "7B", "7C"):
        assert f"How class {c} feels about belonging" in (tmp_path / "r" / f"class_{c}.html").read_text()
    pack = (tmp_path / "r" / "class_pack.html").read_text()
    overview = pack.split("<div class='pagebreak'>")[0]
    assert re.search(r"<td>7C</td>\s*<td>fewer than 10</td>(\s*<td>\[c\]</td>){5}", overview)
    assert re.search(r"<td>7A</td>\s*<td>24</td>\s*<td>\d\.\d\d</td>", overview)
    assert pack.count("How class 7") == 3


def test_class_option_names_the_report(tmp_path, capsys):
    _school_file().to_csv(tmp_path / "year7.csv", index=False)
    assert (
        main(["class-report", "--data", str(tmp_path / "year7.csv"), "--class", "7B", "--out", str(tmp_path / "r")])
        == 0
    )
    assert "22 pupils" in capsys.readouterr().out
    assert "How class 7B feels about belonging" in (tmp_path / "r" / "class_report.html").read_text()
    assert (
        main(["class-report", "--data", str(tmp_path / "year7.csv"), "--class", "9Z", "--out", str(tmp_path / "r2")])
        == 2
    )
    assert "'9Z'" in capsys.readouterr().err


def test_straight_liners_are_listed_and_left_out():
    from belonging_lib.schools.class_report import class_report, straight_liners

    d = _sheet(24)
    d.index = range(1, 25)
    for row in (3, 17):
        for item in INST.item_ids:
            d.loc[row, item] = 5
    assert straight_liners(d, version="secondary").tolist() == [i in (3, 17) for i in range(1, 25)]
    rep = class_report(d)
    assert rep.n == 22
    assert "Same answer to every question" in rep.html and "3, 17" in rep.html
    assert "{" not in rep.html.split("Same answer to every question")[1].split("3, 17")[0]  # no unfilled placeholder
    assert "as numbered in the spreadsheet" in rep.html
    assert rep.parts["n"].max() == 22


def test_out_of_range_advice_names_only_what_the_command_has(tmp_path, capsys):
    d = _sheet(12)
    d["ocbs_03"] = d["ocbs_03"].astype(object)
    d.loc[4, "ocbs_03"] = 7
    d.to_csv(tmp_path / "c.csv", index=False)
    assert main(["class-report", "--data", str(tmp_path / "c.csv"), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    # the fifth pupil is on spreadsheet row 6 (the column names are row 1)
    assert "invalid" not in err and "row 6" in err and "the column names are row 1" in err


def test_a_blank_returned_sheet_is_counted_and_left_out(tmp_path, capsys):
    d = _sheet(20)
    for item in INST.item_ids:
        d[item] = d[item].astype(object)
        d.loc[6, item] = None
    d.to_csv(tmp_path / "c.csv", index=False)
    assert main(["class-report", "--data", str(tmp_path / "c.csv"), "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr()
    assert "19 pupils" in out.out and "1 sheet(s) answer no question (rows 8," in out.err


# ------------------------------------------------------------------ checks run as a school runs them


def test_support_plan_command_stops_when_rounds_match_few_pupils(tmp_path, capsys):
    """Through the command line: a non-zero exit, the likely cause and the count matched; nothing written."""
    rows = [_pupil(f"{i:03d}", [3 + (i % 3 == 0)] * N) for i in range(1, 21)]
    now = pd.DataFrame(rows)
    now.to_csv(tmp_path / "now.csv", index=False)
    # Excel dropped the leading zeros of the earlier round's codes
    now.assign(pupil_ref=[str(int(r)) for r in now["pupil_ref"]]).to_csv(tmp_path / "zeros.csv", index=False)
    # another ID column: only 4 of the 20 codes are the same pupils' codes
    now.assign(pupil_ref=[r if k < 4 else f"X{k}" for k, r in enumerate(now["pupil_ref"])]).to_csv(
        tmp_path / "other.csv", index=False
    )
    for before, count, cause in (
        ("zeros.csv", 0, r"leading zeros: 20 would match"),
        ("other.csv", 4, r"different ID columns"),
    ):
        out = tmp_path / f"o_{count}"
        code = main(
            [
                "support-plan",
                "--data",
                str(tmp_path / "now.csv"),
                "--previous",
                str(tmp_path / before),
                "--out",
                str(out),
            ]
        )
        captured = capsys.readouterr()
        assert code == 2
        assert re.search(rf"Only {count} of the 20 pupils .* match .*Likely cause: .*{cause}", captured.err)
        assert "flags 0 of 0" not in captured.out + captured.err
        assert not list(out.glob("plans_*")), "plans were written for rounds that do not match"


def test_term_dates_from_the_command_line_move_the_review_date(tmp_path, capsys):
    """--term-dates: a two-week holiday starting tomorrow moves a one-week review to three weeks away."""
    import datetime as dt

    d = pd.DataFrame([_pupil("L1", [1] * N)] + [_pupil(f"H{i}", [4 + i % 2] * N) for i in range(14)])
    d.to_csv(tmp_path / "now.csv", index=False)
    today = dt.date.today()
    start, end = today + dt.timedelta(days=1), today + dt.timedelta(days=14)
    (tmp_path / "terms.csv").write_text(f"start,end\n{start.isoformat()},{end.isoformat()}\n", encoding="utf-8")

    def review(extra, out):
        args = ["support-plan", "--data", str(tmp_path / "now.csv"), "--reliability", "0.8", "--review-weeks", "1"]
        assert main([*args, *extra, "--out", str(out)]) == 0
        text = _plan_text(next(out.glob("plans_*/support_plan_L1.docx")))
        return dt.date.fromisoformat(re.search(r"Review date: (\d{4}-\d\d-\d\d)", text).group(1))

    def school_day(day):
        return day + dt.timedelta(days=(7 - day.weekday()) % 7 if day.weekday() >= 5 else 0)

    # one school week after the two holiday weeks (a weekend moves it to the Monday)
    assert review(["--term-dates", str(tmp_path / "terms.csv")], tmp_path / "a") == school_day(
        today + dt.timedelta(days=21)
    )
    assert review([], tmp_path / "b") == school_day(today + dt.timedelta(days=7))


def test_audit_priorities_carry_their_own_areas_suggested_actions(tmp_path):
    """Each of the top priorities on page one has two or three suggested actions, those of its own area,
    in the project's words from the guidance's themes."""
    from belonging_lib.schools.audit import analyse_audit, framework, suggested_actions, write_audit_report

    acts = suggested_actions()
    f = framework()
    assert set(acts) == set(f["area"]) and all(2 <= len(v) <= 3 for v in acts.values())
    every = [a for v in acts.values() for a in v]
    assert len(set(every)) == len(every)  # no area borrows another's action
    themes = {
        "relationships": ("by name", "trusted adult"),
        "peers": ("peer mentor",),
        "engagement": ("classroom roles",),
        "behaviour": ("restorative conversation",),
        "voice": ("you said, we did",),
    }
    for area, words in themes.items():
        text = " ".join(acts[area]).lower()
        assert all(w in text for w in words), (area, words)
    # relationships, peers and voice rated lowest by five raters: the priorities and their actions
    low = {"relationships": 1, "peers": 2, "voice": 1}
    rows = [
        {"rater": f"R{k}", "indicator": r.indicator, "rating": min(4, low.get(r.area, 3) + (k + j) % 2), "evidence": ""}
        for k in range(5)
        for j, r in enumerate(f.itertuples())
    ]
    d = pd.DataFrame(rows)
    d.index = range(1, len(d) + 1)
    res = analyse_audit(d)
    write_audit_report(res, tmp_path / "a")
    page = (tmp_path / "a" / "audit_report.html").read_text(encoding="utf-8")
    first = page.split("Appendix")[0]
    listed = re.findall(r"<li><b>(.*?)</b>\s*(?:<br>Actions to consider:<ul>(.*?)</ul>)?", first, flags=re.S)
    labels = dict(zip(f["area_label"], f["area"]))
    assert 1 <= len(listed) <= 3
    areas = []
    for text, block in listed:
        area = labels[_html_unescape(text).split(":")[0]]
        shown = [_html_unescape(a) for a in re.findall(r"<li>(.*?)</li>", block)]
        assert shown == acts[area], area
        areas.append(area)
    assert set(areas) <= set(low) and "relationships" in areas


def _html_unescape(text):
    import html

    return html.unescape(text).strip()
