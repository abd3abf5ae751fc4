"""Simulation: weighted (pseudo-ML) against unweighted multilevel fits under informative selection.

Run:  .venv/bin/python bench/sim_weighted_multilevel.py [--reps 200]

A synthetic population (a superpopulation model, redrawn for each replication): 2,000 schools of 200
pupils, ``y = 500 + 20 x + u_j + e_ij`` with ``u_j ~ N(0, 30^2)`` and ``e_ij ~ N(0, 60^2)``.  Selection
is informative at both levels: 100 schools are drawn with probability proportional to
``exp(0.7 u_j / 30)`` (systematic PPS), then pupils within each sampled school independently with
probability ``0.25 * 2 / (1 + exp(-e_ij / 60))`` (about 25 pupils a school).  The school weight is
1 / (inclusion probability of the school), the conditional pupil weight 1 / (pupil's probability).

Each sample is fitted three ways: unweighted ML (``multilevel(..., reml=False)``, model-based SEs),
and weighted pseudo-ML with the default ``scaling="cluster_size"`` and with ``scaling="none"``
(sandwich SEs).  The table reports, for the intercept, the slope of x and the two variances, the
mean estimate minus the truth (bias), the relative bias, and the coverage of the 95% intervals of the
fixed effects.  Not part of the test suite; see bench/README_weighted_multilevel.md.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import pandas as pd

TRUTH = {"(Intercept)": 500.0, "x": 20.0, "tau2": 30.0 ** 2, "sigma2": 60.0 ** 2}


def sample(rng, n_schools=2000, size=200, n_sampled=100):
    u = rng.normal(0, 30, n_schools)
    m = np.exp(0.7 * u / 30)
    pi_school = n_sampled * m / m.sum()
    while pi_school.max() > 1:                       # certainty schools, the others share the rest
        sure = pi_school >= 1
        pi_school = np.where(sure, 1.0, (n_sampled - sure.sum()) * m / m[~sure].sum())
    # systematic PPS: a random start, then every step along the cumulated probabilities
    cum = np.cumsum(pi_school)
    points = rng.uniform() + np.arange(n_sampled)
    chosen = np.searchsorted(cum, points)
    rows = []
    for j in chosen:
        x = rng.normal(size=size)
        e = rng.normal(0, 60, size)
        y = 500 + 20 * x + u[j] + e
        p = 0.25 * 2 / (1 + np.exp(-e / 60))
        keep = rng.uniform(size=size) < p
        rows.append(pd.DataFrame({"school": f"S{j:04d}", "x": x[keep], "y": y[keep], "w_pupil": 1 / p[keep],
                                  "w_school": 1 / pi_school[j]}))
    return pd.concat(rows, ignore_index=True)


def summary(fit):
    f = fit.fixed
    v = fit.variance["variance"].to_numpy()
    return {"(Intercept)": f.loc["(Intercept)", "estimate"], "x": f.loc["x", "estimate"], "tau2": v[0],
            "sigma2": v[-1],
            "cover_(Intercept)": f.loc["(Intercept)", "ci_low"] <= 500 <= f.loc["(Intercept)", "ci_high"],
            "cover_x": f.loc["x", "ci_low"] <= 20 <= f.loc["x", "ci_high"]}


def coverage_by_schools(reps: int, seed: int, sizes: list[int]) -> pd.DataFrame:
    """The weighted fit (default scaling) at several numbers of sampled schools, the population 20 times
    the sample (a 5% sampling fraction throughout): the intercept's bias, the spread of its estimates
    against the mean sandwich SE, and the coverage of normal and t(J - 1) intervals."""
    from scipy import stats

    from belonging_lib.models import multilevel

    rows = []
    for n_sampled in sizes:
        rng = np.random.default_rng(seed)
        est, se = [], []
        t0 = time.perf_counter()
        for _ in range(reps):
            d = sample(rng, n_schools=20 * n_sampled, n_sampled=n_sampled)
            f = multilevel(d, "y ~ x", cluster="school", weights={"pupil": "w_pupil", "school": "w_school"}).fixed
            est.append(f.loc["(Intercept)", "estimate"])
            se.append(f.loc["(Intercept)", "se"])
        est, se = np.array(est), np.array(se)
        z = np.abs(est - TRUTH["(Intercept)"]) / se
        cover = np.mean(z <= stats.norm.ppf(0.975))
        rows.append({"schools sampled": n_sampled, "bias": est.mean() - 500, "MC SE of bias": est.std(ddof=1) / np.sqrt(reps),
                     "SD of estimates": est.std(ddof=1), "mean sandwich SE": se.mean(),
                     "SE / SD": se.mean() / est.std(ddof=1),
                     "coverage (normal)": cover, "MC SE of coverage": np.sqrt(cover * (1 - cover) / reps),
                     "coverage (t, J - 1 df)": np.mean(z <= stats.t.ppf(0.975, n_sampled - 1)),
                     "coverage if unbiased (centred on the mean)": np.mean(np.abs(est - est.mean()) / se <= 1.96),
                     "seconds": time.perf_counter() - t0})
    return pd.DataFrame(rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--seed", type=int, default=20261207)
    ap.add_argument("--coverage-schools", type=int, nargs="*", default=None,
                    help="only the weighted fit's intercept coverage, at these numbers of sampled schools")
    a = ap.parse_args()
    warnings.simplefilter("ignore")
    from belonging_lib.models import multilevel

    if a.coverage_schools:
        t0 = time.perf_counter()
        table = coverage_by_schools(a.reps, a.seed, a.coverage_schools)
        print(f"{a.reps} replications per row, seed {a.seed}, {time.perf_counter() - t0:.0f} s, "
              f"load average {os.getloadavg()[0]:.1f}")
        print(table.to_markdown(index=False, floatfmt=".3f"))
        return

    rng = np.random.default_rng(a.seed)
    weights = {"pupil": "w_pupil", "school": "w_school"}
    out = {"unweighted ML": [], "weighted, cluster_size": [], "weighted, none": []}
    t0 = time.perf_counter()
    for _ in range(a.reps):
        d = sample(rng)
        out["unweighted ML"].append(summary(multilevel(d, "y ~ x", cluster="school", reml=False)))
        out["weighted, cluster_size"].append(summary(multilevel(d, "y ~ x", cluster="school", weights=weights)))
        out["weighted, none"].append(summary(multilevel(d, "y ~ x", cluster="school", weights=weights,
                                                        scaling="none")))
    rows = []
    for name, recs in out.items():
        r = pd.DataFrame(recs)
        for par, true in TRUTH.items():
            mc_se = r[par].std(ddof=1) / np.sqrt(len(r))
            row = {"fit": name, "parameter": par, "truth": true, "mean": r[par].mean(),
                   "bias": r[par].mean() - true, "relative bias %": 100 * (r[par].mean() - true) / true,
                   "MC SE of bias": mc_se}
            if f"cover_{par}" in r:
                row["coverage of 95% CI"] = r[f"cover_{par}"].mean()
            rows.append(row)
    table = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    print(f"{a.reps} replications, seed {a.seed}, {time.perf_counter() - t0:.0f} s, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(table.to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()
