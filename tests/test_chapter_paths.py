"""Chapter 03 offers a trainee path and a researcher path: every section and exercise is on one.

The box "Two paths through this chapter" names sections (and folded boxes) in italics. This test reads the box and the
chapter's headings and fails when the box names a section the chapter does not have, when a top-level
section is on neither path, when an exercise is on neither path or on both, or when a step that the
trainee path sends readers to has no box "What this means for your classroom".
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CHAPTER = Path(__file__).resolve().parents[1] / "notebooks" / "03_who_belongs.md"
# sections every reader meets on the way in or out, which no path needs to name
FRAME = {"Learning objectives", "Exercises", "References"}


def _box(text: str) -> str:
    match = re.search(r"```\{admonition\} Two paths through this chapter\n(.*?)\n```", text, re.S)
    assert match, "chapter 03 has no box 'Two paths through this chapter'"
    return match.group(1)


def _paths(box: str) -> dict[str, str]:
    trainee, _, researcher = box.partition("**Researcher path")
    assert "**Trainee path" in trainee and researcher, "the box must name a trainee path, then a researcher path"
    return {"trainee": trainee, "researcher": researcher}


def _named(path_text: str) -> set[str]:
    names = set(re.findall(r"\*([^*\n]+)\*", path_text))
    for first, last in re.findall(r"\*Step (\d+)\* to \*Step (\d+)\*", path_text):
        names |= {f"Step {n}" for n in range(int(first), int(last) + 1)}
    return names


def _exercises(path_text: str) -> set[int]:
    found: set[int] = set()
    for first, last in re.findall(r"Exercises? (\d+)(?: (?:to|and) (\d+))?", path_text):
        found |= set(range(int(first), int(last or first) + 1))
    return found


def _headings(text: str, level: str) -> list[str]:
    return re.findall(rf"^{level} (.+)$", text, re.M)


def _matches(name: str, heading: str) -> bool:
    return heading == name or heading.startswith(f"{name}:")


@pytest.fixture(scope="module")
def chapter() -> str:
    return CHAPTER.read_text(encoding="utf-8")


def test_every_name_in_the_box_is_a_section_of_the_chapter(chapter: str) -> None:
    headings = _headings(chapter, "##") + _headings(chapter, "###")
    headings += re.findall(r"^```\{admonition\} (.+)$", chapter, re.M)  # folded boxes count as sections
    for path, text in _paths(_box(chapter)).items():
        for name in _named(text) - {"Trainee path", "Researcher path"}:
            assert any(_matches(name, h) for h in headings), f"{path} path names '{name}', which is no section"


def test_every_section_is_on_a_path(chapter: str) -> None:
    named = set().union(*(_named(t) for t in _paths(_box(chapter)).values()))
    missing = [h for h in _headings(chapter, "##") if h not in FRAME and not any(_matches(n, h) for n in named)]
    assert not missing, f"sections on neither path: {missing}"


def test_every_exercise_is_on_exactly_one_path(chapter: str) -> None:
    paths = {path: _exercises(text) for path, text in _paths(_box(chapter)).items()}
    numbers = {int(n) for n in re.findall(r"^\*\*Exercise (\d+)\b", chapter, re.M)}
    assert numbers, "chapter 03 has no exercises"
    for n in numbers:
        on = [path for path, listed in paths.items() if n in listed]
        assert len(on) == 1, f"Exercise {n} is on {on or 'no path'}"
        label = re.search(rf"^\*\*Exercise {n} \(([^)]*)\)", chapter, re.M)
        assert label and f"{on[0]} path" in label.group(1), f"Exercise {n} does not say it is on the {on[0]} path"
    assert set().union(*paths.values()) <= numbers, "the box names an exercise the chapter does not have"


def test_trainee_exercises_need_no_code(chapter: str) -> None:
    for n in _exercises(_paths(_box(chapter))["trainee"]):
        block = re.search(rf"^\*\*Exercise {n} .*?(?=^\*\*Exercise |^## )", chapter, re.M | re.S)
        assert block and "no code" in block.group(0).split("\n")[0]
        question = block.group(0).split("+++")[0]
        assert "```{code-cell}" not in question, f"trainee Exercise {n} asks for code"


def test_each_step_on_the_trainee_path_has_a_classroom_box(chapter: str) -> None:
    trainee = _paths(_box(chapter))["trainee"]
    assert "What this means for your classroom" in trainee
    sections = re.split(r"^## ", chapter, flags=re.M)
    for name in sorted(n for n in _named(trainee) if n.startswith("Step ")):
        body = next(s for s in sections if _matches(name, s.split("\n", 1)[0]))
        assert "### What this means for your classroom" in body, f"{name} has no classroom box"
