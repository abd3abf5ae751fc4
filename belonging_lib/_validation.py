"""Shared input checks that raise belonging_lib's own errors.

Every message names the column, the first offending rows (and how many there
are) and the offending value, so a user can find the problem in their file.
Imports only ``_errors`` from this package.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ._errors import ColumnError, DataError

__all__ = [
    "as_frame",
    "describe_rows",
    "require_columns",
    "require_roles",
    "require_numeric",
    "check_range",
    "check_choice",
    "check_probability",
    "check_positive_int",
    "as_list",
]

MAX_ROWS_SHOWN = 5


def describe_rows(rows: Iterable[Any], *, max_shown: int = MAX_ROWS_SHOWN) -> str:
    """Describe row labels for a message: ``"rows 3, 17, 42 (and 12 more)"``."""
    rows = list(rows)
    if not rows:
        return "no rows"
    shown = ", ".join(str(r) for r in rows[:max_shown])
    word = "row" if len(rows) == 1 else "rows"
    extra = f" (and {len(rows) - max_shown} more)" if len(rows) > max_shown else ""
    return f"{word} {shown}{extra}"


def as_list(columns: str | Sequence[str] | None) -> list[str]:
    """Turn ``None``, one column name or a sequence of names into a list."""
    if columns is None:
        return []
    if isinstance(columns, str):
        return [columns]
    return list(columns)


def as_frame(data: Any, *, name: str = "data") -> pd.DataFrame:
    """Check that ``data`` is a non-empty DataFrame and return it."""
    if not isinstance(data, pd.DataFrame):
        raise DataError(
            f"`{name}` must be a pandas DataFrame, but a {type(data).__name__} was passed."
        )
    if data.shape[0] == 0:
        raise DataError(f"`{name}` has no rows.")
    return data


def require_columns(data: pd.DataFrame, columns: str | Sequence[str] | None, *,
                    role: str = "column") -> list[str]:
    """Raise :class:`ColumnError` naming every requested column that is absent.

    Returns the columns as a list.
    """
    cols = as_list(columns)
    missing = [c for c in cols if c not in data.columns]
    if missing:
        available = ", ".join(map(str, list(data.columns)[:20]))
        more = " ..." if data.shape[1] > 20 else ""
        raise ColumnError(
            f"The {role} {', '.join(repr(c) for c in missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not in the data. "
            f"Available columns: {available}{more}."
        )
    return cols


def require_roles(data: pd.DataFrame, roles: dict[str, Any], *, distinct: bool = True) -> list[str]:
    """Check column roles such as ``{"outcome": "ks2", "predictor": "belonging"}``.

    Each role must be one column name present in ``data``, and (with
    ``distinct``) no column may fill two roles.  Returns the columns in order.
    """
    for role, col in roles.items():
        if not isinstance(col, str):
            raise DataError(f"`{role}` must be one column name, but {col!r} was passed.")
        require_columns(data, [col], role=f"`{role}` column")
    cols = list(roles.values())
    if distinct and len(set(cols)) < len(cols):
        names = ", ".join(f"`{r}`" for r in roles)
        raise DataError(f"{names} must be {len(cols)} different columns, but {cols} were passed.")
    return cols


def require_numeric(data: pd.DataFrame, columns: str | Sequence[str]) -> None:
    """Raise :class:`DataError` if a column holds values that are not numbers."""
    for col in as_list(columns):
        series = data[col]
        if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
            continue
        converted = pd.to_numeric(series, errors="coerce")
        bad = series.notna() & converted.isna()
        if bad.any():
            rows = series.index[bad]
            value = series[bad].iloc[0]
            raise DataError(
                f"Column {col!r} must be numeric, but {describe_rows(rows)} "
                f"hold{'s' if len(rows) == 1 else ''} non-numeric values such as {value!r} "
                f"({int(bad.sum())} in all)."
            )


def check_range(data: pd.DataFrame, columns: str | Sequence[str], low: float, high: float,
                *, integer: bool = False) -> None:
    """Raise :class:`DataError` for values outside ``[low, high]`` (missing values pass)."""
    for col in as_list(columns):
        values = pd.to_numeric(data[col], errors="coerce")
        bad = values.notna() & ((values < low) | (values > high))
        if integer:
            bad |= values.notna() & (values != np.round(values))
        if bad.any():
            rows = values.index[bad]
            value = data[col][bad].iloc[0]
            kind = "whole numbers from" if integer else "values from"
            raise DataError(
                f"Column {col!r} must hold {kind} {low:g} to {high:g}, but "
                f"{describe_rows(rows)} hold{'s' if len(rows) == 1 else ''} {value!r} "
                f"({int(bad.sum())} value{'s' if bad.sum() != 1 else ''} out of range)."
            )


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> Any:
    """Raise :class:`ValueError`-type :class:`DataError` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise DataError(
            f"The value for `{name}` must be one of {list(choices)}, but {value!r} was passed."
        )
    return value


def check_probability(name: str, value: float, *, open_interval: bool = True) -> float:
    """Check a level such as ``ci=0.95`` lies in (0, 1)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise DataError(f"`{name}` must be a number between 0 and 1, but {value!r} was passed.") from None
    ok = (0 < v < 1) if open_interval else (0 <= v <= 1)
    if not ok:
        raise DataError(f"`{name}` must be between 0 and 1, but {value!r} was passed.")
    return v


def check_positive_int(name: str, value: Any, *, minimum: int = 1) -> int:
    """Check a count such as ``n_boot`` is a whole number of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise DataError(f"`{name}` must be a whole number of at least {minimum}, but {value!r} was passed.")
    return int(value)
