"""Scoring questionnaires from their instrument definitions.

:func:`score` turns item responses (numeric codes or text labels) into
scale and subscale scores, the number of items answered and published
bands, one output row per input row.  It checks every value: a code outside
the response range, an unknown label or an absent item column raises an
error naming the column, the rows and the value, unless ``invalid="missing"``
asks for such values to be set missing (and counted in the report).

Examples
--------
>>> import pandas as pd
>>> from belonging_lib.scoring import score
>>> data = pd.DataFrame({f"tr_care_{i}": [4, 5, None] for i in range(1, 5)})
>>> score(data, "tr_care")
   tr_care  tr_care_n
0      4.0          4
1      5.0          4
2      NaN          0
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ._errors import ColumnError, DataError
from ._results import Result
from ._validation import as_frame, check_choice, describe_rows
from .instruments import Instrument, ScoreRule, list_instruments, load_instrument

__all__ = ["score", "score_with_report", "score_available", "score_available_with_report", "clean_items",
           "reverse_items", "ScoringReport", "ScoredData", "Problem"]


@dataclasses.dataclass(frozen=True)
class Problem:
    """Values of one column that were not valid responses."""

    column: str
    kind: str            # "out of range", "unknown label", "missing column"
    rows: tuple          # row labels
    value: Any           # the first offending value
    n: int


@dataclasses.dataclass(frozen=True)
class ScoringReport(Result):
    """What :func:`score` did.

    Attributes
    ----------
    instruments : tuple of str
    n_rows_in : int
        Rows in the data (always equal to the rows out).
    n_rows_scored : int
        Rows with every score computed (not missing).
    scored : tuple of (score id, rows with the score)
    columns : tuple of (instrument, item, column, answered, recoded, set_missing)
        Per item column: valid answers, text labels recoded to codes, and
        invalid values set missing.
    problems : tuple of Problem
        The invalid values found (set missing under ``invalid="missing"``).
    bands_withheld : tuple of (instrument, rows)
        Rows whose bands were left empty because the pupil's age (``age=``) is missing or outside
        the ages the instrument's bands were made for.
    """

    instruments: tuple
    n_rows_in: int
    n_rows_scored: int
    scored: tuple
    columns: tuple
    problems: tuple = ()
    declared_missing: int = 0
    bands_withheld: tuple = ()
    title = "Scoring report"

    @property
    def values_recoded(self) -> int:
        """Text labels turned into codes, in all."""
        return int(sum(c[4] for c in self.columns))

    @property
    def values_set_missing(self) -> int:
        """Invalid values set missing, in all."""
        return int(sum(c[5] for c in self.columns))

    def to_frame(self) -> pd.DataFrame:
        """One row per item column: answered, recoded, set_missing."""
        return pd.DataFrame(list(self.columns),
                            columns=["instrument", "item", "column", "answered", "recoded",
                                     "set_missing"])

    def notes(self) -> list[str]:
        lines = [f"{self.n_rows_in} rows in, {self.n_rows_in} rows out; "
                 f"{self.n_rows_scored} rows with every score; "
                 f"{self.values_recoded} text labels recoded; "
                 f"{self.values_set_missing} invalid values set missing; "
                 f"{self.declared_missing} 'not answered' codes set missing."]
        for sid, n in self.scored:
            lines.append(f"  {sid}: {n} of {self.n_rows_in} rows scored")
        for p in self.problems:
            lines.append(f"  {p.column}: {p.n} {p.kind} value(s) such as {p.value!r} in "
                         f"{describe_rows(p.rows)}")
        for iid, n in self.bands_withheld:
            lines.append(f"  {iid}: bands withheld for {n} row(s) whose age is missing or outside the "
                         "ages the bands were made for")
        return lines

    def summary(self) -> str:
        return "\n".join([self.title, "=" * len(self.title)] + self.notes())


@dataclasses.dataclass(frozen=True, repr=False)
class ScoredData(Result):
    """Scores and the report of how they were made (see :func:`score_with_report`).

    Attributes
    ----------
    scores : DataFrame
        What :func:`score` returns: one row per input row.
    report : ScoringReport
        Rows scored, labels recoded and invalid values set missing, per item column.
    """

    scores: pd.DataFrame
    report: ScoringReport
    title = "Scoring report"

    def to_frame(self) -> pd.DataFrame:
        """The report's table: one row per item column (answered, recoded, set_missing)."""
        return self.report.to_frame()

    def notes(self) -> list[str]:
        return self.report.notes()

    def summary(self) -> str:
        return self.report.summary()

    def __iter__(self):
        """Unpack as ``scores, report = score_with_report(...)``."""
        return iter((self.scores, self.report))

    def __repr__(self) -> str:
        return (f"ScoredData(scores: {self.scores.shape[0]} rows x {self.scores.shape[1]} columns, "
                f"report: {self.report.n_rows_scored} of {self.report.n_rows_in} rows fully scored)")


def _py(value: Any) -> Any:
    """A numpy scalar as a plain Python value (for readable messages)."""
    return value.item() if isinstance(value, np.generic) else value


def _resolve_columns(inst: Instrument, item_map: Mapping[str, str] | None) -> dict[str, str]:
    item_map = dict(item_map or {})
    return {item: item_map.get(item, item) for item in inst.item_ids}


def _codes(series: pd.Series, inst: Instrument, column: str, invalid: str,
           problems: list[Problem], missing_codes: Sequence = ()) -> tuple[pd.Series, int, int, int]:
    """Numeric codes of one item column; returns (codes, n_recoded, n_set_missing, n_declared)."""
    n_recoded = 0
    n_unknown = 0
    n_declared = 0
    if len(missing_codes):
        as_text = series.astype("string").str.strip()
        declared = series.isin(list(missing_codes)) | as_text.isin([str(c) for c in missing_codes])
        declared = declared.fillna(False).to_numpy(dtype=bool)
        n_declared = int(declared.sum())
        if n_declared:
            series = series.astype(object).mask(declared)
    if pd.api.types.is_bool_dtype(series):
        series = series.astype(float)
    if pd.api.types.is_numeric_dtype(series):
        values = series.astype(float)
    else:
        text = series.astype("string").str.strip()
        blank = series.isna() | (text == "")
        numeric = pd.to_numeric(text.where(~blank), errors="coerce")
        labels = inst.label_map()
        from_label = text.str.lower().map(labels)
        is_label = numeric.isna() & ~blank & from_label.notna()
        unknown = numeric.isna() & ~blank & from_label.isna()
        values = numeric.astype(float).copy()
        values[is_label.to_numpy(dtype=bool)] = from_label[is_label.to_numpy(dtype=bool)].astype(float)
        n_recoded = int(is_label.sum())
        if unknown.any():
            mask = unknown.to_numpy(dtype=bool)
            rows = tuple(series.index[mask])
            value = _py(series[mask].iloc[0])
            if invalid == "raise":
                known = "; ".join(f"{c} = {lab!r}" for c, lab in inst.labels)
                raise DataError(
                    f"Column {column!r} ({inst.id}) holds the unknown label {value!r} in "
                    f"{describe_rows(rows)} ({len(rows)} value{'s' if len(rows) != 1 else ''}). "
                    f"Known labels: {known or 'none (numeric codes only)'}. Pass "
                    "invalid='missing' to set such values missing.")
            problems.append(Problem(column, "unknown label", rows, value, len(rows)))
            n_unknown = len(rows)
            values[mask] = np.nan
    bad = values.notna() & ((values < inst.response_min) | (values > inst.response_max)
                            | (values != np.round(values)))
    n_bad = int(bad.sum())
    if n_bad:
        mask = bad.to_numpy(dtype=bool)
        rows = tuple(series.index[mask])
        value = _py(series[mask].iloc[0])
        if invalid == "raise":
            raise DataError(
                f"Column {column!r} ({inst.id}) must hold whole numbers from "
                f"{inst.response_min} to {inst.response_max}, but {describe_rows(rows)} "
                f"hold{'s' if len(rows) == 1 else ''} {value!r} ({n_bad} value"
                f"{'s' if n_bad != 1 else ''} out of range). Pass invalid='missing' to set "
                "such values missing.")
        problems.append(Problem(column, "out of range", rows, value, n_bad))
        values = values.mask(bad)
    return values, n_recoded, n_unknown + n_bad, n_declared


def clean_items(data: pd.DataFrame, instrument: str | Instrument, *,
                item_map: Mapping[str, str] | None = None, invalid: str = "raise",
                missing_codes: Sequence = (), reverse: bool = False,
                _state: dict | None = None) -> pd.DataFrame:
    """Item responses as checked numeric codes, named by item id.

    Parameters
    ----------
    data : DataFrame
        One row per respondent.
    instrument : str, path or Instrument
        See :func:`belonging_lib.instruments.load_instrument`.
    item_map : mapping, optional
        Item id -> column name in ``data`` for items whose column is named
        differently (for example ``{"pssm_01": "Q1"}``).
    invalid : {"raise", "missing"}
        What to do with out-of-range codes, unknown labels and absent columns.
    missing_codes : sequence, optional
        Codes that mean "not answered" (e.g. ``(9, -99)``): set missing
        without counting as invalid (counted in the report as declared missing).
    reverse : bool
        Apply the reverse keys (``min + max - x``).

    Returns
    -------
    DataFrame
        Float codes (NaN = missing), same index as ``data``, columns = item ids.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"pisa_belong_%d" % i: ["Agree", 2, None] for i in range(1, 7)})
    >>> clean_items(d, "pisa_belong", reverse=True).iloc[0].tolist()
    [2.0, 3.0, 3.0, 2.0, 3.0, 2.0]
    """
    data = as_frame(data)
    check_choice("invalid", invalid, ["raise", "missing"])
    inst = load_instrument(instrument)
    cols = _resolve_columns(inst, item_map)
    absent = [c for c in cols.values() if c not in data.columns]
    state = _state if _state is not None else {"problems": [], "columns": [], "declared": 0}
    if absent and invalid == "raise":
        available = ", ".join(map(str, list(data.columns)[:20]))
        raise ColumnError(
            f"Instrument {inst.id!r} needs the item column{'s' if len(absent) > 1 else ''} "
            f"{', '.join(repr(c) for c in absent)}, which {'is' if len(absent) == 1 else 'are'} "
            f"not in the data (all {len(data)} rows affected). Map your own names with "
            f"item_map={{item id: column}} or pass invalid='missing'. Available columns: "
            f"{available}{' ...' if data.shape[1] > 20 else ''}.")
    out = {}
    for item, col in cols.items():
        if col not in data.columns:
            state["problems"].append(Problem(col, "missing column", tuple(data.index), None,
                                             len(data)))
            out[item] = pd.Series(np.nan, index=data.index)
            state["columns"].append((inst.id, item, col, 0, 0, 0))
            continue
        values, n_rec, n_miss, n_decl = _codes(data[col], inst, col, invalid, state["problems"],
                                               missing_codes)
        state["declared"] = state.get("declared", 0) + n_decl
        if reverse and item in inst.reverse_items:
            values = inst.response_min + inst.response_max - values
        out[item] = values
        state["columns"].append((inst.id, item, col, int(values.notna().sum()), n_rec, n_miss))
    return pd.DataFrame(out, index=data.index)


def reverse_items(data: pd.DataFrame, *, reverse: Sequence[str],
                  response_range: tuple[float, float]) -> pd.DataFrame:
    """Reverse-key the named columns within ``response_range=(min, max)``: ``min + max - x``.

    Reversing twice restores the data.

    Examples
    --------
    >>> import pandas as pd
    >>> reverse_items(pd.DataFrame({"a": [1, 5], "b": [2, 2]}), reverse=["a"], response_range=(1, 5))["a"].tolist()
    [5, 1]
    """
    out = as_frame(data).copy()
    lo, hi = response_range
    for col in reverse:
        if col not in out.columns:
            raise ColumnError(f"The reverse-keyed item {col!r} is not among the items "
                              f"({', '.join(map(str, out.columns))}).")
        out[col] = lo + hi - out[col]
    return out


def _round_half_up_ratio(total: np.ndarray, k: int, n: np.ndarray) -> np.ndarray:
    """round_half_up(total * k / n) exactly for whole-number totals."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.floor((2.0 * total * k + n) / (2.0 * n))


def _apply_rule(rule: ScoreRule, items: pd.DataFrame, scores: dict[str, pd.Series],
                out: dict[str, pd.Series]) -> None:
    index = items.index
    if rule.method in ("mean", "sum", "prorated_sum"):
        block = items[list(rule.items)]
        n_ans = block.notna().sum(axis=1)
        k = len(rule.items)
        need = rule.min_answered if rule.min_answered is not None else (k if rule.method == "sum" else 1)
        ok = (n_ans >= need).to_numpy()
        total = block.sum(axis=1, min_count=1).to_numpy(dtype=float)
        n = n_ans.to_numpy(dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            if rule.method == "mean":
                value = total / n
            elif rule.method == "sum":
                value = total
            elif rule.rounding == "half_up":
                value = _round_half_up_ratio(total, k, n)
            else:
                value = total * k / n
        value = np.where(ok, value, np.nan)
        scores[rule.id] = pd.Series(value, index=index)
        out[rule.id] = scores[rule.id]
        out[f"{rule.id}_n"] = n_ans.astype(int)
    elif rule.method == "sum_of_scores":
        block = pd.concat([scores[s] for s in rule.scores], axis=1)
        value = block.sum(axis=1, min_count=len(rule.scores))
        scores[rule.id] = value
        out[rule.id] = value
    elif rule.method == "convert":
        src = scores[rule.source_score]
        table = dict(rule.table)
        value = src.map(lambda v: table.get(float(v), np.nan) if v == v else np.nan).astype(float)
        scores[rule.id] = value
        out[rule.id] = value
    if rule.bands:
        labels = [b.label for b in rule.bands]
        value = scores[rule.id]
        band = pd.Series(pd.NA, index=index, dtype="object")
        for b in rule.bands:
            band[(value >= b.low) & (value <= b.high)] = b.label
        out[f"{rule.id}_band"] = pd.Categorical(band, categories=labels)


def score(data: pd.DataFrame, instrument: str | Instrument | Sequence[str | Instrument], *,
          item_map: Mapping[str, str] | None = None, invalid: str = "raise",
          missing_codes: Sequence = (), keep_items: bool = False, age: str | pd.Series | None = None) -> pd.DataFrame:
    """Score one or several instruments, one output row per input row.

    :func:`score_with_report` gives the same scores with a :class:`ScoringReport`
    of what was done (rows scored, labels recoded, invalid values set missing).

    Parameters
    ----------
    data : DataFrame
        One row per respondent, item columns named as the instrument's item
        ids (``pssm_01`` ... ``pssm_18``) unless mapped with ``item_map``.
        Values may be numeric codes or the instrument's text labels
        (matched ignoring case and surrounding spaces); blanks are missing.
    instrument : str, path, Instrument or a list of them
        Bundled ids (``"pssm"``, ``"sdq"``, ``"tr_care"``, see
        :func:`~belonging_lib.instruments.list_instruments`), a user's YAML
        file, or several at once: ``["pssm", "tr_care", "peer"]``.
    item_map : mapping, optional
        Item id -> column name in ``data`` (e.g. ``{"pssm_01": "Q1"}``).
    invalid : {"raise", "missing"}
        ``"raise"`` (default): a code outside the response range, an unknown
        label or an absent item column raises an error naming the column,
        the rows and the value.  ``"missing"``: such values (or whole absent
        columns) are set missing and counted in the report.
    missing_codes : sequence, optional
        Codes meaning "not answered" in the data (e.g. ``(9, -99)`` in a
        survey tool's export): set missing and counted as declared missing,
        not as invalid.
    keep_items : bool
        Also return the checked item codes (reverse keys applied), named
        ``<item>_scored``.
    age : str or Series, optional
        Each respondent's age in years: a column of ``data`` or a Series on
        its index.  Where an instrument's bands were made for certain ages
        only (the SDQ self-report: 11 to 17), the ``_band`` columns are left
        empty for rows whose age is missing or outside them, and the report
        counts those rows; the scores themselves are kept.  Without ``age``
        the bands are given for every row, whatever the age: pass it
        whenever the data include pupils outside the instrument's ages.

    Returns
    -------
    DataFrame
        Same index and row count as ``data``.  For each score of each
        instrument: the score (NaN where the missing-data rule is not met),
        ``<score>_n`` (items answered) for item-based scores and
        ``<score>_band`` (categorical) where bands are defined.  E.g. PSSM:
        ``pssm, pssm_n``; SDQ: ``sdq_emotional ... sdq_prosocial, sdq_total,
        sdq_internalising, sdq_externalising`` with ``_n`` and ``_band``
        columns; SWEMWBS: ``swemwbs_raw, swemwbs_n, swemwbs_metric``.

    Raises
    ------
    DataError
        Out-of-range code or unknown label (under ``invalid="raise"``).
    ColumnError
        An item column is absent (under ``invalid="raise"``).

    Notes
    -----
    Reverse-keyed items are recoded ``min + max - x`` before scoring.
    Missing-data rules come from the instrument file: ``mean`` scores need
    at least ``min_answered`` answered items; SDQ subscales are prorated
    (mean of answered items x 5, rounded half up) when at least 3 of 5 are
    answered, and the total difficulties score needs all four difficulty
    subscales; the SWEMWBS raw score needs all seven items and is converted
    to the metric score with the Rasch conversion table.  No row is dropped.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"sdq_%02d" % i: [1, 2] for i in range(1, 26)})
    >>> s = score(d, "sdq")
    >>> s[["sdq_emotional", "sdq_conduct", "sdq_total"]].to_numpy().tolist()
    [[5.0, 5.0, 20.0], [10.0, 8.0, 30.0]]
    >>> s["sdq_total_band"].tolist()
    ['very high', 'very high']
    """
    return _score(data, instrument, item_map=item_map, invalid=invalid, missing_codes=missing_codes,
                  keep_items=keep_items, age=age).scores


def score_with_report(data: pd.DataFrame, instrument: str | Instrument | Sequence[str | Instrument], *,
                      item_map: Mapping[str, str] | None = None, invalid: str = "raise",
                      missing_codes: Sequence = (), keep_items: bool = False,
                      age: str | pd.Series | None = None) -> ScoredData:
    """:func:`score`, with the report of what was done.

    Arguments as in :func:`score`.

    Returns
    -------
    ScoredData
        ``scores`` (the DataFrame :func:`score` returns) and ``report`` (a
        :class:`ScoringReport`); it unpacks as ``scores, report``.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({f"peer_{i}": [3, "Agree", 7] for i in range(1, 5)})
    >>> scores, report = score_with_report(d, "peer", invalid="missing")
    >>> report.values_recoded, report.values_set_missing
    (4, 4)
    """
    return _score(data, instrument, item_map=item_map, invalid=invalid, missing_codes=missing_codes,
                  keep_items=keep_items, age=age)


def _ages(data: pd.DataFrame, age) -> pd.Series | None:
    if age is None:
        return None
    if isinstance(age, str):
        if age not in data.columns:
            raise ColumnError(f"The age column {age!r} is not in the data.")
        values, name = data[age], age
    else:
        values, name = pd.Series(age), "age"
        if not values.index.equals(data.index):
            raise DataError("`age` must be a column name or a Series on the data's index.")
    num = pd.to_numeric(values, errors="coerce")
    bad = values.notna() & (num.isna() | (num < 0))
    if bad.any():
        rows = np.flatnonzero(bad.to_numpy())
        raise DataError(f"Column {name!r}: ages must be numbers of years, 0 or more; "
                        f"{describe_rows(rows + 1)} (counted from 1) hold(s) {values.iloc[rows[0]]!r}.")
    return num.astype(float)


def _score(data, instrument, *, item_map, invalid, missing_codes, keep_items, age=None) -> ScoredData:
    data = as_frame(data)
    check_choice("invalid", invalid, ["raise", "missing"])
    ages = _ages(data, age)
    withheld = []
    instruments = [instrument] if isinstance(instrument, (str, Instrument)) or not isinstance(
        instrument, Sequence) else list(instrument)
    insts = [load_instrument(i) for i in instruments]
    state: dict = {"problems": [], "columns": [], "declared": 0}
    out: dict[str, pd.Series] = {}
    scored_counts = []
    for inst in insts:
        items = clean_items(data, inst, item_map=item_map, invalid=invalid, missing_codes=missing_codes,
                            reverse=True, _state=state)
        scores: dict[str, pd.Series] = {}
        block: dict[str, pd.Series] = {}
        for rule in inst.scores:
            _apply_rule(rule, items, scores, block)
        if ages is not None and inst.band_ages is not None:
            lo, hi = inst.band_ages
            outside = ~((ages >= lo) & (ages <= hi)).to_numpy()
            for col in [c for c in block if c.endswith("_band")]:
                band = block[col].copy()
                band[outside] = np.nan
                block[col] = band
            if outside.any() and any(c.endswith("_band") for c in block):
                withheld.append((inst.id, int(outside.sum())))
        clash = [c for c in block if c in out]
        if clash:
            raise DataError(f"Instruments produce the same score column(s) {clash}; score them "
                            "in separate calls.")
        out.update(block)
        if keep_items:
            for c in items.columns:
                out[f"{c}_scored"] = items[c]
        for sid, s in scores.items():
            scored_counts.append((sid, int(s.notna().sum())))
    result = pd.DataFrame(out, index=data.index)
    all_scores = [sid for sid, _ in scored_counts]
    n_scored = int(result[all_scores].notna().all(axis=1).sum()) if all_scores else 0
    report = ScoringReport(instruments=tuple(i.id for i in insts), n_rows_in=len(data),
                           n_rows_scored=n_scored, scored=tuple(scored_counts),
                           columns=tuple(state["columns"]), problems=tuple(state["problems"]),
                           declared_missing=int(state["declared"]), bands_withheld=tuple(withheld))
    return ScoredData(scores=result, report=report)


def _available(data: pd.DataFrame, item_map) -> list[str]:
    item_map = dict(item_map or {})
    names = []
    for name in list_instruments():
        inst = load_instrument(name)
        if all(item_map.get(i, i) in data.columns for i in inst.item_ids):
            names.append(name)
    if not names:
        raise ColumnError("No bundled instrument has all its item columns in the data "
                          f"(instruments: {', '.join(list_instruments())}).")
    return names


def score_available(data: pd.DataFrame, *, item_map: Mapping[str, str] | None = None,
                    invalid: str = "raise", missing_codes: Sequence = (),
                    age: str | pd.Series | None = None) -> pd.DataFrame:
    """Score every bundled instrument whose item columns are all in ``data``.

    A shortcut for the sample survey:
    ``score_available(survey)`` scores PSSM, PISA belonging, SDQ, SWEMWBS
    and the four-item scales at once.  Arguments as in :func:`score`;
    :func:`score_available_with_report` adds the report.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({f"peer_{i}": [3, 4] for i in range(1, 5)})
    >>> score_available(d).columns.tolist()
    ['peer', 'peer_n']
    """
    data = as_frame(data)
    return score(data, _available(data, item_map), item_map=item_map, invalid=invalid,
                 missing_codes=missing_codes, age=age)


def score_available_with_report(data: pd.DataFrame, *, item_map: Mapping[str, str] | None = None,
                                invalid: str = "raise", missing_codes: Sequence = (),
                                age: str | pd.Series | None = None) -> ScoredData:
    """:func:`score_available`, with the report of what was done (a :class:`ScoredData`).

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({f"peer_{i}": [3, 4] for i in range(1, 5)})
    >>> scores, report = score_available_with_report(d)
    >>> report.instruments, report.n_rows_scored
    (('peer',), 2)
    """
    data = as_frame(data)
    return score_with_report(data, _available(data, item_map), item_map=item_map, invalid=invalid,
                             missing_codes=missing_codes, age=age)
