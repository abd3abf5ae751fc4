"""A school's mean against the rest, with a cluster-robust interval, against R (clubSandwich CR1S)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from belonging_lib._errors import DataError
from belonging_lib.school_intervals import _cr1s_mean, school_differences

HERE = Path(__file__).resolve().parent
REF = json.loads((HERE / "reference" / "school_intervals.json").read_text())
PSSM = pd.read_csv(HERE / "fixtures" / "school_intervals_pssm.csv", dtype={"school_id": str}).dropna()


@pytest.mark.parametrize("school", ["S01", "S07"])
def test_difference_and_interval_match_r(school):
    out = school_differences(PSSM, school=school, scores={"Belonging (PSSM)": "pssm"}).to_frame().iloc[0]
    for f in ["estimate", "se", "df", "ci_low", "ci_high"]:
        assert out[f] == pytest.approx(REF[school][f], rel=1e-9), f
    assert out["n_school"] == (PSSM["school_id"] == school).sum()


def test_cr1s_mean_of_equal_clusters_is_the_between_cluster_standard_error():
    import numpy as np

    y = np.array([1.0, 1.0, 3.0, 3.0, 5.0, 5.0])
    m, se, g = _cr1s_mean(y, np.array(["a", "a", "b", "b", "c", "c"]))
    assert (m, g) == (3.0, 3)
    assert se == pytest.approx(np.std([1, 3, 5], ddof=1) / np.sqrt(3))


def test_school_differences_on_the_survey_uses_those_pieces():
    import belonging_lib as bl

    survey = bl.load_sample("survey")
    out = school_differences(survey, school="S01", scores={"Belonging (PSSM)": "pssm"})
    assert out.school == "S01" and list(out.to_frame().columns[:4]) == ["score", "estimate", "se", "ci_low"]
    row = out.to_frame().iloc[0]
    assert row["ci_low"] < row["estimate"] < row["ci_high"]
    assert row["n_clusters_rest"] == survey["school_id"].nunique() - 1
    from belonging_lib.report import report_tables

    t = report_tables(survey, school="S01", by=[])
    assert row["estimate"] == pytest.approx(t.overall.data.loc[0, "difference"], rel=1e-12)


def test_unknown_school_is_an_error():
    import belonging_lib as bl

    with pytest.raises(DataError, match="S999"):
        school_differences(bl.load_sample("survey"), school="S999")


def test_cluster_mean_matches_r_and_counts_exclusions():
    from belonging_lib.school_intervals import cluster_mean

    with_gap = pd.concat([PSSM, pd.DataFrame({"school_id": ["S01"], "pssm": [float("nan")]})], ignore_index=True)
    out = cluster_mean(with_gap, outcome="pssm", cluster="school_id")
    for f in ["estimate", "se", "ci_low", "ci_high"]:
        assert getattr(out, f) == pytest.approx(REF["all"][f], rel=1e-9), f
    assert out.n_excluded == 1 and out.n == len(PSSM)


def test_cluster_mean_names_a_non_numeric_value():
    from belonging_lib.school_intervals import cluster_mean

    bad = PSSM.head(5).astype({"pssm": object})
    bad.loc[2, "pssm"] = "high"
    with pytest.raises(DataError, match=r"'pssm'.*rows \[3\].*'high'"):
        cluster_mean(bad, outcome="pssm", cluster="school_id")


def test_share_intervals_are_cluster_means_of_the_flag_in_percent_and_clipped():
    from belonging_lib.school_intervals import cluster_mean, share_intervals

    d = PSSM.assign(low=PSSM["pssm"] < 3, rare=False)
    d.loc[d.index[0], "rare"] = True
    shares = share_intervals(d, columns=["low", "rare"], cluster="school_id")
    assert list(shares.to_frame().columns[:7]) == ["flag", "estimate", "se", "ci_low", "ci_high", "df", "n"]
    out = shares.to_frame().set_index("flag")
    ref = cluster_mean(d.assign(y=d["low"].astype(float)), outcome="y", cluster="school_id")
    assert out.loc["low", "estimate"] == pytest.approx(100 * ref.estimate)
    assert out.loc["low", "ci_high"] == pytest.approx(100 * ref.ci_high)
    assert out.loc["low", "count"] == int((PSSM["pssm"] < 3).sum())
    assert out.loc["rare", "ci_low"] == 0.0            # a Wald interval below zero is clipped
    with pytest.raises(DataError, match="'pssm'"):
        share_intervals(d, columns=["pssm"], cluster="school_id")


def test_the_cluster_robust_mean_is_the_intercept_only_cr1_fit():
    """The one cluster-robust mean equals fit_ols's CR1 (clubSandwich's CR1S) with only an intercept."""
    from belonging_lib.models._linear import cluster_robust_mean, fit_ols

    rng = np.random.default_rng(4)
    groups = rng.integers(0, 12, 200).astype(str)
    y = rng.normal(size=200) + (groups == "3")
    m, se, g = cluster_robust_mean(y, groups)
    fit = fit_ols(y, np.ones((200, 1)), ["(Intercept)"], groups=groups, vcov="CR1")
    assert g == fit.n_clusters == 12
    assert m == pytest.approx(fit.params[0], rel=1e-12)
    assert se == pytest.approx(float(np.sqrt(fit.vcov[0, 0])), rel=1e-10)
    assert fit.df == g - 1
