"""bl.models.group_gaps against R (lme4 + lmerTest; lm + clubSandwich CR2).

Reference: tests/reference/group_gaps.R -> group_gaps.json, on the fixture
tests/reference/data/group_gaps.csv (groups a-d unevenly spread over 30 schools).
"""

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from belonging_lib._errors import ColumnError, DataError, ModelError
from belonging_lib.models import group_gaps

REF = Path(__file__).parent / "reference"
DATA = REF / "data" / "group_gaps.csv"
R = json.loads((REF / "group_gaps.json").read_text())


@pytest.fixture(scope="module")
def data():
    return pd.read_csv(DATA, dtype={"school": str, "group": str}, keep_default_na=False, na_values=[""])


def test_fixture_is_the_one_r_read():
    assert hashlib.md5(DATA.read_bytes()).hexdigest() == R["md5"]


@pytest.mark.parametrize("case", ["unadjusted", "adjusted"])
@pytest.mark.parametrize("method,key", [("multilevel", "multilevel"), ("cr2", "cr2")])
def test_gaps_match_r(data, case, method, key):
    ref = R[case][key]
    covs = R[case]["covariates"] or None
    res = group_gaps(data, outcome="y", by="group", cluster="school", reference="a", covariates=covs, method=method)
    out = res.to_frame()
    assert out["term"].tolist() == [f"group[{g}]" for g in "bcd"]
    assert [t.replace("group", "") for t in ref["terms"]] == out["group"].tolist()
    np.testing.assert_allclose(out["estimate"], ref["estimate"], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(out["se"], ref["se"], rtol=1e-5)
    np.testing.assert_allclose(out["df"], ref["df"], rtol=1e-4)
    np.testing.assert_allclose(out["p"], ref["p"], rtol=1e-4, atol=1e-12)
    np.testing.assert_allclose(out["ci_low"], ref["ci_low"], rtol=1e-5)
    np.testing.assert_allclose(out["ci_high"], ref["ci_high"], rtol=1e-5)
    assert res.n == R[case]["n"] and res.n_excluded == R[case]["n_excluded"]
    assert (out["n_excluded"] == R[case]["n_excluded"]).all()
    assert (out["ci_level"] == 0.95).all()
    assert out["n"].sum() + out["n_reference"].iloc[0] == res.n


def test_tidy_columns_and_group_sizes(data):
    res = group_gaps(data, outcome="y", by="group", cluster="school", reference="a")
    assert list(res.to_frame().columns) == ["term", "estimate", "se", "ci_low", "ci_high", "statistic", "df", "p",
                                            "n", "group", "reference", "ci_level", "n_reference", "n_excluded"]
    out = res.to_frame()
    np.testing.assert_allclose(out["statistic"], out["estimate"] / out["se"], rtol=1e-12)
    complete = data.dropna(subset=["y", "group"])
    assert res.group_sizes.to_dict() == complete["group"].value_counts().sort_index().to_dict()
    assert "each group minus 'a'" in str(res)


def test_default_reference_is_the_largest_group_or_first_category(data):
    assert group_gaps(data, outcome="y", by="group", cluster="school").reference == "a"
    cat = data.assign(group=pd.Categorical(data["group"], ["c", "a", "b", "d"]))
    res = group_gaps(cat, outcome="y", by="group", cluster="school")
    assert res.reference == "c" and res.to_frame()["group"].tolist() == ["a", "b", "d"]


def test_reference_changes_only_the_sign_and_baseline(data):
    ab = group_gaps(data, outcome="y", by="group", cluster="school", reference="a").to_frame().set_index("group")
    ba = group_gaps(data, outcome="y", by="group", cluster="school", reference="b").to_frame().set_index("group")
    assert ba.loc["a", "estimate"] == pytest.approx(-ab.loc["b", "estimate"], rel=1e-8)
    assert ba.loc["a", "se"] == pytest.approx(ab.loc["b", "se"], rel=1e-6)


def test_numeric_groups_and_confidence_level(data):
    d = data.assign(code=data["group"].map({"a": 0, "b": 1, "c": 2, "d": 3}))
    res = group_gaps(d, outcome="y", by="code", cluster="school", reference=0, ci_level=0.9)
    out = res.to_frame()
    assert out["group"].tolist() == ["1", "2", "3"] and (out["ci_level"] == 0.9).all()
    wide = group_gaps(d, outcome="y", by="code", cluster="school", reference="0").to_frame()
    assert (out["ci_high"] - out["ci_low"] < wide["ci_high"] - wide["ci_low"]).all()


def test_errors_name_the_problem(data):
    with pytest.raises(ColumnError, match="nope"):
        group_gaps(data, outcome="y", by="nope", cluster="school")
    with pytest.raises(DataError, match="'z'"):
        group_gaps(data, outcome="y", by="group", cluster="school", reference="z")
    with pytest.raises(DataError, match="at least two"):
        group_gaps(data[data["group"] == "a"], outcome="y", by="group", cluster="school")
    with pytest.raises(DataError, match="must be numeric"):
        group_gaps(data.assign(y=data["y"].astype(str).replace("nan", "x")), outcome="y", by="group",
                   cluster="school")
    with pytest.raises(ModelError, match="at least two"):
        group_gaps(data[data["school"] == "S01"], outcome="y", by="group", cluster="school")
    with pytest.raises(DataError, match="method"):
        group_gaps(data, outcome="y", by="group", cluster="school", method="ols")


def test_gaps_plot_draws_the_estimates_and_skips_suppressed_rows(data):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from belonging_lib.disclosure import DisclosurePolicy, suppress
    from belonging_lib.plots.gaps import gaps_plot

    table = group_gaps(data, outcome="y", by="group", cluster="school", reference="a").to_frame()
    small = int(table["n"].min())
    policy = DisclosurePolicy(threshold=small + 1)
    shown = suppress(table, count_col=["n", "n_reference"], policy=policy, labels=["term", "group", "reference"])
    ax = gaps_plot(shown, label="group", truth={"b": -0.3})
    drawn = [t.get_text().split(" vs ")[0] for t in ax.get_yticklabels()]
    assert table.loc[table["n"] == small, "group"].iloc[0] not in drawn
    assert set(drawn) == set(shown.shown["group"])
    xs = np.concatenate([np.asarray(line.get_xdata(), float) for line in ax.lines if len(line.get_xdata()) == len(drawn)])
    assert set(np.round(shown.shown["estimate"].to_numpy(float), 10)) <= set(np.round(xs, 10))
    plt.close("all")


# scale_fairness on the synthetic sample: engage_3 is biased against SEND pupils by construction
# (TRUTH.json survey.dif_engage_3_send) and every item is invariant across gender.
FIVE = "\n".join(f"{p} =~ " + " + ".join(f"{s}_{i}" for i in range(1, 5))
                 for p, s in [("staff", "tr_care"), ("peers", "peer"), ("engagement", "engage"),
                              ("respect", "respect"), ("voice", "voice")])


@pytest.fixture(scope="module")
def survey():
    import belonging_lib as bl
    return bl.load_sample("survey")


def test_scale_fairness_frees_the_item_biased_by_construction(survey):
    from belonging_lib.models import scale_fairness
    res = scale_fairness(survey.assign(g=survey["send"].map({0: "no", 1: "yes"})), model=FIVE, group="g")
    assert res.verdict == "partial scalar" and res.freed == ("engage_3 ~ 1",)
    assert res.to_frame().loc["g", "items freed"] == "engage_3"
    gender = scale_fairness(survey, model=FIVE, group="gender")
    assert gender.verdict == "scalar" and gender.freed == () and gender.too_small == ()


def test_scale_fairness_still_reads_by_until_the_next_release(survey):
    from belonging_lib.models import scale_fairness

    with pytest.warns(DeprecationWarning, match=r"scale_fairness\(group=...\)"):
        res = scale_fairness(survey, model=FIVE, by="gender", min_n=10**6)
    assert res.group == "gender" and res.verdict == "not checked"
    assert res.to_frame().index.name == "group"
    with pytest.warns(DeprecationWarning, match="FairnessResult.group"):
        assert res.by == "gender"
    with pytest.raises(TypeError, match="both `by` and its new name `group`"):
        scale_fairness(survey, model=FIVE, by="gender", group="gender")


def test_scale_fairness_leaves_out_small_groups_and_says_so(survey):
    from belonging_lib.models import scale_fairness
    complete = survey[[f"{s}_{i}" for s in ("tr_care", "peer", "engage", "respect", "voice")
                       for i in range(1, 5)]].notna().all(axis=1)
    counts = survey.loc[complete, "ethnicity"].value_counts()
    cut = int(counts.sort_values().iloc[-2])           # only the two largest groups reach it
    res = scale_fairness(survey, model=FIVE, group="ethnicity", min_n=cut)
    assert set(res.groups_checked) == set(counts.index[counts >= cut])
    assert set(res.too_small) == set(counts.index[counts < cut])
    none = scale_fairness(survey, model=FIVE, group="ethnicity", min_n=int(counts.max()) + 1)
    assert none.verdict == "not checked" and none.groups_checked == ()
    assert set(none.too_small) == set(counts.index)
    assert np.isnan(none.to_frame().loc["ethnicity", "scalar delta CFI"])
