"""Execute the notebook collection and build a browsable HTML site.

The notebooks are stored as MyST Markdown (``notebooks/NN_name.md``).
:func:`execute_notebooks` converts each to ``.ipynb`` with jupytext and runs it
with papermill (so parameters such as ``DATA_DIR`` can be injected);
:func:`build_site` turns executed notebooks into HTML pages with an index,
previous/next navigation, hidden check cells and folded exercise solutions.

Command line::

    python -m belonging_lib.site --src notebooks --out build

This module sits at the top of the package (presentation): nothing else in
the library imports it.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import html
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ._errors import BelongingError

__all__ = ["NotebookRun", "notebook_sources", "execute_notebooks", "build_site", "main"]

_NB_NAME = re.compile(r"^(\d\d)_[a-z0-9_]+\.md$")


@dataclass(frozen=True)
class NotebookRun:
    """Outcome of executing one notebook."""

    name: str
    path: Path
    seconds: float
    error: str | None = None


def notebook_sources(src: str | os.PathLike) -> list[Path]:
    """The collection's notebook sources in order (``NN_name.md``)."""
    src = Path(src)
    found = sorted(p for p in src.iterdir() if _NB_NAME.match(p.name))
    if not found:
        raise BelongingError(f"No notebooks named like 'NN_name.md' in {src}.")
    return found


def _execute_one(source: Path, out_dir: Path, parameters: dict, cwd: Path, timeout: int) -> NotebookRun:
    import jupytext
    import nbformat
    import papermill

    start = time.perf_counter()
    nb = jupytext.read(source)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    raw_path = out_dir / ".unexecuted" / (source.stem + ".ipynb")
    raw_path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, raw_path)
    out_path = out_dir / (source.stem + ".ipynb")
    error = None
    try:
        papermill.execute_notebook(
            str(raw_path), str(out_path), parameters=parameters, cwd=str(cwd),
            kernel_name="python3", progress_bar=False, execution_timeout=timeout,
            log_output=False,
        )
    except Exception as exc:  # papermill re-raises the cell's error; keep the notebook it wrote
        error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return NotebookRun(source.stem, out_path, time.perf_counter() - start, error)


def execute_notebooks(src: str | os.PathLike, out_dir: str | os.PathLike, *,
                      parameters: dict | None = None, only: list[str] | None = None,
                      workers: int | None = None, timeout: int = 600,
                      cwd: str | os.PathLike | None = None) -> list[NotebookRun]:
    """Convert and execute every notebook in ``src`` into ``out_dir``.

    Parameters
    ----------
    src : path
        Folder of ``NN_name.md`` notebooks.
    out_dir : path
        Folder for the executed ``.ipynb`` files.
    parameters : dict, optional
        Papermill parameters injected into every notebook (for example
        ``{"DATA_DIR": "/path/to/my/data"}``).
    only : list of str, optional
        Notebook numbers or names to run (``["02", "05"]``).
    workers : int, optional
        Notebooks executed at once (default: the number of CPU cores, at most 4).

    Returns
    -------
    list of NotebookRun
        One entry per notebook, with its run time and error (``None`` if it ran).
    """
    sources = notebook_sources(src)
    if only:
        wanted = {str(o) for o in only}
        sources = [s for s in sources if s.stem[:2] in wanted or s.stem in wanted]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    run_cwd = Path(cwd) if cwd is not None else out
    workers = workers or min(4, os.cpu_count() or 1)
    params = dict(parameters or {})
    runs: list[NotebookRun] = []
    with cf.ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_execute_one, s, out, params, run_cwd, timeout) for s in sources]
        for fut in cf.as_completed(futures):
            run = fut.result()
            status = "ok" if run.error is None else f"FAILED ({run.error})"
            print(f"  {run.name}: {run.seconds:5.1f} s  {status}", flush=True)
            runs.append(run)
    shutil.rmtree(out / ".unexecuted", ignore_errors=True)
    return sorted(runs, key=lambda r: r.name)


# --------------------------------------------------------------------------- site

_SOLUTION_OPEN = '<details class="bl-solution"><summary>Show solution</summary>'
_SOLUTION_CLOSE = "</details>"

_PAGE_CSS = """
body { margin: 0; }
.bl-nav { position: sticky; top: 0; z-index: 10; background: #0b3d62; color: #fff;
  padding: .55em 1.2em; font-family: system-ui, sans-serif; font-size: 15px;
  display: flex; gap: 1.2em; align-items: center; flex-wrap: wrap; }
.bl-nav a { color: #fff; text-decoration: none; }
.bl-nav a:hover { text-decoration: underline; }
.bl-nav .bl-title { font-weight: 600; margin-right: auto; }
.bl-synthetic { background: #fff4d6; border-bottom: 1px solid #e0c36b; padding: .4em 1.2em;
  font-family: system-ui, sans-serif; font-size: 14px; }
details.bl-solution { border: 1px solid #c9d6e3; border-radius: 6px; margin: .6em 0 1em 0;
  padding: .3em .8em; background: #f6f9fc; }
details.bl-solution > summary { cursor: pointer; font-weight: 600; color: #0b3d62;
  font-family: system-ui, sans-serif; }
"""

_INDEX_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, -apple-system, Segoe UI, sans-serif; max-width: 880px; margin: 2em auto;
  padding: 0 1em; color: #1d2329; line-height: 1.55; }}
h1 {{ color: #0b3d62; }}
.synthetic {{ background: #fff4d6; border: 1px solid #e0c36b; padding: .6em 1em; border-radius: 6px; }}
ol.nb {{ padding-left: 0; list-style: none; }}
ol.nb li {{ margin: 1em 0; padding: .8em 1em; border: 1px solid #d8e1ea; border-radius: 8px; }}
ol.nb a {{ font-weight: 600; font-size: 1.08em; color: #0b3d62; }}
.blurb {{ margin: .3em 0 0 0; color: #3a4650; }}
.meta {{ color: #66727d; font-size: .9em; }}
.failed {{ color: #b2182b; font-weight: 600; }}
</style></head>
<body>
<h1>{title}</h1>
<p class="synthetic"><strong>All data in these notebooks are synthetic.</strong> They were simulated
from a documented model so every analysis has a known right answer; no real pupil is described.</p>
<p>A course in short chapters on pupils' sense of school belonging: how to measure it, who feels it,
what it is linked to, and how to evaluate a programme that aims to build it. Each chapter states a
claim from practitioners' guidance, tests it with real statistics, says what the result means for
your classroom, and ends with exercises and worked solutions.</p>
<ol class="nb">
{items}
</ol>
<p class="meta">Built {built}. Each chapter can also be downloaded as an executed Jupyter notebook
(<code>.ipynb</code>) from the link beside it.</p>
</body></html>
"""


def _title_and_blurb(nb) -> tuple[str, str]:
    """The notebook's ``# title`` and its first plain paragraph (the index's description)."""
    title, blurb = "", ""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        paragraph: list[str] = []
        skipping = False            # inside a list, quote, table or heading block
        for line in cell.source.splitlines() + [""]:
            s = line.strip()
            if not title and s.startswith("# "):
                title = s[2:].strip()
                continue
            if not title:
                continue
            if not s:
                skipping = False
            elif skipping:
                continue
            elif not paragraph and (s.startswith(("#", ">", "|", "-", "*", "<", "!", "`", ":", "$"))
                                    or re.match(r"\d+\.", s)):
                skipping = not s.startswith("#")
                continue
            if s:
                paragraph.append(s)
                continue
            if paragraph:
                text = " ".join(paragraph)
                paragraph = []
                if not text.endswith(":"):
                    blurb = text
                    break
        if title and blurb:
            break
    return title, blurb


def _strip_markdown(text: str) -> str:
    text = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", text)
    return re.sub(r"[*_`]", "", text)


def _prepare_for_html(nb):
    """Drop hidden cells, fold solutions, clear papermill's injected-parameters tag."""
    import nbformat

    cells = []
    for cell in nb.cells:
        tags = set(cell.get("metadata", {}).get("tags", []))
        if tags & {"remove-cell", "injected-parameters"}:
            continue
        if "parameters" in tags:
            cell.metadata.setdefault("jupyter", {})["source_hidden"] = False
        if "solution" in tags:
            cells.append(nbformat.v4.new_raw_cell(_SOLUTION_OPEN, metadata={"raw_mimetype": "text/html"}))
            cells.append(cell)
            cells.append(nbformat.v4.new_raw_cell(_SOLUTION_CLOSE, metadata={"raw_mimetype": "text/html"}))
            continue
        if "remove-input" in tags and cell.cell_type == "code":
            cell.metadata.setdefault("jupyter", {})["source_hidden"] = True
            cell.metadata["transient"] = {"remove_source": True}
        cells.append(cell)
    nb.cells = cells
    return nb


def build_site(notebook_dir: str | os.PathLike, out_dir: str | os.PathLike, *,
               title: str = "Belonging in school: a worked-example course",
               runs: list[NotebookRun] | None = None) -> Path:
    """Build the HTML site from executed notebooks.

    Parameters
    ----------
    notebook_dir : path
        Folder of executed ``NN_name.ipynb`` files.
    out_dir : path
        Folder for the site; ``index.html`` links every notebook page.
    title : str
        Heading of the index page.
    runs : list of NotebookRun, optional
        Execution results; a notebook that failed is flagged on the index.

    Returns
    -------
    pathlib.Path
        Path of ``index.html``.
    """
    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    nb_dir, out = Path(notebook_dir), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = sorted(p for p in nb_dir.glob("*.ipynb") if re.match(r"^\d\d_", p.name))
    if not files:
        raise BelongingError(f"No executed notebooks (NN_name.ipynb) in {nb_dir}.")
    failed = {r.name for r in (runs or []) if r.error}

    exporter = HTMLExporter(template_name="lab")
    remover = TagRemovePreprocessor(remove_cell_tags={"remove-cell"}, remove_input_tags={"remove-input"},
                                    remove_all_outputs_tags={"remove-output"})
    exporter.register_preprocessor(remover, enabled=True)

    pages = []
    for f in files:
        nb = nbformat.read(f, as_version=4)
        t, blurb = _title_and_blurb(nb)
        pages.append((f, t or f.stem, blurb, nb))

    for i, (f, t, _blurb, nb) in enumerate(pages):
        nb = _prepare_for_html(nb)
        body, _res = exporter.from_notebook_node(nb, resources={"metadata": {"name": t}})
        prev_link = (f"<a href='{pages[i - 1][0].stem}.html'>&larr; {html.escape(_strip_markdown(pages[i - 1][1]))}</a>"
                     if i > 0 else "")
        next_link = (f"<a href='{pages[i + 1][0].stem}.html'>{html.escape(_strip_markdown(pages[i + 1][1]))} &rarr;</a>"
                     if i + 1 < len(pages) else "")
        nav = (f"<div class='bl-nav'><span class='bl-title'><a href='index.html'>Belonging in school</a>"
               f" &middot; {html.escape(_strip_markdown(t))}</span>{prev_link}{next_link}"
               f"<a href='notebooks/{f.name}' download>Download .ipynb</a></div>"
               "<div class='bl-synthetic'>Synthetic data: simulated pupils, no real person is described.</div>")
        # nbconvert escapes raw cells in some templates: restore the two folding tags.
        body = body.replace(html.escape(_SOLUTION_OPEN, quote=False), _SOLUTION_OPEN)
        body = body.replace(html.escape(_SOLUTION_CLOSE, quote=False), _SOLUTION_CLOSE)
        body = body.replace("</head>", f"<style>{_PAGE_CSS}</style></head>", 1)
        body = re.sub(r"(<body[^>]*>)", r"\1" + nav.replace("\\", "\\\\"), body, count=1)
        (out / f"{f.stem}.html").write_text(body, encoding="utf-8")

    nb_copy = out / "notebooks"
    nb_copy.mkdir(exist_ok=True)
    for f, *_ in pages:
        shutil.copy2(f, nb_copy / f.name)

    items = []
    for f, t, blurb, _nb in pages:
        flag = " <span class='failed'>(did not run: see the page)</span>" if f.stem in failed else ""
        items.append(
            f"<li><a href='{f.stem}.html'>{html.escape(_strip_markdown(t))}</a>{flag}"
            f"<p class='blurb'>{html.escape(_strip_markdown(blurb))}</p>"
            f"<span class='meta'><a href='notebooks/{f.name}' download>{f.name}</a></span></li>")
    index = out / "index.html"
    index.write_text(_INDEX_TEMPLATE.format(title=html.escape(title), items="\n".join(items),
                                            built=time.strftime("%Y-%m-%d")), encoding="utf-8")
    return index


def main(argv: list[str] | None = None) -> int:
    """Command line: execute the notebooks and build the site."""
    parser = argparse.ArgumentParser(prog="python -m belonging_lib.site", description=__doc__.splitlines()[0])
    parser.add_argument("--src", default="notebooks", help="folder of NN_name.md notebooks")
    parser.add_argument("--out", default="build", help="output folder (notebooks/ and site/ go here)")
    parser.add_argument("--data-dir", default=None, help="run on this data folder instead of the sample")
    parser.add_argument("--only", default=None, help="comma-separated notebook numbers, e.g. 02,05")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args(argv)

    out = Path(args.out)
    executed = out / "notebooks"
    params = {"DATA_DIR": str(Path(args.data_dir).resolve())} if args.data_dir else {}
    only = args.only.split(",") if args.only else None
    print(f"Executing notebooks from {args.src} into {executed} ...", flush=True)
    runs = execute_notebooks(args.src, executed, parameters=params, only=only, workers=args.workers)
    index = build_site(executed, out / "site", runs=runs)
    print(f"Site: {index}")
    failed = [r for r in runs if r.error]
    for r in failed:
        print(f"FAILED: {r.name}: {r.error}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
