"""Tests of belonging_lib.io and belonging_lib.codebook."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from belonging_lib import ColumnError, DataError, RowLedger
from belonging_lib.codebook import apply_codebook, read_codebook, validate
from belonging_lib.io import check_ids, missingness, read_data, read_labelled, safe_merge

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
FIX = Path(__file__).resolve().parent / "fixtures"

# The sample files the raw-export test relies on (regenerating the sample changes these: re-check and update).
SAMPLE_MD5 = {
    "survey.csv": "87e953c36a4d2e54de14f9bbe26e6acc",
    "survey_raw_export.csv": "0aec2c8eb52c5cf4505f18e6a86c82a3",
    "survey_raw_export.sav": "1c876e3fb8d6e631ef5faa621c5b7da0",
    "codebook.csv": "e2027760d108d6ff6b094f7df85cd648",  # instruments named by their registry ids
}


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def small():
    return pd.DataFrame({
        "pupil_id": ["P1", "P2", "P3", "P4"],
        "school_id": ["S1", "S1", "S2", "S2"],
        "q1": [1.0, 2.0, np.nan, 5.0],
        "gender": ["girl", "boy", "girl", "boy"],
    })


# ----------------------------------------------------------------------------- reading files

def test_read_csv_types_and_labels(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("pupil_id,q1,score,name\nP1,1,2.5,Zoë\nP2,,3,Ana\n", encoding="utf-8")
    f = read_data(p)
    assert f["q1"].tolist()[0] == 1.0 and np.isnan(f["q1"].tolist()[1])
    assert f["score"].tolist() == [2.5, 3.0]
    assert f["name"].tolist() == ["Zoë", "Ana"]
    assert not f.attrs                      # metadata lives in LabelledData, never in DataFrame.attrs
    labelled = read_labelled(p)
    assert labelled.source == "a.csv" and labelled.value_labels == {}
    assert labelled.id_columns == ("pupil_id",) and labelled.delimiter is None   # a comma: the default
    pd.testing.assert_frame_equal(labelled.data, f)
    assert labelled.to_frame()["id"].tolist() == [True, False, False, False]
    assert read_data(p, columns=["q1"]).columns.tolist() == ["q1"]
    with pytest.raises(ColumnError, match="'nope'"):
        read_data(p, columns=["nope"])


def test_read_csv_utf8_bom_and_other_encoding(tmp_path):
    p = tmp_path / "bom.csv"
    p.write_bytes("\ufeffid,label\n1,café\n".encode())
    assert read_data(p).columns.tolist() == ["id", "label"]
    q = tmp_path / "win.csv"
    q.write_bytes("id,label\n1,café\n".encode("cp1252"))
    with pytest.raises(DataError, match=r"not valid utf-8-sig text.*line 2.*encoding='cp1252'"):
        read_data(q)
    assert read_data(q, encoding="cp1252")["label"].tolist() == ["café"]
    with pytest.raises(DataError, match="Unknown text encoding"):
        read_data(q, encoding="no-such-codec")


def test_read_csv_truncated_and_ragged(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("a,b,c\n1,2,3\n4,5", encoding="utf-8")  # cut short mid-row
    with pytest.raises(DataError, match="looks truncated"):
        read_data(p)
    q = tmp_path / "r.csv"
    q.write_text("a,b,c\n1,2,3,4\n5,6,7\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 2"):
        read_data(q)


@pytest.mark.parametrize("content,match", [(b"", "empty"), (b"\x00\x01\x02", "NUL bytes")])
def test_read_csv_empty_or_binary(tmp_path, content, match):
    p = tmp_path / "x.csv"
    p.write_bytes(content)
    with pytest.raises(DataError, match=match):
        read_data(p)


def test_read_missing_and_unsupported(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_data(tmp_path / "nope.csv")
    p = tmp_path / "x.json"
    p.write_text("{}")
    with pytest.raises(DataError, match="not supported"):
        read_data(p)


def test_read_excel_roundtrip(tmp_path, small):
    p = tmp_path / "s.xlsx"
    small.to_excel(p, index=False)
    f = read_data(p)
    pd.testing.assert_frame_equal(f, small, check_dtype=False)
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(p.read_bytes()[:200])
    with pytest.raises(DataError, match="corrupt or truncated"):
        read_data(bad)


def test_read_spss_labels_and_user_missing(tmp_path):
    import pyreadstat

    frame = pd.DataFrame({"id": ["P1", "P2", "P3"], "q1": [1.0, 9.0, 4.0]})
    p = tmp_path / "s.sav"
    pyreadstat.write_sav(frame, str(p), column_labels={"id": "Pupil", "q1": "I feel I belong"},
                         variable_value_labels={"q1": {1.0: "Never", 4.0: "Always", 9.0: "Not answered"}},
                         missing_ranges={"q1": [9.0]})
    labelled = read_labelled(p)
    f = labelled.data
    assert labelled.variable_labels["q1"] == "I feel I belong"
    assert labelled.value_labels["q1"][4.0] == "Always"
    assert labelled.missing_codes["q1"] == [9.0]
    assert np.isnan(f["q1"][1]) and f["q1"][2] == 4.0
    pd.testing.assert_frame_equal(read_data(p), f)
    kept = read_labelled(p, user_missing="keep")
    assert kept.data["q1"].tolist() == [1.0, 9.0, 4.0] and kept.missing_codes["q1"] == [9.0]
    # the codebook knows the declared code from the LabelledData, not from the bare table
    cb = read_codebook(pd.DataFrame({"variable": ["pupil_id", "q1"], "source_name": ["id", "q1"],
                                     "type": ["id", "item"], "allowed": ["", "1-4"]}))
    assert apply_codebook(kept, cb).data["q1"].isna().tolist() == [False, True, False]
    with pytest.raises(DataError, match="q1"):
        apply_codebook(kept.data, cb)
    truncated = tmp_path / "cut.sav"
    truncated.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2])
    with pytest.raises(DataError, match="SPSS file 'cut.sav' is corrupt or truncated"):
        read_data(truncated)


def test_read_stata_labels(tmp_path):
    import pyreadstat

    frame = pd.DataFrame({"id": ["P1", "P2"], "fsm": [0.0, 1.0]})
    p = tmp_path / "s.dta"
    pyreadstat.write_dta(frame, str(p), column_labels=["Pupil", "Free school meals"],
                         variable_value_labels={"fsm": {0: "No", 1: "Yes"}})
    labelled = read_labelled(p)
    assert labelled.data["fsm"].tolist() == [0.0, 1.0]
    assert labelled.variable_labels["fsm"] == "Free school meals"
    assert labelled.value_labels["fsm"] == {0: "No", 1: "Yes"}


# ----------------------------------------------------------------------------- ids and merges

def test_check_ids(small):
    check_ids(small)
    dup = pd.concat([small, small.iloc[[1]]], ignore_index=True)
    with pytest.raises(DataError, match=r"value 'P2' appears 2 times \(rows 2, 5\)"):
        check_ids(dup)
    gap = small.assign(pupil_id=["P1", None, "P3", "P4"])
    with pytest.raises(DataError, match="missing in row 2"):
        check_ids(gap)
    check_ids(dup.assign(wave=[1, 1, 1, 1, 2]), id=["pupil_id", "wave"])


def test_safe_merge_many_to_one_and_ledger(small):
    schools = pd.DataFrame({"school_id": ["S1", "S2"], "urban": [1, 0]})
    ledger = RowLedger("pupils", start=4)
    out = safe_merge(small, schools, on="school_id", ledger=ledger)
    assert out["urban"].tolist() == [1, 1, 0, 0]
    assert out.index.equals(small.index)
    assert ledger.entries[-1].n_out == 4 and ledger.entries[-1].reason == "all matched"


def test_safe_merge_raises_on_duplication_and_drop(small):
    dup = pd.DataFrame({"school_id": ["S1", "S1", "S2"], "urban": [1, 1, 0]})
    with pytest.raises(DataError, match="would duplicate pupils"):
        safe_merge(small, dup, on="school_id")
    partial = pd.DataFrame({"school_id": ["S1"], "urban": [1]})
    with pytest.raises(DataError, match="2 rows of `left`.*would be dropped"):
        safe_merge(small, partial, on="school_id", how="inner")
    ledger = RowLedger("pupils", start=4)
    kept = safe_merge(small, partial, on="school_id", how="left", ledger=ledger)
    assert len(kept) == 4 and kept["urban"].isna().sum() == 2
    assert "2 unmatched" in ledger.entries[-1].reason
    with pytest.raises(DataError, match="not unique in `left`"):
        safe_merge(pd.concat([small, small]), small[["pupil_id"]].assign(x=1), on="pupil_id",
                   expect="one_to_one")
    with pytest.raises(ColumnError, match="in both tables"):
        safe_merge(small, small[["school_id", "q1"]].drop_duplicates("school_id"), on="school_id")


# ----------------------------------------------------------------------------- missingness

def test_missingness_counts_groups_and_patterns():
    rng = np.random.default_rng(1)
    n = 60
    d = pd.DataFrame({"g": ["a"] * 25 + ["b"] * 30 + ["c"] * 5, "x": rng.normal(size=n), "y": rng.normal(size=n)})
    d.loc[:9, "x"] = np.nan          # 10 missing x, all in group a
    d.loc[55:, "y"] = np.nan         # 5 missing y, all in group c (a small group)
    m = missingness(d, columns=["x", "y"], by="g")
    assert m.by_variable["n_missing"].tolist() == [10, 5]
    assert m.by_variable["share_missing"].tolist() == pytest.approx([10 / 60, 5 / 60], rel=1e-12)
    assert m.by_group.loc["a", "x"] == pytest.approx(10 / 25, rel=1e-12)
    # the data layer keeps every group and pattern, raw
    assert m.by_group.loc["c", "y"] == 1.0 and m.by_group.loc["c", "n"] == 5
    pats = dict(zip(m.patterns["pattern"], m.patterns["n"]))
    assert pats == {"..": 45, "x.": 10, ".x": 5}
    assert m.patterns["n"].sum() == n
    assert "15 complete" not in m.summary() and "45 complete" in m.summary()


def test_missingness_is_shown_through_an_explicit_policy(monkeypatch):
    """Disclosure applies where the picture is shown, with the policy passed, never a global one."""
    from belonging_lib.disclosure import DisclosurePolicy, set_default_policy

    rng = np.random.default_rng(1)
    d = pd.DataFrame({"g": ["a"] * 25 + ["b"] * 30 + ["c"] * 5, "x": rng.normal(size=60), "y": rng.normal(size=60)})
    d.loc[:9, "x"] = np.nan
    d.loc[55:, "y"] = np.nan
    # a global or environment policy does not change the data layer's counts
    monkeypatch.setenv("BELONGING_DISCLOSURE_THRESHOLD", "50")
    set_default_policy(DisclosurePolicy(threshold=40))
    try:
        m = missingness(d, columns=["x", "y"], by="g")
    finally:
        set_default_policy(None)
    assert dict(zip(m.patterns["pattern"], m.patterns["n"])) == {"..": 45, "x.": 10, ".x": 5}
    assert m.by_group["n"].tolist() == [25, 30, 5]
    shown = m.group_table(policy=DisclosurePolicy(threshold=10))
    assert shown.display()["n"].tolist() == ["[c]", "30", "[c]"]     # c is small; a protects it
    assert np.isnan(shown.data.loc[2, "y"]) and shown.data.loc[1, "x"] == 0.0
    pats = m.pattern_table(policy=DisclosurePolicy(threshold=10))
    assert dict(zip(pats["pattern"], pats["n"])) == {"..": 45, "x.": 10, "rarer patterns": 5}
    assert pats["share"].sum() == pytest.approx(1.0)
    pats = m.pattern_table(policy=DisclosurePolicy(threshold=5))
    assert "rarer patterns" not in set(pats["pattern"])
    with pytest.raises(DataError, match="DisclosurePolicy"):
        m.pattern_table(policy=None)
    with pytest.raises(DataError, match="no groups"):
        missingness(d, columns=["x"]).group_table(policy=DisclosurePolicy())


# ----------------------------------------------------------------------------- codebook

def _tiny_codebook():
    return read_codebook(pd.DataFrame({
        "variable": ["pupil_id", "gender", "q1", "fsm"],
        "source_name": ["ID", "Sex", "Q 1", "FSM"],
        "type": ["id", "categorical", "item", "binary"],
        "allowed": ["", "girl;boy", "1-3", "0;1"],
        "value_labels": ["", "girl=F;boy=M", "1=No;2=Sometimes;3=Yes", "0=No;1=Yes"],
        "missing_codes": ["", "", "9;-99", ""],
    }))


def test_apply_codebook_counts_every_change():
    raw = pd.DataFrame({"ID": ["A", "B", "C", "D"], "Sex": [" Girl", "M", "boy", "girl"],
                        "Q 1": ["yes", 9, "2", " SOMETIMES "], "FSM": ["Yes", 0, 1, "no"],
                        "Extra": [1, 2, 3, 4]})
    r = apply_codebook(raw, _tiny_codebook())
    assert r.data["gender"].tolist() == ["girl", "boy", "boy", "girl"]
    assert r.data["q1"].tolist()[0] == 3.0 and np.isnan(r.data["q1"][1])
    assert r.data["q1"].tolist()[2:] == [2.0, 2.0]
    assert r.data["fsm"].tolist() == [1, 0, 1, 0]
    ch = r.changes.set_index("variable")
    assert ch.loc["q1", "n_recoded"] == 2 and ch.loc["q1", "n_set_missing"] == 1
    assert ch.loc["gender", "n_recoded"] == 2   # " Girl" and "M" re-spelled; "boy" already right
    assert ch.loc["fsm", "n_recoded"] == 2
    assert r.unused_columns == ("Extra",)
    assert r.ledger.n == 4 and r.ledger.entries[-1].n_dropped == 0


def test_apply_codebook_invalid_raise_or_missing():
    raw = pd.DataFrame({"ID": ["A", "B", "C"], "Sex": ["girl", "boy", "girl"],
                        "Q 1": ["yes", "maybe", 7], "FSM": [0, 1, 0]})
    with pytest.raises(DataError, match=r"Column 'Q 1' \(-> 'q1'\): rows 2, 3 hold 'maybe'.*2 such values"):
        apply_codebook(raw, _tiny_codebook())
    r = apply_codebook(raw, _tiny_codebook(), invalid="missing")
    assert r.data["q1"].isna().tolist() == [False, True, True]
    assert r.changes.set_index("variable").loc["q1", "n_invalid_set_missing"] == 2
    with pytest.raises(ColumnError, match="'Sex'"):
        apply_codebook(raw.drop(columns="Sex"), _tiny_codebook())
    with pytest.raises(DataError, match="'A' appears 2 times"):
        apply_codebook(raw.assign(ID=["A", "A", "C"]), _tiny_codebook(), invalid="missing")


def test_validate_lists_problems():
    raw = pd.DataFrame({"ID": ["A", "A", "C"], "Sex": ["girl", "x", "girl"],
                        "Q 1": ["yes", 9, 7], "FSM": [0, 1, 0]})
    v = validate(raw, _tiny_codebook())
    got = {(r.variable, r.problem): r.n for r in v.itertuples()}
    assert got == {("gender", "invalid value"): 1, ("q1", "invalid value"): 1, ("q1", "not-answered code"): 1,
                   ("q1", "text label"): 1, ("pupil_id", "duplicated id"): 2}


def test_read_codebook_errors(tmp_path):
    with pytest.raises(ColumnError, match="'variable'"):
        read_codebook(pd.DataFrame({"name": ["a"]}))
    with pytest.raises(DataError, match="unknown type 'likert'"):
        read_codebook(pd.DataFrame({"variable": ["a"], "type": ["likert"]}))
    with pytest.raises(DataError, match="listed twice"):
        read_codebook(pd.DataFrame({"variable": ["a", "a"]}))
    with pytest.raises(DataError, match="has no '='"):
        read_codebook(pd.DataFrame({"variable": ["a"], "value_labels": ["1 Yes"]}))
    with pytest.raises(DataError, match="pass `file=`"):
        apply_codebook(pd.DataFrame({"a": [1]}), pd.DataFrame({"file": ["x", "y"], "variable": ["a", "a"]}))


def test_fixture_differently_named_and_coded_maps_back():
    """The 'own data' fixture (other names, F/M, Y/N, other words, -1/999) reproduces the survey rows."""
    raw = read_data(FIX / "own_survey.csv")
    r = apply_codebook(raw, FIX / "own_codebook.csv")
    expected = pd.read_csv(FIX / "own_survey_expected.csv")
    pd.testing.assert_frame_equal(r.data, expected, check_dtype=False)
    assert r.changes["n_set_missing"].sum() == expected.filter(regex=r"^(pssm|pisa|tr_|peer|bully|engage|respect|"
                                                               r"voice|sdq|swem|parent)").isna().sum().sum()


def _check_sample_md5(names):
    for name in names:
        got = _md5(SAMPLE / name)
        if got != SAMPLE_MD5[name]:
            pytest.fail(f"data/sample/{name} changed (MD5 {got}, test written for {SAMPLE_MD5[name]}); "
                        "re-run this test against the new file and update SAMPLE_MD5.")


@pytest.mark.slow
def test_sample_raw_export_csv_reproduces_survey():
    _check_sample_md5(["survey.csv", "survey_raw_export.csv", "codebook.csv"])
    raw = read_data(SAMPLE / "survey_raw_export.csv")
    r = apply_codebook(raw, SAMPLE / "codebook.csv", file="survey.csv")
    pd.testing.assert_frame_equal(r.data, pd.read_csv(SAMPLE / "survey.csv"), check_dtype=False)
    assert r.unused_columns == ("StartDate",)
    assert r.changes["n_invalid_set_missing"].sum() == 0


@pytest.mark.slow
def test_sample_raw_export_sav_reproduces_survey():
    _check_sample_md5(["survey.csv", "survey_raw_export.sav", "codebook.csv"])
    raw = read_labelled(SAMPLE / "survey_raw_export.sav", user_missing="keep")
    assert raw.value_labels["Q1_1"][5.0] == "Completely true"
    r = apply_codebook(raw, SAMPLE / "codebook.csv", file="survey.csv")
    pd.testing.assert_frame_equal(r.data, pd.read_csv(SAMPLE / "survey.csv"), check_dtype=False)
    assert r.changes["n_set_missing"].sum() > 0


def test_excel_numeric_ids_keep_their_zero_padding_format(tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["pupil_id", "school_id", "q1"])
    for pupil, school, q in [(123, 31, 1), (124, 31, 2)]:
        ws.append([pupil, school, q])
    for row in ws.iter_rows(min_row=2):
        row[0].number_format = "000000"
        row[1].number_format = "0000"
    wb.save(tmp_path / "ids.xlsx")
    frame = read_data(tmp_path / "ids.xlsx")
    assert frame["pupil_id"].tolist() == ["000123", "000124"]
    assert frame["school_id"].tolist() == ["0031", "0031"]
    assert frame["q1"].tolist() == [1, 2]


def test_semicolon_file_with_one_column_header_gets_a_hint(tmp_path):
    p = tmp_path / "odd.csv"
    p.write_text("a\n1;2\n3\n", encoding="utf-8")
    frame = read_data(p)   # one column: "1;2" is text, nothing is split silently
    assert frame["a"].tolist() == ["1;2", "3"]
    q = tmp_path / "odd2.csv"
    q.write_text("a\n1,2\n", encoding="utf-8")
    with pytest.raises(DataError, match="delimiter"):
        read_data(q)


# --------------------------------------------------------------------------- validate: checks for own data
def _toy_pisa(n=40, seed=1):
    rng = np.random.default_rng(seed)
    theta = rng.normal(0, 1, n)
    out = {"pupil_id": [f"{i:04d}" for i in range(n)]}
    for k in range(1, 7):
        sign = 1 if k in (2, 3, 5) else -1          # the instrument reverses items 2, 3, 5
        out[f"b{k}"] = np.clip(np.rint(2.5 - sign * theta + rng.normal(0, 0.5, n)), 1, 4)
    return pd.DataFrame(out)


def _toy_codebook(reverse=(2, 3, 5)):
    rows = [{"variable": "pupil_id", "type": "id", "source_name": "pupil_id"}]
    rows += [{"variable": f"pisa_belong_{k}", "type": "item", "allowed": "1-4", "source_name": f"b{k}",
              "reverse": str(int(k in reverse))} for k in range(1, 7)]
    return read_codebook(pd.DataFrame(rows))


def test_validate_reverse_key_against_instrument():
    raw = _toy_pisa()
    assert validate(raw, _toy_codebook()).empty
    v = validate(raw, _toy_codebook(reverse=(1, 2, 3, 5)))
    hit = v[v["problem"] == "reverse key differs from instrument"]
    assert hit["variable"].tolist() == ["pisa_belong_1"] and hit["severity"].tolist() == ["warning"]


def test_validate_negative_item_rest_correlation_names_item_and_value():
    raw = _toy_pisa()
    raw["b4"] = 5 - raw["b4"]                       # the export already reversed item 4
    v = validate(raw, _toy_codebook())
    hit = v[v["problem"] == "negative item-rest correlation"]
    assert hit["variable"].tolist() == ["pisa_belong_4"]
    x = raw[[f"b{k}" for k in range(1, 7)]].astype(float)
    for k in (2, 3, 5):
        x[f"b{k}"] = 5 - x[f"b{k}"]
    r = np.corrcoef(x["b4"], x.drop(columns="b4").mean(axis=1))[0, 1]
    assert r < 0 and hit["example"].iloc[0].startswith(f"r = {r:.2f}")


def test_validate_straight_liners_empty_and_constant():
    from belonging_lib.codebook import summary_line

    raw = _toy_pisa()
    raw.loc[[2, 7], [f"b{k}" for k in range(1, 7)]] = 2.0
    raw["note"] = np.nan
    raw["phase"] = "secondary"
    cb = _toy_codebook()
    cb = read_codebook(pd.concat([cb, pd.DataFrame([
        {"variable": "note", "type": "categorical", "source_name": "note"},
        {"variable": "phase", "type": "categorical", "source_name": "phase"}])], ignore_index=True).fillna(""))
    v = validate(raw, cb)
    s = v[v["problem"] == "straight-lining"]
    assert s["n"].tolist() == [2] and s["rows"].tolist() == ["rows 3, 8"]
    assert v.loc[v["problem"] == "empty throughout", "variable"].tolist() == ["note"]
    assert v.loc[v["problem"] == "constant column", "variable"].tolist() == ["phase"]
    assert summary_line(v).startswith("0 errors (mapping would stop), 1 note, 2 warnings (look before analysing) "
                                      "(2 straight-lining pupils; 1 variable empty throughout; 1 constant column)")
    # nine answers alike are too few to call a column constant
    assert "constant column" not in set(validate(raw.head(9), cb)["problem"])


def test_categorical_numeric_codes_take_their_labels():
    cb = read_codebook(pd.DataFrame({"variable": ["pupil_id", "gender"], "source_name": ["id", "g"],
                                     "type": ["id", "categorical"], "allowed": ["", "girl;boy"],
                                     "value_labels": ["", "1=Girl;2=Boy;9=Prefer not to say"],
                                     "missing_codes": ["", "Prefer not to say"]}))
    raw = pd.DataFrame({"id": ["01", "02", "03"], "g": [1.0, 9.0, 2.0]})
    assert validate(raw, cb)["problem"].tolist() == ["not-answered code", "text label"]
    assert apply_codebook(raw, cb).data["gender"].tolist() == ["girl", np.nan, "boy"]


def test_straight_lining_on_the_codebooks_own_scale():
    rng = np.random.default_rng(4)
    raw = pd.DataFrame({f"m{k}": rng.integers(1, 6, 30).astype(float) for k in range(1, 7)})
    raw.loc[[0, 29], [f"m{k}" for k in range(1, 7)]] = 4.0
    cb = read_codebook(pd.DataFrame({"variable": [f"mood_{k}" for k in range(1, 7)],
                                     "source_name": [f"m{k}" for k in range(1, 7)], "type": "item",
                                     "allowed": "1-5", "instrument": "my_mood_scale"}))
    v = validate(raw, cb)
    s = v[v["problem"] == "straight-lining"]
    assert s["variable"].tolist() == ["my_mood_scale"] and s["rows"].tolist() == ["rows 1, 30"]
