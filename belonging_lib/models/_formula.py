"""The package's one formula reader (private): patsy parses, and its errors become the library's.

Every model formula (``"y ~ x + C(g)"``), right-hand side (a random part, ``"~ ses"``) or formula
built from column names goes through here:

- :func:`parse_formula` and :func:`parse_right_side`: patsy's ``ModelDesc``; a malformed formula is
  a :class:`ModelError` quoting it and the place patsy stopped;
- :func:`factor_names`, :func:`formula_columns`, :func:`outcome_code`, :func:`bare_columns`,
  :func:`has_term`: what a parsed formula uses, read from patsy's terms and each factor's Python
  syntax tree, never from the formula's text;
- :func:`with_terms`: a formula with terms added (patsy's terms, written back as text);
- :func:`design_matrices`, :func:`design_matrix`, :func:`rebuild`: patsy's design matrices, whose
  errors name the unknown column (with close matches), the column to quote with ``Q('...')``, or
  the term that cannot be built.

``eval_env`` counts frames from the caller, as patsy's does, so that a caller's namespace (``np``)
is the one its formulas see.  Imports nothing from the rest of the package but the errors.
"""

from __future__ import annotations

import ast
import difflib
import functools
import re
import unicodedata

import numpy as np
import pandas as pd
import patsy

from .._errors import ColumnError, DataError, ModelError

__all__ = [
    "parse_formula",
    "parse_right_side",
    "factor_names",
    "factor_variables",
    "formula_columns",
    "outcome_code",
    "bare_columns",
    "has_term",
    "with_terms",
    "design_matrices",
    "design_matrix",
    "rebuild",
    "numeric_design",
]

_QUOTED = re.compile(r"Q\(\s*(['\"])(.+?)\1\s*\)")  # only to advise on a formula patsy cannot parse


def parse_formula(formula) -> patsy.ModelDesc:
    """Parse a formula; a malformed one is a :class:`ModelError` quoting it (never a raw patsy error)."""
    if not isinstance(formula, str):
        raise DataError(f"The formula must be text such as 'y ~ x', but a {type(formula).__name__} was passed.")
    if "~" not in formula:
        raise DataError(f"The formula {formula!r} needs an outcome, '~' and predictors, e.g. 'y ~ x'.")
    try:
        desc = _parsed(formula)
    except patsy.PatsyError as exc:
        raise ModelError(_formula_message(formula, exc, "cannot be read") + _unicode_hint(formula)) from None
    # a fresh ModelDesc each time: a caller may add terms to its lists (with_terms)
    return patsy.ModelDesc(list(desc.lhs_termlist), list(desc.rhs_termlist))


@functools.lru_cache(maxsize=256)
def _parsed(formula: str) -> patsy.ModelDesc:
    """patsy's parse of a formula, kept: a model reads its formula several times (columns, outcome,
    design), and patsy's tokenizer costs about a millisecond each time."""
    return patsy.ModelDesc.from_formula(formula)


def _formula_message(formula: str, exc: Exception, verb: str) -> str:
    first = str(exc).splitlines()[0].strip()
    origin = getattr(exc, "origin", None)
    where = ""
    if origin is not None and getattr(origin, "code", None) == formula:
        piece = formula[origin.start : origin.end]
        where = f" (at character {origin.start + 1}" + (f", {piece!r}" if piece.strip() else ", the end") + ")"
    return f"The formula {formula!r} {verb}: {first}{where}."


def factor_names(code: str) -> tuple[list[str], str | None]:
    """The names a patsy factor's code uses, read from its Python syntax tree.

    Returns every variable name (``x`` in ``I(x**2)``, ``np.log(x)`` or ``C(x)``) and every string
    quoted with ``Q('...')``, and the column the factor is *as it stands* (``x`` or ``Q('x')``), or
    ``None`` when the factor transforms its variables.
    """
    try:
        tree = ast.parse(code.strip(), mode="eval")
    except SyntaxError:
        return [], None
    names: list[str] = []
    for node in ast.walk(tree):
        quoted = _quoted(node)
        if isinstance(node, ast.Name):
            names.append(node.id)
        elif quoted is not None:
            names.append(quoted)
    body = tree.body
    bare = body.id if isinstance(body, ast.Name) else _quoted(body)
    return names, bare


def _quoted(node: ast.AST) -> str | None:
    """The column named by ``Q('...')``, or None when ``node`` is not such a call."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "Q"
        and len(node.args) == 1
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ):
        return node.args[0].value
    return None


def parse_right_side(text, *, role: str = "`random`") -> patsy.ModelDesc:
    """Parse a right-hand side such as ``"~ ses"`` (or ``"ses"``); an outcome left of ``~`` is an error."""
    if not isinstance(text, str):
        raise DataError(f"{role} must be a right-hand side such as '~ ses', but a {type(text).__name__} was passed.")
    stripped = text.strip()
    desc = parse_formula(stripped if "~" in stripped else f"~ {stripped}")
    if desc.lhs_termlist:
        raise ModelError(
            f"{role} takes a right-hand side only (for example '~ ses'), but {text!r} has an "
            "outcome on the left of '~'."
        )
    return desc


def factor_variables(code: str, known, *, what: str = "a column of the data") -> list[str]:
    """The variables among ``known`` (columns, or groups of columns) that one factor reads.

    A name is a variable when it is in ``known`` and is not called as a function (``x`` in
    ``np.log(x)``, ``C(x)``, ``I(x**2)``); ``Q("a name")`` names one.  A factor that reads nothing
    known but names something else is a :class:`ColumnError` naming the term and the unknown names,
    which are not ``what``.
    """
    try:
        tree = ast.parse(code.strip(), mode="eval")
    except SyntaxError:
        raise DataError(f"The formula term {code!r} is not valid Python.") from None
    called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    found: list[str] = []
    for node in ast.walk(tree):
        quoted = _quoted(node)
        if quoted is not None:
            found.append(quoted)
        elif isinstance(node, ast.Name) and id(node) not in called:
            found.append(node.id)
    found_known = [v for v in found if v in known]
    unknown = [v for v in found if v not in known and v not in ("np", "Q", "C", "I")]
    if not found_known and unknown:
        raise ColumnError(f"The formula term {code!r} names {', '.join(map(repr, unknown))}, which is not {what}.")
    return found_known


def formula_columns(formula, data: pd.DataFrame, *, sides: str = "both") -> list[str]:
    """Columns of ``data`` that a formula (text or a parsed ``patsy.ModelDesc``) uses, in data order per term.

    The terms and factors are patsy's; the variables of each factor are read from its code's syntax
    tree, so ``I(ses**2)``, ``C(year)``, ``ses:fsm``, ``np.log(x)`` and ``Q('a b')`` all give their
    columns.  ``sides`` is ``"both"``, ``"lhs"`` or ``"rhs"``.
    """
    desc = formula if isinstance(formula, patsy.ModelDesc) else parse_formula(formula)
    terms = {"both": desc.lhs_termlist + desc.rhs_termlist, "lhs": desc.lhs_termlist, "rhs": desc.rhs_termlist}[sides]
    names: list[str] = []
    for term in terms:
        for factor in term.factors:
            used = set(factor_names(factor.code)[0])
            names.extend(col for col in data.columns if isinstance(col, str) and col in used)
    return list(dict.fromkeys(names))


def outcome_code(formula: str) -> str:
    """The outcome as written left of ``~`` (the bare column for ``y`` or ``Q('y')``), from patsy's parse."""
    desc = parse_formula(formula)
    factors = [f for term in desc.lhs_termlist for f in term.factors]
    if len(factors) != 1:
        return " + ".join(f.code for f in factors)
    code = factors[0].code
    bare = factor_names(code)[1]
    return bare if bare is not None else code


def bare_columns(formula: str, data: pd.DataFrame) -> list[str]:
    """Columns that enter the formula as they are (``x`` or ``Q('x')``), not through C() or a function."""
    out = []
    for term in parse_formula(formula).rhs_termlist:
        for factor in term.factors:
            name = factor_names(factor.code)[1]
            if name is not None and name in data.columns:
                out.append(name)
    return list(dict.fromkeys(out))


def has_term(formula, codes) -> bool:
    """Whether the right-hand side holds the term whose factors are exactly ``codes`` (in order)."""
    want = [str(c).strip() for c in ([codes] if isinstance(codes, str) else codes)]
    desc = formula if isinstance(formula, patsy.ModelDesc) else parse_formula(formula)
    return any([f.code.strip() for f in term.factors] == want for term in desc.rhs_termlist)


def with_terms(formula: str, *terms) -> str:
    """The formula with right-hand terms added, each a factor's code or a tuple of codes (an interaction)."""
    desc = parse_formula(formula)
    for term in terms:
        codes = [term] if isinstance(term, str) else list(term)
        desc.rhs_termlist.append(patsy.Term([patsy.EvalFactor(c) for c in codes]))
    return desc.describe()


def _text(formula) -> str:
    return formula.describe() if isinstance(formula, patsy.ModelDesc) else str(formula)


def design_matrices(formula, frame: pd.DataFrame, *, return_type: str = "dataframe", eval_env: int = 0, **kwargs):
    """``patsy.dmatrices`` whose errors are the library's own, quoting the formula and the unknown name."""
    try:
        # a transformation such as np.log(0) gives inf quietly here; the caller names the term and rows
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return patsy.dmatrices(formula, frame, return_type=return_type, eval_env=eval_env + 1, **kwargs)
    except (SyntaxError, patsy.PatsyError) as exc:
        raise ColumnError(_build_message(_text(formula), frame, exc)) from None


def design_matrix(
    formula,
    frame: pd.DataFrame,
    *,
    what: str | None = None,
    return_type: str = "dataframe",
    eval_env: int = 0,
    **kwargs,
):
    """``patsy.dmatrix`` of a right-hand side, with the library's errors (``what`` names it in them)."""
    try:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return patsy.dmatrix(formula, frame, return_type=return_type, eval_env=eval_env + 1, **kwargs)
    except (SyntaxError, patsy.PatsyError) as exc:
        raise ColumnError(_build_message(_text(formula), frame, exc, what=what)) from None


def _numeric_column(factor, frame: pd.DataFrame) -> str | None:
    """The column a factor is when its code is a plain name of a numeric (not boolean) column of
    ``frame``, whose values patsy takes as they are; else None.  A name outside ASCII is left to
    patsy, which evaluates names as Python does (NFKC: 'ﬁt' is read as 'fit'), so that such a formula
    fails the same way whatever its other terms, with the advice to quote it as Q('name')."""
    code = factor.code.strip()
    if not (code.isascii() and code.isidentifier()) or code not in frame.columns or not frame.columns.is_unique:
        return None
    dtype = frame[code].dtype
    return code if isinstance(dtype, np.dtype) and dtype.kind in "fiu" else None


def numeric_design(formula, frame: pd.DataFrame, *, outcome: bool = True, finite: bool = False):
    """The design patsy builds, taken straight from the columns when every term is plain.

    For a formula (``outcome=True``) or a right-hand side (``outcome=False``, text or a parsed
    ``patsy.ModelDesc``) whose terms are the intercept and plain names of numeric columns (``y ~ x1
    + x2``, ``~ ses``), the matrices are the columns themselves, as float, in patsy's order (the
    intercept first, then the terms as written) and with patsy's names (``Intercept``, the column
    names).  Returns ``(y, X, names)`` (``y`` None for a right-hand side), or None when a term is
    anything else (a transformation, a category, an interaction, ``Q('...')``) or a value is not
    finite: then patsy builds the design (:func:`design_matrices`, :func:`design_matrix`), with its
    errors and the library's checks.  ``finite=True``: the caller has refused infinite and missing
    values in the frame's columns already, so they are not looked for again.
    """
    desc = formula if isinstance(formula, patsy.ModelDesc) else parse_formula(formula)
    intercept, columns = False, []
    for term in desc.rhs_termlist:
        if not term.factors:
            intercept = True
            continue
        col = _numeric_column(term.factors[0], frame) if len(term.factors) == 1 else None
        if col is None:
            return None
        columns.append(col)
    if not (intercept or columns):
        return None
    y = None
    if outcome:
        if len(desc.lhs_termlist) != 1 or len(desc.lhs_termlist[0].factors) != 1:
            return None
        ycol = _numeric_column(desc.lhs_termlist[0].factors[0], frame)
        if ycol is None:
            return None
        y = frame[ycol].to_numpy(dtype=float)
        if not finite and not np.isfinite(y).all():
            return None
    elif desc.lhs_termlist:
        return None
    X = np.empty((len(frame), int(intercept) + len(columns)), order="F")  # by column, as a frame's values are
    if intercept:
        X[:, 0] = 1.0
    for j, col in enumerate(columns, start=int(intercept)):
        values = frame[col].to_numpy(dtype=float)
        if not finite and not np.isfinite(values).all():
            return None
        X[:, j] = values
    return y, X, ("Intercept",) * intercept + tuple(columns)


def rebuild(design_infos, frame: pd.DataFrame, *, formula=None, **kwargs):
    """``patsy.build_design_matrices``: designs already built (the same terms and factor levels) for
    new rows, with the library's errors (``formula`` quoted in them)."""
    try:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return patsy.build_design_matrices(design_infos, frame, **kwargs)
    except (SyntaxError, patsy.PatsyError) as exc:
        text = _text(formula) if formula is not None else " + ".join(n for i in design_infos for n in i.term_names)
        raise ColumnError(_build_message(text, frame, exc)) from None


def _build_message(formula: str, frame: pd.DataFrame, exc: Exception, what: str | None = None) -> str:
    """The message of an error patsy raised building a design: the unknown column, the name to quote,
    or the term it could not build."""
    if isinstance(exc, SyntaxError):
        return _syntax_message(formula, frame, exc)
    text = str(exc)
    subject = what or f"The formula {formula!r}"
    unknown = re.search(r"NameError: name '([^']+)' is not defined", text)
    if unknown:
        name = unknown.group(1)
        # Python reads a name in NFKC form: 'ﬁt' becomes 'fit', a decomposed 'Größe' a composed one
        changed = [
            c for c in frame.columns if isinstance(c, str) and c != name and unicodedata.normalize("NFKC", c) == name
        ]
        if changed:
            return (
                f"{subject} names the column {changed[0]!r}, whose letters Python "
                f"rewrites in a formula (it reads {name!r}); write Q({changed[0]!r}) in the "
                "formula to use the name as it stands."
            )
        close = difflib.get_close_matches(name, [str(c) for c in frame.columns], n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        cols = ", ".join(map(repr, list(frame.columns)[:12])) + (" ..." if frame.shape[1] > 12 else "")
        return f"{subject} uses {name!r}, which is not a column of the data (columns: {cols}).{hint}"
    if "SyntaxError" in text:
        return _syntax_message(formula, frame, exc)
    if what is not None:
        first = text.splitlines()[0].strip()
        return f"{what} cannot be built from the data: {first}."
    return _formula_message(formula, exc, "cannot be built from the data")


def _syntax_message(formula: str, frame: pd.DataFrame, exc: Exception) -> str:
    unquoted = [
        c for c in frame.columns if isinstance(c, str) and not c.isidentifier() and c in _QUOTED.sub(" ", formula)
    ]
    if unquoted:
        fix = ", ".join(f"Q({c!r})" for c in unquoted)
        return (
            f"The formula {formula!r} names the column{'s' if len(unquoted) > 1 else ''} "
            f"{', '.join(map(repr, unquoted))}, which {'are' if len(unquoted) > 1 else 'is'} not a plain "
            f"name (spaces, symbols); write {fix} in the formula."
        )
    first = str(exc).splitlines()[0].strip()
    return f"The formula {formula!r} cannot be read: {first}.{_unicode_hint(formula)}"


def _unicode_hint(formula: str) -> str:
    """Advice on ``Q('name')`` when a formula that cannot be read has characters outside ASCII unquoted."""
    if any(ord(ch) > 127 for ch in _QUOTED.sub(" ", formula)):
        return (
            " A column name with symbols or characters Python does not allow in a name (such as '²', "
            "'’' or a letter with a separate accent mark) must be quoted as Q('name') in the formula."
        )
    return ""
