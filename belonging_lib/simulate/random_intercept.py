"""Plain two-level random-intercept data, for benchmarks."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._validation import check_positive_int
from .sample import DEFAULT_SEED

__all__ = ["simulate_random_intercept"]


def simulate_random_intercept(n_schools: int, pupils_per_school: int, seed: int = DEFAULT_SEED,
                              ) -> pd.DataFrame:
    """Two-level random-intercept data: y = 0.5 x + u_school + e.

    True values: intercept 0, slope 0.5, school variance 0.10, residual
    variance 0.90 (ICC 0.10); ``x`` is standard normal at pupil level.

    Examples
    --------
    >>> d = simulate_random_intercept(3, 4, seed=1)
    >>> d.shape, list(d.columns)
    ((12, 3), ['y', 'x', 'school'])
    """
    check_positive_int("n_schools", n_schools)
    check_positive_int("pupils_per_school", pupils_per_school)
    rng = np.random.default_rng(seed)
    school = np.repeat(np.arange(n_schools), pupils_per_school)
    n = len(school)
    x = rng.standard_normal(n)
    u = np.sqrt(0.10) * rng.standard_normal(n_schools)
    y = 0.5 * x + u[school] + np.sqrt(0.90) * rng.standard_normal(n)
    return pd.DataFrame({"y": y, "x": x, "school": school})

