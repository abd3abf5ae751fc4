"""The ``belonging`` command line.

::

    belonging validate --data my_survey.sav --codebook my_codebook.csv
    belonging run      --data my_survey.sav --codebook my_codebook.csv --out results/ [--notebooks 02,05]
                       [--work private/] [--key-file key.txt] [--plan] [--accept-warnings]
    belonging report   --school S01 --out report.html [--data survey.csv] [--codebook ...]
                       [--scores pssm,tr_care] [--invalid missing]
    belonging simulate --out sample_data/
    belonging course   --out my_course/

Tools for schools (``belonging_lib.schools``): ``questionnaire``, ``class-report``, ``audit`` and
``support-plan``; see ``belonging <command> --help``. For evaluators: ``trial-report``.

``run`` first repeats every warning of ``validate`` and stops on those that
would score the scales wrongly (reverse keys, instrument names; see
:data:`STOPPING_WARNINGS`) unless ``--accept-warnings``.  It then maps the raw
file through the codebook into a private working folder (``--work``; by
default a folder of the user's cache, never inside ``--out`` or a git
repository), with pupil identifiers replaced by keyed HMAC-SHA256 pseudonyms
(the key: ``--key-file``, ``$BELONGING_PSEUDONYM_KEY``, or one made and kept in
the working folder; never printed).  It prints a plan (each chapter, the
sections it runs or skips, and why, from the needs each chapter declares in its
front matter); ``--plan`` stops there.  It runs the chapters whose needs the
data meet, leaving out the cells of the sections whose needs they do not
(papermill parameter ``DATA_DIR``); a cell that raises fails its section, which
the book replaces by a notice of what failed and what to change, and the
chapter is "partly run".  It builds the book from the executed notebooks with
the same machinery as ``make notebooks`` (:mod:`belonging_lib.book`), saying on
every page that the results come from the user's own data.  ``--out`` receives
only ``notebooks/`` (the executed chapters) and ``site/`` (the book); the run
ends by listing every file there and why it is safe to share.  It says how many
values each missing-value rule (declared missing codes, ``--invalid missing``
when given) set missing, variable by variable.  Identifier columns (``type ==
"id"`` in the codebook) are read as text, so leading zeros survive.

Exit status: 0 done; 1 ``validate`` found errors, ``run`` stopped on a warning, or a chapter or
section could not run; 2 a
user error (a file that cannot be read, a bad option, ``--out`` naming a
file, an optional dependency not installed: the line names the extra to
install), reported in one line without a traceback; 3 an unexpected internal
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
from ._resources import checkout_root, course_path

__all__ = ["main", "map_to_layout", "runnable_notebooks", "missing_report"]

#: The source checkout the package runs from (``None`` for an installed wheel).
_REPO = checkout_root()


def map_to_layout(data_path, codebook_path, out_dir, *, file: str = "survey.csv", invalid: str = "raise",
                  encoding: str | None = None, key: str | bytes | None = None):
    """Read a raw file, apply the codebook and write ``out_dir/<file>``.

    With ``key``, each pupil identifier (an ``id`` variable other than ``school_id`` and
    ``class_id``) is written as its keyed pseudonym (:func:`belonging_lib.privacy.pseudonymise`).
    Returns the :class:`~belonging_lib.codebook.CodebookResult`.
    """
    from .codebook import apply_codebook, read_codebook
    from .io import read_labelled

    cb = read_codebook(codebook_path)
    raw = read_labelled(data_path, encoding=encoding, user_missing="keep", ids=_id_sources(cb))
    result = apply_codebook(raw, cb, file=file if (cb["file"] != "").any() else None, invalid=invalid)
    _write_mapped(result, cb, out_dir, file=file, key=key)
    return result


#: Identifier variables that name groups (shown in tables), never pseudonymised.
_GROUP_IDS = ("school_id", "class_id")


def _pupil_id_columns(result, cb) -> list[str]:
    ids = cb.loc[cb["type"].str.lower() == "id", "variable"]
    return [v for v in ids if v in result.data.columns and v not in _GROUP_IDS]


def _write_mapped(result, cb, out_dir, *, file: str, key=None) -> Path:
    out = _out_folder(out_dir)
    frame = result.data.copy()
    for col in frame.columns:  # whole numbers with gaps are written as 3, not 3.0
        s = frame[col]
        if s.dtype.kind == "f" and s.dropna().eq(s.dropna().round()).all():
            frame[col] = s.astype("Int64")
    if key is not None:
        from .privacy import pseudonymise

        pupil_ids = _pupil_id_columns(result, cb)
        if pupil_ids:
            frame = pseudonymise(frame, columns=pupil_ids, key=key)
    from ._safe_write import write_csv

    write_csv(frame, out / file, index=False)
    rows = cb[cb["file"] == file] if (cb["file"] != "").any() else cb.assign(file=file)
    write_csv(rows, out / "codebook.csv", index=False)
    return out / file


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


def missing_report(result, *, invalid: str = "raise", file_codes: str | None = None) -> list[str]:
    """Lines saying how many values each missing-value rule set missing, variable by variable.

    ``result`` is a :class:`~belonging_lib.codebook.CodebookResult`. The line on ``--invalid
    missing`` is printed only when that option was given (``invalid="missing"``); ``file_codes``
    names the file's own declared missing values where it has any (``"SPSS user-missing"``), and is
    left out of the words otherwise.
    """
    ch = result.changes
    lines = []
    declared = "declared missing codes (codebook missing_codes" + (f", {file_codes})" if file_codes else ")")
    rules = [("n_set_missing", declared)]
    if invalid == "missing":
        rules.append(("n_invalid_set_missing", "--invalid missing (values the codebook does not allow)"))
    for column, what in rules:
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


def _file_codes(raw, path) -> str | None:
    """Words for the missing-value codes a file declares itself (SPSS, Stata), if it declares any."""
    if not getattr(raw, "missing_codes", None) or not any(raw.missing_codes.values()):
        return None
    suffix = Path(str(path)).suffix.lower()
    return {".sav": "SPSS user-missing", ".zsav": "SPSS user-missing", ".por": "SPSS user-missing",
            ".dta": "Stata missing codes"}.get(suffix, "the file's own missing-value codes")


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


#: Warnings of ``validate`` that stop ``run`` unless ``--accept-warnings``: each means the scales
#: would be scored wrongly (reverse keys) or not found (an instrument name the registry lacks).
STOPPING_WARNINGS = ("reverse key differs from instrument", "negative item-rest correlation",
                     "instrument not in the registry")


def _inside_git_tree(path: Path) -> Path | None:
    """The root of the git work tree holding ``path``, if any."""
    for folder in (path, *path.parents):
        if (folder / ".git").exists():
            return folder
    return None


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _work_folder(work, out: Path, data) -> Path:
    """The private working folder of a run: the mapped pupil-level data, the pseudonym key (unless
    one is given), the chapters' cache and the book's sources. Never inside ``--out`` (which is
    shared) nor inside a git repository."""
    from ._errors import DataError

    if work is None:
        import hashlib

        import platformdirs

        tag = hashlib.sha256(f"{Path(data).resolve()}\0{out.resolve()}".encode()).hexdigest()[:16]
        folder = Path(platformdirs.user_cache_dir("belonging")) / "runs" / tag
    else:
        folder = Path(work)
    folder = folder.resolve()
    if _inside(folder, out.resolve()) or _inside(out.resolve(), folder):
        raise DataError(f"--work {str(folder)!r} and --out {str(out)!r} overlap: the working folder holds "
                        "pupil-level data and must lie outside the output folder you share.")
    repo = _inside_git_tree(folder)
    if repo is not None:
        raise DataError(f"--work {str(folder)!r} is inside the git repository {str(repo)!r}: pupil-level data "
                        "are never written inside a repository; name a folder outside it.")
    if folder.exists() and not folder.is_dir():
        raise DataError(f"--work {str(folder)!r} is an existing file, not a folder.")
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    return folder


def _pseudonym_key(key_file, work: Path, out: Path) -> tuple[str, str]:
    """The key of the pupil pseudonyms and where it came from (never the key itself in words).

    ``--key-file`` (read, or made there when it does not exist yet), else
    ``$BELONGING_PSEUDONYM_KEY``, else a key made once and kept in the working folder.
    """
    import secrets

    from ._errors import DataError
    from .privacy import KEY_ENV

    if key_file is None and os.environ.get(KEY_ENV):
        return os.environ[KEY_ENV], f"${KEY_ENV}"
    path = Path(key_file) if key_file is not None else work / "pseudonym.key"
    if _inside(path.resolve(), out.resolve()):
        raise DataError(f"--key-file {str(path)!r} is inside --out {str(out)!r}: the pseudonym key must be kept "
                        "apart from what you share.")
    if path.is_file():
        key = path.read_text(encoding="utf-8").strip()
        return key, f"the key file {path}"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(secrets.token_hex(32) + "\n")
    return path.read_text(encoding="utf-8").strip(), f"a new key file {path} (keep it to link later runs)"


def _print_warnings(problems) -> None:
    """Every warning of ``validate``, as ``validate`` prints it."""
    warn = problems[problems["severity"] == "warning"]
    if warn.empty:
        return
    print(f"validate found {len(warn)} warning{'s' if len(warn) != 1 else ''} (look before analysing):")
    print(warn.drop(columns="severity").to_string(index=False))


#: Why each kind of file under --out can be shared (the closing note of a run).
_SAFE_WORDS = [
    ("notebooks/", ".ipynb", "an executed chapter: tables, figures and numbers about groups of pupils after "
                             "disclosure control; no pupil-level row, no identifier, no key"),
    ("site/", ".html", "a page of the book: the same results as the chapter it shows"),
    ("site/_static/", "", "the site's stylesheets, scripts, fonts and icons: no data"),
    ("site/_images/", "", "a figure of the book, drawn from groups of pupils after disclosure control"),
    ("site/", ".js", "the site's search index and scripts: words of the pages, no data beyond them"),
    ("site/", "", "a file of the site's machinery (build information, object inventory): no data"),
]


def _safe_rule(rel: str) -> tuple[str, str, str] | None:
    for rule in _SAFE_WORDS:
        folder, suffix, _ = rule
        if rel.startswith(folder) and rel.endswith(suffix):
            return rule
    return None


def _closing_note(out: Path) -> list[str]:
    """Every file under ``--out`` and why it is safe to share: named one by one, or, where many are
    alike, as the folder they all lie in."""
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    groups: dict[tuple, list[str]] = {}
    for rel in files:
        groups.setdefault(_safe_rule(rel), []).append(rel)
    lines = [f"Files under {out} ({len(files)}), and why each is safe to share:"]
    for rule, names in groups.items():
        if rule is None:
            lines += [f"  {n}: not made by this run: check it before sharing" for n in names]
        elif len(names) <= 15:
            lines += [f"  {n}: {rule[2]}" for n in names]
        else:
            kind = f" ending {rule[1]}" if rule[1] else ""
            lines.append(f"  {len(names)} files under {rule[0]}{kind}: {rule[2]}")
    return lines


def _hide_data_dir(notebook_dir: Path) -> None:
    """The executed chapters say where the working data were only as a placeholder (in the injected
    parameters and in papermill's record of them)."""
    import nbformat

    for path in notebook_dir.glob("[0-9][0-9]_*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        pm = nb.metadata.get("papermill", {})
        if "DATA_DIR" in pm.get("parameters", {}):
            pm["parameters"]["DATA_DIR"] = "<your working folder, not shared>"
        for key in ("input_path", "output_path"):
            if key in pm:
                pm[key] = Path(pm[key]).name
        for cell in nb.cells:
            if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
                cell.source = re.sub(r'(?m)^DATA_DIR = .*$', 'DATA_DIR = "<your working folder, not shared>"',
                                     cell.source)
        nbformat.write(nb, path)


def _survey_columns(data_dir: Path) -> list[str] | None:
    """The columns of the mapped survey (its header), or ``None`` when the run mapped no survey."""
    import csv

    path = data_dir / "survey.csv"
    if not path.exists():
        return None
    with open(path, newline="", encoding="utf-8-sig") as f:
        return next(csv.reader(f), [])


def _cmd_run(args) -> int:
    from ._optional import require_extra

    if not getattr(args, "plan", False):   # the chapters and the book need the notebooks extra
        require_extra("notebooks")
    from .book import (OWN_DATA_NOTICE, BuildError, build_book, execute_chapters, format_plan,
                       plan_chapters)
    from .codebook import apply_codebook, read_codebook, validate
    from .io import read_labelled

    src = Path(args.notebook_dir)
    only = [n.strip() for n in args.notebooks.split(",") if n.strip()] if args.notebooks else None
    if only:        # a chapter that does not exist is said before any work is done
        from ._errors import DataError

        names = sorted(p.stem for p in src.glob("[0-9][0-9]_*.md"))
        unknown = [n for n in only if not any(n in (s, s[:2]) for s in names)]
        if unknown:
            raise DataError(f"There is no chapter {', '.join(unknown)} in {str(src)!r}: --notebooks takes the "
                            f"chapters' numbers, here {', '.join(s[:2] for s in names)}.")
    out = _out_folder(args.out)
    work = _work_folder(args.work, out, args.data)
    if (out / "data" / "survey.csv").exists():
        print(f"Note: {out / 'data'} holds pupil-level data from an earlier version of this command; this run "
              "no longer writes there. Delete that folder before you share the output.", file=sys.stderr)
    cb = read_codebook(args.codebook)
    raw = read_labelled(args.data, encoding=args.encoding, user_missing="keep", ids=_id_sources(cb))
    file = args.file if (cb["file"] != "").any() else None
    # run repeats every warning of validate, and stops on those that would score the scales wrongly
    problems = validate(raw, cb, file=file)
    _print_warnings(problems)
    stopping = problems[(problems["severity"] == "warning") & problems["problem"].isin(STOPPING_WARNINGS)]
    if len(stopping) and not args.accept_warnings:
        kinds = ", ".join(sorted(set(stopping["problem"])))
        print(f"belonging run: stopped: {len(stopping)} warning{'s' if len(stopping) != 1 else ''} ({kinds}) "
              "mean the scales would be scored wrongly. Correct the codebook (the rows above say what), or "
              "rerun with --accept-warnings if you have checked them.", file=sys.stderr)
        return 1
    result = apply_codebook(raw, cb, file=file, invalid=args.invalid)
    key, key_from = _pseudonym_key(args.key_file, work, out)
    data_dir = work / "data"
    _write_mapped(result, cb, data_dir, file=args.file, key=key)
    del key
    print(result.summary().splitlines()[-1])
    for line in missing_report(result, invalid=args.invalid, file_codes=_file_codes(raw, args.data)):
        print(line)
    print(result.ledger)
    print(f"Pupil-level data mapped into the working folder {work} (not shared); pupil identifiers are "
          f"pseudonymised with {key_from}.")
    plans = plan_chapters(src, data_dir, only=only)
    # the plan comes before anything runs: each chapter, the sections it skips, and why
    print(format_plan(plans), flush=True)
    if args.plan:
        print("Plan only (--plan): no chapter was run.")
        return 0
    wanted = [p.name[:2] for p in plans if p.runs]
    if not wanted:
        print("No chapter can run on these data: see the plan above for what each one needs.", file=sys.stderr)
        return 1
    # Own data: key results are not checked against the sample's expected values, nor recorded.
    saved = {var: os.environ.pop(var) for var in ("BELONGING_EXPECTED", "BELONGING_RECORD_DIR")
             if var in os.environ}
    print(f"Running chapters {', '.join(wanted)} ...", flush=True)
    try:
        runs = execute_chapters(src, out / "notebooks", parameters={"DATA_DIR": str(data_dir)},
                                only=wanted, workers=args.workers, cwd=str(_REPO or work),
                                skipped={p.name: p.skipped for p in plans if p.runs}, contain=True,
                                # a rerun on the same data takes unchanged chapters from here
                                cache_dir=work / "cache" / "chapters")
    finally:
        os.environ.update(saved)
    _hide_data_dir(out / "notebooks")
    outcome = format_plan(plans, runs)
    print(outcome)
    try:
        # The book says the results come from the user's data, never that they are synthetic. A section
        # that could not run shows a short notice in its place; a chapter that failed as a whole says so.
        # built in the working folder (Sphinx and myst-nb leave their own copies of the notebooks beside the
        # site), then only the site is copied under --out
        built = build_book(out / "notebooks", work / "site", title=args.title, notice=OWN_DATA_NOTICE,
                           chapter_notice=OWN_DATA_NOTICE, own_data=True, glossary=src / "glossary.md",
                           plan=outcome, stage_dir=work / "site.src",
                           columns=_survey_columns(data_dir))
    except BuildError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    import shutil

    shutil.rmtree(out / "site", ignore_errors=True)
    shutil.rmtree(out / "jupyter_execute", ignore_errors=True)    # left there by earlier versions of run
    shutil.copytree(built.parent, out / "site")
    index = out / "site" / built.name
    print(f"Site: {index}")
    for line in _closing_note(out):
        print(line)
    bad = [r for r in runs if r.error or r.failed]
    for r in bad:
        if r.error:
            print(f"FAILED: chapter {r.name}: {r.error}", file=sys.stderr)
        for heading, what in r.failed:
            print(f"PARTLY RUN: chapter {r.name}, section '{heading}': {what}", file=sys.stderr)
    return 1 if bad else 0


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
        for line in missing_report(result, invalid=args.invalid, file_codes=_file_codes(raw, args.data)):
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
    if args.data is None:
        school_report(data, school=args.school, by=groups, out=args.out, synthetic=synthetic,
                      cluster=args.school_col, scores=scores)
    else:   # a user's file: checked against what earlier commands published from it, and recorded
        from .disclosure_ledger import tracked

        with tracked(data, file=args.data, name=f"the report on {args.school_col} {args.school}",
                     out=Path(args.out).resolve().parent) as session:
            school_report(data, school=args.school, by=groups, out=args.out, synthetic=synthetic,
                          cluster=args.school_col, scores=scores)
        print(session.summary())
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


def _cmd_course(args) -> int:
    from ._resources import copy_course

    out = _out_folder(args.out)
    written, kept = copy_course(out)
    chapters = [p for p in written + kept if p.parent.name == "notebooks" and p.name[:2].isdigit()]
    print(f"Course copied to {out}: {len(chapters)} chapters, the glossary and the JupyterLab configuration "
          f"({len(written)} files written).")
    if kept:
        print(f"{len(kept)} files were already there and are kept as they were (not overwritten), "
              f"such as {kept[0].relative_to(out)}.")
    print("Open the chapters as notebooks (needs the notebooks extra: pip install 'belonging_lib[notebooks]'):\n"
          f"  JUPYTER_CONFIG_DIR={out / 'jupyter-config'} jupyter lab --ServerApp.root_dir={out / 'notebooks'}")
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
    r.add_argument("--out", required=True, help="output folder to share (notebooks/, site/): results after "
                   "disclosure control, no pupil-level data")
    r.add_argument("--work", default=None, help="private working folder for the mapped pupil-level data, the "
                   "pseudonym key and the cache (default: a folder in your user cache; never inside --out or "
                   "a git repository)")
    r.add_argument("--key-file", default=None, help="file holding the secret key of the pupil pseudonyms (made "
                   "there if it does not exist; default: $BELONGING_PSEUDONYM_KEY, else a key kept in --work)")
    r.add_argument("--plan", action="store_true", help="print the plan (what each chapter would run or skip, "
                   "and why) and stop")
    r.add_argument("--accept-warnings", action="store_true", help="run even though validate warns of reverse "
                   "keys or instrument names (after you have checked them)")
    r.add_argument("--notebooks", default=None, help="comma-separated numbers, e.g. 02,05 "
                   "(default: every chapter whose declared needs your data meet; the plan printed "
                   "before the run says which sections are skipped and why)")
    r.add_argument("--notebook-dir", default=str(course_path("notebooks")),
                   help="folder of NN_name.md notebooks (default: the course's chapters)")
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

    c = sub.add_parser("course", help="copy the course's chapters and JupyterLab configuration to a folder")
    c.add_argument("--out", required=True, help="folder to copy into (files already there are kept)")
    c.set_defaults(func=_cmd_course)

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
        from ._optional import extra_of_module

        advice = extra_of_module(exc.name) if isinstance(exc, ModuleNotFoundError) else None
        if advice:   # an optional dependency is missing: say which extra brings it (exit status 2)
            print(f"belonging {args.command}: error: {advice}", file=sys.stderr)
            return 2
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
