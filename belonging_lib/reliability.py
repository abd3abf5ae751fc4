"""Reliability of scales and of aggregated scores.

- :func:`reliability` — Cronbach's alpha (raw and standardised), Guttman's
  lambda 6, average inter-item correlation, Feldt and bootstrap intervals,
  one-factor McDonald's omega (and omega hierarchical for multi-factor item
  sets) and an item table; reproduces ``psych::alpha`` to 1e-6.
- :func:`omega` — McDonald's omega hierarchical and total from a
  Schmid-Leiman solution, as ``psych::omega``.
- :func:`polychoric` and ``reliability(..., ordinal=True)`` — polychoric
  correlations and ordinal alpha for Likert items.
- :func:`test_retest` — test-retest reliability from two waves (ICC for
  absolute agreement), the reliability a reliable change index needs.
- :func:`icc` — ICC(1) and ICC(2) of a pupil measure within classes or
  schools: is a school's mean reliable enough to use?

Examples
--------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(1)
>>> f = rng.normal(size=300)
>>> data = pd.DataFrame({f"i{j}": np.clip(np.round(3 + f + rng.normal(size=300)), 1, 5)
...                       for j in range(1, 6)})
>>> rel = reliability(data)
>>> round(rel.alpha, 2)
0.76
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import optimize, stats

from . import _factor
from ._errors import BelongingWarning, ColumnError, DataError
from ._progress import progress_bar, show_progress
from ._resampling import cluster_bootstrap_indices
from ._deprecation import renamed_keywords
from ._results import TIDY_COLUMNS, Interval, MatrixResult, Result
from ._validation import (as_frame, as_list, check_choice, check_positive_int, check_probability,
                          describe_rows, require_columns, row_numbers, require_finite, require_numeric)

__all__ = ["reliability", "scale_reliability", "ReliabilityResult", "omega", "OmegaResult", "icc",
           "IccResult", "aggregation_reliability", "polychoric", "PolychoricMatrix", "feldt_ci", "position_against",
           "cluster_bootstrap_indices", "between_variance_explained", "VarianceExplainedResult",
           "test_retest", "RetestResult"]


# ----------------------------------------------------------------------------------------------
# helpers


def _prepare_items(data, *, items, reverse, response_range) -> tuple[pd.DataFrame, tuple]:
    data = as_frame(data)
    cols = require_columns(data, as_list(items), role="item column") if items is not None else list(data.columns)
    if len(cols) < 2:
        raise DataError(f"Reliability needs at least 2 items, but {len(cols)} "
                        f"({', '.join(map(str, cols)) or 'none'}) {'was' if len(cols) == 1 else 'were'} passed.")
    x = data[cols]
    require_numeric(x, cols)
    require_finite(x, cols, what="reliability analysis")
    x = x.apply(pd.to_numeric, errors="coerce").astype(float)
    rev = tuple(as_list(reverse))
    unknown = [r for r in rev if r not in cols]
    if unknown:
        raise ColumnError(f"The reverse-keyed item(s) {', '.join(map(repr, unknown))} are not among "
                          f"the items ({', '.join(map(str, cols))}).")
    if response_range is not None:
        lo, hi = response_range
        if not lo < hi:
            raise DataError(f"`response_range` must be (min, max) with min < max, but {response_range!r} "
                            "was passed.")
        bad = x.notna() & ((x < lo) | (x > hi))
        if bad.to_numpy().any():
            col = bad.any().idxmax()
            rows = x.index[bad[col].to_numpy()]
            raise DataError(f"Column {col!r} must hold values from {lo:g} to {hi:g} (`response_range`), but "
                            f"{describe_rows(rows)} hold{'s' if len(rows) == 1 else ''} "
                            f"{x.loc[rows[0], col]:g} ({int(bad.to_numpy().sum())} values out of range).")
    elif rev:
        # as psych::alpha does: reverse within the smallest and largest value of all items
        lo, hi = float(np.nanmin(x.to_numpy())), float(np.nanmax(x.to_numpy()))
    for r in rev:
        x[r] = lo + hi - x[r]
    return x, rev


def _check_variation(x: pd.DataFrame) -> None:
    for col in x.columns:
        values = x[col].dropna()
        if len(values) < 2:
            raise DataError(f"Item {col!r} has fewer than 2 answers ({len(values)}); reliability "
                            "cannot be estimated with it. Drop the item.")
        if values.nunique() == 1:
            raise DataError(f"Item {col!r} has the same answer ({values.iloc[0]:g}) for every pupil "
                            f"({len(values)} answers), so it has no variance and correlates with "
                            "nothing. Drop the item.")


def _pairwise_cov(x: np.ndarray) -> np.ndarray:
    """Pairwise-complete covariance matrix (R: cov(x, use = "pairwise"))."""
    return pd.DataFrame(x).cov().to_numpy()


def _cov2cor(c: np.ndarray) -> np.ndarray:
    d = 1.0 / np.sqrt(np.diag(c))
    return c * np.outer(d, d)


def _alpha_parts(c: np.ndarray, r: np.ndarray) -> dict:
    """Alpha-type statistics from a covariance and a correlation matrix (psych::alpha's set)."""
    k = c.shape[0]
    sum_c = c.sum()
    tr_c = np.trace(c)
    raw = (1.0 - tr_c / sum_c) * k / (k - 1)
    sum_r = r.sum()
    std = (1.0 - k / sum_r) * k / (k - 1)
    g6 = 1.0 - (k - _factor.smc(r).sum()) / sum_r if k > 1 else np.nan
    av_r = (sum_r - k) / (k * (k - 1))
    off = r[~np.eye(k, dtype=bool)]
    # Duhachek & Iacobucci (2004) asymptotic variance of alpha (times n)
    q = (2 * k ** 2 / ((k - 1) ** 2 * sum_c ** 3)) * (
        sum_c * (np.trace(c @ c) + tr_c ** 2) - 2 * tr_c * (c @ c).sum())
    return {"raw": raw, "std": std, "g6": g6, "average_r": av_r, "median_r": float(np.median(off)),
            # perfectly correlated items: no noise, an infinite signal/noise ratio
            "signal_noise": k * av_r / (1 - av_r) if av_r < 1 else np.inf, "q": q}


@renamed_keywords(alpha="estimate")
def feldt_ci(estimate: float, n: int, k: int, *, ci_level: float = 0.95) -> Interval:
    """Feldt (1965) confidence interval of Cronbach's alpha.

    ``1 - (1 - alpha) F`` with F quantiles of ``F(n - 1, (n - 1)(k - 1))``
    (``psych::alpha.ci``).  ``estimate`` is Cronbach's alpha (it was the
    keyword ``alpha`` before 0.3, read with a ``DeprecationWarning`` until the
    next release: across the library ``alpha`` is a test's significance
    level); the interval's level is ``ci_level``.

    Returns
    -------
    Interval
        ``estimate`` (alpha), ``ci_low``, ``ci_high``, ``ci_level`` and ``n``.

    Examples
    --------
    >>> out = feldt_ci(0.8, 100, 10)
    >>> round(out.ci_low, 4), round(out.ci_high, 4)
    (0.736, 0.8537)
    """
    level = check_probability("ci_level", ci_level)
    for name, value in (("n", n), ("k", k)):
        if not (np.isfinite(value) and value >= 2 and float(value).is_integer()):
            raise DataError(f"Feldt's interval needs `{name}` to be a whole number of at least 2 "
                            f"(pupils and items), but {value!r} was passed.")
    if not (np.isfinite(estimate) and estimate <= 1):
        raise DataError(f"`estimate` (alpha) must be a finite value of at most 1, but {estimate!r} was passed.")
    df1, df2 = n - 1, (n - 1) * (k - 1)
    lo = 1 - (1 - estimate) * stats.f.ppf(1 - (1 - level) / 2, df1, df2)
    hi = 1 - (1 - estimate) * stats.f.ppf((1 - level) / 2, df1, df2)
    return Interval(estimate=float(estimate), ci_low=float(lo), ci_high=float(hi), ci_level=level, n=int(n),
                    ci_method="Feldt")


def _warn_two_group_factors(n_factors: int) -> None:
    """A Schmid-Leiman solution with two group factors is not identified: say so, and what to use."""
    if n_factors == 2:
        warnings.warn("A Schmid-Leiman solution with 2 group factors is not identified: the general loadings "
                      "are set equal on the two factors (as psych::omega does), so omega hierarchical is "
                      "arbitrary. Use 3 or more group factors, or fit a bifactor model "
                      "(belonging_lib.structure.bifactor), which is identified with one specific factor.",
                      BelongingWarning, stacklevel=3)


def _omega_from_corr(r: np.ndarray, n_factors: int) -> dict:
    """psych::omega on a correlation matrix: one factor (omega_total) or Schmid-Leiman."""
    k = r.shape[0]
    if n_factors == 1:
        lam, u2 = _factor.minres(r, 1)
        g = lam[:, 0]
        group = np.zeros((k, 0))
        h2 = 1.0 - u2
    else:
        lam, _u = _factor.minres(r, n_factors)
        pattern, phi = _factor.oblimin(lam)
        sl = _factor.schmid_leiman(pattern, phi)
        g, group, h2, u2 = sl.general, sl.group, sl.communalities, sl.uniquenesses
    key = np.where(g < 0, -1.0, 1.0)
    rf = r * np.outer(key, key)
    vt = rf.sum()
    omega_h = (np.abs(g).sum()) ** 2 / vt
    omega_t = (vt - u2.sum()) / vt
    # omega of each group factor's items alone is not needed here; keep the parts.
    return {"omega_h": float(omega_h), "omega_total": float(omega_t), "g": g * key,
            "group": group * key[:, None], "h2": h2, "u2": u2, "key": key,
            "alpha": float((1 - np.trace(rf) / vt) * k / (k - 1))}


# ----------------------------------------------------------------------------------------------
# bootstrap (vectorised over draws)


def _boot_counts(rng: np.random.Generator, n: int, b: int) -> np.ndarray:
    """(b, n) row counts of ``b`` bootstrap resamples of ``n`` rows: each resample draws ``n`` row
    positions with replacement (``rng.integers``, one resample after another) and counts them."""
    idx = rng.integers(0, n, size=(b, n))
    counts = np.empty((b, n))
    for r in range(b):                       # one resample at a time: its counts stay in cache
        counts[r] = np.bincount(idx[r], minlength=n)
    return counts


def _boot_alpha(x: np.ndarray, n_boot: int, seed, progress: bool, chunk: int = 100) -> np.ndarray:
    """Raw alpha of ``n_boot`` row resamples, with pairwise-complete covariances.

    Each resample is a vector of row counts, so its sums are a matrix product of the counts with
    per-row terms formed once and no resample is copied.  Complete data need only each item's sum
    and sum of squares and those of the total score (alpha is ``k / (k - 1) (1 - sum of item
    variances / variance of the total)``), taken about a fixed shift (the rounded item means, which
    keep integer answers integer, so the sums are exact); items with missing answers need the
    pairwise sums (``m_j m_k``, ``x_j m_k``, ``x_j x_k`` per row).
    """
    n, k = x.shape
    miss = np.isnan(x)
    complete = not miss.any()
    if complete:
        shift = np.mean(x, axis=0)
        if np.all(x == np.round(x)):
            shift = np.round(shift)
        xc = x - shift
        tot_row = xc.sum(axis=1)
        terms = np.column_stack([xc, xc * xc, tot_row, tot_row * tot_row])        # (n, 2k + 2)
    else:
        m = (~miss).astype(float)
        xz = np.where(miss, 0.0, x)
        # per row: m_j m_k, x_j m_k, x_j x_k  (n, 3 k^2)
        terms = np.column_stack([np.einsum("nj,nk->njk", m, m).reshape(n, k * k),
                                 np.einsum("nj,nk->njk", xz, m).reshape(n, k * k),
                                 np.einsum("nj,nk->njk", xz, xz).reshape(n, k * k)])
    rng = np.random.default_rng(seed)
    out = np.empty(n_boot)
    done = 0
    with progress_bar(total=n_boot, desc="bootstrap alpha", enabled=progress) as bar:
        while done < n_boot:
            b = min(chunk, n_boot - done)
            sums = _boot_counts(rng, n, b) @ terms
            with np.errstate(invalid="ignore", divide="ignore"):
                if complete:
                    s1, s2 = sums[:, :k], sums[:, k:2 * k]
                    tr = np.sum((s2 - s1 * s1 / n) / (n - 1), axis=1)
                    tot = (sums[:, 2 * k + 1] - sums[:, 2 * k] ** 2 / n) / (n - 1)
                else:
                    n_jk, s_jk, p_jk = (sums[:, i * k * k:(i + 1) * k * k].reshape(b, k, k) for i in range(3))
                    cov = (p_jk - s_jk * np.swapaxes(s_jk, 1, 2) / n_jk) / (n_jk - 1)
                    tr = np.trace(cov, axis1=1, axis2=2)
                    tot = cov.sum(axis=(1, 2))
                # undefined draws: NaN, counted by the caller
                out[done:done + b] = np.where(tot > 0, (1 - tr / np.where(tot > 0, tot, 1.0)) * k / (k - 1), np.nan)
            done += b
            bar.update(b)
    return out


# ----------------------------------------------------------------------------------------------
# result objects


@dataclasses.dataclass(frozen=True, repr=False)
class ReliabilityResult(Result):
    """Reliability of one scale (see :func:`reliability`).

    Attributes
    ----------
    alpha, std_alpha, g6, average_r, median_r, signal_noise : float
        Raw and standardised Cronbach's alpha, Guttman's lambda 6 (smc),
        mean and median inter-item correlation, signal/noise ratio.
    alpha_se : float
        Asymptotic standard error of alpha (Duhachek & Iacobucci, 2004).
    ci_low, ci_high : float
        Feldt confidence interval of alpha at ``ci_level``.
    boot_ci_low, boot_ci_high : float or None
        Percentile bootstrap interval (``n_boot`` draws) when requested.
    omega_total : float
        One-factor McDonald's omega (NaN with fewer than 3 items).
    omega_h, omega_total_sl : float or None
        Omega hierarchical and omega total of an ``n_factors`` Schmid-Leiman
        solution (only when ``n_factors >= 2``).
    n : int
        Rows used (pupils with at least one answer; complete cases under
        ``missing="listwise"``).
    n_excluded : int
        Rows left out (no item answered; or incomplete under listwise).
    items : DataFrame
        Per item: n, share_missing, mean, sd, raw_r, std_r, r_cor, r_drop,
        alpha_if_dropped, std_alpha_if_dropped, g6_if_dropped,
        average_r_if_dropped and freq_<value> (share of answers).
    scale_mean, scale_sd : float
        Mean and SD of pupils' mean item score.
    """

    alpha: float
    std_alpha: float
    g6: float
    average_r: float
    median_r: float
    signal_noise: float
    alpha_se: float
    ci_low: float
    ci_high: float
    ci_level: float
    omega_total: float
    n: int
    n_items: int
    n_excluded: int
    missing: str
    items: pd.DataFrame
    scale_mean: float
    scale_sd: float
    reverse: tuple = ()
    boot_ci_low: float | None = None
    boot_ci_high: float | None = None
    n_boot: int = 0
    omega_h: float | None = None
    omega_total_sl: float | None = None
    n_factors: int = 1
    ordinal: bool = False
    label: str = ""
    title = "Scale reliability"

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: alpha (Feldt CI), std_alpha, g6, omega_total, omega_h, average_r."""
        rows = [{"term": "alpha", "estimate": self.alpha, "se": self.alpha_se,
                 "ci_low": self.ci_low, "ci_high": self.ci_high}]
        if self.boot_ci_low is not None:
            rows.append({"term": "alpha (bootstrap CI)", "estimate": self.alpha,
                         "ci_low": self.boot_ci_low, "ci_high": self.boot_ci_high})
        rows += [{"term": "std_alpha", "estimate": self.std_alpha},
                 {"term": "g6", "estimate": self.g6},
                 {"term": "omega_total", "estimate": self.omega_total}]
        if self.omega_h is not None:
            rows += [{"term": f"omega_h ({self.n_factors} factors)", "estimate": self.omega_h},
                     {"term": f"omega_total ({self.n_factors} factors)", "estimate": self.omega_total_sl}]
        rows.append({"term": "average_r", "estimate": self.average_r})
        frame = pd.DataFrame(rows, columns=TIDY_COLUMNS)
        frame["n"] = self.n
        return frame

    def notes(self) -> list[str]:
        lines = [f"{self.n_items} items, N = {self.n} pupils ({self.missing} missing-data handling"
                 + (", polychoric correlations" if self.ordinal else "") + ")."]
        if self.n_excluded:
            why = "no item answered" if self.missing == "pairwise" else "an item unanswered"
            lines.append(f"{self.n_excluded} rows excluded ({why}).")
        if self.reverse:
            lines.append(f"Reverse-keyed: {', '.join(map(str, self.reverse))}.")
        lines.append(f"CI: Feldt, {self.ci_level:.0%}" + (f"; bootstrap percentile, {self.n_boot} draws."
                                                           if self.boot_ci_low is not None else "."))
        return lines

    def summary(self) -> str:
        base = super().summary()
        cols = ["n", "mean", "sd", "r_drop", "alpha_if_dropped", "share_missing"]
        table = self.items[cols].to_string(float_format=lambda v: f"{v:.3f}")
        return f"{base}\n\nItems\n{table}\n\n{self.apa()}"

    def _repr_html_(self) -> str:
        cols = ["n", "mean", "sd", "r_drop", "alpha_if_dropped", "share_missing"]
        items = self.items[cols].to_html(float_format=lambda v: f"{v:.3f}", border=0,
                                         classes="bl-table")
        return super()._repr_html_() + f"<details><summary>Items</summary>{items}</details>" \
            f"<p><em>{self.apa()}</em></p>"

    def __repr__(self) -> str:
        extra = f", omega_h={self.omega_h:.4f}" if self.omega_h is not None else ""
        return (f"ReliabilityResult(alpha={self.alpha:.4f}, ci_low={self.ci_low:.4f}, ci_high={self.ci_high:.4f}, "
                f"omega_total={self.omega_total:.4f}{extra}, n_items={self.n_items}, n={self.n})")

    def apa(self) -> str:
        """One APA-style sentence reporting alpha (and omega)."""
        def f2(v):
            return f"{v:.2f}".replace("0.", ".", 1) if v >= 0 else f"{v:.2f}".replace("-0.", "-.", 1)
        name = f"the {self.label} scale" if self.label else f"the {self.n_items}-item scale"
        kind = "Ordinal alpha" if self.ordinal else "Cronbach's alpha"
        text = (f"{kind} for {name} was {f2(self.alpha)}, {self.ci_level:.0%} CI "
                f"[{f2(self.ci_low)}, {f2(self.ci_high)}], N = {self.n:,}")
        if not math.isnan(self.omega_total):
            text += f"; McDonald's omega total was {f2(self.omega_total)}"
        if self.omega_h is not None:
            text += f" and omega hierarchical {f2(self.omega_h)}"
        return text + "."


@dataclasses.dataclass(frozen=True)
class OmegaResult(Result):
    """McDonald's omega from a Schmid-Leiman solution (see :func:`omega`).

    Attributes
    ----------
    omega_h : float
        Omega hierarchical: share of total-score variance due to the general factor.
    omega_total : float
        Share of total-score variance due to all common factors.
    alpha : float
        Standardised alpha of the same (sign-corrected) correlation matrix.
    loadings : DataFrame
        Per item: g, the group factors F1*..Fm*, h2, u2, p2 (= g^2 / h2).
    n_factors, n : int
    n_excluded : int
        Rows left out: no answer at all, or (``missing="listwise"``) any item missing.
    """

    omega_h: float
    omega_total: float
    alpha: float
    loadings: pd.DataFrame
    n_factors: int
    n: int
    n_excluded: int = 0
    title = "McDonald's omega"

    def to_frame(self) -> pd.DataFrame:
        frame = pd.DataFrame({"term": ["omega_h", "omega_total", "alpha (standardised)"],
                              "estimate": [self.omega_h, self.omega_total, self.alpha]},
                             columns=TIDY_COLUMNS)
        frame["n"] = self.n
        return frame

    def notes(self) -> list[str]:
        return [f"{self.n_factors} group factors (minres, oblimin, Schmid-Leiman); N = {self.n}"
                + (f" ({self.n_excluded} rows excluded)." if self.n_excluded else ".")]


@dataclasses.dataclass(frozen=True)
class IccResult(Result):
    """ICC(1) and ICC(2) of a pupil measure within groups (see :func:`icc`).

    Attributes
    ----------
    icc1, icc2 : float
        Variance-component forms: ``tau00 / (tau00 + sigma2)`` and
        ``tau00 / (tau00 + sigma2 / n_bar)`` (REML estimates).
    icc1_anova, icc2_anova : float
        ANOVA forms ``(MSB - MSW) / (MSB + (n_bar - 1) MSW)`` and ``(MSB - MSW) / MSB``.
    tau00, sigma2 : float
        Between-group and within-group variance (REML).
    msb, msw : float
        Between- and within-group mean squares.
    mean_size : float
        Mean group size ``n_bar = N / J``.
    n, n_clusters, n_excluded : int
    icc1_ci_low, icc1_ci_high, icc2_ci_low, icc2_ci_high : float
        Interval of the REML ``icc1`` and ``icc2``: profile likelihood, or the
        percentiles of a cluster (group-level) bootstrap; NaN without one.
    ci_level : float
    ci_method : str
        How the interval was made (``"profile likelihood (REML)"`` or
        ``"cluster bootstrap percentile (REML)"``).
    n_boot, n_boot_failed : int
        Bootstrap replicates drawn, and those whose model could not be fitted
        (left out of the interval, counted here).
    """

    icc1: float
    icc2: float
    icc1_anova: float
    icc2_anova: float
    tau00: float
    sigma2: float
    msb: float
    msw: float
    mean_size: float
    n: int
    n_clusters: int
    n_excluded: int
    reml_loglik: float
    outcome: str = ""
    cluster: str = ""
    icc1_ci_low: float = float("nan")
    icc1_ci_high: float = float("nan")
    icc2_ci_low: float = float("nan")
    icc2_ci_high: float = float("nan")
    ci_level: float = 0.95
    ci_method: str = ""
    n_boot: int = 0
    n_boot_failed: int = 0
    title = "Intraclass correlations"

    def to_frame(self) -> pd.DataFrame:
        frame = pd.DataFrame({"term": ["icc1", "icc2", "icc1_anova", "icc2_anova", "tau00", "sigma2"],
                              "estimate": [self.icc1, self.icc2, self.icc1_anova, self.icc2_anova,
                                           self.tau00, self.sigma2]}, columns=TIDY_COLUMNS)
        frame.loc[0, ["ci_low", "ci_high"]] = [self.icc1_ci_low, self.icc1_ci_high]
        frame.loc[1, ["ci_low", "ci_high"]] = [self.icc2_ci_low, self.icc2_ci_high]
        frame["n"] = self.n
        return frame

    def notes(self) -> list[str]:
        lines = [f"{self.outcome} within {self.cluster}: {self.n} pupils in {self.n_clusters} groups "
                 f"(mean size {self.mean_size:.1f})."]
        if self.n_excluded:
            lines.append(f"{self.n_excluded} rows excluded (outcome or group missing).")
        verdict = "reliable enough" if self.icc2 >= 0.7 else "below the usual .70 threshold"
        lines.append(f"ICC(2) = {self.icc2:.2f}: group means are {verdict} to use as a group-level measure.")
        if np.isfinite(self.icc1_ci_low):
            lines.append(f"{self.ci_level:.0%} CI ({self.ci_method}"
                         + (f", {self.n_boot} replicates" if self.n_boot else "")
                         + (f", {self.n_boot_failed} not fitted and left out" if self.n_boot_failed else "")
                         + f"): ICC(1) {self.icc1_ci_low:.3f} to {self.icc1_ci_high:.3f}; "
                         f"ICC(2) {self.icc2_ci_low:.2f} to {self.icc2_ci_high:.2f} "
                         f"({position_against(self.icc2_ci_low, self.icc2_ci_high, 0.70)} .70).")
        return lines


# ----------------------------------------------------------------------------------------------
# public functions


def reliability(data: pd.DataFrame, *, items: Sequence[str] | None = None,
                reverse: Sequence[str] | None = None,
                response_range: tuple[float, float] | None = None, missing: str = "pairwise",
                ci_level: float = 0.95, n_boot: int = 0, seed=0, n_factors: int = 1,
                ordinal: bool = False, label: str = "", progress: bool | None = None) -> ReliabilityResult:
    """Reliability of a scale: alpha, omega and an item analysis.

    Parameters
    ----------
    data : DataFrame
        One row per pupil; item columns hold numeric codes (use
        :func:`belonging_lib.scoring.clean_items` first for text labels).
    items : list of str, optional
        The item columns; every column of ``data`` by default.
    reverse : list of str, optional
        Reverse-keyed items, recoded ``min + max - x``.
    response_range : (min, max), optional
        Response range used for reversing (and checked).  Without it the
        smallest and largest value in the data are used, as ``psych::alpha``.
    missing : {"pairwise", "listwise"}
        ``"pairwise"`` (default, ``psych::alpha``'s ``use = "pairwise"``):
        covariances from all pupils answering each pair of items.
        ``"listwise"``: complete cases only (the rows left out are counted).
    ci_level : float
        Level of the Feldt (and bootstrap) interval.
    n_boot : int
        Bootstrap draws for a percentile interval (0 = none; 2000 is a good choice).
    seed : int or None
        Seed of the bootstrap (0 by default: the same digits on every machine).
    n_factors : int
        With 2 or more, also omega hierarchical from an ``n_factors``
        Schmid-Leiman solution (``psych::omega``'s default is 3).
    ordinal : bool
        Ordinal alpha: alpha and omega from polychoric correlations
        (needs complete, integer-coded items; see :func:`polychoric`).
    label : str
        Scale name used in the summary sentence.
    progress : bool, optional
        Show a progress bar during the bootstrap; by default only for long runs.

    Returns
    -------
    ReliabilityResult

    Raises
    ------
    DataError
        Fewer than 2 items, non-numeric values, values outside ``response_range``,
        an item answered by fewer than 2 pupils or with no variance.
    ColumnError
        A reverse-keyed item is not among the items.

    Notes
    -----
    With ``C`` the pairwise covariance matrix of the k items and
    ``R = cov2cor(C)`` (as ``psych::alpha``):

    .. math::

        \\alpha = \\frac{k}{k-1}\\left(1 - \\frac{\\mathrm{tr}\\,C}{\\mathbf 1'C\\mathbf 1}\\right),\\quad
        \\alpha_{std} = \\frac{k}{k-1}\\left(1 - \\frac{k}{\\mathbf 1'R\\mathbf 1}\\right),\\quad
        \\lambda_6 = 1 - \\frac{k - \\sum_i smc_i}{\\mathbf 1'R\\mathbf 1}

    ``r_drop`` is the correlation of an item with the sum of the other
    items, computed from ``C``; ``raw_r`` correlates the item with the
    pupil's mean of answered items.  Feldt's interval uses
    ``F(n - 1, (n - 1)(k - 1))``.  Omega total (one factor) is
    ``1 - sum(u2) / 1'R1`` from a minres factor of the pairwise
    *correlation* matrix, as ``psych::omega(nfactors = 1)``; omega
    hierarchical is ``(sum g)^2 / 1'R1`` from a minres + oblimin +
    Schmid-Leiman solution.

    Unlike ``psych::alpha``, rows with no item answered are excluded (and
    counted in ``n_excluded``) rather than counted in n.

    Alpha is a lower bound to reliability only when items measure one
    thing; it rises with the number of items, and a high alpha does not
    show that a scale is unidimensional or valid.

    Validated against ``psych::alpha`` (alpha, std.alpha, G6, average_r,
    item statistics, alpha if dropped, response frequencies) and
    ``psych::omega`` in tests/reference/reliability.R.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"a": [1, 2, 3, 4, 5, 3], "b": [2, 2, 3, 5, 4, 3],
    ...                   "c": [5, 4, 3, 2, 2, 3]})
    >>> rel = reliability(d, reverse=["c"], response_range=(1, 5))
    >>> round(rel.alpha, 3), round(rel.std_alpha, 3)
    (0.962, 0.966)
    """
    check_choice("missing", missing, ["pairwise", "listwise"])
    level = check_probability("ci_level", ci_level)
    n_boot = check_positive_int("n_boot", n_boot, minimum=0)
    n_factors = check_positive_int("n_factors", n_factors)
    x, rev = _prepare_items(data, items=items, reverse=reverse, response_range=response_range)
    raw = data[list(x.columns)].apply(pd.to_numeric, errors="coerce")   # as answered (not reversed)
    n_in = len(x)
    if missing == "listwise":
        keep = x.notna().all(axis=1)
    else:
        keep = x.notna().any(axis=1)
    x = x[keep]
    n_excluded = n_in - len(x)
    if len(x) < 3:
        raise DataError(f"Only {len(x)} pupils have usable answers ({n_excluded} rows excluded); "
                        "reliability needs at least 3.")
    _check_variation(x)
    arr = x.to_numpy()
    k = arr.shape[1]
    c = _pairwise_cov(arr)
    if not np.all(np.isfinite(c)):
        i, j = np.argwhere(~np.isfinite(c))[0]
        raise DataError(f"Items {x.columns[i]!r} and {x.columns[j]!r} are never (or only once) "
                        "answered by the same pupil, so their covariance cannot be estimated.")
    if ordinal:
        pc = polychoric(x)
        r = pc.to_numpy()
        c = r.copy()
    else:
        r = _cov2cor(c)
    if c.sum() <= 0 or r.sum() <= 0:
        raise DataError(f"The {k} items are negatively related on balance (their covariances sum to "
                        f"{c.sum():.3g}), so alpha is undefined. Check the reverse-keyed items; with "
                        f"{len(x)} pupils the estimate is also very unstable.")
    parts = _alpha_parts(c, r)
    n = len(x)

    # item statistics (psych::alpha's item.stats and alpha.drop)
    total = np.nanmean(arr, axis=1)
    if np.ptp(total) <= 1e-12 * max(1.0, np.abs(total).max()):
        raise DataError(f"Every one of the {n} pupils has the same mean score ({total[0]:g}) on these "
                        f"{k} items, so the scale score has no variance and reliability is undefined. "
                        "More pupils (or items that vary together) are needed.")
    raw_r = np.empty(k)
    for j in range(k):          # correlation of the item with the mean score, pairwise complete
        ok = ~np.isnan(arr[:, j])
        raw_r[j] = np.corrcoef(arr[ok, j], total[ok])[0, 1]
    sum_r = r.sum()
    std_r = r.sum(axis=0) / np.sqrt(sum_r)
    rc = r.copy()
    np.fill_diagonal(rc, _factor.smc(r))
    total_rc = rc.sum()
    # psych's r.cor; undefined (NaN, reported as such) when the smc-corrected matrix sums to <= 0
    r_cor = rc.sum(axis=0) / np.sqrt(total_rc) if total_rc > 0 else np.full(k, np.nan)
    r_drop = np.empty(k)
    drop = {"raw": [], "std": [], "g6": [], "average_r": []}
    # with an item left out, the rest may sum to zero covariance (alpha undefined: NaN), and a
    # non-positive variance of the rest leaves r_drop undefined (NaN); no division warnings
    for j in range(k):
        others = [i for i in range(k) if i != j]
        v_drop = c[np.ix_(others, others)].sum()
        c_drop = c[:, j].sum() - c[j, j]
        r_drop[j] = c_drop / np.sqrt(c[j, j] * v_drop) if v_drop > 0 else np.nan
        sub_c, sub_r = c[np.ix_(others, others)], r[np.ix_(others, others)]
        if k > 2 and sub_c.sum() != 0 and sub_r.sum() != 0:
            p = _alpha_parts(sub_c, sub_r)
        else:
            p = {"raw": np.nan, "std": np.nan, "g6": np.nan, "average_r": np.nan}
        for key in drop:
            drop[key].append(p[key])
    table = pd.DataFrame({
        "n": x.notna().sum().to_numpy(),
        "share_missing": x.isna().mean().to_numpy(),
        "mean": np.nanmean(arr, axis=0),
        "sd": x.std().to_numpy(),
        "raw_r": raw_r, "std_r": std_r, "r_cor": r_cor, "r_drop": r_drop,
        "alpha_if_dropped": drop["raw"], "std_alpha_if_dropped": drop["std"],
        "g6_if_dropped": drop["g6"], "average_r_if_dropped": drop["average_r"],
    }, index=pd.Index(x.columns, name="item"))
    raw = raw.loc[x.index]
    values = np.unique(raw.to_numpy()[raw.notna().to_numpy()])
    if len(values) <= 10:      # response frequencies of the answers as given (before reversing)
        for v in values:
            name = f"freq_{int(v)}" if float(v).is_integer() else f"freq_{v:g}"
            table[name] = (raw == v).sum().to_numpy() / table["n"].to_numpy()

    # omega (from the pairwise correlation matrix, as psych::omega)
    r_omega = r if ordinal else x.corr().to_numpy()
    omega_t = np.nan
    omega_h = omega_t_sl = None
    if k >= 3:
        omega_t = _omega_from_corr(r_omega, 1)["omega_total"]
    if n_factors >= 2:
        if k < 2 * n_factors + 1:
            raise DataError(f"omega hierarchical with {n_factors} factors needs more items "
                            f"than {k}; use fewer factors.")
        _warn_two_group_factors(n_factors)
        om = _omega_from_corr(r_omega, n_factors)
        omega_h, omega_t_sl = om["omega_h"], om["omega_total"]

    boot_ci = (None, None)
    if n_boot:
        if ordinal:
            raise DataError("The bootstrap interval is available for raw alpha only (ordinal=False).")
        progress = show_progress(progress, seconds=n_boot * n * k * k / 25_000_000)
        draws = _boot_alpha(arr, n_boot, seed, progress)
        defined = np.isfinite(draws)
        if defined.mean() < 0.9:
            raise DataError(f"Only {int(defined.sum())} of {n_boot} bootstrap resamples of the {n} pupils "
                            "give a defined alpha (the others have items that do not vary or do not "
                            "covary positively); the sample is too small for a bootstrap interval.")
        draws = draws[defined]
        boot_ci = (float(np.quantile(draws, (1 - level) / 2)), float(np.quantile(draws, 1 - (1 - level) / 2)))

    feldt = feldt_ci(float(parts["raw"]), n, k, ci_level=level)
    ci_low, ci_high = feldt.ci_low, feldt.ci_high
    return ReliabilityResult(
        alpha=float(parts["raw"]), std_alpha=float(parts["std"]), g6=float(parts["g6"]),
        average_r=float(parts["average_r"]), median_r=parts["median_r"],
        signal_noise=float(parts["signal_noise"]),
        alpha_se=float(np.sqrt(parts["q"] / n)) if parts["q"] >= 0 else np.nan,   # < 0 only if c is not PSD
        ci_low=ci_low, ci_high=ci_high, ci_level=level,
        omega_total=float(omega_t), n=n, n_items=k, n_excluded=n_excluded, missing=missing,
        items=table, scale_mean=float(np.nanmean(total)), scale_sd=float(np.std(total, ddof=1)),
        reverse=rev, boot_ci_low=boot_ci[0], boot_ci_high=boot_ci[1], n_boot=n_boot, omega_h=omega_h,
        omega_total_sl=omega_t_sl, n_factors=n_factors, ordinal=ordinal, label=label)


def scale_reliability(data: pd.DataFrame, instrument, *, subscale: str | None = None,
                      item_map=None, invalid: str = "raise", missing_codes=(),
                      **kwargs) -> ReliabilityResult:
    """Reliability of an instrument's scale (or subscale), keys taken from its definition.

    Items are checked and recoded as by :func:`belonging_lib.scoring.clean_items`
    (text labels, ``item_map``, ``missing_codes``), then passed to
    :func:`reliability` with the instrument's reverse keys and response range.

    Parameters
    ----------
    data : DataFrame
    instrument : str, path or Instrument
    subscale : str, optional
        E.g. ``"emotional"`` for the SDQ; all items by default.
    item_map, invalid, missing_codes
        As in :func:`belonging_lib.scoring.score`.
    **kwargs
        Passed to :func:`reliability` (``missing``, ``ci_level``, ``n_boot``, ``n_factors`` ...).

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"peer_1": [1, 2, 4, 5, 3], "peer_2": [2, 2, 4, 4, 3],
    ...                   "peer_3": [1, 3, 5, 4, 3], "peer_4": [2, 1, 4, 5, 2]})
    >>> round(scale_reliability(d, "peer").alpha, 3)
    0.94
    """
    from .instruments import load_instrument
    from .scoring import clean_items

    inst = load_instrument(instrument)
    ids = list(inst.items_of(subscale))
    codes = clean_items(data, inst, item_map=item_map, invalid=invalid, missing_codes=missing_codes)[ids]
    kwargs.setdefault("label", f"{inst.id} {subscale}" if subscale else inst.id)
    return reliability(codes, reverse=[i for i in ids if i in inst.reverse_items],
                       response_range=inst.response_range, **kwargs)


def omega(data: pd.DataFrame, *, items: Sequence[str] | None = None, n_factors: int = 3,
          missing: str = "pairwise") -> OmegaResult:
    """McDonald's omega hierarchical and total (as ``psych::omega``).

    Parameters
    ----------
    data : DataFrame
        One row per pupil, item columns numeric.  Items loading negatively on
        the general factor are reversed automatically, as psych does.
    items : list of str, optional
        The item columns; every column of ``data`` by default.
    n_factors : int
        Number of group factors (psych's default 3; 1 gives omega total of a
        one-factor model).
    missing : {"pairwise", "listwise"}
        Correlations from pairwise-complete pairs (psych) or complete cases.

    Returns
    -------
    OmegaResult

    Notes
    -----
    The correlation matrix ``R`` is factored by minres with ``n_factors``
    factors, rotated by oblimin (GPA, eps 1e-5 as GPArotation) and
    transformed by Schmid-Leiman (for 2 factors, both load ``sqrt(phi_12)``
    on g: not identified, so a ``BelongingWarning`` points to
    :func:`belonging_lib.structure.bifactor`).  With ``g`` the general loadings and ``u2`` the uniquenesses,
    ``omega_h = (sum g)^2 / 1'R1`` and ``omega_total = 1 - sum(u2) / 1'R1``.
    Validated against ``psych::omega`` (agreement about 1e-6; psych's own
    minres optimiser stops at that precision).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(3)
    >>> g, s = rng.normal(size=(2, 500)), rng.normal(size=(3, 500))
    >>> d = pd.DataFrame({f"x{f}{j}": .6 * g[0] + .5 * s[f] + rng.normal(size=500) * .6
    ...                   for f in range(3) for j in range(3)})
    >>> om = omega(d, n_factors=3)
    >>> om.omega_h < om.omega_total
    True
    """
    check_choice("missing", missing, ["pairwise", "listwise"])
    n_factors = check_positive_int("n_factors", n_factors)
    x, _ = _prepare_items(data, items=items, reverse=None, response_range=None)
    n_rows = len(x)
    if missing == "listwise":
        x = x.dropna()
    n_used = int(x.notna().any(axis=1).sum())
    if n_used < 3:
        raise DataError(f"Only {n_used} pupils have usable answers ({n_rows - n_used} rows excluded); "
                        "omega needs at least 3.")
    _check_variation(x)
    k = x.shape[1]
    if k < 3 or (n_factors >= 2 and k < 2 * n_factors + 1):
        raise DataError(f"omega with {n_factors} factor(s) needs more than {k} items.")
    _warn_two_group_factors(n_factors)
    res = _omega_from_corr(x.corr().to_numpy(), n_factors)
    cols = {"g": res["g"]}
    for j in range(res["group"].shape[1]):
        cols[f"F{j + 1}*"] = res["group"][:, j]
    cols.update(h2=res["h2"], u2=res["u2"], p2=res["g"] ** 2 / res["h2"])
    return OmegaResult(omega_h=res["omega_h"], omega_total=res["omega_total"], alpha=res["alpha"],
                       loadings=pd.DataFrame(cols, index=pd.Index(x.columns, name="item")),
                       n_factors=n_factors, n=n_used, n_excluded=int(n_rows - n_used))


# ----------------------------------------------------------------------------------------------
# polychoric correlations


def _thresholds(col: np.ndarray, cats: np.ndarray) -> np.ndarray:
    counts = np.array([(col == c).sum() for c in cats], dtype=float)
    cum = np.cumsum(counts)[:-1] / counts.sum()
    return stats.norm.ppf(cum)


def _polychoric_pair(a: np.ndarray, b: np.ndarray, ta: np.ndarray, tb: np.ndarray,
                     ca: np.ndarray, cb: np.ndarray) -> float:
    table = np.array([[np.sum((a == i) & (b == j)) for j in cb] for i in ca], dtype=float)
    ea = np.concatenate([[-np.inf], ta, [np.inf]])
    eb = np.concatenate([[-np.inf], tb, [np.inf]])
    big = 10.0
    ea_c, eb_c = np.clip(ea, -big, big), np.clip(eb, -big, big)

    def negll(rho):
        cov = [[1.0, rho], [rho, 1.0]]
        grid = np.array([[stats.multivariate_normal.cdf([x, y], mean=[0, 0], cov=cov)
                          if abs(x) < big and abs(y) < big else
                          (0.0 if x <= -big or y <= -big else
                           (stats.norm.cdf(y) if x >= big else stats.norm.cdf(x)))
                          for y in eb_c] for x in ea_c])
        p = grid[1:, 1:] - grid[:-1, 1:] - grid[1:, :-1] + grid[:-1, :-1]
        p = np.clip(p, 1e-300, None)
        return -np.sum(table * np.log(p))

    res = optimize.minimize_scalar(negll, bounds=(-0.9999, 0.9999), method="bounded",
                                   options={"xatol": 1e-10})
    return float(res.x)


@dataclasses.dataclass(frozen=True, kw_only=True)
class PolychoricMatrix(MatrixResult):
    """Polychoric correlations of ordinal items (what :func:`polychoric` returns).

    Attributes
    ----------
    matrix : DataFrame
        The correlation matrix (items x items, ones on the diagonal).
    n : int
        Pupils used (complete cases).
    n_excluded : int
        Rows left out because an item was missing.

    ``to_frame()`` gives one row per pair of items (``term`` ``"a ~~ b"``, ``estimate``, ``row``,
    ``column``); ``to_numpy()`` the matrix as an array.
    """

    n: int
    n_excluded: int = 0

    title = "Polychoric correlations"
    diagonal = False

    def notes(self) -> list[str]:
        return [f"N = {self.n} pupils with every item answered ({self.n_excluded} left out)."]


def polychoric(data: pd.DataFrame, *, items: Sequence[str] | None = None) -> PolychoricMatrix:
    """Polychoric correlation matrix of integer-coded ordinal items.

    Thresholds come from each item's marginal proportions and each
    correlation maximises the bivariate-normal likelihood of the two-way
    table (the two-step estimator of Olsson, 1979, as ``psych::polychoric``
    with its default ``correct = 0.5`` not applied: tables with empty cells
    are used as they are).  Complete cases only.

    Parameters
    ----------
    data : DataFrame
        One row per pupil.
    items : list of str, optional
        The item columns; every column of ``data`` by default.

    Returns
    -------
    PolychoricMatrix
        The correlation matrix (items x items) in ``matrix``, with the pupils used.
    """
    x = as_frame(data)
    if items is not None:
        x = x[require_columns(x, as_list(items), role="item column")]
    require_numeric(x, list(x.columns))
    require_finite(x, list(x.columns), what="polychoric correlation")
    n_all = len(x)
    x = x.dropna()
    arr = x.to_numpy(dtype=float)
    if np.any(arr != np.round(arr)):
        raise DataError("polychoric correlations need whole-number response codes.")
    k = arr.shape[1]
    cats = [np.unique(arr[:, j]) for j in range(k)]
    for j in range(k):
        if len(cats[j]) < 2:
            raise DataError(f"Item {x.columns[j]!r} has a single response category.")
        if len(cats[j]) > 10:
            raise DataError(f"Item {x.columns[j]!r} has {len(cats[j])} categories; polychoric "
                            "correlations are for ordinal items with at most 10.")
    taus = [_thresholds(arr[:, j], cats[j]) for j in range(k)]
    r = np.eye(k)
    for i in range(k):
        for j in range(i + 1, k):
            r[i, j] = r[j, i] = _polychoric_pair(arr[:, i], arr[:, j], taus[i], taus[j], cats[i], cats[j])
    return PolychoricMatrix(matrix=pd.DataFrame(r, index=x.columns, columns=x.columns), n=len(x),
                            n_excluded=n_all - len(x))


# ----------------------------------------------------------------------------------------------
# ICC(1), ICC(2)


def _reml_one_way(y: np.ndarray, g: np.ndarray) -> tuple[float, float, float]:
    """REML variance components (tau00, sigma2) and REML log-likelihood of y = mu + u_g + e.

    Fitted by the library's one mixed-model engine (:mod:`belonging_lib.models._lmm`), as
    ``lme4::lmer(y ~ 1 + (1 | g), REML = TRUE)``; ``g`` holds integer codes 0..J-1.
    """
    from .models import _lmm

    g = np.asarray(g, dtype=np.int64)
    fit = _lmm.fit_random_intercept(np.asarray(y, float), np.ones((len(y), 1)), g, int(g.max()) + 1,
                                    reml=True, satterthwaite_df=False)
    return float(fit.theta[0] ** 2 * fit.sigma2), float(fit.sigma2), float(fit.loglik)


def position_against(low: float, high: float, threshold: float) -> str:
    """Where an interval lies against a threshold, in words.

    ``"wholly above"``, ``"wholly below"`` or ``"straddles"`` (an end exactly
    on the threshold counts as straddling).

    >>> position_against(0.74, 0.88, 0.70), position_against(0.6, 0.8, 0.70)
    ('wholly above', 'straddles')
    """
    if not (np.isfinite(low) and np.isfinite(high)):
        raise DataError("The interval has no finite ends; its position against the threshold is unknown.")
    if low > threshold:
        return "wholly above"
    if high < threshold:
        return "wholly below"
    return "straddles"


def _cluster_boot_reml(y, X, codes, n_groups, idx, *, progress: bool = False, desc: str = "cluster bootstrap"):
    """REML ``tau00``, ``sigma2`` and ``N`` of each cluster-bootstrap replicate.

    Each replicate is a re-weighting of the groups' sufficient statistics, formed once (a group
    drawn twice counts twice), never a copy of the data: all replicates are solved together by
    :func:`belonging_lib.models._replicates.fit_replicates` (the engine's Newton iteration, warm-
    started from the full-sample fit), and a replicate whose solution is not a converged interior
    optimum is refitted by the library's one mixed-model engine (:func:`belonging_lib.models._lmm.fit`),
    the engine behind :func:`icc`; each replicate equals that engine's refit of the drawn groups.  A
    replicate that cannot be fitted (its predictors collinear, or the engine fails) gives NaN.
    """
    from .models import _lmm
    from .models._replicates import cluster_blocks, fit_replicates

    X = np.asarray(X, float)
    blocks = cluster_blocks(np.asarray(y, float), X, np.asarray(codes, np.int64), n_groups)
    nj = blocks.nj
    B = idx.shape[0]
    p = X.shape[1]
    counts = np.zeros((B, n_groups))
    np.add.at(counts, (np.repeat(np.arange(B), idx.shape[1]), idx.ravel()), 1.0)
    nb = np.einsum("bj,j->b", counts, nj)
    tau, s2 = np.full(B, np.nan), np.full(B, np.nan)
    full = _lmm.TwoLevel(nj[:, None, None], blocks.u[:, None, :], blocks.ww.sum(axis=0), int(nj.sum()))
    theta0 = float(_lmm.fit(full, reml=True, satterthwaite_df=False).theta[0])
    usable = np.ones(B, bool)
    if p > 1:
        xtx = np.einsum("bj,jrs->brs", counts, blocks.ww[:, :p, :p])
        usable = np.linalg.matrix_rank(xtx) == p
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        fits = fit_replicates([(counts, blocks)], nj, theta0, reml=True)
    done = usable & fits.settled & np.isfinite(fits.sigma2) & (fits.sigma2 > 0)
    tau[done] = fits.theta[done] ** 2 * fits.sigma2[done]
    s2[done] = fits.sigma2[done]
    rest = np.flatnonzero(usable & ~done)
    for b in progress_bar(rest, desc=desc, enabled=progress):
        sel = idx[b]
        wtw = np.einsum("j,jrs->rs", counts[b], blocks.ww)
        model = _lmm.TwoLevel(nj[sel][:, None, None], blocks.u[sel][:, None, :], wtw, int(nb[b]))
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                fit = _lmm.fit(model, reml=True, satterthwaite_df=False)
        except (np.linalg.LinAlgError, FloatingPointError, ValueError):
            continue
        if np.isfinite(fit.sigma2) and fit.sigma2 > 0:
            tau[b], s2[b] = fit.theta[0] ** 2 * fit.sigma2, fit.sigma2
    return tau, s2, nb


def _percentile(draws: np.ndarray, ci: float) -> tuple[float, float]:
    a = (1 - ci) / 2
    lo, hi = np.quantile(draws, [a, 1 - a])      # linear interpolation, as R's quantile(type = 7)
    return float(lo), float(hi)


def icc(data: pd.DataFrame, *, outcome: str, cluster: str, ci_level: float = 0.95,
        ci_method: str | None = "profile", n_boot: int | None = None, seed=0,
        progress: bool | None = None) -> IccResult:
    """ICC(1) and ICC(2) of a pupil measure within classes or schools.

    Parameters
    ----------
    data : DataFrame
        One row per pupil.
    outcome : str
        The pupil measure (e.g. a PSSM scale score).
    cluster : str
        The grouping column (``class_id`` or ``school_id``).
    ci_level : float
        Confidence level of the intervals of ICC(1) and ICC(2).
    ci_method : {"profile", "bootstrap"} or None
        How the intervals are made: ``"profile"`` (default), the profile-
        likelihood interval of the REML criterion; ``"bootstrap"``, percentile
        intervals of a cluster bootstrap; ``None``, no interval (Notes).
    n_boot : int, optional
        Cluster-bootstrap replicates, for ``ci_method="bootstrap"`` only
        (default 1000; 0 skips the intervals).  Passing it with another
        ``ci_method`` is an error, so that a bootstrap asked for is never
        silently replaced.
    seed : int or None
        Seed of the bootstrap draws (0 by default; the same seed gives the
        same interval on every machine); the profile interval uses none.
    progress : bool, optional
        Show a progress bar while the replicates are fitted; by default only for
        long runs (``n_boot`` times the number of groups above 200,000).

    Returns
    -------
    IccResult
        Variance-component (REML) forms ``icc1``, ``icc2`` with their
        intervals ``icc1_ci_low`` ... ``icc2_ci_high``, and ANOVA forms
        ``icc1_anova``, ``icc2_anova``.

    Notes
    -----
    ICC(1) = tau00 / (tau00 + sigma2) is the share of variance between
    groups (the reliability of one pupil's score as a measure of the group);
    ICC(2) = tau00 / (tau00 + sigma2 / n_bar) is the reliability of a
    group's mean (Spearman-Brown of ICC(1) with the mean group size n_bar).
    tau00 and sigma2 are REML estimates of the random-intercept model
    ``y ~ 1 + (1 | group)`` (profiled likelihood, exact optimum).  The
    ANOVA forms (Bliese, 2000) use the one-way ANOVA mean squares:
    ICC(1) = (MSB - MSW) / (MSB + (n_bar - 1) MSW), ICC(2) = (MSB - MSW) / MSB.
    ICC(2) of .70 or more is a common rule of thumb for using group means.
    Rows with a missing outcome or group are excluded and counted.
    Validated against ``aov`` and ``lme4::lmer(REML = TRUE)``.

    The default intervals are profile-likelihood intervals.  ICC(1) and
    ICC(2) both rise with the variance ratio lambda = tau00 / sigma2, so one
    interval for lambda gives both.  With mu and sigma2 profiled out, the REML
    deviance of ``y ~ 1 + (1 | group)`` is a function of lambda alone (lme4's
    ``devFunOnly`` criterion, with theta = sqrt(lambda)); the interval holds
    every lambda whose deviance exceeds the minimum by at most the
    chi-square(1) quantile of ``ci_level`` (3.84 for 95%), and its lower end is
    0 when lambda = 0 is inside.  Checked against ``uniroot`` on lme4's
    deviance function (``tests/reference/icc_profile.R``: the ends agree to
    about 1e-7).  In 400 simulated samples of 40 schools of 40 to 118 pupils,
    the 95% profile intervals covered the true ICC(1) and ICC(2) in 95.5% of
    samples for a true ICC(1) of .10 and in 94.75% for .03 (Monte-Carlo SE
    about 1.1 points; ``tests/test_icc_intervals.py``).  In the course's
    coverage study (``make calibrate``: the same design, true ICC(1) .10, 300
    samples) they covered 95.0% for both, where the cluster bootstrap below
    had covered 89.0% (ICC(1)) and 89.7% (ICC(2)).

    With ``ci_method="bootstrap"`` the intervals are percentile intervals of a cluster (group-level)
    bootstrap of the REML estimates: groups are drawn with replacement, as
    many as there are, and ICC(1) and ICC(2) (with the replicate's own mean
    group size) are re-estimated on each replicate.  Resampling whole groups
    keeps the dependence of pupils within a group, the unit that varies when
    the question is about groups (Field & Welsh, 2007, *JRSS B* 69,
    369-390; Davison & Hinkley, 1997, section 3.8).  Unlike the F-based
    interval of the ANOVA ICC(1) (Searle, 1971), which is exact only for
    equal group sizes and normal errors, it needs neither, it belongs to the
    REML estimate that is reported, and it stays inside [0, 1].  Each
    replicate is solved by the same engine's Newton iteration as the estimate,
    from the groups' sufficient statistics re-weighted by the draw (all
    replicates at once, each equal to a refit of its drawn groups).  Percentile intervals of a cluster bootstrap are
    somewhat too narrow when groups are few: in a simulation with 40 groups of
    10 to 30 pupils and a true ICC(1) of .15, the 95% intervals covered the
    truth in about 90% of samples (``tests/test_icc_intervals.py``, marked
    slow), so read them as a lower bound on the uncertainty; with under about
    20 groups any interval of a between-group variance is rough.  Checked
    against ``lme4::lmer`` refits of the very same replicates
    (``tests/reference/icc_intervals.R``, agreement near 1e-7).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> g = np.repeat(np.arange(40), 25)
    >>> y = rng.normal(size=40)[g] * 0.5 + rng.normal(size=1000)
    >>> res = icc(pd.DataFrame({"y": y, "school": g}), outcome="y", cluster="school")
    >>> bool(0.1 < res.icc1 < 0.3), bool(res.icc2 > 0.7)
    (True, True)
    """
    data = as_frame(data)
    require_columns(data, [outcome, cluster])
    require_numeric(data, outcome)
    require_finite(data, outcome, what="ICC")
    y_all = pd.to_numeric(data[outcome], errors="coerce")
    keep = y_all.notna() & data[cluster].notna()
    y = y_all[keep].to_numpy(dtype=float)
    g = data.loc[keep, cluster].to_numpy()
    n_excluded = int((~keep).sum())
    codes, inv = np.unique(g.astype(str), return_inverse=True)
    j = len(codes)
    n = len(y)
    if j < 2:
        raise DataError(f"ICC needs at least 2 groups in {cluster!r}, but {j} {'was' if j == 1 else 'were'} found.")
    if n <= j:
        raise DataError(f"ICC needs more pupils ({n}) than groups ({j}).")
    nj = np.bincount(inv).astype(float)
    means = np.bincount(inv, weights=y) / nj
    grand = y.mean()
    ssb = float(np.sum(nj * (means - grand) ** 2))
    ssw = float(np.sum((y - means[inv]) ** 2))
    # zero up to rounding: a constant such as 2e-9 leaves group means a few ulps off the values
    if ssw <= n * (16 * np.finfo(float).eps * float(np.max(np.abs(y)))) ** 2:
        raise DataError(f"{outcome!r} does not vary within any group of {cluster!r}.")
    msb, msw = ssb / (j - 1), ssw / (n - j)
    nbar = n / j
    ci_level = check_probability("ci_level", ci_level)
    ci_method = None if ci_method is None else check_choice("ci_method", ci_method, ["profile", "bootstrap"])
    if n_boot is not None and ci_method != "bootstrap":
        raise DataError(f"n_boot={n_boot!r} applies to ci_method='bootstrap' only, but ci_method={ci_method!r}: "
                        "pass ci_method='bootstrap' for a cluster-bootstrap interval, or leave n_boot out "
                        "(ci_method=None gives no interval).")
    n_boot = check_positive_int("n_boot", 1000 if n_boot is None else n_boot, minimum=0)
    tau, s2, ll = _reml_one_way(y, inv)
    if tau == 0:
        warnings.warn(f"The between-group variance of {outcome!r} is estimated at 0 (boundary).",
                      BelongingWarning, stacklevel=2)
    extra: dict = {}
    if ci_method == "profile":
        extra = _icc_profile_ci(nj, means, ssw, tau / s2, nbar, ci_level)
    elif ci_method == "bootstrap" and n_boot:
        idx = cluster_bootstrap_indices(j, n_boot, seed)
        extra = _icc_boot_ci(y, inv, j, idx, ci_level, progress=show_progress(progress, seconds=n_boot * j / 100_000))
    return IccResult(icc1=tau / (tau + s2), icc2=tau / (tau + s2 / nbar),
                     icc1_anova=(msb - msw) / (msb + (nbar - 1) * msw),
                     icc2_anova=(msb - msw) / msb if msb > 0 else float("-inf"),
                     tau00=tau, sigma2=s2, msb=msb, msw=msw, mean_size=nbar, n=n, n_clusters=j,
                     n_excluded=n_excluded, reml_loglik=ll, outcome=outcome, cluster=cluster, **extra)


def _icc_profile_ci(nj: np.ndarray, means: np.ndarray, ssw: float, lam_hat: float, nbar: float,
                    ci: float) -> dict:
    """Profile-likelihood interval of ICC(1) and ICC(2) from the REML criterion (see :func:`icc`).

    ``nj``, ``means``: each group's size and mean; ``ssw``: the within-group sum of squares;
    ``lam_hat``: the REML estimate of tau00 / sigma2.  With mu and sigma2 profiled out, the REML
    deviance is, up to a constant, (N - 1) log Q + sum log(1 + lambda n_j) + log sum w_j, where
    w_j = n_j / (1 + lambda n_j), Q = SSW + sum w_j (mean_j - mu)^2 and mu = sum w_j mean_j / sum w_j.
    """
    n_total = float(nj.sum())

    def deviance(lam: float) -> float:
        w = nj / (1.0 + lam * nj)
        mu = float(np.sum(w * means) / np.sum(w))
        q = ssw + float(np.sum(w * (means - mu) ** 2))
        return (n_total - 1.0) * math.log(q) + float(np.sum(np.log1p(lam * nj))) + math.log(float(np.sum(w)))

    cut = deviance(lam_hat) + float(stats.chi2.ppf(ci, 1))

    def above(lam: float) -> float:
        return deviance(lam) - cut

    low = 0.0 if lam_hat <= 0 or above(0.0) <= 0 else optimize.brentq(above, 0.0, lam_hat, xtol=1e-15, rtol=1e-13)
    top = max(2.0 * lam_hat, 1e-6)
    for _ in range(200):        # the deviance grows like (J - 1) log lambda, so a bracket exists
        if above(top) > 0:
            break
        top *= 2.0
    else:
        raise DataError("The profile-likelihood interval of the ICC has no upper end: the groups are too few "
                        "or too alike. Use ci_method='bootstrap' or report the estimate without an interval.")
    high = optimize.brentq(above, lam_hat, top, xtol=1e-15, rtol=1e-13)
    return dict(icc1_ci_low=low / (1.0 + low), icc1_ci_high=high / (1.0 + high),
                icc2_ci_low=low / (low + 1.0 / nbar), icc2_ci_high=high / (high + 1.0 / nbar),
                ci_level=ci, ci_method="profile likelihood (REML)", n_boot=0, n_boot_failed=0)


def _icc_boot_draws(y, codes, n_groups, idx, *, progress: bool = False):
    """ICC(1) and ICC(2) (REML) of each replicate in ``idx``; NaN where not fitted."""
    tau, s2, nb = _cluster_boot_reml(y, np.ones((len(y), 1)), codes, n_groups, idx, progress=progress,
                                     desc="bootstrap ICC")
    nbar = nb / idx.shape[1]
    return tau / (tau + s2), tau / (tau + s2 / nbar)


def _icc_boot_ci(y, codes, n_groups, idx, ci, *, progress: bool = False) -> dict:
    d1, d2 = _icc_boot_draws(y, codes, n_groups, idx, progress=progress)
    ok = np.isfinite(d1) & np.isfinite(d2)
    if ok.sum() < max(20, 0.9 * len(ok)):
        raise DataError(f"Only {int(ok.sum())} of {len(ok)} cluster-bootstrap replicates could be fitted; "
                        "the groups are too few or too alike for an interval of the ICC.")
    lo1, hi1 = _percentile(d1[ok], ci)
    lo2, hi2 = _percentile(d2[ok], ci)
    return dict(icc1_ci_low=lo1, icc1_ci_high=hi1, icc2_ci_low=lo2, icc2_ci_high=hi2, ci_level=ci,
                ci_method="cluster bootstrap percentile (REML)", n_boot=len(ok), n_boot_failed=int((~ok).sum()))


def aggregation_reliability(data: pd.DataFrame, *, outcome: str, cluster: str, **kwargs) -> IccResult:
    """ICC(1) and ICC(2) of ``outcome`` within ``cluster``: :func:`icc` under another name.

    Keywords (``ci_level``, ``ci_method``, ``n_boot``, ``seed``, ``progress``) pass to :func:`icc`.

    ``aggregation_reliability(staff, outcome="staff_belong", cluster="school_id")``
    is ``icc(staff, outcome="staff_belong", cluster="school_id")``.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"y": [1, 2, 2, 3, 4, 5, 4, 5], "school": list("aaaabbbb")})
    >>> round(aggregation_reliability(d, outcome="y", cluster="school").icc2_anova, 3)
    0.96
    """
    return icc(data, outcome=outcome, cluster=cluster, **kwargs)


# ----------------------------------------------------------------------------------------------
# between-group variance explained


@dataclasses.dataclass(frozen=True)
class VarianceExplainedResult(Result):
    """Share of the between-group variance explained (see :func:`between_variance_explained`)."""

    estimate: float
    ci_low: float
    ci_high: float
    ci_level: float
    tau00_null: float
    tau00_null_ci_low: float
    tau00_null_ci_high: float
    tau00_model: float
    tau00_model_ci_low: float
    tau00_model_ci_high: float
    n: int
    n_clusters: int
    n_excluded: int
    n_boot: int
    n_boot_failed: int
    ci_method: str = "cluster bootstrap percentile (REML)"
    outcome: str = ""
    covariates: tuple = ()
    cluster: str = ""
    title = "Between-group variance explained"

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"term": ["explained", "tau00_null", "tau00_model"],
                             "estimate": [self.estimate, self.tau00_null, self.tau00_model],
                             "ci_low": [self.ci_low, self.tau00_null_ci_low, self.tau00_model_ci_low],
                             "ci_high": [self.ci_high, self.tau00_null_ci_high, self.tau00_model_ci_high],
                             "n": self.n}, columns=TIDY_COLUMNS)

    def notes(self) -> list[str]:
        return [f"{self.outcome} within {self.cluster}: {self.n} rows in {self.n_clusters} groups"
                + (f" ({self.n_excluded} rows excluded for missing values)." if self.n_excluded else "."),
                f"Model covariates: {', '.join(self.covariates)}.",
                f"{self.ci_level:.0%} CI: {self.ci_method}, {self.n_boot} replicates"
                + (f" ({self.n_boot_failed} not fitted, left out)." if self.n_boot_failed else ".")]


def between_variance_explained(data: pd.DataFrame, *, outcome: str, covariates: Sequence[str], cluster: str,
                               ci_level: float = 0.95, n_boot: int = 1000, seed=0,
                               progress: bool | None = None) -> VarianceExplainedResult:
    """Share of the between-group variance of ``outcome`` that ``covariates`` explain, with an interval.

    ``1 - tau00_model / tau00_null``, where ``tau00_null`` is the REML
    between-group variance of ``outcome ~ 1 + (1 | cluster)`` and
    ``tau00_model`` that of ``outcome ~ covariates + (1 | cluster)``, both on
    the rows complete in ``outcome``, ``covariates`` and ``cluster`` (the rows
    left out are counted).  The share can be negative: adding pupil-level
    covariates can raise the between-group variance.

    The interval is a cluster-bootstrap percentile interval: each replicate
    draws groups with replacement and refits *both* models on the same groups,
    so the two variances keep their dependence; the two variances get
    intervals of their own.  The models are fitted by the library's one
    mixed-model engine from the groups' sufficient statistics.  Covariates
    are used as given (a standardised school measure stays standardised on
    the full sample).

    Parameters
    ----------
    data : DataFrame
        One row per pupil.
    outcome : str
        The pupil measure.
    covariates : list of str
        Numeric predictors of the second model (pupil- or group-level).
    cluster : str
        The grouping column.
    ci_level : float
        Confidence level.
    n_boot : int
        Cluster-bootstrap replicates (default 1000).
    seed : int or None
        Seed of the draws (0 by default).
    progress : bool, optional
        Show a progress bar; by default only for long runs.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> g = np.repeat(np.arange(40), 20)
    >>> x = rng.normal(size=40)[g]
    >>> y = 0.5 * x + rng.normal(0, 0.4, 40)[g] + rng.normal(size=800)
    >>> d = pd.DataFrame({"y": y, "x": x, "school": g})
    >>> r = between_variance_explained(d, outcome="y", covariates=["x"], cluster="school", n_boot=200,
    ...                                seed=1, progress=False)
    >>> bool(r.ci_low < r.estimate < r.ci_high)
    True
    """
    from .models import _lmm

    data = as_frame(data)
    covariates = as_list(covariates)
    if not covariates:
        raise DataError("between_variance_explained needs at least one covariate.")
    require_columns(data, [outcome, cluster, *covariates])
    for col in [outcome, *covariates]:
        require_numeric(data, col)
    ci_level = check_probability("ci_level", ci_level)
    n_boot = check_positive_int("n_boot", n_boot, minimum=1)
    keep = data[[outcome, *covariates]].apply(pd.to_numeric, errors="coerce").notna().all(axis=1) & data[cluster].notna()
    sub = data.loc[keep]
    y = pd.to_numeric(sub[outcome]).to_numpy(float)
    Xc = np.column_stack([np.ones(len(sub))] + [pd.to_numeric(sub[c]).to_numpy(float) for c in covariates])
    codes_lab, inv = np.unique(sub[cluster].astype(str).to_numpy(), return_inverse=True)
    j = len(codes_lab)
    if j < 3:
        raise DataError(f"A between-group variance needs at least 3 groups in {cluster!r}, but {j} were found.")
    if np.linalg.matrix_rank(Xc) < Xc.shape[1]:
        raise DataError(f"The covariates {covariates} are collinear (or one is constant) in the complete rows.")
    taus = []
    for X in (Xc[:, :1], Xc):
        fit = _lmm.fit(_lmm.TwoLevel.from_data(y, X, np.ones((len(y), 1)), inv, j), reml=True,
                       satterthwaite_df=False)
        taus.append(float(fit.theta[0] ** 2 * fit.sigma2))
    if taus[0] <= 0:
        raise DataError(f"The between-group variance of {outcome!r} is estimated at 0, so no share of it "
                        "can be explained.")
    idx = cluster_bootstrap_indices(j, n_boot, seed)
    progress = show_progress(progress, seconds=n_boot * j / 50_000)
    t0, _, _ = _cluster_boot_reml(y, Xc[:, :1], inv, j, idx, progress=progress, desc="bootstrap null model")
    t1, _, _ = _cluster_boot_reml(y, Xc, inv, j, idx, progress=progress, desc="bootstrap covariate model")
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(t0 > 0, 1 - t1 / t0, np.nan)
    ok = np.isfinite(share) & np.isfinite(t1)
    if ok.sum() < max(20, 0.9 * n_boot):
        raise DataError(f"Only {int(ok.sum())} of {n_boot} cluster-bootstrap replicates could be fitted; "
                        "the groups are too few or too alike for an interval.")
    lo, hi = _percentile(share[ok], ci_level)
    l0, h0 = _percentile(t0[ok], ci_level)
    l1, h1 = _percentile(t1[ok], ci_level)
    return VarianceExplainedResult(
        estimate=1 - taus[1] / taus[0], ci_low=lo, ci_high=hi, ci_level=ci_level,
        tau00_null=taus[0], tau00_null_ci_low=l0, tau00_null_ci_high=h0,
        tau00_model=taus[1], tau00_model_ci_low=l1, tau00_model_ci_high=h1,
        n=len(y), n_clusters=j, n_excluded=int((~keep).sum()), n_boot=n_boot, n_boot_failed=int((~ok).sum()),
        outcome=outcome, covariates=tuple(covariates), cluster=cluster)


# ----------------------------------------------------------------------------------------------
# test-retest reliability


@dataclasses.dataclass(frozen=True)
class RetestResult(Result):
    """Test-retest reliability of a score measured twice on the same pupils.

    Attributes
    ----------
    estimate : float
        ICC(A,1): two-way random effects, absolute agreement, one measurement
        (McGraw & Wong's ICC(A,1); ``psych::ICC``'s ICC2).
    ci_low, ci_high, ci_level : float
        Its F-based confidence interval (McGraw & Wong, 1996).
    icc_consistency : float
        ICC(C,1) (consistency: a shift of every pupil by the same amount is not
        counted as disagreement).
    statistic, df, df2, p : float
        F test of ICC = 0: F = MS(pupils) / MS(error) on ``df`` and ``df2`` degrees of freedom.
    mean_change : float
        Mean of ``after - before``: the shift that agreement counts and consistency ignores.
    sd : float
        Standard deviation of the ``before`` scores.
    sem : float
        Standard error of measurement, ``sd * sqrt(1 - estimate)``.
    n, n_excluded : int
        Pupils with a score at both waves, and pupils with a score at only one (left out).
    outcome : str
    before, after : object
        The two waves compared.
    """

    estimate: float
    ci_low: float
    ci_high: float
    ci_level: float
    icc_consistency: float
    statistic: float
    df: float
    df2: float
    p: float
    mean_change: float
    sd: float
    sem: float
    n: int
    n_excluded: int
    outcome: str
    before: object
    after: object

    __test__ = False          # not a test class, whatever its module imports it as
    title = "Test-retest reliability (ICC for absolute agreement)"

    def to_frame(self) -> pd.DataFrame:
        """term, estimate, ci_low, ci_high, statistic, df, p, n: ICC(A,1), then ICC(C,1) and the SEM."""
        return pd.DataFrame([
            {"term": "ICC(A,1)", "estimate": self.estimate, "ci_low": self.ci_low, "ci_high": self.ci_high,
             "statistic": self.statistic, "df": self.df, "p": self.p, "n": self.n},
            {"term": "ICC(C,1)", "estimate": self.icc_consistency, "ci_low": np.nan, "ci_high": np.nan,
             "statistic": np.nan, "df": np.nan, "p": np.nan, "n": self.n},
            {"term": "sem", "estimate": self.sem, "ci_low": np.nan, "ci_high": np.nan,
             "statistic": np.nan, "df": np.nan, "p": np.nan, "n": self.n}])

    def notes(self) -> list[str]:
        return [f"{self.outcome!r} at waves {self.before!r} and {self.after!r}: {self.n} pupils with both "
                f"({self.n_excluded} with only one, left out); mean change {self.mean_change:+.3f}.",
                "Real change between the waves counts as disagreement, so the ICC is a lower bound on the "
                "reliability of one occasion's score when pupils changed in between."]


def test_retest(data: pd.DataFrame, *, outcome: str, id: str, wave: str, before, after,
                ci_level: float = 0.95) -> RetestResult:
    """Test-retest reliability from two waves: the ICC for absolute agreement.

    Parameters
    ----------
    data : pandas.DataFrame
        Long format: one row per pupil per wave.
    outcome : str
        The score (numeric).
    id : str
        Pupil identifier (kept as text).
    wave : str
        Wave column.
    before, after : object
        The two values of ``wave`` to compare.
    ci_level : float
        Level of the interval (default 0.95).

    Returns
    -------
    RetestResult

    Raises
    ------
    ColumnError
        A column is missing, or ``outcome`` is not numeric.
    DataError
        A pupil has two rows at one wave (named, rows counted from 1), a wave value
        is absent, or fewer than 3 pupils have a score at both waves.

    Notes
    -----
    From the two-way ANOVA of the ``n`` pupils by ``k = 2`` waves, with mean
    squares for pupils (MSR), waves (MSC) and error (MSE),

    .. math:: ICC(A,1) = \\frac{MSR - MSE}{MSR + (k-1)MSE + k(MSC - MSE)/n},

    and the interval is McGraw and Wong's (1996) for their case 2A, with
    Satterthwaite's degrees of freedom, as ``psych::ICC``.  Agreement counts a
    shift of the whole group between the waves as error; consistency
    (``icc_consistency``) does not.  For the reliable change index
    (:func:`belonging_lib.transitions.reliable_change`), test-retest reliability
    measures the occasion-to-occasion noise that Cronbach's alpha (one sitting)
    cannot see.  If pupils really changed between the waves, that change also
    lowers the ICC: the estimate is then a lower bound, and reliable change
    flags based on it are conservative.

    Checked against ``psych::ICC(lmer = FALSE)`` and lme4's variance components
    (``tests/reference/retest.R``) and against ``pingouin.intraclass_corr``.

    References
    ----------
    McGraw, K. O., & Wong, S. P. (1996). Forming inferences about some
    intraclass correlation coefficients. *Psychological Methods*, 1(1), 30-46.
    https://doi.org/10.1037/1082-989X.1.1.30

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(2)
    >>> true = rng.normal(size=200)
    >>> long = pd.DataFrame({"pupil": np.tile(np.arange(200).astype(str), 2), "wave": np.repeat([1, 2], 200),
    ...                      "score": np.concatenate([true, true]) + rng.normal(scale=0.5, size=400)})
    >>> res = test_retest(long, outcome="score", id="pupil", wave="wave", before=1, after=2)
    >>> bool(0.7 < res.estimate < 0.9)
    True
    """
    data = as_frame(data)
    require_columns(data, [outcome, id, wave], role="column")
    require_numeric(data, [outcome])
    require_finite(data, [outcome], what="test-retest reliability")
    level = check_probability("ci_level", ci_level)
    for w in (before, after):
        if not (data[wave] == w).any():
            raise DataError(f"Column {wave!r} has no rows with the value {w!r}.")
    if before == after:
        raise DataError("`before` and `after` must be two different waves.")
    sub = data.loc[data[wave].isin([before, after]) & data[outcome].notna(), [id, wave, outcome]]
    dup = sub.duplicated([id, wave], keep=False)
    if dup.any():
        first = sub.loc[dup[dup].index[0]]
        same = (data[id].astype(str) == str(first[id])) & (data[wave] == first[wave])
        raise DataError(f"Pupil {str(first[id])!r} has more than one row at {wave} = {first[wave]} "
                        f"({describe_rows(row_numbers(data, same))}); keep one row per pupil per wave.")
    wide = sub.assign(**{id: sub[id].astype(str)}).pivot(index=id, columns=wave, values=outcome)
    both = wide[[before, after]].dropna()
    n, k = len(both), 2
    n_excluded = int(len(wide) - n)
    if n < 3:
        raise DataError(f"Test-retest reliability needs at least 3 pupils with {outcome!r} at both waves, "
                        f"but {n} have it ({n_excluded} have only one).")
    x = both.to_numpy(dtype=float)
    grand = x.mean()
    ss_rows = k * ((x.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((x.mean(axis=0) - grand) ** 2).sum()
    ss_err = ((x - grand) ** 2).sum() - ss_rows - ss_cols
    msr, msc = ss_rows / (n - 1), ss_cols / (k - 1)
    mse = ss_err / ((n - 1) * (k - 1))
    if not mse > 0:
        raise DataError(f"Every pupil's {outcome!r} differs between the waves by exactly the same amount: "
                        "there is no measurement error to estimate.")
    icc_a = (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)
    icc_c = (msr - mse) / (msr + (k - 1) * mse)
    f = msr / mse
    df1, df2 = n - 1.0, (n - 1.0) * (k - 1.0)
    p = float(stats.f.sf(f, df1, df2))
    # McGraw & Wong (1996), case 2A; psych::ICC's bounds for ICC2
    a = k * icc_a / (n * (1 - icc_a))
    b = 1 + k * icc_a * (n - 1) / (n * (1 - icc_a))
    v = (a * msc + b * mse) ** 2 / ((a * msc) ** 2 / (k - 1) + (b * mse) ** 2 / ((n - 1) * (k - 1)))
    q = 1 - (1 - level) / 2
    fl, fu = stats.f.ppf(q, n - 1, v), stats.f.ppf(q, v, n - 1)
    low = n * (msr - fl * mse) / (fl * (k * msc + (k * n - k - n) * mse) + n * msr)
    high = n * (fu * msr - mse) / (k * msc + (k * n - k - n) * mse + n * fu * msr)
    sd = float(both[before].std(ddof=1))
    return RetestResult(estimate=float(icc_a), ci_low=float(low), ci_high=float(high), ci_level=level,
                        icc_consistency=float(icc_c), statistic=float(f), df=df1, df2=df2, p=p,
                        mean_change=float((both[after] - both[before]).mean()), sd=sd,
                        sem=float(sd * np.sqrt(max(1 - icc_a, 0.0))), n=int(n), n_excluded=n_excluded,
                        outcome=outcome, before=before, after=after)


test_retest.__test__ = False      # a statistic, not a pytest test, wherever it is imported
