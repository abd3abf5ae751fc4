"""Tests of belonging_lib.plots.items (figures draw what the statistics say)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from belonging_lib import ColumnError, DataError  # noqa: E402
from belonging_lib.plots.items import diverging_bars, item_total_plot, response_shares  # noqa: E402
from belonging_lib.reliability import reliability  # noqa: E402

D = pd.DataFrame({"a": [1, 2, 3, 4, 5, 5, np.nan], "b": [1, 1, 2, 2, 3, 4, 5], "c": [2, 3, 3, 4, 4, 5, 5]})


def test_response_shares():
    s = response_shares(D, response_range=(1, 5))
    np.testing.assert_allclose(s.sum(axis=1), 1.0, rtol=1e-12, atol=0)
    assert s.loc["a", 5] == pytest.approx(2 / 6, rel=1e-12, abs=0)
    with pytest.raises(DataError, match=r"Item 'a' holds 5, outside the response codes 1-4"):
        response_shares(D, response_range=(1, 4))


def test_diverging_bars_centres_on_the_neutral_category():
    ax = diverging_bars(D, response_range=(1, 5), labels=["SD", "D", "N", "A", "SA"], sort=False)
    bars = [p for p in ax.patches]
    # item "a": 1/6 strongly disagree + 1/6 disagree + half of 1/6 neutral lie left of zero
    first = bars[0]                     # category 1 of item a
    assert first.get_x() == pytest.approx(-100 * (1 / 6 + 1 / 6 + 1 / 12), rel=1e-9, abs=0)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["SD", "D", "N", "A", "SA"]
    plt.close("all")


def test_diverging_bars_needs_a_scale():
    with pytest.raises(DataError, match="response_range"):
        diverging_bars(D)


def test_item_total_plot_marks_weak_items():
    d = D.copy()
    d["z"] = [5, 1, 4, 2, 3, 1, 2]      # unrelated item
    rel = reliability(d, missing="pairwise")
    ax = item_total_plot(rel)
    texts = [t.get_text() for t in ax.texts]
    assert any(t.startswith("alpha without") for t in texts)
    with pytest.raises(DataError, match="ReliabilityResult"):
        item_total_plot(D)
    plt.close("all")


def test_items_name_the_columns_to_plot():
    wide = D.assign(school_id=[f"s{i}" for i in range(len(D))])
    pd.testing.assert_frame_equal(response_shares(wide, items=list(D.columns), response_range=(1, 5)),
                                  response_shares(D, response_range=(1, 5)))
    with pytest.raises(ColumnError, match="nope"):
        response_shares(wide, items=["nope"], response_range=(1, 5))
