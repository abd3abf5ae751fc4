"""Benchmark: multilevel models from Parquet on a Dask LocalCluster, and the same fits in memory.

Run:  .venv/bin/python bench/bench_dask.py [--pupils 8000000 --schools 25000 --files 16 --workers 2]

Simulated pupils (8 million in 25,000 schools by default: about a year of England's census) are
written to Parquet in ``--files`` files, in random school order, so every school's pupils are spread
over the files.  Two REML fits, Satterthwaite df included:

- random intercept, ``y ~ x1 + x2 + (1 | school)``;
- random slope, ``y ~ x1 + x2 + (x1 | school)``;

first from ``dask.dataframe.read_parquet`` on a ``distributed.LocalCluster`` (worker processes, one
thread each), then, where it fits, from ``pandas.read_parquet`` in this process (reading included in
neither time: the Dask time includes its reading, since the workers read the files as they go; the
in-memory reading time is reported separately).  Peak memory per worker is the largest resident set
size (psutil) of each worker process, sampled every 0.1 s during the fit; the client's own peak is
reported too.  The load average is printed before and after: the machine may be shared.

Not part of the test suite; see bench/README_dask.md.  Needs the ``dask`` extra.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import tempfile
import threading
import time
import warnings

import numpy as np
import pandas as pd


def write_parquet(path: str, n_pupils: int, n_schools: int, n_files: int, seed: int = 2026) -> None:
    """The pupils in ``n_files`` Parquet files, generated file by file (never all in memory)."""
    rng = np.random.default_rng(seed)
    u = rng.normal(0, 0.5, n_schools)
    v = rng.normal(0, 0.2, n_schools)
    os.makedirs(path, exist_ok=True)
    for k, rows in enumerate(np.array_split(np.arange(n_pupils), n_files)):
        m = len(rows)
        school = rng.integers(0, n_schools, m)
        x1 = rng.normal(size=m)
        x2 = rng.binomial(1, 0.3, m).astype(float)
        y = 1.0 + 0.4 * x1 - 0.3 * x2 + u[school] + v[school] * x1 + rng.normal(size=m)
        pd.DataFrame({"school": school, "x1": x1, "x2": x2, "y": y}).to_parquet(
            os.path.join(path, f"part{k:03d}.parquet"), index=False
        )


class MemorySampler:
    """Peak resident set size of each worker process and of this process, sampled in a thread."""

    def __init__(self, client, interval: float = 0.1):
        import psutil

        self.pids = client.run(os.getpid)  # {worker address: its process id}
        self.procs = {addr: psutil.Process(pid) for addr, pid in self.pids.items()}
        self.me = psutil.Process()
        self.interval = interval
        self.peak = dict.fromkeys(self.procs, 0)
        self.peak_client = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            for addr, proc in self.procs.items():
                try:
                    self.peak[addr] = max(self.peak[addr], proc.memory_info().rss)
                except Exception:
                    pass
            self.peak_client = max(self.peak_client, self.me.memory_info().rss)
            time.sleep(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def gib(x: float) -> str:
    return f"{x / 2**30:.2f} GiB"


def timed(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` and the seconds it took."""
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def memory_line(mem: MemorySampler) -> str:
    """The peaks a :class:`MemorySampler` saw, and the load average now."""
    return (f"peak RSS per worker: {', '.join(gib(v) for v in mem.peak.values())}; "
            f"client peak RSS: {gib(mem.peak_client)}; load average now: {os.getloadavg()}")


@contextlib.contextmanager
def local_client(workers: int, memory_limit: str, warm: str):
    """A ``distributed`` client of a LocalCluster (worker processes, one thread each), with the module
    ``warm`` imported on every worker before anything is timed; closed on leaving."""
    import distributed

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                           memory_limit=memory_limit, dashboard_address=None, silence_logs=40)
        client = distributed.Client(cluster)
    try:
        client.run(lambda: __import__(warm))  # imports, not timed
        yield client
    finally:
        client.close()
        cluster.close()


def write_report(path: str, n_files: int, t_write: float, what: str) -> None:
    """One line: what was written to how many Parquet files, their size and the time it took."""
    size = sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path))
    print(f"{what} written to {n_files} Parquet files ({size / 2**20:.0f} MiB) in {t_write:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pupils", type=int, default=8_000_000)
    parser.add_argument("--schools", type=int, default=25_000)
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-limit", default="6GiB", help="per worker")
    parser.add_argument("--no-in-memory", action="store_true", help="skip the in-memory fits")
    parser.add_argument("--dir", default=None, help="where to write the Parquet files (default: a temporary folder)")
    args = parser.parse_args()

    import dask.dataframe as dd
    import psutil

    from belonging_lib.models import multilevel

    print(f"load average before: {os.getloadavg()}; {os.cpu_count()} CPUs; "
          f"{gib(psutil.virtual_memory().total)} RAM, {gib(psutil.virtual_memory().available)} available")
    tmp = args.dir or tempfile.mkdtemp(prefix="bench-dask-")
    path = os.path.join(tmp, "pupils")
    _, t_write = timed(lambda: write_parquet(path, args.pupils, args.schools, args.files))
    write_report(path, args.files, t_write, f"{args.pupils:,} pupils in {args.schools:,} schools")

    models = [("random intercept", "y ~ x1 + x2", None), ("random slope", "y ~ x1 + x2", "~ x1")]
    results = {}
    with local_client(args.workers, args.memory_limit, "belonging_lib.models._distributed") as client:
        for name, formula, random in models:
            ddf = dd.read_parquet(path)
            with MemorySampler(client) as mem:
                fit, elapsed = timed(multilevel, ddf, formula, cluster="school", random=random)
            results[name] = {"dask": fit}
            print(f"Dask, {name}: {elapsed:.1f} s (read_parquet, {ddf.npartitions} partitions, blocks, fit, df); "
                  f"{memory_line(mem)}")

    if not args.no_in_memory:
        d, t_read = timed(lambda: pd.read_parquet(path))
        print(f"in memory: read_parquet {t_read:.1f} s")
        for name, formula, random in models:
            rss0 = psutil.Process().memory_info().rss
            fit, elapsed = timed(multilevel, d, formula, cluster="school", random=random)
            rss1 = psutil.Process().memory_info().rss
            dist = results[name]["dask"]
            diff = float(np.max(np.abs(fit.fixed[["estimate", "se", "df"]].to_numpy()
                                       - dist.fixed[["estimate", "se", "df"]].to_numpy())
                                / np.abs(fit.fixed[["estimate", "se", "df"]].to_numpy())))
            vdiff = float(np.nanmax(np.abs(fit.variance["variance"].to_numpy() - dist.variance["variance"].to_numpy())
                                    / np.abs(fit.variance["variance"].to_numpy())))
            print(f"in memory, {name}: {elapsed:.1f} s (fit, df); process RSS {gib(rss1)} (was {gib(rss0)}); "
                  f"largest relative difference from the Dask fit: fixed effects, SEs, df {diff:.1e}, "
                  f"variances {vdiff:.1e}; load average now: {os.getloadavg()}")
    for name in results:
        fit = results[name]["dask"]
        print(f"\n{name} (Dask):\n{fit.fixed[['estimate', 'se', 'df']].to_string()}\n"
              f"{fit.variance[['variance', 'corr']].to_string()}")
    print(f"load average after: {os.getloadavg()}")
    if args.dir is None:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
