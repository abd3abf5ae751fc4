"""bl.models.group_gaps(..., pairwise=True) against R: every pair's difference as a contrast of one fit.

Reference: tests/reference/group_pairwise.R -> group_pairwise.json (lmerTest::contest for the
multilevel model, clubSandwich::linear_contrast for CR2), on tests/reference/data/group_gaps.csv.
"""

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from belonging_lib.models import group_gaps

REF = Path(__file__).parent / "reference"
DATA = REF / "data" / "group_gaps.csv"
R = json.loads((REF / "group_pairwise.json").read_text())


@pytest.fixture(scope="module")
def data():
    return pd.read_csv(DATA, dtype={"school": str, "group": str}, keep_default_na=False, na_values=[""])


def test_fixture_is_the_one_r_read():
    assert hashlib.md5(DATA.read_bytes()).hexdigest() == R["md5"]


@pytest.mark.parametrize("case", ["unadjusted", "adjusted"])
@pytest.mark.parametrize("method", ["multilevel", "cr2"])
def test_pairwise_differences_match_r(data, case, method):
    ref = R[case][method]
    covs = R[case]["covariates"] or None
    res = group_gaps(
        data, outcome="y", by="group", cluster="school", reference="a", covariates=covs, method=method, pairwise=True
    )
    out = res.pairwise
    assert out["group"].tolist() == ref["group"] and out["reference"].tolist() == ref["reference"]
    assert out["term"].tolist() == [f"{g} - {r}" for g, r in zip(ref["group"], ref["reference"])]
    np.testing.assert_allclose(out["estimate"], ref["estimate"], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(out["se"], ref["se"], rtol=1e-5)
    np.testing.assert_allclose(out["df"], ref["df"], rtol=1e-4)
    np.testing.assert_allclose(out["p"], ref["p"], rtol=1e-4, atol=1e-12)
    np.testing.assert_allclose(out["ci_low"], ref["ci_low"], rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(out["ci_high"], ref["ci_high"], rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(out["p_holm"], ref["p_holm"], rtol=1e-4, atol=1e-12)
    np.testing.assert_allclose(out["statistic"], out["estimate"] / out["se"], rtol=1e-12)
    # the gaps against the reference are the first pairs, unchanged
    np.testing.assert_allclose(out["estimate"].iloc[:3], res.table["estimate"], rtol=1e-12)
    assert list(out.columns[:9]) == ["term", "estimate", "se", "ci_low", "ci_high", "statistic", "df", "p", "n"]


def test_pairs_follow_the_group_order_whatever_the_reference(data):
    res = group_gaps(data, outcome="y", by="group", cluster="school", reference="c", pairwise=True)
    ref = R["unadjusted"]["multilevel"]
    assert res.pairwise["term"].tolist() == [f"{g} - {r}" for g, r in zip(ref["group"], ref["reference"])]
    np.testing.assert_allclose(res.pairwise["estimate"], ref["estimate"], rtol=1e-6, atol=1e-9)


def test_multiplicity_note_counts_pairs_and_chance_hits(data):
    res = group_gaps(data, outcome="y", by="group", cluster="school", reference="a", pairwise=True)
    assert res.n_pairs == 6
    assert res.chance_hits == pytest.approx(0.3)
    ref = R["unadjusted"]["multilevel"]
    hits = sum(lo > 0 or hi < 0 for lo, hi in zip(ref["ci_low"], ref["ci_high"]))
    holm = sum(p < 0.05 for p in ref["p_holm"])
    note = res.multiplicity_note()
    assert note.startswith("6 pairs of groups: if no two groups differed, about 0.3 of the 6 95% intervals")
    assert f"{hits} do here ({holm} after Holm's adjustment)" in note
    assert note in res.notes()


def test_no_pairs_unless_asked(data):
    res = group_gaps(data, outcome="y", by="group", cluster="school", reference="a")
    assert res.pairwise is None
    assert "pairwise=True" in res.multiplicity_note()
    assert all("pairs of groups" not in line for line in res.notes())
