"""The order-of-measures figure and the school-means figure (belonging_lib.plots.timeline)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from scipy import stats  # noqa: E402

from belonging_lib import DataError  # noqa: E402
from belonging_lib.plots import measurement_timeline, school_means_plot  # noqa: E402


def test_timeline_draws_every_step_in_order():
    steps = [("first", "A"), ("second", "B"), ("third", "C")]
    ax = measurement_timeline(steps)
    texts = [t.get_text() for t in ax.texts]
    assert texts.index("first") < texts.index("second") < texts.index("third")
    xs = {t.get_text(): t.get_position()[0] for t in ax.texts}
    assert xs["A"] < xs["B"] < xs["C"]
    # one arrow between each pair of boxes, plus the time axis
    assert sum(1 for c in ax.texts if getattr(c, "arrow_patch", None) is not None) == 3


def test_timeline_rejects_bad_steps():
    with pytest.raises(DataError):
        measurement_timeline([("only", "one")])


def test_school_means_intervals_are_t_intervals():
    t = pd.DataFrame({"mean": [52.0, 47.0, 50.0], "sd": [9.0, 10.0, 8.0], "n": [30, 12, 40]})
    ax = school_means_plot(t, reference=49.5)
    y = ax.lines[0].get_ydata()
    assert list(y) == [47.0, 50.0, 52.0]
    segs = ax.collections[0].get_segments()
    halves = [abs(s[1][1] - s[0][1]) / 2 for s in segs]
    expected = [stats.t.ppf(0.975, n - 1) * sd / np.sqrt(n) for sd, n in [(10, 12), (8, 40), (9, 30)]]
    assert np.allclose(halves, expected)


def test_school_means_needs_columns():
    with pytest.raises(DataError, match="missing"):
        school_means_plot(pd.DataFrame({"mean": [1.0]}))
