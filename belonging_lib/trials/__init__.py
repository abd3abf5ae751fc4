"""Trial evaluation to the EEF's standard: effect sizes, attrition, balance, power, CACE.

- Effect sizes: :func:`cohens_d`, :func:`hedges_g` (noncentral-t or normal
  CI), :func:`ancova` for individually randomised trials.
- Cluster-randomised trials: :func:`crt_effect` (the EEF effect size with
  model-based and cluster-bootstrap CIs, ICC, randomisation-inference p),
  :func:`crt_subgroups` (for example FSM pupils).
- :func:`months_progress` (EEF Toolkit / project-report tables).
- :func:`attrition` (What Works Clearinghouse boundaries), :func:`balance`
  (standardised differences), :func:`consort_counts` (figure:
  :func:`belonging_lib.plots.trials.consort`).
- Power: :func:`mdes`, :func:`mdes_three_level`, :func:`n_clusters_needed`
  (PowerUp!), :func:`simulate_power`.
- :func:`cace`: complier-average causal effect.
- :func:`security_rating`: the EEF padlock rating, step by step, with its audit trail.
"""

from __future__ import annotations

from .attrition import (
    AttritionResult,
    BalanceResult,
    ConsortCounts,
    attrition,
    balance,
    consort_counts,
    wwc_boundary,
)
from .crt import CACEResult, CRTResult, EEFTable, SubgroupResult, cace, crt_effect, crt_subgroups, eef_table
from .effect_sizes import AncovaResult, EffectSize, ancova, cohens_d, hedges_g
from .months import MONTHS_TABLES, months_progress, months_table
from .power import PowerSimulation, mdes, mdes_three_level, n_clusters_needed, simulate_power
from .hedges2007 import ClusterEffectSizes, crt_effect_sizes
from .security import THREATS, SecurityRating, security_rating
from ._design_file import design_template, read_design, sample_design
from .trial_report import TrialReport, trial_report
from .trial_intervals import (  # noqa: F401
    AttritionIntervals,
    BalanceIntervals,
    SubgroupDifference,
    attrition_intervals,
    balance_intervals,
    subgroup_difference,
)

__all__ = [
    "CACEResult", "CRTResult", "EEFTable", "SubgroupResult", "cace", "crt_effect", "crt_subgroups", "eef_table",
    "AncovaResult", "AttritionResult", "BalanceResult", "ConsortCounts", "EffectSize",
    "MONTHS_TABLES", "PowerSimulation",
    "ancova", "attrition", "balance", "cohens_d", "consort_counts", "hedges_g", "mdes",
    "mdes_three_level", "months_progress", "months_table", "n_clusters_needed", "simulate_power",
    "wwc_boundary", "SecurityRating", "THREATS", "security_rating",
    "ClusterEffectSizes", "crt_effect_sizes", "TrialReport", "trial_report", "read_design",
    "design_template", "sample_design",
]
