"""Dominance analysis against R's all-subsets lm() and the known weights of orthogonal predictors."""

import hashlib
import importlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from belonging_lib import ColumnError, DataError, ModelError
from belonging_lib.models.importance import dominance, dominance_from_matrix, subset_r2

# the module, for its private bootstrap helper
imp = importlib.import_module("belonging_lib.models.importance")

REF_DIR = Path(__file__).parent / "reference"
REF = json.loads((REF_DIR / "claims.json").read_text())


def _read(name):
    path = REF_DIR / "data" / name
    assert hashlib.md5(path.read_bytes()).hexdigest() == REF["inputs"][name], f"{name} changed: rerun claims.R"
    return pd.read_csv(path)


@pytest.mark.parametrize("case, file, outcome", [
    ("dominance_fixture", "claims_fixture.csv", "mediator"),
    ("dominance_swiss", "swiss.csv", "Fertility"),
    ("dominance_mtcars", "mtcars.csv", "mpg"),
])
def test_matches_r_all_subsets_lm(case, file, outcome):
    ref = REF["results"][case]
    d = _read(file)
    preds = ref["predictors"]
    res = dominance(d, outcome=outcome, predictors=preds)
    # subset order: bit i of the subset number <-> predictors[i], in both implementations
    np.testing.assert_allclose(res.subsets["r2"], ref["subset_r2"], rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(res.table["estimate"], ref["general"], rtol=1e-9, atol=0)
    np.testing.assert_allclose(res.r2, ref["r2"], rtol=1e-10, atol=0)
    np.testing.assert_allclose(res.table["estimate"].sum(), res.r2, rtol=1e-12, atol=0)
    np.testing.assert_allclose(res.table["share"].sum(), 1.0, rtol=1e-12, atol=0)
    # general weights are the averages of the conditional ones
    np.testing.assert_allclose(res.conditional.mean(axis=1), res.table["estimate"], rtol=1e-12, atol=0)


# relaimpo::calc.relimp(..., type = "lmg") output (LMG = general dominance weights), as printed to
# 13 digits; relaimpo itself is not installed here.  Source: the values recorded from relaimpo 2.2-7
# in another project's test suite; they also agree with our R all-subsets script to 1e-13.
RELAIMPO_LMG = {
    "swiss": ("swiss.csv", "Fertility", ["Agriculture", "Examination", "Education", "Catholic", "Infant.Mortality"],
              [0.0570912207681, 0.1711730289002, 0.2601346786244, 0.1055701503735, 0.1127659229265],
              0.706735001593),
    "mtcars": ("mtcars.csv", "mpg", ["cyl", "disp", "hp", "gear"],
               [0.2470520332352, 0.2434995947956, 0.2109128995443, 0.0777251114079], 0.779189638983),
}


@pytest.mark.parametrize("name", sorted(RELAIMPO_LMG))
def test_matches_relaimpo_lmg(name):
    file, outcome, preds, lmg, r2 = RELAIMPO_LMG[name]
    res = dominance(_read(file), outcome=outcome, predictors=preds)
    # the published values carry 13 decimals: agreement to rounding
    np.testing.assert_allclose(res.table["estimate"], lmg, rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.r2, r2, rtol=0, atol=1e-12)


def test_orthogonal_predictors_have_known_weights():
    # With exactly uncorrelated predictors every increment is r_yi^2, so general = conditional = r_yi^2
    rng = np.random.default_rng(11)
    X = rng.normal(size=(400, 3))
    X -= X.mean(axis=0)
    q, _ = np.linalg.qr(X)          # orthonormal columns, mean zero
    d = pd.DataFrame(q * 20, columns=["care", "fair", "peer"])
    d["belong"] = 0.6 * d.care + 0.3 * d.fair + 0.1 * d.peer + rng.normal(size=400)
    r = d.corr()["belong"][["care", "fair", "peer"]].to_numpy()
    res = dominance(d, outcome="belong", predictors=["care", "fair", "peer"])
    np.testing.assert_allclose(res.table["estimate"], r ** 2, rtol=1e-10, atol=0)
    np.testing.assert_allclose(res.conditional.to_numpy(), np.repeat(r[:, None] ** 2, 3, axis=1),
                               rtol=1e-9, atol=1e-15)
    assert res.complete.loc["care", "fair"] == 1 and res.complete.loc["fair", "care"] == 0
    assert res.table["rank"].tolist() == [1, 2, 3]


def test_subset_r2_by_hand():
    # two uncorrelated predictors with r = .3 and .4: R^2 = .09, .16 and .25
    r = np.array([[1.0, 0.0, 0.3], [0.0, 1.0, 0.4], [0.3, 0.4, 1.0]])
    np.testing.assert_allclose(subset_r2(r), [0, 0.09, 0.16, 0.25], rtol=1e-12, atol=1e-15)
    # correlated pair: R^2 = (r1^2 + r2^2 - 2 r1 r2 r12) / (1 - r12^2)
    r = np.array([[1.0, 0.5, 0.3], [0.5, 1.0, 0.4], [0.3, 0.4, 1.0]])
    want = (0.09 + 0.16 - 2 * 0.3 * 0.4 * 0.5) / (1 - 0.25)
    np.testing.assert_allclose(subset_r2(r)[3], want, rtol=1e-12, atol=0)


@pytest.mark.parametrize("cluster", [None, "school"])
def test_bootstrap_replicates_equal_refits(cluster):
    d = _read("claims_fixture.csv")
    preds = ["teacher", "peer", "fair"]
    Z = d[preds + ["mediator"]].to_numpy(dtype=float)
    units = None if cluster is None else d[cluster].to_numpy()
    draws = imp._boot_general(Z, units, 2, np.random.default_rng(4), 3, False)
    rng = np.random.default_rng(4)
    if cluster is None:
        row_counts = rng.multinomial(len(d), np.full(len(d), 1 / len(d)), size=2)
    else:
        codes, _ = pd.factorize(d[cluster])
        g = codes.max() + 1
        row_counts = rng.multinomial(g, np.full(g, 1 / g), size=2)[:, codes]
    for r in range(2):
        rs = d.loc[np.repeat(d.index.to_numpy(), row_counts[r])]
        want = dominance(rs, outcome="mediator", predictors=preds).table["estimate"].to_numpy()
        np.testing.assert_allclose(draws[r], want, rtol=1e-9, atol=0)


def test_bootstrap_intervals_and_reproducibility():
    d = _read("claims_fixture.csv")
    kw = dict(outcome="mediator", predictors=["teacher", "peer", "fair", "bully"], n_boot=500)
    a = dominance(d, seed=1, **kw)
    b = dominance(d, seed=1, **kw)
    pd.testing.assert_frame_equal(a.table, b.table)
    t = a.table
    assert ((t["ci_low"] <= t["estimate"]) & (t["estimate"] <= t["ci_high"])).all()
    assert np.isclose(t["prop_top"].sum(), 1.0)
    c = dominance(d, seed=1, cluster="school", **kw)
    np.testing.assert_allclose(c.table["estimate"], t["estimate"], rtol=1e-12)
    assert "clusters (school)" in c.summary()


def test_errors_and_exclusions():
    d = _read("claims_fixture.csv")
    d.loc[[0, 5], "peer"] = np.nan
    res = dominance(d, outcome="mediator", predictors=["teacher", "peer"])
    assert res.n_excluded == 2 and "2 rows excluded" in res.summary()
    with pytest.raises(ColumnError, match="nope"):
        dominance(d, outcome="mediator", predictors=["teacher", "nope"])
    with pytest.raises(DataError, match="2 to"):
        dominance(d, outcome="mediator", predictors=["teacher"])
    with pytest.raises(DataError, match="distinct"):
        dominance(d, outcome="mediator", predictors=["teacher", "mediator"])
    d["twice"] = d["teacher"] * 2
    with pytest.raises(ModelError, match="collinear"):
        dominance(d, outcome="mediator", predictors=["teacher", "twice"])
    d["const"] = 3.0
    with pytest.raises(ModelError, match="const"):
        dominance(d, outcome="mediator", predictors=["teacher", "const"])


def test_from_matrix_equals_data_version_and_accepts_covariances():
    d = _read("claims_fixture.csv")
    preds = ["teacher", "peer", "fair", "bully"]
    direct = dominance(d, outcome="mediator", predictors=preds)
    cols = preds + ["mediator"]
    from_corr = dominance_from_matrix(d[cols].corr(), outcome="mediator", predictors=preds)
    from_cov = dominance_from_matrix(d[cols].cov() * 7.0, outcome="mediator", predictors=preds)
    for res in (from_corr, from_cov):
        np.testing.assert_allclose(res.table["estimate"], direct.table["estimate"], rtol=1e-10, atol=0)
        assert res.n is None and "matrix" in res.summary()
    with pytest.raises(DataError, match="symmetric"):
        bad = d[cols].corr()
        bad.iloc[0, 1] = 0.9
        dominance_from_matrix(bad, outcome="mediator", predictors=preds)


def test_plot_shows_every_predictor():
    d = _read("claims_fixture.csv")
    res = dominance(d, outcome="mediator", predictors=["teacher", "peer", "fair"], n_boot=200, seed=1)
    ax = res.plot(labels={"teacher": "teacher care"})
    assert {t.get_text() for t in ax.get_yticklabels()} == {"teacher care", "peer", "fair"}
