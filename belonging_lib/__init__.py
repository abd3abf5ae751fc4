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

__version__ = "0.2.0"

#: Submodules, loaded on first use (``bl.models.multilevel(...)``) so that
#: ``import belonging_lib`` stays quick.
_SUBMODULES = {
    "datasets", "disclosure", "imputation", "instruments", "io", "codebook", "models", "notebook",
    "plots", "privacy", "proportions", "reliability", "report", "scoring", "simulate", "structure", "survey",
    "tables", "transitions", "trials",
}
_SUBMODULES.add("school_intervals")   # school_differences: a school against the rest, with intervals


def __getattr__(name: str):
    if name in _SUBMODULES:
        import importlib

        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'belonging_lib' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBMODULES))

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
