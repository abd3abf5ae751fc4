"""Design matrices from formulas, with every excluded row counted (private)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import patsy

from .._errors import ColumnError, DataError, ModelError
from .._results import RowLedger
from .._validation import as_frame, as_list, describe_rows, require_columns

__all__ = ["Design", "build_design", "check_rank"]


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
    desc = patsy.ModelDesc.from_formula(formula)
    names = []
    for term in desc.lhs_termlist + desc.rhs_termlist:
        for factor in term.factors:
            code = factor.code
            for col in data.columns:
                if isinstance(col, str) and col in _identifiers(code):
                    names.append(col)
    return list(dict.fromkeys(names))


def _identifiers(code: str) -> set[str]:
    import re

    found = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", code))
    found |= set(re.findall(r"Q\(['\"]([^'\"]+)['\"]\)", code))
    return found


def build_design(formula: str, data: pd.DataFrame, *, extra: list[str] | None = None,
                 what: str = "model") -> Design:
    """Build y and X from a formula; rows missing any used column are excluded and counted.

    ``extra`` lists further columns that must be complete (cluster, groups,
    random-effect variables).
    """
    data = as_frame(data)
    if "~" not in formula:
        raise DataError(f"The formula {formula!r} needs an outcome, '~' and predictors, e.g. 'y ~ x'.")
    outcome_code = formula.split("~", 1)[0].strip()
    used = _variables(formula, data)
    extra = as_list(extra)
    require_columns(data, extra)
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
    try:
        y, X = patsy.dmatrices(formula, frame, return_type="dataframe", NA_action="raise")
    except patsy.PatsyError as exc:
        msg = str(exc).splitlines()[0]
        raise ColumnError(f"The formula {formula!r} cannot be built from the data: {msg}") from None
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
