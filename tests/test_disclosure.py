"""Tests of belonging_lib.disclosure (suppression rules) and the identifier scan of notebooks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from belonging_lib import ColumnError, DataError, DisclosureError
from belonging_lib.disclosure import (DisclosurePolicy, check_model_df, count_by, get_default_policy,
                                      set_default_policy, summarise_by, suppress)
from belonging_lib.privacy import drop_identifiers

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _reset_policy(monkeypatch):
    monkeypatch.delenv("BELONGING_DISCLOSURE_THRESHOLD", raising=False)
    monkeypatch.delenv("BELONGING_DISCLOSURE_CONFIG", raising=False)
    set_default_policy(None)
    yield
    set_default_policy(None)


def test_default_policy_is_on_with_threshold_10():
    p = get_default_policy()
    assert (p.threshold, p.enabled, p.secondary, p.symbol) == (10, True, True, "[c]")


def test_policy_from_env_file_and_setter(monkeypatch, tmp_path):
    monkeypatch.setenv("BELONGING_DISCLOSURE_THRESHOLD", "5")
    assert get_default_policy().threshold == 5
    conf = tmp_path / "policy.json"
    conf.write_text(json.dumps({"threshold": 20, "symbol": "*"}))
    monkeypatch.setenv("BELONGING_DISCLOSURE_CONFIG", str(conf))
    assert get_default_policy() == DisclosurePolicy(threshold=20, symbol="*")
    set_default_policy(DisclosurePolicy(threshold=7))
    assert get_default_policy().threshold == 7
    yml = tmp_path / "p.yaml"
    yml.write_text("threshold: 11\nsecondary: false\n")
    assert DisclosurePolicy.from_file(yml) == DisclosurePolicy(threshold=11, secondary=False)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"treshold": 3}))
    with pytest.raises(DataError, match="unknown keys"):
        DisclosurePolicy.from_file(bad)
    with pytest.raises(DataError, match="at least 1"):
        DisclosurePolicy(threshold=0)
    monkeypatch.delenv("BELONGING_DISCLOSURE_CONFIG")
    set_default_policy(None)
    monkeypatch.setenv("BELONGING_DISCLOSURE_THRESHOLD", "ten")
    with pytest.raises(DataError, match="whole number"):
        get_default_policy()


def test_group_summary_primary_and_secondary():
    t = pd.DataFrame({"group": ["a", "b", "c", "d"], "n": [40, 9, 10, 25], "mean": [3.1, 2.0, 3.4, 3.0]})
    s = suppress(t, count_col="n")
    # b (9) is below 10; c (10) is the smallest remaining group and protects it from the total
    assert s.mask["n"].tolist() == [False, True, True, False]
    assert s.mask["mean"].tolist() == [False, True, True, False]
    assert not s.mask["group"].any()
    assert (s.n_primary, s.n_secondary) == (1, 1)
    assert s.data["n"].isna().tolist() == [False, True, True, False]
    assert s.display()["mean"].tolist() == ["3.10", "[c]", "[c]", "3.00"]
    assert "fewer than 10 pupils" in s.footnote and "[c]" in s._repr_html_()
    # exactly at the threshold is allowed
    ok = suppress(t.assign(n=[40, 10, 10, 25]), count_col="n")
    assert not ok.mask.to_numpy().any() and ok.footnote == ""


def test_comparison_rows_use_the_smallest_group():
    # a difference between two groups describes both: 60 treated but 8 controls is too few
    t = pd.DataFrame({"term": ["all", "fsm = 1", "fsm = 0"], "n_treated": [200, 60, 140],
                      "n_control": [190, 8, 182], "estimate": [0.2, 0.3, 0.15]})
    s = suppress(t, count_col=["n_treated", "n_control"], within="term")
    assert s.mask["estimate"].tolist() == [False, True, False]
    assert s.mask["n_treated"].tolist() == [False, True, False] and s.n_primary == 1
    whole = suppress(t, count_col=["n_treated", "n_control"])
    # one block: the smallest other row (fsm = 0, min 140) protects the suppressed one
    assert whole.mask["estimate"].tolist() == [False, True, True] and whole.n_secondary == 1
    with pytest.raises(DataError, match="'n_control'.*rows 1"):
        suppress(t.assign(n_control=[190, np.nan, 182]), count_col=["n_treated", "n_control"])
    with pytest.raises(DataError, match="names no column"):
        suppress(t, count_col=[])


def test_count_by_counts_every_row_and_suppresses():
    d = pd.DataFrame({"band": ["low"] * 4 + ["mid"] * 30 + ["high"] * 50 + [None] * 12})
    s = count_by(d, by="band")
    assert s.data["band"].tolist()[:3] == ["high", "low", "mid"] and pd.isna(s.data["band"].iloc[3])
    # low (4) is below 10; the missing group (12) is the smallest other and protects it
    assert s.mask["n"].tolist() == [False, True, False, True]
    shown = s.display()
    assert shown["n"].tolist() == ["50", "[c]", "30", "[c]"]
    assert shown["percent"].tolist() == [f"{50 / 96 * 100:.2f}", "[c]", f"{30 / 96 * 100:.2f}", "[c]"]
    # nothing suppressed at a lower threshold: counts add up to every row passed in
    loose = count_by(d, by="band", policy=DisclosurePolicy(threshold=3))
    assert loose.data["n"].sum() == len(d) and np.isclose(loose.data["percent"].sum(), 100)
    assert s.shown["band"].tolist() == ["high", "mid"]
    two = count_by(pd.DataFrame({"a": [1, 1, 2, 2] * 10, "b": ["x", "y"] * 20}), by=["a", "b"])
    assert two.data[["a", "b", "n"]].values.tolist() == [[1, "x", 10], [1, "y", 10], [2, "x", 10], [2, "y", 10]]


def test_digits_and_integer_columns_in_display():
    t = pd.DataFrame({"g": ["a", "b"], "pupils": [40, 30], "mean": [3.14159, 2.5]})
    s = suppress(t, count_col="pupils")
    assert s.display()["pupils"].tolist() == ["40", "30"]          # an integer column stays whole
    assert s.round(3).display()["mean"].tolist() == ["3.142", "2.500"]
    assert s.display(digits=1)["mean"].tolist() == ["3.1", "2.5"] and s.digits == 2
    assert "3.142" in s.round(3)._repr_html_()


def test_two_suppressed_need_no_secondary_and_blocks():
    t = pd.DataFrame({"g": ["a", "b", "c", "d"], "n": [3, 8, 50, 60], "mean": [1.0, 2.0, 3.0, 4.0]})
    s = suppress(t, count_col="n")
    assert s.mask["n"].tolist() == [True, True, False, False] and s.n_secondary == 0
    # 3 + 4 suppressed together would publish a group of 7 (the total less 50): a third row goes too
    t = pd.DataFrame({"g": ["a", "b", "c", "d"], "n": [3, 4, 50, 60], "mean": [1.0, 2.0, 3.0, 4.0]})
    s = suppress(t, count_col="n")
    assert s.mask["n"].tolist() == [True, True, True, False] and s.n_secondary == 1
    stacked = pd.DataFrame({"var": ["fsm", "fsm", "send", "send", "send"], "level": [0, 1, 0, 1, 2],
                            "n": [30, 5, 20, 12, 15], "mean": [1.0, 2, 3, 4, 5]})
    s2 = suppress(stacked, count_col="n", within="var")
    assert s2.mask["n"].tolist() == [True, True, False, False, False]


def test_policy_off_and_threshold_change():
    t = pd.DataFrame({"g": ["a", "b"], "n": [3, 50], "mean": [1.0, 2.0]})
    assert not suppress(t, count_col="n", policy=DisclosurePolicy(enabled=False)).mask.to_numpy().any()
    assert suppress(t, count_col="n", policy=DisclosurePolicy(threshold=2)).mask.to_numpy().sum() == 0
    no_sec = suppress(t, count_col="n", policy=DisclosurePolicy(secondary=False))
    assert no_sec.mask["n"].tolist() == [True, False]


def test_crosstab_secondary_protects_rows_and_columns():
    counts = pd.DataFrame([[50, 3, 40], [30, 25, 20], [12, 60, 45]], index=["r1", "r2", "r3"],
                          columns=["c1", "c2", "c3"])
    s = suppress(counts, counts=counts)
    m = s.mask.to_numpy()
    assert m[0, 1]                                  # primary
    assert (m.sum(axis=1)[m.any(axis=1)] >= 2).all()  # no row with a single suppressed cell
    assert (m.sum(axis=0)[m.any(axis=0)] >= 2).all()  # no column either
    assert m[1, 1] and m[0, 2] and m[1, 2]           # smallest companions chosen: 25 (col), 40 (row), then 20
    assert s.n_primary == 1 and s.n_secondary == 3
    # margins: a Total row/column is never picked as a companion
    tot = counts.copy()
    tot["Total"] = tot.sum(axis=1)
    tot.loc["Total"] = tot.sum(axis=0)
    st = suppress(tot, counts=tot, totals=["Total"])
    assert not st.mask.loc["Total"].any() and not st.mask["Total"].any()
    assert st.mask.loc[["r1", "r2", "r3"], ["c1", "c2", "c3"]].equals(s.mask)


def test_crosstab_values_with_counts():
    means = pd.DataFrame({"girl": [3.2, 3.5], "boy": [3.1, 2.2]}, index=["fsm0", "fsm1"])
    counts = pd.DataFrame({"girl": [100, 40], "boy": [90, 6]}, index=["fsm0", "fsm1"])
    s = suppress(means, counts=counts)
    assert s.mask.to_numpy().all()  # 2x2 with one small cell: all four must go
    with pytest.raises(DataError, match="same rows and columns"):
        suppress(means, counts=counts.iloc[:1])
    with pytest.raises(DataError, match="exactly one"):
        suppress(means)


def test_summarise_by_values_and_suppression():
    d = pd.DataFrame({"g": ["a"] * 12 + ["b"] * 3 + ["c"] * 20, "y": np.arange(35.0)})
    d.loc[0, "y"] = np.nan
    s = summarise_by(d, outcome="y", by="g")
    a = s.data.iloc[0]
    assert np.isnan(a["n"])  # a (11 with a value) protects b
    s2 = summarise_by(d, outcome="y", by="g", policy=DisclosurePolicy(threshold=2))
    row = s2.data.set_index("g").loc["a"]
    assert row["n"] == 11 and row["n_missing"] == 1
    assert row["mean"] == pytest.approx(np.arange(1.0, 12.0).mean(), rel=1e-12)
    assert row["sd"] == pytest.approx(np.arange(1.0, 12.0).std(ddof=1), rel=1e-12)
    with pytest.raises(DataError, match="must be numeric"):
        summarise_by(d.assign(y="x"), outcome="y", by="g")


def test_check_model_df():
    assert check_model_df(10) == 10.0
    with pytest.raises(DisclosureError, match="9 residual degrees of freedom"):
        check_model_df(9)
    with pytest.raises(DataError, match="NaN"):
        check_model_df(float("nan"))


def test_drop_identifiers():
    d = pd.DataFrame({"pupil_id": ["P1"], "UPN": ["A123456789012"], "ResponseId": ["R"], "school_id": ["S1"],
                      "y": [1]})
    assert drop_identifiers(d).columns.tolist() == ["school_id", "y"]
    out = drop_identifiers(d, key="0123456789abcdef-key")
    assert out["pupil_id"][0] != "P1" and out["UPN"][0] != "A123456789012"


# ----------------------------------------------------------------------------- notebook scan

def _notebook_texts():
    """Text of committed notebooks (sources) and executed notebooks under build/ (outputs, no images)."""
    texts = []
    for md in sorted((ROOT / "notebooks").glob("*.md")):
        texts.append((str(md.relative_to(ROOT)), md.read_text(encoding="utf-8")))
    for nb in sorted((ROOT / "build").rglob("*.ipynb")) if (ROOT / "build").exists() else []:
        if ".ipynb_checkpoints" in nb.parts:
            continue
        data = json.loads(nb.read_text(encoding="utf-8"))
        parts = []
        for cell in data.get("cells", []):
            parts.append("".join(cell.get("source", [])))
            for out in cell.get("outputs", []):
                parts.append("".join(out.get("text", [])))
                for mime, value in out.get("data", {}).items():
                    if mime.startswith("text/"):
                        parts.append("".join(value) if isinstance(value, list) else str(value))
        texts.append((str(nb.relative_to(ROOT)), "\n".join(parts)))
    return texts


def test_committed_and_built_notebooks_hold_no_real_identifiers():
    """Scans notebook sources and the text outputs of executed notebooks (images are skipped) for
    UPNs, UK postcodes, email addresses and dates of birth (see belonging_lib.privacy)."""
    from belonging_lib.privacy import find_identifiers

    texts = _notebook_texts()
    assert texts, "no notebooks found"
    problems = {name: hits[:3] for name, text in texts if (hits := find_identifiers(text))}
    assert problems == {}, f"identifier-like text in notebooks: {problems}"


def test_scan_would_catch_identifiers():
    from belonging_lib.privacy import check_no_identifiers

    with pytest.raises(DisclosureError, match="UPN"):
        check_no_identifiers("pupil A123456789012 scored 4")
    with pytest.raises(DisclosureError, match="postcode"):
        check_no_identifiers(pd.DataFrame({"where": ["SW1A 1AA"]}))
    check_no_identifiers("StartDate 02/03/2026 20:27, P0001, S01-C1")


def test_display_markdown_and_text_forms():
    t = pd.DataFrame({"group": ["a", "b", "c"], "n": [40, 4, 30], "mean": [3.14159, 2.0, 3.4]})
    s = suppress(t, count_col="n")
    md = s.to_markdown(digits=1)
    assert md.splitlines()[0] == "| group | n | mean |"
    assert "| a | 40 | 3.1 |" in md and "| b | [c] | [c] |" in md
    crosstab = pd.DataFrame({"x": [50, 3]}, index=["r1", "r2"])
    assert suppress(crosstab, counts=crosstab).to_markdown().splitlines()[2] == "| r1 | [c] |"
    assert md.endswith(s.footnote)
    text = str(s)
    assert "[c]" in text and text.endswith(s.footnote)
    assert s.to_frame()["mean"].iloc[0] == 3.14159          # numbers are never rounded
    assert s.display(digits=3)["mean"].iloc[0] == "3.142"
    plain = suppress(t.assign(n=[40, 40, 30]), count_col="n")
    assert plain.to_markdown().count("[c]") == 0 and not plain.to_markdown().endswith(".")


def test_suppress_input_errors():
    t = pd.DataFrame({"group": ["a", "b"], "n": [40, None], "mean": [1.0, 2.0]})
    with pytest.raises(DataError, match="missing values"):
        suppress(t, count_col="n")
    with pytest.raises(DataError, match="non-numeric"):
        suppress(pd.DataFrame({"a": [1.0]}), counts=pd.DataFrame({"a": ["x"]}))
    with pytest.raises(DataError, match="DisclosurePolicy"):
        set_default_policy("ten")
    with pytest.raises(DataError, match="must be a number"):
        check_model_df("many")
    assert check_model_df(3, policy=DisclosurePolicy(enabled=False)) == 3.0


def test_crosstab_zero_cells_are_not_suppressed_and_policy_off():
    counts = pd.DataFrame({"x": [0, 50], "y": [30, 40]})
    s = suppress(counts, counts=counts)
    assert not s.mask.to_numpy().any()     # structural zeros reveal nothing about a person
    off = suppress(counts.replace(0, 3), counts=counts.replace(0, 3), policy=DisclosurePolicy(enabled=False))
    assert not off.mask.to_numpy().any() and off.n_primary == 0
    s2 = suppress(counts.replace(0, 3), counts=counts.replace(0, 3), policy=DisclosurePolicy(secondary=False))
    assert s2.mask.to_numpy().sum() == 1 and s2.n_secondary == 0


@pytest.mark.parametrize("shape", [(2, 4), (4, 2)])
def test_crosstab_non_square(shape):
    counts = pd.DataFrame(np.full(shape, 50))
    counts.iloc[0, 0] = 4
    s = suppress(counts, counts=counts.copy())
    m = s.mask.to_numpy()
    assert m.sum() == 4 and m[0, 0] and m[0, 1] and m[1, 0] and m[1, 1]


def test_group_summary_blocks_with_numeric_and_missing_keys():
    t = pd.DataFrame({"year": [7, 7, 8, 8, np.nan, np.nan], "level": ["a", "b", "a", "b", "a", "b"],
                      "n": [30, 5, 20, 12, 3, 40], "mean": [1.0, 2, 3, 4, 5, 6]})
    s = suppress(t, count_col="n", within="year")
    assert not s.mask["year"].any()                      # the block column is a label, never suppressed
    assert s.mask["n"].tolist() == [True, True, False, False, True, True]
    with pytest.raises(Exception, match="count column 'm'"):
        suppress(t, count_col="m")
    with pytest.raises(Exception, match="block column 'grade'"):
        suppress(t, count_col="n", within="grade")
    with pytest.raises(DataError, match="count column 'n' has missing"):
        suppress(t.assign(n=[1, None, 3, 4, 5, 6]), count_col="n")


def test_html_form():
    t = pd.DataFrame({"group": ["a", "b", "c"], "n": [40, 4, 30], "mean": [3.1, np.nan, 3.4]})
    html = suppress(t, count_col="n")._repr_html_()
    assert html.startswith("<div class='bl-suppressed'><table class=\"dataframe bl-table\">")
    assert html.endswith("<p style='margin:0'><small>" + DisclosurePolicy().footnote + "</small></p></div>")
    assert "<td>[c]</td>" in html and "nan" not in html.lower()
    clean = suppress(t.assign(n=[40, 40, 30]), count_col="n")._repr_html_()
    assert clean.endswith("</table></div>") and "<small>" not in clean
    assert "<td></td>" in clean      # a missing mean shows as an empty cell


def test_summarise_by_columns_and_counts():
    d = pd.DataFrame({"g": ["a"] * 15 + ["b"] * 12, "h": ["x", "y"] * 13 + ["x"],
                      "y": list(np.arange(14.0)) + [np.nan] + list(np.arange(12.0))})
    s = summarise_by(d, outcome="y", by="g", policy=DisclosurePolicy(threshold=1))
    assert s.data.columns.tolist() == ["g", "n", "n_missing", "mean", "sd"]
    assert s.data["n"].tolist() == [14, 12] and s.data["n_missing"].tolist() == [1, 0]
    assert s.data["mean"].tolist() == pytest.approx([6.5, 5.5], rel=1e-12)
    two = summarise_by(d, outcome="y", by=["g", "h"], policy=DisclosurePolicy(threshold=1))
    assert two.data.columns.tolist()[:2] == ["g", "h"] and len(two.data) == 4
    assert two.data["n"].sum() == 26
    with pytest.raises(Exception, match="grouping column 'k'"):
        summarise_by(d, outcome="y", by="k")
    with pytest.raises(Exception, match="outcome column 'z'"):
        summarise_by(d, outcome="z", by="g")


def test_numeric_labels_stay_visible_in_suppressed_rows():
    d = pd.DataFrame({"wave": [1] * 30 + [2] * 4 + [3] * 20, "y": np.arange(54.0)})
    s = summarise_by(d, outcome="y", by="wave")
    # the wave number names the row: shown even where the row's numbers are hidden
    assert s.data["wave"].tolist() == [1, 2, 3] and not s.mask["wave"].any()
    assert s.mask["mean"].tolist() == [False, True, True]
    assert s.display()["wave"].tolist() == ["1", "2", "3"]
    t = pd.DataFrame({"code": [1, 2], "n": [3, 40], "est": [0.5, 0.7]})
    assert suppress(t, count_col="n").mask["code"].tolist() == [True, True]     # a number unless named
    assert suppress(t, count_col="n", labels="code").mask["code"].tolist() == [False, False]
    with pytest.raises(ColumnError, match="'nope'"):
        suppress(t, count_col="n", labels="nope")


def test_pivot_keeps_the_mask():
    t = pd.DataFrame({"country": ["A", "A", "B", "B", "C", "C"], "q": [25, 75] * 3,
                      "value": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "n": [40, 40, 6, 6, 50, 50]})
    wide = suppress(t, count_col="n", labels="q").pivot(index="country", columns="q", values="value")
    assert wide.data.shape == (3, 2) and wide.mask.loc["B"].all() and not wide.mask.loc[["A", "C"]].any().any()
    assert wide.display().loc["C", 75] == "6.00" and wide.display().loc["B", 25] == "[c]"
    assert wide.n_primary == 2


def test_label_codes_display_as_codes():
    t = pd.DataFrame({"IMMIG": [1.0, 2.0, 3.0], "q": [25.0, 25.0, 25.0], "n": [500, 120, 61],
                      "estimate": [71.2, 72.8, 61.8]})
    s = suppress(t, count_col="n", labels=["IMMIG", "q"])
    assert s.display()["IMMIG"].tolist() == ["1", "2", "3"] and s.display()["estimate"].tolist()[0] == "71.20"
    wide = s.pivot(index="IMMIG", columns="q", values="estimate")
    assert wide.data.columns.tolist() == [25] and wide.display()[25].tolist() == ["71.20", "72.80", "61.80"]


def test_tables_by_group_name_an_infinite_value_with_its_column_and_row():
    from belonging_lib.disclosure import magnitude_by, summarise_by

    d = pd.DataFrame({"school": ["a"] * 12, "y": [1.0] * 6 + [np.inf] + [1.0] * 5})
    for fn in (summarise_by, magnitude_by):
        with pytest.raises(DataError, match=r"Column 'y' holds an infinite value \(inf\) in row 7 "):
            fn(d, outcome="y", by="school", context=False)
