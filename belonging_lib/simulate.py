"""Simulate the synthetic sample data in ``data/sample/`` (all of it is fake).

Real pupil data cannot be shipped, so every sample file is simulated from a
documented generating model whose parameters are written to
``data/sample/TRUTH.json``.  One call regenerates every file byte for byte::

    python -m belonging_lib.simulate            # writes data/sample/
    python -m belonging_lib.simulate --out DIR  # writes DIR/

The generating model encodes the claims the notebooks study: teacher
relationships are the strongest predictor of belonging; belonging, measured in
the autumn term, predicts the end-of-year attainment test over and above prior
attainment measured before the survey (more strongly for pupils eligible for
free school meals) and
mental health (more protective under community adversity); staff belonging
feeds pupil belonging; belonging dips across the primary-secondary
transition; and a school programme raises belonging by 0.20 SD.

Each data set has its own function returning DataFrames, so tests and
notebooks can simulate other sizes: :func:`simulate_survey`,
:func:`simulate_staff`, :func:`simulate_transition`, :func:`simulate_trial`,
:func:`simulate_pisa`, :func:`make_raw_export`, :func:`make_codebook` and
:func:`simulate_random_intercept` (a plain two-level data set for
benchmarks).

This module deliberately imports no estimator module of the package: the
data must not depend on the code that analyses them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from ._errors import DataError
from ._validation import check_positive_int

__all__ = [
    "DEFAULT_SEED",
    "write_sample_data",
    "simulate_survey",
    "simulate_staff",
    "simulate_transition",
    "simulate_trial",
    "simulate_pisa",
    "simulate_random_intercept",
    "simulate_all",
    "paley_hadamard",
    "make_raw_export",
    "make_codebook",
    "make_truth",
    "assign_send_level",
    "SEND_LEVELS",
    "EHCP_SHARE_OF_SEND",
    "SWEMWBS_METRIC",
]

#: Seed of the shipped sample data.
DEFAULT_SEED = 20261123

SYNTHETIC_NOTE = (
    "SYNTHETIC DATA. Every value in data/sample/ was simulated by belonging_lib.simulate "
    "from the model documented in TRUTH.json. No real pupil, member of staff, school or "
    "country is described. Country codes AAA..FFF and school codes are fictional."
)

#: SWEMWBS raw total (7-35) -> metric score (instruments.md; [verify] against the official table).
SWEMWBS_METRIC = {
    7: 7.00, 8: 9.51, 9: 11.25, 10: 12.40, 11: 13.33, 12: 14.08, 13: 14.75, 14: 15.32,
    15: 15.84, 16: 16.36, 17: 16.88, 18: 17.43, 19: 17.98, 20: 18.59, 21: 19.25, 22: 19.98,
    23: 20.73, 24: 21.54, 25: 22.35, 26: 23.21, 27: 24.11, 28: 25.03, 29: 26.02, 30: 27.03,
    31: 28.13, 32: 29.31, 33: 30.70, 34: 32.55, 35: 35.00,
}

# --------------------------------------------------------------------------------------
# Item structure
# --------------------------------------------------------------------------------------
PSSM_ITEMS = [f"pssm_{i:02d}" for i in range(1, 19)]
PSSM_REVERSED = ["pssm_03", "pssm_06", "pssm_09", "pssm_12", "pssm_16"]
PISA_ITEMS = [f"pisa_belong_{i}" for i in range(1, 7)]
PISA_NEGATIVE = ["pisa_belong_1", "pisa_belong_4", "pisa_belong_6"]
PISA_REVERSED = ["pisa_belong_2", "pisa_belong_3", "pisa_belong_5"]
SHORT_SCALES = ["tr_care", "tr_fair", "tr_listen", "peer", "bully", "engage", "respect", "voice"]
SDQ_ITEMS = [f"sdq_{i:02d}" for i in range(1, 26)]
SDQ_REVERSED = ["sdq_07", "sdq_11", "sdq_14", "sdq_21", "sdq_25"]
SDQ_SUBSCALES = {
    "emotional": [3, 8, 13, 16, 24],
    "conduct": [5, 7, 12, 18, 22],
    "hyperactivity": [2, 10, 15, 21, 25],
    "peer_problems": [6, 11, 14, 19, 23],
    "prosocial": [1, 4, 9, 17, 20],
}
SWEMWBS_ITEMS = [f"swemwbs_{i}" for i in range(1, 8)]
PARENT_ITEMS = [f"parent_engage_{i}" for i in range(1, 4)]

# Loadings on the latent response scale (y* = loading * eta + error, Var(y*) ~ 1).
_PSSM_LOADINGS = np.array(
    [0.70, 0.63, 0.57, 0.72, 0.60, 0.59, 0.67, 0.65, 0.55, 0.63, 0.68, 0.57, 0.66, 0.61,
     0.70, 0.54, 0.64, 0.67]
)
_PSSM_METHOD_LOADING = 0.35  # method factor shared by the five negatively worded items
_PSSM_POS_THRESH = np.array([-1.95, -1.15, -0.20, 0.85])  # for "agreement" with a positive item
_PSSM_NEG_THRESH = np.array([-0.55, 0.35, 1.05, 1.75])  # agreement with a negative item
_SCALE_LOADINGS = {
    "tr_care": [0.78, 0.74, 0.70, 0.66],
    "tr_fair": [0.74, 0.70, 0.68, 0.62],
    "tr_listen": [0.76, 0.72, 0.66, 0.64],
    "peer": [0.74, 0.70, 0.66, 0.62],
    "bully": [0.80, 0.76, 0.70, 0.62],
    "engage": [0.72, 0.68, 0.66, 0.60],
    "respect": [0.72, 0.70, 0.64, 0.60],
    "voice": [0.76, 0.72, 0.68, 0.62],
}
_AGREE_THRESH = np.array([-1.85, -1.00, -0.05, 1.05])
# Scale-specific shift of the thresholds (positive = answers more agreeing).
_SCALE_LEVEL = {"tr_care": 0.05, "tr_fair": -0.15, "tr_listen": -0.20, "peer": 0.35,
                "bully": 0.0, "engage": -0.05, "respect": 0.15, "voice": -0.40}
_BULLY_THRESH = np.array([0.35, 0.95, 1.55, 2.20])
_ENGAGE3_SEND_DIF = -0.45  # latent-response intercept shift of engage_3 for SEND pupils
_SDQ_LOADING = 0.62
_SDQ_THRESH = np.array([0.10, 1.20])  # 0/1/2 on the "difficulty" direction
_SWEMWBS_LOADINGS = np.array([0.70, 0.68, 0.72, 0.66, 0.64, 0.70, 0.62])
_SWEMWBS_THRESH = np.array([-2.10, -1.10, 0.05, 1.15])
_PARENT_LOADINGS = np.array([0.75, 0.70, 0.65])

# Correlations of the latent "parts of belonging" (pupil level, before demographic shifts).
_PARTS = ["tr_care", "tr_fair", "tr_listen", "peer", "bully", "engage", "respect", "voice"]
_PART_GENERAL = np.array([0.70, 0.65, 0.70, 0.45, -0.35, 0.55, 0.60, 0.60])
_TEACHER_EXTRA = 0.15  # extra correlation among the three staff-relationship parts

# Structural model of pupil belonging (latent units).
BELONG_COEF = {
    "tr_care": 0.30, "tr_fair": 0.15, "tr_listen": 0.10, "peer": 0.20, "bully": -0.15,
    "engage": 0.10, "voice": 0.10, "respect": 0.05, "parent_engage": 0.10,
    "staff_belonging_z": 0.15,
    "send": -0.30, "lgbt": -0.30, "fsm": -0.15,
    "eth_Asian": -0.10, "eth_Black": -0.20, "eth_Mixed": -0.15, "eth_Other": -0.10,
    "attendance_per10": 0.10, "secondary": -0.20, "prior_attainment_z": 0.10,
}
_BELONG_SCHOOL_SD = 0.15
_BELONG_CLASS_SD = 0.10

#: Levels of special educational needs provision in survey.csv ``send_level``.
SEND_LEVELS = ("none", "SEN support", "EHCP")
#: Share of SEND pupils given an EHCP in the synthetic sample, a simulation choice (about 1 in 5)
#: and not a cited national figure. The level is drawn at random within SEND pupils from its own
#: random stream, so it carries no belonging gap of its own.
EHCP_SHARE_OF_SEND = 0.20

# Order of measurement (autumn survey): prior attainment (KS2 for secondary pupils, an
# earlier school assessment for primary pupils) comes first and may shape belonging;
# belonging (autumn) then feeds the end-of-year attainment test, adjusted for prior
# attainment.
PRIOR_COEF = {
    "intercept": 100.0, "fsm": -3.0, "send": -4.0, "eal": -1.0, "attendance_per10": 1.5,
}
_PRIOR_SCHOOL_SD, _PRIOR_RESID_SD = 2.0, 5.5
_PRIOR_SD = 6.5  # fixed scale used to standardise prior attainment for its effect on belonging
ATTAIN_COEF = {
    "intercept": 50.0, "prior_c": 0.8, "pssm_c": 2.5, "pssm_c:fsm": 1.5, "fsm": -2.0,
    "send": -2.0, "attendance_per10": 1.0,
}
_ATTAIN_SCHOOL_SD, _ATTAIN_CLASS_SD = 2.0, 1.0
_ATTAIN_PUPIL_SD, _ATTAIN_OCCASION_SD = 5.5, 2.4  # pupil residual and test-day noise
_PSSM_CENTRE = 3.5
_PRIOR_CENTRE = 100.0
TIMING = {
    "prior_attainment": "before the survey: for secondary pupils (Years 7-10) the KS2 "
                        "scaled score from the May tests at the end of Year 6; for primary "
                        "pupils (Years 5-6) the school's own standardised assessment at the end "
                        "of the previous school year (Year 4 or Year 5), reported on the same "
                        "80-120 scaled-score metric",
    "ks2_score": "secondary pupils only, taken in May of Year 6, before the survey; empty for "
                 "primary pupils, who have not yet taken KS2 in the autumn term",
    "survey": "autumn term (October): belonging, relationships, mental health and all other "
              "questionnaire scales; characteristics (FSM, SEND, EAL, attendance in the "
              "previous year) are taken from school records at the same time",
    "attainment": "end of the same school year (June): a standardised end-of-year test for "
                  "every pupil, primary and secondary (mean about 50, SD about 9)",
}
CAUSAL_ORDER = [
    "characteristics (gender, FSM, SEND, EAL, ethnicity, attendance) and school",
    "prior attainment (before the survey) <- characteristics + school",
    "belonging latent (autumn) <- relationships, peers, characteristics, school, "
    "staff belonging and prior attainment (0.10 per SD of prior attainment)",
    "questionnaire items (autumn) <- latents",
    "end-of-year attainment (June) <- prior attainment + observed belonging (complete PSSM "
    "mean) x FSM + characteristics + school + class",
]


def _cut(ystar: np.ndarray, thresholds: np.ndarray, low: int) -> np.ndarray:
    """Ordered categories low, low + 1, ... from latent responses and thresholds."""
    return np.searchsorted(thresholds, ystar.ravel(), side="right").reshape(ystar.shape) + low


def _items(rng, eta, loadings, thresholds, low=1, shift=None, method=None, method_loading=0.0):
    """Ordinal factor model: y*_j = l_j eta + m * method + e_j, cut at thresholds.

    ``shift`` (n x k, optional) adds item intercept shifts (DIF).
    Error variance is 1 - l_j^2 - m^2 so that Var(y*) = 1 when Var(eta) = 1.
    """
    eta = np.asarray(eta, dtype=float)
    loadings = np.asarray(loadings, dtype=float)
    n, k = len(eta), len(loadings)
    err_sd = np.sqrt(1.0 - loadings**2 - method_loading**2)
    ystar = eta[:, None] * loadings[None, :] + rng.standard_normal((n, k)) * err_sd[None, :]
    if method is not None:
        ystar = ystar + method_loading * method[:, None]
    if shift is not None:
        ystar = ystar + shift
    return _cut(ystar, thresholds, low)


def _as_rng(rng) -> np.random.Generator:
    """Accept a numpy Generator or an integer seed."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise DataError(
        f"`rng` must be a numpy.random.Generator or an integer seed, but {rng!r} was passed.")


def _exact_sd(z):
    """Centre a draw and scale it to SD 1 (ddof=1)."""
    return (z - z.mean()) / z.std(ddof=1)


def _logistic(x):
    return 1.0 / (1.0 + np.exp(-x))


def _part_corr() -> np.ndarray:
    lam = _PART_GENERAL
    corr = np.outer(lam, lam)
    for i in range(3):
        for j in range(3):
            if i != j:
                corr[i, j] += _TEACHER_EXTRA
    np.fill_diagonal(corr, 1.0)
    return corr


def _pssm_block(rng, eta):
    """18 PSSM items (raw codes: the 5 negatively worded items are NOT reversed)."""
    n = len(eta)
    method = rng.standard_normal(n)
    out = {}
    for j, name in enumerate(PSSM_ITEMS):
        lam = _PSSM_LOADINGS[j]
        offset = 0.12 * np.sin(1.7 * j)  # small fixed item-difficulty differences
        if name in PSSM_REVERSED:
            out[name] = _items(rng, -eta, [lam], _PSSM_NEG_THRESH + offset, method=method,
                               method_loading=_PSSM_METHOD_LOADING)[:, 0]
        else:
            out[name] = _items(rng, eta, [lam], _PSSM_POS_THRESH + offset)[:, 0]
    return pd.DataFrame(out)


_PISA_POS_THRESH = np.array([-1.75, -0.55, 0.95])
_PISA_NEG_THRESH = np.array([-1.95, -0.95, 0.35])


def _pisa_items(rng, eta, loadings) -> np.ndarray:
    """Six PISA-style belonging items, raw codes 1 = strongly agree ... 4 = strongly disagree.

    ``level`` (1-4) rises with belonging: for the positive items 2, 3, 5 it is the
    agreement (raw = 5 - level); for the negative items 1, 4, 6 it is the disagreement
    (raw = level), so raw codes of negative items rise with belonging.
    """
    out = np.empty((len(eta), 6), dtype=int)
    for j in range(6):
        negative = (j + 1) in (1, 4, 6)
        level = _items(rng, eta, [loadings[j]],
                       _PISA_NEG_THRESH if negative else _PISA_POS_THRESH)[:, 0]
        out[:, j] = level if negative else 5 - level
    return out


def _pssm_mean(items: pd.DataFrame) -> pd.Series:
    keyed = items[PSSM_ITEMS].astype(float).copy()
    keyed[PSSM_REVERSED] = 6.0 - keyed[PSSM_REVERSED]
    return keyed.mean(axis=1)


def _swemwbs_block(rng, wellbeing):
    return pd.DataFrame(_items(rng, wellbeing, _SWEMWBS_LOADINGS, _SWEMWBS_THRESH),
                        columns=SWEMWBS_ITEMS)


def _sdq_block(rng, latents: dict[str, np.ndarray]):
    """25 SDQ items 0-2 from five subscale latents (higher latent = more difficulty/prosocial)."""
    n = len(next(iter(latents.values())))
    out = np.zeros((n, 25), dtype=int)
    for sub, numbers in SDQ_SUBSCALES.items():
        for j, num in enumerate(numbers):
            lam = _SDQ_LOADING + 0.04 * ((num % 3) - 1)
            thresh = _SDQ_THRESH + 0.10 * np.cos(num)
            if sub == "prosocial":
                thresh = np.array([-1.55, -0.45]) + 0.10 * np.cos(num)
            score = _items(rng, latents[sub], [lam], thresh, low=0)[:, 0]
            name = f"sdq_{num:02d}"
            out[:, num - 1] = 2 - score if name in SDQ_REVERSED else score
    return pd.DataFrame(out, columns=SDQ_ITEMS)


def _sdq_scores(items: pd.DataFrame) -> pd.DataFrame:
    keyed = items[SDQ_ITEMS].astype(float).copy()
    keyed[SDQ_REVERSED] = 2.0 - keyed[SDQ_REVERSED]
    res = {}
    for sub, numbers in SDQ_SUBSCALES.items():
        block = keyed[[f"sdq_{n:02d}" for n in numbers]]
        # prorated when at least 3 of 5 items answered: mean x 5, rounded half up
        prorated = np.floor(block.mean(axis=1) * 5 + 0.5 + 1e-9)
        res[sub] = prorated.where(block.notna().sum(axis=1) >= 3)
    res = pd.DataFrame(res)
    res["total"] = res[["emotional", "conduct", "hyperactivity", "peer_problems"]].sum(
        axis=1, min_count=4)
    return res


def _swemwbs_metric(items: pd.DataFrame) -> pd.Series:
    raw = items[SWEMWBS_ITEMS].sum(axis=1, min_count=7)
    return raw.map(lambda r: SWEMWBS_METRIC.get(int(r)) if pd.notna(r) else np.nan)


def _as_int(frame: pd.DataFrame, cols) -> pd.DataFrame:
    for c in cols:
        frame[c] = frame[c].astype("Int64")
    return frame


# --------------------------------------------------------------------------------------
# Staff survey (generated first: its school means feed pupil belonging)
# --------------------------------------------------------------------------------------
def _school_frame(rng, n_primary=16, n_secondary=24):
    n = n_primary + n_secondary
    phase = np.array(["primary"] * n_primary + ["secondary"] * n_secondary)
    urban = (rng.random(n) < 0.6).astype(int)
    fsm_target = np.clip(rng.beta(2.8, 9.2, n) + 0.05 * urban, 0.04, 0.6)
    climate = rng.standard_normal(n)
    return pd.DataFrame({
        "school_id": [f"S{i:02d}" for i in range(1, n + 1)],
        "phase": phase, "urban": urban, "fsm_target": fsm_target, "climate": climate,
    })


def simulate_staff(schools: pd.DataFrame, rng) -> pd.DataFrame:
    """Staff survey: 20-35 staff per school; belonging driven by the school climate effect.

    Parameters
    ----------
    schools : DataFrame
        Columns ``school_id``, ``phase`` ("primary"/"secondary") and
        ``climate`` (the standard-normal school effect that is shared with
        pupil belonging in :func:`simulate_survey`).
    rng : numpy.random.Generator or int
        Random generator or seed.

    Returns
    -------
    DataFrame
        One row per staff respondent (columns as ``staff.csv``).

    Examples
    --------
    >>> schools = pd.DataFrame({"school_id": ["S01", "S02"], "phase": ["primary", "secondary"],
    ...                         "climate": [0.5, -0.5]})
    >>> staff = simulate_staff(schools, 1)
    >>> staff.groupby("school_id").size().between(20, 35).all()
    np.True_
    """
    rng = _as_rng(rng)
    rows = []
    counter = 0
    for _, sch in schools.iterrows():
        lo, hi = (20, 29) if sch["phase"] == "primary" else (25, 36)
        k = int(rng.integers(lo, hi))
        role = rng.choice(["teacher", "support", "leader"], size=k, p=[0.6, 0.3, 0.1])
        years = np.minimum(rng.gamma(1.6, 4.0, k).astype(int), 35)
        leader = (role == "leader").astype(float)
        belong = 0.50 * sch["climate"] + 0.20 * leader + np.sqrt(0.75) * rng.standard_normal(k)
        wellb = 0.50 * belong + 0.15 * sch["climate"] + 0.80 * rng.standard_normal(k)
        lsup = 0.45 * sch["climate"] + 0.35 * belong + 0.75 * rng.standard_normal(k)
        b = _items(rng, belong, [0.80, 0.76, 0.72, 0.70, 0.66], _AGREE_THRESH - 0.1)
        w = _items(rng, wellb / np.sqrt(0.25 + 0.0225 + 0.64 + 0.1), _SWEMWBS_LOADINGS,
                   _SWEMWBS_THRESH + 0.1)
        s = _items(rng, lsup, [0.78, 0.74, 0.70, 0.66], _AGREE_THRESH)
        for i in range(k):
            counter += 1
            row = {"staff_id": f"ST{counter:04d}", "school_id": sch["school_id"],
                   "role": role[i], "years_in_school": int(years[i])}
            row.update({f"staff_belong_{j+1}": int(b[i, j]) for j in range(5)})
            row.update({f"staff_wellbeing_{j+1}": int(w[i, j]) for j in range(7)})
            row.update({f"leader_support_{j+1}": int(s[i, j]) for j in range(4)})
            rows.append(row)
    staff = pd.DataFrame(rows)
    # Item non-response (about 1.5%, more for support staff).
    items = [c for c in staff.columns if c.startswith(("staff_", "leader_"))]
    items = [c for c in items if c != "staff_id"]
    p = np.where(staff["role"].to_numpy() == "support", 0.025, 0.010)
    miss = rng.random((len(staff), len(items))) < p[:, None]
    for j, c in enumerate(items):
        staff[c] = staff[c].astype("Int64").mask(miss[:, j])
    return staff


def _staff_school_means(staff: pd.DataFrame) -> pd.DataFrame:
    def scale(prefix):
        cols = [c for c in staff.columns if c.startswith(prefix)]
        return staff[cols].astype(float).mean(axis=1)

    tmp = pd.DataFrame({
        "school_id": staff["school_id"],
        "staff_belonging": scale("staff_belong_"),
        "staff_wellbeing": scale("staff_wellbeing_"),
        "leader_support": scale("leader_support_"),
    })
    agg = tmp.groupby("school_id", sort=True).agg(
        staff_belonging=("staff_belonging", "mean"),
        staff_wellbeing=("staff_wellbeing", "mean"),
        leader_support=("leader_support", "mean"),
        n_staff_responses=("staff_belonging", "size"),
    )
    return agg.reset_index()


# --------------------------------------------------------------------------------------
# Pupil survey
# --------------------------------------------------------------------------------------
def simulate_survey(
    rng: np.random.Generator,
    *,
    n_primary: int = 16,
    n_secondary: int = 24,
    return_latent: bool = False,
):
    """Pupil survey, school and staff tables from one generating model.

    Parameters
    ----------
    rng : numpy.random.Generator or int
        Random generator or seed.
    n_primary, n_secondary : int
        Number of primary (40-60 pupils) and secondary (80-120 pupils) schools.
    return_latent : bool
        Also return the latent traits and complete-data scale scores.

    Returns
    -------
    tuple of DataFrame
        ``(survey, schools, staff)`` with the columns of ``survey.csv``,
        ``schools.csv`` and ``staff.csv``; with ``return_latent=True`` a fourth
        DataFrame (rows aligned with ``survey``) of latent traits
        (``eta_belong``, ``eta_belong_std``, the parts of belonging,
        ``difficulties``, ``wellbeing``), ``pssm_mean_complete`` and
        ``prior_unclipped``.

    Notes
    -----
    The generating model is documented in ``TRUTH.json`` (see
    :func:`make_truth`): ordinal factor model for the items, latent
    structural model for belonging, outcomes from the observed PSSM mean.

    Examples
    --------
    >>> survey, schools, staff = simulate_survey(1, n_primary=2, n_secondary=2)
    >>> len(schools), survey["school_id"].nunique()
    (4, 4)
    """
    rng = _as_rng(rng)
    check_positive_int("n_primary", n_primary)
    check_positive_int("n_secondary", n_secondary)
    sch = _school_frame(rng, n_primary, n_secondary)
    staff = simulate_staff(sch, rng)
    smeans = _staff_school_means(staff)
    sch = sch.merge(smeans, on="school_id", how="left")
    sb = sch["staff_belonging"].to_numpy()
    sch["staff_belonging_z"] = (sb - sb.mean()) / sb.std(ddof=1)
    # School effects are standardised to exactly the stated SD over the schools drawn, so a
    # sample of 40 schools shows the designed variance components.
    # (the belonging school effect is also centred within phase so that the phase gap is the
    # designed one.)
    z = pd.Series(rng.standard_normal(len(sch)))
    z = (z - z.groupby(sch["phase"].to_numpy()).transform("mean")).to_numpy()
    sch["u_belong"] = _BELONG_SCHOOL_SD * _exact_sd(z)
    sch["u_prior"] = _PRIOR_SCHOOL_SD * _exact_sd(rng.standard_normal(len(sch)))
    sch["u_attain"] = _ATTAIN_SCHOOL_SD * _exact_sd(rng.standard_normal(len(sch)))

    # Pupils nested in classes.
    recs = []
    for _, s in sch.iterrows():
        primary = s["phase"] == "primary"
        n_classes = int(rng.integers(3, 7))
        n_pupils = int(rng.integers(38, 62)) if primary else int(rng.integers(78, 120))
        cls = np.sort(rng.integers(0, n_classes, n_pupils))
        # make sure every class exists
        cls[:n_classes] = np.arange(n_classes)
        cls = np.sort(cls)
        years = [5, 6] if primary else [7, 8, 9, 10]
        for c in cls:
            recs.append((s["school_id"], f"{s['school_id']}-C{c + 1}", s["phase"],
                         years[c % len(years)]))
    pup = pd.DataFrame(recs, columns=["school_id", "class_id", "phase", "year_group"])
    n = len(pup)
    pup.insert(0, "pupil_id", [f"P{i:04d}" for i in range(1, n + 1)])
    sidx = pup["school_id"].map({k: i for i, k in enumerate(sch["school_id"])}).to_numpy()
    secondary = (pup["phase"] == "secondary").to_numpy().astype(float)
    urban = sch["urban"].to_numpy()[sidx]

    gender = np.where(rng.random(n) < 0.5, "girl", "boy")
    boy = (gender == "boy").astype(float)
    fsm = (rng.random(n) < sch["fsm_target"].to_numpy()[sidx]).astype(int)
    send = (rng.random(n) < 0.12 + 0.06 * boy).astype(int)
    p_eth = np.where(urban[:, None] == 1, [[0.58, 0.18, 0.11, 0.08, 0.05]],
                     [[0.84, 0.06, 0.03, 0.05, 0.02]])
    u = rng.random(n)
    eth_idx = (u[:, None] > np.cumsum(p_eth, axis=1)).sum(axis=1)
    eth_names = np.array(["White", "Asian", "Black", "Mixed", "Other"])
    ethnicity = eth_names[np.minimum(eth_idx, 4)]
    eal = (rng.random(n) < np.where(ethnicity == "White", 0.04, 0.45)).astype(int)
    lgbt = np.where(secondary == 1, (rng.random(n) < 0.08).astype(float), np.nan)
    adversity = (rng.random(n) < _logistic(-1.8 + 1.1 * fsm + 0.6 * urban)).astype(int)
    absence = rng.gamma(1.3, 3.2, n) * (1 + 0.5 * fsm + 0.4 * send + 0.25 * secondary)
    attendance = np.round(np.clip(100.0 - absence, 60.0, 100.0), 1)
    att10 = (attendance - 95.0) / 10.0

    # Latent parts of belonging.
    corr = _part_corr()
    parts = rng.standard_normal((n, len(_PARTS))) @ np.linalg.cholesky(corr).T
    lat = pd.DataFrame(parts, columns=_PARTS)
    lat["bully"] += 0.30 * send + 0.40 * np.nan_to_num(lgbt)
    lat["peer"] += -0.20 * send
    lat["parent_engage"] = -0.15 * fsm + np.sqrt(1 - 0.15**2 * 0.2) * rng.standard_normal(n)

    # Prior attainment, measured before the survey.  It is drawn from its own child
    # generator so that every other draw of the survey stays where it was.
    prior_rng = rng.spawn(1)[0]
    pk = PRIOR_COEF
    eal_f = eal.astype(float)
    prior_lin = (pk["intercept"] + pk["fsm"] * fsm + pk["send"] * send + pk["eal"] * eal_f
                 + pk["attendance_per10"] * att10 + sch["u_prior"].to_numpy()[sidx]
                 + _PRIOR_RESID_SD * prior_rng.standard_normal(n))
    prior_unclipped = np.round(prior_lin)
    prior = np.clip(prior_unclipped, 80, 120)
    prior_z = (prior - _PRIOR_CENTRE) / _PRIOR_SD

    lgbt0 = np.nan_to_num(lgbt)
    cidx = pup["class_id"].astype("category").cat.codes.to_numpy()
    v_class = _BELONG_CLASS_SD * rng.standard_normal(cidx.max() + 1)[cidx]
    eth_d = {e: (ethnicity == e).astype(float) for e in eth_names}
    b = BELONG_COEF
    lin = (sum(b[p] * lat[p].to_numpy() for p in _PARTS) + b["parent_engage"] * lat["parent_engage"]
           + b["staff_belonging_z"] * sch["staff_belonging_z"].to_numpy()[sidx]
           + b["send"] * send + b["lgbt"] * lgbt0 + b["fsm"] * fsm
           + sum(b[f"eth_{e}"] * eth_d[e] for e in eth_names[1:])
           + b["attendance_per10"] * att10 + b["secondary"] * secondary
           + b["prior_attainment_z"] * prior_z)
    resid_sd = _BELONG_RESID_SD
    eta = (lin + sch["u_belong"].to_numpy()[sidx] + v_class
           + resid_sd * rng.standard_normal(n))
    # items use the belonging latent rescaled by its model-implied SD
    eta_s = (eta - _BELONG_LATENT_MEAN) / _BELONG_LATENT_SD

    # Items.
    pssm = _pssm_block(rng, eta_s)
    pisa = pd.DataFrame(_pisa_items(rng, eta_s, [0.74, 0.70, 0.72, 0.66, 0.68, 0.62]),
                        columns=PISA_ITEMS)
    blocks = {}
    for sc in SHORT_SCALES:
        thresh = _BULLY_THRESH if sc == "bully" else _AGREE_THRESH - _SCALE_LEVEL[sc]
        latent = lat[sc].to_numpy()
        shift = None
        if sc == "engage":
            shift = np.zeros((n, 4))
            shift[:, 2] = _ENGAGE3_SEND_DIF * send
        blocks[sc] = pd.DataFrame(_items(rng, latent, _SCALE_LOADINGS[sc], thresh, shift=shift),
                                  columns=[f"{sc}_{i}" for i in range(1, 5)])
    parent = pd.DataFrame(_items(rng, lat["parent_engage"].to_numpy(), _PARENT_LOADINGS,
                                 _AGREE_THRESH - 0.2), columns=PARENT_ITEMS)

    # Mental health latents (standardised-ish).
    bul = lat["bully"].to_numpy()
    diff = (-0.30 * eta_s + 0.25 * bul + 0.30 * adversity + 0.15 * fsm + 0.25 * send
            - 0.15 * eta_s * adversity + 0.85 * rng.standard_normal(n))
    wellbeing = (0.40 * eta_s - 0.15 * bul - 0.15 * adversity - 0.05 * fsm
                 + 0.10 * eta_s * adversity + 0.85 * rng.standard_normal(n))
    girl = 1.0 - boy
    sub_lat = {
        "emotional": 0.62 * diff + 0.25 * girl + 0.75 * rng.standard_normal(n) - 0.40,
        "conduct": 0.55 * diff + 0.20 * boy + 0.80 * rng.standard_normal(n) - 0.42,
        "hyperactivity": 0.55 * diff + 0.25 * boy + 0.80 * rng.standard_normal(n) - 0.02,
        "peer_problems": 0.60 * diff - 0.25 * lat["peer"].to_numpy()
        + 0.70 * rng.standard_normal(n) - 0.42,
        "prosocial": 0.30 * eta_s + 0.30 * girl + 0.90 * rng.standard_normal(n),
    }
    sdq = _sdq_block(rng, sub_lat)
    swem = _swemwbs_block(rng, wellbeing / np.sqrt(0.16 + 0.0225 + 0.7225 + 0.05))

    # Complete-data scale scores and outcomes (from observed scale scores).
    pssm_mean = _pssm_mean(pssm).to_numpy()
    pc = pssm_mean - _PSSM_CENTRE
    # End-of-year attainment (June), after the autumn survey, for every pupil.
    a = ATTAIN_COEF
    cls_att = _ATTAIN_CLASS_SD * rng.standard_normal(cidx.max() + 1)[cidx]
    pupil_e = _ATTAIN_PUPIL_SD * rng.standard_normal(n)
    occasion_e = _ATTAIN_OCCASION_SD * rng.standard_normal(n)
    att_lin = (a["intercept"] + a["prior_c"] * (prior - _PRIOR_CENTRE) + a["pssm_c"] * pc
               + a["pssm_c:fsm"] * pc * fsm + a["fsm"] * fsm + a["send"] * send
               + a["attendance_per10"] * att10 + sch["u_attain"].to_numpy()[sidx] + cls_att
               + pupil_e + occasion_e)
    attainment = np.round(att_lin, 1)

    survey = pup.copy()
    survey["gender"] = gender
    survey["fsm"] = fsm
    survey["send"] = send
    survey["eal"] = eal
    survey["ethnicity"] = ethnicity
    survey["lgbt"] = lgbt
    survey["attendance"] = attendance
    survey["adversity"] = adversity
    survey = pd.concat([survey, parent, pssm, pisa] + [blocks[s] for s in SHORT_SCALES]
                       + [sdq, swem], axis=1)
    survey["ks2_score"] = np.where(secondary == 1, prior, np.nan)
    survey["prior_attainment"] = prior
    survey["attainment"] = attainment
    item_cols = PARENT_ITEMS + PSSM_ITEMS + PISA_ITEMS + [
        f"{s}_{i}" for s in SHORT_SCALES for i in range(1, 5)] + SDQ_ITEMS + SWEMWBS_ITEMS
    survey = _as_int(survey, item_cols + ["lgbt", "ks2_score", "prior_attainment"])

    latent = pd.DataFrame({
        "eta_belong": eta, "eta_belong_std": eta_s, "difficulties": diff,
        "wellbeing": wellbeing, "pssm_mean_complete": pssm_mean,
        "prior_unclipped": prior_unclipped,
    })
    latent = pd.concat([latent, lat], axis=1)

    survey = _survey_missingness(survey, rng, item_cols)

    schools = sch[["school_id", "phase"]].copy()
    counts = survey.groupby("school_id").size()
    schools["n_pupils"] = schools["school_id"].map(counts).astype(int)
    schools["urban"] = sch["urban"]
    schools["fsm_share"] = schools["school_id"].map(
        survey.groupby("school_id")["fsm"].mean()).round(3)
    schools["staff_belonging"] = sch["staff_belonging"].round(3)
    schools["staff_wellbeing"] = sch["staff_wellbeing"].round(3)
    schools["leader_support"] = sch["leader_support"].round(3)
    schools["n_staff_responses"] = sch["n_staff_responses"].astype(int)
    if return_latent:
        latent["staff_belonging_z"] = sch["staff_belonging_z"].to_numpy()[sidx]
        return survey, schools, staff, latent
    return survey, schools, staff


# Model-implied moments of the belonging latent, computed once from the constants.
def _belong_latent_moments():
    corr = _part_corr()
    bvec = np.array([BELONG_COEF[p] for p in _PARTS])
    v = float(bvec @ corr @ bvec) + BELONG_COEF["parent_engage"] ** 2
    v += BELONG_COEF["staff_belonging_z"] ** 2 + _BELONG_SCHOOL_SD**2 + _BELONG_CLASS_SD**2
    # Bernoulli demographic terms (approximate shares).
    v += BELONG_COEF["send"] ** 2 * 0.15 * 0.85 + BELONG_COEF["fsm"] ** 2 * 0.25 * 0.75
    v += BELONG_COEF["lgbt"] ** 2 * 0.05 + BELONG_COEF["secondary"] ** 2 * 0.24
    v += BELONG_COEF["attendance_per10"] ** 2 * 0.25
    v += BELONG_COEF["prior_attainment_z"] ** 2 * 0.9  # prior attainment, SD about 0.95
    return v


_BELONG_RESID_SD = 0.60
_BELONG_LATENT_SD = float(np.sqrt(_belong_latent_moments() + _BELONG_RESID_SD**2))
_BELONG_LATENT_MEAN = -0.15


def _survey_missingness(survey, rng, item_cols):
    """MAR item non-response, whole-scale skips and missing outcomes."""
    n = len(survey)
    boy = (survey["gender"] == "boy").to_numpy().astype(float)
    low_att = (95.0 - survey["attendance"].to_numpy()) / 10.0
    p_item = _logistic(-3.75 + 0.55 * low_att + 0.35 * boy)
    miss = rng.random((n, len(item_cols))) < p_item[:, None]
    for j, c in enumerate(item_cols):
        survey[c] = survey[c].mask(miss[:, j])
    # whole scales skipped (end of questionnaire most often: SDQ, SWEMWBS)
    p_skip = _logistic(-5.0 + 0.8 * low_att + 0.4 * boy)
    for block, mult in [(SDQ_ITEMS, 1.6), (SWEMWBS_ITEMS, 1.2), (PSSM_ITEMS, 0.6)]:
        skip = rng.random(n) < np.minimum(p_skip * mult, 0.5)
        for c in block:
            survey[c] = survey[c].mask(skip)
    # Prior attainment missing (e.g. arrived from abroad after the assessment): more for EAL
    # pupils; ks2_score (the same value for secondary pupils) is missing with it.
    p_prior = _logistic(-3.8 + 1.3 * survey["eal"].to_numpy())
    no_prior = rng.random(n) < p_prior
    survey["prior_attainment"] = survey["prior_attainment"].mask(no_prior)
    survey["ks2_score"] = survey["ks2_score"].mask(no_prior)
    # End-of-year test missed (absent, left the school): more with low attendance.
    p_att = _logistic(-3.3 + 0.6 * low_att)
    survey["attainment"] = survey["attainment"].mask(rng.random(n) < p_att)
    return survey


# --------------------------------------------------------------------------------------
# Transition panel
# --------------------------------------------------------------------------------------
TRANSITION = {
    "drop_w2": -0.30, "recovery_w3_fraction": 0.5, "send_drop": -0.20, "tr1_on_change": 0.10,
    "slope_sd": 0.30, "occasion_sd": 0.30,
    "eta1_tr": 0.35, "eta1_peer": 0.20, "eta1_send": -0.30, "eta1_fsm": -0.15,
    "primary_sd": 0.20, "secondary_sd": 0.20,
    "wb_eta1": 0.30, "wb_eta_t": 0.20, "wb_w1": 0.35,
}


_TRANSITION_DESC = {
    "drop_w2": "mean latent change in belonging from wave 1 to wave 2 (non-SEND, TR1 = 0)",
    "recovery_w3_fraction": "fraction of each pupil's wave-2 change still present at wave 3 "
                            "(0.5 = half recovered)",
    "send_drop": "extra latent change for SEND pupils",
    "tr1_on_change": "change per SD of wave-1 teacher relationship (low TR1 -> larger drop)",
    "slope_sd": "SD of individual differences in change (random slope)",
    "occasion_sd": "SD of wave-specific occasion noise",
    "eta1_tr": "effect of wave-1 teacher relationship on stable belonging",
    "eta1_peer": "effect of wave-1 peer acceptance on stable belonging",
    "eta1_send": "SEND gap in stable belonging", "eta1_fsm": "FSM gap in stable belonging",
    "primary_sd": "SD of primary-school effects (wave 1)",
    "secondary_sd": "SD of secondary-school effects (waves 2-3)",
    "wb_eta1": "effect of wave-1 belonging on wave-2/3 wellbeing (protection across transition)",
    "wb_eta_t": "effect of current belonging on wave-2/3 wellbeing",
    "wb_w1": "stability of wellbeing from wave 1",
}


def simulate_transition(rng, *, n_pupils: int = 1200, n_primary: int = 20,
                        n_secondary: int = 8) -> pd.DataFrame:
    """Three-wave transition panel (long format), with MAR attrition (rows absent).

    Parameters
    ----------
    rng : numpy.random.Generator or int
        Random generator or seed.
    n_pupils, n_primary, n_secondary : int
        Pupils at wave 1, feeder primaries and receiving secondaries.

    Returns
    -------
    DataFrame
        Columns as ``transition.csv``; one row per pupil and wave present.

    Examples
    --------
    >>> panel = simulate_transition(1, n_pupils=100, n_primary=4, n_secondary=2)
    >>> sorted(panel["wave"].unique().tolist())
    [1, 2, 3]
    """
    rng = _as_rng(rng)
    check_positive_int("n_pupils", n_pupils)
    t = TRANSITION
    prim = rng.integers(0, n_primary, n_pupils)
    prim[:n_primary] = np.arange(n_primary)
    prim = np.sort(prim)
    main_sec = np.arange(n_primary) % n_secondary
    sec = np.where(rng.random(n_pupils) < 0.7, main_sec[prim], rng.integers(0, n_secondary,
                                                                           n_pupils))
    gender = np.where(rng.random(n_pupils) < 0.5, "girl", "boy")
    fsm = (rng.random(n_pupils) < 0.24).astype(int)
    send = (rng.random(n_pupils) < 0.15).astype(int)
    u_p = t["primary_sd"] * rng.standard_normal(n_primary)
    u_s = t["secondary_sd"] * rng.standard_normal(n_secondary)
    # centred so the average change is the designed one, not a draw of 8 school effects
    u_p, u_s = u_p - u_p.mean(), u_s - u_s.mean()

    tr1 = rng.standard_normal(n_pupils)
    peer1 = 0.4 * tr1 + np.sqrt(0.84) * rng.standard_normal(n_pupils)
    tr2 = 0.5 * tr1 + np.sqrt(0.75) * rng.standard_normal(n_pupils)
    tr3 = 0.7 * tr2 + np.sqrt(0.51) * rng.standard_normal(n_pupils)
    peer2 = 0.6 * peer1 + 0.8 * rng.standard_normal(n_pupils)
    peer3 = 0.7 * peer2 + np.sqrt(0.51) * rng.standard_normal(n_pupils)
    base = (t["eta1_tr"] * tr1 + t["eta1_peer"] * peer1 + t["eta1_send"] * send
            + t["eta1_fsm"] * fsm + 0.85 * rng.standard_normal(n_pupils))
    slope = (t["drop_w2"] + t["send_drop"] * send + t["tr1_on_change"] * tr1
             + t["slope_sd"] * rng.standard_normal(n_pupils))
    eta = np.empty((3, n_pupils))
    eta[0] = base + u_p[prim] + t["occasion_sd"] * rng.standard_normal(n_pupils)
    eta[1] = base + u_s[sec] + slope + t["occasion_sd"] * rng.standard_normal(n_pupils)
    eta[2] = (base + u_s[sec] + t["recovery_w3_fraction"] * slope
              + t["occasion_sd"] * rng.standard_normal(n_pupils))
    w1 = 0.45 * eta[0] + 0.85 * rng.standard_normal(n_pupils)
    wb = [w1]
    for w in (1, 2):
        wb.append(t["wb_eta1"] * eta[0] + t["wb_eta_t"] * eta[w] + t["wb_w1"] * w1
                  + 0.75 * rng.standard_normal(n_pupils))
    trs, peers = [tr1, tr2, tr3], [peer1, peer2, peer3]

    frames = []
    for w in range(3):
        pssm = _pssm_block(rng, eta[w] + 0.15)
        tr_items = _items(rng, trs[w], _SCALE_LOADINGS["tr_care"], _AGREE_THRESH)
        pe_items = _items(rng, peers[w], _SCALE_LOADINGS["peer"], _AGREE_THRESH)
        swem = _swemwbs_block(rng, wb[w])
        diff = {
            s: 0.6 * (-0.35 * eta[w] - 0.30 * wb[w]) + 0.75 * rng.standard_normal(n_pupils) + off
            for s, off in [("emotional", -0.3), ("conduct", -0.35), ("hyperactivity", 0.05),
                           ("peer_problems", -0.35), ("prosocial", 0.0)]
        }
        sdq = _sdq_scores(_sdq_block(rng, diff))
        frames.append(pd.DataFrame({
            "pupil_id": [f"T{i:04d}" for i in range(1, n_pupils + 1)],
            "wave": w + 1,
            "year_group": 6 if w == 0 else 7,
            "primary_id": [f"TP{p + 1:02d}" for p in prim],
            "secondary_id": [f"TS{s + 1:02d}" for s in sec],
            "school_id": ([f"TP{p + 1:02d}" for p in prim] if w == 0
                          else [f"TS{s + 1:02d}" for s in sec]),
            "gender": gender, "fsm": fsm, "send": send,
            "belonging": _pssm_mean(pssm).round(3).to_numpy(),
            "teacher_rel": tr_items.mean(axis=1).round(2),
            "peer": pe_items.mean(axis=1).round(2),
            "wellbeing": _swemwbs_metric(swem).to_numpy(),
            "sdq_total": sdq["total"].astype(int).to_numpy(),
        }))
    # Attrition (monotone, MAR on wave-1 belonging, FSM and SEND): about 8% per wave.
    b1 = frames[0]["belonging"].to_numpy()
    z1 = (b1 - b1.mean()) / b1.std()
    present = np.ones((3, n_pupils), dtype=bool)
    for w in (1, 2):
        p_drop = _logistic(-2.65 + 0.55 * fsm + 0.35 * send - 0.40 * z1)
        present[w] = present[w - 1] & (rng.random(n_pupils) >= p_drop)
    long = pd.concat([f[present[i]] for i, f in enumerate(frames)], ignore_index=True)
    long = long.sort_values(["pupil_id", "wave"], kind="stable").reset_index(drop=True)
    return long


# --------------------------------------------------------------------------------------
# Cluster-randomised trial
# --------------------------------------------------------------------------------------
TRIAL = {
    "pre_mean": 3.40, "pre_sd": 0.60, "icc": 0.13, "pre_post_slope": 0.60,
    "effect_sd": 0.20, "compliance_share": 0.80, "fsm_share_design": 0.25,
    "fsm_extra_complier": 0.05, "attain_effect_sd": 0.05, "attain_sd": 15.0,
}


def _trial_variances():
    t = TRIAL
    var_total = t["pre_sd"] ** 2
    var_u_pre = t["icc"] * var_total
    var_e_pre = var_total - var_u_pre
    var_u_post = t["icc"] * var_total - t["pre_post_slope"] ** 2 * var_u_pre
    var_e_post = var_total - t["pre_post_slope"] ** 2 * var_total - var_u_post
    return var_u_pre, var_e_pre, var_u_post, var_e_post


def simulate_trial(rng, *, n_schools: int = 40, n_blocks: int = 10) -> pd.DataFrame:
    """Cluster-randomised trial: schools randomised 1:1 within blocks (strata).

    Parameters
    ----------
    rng : numpy.random.Generator or int
        Random generator or seed.
    n_schools : int
        Schools randomised (40-60 pupils each).
    n_blocks : int
        Randomisation blocks, formed by sorting schools on their FSM share;
        half of each block's schools get the programme.

    Returns
    -------
    DataFrame
        Columns as ``trial.csv``.

    Notes
    -----
    True ITT effect on ``post_belonging``: 0.20 times the model-implied
    total SD of the post-test in the control condition (0.60), i.e. 0.12
    scale points; 80% of programme schools comply and the effect in
    complier schools is 0.15 (CACE 0.25 SD). See ``TRUTH.json["trial"]``.

    Examples
    --------
    >>> trial = simulate_trial(1, n_schools=8, n_blocks=2)
    >>> trial.groupby("school_id")["treat"].first().sum()
    np.int64(4)
    """
    rng = _as_rng(rng)
    check_positive_int("n_schools", n_schools)
    t = TRIAL
    var_u_pre, var_e_pre, var_u_post, var_e_post = _trial_variances()
    sd_c = t["pre_sd"]  # model-implied total SD of post in control (by construction)
    ext_complier = t["effect_sd"] * sd_c / t["compliance_share"]
    fsm_share = np.clip(rng.beta(3, 9, n_schools), 0.05, 0.6)
    order = np.argsort(fsm_share, kind="stable")
    block = np.empty(n_schools, dtype=int)
    per = n_schools // n_blocks
    block[order] = np.arange(n_schools) // per + 1
    treat = np.zeros(n_schools, dtype=int)
    for bnum in range(1, n_blocks + 1):
        idx = np.flatnonzero(block == bnum)
        chosen = rng.permutation(idx)[: len(idx) // 2]
        treat[chosen] = 1
    treated = np.flatnonzero(treat == 1)
    n_comply = int(round(t["compliance_share"] * len(treated)))
    comply_school = np.zeros(n_schools, dtype=int)
    comply_school[rng.permutation(treated)[:n_comply]] = 1
    # school effects standardised to exactly their design SD over the schools drawn
    u_pre = np.sqrt(var_u_pre) * _exact_sd(rng.standard_normal(n_schools))
    u_post = np.sqrt(var_u_post) * _exact_sd(rng.standard_normal(n_schools))
    u_att = 0.10 * t["attain_sd"] * _exact_sd(rng.standard_normal(n_schools))
    sizes = rng.integers(40, 61, n_schools)
    sch = np.repeat(np.arange(n_schools), sizes)
    n = len(sch)
    fsm = (rng.random(n) < fsm_share[sch]).astype(int)
    send = (rng.random(n) < 0.14).astype(int)
    gender = np.where(rng.random(n) < 0.5, "girl", "boy")
    pre = t["pre_mean"] + u_pre[sch] + np.sqrt(var_e_pre) * rng.standard_normal(n)
    tr = treat[sch]
    comp = comply_school[sch]
    eff = comp * (ext_complier + t["fsm_extra_complier"] * (fsm - t["fsm_share_design"]))
    post = (t["pre_mean"] + t["pre_post_slope"] * (pre - t["pre_mean"]) + u_post[sch]
            + np.sqrt(var_e_post) * rng.standard_normal(n) + eff)
    z_pre = (pre - t["pre_mean"]) / t["pre_sd"]
    pre_att = 100 + t["attain_sd"] * (0.2 * z_pre + np.sqrt(0.96) * rng.standard_normal(n))
    var_e_att = (t["attain_sd"] ** 2 - 0.49 * t["attain_sd"] ** 2 - 4 * t["pre_sd"] ** 2
                 - 2 * 0.7 * 2 * (0.2 * t["attain_sd"] * t["pre_sd"]) - u_att.var() * 0
                 - (0.10 * t["attain_sd"]) ** 2)
    att_eff = comp * t["attain_effect_sd"] * t["attain_sd"] / t["compliance_share"]
    post_att = (100 + 0.7 * (pre_att - 100) + 2.0 * (pre - t["pre_mean"]) + u_att[sch]
                + np.sqrt(var_e_att) * rng.standard_normal(n) + att_eff)
    p_attr = _logistic(np.where(tr == 1, -2.05, -2.50) - 0.45 * z_pre + 0.45 * fsm)
    attr = (rng.random(n) < p_attr).astype(int)
    dosage = np.where(tr == 0, 0, np.where(comp == 1, rng.integers(9, 13, n),
                                           rng.integers(0, 6, n)))
    pre = np.clip(pre, 1, 5)
    post = np.clip(post, 1, 5)
    df = pd.DataFrame({
        "pupil_id": [f"R{i:05d}" for i in range(1, n + 1)],
        "school_id": [f"R{s + 1:02d}" for s in sch],
        "arm": np.where(tr == 1, "programme", "control"),
        "treat": tr, "block": block[sch], "fsm": fsm, "send": send, "gender": gender,
        "pre_belonging": np.round(pre, 2),
        "post_belonging": np.where(attr == 1, np.nan, np.round(post, 2)),
        "pre_attain": np.round(pre_att, 1),
        "post_attain": np.where(attr == 1, np.nan, np.round(post_att, 1)),
        "attrited": attr, "complied": comp, "dosage": dosage,
    })
    return df


# --------------------------------------------------------------------------------------
# PISA-style international file
# --------------------------------------------------------------------------------------
PISA = {
    "countries": ["AAA", "BBB", "CCC", "DDD", "EEE", "FFF"],
    "math_mean": [468.0, 489.0, 502.0, 511.0, 523.0, 538.0],
    "read_mean": [472.0, 485.0, 498.0, 516.0, 519.0, 530.0],
    "escs_mean": [-0.45, -0.20, 0.00, 0.10, 0.25, 0.35],
    "math_escs": 30.0, "math_belong": 8.0, "read_escs": 28.0, "read_belong": 10.0,
    "school_sd": 35.0, "resid_sd": 62.0, "pv_noise_sd": 22.0, "fay_k": 0.5,
    "n_schools": 40, "n_replicates": 80,
}


_PISA_DESC = {
    "countries": "fictional country codes (CNT)",
    "math_mean": "country intercepts of the true mathematics score (ESCS = BELONG = 0)",
    "read_mean": "country intercepts of the true reading score",
    "escs_mean": "country means of school ESCS",
    "math_escs": "mathematics points per unit of ESCS (within country)",
    "math_belong": "mathematics points per SD of BELONG",
    "read_escs": "reading points per unit of ESCS", "read_belong": "reading points per SD of "
    "BELONG",
    "school_sd": "SD of school effects on the true score", "resid_sd": "pupil residual SD",
    "pv_noise_sd": "SD of the measurement noise added to the true score for each PV",
    "fay_k": "Fay factor k: replicate factors 1 + k and 1 - k",
    "n_schools": "schools per country", "n_replicates": "replicate weights",
}


def paley_hadamard(q: int = 79) -> np.ndarray:
    """Hadamard matrix of order q + 1 by Paley's first construction (q prime, q % 4 == 3).

    Normalised so that its first column is all ones.  ``paley_hadamard(79)``
    is the order-80 matrix used for the 80 Fay-BRR replicates.

    Examples
    --------
    >>> H = paley_hadamard(79)
    >>> bool((H @ H.T == 80 * np.eye(80)).all()), bool((H[:, 0] == 1).all())
    (True, True)
    """
    squares = {(i * i) % q for i in range(1, q)}
    chi = np.array([0] + [1 if k in squares else -1 for k in range(1, q)])
    idx = np.arange(q)
    Q = chi[(idx[None, :] - idx[:, None]) % q]
    S = np.zeros((q + 1, q + 1), dtype=int)
    S[0, 1:] = 1
    S[1:, 0] = -1
    S[1:, 1:] = Q
    H = np.eye(q + 1, dtype=int) + S
    H = H * H[:, [0]]  # make the first column all ones
    return H


def simulate_pisa(rng, *, pupils_per_country: int = 1200) -> pd.DataFrame:
    """PISA-style file: 6 fictional countries, Fay-BRR weights, 10 PVs per domain.

    Parameters
    ----------
    rng : numpy.random.Generator or int
        Random generator or seed.
    pupils_per_country : int
        Students per country (at least 20 per school, 40 schools).

    Returns
    -------
    DataFrame
        Columns as ``pisa.csv.gz``.

    Notes
    -----
    True score in mathematics: country mean + 30 ESCS + 8 BELONG + school
    effect (SD 35) + residual (SD 62); each PV adds independent noise (SD 22).
    Replicate weights: Fay BRR with k = 0.5 over 20 pseudo-strata (pairs of
    schools) per country and the order-80 Hadamard matrix of
    :func:`paley_hadamard`; sampling variance = sum_r (t_r - t)^2 / (80 * 0.25).

    Examples
    --------
    >>> pisa = simulate_pisa(1, pupils_per_country=1000)
    >>> pisa.shape
    (6000, 114)
    """
    rng = _as_rng(rng)
    p = PISA
    # rows = replicates, columns 1..20 = pseudo-strata (column 0, all ones, unused): full
    # orthogonal balance across the 80 replicates.
    H = paley_hadamard(79)
    frames = []
    for ci, cnt in enumerate(p["countries"]):
        ns = p["n_schools"]
        sizes = rng.multinomial(pupils_per_country - 20 * ns, np.full(ns, 1 / ns)) + 20
        sch_escs = p["escs_mean"][ci] + 0.45 * rng.standard_normal(ns)
        order = np.argsort(sch_escs, kind="stable")  # pseudo-strata: pairs of similar schools
        sch_escs = sch_escs[order]
        sch = np.repeat(np.arange(ns), sizes)
        n = len(sch)
        escs = sch_escs[sch] + 0.85 * rng.standard_normal(n)
        female = rng.random(n) < 0.5
        immig = 1 + (rng.random(n) < 0.10).astype(int) + (rng.random(n) < 0.09).astype(int)
        immig = np.minimum(immig, 3)
        u_b = 0.25 * rng.standard_normal(ns)
        lat = (0.10 * escs - 0.15 * (immig == 3) + u_b[sch] + 0.95 * rng.standard_normal(n))
        items = _pisa_items(rng, lat, [0.72, 0.68, 0.70, 0.64, 0.66, 0.62])
        keyed = items.astype(float)
        keyed[:, [1, 2, 4]] = 5 - keyed[:, [1, 2, 4]]
        raw_belong = keyed.mean(axis=1)
        u_m = p["school_sd"] * rng.standard_normal(ns)
        frames.append(dict(ci=ci, cnt=cnt, sch=sch, n=n, escs=escs, female=female, immig=immig,
                           items=items, raw_belong=raw_belong, u_m=u_m, sch_escs=sch_escs,
                           sizes=sizes))
    # BELONG: standardised item mean, pooled mean 0 SD 1 with countries weighted equally.
    allb = np.concatenate([f["raw_belong"] for f in frames])
    wts = np.concatenate([np.full(f["n"], 1.0 / f["n"]) for f in frames])
    mu = np.sum(wts * allb) / wts.sum()
    sd = np.sqrt(np.sum(wts * (allb - mu) ** 2) / wts.sum())
    out = []
    for f in frames:
        ci, n, sch = f["ci"], f["n"], f["sch"]
        belong = (f["raw_belong"] - mu) / sd
        belong_r = np.round(belong, 4)
        theta_m = (p["math_mean"][ci] + p["math_escs"] * f["escs"].round(2)
                   + p["math_belong"] * belong_r + f["u_m"][sch]
                   + p["resid_sd"] * rng.standard_normal(n))
        e_read = 0.8 * (theta_m - (p["math_mean"][ci] + p["math_escs"] * f["escs"].round(2)
                                   + p["math_belong"] * belong_r)) + np.sqrt(1 - 0.64) * (
            np.sqrt(p["school_sd"] ** 2 + p["resid_sd"] ** 2)) * rng.standard_normal(n)
        theta_r = (p["read_mean"][ci] + p["read_escs"] * f["escs"].round(2)
                   + p["read_belong"] * belong_r + e_read)
        pv_m = theta_m[:, None] + p["pv_noise_sd"] * rng.standard_normal((n, 10))
        pv_r = theta_r[:, None] + p["pv_noise_sd"] * rng.standard_normal((n, 10))
        # Final weights: schools with lower ESCS under-sampled (higher weights); pupil adj.
        sch_w = np.exp(3.0 - 0.35 * f["sch_escs"] + 0.30 * rng.standard_normal(len(f["sizes"])))
        w = sch_w[sch] * (1 + 0.15 * rng.random(n))
        w = np.round(w, 4)
        stratum = sch // 2
        first = (sch % 2 == 0)
        sign = H[:, 1 + stratum].T * np.where(first, 1, -1)[:, None]
        rep = np.round(w[:, None] * (1 + p["fay_k"] * sign), 4)
        d = {
            "CNT": f["cnt"],
            "CNTSCHID": (ci + 1) * 1000 + sch + 1,
            "CNTSTUID": (ci + 1) * 100000 + np.arange(1, n + 1),
            "ST004D01T": np.where(f["female"], 1, 2),
            "ESCS": f["escs"].round(2),
            "IMMIG": f["immig"],
        }
        for j in range(6):
            d[f"ST034Q0{j + 1}TA"] = f["items"][:, j]
        d["BELONG"] = belong_r
        d["W_FSTUWT"] = w
        for r in range(p["n_replicates"]):
            d[f"W_FSTURWT{r + 1}"] = rep[:, r]
        for v in range(10):
            d[f"PV{v + 1}MATH"] = np.round(pv_m[:, v], 3)
        for v in range(10):
            d[f"PV{v + 1}READ"] = np.round(pv_r[:, v], 3)
        out.append(pd.DataFrame(d))
    pisa = pd.concat(out, ignore_index=True)
    # A few pupils skipped the belonging block (MAR on ESCS) and a few IMMIG missing.
    nn = len(pisa)
    skip = rng.random(nn) < _logistic(-3.9 - 0.5 * pisa["ESCS"].to_numpy())
    for c in [f"ST034Q0{j}TA" for j in range(1, 7)] + ["BELONG"]:
        pisa[c] = pisa[c].astype("float").mask(skip)
    pisa = _as_int(pisa, [f"ST034Q0{j}TA" for j in range(1, 7)])
    imm_miss = rng.random(nn) < 0.02
    pisa["IMMIG"] = pisa["IMMIG"].astype("Int64").mask(imm_miss)
    return pisa


# --------------------------------------------------------------------------------------
# Plain random-intercept data (benchmarks)
# --------------------------------------------------------------------------------------
def simulate_random_intercept(n_schools: int, pupils_per_school: int, seed: int = DEFAULT_SEED,
                              ) -> pd.DataFrame:
    """Two-level random-intercept data: y = 0.5 x + u_school + e.

    True values: intercept 0, slope 0.5, school variance 0.10, residual
    variance 0.90 (ICC 0.10); ``x`` is standard normal at pupil level.

    Examples
    --------
    >>> d = simulate_random_intercept(3, 4, seed=1)
    >>> d.shape, list(d.columns)
    ((12, 3), ['y', 'x', 'school'])
    """
    check_positive_int("n_schools", n_schools)
    check_positive_int("pupils_per_school", pupils_per_school)
    rng = np.random.default_rng(seed)
    school = np.repeat(np.arange(n_schools), pupils_per_school)
    n = len(school)
    x = rng.standard_normal(n)
    u = np.sqrt(0.10) * rng.standard_normal(n_schools)
    y = 0.5 * x + u[school] + np.sqrt(0.90) * rng.standard_normal(n)
    return pd.DataFrame({"y": y, "x": x, "school": school})


# --------------------------------------------------------------------------------------
# Raw export (the mess a school's survey tool produces) and codebook
# --------------------------------------------------------------------------------------
LABELS = {
    "pssm": {1: "Not at all true", 2: "Not very true", 3: "Somewhat true", 4: "Mostly true",
             5: "Completely true"},
    "agree5": {1: "Strongly disagree", 2: "Disagree", 3: "Neither agree nor disagree",
               4: "Agree", 5: "Strongly agree"},
    "pisa": {1: "Strongly agree", 2: "Agree", 3: "Disagree", 4: "Strongly disagree"},
    "bully": {1: "Never", 2: "Rarely", 3: "Sometimes", 4: "Often", 5: "Always"},
    "sdq": {0: "Not true", 1: "Somewhat true", 2: "Certainly true"},
    "swemwbs": {1: "None of the time", 2: "Rarely", 3: "Some of the time", 4: "Often",
                5: "All of the time"},
}
MISSING_CODES = (9, -99)

# survey.csv item block -> (raw question number, label set, written as text in the CSV?)
_RAW_BLOCKS = [
    ("pssm", PSSM_ITEMS, "Q1", "pssm", True),
    ("pisa_belong", PISA_ITEMS, "Q2", "pisa", True),
    ("tr_care", [f"tr_care_{i}" for i in range(1, 5)], "Q3", "agree5", True),
    ("tr_fair", [f"tr_fair_{i}" for i in range(1, 5)], "Q4", "agree5", True),
    ("tr_listen", [f"tr_listen_{i}" for i in range(1, 5)], "Q5", "agree5", True),
    ("peer", [f"peer_{i}" for i in range(1, 5)], "Q6", "agree5", False),
    ("bully", [f"bully_{i}" for i in range(1, 5)], "Q7", "bully", False),
    ("engage", [f"engage_{i}" for i in range(1, 5)], "Q8", "agree5", False),
    ("respect", [f"respect_{i}" for i in range(1, 5)], "Q9", "agree5", False),
    ("voice", [f"voice_{i}" for i in range(1, 5)], "Q10", "agree5", False),
    ("sdq", SDQ_ITEMS, "Q11", "sdq", False),
    ("swemwbs", SWEMWBS_ITEMS, "Q12", "swemwbs", False),
    ("parent_engage", PARENT_ITEMS, "Q13", "agree5", False),
]
_RAW_IDS = {
    "pupil_id": "ResponseId", "school_id": "School", "class_id": "Class", "phase": "Phase",
    "year_group": "YearGroup", "gender": "Gender", "fsm": "FSM", "send": "SEND",
    "send_level": "SENDLevel", "eal": "EAL", "ethnicity": "Ethnicity", "lgbt": "LGBT",
    "attendance": "AttendancePct",
    "adversity": "AdversityFlag", "ks2_score": "KS2Score", "prior_attainment": "PriorAttainment",
    "attainment": "Attainment",
}


def assign_send_level(survey: pd.DataFrame, rng, *, ehcp_share: float = EHCP_SHARE_OF_SEND
                      ) -> pd.DataFrame:
    """Add ``send_level`` ("none", "SEN support", "EHCP") after ``send``, drawn from ``rng``.

    ``send == 0`` gives "none"; each SEND pupil independently has an EHCP with
    probability ``ehcp_share``, otherwise "SEN support".  The level is assigned
    at random within SEND pupils, so the belonging gap built in for SEND is the
    same for both levels.  Only ``rng`` is used, so every other column is left
    unchanged; a survey without ``send`` is an error.

    Examples
    --------
    >>> s = assign_send_level(pd.DataFrame({"send": [0, 1, 1, 0]}), 3)
    >>> sorted(set(s["send_level"]) - {"SEN support", "EHCP"})
    ['none']
    """
    rng = _as_rng(rng)
    if "send" not in survey.columns:
        raise DataError("`survey` has no column 'send', from which `send_level` is derived.")
    if not 0.0 <= float(ehcp_share) <= 1.0:
        raise DataError(f"`ehcp_share` must lie between 0 and 1, but {ehcp_share!r} was passed.")
    send = survey["send"].to_numpy()
    ehcp = rng.random(len(survey)) < ehcp_share
    level = np.where(send == 1, np.where(ehcp, SEND_LEVELS[2], SEND_LEVELS[1]), SEND_LEVELS[0])
    out = survey.copy()
    out.insert(out.columns.get_loc("send") + 1, "send_level", level.astype(object))
    return out


def _raw_name_map() -> dict[str, str]:
    m = dict(_RAW_IDS)
    for _, items, q, _, _ in _RAW_BLOCKS:
        for j, it in enumerate(items, start=1):
            m[it] = f"{q}_{j}"
    return m


def make_raw_export(survey: pd.DataFrame, rng):
    """The survey as a survey tool exports it, for the CSV and the SPSS file.

    Returns ``(raw_csv, raw_sav, sav_meta)``: the CSV frame (text labels for
    the PSSM, PISA and teacher-relationship blocks, with stray case and
    whitespace variants; 9 / -99 / blank for "not answered"), the numeric
    frame written to ``.sav`` and a dict of value labels, variable labels
    and user-missing codes.
    """
    rng = _as_rng(rng)
    names = _raw_name_map()
    n = len(survey)
    raw = pd.DataFrame(index=survey.index)
    start = pd.Timestamp("2026-10-05 09:00") + pd.to_timedelta(  # autumn-term survey
        rng.integers(0, 60 * 24 * 25, n), unit="min")
    raw["StartDate"] = start.strftime("%d/%m/%Y %H:%M")
    for c, rc in _RAW_IDS.items():
        if c in ("ks2_score", "prior_attainment", "attainment") or c not in survey.columns:
            continue
        raw[rc] = survey[c]
    # Gender with stray case/whitespace variants.
    g = survey["gender"].to_numpy().astype(object)
    variants = {"girl": ["Girl", "girl", " Girl", "GIRL"], "boy": ["Boy", "boy", "Boy ", "BOY"]}
    pick = rng.choice(4, size=n, p=[0.85, 0.08, 0.04, 0.03])
    raw["Gender"] = [variants[v][k] for v, k in zip(g, pick)]
    sav = pd.DataFrame(index=survey.index)
    sav["StartDate"] = raw["StartDate"]
    for c, rc in _RAW_IDS.items():
        if c in ("ks2_score", "prior_attainment", "attainment") or c not in survey.columns:
            continue
        sav[rc] = survey[c]
    sav["Gender"] = raw["Gender"]
    value_labels, missing_ranges = {}, {}
    for _, items, _, lab, as_text in _RAW_BLOCKS:
        labels = LABELS[lab]
        for it in items:
            rc = names[it]
            vals = survey[it]
            miss = vals.isna().to_numpy()
            code = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])  # blank, 9, -99
            num = vals.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
            if as_text:
                txt = np.array([labels[int(v)] if not np.isnan(v) else "" for v in num],
                               dtype=object)
                # stray variants: lower case, trailing space, upper case
                var = rng.random(n)
                low = var < 0.03
                trail = (var >= 0.03) & (var < 0.05)
                up = (var >= 0.05) & (var < 0.06)
                txt[low & ~miss] = [t.lower() for t in txt[low & ~miss]]
                txt[trail & ~miss] = [t + " " for t in txt[trail & ~miss]]
                txt[up & ~miss] = [t.upper() for t in txt[up & ~miss]]
                txt[miss & (code == 1)] = "9"
                txt[miss & (code == 2)] = "-99"
                raw[rc] = txt
            else:
                col = pd.array(num, dtype="Float64")
                col[miss & (code == 1)] = 9
                col[miss & (code == 2)] = -99
                raw[rc] = col.astype("Int64")
            sv = num.copy()
            sv[miss & (code >= 1)] = np.where(code[miss & (code >= 1)] == 1, 9, -99)
            sav[rc] = sv
            value_labels[rc] = {float(k): v for k, v in labels.items()}
            value_labels[rc].update({9.0: "Not answered", -99.0: "Not answered (skipped)"})
            missing_ranges[rc] = [9, -99]
    raw["KS2Score"] = survey["ks2_score"]
    raw["PriorAttainment"] = survey["prior_attainment"]
    raw["Attainment"] = survey["attainment"]
    sav["KS2Score"] = survey["ks2_score"].astype("Float64").to_numpy(
        dtype=float, na_value=np.nan)
    sav["PriorAttainment"] = survey["prior_attainment"].astype("Float64").to_numpy(
        dtype=float, na_value=np.nan)
    sav["Attainment"] = survey["attainment"]
    sav["YearGroup"] = sav["YearGroup"].astype(float)
    for c in ["FSM", "SEND", "EAL", "AdversityFlag"]:
        sav[c] = sav[c].astype(float)
        value_labels[c] = {0.0: "No", 1.0: "Yes"}
    sav["LGBT"] = survey["lgbt"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    value_labels["LGBT"] = {0.0: "No", 1.0: "Yes"}
    inv = {v: k for k, v in names.items()}
    column_labels = {c: _label_of(inv.get(c, c)) for c in sav.columns}
    meta = {"variable_value_labels": value_labels, "column_labels": column_labels,
            "missing_ranges": missing_ranges}
    return raw, sav, meta


def _label_of(var: str) -> str:
    """Plain-English label of a survey.csv variable (no item wording is shipped)."""
    fixed = {
        "StartDate": "Date and time the questionnaire was started (export metadata)",
        "pupil_id": "Pupil identifier (synthetic)", "school_id": "School identifier",
        "class_id": "Class identifier (school-class)", "phase": "School phase",
        "year_group": "National Curriculum year group",
        "gender": "Gender (self-reported; the raw export has case/whitespace variants)",
        "fsm": "Eligible for free school meals", "send": "Special educational needs or disability",
        "send_level": "SEND provision: none, SEN support or EHCP (education, health and care "
                      "plan); synthetic, assigned at random within SEND pupils",
        "eal": "English as an additional language",
        "ethnicity": "Ethnic group (broad)", "lgbt": "Identifies as LGBT+ (secondary only)",
        "attendance": "Attendance (percent of sessions attended)",
        "adversity": "Community adversity flag (area-level)",
        "ks2_score": "KS2-style scaled score, end of Year 6, before the survey (secondary "
                     "pupils only; primary pupils have not yet taken KS2)",
        "prior_attainment": "Prior attainment before the autumn survey, 80-120 scaled-score "
                            "metric: KS2 for secondary pupils, the school's end-of-previous-"
                            "year assessment (Year 4 or 5) for primary pupils",
        "attainment": "End-of-year attainment test in June, after the autumn survey, every "
                      "pupil (mean ~50, SD ~10)",
    }
    if var in fixed:
        return fixed[var]
    stem, _, num = var.rpartition("_")
    desc = {
        "pssm": "PSSM school membership item", "pisa_belong": "PISA-style belonging item",
        "tr_care": "Teacher care item", "tr_fair": "Teacher fairness item",
        "tr_listen": "Teachers listen item", "peer": "Peer acceptance item",
        "bully": "Bullying victimisation item (frequency)", "engage": "Engagement item",
        "respect": "Respectful, safe environment item", "voice": "Pupil voice item",
        "sdq": "SDQ-style item", "swemwbs": "SWEMWBS-style wellbeing item",
        "parent_engage": "Parental engagement item",
    }
    if stem in desc:
        return f"{desc[stem]} {num}"
    return var


def _value_label_string(lab: str) -> str:
    return ";".join(f"{k}={v}" for k, v in LABELS[lab].items())


def make_codebook(survey, schools, staff, transition, trial, pisa, raw) -> pd.DataFrame:
    """One row per variable of every sample file (all marked synthetic)."""
    rows = []
    names = _raw_name_map()
    item_meta = {}
    for inst, items, _, lab, _ in _RAW_BLOCKS:
        for it in items:
            item_meta[it] = (inst, lab)

    def add(file, var, label, typ, allowed, instrument="", reverse=0, source_name="",
            value_labels="", missing_codes=""):
        rows.append(dict(file=file, variable=var, label=label, type=typ, allowed=allowed,
                         instrument=instrument, reverse=int(reverse), synthetic="yes",
                         source_name=source_name, value_labels=value_labels,
                         missing_codes=missing_codes))

    survey_types = {
        "pupil_id": ("id", "P0001-P9999"), "school_id": ("id", "S01-S40"),
        "class_id": ("id", "S01-C1 style"), "phase": ("categorical", "primary;secondary"),
        "year_group": ("integer", "5;6;7;8;9;10"), "gender": ("categorical", "girl;boy"),
        "fsm": ("binary", "0;1"), "send": ("binary", "0;1"),
        "send_level": ("categorical", ";".join(SEND_LEVELS)), "eal": ("binary", "0;1"),
        "ethnicity": ("categorical", "White;Asian;Black;Mixed;Other"),
        "lgbt": ("binary", "0;1"), "attendance": ("continuous", "60-100"),
        "adversity": ("binary", "0;1"), "ks2_score": ("integer", "80-120"),
        "prior_attainment": ("integer", "80-120"), "attainment": ("continuous", "0-100"),
    }
    for var in survey.columns:
        src = names.get(var, "")
        if var in item_meta:
            inst, lab = item_meta[var]
            lo, hi = min(LABELS[lab]), max(LABELS[lab])
            rev = var in PSSM_REVERSED or var in PISA_REVERSED or var in SDQ_REVERSED
            inst_name = {"tr_care": "teacher_care", "tr_fair": "teacher_fairness",
                         "tr_listen": "teacher_listening", "peer": "peer_acceptance",
                         "bully": "bullying", "engage": "engagement", "respect": "respect",
                         "voice": "pupil_voice", "parent_engage": "parent_engagement"}.get(
                inst, inst)
            add("survey.csv", var, _label_of(var), "item", f"{lo}-{hi}", inst_name, rev, src,
                _value_label_string(lab), "9;-99")
        else:
            typ, allowed = survey_types[var]
            vl = ""
            if typ == "binary":
                vl = "0=No;1=Yes"
            add("survey.csv", var, _label_of(var), typ, allowed, "", 0, src, vl, "")
    for var in raw.columns:
        inv = {v: k for k, v in names.items()}
        base = inv.get(var)
        if base is not None and base in item_meta:
            _, lab = item_meta[base]
            text = any(base in items for _, items, _, _, t in _RAW_BLOCKS if t)
            add("survey_raw_export.csv", var,
                _label_of(base) + (" (text labels)" if text else " (numeric codes)"),
                "item", "labels" if text else f"{min(LABELS[lab])}-{max(LABELS[lab])}",
                item_meta[base][0],
                int(base in PSSM_REVERSED or base in PISA_REVERSED or base in SDQ_REVERSED),
                var, _value_label_string(lab), "9;-99")
        else:
            if base in survey_types:
                typ, allowed = survey_types[base]
                if base == "gender":
                    allowed = "girl;boy (any case, stray spaces)"
            else:  # StartDate
                typ, allowed = "categorical", "dd/mm/yyyy hh:mm"
            add("survey_raw_export.csv", var, _label_of(base or var), typ, allowed, "", 0, var,
                "0=No;1=Yes" if typ == "binary" else "", "")
    raw_rows = [dict(r, file="survey_raw_export.sav") for r in rows
                if r["file"] == "survey_raw_export.csv"]
    for r in raw_rows:
        if r["allowed"] == "labels":  # the .sav holds numeric codes with value labels
            codes = [int(x.split("=")[0]) for x in r["value_labels"].split(";")]
            r["allowed"] = f"{min(codes)}-{max(codes)}"
            r["label"] = r["label"].replace("(text labels)", "(numeric codes, SPSS value labels)")
    rows.extend(raw_rows)
    sch_info = {
        "school_id": ("id", "S01-S40", "School identifier"),
        "phase": ("categorical", "primary;secondary", "School phase"),
        "n_pupils": ("integer", ">=1", "Pupils in survey.csv"),
        "urban": ("binary", "0;1", "Urban school"),
        "fsm_share": ("continuous", "0-1", "Share of surveyed pupils eligible for FSM"),
        "staff_belonging": ("continuous", "1-5", "School mean of staff belonging scale "
                            "(mean of staff_belong_1..5 per respondent)"),
        "staff_wellbeing": ("continuous", "1-5", "School mean of staff wellbeing item mean"),
        "leader_support": ("continuous", "1-5", "School mean of leader support item mean"),
        "n_staff_responses": ("integer", ">=1", "Staff survey responses"),
    }
    for var in schools.columns:
        t, a, lab = sch_info[var]
        add("schools.csv", var, lab, t, a)
    for var in staff.columns:
        if var.startswith(("staff_belong_", "staff_wellbeing_", "leader_support_")):
            inst = var.rpartition("_")[0]
            add("staff.csv", var, f"{inst.replace('_', ' ').capitalize()} item "
                f"{var.rpartition('_')[2]}", "item", "1-5", inst, 0, "",
                _value_label_string("swemwbs" if "wellbeing" in var else "agree5"), "")
        else:
            t, a, lab = {
                "staff_id": ("id", "ST0001-", "Staff respondent identifier"),
                "school_id": ("id", "S01-S40", "School identifier"),
                "role": ("categorical", "teacher;support;leader", "Role"),
                "years_in_school": ("integer", "0-35", "Years working in this school"),
            }[var]
            add("staff.csv", var, lab, t, a)
    tr_info = {
        "pupil_id": ("id", "T0001-", "Pupil identifier"),
        "wave": ("integer", "1;2;3", "1 = Year 6 summer, 2 = Year 7 autumn, 3 = Year 7 summer"),
        "year_group": ("integer", "6;7", "Year group at the wave"),
        "primary_id": ("id", "TP01-TP20", "Primary school attended in Year 6"),
        "secondary_id": ("id", "TS01-TS08", "Secondary school joined in Year 7"),
        "school_id": ("id", "", "School attended at this wave"),
        "gender": ("categorical", "girl;boy", "Gender"), "fsm": ("binary", "0;1", "FSM"),
        "send": ("binary", "0;1", "SEND"),
        "belonging": ("continuous", "1-5", "PSSM mean (18 items, reverse-keyed items reversed)"),
        "teacher_rel": ("continuous", "1-5", "Teacher relationship mean (4 items)"),
        "peer": ("continuous", "1-5", "Peer acceptance mean (4 items)"),
        "wellbeing": ("continuous", "7-35", "SWEMWBS metric score"),
        "sdq_total": ("integer", "0-40", "SDQ total difficulties"),
    }
    for var in transition.columns:
        t, a, lab = tr_info[var]
        add("transition.csv", var, lab, t, a,
            {"belonging": "pssm", "wellbeing": "swemwbs", "sdq_total": "sdq"}.get(var, ""))
    trial_info = {
        "pupil_id": ("id", "R00001-", "Pupil identifier"),
        "school_id": ("id", "R01-R40", "School identifier"),
        "arm": ("categorical", "control;programme", "Randomised arm"),
        "treat": ("binary", "0;1", "1 = school randomised to the programme"),
        "block": ("integer", "1-10", "Randomisation block (stratum of 4 schools by FSM share)"),
        "fsm": ("binary", "0;1", "FSM"), "send": ("binary", "0;1", "SEND"),
        "gender": ("categorical", "girl;boy", "Gender"),
        "pre_belonging": ("continuous", "1-5", "Belonging (PSSM mean) before randomisation"),
        "post_belonging": ("continuous", "1-5", "Belonging (PSSM mean) at follow-up; empty if "
                           "attrited"),
        "pre_attain": ("continuous", "", "Standardised attainment test before (~100 +/- 15)"),
        "post_attain": ("continuous", "", "Standardised attainment test at follow-up"),
        "attrited": ("binary", "0;1", "No follow-up measures"),
        "complied": ("binary", "0;1", "Pupil's school delivered the programme with fidelity "
                     "(0 for control)"),
        "dosage": ("integer", "0-12", "Programme sessions delivered"),
    }
    for var in trial.columns:
        t, a, lab = trial_info[var]
        add("trial.csv", var, lab, t, a, "pssm" if "belonging" in var else "")
    for var in pisa.columns:
        if var.startswith("W_FSTURWT"):
            add("pisa.csv.gz", var, f"Fay BRR replicate weight {var[9:]} (k = 0.5)", "weight",
                ">0")
        elif var.startswith("PV"):
            dom = "mathematics" if var.endswith("MATH") else "reading"
            add("pisa.csv.gz", var, f"Plausible value {var[2:-4]} in {dom}", "pv", "")
        elif var.startswith("ST034"):
            j = int(var[6])
            wording = "negative" if j in (1, 4, 6) else "positive"
            add("pisa.csv.gz", var, f"Belonging item {j} ({wording} wording)",
                "item", "1-4", "pisa_belong", int(j in (2, 3, 5)), "", _value_label_string("pisa"),
                "")
        else:
            t, a, lab = {
                "CNT": ("categorical", "AAA;BBB;CCC;DDD;EEE;FFF", "Country (fictional)"),
                "CNTSCHID": ("id", "", "School identifier"),
                "CNTSTUID": ("id", "", "Student identifier"),
                "ST004D01T": ("categorical", "1;2", "Gender: 1 female, 2 male"),
                "ESCS": ("continuous", "", "Economic, social and cultural status index"),
                "IMMIG": ("categorical", "1;2;3", "1 native, 2 second generation, 3 first "
                          "generation"),
                "BELONG": ("continuous", "", "Sense of belonging index (standardised item "
                           "mean, pooled mean 0 SD 1)"),
                "W_FSTUWT": ("weight", ">0", "Final student weight"),
            }[var]
            add("pisa.csv.gz", var, lab, t, a)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------
# TRUTH.json
# --------------------------------------------------------------------------------------
def _clean(value):
    if isinstance(value, (np.floating, np.integer)):
        value = value.item()
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def _p(value, description):
    return {"value": _clean(value), "description": description}


def _alpha(frame: pd.DataFrame) -> float:
    """Raw Cronbach's alpha on complete rows (descriptive; documentation only)."""
    x = frame.dropna().to_numpy(dtype=float)
    k = x.shape[1]
    c = np.cov(x, rowvar=False)
    return float(k / (k - 1) * (1 - np.trace(c) / c.sum()))


def _anova_icc(values: pd.Series, groups: pd.Series) -> float:
    """One-way ANOVA ICC(1) with the adjusted average group size (documentation only)."""
    ok = values.notna()
    v, g = values[ok].astype(float), groups[ok]
    grp = v.groupby(g.to_numpy())
    k, n = grp.ngroups, len(v)
    sizes = grp.size()
    n0 = (n - (sizes**2).sum() / n) / (k - 1)
    msb = (sizes * (grp.mean() - v.mean()) ** 2).sum() / (k - 1)
    msw = ((v - grp.transform("mean")) ** 2).sum() / (n - k)
    return float((msb - msw) / (msb + (n0 - 1) * msw))


def _realised(survey: pd.DataFrame, trial: pd.DataFrame) -> dict:
    """Descriptive statistics of the realised sample (not parameters)."""
    keyed = survey[PSSM_ITEMS].astype(float).copy()
    keyed[PSSM_REVERSED] = 6 - keyed[PSSM_REVERSED]
    pisa_k = survey[PISA_ITEMS].astype(float).copy()
    pisa_k[PISA_REVERSED] = 5 - pisa_k[PISA_REVERSED]
    sdq_k = survey[SDQ_ITEMS].astype(float).copy()
    sdq_k[SDQ_REVERSED] = 2 - sdq_k[SDQ_REVERSED]
    alphas = {"pssm": _alpha(keyed), "pisa_belong": _alpha(pisa_k)}
    for sc in SHORT_SCALES:
        alphas[sc] = _alpha(survey[[f"{sc}_{i}" for i in range(1, 5)]])
    alphas["parent_engage"] = _alpha(survey[PARENT_ITEMS])
    for sub, nums in SDQ_SUBSCALES.items():
        alphas[f"sdq_{sub}"] = _alpha(sdq_k[[f"sdq_{n:02d}" for n in nums]])
    alphas["swemwbs"] = _alpha(survey[SWEMWBS_ITEMS])
    pssm_mean = keyed.mean(axis=1)
    return {
        "alpha": _p(alphas, "raw Cronbach's alpha of each scale on complete rows, reverse-keyed "
                    "items reversed (descriptive)"),
        "pssm_mean_icc_school": _p(_anova_icc(pssm_mean, survey["school_id"]),
                                   "unconditional school ICC(1) of the PSSM mean (mean of "
                                   "answered items), one-way ANOVA estimator"),
        "pssm_mean_icc_school_primary": _p(
            _anova_icc(pssm_mean[survey["phase"] == "primary"],
                       survey.loc[survey["phase"] == "primary", "school_id"]),
            "same within primary schools only"),
        "pssm_mean_icc_school_secondary": _p(
            _anova_icc(pssm_mean[survey["phase"] == "secondary"],
                       survey.loc[survey["phase"] == "secondary", "school_id"]),
            "same within secondary schools only"),
        "pssm_mean_mean_sd": _p([float(pssm_mean.mean()), float(pssm_mean.std())],
                                "mean and SD of the PSSM mean"),
        "trial_pre_icc": _p(_anova_icc(trial["pre_belonging"], trial["school_id"]),
                            "school ICC(1) of pre_belonging in trial.csv"),
        "trial_attrition_share": _p(trial.groupby("arm")["attrited"].mean().to_dict(),
                                    "share attrited by arm"),
    }


def make_truth(seed, survey, schools, staff, transition, trial, pisa, latent) -> dict:
    """Document every generating parameter (each entry has a value and a description)."""
    var_u_pre, var_e_pre, var_u_post, var_e_post = _trial_variances()
    t = TRIAL
    item_cols = [c for c in survey.columns if c.startswith(tuple(
        [*SHORT_SCALES, "pssm_", "pisa_belong_", "sdq_", "swemwbs_", "parent_engage_"]))]
    items = survey[item_cols]
    blocks_all_missing = {
        name: int(survey[cols].isna().all(axis=1).sum())
        for name, cols in [("pssm", PSSM_ITEMS), ("sdq", SDQ_ITEMS), ("swemwbs", SWEMWBS_ITEMS)]
    }
    coef_desc = {
        "tr_care": "teacher care latent (SD 1)", "tr_fair": "teacher fairness latent",
        "tr_listen": "teachers-listen latent", "peer": "peer acceptance latent",
        "bully": "bullying victimisation latent", "engage": "engagement latent",
        "voice": "pupil voice latent", "respect": "respect/safety latent",
        "parent_engage": "parental engagement latent",
        "staff_belonging_z": "school mean of the staff belonging scale (schools.csv "
                             "staff_belonging), standardised across the schools (ddof=1): "
                             "cross-level effect per school-level SD",
        "send": "SEND (0/1)", "lgbt": "LGBT (0/1; 0 for primary)", "fsm": "FSM (0/1)",
        "eth_Asian": "Asian vs White", "eth_Black": "Black vs White",
        "eth_Mixed": "Mixed vs White", "eth_Other": "Other vs White",
        "attendance_per10": "per 10 percentage points of attendance, centred at 95",
        "secondary": "secondary vs primary phase",
        "prior_attainment_z": "prior attainment measured before the survey, (prior_attainment "
                              "- 100) / 6.5 (about one SD)",
    }
    high_need = int((_sdq_scores(survey)["total"] >= 18).sum())
    sdq_n = int(_sdq_scores(survey)["total"].notna().sum())
    tr_counts = transition.groupby("wave").size()
    b = transition.pivot(index="pupil_id", columns="wave", values="belonging")
    sd1 = float(b[1].std())
    truth = {
        "note": SYNTHETIC_NOTE,
        "seed": seed,
        "generator": "belonging_lib.simulate.write_sample_data: numpy.random.SeedSequence("
                     "seed).spawn(5) gives one numpy Generator each for survey+staff, "
                     "transition, trial, pisa and the raw export",
        "by_construction": [
            "Time order (survey.timing, survey.causal_order): prior attainment (KS2 for "
            "secondary pupils, an earlier school assessment for primary pupils) is measured "
            "before the autumn survey and does NOT depend on belonging; it raises the "
            "belonging latent by 0.10 per SD. The end-of-year attainment test (June) is "
            "generated from prior attainment and the OBSERVED complete-data PSSM mean (all 18 "
            "items, negatively worded items reversed, before item non-response) with the "
            "formula in survey.attainment_model: an OLS or mixed model of attainment on "
            "(prior_attainment - 100) + (pssm_mean - 3.5) * fsm + send + attendance/10 "
            "recovers it in expectation among pupils who answered all 18 PSSM items. "
            "survey.belonging_effect_on_attainment gives the true effect of belonging on later "
            "attainment adjusted for prior attainment.",
            "Pupil belonging is generated in LATENT units (survey.belonging_structural): "
            "regressions of observed scale means are attenuated by measurement error; an SEM "
            "with latent variables recovers them approximately.",
            "Staff belonging feeds pupil belonging by construction: the same school climate "
            "effect drives staff belonging, and the school mean of the staff scale enters "
            "pupil belonging with coefficient 0.15 per school-level SD.",
            "Measurement invariance holds across gender and FSM for every item (same loadings "
            "and thresholds); engage_3 has DIF for SEND pupils (threshold shift).",
            "The trial effect on post_belonging is 0.20 SD (ITT) by construction, SD = the "
            "model-implied total unconditional SD of post_belonging in the control condition.",
            "PISA: the true mathematics score is country mean + 30 ESCS + 8 BELONG + school "
            "effect + residual; every PV = true score + independent noise, so PV regressions "
            "are unbiased for 30 and 8.",
        ],
        "sizes": {
            "survey_pupils": _p(len(survey), "rows of survey.csv"),
            "survey_schools": _p(int(survey["school_id"].nunique()), "16 primary + 24 secondary"),
            "survey_classes": _p(int(survey["class_id"].nunique()), "3-6 classes per school"),
            "staff": _p(len(staff), "rows of staff.csv"),
            "transition_pupils": _p(int(transition["pupil_id"].nunique()), "pupils at wave 1"),
            "trial_pupils": _p(len(trial), "rows of trial.csv"),
            "pisa_students": _p(len(pisa), "rows of pisa.csv.gz"),
        },
        "survey": {
            "belonging_structural": {
                k: _p(v, f"Effect on the pupil belonging latent (before standardising) of "
                      f"{coef_desc[k]}.") for k, v in BELONG_COEF.items()},
            "belonging_variance": {
                "school_sd": _p(_BELONG_SCHOOL_SD, "SD of the school random intercept (besides "
                                "the staff-belonging effect)"),
                "class_sd": _p(_BELONG_CLASS_SD, "SD of the class random intercept"),
                "residual_sd": _p(_BELONG_RESID_SD, "pupil residual SD"),
                "latent_scale_sd": _p(_BELONG_LATENT_SD, "model-implied SD of the belonging "
                                      "latent; items load on (eta - (-0.15)) / this SD"),
                "icc_school_latent": _p((_BELONG_SCHOOL_SD**2 + 0.15**2)
                                        / _BELONG_LATENT_SD**2,
                                        "model-implied school ICC of the belonging latent "
                                        "within phase and net of pupil composition (school "
                                        "intercept + staff effect); the unconditional ICC of "
                                        "the observed PSSM mean is larger (phase gap, "
                                        "composition): see realised.pssm_mean_icc_school"),
            },
            "parts_correlation": _p(np.round(_part_corr(), 4).tolist(),
                                    f"correlation matrix of the latent parts {_PARTS} (one "
                                    "general factor plus 0.15 extra among the three teacher "
                                    "parts); then bully += 0.30 send + 0.40 lgbt, peer -= 0.20 "
                                    "send"),
            "item_loadings": {
                "pssm": _p(_PSSM_LOADINGS.tolist(), "loadings of pssm_01..18 on the "
                           "standardised belonging latent; negatively worded items load "
                           "negatively in raw form"),
                "pssm_method": _p(_PSSM_METHOD_LOADING, "loading of the 5 negatively worded "
                                  "PSSM items on an independent method factor"),
                **{s: _p(v, f"loadings of {s}_1..4 on their latent") for s, v in
                   _SCALE_LOADINGS.items()},
                "sdq": _p(_SDQ_LOADING, "approximate loading of SDQ items on their subscale "
                          "latent (+/-0.04 by item)"),
                "swemwbs": _p(_SWEMWBS_LOADINGS.tolist(), "SWEMWBS item loadings"),
            },
            "dif_engage_3_send": _p(_ENGAGE3_SEND_DIF, "shift of the latent response of engage_3 "
                                    "for SEND pupils (same latent engagement -> lower answers): "
                                    "non-invariant threshold/intercept; every other item is "
                                    "invariant across gender, FSM and SEND"),
            "send_level": {
                "ehcp_share_within_send": _p(
                    EHCP_SHARE_OF_SEND, "probability that a SEND pupil (send = 1) has send_level "
                    "'EHCP' (education, health and care plan) rather than 'SEN support'; pupils "
                    "with send = 0 have 'none'. A simulation choice (about 1 in 5), not a cited "
                    "national share. Drawn independently per pupil from its own random stream "
                    "(the sixth child of the seed), after every other survey column"),
                "extra_gap_ehcp_vs_sen_support": _p(
                    0.0, "extra effect of an EHCP over SEN support on belonging, on every other "
                    "latent and on attainment: none. The level is assigned at random within SEND "
                    "pupils, so the true belonging gap (send coefficient and its paths through "
                    "peers and bullying) is the same for both levels; any difference between "
                    "the levels in the sample is chance"),
                "counts": _p({k: int(v) for k, v in
                              survey["send_level"].value_counts().reindex(SEND_LEVELS).items()},
                             "pupils at each level in survey.csv"),
            },
            "timing": {k: _p(v, "when this measure is taken, relative to the autumn-term survey")
                       for k, v in TIMING.items()},
            "causal_order": _p(CAUSAL_ORDER, "order in which the simulator generates the "
                               "survey measures; each step depends only on earlier ones"),
            "prior_attainment_model": {
                **{k: _p(v, "coefficient in prior_attainment = round(100 - 3.0*fsm - 4.0*send "
                         "- 1.0*eal + 1.5*(attendance-95)/10 + u_school + e), clipped to "
                         "80-120; no belonging term (measured before the survey)")
                   for k, v in PRIOR_COEF.items()},
                "school_sd": _p(_PRIOR_SCHOOL_SD, "SD of the school intercept"),
                "residual_sd": _p(_PRIOR_RESID_SD, "pupil residual SD"),
                "sd_for_belonging": _p(_PRIOR_SD, "prior attainment enters the belonging "
                                       "latent as (prior_attainment - 100) / this value "
                                       "(survey.belonging_structural.prior_attainment_z)"),
                "n_clipped": _p(int(((latent["prior_unclipped"] < 80)
                                     | (latent["prior_unclipped"] > 120)).sum()),
                                "pupils whose prior attainment was clipped to 80 or 120"),
            },
            "attainment_model": {
                **{k: _p(v, "coefficient in attainment = round(50 + 0.8*(prior_attainment-100) "
                         "+ 2.5*pc + 1.5*pc*fsm - 2.0*fsm - 2.0*send + 1.0*(attendance-95)/10 "
                         "+ u_school + v_class + e_pupil + e_test, 1) for every pupil, where pc "
                         "= complete PSSM mean - 3.5 (prior_attainment after clipping, before "
                         "it was set missing)")
                   for k, v in ATTAIN_COEF.items()},
                "school_sd": _p(_ATTAIN_SCHOOL_SD, "SD of the school intercept"),
                "class_sd": _p(_ATTAIN_CLASS_SD, "SD of the class intercept"),
                "residual_sd": _p(float(np.hypot(_ATTAIN_PUPIL_SD, _ATTAIN_OCCASION_SD)),
                                  "total residual SD (pupil 5.5 and test-day noise 2.4)"),
            },
            "belonging_effect_on_attainment": {
                "non_fsm": _p(ATTAIN_COEF["pssm_c"], "true effect of one point of the PSSM "
                              "mean (autumn) on end-of-year attainment, adjusted for prior "
                              "attainment, for pupils not eligible for FSM"),
                "fsm": _p(ATTAIN_COEF["pssm_c"] + ATTAIN_COEF["pssm_c:fsm"],
                          "the same for pupils eligible for FSM"),
                "average": _p(ATTAIN_COEF["pssm_c"] + ATTAIN_COEF["pssm_c:fsm"]
                              * float(survey["fsm"].mean()),
                              "the same averaged over the FSM share of this sample (the "
                              "coefficient a model without the FSM interaction estimates)"),
            },
            "mental_health": {
                "difficulties": _p("D = -0.30*B + 0.25*bully + 0.30*adversity + 0.15*fsm + "
                                   "0.25*send - 0.15*B*adversity + 0.85*e",
                                   "latent general difficulties; B = standardised belonging "
                                   "latent; belonging protects more under adversity"),
                "wellbeing": _p("W = 0.40*B - 0.15*bully - 0.15*adversity - 0.05*fsm + "
                                "0.10*B*adversity + 0.85*e", "latent wellbeing (SWEMWBS items)"),
                "sdq_subscales": _p("emotional = .62 D + .25 girl; conduct = .55 D + .20 boy; "
                                    "hyperactivity = .55 D + .25 boy; peer_problems = .60 D - "
                                    ".25 peer; prosocial = .30 B + .30 girl (+ noise)",
                                    "SDQ subscale latents"),
                "high_need_n": _p(high_need, "pupils with SDQ total difficulties >= 18 (of "
                                  f"{sdq_n} with a total; subscales prorated when >= 3 of 5 "
                                  "items answered, as the SDQ scoring rules say)"),
                "high_need_share": _p(high_need / sdq_n,
                                      "share with total >= 18 among pupils with a total"),
            },
            "missing": {
                "item_nonresponse": _p("P(missing) = logistic(-3.75 + 0.55*(95 - attendance)/10 + "
                                       "0.35*boy) per item, independently",
                                       "MAR on attendance and gender"),
                "item_cells_missing": _p(int(items.isna().sum().sum()),
                                         "missing item cells in survey.csv (all causes)"),
                "item_cells_share": _p(float(items.isna().mean().mean()),
                                       "share of item cells missing"),
                "whole_scale_missing": _p(blocks_all_missing, "pupils with every item of the "
                                          "scale missing (skip probability logistic(-5 + "
                                          "0.8*(95-att)/10 + 0.4*boy) x 1.6 SDQ, 1.2 SWEMWBS, "
                                          "0.6 PSSM)"),
                "prior_missing": _p(int(survey["prior_attainment"].isna().sum()),
                                    "prior_attainment missing: logistic(-3.8 + 1.3*eal)"),
                "ks2_missing": _p(int(survey["ks2_score"].isna().sum()),
                                  "ks2_score missing: every primary pupil (not yet taken) "
                                  "plus secondary pupils without prior attainment"),
                "attainment_missing": _p(
                    int(survey["attainment"].isna().sum()),
                    "pupils (primary and secondary) with the end-of-year test missing: "
                    "logistic(-3.3 + 0.6*(95-att)/10)"),
                "lgbt_missing_primary": _p(int((survey["phase"] == "primary").sum()),
                                           "lgbt is empty for every primary pupil (not asked)"),
            },
        },
        "staff": {
            "staff_belonging_latent": _p("0.50*climate + 0.20*leader + 0.866*e",
                                         "staff belonging latent; climate ~ N(0,1) per school "
                                         "is the school effect shared with pupils"),
            "staff_wellbeing_latent": _p("0.50*staff belonging + 0.15*climate + 0.80*e", ""),
            "leader_support_latent": _p("0.45*climate + 0.35*staff belonging + 0.75*e", ""),
            "item_nonresponse": _p("1.0% per item (2.5% for support staff)", "MCAR within role"),
        },
        "transition": {
            "model": _p("base = 0.35 TR1 + 0.20 peer1 - 0.30 send - 0.15 fsm + 0.85 e; "
                        "slope = -0.30 - 0.20 send + 0.10 TR1 + 0.30 e; eta1 = base + u_primary "
                        "+ occ; eta2 = base + u_secondary + slope + occ; eta3 = base + "
                        "u_secondary + 0.5 slope + occ (occ ~ N(0, 0.3^2) each wave); W1 = 0.45 "
                        "eta1 + 0.85 e; W_t (t = 2, 3) = 0.30 eta1 + 0.20 eta_t + 0.35 W1 + "
                        "0.75 e; teacher relationship TR2 = 0.5 TR1 + 0.87 e (new teachers), "
                        "TR3 = 0.7 TR2 + 0.71 e; peer2 = 0.6 peer1 + 0.8 e, peer3 = 0.7 peer2 + "
                        "0.71 e. belonging = mean of 18 PSSM-style items from eta_t + 0.15; "
                        "wellbeing = SWEMWBS metric from 7 items on W_t; sdq_total from 20 "
                        "difficulty items whose subscale latents are 0.6 (-0.35 eta_t - 0.30 "
                        "W_t) + 0.75 e + offset. School effects are centred over schools.",
                        "latent model of the transition panel (latent units, wave-1 SD ~ 1)"),
            **{k: _p(v, _TRANSITION_DESC[k]) for k, v in TRANSITION.items()},
            "observed_mean_change_w1_w2_in_w1_sd": _p(
                float((b[2] - b[1]).mean() / sd1),
                "realised mean change in observed belonging (wave 2 - wave 1) among pupils "
                "present at both waves, in units of the wave-1 SD"),
            "observed_mean_change_w1_w3_in_w1_sd": _p(
                float((b[3] - b[1]).mean() / sd1), "same for wave 3 - wave 1"),
            "rows_per_wave": _p({int(k): int(v) for k, v in tr_counts.items()},
                                "pupils present at each wave (attrition: rows absent)"),
            "attrition": _p("monotone; P(drop at wave w | present at w-1) = logistic(-2.65 + "
                            "0.55 fsm + 0.35 send - 0.40 z(wave-1 belonging))",
                            "MAR on observed wave-1 data"),
        },
        "trial": {
            "effect_sd": _p(t["effect_sd"], "ITT effect of the programme on post_belonging in "
                            "units of the model-implied total unconditional SD of post_belonging "
                            "in the control condition (sqrt(between-school + within-school "
                            "variance) = 0.60 scale points)"),
            "effect_raw_itt": _p(t["effect_sd"] * t["pre_sd"], "ITT effect in scale points "
                                 "(0.12)"),
            "control_post_sd": _p(t["pre_sd"], "the SD used for effect sizes"),
            "cace_sd": _p(t["effect_sd"] / t["compliance_share"], "effect in complier schools "
                          "(CACE, exact because 16 of the 20 programme schools comply and "
                          "non-compliers get no effect) in the same SD units"),
            "compliance_share": _p(t["compliance_share"], "share of programme schools that "
                                   "comply (exactly 16 of 20)"),
            "fsm_extra_complier": _p(t["fsm_extra_complier"], "complier effect = 0.15 + 0.05 * "
                                     "(fsm - 0.25) scale points, so FSM pupils gain 0.1875 and "
                                     "others 0.1375 in complier schools"),
            "fsm_itt_effect_sd": _p(0.8 * (0.15 + 0.05 * 0.75) / 0.6, "ITT effect for FSM pupils "
                                    "(SD units)"),
            "nonfsm_itt_effect_sd": _p(0.8 * (0.15 - 0.05 * 0.25) / 0.6, "ITT effect for "
                                       "non-FSM pupils (SD units)"),
            "icc": _p(t["icc"], "school ICC of pre and of post (control)"),
            "pre_post_slope": _p(t["pre_post_slope"], "slope and correlation of post on pre"),
            "variances": _p({"u_pre": var_u_pre, "e_pre": var_e_pre, "u_post": var_u_post,
                             "e_post": var_e_post}, "variance components; post = 3.4 + 0.6*(pre"
                            " - 3.4) + u_post + e_post + effect"),
            "attain_effect_sd": _p(t["attain_effect_sd"], "ITT effect on post_attain in units of "
                                   "its control SD, 15 points (0.75 points; 0.9375 in complier "
                                   "schools)"),
            "attain_model": _p("pre_attain = 100 + 15 (0.2 z_pre + 0.98 e); post_attain = 100 + "
                               "0.7 (pre_attain - 100) + 2.0 (pre_belonging - 3.4) + u_school "
                               "(SD 1.5) + e (variance chosen so the control SD is 15) + effect",
                               "trial attainment model (z_pre = standardised pre_belonging)"),
            "sizes": _p("40 schools, 40-60 pupils each; pre/post belonging clipped to 1-5 and "
                        "rounded to 2 decimals", ""),
            "attrition": _p("logistic(-2.50 control / -2.05 programme - 0.45 z(pre) + 0.45 fsm)",
                            "MAR on pre-test and FSM"),
            "attrited_n": _p({a: int(v) for a, v in trial.groupby("arm")["attrited"].sum().items()},
                             "attrited pupils per arm"),
            "randomisation": _p("10 blocks of 4 schools formed by sorting on school FSM share; "
                                "2 of 4 schools per block randomised to the programme", ""),
        },
        "realised": _realised(survey, trial),
        "pisa": {
            "model": _p("theta_math = math_mean[country] + 30 ESCS + 8 BELONG + u_school + e; "
                        "theta_read = read_mean[country] + 28 ESCS + 10 BELONG + e_read with "
                        "e_read = 0.8 (u_school + e) + 0.6 * N(0, 35^2 + 62^2); PVk = theta + "
                        "N(0, 22^2) independently for k = 1..10; ESCS = school mean (country "
                        "mean + N(0, 0.45^2)) + N(0, 0.85^2); belonging latent = 0.10 ESCS - "
                        "0.15 (IMMIG = 3) + u_school(0.25) + 0.95 e; W_FSTUWT = "
                        "exp(3 - 0.35 school ESCS + N(0, 0.3^2)) * U(1, 1.15)",
                        "PISA generating model (ESCS and BELONG as written in the file)"),
            **{k: _p(v, _PISA_DESC[k]) for k, v in PISA.items()},
            "replicates": _p("Fay BRR: schools sorted by school ESCS within country and paired "
                             "into 20 pseudo-strata (h = 0..19); replicate r weight = W_FSTUWT * "
                             "(1 + 0.5 * s), s = H[r, h + 1] for the first school of the pair "
                             "and -H[r, h + 1] for the second, H = the order-80 Paley Hadamard "
                             "matrix (belonging_lib.simulate.paley_hadamard(79), first column all "
                             "ones), so the design is fully balanced. Sampling variance = "
                             "sum_r (t_r - t)^2 / (80 * (1 - 0.5)^2)", ""),
            "belong_index": _p("mean of the 6 items after reversing 2, 3, 5 (5 - x), "
                               "standardised to mean 0 SD 1 pooling countries with equal "
                               "weight (not an IRT WLE)", ""),
        },
    }
    return truth


# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------
SAMPLE_NAMES = ["survey.csv", "schools.csv", "staff.csv", "transition.csv", "trial.csv",
                "pisa.csv.gz", "survey_raw_export.csv", "survey_raw_export.sav", "codebook.csv",
                "TRUTH.json", "README.md"]

_SAV_FIXED_DATE = b"01 Jan 26"
_SAV_FIXED_TIME = b"00:00:00"


def _write_csv(frame: pd.DataFrame, path: Path, **kw) -> None:
    frame.to_csv(path, index=False, lineterminator="\n", **kw)


def _write_sav(frame: pd.DataFrame, meta: dict, path: Path) -> None:
    import pyreadstat

    pyreadstat.write_sav(
        frame, str(path), column_labels=meta["column_labels"],
        variable_value_labels=meta["variable_value_labels"],
        missing_ranges={k: v for k, v in meta["missing_ranges"].items()},
        file_label="SYNTHETIC belonging survey raw export", row_compress=True,
    )
    data = bytearray(path.read_bytes())
    # SAV header: $FL2(4) product(60) layout(4) nominal case size(4) compression(4)
    # weight index(4) ncases(4) bias(8) -> creation date at 92 (9 bytes), time at 101 (8).
    data[92:101] = _SAV_FIXED_DATE
    data[101:109] = _SAV_FIXED_TIME
    path.write_bytes(bytes(data))


def simulate_all(seed: int = DEFAULT_SEED) -> dict:
    """Every sample data set as DataFrames (and the TRUTH dict), from one seed."""
    # One independent child stream per data set, so changing one leaves the others intact.
    # Child i of a SeedSequence does not depend on how many children are spawned, so the sixth
    # stream (SEND level) leaves the first five, and every other column, as they were.
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(6)]
    survey, schools, staff, latent = simulate_survey(streams[0], return_latent=True)
    survey = assign_send_level(survey, streams[5])
    transition = simulate_transition(streams[1])
    trial = simulate_trial(streams[2])
    pisa = simulate_pisa(streams[3])
    raw, sav, sav_meta = make_raw_export(survey, streams[4])
    codebook = make_codebook(survey, schools, staff, transition, trial, pisa, raw)
    truth = make_truth(seed, survey, schools, staff, transition, trial, pisa, latent)
    return dict(survey=survey, schools=schools, staff=staff, transition=transition, trial=trial,
                pisa=pisa, raw=raw, sav=sav, sav_meta=sav_meta, codebook=codebook, truth=truth,
                latent=latent)


def write_sample_data(out_dir=None, *, seed: int = DEFAULT_SEED, progress: bool = False
                      ) -> dict[str, Path]:
    """Simulate and write every sample file; returns {file name: path}.

    The files are byte-for-byte reproducible for a given seed.
    """
    out = Path(out_dir) if out_dir is not None else (
        Path(__file__).resolve().parent.parent / "data" / "sample")
    out.mkdir(parents=True, exist_ok=True)
    d = simulate_all(seed)
    paths = {name: out / name for name in SAMPLE_NAMES}
    steps = [
        ("survey.csv", lambda p: _write_csv(d["survey"], p)),
        ("schools.csv", lambda p: _write_csv(d["schools"], p)),
        ("staff.csv", lambda p: _write_csv(d["staff"], p)),
        ("transition.csv", lambda p: _write_csv(d["transition"], p)),
        ("trial.csv", lambda p: _write_csv(d["trial"], p)),
        ("pisa.csv.gz", lambda p: _write_csv(
            d["pisa"], p, compression={"method": "gzip", "mtime": 0})),
        ("survey_raw_export.csv", lambda p: _write_csv(d["raw"], p)),
        ("survey_raw_export.sav", lambda p: _write_sav(d["sav"], d["sav_meta"], p)),
        ("codebook.csv", lambda p: _write_csv(d["codebook"], p)),
        ("TRUTH.json", lambda p: p.write_text(
            json.dumps(d["truth"], indent=2, ensure_ascii=False) + "\n", encoding="utf-8")),
        ("README.md", lambda p: p.write_text(_readme(d), encoding="utf-8")),
    ]
    iterator = steps
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(steps, desc="writing sample data")
    for name, fn in iterator:
        fn(paths[name])
    return paths


def _readme(d) -> str:
    t = d["truth"]
    real = t["realised"]
    alphas = real["alpha"]["value"]
    alpha_lines = "\n".join(f"| {k} | {v:.2f} |" for k, v in alphas.items())
    return f"""# Sample data (SYNTHETIC)

**{SYNTHETIC_NOTE}**

Regenerate every file byte for byte with

    python -m belonging_lib.simulate            # or: --out OTHER_FOLDER

(seed {DEFAULT_SEED}; a few seconds). The generating model and every parameter are in
`TRUTH.json` (each entry has a `value` and a `description`; `by_construction` lists which
claims hold by construction; `realised` gives descriptive statistics of this sample). Every
variable of every file is described in `codebook.csv` (column `synthetic` = yes for every row).
Load the files with `belonging_lib.load_sample(name)` and `belonging_lib.load_truth()`.

| file | rows | what |
|---|---|---|
| survey.csv | {len(d['survey'])} | pupil survey in {d['survey']['school_id'].nunique()} schools ({d['survey']['class_id'].nunique()} classes): item-level PSSM (18), PISA belonging (6), teacher care / fairness / listening, peer acceptance, bullying, engagement, respect, pupil voice (4 items each), SDQ (25), SWEMWBS (7), parental engagement (3); characteristics; prior attainment (before the autumn survey; `ks2_score` for secondary pupils only) and the end-of-year attainment test (June, every pupil) |
| schools.csv | {len(d['schools'])} | one row per survey school, with staff-survey means |
| staff.csv | {len(d['staff'])} | staff survey (belonging, wellbeing, leader support) |
| transition.csv | {len(d['transition'])} | 3-wave primary-to-secondary transition panel, long format ({t['sizes']['transition_pupils']['value']} pupils; attrited pupil-waves are absent) |
| trial.csv | {len(d['trial'])} | cluster-randomised trial of a belonging programme (40 schools, 1:1 within 10 blocks) |
| pisa.csv.gz | {len(d['pisa'])} | PISA-style file: 6 fictional countries (AAA..FFF), final weight, 80 Fay-BRR replicate weights (k = 0.5), 10 PVs in mathematics and reading, BELONG, ESCS, IMMIG |
| survey_raw_export.csv / .sav | {len(d['raw'])} | survey.csv as a survey tool exports it: columns renamed (Q1_1 ...), text labels for the PSSM, PISA and teacher blocks (with stray case/whitespace variants), 9 / -99 / blank for "not answered"; the .sav has numeric codes with SPSS value labels and 9 / -99 declared user-missing |
| codebook.csv | {len(d['codebook'])} | one row per variable; `source_name`, `value_labels` and `missing_codes` map the raw export back to survey.csv |
| TRUTH.json | | generating parameters with descriptions |

## Coding

- Missing values are empty cells.
- PSSM items 1-5 (1 = not at all true ... 5 = completely true); reverse-keyed 03, 06, 09, 12, 16
  are stored unreversed (reverse as 6 - x).
- PISA belonging items 1-4 with 1 = strongly agree; items 1, 4, 6 are negatively worded, so
  reverse 2, 3, 5 (5 - x) for "higher = more belonging". Same in pisa.csv.gz (ST034Q01TA-Q06TA).
- Agreement scales 1-5 (1 = strongly disagree); bullying 1-5 frequency (1 = never).
- SDQ items 0-2; reversed items 07, 11, 14, 21, 25 (reverse as 2 - x).
- SWEMWBS items 1-5; transition.csv `wellbeing` is the metric score (Rasch conversion).
- `send` is 0/1; `send_level` is text: none (send = 0), SEN support or EHCP (send = 1).
- Timing: the survey is taken in the autumn term. `prior_attainment` (integer 80-120) is measured
  before it: the KS2 scaled score (end of Year 6) for secondary pupils, the school's own
  assessment at the end of the previous year (Year 4 or 5) on the same metric for primary pupils.
  `ks2_score` is the same value for secondary pupils and empty for primary pupils, who have not
  yet taken KS2. `attainment` is the end-of-year test in June, after the survey, for every pupil.

## Main true values (details in TRUTH.json)

- Pupil belonging (latent units): teacher care 0.30, fairness 0.15, listening 0.10, peer
  acceptance 0.20, bullying -0.15, engagement 0.10, voice 0.10, respect 0.05, parental
  engagement 0.10, school staff belonging 0.15 per school SD; SEND -0.30, LGBT -0.30, FSM -0.15.
- `send_level` (none, SEN support, EHCP): each SEND pupil has an EHCP with probability
  {t['survey']['send_level']['ehcp_share_within_send']['value']:.2f} (a simulation choice), at random,
  so both levels carry the same built-in SEND gap; a difference between them is chance.
- Causal order: characteristics -> prior attainment -> belonging (autumn; +0.10 per SD of prior
  attainment) -> end-of-year attainment.
- attainment = 50 + 0.8 (prior_attainment - 100) + 2.5 pc + 1.5 pc x fsm - 2.0 fsm - 2.0 send +
  1.0 (attendance - 95)/10 + school + class + residual, with pc = PSSM mean - 3.5 (observed, all
  18 items): the effect of belonging on later attainment, adjusted for prior attainment, is 2.5
  points per scale point (4.0 for FSM pupils).
- Trial: ITT effect 0.20 SD of the control post-test (0.12 points); CACE 0.25 SD.
- PISA: mathematics = country mean + 30 ESCS + 8 BELONG + school + residual.

## Realised reliabilities (raw alpha)

| scale | alpha |
|---|---|
{alpha_lines}

Unconditional school ICC of the PSSM mean: {real['pssm_mean_icc_school']['value']:.3f}.
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Write the synthetic sample data.")
    parser.add_argument("--out", default=None, help="output folder (default: data/sample)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    paths = write_sample_data(args.out, seed=args.seed, progress=True)
    for p in paths.values():
        print(p)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
