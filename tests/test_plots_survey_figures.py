"""The dot-and-interval chart draws what it is given, and refuses a table it cannot draw."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from belonging_lib._errors import ColumnError
from belonging_lib.plots.survey_figures import estimates_with_intervals


def test_draws_each_row_with_its_interval_top_to_bottom():
    t = pd.DataFrame({"CNT": ["AAA", "BBB", "CCC"], "estimate": [60.0, 70.0, 80.0],
                      "ci_low": [55.0, 66.0, 71.0], "ci_high": [65.0, 74.0, 89.0]})
    ax = estimates_with_intervals(t, label="CNT", reference=70.0, title="T")
    assert [tl.get_text() for tl in ax.get_yticklabels()] == ["AAA", "BBB", "CCC"]
    assert list(ax.get_yticks()) == [2, 1, 0]
    line = ax.lines[0]
    np.testing.assert_allclose(line.get_xdata(), [60, 70, 80])
    segs = ax.collections[0].get_segments()        # the error bars
    np.testing.assert_allclose([s[:, 0] for s in segs], [[55, 65], [66, 74], [71, 89]])
    assert ax.get_title() == "T"


def test_missing_columns_and_empty_tables_are_errors():
    with pytest.raises(ColumnError, match="ci_high"):
        estimates_with_intervals(pd.DataFrame({"g": ["a"], "estimate": [1.0], "ci_low": [0.0]}), label="g")
    with pytest.raises(ColumnError, match="no rows"):
        estimates_with_intervals(pd.DataFrame(columns=["g", "estimate", "ci_low", "ci_high"]), label="g")


def test_histogram_counts_every_non_missing_value():
    from belonging_lib.plots.survey_figures import score_histogram

    ax = score_histogram(pd.Series([1.0, 2.0, 2.0, np.nan, 5.0]), bins=4, xlabel="X", title="H")
    heights = [p.get_height() for p in ax.patches]
    assert sum(heights) == 4 and len(heights) == 4
    assert ax.get_xlabel() == "X" and ax.get_title() == "H"
    with pytest.raises(ColumnError, match="no values"):
        score_histogram(pd.Series([np.nan, "a"]))


def test_draws_a_survey_estimate_without_its_withheld_rows():
    from belonging_lib.disclosure import DisclosurePolicy, set_default_policy
    from belonging_lib.survey import SurveyDesign

    rng = np.random.default_rng(2)
    g = ["a"] * 40 + ["b"] * 45 + ["c"] * 50 + ["d"] * 3
    d = pd.DataFrame({"g": g, "W": rng.uniform(1, 2, len(g)), "y": rng.normal(size=len(g))})
    for r in range(4):
        d[f"RW{r + 1}"] = d["W"] * rng.choice([0.5, 1.5], len(g))
    set_default_policy(DisclosurePolicy(threshold=10, secondary=True))
    try:
        res = SurveyDesign(d, weight="W", replicates="RW").mean("y", by="g")
    finally:
        set_default_policy(None)
    shown = res.to_frame()[~res.to_frame()["suppressed"]]
    ax = estimates_with_intervals(res, label="g")
    assert [tl.get_text() for tl in ax.get_yticklabels()] == shown["g"].tolist()
    assert "d" not in shown["g"].tolist()
    np.testing.assert_allclose(ax.lines[0].get_xdata(), shown["estimate"])
