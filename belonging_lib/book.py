"""Execute the chapters and build the book: a Sphinx site made with myst-nb.

The chapters are MyST notebooks (``notebooks/NN_name.md``). Building the book
has two steps:

1. :func:`execute_chapters` converts each chapter to ``.ipynb`` with jupytext
   and runs it with papermill (so parameters such as ``DATA_DIR`` can be
   injected), several chapters at once. A chapter whose source, parameters,
   library code and data files have not changed since the last build is taken
   from the cache instead of being run again. A cell that raises stops the
   build with the chapter's name, the cell's number and its first line.
2. :func:`build_book` puts the executed notebooks, the glossary and the API
   reference pages (``docs/``) into one Sphinx source folder and renders it
   with Sphinx, myst-nb (execution off: the notebooks are already executed)
   and sphinx-book-theme. Sphinx runs with warnings as errors (``-W
   --keep-going``) and nitpicky references, so an unresolved reference, a
   missing glossary term, a missing ``glue`` key or a broken internal link
   fails the build.

On a user's own data (``belonging run``, or ``--data-dir``), :func:`plan_chapters` first reads
what each chapter needs (the ``belonging:`` block of its front matter: scales, columns, files,
section by section; see ``notebooks/AUTHORING.md``) and which of those needs the data meet;
:func:`format_plan` prints the plan, chapters whose needs are unmet do not run, and
:func:`skip_sections` leaves out the cells of the sections whose needs are unmet (the heading
stays, with one line saying why). On the sample every need is met and everything runs.

The notice on every page (and the boxed note at the top of each chapter) is a
parameter of the build: the sample book says its data are synthetic; a book
rerun on a user's own data (``belonging run``) says the results come from
their data.

Command line::

    python -m belonging_lib.book --src notebooks --out build

This module sits at the top of the package (presentation): nothing else in
the library imports it, except the command line.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ._errors import BelongingError
from ._resources import checkout_root, course_path

__all__ = ["ChapterRun", "BuildError", "chapter_sources", "execute_chapters", "prepare_chapter",
           "read_needs", "plan_chapters", "format_plan", "skip_sections", "contain_failures", "ChapterPlan", "SectionPlan",
           "DataOffer",
           "build_book", "SAMPLE_NOTICE", "OWN_DATA_NOTICE", "main"]

_PACKAGE = Path(__file__).resolve().parent
#: The source checkout the package runs from (``None`` for an installed wheel).
_REPO = checkout_root()
#: The book's configuration and API pages; the chapters' sources (with the glossary): shipped in
#: the wheel, or ``docs/`` and ``notebooks/`` of a source checkout.
DOCS = course_path("docs")
CHAPTERS = course_path("notebooks")
_NB_NAME = re.compile(r"^(\d\d)_[a-z0-9_]+\.md$")

#: Notice on every page of the sample book.
SAMPLE_NOTICE = ("All data in this book are synthetic: every pupil, school and country was simulated "
                 "from a documented model. No real person is described.")
#: Notice on every page of a book rerun on a user's own data (``belonging run``), and in place
#: of each chapter's boxed synthetic-data note.
OWN_DATA_NOTICE = ("These chapters were rerun on your own data: personal data, handle this book under "
                   "your data-protection duties. The numbers, tables and figures come from your data, "
                   "with disclosure control applied; sections your data cannot support were skipped, "
                   "and each says why.")


class BuildError(BelongingError):
    """A chapter failed to execute, or Sphinx stopped on an error or warning."""


@dataclass(frozen=True)
class ChapterRun:
    """Outcome of executing one chapter."""

    name: str
    path: Path
    seconds: float
    cached: bool = False
    error: str | None = None
    #: The sections of an own-data run whose cells raised, each heading with what failed in words.
    #: The section's cells were replaced by a notice, and the rest of the chapter ran.
    failed: tuple[tuple[str, str], ...] = ()

    @property
    def partly(self) -> bool:
        """Whether the chapter ran with one or more sections that could not run."""
        return bool(self.failed) and self.error is None


def chapter_sources(src: str | os.PathLike) -> list[Path]:
    """The collection's chapter sources in order (``NN_name.md``)."""
    src = Path(src)
    found = sorted(p for p in src.iterdir() if _NB_NAME.match(p.name))
    if not found:
        raise BelongingError(f"No chapters named like 'NN_name.md' in {src}.")
    return found


# --------------------------------------------------------------------------- what a chapter needs

#: Needs that name a file of the data folder (the sample layout), with words for the plan.
_FILE_WORDS = {"survey": "a pupil survey (survey.csv)", "schools": "a school file (schools.csv)",
               "staff": "a staff survey (staff.csv)", "transition": "a panel across the move to "
               "secondary school (transition.csv)", "trial": "a trial file (trial.csv)",
               "pisa": "a PISA-style file (pisa.csv.gz)", "survey_raw": "the raw export the survey was made "
               "from (survey_raw_export.csv)", "codebook": "the survey's codebook (codebook.csv)"}
#: The need met only by the course's sample data: sections about how it was made.
SAMPLE_NEED = "sample"
#: Any scale of the instrument registry whose items the survey holds.
ANY_SCALE_NEED = "scale"


@dataclass(frozen=True)
class SectionPlan:
    """One section of a chapter in a run's plan: its heading, what it needs and what is missing."""

    heading: str
    needs: tuple[str, ...]
    missing: tuple[str, ...] = ()

    @property
    def runs(self) -> bool:
        return not self.missing


@dataclass(frozen=True)
class ChapterPlan:
    """One chapter in a run's plan: whether it runs, and which of its sections are skipped and why."""

    name: str
    needs: tuple[str, ...]
    missing: tuple[str, ...]
    sections: tuple[SectionPlan, ...] = ()
    why: dict = None

    @property
    def runs(self) -> bool:
        return not self.missing

    @property
    def skipped(self) -> dict[str, str]:
        """The skipped sections: for each heading, the reason in plain words."""
        return {s.heading: _reason(s.missing, self.why or {}) for s in self.sections if not s.runs}


def _front_matter(text: str) -> dict:
    import yaml

    if not text.startswith("---"):
        return {}
    end = text.find("\n---", 3)
    if end < 0:
        return {}
    return yaml.safe_load(text[3:end]) or {}


def _as_needs(value, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [v for v in re.split(r"[,\s]+", value) if v]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise BelongingError(f"{where}: needs must be a list of names such as [pssm, school_id], got {value!r}.")
    return tuple(value)


def read_needs(source: str | os.PathLike) -> dict:
    """Read the ``belonging:`` block of a chapter's front matter.

    Returns ``{"needs": (...), "optional": (...), "sections": {heading: (...)}}``. A chapter
    without the block needs the pupil survey alone. A heading that the chapter does not have
    is an error (so that a renamed section cannot silently stop being skipped).
    """
    source = Path(source)
    text = source.read_text(encoding="utf-8")
    block = _front_matter(text).get("belonging") or {}
    if not isinstance(block, dict):
        raise BelongingError(f"{source.name}: the 'belonging' block of the front matter must be a mapping.")
    unknown = set(block) - {"needs", "optional", "sections", "headings"}
    if unknown:
        raise BelongingError(f"{source.name}: unknown key(s) {sorted(unknown)} in the 'belonging' block "
                             "(use needs, optional, sections, headings).")
    sections = block.get("sections") or {}
    retitled = block.get("headings") or {}
    headings = set(_headings(text))
    for h in [*sections, *retitled]:
        if h not in headings:
            raise BelongingError(f"{source.name}: the 'belonging' block names a section {h!r} that the chapter "
                                 "does not have (headings are matched exactly, without the #).")
    return {"needs": _as_needs(block.get("needs", ["survey"]), source.name),
            "optional": _as_needs(block.get("optional"), source.name),
            "sections": {str(h): _as_needs(v, f"{source.name}, section {h!r}") for h, v in sections.items()},
            "headings": {str(h): _as_retitle(v, f"{source.name}, heading {h!r}") for h, v in retitled.items()}}


def _as_retitle(value, where: str) -> tuple[tuple[str, ...], str]:
    """A ``headings`` entry: ``{without: [needs], reads: wording}`` -> (needs, wording)."""
    if not isinstance(value, dict) or set(value) != {"without", "reads"} or not isinstance(value["reads"], str):
        raise BelongingError(f"{where}: a heading's computed wording is {{without: [peer], reads: Teacher "
                             f"relationships}}, got {value!r}.")
    return _as_needs(value["without"], where), value["reads"]


_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*$")
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")


def _prose_lines(lines):
    """Each line with whether it is prose: outside every fenced block, and not a fence line itself."""
    fence = None
    for line in lines:
        m = _FENCE.match(line)
        if m:
            mark = m.group(1)
            if fence is None:
                fence = mark
            elif mark[0] == fence[0] and len(mark) >= len(fence) and line.strip() == mark:
                fence = None
            yield line, False
        else:
            yield line, fence is None


def _headings(text: str) -> list[str]:
    """Headings of a MyST chapter's prose (outside code cells and fenced blocks)."""
    body = text.split("\n---", 1)[1] if text.startswith("---") else text
    return [h.group(2) for line, prose in _prose_lines(body.splitlines())
            if prose and (h := _HEADING.match(line))]


class DataOffer:
    """What a data folder provides: files, survey columns with answers, scales with answers.

    ``data_dir=None`` is the course's synthetic sample, which meets every need.
    """

    def __init__(self, data_dir: str | os.PathLike | None = None):
        self.data_dir = None if data_dir is None else Path(data_dir)
        self.files: set[str] = set()
        self.columns: set[str] = set()
        self.empty: set[str] = set()
        if self.data_dir is None:
            return
        from .datasets import SAMPLE_FILES

        present = {p.name for p in self.data_dir.iterdir()}
        self.files = {k for k, f in SAMPLE_FILES.items() if f in present}
        if "survey" in self.files:
            import pandas as pd

            survey = pd.read_csv(self.data_dir / SAMPLE_FILES["survey"], dtype=str, keep_default_na=False,
                                 na_values=[""])
            answered = survey.notna().any()
            self.columns = {c for c in survey.columns if answered[c]}
            self.empty = {c for c in survey.columns if not answered[c]}
            # a `send` column of levels (None, SEN support, EHCP) gives the chapters `send_level` too
            if "send_level" not in self.columns and "send" in self.columns:
                send = survey["send"].dropna()
                if pd.to_numeric(send, errors="coerce").isna().any() and send.nunique() > 2:
                    self.columns.add("send_level")

    def scale_items(self, name: str) -> list[str] | None:
        from .instruments import ALIASES, list_instruments, load_instrument

        if name not in list_instruments() and name not in ALIASES:
            return None
        try:
            return list(load_instrument(name).item_ids)
        except Exception:  # not an instrument
            return None

    def meets(self, need: str) -> bool:
        if self.data_dir is None:
            return True
        if need == SAMPLE_NEED:
            return False
        if need in _FILE_WORDS:
            return need in self.files
        if _is_file_name(need):
            return (self.data_dir / need).is_file()
        if need == ANY_SCALE_NEED:
            return bool(self.scales())
        items = self.scale_items(need)
        if items is not None:
            return all(i in self.columns for i in items)
        if "." in need:                       # file.column, such as schools.fsm_share
            file, col = need.split(".", 1)
            if file not in self.files:
                return False
            from .datasets import SAMPLE_FILES
            import pandas as pd

            cols = pd.read_csv(self.data_dir / SAMPLE_FILES[file], nrows=0).columns
            return col in cols
        return need in self.columns

    def scales(self) -> list[str]:
        from .instruments import list_instruments

        return [n for n in list_instruments() if all(i in self.columns for i in (self.scale_items(n) or [None]))]

    def describe(self, need: str) -> tuple[str, str]:
        """What kind of need this is (sample, file, scale, column) and the need in a few plain words."""
        if need == SAMPLE_NEED:
            return "sample", "it works through the course's sample data, not yours"
        if need in _FILE_WORDS:
            return "file", _FILE_WORDS[need]
        if _is_file_name(need):
            return "file", f"a file {need}"
        if need == ANY_SCALE_NEED:
            return "scale", "any scale of the instrument files"
        items = self.scale_items(need)
        if items is not None:
            lacking = [i for i in items if i not in self.columns]
            if lacking and all(i in self.empty for i in lacking):
                return "scale", f"{need} (its items have no answers)"
            return "scale", need
        if "." in need:
            file, col = need.split(".", 1)
            return "column", f"{col} in {_FILE_WORDS.get(file, file)}"
        if need in self.empty:
            return "column", f"{need} (no answers)"
        return "column", need


def _is_file_name(need: str) -> bool:
    return need.endswith((".csv", ".csv.gz", ".json", ".xlsx"))


def _few(names, k: int = 3) -> str:
    names = list(names)
    return ", ".join(names[:k]) + (f" and {len(names) - k} more" if len(names) > k else "")


def _reason(missing, why: dict) -> str:
    """Plain words for a list of unmet needs: the sample first, then files, scales and columns."""
    kinds: dict[str, list[str]] = {}
    for m in missing:
        kind, words = why.get(m, ("column", m))
        kinds.setdefault(kind, []).append(words)
    parts = []
    if "sample" in kinds:
        parts.append(kinds["sample"][0])
    lack = []
    if "file" in kinds:
        lack.append(" and ".join(kinds["file"]))
    for kind, one, many in (("scale", "the scale", "the scales"), ("column", "the column", "the columns")):
        if kind in kinds:
            names = kinds[kind]
            lack.append(f"{one if len(names) == 1 else many} {_few(names, 6)}")
    if lack:
        parts.append("it needs " + "; ".join(lack) + ", which your data do not have")
    return "; ".join(parts)


def plan_chapters(src: str | os.PathLike, data_dir: str | os.PathLike | None = None, *,
                  only: list[str] | None = None) -> list[ChapterPlan]:
    """Which chapters, and which of their sections, the data in ``data_dir`` can run.

    Each chapter declares its needs in the ``belonging:`` block of its front matter (see
    ``notebooks/AUTHORING.md``). ``data_dir=None`` is the course's sample: everything runs.
    """
    offer = DataOffer(data_dir)
    plans = []
    for source in chapter_sources(src):
        if only and source.stem[:2] not in only and source.stem not in only:
            continue
        declared = read_needs(source)
        missing = tuple(n for n in declared["needs"] if not offer.meets(n))
        sections = tuple(SectionPlan(h, needs, tuple(n for n in needs if not offer.meets(n)))
                         for h, needs in declared["sections"].items())
        optional = tuple(n for n in declared["optional"] if not offer.meets(n))
        why = {n: offer.describe(n) for n in set(missing) | set(optional)
               | {m for s in sections for m in s.missing}}
        plans.append(ChapterPlan(source.stem, declared["needs"], missing, sections, why))
    return plans


def format_plan(plans: list[ChapterPlan], runs: list[ChapterRun] | None = None) -> str:
    """The plan as printed before a run: each chapter, what runs, what is skipped and why.

    With ``runs`` (after the run), a chapter with a section that could not run is marked "partly
    run", with each such section and what failed, and a chapter that failed as a whole "did not run".
    """
    outcome = {r.name: r for r in runs or []}
    lines = ["Plan:" if runs is None else "What ran:"]
    n_partly = n_failed = 0
    for p in plans:
        if not p.runs:
            lines.append(f"  {p.name}: skipped ({_reason(p.missing, p.why or {})}).")
            continue
        skipped = p.skipped
        run = outcome.get(p.name)
        if run is not None and run.error is not None:
            n_failed += 1
            lines.append(f"  {p.name}: did not run ({run.error}).")
            continue
        failed = dict(run.failed) if run is not None else {}
        n_partly += bool(failed)
        verb = "partly run" if failed else "runs"
        parts = [f"{len(skipped)} section(s) skipped"] if skipped else []
        parts += [f"{len(failed)} section(s) could not run"] if failed else []
        lines.append(f"  {p.name}: {verb}" + (f", {' and '.join(parts)}:" if parts else " every section."))
        for heading, reason in skipped.items():
            lines.append(f"      skip '{heading}': {reason}.")
        for heading, what in failed.items():
            lines.append(f"      could not run '{heading}': {what}.")
    n_run = sum(p.runs for p in plans)
    if runs is None:
        lines.append(f"{n_run} of {len(plans)} chapters run; "
                     f"{sum(len(p.skipped) for p in plans if p.runs)} sections skipped within them.")
    else:
        full = n_run - n_partly - n_failed
        lines.append(f"Of {len(plans)} chapters, {full} ran, {n_partly} ran partly, {n_failed} did not run and "
                     f"{len(plans) - n_run} were skipped.")
    return "\n".join(lines)


_SKIPPED_LINE = "*This section was skipped on your data: {}.*"


def skip_sections(nb, skipped: dict[str, str], *, line: str = _SKIPPED_LINE):
    """Remove the cells of each skipped section from a notebook (in place; returns ``nb``).

    A section runs from its heading to the next heading of the same or a higher level. The
    heading stays, followed by one line saying that the section was skipped and why (``line``,
    with ``{}`` for the reason); its prose, code cells and sub-sections go.
    """
    import nbformat

    if not skipped:
        return nb
    line_text = line
    cells, level = [], None
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            if level is None:
                cells.append(cell)
            continue
        kept = []
        for line, prose in _prose_lines(cell.source.splitlines()):
            h = _HEADING.match(line) if prose else None
            if h:
                depth = len(h.group(1))
                if level is not None and depth <= level:
                    level = None
                if level is None and h.group(2) in skipped:
                    level = depth
                    kept += [line, "", line_text.format(skipped[h.group(2)]), ""]
                    continue
            if level is None:
                kept.append(line)
        text = "\n".join(kept).strip("\n")
        if text:
            metadata = cell.metadata
            tags = list(metadata.get("tags", []))
            if "solution" in tags and text != cell.source.strip("\n") and _HEADING.match(text.splitlines()[0]):
                # a solution's prose went with its skipped section: what is left (the next section) is
                # no solution, and must not be folded under "Solution"
                metadata = {**metadata, "tags": [t for t in tags if t != "solution"]}
            new = nbformat.v4.new_markdown_cell(text, metadata=metadata)
            cells.append(new)
    nb.cells = cells
    return nb


#: Papermill marks the failing cell with cells of its own; an own-data book leaves them out.
_PAPERMILL_ERROR_TAG = "papermill-error-cell-tag"
#: Characters that Markdown or MyST would read as markup in an error message shown as prose.
_MARKUP = re.compile(r"([\\`*_{}\[\]<>$|#~])")


def _plain_words(text: str) -> str:
    """An error message as one plain line: ANSI colours removed, at most 300 characters."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(text))
    text = " ".join(text.split())
    return text[:297].rstrip() + "..." if len(text) > 300 else text


def _escaped(text: str) -> str:
    """Plain text shown as Markdown prose: characters that would read as markup are escaped."""
    return _MARKUP.sub(r"\\\1", text)


def _failure_words(ename: str, evalue: str) -> tuple[str, str]:
    """What failed, in words, and what to change, for a cell's error."""
    value = _plain_words(evalue)
    if ename == "NameError":
        return ("it uses a result of an earlier section that could not be run",
                "make that section run first (see its own notice above)")
    if ename == "KeyError":
        return (f"it looked for {value} in your data, which do not have it",
                "map that column in your codebook (`belonging validate` shows what is mapped), "
                "or leave this chapter out with `--notebooks`")
    what = value.rstrip(".") or ename
    return (f"{what} ({ename})",
            "check the columns this section uses in your codebook and with `belonging validate`; "
            "the plan printed by `belonging run --plan` says what each section needs")


def _section_of_cells(nb) -> list[str | None]:
    """For each cell, the heading of the innermost section (level 2 or deeper) it sits in."""
    current: str | None = None
    out = []
    for cell in nb.cells:
        out.append(current)          # a markdown cell belongs to the section open where it starts
        if cell.cell_type == "markdown":
            for line, prose in _prose_lines(cell.source.splitlines()):
                h = _HEADING.match(line) if prose else None
                if h:
                    current = h.group(2) if len(h.group(1)) >= 2 else None
    return out


def contain_failures(nb) -> tuple[dict[str, str], str | None]:
    """Replace each section of an executed notebook in which a cell raised by a short notice.

    For an own-data run (cells run with errors allowed): a section whose cell raised keeps its
    heading and one paragraph saying what failed, in words, and what to change; its cells and
    their outputs (the traceback among them) go. A cell that raised outside every section (before
    the first ``##`` heading) fails the whole chapter: the notebook is left with its title and a
    notice. Works in place.

    Returns
    -------
    (dict, str or None)
        The failed sections (heading -> what failed, in words), and the whole chapter's failure in
        words (``None`` when the chapter ran, fully or partly).
    """
    import nbformat

    nb.cells = [c for c in nb.cells if _PAPERMILL_ERROR_TAG not in c.get("metadata", {}).get("tags", [])]
    sections = _section_of_cells(nb)
    failed: dict[str, tuple[str, str]] = {}
    whole = None
    for cell, section in zip(nb.cells, sections):
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if not errors:
            continue
        words = _failure_words(errors[0].get("ename", ""), errors[0].get("evalue", ""))
        if section is None:
            whole = whole or words
        else:
            failed.setdefault(section, words)
    if whole is not None:
        title = next((ln for c in nb.cells if c.cell_type == "markdown" for ln in c.source.splitlines()
                      if ln.startswith("# ")), "# Chapter")
        nb.cells = [nbformat.v4.new_markdown_cell(
            f"{title}\n\n**This chapter could not be run on your data.** What failed: {_escaped(whole[0])}. "
            f"What to change: {whole[1]}.")]
        return {}, whole[0]
    notices = {h: f"{_escaped(what)}. What to change: {change}" for h, (what, change) in failed.items()}
    skip_sections(nb, notices, line="**This section could not be run on your data.** What failed: {}.")
    for cell in nb.cells:             # no traceback left anywhere (an error inside a kept section's cell)
        if cell.cell_type == "code":
            cell["outputs"] = [o for o in cell.get("outputs", []) if o.get("output_type") != "error"]
    return {h: what for h, (what, _) in failed.items()}, None


# --------------------------------------------------------------------------- execution

def _digest_files(paths) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(str(p.name).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


#: Modules that build the book or run the command line; chapters never import them.
_NOT_USED_BY_CHAPTERS = {"book.py", "cli.py"}


def _library_digest() -> str:
    """Hash of the library's code and data files: a change to them reruns every chapter."""
    files = [p for p in _PACKAGE.rglob("*") if p.is_file() and "__pycache__" not in p.parts
             and p.suffix in {".py", ".yaml", ".html", ".css", ".json", ".j2"}
             and p.relative_to(_PACKAGE).as_posix() not in _NOT_USED_BY_CHAPTERS
             and p.relative_to(_PACKAGE).parts[0] != "_course"]   # the wheel's copy of the course
    return _digest_files(files)


def _data_digest(parameters: dict) -> str:
    from .datasets import sample_dir

    folder = parameters.get("DATA_DIR") or sample_dir()
    files = [p for p in Path(folder).rglob("*") if p.is_file()]
    return _digest_files(files)


def _cache_key(source: Path, parameters: dict, common: str) -> str:
    h = hashlib.sha256()
    h.update(source.read_bytes())
    h.update(json.dumps(parameters, sort_keys=True, default=str).encode())
    h.update(common.encode())
    for var in ("BELONGING_EXPECTED", "BELONGING_DISCLOSURE_THRESHOLD", "PYTHONHASHSEED"):
        h.update(f"{var}={os.environ.get(var, '')}".encode())
    return h.hexdigest()[:20]


def _chapter_key(source: Path, parameters: dict, common: str, skipped: dict | None) -> str:
    """The cache key of one chapter: its source, the parameters, the library and data (``common``),
    the sections skipped and the environment variables that change results."""
    return _cache_key(source, parameters, common + json.dumps(skipped or {}, sort_keys=True))


def _cached_chapter(source: str | os.PathLike, cache_dir: str | os.PathLike, *,
                   parameters: dict | None = None) -> Path:
    """Where :func:`execute_chapters` keeps ``source`` executed with ``parameters`` (nothing skipped)
    and this process's library, data and environment; the file exists only if such a run succeeded."""
    params = dict(parameters or {})
    key = _chapter_key(Path(source), params, _library_digest() + _data_digest(params), None)
    return Path(cache_dir) / f"{Path(source).stem}-{key}.ipynb"


def _cell_line(source: Path, cell_source: str) -> int | None:
    """Line of ``source`` where a cell's first line appears (1-based), if found."""
    first = next((ln for ln in cell_source.splitlines() if ln.strip()), "")
    if not first:
        return None
    for i, line in enumerate(source.read_text(encoding="utf-8").splitlines(), start=1):
        if line.rstrip() == first.rstrip():
            return i
    return None


def _describe_failure(source: Path, out_path: Path, exc: Exception) -> str:
    """Name the chapter, the failing cell (number and source line) and the error."""
    import nbformat

    where = ""
    try:
        nb = nbformat.read(out_path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"
                and "injected-parameters" not in c.metadata.get("tags", [])]
        for number, cell in enumerate(code, start=1):
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            if errors:
                line = _cell_line(source, cell.source)
                first = next((ln for ln in cell.source.splitlines() if ln.strip()), "")
                where = (f"code cell {number}" + (f" (line {line} of {source.name})" if line else "")
                         + f": {first.strip()[:80]!r}")
                # the line of the cell that raised, from the traceback (ANSI colours removed)
                tb = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(errors[0].get("traceback", [])))
                at = [m.strip() for m in re.findall(r"^-+> *\d+ (.*)$", tb, flags=re.M)]
                if at and at[0] != first.strip():
                    where += f", at {at[0][:80]!r}"
                break
    except Exception:  # the notebook papermill left behind is unreadable: report the error alone
        pass
    ename = getattr(exc, "ename", type(exc).__name__)
    evalue = getattr(exc, "evalue", str(exc).splitlines()[0] if str(exc) else "")
    return f"{where or 'a cell'} raised {ename}: {evalue}"


#: The longest socket stem used: the kernel adds "-<port>" and the path must fit a Unix socket address.
_MAX_SOCKET_STEM = 90


def _kernel_options() -> dict:
    """Options of the kernels that run the chapters: on POSIX they talk to this process over local
    sockets in Jupyter's private runtime folder, not over TCP (so nothing is sent in plain text on
    the network stack, and the kernel has nothing to warn about)."""
    if os.name != "posix":
        return {}
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.paths import jupyter_runtime_dir

    class _LocalSocketKernelManager(AsyncKernelManager):
        async def _async_pre_start_kernel(self, **kw):
            runtime = Path(jupyter_runtime_dir())
            runtime.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not self.connection_file:
                self.connection_file = str(runtime / f"kernel-belonging-{os.getpid()}-{id(self):x}.json")
            ip = os.path.splitext(self.connection_file)[0] + "-ipc"
            if len(ip) > _MAX_SOCKET_STEM:   # a Unix socket's path holds about 107 bytes: use a short folder
                import tempfile

                ip = str(Path(tempfile.mkdtemp(prefix="bk-")) / "k")
            if len(ip) <= _MAX_SOCKET_STEM:  # else (a very long temporary folder) TCP, as Jupyter's default
                self.transport = "ipc"
                self.ip = ip
            return await super()._async_pre_start_kernel(**kw)

    return {"kernel_manager_class": _LocalSocketKernelManager}


def _execute_one(source: Path, out_path: Path, parameters: dict, cwd: Path, timeout: int,
                 skipped: dict | None = None, contain: bool = False) -> ChapterRun:
    import jupytext
    import nbformat
    import papermill

    start = time.perf_counter()
    nb = jupytext.read(source)
    skip_sections(nb, skipped or {})
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    raw_path = out_path.parent / ".unexecuted" / (source.stem + ".ipynb")
    raw_path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, raw_path)
    error, failed = None, ()
    try:
        # request_save_on_cell_execute=False: the notebook is written once, when it ends or a cell
        # raises, not twice per cell (each write serialises and validates the whole notebook)
        papermill.execute_notebook(
            str(raw_path), str(out_path), parameters=parameters, cwd=str(cwd), request_save_on_cell_execute=False,
            kernel_name="python3", progress_bar=False, execution_timeout=timeout,
            log_output=False, **({"allow_errors": True} if contain else {}), **_kernel_options(),
        )
    except Exception as exc:  # papermill re-raises the cell's error; keep the notebook it wrote
        error = _describe_failure(source, out_path, exc)
        if contain and out_path.exists():
            # own data: the section that failed is replaced by a notice; the rest of the chapter stands
            done = nbformat.read(out_path, as_version=4)
            sections, whole = contain_failures(done)
            nbformat.write(done, out_path)
            error, failed = whole, tuple(sections.items())
            if whole is None and not sections:   # no error output to place (a timeout, a dead kernel)
                error = _describe_failure(source, out_path, exc)
    finally:
        raw_path.unlink(missing_ok=True)
    return ChapterRun(source.stem, out_path, time.perf_counter() - start, False, error, failed)


def execute_chapters(src: str | os.PathLike, out_dir: str | os.PathLike, *,
                     parameters: dict | None = None, only: list[str] | None = None,
                     workers: int | None = None, timeout: int = 600,
                     cwd: str | os.PathLike | None = None,
                     cache_dir: str | os.PathLike | None = None,
                     skipped: dict[str, dict[str, str]] | None = None,
                     contain: bool = False) -> list[ChapterRun]:
    """Convert and execute every chapter in ``src`` into ``out_dir``.

    Parameters
    ----------
    src : path
        Folder of ``NN_name.md`` chapters.
    out_dir : path
        Folder for the executed ``.ipynb`` files.
    parameters : dict, optional
        Papermill parameters injected into every chapter (for example
        ``{"DATA_DIR": "/path/to/my/data"}``).
    only : list of str, optional
        Chapter numbers or names to run (``["02", "05"]``).
    workers : int, optional
        Chapters executed at once (default: the number of CPU cores, at most 4).
    timeout : int
        Seconds one cell may run.
    cwd : path, optional
        Working folder of the kernels (default ``out_dir``).
    cache_dir : path, optional
        Folder of executed notebooks kept between builds. A chapter is taken
        from it when its source, the parameters, the library's code and the
        data files are unchanged. ``None`` runs every chapter. The cache is
        not used while key results are being recorded (``BELONGING_RECORD_DIR``).
    skipped : dict, optional
        For each chapter (by name, ``"05_belonging_and_attainment"``), the sections to skip and
        why (``{heading: reason}``), as :func:`plan_chapters` gives them; their cells are not run.
    contain : bool
        A run on a user's own data: a cell that raises fails its section, not the chapter. Every
        cell runs; each section with a failed cell is replaced by a notice (what failed and what to
        change, no traceback) by :func:`contain_failures`, and listed in the run's ``failed``. A
        chapter with a failed section is not cached.

    Returns
    -------
    list of ChapterRun
        One entry per chapter, with its run time, whether it came from the
        cache, and its error (``None`` if it ran).
    """
    sources = chapter_sources(src)
    if only:
        wanted = {str(o) for o in only}
        sources = [s for s in sources if s.stem[:2] in wanted or s.stem in wanted]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("[0-9][0-9]_*.ipynb"):  # the book shows exactly the chapters of this build
        old.unlink()
    run_cwd = Path(cwd) if cwd is not None else out
    workers = workers or min(4, os.cpu_count() or 1)
    params = dict(parameters or {})
    use_cache = cache_dir is not None and not os.environ.get("BELONGING_RECORD_DIR")
    keys: dict[str, str] = {}
    runs: list[ChapterRun] = []
    todo = []
    if use_cache:
        cache = Path(cache_dir)
        cache.mkdir(parents=True, exist_ok=True)
        common = _library_digest() + _data_digest(params)
        for s in sources:
            keys[s.stem] = _chapter_key(s, params, common, (skipped or {}).get(s.stem))
            hit = cache / f"{s.stem}-{keys[s.stem]}.ipynb"
            if hit.exists():
                shutil.copy2(hit, out / f"{s.stem}.ipynb")
                runs.append(ChapterRun(s.stem, out / f"{s.stem}.ipynb", 0.0, True))
                print(f"  {s.stem}: cached", flush=True)
            else:
                todo.append(s)
    else:
        todo = list(sources)
    timings_file = Path(cache_dir) / "seconds.json" if cache_dir is not None else None
    timings = {}
    if timings_file is not None and timings_file.exists():
        timings = json.loads(timings_file.read_text(encoding="utf-8"))
    # longest chapters first (last build's times; unknown ones first of all), so the workers finish together
    todo.sort(key=lambda s: -timings.get(s.stem, float("inf")))
    if todo:
        # imported here, before the workers start: a forked worker inherits them instead of importing
        # them again (papermill's import, through nbformat's schema validator, takes over a second)
        import jupytext  # noqa: F401
        import nbformat  # noqa: F401
        import papermill  # noqa: F401

        with cf.ProcessPoolExecutor(max_workers=min(workers, len(todo))) as pool:
            futures = [pool.submit(_execute_one, s, out / f"{s.stem}.ipynb", params, run_cwd, timeout,
                                   (skipped or {}).get(s.stem), contain)
                       for s in todo]
            for fut in cf.as_completed(futures):
                run = fut.result()
                status = ("ok" if run.error is None and not run.failed else
                          f"partly run: {len(run.failed)} section(s) could not run" if run.error is None
                          else f"FAILED: {run.error}")
                print(f"  {run.name}: {run.seconds:5.1f} s  {status}", flush=True)
                runs.append(run)
                if use_cache and run.error is None and not run.failed:
                    cache = Path(cache_dir)
                    for stale in cache.glob(f"{run.name}-*.ipynb"):
                        stale.unlink()
                    shutil.copy2(run.path, cache / f"{run.name}-{keys[run.name]}.ipynb")
    shutil.rmtree(out / ".unexecuted", ignore_errors=True)
    if timings_file is not None:
        timings.update({r.name: round(r.seconds, 1) for r in runs if not r.cached and r.error is None
                        and not r.failed})
        timings_file.parent.mkdir(parents=True, exist_ok=True)
        timings_file.write_text(json.dumps(timings, indent=1, sort_keys=True), encoding="utf-8")
    return sorted(runs, key=lambda r: r.name)


# --------------------------------------------------------------------------- rendering

_NUMPY_REPR = re.compile(r"^np\.(?:float|int|uint|complex)\w*\((.*)\)$|^np\.(True|False)_$", re.S)


def _plain_glue_values(cell) -> None:
    """Let ``{glue:text}`` format numpy scalars: their repr (``np.float64(0.91)``) becomes the
    plain literal (``0.91``), as for a Python float."""
    for out in cell.get("outputs", []):
        meta = out.get("metadata", {}).get("scrapbook")
        if not meta:
            continue
        key = meta.get("mime_prefix", "") + "text/plain"   # display=False glues carry a prefix
        if key not in out.get("data", {}):
            continue
        text = out["data"][key]
        text = "".join(text) if isinstance(text, list) else text
        m = _NUMPY_REPR.match(text.strip())
        if m:
            out["data"][key] = m.group(1) if m.group(1) is not None else m.group(2)


_NOTICE = re.compile(r"^> \*\*[^*]*synthetic[^*]*\*\*", re.IGNORECASE)


def _replace_notice(text: str, notice: str) -> tuple[str, bool]:
    """Replace the chapter's boxed data notice (a quote opening with a bold sentence naming
    synthetic data) with ``notice``."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if _NOTICE.match(line):
            j = i
            while j < len(lines) and lines[j].startswith(">"):
                j += 1
            return "\n".join(lines[:i] + [f"> {notice}"] + lines[j:]), True
    return text, False


def _own_notice_in_executed(path: Path, notice: str) -> None:
    """The executed chapter ``path`` of a run on the user's own data, kept beside the book, says that the
    data are the user's: its boxed synthetic-data note is replaced by ``notice`` in the file itself."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    changed = False
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source, hit = _replace_notice(cell.source, notice)
            changed = changed or hit
    if changed:
        nbformat.write(nb, path)


# --------------------------------------------------------------------------- a book on the user's own data

#: Words that mark a sentence as being about the course's sample data and how it was made.
_SAMPLE_WORDS = re.compile(r"synthetic|simulat|TRUTH|true by construction|\bby construction|generating model",
                           re.IGNORECASE)
_GLUE_REF = re.compile(r"\{glue(?::\w+)?\}`([^`:]+)")
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?]\*\*))\s+(?=[A-Z(*{`])")  # a closing ** stays
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+\.)\s+")
_CITATION = re.compile(r"\(\d{4}[a-z]?\)\.")


def _glued_values(nb) -> dict[str, str]:
    """Each ``glue`` key of an executed notebook with its plain-text value."""
    found = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            meta = out.get("metadata", {}).get("scrapbook")
            if not meta:
                continue
            data = out.get("data", {})
            text = next((v for k, v in data.items() if k.endswith("text/plain")), None)
            if text is None:
                text = next((v for k, v in data.items() if k.endswith("text/markdown")), "")
            found[meta.get("name")] = "".join(text) if isinstance(text, list) else str(text)
    return found


def _blocks(lines: list[str]):
    """Split markdown lines into blocks: paragraphs and list items (``text``), and lines kept as they
    are (``keep``): blank lines, headings, directive options, fence lines and code fences. The prose
    inside a MyST directive (an admonition, a note) is split like any other prose."""
    block, fence, directives = [], None, []
    for line in lines:
        m = _FENCE.match(line)
        if fence is not None:                      # inside a code fence: kept as it is
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) and line.strip() == m.group(1):
                fence = None
            yield "keep", [line]
            continue
        if m:
            if block:
                yield "text", block
            block = []
            mark = m.group(1)
            if directives and line.strip() == directives[-1]:
                directives.pop()                   # the end of a directive
            elif line.strip()[len(mark):].startswith("{"):
                directives.append(mark)            # a directive: its prose is prose
            else:
                fence = mark
            yield "keep", [line]
            continue
        if not line.strip() or _HEADING.match(line) or _LIST_ITEM.match(line) or line.startswith(":"):
            if block:
                yield "text", block
            block = []
            if not line.strip() or _HEADING.match(line) or line.startswith(":"):
                yield "keep", [line]
                continue
        block.append(line)
    if block:
        yield "text", block


#: How the chapters name each scale of the course (the prefix of its item columns) in prose.
_SCALE_WORDS = {
    "pssm": r"\bPSSM\b|[Ss]chool [Mm]embership",
    "pisa_belong": r"\bPISA\b",
    "sdq": r"\bSDQ\b|Strengths and Difficulties|\b[Dd]ifficulties\b",
    "swemwbs": r"WEMWBS|[Ww]ell-?being",
    "tr_care": r"[Tt]eacher care|cared for",
    "tr_fair": r"[Tt]eacher fairness|treated fairly",
    "tr_listen": r"\b[Ll]isten",
    "peer": r"[Pp]eer (?:acceptance|relationships?)|(?:with|by) peers\b|\b[Ff]riends\b",
    "bully": r"\b[Bb]ull(?:y|ied|ying)\b",
    "engage": r"(?<![Pp]arental )\b[Ee]ngagement\b",
    "voice": r"[Pp]upil voice",
    "parent_engage": r"[Pp]arental engagement",
}
#: How the chapters name the pupil groups that one column records.
_GROUP_WORDS = {
    "fsm": r"\bFSM\b|[Ff]ree school meals",
    "send": r"\bSEND?\b|[Ss]pecial educational needs",
    "eal": r"\bEAL\b|additional language",
    "ethnicity": r"\b[Ee]thnic",
    "lgbt": r"\bLGBT",
    "adversity": r"\b[Aa]dversity\b",
}


def _absent_names(columns) -> re.Pattern | None:
    """The words of the course's scales and pupil groups that ``columns`` (a survey's) do not record.

    A scale counts as recorded when an item column starts with its name and ``_`` (``peer_1``); a
    group when its column is there.  ``None`` when every one is recorded.
    """
    cols = {str(c) for c in columns}
    words = [w for name, w in _SCALE_WORDS.items() if not any(c.startswith(name + "_") for c in cols)]
    words += [w for name, w in _GROUP_WORDS.items() if name not in cols]
    return re.compile("|".join(f"(?:{w})" for w in words)) if words else None


def _own_data_prose(text: str, glued: dict[str, str], absent: re.Pattern | None = None) -> str:
    """Prose of a chapter rerun on own data: a paragraph or list item that shows a number the run did
    not compute (its section was skipped, or its value is missing) is left out, and so is a sentence
    that names a scale or pupil group the data do not record (``absent``, from :func:`_absent_names`)
    or that is about how the sample data were made (a list item led by such a sentence, or a
    reference that names such a scale, goes whole)."""
    out = []
    for kind, block in _blocks(text.splitlines()):
        if kind != "text":
            out.extend(block)
            continue
        para = "\n".join(block)
        keys = _GLUE_REF.findall(para)
        if any(k not in glued or glued[k].strip().lower() in {"nan", "np.float64(nan)", "none", "<na>"}
               for k in keys):
            continue
        if absent is not None and not para.lstrip("*").startswith(("This section was skipped",
                                                                   "This section could not be run")):
            sentences = _SENTENCE_END.split(para)
            names = [absent.search(re.sub(r"`[^`]*`", " ", x)) for x in sentences]
            if _LIST_ITEM.match(sentences[0]) and (names[0] or (any(names) and _CITATION.search(para))):
                continue                                   # a list item led by it, or a reference: all of it
            kept = [x for x, named in zip(sentences, names) if not named]
            if not kept:
                continue
            para = " ".join(kept) if len(kept) < len(sentences) else para
        if _SAMPLE_WORDS.search(para):
            sentences = _SENTENCE_END.split(para)
            if _LIST_ITEM.match(sentences[0]) and _SAMPLE_WORDS.search(sentences[0]):
                continue                                   # a list item about the sample: all of it
            kept = [x for x in sentences if not _SAMPLE_WORDS.search(x)]
            if not kept:
                continue
            para = " ".join(kept)
        out.append(para)
    return _drop_empty_directives("\n".join(out))


def _drop_empty_directives(text: str) -> str:
    """Leave out a MyST directive (an admonition, a note) whose prose was all left out."""
    lines = text.splitlines()
    changed = True
    while changed:
        changed = False
        for i, line in enumerate(lines):
            m = _FENCE.match(line)
            if not (m and line.strip()[len(m.group(1)):].startswith("{")):
                continue
            close = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == m.group(1)), None)
            if close is None:
                continue
            # a lead-in such as "Sources:" left alone is no content
            inner = [ln for ln in lines[i + 1:close] if ln.strip() and not ln.startswith(":")
                     and not re.fullmatch(r"[^.!?:]*:", ln.strip())]
            if not inner:
                del lines[i:close + 1]
                changed = True
                break
    return "\n".join(lines)


def _own_data_figure(options: dict) -> None:
    """A figure's caption and alt text on own data: sentences about the sample are left out."""
    for part, key in (("figure", "caption"), ("image", "alt")):
        text = options.get(part, {}).get(key)
        if isinstance(text, str) and _SAMPLE_WORDS.search(text):
            kept = [x for x in _SENTENCE_END.split(text) if not _SAMPLE_WORDS.search(x)]
            options[part][key] = " ".join(kept) or "A figure drawn from your data."


def _own_data_code(source: str) -> str:
    """Code as shown in a book on own data: comments about the synthetic sample are left out."""
    lines = []
    for line in source.splitlines():
        code, sep, comment = line.partition("  # ")
        if line.lstrip().startswith("#") and _SAMPLE_WORDS.search(line):
            continue
        if sep and _SAMPLE_WORDS.search(comment) and code.count('"') % 2 == 0 and code.count("'") % 2 == 0:
            line = code.rstrip()
        lines.append(line)
    return "\n".join(lines)


def _headings_with_prose(nb) -> set[tuple[int, str]]:
    """The headings (cell index, heading text) with a prose line of their own, before the next heading."""
    out, current = set(), None
    for ci, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        for line, prose in _prose_lines(cell.source.splitlines()):
            h = _HEADING.match(line) if prose else None
            if h:
                current = (ci, h.group(2))
            elif current is not None and line.strip() and not line.startswith(":"):
                out.add(current)
    return out


_SECTION_NOTICE = re.compile(r"^\*{1,2}This section (?:was skipped|could not be run) on your data")
_PARTLY_LINE = "*This section ran only in part on your data: {} did not run (see below).*"


def _own_data_headings(nb, columns: Sequence[str] | None) -> None:
    """Headings of a chapter rerun on own data that claim no more than ran (in place).

    - A heading the chapter gives a computed wording (``headings:`` in its ``belonging:`` block,
      ``{without: [peer], reads: Teacher relationships}``) reads so when ``columns`` (the survey's)
      do not record one of those needs (a scale: no item column ``peer_...``; a column: absent).
    - A section with a sub-section that was skipped on the user's data, or that failed, says under its
      heading that it ran only in part, naming them (sections about how the sample was made, which
      never run on own data, aside).
    """
    block = nb.metadata.get("belonging") or {}
    retitle = {}
    if columns is not None:
        recorded = {str(c) for c in columns}
        for heading, value in (block.get("headings") or {}).items():
            needs, reads = _as_retitle(value, f"heading {heading!r}")
            if any(n not in recorded and not any(c.startswith(n + "_") for c in recorded) for n in needs):
                retitle[str(heading)] = reads
    heads: list[list] = []        # [cell index, line index, level, text, did not run]
    for ci, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        for li, (line, prose) in enumerate(_prose_lines(cell.source.splitlines())):
            h = _HEADING.match(line) if prose else None
            if h:
                heads.append([ci, li, len(h.group(1)), h.group(2), False])
            elif (prose and heads and heads[-1][0] == ci and _SECTION_NOTICE.match(line)
                  and "sample data, not yours" not in line):
                heads[-1][4] = True
    partly: dict[int, list[str]] = {}
    for k, (_, _, level, text, did_not_run) in enumerate(heads):
        if not did_not_run:
            continue
        for j in range(k - 1, -1, -1):         # the sections around it
            if heads[j][2] < level:
                level = heads[j][2]
                if level >= 2:
                    partly.setdefault(j, []).append(f"\u201c{text}\u201d")
    edits: dict[int, dict[int, list[str]]] = {}
    for j, (ci, li, level, text, _) in enumerate(heads):
        lines = [f"{'#' * level} {retitle.get(text, text)}"]
        if j in partly:
            lines += ["", _PARTLY_LINE.format(", ".join(partly[j]))]
        if len(lines) > 1 or text in retitle:
            edits.setdefault(ci, {})[li] = lines
    for ci, by_line in edits.items():
        old = nb.cells[ci].source.splitlines()
        nb.cells[ci].source = "\n".join(x for i, ln in enumerate(old) for x in by_line.get(i, [ln]))


def _drop_empty_headings(nb, had_prose: set[tuple[int, str]] = frozenset()) -> None:
    """Leave out a heading under which nothing is left (its prose all left out on own data): no code
    cell shown, no prose line, down to the next heading of the same or a higher level. A heading in
    ``had_prose`` (it had prose before the own-data pass) whose prose all went is left out even where
    code cells remain under it: a heading over code alone would claim what is no longer said. In place."""
    tokens = []          # (cell index, line index or None, heading level, 0 for prose or -1 for code)
    for ci, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            if "remove-cell" not in cell.get("metadata", {}).get("tags", []):
                tokens.append((ci, None, -1))
            continue
        if cell.cell_type != "markdown":
            continue
        for li, (line, prose) in enumerate(_prose_lines(cell.source.splitlines())):
            h = _HEADING.match(line) if prose else None
            if h:
                tokens.append((ci, li, len(h.group(1))))
            elif line.strip() and not line.startswith(":"):
                tokens.append((ci, li, 0))
    headings = {(ci, li): h.group(2) for ci, cell in enumerate(nb.cells) if cell.cell_type == "markdown"
                for li, (line, prose) in enumerate(_prose_lines(cell.source.splitlines()))
                if prose and (h := _HEADING.match(line))}
    empty: dict[int, set[int]] = {}
    for k, (ci, li, level) in enumerate(tokens):
        if level < 2:
            continue
        code_counts = (ci, headings[(ci, li)]) not in had_prose
        has_content = False
        for _, _, other in tokens[k + 1:]:
            if other > 0 and other <= level:
                break
            if other == 0 or (other == -1 and code_counts):
                has_content = True
                break
        if not has_content:
            empty.setdefault(ci, set()).add(li)
    for ci, lines in empty.items():
        cell = nb.cells[ci]
        kept = [ln for i, ln in enumerate(cell.source.splitlines()) if i not in lines]
        cell.source = re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip("\n")
    nb.cells = [c for c in nb.cells if c.cell_type != "markdown" or c.source.strip()]


def prepare_chapter(nb, *, chapter_notice: str | None = None, own_data: bool = False,
                    columns: Sequence[str] | None = None):
    """Make an executed chapter ready for the book (in place; returns ``nb``).

    - papermill's injected-parameters cell is hidden (``remove-cell``);
    - a code cell tagged ``solution`` is folded under "Show solution";
      a markdown cell tagged ``solution`` becomes a folded "Solution" box;
    - numpy scalars glued with ``glue`` are stored as plain numbers, so that
      ``{glue:text}`key:.2f``` formats them;
    - with ``chapter_notice``, the chapter's boxed synthetic-data note is
      replaced by it (a book rerun on a user's own data);
    - with ``own_data``, a paragraph or list item that shows a ``glue`` value the run did not
      compute (its section was skipped) or that is missing (NaN) is left out, and so are sentences
      and code comments about how the synthetic sample was made;
    - with ``own_data`` and ``columns`` (the survey's), a sentence that names one of the course's
      scales or pupil groups that the columns do not record is left out (a list item whose first
      sentence does, or a reference that does, all of it).
    """
    found = chapter_notice is None
    glued = _glued_values(nb) if own_data else {}
    had_prose = _headings_with_prose(nb) if own_data else set()
    absent = _absent_names(columns) if own_data and columns is not None else None
    for cell in nb.cells:
        tags = list(cell.get("metadata", {}).get("tags", []))
        if not found and cell.cell_type == "markdown":
            cell.source, found = _replace_notice(cell.source, chapter_notice)
        if own_data and cell.cell_type == "markdown":
            notice = f"> {chapter_notice}" if chapter_notice else None
            parts = cell.source.split(notice) if notice and notice in cell.source else [cell.source]
            cell.source = f"\n\n{notice}\n\n".join(_own_data_prose(p, glued, absent).strip("\n") for p in parts).strip("\n")
        elif own_data and cell.cell_type == "code":
            cell.source = _own_data_code(cell.source)
            _own_data_figure(cell.metadata.get("mystnb", {}))
        if "injected-parameters" in tags and "remove-cell" not in tags:
            cell.metadata["tags"] = tags + ["remove-cell"]
        if cell.cell_type == "code":
            _plain_glue_values(cell)
        if "solution" in tags:
            if cell.cell_type == "code":
                cell.metadata["tags"] = tags + ["hide-cell"]
                opts = cell.metadata.setdefault("mystnb", {})
                opts.setdefault("code_prompt_show", "Show solution")
                opts.setdefault("code_prompt_hide", "Hide solution")
            elif cell.cell_type == "markdown" and cell.source.strip():
                fence = "`" * max(4, 1 + max((len(m) for m in re.findall(r"`{3,}", cell.source)), default=3))
                cell.source = (f"{fence}{{admonition}} Solution\n:class: dropdown solution\n\n"
                               f"{cell.source}\n{fence}")
    if own_data:
        _own_data_headings(nb, columns)
        _drop_empty_headings(nb, had_prose)
    if not found:
        # a chapter without the usual note still must not be read as synthetic
        import nbformat

        nb.cells.insert(1, nbformat.v4.new_markdown_cell(f"> {chapter_notice}"))
    return nb


_INDEX = """\
# {title}

```{{note}}
{notice}
```

A course in short chapters on pupils' sense of school belonging: how to measure it, who feels it,
what it is linked to, and how to evaluate a programme that aims to build it. Each chapter states a
claim from practitioners' guidance, tests it with real statistics, says what the result means for
your classroom, and ends with exercises and worked solutions. Technical terms link to the
{{doc}}`glossary`{api_sentence}.
{plan}

```{{toctree}}
:caption: Chapters
:glob:
:maxdepth: 1

[0-9][0-9]_*
```

```{{toctree}}
:caption: Reference
:maxdepth: 1

glossary
{api_toc}```

## Executed notebooks

{downloads}
"""

_DOWNLOADS = """Each chapter can be downloaded as an executed Jupyter notebook:

{}"""

#: A book on own data offers no downloads and ships no copies of its sources: the executed notebooks
#: stay in the run's own folder, beside the data they describe.
_OWN_DATA_DOWNLOADS = """The executed Jupyter notebooks are in the `notebooks` folder beside this book, in the folder
you named with `--out`. They hold results about your pupils: keep them with your data, under the
same data-protection duties."""


def _chapter_title(nb) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return ""


def build_book(notebook_dir: str | os.PathLike, out_dir: str | os.PathLike, *,
               title: str = "Belonging in school: a worked-example course",
               notice: str = SAMPLE_NOTICE, chapter_notice: str | None = None, own_data: bool = False,
               plan: str | None = None,
               glossary: str | os.PathLike | None = None, docs: str | os.PathLike | None = None,
               stage_dir: str | os.PathLike | None = None, jobs: int | None = None,
               columns: Sequence[str] | None = None) -> Path:
    """Render executed chapters, the glossary and the API reference with Sphinx.

    Parameters
    ----------
    notebook_dir : path
        Folder of executed ``NN_name.ipynb`` chapters.
    out_dir : path
        Folder of the HTML book (``index.html`` at its top).
    title : str
        Title of the book (index page and window title).
    notice : str
        Note shown at the top of every page and on the index: that the data
        are synthetic (the sample book) or the user's own (a rerun book).
    chapter_notice : str, optional
        Replaces each chapter's boxed synthetic-data note (a rerun book).
    own_data : bool
        A book rerun on a user's own data: prose showing a number the run did not compute, and
        sentences about how the sample was made, are left out (see :func:`prepare_chapter`), and so
        is the library's API reference. A section with a cell that raised is replaced by a notice
        (:func:`contain_failures`): no traceback reaches a page.
    plan : str, optional
        The run's plan (:func:`format_plan`), shown on the index page.
    glossary : path, optional
        The MyST glossary page (default: ``glossary.md`` beside the chapters'
        sources, ``notebooks/glossary.md``).
    docs : path, optional
        Folder with ``conf.py`` and the API reference pages (default: the
        book's configuration shipped with the package, ``docs/`` in a source checkout).
    stage_dir : path, optional
        Folder where the Sphinx sources are assembled (default:
        ``<out_dir>.src`` beside the book).
    jobs : int, optional
        Sphinx's parallel jobs (default: the number of CPU cores, at most 2).
    columns : list of str, optional
        With ``own_data``, the columns of the user's survey: prose naming a scale or pupil group
        of the course that none of them records is left out (see :func:`prepare_chapter`).

    Returns
    -------
    pathlib.Path
        Path of ``index.html``.

    Raises
    ------
    BuildError
        When Sphinx reports an error or a warning (the messages are included).
    """
    import nbformat

    nb_dir, out = Path(notebook_dir), Path(out_dir)
    docs = Path(docs) if docs is not None else DOCS
    glossary = Path(glossary) if glossary is not None else CHAPTERS / "glossary.md"
    files = sorted(p for p in nb_dir.glob("[0-9][0-9]_*.ipynb"))
    if not files:
        raise BuildError(f"No executed chapters (NN_name.ipynb) in {nb_dir}.")
    stage = Path(stage_dir) if stage_dir is not None else out.with_name(out.name + ".src")
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    if not own_data:   # the library's reference describes the sample data; a book on own data leaves it out
        shutil.copytree(docs / "api", stage / "api")
    shutil.copy2(glossary, stage / "glossary.md")
    downloads = []
    for f in files:
        nb = nbformat.read(f, as_version=4)
        if own_data:
            _own_notice_in_executed(f, chapter_notice or OWN_DATA_NOTICE)
            contain_failures(nb)   # a cell error never reaches a page of a book on own data: its section gives way to a notice
        prepare_chapter(nb, chapter_notice=chapter_notice, own_data=own_data, columns=columns)
        nbformat.write(nb, stage / f.name)
        downloads.append(f"- {{download}}`{f.name} <{f.name}>`: {_chapter_title(nb)}")
    (stage / "index.md").write_text(
        _INDEX.format(title=title, notice=notice,
                      downloads=_OWN_DATA_DOWNLOADS if own_data else _DOWNLOADS.format("\n".join(downloads)),
                      api_sentence="" if own_data else "; the {doc}`api/index` documents every function the chapters call",
                      api_toc="" if own_data else "api/index\n",
                      plan=f"\n## What ran on your data\n\n```text\n{plan}\n```\n" if plan else ""),
        encoding="utf-8")
    (stage / "book.json").write_text(json.dumps({"title": title, "notice": notice, "own_data": own_data}),
                                     encoding="utf-8")

    out.mkdir(parents=True, exist_ok=True)
    doctrees = stage / ".doctrees"
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-n", "-q",
           "-c", str(docs), "-d", str(doctrees), "-j", str(jobs or min(2, os.cpu_count() or 1)), str(stage), str(out)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(_REPO or ""), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise BuildError("Sphinx stopped the book (warnings are errors):\n"
                         + ("\n".join(x for x in (proc.stderr.strip(), proc.stdout.strip()) if x)
                            or f"exit status {proc.returncode}, no message"))
    return out / "index.html"


def main(argv: list[str] | None = None) -> int:
    """Command line: execute the chapters and build the book."""
    parser = argparse.ArgumentParser(prog="python -m belonging_lib.book", description=__doc__.splitlines()[0])
    parser.add_argument("--src", default=str(CHAPTERS), help="folder of NN_name.md chapters "
                        "(default: the course's chapters, shipped with the package)")
    parser.add_argument("--out", default="build", help="output folder (notebooks/ and site/ go here)")
    parser.add_argument("--data-dir", default=None, help="run on this data folder instead of the sample")
    parser.add_argument("--only", default=None, help="comma-separated chapter numbers, e.g. 02,05")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--no-cache", action="store_true", help="execute every chapter again")
    parser.add_argument("--no-book", action="store_true", help="execute the chapters only")
    args = parser.parse_args(argv)
    from ._optional import MissingExtraError, require_extra

    try:
        require_extra("notebooks")
    except MissingExtraError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2

    out = Path(args.out)
    executed = out / "notebooks"
    params = {"DATA_DIR": str(Path(args.data_dir).resolve())} if args.data_dir else {}
    only = args.only.split(",") if args.only else None
    start = time.perf_counter()
    plans = plan_chapters(args.src, args.data_dir, only=only)
    if args.data_dir:   # own data: the plan first; chapters and sections the data cannot support are skipped
        print(format_plan(plans), flush=True)
        only = [p.name[:2] for p in plans if p.runs]
    print(f"Executing chapters from {args.src} into {executed} ...", flush=True)
    runs = execute_chapters(args.src, executed, parameters=params, only=only, workers=args.workers,
                            cache_dir=None if args.no_cache else out / ".cache" / "chapters",
                            skipped={p.name: p.skipped for p in plans if p.runs})
    failed = [r for r in runs if r.error]
    for r in failed:
        print(f"FAILED: chapter {r.name}: {r.error}", file=sys.stderr)
    if failed:
        return 1
    if args.no_book:
        return 0
    print(f"Building the book into {out / 'site'} ...", flush=True)
    try:
        own = bool(args.data_dir)
        index = build_book(executed, out / "site", notice=OWN_DATA_NOTICE if own else SAMPLE_NOTICE,
                           chapter_notice=OWN_DATA_NOTICE if own else None, own_data=own,
                           plan=format_plan(plans) if own else None,
                           glossary=Path(args.src) / "glossary.md")
    except BuildError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(f"Book: {index}  ({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
