"""Benchmark: a PISA-style survey regression from Parquet on a Dask LocalCluster, and the same in memory.

Run:  .venv/bin/python bench/bench_survey_dask.py [--pupils 2000000 --files 16 --workers 2]

Simulated pupils (``bench_survey.simulate``: a final weight, 80 Fay replicate weights, 10 plausible
values of MATH, three predictors) are written to Parquet in ``--files`` files, file by file, so the
data are never all in this process while they are written.  One regression,
``MATH ~ ESCS + BELONG + FEMALE`` with the 81 weights and 10 plausible values pooled, is computed:

- from ``dask.dataframe.read_parquet`` on a ``distributed.LocalCluster`` (worker processes, one thread
  each): ``SurveyDesign(ddf, ...)`` (its checks of the weights run on the workers) and ``regress()``,
  each worker summing its partitions' weighted cross-products; reading included, since the workers
  read the files as they go;
- where it fits, from ``pandas.read_parquet`` in this process (reading timed apart), the design and
  ``regress()`` timed separately.

Peak memory per worker is the largest resident set size (psutil) of each worker process, sampled every
0.1 s; the client's own peak too.  The load average is printed before and after: the machine may be
shared.  Not part of the test suite; see bench/README_dask.md.  Needs the ``dask`` extra.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench_dask import MemorySampler, gib  # noqa: E402
from bench_survey import N_PV, simulate  # noqa: E402

FORMULA = "MATH ~ ESCS + BELONG + FEMALE"


def write_parquet(path: str, n_pupils: int, n_files: int, seed: int = 2026) -> None:
    """The pupils in ``n_files`` Parquet files, simulated file by file (each file its own seed)."""
    os.makedirs(path, exist_ok=True)
    for k, rows in enumerate(np.array_split(np.arange(n_pupils), n_files)):
        simulate(len(rows), seed=seed + k).to_parquet(os.path.join(path, f"part{k:03d}.parquet"), index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pupils", type=int, default=2_000_000)
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-limit", default="6GiB", help="per worker")
    parser.add_argument("--no-in-memory", action="store_true", help="skip the in-memory run")
    parser.add_argument("--dir", default=None, help="where to write the Parquet files (default: a temporary folder)")
    args = parser.parse_args()

    import dask.dataframe as dd
    import distributed
    import psutil

    from belonging_lib.survey import SurveyDesign

    pv = {"MATH": [f"PV{m}MATH" for m in range(1, N_PV + 1)]}
    design_args = dict(weight="W_FSTUWT", replicates="W_FSTURWT", method="fay", rho=0.5, pv=pv)
    print(f"load average before: {os.getloadavg()}; {os.cpu_count()} CPUs; "
          f"{gib(psutil.virtual_memory().total)} RAM, {gib(psutil.virtual_memory().available)} available")
    tmp = args.dir or tempfile.mkdtemp(prefix="bench-survey-dask-")
    path = os.path.join(tmp, "pupils")
    t0 = time.perf_counter()
    write_parquet(path, args.pupils, args.files)
    size = sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path))
    print(f"{args.pupils:,} pupils (81 weights, {N_PV} plausible values) written to {args.files} Parquet files "
          f"({size / 2**20:.0f} MiB) in {time.perf_counter() - t0:.1f} s")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                                           memory_limit=args.memory_limit, dashboard_address=None,
                                           silence_logs=40)
        client = distributed.Client(cluster)
    try:
        client.run(lambda: __import__("belonging_lib.survey._dask"))  # imports, not timed
        ddf = dd.read_parquet(path)
        with MemorySampler(client) as mem:
            t0 = time.perf_counter()
            design = SurveyDesign(ddf, **design_args)
            t_design = time.perf_counter() - t0
            t0 = time.perf_counter()
            dask_fit = design.regress(FORMULA).to_frame()
            t_fit = time.perf_counter() - t0
        peaks = ", ".join(gib(v) for v in mem.peak.values())
        print(f"Dask: design (weights checked on the workers) {t_design:.1f} s, regress {t_fit:.1f} s "
              f"(read_parquet, {ddf.npartitions} partitions, sums, pooling); peak RSS per worker: {peaks}; "
              f"client peak RSS: {gib(mem.peak_client)}; load average now: {os.getloadavg()}")
    finally:
        client.close()
        cluster.close()

    if not args.no_in_memory:
        t0 = time.perf_counter()
        d = pd.read_parquet(path)
        print(f"in memory: read_parquet {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        design = SurveyDesign(d, **design_args)
        t_design = time.perf_counter() - t0
        t0 = time.perf_counter()
        fit = design.regress(FORMULA).to_frame()
        t_fit = time.perf_counter() - t0
        cols = ["estimate", "se", "df"]
        a, b = fit[cols].to_numpy(float), dask_fit[cols].to_numpy(float)
        diff = float(np.nanmax(np.abs(a - b) / np.abs(a)))
        print(f"in memory: design {t_design:.1f} s, regress {t_fit:.2f} s; process RSS "
              f"{gib(psutil.Process().memory_info().rss)}; largest relative difference from the Dask result "
              f"(estimates, SEs, df): {diff:.1e}; load average now: {os.getloadavg()}")
    print(f"\nDask result:\n{dask_fit[['term', 'estimate', 'se', 'df']].to_string(index=False)}")
    print(f"load average after: {os.getloadavg()}")
    if args.dir is None:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
