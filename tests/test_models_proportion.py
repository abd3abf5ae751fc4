"""proportions.wilson_ci (the one Wilson interval, also behind proportion_ci) equals R's prop.test(correct = FALSE) (tests/reference/proportion_ci.R)."""

import json
from pathlib import Path

import numpy as np
import pytest

from belonging_lib import DataError
from belonging_lib.proportions import wilson_ci

REF = json.loads((Path(__file__).parent / "reference" / "proportion_ci.json").read_text())


@pytest.mark.parametrize("case", REF, ids=lambda c: f"{c['count']}/{c['n']}@{c.get('level', 0.95)}")
def test_wilson_matches_r(case):
    got = wilson_ci(case["count"], case["n"], ci_level=case.get("level", 0.95)).to_frame().iloc[0]
    assert np.isclose(got["estimate"], case["estimate"], atol=1e-12)
    assert np.isclose(got["ci_low"], case["ci_low"], atol=1e-10)
    assert np.isclose(got["ci_high"], case["ci_high"], atol=1e-10)


def test_vectorised_and_errors():
    t = wilson_ci([1, 2], [10, 20]).to_frame()
    assert len(t) == 2 and (t["ci_low"] < t["estimate"]).all()
    with pytest.raises(DataError, match="row 2 has count 30"):
        wilson_ci([1, 30], [10, 20])


def test_proportion_ci_uses_the_same_wilson_interval():
    """proportion_ci without a cluster gives wilson_ci's interval (one implementation)."""
    import pandas as pd
    from belonging_lib.proportions import proportion_ci

    d = pd.DataFrame({"y": [1] * 12 + [0] * 68})
    a = proportion_ci(d, outcome="y", ci_level=0.9).to_frame().iloc[0]
    b = wilson_ci(12, 80, ci_level=0.9).to_frame().iloc[0]
    assert (a["ci_low"], a["ci_high"]) == (b["ci_low"], b["ci_high"])
