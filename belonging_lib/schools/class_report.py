"""A class feedback report for the class teacher: distributions, part scores with intervals, disclosure.

:func:`class_report` checks and scores a filled data-entry sheet of the Our Class Belonging
questionnaire (:mod:`belonging_lib.schools.questionnaire`) and writes one HTML page that prints well:

* a short reading of the results, and the note that the page is for reflection and planning, not for
  judging teachers;
* each part's class mean with a 95% interval, beside the school's when the school's sheet is given;
* each item's response distribution (percent of answers in each category, not only the mean);
* the total score by pupil group (gender, FSM, SEND when recorded), through
  :func:`belonging_lib.disclosure.summarise_by`: a group under the disclosure threshold is hidden,
  and so is the next smallest, so that the class total cannot reveal it.

A class with fewer pupils than the threshold gets a page that says so and shows no numbers.
"""

from __future__ import annotations

import dataclasses
import html as _html
import os
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .._results import EstimateTable, tidy
from ..disclosure import DisclosurePolicy, SuppressedTable, get_context, get_default_policy, summarise_by
from ..disclosure import context as disclosure_context
from .._validation import describe_rows
from .questionnaire import check_responses, instrument_for, parts, questionnaire_items, score_responses

__all__ = ["ClassReport", "ClassPack", "PartSummary", "RoundComparison", "class_report", "class_pack", "straight_liners", "part_summary",
           "item_distribution", "round_comparison", "CLASS_BY"]

#: Pupil characteristics the class report breaks the total down by, unless ``by`` says otherwise.
CLASS_BY = ("gender", "fsm", "send", "eal")

_GROUP_NAMES = {"gender": "Gender", "fsm": "Free school meals (1 = eligible)",
                "send": "SEND (1 = special educational needs or disability)", "eal": "EAL (1 = English as an additional language)"}


def straight_liners(data: pd.DataFrame, *, version: str, min_answered: int = 12) -> pd.Series:
    """True for a pupil who gave one and the same code to every answered question (at least
    ``min_answered`` of them), although some questions are worded the other way round."""
    from ..scoring import clean_items

    codes = clean_items(data, instrument_for(version))
    answered = codes.notna().sum(axis=1)
    same = codes.nunique(axis=1, dropna=True) == 1
    return (same & (answered >= min_answered)).reindex(data.index).fillna(False).astype(bool)


@dataclasses.dataclass(frozen=True, kw_only=True)
class PartSummary(EstimateTable):
    """The mean of each part of the questionnaire with its t interval (what :func:`part_summary` returns).

    ``table`` keeps the columns in the order the class report uses (``part, n, estimate, sd, se,
    ci_low, ci_high, ci_level``); ``to_frame()`` gives ``part``, then the tidy columns ``estimate,
    se, ci_low, ci_high, n``, then ``sd, ci_level``.
    """

    title = "Parts of the questionnaire"


def _absent_items(frames: Sequence[pd.DataFrame], version: str) -> list[str]:
    """Questions that at least one of ``frames`` leaves unanswered by every pupil (or lacks as a column).

    An older sheet, from before a question was added, holds it empty: a part scored on it in one sheet
    and without it in another would compare different questions.
    """
    from ..scoring import clean_items

    inst = instrument_for(version)
    absent = []
    for i in inst.item_ids:
        for f in frames:
            if i not in f.columns or clean_items(f.reindex(columns=list(inst.item_ids)), inst)[i].isna().all():
                absent.append(i)
                break
    return absent


def _common_questions_note(absent: Sequence[str], version: str, *, what: str) -> str:
    """In words: which part is compared on which questions both sheets have, and which are left out."""
    if not absent:
        return ""
    items = questionnaire_items(version)
    labels = parts(version)
    texts = items.set_index("id")["text"]
    said = []
    for part, label in labels.items():
        ids = items.loc[items["part"] == part, "id"].tolist()
        if not set(ids) & set(absent):
            continue
        kept = [i for i in ids if i not in absent]
        said.append(f"\u201c{label}\u201d on the {len(kept)} question(s) both have ({', '.join(kept)})"
                    if kept else f"\u201c{label}\u201d not at all (no question of it is on both)")
    n_all = len(items)
    gone = "; ".join(f"{i} (\u201c{texts[i].rstrip('.')}\u201d)" for i in absent)
    return (f"Question(s) {gone} are missing from one of the sheets compared ({what}): an older sheet, from "
            f"before the question was added. So they are left out of both sides' scores there: the comparison "
            f"scores {'; '.join(said)}, and the total on {n_all - len(absent)} of the {n_all} questions.")


def part_summary(scores: pd.DataFrame, *, ci_level: float = 0.95) -> PartSummary:
    """Per part: ``n, estimate`` (mean), ``sd, se, ci_low, ci_high, ci_level``, as a :class:`PartSummary`.

    The interval is the t interval for a mean, :math:`\\bar x \\pm t_{n-1} s/\\sqrt n`.
    """
    rows = []
    for part in scores.columns:
        y = scores[part].dropna().astype(float)
        n = int(y.size)
        m = float(y.mean()) if n else np.nan
        sd = float(y.std(ddof=1)) if n > 1 else np.nan
        se = sd / np.sqrt(n) if n > 1 else np.nan
        t = stats.t.ppf(0.5 + ci_level / 2, n - 1) if n > 1 else np.nan
        rows.append({"part": part, "n": n, "estimate": m, "sd": sd, "se": se, "ci_low": m - t * se,
                     "ci_high": m + t * se, "ci_level": ci_level})
    return PartSummary(table=pd.DataFrame(rows), keys=("part",))


def item_distribution(data: pd.DataFrame, *, version: str) -> pd.DataFrame:
    """Percent of answers in each response category, one row per item (codes as given, not reversed).

    Columns: ``item, text, part, n`` and one column per response label.
    """
    from ..scoring import clean_items

    inst = instrument_for(version)
    codes = clean_items(data, inst)
    items = questionnaire_items(version).set_index("id")
    rows = []
    for item in inst.item_ids:
        col = codes[item].dropna()
        row = {"item": item, "text": items.loc[item, "text"], "part": items.loc[item, "part"], "n": int(col.size)}
        for code, label in inst.labels:
            row[label] = float((col == code).mean() * 100) if col.size else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


@dataclasses.dataclass(frozen=True)
class ClassReport:
    """What :func:`class_report` produced.

    Attributes
    ----------
    html : str
        The page.
    version : str
    n, n_school : int
        Pupils in the class file (and the school file, 0 when none).
    parts : DataFrame
        The table of :func:`part_summary` of the class, with ``label`` (and ``school_estimate, school_ci_low, school_ci_high,
        school_n`` when a school file is given).  Empty when the class is under the threshold.
    items : DataFrame
        :func:`item_distribution` of the class.
    by : dict of str -> SuppressedTable
        Total score by each recorded pupil characteristic, after disclosure control.
    shown : bool
        False when the class is under the disclosure threshold and no number is shown.
    """

    html: str
    version: str
    n: int
    n_school: int
    parts: pd.DataFrame
    items: pd.DataFrame
    by: dict
    shown: bool

    def to_frame(self) -> pd.DataFrame:
        """The parts of the report as a tidy table: ``part, label``, then ``estimate, se, ci_low,
        ci_high, n``, then ``sd, ci_level`` and the school's columns when a school file was given.

        The numbers are those the page shows: a part answered by fewer pupils than the disclosure
        threshold has its mean and interval missing, and a class under the threshold gives an
        empty table (no row).
        """
        frame = tidy(self.parts.copy())
        first = [c for c in ("part", "label") if c in frame.columns]
        return frame[first + [c for c in frame.columns if c not in first]].reset_index(drop=True)


def _bar(dist: pd.Series, colours: Sequence[str]) -> str:
    spans = []
    for (label, pct), colour in zip(dist.items(), colours):
        if pd.notna(pct) and pct > 0:
            spans.append(f"<span class='bar' title='{_html.escape(str(label))}: {pct:.0f}%' "
                         f"style='width:{pct * 0.14:.2f}em;background:{colour}'></span>")
    return "".join(spans)


def class_report(data: pd.DataFrame, *, school: pd.DataFrame | None = None, version: str | None = None,
                 previous: pd.DataFrame | None = None, by: Sequence[str] | None = None, title: str | None = None,
                 policy: DisclosurePolicy | None = None, out: str | os.PathLike | None = None,
                 synthetic: bool = False, ci_level: float = 0.95) -> ClassReport:
    """Write the class feedback report.

    Parameters
    ----------
    data : DataFrame
        The class's filled data-entry sheet (one row per pupil, items ``ocbs_01`` ... or ``ocbp_01`` ...).
        Row labels are used in error messages: read files with
        :func:`belonging_lib.schools._common.read_table` so that they are the spreadsheet's row numbers.
    school : DataFrame, optional
        The whole school's sheet of the same version, shown beside the class.
    previous : DataFrame, optional
        The class's sheet from an earlier survey round (same version): each part by round, with
        intervals, and whether the change is more than chance and measurement error
        (:func:`round_comparison`; pupils matched on ``pupil_ref`` where both sheets have it).
    version : {"primary", "secondary"}, optional
        Checked against the columns (default: taken from the columns).
    by : list of str, optional
        Pupil characteristics to break the total down by, where the sheet has them (default
        :data:`CLASS_BY`: gender, FSM, SEND and EAL; ``[]`` for none).
    title : str, optional
    policy : DisclosurePolicy, optional
        Default: the project's policy (threshold 10).
    out : path, optional
        Write the page to ``out`` (a file name ending in .html).
    synthetic : bool
        Say on the page that the data are synthetic.
    ci_level : float
        Level of the intervals.

    Returns
    -------
    ClassReport

    Raises
    ------
    DataError, ColumnError
        Empty file, the other version, missing item columns, a code out of range, a row without
        answers, a repeated pupil reference: the message names the column and the rows (the index's labels: read the file with
        :func:`belonging_lib.schools._common.read_table` and they are the spreadsheet's row numbers).
    """

    from ..plots._style import figure_of
    from ._common import SHEET_ROWS, figure_to_data_uri, render
    from .plots import part_profile

    policy = policy or get_default_policy()
    version = check_responses(data, version=version, what="class")
    inst = instrument_for(version)
    # Straight-liners (the same box ticked for every question, reverse-keyed ones included) are listed
    # for the teacher and left out of every number, with a note.
    flat = straight_liners(data, version=version)
    straight_note = ""
    if flat.any():
        straight_note = (f"{int(flat.sum())} pupil(s) ticked the same answer to every question, including the "
                         "questions worded the other way round, so their answers probably do not describe how they "
                         f"feel; they are left out of every number on this page. Rows ({SHEET_ROWS}): "
                         f"{', '.join(map(str, data.index[flat]))}. A quiet word may help: some pupils "
                         "tick the same box when they find the questions hard, or did not want to answer.")
        data = data[~flat]
    labels = parts(version)
    n = len(data)
    school_scores = None
    compared_note = ""
    scored = data
    if school is not None:
        check_responses(school, version=version, what="school")
        # Compared like with like: a question one sheet leaves empty (an older sheet) is left out of the
        # class's and the school's part scores, and the page says which questions each part is scored on.
        absent = _absent_items([data, school], version)
        if absent:
            compared_note = _common_questions_note(absent, version, what="the class and the school")
            scored = data.assign(**{i: np.nan for i in absent})
            school = school.assign(**{i: np.nan for i in absent})
        school_scores = score_responses(school, version=version, what="school")
    scores = score_responses(scored, version=version, what="class")
    too_few = n < policy.threshold
    scale_text = ", ".join(f"{c} = {lab}" for c, lab in inst.labels)
    from .safeguarding import ANONYMOUS_NOTE, is_named_survey, needs_response_items

    safeguarding = ("Answers such as being picked on or not feeling safe are listed per pupil, with what to do "
                    "today, by the class-report command in answers_needing_response.html, kept apart from this "
                    "page, which may be shared. Act on them immediately, whatever the results below say."
                    if is_named_survey(data)
                    else ANONYMOUS_NOTE)
    ctx = dict(title=title or "Class belonging report", heading=title or "How our class feels about belonging",
               safeguarding=safeguarding, synthetic=synthetic, version_name=inst.name, n=n,
               n_school=0 if school is None else len(school), scale_text=scale_text, threshold=policy.threshold,
               too_few=too_few, straight_note=straight_note, compared_note=compared_note)
    if too_few:
        page = render("schools_class_report.html.j2", **ctx)
        if out is not None:
            _write(out, page)
        return ClassReport(page, version, n, ctx["n_school"], pd.DataFrame(), pd.DataFrame(), {}, False)

    summary = part_summary(scores[list(labels)], ci_level=ci_level).table.copy()
    summary.insert(1, "label", [labels[p] for p in summary["part"]])
    if school_scores is not None and len(school) >= policy.threshold:
        ss = part_summary(school_scores[list(labels)], ci_level=ci_level).table.set_index("part")
        summary["school_n"] = summary["part"].map(ss["n"])
        for c in ("estimate", "ci_low", "ci_high"):
            summary[f"school_{c}"] = summary["part"].map(ss[c])
    dist = item_distribution(data, version=version)
    # The threshold applies to every cell shown: a part or a question answered by fewer pupils than the
    # threshold is withheld (its mean, interval and percentages), not only the group splits.
    thr = policy.threshold
    part_few = summary["n"] < thr
    summary.loc[part_few, ["estimate", "sd", "se", "ci_low", "ci_high"]] = np.nan
    item_few = dist["n"] < thr
    dist.loc[item_few, [lab for _, lab in inst.labels]] = np.nan

    # ---- reading: every sentence computed from the tables above
    reading = []
    if part_few.any():
        reading.append(f"{int(part_few.sum())} part(s) and {int(item_few.sum())} question(s) were answered by "
                       f"fewer than {thr} pupils: their results are withheld, as a pupil's answers could be "
                       "worked out from them.")
    elif item_few.any():
        reading.append(f"{int(item_few.sum())} question(s) were answered by fewer than {thr} pupils: their "
                       "answers are withheld, as a pupil's answers could be worked out from them.")
    shown_parts = summary[~part_few]
    if len(shown_parts) < 2:
        shown_parts = summary.iloc[:0]
    best = shown_parts.loc[shown_parts["estimate"].idxmax()] if len(shown_parts) else None
    worst = shown_parts.loc[shown_parts["estimate"].idxmin()] if len(shown_parts) else None
    if best is not None:
        reading.append(f"Pupils rated \u201c{best['label']}\u201d highest (mean {best['estimate']:.2f}, {ci_level:.0%} interval "
                       f"{best['ci_low']:.2f} to {best['ci_high']:.2f}) and \u201c{worst['label']}\u201d lowest (mean "
                       f"{worst['estimate']:.2f}, {worst['ci_low']:.2f} to {worst['ci_high']:.2f}).")
    if best is not None and worst["ci_high"] >= best["ci_low"]:
        reading.append("These two intervals overlap, so the difference between the highest and the lowest part "
                       "may be chance: treat it as a question to explore with the pupils, not a finding.")
    # the least positive answer of each item: the lowest code, or the highest for reverse-keyed items
    items_meta = questionnaire_items(version).set_index("id")
    low_share = []
    for row in dist.itertuples(index=False):
        label = inst.labels[-1][1] if items_meta.loc[row.item, "reverse"] else inst.labels[0][1]
        low_share.append((float(dist.loc[dist["item"] == row.item, label].iloc[0]), row.text, label, row.item))
    pct, text, label, item = max(low_share, key=lambda t: -1.0 if np.isnan(t[0]) else t[0])
    pct = 0.0 if np.isnan(pct) else pct
    sensitive = set(needs_response_items(version)["item"])
    # never "ask the class" about bullying or safety: a class discussion could expose the pupils concerned
    next_step = ("Do not discuss this question with the class, where it could expose the pupils concerned: talk "
                 "to the anti-bullying lead and the designated safeguarding lead about what the school does next."
                 if item in sensitive else "Ask the class what lies behind it.")
    reading.append(f"The question with the most pupils giving the least positive answer was \u201c{text.rstrip('.')}\u201d: "
                   f"{pct:.0f}% answered \u201c{label}\u201d. {next_step}")
    if "school_estimate" in summary:
        above = summary[summary["school_estimate"] > summary["ci_high"]]
        below = summary[summary["school_estimate"] < summary["ci_low"]]
        inside = int((~part_few).sum()) - len(above) - len(below)
        reading.append(f"For {inside} of the {int((~part_few).sum())} parts shown the school's mean lies inside the class's "
                       "interval: there the class cannot be told apart from the school.")
        for r in above.itertuples():
            reading.append(f"For \u201c{r.label}\u201d the class's interval lies below the school's mean "
                           f"({r.estimate:.2f} against {r.school_estimate:.2f}).")
        for r in below.itertuples():
            reading.append(f"For \u201c{r.label}\u201d the class's interval lies above the school's mean "
                           f"({r.estimate:.2f} against {r.school_estimate:.2f}).")

    # ---- tables
    few = f"fewer than {thr}"
    show = pd.DataFrame({"Part": summary["label"],
                         "Pupils": [few if f else str(v) for v, f in zip(summary["n"], part_few)],
                         "Class mean": [policy.symbol if f else f"{v:.2f}" for v, f in zip(summary["estimate"], part_few)],
                         f"{ci_level:.0%} interval": [policy.symbol if f else f"{a:.2f} to {b:.2f}" for a, b, f in
                                                      zip(summary["ci_low"], summary["ci_high"], part_few)]})
    if "school_estimate" in summary:
        show["School mean"] = summary["school_estimate"].map("{:.2f}".format)
        show[f"School {ci_level:.0%} interval"] = [f"{a:.2f} to {b:.2f}" for a, b in zip(summary["school_ci_low"],
                                                                                  summary["school_ci_high"])]
    parts_html = show.to_html(index=False, border=0, classes="parts")
    colours = ["#b2182b", "#ef8a62", "#d9d9d9", "#67a9cf", "#2166ac"] if len(inst.labels) == 5 else \
        ["#b2182b", "#d9d9d9", "#2166ac"]
    lab_names = [lab for _, lab in inst.labels]
    rows = []
    for r in dist.itertuples(index=False):
        d = dist.loc[dist["item"] == r.item, lab_names].iloc[0]
        if items_meta.loc[r.item, "reverse"]:
            d = d[::-1]
        rows.append("<tr class='keep'><td>" + _html.escape(r.text) + ("<br><span class='small'>(a higher code is "
                    "the less positive answer)</span>" if items_meta.loc[r.item, "reverse"] else "") +
                    f"</td><td class='num'>{r.n if r.n >= thr else few}</td>" +
                    "".join(f"<td class='num'>{policy.symbol if np.isnan(v) else f'{v:.0f}'}</td>"
                            for v in dist.loc[dist['item'] == r.item, lab_names].iloc[0])
                    + f"<td class='dist'>{_bar(d, colours)}</td></tr>")
    items_html = ("<table><thead><tr><th>Question</th><th class='num'>Answered</th>" +
                  "".join(f"<th class='num'>{_html.escape(l)} %</th>" for l in lab_names) +
                  "<th>Least to most positive</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")
    legend = "The bar runs from the least positive answer (red) to the most positive (blue)."

    # ---- groups through the disclosure policy
    group_tables: dict[str, SuppressedTable] = {}
    group_blocks = []
    frame = data.assign(total=scores["total"])
    # One disclosure context for the report's group tables (or the caller's, if one is active), so a
    # group hidden in one split cannot be worked out from another split's counts.
    report_ctx = get_context() or disclosure_context(policy, name="class report")
    for g in (CLASS_BY if by is None else [by] if isinstance(by, str) else by):
        if g not in data.columns or data[g].isna().all():
            continue
        st = summarise_by(frame, outcome="total", by=g, policy=policy, context=report_ctx)
        group_tables[g] = st
        disp = st.display().rename(columns={g: "Group", "n": "Pupils", "n_missing": "No total score",
                                            "mean": "Mean total", "sd": "SD"})
        hidden = int(st.mask.any(axis=1).sum())
        note = (f"{hidden} of {len(st.data)} groups hidden ({policy.symbol}). " + st.footnote) if hidden else ""
        group_blocks.append({"name": _GROUP_NAMES.get(g, g), "html": disp.to_html(index=False, border=0),
                             "note": note})
    n_hidden = sum(int(t.mask.any(axis=1).sum()) for t in group_tables.values())
    groups_intro = (f"No group of fewer than {policy.threshold} pupils is shown: in a class of {n} most splits "
                    "by FSM or SEND describe only a handful of pupils, whose answers a reader could work out. "
                    "When one group is hidden, at least one more is hidden with it, so that the hidden groups "
                    "together describe enough pupils and the class total cannot give either away; every split "
                    f"is checked against the others. In this class {n_hidden} group(s) are hidden."
                    if group_tables else "The sheet records no pupil groups, so no split is shown.")
    fig = figure_of(part_profile(summary, school="school_estimate" in summary, response_range=inst.response_range))
    rounds_html, rounds_reading = "", []
    if previous is not None:
        rounds_html, rounds_reading = _rounds_block(
            round_comparison(data, previous=previous, version=version, policy=policy, ci_level=ci_level),
            version=version, policy=policy, ci_level=ci_level)
    ctx.update(rounds_html=rounds_html, rounds_reading=rounds_reading)
    ctx.update(reading=reading, parts_html=parts_html, items_html=items_html, legend=legend,
               groups=group_blocks, groups_intro=groups_intro, chart=figure_to_data_uri(fig))
    page = render("schools_class_report.html.j2", **ctx)
    if out is not None:
        _write(out, page)
    return ClassReport(page, version, n, ctx["n_school"], summary, dist, group_tables, True)


def _round_keys(data: pd.DataFrame, with_class: bool) -> pd.Index:
    """Each row's pupil reference (with its class, when both rounds record classes) as matching text."""
    refs = data["pupil_ref"].astype("string").str.strip().fillna("")
    if with_class:
        refs = refs + " (class " + data["class"].astype("string").str.strip().fillna("") + ")"
    return pd.Index(refs.to_numpy(dtype=str))


def _has_refs(data: pd.DataFrame) -> bool:
    if "pupil_ref" not in data.columns:
        return False
    refs = data["pupil_ref"].astype("string").str.strip()
    return bool((refs.notna() & (refs != "")).all())


@dataclasses.dataclass(frozen=True, kw_only=True)
class RoundComparison(EstimateTable):
    """Each part of the questionnaire by survey round, and the change (what :func:`round_comparison` returns).

    ``table`` has one row per part and one for the total; ``to_frame()`` gives the same columns,
    ``part`` and ``label`` first.  ``absent_items`` lists the questions left out of both rounds
    because one round's sheet lacks them.
    """

    #: questions one round's sheet lacks entirely, left out of both rounds' scores
    absent_items: tuple[str, ...] = ()
    keys: tuple[str, ...] = ("part", "label")

    title = "Survey rounds compared"


def round_comparison(data: pd.DataFrame, *, previous: pd.DataFrame, version: str | None = None,
                     policy: DisclosurePolicy | None = None, ci_level: float = 0.95) -> RoundComparison:
    """Each part by survey round, and whether the change is more than chance and measurement error.

    ``previous`` is an earlier round's sheet of the same version.  When both sheets give every pupil a
    ``pupil_ref``, pupils are matched on it (and on ``class`` when a sheet holds several classes) and the
    change is the mean of the matched pupils' own changes, with the paired t interval; otherwise the
    change is the difference of the two rounds' means, with Welch's interval.  Either interval carries
    the pupils' measurement error (it is part of each pupil's score, hence of the spread the interval
    is computed from), so a change whose interval excludes 0 is more than chance and measurement error
    would often give.  Straight-liners (:func:`straight_liners`) are left out of both rounds.  A
    question that one round's sheet lacks entirely (the trusted-adult question on a sheet from before
    it was added) is left out of both rounds, so that the parts compare like with like.

    Two rounds with pupil references that share fewer than half of the smaller round's pupils stop with
    an error that names the likely cause (leading zeros Excel dropped, capitals or spaces, another ID
    column) and the number matched.

    Returns
    -------
    RoundComparison
        ``table`` has one row per part and one for the total (``part`` = ``"total"``): ``part, label, n_previous, previous, previous_ci_low, previous_ci_high, n_now,
        now, now_ci_low, now_ci_high, paired, n_matched, change, change_ci_low, change_ci_high, beyond``
        (``beyond``: the interval of the change excludes 0).  Every number is missing where fewer pupils
        than the disclosure threshold stand behind it.
    """
    from scipy import stats as _stats

    from ._common import check_rounds_match

    policy = policy or get_default_policy()
    version = check_responses(data, version=version, what="class")
    check_responses(previous, version=version, what="previous")
    now = data[~straight_liners(data, version=version)]
    before = previous[~straight_liners(previous, version=version)]
    absent = _absent_items([now, before], version)
    if absent:
        now = now.assign(**{i: np.nan for i in absent})
        before = before.assign(**{i: np.nan for i in absent})
    s_now = score_responses(now, version=version, what="class")
    s_before = score_responses(before, version=version, what="previous")
    paired = _has_refs(now) and _has_refs(before)
    if paired:
        # the class is part of the match only where a sheet holds several classes (P01 may be in each);
        # within one class it adds nothing, and a class renamed between rounds (7B, then 8B) must not
        # stop the match
        with_class = all("class" in f.columns and f["class"].notna().all() for f in (now, before)) and max(
            f["class"].astype("string").str.strip().nunique() for f in (now, before)) > 1
        k_now, k_before = _round_keys(now, with_class), _round_keys(before, with_class)
        for keys, what, frame in ((k_now, "class", now), (k_before, "previous", before)):
            if keys.duplicated().any():
                from .._errors import DataError

                raise DataError(f"In the {what} file, column 'pupil_ref' repeats a reference in "
                                f"{describe_rows(frame.index[keys.duplicated(keep=False)])}: rounds are matched "
                                "pupil by pupil, so each reference must be unique (within a class).")
        common = k_now.intersection(k_before)
        check_rounds_match(k_now, k_before, len(common), what="class")
    thr = policy.threshold
    z = 0.5 + ci_level / 2
    labels = {**parts(version), "total": "Belonging, all questions"}
    rows = []
    for part, label in labels.items():
        a = s_before[part].dropna().astype(float)
        b = s_now[part].dropna().astype(float)
        row = {"part": part, "label": label, "paired": paired}
        for key, y in (("previous", a), ("now", b)):
            n = int(y.size)
            row[f"n_{key}"] = n
            if n >= max(thr, 2):
                half = _stats.t.ppf(z, n - 1) * y.std(ddof=1) / np.sqrt(n)
                row[key], row[f"{key}_ci_low"], row[f"{key}_ci_high"] = y.mean(), y.mean() - half, y.mean() + half
            else:
                row[key] = row[f"{key}_ci_low"] = row[f"{key}_ci_high"] = np.nan
        if paired:
            before_by = pd.Series(s_before[part].to_numpy(dtype=float), index=k_before)
            now_by = pd.Series(s_now[part].to_numpy(dtype=float), index=k_now)
            d = (now_by.reindex(common) - before_by.reindex(common)).dropna()
            n = int(d.size)
            row["n_matched"] = n
            ok = n >= max(thr, 2)
            change = float(d.mean()) if ok else np.nan
            half = _stats.t.ppf(z, n - 1) * d.std(ddof=1) / np.sqrt(n) if ok else np.nan
        else:
            row["n_matched"] = 0
            ok = min(a.size, b.size) >= max(thr, 2)
            if ok:
                va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
                df = (va + vb) ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1))
                change, half = float(b.mean() - a.mean()), _stats.t.ppf(z, df) * np.sqrt(va + vb)
            else:
                change = half = np.nan
        row["change"], row["change_ci_low"], row["change_ci_high"] = change, change - half, change + half
        row["beyond"] = bool(ok and (change - half > 0 or change + half < 0))
        rows.append(row)
    cols = ["part", "label", "n_previous", "previous", "previous_ci_low", "previous_ci_high", "n_now", "now",
            "now_ci_low", "now_ci_high", "paired", "n_matched", "change", "change_ci_low", "change_ci_high", "beyond"]
    return RoundComparison(table=pd.DataFrame(rows, columns=cols), absent_items=tuple(absent))


def _rounds_block(result: RoundComparison, *, version: str, policy: DisclosurePolicy,
                  ci_level: float) -> tuple[str, list[str]]:
    """The by-round table (HTML) and its reading, every sentence computed from ``result``."""
    cmp, absent = result.table, list(result.absent_items)
    sym, thr = policy.symbol, policy.threshold

    def cell(v, lo, hi):
        return sym if pd.isna(v) else f"{v:.2f} ({lo:.2f} to {hi:.2f})"

    show = pd.DataFrame({
        "Part": cmp["label"],
        f"Earlier round, mean ({ci_level:.0%} interval)": [cell(*r) for r in zip(cmp["previous"], cmp["previous_ci_low"],
                                                                             cmp["previous_ci_high"])],
        f"This round, mean ({ci_level:.0%} interval)": [cell(*r) for r in zip(cmp["now"], cmp["now_ci_low"],
                                                                          cmp["now_ci_high"])],
        f"Change ({ci_level:.0%} interval)": [sym if pd.isna(c) else f"{c:+.2f} ({lo:+.2f} to {hi:+.2f})"
                                              for c, lo, hi in zip(cmp["change"], cmp["change_ci_low"],
                                                                   cmp["change_ci_high"])],
        "More than chance and measurement error?": [sym if pd.isna(c) else ("yes" if b else "no")
                                                    for c, b in zip(cmp["change"], cmp["beyond"])]})
    reading = []
    paired = bool(cmp["paired"].iloc[0])
    if paired:
        reading.append(f"Pupils were matched across the two rounds by their pupil reference: {int(cmp['n_matched'].max())} "
                       "pupils answered both. Each change is the mean of those pupils' own changes.")
    else:
        reading.append("The sheets give no pupil reference on every row, so pupils are not matched: each change is "
                       "the difference between the two rounds' means, which also moves with who took part.")
    if absent:
        reading.append(_common_questions_note(absent, version, what="this round and the earlier one"))
    hidden = cmp["change"].isna()
    if hidden.any():
        reading.append(f"{int(hidden.sum())} part(s) have fewer than {thr} pupils behind a round or the change: "
                       "their numbers are withheld.")
    up = cmp[cmp["beyond"] & (cmp["change"] > 0)]
    down = cmp[cmp["beyond"] & (cmp["change"] < 0)]
    for r in up.itertuples():
        reading.append(f"\u201c{r.label}\u201d rose by {r.change:.2f} ({r.change_ci_low:+.2f} to {r.change_ci_high:+.2f}): "
                       "more than chance and measurement error would often give.")
    for r in down.itertuples():
        reading.append(f"\u201c{r.label}\u201d fell by {-r.change:.2f} ({r.change_ci_low:+.2f} to {r.change_ci_high:+.2f}): "
                       "more than chance and measurement error would often give.")
    n_within = int((~hidden & ~cmp["beyond"]).sum())
    if n_within:
        reading.append(f"For {n_within} part(s) the interval of the change includes no change: the difference "
                       "between the rounds may be chance and measurement error alone.")
    return show.to_html(index=False, border=0), reading


def _write(out, page: str) -> None:
    from pathlib import Path

    p = Path(out)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(page, encoding="utf-8")


@dataclasses.dataclass(frozen=True)
class ClassPack:
    """What :func:`class_pack` wrote: one report per class and an overview.

    Attributes
    ----------
    html : str
        The whole pack (overview, then each class's report), one printable page.
    version : str
    n : int
        Pupils in the file.
    overview : DataFrame
        One row per class: ``class, n`` and each part's mean (missing where the class, or the part's
        answers, fall under the threshold).
    reports : dict
        Class name -> :class:`ClassReport`.
    """

    html: str
    version: str
    n: int
    overview: pd.DataFrame
    reports: dict


def _body(page: str) -> str:
    return page.split("<body>", 1)[1].rsplit("</body>", 1)[0]


def class_pack(data: pd.DataFrame, *, school: pd.DataFrame | None = None, version: str | None = None,
               previous: pd.DataFrame | None = None, policy: DisclosurePolicy | None = None, out: str | os.PathLike | None = None,
               synthetic: bool = False, ci_level: float = 0.95) -> ClassPack:
    """One report per class (column ``class``) and an overview comparing the classes, as one pack.

    Each class's report is :func:`class_report` on that class's rows (titled with the class's name);
    ``out`` (a folder) receives ``class_<name>.html`` for each and ``class_pack.html`` (overview first,
    then every report, each starting on a new page).  ``previous`` (an earlier round's sheet of the
    same classes, with a ``class`` column) adds each class's comparison of the rounds to its report.  The overview shows each part's mean for a class
    only where at least the threshold's number of pupils answered it; no whole-school row is shown
    beside them, so a hidden class cannot be worked out from the others.
    """
    from pathlib import Path

    from ._common import render, unique_file_stems

    policy = policy or get_default_policy()
    version = check_responses(data, version=version, what="class")
    labels = parts(version)
    names = data["class"].astype("string").str.strip()
    classes = sorted(names[names.notna() & (names != "")].unique().tolist())
    no_class = int((names.isna() | (names == "")).sum())
    stems, _ = unique_file_stems(classes)
    # Classes (and the school) compared like with like: a question one class's sheet leaves empty (an
    # older sheet stacked with newer ones) is left out of every class's part scores, with a note.
    absent = _absent_items([data[names == c] for c in classes] + ([] if school is None else [school]), version)
    compared_note = _common_questions_note(absent, version, what="the classes of this pack")
    if absent:
        data = data.assign(**{i: np.nan for i in absent})
        if school is not None:
            school = school.assign(**{i: np.nan for i in absent})
    reports, rows = {}, []
    folder = Path(out) if out is not None else None
    if previous is not None and "class" not in previous.columns:
        from .._errors import ColumnError

        raise ColumnError("The previous file has no column 'class': with a file of several classes, the earlier "
                          "round's sheet needs the class of each pupil, so that each class is compared with itself.")
    prev_names = None if previous is None else previous["class"].astype("string").str.strip()
    for c in classes:
        part = data[names == c]
        prev = None
        if prev_names is not None and (prev_names == c).any():
            prev = previous[(prev_names == c).fillna(False).to_numpy(dtype=bool)]
        rep = class_report(part, school=school, version=version, previous=prev, title=f"How class {c} feels about belonging",
                           policy=policy, synthetic=synthetic, ci_level=ci_level,
                           out=None if folder is None else folder / f"class_{stems[c]}.html")
        reports[c] = rep
        row = {"class": c, "n": rep.n}
        if rep.shown:
            for r in rep.parts.itertuples():
                row[r.part] = r.estimate
        rows.append(row)
    overview = pd.DataFrame(rows, columns=["class", "n", *labels])
    thr = policy.threshold
    show = pd.DataFrame({"Class": overview["class"],
                         "Pupils": [str(n) if n >= thr else f"fewer than {thr}" for n in overview["n"]]})
    for p, lab in labels.items():
        show[lab] = [policy.symbol if pd.isna(v) else f"{v:.2f}" for v in overview[p]]
    intro = (f"{len(classes)} classes, {len(data)} pupils. Each part's mean (on the answer scale; higher is better) "
             f"is shown for a class only where at least {thr} pupils answered; {policy.symbol} marks a withheld "
             "cell. Class means differ by chance as well as for real reasons: read each class's intervals in its "
             "own report before comparing, and use the comparison for planning, never for judging teachers.")
    if no_class:
        intro += f" {no_class} pupil(s) have no class and are left out of the class reports."
    if compared_note:
        intro += " " + compared_note
    body = ("<h1>School pack: how our classes feel about belonging</h1>"
            + ("<div class='synthetic'>Synthetic data: every pupil here was simulated.</div>" if synthetic else "")
            + f"<p>{_html.escape(intro)}</p>" + show.to_html(index=False, border=0)
            + "".join(f"<div class='pagebreak'></div>{_body(r.html)}" for r in reports.values()))
    page = render("schools_base.html.j2", title="School pack").replace("<body>\n", "<body>\n" + body, 1)
    if folder is not None:
        _write(folder / "class_pack.html", page)
    return ClassPack(page, version, len(data), overview, reports)
