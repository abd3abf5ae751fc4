"""Change across the move between schools: panels, change scores, growth.

The transition panel holds the same pupils at several waves (long format: one
row per pupil and wave).  This module turns it into the analyses researchers
use for "belonging protects pupils across transitions":

- :func:`to_wide` pairs two waves per pupil and counts pupils missing a wave;
- :func:`change_scores` and :func:`residualised_change` (the later score
  regressed on the earlier one and predictors: who loses more than expected);
- :func:`reliable_change` (Jacobson-Truax reliable change index: whose change
  is larger than measurement error alone would produce);
- :func:`growth_model` (a multilevel model of the waves with a random slope
  for time, so each pupil has their own trajectory).

Regression and multilevel fits come from :mod:`belonging_lib.models`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ._errors import DataError
from ._results import Result, RowLedger
from ._validation import (
    as_frame,
    as_list,
    check_probability,
    describe_rows,
    require_columns,
    require_finite,
    require_numeric,
    row_numbers,
)

__all__ = ["PairedWaves", "to_wide", "change_scores", "residualised_change", "reliable_change", "growth_model"]


@dataclasses.dataclass(frozen=True)
class PairedWaves(Result):
    """Two waves of a panel side by side, with the pupils who could not be paired counted.

    Attributes
    ----------
    data : pandas.DataFrame
        One row per pupil present at both waves: the ``keep`` columns (from the
        earlier wave), and ``<column>_<before>``, ``<column>_<after>`` per paired column.
    ledger : RowLedger
        Pupils in the panel, and those dropped for missing either wave.
    before, after : object
        The two wave labels.
    """

    data: pd.DataFrame
    ledger: RowLedger
    before: object
    after: object

    title = "Paired waves"

    def to_frame(self) -> pd.DataFrame:
        return self.ledger.to_frame()

    def notes(self) -> list[str]:
        return [str(self.ledger)]


def to_wide(data: pd.DataFrame, *, id: str, wave: str, columns: str | Sequence[str],
            before, after, keep: str | Sequence[str] | None = None) -> PairedWaves:
    """Pair two waves of a long panel, one row per pupil.

    Parameters
    ----------
    data : pandas.DataFrame
        Long format: one row per pupil and wave.
    id, wave : str
        Pupil identifier and wave columns.
    columns : str or list of str
        Measures to pair (for example ``"belonging"``).
    before, after : scalar
        Wave labels to pair (for example ``1`` and ``2``).
    keep : str or list of str, optional
        Pupil characteristics to carry over from the earlier wave.

    Returns
    -------
    PairedWaves

    Raises
    ------
    DataError
        When a pupil has two rows for the same wave, or a wave label is absent.

    Notes
    -----
    A pupil missing either wave, or with a missing value of any of ``columns``
    at either wave, cannot be paired; they are counted in the
    ledger, never dropped silently.

    Examples
    --------
    >>> p = pd.DataFrame({"id": [1, 1, 2, 3, 3], "wave": [1, 2, 1, 1, 2],
    ...                   "score": [3.0, 2.5, 4.0, 3.5, None]})
    >>> w = to_wide(p, id="id", wave="wave", columns="score", before=1, after=2)
    >>> w.data["score_2"].tolist(), w.ledger.n
    ([2.5], 1)
    """
    panel = as_frame(data, name="data")
    time = wave
    values = as_list(columns)
    keep = as_list(keep)
    require_columns(panel, [id, time, *values, *keep])
    require_numeric(panel, values)
    require_finite(panel, values, what="pairing of waves")
    no_id = panel[id].isna()
    if no_id.any():
        rows = row_numbers(panel, no_id)
        raise DataError(f"The pupil identifier {id!r} is missing in {describe_rows(rows)} (counted from 1; "
                        f"{int(no_id.sum())} in all): those rows cannot be paired with another wave. Fill "
                        "the identifier, or drop those rows first (and report how many).")
    dup = panel.duplicated([id, time], keep=False)
    if dup.any():
        rows = panel.index[dup]
        raise DataError(f"Pupil {panel.loc[rows[0], id]!r} has more than one row at wave "
                        f"{panel.loc[rows[0], time]!r} ({describe_rows(rows)}); each pupil needs one row per wave.")
    for label in (before, after):
        if not (panel[time] == label).any():
            raise DataError(f"Column {time!r} has no rows with wave {label!r}; "
                            f"waves present: {sorted(panel[time].dropna().unique().tolist())}.")
    pupils = pd.Index(panel[id].dropna().unique())
    ledger = RowLedger("pupils", start=len(pupils), source="the panel")
    first = panel.loc[panel[time] == before].set_index(id)
    second = panel.loc[panel[time] == after].set_index(id)
    both = first.index.intersection(second.index)
    ledger.record_drop(f"present at waves {before} and {after}", pupils, both,
                       reason=f"absent at wave {before} or {after}")
    wide = first.loc[both, keep].copy()
    for v in values:
        wide[f"{v}_{before}"] = first.loc[both, v].astype(float)
        wide[f"{v}_{after}"] = second.loc[both, v].astype(float)
    value_cols = [c for v in values for c in (f"{v}_{before}", f"{v}_{after}")]
    complete = wide.dropna(subset=value_cols)
    ledger.record_drop("complete measures", wide.index, complete.index,
                       reason=f"{', '.join(values)} missing at a wave")
    complete = complete.reset_index()
    return PairedWaves(complete, ledger, before, after)


def _wave_columns(paired: PairedWaves, outcome: str) -> tuple[str, str]:
    """The earlier and later columns of ``outcome`` in ``paired.data``, checked to exist."""
    if not isinstance(paired, PairedWaves):
        raise DataError(f"`paired` must be the result of to_wide(), but a {type(paired).__name__} was passed.")
    before, after = f"{outcome}_{paired.before}", f"{outcome}_{paired.after}"
    require_columns(paired.data, [before, after], role=f"paired column of {outcome!r}")
    return before, after


def change_scores(paired: PairedWaves, *, outcome: str) -> pd.Series:
    """Later minus earlier score for each paired pupil (``after - before``), named ``<outcome>_change``.

    Examples
    --------
    >>> p = pd.DataFrame({"id": [1, 1, 2, 2], "wave": [1, 2, 1, 2], "score": [3.0, 2.5, 4.0, 4.5]})
    >>> change_scores(to_wide(p, id="id", wave="wave", columns="score", before=1, after=2),
    ...               outcome="score").tolist()
    [-0.5, 0.5]
    """
    before, after = _wave_columns(paired, outcome)
    return (paired.data[after] - paired.data[before]).rename(f"{outcome}_change")


def residualised_change(paired: PairedWaves, *, outcome: str, predictors: str | Sequence[str] | None = None,
                        cluster: str | None = None, vcov: str | None = None, ci_level: float = 0.95):
    """Regress the later score on the earlier score and predictors.

    A predictor's coefficient says how much more (or less) the later score is
    for pupils who started at the same earlier score: whether a group loses
    more across the transition than its starting point predicts.

    Parameters
    ----------
    paired : PairedWaves
        From :func:`to_wide`.
    outcome : str
        The measure (a column paired by :func:`to_wide`).
    predictors : list of str, optional
        Columns of ``paired.data`` (kept pupil characteristics or other
        paired measures such as ``"teacher_rel_1"``).
    cluster : str, optional
        Cluster column (for example the secondary school) for cluster-robust
        standard errors (CR2 with Satterthwaite df by default).
    vcov : str, optional
        As in :func:`belonging_lib.models.ols`.
    ci_level : float
        Confidence level of the coefficients' intervals.

    Returns
    -------
    The regression result of :func:`belonging_lib.models.ols`.

    Notes
    -----
    Residualised change and change scores answer different questions (Lord's
    paradox): with non-randomised groups that differ at the start, they can
    disagree.  Report which one you use and why.
    """
    from .models import ols

    before, after = _wave_columns(paired, outcome)
    terms = [before, *as_list(predictors)]
    formula = f"Q({after!r}) ~ " + " + ".join(f"Q({t!r})" if not t.isidentifier() else t for t in terms)
    return ols(paired.data, formula, cluster=cluster, vcov=vcov, ci_level=ci_level)


def reliable_change(before: pd.Series, after: pd.Series, *, reliability: float, sd: float | None = None,
                    ci_level: float = 0.95) -> pd.DataFrame:
    """Jacobson-Truax reliable change index for each pupil.

    Parameters
    ----------
    before, after : pandas.Series
        Scores at the two waves (aligned by index).
    reliability : float
        Reliability of the scale (for example Cronbach's alpha), between 0 and 1.
    sd : float, optional
        Standard deviation of the earlier scores (default: from ``before``).
    ci_level : float
        Level defining a reliable change (0.95 gives ``|RCI| > 1.96``).

    Returns
    -------
    pandas.DataFrame
        ``change``, ``rci`` and ``category`` ("reliable decline",
        "no reliable change", "reliable improvement"); missing when a score is
        missing.

    Notes
    -----
    :math:`SE_{diff} = SD \\sqrt{2} \\sqrt{1 - r_{xx}}` and
    :math:`RCI = (x_2 - x_1) / SE_{diff}` (Jacobson & Truax, 1991).  A
    reliable change is one unlikely to arise from measurement error alone; it
    says nothing about why a pupil changed.

    Examples
    --------
    >>> out = reliable_change(pd.Series([3.0, 3.0]), pd.Series([2.0, 3.1]), reliability=0.9, sd=0.5)
    >>> out["category"].tolist()
    ['reliable decline', 'no reliable change']
    """
    level = check_probability("ci_level", ci_level)
    rxx = check_probability("reliability", reliability)
    b = pd.to_numeric(before, errors="coerce").astype(float)
    a = pd.to_numeric(after, errors="coerce").astype(float)
    s = float(b.std(ddof=1)) if sd is None else float(sd)
    if not np.isfinite(s) or s <= 0:
        raise DataError(f"The standard deviation of the earlier scores must be positive, but it is {s!r}.")
    se_diff = s * np.sqrt(2.0) * np.sqrt(1.0 - rxx)
    change = a - b
    with np.errstate(divide="ignore", over="ignore"):
        rci = change / se_diff
    bad = change.notna() & ~np.isfinite(rci)
    if bad.any():
        rows = rci.index[bad]
        raise DataError(f"The reliable change index is infinite for {describe_rows(rows)} (change "
                        f"{change[bad].iloc[0]!r} over a standard error of the difference of {se_diff!r}): "
                        f"the standard deviation ({s!r}) is too small for these scores.")
    crit = stats.norm.ppf(0.5 + level / 2)
    category = pd.Series(pd.NA, index=rci.index, dtype="object")
    category[rci < -crit] = "reliable decline"
    category[rci > crit] = "reliable improvement"
    category[(rci.abs() <= crit)] = "no reliable change"
    return pd.DataFrame({"change": change, "rci": rci, "category": category})


def growth_model(data: pd.DataFrame, *, outcome: str, wave: str, id: str,
                 predictors: str | Sequence[str] | None = None, covariates: str | Sequence[str] | None = None,
                 interact_time: bool = True, random_slope: bool = True, reml: bool = True,
                 ci_level: float = 0.95):
    """Multilevel growth model: waves nested in pupils, a random slope for the wave.

    Parameters
    ----------
    data : pandas.DataFrame
        Long format, one row per pupil and wave.
    outcome, wave, id : str
        Outcome, the wave (time) variable and pupil identifier.  ``wave`` is numeric:
        waves (0, 1, 2) for a straight-line trajectory, or a 0/1 indicator of
        "after the move" for a step change at transfer (pupils then differ in
        the size of their step).
    predictors : list of str, optional
        Pupil characteristics.  With ``interact_time`` each also interacts with
        the wave, so its coefficient ``<wave>:x`` says whether that group's
        trajectory differs.
    covariates : list of str, optional
        Further fixed effects without an interaction with time (for example an
        indicator of a later wave, to allow recovery after a step).
    random_slope : bool
        Give each pupil their own slope over time (needs three or more waves
        for most pupils to be well identified).
    reml, ci_level :
        As in :func:`belonging_lib.models.multilevel`.

    Returns
    -------
    The multilevel result of :func:`belonging_lib.models.multilevel`, with
    pupils as clusters.  Rows with a missing outcome or predictor are counted
    in its exclusions (pupils with some waves still contribute those waves:
    this is valid under missing at random).
    """
    from .models import multilevel

    preds = as_list(predictors)
    covs = as_list(covariates)
    panel = as_frame(data)
    time = wave
    require_columns(panel, [outcome, time, id, *preds, *covs])
    require_numeric(panel, [outcome, time])
    rhs = [time]
    for p in preds:
        rhs.append(f"{time} * {p}" if interact_time else p)
    rhs += covs
    formula = f"{outcome} ~ " + " + ".join(rhs)
    random = f"~{time}" if random_slope else None
    return multilevel(panel, formula, cluster=id, random=random, reml=reml, ci_level=ci_level)
