"""Every exercise of every chapter has a written answer.

For each chapter this reads the MyST source with jupytext and walks the cells of its "## Exercises"
section. An exercise starts at a line of a markdown cell (not a solution) that opens with
``**Exercise 2.**``, ``**Exercise 3 (no code).**``, ``**2.**`` or ``2. ``. Its written answer is a
markdown cell tagged ``solution`` (``+++ {"tags": ["solution"]}`` in MyST) with some text, placed after
the exercise and before the next one. Code that prints an answer does not count: a reader of the
built book with solutions folded sees the markdown answer, which is also where the prose checks read
its numbers (glued, never typed). An exercise whose question opens inside a solution cell (``**Exercise
3.**`` after an answer, before the next ``+++``) would be folded away with the answer: that fails too.
"""

from __future__ import annotations

import re
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.md"))
START = re.compile(r"^(?:\*\*Exercise (?P<a>\d+)|\*\*(?P<b>\d+)\.\*\*|(?P<c>\d+)\. )")
# in a solution cell only the bold forms count: answers use numbered lists of their own
HIDDEN_START = re.compile(r"^(?:\*\*Exercise (?P<a>\d+)|\*\*(?P<b>\d+)\.\*\*)")
HEADING = re.compile(r"^##\s+(?P<title>.+?)\s*$")

# Exercises of chapters edited in a parallel branch that have no written answer yet: (chapter, number).
KNOWN_GAPS: set[tuple[str, str]] = set()
# ... and exercises whose question opens inside the previous exercise's solution cell.
KNOWN_HIDDEN: set[tuple[str, str]] = set()


def exercises(path: Path) -> list[tuple[str, bool]]:
    """(number, has a written answer) for each exercise of a chapter, in order."""
    return [(n, answered) for n, answered, _ in _walk(path)]


def hidden(path: Path) -> set[tuple[str, str]]:
    """(chapter, number) of the exercises whose question opens inside a solution cell."""
    return {(path.name[:2], n) for n, _, in_solution in _walk(path) if in_solution}


def _walk(path: Path) -> list[tuple[str, bool, bool]]:
    nb = jupytext.read(path, fmt="md:myst")
    out: list[list] = []
    inside = False
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        is_solution = "solution" in cell.metadata.get("tags", [])
        for line in cell.source.splitlines():
            heading = HEADING.match(line)
            if heading:
                inside = heading.group("title").lower() == "exercises"
                continue
            if not inside:
                continue
            s = (HIDDEN_START if is_solution else START).match(line)
            if s:
                out.append([s.group("a") or s.group("b") or s.groupdict().get("c"), False, is_solution])
            elif is_solution and line.strip() and out:
                out[-1][1] = True
    return [(n, answered, in_solution) for n, answered, in_solution in out]


def test_the_reader_finds_exercises_and_answers(tmp_path):
    chapter = tmp_path / "99_x.md"
    chapter.write_text(
        '# X\n\n## Exercises\n\n**Exercise 1.** Ask.\n\n+++ {"tags": ["solution"]}\n\n'
        "An answer.\n\n+++\n\n2. Ask again.\n\n```{code-cell} ipython3\n:tags: [solution]\n"
        'print(1)\n```\n\n+++ {"tags": ["solution"]}\n\nSee 1.\n\n**Exercise 3.** Hidden.\n\n'
        "## References\n\n1. Not an exercise.\n",
        encoding="utf-8",
    )
    assert exercises(chapter) == [("1", True), ("2", True), ("3", False)]
    assert hidden(chapter) == {("99", "3")}


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name[:2])
def test_every_exercise_has_a_written_answer(path):
    found = exercises(path)
    assert found, f"{path.name}: no exercises found under '## Exercises'"
    numbers = [n for n, _ in found]
    assert numbers == [str(i) for i in range(1, len(found) + 1)], f"{path.name}: exercises numbered {numbers}"
    missing = {(path.name[:2], n) for n, answered in found if not answered} - hidden(path)
    assert missing <= KNOWN_GAPS, f"{path.name}: exercises without a written answer: {sorted(missing - KNOWN_GAPS)}"
    folded = hidden(path)
    assert folded <= KNOWN_HIDDEN, (
        f"{path.name}: exercises that open inside a solution cell: {sorted(folded - KNOWN_HIDDEN)}"
    )


def test_known_gaps_are_still_gaps():
    # a gap that has been filled must leave the list, so the list cannot hide a new one
    for chapter, number in sorted(KNOWN_GAPS):
        path = next(p for p in CHAPTERS if p.name[:2] == chapter)
        assert (number, False) in exercises(path), f"{chapter} exercise {number} now has an answer: remove it"
    for chapter, number in sorted(KNOWN_HIDDEN):
        path = next(p for p in CHAPTERS if p.name[:2] == chapter)
        assert (chapter, number) in hidden(path), (
            f"{chapter} exercise {number} no longer opens in a solution: remove it"
        )
