"""Support planning: flags checked against hand-computed reliable change and measurement error;
editable plans hold every field; nothing identifying leaves the --out folder."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from belonging_lib import DataError
from belonging_lib.cli import main
from belonging_lib.instruments import load_instrument
from belonging_lib.schools.questionnaire import simulate_follow_up, simulate_responses
from belonging_lib.schools.support_plan import PLAN_MARKER, support_flags, write_support_plans

INST = load_instrument("ocb_secondary")
N = INST.n_items


def _pupil(ref, keyed):
    """A sheet row whose keyed values (one per item) are ``keyed`` (reverse-keyed items stored reversed)."""
    row = {"pupil_ref": ref}
    for item, v in zip(INST.item_ids, keyed):
        row[item] = 6 - v if item in INST.reverse_items else v
    return row


def _flat(ref, value):
    return _pupil(ref, [value] * N)


def _mixed(ref, n_low, low, high):
    return _pupil(ref, [low] * n_low + [high] * (N - n_low))


def _frame(rows):
    d = pd.DataFrame(rows)
    d.index = range(1, len(d) + 1)
    return d


def test_reliable_drop_hand_computed():
    # earlier wave: five pupils at 4, five at 3 -> SD = sqrt(2.5 / 9); with reliability .8 the standard
    # error of the difference is SD * sqrt(2) * sqrt(.2) = 1/3 exactly.
    before = _frame([_flat(f"P{i}", 4 if i < 5 else 3) for i in range(10)])
    now_rows = [_flat("P0", 3),              # change -1    -> RCI -3    : reliable drop
                _mixed("P1", 12, 3, 4),      # 56/17, -12/17 -> RCI -36/17 = -2.12 : reliable drop
                _mixed("P2", 8, 3, 4),       # 60/17, -8/17  -> RCI -24/17 = -1.41 : no flag
                _flat("P3", 4), _flat("P4", 5)]   # 0 and +1 (RCI +3: an improvement, no flag)
    now_rows += [_flat(f"P{i}", 3) for i in range(5, 10)]
    now_rows.append(_flat("NEW", 4))         # not in the earlier wave
    now = _frame(now_rows)
    res = support_flags(now, previous=before, reliability={"staff": 0.8, "total": 0.8, "total_previous": 0.8})
    p = res.pupils
    se_diff = np.sqrt(2.5 / 9) * np.sqrt(2) * np.sqrt(0.2)
    assert se_diff == pytest.approx(1 / 3, rel=1e-12)
    assert p.loc["P0", "rci"] == pytest.approx(-3.0, rel=1e-12)
    assert N == 17      # the 17 answers of the secondary version
    assert p.loc["P1", "rci"] == pytest.approx(-36 / 17, rel=1e-12)
    assert p.loc["P2", "rci"] == pytest.approx(-24 / 17, rel=1e-12)
    assert p.loc["P4", "rci"] == pytest.approx(3.0, rel=1e-12)
    assert p["reliable_drop"][lambda s: s].index.tolist() == ["P0", "P1"]
    assert np.isnan(p.loc["NEW", "rci"]) and res.n_previous_matched == 10 and res.n_previous_unmatched == 1
    assert any("reliable change index -2.12" in r for r in p.loc["P1", "reasons"])
    c = res.counts.set_index("flag")
    assert c.loc["reliable_drop", "n_flagged"] == 2 and c.loc["reliable_drop", "n_assessed"] == 10


def test_low_scores_with_measurement_error_hand_computed():
    # totals: 2, 47/17 = 2.76 and 50/17 = 2.94 are below the cut-off 3; 3, 4 and 5 are not
    rows = [_flat("A", 2), _mixed("B", 4, 2, 3), _mixed("C", 1, 2, 3), _flat("D", 3), _flat("E", 4), _flat("F", 5)]
    d = _frame(rows)
    res = support_flags(d, reliability={"staff": 0.75, "total": 0.9})
    p = res.pupils
    totals = np.array([2, 47 / 17, 50 / 17, 3, 4, 5])
    assert p["total"].to_numpy() == pytest.approx(totals)
    sem = np.std(totals, ddof=1) * np.sqrt(1 - 0.9)
    assert p["total_sem"].iloc[0] == pytest.approx(sem, rel=1e-12)
    assert p["low_belonging"].tolist() == [True, True, True, False, False, False]
    # staff part (items 1-4 and 17): A 2, B (2+2+2+2+3)/5 = 2.2, C (2+3+3+3+3)/5 = 2.8, others >= 3
    assert p["low_staff"].tolist() == [True, True, True, False, False, False]
    # a flag whose 95% band reaches the cut-off is counted as a possible false alarm
    reach = totals + 1.959963984540054 * sem >= 3
    c = res.counts.set_index("flag")
    assert c.loc["low_belonging", "n_band_reaches_cutoff"] == int((reach & (totals < 3)).sum())
    assert c.loc["low_belonging", "n_flagged"] == 3 and c.loc["low_belonging", "percent"] == 50
    # to_frame: one row per flag (counts only, no pupil), the percentage flagged as `estimate` of `n` assessed
    tidy = res.to_frame()
    assert list(tidy.columns[:3]) == ["flag", "estimate", "n"] and list(tidy["flag"]) == list(res.counts["flag"])
    t = tidy.set_index("flag")
    assert t.loc["low_belonging", "estimate"] == 50 and t.loc["low_belonging", "n"] == 6
    assert t.loc["low_belonging", "n_flagged"] == 3 and "reasons" not in tidy
    assert "may be a false alarm" in p.loc["C", "reasons"][-1]
    assert f"\u00b1{1.959963984540054 * sem:.2f}" in p.loc["A", "reasons"][-1]


def test_sdq_band_flags():
    rows = [_flat(f"P{i}", 4) for i in range(4)]
    d = _frame(rows).assign(sdq_total=[8, 18, 20, 25])
    p = support_flags(d, reliability={"staff": 0.8, "total": 0.8}).pupils
    rule = {r.id: r for r in load_instrument("sdq").scores}["sdq_total"]
    high = {b.label for b in rule.bands if b.label in ("high", "very high")}
    want = [any(b.low <= t <= b.high and b.label in high for b in rule.bands) for t in (8, 18, 20, 25)]
    assert p["sdq_flag"].tolist() == want and any(want) and not all(want)
    assert "not a diagnosis" in p.loc[p["sdq_flag"]].iloc[0]["reasons"][0]


def test_plans_hold_every_field_and_names_only_when_given(tmp_path):
    import docx

    d = simulate_responses(n_classes=1, class_size=40, seed=8)
    d.index = range(1, 41)
    before = d.copy()
    after = simulate_follow_up(d, seed=9, share_dropping=0.2)
    after.index = range(1, 41)
    res = support_flags(after, previous=before)
    assert res.n_flagged > 0
    paths = write_support_plans(res, tmp_path / "plans")
    plans = sorted(paths.folder.glob("support_plan_*.docx"))
    assert len(plans) == res.n_flagged
    text = "\n".join(p.text for p in docx.Document(str(plans[0])).paragraphs)
    for must in (PLAN_MARKER, "Pupil reference", "Strengths", "Trusted adult",
                 "Agreed actions", "Review date", "Pathway", "Pastoral lead", "SENCo", "Designated safeguarding lead",
                 "not a safeguarding screen", "Change since the earlier survey", "Why we are talking"):
        assert must in text, must
    table = docx.Document(str(plans[0])).tables[0]
    assert [c.text for c in table.rows[0].cells] == ["Action", "Who", "By when"]
    assert "Name:" not in text
    assert "Change since the plan" not in text  # the change was measured before any plan existed
    ref = plans[0].stem.replace("support_plan_", "")
    assert f"Pupil reference: {ref}" in text
    summary = (paths.folder / "support_summary.html").read_text()
    assert "false alarm" in summary and "not a safeguarding screen" in summary
    assert {p.parent.parent for p in paths} == {tmp_path / "plans"}
    named = after.assign(name=[f"Pupil Name{i}" for i in range(40)])
    res2 = support_flags(named, previous=before)
    run2 = write_support_plans(res2, tmp_path / "named")
    one = sorted(run2.folder.glob("support_plan_*.docx"))[0]
    assert "Name: Pupil Name" in "\n".join(p.text for p in docx.Document(str(one)).paragraphs)


def test_command_prints_no_pupil_reference(tmp_path, capsys, monkeypatch):
    d = simulate_responses(n_classes=1, class_size=30, seed=8)
    refs = [f"ZQ{i:04d}" for i in range(30)]
    d["pupil_ref"] = refs
    before = d.copy()
    after = simulate_follow_up(d, seed=9, share_dropping=0.2)
    d_path, b_path = tmp_path / "now.csv", tmp_path / "before.csv"
    after.to_csv(d_path, index=False)
    before.to_csv(b_path, index=False)
    monkeypatch.chdir(tmp_path)
    before_files = set(os.listdir(tmp_path))
    assert main(["support-plan", "--data", str(d_path), "--previous", str(b_path), "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr()
    assert "Data protection" in out.out and "not a safeguarding screen" in out.out and "false alarms" in out.out
    assert not any(r in out.out + out.err for r in refs)
    assert set(os.listdir(tmp_path)) - before_files == {"o"}       # nothing written outside --out
    assert list((tmp_path / "o").glob("plans_*/support_plan_ZQ*.docx"))
    # a given reliability is used for the measurement error
    assert main(["support-plan", "--data", str(d_path), "--reliability", "0.5", "--out", str(tmp_path / "o3")]) == 0
    flags = pd.read_csv(next((tmp_path / "o3").glob("plans_*/flags.csv")))
    total = flags["total"]
    assert flags["total_sem"].iloc[0] == pytest.approx(total.std(ddof=1) * np.sqrt(0.5), rel=1e-9)
    capsys.readouterr()
    # a sheet without pupil references cannot be used for support planning
    after.drop(columns="pupil_ref").to_csv(tmp_path / "norefs.csv", index=False)
    assert main(["support-plan", "--data", str(tmp_path / "norefs.csv"), "--out", str(tmp_path / "o2")]) == 2
    assert "pupil_ref" in capsys.readouterr().err


def test_repeated_reference_is_an_error():
    d = _frame([_flat("A", 3), _flat("A", 4), _flat("B", 2)])
    with pytest.raises(DataError, match="repeats"):
        support_flags(d, reliability={"staff": 0.8, "total": 0.8})


def test_reliable_change_uses_the_earlier_waves_alpha_from_its_answers():
    """Without --reliability, the RCI's alpha is the earlier wave's own (as the reliability module
    computes it) and the index is (now - before) / (SD_before * sqrt(2) * sqrt(1 - alpha))."""
    from belonging_lib.reliability import scale_reliability
    from belonging_lib.schools.questionnaire import score_responses

    before = simulate_responses(version="secondary", n_classes=2, class_size=25, seed=21)
    before.index = range(2, len(before) + 2)
    now = simulate_follow_up(before, seed=22)
    res = support_flags(now, previous=before)
    alpha = scale_reliability(before, INST, progress=False).alpha
    assert res.reliability["total_previous"] == pytest.approx(alpha, rel=1e-12)
    assert res.reliability["total"] == pytest.approx(scale_reliability(now, INST, progress=False).alpha, rel=1e-12)
    a = pd.Series(score_responses(before)["total"].to_numpy(dtype=float), index=before["pupil_ref"])
    b = pd.Series(score_responses(now)["total"].to_numpy(dtype=float), index=now["pupil_ref"])
    rci = (b - a) / (a.std(ddof=1) * np.sqrt(2) * np.sqrt(1 - alpha))
    got = res.pupils["rci"]
    assert np.allclose(got.to_numpy(dtype=float), rci.reindex(got.index).to_numpy(), rtol=1e-12, equal_nan=True)
    assert (res.pupils["reliable_drop"] == (got < -1.959963984540054)).all()
