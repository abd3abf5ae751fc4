"""``TRUTH.json``: every generating parameter of the sample data, with its description.

The descriptions are data: ``truth.yaml`` beside this module holds the layout of
``TRUTH.json`` and every description. This module computes the values (from the
generating parameters and from the realised sample) and fills them in.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ._common import SYNTHETIC_NOTE
from .items import (
    _PSSM_LOADINGS, _PSSM_METHOD_LOADING, _SCALE_LOADINGS, _SDQ_LOADING, _SWEMWBS_LOADINGS,
    PARENT_ITEMS, PISA_ITEMS, PISA_REVERSED, PSSM_ITEMS, PSSM_REVERSED, SDQ_ITEMS, SDQ_REVERSED,
    SDQ_SUBSCALES, SHORT_SCALES, SWEMWBS_ITEMS, _sdq_scores,
)
from .pisa import PISA
from .survey import (
    _ATTAIN_CLASS_SD, _ATTAIN_OCCASION_SD, _ATTAIN_PUPIL_SD, _ATTAIN_SCHOOL_SD, _BELONG_CLASS_SD,
    _BELONG_LATENT_SD, _BELONG_RESID_SD, _BELONG_SCHOOL_SD, _ENGAGE3_SEND_DIF, _PRIOR_RESID_SD,
    _PRIOR_SCHOOL_SD, _PRIOR_SD, ATTAIN_COEF, BELONG_COEF, EHCP_SHARE_OF_SEND, PRIOR_COEF,
    SEND_LEVELS, _part_corr,
)
from .transition import TRANSITION
from .trial import TRIAL, _trial_variances

__all__ = ["make_truth"]

#: The descriptions and the layout of TRUTH.json (shipped with the package).
DESCRIPTIONS_FILE = Path(__file__).with_name("truth.yaml")


@functools.lru_cache(maxsize=1)
def _template_text() -> str:
    return DESCRIPTIONS_FILE.read_text(encoding="utf-8")


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


def _fill(node, values: dict, fields: dict, path: tuple = ()):
    """The template with every computed value in place (``values`` is emptied as it is used)."""
    key = ".".join(path)
    if isinstance(node, dict) and "description" in node:
        if "value" in node:
            value = node["value"]
        elif key in values:
            value = values.pop(key)
        else:
            raise RuntimeError(f"truth.yaml describes {key!r}, but make_truth computes no value for it.")
        return {"value": _clean(value), "description": node["description"].format_map(fields)}
    if isinstance(node, dict):
        return {k: _fill(v, values, fields, (*path, str(k))) for k, v in node.items()}
    if node is None:
        if key not in values:
            raise RuntimeError(f"truth.yaml leaves {key!r} to be computed, but make_truth computes "
                               "no value for it.")
        return _clean(values.pop(key))
    return node


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
    """Descriptive statistics of the realised sample (not parameters), by name under ``realised``."""
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
    primary = survey["phase"] == "primary"
    secondary = survey["phase"] == "secondary"
    return {
        "alpha": alphas,
        "pssm_mean_icc_school": _anova_icc(pssm_mean, survey["school_id"]),
        "pssm_mean_icc_school_primary": _anova_icc(pssm_mean[primary],
                                                   survey.loc[primary, "school_id"]),
        "pssm_mean_icc_school_secondary": _anova_icc(pssm_mean[secondary],
                                                     survey.loc[secondary, "school_id"]),
        "pssm_mean_mean_sd": [float(pssm_mean.mean()), float(pssm_mean.std())],
        "trial_pre_icc": _anova_icc(trial["pre_belonging"], trial["school_id"]),
        "trial_attrition_share": trial.groupby("arm")["attrited"].mean().to_dict(),
    }


def _under(prefix: str, values: dict) -> dict:
    return {f"{prefix}.{k}": v for k, v in values.items()}


def make_truth(*, seed, survey, schools, staff, transition, trial, pisa, latent) -> dict:
    """Document every generating parameter (each entry has a value and a description).

    The layout and the descriptions come from ``truth.yaml``; the values are the simulator's
    parameters and counts of the realised sample. ``latent`` is the fourth table of
    :func:`simulate_survey_with_latent`.
    """
    var_u_pre, var_e_pre, var_u_post, var_e_post = _trial_variances()
    t = TRIAL
    item_cols = [c for c in survey.columns if c.startswith(tuple(
        [*SHORT_SCALES, "pssm_", "pisa_belong_", "sdq_", "swemwbs_", "parent_engage_"]))]
    items = survey[item_cols]
    blocks_all_missing = {
        name: int(survey[cols].isna().all(axis=1).sum())
        for name, cols in [("pssm", PSSM_ITEMS), ("sdq", SDQ_ITEMS), ("swemwbs", SWEMWBS_ITEMS)]
    }
    sdq_total = _sdq_scores(survey)["total"]
    high_need = int((sdq_total >= 18).sum())
    sdq_n = int(sdq_total.notna().sum())
    tr_counts = transition.groupby("wave").size()
    b = transition.pivot(index="pupil_id", columns="wave", values="belonging")
    sd1 = float(b[1].std())
    values = {
        "note": SYNTHETIC_NOTE,
        "seed": seed,
        "sizes.survey_pupils": len(survey),
        "sizes.survey_schools": int(survey["school_id"].nunique()),
        "sizes.survey_classes": int(survey["class_id"].nunique()),
        "sizes.staff": len(staff),
        "sizes.transition_pupils": int(transition["pupil_id"].nunique()),
        "sizes.trial_pupils": len(trial),
        "sizes.pisa_students": len(pisa),
        **_under("survey.belonging_structural", BELONG_COEF),
        "survey.belonging_variance.school_sd": _BELONG_SCHOOL_SD,
        "survey.belonging_variance.class_sd": _BELONG_CLASS_SD,
        "survey.belonging_variance.residual_sd": _BELONG_RESID_SD,
        "survey.belonging_variance.latent_scale_sd": _BELONG_LATENT_SD,
        "survey.belonging_variance.icc_school_latent": (_BELONG_SCHOOL_SD**2 + 0.15**2)
        / _BELONG_LATENT_SD**2,
        "survey.parts_correlation": np.round(_part_corr(), 4).tolist(),
        "survey.item_loadings.pssm": _PSSM_LOADINGS.tolist(),
        "survey.item_loadings.pssm_method": _PSSM_METHOD_LOADING,
        **_under("survey.item_loadings", _SCALE_LOADINGS),
        "survey.item_loadings.sdq": _SDQ_LOADING,
        "survey.item_loadings.swemwbs": _SWEMWBS_LOADINGS.tolist(),
        "survey.dif_engage_3_send": _ENGAGE3_SEND_DIF,
        "survey.send_level.ehcp_share_within_send": EHCP_SHARE_OF_SEND,
        "survey.send_level.extra_gap_ehcp_vs_sen_support": 0.0,
        "survey.send_level.counts": {
            k: int(v) for k, v in survey["send_level"].value_counts().reindex(SEND_LEVELS).items()},
        **_under("survey.prior_attainment_model", PRIOR_COEF),
        "survey.prior_attainment_model.school_sd": _PRIOR_SCHOOL_SD,
        "survey.prior_attainment_model.residual_sd": _PRIOR_RESID_SD,
        "survey.prior_attainment_model.sd_for_belonging": _PRIOR_SD,
        "survey.prior_attainment_model.n_clipped": int(
            ((latent["prior_unclipped"] < 80) | (latent["prior_unclipped"] > 120)).sum()),
        **_under("survey.attainment_model", ATTAIN_COEF),
        "survey.attainment_model.school_sd": _ATTAIN_SCHOOL_SD,
        "survey.attainment_model.class_sd": _ATTAIN_CLASS_SD,
        "survey.attainment_model.residual_sd": float(np.hypot(_ATTAIN_PUPIL_SD,
                                                              _ATTAIN_OCCASION_SD)),
        "survey.belonging_effect_on_attainment.non_fsm": ATTAIN_COEF["pssm_c"],
        "survey.belonging_effect_on_attainment.fsm": ATTAIN_COEF["pssm_c"]
        + ATTAIN_COEF["pssm_c:fsm"],
        "survey.belonging_effect_on_attainment.average": ATTAIN_COEF["pssm_c"]
        + ATTAIN_COEF["pssm_c:fsm"] * float(survey["fsm"].mean()),
        "survey.mental_health.high_need_n": high_need,
        "survey.mental_health.high_need_share": high_need / sdq_n,
        "survey.missing.item_cells_missing": int(items.isna().sum().sum()),
        "survey.missing.item_cells_share": float(items.isna().mean().mean()),
        "survey.missing.whole_scale_missing": blocks_all_missing,
        "survey.missing.prior_missing": int(survey["prior_attainment"].isna().sum()),
        "survey.missing.ks2_missing": int(survey["ks2_score"].isna().sum()),
        "survey.missing.attainment_missing": int(survey["attainment"].isna().sum()),
        "survey.missing.lgbt_missing_primary": int((survey["phase"] == "primary").sum()),
        **_under("transition", TRANSITION),
        "transition.observed_mean_change_w1_w2_in_w1_sd": float((b[2] - b[1]).mean() / sd1),
        "transition.observed_mean_change_w1_w3_in_w1_sd": float((b[3] - b[1]).mean() / sd1),
        "transition.rows_per_wave": {int(k): int(v) for k, v in tr_counts.items()},
        "trial.effect_sd": t["effect_sd"],
        "trial.effect_raw_itt": t["effect_sd"] * t["pre_sd"],
        "trial.control_post_sd": t["pre_sd"],
        "trial.cace_sd": t["effect_sd"] / t["compliance_share"],
        "trial.compliance_share": t["compliance_share"],
        "trial.fsm_extra_complier": t["fsm_extra_complier"],
        "trial.fsm_itt_effect_sd": 0.8 * (0.15 + 0.05 * 0.75) / 0.6,
        "trial.nonfsm_itt_effect_sd": 0.8 * (0.15 - 0.05 * 0.25) / 0.6,
        "trial.icc": t["icc"],
        "trial.pre_post_slope": t["pre_post_slope"],
        "trial.variances": {"u_pre": var_u_pre, "e_pre": var_e_pre, "u_post": var_u_post,
                            "e_post": var_e_post},
        "trial.attain_effect_sd": t["attain_effect_sd"],
        "trial.attrited_n": {a: int(v) for a, v in trial.groupby("arm")["attrited"].sum().items()},
        **_under("realised", _realised(survey, trial)),
        **_under("pisa", PISA),
    }
    truth = _fill(yaml.safe_load(_template_text()), values, {"sdq_n": sdq_n})
    if values:
        raise RuntimeError("make_truth computes values that truth.yaml does not describe: "
                           + ", ".join(sorted(values)))
    return truth
