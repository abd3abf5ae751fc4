"""Regression models for pupils in classes in schools.

- :func:`multilevel`, :func:`null_model`, :func:`compare`, :func:`fit_random_intercept`:
  linear mixed models matching lme4/lmerTest, with an exact fast path for
  random-intercept models;
- :func:`ols`, :func:`logit`: single-level regression with robust and
  cluster-robust (CR1, CR2) standard errors matching sandwich and clubSandwich;
- :func:`center`: grand- and group-mean centring;
- :func:`moderation`, :func:`mediation`, :func:`dominance`: the claims'
  analyses (simple slopes and Johnson-Neyman, bootstrap indirect effects,
  relative importance).
"""

from .centering import center
from ._fast import RandomInterceptBatch, fit_random_intercept_batch
from .multilevel import (
    LikelihoodRatioTest,
    MultilevelResult,
    RandomInterceptFit,
    compare,
    fit_random_intercept,
    multilevel,
    null_model,
)
from .regression import CR2Covariance, RegressionResult, cr2_vcov, logit, ols

__all__ = [
    "CR2Covariance", "LikelihoodRatioTest", "MultilevelResult", "RandomInterceptBatch", "RandomInterceptFit",
    "RegressionResult", "center", "compare",
    "cr2_vcov", "fit_random_intercept", "fit_random_intercept_batch", "logit", "multilevel", "null_model", "ols",
]
from .importance import DominanceResult, dominance, dominance_from_matrix  # noqa: E402
from .mediation import MediationResult, mediation  # noqa: E402
from .moderation import ModerationResult, moderation  # noqa: E402

__all__ += ["DominanceResult", "MediationResult", "ModerationResult", "dominance", "dominance_from_matrix",
            "mediation", "moderation"]
from .gaps import FairnessResult, GroupGapsResult, group_gaps, scale_fairness  # noqa: E402,F401
from .ratios import RiskRatio, risk_ratio  # noqa: E402,F401
