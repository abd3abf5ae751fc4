"""The padlock rating, worked by hand at every band edge and for each downgrade rule.

The band edges below are a worked example's, not the EEF's: the library ships none (see
``security_rating``'s notes), so these tests check the procedure: each band at, just below and just
above its edge, the interim rating as the lowest of three, each threat's downgrade, the two ways of
combining downgrades, the floor at 0, and the errors for a malformed design file.
"""

import pytest

from belonging_lib._errors import DataError
from belonging_lib.trials import THREATS, security_rating
from belonging_lib.trials.security import LEVEL_NAMES, _check_bands

BANDS = {
    "source": "worked example (test edges)",
    "design": {"randomised": 5, "matched comparison": 2},
    "mdes": [0.2, 0.3, 0.4, 0.5, 0.6],
    "attrition": [0.1, 0.2, 0.3, 0.4, 0.5],
    "downgrade": {"moderate": 1, "high": 2},
}
LOW = {t: {"risk": "low", "direction": "unclear"} for t in THREATS}


def rate(mdes=0.1, attrition=0.05, threats=None, bands=BANDS, design="randomised"):
    return security_rating(
        mdes=mdes, attrition=attrition, bands=bands, design=design, threats=LOW if threats is None else threats
    )


# each band: at its edge (the higher rating), and a hair above (the next rating down), by hand
MDES_CASES = [
    (0.2, 5),
    (0.2001, 4),
    (0.3, 4),
    (0.3001, 3),
    (0.4, 3),
    (0.4001, 2),
    (0.5, 2),
    (0.5001, 1),
    (0.6, 1),
    (0.6001, 0),
    (2.0, 0),
    (0.05, 5),
]
ATTRITION_CASES = [
    (0.0, 5),
    (0.1, 5),
    (0.1001, 4),
    (0.2, 4),
    (0.2001, 3),
    (0.3, 3),
    (0.3001, 2),
    (0.4, 2),
    (0.4001, 1),
    (0.5, 1),
    (0.5001, 0),
    (1.0, 0),
]


@pytest.mark.parametrize("mdes, padlocks", MDES_CASES)
def test_mdes_band_edges(mdes, padlocks):
    r = rate(mdes=mdes)
    steps = r.to_frame().set_index("step")
    assert steps.loc["MDES at analysis", "padlocks"] == padlocks
    assert r.interim == padlocks == r.padlocks  # attrition 5% and design allow 5


@pytest.mark.parametrize("attrition, padlocks", ATTRITION_CASES)
def test_attrition_band_edges(attrition, padlocks):
    r = rate(attrition=attrition)
    assert r.to_frame().set_index("step").loc["pupil attrition", "padlocks"] == padlocks
    assert r.interim == padlocks


def test_interim_is_the_lowest_of_design_mdes_and_attrition():
    # MDES 0.35 -> 3, attrition 22% -> 3... make them differ: MDES 0.45 -> 2, attrition 0.15 -> 4
    r = rate(mdes=0.45, attrition=0.15)
    assert r.interim == 2
    r = rate(mdes=0.15, attrition=0.35)
    assert r.interim == 2
    # a design that allows at most 2 caps a trial whose MDES and attrition would give 5
    r = rate(design="matched comparison")
    assert r.interim == 2 and r.padlocks == 2
    assert "at most 2" in r.to_frame().set_index("step").loc["design", "rule"]


@pytest.mark.parametrize("threat", THREATS)
@pytest.mark.parametrize("risk, removed", [("low", 0), ("moderate", 1), ("high", 2)])
def test_each_threat_downgrades_by_its_risk(threat, risk, removed):
    threats = dict(LOW, **{threat: {"risk": risk, "direction": "overstates the effect"}})
    r = rate(threats=threats)
    steps = r.to_frame().set_index("step")
    assert steps.loc[f"threat: {threat}", "padlocks"] == -removed
    assert "overstates the effect" in steps.loc[f"threat: {threat}", "inputs"]
    assert r.interim == 5 and r.padlocks == 5 - removed
    assert r.words == LEVEL_NAMES[5 - removed]


def test_downgrades_add_up_or_the_largest_applies():
    threats = dict(
        LOW,
        **{
            "contamination": {"risk": "moderate", "direction": "understates the effect"},
            "missing data": {"risk": "high", "direction": "unclear"},
        },
    )
    assert rate(threats=threats).padlocks == 5 - 3  # sum: 1 + 2
    assert rate(threats=threats, bands=dict(BANDS, combine="max")).padlocks == 5 - 2


def test_the_rating_never_goes_below_zero():
    threats = {t: {"risk": "high", "direction": "unclear"} for t in THREATS}
    r = rate(mdes=0.55, threats=threats)  # interim 1, 14 removed
    assert r.interim == 1 and r.padlocks == 0 and r.words == "very low security"
    assert r.to_frame().iloc[-1]["step"] == "final rating"


def test_audit_trail_lists_every_step_with_inputs_and_rule():
    r = rate(mdes=0.297, attrition=0.107)
    t = r.to_frame()
    assert list(t.columns) == ["step", "inputs", "rule", "padlocks"]
    assert list(t["step"][:4]) == ["design", "MDES at analysis", "pupil attrition", "interim rating"]
    assert len(t) == 4 + len(THREATS) + 1
    mrow = t.set_index("step").loc["MDES at analysis"]
    assert mrow["inputs"] == "0.297" and mrow["rule"] == "MDES above 0.2 and at most 0.3: 4"
    arow = t.set_index("step").loc["pupil attrition"]
    assert arow["inputs"] == "10.7%" and arow["rule"] == "attrition above 0.1 and at most 0.2: 4"
    assert r.source == "worked example (test edges)"


@pytest.mark.parametrize(
    "change, message",
    [
        ({"source": ""}, "which document"),
        ({"mdes": [0.2, 0.3, 0.4]}, "5 upper edges"),
        ({"mdes": [0.3, 0.2, 0.4, 0.5, 0.6]}, "increasing"),
        ({"attrition": [10, 20, 30, 40, 50]}, "proportions"),
        ({"downgrade": {"moderate": 2, "high": 1}}, "lower risk"),
        ({"downgrade": {"moderate": 1}}, "`high`"),
        ({"design": {"randomised": 7}}, "0 to 5"),
        ({"combine": "mean"}, "'sum' or 'max'"),
    ],
)
def test_a_malformed_band_table_is_refused_with_its_reason(change, message):
    with pytest.raises(DataError, match=message):
        _check_bands(dict(BANDS, **change))


def test_threats_must_all_be_declared_with_a_known_risk():
    partial = {k: v for k, v in LOW.items() if k != "contamination"}
    with pytest.raises(DataError, match="'contamination' is not declared"):
        rate(threats=partial)
    with pytest.raises(DataError, match="risk"):
        rate(threats=dict(LOW, contamination={"risk": "medium"}))
    with pytest.raises(DataError, match="Unknown threat"):
        rate(threats=dict(LOW, weather={"risk": "low"}))
    with pytest.raises(DataError, match="proportion"):
        rate(attrition=12)
    with pytest.raises(DataError, match="no rating"):
        rate(design="quasi")
