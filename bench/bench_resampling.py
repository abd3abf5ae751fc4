"""Benchmark: resampling inference (issue 30's rows 4-6), in one run.

Run:  .venv/bin/python bench/bench_resampling.py [--repeat 5] [--loop-replicates 50]

- ``crt_effect`` with 1,000 cluster bootstraps, and with 1,000 re-randomisations, on a simulated
  trial of 40 schools x 30 pupils (``post ~ treat + pre``);
- ``icc`` with 1,000 cluster bootstraps (``ci_method="bootstrap"``) on the same schools;
- ``reliability`` of 18 items for 100,000 simulated pupils, without and with 1,000 bootstraps.

Each replicate of the trial and ICC resampling is solved from cached per-school blocks (see
``belonging_lib/models/_replicates.py``).  The baseline in the same run is the refit loop those
replicates replaced: each resample's rows refitted by ``fit_random_intercept`` (two fits per
bootstrap replicate, one per re-randomisation), timed on ``--loop-replicates`` replicates and
scaled to 1,000 (stated as such).  R's eefAnalytics (which loops lme4 over replicates) is used where
installed and skipped with a note where not.  The library's timings are the best of ``--repeat``
runs, alternating with the baseline; the load average is printed before and after, because the
ratios from one run are what can be compared on a shared machine.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import subprocess
import time
import warnings

import numpy as np
import pandas as pd


def trial(seed: int = 2026, schools: int = 40, pupils: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(schools), pupils)
    arm = np.repeat(rng.permutation(np.r_[np.zeros(schools // 2), np.ones(schools - schools // 2)]), pupils)
    pre = rng.normal(size=g.size)
    post = 0.2 * arm + 0.5 * pre + rng.normal(0, 0.45, schools)[g] + rng.normal(size=g.size)
    return pd.DataFrame({"school": [f"S{v:03d}" for v in g], "treat": arm, "pre": pre, "post": post})


def items(seed: int = 2026, n: int = 100_000, k: int = 18) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = np.clip(np.round(3 + 0.8 * rng.normal(size=(n, 1)) + rng.normal(size=(n, k))), 1, 5)
    return pd.DataFrame(x, columns=[f"q{j + 1:02d}" for j in range(k)])


def best(fun, repeat: int):
    t, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fun()
        t = min(t, time.perf_counter() - t0)
    return t, out


def refit_loop(d: pd.DataFrame, n_rep: int, kind: str) -> float:
    """Seconds for ``n_rep`` replicates refitted row by row (the loop the cached blocks replace)."""
    from belonging_lib._resampling import (
        rerandomise,
        resampled_rows,
        stratified_cluster_draws,
    )
    from belonging_lib.models import fit_random_intercept

    codes, _ = pd.factorize(d["school"])
    y = d["post"].to_numpy(float)
    X = np.column_stack([np.ones(len(d)), d["treat"], d["pre"]])
    arm = d.groupby(codes)["treat"].first().to_numpy(float)
    rows_of = [np.flatnonzero(codes == c) for c in range(len(arm))]
    rng = np.random.default_rng(1)
    t0 = time.perf_counter()
    if kind == "boot":
        draws = stratified_cluster_draws([np.flatnonzero(arm == v) for v in (0.0, 1.0)], n_rep, rng)
        for r in range(n_rep):
            idx, labels = resampled_rows(rows_of, draws[r])
            b = fit_random_intercept(y[idx], X[idx], cluster=labels).coefficients[1]
            den = fit_random_intercept(y[idx], X[idx][:, :2], cluster=labels)
            _ = b / math.sqrt(den.tau00 + den.sigma2)
    else:
        for _ in range(n_rep):
            Xp = X.copy()
            Xp[:, 1] = rerandomise(arm, None, rng)[codes]
            fit_random_intercept(y, Xp, cluster=codes)
    return time.perf_counter() - t0


def old_alpha_bootstrap(x: np.ndarray, n_rep: int) -> float:
    """Seconds for ``n_rep`` draws of version 0.2's reliability bootstrap (multinomial row counts,
    the 3 k^2 pairwise sums of every draw), the baseline of the reliability row."""
    n, k = x.shape
    m = (~np.isnan(x)).astype(float)
    xz = np.where(np.isnan(x), 0.0, x)
    t0 = time.perf_counter()
    mm = np.einsum("nj,nk->njk", m, m).reshape(n, k * k)
    xm = np.einsum("nj,nk->njk", xz, m).reshape(n, k * k)
    xx = np.einsum("nj,nk->njk", xz, xz).reshape(n, k * k)
    w = np.random.default_rng(0).multinomial(n, np.full(n, 1.0 / n), size=n_rep).astype(float)
    n_jk, s_jk, p_jk = ((w @ a).reshape(n_rep, k, k) for a in (mm, xm, xx))
    cov = (p_jk - s_jk * np.swapaxes(s_jk, 1, 2) / n_jk) / (n_jk - 1)
    _ = 1 - np.trace(cov, axis1=1, axis2=2) / cov.sum(axis=(1, 2))
    return time.perf_counter() - t0


def run_eef_analytics(path: str, n: int) -> float | None:
    if not shutil.which("Rscript"):
        print("R: not installed, eefAnalytics skipped")
        return None
    code = ("if (!requireNamespace('eefAnalytics', quietly = TRUE)) quit(status = 3); "
            "suppressPackageStartupMessages(library(eefAnalytics)); d <- read.csv('" + path + "'); "
            "d$school <- as.integer(factor(d$school)); "
            "t <- system.time(crtFREQ(post ~ treat + pre, random = 'school', intervention = 'treat', "
            f"nBoot = {n}, type = 'residual', data = d))[['elapsed']]; cat(t, '\\n')")
    out = subprocess.run(["Rscript", "-e", code], capture_output=True, text=True, check=False)
    if out.returncode == 3:
        print("R eefAnalytics: not installed, skipped (install.packages('eefAnalytics'))")
        return None
    if out.returncode != 0:
        print("R eefAnalytics: failed, skipped:", out.stderr[-300:])
        return None
    return float(out.stdout.split()[0])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--loop-replicates", type=int, default=50)
    ap.add_argument("--pupils", type=int, default=100_000, help="pupils of the reliability row")
    a = ap.parse_args()
    warnings.simplefilter("ignore")
    from belonging_lib import trials
    from belonging_lib.reliability import icc, reliability

    print(f"load average before: {os.getloadavg()}")
    d = trial()
    trials.crt_effect(d, "post ~ treat + pre", cluster="school", treatment="treat", n_boot=20, progress=False)
    rows = []

    def row(name, ours, base=None, base_label=""):
        ratio = f"{base / ours:7.1f}x" if base else "       -"
        rows.append((name, ours, base, base_label))
        print(f"  {name:<48} {ours:8.3f} s   {ratio}  {base_label}")

    print("ratio: the baseline's time / ours (same run)")
    print("Trial of 40 schools x 30 pupils, post ~ treat + pre; best of", a.repeat)
    tb, tp, tl_b, tl_p = np.inf, np.inf, np.inf, np.inf
    for _ in range(a.repeat):          # alternate the library and the baseline loop
        tb = min(tb, best(lambda: trials.crt_effect(d, "post ~ treat + pre", cluster="school", treatment="treat",
                                                    n_boot=1000, progress=False), 1)[0])
        tl_b = min(tl_b, refit_loop(d, a.loop_replicates, "boot") * 1000 / a.loop_replicates)
        tp = min(tp, best(lambda: trials.crt_effect(d, "post ~ treat + pre", cluster="school", treatment="treat",
                                                    n_perm=1000, progress=False), 1)[0])
        tl_p = min(tl_p, refit_loop(d, a.loop_replicates, "perm") * 1000 / a.loop_replicates)
    row("crt_effect, 1,000 cluster bootstraps", tb, tl_b, f"refit loop ({a.loop_replicates} replicates x 1000/"
        f"{a.loop_replicates})")
    row("crt_effect, 1,000 re-randomisations", tp, tl_p, "refit loop (scaled likewise)")
    ti, _ = best(lambda: icc(d, outcome="post", cluster="school", ci_method="bootstrap", n_boot=1000, progress=False),
                 a.repeat)
    row("icc, 1,000 cluster bootstraps", ti)
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "trial.csv")
        d.to_csv(path, index=False)
        te = run_eef_analytics(path, 1000)
    if te is not None:
        row("R eefAnalytics crtFREQ, 1,000 bootstraps", te, None, f"ratio eefAnalytics / ours {te / tb:.1f}x")

    x = items(n=a.pupils)
    print(f"Reliability of 18 items, {a.pupils:,} pupils; best of {a.repeat}")
    t0, _ = best(lambda: reliability(x, progress=False), a.repeat)
    t1, r = best(lambda: reliability(x, n_boot=1000, progress=False), a.repeat)
    t_old = min(old_alpha_bootstrap(x.to_numpy(float), a.loop_replicates) for _ in range(2)) * 1000 / a.loop_replicates
    row("reliability, no bootstrap", t0)
    row("reliability, 1,000 bootstraps", t1, t0 + t_old, f"version 0.2's bootstrap ({a.loop_replicates} draws x "
        f"1000/{a.loop_replicates}) + the fit; ours adds {t1 - t0:.3f} s ({r.boot_ci_low:.4f} to {r.boot_ci_high:.4f})")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
