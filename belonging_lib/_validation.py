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

from ._errors import ColumnError, DataError, ModelError

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
    "row_numbers",
    "require_finite",
    "reject_text_in_numbers",
    "require_two_arms",
    "require_clusters",
    "require_one_kind_of_label",
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


def row_numbers(data: pd.DataFrame, mask) -> list[int]:
    """Positions (counted from 1, as a user counts the rows of a file) where ``mask`` is true."""
    return [int(i) + 1 for i in np.flatnonzero(np.asarray(mask, dtype=bool))]


def _infinite(series: pd.Series) -> np.ndarray:
    """Boolean array: where ``series`` holds +inf or -inf (missing values are not infinite)."""
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_integer_dtype(series.dtype) and isinstance(
            series.dtype, np.dtype):
        return np.zeros(len(series), dtype=bool)                 # numpy integers cannot be infinite
    if isinstance(series.dtype, np.dtype) and series.dtype.kind == "f":
        return np.isinf(series.to_numpy())
    if pd.api.types.is_numeric_dtype(series):
        values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        return np.isinf(values)
    # text or mixed columns: only real numbers stored in them count (the text 'inf' is text)
    return np.fromiter((isinstance(v, (float, np.floating, int, np.integer)) and not isinstance(v, bool)
                        and np.isinf(float(v)) for v in series), dtype=bool, count=len(series))


def require_finite(data: pd.DataFrame, columns: str | Sequence[str], *, what: str = "analysis") -> None:
    """Raise :class:`DataError` if a column holds an infinite value (``inf`` or ``-inf``).

    Missing values (NaN) pass: they are excluded and counted by the caller.  An
    infinite value is not missing: it is a value no estimator can use, so it is
    refused before any numerical routine sees it.  The message names the column,
    the rows (counted from 1) and the value.
    """
    for col in dict.fromkeys(as_list(columns)):
        if col not in data.columns:
            continue
        bad = _infinite(data[col])
        if bad.any():
            rows = row_numbers(data, bad)
            value = data[col].to_numpy()[bad][0]
            value = value.item() if hasattr(value, "item") else value
            raise DataError(
                f"Column {col!r} holds an infinite value ({value!r}) in {describe_rows(rows)} "
                f"(counted from 1; {int(bad.sum())} in all). The {what} needs finite numbers: correct "
                "the value, or set it missing (NaN) so that the row is excluded and counted."
            )


def reject_text_in_numbers(data: pd.DataFrame, columns: str | Sequence[str]) -> None:
    """Raise :class:`DataError` for a column of numbers that also holds non-numeric text.

    A column such as ``[3.2, 'n/a', 4.1]`` would otherwise be read as a
    categorical variable with one level per value.  A column whose values are
    all text (a real categorical variable) passes, as do numeric columns.
    """
    for col in dict.fromkeys(as_list(columns)):
        if col not in data.columns:
            continue
        series = data[col]
        if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            continue
        if isinstance(series.dtype, pd.CategoricalDtype):
            continue
        present = series.notna()
        if not present.any():
            continue
        converted = pd.to_numeric(series.where(present), errors="coerce")
        numeric = present & converted.notna()
        text = present & converted.isna()
        if numeric.any() and text.any():
            rows = row_numbers(data, text)
            value = series[text].iloc[0]
            raise DataError(
                f"Column {col!r} holds numbers, but also non-numeric text such as {value!r} in "
                f"{describe_rows(rows)} (counted from 1; {int(text.sum())} value"
                f"{'s' if text.sum() != 1 else ''} in all), so it cannot be used as a number. Set those "
                "values missing (for example `pd.to_numeric(data[col], errors='coerce')`), or mark the "
                "column as categorical with C(...) in the formula."
            )


def require_two_arms(series: pd.Series, column: str, treated: Any) -> None:
    """Raise :class:`DataError` unless ``series`` holds exactly two arms (missing values aside).

    Used wherever a comparison of two arms is expected: a third arm would
    otherwise be pooled silently with the control arm.
    """
    present = pd.unique(series.dropna())
    if len(present) > 2:
        counts = series.value_counts(dropna=True)
        shown = ", ".join(f"{k!r} ({int(v)} rows)" for k, v in counts.items())
        raise DataError(
            f"Column {column!r} holds {len(present)} arms ({shown}), but this analysis compares two "
            f"(treated {treated!r} against one control arm). Select the two arms to compare first, "
            f"for example `data[data[{column!r}].isin([{treated!r}, <control>])]`."
        )


def require_one_kind_of_label(values, column: str) -> None:
    """Raise :class:`DataError` when two labels of a grouping column differ only in type.

    A school stored as the number 1 in some rows and the text ``'1'`` in
    others would count as two schools (41 clusters instead of 40).  The
    message names the labels and the first rows (counted from 1) of each.
    """
    if pd.api.types.is_numeric_dtype(pd.Series(values, copy=False)):
        return                                                   # numbers only: one kind of label
    series = pd.Series(np.asarray(values, dtype=object))
    present = series.dropna()
    if present.empty:
        return
    def text(v):
        if isinstance(v, (float, np.floating)) and float(v).is_integer():
            v = int(v)
        return str(v).strip()

    kinds: dict = {}
    for v in pd.unique(present):
        kinds.setdefault(text(v), []).append(v)
    clash = [vs for vs in kinds.values() if len(vs) > 1]
    if clash:
        vs = clash[0]
        where = "; ".join(f"{v!r} ({type(v).__name__}) in {describe_rows((np.flatnonzero((series == v).to_numpy() & series.map(type).eq(type(v)).to_numpy()) + 1).tolist())}"
                          for v in vs)
        raise DataError(
            f"The column {column!r} holds labels that differ only in type: {where}"
            f"{f' ({len(clash)} such labels in all)' if len(clash) > 1 else ''}. They would count as different "
            "groups. Store the column as text throughout (for example read the file with "
            "belonging_lib.io.read_data, which keeps identifiers as text).")


def require_clusters(values, cluster: str, *, what: str = "A cluster bootstrap", minimum: int = 2) -> int:
    """Raise :class:`ModelError` unless ``values`` hold at least ``minimum`` distinct clusters.

    A bootstrap that resamples one cluster draws the same data every time: its
    interval has zero width, which reads as certainty.  Returns the number of clusters.
    """
    require_one_kind_of_label(values, cluster)
    labels = pd.Series(np.asarray(values, dtype=object)).dropna()
    n = int(labels.nunique())
    if n < minimum:
        shown = f" ({labels.iloc[0]!r})" if n == 1 else ""
        raise ModelError(
            f"{what} needs at least {minimum} clusters of {cluster!r}, but the complete rows are in {n}"
            f"{shown}. Resampling one cluster draws the same data every time, so the interval would have "
            "no width. Drop `cluster=` to resample pupils, or analyse more clusters."
        )
    return n
