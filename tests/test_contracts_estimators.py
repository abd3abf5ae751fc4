"""Contract tests (hypothesis) for the public estimators and table helpers test_contracts.py leaves out.

Same contract and style as tests/test_contracts.py: on odd but legal data (one school, a subgroup of
one, constant items, unicode labels, huge and tiny values) a public function either returns finite,
sensible numbers, or raises a BelongingError subclass with a message.  Any other exception, a NaN
returned without an error, or a numpy/scipy RuntimeWarning fails.  Covered here: crt_subgroups,
consort_counts, eef_table, months_table, wwc_boundary, simulate_power, cr2_vcov,
fit_random_intercept_batch, dominance_from_matrix, efa, invariance, release_tests,
scale_reliability, clean_items, reverse_items, format_number and format_p_apa; and, across the
estimators, the guard that an infinite value is refused with its column and row.  The numbers
themselves are compared with R in each module's own test file.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from _contract_helpers import FAST, SLOW, SLOWER, attempt, finite, fitted_exactly, labels, odd, refuses, scales
from belonging_lib import BelongingError, DataError, ModelError

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")


def _trial_frame(n_schools, per, seed, *, scale=1.0, effect=0.3):
    rng = np.random.default_rng(seed)
    school = np.repeat([f"Š{i}" for i in range(n_schools)], per)
    arm = np.repeat(np.arange(n_schools) % 2, per)[::-1].copy()
    pre = rng.normal(size=len(school))
    post = (0.6 * pre + effect * arm + rng.normal(0, 0.3, n_schools)[np.arange(len(school)) // per]
            + rng.normal(size=len(school)))
    return pd.DataFrame({"school": school, "arm": arm, "pre": pre * scale, "post": post * scale,
                         "fsm": rng.integers(0, 2, len(school))})


def _items(n, k, seed, *, constant_item=False, missing_item=False, categories=5):
    rng = np.random.default_rng(seed)
    common = rng.normal(size=n)
    d = pd.DataFrame({f"é{j}": np.clip(np.round(common + rng.normal(size=n) + (categories + 1) / 2), 1, categories)
                      for j in range(k)})
    if constant_item:
        d.iloc[:, 0] = 1.0
    if missing_item:
        d.iloc[:, -1] = np.nan
    return d


# ----------------------------------------------------------------------------- trials

@SLOW
@given(n_schools=st.integers(1, 10), per=st.integers(1, 6), seed=st.integers(0, 2**16),
       missing_subgroup=st.floats(0, 0.5), one_level=odd)
def test_crt_subgroups_contract(n_schools, per, seed, missing_subgroup, one_level):
    from belonging_lib.trials import crt_subgroups

    d = _trial_frame(n_schools, per, seed)
    rng = np.random.default_rng(seed + 1)
    d["fsm"] = d["fsm"].astype(float).where(rng.random(len(d)) >= missing_subgroup)
    if one_level:
        d["fsm"] = d["fsm"].where(d["fsm"].isna(), 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)   # boundary fits and few clusters are documented warnings
        r = attempt(crt_subgroups, d, "post ~ arm + pre", cluster="school", treatment="arm", subgroup="fsm",
                    refuse={r"must hold two groups": n_schools < 2, r"has a single row": per == 1,
                            # one level of the subgroup, or too few schools or pupils in one of its levels
                            r"fsm|cluster|rows": one_level or n_schools < 8 or per < 3 or missing_subgroup > 0.3})
    if r is None:
        return
    assert not one_level
    t = r.table
    assert len(t) == 2
    assert finite(t[["estimate", "ci_low", "ci_high", "effect", "se"]], r.interaction_effect, r.interaction_se, r.sd)
    assert ((t["ci_low"] <= t["estimate"]) & (t["estimate"] <= t["ci_high"])).all()
    assert int(t["n"].sum()) + r.n_excluded == len(d)            # every pupil is analysed or counted
    assert (t["n_clusters"] >= 4).all()                          # 2 per arm at least, or an error
    assert 0 <= r.p_interaction <= 1


@FAST
@given(n_schools=st.integers(1, 12), per=st.integers(1, 6), seed=st.integers(0, 2**16), lost=st.floats(0, 1),
       by=st.sampled_from(["attrited", "outcome"]), complied=st.booleans())
def test_consort_counts_contract(n_schools, per, seed, lost, by, complied):
    from belonging_lib.trials import consort_counts

    d = _trial_frame(n_schools, per, seed)
    rng = np.random.default_rng(seed)
    gone = rng.random(len(d)) < lost
    d = d.assign(lost=gone.astype(int), post=d["post"].where(~gone), complied=d["arm"])
    kwargs = {"attrited": "lost"} if by == "attrited" else {"outcome": "post"}
    if complied:
        kwargs["complied"] = "complied"
    r = attempt(consort_counts, d, treatment="arm", cluster="school",
                refuse={r"must hold two groups": n_schools < 2}, **kwargs)
    if r is None:
        return
    t = r.table
    counts = t.select_dtypes("number")
    assert finite(counts) and (counts >= 0).all().all()
    assert (t["pupils_analysed"] + t["pupils_lost"] == t["pupils_randomised"]).all()
    assert (t["schools_analysed"] <= t["schools_randomised"]).all()
    assert int(t["pupils_randomised"].sum()) == len(d)
    assert int(t["schools_randomised"].sum()) == d["school"].nunique()


@FAST
@given(rows=st.dictionaries(labels, st.tuples(st.floats(-3, 3), st.floats(0, 2), st.integers(1, 10_000),
                                             st.floats(0, 1)), min_size=1, max_size=4),
       table=st.sampled_from(["toolkit", "project"]))
def test_eef_table_contract(rows, table):
    from belonging_lib.trials import eef_table

    given_rows = {k: {"estimate": es, "ci_low": es - w, "ci_high": es + w, "n": n, "p": p}
                  for k, (es, w, n, p) in rows.items()}
    out = attempt(eef_table, given_rows, table=table)
    if out is None:
        return
    out = out.to_frame()
    assert list(out["outcome"]) == list(rows)
    assert finite(out[["effect_size", "ci_low", "ci_high", "months_progress", "n_pupils", "p"]])
    assert (out["ci_low"] <= out["effect_size"]).all() and (out["effect_size"] <= out["ci_high"]).all()
    assert (out["months_progress"].abs() <= 12).all()
    assert (np.sign(out["months_progress"]) * np.sign(out["effect_size"]) >= 0).all()


@pytest.mark.parametrize("table", ["toolkit", "project"])
def test_months_table_contract(table):
    from belonging_lib.trials import months_progress, months_table

    t = months_table(table)
    assert finite(t[["months", "es_from"]]) and finite(t["es_to"].iloc[:-1])
    assert t["es_to"].iloc[-1] == np.inf                # the top band is open
    assert (t["es_from"] <= t["es_to"]).all() and t["months"].is_monotonic_increasing
    for _, row in t.iterrows():           # the table and the function agree on every band
        for es in (row["es_from"], min(row["es_to"], 5.0)):
            assert months_progress(es, table=table) == row["months"]
    with pytest.raises(BelongingError):
        months_table("no such table")


@FAST
@given(overall=st.one_of(st.floats(-10, 110), st.sampled_from([0.0, 100.0, float("nan"), float("inf")])),
       boundary=st.sampled_from(["cautious", "optimistic"]))
def test_wwc_boundary_contract(overall, boundary):
    from belonging_lib.trials import wwc_boundary

    b = attempt(wwc_boundary, overall, boundary=boundary,
                refuse={r"Overall attrition must be a percentage from 0 to 100": not 0 <= overall <= 100})
    if b is None:
        assert not 0 <= overall <= 100
        return
    assert 0 <= overall <= 100
    assert finite(b) and 0 <= b <= 100
    if boundary == "cautious":
        assert b <= wwc_boundary(overall, boundary="optimistic")


@SLOWER
@given(n_clusters=st.integers(0, 12), size=st.integers(0, 5), icc=st.floats(0, 0.99), p=st.floats(0.05, 0.95),
       effect=st.floats(-1, 1), n_sims=st.sampled_from([5, 10, 20]))
def test_simulate_power_contract(n_clusters, size, icc, p, effect, n_sims):
    from belonging_lib.trials import simulate_power

    n_t = int(round(p * n_clusters))
    r = attempt(simulate_power, effect_size=effect, n_clusters=n_clusters, cluster_size=size, icc=icc,
                p_treated=p, n_sims=n_sims, seed=1, progress=False, refuse={
                    r"`n_sims` must be a whole number of at least 10": n_sims < 10,
                    r"`n_clusters` must be a whole number of at least 4": n_clusters < 4,
                    r"`cluster_size` must be a whole number": size < 1,
                    r"at least 2 clusters in each arm": min(n_t, n_clusters - n_t) < 2,
                    r"has a single row .* the model is not identified": size == 1})
    if r is None:
        return
    n_t = int(round(p * n_clusters))
    assert min(n_t, n_clusters - n_t) >= 2            # never simulated with one cluster in an arm
    assert finite(r.power, r.mc_se, r.analytic_power, r.estimates)
    assert 0 <= r.power <= 1 and 0 <= r.analytic_power <= 1 and r.n_sims == n_sims


# ----------------------------------------------------------------------------- models

@FAST
@given(n=st.integers(1, 30), k=st.integers(1, 4), g=st.integers(1, 8), seed=st.integers(0, 2**16), scale=scales,
       cluster_level=odd)
def test_cr2_vcov_contract(n, k, g, seed, scale, cluster_level):
    from belonging_lib.models import cr2_vcov

    rng = np.random.default_rng(seed)
    codes = np.arange(n) % g
    X = np.column_stack([np.ones(n)] + [rng.normal(size=n) * scale for _ in range(k - 1)])
    if cluster_level and k > 1:
        X[:, 1] = codes.astype(float)          # a cluster-level predictor
    resid = rng.normal(size=n) * scale
    r = attempt(cr2_vcov, X, resid, codes, refuse={
        r"only \d+ rows for \d+ columns": n <= k,
        r"linearly dependent": np.linalg.matrix_rank(X / np.abs(X).max(axis=0).clip(1e-300)) < k,
        r"need at least two clusters": min(n, g) < 2,
        r"a cluster is fitted exactly": n > k and fitted_exactly(X, codes)})
    if r is None:
        return
    V, df = r.vcov, r.df
    assert V.shape == (k, k) and df.shape == (k,)
    assert finite(V, df)
    assert np.allclose(V, V.T, rtol=1e-8, atol=1e-12 * np.abs(V).max())
    assert (np.diag(V) >= -1e-12 * np.abs(V).max()).all() and (df > 0).all()


@SLOWER
@given(n_groups=st.integers(2, 8), per=st.integers(2, 5), reps=st.integers(1, 4), seed=st.integers(0, 2**16),
       scale=scales)
def test_fit_random_intercept_batch_contract(n_groups, per, reps, seed, scale):
    from belonging_lib.models import fit_random_intercept_batch

    rng = np.random.default_rng(seed)
    n = n_groups * per
    groups = np.repeat(np.arange(n_groups), per)
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    Y = rng.normal(size=(n, reps)) * scale
    out = attempt(fit_random_intercept_batch, Y, X, cluster=groups)
    if out is None:
        return
    assert out.coefficients.shape == (reps, 2)
    assert finite(out.coefficients, out.se, out.tau00, out.sigma2)
    assert (out.tau00 >= 0).all() and (out.sigma2 > 0).all() and (out.se >= 0).all()


# Designs whose variance components cannot be estimated (one cluster, one pupil per cluster) and constant
# outcomes are refused with the library's own error.
@pytest.mark.parametrize("n_groups, per, constant", [(1, 1, False), (1, 2, False), (1, 5, False), (5, 1, False),
                                                     (2, 2, True), (3, 4, True)])
def test_fit_random_intercept_batch_refuses_what_it_cannot_estimate(n_groups, per, constant):
    from belonging_lib.models import fit_random_intercept_batch

    rng = np.random.default_rng(0)
    n = n_groups * per
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    Y = np.full((n, 2), 2.0) if constant else rng.normal(size=(n, 2))
    with pytest.raises(BelongingError) as err:
        fit_random_intercept_batch(Y, X, cluster=np.repeat(np.arange(n_groups), per))
    assert str(err.value)


@FAST
@given(n=st.integers(3, 60), p=st.integers(1, 5), seed=st.integers(0, 2**16), duplicate=odd, scale=scales,
       as_cov=st.booleans())
def test_dominance_from_matrix_contract(n, p, seed, duplicate, scale, as_cov):
    from belonging_lib.models import dominance_from_matrix

    rng = np.random.default_rng(seed)
    d = pd.DataFrame(rng.normal(size=(n, p + 1)) * scale, columns=[f"ü{j}" for j in range(p)] + ["y"])
    if duplicate and p > 1:
        d["ü1"] = d["ü0"]
    m = d.cov() if as_cov else d.corr()
    r = attempt(dominance_from_matrix, m, outcome="y", predictors=[f"ü{j}" for j in range(p)], refuse={
        r"`predictors` must name 2 to": p < 2,
        r"perfectly collinear": (duplicate and p > 1) or n <= p + 1})
    if r is None:
        return
    g = r.table["estimate"]
    assert finite(g, r.r2)
    assert 0 <= r.r2 <= 1 + 1e-9 and (g >= -1e-12).all()
    assert g.sum() == pytest.approx(r.r2, rel=1e-9, abs=1e-12)


# ----------------------------------------------------------------------------- structure

@SLOWER
@given(n=st.integers(1, 60), k=st.integers(1, 6), seed=st.integers(0, 2**16), n_factors=st.integers(1, 2),
       constant_item=odd, missing_item=odd, rotation=st.sampled_from(["oblimin", "varimax", "none"]))
def test_efa_contract(n, k, seed, n_factors, constant_item, missing_item, rotation):
    from belonging_lib.structure import efa

    d = _items(n, k, seed, constant_item=constant_item, missing_item=missing_item)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)   # Heywood cases and non-convergence are warned about
        r = attempt(efa, d, n_factors=n_factors, rotation=rotation, n_iter=5, refuse={
            r"At least 3 item columns": k < 3,
            r"do not vary": any(d[c].nunique() < 2 for c in d.columns),
            r"`rotation` must be one of": rotation == "varimax",
            r"`n_factors` must be a whole number": n_factors >= k,
            r"never answered together": n < 3})
    if r is None:
        return
    assert not constant_item
    assert finite(r.loadings, r.communalities)
    assert r.loadings.shape == (k, n_factors)
    assert r.n + r.n_excluded == n


def _groups_frame(n, seed, labels_, k=4, shift=0.0):
    rng = np.random.default_rng(seed)
    f = rng.normal(size=n)
    d = pd.DataFrame({f"é{j}": 0.8 * f + rng.normal(size=n) for j in range(k)})
    d["grp"] = [labels_[i % len(labels_)] for i in range(n)]
    d.loc[d["grp"] == labels_[0], "é0"] += shift
    return d


@SLOW
@given(n=st.integers(4, 80), seed=st.integers(0, 2**16), names=st.lists(labels, min_size=1, max_size=3, unique=True),
       shift=st.sampled_from([0.0, 1.0]))
def test_invariance_and_release_tests_contract(n, seed, names, shift):
    from belonging_lib.structure import invariance, release_tests

    d = _groups_frame(n, seed, names, shift=shift)
    model = "F =~ é0 + é1 + é2 + é3"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        problems = {r"Group column 'grp' has 1 level": len(names) < 2,
                    r"rows|pupils|group": n < 10 * len(names)}
        t = attempt(invariance, d, model, group="grp", refuse=problems)
        if t is None:
            return
        t = t.table
        assert list(t.index) == ["configural", "metric", "scalar"]
        assert finite(t[["chisq", "df"]]) and (t["chisq"] >= -1e-8).all() and (t["df"] >= 0).all()
        assert t["df"].is_monotonic_increasing
        rel = attempt(release_tests, d, model, group="grp", refuse=problems)
    if rel is None:
        return
    rel = rel.to_frame()
    assert finite(rel[["chisq_diff", "df_diff", "p", "p_holm"]])
    assert ((rel["p"] >= 0) & (rel["p"] <= 1) & (rel["p_holm"] >= rel["p"] - 1e-12)).all()


# ----------------------------------------------------------------------------- scoring and reliability

@SLOWER
@given(n=st.integers(1, 30), seed=st.integers(0, 2**16), code=st.sampled_from([None, 9, -99, 2.5, "never", 1e12]),
       invalid=st.sampled_from(["raise", "missing"]), reverse=st.booleans())
def test_clean_items_and_scale_reliability_contract(n, seed, code, invalid, reverse):
    from belonging_lib.reliability import scale_reliability
    from belonging_lib.scoring import clean_items

    rng = np.random.default_rng(seed)
    d = pd.DataFrame({f"peer_{i}": rng.integers(1, 6, n).astype(object) for i in range(1, 5)})
    if code is not None:
        d.loc[0, "peer_2"] = code
    bad_code = invalid == "raise" and code in (9, 2.5, "never", 1e12)
    out = attempt(clean_items, d, "peer", invalid=invalid, missing_codes=[-99], reverse=reverse,
                  refuse={r"'peer_2' \(peer\) (must hold whole numbers from 1 to 5|holds the unknown label)": bad_code})
    if out is not None:
        values = out.to_numpy(dtype=float)
        ok = ~np.isnan(values)
        assert ((values[ok] >= 1) & (values[ok] <= 5) & (values[ok] == np.round(values[ok]))).all()
        assert len(out) == n
    answered = d.where(d.isin([1, 2, 3, 4, 5]))
    rel = attempt(scale_reliability, d, "peer", invalid=invalid, missing_codes=[-99], refuse={
        r"'peer_2' \(peer\) (must hold whole numbers from 1 to 5|holds the unknown label)": bad_code,
        r"usable answers": int(answered.notna().any(axis=1).sum()) < 3,
        r"fewer than 2 answers|same answer .* for every pupil": any(
            answered[c].dropna().nunique() < 2 for c in answered.columns)})
    if rel is not None:
        assert finite(rel.alpha, rel.ci_low, rel.ci_high) and rel.ci_low <= rel.alpha <= rel.ci_high
        assert rel.n + rel.n_excluded == n


@FAST
@given(n=st.integers(1, 20), seed=st.integers(0, 2**16), lo=st.integers(-3, 3), width=st.integers(0, 6),
       missing=odd)
def test_reverse_items_contract(n, seed, lo, width, missing):
    from belonging_lib.scoring import reverse_items

    rng = np.random.default_rng(seed)
    d = pd.DataFrame({"a": rng.integers(lo, lo + width + 1, n).astype(float), "b": rng.normal(size=n)})
    if missing:
        d.loc[0, "a"] = np.nan
    once = attempt(reverse_items, d, reverse=["a"], response_range=(lo, lo + width),
                   refuse={r"response_range": width == 0})
    if once is None:
        return
    twice = reverse_items(once, reverse=["a"], response_range=(lo, lo + width))
    pd.testing.assert_frame_equal(twice, d)
    assert once["a"].dropna().between(lo, lo + width).all()
    pd.testing.assert_series_equal(once["b"], d["b"])


# ----------------------------------------------------------------------------- table helpers

@FAST
@given(value=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**12, 10**12)),
       digits=st.integers(0, 6), leading_zero=st.booleans())
def test_format_number_contract(value, digits, leading_zero):
    from belonging_lib.tables import format_number

    s = attempt(format_number, value, digits=digits, leading_zero=leading_zero)
    if s is None:
        return
    assert isinstance(s, str)
    if isinstance(value, float) and np.isnan(value):
        assert s == ""                       # missing is blank, never "nan"
        return
    if np.isfinite(value):
        text = "-0" + s[1:] if s.startswith("-.") else ("0" + s if s.startswith(".") else s)
        if isinstance(value, int):
            assert int(text) == value
        else:
            assert float(text) == pytest.approx(value, rel=1e-12, abs=0.5 * 10.0 ** -digits * (1 + 1e-9))
    else:
        assert s in ("∞", "-∞")


@FAST
@given(p=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, 1e-300, 0.001, 0.0005,
                                                                                    0.05, 0.9995, 1.0])),
       digits=st.integers(1, 4))
def test_format_p_apa_contract(p, digits):
    from belonging_lib.tables import format_p_apa

    s = attempt(format_p_apa, p, digits=digits, refuse={r"A p-value must lie in \[0, 1\]": not 0 <= p <= 1})
    if s is None:
        assert not 0 <= p <= 1
        return
    assert isinstance(s, str)
    if not 0 <= p <= 1:
        assert s == "" and np.isnan(p)       # a missing p is shown blank, never as a number
        return
    assert not s.startswith("0")             # APA: no leading zero for a p-value
    if p < 10.0 ** -digits:
        assert s.startswith("<")


# ----------------------------------------------------------------------------- the finite-value guard

def _pupils(n, seed):
    rng = np.random.default_rng(seed)
    d = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    d["y"] = 0.5 * d.a + rng.normal(size=n)
    d["school"] = [f"S{i % 6}" for i in range(n)]
    d["arm"] = [i % 12 // 6 for i in range(n)]
    return d


def _estimators():
    from belonging_lib import models, reliability, trials

    return {
        "ols": (lambda d: models.ols(d, "y ~ a + b"), ["y", "a", "b"]),
        "multilevel": (lambda d: models.multilevel(d, "y ~ a", cluster="school"), ["y", "a"]),
        "dominance": (lambda d: models.dominance(d, outcome="y", predictors=["a", "b"]), ["y", "a", "b"]),
        "moderation": (lambda d: models.moderation(d, outcome="y", predictor="a", moderator="b"), ["y", "a", "b"]),
        "hedges_g": (lambda d: trials.hedges_g(d, outcome="y", treatment="arm"), ["y"]),
        "ancova": (lambda d: trials.ancova(d, outcome="y", treatment="arm", pretest="a"), ["y", "a"]),
        "icc": (lambda d: reliability.icc(d, outcome="y", cluster="school"), ["y"]),
        "reliability": (lambda d: reliability.reliability(d, items=["y", "a", "b"]), ["y", "a", "b"]),
    }


@FAST
@given(n=st.integers(24, 60), seed=st.integers(0, 2**16), name=st.sampled_from(list(range(8))),
       which=st.integers(0, 2), row=st.integers(0, 23), sign=st.sampled_from([1.0, -1.0]),
       missing=st.sampled_from([0.0, 0.2]))
def test_an_infinite_value_is_refused_with_its_column_and_row(n, seed, name, which, row, sign, missing):
    """Whatever the estimator, column and row, an inf is a DataError naming them, and nothing else runs."""
    calls = _estimators()
    key = list(calls)[name]
    call, columns = calls[key]
    column = columns[which % len(columns)]
    d = _pupils(n, seed)
    rng = np.random.default_rng(seed)
    for c in ("a", "b"):                               # missing values elsewhere do not hide the inf
        d.loc[rng.random(n) < missing, c] = np.nan
    d.loc[d.index[row], column] = sign * np.inf
    with pytest.raises(DataError) as info:
        call(d)
    msg = str(info.value)
    assert f"Column {column!r} holds an infinite value ({sign * np.inf})" in msg
    rows = re.search(r"in rows? ([\d, ]+) \(counted from 1", msg)
    assert rows and row + 1 in [int(x) for x in rows.group(1).split(", ")]


# ----------------------------------------------------------------------------- known-bad inputs

def _one_school():
    return pd.DataFrame({"school": ["S1"] * 6, "y": [1.0, 2.0, 3.0, 2.0, 1.0, 4.0], "x": np.arange(6.0)})


def _known_bad_calls():
    from belonging_lib.models import cr2_vcov, multilevel
    from belonging_lib.reliability import feldt_ci, icc
    from belonging_lib.tables import format_p_apa
    from belonging_lib.trials import wwc_boundary

    X = np.column_stack([np.ones(6), np.arange(6.0)])
    return {
        "one school": (lambda: icc(_one_school(), outcome="y", cluster="school"), DataError,
                       r"at least 2 groups in 'school'"),
        "one pupil": (lambda: feldt_ci(0.8, 1, 5), DataError, r"`n`.*1 was passed"),
        "negative attrition": (lambda: wwc_boundary(-1.0), DataError, r"percentage from 0 to 100, but -1\.0"),
        "p above 1": (lambda: format_p_apa(1.5), DataError, r"\[0, 1\], but 1\.5"),
        "one cluster": (lambda: cr2_vcov(X, np.ones(6), np.zeros(6, dtype=int)), ModelError,
                        r"at least two clusters"),
        "unknown column": (lambda: multilevel(_one_school(), "y ~ nope", cluster="school"), BelongingError,
                           r"'nope'"),
    }


@pytest.mark.parametrize("case", list(_known_bad_calls()))
def test_a_known_bad_input_is_refused_with_a_message_naming_the_problem(case):
    call, error, names = _known_bad_calls()[case]
    refuses(call, error=error, names=names)
