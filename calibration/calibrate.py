"""Coverage of the course's 95% intervals over many simulated samples (``make calibrate``).

Each study draws samples from a small generating model with known truth, at the design sizes the
chapters use (40 schools of 40 to 118 pupils for the survey chapters, 1,200 pupils over three waves
for 07, a 40-school trial in 10 blocks for 09), computes the interval the chapter prints with the
library's own function, and counts how often it holds the truth, and how far the estimate lies from
it on average (bias, with its Monte-Carlo standard error). Coverage is reported with its
Monte-Carlo standard error, sqrt(p (1 - p) / R); an interval is flagged where its coverage lies more
than two Monte-Carlo standard errors of the nominal level, sqrt(.95 x .05 / R), away from 95%.

The generating models are deliberately plain (normal school and pupil effects, no measurement error),
so that a miss is the interval's, not a misspecified model's: the table calibrates the intervals, not
the simulator's truth recovery.

    python calibration/calibrate.py                 # the full run; writes the two files below
    python calibration/calibrate.py --reps 20 --out /tmp/cal   # a quick run elsewhere

Writes ``docs/calibration.json`` (read by the chapters, shipped with the course) and
``bench/results/calibration.md`` (the table, with the commit, the replicates and the seed). It uses
the library only, never a chapter.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from concurrent.futures import ProcessPoolExecutor, as_completed
from collections.abc import Callable

# one BLAS thread per process: the studies run in parallel processes instead (small matrices gain
# nothing from threads, and oversubscribed threads slow a shared machine down many times)
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

from belonging_lib import BelongingWarning  # noqa: E402
from belonging_lib._progress import progress_bar  # noqa: E402
from belonging_lib.models import multilevel  # noqa: E402
from belonging_lib.models.moderation import moderation  # noqa: E402
from belonging_lib.proportions import wilson_ci  # noqa: E402
from belonging_lib.reliability import icc  # noqa: E402
from belonging_lib.transitions import growth_model  # noqa: E402
from belonging_lib.trials import crt_effect  # noqa: E402

NOMINAL = 0.95
SEED = 2026
REPS = 300
#: Version of the table's layout; the test compares a quick run's keys and columns with the file.
FORMAT = 2

JSON_PATH = ROOT / "docs" / "calibration.json"
TABLE_PATH = ROOT / "bench" / "results" / "calibration.md"

# design sizes of the chapters' data (data/sample/)
N_SCHOOLS = 40
SCHOOL_SIZE = (40, 118)  # survey.csv: 40 schools of 40 to 118 pupils (mean 78)
TRIAL_SIZE = (40, 58)  # trial.csv: 40 schools of 40 to 58 pupils, 10 blocks
N_PANEL = 1200  # transition.csv: 1,200 pupils, three waves


@dataclass
class Study:
    """One interval: where the course uses it, the generator and the function that checks one sample."""

    key: str
    chapter: str
    interval: str
    function: str
    design: str
    run: Callable[[np.random.Generator], dict[str, tuple[bool, float]]]  # one sample -> {target: (covered, error)}


def _school_design(rng, sizes=SCHOOL_SIZE, n_schools=N_SCHOOLS):
    n_j = rng.integers(sizes[0], sizes[1] + 1, size=n_schools)
    school = np.repeat(np.arange(n_schools), n_j)
    return school, n_j


def _inside(low, high, truth, estimate) -> tuple[bool, float]:
    """Whether the interval holds the truth, and the estimate's error (estimate - truth)."""
    return bool(low <= truth <= high), float(estimate - truth)


# ---------------------------------------------------------------------------------------------- 05
B_X, B_Z = 2.5, 1.0  # pupil-level slope (points per point of belonging), school-level slope


def _fixed_effects(rng):
    """05: attainment ~ x + z with a school random intercept; Satterthwaite t intervals."""
    school, _ = _school_design(rng)
    n = len(school)
    z = rng.normal(size=N_SCHOOLS)  # a school-level measure (staff belonging)
    x = 0.3 * rng.normal(size=N_SCHOOLS)[school] + rng.normal(size=n)  # pupil measure, partly school
    y = B_X * x + B_Z * z[school] + 2.0 * rng.normal(size=N_SCHOOLS)[school] + 6.0 * rng.normal(size=n)
    fit = multilevel(pd.DataFrame({"y": y, "x": x, "z": z[school], "school": school}), "y ~ x + z", cluster="school")
    fx = fit.fixed
    return {
        "pupil-level slope": _inside(fx.loc["x", "ci_low"], fx.loc["x", "ci_high"], B_X, fx.loc["x", "estimate"]),
        "school-level slope": _inside(fx.loc["z", "ci_low"], fx.loc["z", "ci_high"], B_Z, fx.loc["z", "estimate"]),
    }


# ---------------------------------------------------------------------------------------------- 02
TAU, SIGMA2 = 0.05, 0.45  # ICC(1) = .10 between schools


def _icc_intervals(rng):
    """02 and 08: ICC(1) and ICC(2) with profile-likelihood intervals (``icc``'s default)."""
    school, n_j = _school_design(rng)
    y = np.sqrt(TAU) * rng.normal(size=N_SCHOOLS)[school] + np.sqrt(SIGMA2) * rng.normal(size=len(school))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BelongingWarning)
        res = icc(
            pd.DataFrame({"y": y, "school": school}),
            outcome="y",
            cluster="school",
        )
    icc1 = TAU / (TAU + SIGMA2)
    icc2 = TAU / (TAU + SIGMA2 / n_j.mean())
    return {
        "ICC(1)": _inside(res.icc1_ci_low, res.icc1_ci_high, icc1, res.icc1),
        "ICC(2)": _inside(res.icc2_ci_low, res.icc2_ci_high, icc2, res.icc2),
    }


# ---------------------------------------------------------------------------------------------- 06
RHO = -0.5  # correlation of belonging with difficulties, the same within and between schools
ICC_R = 0.10


def _correlation(rng):
    """06: Pearson r with the Fisher-z interval (pingouin), on pupils clustered in schools."""
    import pingouin as pg

    school, _ = _school_design(rng)
    n = len(school)
    cov = np.array([[1.0, RHO], [RHO, 1.0]])
    between = rng.multivariate_normal([0, 0], cov * ICC_R, size=N_SCHOOLS)[school]
    within = rng.multivariate_normal([0, 0], cov * (1 - ICC_R), size=n)
    xy = between + within
    res = pg.corr(xy[:, 0], xy[:, 1])
    low, high = res.filter(like="CI95").iloc[0, 0]
    return {"correlation": _inside(low, high, RHO, res["r"].iloc[0])}


SHARE = 0.15  # share of pupils in a band (e.g. high need), varying between schools


def _share(rng):
    """06: a share with the Wilson interval, on pupils clustered in schools."""
    school, n_j = _school_design(rng)
    logit_j = np.log(SHARE / (1 - SHARE)) + 0.5 * rng.normal(size=N_SCHOOLS)
    p_j = 1 / (1 + np.exp(-logit_j))
    count = rng.binomial(n_j, p_j).sum()
    # the population share: the school probabilities averaged over the distribution of schools
    ci = wilson_ci(np.array([count]), np.array([n_j.sum()])).to_frame()
    return {"share": _inside(ci["ci_low"].iloc[0], ci["ci_high"].iloc[0], _true_share(), count / n_j.sum())}


_SHARE_CACHE: dict[str, float] = {}


def _true_share() -> float:
    if "v" not in _SHARE_CACHE:  # E[expit(a + 0.5 Z)] by Gauss-Hermite quadrature
        nodes, weights = np.polynomial.hermite_e.hermegauss(60)
        a = np.log(SHARE / (1 - SHARE))
        _SHARE_CACHE["v"] = float(np.sum(weights / (1 + np.exp(-(a + 0.5 * nodes)))) / np.sqrt(2 * np.pi))
    return _SHARE_CACHE["v"]


B_FSM, B_W, B_INT = -3.0, 2.5, 1.0  # the FSM gap, the belonging slope and their interaction


def _moderation(rng):
    """06: the FSM x belonging interaction and the simple slopes, cluster-robust (CR2) intervals."""
    school, _ = _school_design(rng)
    n = len(school)
    fsm = (rng.random(n) < 0.2 + 0.2 * rng.random(N_SCHOOLS)[school]).astype(int)
    w = 3.5 + 0.7 * rng.normal(size=n)
    prior = rng.normal(size=n)
    y = (
        B_FSM * fsm
        + B_W * (w - 3.5)
        + B_INT * fsm * (w - 3.5)
        + 4.0 * prior
        + 2.0 * rng.normal(size=N_SCHOOLS)[school]
        + 6.0 * rng.normal(size=n)
    )
    res = moderation(
        pd.DataFrame({"y": y, "fsm": fsm, "w": w, "prior": prior, "school": school}),
        outcome="y",
        predictor="fsm",
        moderator="w",
        covariates=["prior"],
        cluster="school",
    )
    row = res.coefficients.set_index("term")
    inter = row.iloc[3]
    slopes = res.simple_slopes
    true_gap = B_FSM + B_INT * (slopes["moderator_value"].to_numpy() - 3.5)
    median = slopes.iloc[1]
    return {
        "interaction": _inside(inter["ci_low"], inter["ci_high"], B_INT, inter["estimate"]),
        "simple slope at the median": _inside(median["ci_low"], median["ci_high"], true_gap[1], median["estimate"]),
    }


# ---------------------------------------------------------------------------------------------- 07
STEP, RECOVER, STEP_SEND = -0.30, 0.15, -0.15


def _growth(rng):
    """07: the step at transfer and its SEND difference in the growth model (random step per pupil)."""
    n = N_PANEL
    send = (rng.random(n) < 0.15).astype(int)
    u0 = 0.6 * rng.normal(size=n)
    u1 = 0.3 * rng.normal(size=n)
    wave = np.tile([1, 2, 3], n)
    pupil = np.repeat(np.arange(n), 3)
    moved = (wave > 1).astype(int)
    end = (wave == 3).astype(int)
    y = (
        3.6
        + u0[pupil]
        + (STEP + STEP_SEND * send[pupil] + u1[pupil]) * moved
        + RECOVER * end
        + 0.3 * rng.normal(size=3 * n)
    )
    keep = rng.random(3 * n) > 0.1  # waves missed at random
    frame = pd.DataFrame({"y": y, "moved": moved, "end": end, "send": send[pupil], "pupil": pupil.astype(str)})[keep]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BelongingWarning)
        fit = growth_model(frame, outcome="y", wave="moved", id="pupil", predictors=["send"], covariates=["end"])
    fx = fit.fixed
    inter = [t for t in fx.index if "send" in t and ":" in t][0]
    return {
        "step at transfer": _inside(
            fx.loc["moved", "ci_low"], fx.loc["moved", "ci_high"], STEP, fx.loc["moved", "estimate"]
        ),
        "step x SEND": _inside(fx.loc[inter, "ci_low"], fx.loc[inter, "ci_high"], STEP_SEND, fx.loc[inter, "estimate"]),
    }


# ---------------------------------------------------------------------------------------------- 09
EFFECT = 0.20  # effect size against the total SD of the outcome given the arm


def _trial(rng):
    """09: the effect size of a cluster-randomised trial (model-based interval of crt_effect)."""
    school, n_j = _school_design(rng, sizes=TRIAL_SIZE)
    n = len(school)
    block = np.repeat(np.arange(10), 4)
    treat_j = np.concatenate([rng.permutation([0, 0, 1, 1]) for _ in range(10)])
    pre = rng.normal(size=n)
    # total variance given the arm: 0.6^2 (pre-test) + 0.10 (school) + 0.54 (pupil) = 1
    y = (
        EFFECT * treat_j[school]
        + 0.6 * pre
        + np.sqrt(0.10) * rng.normal(size=N_SCHOOLS)[school]
        + np.sqrt(0.54) * rng.normal(size=n)
    )
    frame = pd.DataFrame(
        {"y": y, "pre": pre, "treat": treat_j[school], "block": block[school].astype(str), "school": school.astype(str)}
    )
    res = crt_effect(frame, "y ~ treat + pre", cluster="school", treatment="treat", block="block", progress=False)
    return {"effect size": _inside(res.ci_low, res.ci_high, EFFECT, res.estimate)}


STUDIES = [
    Study(
        "02.icc",
        "02, 08",
        "ICC(1), ICC(2)",
        "reliability.icc (profile likelihood, REML)",
        "40 schools of 40-118 pupils, true ICC(1) .10",
        _icc_intervals,
    ),
    Study(
        "05.fixed",
        "05",
        "fixed effects",
        "models.multilevel (Satterthwaite t)",
        "40 schools of 40-118 pupils, random intercept",
        _fixed_effects,
    ),
    Study(
        "06.corr",
        "06",
        "correlation",
        "pingouin.corr (Fisher z, pupils as independent)",
        "40 schools of 40-118 pupils, r = -.5 within and between, ICC .10",
        _correlation,
    ),
    Study(
        "06.share",
        "06",
        "share",
        "proportions.wilson_ci (pupils as independent)",
        "40 schools of 40-118 pupils, share .15, school SD .5 on the logit",
        _share,
    ),
    Study(
        "06.moderation",
        "06",
        "interaction, simple slope",
        "models.moderation (cluster-robust CR2)",
        "40 schools of 40-118 pupils, random intercept",
        _moderation,
    ),
    Study(
        "07.growth",
        "07",
        "step at transfer",
        "transitions.growth_model (random step per pupil)",
        "1,200 pupils, three waves, 10% of waves missed at random",
        _growth,
    ),
    Study(
        "09.trial",
        "09",
        "effect size",
        "trials.crt_effect (model-based)",
        "40 schools of 40-58 pupils in 10 blocks, 2 of 4 treated per block",
        _trial,
    ),
]


CHUNK = 20  # samples per task handed to a worker process


def _run_chunk(study_index: int, seed: int, first: int, last: int) -> tuple[int, dict[str, list], int]:
    """Samples ``first`` to ``last - 1`` of one study: {target: [(covered, error), ...]} and the failures."""
    study = STUDIES[study_index]
    streams = np.random.SeedSequence([seed, study_index]).spawn(last)[first:]
    hits: dict[str, list] = {}
    failed = 0
    for s in streams:
        try:
            out = study.run(np.random.default_rng(s))
        except Exception:  # a sample a model cannot be fitted to is counted, not hidden
            failed += 1
            continue
        for target, (covered, error) in out.items():
            hits.setdefault(target, []).append((bool(covered), float(error)))
    return study_index, hits, failed


def _rows(study: Study, hits: dict[str, list], failed: int, reps: int) -> list[dict]:
    rows = []
    se_nominal = np.sqrt(NOMINAL * (1 - NOMINAL) / reps)
    for target, draws in hits.items():
        covered = np.array([c for c, _ in draws])
        error = np.array([e for _, e in draws])
        r = len(covered)
        p = float(np.mean(covered))
        rows.append(
            {
                "key": f"{study.key}.{target}",
                "chapter": study.chapter,
                "interval": target,
                "function": study.function,
                "design": study.design,
                "replicates": r,
                "failed": failed,
                "coverage": p,
                "mc_se": float(np.sqrt(p * (1 - p) / r)),
                "verdict": _verdict(p, se_nominal),
                "bias": float(np.mean(error)),
                "bias_mc_se": float(np.std(error, ddof=1) / np.sqrt(r)),
            }
        )
    return rows


def _verdict(p: float, se_nominal: float) -> str:
    if p < NOMINAL - 2 * se_nominal:
        return "below"
    if p > NOMINAL + 2 * se_nominal:
        return "above"
    return "within"


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def calibrate(reps: int = REPS, seed: int = SEED, *, workers: int = 2, progress: bool = True, only=None) -> dict:
    """Run every study (or those whose key starts with one of ``only``); the table as a dict.

    Sample ``i`` of study ``k`` always comes from ``SeedSequence([seed, k]).spawn(reps)[i]``, so the
    table does not depend on ``workers`` or on the order in which the chunks finish.
    """
    chosen = [k for k, st in enumerate(STUDIES) if not only or any(st.key.startswith(o) for o in only)]
    tasks = [(k, seed, first, min(first + CHUNK, reps)) for k in chosen for first in range(0, reps, CHUNK)]
    hits: dict[int, dict[int, dict[str, list]]] = {k: {} for k in chosen}
    failed = dict.fromkeys(chosen, 0)
    bar = progress_bar(total=reps * len(chosen), desc="samples", enabled=progress, unit="sample")
    with bar:
        if workers > 1:
            with ProcessPoolExecutor(workers) as pool:
                futures = {pool.submit(_run_chunk, *t): t for t in tasks}
                for fut in as_completed(futures):
                    t = futures[fut]
                    k, h, f = fut.result()
                    hits[k][t[2]], failed[k] = h, failed[k] + f
                    bar.update(t[3] - t[2])
        else:
            for t in tasks:
                k, h, f = _run_chunk(*t)
                hits[k][t[2]], failed[k] = h, failed[k] + f
                bar.update(t[3] - t[2])
    rows = []
    for k in chosen:
        merged: dict[str, list] = {}
        for first in sorted(hits[k]):
            for target, covered in hits[k][first].items():
                merged.setdefault(target, []).extend(covered)
        rows.extend(_rows(STUDIES[k], merged, failed[k], reps))
    return {
        "format": FORMAT,
        "nominal": NOMINAL,
        "replicates": reps,
        "seed": seed,
        "commit": _commit(),
        "rule": "flagged where coverage is more than two Monte-Carlo SEs of the nominal level from 95%",
        "rows": rows,
    }


def to_markdown(table: dict) -> str:
    reps = table["replicates"]
    lines = [
        "# Coverage of the course's 95% intervals",
        "",
        f"Written by `make calibrate` (`calibration/calibrate.py`) at commit `{table['commit']}`, "
        f"{reps} simulated samples per interval, seed {table['seed']}. Coverage is the share of samples "
        "whose interval holds the truth; its Monte-Carlo SE is sqrt(p (1 - p) / R). An interval is "
        f"flagged (below / above) where its coverage is more than two Monte-Carlo SEs of the nominal "
        f"level (±{2 * np.sqrt(NOMINAL * (1 - NOMINAL) / reps):.3f}) away from 95%. The generating models "
        "are plain (normal school and pupil effects, no measurement error): the table checks the "
        "intervals, not the recovery of the sample data's truth. Bias is the mean of estimate minus truth "
        "over the samples, with its Monte-Carlo SE (the SD of the errors over sqrt(R)); for ICC(2) the "
        "truth uses each sample's mean school size.",
        "",
        "| chapter | interval | function | design | samples | coverage | MC SE | verdict | bias | bias MC SE |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table["rows"]:
        samples = f"{r['replicates']}" + (f" ({r['failed']} failed)" if r["failed"] else "")
        lines.append(
            f"| {r['chapter']} | {r['interval']} | {r['function']} | {r['design']} | {samples} | "
            f"{r['coverage']:.3f} | {r['mc_se']:.3f} | {r['verdict']} | {r['bias']:+.4f} | {r['bias_mc_se']:.4f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=REPS)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", default=None, help="comma-separated study keys, e.g. 02.icc,09")
    parser.add_argument(
        "--out", default=None, help="folder for calibration.json and calibration.md (default: docs/ and bench/results/)"
    )
    args = parser.parse_args(argv)
    start = time.perf_counter()
    table = calibrate(args.reps, args.seed, workers=args.workers, only=args.only.split(",") if args.only else None)
    table["seconds"] = round(time.perf_counter() - start, 1)
    json_path, md_path = (
        (Path(args.out) / "calibration.json", Path(args.out) / "calibration.md")
        if args.out
        else (JSON_PATH, TABLE_PATH)
    )
    json_path.parent.mkdir(parents=True, exist_ok=True)
    md_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
    md_path.write_text(to_markdown(table), encoding="utf-8")
    print(to_markdown(table))
    print(f"{table['seconds']} s; wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
