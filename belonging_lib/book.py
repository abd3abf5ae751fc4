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
from dataclasses import dataclass
from pathlib import Path

from ._errors import BelongingError

__all__ = ["ChapterRun", "BuildError", "chapter_sources", "execute_chapters", "prepare_chapter",
           "build_book", "SAMPLE_NOTICE", "OWN_DATA_NOTICE", "main"]

_PACKAGE = Path(__file__).resolve().parent
_REPO = _PACKAGE.parent
DOCS = _REPO / "docs"
_NB_NAME = re.compile(r"^(\d\d)_[a-z0-9_]+\.md$")

#: Notice on every page of the sample book.
SAMPLE_NOTICE = ("All data in this book are synthetic: every pupil, school and country was simulated "
                 "from a documented model. No real person is described.")
#: Notice on every page of a book rerun on a user's own data (``belonging run``), and in place
#: of each chapter's boxed synthetic-data note.
OWN_DATA_NOTICE = ("These chapters were rerun on your own data. The numbers, tables and figures come "
                   "from your data, with disclosure control applied; explanations of method were "
                   "written for the synthetic sample of the course.")


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


def chapter_sources(src: str | os.PathLike) -> list[Path]:
    """The collection's chapter sources in order (``NN_name.md``)."""
    src = Path(src)
    found = sorted(p for p in src.iterdir() if _NB_NAME.match(p.name))
    if not found:
        raise BelongingError(f"No chapters named like 'NN_name.md' in {src}.")
    return found


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
             and p.relative_to(_PACKAGE).as_posix() not in _NOT_USED_BY_CHAPTERS]
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
            if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
                line = _cell_line(source, cell.source)
                first = next((ln for ln in cell.source.splitlines() if ln.strip()), "")
                where = (f"code cell {number}" + (f" (line {line} of {source.name})" if line else "")
                         + f": {first.strip()[:80]!r}")
                break
    except Exception:  # the notebook papermill left behind is unreadable: report the error alone
        pass
    ename = getattr(exc, "ename", type(exc).__name__)
    evalue = getattr(exc, "evalue", str(exc).splitlines()[0] if str(exc) else "")
    return f"{where or 'a cell'} raised {ename}: {evalue}"


def _execute_one(source: Path, out_path: Path, parameters: dict, cwd: Path, timeout: int) -> ChapterRun:
    import jupytext
    import nbformat
    import papermill

    start = time.perf_counter()
    nb = jupytext.read(source)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    raw_path = out_path.parent / ".unexecuted" / (source.stem + ".ipynb")
    raw_path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, raw_path)
    error = None
    try:
        papermill.execute_notebook(
            str(raw_path), str(out_path), parameters=parameters, cwd=str(cwd),
            kernel_name="python3", progress_bar=False, execution_timeout=timeout,
            log_output=False,
        )
    except Exception as exc:  # papermill re-raises the cell's error; keep the notebook it wrote
        error = _describe_failure(source, out_path, exc)
    finally:
        raw_path.unlink(missing_ok=True)
    return ChapterRun(source.stem, out_path, time.perf_counter() - start, False, error)


def execute_chapters(src: str | os.PathLike, out_dir: str | os.PathLike, *,
                     parameters: dict | None = None, only: list[str] | None = None,
                     workers: int | None = None, timeout: int = 600,
                     cwd: str | os.PathLike | None = None,
                     cache_dir: str | os.PathLike | None = None) -> list[ChapterRun]:
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
            keys[s.stem] = _cache_key(s, params, common)
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
        with cf.ProcessPoolExecutor(max_workers=min(workers, len(todo))) as pool:
            futures = [pool.submit(_execute_one, s, out / f"{s.stem}.ipynb", params, run_cwd, timeout)
                       for s in todo]
            for fut in cf.as_completed(futures):
                run = fut.result()
                status = "ok" if run.error is None else f"FAILED: {run.error}"
                print(f"  {run.name}: {run.seconds:5.1f} s  {status}", flush=True)
                runs.append(run)
                if use_cache and run.error is None:
                    cache = Path(cache_dir)
                    for stale in cache.glob(f"{run.name}-*.ipynb"):
                        stale.unlink()
                    shutil.copy2(run.path, cache / f"{run.name}-{keys[run.name]}.ipynb")
    shutil.rmtree(out / ".unexecuted", ignore_errors=True)
    if timings_file is not None:
        timings.update({r.name: round(r.seconds, 1) for r in runs if not r.cached and r.error is None})
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


def prepare_chapter(nb, *, chapter_notice: str | None = None):
    """Make an executed chapter ready for the book (in place; returns ``nb``).

    - papermill's injected-parameters cell is hidden (``remove-cell``);
    - a code cell tagged ``solution`` is folded under "Show solution";
      a markdown cell tagged ``solution`` becomes a folded "Solution" box;
    - numpy scalars glued with ``glue`` are stored as plain numbers, so that
      ``{glue:text}`key:.2f``` formats them;
    - with ``chapter_notice``, the chapter's boxed synthetic-data note is
      replaced by it (a book rerun on a user's own data).
    """
    found = chapter_notice is None
    for cell in nb.cells:
        tags = list(cell.get("metadata", {}).get("tags", []))
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
            elif cell.cell_type == "markdown":
                fence = "`" * max(4, 1 + max((len(m) for m in re.findall(r"`{3,}", cell.source)), default=3))
                cell.source = (f"{fence}{{admonition}} Solution\n:class: dropdown solution\n\n"
                               f"{cell.source}\n{fence}")
        if not found and cell.cell_type == "markdown":
            cell.source, found = _replace_notice(cell.source, chapter_notice)
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
{{doc}}`glossary`; the {{doc}}`api/index` documents every function the chapters call.

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
api/index
```

## Executed notebooks

Each chapter can be downloaded as an executed Jupyter notebook:

{downloads}
"""


def _chapter_title(nb) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return ""


def build_book(notebook_dir: str | os.PathLike, out_dir: str | os.PathLike, *,
               title: str = "Belonging in school: a worked-example course",
               notice: str = SAMPLE_NOTICE, chapter_notice: str | None = None,
               glossary: str | os.PathLike | None = None, docs: str | os.PathLike | None = None,
               stage_dir: str | os.PathLike | None = None, jobs: int | None = None) -> Path:
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
    glossary : path, optional
        The MyST glossary page (default: ``glossary.md`` beside the chapters'
        sources, ``notebooks/glossary.md``).
    docs : path, optional
        Folder with ``conf.py`` and the API reference pages (default: the
        repository's ``docs/``).
    stage_dir : path, optional
        Folder where the Sphinx sources are assembled (default:
        ``<out_dir>.src`` beside the book).
    jobs : int, optional
        Sphinx's parallel jobs (default: the number of CPU cores, at most 2).

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
    glossary = Path(glossary) if glossary is not None else _REPO / "notebooks" / "glossary.md"
    files = sorted(p for p in nb_dir.glob("[0-9][0-9]_*.ipynb"))
    if not files:
        raise BuildError(f"No executed chapters (NN_name.ipynb) in {nb_dir}.")
    stage = Path(stage_dir) if stage_dir is not None else out.with_name(out.name + ".src")
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    shutil.copytree(docs / "api", stage / "api")
    shutil.copy2(glossary, stage / "glossary.md")
    downloads = []
    for f in files:
        nb = nbformat.read(f, as_version=4)
        prepare_chapter(nb, chapter_notice=chapter_notice)
        nbformat.write(nb, stage / f.name)
        downloads.append(f"- {{download}}`{f.name} <{f.name}>`: {_chapter_title(nb)}")
    (stage / "index.md").write_text(
        _INDEX.format(title=title, notice=notice, downloads="\n".join(downloads)), encoding="utf-8")
    (stage / "book.json").write_text(json.dumps({"title": title, "notice": notice}), encoding="utf-8")

    out.mkdir(parents=True, exist_ok=True)
    doctrees = stage / ".doctrees"
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-n", "-q",
           "-c", str(docs), "-d", str(doctrees), "-j", str(jobs or min(2, os.cpu_count() or 1)), str(stage), str(out)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(_REPO), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise BuildError("Sphinx stopped the book (warnings are errors):\n"
                         + (proc.stderr.strip() or proc.stdout.strip()))
    return out / "index.html"


def main(argv: list[str] | None = None) -> int:
    """Command line: execute the chapters and build the book."""
    parser = argparse.ArgumentParser(prog="python -m belonging_lib.book", description=__doc__.splitlines()[0])
    parser.add_argument("--src", default="notebooks", help="folder of NN_name.md chapters")
    parser.add_argument("--out", default="build", help="output folder (notebooks/ and site/ go here)")
    parser.add_argument("--data-dir", default=None, help="run on this data folder instead of the sample")
    parser.add_argument("--only", default=None, help="comma-separated chapter numbers, e.g. 02,05")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--no-cache", action="store_true", help="execute every chapter again")
    parser.add_argument("--no-book", action="store_true", help="execute the chapters only")
    args = parser.parse_args(argv)

    out = Path(args.out)
    executed = out / "notebooks"
    params = {"DATA_DIR": str(Path(args.data_dir).resolve())} if args.data_dir else {}
    only = args.only.split(",") if args.only else None
    start = time.perf_counter()
    print(f"Executing chapters from {args.src} into {executed} ...", flush=True)
    runs = execute_chapters(args.src, executed, parameters=params, only=only, workers=args.workers,
                            cache_dir=None if args.no_cache else out / ".cache" / "chapters",
                            )
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
                           chapter_notice=OWN_DATA_NOTICE if own else None,
                           glossary=Path(args.src) / "glossary.md")
    except BuildError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(f"Book: {index}  ({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
