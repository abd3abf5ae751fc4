"""Benchmark: PISA-style regression with 80 replicate weights and 10 plausible values.

Regression of a plausible-value outcome on three predictors for N pupils
(default 300,000), 80 Fay-BRR replicate weights (k = 0.5) and 10 plausible
values, computed three ways in one run:

1. ``belonging_lib.survey.SurveyDesign.regress`` (vectorised cross-products);
2. a plain Python loop of 810 weighted least-squares fits (``numpy.linalg.lstsq``),
   pooled by the same formulas;
3. R ``survey::svyglm`` on ``svrepdesign(type = "Fay", rho = 0.5, mse = TRUE)``
   over a ``mitools::imputationList``, pooled by ``MIcombine`` (when ``Rscript``
   is installed; skip with ``--no-r``; it takes minutes).

Prints the timings, the ratios and the largest relative difference between
the estimates and SEs of each pair.

    python bench/bench_survey.py [--n 300000] [--no-r] [--repeat 3]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from belonging_lib.survey import pisa_design  # noqa: E402

N_REP, N_PV, RHO = 80, 10, 0.5


def simulate(n: int, seed: int = 2026) -> pd.DataFrame:
    """PISA-like data: 2 pupils' schools per pseudo-stratum, Fay replicates from a Hadamard matrix."""
    from scipy.linalg import hadamard

    rng = np.random.default_rng(seed)
    n_schools = max(160, n // 30)
    school = rng.integers(0, n_schools, n)
    H = hadamard(128)[:, 1:1 + N_REP]
    stratum = (school // 2) % 128
    sign = H[stratum] * np.where(school % 2 == 0, 1, -1)[:, None]
    w = np.exp(3 + 0.3 * rng.standard_normal(n_schools))[school] * (1 + 0.15 * rng.random(n))
    d = {"ESCS": rng.standard_normal(n), "BELONG": rng.standard_normal(n),
         "FEMALE": (rng.random(n) < 0.5).astype(float), "W_FSTUWT": w}
    rep = w[:, None] * (1 + RHO * sign)
    for r in range(N_REP):
        d[f"W_FSTURWT{r + 1}"] = rep[:, r]
    theta = 480 + 30 * d["ESCS"] + 8 * d["BELONG"] - 5 * d["FEMALE"] + 60 * rng.standard_normal(n)
    for m in range(N_PV):
        d[f"PV{m + 1}MATH"] = theta + 22 * rng.standard_normal(n)
    return pd.DataFrame(d)


def loop_fits(data: pd.DataFrame) -> pd.DataFrame:
    """810 separate weighted least-squares fits, then the PISA/Rubin pooling."""
    X = np.column_stack([np.ones(len(data)), data["ESCS"], data["BELONG"], data["FEMALE"]])
    W = data[["W_FSTUWT"] + [f"W_FSTURWT{r}" for r in range(1, N_REP + 1)]].to_numpy()
    theta = np.empty((N_REP + 1, N_PV, X.shape[1]))
    for m in range(N_PV):
        y = data[f"PV{m + 1}MATH"].to_numpy()
        for r in range(N_REP + 1):
            sw = np.sqrt(W[:, r])
            theta[r, m] = np.linalg.lstsq(X * sw[:, None], y * sw, rcond=None)[0]
    v = 1 / (N_REP * (1 - RHO) ** 2) * ((theta[1:] - theta[0]) ** 2).sum(axis=0)
    est = theta[0].mean(axis=0)
    total = v.mean(axis=0) + (1 + 1 / N_PV) * theta[0].var(axis=0, ddof=1)
    return pd.DataFrame({"term": ["(Intercept)", "ESCS", "BELONG", "FEMALE"], "estimate": est,
                         "se": np.sqrt(total)})


R_SCRIPT = r"""
suppressPackageStartupMessages({library(survey); library(mitools)})
args <- commandArgs(TRUE); n <- as.integer(args[2]); k <- as.integer(args[3])
cols <- readLines(args[4])
t0 <- proc.time()[["elapsed"]]
con <- file(args[1], "rb"); x <- readBin(con, "double", n * k); close(con)
d <- as.data.frame(matrix(x, nrow = n, ncol = k)); names(d) <- cols
t1 <- proc.time()[["elapsed"]]
dl <- lapply(1:10, function(m) { d$MATH <- d[[paste0("PV", m, "MATH")]]; d })
des <- svrepdesign(data = imputationList(dl), repweights = d[, paste0("W_FSTURWT", 1:80)],
                   weights = ~W_FSTUWT, type = "Fay", rho = 0.5, combined.weights = TRUE, mse = TRUE)
fits <- with(des, fun = function(x) svyglm(MATH ~ ESCS + BELONG + FEMALE, x))
mi <- MIcombine(fits)
t2 <- proc.time()[["elapsed"]]
cat(sprintf("READ %.3f\nANALYSIS %.3f\n", t1 - t0, t2 - t1))
cat(sprintf("EST %.17g\n", coef(mi))); cat(sprintf("SE %.17g\n", SE(mi)))
"""


def run_r(data: pd.DataFrame) -> dict | None:
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cols = list(data.columns)
        data.to_numpy(dtype=float).T.tofile(tmp / "d.bin")  # column-major for R's matrix()
        (tmp / "cols.txt").write_text("\n".join(cols) + "\n")
        (tmp / "bench.R").write_text(R_SCRIPT)
        t = time.perf_counter()
        proc = subprocess.run([rscript, str(tmp / "bench.R"), str(tmp / "d.bin"), str(len(data)),
                               str(len(cols)), str(tmp / "cols.txt")], capture_output=True, text=True)
        wall = time.perf_counter() - t
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)
        return None
    out = {"est": [], "se": []}
    for line in proc.stdout.splitlines():
        key, val = line.split()
        if key in ("READ", "ANALYSIS"):
            out[key.lower()] = float(val)
        else:
            out[key.lower()].append(float(val))
    out["wall"] = wall
    return out


def max_rel(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.abs(b)))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=300_000, help="pupils (default 300,000)")
    ap.add_argument("--repeat", type=int, default=3, help="timing repeats for the vectorised path")
    ap.add_argument("--no-r", action="store_true", help="skip the R comparison (it takes minutes)")
    ap.add_argument("--no-loop", action="store_true", help="skip the 810-fit Python loop")
    a = ap.parse_args(argv)

    print(f"Simulating {a.n:,} pupils, {N_REP} Fay replicate weights, {N_PV} plausible values ...")
    data = simulate(a.n)
    formula = "MATH ~ ESCS + BELONG + FEMALE"

    t = time.perf_counter()
    des = pisa_design(data, pv={"MATH": [f"PV{m}MATH" for m in range(1, N_PV + 1)]})
    t_design = time.perf_counter() - t
    times = []
    for _ in range(a.repeat):
        t = time.perf_counter()
        res = des.regress(formula).to_frame()
        times.append(time.perf_counter() - t)
    t_vec = min(times)
    res = res[res["term"] != "R-squared"].reset_index(drop=True)
    print(f"\nbelonging_lib vectorised regress: {t_vec:.3f} s (best of {a.repeat}; "
          f"all runs {', '.join(f'{x:.3f}' for x in times)}); design set-up {t_design:.3f} s")
    print(res[["term", "estimate", "se"]].to_string(index=False))

    if not a.no_loop:
        t = time.perf_counter()
        loop = loop_fits(data)
        t_loop = time.perf_counter() - t
        print(f"\nPython loop of {N_PV * (N_REP + 1)} WLS fits (numpy lstsq): {t_loop:.2f} s  "
              f"-> vectorised is {t_loop / t_vec:,.0f}x faster")
        print(f"  largest relative difference: estimate {max_rel(res['estimate'], loop['estimate']):.1e}, "
              f"SE {max_rel(res['se'], loop['se']):.1e}")

    if a.no_r:
        print("\nR comparison skipped (--no-r).")
        return
    print("\nRunning R survey::svyglm + mitools::MIcombine (this takes minutes) ...")
    r = run_r(data)
    if r is None:
        print("Rscript (with survey and mitools) is not available: R comparison skipped.")
        return
    print(f"R survey + mitools: analysis {r['analysis']:.1f} s (reading the data {r['read']:.1f} s, "
          f"wall {r['wall']:.1f} s) -> vectorised is {r['analysis'] / t_vec:,.0f}x faster "
          f"(analysis time; {r['analysis'] / (t_vec + t_design):,.0f}x counting the design set-up)")
    print(f"  largest relative difference: estimate {max_rel(res['estimate'], r['est']):.1e}, "
          f"SE {max_rel(res['se'], r['se']):.1e}")


if __name__ == "__main__":
    main()
