"""Helpers shared by every simulated data set: seeds, random streams and the ordinal item model."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._errors import DataError

SYNTHETIC_NOTE = (
    "SYNTHETIC DATA. Every value in data/sample/ was simulated by belonging_lib.simulate "
    "from the model documented in TRUTH.json. No real pupil, member of staff, school or "
    "country is described. Country codes AAA..FFF and school codes are fictional."
)


def _cut(ystar: np.ndarray, thresholds: np.ndarray, low: int) -> np.ndarray:
    """Ordered categories low, low + 1, ... from latent responses and thresholds."""
    return np.searchsorted(thresholds, ystar.ravel(), side="right").reshape(ystar.shape) + low


def _items(rng, eta, loadings, thresholds, low=1, shift=None, method=None, method_loading=0.0):
    """Ordinal factor model: y*_j = l_j eta + m * method + e_j, cut at thresholds.

    ``shift`` (n x k, optional) adds item intercept shifts (DIF).
    Error variance is 1 - l_j^2 - m^2 so that Var(y*) = 1 when Var(eta) = 1.
    """
    eta = np.asarray(eta, dtype=float)
    loadings = np.asarray(loadings, dtype=float)
    n, k = len(eta), len(loadings)
    err_sd = np.sqrt(1.0 - loadings**2 - method_loading**2)
    ystar = eta[:, None] * loadings[None, :] + rng.standard_normal((n, k)) * err_sd[None, :]
    if method is not None:
        ystar = ystar + method_loading * method[:, None]
    if shift is not None:
        ystar = ystar + shift
    return _cut(ystar, thresholds, low)



def _as_rng(rng) -> np.random.Generator:
    """Accept a numpy Generator or an integer seed."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise DataError(
        f"`rng` must be a numpy.random.Generator or an integer seed, but {rng!r} was passed.")


def _exact_sd(z):
    """Centre a draw and scale it to SD 1 (ddof=1)."""
    return (z - z.mean()) / z.std(ddof=1)


def _logistic(x):
    return 1.0 / (1.0 + np.exp(-x))


def _as_int(frame: pd.DataFrame, cols) -> pd.DataFrame:
    for c in cols:
        frame[c] = frame[c].astype("Int64")
    return frame
