"""Benchmark: the mixed-model engine against lme4, statsmodels MixedLM and mixedlm-rs, in one run.

Run:  .venv/bin/python bench/bench_multilevel.py [--pupils 600000 --schools 20000]

Two models by REML on simulated data (600,000 pupils in 20,000 schools by default):

- random intercept, ``y ~ x1 + x2 + (1 | school)``: belonging_lib's ``fit_random_intercept``
  (arrays) and ``multilevel`` (formula, Satterthwaite df included), statsmodels ``MixedLM``,
  mixedlm-rs and R's ``lme4::lmer``;
- one random slope, ``y ~ x1 + x2 + (x1 | school)``: belonging_lib's ``multilevel`` (formula,
  Satterthwaite df included in our time), mixedlm-rs and ``lme4::lmer``.

The tools alternate: in each of ``--repeat`` rounds (default 5) every tool fits once, in turn, and
each tool's best round is reported, so a burst of load elsewhere hits every tool alike.  R runs as
one session that reads the data once and fits on each round's signal; lme4's time is
``system.time(lmer(...))`` inside R (fit only, no df).  mixedlm-rs and statsmodels are timed on the
formula call; statsmodels, about a hundred times slower, runs in the first two rounds only.
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


R_LOOP = r"""
suppressPackageStartupMessages(library(lme4))
d <- read.csv(commandArgs(TRUE)[1])
ctl <- lmerControl(calc.derivs = FALSE)
con <- file("stdin"); open(con)
cat("ready\n"); flush(stdout())
while (length(line <- readLines(con, n = 1)) > 0 && line == "go") {
  t1 <- system.time(m1 <- lmer(y ~ x1 + x2 + (1|school), d, control = ctl))[["elapsed"]]
  t2 <- system.time(m2 <- lmer(y ~ x1 + x2 + (x1|school), d, control = ctl))[["elapsed"]]
  cat(t1, fixef(m1), "\n"); cat(t2, fixef(m2), "\n"); flush(stdout())
}
"""


class Lme4:
    """One R session holding the data; each ``round()`` fits both models once and returns R's own times."""

    def __init__(self, path: str):
        self.proc = subprocess.Popen(["Rscript", "-e", R_LOOP, path], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("R lme4 did not start: " + self.proc.stderr.read()[-300:])

    def round(self) -> tuple[np.ndarray, np.ndarray]:
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        ri, rs = (np.array(self.proc.stdout.readline().split(), float) for _ in range(2))
        return ri, rs

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


def once(fun):
    t0 = time.perf_counter()
    out = fun()
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pupils", type=int, default=600_000)
    ap.add_argument("--schools", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=5, help="rounds; each tool's best of this many is reported")
    ap.add_argument("--statsmodels-rounds", type=int, default=2,
                    help="statsmodels MixedLM takes ~100 times longer than the rest; it runs in the first N rounds only")
    a = ap.parse_args()
    warnings.simplefilter("ignore")

    from belonging_lib.models import fit_random_intercept, multilevel

    d = simulate(a.pupils, a.schools)
    X = np.column_stack([np.ones(len(d)), d["x1"], d["x2"]])
    y = d["y"].to_numpy()
    g = d["school"].to_numpy()
    fit_random_intercept(y[:2000], X[:2000], cluster=g[:2000])                     # warm-up (imports, caches)
    multilevel(d.iloc[:2000], "y ~ x1 + x2", cluster="school", random="~x1")

    tools: dict[str, object] = {
        "ours_ri_arrays": lambda: fit_random_intercept(y, X, cluster=g, reml=True),
        "ours_ri": lambda: multilevel(d, "y ~ x1 + x2", cluster="school"),
        "ours_rs": lambda: multilevel(d, "y ~ x1 + x2", cluster="school", random="~x1"),
    }
    try:
        import mixedlm_rs as mlm
        mlm.mixedlm("y ~ x1 + x2", d.iloc[:2000], groups=d["school"].iloc[:2000], re_formula="~x1").fit(reml=True)
        version = getattr(mlm, "__version__", "?")
        tools["mixedlm-rs_ri"] = lambda: mlm.mixedlm("y ~ x1 + x2", d, groups=d["school"]).fit(reml=True)
        tools["mixedlm-rs_rs"] = lambda: mlm.mixedlm("y ~ x1 + x2", d, groups=d["school"],
                                                     re_formula="~x1").fit(reml=True)
        print(f"mixedlm-rs {version}")
    except ImportError:
        print("mixedlm-rs: not installed (pip install mixedlm-rs), skipped")
    try:
        import statsmodels
        import statsmodels.formula.api as smf
        tools["statsmodels_ri"] = lambda: smf.mixedlm("y ~ x1 + x2", d, groups=d["school"]).fit(reml=True)
        print(f"statsmodels {statsmodels.__version__} (first {a.statsmodels_rounds} rounds only)")
    except ImportError:
        print("statsmodels: not installed, skipped")
    tmp = tempfile.TemporaryDirectory()
    r = None
    if shutil.which("Rscript"):
        path = os.path.join(tmp.name, "d.csv")
        d.to_csv(path, index=False)
        try:
            r = Lme4(path)
            print("R lme4: one R session, data read once, each round times lmer() inside R (fit only)")
        except RuntimeError as e:
            print(e)
    else:
        print("R: not installed, lme4 skipped")
    print(f"data: {a.pupils:,} pupils in {a.schools:,} schools (simulated); {a.repeat} rounds, "
          "every tool once per round, in turn; best of the rounds reported")

    best: dict[str, float] = {}
    last: dict[str, object] = {}
    for k in range(a.repeat):
        times = {}
        for name, fun in tools.items():
            if name == "statsmodels_ri" and k >= a.statsmodels_rounds:
                continue
            times[name], last[name] = once(fun)
        if r is not None:
            ri, rs = r.round()
            times["lme4_ri"], times["lme4_rs"] = ri[0], rs[0]
            last["lme4_ri"], last["lme4_rs"] = ri[1:4], rs[1:4]
        for name, t in times.items():
            best[name] = min(best.get(name, np.inf), t)
        print(f"  round {k + 1}: " + ", ".join(f"{n} {t:.3f} s" for n, t in times.items())
              + f"; load average {os.getloadavg()[0]:.2f}")
    if r is not None:
        r.close()
    tmp.cleanup()

    fast = last["ours_ri_arrays"]
    print("\nRandom intercept: y ~ x1 + x2 + (1 | school), REML (ratio: the peer's best time / ours)")
    print(f"  belonging_lib fit_random_intercept (arrays):   {best['ours_ri_arrays']:8.3f} s   beta = "
          f"{np.round(fast.coefficients, 6)}, tau2 = {fast.tau00:.6f}, sigma2 = {fast.sigma2:.6f}")
    print(f"  belonging_lib multilevel (formula, df):        {best['ours_ri']:8.3f} s")
    peers_ri = {"mixedlm-rs_ri": "mixedlm-rs", "statsmodels_ri": "statsmodels MixedLM", "lme4_ri": "R lme4 lmer (fit only)"}
    for key, label in peers_ri.items():
        if key not in best:
            continue
        beta = np.asarray(getattr(last[key], "fe_params", last[key]), float)
        print(f"  {label + ':':<46} {best[key]:8.3f} s   ratio {best[key] / best['ours_ri_arrays']:7.1f}x (arrays), "
              f"{best[key] / best['ours_ri']:6.1f}x (formula); max |diff beta| = "
              f"{np.max(np.abs(beta - fast.coefficients)):.1e}")

    print("\nOne random slope: y ~ x1 + x2 + (x1 | school), REML (ratio: the peer's best time / ours)")
    beta_rs = last["ours_rs"].fixed["estimate"].to_numpy()
    print(f"  belonging_lib multilevel (formula, df):        {best['ours_rs']:8.3f} s   beta = {np.round(beta_rs, 6)}")
    for key, label in {"mixedlm-rs_rs": "mixedlm-rs", "lme4_rs": "R lme4 lmer (fit only)"}.items():
        if key not in best:
            continue
        beta = np.asarray(getattr(last[key], "fe_params", last[key]), float)
        print(f"  {label + ':':<46} {best[key]:8.3f} s   ratio {best[key] / best['ours_rs']:5.2f}x; "
              f"fixed effects max relative diff = {np.max(np.abs(beta - beta_rs) / np.abs(beta)):.1e}")


if __name__ == "__main__":
    main()
