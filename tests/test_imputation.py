"""Multiple imputation and Rubin's rules.

Pooling is checked against R (mitools::MIcombine for Rubin's df, mice::pool.scalar
for the Barnard-Rubin df; tests/reference/imputation.R). Imputation is checked
against the known truth of simulated missing-at-random data.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from belonging_lib import DataError
from belonging_lib.imputation import PooledResult, impute, pool

REF = json.loads((Path(__file__).parent / "reference" / "imputation.json").read_text())


def _tables(ref=REF):
    est = np.array(ref["input"]["estimate"])
    se = np.array(ref["input"]["se"])
    terms = ref["input"]["terms"]
    return [pd.DataFrame({"estimate": est[i], "se": se[i]}, index=terms) for i in range(est.shape[0])]


def test_pool_matches_mitools_micombine():
    res = pool(_tables())
    assert isinstance(res, PooledResult) and res.m == len(_tables()) and res.df_complete is None
    out = res.table
    r = REF["rubin"]
    np.testing.assert_allclose(out["estimate"], r["estimate"], rtol=1e-12, atol=0)
    np.testing.assert_allclose(out["se"] ** 2, r["variance"], rtol=1e-12, atol=0)
    np.testing.assert_allclose(out["df"], r["df"], rtol=1e-10, atol=0)
    np.testing.assert_allclose(out["fmi"], r["fmi"], rtol=1e-10, atol=0)


def test_pool_barnard_rubin_matches_mice():
    out = pool(_tables(), df_complete=REF["input"]["df_complete"]).table
    r = REF["barnard_rubin"]
    np.testing.assert_allclose(out["df"], r["df"], rtol=1e-10, atol=0)
    np.testing.assert_allclose(out["fmi"], r["fmi"], rtol=1e-10, atol=0)
    np.testing.assert_allclose(out["riv"], r["riv"], rtol=1e-10, atol=0)


def test_pool_detects_a_perturbed_reference():
    """The comparison is sharp: a 0.1% change in one input moves the pooled df."""
    tables = _tables()
    tables[0].iloc[0, 0] *= 1.001
    out = pool(tables).table
    assert not np.allclose(out["df"], REF["rubin"]["df"], rtol=1e-6, atol=0)


def test_pool_identical_imputations_give_no_between_variance():
    t = pd.DataFrame({"estimate": [1.0, 2.0], "se": [0.5, 0.2]}, index=["a", "b"])
    out = pool([t, t, t]).table
    np.testing.assert_allclose(out["se"], t["se"], rtol=1e-12, atol=0)
    assert np.isinf(out["df"]).all()
    np.testing.assert_allclose(out["fmi"], 0.0, atol=1e-12)


def test_pool_rejects_mismatched_terms_and_single_result():
    a = pd.DataFrame({"estimate": [1.0], "se": [0.1]}, index=["x"])
    b = pd.DataFrame({"estimate": [1.0], "se": [0.1]}, index=["z"])
    with pytest.raises(DataError, match="terms"):
        pool([a, b])
    with pytest.raises(DataError, match="at least two"):
        pool([a])
    with pytest.raises(DataError, match="'se'"):
        pool([a.drop(columns="se"), a])


def _mar_data(seed, n=600):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    z = 0.6 * x + rng.normal(scale=0.8, size=n)        # auxiliary variable
    y = 1.0 + 0.5 * x + 0.7 * z + rng.normal(size=n)
    d = pd.DataFrame({"x": x, "z": z, "y": y})
    # x is missing more often when y is high: missing at random given y (MAR), not MCAR.
    p = 1 / (1 + np.exp(-(-1.2 + 1.1 * (y - y.mean()))))
    d.loc[rng.uniform(size=n) < p, "x"] = np.nan
    return d


def _ols(d):
    import statsmodels.formula.api as smf
    fit = smf.ols("y ~ x + z", d).fit()
    return pd.DataFrame({"estimate": fit.params, "se": fit.bse})


@pytest.mark.slow
def test_imputation_recovers_truth_where_complete_cases_are_biased():
    d = _mar_data(11)
    imp = impute(d, m=10, seed=3)
    pooled = imp.fit(_ols, df_complete=len(d) - 3).table
    cc = _ols(d.dropna())
    # truth: the coefficient of x is 0.5
    assert pooled.loc["x", "ci_low"] < 0.5 < pooled.loc["x", "ci_high"]
    assert abs(pooled.loc["x", "estimate"] - 0.5) < abs(cc.loc["x", "estimate"] - 0.5) + 0.05
    assert (imp.missing.loc["x", "n_missing"] == d["x"].isna().sum())
    for completed in imp.datasets:
        assert completed.shape == d.shape and not completed.isna().any().any()
        observed = d["x"].notna()
        pd.testing.assert_series_equal(completed.loc[observed, "x"], d.loc[observed, "x"])


def test_impute_is_reproducible_with_a_seed():
    d = _mar_data(2, n=150)
    a = impute(d, m=2, seed=9, burn_in=2, between=1)
    b = impute(d, m=2, seed=9, burn_in=2, between=1)
    pd.testing.assert_frame_equal(a.datasets[1], b.datasets[1])


def test_impute_bad_input():
    d = _mar_data(2, n=50)
    with pytest.raises(DataError, match="nothing to impute"):
        impute(d.dropna(), m=2)
    d2 = d.assign(group=["a"] * 50)
    with pytest.raises(DataError, match="'group' is not numeric"):
        impute(d2, columns=["x", "y", "group"], m=2)
    d3 = d.assign(empty=np.nan)
    with pytest.raises(DataError, match="missing in every row"):
        impute(d3, columns=["x", "y", "empty"], m=2)
    with pytest.raises(DataError, match="`m`"):
        impute(d, m=1)


def test_pool_table_is_tidy_and_names_rubins_variances():
    res = pool(_tables(), ci_level=0.9)
    frame = res.to_frame()
    assert list(frame.columns[:8]) == ["term", "estimate", "se", "ci_low", "ci_high", "statistic", "df", "p"]
    np.testing.assert_allclose(frame["var_total"], frame["var_within"] + (1 + 1 / res.m) * frame["var_between"],
                               rtol=1e-12)
    np.testing.assert_allclose(frame["se"] ** 2, frame["var_total"], rtol=1e-12)
    assert res.ci_level == 0.9 and not frame.attrs
    wide = pool(_tables()).table
    assert ((frame["ci_high"] - frame["ci_low"]).to_numpy() < (wide["ci_high"] - wide["ci_low"]).to_numpy()).all()


def test_survey_and_imputation_share_one_pooling():
    """The plausible-value combination of a survey design is the same Rubin's rules as pool()."""
    from belonging_lib.survey import SurveyDesign

    rng = np.random.default_rng(4)
    n = 300
    d = pd.DataFrame({"W": rng.uniform(1, 3, n)})
    for r in range(6):
        d[f"RW{r + 1}"] = d["W"] * (1 + 0.5 * rng.choice([-1, 1], n))
    for m in range(5):
        d[f"PV{m + 1}Y"] = rng.normal(500, 100, n)
    des = SurveyDesign(d, weight="W", replicates="RW", pv="auto")
    survey = des.mean("Y").to_frame().iloc[0]
    tables = [des.mean(f"PV{m + 1}Y").to_frame().assign(term="mean").set_index("term")[["estimate", "se"]]
              for m in range(5)]
    pooled = pool(tables).table.iloc[0]
    for c in ("estimate", "se", "df", "var_within", "var_between"):
        np.testing.assert_allclose(survey[c], pooled[c], rtol=1e-12, err_msg=c)


def test_fit_accepts_a_result_with_to_frame():
    from belonging_lib.models import ols

    d = _mar_data(5, n=200)
    imp = impute(d, m=3, burn_in=2, between=1)
    res = imp.fit(lambda x: ols(data=x, formula="y ~ x + z"), df_complete=len(d) - 3)
    assert res.table.index.tolist() == ["(Intercept)", "x", "z"] and res.m == 3
    again = impute(d, m=3, burn_in=2, between=1)          # seed=0 by default: the same data sets
    pd.testing.assert_frame_equal(imp.datasets[2], again.datasets[2])
