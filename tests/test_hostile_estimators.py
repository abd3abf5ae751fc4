"""Estimators under hostile input (issue 20: "Confident nonsense instead of an error").

Each test is a case found by feeding the estimators what a careless user or a bad file gives them.
Before the guards each of them returned confident nonsense (a CI of +-5.7e152, zero-width bootstrap
intervals, a third arm pooled into control), crashed in numpy/scipy/patsy, or flooded the screen
with RuntimeWarnings.  Now each is refused with the library's own error, naming the column, the rows
(counted from 1) and the value, before any numerical routine sees the data.  A RuntimeWarning fails.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from belonging_lib import BelongingWarning, ColumnError, DataError, ModelError

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")


# ----------------------------------------------------------------------------- data

def trial(n_per_arm: int, pupils: int = 20, seed: int = 1) -> pd.DataFrame:
    """A cluster-randomised trial with ``n_per_arm`` schools in each arm (0/1 arm column)."""
    rng = np.random.default_rng(seed)
    n_schools = 2 * n_per_arm
    school = np.repeat([f"S{i:02d}" for i in range(n_schools)], pupils)
    arm = np.repeat(np.arange(n_schools) % 2, pupils)
    u = np.repeat(rng.normal(0, 0.4, n_schools), pupils)
    pre = rng.normal(size=n_schools * pupils)
    post = 0.6 * pre + 0.3 * arm + u + rng.normal(size=n_schools * pupils)
    fsm = rng.integers(0, 2, n_schools * pupils)
    return pd.DataFrame({"school": school, "arm": arm, "pre": pre, "post": post, "fsm": fsm,
                         "complied": arm})


def pupils(n: int = 120, seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    d = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    d["y"] = 0.5 * d.a + 0.3 * d.b + rng.normal(size=n)
    d["school"] = np.repeat([f"S{i}" for i in range(n // 12)], 12)[:n]
    return d


def three_arms(n: int = 90, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"y": rng.normal(size=n), "pre": rng.normal(size=n), "g": ["T", "C", "X"] * (n // 3),
                         "lost": rng.integers(0, 2, n)})


def items(n: int = 80, k: int = 5, seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    f = rng.normal(size=n)
    return pd.DataFrame({f"i{j}": np.clip(np.round(3 + f + rng.normal(0, 0.8, n)), 1, 5) for j in range(k)})


# ----------------------------------------------------------------------------- clusters per arm

def test_crt_with_one_school_per_arm_is_an_error_not_a_ci_of_1e152():
    from belonging_lib.trials import crt_effect

    with pytest.raises(ModelError, match=r"1 treated and 1 control cluster.*at least 2 clusters in each arm"):
        crt_effect(trial(1, pupils=30), "post ~ arm + pre", cluster="school", treatment="arm", progress=False)


def test_crt_with_few_schools_per_arm_warns_with_the_reason():
    from belonging_lib.trials import crt_effect

    with pytest.warns(BelongingWarning, match=r"Only 4 treated and 4 control clusters.*fewer than 10"):
        res = crt_effect(trial(4), "post ~ arm + pre", cluster="school", treatment="arm", progress=False)
    assert np.isfinite([res.estimate, res.ci_low, res.ci_high]).all()


def test_crt_with_enough_schools_per_arm_does_not_warn_about_them():
    from belonging_lib.trials import crt_effect

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        crt_effect(trial(10, pupils=10), "post ~ arm + pre", cluster="school", treatment="arm", progress=False)
    assert not [w for w in caught if "clusters of 'school' are analysed" in str(w.message)]


def test_cace_with_one_school_per_arm_is_an_error():
    from belonging_lib.trials import cace

    with pytest.raises(ModelError, match="at least 2 clusters in each arm"):
        cace(trial(1, pupils=30), outcome="post", treatment="arm", complied="complied", cluster="school",
             covariates="pre", ci_method="delta")


def test_crt_subgroup_with_one_school_in_an_arm_is_an_error_naming_the_subgroup():
    from belonging_lib.trials import crt_subgroups

    d = trial(12, pupils=10)
    # subgroup 1 only in schools S00 (control) and S01 (treated): one school per arm
    d["fsm"] = (d["school"].isin(["S00", "S01"])).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BelongingWarning)
        with pytest.raises(ModelError, match=r"Subgroup fsm = 1.*at least 2 clusters in each arm"):
            crt_subgroups(d, "post ~ arm + pre", cluster="school", treatment="arm", subgroup="fsm")


@pytest.mark.parametrize("n_clusters, p_treated", [(5, 0.2), (10, 0.9)])
def test_simulated_power_with_one_school_in_an_arm_is_an_error(n_clusters, p_treated):
    from belonging_lib.trials import simulate_power

    with pytest.raises(DataError, match="at least 2 clusters in each arm"):
        simulate_power(effect_size=0.3, n_clusters=n_clusters, cluster_size=3, icc=0.1, p_treated=p_treated,
                       n_sims=20, seed=1, progress=False)


# ----------------------------------------------------------------------------- bootstrap over one cluster

def test_dominance_cluster_bootstrap_over_one_cluster_is_an_error():
    from belonging_lib.models import dominance

    d = pupils().assign(school="only school")
    with pytest.raises(ModelError, match=r"at least 2 clusters of 'school'.*no width"):
        dominance(d, outcome="y", predictors=["a", "b"], n_boot=100, cluster="school", seed=1, progress=False)


def test_mediation_cluster_bootstrap_over_one_cluster_says_so():
    from belonging_lib.models import mediation

    d = pupils().assign(school="only school")
    with pytest.raises(ModelError, match=r"cluster bootstrap of the indirect effect needs at least 2 clusters"):
        mediation(d, predictor="a", mediator="b", outcome="y", cluster="school", n_boot=200, seed=1,
                  progress=False)


# ----------------------------------------------------------------------------- a third arm

THREE_ARM_CALLS = {
    "cohens_d": lambda tr, d: tr.cohens_d(d, outcome="y", treatment="g", treated="T"),
    "hedges_g": lambda tr, d: tr.hedges_g(d, outcome="y", treatment="g", treated="T"),
    "ancova": lambda tr, d: tr.ancova(d, outcome="y", treatment="g", pretest="pre", treated="T"),
    "attrition": lambda tr, d: tr.attrition(d, treatment="g", treated="T", attrited="lost"),
    "balance": lambda tr, d: tr.balance(d, treatment="g", covariates=["pre"], treated="T"),
    "consort_counts": lambda tr, d: tr.consort_counts(d.assign(school=np.arange(len(d)) // 5), treatment="g",
                                                      treated="T", cluster="school", attrited="lost"),
}


@pytest.mark.parametrize("name", list(THREE_ARM_CALLS))
def test_a_third_arm_is_an_error_not_pooled_into_control(name):
    from belonging_lib import trials

    with pytest.raises(DataError, match=r"'g' holds 3 arms \('T' \(30 rows\), 'C' \(30 rows\), 'X' \(30 rows\)\)"):
        THREE_ARM_CALLS[name](trials, three_arms())


def test_two_arms_with_missing_values_still_work():
    from belonging_lib.trials import cohens_d

    d = three_arms()
    d.loc[d["g"] == "X", "g"] = None
    res = cohens_d(d, outcome="y", treatment="g", treated="T")
    assert (res.n_treated, res.n_control, res.n_excluded) == (30, 30, 30)


# ----------------------------------------------------------------------------- one inf

def _with_inf(frame: pd.DataFrame, column: str, row: int, value=np.inf) -> pd.DataFrame:
    out = frame.copy()
    out.loc[out.index[row], column] = value
    return out


INF_CALLS = {
    # name: (call, column holding the inf, row (from 0) holding it)
    "dominance": (lambda d: __import__("belonging_lib.models", fromlist=["x"]).dominance(
        d, outcome="y", predictors=["a", "b"]), "a", 5),
    "hedges_g": (lambda d: __import__("belonging_lib.trials", fromlist=["x"]).hedges_g(
        d.assign(arm=np.arange(len(d)) % 2), outcome="y", treatment="arm"), "y", 3),
    "ols": (lambda d: __import__("belonging_lib.models", fromlist=["x"]).ols(d, "y ~ a + b"), "b", 7),
    "logit": (lambda d: __import__("belonging_lib.models", fromlist=["x"]).logit(
        d.assign(yb=(d.y > 0).astype(int)), "yb ~ a + b"), "a", 9),
    "multilevel": (lambda d: __import__("belonging_lib.models", fromlist=["x"]).multilevel(
        d, "y ~ a", cluster="school"), "a", 11),
    "null_model": (lambda d: __import__("belonging_lib.models", fromlist=["x"]).null_model(
        d, outcome="y", cluster="school"), "y", 0),
    "moderation": (lambda d: __import__("belonging_lib.models", fromlist=["x"]).moderation(
        d, outcome="y", predictor="a", moderator="b"), "b", 2),
    "mediation": (lambda d: __import__("belonging_lib.models", fromlist=["x"]).mediation(
        d, predictor="a", mediator="b", outcome="y", n_boot=100, seed=1, progress=False), "y", 4),
    "center": (lambda d: __import__("belonging_lib.models", fromlist=["x"]).center(
        d, columns="a", cluster="school"), "a", 6),
    "icc": (lambda d: __import__("belonging_lib.reliability", fromlist=["x"]).icc(
        d, outcome="y", cluster="school"), "y", 8),
    "impute": (lambda d: __import__("belonging_lib.imputation", fromlist=["x"]).impute(
        d.assign(a=d.a.where(np.arange(len(d)) % 9 != 1)), columns=["y", "a", "b"], m=2, seed=1), "b", 10),
}


@pytest.mark.parametrize("name", list(INF_CALLS))
@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_one_inf_is_a_data_error_naming_column_and_row(name, value):
    call, column, row = INF_CALLS[name]
    d = _with_inf(pupils(), column, row, value)
    with pytest.raises(DataError, match=rf"Column '{column}' holds an infinite value \({value}\) in row {row + 1} "
                                        r"\(counted from 1; 1 in all\)"):
        call(d)


def test_one_inf_in_a_trial_is_a_data_error_not_all_nan():
    from belonging_lib.trials import ancova, balance, crt_effect

    d = _with_inf(trial(10, pupils=10), "post", 7)
    with pytest.raises(DataError, match=r"Column 'post' holds an infinite value \(inf\) in row 8"):
        crt_effect(d, "post ~ arm + pre", cluster="school", treatment="arm", progress=False)
    with pytest.raises(DataError, match=r"Column 'post' holds an infinite value \(inf\) in row 8"):
        ancova(d, outcome="post", treatment="arm", pretest="pre")
    with pytest.raises(DataError, match=r"Column 'pre' holds an infinite value \(-inf\) in row 3"):
        balance(_with_inf(d, "pre", 2, -np.inf), treatment="arm", covariates=["pre"])


@pytest.mark.parametrize("fn", ["reliability", "omega", "polychoric"])
def test_one_inf_in_the_items_is_named_not_every_pupil_has_the_same_mean(fn):
    from belonging_lib import reliability as rel

    d = _with_inf(items(), "i1", 2)
    call = {"reliability": lambda: rel.reliability(d), "omega": lambda: rel.omega(d, n_factors=1),
            "polychoric": lambda: rel.polychoric(d)}[fn]
    with pytest.raises(DataError, match=r"Column 'i1' holds an infinite value \(inf\) in row 3"):
        call()


@pytest.mark.parametrize("fn", ["efa", "cfa", "parallel_analysis"])
def test_one_inf_in_factor_analysis_items_is_named(fn):
    from belonging_lib import structure

    d = _with_inf(items(), "i3", 0)
    call = {"efa": lambda: structure.efa(d, n_factors=1),
            "cfa": lambda: structure.cfa(d, "F =~ i0 + i1 + i2 + i3"),
            "parallel_analysis": lambda: structure.parallel_analysis(d, n_iter=5, seed=1)}[fn]
    with pytest.raises(DataError, match=r"Column 'i3' holds an infinite value \(inf\) in row 1"):
        call()


def test_one_inf_in_a_panel_is_named():
    from belonging_lib.transitions import growth_model, to_wide

    rng = np.random.default_rng(5)
    panel = pd.DataFrame({"id": np.repeat([f"P{i:03d}" for i in range(40)], 2), "wave": [1, 2] * 40,
                          "belonging": rng.normal(3, 0.5, 80)})
    panel.loc[4, "belonging"] = np.inf
    with pytest.raises(DataError, match=r"Column 'belonging' holds an infinite value \(inf\) in row 5"):
        to_wide(panel, id="id", wave="wave", columns="belonging", before=1, after=2)
    with pytest.raises(DataError, match=r"Column 'belonging' holds an infinite value \(inf\) in row 5"):
        growth_model(panel, outcome="belonging", wave="wave", id="id")


def test_a_transformation_that_makes_inf_is_named():
    from belonging_lib.models import ols

    d = pupils().assign(x=lambda f: np.abs(f.a))
    d.loc[d.index[4], "x"] = 0.0
    with pytest.raises(DataError, match=r"term 'np.log\(x\)'.*row 5"):
        ols(d, "y ~ np.log(x)")


# ----------------------------------------------------------------------------- formulas

@pytest.mark.parametrize("fn", ["ols", "multilevel", "crt_effect"])
def test_a_malformed_formula_is_a_model_error_quoting_it(fn):
    from belonging_lib.models import multilevel, ols
    from belonging_lib.trials import crt_effect

    d = trial(10, pupils=5)
    call = {"ols": lambda: ols(d, "post ~ pre +"),
            "multilevel": lambda: multilevel(d, "post ~ pre +", cluster="school"),
            "crt_effect": lambda: crt_effect(d, "post ~ arm + pre +", cluster="school", treatment="arm",
                                             progress=False)}[fn]
    with pytest.raises(ModelError, match=r"The formula 'post ~ (arm \+ )?pre \+' cannot be read: expected a noun"):
        call()


@pytest.mark.parametrize("column", ["x²", "pré score"])
@pytest.mark.parametrize("fn", ["ols", "multilevel"])
def test_an_unquoted_name_that_is_not_a_python_name_gets_a_q_hint(column, fn):
    from belonging_lib.models import multilevel, ols

    d = trial(10, pupils=5).rename(columns={"pre": column})
    formula = f"post ~ {column}"
    call = {"ols": lambda: ols(d, formula), "multilevel": lambda: multilevel(d, formula, cluster="school")}[fn]
    with pytest.raises(ColumnError, match=rf"names the column '{column}'.*write Q\('{column}'\)"):
        call()
    quoted = f"post ~ Q('{column}')"
    res = ols(d, quoted) if fn == "ols" else multilevel(d, quoted, cluster="school")
    assert res.n == len(d)


def test_an_unknown_name_is_named_with_close_columns():
    from belonging_lib.models import ols

    d = trial(10, pupils=5)
    with pytest.raises(ColumnError, match=r"uses 'pree', which is not a column of the data .*Did you mean 'pre'"):
        ols(d, "post ~ pree")


def test_a_unicode_column_with_a_missing_value_is_excluded_and_counted():
    from belonging_lib.models import ols

    d = trial(10, pupils=5).rename(columns={"pre": "prä"})
    d.loc[d.index[3], "prä"] = np.nan
    res = ols(d, "post ~ prä")
    assert (res.n, res.n_excluded) == (len(d) - 1, 1)


def test_a_numeric_column_holding_text_is_named_with_value_and_rows():
    from belonging_lib.models import multilevel, ols

    rng = np.random.default_rng(6)
    d = pd.DataFrame({"y": rng.normal(size=300), "x": rng.normal(size=300).astype(object),
                      "school": np.repeat(np.arange(30), 10)})
    d.loc[[4, 9], "x"] = "n/a"
    for call in (lambda: ols(d, "y ~ x"), lambda: multilevel(d, "y ~ x", cluster="school")):
        with pytest.raises(DataError, match=r"Column 'x' holds numbers, but also non-numeric text such as 'n/a' "
                                            r"in rows 5, 10 \(counted from 1; 2 values in all\)"):
            call()
    # the same column declared categorical is the user's choice
    assert ols(d.iloc[:40], "y ~ C(x)").n == 40


# ----------------------------------------------------------------------------- exclusions counted

def test_crt_subgroups_count_pupils_in_no_subgroup():
    from belonging_lib.trials import crt_subgroups

    d = trial(10, pupils=10)
    d.loc[d.index[:7], "fsm"] = np.nan
    d.loc[d.index[50:53], "pre"] = np.nan
    res = crt_subgroups(d, "post ~ arm + pre", cluster="school", treatment="arm", subgroup="fsm")
    assert res.n_excluded == 10
    assert res.table["n"].sum() + res.n_excluded == len(d)
    assert res.table["n_excluded"].sum() == 3
    assert any("10 pupils are in no subgroup" in line for line in res.notes())


def test_cace_counts_excluded_pupils():
    from belonging_lib.trials import cace

    d = trial(10, pupils=10)
    d.loc[d.index[:4], "post"] = np.nan
    res = cace(d, outcome="post", treatment="arm", complied="complied", cluster="school", covariates="pre",
               ci_method="delta")
    assert (res.n, res.n_excluded) == (len(d) - 4, 4)


def test_omega_counts_excluded_rows():
    from belonging_lib.reliability import omega

    d = items(120, 6)
    d.loc[d.index[:5], :] = np.nan
    d.loc[d.index[5:8], "i2"] = np.nan
    pairwise = omega(d, n_factors=1)
    listwise = omega(d, n_factors=1, missing="listwise")
    assert (pairwise.n, pairwise.n_excluded) == (115, 5)
    assert (listwise.n, listwise.n_excluded) == (112, 8)


def test_to_wide_refuses_rows_without_a_pupil_id_instead_of_dropping_them_uncounted():
    from belonging_lib.transitions import to_wide

    panel = pd.DataFrame({"id": ["P1", "P1", None, "P2", "P2"], "wave": [1, 2, 2, 1, 2],
                          "belonging": [3.0, 3.2, 2.0, 2.5, 2.9]})
    with pytest.raises(DataError, match=r"identifier 'id' is missing in row 3 \(counted from 1; 1 in all\)"):
        to_wide(panel, id="id", wave="wave", columns="belonging", before=1, after=2)


def test_parallel_analysis_counts_rows_with_a_missing_item():
    from belonging_lib.structure import parallel_analysis

    d = items(120, 5)
    d.loc[d.index[:6], "i0"] = np.nan
    listwise = parallel_analysis(d, n_iter=5, missing="listwise", seed=1)
    pairwise = parallel_analysis(d, n_iter=5, seed=1)
    assert (listwise.n, listwise.n_excluded) == (114, 6)
    assert (pairwise.n, pairwise.n_excluded) == (114, 6)
    assert any("6 rows with a missing item excluded listwise" in line for line in listwise.notes())


@pytest.mark.parametrize("column", ["arm", "school"])
def test_consort_counts_refuses_a_randomised_pupil_without_an_arm_or_a_school(column):
    from belonging_lib.trials import consort_counts

    d = trial(4, pupils=5).astype({column: object})
    d.loc[d.index[[2, 11]], column] = None
    with pytest.raises(DataError, match=rf"Column '{column}' is missing for 2 randomised pupils \(rows 3, 12"):
        consort_counts(d, treatment="arm", cluster="school", outcome="post")


def test_cace_refuses_an_infinite_compliance_value():
    from belonging_lib.trials import cace

    d = trial(10, pupils=10).astype({"complied": float})
    d.loc[d.index[12], "complied"] = np.inf
    with pytest.raises(DataError, match=r"Column 'complied' holds an infinite value \(inf\) in row 13"):
        cace(d, outcome="post", treatment="arm", complied="complied", cluster="school", ci_method="delta")


def test_a_heywood_case_in_invariance_gives_missing_standardised_values_not_a_division_by_zero():
    from belonging_lib.structure import invariance

    rng = np.random.default_rng(0)
    n = 39
    f = rng.normal(size=n)
    d = pd.DataFrame({f"x{j}": 0.8 * f + rng.normal(size=n) for j in range(4)})
    d["grp"] = ["0" if i % 2 == 0 else "00" for i in range(n)]
    with pytest.warns(BelongingWarning, match="Heywood"):
        table = invariance(d, "F =~ x0 + x1 + x2 + x3", group="grp").table
    assert np.isfinite(table[["chisq", "df"]].to_numpy(dtype=float)).all()


def test_a_measurement_model_accepts_unicode_item_names_as_lavaan_does():
    from belonging_lib.structure import cfa

    d = items(200, 4)
    d.columns = ["zugehörigkeit", "élève", "пример", "x_3"]
    res = cfa(d, "Zugehörigkeit =~ zugehörigkeit + élève + пример + x_3")
    assert list(res.loadings["item"]) == list(d.columns)


@pytest.mark.parametrize("value", [2.0, 2e-9, -3e12])
def test_icc_of_a_constant_outcome_at_any_scale_is_a_data_error(value):
    from belonging_lib.reliability import icc

    d = pd.DataFrame({"school": ["0", "00"] * 10, "y": np.full(20, value)}).iloc[:19]
    with pytest.raises(DataError, match="does not vary within any group"):
        icc(d, outcome="y", cluster="school")
