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
safeguarding concern goes to the designated safeguarding lead the same day.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import html as _html
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from .._errors import ColumnError, DataError
from .._validation import describe_rows
from ._common import NOT_A_SCREEN
from .questionnaire import check_responses, instrument_for, parts, score_responses

__all__ = ["FlagResult", "support_flags", "write_support_plans", "PLAN_MARKER", "PATHWAYS"]

#: Text on every support-plan document (tests search the book and build/ for it).
PLAN_MARKER = "Pupil support plan - confidential - belonging_lib"

PATHWAYS = ("Pastoral lead (tutor, head of year): relationships, belonging, attendance, friendships.",
            "SENCo: a possible special educational need or disability, or a change to agreed adjustments.",
            "Designated safeguarding lead: ANY concern that the pupil may be at risk of harm, the same day.")

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
    """

    pupils: pd.DataFrame
    counts: pd.DataFrame
    version: str
    reliability: dict
    n_pupils: int
    n_previous_matched: int = 0
    n_previous_unmatched: int = 0
    has_names: bool = False

    @property
    def n_flagged(self) -> int:
        return int(self.pupils["flagged"].sum())


def _alpha(data: pd.DataFrame, version: str, part: str | None) -> float:
    from ..reliability import scale_reliability

    inst = instrument_for(version)
    return float(scale_reliability(data, inst, subscale=part, progress=False).alpha)


def _refs(data: pd.DataFrame, what: str) -> pd.Series:
    if "pupil_ref" not in data.columns:
        raise ColumnError(f"The {what} file has no column 'pupil_ref': support planning needs a pupil reference "
                          "on every row (a code such as P017, kept apart from names).")
    refs = data["pupil_ref"].astype("string").str.strip()
    blank = refs.isna() | (refs == "")
    if blank.any():
        raise DataError(f"Column 'pupil_ref' of the {what} file is empty in {describe_rows(data.index[blank])} "
                        "(counted from 1, after the header).")
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
        Filled questionnaire sheet with ``pupil_ref`` (rows counted from 1 in messages); optional name
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
        raise DataError(f"Column 'pupil_ref' repeats a reference in {describe_rows(data.index[dup])} (counted from 1).")
    lo, hi = inst.response_range
    mid = (lo + hi) / 2
    staff_cutoff = mid if staff_cutoff is None else float(staff_cutoff)
    belonging_cutoff = mid if belonging_cutoff is None else float(belonging_cutoff)
    ci = ci_level
    z = float(stats.norm.ppf(0.5 + ci_level / 2))
    rel = dict(reliability or {})
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
        sem = float(np.nanstd(y, ddof=1) * np.sqrt(1 - rel[col]))
        out[col] = y
        out[f"{col}_sem"] = sem
        flag = y < cut
        reach = flag & (y + z * sem >= cut)
        out[key] = flag
        for i in np.where(flag)[0]:
            band = (y[i] - z * sem, y[i] + z * sem)
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
    return FlagResult(out, counts, version, rel, len(out), n_matched, n_unmatched, bool(names))


def _safe_name(ref: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", ref)[:60] or "pupil"


def _plan_docx(path: Path, ref: str, row: pd.Series, *, review_weeks: int, with_change: bool,
               has_name: bool) -> None:
    import docx

    from ._docx import add_table, field

    doc = docx.Document()
    doc.add_paragraph(PLAN_MARKER).runs[0].bold = True
    doc.add_heading("Pupil support plan", level=1)
    doc.add_paragraph("A plan agreed with the pupil (and family where appropriate) after a conversation. "
                      "The survey flag below was a reason to talk, not a diagnosis; some flags are false alarms.")
    p = doc.add_paragraph()
    p.add_run(NOT_A_SCREEN).bold = True
    field(doc, "Pupil reference", ref)
    if has_name:
        field(doc, "Name", str(row.get("name", "")))
    field(doc, "Date of conversation")
    field(doc, "Staff member")
    doc.add_heading("Why we are talking", level=2)
    for reason in row["reasons"]:
        doc.add_paragraph(reason, style="List Bullet")
    doc.add_heading("Strengths", level=2)
    doc.add_paragraph("What the pupil is good at, enjoys, and who and what helps them (in the pupil's words where possible):")
    doc.add_paragraph("_" * 60)
    doc.add_heading("Trusted adult", level=2)
    field(doc, "Trusted adult", hint="Someone the pupil chooses and who agrees to check in regularly.")
    field(doc, "How often they will check in")
    doc.add_heading("What the behaviour may be communicating", level=2)
    doc.add_paragraph("Describe what staff see, then what it might be telling us (an unmet need, a worry, "
                      "a difficulty with friendships or learning). Avoid labels.")
    doc.add_paragraph("_" * 60)
    doc.add_heading("Agreed actions", level=2)
    add_table(doc, pd.DataFrame(columns=["Action", "Who", "By when"]), blank_rows=4)
    doc.add_heading("Review", level=2)
    due = (_dt.date.today() + _dt.timedelta(weeks=review_weeks)).isoformat()
    field(doc, "Review date", f"{due} (suggested; change as agreed)")
    doc.add_heading("Pathway", level=2)
    doc.add_paragraph("Tick one or more, and record the referral date:")
    for text in PATHWAYS:
        doc.add_paragraph("[ ] " + text)
    if with_change:
        doc.add_heading("Change since the plan", level=2)
        if pd.notna(row.get("total_previous", np.nan)):
            doc.add_paragraph(f"Belonging score at the earlier wave {row['total_previous']:.2f}, now {row['total']:.2f} "
                              f"(change {row['change']:+.2f}, reliable change index {row['rci']:.2f}). A change "
                              "within measurement error is not evidence that the plan worked or failed.")
        else:
            doc.add_paragraph("No answers from the earlier wave for this pupil reference.")
    doc.add_paragraph("Keep this document only in the pupil's confidential record; share it only with staff who "
                      "need it; delete it under the school's retention schedule.")
    doc.save(str(path))


def write_support_plans(result: FlagResult, out: str | os.PathLike, *, review_weeks: int = 6,
                        synthetic: bool = False) -> list[Path]:
    """Write one ``support_plan_<ref>.docx`` per flagged pupil, ``flags.csv`` and ``support_summary.html``.

    Everything goes into ``out`` only.  Names appear only when the school's file had name columns.
    Returns the paths written.
    """
    from ._common import DATA_PROTECTION_REMINDER, out_dir, render

    folder = out_dir(out)
    paths = []
    flagged = result.pupils[result.pupils["flagged"]]
    with_change = "total_previous" in result.pupils
    for ref, row in flagged.iterrows():
        p = folder / f"support_plan_{_safe_name(str(ref))}.docx"
        _plan_docx(p, str(ref), row, review_weeks=review_weeks, with_change=with_change, has_name=result.has_names)
        paths.append(p)
    table = result.pupils.drop(columns=["reasons"]).assign(reasons=[" | ".join(r) for r in result.pupils["reasons"]])
    if not result.has_names:
        table = table.drop(columns=["name"])
    table.to_csv(folder / "flags.csv")
    paths.append(folder / "flags.csv")
    names = {"low_staff": "Low relationships-with-staff score", "low_belonging": "Low belonging score",
             "reliable_drop": "Reliable drop since the earlier wave", "sdq_high": "SDQ total in a high band"}
    lines = []
    for c in result.counts.itertuples():
        cut = "" if pd.isna(c.cutoff) else f" (cut-off {c.cutoff:g})"
        extra = (f"; for {c.n_band_reaches_cutoff} of them the measurement-error band reaches the cut-off, so they "
                 "may be false alarms") if c.n_band_reaches_cutoff else ""
        pct = "" if pd.isna(c.percent) else f" ({c.percent:.0f}%)"
        lines.append(f"{names.get(c.flag, c.flag)}{cut}: flags {c.n_flagged} of {c.n_assessed} pupils{pct}{extra}.")
    body = ("<h1>Support planning: summary</h1>"
            + ("<div class='synthetic'>Synthetic data: every pupil here was simulated.</div>" if synthetic else "")
            + f"<div class='warn'><b>{_html.escape(NOT_A_SCREEN)}</b></div>"
            + f"<p>{result.n_pupils} pupils; {result.n_flagged} flagged for a conversation by at least one flag. "
            "Flags are prompts for a conversation, never a diagnosis. Any cut-off flags some pupils whose true "
            "score is above it (false alarms) and misses some whose true score is below it.</p><ul>"
            + "".join(f"<li>{_html.escape(x)}</li>" for x in lines) + "</ul>"
            + (f"<p>{result.n_previous_matched} pupils matched the earlier wave; {result.n_previous_unmatched} did not.</p>"
               if with_change else "")
            + f"<p class='small'>{_html.escape(DATA_PROTECTION_REMINDER)}</p>")
    summary = folder / "support_summary.html"
    summary.write_text(render("schools_base.html.j2", title="Support planning summary").replace(
        "<body>\n", "<body>\n" + body, 1), encoding="utf-8")
    paths.append(summary)
    return paths
