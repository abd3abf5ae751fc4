"""The ``belonging`` command line.

::

    belonging validate --data my_survey.sav --codebook my_codebook.csv
    belonging run      --data my_survey.sav --codebook my_codebook.csv --out results/ [--notebooks 02,05]
    belonging report   --school S01 --out report.html [--data survey.csv] [--codebook ...]
                       [--scores pssm,tr_care] [--invalid missing]
    belonging simulate --out sample_data/

Tools for schools (``belonging_lib.schools``): ``questionnaire``, ``class-report``, ``audit`` and
``support-plan``; see ``belonging <command> --help``. For evaluators: ``trial-report``.

``run`` maps the raw file through the codebook, writes the mapped file into
``OUT/data/`` in the sample layout (``survey.csv``), prints a plan (each
chapter, the sections it runs or skips, and why, from the needs each chapter
declares in its front matter), runs the chapters whose needs the data meet,
leaving out the cells of the sections whose needs they do not (papermill
parameter ``DATA_DIR``), and
builds the book from the executed notebooks into ``OUT/site`` with the same
machinery as ``make notebooks`` (:mod:`belonging_lib.book`), saying on every
page that the results come from the user's own data; it says how many
values each missing-value rule (declared missing codes, ``--invalid missing``)
set missing, variable by variable.  Identifier columns (``type == "id"`` in the
codebook) are read as text, so leading zeros survive into the mapped file.

Exit status: 0 done; 1 ``validate`` found errors, or a notebook failed; 2 a
user error (a file that cannot be read, a bad option, ``--out`` naming a
file), reported in one line without a traceback; 3 an unexpected internal
error, also one line (set ``BELONGING_DEBUG=1`` to see its traceback).
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import sys
from pathlib import Path

from ._errors import BelongingError

__all__ = ["main", "map_to_layout", "runnable_notebooks", "missing_report"]

_REPO = Path(__file__).resolve().parent.parent


def map_to_layout(data_path, codebook_path, out_dir, *, file: str = "survey.csv", invalid: str = "raise",
                  encoding: str | None = None):
    """Read a raw file, apply the codebook and write ``out_dir/<file>``.

    Returns the :class:`~belonging_lib.codebook.CodebookResult`.
    """
    from .codebook import apply_codebook, read_codebook
    from .io import read_labelled

    cb = read_codebook(codebook_path)
    raw = read_labelled(data_path, encoding=encoding, user_missing="keep", ids=_id_sources(cb))
    result = apply_codebook(raw, cb, file=file if (cb["file"] != "").any() else None, invalid=invalid)
    out = _out_folder(out_dir)
    frame = result.data.copy()
    for col in frame.columns:  # whole numbers with gaps are written as 3, not 3.0
        s = frame[col]
        if s.dtype.kind == "f" and s.dropna().eq(s.dropna().round()).all():
            frame[col] = s.astype("Int64")
    frame.to_csv(out / file, index=False)
    rows = cb[cb["file"] == file] if (cb["file"] != "").any() else cb.assign(file=file)
    rows.to_csv(out / "codebook.csv", index=False)
    return result


def _id_sources(cb) -> list[str]:
    """Raw columns the codebook declares as identifiers: read as text, leading zeros kept."""
    return cb.loc[cb["type"].str.lower() == "id", "source_name"].tolist()


def _out_folder(path) -> Path:
    """Create an output folder, or raise a library error when the path is a file."""
    from ._errors import DataError

    out = Path(path)
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {str(out)!r} is an existing file, not a folder: name a new or existing folder.")
    for parent in out.parents:
        if parent.exists() and not parent.is_dir():
            raise DataError(f"--out {str(out)!r} cannot be created: {str(parent)!r} is a file, not a folder.")
    out.mkdir(parents=True, exist_ok=True)
    return out


def missing_report(result) -> list[str]:
    """Lines saying how many values each missing-value rule set missing, variable by variable.

    ``result`` is a :class:`~belonging_lib.codebook.CodebookResult`.
    """
    ch = result.changes
    lines = []
    for column, what in (("n_set_missing", "declared missing codes (codebook missing_codes, SPSS user-missing)"),
                         ("n_invalid_set_missing", "--invalid missing (values the codebook does not allow)")):
        hit = ch[ch[column] > 0]
        total = int(ch[column].sum())
        if total == 0:
            lines.append(f"{what}: no values set missing.")
            continue
        shown = ", ".join(f"{r.variable} {int(getattr(r, column))}" for r in hit.head(12).itertuples())
        more = f", ... ({len(hit) - 12} more variables)" if len(hit) > 12 else ""
        lines.append(f"{what}: {total} value{'s' if total != 1 else ''} set missing in {len(hit)} "
                     f"variable{'s' if len(hit) != 1 else ''} ({shown}{more}).")
    return lines


def runnable_notebooks(src, data_dir) -> list[str]:
    """Numbers of the chapters whose declared needs the data in ``data_dir`` meet.

    Each chapter declares what it needs in its front matter (``belonging:``, see
    ``notebooks/AUTHORING.md``); :func:`belonging_lib.book.plan_chapters` gives the whole plan,
    with the sections that are skipped and why.
    """
    from .book import plan_chapters

    return [p.name[:2] for p in plan_chapters(src, data_dir) if p.runs]


def _cmd_validate(args) -> int:
    from .codebook import read_codebook, validate
    from .io import read_labelled

    cb = read_codebook(args.codebook)
    raw = read_labelled(args.data, encoding=args.encoding, user_missing="keep", ids=_id_sources(cb))
    problems = validate(raw, cb, file=args.file if (cb["file"] != "").any() else None)
    if problems.empty:
        print("No problems: the export maps cleanly through the codebook.")
        return 0
    from .codebook import summary_line

    print(problems.to_string(index=False))
    n_err = int((problems["severity"] == "error").sum())
    print(summary_line(problems))
    return 1 if n_err else 0


def _cmd_run(args) -> int:
    from .book import OWN_DATA_NOTICE, BuildError, build_book, execute_chapters, format_plan, plan_chapters

    out = _out_folder(args.out)
    data_dir = out / "data"
    result = map_to_layout(args.data, args.codebook, data_dir, file=args.file, invalid=args.invalid,
                           encoding=args.encoding)
    print(result.summary().splitlines()[-1])
    for line in missing_report(result):
        print(line)
    print(result.ledger)
    src = Path(args.notebook_dir)
    only = [n.strip() for n in args.notebooks.split(",") if n.strip()] if args.notebooks else None
    plans = plan_chapters(src, data_dir, only=only)
    # the plan comes before anything runs: each chapter, the sections it skips, and why
    print(format_plan(plans), flush=True)
    wanted = [p.name[:2] for p in plans if p.runs]
    if not wanted:
        print("No chapter can run on these data: see the plan above for what each one needs.", file=sys.stderr)
        return 1
    # Own data: key results are not checked against the sample's expected values, nor recorded.
    saved = {var: os.environ.pop(var) for var in ("BELONGING_EXPECTED", "BELONGING_RECORD_DIR")
             if var in os.environ}
    print(f"Running chapters {', '.join(wanted)} on {data_dir} ...", flush=True)
    try:
        runs = execute_chapters(src, out / "notebooks", parameters={"DATA_DIR": str(data_dir.resolve())},
                                only=wanted, workers=args.workers, cwd=str(_REPO),
                                skipped={p.name: p.skipped for p in plans if p.runs},
                                # a rerun into the same --out takes unchanged chapters from here
                                cache_dir=out / ".cache" / "chapters")
    finally:
        os.environ.update(saved)
    failed = [r for r in runs if r.error]
    for r in failed:
        print(f"FAILED: chapter {r.name}: {r.error}", file=sys.stderr)
    try:
        # The book says the results come from the user's data, never that they are synthetic. A chapter
        # that failed is still in the book: its page shows the failing cell with its error.
        index = build_book(out / "notebooks", out / "site", title=args.title, notice=OWN_DATA_NOTICE,
                           chapter_notice=OWN_DATA_NOTICE, own_data=True, glossary=src / "glossary.md",
                           plan=format_plan(plans))
    except BuildError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(f"Site: {index}")
    return 1 if failed else 0


def _cmd_report(args) -> int:
    from ._errors import DataError
    from .datasets import load_sample
    from .io import read_data, read_labelled
    from .report import school_report

    if args.data is None:
        data, synthetic = load_sample("survey"), True
    elif args.codebook:
        from .codebook import apply_codebook, read_codebook

        cb = read_codebook(args.codebook)
        raw = read_labelled(args.data, encoding=args.encoding, user_missing="keep", ids=_id_sources(cb))
        result = apply_codebook(raw, cb, file=args.file if (cb["file"] != "").any() else None,
                                invalid=args.invalid)
        data = result.data
        for line in missing_report(result):
            print(line)
        synthetic = False
    else:
        data = read_data(args.data, encoding=args.encoding, ids=[args.school_col, "pupil_id", "class_id"])
        synthetic = False
    if Path(args.out).is_dir():
        raise DataError(f"--out {args.out!r} is a folder; name the report file, such as {args.out}/report.html.")
    if args.school_col not in data.columns:
        raise DataError(f"--school-col {args.school_col!r} is not a column of the data; its columns include "
                        f"{', '.join(map(str, list(data.columns)[:8]))}.")
    groups = [g.strip() for g in args.groups.split(",") if g.strip()]
    lacking = [g for g in groups if g not in data.columns]
    if lacking and args.groups == _DEFAULT_GROUPS:   # default groups the survey lacks: left out, said
        print(f"Groups not in the data, left out: {', '.join(lacking)}.")
        groups = [g for g in groups if g in data.columns]
    elif lacking:
        raise DataError(f"--groups: {', '.join(map(repr, lacking))} {'is' if len(lacking) == 1 else 'are'} not "
                        f"a column of the data; give columns such as fsm,send,gender.")
    scores = [x.strip() for x in args.scores.split(",") if x.strip()] if args.scores else None
    school_report(data, school=args.school, by=groups, out=args.out, synthetic=synthetic,
                  cluster=args.school_col, scores=scores)
    print(f"Report: {args.out}")
    return 0


_DEFAULT_GROUPS = "fsm,send,gender"


def _cmd_simulate(args) -> int:
    from .simulate import write_sample_data

    _out_folder(args.out)
    kwargs = {} if args.seed is None else {"seed": args.seed}
    write_sample_data(args.out, **kwargs)
    print(f"Synthetic sample data written to {args.out}")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="belonging", description="School belonging toolkit: rerun the analyses "
                                "on your own survey, make school reports, simulate sample data.")
    sub = p.add_subparsers(dest="command", required=True)

    def data_args(sp, required=True):
        sp.add_argument("--data", required=required, help="raw survey file (.csv, .xlsx, .sav, .dta)")
        sp.add_argument("--codebook", required=required, help="codebook CSV mapping the file to the schema")
        sp.add_argument("--file", default="survey.csv", help="target file of the codebook (default survey.csv)")
        sp.add_argument("--encoding", default=None, help="text encoding of a CSV file (default UTF-8)")

    v = sub.add_parser("validate", help="list problems of a raw export against a codebook")
    data_args(v)
    v.set_defaults(func=_cmd_validate)

    r = sub.add_parser("run", help="map a raw file, run the notebooks on it and build the site")
    data_args(r)
    r.add_argument("--out", required=True, help="output folder (data/, notebooks/, site/)")
    r.add_argument("--notebooks", default=None, help="comma-separated numbers, e.g. 02,05 "
                   "(default: every chapter whose declared needs your data meet; the plan printed "
                   "before the run says which sections are skipped and why)")
    r.add_argument("--notebook-dir", default=str(_REPO / "notebooks"), help="folder of NN_name.md notebooks")
    r.add_argument("--invalid", default="raise", choices=["raise", "missing"],
                   help="invalid values: stop with an error (default) or set missing")
    r.add_argument("--workers", type=int, default=None)
    r.add_argument("--title", default="Belonging in school: analyses of your survey")
    r.set_defaults(func=_cmd_run)

    rep = sub.add_parser("report", help="one school's belonging report (HTML)")
    data_args(rep, required=False)
    rep.add_argument("--school", required=True)
    rep.add_argument("--school-col", default="school_id")
    rep.add_argument("--groups", default=_DEFAULT_GROUPS, help="pupil groups to break the first score down by")
    rep.add_argument("--scores", default=None, help="scales in the order wanted, e.g. pssm,tr_care "
                     "(default: every scale the data hold, belonging first)")
    rep.add_argument("--invalid", default="raise", choices=["raise", "missing"],
                     help="invalid values: stop with an error (default) or set missing, as in run")
    rep.add_argument("--out", default="report.html")
    rep.set_defaults(func=_cmd_report)

    s = sub.add_parser("simulate", help="write the synthetic sample data")
    s.add_argument("--out", required=True)
    s.add_argument("--seed", type=int, default=None)
    s.set_defaults(func=_cmd_simulate)

    from .schools.cli import register as register_schools   # questionnaire, class-report, audit, support-plan

    register_schools(sub)
    from .trials._cli import register as register_trials     # trial-report

    register_trials(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``belonging`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except (BelongingError, OSError, UnicodeError, csv.Error) as exc:
        # a user error (bad file, bad option, a folder that is a file): one line, exit status 2
        what = "" if isinstance(exc, BelongingError) else f"{type(exc).__name__}: "
        print(f"belonging {args.command}: error: {what}{_one_line(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug: still one line; BELONGING_DEBUG=1 shows the traceback
        if os.environ.get("BELONGING_DEBUG"):
            raise
        print(f"belonging {args.command}: unexpected error ({type(exc).__name__}: {_one_line(exc)}); "
              "this is a bug in belonging_lib, please report it (set BELONGING_DEBUG=1 to see the traceback).",
              file=sys.stderr)
        return 3


#: Advice in the library's messages, in Python's words, and the same advice on the command line.
_COMMAND_LINE_WORDS = {"pass invalid='missing'": "use --invalid missing", 'pass invalid="missing"': "use --invalid missing",
                       "invalid='missing'": "--invalid missing", 'invalid="missing"': "--invalid missing"}


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    for python, command in _COMMAND_LINE_WORDS.items():
        text = text.replace(python, command)
    return text


if __name__ == "__main__":
    raise SystemExit(main())
