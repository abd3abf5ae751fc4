"""Tests of belonging_lib.reliability against R (psych::alpha, psych::omega, aov, lme4)."""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from belonging_lib import ColumnError, DataError
from belonging_lib.reliability import feldt_ci, icc, omega, polychoric, reliability, scale_reliability

REF_DIR = Path(__file__).parent / "reference"
REF = json.loads((REF_DIR / "reliability.json").read_text())
BFI = pd.read_csv(REF_DIR / "data" / "bfi25.csv")
HS = pd.read_csv(REF_DIR / "data" / "hs9.csv")
CMISS = pd.read_csv(REF_DIR / "data" / "bfi_c_missing.csv")
ALPHA_DATA = {"bfi_A": BFI, "bfi_C": BFI, "bfi_N": BFI, "bfi_O": BFI, "bfi_A_listwise": BFI,
              "bfi_c_missing": CMISS, "hs9": HS}
EXACT = {"rtol": 1e-6, "atol": 0}


def test_reference_inputs_unchanged():
    import hashlib
    for name, md5 in REF["input_md5"].items():
        path = REF_DIR / "data" / f"{name}.csv"
        assert hashlib.md5(path.read_bytes()).hexdigest() == md5, f"{path} changed; rerun reliability.R"


@pytest.mark.parametrize("key", list(REF["alpha"]))
def test_alpha_matches_psych(key):
    c = REF["alpha"][key]
    res = reliability(ALPHA_DATA[key], items=c["items"], reverse=c["reverse"] or None,
                      missing="listwise" if "listwise" in key else "pairwise")
    assert res.n == c["n"]
    for ours, theirs in [(res.alpha, "raw_alpha"), (res.std_alpha, "std_alpha"), (res.g6, "g6"),
                         (res.average_r, "average_r"), (res.signal_noise, "s_n"),
                         (res.alpha_se, "ase"), (res.scale_mean, "mean"), (res.scale_sd, "sd"),
                         (res.median_r, "median_r")]:
        np.testing.assert_allclose(ours, c[theirs], **EXACT, err_msg=theirs)
    np.testing.assert_allclose([res.ci_low, res.ci_high], c["feldt"], **EXACT)
    items = res.items
    for col, theirs in [("n", "item_n"), ("raw_r", "raw_r"), ("std_r", "std_r"), ("r_cor", "r_cor"),
                        ("r_drop", "r_drop"), ("mean", "item_mean"), ("sd", "item_sd"),
                        ("alpha_if_dropped", "drop_raw_alpha"),
                        ("std_alpha_if_dropped", "drop_std_alpha"),
                        ("g6_if_dropped", "drop_g6"), ("average_r_if_dropped", "drop_average_r")]:
        np.testing.assert_allclose(items[col].to_numpy(dtype=float), c[theirs], **EXACT, err_msg=col)
    if c.get("response_freq"):
        freq = np.array(c["response_freq"])            # categories ..., then share missing
        ours = items.filter(like="freq_").to_numpy()
        np.testing.assert_allclose(ours, freq[:, :ours.shape[1]], **EXACT)
        np.testing.assert_allclose(items["share_missing"], freq[:, -1], **EXACT)


@pytest.mark.parametrize("key", list(REF["omega"]))
def test_omega_matches_psych(key):
    c = REF["omega"][key]
    sets = {"bfi25_5": BFI, "bfi25_3": BFI, "hs9_3": HS, "bfi_A_1": BFI[[f"A{i}" for i in range(1, 6)]],
            "bfi_C_1": CMISS, "bfi_C_2": BFI[[f"C{i}" for i in range(1, 6)] + [f"E{i}" for i in range(1, 6)]]}
    om = omega(sets[key], n_factors=c["nfactors"])
    np.testing.assert_allclose(om.alpha, c["alpha"], **EXACT)
    np.testing.assert_allclose(om.omega_total, c["omega_total"], rtol=0, atol=1e-6)
    # psych fits minres (twice: items, then Phi) with L-BFGS-B stopped near 1e-6; omega_h inherits
    # that (measured up to 2.5e-6 here). test_factor.py checks the same chain exactly (1e-10)
    # against a closed-form Schmid-Leiman in R.
    np.testing.assert_allclose(om.omega_h, c["omega_h"], rtol=0, atol=5e-6)
    np.testing.assert_allclose(np.abs(om.loadings["g"]), np.abs(c["g_loadings"]), rtol=0, atol=1e-5)


def test_reliability_omega_total_and_omega_h():
    items = BFI[[f"A{i}" for i in range(1, 6)]]
    res = reliability(items)
    np.testing.assert_allclose(res.omega_total, REF["omega"]["bfi_A_1"]["omega_total"], rtol=0, atol=1e-6)
    assert res.omega_h is None
    res5 = reliability(BFI, n_factors=5)
    np.testing.assert_allclose(res5.omega_h, REF["omega"]["bfi25_5"]["omega_h"], rtol=0, atol=5e-6)


def test_icc_matches_r():
    c = REF["icc"]
    res = icc(pd.read_csv(REF_DIR / "data" / "icc_classes.csv"), outcome="belonging", cluster="class_id")
    for ours, theirs in [(res.msb, "msb"), (res.msw, "msw"), (res.icc1_anova, "anova_icc1"),
                         (res.icc2_anova, "anova_icc2"), (res.mean_size, "mean_size"),
                         (res.reml_loglik, "reml_loglik")]:
        np.testing.assert_allclose(ours, c[theirs], rtol=1e-10, atol=0)
    # REML variance components: our profile score is solved exactly; lme4's bobyqa stops 4e-8
    # (relative) from the optimum at the same log-likelihood, hence rtol 1e-6.
    for ours, theirs in [(res.tau00, "tau00"), (res.sigma2, "sigma2"), (res.icc1, "vc_icc1"),
                         (res.icc2, "vc_icc2")]:
        np.testing.assert_allclose(ours, c[theirs], **EXACT)
    assert res.n == c["n"] and res.n_clusters == c["n_groups"]


def test_icc_bad_input():
    d = pd.DataFrame({"y": [1.0, 2.0, 3.0, np.nan], "g": ["a", "a", "a", "b"]})
    with pytest.raises(DataError, match="at least 2 groups"):
        icc(d, outcome="y", cluster="g")
    with pytest.raises(ColumnError, match="'school'"):
        icc(d, outcome="y", cluster="school")


@pytest.mark.slow
def test_polychoric_matches_psych():
    rho = polychoric(BFI[[f"A{i}" for i in range(1, 6)]].iloc[:500])
    # psych::polychoric optimises each correlation with optimize()'s default tolerance and its own
    # bivariate normal integration; measured agreement 2e-5.
    np.testing.assert_allclose(rho.to_numpy(), np.array(REF["polychoric"]["rho"]), rtol=0, atol=1e-4)


def test_feldt_ci_checks_level():
    with pytest.raises(DataError, match="`ci_level`"):
        feldt_ci(0.8, 100, 5, ci_level=95)


def test_bootstrap_interval_contains_alpha_and_is_reproducible():
    items = BFI[[f"C{i}" for i in range(1, 6)]]
    a = reliability(items, reverse=["C4", "C5"], n_boot=300, seed=1, progress=False)
    b = reliability(items, reverse=["C4", "C5"], n_boot=300, seed=1, progress=False)
    assert (a.boot_ci_low, a.boot_ci_high) == (b.boot_ci_low, b.boot_ci_high)
    assert a.boot_ci_low < a.alpha < a.boot_ci_high
    # close to Feldt's interval at this sample size
    assert abs(a.boot_ci_low - a.ci_low) < 0.02 and abs(a.boot_ci_high - a.ci_high) < 0.02


def test_bootstrap_draw_equals_direct_computation():
    from belonging_lib.reliability import _boot_alpha
    x = CMISS.to_numpy(dtype=float)
    draws = _boot_alpha(x, 3, 5, False)
    rng = np.random.default_rng(5)
    idx = rng.integers(0, len(x), size=(3, len(x)))     # each resample: n row positions drawn with replacement
    for b in range(3):
        c = pd.DataFrame(x[idx[b]]).cov().to_numpy()
        k = c.shape[0]
        np.testing.assert_allclose(draws[b], (1 - np.trace(c) / c.sum()) * k / (k - 1), rtol=1e-10, atol=0)


@pytest.mark.parametrize("kind", ["likert", "continuous", "missing"])
def test_bootstrap_draws_equal_a_loop_over_the_resampled_rows(kind):
    """Every vectorised draw equals alpha of its resampled rows computed one by one (pairwise-complete
    covariances, as psych::alpha), to 1e-9, on integer answers, continuous scores far from zero and
    answers with gaps."""
    from belonging_lib.reliability import _boot_alpha
    rng = np.random.default_rng(8)
    n, k, B = 300, 6, 150
    common = rng.normal(size=(n, 1))
    x = common + rng.normal(size=(n, k))
    if kind == "likert":
        x = np.clip(np.round(3 + x), 1, 5)
    elif kind == "continuous":
        x = 1e3 + 10 * x
    else:
        x = np.clip(np.round(3 + x), 1, 5)
        x[rng.random((n, k)) < 0.1] = np.nan
    draws = _boot_alpha(x, B, 21, False, chunk=40)
    idx = np.random.default_rng(21).integers(0, n, size=(B, n))
    loop = []
    for b in range(B):
        c = pd.DataFrame(x[idx[b]]).cov().to_numpy()
        loop.append((1 - np.trace(c) / c.sum()) * k / (k - 1))
    np.testing.assert_allclose(draws, loop, rtol=1e-9, atol=0)


def test_summary_and_apa_sentence():
    res = reliability(BFI[[f"A{i}" for i in range(1, 6)]], reverse=["A1"], response_range=(1, 6), label="agreeableness")
    text = res.apa()
    assert text.startswith("Cronbach's alpha for the agreeableness scale was .70, 95% CI [.69, .72], N = 2,800")
    assert "omega" in text
    assert "r_drop" in res.summary() and "<table" in res._repr_html_()
    frame = res.to_frame()
    assert list(frame.columns) == ["term", "estimate", "se", "ci_low", "ci_high", "statistic", "df",
                                   "p", "n"]


# ---- bad input -----------------------------------------------------------------------------------

def test_text_labels_are_rejected_with_advice():
    d = pd.DataFrame({"a": ["Agree", "Disagree", "Agree"], "b": [1, 2, 3], "c": [2, 3, 1]})
    with pytest.raises(DataError, match=r"Column 'a' must be numeric.*'Agree'"):
        reliability(d)


def test_out_of_range_code():
    d = pd.DataFrame({"a": [1, 2, 9, 4], "b": [1, 2, 3, 4], "c": [2, 3, 4, 4]})
    with pytest.raises(DataError, match=r"Column 'a' must hold values from 1 to 5.*row 2 holds 9"):
        reliability(d, response_range=(1, 5))


def test_missing_column_and_unknown_reverse_item():
    d = pd.DataFrame({"a": [1, 2, 3, 4], "b": [1, 2, 3, 4]})
    with pytest.raises(ColumnError, match=r"reverse-keyed item\(s\) 'z'"):
        reliability(d, reverse=["z"])


def test_all_missing_row_is_excluded_and_counted():
    d = BFI[[f"N{i}" for i in range(1, 6)]].iloc[:200].copy()
    d.loc[len(d)] = np.nan
    res = reliability(d)
    assert res.n == 200 and res.n_excluded == 1
    assert "1 rows excluded (no item answered)" in res.summary()
    ref = reliability(d.iloc[:200])
    assert res.alpha == ref.alpha


def test_listwise_counts_incomplete_rows():
    d = BFI[[f"A{i}" for i in range(1, 6)]]
    res = reliability(d, missing="listwise")
    assert res.n + res.n_excluded == len(d) and res.n == REF["alpha"]["bfi_A_listwise"]["n"]


def test_constant_item():
    d = pd.DataFrame({"a": [1, 2, 3, 4], "b": [2, 3, 3, 5], "c": [3, 3, 3, 3]})
    with pytest.raises(DataError, match=r"Item 'c' has the same answer \(3\) for every pupil"):
        reliability(d)


def test_fewer_than_two_items():
    with pytest.raises(DataError, match=r"at least 2 items, but 1 \(a\) was passed"):
        reliability(pd.DataFrame({"a": [1, 2, 3]}))


def test_bad_options():
    d = BFI[[f"A{i}" for i in range(1, 6)]]
    with pytest.raises(DataError, match="`missing` must be one of"):
        reliability(d, missing="complete")
    with pytest.raises(DataError, match="n_boot"):
        reliability(d, n_boot=-5)


# ---- properties (hypothesis) --------------------------------------------------------------------

ITEMS = BFI[[f"C{i}" for i in range(1, 6)]].iloc[:300]
BASE = reliability(ITEMS, reverse=["C4", "C5"], response_range=(1, 6))


@settings(max_examples=10, deadline=None)
@given(st.permutations(list(ITEMS.columns)))
def test_alpha_unchanged_by_reordering(order):
    res = reliability(ITEMS[order], reverse=["C4", "C5"], response_range=(1, 6))
    np.testing.assert_allclose(res.alpha, BASE.alpha, rtol=1e-12, atol=0)
    np.testing.assert_allclose(res.items.loc[ITEMS.columns, "r_drop"], BASE.items["r_drop"], rtol=1e-12, atol=0)


@settings(max_examples=10, deadline=None)
@given(st.floats(-50, 50, allow_nan=False), st.floats(0.1, 20, allow_nan=False))
def test_alpha_unchanged_by_shift_and_rescale(shift, factor):
    moved = ITEMS * factor + shift
    res = reliability(moved, reverse=["C4", "C5"])
    np.testing.assert_allclose(res.alpha, BASE.alpha, rtol=1e-9, atol=0)
    np.testing.assert_allclose(res.std_alpha, BASE.std_alpha, rtol=1e-9, atol=0)


@settings(max_examples=10, deadline=None)
@given(st.sampled_from(list(ITEMS.columns)))
def test_reversing_an_item_twice_restores_alpha(item):
    from belonging_lib.scoring import reverse_items
    once = reverse_items(ITEMS, reverse=[item], response_range=(1, 6))
    twice = reverse_items(once, reverse=[item], response_range=(1, 6))
    pd.testing.assert_frame_equal(twice, ITEMS)
    res = reliability(twice, reverse=["C4", "C5"], response_range=(1, 6))
    assert res.alpha == BASE.alpha


@pytest.mark.slow
def test_ordinal_alpha_matches_psych():
    items = BFI[[f"A{i}" for i in range(1, 6)]].iloc[:500].dropna()
    res = reliability(items, reverse=["A1"], ordinal=True)
    # R's optimize() in psych::polychoric stops at tol ~1.2e-4 in rho; measured 3.4e-6 in alpha
    np.testing.assert_allclose(res.alpha, REF["polychoric"]["ordinal_alpha"], rtol=0, atol=1e-4)
    assert res.ordinal and res.apa().startswith("Ordinal alpha")


def test_scale_reliability_uses_the_instrument_keys():
    from belonging_lib.reliability import scale_reliability
    rng = np.random.default_rng(4)
    d = pd.DataFrame({f"sdq_{i:02d}": rng.integers(0, 3, 60) for i in range(1, 26)})
    a = scale_reliability(d, "sdq", subscale="conduct", missing="listwise")
    b = reliability(d[["sdq_05", "sdq_07", "sdq_12", "sdq_18", "sdq_22"]], reverse=["sdq_07"],
                    response_range=(0, 2), missing="listwise")
    assert a.alpha == b.alpha and a.reverse == ("sdq_07",)
    assert "sdq_self_11_17 conduct" in a.apa()
    assert repr(a).startswith("ReliabilityResult(alpha=")


def test_icc_anova_by_hand_and_alias():
    from belonging_lib.reliability import aggregation_reliability
    d = pd.DataFrame({"y": [1, 2, 2, 3, 4, 5, 4, 5], "school": list("aaaabbbb")})
    # by hand: group means 2 and 4.5, MSB = 12.5, MSW = 3 / 6 = 0.5, n_bar = 4
    res = aggregation_reliability(d, outcome="y", cluster="school")
    assert res.msb == pytest.approx(12.5, rel=1e-12, abs=0) and res.msw == pytest.approx(0.5, rel=1e-12, abs=0)
    assert res.icc1_anova == pytest.approx(12.0 / 14.0, rel=1e-12, abs=0)
    assert res.icc2_anova == pytest.approx(0.96, rel=1e-12, abs=0)


def test_icc_boundary_warns():
    from belonging_lib import BelongingWarning
    d = pd.DataFrame({"y": [1.0, 2.0, 3.0, 1.0, 2.0, 3.3], "g": list("aaabbb")})
    with pytest.warns(BelongingWarning, match="estimated at 0"):
        res = icc(d, outcome="y", cluster="g")
    assert res.icc1 == 0 and res.tau00 == 0 and res.icc2_anova < 0


def test_omega_bad_input():
    with pytest.raises(DataError, match="omega with 3 factor"):
        omega(BFI[[f"A{i}" for i in range(1, 6)]], n_factors=3)


# ---- result tables and texts carry the reference numbers ------------------------------------------

def test_tidy_table_and_texts_carry_the_psych_values():
    c = REF["alpha"]["bfi_A"]
    res = reliability(BFI[c["items"]], reverse=c["reverse"], n_boot=60, seed=3, progress=False)
    f = res.to_frame()
    assert list(f.columns) == ["term", "estimate", "se", "ci_low", "ci_high", "statistic", "df",
                               "p", "n"]
    f = f.set_index("term")
    assert list(f.index) == ["alpha", "alpha (bootstrap CI)", "std_alpha", "g6", "omega_total", "average_r"]
    np.testing.assert_allclose(f.loc["alpha", ["estimate", "se", "ci_low", "ci_high"]].to_numpy(float),
                               [c["raw_alpha"], c["ase"], *c["feldt"]], **EXACT)
    np.testing.assert_allclose(f.loc[["std_alpha", "g6", "average_r"], "estimate"].to_numpy(float),
                               [c["std_alpha"], c["g6"], c["average_r"]], **EXACT)
    np.testing.assert_allclose(f.loc["omega_total", "estimate"], REF["omega"]["bfi_A_1"]["omega_total"],
                               rtol=0, atol=1e-6)
    boot = f.loc["alpha (bootstrap CI)"]
    assert boot["estimate"] == f.loc["alpha", "estimate"] and boot["ci_low"] < c["raw_alpha"] < boot["ci_high"]
    assert (f["n"] == c["n"]).all()
    # the texts: counts, reverse keys, interval methods, two-decimal APA numbers without the leading 0
    assert res.notes() == [f"5 items, N = {c['n']} pupils (pairwise missing-data handling).",
                           "Reverse-keyed: A1.", "CI: Feldt, 95%; bootstrap percentile, 60 draws."]
    two = [f"{v:.2f}"[1:] for v in (c["raw_alpha"], *c["feldt"], REF["omega"]["bfi_A_1"]["omega_total"])]
    assert res.apa() == (f"Cronbach's alpha for the 5-item scale was {two[0]}, 95% CI [{two[1]}, {two[2]}], "
                         f"N = {c['n']:,}; McDonald's omega total was {two[3]}.")
    assert repr(res) == (f"ReliabilityResult(alpha={c['raw_alpha']:.4f}, ci_low={c['feldt'][0]:.4f}, ci_high="
                         f"{c['feldt'][1]:.4f}, omega_total={res.omega_total:.4f}, n_items=5, n={c['n']})")
    # the displays round to 3 decimals (the stored numbers are not rounded)
    import re
    items_text = res.summary().split("\nItems\n")[1].split("\n\n")[0]
    assert {len(m) for m in re.findall(r"\d\.(\d+)", items_text)} == {3}
    html = res._repr_html_()
    details = html.split("<details><summary>Items</summary>")[1]
    assert details.startswith('<table class="dataframe bl-table"') and 'border="0"' not in details.split(">")[0]
    assert {len(m) for m in re.findall(r"<td>\d+\.(\d+)</td>", details)} == {3}
    assert f"<em>{res.apa()}</em>" in html


def test_texts_for_listwise_and_no_bootstrap():
    res = reliability(BFI[[f"A{i}" for i in range(1, 6)]], missing="listwise", label="agreeableness")
    n = REF["alpha"]["bfi_A_listwise"]["n"]
    assert res.notes() == [f"5 items, N = {n} pupils (listwise missing-data handling).",
                           f"{2800 - n} rows excluded (an item unanswered).", "CI: Feldt, 95%."]
    assert res.apa().startswith("Cronbach's alpha for the agreeableness scale was ")


def test_negative_alpha_is_printed_apa_style():
    # b runs against a and c, so alpha is negative; textbook form k/(k-1) (1 - sum var_i / var(total))
    x = np.array([[1.0, 2, 3, 4, 5, 1, 2, 3, 4, 5], [5, 3, 4, 1, 2, 4, 5, 2, 1, 3], [3, 1, 2, 5, 4, 1, 2, 4, 3, 5]]).T
    res = reliability(pd.DataFrame(x, columns=["a", "b", "c"]))
    expected = 1.5 * (1 - x.var(axis=0, ddof=1).sum() / x.sum(axis=1).var(ddof=1))
    np.testing.assert_allclose(res.alpha, expected, rtol=1e-12)
    assert -1 < res.alpha < 0 and res.ci_low < -1 < 0 < res.ci_high < 1
    lo = f"{res.ci_low:.2f}"                       # below -1: nothing to shorten
    assert res.apa().startswith(f"Cronbach's alpha for the 3-item scale was -.{f'{res.alpha:.2f}'[3:]}, "
                                f"95% CI [{lo}, .{f'{res.ci_high:.2f}'[2:]}], N = 10;")


def test_omega_h_rows_and_sentence():
    res = reliability(BFI, n_factors=5)
    ref = REF["omega"]["bfi25_5"]
    f = res.to_frame().set_index("term")
    assert list(f.index) == ["alpha", "std_alpha", "g6", "omega_total", "omega_h (5 factors)",
                             "omega_total (5 factors)", "average_r"]
    np.testing.assert_allclose(f.loc["omega_h (5 factors)", "estimate"], ref["omega_h"], rtol=0, atol=5e-6)
    np.testing.assert_allclose(f.loc["omega_total (5 factors)", "estimate"], ref["omega_total"], rtol=0, atol=1e-6)
    assert res.apa().endswith(f" and omega hierarchical {ref['omega_h']:.2f}.".replace("0.", ".", 1))
    assert f", omega_h={ref['omega_h']:.4f}, n_items=25" in repr(res)


def test_bootstrap_interval_is_the_percentiles_of_the_draws():
    from belonging_lib.reliability import _boot_alpha
    x = CMISS.to_numpy(dtype=float)
    res = reliability(CMISS, ci_level=0.90, n_boot=80, seed=11, progress=False)
    draws = _boot_alpha(x, 80, 11, False)   # checked against direct covariances above
    np.testing.assert_allclose([res.boot_ci_low, res.boot_ci_high], np.quantile(draws, [0.05, 0.95]), rtol=1e-12)
    # Feldt at 90%: 1 - (1 - alpha) F quantiles of F(n - 1, (n - 1)(k - 1)) (Feldt, 1965)
    from scipy import stats
    n, k = res.n, 5
    np.testing.assert_allclose([res.ci_low, res.ci_high], [1 - (1 - res.alpha) * stats.f.ppf(q, n - 1, (n - 1) * (k - 1))
                                        for q in (0.95, 0.05)], rtol=1e-12)
    assert res.ci_level == 0.90 and "CI: Feldt, 90%; bootstrap percentile, 80 draws." in res.notes()
    assert feldt_ci(0.8, 100, 10) == feldt_ci(0.8, 100, 10, ci_level=0.95)
    assert feldt_ci(0.8, 100, 10).ci_low != feldt_ci(0.8, 100, 10, ci_level=0.90).ci_low
    # `alpha` (Cronbach's) was the old keyword: it still works until the next release, with a warning
    with pytest.warns(DeprecationWarning, match=r"feldt_ci\(estimate=...\)"):
        assert feldt_ci(alpha=0.8, n=100, k=10) == feldt_ci(estimate=0.8, n=100, k=10)


# ---- small cases worked by hand -------------------------------------------------------------------

def test_three_items_omega_and_alpha_if_dropped_by_hand():
    items = HS[["x4", "x5", "x6"]]
    res = reliability(items)
    r = items.corr().to_numpy()
    # one factor, three items: just identified, lambda_1^2 = r12 r13 / r23 (and so on)
    lam2 = np.array([r[0, 1] * r[0, 2] / r[1, 2], r[0, 1] * r[1, 2] / r[0, 2], r[0, 2] * r[1, 2] / r[0, 1]])
    np.testing.assert_allclose(res.omega_total, (r.sum() - np.sum(1 - lam2)) / r.sum(), rtol=1e-6)
    om = omega(items, n_factors=1)
    np.testing.assert_allclose(om.loadings["h2"], lam2, rtol=1e-6)
    np.testing.assert_allclose(om.loadings["u2"], 1 - lam2, rtol=1e-6)
    np.testing.assert_allclose(om.loadings["p2"], 1.0, rtol=1e-9)   # g is the only factor
    # alpha without item j is the two-item alpha 2 (1 - (v_a + v_b) / (v_a + v_b + 2 c_ab))
    c = items.cov().to_numpy()
    for j in range(3):
        a_, b_ = [i for i in range(3) if i != j]
        two = 2 * (1 - (c[a_, a_] + c[b_, b_]) / (c[a_, a_] + c[b_, b_] + 2 * c[a_, b_]))
        np.testing.assert_allclose(res.items["alpha_if_dropped"].iloc[j], two, rtol=1e-12)
    assert res.items.index.name == "item"


def test_two_items_have_no_omega_and_no_alpha_if_dropped():
    res = reliability(HS[["x1", "x2"]])
    c = HS[["x1", "x2"]].cov().to_numpy()
    np.testing.assert_allclose(res.alpha, 2 * (1 - np.trace(c) / c.sum()), rtol=1e-12)
    assert np.isnan(res.omega_total) and "omega" not in res.apa()
    assert res.items[["alpha_if_dropped", "std_alpha_if_dropped", "g6_if_dropped",
                      "average_r_if_dropped"]].isna().all().all()


def test_response_frequency_columns():
    rng = np.random.default_rng(2)
    f = rng.normal(size=400)
    ten = pd.DataFrame({f"i{j}": np.clip(np.round(5.5 + 2 * f + rng.normal(size=400)), 1, 10)
                        for j in range(3)})
    res = reliability(ten)
    assert [c for c in res.items if c.startswith("freq_")] == [f"freq_{v}" for v in range(1, 11)]
    np.testing.assert_allclose(res.items.filter(like="freq_").sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(res.items["freq_10"], (ten == 10).mean().to_numpy(), rtol=1e-12)
    halves = reliability(ten / 2)            # half-point codes keep their value in the name
    assert "freq_0.5" in halves.items and "freq_5" in halves.items
    eleven = ten.copy()
    eleven.iloc[0, 0] = 11
    assert not any(c.startswith("freq_") for c in reliability(eleven).items)


def test_omega_h_needs_enough_items_per_factor():
    five = HS[[f"x{i}" for i in range(1, 6)]]
    assert reliability(five, n_factors=2).omega_h is not None      # 2 factors need 2 * 2 + 1 = 5 items
    with pytest.raises(DataError, match="omega hierarchical with 2 factors needs more items than 4"):
        reliability(five.iloc[:, :4], n_factors=2)
    assert omega(five, n_factors=2).n_factors == 2
    with pytest.raises(DataError, match=r"omega with 2 factor\(s\) needs more than 4 items"):
        omega(five.iloc[:, :4], n_factors=2)
    assert omega(five.iloc[:, :3], n_factors=1).n == len(HS)
    with pytest.raises(DataError, match=r"omega with 1 factor\(s\) needs more than 2 items"):
        omega(five.iloc[:, :2], n_factors=1)


def test_omega_matches_psych_schmid_leiman_table():
    c = REF["omega"]["hs9_3"]
    om = omega(HS)                                # psych's default: 3 group factors
    sl = np.array(c["sl"])                        # g, F1*, F2*, F3*, h2, u2, p2
    np.testing.assert_allclose(om.omega_h, c["omega_h"], rtol=0, atol=5e-6)
    np.testing.assert_allclose(om.loadings[["h2", "u2", "p2"]].to_numpy(), sl[:, 4:7], rtol=0, atol=1e-5)
    ours = om.loadings[["F1*", "F2*", "F3*"]].to_numpy()
    for j in range(3):                            # group factors may come in another order
        match = np.argmax([abs(np.corrcoef(ours[:, j], sl[:, 1 + m])[0, 1]) for m in range(3)])
        np.testing.assert_allclose(np.abs(ours[:, j]), np.abs(sl[:, 1 + match]), rtol=0, atol=1e-5)
    f = om.to_frame().set_index("term")
    np.testing.assert_allclose(f["estimate"].to_numpy(float), [c["omega_h"], c["omega_total"], c["alpha"]],
                               rtol=0, atol=5e-6)
    assert list(f.index) == ["omega_h", "omega_total", "alpha (standardised)"] and (f["n"] == len(HS)).all()
    assert om.notes() == [f"3 group factors (minres, oblimin, Schmid-Leiman); N = {len(HS)}."]


def test_omega_listwise_uses_complete_rows_only():
    lw = omega(CMISS, n_factors=1, missing="listwise")
    complete = omega(CMISS.dropna(), n_factors=1)
    assert lw.omega_total == complete.omega_total and lw.n == len(CMISS.dropna()) < len(CMISS)
    with pytest.raises(DataError, match="`missing`"):
        omega(CMISS, missing="complete")
    with pytest.raises(DataError, match="n_factors"):
        omega(CMISS, n_factors=0)


def test_icc_table_and_notes_match_r():
    c = REF["icc"]
    d = pd.read_csv(REF_DIR / "data" / "icc_classes.csv")
    d.loc[len(d)] = {"class_id": "C01", "belonging": np.nan}      # one pupil without a score
    res = icc(d, outcome="belonging", cluster="class_id", ci_method=None)  # the interval's note: test_icc_intervals.py
    f = res.to_frame()
    assert list(f.columns) == ["term", "estimate", "se", "ci_low", "ci_high", "statistic", "df", "p", "n"]
    f = f.set_index("term")
    assert list(f.index) == ["icc1", "icc2", "icc1_anova", "icc2_anova", "tau00", "sigma2"]
    np.testing.assert_allclose(f["estimate"].to_numpy(float),
                               [c["vc_icc1"], c["vc_icc2"], c["anova_icc1"], c["anova_icc2"], c["tau00"],
                                c["sigma2"]], **EXACT)
    assert (f["n"] == c["n"]).all() and res.n_excluded == 1
    assert res.notes() == [
        f"belonging within class_id: {c['n']} pupils in {c['n_groups']} groups (mean size {c['mean_size']:.1f}).",
        "1 rows excluded (outcome or group missing).",
        f"ICC(2) = {c['vc_icc2']:.2f}: group means are reliable enough to use as a group-level measure."]
    import dataclasses
    assert "are reliable enough" in dataclasses.replace(res, icc2=0.7).notes()[-1]     # .70 counts
    assert "below the usual .70 threshold" in dataclasses.replace(res, icc2=0.69).notes()[-1]


# ---- more bad input ---------------------------------------------------------------------------------

def test_item_count_and_answer_count_messages():
    with pytest.raises(DataError, match=r"at least 2 items, but 0 \(none\) were passed"):
        reliability(pd.DataFrame(index=range(3)))
    d = pd.DataFrame({"a": [1.0, 2, 3, 4, 5, 6], "b": [2.0, 1, 4, 3, 6, 5],
                      "c": [1.0, 3, np.nan, np.nan, np.nan, np.nan]})
    assert reliability(d).items.loc["c", "n"] == 2                    # two answers are enough
    d.loc[1, "c"] = np.nan
    with pytest.raises(DataError, match=r"Item 'c' has fewer than 2 answers \(1\)"):
        reliability(d)
    three = pd.DataFrame({"a": [1.0, 2, 3], "b": [1.0, 3, 2]})
    assert reliability(three).n == 3
    with pytest.raises(DataError, match=r"Only 2 pupils have usable answers \(0 rows excluded\)"):
        reliability(three.iloc[:2])


def test_items_never_answered_together():
    d = pd.DataFrame({"a": [1.0, 2, 3, np.nan, np.nan, np.nan], "b": [np.nan, np.nan, np.nan, 1, 3, 2],
                      "c": [1.0, 2, 3, 2, 1, 3]})
    with pytest.raises(DataError, match=r"Items 'a' and 'b' are never \(or only once\) answered"):
        reliability(d)


def test_scale_and_reverse_messages():
    d = pd.DataFrame({"a": [1, 9, 9, 4], "b": [1, 2, 3, 4], "c": [2, 3, 4, 4]})
    with pytest.raises(DataError, match=r"rows 1, 2 hold 9 \(2 values out of range\)"):
        reliability(d, response_range=(1, 5))
    with pytest.raises(DataError, match=r"`response_range` must be \(min, max\) with min < max, but \(5, 5\)"):
        reliability(d, response_range=(5, 5))
    with pytest.raises(ColumnError, match=r"item\(s\) 'y', 'z' are not among the items \(a, b, c\)"):
        reliability(d, reverse=["y", "z"])
    with pytest.raises(DataError, match="`ci_level`"):
        reliability(d, ci_level=95)
    with pytest.raises(DataError, match="`n_factors`"):
        reliability(d, n_factors=0)


def test_bootstrap_refused_for_ordinal_alpha():
    d = pd.DataFrame({"a": [1, 2, 3, 1, 2, 3, 1, 2], "b": [1, 2, 3, 2, 2, 3, 1, 1], "c": [2, 2, 3, 1, 2, 3, 1, 2]})
    with pytest.raises(DataError, match=r"raw alpha only \(ordinal=False\)"):
        reliability(d, ordinal=True, n_boot=10)


def test_scale_reliability_reverses_within_the_instrument_range():
    # every answer is 0 or 1, but the SDQ range is 0-2: the reverse-keyed item is 2 - x
    rng = np.random.default_rng(8)
    d = pd.DataFrame({f"sdq_{i:02d}": rng.integers(0, 2, 80) for i in range(1, 26)})
    d.loc[3, "sdq_05"] = 9
    a = scale_reliability(d, "sdq", subscale="conduct", missing_codes=[9])
    np.testing.assert_allclose(a.items.loc["sdq_07", "mean"], 2 - d["sdq_07"].mean(), rtol=1e-12)
    assert a.items.loc["sdq_05", "n"] == 79             # the missing code is not an answer
    assert a.label == "sdq_self_11_17 conduct"
    assert scale_reliability(d, "sdq", missing_codes=[9]).label == "sdq_self_11_17"


def test_scale_score_without_variance_is_a_clear_error():
    # each item varies, but every pupil's mean over the three items is 10/3: the item-total
    # correlations divide by zero and alpha is undefined
    d = pd.DataFrame({"i0": [5.0, 3.0, 2.0], "i1": [3.0, 5.0, 5.0], "i2": [2.0, 2.0, 3.0]})
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(DataError, match="same mean score"):
            reliability(d)


def test_items_name_columns_of_data():
    """`items` picks the item columns of a wider table; None means every column."""
    wide = BFI.assign(school_id=[f"s{i % 7}" for i in range(len(BFI))])
    agree = [f"A{i}" for i in range(1, 6)]
    a = reliability(wide, items=agree, reverse=["A1"], response_range=(1, 6))
    b = reliability(BFI[agree], reverse=["A1"], response_range=(1, 6))
    assert (a.alpha, a.ci_low, a.ci_high, a.n) == (b.alpha, b.ci_low, b.ci_high, b.n)
    assert omega(wide, items=agree, n_factors=1).omega_total == omega(BFI[agree], n_factors=1).omega_total
    small = wide.iloc[:200]
    pd.testing.assert_frame_equal(polychoric(small, items=agree[:3]).matrix, polychoric(BFI[agree[:3]].iloc[:200]).matrix)
    with pytest.raises(ColumnError, match="A9"):
        reliability(wide, items=agree + ["A9"])


def test_polychoric_result_tidy_pairs_and_counts():
    """polychoric returns its matrix with the pupils used; to_frame lists each pair of items once."""
    items = [f"A{i}" for i in range(1, 4)]
    data = BFI[items].iloc[:200].dropna().copy()
    data.iloc[0, 0] = np.nan
    r = polychoric(data)
    assert r.n == len(data) - 1 and r.n_excluded == 1
    frame = r.to_frame()
    assert list(frame["term"]) == ["A1 ~~ A2", "A1 ~~ A3", "A2 ~~ A3"]
    assert frame.set_index("term").loc["A2 ~~ A3", "estimate"] == r.matrix.loc["A2", "A3"]
