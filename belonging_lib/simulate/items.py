"""Item structure of the questionnaires and the blocks of items every data set draws from them.

Loadings and thresholds are on the latent response scale (y* = loading * eta + error,
Var(y*) = 1); raw codes follow ``instruments.md``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._common import _items

__all__ = ["PSSM_ITEMS", "PSSM_REVERSED", "PISA_ITEMS", "PISA_NEGATIVE", "PISA_REVERSED", "SHORT_SCALES",
           "SDQ_ITEMS", "SDQ_REVERSED", "SDQ_SUBSCALES", "SWEMWBS_ITEMS", "PARENT_ITEMS", "SWEMWBS_METRIC"]

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
_SDQ_LOADING = 0.62
_SDQ_THRESH = np.array([0.10, 1.20])  # 0/1/2 on the "difficulty" direction
_SWEMWBS_LOADINGS = np.array([0.70, 0.68, 0.72, 0.66, 0.64, 0.70, 0.62])
_SWEMWBS_THRESH = np.array([-2.10, -1.10, 0.05, 1.15])


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
