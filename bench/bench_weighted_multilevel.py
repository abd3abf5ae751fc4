"""Benchmark: weighted two-level models, belonging_lib against R's WeMix, and the full PISA-size pooled fit.

Run:  .venv/bin/python bench/bench_weighted_multilevel.py [--pupils 600000 --schools 20000 --repeat 5]

1. **Against WeMix**, on the same data and model, alternating (ours, WeMix, ours, WeMix, ...), best of
   ``--repeat``: the WeMix vignette's random-intercept model on PISA 2012 USA
   (``../shared/data/wemix/pisa2012_usa_mlmusingr.csv``; ``BELONGING_SHARED`` names another place),
   one plausible value, pupil and school weights, sandwich SEs.  WeMix is timed inside R
   (``system.time(mix(...))``, fit and its robust SEs, no data loading); ours is
   ``multilevel(..., weights=...)`` (fit and sandwich).  Skipped where R has no WeMix.
2. **The full pooled fit**: a synthetic PISA-like file of ``--pupils`` pupils in ``--schools``
   schools with a school weight, a total pupil weight, 10 plausible values and 80 Fay replicate
   weights (factors 0.5 / 1.5 by pairs of schools, as PISA's), fitted by
   ``SurveyDesign.multilevel`` (10 full-sample fits, 800 replicate refits, Rubin's rules), best of
   ``--repeat``.  WeMix has no replicate-weight or plausible-value loop; one WeMix fit at this size
   is not attempted (its sandwich alone loops over the 20,000 schools in R).

The load average is printed with the results.  Not part of the test suite; see
bench/README_weighted_multilevel.md.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import subprocess
import time
import warnings

import numpy as np
import pandas as pd

ROOT = pathlib.Path(__file__).resolve().parents[1]
PISA2012 = pathlib.Path(os.environ.get("BELONGING_SHARED", ROOT.parent / "shared")) / "data" / "wemix" / \
    "pisa2012_usa_mlmusingr.csv"


def wemix_once(path) -> tuple[float, float] | None:
    code = (f"suppressPackageStartupMessages(library(WeMix)); d <- read.csv('{path}'); "
            "t <- system.time(m <- mix(pv1math ~ st29q03 + sc14q02 + st04q01 + escs + (1|schoolid), data = d, "
            "weights = c('w_fstuwt', 'w_fschwt')))[['elapsed']]; cat(t, m$coef[['escs']], '\\n')")
    out = subprocess.run(["Rscript", "-e", code], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        print("R WeMix: not available:", out.stderr.strip().splitlines()[-1:] if out.stderr else "")
        return None
    t, escs = out.stdout.split()
    return float(t), float(escs)


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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pupils", type=int, default=600_000)
    ap.add_argument("--schools", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-wemix", action="store_true", help="only the pooled fit")
    a = ap.parse_args()
    warnings.simplefilter("ignore")
    from belonging_lib.models import multilevel
    from belonging_lib.survey import SurveyDesign

    print(f"load average at start: {os.getloadavg()}")
    if PISA2012.exists() and shutil.which("Rscript") and not a.no_wemix:
        d = pd.read_csv(PISA2012, dtype={"schoolid": str})
        ours, theirs, agree = [], [], None
        for _ in range(a.repeat):
            t0 = time.perf_counter()
            fit = multilevel(d, "pv1math ~ C(st29q03) + C(sc14q02) + C(st04q01) + escs", cluster="schoolid",
                             weights={"pupil": "w_fstuwt", "school": "w_fschwt"}, pupil_weight="total",
                             scaling="none")
            ours.append(time.perf_counter() - t0)
            res = wemix_once(PISA2012)
            if res is None:
                break
            theirs.append(res[0])
            agree = abs(res[1] - fit.fixed.loc["escs", "estimate"])
        print(f"PISA 2012 USA, random intercept, one PV, both weights, sandwich: ours best {min(ours):.3f} s "
              f"of {len(ours)}", end="")
        if theirs:
            print(f"; WeMix best {min(theirs):.1f} s of {len(theirs)}; ratio WeMix / ours "
                  f"{min(theirs) / min(ours):.0f}x; |escs difference| {agree:.1e}")
        else:
            print()
        print(f"load average: {os.getloadavg()}", flush=True)

    t0 = time.perf_counter()
    data = simulate(a.pupils, a.schools)
    print(f"simulated {a.pupils} pupils in {a.schools} schools, 10 PVs, 80 replicates in "
          f"{time.perf_counter() - t0:.1f} s")
    des = SurveyDesign(data, weight="W", replicates="RW", pv="auto")
    best, res = np.inf, None
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        res = des.multilevel("MATH ~ x", cluster="school", school_weight="W_SCH")
        best = min(best, time.perf_counter() - t0)
    print(f"pooled random-intercept fit, 10 PVs x (1 + 80 replicates): best {best:.2f} s of {a.repeat}")
    print(res.to_frame()[["term", "estimate", "se", "var_within", "var_between"]].to_string(index=False))
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
