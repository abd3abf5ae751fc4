"""Tests of belonging_lib.tables (APA formatting)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from belonging_lib import DataError
from belonging_lib.disclosure import suppress
from belonging_lib.tables import apa_table, format_number, format_p_apa


@pytest.mark.parametrize("p,want", [(0.0004, "< .001"), (0.001, ".001"), (0.0341, ".034"), (0.5, ".500"),
                                    (1.0, "1.000"), (float("nan"), "")])
def test_format_p(p, want):
    assert format_p_apa(p) == want


def test_format_p_rejects_impossible():
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        format_p_apa(1.2)


def test_format_number():
    assert format_number(-0.004, digits=2) == "0.00"     # no negative zero
    assert format_number(0.456, leading_zero=False) == ".46"
    assert format_number(12, digits=2) == "12"
    assert format_number(np.nan) == ""


@pytest.fixture
def tidy():
    return pd.DataFrame({"term": ["intercept", "fsm"], "estimate": [3.612, -0.153], "se": [0.02, 0.041],
                         "ci_low": [3.57, -0.233], "ci_high": [3.65, -0.073], "statistic": [180.6, -3.73],
                         "df": [3129.0, 3129.0], "p": [1e-12, 0.0339], "n": [3131, 3131]})


def test_apa_table_markdown_html_latex(tidy):
    t = apa_table(tidy, statistic="t", title="Belonging and FSM", number=2, note="OLS.")
    md = t.markdown
    assert "*Table 2 Belonging and FSM*" in md
    assert "| fsm | -0.15 | 0.04 | [-0.23, -0.07] | -3.73 | 3129 | .034 | 3131 |" in md
    assert "< .001" in md and "*Note.* OLS." in md
    assert "<em>p</em>" in t.html and "<caption" in t.html and t._repr_html_() == t.html
    assert r"\begin{tabular}{lrrrrrrr}" in t.latex and r"\textit{p}" in t.latex
    assert list(t.cells.columns) == ["Term", "Estimate", "SE", "95% CI", "t", "df", "p", "N"]
    assert tidy["estimate"][0] == 3.612  # the input is not rounded


def test_apa_table_with_suppressed_cells():
    s = suppress(pd.DataFrame({"group": ["a", "b", "c"], "n": [50, 4, 30], "mean": [3.1, 2.2, 3.4]}), count_col="n")
    t = apa_table(s)
    assert t.cells["M"].tolist() == ["3.10", "[c]", "[c]"]
    assert t.cells["N"].tolist() == ["50", "[c]", "[c]"]
    assert "fewer than 10 pupils" in t.note


def test_apa_table_from_result_and_columns(tidy):
    class R:
        def to_frame(self):
            return tidy
    t = apa_table(R(), columns=["term", "estimate"], digits=3)
    assert t.cells.to_dict("list") == {"Term": ["intercept", "fsm"], "Estimate": ["3.612", "-0.153"]}
