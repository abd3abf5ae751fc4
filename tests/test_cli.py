"""Tests of the `belonging` command line."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from belonging_lib.cli import main, map_to_layout, runnable_notebooks

ROOT = Path(__file__).resolve().parent.parent
FIX = Path(__file__).resolve().parent / "fixtures"


def test_validate_command(capsys, tmp_path):
    assert main(["validate", "--data", str(FIX / "own_survey.csv"), "--codebook", str(FIX / "own_codebook.csv")]) == 0
    out = capsys.readouterr().out
    assert "not-answered code" in out and "text label" in out
    bad = tmp_path / "bad.csv"
    frame = pd.read_csv(FIX / "own_survey.csv", dtype=str, keep_default_na=False)
    frame.loc[3, "Belong 01"] = "Perhaps"
    frame.to_csv(bad, index=False)
    assert main(["validate", "--data", str(bad), "--codebook", str(FIX / "own_codebook.csv")]) == 1
    assert "invalid value" in capsys.readouterr().out


def test_errors_are_reported_not_raised(capsys, tmp_path):
    code = main(["validate", "--data", str(tmp_path / "missing.csv"), "--codebook", str(FIX / "own_codebook.csv")])
    assert code == 2
    assert "does not exist" in capsys.readouterr().err


def test_map_to_layout_writes_sample_layout(tmp_path):
    r = map_to_layout(FIX / "own_survey.csv", FIX / "own_codebook.csv", tmp_path)
    written = pd.read_csv(tmp_path / "survey.csv")
    expected = pd.read_csv(FIX / "own_survey_expected.csv")
    pd.testing.assert_frame_equal(written, expected)
    assert (tmp_path / "codebook.csv").exists() and r.ledger.n == len(expected)
    # whole numbers with gaps are written as "3", not "3.0"
    assert ",3.0," not in (tmp_path / "survey.csv").read_text()


def test_runnable_notebooks_only_those_with_data(tmp_path):
    map_to_layout(FIX / "own_survey.csv", FIX / "own_codebook.csv", tmp_path)
    nbs = runnable_notebooks(ROOT / "notebooks", tmp_path)
    for nb in nbs:
        text = next((ROOT / "notebooks").glob(f"{nb}_*.md")).read_text()
        assert "load_sample(\"trial\"" not in text
    # chapters run by their declared needs (front matter), not by which files exist: this full survey
    # supports 02-06 and 11; 05 runs without schools.csv; 00 (the sample's tour), 01 (the raw export),
    # 07-10 (other files) and 12 (a questionnaire pilot) do not run
    assert set(nbs) == {"02", "03", "04", "05", "06", "11"}


def test_report_command(tmp_path, capsys):
    out = tmp_path / "rep.html"
    assert main(["report", "--school", "S01", "--out", str(out)]) == 0
    assert "[c]" in out.read_text() or "fewer than 10" in out.read_text()
    out2 = tmp_path / "own.html"
    assert main(["report", "--school", "S05", "--data", str(FIX / "own_survey.csv"), "--codebook",
                 str(FIX / "own_codebook.csv"), "--out", str(out2)]) == 0
    assert "Synthetic sample data" not in out2.read_text()


def test_simulate_command_is_wired(monkeypatch, tmp_path):
    calls = {}
    import belonging_lib.simulate as sim

    monkeypatch.setattr(sim, "write_sample_data", lambda out, **kw: calls.setdefault("out", (out, kw)))
    assert main(["simulate", "--out", str(tmp_path), "--seed", "5"]) == 0
    assert calls["out"] == (str(tmp_path), {"seed": 5})


@pytest.mark.slow
def test_run_on_own_fixture_executes_a_notebook_and_builds_site(tmp_path):
    """Acceptance (issue 9): a differently named, differently coded file reruns a notebook unedited."""
    work = tmp_path.parent / (tmp_path.name + "-work")
    code = main(["run", "--data", str(FIX / "own_survey.csv"), "--codebook", str(FIX / "own_codebook.csv"),
                 "--out", str(tmp_path), "--work", str(work), "--workers", "1"])
    assert code == 0
    # every notebook whose data files exist in the mapped folder runs, unedited, on the user's data
    executed = sorted((tmp_path / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert len(executed) >= 4 and (tmp_path / "site" / "index.html").exists()
    for nb in executed:       # the working folder (pupil-level data) is named only as a placeholder
        text = nb.read_text()
        assert "<your working folder, not shared>" in text and str(work) not in text, nb.name
    # the rerun book is built by the book's machinery and never calls the user's data synthetic
    from belonging_lib.book import OWN_DATA_NOTICE, SAMPLE_NOTICE

    for nb in executed:
        page = (tmp_path / "site" / f"{nb.stem}.html").read_text(encoding="utf-8")
        assert OWN_DATA_NOTICE in page and SAMPLE_NOTICE not in page, nb.name
        assert "synthetic" not in page.lower(), nb.name


def test_validate_command_ends_with_a_summary_counted_from_1(capsys, tmp_path):
    raw = tmp_path / "raw.csv"
    raw.write_text("ID,Q1\nP1,4.5\n,3\n", encoding="utf-8")
    cb = tmp_path / "cb.csv"
    pd.DataFrame({"variable": ["pupil_id", "q1"], "source_name": ["ID", "Q1"], "type": ["id", "item"],
                  "allowed": ["", "1-5"]}).to_csv(cb, index=False)
    assert main(["validate", "--data", str(raw), "--codebook", str(cb)]) == 1
    out = capsys.readouterr().out
    assert "blank id" in out and "invalid value" in out and "row 1" in out and "row 2" in out
    assert out.strip().splitlines()[-1].startswith("2 errors (mapping would stop), 0 notes")


def test_unexpected_errors_are_one_line_with_exit_3(capsys, monkeypatch):
    import belonging_lib.cli as cli

    def boom(args):
        raise TypeError("something\nbroke")

    monkeypatch.setattr(cli, "_cmd_validate", boom)
    monkeypatch.delenv("BELONGING_DEBUG", raising=False)
    assert cli.main(["validate", "--data", "a.csv", "--codebook", "b.csv"]) == 3
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "something broke" in err


def test_simulate_out_pointing_at_a_file_is_refused(tmp_path, capsys):
    target = tmp_path / "f.txt"
    target.write_text("x")
    assert main(["simulate", "--out", str(target)]) == 2
    assert "is an existing file" in capsys.readouterr().err
