"""belonging_lib.models.risk_ratio against R (tests/reference/ratios.R): Katz's hand formula and a
Poisson glm with sandwich::vcovCL(type = "HC1") cluster-robust errors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from belonging_lib import ColumnError, DataError, ModelError
from belonging_lib.models import risk_ratio

REF_DIR = Path(__file__).parent / "reference"
REF = json.loads((REF_DIR / "ratios.json").read_text(encoding="utf-8"))
DATA = REF_DIR / "data" / "robust_clustered.csv"


@pytest.fixture(scope="module")
def data():
    assert hashlib.md5(DATA.read_bytes()).hexdigest() == REF["inputs"]["robust_clustered.csv"], \
        "robust_clustered.csv changed: rerun tests/reference/ratios.R"
    return pd.read_csv(DATA)


@pytest.mark.parametrize("case", ["fsm0_vs_fsm1", "fsm1_vs_fsm0"])
@pytest.mark.parametrize("method", ["katz", "cluster"])
def test_matches_r(data, case, method):
    ref = REF[case]
    got = risk_ratio(data, outcome="high", by="fsm", levels=(ref["numerator"], ref["denominator"]),
                     cluster="school" if method == "cluster" else None)
    for k in ("count_numerator", "n_numerator", "count_denominator", "n_denominator"):
        assert getattr(got, k) == ref[k]
    assert got.estimate == pytest.approx(ref["estimate"], rel=1e-12)
    assert got.estimate == pytest.approx(ref["glm_estimate"], rel=1e-7)
    r = ref[method]
    assert got.se == pytest.approx(r["se"], rel=1e-7)
    assert got.ci_low == pytest.approx(r["ci_low"], rel=1e-7)
    assert got.ci_high == pytest.approx(r["ci_high"], rel=1e-7)
    assert got.p == pytest.approx(r["p"], rel=1e-6)
    assert got.method == ("katz" if method == "katz" else "cluster CR1")
    if method == "katz":
        # Katz's variance is the Poisson model's HC0 sandwich with every pupil their own cluster
        assert got.se == pytest.approx(r["glm_hc0_se"], rel=1e-7)
    else:
        assert got.n_clusters == ref["n_clusters"]
        assert got.se == pytest.approx(r["clubsandwich_cr1s_se"], rel=5e-4)


def test_reversed_groups_invert_the_ratio(data):
    a = risk_ratio(data, outcome="high", by="fsm", levels=(0, 1), cluster="school")
    b = risk_ratio(data, outcome="high", by="fsm", levels=(1, 0), cluster="school")
    assert a.estimate * b.estimate == pytest.approx(1)
    assert a.ci_low * b.ci_high == pytest.approx(1)
    assert a.se == pytest.approx(b.se)


def test_missing_rows_are_excluded_and_counted(data):
    d = data.copy().astype({"high": float, "school": object})
    d.loc[[0, 5], "high"] = np.nan
    d.loc[[9], "school"] = None
    full = risk_ratio(d, outcome="high", by="fsm", levels=(0, 1))
    clus = risk_ratio(d, outcome="high", by="fsm", levels=(0, 1), cluster="school")
    assert (full.n, full.n_excluded) == (len(d) - 2, 2)
    assert (clus.n, clus.n_excluded) == (len(d) - 3, 3)


def test_bad_input_errors(data):
    with pytest.raises(ColumnError, match="nope"):
        risk_ratio(data, outcome="nope", by="fsm", levels=(0, 1))
    with pytest.raises(DataError, match="does not occur"):
        risk_ratio(data, outcome="high", by="fsm", levels=(0, 7))
    with pytest.raises(DataError, match="two different values"):
        risk_ratio(data, outcome="high", by="fsm", levels=(0, 0))
    bad = data.assign(high=data["high"].astype(object))
    bad.loc[3, "high"] = "yes"
    with pytest.raises(DataError, match=r"row 4 .*'yes'"):
        risk_ratio(bad, outcome="high", by="fsm", levels=(0, 1))
    none = data.assign(high=np.where(data["fsm"] == 1, 0, data["high"]))
    with pytest.raises(ModelError, match="undefined"):
        risk_ratio(none, outcome="high", by="fsm", levels=(0, 1))
    one_school = data.assign(school="S01")
    with pytest.raises(ModelError, match="two clusters"):
        risk_ratio(one_school, outcome="high", by="fsm", levels=(0, 1), cluster="school")
