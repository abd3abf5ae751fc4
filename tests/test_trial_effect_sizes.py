"""Hedges' (2007) cluster-trial effect sizes against eefAnalytics 1.1.2 (tests/reference/eef_crt.R).

Two checks per case: the exact effect sizes and standard errors, to 1e-6, against eefAnalytics'
own within- and total-variance functions given tightly converged lme4 REML fits; and crtFREQ's
printed effect sizes, which it rounds to 2 decimals, to within rounding.

The intervals differ by design, not by error: eefAnalytics multiplies the SE by 1.96, this library by
the exact normal quantile (1.959964 for 95%), so its bounds differ by 0.000036 SE. The test checks
the SE recovered from eefAnalytics' interval, (UB - LB) / (2 x 1.96), instead.
"""

import json
from pathlib import Path

import pandas as pd
import pytest

from belonging_lib.trials import crt_effect_sizes

ROOT = Path(__file__).resolve().parents[1]
REF = json.loads((ROOT / "tests/reference/eef_crt.json").read_text())
DATA = {
    "sample": pd.read_csv(ROOT / "data/sample/trial.csv"),
    "fixture": pd.read_csv(ROOT / "tests/reference/data/trials_crt.csv"),
}
CASES = {"sample_attain": "sample", "sample_belonging": "sample", "fixture": "fixture"}


@pytest.fixture(scope="module", params=list(CASES))
def case(request):
    name = request.param
    ref = REF["cases"][name]
    res = crt_effect_sizes(DATA[CASES[name]], ref["formula"], cluster="school_id", treatment="treat")
    return ref, res


def test_same_pupils_and_coefficient(case):
    ref, res = case
    assert res.n == ref["n"]
    assert res.effect == pytest.approx(ref["beta"], abs=1e-6)


@pytest.mark.parametrize("variance", ["conditional", "unconditional"])
@pytest.mark.parametrize("kind", ["within", "total"])
def test_effect_sizes_equal_eefanalytics(case, variance, kind):
    ref, res = case
    exact = ref["exact"][variance]
    row = res.row(f"{variance}, {kind}")
    assert row["var_cluster"] == pytest.approx(exact["var_cluster"], rel=1e-6)
    assert row["var_pupil"] == pytest.approx(exact["var_pupil"], rel=1e-6)
    assert row["estimate"] == pytest.approx(exact[kind]["g"], abs=1e-6)
    se_r = (exact[kind]["ub"] - exact[kind]["lb"]) / (2 * 1.96)
    assert row["se"] == pytest.approx(se_r, abs=1e-6)
    # crtFREQ's own printed numbers (rounded to 2 decimals): within rounding
    printed = ref["crtFREQ_rounded"][variance][kind]
    assert abs(row["estimate"] - printed[0]) <= 0.005 + 1e-9


def test_total_variance_correction_is_for_unequal_cluster_sizes():
    # with equal clusters Hedges' correction reduces to sqrt(1 - 2 (n - 1) rho / (N - 2))
    import numpy as np

    from belonging_lib.trials.hedges2007 import _total

    nt = np.full(5, 20.0)
    nc = np.full(5, 20.0)
    d, _ = _total(0.5, 1.0, 0.2, nt, nc)
    assert d == pytest.approx(0.5 * np.sqrt(1 - 2 * 19 * 0.2 / 198), abs=1e-12)
