"""Exploratory factor analysis building blocks (private; used by reliability and structure).

Three steps, each a plain function on a correlation matrix or a loading matrix:

- :func:`minres` — minimum-residual (unweighted least squares) extraction of
  ``n_factors`` factors from a correlation matrix;
- :func:`oblimin` — direct oblimin rotation by the gradient-projection (GPA)
  algorithm for oblique rotations (Jennrich, 2002; Bernaards & Jennrich, 2005);
- :func:`schmid_leiman` — Schmid-Leiman orthogonalisation of an oblique
  solution into a general factor and group factors (for omega hierarchical);

plus :func:`sort_and_reflect` (order factors by variance accounted for and
make each column's loadings sum positive, psych's display convention) and
:func:`smc` (squared multiple correlations).

All functions accept numpy arrays or DataFrames; a DataFrame in gives a
DataFrame out with the item names kept.  Everything here was written from the
published algorithms and checked against R: ``psych::fa(r, nf, fm="minres",
rotate="none")``, ``GPArotation::oblimin`` and ``psych::omega`` (see
tests/reference/reliability.R).

Examples
--------
>>> import numpy as np
>>> lam = np.array([[.8, 0], [.7, 0], [.6, 0], [0, .7], [0, .6], [0, .5]])
>>> phi = np.array([[1, .4], [.4, 1]])
>>> r = lam @ phi @ lam.T
>>> np.fill_diagonal(r, 1)
>>> loadings, uniq = minres(r, 2)
>>> rotated, phi_hat = oblimin(loadings, eps=1e-8, max_iter=10000)
>>> rotated, phi_hat = sort_and_reflect(rotated, phi_hat)
>>> float(np.round(phi_hat[0, 1], 3)), float(np.round(rotated[0, 0], 3))
(0.4, 0.8)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import optimize

from ._errors import DataError, ModelError

__all__ = ["smc", "minres", "oblimin", "schmid_leiman", "sort_and_reflect", "efa", "MinresSolution",
           "RotatedSolution", "SchmidLeiman", "EfaSolution"]


class MinresSolution(NamedTuple):
    """Result of :func:`minres`: unpack as ``loadings, uniquenesses = minres(...)``."""

    loadings: np.ndarray | pd.DataFrame
    uniquenesses: np.ndarray | pd.Series


class RotatedSolution(NamedTuple):
    """Result of :func:`oblimin`: unpack as ``rotated, phi = oblimin(...)``."""

    loadings: np.ndarray | pd.DataFrame
    phi: np.ndarray | pd.DataFrame


class SchmidLeiman(NamedTuple):
    """Result of :func:`schmid_leiman`.

    ``general`` (g loadings, one per item), ``group`` (items x factors),
    ``communalities`` (h2), ``uniquenesses`` (u2 = 1 - h2) and
    ``general_of_factors`` (loadings of the first-order factors on g).
    """

    general: np.ndarray
    group: np.ndarray
    communalities: np.ndarray
    uniquenesses: np.ndarray
    general_of_factors: np.ndarray


class EfaSolution(NamedTuple):
    """Result of :func:`efa`: rotated loadings, factor correlations, communalities, uniquenesses."""

    loadings: np.ndarray | pd.DataFrame
    phi: np.ndarray | pd.DataFrame
    communalities: np.ndarray | pd.Series
    uniquenesses: np.ndarray | pd.Series


def _as_corr(corr) -> tuple[np.ndarray, list | None]:
    names = list(corr.columns) if isinstance(corr, pd.DataFrame) else None
    r = np.asarray(corr, dtype=float)
    if r.ndim != 2 or r.shape[0] != r.shape[1]:
        raise DataError(f"A correlation matrix must be square, but one of shape {r.shape} was passed.")
    if not np.all(np.isfinite(r)):
        raise DataError("The correlation matrix holds missing or infinite values (a pair of items "
                        "with no pupils answering both?).")
    if not np.allclose(r, r.T, rtol=0, atol=1e-10):
        raise DataError("The correlation matrix is not symmetric.")
    return r, names


def smc(corr) -> np.ndarray:
    """Squared multiple correlation of each variable with all the others.

    ``smc_i = 1 - 1 / (R^-1)_ii``; a pseudo-inverse is used when ``R`` is
    singular.

    Examples
    --------
    >>> import numpy as np
    >>> smc(np.array([[1, .5], [.5, 1]])).round(4).tolist()
    [0.25, 0.25]
    """
    r, _ = _as_corr(corr)
    try:
        inv = np.linalg.inv(r)
        # (R^-1)_ii >= 1 for any correlation matrix: a smaller (or zero) value means R is
        # numerically singular and inv() returned rounding noise instead of raising
        if not np.all(np.isfinite(inv)) or np.any(np.diag(inv) < 1 - 1e-8):
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        inv = np.linalg.pinv(r)
    return 1.0 - 1.0 / np.diag(inv)


def _uls_objective(psi: np.ndarray, r: np.ndarray, k: int) -> tuple[float, np.ndarray]:
    # residual matrix of the best rank-k fit to R - diag(psi) has the other eigenvalues:
    # f = 1/2 sum_{j > k} lambda_j^2, d lambda_j / d psi_i = -v_ij^2.
    w, v = np.linalg.eigh(r - np.diag(psi))
    rest_w, rest_v = w[:-k], v[:, :-k]
    f = 0.5 * float(np.sum(rest_w ** 2))
    g = -(rest_v ** 2) @ rest_w
    return f, g


def _loadings_from_psi(r: np.ndarray, psi: np.ndarray, k: int) -> np.ndarray:
    w, v = np.linalg.eigh(r - np.diag(psi))
    order = np.argsort(w)[::-1][:k]
    lam = v[:, order] * np.sqrt(np.clip(w[order], 0.0, None))
    signs = np.sign(lam.sum(axis=0))
    signs[signs == 0] = 1.0
    return lam * signs


def minres(corr, n_factors: int, *, lower: float = 0.005, tol: float = 1e-13,
           max_iter: int = 10000) -> MinresSolution:
    """Minimum-residual (ULS) factor extraction from a correlation matrix.

    Parameters
    ----------
    corr : array or DataFrame, (p, p)
        A correlation matrix (pairwise or complete-case; see Notes).
    n_factors : int
        Number of factors, 1 to p - 1.
    lower : float
        Smallest allowed uniqueness (psych's bound, .005): a Heywood case stops there.
    tol : float
        Convergence tolerance of the optimiser (projected gradient).
    max_iter : int

    Returns
    -------
    MinresSolution
        ``(loadings, uniquenesses)``: loadings (p, n_factors), unrotated, each
        column reflected so its sum is positive; uniquenesses = 1 - communality.

    Raises
    ------
    ModelError
        The optimiser did not converge.

    Notes
    -----
    The uniquenesses ``psi`` minimise ``1/2 sum((R - diag(psi) - L L')^2)``
    where ``L`` holds the first ``n_factors`` eigenvectors of
    ``R - diag(psi)`` scaled by the root of their eigenvalues, i.e. half the
    sum of squares of the remaining eigenvalues; its gradient is
    ``-sum_j lambda_j v_ij^2``.  At the solution the diagonal residuals are
    zero, so this is the minimum-residual solution of Harman & Jones (1966)
    (off-diagonal least squares).  Started from ``psi = 1 - smc`` and solved
    with L-BFGS-B within ``[lower, 1]``, as ``psych::fa(fm = "minres")`` does,
    but to a much tighter tolerance.  Validated against
    ``psych::fa(r, nfactors, fm = "minres", rotate = "none")``.

    Examples
    --------
    >>> import numpy as np
    >>> r = np.array([[1, .42, .35], [.42, 1, .30], [.35, .30, 1]])
    >>> lam, u = minres(r, 1)
    >>> np.round(lam[:, 0], 4).tolist()      # one factor, three items: closed form
    [0.7, 0.6, 0.5]
    """
    r, names = _as_corr(corr)
    p = r.shape[0]
    if isinstance(n_factors, bool) or not isinstance(n_factors, (int, np.integer)) or not 1 <= n_factors < p:
        raise DataError(f"`n_factors` must be a whole number from 1 to {p - 1} for {p} variables, "
                        f"but {n_factors!r} was passed.")
    k = int(n_factors)
    start = np.clip(1.0 - smc(r), lower, 1.0)
    psi = start
    for _restart in range(5):
        res = optimize.minimize(_uls_objective, psi, args=(r, k), jac=True, method="L-BFGS-B",
                                bounds=[(lower, 1.0)] * p,
                                options={"maxiter": max_iter, "ftol": 0.0, "gtol": tol, "maxcor": 20})
        psi = res.x
        # L-BFGS-B can stop on its relative-reduction test near the optimum; restart it
        # until the projected gradient is negligible.
        f, g = _uls_objective(psi, r, k)
        proj = np.where((psi <= lower + 1e-12) & (g > 0) | (psi >= 1 - 1e-12) & (g < 0), 0.0, g)
        if np.max(np.abs(proj)) < 1e-10:
            break
    if np.max(np.abs(proj)) > 1e-7:
        raise ModelError(f"minres did not converge for {k} factor(s) ({res.message}; largest "
                         f"gradient {np.max(np.abs(proj)):.2g}).")
    lam = _loadings_from_psi(r, psi, k)
    uniq = np.diag(r) - np.sum(lam ** 2, axis=1)
    if names is not None:
        cols = [f"F{i + 1}" for i in range(k)]
        return MinresSolution(pd.DataFrame(lam, index=names, columns=cols),
                              pd.Series(uniq, index=names, name="uniqueness"))
    return MinresSolution(lam, uniq)


def _oblimin_criterion(lam: np.ndarray, gamma: float) -> tuple[float, np.ndarray]:
    # Direct oblimin: f = 1/4 sum_i sum_{j != l} (C L^2)_ij ... written with N = 1 1' - I:
    # X = (I - gamma/p 1 1') L^2 N,  f = 1/4 sum(L^2 * X),  gradient dF/dL = L * X.
    p = lam.shape[0]
    l2 = lam ** 2
    x = l2 @ (np.ones((lam.shape[1], lam.shape[1])) - np.eye(lam.shape[1]))
    if gamma != 0:
        x = x - (gamma / p) * np.ones((p, 1)) @ x.sum(axis=0, keepdims=True)
    return float(np.sum(l2 * x)) / 4.0, lam * x


def oblimin(loadings, gamma: float = 0.0, *, eps: float = 1e-5, max_iter: int = 1000,
            normalize: bool = False, start=None) -> RotatedSolution:
    """Direct oblimin rotation by the gradient projection algorithm.

    Parameters
    ----------
    loadings : array or DataFrame, (p, m)
        Unrotated loadings (e.g. from :func:`minres`).
    gamma : float
        Oblimin parameter: 0 = quartimin (the default of R's psych and GPArotation).
    eps : float
        Stop when the norm of the projected gradient is below ``eps``.  The
        default 1e-5 is GPArotation's, so results follow R's ``psych`` step by
        step; pass e.g. 1e-10 for a fully converged rotation.
    max_iter : int
    normalize : bool
        Kaiser normalisation (rows scaled to unit length before rotating).
    start : array, (m, m), optional
        Starting transformation (identity by default).

    Returns
    -------
    RotatedSolution
        ``(rotated, phi)``: the pattern loadings ``A (T')^-1`` and the factor
        correlations ``phi = T'T``.  Factors are neither sorted nor reflected
        (see :func:`sort_and_reflect`).

    Raises
    ------
    ModelError
        No convergence within ``max_iter`` iterations.

    Notes
    -----
    Oblique GPA (Jennrich, 2002; Bernaards & Jennrich, 2005): the columns
    of ``T`` have unit length; at each step the gradient
    ``G = -(L' dQ/dL T^-1)'`` is projected onto the tangent space
    ``Gp = G - T diag(1' (T * G))``, a step ``T - a Gp`` is taken with
    columns renormalised, halving ``a`` (up to 10 times) until the
    criterion falls by at least ``a |Gp|^2 / 2``, and ``a`` is doubled at
    the start of the next step.  The oblimin criterion is
    ``Q = 1/4 sum(L^2 * ((I - gamma/p 11') L^2 (11' - I)))``.
    Validated against ``GPArotation::oblimin``.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([[.7, .3], [.6, .4], [.5, -.4], [.6, -.3]])
    >>> rot, phi = oblimin(a, eps=1e-8, max_iter=10000)
    >>> bool(np.allclose(rot @ phi @ rot.T, a @ a.T, rtol=0, atol=1e-10))
    True
    """
    names = (list(loadings.index), list(loadings.columns)) if isinstance(loadings, pd.DataFrame) else None
    a = np.asarray(loadings, dtype=float)
    if a.ndim != 2 or a.shape[1] < 2:
        raise DataError("oblimin needs a loading matrix with at least two factors.")
    m = a.shape[1]
    w = np.ones(a.shape[0])
    if normalize:
        w = np.sqrt(np.sum(a ** 2, axis=1))
        a = a / w[:, None]
    t = np.eye(m) if start is None else np.asarray(start, dtype=float)
    al = 1.0
    lam = a @ np.linalg.inv(t).T
    f, gq = _oblimin_criterion(lam, gamma)
    g = -(lam.T @ gq @ np.linalg.inv(t)).T
    converged = False
    for _ in range(max_iter + 1):
        gp = g - t @ np.diag(np.sum(t * g, axis=0))
        s = np.sqrt(np.sum(gp ** 2))
        if s < eps:
            converged = True
            break
        al *= 2.0
        for _inner in range(11):
            x = t - al * gp
            tt = x / np.sqrt(np.sum(x ** 2, axis=0))
            lam = a @ np.linalg.inv(tt).T
            ft, gqt = _oblimin_criterion(lam, gamma)
            if f - ft > 0.5 * s ** 2 * al:
                break
            al /= 2.0
        t = tt
        f = ft
        g = -(lam.T @ gqt @ np.linalg.inv(tt)).T
    if not converged:
        raise ModelError(f"oblimin did not converge in {max_iter} iterations (gradient norm {s:.2g} "
                         f"> eps = {eps:g}); pass a larger `max_iter` or `eps`.")
    lam = lam * w[:, None]
    phi = t.T @ t
    if names is not None:
        return RotatedSolution(pd.DataFrame(lam, index=names[0], columns=names[1]),
                               pd.DataFrame(phi, index=names[1], columns=names[1]))
    return RotatedSolution(lam, phi)


def sort_and_reflect(loadings, phi):
    """Order factors by variance accounted for and make column sums positive.

    Variance accounted for by factor j is ``diag(Phi L' L)_j`` (psych's
    ordering for oblique solutions).  Reflection flips the sign of a factor's
    loadings and of its correlations with other factors.

    Returns
    -------
    (loadings, phi) of the same types as given.
    """
    is_df = isinstance(loadings, pd.DataFrame)
    lam = np.asarray(loadings, dtype=float)
    ph = np.asarray(phi, dtype=float)
    vaf = np.diag(ph @ lam.T @ lam)
    order = np.argsort(-vaf, kind="stable")
    lam = lam[:, order]
    ph = ph[np.ix_(order, order)]
    signs = np.sign(lam.sum(axis=0))
    signs[signs == 0] = 1.0
    lam = lam * signs
    ph = ph * np.outer(signs, signs)
    if is_df:
        cols = [loadings.columns[i] for i in order]
        return (pd.DataFrame(lam, index=loadings.index, columns=cols),
                pd.DataFrame(ph, index=cols, columns=cols))
    return lam, ph


def schmid_leiman(pattern, phi, *, communalities=None) -> SchmidLeiman:
    """Schmid-Leiman transformation of an oblique factor solution.

    Parameters
    ----------
    pattern : array, (p, m)
        Oblique pattern loadings (e.g. from :func:`oblimin`), m >= 2.
    phi : array, (m, m)
        Factor correlations.
    communalities : array, (p,), optional
        Item communalities used for the uniquenesses ``u2 = 1 - h2``.  By
        default those of the oblique solution, ``diag(P Phi P')``.

    Returns
    -------
    SchmidLeiman
        g loadings ``P g_f``, group loadings ``P diag(sqrt(1 - g_f^2))``,
        h2, u2 and g_f (the first-order factors' loadings on g).

    Notes
    -----
    The first-order factors' loadings on the general factor ``g_f`` come from
    a one-factor minres solution of ``Phi`` when m >= 3; with m = 2 the
    model is not identified and, as ``psych::schmid(option = "equal")``
    does, both are set to ``sqrt(phi_12)``.  Validated through
    ``psych::omega``.
    """
    p_mat = np.asarray(pattern, dtype=float)
    ph = np.asarray(phi, dtype=float)
    m = p_mat.shape[1]
    if m < 2:
        raise DataError("schmid_leiman needs at least two factors.")
    if m == 2:
        r12 = ph[0, 1]
        if r12 < 0:
            raise ModelError("The two factors correlate negatively; no general factor can be formed.")
        gf = np.array([np.sqrt(r12), np.sqrt(r12)])
    else:
        gf = np.asarray(minres(ph, 1).loadings, dtype=float)[:, 0]
    if np.any(np.abs(gf) >= 1):
        raise ModelError(f"With {m} group factors a first-order factor loads 1 or more on the general "
                         "factor (Heywood case in the factor correlations); try fewer factors.")
    g = p_mat @ gf
    group = p_mat * np.sqrt(1.0 - gf ** 2)
    if communalities is None:
        h2 = np.diag(p_mat @ ph @ p_mat.T)
    else:
        h2 = np.asarray(communalities, dtype=float)
    return SchmidLeiman(general=g, group=group, communalities=h2, uniquenesses=1.0 - h2,
                        general_of_factors=gf)


def efa(corr, n_factors: int, *, rotate: str = "oblimin", gamma: float = 0.0, eps: float = 1e-5,
        max_iter: int = 1000) -> EfaSolution:
    """Exploratory factor analysis as ``psych::fa(r, n_factors, fm="minres", rotate=...)``.

    Minres extraction (:func:`minres`), then oblimin rotation (``rotate="oblimin"``)
    or none (``rotate="none"``), factors ordered by variance accounted for
    and reflected to positive column sums (:func:`sort_and_reflect`).

    Returns
    -------
    EfaSolution
        ``(loadings, phi, communalities, uniquenesses)``; ``phi`` is the
        identity for one factor or no rotation.

    Examples
    --------
    >>> import numpy as np
    >>> lam = np.array([[.8, 0], [.7, 0], [.6, 0], [0, .7], [0, .6], [0, .5]])
    >>> r = lam @ np.array([[1, .3], [.3, 1]]) @ lam.T
    >>> np.fill_diagonal(r, 1)
    >>> sol = efa(r, 2, eps=1e-8, max_iter=10000)
    >>> float(np.round(sol.phi[0, 1], 3))
    0.3
    """
    if rotate not in ("oblimin", "none"):
        raise DataError(f"The value for `rotate` must be one of ['oblimin', 'none'], but {rotate!r} was passed.")
    lam, uniq = minres(corr, n_factors)
    k = int(n_factors)
    if k == 1 or rotate == "none":
        lam_arr = np.asarray(lam, dtype=float)
        phi = np.eye(k)
        if isinstance(lam, pd.DataFrame):
            phi = pd.DataFrame(phi, index=lam.columns, columns=lam.columns)
        comm = np.sum(lam_arr ** 2, axis=1)
        if isinstance(lam, pd.DataFrame):
            comm = pd.Series(comm, index=lam.index, name="communality")
        return EfaSolution(lam, phi, comm, uniq)
    rot, phi = oblimin(lam, gamma, eps=eps, max_iter=max_iter)
    rot, phi = sort_and_reflect(rot, phi)
    if isinstance(rot, pd.DataFrame):
        names = [f"F{i + 1}" for i in range(k)]
        rot.columns = names
        phi.index = names
        phi.columns = names
    r_arr, p_arr = np.asarray(rot, dtype=float), np.asarray(phi, dtype=float)
    comm = np.diag(r_arr @ p_arr @ r_arr.T)
    if isinstance(rot, pd.DataFrame):
        comm = pd.Series(comm, index=rot.index, name="communality")
    return EfaSolution(rot, phi, comm, uniq)
