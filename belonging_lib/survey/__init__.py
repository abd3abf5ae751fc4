"""Large-scale surveys: final weights, replicate weights and plausible values.

The package keeps three things apart:

- ``belonging_lib.survey.design``: :class:`SurveyDesign`, a general replicate-weight design
  with plausible values, and its estimators (means, percentages, percentiles, correlations,
  group differences, linear regressions), which return :class:`SurveyEstimate` and
  :class:`ComparisonResult`;
- Rubin's rules for plausible values, shared with :mod:`belonging_lib.imputation`
  (``belonging_lib._pooling``);
- ``belonging_lib.survey.countries``: the OECD average and total over countries, and each
  country's difference from the average (:func:`average`, :func:`total`, :func:`from_average`);
- ``belonging_lib.survey.pisa``: PISA's names and conventions, :func:`read_pisa` and
  :func:`pisa_design`.

Validated against R ``survey::svrepdesign`` with ``mitools::MIcombine``
(``tests/reference/survey.R``).
"""

from .countries import average, from_average, total
from .design import REPLICATE_METHODS, ComparisonResult, SurveyDesign, SurveyEstimate
from .pisa import PISA_COLUMNS, PISA_ITEMS, PISA_REPLICATES, PISA_WEIGHT, pisa_design, read_pisa

__all__ = ["SurveyDesign", "SurveyEstimate", "ComparisonResult", "pisa_design", "read_pisa", "PISA_ITEMS",
           "PISA_COLUMNS", "PISA_WEIGHT", "PISA_REPLICATES", "REPLICATE_METHODS", "average", "total",
           "from_average"]
