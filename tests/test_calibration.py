"""The coverage study (``make calibrate``) runs, and the committed table is what its full run writes.

A quick run (two samples per interval) checks that every study still fits and yields the same rows;
the committed ``docs/calibration.json`` must have the layout, the rows, the descriptions, the
replicates and the seed of a full run of the current code, numbers consistent with its own rule, and
``bench/results/calibration.md`` must be its rendering. The sentence chapters glue follows the table.
"""

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

from belonging_lib.notebook import calibration_note, calibration_rows

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cal():
    spec = importlib.util.spec_from_file_location("calibrate", ROOT / "calibration" / "calibrate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["calibrate"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def committed():
    return json.loads((ROOT / "docs" / "calibration.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def quick(cal):
    return cal.calibrate(reps=2, seed=1, workers=1, progress=False)


STATIC = ("key", "chapter", "interval", "function", "design")


def test_quick_run_gives_the_committed_rows(quick, committed):
    assert quick["format"] == committed["format"]
    assert [{k: r[k] for k in STATIC} for r in quick["rows"]] == [{k: r[k] for k in STATIC} for r in committed["rows"]]
    assert [sorted(r) for r in quick["rows"]] == [sorted(r) for r in committed["rows"]]
    assert sorted(quick) == sorted(set(committed) - {"seconds"})
    for row in quick["rows"]:
        assert row["replicates"] + row["failed"] == 2, row


def test_committed_table_is_a_full_run(cal, committed):
    assert committed["replicates"] == cal.REPS
    assert committed["seed"] == cal.SEED
    assert committed["nominal"] == cal.NOMINAL == 0.95
    assert committed["commit"] != "unknown"
    se_nominal = math.sqrt(0.95 * 0.05 / committed["replicates"])
    for row in committed["rows"]:
        assert row["failed"] <= 0.02 * cal.REPS, row  # a study whose model often fails is not calibrated
        assert row["replicates"] + row["failed"] == cal.REPS
        p, r = row["coverage"], row["replicates"]
        assert 0 <= p <= 1 and float(p * r).is_integer(), row
        assert row["mc_se"] == pytest.approx(math.sqrt(p * (1 - p) / r), abs=1e-12)
        assert row["verdict"] == cal._verdict(p, se_nominal)


def test_covers_the_chapters_intervals(committed):
    chapters = {c.strip() for r in committed["rows"] for c in r["chapter"].split(",")}
    assert {"02", "05", "06", "07", "09"} <= chapters
    assert any(r["interval"].startswith("ICC") for r in committed["rows"])


def test_markdown_table_is_the_rendering_of_the_json(cal, committed):
    text = (ROOT / "bench" / "results" / "calibration.md").read_text(encoding="utf-8")
    assert text == cal.to_markdown(committed)
    assert f"at commit `{committed['commit']}`" in text and f"seed {committed['seed']}" in text


def test_verdict_rule(cal):
    se = math.sqrt(0.95 * 0.05 / 300)  # 0.0126
    assert cal._verdict(0.95, se) == "within"
    assert cal._verdict(0.93, se) == "within"
    assert cal._verdict(0.92, se) == "below"
    assert cal._verdict(0.98, se) == "above"


def test_chapter_sentence_follows_the_table(committed):
    for chapter in ("02", "05", "06", "07", "09"):
        rows = calibration_rows(chapter).to_dict("records")
        note = calibration_note(chapter)
        assert rows and note.startswith("In the course's coverage study")
        off = [r for r in rows if r["verdict"] != "within"]
        for r in off:
            assert f"the {r['interval']} interval" in note and f"{100 * r['coverage']:.1f}%" in note
        assert ("within Monte-Carlo error" in note) == (not off)
    assert calibration_rows("00").empty and calibration_note("00") == ""
    assert list(calibration_rows("09").columns) == list(committed["rows"][0])
