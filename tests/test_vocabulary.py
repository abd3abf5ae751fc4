"""The library speaks one vocabulary (docs/api/conventions.md).

Three checks:

1. every public function, class and public method takes only names from the vocabulary or from the
   commented allow-lists below, with ``data`` first and positional and every role keyword-only;
2. every field of every result class is a vocabulary field or on the allow-list;
3. the ``to_frame()`` of each estimator's result starts with the tidy columns that apply, in order,
   and has no column named in a way the vocabulary forbids.

A stray name fails with the function and the name (``test_a_stray_name_fails`` shows it). To add a
real exception, put it in the right allow-list below with the reason.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import re

import numpy as np
import pandas as pd
import pytest

import belonging_lib as bl
from belonging_lib._results import TIDY_COLUMNS, Result

# --------------------------------------------------------------------------------------------------
# The vocabulary (docs/api/conventions.md)
# --------------------------------------------------------------------------------------------------

#: Roles: which column plays which part.
ROLES = {
    "data", "formula", "outcome", "predictor", "predictors", "covariates", "moderator", "mediator",
    "cluster", "by", "group", "treatment", "treated", "items", "weight", "id", "wave",
}

#: Options shared across the library.
COMMON_OPTIONS = {
    "ci_level", "ci_method", "n_boot", "seed", "progress", "policy", "out", "method", "reml", "vcov",
    "missing", "reverse", "instrument", "title", "ax", "label", "labels", "digits", "reference",
    "covariates", "context", "invalid", "missing_codes", "columns", "n_iter", "n_perm", "n",
    # a questionnaire's (min, max) response codes (reliability, scoring, item plots)
    "response_range",
}

#: Names a role must never have: the synonyms the vocabulary replaced (the reason is the advice).
FORBIDDEN = {
    "groups": "use `cluster` for clustering, `by` for breakdowns",
    "school_col": "use `cluster`",
    "id_col": "use `id`",
    "time": "use `wave`",
    "y": "use `outcome`",
    "x": "use `predictor`",
    "m": "use `mediator`",
    "value": "use `outcome`",
    "var": "use `outcome`",
    "score": "use `outcome` (or `scores` for a list of score columns)",
    "ci": "use `ci_level` for the level, `ci_low`/`ci_high` for the bounds",
    "level": "use `ci_level`",
    "panel": "use `data`",
    "raw": "use `data`",
    "frame": "use `data` (or `table` for a table of results)",
    "p_value": "use `p`",
    "pvalue": "use `p`",
    "rsquared": "use `r2`",
    "n_groups": "use `n_clusters`",
    "return_report": "a flag must not change the return type",
    "return_latent": "a flag must not change the return type",
}

#: Options that belong to one family of functions, with the reason.
OPTIONS = {
    # display and files
    "xlabel", "ylabel", "figsize", "dpi", "colour", "hue", "bins", "sort", "note", "number", "index",
    "statistic", "p_digits", "leading_zero", "item_labels", "group_labels", "wave_labels", "null",
    "n_points", "threshold", "symbol", "file", "encoding", "sheet", "delimiter", "path", "version",
    "synthetic", "name", "name_or_path", "source", "defaults", "review_weeks", "holidays", "min_answered",
    "n_rows", "what",  # "chapter": a course chapter number, as the book names chapters ("02")
    "steps", "where", "text", "obj", "expect", "on", "how", "left", "right", "step", "key", "prefix",
    "chapter", "length", "user_missing", "ids", "keep", "ledger", "pupils", "data_dir", "codebook", "summary", "profile",
    "flags", "cutoff", "scores", "school", "subscale", "result", "results", "table", "gaps", "truth",
    "counts", "count_col", "within", "totals", "arm_labels", "assessed", "pairwise",
    "excluded_before_randomisation", "complied", "attrited", "ratings", "low", "high", "spread",
    "previous", "staff_cutoff", "belonging_cutoff", "reliability", "sdq_bands", "ordinal",
    "n_factors", "rotation", "quantile", "estimator", "equal", "partial", "levels", "max_delta_cfi",
    "max_delta_rmsea", "min_n", "model", "at", "probe", "alpha_jn", "df_method", "denominator",
    "block", "subgroup", "pretest", "kind", "keep_items", "smaller", "larger", "random",
    "random_slope", "interact_time", "satterthwaite", "tol", "before", "after", "values", "sd",
    "df_complete", "burn_in", "between", "k_pmm", "rtol", "atol", "disclosure", "minimum",
    "residual_df", "nk_n", "nk_k", "p", "k", "universe", "rows", "category", "paired", "matrix",
    "corr", "coef", "names", "outcome_variance", "draws", "estimate", "countries", "replicates",
    "rho", "mse", "rscales", "pv", "alpha", "power", "two_tailed", "max_clusters", "mdes",
    "effect_size", "icc", "cluster_size", "n_clusters", "clusters_per_unit", "icc_level2",
    "icc_level3", "r2_level1", "r2_level2", "r2_level3", "p_treated", "n_covariates_level2",
    "n_covariates_level3", "n_sims", "overall_pct", "boundary", "t", "df", "target", "A", "b",
    "kwargs", "q", "rng", "seed", "n_primary", "n_secondary", "n_pupils", "n_schools", "n_blocks",
    # simulate: the simulated raw export is one of the sample data sets, named like the others
    "export",
    "pupils_per_country", "pupils_per_school", "survey", "schools", "staff", "transition", "trial",
    "pisa", "latent", "ehcp_share", "n_raters", "rater_sd", "noise_sd", "noise", "share_dropping",
    "n_classes", "class_size", "part_corr", "loading", "class_sd", "problems", "fit", "codes",
    "resid", "weights", "X", "Y", "b_pred", "b_int", "v_pred", "v_int", "cov_pi", "t_crit",
    "stat", "count", "d", "parameters", "ctx", "cells", "ci_column", "new", "frames",
    # scoring: item id -> column name, for item columns named differently from the instrument's ids
    "item_map",
    # trials.ConsortCounts.count(arm, what): the label of a row of the CONSORT table, not a column
    "arm",
    # an answer scale's (lowest, highest) codes, where `scale` used to mean a response range
    "response_range",
    # disclosure.DisclosureContext.protect: the table's own secondary-suppression rule it re-applies
    "expand",
    # disclosure.protect: rows whose total is known (secondary suppression within each), rows withheld
    # before it, and the counts a table shows even when small
    "blocks", "suppressed", "shown_small",
    # structure.bifactor: the specific factors of a bifactor model and lavaan's `orthogonal`;
    # bifactor_omega: the general and specific loadings and residual variances it combines
    "specific", "orthogonal", "general", "residual",
    # transitions.recovery: the wave of the low point; regression_to_the_mean: the simulation's settings
    "dip", "correlation", "low_share", "drop",
    # scoring: each respondent's age in years, checked against the ages an instrument's bands were made for
    "age",
    # weighted multilevel models (issue 28): what the pupil weight column holds ("conditional" or
    # "total"), how it is scaled within schools (the WeMix vignette's methods), the school weight of a
    # survey design, and the design whose countries' populations weight the OECD total
    "pupil_weight", "scaling", "school_weight", "design",
    # SurveyDesign.multilevel: which standard error each plausible value carries ("replicate" or
    # "sandwich"), as the `se` of survey software's model calls
    "se",
    # trials.security_rating: the EEF padlock procedure's inputs (design file's words)
    "bands", "unit", "threats", "attrition",
    # trials.eef_table: the rows whose outcome is attainment (months' progress only for these)
    "attainment",
}

#: Functions allowed a name that is forbidden elsewhere, with the reason.
EXCEPTIONS = {
    # lavaan's word for the grouping of a multi-group measurement model (scale_fairness runs one)
    ("group", r"belonging_lib\.structure\..*|belonging_lib\.plots\.structure\..*|"
              r"belonging_lib\.models\.gaps\.scale_fairness"),
    # R survey's name for the replicate variance factor (svrepdesign(scale=))
    ("scale", r"belonging_lib\.survey\..*SurveyDesign.*"),
    # mice's name for the number of imputed data sets
    ("m", r"belonging_lib\.imputation\.impute"),
    # a scatter plot's two axes
    ("x", r"belonging_lib\.plots\..*"),
    ("y", r"belonging_lib\.plots\..*"),
    # a value to record, glue or format, not a column
    ("value", r"belonging_lib\.notebook\.record|belonging_lib\.notebook\.glue|belonging_lib\.tables\.format_number"),
    # MyST-NB's glue(name, value, display=...), which the chapters call: whether the value is also shown
    ("display", r"belonging_lib\.notebook\.glue"),
}

#: Modules that are build machinery, not the analysis API (the chapters' build and the command line,
#: whose words are the command line's own flags).
MACHINERY = ("belonging_lib.book", "belonging_lib.cli", "belonging_lib.schools.cli")

#: Result fields: the vocabulary, then fields that name a statistic of one method.
RESULT_FIELDS = {
    "estimate", "se", "ci_low", "ci_high", "ci_level", "ci_method", "p", "df", "n", "n_excluded",
    "n_clusters", "effect", "effect_ci_low", "effect_ci_high", "r2", "r2_marginal", "r2_conditional",
    "statistic", "outcome", "predictor", "predictors", "covariates", "moderator", "mediator",
    "cluster", "by", "group", "treatment", "treated", "items", "weight", "id", "wave", "method",
    "n_boot", "n_boot_failed", "seed", "n_perm", "n_iter", "ledger", "formula", "model", "table",
    "data", "policy",
}
RESULT_OPTIONS = {
    # tools for schools: questions one survey round's sheet lacks
    "absent_items",
    # reliability (psych's names)
    "alpha", "std_alpha", "g6", "average_r", "median_r", "signal_noise", "alpha_se", "omega_total",
    "omega_h", "omega_total_sl", "n_items", "scale_mean", "scale_sd", "reverse", "n_factors",
    "ordinal", "label", "loadings", "missing",
    # bifactor models: the specific factors' table and the explained common variance (Rodriguez et al.)
    "specific", "ecv",
    # test-retest reliability: ICC(C,1), the mean shift and the standard error of measurement
    "icc_consistency", "mean_change", "sem", "df2",
    # recovery on a balanced panel, and the measurement-error simulation's quantities and settings
    "means", "weighted", "low_before", "low_after", "low_still", "slope_baseline", "spurious",
    "spurious_change_score", "correlation", "low_share", "drop", "drop_share",
    # scoring: the ages an instrument's bands were made for, and the rows whose bands were withheld
    "band_ages", "bands_withheld",
    # intraclass correlations and variance components
    "icc", "icc1", "icc2", "icc1_anova", "icc2_anova", "tau00", "sigma2", "msb", "msw", "mean_size",
    "reml_loglik", "icc1_ci_low", "icc1_ci_high", "icc2_ci_low", "icc2_ci_high", "icc_levels",
    "tau00_null", "tau00_null_ci_low", "tau00_null_ci_high", "tau00_model", "tau00_model_ci_low",
    "tau00_model_ci_high", "var_cluster", "var_pupil", "variance",
    # model fits
    "fixed", "loglik", "aic", "bic", "reml", "random", "boundary", "converged", "vcov", "vcov_type",
    "params", "coefficients", "fit", "parameters", "factor_correlations", "omega", "n_rows",
    "group_sizes", "groups", "equal", "communalities",
    # measurement invariance: one fitted model per level, and the rule-of-thumb cut-offs
    "configural", "metric", "scalar", "strict", "max_delta_cfi", "max_delta_rmsea", "uniquenesses", "rotation", "parallel",
    "n_components", "quantile",
    # moderation, mediation, importance
    "simple_slopes", "jn_interval", "jn_region", "interaction", "interaction_se", "p_interaction",
    "alpha_jn", "t_crit_jn", "moderator_range", "predictor_range", "moderator_binary",
    "covariate_means", "df_method", "effects", "paths", "indirect", "direct", "total",
    "proportion_mediated", "proportion_ci_low", "proportion_ci_high", "n_boot_used", "draws",
    "conditional", "complete", "subsets",
    # trials
    "itt_effect", "itt_estimate", "compliance_treated", "compliance_control", "compliance_difference",
    "sd", "n_boot_undefined", "denominator", "numerator_formula", "denominator_formula",
    "boot_ci_low", "boot_ci_high", "p_permutation", "block", "numerator_model", "denominator_model",
    "boot_estimates", "perm_estimates", "interaction_effect", "interaction_estimate", "subgroup",
    "overall", "differential", "boundary_cautious", "boundary_optimistic", "rating_cautious",
    "rating_optimistic", "unit", "arm_labels", "assessed", "excluded_before_randomisation",
    "n_treated", "n_control", "kind", "correction", "mean_treated", "mean_control", "sd_pooled",
    "power", "mc_se", "n_sims", "analytic_power", "settings", "estimates",
    # trials.SecurityRating: the padlock rating, before threats, its words and the audit trail
    "padlocks", "interim", "words", "steps",
    # trials.TrialReport: the report's tables, its rating, the primary analysis and the files written
    "tables", "rating", "primary", "docx",
    # group gaps and fairness
    "reference", "verdict", "freed", "groups_checked", "too_small", "min_n",
    # group gaps: every pair of groups compared, how many pairs, and the chance hits to expect
    "pairwise", "n_pairs", "chance_hits",
    # data layer, codebooks, scoring, instruments
    "changes", "unused_columns", "renamed_columns", "extra_notes", "notes", "by_variable", "by_group",
    "patterns", "suppressed_groups", "instruments", "n_rows_in", "n_rows_scored", "scored",
    "columns", "problems", "declared_missing", "column", "rows", "value", "name", "path", "seconds",
    "cached", "error", "subscale", "min_answered", "report", "rounding", "scores", "source_score", "bands",
    "note", "low", "high", "response_min", "response_max", "labels", "citation", "licence",
    "construct", "bands_note", "source", "datasets", "m", "before", "after", "mask",
    "n_primary", "n_secondary", "digits", "int_columns", "label_columns", "threshold", "symbol",
    "secondary", "enabled", "nk_n", "nk_k", "p_ratio", "min_residual_df", "cells", "title", "number",
    # multiple imputation and surveys: mice's complete-data df (df.com) for Barnard-Rubin, and the
    # columns within whose groups a survey difference is computed (SurveyDesign.diff(within=))
    "df_complete", "within",
    # io.LabelledData: what a survey file says about its table (SPSS/Stata labels, declared missing codes)
    "variable_labels", "value_labels", "missing_codes", "id_columns", "delimiter", "multiline_rows",
    # schools' tools
    "action_plan", "areas", "indicators", "n_raters", "n_indicators_left_out", "priorities", "caveat",
    "icc_note", "ratings", "html", "version", "n_school", "parts", "shown", "pupils", "counts",
    "reliability", "n_pupils", "n_previous_matched", "n_previous_unmatched", "has_names",
    # schools' tools: answers that need a response, and what a support-plan run wrote and changed
    "needs_response", "answers", "named", "folder", "new", "unchanged", "changed", "no_longer",
    "edited_plans", "renamed", "previous_folder", "overview", "reports",
    # schools.audit.RaterAgreement: the indicators every rater rated (the ICCs' targets)
    "n_indicators",
    # report.ReportTables / ReportScales / ReportScale: the one-school report's header counts and what
    # it may show, its first scale, the scales shown and left out, and a scale's scores
    "n_rest", "n_school_shown", "n_rest_shown", "main_score", "scales", "left_out", "values",
    # structure.BifactorOmega: each specific factor's share of the total score's variance
    "share",
    # models.SimpleSlopes (the moderator values), models.JohnsonNeyman (the bounds and where the slope
    # is significant), models.RandomInterceptBatch (lme4's theta: the intercepts' relative SD)
    "at", "bounds", "region", "theta",
    # models.RiskRatio: the two groups, each group's count, size and share, and the log of the ratio
    "numerator", "count_numerator", "n_numerator", "share_numerator", "count_denominator",
    "n_denominator", "share_denominator", "log_estimate",
    # tables of estimates: the columns that label a row (EstimateTable), a matrix of estimates
    # (MatrixResult), the school compared, the months' progress table used, the invariance step freed
    "keys", "matrix", "school", "months_table", "step",
}
#: Field names forbidden in results (the synonyms the vocabulary replaced).
FORBIDDEN_FIELDS = {
    "p_value": "use `p`", "pvalue": "use `p`", "rsquared": "use `r2`", "ci": "use `ci_level` or "
    "`ci_low`/`ci_high`", "n_groups": "use `n_clusters`", "x": "use `predictor`", "y": "use `outcome`",
    "m": "use `mediator`", "g_ci_low": "use `ci_low`", "g_ci_high": "use `ci_high`",
    "boot_ci": "use `ci_low`/`ci_high`", "interaction_p": "use `p_interaction`", "p_top": "not a p-value",
    "p_diff": "use `p`",
}
#: Result fields allowed a forbidden name, with the reason.
FIELD_EXCEPTIONS = {
    # imputation.ImputedData.m: mice's number of imputed data sets
    ("m", "belonging_lib.imputation.ImputedData"),
    # imputation.PooledResult.m: the same number, of the data sets pooled
    ("m", "belonging_lib.imputation.PooledResult"),
}


# --------------------------------------------------------------------------------------------------
# Walking the public surface
# --------------------------------------------------------------------------------------------------

def _public_modules():
    for info in pkgutil.walk_packages(bl.__path__, "belonging_lib."):
        parts = info.name.split(".")[1:]
        if any(p.startswith("_") for p in parts) or info.name.startswith(MACHINERY):
            continue
        yield importlib.import_module(info.name)


def _public_objects():
    seen = set()
    for module in _public_modules():
        # what the module exports, and every public name it defines (a new function that someone
        # forgot to add to __all__ is still public)
        names = list(getattr(module, "__all__", []))
        names += [n for n, o in vars(module).items()
                  if not n.startswith("_") and getattr(o, "__module__", None) == module.__name__ and n not in names]
        for name in names:
            obj = getattr(module, name, None)
            owner = getattr(obj, "__module__", "") or ""
            if not owner.startswith("belonging_lib") or owner.startswith(MACHINERY) or id(obj) in seen:
                continue
            if not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            seen.add(id(obj))
            yield f"{owner}.{obj.__qualname__}", obj


def _callables():
    for qual, obj in _public_objects():
        if inspect.isfunction(obj):
            yield qual, obj, False
        elif inspect.isclass(obj):
            if issubclass(obj, BaseException):
                continue
            if not dataclasses.is_dataclass(obj):
                yield qual, obj, True
            for name, member in vars(obj).items():
                if not name.startswith("_") and inspect.isfunction(member):
                    yield f"{qual}.{name}", member, True


def _result_classes():
    for qual, obj in _public_objects():
        if inspect.isclass(obj) and dataclasses.is_dataclass(obj):
            yield qual, obj


def _excepted(name: str, qual: str) -> bool:
    return any(name == n and re.fullmatch(pattern, qual) for n, pattern in EXCEPTIONS)


def signature_problems(qual: str, fn, *, method: bool = False) -> list[str]:
    """What is wrong with one callable's parameters (empty when it speaks the vocabulary)."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return []
    if method and params and params[0].name in ("self", "cls"):
        params = params[1:]
    problems = []
    allowed = ROLES | COMMON_OPTIONS | OPTIONS
    for p in params:
        if p.name.startswith("_") or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        if p.name in FORBIDDEN and not _excepted(p.name, qual):
            problems.append(f"{qual}: argument {p.name!r}: {FORBIDDEN[p.name]}")
        elif p.name not in allowed and not _excepted(p.name, qual):
            problems.append(f"{qual}: argument {p.name!r} is not in the vocabulary or the allow-list")
        elif p.name == "group" and not _excepted("group", qual):
            problems.append(f"{qual}: argument 'group' is for multi-group measurement models only; "
                            "use `cluster` or `by`")
    names = [p.name for p in params]
    if "data" in names:
        if names[0] != "data" or params[0].kind not in (params[0].POSITIONAL_ONLY,
                                                        params[0].POSITIONAL_OR_KEYWORD):
            problems.append(f"{qual}: `data` must be the first argument, positional")
        for i, p in enumerate(params[1:], start=1):
            if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL, p.KEYWORD_ONLY):
                continue
            # second and positional: the formula, model or instrument, or the codebook the data are read
            # through (codebook.apply_codebook(data, codebook), validate(data, codebook))
            if i == 1 and p.name in ("formula", "model", "instrument", "codebook"):
                continue
            problems.append(f"{qual}: {p.name!r} must be keyword-only (put it after `*`)")
    return problems


def field_problems(qual: str, cls) -> list[str]:
    problems = []
    for f in dataclasses.fields(cls):
        name = f.name
        if name.startswith("_") or (name, qual) in FIELD_EXCEPTIONS:
            continue
        if name in FORBIDDEN_FIELDS or name.endswith("_p") or "p_value" in name or "pvalue" in name:
            problems.append(f"{qual}.{name}: {FORBIDDEN_FIELDS.get(name, 'a p-value is `p` or `p_<what>`')}")
        elif name not in RESULT_FIELDS | RESULT_OPTIONS:
            problems.append(f"{qual}.{name} is not in the vocabulary or the allow-list")
    return problems


CALLABLES = sorted(_callables(), key=lambda t: t[0])
RESULTS = sorted(_result_classes(), key=lambda t: t[0])


@pytest.mark.parametrize("qual,fn,method", CALLABLES, ids=[c[0] for c in CALLABLES])
def test_signature_speaks_the_vocabulary(qual, fn, method):
    problems = signature_problems(qual, fn, method=method)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("qual,cls", RESULTS, ids=[r[0] for r in RESULTS])
def test_result_fields_speak_the_vocabulary(qual, cls):
    problems = field_problems(qual, cls)
    assert not problems, "\n".join(problems)


def test_the_walk_sees_the_whole_surface():
    """The walk finds the estimators (a walk that found nothing would pass everything)."""
    quals = {q for q, _, _ in CALLABLES}
    for expected in ["belonging_lib.models.multilevel.multilevel", "belonging_lib.reliability.icc",
                     "belonging_lib.trials.crt.crt_effect", "belonging_lib.structure._cfa.cfa"]:
        assert any(q.endswith(expected.rsplit(".", 1)[1]) for q in quals), expected
    assert len(CALLABLES) > 150 and len(RESULTS) > 30


#: The functions that take `alpha`: in each it is a test's significance level (docs/api/conventions.md).
#: An interval's level is `ci_level`, and Cronbach's alpha is an argument only as `estimate`
#: (reliability.feldt_ci); a new `alpha` must mean a significance level and be added here.
ALPHA_IS_A_SIGNIFICANCE_LEVEL = {
    "belonging_lib.models.gaps.scale_fairness",      # the chi-square difference and release tests
    "belonging_lib.trials.power.mdes",                # the power calculations' two-sided test
    "belonging_lib.trials.power.mdes_three_level",
    "belonging_lib.trials.power.n_clusters_needed",
    "belonging_lib.trials.power.simulate_power",
}


def test_alpha_means_a_significance_level_and_nothing_else():
    takes_alpha = set()
    for qual, fn, _method in CALLABLES:
        try:
            if "alpha" in inspect.signature(fn).parameters:
                takes_alpha.add(qual)
        except (TypeError, ValueError):
            continue
    assert takes_alpha == ALPHA_IS_A_SIGNIFICANCE_LEVEL


def test_a_stray_name_fails():
    """A new function with a stray role name, or a role that is not keyword-only, is caught."""
    def group_means(data, groups, *, ci=0.95):
        return data

    def tidy_fn(data, outcome, *, cluster=None):
        return data

    problems = signature_problems("belonging_lib.models.group_means", group_means)
    assert any("'groups'" in p for p in problems) and any("'ci'" in p for p in problems)
    assert any("keyword-only" in p for p in signature_problems("belonging_lib.x.tidy_fn", tidy_fn))

    @dataclasses.dataclass(frozen=True)
    class StrayResult(Result):
        estimate: float
        p_value: float
        rsquared: float

    bad = field_problems("belonging_lib.x.StrayResult", StrayResult)
    assert len(bad) == 2, bad


# --------------------------------------------------------------------------------------------------
# to_frame(): tidy columns first, no forbidden column names
# --------------------------------------------------------------------------------------------------

FORBIDDEN_COLUMNS = {"p_value", "pvalue", "rsquared", "Intercept", "n_groups", "interaction_p", "p_top"}


def frame_problems(where: str, frame: pd.DataFrame) -> list[str]:
    problems = []
    cols = [str(c) for c in frame.columns]
    bad = [c for c in cols if c in FORBIDDEN_COLUMNS or c.endswith("_p")]
    if bad:
        problems.append(f"{where}: columns {bad} are not in the vocabulary")
    if "term" in cols and "Intercept" in set(frame["term"].astype(str)):
        problems.append(f"{where}: the intercept must be named '(Intercept)'")
    tidy = [c for c in cols if c in TIDY_COLUMNS]
    if tidy and cols[:len(tidy)] != [c for c in TIDY_COLUMNS if c in tidy]:
        problems.append(f"{where}: the tidy columns {tidy} must come first, in the order {TIDY_COLUMNS}")
    return problems


def _trial_examples():
    """One small cluster-randomised trial and a result of each trial estimator family."""
    import warnings

    from belonging_lib import trials
    from belonging_lib._errors import BelongingWarning

    rng = np.random.default_rng(15)
    school = np.repeat(np.arange(12), 20)
    arm = (school % 2).astype(float)
    pre = rng.normal(size=school.size)
    data = pd.DataFrame({"school": school, "arm": arm, "pre": pre,
                         "post": 0.3 * arm + 0.5 * pre + rng.normal(0, 0.4, 12)[school] + rng.normal(size=school.size),
                         "complied": arm * (school % 4 == 1)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BelongingWarning)      # 6 schools per arm
        return {
            "crt_effect": trials.crt_effect(data, "post ~ arm + pre", cluster="school", treatment="arm",
                                            n_boot=20, n_perm=20, progress=False),
            "ancova": trials.ancova(data, outcome="post", treatment="arm", pretest="pre"),
            "hedges_g": trials.hedges_g(data, outcome="post", treatment="arm"),
            "cace": trials.cace(data, outcome="post", treatment="arm", complied="complied", cluster="school",
                                covariates=["pre"], n_boot=20, progress=False),
        }


@pytest.fixture(scope="module")
def survey():
    return bl.load_sample("survey")


def _examples(survey):
    """One call per estimator family whose result has a to_frame(). Each helper returns a Result."""
    small = survey.dropna(subset=["pssm_01", "tr_care_1"]).head(600)
    from belonging_lib.codebook import apply_codebook, read_codebook
    from belonging_lib.datasets import sample_path
    from belonging_lib.io import missingness, read_labelled
    from belonging_lib.models import (compare, dominance, fit_random_intercept, group_gaps, logit, mediation,
                                      moderation, multilevel, ols)
    from belonging_lib.reliability import icc, reliability
    from belonging_lib.structure import cfa, invariance

    care = "care =~ tr_care_1 + tr_care_2 + tr_care_3 + tr_care_4"

    return {
        # models, regression, multilevel, transitions
        "models.ols": lambda: ols(small, "pssm_01 ~ tr_care_1", cluster="school_id"),
        "models.logit": lambda: logit(small.assign(high=(small["pssm_01"] >= 4).astype(int)), "high ~ tr_care_1",
                                      cluster="school_id"),
        "models.multilevel": lambda: multilevel(small, "pssm_01 ~ tr_care_1", cluster="school_id"),
        "models.fit_random_intercept": lambda: fit_random_intercept(
            small["pssm_01"].to_numpy(), np.column_stack([np.ones(len(small)), small["tr_care_1"]]),
            cluster=small["school_id"].to_numpy(), satterthwaite=True),
        "models.compare": lambda: compare(multilevel(small, "pssm_01 ~ 1", cluster="school_id"),
                                          multilevel(small, "pssm_01 ~ tr_care_1", cluster="school_id")),
        # moderation, mediation, importance, gaps, ratios, proportions, school intervals
        "models.moderation": lambda: moderation(small, outcome="pssm_01", predictor="tr_care_1",
                                                moderator="fsm", cluster="school_id"),
        "models.mediation": lambda: mediation(small, predictor="tr_care_1", mediator="pssm_01",
                                              outcome="attainment", n_boot=200, progress=False),
        "models.dominance": lambda: dominance(small, outcome="pssm_01", predictors=["tr_care_1", "fsm"],
                                              n_boot=200, progress=False),
        "models.group_gaps": lambda: group_gaps(small, outcome="pssm_01", by="fsm", cluster="school_id"),
        # measurement: reliability, scoring, structure
        "reliability.reliability": lambda: reliability(small, items=[f"pssm_{i:02d}" for i in range(1, 19)],
                                                       reverse=["pssm_03", "pssm_06", "pssm_09", "pssm_12",
                                                                "pssm_16"], response_range=(1, 5)),
        "reliability.icc": lambda: icc(small, outcome="pssm_01", cluster="school_id"),
        "structure.cfa": lambda: cfa(small, care),
        "structure.invariance": lambda: invariance(small[small["gender"].isin(["girl", "boy"])], care,
                                                   group="gender", levels=("configural", "metric")),
        # trials
        "trials.crt_effect": lambda: _trial_examples()["crt_effect"],
        "trials.ancova": lambda: _trial_examples()["ancova"],
        "trials.hedges_g": lambda: _trial_examples()["hedges_g"],
        "trials.cace": lambda: _trial_examples()["cace"],
        # survey and imputation
        "survey.mean": lambda: _pisa_design().mean("MATH", by="CNT"),
        "survey.diff": lambda: _pisa_design().diff("BELONG", by="ST004D01T", levels=(1, 2)),
        "survey.regress": lambda: _pisa_design().regress("MATH ~ BELONG + ESCS"),
        "imputation.pool": lambda: _pooled(),
        # data layer, disclosure, reports, schools' tools
        "io.read_labelled": lambda: read_labelled(sample_path("survey_raw")),
        "io.missingness": lambda: missingness(small, columns=["pssm_01", "tr_care_1", "ks2_score"],
                                              by="school_id"),
        "codebook.apply_codebook": lambda: apply_codebook(
            pd.DataFrame({"ID": ["A", "B", "C"], "Q1": ["yes ", 9, "2"]}),
            read_codebook(pd.DataFrame({"variable": ["pupil_id", "q1"], "source_name": ["ID", "Q1"],
                                        "type": ["id", "item"], "allowed": ["", "1-3"],
                                        "value_labels": ["", "1=No;2=Sometimes;3=Yes"],
                                        "missing_codes": ["", "9"]}))),
    }


def _pisa_design():
    from belonging_lib.survey import pisa_design

    return pisa_design(bl.load_sample("pisa").head(1500))


def _pooled():
    from belonging_lib.imputation import pool

    rng = np.random.default_rng(0)
    tables = [pd.DataFrame({"estimate": [2.0, 0.5] + rng.normal(0, 0.05, 2), "se": [0.3, 0.1]},
                           index=["Intercept", "x"]) for _ in range(5)]
    return pool(tables)


def test_to_frame_starts_with_the_tidy_columns(survey):
    problems = []
    for where, make in _examples(survey).items():
        result = make()
        problems += frame_problems(where, result.to_frame())
    assert not problems, "\n".join(problems)


def test_frame_check_catches_a_stray_column():
    frame = pd.DataFrame({"term": ["Intercept"], "estimate": [1.0], "p_value": [0.5], "se": [0.1]})
    problems = frame_problems("example", frame)
    assert len(problems) == 3, problems
    assert not frame_problems("ok", pd.DataFrame({"term": ["(Intercept)"], "estimate": [1.0], "se": [.1],
                                                  "p": [.5], "extra": [np.nan]}))
