"""One result contract (docs/api/conventions.md).

No public function or public method returns a dict or a tuple: an estimate comes back as a result
object (``belonging_lib._results.Result``), several estimates as a result object whose ``to_frame()``
is tidy. Two looks at every public callable, walked like the vocabulary test walks names:

1. its return annotation names no ``dict``/``tuple`` (nor ``Dict``, ``Tuple``, ``Mapping``);
2. none of its own ``return`` statements (nested functions and lambdas aside) returns a literal dict
   or tuple, a dict or tuple comprehension, or a call to ``dict(...)`` or ``tuple(...)``.

Every plot function (``belonging_lib.plots``, ``belonging_lib.schools.plots`` and every ``.plot()``
method of a result) takes ``ax=None`` and returns the matplotlib Axes it drew on (the reason is in
``belonging_lib/plots/__init__.py`` and docs/api/conventions.md): annotated ``-> Axes``, and checked by
drawing the tools for schools' figures, which returned a Figure before.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import pkgutil
import textwrap

import pytest

import belonging_lib as bl
from belonging_lib._results import Result

#: Build machinery, not the analysis API (as in test_vocabulary).
MACHINERY = ("belonging_lib.book", "belonging_lib.cli", "belonging_lib.schools.cli")

#: Owned elsewhere while disclosure becomes a package (issue 31, "disclosure as one explicit layer");
#: its `feasible_interval` is fixed there. Remove this line when that work lands.
ELSEWHERE: tuple[str, ...] = ()

#: Callables allowed to return a dict or a tuple because what they return is not an estimate.
#: Each with the reason. Keep this short.
ALLOWED: dict[str, str] = {
    # An instrument's definition, read from its YAML file: item ids, codes and subscales are the
    # questionnaire's own labels (immutable tuples and small look-up maps), not estimates.
    "belonging_lib.instruments.Instrument.item_ids": "definition",
    "belonging_lib.instruments.Instrument.items_of": "definition",
    "belonging_lib.instruments.Instrument.label_map": "definition",
    "belonging_lib.instruments.Instrument.response_range": "definition",
    "belonging_lib.instruments.Instrument.reverse_items": "definition",
    "belonging_lib.instruments.Instrument.score_ids": "definition",
    "belonging_lib.instruments.Instrument.subscales": "definition",
    # A codebook's value labels ({code: label}) for a figure's legend: metadata of the data.
    "belonging_lib.codebook.answer_labels": "metadata",
    # The synthetic data's generating values: a document (TRUTH.json) read or written as it is.
    "belonging_lib.datasets.load_truth": "document",
    "belonging_lib.simulate.truth.make_truth": "document",
    # The simulator's data sets (tables by name) and the files it wrote (name -> path): data, not estimates.
    "belonging_lib.simulate.sample.simulate_all": "data sets",
    "belonging_lib.simulate.sample.write_sample_data": "files written",
    "belonging_lib.simulate.survey.simulate_survey": "data sets",
    "belonging_lib.simulate.export.simulate_export": "data sets",
    # The key results a chapter recorded (name -> number) for the book's check against
    # tests/notebook_expected: a log of what was recorded, not an estimate.
    "belonging_lib.notebook.recorded": "log",
    # The tools for schools' wording: area -> suggested actions, part -> its plain-language label.
    "belonging_lib.schools.audit.suggested_actions": "wording",
    "belonging_lib.schools.questionnaire.parts": "wording",
}

#: Names of types a public callable must not return.
BANNED_TYPES = {"dict", "tuple", "Dict", "Tuple", "Mapping", "MutableMapping", "NamedTuple", "OrderedDict"}


def _public_modules():
    for info in pkgutil.walk_packages(bl.__path__, "belonging_lib."):
        parts = info.name.split(".")[1:]
        if any(p.startswith("_") for p in parts) or info.name.startswith(MACHINERY):
            continue
        yield importlib.import_module(info.name)


def _public_objects():
    seen = set()
    for module in _public_modules():
        names = list(getattr(module, "__all__", []))
        names += [
            n
            for n, o in vars(module).items()
            if not n.startswith("_") and getattr(o, "__module__", None) == module.__name__ and n not in names
        ]
        for name in names:
            obj = getattr(module, name, None)
            owner = getattr(obj, "__module__", "") or ""
            if not owner.startswith("belonging_lib") or owner.startswith(MACHINERY) or id(obj) in seen:
                continue
            if not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            seen.add(id(obj))
            yield f"{owner}.{obj.__qualname__}", obj


def _callables():
    """Every public function and every public method (and property) of a public class."""
    for qual, obj in _public_objects():
        if inspect.isfunction(obj):
            yield qual, obj
        elif inspect.isclass(obj) and not issubclass(obj, BaseException):
            for klass in obj.__mro__:
                if not (klass.__module__ or "").startswith("belonging_lib"):
                    continue
                for name, member in vars(klass).items():
                    if name.startswith("_"):
                        continue
                    if isinstance(member, (staticmethod, classmethod)):
                        member = member.__func__
                    elif isinstance(member, property):
                        member = member.fget
                    if inspect.isfunction(member):
                        yield f"{qual}.{name}", member


def _in_scope(qual: str) -> bool:
    return not qual.startswith(ELSEWHERE) and qual not in ALLOWED


CALLABLES = sorted({q: f for q, f in _callables() if _in_scope(q)}.items())


def _annotation_types(annotation: str) -> set[str]:
    """The outermost type names of an annotation (``tuple[int, int] | None`` gives tuple and None)."""
    try:
        node = ast.parse(annotation, mode="eval").body
    except SyntaxError:
        return set()
    names: set[str] = set()

    def walk(n):
        if isinstance(n, ast.BinOp) and isinstance(n.op, ast.BitOr):
            walk(n.left)
            walk(n.right)
        elif isinstance(n, ast.Subscript):
            base = n.value.attr if isinstance(n.value, ast.Attribute) else getattr(n.value, "id", "")
            if base in ("Optional", "Union"):
                for part in n.slice.elts if isinstance(n.slice, ast.Tuple) else [n.slice]:
                    walk(part)
            else:
                names.add(base)
        elif isinstance(n, ast.Attribute):
            names.add(n.attr)
        elif isinstance(n, ast.Name):
            names.add(n.id)
        elif isinstance(n, ast.Constant) and isinstance(n.value, str):
            names.update(_annotation_types(n.value))
        elif isinstance(n, ast.Constant) and n.value is None:
            names.add("None")

    walk(node)
    return names


def annotation_problem(qual: str, fn) -> str | None:
    annotation = fn.__annotations__.get("return", inspect.Signature.empty)
    if annotation is inspect.Signature.empty:
        return None
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    bad = _annotation_types(text) & BANNED_TYPES
    return f"{qual}: annotated to return {text!r}" if bad else None


class _Returns(ast.NodeVisitor):
    """The return statements of one function, not of the functions or lambdas inside it, and what
    each local name was assigned (so that ``out = {...}; return out`` is seen too)."""

    def __init__(self):
        self.found: list[ast.Return] = []
        self.assigned: dict[str, list[ast.AST]] = {}
        self.depth = 0

    def visit_Assign(self, node):
        for target in node.targets:
            if isinstance(target, ast.Name):
                self.assigned.setdefault(target.id, []).append(node.value)
        self.generic_visit(node)

    def visit_AnnAssign(self, node):
        if isinstance(node.target, ast.Name) and node.value is not None:
            self.assigned.setdefault(node.target.id, []).append(node.value)
        self.generic_visit(node)

    def visit_FunctionDef(self, node):
        self.depth += 1
        if self.depth == 1:
            self.generic_visit(node)
        self.depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node):
        return

    def visit_ClassDef(self, node):
        return

    def visit_Return(self, node):
        self.found.append(node)


def _is_dict_or_tuple(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Dict):
        return "a dict literal"
    if isinstance(node, ast.DictComp):
        return "a dict comprehension"
    if isinstance(node, ast.Tuple):
        return "a tuple"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("dict", "tuple"):
        return f"{node.func.id}(...)"
    if isinstance(node, ast.IfExp):
        return _is_dict_or_tuple(node.body) or _is_dict_or_tuple(node.orelse)
    return None


def return_problems(qual: str, fn) -> list[str]:
    """Each `return` of a dict or tuple in a function's own body, with its line."""
    try:
        source = textwrap.dedent(inspect.getsource(fn))
        first = inspect.getsourcelines(fn)[1]
    except (OSError, TypeError):
        return []
    tree = ast.parse(source)
    visitor = _Returns()
    visitor.visit(tree.body[0])
    problems = []
    for node in visitor.found:
        what = _is_dict_or_tuple(node.value)
        if not what and isinstance(node.value, ast.Name):
            kinds = [_is_dict_or_tuple(v) for v in visitor.assigned.get(node.value.id, [])]
            what = next((f"{node.value.id!r}, assigned {k}" for k in kinds if k), None)
        if what:
            problems.append(f"{qual} (line {first + node.lineno - 1}): returns {what}")
    return problems


@pytest.mark.parametrize("qual,fn", CALLABLES, ids=[c[0] for c in CALLABLES])
def test_no_public_callable_returns_a_dict_or_a_tuple(qual, fn):
    problems = [p for p in [annotation_problem(qual, fn)] if p] + return_problems(qual, fn)
    assert not problems, "\n".join(problems)


def test_the_walk_sees_the_whole_surface():
    """The walk reaches estimators, plots and result methods (a walk that found nothing would pass)."""
    quals = {q for q, _ in CALLABLES}
    for expected in [
        "belonging_lib.reliability.icc",
        "belonging_lib.structure._bifactor.bifactor_omega",
        "belonging_lib.models.ratios.risk_ratio",
        "belonging_lib.schools.audit.rater_icc",
    ]:
        assert expected in quals, expected
    assert any(q.endswith(".to_frame") for q in quals)
    assert len(CALLABLES) > 300


def test_a_dict_or_tuple_is_caught():
    """The two checks catch each way of returning a dict or a tuple, and pass a result object."""

    def literal(data) -> dict:
        return {"estimate": 1.0}

    def pair(data):
        if data:
            return 1.0, 2.0
        return dict(estimate=1.0)

    def named(data):
        out = {}
        out["estimate"] = 1.0
        return out

    def fine(data) -> Result:
        def inner():
            return 1, 2

        return Result()

    assert annotation_problem("x.literal", literal)
    assert len(return_problems("x.literal", literal)) == 1
    assert len(return_problems("x.pair", pair)) == 2
    assert len(return_problems("x.named", named)) == 1
    assert annotation_problem("x.fine", fine) is None and return_problems("x.fine", fine) == []
    assert _annotation_types("tuple[float, float] | None") == {"tuple", "None"}
    assert _annotation_types("Optional[dict[str, float]]") == {"dict"}


# --------------------------------------------------------------------------------------------------
# Plots return a Figure
# --------------------------------------------------------------------------------------------------


def _plot_callables():
    """Public functions of the plotting modules that draw (they take ``ax``), and every ``.plot()``."""
    for qual, fn in CALLABLES:
        in_plots = qual.startswith(("belonging_lib.plots.", "belonging_lib.schools.plots."))
        draws = "ax" in inspect.signature(fn).parameters
        if (in_plots and fn.__qualname__ == fn.__name__ and draws) or qual.endswith(".plot"):
            yield qual, fn


PLOTS = sorted(_plot_callables())

#: Plots of several panels drawn by one call: they return the Axes as a NumPy array (plt.subplots).
SEVERAL_PANELS = {"belonging_lib.models.moderation.ModerationResult.plot"}


def test_every_plot_function_is_found():
    quals = {q for q, _ in PLOTS}
    assert len(PLOTS) > 20, quals
    assert {
        "belonging_lib.schools.plots.part_profile",
        "belonging_lib.schools.plots.audit_profile",
        "belonging_lib.schools.plots.flag_scores",
        "belonging_lib.plots.trials.forest",
        "belonging_lib.models.importance.DominanceResult.plot",
    } <= quals


@pytest.mark.parametrize("qual,fn", PLOTS, ids=[p[0] for p in PLOTS])
def test_every_plot_function_returns_the_axes_it_drew_on(qual, fn):
    annotation = fn.__annotations__.get("return", "")
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    expected = {"Axes", "ndarray"} if qual in SEVERAL_PANELS else {"Axes"}
    assert _annotation_types(text) == expected, f"{qual}: returns {text or 'an unannotated value'}"
    assert "ax" in inspect.signature(fn).parameters, f"{qual}: takes no `ax`"


def test_the_tools_for_schools_figures_return_their_axes():
    """The figures that returned a Figure before return the Axes, on a new figure or on the one given."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd
    from matplotlib.axes import Axes

    from belonging_lib.schools import plots

    summary = pd.DataFrame(
        {
            "label": ["Peers", "Staff"],
            "estimate": [3.5, 4.0],
            "ci_low": [3.0, 3.6],
            "ci_high": [4.0, 4.4],
            "ci_level": [0.95, 0.95],
            "school_estimate": [3.6, 3.9],
        }
    )
    profile = pd.DataFrame(
        {"area_label": ["Voice", "Safety"], "rater_min": [1.5, 2.0], "rater_max": [3.0, 3.5], "mean_rating": [2.2, 2.9]}
    )
    flags = pd.DataFrame({"total": [2.0, 3.5, 4.1], "total_sem": [0.3, 0.3, 0.3]})
    try:
        for draw in (
            lambda ax=None: plots.part_profile(summary, school=True, ax=ax),
            lambda ax=None: plots.audit_profile(profile, ax=ax),
            lambda ax=None: plots.flag_scores(flags, cutoff=3.0, ax=ax),
        ):
            assert isinstance(draw(), Axes)
            _fig, given = plt.subplots()
            assert draw(given) is given
    finally:
        plt.close("all")


# --------------------------------------------------------------------------------------------------
# A table of estimates is a result object, not a bare DataFrame
# --------------------------------------------------------------------------------------------------

#: Public functions allowed to return a pandas DataFrame or Series: they read, make, clean or score
#: data (one row per pupil, answer, item or code), or give a fixed reference table, and hold no
#: estimate with an uncertainty. A function that returns estimates returns a result object whose
#: ``to_frame()`` is the tidy table. Each entry with its reason; keep this short.
DATA_FUNCTIONS: dict[str, str] = {
    # readers of files and of the shipped samples
    "belonging_lib.codebook.read_codebook": "reads a codebook file",
    "belonging_lib.datasets.load_codebook": "reads the sample's codebook",
    "belonging_lib.datasets.load_sample": "reads a sample data set",
    "belonging_lib.io.read_data": "reads a data file",
    "belonging_lib.survey.pisa.read_pisa": "reads a PISA file",
    "belonging_lib.notebook.calibration_rows": "reads the committed coverage table (docs/calibration.json)",
    "belonging_lib.notebook.calibration_table": "reads the committed coverage table (docs/calibration.json)",
    "belonging_lib.schools.audit.read_audit": "reads a staff audit sheet",
    # data made, checked, merged or changed, one row per pupil (or per problem found)
    "belonging_lib.codebook.validate": "the problems of an export, one row each",
    "belonging_lib.io.safe_merge": "merged data",
    "belonging_lib.models.centering.center": "the data with centred columns",
    "belonging_lib.privacy.drop_identifiers": "the data without identifiers",
    "belonging_lib.privacy.pseudonymise": "the data with pseudonyms",
    "belonging_lib.schools.safeguarding.answers_needing_response": "answers, one row each",
    "belonging_lib.schools.class_report.straight_liners": "a flag per pupil",
    "belonging_lib.transitions.change_scores": "a score per pupil",
    "belonging_lib.transitions.attrition_weights": "a weight per pupil",
    "belonging_lib.transitions.reliable_change": "a change index and category per pupil, aligned with the data",
    # scorers: one row per pupil
    "belonging_lib.scoring.clean_items": "item codes per pupil",
    "belonging_lib.scoring.reverse_items": "item codes per pupil",
    "belonging_lib.scoring.score": "scores per pupil",
    "belonging_lib.scoring.score_available": "scores per pupil",
    "belonging_lib.schools.questionnaire.score_responses": "scores per pupil",
    # descriptive distributions of answers (percentages per response code), drawn or shown as they are
    "belonging_lib.plots.items.response_shares": "shares of each answer per item, for a figure",
    "belonging_lib.schools.class_report.item_distribution": "shares of each answer per question",
    # forms, sheets, definitions and fixed reference tables
    "belonging_lib.schools.audit.audit_form": "a blank form",
    "belonging_lib.schools.audit.framework": "the audit's definition",
    "belonging_lib.schools.questionnaire.data_entry_sheet": "a blank sheet",
    "belonging_lib.schools.questionnaire.form_items": "the questionnaire's definition",
    "belonging_lib.schools.questionnaire.questionnaire_items": "the questionnaire's definition",
    "belonging_lib.schools.safeguarding.needs_response_items": "the questionnaire's definition",
    "belonging_lib.trials.months.months_table": "the EEF's published conversion table",
    "belonging_lib.simulate.export.make_codebook": "a codebook",
    # simulators: synthetic data sets
    "belonging_lib.schools.audit.simulate_audit": "synthetic data",
    "belonging_lib.schools.questionnaire.simulate_follow_up": "synthetic data",
    "belonging_lib.schools.questionnaire.simulate_responses": "synthetic data",
    "belonging_lib.simulate.pisa.simulate_pisa": "synthetic data",
    "belonging_lib.simulate.random_intercept.simulate_random_intercept": "synthetic data",
    "belonging_lib.simulate.staff.simulate_staff": "synthetic data",
    "belonging_lib.simulate.survey.assign_send_level": "synthetic data",
    "belonging_lib.simulate.transition.simulate_transition": "synthetic data",
    "belonging_lib.simulate.trial.simulate_trial": "synthetic data",
}

FRAME_TYPES = {"DataFrame", "Series"}


def _returns_a_frame(fn) -> bool:
    annotation = fn.__annotations__.get("return", "")
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    return bool(_annotation_types(text) & FRAME_TYPES)


#: Public module-level functions (methods aside: a result's `to_frame()` is where its table belongs).
FUNCTIONS = sorted((q, f) for q, f in CALLABLES if f.__qualname__ == f.__name__)


def test_a_public_function_returning_a_dataframe_reads_or_scores_data():
    """A public function annotated to return a DataFrame or Series is on DATA_FUNCTIONS (with its reason);
    every estimate table comes back as a result object."""
    frames = {q for q, f in FUNCTIONS if _returns_a_frame(f)}
    unlisted = sorted(frames - set(DATA_FUNCTIONS))
    assert not unlisted, "return a result object (EstimateTable) rather than a DataFrame:\n" + "\n".join(unlisted)
    stale = sorted(set(DATA_FUNCTIONS) - frames)
    assert not stale, "no longer returns a DataFrame; remove from DATA_FUNCTIONS:\n" + "\n".join(stale)
    assert all(reason.strip() for reason in DATA_FUNCTIONS.values())


@pytest.mark.parametrize(
    "qual",
    [
        "belonging_lib.proportions.wilson_ci",
        "belonging_lib.proportions.proportion_ci",
        "belonging_lib.proportions.missing_share_ci",
        "belonging_lib.reliability.polychoric",
        "belonging_lib.school_intervals.school_differences",
        "belonging_lib.school_intervals.share_intervals",
        "belonging_lib.models.implied.structural_covariance",
        "belonging_lib.trials.trial_intervals.attrition_intervals",
        "belonging_lib.trials.trial_intervals.balance_intervals",
        "belonging_lib.trials.crt.eef_table",
        "belonging_lib.schools.class_report.part_summary",
        "belonging_lib.structure._cfa.release_tests",
    ],
)
def test_tables_of_estimates_are_result_objects(qual):
    """The tables of several estimates are annotated to return a Result subclass (the walk sees them)."""
    fn = dict(FUNCTIONS)[qual]
    annotation = fn.__annotations__["return"]
    module = importlib.import_module(fn.__module__)
    returned = getattr(module, annotation if isinstance(annotation, str) else annotation.__name__)
    assert inspect.isclass(returned) and issubclass(returned, Result), qual


def test_the_table_bases_give_tidy_frames():
    """EstimateTable: label columns, then the tidy ones, a copy each time; MatrixResult: each pair once."""
    import numpy as np
    import pandas as pd

    from belonging_lib._results import EstimateTable, MatrixResult

    table = pd.DataFrame(
        {
            "n": [10, 12],
            "ci_high": [2.0, 3.0],
            "group": ["a", "b"],
            "estimate": [1.0, 2.0],
            "ci_low": [0.0, 1.0],
            "note": ["x", "y"],
        }
    )
    t = EstimateTable(table=table, keys=("group",))
    frame = t.to_frame()
    assert list(frame.columns) == ["group", "estimate", "ci_low", "ci_high", "n", "note"]
    frame.loc[0, "estimate"] = 99.0
    assert t.to_frame().loc[0, "estimate"] == 1.0 and len(t) == 2
    assert "Estimates" in t.summary() and "bl-table" in t._repr_html_()
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.keys = ()

    m = MatrixResult(matrix=pd.DataFrame(np.array([[1.0, 0.3], [0.3, 2.0]]), index=["u", "v"], columns=["u", "v"]))
    assert m.to_frame()["term"].tolist() == ["u ~~ u", "u ~~ v", "v ~~ v"]
    assert m.to_frame()["estimate"].tolist() == [1.0, 0.3, 2.0]
