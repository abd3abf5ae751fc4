"""No number in a chapter's prose is typed by hand where it describes the data.

Every number or verdict that a chapter's markdown states about the data comes from the computation
through myst-nb's glue (``{glue:text}`key:.2f` ``, ``{glue:md}`key` ``). This test reads each chapter
with jupytext, takes its markdown cells, removes what is not a typed statement about the data, and
fails on any number that is left:

- roles (glue, term, ref, math ...), inline code, math, fenced code;
- the References section;
- citation years ("Goodenow, 1993", "(2002)"), statistic names such as ICC(1);
- numbering: headings' chapter and section numbers, numbered lists, "Exercise 2", "Step 3",
  "section 3", cross-references to chapters ("chapter 05", "chapters 03 and 06"), the map's chapter
  column, school year groups ("Year 8");
- the phrases in ``ALLOWED`` below: conventions, thresholds and instrument facts, each with the reason
  it is not about the data.

A number is a decimal (0.12, .70), a percentage (95%) or an integer (14, 1,000). Digits inside a word
(KS2, pssm_01) are not numbers.

It also checks that every glue key the prose uses is glued in the chapter's own code.
"""

import re
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.md"))

# Chapters still being converted (none at present); their checks are expected to fail.
PARALLEL: set[str] = set()

# The real exceptions: (exact phrase, why it is not a statement about the data). "*" applies to every
# chapter. Each phrase must occur in the chapter (a stale entry fails), and is removed before the search.
ALLOWED: dict[str, list[tuple[str, str]]] = {
    "*": [
        ("95%", "the conventional confidence level of the intervals"),
        ("1-5", "the response scale of the questionnaires (instrument registry)"),
    ],
    "00": [
        ("The p-value was .03, so there is a 97% chance",
         "an invented sentence that Exercise 2 asks the reader to criticise, not a result"),
        ("(Goodenow, 1993, p. 80)", "the page of the quoted definition, a citation"),
        ("(1 − reliability)", "the formula for the expected pull toward the mean, not a result"),
    ],
    "06": [
        ("pupils aged 13 to 16", "the ages of the published WEMWBS validation (Clarke et al., 2011), a cited fact"),
    ],
    "01": [
        ("(\"1 = Never ... 5 = Always\")", "an example of what value labels look like"),
        ("codes such as 9 as", "an example of a code that SPSS can declare as missing"),
        ("is 1 \"strongly agree\"", "an example of a code without its label"),
        ("0-2) at face value counts each 9 as a very high answer and each -99 as a hugely negative one",
         "the SDQ item's response range (instrument registry) and how the export's codes sit against it"),
        ("the 0-2 scale", "the SDQ item's response range (instrument registry)"),
        ("A single code 9 among answers of 1 to 5", "an invented example of one stray code"),
    ],
    "02": [
        ("(1 becomes 5,\n2 becomes 4, ...)", "how reverse keying works on a 1-5 scale"),
        ("the codes 9 and -99 for", "the export's 'not answered' codes, passed to score_with_report() in the code below"),
        ("\"Maybe\" or 7", "an invented example of an invalid answer"),
        ("It runs from 0 to 1; .70 is a common minimum for comparing groups and\n.80-.90 for decisions",
         "the range of alpha and its conventional thresholds"),
        ("Items below\nabout .30", "the conventional threshold for corrected item-total correlations"),
        ("18 mediocre items can beat 4 good ones", "a general point about alpha, not about these data"),
        (".70 is a common minimum.", "the conventional threshold for ICC(2)"),
        ("Is it above the .70\nrule of thumb?", "the convention the exercise asks about"),
        ("PSSM items (01, 02, 04 and 05)", "the exercise's choice of items"),
    ],
    "03": [
        ("above about .95 is usually called good", "the conventional cut-off for CFI (Hu & Bentler)"),
        (".06 is usually called good, and its 90% interval", "the conventional cut-off for RMSEA, and the level of its interval"),
        ("below about .08 is usually called good", "the conventional cut-off for SRMR"),
        ("(1 = no measurement error)", "the upper end of omega's range, a definition"),
        ("Values around .7 to .8 are adequate", "the conventional reading of omega"),
        ("CFI drops by no more than .01", "the invariance rule of thumb (Cheung & Rensvold; Chen)"),
        ("RMSEA rises by no more than .015", "the invariance rule of thumb (Chen)"),
        ("The .01 CFI rule", "the same rule of thumb"),
    ],
    "04": [
        ("(in studies from more than 75 countries)", "a fact about the research literature, not these data"),
        ("(1 to 5", "the response scale of the questionnaires (instrument registry)"),
        ("use 5,000 in a report", "advice on the number of bootstrap draws, not a result"),
        ("A 1 means the row scale completely dominates the column scale, a\n0 that it is dominated",
         "how to read the codes of the complete-dominance table"),
    ],
    "05": [
        ("(80-120;", "the range of the KS2 scaled-score scale"),
        ("clipped to 80-120", "the same range, where the simulator clips scores"),
    ],
    "08": [
        ("the .70 rule of thumb", "the conventional threshold for ICC(2)"),
        ("(1) and", "the name of the statistic ICC(1) after a glossary link"),
    ],
    "09": [
        ("Figure 1", "the number of a figure"),
        ("Figure 2", "the number of a figure"),
    ],
    "10": [
        ("PISA 2015", "the name of a survey cycle"),
        ("PISA 2022", "the name of a survey cycle"),
        ("before 2015", "when the survey's file layout changed, a fact about PISA's files"),
    ],
    "12": [
        ("CC BY 4.0", "the licence of the questionnaire's wording"),
        ("(about ages 7-11)", "the age range the primary version is written for"),
        ("(CFI at least .95 and RMSEA\nat most .06;", "the conventional fit cut-offs (Hu & Bentler)"),
        ("(below .5 poor, .5 to .75 moderate;", "the conventional reading of an ICC (Koo & Li)"),
        ("plus or minus 1.96", "the normal quantile of a 95% band"),
        ("ICC(2,1)", "the name of an ICC in Shrout & Fleiss's notation (two-way random, one rater)"),
        ("ICC(2,k)", "the name of an ICC in Shrout & Fleiss's notation (two-way random, mean of k raters)"),
    ],
}

ROLE = re.compile(r"\{[\w:.-]+\}`[^`]*`")
GLUE_ROLE = re.compile(r"\{glue(?::\w+)?\}`([^`]+)`")
GLUE_DIRECTIVE = re.compile(r"^```\{glue(?::\w+)?\}\s+(\S+)", re.M)
GLUE_CALL = re.compile(r"\bglue\(\s*(f?)[\"']([^\"']+)[\"']")
NUMBER = re.compile(r"(?<![\w.])(?:\d+(?:[.,]\d+)*|\.\d+)%?(?![\w])")
NOT_DATA = [
    re.compile(r"```\{math\}.*?```", re.S),                     # math blocks
    re.compile(r"```(?!\{)[^\n]*\n.*?```", re.S),               # fenced code
    re.compile(r"\$\$.*?\$\$", re.S),                           # display math
    re.compile(r"\$[^$\n]+\$"),                                 # inline math
    re.compile(r"``[^`]+``"),                                   # inline code
    re.compile(r"`[^`]+`"),
    re.compile(r"^#+ (?:\d\d ·|\d+(?:\.\d+)*\.?|Step \d+:)", re.M),     # heading numbers
    re.compile(r"^\s*\d+\.\s", re.M),                           # numbered lists
    re.compile(r"\*\*(?:Exercise )?\d+\.\*\*"),                 # exercise labels
    re.compile(r"\b(?:[Cc]hapters?|[Nn]otebooks?|[Ee]xercises?|[Ss]teps?|[Ss]ections?)\s+\d+"
               r"(?:\s*(?:,|and|or|-|to)\s*\d+)*"),             # cross-references and numbering
    re.compile(r"^\|\s*\d\d\s", re.M),                          # the map's chapter column
    re.compile(r"\bYears?\s+\d+"),                              # school year groups
    re.compile(r"\bICC\(\d\)"),                                 # statistic names
    re.compile(r"(?:,|\bet al\.|&[^,()]*,)\s*(?:19|20)\d\d[a-z]?\b"),  # citation years
    re.compile(r"\((?:19|20)\d\d[a-z]?\)"),
]


def chapter_id(path: Path) -> str:
    return path.name[:2]


def marks(path: Path):
    if chapter_id(path) in PARALLEL:
        return [pytest.mark.xfail(strict=False, reason="converted in a parallel branch")]
    return []


PARAMS = [pytest.param(p, id=p.stem, marks=marks(p)) for p in CHAPTERS]


def prose(path: Path) -> list[str]:
    """The markdown cells of a chapter, up to its References section (evidence boxes' reference lines left out:
    they are references, checked by test_evidence_boxes.py)."""
    from _evidence import without_sources

    cells = []
    for cell in jupytext.read(path).cells:
        if cell.cell_type != "markdown":
            continue
        text = without_sources(cell.source)
        ref = re.search(r"^#+ References\s*$", text, flags=re.M)
        if ref:
            cells.append(text[: ref.start()])
            break
        cells.append(text)
    return cells


def typed_numbers(text: str, allowed: list[tuple[str, str]]) -> list[str]:
    """Numbers left in ``text`` once roles, numbering, citations and the allowed phrases are gone."""
    text = ROLE.sub(" ", text)
    for phrase, _why in allowed:
        text = text.replace(phrase, " ")
    for pattern in NOT_DATA:
        text = pattern.sub(" ", text)
    found = []
    for line in text.splitlines():
        for match in NUMBER.finditer(line):
            found.append(f"{match.group(0)!r} in: {line.strip()[:110]}")
    return found


def allowed_for(path: Path) -> list[tuple[str, str]]:
    return ALLOWED["*"] + ALLOWED.get(chapter_id(path), [])


def test_every_chapter_is_checked():
    ids = [chapter_id(p) for p in CHAPTERS]
    assert ids[:13] == [f"{n:02d}" for n in range(13)], ids


def test_checker_catches_typed_numbers():
    """The checker finds the kinds of typed number it is there to find, and lets the rest through."""
    typed = "Alpha is .91, about 8% of it, 0.75 and 78 pupils per school (ICC(2) .87)."
    assert len(typed_numbers(typed, [])) == 5
    fine = ("See chapter 05 and chapters 03 and 06 (Hu & Bentler, 1999). Year 8 pupils, KS2 and "
            "{glue:text}`alpha:.2f`, `pssm_01`, $x_1 = 2$, ICC(1).")
    assert typed_numbers(fine, []) == []
    assert typed_numbers("the .70 rule of thumb", [("the .70 rule of thumb", "convention")]) == []


@pytest.mark.parametrize("path", PARAMS)
def test_prose_has_no_typed_numbers(path):
    cells = prose(path)
    allowed = allowed_for(path)
    joined = "\n".join(cells)
    stale = [phrase for phrase, _ in ALLOWED.get(chapter_id(path), []) if phrase not in joined]
    assert not stale, f"{path.name}: allow-list phrases no longer in the prose: {stale}"
    found = [hit for text in cells for hit in typed_numbers(text, allowed)]
    assert not found, (f"{path.name}: numbers typed in the prose; glue them from the computation "
                       "(or, if not about the data, add the phrase to ALLOWED with its reason):\n  "
                       + "\n  ".join(found))


@pytest.mark.parametrize("path", PARAMS)
def test_glue_keys_in_prose_are_glued_in_code(path):
    nb = jupytext.read(path)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    used = {m.split("::")[-1].split(":")[0] for m in GLUE_ROLE.findall(markdown)}
    used |= set(GLUE_DIRECTIVE.findall(markdown))
    # A key may be glued in each branch of an if/else; an f-string key such as f"or_{term}" stands
    # for every key that matches it with the braces read as "any name".
    literal, patterns = set(), []
    for is_f, key in GLUE_CALL.findall(code):
        if is_f and "{" in key:
            patterns.append(re.compile("^" + re.sub(r"\\\{[^}]*\\\}", r"\\w+", re.escape(key)) + "$"))
        else:
            literal.add(key)
    missing = sorted(k for k in used - literal if not any(p.match(k) for p in patterns))
    assert not missing, f"{path.name}: glue keys used in the prose but not glued in the code: {missing}"
