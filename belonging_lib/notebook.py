"""Helpers used by the notebooks: figure style and checks of key results.

``record(key, value)`` is called in a hidden cell after each key result.  On
a normal run it does nothing visible.  When the environment variable
``BELONGING_EXPECTED`` names a folder (the test suite sets it to
``tests/notebook_expected``), the value is compared with the expected one in
``<folder>/<NN>.json`` (``NN`` = the part of the key before the dot) and a
mismatch raises, so a changed number in a key result fails the notebook tests,
not only a crash.  When ``BELONGING_RECORD_DIR`` names a folder, values are
written there instead (``make expected``).  Rerunning a notebook on your own
data never checks anything.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from ._errors import BelongingError

__all__ = ["record", "recorded", "ExpectationError", "setup"]

_RECORDED: dict[str, float] = {}


class ExpectationError(BelongingError, AssertionError):
    """A key notebook result differs from the committed expected value."""


def _expected_file(key: str) -> Path | None:
    folder = os.environ.get("BELONGING_EXPECTED")
    if not folder:
        return None
    return Path(folder) / f"{key.split('.')[0]}.json"


def _write_record(folder: str, key: str, value: float) -> None:
    path = Path(folder) / f"{key.split('.')[0]}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    data[key] = value
    path.write_text(json.dumps(dict(sorted(data.items())), indent=2) + "\n", encoding="utf-8")


def record(key: str, value: float, *, rtol: float = 1e-6, atol: float = 1e-9) -> float:
    """Record a key result; check it against the expected value under test.

    Parameters
    ----------
    key : str
        Unique name such as ``"05.icc_school"`` (notebook number, dot, name).
    value : float
        The number the notebook's text interprets.
    rtol, atol : float
        Tolerances for the comparison (keyword only).

    Returns
    -------
    float
        ``value``, unchanged.

    Raises
    ------
    ExpectationError
        Under test, when the value differs from the expected one or the key
        has no expected value.
    """
    value = float(value)
    if "." not in key:
        raise ExpectationError(f"Key {key!r} must look like 'NN.name' (notebook number, dot, name).")
    _RECORDED[key] = value
    record_dir = os.environ.get("BELONGING_RECORD_DIR")
    if record_dir:
        _write_record(record_dir, key, value)
        return value
    path = _expected_file(key)
    if path is None:
        return value
    expected = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    if key not in expected:
        raise ExpectationError(f"Key result {key!r} = {value!r} has no expected value in {path}.")
    want = float(expected[key])
    if not math.isclose(value, want, rel_tol=rtol, abs_tol=atol):
        raise ExpectationError(f"Key result {key!r} changed: got {value!r}, expected {want!r}.")
    return value


def recorded() -> dict[str, float]:
    """All key results recorded in this kernel so far."""
    return dict(_RECORDED)


def setup(*, dpi: int = 110, disclosure: bool = True) -> None:
    """Apply the collection's figure style and pandas display options.

    Call once at the top of a notebook.  It also opens the chapter's
    disclosure context (:func:`belonging_lib.disclosure.context`), so that
    every table of groups in the chapter is checked against the counts the
    chapter has already shown (``disclosure=False`` leaves the active context
    as it is).
    """
    import pandas as pd

    from .disclosure import DisclosureContext, set_context
    from .plots import use_style

    if disclosure:
        set_context(DisclosureContext(name="this chapter"))

    use_style(dpi=dpi)
    pd.set_option("display.precision", 3)
    pd.set_option("display.max_columns", 30)
    pd.set_option("display.width", 120)
