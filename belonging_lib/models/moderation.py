"""Moderation: interaction models, simple slopes and the Johnson-Neyman interval.

Tests claims such as "belonging buffers disadvantage" (does the link between
free-school-meals eligibility and attainment depend on belonging?) and "strong
teacher relationships protect pupils facing adversity".
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from .._errors import DataError
from .._results import Result, coef_table, format_p, tidy
from .._validation import as_frame, as_list, check_choice, check_probability, require_columns, require_roles
from ._linear import complete_cases, fit_ols

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["moderation", "ModerationResult", "JohnsonNeyman", "SimpleSlopes", "johnson_neyman", "simple_slope"]


@dataclasses.dataclass(frozen=True, eq=False)
class SimpleSlopes(Result):
    """The predictor's slope at given moderator values (:func:`simple_slope`).

    Attributes
    ----------
    at : numpy.ndarray
        The moderator values.
    estimate, se : numpy.ndarray
        The slope and its standard error at each value.
    """

    at: np.ndarray
    estimate: np.ndarray
    se: np.ndarray

    title = "Simple slopes"

    def to_frame(self) -> pd.DataFrame:
        """moderator_value, estimate, se: one row per moderator value."""
        return tidy(pd.DataFrame({"moderator_value": np.atleast_1d(self.at),
                                  "estimate": np.atleast_1d(self.estimate), "se": np.atleast_1d(self.se)}))


def simple_slope(b_pred: float, b_int: float, v_pred: float, v_int: float, cov_pi: float,
                 at) -> SimpleSlopes:
    """Slope of the predictor at moderator value(s) ``at`` and its standard error.

    ``slope = b1 + b3 W`` and ``Var = v11 + 2 W v13 + W^2 v33`` (b1: predictor,
    b3: interaction).

    Returns
    -------
    SimpleSlopes
        ``at``, ``estimate`` and ``se`` (arrays, one value per moderator value).

    Examples
    --------
    >>> s = simple_slope(0.5, -0.2, 0.01, 0.0025, -0.001, [0.0, 1.0])
    >>> [round(float(v), 4) for v in s.estimate], [round(float(v), 4) for v in s.se]
    ([0.5, 0.3], [0.1, 0.1025])
    """
    w = np.asarray(at, dtype=float)
    est = b_pred + b_int * w
    var = v_pred + 2.0 * w * cov_pi + w ** 2 * v_int
    return SimpleSlopes(at=w, estimate=est, se=np.sqrt(np.maximum(var, 0.0)))


@dataclasses.dataclass(frozen=True, eq=False)
class JohnsonNeyman(Result):
    """Where a simple slope's significance changes (:func:`johnson_neyman`).

    Attributes
    ----------
    bounds : tuple of float
        The moderator values where it changes, in increasing order (empty when it never does).
    region : str
        Where the slope is significant: ``"outside"`` the bounds, ``"inside"`` them,
        ``"above"`` / ``"below"`` the single bound, ``"everywhere"`` or ``"nowhere"``.
    """

    bounds: tuple
    region: str

    title = "Johnson-Neyman bounds"

    def to_frame(self) -> pd.DataFrame:
        """One row per bound: bound, moderator_value; the region in every row."""
        return pd.DataFrame({"bound": np.arange(1, len(self.bounds) + 1), "moderator_value": list(self.bounds),
                             "region": [self.region] * len(self.bounds)},
                            columns=["bound", "moderator_value", "region"])

    def notes(self) -> list[str]:
        return [f"The slope is significant {self.region}" + (" the bounds." if self.bounds else ".")]


def johnson_neyman(b_pred: float, b_int: float, v_pred: float, v_int: float, cov_pi: float,
                   t_crit: float) -> JohnsonNeyman:
    """Moderator values where the simple slope's significance changes.

    Solves ``(b3^2 - t^2 v33) W^2 + 2 (b1 b3 - t^2 v13) W + (b1^2 - t^2 v11) = 0``.

    Returns
    -------
    JohnsonNeyman
        ``bounds`` (the real roots in increasing order, empty when significance never
        changes) and ``region`` (where the slope is significant: ``"outside"`` the bounds,
        ``"inside"`` them, ``"above"`` / ``"below"`` the single bound, ``"everywhere"`` or
        ``"nowhere"``).

    Examples
    --------
    >>> jn = johnson_neyman(0.0, 1.0, 1.0, 0.0, 0.0, 2.0)   # slope = W, SE = 1
    >>> jn.bounds, jn.region
    ((-2.0, 2.0), 'outside')
    """
    t2 = t_crit ** 2
    a = b_int ** 2 - t2 * v_int
    b = 2.0 * (b_pred * b_int - t2 * cov_pi)
    c = b_pred ** 2 - t2 * v_pred
    scale = max(abs(a), abs(b), abs(c), np.finfo(float).tiny)
    if abs(a) <= 1e-14 * scale:
        if abs(b) <= 1e-14 * scale:
            return JohnsonNeyman((), "everywhere" if c > 0 else "nowhere")
        root = -c / b
        return JohnsonNeyman((float(root),), "above" if b > 0 else "below")
    disc = b * b - 4.0 * a * c
    if disc <= 0:
        # the quadratic never changes sign: its sign is that of a
        return JohnsonNeyman((), "everywhere" if a > 0 else "nowhere")
    sq = np.sqrt(disc)
    # numerically stable roots
    q = -0.5 * (b + np.copysign(sq, b))
    r1, r2 = sorted([q / a, c / q])
    return JohnsonNeyman((float(r1), float(r2)), "outside" if a > 0 else "inside")


@dataclasses.dataclass(frozen=True, eq=False)
class ModerationResult(Result):
    """Interaction model with simple slopes and the Johnson-Neyman interval.

    Attributes
    ----------
    coefficients : DataFrame
        Tidy table of the interaction model (``term, estimate, se, ci_low, ci_high,
        statistic, df, p, n``).
    simple_slopes : DataFrame
        ``moderator_value, estimate, se, ci_low, ci_high, statistic, df, p``:
        the predictor's slope at each probed moderator value.
    jn_interval : tuple of float
        Moderator values where the slope's significance changes (empty when it never does).
    jn_region : str
        Where the slope is significant relative to ``jn_interval``.
    interaction, interaction_se, p_interaction : float
        The interaction coefficient, its SE and p-value.
    r2 : float
        R-squared of the interaction model.

    Methods :meth:`slope_at` (the simple slopes at any moderator values), :meth:`jn_curve` (the
    slope and its band over a grid of the moderator: the Johnson-Neyman plot's data) and
    :meth:`predicted_lines` (the predicted outcome along the predictor at each probed moderator
    value: the simple-slopes plot's data) give every number the figures draw.
    """

    outcome: str
    predictor: str
    moderator: str
    covariates: tuple
    coefficients: pd.DataFrame
    simple_slopes: pd.DataFrame
    jn_interval: tuple
    jn_region: str
    interaction: float
    interaction_se: float
    p_interaction: float
    ci_level: float
    alpha_jn: float
    df: float
    t_crit_jn: float
    n: int
    n_excluded: int
    n_clusters: int | None
    vcov_type: str
    r2: float
    moderator_range: tuple
    predictor_range: tuple
    moderator_binary: bool
    params: tuple
    vcov: np.ndarray = dataclasses.field(repr=False)
    covariate_means: tuple = ()
    df_method: str = "residual"
    fit: object = dataclasses.field(default=None, repr=False)

    title = "Moderation (interaction) model"

    def __repr__(self) -> str:
        return self.summary()

    def to_frame(self) -> pd.DataFrame:
        """The interaction model's coefficients as a tidy table."""
        return self.coefficients.copy()

    @property
    def jn_in_range(self) -> list[float]:
        """The Johnson-Neyman bounds that lie inside the observed moderator range (a list, maybe empty)."""
        lo, hi = self.moderator_range
        return [b for b in self.jn_interval if lo <= b <= hi]

    def df_at(self, at) -> np.ndarray:
        """Degrees of freedom of the simple slope's t test at moderator values ``at``."""
        w = np.atleast_1d(np.asarray(at, dtype=float))
        if self.df_method != "satterthwaite":
            return np.full(w.shape, self.df)
        ip, ii = _positions(self)
        out = np.empty(w.shape)
        for i, wi in enumerate(w):
            L = np.zeros(len(self.params))
            L[ip], L[ii] = 1.0, wi
            out[i] = self.fit.satterthwaite_df(L)
        return out

    def slope_at(self, at, *, ci_level: float | None = None) -> pd.DataFrame:
        """Simple slopes at any moderator values (same columns as ``simple_slopes``).

        ``ci_level`` defaults to the result's own.
        """
        level = self.ci_level if ci_level is None else check_probability("ci_level", ci_level)
        return _slopes_table(self, at, level)

    def jn_curve(self, *, n_points: int = 200, ci_level: float | None = None) -> pd.DataFrame:
        """The predictor's slope over a grid of the moderator, with its interval: the Johnson-Neyman plot.

        The grid runs over the observed moderator range, padded by 5% of it on each side, with
        ``n_points`` values.  ``ci_level`` defaults to ``1 - alpha_jn``, so the band crosses zero
        exactly at the Johnson-Neyman bounds.  Columns as :meth:`slope_at`, plus ``significant``
        (the interval excludes zero).
        """
        level = 1.0 - self.alpha_jn if ci_level is None else check_probability("ci_level", ci_level)
        lo, hi = self.moderator_range
        pad = 0.05 * (hi - lo if hi > lo else 1.0)
        table = _slopes_table(self, np.linspace(lo - pad, hi + pad, int(n_points)), level)
        table["significant"] = (table["ci_low"] > 0) | (table["ci_high"] < 0)
        return table

    def predicted_lines(self, *, n_points: int = 50) -> pd.DataFrame:
        """Predicted outcome along the predictor at each probed moderator value: the simple-slopes plot.

        Covariates are held at their means.  A 0/1 predictor gives the two points 0 and 1; otherwise
        ``n_points`` values span its observed range.  Columns ``moderator_value``, ``predictor_value``
        and ``predicted``.
        """
        names = self.coefficients["term"].tolist()
        b = dict(zip(names, self.params))
        x_lo, x_hi = self.predictor_range
        xs = np.array([0.0, 1.0]) if (x_lo, x_hi) == (0.0, 1.0) else np.linspace(x_lo, x_hi, int(n_points))
        cov_part = sum(b[c] * m for c, m in zip(self.covariates, self.covariate_means))
        rows = []
        for w in self.simple_slopes["moderator_value"]:
            yhat = (b["(Intercept)"] + b[self.predictor] * xs + b[self.moderator] * w
                    + b[_int_name(self.predictor, self.moderator)] * xs * w + cov_part)
            rows.append(pd.DataFrame({"moderator_value": w, "predictor_value": xs, "predicted": yhat}))
        return pd.concat(rows, ignore_index=True)

    def notes(self) -> list[str]:
        lines = [f"Slope of {self.predictor} by {self.moderator}: interaction = {self.interaction:.3f} "
                 f"(SE {self.interaction_se:.3f}, {format_p(self.p_interaction)})."]
        if self.df_method == "satterthwaite":
            lines.append(f"Johnson-Neyman (alpha = {self.alpha_jn:g}, t on Satterthwaite df at each "
                         f"value): {_describe_jn(self)}")
        else:
            lines.append(f"Johnson-Neyman (alpha = {self.alpha_jn:g}, t = {self.t_crit_jn:.3f} on "
                         f"{self.df:g} df): {_describe_jn(self)}")
        dfs = {"satterthwaite": "t on Satterthwaite df", "clusters": "t on clusters - 1 df"}
        se = (f"cluster-robust {self.vcov_type} SEs, {self.n_clusters} clusters, {dfs[self.df_method]}"
              if self.n_clusters else "classical OLS SEs")
        lines.append(f"N = {self.n} ({self.n_excluded} rows excluded for missing values); {se}; "
                     f"R-squared = {self.r2:.3f}.")
        return lines

    def summary(self) -> str:
        fmt = lambda v: f"{v:.{self.display_digits}f}"  # noqa: E731
        lines = [self.title, "=" * len(self.title), self.coefficients.to_string(float_format=fmt),
                 "", "Simple slopes", self.simple_slopes.to_string(float_format=fmt), ""]
        return "\n".join(lines + self.notes())

    def _repr_html_(self) -> str:
        fmt = lambda v: f"{v:.{self.display_digits}f}"  # noqa: E731
        t1 = self.coefficients.to_html(float_format=fmt, border=0, classes="bl-table", index=False)
        t2 = self.simple_slopes.to_html(float_format=fmt, border=0, classes="bl-table", index=False)
        notes = "".join(f"<p style='margin:0'><small>{n}</small></p>" for n in self.notes())
        return (f"<div class='bl-result'><strong>{self.title}</strong>{t1}"
                f"<strong>Simple slopes of {self.predictor}</strong>{t2}{notes}</div>")

    def plot(self, kind: str = "both", *, ax=None) -> Axes | np.ndarray:
        """Draw the simple slopes (``"slopes"``), the Johnson-Neyman plot (``"jn"``) or both.

        Returns the matplotlib Axes drawn on (for ``"both"``, the two Axes as a NumPy array, as
        ``plt.subplots`` gives them; ``ax`` must then be two Axes).
        """
        from ..plots.effects import johnson_neyman_plot, simple_slopes_plot

        check_choice("kind", kind, ["both", "slopes", "jn"])
        if kind == "slopes":
            return simple_slopes_plot(self, ax=ax)
        if kind == "jn":
            return johnson_neyman_plot(self, ax=ax)
        import matplotlib.pyplot as plt

        if ax is None:
            _fig, ax = plt.subplots(1, 2, figsize=(11, 4.2))
        simple_slopes_plot(self, ax=ax[0])
        johnson_neyman_plot(self, ax=ax[1])
        return ax


def _describe_jn(res: ModerationResult) -> str:
    b = res.jn_interval
    m = res.moderator
    f = lambda v: f"{v:.3f}"  # noqa: E731
    if res.jn_region == "everywhere":
        text = f"the slope is significant at every value of {m}."
    elif res.jn_region == "nowhere":
        text = f"the slope is not significant at any value of {m}."
    elif res.jn_region == "outside":
        text = f"significant when {m} < {f(b[0])} or {m} > {f(b[1])}."
    elif res.jn_region == "inside":
        text = f"significant when {f(b[0])} < {m} < {f(b[1])}."
    elif res.jn_region == "above":
        text = f"significant when {m} > {f(b[0])}."
    else:
        text = f"significant when {m} < {f(b[0])}."
    lo, hi = res.moderator_range
    if b:
        inside = res.jn_in_range
        text += (f" Observed {m} runs from {f(lo)} to {f(hi)}; "
                 + (f"bounds inside it: {', '.join(map(f, inside))}." if inside
                    else "no bound lies inside it."))
    return text


def _positions(res: ModerationResult) -> tuple[int, int]:
    """Positions of the predictor's and the interaction's coefficients, found by name."""
    names = res.coefficients["term"].tolist()
    return names.index(res.predictor), names.index(_int_name(res.predictor, res.moderator))


def _slopes_table(res: ModerationResult, at, ci_level: float) -> pd.DataFrame:
    ip, ii = _positions(res)
    V = res.vcov
    at = np.atleast_1d(np.asarray(at, dtype=float))
    slopes = simple_slope(res.params[ip], res.params[ii], V[ip, ip], V[ii, ii], V[ip, ii], at)
    table = coef_table(np.arange(len(at)), slopes.estimate, slopes.se, res.df_at(at),
                       ci_level=ci_level).reset_index(drop=True)
    table.insert(0, "moderator_value", at)
    return table


def _jn_satterthwaite(jn_args, bounds, region, alpha, fit, *, max_iter: int = 100):
    """Johnson-Neyman bounds where |t| equals the critical t on the bound's own Satterthwaite df."""
    k = len(fit.params)

    def t_at(w):
        L = np.zeros(k)
        L[1], L[3] = 1.0, w
        return stats.t.ppf(1.0 - alpha / 2.0, fit.satterthwaite_df(L))

    out = []
    for b in bounds:
        cur = b
        for _ in range(max_iter):
            jn = johnson_neyman(*jn_args, t_at(cur))
            roots, reg = jn.bounds, jn.region
            if not roots:
                return (), reg
            new = min(roots, key=lambda r: abs(r - cur))
            if abs(new - cur) <= 1e-12 * max(1.0, abs(cur)):
                cur = new
                break
            cur = new
        out.append(float(cur))
    return tuple(sorted(out)), reg


def _int_name(predictor: str, moderator: str) -> str:
    return f"{predictor}:{moderator}"


def moderation(data, *, outcome: str, predictor: str, moderator: str, covariates=None,
               cluster: str | None = None, at=None, probe: str = "percentiles",
               ci_level: float = 0.95, alpha_jn: float | None = None, vcov: str = "CR2",
               df_method: str | None = None) -> ModerationResult:
    r"""Fit ``outcome ~ predictor * moderator + covariates`` and probe the interaction.

    Parameters
    ----------
    data : DataFrame
        One row per pupil.
    outcome, predictor, moderator : str
        Numeric columns.  The moderator may be binary (0/1) or continuous.
    covariates : list of str, optional
        Numeric control variables (entered as main effects).
    cluster : str, optional
        Column identifying clusters (schools).  When given, coefficients keep their
        OLS values but SEs are cluster-robust (see ``vcov``) and t tests use
        clusters - 1 df.
    at : sequence of float, optional
        Moderator values at which to report simple slopes.  Default: 0 and 1 for a
        binary moderator; otherwise set by ``probe``.
    probe : {"percentiles", "sd"}
        ``"percentiles"``: the 16th, 50th and 84th percentiles of the moderator
        (PROCESS's default; numpy's linear interpolation, R's type 7);
        ``"sd"``: mean - 1 SD, mean, mean + 1 SD.
    ci_level : float
        Confidence level of the coefficients' and simple slopes' intervals.
    alpha_jn : float, optional
        Significance level of the Johnson-Neyman interval (default ``1 - ci_level``).
    vcov : {"CR2", "CR1"}
        Cluster-robust covariance when ``cluster`` is given: Bell-McCaffrey CR2
        (default; R's ``clubSandwich::vcovCR(type = "CR2")``) or CR1 (R's
        ``sandwich::vcovCL(type = "HC1")``, Stata's ``vce(cluster)``).
    df_method : {"satterthwaite", "clusters"}, optional
        Degrees of freedom of the t tests with a cluster: Satterthwaite's for each
        coefficient and simple slope (default with CR2, as ``clubSandwich::coef_test``)
        or clusters - 1 (default with CR1).

    Returns
    -------
    ModerationResult
        ``coefficients``, ``simple_slopes``, ``jn_interval``, ``jn_region``; ``slope_at()``,
        ``jn_curve()`` and ``predicted_lines()`` for any moderator values; ``plot()``.

    Raises
    ------
    ColumnError
        A named column is absent.
    DataError
        A column is not numeric, or an argument is invalid.
    ModelError
        The model cannot be estimated (collinear predictors, too few rows).

    Notes
    -----
    The model is :math:`Y = b_0 + b_1 X + b_2 W + b_3 XW + \\gamma'C + e` (the
    variables are used as given, not centred).  The simple slope of X at W is
    :math:`b_1 + b_3 W` with variance :math:`v_{11} + 2 W v_{13} + W^2 v_{33}`.
    The Johnson-Neyman bounds are the roots of
    :math:`(b_3^2 - t^2 v_{33}) W^2 + 2 (b_1 b_3 - t^2 v_{13}) W + (b_1^2 - t^2 v_{11}) = 0`,
    with :math:`t` the two-sided critical value on the residual df.  With CR2 and
    Satterthwaite df, the df depend on W; the bounds are then found by fixed-point
    iteration (solve the quadratic with the t of the current bound's df, repeat), so
    that at each bound :math:`|b_1 + b_3 W| / SE(W) = t_{\nu(W)}` exactly.  All real roots are reported; ``jn_in_range`` keeps
    those inside the observed moderator range.

    Validated against R: ``lm(y ~ x * w + c)`` with the moderator recentred at each
    probe value (simple slopes, exact), the Johnson-Neyman quadratic solved from
    ``vcov(lm)``, ``sandwich::vcovCL(type = "HC1")`` and ``clubSandwich::vcovCR(type = "CR2")``
    (tests/reference/claims.R),
    and a hand-derived case with a closed-form root.

    A significant interaction shows that the association differs across the
    moderator; it does not show that raising the moderator would change anyone's
    outcome.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> df = pd.DataFrame({"fsm": rng.integers(0, 2, 400), "belong": rng.normal(3, 0.6, 400)})
    >>> df["attain"] = 50 - 4 * df.fsm + 2 * df.belong + 1.5 * df.fsm * df.belong + rng.normal(0, 5, 400)
    >>> res = moderation(df, outcome="attain", predictor="fsm", moderator="belong")
    >>> res.simple_slopes.shape
    (3, 8)
    >>> round(res.interaction, 2)
    1.03
    """
    data = as_frame(data)
    ci_level = check_probability("ci_level", ci_level)
    alpha = 1.0 - ci_level if alpha_jn is None else check_probability("alpha_jn", alpha_jn)
    check_choice("probe", probe, ["percentiles", "sd"])
    check_choice("vcov", vcov, ["CR2", "CR1"])
    if cluster is None:
        df_method = "residual"
    else:
        df_method = df_method or ("satterthwaite" if vcov == "CR2" else "clusters")
        check_choice("df_method", df_method, ["satterthwaite", "clusters"])
        if df_method == "satterthwaite" and vcov != "CR2":
            raise DataError("df_method='satterthwaite' needs vcov='CR2'.")
    covs = as_list(covariates)
    require_roles(data, {"outcome": outcome, "predictor": predictor, "moderator": moderator})
    require_columns(data, covs, role="covariate column")
    frame, n_excl = complete_cases(data, [outcome, predictor, moderator] + covs, cluster=cluster)

    y = frame[outcome].to_numpy()
    x = frame[predictor].to_numpy()
    w = frame[moderator].to_numpy()
    iname = _int_name(predictor, moderator)
    names = ["(Intercept)", predictor, moderator, iname] + covs
    X = np.column_stack([np.ones_like(x), x, w, x * w] + [frame[c].to_numpy() for c in covs])
    fit = fit_ols(y, X, names, groups=None if cluster is None else frame[cluster].to_numpy(), vcov=vcov,
                  outcome=outcome)

    se = np.sqrt(np.diag(fit.vcov))
    if df_method == "satterthwaite":
        coef_df = np.array([fit.satterthwaite_df(e) for e in np.eye(len(names))])
    else:
        coef_df = np.full(len(names), fit.df)
    coefs = tidy(coef_table(names, fit.params, se, coef_df, ci_level=ci_level).assign(n=fit.n))

    binary = bool(set(np.unique(w)) <= {0.0, 1.0})
    if at is None:
        if binary:
            at = [0.0, 1.0]
        elif probe == "percentiles":
            at = np.percentile(w, [16, 50, 84])
        else:
            m, s = w.mean(), w.std(ddof=1)
            at = [m - s, m, m + s]
    at = np.atleast_1d(np.asarray(at, dtype=float))
    if at.ndim != 1 or not np.all(np.isfinite(at)):
        raise DataError(f"`at` must be a list of finite moderator values, but {at!r} was passed.")

    ip, ii = 1, 3
    t_jn = stats.t.ppf(1.0 - alpha / 2.0, fit.df)
    jn_args = (fit.params[ip], fit.params[ii], fit.vcov[ip, ip], fit.vcov[ii, ii], fit.vcov[ip, ii])
    jn = johnson_neyman(*jn_args, t_jn)
    bounds, region = jn.bounds, jn.region
    if df_method == "satterthwaite" and bounds:
        bounds, region = _jn_satterthwaite(jn_args, bounds, region, alpha, fit)
    res = ModerationResult(
        outcome=outcome, predictor=predictor, moderator=moderator, covariates=tuple(covs),
        coefficients=coefs, simple_slopes=pd.DataFrame(), jn_interval=bounds, jn_region=region,
        interaction=float(fit.params[ii]), interaction_se=float(se[ii]),
        p_interaction=float(coefs["p"].iloc[ii]), ci_level=ci_level, alpha_jn=alpha, df=fit.df,
        t_crit_jn=float(t_jn), n=fit.n, n_excluded=n_excl, n_clusters=fit.n_clusters,
        vcov_type=fit.vcov_type, r2=fit.rsquared,
        moderator_range=(float(w.min()), float(w.max())),
        predictor_range=(float(x.min()), float(x.max())), moderator_binary=binary,
        params=tuple(float(v) for v in fit.params), vcov=fit.vcov,
        covariate_means=tuple(float(frame[c].mean()) for c in covs), df_method=df_method, fit=fit,
    )
    object.__setattr__(res, "simple_slopes", _slopes_table(res, at, ci_level))
    return res
