"""The Our Class Belonging questionnaire: printable forms, data-entry sheets and staff notes.

Two versions, both written for belonging_lib in the project's own words (CC BY 4.0) and **not yet
validated**:

* ``primary`` (about ages 7-11): 17 short sentences, answered No / Sometimes / Yes (codes 1-3),
  read aloud by an adult;
* ``secondary`` (about ages 11-16): the same five parts in 17 statements, answered on a five-point
  agreement scale (codes 1-5).

The five parts are relationships with staff (care, fair treatment, individual attention, presence
beyond the classroom, an adult to talk to when worried), peer acceptance and bullying, engagement, a
respectful and safe environment, and being listened to.  The scoring keys are in the instrument
registry (``ocb_primary``, ``ocb_secondary``; aliases ``class_primary``, ``class_secondary``) and are
used through :func:`belonging_lib.scoring.score`.

Two more forms, also the project's own wording (CC BY 4.0) and not yet validated, are written by
:func:`write_form` (``belonging questionnaire --instrument ...``): a teacher's classroom-belonging
self-reflection (``teacher_reflection``) and a short home-school partnership survey for parents and
carers (``parent``, registry id ``parent_partnership``).

Examples
--------
>>> items = questionnaire_items("secondary")
>>> len(items), items["part"].nunique(), int(items["reverse"].sum())
(17, 5, 2)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from .._errors import ColumnError, DataError
from .._validation import check_choice, describe_rows
from .._safe_write import write_csv, write_excel
from ..instruments import Instrument, load_instrument
from ._common import SHEET_ROWS, out_dir, render

__all__ = ["VERSIONS", "FORMS", "instrument_for", "questionnaire_items", "parts", "data_entry_sheet",
           "form_items", "write_questionnaire", "write_form", "simulate_responses", "detect_version", "check_responses",
           "score_responses", "simulate_follow_up", "cfa_model", "TRUSTED_ADULT_ITEM", "OlderSheet", "accept_older_sheet"]

#: Version name -> instrument id in the registry.
VERSIONS = {"primary": "ocb_primary", "secondary": "ocb_secondary"}

#: The other printable forms: name on the command line -> (registry id, template, extra entry columns).
FORMS = {"teacher_reflection": ("teacher_reflection", "schools_teacher_reflection.html.j2", ["date"]),
         "parent": ("parent_partnership", "schools_parent_survey.html.j2", ["return_ref", "class"])}

#: The practice sentence at the top of each pupil sheet (not scored, not entered).
PRACTICE = {"primary": "I like listening to stories.", "secondary": "I like listening to music."}

#: The trusted-adult question of each version, added after release 0.2.0: a sheet filled in before it
#: has the other 16 questions only (:func:`accept_older_sheet`).
TRUSTED_ADULT_ITEM = {"primary": "ocbp_17", "secondary": "ocbs_17"}

#: Columns of the data-entry sheet besides the items (all optional when reading back).
ENTRY_COLUMNS = ["pupil_ref", "class", "gender", "fsm", "send", "adjustment"]


def instrument_for(version: str) -> Instrument:
    """The registry's scoring key for ``version`` ("primary" or "secondary")."""
    check_choice("version", version, list(VERSIONS))
    return load_instrument(VERSIONS[version])


def _definition(version: str) -> dict:
    inst = instrument_for(version)
    return yaml.safe_load(Path(inst.source).read_text(encoding="utf-8"))


def parts(version: str) -> dict[str, str]:
    """Part id -> plain-language label, in questionnaire order."""
    return dict(_definition(version)["parts"])


def _items_of(d: dict) -> pd.DataFrame:
    labels = d["parts"]
    rows = [{"id": it["id"], "part": it["subscale"], "part_label": labels[it["subscale"]],
             "text": it["text"], "reverse": bool(it.get("reverse", False))} for it in d["items"]]
    return pd.DataFrame(rows)


def questionnaire_items(version: str) -> pd.DataFrame:
    """The items of one version: ``id, part, part_label, text, reverse``."""
    return _items_of(_definition(version))


def _form_definition(instrument: str) -> tuple[Instrument, dict]:
    check_choice("instrument", instrument, list(FORMS))
    inst = load_instrument(FORMS[instrument][0])
    return inst, yaml.safe_load(Path(inst.source).read_text(encoding="utf-8"))


def form_items(instrument: str) -> pd.DataFrame:
    """The items of one of the other forms (``"teacher_reflection"`` or ``"parent"``), as :func:`questionnaire_items`.

    Examples
    --------
    >>> items = form_items("parent")
    >>> len(items), list(items["part"].unique())
    (10, ['welcome', 'informed', 'child'])
    """
    return _items_of(_form_definition(instrument)[1])


def data_entry_sheet(version: str, *, n_rows: int = 0) -> pd.DataFrame:
    """A blank data-entry sheet: one row per pupil, one column per item (plus pupil details)."""
    cols = ENTRY_COLUMNS + list(questionnaire_items(version)["id"])
    return pd.DataFrame({c: pd.Series([""] * n_rows, dtype=object) for c in cols})


def _codes_table(version: str) -> pd.DataFrame:
    inst = instrument_for(version)
    items = questionnaire_items(version)
    rows = [{"column": "pupil_ref", "meaning": "Pupil code (text, e.g. P01). No names in an anonymous survey.",
             "codes": ""},
            {"column": "class", "meaning": "Class or form name (text)", "codes": ""},
            {"column": "gender", "meaning": "Optional", "codes": "as recorded by the school"},
            {"column": "fsm", "meaning": "Optional: eligible for free school meals", "codes": "1 = yes, 0 = no"},
            {"column": "send", "meaning": "Optional: special educational needs or disability",
             "codes": "1 = yes, 0 = no"},
            {"column": "adjustment", "meaning": "Optional: read aloud, scribe, extra time ...", "codes": "text"}]
    code_text = "; ".join(f"{c} = {lab}" for c, lab in inst.labels) + "; empty = not answered"
    for it in items.itertuples():
        rows.append({"column": it.id, "meaning": f"{it.part_label}: {it.text}"
                     + (" (reverse-keyed when scored)" if it.reverse else ""), "codes": code_text})
    return pd.DataFrame(rows)


def _dress_entry_sheet(ws, version: str, *, n_rows: int) -> None:
    """The Excel answers sheet: frozen header, the question as each header's note, drop-down codes."""
    from openpyxl.comments import Comment
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    inst = instrument_for(version)
    items = questionnaire_items(version).set_index("id")
    ws.freeze_panes = "A2"
    header = [c.value for c in ws[1]]
    codes = ",".join(str(c) for c, _ in inst.labels)
    scale = "; ".join(f"{c} = {lab}" for c, lab in inst.labels)
    answers = DataValidation(type="list", formula1=f'"{codes}"', allow_blank=True, showErrorMessage=True,
                             errorTitle="Not a code", error=f"Type one of {codes} ({scale}), or leave it empty.")
    yes_no = DataValidation(type="list", formula1='"0,1"', allow_blank=True, showErrorMessage=True,
                            errorTitle="Not a code", error="Type 1 (yes) or 0 (no), or leave it empty.")
    ws.add_data_validation(answers)
    ws.add_data_validation(yes_no)
    for k, name in enumerate(header, start=1):
        letter = get_column_letter(k)
        cells = f"{letter}2:{letter}{n_rows + 1}"
        if name in items.index:
            answers.add(cells)
            ws.cell(row=1, column=k).comment = Comment(f"{items.loc[name, 'text']} ({scale})", "belonging_lib")
            ws.column_dimensions[letter].width = 9
        elif name in ("fsm", "send"):
            yes_no.add(cells)
        elif name == "pupil_ref":
            ws.cell(row=1, column=k).comment = Comment("Pupil code, as text (e.g. P01). No names in an anonymous "
                                                       "survey.", "belonging_lib")
            for row in range(2, n_rows + 2):       # codes stay text: Excel keeps leading zeros
                ws.cell(row=row, column=k).number_format = "@"


def write_questionnaire(out: str | os.PathLike, *, version: str = "both", policy=None) -> list[Path]:
    """Write the printable questionnaire, data-entry sheets and notes for staff into ``out``.

    Parameters
    ----------
    out : path
        Folder for the files (created if needed).
    version : {"both", "primary", "secondary"}
    policy : DisclosurePolicy, optional
        The disclosure rules the notes for staff promise (default: the project's policy).

    Returns
    -------
    list of Path
        ``questionnaire_<version>.html``, ``data_entry_<version>.csv`` and ``.xlsx``,
        ``codes_<version>.csv`` for each version, and ``administration_notes.html``.
    """
    from ..disclosure import get_default_policy

    check_choice("version", version, ["both", *VERSIONS])
    folder = out_dir(out, personal=False)
    versions = list(VERSIONS) if version == "both" else [version]
    written = []
    notes_versions = []
    for v in versions:
        inst = instrument_for(v)
        d = _definition(v)
        items = questionnaire_items(v)
        primary = v == "primary"
        page = render("schools_questionnaire.html.j2", title="How I feel about my school" if primary else
                      "My class and my school", name="How I feel about my school"
                      if primary else "My class and my school", primary=primary, ages=f"{v.title()} version, ages "
                      f"{d['ages']}", n_items=len(items), labels=inst.labels,
                      items=items.to_dict("records"),
                      intro=("This is about how you feel at school. It is not a test. There are no right or "
                             "wrong answers. You can skip a question." if primary else
                             "These questions ask how you feel about your class and your school. It is not a "
                             "test and there are no right or wrong answers. Answer for yourself; you may skip "
                             "any question."),
                      instruction=("Tick one box for each sentence." if primary else
                                   "Tick one box in each row: how much do you agree?"),
                      practice=PRACTICE[v],
                      closing=("Thank you! Put your sheet in the envelope." if primary else
                               "Thank you. Fold your sheet and put it in the envelope."))
        paths = {"html": folder / f"questionnaire_{v}.html", "csv": folder / f"data_entry_{v}.csv",
                 "xlsx": folder / f"data_entry_{v}.xlsx", "codes": folder / f"codes_{v}.csv"}
        paths["html"].write_text(page, encoding="utf-8")
        sheet = data_entry_sheet(v)
        write_csv(sheet, paths["csv"], index=False)
        codes = _codes_table(v)
        write_csv(codes, paths["codes"], index=False)
        write_excel({"answers": data_entry_sheet(v, n_rows=35), "codes": codes}, paths["xlsx"],
                    after=lambda xl, v=v: _dress_entry_sheet(xl.book["answers"], v, n_rows=35))
        written += list(paths.values())
        notes_versions.append({"name": inst.name, "labels": inst.labels, "reverse": list(inst.reverse_items)})
    notes = folder / "administration_notes.html"
    notes.write_text(render("schools_admin_notes.html.j2", title="Notes for staff", versions=notes_versions,
                            threshold=(policy or get_default_policy()).threshold,
                            codes_file=", ".join(f"codes_{v}.csv" for v in versions)), encoding="utf-8")
    written.append(notes)
    return written


def write_form(out: str | os.PathLike, *, instrument: str) -> list[Path]:
    """Write one of the other printable forms, with its blank entry sheet and codes, into ``out``.

    Parameters
    ----------
    out : path
        Folder for the files (created if needed).
    instrument : {"teacher_reflection", "parent"}
        The teacher's classroom-belonging self-reflection, or the home-school partnership survey for
        parents and carers.  Both are the project's own wording (CC BY 4.0) and not yet validated;
        the page for staff says so, the form itself carries only what the person filling it in reads.

    Returns
    -------
    list of Path
        ``<id>.html`` (one A4 side when printed), ``data_entry_<id>.csv`` and ``codes_<id>.csv``,
        where ``<id>`` is the registry id (``teacher_reflection``, ``parent_partnership``); the registry
        scores the entered sheet (:func:`belonging_lib.scoring.score`).
    """
    inst, d = _form_definition(instrument)
    folder = out_dir(out, personal=False)
    items = _items_of(d)
    extra = FORMS[instrument][2]
    groups = [{"label": label, "items": items[items["part"] == part].to_dict("records")}
              for part, label in d["parts"].items()]
    page = render(FORMS[instrument][1], title=inst.name.replace(" (not yet validated)", ""), labels=inst.labels,
                  groups=groups, n_items=len(items), licence=inst.licence, citation=inst.citation)
    paths = {"html": folder / f"{inst.id}.html", "csv": folder / f"data_entry_{inst.id}.csv",
             "codes": folder / f"codes_{inst.id}.csv"}
    paths["html"].write_text(page, encoding="utf-8")
    write_csv(pd.DataFrame({c: pd.Series(dtype=object) for c in extra + list(items["id"])}), paths["csv"],
              index=False)
    code_text = "; ".join(f"{c} = {lab}" for c, lab in inst.labels) + "; empty = not answered"
    codes = pd.DataFrame([{"column": it.id, "meaning": f"{it.part_label}: {it.text}", "codes": code_text}
                          for it in items.itertuples()])
    write_csv(codes, paths["codes"], index=False)
    return list(paths.values())


def detect_version(data: pd.DataFrame) -> str:
    """Which version's item columns the data hold (an error if neither or both)."""
    found = [v for v in VERSIONS if any(c in data.columns for c in instrument_for(v).item_ids)]
    if len(found) == 1:
        return found[0]
    if not found:
        first, last = ({v: instrument_for(v).item_ids[k] for v in VERSIONS} for k in (0, -1))
        raise ColumnError(f"The file holds no questionnaire item columns: expected {first['primary']} ... "
                          f"{last['primary']} (primary version) or {first['secondary']} ... {last['secondary']} "
                          "(secondary version), as on the blank data-entry sheet.")
    raise ColumnError("The file holds item columns of both versions (ocbp_... and ocbs_...); put each "
                      "version in its own file.")


def check_responses(data: pd.DataFrame, *, version: str | None = None, what: str = "data") -> str:
    """Check a filled data-entry sheet; return its version.

    Raises a :class:`~belonging_lib.DataError` or :class:`~belonging_lib.ColumnError` that names the
    column, the rows (the frame's row labels: the spreadsheet's row numbers when read by
    :func:`belonging_lib.schools._common.read_table`) and the value when: the file is empty; the
    item columns belong to the other version than ``version``; an item column is missing; a code is
    outside the version's range; a pupil reference is repeated; a row has no answer at all.
    """
    if not isinstance(data, pd.DataFrame) or data.shape[0] == 0:
        raise DataError(f"The {what} file has no pupils: it holds a header but no data rows. Enter one "
                        "row per pupil.")
    found = detect_version(data)
    if version is not None:
        check_choice("version", version, list(VERSIONS))
        if found != version:
            other = instrument_for(found).item_ids[0]
            raise ColumnError(f"The {what} file holds the {found} version (column {other!r} ...), but "
                              f"--version {version} was given. Use the {found} version's report, or the "
                              f"right file.")
    inst = instrument_for(found)
    missing = [c for c in inst.item_ids if c not in data.columns]
    if missing == [TRUSTED_ADULT_ITEM[found]]:
        raise ColumnError(f"The {what} file ({found} version) has no column {missing[0]!r}: it is a sheet from "
                          "before the trusted-adult question (\u201cis there an adult in school you could talk to "
                          "when worried\u201d) was added as question 17. The belonging commands read such a sheet "
                          "with that question missing; in Python, pass the sheet through "
                          "belonging_lib.schools.questionnaire.accept_older_sheet(), which adds the column empty. "
                          "Do not type answers into it: the pupils were not asked.")
    if missing:
        raise ColumnError(f"The {what} file ({found} version) lacks the item column(s) "
                          f"{', '.join(map(repr, missing))}: all {len(data)} rows affected. Start from the "
                          "blank data-entry sheet.")
    from ..scoring import clean_items

    try:
        items = clean_items(data, inst)
    except DataError as exc:
        # the school commands have no --invalid option: advise what a teacher can do with the sheet
        msg = str(exc).replace(" Pass invalid='missing' to set such values missing.", "")
        raise type(exc)(f"In the {what} file: {msg} Rows are {SHEET_ROWS}. Correct the value on the sheet, or leave the cell empty if the "
                        "answer cannot be read.") from None
    empty = items.isna().all(axis=1)
    if empty.any():
        raise DataError(f"In the {what} file, {describe_rows(data.index[empty])} ({SHEET_ROWS}) "
                        "answer no question (columns {inst.item_ids[0]} ... {inst.item_ids[-1]} are "
                        "all empty). Delete such rows, or enter the answers.")
    if "pupil_ref" in data.columns:
        refs = data["pupil_ref"].astype("string").str.strip()
        # pupils are numbered P01, P02 ... in each class: a reference may repeat across classes
        key = [refs, data["class"].astype("string").str.strip()] if "class" in data.columns else [refs]
        dup = refs.notna() & (refs != "") & pd.concat(key, axis=1).duplicated(keep=False)
        if dup.any():
            within = " within one class" if "class" in data.columns else ""
            raise DataError(f"In the {what} file, column 'pupil_ref' repeats a reference{within} in "
                            f"{describe_rows(data.index[dup])} ({SHEET_ROWS}).")
    return found


@dataclass(frozen=True)
class OlderSheet:
    """What :func:`accept_older_sheet` made of a sheet.

    Attributes
    ----------
    data : DataFrame
        The sheet, with the trusted-adult column added empty where it was missing (else unchanged).
    note : str
        What was done, for the user (empty when nothing was added).
    """

    data: pd.DataFrame
    note: str


def accept_older_sheet(data: pd.DataFrame, *, what: str = "data") -> OlderSheet:
    """A sheet from before the trusted-adult question, with that question's column added empty.

    A sheet filled in before question 17 (:data:`TRUSTED_ADULT_ITEM`) was added holds every other
    question: its answers are still the pupils' answers, so it is read, not refused.  The part scores
    are means of the questions answered (relationships with staff needs 4 of its 5, the total 13 of 17),
    so every pupil keeps a score; the trusted-adult question simply has no answers, so no "no adult to
    talk to" answer can be listed for that round, and the note says so.  Any other missing question is
    left for :func:`check_responses` to refuse.

    Returns an :class:`OlderSheet`: the sheet (unchanged when it is not such a sheet) and a note
    (empty when nothing was added).
    """
    if not isinstance(data, pd.DataFrame):
        return OlderSheet(data, "")
    try:
        version = detect_version(data)
    except ColumnError:
        return OlderSheet(data, "")
    inst = instrument_for(version)
    item = TRUSTED_ADULT_ITEM[version]
    if [c for c in inst.item_ids if c not in data.columns] != [item]:
        return OlderSheet(data, "")
    note = (f"The {what} file is an older sheet without question 17 ({item}, the trusted-adult question, added "
            "after release 0.2.0): read with that question missing. Its parts are scored on the questions the "
            "pupils were asked, and a pupil with no adult to talk to cannot be picked out from this round: ask "
            "in person where it matters.")
    return OlderSheet(data.assign(**{item: np.nan}), note)


def score_responses(data: pd.DataFrame, *, version: str | None = None, what: str = "data") -> pd.DataFrame:
    """Check and score a filled sheet; returns the part and total scores (``staff ... voice, total``).

    Columns are renamed from the registry's score ids (``ocbs_staff`` ...) to the part names so that
    both versions read alike; each score is on its version's response scale.  The version is
    :func:`check_responses`'s answer (call it first when you need it).
    """
    from ..scoring import score

    v = check_responses(data, version=version, what=what)
    inst = instrument_for(v)
    scored = score(data, inst)
    prefix = inst.item_ids[0].split("_")[0] + "_"
    keep = [s for s in inst.score_ids]
    return scored[keep].rename(columns=lambda c: c[len(prefix):])


def simulate_responses(*, version: str = "secondary", n_classes: int = 8, class_size: int = 28,
                       seed: int = 2026, part_corr: float = 0.55, loading: float = 0.7,
                       class_sd: float = 0.25) -> pd.DataFrame:
    """**Synthetic** pilot responses to one version, for teaching and for testing the validation steps.

    Each pupil has five correlated part levels (correlation ``part_corr``), plus a class effect with
    SD ``class_sd``; each item is ``loading`` x its part level plus noise, cut into the version's
    response codes at fixed thresholds.  Reverse-keyed items are stored reversed, as pupils would
    answer them.  About one answer in a hundred is left empty.  Columns are those of the data-entry
    sheet (``pupil_ref``, ``class``, ``gender``, ``fsm``, ``send``, items) and ``synthetic`` = True.

    The generating model is the one the chapter's validation section checks: five factors, the
    items of each loading on their own part only, and the same loadings and thresholds for every
    group (so invariance holds by construction).
    """
    check_choice("version", version, list(VERSIONS))
    rng = np.random.default_rng(seed)
    inst = instrument_for(version)
    items = questionnaire_items(version)
    part_ids = list(parts(version))
    n = n_classes * class_size
    cov = np.full((5, 5), part_corr) + (1 - part_corr) * np.eye(5)
    cls = np.repeat(np.arange(n_classes), class_size)
    # Cholesky, not numpy's default SVD: an SVD's signs depend on the LAPACK kernel the CPU selects, so the
    # synthetic answers (and every number the chapter reports on them) would differ between machines.
    level = (rng.multivariate_normal(np.zeros(5), cov, size=n, method="cholesky")
             + rng.normal(0, class_sd, (n_classes, 1))[cls])
    k = inst.response_max - inst.response_min + 1
    cuts = {3: [-0.9, 0.35], 5: [-1.6, -0.85, -0.2, 0.75]}[k]
    out = {"pupil_ref": [f"P{i + 1:03d}" for i in range(n)],
           "class": [f"C{c + 1}" for c in cls],
           "gender": rng.choice(["girl", "boy"], size=n),
           "fsm": (rng.random(n) < 0.22).astype(int),
           "send": (rng.random(n) < 0.14).astype(int)}
    for it in items.itertuples():
        latent = loading * level[:, part_ids.index(it.part)] + np.sqrt(1 - loading ** 2) * rng.normal(size=n)
        latent += 0.3 * loading          # most pupils are on the positive side
        code = inst.response_min + np.searchsorted(cuts, latent)
        if it.reverse:
            code = inst.response_min + inst.response_max - code
        code = code.astype(float)
        code[rng.random(n) < 0.01] = np.nan
        out[it.id] = pd.array(code, dtype="Int64")
    frame = pd.DataFrame(out)
    frame["synthetic"] = True
    return frame


def simulate_follow_up(data: pd.DataFrame, *, seed: int = 2027, noise: float = 0.25,
                       share_dropping: float = 0.06) -> pd.DataFrame:
    """**Synthetic** second wave of the same pupils: answers drift a little; a few pupils' answers fall.

    Each answer moves one code up or down with probability ``noise``; for a share ``share_dropping``
    of pupils every answer moves two codes towards the less positive end (reverse-keyed items up).
    Codes stay in range.  Same columns and pupil references as ``data`` (the first wave);
    ``synthetic`` = True.
    """
    rng = np.random.default_rng(seed)
    version = detect_version(data)
    inst = instrument_for(version)
    lo, hi = inst.response_range
    out = data.copy()
    n = len(out)
    dropping = rng.random(n) < share_dropping
    rev = set(inst.reverse_items)
    for item in inst.item_ids:
        x = pd.to_numeric(out[item], errors="coerce").to_numpy(dtype=float)
        step = rng.choice([-1, 0, 1], size=n, p=[noise / 2, 1 - noise, noise / 2])
        worse = np.where(dropping, 2, 0) * (1 if item in rev else -1)
        x = np.clip(x + step + worse, lo, hi)
        out[item] = pd.array(x, dtype="Int64") if np.isnan(x).any() else pd.array(x.astype(int), dtype="Int64")
    out["synthetic"] = True
    return out


def cfa_model(version: str) -> str:
    """The five-part measurement model in lavaan syntax, for :func:`belonging_lib.structure.cfa`.

    Examples
    --------
    >>> print(cfa_model("primary").splitlines()[0])
    staff =~ ocbp_01 + ocbp_02 + ocbp_03 + ocbp_04 + ocbp_17
    """
    inst = instrument_for(version)
    return "\n".join(f"{part} =~ " + " + ".join(ids) for part, ids in inst.subscales.items())
