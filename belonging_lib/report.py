"""A short school report: one school's belonging against the rest of the sample.

:func:`school_report` writes an HTML page (no PDF: a PDF needs a browser or
LaTeX engine, so print the HTML page to PDF from a browser instead) with

1. each scale the survey measured (belonging first, then teacher care,
   fairness, listening, peers, bullying, engagement, respect, voice,
   wellbeing, as the data hold them; or the scales asked for, in the order
   asked), each named with its own possible range: the school's mean and N
   beside the other schools' mean and N, and the difference.  Scales whose
   items hold no answer are left out and named; scales not measured are not
   mentioned;
2. the first score by group of pupils (FSM, SEND, gender, ...) in the
   school and in the other schools.

Every cell describing fewer pupils than the disclosure threshold (10 by
default) is suppressed, with secondary suppression within each group
variable, so the school's total cannot reveal a small group.  Pupil
identifiers never appear.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ._errors import DataError
from ._results import Result
from ._validation import as_frame, require_columns
from .disclosure import (DisclosureContext, DisclosurePolicy, SuppressedTable, automatic_context, get_context,
                         get_default_policy, protect, suppress)
from .tables import apa_table

__all__ = ["school_report", "DEFAULT_SCORES", "DEFAULT_BY", "ReportScale", "ReportScales", "ReportTables",
           "report_tables", "resolve_scores"]

#: Pupil characteristics the report breaks the first score down by, unless ``by`` says otherwise.
DEFAULT_BY = ("fsm", "send", "gender")

#: Score label -> instrument name (scored with :func:`belonging_lib.scoring.score`).
DEFAULT_SCORES = {
    "Belonging (PSSM)": "pssm",
    "Teacher care": "tr_care",
    "Teacher fairness": "tr_fair",
    "Teachers listen": "tr_listen",
    "Peer acceptance": "peer",
    "Bullying (higher = more)": "bully",
    "Engagement": "engage",
    "Respect and safety": "respect",
    "Pupil voice": "voice",
}

_GROUP_LABELS = {"fsm": {0: "Not FSM", 1: "FSM"}, "send": {0: "No SEND", 1: "SEND"},
                 "eal": {0: "Not EAL", 1: "EAL"}, "lgbt": {0: "Not LGBT+", 1: "LGBT+"}}


#: Names of scales on the page (others: the instrument's name).
_SHORT_NAMES = {**{v: k for k, v in DEFAULT_SCORES.items()}, "pisa_belong": "Belonging (PISA-style)",
                "swemwbs": "Wellbeing (SWEMWBS)"}

#: Scales looked for when no scores are named: the default ones, then wellbeing and PISA belonging.
_DEFAULT_ORDER = ("pssm", "pisa_belong", "tr_care", "tr_fair", "tr_listen", "peer", "bully", "engage",
                  "respect", "voice", "swemwbs")


def _fmt(x: float) -> str:
    return f"{x:g}"


def _main_rule(inst):
    """The score an instrument is reported by: the one named like the instrument, else its first."""
    for rule in inst.scores:
        if rule.id == inst.id:
            return rule
    return inst.scores[0]


def _rule_range(inst, rule) -> tuple[float, float]:
    """Lowest and highest possible value of one score."""
    lo, hi = inst.response_range
    k = len(rule.items) or inst.n_items
    if rule.method == "mean":
        return float(lo), float(hi)
    if rule.method in ("sum", "prorated_sum"):
        return float(k * lo), float(k * hi)
    if rule.method == "convert" and rule.table:
        values = [v for _, v in rule.table]
        return float(min(values)), float(max(values))
    return float("nan"), float("nan")


@dataclasses.dataclass(frozen=True, eq=False)
class ReportScale:
    """One scale a report shows: its label on the page, its name, its scores and its possible range."""

    label: str
    name: str
    values: pd.Series
    low: float
    high: float


@dataclasses.dataclass(frozen=True, eq=False)
class ReportScales(Result):
    """The scales a report shows, in the order asked, and the ones left out (:func:`resolve_scores`).

    Attributes
    ----------
    shown : tuple of ReportScale
        The scales shown, in the order asked.
    left_out : tuple of str
        The scales whose items or column hold no answer.
    """

    shown: tuple
    left_out: tuple

    title = "Scales in the report"

    def to_frame(self) -> pd.DataFrame:
        """label, name, low, high, n (pupils with a score): one row per scale shown."""
        return pd.DataFrame([{"label": e.label, "name": e.name, "low": e.low, "high": e.high,
                              "n": int(e.values.notna().sum())} for e in self.shown],
                            columns=["label", "name", "low", "high", "n"])

    def notes(self) -> list[str]:
        return [f"Left out (no answers): {', '.join(self.left_out)}"] if self.left_out else []


@dataclasses.dataclass(frozen=True, eq=False)
class ReportTables(Result):
    """The tables of a one-school report, suppressed (:func:`report_tables`).

    Attributes
    ----------
    overall : SuppressedTable
        Each score: the school's N and mean, the other schools' N and mean, the difference.
    by : dict of str to SuppressedTable
        The main score by each group column, in the school and in the other schools.
    n_school, n_rest : int
        Pupils of the school and of the other schools.
    n_school_shown, n_rest_shown : bool
        Whether the header may state ``n_school`` / ``n_rest``.
    main_score : str
        The label of the first scale (the one broken down by group).
    scales : tuple of ReportScale
        The scales shown, in the order asked (as :func:`resolve_scores` gives them).
    left_out : tuple of str
        The scales left out for want of answers.
    """

    overall: SuppressedTable
    by: dict
    n_school: int
    n_rest: int
    n_school_shown: bool
    n_rest_shown: bool
    main_score: str
    scales: tuple
    left_out: tuple

    title = "School report tables"

    def to_frame(self) -> pd.DataFrame:
        """The overall table as shown (suppressed cells are missing)."""
        return self.overall.data.copy()


def resolve_scores(data: pd.DataFrame, *, scores=None) -> ReportScales:
    """The scales a report shows, in the order asked, and the ones left out for lack of answers.

    ``scores`` is ``None`` (every scale whose item columns are all in the
    data; scales not measured are not mentioned), a list of names (an
    instrument id such as ``"tr_care"``, or a score column already in the
    data) or a mapping ``{label: name}``.

    Returns a :class:`ReportScales`: ``shown`` holds one :class:`ReportScale`
    (``label, name, values, low, high``) per scale, in the order asked;
    ``left_out`` names the scales whose items or column hold no answer.

    Raises
    ------
    DataError
        A name that is neither an instrument nor a column, or an instrument
        whose item columns are not in the data (the columns are named).
    """
    from .instruments import ALIASES, list_instruments, load_instrument
    from .scoring import score

    known = set(list_instruments()) | set(ALIASES)
    if scores is None:
        names = [(None, n) for n in _DEFAULT_ORDER
                 if all(i in data.columns for i in load_instrument(n).item_ids)]
        if not names:
            raise DataError("No scale can be scored from these data: no bundled instrument has all its item "
                            f"columns here (instruments: {', '.join(sorted(list_instruments()))}). "
                            "Map your items to the instrument's names in the codebook (pssm_01 ...).")
    elif isinstance(scores, Mapping):
        names = [(label, name) for label, name in scores.items()]
    else:
        names = [(None, n) for n in ([scores] if isinstance(scores, str) else scores)]
    shown, left_out = [], []
    for label, name in names:
        name = str(name).strip()
        prescored = name in data.columns and (
            name not in known or not all(i in data.columns for i in load_instrument(name).item_ids))
        if prescored:                   # a score column already in the data (its items are not)
            values = pd.to_numeric(data[name], errors="coerce")
            low, high = (float(values.min()), float(values.max())) if values.notna().any() else (np.nan, np.nan)
            entry = {"label": label or name, "name": name, "values": values, "low": np.nan, "high": np.nan}
        elif name in known:
            inst = load_instrument(name)
            lacking = [i for i in inst.item_ids if i not in data.columns]
            if lacking:
                raise DataError(f"The scale {name!r} cannot be scored: the data lack its item column"
                                f"{'s' if len(lacking) != 1 else ''} {', '.join(lacking[:6])}"
                                f"{' ...' if len(lacking) > 6 else ''}. Leave it out of --scores, or map "
                                "those items in the codebook.")
            rule = _main_rule(inst)
            items = data[list(inst.item_ids)]
            if items.apply(pd.to_numeric, errors="coerce").notna().to_numpy().sum() == 0:
                left_out.append(label or inst.name)
                continue
            values = score(data, inst)[rule.id]
            low, high = _rule_range(inst, rule)
            what = "mean" if rule.method == "mean" else "sum" if rule.method in ("sum", "prorated_sum") else "score"
            short = _SHORT_NAMES.get(inst.id, inst.name)
            entry = {"label": label or f"{short} ({what}, {_fmt(low)}-{_fmt(high)})", "name": name,
                     "values": values, "low": low, "high": high}
        else:
            raise DataError(f"Unknown scale {name!r}: it is neither a bundled instrument "
                            f"({', '.join(sorted(list_instruments()))}) nor a column of the data.")
        if entry["values"].notna().sum() == 0:
            left_out.append(entry["label"])
            continue
        shown.append(entry)
    if not shown:
        raise DataError("None of the scales asked for has any answer in these data"
                        f"{' (' + ', '.join(left_out) + ')' if left_out else ''}.")
    return ReportScales(shown=tuple(ReportScale(**e) for e in shown), left_out=tuple(left_out))


def _score_table(data: pd.DataFrame, scores) -> tuple[pd.DataFrame, tuple, tuple]:
    """Score columns in the order asked, the scales shown, the scales left out (see :func:`resolve_scores`)."""
    resolved = resolve_scores(data, scores=scores)
    out = pd.DataFrame({e.label: e.values.to_numpy() for e in resolved.shown}, index=data.index)
    return out, resolved.shown, resolved.left_out


def _scores(data: pd.DataFrame, scores) -> pd.DataFrame:
    """Score columns in the order asked, one per scale with answers."""
    return _score_table(data, scores)[0]


def _plain(value):
    """A group value as JSON can hold it (numpy numbers to Python ones)."""
    return value.item() if isinstance(value, np.generic) else value


def report_tables(data: pd.DataFrame, *, school: str, cluster: str = "school_id",
                  scores: Mapping[str, str] | None = None, by: Sequence[str] | None = None,
                  policy: DisclosurePolicy | None = None,
                  context: DisclosureContext | None = None) -> ReportTables:
    """The report's tables as :class:`~belonging_lib.disclosure.SuppressedTable` objects.

    The whole report is one output with one disclosure context: the sample's
    own size, each score's number of pupils and each group's size over the
    whole sample count as public (a reader of the project's other outputs
    knows them), and every count the report shows is checked against them and
    against each other.  So a school of 8 pupils is not given away by the
    other schools' 3,066 beside a published 3,074.

    Parameters
    ----------
    data, school, cluster, scores, by, policy
        As for :func:`school_report`.
    context : DisclosureContext or False, optional
        The output the report belongs to (default: the active context, else a
        new one for this report).

    Returns
    -------
    ReportTables
        ``overall`` (a SuppressedTable), ``by`` (column -> SuppressedTable),
        ``n_school``, ``n_rest``, ``n_school_shown``, ``n_rest_shown``,
        ``main_score``, ``scales`` and ``left_out``.  ``scales`` are the
        scales shown, as :func:`resolve_scores` gives them, in the order asked;
        ``left_out`` the scales left out for want of answers.  The header may
        state ``n_school`` / ``n_rest`` only where ``*_shown`` is true.
    """
    data = as_frame(data)
    school_col = cluster
    require_columns(data, school_col, role="school column")
    groups = list(DEFAULT_BY if by is None else [by] if isinstance(by, str) else by)
    require_columns(data, groups, role="group column")
    policy = policy or get_default_policy()
    in_school = (data[school_col].astype(str) == str(school)).to_numpy()
    if not in_school.any():
        known = sorted(data[school_col].dropna().astype(str).unique())
        near = [k for k in known if k.lstrip("0") == str(school).strip().lstrip("0")]
        hint = f" Did you mean {near[0]!r}? Identifiers are text: give it as written, leading zeros too." if near else ""
        raise DataError(f"School {school!r} is not in column {school_col!r} (schools include {known[:10]}).{hint}")
    if in_school.all():
        raise DataError("Every pupil is in this school: there is no rest of the sample to compare with.")
    sc, shown, left_out = _score_table(data, scores)
    if context is False:
        ctx = DisclosureContext(policy, name=f"the report on school {school}")
    elif context is None:
        ctx = get_context()
        if ctx is None:
            ctx = automatic_context(data, policy=policy)
    elif isinstance(context, DisclosureContext):
        ctx = context
    else:
        raise DataError(f"`context` must be a DisclosureContext (bl.disclosure.context()), None or False, "
                        f"not {type(context).__name__}.")
    thr = policy.threshold
    on = policy.enabled
    ids = ctx.pupils_of(data)
    # The margins of the whole sample that the library's own whole-sample tables publish
    # (count_by, summarise_by: each group's size, and its number of pupils with each score) count as
    # public, as a reader of another output made from the same data knows them.
    ctx.assume_published(ids, "pupils in the sample")
    has_score = {label: sc[label].notna().to_numpy() for label in sc.columns}
    for label in sc.columns:
        ctx.assume_published(ids[has_score[label]], f"pupils with a {label} score")
    levels_of = {}
    for g in groups:
        level = data[g].map(lambda v, g=g: _GROUP_LABELS.get(g, {}).get(v, v))
        levels_of[g] = level
        for lv in pd.unique(level.dropna()):
            in_level = (level == lv).to_numpy()
            ctx.assume_published(ids[in_level], f"{g} = {lv} in the sample")
            for label in sc.columns:
                ctx.assume_published(ids[in_level & has_score[label]],
                                     f"{g} = {lv} with a {label} score in the sample")

    def withheld(sels, names, where):
        """Which of these counts (each a selection of pupils) the report must withhold, in ``ctx``."""
        counts = pd.DataFrame({"n": [int(np.count_nonzero(sel)) for sel in sels]})
        st = protect(counts, counts="n", ids=[ids[sel] for sel in sels], names=names, where=where,
                     policy=policy, context=ctx)
        return set(np.nonzero(st.mask["n"].to_numpy())[0].tolist())

    # each count also as conditions on the data (a disclosure ledger replays them in a later command)
    here = (("eq_text", school_col, str(school)),)
    there = (("ne_text", school_col, str(school)),)
    # The header: the school's and the other schools' numbers of pupils.
    head_sup = withheld([in_school, ~in_school], [f"pupils of school {school}", "pupils of the other schools"],
                        [here, there])

    # Table 1: each score, the school (its N, mean, difference) and the rest (its N, mean).
    rows = []
    sels, names, wheres = [], [], []
    for r, label in enumerate(sc.columns):
        has = sc[label].notna().to_numpy()
        a, b = sc.loc[in_school, label], sc.loc[~in_school, label]
        rows.append({"score": label, "n_school": int(a.count()), "school_mean": a.mean(),
                     "n_rest": int(b.count()), "rest_mean": b.mean(), "difference": a.mean() - b.mean()})
        scored = (("score", label),)
        sels += [in_school & has, ~in_school & has]         # the counts 2r (school) and 2r + 1 (rest)
        names += [f"{label}: school {school}", f"{label}: other schools"]
        wheres += [here + scored, there + scored]
    overall = pd.DataFrame(rows)
    sup_units = withheld(sels, names, wheres)
    mask = pd.DataFrame(False, index=overall.index, columns=overall.columns)
    for r in range(len(overall)):
        small_school = overall.loc[r, "n_school"] < thr
        small_rest = overall.loc[r, "n_rest"] < thr
        if 2 * r in sup_units:
            mask.loc[r, "n_school"] = True
            if small_school:                  # a small school's mean describes fewer than thr pupils
                mask.loc[r, ["school_mean", "difference"]] = True
        if 2 * r + 1 in sup_units:
            mask.loc[r, "n_rest"] = True
            if small_rest:
                mask.loc[r, ["rest_mean", "difference"]] = True
    data_t = overall.copy()
    for c in mask.columns[1:]:
        data_t[c] = data_t[c].astype(float).where(~mask[c].to_numpy())
    n_primary = int(on and (overall["n_school"] < thr).sum() + (overall["n_rest"] < thr).sum())
    overall_t = SuppressedTable(data_t, mask, policy, n_primary,
                                int(mask[["n_school", "n_rest"]].to_numpy().sum()) - n_primary,
                                int_columns=("n_school", "n_rest"))

    # Tables 2: the main score by group, in the school and in the other schools.
    group_tables = {}
    main = sc.columns[0]
    has_main = sc[main].notna().to_numpy()
    for g in groups:
        level = levels_of[g]
        frame = pd.DataFrame({"level": level, "school": in_school, "y": sc[main]})
        frame = frame[frame["level"].notna()]
        parts = []
        for where, sub in (("school", frame[frame["school"]]), ("rest", frame[~frame["school"]])):
            gsum = sub.groupby("level", sort=True)["y"].agg(["count", "mean", "std"]).reset_index()
            gsum.columns = ["level", "n", "mean", "sd"]
            gsum.insert(0, "where", where)
            parts.append(gsum)
        long = pd.concat(parts, ignore_index=True)
        # the group's code (a 0/1 column) names the row: never suppressed as if it were a number
        st = suppress(long, count_col="n", within="where", labels="level", policy=policy)
        gids, gnames, gwhere = [], [], []
        for where, lv in zip(long["where"], long["level"]):
            sel = (in_school if where == "school" else ~in_school) & (level == lv).to_numpy() & has_main
            raw = [_plain(v) for v in pd.unique(data.loc[(level == lv).to_numpy(), g].dropna())]
            gids.append(ids[sel])
            gnames.append(f"{g} = {lv}, {'school ' + str(school) if where == 'school' else 'other schools'}")
            gwhere.append((here if where == "school" else there) + (("in", g, raw), ("score", main))
                          if all(isinstance(v, (str, int, float, bool)) for v in raw) else None)
        st = protect(st, counts=long["n"], ids=gids, names=gnames, where=gwhere, columns=["n", "mean", "sd"],
                     blocks=[np.nonzero((long["where"] == w).to_numpy())[0] for w in ("school", "rest")],
                     context=ctx)
        levels = sorted(set(long["level"]), key=str)
        table = pd.DataFrame({"group": pd.Series(levels, dtype=object)})     # a code shows as 1, not 1.00
        tmask = pd.DataFrame({"group": [False] * len(levels)})
        for where in ("school", "rest"):
            sel = (st.data["where"] == where).to_numpy()
            d = st.data[sel].set_index(long.loc[sel, "level"])[["n", "mean", "sd"]]
            m = st.mask[sel].set_index(long.loc[sel, "level"])[["n", "mean", "sd"]]
            for c in ("n", "mean", "sd"):
                table[f"{c}_{where}"] = d[c].reindex(levels).to_numpy(dtype=float)
                tmask[f"{c}_{where}"] = m[c].astype(bool).reindex(levels, fill_value=False).to_numpy(dtype=bool) | \
                    ~np.isin(levels, d.index)
        table.columns = ["group"] + [f"{c}_{w}" for w in ("school", "rest") for c in ("n", "mean", "sd")]
        tmask.columns = table.columns
        group_tables[g] = SuppressedTable(table, tmask, policy, st.n_primary, st.n_secondary,
                                          int_columns=("n_school", "n_rest"))
    return ReportTables(overall=overall_t, by=group_tables, n_school=int(in_school.sum()),
                        n_rest=int((~in_school).sum()), n_school_shown=0 not in head_sup,
                        n_rest_shown=1 not in head_sup, main_score=main, scales=tuple(shown),
                        left_out=tuple(left_out))


def school_report(data: pd.DataFrame, *, school: str, cluster: str = "school_id",
                  scores: Mapping[str, str] | None = None,
                  by: Sequence[str] | None = None,
                  policy: DisclosurePolicy | None = None, title: str | None = None,
                  out: str | os.PathLike | None = None, synthetic: bool = False,
                  context: DisclosureContext | None = None) -> str:
    """A one-page HTML report on one school's belonging, with disclosure control.

    Parameters
    ----------
    data : DataFrame
        Pupil-level survey in the standard schema (items or score columns).
    school : str
        The school's identifier (``"S01"``).
    cluster : str
        Column holding school identifiers.
    scores : list or mapping, optional
        Scales in the order wanted: instrument ids or score columns
        (``["pssm", "tr_care"]``), or ``{label: column or instrument}``.
        Default: every bundled scale whose item columns are all in the data
        (belonging first; scales not measured are not mentioned).  Scales
        whose items hold no answer are left out, and the page says so.  The
        first is the one broken down by group.
    by : list of str, optional
        Pupil characteristics to break the first score down by (default
        :data:`DEFAULT_BY`: FSM, SEND and gender; ``[]`` for none).
    policy : DisclosurePolicy, optional
        Default: the project's policy (threshold 10).
    title : str, optional
    out : path, optional
        Also write the page to this file.
    synthetic : bool
        Say on the page that the data are synthetic.
    context : DisclosureContext or False, optional
        The output the report is part of (default: the active context, else a
        new one for the report); see :func:`report_tables`.

    Returns
    -------
    str
        The HTML page.

    Examples
    --------
    >>> import belonging_lib as bl
    >>> page = school_report(bl.load_sample("survey"), school="S01", synthetic=True)
    >>> "[c]" in page or "fewer than 10" in page
    True
    """
    import jinja2

    from . import __version__

    tables = report_tables(data, school=school, cluster=cluster, scores=scores, by=by,
                           policy=policy, context=context)
    policy = policy or get_default_policy()
    overall = apa_table(tables.overall, title="Mean scores: this school and the other schools",
                        labels={"score": "Score", "n_school": "N (school)", "school_mean": "Mean (school)",
                                "n_rest": "N (others)", "rest_mean": "Mean (others)",
                                "difference": "Difference"},
                        note="Difference = school mean minus the other schools' mean, in the units of each "
                             "score (its possible range is given beside its name).")
    blocks = []
    for g, t in tables.by.items():
        tab = apa_table(t, labels={"group": "Group", "n_school": "N (school)", "mean_school": "Mean (school)",
                                   "sd_school": "SD (school)", "n_rest": "N (others)",
                                   "mean_rest": "Mean (others)", "sd_rest": "SD (others)"},
                        title=f"{tables.main_score} by {g}")
        blocks.append({"heading": f"By {g}", "html": tab.html})
    env = jinja2.Environment(loader=jinja2.PackageLoader("belonging_lib", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]))
    page = env.get_template("school_report.html.j2").render(
        title=title or f"Belonging in school {school}", school=school,
        n_school=tables.n_school if tables.n_school_shown else None,
        n_rest=tables.n_rest if tables.n_rest_shown else None,
        n_school_small=policy.enabled and tables.n_school < policy.threshold, synthetic=synthetic, threshold=policy.threshold, symbol=policy.symbol,
        secondary=policy.secondary, overall_html=overall.html, group_blocks=blocks,
        version=__version__, date=_dt.date.today().isoformat(),
        reversed_note="for bullying, higher means more bullying" if any(
            e.name == "bully" for e in tables.scales) else "",
        left_out=tables.left_out)
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(page, encoding="utf-8")
    return page
