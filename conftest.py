"""Test-suite set-up shared by library tests, doctests and notebook tests.

Notebook kernels started by the tests inherit this process's environment, so the
variables set here reach them: ``BELONGING_EXPECTED`` makes every
``record(...)`` cell compare its key result with tests/notebook_expected/
(``make test`` sets it for ``make notebooks`` too).
"""

import os
import tempfile
from pathlib import Path

import matplotlib

ROOT = Path(__file__).resolve().parent

# Library tests draw off-screen; notebook kernels keep their own inline backend
# (MPLBACKEND is deliberately not exported to them).
matplotlib.use("Agg")
os.environ.setdefault("BELONGING_EXPECTED", str(ROOT / "tests" / "notebook_expected"))
os.environ.pop("BELONGING_RECORD_DIR", None)
os.environ.pop("BELONGING_SAMPLE_DIR", None)


def pytest_runtest_setup(item):
    """Each test (and doctest) starts as a new process would: no automatic disclosure context kept,
    and an empty folder of disclosure ledgers (commands run by the test, in this process or not, use it)."""
    from belonging_lib.disclosure import _forget_automatic

    _forget_automatic()
    _LEDGERS["n"] += 1  # made only when a command writes a ledger
    os.environ["BELONGING_LEDGER_DIR"] = str(_LEDGERS["base"] / f"test-{_LEDGERS['n']}")


_LEDGERS = {"base": Path(tempfile.mkdtemp(prefix="belonging-ledgers-")), "n": 0}
