"""Same digits on every machine (issue 14): mixed-model results do not depend on the OpenBLAS kernel.

OpenBLAS picks its compute kernel by CPU; ``OPENBLAS_CORETYPE`` forces one.  Each kernel sums in its
own order, so anything computed through BLAS or LAPACK changes in the last bits, and an optimiser on a
flat criterion turns that into differences around 1e-6.  This test runs the same fits in
subprocesses under the default kernel and under several forced kernels, and requires fixed effects,
SEs, df, variance components, ICCs and log-likelihoods to agree to 1e-9 relative.

Run this file directly with ``--worker`` to print one process's results as JSON.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
KERNELS = ["Prescott", "Nehalem", "Haswell", "SkylakeX"]
RTOL = 1e-9


def _worker() -> dict:
    import warnings

    import pandas as pd
    import threadpoolctl

    import belonging_lib as bl
    from belonging_lib import trials
    from belonging_lib.models import fit_random_intercept_batch, multilevel, null_model
    from belonging_lib.reliability import icc
    from belonging_lib.scoring import score

    warnings.simplefilter("ignore")
    np.ones(4) @ np.ones(4)                       # load BLAS so that threadpoolctl sees it
    arch = sorted({str(i.get("architecture")) for i in threadpoolctl.threadpool_info()
                   if i.get("internal_api") == "openblas"})
    out: dict = {"_architecture": arch}

    def model(tag, m):
        out[tag] = {"estimate": m.fixed["estimate"].tolist(), "se": m.fixed["se"].tolist(),
                    "df": m.fixed["df"].tolist(), "variance": m.variance["variance"].tolist(),
                    "icc": m.icc, "loglik": m.loglik}

    survey = bl.load_sample("survey")
    # the three notebook key results of the issue
    model("05.icc_school", null_model(survey, outcome="attainment", cluster="school_id"))
    pupils = survey[["school_id", "class_id"]].join(score(survey, ["pssm"]))
    model("08.null_icc", multilevel(pupils, "pssm ~ 1", cluster="school_id"))
    trial = bl.load_sample("trial")
    res = trials.crt_effect(trial, "post_belonging ~ treat + pre_belonging + C(block)", cluster="school_id",
                            treatment="treat", block="block", progress=False)
    out["09.es_ci_low"] = {"estimate": res.estimate, "ci_low": res.ci_low, "ci_high": res.ci_high,
                           "effect": res.effect, "se": res.se, "df": res.df}
    # the resampling replicates, solved from cached cluster blocks
    res = trials.crt_effect(trial, "post_belonging ~ treat + pre_belonging", cluster="school_id",
                            treatment="treat", n_boot=200, n_perm=200, seed=5, progress=False)
    out["crt_resamples"] = {"boot": res.boot_estimates.tolist(), "perm": res.perm_estimates.tolist()}
    # a random slope (HSB, small slope variance), a three-level model, an ML fit
    ref = ROOT / "tests" / "reference" / "data"
    hsb = pd.read_csv(ref / "hsb.csv", dtype={"School": str})
    model("hsb_reml", multilevel(hsb, "MathAch ~ SES_gc * MEANSES + SES_gc * catholic", cluster="School",
                                 random="~SES_gc"))
    three = pd.read_csv(ref / "multilevel_three_level.csv")
    model("three_ml", multilevel(three, "y ~ ses", cluster=["school", "class"], reml=False))
    model("survey_three", multilevel(survey, "ks2_score ~ 1", cluster=["school_id", "class_id"]))
    # icc (reliability) and the batch path
    r = icc(survey, outcome="ks2_score", cluster="class_id")
    out["icc_class"] = {"icc1": r.icc1, "icc2": r.icc2, "tau00": r.tau00, "sigma2": r.sigma2,
                        "loglik": r.reml_loglik, "ci": [r.icc1_ci_low, r.icc1_ci_high, r.icc2_ci_low,
                                                        r.icc2_ci_high]}
    rng = np.random.default_rng(1)
    g = np.repeat(np.arange(40), 15)
    X = np.column_stack([np.ones(600), rng.normal(size=600)])
    Y = 100 + X[:, [1]] + rng.normal(0, 0.4, (40, 3))[g] + rng.normal(size=(600, 3))
    b = fit_random_intercept_batch(Y, X, cluster=g)
    out["batch"] = {k: np.asarray(getattr(b, k)).ravel().tolist()
                    for k in ("coefficients", "se", "tau00", "sigma2", "loglik", "theta")}
    return out


def _run(kernel: str | None) -> dict:
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)
    if kernel is not None:
        env["OPENBLAS_CORETYPE"] = kernel
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, __file__, "--worker"], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=600, check=False)
    if proc.returncode != 0:
        return {"_error": proc.stderr[-2000:], "_returncode": proc.returncode}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _flatten(d: dict, prefix: str = "") -> dict:
    flat = {}
    for k, v in d.items():
        if k.startswith("_"):
            continue
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            flat.update(_flatten(v, key + "."))
        elif isinstance(v, list):
            for i, x in enumerate(v):
                flat[f"{key}[{i}]"] = x
        else:
            flat[key] = v
    return flat


def max_relative_difference(a: dict, b: dict) -> tuple[float, str]:
    fa, fb = _flatten(a), _flatten(b)
    assert fa.keys() == fb.keys()
    worst, where = 0.0, ""
    for k in fa:
        x, y = float(fa[k]), float(fb[k])
        if np.isnan(x) and np.isnan(y):
            continue
        d = abs(x - y) / max(abs(x), abs(y), 1e-300) if x != y else 0.0
        if d > worst:
            worst, where = d, k
    return worst, where


@pytest.mark.slow
def test_same_digits_under_every_openblas_kernel():
    base = _run(None)
    assert "_error" not in base, base.get("_error")
    archs = {tuple(base["_architecture"])}
    compared = 0
    report = []
    for kernel in KERNELS:
        other = _run(kernel)
        if "_error" in other:
            if other["_returncode"] < 0:          # killed by a signal: an instruction this CPU lacks
                continue
            pytest.fail(f"worker under OPENBLAS_CORETYPE={kernel} failed:\n{other['_error']}")
        archs.add(tuple(other["_architecture"]))
        worst, where = max_relative_difference(base, other)
        report.append(f"{kernel}: {worst:.2e} ({where})")
        assert worst <= RTOL, f"OPENBLAS_CORETYPE={kernel}: {where} differs by {worst:.2e} relative"
        compared += 1
    if len(archs) < 2 or compared < 3:
        pytest.skip(f"only {len(archs)} OpenBLAS kernels could be exercised here ({sorted(archs)})")
    print("; ".join(report))


if __name__ == "__main__":
    if "--worker" in sys.argv:
        print(json.dumps(_worker()))
    else:
        base = _run(None)
        for k in KERNELS:
            print(k, max_relative_difference(base, _run(k)))
