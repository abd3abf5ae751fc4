"""Simulate the synthetic sample data in ``data/sample/`` (all of it is fake).

Real pupil data cannot be shipped, so every sample file is simulated from a
documented generating model whose parameters are written to
``data/sample/TRUTH.json``.  One call regenerates every file byte for byte::

    python -m belonging_lib.simulate            # writes data/sample/
    python -m belonging_lib.simulate --out DIR  # writes DIR/

The generating model encodes the claims the notebooks study: teacher
relationships are the strongest predictor of belonging; belonging, measured in
the autumn term, predicts the end-of-year attainment test over and above prior
attainment measured before the survey (more strongly for pupils eligible for
free school meals) and
mental health (more protective under community adversity); staff belonging
feeds pupil belonging; belonging dips across the primary-secondary
transition; and a school programme raises belonging by 0.20 SD.

Each data set has its own module and function returning DataFrames, so tests
and notebooks can simulate other sizes: :func:`simulate_survey` (and
:func:`simulate_survey_with_latent`, module ``survey``), :func:`simulate_staff`
(``staff``), :func:`simulate_transition` (``transition``),
:func:`simulate_trial` (``trial``), :func:`simulate_pisa` (``pisa``),
:func:`simulate_export` and :func:`make_codebook` (``export``),
:func:`make_truth` (``truth``; the descriptions of ``TRUTH.json`` are data, in
``truth.yaml`` beside it) and :func:`simulate_random_intercept` (a plain
two-level data set for benchmarks, ``random_intercept``).
:func:`simulate_all` and :func:`write_sample_data` (``sample``) put them
together from one seed. The questionnaires' item lists and the ordinal item
model they share are in ``items``.

This package deliberately imports no estimator module of the library: the
data must not depend on the code that analyses them.
"""

from __future__ import annotations

# The item lists, labels and generating parameters are module attributes too (tests and chapters
# read them as ``simulate.PSSM_ITEMS``, ``simulate.TRIAL``), though not in ``__all__``.
from ._common import SYNTHETIC_NOTE
from .items import (
    PARENT_ITEMS, PISA_ITEMS, PISA_NEGATIVE, PISA_REVERSED, PSSM_ITEMS, PSSM_REVERSED, SDQ_ITEMS,
    SDQ_REVERSED, SDQ_SUBSCALES, SHORT_SCALES, SWEMWBS_ITEMS, SWEMWBS_METRIC,
)
from .export import LABELS, MISSING_CODES, make_codebook, simulate_export
from .pisa import PISA, paley_hadamard, simulate_pisa
from .random_intercept import simulate_random_intercept
from .sample import DEFAULT_SEED, SAMPLE_NAMES, simulate_all, write_sample_data
from .staff import simulate_staff
from .survey import (
    ATTAIN_COEF, BELONG_COEF, EHCP_SHARE_OF_SEND, PRIOR_COEF, SEND_LEVELS, assign_send_level,
    simulate_survey, simulate_survey_with_latent,
)
from .transition import TRANSITION, simulate_transition
from .trial import TRIAL, simulate_trial
from .truth import make_truth

__all__ = [
    "DEFAULT_SEED",
    "write_sample_data",
    "simulate_survey",
    "simulate_survey_with_latent",
    "simulate_staff",
    "simulate_transition",
    "simulate_trial",
    "simulate_pisa",
    "simulate_random_intercept",
    "simulate_all",
    "paley_hadamard",
    "simulate_export",
    "make_codebook",
    "make_truth",
    "assign_send_level",
    "SEND_LEVELS",
    "EHCP_SHARE_OF_SEND",
    "SWEMWBS_METRIC",
]
