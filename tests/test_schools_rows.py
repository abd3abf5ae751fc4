"""Every school tool names a bad row as the spreadsheet numbers it: the column names are row 1."""

from __future__ import annotations

import pandas as pd
import pytest

from belonging_lib._errors import DataError
from belonging_lib.schools._common import SHEET_ROWS, read_table
from belonging_lib.schools.audit import read_audit, simulate_audit
from belonging_lib.schools.questionnaire import check_responses, simulate_responses
from belonging_lib.schools.support_plan import read_term_dates, support_flags


def _sheet(n=12):
    return simulate_responses(n_classes=1, class_size=n, seed=3).drop(columns=["synthetic"])


def test_read_table_labels_rows_as_the_spreadsheet_shows_them(tmp_path):
    d = _sheet()
    d.to_csv(tmp_path / "c.csv", index=False)
    d.to_excel(tmp_path / "c.xlsx", index=False)
    for name in ("c.csv", "c.xlsx"):
        t = read_table(tmp_path / name, what="class")
        assert list(t.index) == list(range(2, 14)), name
        assert t.loc[2, "pupil_ref"] == d["pupil_ref"].iloc[0]


@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
def test_a_bad_code_names_the_row_a_teacher_sees(tmp_path, suffix):
    d = _sheet()
    d["ocbs_04"] = d["ocbs_04"].astype(object)
    d.loc[2, "ocbs_04"] = 8  # the third pupil: spreadsheet row 4
    path = tmp_path / f"c.{suffix}"
    d.to_csv(path, index=False) if suffix == "csv" else d.to_excel(path, index=False)
    with pytest.raises(DataError) as err:
        check_responses(read_table(path, what="class"), what="class")
    msg = str(err.value)
    assert "'ocbs_04'" in msg and "row 4 " in msg and SHEET_ROWS in msg


def test_support_plan_and_term_dates_name_spreadsheet_rows(tmp_path):
    d = _sheet()
    d["sdq_total"] = [10] * 11 + [41]  # the last of 12 pupils: spreadsheet row 13
    d.to_csv(tmp_path / "p.csv", index=False)
    with pytest.raises(DataError, match=r"sdq_total.*row 13 \(as numbered in the spreadsheet"):
        support_flags(read_table(tmp_path / "p.csv"), reliability={"staff": 0.8, "total": 0.8})
    pd.DataFrame({"start": ["2026-10-26", "soon"], "end": ["2026-10-30", "2026-12-01"]}).to_csv(
        tmp_path / "t.csv", index=False
    )
    with pytest.raises(DataError, match=r"row 3 \(as numbered in the spreadsheet"):
        read_term_dates(tmp_path / "t.csv")


def test_a_workbook_of_one_sheet_per_rater_names_the_sheet_and_its_row(tmp_path, capsys):
    d = simulate_audit(n_raters=3, seed=2)
    d["rating"] = d["rating"].astype(object)
    blocks = dict(tuple(d.groupby("rater")))
    second = sorted(blocks)[1]
    bad = blocks[second].reset_index(drop=True)
    bad.loc[1, "rating"] = "9"  # its second rating: row 3 of that sheet
    blocks[second] = bad
    with pd.ExcelWriter(tmp_path / "raters.xlsx") as xl:
        for rater in sorted(blocks):
            blocks[rater].to_excel(xl, sheet_name=rater, index=False)
    table = read_table(
        tmp_path / "raters.xlsx", what="audit", expect=lambda c: "rater" in c and "indicator" in c, stack=True
    )
    with pytest.raises(DataError, match=rf"row 3 \(sheet '{second}'\).*'9'"):
        read_audit(table)
