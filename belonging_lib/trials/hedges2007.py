"""Hedges' (2007) effect sizes of a cluster-randomised trial, conditional and unconditional.

Hedges, L. V. (2007). Effect sizes in cluster-randomized designs. *Journal of Educational and
Behavioral Statistics*, 32(4), 341-370. https://doi.org/10.3102/1076998606298043
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
from scipy import stats

from .._results import Result, tidy
from .._validation import check_probability

__all__ = ["ClusterEffectSizes", "crt_effect_sizes"]


@dataclasses.dataclass(frozen=True)
class ClusterEffectSizes(Result):
    """Within- and total-variance effect sizes, from the analysis model's and the empty model's variances.

    ``table``: one row per effect size, ``term`` = ``"conditional, within"``, ``"conditional, total"``,
    ``"unconditional, within"``, ``"unconditional, total"``, with ``estimate``, ``se``, ``ci_low``,
    ``ci_high``, ``n``, and the variance components and ICC each row used (``var_cluster``,
    ``var_pupil``, ``icc``).  ``effect`` is the treatment coefficient of the analysis model.
    """

    table: pd.DataFrame = dataclasses.field(repr=False)
    effect: float
    n: int
    n_clusters: int
    ci_level: float = 0.95
    formula: str = ""
    title = "Cluster-trial effect sizes (Hedges 2007)"

    def to_frame(self) -> pd.DataFrame:
        return tidy(self.table.copy())

    def row(self, what: str) -> pd.Series:
        """One effect size, for example ``row("conditional, total")``."""
        return self.table.set_index("term").loc[what]

    def notes(self) -> list[str]:
        return [
            "Conditional: variance components of the analysis model (with its covariates); "
            "unconditional: of the empty model outcome ~ 1 + (1 | cluster).",
            "Total: Hedges' (2007) d_T2 with the correction for unequal cluster sizes; within: the "
            "treatment coefficient over the pupil-level SD. Intervals: estimate +/- z se, with Hedges' "
            "(2007) large-sample variances.",
        ]


def _sizes(codes, arm):
    frame = pd.DataFrame({"c": codes, "t": arm})
    per = frame.groupby("c").agg(t=("t", "first"), n=("t", "size"))
    return per.loc[per.t == 1, "n"].to_numpy(float), per.loc[per.t == 0, "n"].to_numpy(float)


def _within(beta, var_w, icc, nt, nc):
    Nt, Nc = nt.sum(), nc.sum()
    N, M = Nt + Nc, len(nt) + len(nc)
    n_tilde = Nc * np.sum(nt**2) / (Nt * N) + Nt * np.sum(nc**2) / (Nc * N)
    d = beta / math.sqrt(var_w)
    var = (N / (Nt * Nc)) * (1 + (n_tilde - 1) * icc) / (1 - icc) + d**2 / (2 * (N - M))
    return d, math.sqrt(var)


def _total(beta, var_t, icc, nt, nc):
    Nt, Nc = nt.sum(), nc.sum()
    N = Nt + Nc
    mt, mc = len(nt), len(nc)
    s2t, s2c = np.sum(nt**2), np.sum(nc**2)
    nu_t = (Nt**2 - s2t) / (Nt * (mt - 1))  # Hedges' n~_U for each arm (unequal sizes)
    nu_c = (Nc**2 - s2c) / (Nc * (mc - 1))
    d = beta / math.sqrt(var_t) * math.sqrt(1 - icc * ((N - nu_t * mt - nu_c * mc) + nu_t + nu_c - 2) / (N - 2))
    n_tilde = Nc * s2t / (Nt * N) + Nt * s2c / (Nc * N)
    B = nu_t * (mt - 1) + nu_c * (mc - 1)
    A = (Nt**2 * s2t + s2t**2 - 2 * Nt * np.sum(nt**3)) / Nt**2 + (
        Nc**2 * s2c + s2c**2 - 2 * Nc * np.sum(nc**3)
    ) / Nc**2
    var = (N / (Nt * Nc)) * (1 + (n_tilde - 1) * icc) + (
        (N - 2) * (1 - icc) ** 2 + A * icc**2 + 2 * B * icc * (1 - icc)
    ) * d**2 / (2 * (N - 2) * ((N - 2) - icc * (N - 2 - B)))
    return d, math.sqrt(var)


def crt_effect_sizes(
    data: pd.DataFrame, formula: str, *, cluster: str, treatment: str, ci_level: float = 0.95
) -> ClusterEffectSizes:
    """Hedges' (2007) within- and total-variance effect sizes of a cluster-randomised trial.

    Parameters
    ----------
    data : DataFrame
        One row per pupil; rows missing any modelled value are left out (as :func:`crt_effect`).
    formula : str
        The analysis model, ``"outcome ~ treatment + covariates"`` (the treatment coded 0/1).
    cluster, treatment : str
        The randomised unit and the 0/1 arm column.
    ci_level : float
        Level of the normal-theory intervals (0.95).

    Returns
    -------
    ClusterEffectSizes

    Notes
    -----
    ``b`` is the treatment coefficient of the two-level REML model ``formula + (1 | cluster)``.  The
    *conditional* effect sizes use that model's variance components, the *unconditional* ones those of
    the empty model ``outcome ~ 1 + (1 | cluster)`` on the same pupils (the two variance choices of
    eefAnalytics' ``crtFREQ``; the EEF's own denominator, the model with the treatment only, is
    :func:`crt_effect`'s ``denominator="eef"``).  With ``rho`` the ICC, ``N_T``, ``N_C`` pupils,
    ``m_T``, ``m_C`` clusters and ``n_i`` the cluster sizes (Hedges 2007):

    * within: ``d_W = b / sigma_W``, ``var = N/(N_T N_C) (1 + (n~ - 1) rho)/(1 - rho) + d_W^2/(2(N - M))``;
    * total: ``d_T = b / sigma_T sqrt(1 - rho (N - n~_UT m_T - n~_UC m_C + n~_UT + n~_UC - 2)/(N - 2))``,
      with ``n~_U = (N_arm^2 - sum n_i^2)/(N_arm (m_arm - 1))`` in each arm (the unequal-cluster-size
      correction; with equal sizes it is ``sqrt(1 - 2(n - 1) rho/(N - 2))``), and Hedges' variance with
      the terms ``A`` and ``B`` of unequal sizes.

    ``n~ = N_C sum n_Ti^2 / (N_T N) + N_T sum n_Ci^2 / (N_C N)``.  Checked against eefAnalytics 1.1.2
    (``tests/reference/eef_crt.R``): the estimates and standard errors agree to 1e-6; its intervals use
    1.96 where this function uses the exact normal quantile of ``ci_level``.
    """
    from .crt import _components, _fixed_row, _multilevel, _prepare

    ci_level = check_probability("ci_level", ci_level)
    outcome, frame, _, _ = _prepare(data, formula, cluster, treatment, None)
    model = _multilevel(frame, formula, cluster)
    beta = float(_fixed_row(model, treatment)["estimate"])
    empty = _multilevel(frame, f"{outcome} ~ 1", cluster)
    nt, nc = _sizes(frame[cluster].to_numpy(), frame[treatment].to_numpy(float))
    z = stats.norm.ppf(0.5 + ci_level / 2)
    rows = []
    for label, m in (("conditional", model), ("unconditional", empty)):
        tau2, sig2 = _components(m)
        icc = tau2 / (tau2 + sig2)
        for kind, (d, se) in (
            ("within", _within(beta, sig2, icc, nt, nc)),
            ("total", _total(beta, tau2 + sig2, icc, nt, nc)),
        ):
            rows.append(
                {
                    "term": f"{label}, {kind}",
                    "estimate": d,
                    "se": se,
                    "ci_low": d - z * se,
                    "ci_high": d + z * se,
                    "n": len(frame),
                    "var_cluster": tau2,
                    "var_pupil": sig2,
                    "icc": icc,
                }
            )
    return ClusterEffectSizes(
        table=pd.DataFrame(rows),
        effect=beta,
        n=len(frame),
        n_clusters=int(frame[cluster].nunique()),
        ci_level=ci_level,
        formula=formula,
    )
