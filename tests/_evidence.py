"""Reading the evidence boxes of the chapters (shared by the evidence and prose tests).

An evidence box opens a chapter's classroom section and reports what published research on real pupils
says about the chapter's claim. It is a MyST admonition with the class ``evidence``::

    ```{admonition} What research on real pupils says
    :class: evidence

    **Strength of evidence: moderate.** A statement (Author & Author, 2014).

    Sources:

    - Author, A. A., & Author, B. (2014). Title. *Journal, 32*(3), 202-215. https://doi.org/10.xxxx/yyyy
    ```

Its sources are references, not statements about the data: the prose checks leave them out.
"""

from __future__ import annotations

import re

BOX = re.compile(
    r"^(?P<fence>`{3,}|:{3,})\{admonition\}[^\n]*\n:class:[^\n]*\bevidence\b[^\n]*\n(?P<body>.*?)^(?P=fence)\s*$",
    re.M | re.S,
)
SOURCE = re.compile(r"^- (?P<text>.+)$", re.M)
RATINGS = ("extensive", "moderate", "limited", "none")
RATING = re.compile(r"\*\*Strength of evidence: (?P<rating>[a-z]+)\.\*\*")
DOI_URL = re.compile(r"^https://doi\.org/10\.\d{4,9}/[-._;()/:A-Za-z0-9]+$")
URL = re.compile(r"https?://\S+")
CITATION = re.compile(r"\(([^()]*?(?:19|20)\d\d[a-z]?)\)")


def boxes(text: str) -> list[str]:
    """The bodies of the evidence boxes in a chapter's text."""
    return [m.group("body") for m in BOX.finditer(text)]


def sources(body: str) -> list[str]:
    """The reference lines of one box (list items)."""
    return [m.group("text").strip() for m in SOURCE.finditer(body)]


def without_sources(text: str) -> str:
    """``text`` with the reference lines of its evidence boxes removed."""

    def strip(m):
        return SOURCE.sub("", m.group(0))

    return BOX.sub(strip, text)
