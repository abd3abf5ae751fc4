"""Full-information ML with missing item values (lavaan's ``missing = "ml"``): private helpers.

Rows are grouped by their pattern of observed items.  The saturated (H1)
model's means and covariances are estimated by the EM algorithm; the test
statistic is :math:`2(\\log L_{H1} - \\log L_{H0})`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .._errors import ModelError

__all__ = ["MissingGroupData"]


@dataclasses.dataclass
class Pattern:
    obs: np.ndarray      # indices of observed items
    n: int
    mean: np.ndarray     # mean of the observed items in these rows
    cov: np.ndarray      # their covariance (divisor n)


def _patterns(x: np.ndarray) -> list[Pattern]:
    seen = ~np.isnan(x)
    keys, inverse = np.unique(seen, axis=0, return_inverse=True)
    out = []
    for k, key in enumerate(keys):
        rows = x[inverse.ravel() == k][:, key]
        m = rows.mean(axis=0)
        c = (rows - m).T @ (rows - m) / rows.shape[0]
        out.append(Pattern(np.flatnonzero(key), rows.shape[0], m, c))
    return out


def _pattern_value(patterns, n, mu, sigma):
    """sum_p n_p/n [log|S_oo| + tr(S_oo^-1 (C_p + r r'))] (no constants)."""
    total = 0.0
    for pt in patterns:
        o = pt.obs
        s_oo = sigma[np.ix_(o, o)]
        sign, logdet = np.linalg.slogdet(s_oo)
        if sign <= 0:
            return np.inf
        r = pt.mean - mu[o]
        total += pt.n / n * (logdet + np.trace(np.linalg.solve(s_oo, pt.cov + np.outer(r, r))))
    return total


def em_saturated(x: np.ndarray, patterns, *, tol: float = 1e-11, max_iter: int = 5000):
    """EM estimates of the unrestricted means and covariance matrix."""
    n, p = x.shape
    mu = np.nanmean(x, axis=0)
    sigma = np.diag(np.nanvar(x, axis=0))
    for _ in range(max_iter):
        t1 = np.zeros(p)
        t2 = np.zeros((p, p))
        for pt in patterns:
            o = pt.obs
            m = np.setdiff1d(np.arange(p), o)
            # sufficient statistics of the observed part, from the pattern's mean and covariance
            so = pt.cov + np.outer(pt.mean, pt.mean)           # E[y_o y_o'] within the pattern
            if len(m) == 0:
                t1 += pt.n * pt.mean
                t2 += pt.n * so
                continue
            b = np.linalg.solve(sigma[np.ix_(o, o)], sigma[np.ix_(o, m)]).T     # m x o
            cond = sigma[np.ix_(m, m)] - b @ sigma[np.ix_(o, m)]
            a = mu[m] - b @ mu[o]                                                # E[y_m|y_o] = a + b y_o
            ym = a + b @ pt.mean
            full_mean = np.empty(p)
            full_mean[o], full_mean[m] = pt.mean, ym
            t1 += pt.n * full_mean
            blk = np.empty((p, p))
            blk[np.ix_(o, o)] = so
            om = so @ b.T + np.outer(pt.mean, a)                                 # E[y_o y_m']
            blk[np.ix_(o, m)] = om
            blk[np.ix_(m, o)] = om.T
            blk[np.ix_(m, m)] = (b @ so @ b.T + np.outer(a, b @ pt.mean) + np.outer(b @ pt.mean, a)
                                 + np.outer(a, a) + cond)
            t2 += pt.n * blk
        new_mu = t1 / n
        new_sigma = t2 / n - np.outer(new_mu, new_mu)
        delta = max(np.max(np.abs(new_mu - mu)), np.max(np.abs(new_sigma - sigma)))
        mu, sigma = new_mu, new_sigma
        if delta < tol:
            return mu, sigma
    raise ModelError("The EM algorithm for the saturated model did not converge.")


@dataclasses.dataclass
class MissingGroupData:
    """One group's data for FIML: patterns, and the EM (H1) moments as ``mean``/``cov``."""

    n: int
    cov: np.ndarray
    mean: np.ndarray
    logdet: float
    patterns: list
    h1_value: float
    baseline_value: float

    @classmethod
    def from_array(cls, x: np.ndarray) -> MissingGroupData:
        n = x.shape[0]
        patterns = _patterns(x)
        mu, sigma = em_saturated(x, patterns)
        sign, logdet = np.linalg.slogdet(sigma)
        if sign <= 0:
            raise ModelError("The items' covariance matrix is singular in a group; the model cannot be fitted.")
        h1 = _pattern_value(patterns, n, mu, sigma)
        # independence model under FIML: each item's own available-case mean and variance
        nj = (~np.isnan(x)).sum(axis=0)
        vj = np.nanvar(x, axis=0)
        base = float(np.sum(nj * (np.log(vj) + 1.0)) / n)
        return cls(n, sigma, mu, logdet, patterns, h1, base)
