"""The chapters as ``make notebooks`` executed them for ``make test``: every one there, none with an error.

``make test`` executes the chapters once, through ``make notebooks``, with ``BELONGING_EXPECTED`` set:
a cell that raises, or a key result (``record(...)``) that differs from tests/notebook_expected/,
stops that step. These tests read what it left in ``build/`` (``BELONGING_EXECUTED_BUILD``, set by
``make test``; in CI without it, ``build/`` of the checkout; elsewhere without it they are skipped).
They fail when that folder holds no executed chapter, and check:

- every chapter of ``notebooks/`` is in ``build/notebooks/``, and nothing else;
- no code cell holds an error output, and every code cell of the source was executed;
- each executed chapter is the one the book's cache holds under the key of the current source,
  library code, data and ``BELONGING_EXPECTED`` (so it is neither stale nor run without the checks
  of its key results; the cache keeps only chapters that ran without an error).
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("papermill")

from belonging_lib.book import _cached_chapter, chapter_sources  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXPECTED = ROOT / "tests" / "notebook_expected"


def _build() -> Path:
    named = os.environ.get("BELONGING_EXECUTED_BUILD")
    if not named and not os.environ.get("CI"):
        pytest.skip("checks what `make test` executed (it sets BELONGING_EXECUTED_BUILD to its build/ folder)")
    build = Path(named) if named else ROOT / "build"
    if not list((build / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        pytest.fail(f"no executed chapters in {build / 'notebooks'}: `make test` runs `make notebooks` first")
    return build


def _problems(executed: Path, source: Path) -> list[str]:
    """What is wrong with one executed chapter: error outputs, code cells of the source not executed."""
    import jupytext

    nb = nbformat.read(executed, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])]
    problems = []
    for number, cell in enumerate(code, start=1):
        first = next((ln.strip() for ln in cell.source.splitlines() if ln.strip()), "")
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                problems.append(
                    f"{executed.name}, code cell {number} ({first[:60]!r}): {out.get('ename')}: {out.get('evalue')}"
                )
        if cell.source.strip() and cell.get("execution_count") is None:
            problems.append(f"{executed.name}, code cell {number} ({first[:60]!r}) was not executed")
    if nb.metadata.get("papermill", {}).get("exception"):
        problems.append(f"{executed.name}: papermill recorded an exception")
    n_source = sum(c.cell_type == "code" for c in jupytext.read(source).cells)
    if len(code) != n_source:
        problems.append(f"{executed.name}: {len(code)} code cells, the source has {n_source}")
    return problems


def test_every_chapter_was_executed_without_an_error():
    build = _build()
    sources = chapter_sources(ROOT / "notebooks")
    executed = sorted(p.stem for p in (build / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert executed == [s.stem for s in sources]
    problems = [p for s in sources for p in _problems(build / "notebooks" / f"{s.stem}.ipynb", s)]
    assert not problems, "\n".join(problems)


def test_executed_chapters_are_current_and_had_their_key_results_compared():
    build = _build()
    named = os.environ.get("BELONGING_EXPECTED")
    assert named and Path(named).resolve() == EXPECTED.resolve(), (
        f"BELONGING_EXPECTED is {named!r}: the key results are compared with {EXPECTED}"
    )
    stale = []
    for source in chapter_sources(ROOT / "notebooks"):
        entry = _cached_chapter(source, build / ".cache" / "chapters")
        executed = build / "notebooks" / f"{source.stem}.ipynb"
        if not (entry.exists() and executed.exists() and entry.read_bytes() == executed.read_bytes()):
            stale.append(source.stem)
    assert not stale, (
        f"{stale}: not executed from the current sources, library and data with "
        f"BELONGING_EXPECTED={named} and PYTHONHASHSEED={os.environ.get('PYTHONHASHSEED')} (run `make test`)"
    )


def test_the_check_finds_an_error_output_and_a_cell_not_executed(tmp_path):
    import jupytext

    source = tmp_path / "01_x.md"
    cells = ["x = 1", "x / 0", "print(x)"]
    plain = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("# 01 · X")] + [nbformat.v4.new_code_cell(c) for c in cells]
    )
    jupytext.write(plain, source, fmt="md:myst")
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# 01 · X"),
        nbformat.v4.new_code_cell("x = 1", execution_count=1),
        nbformat.v4.new_code_cell("x / 0", execution_count=2),
        nbformat.v4.new_code_cell("print(x)"),
    ]
    nb.cells[2].outputs = [
        nbformat.v4.new_output("error", ename="ZeroDivisionError", evalue="division by zero", traceback=[])
    ]
    path = tmp_path / "01_x.ipynb"
    nbformat.write(nb, path)
    problems = _problems(path, source)
    assert len(problems) == 2
    assert "code cell 2 ('x / 0'): ZeroDivisionError: division by zero" in problems[0]
    assert "code cell 3 ('print(x)') was not executed" in problems[1]
    nb.cells[2].outputs, nb.cells[3].execution_count = [], 3
    nbformat.write(nb, path)
    assert _problems(path, source) == []
    nb.cells.pop()
    nbformat.write(nb, path)
    assert _problems(path, source) == ["01_x.ipynb: 2 code cells, the source has 3"]
