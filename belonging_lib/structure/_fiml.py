"""Full-information ML with missing item values (lavaan's ``missing = "ml"``): private helpers.

Rows are grouped by their pattern of observed items.  The saturated (H1)
model's means and covariances are estimated by the EM algorithm; the test
statistic is :math:`2(\\log L_{H1} - \\log L_{H0})`.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from .._errors import ModelError

__all__ = ["MissingGroupData"]


@dataclasses.dataclass
class Pattern:
    obs: np.ndarray      # indices of observed items
    n: int
    mean: np.ndarray     # mean of the observed items in these rows
    cov: np.ndarray      # their covariance (divisor n)


@dataclasses.dataclass
class PatternBatch:
    """The patterns with the same number ``k`` of observed items, stacked (``P`` patterns)."""

    obs: np.ndarray      # (P, k) indices of the observed items
    mis: np.ndarray      # (P, p - k) indices of the missing items
    n: np.ndarray        # (P,) rows per pattern
    mean: np.ndarray     # (P, k)
    cov: np.ndarray      # (P, k, k)
    flat: np.ndarray     # (P * k * k,) positions of each pattern's block in a flattened p x p matrix


def pattern_batches(patterns: list[Pattern], p: int) -> list[PatternBatch]:
    """``patterns`` stacked by number of observed items, so that the likelihood is computed a
    stack of equal-sized blocks at a time rather than one pattern at a time."""
    out = []
    for k in sorted({len(pt.obs) for pt in patterns}):
        group = [pt for pt in patterns if len(pt.obs) == k]
        obs = np.array([pt.obs for pt in group], dtype=np.intp).reshape(len(group), k)
        flat = (obs[:, :, None] * p + obs[:, None, :]).ravel()
        mis = np.array([np.setdiff1d(np.arange(p), pt.obs) for pt in group], dtype=np.intp).reshape(len(group), p - k)
        out.append(PatternBatch(obs, mis, np.array([pt.n for pt in group], dtype=float),
                                np.array([pt.mean for pt in group]).reshape(len(group), k),
                                np.array([pt.cov for pt in group]).reshape(len(group), k, k), flat))
    return out


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
    batches = pattern_batches(patterns, p)
    for _ in range(max_iter):
        t1 = np.zeros(p)
        t2 = np.zeros(p * p)
        # patterns with the same number of observed items at once (each a stack of blocks)
        for bt in batches:
            o, m, w = bt.obs, bt.mis, bt.n
            # sufficient statistics of the observed part, from the pattern's mean and covariance
            so = bt.cov + bt.mean[:, :, None] * bt.mean[:, None, :]         # E[y_o y_o'] within the pattern
            t2 += np.bincount(bt.flat, weights=(w[:, None, None] * so).ravel(), minlength=p * p)
            if m.shape[1] == 0:
                t1 += np.bincount(o.ravel(), weights=(w[:, None] * bt.mean).ravel(), minlength=p)
                continue
            s_om = sigma[o[:, :, None], m[:, None, :]]                        # P x o x m
            b = np.linalg.solve(sigma[o[:, :, None], o[:, None, :]], s_om).transpose(0, 2, 1)   # P x m x o
            cond = sigma[m[:, :, None], m[:, None, :]] - b @ s_om
            a = mu[m] - np.einsum("pmo,po->pm", b, mu[o])                     # E[y_m|y_o] = a + b y_o
            bm = np.einsum("pmo,po->pm", b, bt.mean)
            ym = a + bm
            t1 += np.bincount(np.concatenate([o, m], axis=1).ravel(),
                              weights=(w[:, None] * np.concatenate([bt.mean, ym], axis=1)).ravel(), minlength=p)
            om = so @ b.transpose(0, 2, 1) + bt.mean[:, :, None] * a[:, None, :]   # E[y_o y_m']
            mm = (b @ so @ b.transpose(0, 2, 1) + a[:, :, None] * bm[:, None, :] + bm[:, :, None] * a[:, None, :]
                  + a[:, :, None] * a[:, None, :] + cond)
            t2 += np.bincount((o[:, :, None] * p + m[:, None, :]).ravel(),
                              weights=(w[:, None, None] * om).ravel(), minlength=p * p)
            t2 += np.bincount((m[:, :, None] * p + o[:, None, :]).ravel(),
                              weights=(w[:, None, None] * om.transpose(0, 2, 1)).ravel(), minlength=p * p)
            t2 += np.bincount((m[:, :, None] * p + m[:, None, :]).ravel(),
                              weights=(w[:, None, None] * mm).ravel(), minlength=p * p)
        t2 = t2.reshape(p, p)
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

    @functools.cached_property
    def batches(self) -> list[PatternBatch]:
        """The patterns stacked by number of observed items (:func:`pattern_batches`)."""
        return pattern_batches(self.patterns, len(self.mean))

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
