"""Benchmark: the PISA-size pooled weighted two-level fit, and belonging_lib against R's WeMix on the same data.

Run:  .venv/bin/python bench/bench_weighted_multilevel.py [--pupils 600000 --schools 20000 --repeat 5
      --wemix-repeat 3 --slice-schools 200 --pisa]

One synthetic PISA-like file (``simulate``): ``--pupils`` pupils in ``--schools`` schools with a school
weight, a total pupil weight, 10 plausible values and 80 Fay replicate weights (factors 0.5 / 1.5 by
pairs of schools, as PISA's).  Then, alternating (pooled fit, our slice fit, WeMix slice fit, pooled
fit, ...):

1. **The full pooled fit**: ``SurveyDesign.multilevel`` on the whole file (10 full-sample fits, 800
   replicate refits, Rubin's rules), best of ``--repeat``.
2. **Against WeMix, per fit**: the first ``--slice-schools`` schools of the same file (all their
   pupils), one plausible value (PV1MATH), the full-sample pupil and school weights only (no
   replicates), random intercept, sandwich SEs, no scaling (WeMix's): ``multilevel(...,
   weights=...)`` (fit and sandwich) against ``WeMix::mix`` timed inside R (``system.time(mix(...))``,
   fit and its robust SEs; R's start and the data loading not counted).  Ours best of ``--repeat``,
   WeMix best of ``--wemix-repeat`` (it is slow).  A WeMix fit of the whole file, let alone its 810
   fits, is not attempted: one fit of a 60,000-pupil slice (2,000 schools) did not finish in 25
   minutes on the loaded development machine.
3. With ``--pisa``: the WeMix vignette's random-intercept model on PISA 2012 USA
   (``../shared/data/wemix/pisa2012_usa_mlmusingr.csv``; ``BELONGING_SHARED`` names another place),
   as before, best of ``--repeat`` for both.

Both wall-clock and processor (CPU) time are reported: ``time.perf_counter`` / ``time.process_time``
here, ``elapsed`` / ``user + system`` in R; on a shared machine the processor time is the steadier
measure of the work done.  The load average is printed with the results.  Not part of the test suite;
see bench/README_weighted_multilevel.md.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import subprocess
import tempfile
import time
import warnings

import numpy as np
import pandas as pd

ROOT = pathlib.Path(__file__).resolve().parents[1]
PISA2012 = pathlib.Path(os.environ.get("BELONGING_SHARED", ROOT.parent / "shared")) / "data" / "wemix" / \
    "pisa2012_usa_mlmusingr.csv"


def wemix_once(path, formula, weights, coef) -> tuple[float, float, float, float] | None:
    """One WeMix fit in a fresh R: its elapsed and CPU seconds, one coefficient and its SE."""
    code = (f"suppressPackageStartupMessages(library(WeMix)); d <- read.csv('{path}'); "
            f"t <- system.time(m <- mix({formula}, data = d, weights = c('{weights[0]}', '{weights[1]}'))); "
            f"cat(t[['elapsed']], t[['user.self']] + t[['sys.self']], m$coef[['{coef}']], m$SE[['{coef}']], '\\n')")
    out = subprocess.run(["Rscript", "-e", code], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        print("R WeMix: not available:", out.stderr.strip().splitlines()[-1:] if out.stderr else "")
        return None
    wall, cpu, est, se = (float(v) for v in out.stdout.split())
    return wall, cpu, est, se


def timed(fn):
    """fn() with its wall-clock and processor seconds."""
    w0, c0 = time.perf_counter(), time.process_time()
    res = fn()
    return res, time.perf_counter() - w0, time.process_time() - c0


def simulate(n_pupils, n_schools, seed=2026, n_pv=10, n_rep=80):
    rng = np.random.default_rng(seed)
    school = np.sort(rng.integers(0, n_schools, n_pupils))
    u = rng.normal(0, 30, n_schools)
    w_school = np.round(np.exp(3 - 0.02 * u + 0.3 * rng.normal(size=n_schools)), 4)
    x = rng.normal(size=n_pupils)
    true = 500 + 20 * x + u[school] + rng.normal(0, 60, n_pupils)
    d = {"school": school, "x": x, "W_SCH": w_school[school]}
    d["W"] = np.round(w_school[school] * (1 + 0.15 * rng.uniform(size=n_pupils)), 4)
    for m in range(n_pv):
        d[f"PV{m + 1}MATH"] = true + rng.normal(0, 20, n_pupils)
    signs = rng.choice([-1.0, 1.0], size=(n_schools // 2 + 1, n_rep))
    pair_sign = signs[school // 2] * np.where(school % 2 == 0, 1.0, -1.0)[:, None]
    rep = d["W"][:, None] * (1 + 0.5 * pair_sign)
    frame = pd.DataFrame(d)
    reps = pd.DataFrame(rep, columns=[f"RW{r + 1}" for r in range(n_rep)])
    return pd.concat([frame, reps], axis=1)


def pisa_against_wemix(repeat):
    from belonging_lib.models import multilevel

    d = pd.read_csv(PISA2012, dtype={"schoolid": str})
    ours, theirs, agree = [], [], None
    for _ in range(repeat):
        fit, wall, _ = timed(lambda: multilevel(
            d, "pv1math ~ C(st29q03) + C(sc14q02) + C(st04q01) + escs", cluster="schoolid",
            weights={"pupil": "w_fstuwt", "school": "w_fschwt"}, pupil_weight="total", scaling="none"))
        ours.append(wall)
        res = wemix_once(PISA2012, "pv1math ~ st29q03 + sc14q02 + st04q01 + escs + (1|schoolid)",
                         ("w_fstuwt", "w_fschwt"), "escs")
        if res is None:
            break
        theirs.append(res[0])
        agree = abs(res[2] - fit.fixed.loc["escs", "estimate"])
    print(f"PISA 2012 USA, random intercept, one PV, both weights, sandwich: ours best {min(ours):.3f} s "
          f"of {len(ours)}", end="")
    if theirs:
        print(f"; WeMix best {min(theirs):.1f} s of {len(theirs)}; ratio WeMix / ours "
              f"{min(theirs) / min(ours):.0f}x; |escs difference| {agree:.1e}")
    else:
        print()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pupils", type=int, default=600_000)
    ap.add_argument("--schools", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--wemix-repeat", type=int, default=3, help="WeMix fits of the slice (slow)")
    ap.add_argument("--slice-schools", type=int, default=200, help="schools in the slice fitted by both")
    ap.add_argument("--no-wemix", action="store_true", help="only the pooled fit")
    ap.add_argument("--pisa", action="store_true", help="also the WeMix vignette's model on PISA 2012 USA")
    a = ap.parse_args()
    warnings.simplefilter("ignore")
    from belonging_lib.models import multilevel
    from belonging_lib.survey import SurveyDesign

    print(f"load average at start: {os.getloadavg()}")
    t0 = time.perf_counter()
    data = simulate(a.pupils, a.schools)
    print(f"simulated {a.pupils} pupils in {a.schools} schools, 10 PVs, 80 replicates in "
          f"{time.perf_counter() - t0:.1f} s")
    des = SurveyDesign(data, weight="W", replicates="RW", pv="auto")
    part = data.loc[data["school"] < a.slice_schools, ["school", "x", "W", "W_SCH", "PV1MATH"]].reset_index(drop=True)
    use_wemix = bool(shutil.which("Rscript")) and not a.no_wemix
    with tempfile.TemporaryDirectory() as tmp:        # synthetic pupils, outside the repository
        path = pathlib.Path(tmp) / "slice.csv"
        part.to_csv(path, index=False)
        pooled, mine, theirs, res, fit, wm = [], [], [], None, None, None
        for i in range(a.repeat):
            res, wall, cpu = timed(lambda: des.multilevel("MATH ~ x", cluster="school", school_weight="W_SCH"))
            pooled.append((wall, cpu))
            fit, wall, cpu = timed(lambda: multilevel(part, "PV1MATH ~ x", cluster="school",
                                                      weights={"pupil": "W", "school": "W_SCH"},
                                                      pupil_weight="total", scaling="none"))
            mine.append((wall, cpu))
            if use_wemix and i < a.wemix_repeat:
                got = wemix_once(path, "PV1MATH ~ x + (1|school)", ("W", "W_SCH"), "x")
                if got is None:
                    use_wemix = False
                else:
                    theirs.append(got[:2])
                    wm = got
            print(f"  run {i + 1}: pooled {pooled[-1][0]:.2f} s (CPU {pooled[-1][1]:.2f} s); slice ours "
                  f"{mine[-1][0]:.3f} s" + (f"; slice WeMix {theirs[-1][0]:.1f} s" if theirs and
                                               len(theirs) == i + 1 else "")
                  + f"; load average {os.getloadavg()[0]:.2f}", flush=True)

    def best(pairs, k):
        return min(p[k] for p in pairs)
    print(f"pooled random-intercept fit, {a.pupils} pupils in {a.schools} schools, both weights, "
          f"10 PVs x (1 + 80 replicates), Rubin's rules: best {best(pooled, 0):.2f} s wall-clock, "
          f"{best(pooled, 1):.2f} s CPU, of {len(pooled)}")
    print(res.to_frame()[["term", "estimate", "se", "var_within", "var_between"]].to_string(index=False))
    n_slice = len(part)
    print(f"slice: the first {a.slice_schools} schools of the same file ({n_slice} pupils), PV1MATH ~ x, "
          f"random intercept, full-sample pupil and school weights, no scaling, sandwich SEs")
    print(f"  ours: best {best(mine, 0):.3f} s wall-clock, {best(mine, 1):.3f} s CPU, of {len(mine)}")
    if theirs:
        est, se = fit.fixed.loc["x", "estimate"], fit.fixed.loc["x", "se"]
        print(f"  R WeMix: best {best(theirs, 0):.1f} s wall-clock, {best(theirs, 1):.1f} s CPU, of {len(theirs)}")
        print(f"  ratio WeMix / ours, one fit: {best(theirs, 0) / best(mine, 0):.0f}x wall-clock, "
              f"{best(theirs, 1) / best(mine, 1):.0f}x CPU")
        print(f"  one WeMix fit of {a.slice_schools} schools / our whole pooled fit of {a.schools} schools "
              f"(810 fits): {best(theirs, 0) / best(pooled, 0):.2f} wall-clock, "
              f"{best(theirs, 1) / best(pooled, 1):.2f} CPU")
        print(f"  agreement: x {est:.6f} (ours) vs {wm[2]:.6f} (WeMix), |difference| {abs(est - wm[2]):.1e}; "
              f"SE {se:.6f} vs {wm[3]:.6f}, |difference| {abs(se - wm[3]):.1e}")
    else:
        print("  R WeMix: not run")
    if a.pisa and PISA2012.exists() and use_wemix:
        pisa_against_wemix(a.repeat)
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
