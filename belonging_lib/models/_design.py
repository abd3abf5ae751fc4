"""Design matrices from formulas, with every excluded row counted (private)."""

from __future__ import annotations

import ast
import dataclasses
import difflib
import re

import numpy as np
import pandas as pd
import patsy

from .._errors import ColumnError, DataError, ModelError
from .._results import RowLedger
from .._validation import (
    as_frame,
    as_list,
    describe_rows,
    reject_text_in_numbers,
    require_one_kind_of_label,
    require_columns,
    require_finite,
)

__all__ = ["Design", "build_design", "check_rank", "formula_columns", "parse_formula", "screen_formula_data",
           "design_matrices"]


@dataclasses.dataclass(frozen=True)
class Design:
    """Outcome, fixed-effect design and the rows used."""

    y: np.ndarray
    X: np.ndarray
    names: tuple
    outcome: str
    rows: pd.Index           # index labels of the rows used
    ledger: RowLedger
    frame: pd.DataFrame      # the used rows of the data (all columns)

    @property
    def n_excluded(self) -> int:
        return self.ledger.start - len(self.rows)


_QUOTED = re.compile(r"Q\(\s*(['\"])(.+?)\1\s*\)")    # only to advise on a formula patsy cannot parse


def parse_formula(formula) -> patsy.ModelDesc:
    """Parse a formula; a malformed one is a :class:`ModelError` quoting it (never a raw patsy error)."""
    if not isinstance(formula, str):
        raise DataError(f"The formula must be text such as 'y ~ x', but a {type(formula).__name__} was passed.")
    if "~" not in formula:
        raise DataError(f"The formula {formula!r} needs an outcome, '~' and predictors, e.g. 'y ~ x'.")
    try:
        return patsy.ModelDesc.from_formula(formula)
    except patsy.PatsyError as exc:
        raise ModelError(_formula_message(formula, exc, "cannot be read") + _unicode_hint(formula)) from None


def _formula_message(formula: str, exc: Exception, verb: str) -> str:
    first = str(exc).splitlines()[0].strip()
    origin = getattr(exc, "origin", None)
    where = ""
    if origin is not None and getattr(origin, "code", None) == formula:
        piece = formula[origin.start:origin.end]
        where = (f" (at character {origin.start + 1}" + (f", {piece!r}" if piece.strip() else ", the end")
                 + ")")
    return f"The formula {formula!r} {verb}: {first}{where}."


def _factor_names(code: str) -> tuple[list[str], str | None]:
    """The names a patsy factor's code uses, read from its Python syntax tree.

    Returns every variable name (``x`` in ``I(x**2)``, ``np.log(x)`` or ``C(x)``) and every string
    quoted with ``Q('...')``, and the column the factor is *as it stands* (``x`` or ``Q('x')``), or
    ``None`` when the factor transforms its variables.
    """
    try:
        tree = ast.parse(code.strip(), mode="eval")
    except SyntaxError:
        return [], None
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.append(node.id)
        elif _is_quote(node):
            names.append(node.args[0].value)
    body = tree.body
    bare = body.id if isinstance(body, ast.Name) else body.args[0].value if _is_quote(body) else None
    return names, bare


def _is_quote(node) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Q"
            and len(node.args) == 1 and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str))


def formula_columns(formula, data: pd.DataFrame, *, sides: str = "both") -> list[str]:
    """Columns of ``data`` that a formula (text or a parsed ``patsy.ModelDesc``) uses, in data order per term.

    The terms and factors are patsy's; the variables of each factor are read from its code's syntax
    tree, so ``I(ses**2)``, ``C(year)``, ``ses:fsm``, ``np.log(x)`` and ``Q('a b')`` all give their
    columns.  ``sides`` is ``"both"``, ``"lhs"`` or ``"rhs"``.
    """
    desc = formula if isinstance(formula, patsy.ModelDesc) else parse_formula(formula)
    terms = {"both": desc.lhs_termlist + desc.rhs_termlist, "lhs": desc.lhs_termlist,
             "rhs": desc.rhs_termlist}[sides]
    names = []
    for term in terms:
        for factor in term.factors:
            used = set(_factor_names(factor.code)[0])
            names.extend(col for col in data.columns if isinstance(col, str) and col in used)
    return list(dict.fromkeys(names))


def _variables(formula: str, data: pd.DataFrame) -> list[str]:
    """Column names of ``data`` that the formula uses."""
    return formula_columns(formula, data)


def _outcome_code(formula: str) -> str:
    """The outcome as written left of ``~`` (the bare column for ``y`` or ``Q('y')``), from patsy's parse."""
    desc = parse_formula(formula)
    factors = [f for term in desc.lhs_termlist for f in term.factors]
    if len(factors) != 1:
        return " + ".join(f.code for f in factors)
    code = factors[0].code
    bare = _factor_names(code)[1]
    return bare if bare is not None else code


def _bare_columns(formula: str, data: pd.DataFrame) -> list[str]:
    """Columns that enter the formula as they are (``x`` or ``Q('x')``), not through C() or a function."""
    out = []
    for term in parse_formula(formula).rhs_termlist:
        for factor in term.factors:
            name = _factor_names(factor.code)[1]
            if name is not None and name in data.columns:
                out.append(name)
    return list(dict.fromkeys(out))


def screen_formula_data(formula: str, data: pd.DataFrame, extra=None) -> list[str]:
    """Check a formula and the columns it uses before any design matrix is built.

    Raises the library's errors for a malformed formula, for a column of numbers
    holding non-numeric text (it would become one dummy per value), and for
    infinite values in any used column or in ``extra``.  Returns the used columns.
    """
    used = _variables(formula, data)
    outcome_code = _outcome_code(formula)
    if outcome_code in data.columns and outcome_code not in used:
        used.insert(0, outcome_code)
    reject_text_in_numbers(data, _bare_columns(formula, data))
    require_finite(data, list(dict.fromkeys(used + as_list(extra))), what="model")
    return used


def design_matrices(formula: str, frame: pd.DataFrame, **kwargs):
    """``patsy.dmatrices`` whose errors are the library's own, quoting the formula and the unknown name."""
    try:
        # a transformation such as np.log(0) gives inf quietly here; the caller names the term and rows
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return patsy.dmatrices(formula, frame, return_type="dataframe", eval_env=1, **kwargs)
    except SyntaxError as exc:
        raise ColumnError(_syntax_message(formula, frame, exc)) from None
    except patsy.PatsyError as exc:
        text = str(exc)
        unknown = re.search(r"NameError: name '([^']+)' is not defined", text)
        if unknown:
            name = unknown.group(1)
            import unicodedata

            # Python reads a name in NFKC form: 'ﬁt' becomes 'fit', a decomposed 'Größe' a composed one
            changed = [c for c in frame.columns if isinstance(c, str) and c != name
                       and unicodedata.normalize("NFKC", c) == name]
            if changed:
                raise ColumnError(f"The formula {formula!r} names the column {changed[0]!r}, whose letters Python "
                                  f"rewrites in a formula (it reads {name!r}); write Q({changed[0]!r}) in the "
                                  "formula to use the name as it stands.") from None
            close = difflib.get_close_matches(name, [str(c) for c in frame.columns], n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            cols = ", ".join(map(repr, list(frame.columns)[:12])) + (" ..." if frame.shape[1] > 12 else "")
            raise ColumnError(f"The formula {formula!r} uses {name!r}, which is not a column of the data "
                              f"(columns: {cols}).{hint}") from None
        if "SyntaxError" in text:
            raise ColumnError(_syntax_message(formula, frame, exc)) from None
        raise ColumnError(_formula_message(formula, exc, "cannot be built from the data")) from None


def _syntax_message(formula: str, frame: pd.DataFrame, exc: Exception) -> str:
    unquoted = [c for c in frame.columns if isinstance(c, str) and not c.isidentifier()
                and c in _QUOTED.sub(" ", formula)]
    if unquoted:
        fix = ", ".join(f"Q({c!r})" for c in unquoted)
        return (f"The formula {formula!r} names the column{'s' if len(unquoted) > 1 else ''} "
                f"{', '.join(map(repr, unquoted))}, which {'are' if len(unquoted) > 1 else 'is'} not a plain "
                f"name (spaces, symbols); write {fix} in the formula.")
    first = str(exc).splitlines()[0].strip()
    return f"The formula {formula!r} cannot be read: {first}.{_unicode_hint(formula)}"


def _unicode_hint(formula: str) -> str:
    """Advice on ``Q('name')`` when a formula that cannot be read has characters outside ASCII unquoted."""
    if any(ord(ch) > 127 for ch in _QUOTED.sub(" ", formula)):
        return (" A column name with symbols or characters Python does not allow in a name (such as '²', "
                "'’' or a letter with a separate accent mark) must be quoted as Q('name') in the formula.")
    return ""


def _check_matrix_finite(formula: str, frame: pd.DataFrame, data: pd.DataFrame, y, X) -> None:
    """A transformation in the formula (``np.log(x)`` with x = 0) can still make values infinite."""
    for mat in (y, X):
        values = np.asarray(mat, dtype=float)
        bad = ~np.isfinite(values)
        if bad.any():
            j = int(np.flatnonzero(bad.any(axis=0))[0])
            rows_bad = bad[:, j]
            positions = [int(data.index.get_loc(r)) + 1 for r in frame.index[rows_bad]]
            raise DataError(f"The term {str(mat.columns[j])!r} of the formula {formula!r} is not a finite "
                            f"number in {describe_rows(positions)} (counted from 1; {int(rows_bad.sum())} in "
                            "all), for example a log of zero; correct or exclude those rows.")


def build_design(formula: str, data: pd.DataFrame, *, extra: list[str] | None = None,
                 what: str = "model") -> Design:
    """Build y and X from a formula; rows missing any used column are excluded and counted.

    ``extra`` lists further columns that must be complete (cluster, groups,
    random-effect variables).
    """
    data = as_frame(data)
    outcome_code = _outcome_code(formula)
    extra = as_list(extra)
    require_columns(data, extra)
    used = _variables(formula, data)
    if outcome_code in data.columns and outcome_code not in used:
        used.insert(0, outcome_code)
    if outcome_code in data.columns:
        ycol = data[outcome_code]
        if not (pd.api.types.is_numeric_dtype(ycol) or pd.api.types.is_bool_dtype(ycol)):
            bad = ycol.dropna()
            conv = pd.to_numeric(bad, errors="coerce")
            if conv.isna().any():
                rows = bad.index[conv.isna()]
                raise DataError(f"The outcome {outcome_code!r} must be numeric, but {describe_rows(rows)} "
                                f"hold{'s' if len(rows) == 1 else ''} {bad[conv.isna()].iloc[0]!r}.")
    screen_formula_data(formula, data, extra)
    for col in extra:
        require_one_kind_of_label(data[col], col)
    check = list(dict.fromkeys(used + extra))
    ledger = RowLedger("rows", start=len(data), source="the data")
    keep = pd.Series(True, index=data.index)
    for col in check:
        miss = data[col].isna()
        if miss.any():
            newly = keep & miss
            if newly.any():
                before = data.index[keep]
                keep &= ~miss
                ledger.record_drop(f"complete {col}", before, data.index[keep], reason=f"{col} missing")
    frame = data.loc[keep]
    if frame.shape[0] == 0:
        raise DataError(f"No row is complete on the {what}'s variables ({', '.join(check)}).")
    y, X = design_matrices(formula, frame, NA_action="raise")
    _check_matrix_finite(formula, frame, data, y, X)
    if y.shape[1] != 1:
        raise DataError(f"The outcome {outcome_code!r} must be a single numeric column.")
    names = tuple(str(c) for c in X.columns)
    return Design(y.iloc[:, 0].to_numpy(float), X.to_numpy(float), names, outcome_code,
                  frame.index, ledger, frame)


def check_rank(X: np.ndarray, names: tuple) -> None:
    """Raise ModelError naming the coefficients involved in perfect collinearity."""
    n, k = X.shape
    if n <= k:
        raise ModelError(f"The model has {k} coefficients but only {n} complete rows.")
    rank = np.linalg.matrix_rank(X)
    if rank < k:
        # find the columns that are linear combinations of earlier ones
        bad = []
        for j in range(1, k):
            if np.linalg.matrix_rank(X[:, : j + 1]) <= np.linalg.matrix_rank(X[:, :j]):
                bad.append(names[j])
        raise ModelError(
            "The predictors are perfectly collinear (or one does not vary): "
            f"{', '.join(bad) or 'some terms'} can be written from the other terms, so the model's "
            "coefficients cannot all be estimated. Drop one of them.")
