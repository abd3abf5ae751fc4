"""School culture audit: a staff self-review of ten areas of belonging, with rater agreement.

The framework (:func:`framework`) has ten areas taken from the guidance the collection is built on,
three indicators each, rated on four levels (1 = not yet, 2 = emerging, 3 = established,
4 = embedded) with a free-text evidence note.  Several staff rate independently; the filled forms
are stacked into one file (one row per rater and indicator).  :func:`analyse_audit` gives

* the profile of the areas (mean rating, the range of raters' area means);
* agreement between raters: the six intraclass correlations of Shrout & Fleiss from
  ``pingouin.intraclass_corr`` (indicators as targets), checked against R's ``psych::ICC``
  (``tests/reference/audit_icc.R``), with a caveat when raters are few;
* priorities: areas rated low, and indicators on which raters differ by two levels or more;
* with a pupil survey (the Our Class Belonging questionnaire), the matching pupil part beside each
  area, both as percent of their scale's range;
* an action-plan table to fill in (Excel and Word).
"""

from __future__ import annotations

import dataclasses
import html as _html
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .._errors import ColumnError, DataError
from .._results import Result
from .._safe_write import write_csv, write_excel
from .._validation import describe_rows
from ..disclosure import DisclosurePolicy, get_default_policy
from ._common import SHEET_ROWS
from ._framework import LEVELS, MIN_RATERS_FOR_RANGE, load_framework

__all__ = ["LEVELS", "framework", "audit_form", "write_audit_template", "read_audit", "RaterAgreement",
           "rater_icc", "AuditResult", "analyse_audit", "write_audit_report", "simulate_audit", "ACTION_PLAN_COLUMNS"]

_load = load_framework

ACTION_PLAN_COLUMNS = ["area", "why a priority", "what we will do", "lead", "who else", "start",
                       "review date", "how we will know it worked", "resources"]

#: Fewer raters than this: the agreement section carries a caveat.
FEW_RATERS = 5


def suggested_actions() -> dict[str, list[str]]:
    """Area id -> two or three suggested actions (the project's own words, from the guidance's themes)."""
    return {a["id"]: list(a.get("actions", [])) for a in _load()["areas"]}


#: At most this many priorities are listed (the guidance: agree one to three).
N_PRIORITIES = 3

def framework() -> pd.DataFrame:
    """The indicators: ``area, area_label, pupil_part, indicator`` (e.g. ``relationships_1``), ``statement``."""
    rows = []
    for a in _load()["areas"]:
        for i, text in enumerate(a["indicators"], start=1):
            rows.append({"area": a["id"], "area_label": a["label"], "pupil_part": a["pupil_part"],
                         "indicator": f"{a['id']}_{i}", "statement": text})
    return pd.DataFrame(rows)


def audit_form() -> pd.DataFrame:
    """A blank rating form: ``rater, area, indicator, statement, rating, evidence``."""
    f = framework()
    return pd.DataFrame({"rater": "", "area": f["area_label"], "indicator": f["indicator"],
                         "statement": f["statement"], "rating": "", "evidence": ""})


def _action_plan_docx(path: Path, plan: pd.DataFrame, *, title: str) -> None:
    import docx

    from ._docx import add_table, set_a4

    doc = docx.Document()
    doc.add_heading(title, level=1)
    doc.add_paragraph("School culture audit: action plan. Agree one to three priorities; for each, say what "
                      "will be done, who leads, when it starts, when it is reviewed and what evidence will show "
                      "that it worked. Review the plan with the pupil survey next term.")
    section = doc.sections[0]
    from docx.enum.section import WD_ORIENT

    section.orientation = WD_ORIENT.LANDSCAPE
    section.page_width, section.page_height = section.page_height, section.page_width
    set_a4(doc)
    add_table(doc, plan[ACTION_PLAN_COLUMNS], blank_rows=max(0, 3 - len(plan)))
    doc.save(str(path))


def write_audit_template(out: str | os.PathLike) -> list[Path]:
    """Write the blank audit: ``audit_form.csv``/``.xlsx``, ``audit_guidance.html`` and blank action plans."""
    from ._common import out_dir, render

    folder = out_dir(out, personal=False)
    form = audit_form()
    paths = [folder / "audit_form.csv", folder / "audit_form.xlsx", folder / "audit_guidance.html",
             folder / "action_plan.xlsx", folder / "action_plan.docx"]
    write_csv(form, paths[0], index=False)
    levels = pd.DataFrame([{"rating": k, "level": v["label"], "meaning": v["meaning"]}
                           for k, v in _load()["levels"].items()])
    write_excel({"form": form, "levels": levels}, paths[1])
    f = framework()
    body = ["<h1>School culture audit: guidance for staff</h1>",
            "<p>Each member of staff fills in a copy of <code>audit_form.csv</code> (or the Excel form) on "
            "their own, <b>without discussing it first</b>: the analysis asks how far independent views agree. "
            "Write your staff code (not your name) in <code>rater</code> on every row, a rating 1-4 (or the level's "
            "words) in <code>rating</code>, and in <code>evidence</code> what you have seen that supports it. Leave "
            "a rating empty if you cannot judge. Then stack the forms into one file (one header) and run "
            "<code>belonging audit --data FILE --out DIR</code>.</p>",
            levels.to_html(index=False, border=0), "<h2>Areas and indicators</h2>"]
    for area, block in f.groupby("area_label", sort=False):    # disclosure: the framework, no pupils
        body.append(f"<h3>{_html.escape(area)}</h3><ul>" + "".join(
            f"<li><code>{r.indicator}</code> {_html.escape(r.statement)}</li>" for r in block.itertuples()) + "</ul>")
    paths[2].write_text(render("schools_base.html.j2", title="School culture audit: guidance").replace(
        "<body>\n", "<body>\n" + "\n".join(body), 1), encoding="utf-8")
    blank = pd.DataFrame(columns=ACTION_PLAN_COLUMNS)
    write_excel(blank, paths[3], sheet_name="action plan")
    _action_plan_docx(paths[4], blank, title="Action plan")
    return paths


def read_audit(data: pd.DataFrame) -> pd.DataFrame:
    """Check stacked audit forms; return ``rater, area, indicator, rating (1-4 or NaN), evidence``.

    Ratings may be codes 1-4 or the level words (any case).  Errors name the column, the rows (as
    the spreadsheet numbers them, when read by :func:`~belonging_lib.schools._common.read_table`) and
    the value: unknown indicator, rating out of range, a rater who rated an indicator twice, no rater.
    """
    if not isinstance(data, pd.DataFrame) or data.shape[0] == 0:
        raise DataError("The audit file has no rows: stack the staff's filled forms into one file.")
    for col in ("rater", "indicator", "rating"):
        if col not in data.columns:
            raise ColumnError(f"The audit file has no column {col!r} (it needs rater, indicator, rating and "
                              f"optionally evidence; columns found: {', '.join(map(str, data.columns[:12]))}).")
    f = framework().set_index("indicator")
    d = data.copy()
    d["rater"] = d["rater"].astype("string").str.strip()
    d["indicator"] = d["indicator"].astype("string").str.strip()
    no_rater = d["rater"].isna() | (d["rater"] == "")
    if no_rater.any():
        raise DataError(f"Column 'rater' is empty in {describe_rows(d.index[no_rater])} ({SHEET_ROWS}): "
                        "every row needs the rater's staff code.")
    unknown = ~d["indicator"].isin(f.index)
    if unknown.any():
        raise DataError(f"Column 'indicator' holds the unknown indicator {d.loc[unknown, 'indicator'].iloc[0]!r} "
                        f"in {describe_rows(d.index[unknown])} ({SHEET_ROWS}). Indicators "
                        "are named like relationships_1 ... staff_3, as on the blank form.")
    words = {lab: code for code, lab in LEVELS}
    raw = d["rating"].astype("string").str.strip().str.lower()
    blank = raw.isna() | (raw == "")
    num = pd.to_numeric(raw.where(~blank), errors="coerce")
    from_word = raw.map(words)
    rating = num.where(num.notna(), from_word).astype(float)
    bad = ~blank & (rating.isna() | ~rating.isin([1.0, 2.0, 3.0, 4.0]))
    if bad.any():
        raise DataError(f"Column 'rating' must hold 1-4 or not yet / emerging / established / embedded, but "
                        f"{describe_rows(d.index[bad])} ({SHEET_ROWS}) hold "
                        f"{str(d.loc[bad, 'rating'].iloc[0])!r}.")
    dup = d.duplicated(["rater", "indicator"], keep=False)
    if dup.any():
        raise DataError(f"A rater rated the same indicator twice: {describe_rows(d.index[dup])} ({SHEET_ROWS}), "
                        f"e.g. rater {d.loc[dup, 'rater'].iloc[0]!r}, indicator "
                        f"{d.loc[dup, 'indicator'].iloc[0]!r}.")
    if blank.all():
        raise DataError(f"The audit file has {len(d)} rows but no rating at all (column 'rating' is empty "
                        "everywhere): enter each rater's ratings (1-4), then run the report.")
    evidence = d["evidence"].astype("string").fillna("") if "evidence" in d.columns else ""
    return pd.DataFrame({"rater": d["rater"].astype(str), "area": d["indicator"].map(f["area"]),
                         "indicator": d["indicator"].astype(str), "rating": rating, "evidence": evidence},
                        index=d.index)


#: The six ICCs in Shrout & Fleiss's notation: ICC(form, raters), form 1 = one-way random, 2 = two-way
#: random (absolute agreement), 3 = two-way mixed (consistency); raters 1 = one rater, k = the mean of k.
#: The second index keeps them apart from Bliese's ICC(1) and ICC(2) of :mod:`belonging_lib.reliability`.
ICC_TYPES = ("ICC(1,1)", "ICC(2,1)", "ICC(3,1)", "ICC(1,k)", "ICC(2,k)", "ICC(3,k)")
# pingouin >= 0.7 names the types ICC(1,1), ICC(A,1), ICC(C,1), ...; older pingouin and psych ICC1 ... ICC3k
_ICC_NAMES = {"ICC(1,1)": "ICC(1,1)", "ICC(A,1)": "ICC(2,1)", "ICC(C,1)": "ICC(3,1)", "ICC(1,k)": "ICC(1,k)",
              "ICC(A,k)": "ICC(2,k)", "ICC(C,k)": "ICC(3,k)", "ICC1": "ICC(1,1)", "ICC2": "ICC(2,1)",
              "ICC3": "ICC(3,1)", "ICC1k": "ICC(1,k)", "ICC2k": "ICC(2,k)", "ICC3k": "ICC(3,k)"}
#: psych's names of the six ICCs (the names this module used before 0.3), read for one release
_OLD_NAMES = {"ICC1": "ICC(1,1)", "ICC2": "ICC(2,1)", "ICC3": "ICC(3,1)", "ICC1k": "ICC(1,k)",
              "ICC2k": "ICC(2,k)", "ICC3k": "ICC(3,k)"}
_ICC_DESCRIPTION = {"ICC(1,1)": "Single rater, one-way random", "ICC(2,1)": "Single rater, absolute agreement",
                    "ICC(3,1)": "Single rater, consistency", "ICC(1,k)": "Mean of k raters, one-way random",
                    "ICC(2,k)": "Mean of k raters, absolute agreement",
                    "ICC(3,k)": "Mean of k raters, consistency"}


def _icc_type(kind: str) -> str:
    if kind in _OLD_NAMES:
        warnings.warn(f"The ICC type {kind!r} is now named {_OLD_NAMES[kind]!r} (Shrout & Fleiss's notation); "
                      "the old name will stop working in the next release.", DeprecationWarning, stacklevel=3)
        return _OLD_NAMES[kind]
    if kind not in ICC_TYPES:
        raise DataError(f"The ICC type must be one of {list(ICC_TYPES)}, but {kind!r} was passed.")
    return kind


@dataclasses.dataclass(frozen=True, eq=False)
class RaterAgreement(Result):
    """Agreement between the raters of an audit: the six Shrout-Fleiss ICCs (:func:`rater_icc`).

    Attributes
    ----------
    table : DataFrame
        One row per ICC: ``term`` (``ICC(1,1)`` ... ``ICC(3,k)``), ``estimate, ci_low, ci_high``
        (95% interval), ``statistic`` (the F test of ICC = 0), ``p``, ``df1, df2`` (the F test's
        degrees of freedom) and ``description``.
    n_raters : int
        Raters.
    n_indicators : int
        Indicators rated by every rater (the targets).
    n_indicators_left_out : int
        Indicators left out because at least one rater did not rate them.
    """

    table: pd.DataFrame
    n_raters: int
    n_indicators: int
    n_indicators_left_out: int

    title = "Agreement between raters (intraclass correlations)"

    def to_frame(self) -> pd.DataFrame:
        """The ICC table (a copy)."""
        return self.table.copy()

    def icc(self, kind: str = "ICC(2,k)") -> float:
        """One ICC, by its Shrout-Fleiss name (``"ICC(2,1)"``: one rater's absolute agreement)."""
        return float(self.table.set_index("term").loc[_icc_type(kind), "estimate"])

    def notes(self) -> list[str]:
        return [f"{self.n_raters} raters, {self.n_indicators} indicators rated by all "
                f"({self.n_indicators_left_out} left out)."]


def rater_icc(ratings: pd.DataFrame) -> RaterAgreement:
    """The six Shrout-Fleiss ICCs with indicators as targets, from ``pingouin.intraclass_corr``.

    Parameters
    ----------
    ratings : DataFrame
        :func:`read_audit` output (long: rater, indicator, rating).

    Returns
    -------
    RaterAgreement
        Its ``table`` has one row per ICC, named in Shrout & Fleiss's notation (``ICC(1,1)``,
        ``ICC(2,1)``, ``ICC(3,1)``, ``ICC(1,k)``, ``ICC(2,k)``, ``ICC(3,k)``), with ``estimate,
        ci_low, ci_high, statistic, p, df1, df2, description``; ``n_indicators_left_out`` counts the
        indicators left out because at least one rater did not rate them (the ICC needs every
        rater on every indicator).

    Notes
    -----
    ICC(2,1) (two-way random effects, absolute agreement, one rater) says how far one member of
    staff's rating can stand for another's; ICC(2,k) is the reliability of the mean of all raters,
    the number the area profile rests on.  psych names the same six ``ICC1`` ... ``ICC3k``.
    Checked against ``psych::ICC(x, lmer = FALSE)`` in ``tests/reference/audit_icc.R``.
    """
    import pingouin as pg

    wide = ratings.pivot(index="indicator", columns="rater", values="rating")
    if wide.shape[1] < 2:
        raise DataError(f"Rater agreement needs at least 2 raters, but the file has {wide.shape[1]}.")
    complete = wide.dropna()
    n_left_out = int(len(wide) - len(complete))
    if len(complete) < 5:
        raise DataError(f"Rater agreement needs at least 5 indicators rated by every rater, but only "
                        f"{len(complete)} are ({n_left_out} have a missing rating).")
    if complete.to_numpy().std() == 0:
        raise DataError("Every rater gave every indicator the same rating: agreement cannot be estimated.")
    long = complete.reset_index().melt(id_vars="indicator", var_name="rater", value_name="rating")
    raw = pg.intraclass_corr(data=long, targets="indicator", raters="rater", ratings="rating")
    ci = np.vstack(raw["CI95"].to_numpy()) if "CI95" in raw else np.vstack(raw["CI95%"].to_numpy())
    term = raw["Type"].map(lambda t: _ICC_NAMES.get(str(t), str(t)))
    table = pd.DataFrame({"term": term.to_numpy(), "estimate": raw["ICC"].to_numpy(float),
                          "ci_low": ci[:, 0].astype(float), "ci_high": ci[:, 1].astype(float),
                          "statistic": raw["F"].to_numpy(float), "p": raw["pval"].to_numpy(float),
                          "df1": raw["df1"].to_numpy(float), "df2": raw["df2"].to_numpy(float),
                          "description": term.map(_ICC_DESCRIPTION).to_numpy()})
    return RaterAgreement(table=table, n_raters=int(wide.shape[1]), n_indicators=int(len(complete)),
                          n_indicators_left_out=n_left_out)


@dataclasses.dataclass(frozen=True)
class AuditResult:
    """What :func:`analyse_audit` found.

    Attributes
    ----------
    ratings : DataFrame
        Checked long ratings.
    areas : DataFrame
        Per area: ``area, area_label, pupil_part, n_raters, mean_rating, rater_min, rater_max,
        max_indicator_spread, low, disagreement`` (+ ``pupil_n, pupil_mean, pupil_percent,
        staff_percent`` with a survey).
    indicators : DataFrame
        Per indicator: mean, min, max, spread (max - min) of the ratings.
    icc : RaterAgreement or None
        :func:`rater_icc`'s result (None when fewer than 2 raters or 5 complete indicators).
    n_raters, n_indicators_left_out : int
    priorities : list of str
    caveat : str
    action_plan : DataFrame
    """

    ratings: pd.DataFrame
    areas: pd.DataFrame
    indicators: pd.DataFrame
    icc: RaterAgreement | None
    n_raters: int
    n_indicators_left_out: int
    priorities: list
    caveat: str
    action_plan: pd.DataFrame
    icc_note: str = ""

    def to_frame(self) -> pd.DataFrame:
        """The areas as a tidy table, one row per area of the audit.

        ``area, area_label``, then ``estimate`` (the mean rating of the area over its indicators and
        raters, ``mean_rating`` in :attr:`areas`) and ``n`` (the raters, ``n_raters``), then the other
        columns of :attr:`areas` in their order (``rater_min, rater_max, max_indicator_spread, low,
        disagreement`` and, with a survey, the pupils' and staff's columns).
        """
        frame = self.areas.rename(columns={"mean_rating": "estimate", "n_raters": "n"})
        first = [c for c in ("area", "area_label", "estimate", "n") if c in frame.columns]
        return frame[first + [c for c in frame.columns if c not in first]].reset_index(drop=True)

    def icc_value(self, kind: str = "ICC(2,k)") -> float:
        """One of the six ICCs, by its Shrout-Fleiss name (``ICC(1,1)`` ... ``ICC(3,k)``)."""
        if self.icc is None:
            return float("nan")
        return self.icc.icc(kind)


def analyse_audit(data: pd.DataFrame, *, survey: pd.DataFrame | None = None, low: float = 2.5,
                  spread: float = 1.5, policy: DisclosurePolicy | None = None) -> AuditResult:
    """Profile, rater agreement, priorities and (with a pupil survey) the pupils' view of each area.

    Parameters
    ----------
    data : DataFrame
        Stacked filled forms (see :func:`read_audit`).
    survey : DataFrame, optional
        Filled Our Class Belonging sheet (either version), for the pupils' view.
    low : float
        An area whose mean rating is below ``low`` is a priority (default 2.5, between emerging and
        established).
    spread : float
        An area whose raters' area means span ``spread`` levels or more (default 1.5) is a
        disagreement to discuss.
    policy : DisclosurePolicy, optional
        The pupils' view is shown only for a survey of at least the threshold's number of pupils.
    """
    policy = policy or get_default_policy()
    r = read_audit(data)
    f = framework()
    ind = r.groupby("indicator")["rating"].agg(["mean", "min", "max", "count"])  # disclosure: staff ratings
    ind["spread"] = ind["max"] - ind["min"]
    ind = f.set_index("indicator").join(ind).reset_index()
    rater_area = r.groupby(["area", "rater"])["rating"].mean().unstack()   # disclosure: staff ratings
    n_raters = int(r["rater"].nunique())
    rows = []
    for a in f.drop_duplicates("area").itertuples():
        ra = r[r["area"] == a.area]
        means = rater_area.loc[a.area].dropna() if a.area in rater_area.index else pd.Series(dtype=float)
        sp = ind.loc[ind["area"] == a.area, "spread"]
        mean = float(ra["rating"].mean()) if ra["rating"].notna().any() else np.nan
        rows.append({"area": a.area, "area_label": a.area_label, "pupil_part": a.pupil_part,
                     "n_raters": int(means.size), "mean_rating": mean,
                     "rater_min": float(means.min()) if means.size else np.nan,
                     "rater_max": float(means.max()) if means.size else np.nan,
                     "max_indicator_spread": float(sp.max()) if sp.notna().any() else np.nan,
                     "low": bool(mean < low) if not np.isnan(mean) else False,
                     "disagreement": bool(means.max() - means.min() >= spread) if means.size > 1 else False})
    areas = pd.DataFrame(rows)
    areas["staff_percent"] = (areas["mean_rating"] - 1) / 3 * 100
    if survey is not None:
        from .questionnaire import check_responses, instrument_for, score_responses

        version = check_responses(survey, what="survey")
        scores = score_responses(survey, version=version, what="survey")
        inst = instrument_for(version)
        lo, hi = inst.response_range
        n_pupils = {p: int(scores[p].notna().sum()) for p in scores.columns}
        means = {p: float(scores[p].mean()) for p in scores.columns}
        areas["pupil_n"] = areas["pupil_part"].map(lambda p: n_pupils.get(p, np.nan) if p else np.nan)
        ok = areas["pupil_n"] >= policy.threshold
        areas["pupil_mean"] = areas["pupil_part"].map(lambda p: means.get(p, np.nan) if p else np.nan).where(ok)
        areas["pupil_percent"] = (areas["pupil_mean"] - lo) / (hi - lo) * 100
    icc, left_out, icc_note = None, 0, ""
    try:
        icc = rater_icc(r)
        left_out = icc.n_indicators_left_out
    except DataError as exc:
        icc_note = str(exc)
    caveat = ""
    if n_raters < FEW_RATERS:
        caveat = (f"Only {n_raters} raters: an agreement index from so few raters is imprecise (see how wide "
                  "the intervals are), and the area means rest on few views. Ask more staff, from different "
                  "roles, to rate before acting on small differences.")
    # At most three priorities: the lowest-rated areas first, then areas that split the raters.
    pri: list[str] = []
    chosen: list = []
    order = areas.sort_values("mean_rating", kind="stable")
    for a in order.itertuples():
        if a.low and len(chosen) < N_PRIORITIES:
            pri.append(f"{a.area_label}: rated low (mean {a.mean_rating:.2f} of 4).")
            chosen.append(a)
    for a in order.itertuples():
        if a.disagreement and len(chosen) < N_PRIORITIES and a.area not in [c.area for c in chosen]:
            worst = ind[ind["area"] == a.area].sort_values("spread", ascending=False).iloc[0]
            # the range of raters' means only where at least 3 raters rated the area (else it shows each person)
            means = (f"their area means run from {a.rater_min:.2f} to {a.rater_max:.2f}; "
                     if a.n_raters >= MIN_RATERS_FOR_RANGE else "")
            split = (f"ratings from {worst['min']:.0f} to {worst['max']:.0f} on " if a.n_raters >= MIN_RATERS_FOR_RANGE
                     else "most of all on ")
            pri.append(f"{a.area_label}: raters disagree ({means}{split}\u201c{worst['statement']}\u201d); discuss the "
                       "evidence before deciding.")
            chosen.append(a)
    plan_rows = []
    for a in chosen:
        why = " and ".join(w for w, on in (("rated low", a.low), ("raters disagree", a.disagreement)) if on)
        plan_rows.append({"area": a.area_label, "why a priority": f"{why} (mean {a.mean_rating:.2f})"})
    plan = pd.DataFrame(plan_rows, columns=ACTION_PLAN_COLUMNS).fillna("")
    return AuditResult(r, areas, ind, icc, n_raters, left_out, pri, caveat, plan, icc_note)


def write_audit_report(result: AuditResult, out: str | os.PathLike, *, synthetic: bool = False,
                       title: str | None = None) -> list[Path]:
    """Write ``audit_report.html``, ``area_profile.png``, ``action_plan.xlsx`` and ``action_plan.docx``."""
    from ._common import figure_to_data_uri, out_dir, render
    from ..plots._style import figure_of
    from .plots import audit_profile

    folder = out_dir(out)
    areas = result.areas
    fig = figure_of(audit_profile(areas))
    fig.savefig(folder / "area_profile.png", dpi=110, bbox_inches="tight")
    chart = figure_to_data_uri(fig)
    show = pd.DataFrame({"Area": areas["area_label"], "Raters": areas["n_raters"],
                         "Mean rating (1-4)": areas["mean_rating"].map("{:.2f}".format),
                         "Raters' range": [f"{a:.2f} to {b:.2f}" if k >= MIN_RATERS_FOR_RANGE else
                                           f"not shown (fewer than {MIN_RATERS_FOR_RANGE} raters)"
                                           for a, b, k in zip(areas["rater_min"], areas["rater_max"], areas["n_raters"])],
                         "Largest split on an indicator (levels)": [
                             f"{v:.0f}" if k >= MIN_RATERS_FOR_RANGE else "not shown"
                             for v, k in zip(areas["max_indicator_spread"], areas["n_raters"])]})
    agreement = []
    icc_html = ""
    if result.icc is not None:
        t = result.icc.table.set_index("term")

        def interval(kind):
            # An interval is printed only with enough raters, and never outside [0, 1] (an agreement index
            # below 0 or above 1 means nothing to a reader; the end is shown as the bound it passed).
            if result.n_raters < FEW_RATERS:
                return f" (no interval: with fewer than {FEW_RATERS} raters it is too wide to read)"
            lo, hi = t.loc[kind, "ci_low"], t.loc[kind, "ci_high"]
            return f" (95% interval {max(lo, 0.0):.2f} to {min(hi, 1.0):.2f})"

        def value(kind):
            v = t.loc[kind, "estimate"]
            return f"{v:.2f}" if v >= 0 else "below 0 (no agreement beyond chance)"

        agreement.append(
            f"Agreement between one rater and another (ICC(2,1), absolute agreement) is {value('ICC(2,1)')}"
            f"{interval('ICC(2,1)')}; the reliability of the mean of all {result.n_raters} raters (ICC(2,k)) is "
            f"{value('ICC(2,k)')}{interval('ICC(2,k)')}.")
        agreement.append("An ICC near 1 means staff see the indicators alike; near 0, that one person's rating says "
                         "little about another's, and the discussion of evidence matters more than the numbers.")
        if result.n_indicators_left_out:
            agreement.append(f"{result.n_indicators_left_out} indicators were left out of the agreement index because "
                             "at least one rater left them unrated.")
        full = result.icc.table[["term", "description", "estimate", "ci_low", "ci_high", "statistic", "df1", "df2",
                                 "p"]].rename(columns={"term": "ICC", "description": "What it measures",
                                                       "estimate": "Estimate", "statistic": "F"})
        full["ci_low"] = full["ci_low"].clip(lower=0.0)
        full["ci_high"] = full["ci_high"].clip(upper=1.0)
        full["Estimate"] = [f"{v:.3f}" if v >= 0 else "below 0" for v in full["Estimate"]]
        if result.n_raters < FEW_RATERS:
            full = full.drop(columns=["ci_low", "ci_high"])
        icc_html = full.to_html(index=False, border=0, float_format=lambda v: f"{v:.3f}")
    else:
        agreement.append(f"Rater agreement was not computed: {result.icc_note}")
    survey_html, survey_intro = "", ""
    if "pupil_percent" in areas:
        sv = areas[areas["pupil_part"].notna()]
        thr = get_default_policy().threshold     # a count under the threshold is not printed either
        survey_intro = ("Both as percent of their scale's range (0 = the lowest answer everywhere, 100 = the highest). "
                        "The two scales ask different people different questions, so read a gap as a question "
                        "to explore with pupils, not a measured difference. An area without a matching part of the "
                        "questionnaire is left out. A survey of fewer pupils than the disclosure threshold is not shown.")
        survey_html = pd.DataFrame({
            "Area": sv["area_label"], "Staff: mean rating as %": sv["staff_percent"].map("{:.0f}".format),
            "Pupils: part mean as %": sv["pupil_percent"].map(lambda v: "[c]" if pd.isna(v) else f"{v:.0f}"),
            "Pupils answering": sv["pupil_n"].map(
                lambda v: "" if pd.isna(v) else f"{v:.0f}" if v >= thr else f"fewer than {thr}")}).to_html(
                index=False, border=0)
    ev = result.ratings[result.ratings["evidence"].astype(str).str.strip() != ""]
    # raters stay anonymous: evidence is listed by indicator, never against a rater's code
    ev = ev.sort_values(["indicator", "evidence"], kind="stable")
    ev_rows = "".join(f"<tr><td>{_html.escape(r.indicator)}</td>"
                      f"<td>{'' if pd.isna(r.rating) else int(r.rating)}</td><td>{_html.escape(str(r.evidence))}</td></tr>"
                      for r in ev.itertuples())
    evidence_html = ("<table><tr><th>Indicator</th><th>Rating</th><th>Evidence</th></tr>" + ev_rows +
                     "</table>") if ev_rows else "<p>No evidence notes were written.</p>"
    page = render("schools_audit.html.j2", title=title or "School culture audit",
                  heading=title or "School culture audit: staff self-review", synthetic=synthetic,
                  n_raters=result.n_raters, n_indicators=len(result.indicators), n_areas=len(areas), chart=chart,
                  areas_html=show.to_html(index=False, border=0), agreement=agreement, icc_html=icc_html,
                  caveat=result.caveat, priorities=_with_actions(result), survey_html=survey_html,
                  survey_intro=survey_intro, evidence_html=evidence_html)
    paths = [folder / "audit_report.html", folder / "area_profile.png", folder / "action_plan.xlsx",
             folder / "action_plan.docx"]
    paths[0].write_text(page, encoding="utf-8")
    write_excel(result.action_plan, paths[2], sheet_name="action plan")
    _action_plan_docx(paths[3], result.action_plan, title="Action plan from the school culture audit")
    return paths


def _with_actions(result: AuditResult) -> list[dict]:
    """Each priority with the suggested actions of its area."""
    acts = suggested_actions()
    by_label = dict(zip(result.areas["area_label"], result.areas["area"]))
    out = []
    for text in result.priorities:
        label = text.split(":")[0]
        out.append({"text": text, "actions": acts.get(by_label.get(label, ""), [])})
    return out


def simulate_audit(*, n_raters: int = 6, seed: int = 2026, rater_sd: float = 0.35, noise_sd: float = 0.45,
                   missing: float = 0.0) -> pd.DataFrame:
    """**Synthetic** stacked audit forms: each indicator has a true level, each rater a leniency and noise.

    Rating = round(true level + leniency + noise), kept within 1-4.  Areas ``voice`` and ``parents`` are
    set low, ``relationships`` high, so the profile has a shape to find; ``missing`` is the share of
    ratings left empty.  A few evidence notes are filled in.
    """
    rng = np.random.default_rng(seed)
    f = framework()
    base = {"relationships": 3.3, "voice": 1.8, "parents": 2.0}
    true = np.array([base.get(a, 2.7) for a in f["area"]]) + rng.normal(0, 0.4, len(f))
    rows = []
    for k in range(n_raters):
        lenient = rng.normal(0, rater_sd)
        rating = np.clip(np.round(true + lenient + rng.normal(0, noise_sd, len(f))), 1, 4)
        for j, row in enumerate(f.itertuples()):
            value = "" if rng.random() < missing else str(int(rating[j]))
            note = ("Seen in learning walks and pupil panel notes" if rng.random() < 0.08 else "")
            rows.append({"rater": f"R{k + 1}", "area": row.area_label, "indicator": row.indicator,
                         "statement": row.statement, "rating": value, "evidence": note})
    out = pd.DataFrame(rows)
    out.index = pd.RangeIndex(1, len(out) + 1)
    return out
