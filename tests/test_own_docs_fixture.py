"""Own data, issue 25: a third survey whose codebook was written from the documentation alone.

``tests/fixtures/own_docs/pupil_voice.sav`` is a trust's pupil voice survey made up with numpy (see
``make_own_docs_fixture.py`` there), not with the course's simulator; ``pupil_voice_codebook.csv`` was written
from the README, chapter 11, ``notebooks/AUTHORING.md`` and the codebook docstring. It has a belonging
scale, two teacher-relationship scales, a wellbeing scale, attainment, KS2 (feeding both ``ks2_score``
and ``prior_attainment``), SEN codes (feeding ``send`` and ``send_level``) and a constant ``phase``,
but no attendance. The slow test runs ``belonging run`` on it: every chapter whose needs it meets
runs with no failed section, and nothing under ``--out`` is pupil-level or reversible.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from belonging_lib.cli import main
from belonging_lib.codebook import read_codebook, validate
from belonging_lib.io import read_labelled

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "tests" / "fixtures" / "own_docs"
SAV, CODEBOOK = HERE / "pupil_voice.sav", HERE / "pupil_voice_codebook.csv"
NOTEBOOKS = ROOT / "notebooks"
#: The chapters a survey of pupils alone, with these scales and columns, supports.
SUPPORTED = ["02", "03", "04", "05", "06", "11"]


def _run(args, capsys):
    rc = main(["run", *map(str, args)])
    got = capsys.readouterr()
    return rc, got.out, got.err


def test_the_fixture_is_small_and_its_codebook_maps_without_an_error():
    assert SAV.stat().st_size + CODEBOOK.stat().st_size < 300_000
    cb = read_codebook(CODEBOOK)
    raw = read_labelled(SAV, user_missing="keep", ids=cb.loc[cb["type"] == "id", "source_name"].tolist())
    problems = validate(raw, cb)
    assert not (problems["severity"] == "error").any(), problems[problems["severity"] == "error"]
    # no warning that `run` would stop on (reverse keys, instrument names)
    stops = problems[(problems["severity"] == "warning") & problems["problem"].str.contains("reverse|instrument")]
    assert stops.empty, stops
    assert "attendance" not in set(cb["variable"])
    assert {"ks2_score", "prior_attainment"} <= set(cb["variable"]) and {"send", "send_level"} <= set(cb["variable"])


def test_plan_runs_the_supported_chapters_and_03_to_06_need_nothing_they_lack(tmp_path, capsys):
    from belonging_lib.book import plan_chapters

    work = tmp_path / "work"
    rc, text, err = _run(
        ["--data", SAV, "--codebook", CODEBOOK, "--out", tmp_path / "out", "--work", work, "--plan"], capsys
    )
    assert rc == 0, err
    survey = pd.read_csv(work / "data" / "survey.csv", dtype=str)
    # one source, several variables; a constant; SEN codes as both a flag and levels
    assert (survey["ks2_score"].fillna("") == survey["prior_attainment"].fillna("")).all()
    assert set(survey["phase"]) == {"secondary"}
    assert set(survey["send"]) == {"0", "1"} and set(survey["send_level"]) == {"none", "SEN support", "EHCP"}
    assert ((survey["send"] == "1") == (survey["send_level"] != "none")).all()
    plans = {p.name[:2]: p for p in plan_chapters(NOTEBOOKS, work / "data")}
    assert sorted(k for k, p in plans.items() if p.runs) == SUPPORTED
    # what 03 to 06 skip is only what this survey does not have (other scales, school file, sample)
    for k in ["03", "04", "05", "06"]:
        for heading, reason in plans[k].skipped.items():
            assert "attainment" not in reason and "send" not in reason and "fsm" not in reason, (k, heading, reason)
    assert "SEN support and EHCP" not in plans["03"].skipped
    assert "Mediation: teacher care -> belonging -> attainment" not in plans["04"].skipped
    assert "Does belonging buffer disadvantage?" not in plans["06"].skipped


@pytest.mark.slow
def test_belonging_run_on_the_docs_fixture_runs_every_supported_chapter_and_shares_nothing_pupil_level(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.delenv("BELONGING_EXPECTED", raising=False)  # own data: no sample results to compare
    monkeypatch.delenv("BELONGING_RECORD_DIR", raising=False)
    out, work = tmp_path / "out", tmp_path / "work"
    rc, text, err = _run(
        [
            "--data",
            SAV,
            "--codebook",
            CODEBOOK,
            "--out",
            out,
            "--work",
            work,
            "--workers",
            "2",
            "--notebooks",
            ",".join(SUPPORTED),
        ],
        capsys,
    )
    # every chapter ran, none partly: no section failed (a failure exits 1 and lists it)
    assert rc == 0, err + text[-3000:]
    assert f"Of {len(SUPPORTED)} chapters, {len(SUPPORTED)} ran, 0 ran partly, 0 did not run" in text
    executed = {p.name[:2]: nbformat.read(p, as_version=4) for p in (out / "notebooks").glob("*.ipynb")}
    assert sorted(executed) == SUPPORTED
    for k, nb in executed.items():
        errors = [
            o
            for c in nb.cells
            if c.cell_type == "code"
            for o in c.get("outputs", [])
            if o.get("output_type") == "error"
        ]
        notices = [c for c in nb.cells if c.cell_type == "markdown" and "could not be run on your data" in c.source]
        assert not errors and not notices, k
    # 05 says what it left out for want of attendance
    glued = {
        o["metadata"]["scrapbook"]["name"]: "".join(v for k, v in o["data"].items() if k.endswith("text/markdown"))
        for c in executed["05"].cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("metadata", {}).get("scrapbook")
    }
    assert "no attendance column" in glued["covariates_used"]

    # nothing under --out is pupil-level or reversible
    key = (work / "pseudonym.key").read_text().strip()
    cb = read_codebook(CODEBOOK)
    raw = read_labelled(SAV, user_missing="keep", ids=cb.loc[cb["type"] == "id", "source_name"].tolist()).data
    ids = set(raw["UPNRef"].astype(str))
    pseudonyms = set(pd.read_csv(work / "data" / "survey.csv", dtype=str)["pupil_id"])
    files = sorted(p for p in out.rglob("*") if p.is_file())
    assert files and not [p for p in files if p.suffix.lower() in (".csv", ".xlsx", ".sav", ".parquet", ".key")]
    number = re.compile(r"(?<![\w.])(\d{7})(?![\w.])")
    hexes = re.compile(r"X[0-9a-f]{16}")
    n_pupils = len(raw)
    whole_frame = re.compile(
        rf"\[{n_pupils} rows x \d+ columns\]|\b{n_pupils} rows × \d+ columns"
    )  # a frame shown whole
    for f in files:
        body = f.read_bytes().decode("utf-8", errors="replace")
        assert key not in body, f
        assert not set(number.findall(body)) & ids, f
        assert not set(hexes.findall(body)) & pseudonyms, f
        assert str(work) not in body, f
        assert not whole_frame.search(body), f
    for page in (out / "site").glob("*.html"):
        assert "Traceback" not in page.read_text(encoding="utf-8"), page.name
    # headings claim no more than ran: no peer items, no SDQ
    page = re.sub(r"<[^>]*>", "", (out / "site" / "04_relationships_and_belonging.html").read_text(encoding="utf-8"))
    assert "Teacher relationships#" in page and "Teacher and peer relationships" not in page
    page = re.sub(r"<[^>]*>", "", (out / "site" / "06_belonging_and_mental_health.html").read_text(encoding="utf-8"))
    assert "Belonging and wellbeing#" in page and "difficulties and wellbeing" not in page
    assert "This section ran only in part on your data: \u201cThe high-need band\u201d did not run" in page


def test_the_readme_lists_what_each_survey_chapter_needs_as_the_chapters_declare_it():
    """The README's table of the variables chapters 02 to 06 and 11 need (what the codebook above was
    written from) says what the chapters' ``belonging:`` blocks declare."""
    from belonging_lib.book import chapter_sources, read_needs

    table = {}
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        m = re.match(r"^\| (\d\d) \| (.*?) \| (.*?) \|$", line)
        if m:
            table[m.group(1)] = (m.group(2), set(re.findall(r"`([^`]+)`", m.group(3))))
    assert sorted(table) == SUPPORTED
    skip = {"survey", "scale", "sample", "survey_raw", "codebook"}
    for source in chapter_sources(NOTEBOOKS):
        k = source.stem[:2]
        if k not in table:
            continue
        declared = read_needs(source)
        needs, used = table[k]
        assert set(re.findall(r"`([^`]+)`", needs)) == set(declared["needs"]) - skip, k
        assert ("any scale" in needs) == ("scale" in declared["needs"]), k
        sections = {n for v in declared["sections"].values() for n in v}
        assert used == (set(declared["optional"]) | sections) - skip - set(declared["needs"]), k
