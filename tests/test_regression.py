"""Tests for belonging_lib.models.regression against sandwich and clubSandwich (tests/reference/robust.R)."""

from __future__ import annotations

import hashlib
import json
import pathlib

import numpy as np
import pandas as pd
import pytest

from belonging_lib._errors import DataError, ModelError
from belonging_lib.models import logit, ols

REF = pathlib.Path(__file__).parent / "reference"
R = json.loads((REF / "robust.json").read_text())
_path = REF / "data" / "robust_clustered.csv"
assert hashlib.md5(_path.read_bytes()).hexdigest() == R["md5"]["robust_clustered.csv"], "fixture changed"
D = pd.read_csv(_path)


@pytest.mark.parametrize("vcov", ["classical", "HC0", "HC1", "HC2", "HC3", "CR1", "CR2"])
def test_ols_matches_sandwich_clubsandwich(vcov):
    ref = R["lm"]
    fit = ols("y ~ x + fsm + climate", D, cluster="school", vcov=vcov)
    assert list(fit.fixed.index) == ref["terms"]
    np.testing.assert_allclose(fit.fixed["estimate"], ref["estimate"], rtol=1e-10, atol=0)
    np.testing.assert_allclose(fit.fixed["se"], ref[vcov]["se"], rtol=1e-8, atol=0)
    np.testing.assert_allclose(fit.vcov.to_numpy(), np.array(ref[vcov]["vcov"]), rtol=1e-7, atol=1e-14)
    assert fit.n == R["n"] and fit.n_excluded == R["n_excluded"]
    if vcov == "CR2":
        np.testing.assert_allclose(fit.fixed["df"], ref["CR2"]["df"], rtol=1e-8, atol=0)
        np.testing.assert_allclose(fit.fixed["p_value"], ref["CR2"]["p"], rtol=1e-7, atol=0)
    if vcov == "CR1":
        assert (fit.fixed["df"] == D["school"].nunique() - 1).all()


@pytest.mark.parametrize("vcov", ["classical", "HC0", "CR1"])
def test_logit_matches_sandwich(vcov):
    ref = R["glm"]
    fit = logit("high ~ x + fsm + climate", D, cluster="school", vcov=vcov)
    np.testing.assert_allclose(fit.fixed["estimate"], ref["estimate"], rtol=1e-6, atol=0)
    # glm's IRLS and statsmodels' Newton stop at slightly different points: 1e-6 relative
    np.testing.assert_allclose(fit.fixed["se"], ref[vcov]["se"], rtol=1e-6, atol=0)
    assert fit.n_excluded == 2


def test_bad_input():
    with pytest.raises(DataError, match="needs a `cluster`"):
        ols("y ~ x", D, vcov="CR2")
    d = D.copy()
    d["x2"] = d["x"] * 3
    with pytest.raises(ModelError, match="x2"):
        ols("y ~ x + x2", d)
    with pytest.raises(DataError, match="0/1"):
        logit("y ~ x", D)
    d["y"] = d["y"].astype(str)
    d.loc[0, "y"] = "n/a"
    with pytest.raises(DataError, match="must be numeric"):
        ols("y ~ x", d)


def test_table_shape_matches_multilevel():
    fit = ols("y ~ x", D, cluster="school")
    for col in ["estimate", "se", "df", "p_value", "p", "ci_low", "ci_high"]:
        assert col in fit.fixed.columns
    assert "n" in fit.to_frame().columns
