"""The pupil survey, with its schools and staff, from one generating model (``survey.csv``).

The structural model of belonging, prior attainment and end-of-year attainment is documented
in ``TRUTH.json["survey"]``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._errors import DataError
from .._validation import check_positive_int
from ._common import _as_int, _as_rng, _exact_sd, _items, _logistic
from .items import (
    _AGREE_THRESH, _SCALE_LOADINGS, PARENT_ITEMS, PISA_ITEMS, PSSM_ITEMS, SDQ_ITEMS, SHORT_SCALES,
    SWEMWBS_ITEMS, _pisa_items, _pssm_block, _pssm_mean, _sdq_block, _swemwbs_block,
)
from .staff import _staff_school_means, simulate_staff

__all__ = ["simulate_survey", "simulate_survey_with_latent", "assign_send_level", "SEND_LEVELS",
           "EHCP_SHARE_OF_SEND"]

# Scale-specific shift of the thresholds (positive = answers more agreeing).
_SCALE_LEVEL = {"tr_care": 0.05, "tr_fair": -0.15, "tr_listen": -0.20, "peer": 0.35,
                "bully": 0.0, "engage": -0.05, "respect": 0.15, "voice": -0.40}
_BULLY_THRESH = np.array([0.35, 0.95, 1.55, 2.20])
_ENGAGE3_SEND_DIF = -0.45  # latent-response intercept shift of engage_3 for SEND pupils
_PARENT_LOADINGS = np.array([0.75, 0.70, 0.65])

# Correlations of the latent "parts of belonging" (pupil level, before demographic shifts).
_PARTS = ["tr_care", "tr_fair", "tr_listen", "peer", "bully", "engage", "respect", "voice"]
_PART_GENERAL = np.array([0.70, 0.65, 0.70, 0.45, -0.35, 0.55, 0.60, 0.60])
_TEACHER_EXTRA = 0.15  # extra correlation among the three staff-relationship parts


def _part_corr() -> np.ndarray:
    lam = _PART_GENERAL
    corr = np.outer(lam, lam)
    for i in range(3):
        for j in range(3):
            if i != j:
                corr[i, j] += _TEACHER_EXTRA
    np.fill_diagonal(corr, 1.0)
    return corr


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


# --------------------------------------------------------------------------------------
# Schools (the staff survey is drawn for them first: its school means feed pupil belonging)
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



# --------------------------------------------------------------------------------------
# Pupil survey
# --------------------------------------------------------------------------------------
def simulate_survey(rng, *, n_primary: int = 16, n_secondary: int = 24):
    """Pupil survey, school and staff tables from one generating model.

    Parameters
    ----------
    rng : numpy.random.Generator or int
        Random generator or seed.
    n_primary, n_secondary : int
        Number of primary (40-60 pupils) and secondary (80-120 pupils) schools.

    Returns
    -------
    tuple of DataFrame
        ``(survey, schools, staff)`` with the columns of ``survey.csv`` (without
        ``send_level``, which :func:`assign_send_level` adds), ``schools.csv`` and
        ``staff.csv``. :func:`simulate_survey_with_latent` gives the same three tables
        and the latent traits behind them.

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
    survey, schools, staff, _ = _draw_survey(rng, n_primary, n_secondary)
    return survey, schools, staff


def simulate_survey_with_latent(rng, *, n_primary: int = 16, n_secondary: int = 24):
    """The tables of :func:`simulate_survey` and the latent traits they were drawn from.

    The same ``rng`` gives the same three tables as :func:`simulate_survey`.

    Parameters
    ----------
    rng : numpy.random.Generator or int
        Random generator or seed.
    n_primary, n_secondary : int
        Number of primary and secondary schools.

    Returns
    -------
    tuple of DataFrame
        ``(survey, schools, staff, latent)``: the three tables of :func:`simulate_survey`
        and a fourth (rows aligned with ``survey``) of latent traits (``eta_belong``,
        ``eta_belong_std``, the parts of belonging, ``parent_engage``, ``difficulties``,
        ``wellbeing``, ``staff_belonging_z``), ``pssm_mean_complete`` (the PSSM mean before
        item non-response) and ``prior_unclipped``.

    Examples
    --------
    >>> survey, schools, staff, latent = simulate_survey_with_latent(1, n_primary=2, n_secondary=2)
    >>> len(latent) == len(survey), "eta_belong" in latent
    (True, True)
    """
    return _draw_survey(rng, n_primary, n_secondary)


def _draw_survey(rng, n_primary, n_secondary):
    """Draw the survey, schools, staff and latent tables (the one generating model)."""
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
    latent["staff_belonging_z"] = sch["staff_belonging_z"].to_numpy()[sidx]
    return survey, schools, staff, latent


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
