"""The staff survey (``staff.csv``), generated first: its school means feed pupil belonging."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._common import _as_rng, _items
from .items import _AGREE_THRESH, _SWEMWBS_LOADINGS, _SWEMWBS_THRESH

__all__ = ["simulate_staff"]


def simulate_staff(schools: pd.DataFrame, rng) -> pd.DataFrame:
    """Staff survey: 20-35 staff per school; belonging driven by the school climate effect.

    Parameters
    ----------
    schools : DataFrame
        Columns ``school_id``, ``phase`` ("primary"/"secondary") and
        ``climate`` (the standard-normal school effect that is shared with
        pupil belonging in :func:`simulate_survey`).
    rng : numpy.random.Generator or int
        Random generator or seed.

    Returns
    -------
    DataFrame
        One row per staff respondent (columns as ``staff.csv``).

    Examples
    --------
    >>> schools = pd.DataFrame({"school_id": ["S01", "S02"], "phase": ["primary", "secondary"],
    ...                         "climate": [0.5, -0.5]})
    >>> staff = simulate_staff(schools, 1)
    >>> staff.groupby("school_id").size().between(20, 35).all()
    np.True_
    """
    rng = _as_rng(rng)
    rows = []
    counter = 0
    for _, sch in schools.iterrows():
        lo, hi = (20, 29) if sch["phase"] == "primary" else (25, 36)
        k = int(rng.integers(lo, hi))
        role = rng.choice(["teacher", "support", "leader"], size=k, p=[0.6, 0.3, 0.1])
        years = np.minimum(rng.gamma(1.6, 4.0, k).astype(int), 35)
        leader = (role == "leader").astype(float)
        belong = 0.50 * sch["climate"] + 0.20 * leader + np.sqrt(0.75) * rng.standard_normal(k)
        wellb = 0.50 * belong + 0.15 * sch["climate"] + 0.80 * rng.standard_normal(k)
        lsup = 0.45 * sch["climate"] + 0.35 * belong + 0.75 * rng.standard_normal(k)
        b = _items(rng, belong, [0.80, 0.76, 0.72, 0.70, 0.66], _AGREE_THRESH - 0.1)
        w = _items(rng, wellb / np.sqrt(0.25 + 0.0225 + 0.64 + 0.1), _SWEMWBS_LOADINGS,
                   _SWEMWBS_THRESH + 0.1)
        s = _items(rng, lsup, [0.78, 0.74, 0.70, 0.66], _AGREE_THRESH)
        for i in range(k):
            counter += 1
            row = {"staff_id": f"ST{counter:04d}", "school_id": sch["school_id"],
                   "role": role[i], "years_in_school": int(years[i])}
            row.update({f"staff_belong_{j+1}": int(b[i, j]) for j in range(5)})
            row.update({f"staff_wellbeing_{j+1}": int(w[i, j]) for j in range(7)})
            row.update({f"leader_support_{j+1}": int(s[i, j]) for j in range(4)})
            rows.append(row)
    staff = pd.DataFrame(rows)
    # Item non-response (about 1.5%, more for support staff).
    items = [c for c in staff.columns if c.startswith(("staff_", "leader_"))]
    items = [c for c in items if c != "staff_id"]
    p = np.where(staff["role"].to_numpy() == "support", 0.025, 0.010)
    miss = rng.random((len(staff), len(items))) < p[:, None]
    for j, c in enumerate(items):
        staff[c] = staff[c].astype("Int64").mask(miss[:, j])
    return staff


def _staff_school_means(staff: pd.DataFrame) -> pd.DataFrame:
    def scale(prefix):
        cols = [c for c in staff.columns if c.startswith(prefix)]
        return staff[cols].astype(float).mean(axis=1)

    tmp = pd.DataFrame({
        "school_id": staff["school_id"],
        "staff_belonging": scale("staff_belong_"),
        "staff_wellbeing": scale("staff_wellbeing_"),
        "leader_support": scale("leader_support_"),
    })
    agg = tmp.groupby("school_id", sort=True).agg(
        staff_belonging=("staff_belonging", "mean"),
        staff_wellbeing=("staff_wellbeing", "mean"),
        leader_support=("leader_support", "mean"),
        n_staff_responses=("staff_belonging", "size"),
    )
    return agg.reset_index()
