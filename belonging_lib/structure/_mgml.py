"""Multi-group maximum-likelihood estimation of confirmatory factor models.

No Python SEM library fits several groups with parameters shared across
them (semopy's ``multigroup`` fits each group on its own), so this private
module holds a small estimator:

* :func:`parse_model` reads the lavaan-style model string
  (``f =~ x1 + x2 + x3`` and ``x1 ~~ x2``);
* :class:`Spec` lays out the free parameters of every group (loadings,
  residual variances and covariances, factor variances and covariances,
  intercepts and latent means), with cross-group equality constraints
  expressed by *sharing* one free parameter between groups;
* :func:`fit_spec` minimises the multi-group ML discrepancy with mean
  structure by Fisher scoring with the analytic gradient (twice the
  expected information as the Hessian), falling back to
  :func:`scipy.optimize.minimize` (trust-region Newton-CG) if it stalls.

The discrepancy is lavaan's (``likelihood = "normal"``: sample moments
with divisor :math:`N_g`)

.. math::

    F = \\sum_g \\frac{N_g}{N}\\Big[\\log|\\Sigma_g| + \\operatorname{tr}(S_g\\Sigma_g^{-1})
        - \\log|S_g| - p + (\\bar y_g-\\mu_g)^\\top\\Sigma_g^{-1}(\\bar y_g-\\mu_g)\\Big],

with :math:`\\Sigma_g = \\Lambda_g\\Psi_g\\Lambda_g^\\top + \\Theta_g` and
:math:`\\mu_g = \\nu_g + \\Lambda_g\\alpha_g`; the test statistic is
:math:`T = N F = \\sum_g N_g F_g`.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
from scipy import optimize

from .._errors import ModelError

__all__ = ["MeasurementModel", "parse_model", "Spec", "build_spec", "fit_spec", "Fit"]


@dataclasses.dataclass(frozen=True)
class MeasurementModel:
    """A parsed measurement model: factors, their items, residual covariances."""

    factors: tuple          # factor names in order
    indicators: dict        # factor -> tuple of items (first = marker)
    items: tuple            # observed variables in order of first appearance
    residual_covs: tuple    # pairs of items with a free residual covariance


_NAME = r"(?:[^\W\d]|\.)[\w.]*"        # R-style names, unicode letters included (as lavaan in a UTF-8 locale)


def parse_model(model: str) -> MeasurementModel:
    """Parse a lavaan-style measurement model string.

    Lines (or ``;``-separated statements) of the forms ``f =~ a + b + c`` and
    ``a ~~ b`` are understood; ``#`` starts a comment.  Anything else raises
    :class:`ModelError` naming the statement.
    """
    if not isinstance(model, str) or not model.strip():
        raise ModelError("`model` must be a non-empty lavaan-style string such as 'f =~ x1 + x2 + x3'.")
    factors: list[str] = []
    indicators: dict[str, list[str]] = {}
    covs: list[tuple[str, str]] = []
    items: list[str] = []
    statements = []
    for line in model.splitlines():
        line = line.split("#", 1)[0]
        statements += [s.strip() for s in line.split(";") if s.strip()]
    for st in statements:
        if "=~" in st:
            lhs, rhs = (s.strip() for s in st.split("=~", 1))
            terms = [t.strip() for t in rhs.split("+")]
            if not re.fullmatch(_NAME, lhs) or not terms or not all(re.fullmatch(_NAME, t) for t in terms):
                raise ModelError(f"Cannot read the model statement {st!r}: expected 'factor =~ item1 + item2 + ...' "
                                 "(labels, fixed values and modifiers are not supported).")
            if lhs not in indicators:
                factors.append(lhs)
                indicators[lhs] = []
            for t in terms:
                if t in indicators[lhs]:
                    raise ModelError(f"Item {t!r} is listed twice for factor {lhs!r}.")
                indicators[lhs].append(t)
        elif "~~" in st:
            lhs, rhs = (s.strip() for s in st.split("~~", 1))
            if not re.fullmatch(_NAME, lhs) or not re.fullmatch(_NAME, rhs):
                raise ModelError(f"Cannot read the model statement {st!r}: expected 'item1 ~~ item2'.")
            if lhs != rhs:
                covs.append((lhs, rhs))
        else:
            raise ModelError(f"Cannot read the model statement {st!r}: only '=~' (factor loadings) and "
                             "'~~' (residual covariances) are supported.")
    if not factors:
        raise ModelError("The model defines no factor (no '=~' statement).")
    for f in factors:
        for t in indicators[f]:
            if t in indicators:
                raise ModelError(f"{t!r} is used both as a factor and as an item; second-order models are not supported.")
            if t not in items:
                items.append(t)
        if len(indicators[f]) < 2:
            raise ModelError(f"Factor {f!r} has {len(indicators[f])} item; at least 2 are needed.")
    for a, b in covs:
        for v in (a, b):
            if v not in items:
                raise ModelError(f"Residual covariance {a} ~~ {b}: {v!r} is not an item of any factor.")
    return MeasurementModel(tuple(factors), {f: tuple(v) for f, v in indicators.items()},
                            tuple(items), tuple(covs))


# matrix codes
LAMBDA, THETA, PSI, NU, ALPHA = 0, 1, 2, 3, 4
MATRIX_NAMES = {LAMBDA: "loading", THETA: "residual", PSI: "factor_cov", NU: "intercept", ALPHA: "latent_mean"}


@dataclasses.dataclass
class Spec:
    """Free-parameter layout of a (multi-group) factor model.

    ``entries[g]`` is an integer array with columns
    ``(matrix, row, col, parameter index)``; a parameter shared by groups
    appears in several groups' entries.  Fixed values (marker loadings = 1,
    fixed latent means = 0) live in ``fixed[g]``.
    """

    mm: MeasurementModel
    n_groups: int
    meanstructure: bool
    entries: list
    fixed: list
    labels: list            # per parameter: (matrix, row, col, first group)

    @property
    def n_par(self) -> int:
        return len(self.labels)


def build_spec(mm: MeasurementModel, n_groups: int = 1, *, meanstructure: bool = True,
               equal: tuple = (), partial: tuple = (), orthogonal: bool = False) -> Spec:
    """Lay out the free parameters.

    ``equal`` holds any of ``"loadings"``, ``"intercepts"``, ``"residuals"``,
    ``"residual.covariances"`` (as lavaan's ``group.equal``); ``partial``
    holds ``(matrix, row, col)`` triples freed from the constraints (as
    ``group.partial``).  With equal intercepts the latent means are free in
    every group but the first, as in lavaan.
    """
    p, m = len(mm.items), len(mm.factors)
    idx = {v: i for i, v in enumerate(mm.items)}
    labels: list = []
    entries = [[] for _ in range(n_groups)]
    fixed = [[] for _ in range(n_groups)]
    shared: dict = {}

    def add(g, mat, r, c, constrained):
        key = (mat, r, c)
        if constrained and key not in partial and key in shared:
            k = shared[key]
        else:
            k = len(labels)
            labels.append((mat, r, c, g))
            if constrained and key not in partial:
                shared[key] = k
        entries[g].append((mat, r, c, k))

    for g in range(n_groups):
        for j, f in enumerate(mm.factors):
            for t, item in enumerate(mm.indicators[f]):
                if t == 0:
                    fixed[g].append((LAMBDA, idx[item], j, 1.0))
                else:
                    add(g, LAMBDA, idx[item], j, "loadings" in equal)
        for i in range(p):
            add(g, THETA, i, i, "residuals" in equal)
        for a, b in mm.residual_covs:
            i, k = sorted((idx[a], idx[b]), reverse=True)
            add(g, THETA, i, k, "residual.covariances" in equal)
        for j in range(m):
            for k in range(j + 1):
                if j == k or not orthogonal:
                    add(g, PSI, j, k, False)
        if meanstructure:
            for i in range(p):
                add(g, NU, i, 0, "intercepts" in equal)
            for j in range(m):
                if "intercepts" in equal and g > 0:
                    add(g, ALPHA, j, 0, False)
                else:
                    fixed[g].append((ALPHA, j, 0, 0.0))
    ent = [np.array(e, dtype=int).reshape(-1, 4) for e in entries]
    return Spec(mm, n_groups, meanstructure, ent, fixed, labels)


def matrices(spec: Spec, theta: np.ndarray, g: int):
    """Model matrices (Lambda, Theta, Psi, nu, alpha) of group ``g``."""
    p, m = len(spec.mm.items), len(spec.mm.factors)
    mats = [np.zeros((p, m)), np.zeros((p, p)), np.zeros((m, m)), np.zeros((p, 1)), np.zeros((m, 1))]
    for mat, r, c, v in spec.fixed[g]:
        mats[mat][r, c] = v
    e = spec.entries[g]
    for mat in range(5):
        sel = e[:, 0] == mat
        if sel.any():
            mats[mat][e[sel, 1], e[sel, 2]] = theta[e[sel, 3]]
    for mat in (THETA, PSI):
        low = np.tril(mats[mat], -1)
        mats[mat] = np.tril(mats[mat]) + low.T
    return mats


def implied(spec: Spec, theta: np.ndarray, g: int):
    lam, the, psi, nu, alpha = matrices(spec, theta, g)
    sigma = lam @ psi @ lam.T + the
    mu = (nu + lam @ alpha).ravel()
    return sigma, mu


@dataclasses.dataclass
class GroupData:
    """Sample moments of one group (covariance with divisor N, as lavaan's ML)."""

    n: int
    cov: np.ndarray
    mean: np.ndarray
    logdet: float

    @classmethod
    def from_array(cls, x: np.ndarray) -> GroupData:
        n = x.shape[0]
        mean = x.mean(axis=0)
        cov = (x - mean).T @ (x - mean) / n
        sign, logdet = np.linalg.slogdet(cov)
        if sign <= 0:
            raise ModelError("The items' covariance matrix is singular in a group (an item without "
                             "variation, or items that are exact copies); the model cannot be fitted.")
        return cls(n, cov, mean, logdet)


def objective(spec: Spec, theta: np.ndarray, data: list, *, gradient: bool = True):
    """Multi-group ML discrepancy F (divided by nothing: T = N F) and its gradient."""
    ntot = sum(d.n for d in data)
    p = len(spec.mm.items)
    f = 0.0
    grad = np.zeros(spec.n_par)
    for g, d in enumerate(data):
        lam, the, psi, nu, alpha = matrices(spec, theta, g)
        sigma = lam @ psi @ lam.T + the
        try:
            chol = np.linalg.cholesky(sigma)
        except np.linalg.LinAlgError:
            return (np.inf, grad) if gradient else np.inf
        w = d.n / ntot
        if getattr(d, "patterns", None) is not None:
            # full-information ML: sum over patterns of observed items
            mu = (nu + lam @ alpha).ravel()
            fg = -d.h1_value
            wmat = np.zeros((p, p))
            gmu = np.zeros(p)
            for bt in d.batches:     # patterns with the same number of observed items, stacked
                o = bt.obs
                s_oo = sigma[o[:, :, None], o[:, None, :]]
                try:
                    c_oo = np.linalg.cholesky(s_oo)
                except np.linalg.LinAlgError:
                    return (np.inf, grad) if gradient else np.inf
                inv_oo = np.linalg.inv(s_oo)
                r_o = bt.mean - mu[o]
                s_p = bt.cov + r_o[:, :, None] * r_o[:, None, :]
                wp = bt.n / d.n
                logdet = 2 * np.log(np.diagonal(c_oo, axis1=1, axis2=2)).sum(axis=1)
                fg += np.sum(wp * (logdet + np.sum(inv_oo * s_p, axis=(1, 2))))
                if gradient:
                    blocks = wp[:, None, None] * (inv_oo - inv_oo @ s_p @ inv_oo)
                    wmat += np.bincount(bt.flat, weights=blocks.ravel(), minlength=p * p).reshape(p, p)
                    gmu += np.bincount(o.ravel(), weights=(-2 * wp[:, None] * np.einsum("pij,pj->pi", inv_oo, r_o)).ravel(),
                                       minlength=p)
            f += w * fg
            if not gradient:
                continue
        else:
            inv = np.linalg.inv(sigma)
            logdet = 2 * np.log(np.diag(chol)).sum()
            s = d.cov
            if spec.meanstructure:
                r = d.mean - (nu + lam @ alpha).ravel()
                s = s + np.outer(r, r)
            fg = logdet + np.trace(s @ inv) - d.logdet - p
            f += w * fg
            if not gradient:
                continue
            wmat = inv - inv @ s @ inv                     # dF/dSigma (as if elements free)
            gmu = -2 * inv @ r if spec.meanstructure else None
        gl = 2 * wmat @ lam @ psi
        gpsi = lam.T @ wmat @ lam
        gthe = wmat
        if spec.meanstructure:
            gl = gl + np.outer(gmu, alpha.ravel())
            gnu = gmu[:, None]
            galpha = (lam.T @ gmu)[:, None]
        else:
            gnu = np.zeros((p, 1))
            galpha = np.zeros((lam.shape[1], 1))
        gm = [gl, gthe, gpsi, gnu, galpha]
        e = spec.entries[g]
        vals = np.empty(len(e))
        for mat in range(5):
            sel = e[:, 0] == mat
            if not sel.any():
                continue
            v = gm[mat][e[sel, 1], e[sel, 2]]
            if mat in (THETA, PSI):
                v = v * np.where(e[sel, 1] != e[sel, 2], 2.0, 1.0)
            vals[sel] = v
        np.add.at(grad, e[:, 3], w * vals)
    return (f, grad) if gradient else f


def derivatives(spec: Spec, theta: np.ndarray, g: int):
    """Derivatives of Sigma_g (K x p x p) and mu_g (K x p) with respect to the free parameters."""
    lam, the, psi, nu, alpha = matrices(spec, theta, g)
    p = lam.shape[0]
    K = spec.n_par
    ds = np.zeros((K, p, p))
    dmu = np.zeros((K, p))
    lp = lam @ psi
    for mat, r, c, k in spec.entries[g]:
        if mat == LAMBDA:
            ds[k, r, :] += lp[:, c]
            ds[k, :, r] += lp[:, c]
            dmu[k, r] += alpha[c, 0]
        elif mat == THETA:
            ds[k, r, c] += 1.0
            if r != c:
                ds[k, c, r] += 1.0
        elif mat == PSI:
            o = np.outer(lam[:, r], lam[:, c])
            ds[k] += o if r == c else o + o.T
        elif mat == NU:
            dmu[k, r] += 1.0
        else:
            dmu[k] += lam[:, r]
    return ds, dmu


def information(spec: Spec, theta: np.ndarray, data: list) -> np.ndarray:
    """Expected information per observation (lavaan's ``information = "expected"``):
    :math:`\\sum_g \\frac{N_g}{N}\\big[\\tfrac12\\operatorname{tr}(\\Sigma^{-1}\\partial_k\\Sigma\\,\\Sigma^{-1}\\partial_l\\Sigma)
    + \\partial_k\\mu^\\top\\Sigma^{-1}\\partial_l\\mu\\big]`."""
    ntot = sum(d.n for d in data)
    info = np.zeros((spec.n_par, spec.n_par))
    for g, d in enumerate(data):
        sigma, _ = implied(spec, theta, g)
        inv = np.linalg.inv(sigma)
        ds, dmu = derivatives(spec, theta, g)
        b = inv @ ds                                   # K x p x p: Sigma^-1 dSigma_k
        K, p = b.shape[0], b.shape[1]
        ig = 0.5 * b.reshape(K, p * p) @ b.transpose(0, 2, 1).reshape(K, p * p).T
        if spec.meanstructure:
            ig += dmu @ inv @ dmu.T
        info += d.n / ntot * ig
    return info


@dataclasses.dataclass
class Fit:
    spec: Spec
    theta: np.ndarray
    fmin: float
    data: list
    converged: bool
    iterations: int
    message: str

    @property
    def n(self) -> int:
        return sum(d.n for d in self.data)

    @property
    def chisq(self) -> float:
        return self.n * self.fmin

    @property
    def df(self) -> int:
        p = len(self.spec.mm.items)
        per = p * (p + 1) // 2 + (p if self.spec.meanstructure else 0)
        return self.spec.n_groups * per - self.spec.n_par

    def vcov(self) -> np.ndarray:
        if any(getattr(d, "patterns", None) is not None for d in self.data):
            # lavaan's default for missing = "ml": observed information, here by central
            # differences of the analytic gradient
            k = self.spec.n_par
            h = 1e-5 * np.maximum(np.abs(self.theta), 1.0)
            hess = np.empty((k, k))
            for j in range(k):
                e = np.zeros(k)
                e[j] = h[j]
                hess[:, j] = (objective(self.spec, self.theta + e, self.data)[1]
                              - objective(self.spec, self.theta - e, self.data)[1]) / (2 * h[j])
            hess = (hess + hess.T) / 2
            try:
                return np.linalg.inv(hess * self.n / 2)
            except np.linalg.LinAlgError:
                return np.full_like(hess, np.nan)
        info = information(self.spec, self.theta, self.data)
        try:
            return np.linalg.inv(info * self.n)
        except np.linalg.LinAlgError:
            return np.full_like(info, np.nan)


def start_values(spec: Spec, data: list) -> np.ndarray:
    """Starting values from the sample moments (marker-based, in the spirit of lavaan's)."""
    mm = spec.mm
    idx = {v: i for i, v in enumerate(mm.items)}
    sums = np.zeros(spec.n_par)
    counts = np.zeros(spec.n_par)
    for g, d in enumerate(data):
        s = d.cov
        psi_start = {}
        lam_start = {}
        for j, f in enumerate(mm.factors):
            its = [idx[v] for v in mm.indicators[f]]
            mk = its[0]
            others = its[1:]
            # psi from the marker's covariances with the other items (one-factor identity)
            if len(others) >= 2:
                vals = [s[mk, a] * s[mk, b] / s[a, b] for ii, a in enumerate(others) for b in others[ii + 1:]
                        if abs(s[a, b]) > 1e-8]
                ps = np.median(vals) if vals else 0.5 * s[mk, mk]
            else:
                ps = 0.5 * s[mk, mk]
            ps = float(np.clip(ps, 0.05 * s[mk, mk], 0.95 * s[mk, mk]))
            psi_start[j] = ps
            for a in others:
                lam_start[(a, j)] = s[a, mk] / ps
        for mat, r, c, k in spec.entries[g]:
            if mat == LAMBDA:
                v = lam_start.get((r, c), 1.0)
            elif mat == THETA:
                if r == c:
                    expl = sum(lam_start.get((r, j), 1.0 if mm.items[r] == mm.indicators[f][0] else 0.0) ** 2
                               * psi_start[j] for j, f in enumerate(mm.factors)
                               if mm.items[r] in mm.indicators[f])
                    v = float(np.clip(s[r, r] - expl, 0.1 * s[r, r], 0.9 * s[r, r]))
                else:
                    v = 0.0
            elif mat == PSI:
                if r == c:
                    v = psi_start[r]
                else:
                    fr, fc = mm.factors[r], mm.factors[c]
                    a, b = idx[mm.indicators[fr][0]], idx[mm.indicators[fc][0]]
                    v = 0.5 * s[a, b]
            elif mat == NU:
                v = d.mean[r]
            else:
                v = 0.0
            sums[k] += v
            counts[k] += 1
    return sums / np.maximum(counts, 1)


def _single_thread():
    """Limit BLAS to one thread: the matrices are small, and threads only contend."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional speed-up
        import contextlib
        return contextlib.nullcontext()
    return threadpool_limits(1)


def fit_spec(spec: Spec, data: list, *, start: np.ndarray | None = None, tol: float = 1e-10,
             max_iter: int = 500) -> Fit:
    """Minimise the ML discrepancy with the analytic gradient: Fisher scoring
    (twice the expected information as the Hessian), falling back to scipy's
    trust-region Newton-CG (``scipy.optimize.minimize(method="trust-ncg")``)."""
    with _single_thread():
        return _fit_spec(spec, data, start=start, tol=tol, max_iter=max_iter)


def _fisher_scoring(spec, data, theta, tol, max_iter):
    """Fisher scoring with step halving; returns (theta, iterations, converged)."""
    f0, g0 = objective(spec, theta, data)
    for it in range(max_iter):
        if np.max(np.abs(g0)) < tol:
            return theta, it, True
        try:
            step = np.linalg.solve(2.0 * information(spec, theta, data), g0)
        except np.linalg.LinAlgError:
            return theta, it, False
        t = 1.0
        while t > 1e-6:
            cand = theta - t * step
            f1, g1 = objective(spec, cand, data)
            if np.isfinite(f1) and f1 <= f0 + 1e-15:
                theta, f0, g0 = cand, f1, g1
                break
            t /= 2
        else:
            return theta, it, bool(np.max(np.abs(g0)) < 1e-6)
    return theta, max_iter, bool(np.max(np.abs(g0)) < tol)


def _fit_spec(spec, data, *, start, tol, max_iter):
    x0 = start_values(spec, data) if start is None else np.asarray(start, dtype=float)
    if not np.isfinite(objective(spec, x0, data, gradient=False)):
        if start is not None:
            x0 = start_values(spec, data)
        if not np.isfinite(objective(spec, x0, data, gradient=False)):
            raise ModelError("The starting values give a covariance matrix that is not positive definite.")
    # Fisher scoring (the classic SEM algorithm) converges in a few steps from good starts;
    # if it stalls, scipy's trust-region Newton-CG takes over from where it stopped.
    theta, nit, ok = _fisher_scoring(spec, data, x0, tol, 30)
    message = "Fisher scoring converged"
    if not ok:
        fun = lambda th: objective(spec, th, data)  # noqa: E731
        hess = lambda th: 2.0 * information(spec, th, data)  # noqa: E731
        res = optimize.minimize(fun, theta, jac=True, hess=hess, method="trust-ncg",
                                options={"gtol": tol, "maxiter": max_iter})
        theta, nit, message = res.x, nit + int(res.nit), str(res.message)
        theta, extra, ok = _fisher_scoring(spec, data, theta, tol, 5)
        nit += extra
    f, g = objective(spec, theta, data)
    converged = bool(np.max(np.abs(g)) < 1e-6)
    return Fit(spec, theta, float(f), data, converged, int(nit), message)
