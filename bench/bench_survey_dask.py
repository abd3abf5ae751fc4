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
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench_dask import MemorySampler, gib, local_client, memory_line, timed, write_report  # noqa: E402
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
    import psutil

    from belonging_lib.survey import SurveyDesign

    pv = {"MATH": [f"PV{m}MATH" for m in range(1, N_PV + 1)]}
    design_args = dict(weight="W_FSTUWT", replicates="W_FSTURWT", method="fay", rho=0.5, pv=pv)
    print(f"load average before: {os.getloadavg()}; {os.cpu_count()} CPUs; "
          f"{gib(psutil.virtual_memory().total)} RAM, {gib(psutil.virtual_memory().available)} available")
    tmp = args.dir or tempfile.mkdtemp(prefix="bench-survey-dask-")
    path = os.path.join(tmp, "pupils")
    _, t_write = timed(lambda: write_parquet(path, args.pupils, args.files))
    write_report(path, args.files, t_write, f"{args.pupils:,} pupils (81 weights, {N_PV} plausible values)")

    def design_and_fit(data):
        """The design and the regression, each timed."""
        design, t_design = timed(lambda: SurveyDesign(data, **design_args))
        fit, t_fit = timed(lambda: design.regress(FORMULA).to_frame())
        return fit, t_design, t_fit

    with local_client(args.workers, args.memory_limit, "belonging_lib.survey._dask") as client:
        ddf = dd.read_parquet(path)
        with MemorySampler(client) as mem:
            dask_fit, t_design, t_fit = design_and_fit(ddf)
        print(f"Dask: design (weights checked on the workers) {t_design:.1f} s, regress {t_fit:.1f} s "
              f"(read_parquet, {ddf.npartitions} partitions, sums, pooling); {memory_line(mem)}")

    if not args.no_in_memory:
        d, t_read = timed(lambda: pd.read_parquet(path))
        print(f"in memory: read_parquet {t_read:.1f} s")
        fit, t_design, t_fit = design_and_fit(d)
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
