"""Fixtures shared by several test modules."""

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

REFERENCE = Path(__file__).parent / "reference"


@pytest.fixture(scope="session")
def claims_fixture() -> pd.DataFrame:
    """The seeded pupils-in-schools fixture of tests/reference/claims.R, checked against its recorded MD5."""
    ref = json.loads((REFERENCE / "claims.json").read_text())
    path = REFERENCE / "data" / "claims_fixture.csv"
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    assert md5 == ref["inputs"]["claims_fixture.csv"], "claims_fixture.csv changed: rerun claims.R"
    return pd.read_csv(path)
