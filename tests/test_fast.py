"""The exact random-intercept path equals the general path (dense engine) and statsmodels MixedLM."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from belonging_lib.models import fit_random_intercept, multilevel, tau2
from belonging_lib.models import _lmm


def _data(seed, J=40, tau=0.5, unequal=True):
    rng = np.random.default_rng(seed)
    nj = rng.integers(1, 30, J) if unequal else np.full(J, 12)
    g = np.repeat(np.arange(J), nj)
    n = len(g)
    x = rng.normal(size=n)
    w = rng.normal(size=J)[g]                       # a school-level predictor
    y = 1 + 0.4 * x - 0.2 * w + rng.normal(0, tau, J)[g] + rng.normal(size=n)
    return y, np.column_stack([np.ones(n), x, w]), g


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fast_equals_general_path(seed, reml):
    y, X, g = _data(seed)
    fast = fit_random_intercept(y, X, g, reml=reml, satterthwaite=True)
    codes = pd.factorize(g, sort=True)[0]
    dense = _lmm.DenseLMM(y, X, np.ones((len(y), 1)), codes).fit(reml=reml, satterthwaite=True)
    np.testing.assert_allclose(fast.beta, dense.beta, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(np.sqrt(np.diag(fast.vcov)), np.sqrt(np.diag(dense.vcov)), rtol=1e-6, atol=0)
    np.testing.assert_allclose([fast.sigma2, tau2(fast)], [dense.sigma2, dense.sigma2 * dense.theta[0] ** 2],
                               rtol=1e-5, atol=1e-10)
    np.testing.assert_allclose(fast.loglik, dense.loglik, rtol=1e-10, atol=0)
    np.testing.assert_allclose(fast.df_satterthwaite, dense.df_satterthwaite, rtol=1e-3, atol=0)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_fast_equals_statsmodels_mixedlm():
    import statsmodels.api as sm
    y, X, g = _data(7, J=60)
    fast = fit_random_intercept(y, X, g, reml=True)
    res = sm.MixedLM(y, X, groups=g).fit(reml=True)
    np.testing.assert_allclose(fast.beta, res.fe_params, rtol=1e-5, atol=1e-8)   # MixedLM's own tolerance
    np.testing.assert_allclose(fast.loglik, res.llf, rtol=1e-8, atol=0)
    # MixedLM stops earlier (its log-likelihood is lower than ours), so its tau2 agrees to ~1e-4 only;
    # the agreement to 1e-6 is with lme4 (tests/test_multilevel.py)
    assert fast.loglik >= res.llf - 1e-9
    np.testing.assert_allclose(tau2(fast), float(np.asarray(res.cov_re)[0, 0]), rtol=1e-3, atol=0)


def test_multilevel_uses_fast_path():
    y, X, g = _data(4)
    d = pd.DataFrame({"y": y, "x": X[:, 1], "w": X[:, 2], "g": g})
    m = multilevel("y ~ x + w", d, groups="g")
    assert "sufficient statistics" in m.method
    fast = fit_random_intercept(y, X, g)
    np.testing.assert_allclose(m.fixed["estimate"], fast.beta, rtol=1e-8, atol=0)  # optimiser tolerance


def test_fast_path_known_truth():
    # large simulated sample: estimates near the generating values (truth: 1, 0.4, -0.2, tau2 0.25, sigma2 1)
    y, X, g = _data(11, J=400, unequal=False)
    fast = fit_random_intercept(y, X, g)
    se = np.sqrt(np.diag(fast.vcov))
    assert np.all(np.abs(fast.beta - [1, 0.4, -0.2]) < 4 * se)
    assert abs(fast.sigma2 - 1) < 0.05 and abs(tau2(fast) - 0.25) < 0.08


@pytest.mark.parametrize("reml", [True, False])
def test_batch_equals_single_fits(reml):
    from belonging_lib.models._fast import fit_random_intercept_batch
    y, X, g = _data(5)
    rng = np.random.default_rng(9)
    Y = np.column_stack([y] + [rng.permutation(y) for _ in range(5)]
                        + [X[:, 1] * 0.1 + rng.normal(size=len(y))])     # last: no school variance
    out = fit_random_intercept_batch(Y, X, g, reml=reml)
    for b in range(Y.shape[1]):
        one = fit_random_intercept(Y[:, b], X, g, reml=reml)
        np.testing.assert_allclose(out["beta"][b], one.beta, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(out["se"][b], np.sqrt(np.diag(one.vcov)), rtol=1e-6, atol=0)
        np.testing.assert_allclose(out["loglik"][b], one.loglik, rtol=1e-12, atol=0)
        np.testing.assert_allclose(out["tau2"][b], tau2(one), rtol=1e-5, atol=1e-10)
