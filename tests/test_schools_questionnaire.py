"""The Our Class Belonging questionnaire: registry keys, hand-worked scoring, the printable forms."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from belonging_lib import ColumnError, DataError
from belonging_lib.cli import main
from belonging_lib.instruments import load_instrument
from belonging_lib.schools.questionnaire import (check_responses, data_entry_sheet, questionnaire_items,
                                                 score_responses, simulate_follow_up, simulate_responses,
                                                 write_questionnaire)
from belonging_lib.scoring import score

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "build" / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.parametrize("name,version,k,top", [("ocb_primary", "primary", 3, "Yes"),
                                                ("ocb_secondary", "secondary", 5, "Strongly agree")])
def test_both_versions_are_in_the_registry(name, version, k, top):
    inst = load_instrument(name)
    assert load_instrument(f"class_{version}") is inst
    assert inst.n_items == 17 and inst.response_range == (1, k) and inst.labels[-1] == (k, top)
    assert list(inst.subscales) == ["staff", "peers", "engage", "safe", "voice"]
    assert [len(v) for v in inst.subscales.values()] == [5, 3, 3, 3, 3]   # staff: the trusted adult is the fifth
    assert len(inst.reverse_items) == 2
    assert "CC BY 4.0" in inst.licence and "not yet validated" in inst.name.lower()
    items = questionnaire_items(version)
    assert list(items["id"]) == list(inst.item_ids)
    assert items["text"].str.len().between(10, 90).all()
    if version == "primary":          # short sentences for 7-11 year olds
        assert items["text"].str.split().str.len().max() <= 10


def _row(version, values):
    """One pupil's sheet row from the values *after* reverse-keying (stored reversed, as pupils answer)."""
    inst = load_instrument(f"class_{version}")
    lo, hi = inst.response_range
    stored = {i: (np.nan if v is None else (lo + hi - v if i in inst.reverse_items else v))
              for i, v in zip(inst.item_ids, values)}
    return stored


def test_secondary_scoring_hand_worked():
    # pupil 1: every item 4 after keying except item 10 (engagement, reverse-keyed) = 1, stored as 5
    # pupil 2: staff items 5, 5, blank, blank and (item 17) 5: 3 of 5 answered, no staff score; all others 2
    p1 = _row("secondary", [4] * 9 + [1] + [4] * 7)
    p2 = _row("secondary", [5, 5, None, None] + [2] * 12 + [5])
    assert p1["ocbs_10"] == 5 and p1["ocbs_07"] == 2
    data = pd.DataFrame([p1, p2], index=[1, 2])
    s = score_responses(data)
    assert s.loc[1, ["staff", "peers", "safe", "voice"]].tolist() == [4.0, 4.0, 4.0, 4.0]
    assert s.loc[1, "engage"] == pytest.approx((4 + 4 + 1) / 3, rel=1e-12)
    assert s.loc[1, "total"] == pytest.approx(65 / 17, rel=1e-12)
    assert np.isnan(s.loc[2, "staff"])
    assert s.loc[2, "total"] == pytest.approx((5 + 5 + 12 * 2 + 5) / 15, rel=1e-12)
    # the registry's scorer agrees
    assert score(data, "ocb_secondary")["ocbs_total"].tolist() == pytest.approx(s["total"].tolist())


def test_primary_scoring_hand_worked():
    # staff 3,3,2,1 and (item 17, an adult to tell) 3 -> 2.4; peers 3,2 and the bullying item "Yes" (3) -> keyed 1 -> 2.0
    p = {"ocbp_01": 3, "ocbp_02": 3, "ocbp_03": 2, "ocbp_04": 1, "ocbp_05": 3, "ocbp_06": 2, "ocbp_07": 3,
         "ocbp_08": 3, "ocbp_09": 3, "ocbp_10": 1, "ocbp_11": 2, "ocbp_12": 2, "ocbp_13": 2,
         "ocbp_14": 1, "ocbp_15": 1, "ocbp_16": "Sometimes", "ocbp_17": 3}
    s = score_responses(pd.DataFrame([p], index=[1]))
    assert s.loc[1, "staff"] == pytest.approx(12 / 5)
    assert s.loc[1, "peers"] == pytest.approx(2.0)
    assert s.loc[1, "engage"] == pytest.approx(3.0)          # 3, 3, and "No" to bored (1) keyed 3
    assert s.loc[1, "safe"] == 2.0 and s.loc[1, "voice"] == pytest.approx(4 / 3)
    assert s.loc[1, "total"] == pytest.approx((12 + 6 + 9 + 6 + 4) / 17)


def test_bad_sheets_name_the_row_and_column():
    good = simulate_responses(version="secondary", n_classes=1, class_size=12)
    good.index = range(1, 13)
    with pytest.raises(DataError, match="no pupils"):
        check_responses(good.iloc[:0])
    bad = good.copy()
    bad["ocbs_05"] = bad["ocbs_05"].astype(object)
    bad.loc[4, "ocbs_05"] = 7
    with pytest.raises(DataError, match=r"'ocbs_05'.*row 4"):
        check_responses(bad)
    with pytest.raises(ColumnError, match="secondary version.*--version primary"):
        check_responses(good, version="primary")
    with pytest.raises(ColumnError, match="ocbs_16"):
        check_responses(good.drop(columns="ocbs_16"))
    blank = good.copy()
    blank.loc[3, list(load_instrument("ocb_secondary").item_ids)] = pd.NA
    with pytest.raises(DataError, match="row 3"):
        check_responses(blank)


def test_questionnaire_command_writes_every_file(tmp_path, capsys):
    assert main(["questionnaire", "--out", str(tmp_path)]) == 0
    names = {p.name for p in tmp_path.iterdir()}
    for v in ("primary", "secondary"):
        assert {f"questionnaire_{v}.html", f"data_entry_{v}.csv", f"data_entry_{v}.xlsx", f"codes_{v}.csv"} <= names
        page = (tmp_path / f"questionnaire_{v}.html").read_text()
        assert "@media print" in page and page.count("class=\"item\"") == 17
        for text in questionnaire_items(v)["text"]:
            assert text.replace("'", "&#39;") in page
        sheet = pd.read_csv(tmp_path / f"data_entry_{v}.csv")
        assert list(sheet.columns) == list(data_entry_sheet(v).columns) and len(sheet) == 0
        xl = pd.read_excel(tmp_path / f"data_entry_{v}.xlsx", sheet_name=None)
        assert set(xl) == {"answers", "codes"} and "1 = " in xl["codes"]["codes"].iloc[-1]
    assert "read-aloud guidance" not in (tmp_path / "questionnaire_primary.html").read_text().lower()   # staff text: in the notes
    notes = (tmp_path / "administration_notes.html").read_text()
    for must in ("consent", "Anonymity", "read aloud", "discloses harm", "designated safeguarding lead",
                 "not a safeguarding screen", "Not yet validated"):
        assert must.lower() in notes.lower(), must
    assert "not yet validated" in capsys.readouterr().out


def test_help_of_every_command_has_an_example(capsys):
    for cmd in ("questionnaire", "class-report", "audit", "support-plan"):
        with pytest.raises(SystemExit):
            main([cmd, "--help"])
        assert "example" in capsys.readouterr().out


def test_simulated_pilot_data_are_labelled_and_scoreable():
    d = simulate_responses(version="primary", n_classes=2, class_size=20, seed=3)
    assert d["synthetic"].all() and len(d) == 40
    s = score_responses(d)
    assert s["total"].notna().all()
    f = simulate_follow_up(d, seed=4)
    assert (f["pupil_ref"] == d["pupil_ref"]).all() and f["synthetic"].all()
    assert check_responses(f) == "primary"


@pytest.mark.browser
def test_questionnaire_renders_in_chromium(tmp_path):
    if CHROMIUM is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed in CI")
        pytest.skip("chromium is not installed")
    write_questionnaire(tmp_path)
    SHOTS.mkdir(parents=True, exist_ok=True)
    for v in ("primary", "secondary"):
        page = tmp_path / f"questionnaire_{v}.html"
        shot = SHOTS / f"questionnaire_{v}.png"
        shot.unlink(missing_ok=True)
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
                 f"--user-data-dir={tmp_path / ('profile-' + v)}"]
        res = subprocess.run([CHROMIUM, *flags, "--window-size=900,1400", f"--screenshot={shot}", page.as_uri()],
                             capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr[-2000:]
        assert shot.exists() and shot.stat().st_size > 20_000     # a blank page is a few kB
        dom = subprocess.run([CHROMIUM, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True,
                             timeout=120).stdout
        assert dom.count("class=\"item\"") == 17 and questionnaire_items(v)["text"].iloc[0].split()[0] in dom
