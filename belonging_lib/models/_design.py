"""Design matrices from formulas, with every excluded row counted (private).

The formula itself is read by the package's one formula reader, :mod:`belonging_lib.models._formula`.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from .._errors import DataError, ModelError
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
from ._formula import (
    bare_columns,
    design_matrices,
    formula_columns,
    numeric_design,
    outcome_code as read_outcome,
    parse_formula,
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


def _variables(formula: str, data: pd.DataFrame) -> list[str]:
    """Column names of ``data`` that the formula uses."""
    return formula_columns(formula, data)


def screen_formula_data(formula: str, data: pd.DataFrame, extra=None) -> list[str]:
    """Check a formula and the columns it uses before any design matrix is built.

    Raises the library's errors for a malformed formula, for a column of numbers
    holding non-numeric text (it would become one dummy per value), and for
    infinite values in any used column or in ``extra``.  Returns the used columns.
    """
    used = _variables(formula, data)
    outcome_code = read_outcome(formula)
    if outcome_code in data.columns and outcome_code not in used:
        used.insert(0, outcome_code)
    reject_text_in_numbers(data, bare_columns(formula, data))
    require_finite(data, list(dict.fromkeys(used + as_list(extra))), what="model")
    return used


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
    outcome_code = read_outcome(formula)
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
    frame = data if keep.all() else data.loc[keep]      # read only: no copy when every row is kept
    if frame.shape[0] == 0:
        raise DataError(f"No row is complete on the {what}'s variables ({', '.join(check)}).")
    plain = numeric_design(formula, frame, finite=True)  # infinite values refused and missing rows left out above
    if plain is not None:                                 # plain numeric columns: patsy's design, directly
        return Design(plain[0], plain[1], plain[2], outcome_code, frame.index, ledger, frame)
    y, X = design_matrices(formula, frame, NA_action="raise")
    _check_matrix_finite(formula, frame, data, y, X)
    if y.shape[1] != 1:
        raise DataError(f"The outcome {outcome_code!r} must be a single numeric column.")
    names = tuple(str(c) for c in X.columns)
    return Design(y.iloc[:, 0].to_numpy(float), X.to_numpy(float), names, outcome_code,
                  frame.index, ledger, frame)


def _clearly_full_rank(X: np.ndarray) -> bool:
    """True when X has full column rank by a wide margin, from the eigenvalues of X'X (k x k).

    The eigenvalues of X'X are the squared singular values of X, computed with an absolute error of
    about eps times the largest.  A smallest-to-largest ratio above 1e-6 therefore means a condition
    number of X below about 1e3, far inside ``numpy.linalg.matrix_rank``'s tolerance (the largest
    singular value times n times eps), so the SVD of the n x k matrix, the costly part with many
    rows, can be skipped; anything less clear-cut goes to the SVD.
    """
    k = X.shape[1]
    if k <= 8:  # a few columns: each product of two columns as one dot product (no copy of X)
        cols = [np.ascontiguousarray(X[:, j]) for j in range(k)]
        gram = np.empty((k, k))
        for a in range(k):
            for b in range(a + 1):
                gram[a, b] = gram[b, a] = np.dot(cols[a], cols[b])
    else:
        gram = X.T @ X
    if not np.all(np.isfinite(gram)):
        return False
    ev = np.linalg.eigvalsh(gram)
    return bool(ev[-1] > 0 and ev[0] > 1e-6 * ev[-1])


def check_rank(X: np.ndarray, names: tuple) -> None:
    """Raise ModelError naming the coefficients involved in perfect collinearity."""
    n, k = X.shape
    if n <= k:
        raise ModelError(f"The model has {k} coefficients but only {n} complete rows.")
    if _clearly_full_rank(X):
        return
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
