"""Regression tests for issue 20, reading part: hostile and careless files.

Every case of "Rows and IDs changed or lost silently" and "Weak reading and checking" that
concerns reading, identifiers, validation, identifier detection and the command line. Each test
failed on the code before the fix (see the closing note of the issue for the list).
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from belonging_lib import BelongingError, ColumnError, DataError
from belonging_lib.codebook import apply_codebook, read_codebook, validate
from belonging_lib.io import check_ids, read_data, read_labelled

KEY = "a-long-secret-key-for-the-tests"


def _write(folder: Path, name: str, content) -> Path:
    p = folder / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content, encoding="utf-8")
    return p


def _codebook(**extra):
    base = {"variable": ["pupil_id", "q1"], "source_name": ["ID", "Q1"], "type": ["id", "item"],
            "allowed": ["", "1-5"]}
    base.update(extra)
    return read_codebook(pd.DataFrame(base))


# ----------------------------------------------------------------------------- IDs rewritten

def test_leading_zero_ids_are_not_merged_into_duplicates(tmp_path):
    p = _write(tmp_path, "ids.csv", "pupil_id,q1\n007,1\n7,2\n010,3\n")
    frame = read_data(p)
    assert frame["pupil_id"].tolist() == ["007", "7", "010"]
    check_ids(frame)   # 007 and 7 are two pupils


def test_leading_zeros_kept_in_a_column_not_named_as_an_id(tmp_path):
    # a code column whose name says nothing: converting "007,010" to 7, 10 would lose information
    p = _write(tmp_path, "codes.csv", "code,q1\n007,1\n010,2\n")
    assert read_data(p)["code"].tolist() == ["007", "010"]


def test_exponent_like_id_is_not_turned_into_a_number(tmp_path):
    p = _write(tmp_path, "e.csv", "pupil_id,q1\n1E5,1\n2E5,2\n")
    assert read_data(p)["pupil_id"].tolist() == ["1E5", "2E5"]


def test_17_digit_id_keeps_every_digit(tmp_path):
    p = _write(tmp_path, "long.csv", "UPN number,q1\n12345678901234567,1\n12345678901234568,2\n")
    assert read_data(p)["UPN number"].tolist() == ["12345678901234567", "12345678901234568"]
    q = _write(tmp_path, "long2.csv", "ref,q1\n12345678901234567,1\n")
    assert read_data(q)["ref"].tolist() == ["12345678901234567"]


def test_raw_export_with_zero_response_ids_keeps_them_and_validate_notes_numbers(tmp_path):
    p = _write(tmp_path, "raw.csv", "ResponseId,Q1\n00000,1\n00001,2\n00002,3\n")
    cb = _codebook(source_name=["ResponseId", "Q1"])
    r = apply_codebook(read_data(p), cb)
    assert r.data["pupil_id"].tolist() == ["00000", "00001", "00002"]
    # a frame read elsewhere (pandas' own reader) already lost the zeros: validate says so
    lost = pd.read_csv(p)
    v = validate(lost, cb)
    assert "id stored as number" in v["problem"].tolist()


def test_excel_ids_keep_leading_zeros_and_none_stays_text(tmp_path):
    frame = pd.DataFrame({"pupil_id": ["007", "010", "011"], "sen": ["None", "EHCP", "SEN support"],
                          "q1": [1, 2, 3]})
    p = tmp_path / "x.xlsx"
    frame.to_excel(p, index=False)
    got = read_data(p)
    assert got["pupil_id"].tolist() == ["007", "010", "011"]
    assert got["sen"].tolist() == ["None", "EHCP", "SEN support"]   # not blank (issue 19)


def test_spss_and_stata_numeric_ids_become_text_with_their_zero_padding(tmp_path):
    import pyreadstat

    frame = pd.DataFrame({"pupil_id": [7.0, 10.0], "q1": [1.0, 2.0]})
    sav = tmp_path / "n.sav"
    pyreadstat.write_sav(frame, str(sav), variable_format={"pupil_id": "N3"})
    assert read_data(sav)["pupil_id"].tolist() == ["007", "010"]
    dta = tmp_path / "n.dta"
    pyreadstat.write_dta(frame, str(dta))
    assert read_data(dta)["pupil_id"].tolist() == ["7", "10"]


# ----------------------------------------------------------------------------- pseudonyms

def test_pseudonyms_link_across_csv_excel_spss_and_stata(tmp_path):
    import pyreadstat

    from belonging_lib.privacy import pseudonymise

    ids = ["007", "010", "123"]
    frame = pd.DataFrame({"pupil_id": ids, "q1": [1.0, 2.0, 3.0]})
    frame.to_csv(tmp_path / "a.csv", index=False)
    frame.to_excel(tmp_path / "a.xlsx", index=False)
    pyreadstat.write_sav(frame, str(tmp_path / "a.sav"))
    pyreadstat.write_dta(frame, str(tmp_path / "a.dta"))
    numeric = frame.assign(pupil_id=[7.0, 10.0, 123.0])
    pyreadstat.write_sav(numeric, str(tmp_path / "n.sav"), variable_format={"pupil_id": "N3"})
    want = ["X" + hmac.new(KEY.encode(), i.encode(), hashlib.sha256).hexdigest()[:16] for i in ids]
    for name in ("a.csv", "a.xlsx", "a.sav", "a.dta", "n.sav"):
        got = pseudonymise(read_data(tmp_path / name), columns="pupil_id", key=KEY)["pupil_id"].tolist()
        assert got == want, name


def test_pseudonymise_leaves_no_raw_id_in_the_index():
    from belonging_lib.privacy import pseudonymise

    d = pd.DataFrame({"pupil_id": ["P0001", "P0002"], "y": [1, 2]}).set_index("pupil_id", drop=False)
    out = pseudonymise(d, columns="pupil_id", key=KEY)
    text = out.to_csv()
    assert "P0001" not in text and "P0002" not in text
    assert list(out.index) == out["pupil_id"].tolist()
    # the identifier only in the index
    only_index = pd.DataFrame({"y": [1, 2]}, index=pd.Index(["P0001", "P0002"], name="pupil_id"))
    assert "P0001" not in pseudonymise(only_index, columns="pupil_id", key=KEY).to_csv()


# ----------------------------------------------------------------------------- rows swallowed

def _quoted_file(folder: Path) -> Path:
    lines = ["pupil_id,comment,q1"] + [f"P{i:02d},fine,{i % 5 + 1}" for i in range(1, 25)]
    lines[10] = 'P10,"I like school,3'     # a quote opened on row 10 (file line 11) ...
    lines[19] = 'P19,and my friends",4'    # ... and closed on row 19 (file line 20)
    return _write(folder, "quote.csv", "\n".join(lines) + "\n")


def test_stray_quote_is_reported_with_its_line_numbers(tmp_path):
    p = _quoted_file(tmp_path)
    with pytest.raises(DataError, match=r"double quote on line 11 .*line 20.*lines 12-20 look like 9 separate rows"):
        read_data(p)


def test_stray_quote_stops_validate_on_the_command_line(tmp_path, capsys):
    from belonging_lib.cli import main

    p = _quoted_file(tmp_path)
    cb = tmp_path / "cb.csv"
    pd.DataFrame({"variable": ["pupil_id", "q1"], "type": ["id", "item"], "allowed": ["", "1-5"]}).to_csv(cb, index=False)
    assert main(["validate", "--data", str(p), "--codebook", str(cb)]) == 2
    err = capsys.readouterr().err
    assert "line 11" in err and len(err.strip().splitlines()) == 1


def test_text_over_several_lines_keeps_every_row(tmp_path):
    p = _write(tmp_path, "multi.csv", 'pupil_id,comment,q1\nP01,"line one\nline two",3\nP02,x,4\nP03,"a\nb\nc",5\n')
    frame = read_data(p)
    assert frame["pupil_id"].tolist() == ["P01", "P02", "P03"]
    assert read_labelled(p).multiline_rows == ((2, 3), (5, 7))


def test_unclosed_quote_is_reported(tmp_path):
    p = _write(tmp_path, "open.csv", 'pupil_id,comment\nP01,"never closed\nmore text\n')
    with pytest.raises(DataError, match="line 2 that is never closed"):
        read_data(p)


# ----------------------------------------------------------------------------- duplicated header

def test_duplicated_header_is_an_error_naming_the_column(tmp_path):
    p = _write(tmp_path, "dup.csv", "pupil_id,q1,q1\nP1,1,2\n")
    with pytest.raises(ColumnError, match=r"'q1' twice in its header \(columns 2 and 3\)"):
        read_data(p)
    x = tmp_path / "dup.xlsx"
    pd.DataFrame([["P1", 1, 2]], columns=["pupil_id", "q1", "q2"]).rename(columns={"q2": "q1"}).to_excel(x, index=False)
    with pytest.raises(ColumnError, match="'q1' twice"):
        read_data(x)


def test_validate_command_reports_a_duplicated_header_without_traceback(tmp_path, capsys):
    from belonging_lib.cli import main

    p = _write(tmp_path, "dup.csv", "pupil_id,q1,q1\nP1,1,2\n")
    cb = tmp_path / "cb.csv"
    pd.DataFrame({"variable": ["pupil_id", "q1"], "type": ["id", "item"]}).to_csv(cb, index=False)
    assert main(["validate", "--data", str(p), "--codebook", str(cb)]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "'q1' twice" in captured.err
    assert len(captured.err.strip().splitlines()) == 1


# ----------------------------------------------------------------------------- CSV dialects

def test_utf16_csv_is_read(tmp_path):
    text = "pupil_id,label\nP1,café\n"
    for enc in ("utf-16", "utf-16-le"):
        p = _write(tmp_path, f"{enc}.csv", text.encode(enc))
        assert read_data(p)["label"].tolist() == ["café"], enc


def test_utf8_bom_is_removed_even_when_utf8_is_named(tmp_path):
    p = _write(tmp_path, "bom.csv", "\ufeffpupil_id,q1\nP1,3\n".encode())
    assert read_data(p, encoding="utf-8").columns.tolist() == ["pupil_id", "q1"]


def test_semicolon_delimited_file_is_split(tmp_path):
    p = _write(tmp_path, "semi.csv", "pupil_id;q1;attendance\nP1;3;94,5\nP2;4;90\n")
    frame = read_data(p)
    assert frame.columns.tolist() == ["pupil_id", "q1", "attendance"]
    assert frame["q1"].tolist() == [3, 4]
    assert frame["attendance"].tolist() == [94.5, 90.0]   # decimal commas of a semicolon file


# ----------------------------------------------------------------------------- header spelling

def test_header_in_nfd_or_with_a_trailing_space_matches_and_is_reported(tmp_path):
    nfd = "E\u0301cole"    # É as E + combining accent
    p = _write(tmp_path, "h.csv", f"ID,{nfd},Q1 \nP1,1,2\nP2,2,3\n")
    cb = read_codebook(pd.DataFrame({"variable": ["pupil_id", "school", "q1"],
                                     "source_name": ["ID", "\u00c9cole", "Q1"],
                                     "type": ["id", "integer", "item"], "allowed": ["", "", "1-5"]}))
    raw = read_labelled(p)       # the reader's header renames travel in the LabelledData
    r = apply_codebook(raw, cb)
    assert r.data["q1"].tolist() == [2, 3]
    assert "'Q1 ' -> 'Q1'" in r.summary()
    v = validate(raw, cb)
    assert set(v.loc[v["problem"] == "column name normalised", "source_name"]) == {"\u00c9cole", "Q1"}
    # a frame whose header was never normalised matches too
    frame = pd.DataFrame({"ID": ["P1"], "Q1 ": [4]})
    assert apply_codebook(frame, _codebook()).data["q1"].tolist() == [4]


# ----------------------------------------------------------------------------- lenient validation

def test_validate_flags_a_non_integer_code_on_an_item():
    v = validate(pd.DataFrame({"ID": ["P1", "P2"], "Q1": [4.5, 3]}), _codebook())
    row = v[v["problem"] == "invalid value"]
    assert row["variable"].tolist() == ["q1"] and row["rows"].tolist() == ["row 1"]
    with pytest.raises(DataError, match="4.5"):
        apply_codebook(pd.DataFrame({"ID": ["P1", "P2"], "Q1": [4.5, 3]}), _codebook())


def test_validate_flags_blank_pupil_ids():
    v = validate(pd.DataFrame({"ID": ["P1", "", None], "Q1": [1, 2, 3]}), _codebook())
    row = v[v["problem"] == "blank id"]
    assert row["n"].tolist() == [2] and row["rows"].tolist() == ["rows 2, 3"]
    assert row["severity"].tolist() == ["error"]


def test_validate_flags_a_reversed_range():
    v = validate(pd.DataFrame({"ID": ["P1"], "Q1": [3]}), _codebook(allowed=["", "5-1"]))
    assert "reversed range" in v["problem"].tolist()
    with pytest.raises(DataError, match="reversed range"):
        apply_codebook(pd.DataFrame({"ID": ["P1"], "Q1": [3]}), _codebook(allowed=["", "5-1"]))


def test_validate_flags_a_source_used_by_two_variables():
    cb = read_codebook(pd.DataFrame({"variable": ["pupil_id", "q1", "q2"], "source_name": ["ID", "Q1", "Q1"],
                                     "type": ["id", "item", "item"], "allowed": ["", "1-5", "1-5"]}))
    v = validate(pd.DataFrame({"ID": ["P1"], "Q1": [3]}), cb)
    assert sorted(v.loc[v["problem"] == "source used twice", "variable"]) == ["q1", "q2"]


def test_text_answer_can_be_declared_missing():
    # issue 19: "Prefer not to say" declared missing in the codebook
    cb = read_codebook(pd.DataFrame({"variable": ["pupil_id", "gender"], "source_name": ["ID", "Gender"],
                                     "type": ["id", "categorical"], "allowed": ["", "girl;boy;non-binary"],
                                     "missing_codes": ["", "Prefer not to say;9"]}))
    r = apply_codebook(pd.DataFrame({"ID": ["P1", "P2", "P3"], "Gender": ["girl", "prefer not to say", "9"]}), cb)
    assert r.data["gender"].tolist()[0] == "girl" and r.data["gender"].isna().tolist() == [False, True, True]
    assert r.changes.loc[0 if r.changes.loc[0, "variable"] == "gender" else 1, "n_set_missing"] == 2


# ----------------------------------------------------------------------------- identifier detection

def test_drop_identifiers_catches_spaced_and_padded_names():
    from belonging_lib.privacy import drop_identifiers

    d = pd.DataFrame({"UPN ": ["A123456789012"], "Pupil ID": ["P1"], "Pupil-ID": ["P1"], "y": [3]})
    assert drop_identifiers(d).columns.tolist() == ["y"]


def test_find_identifiers_catches_a_lower_case_upn():
    from belonging_lib.privacy import find_identifiers

    assert ("UPN", "a123456789012") in find_identifiers("upn a123456789012")


# ----------------------------------------------------------------------------- command line

def test_run_out_pointing_at_a_file_is_one_line_and_exit_2(tmp_path, capsys):
    from belonging_lib.cli import main

    fix = Path(__file__).resolve().parent / "fixtures"
    target = _write(tmp_path, "results.txt", "not a folder")
    code = main(["run", "--data", str(fix / "own_survey.csv"), "--codebook", str(fix / "own_codebook.csv"),
                 "--out", str(target)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "is an existing file" in err


def test_os_errors_are_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    import belonging_lib.cli as cli

    def refuse(args):
        raise PermissionError(13, "Permission denied", str(tmp_path / "x"))

    monkeypatch.setattr(cli, "_cmd_validate", refuse)
    assert cli.main(["validate", "--data", "a.csv", "--codebook", "b.csv"]) == 2
    err = capsys.readouterr().err
    assert "Permission denied" in err and len(err.strip().splitlines()) == 1


def test_run_reports_how_many_values_each_option_set_missing(tmp_path, capsys, monkeypatch):
    import belonging_lib.book as book
    from belonging_lib.cli import main

    monkeypatch.setattr(book, "execute_chapters", lambda *a, **k: [])
    monkeypatch.setattr(book, "build_book", lambda *a, **k: tmp_path / "site" / "index.html")
    data = _write(tmp_path, "raw.csv", "ID,Q1,Q2\nP1,1,9\nP2,7,2\nP3,8,9\n")
    cb = tmp_path / "cb.csv"
    pd.DataFrame({"variable": ["pupil_id", "q1", "q2"], "source_name": ["ID", "Q1", "Q2"],
                  "type": ["id", "item", "item"], "allowed": ["", "1-5", "1-5"],
                  "missing_codes": ["", "", "9"]}).to_csv(cb, index=False)
    main(["run", "--data", str(data), "--codebook", str(cb), "--out", str(tmp_path / "out"),
          "--work", str(tmp_path / "work"), "--invalid", "missing", "--notebooks", "02"])
    out = capsys.readouterr().out
    assert "--invalid missing (values the codebook does not allow): 2 values set missing in 1 variable (q1 2)" in out
    assert "declared missing codes" in out and "2 values set missing in 1 variable (q2 2)" in out


def test_mapped_file_keeps_leading_zeros_end_to_end(tmp_path):
    from belonging_lib.cli import map_to_layout
    from belonging_lib.datasets import load_sample

    data = _write(tmp_path, "raw.csv", "Pupil,School,Q1\n000123,0031,1\n000124,0031,2\n")
    cb = tmp_path / "cb.csv"
    pd.DataFrame({"variable": ["pupil_id", "school_id", "q1"], "source_name": ["Pupil", "School", "Q1"],
                  "type": ["id", "id", "item"], "allowed": ["", "", "1-5"]}).to_csv(cb, index=False)
    map_to_layout(data, cb, tmp_path / "out")
    assert "000123,0031" in (tmp_path / "out" / "survey.csv").read_text()
    back = load_sample("survey", data_dir=tmp_path / "out")
    assert back["school_id"].tolist() == ["0031", "0031"] and back["pupil_id"].tolist() == ["000123", "000124"]


def test_library_errors_are_raised_as_belonging_errors(tmp_path):
    p = _write(tmp_path, "dup.csv", "a,a\n1,2\n")
    with pytest.raises(BelongingError):
        read_data(p)
    assert np.isnan(read_data(_write(tmp_path, "ok.csv", "a,b\n1,\n"))["b"][0])


def test_a_frame_with_a_repeated_column_is_refused_by_name():
    raw = pd.DataFrame([["P1", 1, 2]], columns=["ID", "Q1", "Q1 "])
    with pytest.raises(ColumnError, match=r"'Q1' more than once \(columns 2, 3"):
        validate(raw, _codebook())
    with pytest.raises(ColumnError, match="'Q1' more than once"):
        apply_codebook(raw, _codebook())
