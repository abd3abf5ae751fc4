"""Benchmark: exact random-intercept fast path vs statsmodels MixedLM (and R's lme4 if Rscript exists).

Run:  .venv/bin/python bench/bench_multilevel.py [--pupils 600000 --schools 20000]

Fits y ~ x1 + x2 + (1 | school) by REML on simulated data (600,000 pupils in
20,000 schools by default) with belonging_lib's sufficient-statistics path
(``fit_random_intercept``, and ``multilevel`` with the formula, Satterthwaite df
included) and with ``statsmodels.MixedLM`` in the same run, and prints the
timings, the ratio and the largest absolute difference in the estimates.  Not
part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time

import numpy as np
import pandas as pd


def simulate(n_pupils: int, n_schools: int, seed: int = 2026) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    school = rng.integers(0, n_schools, n_pupils)
    x1 = rng.normal(size=n_pupils)
    x2 = rng.binomial(1, 0.3, n_pupils).astype(float)
    u = rng.normal(0, 0.5, n_schools)
    y = 1.0 + 0.4 * x1 - 0.3 * x2 + u[school] + rng.normal(size=n_pupils)
    return pd.DataFrame({"school": school, "x1": x1, "x2": x2, "y": y})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pupils", type=int, default=600_000)
    ap.add_argument("--schools", type=int, default=20_000)
    ap.add_argument("--no-statsmodels", action="store_true")
    a = ap.parse_args()
    import statsmodels.formula.api as smf

    from belonging_lib.models import fit_random_intercept, multilevel, tau2

    d = simulate(a.pupils, a.schools)
    X = np.column_stack([np.ones(len(d)), d["x1"], d["x2"]])
    y = d["y"].to_numpy()
    g = d["school"].to_numpy()
    fit_random_intercept(y[:1000], X[:1000], g[:1000])          # warm-up (imports, caches)
    t0 = time.perf_counter()
    fast = fit_random_intercept(y, X, g, reml=True)
    t_fast = time.perf_counter() - t0
    t0 = time.perf_counter()
    full = multilevel("y ~ x1 + x2", d, groups="school")
    t_formula = time.perf_counter() - t0
    print(f"data: {a.pupils:,} pupils in {a.schools:,} schools")
    print(f"fast path (arrays):            {t_fast:8.3f} s   beta = {np.round(fast.beta, 6)}, "
          f"tau2 = {tau2(fast):.6f}, sigma2 = {fast.sigma2:.6f}")
    print(f"multilevel() (formula, df):    {t_formula:8.3f} s")
    if not a.no_statsmodels:
        t0 = time.perf_counter()
        sm = smf.mixedlm("y ~ x1 + x2", d, groups=d["school"]).fit(reml=True)
        t_sm = time.perf_counter() - t0
        est_sm = np.r_[np.asarray(sm.fe_params), float(sm.cov_re.iloc[0, 0]), float(sm.scale)]
        est_fast = np.r_[fast.beta, tau2(fast), fast.sigma2]
        se_sm = np.asarray(sm.bse_fe)
        print(f"statsmodels MixedLM:           {t_sm:8.3f} s   ratio MixedLM / fast = {t_sm / t_fast:,.0f}x")
        print(f"max |diff| beta, tau2, sigma2: {np.max(np.abs(est_sm - est_fast)):.2e}")
        print(f"max |diff| SE(beta):           {np.max(np.abs(se_sm - np.sqrt(np.diag(fast.vcov)))):.2e}")
        print(f"loglik fast / MixedLM:         {fast.loglik:.6f} / {sm.llf:.6f}")
    if shutil.which("Rscript"):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "d.csv")
            d.to_csv(path, index=False)
            code = (f"suppressPackageStartupMessages(library(lme4)); d <- read.csv('{path}'); "
                    "t <- system.time(m <- lmer(y ~ x1 + x2 + (1|school), d, "
                    "control = lmerControl(calc.derivs = FALSE)))[['elapsed']]; "
                    "cat(t, fixef(m), as.data.frame(VarCorr(m))$vcov, '\\n')")
            out = subprocess.run(["Rscript", "-e", code], capture_output=True, text=True, check=False)
            if out.returncode == 0:
                vals = np.array(out.stdout.split(), float)
                est_r = vals[1:]
                est_fast = np.r_[fast.beta, tau2(fast), fast.sigma2]
                print(f"R lme4 lmer (fit only):        {vals[0]:8.3f} s   ratio lme4 / fast = "
                      f"{vals[0] / t_fast:,.0f}x; max |diff| = {np.max(np.abs(est_r - est_fast)):.2e}")
            else:
                print("R lme4: failed:", out.stderr[-300:])


if __name__ == "__main__":
    main()
