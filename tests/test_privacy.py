"""Tests of belonging_lib.privacy: keyed pseudonyms and the identifier scan."""

from __future__ import annotations

import hashlib
import hmac

import numpy as np
import pandas as pd
import pytest

from belonging_lib import DataError, DisclosureError
from belonging_lib.privacy import KEY_ENV, check_no_identifiers, find_identifiers, pseudonymise

KEY = "a-long-secret-key-for-tests"


def test_pseudonym_is_hmac_sha256_of_the_value():
    d = pd.DataFrame({"pupil_id": ["P0001", "P0002", None, "P0001"], "y": [1, 2, 3, 4]})
    out = pseudonymise(d, columns="pupil_id", key=KEY)
    want = "X" + hmac.new(KEY.encode(), b"P0001", hashlib.sha256).hexdigest()[:16]
    assert out["pupil_id"][0] == want and out["pupil_id"][3] == want   # same id, same pseudonym
    assert out["pupil_id"][1] != want and pd.isna(out["pupil_id"][2])
    assert out["pupil_id"][0] != "X" + hashlib.sha256(b"P0001").hexdigest()[:16]  # not a bare hash
    assert d["pupil_id"][0] == "P0001"   # input untouched
    other = pseudonymise(d, columns="pupil_id", key=KEY + "!")
    assert other["pupil_id"][0] != want   # a different key gives unlinkable pseudonyms


def test_numeric_ids_and_length():
    d = pd.DataFrame({"upn": [1001.0, 1002.0]})
    a = pseudonymise(d, columns="upn", key=KEY, length=64, prefix="")
    assert a["upn"][0] == hmac.new(KEY.encode(), b"1001", hashlib.sha256).hexdigest()
    with pytest.raises(DataError, match="from 8 to 64"):
        pseudonymise(d, columns="upn", key=KEY, length=4)


def test_key_rules(monkeypatch):
    d = pd.DataFrame({"pupil_id": ["P1"]})
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(DataError, match="needs a secret key"):
        pseudonymise(d, columns="pupil_id")
    with pytest.raises(DataError, match="too short"):
        pseudonymise(d, columns="pupil_id", key="short")
    monkeypatch.setenv(KEY_ENV, KEY)
    assert pseudonymise(d, columns="pupil_id")["pupil_id"][0] == pseudonymise(d, columns="pupil_id", key=KEY)["pupil_id"][0]


@pytest.mark.parametrize("text,kind", [
    ("A123456789012", "UPN"), ("lives at M1 1AE", "postcode"), ("EH12 9QQ", "postcode"),
    ("j.smith@school.sch.uk", "email"), ("born 14/07/2011", "date of birth"), ("dob 2010-09-01", "date of birth"),
])
def test_find_identifiers_detects(text, kind):
    assert kind in [k for k, _ in find_identifiers(text)]


@pytest.mark.parametrize("text", [
    "P0001 S01-C1 R00001 T0001", "survey started 02/03/2026 20:27", "mean 3.45 (SD 0.67), n = 123",
    "ST034Q01TA W_FSTURWT80 PV10MATH", "p < .001, 95% CI [0.12, 0.30]", "A12345678901",
])
def test_find_identifiers_ignores_synthetic_ids_and_numbers(text):
    assert find_identifiers(text) == []


def test_check_no_identifiers_and_bad_input():
    with pytest.raises(DisclosureError, match="email"):
        check_no_identifiers(pd.DataFrame({"contact": ["a@b.org"]}))
    with pytest.raises(DataError):
        find_identifiers(123)
    check_no_identifiers(pd.DataFrame({"x": np.arange(3)}))


@pytest.mark.parametrize("name,is_id", [
    ("pupil_id", True), ("Pupil ID", True), ("UPN ", True), ("ResponseId", True), ("PupilID", True),
    ("Pupil Ref", True), ("CNTSTUID", True), ("ID number", True), ("paid", False), ("Q1_1", False),
    ("Idea", False), ("school", False),
])
def test_looks_like_id_column(name, is_id):
    from belonging_lib.privacy import looks_like_id_column

    assert looks_like_id_column(name) is is_id


def test_pseudonymise_multiindex_level_holding_ids_and_text_ids():
    d = pd.DataFrame({"pupil_id": ["007", "7"], "wave": [1, 1], "y": [1, 2]}).set_index(["pupil_id", "wave"],
                                                                                          drop=False)
    out = pseudonymise(d, columns="pupil_id", key=KEY)
    assert "007" not in out.to_csv() and out.index.get_level_values("wave").tolist() == [1, 1]
    assert out["pupil_id"].iloc[0] != out["pupil_id"].iloc[1]    # "007" and "7" are different texts
    assert out.index.get_level_values("pupil_id").tolist() == out["pupil_id"].tolist()
    with pytest.raises(Exception, match="'nope'"):
        pseudonymise(d, columns="nope", key=KEY)
