"""PISA specifics: the OECD student file's names, its reader and its design.

:func:`~belonging_lib.survey.read_pisa` reads the OECD PISA student file (SPSS, SAS or CSV), only
the columns needed; :func:`~belonging_lib.survey.pisa_design` is a
:class:`~belonging_lib.survey.SurveyDesign` with PISA's names and conventions: final weight ``W_FSTUWT``, 80 Fay replicate weights ``W_FSTURWT1-80`` with
:math:`k = 0.5`, and plausible values ``PV<m><DOMAIN>``.  The general design class knows none of
these names.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pandas as pd

from .._errors import ColumnError, DataError
from .design import SurveyDesign

__all__ = ["read_pisa", "pisa_design", "PISA_ITEMS", "PISA_COLUMNS", "PISA_WEIGHT", "PISA_REPLICATES"]

#: PISA's final student weight.
PISA_WEIGHT = "W_FSTUWT"

#: The prefix of PISA's 80 replicate weights (``W_FSTURWT1`` ... ``W_FSTURWT80``, since 2015).
PISA_REPLICATES = "W_FSTURWT"

#: The six PISA sense-of-belonging items (1 = strongly agree ... 4 = strongly disagree).
PISA_ITEMS = [f"ST034Q0{i}TA" for i in range(1, 7)]

#: Columns :func:`~belonging_lib.survey.read_pisa` reads by default (PV names are expanded to PV1..PVM).
PISA_COLUMNS = (["CNT", "CNTSCHID", "CNTSTUID", "ST004D01T", "ESCS", "IMMIG", "BELONG"] + PISA_ITEMS
                + ["W_FSTUWT", "W_FSTURWT", "MATH", "READ"])


def pisa_design(data: pd.DataFrame, *, weight: str = PISA_WEIGHT, replicates: str | Sequence[str] = PISA_REPLICATES,
                pv: dict[str, Sequence[str]] | str | None = "auto", ci_level: float = 0.95) -> SurveyDesign:
    """A :class:`~belonging_lib.survey.SurveyDesign` for a PISA student file.

    PISA's conventions (OECD, *PISA Data Analysis Manual*): the final weight ``W_FSTUWT``, 80
    Fay's balanced repeated replication weights ``W_FSTURWT1-80`` with Fay's factor
    :math:`k = 0.5` (a variance scale of :math:`1/(80 \\cdot 0.5^2) = 0.05`), deviations from the
    full-sample estimate, and every group of plausible values ``PV<m><DOMAIN>`` found
    automatically.

    Parameters
    ----------
    data : pandas.DataFrame
        The student file, for example from :func:`read_pisa`.
    weight, replicates : str
        Override PISA's names (cycles before 2015 named the replicates ``W_FSTR1-80``).
    pv : dict, "auto" or None, default "auto"
        Plausible-value groups (see :class:`~belonging_lib.survey.SurveyDesign`).
    ci_level : float, default 0.95
        Default confidence level of the design's methods.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> d = pd.DataFrame({"W_FSTUWT": rng.uniform(1, 2, 50), "PV1MATH": rng.normal(500, 90, 50),
    ...                   "PV2MATH": rng.normal(500, 90, 50)})
    >>> for r in range(1, 81):
    ...     d[f"W_FSTURWT{r}"] = d["W_FSTUWT"] * rng.choice([0.5, 1.5], 50)
    >>> pisa_design(d)
    SurveyDesign(50 rows, weight 'W_FSTUWT', 80 replicates (fay, rho 0.5), plausible values: MATH (2))
    """
    return SurveyDesign(data, weight=weight, replicates=replicates, method="fay", rho=0.5, pv=pv, mse=True,
                        ci_level=ci_level)


def read_pisa(path, *, columns: Sequence[str] | None = None,
              countries: Sequence[str] | None = None) -> pd.DataFrame:
    """Read the OECD PISA student file, only the columns needed.

    Parameters
    ----------
    path : str or path
        The student questionnaire file as distributed by the OECD: SPSS
        (``.sav``/``.zsav``), SAS (``.sas7bdat``) or CSV (``.csv``, ``.csv.gz``).
    columns : list of str, optional
        Columns to read (default :data:`~belonging_lib.survey.pisa.PISA_COLUMNS`).  A plausible-value
        name (``"MATH"``) reads every ``PV<k>MATH``; ``"W_FSTURWT"`` reads all
        replicate weights.  ``CNT``, ``W_FSTUWT`` and the replicate weights are
        always read.
    countries : list of str, optional
        Keep only these three-letter country codes (``CNT``).

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    ColumnError
        Listing every requested column that is not in the file.

    Notes
    -----
    SPSS user-missing codes (PISA's 95-99 style codes) are read as missing
    values by ``pyreadstat``.  Large files are read in chunks so that only the
    chosen countries are kept in memory.
    """
    from pathlib import Path

    path = Path(path)
    if not path.exists():
        raise DataError(f"File {path} does not exist.")
    wanted = list(dict.fromkeys(["CNT", PISA_WEIGHT, PISA_REPLICATES] + list(columns or PISA_COLUMNS)))
    suffix = "".join(path.suffixes).lower()
    if suffix.endswith((".csv", ".csv.gz")):
        available = list(pd.read_csv(path, nrows=0).columns)
        kind = "csv"
    else:
        import pyreadstat

        if suffix.endswith((".sav", ".zsav")):
            reader = pyreadstat.read_sav
        elif suffix.endswith(".sas7bdat"):
            reader = pyreadstat.read_sas7bdat
        else:
            raise DataError(f"Cannot read {path.name}: use an SPSS (.sav), SAS (.sas7bdat) or CSV file.")
        _, meta = reader(str(path), metadataonly=True)
        available = list(meta.column_names)
        kind = "stat"
    lookup = {c.upper(): c for c in available}
    usecols, missing = [], []
    for c in wanted:
        if c.upper() in lookup:
            usecols.append(lookup[c.upper()])
            continue
        pat = re.compile(r"^(PV\d+" + re.escape(c.upper()) + r"|" + re.escape(c.upper()) + r"\d+)$")
        hits = [a for a in available if pat.match(a.upper())]
        if hits:
            usecols.extend(sorted(hits, key=lambda a: int(re.findall(r"\d+", a)[0]
                                                         if a.upper().startswith("PV")
                                                         else re.findall(r"\d+$", a)[0])))
        else:
            missing.append(c)
    if missing:
        raise ColumnError(f"{path.name} lacks the column{'s' if len(missing) > 1 else ''} "
                          f"{', '.join(missing)}. Check the PISA cycle's codebook for the names "
                          "(replicate weights were W_FSTR1-80 before 2015).")
    usecols = list(dict.fromkeys(usecols))
    cnt_col = lookup["CNT"]
    if kind == "csv":
        data = pd.read_csv(path, usecols=usecols)
        if countries is not None:
            data = data[data[cnt_col].isin(list(countries))]
    else:
        if countries is None:
            data, _ = reader(str(path), usecols=usecols)
        else:
            parts = [chunk[chunk[cnt_col].isin(list(countries))]
                     for chunk, _ in pyreadstat.read_file_in_chunks(reader, str(path), chunksize=100_000,
                                                                     usecols=usecols)]
            data = pd.concat(parts, ignore_index=True)
    if countries is not None:
        absent = sorted(set(countries) - set(data[cnt_col].unique()))
        if absent:
            raise DataError(f"Country code(s) {', '.join(absent)} are not in {path.name} (column CNT).")
    return data[usecols].reset_index(drop=True)
