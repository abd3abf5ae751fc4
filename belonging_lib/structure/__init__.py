"""Factor structure: exploratory and confirmatory factor analysis, measurement invariance.

* :func:`cfa` fits a lavaan-style confirmatory factor model by maximum
  likelihood (single group via semopy; several groups with cross-group
  equality constraints via the package's own estimator), with lavaan's fit
  statistics, standardized loadings and omega per factor;
* :func:`bifactor` fits an orthogonal bifactor model (a general factor plus
  specific factors, such as one for negatively worded items) and gives omega
  hierarchical, as lavaan;
* :func:`invariance` tests configural, metric and scalar invariance across a
  grouping column in one table, with rule-of-thumb verdicts, and
  :func:`release_tests` finds the items that break it;
* :func:`efa` and :func:`parallel_analysis` explore the number and pattern of
  factors (minres extraction and oblimin rotation, as ``psych::fa``).
"""

from __future__ import annotations

from ._bifactor import BifactorOmega, BifactorResult, bifactor, bifactor_omega
from ._cfa import FIT_COLUMNS, CFAResult, InvarianceResult, ReleaseTests, cfa, invariance, release_tests
from ._efa import EFAResult, ParallelResult, efa, parallel_analysis

__all__ = ["BifactorOmega", "BifactorResult", "CFAResult", "EFAResult", "FIT_COLUMNS", "InvarianceResult", "ParallelResult", "ReleaseTests", "bifactor", "bifactor_omega", "cfa", "efa",
           "invariance", "parallel_analysis", "release_tests"]
