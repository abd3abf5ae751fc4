"""Tests of the course's figure helpers: plots.shares, plots.transitions, plots.staff (they draw what
the tables say, and refuse tables without the columns they need)."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from scipy import stats  # noqa: E402

from belonging_lib import ColumnError  # noqa: E402
from belonging_lib.disclosure import summarise_by  # noqa: E402
from belonging_lib.plots.shares import share_bars  # noqa: E402
from belonging_lib.plots.staff import school_scatter  # noqa: E402
from belonging_lib.plots.transitions import wave_means_plot  # noqa: E402


def test_share_bars_draws_percentages_and_intervals():
    t = pd.DataFrame({"item": ["a", "b"], "estimate": [0.1, 0.25], "ci_low": [0.05, 0.2], "ci_high": [0.2, 0.3]})
    ax = share_bars(t, label="item")
    assert [p.get_height() for p in ax.patches] == pytest.approx([10, 25])
    segs = ax.collections[0].get_segments()
    assert segs[0][:, 1] == pytest.approx([5, 20]) and segs[1][:, 1] == pytest.approx([20, 30])
    with pytest.raises(ColumnError, match="ci_low"):
        share_bars(t.drop(columns="ci_low"), label="item")


def test_wave_means_plot_draws_shown_rows_with_t_intervals():
    rng = np.random.default_rng(1)
    d = pd.DataFrame({"wave": np.repeat([1, 2, 3], 40), "g": np.tile([0, 1], 60), "y": rng.normal(3, 1, 120)})
    d = d[~((d["g"] == 1) & (d["wave"] == 3) & (d.index % 8 != 1))]   # a small group, suppressed
    table = summarise_by(d, outcome="y", by=["wave", "g"])
    ax = wave_means_plot(table, by="g")
    lines = [c.lines[0] for c in ax.containers]
    shown = table.shown.set_index(["g", "wave"])
    m = shown.loc[(0, 2)]
    assert np.isnan(lines[0].get_ydata()[0])                                  # secondary suppression
    assert lines[0].get_ydata()[1] == pytest.approx(m["mean"])
    assert np.isnan(lines[1].get_ydata()[2])                                  # under the threshold
    half = stats.t.ppf(0.975, m["n"] - 1) * m["sd"] / np.sqrt(m["n"])
    seg = [s for s in map(np.asarray, ax.containers[0].lines[2][0].get_segments()) if s.shape == (2, 2)
           and s[:, 1].mean() == pytest.approx(m["mean"])][0]
    assert seg[1, 1] - seg[0, 1] == pytest.approx(2 * half)
    with pytest.raises(ColumnError):
        wave_means_plot(pd.DataFrame({"wave": [1], "mean": [2.0]}))


def test_school_scatter_draws_one_point_per_school():
    d = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": [2.0, 2.5, 2.9, 4.1], "phase": list("ppss")})
    ax = school_scatter(d, x="x", y="y", hue="phase", xlabel="X")
    points = ax.collections[0].get_offsets()
    assert np.asarray(points).tolist() == d[["x", "y"]].to_numpy().tolist() and ax.get_xlabel() == "X"
    with pytest.raises(ColumnError):
        school_scatter(d, x="x", y="nope")
