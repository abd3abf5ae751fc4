"""Own data, issue 25: nothing reversible, a failed section never published as if it ran, and
messages that say what happened.

The quick tests here work on the hand-built fixtures of ``tests/fixtures/own_data/`` (the SPSS
survey and the online form's Excel file) with ``belonging run --plan``, which maps the file and
prints the plan without running a chapter; the chapter machinery is tested on tiny chapters. The
slow test runs ``belonging run`` end to end and scans every file under ``--out``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from belonging_lib import DataError
from belonging_lib.cli import main, missing_report
from belonging_lib.codebook import apply_codebook, read_codebook, validate
from belonging_lib.io import read_labelled

HERE = Path(__file__).resolve().parent / "fixtures" / "own_data"
SAV, SAV_CB = HERE / "school_survey.sav", HERE / "school_survey_codebook.csv"
XLSX, XLSX_CB = HERE / "form_responses.xlsx", HERE / "form_codebook.csv"
ROOT = Path(__file__).resolve().parent.parent


def _raw(path, cb):
    return read_labelled(path, user_missing="keep", ids=cb.loc[cb["type"] == "id", "source_name"].tolist())


def _run(args, capsys):
    rc = main(["run", *map(str, args)])
    got = capsys.readouterr()
    return rc, got.out, got.err


def _chapter(folder: Path, body: str, name: str = "01_test.md") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(
        "---\njupytext:\n  text_representation:\n    extension: .md\n    format_name: myst\n"
        "kernelspec:\n  display_name: Python 3\n  language: python\n  name: python3\n---\n\n" + body,
        encoding="utf-8",
    )
    return path


# --------------------------------------------------------------------------- the working folder and the key
def test_plan_only_maps_into_the_working_folder_and_writes_nothing_under_out(tmp_path, capsys):
    out, work = tmp_path / "out", tmp_path / "work"
    rc, text, err = _run(["--data", SAV, "--codebook", SAV_CB, "--out", out, "--work", work, "--plan"], capsys)
    assert rc == 0, err
    assert "Plan:" in text and "Plan only (--plan): no chapter was run." in text
    assert "Running chapters" not in text
    assert [p for p in out.rglob("*")] == []  # nothing under --out
    mapped = pd.read_csv(work / "data" / "survey.csv", dtype=str)
    key = (work / "pseudonym.key").read_text().strip()
    assert len(key) == 64 and (work / "pseudonym.key").stat().st_mode & 0o077 == 0
    assert work.stat().st_mode & 0o077 == 0  # a private folder
    assert key not in text + err
    # pupil IDs are keyed HMAC-SHA256 pseudonyms; schools and classes keep their names
    cb = read_codebook(SAV_CB)
    raw = _raw(SAV, cb).data
    first = raw["PupilID"].iloc[0]
    assert mapped["pupil_id"].iloc[0] == "X" + hmac.new(key.encode(), first.encode(), hashlib.sha256).hexdigest()[:16]
    assert not set(raw["PupilID"]) & set(mapped["pupil_id"])
    assert mapped["school_id"].iloc[0] == "0031"
    # the same key again on a second run: the same pseudonyms, so runs link
    rc, _, _ = _run(["--data", SAV, "--codebook", SAV_CB, "--out", out, "--work", work, "--plan"], capsys)
    assert rc == 0 and pd.read_csv(work / "data" / "survey.csv", dtype=str)["pupil_id"].equals(mapped["pupil_id"])


def test_a_key_file_supplied_is_used_and_kept_out_of_out(tmp_path, capsys):
    out, work, keyfile = tmp_path / "out", tmp_path / "work", tmp_path / "secret" / "k.txt"
    keyfile.parent.mkdir()
    keyfile.write_text("a-key-the-school-keeps-0123456789\n")
    rc, text, err = _run(
        ["--data", SAV, "--codebook", SAV_CB, "--out", out, "--work", work, "--key-file", keyfile, "--plan"], capsys
    )
    assert rc == 0, err and not (work / "pseudonym.key").exists()
    assert "a-key-the-school-keeps" not in text + err
    mapped = pd.read_csv(work / "data" / "survey.csv", dtype=str)
    assert (
        mapped["pupil_id"].iloc[0]
        == "X" + hmac.new(b"a-key-the-school-keeps-0123456789", b"021657", hashlib.sha256).hexdigest()[:16]
    )
    rc, _, err = _run(
        ["--data", SAV, "--codebook", SAV_CB, "--out", out, "--work", work, "--key-file", out / "k.txt", "--plan"],
        capsys,
    )
    assert rc == 2 and "inside --out" in err


def test_working_folder_inside_out_or_a_git_repository_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    rc, _, err = _run(["--data", SAV, "--codebook", SAV_CB, "--out", out, "--work", out / "w", "--plan"], capsys)
    assert rc == 2 and "overlap" in err and len(err.strip().splitlines()) == 1
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    rc, _, err = _run(["--data", SAV, "--codebook", SAV_CB, "--out", out, "--work", repo / "work", "--plan"], capsys)
    assert rc == 2 and "git repository" in err
    assert not (repo / "work").exists()


def test_default_working_folder_is_in_the_user_cache(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("BELONGING_PSEUDONYM_KEY", raising=False)
    out = tmp_path / "out"
    rc, text, err = _run(["--data", SAV, "--codebook", SAV_CB, "--out", out, "--plan"], capsys)
    assert rc == 0, err
    found = list((tmp_path / "cache").rglob("survey.csv"))
    assert len(found) == 1 and (tmp_path / "cache") in found[0].parents
    assert str(found[0].parent.parent) in text


def test_chapter_11_shows_no_pupil_row_and_no_key():
    text = (ROOT / "notebooks" / "11_using_your_own_data.md").read_text(encoding="utf-8")
    cells = re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", text, flags=re.S)
    pseudonym_cells = [c for c in cells if "pseudonymise(" in c]
    assert pseudonym_cells
    for cell in pseudonym_cells:
        assert "survey" not in cell  # made-up identifiers only, no pupil's row
        assert not re.search(r"key\s*=\s*['\"]", cell)  # no key written into the chapter
        assert "secrets.token_hex" in cell


# --------------------------------------------------------------------------- validate's warnings stop run
def _naive_codebook(tmp_path):
    cb = pd.read_csv(SAV_CB, dtype=str, keep_default_na=False)
    q = cb["source_name"].str.fullmatch(r"Q1_\d+")
    cb.loc[q, "variable"] = [f"pssm_{int(s[3:]):02d}" for s in cb.loc[q, "source_name"]]
    path = tmp_path / "naive.csv"
    cb.to_csv(path, index=False)
    return path


def test_run_repeats_warnings_and_stops_on_reverse_keys_unless_accepted(tmp_path, capsys):
    naive = _naive_codebook(tmp_path)
    rc, text, err = _run(
        ["--data", SAV, "--codebook", naive, "--out", tmp_path / "o", "--work", tmp_path / "w", "--plan"], capsys
    )
    assert rc == 1 and "stopped" in err and "--accept-warnings" in err
    assert "reverse key differs from instrument" in text and "negative item-rest correlation" in text
    assert "straight-lining" in text and "Plan:" not in text
    assert not (tmp_path / "w" / "data").exists()  # nothing mapped
    rc, text, err = _run(
        [
            "--data",
            SAV,
            "--codebook",
            naive,
            "--out",
            tmp_path / "o",
            "--work",
            tmp_path / "w",
            "--plan",
            "--accept-warnings",
        ],
        capsys,
    )
    assert rc == 0 and "Plan:" in text and "reverse key differs from instrument" in text


def test_reverse_key_warning_counts_the_answers_it_concerns(tmp_path):
    cb = read_codebook(_naive_codebook(tmp_path))
    raw = _raw(SAV, cb)
    v = validate(raw, cb)
    row = v[(v["problem"] == "reverse key differs from instrument") & (v["variable"] == "pssm_02")].iloc[0]
    assert row["n"] == int(apply_codebook(raw, cb).data["pssm_02"].notna().sum()) > 1000
    assert row["rows"] == "every answer"


def test_unknown_instrument_names_are_errors_with_did_you_mean():
    cb = read_codebook(SAV_CB)
    cb.loc[cb["variable"].str.startswith("tr_care"), "instrument"] = "teacher_care"
    raw = _raw(SAV, read_codebook(SAV_CB))
    v = validate(raw, cb)
    row = v[v["problem"] == "instrument name unknown"]
    assert len(row) == 1 and row["severity"].iloc[0] == "error"
    assert "did you mean 'tr_care'?" in row["example"].iloc[0]
    with pytest.raises(DataError, match="did you mean 'tr_care'"):
        apply_codebook(raw, cb)
    # an own scale whose name is close to a bundled instrument's: a warning that stops run
    own = read_codebook(
        pd.DataFrame(
            {
                "variable": ["pupil_id", "my_1", "my_2"],
                "type": ["id", "item", "item"],
                "allowed": ["", "1-5", "1-5"],
                "instrument": ["", "swembws", "swembws"],
            }
        )
    )
    w = validate(pd.DataFrame({"pupil_id": ["1", "2"], "my_1": [1, 2], "my_2": [2, 3]}), own)
    row = w[w["problem"] == "instrument not in the registry"]
    assert row["severity"].tolist() == ["warning"] and "did you mean 'swemwbs'?" in row["example"].iloc[0]
    from belonging_lib.cli import STOPPING_WARNINGS

    assert "instrument not in the registry" in STOPPING_WARNINGS
    # a name of one's own, far from every bundled one: the codebook's own scale, no problem
    own["instrument"] = own["instrument"].replace("swembws", "homework_habits")
    w = validate(pd.DataFrame({"pupil_id": ["1", "2"], "my_1": [1, 2], "my_2": [2, 3]}), own)
    assert not w["problem"].str.contains("instrument").any()


def test_every_codebook_of_the_project_names_bundled_instruments_by_id():
    from belonging_lib.codebook import _registry_items
    from belonging_lib.instruments import ALIASES, list_instruments

    known = set(list_instruments()) | set(ALIASES)
    reg = _registry_items()
    for path in [
        ROOT / "data" / "sample" / "codebook.csv",
        ROOT / "tests" / "fixtures" / "own_codebook.csv",
        SAV_CB,
        XLSX_CB,
    ]:
        cb = read_codebook(path)
        items = cb[cb["variable"].isin(reg) & (cb["instrument"] != "")]
        assert len(items) > 0
        bad = items[~items["instrument"].isin(known)]
        assert bad.empty, (path.name, bad[["variable", "instrument"]].head().to_dict("records"))


# --------------------------------------------------------------------------- codebook: constants, one source
def test_a_constant_and_one_source_for_several_variables():
    cb = pd.read_csv(SAV_CB, dtype=str, keep_default_na=False)
    cb.loc[cb["variable"] == "phase", "source_name"] = ""
    cb["constant"] = ""
    cb.loc[cb["variable"] == "phase", "constant"] = "secondary"
    cb = pd.concat(
        [
            cb,
            pd.DataFrame(
                [
                    {"variable": "prior_attainment", "type": "integer", "allowed": "80-120", "source_name": "KS2"},
                    {
                        "variable": "send_level",
                        "type": "categorical",
                        "allowed": "none;SEN support;EHCP",
                        "value_labels": "none=None",
                        "source_name": "SEN",
                    },
                ]
            ),
        ]
    ).fillna("")
    cb = read_codebook(cb)
    raw = _raw(SAV, cb)
    v = validate(raw, cb)
    assert v[v["severity"] == "error"].empty
    shown = v[v["problem"] == "one source, several variables"].set_index("variable")["example"]
    assert shown["prior_attainment"] == "'KS2' -> 'ks2_score' and 'prior_attainment'"
    assert shown["send_level"] == "'SEN' -> 'send' and 'send_level'"
    const = v[v["problem"] == "constant declared"]
    assert const["example"].tolist() == ["'secondary' for every pupil"] and const["n"].tolist() == [len(raw.data)]
    data = apply_codebook(raw, cb).data
    assert (data["phase"] == "secondary").all()
    assert data["prior_attainment"].equals(data["ks2_score"].rename("prior_attainment"))
    assert (data["send_level"] == "none").sum() == (data["send"] == "None").sum() > 1000
    # a constant that is not allowed is an error; two items from one column are an error
    bad = cb.copy()
    bad.loc[bad["variable"] == "phase", "constant"] = "sixth form"
    assert "constant declared" in validate(raw, bad).query("severity == 'error'")["problem"].tolist()
    with pytest.raises(DataError, match="sixth form"):
        apply_codebook(raw, bad)
    with pytest.raises(DataError, match="both a source_name and a constant"):
        read_codebook(pd.DataFrame({"variable": ["phase"], "source_name": ["Phase"], "constant": ["secondary"]}))


# --------------------------------------------------------------------------- messages
def test_missing_report_says_only_what_applies(spss_result=None):
    cb = read_codebook(XLSX_CB)
    raw = _raw(XLSX, cb)
    result = apply_codebook(raw, cb, invalid="missing")
    from belonging_lib.cli import _file_codes

    lines = missing_report(result, invalid="raise", file_codes=_file_codes(raw, XLSX))
    assert len(lines) == 1 and "SPSS" not in lines[0] and "--invalid" not in lines[0]
    lines = missing_report(result, invalid="missing", file_codes=_file_codes(raw, XLSX))
    assert len(lines) == 2 and lines[1].startswith("--invalid missing")
    scb = read_codebook(SAV_CB)
    sraw = _raw(SAV, scb)
    lines = missing_report(apply_codebook(sraw, scb), file_codes=_file_codes(sraw, SAV))
    assert lines[0].startswith("declared missing codes (codebook missing_codes, SPSS user-missing): ")


def test_run_on_excel_never_mentions_spss_nor_an_option_not_given(tmp_path, capsys):
    rc, text, err = _run(
        [
            "--data",
            XLSX,
            "--codebook",
            XLSX_CB,
            "--out",
            tmp_path / "o",
            "--work",
            tmp_path / "w",
            "--plan",
            "--invalid",
            "missing",
        ],
        capsys,
    )
    assert rc == 0, err
    assert "SPSS" not in text and "--invalid missing (values the codebook does not allow)" in text
    rc, text, err = _run(
        ["--data", SAV, "--codebook", SAV_CB, "--out", tmp_path / "o", "--work", tmp_path / "w", "--plan"], capsys
    )
    assert rc == 0 and "--invalid missing" not in text and "SPSS user-missing" in text


def test_straight_lining_note_counts_each_answer_and_catches_one_skipped_item():
    items = [f"pssm_{k:02d}" for k in range(1, 19)]
    rows = [[1] * 18, [1] * 18] + [[5] * 18] * 8 + [[5] * 17 + [None]] + [[k % 5 + 1 for k in range(18)]] * 5
    frame = pd.DataFrame(rows, columns=items)
    frame.insert(0, "pupil_id", [f"{i:03d}" for i in range(len(frame))])
    cb = read_codebook(
        pd.DataFrame(
            {
                "variable": ["pupil_id"] + items,
                "type": ["id"] + ["item"] * 18,
                "allowed": [""] + ["1-5"] * 18,
                "instrument": [""] + ["pssm"] * 18,
            }
        )
    )
    v = validate(frame, cb)
    row = v[v["problem"] == "straight-lining"].iloc[0]
    assert row["n"] == 11 and row["rows"].startswith("rows 1, 2, 3")
    assert row["example"] == (
        "the same answer to all 18 items: 5 by 9 pupils, 1 by 2 pupils; 1 of them skipped one item"
    )
    assert "5.0" not in row["example"] and "first" not in row["example"]


# --------------------------------------------------------------------------- a failed cell fails its section
def test_contain_failures_replaces_the_section_and_leaves_no_traceback():
    from belonging_lib.book import contain_failures

    nb = nbformat.v4.new_notebook()
    err = {
        "output_type": "error",
        "ename": "DataError",
        "evalue": "`table` has no rows",
        "traceback": ["\x1b[31mTraceback ...", "DataError: `table` has no rows"],
    }
    cells = [
        nbformat.v4.new_markdown_cell("# 03 · Who\n\n## Gaps\n\ntext"),
        nbformat.v4.new_code_cell("a = 1"),
        nbformat.v4.new_markdown_cell("### SEN support and EHCP\n\nWe compare {glue:text}`lvl`."),
        nbformat.v4.new_code_cell("table()"),
        nbformat.v4.new_code_cell("b = 2"),
        nbformat.v4.new_markdown_cell("## Summary\n\nDone."),
    ]
    cells[3]["outputs"] = [nbformat.from_dict(err)]
    nb.cells = cells
    failed, whole = contain_failures(nb)
    assert whole is None and list(failed) == ["SEN support and EHCP"]
    assert failed["SEN support and EHCP"] == "`table` has no rows (DataError)"
    text = "\n".join(c.source for c in nb.cells)
    assert (
        "### SEN support and EHCP\n\n**This section could not be run on your data.** What failed: "
        "\\`table\\` has no rows (DataError). What to change: " in text
    )
    assert "We compare" not in text and "## Summary\n\nDone." in text and "## Gaps" in text
    assert [c.source for c in nb.cells if c.cell_type == "code"] == ["a = 1"]
    assert not [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    # a cell that fails before the first section fails the chapter: title and notice only
    nb.cells = [nbformat.v4.new_markdown_cell("# 05 · Attainment"), nbformat.v4.new_code_cell("load()")]
    nb.cells[1]["outputs"] = [nbformat.from_dict({**err, "ename": "KeyError", "evalue": "'attendance'"})]
    failed, whole = contain_failures(nb)
    assert failed == {} and whole == "it looked for 'attendance' in your data, which do not have it"
    assert len(nb.cells) == 1 and nb.cells[0].source.startswith("# 05 · Attainment\n\n**This chapter could not be run")


def test_own_data_execution_fails_the_section_not_the_chapter_over_local_sockets(tmp_path, capfd):
    from belonging_lib.book import ChapterPlan, SectionPlan, execute_chapters, format_plan

    src = tmp_path / "src"
    _chapter(
        src,
        "# 01 · Test\n\n```{code-cell} ipython3\nx = 1\n```\n\n## Levels\n\n"
        "```{code-cell} ipython3\nimport pandas as pd\npd.DataFrame({'send': [1]})['send_level']\n```\n\n"
        "## After\n\n```{code-cell} ipython3\nprint('after', x + 1)\n```\n",
    )
    runs = execute_chapters(src, tmp_path / "out", workers=1, contain=True)
    err = capfd.readouterr().err
    assert "without encryption" not in err  # the kernels talk over local sockets
    run = runs[0]
    assert run.error is None and run.partly
    assert dict(run.failed) == {"Levels": "it looked for 'send_level' in your data, which do not have it"}
    nb = nbformat.read(run.path, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any("after 2" in "".join(o.get("text", "")) for o in outputs)  # the next section ran
    assert not [c for c in nb.cells if "papermill-error-cell-tag" in c.metadata.get("tags", [])]
    plan = [ChapterPlan("01_test", ("survey",), (), (SectionPlan("Levels", ()),), {})]
    text = format_plan(plan, runs)
    assert "01_test: partly run, 1 section(s) could not run:" in text
    assert "could not run 'Levels': it looked for 'send_level'" in text
    assert "Of 1 chapters, 0 ran, 1 ran partly, 0 did not run and 0 were skipped." in text
    # the sample book (no containment) still stops on the first error
    runs = execute_chapters(src, tmp_path / "sample", workers=1)
    assert runs[0].error and "KeyError" in runs[0].error and not runs[0].failed


# --------------------------------------------------------------------------- end to end: everything under --out
@pytest.mark.slow
def test_nothing_under_out_is_pupil_level_or_reversible(tmp_path, capsys):
    out, work = tmp_path / "out", tmp_path / "work"
    rc, text, err = _run(
        [
            "--data",
            SAV,
            "--codebook",
            SAV_CB,
            "--out",
            out,
            "--work",
            work,
            "--workers",
            "2",
            "--notebooks",
            "02,03,11",
        ],
        capsys,
    )
    assert rc in (0, 1), err
    if rc == 1:  # a section that could not run is listed, never a traceback
        assert "PARTLY RUN" in err and "Traceback" not in err
    key = (work / "pseudonym.key").read_text().strip()
    cb = read_codebook(SAV_CB)
    raw = _raw(SAV, cb).data
    ids = set(raw["PupilID"].astype(str))
    pseudonyms = set(pd.read_csv(work / "data" / "survey.csv", dtype=str)["pupil_id"])
    files = sorted(p for p in out.rglob("*") if p.is_file())
    assert files and not [p for p in files if p.name in ("survey.csv", "codebook.csv", "pseudonym.key")]
    assert not (out / "data").exists() and not (out / ".cache").exists()
    number = re.compile(r"(?<![\w.])(\d{5,6})(?![\w.])")
    hexes = re.compile(r"X[0-9a-f]{16}")
    for f in files:
        body = f.read_bytes().decode("utf-8", errors="replace")
        assert key not in body, f
        assert not set(number.findall(body)) & ids, f
        assert not set(hexes.findall(body)) & pseudonyms, f
        assert str(work) not in body, f
    # the closing note lists every file under --out, each with why it is safe
    note = text[text.index(f"Files under {out}") :].splitlines()
    named = {ln.split(": ", 1)[0].strip() for ln in note[1:] if ": " in ln and " files under " not in ln}
    folders = [
        re.match(r"\s+\d+ files under (\S+?)(?: ending (\S+))?: ", ln).groups()
        for ln in note[1:]
        if " files under " in ln
    ]
    for f in files:
        rel = f.relative_to(out).as_posix()
        assert rel in named or any(rel.startswith(d) and rel.endswith(e or "") for d, e in folders), rel
    assert not [ln for ln in note if "not made by this run" in ln]
    assert note[0].endswith(f"({len(files)}), and why each is safe to share:")
    # no traceback on any page
    for page in (out / "site").glob("*.html"):
        assert "Traceback" not in page.read_text(encoding="utf-8"), page.name


# --------------------------------------------------------------------------- a column removed: run or skip
NOTEBOOKS = ROOT / "notebooks"
SAMPLE = ROOT / "data" / "sample"
#: Columns of the sample survey that a user's file may lack (identifiers and scale items aside).
OPTIONAL_COLUMNS = [
    "phase",
    "year_group",
    "gender",
    "fsm",
    "send",
    "send_level",
    "eal",
    "ethnicity",
    "lgbt",
    "attendance",
    "adversity",
    "ks2_score",
    "prior_attainment",
    "attainment",
]


def test_removing_any_optional_column_plans_each_chapter_to_run_or_skip(tmp_path):
    """For every chapter, each optional column removed in turn: the plan runs it or skips it, and a
    chapter or section that declares the column is skipped, naming it (plan level; the slow test below
    runs 03 to 06 without attendance)."""
    from belonging_lib.book import chapter_sources, plan_chapters, read_needs

    survey = pd.read_csv(SAMPLE / "survey.csv", dtype=str, keep_default_na=False)
    assert set(OPTIONAL_COLUMNS) <= set(survey.columns)
    declared = {s.stem: read_needs(s) for s in chapter_sources(NOTEBOOKS)}
    for col in OPTIONAL_COLUMNS:
        folder = tmp_path / col
        folder.mkdir()
        survey.drop(columns=col).to_csv(folder / "survey.csv", index=False)
        for plan in plan_chapters(NOTEBOOKS, folder):
            needs = declared[plan.name]
            if col in needs["needs"]:
                assert not plan.runs and col in plan.missing, (col, plan.name)
                continue
            if not plan.runs:
                continue
            for section in plan.sections:
                if col in section.needs:
                    assert not section.runs and col in plan.skipped[section.heading], (col, plan.name)
    # the covariates the analyses can go on without are optional, not needs
    for chapter, col in [
        ("04_relationships_and_belonging", "attendance"),
        ("05_belonging_and_attainment", "attendance"),
        ("05_belonging_and_attainment", "phase"),
        ("06_belonging_and_mental_health", "attendance"),
    ]:
        needs = declared[chapter]
        assert col not in needs["needs"] and not any(
            col in v for h, v in needs["sections"].items() if h != "Exercises"
        ), (chapter, col)
    # SEND recorded as levels in `send` (None, SEN support, EHCP) meets the need for send_level
    levels = survey.drop(columns="send_level").assign(send=survey["send_level"].replace({"none": "None"}))
    (tmp_path / "levels").mkdir()
    levels.to_csv(tmp_path / "levels" / "survey.csv", index=False)
    p03 = {p.name: p for p in plan_chapters(NOTEBOOKS, tmp_path / "levels")}["03_who_belongs"]
    assert "SEN support and EHCP" not in p03.skipped
    p03 = {p.name: p for p in plan_chapters(NOTEBOOKS, tmp_path / "send_level")}["03_who_belongs"]
    assert "send_level" in p03.skipped["SEN support and EHCP"]


def _glued_markdown(nb) -> dict[str, str]:
    """Each Markdown glue of an executed notebook with its text."""
    out = {}
    for cell in nb.cells:
        for o in cell.get("outputs", []) if cell.cell_type == "code" else []:
            meta = o.get("metadata", {}).get("scrapbook")
            text = next((v for k, v in o.get("data", {}).items() if k.endswith("text/markdown")), None)
            if meta and text is not None:
                out[meta["name"]] = "".join(text) if isinstance(text, list) else text
    return out


@pytest.mark.slow
def test_chapters_03_to_06_run_in_full_without_attendance(tmp_path, monkeypatch):
    """Attainment, prior attainment and SEND but no attendance: 03, 04, 05 and 06 run with no failed
    section, and each says what it left out."""
    from belonging_lib.book import execute_chapters, plan_chapters

    monkeypatch.delenv("BELONGING_EXPECTED", raising=False)  # own data: no sample results to compare
    monkeypatch.delenv("BELONGING_RECORD_DIR", raising=False)

    data = tmp_path / "data"
    data.mkdir()
    pd.read_csv(SAMPLE / "survey.csv", dtype=str, keep_default_na=False).drop(columns="attendance").to_csv(
        data / "survey.csv", index=False
    )
    plans = {p.name: p for p in plan_chapters(NOTEBOOKS, data, only=["03", "04", "05", "06"])}
    assert all(p.runs for p in plans.values())
    assert "Mediation: teacher care -> belonging -> attainment" not in plans["04_relationships_and_belonging"].skipped
    assert "Does belonging buffer disadvantage?" not in plans["06_belonging_and_mental_health"].skipped
    runs = execute_chapters(
        NOTEBOOKS,
        tmp_path / "nb",
        parameters={"DATA_DIR": str(data)},
        only=["03", "04", "05", "06"],
        workers=2,
        cwd=str(ROOT),
        contain=True,
        skipped={name: p.skipped for name, p in plans.items()},
    )
    assert [(r.name, r.error, r.failed) for r in runs if r.error or r.failed] == []
    said = {
        "04_relationships_and_belonging": "mediation_adjusts",
        "05_belonging_and_attainment": "covariates_used",
        "06_belonging_and_mental_health": "buffer_adjusts",
    }
    for r in runs:
        if r.name in said:
            assert "no attendance column" in _glued_markdown(nbformat.read(r.path, as_version=4))[said[r.name]], r.name


# --------------------------------------------------------------------------- sentences true of the output
def test_a_heading_with_nothing_left_under_it_is_left_out():
    from belonging_lib.book import prepare_chapter

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(
            "# 04 · Test\n\n## Result\n\nShown {glue:text}`a`.\n\n## Summary\n\n"
            "- Gone {glue:text}`skipped`.\n\n## Next\n\n### Inner\n\nKept."
        ),
        nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["remove-cell"]}),
        nbformat.v4.new_markdown_cell("## Code only"),
        nbformat.v4.new_code_cell("x"),
    ]
    nb.cells[1]["outputs"] = [
        nbformat.from_dict(
            {
                "output_type": "display_data",
                "data": {"text/plain": "1"},
                "metadata": {"scrapbook": {"name": "a", "mime_prefix": ""}},
            }
        )
    ]
    prepare_chapter(nb, own_data=True)
    text = "\n".join(c.source for c in nb.cells)
    assert "## Summary" not in text and "Gone" not in text
    assert "## Result\n\nShown" in text and "## Next\n\n### Inner\n\nKept." in text and "## Code only" in text
    # the sample book keeps every heading
    nb2 = nbformat.v4.new_notebook()
    nb2.cells = [nbformat.v4.new_markdown_cell("# T\n\n## Summary\n")]
    prepare_chapter(nb2)
    assert "## Summary" in nb2.cells[0].source


def test_a_heading_whose_prose_all_went_is_left_out_even_over_code():
    """02's "The claim" on a survey without the PSSM: its paragraph names the PSSM and goes, and the
    heading must not stand over the set-up code alone."""
    from belonging_lib.book import prepare_chapter

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(
            "# 02 · Test\n\n## Learning objectives\n\n- one\n\n## The claim\n\n"
            "Surveys such as the {glue:text}`n_items`-item PSSM are said to be reliable."
        ),
        nbformat.v4.new_code_cell("import pandas as pd"),
        nbformat.v4.new_markdown_cell("## 3. Every scale\n\nKept."),
    ]
    prepare_chapter(nb, own_data=True, columns=["pupil_id", "pisa_belong_1"])
    text = "\n".join(c.source for c in nb.cells)
    assert "## The claim" not in text and "PSSM" not in text
    assert "## Learning objectives" in text and "## 3. Every scale\n\nKept." in text
    assert [c.source for c in nb.cells if c.cell_type == "code"] == ["import pandas as pd"]
    # with its prose kept (the sample's glue computed), the heading stays
    nb.cells.insert(0, nbformat.v4.new_markdown_cell("## The claim\n\nSurveys are said to be reliable."))
    prepare_chapter(nb, own_data=True, columns=["pupil_id", "pisa_belong_1"])
    assert nb.cells[0].source.startswith("## The claim\n\nSurveys")


def _partial_chapter():
    nb = nbformat.v4.new_notebook()
    nb.metadata["belonging"] = {
        "needs": ["survey"],
        "headings": {"Teacher and peer relationships": {"without": ["peer"], "reads": "Teacher relationships"}},
    }
    nb.cells = [
        nbformat.v4.new_markdown_cell(
            "# 04 · Test\n\n## Teacher and peer relationships\n\nText.\n\n### Fairness\n\nFair text."
        ),
        nbformat.v4.new_code_cell("fair = 1"),
        nbformat.v4.new_markdown_cell("### Listening\n\nListening text."),
        nbformat.v4.new_markdown_cell("## Who belongs least?\n\nGaps.\n\n### Levels\n\nLevels text."),
        nbformat.v4.new_markdown_cell("### Built in?\n\nTruth."),
        nbformat.v4.new_markdown_cell("## Mediation\n\nMediation text.\n\n### Inner\n\nInner text."),
        nbformat.v4.new_code_cell("boom()"),
    ]
    return nb


def test_sections_that_ran_in_part_say_so_and_headings_take_their_computed_wording():
    from belonging_lib.book import contain_failures, prepare_chapter, skip_sections

    nb = _partial_chapter()
    skip_sections(
        nb,
        {
            "Fairness": "it needs the column fsm, which your data do not have",
            "Built in?": "it works through the course's sample data, not yours",
        },
    )
    nb.cells[-1]["outputs"] = [nbformat.v4.new_output("error", ename="DataError", evalue="no rows", traceback=[])]
    failed, whole = contain_failures(nb)
    assert failed == {"Inner": "no rows (DataError)"} and whole is None
    prepare_chapter(nb, own_data=True, columns=["pupil_id", "pssm_01", "tr_care_1", "tr_fair_1"])
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    # the computed wording where the data lack peer relationships
    assert "## Teacher relationships\n" in text and "Teacher and peer" not in text
    # a section with a sub-section skipped for want of data, or failed, says so under its heading
    assert (
        "## Teacher relationships\n\n*This section ran only in part on your data: \u201cFairness\u201d did not run"
        " (see below).*\n\nText." in text
    )
    assert "## Mediation\n\n*This section ran only in part on your data: \u201cInner\u201d did not run" in text
    # a section about how the sample was made never runs on own data: its parent ran in full
    assert "## Who belongs least?\n\nGaps." in text
    assert text.count("ran only in part") == 2
    # with peer relationships recorded, the chapter's own heading stands
    nb2 = _partial_chapter()
    prepare_chapter(nb2, own_data=True, columns=["pupil_id", "pssm_01", "tr_care_1", "peer_1"])
    text2 = "\n".join(c.source for c in nb2.cells if c.cell_type == "markdown")
    assert "## Teacher and peer relationships\n\nText." in text2 and "ran only in part" not in text2
    # the sample book keeps the chapter's headings as written
    nb3 = _partial_chapter()
    prepare_chapter(nb3)
    assert "## Teacher and peer relationships" in nb3.cells[0].source


def test_a_computed_heading_must_name_a_heading_the_chapter_has(tmp_path):
    from belonging_lib import BelongingError
    from belonging_lib.book import read_needs

    def chapter(name, block):
        path = tmp_path / name
        path.write_text(
            f"---\nbelonging:\n  headings:\n{block}---\n\n# 04 · Test\n\n## Teacher and peer relationships\n\nText.\n",
            encoding="utf-8",
        )
        return path

    good = chapter(
        "04_good.md", "    Teacher and peer relationships: {without: [peer], reads: Teacher relationships}\n"
    )
    assert read_needs(good)["headings"] == {"Teacher and peer relationships": (("peer",), "Teacher relationships")}
    for bad in ["    Peer relationships: {without: [peer], reads: X}\n", "    Teacher and peer relationships: X\n"]:
        with pytest.raises(BelongingError):
            read_needs(chapter("04_bad.md", bad))


def test_the_chapters_own_data_headings_name_no_scale_their_needs_do_not_cover():
    """A heading of a chapter that runs on a pupil survey alone, which names one of the course's scales
    or pupil groups, is covered by the chapter's or the section's needs, or has a computed wording."""
    from belonging_lib.book import _GROUP_WORDS, _SCALE_WORDS, _headings, chapter_sources, read_needs

    for source in chapter_sources(NOTEBOOKS):
        if source.stem[:2] not in {"02", "03", "04", "05", "06", "11"}:
            continue
        declared = read_needs(source)
        for heading in _headings(source.read_text(encoding="utf-8")):
            for name, words in {**_SCALE_WORDS, **_GROUP_WORDS}.items():
                if not re.search(words, heading):
                    continue
                covered = name in declared["needs"] or name in declared["sections"].get(heading, ())
                covered = covered or (name == "send" and "send_level" in declared["sections"].get(heading, ()))
                assert covered or name in declared["headings"].get(heading, ((), ""))[0], (source.name, heading, name)


def test_legend_labels_come_from_the_codebook():
    from belonging_lib.codebook import answer_labels

    cb = read_codebook(SAV_CB)
    items = [f"tr_care_{k}" for k in range(1, 5)]
    assert answer_labels(cb, items) == {
        1: "Strongly disagree",
        2: "Disagree",
        3: "Neither",
        4: "Agree",
        5: "Strongly agree",
    }
    pssm = [f"pssm_{k:02d}" for k in range(1, 19)]
    assert answer_labels(cb, pssm)[1] == "Not at all true"
    assert answer_labels(cb, items + ["not_there"]) is None
    mixed = cb.copy()
    mixed.loc[mixed["variable"] == "tr_care_2", "value_labels"] = "1=No;2=Yes"
    assert answer_labels(mixed, items) is None


def test_whole_numbers_print_whole_in_tables():
    from belonging_lib.tables import apa_table

    t = apa_table(pd.DataFrame({"year_group": pd.array([7, 8, None], dtype="Int64"), "mean": [3.0, 3.25, 3.5]}))
    assert t.cells["year_group"].tolist() == ["7", "8", ""] and t.cells.iloc[0, 1] == "3.00"
