"""Weighted two-level models over plausible values and replicate weights (:meth:`SurveyDesign.multilevel`).

Each plausible value is fitted by pseudo-maximum likelihood with the pupil and school weights
(:func:`belonging_lib.models.multilevel` with ``weights=``), and refitted for every replicate weight
from the same per-school sufficient statistics; the replicate variances and Rubin's rules come from
the design (its steps ``_select``, ``_estimates``, ``_pool`` and ``_assemble``), as for every other
survey statistic.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from scipy import sparse

from .._errors import DataError
from .._validation import require_columns
from ..models import _lmm
from .._pooling import rubin
from .._results import coef_table
from ..models.multilevel import (SCALINGS, _random_design, _random_terms, _school_weights, _scale_pupil_weights,
                                 _varcomp_covariance, _varcomp_statistics)


ROUNDING = 1e-4


def _school_factors(codes, n_schools, W, block: int = 2048):
    """Each replicate's school factors (a school's replicate total over its full-sample total), and
    whether each factor is the same for all the school's pupils (PISA's and TIMSS's replicates:
    schools are the units replicated).  Returns the factors (schools x replicates) and, per replicate
    column of ``W`` after the first, whether they are constant.

    The school totals of all the weight columns come from one sparse product (each school's pupils
    summed in row order); the check runs over blocks of ``block`` pupils, all replicates at once.
    """
    n, k = W.shape
    order = np.argsort(codes, kind="stable")
    indptr = np.r_[0, np.cumsum(np.bincount(codes, minlength=n_schools))]
    totals = sparse.csr_matrix((np.ones(n), order, indptr), shape=(n_schools, n)) @ W
    F = totals[:, 1:] / totals[:, :1]
    # weights in survey files are rounded (PISA: 4 to 5 significant digits), so a factor that
    # varies within a school by less than 1e-4 of the weight is the same factor (weights are >= 0)
    constant = np.ones(k - 1, dtype=bool)
    for a in range(0, n, block):
        rows = slice(a, a + block)
        dev = np.take(F, codes[rows], axis=0)
        dev *= W[rows, :1]
        dev -= W[rows, 1:]
        np.abs(dev, out=dev)
        constant &= np.all(dev <= ROUNDING * W[rows, 1:], axis=0)
    return F, constant


def _statistics(model, fit, q, pairs, icol):
    """beta, the random-effect variances (the covariances of ``pairs`` as Fisher-z correlations), sigma^2
    and the ICC (``icol``: the random intercept's column of Z, None without one)."""
    x = np.r_[np.asarray(fit.theta, float), np.sqrt(fit.sigma2)]
    return np.r_[np.asarray(fit.beta, float), _varcomp_statistics(model, x, pairs, icol, True)]


def _sandwich_variances(model, fit, pairs, icol):
    """Each statistic's sandwich sampling variance (as WeMix): the fixed effects' cluster sandwich and
    the variance parameters' sandwich carried by the delta method (NaN at a boundary)."""
    vb = _lmm.sandwich(model, fit.theta, fit.beta, fit.vcov / fit.sigma2)
    vc = _varcomp_covariance(model, fit, pairs, icol, fisher=True)
    return np.r_[np.diag(vb), np.diag(vc)]


def _pool_sandwich(theta, level, terms=None):
    """theta (2, M, K): the estimates and their sandwich variances per plausible value, pooled by Rubin
    (in place of the design's ``_pool``, with the same table)."""
    pooled = rubin(theta[0], theta[1])
    table = coef_table(list(range(theta.shape[2])) if terms is None else terms, pooled.estimate, pooled.se,
                       pooled.df, ci_level=level)
    table["var_within"] = pooled.var_within
    table["var_between"] = pooled.var_between
    return table


def _refit(model, theta0):
    """Newton from the full-sample solution (a replicate moves it a little); the full search if it fails."""
    theta, pt, g, converged, it = _lmm._newton(model, theta0, False)
    if not converged:
        fit = _lmm.fit(model, reml=False, satterthwaite_df=False)
        return fit
    return _lmm.LMMFit(pt.beta, pt.r2 / pt.m * pt.Ainv, float(pt.r2 / pt.m), theta, -0.5 * pt.f, False,
                       model.n, model.p, None, True, False, 0.0, it)


def design_multilevel(des, formula, *, cluster, school_weight, random, scaling, by, ci_level, se="replicate"):
    """Fit ``SurveyDesign.multilevel`` (this module never imports ``design``, which imports it)."""
    from ..models._formula import design_matrices, rebuild

    if scaling not in SCALINGS:
        raise DataError(f"`scaling` is one of {', '.join(repr(s) for s in SCALINGS)}, not {scaling!r}.")
    if se not in ("replicate", "sandwich"):
        raise DataError(f"`se` is 'replicate' (the design's replicate weights) or 'sandwich' (over schools, as "
                        f"WeMix), not {se!r}.")
    if not isinstance(cluster, str):
        raise DataError("`cluster` takes one column (the schools) for a survey multilevel model.")
    require_columns(des.data, [cluster, school_weight], role="cluster or school weight column")
    sw_all = pd.to_numeric(des.data[school_weight], errors="coerce")
    bad = des.data[school_weight].notna() & ~(np.isfinite(sw_all) & (sw_all > 0))
    if bad.any():
        rows = [i + 1 for i in np.flatnonzero(bad.to_numpy())]
        raise DataError(f"The school weight {school_weight!r} must hold positive finite weights, but row(s) "
                        f"{', '.join(map(str, rows[:5]))} (counted from 1) hold {des.data[school_weight][bad].iloc[0]!r}.")
    desc, used, lhs_names, outcome, rhs_pv = des._read_formula(formula)
    rdesc, rvars = _random_terms(random, des.data, cluster)
    variables = list(dict.fromkeys(used + rvars + [cluster, school_weight]))
    n_pv = des._n_pv_of(variables)

    def frame_for(rows, m, only=None):
        cols = {}
        for v in variables if only is None else only:
            c = des.pv[v][m % len(des.pv[v])] if v in des.pv else v
            cols[v] = des.data[c].to_numpy()[rows]
        return pd.DataFrame(cols)

    # the terms (and factor levels) of the whole design's complete rows, the same in every group
    complete = np.ones(len(des.data), dtype=bool)
    for v in variables:
        block = des.data[des.pv[v]] if v in des.pv else des.data[[v]]
        complete &= block.notna().all(axis=1).to_numpy()
    if not complete.any():
        raise DataError(f"No pupil has complete values for {variables}.")
    base = frame_for(np.flatnonzero(complete), 0)
    yd, xd = design_matrices(desc, base, return_type="matrix", NA_action="raise")
    infos = [yd.design_info, xd.design_info]
    Z0, znames, blocks = _random_design(rdesc, random, base)
    q = len(znames)
    names = ["(Intercept)" if c == "Intercept" else c for c in xd.design_info.column_names]
    names += [f"var: {cluster} {z}" for z in znames]
    pairs = [(i, j) for i in range(q) for j in range(i + 1, q) if blocks is None or blocks[i] == blocks[j]]
    icol = list(znames).index("(Intercept)") if "(Intercept)" in znames else None
    names += [f"corr: {cluster} {znames[i]}, {znames[j]}" for i, j in pairs]
    names += ["var: Residual", "ICC"]
    labels = pd.DataFrame({"term": names})
    # the predictors and the random part are the same for every plausible value unless one of them is a PV
    shared_design = not rhs_pv and not any(v in des.pv for v in rvars)

    def fn(W, vals, rows):
        n_rep = W.shape[1] if se == "replicate" else 1
        out = np.empty((n_rep if se == "replicate" else 2, n_pv, len(names)))
        first = frame_for(rows, 0)
        codes, uniq = pd.factorize(first[cluster], sort=True)
        J = len(uniq)
        first[school_weight] = pd.to_numeric(first[school_weight])
        sw = _school_weights(first, school_weight, codes, J, cluster)
        a0 = _scale_pupil_weights(W[:, 0] / sw[codes], codes, J, scaling)
        batch = []
        if se == "replicate":
            F, constant = _school_factors(codes, J, W)             # the same for every plausible value
            batch = [r for r in range(1, n_rep) if constant[r - 1]] if q == 1 and icol == 0 else []
            # a random intercept with school-level replicate factors: every replicate at once
            cws = np.ascontiguousarray((sw[:, None] * F[:, [r - 1 for r in batch]]).T)
        model = None
        for m in range(n_pv):
            if model is not None and shared_design:
                # another plausible value of the outcome: only the outcome's sums are formed again
                # (with_outcome keeps the restriction to blocks)
                y = rebuild([infos[0]], frame_for(rows, m, lhs_names), formula=desc, NA_action="raise")[0]
                y = np.asarray(y, float)[:, 0]
                model = model.with_outcome(y)
            else:
                frame = first if m == 0 else frame_for(rows, m)
                y, X = rebuild(infos, frame, formula=desc, NA_action="raise")
                y, X = np.asarray(y, float)[:, 0], np.asarray(X, float)
                Z, _, _ = _random_design(rdesc, random, frame)
                model = _lmm.WeightedTwoLevel.from_weighted_data(y, X, Z, codes, J, a0, sw)
                if blocks is not None:
                    model.restrict_to_blocks(blocks)
            fit = _lmm.fit(model, reml=False, satterthwaite_df=False)
            out[0, m] = _statistics(model, fit, q, pairs, icol)
            if se == "sandwich":
                out[1, m] = _sandwich_variances(model, fit, pairs, icol)
                continue
            done: set = set()
            if batch:
                th, beta, s2, ok = _lmm.refit_intercept_weights(model, cws, float(fit.theta[0]))
                tau = s2 * th ** 2
                out[batch, m] = np.column_stack([beta, tau, s2, tau / (tau + s2)])
                done = {r for r, good in zip(batch, ok) if good}
            for r in range(1, n_rep):
                if r in done:
                    continue
                cw = sw * F[:, r - 1]
                if constant[r - 1]:
                    rep = _lmm.WeightedTwoLevel(model.ztz_raw, model.ztw_raw, model.xax, cw, model.n_rows)
                    rep.asum = model.asum
                    rep.n = float(np.einsum("j,j->", cw, model.asum))
                else:
                    keep = cw > 0
                    cond = np.where(keep[codes], W[:, r] / np.where(keep, cw, 1.0)[codes], 1.0)
                    a = _scale_pupil_weights(cond, codes, J, scaling)
                    rep = _lmm.WeightedTwoLevel.from_weighted_data(y, X, Z, codes, J, a, cw)
                if blocks is not None:
                    rep.restrict_to_blocks(blocks)
                out[r, m] = _statistics(rep, _refit(rep, fit.theta), q, pairs, icol)
        return out

    level = des._level(ci_level)
    sel = des._select(variables, by)
    # the sampling variance of each plausible value: its replicates' (the design's), or its sandwich
    pool = _pool_sandwich if se == "sandwich" else des._pool
    tables = [None if theta is None else pd.concat([labels, pool(theta, level).reset_index(drop=True)], axis=1)
              for theta in des._estimates(sel, fn, variances=se == "sandwich")]
    out, unit, group_labels = des._assemble(sel, tables)
    # correlations were pooled on Fisher's z scale: back to r
    corr = out["term"].astype(str).str.startswith("corr: ")
    if corr.any():
        z = out.loc[corr, "estimate"].to_numpy(float)
        out.loc[corr, "se"] = (1 - np.tanh(z) ** 2) * out.loc[corr, "se"].to_numpy(float)
        for c in ("estimate", "ci_low", "ci_high"):
            out.loc[corr, c] = np.tanh(out.loc[corr, c].to_numpy(float))
    var_rows = out["term"].astype(str).str.startswith(("var: ", "ICC"))
    out.loc[var_rows, ["statistic", "p"]] = np.nan            # a variance is not tested against zero here
    est = des._estimate(out, sel, "multilevel", outcome or ", ".join(lhs_names), by, ci_level,
                        des._protection(sel, unit, group_labels), formula=formula)
    if se == "sandwich":
        est = dataclasses.replace(est, method=f"sandwich over schools for each plausible value (as WeMix), "
                                              f"{sel.n_pv} plausible value(s), Rubin's rules")
    return est
