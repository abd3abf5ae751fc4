"""A short school report: one school's belonging against the rest of the sample.

:func:`school_report` writes an HTML page (no PDF: a PDF needs a browser or
LaTeX engine, so print the HTML page to PDF from a browser instead) with

1. belonging and its parts (teacher care, fairness, listening, peers,
   bullying, engagement, respect, voice): the school's mean and N beside the
   other schools' mean and N, and the difference;
2. the same scores by group of pupils (FSM, SEND, gender, ...) in the
   school and in the other schools.

Every cell describing fewer pupils than the disclosure threshold (10 by
default) is suppressed, with secondary suppression within each group
variable, so the school's total cannot reveal a small group.  Pupil
identifiers never appear.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ._errors import DataError
from ._validation import as_frame, require_columns
from .disclosure import DisclosurePolicy, get_default_policy, suppress
from .tables import apa_table

__all__ = ["school_report", "DEFAULT_SCORES", "report_tables"]

#: Score label -> instrument name (scored with :func:`belonging_lib.scoring.score`).
DEFAULT_SCORES = {
    "Belonging (PSSM)": "pssm",
    "Teacher care": "tr_care",
    "Teacher fairness": "tr_fair",
    "Teachers listen": "tr_listen",
    "Peer acceptance": "peer",
    "Bullying (higher = more)": "bully",
    "Engagement": "engage",
    "Respect and safety": "respect",
    "Pupil voice": "voice",
}

_GROUP_LABELS = {"fsm": {0: "Not FSM", 1: "FSM"}, "send": {0: "No SEND", 1: "SEND"},
                 "eal": {0: "Not EAL", 1: "EAL"}, "lgbt": {0: "Not LGBT+", 1: "LGBT+"}}


def _scores(data: pd.DataFrame, scores: Mapping[str, str]) -> pd.DataFrame:
    """Columns already in the data are used as they are; other names are instruments to score."""
    out = pd.DataFrame(index=data.index)
    to_score = {label: name for label, name in scores.items() if name not in data.columns}
    for label, name in scores.items():
        if name in data.columns:
            out[label] = pd.to_numeric(data[name], errors="coerce")
    if to_score:
        from .scoring import score

        scored = score(data, list(dict.fromkeys(to_score.values())))
        for label, name in to_score.items():
            out[label] = scored[name]
    return out


def report_tables(data: pd.DataFrame, *, school: str, school_col: str = "school_id",
                  scores: Mapping[str, str] | None = None, groups: Sequence[str] = ("fsm", "send", "gender"),
                  policy: DisclosurePolicy | None = None) -> dict:
    """The report's tables as :class:`~belonging_lib.disclosure.SuppressedTable` objects.

    Returns
    -------
    dict
        ``{"overall": SuppressedTable, "groups": {group: SuppressedTable},
        "n_school": int, "n_rest": int}``.  In the overall table the school's
        columns are suppressed if the school has fewer pupils than the threshold.
    """
    data = as_frame(data)
    require_columns(data, school_col, role="school column")
    groups = list(groups)
    require_columns(data, groups, role="group column")
    policy = policy or get_default_policy()
    in_school = data[school_col].astype(str) == str(school)
    if not in_school.any():
        known = sorted(data[school_col].astype(str).unique())[:10]
        raise DataError(f"School {school!r} is not in column {school_col!r} (schools include {known}).")
    if in_school.all():
        raise DataError("Every pupil is in this school: there is no rest of the sample to compare with.")
    sc = _scores(data, scores or DEFAULT_SCORES)
    rows = []
    for label in sc.columns:
        a, b = sc.loc[in_school, label], sc.loc[~in_school, label]
        rows.append({"score": label, "n_school": int(a.count()), "school_mean": a.mean(),
                     "n_rest": int(b.count()), "rest_mean": b.mean(), "difference": a.mean() - b.mean()})
    overall = pd.DataFrame(rows)
    # Each score row: the school's cells rest on n_school pupils.
    small = overall["n_school"] < policy.threshold
    counts = pd.DataFrame({c: overall["n_school"] if c in ("n_school", "school_mean", "difference")
                           else overall["n_rest"] for c in overall.columns if c != "score"})
    numeric = overall.drop(columns="score")
    sup = suppress(numeric, counts=counts.astype(float), policy=DisclosurePolicy(
        threshold=policy.threshold, symbol=policy.symbol, secondary=False, enabled=policy.enabled))
    sup_data = sup.data.copy()
    sup_data.insert(0, "score", overall["score"])
    mask = sup.mask.copy()
    mask.insert(0, "score", False)
    from .disclosure import SuppressedTable

    overall_t = SuppressedTable(sup_data, mask, policy, sup.n_primary, sup.n_secondary)
    _ = small
    group_tables = {}
    main = sc.columns[0]
    for g in groups:
        level = data[g].map(lambda v, g=g: _GROUP_LABELS.get(g, {}).get(v, v))
        frame = pd.DataFrame({"level": level, "school": in_school, "y": sc[main]})
        frame = frame[frame["level"].notna()]
        parts = []
        for where, sub in (("school", frame[frame["school"]]), ("rest", frame[~frame["school"]])):
            gsum = sub.groupby("level", sort=True)["y"].agg(["count", "mean", "std"]).reset_index()
            gsum.columns = ["level", "n", "mean", "sd"]
            gsum.insert(0, "where", where)
            parts.append(gsum)
        long = pd.concat(parts, ignore_index=True)
        st = suppress(long, count_col="n", within="where", policy=policy)
        wide = []
        for where in ("school", "rest"):
            d = st.data[st.data["where"] == where].set_index("level")[["n", "mean", "sd"]]
            m = st.mask[st.data["where"] == where].set_index(st.data.loc[st.data["where"] == where, "level"])[["n", "mean", "sd"]]
            wide.append((where, d, m))
        levels = sorted(set(long["level"]), key=str)
        table = pd.DataFrame({"group": levels})
        tmask = pd.DataFrame({"group": [False] * len(levels)})
        for where, d, m in wide:
            for c in ("n", "mean", "sd"):
                table[f"{c}_{where}"] = d[c].reindex(levels).to_numpy(dtype=float)
                tmask[f"{c}_{where}"] = m[c].reindex(levels).fillna(False).to_numpy(dtype=bool) | \
                    ~np.isin(levels, d.index)
        table.columns = ["group"] + [f"{c}_{w}" for w in ("school", "rest") for c in ("n", "mean", "sd")]
        tmask.columns = table.columns
        group_tables[g] = SuppressedTable(table, tmask, policy, st.n_primary, st.n_secondary)
    return {"overall": overall_t, "groups": group_tables, "n_school": int(in_school.sum()),
            "n_rest": int((~in_school).sum()), "main_score": main}


def school_report(data: pd.DataFrame, *, school: str, school_col: str = "school_id",
                  scores: Mapping[str, str] | None = None,
                  groups: Sequence[str] = ("fsm", "send", "gender"),
                  policy: DisclosurePolicy | None = None, title: str | None = None,
                  out: str | os.PathLike | None = None, synthetic: bool = False) -> str:
    """A one-page HTML report on one school's belonging, with disclosure control.

    Parameters
    ----------
    data : DataFrame
        Pupil-level survey in the standard schema (items or score columns).
    school : str
        The school's identifier (``"S01"``).
    school_col : str
        Column holding school identifiers.
    scores : mapping, optional
        ``{label: column or instrument}``; default :data:`DEFAULT_SCORES`
        (scored from the items with :func:`belonging_lib.scoring.score`).
        The first is the one broken down by group.
    groups : list of str
        Pupil characteristics to break the first score down by.
    policy : DisclosurePolicy, optional
        Default: the project's policy (threshold 10).
    title : str, optional
    out : path, optional
        Also write the page to this file.
    synthetic : bool
        Say on the page that the data are synthetic.

    Returns
    -------
    str
        The HTML page.

    Examples
    --------
    >>> import belonging_lib as bl
    >>> page = school_report(bl.load_sample("survey"), school="S01", synthetic=True)
    >>> "[c]" in page or "fewer than 10" in page
    True
    """
    import jinja2

    from . import __version__

    tables = report_tables(data, school=school, school_col=school_col, scores=scores, groups=groups,
                           policy=policy)
    policy = policy or get_default_policy()
    overall = apa_table(tables["overall"], title="Mean scores: this school and the other schools",
                        labels={"score": "Score", "n_school": "N (school)", "school_mean": "Mean (school)",
                                "n_rest": "N (others)", "rest_mean": "Mean (others)",
                                "difference": "Difference"},
                        note="Difference = school mean minus the other schools' mean, on the 1-5 scale.")
    blocks = []
    for g, t in tables["groups"].items():
        tab = apa_table(t, labels={"group": "Group", "n_school": "N (school)", "mean_school": "Mean (school)",
                                   "sd_school": "SD (school)", "n_rest": "N (others)",
                                   "mean_rest": "Mean (others)", "sd_rest": "SD (others)"},
                        title=f"{tables['main_score']} by {g}")
        blocks.append({"heading": f"By {g}", "html": tab.html})
    env = jinja2.Environment(loader=jinja2.PackageLoader("belonging_lib", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]))
    page = env.get_template("school_report.html.j2").render(
        title=title or f"Belonging in school {school}", school=school, n_school=tables["n_school"],
        n_rest=tables["n_rest"], synthetic=synthetic, threshold=policy.threshold, symbol=policy.symbol,
        secondary=policy.secondary, overall_html=overall.html, group_blocks=blocks,
        version=__version__, date=_dt.date.today().isoformat(),
        reversed_note="for bullying, higher means more bullying")
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(page, encoding="utf-8")
    return page
