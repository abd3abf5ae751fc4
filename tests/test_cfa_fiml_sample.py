"""Chapter 03's five-part CFA by full-information ML on the sample data, against lavaan.

Reference: tests/reference/cfa_fiml_sample.R -> cfa_fiml_sample.json (lavaan::cfa with
missing = "ml", and the listwise fit), on data/sample/survey.csv.
"""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

import belonging_lib as bl
from belonging_lib.structure import cfa

REF = json.loads((Path(__file__).parent / "reference" / "cfa_fiml_sample.json").read_text())
DATA = Path(__file__).parents[1] / "data" / "sample" / "survey.csv"
FIT = {
    "chisq": "chisq",
    "df": "df",
    "cfi": "cfi",
    "tli": "tli",
    "rmsea": "rmsea",
    "rmsea.ci.lower": "rmsea_ci_low",
    "rmsea.ci.upper": "rmsea_ci_high",
    "srmr": "srmr",
}


def test_sample_is_the_one_r_read():
    assert hashlib.md5(DATA.read_bytes()).hexdigest() == REF["md5"]


@pytest.mark.parametrize("missing,key", [("ml", "fiml"), ("listwise", "listwise")])
def test_five_part_cfa_matches_lavaan(missing, key):
    ref = REF[key]
    res = cfa(bl.load_sample("survey"), REF["model"], missing=missing)
    assert res.n == ref["n"] and res.n_rows == REF["n_rows"]
    for r_name, name in FIT.items():
        np.testing.assert_allclose(float(res.fit[name]), ref["fit"][r_name], rtol=2e-4, atol=1e-6, err_msg=name)
    lo = res.loadings
    assert lo["item"].tolist() == ref["loadings"]["rhs"]
    np.testing.assert_allclose(lo["estimate"], ref["loadings"]["est"], rtol=1e-4)
    np.testing.assert_allclose(lo["std_estimate"], ref["loadings"]["std"], rtol=1e-4)
    np.testing.assert_allclose(lo["se"].iloc[1:4], np.asarray(ref["loadings"]["se"])[1:4], rtol=1e-3)
