"""The class feedback report: intervals, distributions, disclosure control and clear errors."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from belonging_lib.cli import main
from belonging_lib.disclosure import DisclosurePolicy
from belonging_lib.instruments import load_instrument
from belonging_lib.schools.class_report import class_report, item_distribution, part_summary
from belonging_lib.schools.questionnaire import simulate_responses


@pytest.fixture()
def school():
    d = simulate_responses(version="secondary", n_classes=4, class_size=28, seed=5)
    d.index = range(1, len(d) + 1)
    return d


def _class(d, name="C1"):
    c = d[d["class"] == name].reset_index(drop=True)
    c.index = range(1, len(c) + 1)
    return c


def test_part_interval_is_the_t_interval():
    s = pd.DataFrame({"staff": [1.0, 2.0, 4.0, 5.0, np.nan]})
    row = part_summary(s).to_frame().iloc[0]
    half = stats.t.ppf(0.975, 3) * np.std([1, 2, 4, 5], ddof=1) / 2
    assert row["n"] == 4 and row["estimate"] == 3.0
    assert row["ci_low"] == pytest.approx(3 - half, rel=1e-12) and row["ci_high"] == pytest.approx(3 + half, rel=1e-12)


def test_item_distribution_counts_answers():
    n_items = load_instrument("ocb_primary").n_items
    d = pd.DataFrame({f"ocbp_{i:02d}": [1, 2, 2, 3] for i in range(1, n_items + 1)})
    d.loc[3, "ocbp_05"] = np.nan
    dist = item_distribution(d, version="primary").set_index("item")
    assert dist.loc["ocbp_01", ["No", "Sometimes", "Yes"]].tolist() == [25.0, 50.0, 25.0]
    assert dist.loc["ocbp_05", "n"] == 3
    assert dist.loc["ocbp_05", ["No", "Sometimes", "Yes"]].tolist() == pytest.approx([100 / 3, 200 / 3, 0.0])


def test_report_has_no_unsuppressed_group_under_the_threshold(school, tmp_path):
    c = _class(school)
    rep = class_report(c, school=school, out=tmp_path / "r.html", synthetic=True)
    assert rep.shown and rep.n == 28 and "school_estimate" in rep.parts
    assert set(rep.by) == {"gender", "fsm", "send"}
    for g, table in rep.by.items():
        shown = table.data[~table.mask["n"].to_numpy()]
        assert (shown["n"] >= 10).all(), g
        if table.mask["n"].sum() == 1:
            pytest.fail("a lone suppressed group can be recovered from the class total")
        # the class total never lets a hidden group be worked out: 0 or >= 2 hidden rows
        assert table.mask["n"].sum() != 1
    html = (tmp_path / "r.html").read_text()
    assert "not for judging teachers" in html and "Synthetic data" in html
    # every number of pupils shown in a group table is at least the threshold
    shown_n = [int(cell) for block in re.findall(r"<h3>.*?</table>", html, flags=re.S)
               for cell in re.findall(r"<tr>\s*<td>[^<]*</td>\s*<td>(\d+)</td>", block)]
    assert shown_n and min(shown_n) >= 10
    # class of 28: most FSM / SEND splits are hidden, and the page says why
    assert rep.by["send"].mask["n"].all() and "[c]" in html and "fewer than 10" in html


def test_threshold_follows_the_policy(school):
    rep = class_report(_class(school), policy=DisclosurePolicy(threshold=5))
    assert rep.by["fsm"].mask["n"].sum() <= 1 or (rep.by["fsm"].data["n"].dropna() >= 5).all()


def test_small_class_shows_no_numbers(school):
    small = _class(school).iloc[:8]
    rep = class_report(small)
    assert not rep.shown and rep.parts.empty and rep.to_frame().empty
    assert "Fewer than 10 pupils answered" in rep.html
    assert not re.search(r"\d\.\d\d", rep.html.split("<body>")[1])


def test_report_to_frame_is_the_tidy_parts_table(school):
    """ClassReport.to_frame: part and label first, then the tidy columns; the numbers are the page's."""
    rep = class_report(_class(school), school=school)
    frame = rep.to_frame()
    assert list(frame.columns[:7]) == ["part", "label", "estimate", "se", "ci_low", "ci_high", "n"]
    assert {"sd", "ci_level", "school_estimate", "school_n"} <= set(frame.columns)
    pd.testing.assert_frame_equal(frame[rep.parts.columns].reset_index(drop=True), rep.parts.reset_index(drop=True))


def test_reading_sentences_come_from_the_numbers(school):
    rep = class_report(_class(school))
    best = rep.parts.loc[rep.parts["estimate"].idxmax()]
    assert f"mean {best['estimate']:.2f}" in rep.html and best["label"] in rep.html


def test_command_end_to_end_and_errors(school, tmp_path, capsys):
    c = _class(school)
    c.to_csv(tmp_path / "class.csv", index=False)
    school.to_csv(tmp_path / "school.csv", index=False)
    assert main(["class-report", "--data", str(tmp_path / "class.csv"), "--school", str(tmp_path / "school.csv"),
                 "--out", str(tmp_path / "out")]) == 0
    page = (tmp_path / "out" / "class_report.html").read_text()
    assert "School mean" in page and "@media print" in page and "Strongly agree %" in page
    # out-of-range code: exit 2, the row as the spreadsheet numbers it and the column named
    bad = c.copy()
    bad["ocbs_03"] = bad["ocbs_03"].astype(object)
    bad.loc[6, "ocbs_03"] = 9
    bad.to_csv(tmp_path / "bad.csv", index=False)
    assert main(["class-report", "--data", str(tmp_path / "bad.csv"), "--out", str(tmp_path / "o2")]) == 2
    err = capsys.readouterr().err
    assert "'ocbs_03'" in err and "row 7" in err and "9" in err  # sixth pupil: spreadsheet row 7
    # wrong version
    assert main(["class-report", "--data", str(tmp_path / "class.csv"), "--version", "primary",
                 "--out", str(tmp_path / "o3")]) == 2
    assert "secondary version" in capsys.readouterr().err
    # empty class: a header and no rows
    c.iloc[:0].to_csv(tmp_path / "empty.csv", index=False)
    assert main(["class-report", "--data", str(tmp_path / "empty.csv"), "--out", str(tmp_path / "o4")]) == 2
    assert "no pupils" in capsys.readouterr().err


def test_empty_rows_at_the_end_of_a_sheet_are_counted_and_skipped(school, tmp_path, capsys):
    c = _class(school).astype(object)
    blank = pd.DataFrame([[None] * c.shape[1]] * 3, columns=c.columns, dtype=object)
    pd.concat([c, blank], ignore_index=True).to_csv(tmp_path / "c.csv", index=False)
    assert main(["class-report", "--data", str(tmp_path / "c.csv"), "--out", str(tmp_path / "o")]) == 0
    captured = capsys.readouterr()
    assert "3 completely empty row(s) skipped" in captured.err and "28 pupils" in captured.out
