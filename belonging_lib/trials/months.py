"""The EEF conversion of an effect size to months' additional progress."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd

from .._errors import DataError
from .._validation import check_choice

__all__ = ["months_progress", "months_table", "MONTHS_TABLES"]

#: Lower bounds (effect size rounded to 2 dp) of 1, 2, ..., 12 months.
#: "toolkit": EEF Teaching and Learning Toolkit [checked]: 0 months for
#: -0.01 to 0.01, 1 month for 0.02-0.09, ..., 12 months for 0.96 and above.
#: "project": the table in EEF project (evaluation) reports [verify]: 0 months
#: for -0.04 to 0.04, 1 month for 0.05-0.09, then as the Toolkit.
MONTHS_TABLES = {
    "toolkit": (0.02, 0.10, 0.19, 0.27, 0.36, 0.45, 0.53, 0.62, 0.70, 0.79, 0.88, 0.96),
    "project": (0.05, 0.10, 0.19, 0.27, 0.36, 0.45, 0.53, 0.62, 0.70, 0.79, 0.88, 0.96),
}


def _round2(x: float) -> Decimal:
    # Round half away from zero on the decimal text of the float, so 0.015 -> 0.02
    # (binary rounding would give 0.01); this is how a reader rounds a printed effect size.
    return Decimal(repr(abs(x))).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def months_progress(effect_size: float, *, table: str = "toolkit") -> int:
    """Months' additional progress for an effect size (EEF conversion).

    Parameters
    ----------
    effect_size : float
        A standardised effect size (Hedges' g or the EEF cluster-trial g).
    table : {"toolkit", "project"}
        ``"toolkit"`` (default): the EEF Teaching and Learning Toolkit table;
        ``"project"``: the table printed in EEF evaluation reports, where 0
        months spans -0.04 to 0.04 (marked [verify] in methods.md).

    Returns
    -------
    int
        Months, negative for a negative effect (capped at +/-12).

    Notes
    -----
    The effect size is rounded to two decimals (half away from zero) and its
    absolute value is looked up; the sign is put back.  Toolkit table:
    0: <= 0.01; 1: 0.02-0.09; 2: 0.10-0.18; 3: 0.19-0.26; 4: 0.27-0.35;
    5: 0.36-0.44; 6: 0.45-0.52; 7: 0.53-0.61; 8: 0.62-0.69; 9: 0.70-0.78;
    10: 0.79-0.87; 11: 0.88-0.95; 12: 0.96 and above.

    Examples
    --------
    >>> months_progress(0.18)
    2
    >>> months_progress(-0.27)
    -4
    >>> months_progress(0.03, table="project")
    0
    """
    check_choice("table", table, list(MONTHS_TABLES))
    try:
        es = float(effect_size)
    except (TypeError, ValueError):
        raise DataError(f"`effect_size` must be a number, but {effect_size!r} was passed.") from None
    if math.isnan(es) or math.isinf(es):
        raise DataError(f"`effect_size` must be a finite number, but {effect_size!r} was passed.")
    r = _round2(es)
    months = sum(r >= Decimal(str(b)) for b in MONTHS_TABLES[table])
    return int(-months if es < 0 else months)


def months_table(table: str = "toolkit") -> pd.DataFrame:
    """The conversion table: months, lowest and highest effect size (2 dp)."""
    check_choice("table", table, list(MONTHS_TABLES))
    bounds = MONTHS_TABLES[table]
    rows = [{"months": 0, "es_from": -round(bounds[0] - 0.01, 2), "es_to": round(bounds[0] - 0.01, 2)}]
    for m, lo in enumerate(bounds, start=1):
        hi = round(bounds[m] - 0.01, 2) if m < len(bounds) else float("inf")
        rows.append({"months": m, "es_from": lo, "es_to": hi})
    return pd.DataFrame(rows)
