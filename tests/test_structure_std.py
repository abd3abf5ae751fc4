"""Standardised CFA solution with delta-method SEs, against lavaan::standardizedSolution()
(tests/reference/structure_std.R)."""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from belonging_lib import ModelError
from belonging_lib.structure import cfa

REF_DIR = Path(__file__).parent / "reference"
REF = json.loads((REF_DIR / "structure_std.json").read_text(encoding="utf-8"))
DATA = {"hs": REF_DIR / "data" / "hs9.csv", "sim": REF_DIR / "data" / "structure_two_groups.csv"}
CASES = {"hs_single": ("hs", {}), "sim_single": ("sim", {}), "sim_single_fiml": ("sim", {"missing": "ml"}),
         "sim_metric": ("sim", {"group": "grp", "equal": ["loadings"]})}


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def fits():
    out = {}
    for name, (data, kw) in CASES.items():
        assert _md5(DATA[data]) == REF["inputs"][DATA[data].name], f"{DATA[data].name} changed: rerun structure_std.R"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out[name] = cfa(pd.read_csv(DATA[data]), REF["models"][data], **kw)
    return out


def _key(lhs, op, rhs, group=None):
    # lavaan writes a covariance once, in either order
    a, b = sorted((lhs, rhs)) if op == "~~" else (lhs, rhs)
    return (a, op, b) if group is None else (str(group), a, op, b)


@pytest.mark.parametrize("case", list(CASES))
def test_standardized_matches_lavaan(fits, case):
    ref = pd.DataFrame(REF[case])
    ours = fits[case].standardized()
    assert len(ours) == len(ref)
    ops = np.where(ours["kind"] == "loading", "=~", "~~")
    grp = ours["group"] if "group" in ours else [None] * len(ours)
    mine = {_key(l, o, r, g): row for l, o, r, g, (_, row) in zip(ours["lhs"], ops, ours["rhs"], grp, ours.iterrows())}
    for _, r in ref.iterrows():
        row = mine[_key(r["lhs"], r["op"], r["rhs"], r.get("group"))]
        assert row["estimate"] == pytest.approx(r["est_std"], abs=2e-6)
        assert row["se"] == pytest.approx(r["se"], abs=1e-6, rel=1e-4)
        assert row["ci_low"] == pytest.approx(r["ci_lower"], abs=3e-6)
        assert row["ci_high"] == pytest.approx(r["ci_upper"], abs=3e-6)


def test_factor_correlations_and_loadings_agree_with_result(fits):
    res = fits["hs_single"]
    std = res.standardized()
    cov = std[std["kind"] == "factor covariance"]
    for _, r in cov.iterrows():
        assert r["estimate"] == pytest.approx(res.factor_correlations.loc[r["lhs"], r["rhs"]], abs=1e-12)
        assert r["ci_low"] < r["estimate"] < r["ci_high"]
    load = std[std["kind"] == "loading"].set_index("rhs")["estimate"]
    assert np.allclose(load[res.loadings["item"]].to_numpy(), res.loadings["std_estimate"].to_numpy(), atol=1e-12)
    # a standardised factor variance is 1 by construction: no sampling error
    var = std[std["kind"] == "factor variance"]
    assert np.allclose(var["estimate"], 1) and np.allclose(var["se"], 0, atol=1e-7)


def test_level_widens_limits_and_is_checked(fits):
    res = fits["hs_single"]
    s95, s99 = res.standardized(), res.standardized(ci_level=0.99)
    assert (s99["ci_high"] - s99["ci_low"] > s95["ci_high"] - s95["ci_low"] - 1e-12).all()
    assert (s99["ci_level"] == 0.99).all()
    with pytest.raises(ModelError, match="level"):
        res.standardized(ci_level=95)
