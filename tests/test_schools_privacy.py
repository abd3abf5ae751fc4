"""No support-plan content reaches build/ or the book.

Support plans are pupil-level personal data: they go only to the folder the user names.  The
chapter that demonstrates them (12) writes them to a temporary folder outside build/ and shows none
of them.  These tests search the book's sources, the built site in build/ (when ``make notebooks``
has made it) and an execution (taken from the book's cache when ``make test`` has just executed it)
and a fresh site build of chapter 12 for the plans' marker text, for plan documents and for the
references of the pupils the chapter flags.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from belonging_lib.schools.support_plan import PLAN_MARKER

ROOT = Path(__file__).resolve().parents[1]
_BASE64 = re.compile(r"data:image/[a-z]+;base64,[A-Za-z0-9+/=]+|\"image/png\": \"[A-Za-z0-9+/=\\n]+\"")


def _text_files(folder: Path):
    for p in folder.rglob("*"):
        if p.is_file() and p.suffix.lower() in (".html", ".ipynb", ".md", ".txt", ".csv", ".json", ".js"):
            yield p


def _offences(folder: Path, refs=()) -> list[str]:
    found = [str(p) for p in folder.rglob("*.docx")]
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, refs)) + r")\b") if refs else None
    for p in _text_files(folder):
        text = _BASE64.sub("", p.read_text(encoding="utf-8", errors="replace"))
        if PLAN_MARKER in text or "support_plan_" in text:
            found.append(f"{p}: plan text")
        if pattern is not None and pattern.search(text):
            found.append(f"{p}: pupil reference {pattern.search(text).group(0)}")
    return found


def test_book_sources_hold_no_plan_content():
    assert PLAN_MARKER not in "".join(p.read_text() for p in (ROOT / "notebooks").glob("*.md"))


def test_existing_build_holds_no_plan_content():
    build = ROOT / "build"
    if not build.exists():
        pytest.skip("no build/ folder (run `make notebooks`)")
    refs = _flagged_refs_of_chapter_12()
    assert len(refs) > 10
    assert not _offences(build, refs=refs)


def test_the_search_would_find_a_plan(tmp_path):
    (tmp_path / "page.html").write_text(f"<p>{PLAN_MARKER}</p> <p>P017</p>")
    assert len(_offences(tmp_path, refs=["P017"])) == 2


def _flagged_refs_of_chapter_12() -> list[str]:
    """The pupils chapter 12 flags (the same calls, with its default SEED)."""
    from belonging_lib.schools import questionnaire, support_plan

    seed = 2026
    pilot = questionnaire.simulate_responses(version="secondary", n_classes=16, class_size=28, seed=seed)
    pilot.index = range(1, len(pilot) + 1)
    flags = support_plan.support_flags(questionnaire.simulate_follow_up(pilot, seed=seed + 1), previous=pilot)
    return list(flags.pupils.index[flags.pupils["flagged"]])


@pytest.mark.slow
def test_chapter_12_puts_no_plan_into_the_build(tmp_path, book_cache):
    from belonging_lib.book import build_book, execute_chapters

    refs = _flagged_refs_of_chapter_12()
    assert len(refs) > 10
    # under `make test`, the chapter as `make notebooks` executed it (its cache), if nothing changed since
    runs = execute_chapters(ROOT / "notebooks", tmp_path / "build" / "notebooks", only=["12"], workers=1,
                            cwd=str(ROOT), cache_dir=book_cache)
    assert runs and runs[0].error is None, runs
    build_book(tmp_path / "build" / "notebooks", tmp_path / "build" / "site",
               glossary=ROOT / "notebooks" / "glossary.md", stage_dir=tmp_path / "build" / "site.src")
    assert list((tmp_path / "build" / "site").rglob("*.html"))
    assert not _offences(tmp_path / "build", refs=refs)
