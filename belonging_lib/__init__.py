"""belonging_lib: research tools for pupils' sense of school belonging.

Measurement (instruments, scoring, reliability, factor structure), models
(multilevel, robust regression, moderation, mediation, relative importance),
large-scale surveys (weights, replicates, plausible values), trial evaluation
(EEF effect sizes, attrition, power), and presentation (tables, figures,
disclosure control, reports).

The sample data shipped with the project are synthetic.
"""

from __future__ import annotations

from ._errors import (
    BelongingError,
    BelongingWarning,
    ColumnError,
    DataError,
    DisclosureError,
    ModelError,
)
from ._results import RowLedger
from .datasets import load_codebook, load_sample, load_truth

__version__ = "0.1.0"

__all__ = [
    "BelongingError",
    "BelongingWarning",
    "ColumnError",
    "DataError",
    "DisclosureError",
    "ModelError",
    "RowLedger",
    "load_codebook",
    "load_sample",
    "load_truth",
    "__version__",
]
