"""The ``belonging`` subcommands of the tools for schools.

::

    belonging questionnaire --out forms/ [--version primary|secondary|both]
    belonging questionnaire --out forms/ --instrument teacher_reflection|parent
    belonging class-report  --data class.csv [--school school.csv] [--previous earlier.csv] --out report/
    belonging audit         --template --out audit/
    belonging audit         --data ratings.csv [--survey pupils.csv] --out audit/
    belonging support-plan  --data pupils.csv [--previous earlier.csv] --out plans/

:func:`register` adds them to the main parser in :mod:`belonging_lib.cli`.  Pupil-level outputs go only
into the ``--out`` folder; nothing identifying is printed.
"""

from __future__ import annotations

import argparse

from ._common import DATA_PROTECTION_REMINDER, NOT_A_SCREEN

__all__ = ["register"]

_RAW = argparse.RawDescriptionHelpFormatter


def _is_synthetic(data) -> bool:
    """True when every row of the file says it is synthetic (the pages then say so)."""
    return "synthetic" in data.columns and bool(data["synthetic"].astype(str).str.lower().eq("true").all())


def _cmd_questionnaire(args) -> int:
    from .questionnaire import write_form, write_questionnaire

    if args.instrument != "classroom":
        paths = write_form(args.out, instrument=args.instrument)
        print(f"Wrote {len(paths)} files to {args.out}: the printable form ({paths[0].name}; print from a browser, "
              "one A4 side), a blank data-entry sheet and its codes.")
        print("The questions are not yet validated: read each answer before any part mean.")
        return 0
    paths = write_questionnaire(args.out, version=args.version)
    print(f"Wrote {len(paths)} files to {args.out}: printable questionnaires (HTML; print from a browser), "
          "blank data-entry sheets (CSV and Excel) with their codes, and notes for staff.")
    print("The questions are not yet validated: see chapter 12 of the course before relying on the scores.")
    return 0


def _without_blank_sheets(data, what: str):
    """Rows that answer no question (a sheet handed back blank) are counted and left out, with a note."""
    import sys

    from ..scoring import clean_items
    from ._common import SHEET_ROWS
    from .questionnaire import detect_version, instrument_for

    inst = instrument_for(detect_version(data))
    present = [c for c in inst.item_ids if c in data.columns]
    if not present:
        return data
    try:
        blank = clean_items(data[present].reindex(columns=list(inst.item_ids)), inst).isna().all(axis=1)
    except Exception:       # bad codes: the checks that follow name them
        return data
    if blank.any() and not blank.all():
        print(f"The {what} file: {int(blank.sum())} sheet(s) answer no question (rows "
              f"{', '.join(map(str, data.index[blank][:10]))}{' ...' if blank.sum() > 10 else ''}, {SHEET_ROWS}): "
              "left out, as pupils who did not take part.", file=sys.stderr)
        return data[~blank]
    return data


def _read_sheet(path, what: str, *, blank_sheets: bool = True):
    """A filled questionnaire sheet: read, an older sheet (without the trusted-adult question) accepted
    with a note, and blank returned sheets left out with a note."""
    import sys

    from ._common import read_table
    from .questionnaire import accept_older_sheet

    older = accept_older_sheet(read_table(path, what=what, expect=_has_items), what=what)
    data = older.data
    if older.note:
        print(older.note, file=sys.stderr)
    return _without_blank_sheets(data, what) if blank_sheets else data


def _has_items(columns) -> bool:
    """The columns of a filled questionnaire sheet (either version)."""
    return any(c in columns for c in ("ocbs_01", "ocbp_01"))


def _respond(data, folder, *, what: str, synthetic: bool) -> None:
    """Answers that need an adult's response today: listed first, whatever any statistic says."""
    from .questionnaire import check_responses
    from .safeguarding import respond_to_answers

    version = check_responses(data, what=what)
    print(respond_to_answers(data, out=folder, version=version, what=what, synthetic=synthetic).message())


def _classes(data) -> list:
    """The distinct class names of a sheet with a class column (empty when none is filled in)."""
    if "class" not in data.columns:
        return []
    names = data["class"].astype("string").str.strip()
    return sorted(names[names.notna() & (names != "")].unique().tolist())


def _cmd_class_report(args) -> int:
    from pathlib import Path

    from ._common import out_dir
    from .class_report import class_report

    data = _read_sheet(args.data, "class")
    school = _read_sheet(args.school, "school", blank_sheets=False) if args.school else None
    previous = _read_sheet(args.previous, "previous") if args.previous else None
    folder = out_dir(args.out)
    synthetic = _is_synthetic(data)
    classes = _classes(data)
    if args.class_name is not None:
        if classes and args.class_name in classes:
            data = data[data["class"].astype("string").str.strip() == args.class_name]
        elif len(classes) > 1:
            raise _usage(f"--class {args.class_name!r} is not in the file's class column (it holds "
                         f"{', '.join(map(repr, classes[:8]))}).")
    _respond(data, folder, what="class", synthetic=synthetic)     # before any statistic, for these pupils
    from ..disclosure_ledger import tracked_pupils

    # Checked against what earlier commands published about these pupils (from this file or another,
    # such as the whole year's and each class's), and recorded for the next ones.
    if args.class_name is None and len(classes) > 1:
        from .class_report import class_pack

        with tracked_pupils(data, name=f"the class pack of {Path(args.data).name}", out=folder) as session:
            pack = class_pack(data, school=school, version=args.version, previous=previous, out=folder,
                              synthetic=synthetic)
        print(f"School pack ({pack.version} version, {len(classes)} classes, {pack.n} pupils): one report per "
              f"class and an overview, printable as one pack: {folder / 'class_pack.html'}")
        print(session.summary())
        return 0
    name = args.class_name or (classes[0] if classes else None)
    title = args.title or (f"How class {name} feels about belonging" if name else None)
    what = f"the class report on {name}" if name else f"the class report on {Path(args.data).name}"
    with tracked_pupils(data, name=what, out=folder) as session:
        if previous is not None and name is not None and len(_classes(previous)) > 1:
            previous = previous[(previous["class"].astype("string").str.strip() == name).fillna(False)]
        rep = class_report(data, school=school, version=args.version, previous=previous, title=title,
                           out=folder / "class_report.html", synthetic=synthetic)
    print(f"Class report ({rep.version} version, {rep.n} pupils): {Path(folder) / 'class_report.html'}")
    if not rep.shown:
        print("Fewer pupils than the disclosure threshold answered: the report shows no results.")
    print(session.summary())
    return 0


def _cmd_audit(args) -> int:
    from ._common import out_dir, read_table
    from .audit import analyse_audit, write_audit_report, write_audit_template

    if args.template:
        out_dir(args.out, personal=False)
        paths = write_audit_template(args.out)
        print(f"Wrote the blank audit to {args.out}: {', '.join(p.name for p in paths)}.")
        return 0
    if not args.data:
        raise _usage("audit needs --data FILE (the stacked rating forms) or --template.")
    data = read_table(args.data, what="audit", expect=lambda cols: "rater" in cols and "indicator" in cols,
                      stack=True)
    survey = _read_sheet(args.survey, "survey") if args.survey else None
    folder = out_dir(args.out)
    if survey is not None:
        _respond(survey, folder, what="survey", synthetic=_is_synthetic(survey))
    result = analyse_audit(data, survey=survey)
    synthetic = _is_synthetic(data)
    paths = write_audit_report(result, args.out, synthetic=synthetic)
    print(f"Audit of {result.n_raters} raters: {', '.join(p.name for p in paths)} in {args.out}.")
    if result.caveat:
        print(result.caveat)
    return 0


def _cmd_support_plan(args) -> int:
    from ._common import out_dir
    from .support_plan import read_term_dates, support_flags, write_support_plans

    print(DATA_PROTECTION_REMINDER)
    data = _read_sheet(args.data, "support-plan")
    previous = _read_sheet(args.previous, "previous") if args.previous else None
    out_dir(args.out)
    rel = None
    if args.reliability is not None:
        rel = {"staff": args.reliability, "total": args.reliability, "total_previous": args.reliability}
    result = support_flags(data, previous=previous, staff_cutoff=args.staff_cutoff,
                           belonging_cutoff=args.belonging_cutoff, reliability=rel)
    synthetic = _is_synthetic(data)
    holidays = read_term_dates(args.term_dates) if args.term_dates else ()
    run = write_support_plans(result, args.out, review_weeks=args.review_weeks, synthetic=synthetic,
                              holidays=holidays)
    # Counts only: no pupil reference or name is printed or logged.
    nr = result.needs_response
    if len(nr):
        print(f"ANSWERS THAT NEED A RESPONSE TODAY: {nr['pupil_ref'].nunique()} pupil(s) gave {len(nr)} answer(s) "
              "that need an adult's response today, whatever their flags (picked on, not feeling safe, no adult "
              f"who cares, no adult to talk to): see {run.folder / 'answers_needing_response.html'}, which says what to do with each.")
    else:
        print("ANSWERS THAT NEED A RESPONSE: none of the marked answers (picked on, not feeling safe, no adult who "
              "cares, no adult to talk to) was given.")
    print(f"{result.n_pupils} pupils read; {result.n_flagged} flagged for a conversation (not a diagnosis; some "
          f"flags are false alarms). One support-plan document per flagged pupil, flags.csv and "
          f"support_summary.html are in {run.folder}.")
    print(run.message())
    for c in result.counts.itertuples():
        print(f"  {c.flag}: {c.n_flagged} of {c.n_assessed} pupils")
    print(NOT_A_SCREEN)
    return 0


def _usage(msg: str):
    from .._errors import DataError

    return DataError(msg)


def _subcommand(sub, name: str, *, help: str, description: str, epilog: str, func, out_help: str | None,
                arguments: list) -> argparse.ArgumentParser:
    """One subcommand: its help, its own arguments, then the ``--out`` folder every tool writes to."""
    parser = sub.add_parser(name, help=help, formatter_class=_RAW, description=description, epilog=epilog)
    for flags, options in arguments:
        parser.add_argument(*flags, **options)
    parser.add_argument("--out", required=True, **({"help": out_help} if out_help else {}))
    parser.set_defaults(func=func)
    return parser


def register(sub) -> None:
    """Add the four subcommands to the ``belonging`` parser's subparsers."""
    _subcommand(sub, "questionnaire",
                help="printable classroom belonging questionnaire, data-entry sheet, notes", description=(
                    "Write the Our Class Belonging questionnaire (primary: ages 7-11, read aloud, No/Sometimes/"
                    "Yes; secondary: five-point agreement) as printable HTML, a blank data-entry sheet (CSV and "
                    "Excel, one row per pupil, codes explained) and administration notes (consent, anonymity, "
                    "reading aloud, what to do if a pupil discloses harm). --instrument teacher_reflection writes "
                    "a teacher's classroom-belonging self-reflection, --instrument parent a short home-school "
                    "partnership survey for parents and carers, each on one A4 side with a blank entry sheet. "
                    "The items are the project's own (CC BY 4.0) and not yet validated."),
                epilog="examples:\n  belonging questionnaire --out ~/school/forms --version primary\n"
                       "  belonging questionnaire --out ~/school/forms --instrument parent",
                func=_cmd_questionnaire, out_help="folder for the files", arguments=[
                    (("--version",), dict(default="both", choices=["both", "primary", "secondary"],
                                          help="the classroom questionnaire's version(s)")),
                    (("--instrument",), dict(default="classroom", choices=["classroom", "teacher_reflection",
                                                                           "parent"],
                                             help="which form: the pupils' classroom questionnaire (default), a "
                                                  "teacher's self-reflection, or the parent and carer survey"))])

    _subcommand(sub, "class-report",
                help="class feedback report (HTML) from a filled data-entry sheet", description=(
                    "Score a class's filled data-entry sheet and write class_report.html: each question's answer "
                    "distribution, each part's mean with a 95% interval, the school beside the class (with "
                    "--school), and group splits only where the disclosure policy allows. For reflection and "
                    "planning, not for judging teachers. Bad input (wrong version, codes out of range, an empty "
                    "class) stops with an error naming the spreadsheet row (the column names are row 1) and the column, exit status 2."),
                epilog="example:\n  belonging class-report --data 7B.csv --school whole_school.csv --out ~/school/reports/7B",
                func=_cmd_class_report, out_help="folder for class_report.html", arguments=[
                    (("--data",), dict(required=True, help="the class's filled sheet (.csv or .xlsx)")),
                    (("--school",), dict(default=None, help="the whole school's sheet, same version (optional)")),
                    (("--previous",), dict(default=None, help=(
                        "the same class's (or classes') sheet from an earlier survey round: each part by round, "
                        "with intervals, and whether the change is more than chance and measurement error; "
                        "pupils matched on pupil_ref (and class) where both sheets have it"))),
                    (("--version",), dict(default=None, choices=["primary", "secondary"],
                                          help="check the sheet is this version (default: from the columns)")),
                    (("--class",), dict(default=None, dest="class_name",
                                        help="the class's name, shown as the report's title; with a file of "
                                             "several classes, report on this class only (default: one report "
                                             "per class and an overview, as one printable pack)")),
                    (("--title",), dict(default=None))])

    _subcommand(sub, "audit",
                help="school culture audit: blank forms, or the staff ratings' report", description=(
                    "--template writes the blank staff self-review (ten areas, three indicators each, rated "
                    "not yet / emerging / established / embedded, with evidence notes) and a blank action plan. "
                    "--data reads the stacked forms of several raters and writes audit_report.html (area profile "
                    "chart, rater agreement ICC with a caveat when raters are few, priorities), area_profile.png "
                    "and the action plan (action_plan.xlsx, action_plan.docx); --survey adds the pupils' view "
                    "of each area from a filled questionnaire sheet."),
                epilog="examples:\n  belonging audit --template --out ~/school/audit\n"
                       "  belonging audit --data ratings.csv --survey pupils.csv --out ~/school/audit/report",
                func=_cmd_audit, out_help=None, arguments=[
                    (("--template",), dict(action="store_true", help="write the blank forms")),
                    (("--data",), dict(default=None, help="stacked rating forms: rater, indicator, rating, evidence")),
                    (("--survey",), dict(default=None,
                                         help="filled questionnaire sheet for the pupils' view (optional)"))])

    _subcommand(sub, "support-plan",
                help="flag pupils for a conversation; one editable support plan each", description=(
                    "Flag pupils for a conversation, never a diagnosis: a low relationships-with-staff score, "
                    "low belonging, a reliable drop since --previous (reliable change index), a high SDQ band "
                    "where collected. Each flag states its reason and measurement error; the summary says how "
                    "many pupils each cut-off flags and that some flags are false alarms. Writes one editable "
                    "Word support plan per flagged pupil, flags.csv and support_summary.html into --out only. "
                    "Pupil-level personal data: names appear only if your file has them; nothing identifying "
                    "is printed. " + NOT_A_SCREEN),
                epilog="example:\n  belonging support-plan --data autumn.csv --previous summer.csv --out "
                       "/secure/pastoral/plans",
                func=_cmd_support_plan, out_help="a secure folder for the plans", arguments=[
                    (("--data",), dict(required=True,
                                       help="filled sheet with pupil_ref (optional name and SDQ columns)")),
                    (("--previous",), dict(default=None, help="the earlier wave's sheet, matched on pupil_ref")),
                    (("--staff-cutoff",), dict(type=float, default=None,
                                               help="default: the middle of the answer scale")),
                    (("--belonging-cutoff",), dict(type=float, default=None,
                                                   help="default: the middle of the answer scale")),
                    (("--reliability",), dict(
                        type=float, default=None,
                        help="alpha to use for the measurement error and reliable change (default: estimated from "
                             "your files; give the whole school's alpha when the file is a single small class)")),
                    (("--review-weeks",), dict(type=int, default=6,
                                               help="suggested review date, school weeks from today")),
                    (("--term-dates",), dict(default=None,
                                             help="CSV or Excel of holidays (columns start, end): the review date "
                                                  "skips them"))])
