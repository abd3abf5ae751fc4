"""Fixtures shared by several test modules."""

import hashlib
import json
import os
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import settings

# In CI the property tests draw the same examples every run, so a red build always points at a
# reproducible case; locally they explore new examples each time (and keep failures in .hypothesis/).
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

REFERENCE = Path(__file__).parent / "reference"


@pytest.fixture(scope="session")
def claims_fixture() -> pd.DataFrame:
    """The seeded pupils-in-schools fixture of tests/reference/claims.R, checked against its recorded MD5."""
    ref = json.loads((REFERENCE / "claims.json").read_text())
    path = REFERENCE / "data" / "claims_fixture.csv"
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    assert md5 == ref["inputs"]["claims_fixture.csv"], "claims_fixture.csv changed: rerun claims.R"
    return pd.read_csv(path)


@pytest.fixture
def book_cache(tmp_path) -> Path:
    """A chapter cache for a test that executes sample chapters: a copy of what ``make notebooks`` keeps
    in build/.cache/chapters (``make test`` runs it first, with the same environment). A chapter whose
    key (source, parameters, library, data, environment) matches is taken from it, as the book does;
    any other is executed. The copy keeps the book's cache as it was."""
    import shutil

    cache = tmp_path / "book-cache"
    cache.mkdir()
    built = Path(__file__).resolve().parents[1] / "build" / ".cache" / "chapters"
    for entry in sorted(built.glob("[0-9][0-9]_*.ipynb")) if built.is_dir() else []:
        shutil.copy2(entry, cache / entry.name)
    return cache


@pytest.fixture(scope="module")
def client():
    """A Dask client on a local cluster of 2 workers, one thread each (the Dask tests' shared cluster)."""
    import warnings

    import distributed

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None, silence_logs=50
        )
        c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()
