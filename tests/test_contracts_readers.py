"""Contract tests (hypothesis) for the readers: CSV, Excel, SPSS, Stata, codebooks and validation.

The contract: a file written correctly by its own tool is read back with every row and every
identifier exactly as written (text stays text, "007" stays "007"), whatever its encoding or
delimiter; a file the reader cannot read faithfully raises a BelongingError with a message. Any
other exception, a lost row or a changed ID fails, and so does a numpy/scipy RuntimeWarning.
``validate`` finds an error exactly when ``apply_codebook`` would refuse the export.  Kept small
(max_examples) so the file runs in well under a minute; in CI the examples are derandomised
(tests/conftest.py).
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import unicodedata

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from _contract_helpers import FAST, SLOWER, attempt
from belonging_lib import BelongingError
from belonging_lib.codebook import apply_codebook, read_codebook, validate
from belonging_lib.io import read_data, read_labelled

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")


KEY = "a-long-secret-key-for-the-tests"

# identifiers as schools write them: leading zeros, exponent-like codes, long digit strings, letters
id_text = st.text(alphabet="0123456789EeP-", min_size=1, max_size=18).filter(lambda s: s.strip() == s)
ids_unique = st.lists(id_text, min_size=1, max_size=12, unique=True)
answers = st.one_of(st.none(), st.integers(1, 5))
comments = st.text(alphabet='ab "\n,;', max_size=12)


def _expected_text(values):
    # a cell of spaces only is blank when its whole column is (an empty column reads as missing)
    return [v if v.strip() != "" else None for v in values]


def _as_list(series):
    return [None if (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and not v.strip()) else v
            for v in series.tolist()]


# ----------------------------------------------------------------------------- CSV

@FAST
@given(ids=ids_unique, data=st.data(), encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]),
       delimiter=st.sampled_from([",", ";", "\t"]))
def test_csv_keeps_every_row_and_id(tmp_path_factory, ids, data, encoding, delimiter):
    n = len(ids)
    q1 = data.draw(st.lists(answers, min_size=n, max_size=n))
    text = data.draw(st.lists(comments, min_size=n, max_size=n))
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    writer.writerow(["pupil_id", "q1", "comment"])
    for row in zip(ids, q1, text):
        writer.writerow(["" if v is None else v for v in row])
    p = tmp_path_factory.mktemp("csv") / "f.csv"
    p.write_bytes(buf.getvalue().encode(encoding))
    frame = attempt(read_data, p)
    if frame is None:
        # the one refusal allowed on a well-formed file: a quoted text whose inner line looks like a row
        with pytest.raises(BelongingError, match="double quote"):
            read_data(p)
        return
    assert len(frame) == n
    assert frame["pupil_id"].tolist() == ids
    assert _as_list(frame["q1"].astype(object).where(frame["q1"].notna(), None)) == \
        [None if v is None else float(v) for v in q1] or frame["q1"].isna().all()
    assert _as_list(frame["comment"]) == _expected_text(text)


@FAST
@given(ids=ids_unique)
def test_csv_ids_do_not_depend_on_the_column_name(tmp_path_factory, ids):
    """An ID column under any name keeps leading zeros and long numbers, or its values are plain numbers."""
    p = tmp_path_factory.mktemp("csvname") / "f.csv"
    p.write_text("code\n" + "\n".join(ids) + "\n", encoding="utf-8")
    col = read_data(p)["code"]
    if col.dtype == object:
        assert col.tolist() == ids
    else:   # converted to numbers only when nothing is lost
        for raw, got in zip(ids, col.tolist()):
            assert float(raw) == got
            assert not raw.lstrip("+-").startswith("0") or raw.lstrip("+-") == "0" or "." in raw \
                or not raw.lstrip("+-")[1:2].isdigit()
            assert len(raw.strip("+-")) < 16 or not raw.strip("+-").isdigit()


# ----------------------------------------------------------------------------- Excel

@SLOWER
@given(ids=ids_unique, data=st.data())
def test_excel_keeps_ids_and_words_as_written(tmp_path_factory, ids, data):
    n = len(ids)
    sen = data.draw(st.lists(st.sampled_from(["None", "NA", "n/a", "EHCP", "SEN support"]), min_size=n, max_size=n))
    q1 = data.draw(st.lists(st.integers(1, 5), min_size=n, max_size=n))
    p = tmp_path_factory.mktemp("xlsx") / "f.xlsx"
    pd.DataFrame({"pupil_id": ids, "sen": sen, "q1": q1}).to_excel(p, index=False)
    frame = read_data(p)
    assert len(frame) == n
    assert frame["pupil_id"].tolist() == ids
    assert frame["sen"].tolist() == sen
    assert frame["q1"].tolist() == q1


# ----------------------------------------------------------------------------- SPSS and Stata

@SLOWER
@given(ids=st.lists(st.text(alphabet="0123456789AB", min_size=1, max_size=10), min_size=1, max_size=10, unique=True),
       numbers=st.lists(st.integers(0, 99999), min_size=1, max_size=10, unique=True))
def test_spss_and_stata_ids_are_text(tmp_path_factory, ids, numbers):
    import pyreadstat

    folder = tmp_path_factory.mktemp("labelled")
    text = pd.DataFrame({"pupil_id": ids, "q1": np.arange(len(ids), dtype=float) % 5 + 1})
    pyreadstat.write_sav(text, str(folder / "t.sav"))
    pyreadstat.write_dta(text, str(folder / "t.dta"))
    for name in ("t.sav", "t.dta"):
        frame = read_data(folder / name)
        assert frame["pupil_id"].tolist() == ids, name
    numeric = pd.DataFrame({"pupil_id": [float(v) for v in numbers]})
    pyreadstat.write_sav(numeric, str(folder / "n.sav"), variable_format={"pupil_id": "N6"})
    assert read_data(folder / "n.sav")["pupil_id"].tolist() == [str(v).zfill(6) for v in numbers]


@SLOWER
@given(ids=ids_unique)
def test_pseudonyms_are_the_same_from_every_format(tmp_path_factory, ids):
    import pyreadstat

    from belonging_lib.privacy import pseudonymise

    folder = tmp_path_factory.mktemp("pseudo")
    frame = pd.DataFrame({"pupil_id": ids, "q1": [1.0] * len(ids)})
    frame.to_csv(folder / "a.csv", index=False)
    frame.to_excel(folder / "a.xlsx", index=False)
    pyreadstat.write_sav(frame, str(folder / "a.sav"))
    want = ["X" + hmac.new(KEY.encode(), i.encode(), hashlib.sha256).hexdigest()[:16] for i in ids]
    for name in ("a.csv", "a.xlsx", "a.sav"):
        assert pseudonymise(read_data(folder / name), columns="pupil_id", key=KEY)["pupil_id"].tolist() == want, name


# ----------------------------------------------------------------------------- header names

@FAST
@given(name=st.text(alphabet="aeEcoQ1_ \u0301\u00e9", min_size=1, max_size=8), pad=st.sampled_from(["", " ", "  ", "\t"]))
def test_header_spelling_matches_the_codebook(tmp_path_factory, name, pad):
    nfc = unicodedata.normalize("NFC", name).strip()
    assume(nfc and nfc != "pupil_id" and "\u0301" not in nfc[:1])
    raw_name = unicodedata.normalize("NFD", name) + pad
    p = tmp_path_factory.mktemp("hdr") / "f.csv"
    buf = io.StringIO(newline="")
    csv.writer(buf, lineterminator="\n").writerows([["pupil_id", raw_name], ["P1", "3"], ["P2", "4"]])
    p.write_text(buf.getvalue(), encoding="utf-8")
    raw = attempt(read_data, p)
    if raw is None:
        return
    cb = read_codebook(pd.DataFrame({"variable": ["pupil_id", "q"], "source_name": ["pupil_id", nfc],
                                     "type": ["id", "item"], "allowed": ["", "1-5"]}))
    r = apply_codebook(raw, cb)
    assert r.data["q"].tolist() == [3, 4]
    if raw_name != nfc:
        assert read_labelled(p).renamed_columns == {raw_name: nfc}


# ----------------------------------------------------------------------------- codebooks and validation

cell = st.one_of(st.just(""), st.text(alphabet="0123456789-;=.ab ", max_size=10))


@FAST
@given(allowed=cell, labels=cell, missing=cell, kind=st.sampled_from(["item", "integer", "categorical", "", "id"]))
def test_read_codebook_contract(allowed, labels, missing, kind):
    frame = pd.DataFrame({"variable": ["pupil_id", "q"], "source_name": ["ID", "Q"], "type": ["id", kind],
                          "allowed": ["", allowed], "value_labels": ["", labels], "missing_codes": ["", missing]})
    cb = attempt(read_codebook, frame, refuse={
        r"value_labels of 'q' must look like": any(part.strip() and "=" not in part for part in labels.split(";")),
        r"of variable 'q' is not a number": bool(allowed.strip() or missing.strip())})
    if cb is None:
        return
    assert cb["variable"].tolist() == ["pupil_id", "q"]
    v = attempt(validate, pd.DataFrame({"ID": ["P1", "P2"], "Q": [1, "a"]}), cb)
    assert v is None or set(v["severity"]) <= {"error", "note"}


raw_answer = st.one_of(st.none(), st.just(""), st.integers(-2, 9), st.sampled_from([4.5, 2.0, 1e9, "Yes", "no ", "9"]))


@FAST
@given(values=st.lists(raw_answer, min_size=1, max_size=12), ids=st.lists(st.sampled_from(["P1", "P2", "P3", "", None]),
                                                                             min_size=12, max_size=12),
       allowed=st.sampled_from(["1-5", "5-1", "0;1", ""]), kind=st.sampled_from(["item", "integer", "continuous"]))
def test_validate_finds_an_error_exactly_when_apply_codebook_refuses(values, ids, allowed, kind):
    n = len(values)
    raw = pd.DataFrame({"ID": ids[:n], "Q": values})
    cb = read_codebook(pd.DataFrame({"variable": ["pupil_id", "q"], "source_name": ["ID", "Q"], "type": ["id", kind],
                                     "allowed": ["", allowed], "value_labels": ["", "1=No;5=Yes"],
                                     "missing_codes": ["", "9"]}))
    v = validate(raw, cb)
    refused = False
    try:
        apply_codebook(raw, cb)
    except BelongingError:
        refused = True
    assert refused == bool((v["severity"] == "error").any()), v.to_string()


# ----------------------------------------------------------------------------- sample folders

@SLOWER
@given(ids=ids_unique)
def test_load_sample_reads_codebook_ids_as_text(tmp_path_factory, ids):
    from belonging_lib.datasets import load_sample

    folder = tmp_path_factory.mktemp("sample")
    pd.DataFrame({"pupil_id": ids, "q1": [1] * len(ids)}).to_csv(folder / "survey.csv", index=False)
    pd.DataFrame({"file": ["survey.csv"], "variable": ["pupil_id"], "type": ["id"]}).to_csv(folder / "codebook.csv",
                                                                                           index=False)
    assert load_sample("survey", data_dir=folder)["pupil_id"].tolist() == ids
