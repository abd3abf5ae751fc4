"""Tests of belonging_lib.scoring: hand-checked scores, bad input, properties."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from belonging_lib import ColumnError, DataError
from belonging_lib.scoring import (ScoredData, clean_items, reverse_items, score, score_available,
                                   score_available_with_report, score_with_report)


def _sdq(rows):
    return pd.DataFrame(rows, columns=[f"sdq_{i:02d}" for i in range(1, 26)])


def test_pssm_mean_with_reverse_keys():
    row = {f"pssm_{i:02d}": 4 for i in range(1, 19)}
    for r in (3, 6, 9, 12, 16):
        row[f"pssm_{r:02d}"] = 1           # disagreeing with a negative item = belonging 5
    out = score(pd.DataFrame([row]), "pssm")
    assert out.loc[0, "pssm"] == pytest.approx((13 * 4 + 5 * 5) / 18, rel=1e-12, abs=0)
    assert out.loc[0, "pssm_n"] == 18


def test_min_answered_rule():
    d = pd.DataFrame({"tr_care_1": [5, 5], "tr_care_2": [3, 3], "tr_care_3": [4, np.nan],
                      "tr_care_4": [np.nan, np.nan]})
    out = score(d, "tr_care")
    assert out["tr_care"].iloc[0] == pytest.approx(4.0, rel=1e-12, abs=0)
    assert np.isnan(out["tr_care"].iloc[1])          # 2 of 4 answered < 3
    assert out["tr_care_n"].tolist() == [3, 2]


def test_sdq_prorating_rounds_half_up():
    # emotional items 3, 8, 13, 16, 24: three answered summing to 4 -> 4/3*5 = 6.67 -> 7
    row = {c: 0 for c in _sdq([]).columns}
    row.update(sdq_03=2, sdq_08=1, sdq_13=1, sdq_16=np.nan, sdq_24=np.nan)
    # conduct 5, 7R, 12, 18, 22: four answered summing to 2 (item 7 = 2 reversed -> 0) -> 2.5 -> 3
    row.update(sdq_05=1, sdq_07=2, sdq_12=1, sdq_18=0, sdq_22=np.nan)
    # peer 6, 11R, 14R, 19, 23: two answered -> missing
    row.update(sdq_06=1, sdq_11=np.nan, sdq_14=np.nan, sdq_19=np.nan, sdq_23=1)
    out = score(_sdq([row]), "sdq").iloc[0]
    assert out["sdq_emotional"] == 7 and out["sdq_emotional_n"] == 3
    assert out["sdq_conduct"] == 3
    assert np.isnan(out["sdq_peer"])
    assert np.isnan(out["sdq_total"])                # needs all four difficulty subscales
    assert out["sdq_externalising"] == 3 + out["sdq_hyperactivity"]


def test_sdq_bands():
    # all 2 except reversed items at 0: every item maximal difficulty / prosocial 10
    row = {c: 2 for c in _sdq([]).columns}
    for r in (7, 11, 14, 21, 25):
        row[f"sdq_{r:02d}"] = 0
    out = score(_sdq([row]), "sdq").iloc[0]
    assert out["sdq_total"] == 40 and out["sdq_total_band"] == "very high"
    assert out["sdq_prosocial_band"] == "close to average"
    row = {c: 0 for c in _sdq([]).columns}
    for r in (7, 11, 14, 21, 25):
        row[f"sdq_{r:02d}"] = 2
    row.update(sdq_03=2, sdq_08=2, sdq_13=1)       # emotional 5: slightly raised
    out = score(_sdq([row]), "sdq").iloc[0]
    assert out["sdq_emotional"] == 5 and out["sdq_emotional_band"] == "slightly raised"
    assert out["sdq_total"] == 5 and out["sdq_total_band"] == "close to average"
    assert out["sdq_prosocial_band"] == "very low"


def test_swemwbs_metric_conversion():
    d = pd.DataFrame({f"swemwbs_{i}": [1, 3, 5, 3] for i in range(1, 8)})
    d.loc[3, "swemwbs_7"] = np.nan
    out = score(d, "swemwbs")
    assert out["swemwbs_raw"].tolist()[:3] == [7, 21, 35]
    assert out["swemwbs_metric"].tolist()[:3] == [7.00, 19.25, 35.00]
    assert np.isnan(out["swemwbs_metric"].iloc[3])   # needs all seven items


def test_text_labels_are_recoded_and_reported():
    d = pd.DataFrame({f"peer_{i}": ["Strongly agree", " agree ", "3", None] for i in range(1, 5)})
    result = score_with_report(d, "peer")
    out, report = result
    assert isinstance(result, ScoredData) and out is result.scores and report is result.report
    assert out["peer"].tolist()[:3] == [5.0, 4.0, 3.0]
    assert report.values_recoded == 8 and report.values_set_missing == 0
    assert report.n_rows_in == 4 and report.n_rows_scored == 3
    # score() returns the same scores, as a plain table: no report hidden in DataFrame.attrs
    plain = score(d, "peer")
    pd.testing.assert_frame_equal(plain, out)
    assert plain.attrs == {}
    assert result.to_frame().equals(report.to_frame())
    assert "8 text labels recoded" in report.summary()


def test_several_instruments_and_column_mapping():
    d = pd.DataFrame({**{f"Q{i}": [4] for i in range(1, 5)}, **{f"peer_{i}": [2] for i in range(1, 5)}})
    out = score(d, ["tr_care", "peer"], item_map={f"tr_care_{i}": f"Q{i}" for i in range(1, 5)})
    assert out.columns.tolist() == ["tr_care", "tr_care_n", "peer", "peer_n"]
    assert score_available(d).columns.tolist() == ["peer", "peer_n"]
    mapping = {f"tr_care_{i}": f"Q{i}" for i in range(1, 5)}
    both, report = score_available_with_report(d, item_map=mapping)
    assert set(report.instruments) == {"peer", "tr_care"}
    pd.testing.assert_frame_equal(both, score(d, list(report.instruments), item_map=mapping))
    pd.testing.assert_frame_equal(both, score_available(d, item_map=mapping))


def test_out_of_range_raises_naming_column_rows_value():
    d = pd.DataFrame({f"peer_{i}": [3, 4, 5] for i in range(1, 5)}, index=[10, 11, 12])
    d.loc[11, "peer_2"] = 9
    with pytest.raises(DataError, match=r"Column 'peer_2'.*1 to 5.*row 11 holds 9"):
        score(d, "peer")
    d = d.astype(float)
    d.loc[12, "peer_2"] = 2.5
    with pytest.raises(DataError, match=r"rows 11, 12"):
        score(d, "peer")


def test_out_of_range_set_missing_and_reported():
    d = pd.DataFrame({f"peer_{i}": [3, 4, 5] for i in range(1, 5)})
    d.loc[1, "peer_2"] = -99
    out, rep = score_with_report(d, "peer", invalid="missing")
    assert out["peer_n"].tolist() == [4, 3, 4]
    assert out["peer"].iloc[1] == pytest.approx(4.0, rel=1e-12, abs=0)
    assert rep.values_set_missing == 1
    assert rep.problems[0].column == "peer_2" and rep.problems[0].value == -99
    assert "out of range" in rep.summary()


def test_unknown_label():
    d = pd.DataFrame({f"peer_{i}": ["Agree", "Agree"] for i in range(1, 5)})
    d.loc[1, "peer_3"] = "Maybe"
    with pytest.raises(DataError, match=r"'peer_3'.*unknown label 'Maybe'.*row 1"):
        score(d, "peer")
    out = score(d, "peer", invalid="missing")
    assert out["peer_n"].tolist() == [4, 3]


def test_missing_column():
    d = pd.DataFrame({f"peer_{i}": [3, 4] for i in range(1, 4)})
    with pytest.raises(ColumnError, match=r"'peer_4'.*not in the data.*all 2 rows"):
        score(d, "peer")
    out, rep = score_with_report(d, "peer", invalid="missing")
    assert out["peer"].tolist() == [3.0, 4.0]
    assert rep.problems[0].kind == "missing column"


def test_all_missing_row_is_kept_and_missing():
    d = pd.DataFrame({f"pssm_{i:02d}": [3, np.nan] for i in range(1, 19)})
    out = score(d, "pssm")
    assert len(out) == 2 and np.isnan(out["pssm"].iloc[1]) and out["pssm_n"].iloc[1] == 0


def test_invalid_option_checked():
    with pytest.raises(DataError, match="`invalid` must be one of"):
        score(pd.DataFrame({"a": [1]}), "peer", invalid="drop")


def test_clean_items_reverse():
    d = pd.DataFrame({f"pssm_{i:02d}": [1, 2] for i in range(1, 19)})
    c = clean_items(d, "pssm", reverse=True)
    assert c["pssm_03"].tolist() == [5, 4] and c["pssm_01"].tolist() == [1, 2]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.one_of(st.none(), st.integers(1, 5)), min_size=4, max_size=4),
                min_size=1, max_size=30))
def test_row_count_unchanged(rows):
    d = pd.DataFrame(rows, columns=[f"voice_{i}" for i in range(1, 5)], dtype=float)
    d.index = pd.Index([f"p{i}" for i in range(len(d))])
    out = score(d, "voice")
    assert len(out) == len(d) and out.index.equals(d.index)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 5), min_size=4, max_size=40))
def test_double_reversal_restores(values):
    d = pd.DataFrame({"a": values, "b": values[::-1]})
    once = reverse_items(d, reverse=["a"], response_range=(1, 5))
    twice = reverse_items(once, reverse=["a"], response_range=(1, 5))
    pd.testing.assert_frame_equal(twice, d)
    assert (once["a"] + d["a"] == 6).all()


def test_declared_missing_codes():
    d = pd.DataFrame({f"peer_{i}": ["Agree", "9", -99, 4] for i in range(1, 5)}, dtype=object)
    out, rep = score_with_report(d, "peer", missing_codes=(9, -99))
    assert out["peer_n"].tolist() == [4, 0, 0, 4]
    assert rep.declared_missing == 8 and rep.values_set_missing == 0
    with pytest.raises(DataError, match="rows 1, 2 hold '9'"):
        score(d, "peer")


def test_mean_scores_match_psych_scoreitems(tmp_path):
    import json
    from pathlib import Path
    ref_dir = Path(__file__).parent / "reference"
    ref = json.loads((ref_dir / "reliability.json").read_text())["scores"]
    bfi = pd.read_csv(ref_dir / "data" / "bfi25.csv").iloc[:ref["rows"]]
    assert bfi.isna().any(axis=1).sum() > 0          # the reference includes partly missing rows
    f = tmp_path / "bfi.yaml"
    f.write_text(
        "instruments:\n"
        "  - id: agree\n    response: {min: 1, max: 6}\n"
        "    items: [{id: A1, reverse: true}, A2, A3, A4, A5]\n"
        "    scores: [{id: agree, method: mean}]\n")
    g = tmp_path / "consc.yaml"
    g.write_text("id: consc\nresponse: {min: 1, max: 6}\n"
                 "items: [C1, C2, C3, {id: C4, reverse: true}, {id: C5, reverse: true}]\n"
                 "scores: [{id: consc, method: mean}]\n")
    from belonging_lib.instruments import _read_file
    agree = _read_file(f)[0]
    out = score(bfi, [agree, str(g)])
    np.testing.assert_allclose(out["agree"], ref["agree"], rtol=1e-12, atol=0)
    np.testing.assert_allclose(out["consc"], ref["consc"], rtol=1e-12, atol=0)


def test_sdq_bands_are_withheld_outside_the_self_report_ages():
    # the SDQ self-report bands were made for ages 11 to 17: a 10-year-old's total is scored, but not banded
    d = pd.DataFrame({f"sdq_{i:02d}": [2, 2, 2, 2] for i in range(1, 26)})
    d["age"] = [10, 11, 17, None]
    scores, report = score_with_report(d, "sdq", age="age")
    assert scores["sdq_total"].notna().all()
    assert scores["sdq_total_band"].isna().tolist() == [True, False, False, True]
    assert scores["sdq_emotional_band"].isna().tolist() == [True, False, False, True]
    assert report.bands_withheld == (("sdq_self_11_17", 2),)
    assert "bands withheld for 2 row(s)" in report.summary()
    # without ages every row is banded, as before
    assert score(d, "sdq")["sdq_total_band"].notna().all()
    # an instrument without an age range keeps its bands whatever the age
    p = pd.DataFrame({f"pssm_{i:02d}": [3, 3] for i in range(1, 19)})
    p["age"] = [5, 40]
    assert score_with_report(p, "pssm", age="age").report.bands_withheld == ()


def test_age_must_be_a_number_of_years():
    d = pd.DataFrame({f"sdq_{i:02d}": [1, 1] for i in range(1, 26)})
    d["age"] = [12, "twelve"]
    with pytest.raises(DataError, match=r"'age'.*row 2.*'twelve'"):
        score(d, "sdq", age="age")
    with pytest.raises(ColumnError, match="years"):
        score(d, "sdq", age="years")


def test_band_ages_in_an_instrument_file_are_checked():
    from belonging_lib.instruments import instrument_from_dict, load_instrument

    assert load_instrument("sdq").band_ages == (11.0, 17.0)
    assert load_instrument("swemwbs").band_ages is None
    base = {"id": "x", "response": {"min": 1, "max": 3}, "items": [{"id": "x_1"}],
            "scores": [{"id": "x", "method": "mean", "items": ["x_1"]}]}
    with pytest.raises(DataError, match="band_ages"):
        instrument_from_dict({**base, "band_ages": "11-17"})
    assert instrument_from_dict({**base, "band_ages": {"min": 11, "max": 17}}).band_ages == (11.0, 17.0)
