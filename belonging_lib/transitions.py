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

from ._errors import DataError, ModelError
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

__all__ = ["PairedWaves", "to_wide", "change_scores", "residualised_change", "reliable_change", "growth_model",
           "attrition_weights", "recovery", "RecoveryResult", "regression_to_the_mean", "RegressionToMeanResult"]


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
                 ci_level: float = 0.95, cluster: str | None = None):
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
    cluster : str, optional
        A school column: pupils nested in schools, a third level with a random
        intercept per school (``cluster=[cluster, id]`` in
        :func:`belonging_lib.models.multilevel`).  Each pupil must have one
        school; random slopes are not combined with three levels, so it needs
        ``random_slope=False``.

    Returns
    -------
    The multilevel result of :func:`belonging_lib.models.multilevel`, with
    pupils as clusters (nested in ``cluster`` when given).  Rows with a missing outcome or predictor are counted
    in its exclusions (pupils with some waves still contribute those waves:
    this is valid under missing at random).
    """
    from .models import multilevel

    preds = as_list(predictors)
    covs = as_list(covariates)
    panel = as_frame(data)
    time = wave
    require_columns(panel, [outcome, time, id, *preds, *covs] + ([cluster] if cluster is not None else []))
    require_numeric(panel, [outcome, time])
    if cluster is not None:
        if random_slope:
            raise ModelError("A growth model with schools as a third level has random intercepts only: pass "
                             "random_slope=False with `cluster` (random slopes are not combined with three levels).")
        schools = panel[[id, cluster]].dropna().drop_duplicates()
        moved = schools[id].duplicated(keep=False)
        if moved.any():
            pupil = schools.loc[moved, id].iloc[0]
            rows = row_numbers(panel, panel[id] == pupil)
            raise DataError(f"Pupil {str(pupil)!r} has more than one {cluster!r} ({describe_rows(rows)}): pupils "
                            f"must be nested in one school; use the school of the later waves for every row.")
    rhs = [time]
    for p in preds:
        rhs.append(f"{time} * {p}" if interact_time else p)
    rhs += covs
    formula = f"{outcome} ~ " + " + ".join(rhs)
    random = f"~{time}" if random_slope else None
    levels = id if cluster is None else [cluster, id]
    return multilevel(panel, formula, cluster=levels, random=random, reml=reml, ci_level=ci_level)


# ----------------------------------------------------------------------------------------------
# attrition and recovery


def attrition_weights(data: pd.DataFrame, *, id: str, wave: str, predictors: str | Sequence[str],
                      outcome: str | None = None) -> pd.Series:
    """Inverse-probability weights for the pupils present at every wave (a balanced panel).

    Parameters
    ----------
    data : pandas.DataFrame
        Long format, one row per pupil and wave.
    id, wave : str
        Pupil identifier and wave columns.
    predictors : str or list of str
        Columns of the first wave that predict staying (for example the first
        wave's score, FSM and SEND): the model of dropout.
    outcome : str, optional
        A pupil counts as present at a wave only with this column answered
        (default: a row at that wave is enough).

    Returns
    -------
    pandas.Series
        One weight per pupil of the first wave (indexed by ``id`` as text):
        ``1 / P(present at every wave | first-wave predictors)`` for the pupils
        present at every wave, missing for the others.  Its name is ``"weight"``.

    Raises
    ------
    DataError
        A predictor is missing at the first wave (named, rows counted from 1), every
        pupil stayed, or none did.

    Notes
    -----
    The probability comes from a logistic regression of "present at every wave" on
    the first wave's ``predictors`` (:func:`belonging_lib.models.logit`, checked
    against R's ``glm``).  Weighting the balanced panel by its inverse stands the
    pupils who stayed in for similar pupils who left; it removes the bias of
    dropout that depends on those predictors (missing at random), not of dropout
    that depends on what was never observed.  Checked against R's ``glm`` in
    ``tests/reference/recovery.R``.
    """
    from .models import logit

    panel = as_frame(data)
    preds = as_list(predictors)
    require_columns(panel, [id, wave, *preds] + ([outcome] if outcome else []))
    present = panel if outcome is None else panel[panel[outcome].notna()]
    waves = sorted(panel[wave].dropna().unique())
    first = panel[panel[wave] == waves[0]].copy()
    first[id] = first[id].astype(str)
    missing = first[preds].isna().any(axis=1)
    if missing.any():
        rows = row_numbers(panel, panel.index.isin(first.index[missing]))
        raise DataError(f"The dropout model needs {', '.join(preds)} at the first wave, but "
                        f"{describe_rows(rows)} lack a value; impute or drop those pupils first.")
    counts = present.assign(**{id: present[id].astype(str)}).groupby(id)[wave].nunique()
    first["_stayed"] = first[id].map(counts).eq(len(waves)).astype(int)
    if first["_stayed"].nunique() < 2:
        raise DataError("Attrition weights need pupils who stayed and pupils who left, but "
                        + ("every pupil stayed." if first["_stayed"].all() else "no pupil stayed."))
    fit = logit(first, "_stayed ~ " + " + ".join(preds))
    from .models._formula import design_matrix

    x = design_matrix(" + ".join(preds), first, what="The dropout model's predictors")
    beta = fit.fixed["estimate"].rename(index={"(Intercept)": "Intercept"}).reindex(x.columns)
    prob = 1.0 / (1.0 + np.exp(-(x.to_numpy() @ beta.to_numpy())))
    weight = pd.Series(np.where(first["_stayed"].to_numpy() == 1, 1.0 / prob, np.nan), index=first[id].to_numpy(),
                       name="weight")
    weight.index.name = id
    return weight


@dataclasses.dataclass(frozen=True)
class RecoveryResult(Result):
    """How much of a dip a panel's pupils made up, from the same pupils at every wave.

    Attributes
    ----------
    estimate : float
        Share of the change from ``before`` to ``dip`` made up by ``after``:
        ``(mean_after - mean_dip) / (mean_before - mean_dip)`` (1 = full recovery).
    ci_low, ci_high, ci_level : float
        Percentile interval from a bootstrap of pupils (or of ``cluster`` groups).
    means : pandas.DataFrame
        wave, mean (weighted where ``weight`` is given), n.
    n, n_excluded : int
        Pupils present at all three waves, and pupils left out for missing one.
    weighted : bool
        Whether attrition weights were used.
    n_boot, seed : int
    """

    estimate: float
    ci_low: float
    ci_high: float
    ci_level: float
    means: pd.DataFrame
    n: int
    n_excluded: int
    weighted: bool
    n_boot: int
    seed: object

    title = "Recovery after a dip (balanced panel)"

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{"term": "recovery", "estimate": self.estimate, "ci_low": self.ci_low,
                              "ci_high": self.ci_high, "n": self.n}])

    def notes(self) -> list[str]:
        return [f"{self.n} pupils present at all three waves ({self.n_excluded} left out)"
                + ("; weighted by inverse probability of staying." if self.weighted else "."),
                f"Percentile interval from {self.n_boot} bootstrap draws (seed {self.seed})."]


def recovery(data: pd.DataFrame, *, outcome: str, id: str, wave: str, before, dip, after,
             weight: str | pd.Series | None = None, cluster: str | None = None, n_boot: int = 1000,
             seed=0, ci_level: float = 0.95) -> RecoveryResult:
    """Share of a dip made up later, among the pupils present at all three waves.

    Wave means from all the pupils who answered compare different pupils when some
    leave the panel; if the pupils who leave are those who were struggling, the
    later means look better than any pupil's own path.  This function uses the
    same pupils at every wave (the balanced panel), optionally weighted so that
    they stand for the pupils who left (:func:`attrition_weights`).

    Parameters
    ----------
    data : pandas.DataFrame
        Long format, one row per pupil and wave.
    outcome, id, wave : str
        The score, pupil identifier and wave columns.
    before, dip, after : object
        Values of ``wave``: the baseline, the low point and the later wave.
    weight : str or pandas.Series, optional
        A pupil-level weight: a column (its value at the ``before`` wave) or a
        Series indexed by ``id`` (such as :func:`attrition_weights` returns).
    cluster : str, optional
        Resample whole groups (for example schools, from the ``before`` wave) in
        the bootstrap instead of pupils.
    n_boot, seed, ci_level :
        Bootstrap draws, seed and interval level.

    Returns
    -------
    RecoveryResult

    Raises
    ------
    DataError
        A wave is absent, fewer than 10 pupils are present at all three waves,
        there is no dip to recover from (equal ``before`` and ``dip`` means), or a
        weight is missing or not positive for a pupil of the balanced panel.

    Notes
    -----
    :math:`R = (\\bar y_{after} - \\bar y_{dip}) / (\\bar y_{before} - \\bar y_{dip})`
    with (weighted) means over the same pupils.  The bootstrap keeps the weights
    fixed (it does not refit the dropout model), so the interval is slightly too
    narrow for the weighted estimate.  Checked against R (``tests/reference/recovery.R``)
    and against a simulation with known recovery.
    """
    from ._resampling import cluster_bootstrap_indices

    panel = as_frame(data)
    require_columns(panel, [outcome, id, wave] + ([cluster] if cluster else [])
                    + ([weight] if isinstance(weight, str) else []))
    require_numeric(panel, [outcome])
    level = check_probability("ci_level", ci_level)
    for w in (before, dip, after):
        if not (panel[wave] == w).any():
            raise DataError(f"Column {wave!r} has no rows with the value {w!r}.")
    sub = panel[panel[wave].isin([before, dip, after]) & panel[outcome].notna()]
    sub = sub.assign(**{id: sub[id].astype(str)})
    wide = sub.pivot_table(index=id, columns=wave, values=outcome, aggfunc="first")
    all_ids = wide.index
    wide = wide[[before, dip, after]].dropna()
    n, n_excluded = len(wide), int(len(all_ids) - len(wide))
    if n < 10:
        raise DataError(f"Only {n} pupils have {outcome!r} at all three waves; recovery needs at least 10.")
    base = panel[panel[wave] == before].assign(**{id: panel.loc[panel[wave] == before, id].astype(str)})
    base = base.drop_duplicates(id).set_index(id)
    if weight is None:
        w = np.ones(n)
    else:
        ws = base[weight] if isinstance(weight, str) else pd.Series(weight)
        ws.index = ws.index.astype(str)
        w = pd.to_numeric(ws.reindex(wide.index), errors="coerce").to_numpy(dtype=float)
        bad = ~(np.isfinite(w) & (w > 0))
        if bad.any():
            raise DataError(f"The weight of pupil {wide.index[bad][0]!r} (and {int(bad.sum()) - 1} more of the "
                            f"balanced panel) is missing or not positive.")
    y = wide.to_numpy(dtype=float)

    def ratio(weights):          # weights: (draws, n)
        m = weights @ y / weights.sum(axis=1, keepdims=True)
        denom = m[:, 0] - m[:, 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            return (m[:, 2] - m[:, 1]) / denom

    means = (w @ y) / w.sum()
    if means[0] == means[1]:
        raise DataError("The mean at the dip equals the mean before it: there is no dip to recover from.")
    est = float(ratio(w[None, :])[0])
    if cluster:
        codes, _ = pd.factorize(base[cluster].reindex(wide.index), sort=True)
    else:
        codes = np.arange(n)
    n_groups = int(codes.max()) + 1
    draws = cluster_bootstrap_indices(n_groups, n_boot, seed)
    counts = np.zeros((draws.shape[0], n_groups))
    np.add.at(counts, (np.repeat(np.arange(draws.shape[0]), n_groups), draws.ravel()), 1.0)
    reps = ratio(counts[:, codes] * w[None, :])
    reps = reps[np.isfinite(reps)]
    lo, hi = np.quantile(reps, [(1 - level) / 2, 1 - (1 - level) / 2])
    table = pd.DataFrame({"wave": [before, dip, after], "mean": means, "n": n})
    return RecoveryResult(estimate=est, ci_low=float(lo), ci_high=float(hi), ci_level=level, means=table, n=n,
                          n_excluded=n_excluded, weighted=weight is not None, n_boot=int(n_boot), seed=seed)


# ----------------------------------------------------------------------------------------------
# measurement error and regression to the mean


@dataclasses.dataclass(frozen=True)
class RegressionToMeanResult(Result):
    """What measurement error alone does to two waves of scores (a simulation, not data).

    Scores are in standard deviations of the observed first-wave score, from
    simulated pupils whose true score does not change between the waves and whose
    predictor has no effect on change.

    Attributes
    ----------
    low_before, low_after : float
        Mean observed score of the pupils flagged as the lowest ``low_share`` at the
        first wave, at the first and at the second wave: the rise is regression to
        the mean.
    low_still : float
        Share of the flagged pupils who are still among the lowest ``low_share`` at the
        second wave.
    slope_baseline : float
        Slope of the second wave on the observed first wave (truth 1 for true
        scores; about ``reliability`` observed).
    spurious : float
        Coefficient of the predictor in residualised change (second wave on the
        observed first wave and the predictor), per SD of the predictor, in SDs of
        the observed first-wave score: the truth is 0.
    spurious_change_score : float
        The same predictor's coefficient for the change score (truth 0).
    drop, drop_share : float
        A fall of more than ``drop`` SDs between the waves, and the share of all simulated pupils whose
        score falls that much although nothing changed: the "drops" that measurement error alone
        produces (truth 0; expected :math:`\\Phi(-d / \\sqrt{2(1 - r)})` for a fall of :math:`d` SDs).
    reliability, correlation, low_share : float
        The settings: reliability of each wave's score, correlation of the
        predictor with the true first-wave score, and the flagged share.
    n : int
        Simulated pupils.
    seed : object
    """

    low_before: float
    low_after: float
    low_still: float
    slope_baseline: float
    spurious: float
    spurious_change_score: float
    drop: float
    drop_share: float
    reliability: float
    correlation: float
    low_share: float
    n: int
    seed: object

    title = "Measurement error and regression to the mean (simulation)"

    def to_frame(self) -> pd.DataFrame:
        """term, estimate (simulated), truth."""
        return pd.DataFrame({
            "term": ["flagged pupils' mean, first wave", "flagged pupils' mean, second wave",
                     "flagged pupils still flagged (share)", "slope on the observed first wave",
                     "predictor in residualised change", "predictor in change scores",
                     f"pupils whose score falls by more than {self.drop:g} SD (share)"],
            "estimate": [self.low_before, self.low_after, self.low_still, self.slope_baseline, self.spurious,
                         self.spurious_change_score, self.drop_share],
            "truth": [np.nan, np.nan, 1.0, 1.0, 0.0, 0.0, 0.0]})

    def notes(self) -> list[str]:
        return [f"Simulated: {self.n:,} pupils whose true score does not change; reliability {self.reliability:.2f} "
                f"at each wave; predictor correlated {self.correlation:.2f} with the true first-wave score and "
                f"without effect on change; lowest {100 * self.low_share:.0f}% flagged (seed {self.seed})."]


def regression_to_the_mean(*, reliability: float, correlation: float = 0.0, low_share: float = 0.1,
                           drop: float = 0.5, n: int = 100_000, seed=0) -> RegressionToMeanResult:
    """Simulate what measurement error alone does to flags of low scorers and to residualised change.

    Pupils have a true score that does not change between two waves; each wave's
    observed score adds independent noise so that its reliability is
    ``reliability``.  A predictor correlated ``correlation`` with the true score
    has no effect on change.  The result shows (a) regression to the mean: pupils
    flagged for a low first score score higher the second time, with no change at
    all; (b) the slope on an error-prone baseline is attenuated to about the
    reliability; (c) so a residualised-change model gives the predictor a
    spurious coefficient, about ``(1 - reliability) * correlation`` per SD, while
    the change score does not; (d) some pupils' scores fall by more than ``drop``
    SDs although nothing changed.  A pupil ``x`` SDs from the mean is expected to
    move ``(1 - reliability) * x`` SDs back toward it at the next wave.

    Parameters
    ----------
    reliability : float
        Reliability of each wave's score (between 0 and 1, exclusive of 0), such as
        a test-retest ICC (:func:`belonging_lib.reliability.test_retest`).
    correlation : float
        Correlation of the predictor with the true first-wave score (-1 to 1).
    low_share : float
        Share of pupils flagged as lowest at the first wave.
    drop : float
        A fall between the waves counted as a "drop", in SDs of the observed
        first-wave score (0.5 by default); ``drop_share`` is the share of
        pupils whose score falls by more than this with no real change.
    n : int
        Simulated pupils.
    seed : int or None
        Random seed.

    Returns
    -------
    RegressionToMeanResult

    Notes
    -----
    With true score :math:`T \\sim N(0, 1)`, observed waves
    :math:`X_t = T + e_t`, :math:`\\mathrm{Var}(e_t) = (1 - r)/r`, and predictor
    :math:`Z = \\rho T + \\sqrt{1 - \\rho^2} u`, the least-squares slope of
    :math:`X_2` on :math:`X_1` alone is :math:`r`, and in :math:`X_2 \\sim X_1 + Z`
    the coefficient of :math:`Z` is
    :math:`\\rho(1 - r)/(1 - r\\rho^2)` in units of :math:`T`, which
    ``spurious`` reports in SDs of :math:`X_1` (times :math:`\\sqrt r`; tested
    against this formula).  Every
    number is a property of the simulation, not of pupils.
    """
    r = check_probability("reliability", reliability)
    if not 0 < r < 1:
        raise DataError(f"`reliability` must be between 0 and 1 (exclusive), not {reliability!r}.")
    rho = float(correlation)
    if not -1 < rho < 1:
        raise DataError(f"`correlation` must be between -1 and 1 (exclusive), not {correlation!r}.")
    share = check_probability("low_share", low_share)
    drop = float(drop)
    if not (np.isfinite(drop) and drop >= 0):
        raise DataError(f"`drop` must be a size of fall in SDs, 0 or more, not {drop!r}.")
    n = int(n)
    if n < 1000:
        raise DataError(f"`n` must be at least 1000 simulated pupils, not {n}.")
    rng = np.random.default_rng(seed)
    true = rng.standard_normal(n)
    noise = np.sqrt((1 - r) / r)
    x1 = true + noise * rng.standard_normal(n)
    x2 = true + noise * rng.standard_normal(n)
    z = rho * true + np.sqrt(1 - rho ** 2) * rng.standard_normal(n)
    cut1, cut2 = np.quantile(x1, share), np.quantile(x2, share)
    low = x1 <= cut1
    design = np.column_stack([np.ones(n), x1, z])
    coef = np.linalg.lstsq(design, x2, rcond=None)[0]
    slope = np.linalg.lstsq(design[:, :2], x2, rcond=None)[0][1]
    change = np.linalg.lstsq(design[:, [0, 2]], x2 - x1, rcond=None)[0][1]
    sd1 = float(x1.std())
    return RegressionToMeanResult(low_before=float(x1[low].mean()) / sd1, low_after=float(x2[low].mean()) / sd1,
                                  low_still=float((x2[low] <= cut2).mean()), slope_baseline=float(slope),
                                  spurious=float(coef[2]) / sd1, spurious_change_score=float(change) / sd1,
                                  drop=drop, drop_share=float(((x1 - x2) / sd1 > drop).mean()),
                                  reliability=r,
                                  correlation=rho, low_share=share, n=n, seed=seed)
