"""Small helpers shared by the trial modules (not public)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from .._errors import DataError
from .._validation import describe_rows, require_columns, require_two_arms

__all__ = ["hedges_j", "treatment_indicator", "complete_rows"]


def hedges_j(df: float) -> float:
    """Exact small-sample correction factor of Hedges' g.

    ``J = exp(lgamma(m/2) - log(sqrt(m/2)) - lgamma((m-1)/2))`` with ``m`` the
    degrees of freedom (``n_T + n_C - 2``), as in R's ``effectsize``.
    """
    m = float(df)
    return float(np.exp(special.gammaln(m / 2) - np.log(np.sqrt(m / 2)) - special.gammaln((m - 1) / 2)))


def treatment_indicator(data: pd.DataFrame, column: str, treated) -> pd.Series:
    """Return a 0/1 float Series: 1 where ``data[column] == treated``.

    ``treated=None`` means the column is already coded 0/1 (1 = treated).
    Missing values stay missing.  Raises :class:`DataError` unless exactly two
    groups are present: a third arm is an error, never pooled with the control arm.
    """
    require_columns(data, column, role="treatment column")
    col = data[column]
    present = col.dropna().unique()
    if treated is None:
        values = pd.to_numeric(col, errors="coerce")
        bad = (values.notna() & ~values.isin([0, 1])) | (col.notna() & values.isna())
        if bad.any():
            raise DataError(
                f"Column {column!r} must be coded 0 (control) / 1 (treated) when `treatment` is "
                f"not given, but {describe_rows(values.index[bad])} hold {col[bad].iloc[0]!r}. "
                f"Pass `treated=` naming the treated value."
            )
        out = values.astype(float)
    else:
        require_two_arms(col, column, treated)
        if treated not in set(present):
            raise DataError(
                f"The treated value {treated!r} does not occur in column {column!r} "
                f"(values present: {sorted(map(str, present))})."
            )
        out = (col == treated).astype(float).where(col.notna())
    if out.dropna().nunique() != 2:
        raise DataError(f"Column {column!r} must hold two groups (treated and control); "
                        f"found {out.dropna().nunique()}.")
    return out


def complete_rows(data: pd.DataFrame, columns: list[str]) -> tuple[pd.Series, list]:
    """Boolean mask of rows complete on ``columns`` and the labels of the others."""
    mask = data[columns].notna().all(axis=1)
    return mask, list(data.index[~mask])
