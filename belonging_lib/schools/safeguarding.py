"""Answers that need an adult's response today, listed per pupil, apart from any statistics.

Some answers are not data to be averaged but something a pupil has told the school: that they are
picked on again and again, that they do not feel safe, that no adult at school cares about them, that
there is no adult they could talk to when worried.
The questionnaire's instrument files mark these answers (``needs_response: {codes, concern}`` on an
item).  Every tool that reads pupil answers (class report, support plans, the audit's pupils' view)
calls :func:`answers_needing_response` first and, on a named or coded survey, writes
``answers_needing_response.html`` into the folder the user named: one row per answer, with what to
do today.  No cut-off, score or reliability stands between an answer and this list.

An anonymous survey (no ``pupil_ref`` and no name column) cannot do this: the answers cannot be traced
to a pupil.  The tools then say so, count the answers for the designated safeguarding lead, and advise
acting for the whole class.

What to do follows *Keeping children safe in education* (Department for Education, statutory guidance
for schools and colleges in England, https://www.gov.uk/government/publications/keeping-children-safe-in-education--2):
staff act on a concern about a child's welfare immediately, following the school's child protection
policy and speaking to the designated safeguarding lead (DSL) or a deputy; child-on-child abuse,
bullying included, is dealt with under the school's procedures, the anti-bullying procedure among them.
"""

from __future__ import annotations

import dataclasses
import html as _html
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "CONCERNS",
    "KCSIE_URL",
    "needs_response_items",
    "answers_needing_response",
    "is_named_survey",
    "NeedsResponse",
    "respond_to_answers",
]

KCSIE_URL = "https://www.gov.uk/government/publications/keeping-children-safe-in-education--2"

#: Concern -> (short description, what to do today).
CONCERNS = {
    "bullying": (
        "says they are picked on again and again",
        "Today: speak with the pupil privately and listen. Being picked on again and again is possible "
        "bullying, a form of child-on-child abuse: follow the school's anti-bullying procedure and tell the "
        "anti-bullying lead. If anything suggests the pupil may be at risk of harm, tell the designated "
        "safeguarding lead (DSL) immediately, under the child protection policy. Do not raise it in front "
        "of the class.",
    ),
    "not_safe": (
        "says they do not feel safe at school",
        "Today: ask the pupil privately where and when they do not feel safe, and listen. If the answer "
        "suggests the pupil may be at risk of harm, act immediately: tell the DSL (or a deputy) under the "
        "child protection policy. If a child is in immediate danger, call 999.",
    ),
    "no_adult": (
        "says no adult at school cares about them",
        "Today: make sure the pupil knows at least one adult they can go to when worried, and ask whom "
        "they would choose; the pastoral lead agrees who checks in. If the conversation raises any concern "
        "about the pupil's welfare, tell the DSL immediately.",
    ),
    "no_trusted_adult": (
        "says there is no adult at school they could talk to when worried",
        "Today: ask the pupil privately whom they would feel able to go to, and agree that adult with them "
        "and the pastoral lead, who makes sure the adult checks in this week. Ask gently whether something is "
        "worrying them now; if anything suggests the pupil may be at risk of harm, tell the DSL immediately.",
    ),
}

#: Columns that make a survey named (besides ``pupil_ref``).
NAME_COLUMNS = ("name", "pupil_name", "first_name", "last_name", "surname", "forename")

KCSIE_NOTE = (
    "These answers are listed whatever the pupil's scores, before any statistic: a cut-off never decides "
    "whether a pupil who said this is spoken to. Keeping children safe in education (Department for "
    "Education) asks every member of staff to act on a concern about a child's welfare immediately, "
    "following the child protection policy and speaking to the designated safeguarding lead or a deputy; "
    "child-on-child abuse, bullying included, follows the school's procedures, the anti-bullying procedure "
    f"among them. {KCSIE_URL}"
)

ANONYMOUS_NOTE = (
    "This survey is anonymous (no pupil_ref and no name column), so the answers that need an adult's "
    "response today (being picked on, not feeling safe, no adult who cares, no adult to talk to) cannot be "
    "traced to a pupil, and no list of pupils can be made. Act for the whole class instead: today, remind pupils how and to "
    "whom they can report bullying or a worry, and tell the anti-bullying lead and the designated "
    "safeguarding lead how many such answers there were. To be able to respond to each pupil, run a named "
    "or coded survey (pupils are told beforehand that their answers are not anonymous)."
)


def needs_response_items(version: str) -> pd.DataFrame:
    """The marked items of one version: ``item, text, codes, concern, answers`` (labels of the codes)."""
    from .questionnaire import _definition, instrument_for

    inst = instrument_for(version)
    labels = dict(inst.labels)
    rows = []
    for it in _definition(version)["items"]:
        mark = it.get("needs_response")
        if mark:
            codes = tuple(int(c) for c in mark["codes"])
            rows.append(
                {
                    "item": it["id"],
                    "text": it["text"],
                    "codes": codes,
                    "concern": str(mark["concern"]),
                    "answers": " or ".join(f"\u201c{labels.get(c, c)}\u201d" for c in codes),
                }
            )
    return pd.DataFrame(rows, columns=["item", "text", "codes", "concern", "answers"])


def is_named_survey(data: pd.DataFrame) -> bool:
    """True when answers can be traced to a pupil: a non-empty ``pupil_ref`` or a name column."""
    for col in ("pupil_ref", *NAME_COLUMNS):
        if col in data.columns:
            values = data[col].astype("string").str.strip()
            if (values.notna() & (values != "")).any():
                return True
    return False


def answers_needing_response(data: pd.DataFrame, *, version: str) -> pd.DataFrame:
    """Every marked answer in ``data``, one row per answer.

    Columns: ``row`` (the data row, as the file's rows are numbered), ``pupil_ref``, ``name``,
    ``class``, ``item``, ``question``, ``answer``, ``concern``, ``what_to_do``.  The codes are compared
    as the pupil wrote them (before reverse keying).
    """
    from ..scoring import clean_items
    from .questionnaire import instrument_for

    inst = instrument_for(version)
    labels = dict(inst.labels)
    codes = clean_items(data, inst)
    names = [c for c in NAME_COLUMNS if c in data.columns]
    name = (
        data[names].astype("string").fillna("").agg(" ".join, axis=1).str.strip()
        if names
        else pd.Series("", index=data.index)
    )
    ref = (
        data["pupil_ref"].astype("string").fillna("").str.strip()
        if "pupil_ref" in data.columns
        else pd.Series("", index=data.index)
    )
    cls = (
        data["class"].astype("string").fillna("").str.strip()
        if "class" in data.columns
        else pd.Series("", index=data.index)
    )
    rows = []
    for mark in needs_response_items(version).itertuples():
        hit = codes[mark.item].isin(mark.codes).to_numpy(dtype=bool)
        for pos in np.where(hit)[0]:
            label = data.index[pos]
            code = int(codes[mark.item].iloc[pos])
            rows.append(
                {
                    "row": label,
                    "pupil_ref": ref.iloc[pos],
                    "name": name.iloc[pos],
                    "class": cls.iloc[pos],
                    "item": mark.item,
                    "question": mark.text,
                    "answer": labels.get(code, str(code)),
                    "concern": mark.concern,
                    "what_to_do": CONCERNS[mark.concern][1],
                }
            )
    cols = ["row", "pupil_ref", "name", "class", "item", "question", "answer", "concern", "what_to_do"]
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values(["row", "item"], kind="stable").reset_index(drop=True)


@dataclasses.dataclass(frozen=True)
class NeedsResponse:
    """What :func:`respond_to_answers` found and wrote.

    Attributes
    ----------
    answers : DataFrame
        :func:`answers_needing_response` (empty columns when none).
    named : bool
        Whether the survey can be traced to pupils.
    path : Path or None
        ``answers_needing_response.html`` (named surveys only).
    """

    answers: pd.DataFrame
    named: bool
    path: Path | None

    @property
    def n_pupils(self) -> int:
        return int(self.answers["row"].nunique()) if len(self.answers) else 0

    def message(self) -> str:
        """The lines a command prints (counts only, never a pupil reference)."""
        if not self.named:
            counts = self.answers.groupby("concern").size() if len(self.answers) else pd.Series(dtype=int)
            said = "; ".join(f"{int(n)} answer(s): a pupil {CONCERNS[c][0]}" for c, n in counts.items())
            return (
                "ANSWERS THAT NEED A RESPONSE: "
                + ANONYMOUS_NOTE
                + (f" In this file: {said}." if said else " In this file no such answer was given.")
            )
        if not len(self.answers):
            return (
                "ANSWERS THAT NEED A RESPONSE: none of the marked answers (picked on, not feeling safe, no "
                "adult who cares, no adult to talk to) was given. This is not a safeguarding screen: any other concern goes to "
                "the designated safeguarding lead immediately."
            )
        return (
            f"ANSWERS THAT NEED A RESPONSE TODAY: {self.n_pupils} pupil(s) gave {len(self.answers)} answer(s) "
            f"that need an adult's response today, whatever their scores: see {self.path} (what to do is "
            "written beside each)."
        )


def _page(answers: pd.DataFrame, *, what: str, synthetic: bool) -> str:
    from ._common import DATA_PROTECTION_REMINDER, render

    body = ["<h1>Answers that need an adult's response today</h1>"]
    if synthetic:
        body.append("<div class='synthetic'>Synthetic data: every pupil here was simulated.</div>")
    body.append(f"<div class='warn'><b>{_html.escape(KCSIE_NOTE)}</b></div>")
    if not len(answers):
        body.append(
            f"<p>No pupil in the {_html.escape(what)} file gave one of the marked answers. This is not a "
            "safeguarding screen: any other concern goes to the designated safeguarding lead "
            "immediately.</p>"
        )
    else:
        body.append(
            "<p>Each row is one answer. Rows are the file's rows as numbered in the spreadsheet, where "
            "the column names are row 1. Keep this page with the pupils' confidential records, not with the class's "
            "report.</p>"
        )
        body.append(
            "<table><thead><tr><th>Row</th><th>Pupil</th><th>Class</th><th>Question</th><th>Answer</th>"
            "<th>What to do today</th><th>Done (who, when)</th></tr></thead><tbody>"
        )
        for r in answers.rename(columns={"class": "class_name"}).itertuples():
            who = _html.escape(" ".join(x for x in (str(r.pupil_ref), str(r.name)) if x))
            body.append(
                f"<tr class='keep'><td class='num'>{_html.escape(str(r.row))}</td><td>{who}</td>"
                f"<td>{_html.escape(str(r.class_name))}</td><td>{_html.escape(r.question)}</td>"
                f"<td><b>{_html.escape(r.answer)}</b></td><td>{_html.escape(r.what_to_do)}</td><td></td></tr>"
            )
        body.append("</tbody></table>")
        body.append(
            "<h2>Who to tell</h2><ul>"
            "<li>Any concern that a pupil may be at risk of harm: the designated safeguarding lead (DSL) "
            "or a deputy, immediately, under the child protection policy; in immediate danger, 999.</li>"
            "<li>Being picked on: the anti-bullying lead, under the school's anti-bullying procedure "
            "(child-on-child abuse is also a safeguarding matter).</li>"
            "<li>No adult who cares, or no adult to talk to when worried: the pastoral lead, who agrees a "
            "trusted adult with the pupil.</li>"
            "</ul>"
        )
    body.append(f"<p class='small'>{_html.escape(DATA_PROTECTION_REMINDER)}</p>")
    return render("schools_base.html.j2", title="Answers that need a response").replace(
        "<body>\n", "<body>\n" + "\n".join(body), 1
    )


def respond_to_answers(
    data: pd.DataFrame, *, out, version: str, what: str = "survey", synthetic: bool = False
) -> NeedsResponse:
    """Find the answers that need a response; on a named survey write ``answers_needing_response.html``.

    ``out`` is the folder the user named; an anonymous survey writes nothing.  A page written by an
    earlier run in the same folder is never overwritten: the new one gets a numbered name.
    """
    from ._common import unused_path

    answers = answers_needing_response(data, version=version)
    named = is_named_survey(data)
    if not named:
        return NeedsResponse(answers, False, None)
    path = unused_path(Path(out) / "answers_needing_response.html")
    path.write_text(_page(answers, what=what, synthetic=synthetic), encoding="utf-8")
    return NeedsResponse(answers, True, path)
