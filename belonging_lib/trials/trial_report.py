"""The evaluator's report: an EEF-style trial report (HTML for A4 printing, and an editable .docx).

:func:`trial_report` runs the analysis a design file fixes and writes ``trial_report.html``,
``trial_report.docx`` and ``summary.csv`` into the folder the user names.  Every table of pupils
goes through :func:`belonging_lib.disclosure.suppress`.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as _dt
import io
import math
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .._errors import BelongingWarning, DataError, ModelError
from .._results import Result
from .._validation import as_frame
from ._common import treatment_indicator
from ._design_file import TrialDesign, check_design_data, read_design

if TYPE_CHECKING:
    from .crt import CRTResult
    from .security import SecurityRating

__all__ = ["TrialReport", "trial_report", "refuse_repository"]

_LOST = "_lost_"


@dataclasses.dataclass(frozen=True)
class TrialReport(Result):
    """What :func:`trial_report` computed and wrote.

    Attributes
    ----------
    tables : dict
        Section name -> table as shown (after disclosure control; numbers unrounded).
    rating : SecurityRating
        The padlock rating of the primary outcome, with its audit trail.
    primary : CRTResult
        The primary analysis.
    covariates : tuple
        Baseline measures every model adjusts for (the pre-test, the design's covariates and those
        the balance rule flagged).
    html, docx : Path
        The files written.
    """

    tables: dict = dataclasses.field(repr=False)
    rating: SecurityRating = dataclasses.field(repr=False)
    primary: CRTResult = dataclasses.field(repr=False)
    covariates: tuple = ()
    html: Path | None = None
    docx: Path | None = None
    title = "EEF-style trial report"

    def to_frame(self) -> pd.DataFrame:
        return self.tables["Executive summary"].copy()


def refuse_repository(out) -> Path:
    """The output folder, unless it is inside a git working tree (pupil-level outputs never are)."""
    folder = Path(out).expanduser().resolve()
    for parent in (folder, *folder.parents):
        if (parent / ".git").exists():
            raise DataError(
                f"--out {str(out)!r} is inside the git working tree at {str(parent)!r}; trial "
                "reports are made from pupil data and must be written outside any repository."
            )
    if folder.exists() and not folder.is_dir():
        raise DataError(f"--out {str(out)!r} is a file; name a folder.")
    return folder


# ----------------------------------------------------------------------------- the analysis
def _prepare(data: pd.DataFrame, d: TrialDesign) -> pd.DataFrame:
    check_design_data(data, d)
    frame = data.copy()
    frame[d.treatment] = treatment_indicator(data, d.treatment, d.treated)
    if d.attrited:
        lost = pd.to_numeric(frame[d.attrited], errors="coerce")
        bad = lost.isna() | ~lost.isin([0, 1])
        if bad.any():
            rows = list(frame.index[bad][:5])
            raise DataError(
                f"Column {d.attrited!r} must be 0/1 (1 = lost) for every pupil; rows {rows} hold "
                f"{frame.loc[bad, d.attrited].iloc[0]!r}."
            )
        frame[_LOST] = lost.astype(int)
    else:
        frame[_LOST] = frame[d.primary.column].isna().astype(int)
    return frame


def _formula(outcome, d: TrialDesign, covariates) -> str:
    terms = [d.treatment, *covariates] + ([f"C({d.block})"] if d.block else [])
    return f"{outcome.column} ~ " + " + ".join(dict.fromkeys(terms))


def _per_arm(frame, cols, d):
    ok = frame[[c for c in cols if c]].notna().all(axis=1)
    f = frame[ok]
    out = {}
    for label, v in zip(d.arm_labels, (1, 0)):
        part = f[f[d.treatment] == v]
        out[label] = (len(part), part[d.cluster].nunique())
    return out


def _mdes_table(frame, d, primary_res, analysed):
    from .power import mdes

    p = d.protocol
    rows = [
        {
            "stage": "protocol",
            "n_schools": int(p["n_clusters"]),
            "pupils_per_school": float(p["cluster_size"]),
            "icc": float(p["icc"]),
            "r2_level1": float(p["r2_level1"]),
            "r2_level2": float(p["r2_level2"]),
            "share_treated": float(p["p_treated"]),
            "source": "design file",
        }
    ]
    arms = frame.groupby(d.cluster)[d.treatment].first()
    rows.append(
        {
            "stage": "randomisation",
            "n_schools": int(len(arms)),
            "pupils_per_school": len(frame) / len(arms),
            "icc": float(p["icc"]),
            "r2_level1": float(p["r2_level1"]),
            "r2_level2": float(p["r2_level2"]),
            "share_treated": float(arms.mean()),
            "source": "schools and pupils randomised; ICC and R2 of the protocol",
        }
    )
    # at analysis: the analysed sample, its ICC (empty model) and the share of each level's variance
    # the analysis model's covariates explain (1 - conditional / empty variance components)
    from .crt import _components, _multilevel

    outcome = d.primary.column
    empty = _multilevel(analysed, f"{outcome} ~ 1", d.cluster)
    t0, s0 = _components(empty)
    t1, s1 = _components(primary_res.numerator_model)
    r1 = float(np.clip(1 - s1 / s0, 0, 0.99))
    r2 = float(np.clip(1 - t1 / t0, 0, 0.99)) if t0 > 0 else 0.0
    a_arms = analysed.groupby(d.cluster)[d.treatment].first()
    rows.append(
        {
            "stage": "analysis",
            "n_schools": int(len(a_arms)),
            "pupils_per_school": len(analysed) / len(a_arms),
            "icc": t0 / (t0 + s0),
            "r2_level1": r1,
            "r2_level2": r2,
            "share_treated": float(a_arms.mean()),
            "source": "analysed sample: ICC of the empty model, R2 from the analysis model",
        }
    )
    for r in rows:
        r["mdes"] = mdes(
            n_clusters=r["n_schools"],
            cluster_size=r["pupils_per_school"],
            icc=r["icc"],
            r2_level1=r["r2_level1"],
            r2_level2=r["r2_level2"],
            p_treated=r["share_treated"],
        )
    t = pd.DataFrame(rows)
    return t[
        ["stage", "mdes", "n_schools", "pupils_per_school", "icc", "r2_level1", "r2_level2", "share_treated", "source"]
    ]


def _analyse(frame: pd.DataFrame, d: TrialDesign, progress=False):
    from .attrition import attrition, balance, consort_counts
    from .crt import cace, crt_effect, crt_subgroups
    from .hedges2007 import crt_effect_sizes
    from .months import months_progress
    from .security import security_rating

    tables, extra = {}, {}
    randomised = frame
    analysed_primary = frame[frame[_LOST] == 0]
    # balance: at randomisation (every randomised pupil) and at analysis (pupils with the primary outcome)
    bal_cols = list(d.balance)
    bal_rand = balance(randomised, treatment=d.treatment, covariates=bal_cols) if bal_cols else None
    bal_anal = balance(analysed_primary, treatment=d.treatment, covariates=bal_cols) if bal_cols else None
    flagged = (
        []
        if bal_anal is None
        else bal_anal.table.loc[bal_anal.table["status"].isin(["adjustment required", "fails"]), "covariate"].tolist()
    )
    base_covs = list(dict.fromkeys([*d.covariates, *flagged]))
    extra["flagged"] = flagged
    results, es_tables, summary = {}, {}, []
    for k, o in enumerate(d.outcomes):
        covs = list(dict.fromkeys(([o.pretest] if o.pretest else []) + base_covs))
        formula = _formula(o, d, covs)
        res = crt_effect(
            frame,
            formula,
            cluster=d.cluster,
            treatment=d.treatment,
            block=d.block,
            n_perm=d.n_perm if k == 0 else 0,
            n_boot=d.n_boot if k == 0 else 0,
            seed=d.seed,
            progress=progress,
        )
        results[o.column] = (res, formula, covs)
        es_tables[o.column] = crt_effect_sizes(frame, formula, cluster=d.cluster, treatment=d.treatment)
    primary, pformula, pcovs = results[d.primary.column]
    analysed = frame.loc[
        frame[[c for c in [d.primary.column, d.treatment, d.cluster, d.block, *pcovs] if c]].notna().all(axis=1)
    ]
    # attrition and the padlock
    att = attrition(frame, treatment=d.treatment, attrited=_LOST)
    mdes_t = _mdes_table(frame, d, primary, analysed)
    mdes_analysis = float(mdes_t.loc[mdes_t.stage == "analysis", "mdes"].iloc[0])
    rating = security_rating(
        mdes=mdes_analysis, attrition=att.overall, bands=d.bands, design=d.design, unit=d.unit, threats=d.threats
    )
    # executive summary
    for o in d.outcomes:
        res, formula, covs = results[o.column]
        arms = _per_arm(frame, [o.column, d.treatment, d.cluster, d.block, *covs], d)
        (l1, (np1, ns1)), (l0, (np0, ns0)) = arms.items()
        row = {
            "outcome": o.label + (" (primary)" if o is d.primary else ""),
            "effect_size": res.estimate,
            "ci_low": res.ci_low,
            "ci_high": res.ci_high,
            f"n_pupils_{l1}": np1,
            f"n_schools_{l1}": ns1,
            f"n_pupils_{l0}": np0,
            f"n_schools_{l0}": ns0,
            "months_progress": (
                float(months_progress(res.estimate, table=d.months_table)) if o.attainment else math.nan
            ),
            "security_rating": (f"{rating.padlocks} of 5" if o is d.primary else "not rated"),
            "p": res.p,
        }
        summary.append(row)
    tables["Executive summary"] = pd.DataFrame(summary)
    tables["CONSORT flow"] = consort_counts(
        frame, treatment=d.treatment, cluster=d.cluster, attrited=_LOST, complied=d.complied, arm_labels=d.arm_labels
    ).table
    extra["consort"] = consort_counts(
        frame, treatment=d.treatment, cluster=d.cluster, attrited=_LOST, complied=d.complied, arm_labels=d.arm_labels
    )
    tables["MDES"] = mdes_t
    at = att.table.copy()
    at["arm"] = at["arm"].replace({"treated": d.arm_labels[0], "control": d.arm_labels[1]})
    tables["Attrition"] = at
    extra["attrition"] = att
    if bal_rand is not None and bal_anal is not None:
        tables["Balance at randomisation"] = bal_rand.table
        tables["Balance at analysis"] = bal_anal.table
    # the primary model's table
    fx = primary.numerator_model.fixed.reset_index()  # type: ignore[attr-defined]
    fx = fx.rename(columns={fx.columns[0]: "term"})
    keep = [c for c in ["term", "estimate", "se", "ci_low", "ci_high", "df", "p"] if c in fx.columns]
    fx = fx[keep]
    from .crt import _components

    tau2, sig2 = _components(primary.numerator_model)
    var = pd.DataFrame([{"term": "school variance", "estimate": tau2}, {"term": "pupil variance", "estimate": sig2}])
    tables["Primary analysis model"] = pd.concat([fx, var], ignore_index=True)
    es = es_tables[d.primary.column].to_frame()[["term", "estimate", "se", "ci_low", "ci_high", "icc", "n"]]
    eef_row = pd.DataFrame(
        [
            {
                "term": "EEF denominator (model with the arm only), total",
                "estimate": primary.estimate,
                "se": primary.se,
                "ci_low": primary.ci_low,
                "ci_high": primary.ci_high,
                "icc": primary.icc,
                "n": primary.n,
            }
        ]
    )
    tables["Effect sizes (primary outcome)"] = pd.concat([eef_row, es], ignore_index=True)
    # secondary outcomes
    rows = []
    for o in d.secondary:
        res, formula, _ = results[o.column]
        rows.append(
            {
                "outcome": o.label,
                "effect_size": res.estimate,
                "ci_low": res.ci_low,
                "ci_high": res.ci_high,
                "p": res.p,
                "n": res.n,
                "n_schools": res.n_clusters,
                "model": formula,
            }
        )
    tables["Secondary outcomes"] = pd.DataFrame(rows)
    # subgroup
    if d.subgroup:
        try:
            # the subgroup's own main effect is added by the interaction model, never inside a subgroup
            sformula = _formula(d.primary, d, [c for c in pcovs if c != d.subgroup])
            sub = crt_subgroups(frame, sformula, cluster=d.cluster, treatment=d.treatment, subgroup=d.subgroup)
        except ModelError as exc:  # a subgroup without 2 schools in an arm: said, not crashed
            extra["subgroup_error"] = str(exc)
            tables["Subgroup analysis"] = pd.DataFrame({"term": [f"{d.subgroup}: not estimable"]})
        else:
            tables["Subgroup analysis"] = sub.table[
                ["term", "estimate", "ci_low", "ci_high", "p", "n", "n_clusters"]
            ].copy()
            extra["subgroup"] = sub
    # compliance
    if d.complied:
        c = cace(
            frame,
            outcome=d.primary.column,
            treatment=d.treatment,
            complied=d.complied,
            cluster=d.cluster,
            covariates=[*pcovs] + ([f"C({d.block})"] if d.block else []),
            ci_method="bootstrap" if d.n_boot else "delta",
            n_boot=max(d.n_boot, 20),
            seed=d.seed,
            progress=progress,
        )
        tables["Compliance (CACE)"] = c.to_frame()
        extra["cace"] = c
    # sensitivity: multiple imputation of the primary outcome, and the model with no covariates
    sens = [
        {
            "analysis": "primary (complete cases)",
            "effect_size": primary.estimate,
            "ci_low": primary.ci_low,
            "ci_high": primary.ci_high,
            "p": primary.p,
            "n": primary.n,
        }
    ]
    sens.append(_mi_row(frame, d, pformula, pcovs, primary))
    unc = crt_effect(
        frame, f"{d.primary.column} ~ {d.treatment}", cluster=d.cluster, treatment=d.treatment, progress=False
    )
    sens.append(
        {
            "analysis": "unconditional model (arm only)",
            "effect_size": unc.estimate,
            "ci_low": unc.ci_low,
            "ci_high": unc.ci_high,
            "p": unc.p,
            "n": unc.n,
        }
    )
    tables["Sensitivity analyses"] = pd.DataFrame(sens)
    tables["Security rating"] = rating.to_frame()
    extra["results"] = results
    return tables, rating, primary, tuple(pcovs), extra


def _mi_row(frame, d, formula, covs, primary):
    from ..imputation import impute
    from .crt import _multilevel

    cols = list(
        dict.fromkeys(
            [d.primary.column, d.treatment, *[c for c in covs], *d.balance, *([d.subgroup] if d.subgroup else [])]
        )
    )
    cols = [c for c in cols if pd.api.types.is_numeric_dtype(frame[c])]
    # the school's mean pre-test carries the clustering into the imputation model
    work = frame.copy()
    pre = d.primary.pretest
    if pre:
        work["_school_mean_pre"] = work.groupby(d.cluster)[pre].transform("mean")
        cols.append("_school_mean_pre")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        imp = impute(work, columns=cols, m=max(d.n_imputations, 2), seed=d.seed)
        pooled = imp.fit(lambda x: _multilevel(x, formula, d.cluster).fixed.loc[[d.treatment]])
    row = pooled.table.loc[d.treatment]
    return {
        "analysis": f"multiple imputation ({imp.m} data sets)",
        "effect_size": row["estimate"] / primary.sd,
        "ci_low": row["ci_low"] / primary.sd,
        "ci_high": row["ci_high"] / primary.sd,
        "p": row["p"],
        "n": len(frame),
    }


# ----------------------------------------------------------------------------- disclosure and display
def _shown(tables, d, policy):
    """Each table as shown: pupil counts below the threshold suppressed (with secondary suppression)."""
    from ..disclosure import suppress

    arms = d.arm_labels
    counts = {
        "Executive summary": [f"n_pupils_{arms[0]}", f"n_pupils_{arms[1]}"],
        "Attrition": ["randomised", "analysed", "lost"],
        "Balance at randomisation": ["n_treated", "n_control"],
        "Balance at analysis": ["n_treated", "n_control"],
        "Subgroup analysis": ["n"],
        "Secondary outcomes": ["n"],
        "Sensitivity analyses": ["n"],
        "Compliance (CACE)": ["n"],
        "Effect sizes (primary outcome)": ["n"],
        "CONSORT flow": ["pupils_randomised", "pupils_lost", "pupils_analysed"],
    }
    out = {}
    for name, t in tables.items():
        cc = [c for c in counts.get(name, []) if c in t.columns]
        if not (cc and len(t)):
            out[name] = None
            continue
        if name.startswith("Balance"):
            # a binary measure's mean times its n is a count of pupils: each arm's pupils with and
            # without it are counts too, so a row is hidden when either is below the threshold
            t = t.copy()
            binary = t["kind"] == "binary"
            for arm in ("treated", "control"):
                k = (t[f"mean_{arm}"] * t[f"n_{arm}"]).round()
                t[f"_with_{arm}"] = np.where(binary, k, t[f"n_{arm}"])
                t[f"_without_{arm}"] = np.where(binary, t[f"n_{arm}"] - k, t[f"n_{arm}"])
            helpers = [c for c in t.columns if c.startswith(("_with_", "_without_"))]
            st = suppress(t, count_col=cc + helpers, within="covariate", policy=policy)  # rows are not groups
            out[name] = dataclasses.replace(st, data=st.data.drop(columns=helpers), mask=st.mask.drop(columns=helpers))
        else:
            out[name] = suppress(t, count_col=cc, policy=policy)
    return out


def _fmt_table(t: pd.DataFrame, st) -> pd.DataFrame:
    """Strings for the page: 3 decimals (2 for effect sizes' neighbours), counts as whole numbers."""
    if st is not None:
        out = st.round(3).display()
        if "months_progress" in out.columns:  # whole months, as the EEF's table gives them
            out["months_progress"] = [
                v if (v == "" or v == st.policy.symbol) else f"{float(v):.0f}" for v in out["months_progress"]
            ]
        return out
    out = t.copy().astype(object)
    for col in t.columns:
        v = t[col]
        if pd.api.types.is_numeric_dtype(v) and not pd.api.types.is_bool_dtype(v):
            is_int = str(col).startswith("n") or col in ("padlocks",)
            out[col] = ["" if pd.isna(x) else (f"{int(x)}" if is_int else f"{x:.3f}") for x in v]
    return out


def _consort_png(counts, policy) -> str | None:
    """The CONSORT figure as a PNG (base64), or None when a pupil count is below the threshold."""
    t = counts.table
    values = t[[c for c in t.columns if c.startswith("pupils")]].to_numpy()
    if ((values > 0) & (values < policy.threshold)).any():
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..plots import trials as trial_plots
    from ..plots._style import figure_of

    fig = figure_of(trial_plots.consort(counts, title="Flow of schools and pupils through the trial"))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _reading(rating, primary, d) -> list[str]:
    words = rating.words
    ci = f"{primary.estimate:.2f} (95% CI {primary.ci_low:.2f} to {primary.ci_high:.2f})"
    out = [
        f"The primary outcome, {d.primary.label}, shows an effect size of {ci}.",
        f"The security rating is {rating.padlocks} of 5 padlocks ({words}). The rating says how far the "
        "design, the size of the trial, the pupils lost and the declared threats could have distorted the "
        "estimate; it says nothing about whether the programme worked or how large its effect was.",
    ]
    limiting = [
        s
        for s in ("MDES at analysis", "pupil attrition", "design")
        if int(rating.steps.set_index("step").loc[s, "padlocks"]) == rating.interim
    ]
    if rating.interim < 5:
        out.append("The rating before the declared threats was limited by: " + ", ".join(limiting) + ".")
    if rating.padlocks < rating.interim:
        out.append(f"Declared threats to validity lowered it from {rating.interim} to {rating.padlocks}.")
    return out


def _render_html(ctx) -> str:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("belonging_lib", "templates"), autoescape=select_autoescape(["html", "j2"]))
    return env.get_template("trial_report.html.j2").render(**ctx)


def _write_docx(path, ctx):
    import docx
    from docx.shared import Mm

    from ..schools._docx import add_table

    doc = docx.Document()
    sec = doc.sections[0]
    sec.page_width, sec.page_height = Mm(210), Mm(297)
    doc.add_heading(ctx["title"], level=0)
    if ctx["synthetic"]:
        doc.add_paragraph(
            "All data in this report are synthetic (simulated); no result is evidence about a real programme."
        ).runs[0].bold = True
    for line in ctx["reading"]:
        doc.add_paragraph(line)
    for sec_ in ctx["sections"]:
        doc.add_heading(sec_["name"], level=1)
        if sec_.get("intro"):
            doc.add_paragraph(sec_["intro"])
        if sec_["image"] is not None:
            doc.add_picture(io.BytesIO(base64.b64decode(sec_["image"])), width=Mm(160))
        add_table(doc, sec_["table"])
        if sec_.get("note"):
            doc.add_paragraph(sec_["note"]).runs[0].italic = True
    doc.add_paragraph(ctx["footer"])
    doc.save(path)


_INTROS = {
    "Executive summary": "One row per outcome: the effect size (Hedges' g on the total variance of the model with "
    "the arm only, as the EEF's analysis guidance asks) with its 95% confidence interval, the "
    "pupils and schools in each arm's model, months' progress (attainment outcomes only), the "
    "security rating of the primary outcome, and the p-value.",
    "CONSORT flow": "Schools and pupils at each stage of the trial.",
    "MDES": "Minimum detectable effect size (80% power, 5% two-sided; PowerUp! two-level cluster design) at "
    "protocol, at randomisation and at analysis.",
    "Attrition": "Pupils randomised, analysed and lost (no primary outcome), by arm and overall.",
    "Balance at randomisation": "Standardised differences of the baseline measures among all randomised pupils "
    "(Hedges' g; Cox index for binary measures).",
    "Balance at analysis": "The same among the pupils analysed; a difference above 0.05 makes the model adjust "
    "for that measure.",
    "Primary analysis model": "Two-level model (pupils in schools), REML, Satterthwaite degrees of freedom.",
    "Effect sizes (primary outcome)": "The EEF effect size and Hedges' (2007) within- and total-variance effect "
    "sizes, conditional (variances of the analysis model) and unconditional "
    "(variances of the empty model), with the correction for unequal school sizes.",
    "Secondary outcomes": "Each secondary outcome with the same model as the primary.",
    "Subgroup analysis": "Effects within each subgroup (on the whole-sample SD) and the test of their difference.",
    "Compliance (CACE)": "Complier-average causal effect: the effect in schools that delivered the programme.",
    "Sensitivity analyses": "The primary result under other handling of missing data and without covariates.",
    "Security rating": "The EEF security rating, step by step, with the inputs and the rule of each step.",
}


def trial_report(data: pd.DataFrame, *, design, out, policy=None, progress: bool | None = False) -> TrialReport:
    """Run the analysis a design file fixes and write the report (HTML and .docx) into ``out``.

    Parameters
    ----------
    data : DataFrame
        One row per randomised pupil (lost pupils included).
    design : str or path
        The design file (``design.yaml``), or a design already read with ``read_design``.
    out : str or path
        The folder to write into (created if needed); never inside a git working tree.
    policy : DisclosurePolicy, optional
        Disclosure rule for every table of pupils (default: the library's).
    progress : bool or None
        Progress bars for the resampling.

    Returns
    -------
    TrialReport

    Notes
    -----
    Every model of an outcome adjusts for that outcome's pre-test, the design's covariates, the
    baseline measures whose standardised difference at analysis is above 0.05 (the WWC rule; above
    0.25 the measure "fails" and is still adjusted for, and the report flags it) and the randomisation
    blocks.  The primary outcome gets the permutation p-value (``analysis.n_perm`` re-randomisations
    within blocks).  Months' progress are shown for attainment outcomes only.
    """
    from ..disclosure import get_default_policy

    data = as_frame(data)
    d = design if isinstance(design, TrialDesign) else read_design(design)
    folder = refuse_repository(out)
    policy = policy or get_default_policy()
    frame = _prepare(data, d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BelongingWarning)
        tables, rating, primary, covs, extra = _analyse(frame, d, progress=progress)
    shown = _shown(tables, d, policy)
    sections = []
    for name, t in tables.items():
        st = shown.get(name)
        note = st.footnote if st is not None and st.footnote else ""
        if name == "Attrition":
            note = (note + " " if note else "") + (
                f"Overall attrition {100 * extra['attrition'].overall:.1f}%; "
                f"attrition band: {int(rating.steps.set_index('step').loc['pupil attrition', 'padlocks'])} padlocks."
            )
        if name == "Balance at analysis" and extra["flagged"]:
            note = (note + " " if note else "") + ("Adjusted for in every model: " + ", ".join(extra["flagged"]) + ".")
        if name == "Primary analysis model":
            note = f"Model: {extra['results'][d.primary.column][1]} + (1 | {d.cluster})."
            if primary.n_perm:
                mc = math.sqrt(0.05 * 0.95 / primary.n_perm)
                note += (
                    f" Permutation p = {primary.p_permutation:.4f} ({primary.n_perm} re-randomisations"
                    f"{' within blocks' if d.block else ''}; Monte Carlo SE of a p near 0.05: {mc:.4f})."
                )
        if name == "Subgroup analysis" and "subgroup_error" in extra:
            note = extra["subgroup_error"]
        if name == "Subgroup analysis" and "subgroup" in extra:
            s = extra["subgroup"]
            note = (note + " " if note else "") + (
                f"Difference (treatment x {s.subgroup}): effect size "
                f"{s.interaction_estimate:.3f}, p = {s.p_interaction:.3f}."
            )
        if name == "Effect sizes (primary outcome)":
            note = "Intervals: estimate +/- 1.96 SE (Hedges 2007); the EEF row uses the model's t interval."
        image = _consort_png(extra["consort"], policy) if name == "CONSORT flow" else None
        if name == "CONSORT flow" and image is None:
            note = (
                note + " " if note else ""
            ) + "The flow diagram is not drawn: a pupil count is below the disclosure threshold."
        sections.append(
            {"name": name, "intro": _INTROS.get(name, ""), "table": _fmt_table(t, st), "note": note, "image": image}
        )
    from .. import __version__

    reading = _reading(rating, primary, d)
    ctx = {
        "title": d.title,
        "synthetic": d.synthetic,
        "reading": reading,
        "sections": sections,
        "rating": rating,
        "source": rating.source,
        "version": __version__,
        "date": _dt.date.today().isoformat(),
        "footer": f"Made with belonging_lib {__version__}. Band edges of the security rating from: {rating.source}.",
    }
    folder.mkdir(parents=True, exist_ok=True)
    html = folder / "trial_report.html"
    html.write_text(_render_html(ctx), encoding="utf-8")
    docx_path = folder / "trial_report.docx"
    _write_docx(docx_path, ctx)
    from .._safe_write import write_csv

    write_csv(sections[0]["table"], folder / "summary.csv", index=False)  # formula cells neutralised
    return TrialReport(
        tables={k: (shown[k].to_frame() if shown.get(k) is not None else v) for k, v in tables.items()},
        rating=rating,
        primary=primary,
        covariates=covs,
        html=html,
        docx=docx_path,
    )
