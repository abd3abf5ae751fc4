"""The three-wave primary-to-secondary transition panel (``transition.csv``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._validation import check_positive_int
from ._common import _as_rng, _items, _logistic
from .items import (
    _AGREE_THRESH, _SCALE_LOADINGS, _pssm_block, _pssm_mean, _sdq_block, _sdq_scores,
    _swemwbs_block, _swemwbs_metric,
)

__all__ = ["simulate_transition", "TRANSITION"]

#: Generating parameters of the panel (described in ``TRUTH.json["transition"]``).
TRANSITION = {
    "drop_w2": -0.30, "recovery_w3_fraction": 0.5, "send_drop": -0.20, "tr1_on_change": 0.10,
    "slope_sd": 0.30, "occasion_sd": 0.30,
    "eta1_tr": 0.35, "eta1_peer": 0.20, "eta1_send": -0.30, "eta1_fsm": -0.15,
    "primary_sd": 0.20, "secondary_sd": 0.20,
    "wb_eta1": 0.30, "wb_eta_t": 0.20, "wb_w1": 0.35,
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
