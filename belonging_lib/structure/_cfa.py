"""Confirmatory factor analysis and measurement invariance (lavaan-compatible ML)."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import optimize, stats

from .._errors import BelongingWarning, DataError, ModelError
from .._results import EstimateTable, Result, format_p, tidy
from .._validation import as_frame, check_choice, require_columns, require_finite, require_numeric
from . import _mgml as M

__all__ = ["CFAResult", "InvarianceResult", "ReleaseTests", "cfa", "invariance", "release_tests", "FIT_COLUMNS"]

#: fit statistics reported for every model, with lavaan's names in brackets:
#: chisq, df, p (pvalue), baseline_chisq, baseline_df, cfi, tli, rmsea (rmsea),
#: rmsea_ci_low (rmsea.ci.lower), rmsea_ci_high (rmsea.ci.upper), srmr (srmr = srmr_bentler)
FIT_COLUMNS = ["chisq", "df", "p", "baseline_chisq", "baseline_df", "cfi", "tli", "rmsea",
               "rmsea_ci_low", "rmsea_ci_high", "srmr", "npar", "n"]

_EQUAL = ("loadings", "intercepts", "residuals", "residual.covariances")


# --------------------------------------------------------------------------- data
def _prepare(data, mm: M.MeasurementModel, group, missing="listwise"):
    data = as_frame(data)
    items = list(mm.items)
    require_columns(data, items, role="item column")
    require_numeric(data, items)
    require_finite(data, items, what="factor model")
    cols = items + ([group] if group is not None else [])
    if group is not None:
        require_columns(data, group, role="group column")
    frame = data[cols]
    x = frame[items].apply(pd.to_numeric, errors="coerce")
    keep = x.notna().all(axis=1) if missing == "listwise" else x.notna().any(axis=1)
    if group is not None:
        keep &= frame[group].notna()
    n_excluded = int((~keep).sum())
    x = x.loc[keep]
    if group is None:
        blocks = {None: x.to_numpy(dtype=float)}
    else:
        g = frame.loc[keep, group]
        if isinstance(g.dtype, pd.CategoricalDtype):
            levels = [lv for lv in g.cat.categories if (g == lv).any()]
        else:
            levels = list(pd.unique(g))          # order of appearance, as lavaan
        if len(levels) < 2:
            raise DataError(f"Group column {group!r} has {len(levels)} level among the complete rows; "
                            "at least 2 are needed for a multi-group model.")
        blocks = {lv: x.loc[(g == lv).to_numpy()].to_numpy(dtype=float) for lv in levels}
    p = len(items)
    for lv, b in blocks.items():
        if b.shape[0] <= p:
            where = "the data" if lv is None else f"group {lv!r} of {group!r}"
            raise DataError(f"{where} has {b.shape[0]} complete rows for {p} items; more rows than items are "
                            "needed to fit the model.")
    return blocks, n_excluded, int(len(data))


# --------------------------------------------------------------------------- fit statistics
def _rmsea_ci(chisq: float, df: int, n: int, n_groups: int, level: float = 0.90):
    """lavaan's RMSEA confidence interval from the noncentral chi-square."""
    if df <= 0:
        return np.nan, np.nan
    hi_p, lo_p = (1 + level) / 2, (1 - level) / 2

    def solve(prob):
        f = lambda lam: stats.ncx2.cdf(chisq, df, lam) - prob if lam > 0 else stats.chi2.cdf(chisq, df) - prob  # noqa: E731
        if f(0.0) < 0:
            return 0.0
        hi = max(chisq, 1.0)
        while f(hi) > 0:
            hi *= 2
        return optimize.brentq(f, 0.0, hi, xtol=1e-12, rtol=1e-14)

    lam_l, lam_u = solve(hi_p), solve(lo_p)
    scale = np.sqrt(n_groups)
    return np.sqrt(lam_l / (n * df)) * scale, np.sqrt(lam_u / (n * df)) * scale


def _srmr(fit: M.Fit) -> float:
    """lavaan's ``srmr`` (= ``srmr_bentler``): residuals scaled by the observed SDs,
    means included under a mean structure; groups weighted by N_g / N."""
    total = 0.0
    for g, d in enumerate(fit.data):
        sigma, mu = M.implied(fit.spec, fit.theta, g)
        sd = np.sqrt(np.diag(d.cov))
        res = (d.cov - sigma) / np.outer(sd, sd)
        r, c = np.tril_indices(len(sd))
        e = list(res[r, c])
        if fit.spec.meanstructure:
            e += list((d.mean - mu) / sd)
        total += d.n / fit.n * np.sqrt(np.mean(np.square(e)))
    return float(total)


def _baseline(fit: M.Fit):
    """Independence model per group (free variances, and free means under a mean structure)."""
    if getattr(fit.data[0], "patterns", None) is not None:
        chisq = sum(d.n * (d.baseline_value - d.h1_value) for d in fit.data)
    else:
        chisq = sum(d.n * (np.sum(np.log(np.diag(d.cov))) - d.logdet) for d in fit.data)
    p = len(fit.spec.mm.items)
    df = fit.spec.n_groups * p * (p - 1) // 2
    return float(chisq), int(df)


def fit_measures(fit: M.Fit) -> pd.Series:
    chisq, df, n, G = fit.chisq, fit.df, fit.n, fit.spec.n_groups
    bchisq, bdf = _baseline(fit)
    t1, t2 = chisq - df, bchisq - bdf
    cfi = 1.0 if (t1 < 0 and t2 < 0) else 1 - max(t1, 0) / max(t1, t2)
    tli = (bchisq / bdf - chisq / df) / (bchisq / bdf - 1) if df > 0 else np.nan
    rmsea = np.sqrt(max(chisq / (n * df) - 1 / n, 0.0)) * np.sqrt(G) if df > 0 else np.nan
    lo, hi = _rmsea_ci(chisq, df, n, G)
    return pd.Series({
        "chisq": chisq, "df": float(df), "p": float(stats.chi2.sf(chisq, df)) if df > 0 else np.nan,
        "baseline_chisq": bchisq, "baseline_df": float(bdf), "cfi": cfi, "tli": tli,
        "rmsea": rmsea, "rmsea_ci_low": lo, "rmsea_ci_high": hi, "srmr": _srmr(fit),
        "npar": float(fit.spec.n_par), "n": float(n)}, name="fit")


# --------------------------------------------------------------------------- result
@dataclasses.dataclass(frozen=True, eq=False)
class CFAResult(Result):
    """A fitted confirmatory factor model (ML, lavaan's conventions).

    Attributes
    ----------
    fit : pandas.Series
        chisq, df, p, baseline_chisq, baseline_df, cfi, tli, rmsea,
        rmsea_ci_low, rmsea_ci_high (90%), srmr, npar, n.
    loadings : pandas.DataFrame
        One row per item (and group): factor, item, estimate, se, statistic,
        p, std_estimate (lavaan's ``std.all``), r2.
    parameters : pandas.DataFrame
        Every parameter: term (lavaan syntax), group, kind, estimate, se,
        statistic, p, ci_low, ci_high, std_estimate, free (parameter number).
    factor_correlations : pandas.DataFrame
        Model-implied correlations of the factors (with a ``group`` column
        level in multi-group models).
    omega : pandas.DataFrame
        Omega per factor (and group), as ``semTools::compRelSEM`` with its
        defaults.
    n, n_excluded : int
        Rows used, and rows excluded listwise for a missing item (or group) value.
    group : str or None
        The multi-group column (lavaan's ``group``).
    groups, group_sizes : tuple
        The levels of ``group`` in the model's order (lavaan's group labels)
        and their sizes; ``(None,)`` and ``(n,)`` in a single-group model.
    """

    model: str
    fit: pd.Series
    loadings: pd.DataFrame
    parameters: pd.DataFrame
    factor_correlations: pd.DataFrame
    omega: pd.DataFrame
    n: int
    n_excluded: int
    n_rows: int
    group: str | None
    groups: tuple
    group_sizes: tuple
    equal: tuple
    converged: bool
    missing: str = "listwise"
    _fit: object = dataclasses.field(repr=False, compare=False, default=None)

    title = "Confirmatory factor analysis (ML)"

    def to_frame(self) -> pd.DataFrame:
        """The parameter table, tidy columns first (then group, kind, ``std_estimate``, free)."""
        return tidy(self.parameters)

    def latent_means(self) -> pd.DataFrame:
        """Latent mean differences from the first (reference) group.

        Only meaningful in a model with equal loadings and intercepts (scalar,
        or partial scalar), where the latent means are free in every group
        but the first.  ``std_difference`` divides by the reference group's
        factor standard deviation (a Cohen's-d-like scale for the latent
        variable); ``ci_low``/``ci_high`` are 95% Wald limits of ``estimate``
        and ``std_ci_low``/``std_ci_high`` the same limits divided by that
        standard deviation (treated as known, so slightly too narrow).

        Returns
        -------
        pandas.DataFrame
            group, factor, estimate, se, ci_low, ci_high, statistic, p,
            std_difference, std_ci_low, std_ci_high.
        """
        if self.group is None or "intercepts" not in self.equal:
            raise ModelError("Latent means are compared only in a multi-group model with equal loadings "
                             "and intercepts (equal=('loadings', 'intercepts')).")
        par = self.parameters
        ref_var = (par[(par["group"] == self.groups[0]) & (par["kind"] == "factor variance")]
                   .assign(factor=lambda t: t["term"].str.split(" ~~ ").str[0])
                   .set_index("factor")["estimate"])
        means = par[(par["kind"] == "latent mean") & (par["group"] != self.groups[0])].copy()
        means["factor"] = means["term"].str.replace(" ~ 1", "", regex=False)
        scale = np.sqrt(means["factor"].map(ref_var))
        means["std_difference"] = means["estimate"] / scale
        means["std_ci_low"] = means["ci_low"] / scale
        means["std_ci_high"] = means["ci_high"] / scale
        cols = ["group", "factor", "estimate", "se", "ci_low", "ci_high", "statistic", "p", "std_difference",
                "std_ci_low", "std_ci_high"]
        return means[cols].reset_index(drop=True)

    def standardized(self, *, ci_level: float = 0.95) -> pd.DataFrame:
        """Standardised loadings, variances and covariances with delta-method intervals.

        The standardised solution is lavaan's ``std.all`` (``std_estimate`` in
        :attr:`parameters`): loadings scaled by the factor and item standard
        deviations, factor covariances turned into factor correlations,
        residual variances into the share of item variance the factor leaves
        unexplained.  Standard errors come from the delta method: the
        derivative of each standardised value with respect to the free
        parameters (central differences) sandwiched around the parameters'
        covariance matrix, as ``lavaan::standardizedSolution()``.  Limits are
        Wald limits, estimate +/- z * se, also as lavaan's.

        Parameters
        ----------
        ci_level : float
            Confidence level of the limits (default 0.95).

        Returns
        -------
        pandas.DataFrame
            One row per loading, residual variance or covariance and factor
            variance or covariance (per group in a multi-group model): term,
            (group,) kind, lhs, rhs, estimate (standardised), se, ci_low,
            ci_high, ci_level, statistic, p.  A factor correlation is the
            row of kind ``"factor covariance"``.
        """
        if not 0 < ci_level < 1:
            raise ModelError(f"`ci_level` must be between 0 and 1, not {ci_level!r}.")
        fit = self._fit
        if fit is None:
            raise ModelError("This result has no fitted model to standardise (it was not made by cfa()).")
        rows, values = _std_rows(fit.spec, fit.theta, list(self.groups))
        jac = _std_jacobian(fit.spec, fit.theta, len(self.groups), values)
        vc = fit.vcov()
        se = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", jac, vc, jac), 0, None))
        se = np.where(np.isfinite(values), se, np.nan)
        z = stats.norm.ppf(0.5 + ci_level / 2)
        out = pd.DataFrame(rows)
        out["estimate"] = values
        out["se"] = se
        out["ci_low"] = values - z * se
        out["ci_high"] = values + z * se
        out["ci_level"] = ci_level
        with np.errstate(divide="ignore", invalid="ignore"):
            stat = np.where(se > 0, values / se, np.nan)
        out["statistic"] = stat
        out["p"] = 2 * stats.norm.sf(np.abs(stat))
        if self.group is None:
            out = out.drop(columns="group")
        return out

    def notes(self) -> list[str]:
        f = self.fit
        lines = [f"chi-square({f['df']:.0f}) = {f['chisq']:.2f}, {format_p(f['p'])}; "
                 f"CFI = {f['cfi']:.3f}, TLI = {f['tli']:.3f}, RMSEA = {f['rmsea']:.3f} "
                 f"[90% CI {f['rmsea_ci_low']:.3f}, {f['rmsea_ci_high']:.3f}], SRMR = {f['srmr']:.3f}",
                 f"N = {self.n} ({self.n_excluded} of {self.n_rows} rows excluded "
                 + ("listwise for missing values)." if self.missing == "listwise" else
                    "with no answered item; full-information ML for the rest).")]
        if self.group is not None:
            sizes = ", ".join(f"{g}: {n}" for g, n in zip(self.groups, self.group_sizes))
            eq = ", ".join(self.equal) if self.equal else "none (configural)"
            lines.append(f"Groups by {self.group!r} ({sizes}); equal across groups: {eq}.")
        if not self.converged:
            lines.append("WARNING: the optimiser did not converge; do not interpret these estimates.")
        return lines

    def summary(self) -> str:
        cols = ["factor", "item", "estimate", "se", "std_estimate", "r2"]
        if self.group is not None:
            cols = ["group"] + cols
        lines = [self.title, "=" * len(self.title)] + self.notes() + ["", "Loadings"]
        lines.append(self.loadings[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        lines += ["", "Omega (semTools::compRelSEM)",
                  self.omega.to_string(index=False, float_format=lambda v: f"{v:.3f}")]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        fit = self.fit[["chisq", "df", "p", "cfi", "tli", "rmsea", "rmsea_ci_low", "rmsea_ci_high", "srmr"]]
        fmt = lambda v: f"{v:.3f}"  # noqa: E731
        cols = ["factor", "item", "estimate", "se", "std_estimate", "r2"]
        if self.group is not None:
            cols = ["group"] + cols
        notes = "".join(f"<p style='margin:0'><small>{n}</small></p>" for n in self.notes())
        return (f"<div class='bl-result'><strong>{self.title}</strong>"
                + fit.to_frame().T.to_html(float_format=fmt, border=0, classes="bl-table", index=False)
                + self.loadings[cols].to_html(float_format=fmt, border=0, classes="bl-table", index=False)
                + notes + "</div>")


def _build_result(model, mm, fit: M.Fit, blocks, n_excluded, n_rows, group, equal,
                  missing="listwise") -> CFAResult:
    spec, theta = fit.spec, fit.theta
    vc = fit.vcov()
    se_all = np.sqrt(np.clip(np.diag(vc), 0, None))
    levels = list(blocks)
    items, factors = list(mm.items), list(mm.factors)
    z = stats.norm.ppf(0.975)
    prows, lrows, orows, crows = [], [], [], []
    for g, lv in enumerate(levels):
        lam, the, psi, nu, alpha = M.matrices(spec, theta, g)
        sigma, _ = M.implied(spec, theta, g)
        sd_obs = np.sqrt(np.diag(sigma))
        # a factor whose variance is estimated as zero or negative (a Heywood case, warned about) has no
        # standard deviation: its standardised estimates are missing, as lavaan's are
        var_lat = np.diag(psi)
        sd_lat = np.sqrt(np.where(var_lat > 0, var_lat, np.nan))
        free = {(mat, r, c): k for mat, r, c, k in spec.entries[g]}

        def row(mat, r, c, term, kind, est, std):
            k = free.get((mat, r, c))
            se = se_all[k] if k is not None else np.nan
            stat = est / se if k is not None and se > 0 else np.nan
            prows.append({"term": term, "group": lv, "kind": kind, "estimate": est, "se": se,
                          "ci_low": est - z * se, "ci_high": est + z * se, "statistic": stat,
                          "p": 2 * stats.norm.sf(abs(stat)) if stat == stat else np.nan,
                          "std_estimate": std, "free": (k + 1) if k is not None else 0})
            return se, stat

        for j, f in enumerate(factors):
            for item in mm.indicators[f]:
                i = items.index(item)
                std = lam[i, j] * sd_lat[j] / sd_obs[i]
                se, stat = row(M.LAMBDA, i, j, f"{f} =~ {item}", "loading", lam[i, j], std)
                lrows.append({"group": lv, "factor": f, "item": item, "estimate": lam[i, j], "se": se,
                              "statistic": stat, "p": 2 * stats.norm.sf(abs(stat)) if stat == stat else np.nan,
                              "std_estimate": std, "r2": 1 - the[i, i] / sigma[i, i]})
        for i, item in enumerate(items):
            row(M.THETA, i, i, f"{item} ~~ {item}", "residual variance", the[i, i], the[i, i] / sigma[i, i])
        for a, b in mm.residual_covs:
            i, k = sorted((items.index(a), items.index(b)), reverse=True)
            row(M.THETA, i, k, f"{a} ~~ {b}", "residual covariance", the[i, k],
                the[i, k] / (sd_obs[i] * sd_obs[k]))
        for j, f in enumerate(factors):
            for k in range(j + 1):
                kind = "factor variance" if j == k else "factor covariance"
                std = psi[j, k] / (sd_lat[j] * sd_lat[k])
                row(M.PSI, j, k, f"{factors[k]} ~~ {f}", kind, psi[j, k], std)
        if spec.meanstructure:
            for i, item in enumerate(items):
                row(M.NU, i, 0, f"{item} ~ 1", "intercept", nu[i, 0], nu[i, 0] / sd_obs[i])
            for j, f in enumerate(factors):
                row(M.ALPHA, j, 0, f"{f} ~ 1", "latent mean", alpha[j, 0],
                    alpha[j, 0] / sd_lat[j] if sd_lat[j] > 0 else np.nan)
        corr = psi / np.outer(sd_lat, sd_lat)
        for j, f in enumerate(factors):
            crows.append({"group": lv, "factor": f, **{h: corr[j, k] for k, h in enumerate(factors)}})
        s = fit.data[g].cov
        for j, f in enumerate(factors):
            idx = [items.index(v) for v in mm.indicators[f]]
            num = lam[idx, j].sum() ** 2 * psi[j, j]
            orows.append({"group": lv, "factor": f, "omega": num / s[np.ix_(idx, idx)].sum(),
                          "omega_model": num / sigma[np.ix_(idx, idx)].sum(), "n_items": len(idx)})
    params = pd.DataFrame(prows)
    loadings = pd.DataFrame(lrows)
    omega = pd.DataFrame(orows)
    corr = pd.DataFrame(crows)
    if group is None:
        params, loadings, omega = (t.drop(columns="group") for t in (params, loadings, omega))
        corr = corr.drop(columns="group").set_index("factor")
        corr.index.name = None
    else:
        corr = corr.set_index(["group", "factor"])
    return CFAResult(model=model, fit=fit_measures(fit), loadings=loadings, parameters=params,
                     factor_correlations=corr, omega=omega, n=fit.n, n_excluded=n_excluded,
                     n_rows=n_rows, group=group, groups=tuple(levels),
                     group_sizes=tuple(int(b.shape[0]) for b in blocks.values()), equal=tuple(equal),
                     converged=fit.converged, missing=missing, _fit=fit)


# --------------------------------------------------------------------------- standardised solution
def _std_values(spec: M.Spec, theta: np.ndarray, n_groups: int) -> np.ndarray:
    """lavaan's std.all of every loading and (co)variance, in the order of :func:`_std_rows`."""
    mm = spec.mm
    items, factors = list(mm.items), list(mm.factors)
    out = []
    for g in range(n_groups):
        lam, the, psi, _nu, _alpha = M.matrices(spec, theta, g)
        sigma, _ = M.implied(spec, theta, g)
        sd_obs = np.sqrt(np.diag(sigma))
        var_lat = np.diag(psi)
        sd_lat = np.sqrt(np.where(var_lat > 0, var_lat, np.nan))
        for j, f in enumerate(factors):
            for item in mm.indicators[f]:
                i = items.index(item)
                out.append(lam[i, j] * sd_lat[j] / sd_obs[i])
        for i in range(len(items)):
            out.append(the[i, i] / sigma[i, i])
        for a, b in mm.residual_covs:
            i, k = sorted((items.index(a), items.index(b)), reverse=True)
            # lavaan standardises a residual covariance by the residual standard deviations
            out.append(the[i, k] / np.sqrt(the[i, i] * the[k, k]) if the[i, i] > 0 and the[k, k] > 0 else np.nan)
        for j in range(len(factors)):
            for k in range(j + 1):
                out.append(psi[j, k] / (sd_lat[j] * sd_lat[k]))
    return np.asarray(out, dtype=float)


def _std_rows(spec: M.Spec, theta: np.ndarray, levels: list) -> tuple[list, np.ndarray]:
    """Labels of the standardised values (term, group, kind, lhs, rhs) and the values at ``theta``."""
    mm = spec.mm
    items, factors = list(mm.items), list(mm.factors)
    rows = []
    for lv in levels:
        for f in factors:
            rows += [{"term": f"{f} =~ {item}", "group": lv, "kind": "loading", "lhs": f, "rhs": item}
                     for item in mm.indicators[f]]
        rows += [{"term": f"{item} ~~ {item}", "group": lv, "kind": "residual variance", "lhs": item,
                  "rhs": item} for item in items]
        rows += [{"term": f"{a} ~~ {b}", "group": lv, "kind": "residual covariance", "lhs": a, "rhs": b}
                 for a, b in mm.residual_covs]
        for j, f in enumerate(factors):
            for k in range(j + 1):
                rows.append({"term": f"{factors[k]} ~~ {f}", "group": lv,
                             "kind": "factor variance" if j == k else "factor covariance",
                             "lhs": factors[k], "rhs": f})
    return rows, _std_values(spec, theta, len(levels))


def _std_jacobian(spec: M.Spec, theta: np.ndarray, n_groups: int, values: np.ndarray) -> np.ndarray:
    """Derivatives of the standardised values with respect to the free parameters (central differences)."""
    theta = np.asarray(theta, dtype=float)
    jac = np.empty((values.size, theta.size))
    h = 1e-6 * np.maximum(np.abs(theta), 1.0)
    for j in range(theta.size):
        e = np.zeros_like(theta)
        e[j] = h[j]
        jac[:, j] = (_std_values(spec, theta + e, n_groups) - _std_values(spec, theta - e, n_groups)) / (2 * h[j])
    return np.where(np.isfinite(jac), jac, 0.0)


# --------------------------------------------------------------------------- single group via semopy
def _semopy_start(model_text: str, mm: M.MeasurementModel, spec: M.Spec, x: np.ndarray,
                  cov: np.ndarray) -> np.ndarray | None:
    """Estimates from semopy (objective MLW on the divisor-N covariance), as a parameter vector."""
    try:
        import semopy
    except ImportError:  # pragma: no cover - semopy is a dependency
        return None
    items = list(mm.items)
    desc = "\n".join([f"{f} =~ " + " + ".join(mm.indicators[f]) for f in mm.factors]
                     + [f"{a} ~~ {b}" for a, b in mm.residual_covs])
    model = semopy.Model(desc)
    frame = pd.DataFrame(x, columns=items)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(frame, cov=pd.DataFrame(cov, index=items, columns=items), obj="MLW")
        est = model.inspect()
    except Exception:  # noqa: BLE001 - any semopy failure falls back to our own start values
        return None
    factors = list(mm.factors)
    theta = np.full(spec.n_par, np.nan)
    for _, r in est.iterrows():
        lv, op, rv, val = r["lval"], r["op"], r["rval"], float(r["Estimate"])
        key = None
        if op == "~" and rv in factors and lv in items:
            key = (M.LAMBDA, items.index(lv), factors.index(rv))
        elif op == "~~" and lv in items and rv in items:
            i, k = sorted((items.index(lv), items.index(rv)), reverse=True)
            key = (M.THETA, i, k)
        elif op == "~~" and lv in factors and rv in factors:
            i, k = sorted((factors.index(lv), factors.index(rv)), reverse=True)
            key = (M.PSI, i, k)
        if key is None:
            continue
        for mat, rr, cc, k in spec.entries[0]:
            if (mat, rr, cc) == key:
                theta[k] = val
    return None if np.isnan(theta).any() else theta


# --------------------------------------------------------------------------- public API
def _parse_partial(partial, mm: M.MeasurementModel) -> tuple:
    out = []
    items, factors = list(mm.items), list(mm.factors)
    for term in [partial] if isinstance(partial, str) else list(partial or ()):
        t = str(term).replace(" ", "")
        if "=~" in t:
            f, item = t.split("=~")
            if f not in factors or item not in mm.indicators.get(f, ()):
                raise ModelError(f"`partial` term {term!r}: {item!r} is not an item of factor {f!r}.")
            out.append((M.LAMBDA, items.index(item), factors.index(f)))
        elif "~~" in t:
            a, b = t.split("~~")
            if a not in items or b not in items:
                raise ModelError(f"`partial` term {term!r} does not name items of the model.")
            i, k = sorted((items.index(a), items.index(b)), reverse=True)
            out.append((M.THETA, i, k))
        elif t.endswith("~1") or t in items:
            item = t[:-2] if t.endswith("~1") else t
            if item not in items:
                raise ModelError(f"`partial` term {term!r}: {item!r} is not an item of the model.")
            out.append((M.NU, items.index(item), 0))
        else:
            raise ModelError(f"Cannot read the `partial` term {term!r}; use lavaan's forms such as "
                             "'engage =~ engage_3' (loading), 'engage_3 ~ 1' (intercept) or 'engage_3 ~~ engage_3'.")
    return tuple(out)


def cfa(data: pd.DataFrame, model: str, *, group: str | None = None, equal: Sequence[str] = (),
        partial: Sequence[str] | str | None = None, estimator: str = "ML",
        missing: str = "listwise", orthogonal: bool = False) -> CFAResult:
    """Fit a confirmatory factor model by maximum likelihood, as lavaan's ``cfa()``.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per respondent; item columns numeric.
    model : str
        lavaan-style model: one line per factor (``visual =~ x1 + x2 + x3``)
        and optional residual covariances (``x1 ~~ x4``).  The first item of
        each factor is its marker (loading fixed at 1).
    group : str, optional
        Column defining groups for a multi-group model (groups in order of
        first appearance, or category order for a categorical column).
    equal : sequence of str
        Parameters held equal across groups, as lavaan's ``group.equal``:
        any of ``"loadings"``, ``"intercepts"``, ``"residuals"``,
        ``"residual.covariances"``.
    partial : str or sequence of str, optional
        Parameters freed from ``equal``, as lavaan's ``group.partial``
        (``"engage =~ engage_3"``, ``"engage_3 ~ 1"``; a bare item name means
        its intercept).
    estimator : {"ML"}
        Only normal-theory maximum likelihood is available.
    missing : {"listwise", "ml"}
        ``"listwise"`` (lavaan's default): rows with a missing item (or
        group) value are excluded and counted (``n_excluded``).  ``"ml"``:
        full-information ML (lavaan's ``missing = "ml"``), which uses every
        row with at least one answered item, valid when values are missing
        at random given the items; the model then has a mean structure, the
        test statistic is :math:`2(\\log L_{H1} - \\log L_{H0})` with the
        saturated H1 model fitted by EM, SRMR uses the EM moments, and
        standard errors come from the observed information (lavaan's
        defaults for ``missing = "ml"``).
    orthogonal : bool
        Fix every factor covariance at zero (lavaan's ``orthogonal = TRUE``),
        as a bifactor model needs (see :func:`bifactor`).  Default ``False``:
        factor covariances free.

    Returns
    -------
    CFAResult

    Raises
    ------
    ModelError
        The model string cannot be read or the model cannot be fitted.
    ColumnError, DataError
        An item or group column is absent, not numeric, or too small.

    Notes
    -----
    Estimation follows lavaan's defaults for ``cfa()``: normal-theory ML
    with the sample covariance matrix computed with divisor :math:`N`
    (``likelihood = "normal"``), marker-variable identification, factor
    covariances free, listwise deletion of rows with a missing item, standard
    errors from the expected information.  The test statistic is
    :math:`T = \\sum_g N_g F_g` (see :mod:`._mgml`).  A single-group model is
    estimated by semopy (objective ``MLW`` on the divisor-:math:`N`
    covariance, which minimises the same function as lavaan) and then
    polished and evaluated by this module's own code; multi-group models (no
    Python library fits cross-group equality constraints) by the module's
    own ML estimator, with a mean structure.

    Fit statistics use lavaan's definitions: CFI and TLI against the
    independence model (variances and, with groups, means free in every
    group); :math:`\\mathrm{RMSEA} = \\sqrt{G}\\sqrt{\\max(T/(N\\,df) - 1/N, 0)}`
    with a 90% interval from the noncentral chi-square; SRMR is lavaan's
    ``srmr`` (Bentler's: residual covariances divided by the observed
    standard deviations, means included with groups, groups weighted by
    :math:`N_g/N`).  ``std_estimate`` is lavaan's ``std.all``.  Omega per
    factor is ``semTools::compRelSEM()`` with its defaults:
    :math:`(\\sum\\lambda)^2\\psi / \\mathbf 1^\\top S\\mathbf 1` with the observed
    covariance :math:`S` of the factor's items (``omega_model`` uses the
    model-implied covariance instead).

    Validated against lavaan 0.6 and semTools 0.5 (``tests/reference/structure.R``).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> f = rng.normal(size=(400, 1))
    >>> data = pd.DataFrame(f @ [[0.8, 0.7, 0.6, 0.5]] + rng.normal(scale=0.6, size=(400, 4)),
    ...                     columns=["a", "b", "c", "d"])
    >>> res = cfa(data, "f =~ a + b + c + d")
    >>> int(res.fit["df"])
    2
    >>> bool(res.loadings["std_estimate"].between(0.5, 0.95).all())
    True
    """
    check_choice("missing", missing, ["listwise", "ml"])
    with M._single_thread():
        return _cfa(model, data, group=group, equal=equal, partial=partial, estimator=estimator,
                    missing=missing, orthogonal=bool(orthogonal))


def _require_identified(spec: M.Spec) -> None:
    """Raise ModelError when the model has more free parameters than sample moments (df < 0)."""
    p = len(spec.mm.items)
    moments = spec.n_groups * (p * (p + 1) // 2 + (p if spec.meanstructure else 0))
    if spec.n_par > moments:
        raise ModelError(f"The model is not identified: it has {spec.n_par} free parameters but the {p} items "
                         f"give only {moments} sample moments (df = {moments - spec.n_par}). A factor needs "
                         "at least three items (two only when it correlates with another factor).")


def _cfa(model, data, *, group, equal, partial, estimator, start=None, missing="listwise",
         orthogonal=False) -> CFAResult:
    check_choice("estimator", estimator, ["ML"])
    mm = M.parse_model(model)
    equal = tuple(equal)
    for e in equal:
        check_choice("equal", e, list(_EQUAL))
    if group is None and (equal or partial):
        raise ModelError("`equal` and `partial` need a `group` column.")
    blocks, n_excluded, n_rows = _prepare(data, mm, group, missing)
    if missing == "ml":
        from ._fiml import MissingGroupData
        gdata = [MissingGroupData.from_array(b) for b in blocks.values()]
    else:
        gdata = [M.GroupData.from_array(b) for b in blocks.values()]
    if group is None and missing == "ml":
        spec = M.build_spec(mm, 1, meanstructure=True, orthogonal=orthogonal)
        _require_identified(spec)
        fit = M.fit_spec(spec, gdata)
    elif group is None:
        spec = M.build_spec(mm, 1, meanstructure=False, orthogonal=orthogonal)
        _require_identified(spec)
        # semopy's syntax here has free factor covariances, so an orthogonal model starts from our own values
        start = None if orthogonal else _semopy_start(model, mm, spec, blocks[None], gdata[0].cov)
        if start is not None and not np.isfinite(M.objective(spec, start, gdata, gradient=False)):
            start = None
        fit = M.fit_spec(spec, gdata, start=start)
    else:
        spec = M.build_spec(mm, len(gdata), meanstructure=True, equal=equal,
                            partial=_parse_partial(partial, mm), orthogonal=orthogonal)
        _require_identified(spec)
        if start is None:
            start = _multigroup_start(mm, spec, gdata)
        else:
            start = _start_from(start, spec)
        fit = M.fit_spec(spec, gdata, start=start)
    if not fit.converged:
        warnings.warn(f"The CFA did not converge ({fit.message}); estimates are unreliable.",
                      BelongingWarning, stacklevel=3)
    bad = []
    for g in range(spec.n_groups):
        _lam, the, psi, _nu, _alpha = M.matrices(spec, fit.theta, g)
        bad += [mm.items[i] for i in np.flatnonzero(np.diag(the) < 0)]
        bad += [mm.factors[j] for j in np.flatnonzero(np.diag(psi) <= 0)]
    if bad:
        warnings.warn("Negative variance estimates (a Heywood case) for " + ", ".join(dict.fromkeys(bad))
                      + ": the model may be misspecified or a factor has too few good items; "
                      "interpret with care (lavaan gives the same warning).", BelongingWarning, stacklevel=3)
    return _build_result(model, mm, fit, blocks, n_excluded, n_rows, group, equal, missing)


def _start_from(previous: M.Fit, spec: M.Spec) -> np.ndarray:
    """Start values from a less constrained fit of the same groups (averaged where now shared)."""
    sums = np.zeros(spec.n_par)
    counts = np.zeros(spec.n_par)
    for g in range(spec.n_groups):
        vals = {(mat, r, c): previous.theta[k] for mat, r, c, k in previous.spec.entries[g]}
        for mat, r, c, k in spec.entries[g]:
            sums[k] += vals.get((mat, r, c), 0.0)
            counts[k] += 1
    return sums / np.maximum(counts, 1)


def _multigroup_start(mm, spec, gdata):
    """Start values for a multi-group model from separate single-group fits (averaged where shared)."""
    sums = np.zeros(spec.n_par)
    counts = np.zeros(spec.n_par)
    for g, d in enumerate(gdata):
        s1 = M.build_spec(mm, 1, meanstructure=True)
        try:
            f1 = M.fit_spec(s1, [d], tol=1e-6, max_iter=100)
            th = f1.theta
        except ModelError:
            th = M.start_values(s1, [d])
        vals = {(mat, r, c): th[k] for mat, r, c, k in s1.entries[0]}
        for mat, r, c, k in spec.entries[g]:
            if (mat, r, c) in vals:
                sums[k] += vals[(mat, r, c)]
                counts[k] += 1
    start = M.start_values(spec, gdata)
    ok = counts > 0
    start[ok] = sums[ok] / counts[ok]
    return start


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class InvarianceResult(Result):
    """Measurement invariance across groups (see :func:`invariance`).

    Attributes
    ----------
    table : pandas.DataFrame
        Indexed by model (``"configural"``, ``"metric"``, ...): chisq, df, p
        (the model's chi-square test), cfi, tli, rmsea, rmsea_ci_low,
        rmsea_ci_high, srmr, then the step from the model before: delta_cfi,
        delta_rmsea, chisq_diff, df_diff, p_diff (likelihood-ratio test) and
        verdict.
    configural, metric, scalar, strict : CFAResult or None
        The fitted model of each level (None for a level not fitted).
    model : str
        The measurement model (lavaan syntax).
    group : str
        The multi-group column.
    n, n_excluded : int
        Rows used, and rows excluded (missing item or group values).
    max_delta_cfi, max_delta_rmsea : float
        The rule-of-thumb cut-offs behind the verdicts.
    """

    table: pd.DataFrame
    model: str
    group: str
    n: int
    n_excluded: int
    max_delta_cfi: float
    max_delta_rmsea: float
    configural: CFAResult | None = None
    metric: CFAResult | None = None
    scalar: CFAResult | None = None
    strict: CFAResult | None = None
    title = "Measurement invariance (ML)"

    @property
    def fits(self) -> pd.Series:
        """The fitted models, a Series of :class:`CFAResult` indexed by level, in the order fitted."""
        return pd.Series({lv: getattr(self, lv) for lv in self.table.index}, dtype=object, name="fit")

    @property
    def rule(self) -> str:
        """The rule of thumb behind the verdicts, in words."""
        return (f"rule of thumb: a step holds when CFI drops by at most {self.max_delta_cfi:g} and RMSEA "
                f"rises by at most {self.max_delta_rmsea:g} (Cheung & Rensvold 2002; Chen 2007)")

    def to_frame(self) -> pd.DataFrame:
        """One row per model (``term``), tidy columns first: term, df, p, then the fit and the steps."""
        return tidy(self.table.rename_axis("term"))

    def notes(self) -> list[str]:
        first = self.fits.iloc[0]
        sizes = ", ".join(f"{g}: {k}" for g, k in zip(first.groups, first.group_sizes))
        return [f"Groups by {self.group!r} ({sizes}); N = {self.n}"
                + (f" ({self.n_excluded} rows excluded)." if self.n_excluded else "."),
                f"Verdicts: {self.rule}."]

    def __repr__(self) -> str:
        return (f"InvarianceResult(group={self.group!r}, models={list(self.table.index)}, "
                f"verdicts={list(self.table['verdict'])})")


_LEVELS = {"configural": (), "metric": ("loadings",), "scalar": ("loadings", "intercepts"),
           "strict": ("loadings", "intercepts", "residuals")}


def invariance(data: pd.DataFrame, model: str, *, group: str,
               levels: Sequence[str] = ("configural", "metric", "scalar"),
               partial: Sequence[str] | str | None = None, missing: str = "listwise",
               max_delta_cfi: float = 0.01, max_delta_rmsea: float = 0.015) -> InvarianceResult:
    """Test measurement invariance across groups: configural, metric, scalar (and strict).

    Parameters
    ----------
    data : pandas.DataFrame
    model : str
        lavaan-style measurement model (see :func:`cfa`).
    group : str
        Column defining the groups.
    levels : sequence of str
        Nested models to fit, in order, from ``"configural"``, ``"metric"``
        (equal loadings), ``"scalar"`` (equal loadings and intercepts; latent
        means free in all groups but the first) and ``"strict"`` (also equal
        residual variances).
    partial : str or sequence of str, optional
        Parameters freed in every constrained model (partial invariance), in
        lavaan's ``group.partial`` syntax, e.g. ``"engage_3 ~ 1"``.
    missing : {"listwise", "ml"}
        As in :func:`cfa`.
    max_delta_cfi, max_delta_rmsea : float
        Rule-of-thumb cut-offs for the verdict.

    Returns
    -------
    InvarianceResult
        ``table`` indexed by level: chisq, df, p, cfi, tli, rmsea,
        rmsea_ci_low, rmsea_ci_high, srmr, delta_cfi, delta_rmsea,
        chisq_diff, df_diff, p_diff, verdict; each level's :class:`CFAResult`
        as a field (``.configural``, ``.metric``, ``.scalar``, ``.strict``);
        ``n_excluded`` the rows excluded.

    Notes
    -----
    Each model is compared with the one before it: ``delta_cfi`` =
    CFI(this) - CFI(previous) (negative = worse), ``delta_rmsea`` likewise,
    and the likelihood-ratio test ``chisq_diff`` on ``df_diff`` degrees of
    freedom (``lavaan::lavTestLRT`` for ML).  The verdict applies common
    *rules of thumb*, not laws: a step is "supported" when CFI drops by no
    more than .01 (Cheung & Rensvold, 2002; Chen, 2007) and RMSEA rises by
    no more than .015 (Chen, 2007); the chi-square difference test is shown
    but, with thousands of pupils, it flags differences too small to matter,
    so the verdict does not rest on it.  Equivalent to
    ``lavaan::cfa(model, data, group = group, group.equal = ...,
    group.partial = ...)``, validated against lavaan.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(2)
    >>> f = rng.normal(size=(600, 1))
    >>> data = pd.DataFrame(f @ [[0.8, 0.7, 0.6, 0.5]] + rng.normal(scale=0.6, size=(600, 4)),
    ...                     columns=["a", "b", "c", "d"])
    >>> data["sex"] = np.repeat(["girl", "boy"], 300)
    >>> inv = invariance(data, "f =~ a + b + c + d", group="sex")
    >>> list(inv.table.index)
    ['configural', 'metric', 'scalar']
    >>> [int(v) for v in inv.table["df"]]
    [4, 7, 10]
    >>> inv.scalar.group_sizes
    (300, 300)
    """
    check_choice("missing", missing, ["listwise", "ml"])
    levels = list(levels)
    if not levels:
        raise DataError("`levels` must name at least one model.")
    for lv in levels:
        check_choice("levels", lv, list(_LEVELS))
    fits = {}
    rows = []
    prev = None
    start = None
    for lv in levels:
        with M._single_thread():
            res = _cfa(model, data, group=group, equal=_LEVELS[lv], estimator="ML",
                       partial=partial if lv != "configural" else None, start=start, missing=missing)
        start = res._fit
        fits[lv] = res
        f = res.fit
        row = {k: f[k] for k in ("chisq", "df", "p", "cfi", "tli", "rmsea", "rmsea_ci_low",
                                 "rmsea_ci_high", "srmr")}
        if prev is None:
            row.update(delta_cfi=np.nan, delta_rmsea=np.nan, chisq_diff=np.nan, df_diff=np.nan,
                       p_diff=np.nan, verdict="baseline")
        else:
            dchi, ddf = f["chisq"] - prev["chisq"], f["df"] - prev["df"]
            dcfi, drm = f["cfi"] - prev["cfi"], f["rmsea"] - prev["rmsea"]
            ok = dcfi >= -max_delta_cfi and drm <= max_delta_rmsea
            row.update(delta_cfi=dcfi, delta_rmsea=drm, chisq_diff=dchi, df_diff=ddf,
                       p_diff=float(stats.chi2.sf(dchi, ddf)) if ddf > 0 else np.nan,
                       verdict="supported (rule of thumb)" if ok else "not supported (rule of thumb)")
        rows.append(row)
        prev = f
    table = pd.DataFrame(rows, index=pd.Index(levels, name="model"))
    first = fits[levels[0]]
    return InvarianceResult(table=table, model=model, group=group, n=first.n, n_excluded=first.n_excluded,
                            max_delta_cfi=max_delta_cfi, max_delta_rmsea=max_delta_rmsea, **fits)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReleaseTests(EstimateTable):
    """One likelihood-ratio test per equality constraint freed in turn (what :func:`release_tests` returns).

    ``to_frame()`` has one row per parameter, largest drop in chi-square first: ``term`` (lavaan
    syntax), ``p``, ``chisq_diff``, ``df_diff`` and ``p_holm``.
    """

    #: the invariance step whose constraints were freed (``"metric"`` or ``"scalar"``)
    step: str

    title = "Freeing one constraint at a time"


def release_tests(data: pd.DataFrame, model: str, *, group: str, step: str = "scalar",
                  partial: Sequence[str] | str | None = None, missing: str = "listwise") -> ReleaseTests:
    """Which item breaks invariance?  Free each equality constraint of one step in turn.

    Parameters
    ----------
    data : pandas.DataFrame
    model : str
        lavaan-style measurement model.
    group : str
        Column defining the groups.
    step : {"metric", "scalar"}
        ``"metric"`` releases each loading, ``"scalar"`` each intercept (with
        loadings kept equal).
    partial : str or sequence of str, optional
        Parameters already freed (they are not tested again).
    missing : {"listwise", "ml"}
        As in :func:`cfa`.

    Returns
    -------
    ReleaseTests
        Its ``to_frame()`` has one row per released parameter (``term`` in lavaan syntax), sorted
        by ``chisq_diff`` (the drop in chi-square when it is freed), with
        ``df_diff`` (groups - 1), ``p`` and ``p_holm`` (Holm's
        adjustment over the rows).

    Notes
    -----
    These are likelihood-ratio tests of releasing one constraint at a time
    from the constrained model, the exact counterpart of the univariate
    score (Lagrange multiplier) tests of ``lavaan::lavTestScore``, which
    approximate them without refitting.  A large drop flags an item whose
    loading or intercept differs between groups (differential item
    functioning); with large samples even small differences are
    "significant", so judge the size of the drop and of the estimated
    difference, and free as few parameters as possible (Byrne, Shavelson &
    Muthen, 1989).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(3)
    >>> f = rng.normal(size=(800, 1))
    >>> data = pd.DataFrame(f @ [[0.8, 0.7, 0.6, 0.5]] + rng.normal(scale=0.6, size=(800, 4)),
    ...                     columns=["a", "b", "c", "d"])
    >>> data["grp"] = np.repeat(["x", "y"], 400)
    >>> data.loc[data["grp"] == "y", "c"] += 0.5           # item c: biased intercept in group y
    >>> release_tests(data, "f =~ a + b + c + d", group="grp").to_frame().iloc[0]["term"]
    'c ~ 1'
    """
    check_choice("step", step, ["metric", "scalar"])
    check_choice("missing", missing, ["listwise", "ml"])
    mm = M.parse_model(model)
    base_partial = list([partial] if isinstance(partial, str) else (partial or []))
    with M._single_thread():
        base = _cfa(model, data, group=group, equal=_LEVELS[step], partial=base_partial, estimator="ML",
                    missing=missing)
        already = set(_parse_partial(base_partial, mm))
        if step == "metric":
            terms = [f"{f} =~ {item}" for f in mm.factors for item in mm.indicators[f][1:]]
        else:
            terms = [f"{item} ~ 1" for item in mm.items]
        gdata = base._fit.data
        rows = []
        for term in terms:
            if _parse_partial([term], mm)[0] in already:
                continue
            spec = M.build_spec(mm, len(gdata), meanstructure=True, equal=_LEVELS[step],
                                partial=_parse_partial(base_partial + [term], mm))
            fit = M.fit_spec(spec, gdata, start=_start_from(base._fit, spec))
            if not fit.converged:
                warnings.warn(f"The model freeing {term!r} did not converge; its test is unreliable.",
                              BelongingWarning, stacklevel=2)
            d = base.fit["chisq"] - fit.chisq
            ddf = base.fit["df"] - fit.df
            rows.append({"term": term, "chisq_diff": d, "df_diff": ddf, "p": float(stats.chi2.sf(max(d, 0.0), ddf))})
    table = pd.DataFrame(rows).sort_values("chisq_diff", ascending=False, kind="stable").reset_index(drop=True)
    m = len(table)
    order = np.argsort(table["p"].to_numpy(), kind="stable")
    adj = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * table["p"].iloc[i]))
        adj[i] = running
    table["p_holm"] = adj
    return ReleaseTests(table=table, step=step)
