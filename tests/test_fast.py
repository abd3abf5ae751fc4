"""The random-intercept path of the mixed-model engine against a dense brute-force likelihood and statsmodels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from belonging_lib.models import _lmm, fit_random_intercept, multilevel


def _data(seed, J=40, tau=0.5, unequal=True):
    rng = np.random.default_rng(seed)
    nj = rng.integers(1, 30, J) if unequal else np.full(J, 12)
    g = np.repeat(np.arange(J), nj)
    n = len(g)
    x = rng.normal(size=n)
    w = rng.normal(size=J)[g]                       # a school-level predictor
    y = 1 + 0.4 * x - 0.2 * w + rng.normal(0, tau, J)[g] + rng.normal(size=n)
    return y, np.column_stack([np.ones(n), x, w]), g


def _dense_loglik(y, X, g, tau2_, sigma2, reml):
    """(RE)ML log-likelihood from the dense N x N covariance: an independent brute-force check."""
    same = (g[:, None] == g[None, :]).astype(float)
    V = sigma2 * np.eye(len(y)) + tau2_ * same
    Vi = np.linalg.inv(V)
    A = X.T @ Vi @ X
    beta = np.linalg.solve(A, X.T @ Vi @ y)
    r = y - X @ beta
    ll = -0.5 * (np.linalg.slogdet(V)[1] + r @ Vi @ r + len(y) * np.log(2 * np.pi))
    if reml:
        ll += -0.5 * np.linalg.slogdet(A)[1] + 0.5 * X.shape[1] * np.log(2 * np.pi)
    return ll, beta, np.linalg.inv(A)


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_engine_solves_dense_likelihood(seed, reml):
    # the sufficient-statistics engine's optimum is the optimum of the brute-force dense likelihood:
    # same log-likelihood, fixed effects and SEs there, and the dense scores in (tau2, sigma2) vanish
    y, X, g = _data(seed)
    fit = fit_random_intercept(y, X, cluster=g, reml=reml, satterthwaite=True)
    t2, s2 = fit.tau00, fit.sigma2
    ll, beta, ainv = _dense_loglik(y, X, g, t2, s2, reml)
    np.testing.assert_allclose(fit.loglik, ll, rtol=1e-12, atol=0)
    np.testing.assert_allclose(fit.coefficients, beta, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fit.vcov, ainv, rtol=1e-9, atol=1e-14)
    for k, v in ((0, t2), (1, s2)):
        h = 1e-5 * v
        up = [t2, s2]; up[k] += h
        dn = [t2, s2]; dn[k] -= h
        score = (_dense_loglik(y, X, g, *up, reml)[0] - _dense_loglik(y, X, g, *dn, reml)[0]) / (2 * h)
        assert abs(score * v) < 1e-6, (k, score)
    assert fit.converged and np.all(np.isfinite(fit.df))
    engine = _lmm.fit_random_intercept(y, X, g, int(g.max()) + 1, reml=reml)    # the engine's own report
    assert engine.converged and engine.gradient < 1e-10
    frame = fit.to_frame()                       # the public result's table: t on the Satterthwaite df
    assert list(frame["term"]) == ["(Intercept)", "x1", "x2"]
    np.testing.assert_allclose(frame["df"], fit.df, rtol=0, atol=0)
    np.testing.assert_allclose(frame["se"], np.sqrt(np.diag(ainv)), rtol=1e-9, atol=0)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_fast_equals_statsmodels_mixedlm():
    import statsmodels.api as sm
    y, X, g = _data(7, J=60)
    fast = fit_random_intercept(y, X, cluster=g, reml=True)
    res = sm.MixedLM(y, X, groups=g).fit(reml=True)
    np.testing.assert_allclose(fast.coefficients, res.fe_params, rtol=1e-5, atol=1e-8)   # MixedLM's own tolerance
    np.testing.assert_allclose(fast.loglik, res.llf, rtol=1e-8, atol=0)
    # MixedLM stops earlier (its log-likelihood is lower than ours), so its tau2 agrees to ~1e-4 only;
    # the agreement to 1e-6 is with lme4 (tests/test_multilevel.py)
    assert fast.loglik >= res.llf - 1e-9
    np.testing.assert_allclose(fast.tau00, float(np.asarray(res.cov_re)[0, 0]), rtol=1e-3, atol=0)


def test_multilevel_uses_fast_path():
    y, X, g = _data(4)
    d = pd.DataFrame({"y": y, "x": X[:, 1], "w": X[:, 2], "g": g})
    m = multilevel(d, "y ~ x + w", cluster="g")
    assert "sufficient statistics" in m.method
    fast = fit_random_intercept(y, X, cluster=g)
    np.testing.assert_allclose(m.fixed["estimate"], fast.coefficients, rtol=1e-8, atol=0)  # optimiser tolerance


def test_fast_path_known_truth():
    # large simulated sample: estimates near the generating values (truth: 1, 0.4, -0.2, tau2 0.25, sigma2 1)
    y, X, g = _data(11, J=400, unequal=False)
    fast = fit_random_intercept(y, X, cluster=g)
    se = np.sqrt(np.diag(fast.vcov))
    assert np.all(np.abs(fast.coefficients - [1, 0.4, -0.2]) < 4 * se)
    assert abs(fast.sigma2 - 1) < 0.05 and abs(fast.tau00 - 0.25) < 0.08


@pytest.mark.parametrize("reml", [True, False])
def test_batch_equals_single_fits(reml):
    from belonging_lib.models._fast import fit_random_intercept_batch
    y, X, g = _data(5)
    rng = np.random.default_rng(9)
    Y = np.column_stack([y] + [rng.permutation(y) for _ in range(5)]
                        + [X[:, 1] * 0.1 + rng.normal(size=len(y))])     # last: no school variance
    out = fit_random_intercept_batch(Y, X, cluster=g, reml=reml)
    for b in range(Y.shape[1]):
        one = fit_random_intercept(Y[:, b], X, cluster=g, reml=reml)
        np.testing.assert_allclose(out.coefficients[b], one.coefficients, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(out.se[b], np.sqrt(np.diag(one.vcov)), rtol=1e-6, atol=0)
        np.testing.assert_allclose(out.loglik[b], one.loglik, rtol=1e-12, atol=0)
        np.testing.assert_allclose(out.tau00[b], one.tau00, rtol=1e-5, atol=1e-10)


@pytest.mark.parametrize("q, blocks", [(1, None), (2, None), (3, None), (3, [0, 1, 1]), (2, [0, 1])])
@pytest.mark.parametrize("reml", [True, False])
def test_analytic_second_derivatives_equal_differences_of_the_scores(q, blocks, reml):
    """The Newton steps and the Satterthwaite Hessian use the analytic Jacobian of the score pieces;
    it equals Richardson-extrapolated central differences of the analytic scores (the method it
    replaced) at an interior theta, with correlated, uncorrelated and single random effects."""
    rng = np.random.default_rng(q * 10 + (blocks is not None))
    n, J = 700, 45
    codes = rng.integers(0, J, n)
    X = np.c_[np.ones(n), rng.normal(size=(n, 2))]
    Z = np.c_[np.ones(n), rng.normal(size=(n, q - 1))]
    y = X @ [1.0, 0.5, -0.3] + 0.7 * np.sum(rng.normal(size=(J, q))[codes] * Z, axis=1) + rng.normal(size=n)
    model = _lmm.TwoLevel.from_data(y, X, Z, codes, J)
    if blocks is not None:
        model.restrict_to_blocks(blocks)
    assert model.analytic_second_derivatives
    theta = np.array([0.7 if i == j else 0.2 for i, j in zip(*model.tril)])
    pt = _lmm._Point(model, theta, reml, derivs=True)
    analytic = _lmm._pieces_jacobian(model, pt, reml)
    model.analytic_second_derivatives = False
    numeric = _lmm._pieces_jacobian(model, pt, reml, levels=3, rel=1e-3)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-7, atol=1e-7 * np.max(np.abs(numeric)))
    # the weighted and nested structures keep the differences
    nested = _lmm.Nested.from_data(y, X, codes, codes * 3 + rng.integers(0, 3, n))
    assert not getattr(nested, "analytic_second_derivatives", False)


def test_integer_cluster_labels_get_the_codes_of_factorize():
    from belonging_lib.models.multilevel import _codes
    rng = np.random.default_rng(4)
    cases = [rng.integers(0, 500, 3000), rng.integers(-40, 40, 300).astype(np.int8), rng.integers(7, 12, 50).astype(np.uint16),
             np.array([3]), rng.integers(10**15, 10**15 + 50, 200), np.array([np.iinfo(np.int64).min, 0, np.iinfo(np.int64).max]),
             np.array([5, 2**63 + 1, 5], dtype=np.uint64), pd.Series(rng.integers(0, 9, 40)), [4, 1, 4, 9],
             np.array(["b", "a", "b"]), pd.Series([2.0, np.nan, 1.0])]
    for labels in cases:
        codes, n = _codes(labels)
        want, uniq = pd.factorize(pd.Series(labels), sort=True)
        np.testing.assert_array_equal(codes, want)
        assert n == len(uniq) and codes.dtype == np.int64


@pytest.mark.parametrize("which", ["intercept_slope", "slope_intercept", "new_column", "repeated", "two_slopes"])
def test_shared_cluster_sums_equal_each_product_summed_on_its_own(which):
    """A column of Z that is a column of [X y] (or a column of ones) shares its per-cluster sums; the
    sums are bit for bit those of every product formed and summed separately."""
    rng = np.random.default_rng(6)
    n, J = 3000, 150
    codes = rng.integers(0, J, n)
    x1, x2, y = rng.normal(size=n), rng.integers(0, 2, n).astype(float), rng.normal(size=n)
    X = np.c_[np.ones(n), x1, x2]
    Z = {"intercept_slope": np.c_[np.ones(n), x1], "slope_intercept": np.c_[x1, np.ones(n)],
         "new_column": np.c_[np.ones(n), x1 ** 2], "repeated": np.c_[np.ones(n), x1, x1],
         "two_slopes": np.c_[np.ones(n), x1, x2]}[which]
    ztz, ztw, _ = _lmm.cluster_cross_products(y, X, Z, codes, J)
    cols = [X[:, k].copy() for k in range(3)] + [y]
    for a in range(Z.shape[1]):
        za = Z[:, a].copy()
        for b in range(Z.shape[1]):
            np.testing.assert_array_equal(ztz[:, a, b], np.bincount(codes, weights=za * Z[:, b].copy(), minlength=J))
        for k in range(4):
            np.testing.assert_array_equal(ztw[:, a, k], np.bincount(codes, weights=za * cols[k], minlength=J))


@pytest.mark.parametrize("reml", [True, False])
def test_the_grid_in_one_batch_equals_the_grid_point_by_point(reml):
    for seed in (1, 2):
        y, X, g = _data(seed)
        model = _lmm.TwoLevel.from_data(y, X, np.ones((len(y), 1)), g, int(g.max()) + 1)
        starts = model.start_points()
        assert _lmm._grid_values(model, starts, reml) == [_lmm._profiled(model, t, reml) for t in starts]


@pytest.mark.parametrize("tau", [0.0, 0.5])
def test_skipping_the_newton_run_from_zero_changes_nothing(monkeypatch, tau):
    """Newton from theta = 0 stays at 0 for a random intercept, so it is run only when the criterion
    at 0 could win; the fit equals the fit that runs it always (with no cluster variance, 0 wins)."""
    y, X, g = _data(7, tau=tau)
    if tau == 0.0:
        y = X @ [1.0, 0.4, -0.2] + np.random.default_rng(3).normal(size=len(y))
    model = _lmm.TwoLevel.from_data(y, X, np.ones((len(y), 1)), g, int(g.max()) + 1)
    fast = _lmm.fit(model, reml=True)
    monkeypatch.setattr(_lmm, "_boundary_stays", lambda model, theta: False)
    always = _lmm.fit(model, reml=True)
    np.testing.assert_array_equal(fast.theta, always.theta)
    np.testing.assert_array_equal(fast.beta, always.beta)
    np.testing.assert_array_equal(fast.df_satterthwaite, always.df_satterthwaite)
    assert fast.boundary == always.boundary


@pytest.mark.parametrize("n_groups", [3, 256, 257, 4000, 65536, 70000])
def test_the_stable_order_of_small_codes_is_numpy_s_stable_argsort(n_groups):
    codes = np.random.default_rng(n_groups).integers(0, n_groups, 20000)
    np.testing.assert_array_equal(_lmm.stable_order(codes, n_groups), np.argsort(codes, kind="stable"))
