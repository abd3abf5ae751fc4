"""The OECD average, total and differences from the average (issue 28), against hand computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from belonging_lib._errors import DataError
from belonging_lib.survey import average, from_average, pisa_design, total

PISA = pd.read_csv(__import__("pathlib").Path(__file__).resolve().parents[1] / "data" / "sample" / "pisa.csv.gz")


@pytest.fixture(scope="module")
def by_country():
    des = pisa_design(PISA)
    return des, des.mean("MATH", by="CNT"), des.regress("MATH ~ ESCS", by="CNT")


def test_average_is_the_mean_of_countries_with_the_manuals_se(by_country):
    _, mean, _ = by_country
    t = mean.table
    got = average(mean).table.iloc[0]
    assert got["estimate"] == pytest.approx(t["estimate"].mean(), rel=1e-14)
    assert got["se"] == pytest.approx(np.sqrt((t["se"] ** 2).sum()) / len(t), rel=1e-14)
    assert got["countries"] == 6 and got["n"] == t["n"].sum()


def test_difference_from_the_average_counts_the_country_in_the_average(by_country):
    _, _, reg = by_country
    t = reg.table
    got = from_average(reg).table
    C = t["CNT"].nunique()
    for cnt in ["AAA", "EEE"]:
        for term in ["ESCS", "R-squared"]:
            rows = t[t["term"] == term]
            mine = rows[rows["CNT"] == cnt].iloc[0]
            others = rows[rows["CNT"] != cnt]
            d = got[(got["CNT"] == cnt) & (got["term"] == term)].iloc[0]
            assert d["estimate"] == pytest.approx(mine["estimate"] - rows["estimate"].mean(), rel=1e-12)
            var = ((C - 1) ** 2 * mine["se"] ** 2 + (others["se"] ** 2).sum()) / C**2
            assert d["se"] == pytest.approx(np.sqrt(var), rel=1e-12)


def test_total_weights_countries_by_population(by_country):
    des, mean, _ = by_country
    t = mean.table
    pop = PISA.groupby("CNT")["W_FSTUWT"].sum().reindex(t["CNT"]).to_numpy()
    share = pop / pop.sum()
    got = total(mean, des).table.iloc[0]
    assert got["estimate"] == pytest.approx(np.sum(share * t["estimate"]), rel=1e-13)
    assert got["se"] == pytest.approx(np.sqrt(np.sum(share**2 * t["se"] ** 2)), rel=1e-13)
    # for a mean, the population-weighted combination is the mean of all countries' pupils together
    assert got["estimate"] == pytest.approx(des.mean("MATH").table["estimate"].iloc[0], rel=1e-12)


def test_combining_needs_a_breakdown_by_one_country_column(by_country):
    des, _, _ = by_country
    with pytest.raises(DataError, match="by='CNT'"):
        average(des.mean("MATH"))
