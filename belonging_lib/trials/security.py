"""The EEF's security rating of a trial's finding (the "padlock", 0 to 5), step by step.

The rating is the procedure the EEF's peer reviewers follow; this module applies it mechanically to
the numbers a trial produces and to the threats its evaluator declares, and keeps each step with its
inputs and the rule applied, so that a reviewer can check every padlock.
"""

from __future__ import annotations

import dataclasses
import math

import pandas as pd

from .._errors import DataError
from .._results import Result

__all__ = ["SecurityRating", "security_rating", "THREATS", "LEVEL_NAMES"]

#: The threats to validity an evaluator declares (the issue's list, in the EEF procedure's order).
THREATS = (
    "confounding",
    "concurrent interventions",
    "contamination",
    "implementation fidelity",
    "missing data",
    "outcome measurement",
    "selective reporting",
)

#: Words for each rating, from the EEF's page "The EEF 'padlocks' security rating"
#: (https://v2.educationendowmentfoundation.org.uk/help/projects/the-eef-security-rating/), which lists,
#: from the highest rating to the lowest: "Very high security", "High security", "Moderate to high
#: security", "Moderate to low security", "Low security", "Very low security".
LEVEL_NAMES = {
    5: "very high security",
    4: "high security",
    3: "moderate to high security",
    2: "moderate to low security",
    1: "low security",
    0: "very low security",
}

_RISKS = ("low", "moderate", "high")
_DIRECTIONS = ("overstates the effect", "understates the effect", "unclear")


@dataclasses.dataclass(frozen=True)
class SecurityRating(Result):
    """A trial's padlock rating with its audit trail.

    Attributes
    ----------
    padlocks : int
        The final rating, 0 to 5.
    interim : int
        The rating before the declared threats: the lowest of the design, MDES and attrition ratings.
    words : str
        The EEF's words for the final rating ("moderate to high security").
    steps : DataFrame
        One row per step: ``step``, ``inputs``, ``rule`` (the rule applied, with the band edges) and
        ``padlocks`` (the rating that step gives, or the padlocks it removes for a threat).
    source : str
        Where the band edges and downgrade rules were copied from (the design file's ``source``).
    """

    padlocks: int
    interim: int
    words: str
    steps: pd.DataFrame = dataclasses.field(repr=False)
    source: str = ""
    title = "EEF security rating (padlocks)"

    def to_frame(self) -> pd.DataFrame:
        return self.steps.copy()

    def notes(self) -> list[str]:
        return [
            f"Final rating: {self.padlocks} padlock{'s' if self.padlocks != 1 else ''} "
            f"({self.words}); before the declared threats: {self.interim}.",
            f"Band edges and downgrade rules from: {self.source}.",
        ]


def _edges(bands, key, *, upper=None):
    values = bands.get(key)
    if not isinstance(values, (list, tuple)) or len(values) != 5:
        raise DataError(
            f"`bands[{key!r}]` must list 5 upper edges, for 5, 4, 3, 2 and 1 padlocks "
            f"(lowest first), but {values!r} was given."
        )
    try:
        out = [float(v) for v in values]
    except (TypeError, ValueError):
        raise DataError(f"`bands[{key!r}]` must hold numbers, but {values!r} was given.") from None
    if any(not math.isfinite(v) or v <= 0 for v in out) or any(b <= a for a, b in zip(out, out[1:])):
        raise DataError(
            f"`bands[{key!r}]` must be positive and increasing (the edge for 5 padlocks "
            f"first), but {values!r} was given."
        )
    if upper is not None and out[-1] > upper:
        raise DataError(f"`bands[{key!r}]` are proportions (at most {upper}), but {values!r} was given.")
    return out


def _check_bands(bands) -> dict:
    """Check a band table (as written in a design file) and return it in a canonical form.

    ``bands`` holds ``source`` (text: the document and version the edges were copied from),
    ``design`` (design name -> most padlocks it allows), ``mdes`` and ``attrition`` (5 upper edges
    each, for 5, 4, 3, 2 and 1 padlocks; attrition as a proportion), and ``downgrade`` (padlocks
    removed for a threat at ``moderate`` and at ``high`` risk; ``low`` removes none); ``combine``
    (``"sum"``, the default, or ``"max"``) says how several threats' downgrades add up.
    """
    if not isinstance(bands, dict):
        raise DataError(f"`bands` must be a mapping (the design file's `security_bands`), not {type(bands).__name__}.")
    source = bands.get("source")
    if not isinstance(source, str) or not source.strip():
        raise DataError("`bands['source']` must say which document and version the band edges were copied from.")
    design = bands.get("design")
    if not isinstance(design, dict) or not design:
        raise DataError(
            "`bands['design']` must map each design (for example `randomised`) to the most padlocks it allows."
        )
    caps = {}
    for name, cap in design.items():
        if not isinstance(cap, int) or isinstance(cap, bool) or not 0 <= cap <= 5:
            raise DataError(
                f"`bands['design'][{name!r}]` must be a whole number of padlocks from 0 to 5, but {cap!r} was given."
            )
        caps[str(name)] = cap
    down = bands.get("downgrade")
    if not isinstance(down, dict) or set(down) - {"low", "moderate", "high"} or not {"moderate", "high"} <= set(down):
        raise DataError(
            "`bands['downgrade']` must give the padlocks removed for a `moderate` and a `high` "
            f"risk (and optionally `low`), but {down!r} was given."
        )
    drops = {"low": down.get("low", 0), "moderate": down["moderate"], "high": down["high"]}
    for risk, d in drops.items():
        if not isinstance(d, int) or isinstance(d, bool) or not 0 <= d <= 5:
            raise DataError(f"`bands['downgrade'][{risk!r}]` must be a whole number from 0 to 5, but {d!r} was given.")
    if not drops["low"] <= drops["moderate"] <= drops["high"]:
        raise DataError(f"`bands['downgrade']` must not remove more padlocks for a lower risk: {drops}.")
    combine = bands.get("combine", "sum")
    if combine not in ("sum", "max"):
        raise DataError(f"`bands['combine']` must be 'sum' or 'max', but {combine!r} was given.")
    return {
        "source": source.strip(),
        "design": caps,
        "mdes": _edges(bands, "mdes"),
        "attrition": _edges(bands, "attrition", upper=1.0),
        "downgrade": drops,
        "combine": combine,
    }


def _band(x: float, edges: list[float]) -> tuple[int, str]:
    """Padlocks for ``x`` on upper edges (5 padlocks up to edges[0], ..., 0 above edges[4])."""
    for i, edge in enumerate(edges):
        if x <= edge:
            below = f"above {edges[i - 1]:g} and " if i else ""
            return 5 - i, f"{below}at most {edge:g}: {5 - i}"
    return 0, f"above {edges[-1]:g}: 0"


def _threat_rows(threats, drops):
    rows = []
    threats = {} if threats is None else threats
    if not isinstance(threats, dict):
        raise DataError("`threats` must map each threat to its `risk` and `direction`.")
    unknown = sorted(set(threats) - set(THREATS))
    if unknown:
        raise DataError(f"Unknown threat(s) {unknown}; the threats are: {', '.join(THREATS)}.")
    for name in THREATS:
        t = threats.get(name)
        if t is None:
            raise DataError(
                f"Threat {name!r} is not declared: every threat needs a risk (low, moderate or "
                "high) and a direction, decided before unblinding."
            )
        if not isinstance(t, dict):
            raise DataError(f"Threat {name!r} must be a mapping with `risk` and `direction`, not {t!r}.")
        risk = str(t.get("risk", "")).strip().lower()
        if risk not in _RISKS:
            raise DataError(
                f"Threat {name!r}: `risk` must be one of {', '.join(_RISKS)}, but {t.get('risk')!r} was given."
            )
        direction = str(t.get("direction", "unclear")).strip().lower()
        if direction not in _DIRECTIONS:
            raise DataError(
                f"Threat {name!r}: `direction` must be one of {', '.join(_DIRECTIONS)}, "
                f"but {t.get('direction')!r} was given."
            )
        note = str(t.get("note", "") or "").strip()
        rows.append(
            {
                "step": f"threat: {name}",
                "inputs": f"risk {risk}; {direction}" + (f"; {note}" if note else ""),
                "rule": f"a {risk} risk removes {drops[risk]}",
                "padlocks": -drops[risk],
            }
        )
    return rows


def security_rating(
    *,
    mdes: float,
    attrition: float,
    bands: dict,
    design: str = "randomised",
    unit: str = "school",
    threats: dict | None = None,
) -> SecurityRating:
    """The EEF padlock rating of a trial's primary finding, step by step.

    Parameters
    ----------
    mdes : float
        The minimum detectable effect size at analysis (from the analysed sample).
    attrition : float
        Pupil-level attrition of the primary outcome, as a proportion of the pupils randomised.
    bands : dict
        The band edges and downgrade rules, copied by the evaluator from the EEF's published
        procedure, with their ``source``: ``design`` (design -> most padlocks), ``mdes`` and
        ``attrition`` (5 upper edges each, for 5, 4, 3, 2 and 1 padlocks), ``downgrade`` (padlocks
        removed for a ``moderate`` and a ``high`` risk) and optionally ``combine`` (``sum`` or ``max``),
        as in the design file's ``security_bands`` (``belonging trial-report --template``).
    design : str
        The design, a key of ``bands["design"]`` (``"randomised"``).
    unit : str
        What was randomised ("school", "class" or "pupil"); recorded in the audit trail.
    threats : dict
        Each of ``THREATS`` -> ``{"risk": "low" | "moderate" | "high", "direction":
        "overstates the effect" | "understates the effect" | "unclear", "note": ...}``.

    Returns
    -------
    SecurityRating
        ``to_frame()`` is the audit trail: design, MDES band, attrition band, interim rating (the
        lowest of the three), each threat and its downgrade, and the final rating (never below 0).

    Notes
    -----
    The procedure implemented is the EEF's *Classifying the security of findings from EEF
    evaluations*, 2019 version
    (https://d2tic4wvo1iusb.cloudfront.net/documents/evaluation/peer-review-process/Classifying_the_security_of_EEF_findings_2019.pdf).
    Its text could not be retrieved when this function was written, so its steps follow the
    structure this project's specification gives it (issue 29): a rating for the design, one for
    the MDES at analysis and one for pupil-level attrition; the interim rating is the lowest of
    these; the declared threats to validity then lower it. The words for each rating are quoted from
    the EEF's page on the rating (see ``LEVEL_NAMES``), which also says that the rating is
    awarded by two external peer reviewers: this function gives them an audit trail, not a verdict.

    **The band edges are not built in.** The numeric edges of the MDES and attrition bands, the most
    padlocks each design allows and the size of a downgrade could not be retrieved from the EEF's
    document, so none is typed here from memory: the evaluator copies
    them into the design file (``security_bands``) from the version of the document the trial is
    judged against, with its ``source``, and the audit trail prints them beside each step. Each band
    is read as "at most this edge" (a value on an edge gets the higher rating); check that against
    the document's wording. The downgrades of several threats add up (``combine: sum``) or the
    largest one applies (``combine: max``); this is a choice of the design file, not a quotation.

    Examples
    --------
    >>> bands = {"source": "a worked example", "design": {"randomised": 5},
    ...          "mdes": [0.2, 0.3, 0.4, 0.5, 0.6], "attrition": [0.1, 0.2, 0.3, 0.4, 0.5],
    ...          "downgrade": {"moderate": 1, "high": 2}}
    >>> low = {"risk": "low", "direction": "unclear"}
    >>> r = security_rating(mdes=0.25, attrition=0.12, bands=bands, threats={t: low for t in THREATS})
    >>> r.interim, r.padlocks
    (4, 4)
    """
    b = _check_bands(bands)
    if design not in b["design"]:
        raise DataError(
            f"Design {design!r} has no rating in `bands['design']` (designs there: {', '.join(b['design'])})."
        )
    try:
        mdes_v, att_v = float(mdes), float(attrition)
    except (TypeError, ValueError):
        raise DataError(f"`mdes` and `attrition` must be numbers, but {mdes!r} and {attrition!r} were given.") from None
    if not (math.isfinite(mdes_v) and mdes_v > 0):
        raise DataError(f"`mdes` must be a positive number, but {mdes!r} was given.")
    if not (math.isfinite(att_v) and 0 <= att_v <= 1):
        raise DataError(f"`attrition` must be a proportion from 0 to 1, but {attrition!r} was given (12% is 0.12).")
    cap = b["design"][design]
    p_mdes, rule_mdes = _band(mdes_v, b["mdes"])
    p_att, rule_att = _band(att_v, b["attrition"])
    interim = min(cap, p_mdes, p_att)
    rows = [
        {
            "step": "design",
            "inputs": f"{design}, randomised by {unit}",
            "rule": f"a {design} design allows at most {cap}",
            "padlocks": cap,
        },
        {"step": "MDES at analysis", "inputs": f"{mdes_v:.3f}", "rule": f"MDES {rule_mdes}", "padlocks": p_mdes},
        {
            "step": "pupil attrition",
            "inputs": f"{100 * att_v:.1f}%",
            "rule": f"attrition {rule_att}",
            "padlocks": p_att,
        },
        {
            "step": "interim rating",
            "inputs": f"design {cap}, MDES {p_mdes}, attrition {p_att}",
            "rule": "the lowest of the three",
            "padlocks": interim,
        },
    ]
    trows = _threat_rows(threats, b["downgrade"])
    drops = [-r["padlocks"] for r in trows]
    total = sum(drops) if b["combine"] == "sum" else max(drops, default=0)
    final = max(0, interim - total)
    rows += trows
    rows.append(
        {
            "step": "final rating",
            "inputs": f"interim {interim}; threats remove {total}",
            "rule": f"interim minus the threats' downgrades ({b['combine']}), never below 0",
            "padlocks": final,
        }
    )
    return SecurityRating(
        padlocks=final, interim=interim, words=LEVEL_NAMES[final], steps=pd.DataFrame(rows), source=b["source"]
    )
