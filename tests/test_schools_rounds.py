"""Tracking over the year: the class report's comparison of two survey rounds, and older sheets."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from belonging_lib._errors import ColumnError, DataError
from belonging_lib.cli import main
from belonging_lib.schools.class_report import round_comparison
from belonging_lib.schools.questionnaire import (
    TRUSTED_ADULT_ITEM,
    accept_older_sheet,
    check_responses,
    score_responses,
    simulate_follow_up,
    simulate_responses,
)
from belonging_lib.schools.support_plan import support_flags


def _rows_from_1(frame):
    frame = frame.reset_index(drop=True)
    frame.index = range(1, len(frame) + 1)
    return frame


@pytest.fixture()
def rounds():
    d = simulate_responses(version="secondary", n_classes=3, class_size=26, seed=11)
    autumn = _rows_from_1(d[d["class"] == "C1"])
    summer = _rows_from_1(simulate_follow_up(autumn, share_dropping=0.5, seed=4))
    return autumn, summer


def test_paired_change_is_the_paired_t_interval(rounds):
    autumn, summer = rounds
    cmp = round_comparison(summer, previous=autumn).table.set_index("part")
    a, b = score_responses(autumn), score_responses(summer)
    for part in cmp.index:
        both = pd.concat([a[part], b[part]], axis=1, keys=["a", "b"]).dropna()
        ref = stats.ttest_rel(both["b"], both["a"]).confidence_interval(0.95)
        row = cmp.loc[part]
        assert row["paired"] and row["n_matched"] == len(both)
        assert row["change"] == pytest.approx((both["b"] - both["a"]).mean(), rel=1e-12)
        assert row["change_ci_low"] == pytest.approx(ref.low, rel=1e-10)
        assert row["change_ci_high"] == pytest.approx(ref.high, rel=1e-10)
        assert row["beyond"] == (ref.high < 0 or ref.low > 0)
        prev = stats.ttest_1samp(a[part].dropna(), 0).confidence_interval(0.95)
        assert row["previous_ci_low"] == pytest.approx(prev.low, rel=1e-10)
    # many pupils' answers fell two codes: the drop in the total is beyond chance and measurement error
    assert cmp.loc["total", "beyond"] and cmp.loc["total", "change"] < 0


def test_unmatched_rounds_use_welchs_interval(rounds):
    autumn, summer = rounds
    anon_a, anon_s = autumn.drop(columns="pupil_ref"), summer.drop(columns="pupil_ref")
    cmp = round_comparison(anon_s, previous=anon_a).table.set_index("part")
    a, b = score_responses(anon_a)["total"].dropna(), score_responses(anon_s)["total"].dropna()
    ref = stats.ttest_ind(b, a, equal_var=False).confidence_interval(0.95)
    assert not cmp.loc["total", "paired"]
    assert cmp.loc["total", "change_ci_low"] == pytest.approx(ref.low, rel=1e-10)
    assert cmp.loc["total", "change_ci_high"] == pytest.approx(ref.high, rel=1e-10)


def test_no_change_is_not_called_a_change(rounds):
    autumn, _ = rounds
    same = simulate_follow_up(autumn, noise=0.0, share_dropping=0.0)
    cmp = round_comparison(_rows_from_1(same), previous=autumn).table
    assert (cmp["change"] == 0).all() and not cmp["beyond"].any()


def test_rounds_under_the_threshold_show_no_numbers(rounds):
    autumn, summer = rounds
    cmp = round_comparison(summer.iloc[:9], previous=autumn.iloc[:9]).table
    assert cmp[["previous", "now", "change", "change_ci_low"]].isna().all().all()
    assert not cmp["beyond"].any()


def test_stripped_leading_zeros_stop_with_the_cause(rounds):
    autumn, summer = rounds
    autumn = autumn.assign(pupil_ref=[f"{k:04d}" for k in range(1, len(autumn) + 1)])
    summer = summer.assign(pupil_ref=[str(k) for k in range(1, len(summer) + 1)])  # Excel dropped the zeros
    with pytest.raises(DataError, match=r"Only 0 of the 26 pupils.*leading zeros: 26 would match"):
        round_comparison(summer, previous=autumn)


def test_class_report_cli_tracks_rounds(rounds, tmp_path, capsys):
    autumn, summer = rounds
    autumn.to_csv(tmp_path / "autumn.csv", index=False)
    summer.to_csv(tmp_path / "summer.csv", index=False)
    assert (
        main(
            [
                "class-report",
                "--data",
                str(tmp_path / "summer.csv"),
                "--previous",
                str(tmp_path / "autumn.csv"),
                "--out",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    page = (tmp_path / "out" / "class_report.html").read_text(encoding="utf-8")
    assert "Since the earlier round" in page and "26 pupils answered both" in page
    assert "More than chance and measurement error?" in page
    # the same rounds, one with its codes' leading zeros stripped by Excel: an error, never a quiet report
    autumn.assign(pupil_ref=[f"{k:03d}" for k in range(1, 27)]).to_csv(tmp_path / "a0.csv", index=False)
    summer.assign(pupil_ref=[str(k) for k in range(1, 27)]).to_csv(tmp_path / "s0.csv", index=False)
    capsys.readouterr()
    assert (
        main(
            [
                "class-report",
                "--data",
                str(tmp_path / "s0.csv"),
                "--previous",
                str(tmp_path / "a0.csv"),
                "--out",
                str(tmp_path / "out0"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "Only 0 of the 26 pupils" in err and "leading zeros" in err
    assert not (tmp_path / "out0" / "class_report.html").exists()


def test_class_pack_compares_each_class_with_itself(tmp_path, capsys):
    d = simulate_responses(version="primary", n_classes=2, class_size=20, seed=8)
    later = simulate_follow_up(d, seed=9)
    d.to_csv(tmp_path / "a.csv", index=False)
    later.to_csv(tmp_path / "b.csv", index=False)
    assert (
        main(
            [
                "class-report",
                "--data",
                str(tmp_path / "b.csv"),
                "--previous",
                str(tmp_path / "a.csv"),
                "--out",
                str(tmp_path / "pack"),
            ]
        )
        == 0
    )
    page = (tmp_path / "pack" / "class_pack.html").read_text(encoding="utf-8")
    assert page.count("Since the earlier round") == 2 and page.count("20 pupils answered both") == 2


def _older(frame):
    return frame.drop(columns=TRUSTED_ADULT_ITEM["secondary"])


def test_an_older_sheet_is_explained_in_python_and_read_by_the_commands(rounds, tmp_path, capsys):
    autumn, summer = rounds
    old = _older(autumn)
    with pytest.raises(ColumnError, match=r"before the trusted-adult question.*accept_older_sheet"):
        check_responses(old)
    older = accept_older_sheet(old, what="class")
    converted, note = older.data, older.note
    assert "ocbs_17" in note and converted["ocbs_17"].isna().all()
    assert accept_older_sheet(autumn).note == "" and accept_older_sheet(autumn).data is autumn
    # any other missing question is still refused
    with pytest.raises(ColumnError, match="'ocbs_05'"):
        check_responses(accept_older_sheet(old.drop(columns="ocbs_05")).data)
    # the support plan's alpha leaves the unasked question out: that of the 16 questions asked
    flags = support_flags(converted.assign(pupil_ref=[f"X{k}" for k in range(len(old))]))
    from belonging_lib.reliability import reliability
    from belonging_lib.schools.questionnaire import instrument_for
    from belonging_lib.scoring import clean_items

    inst = instrument_for("secondary")
    asked = [i for i in inst.item_ids if i != "ocbs_17"]
    expected = reliability(
        clean_items(autumn, inst)[asked],
        reverse=list(inst.reverse_items),
        response_range=inst.response_range,
        progress=False,
    ).alpha
    assert flags.reliability["total"] == pytest.approx(expected, rel=1e-12)
    # the commands read it, with a note, and compare it with the newer round on the questions both asked
    old.to_csv(tmp_path / "old.csv", index=False)
    summer.to_csv(tmp_path / "new.csv", index=False)
    assert (
        main(
            [
                "class-report",
                "--data",
                str(tmp_path / "new.csv"),
                "--previous",
                str(tmp_path / "old.csv"),
                "--out",
                str(tmp_path / "r"),
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "older sheet without question 17" in err
    page = (tmp_path / "r" / "class_report.html").read_text(encoding="utf-8")
    assert re.search(
        r"ocbs_17 \(.*\) are missing from one of the sheets compared \(this round and the earlier one\).*\u201cRelationships with staff\u201d on the 4 question\(s\) both have \(ocbs_01, ocbs_02, ocbs_03, ocbs_04\)",
        page,
    )
    cmp = round_comparison(summer, previous=converted)
    assert cmp.absent_items == ("ocbs_17",)
    both = round_comparison(summer.assign(ocbs_17=np.nan), previous=converted)
    assert np.allclose(cmp.table["change"], both.table["change"])
    assert main(["support-plan", "--data", str(tmp_path / "old.csv"), "--out", str(tmp_path / "plans")]) == 0
    assert "older sheet without question 17" in capsys.readouterr().err


def test_a_class_renamed_between_rounds_still_matches(rounds):
    autumn, summer = rounds
    cmp = round_comparison(summer.assign(**{"class": "8B"}), previous=autumn.assign(**{"class": "7B"})).table
    assert cmp["paired"].all() and (cmp["n_matched"] == 26).all()


def test_class_and_school_are_compared_on_the_questions_both_sheets_have(rounds, tmp_path, capsys):
    """A new class sheet beside an older school sheet (no question 17): the staff part is scored on the
    four questions both have, for the class and for the school, and the page says so."""
    from belonging_lib.schools.class_report import class_report

    autumn, summer = rounds
    school = accept_older_sheet(_older(simulate_responses(n_classes=4, class_size=25, seed=8))).data
    school.index = range(1, len(school) + 1)
    rep = class_report(summer, school=school)
    got = rep.parts.set_index("part")
    common = summer.assign(ocbs_17=np.nan)
    on_common = score_responses(common)
    every = score_responses(summer)
    assert not np.isclose(on_common["staff"].mean(), every["staff"].mean())  # the question matters here
    for part in ("staff",):
        assert got.loc[part, "estimate"] == pytest.approx(on_common[part].mean(), rel=1e-12)
        assert got.loc[part, "school_estimate"] == pytest.approx(score_responses(school)[part].mean(), rel=1e-12)
    assert got.loc["peers", "estimate"] == pytest.approx(every["peers"].mean(), rel=1e-12)  # other parts unchanged
    assert "ocbs_17" in set(rep.items["item"])  # the class's answers to it are still shown
    assert re.search(
        r"missing from one of the sheets compared \(the class and the school\).*\u201cRelationships with staff\u201d on the 4 "
        r"question\(s\) both have \(ocbs_01, ocbs_02, ocbs_03, ocbs_04\).*total on 16 of the 17",
        rep.html,
    )
    # sheets with the same questions: no note, every question scored
    same = class_report(summer, school=summer).parts.set_index("part")
    assert same.loc["staff", "estimate"] == pytest.approx(every["staff"].mean(), rel=1e-12)
    assert "both sheets have" not in class_report(summer, school=summer).html


def test_a_pack_with_an_older_class_sheet_compares_classes_on_common_questions(tmp_path):
    from belonging_lib.schools.class_report import class_pack

    d = simulate_responses(n_classes=2, class_size=24, seed=21)
    d.loc[d["class"] == "C1", "ocbs_17"] = np.nan  # one class filled an older sheet
    d = _rows_from_1(d)
    pack = class_pack(d)
    c2 = d[d["class"] == "C2"]
    on_common = score_responses(c2.assign(ocbs_17=np.nan))
    assert pack.overview.set_index("class").loc["C2", "staff"] == pytest.approx(on_common["staff"].mean(), rel=1e-12)
    assert (
        "sheets compared (the classes of this pack)" in pack.html and "ocbs_01, ocbs_02, ocbs_03, ocbs_04" in pack.html
    )
