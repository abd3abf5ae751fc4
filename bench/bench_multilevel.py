"""Benchmark: the mixed-model engine against lme4, statsmodels MixedLM and mixedlm-rs, in one run.

Run:  .venv/bin/python bench/bench_multilevel.py [--pupils 600000 --schools 20000]

Two models by REML on simulated data (600,000 pupils in 20,000 schools by default):

- random intercept, ``y ~ x1 + x2 + (1 | school)``: belonging_lib's ``fit_random_intercept``
  (arrays) and ``multilevel`` (formula, Satterthwaite df included), statsmodels ``MixedLM``,
  mixedlm-rs and R's ``lme4::lmer``;
- one random slope, ``y ~ x1 + x2 + (x1 | school)``: belonging_lib's ``multilevel`` (formula,
  Satterthwaite df included in our time), mixedlm-rs and ``lme4::lmer``.

Every tool runs in this process's session (R through Rscript), one after another, so the ratios
compare like with like on a shared, loaded machine.  lme4's time is ``system.time(lmer(...))`` inside
R (fit only, no df, no data loading); mixedlm-rs and statsmodels are timed on the formula call.
mixedlm-rs (``pip install mixedlm-rs``) and statsmodels are optional: a tool that is not installed is
skipped.  Not part of the test suite; see bench/README_multilevel.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
import warnings

import numpy as np
import pandas as pd


def simulate(n_pupils: int, n_schools: int, seed: int = 2026) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    school = rng.integers(0, n_schools, n_pupils)
    x1 = rng.normal(size=n_pupils)
    x2 = rng.binomial(1, 0.3, n_pupils).astype(float)
    u = rng.normal(0, 0.5, n_schools)
    v = rng.normal(0, 0.2, n_schools)
    y = 1.0 + 0.4 * x1 - 0.3 * x2 + u[school] + v[school] * x1 + rng.normal(size=n_pupils)
    return pd.DataFrame({"school": school, "x1": x1, "x2": x2, "y": y})


def timed(fun, repeat: int = 1):
    """Best of ``repeat`` wall-clock times, and the last result."""
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fun()
        best = min(best, time.perf_counter() - t0)
    return best, out


def run_lme4(path: str) -> dict | None:
    if not shutil.which("Rscript"):
        return None
    code = (f"suppressPackageStartupMessages(library(lme4)); d <- read.csv('{path}'); "
            "ctl <- lmerControl(calc.derivs = FALSE); "
            "t1 <- system.time(m1 <- lmer(y ~ x1 + x2 + (1|school), d, control = ctl))[['elapsed']]; "
            "t2 <- system.time(m2 <- lmer(y ~ x1 + x2 + (x1|school), d, control = ctl))[['elapsed']]; "
            "cat(t1, fixef(m1), as.data.frame(VarCorr(m1))$vcov, '\\n'); "
            "cat(t2, fixef(m2), as.data.frame(VarCorr(m2))$vcov, '\\n')")
    out = subprocess.run(["Rscript", "-e", code], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        print("R lme4: failed:", out.stderr[-300:])
        return None
    ri, rs = (np.array(line.split(), float) for line in out.stdout.strip().splitlines())
    return {"ri_time": ri[0], "ri_beta": ri[1:4], "rs_time": rs[0], "rs_beta": rs[1:4], "rs_vc": rs[4:]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pupils", type=int, default=600_000)
    ap.add_argument("--schools", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3, help="best of this many runs for the Python tools")
    a = ap.parse_args()
    warnings.simplefilter("ignore")

    from belonging_lib.models import fit_random_intercept, multilevel

    d = simulate(a.pupils, a.schools)
    X = np.column_stack([np.ones(len(d)), d["x1"], d["x2"]])
    y = d["y"].to_numpy()
    g = d["school"].to_numpy()
    fit_random_intercept(y[:2000], X[:2000], cluster=g[:2000])                     # warm-up (imports, caches)
    multilevel(d.iloc[:2000], "y ~ x1 + x2", cluster="school", random="~x1")
    print(f"data: {a.pupils:,} pupils in {a.schools:,} schools (simulated); best of {a.repeat} for Python tools")

    t_fast, fast = timed(lambda: fit_random_intercept(y, X, cluster=g, reml=True), a.repeat)
    t_ri, ri = timed(lambda: multilevel(d, "y ~ x1 + x2", cluster="school"), a.repeat)
    t_rs, rs = timed(lambda: multilevel(d, "y ~ x1 + x2", cluster="school", random="~x1"), a.repeat)
    res = {}
    try:
        import mixedlm_rs as mlm
        mlm.mixedlm("y ~ x1 + x2", d.iloc[:2000], groups=d["school"].iloc[:2000], re_formula="~x1").fit(reml=True)
        res["mlmrs_ri"] = timed(lambda: mlm.mixedlm("y ~ x1 + x2", d, groups=d["school"]).fit(reml=True),
                                a.repeat)
        res["mlmrs_rs"] = timed(lambda: mlm.mixedlm("y ~ x1 + x2", d, groups=d["school"],
                                                    re_formula="~x1").fit(reml=True), a.repeat)
    except ImportError:
        print("mixedlm-rs: not installed (pip install mixedlm-rs), skipped")
    try:
        import statsmodels.formula.api as smf
        res["sm_ri"] = timed(lambda: smf.mixedlm("y ~ x1 + x2", d, groups=d["school"]).fit(reml=True))
    except ImportError:
        print("statsmodels: not installed, skipped")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "d.csv")
        d.to_csv(path, index=False)
        r = run_lme4(path)

    print("\nRandom intercept: y ~ x1 + x2 + (1 | school), REML")
    print(f"  belonging_lib fit_random_intercept (arrays):   {t_fast:8.3f} s   beta = {np.round(fast.coefficients, 6)}, "
          f"tau2 = {fast.tau00:.6f}, sigma2 = {fast.sigma2:.6f}")
    print(f"  belonging_lib multilevel (formula, df):        {t_ri:8.3f} s")
    if "sm_ri" in res:
        t_sm, sm = res["sm_ri"]
        print(f"  statsmodels MixedLM:                           {t_sm:8.3f} s   ratio {t_sm / t_fast:7.1f}x "
              f"(arrays), {t_sm / t_ri:6.1f}x (formula); max |diff beta| = "
              f"{np.max(np.abs(np.asarray(sm.fe_params) - fast.coefficients)):.1e}")
    if "mlmrs_ri" in res:
        t_m, m = res["mlmrs_ri"]
        print(f"  mixedlm-rs:                                    {t_m:8.3f} s   ratio {t_m / t_fast:7.1f}x "
              f"(arrays), {t_m / t_ri:6.1f}x (formula)")
    if r is not None:
        print(f"  R lme4 lmer (fit only):                        {r['ri_time']:8.3f} s   ratio "
              f"{r['ri_time'] / t_fast:7.1f}x (arrays), {r['ri_time'] / t_ri:6.1f}x (formula); max |diff beta| = "
              f"{np.max(np.abs(r['ri_beta'] - fast.coefficients)):.1e}")

    print("\nOne random slope: y ~ x1 + x2 + (x1 | school), REML")
    beta = rs.fixed["estimate"].to_numpy()
    print(f"  belonging_lib multilevel (formula, df):        {t_rs:8.3f} s   beta = {np.round(beta, 6)}")
    if "mlmrs_rs" in res:
        t_m, m = res["mlmrs_rs"]
        print(f"  mixedlm-rs:                                    {t_m:8.3f} s   ratio mixedlm-rs / ours = "
              f"{t_m / t_rs:5.2f}x; max |diff beta| = {np.max(np.abs(np.asarray(m.fe_params) - beta)):.1e}")
    if r is not None:
        rel = np.max(np.abs(r["rs_beta"] - beta) / np.abs(r["rs_beta"]))
        print(f"  R lme4 lmer (fit only):                        {r['rs_time']:8.3f} s   ratio lme4 / ours = "
              f"{r['rs_time'] / t_rs:5.1f}x; fixed effects max relative diff = {rel:.1e}")


if __name__ == "__main__":
    main()
