"""Tests of belonging_lib.reliability against R (psych::alpha, psych::omega, aov, lme4)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from belonging_lib import ColumnError, DataError
from belonging_lib.reliability import feldt_ci, icc, omega, polychoric, reliability

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
    res = reliability(ALPHA_DATA[key][c["items"]], reverse=c["reverse"] or None,
                      missing="listwise" if "listwise" in key else "pairwise")
    assert res.n == c["n"]
    for ours, theirs in [(res.alpha, "raw_alpha"), (res.std_alpha, "std_alpha"), (res.g6, "g6"),
                         (res.average_r, "average_r"), (res.signal_noise, "s_n"),
                         (res.alpha_se, "ase"), (res.scale_mean, "mean"), (res.scale_sd, "sd"),
                         (res.median_r, "median_r")]:
        np.testing.assert_allclose(ours, c[theirs], **EXACT, err_msg=theirs)
    np.testing.assert_allclose(res.ci, c["feldt"], **EXACT)
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
    res = icc(pd.read_csv(REF_DIR / "data" / "icc_classes.csv"), outcome="belonging", group="class_id")
    for ours, theirs in [(res.msb, "msb"), (res.msw, "msw"), (res.icc1_anova, "anova_icc1"),
                         (res.icc2_anova, "anova_icc2"), (res.mean_size, "mean_size"),
                         (res.reml_loglik, "reml_loglik")]:
        np.testing.assert_allclose(ours, c[theirs], rtol=1e-10, atol=0)
    # REML variance components: our profile score is solved exactly; lme4's bobyqa stops 4e-8
    # (relative) from the optimum at the same log-likelihood, hence rtol 1e-6.
    for ours, theirs in [(res.tau00, "tau00"), (res.sigma2, "sigma2"), (res.icc1, "vc_icc1"),
                         (res.icc2, "vc_icc2")]:
        np.testing.assert_allclose(ours, c[theirs], **EXACT)
    assert res.n == c["n"] and res.n_groups == c["n_groups"]


def test_icc_bad_input():
    d = pd.DataFrame({"y": [1.0, 2.0, 3.0, np.nan], "g": ["a", "a", "a", "b"]})
    with pytest.raises(DataError, match="at least 2 groups"):
        icc(d, outcome="y", group="g")
    with pytest.raises(ColumnError, match="'school'"):
        icc(d, outcome="y", group="school")


@pytest.mark.slow
def test_polychoric_matches_psych():
    rho = polychoric(BFI[[f"A{i}" for i in range(1, 6)]].iloc[:500])
    # psych::polychoric optimises each correlation with optimize()'s default tolerance and its own
    # bivariate normal integration; measured agreement 2e-5.
    np.testing.assert_allclose(rho.to_numpy(), np.array(REF["polychoric"]["rho"]), rtol=0, atol=1e-4)


def test_feldt_ci_checks_level():
    with pytest.raises(DataError, match="`ci`"):
        feldt_ci(0.8, 100, 5, ci=95)


def test_bootstrap_interval_contains_alpha_and_is_reproducible():
    items = BFI[[f"C{i}" for i in range(1, 6)]]
    a = reliability(items, reverse=["C4", "C5"], n_boot=300, seed=1, progress=False)
    b = reliability(items, reverse=["C4", "C5"], n_boot=300, seed=1, progress=False)
    assert a.boot_ci == b.boot_ci
    assert a.boot_ci[0] < a.alpha < a.boot_ci[1]
    # close to Feldt's interval at this sample size
    assert abs(a.boot_ci[0] - a.ci[0]) < 0.02 and abs(a.boot_ci[1] - a.ci[1]) < 0.02


def test_bootstrap_draw_equals_direct_computation():
    from belonging_lib.reliability import _boot_alpha
    x = CMISS.to_numpy(dtype=float)
    draws = _boot_alpha(x, 3, 5, False)
    rng = np.random.default_rng(5)
    w = rng.multinomial(len(x), np.full(len(x), 1 / len(x)), size=3)
    for b in range(3):
        rows = np.repeat(np.arange(len(x)), w[b])
        c = pd.DataFrame(x[rows]).cov().to_numpy()
        k = c.shape[0]
        np.testing.assert_allclose(draws[b], (1 - np.trace(c) / c.sum()) * k / (k - 1), rtol=1e-10, atol=0)


def test_summary_and_apa_sentence():
    res = reliability(BFI[[f"A{i}" for i in range(1, 6)]], reverse=["A1"], scale=(1, 6), label="agreeableness")
    text = res.apa()
    assert text.startswith("Cronbach's alpha for the agreeableness scale was .70, 95% CI [.69, .72], N = 2,800")
    assert "omega" in text
    assert "r_drop" in res.summary() and "<table" in res._repr_html_()
    frame = res.to_frame()
    assert list(frame.columns) == ["term", "estimate", "se", "ci_low", "ci_high", "statistic", "df",
                                   "p_value", "n"]


# ---- bad input -----------------------------------------------------------------------------------

def test_text_labels_are_rejected_with_advice():
    d = pd.DataFrame({"a": ["Agree", "Disagree", "Agree"], "b": [1, 2, 3], "c": [2, 3, 1]})
    with pytest.raises(DataError, match=r"Column 'a' must be numeric.*'Agree'"):
        reliability(d)


def test_out_of_range_code():
    d = pd.DataFrame({"a": [1, 2, 9, 4], "b": [1, 2, 3, 4], "c": [2, 3, 4, 4]})
    with pytest.raises(DataError, match=r"Column 'a' must hold values from 1 to 5.*row 2 holds 9"):
        reliability(d, scale=(1, 5))


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
BASE = reliability(ITEMS, reverse=["C4", "C5"], scale=(1, 6))


@settings(max_examples=10, deadline=None)
@given(st.permutations(list(ITEMS.columns)))
def test_alpha_unchanged_by_reordering(order):
    res = reliability(ITEMS[order], reverse=["C4", "C5"], scale=(1, 6))
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
    twice = reverse_items(reverse_items(ITEMS, [item], (1, 6)), [item], (1, 6))
    pd.testing.assert_frame_equal(twice, ITEMS)
    res = reliability(twice, reverse=["C4", "C5"], scale=(1, 6))
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
                    scale=(0, 2), missing="listwise")
    assert a.alpha == b.alpha and a.reverse == ("sdq_07",)
    assert "sdq_self_11_17 conduct" in a.apa()
    assert repr(a).startswith("ReliabilityResult(alpha=")


def test_icc_anova_by_hand_and_alias():
    from belonging_lib.reliability import aggregation_reliability
    d = pd.DataFrame({"y": [1, 2, 2, 3, 4, 5, 4, 5], "school": list("aaaabbbb")})
    # by hand: group means 2 and 4.5, MSB = 12.5, MSW = 3 / 6 = 0.5, n_bar = 4
    res = aggregation_reliability(d, score="y", cluster="school")
    assert res.msb == pytest.approx(12.5, rel=1e-12, abs=0) and res.msw == pytest.approx(0.5, rel=1e-12, abs=0)
    assert res.icc1_anova == pytest.approx(12.0 / 14.0, rel=1e-12, abs=0)
    assert res.icc2_anova == pytest.approx(0.96, rel=1e-12, abs=0)


def test_icc_boundary_warns():
    from belonging_lib import BelongingWarning
    d = pd.DataFrame({"y": [1.0, 2.0, 3.0, 1.0, 2.0, 3.3], "g": list("aaabbb")})
    with pytest.warns(BelongingWarning, match="estimated at 0"):
        res = icc(d, outcome="y", group="g")
    assert res.icc1 == 0 and res.tau00 == 0 and res.icc2_anova < 0


def test_omega_bad_input():
    with pytest.raises(DataError, match="omega with 3 factor"):
        omega(BFI[[f"A{i}" for i in range(1, 6)]], n_factors=3)
