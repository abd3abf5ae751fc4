"""Benchmark: PISA-style regression with 80 replicate weights and 10 plausible values.

Regression of a plausible-value outcome on three predictors for N pupils
(default 300,000), 80 Fay-BRR replicate weights (k = 0.5) and 10 plausible
values, computed three ways in one run:

1. ``belonging_lib.survey.SurveyDesign.regress`` (vectorised cross-products);
2. a plain Python loop of 810 weighted least-squares fits (``numpy.linalg.lstsq``),
   pooled by the same formulas;
3. R ``survey::svyglm`` on ``svrepdesign(type = "Fay", rho = 0.5, mse = TRUE)``
   over a ``mitools::imputationList``, pooled by ``MIcombine``, on a second data set of
   30,000 pupils (R takes seconds there; one R session reads the data once and times the
   analysis inside R each round; when ``Rscript`` is installed; skip with ``--no-r``).

Every tool runs once per round, in turn, for 5 rounds; the best round of each is reported
(the Python loop, about 50 times slower, runs in the first round only).

Prints the timings, the ratios and the largest relative difference between
the estimates and SEs of each pair.

    python bench/bench_survey.py [--n 300000] [--n-r 30000] [--rounds 5] [--no-r] [--no-loop]
"""

from __future__ import annotations

import argparse
import os
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


R_LOOP = r"""
suppressPackageStartupMessages({library(survey); library(mitools)})
args <- commandArgs(TRUE); n <- as.integer(args[2]); k <- as.integer(args[3])
cols <- readLines(args[4])
con <- file(args[1], "rb"); x <- readBin(con, "double", n * k); close(con)
d <- as.data.frame(matrix(x, nrow = n, ncol = k)); names(d) <- cols
cat("ready\n"); flush(stdout())
inp <- file("stdin"); open(inp)
while (length(line <- readLines(inp, n = 1)) > 0 && line == "go") {
  t1 <- proc.time()[["elapsed"]]
  dl <- lapply(1:10, function(m) { d$MATH <- d[[paste0("PV", m, "MATH")]]; d })
  des <- svrepdesign(data = imputationList(dl), repweights = d[, paste0("W_FSTURWT", 1:80)],
                     weights = ~W_FSTUWT, type = "Fay", rho = 0.5, combined.weights = TRUE, mse = TRUE)
  fits <- with(des, fun = function(x) svyglm(MATH ~ ESCS + BELONG + FEMALE, x))
  mi <- MIcombine(fits)
  t2 <- proc.time()[["elapsed"]]
  cat(t2 - t1, sprintf("%.17g", coef(mi)), sprintf("%.17g", SE(mi)), "\n"); flush(stdout())
}
"""


class RSurvey:
    """One R session holding the data; each ``round()`` runs the whole analysis (design, 10 x 81 fits,
    pooling) once and returns R's own time and the pooled estimates and SEs."""

    def __init__(self, data: pd.DataFrame, tmp: Path):
        cols = list(data.columns)
        data.to_numpy(dtype=float).T.tofile(tmp / "d.bin")  # column-major for R's matrix()
        (tmp / "cols.txt").write_text("\n".join(cols) + "\n")
        self.proc = subprocess.Popen(["Rscript", "-e", R_LOOP, str(tmp / "d.bin"), str(len(data)), str(len(cols)),
                                      str(tmp / "cols.txt")], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("R survey did not start: " + self.proc.stderr.read()[-300:])

    def round(self) -> tuple[float, np.ndarray, np.ndarray]:
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        v = np.array(self.proc.stdout.readline().split(), float)
        return float(v[0]), v[1:5], v[5:9]

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


def max_rel(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.abs(b)))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=300_000, help="pupils of the large run (default 300,000)")
    ap.add_argument("--n-r", type=int, default=30_000, help="pupils of the run against R (default 30,000)")
    ap.add_argument("--rounds", type=int, default=5, help="rounds; every tool runs once per round, in turn")
    ap.add_argument("--no-r", action="store_true", help="skip the R comparison")
    ap.add_argument("--no-loop", action="store_true", help="skip the 810-fit Python loop")
    a = ap.parse_args(argv)
    formula = "MATH ~ ESCS + BELONG + FEMALE"
    pv = {"MATH": [f"PV{m}MATH" for m in range(1, N_PV + 1)]}
    print(f"load average before: {os.getloadavg()}")
    print(f"{N_REP} Fay replicate weights (k = {RHO}), {N_PV} plausible values, {formula}; "
          f"{a.rounds} rounds, every tool once per round, in turn; best round reported")
    big, small = simulate(a.n), simulate(a.n_r, seed=2027)
    t = time.perf_counter()
    des_big = pisa_design(big, pv=pv)
    t_design = time.perf_counter() - t
    des_small = pisa_design(small, pv=pv)
    r = None
    tmp = tempfile.TemporaryDirectory()
    if not a.no_r:
        if shutil.which("Rscript") is None:
            print("Rscript not installed: the R comparison is skipped")
        else:
            r = RSurvey(small, Path(tmp.name))
    best: dict = {}
    res: dict = {}
    for k in range(a.rounds):
        times = {}
        for key, des in (("ours_big", des_big), ("ours_small", des_small)):
            t = time.perf_counter()
            res[key] = des.regress(formula).to_frame()
            times[key] = time.perf_counter() - t
        if r is not None:
            times["R_small"], r_est, r_se = r.round()
        if k == 0 and not a.no_loop:
            t = time.perf_counter()
            res["loop"] = loop_fits(big)
            times["loop_big"] = time.perf_counter() - t
        for key, v in times.items():
            best[key] = min(best.get(key, np.inf), v)
        print(f"  round {k + 1}: " + ", ".join(f"{key} {v:.3f} s" for key, v in times.items())
              + f"; load average {os.getloadavg()[0]:.2f}")
    if r is not None:
        r.close()
    tmp.cleanup()
    for key in ("ours_big", "ours_small"):
        res[key] = res[key][res[key]["term"] != "R-squared"].reset_index(drop=True)
    print(f"\n{a.n:,} pupils: belonging_lib SurveyDesign.regress {best['ours_big']:.3f} s (design set-up "
          f"{t_design:.3f} s, once)")
    print(res["ours_big"][["term", "estimate", "se"]].to_string(index=False))
    if "loop_big" in best:
        print(f"  Python loop of {N_PV * (N_REP + 1)} WLS fits (numpy lstsq), one round: {best['loop_big']:.2f} s; "
              f"ratio {best['loop_big'] / best['ours_big']:,.0f}x; largest relative difference: estimate "
              f"{max_rel(res['ours_big']['estimate'], res['loop']['estimate']):.1e}, SE "
              f"{max_rel(res['ours_big']['se'], res['loop']['se']):.1e}")
    print(f"{a.n_r:,} pupils: belonging_lib {best['ours_small']:.4f} s")
    if r is not None:
        print(f"  R survey::svyglm + mitools::MIcombine (analysis inside R, data read once): {best['R_small']:.2f} s; "
              f"ratio {best['R_small'] / best['ours_small']:,.0f}x; largest relative difference: estimate "
              f"{max_rel(res['ours_small']['estimate'], r_est):.1e}, SE {max_rel(res['ours_small']['se'], r_se):.1e}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
