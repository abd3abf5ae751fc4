"""Every evidence box has a strength rating and well-formed, complete references.

An evidence box (see ``tests/_evidence.py``) opens a chapter's classroom section with what published
research on real pupils says about the chapter's claim. Every chapter from 02 to 12 must have one, and for
each this checks that:

- the box sits at the start of the chapter's "What this means for your classroom" section;
- it states a strength of evidence in the EEF's plain words (extensive / moderate / limited / none);
- it lists its sources, each with authors, a year in brackets, a title, a source in italics (journal or
  publisher) and one DOI (``https://doi.org/10....``) or web address, well formed;
- every citation in its text, "(Author, 2014)" or "(Author et al., 2014; ...)", names a listed source.

Whether a DOI resolves needs the network, which the tests do not use; a DOI or address that is not
well formed fails here.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlparse

import pytest
from _evidence import CITATION, DOI_URL, RATING, RATINGS, URL, boxes, sources

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.md"))
# The chapters that make a claim about pupils: 02 to 12 (00 and 01 introduce the course and the data).
NEEDS_BOX = [p for p in CHAPTERS if 2 <= int(p.name[:2]) <= 12]
REFERENCE = re.compile(r"^(?P<authors>.+?) \((?P<year>(?:19|20)\d\d)[a-z]?\)\. (?P<rest>.+)$")


def problems(text: str) -> list[str]:
    """What is wrong with the evidence boxes of one chapter's text (empty when all is well)."""
    out = []
    found = boxes(text)
    if not found:
        return ["no evidence box"]
    section = re.search(r"^## What this means for your classroom\s*\n+(?P<first>[^\n]*)", text, re.M)
    if not section or "{admonition}" not in section.group("first"):
        out.append("the first evidence box does not open the section '## What this means for your classroom'")
    for body in found:
        rating = RATING.search(body)
        if not rating or rating.group("rating") not in RATINGS:
            out.append("a box without '**Strength of evidence: <" + " / ".join(RATINGS) + ">.**'")
        refs = sources(body)
        if not refs:
            out.append("a box without sources")
        keys = []
        for ref in refs:
            m = REFERENCE.match(ref)
            if not m:
                out.append(f"source without 'Authors (year). ...': {ref[:60]!r}")
                continue
            if "*" not in m.group("rest"):
                out.append(f"source without a journal or publisher in italics: {ref[:60]!r}")
            urls = URL.findall(ref)
            if len(urls) != 1 or not ref.endswith(urls[0]):
                out.append(f"source must end with exactly one DOI or web address: {ref[:60]!r}")
            for url in urls:
                if url.startswith("https://doi.org/") and not DOI_URL.match(url):
                    out.append(f"malformed DOI: {url}")
                parsed = urlparse(url)
                if parsed.scheme not in ("http", "https") or "." not in parsed.netloc:
                    out.append(f"malformed address: {url}")
            keys.append((m.group("authors").split(",")[0].strip(), m.group("year")))
        statement = " ".join(" ".join(line for line in body.splitlines() if not line.startswith("- ")).split())
        for group in CITATION.findall(statement):
            for cite in group.split(";"):
                cm = re.match(r"\s*(?P<name>[^,&]+?)(?: et al\.| & [^,]+)?, (?P<year>(?:19|20)\d\d)", cite)
                if not cm:
                    continue
                name, year = cm.group("name").strip(), cm.group("year")
                if (name, year) not in keys:
                    out.append(f"citation ({cite.strip()}) has no source in the box")
    return out


def test_every_chapter_from_02_to_12_is_checked():
    assert [p.name[:2] for p in NEEDS_BOX] == [f"{n:02d}" for n in range(2, 13)]


@pytest.mark.parametrize("path", NEEDS_BOX, ids=[p.stem for p in NEEDS_BOX])
def test_evidence_box_is_rated_and_referenced(path):
    assert not problems(path.read_text(encoding="utf-8")), problems(path.read_text(encoding="utf-8"))


GOOD = """## What this means for your classroom

```{admonition} What research on real pupils says
:class: evidence

**Strength of evidence: limited.** One study found a link (Doe & Roe, 2014).

Sources:

- Doe, J., & Roe, R. (2014). A title. *A Journal, 1*(2), 3-4. https://doi.org/10.1234/abc.5
```
"""


def test_checker_accepts_a_good_box_and_catches_each_fault():
    assert problems(GOOD) == []
    assert problems(GOOD.replace("limited", "strong"))  # not an EEF word
    assert problems(GOOD.replace("**Strength of evidence: limited.** ", ""))  # no rating
    assert problems(GOOD.replace("https://doi.org/10.1234/abc.5", "https://doi.org/abc"))  # malformed DOI
    assert problems(GOOD.replace(" https://doi.org/10.1234/abc.5", ""))  # no DOI or address
    assert problems(GOOD.replace("(2014). A title.", "A title."))  # no year
    assert problems(GOOD.replace("*A Journal, 1*", "A Journal, 1"))  # no journal in italics
    assert problems(GOOD.replace("(Doe & Roe, 2014)", "(Smith, 2019)"))  # citation without source
    assert problems(GOOD.replace("## What this means for your classroom\n\n", "## Elsewhere\n\n"))
    assert problems("## What this means for your classroom\n\nNo box.") == ["no evidence box"]
