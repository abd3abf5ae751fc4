"""Every chapter's prose reads at or below a Flesch-Kincaid grade of 9.5.

The course is written for trainee teachers. The grade is measured on a chapter's markdown cells up to
its References section, with roles (glue numbers, glossary links), inline code, math and fenced code
replaced by a one-syllable placeholder (a glossary link by its own words), and folded "For researchers" notes left out: those notes are
the place for the researcher's detail. textstat (with pyphen's syllable counts) computes the grade.

Run ``python tests/test_readability.py`` to print the grade of every chapter.
"""

import re
from pathlib import Path

import pytest
from test_prose_numbers import prose

textstat = pytest.importorskip("textstat")

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.md"))
MAX_GRADE = 9.5

TERM = re.compile(r"\{(?:term|ref|doc)\}`([^`<]*?)\s*(?:<[^`]*>)?`")
ROLE = re.compile(r"\{[\w:.-]+\}`[^`]*`")
FOR_RESEARCHERS = re.compile(r"^(`{3,}|:{3,})\{(?:admonition|dropdown|note|tip)\}[^\n]*[Ff]or researchers.*?^\1\s*$",
                             re.M | re.S)
FENCED = re.compile(r"^(`{3,}|:{3,})[^\n]*\n.*?^\1\s*$", re.M | re.S)
MATH = re.compile(r"\$\$.*?\$\$|\$[^$\n]+\$", re.S)
CODE = re.compile(r"``[^`]+``|`[^`]+`")
TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$", re.M)


def prose_of(path: Path) -> str:
    """The chapter's reader-facing prose, prepared for a readability formula."""
    parts = prose(path)             # the markdown cells up to References, as the prose-number check reads them
    text = "\n\n".join(parts)
    text = FOR_RESEARCHERS.sub(" ", text)
    text = TERM.sub(lambda m: m.group(1), text)     # a glossary link reads as its words
    text = ROLE.sub("it", text)                      # a glued number reads as one short word
    text = MATH.sub("it", text)
    text = CODE.sub("it", text)
    text = TABLE_ROW.sub(" ", text)
    text = re.sub(r"^(`{3,}|:{3,}).*$", " ", text, flags=re.M)     # fences of admonitions kept as prose
    text = re.sub(r"^#+ .*$", " ", text, flags=re.M)                 # headings are not sentences
    text = re.sub(r"[*_>]", " ", text)
    return text


def grade(path: Path) -> float:
    return float(textstat.flesch_kincaid_grade(prose_of(path)))


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_chapter_reads_at_grade_9_5_or_below(path):
    g = grade(path)
    assert g <= MAX_GRADE, (f"{path.name}: Flesch-Kincaid grade {g:.1f} is above {MAX_GRADE}; shorten "
                            "sentences, define terms, or fold the researcher's detail into a 'For researchers' note")


def test_the_measure_tells_plain_from_dense_prose():
    plain = "We asked pupils how they feel at school. Most said they like their class. Some did not."
    dense = ("Heterogeneous intraclass correlations notwithstanding, multilevel specifications accommodating "
             "cross-classified hierarchical dependencies substantially attenuate inferential overconfidence.")
    assert textstat.flesch_kincaid_grade(plain) < 5 < textstat.flesch_kincaid_grade(dense)


if __name__ == "__main__":
    for p in CHAPTERS:
        print(f"{p.stem:40s} {grade(p):5.1f}")
