"""Pupil support planning: flags for a conversation (never a diagnosis) and editable support plans.

:func:`support_flags` reads a filled Our Class Belonging sheet with pupil references (and, where the
school collected it, the SDQ) and flags a pupil for a conversation when

* the relationships-with-staff score is below a cut-off;
* the belonging score (all items) is below a cut-off;
* belonging fell reliably since an earlier wave (Jacobson-Truax reliable change index, using the
  scale's reliability: :func:`belonging_lib.transitions.reliable_change`);
* the SDQ total difficulties score is in the "high" or "very high" band.

Each flag carries its reason and its measurement error: the standard error of measurement
:math:`SEM = SD\\sqrt{1 - \\alpha}`, with alpha estimated by :func:`belonging_lib.reliability.reliability`
on the school's own answers, gives a 95% band (score :math:`\\pm 1.96\\,SEM`).  A flag whose band
reaches the cut-off may be a false alarm, and the summary counts them.

:func:`write_support_plans` writes one editable Word document per flagged pupil (pupil reference,
strengths, trusted adult, what the behaviour may be communicating, agreed actions with who and when,
review date, pathway) and a summary, only into the folder the user names.

**Survey answers are not a safeguarding screen.**  A pupil who is not flagged may still be at risk; any
safeguarding concern goes to the designated safeguarding lead immediately (Keeping children safe in education).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import html as _html
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .._errors import ColumnError, DataError
from .._safe_write import write_csv
from .._validation import describe_rows
from ._common import NOT_A_SCREEN, SHEET_ROWS, check_rounds_match
from .questionnaire import check_responses, instrument_for, parts, questionnaire_items, score_responses
from .safeguarding import answers_needing_response

__all__ = ["FlagResult", "PlanRun", "support_flags", "write_support_plans", "earlier_runs", "read_term_dates",
           "PLAN_MARKER", "PATHWAYS"]

#: Text on every support-plan document (tests search the book and build/ for it).
PLAN_MARKER = "Pupil support plan - confidential - belonging_lib"

PATHWAYS = ("Pastoral lead (tutor, head of year): relationships, belonging, attendance, friendships.",
            "SENCo: a possible special educational need or disability, or a change to agreed adjustments.",
            "Designated safeguarding lead: ANY concern that the pupil may be at risk of harm, immediately.")

_NAME_COLUMNS = ("name", "pupil_name", "first_name", "last_name", "surname", "forename")


@dataclasses.dataclass(frozen=True)
class FlagResult:
    """What :func:`support_flags` found.

    Attributes
    ----------
    pupils : DataFrame
        One row per pupil (index = the pupil reference): scores, SEMs, flags, ``reasons`` (list of
        sentences), ``flagged`` (any flag), ``possible_false_alarm`` (every flag's band reaches its
        cut-off).
    counts : DataFrame
        Per flag: ``flag, cutoff, n_assessed, n_flagged, percent, n_band_reaches_cutoff``.
    version : str
    reliability : dict
        Part -> alpha used for the SEM (and ``total_previous`` for the reliable change).
    n_pupils, n_previous_matched, n_previous_unmatched : int
    has_names : bool
    needs_response : DataFrame
        Answers that need an adult's response today, one row per answer
        (:func:`belonging_lib.schools.safeguarding.answers_needing_response`), whatever the flags say.
    """

    pupils: pd.DataFrame
    counts: pd.DataFrame
    version: str
    reliability: dict
    n_pupils: int
    n_previous_matched: int = 0
    n_previous_unmatched: int = 0
    has_names: bool = False
    needs_response: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)

    @property
    def n_flagged(self) -> int:
        return int(self.pupils["flagged"].sum())

    def to_frame(self) -> pd.DataFrame:
        """The flags as a tidy table, one row per flag (counts, never a pupil).

        ``flag``, then ``estimate`` (the percentage of the pupils assessed who were flagged,
        ``percent`` in :attr:`counts`) and ``n`` (the pupils assessed, ``n_assessed``), then
        ``cutoff, n_flagged, n_band_reaches_cutoff``.  The pupils themselves are in :attr:`pupils`.
        """
        frame = self.counts.rename(columns={"percent": "estimate", "n_assessed": "n"})
        first = [c for c in ("flag", "estimate", "n") if c in frame.columns]
        return frame[first + [c for c in frame.columns if c not in first]].reset_index(drop=True)


def _alpha(data: pd.DataFrame, version: str, part: str | None) -> float:
    """Alpha of the part (or of all items) from this file's answers.

    A question nobody on the sheet was asked (the trusted-adult question on an older sheet) is left
    out: the scores are means of the other questions, so their reliability is theirs.
    """
    from ..reliability import reliability
    from ..scoring import clean_items

    inst = instrument_for(version)
    ids = list(inst.items_of(part))
    codes = clean_items(data, inst)[ids]
    ids = [i for i in ids if codes[i].notna().any()]
    return float(reliability(codes[ids], reverse=[i for i in ids if i in inst.reverse_items],
                             response_range=inst.response_range, progress=False,
                             label=f"{inst.id} {part}" if part else inst.id).alpha)


def _refs(data: pd.DataFrame, what: str) -> pd.Series:
    if "pupil_ref" not in data.columns:
        raise ColumnError(f"The {what} file has no column 'pupil_ref': support planning needs a pupil reference "
                          "on every row (a code such as P017, kept apart from names).")
    refs = data["pupil_ref"].astype("string").str.strip()
    blank = refs.isna() | (refs == "")
    if blank.any():
        raise DataError(f"Column 'pupil_ref' of the {what} file is empty in {describe_rows(data.index[blank])} "
                        f"({SHEET_ROWS}).")
    return refs.astype(str)


def _sdq(data: pd.DataFrame) -> tuple[pd.Series | None, pd.Series | None, float]:
    """SDQ total, band and its SEM (NaN when only a band or total is given)."""
    from ..instruments import load_instrument

    sdq = load_instrument("sdq")
    if all(c in data.columns for c in sdq.item_ids):
        from ..reliability import reliability
        from ..scoring import clean_items, score

        s = score(data, sdq)
        difficulties = [i for sub in ("emotional", "conduct", "hyperactivity", "peer") for i in sdq.subscales[sub]]
        items = clean_items(data, sdq, reverse=True)[difficulties]
        a = reliability(items, response_range=sdq.response_range, progress=False).alpha
        sem = float(s["sdq_total"].std(ddof=1) * np.sqrt(1 - a))
        return s["sdq_total"], s["sdq_total_band"].astype("string"), sem
    if "sdq_total" in data.columns:
        given = data["sdq_total"]
        total = pd.to_numeric(given, errors="coerce")
        bad = (given.notna() & given.astype("string").str.strip().ne("").fillna(False) & total.isna()) | \
            (total.notna() & ((total < 0) | (total > 40) | (total != total.round())))
        if bad.any():
            raise DataError(f"Column 'sdq_total' must hold a whole number from 0 to 40 (the SDQ's total difficulties "
                            f"range), but {describe_rows(data.index[bad])} ({SHEET_ROWS}) hold "
                            f"{given[bad].iloc[0]!r}.")
    if "sdq_total_band" in data.columns:
        band = data["sdq_total_band"].astype("string").str.strip().str.lower()
        total = pd.to_numeric(data["sdq_total"], errors="coerce") if "sdq_total" in data.columns else None
        return total, band, float("nan")
    if "sdq_total" in data.columns:
        total = pd.to_numeric(data["sdq_total"], errors="coerce")
        rule = {r.id: r for r in sdq.scores}["sdq_total"]
        band = pd.Series(pd.NA, index=data.index, dtype="string")
        for b in rule.bands:
            band[(total >= b.low) & (total <= b.high)] = b.label
        return total, band, float("nan")
    return None, None, float("nan")


def support_flags(data: pd.DataFrame, *, previous: pd.DataFrame | None = None, version: str | None = None,
                  staff_cutoff: float | None = None, belonging_cutoff: float | None = None,
                  reliability: dict | None = None, ci_level: float = 0.95,
                  sdq_bands: tuple = ("high", "very high")) -> FlagResult:
    """Flag pupils for a conversation, each flag with its reason and measurement error.

    Parameters
    ----------
    data : DataFrame
        Filled questionnaire sheet with ``pupil_ref`` (row labels, the spreadsheet's row numbers when read with
        :func:`~belonging_lib.schools._common.read_table`, name rows in messages); optional name
        columns (``name``, ``first_name`` ...), SDQ items (``sdq_01`` ... ``sdq_25``) or ``sdq_total`` /
        ``sdq_total_band``.
    previous : DataFrame, optional
        The same version's sheet from an earlier wave, matched on ``pupil_ref``.
    version : {"primary", "secondary"}, optional
    staff_cutoff, belonging_cutoff : float, optional
        Flag a score strictly below the cut-off.  Default: the middle of the answer scale (3 on the
        secondary version's 1-5, 2 on the primary's 1-3), i.e. pupils who on balance do not agree.
    reliability : dict, optional
        ``{"staff": alpha, "total": alpha}`` to use instead of alphas estimated from ``data`` (and
        ``"total_previous"`` for the reliable change; default: alpha of the earlier wave).
    ci_level : float
        Level of the measurement-error band and of the reliable change (0.95: 1.96 SEM, |RCI| > 1.96).
    sdq_bands : tuple of str
        SDQ total-difficulties bands that flag.

    Returns
    -------
    FlagResult

    Notes
    -----
    The standard error of measurement is :math:`SEM = SD\\sqrt{1-\\alpha}` (SD of the scores in this
    file).  The reliable change index is :math:`(x_2 - x_1) / (SD_1\\sqrt 2\\sqrt{1 - r_{xx}})`
    (Jacobson & Truax, 1991), computed by :func:`belonging_lib.transitions.reliable_change` with the
    earlier wave's SD and alpha; a drop beyond the critical value flags.
    """
    from scipy import stats

    from ..transitions import reliable_change

    version = check_responses(data, version=version, what="support-plan")
    scores = score_responses(data, version=version, what="support-plan")
    inst = instrument_for(version)
    refs = _refs(data, "support-plan")
    dup = refs.duplicated(keep=False)
    if dup.any():
        raise DataError(f"Column 'pupil_ref' repeats a reference in {describe_rows(data.index[dup])} ({SHEET_ROWS}).")
    lo, hi = inst.response_range
    mid = (lo + hi) / 2
    staff_cutoff = mid if staff_cutoff is None else float(staff_cutoff)
    belonging_cutoff = mid if belonging_cutoff is None else float(belonging_cutoff)
    ci = ci_level
    z = float(stats.norm.ppf(0.5 + ci_level / 2))
    rel = dict(reliability or {})
    _check_reliabilities(rel)
    for key, part in (("staff", "staff"), ("total", None)):
        if key not in rel:
            rel[key] = _alpha(data, version, part)
    label = parts(version)
    out = pd.DataFrame(index=pd.Index(refs.to_numpy(), name="pupil_ref"))
    out["row"] = data.index.to_numpy()
    names = [c for c in _NAME_COLUMNS if c in data.columns]
    out["name"] = (data[names].astype("string").fillna("").agg(" ".join, axis=1).str.strip().to_numpy()
                   if names else "")
    reasons: list[list[str]] = [[] for _ in range(len(out))]
    false_alarm = np.ones(len(out), dtype=bool)
    counts = []
    for key, col, cut, what in (("low_staff", "staff", staff_cutoff, f"\u201c{label['staff']}\u201d score"),
                                ("low_belonging", "total", belonging_cutoff, "belonging score (all items)")):
        y = scores[col].to_numpy(dtype=float)
        finite = y[np.isfinite(y)]
        sem = float(np.std(finite, ddof=1) * np.sqrt(1 - rel[col])) if finite.size > 1 else float("nan")
        out[col] = y
        out[f"{col}_sem"] = sem
        flag = y < cut
        known = bool(np.isfinite(sem))
        # without a measurement error there is no band, so no verdict: the flag may be a false alarm
        reach = flag & ((y + z * sem >= cut) if known else True)
        out[key] = flag
        for i in np.where(flag)[0]:
            if not known:
                reasons[i].append(f"Low {what}: {y[i]:.2f} (cut-off {cut:g} on the {lo}-{hi} scale). The measurement "
                                  "error cannot be computed from this file (too few pupils, or no spread of scores), "
                                  "so there is no verdict on this flag: treat it as possibly a false alarm.")
                continue
            band = (max(y[i] - z * sem, lo), min(y[i] + z * sem, hi))   # a band never leaves the scale
            verdict = ("the band reaches the cut-off, so this flag may be a false alarm" if reach[i]
                       else "the whole band lies below the cut-off")
            reasons[i].append(f"Low {what}: {y[i]:.2f} (cut-off {cut:g} on the {lo}-{hi} scale); measurement "
                              f"error \u00b1{z * sem:.2f} ({ci:.0%} band {band[0]:.2f} to {band[1]:.2f}, alpha "
                              f"{rel[col]:.2f}); {verdict}.")
        counts.append({"flag": key, "cutoff": cut, "n_assessed": int(np.isfinite(y).sum()), "n_flagged": int(flag.sum()),
                       "n_band_reaches_cutoff": int(reach.sum())})
        false_alarm &= ~(flag & ~reach)
    n_matched = n_unmatched = 0
    out["change"] = np.nan
    out["rci"] = np.nan
    out["reliable_drop"] = False
    if previous is not None:
        before_scores = score_responses(previous, version=version, what="previous")
        before_refs = _refs(previous, "previous")
        before = pd.Series(before_scores["total"].to_numpy(dtype=float), index=before_refs.to_numpy())
        if before.index.duplicated().any():
            raise DataError("Column 'pupil_ref' of the previous file repeats a reference.")
        if "total_previous" not in rel:
            rel["total_previous"] = _alpha(previous, version, None)
        sd_before = float(before.std(ddof=1))
        common = out.index.intersection(before.index)
        n_matched, n_unmatched = int(len(common)), int(len(out) - len(common))
        check_rounds_match(out.index, before.index, n_matched, what="support-plan")
        rc = reliable_change(before.reindex(out.index), out["total"], reliability=rel["total_previous"],
                             sd=sd_before, ci_level=ci)
        out["total_previous"] = before.reindex(out.index).to_numpy()
        out["change"] = rc["change"].to_numpy(dtype=float)
        out["rci"] = rc["rci"].to_numpy(dtype=float)
        drop = (rc["category"] == "reliable decline").fillna(False).to_numpy(dtype=bool)
        out["reliable_drop"] = drop
        se_diff = sd_before * np.sqrt(2) * np.sqrt(1 - rel["total_previous"])
        for i in np.where(drop)[0]:
            reasons[i].append(f"Belonging fell from {out['total_previous'].iloc[i]:.2f} to {out['total'].iloc[i]:.2f} "
                              f"(change {out['change'].iloc[i]:+.2f}); standard error of the difference {se_diff:.2f} "
                              f"(alpha {rel['total_previous']:.2f}), reliable change index {out['rci'].iloc[i]:.2f}, "
                              f"beyond -{z:.2f}: a drop larger than measurement error alone would often give.")
        counts.append({"flag": "reliable_drop", "cutoff": -z, "n_assessed": int(rc["rci"].notna().sum()),
                       "n_flagged": int(drop.sum()), "n_band_reaches_cutoff": 0})
        false_alarm &= ~drop
    total, band, sdq_sem = _sdq(data)
    out["sdq_flag"] = False
    if band is not None:
        b = band.fillna("").to_numpy()
        flag = np.isin(b, list(sdq_bands))
        out["sdq_total"] = np.nan if total is None else total.to_numpy(dtype=float)
        out["sdq_band"] = b
        out["sdq_flag"] = flag
        for i in np.where(flag)[0]:
            err = (f"measurement error \u00b1{z * sdq_sem:.1f} points ({ci:.0%})" if np.isfinite(sdq_sem)
                   else "measurement error not known from the band alone")
            tot = "" if total is None or pd.isna(total.iloc[i]) else f" {total.iloc[i]:.0f},"
            reasons[i].append(f"SDQ total difficulties{tot} in the \u201c{b[i]}\u201d band; {err}. The SDQ is a "
                              "screening questionnaire: a high band is a reason to talk and to look further, not a diagnosis.")
        counts.append({"flag": "sdq_high", "cutoff": np.nan, "n_assessed": int((b != "").sum()),
                       "n_flagged": int(flag.sum()), "n_band_reaches_cutoff": 0})
        false_alarm &= ~flag
    out["reasons"] = reasons
    flag_cols = ["low_staff", "low_belonging", "reliable_drop", "sdq_flag"]
    out["flagged"] = out[flag_cols].any(axis=1)
    out["possible_false_alarm"] = out["flagged"] & false_alarm
    counts = pd.DataFrame(counts)
    counts["percent"] = counts["n_flagged"] / counts["n_assessed"].where(counts["n_assessed"] > 0) * 100
    low_words, high_words, fell_words = _answers_in_words(data, version, previous, refs)
    out["low_answers"] = low_words
    out["high_answers"] = high_words
    out["fallen_answers"] = fell_words
    notes = [c for c in BEHAVIOUR_COLUMNS if c in data.columns]
    out["behaviour_notes"] = (data[notes].astype("string").fillna("").agg(" ".join, axis=1).str.strip().to_numpy()
                              if notes else "")
    answers = answers_needing_response(data, version=version)
    row_ref = pd.Series(out.index.to_numpy(), index=out["row"].to_numpy())
    answers["pupil_ref"] = answers["row"].map(row_ref).astype(str)
    said: dict = {}     # each pupil's answers that need a response, in the order of ``answers``
    for a in answers.itertuples():
        said.setdefault(a.pupil_ref, []).append(f"{a.question} \u2014 {a.answer}")
    out["needs_response"] = [" | ".join(said.get(r, ())) for r in out.index]
    return FlagResult(out, counts, version, rel, len(out), n_matched, n_unmatched, bool(names), answers)


def _check_reliabilities(rel: dict) -> None:
    """Every given reliability is a finite number strictly between 0 and 1 (else an error naming it)."""
    for key, value in rel.items():
        try:
            v = float(value)
        except (TypeError, ValueError):
            v = float("nan")
        if not (np.isfinite(v) and 0 < v < 1):
            raise DataError(f"The reliability {key!r} (--reliability on the command line) is {value!r}: a "
                            "reliability must be a number strictly between 0 and 1, such as the whole "
                            "school's alpha 0.85.")


#: Columns of staff notes on behaviour; the plan's "What the behaviour may be communicating" needs one.
BEHAVIOUR_COLUMNS = ("behaviour", "behaviour_notes", "behavior", "behavior_notes")


def _answers_in_words(data: pd.DataFrame, version: str, previous: pd.DataFrame | None,
                      refs: pd.Series) -> tuple[list, list, list]:
    """Per pupil: the least positive answers, the most positive answers, and answers that fell by 2+ codes.

    Answers are quoted as the pupil gave them (question, then the answer's label); which end is positive
    follows each question's key.
    """
    from ..scoring import clean_items

    inst = instrument_for(version)
    lo, hi = inst.response_range
    labels = dict(inst.labels)
    items = {r.id: r.text for r in questionnaire_items(version).itertuples()}
    raw = clean_items(data, inst)
    keyed = clean_items(data, inst, reverse=True)
    before = None
    if previous is not None:
        prev_keyed = clean_items(previous, inst, reverse=True)
        prev_keyed.index = _refs(previous, "previous").to_numpy()
        before = prev_keyed[~prev_keyed.index.duplicated()]
    low_cut = lo + (hi - lo) / 4          # 1-5: 1 and 2; 1-3: 1
    low, high, fell = [], [], []
    cols = list(inst.item_ids)
    keyed_rows = keyed[cols].to_numpy(dtype=float)      # one array each, not a row Series per pupil
    raw_rows = raw[cols].to_numpy(dtype=float)
    before_rows = before[cols].to_numpy(dtype=float) if before is not None else None
    before_pos = {ref: i for i, ref in enumerate(before.index)} if before is not None else {}
    texts = [items[c] for c in cols]
    for pos in range(len(data)):
        k, r = keyed_rows[pos], raw_rows[pos]
        low.append([(texts[j], labels.get(int(r[j]), "")) for j in range(len(cols)) if pd.notna(k[j]) and k[j] <= low_cut])
        high.append([(texts[j], labels.get(int(r[j]), "")) for j in range(len(cols)) if pd.notna(k[j]) and k[j] == hi])
        ref = refs.iloc[pos]
        if before_rows is not None and ref in before_pos:
            b = before_rows[before_pos[ref]]
            fell.append([texts[j] for j in range(len(cols)) if pd.notna(k[j]) and pd.notna(b[j]) and b[j] - k[j] >= 2])
        else:
            fell.append([])
    return low, high, fell


def _plan_docx(path: Path, ref: str, row: pd.Series, *, review_weeks: int, with_change: bool,
               has_name: bool, answers: pd.DataFrame | None = None, scale: tuple = (1, 5),
               review_due: _dt.date | None = None) -> None:
    import docx

    from ._docx import StyledDocument, add_table, field, set_a4

    doc = StyledDocument(docx.Document())
    set_a4(doc)
    doc.add_paragraph(PLAN_MARKER).runs[0].bold = True
    doc.add_heading("Pupil support plan", level=1)
    doc.add_paragraph("A plan agreed with the pupil (and family where appropriate) after a conversation. "
                      "The survey answers below were a reason to talk, not a diagnosis; some flags are false alarms.")
    p = doc.add_paragraph()
    p.add_run(NOT_A_SCREEN).bold = True
    field(doc, "Pupil reference", ref)
    if has_name:
        field(doc, "Name", str(row.get("name", "")))
    field(doc, "Date of conversation")
    field(doc, "Staff member")
    if answers is not None and len(answers):
        doc.add_heading("Answers that need a response today", level=2)
        doc.add_paragraph("The pupil gave these answers; each needs an adult's response today, whatever the scores "
                          "(see answers_needing_response.html for what to do).")
        for a in answers.itertuples():
            doc.add_paragraph(f"\u201c{a.question}\u201d \u2014 {a.answer}", style="List Bullet")
    doc.add_heading("Why we are talking", level=2)
    low = row.get("low_answers") or []
    fell = row.get("fallen_answers") or []
    if low:
        doc.add_paragraph("In the survey the pupil gave these less positive answers (a starting point: ask about "
                          "them, do not read them out as a verdict):")
        for text, answer in low:
            doc.add_paragraph(f"\u201c{text}\u201d \u2014 {answer}", style="List Bullet")
    if fell:
        doc.add_paragraph("Answers that are less positive than at the earlier survey:")
        for text in fell:
            doc.add_paragraph(f"\u201c{text}\u201d", style="List Bullet")
    if not low and not fell:
        doc.add_paragraph("The pupil's answers were lower overall than the cut-off, without one answer standing out.")
    doc.add_paragraph("Questions to open with: what is going well at school? Is there anything that makes school "
                      "harder at the moment? Who would you go to if you were worried?")
    doc.add_heading("Strengths", level=2)
    high = row.get("high_answers") or []
    if high:
        doc.add_paragraph("In the survey the pupil gave these most positive answers:")
        for text, answer in high:
            doc.add_paragraph(f"\u201c{text}\u201d \u2014 {answer}", style="List Bullet")
    doc.add_paragraph("What the pupil is good at, enjoys, and who and what helps them (in the pupil's words where possible):")
    doc.add_paragraph("_" * 60)
    doc.add_heading("Trusted adult", level=2)
    field(doc, "Trusted adult", hint="Someone the pupil chooses and who agrees to check in regularly.")
    field(doc, "How often they will check in")
    notes = str(row.get("behaviour_notes") or "").strip()
    if notes:       # only where staff recorded behaviour: a pupil flagged by survey answers alone has none
        doc.add_heading("What the behaviour may be communicating", level=2)
        doc.add_paragraph(f"Staff notes: {notes}")
        doc.add_paragraph("What might this be telling us (an unmet need, a worry, a difficulty with friendships or "
                          "learning)? Avoid labels.")
        doc.add_paragraph("_" * 60)
    doc.add_heading("Agreed actions", level=2)
    add_table(doc, pd.DataFrame(columns=["Action", "Who", "By when"]), blank_rows=4)
    doc.add_heading("Review", level=2)
    due = (review_due or (_dt.date.today() + _dt.timedelta(weeks=review_weeks))).isoformat()
    field(doc, "Review date", f"{due} (suggested; change as agreed)")
    doc.add_heading("Pathway", level=2)
    doc.add_paragraph("Tick one or more, and record the referral date:")
    for text in PATHWAYS:
        doc.add_paragraph("[ ] " + text)
    doc.add_paragraph("Keep this document only in the pupil's confidential record; share it only with staff who "
                      "need it; delete it under the school's retention schedule.")
    # ---- staff-only appendix: the statistics, in plain words first
    doc.add_page_break()
    doc.add_heading("For staff only: the numbers behind the flags", level=2)
    doc.add_paragraph("Do not share this page with the pupil or family as a judgement. A survey score moves by "
                      "chance from one day to the next; the measurement error says by about how much, and the band "
                      f"is the range the pupil's true score probably lies in (kept within the {scale[0]}-{scale[1]} "
                      "scale). A flag whose band reaches the cut-off may be a false alarm.")
    for reason in row["reasons"]:
        doc.add_paragraph(reason, style="List Bullet")
    if with_change:
        doc.add_heading("Change since the earlier survey", level=3)
        if pd.notna(row.get("total_previous", np.nan)):
            doc.add_paragraph(f"Belonging score at the earlier survey {row['total_previous']:.2f}, now {row['total']:.2f} "
                              f"(change {row['change']:+.2f}, reliable change index {row['rci']:.2f}). This is the "
                              "change between the two surveys, before this plan; a change within measurement error "
                              "is not evidence that anything worked or failed.")
        else:
            doc.add_paragraph("No answers from the earlier survey for this pupil reference.")
    doc.save(str(path))


def read_term_dates(path: str | os.PathLike) -> list[tuple[_dt.date, _dt.date]]:
    """Holidays from a term-dates file (CSV or Excel with columns ``start`` and ``end``, one holiday a row).

    Dates are read as day-first when written like 20/10/2026 (the UK form) or as ISO 2026-10-20.  Errors
    name the row (as the spreadsheet numbers it) and the value.
    """
    from ._common import read_table

    t = read_table(path, what="term-dates", expect=lambda cols: "start" in cols and "end" in cols)
    for col in ("start", "end"):
        if col not in t.columns:
            raise ColumnError(f"The term-dates file has no column {col!r}: give one holiday a row, with its first "
                              "day in 'start' and its last day in 'end'.")
    out = []
    for row, (a, b) in zip(t.index, zip(t["start"], t["end"])):
        try:
            s = pd.to_datetime(str(a).strip(), dayfirst="/" in str(a)).date()
            e = pd.to_datetime(str(b).strip(), dayfirst="/" in str(b)).date()
        except (ValueError, TypeError):
            raise DataError(f"The term-dates file, row {row} ({SHEET_ROWS}): "
                            f"{a!r} to {b!r} is not a pair of dates such as 2026-10-26 or 26/10/2026.") from None
        if e < s:
            raise DataError(f"The term-dates file, row {row}: the holiday ends ({e}) before it starts ({s}).")
        out.append((s, e))
    return out


def _review_date(start: _dt.date, weeks: int, holidays=()) -> _dt.date:
    """The date ``weeks`` school weeks after ``start``: each holiday inside the period adds its length in
    whole weeks (a five-day half term adds one week), and the date never falls in a holiday or at a weekend.

    Examples
    --------
    >>> import datetime as dt
    >>> _review_date(dt.date(2026, 10, 12), 2, [(dt.date(2026, 10, 26), dt.date(2026, 10, 30))])
    datetime.date(2026, 11, 2)
    """
    base = start + _dt.timedelta(weeks=weeks)
    due = base
    while True:
        extra = 0
        for s, e in holidays:
            overlap = (min(e, due) - max(s, start + _dt.timedelta(days=1))).days + 1
            if overlap > 0:
                extra += -(-overlap // 7)
        new = base + _dt.timedelta(weeks=extra)
        if new == due:
            break
        due = new
    moved = True
    while moved:
        moved = False
        for s, e in holidays:
            if s <= due <= e:
                due, moved = e + _dt.timedelta(days=1), True
        if due.weekday() >= 5:
            due, moved = due + _dt.timedelta(days=7 - due.weekday()), True
    return due


RUN_RECORD = "run.json"


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def earlier_runs(out: str | os.PathLike) -> list[tuple[Path, dict]]:
    """The support-plan runs already in ``out``: ``(run folder, its record)``, oldest first."""
    import json

    runs = []
    folder = Path(out)
    if folder.is_dir():
        for sub in folder.iterdir():
            rec = sub / RUN_RECORD
            if sub.is_dir() and rec.is_file():
                try:
                    runs.append((sub, json.loads(rec.read_text(encoding="utf-8"))))
                except ValueError:
                    continue
    return sorted(runs, key=lambda r: (str(r[1].get("created", "")), r[0].name))


@dataclasses.dataclass(frozen=True)
class PlanRun:
    """What one :func:`write_support_plans` run wrote and how it compares with the run before.

    Attributes
    ----------
    folder : Path
        The new dated folder under ``out`` that holds this run's files.
    paths : list of Path
    new, unchanged, changed, no_longer : list of str
        Pupil references flagged now and not in the last run; flagged in both for the same reasons;
        flagged in both for other reasons; flagged in the last run and not now.
    edited_plans : dict
        Reference -> earlier plan files (any earlier run) edited since they were written; they are kept
        as they are, and the new plan says where they are.
    renamed : list of list of str
        Groups of references whose file names would have collided; the later ones got a suffix.
    previous_folder : Path or None
    """

    folder: Path
    paths: list
    new: list
    unchanged: list
    changed: list
    no_longer: list
    edited_plans: dict
    renamed: list
    previous_folder: Path | None

    def __iter__(self):
        return iter(self.paths)

    def __len__(self) -> int:
        return len(self.paths)

    def message(self) -> str:
        """Counts only (no pupil reference), for the command's output."""
        lines = [f"This run's files are in the new folder {self.folder}; no earlier file was changed."]
        if self.previous_folder is not None:
            lines.append(f"Compared with the last run ({self.previous_folder.name}): {len(self.new)} newly flagged, "
                         f"{len(self.unchanged)} flagged again for the same reasons, {len(self.changed)} flagged "
                         f"again for other reasons, {len(self.no_longer)} no longer flagged (see "
                         "support_summary.html).")
        if self.edited_plans:
            lines.append(f"{len(self.edited_plans)} pupil(s) have an earlier plan that staff have edited: it is kept "
                         "where it was, and the new plan names it. Carry the agreed actions forward.")
        if self.renamed:
            n = sum(len(g) for g in self.renamed)
            lines.append(f"{n} pupil references would have given the same file name ({len(self.renamed)} group(s), "
                         "e.g. 'A/1' and 'A_1'): the later ones got a numbered suffix; flags.csv's plan_file "
                         "column gives each pupil's file.")
        return "\n".join(lines)


def write_support_plans(result: FlagResult, out: str | os.PathLike, *, review_weeks: int = 6,
                        synthetic: bool = False, holidays=()) -> PlanRun:
    """Write this run's files into a new dated folder under ``out``, never changing an earlier file.

    The run folder (``plans_YYYY-MM-DD``, numbered when one exists already) holds one
    ``support_plan_<ref>.docx`` per flagged pupil (file names made safe on every system and unique),
    ``flags.csv`` (every text cell neutralised against formulas), ``support_summary.html``,
    ``answers_needing_response.html`` and ``run.json`` (the flags and a fingerprint of each plan, so
    that a later run can tell which plans staff have edited).  Names appear only when the school's file
    had name columns.  A later run into the same ``out`` compares itself with the last one: newly
    flagged, unchanged, flagged for other reasons, no longer flagged.  ``holidays`` (from
    :func:`read_term_dates`) are skipped when the review date is counted.
    """
    import json

    from ._common import DATA_PROTECTION_REMINDER, out_dir, render, unique_file_stems, unused_path

    base = out_dir(out)
    runs = earlier_runs(base)
    folder = unused_path(base / f"plans_{_dt.date.today().isoformat()}")
    folder.mkdir()
    paths = []
    pupils = result.pupils
    flagged = pupils[pupils["flagged"]]
    with_change = "total_previous" in pupils
    stems, renamed = unique_file_stems([str(r) for r in flagged.index])
    answers = result.needs_response
    # earlier plans, and whether staff have edited them since they were written
    edited: dict[str, list[str]] = {}
    for run_folder, rec in runs:
        for ref, info in rec.get("flagged", {}).items():
            plan = run_folder / str(info.get("plan", ""))
            if info.get("plan") and plan.is_file() and _sha256(plan) != info.get("sha256"):
                edited.setdefault(ref, []).append(str(plan))
    record = {"created": _dt.datetime.now().isoformat(timespec="seconds"), "flagged": {}}
    plan_file = {}
    for ref, row in flagged.iterrows():
        ref = str(ref)
        p = folder / f"support_plan_{stems[ref]}.docx"
        mine = answers[answers["pupil_ref"] == ref] if len(answers) else None
        _plan_docx(p, ref, row, review_weeks=review_weeks, with_change=with_change, has_name=result.has_names,
                   answers=mine, scale=instrument_for(result.version).response_range,
                   review_due=_review_date(_dt.date.today(), review_weeks, holidays))
        if ref in edited:
            import docx

            doc = docx.Document(str(p))
            doc.add_heading("Earlier plan", level=2)
            doc.add_paragraph("Staff have edited an earlier plan for this pupil; it is kept unchanged at: "
                              + "; ".join(edited[ref]) + ". Carry its agreed actions forward.")
            doc.save(str(p))
        plan_file[ref] = p.name
        keys = [k for k in ("low_staff", "low_belonging", "reliable_drop", "sdq_flag") if bool(row[k])]
        record["flagged"][ref] = {"flags": keys, "plan": p.name, "sha256": _sha256(p)}
        paths.append(p)
    table = pupils.drop(columns=["reasons", "low_answers", "high_answers", "fallen_answers"]).assign(
        reasons=[" | ".join(r) for r in pupils["reasons"]],
                                                    plan_file=[plan_file.get(str(r), "") for r in pupils.index])
    if not result.has_names:
        table = table.drop(columns=["name"])
    write_csv(table, folder / "flags.csv")
    paths.append(folder / "flags.csv")
    from .safeguarding import _page

    nr = folder / "answers_needing_response.html"
    nr.write_text(_page(answers, what="support-plan", synthetic=synthetic), encoding="utf-8")
    paths.append(nr)
    # comparison with the last run
    prev_folder, prev = (runs[-1] if runs else (None, {}))
    before = {r: set(v.get("flags", [])) for r, v in prev.get("flagged", {}).items()}
    now = {r: set(v["flags"]) for r, v in record["flagged"].items()}
    new = sorted(set(now) - set(before))
    unchanged = sorted(r for r in now if r in before and now[r] == before[r])
    changed = sorted(r for r in now if r in before and now[r] != before[r])
    no_longer = sorted(set(before) - set(now))
    names = {"low_staff": "Low relationships-with-staff score", "low_belonging": "Low belonging score",
             "reliable_drop": "Reliable drop since the earlier wave", "sdq_high": "SDQ total in a high band"}
    short = {"low_staff": "low staff-relationships score", "low_belonging": "low belonging score",
             "reliable_drop": "reliable drop", "sdq_flag": "SDQ high band"}
    lines = []
    for c in result.counts.itertuples():
        if pd.isna(c.cutoff):
            cut = ""
        elif c.flag == "reliable_drop":  # the change index's cut-off, in words (it is not a score)
            cut = f" (a fall larger than measurement error explains: change index below {c.cutoff:.2f})"
        else:
            cut = f" (cut-off {c.cutoff:.2f})"
        extra = (f"; for {c.n_band_reaches_cutoff} of them the measurement-error band reaches the cut-off (or "
                 "cannot be computed), so they may be false alarms") if c.n_band_reaches_cutoff else ""
        pct = "" if pd.isna(c.percent) else f" ({c.percent:.0f}%)"
        lines.append(f"{names.get(c.flag, c.flag)}{cut}: flags {c.n_flagged} of {c.n_assessed} pupils{pct}{extra}.")
    esc = _html.escape
    listing = "".join(
        f"<tr><td>{esc(str(r))}</td><td>{esc(', '.join(short[k] for k in record['flagged'][str(r)]['flags']))}</td>"
        f"<td>{'yes' if pupils.loc[r, 'needs_response'] else ''}</td><td>{esc(plan_file[str(r)])}</td></tr>"
        for r in flagged.index)
    compare = ""
    if prev_folder is not None:
        def refs(xs):
            return esc(", ".join(xs)) or "none"
        compare = (f"<h2>Since the last run ({esc(prev_folder.name)})</h2><ul>"
                   f"<li>Newly flagged ({len(new)}): {refs(new)}</li>"
                   f"<li>Flagged again for the same reasons ({len(unchanged)}): {refs(unchanged)}</li>"
                   f"<li>Flagged again for other reasons ({len(changed)}): {refs(changed)}</li>"
                   f"<li>No longer flagged ({len(no_longer)}): {refs(no_longer)}. Their earlier plans stay where "
                   "they are; review them as agreed rather than closing them because a score changed.</li></ul>")
    if edited:
        compare += ("<p>Earlier plans edited by staff (kept unchanged; the new plans name them): "
                    + esc(", ".join(sorted(edited))) + ".</p>")
    n_resp = int(answers["pupil_ref"].nunique()) if len(answers) else 0
    body = ("<h1>Support planning: summary</h1>"
            + ("<div class='synthetic'>Synthetic data: every pupil here was simulated.</div>" if synthetic else "")
            + f"<div class='warn'><b>{esc(NOT_A_SCREEN)}</b></div>"
            + f"<div class='warn'><b>{n_resp} pupil(s) gave answers that need an adult's response today, whatever "
            "their flags: see answers_needing_response.html.</b></div>"
            + f"<p>{result.n_pupils} pupils; {result.n_flagged} flagged for a conversation by at least one flag. "
            "Flags are prompts for a conversation, never a diagnosis. Any cut-off flags some pupils whose true "
            "score is above it (false alarms) and misses some whose true score is below it.</p><ul>"
            + "".join(f"<li>{esc(x)}</li>" for x in lines) + "</ul>"
            + (f"<p>{result.n_previous_matched} pupils matched the earlier wave; {result.n_previous_unmatched} did not.</p>"
               if with_change else "")
            + ("<h2>Flagged pupils</h2><table><tr><th>Pupil</th><th>Flags</th><th>Answers needing a response"
               "</th><th>Plan</th></tr>" + listing + "</table>" if listing else "")
            + compare
            + f"<p class='small'>{esc(DATA_PROTECTION_REMINDER)}</p>")
    summary = folder / "support_summary.html"
    summary.write_text(render("schools_base.html.j2", title="Support planning summary").replace(
        "<body>\n", "<body>\n" + body, 1), encoding="utf-8")
    paths.append(summary)
    (folder / RUN_RECORD).write_text(json.dumps(record, indent=1, ensure_ascii=False), encoding="utf-8")
    return PlanRun(folder, paths, new, unchanged, changed, no_longer, edited, renamed,
                   None if prev_folder is None else Path(prev_folder))
