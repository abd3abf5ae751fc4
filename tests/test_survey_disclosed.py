"""Survey results keep every number; the disclosure rules are applied where a result is shown.

``SurveyDesign``'s methods return the raw table with the pupils behind each group;
``result.disclosed(policy=..., context=...)`` is the protected table, and ``to_frame()`` and the
displays show it by default.  The rules themselves are checked in test_hostile_disclosure.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from belonging_lib import disclosure as D
from belonging_lib.disclosure import DisclosurePolicy, SuppressedTable, count_by
from belonging_lib.survey import SurveyDesign


@pytest.fixture(autouse=True)
def _fresh():
    D.set_default_policy(None)
    D.set_context(None)
    D._forget_automatic()
    yield
    D.set_default_policy(None)
    D.set_context(None)
    D._forget_automatic()


def _design(groups: dict[str, int], *, seed=3):
    rng = np.random.default_rng(seed)
    g = [k for k, n in groups.items() for _ in range(n)]
    n = len(g)
    d = pd.DataFrame(
        {
            "pupil_id": [f"P{i:04d}" for i in range(n)],
            "g": g,
            "W": rng.uniform(1, 3, n),
            "y": rng.normal(size=n),
            "x": rng.normal(size=n),
            "girl": rng.integers(0, 2, n),
        }
    )
    for r in range(4):
        d[f"RW{r + 1}"] = d["W"] * (1 + 0.5 * rng.choice([-1, 1], n))
    return d, SurveyDesign(d, weight="W", replicates="RW")


def test_the_estimator_keeps_every_number():
    _, des = _design({"a": 40, "b": 35, "c": 3})
    res = des.mean("y", by="g")
    raw = res.table.set_index("g")
    assert "suppressed" not in res.table.columns
    assert np.isfinite(raw.loc["c", "estimate"]) and raw.loc["c", "n"] == 3
    # the raw frame is the table, tidy columns first; the default frame is the protected one
    pd.testing.assert_frame_equal(res.to_frame(disclosure=False).set_index("g")[raw.columns], raw)
    shown = res.to_frame().set_index("g")
    assert shown.loc["c", "suppressed"] and np.isnan(shown.loc["c", "estimate"])
    assert shown.loc["b", "suppressed"] and not shown.loc["a", "suppressed"]  # secondary suppression
    assert shown.loc["a", "estimate"] == raw.loc["a", "estimate"]


def test_disclosed_is_a_suppressed_table_under_the_policy_passed():
    _, des = _design({"a": 40, "b": 35, "c": 3})
    res = des.mean("y", by="g")
    st = res.disclosed()
    assert isinstance(st, SuppressedTable)
    c = st.data.index[st.data["g"] == "c"][0]
    assert st.mask.loc[c, "estimate"] and st.mask.loc[c, "n"] and not st.mask.loc[c, "g"]
    assert st.display().loc[c, "estimate"] == st.policy.symbol and st.footnote
    assert st.n_primary == 1 and st.n_secondary == 1
    # a lower threshold shows the group of three; a switched-off policy shows everything
    assert not res.disclosed(policy=DisclosurePolicy(threshold=3)).mask.to_numpy().any()
    assert not res.disclosed(policy=DisclosurePolicy(enabled=False)).mask.to_numpy().any()
    # the result itself did not change
    assert np.isfinite(res.table.loc[res.table["g"] == "c", "estimate"]).all()


def test_the_same_call_gives_the_same_numbers_whatever_was_shown_before():
    d, des = _design({"a": 9, "b": 50, "c": 60})
    plain = des.mean("y", by="g").table
    with D.context() as ctx:
        count_by(d[d["g"] == "b"], by="g")  # publishes b = 50
        res = des.mean("y", by="g")
        pd.testing.assert_frame_equal(res.table, plain)  # raw: not touched by the context
        shown = res.to_frame().set_index("g")
        alone = res.disclosed(context=False).data.set_index("g")
    # a is small; b hides it from the total, but b was published, so c must go too
    assert shown["suppressed"].all()
    assert alone.loc[["a", "b"], "estimate"].isna().all() and np.isfinite(alone.loc["c", "estimate"])
    assert len(ctx.published()) > 0


def test_showing_a_result_again_records_nothing_new():
    _, des = _design({"a": 9, "b": 50, "c": 60})
    with D.context() as ctx:
        res = des.mean("y", by="g")
        assert len(ctx.published()) == 0  # computing publishes nothing
        first = res.disclosed()
        n = len(ctx.published())
        assert n > 0
        res.to_frame()
        str(res)
        res._repr_html_()
        again = res.disclosed()
        assert len(ctx.published()) == n
    pd.testing.assert_frame_equal(first.data, again.data)
    first.data.loc[:, "estimate"] = 0.0  # a copy: the stored table is not changed
    assert not (res.disclosed(context=ctx).data["estimate"].fillna(1) == 0).any()


def test_displays_show_the_protected_table():
    _, des = _design({"a": 40, "b": 35, "c": 3})
    res = des.mean("y", by="g")
    raw_c = f"{res.table.loc[res.table['g'] == 'c', 'estimate'].iloc[0]:.2f}"
    raw_b = f"{res.table.loc[res.table['g'] == 'b', 'estimate'].iloc[0]:.2f}"
    for text in (str(res), repr(res), res.summary(), res._repr_html_()):
        assert raw_c not in text and raw_b not in text
        assert "withheld by the disclosure policy" in text
    assert raw_c in res.to_frame(disclosure=False).round(2).to_string(float_format=lambda v: f"{v:.2f}")


def test_small_categories_are_withheld_only_when_shown():
    _, des = _design({"a": 40, "b": 35, "c": 3})
    res = des.percent("g")
    raw = res.table.set_index("category")
    assert np.isfinite(raw.loc["c", "estimate"])
    assert np.allclose(raw["estimate"].sum(), 100.0)
    shown = res.to_frame().set_index("category")
    assert shown.loc["c", "suppressed"] and np.isnan(shown.loc["c", "estimate"])
    assert shown.loc["b", "suppressed"]  # the three add to 100: one more goes


def test_a_difference_is_withheld_by_its_smaller_group():
    d, _ = _design({"a": 40, "b": 60})
    d2 = d.copy()
    in_a = (d2["g"] == "a").to_numpy()
    d2.loc[in_a, "girl"] = np.where(d2.index[in_a] % 10 == 0, 1, 0)  # 4 girls in a
    des = SurveyDesign(d2, weight="W", replicates="RW")
    res = des.diff("y", by="girl", levels=(1, 0), within="g")
    raw = res.table.set_index("g")
    assert raw.loc["a", "n_1"] == 4 and np.isfinite(raw.loc["a", "estimate"])
    shown = res.to_frame().set_index("g")
    assert shown.loc["a", "suppressed"] and shown.loc["b", "suppressed"]  # b by secondary suppression
    assert not res.disclosed(policy=DisclosurePolicy(threshold=4)).mask.to_numpy().any()


def test_a_regression_is_withheld_for_too_few_residual_df_only_when_shown():
    _, des = _design({"a": 40, "b": 12, "c": 45})
    res = des.regress("y ~ x", by="g")
    assert res.table["estimate"].notna().all()
    strict = res.disclosed(policy=DisclosurePolicy(min_residual_df=15))
    withheld = strict.mask.any(axis=1).to_numpy()
    assert (withheld == (strict.data["g"] == "b").to_numpy()).all()  # 12 pupils - 2 coefficients < 15
    assert not res.disclosed(policy=DisclosurePolicy(min_residual_df=10)).mask.to_numpy().any()


def test_without_a_context_the_data_sets_own_records_a_table_once():
    d, des = _design({"a": 9, "b": 50, "c": 60})
    res = des.mean("y", by="g")
    res.to_frame()
    own = D.automatic_context(d)
    n = len(own.published())
    assert n > 0
    str(res)
    res._repr_html_()
    res.disclosed()
    assert len(own.published()) == n
