"""Tests of belonging_lib.survey against R survey + mitools (tests/reference/survey.R)."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from belonging_lib import ColumnError, DataError
from belonging_lib.disclosure import DisclosurePolicy, set_default_policy
from belonging_lib.survey import ComparisonResult, SurveyDesign, SurveyEstimate, pisa_design, read_pisa

ROOT = Path(__file__).resolve().parent.parent
REF = json.loads((ROOT / "tests" / "reference" / "survey.json").read_text())
RTOL = 1e-8  # the acceptance tolerance (relative)


@pytest.fixture(autouse=True)
def _no_disclosure_rule():
    """The numbers are compared with R's, which applies no disclosure rule.

    Under the project's default policy the same calls withhold small groups and
    categories (tests/test_hostile_disclosure.py checks that).
    """
    set_default_policy(DisclosurePolicy(enabled=False))
    yield
    set_default_policy(None)


def _md5(path: Path) -> str:
    """MD5 of the file's content (uncompressed for .gz: gzip's time stamp is not a change)."""
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    return hashlib.md5(raw).hexdigest()


@pytest.fixture(scope="module", params=["fixture", "sample"])
def case(request):
    ref = REF["results"][request.param]
    path = ROOT / ("tests/reference/data/survey_pisa_fixture.csv" if request.param == "fixture"
                   else ref["file"])
    if not path.exists():
        pytest.fail(f"{path} is missing: the survey reference needs it (see tests/reference/survey.R).")
    if _md5(path) != ref["md5_content"]:
        pytest.fail(f"{path} has changed since tests/reference/survey.json was made (content MD5 "
                    f"{_md5(path)}, reference {ref['md5_content']}). Rerun `Rscript survey.R` in "
                    "tests/reference/ and review the differences.")
    data = pd.read_csv(path)
    assert len(data) == ref["n"]
    design = SurveyDesign(data, weight="W_FSTUWT", replicates="W_FSTURWT", method="fay", rho=0.5,
                          pv={"MATH": [f"PV{m}MATH" for m in range(1, 11)]})
    return data, design, ref


def _frame(records):
    out = pd.DataFrame(records)
    if "df" in out:
        out["df"] = out["df"].fillna(np.inf)  # jsonlite drops Inf
    return out


def _close(ours, theirs, cols=("estimate", "se", "df")):
    for c in cols:
        if c not in theirs:
            continue
        np.testing.assert_allclose(np.asarray(ours[c], dtype=float), np.asarray(theirs[c], dtype=float),
                                   rtol=RTOL, atol=0, err_msg=c)


def test_mean_plausible_values_by_country(case):
    _, des, ref = case
    ours = des.mean("MATH", by="CNT").to_frame()
    theirs = _frame(ref["mean_math_by_cnt"])
    assert list(ours["CNT"]) == list(theirs["CNT"])
    _close(ours, theirs)


def test_mean_overall_with_t_interval(case):
    _, des, ref = case
    ours = des.mean("MATH").to_frame()
    _close(ours, _frame(ref["mean_math"]), cols=("estimate", "se", "df", "ci_low", "ci_high"))


def test_mean_with_missing_values_counts_exclusions(case):
    data, des, ref = case
    res = des.mean("BELONG", by="CNT")
    ours = res.to_frame()
    theirs = _frame(ref["mean_belong_by_cnt"])
    _close(ours, theirs)
    assert np.isinf(ours["df"]).all()
    assert list(ours["n"]) == list(theirs["n"])
    n_missing = data.groupby("CNT")["BELONG"].apply(lambda s: int(s.isna().sum()))
    assert list(ours["n_excluded"]) == list(n_missing)
    assert res.n_excluded == int(data["BELONG"].isna().sum()) == res.ledger.entries[-1].n_dropped
    assert res.n == len(data) - res.n_excluded and res.outcome == "BELONG" and res.by == ("CNT",)
    assert not ours.attrs


def test_percent_of_categories(case):
    _, des, ref = case
    ours = des.percent("ST034Q01TA", by="CNT").to_frame()
    theirs = _frame(ref["percent_item1_by_cnt"]).sort_values(["CNT", "category"]).reset_index(drop=True)
    assert list(ours["category"].astype(float)) == list(theirs["category"].astype(float))
    _close(ours, theirs, cols=("estimate", "se"))
    np.testing.assert_allclose(ours.groupby("CNT")["estimate"].sum(), 100.0, rtol=1e-12, atol=0)


def test_percentiles(case):
    _, des, ref = case
    ours = des.percentile("MATH", [10, 50, 90], by="CNT").to_frame()
    theirs = _frame(ref["percentile_math_by_cnt"])
    assert list(ours["percentile"]) == list(theirs["percentile"].astype(float))
    # R's SE is read back from its interval (upper - lower) / (2 z): exact to about 1e-15.
    _close(ours, theirs)


def test_correlation(case):
    _, des, ref = case
    _close(des.corr("MATH", "BELONG", by="CNT").to_frame(), _frame(ref["corr_math_belong_by_cnt"]))


def test_group_difference(case):
    _, des, ref = case
    res = des.diff("MATH", by="ST004D01T", levels=(1, 2), within="CNT")
    assert isinstance(res, ComparisonResult) and res.by == ("ST004D01T",) and res.within == ("CNT",)
    ours = res.to_frame()
    _close(ours, _frame(ref["diff_math_gender_by_cnt"]))
    assert (ours["n_excluded"] == 0).all()
    # each group's pupils, counted directly from the file (for disclosure checks)
    data = des.data
    girls = data[data["ST004D01T"] == 1].groupby("CNT").size()
    boys = data[data["ST004D01T"] == 2].groupby("CNT").size()
    assert ours["n_1"].tolist() == girls.loc[ours["CNT"]].tolist()
    assert ours["n_2"].tolist() == boys.loc[ours["CNT"]].tolist()
    assert (ours["n_1"] + ours["n_2"] == ours["n"]).all()


def test_regression_coefficients_and_r2(case):
    _, des, ref = case
    ours = des.regress("MATH ~ ESCS + BELONG + C(ST004D01T)", by="CNT").to_frame()
    theirs = _frame(ref["regress_math_by_cnt"])
    # patsy orders the factor before the numeric terms; R keeps formula order: match by name
    name = {"factor(ST004D01T)2": "C(ST004D01T)[T.2]"}
    theirs["term"] = theirs["term"].map(lambda t: name.get(t, t))
    merged = ours.merge(theirs, on=["CNT", "term"], suffixes=("", "_r"), validate="1:1")
    assert len(merged) == len(theirs) == len(ours)
    for c in ("estimate", "se", "df"):
        np.testing.assert_allclose(merged[c], merged[c + "_r"], rtol=RTOL, atol=0, err_msg=c)


def test_plausible_value_as_predictor(case):
    _, des, ref = case
    ours = des.regress("BELONG ~ MATH + ESCS").to_frame()
    ours = ours[ours["term"] != "R-squared"]
    theirs = _frame(ref["regress_belong_on_math"])
    _close(ours, theirs)


@pytest.mark.parametrize("method, mse, rtype", [
    ("fay", True, "Fay"), ("fay", False, "Fay"), ("brr", True, "BRR"), ("jk1", True, "JK1"),
    ("jk2", True, "JK2"), ("bootstrap", True, "bootstrap")])
def test_replicate_conventions_match_svrepdesign(case, method, mse, rtype):
    data, _, ref = case
    conv = _frame(ref["conventions_mean_belong"])
    row = conv[(conv["type"] == rtype) & (conv["mse"] == mse)].iloc[0]
    first = sorted(data["CNT"].unique())[0]
    d1 = data[(data["CNT"] == first) & data["BELONG"].notna()]
    des = SurveyDesign(d1, weight="W_FSTUWT", replicates="W_FSTURWT", method=method, mse=mse)
    assert des.scale == pytest.approx(row["scale"], rel=1e-15)
    ours = des.mean("BELONG").to_frame()
    np.testing.assert_allclose(ours["estimate"], row["estimate"], rtol=RTOL, atol=0)
    np.testing.assert_allclose(ours["se"], row["se"], rtol=RTOL, atol=0)


# ---------------------------------------------------------------------- invariants, known truth
def _toy(n=400, n_rep=8, n_pv=5, seed=3):
    rng = np.random.default_rng(seed)
    d = pd.DataFrame({"W": rng.uniform(1, 3, n), "x1": rng.normal(size=n), "x2": rng.normal(size=n),
                      "g": rng.choice(["a", "b", "c"], n)})
    sign = np.where(rng.random((n, n_rep)) < 0.5, 1, -1)
    for r in range(n_rep):
        d[f"RW{r + 1}"] = d["W"] * (1 + 0.5 * sign[:, r])
    for m in range(n_pv):
        d[f"PV{m + 1}Y"] = 2 + d["x1"] - 0.5 * d["x2"] + rng.normal(size=n)
    return d


@pytest.mark.parametrize("n", [400, 2 * 4096 + 77])  # one block of pupils; several and a part-block
def test_regression_equals_loop_of_weighted_fits(n):
    d = _toy(n=n)
    des = SurveyDesign(d, weight="W", replicates="RW", pv="auto")
    ours = des.regress("Y ~ x1 + x2").to_frame()
    X = np.column_stack([np.ones(len(d)), d["x1"], d["x2"]])
    W = d[["W"] + des.replicates].to_numpy()
    thetas = np.empty((W.shape[1], 5, 3))
    for r in range(W.shape[1]):
        sw = np.sqrt(W[:, r])
        for m in range(5):
            thetas[r, m] = np.linalg.lstsq(X * sw[:, None], d[f"PV{m + 1}Y"] * sw, rcond=None)[0]
    est = thetas[0].mean(axis=0)
    U = (0.5 ** -2 / 8 * ((thetas[1:] - thetas[0]) ** 2).sum(axis=0)).mean(axis=0)
    B = thetas[0].var(axis=0, ddof=1)
    se = np.sqrt(U + 1.2 * B)
    np.testing.assert_allclose(ours["estimate"][:3], est, rtol=1e-10, atol=0)
    np.testing.assert_allclose(ours["se"][:3], se, rtol=1e-10, atol=0)


def test_regression_from_plain_columns_equals_patsys_design():
    """Plain numeric predictors are taken straight from the columns; a term patsy must build (here
    I(x1), the same values) gives the same numbers, with the predictor or the outcome a PV group."""
    d = _toy(n=600)
    d["PV1X"], d["PV2X"], d["PV3X"], d["PV4X"], d["PV5X"] = (d["x1"] + 0.1 * k for k in range(5))
    des = SurveyDesign(d, weight="W", replicates="RW", pv="auto")
    for plain, built in (("Y ~ x1 + x2", "Y ~ I(x1) + x2"), ("x2 ~ X", "x2 ~ I(X)")):
        a, b = des.regress(plain).to_frame(), des.regress(built).to_frame()
        assert len(a) == len(b) and list(a["term"])[0] == list(b["term"])[0] == "(Intercept)"
        for col in ("estimate", "se", "df"):
            np.testing.assert_allclose(a[col], b[col], rtol=1e-12, atol=0)


def test_replicates_equal_to_the_final_weight_are_refused_however_far_down_they_differ():
    """The check that every replicate equals the final weight looks at the first rows first; a
    difference past them still counts, and no difference anywhere is refused."""
    d = _toy(n=3000, n_rep=4)
    for r in range(1, 5):
        d[f"RW{r}"] = d["W"]
    with pytest.raises(DataError, match="equals the final weight"):
        SurveyDesign(d, weight="W", replicates="RW")
    d.loc[2500, "RW3"] = 1.5 * d.loc[2500, "W"]  # one pupil, far below the first rows
    assert SurveyDesign(d, weight="W", replicates="RW").replicates == ["RW1", "RW2", "RW3", "RW4"]


def test_pisa_variance_formula_is_005_times_sum_of_squares():
    d = _toy(n_rep=80)
    des = SurveyDesign(d, weight="W", replicates="RW")
    assert des.scale == pytest.approx(0.05, rel=1e-15)
    w = d[["W"] + des.replicates].to_numpy()
    means = (w * d["x1"].to_numpy()[:, None]).sum(0) / w.sum(0)
    se = np.sqrt(0.05 * ((means[1:] - means[0]) ** 2).sum())
    np.testing.assert_allclose(des.mean("x1").to_frame()["se"], se, rtol=1e-12, atol=0)


def test_by_several_columns_and_missing_group_counted():
    d = _toy()
    d["h"] = np.where(np.arange(len(d)) % 2 == 0, "even", "odd")
    d.loc[:4, "g"] = None
    des = SurveyDesign(d, weight="W", replicates="RW")
    res = des.mean("x1", by=["g", "h"])
    out = res.to_frame()
    assert list(res.table.columns[:2]) == ["g", "h"] and len(out) == 7
    assert out["n"].sum() == len(d) - 5 == res.n
    assert res.n_excluded == 5 and res.ledger.entries[0].n_dropped == 5     # the pupils without a group
    # the 5 pupils without a group are a row of their own: no estimate, counted in n_excluded
    nogroup = out[out["g"].isna()]
    assert len(nogroup) == 1 and nogroup["n"].iloc[0] == 0 and nogroup["n_excluded"].iloc[0] == 5
    assert nogroup["estimate"].isna().all()
    assert out["n"].sum() + out["n_excluded"].sum() == len(d)


def test_diff_percent_in_percentage_points():
    d = _toy()
    d["hi"] = (d["x1"] > 0).astype(int)
    des = SurveyDesign(d, weight="W", replicates="RW")
    res = des.diff("hi", by="g", levels=("a", "b"), stat="percent")
    out = res.to_frame()
    # pupils of group c are outside the comparison: in the ledger, not counted as excluded
    assert res.ledger.entries[0].step == "in the groups compared"
    assert res.ledger.entries[0].n_dropped == int((d["g"] == "c").sum())
    assert res.n_excluded == 0 and res.n == int(d["g"].isin(["a", "b"]).sum()) == out["n"].iloc[0]
    assert res.kind == "percent" and res.by == ("g",) and "groups compared" in str(res.ledger)
    pa = des.percent("hi", by="g").to_frame().query("g == 'a' and category == 1")["estimate"].iloc[0]
    pb = des.percent("hi", by="g").to_frame().query("g == 'b' and category == 1")["estimate"].iloc[0]
    np.testing.assert_allclose(out["estimate"].iloc[0], pa - pb, rtol=1e-12, atol=0)


def test_pv_auto_and_errors():
    d = _toy()
    des = SurveyDesign(d, weight="W", replicates="RW", pv="auto")
    assert des.pv == {"Y": [f"PV{m}Y" for m in range(1, 6)]}
    with pytest.raises(ColumnError, match="NOPE"):
        SurveyDesign(d, weight="W", replicates="NOPE")
    with pytest.raises(DataError, match="method"):
        SurveyDesign(d, weight="W", replicates="RW", method="sdr")
    bad = d.copy()
    bad.loc[3, "RW2"] = np.nan
    with pytest.raises(DataError, match="RW2"):
        SurveyDesign(bad, weight="W", replicates="RW")
    with pytest.raises(ColumnError, match="zzz"):
        des.mean("zzz")
    with pytest.raises(DataError, match="groups"):
        des.diff("Y", by="g")
    with pytest.raises(DataError, match="between 0 and 100"):
        des.percentile("Y", 0)


def test_read_pisa_from_spss(tmp_path):
    pyreadstat = pytest.importorskip("pyreadstat")
    src = pd.read_csv(ROOT / "tests/reference/data/survey_pisa_fixture.csv")
    path = tmp_path / "pisa.sav"
    pyreadstat.write_sav(src, str(path))
    got = read_pisa(path, columns=["ESCS", "BELONG", "MATH"], countries=["BBB"])
    assert set(got["CNT"]) == {"BBB"}
    assert list(got.columns) == (["CNT", "W_FSTUWT"] + [f"W_FSTURWT{r}" for r in range(1, 81)]
                                 + ["ESCS", "BELONG"] + [f"PV{m}MATH" for m in range(1, 11)])
    expect = src[src["CNT"] == "BBB"].reset_index(drop=True)
    np.testing.assert_allclose(got["PV3MATH"], expect["PV3MATH"], rtol=0, atol=0)
    assert got["BELONG"].isna().sum() == expect["BELONG"].isna().sum()
    with pytest.raises(ColumnError, match="PV1SCIE|SCIE") as err:
        read_pisa(path, columns=["ESCS", "SCIE", "WEALTH"])
    assert "WEALTH" in str(err.value)
    with pytest.raises(DataError, match="ZZZ"):
        read_pisa(path, columns=["ESCS"], countries=["ZZZ"])


def test_read_pisa_csv_reads_only_requested_columns():
    path = ROOT / "tests/reference/data/survey_pisa_fixture.csv"
    got = read_pisa(path, columns=["BELONG"])
    assert list(got.columns) == ["CNT", "W_FSTUWT"] + [f"W_FSTURWT{r}" for r in range(1, 81)] + ["BELONG"]
    assert len(got) == 600
    with pytest.raises(ColumnError, match="PV1READ|READ"):
        read_pisa(path, columns=["READ"])


# ---------------------------------------------------------------------- results, formulas, PISA
def test_results_carry_their_metadata_not_attrs():
    d = _toy()
    d.loc[:9, "x1"] = np.nan
    des = SurveyDesign(d, weight="W", replicates="RW", pv="auto", ci_level=0.9)
    res = des.mean("x1", by="g")
    assert isinstance(res, SurveyEstimate) and res.kind == "mean" and res.ci_level == 0.9
    assert res.weight == "W" and "fay" in res.method and res.n == len(d) - 10 and res.n_excluded == 10
    frame = res.to_frame()
    assert list(frame.columns[:6]) == ["estimate", "se", "ci_low", "ci_high", "df", "n"]
    assert "statistic" not in frame and "p" not in frame       # no test of a zero mean
    assert not frame.attrs and "var_within" in frame and "var_between" in frame
    assert des.mean("x1", ci_level=0.5).ci_level == 0.5
    corr = des.corr("Y", "x1").to_frame()
    assert corr[["outcome", "predictor"]].iloc[0].tolist() == ["Y", "x1"]
    assert list(corr.columns[:8]) == ["estimate", "se", "ci_low", "ci_high", "statistic", "df", "p", "n"]


def test_regression_intercept_and_r2_without_a_test():
    d = _toy()
    out = SurveyDesign(d, weight="W", replicates="RW", pv="auto").regress("Y ~ x1 + x2").to_frame()
    assert out["term"].tolist() == ["(Intercept)", "x1", "x2", "R-squared"]
    r2 = out.set_index("term").loc["R-squared"]
    assert np.isnan(r2["p"]) and np.isnan(r2["statistic"]) and 0 < r2["estimate"] < 1
    assert out.set_index("term").loc[["x1", "x2"], "p"].notna().all()


def test_formula_terms_come_from_patsy():
    """Transformations, factors and interactions are read as patsy reads them (no regex)."""
    d = _toy()
    d["z"] = np.random.default_rng(9).normal(size=len(d))
    des = SurveyDesign(d, weight="W", replicates="RW", pv="auto")
    out = des.regress("Y ~ I(x1**2) + C(g) + x1:z").to_frame()
    assert out["term"].tolist() == ["(Intercept)", "C(g)[T.b]", "C(g)[T.c]", "I(x1 ** 2)", "x1:z", "R-squared"]
    # the same numbers as a design with those columns made by hand
    d2 = d.assign(x1sq=d["x1"] ** 2, gb=(d["g"] == "b").astype(float), gc=(d["g"] == "c").astype(float),
                  x1z=d["x1"] * d["z"])
    hand = SurveyDesign(d2, weight="W", replicates="RW", pv="auto").regress("Y ~ gb + gc + x1sq + x1z").to_frame()
    np.testing.assert_allclose(out["estimate"], hand["estimate"], rtol=1e-9)
    np.testing.assert_allclose(out["se"], hand["se"], rtol=1e-9)
    # a transformed outcome, and a plausible value as a predictor, take the per-value path
    logged = des.regress("np.exp(x2) ~ Y").to_frame()
    assert logged["term"].tolist() == ["(Intercept)", "Y", "R-squared"]
    with pytest.raises(ColumnError, match="nope"):
        des.regress("Y ~ x1 + nope")
    with pytest.raises(ColumnError, match="nope"):
        des.regress("nope ~ x1")
    with pytest.raises(DataError, match="outcome ~ predictors"):
        des.regress("x1 + x2")


def test_pisa_names_are_not_the_design_defaults():
    d = _toy(n_rep=80)
    with pytest.raises(TypeError, match="weight"):
        SurveyDesign(d)
    pisa = d.rename(columns={"W": "W_FSTUWT", **{f"RW{r}": f"W_FSTURWT{r}" for r in range(1, 81)}})
    des = pisa_design(pisa)
    assert des.weight == "W_FSTUWT" and len(des.replicates) == 80 and des.method == "fay"
    assert des.rho == 0.5 and des.scale == pytest.approx(0.05) and des.pv == {"Y": [f"PV{m}Y" for m in range(1, 6)]}
    general = SurveyDesign(pisa, weight="W_FSTUWT", replicates="W_FSTURWT", pv="auto")
    pd.testing.assert_frame_equal(des.mean("Y").to_frame(), general.mean("Y").to_frame())
