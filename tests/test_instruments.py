"""Tests of the instrument registry (belonging_lib.instruments)."""

from pathlib import Path

import pytest

from belonging_lib import DataError
from belonging_lib.instruments import Instrument, list_instruments, load_instrument

SAMPLE_SCALES = ["tr_care", "tr_fair", "tr_listen", "peer", "bully", "engage", "respect", "voice",
                 "parent_engage", "staff_belong", "staff_wellbeing", "leader_support"]


def test_bundled_instruments_are_listed():
    names = list_instruments()
    for name in ["pssm", "pisa_belong", "sdq_self_11_17", "swemwbs", *SAMPLE_SCALES]:
        assert name in names


@pytest.mark.parametrize("name", ["pssm", "pisa_belong", "sdq_self_11_17", "swemwbs"])
def test_published_instruments_carry_citation_and_licence(name):
    inst = load_instrument(name)
    assert isinstance(inst, Instrument)
    assert len(inst.citation) > 30
    assert "wording" in inst.licence


def test_pssm_key():
    pssm = load_instrument("pssm")
    assert pssm.item_ids == tuple(f"pssm_{i:02d}" for i in range(1, 19))
    assert pssm.reverse_items == ("pssm_03", "pssm_06", "pssm_09", "pssm_12", "pssm_16")
    assert pssm.response_range == (1, 5)
    assert "contact" in pssm.licence


def test_sdq_key():
    sdq = load_instrument("sdq")
    assert sdq.id == "sdq_self_11_17"
    assert sdq.subscales["emotional"] == ("sdq_03", "sdq_08", "sdq_13", "sdq_16", "sdq_24")
    assert sdq.subscales["conduct"] == ("sdq_05", "sdq_07", "sdq_12", "sdq_18", "sdq_22")
    assert sdq.subscales["hyperactivity"] == ("sdq_02", "sdq_10", "sdq_15", "sdq_21", "sdq_25")
    assert sdq.subscales["peer"] == ("sdq_06", "sdq_11", "sdq_14", "sdq_19", "sdq_23")
    assert sdq.subscales["prosocial"] == ("sdq_01", "sdq_04", "sdq_09", "sdq_17", "sdq_20")
    assert sdq.reverse_items == ("sdq_07", "sdq_11", "sdq_14", "sdq_21", "sdq_25")
    assert "[verify]" in sdq.bands_note
    assert "Youthinmind" in sdq.licence


def test_pisa_reverses_positive_items():
    assert load_instrument("pisa_belong").reverse_items == ("pisa_belong_2", "pisa_belong_3",
                                                            "pisa_belong_5")


def test_swemwbs_table_is_marked_for_verification():
    sw = load_instrument("swemwbs")
    rule = {r.id: r for r in sw.scores}["swemwbs_metric"]
    assert len(rule.table) == 29 and rule.table[0] == (7.0, 7.0) and rule.table[-1] == (35.0, 35.0)
    assert "[verify" in rule.note


@pytest.mark.parametrize("name", SAMPLE_SCALES)
def test_sample_scales(name):
    inst = load_instrument(name)
    assert inst.item_ids[0] == f"{name}_1"
    assert inst.response_range == (1, 5)


def test_user_file(tmp_path: Path):
    f = tmp_path / "mine.yaml"
    f.write_text("id: mine\nname: My scale\nresponse: {min: 0, max: 3}\n"
                 "items: [a, {id: b, reverse: yes}]\nscores: [{id: mine, method: sum}]\n")
    inst = load_instrument(f)
    assert inst.item_ids == ("a", "b") and inst.reverse_items == ("b",)
    assert load_instrument(str(f)).id == "mine"


def test_bad_definitions(tmp_path: Path):
    with pytest.raises(DataError, match="must be one of"):
        load_instrument("no_such_scale")
    f = tmp_path / "bad.yaml"
    f.write_text("id: bad\nresponse: {min: 1, max: 5}\nitems: [a]\nscores: [{id: s, method: median}]\n")
    with pytest.raises(DataError, match="method must be one of"):
        load_instrument(f)
    f.write_text("id: bad\nresponse: {min: 5, max: 1}\nitems: [a]\n")
    with pytest.raises(DataError, match="must be below"):
        load_instrument(f)
    f.write_text("id: bad\nresponse: {min: 1, max: 5}\nitems: [a, a]\n")
    with pytest.raises(DataError, match="more than once"):
        load_instrument(f)
    with pytest.raises(DataError, match="does not exist"):
        load_instrument(tmp_path / "nothing.yaml")
