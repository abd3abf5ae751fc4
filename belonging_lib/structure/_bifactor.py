"""Bifactor models and omega hierarchical from a confirmatory fit."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .._errors import ModelError
from .._results import Result
from .._validation import as_list
from . import _mgml as M
from ._cfa import CFAResult, cfa

__all__ = ["BifactorOmega", "BifactorResult", "bifactor", "bifactor_omega"]

GENERAL = "general"


@dataclasses.dataclass(frozen=True, eq=False)
class BifactorOmega(Result):
    """Omega hierarchical and omega total from given bifactor loadings (:func:`bifactor_omega`).

    Attributes
    ----------
    omega_h : float
        Share of the total score's variance due to the general factor.
    omega_total : float
        Share due to all factors.
    share : pandas.Series
        One value per specific factor (indexed by its name): the share of the
        total score's variance it carries.
    ecv : float
        Explained common variance of the general factor.
    """

    omega_h: float
    omega_total: float
    share: pd.Series
    ecv: float

    title = "Omega from bifactor loadings"

    def to_frame(self) -> pd.DataFrame:
        """term, estimate: omega_h, omega_total, each specific factor's share, ecv."""
        rows = [{"term": "omega_h", "estimate": self.omega_h},
                {"term": "omega_total", "estimate": self.omega_total}]
        rows += [{"term": f"share {name}", "estimate": v} for name, v in self.share.items()]
        rows.append({"term": "ecv", "estimate": self.ecv})
        return pd.DataFrame(rows)


def bifactor_omega(general: Sequence[float], specific: Mapping[str, Sequence[float]],
                   residual: Sequence[float]) -> BifactorOmega:
    """Omega hierarchical, omega total and the specific factors' shares from bifactor loadings.

    Parameters
    ----------
    general : sequence of float
        Every item's loading on the general factor (factor variance 1).
    specific : mapping of str to sequence of float
        Each specific factor's loadings, one per item, 0 for the items that do
        not load on it (factor variance 1, uncorrelated with the general factor
        and with each other).
    residual : sequence of float
        Every item's residual variance.

    Returns
    -------
    BifactorOmega
        ``omega_h`` (the share of the total score's variance due to the general
        factor), ``omega_total`` (due to all factors), ``share`` (a Series, one
        value per specific factor: the share of the total score's variance it
        carries) and ``ecv`` (explained common variance of the general factor).

    Notes
    -----
    With orthogonal factors the variance of the sum of the items is
    :math:`V = (\\sum_i\\lambda_{gi})^2 + \\sum_s(\\sum_i\\lambda_{si})^2 + \\sum_i\\theta_i`,
    so :math:`\\omega_h = (\\sum\\lambda_g)^2/V`,
    :math:`\\omega_t = 1 - \\sum\\theta/V`, and a specific factor's share is
    :math:`(\\sum\\lambda_s)^2/V` (Rodriguez, Reise & Haviland, 2016).  Loadings
    from a standardised solution with :math:`\\theta_i = 1 - \\lambda_{gi}^2 -
    \\sum_s\\lambda_{si}^2` give the coefficients of the sum of standardised items.

    Examples
    --------
    >>> out = bifactor_omega([0.7] * 6, {"method": [0, 0, 0, 0.4, 0.4, 0.4]},
    ...                      [0.51] * 3 + [0.35] * 3)
    >>> round(out.omega_h, 3), round(float(out.share["method"]), 3)
    (0.814, 0.066)
    """
    g = np.asarray(general, dtype=float)
    th = np.asarray(residual, dtype=float)
    if g.ndim != 1 or th.shape != g.shape:
        raise ModelError("`general` and `residual` must hold one value per item, of the same length.")
    parts = {}
    for name, given in specific.items():
        lam = np.asarray(given, dtype=float)
        if lam.shape != g.shape:
            raise ModelError(f"The loadings of specific factor {name!r} must hold one value per item "
                             f"({g.size}), 0 where an item does not load on it; got {lam.size}.")
        parts[name] = lam
    common_g = g.sum() ** 2
    common_s = {name: lam.sum() ** 2 for name, lam in parts.items()}
    total = common_g + sum(common_s.values()) + th.sum()
    sq_g = (g ** 2).sum()
    sq_s = sum((lam ** 2).sum() for lam in parts.values())
    share = pd.Series({name: float(v / total) for name, v in common_s.items()}, dtype=float, name="share")
    return BifactorOmega(omega_h=float(common_g / total), omega_total=float(1 - th.sum() / total), share=share,
                         ecv=float(sq_g / (sq_g + sq_s)) if sq_g + sq_s > 0 else float("nan"))


@dataclasses.dataclass(frozen=True, eq=False)
class BifactorResult(Result):
    """Omega hierarchical from an orthogonal bifactor model.

    Attributes
    ----------
    omega_h : float
        Share of the total score's variance due to the general factor.
    omega_total : float
        Share due to all factors (general and specific).
    specific : pandas.DataFrame
        One row per specific factor: factor, n_items, share (its share of the
        total score's variance), omega_hs (the share of its own items' sum score
        due to it alone).
    ecv : float
        Explained common variance of the general factor (standardised loadings).
    fit : CFAResult
        The fitted bifactor model (loadings, fit statistics).
    items : tuple
        The items, in order.
    n, n_excluded : int
        Rows used, and rows excluded listwise for a missing item.
    reverse : tuple
        Items reverse-keyed before fitting.
    """

    omega_h: float
    omega_total: float
    specific: pd.DataFrame
    ecv: float
    fit: CFAResult
    items: tuple
    n: int
    n_excluded: int
    reverse: tuple = ()

    title = "Bifactor model: omega hierarchical"

    def to_frame(self) -> pd.DataFrame:
        """term, estimate: omega_h, omega_total, each specific factor's share, ecv."""
        rows = [{"term": "omega_h", "estimate": self.omega_h},
                {"term": "omega_total", "estimate": self.omega_total}]
        rows += [{"term": f"share {r.factor}", "estimate": r.share} for r in self.specific.itertuples()]
        rows.append({"term": "ecv", "estimate": self.ecv})
        return pd.DataFrame(rows)

    def notes(self) -> list[str]:
        return self.fit.notes() + ["General factor and specific factors uncorrelated (orthogonal); "
                                   "omega from the model-implied variance of the sum of the items."]


def bifactor(data: pd.DataFrame, *, items: Sequence[str], specific: Mapping[str, Sequence[str]],
             reverse: Sequence[str] = (), response_range: tuple | None = None,
             missing: str = "listwise") -> BifactorResult:
    """Fit an orthogonal bifactor model and report omega hierarchical, as lavaan does.

    Every item loads on one general factor; the items of each specific factor
    (for example the negatively worded items of a scale, a "method" factor)
    also load on that factor.  All factors are uncorrelated.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per respondent.
    items : sequence of str
        Every item of the scale (all load on the general factor).
    specific : mapping of str to sequence of str
        Specific factors: name -> its items (3 or more each, all among ``items``;
        an item loads on at most one specific factor).
    reverse : sequence of str
        Items to reverse-key first (within ``response_range``), so that every
        general loading has the same sign.
    response_range : (min, max), optional
        The answer codes' range, for reverse keying.
    missing : {"listwise", "ml"}
        As :func:`cfa`.

    Returns
    -------
    BifactorResult

    Raises
    ------
    ModelError
        A specific factor has fewer than 3 items, an item is in two specific
        factors or not among ``items``, or the model cannot be fitted.

    Notes
    -----
    The model is fitted by :func:`cfa` with ``orthogonal=True`` (lavaan's
    ``cfa(model, orthogonal = TRUE)``; the first item of each factor is its
    marker).  Omega comes from the unstandardised estimates, scaled to factor
    variance 1 (:func:`bifactor_omega`): the variance of the sum of the items
    as the model implies it, split into the general factor, each specific
    factor and the residuals (Rodriguez, Reise & Haviland, 2016).  A
    specific factor's ``omega_hs`` divides its part by the model-implied
    variance of its own items' sum.

    Unlike a Schmid-Leiman solution, which needs at least three group factors
    to be identified, a bifactor model with a single specific factor is
    identified, so it fits the usual case of one "negative wording" factor.

    Validated against lavaan 0.6 on the Holzinger-Swineford data and the
    course's sample (``tests/reference/bifactor.R``).

    References
    ----------
    Rodriguez, A., Reise, S. P., & Haviland, M. G. (2016). Evaluating bifactor
    models: Calculating and interpreting statistical indices. *Psychological
    Methods*, 21(2), 137-150. https://doi.org/10.1037/met0000045

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(3)
    >>> g, s = rng.normal(size=(2, 800, 1))
    >>> lam = np.array([[.7, .6, .7, .6, .7, .6]])
    >>> x = g @ lam + s @ np.array([[0, 0, 0, .4, .4, .4]]) + rng.normal(scale=.6, size=(800, 6))
    >>> res = bifactor(pd.DataFrame(x, columns=list("abcdef")), items=list("abcdef"),
    ...                specific={"method": ["d", "e", "f"]})
    >>> bool(0.6 < res.omega_h < res.omega_total < 1)
    True
    """
    from ..reliability import _prepare_items

    items = as_list(items)
    if not isinstance(specific, Mapping) or not specific:
        raise ModelError("`specific` must map each specific factor's name to its items, for example "
                         "{'negative': ['q3', 'q6', 'q9']}.")
    seen: dict = {}
    for name, its in specific.items():
        its = as_list(its)
        if not re.fullmatch(M._NAME, str(name)) or name == GENERAL:
            raise ModelError(f"Specific factor name {name!r} must be a plain name other than {GENERAL!r}.")
        if len(its) < 3:
            raise ModelError(f"Specific factor {name!r} has {len(its)} item(s); a specific factor uncorrelated "
                             "with the general factor needs at least 3 to be identified.")
        for it in its:
            if it not in items:
                raise ModelError(f"Item {it!r} of specific factor {name!r} is not among `items`.")
            if it in seen:
                raise ModelError(f"Item {it!r} is in two specific factors ({seen[it]!r} and {name!r}).")
            seen[it] = name
    x, rev = _prepare_items(data, items=items, reverse=reverse, response_range=response_range)
    model = "\n".join([f"{GENERAL} =~ " + " + ".join(items)]
                      + [f"{name} =~ " + " + ".join(as_list(its)) for name, its in specific.items()])
    res = cfa(x, model, missing=missing, orthogonal=True)
    par = res.parameters
    lam = par[par["kind"] == "loading"]
    var = par[par["kind"] == "factor variance"].assign(
        factor=lambda t: t["term"].str.split(" ~~ ").str[0]).set_index("factor")["estimate"]
    resid = par[par["kind"] == "residual variance"].assign(
        item=lambda t: t["term"].str.split(" ~~ ").str[0]).set_index("item")["estimate"]

    def loadings(factor):
        rows = lam[lam["term"].str.startswith(f"{factor} =~ ")]
        vals = dict(zip(rows["term"].str.split(" =~ ").str[1], rows["estimate"]))
        return np.array([vals.get(i, 0.0) for i in items]) * np.sqrt(max(var[factor], 0.0))

    g = loadings(GENERAL)
    spec = {name: loadings(name) for name in specific}
    th = resid.reindex(items).to_numpy()
    # ECV on standardised loadings, as usually reported
    sd = np.sqrt(g ** 2 + sum(v ** 2 for v in spec.values()) + th)
    out = bifactor_omega(g, spec, th)
    std = bifactor_omega(g / sd, {k: v / sd for k, v in spec.items()}, th / sd ** 2)
    rows = []
    for name, its in specific.items():
        idx = [items.index(i) for i in as_list(its)]
        own = g[idx].sum() ** 2 + spec[name][idx].sum() ** 2 + th[idx].sum()
        rows.append({"factor": name, "n_items": len(idx), "share": out.share[name],
                     "omega_hs": float(spec[name][idx].sum() ** 2 / own)})
    return BifactorResult(omega_h=out.omega_h, omega_total=out.omega_total, specific=pd.DataFrame(rows),
                          ecv=std.ecv, fit=res, items=tuple(items), n=res.n, n_excluded=res.n_excluded,
                          reverse=tuple(rev))
