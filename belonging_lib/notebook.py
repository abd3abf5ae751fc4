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
from typing import TYPE_CHECKING

from ._errors import BelongingError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "record",
    "recorded",
    "ExpectationError",
    "setup",
    "glue",
    "calibration_table",
    "calibration_rows",
    "calibration_note",
]

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


# MyST-NB reads a glued value from a display output whose metadata names it; a value glued without
# being shown has its MIME types prefixed with this string (MyST-NB's own convention).
_GLUE_HIDDEN_PREFIX = "application/papermill.record/"


def glue(name: str, value, display: bool = True) -> None:
    """Store ``value``'s displayed form under ``name`` for the chapter's ``{glue}`` roles.

    Writes the same output as ``myst_nb.glue`` (so MyST-NB pastes it in the book exactly as
    before), without importing MyST-NB's notebook machinery: that import loads ``nbformat`` and a
    JSON-schema validator that take seconds to load in every chapter's kernel.
    ``display=False`` stores the value without showing it in the notebook.

    Examples
    --------
    >>> glue("alpha", 0.91, display=False)   # outside a notebook kernel nothing is shown
    """
    from IPython.core.formatters import format_display_data
    from IPython.display import display as show

    bundle, metadata = format_display_data(value)
    prefix = "" if display else _GLUE_HIDDEN_PREFIX
    metadata["scrapbook"] = {"name": name, "mime_prefix": prefix}
    show({prefix + mime: data for mime, data in bundle.items()}, raw=True, metadata=metadata)


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


def calibration_table() -> pd.DataFrame:
    """The course's coverage table: one row per 95% interval the course prints.

    The table is ``docs/calibration.json``, written by ``make calibrate`` (``calibration/calibrate.py``
    in the repository). For each interval: the chapters that print it (``chapter``), the share of
    simulated samples whose interval held the truth (``coverage``), its Monte-Carlo standard error
    (``mc_se``), the number of samples (``replicates``), a ``verdict`` (``"within"`` two Monte-Carlo
    standard errors of 95%, ``"below"`` or ``"above"``), and the mean error of the estimate (``bias``,
    estimate minus truth) with its Monte-Carlo standard error (``bias_mc_se``).
    """
    import pandas as pd

    from ._resources import course_path

    path = course_path("docs") / "calibration.json"
    if not path.is_file():
        raise BelongingError(f"The coverage table {path} is missing; run `make calibrate` to write it.")
    table = json.loads(path.read_text(encoding="utf-8"))
    return pd.DataFrame(table["rows"], columns=list(table["rows"][0]) if table["rows"] else None)


def calibration_rows(chapter: str) -> pd.DataFrame:
    """The rows of the course's coverage table (:func:`calibration_table`) that concern ``chapter``.

    ``chapter`` is a chapter number such as ``"06"``; one row per interval, none when the table has no
    row for the chapter.
    """
    table = calibration_table()
    if table.empty:
        return table
    mine = table["chapter"].map(lambda c: chapter in [part.strip() for part in str(c).split(",")])
    return table[mine].reset_index(drop=True)


def calibration_note(chapter: str) -> str:
    """One sentence on how well the 95% intervals of ``chapter`` covered the truth in the coverage study.

    Names every interval whose coverage lies outside Monte-Carlo error of 95% (see
    :func:`calibration_rows`), with its coverage and standard error, and what that means for reading it;
    when there is none, says that the chapter's intervals covered the truth within Monte-Carlo error.
    Chapters glue it, so the sentence follows the table rather than being typed.

    Examples
    --------
    >>> calibration_note("09").startswith("In the course's coverage study")
    True
    """
    rows = calibration_rows(chapter).to_dict("records")
    if not rows:
        return ""
    reps = min(r["replicates"] for r in rows)  # samples fitted (failed fits are not counted)
    lead = (
        "In the course's coverage study (`make calibrate`, table in `bench/results/calibration.md`; "
        f"{reps} simulated samples per interval), "
    )
    off = [r for r in rows if r["verdict"] != "within"]
    if not off:
        names = ", ".join(r["interval"] for r in rows)
        return lead + f"the 95% intervals of this chapter ({names}) held the truth within Monte-Carlo error of 95%."
    parts = []
    for r in off:
        meaning = (
            "too narrow: read it as a lower bound on the uncertainty"
            if r["verdict"] == "below"
            else "wider than it needs to be"
        )
        name, _, how = r["function"].partition(" (")  # "models.x (method)" -> `models.x`, method
        parts.append(
            f"the {r['interval']} interval (`{name}`{', ' + how.rstrip(')') if how else ''}) held the truth in "
            f"{100 * r['coverage']:.1f}% of samples (Monte-Carlo SE {100 * r['mc_se']:.1f} points), "
            f"{meaning}"
        )
    return lead + "; ".join(parts) + "."
