"""Multiple imputation by chained equations, and Rubin's rules for pooling.

:func:`impute` fills missing values ``m`` times with statsmodels' chained
equations (predictive mean matching, with the imputation model's parameters
drawn from their sampling distribution so each completed data set is a proper
draw).  Fit any model of the library to each completed data set and combine
the estimates with :func:`pool` (Rubin's rules), or do both in one call with
:meth:`ImputedData.fit`.

Pooling is validated against R's ``mitools::MIcombine``; imputation against
the known truth of simulated missing-at-random data (complete-case analysis is
biased there, the pooled estimate is not).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ._errors import DataError
from ._results import Result
from ._validation import (as_frame, as_list, check_positive_int, check_probability, describe_rows, require_columns,
                          require_finite)

__all__ = ["impute", "pool", "ImputedData"]


@dataclasses.dataclass(frozen=True)
class ImputedData(Result):
    """``m`` completed copies of a data set, with a report of what was filled.

    Attributes
    ----------
    datasets : tuple of pandas.DataFrame
        The completed data sets (same rows and index as the input).
    missing : pandas.DataFrame
        Per imputed column: ``n_missing`` and ``share_missing`` before imputation.
    m : int
        Number of imputations.
    columns : tuple of str
        Columns used in the chained equations.
    """

    datasets: tuple
    missing: pd.DataFrame
    m: int
    columns: tuple
    seed: int | None = None

    title = "Multiple imputation by chained equations"

    def to_frame(self) -> pd.DataFrame:
        return self.missing.copy()

    def notes(self) -> list[str]:
        rows = len(self.datasets[0]) if self.datasets else 0
        return [f"{self.m} imputations of {rows} rows; predictive mean matching (statsmodels MICE)."]

    def fit(self, fit_one: Callable[[pd.DataFrame], pd.DataFrame], *, df_complete: float | None = None,
            ci: float = 0.95) -> pd.DataFrame:
        """Fit a model to every completed data set and pool with Rubin's rules.

        Parameters
        ----------
        fit_one : callable
            Takes one completed DataFrame and returns a table indexed by term
            with columns ``estimate`` and ``se`` (for example
            ``lambda d: bl.models.ols(d, "y ~ x").fixed``).
        df_complete : float, optional
            Complete-data degrees of freedom, for the Barnard-Rubin correction.

        Returns
        -------
        pandas.DataFrame
            See :func:`pool`.
        """
        tables = [fit_one(d) for d in self.datasets]
        return pool(tables, df_complete=df_complete, ci=ci)


def impute(data: pd.DataFrame, *, columns: Sequence[str] | None = None, m: int = 20,
           burn_in: int = 10, between: int = 5, seed: int | None = None, k_pmm: int = 20) -> ImputedData:
    """Impute missing values ``m`` times by chained equations.

    Parameters
    ----------
    data : pandas.DataFrame
        The data; only ``columns`` take part in the imputation, other columns
        are carried along unchanged.
    columns : list of str, optional
        Numeric columns for the chained equations (default: every numeric
        column).  Include the analysis model's outcome and predictors, and
        auxiliary variables that predict missingness.
    m : int
        Number of imputed data sets (20 is a good default; more when the
        fraction of missing information is large).
    burn_in : int
        Chained-equation cycles before the first data set is kept.
    between : int
        Cycles between kept data sets.
    seed : int, optional
        Random seed.
    k_pmm : int
        Donor pool size for predictive mean matching.

    Returns
    -------
    ImputedData

    Raises
    ------
    DataError
        When a column is not numeric, is entirely missing, or has no
        missing values in any column at all (nothing to impute).

    Notes
    -----
    Each variable with missing values is regressed on all others (OLS); the
    regression parameters are perturbed by a draw from their approximate
    sampling distribution, and each missing value is replaced by the observed
    value of a donor whose prediction is among the ``k_pmm`` closest
    (predictive mean matching, as ``mice``'s default ``pmm``).  Imputation is
    valid when data are missing at random given the variables included.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> d = pd.DataFrame({"x": rng.normal(size=200)})
    >>> d["y"] = 2 * d["x"] + rng.normal(size=200)
    >>> d.loc[d.index[:40], "y"] = np.nan
    >>> imp = impute(d, m=5, seed=1)
    >>> imp.m, int(imp.datasets[0]["y"].isna().sum())
    (5, 0)
    """
    from statsmodels.imputation.mice import MICEData

    data = as_frame(data)
    m = check_positive_int("m", m, minimum=2)
    check_positive_int("burn_in", burn_in, minimum=0)
    check_positive_int("between", between, minimum=1)
    if columns is None:
        columns = [c for c in data.columns if pd.api.types.is_numeric_dtype(data[c])]
    columns = require_columns(data, as_list(columns))
    if len(columns) < 2:
        raise DataError("Chained equations need at least two columns.")
    for col in columns:
        if not (pd.api.types.is_numeric_dtype(data[col]) or pd.api.types.is_bool_dtype(data[col])):
            bad = data[col].dropna()
            raise DataError(
                f"Column {col!r} is not numeric (value {bad.iloc[0]!r} in {describe_rows(bad.index[:1])}); "
                "code categories as 0/1 indicators before imputing.")
        if data[col].isna().all():
            raise DataError(f"Column {col!r} is missing in every row; it cannot be imputed.")
    require_finite(data, columns, what="imputation")
    block = data[columns].astype(float)
    n_missing = block.isna().sum()
    if int(n_missing.sum()) == 0:
        raise DataError(f"No missing values in {columns}: there is nothing to impute.")
    n_coef = len(columns)          # intercept and the other columns of each imputation model
    for col in columns:
        n_obs = int(len(block) - n_missing[col])
        if n_missing[col] and n_obs <= n_coef:
            raise DataError(f"Column {col!r} has only {n_obs} observed values, but its imputation model "
                            f"has {n_coef} coefficients (an intercept and {n_coef - 1} other columns); "
                            f"it needs at least {n_coef + 1} observed values.")

    # statsmodels needs formula-safe names and a default RangeIndex.
    safe = {c: f"v{i}" for i, c in enumerate(columns)}
    work = block.rename(columns=safe).reset_index(drop=True)
    rng = np.random.default_rng(seed)
    engine = MICEData(work, k_pmm=k_pmm, rng=rng)
    completed = []
    if burn_in:
        engine.update_all(burn_in)
    for i in range(m):
        if i > 0 or burn_in == 0:
            engine.update_all(between)
        filled = engine.data.rename(columns={v: k for k, v in safe.items()})
        out = data.copy()
        out[columns] = filled.to_numpy()
        completed.append(out)

    missing = pd.DataFrame({"n_missing": n_missing.astype(int),
                            "share_missing": n_missing / len(data)})
    missing.index.name = "column"
    return ImputedData(tuple(completed), missing, m, tuple(columns), seed)


def pool(results: Sequence[pd.DataFrame], *, df_complete: float | None = None,
         ci: float = 0.95) -> pd.DataFrame:
    """Combine estimates from multiply imputed data sets (Rubin's rules).

    Parameters
    ----------
    results : list of pandas.DataFrame
        One table per imputed data set, indexed by term, with columns
        ``estimate`` and ``se``.  All tables must have the same terms.
    df_complete : float, optional
        Degrees of freedom of the analysis had the data been complete; when
        given, the Barnard-Rubin (1999) small-sample degrees of freedom are
        used, otherwise Rubin's (1987) large-sample ones.
    ci : float
        Confidence level.

    Returns
    -------
    pandas.DataFrame
        Indexed by term: ``estimate``, ``se``, ``df``, ``ci_low``, ``ci_high``,
        ``statistic``, ``p_value``, ``within_var``, ``between_var``, ``riv``
        (relative increase in variance) and ``fmi`` (fraction of missing
        information), plus ``m``.

    Notes
    -----
    With estimates :math:`Q_i` and variances :math:`U_i` from :math:`m` data sets,

    .. math::

        \\bar Q = \\tfrac1m \\sum Q_i,\\quad \\bar U = \\tfrac1m \\sum U_i,\\quad
        B = \\tfrac1{m-1} \\sum (Q_i - \\bar Q)^2,\\quad T = \\bar U + (1 + \\tfrac1m) B,

    :math:`r = (1 + 1/m) B / \\bar U`, Rubin's degrees of freedom
    :math:`\\nu = (m-1)(1 + 1/r)^2`; with complete-data df :math:`\\nu_c`,
    :math:`\\gamma = (1+1/m)B/T`, :math:`\\nu_{obs} = \\frac{\\nu_c+1}{\\nu_c+3}\\nu_c(1-\\gamma)`
    and :math:`\\nu_{BR} = (1/\\nu + 1/\\nu_{obs})^{-1}`.  The fraction of missing
    information is :math:`(r + 2/(\\nu+3)) / (r + 1)`.  Validated against
    ``mitools::MIcombine`` (Rubin's df, and ``df.complete`` for Barnard-Rubin).

    Examples
    --------
    >>> a = pd.DataFrame({"estimate": [1.0], "se": [0.1]}, index=["x"])
    >>> b = pd.DataFrame({"estimate": [1.2], "se": [0.1]}, index=["x"])
    >>> round(float(pool([a, b]).loc["x", "estimate"]), 3)
    1.1
    """
    level = check_probability("ci", ci)
    if len(results) < 2:
        raise DataError("Pooling needs estimates from at least two imputed data sets.")
    terms = list(results[0].index)
    for i, r in enumerate(results):
        for col in ("estimate", "se"):
            if col not in r.columns:
                raise DataError(f"Result {i} has no column {col!r}; each table needs 'estimate' and 'se'.")
        if list(r.index) != terms:
            raise DataError(f"Result {i} has terms {list(r.index)}, but result 0 has {terms}.")
    q = np.column_stack([r["estimate"].to_numpy(float) for r in results])
    u = np.column_stack([r["se"].to_numpy(float) ** 2 for r in results])
    if not (np.isfinite(q).all() and np.isfinite(u).all()):
        raise DataError("Some estimates or standard errors are not finite; check each imputed fit.")
    se_all = np.column_stack([r["se"].to_numpy(float) for r in results])
    if (se_all < 0).any():
        i, j = np.argwhere(se_all < 0)[0]
        raise DataError(f"The standard error of term {terms[i]!r} in result {j} is negative "
                        f"({se_all[i, j]!r}); standard errors cannot be below 0.")
    if (u.max(axis=1) == 0).any():
        i = int(np.argmax(u.max(axis=1) == 0))
        raise DataError(f"The standard error of term {terms[i]!r} is 0 in every imputed fit; Rubin's "
                        "rules need a positive within-imputation variance (check those fits).")
    if df_complete is not None and not (np.isfinite(df_complete) and df_complete >= 1):
        raise DataError(f"`df_complete` must be a finite number of degrees of freedom of at least 1, "
                        f"but {df_complete!r} was passed.")
    m = q.shape[1]
    qbar = q.mean(axis=1)
    ubar = u.mean(axis=1)
    b = q.var(axis=1, ddof=1)
    t = ubar + (1 + 1 / m) * b
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (1 + 1 / m) * b / ubar
        df = np.where(b > 0, (m - 1) * (1 + 1 / r) ** 2, np.inf)
        if df_complete is not None:
            gamma = (1 + 1 / m) * b / t
            df_obs = (df_complete + 1) / (df_complete + 3) * df_complete * (1 - gamma)
            df = 1 / (1 / df + 1 / df_obs)
        fmi = (r + 2 / (df + 3)) / (r + 1)
    se = np.sqrt(t)
    tcrit = stats.t.ppf(0.5 + level / 2, df)
    stat = qbar / se
    out = pd.DataFrame({
        "estimate": qbar, "se": se, "df": df,
        "ci_low": qbar - tcrit * se, "ci_high": qbar + tcrit * se,
        "statistic": stat, "p_value": 2 * stats.t.sf(np.abs(stat), df),
        "within_var": ubar, "between_var": b, "riv": r, "fmi": fmi,
    }, index=pd.Index(terms, name="term"))
    out["m"] = m
    return out
