"""Tests for belonging_lib.models.regression against sandwich and clubSandwich (tests/reference/robust.R)."""

from __future__ import annotations

import hashlib
import json
import pathlib

import numpy as np
import pandas as pd
import pytest

from belonging_lib._errors import DataError, ModelError
from belonging_lib.models import logit, multilevel, ols

REF = pathlib.Path(__file__).parent / "reference"
R = json.loads((REF / "robust.json").read_text())
_path = REF / "data" / "robust_clustered.csv"
assert hashlib.md5(_path.read_bytes()).hexdigest() == R["md5"]["robust_clustered.csv"], "fixture changed"
D = pd.read_csv(_path)


@pytest.mark.parametrize("vcov", ["classical", "HC0", "HC1", "HC2", "HC3", "CR1", "CR2"])
def test_ols_matches_sandwich_clubsandwich(vcov):
    ref = R["lm"]
    fit = ols(D, "y ~ x + fsm + climate", cluster="school", vcov=vcov)
    assert list(fit.fixed.index) == ref["terms"]
    np.testing.assert_allclose(fit.fixed["estimate"], ref["estimate"], rtol=1e-10, atol=0)
    np.testing.assert_allclose(fit.fixed["se"], ref[vcov]["se"], rtol=1e-8, atol=0)
    np.testing.assert_allclose(fit.vcov.to_numpy(), np.array(ref[vcov]["vcov"]), rtol=1e-7, atol=1e-14)
    assert fit.n == R["n"] and fit.n_excluded == R["n_excluded"]
    if vcov == "CR2":
        np.testing.assert_allclose(fit.fixed["df"], ref["CR2"]["df"], rtol=1e-8, atol=0)
        np.testing.assert_allclose(fit.fixed["p"], ref["CR2"]["p"], rtol=1e-7, atol=0)
    if vcov == "CR1":
        assert (fit.fixed["df"] == D["school"].nunique() - 1).all()


@pytest.mark.parametrize("vcov", ["classical", "HC0", "CR1"])
def test_logit_matches_sandwich(vcov):
    ref = R["glm"]
    fit = logit(D, "high ~ x + fsm + climate", cluster="school", vcov=vcov)
    np.testing.assert_allclose(fit.fixed["estimate"], ref["estimate"], rtol=1e-6, atol=0)
    # glm's IRLS and statsmodels' Newton stop at slightly different points: 1e-6 relative
    np.testing.assert_allclose(fit.fixed["se"], ref[vcov]["se"], rtol=1e-6, atol=0)
    assert fit.n_excluded == 2


def test_bad_input():
    with pytest.raises(DataError, match="needs a `cluster`"):
        ols(D, "y ~ x", vcov="CR2")
    d = D.copy()
    d["x2"] = d["x"] * 3
    with pytest.raises(ModelError, match="x2"):
        ols(d, "y ~ x + x2")
    with pytest.raises(DataError, match="0/1"):
        logit(D, "y ~ x")
    d["y"] = d["y"].astype(str)
    d.loc[0, "y"] = "n/a"
    with pytest.raises(DataError, match="must be numeric"):
        ols(d, "y ~ x")


def test_table_shape_matches_multilevel():
    fit = ols(D, "y ~ x", cluster="school")
    assert list(fit.fixed.columns) == ["estimate", "se", "ci_low", "ci_high", "statistic", "df", "p"]
    assert list(fit.to_frame().columns) == ["term", "estimate", "se", "ci_low", "ci_high", "statistic", "df", "p", "n"]
    m = multilevel(D, "y ~ x", cluster="school")
    assert list(m.fixed.columns) == list(fit.fixed.columns) and list(m.fixed.index) == list(fit.fixed.index)
