"""Disclosure control: no output describes fewer pupils than a threshold.

One policy (:class:`DisclosurePolicy`) governs every table, figure and
report that shows groups of pupils.  It is **on by default** with a threshold
of 10 pupils (the rule used by secure research services in England).  Set it
per project with :func:`set_default_policy`, the environment variable
``BELONGING_DISCLOSURE_THRESHOLD`` or a JSON/YAML file named by
``BELONGING_DISCLOSURE_CONFIG`` (keys ``threshold``, ``symbol``,
``secondary``, ``enabled``, ``nk_n``, ``nk_k``, ``p_ratio``,
``min_residual_df``).

:func:`suppress` applies primary suppression (cells describing fewer than
``threshold`` pupils: counts, percentages, means, SDs) and secondary
suppression (so that no total or margin lets a suppressed cell be worked
out).  Suppressed cells are missing in the numbers and shown as ``[c]`` in
the display, with a footnote.

Protection rule
---------------
A reader who knows every published cell, the table's totals and margins
(published or not) and that counts are never negative can bound each
suppressed count between a smallest and a largest value (two linear
programmes).  A suppressed cell describing fewer than ``threshold`` pupils is
**protected** when that feasible interval is at least ``threshold`` wide.
So no suppressed cell is pinned to one value, and the suppressed cells of a
line never add up to a known group smaller than the threshold (cells of 3
and 4 suppressed together would still publish a group of 7).  Secondary
suppression adds cells, the smallest first, until every small cell is
protected; the check is exact for the table's linear constraints
(:func:`feasible_interval`, which returns a :class:`FeasibleInterval`).

Across a whole output
---------------------
Tables in one chapter or report can undo each other: a chapter that shows
Year 5's 59 pupils in one table and Year 5's 50 boys in another has shown
its 9 girls.  A :class:`DisclosureContext` (one per chapter or report; see
:func:`context`, which :func:`belonging_lib.notebook.setup` opens for a
chapter) keeps every count that the output has published, as the set of
pupils (row labels of the data) behind it, and checks each new table built
from pupil data (:func:`count_by`, :func:`summarise_by`,
:func:`magnitude_by`, the school report and ``SurveyDesign`` breakdowns)
against all of them with the same linear programmes, suppressing more cells
of the new table until every small group published so far is protected.
Pupils are matched by their ID column (``pupil_id``, ``UPN`` ...) when the
data have one, and otherwise by a fingerprint of their rows' values, never
by row labels: a shuffled copy or a fresh index (``reset_index``) still
describes the same pupils.  Without an open context, the tables made from
one data set in a process share an automatic context
(:func:`automatic_context`), so ``count_by(d, by="year")`` followed by a
year-by-gender table of ``d`` is protected even when nobody opened one.
Separate commands on one file share what they published through a
disclosure ledger (:mod:`belonging_lib.disclosure_ledger`).

The policy in force, the active context and the automatic contexts are held
for the running code in a ``contextvars.ContextVar``, never in a module
global: :func:`set_default_policy` and :func:`set_context` (or a ``with``
block) change them for the code that follows in the same thread or task.

Tables that these functions do not build themselves (a school report's, a
survey design's estimates by group) go through one public hook,
:func:`protect`: a table, the number of pupils behind each row and which
pupils they are, a policy and a context give the suppressed table, and the
context records what it published.

Magnitude tables and models
---------------------------
Totals of a quantity (for example funding or minutes of support) can reveal
one contributor even in a large group.  :func:`nk_rule` (the largest ``n``
contributors make up at least ``k`` of the total) and :func:`p_ratio_rule`
(the total less its two largest contributors is within ``p`` of the
largest, so the second largest could estimate the largest to within ``p``)
are the dominance rules of the statistical disclosure control handbooks;
:func:`check_model_df` asks a regression for enough residual degrees of
freedom.  Defaults follow the SACRO / ACRO defaults (threshold 10, n = 2,
k = 0.9, p = 0.1, 10 residual df).

References
----------
Hundepool, A., Domingo-Ferrer, J., Franconi, L., Giessing, S., Nordholt, E. S.,
Spicer, K. and de Wolf, P.-P. (2012). *Statistical Disclosure Control*. Wiley.
(Chapters 4 and 5: the (n, k) and p% rules, protection intervals, linear
programming audits of suppressed tables.)

Eurostat (2024). *Handbook on Statistical Disclosure Control*, version 2 (ESSnet),
sections on magnitude tables and secondary cell suppression.

Office for National Statistics (2019). *Disclosure control guidance for
output checking* (Secure Research Service): the threshold of 10 units and the
residual degrees-of-freedom rule for models.

Green, E., Ritchie, F., Tava, F., Ashford, W. and Ferrer Breda, P. (2021).
*Handbook on Statistical Disclosure Control for Outputs* (SDC Handbook,
version 2), Safe Data Access Professionals working group; and the SACRO
project's output checker ACRO (Smith et al., 2023), against which the
library's verdicts are cross-checked in ``tests/test_hostile_disclosure.py``.
"""

from ._audit import FeasibleInterval, feasible_interval
from ._context import DisclosureContext, automatic_context, context, get_context, set_context
from ._context import _forget_automatic  # noqa: F401  (the test suite's fresh start before each test)
from ._policy import DisclosurePolicy, get_default_policy, set_default_policy
from ._protect import protect
from ._summaries import check_model_df, count_by, magnitude_by, nk_rule, p_ratio_rule, summarise_by
from ._suppression import SuppressedTable, suppress

__all__ = [
    "DisclosurePolicy",
    "get_default_policy",
    "set_default_policy",
    "suppress",
    "SuppressedTable",
    "summarise_by",
    "count_by",
    "check_model_df",
    "DisclosureContext",
    "context",
    "get_context",
    "set_context",
    "feasible_interval",
    "FeasibleInterval",
    "nk_rule",
    "p_ratio_rule",
    "magnitude_by",
    "automatic_context",
    "protect",
]
