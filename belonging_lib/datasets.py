"""Access to the synthetic sample data in ``data/sample/``.

All sample files are **synthetic**: they were simulated by
:mod:`belonging_lib.simulate` from a documented model (``TRUTH.json``) and
describe no real pupil.  ``load_sample("survey")`` works from any working
directory.  Set the environment variable ``BELONGING_SAMPLE_DIR`` (or pass
``data_dir=``) to read the same file names from another folder, which is how
the notebooks are rerun on a user's own data.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from ._errors import DataError
from ._resources import course_path

__all__ = ["SAMPLE_FILES", "sample_dir", "load_sample", "load_truth", "load_codebook", "sample_path"]

#: Sample data sets and their files (relative to the sample folder).
SAMPLE_FILES = {
    "survey": "survey.csv",
    "schools": "schools.csv",
    "staff": "staff.csv",
    "transition": "transition.csv",
    "trial": "trial.csv",
    "pisa": "pisa.csv.gz",
    "survey_raw": "survey_raw_export.csv",
    "survey_raw_sav": "survey_raw_export.sav",
    "codebook": "codebook.csv",
    "truth": "TRUTH.json",
}

#: The course's sample folder: shipped in the wheel, or ``data/sample`` of a source checkout.
_REPO_SAMPLE = course_path("sample")


def sample_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """Folder the sample files are read from.

    Order: ``data_dir`` if given, then ``$BELONGING_SAMPLE_DIR``, then the
    sample shipped with the package (``data/sample`` in a source checkout).
    """
    if data_dir is not None:
        return Path(data_dir)
    env = os.environ.get("BELONGING_SAMPLE_DIR")
    if env:
        return Path(env)
    return _REPO_SAMPLE


def sample_path(name: str, data_dir: str | os.PathLike | None = None) -> Path:
    """Path of one sample file by its short name (see :data:`SAMPLE_FILES`)."""
    if name not in SAMPLE_FILES:
        raise DataError(
            f"The value for `name` must be one of {list(SAMPLE_FILES)}, but {name!r} was passed."
        )
    folder = sample_dir(data_dir)
    path = folder / SAMPLE_FILES[name]
    if not path.exists():
        if folder.resolve() != _REPO_SAMPLE.resolve() and name == "truth":
            raise DataError(
                f"Your data folder {str(folder)!r} has no 'TRUTH.json': that file describes how the synthetic "
                "sample was made, and real data have none. Comparisons with it apply to the sample only."
            )
        if folder.resolve() != _REPO_SAMPLE.resolve():   # the user's own data: no advice to simulate
            raise DataError(
                f"Your data folder {str(folder)!r} has no {SAMPLE_FILES[name]!r}, which this analysis reads. "
                f"Your data do not provide it: add a {SAMPLE_FILES[name]!r} with the columns of the sample "
                "layout (listed in data/sample/codebook.csv), or leave out the analyses that need it "
                "(`belonging run --notebooks` with the others)."
            )
        raise DataError(
            f"Sample file {path} does not exist. Write the synthetic sample data again with "
            "`belonging simulate --out data/sample`."
        )
    return path


def load_sample(name: str, data_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """Load one synthetic sample data set as a DataFrame.

    Parameters
    ----------
    name : str
        One of ``"survey"``, ``"schools"``, ``"staff"``, ``"transition"``,
        ``"trial"``, ``"pisa"``, ``"survey_raw"``, ``"survey_raw_sav"``,
        ``"codebook"``.
    data_dir : path, optional
        Folder to read from instead of the bundled sample data.

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> survey = load_sample("survey")
    >>> survey.shape[0] > 2000
    True
    """
    if name == "truth":
        raise DataError("Use load_truth() for TRUTH.json.")
    path = sample_path(name, data_dir)
    if path.suffix == ".sav":
        import pyreadstat

        frame, _meta = pyreadstat.read_sav(str(path))
        return frame
    # Identifiers the folder's codebook declares (type "id") are read as text, so leading zeros
    # survive (a school "0031" stays "0031").  .copy() consolidates pandas' column blocks, so adding
    # columns later warns of nothing.
    ids = _id_columns(path)
    if data_dir is not None:
        # Your own data: only a blank cell is missing, so an answer such as SEN "None" or a code "NA"
        # stays an answer (pandas' default list would blank them silently).
        return pd.read_csv(path, keep_default_na=False, na_values=[""],
                           dtype={c: str for c in ids} or None).copy()
    return pd.read_csv(path, keep_default_na=True, dtype={c: str for c in ids} or None).copy()


def _id_columns(path: Path) -> list[str]:
    """Identifier columns of ``path`` according to the codebook in the same folder (if any)."""
    cb_path = path.parent / SAMPLE_FILES["codebook"]
    if path.name == cb_path.name or not cb_path.exists():
        return []
    try:
        cb = pd.read_csv(cb_path, dtype=str, keep_default_na=False)
    except (ValueError, OSError, UnicodeError):
        return []
    if not {"variable", "type"} <= set(cb.columns):
        return []
    rows = cb[cb["type"].str.strip().str.lower() == "id"]
    if "file" in cb.columns:
        rows = rows[rows["file"].str.strip().isin([path.name, ""])]
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        header = [h.strip() for h in fh.readline().rstrip("\r\n").split(",")] if path.suffix != ".gz" else []
    if path.suffix == ".gz":
        import gzip

        with gzip.open(path, "rt", encoding="utf-8-sig", errors="replace") as fh:
            header = [h.strip() for h in fh.readline().rstrip("\r\n").split(",")]
    return [v for v in rows["variable"].str.strip() if v in header]


def load_truth(data_dir: str | os.PathLike | None = None) -> dict:
    """The parameters the sample data were simulated with (``TRUTH.json``)."""
    with open(sample_path("truth", data_dir), encoding="utf-8") as fh:
        return json.load(fh)


def load_codebook(data_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """The codebook of the sample data: one row per variable of every file."""
    return load_sample("codebook", data_dir)
