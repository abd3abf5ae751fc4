"""The cluster-randomised trial of a belonging programme (``trial.csv``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._validation import check_positive_int
from ._common import _as_rng, _exact_sd, _logistic

__all__ = ["simulate_trial", "TRIAL"]

#: Generating parameters of the trial (described in ``TRUTH.json["trial"]``).
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


