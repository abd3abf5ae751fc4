"""Issue 27, second round of hostile input, outside the school tools.

Each test is one case of the issue (its number or its words in the test's name) and failed on
the code before its fix.  Protection is checked with an audit of our own: the linear
constraints a reader has (every published count, counts never negative), solved with
``scipy.optimize.linprog`` here, for every suppressed small group.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog

import belonging_lib as bl
from belonging_lib import DataError
from belonging_lib import disclosure as D
from belonging_lib.disclosure import count_by, set_default_policy, summarise_by, suppress

THRESHOLD = 10


@pytest.fixture(autouse=True)
def _clean(monkeypatch):
    monkeypatch.delenv("BELONGING_DISCLOSURE_THRESHOLD", raising=False)
    monkeypatch.delenv("BELONGING_DISCLOSURE_CONFIG", raising=False)
    set_default_policy(None)
    D.set_context(None)
    getattr(D, "_forget_automatic", lambda: None)()  # (absent before the fix)
    yield
    set_default_policy(None)
    D.set_context(None)


# ----------------------------------------------------------------------------- an independent audit


def bounds(equations, n_vars, target):
    """Smallest and largest value of target @ x given the published equations and x >= 0."""
    A = np.array([e[0] for e in equations], dtype=float).reshape(-1, n_vars)
    b = np.array([e[1] for e in equations], dtype=float)
    out = []
    for sign in (1, -1):
        res = linprog(sign * np.asarray(target, float), A_eq=A, b_eq=b, bounds=(0, None), method="highs")
        assert res.status in (0, 3), res.message
        out.append(np.inf if res.status == 3 else sign * res.fun)
    return out[0], out[1]


class Reader:
    """What a reader knows: counts of sets of fine cells (pupils grouped by every column used)."""

    def __init__(self, d: pd.DataFrame, columns: list[str]):
        self.d = d
        self.columns = columns
        self.cells = d.groupby(columns, dropna=False).size()
        self.keys = list(self.cells.index)
        self.eqs = [(np.ones(len(self.keys)), float(len(d)))]  # the total: percentages of all rows give it

    def vec(self, **where):
        v = np.zeros(len(self.keys))
        for k, key in enumerate(self.keys):
            key = key if isinstance(key, tuple) else (key,)
            row = dict(zip(self.columns, key))
            if all(row[c] == val for c, val in where.items()):
                v[k] = 1
        return v

    def publish(self, table, by: list[str], count: str = "n"):
        """The shown counts of a SuppressedTable (its numbers, not their text)."""
        for k in range(len(table.data)):
            if not table.mask[count].iloc[k]:
                r = table.data.iloc[k]
                self.eqs.append((self.vec(**{b: r[b] for b in by}), float(r[count])))

    def width(self, **where):
        lo, hi = bounds(self.eqs, len(self.keys), self.vec(**where))
        return hi - lo

    def true(self, **where):
        return int(self.vec(**where) @ self.cells.to_numpy())


def year_gender_fsm():
    """Year 5: 9 girls and 50 boys; Year 6: 40 girls and 11 boys; free meals split each year."""
    rows = (
        [("Y5", "F", k % 2) for k in range(9)]
        + [("Y5", "M", k % 2) for k in range(50)]
        + [("Y6", "F", k % 2) for k in range(40)]
        + [("Y6", "M", k % 2) for k in range(11)]
    )
    d = pd.DataFrame(rows, columns=["year", "gender", "fsm"])
    d["y"] = np.arange(len(d)) % 5 + 1.0
    return d


# ----------------------------------------------------------------------------- BAD 3 and the first round


def test_bad3_two_groupings_of_one_data_set_without_a_context():
    d = year_gender_fsm()
    a = count_by(d, by=["year", "gender"])
    b = count_by(d, by=["year", "fsm"])
    reader = Reader(d, ["year", "gender", "fsm"])
    reader.publish(a, ["year", "gender"])
    reader.publish(b, ["year", "fsm"])
    assert reader.true(year="Y5", gender="F") == 9
    assert reader.width(year="Y5", gender="F") >= THRESHOLD  # Year 5's 9 girls are not pinned


def test_first_round_count_by_year_then_year_by_gender_without_a_context():
    d = year_gender_fsm()
    years = count_by(d, by="year")
    both = summarise_by(d, outcome="y", by=["year", "gender"])
    assert not ("59" in years.display()["n"].tolist() and "50" in both.display()["n"].tolist())
    reader = Reader(d, ["year", "gender"])
    reader.publish(years, ["year"])
    reader.publish(both, ["year", "gender"])
    assert reader.width(year="Y5", gender="F") >= THRESHOLD


def test_automatic_context_is_per_data_set_and_policy():
    d = year_gender_fsm()
    other = d.assign(y=d["y"] + 1)
    assert D.automatic_context(d) is D.automatic_context(d.sample(frac=1, random_state=3))
    assert D.automatic_context(d) is not D.automatic_context(other)
    assert D.automatic_context(d) is not D.automatic_context(d, policy=D.DisclosurePolicy(threshold=5))
    # context=False still means no context at all
    count_by(d, by="year", context=False)
    assert summarise_by(d, outcome="y", by=["year", "gender"], context=False).display()["n"].tolist() == [
        "[c]",
        "50",
        "40",
        "[c]",
    ]


# ----------------------------------------------------------------------------- BAD 4


@pytest.mark.parametrize("with_id", [False, True])
def test_bad4_context_not_defeated_by_a_fresh_index(with_id):
    d = year_gender_fsm()
    if with_id:
        d.insert(0, "pupil_id", [f"P{k:04d}" for k in range(len(d))])
    shuffled = d.sample(frac=1, random_state=7).reset_index(drop=True)
    with D.context():
        years = count_by(d, by="year")
        both = summarise_by(shuffled, outcome="y", by=["year", "gender"])
    assert "50" not in both.display()["n"].tolist()  # the 50 boys would give away 9 girls
    reader = Reader(d, ["year", "gender"])
    reader.publish(years, ["year"])
    reader.publish(both, ["year", "gender"])
    assert reader.width(year="Y5", gender="F") >= THRESHOLD


def test_bad4_pupils_followed_by_their_id_when_other_columns_change():
    d = year_gender_fsm()
    d.insert(0, "pupil_id", [f"P{k:04d}" for k in range(len(d))])
    rescored = d.assign(y=d["y"] * 2).sample(frac=1, random_state=2).reset_index(drop=True)
    with D.context():
        count_by(d, by="year")
        both = summarise_by(rescored, outcome="y", by=["year", "gender"]).display()
    assert "50" not in both["n"].tolist()


def test_fresh_index_labels_no_longer_join_unrelated_pupils():
    """Two different data sets with the same row labels are different pupils."""
    d = year_gender_fsm()
    ctx = D.context()
    first = ctx.pupils_of(d)
    second = ctx.pupils_of(pd.DataFrame({"school": ["A"] * len(d)}))
    assert not set(first) & set(second)
    again = ctx.pupils_of(d.iloc[::-1].reset_index(drop=True))
    assert sorted(again) == sorted(first)  # the same pupils (identical rows in any order)
    unique = d.assign(k=np.arange(len(d)))
    ids = ctx.pupils_of(unique)
    assert (
        ctx.pupils_of(unique.sample(frac=1, random_state=1).reset_index(drop=True))
        == ids[unique.sample(frac=1, random_state=1).index]
    ).all()


# ----------------------------------------------------------------------------- BAD 2


def _school_with_nine_girls():
    """School S01 with 9 girls and 10 boys; 12 pupils elsewhere have no belonging score."""
    from belonging_lib.report import _score_table

    s = bl.load_sample("survey")
    rest = s[s.school_id != "S01"]
    s01 = s[s.school_id == "S01"]
    d = pd.concat([rest, s01[s01.gender == "girl"].head(9), s01[s01.gender == "boy"].head(10)])
    d = d.reset_index(drop=True)
    items = [c for c in d.columns if c.startswith("pssm_")]
    blank = (
        d.index[(d.school_id != "S01") & (d.gender == "girl")][:7].tolist()
        + d.index[(d.school_id != "S01") & (d.gender == "boy")][:5].tolist()
    )
    d.loc[blank, items] = np.nan
    sc, _, _ = _score_table(d, None)
    d["pssm"] = sc.iloc[:, 0]
    assert d.loc[(d.school_id != "S01") & (d.gender == "girl"), "pssm"].isna().sum() >= 7
    return d


@pytest.mark.parametrize("report_first", [True, False])
def test_bad2_school_report_and_whole_sample_table(report_first):
    from belonging_lib.report import report_tables

    d = _school_with_nine_girls()
    if report_first:
        rep = report_tables(d, school="S01", by=["gender"])
        whole = summarise_by(d, outcome="pssm", by="gender").display().set_index("gender")
    else:
        whole = summarise_by(d, outcome="pssm", by="gender").display().set_index("gender")
        rep = report_tables(d, school="S01", by=["gender"])
    g = rep.by["gender"].display().set_index("group")
    assert g.loc["girl", "n_school"] == "[c]"
    # the whole sample's girls with a score minus the other schools' girls would be S01's 9 girls
    assert not (g.loc["girl", "n_rest"] != "[c]" and whole.loc["girl", "n"] != "[c]")


def test_bad2_report_alone_treats_the_whole_sample_margins_with_a_score_as_public():
    """A whole-sample table made in another process publishes 1,5xx girls with a score."""
    from belonging_lib.report import report_tables

    d = _school_with_nine_girls()
    rep = report_tables(d, school="S01", by=["gender"], context=D.context())
    g = rep.by["gender"].display().set_index("group")
    assert g.loc["girl", "n_rest"] == "[c]"


# ----------------------------------------------------------------------------- WEAK: subtotals


def _subtotal_table():
    t = pd.DataFrame(
        {"agree": [30, 28, 15, 33], "neutral": [4, 22, 31, 27], "disagree": [25, 20, 40, 6]},
        index=["Y7 girls", "Y7 boys", "Y8 girls", "Y8 boys"],
    )
    out = pd.concat(
        [
            t.iloc[:2],
            t.iloc[:2].sum().rename("Y7 all").to_frame().T,
            t.iloc[2:],
            t.iloc[2:].sum().rename("Y8 all").to_frame().T,
        ]
    )
    return t, out


@pytest.mark.parametrize("declared", [True, False])
def test_weak_subtotal_rows_are_modelled(declared):
    inner, t = _subtotal_table()
    s = suppress(t, counts=t, totals=["Y7 all", "Y8 all"] if declared else [])
    shown = s.display()
    # audit: unknowns are the 12 inner cells; each shown cell (inner or subtotal) is an equation
    rows = list(inner.index)
    cols = list(inner.columns)
    pos = {(r, c): k for k, (r, c) in enumerate((r, c) for r in rows for c in cols)}
    members = {"Y7 all": rows[:2], "Y8 all": rows[2:]}
    eqs = []
    for r in t.index:
        for c in cols:
            if shown.loc[r, c] == "[c]":
                continue
            v = np.zeros(len(pos))
            for rr in members.get(r, [r]):
                v[pos[(rr, c)]] = 1
            eqs.append((v, float(t.loc[r, c])))
    assert shown.loc["Y7 girls", "neutral"] == "[c]" and shown.loc["Y8 boys", "disagree"] == "[c]"
    for r, c in [("Y7 girls", "neutral"), ("Y8 boys", "disagree")]:
        v = np.zeros(len(pos))
        v[pos[(r, c)]] = 1
        lo, hi = bounds(eqs, len(pos), v)
        assert hi - lo >= THRESHOLD


def test_weak_subtotal_under_a_grand_total_and_a_total_that_adds_up_nothing():
    inner, t = _subtotal_table()
    t2 = pd.concat([t, inner.sum().rename("Total").to_frame().T])
    s = suppress(t2, counts=t2, totals=["Y7 all", "Y8 all", "Total"])
    assert s.display().loc["Total", "agree"] == str(int(inner["agree"].sum()))
    bad = t2.copy()
    bad.loc["Y8 all", "agree"] += 1
    with pytest.raises(DataError, match="Y8 all"):
        suppress(bad, counts=bad, totals=["Y7 all", "Y8 all", "Total"])


# ----------------------------------------------------------------------------- first round: -5


def test_first_round_negative_count_in_a_group_summary_is_an_error():
    t = pd.DataFrame({"g": ["a", "b", "c"], "n": [40, -5, 30], "mean": [3.0, 2.0, 3.5]})
    with pytest.raises(DataError, match=r"'n'.*row 2.*-5"):
        suppress(t, count_col="n")


# ----------------------------------------------------------------------------- reading (BAD 9, 11; WEAK)


def _workbook(rows, *, merges=(), formats=None, hidden=()):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    for r in rows:
        ws.append(r)
    for m in merges:
        ws.merge_cells(m)
    for cell, fmt in (formats or {}).items():
        ws[cell].number_format = fmt
    for r in hidden:
        ws.row_dimensions[r].hidden = True
    return wb


def test_bad9_merged_excel_cells_are_filled_with_a_note(tmp_path):
    from belonging_lib._errors import BelongingWarning
    from belonging_lib.io import read_data, read_labelled

    rows = [["pupil_id", "school_id", "q1"]] + [
        [f"P{k}", "S01" if k == 0 else ("S02" if k == 3 else None), k] for k in range(6)
    ]
    _workbook(rows, merges=["B2:B4", "B5:B7"]).save(tmp_path / "m.xlsx")
    with pytest.warns(BelongingWarning, match="B2:B4, B5:B7"):
        frame = read_data(tmp_path / "m.xlsx")
    assert frame["school_id"].tolist() == ["S01"] * 3 + ["S02"] * 3
    with pytest.warns(BelongingWarning):
        labelled = read_labelled(tmp_path / "m.xlsx")
    assert any("B2:B4" in n for n in labelled.notes())


def test_hidden_excel_rows_are_read_with_a_note(tmp_path):
    from belonging_lib._errors import BelongingWarning
    from belonging_lib.io import read_data

    rows = [["pupil_id", "q1"]] + [[f"P{k}", k] for k in range(6)]
    _workbook(rows, hidden=[3, 4]).save(tmp_path / "h.xlsx")
    with pytest.warns(BelongingWarning, match=r"2 rows hidden.*3-4"):
        frame = read_data(tmp_path / "h.xlsx")
    assert len(frame) == 6


def test_bad11_one_formatted_id_cell_pads_only_itself(tmp_path):
    from belonging_lib.io import read_data

    rows = [["pupil_id", "q1"], [45000, 1], [123, 2], [7, 3], ["P9", 4]]
    _workbook(rows, formats={"A3": "000000"}).save(tmp_path / "ids.xlsx")
    frame = read_data(tmp_path / "ids.xlsx")
    assert frame["pupil_id"].tolist() == ["45000", "000123", "7", "P9"]


def test_bad11_dates_in_an_id_column_are_an_error_naming_the_cells(tmp_path):
    import datetime

    from belonging_lib.io import read_data

    rows = [["pupil_id", "q1"], ["P1", 1], [datetime.datetime(2026, 3, 1), 2], ["P3", 3]]
    _workbook(rows).save(tmp_path / "dates.xlsx")
    with pytest.raises(DataError, match=r"'pupil_id'.*A3 \(2026-03-01\)"):
        read_data(tmp_path / "dates.xlsx")


def test_validate_lists_the_extra_notes(tmp_path):
    from belonging_lib.codebook import read_codebook, validate
    from belonging_lib.io import read_labelled

    rows = [["pupil_id", "school_id"]] + [[f"P{k}", "S01" if k == 0 else None] for k in range(3)]
    _workbook(rows, merges=["B2:B4"]).save(tmp_path / "m.xlsx")
    with pytest.warns(bl.BelongingWarning):
        raw = read_labelled(tmp_path / "m.xlsx")
    cb = read_codebook(pd.DataFrame({"variable": ["pupil_id", "school_id"], "type": ["id", "id"]}))
    problems = validate(raw, cb)
    note = problems[problems["problem"] == "file read with a change"]
    assert len(note) == 1 and "B2:B4" in note["example"].iloc[0]


def test_weak_excel_title_row_above_the_header_gets_a_hint(tmp_path):
    from belonging_lib.io import read_data

    _workbook([["Belonging survey, spring 2026"], ["pupil_id", "q1", "q2"], ["P1", 1, 2]]).save(tmp_path / "t.xlsx")
    with pytest.raises(bl.BelongingError, match=r"title.*row 2"):
        read_data(tmp_path / "t.xlsx")


def test_weak_latin1_csv_and_empty_file_give_clear_errors(tmp_path):
    from belonging_lib.io import read_data

    (tmp_path / "latin.csv").write_bytes("pupil_id,name\nP1,Zoë\n".encode("latin-1"))
    with pytest.raises(DataError, match="encoding='latin-1'"):
        read_data(tmp_path / "latin.csv")
    assert read_data(tmp_path / "latin.csv", encoding="latin-1")["name"].tolist() == ["Zoë"]
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        read_data(tmp_path / "empty.csv")


# ----------------------------------------------------------------------------- estimators


def _replicate_frame(n=120, reps=4, seed=1):
    rng = np.random.default_rng(seed)
    d = pd.DataFrame({"y": rng.normal(size=n), "W": 1.0 + rng.random(n)})
    for r in range(1, reps + 1):
        d[f"RW{r}"] = d["W"] * rng.choice([0.5, 1.5], n)
    return d


def test_bad12_replicates_equal_to_the_final_weight_are_an_error():
    from belonging_lib.survey import SurveyDesign

    d = _replicate_frame()
    for r in range(1, 5):
        d[f"RW{r}"] = d["W"]
    with pytest.raises(DataError, match="no variance"):
        SurveyDesign(d, weight="W", replicates="RW").mean("y")


def test_weak_zero_final_weight_with_positive_replicate_weights_is_an_error():
    from belonging_lib.survey import SurveyDesign

    d = _replicate_frame()
    d.loc[3, "W"] = 0.0
    with pytest.raises(DataError, match=r"final weight 0.*row 4"):
        SurveyDesign(d, weight="W", replicates="RW")
    d.loc[3, ["RW1", "RW2", "RW3", "RW4"]] = 0.0  # a pupil weighted out everywhere is fine
    assert np.isfinite(SurveyDesign(d, weight="W", replicates="RW").mean("y").to_frame()["se"].iloc[0])


def test_weak_an_entirely_empty_pv_column_is_named():
    from belonging_lib.survey import SurveyDesign

    d = _replicate_frame()
    for k in range(1, 4):
        d[f"PV{k}MATH"] = d["y"] + k
    d["PV3MATH"] = np.nan
    with pytest.raises(DataError, match="'PV3MATH'"):
        SurveyDesign(d, weight="W", replicates="RW", pv="auto")


def test_weak_cluster_labels_differing_only_in_type_are_an_error():
    from belonging_lib.models.regression import ols

    rng = np.random.default_rng(4)
    d = pd.DataFrame({"y": rng.normal(size=80), "x": rng.normal(size=80)})
    d["school"] = pd.Series([k % 20 for k in range(40)] + [str(k % 20) for k in range(40)], dtype=object)
    with pytest.raises(DataError, match=r"'school'.*differ only in type.*0 \(int\).*'0' \(str\)"):
        ols(d, "y ~ x", cluster="school")
    from belonging_lib._validation import require_clusters

    with pytest.raises(DataError, match="differ only in type"):
        require_clusters(d["school"], "school")
    assert ols(d.assign(school=d["school"].astype(str)), "y ~ x", cluster="school").to_frame()["n"].iloc[0] == 80
    from belonging_lib.models.ratios import risk_ratio

    d["low"] = (d["y"] < 0).astype(int)
    d["g"] = np.where(np.arange(80) % 2 == 0, "a", "b")
    with pytest.raises(DataError, match="differ only in type"):
        risk_ratio(d, outcome="low", by="g", levels=("a", "b"), cluster="school")


def test_weak_report_tables_by_a_01_column_with_a_small_group():
    from belonging_lib.report import report_tables

    s = bl.load_sample("survey")
    rng = np.random.default_rng(1)
    s["free_meals"] = (rng.random(len(s)) < 0.004).astype(int)
    t = report_tables(s, school="S01", by=["free_meals"]).by["free_meals"].display()
    assert t["group"].tolist() == [0, 1]
    assert t.loc[1, "n_school"] == "[c]"


def test_first_round_find_identifiers_postcode_without_space_and_short_date():
    from belonging_lib.privacy import find_identifiers

    kinds = {m: k for k, m in find_identifiers("lives at SW1A1AA, born 2012-3-4, class 7A1, pupil P0001")}
    assert kinds == {"SW1A1AA": "postcode", "2012-3-4": "date of birth"}


def test_first_round_unquoted_unicode_formula_names_mention_q():
    import unicodedata

    from belonging_lib.models.regression import ols

    rng = np.random.default_rng(2)
    d = pd.DataFrame(
        {
            "y": rng.normal(size=40),
            "ﬁt": rng.normal(size=40),
            unicodedata.normalize("NFD", "größe"): rng.normal(size=40),
        }
    )
    with pytest.raises(bl.BelongingError, match=r"Q\('ﬁt'\)"):
        ols(d, "y ~ ﬁt")
    with pytest.raises(bl.BelongingError, match=r"Q\('name'\)"):
        ols(d, "y ~ " + unicodedata.normalize("NFD", "größe"))
    with pytest.raises(bl.BelongingError, match=r"Q\('name'\)"):
        ols(d, "y ~ z²")


def test_first_round_safe_merge_number_against_text_key_is_the_librarys_error():
    from belonging_lib.io import safe_merge

    left = pd.DataFrame({"school_id": [1, 2], "a": [1, 2]})
    right = pd.DataFrame({"school_id": ["001", "002"], "b": [3, 4]})
    with pytest.raises(DataError, match=r"'school_id'.*numbers in `left`.*'001'"):
        safe_merge(left, right, on="school_id")


def test_weak_run_with_an_unknown_chapter_says_there_is_no_such_chapter(tmp_path, capsys):
    from belonging_lib.cli import main

    out = tmp_path / "out"
    code = main(
        [
            "run",
            "--data",
            str(tmp_path / "none.csv"),
            "--codebook",
            str(tmp_path / "cb.csv"),
            "--out",
            str(out),
            "--notebooks",
            "99",
        ]
    )
    err = capsys.readouterr().err
    assert code != 0 and "no chapter 99" in err
    assert not out.exists()  # said before any work


# ----------------------------------------------------------------------------- across separate commands


def _new_process():
    """What a separate command starts with: no context open, no automatic context kept."""
    D.set_context(None)
    D._forget_automatic()


@pytest.mark.parametrize("count_first", [True, False])
def test_bad3_across_separate_commands_the_ledger_keeps_the_girls_hidden(tmp_path, count_first):
    from belonging_lib.disclosure_ledger import tracked

    d = year_gender_fsm()
    path = tmp_path / "survey.csv"
    d.to_csv(path, index=False)
    folder = tmp_path / "ledgers"
    steps = [
        ("years", lambda: count_by(d, by="year")),
        ("years x gender", lambda: summarise_by(d, outcome="y", by=["year", "gender"])),
    ]
    if not count_first:
        steps.reverse()
    shown = {}
    for name, make in steps:
        _new_process()
        with tracked(d, file=path, name=name, path=folder) as session:
            shown[name] = make()
        assert session.recorded > 0
    assert session.replayed > 0
    reader = Reader(d, ["year", "gender"])
    reader.publish(shown["years"], ["year"])
    reader.publish(shown["years x gender"], ["year", "gender"])
    assert reader.width(year="Y5", gender="F") >= THRESHOLD
    stored = (folder / next(p.name for p in folder.iterdir())).read_text()
    assert "P0" not in stored and '"n": 9' not in stored  # counts of shown groups only


@pytest.mark.parametrize("school_first", [True, False])
def test_issue25_school_minus_class_across_commands(tmp_path, school_first):
    """A school report and a class report in separate commands, in either order, must not give away a
    withheld class of 6."""
    from belonging_lib.disclosure_ledger import tracked
    from belonging_lib.report import report_tables

    s = bl.load_sample("survey")
    s01 = s[s.school_id == "S01"]
    classes = s01["class_id"].value_counts().index[:2].tolist()
    big = s01[s01.class_id == classes[0]].head(23)
    small = s01[s01.class_id == classes[1]].head(6)
    d = pd.concat([s[s.school_id != "S01"], big, small]).reset_index(drop=True)
    path = tmp_path / "survey.csv"
    d.to_csv(path, index=False)
    folder = tmp_path / "ledgers"
    _new_process()
    with tracked(d, file=path, name="class sizes", path=folder):
        sizes = count_by(d[d.school_id == "S01"], by="class_id")  # a subset: not recorded
        by_class = count_by(d, by="class_id")
    assert by_class.display().set_index("class_id").loc[classes[1], "n"] == "[c]"

    def school_report():
        _new_process()
        with tracked(d, file=path, name="report on S01", path=folder):
            return report_tables(d, school="S01", by=[])

    def class_report():
        _new_process()
        with tracked(d, file=path, name="report on a class", path=folder):
            return report_tables(d, school=classes[0], cluster="class_id", by=[])

    if school_first:
        school, klass = school_report(), class_report()
    else:
        klass, school = class_report(), school_report()
    # the first shown is shown; the later one is what the ledger must hold back
    assert (school if school_first else klass).n_school_shown
    shown_school = school.n_school_shown and klass.n_school_shown
    # 29 pupils in S01 and 23 in its first class would give away the other class's 6
    assert not shown_school
    assert sizes is not None


def test_report_command_records_and_replays_the_ledger(tmp_path, capsys, monkeypatch):
    import json

    from belonging_lib.cli import main

    folder = tmp_path / "private-ledgers"
    monkeypatch.setenv("BELONGING_LEDGER_DIR", str(folder))
    d = _school_with_nine_girls().drop(columns="pssm")
    path = tmp_path / "survey.csv"
    d.to_csv(path, index=False)
    share = tmp_path / "share"
    share.mkdir()
    assert (
        main(["report", "--data", str(path), "--school", "S01", "--groups", "gender", "--out", str(share / "s01.html")])
        == 0
    )
    first = capsys.readouterr().out
    assert "recorded in the disclosure ledger" in first
    ledgers = list(folder.glob("*.json"))
    assert len(ledgers) == 1 and not list(share.glob("*.json"))
    entries = json.loads(ledgers[0].read_text())["counts"]
    assert entries and all(set(e) <= {"kind", "where", "n", "label", "output", "time", "threshold"} for e in entries)
    _new_process()
    assert (
        main(["report", "--data", str(path), "--school", "S02", "--groups", "gender", "--out", str(share / "s02.html")])
        == 0
    )
    assert "published earlier from this data set were taken into account" in capsys.readouterr().out


# ----------------------------------------------------------------------------- BAD 1 across separate commands

BAD1_ORDERS = [("7A", "7B", "year"), ("year", "7A", "7B"), ("7B", "year", "7A")]


def _year_seven(with_ids: bool, seed: int = 11) -> pd.DataFrame:
    """Year 7: 7A has 15 girls and 10 boys, 7B 9 girls and 16 boys (the case of BAD 1)."""
    from belonging_lib.schools.questionnaire import simulate_responses

    d = simulate_responses(version="secondary", n_classes=2, class_size=25, seed=seed)
    d["class"] = ["7A"] * 25 + ["7B"] * 25
    d["gender"] = ["girl"] * 15 + ["boy"] * 10 + ["girl"] * 9 + ["boy"] * 16
    return d if with_ids else d.drop(columns="pupil_ref")


def _group_counts(html: str) -> dict:
    """The gender table of a class report page: group -> the number of pupils shown (text)."""
    import re

    for block in re.findall(r"<h3>(.*?)</h3>(.*?)</table>", html, flags=re.S):
        if block[0].strip() == "Gender":
            return dict(re.findall(r"<tr>\s*<td>([^<]*)</td>\s*<td>([^<]*)</td>", block[1]))
    raise AssertionError("the page has no gender table")


def _class_report(args: list, out) -> dict:
    """Run `belonging class-report` as a separate command; the gender counts of each report it wrote."""
    from belonging_lib.cli import main

    _new_process()
    assert main(["class-report", *args, "--out", str(out)]) == 0
    if (out / "class_pack.html").exists():
        return {p.stem.removeprefix("class_"): _group_counts(p.read_text()) for p in out.glob("class_7?.html")}
    return {None: _group_counts((out / "class_report.html").read_text())}


def _assert_7b_girls_kept_hidden(shown: list) -> None:
    """No reader of every count shown can work out 7B's girls (their number, so their mean).

    ``shown``: (subject, {group: text}) of each report, the subject "7A", "7B" or "year"; each class's
    size is known too (its page shows it).  Unknowns: 7A girls, 7A boys, 7B girls, 7B boys.
    """
    cols = {("7A", "girl"): 0, ("7A", "boy"): 1, ("7B", "girl"): 2, ("7B", "boy"): 3}
    eqs = [(np.array([1, 1, 0, 0.0]), 25.0), (np.array([0, 0, 1, 1.0]), 25.0)]
    for subject, counts in shown:
        for group, text in counts.items():
            if text.isdigit():
                v = np.zeros(4)
                for klass in ["7A", "7B"] if subject == "year" else [subject]:
                    v[cols[(klass, group)]] = 1
                eqs.append((v, float(text)))
    assert not any(s == "7B" and c["girl"].isdigit() for s, c in shown)  # 9 girls: hidden in 7B's own report
    target = np.zeros(4)
    target[2] = 1
    lo, hi = bounds(eqs, 4, target)
    assert hi - lo >= THRESHOLD, shown
    # nor their mean: the year's girls and 7A's girls are never both shown (a row is shown or hidden whole)
    girls = {s for s, c in shown if c["girl"].isdigit()}
    assert not {"year", "7A"} <= girls, shown


@pytest.mark.parametrize("order", BAD1_ORDERS, ids="-".join)
def test_bad1_classes_of_one_year_file_across_separate_commands(tmp_path, monkeypatch, order):
    """(a) One file of the year with a class column: --class 7A, --class 7B, and the whole file.

    The whole file gives a pack (one report per class), which shows no whole-year split itself.
    """
    monkeypatch.setenv("BELONGING_LEDGER_DIR", str(tmp_path / "ledgers"))
    path = tmp_path / "year7.csv"
    _year_seven(with_ids=True).to_csv(path, index=False)
    shown = []
    for step in order:
        args = ["--data", str(path)] + ([] if step == "year" else ["--class", step])
        reports = _class_report(args, tmp_path / f"out-{step}")
        shown += [(step if k is None else k, c) for k, c in reports.items()]
    assert sorted(s for s, _ in shown) == ["7A", "7A", "7B", "7B"]
    _assert_7b_girls_kept_hidden(shown)


def _three_files(tmp_path, files: dict, order) -> list:
    shown = []
    for step in order:
        files[step].to_csv(tmp_path / f"{step}.csv", index=False)
        shown.append((step, _class_report(["--data", str(tmp_path / f"{step}.csv")], tmp_path / f"out-{step}")[None]))
    return shown


@pytest.mark.parametrize("order", BAD1_ORDERS, ids="-".join)
def test_bad1_three_files_across_separate_commands(tmp_path, monkeypatch, order):
    """(b) 7A.csv, 7B.csv and year.csv (the same pupils' rows, with an extra class column), no pupil IDs."""
    monkeypatch.setenv("BELONGING_LEDGER_DIR", str(tmp_path / "ledgers"))
    d = _year_seven(with_ids=False)
    files = {
        "7A": d[d["class"] == "7A"].drop(columns="class"),
        "7B": d[d["class"] == "7B"].drop(columns="class"),
        # the year's file: a class column of its own, and its rows in another order
        "year": d.assign(**{"class": "Y7"}).sample(frac=1, random_state=3),
    }
    shown = _three_files(tmp_path, files, order)
    _assert_7b_girls_kept_hidden(shown)
    # only what is needed is hidden: the year's split or 7A's is still shown
    assert any(s in ("year", "7A") and c["girl"].isdigit() for s, c in shown), shown


def test_bad1_a_cell_corrected_since_the_year_report_keeps_the_pupil_linked(tmp_path, monkeypatch):
    """(b) without IDs: a girl of 7A whose answer was corrected after the year's report is still that girl."""
    monkeypatch.setenv("BELONGING_LEDGER_DIR", str(tmp_path / "ledgers"))
    d = _year_seven(with_ids=False)
    seven_a = d[d["class"] == "7A"].drop(columns="class").copy()
    seven_a.loc[seven_a.index[2], "ocbs_03"] = 1 if seven_a.loc[seven_a.index[2], "ocbs_03"] != 1 else 2
    files = {"year": d.assign(**{"class": "Y7"}), "7A": seven_a, "7B": d[d["class"] == "7B"].drop(columns="class")}
    _assert_7b_girls_kept_hidden(_three_files(tmp_path, files, ("year", "7A", "7B")))


def test_bad1_three_files_with_pupil_ids_across_separate_commands(tmp_path, monkeypatch):
    """(b) with a pupil_ref column: pupils are followed by their ID, whatever other columns the files hold."""
    monkeypatch.setenv("BELONGING_LEDGER_DIR", str(tmp_path / "ledgers"))
    d = _year_seven(with_ids=True)
    files = {
        "7A": d[d["class"] == "7A"].drop(columns=["class", "fsm"]),
        "7B": d[d["class"] == "7B"].drop(columns=["class", "fsm"]),
        "year": d.assign(**{"class": "Y7"}).sample(frac=1, random_state=4),
    }
    _assert_7b_girls_kept_hidden(_three_files(tmp_path, files, ("7A", "7B", "year")))


def test_bad1_pupils_never_seen_before_are_not_suppressed_more(tmp_path, monkeypatch, capsys):
    """An unrelated class's report is the same whether or not the ledger holds other pupils' counts."""
    d = _year_seven(with_ids=False)
    d.assign(**{"class": "Y7"}).to_csv(tmp_path / "year.csv", index=False)
    other = _year_seven(with_ids=False, seed=12)
    other = other[other["class"] == "7B"].drop(columns="class")  # 9 girls, 16 boys: other pupils
    other.to_csv(tmp_path / "other.csv", index=False)
    pages = {}
    for ledgers in ("empty", "used"):
        monkeypatch.setenv("BELONGING_LEDGER_DIR", str(tmp_path / ledgers))
        if ledgers == "used":
            _class_report(["--data", str(tmp_path / "year.csv")], tmp_path / "out-year")
        capsys.readouterr()
        _class_report(["--data", str(tmp_path / "other.csv")], tmp_path / f"out-{ledgers}")
        assert "taken into account" not in capsys.readouterr().out
        page = (tmp_path / f"out-{ledgers}" / "class_report.html").read_text()
        pages[ledgers] = page[page.index("<h3>") :]
    assert pages["used"] == pages["empty"]
    # the other class's pupils were recorded as pupils of their own, not taken for the year's 50
    assert len(json.loads((tmp_path / "used" / "pupils.json").read_text())["pupils"]) > 50


def test_ledger_key_is_private_and_kept_only_in_the_ledger_folder(tmp_path, monkeypatch, capsys):
    import stat

    from belonging_lib.cli import main

    ledgers = tmp_path / "private" / "ledgers"
    monkeypatch.setenv("BELONGING_LEDGER_DIR", str(ledgers))
    d = _year_seven(with_ids=True)
    d.to_csv(tmp_path / "year7.csv", index=False)
    out = tmp_path / "share"
    _class_report(["--data", str(tmp_path / "year7.csv"), "--class", "7A"], out)
    assert "recorded in the disclosure ledger" in capsys.readouterr().out
    key = ledgers / "ledger.key"
    assert sorted(p.name for p in ledgers.iterdir()) == ["ledger.key", "pupils.json"]
    for p in (key, ledgers / "pupils.json"):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    assert stat.S_IMODE(ledgers.stat().st_mode) & 0o077 == 0
    secret = key.read_text().strip()
    assert len(bytes.fromhex(secret)) == 32
    written = [p for p in tmp_path.rglob("*") if p.is_file() and ledgers not in p.parents]
    assert not [p for p in written if p.name == "ledger.key" or secret in p.read_text(errors="ignore")]
    stored = (ledgers / "pupils.json").read_text()
    assert "P0" not in stored and secret not in stored  # pupils as keyed tokens only
    # a ledger folder inside the output, or inside a git working tree, is refused
    for inside in (out / "ledgers", tmp_path / "repo" / "ledgers"):
        (tmp_path / "repo" / ".git").mkdir(parents=True, exist_ok=True)
        monkeypatch.setenv("BELONGING_LEDGER_DIR", str(inside))
        _new_process()
        assert main(["class-report", "--data", str(tmp_path / "year7.csv"), "--class", "7A", "--out", str(out)]) == 2
        assert "private folder" in capsys.readouterr().err
        assert not (inside / "ledger.key").exists()


def _school_n_cells(html: str) -> list[str]:
    """The 'N (school)' cell of each score row of a report page, as printed."""
    import re

    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    return re.findall(r"\((?:mean|sum), [\d-]+\) (\d+|\[c\]) (?:-?[\d.]+|\[c\]) (?:\d+|\[c\]) ", text)


@pytest.mark.parametrize("school_first", [True, False])
def test_school_and_class_reports_in_separate_processes_leave_no_class_to_derive(tmp_path, school_first):
    """`belonging report` on a school and on one of its classes, run as two separate processes in either
    order, with no table of classes ever published: the school's count and the class's count, both
    shown, would give away the other class of 6 pupils (and its mean) by difference. The later report
    withholds its counts and says that earlier counts were taken into account."""
    import os
    import subprocess
    import sys

    s = bl.load_sample("survey")
    s01 = s[s.school_id == "S01"]
    classes = s01["class_id"].value_counts().index[:2].tolist()
    d = pd.concat(
        [s[s.school_id != "S01"], s01[s01.class_id == classes[0]].head(23), s01[s01.class_id == classes[1]].head(6)]
    ).reset_index(drop=True)
    path = tmp_path / "survey.csv"
    d.to_csv(path, index=False)
    env = dict(os.environ, BELONGING_LEDGER_DIR=str(tmp_path / "ledgers"))
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1]) + os.pathsep + env.get("PYTHONPATH", "")
    runs = {
        "school": ["--school", "S01"],
        "class": ["--school", classes[0], "--school-col", "class_id"],
    }
    order = ["school", "class"] if school_first else ["class", "school"]
    pages, outs = {}, {}
    (tmp_path / "share").mkdir()
    for name in order:
        page = tmp_path / "share" / f"{name}.html"
        proc = subprocess.run(
            [sys.executable, "-m", "belonging_lib.cli", "report", "--data", str(path), *runs[name], "--out", str(page)],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        pages[name], outs[name] = _school_n_cells(page.read_text(encoding="utf-8")), proc.stdout
    assert pages["school"] and len(pages["school"]) == len(pages["class"])
    assert "taken into account" in outs[order[1]]
    # no score row shows both the school's and the class's number: the 6 pupils between them stay hidden
    both = [(a, b) for a, b in zip(pages["school"], pages["class"]) if a != "[c]" and b != "[c]"]
    assert not both, both
    # the first report, made before any other, shows its counts
    assert all(n != "[c]" for n in pages[order[0]])
