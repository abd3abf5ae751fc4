"""Results over several countries: the OECD average, the OECD total and each country's difference from the
average, from a survey analysis broken down by country (``by="CNT"``).

The formulas are those of the OECD's *PISA Data Analysis Manual: SPSS, Second Edition* (OECD, 2009;
chapters 11, "Standard Error on a Difference", and 12, "OECD Total and OECD Average";
https://www.oecd.org/education/school/programmeforinternationalstudentassessmentpisa/pisadataanalysismanualspssandsassecondedition.htm),
as R's Rrepest computes them.  Countries are sampled independently, so their estimates are
independent:

- the OECD **average** is the arithmetic mean of the C country estimates, with
  :math:`SE = \\sqrt{\\sum_c SE_c^2} / C`;
- the OECD **total** weights each country by its population (the sum of its final weights),
  :math:`\\sum_c P_c \\hat\\theta_c / P`, with :math:`SE = \\sqrt{\\sum_c (P_c / P)^2 SE_c^2}`;
- a country's **difference from the average** must allow for the country being part of the average:
  :math:`Var(\\hat\\theta_i - \\bar\\theta) = ((C - 1)^2 SE_i^2 + \\sum_{c \\ne i} SE_c^2) / C^2`.

Intervals and p-values are normal-theory (``df`` infinite).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._errors import DataError
from .._results import coef_table
from .._validation import check_probability
from .design import SurveyDesign, SurveyEstimate

__all__ = ["average", "total", "from_average"]

_KEYS = ("variable", "category", "percentile", "term")


def _by_country(result: SurveyEstimate):
    if not isinstance(result, SurveyEstimate):
        raise DataError(f"`result` must be a SurveyEstimate from a SurveyDesign analysis, not a "
                        f"{type(result).__name__}.")
    if len(result.by) != 1:
        raise DataError("The OECD average and total combine an analysis broken down by one country column "
                        f"(by='CNT'), but this result has by={list(result.by)!r}.")
    col = result.by[0]
    # the countries as they may be shown: a country withheld by the disclosure rules could be worked
    # out from the average and the others, so it stops the combination (below)
    table = result.to_frame()
    table = table[table[col].notna()]                       # pupils without a country are not a country
    keys = [k for k in _KEYS if k in table.columns]
    bad = table["estimate"].isna() | table["se"].isna()
    if bad.any():
        which = sorted(map(str, table.loc[bad, col].unique()))
        raise DataError(f"The estimate of {', '.join(which)} is missing (withheld by the disclosure policy or "
                        "without pupils), so no average or total over all countries exists; leave those "
                        "countries out of the analysis first.")
    countries = list(dict.fromkeys(table[col]))
    if len(countries) < 2:
        raise DataError("An average over countries needs at least two countries.")
    return col, table, keys, countries


def _wide(table, col, keys, countries, field):
    """(C, K) array of ``field``, countries in order, statistics in the first country's order."""
    first = table[table[col] == countries[0]]
    labels = [tuple(r) for r in first[keys].itertuples(index=False)] if keys else [()]
    out = np.empty((len(countries), len(labels)))
    for i, c in enumerate(countries):
        block = table[table[col] == c]
        got = [tuple(r) for r in block[keys].itertuples(index=False)] if keys else [()]
        if got != labels:
            raise DataError(f"Country {c!r} does not have the same statistics as {countries[0]!r} "
                            f"({len(got)} against {len(labels)} rows); the countries cannot be combined.")
        out[i] = block[field].to_numpy(float)
    return out, first[keys].reset_index(drop=True) if keys else pd.DataFrame(index=[0])


def _result(result, table, kind, ci_level):
    n = int(table["n"].sum()) if "n" in table else result.n
    return SurveyEstimate(table, kind, result.outcome, result.by, result.weight,
                          f"{result.method}; combined over countries (OECD, PISA Data Analysis Manual, ch. 11-12)",
                          ci_level, n, result.n_excluded, result.ledger, result.predictor, result.formula)


def _level(result, ci_level):
    return result.ci_level if ci_level is None else check_probability("ci_level", ci_level)


def average(result: SurveyEstimate, *, ci_level: float | None = None) -> SurveyEstimate:
    """The OECD average: the mean of the country estimates, :math:`SE = \\sqrt{\\sum_c SE_c^2} / C`.

    Parameters
    ----------
    result : SurveyEstimate
        An analysis broken down by country (``design.mean("MATH", by="CNT")``,
        ``design.multilevel(..., by="CNT")``).

    Returns
    -------
    SurveyEstimate
        One row per statistic, with ``countries`` (C) and ``n`` (the pupils of all countries).

    Examples
    --------
    >>> t = pd.DataFrame({"CNT": ["A", "B"], "estimate": [500.0, 520.0], "se": [3.0, 4.0], "n": [10, 12]})
    >>> from belonging_lib._results import RowLedger
    >>> r = SurveyEstimate(t, "mean", "MATH", ("CNT",), "W", "", 0.95, 22, 0, RowLedger())
    >>> average(r).table[["estimate", "se", "countries"]]
       estimate   se  countries
    0     510.0  2.5          2
    """
    level = _level(result, ci_level)
    col, table, keys, countries = _by_country(result)
    est, labels = _wide(table, col, keys, countries, "estimate")
    se, _ = _wide(table, col, keys, countries, "se")
    C = len(countries)
    out = coef_table([str(i) for i in range(est.shape[1])], est.mean(axis=0), np.sqrt(np.sum(se ** 2, axis=0)) / C,
                     ci_level=level).reset_index(drop=True)
    out = pd.concat([labels, out], axis=1)
    out["countries"] = C
    if "n" in table:
        n, _ = _wide(table, col, keys, countries, "n")
        out["n"] = n.sum(axis=0).astype(int)
    return _result(result, out, "average", level)


def from_average(result: SurveyEstimate, *, ci_level: float | None = None) -> SurveyEstimate:
    """Each country's difference from the OECD average, with its SE (the country is part of the average).

    :math:`Var(\\hat\\theta_i - \\bar\\theta) = ((C-1)^2 SE_i^2 + \\sum_{c \\ne i} SE_c^2) / C^2`.

    Returns
    -------
    SurveyEstimate
        One row per country and statistic: the country column, ``estimate`` (country minus
        average), ``se``, interval, ``statistic`` and ``p`` (a test of no difference) and ``n``.
    """
    level = _level(result, ci_level)
    col, table, keys, countries = _by_country(result)
    est, labels = _wide(table, col, keys, countries, "estimate")
    se, _ = _wide(table, col, keys, countries, "se")
    C = len(countries)
    diff = est - est.mean(axis=0)
    var = ((C - 1) ** 2 * se ** 2 + (np.sum(se ** 2, axis=0) - se ** 2)) / C ** 2
    blocks = []
    for i, c in enumerate(countries):
        b = coef_table([str(k) for k in range(est.shape[1])], diff[i], np.sqrt(var[i]),
                       ci_level=level).reset_index(drop=True)
        b = pd.concat([labels, b], axis=1)
        b.insert(0, col, c)
        if "n" in table:
            b["n"] = table.loc[table[col] == c, "n"].to_numpy()
        blocks.append(b)
    return _result(result, pd.concat(blocks, ignore_index=True), "from_average", level)


def total(result: SurveyEstimate, design: SurveyDesign, *, ci_level: float | None = None) -> SurveyEstimate:
    """The OECD total: country estimates weighted by population, :math:`\\sum_c P_c \\hat\\theta_c / P`.

    ``P_c`` is the sum of the design's final weights over the country's pupils (the population it
    represents); :math:`SE = \\sqrt{\\sum_c (P_c / P)^2 SE_c^2}` (independent country samples).  For a
    mean or a percentage the estimate equals the statistic computed on all countries' pupils together.

    Parameters
    ----------
    result : SurveyEstimate
        An analysis broken down by country.
    design : SurveyDesign
        The design the analysis came from (for the countries' populations).
    """
    level = _level(result, ci_level)
    col, table, keys, countries = _by_country(result)
    if not isinstance(design, SurveyDesign) or col not in design.data.columns:
        raise DataError(f"`design` must be the SurveyDesign whose analysis by {col!r} is combined.")
    est, labels = _wide(table, col, keys, countries, "estimate")
    se, _ = _wide(table, col, keys, countries, "se")
    w = design.data[design.weight].to_numpy(float)
    pop = np.array([w[(design.data[col] == c).to_numpy()].sum() for c in countries])
    share = (pop / pop.sum())[:, None]
    out = coef_table([str(i) for i in range(est.shape[1])], np.sum(share * est, axis=0),
                     np.sqrt(np.sum(share ** 2 * se ** 2, axis=0)), ci_level=level).reset_index(drop=True)
    out = pd.concat([labels, out], axis=1)
    out["countries"] = len(countries)
    if "n" in table:
        n, _ = _wide(table, col, keys, countries, "n")
        out["n"] = n.sum(axis=0).astype(int)
    return _result(result, out, "total", level)
