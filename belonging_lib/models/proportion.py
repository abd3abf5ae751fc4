"""Confidence intervals for a share (proportion): the Wilson score interval.

The Wilson interval (Wilson, 1927) stays inside 0-1 and behaves well for small counts and shares near
0 or 1, unlike the simple "estimate +/- 1.96 SE" interval. It equals R's
``prop.test(x, n, correct = FALSE)$conf.int`` (checked in ``tests/test_models_proportion.py``).
It treats pupils as independent; for pupils clustered in schools the interval is too narrow when
the share differs between schools, so say so where it is used.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .._errors import DataError

__all__ = ["wilson_ci"]


def wilson_ci(count, n, *, level: float = 0.95) -> pd.DataFrame:
    """Share ``count / n`` with its Wilson score interval.

    Parameters
    ----------
    count, n : int or array-like of int
        Number with the characteristic and number of pupils (``0 <= count <= n``, ``n >= 1``).
    level : float
        Confidence level.

    Returns
    -------
    DataFrame
        Columns ``count, n, estimate, ci_low, ci_high, ci_level`` (one row per pair).

    Examples
    --------
    >>> wilson_ci(12, 80).round(4).iloc[0].tolist()
    [12.0, 80.0, 0.15, 0.0879, 0.2441, 0.95]
    """
    k = np.atleast_1d(np.asarray(count, dtype=float))
    m = np.atleast_1d(np.asarray(n, dtype=float))
    if k.shape != m.shape:
        raise DataError(f"count and n must have the same length; got {k.shape} and {m.shape}.")
    if not 0 < level < 1:
        raise DataError(f"level must lie between 0 and 1, got {level!r}.")
    bad = np.flatnonzero((m < 1) | (k < 0) | (k > m) | (k != np.round(k)) | (m != np.round(m)))
    if bad.size:
        i = int(bad[0])
        raise DataError(f"count and n must be whole numbers with 0 <= count <= n and n >= 1; "
                        f"row {i + 1} has count {k[i]:g}, n {m[i]:g}.")
    z = stats.norm.ppf(0.5 + level / 2)
    p = k / m
    denom = 1 + z**2 / m
    centre = (p + z**2 / (2 * m)) / denom
    half = z * np.sqrt(p * (1 - p) / m + z**2 / (4 * m**2)) / denom
    return pd.DataFrame({"count": k, "n": m, "estimate": p, "ci_low": np.clip(centre - half, 0, 1),
                         "ci_high": np.clip(centre + half, 0, 1), "ci_level": level})
