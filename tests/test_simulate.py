"""Tests of the synthetic sample data (belonging_lib.simulate, data/sample/).

Recovery tests fit simple models directly with statsmodels (not the package's
own estimators, so the data are checked independently of the code that
analyses them) and require each true value from TRUTH.json to lie inside the
fit's 95% confidence interval.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from belonging_lib import simulate as sim

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"


@pytest.fixture(scope="module")
def survey():
    return pd.read_csv(SAMPLE / "survey.csv").copy()


@pytest.fixture(scope="module")
def truth():
    return json.loads((SAMPLE / "TRUTH.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def codebook():
    return pd.read_csv(SAMPLE / "codebook.csv", keep_default_na=False)


def _keyed(frame, items, reversed_, top):
    out = frame[items].astype(float).copy()
    out[reversed_] = top - out[reversed_]
    return out


def _in_ci(fit, term, true, level=0.95):
    lo, hi = fit.conf_int(alpha=1 - level).loc[term]
    return lo <= true <= hi, (lo, hi)


# ----------------------------------------------------------------------------------------
# (1) Regeneration is byte for byte
# ----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_regeneration_is_byte_identical(tmp_path):
    paths = sim.write_sample_data(tmp_path)
    assert sorted(p.name for p in paths.values()) == sorted(sim.SAMPLE_NAMES)
    for name in sim.SAMPLE_NAMES:
        new = (tmp_path / name).read_bytes()
        old = (SAMPLE / name).read_bytes()
        assert new == old, (f"{name} differs from data/sample/{name}: "
                            "rerun python -m belonging_lib.simulate")


def test_sav_header_date_is_fixed():
    data = (SAMPLE / "survey_raw_export.sav").read_bytes()
    assert data[:4] == b"$FL2"
    assert data[92:101] == b"01 Jan 26" and data[101:109] == b"00:00:00"


# ----------------------------------------------------------------------------------------
# (2) Parameter recovery
# ----------------------------------------------------------------------------------------
def _attainment_frame(survey):
    d = survey.copy()
    keyed = _keyed(d, sim.PSSM_ITEMS, sim.PSSM_REVERSED, 6)
    d["pc"] = keyed.mean(axis=1) - 3.5
    d["att10"] = (d["attendance"] - 95) / 10
    d["prior_c"] = d["prior_attainment"] - 100
    keep = keyed.notna().all(axis=1) & d["prior_attainment"].notna() & d["attainment"].notna()
    return d[keep].reset_index(drop=True)


def test_attainment_model_recovers_truth(survey, truth):
    """OLS of the end-of-year test on prior attainment and the autumn PSSM mean (complete PSSM
    answers), cluster-robust by school: every true coefficient inside its 95% CI."""
    d = _attainment_frame(survey)
    fit = smf.ols("attainment ~ prior_c + pc * fsm + send + att10", d).fit(
        cov_type="cluster", cov_kwds={"groups": d["school_id"].astype("category").cat.codes})
    t = truth["survey"]["attainment_model"]
    for term, key in [("prior_c", "prior_c"), ("pc", "pssm_c"), ("fsm", "fsm"),
                      ("pc:fsm", "pssm_c:fsm"), ("send", "send"),
                      ("att10", "attendance_per10"), ("Intercept", "intercept")]:
        ok, ci = _in_ci(fit, term, t[key]["value"])
        assert ok, f"{term}: true {t[key]['value']} outside 95% CI {ci}"
    # belonging matters more for FSM pupils (the buffering interaction is positive)
    assert fit.params["pc:fsm"] > 0
    effect = truth["survey"]["belonging_effect_on_attainment"]
    assert effect["non_fsm"]["value"] == t["pssm_c"]["value"]
    assert effect["fsm"]["value"] == t["pssm_c"]["value"] + t["pssm_c:fsm"]["value"]


def test_attainment_mixed_model_recovers_truth(survey, truth):
    d = _attainment_frame(survey)
    fit = smf.mixedlm("attainment ~ prior_c + pc * fsm + send + att10", d,
                      groups=d["school_id"]).fit(reml=True, method="powell")
    assert fit.converged
    t = truth["survey"]["attainment_model"]
    for term, key in [("prior_c", "prior_c"), ("pc", "pssm_c"), ("pc:fsm", "pssm_c:fsm"),
                      ("send", "send")]:
        ok, ci = _in_ci(fit, term, t[key]["value"])
        assert ok, f"{term}: true {t[key]['value']} outside 95% CI {ci}"
    # residual SD (class + pupil + test-day variance, class not modelled) close to the truth
    sd = np.sqrt(fit.scale)
    true_sd = np.hypot(t["residual_sd"]["value"], t["class_sd"]["value"])
    assert abs(sd - true_sd) < 0.3, (sd, true_sd)


def test_prior_attainment_does_not_depend_on_belonging(survey, truth):
    """Prior attainment is measured before the survey: its generating model has no belonging
    term and its coefficients are recovered; the path prior -> belonging shows as a small
    positive association."""
    d = _attainment_frame(survey)
    t = truth["survey"]["prior_attainment_model"]
    assert not any(k.startswith("pssm") for k in t)
    fit = smf.ols("prior_attainment ~ fsm + send + eal + att10", d).fit()
    for term, key in [("fsm", "fsm"), ("send", "send"), ("att10", "attendance_per10")]:
        ok, ci = _in_ci(fit, term, t[key]["value"])
        assert ok, f"{term}: true {t[key]['value']} outside 95% CI {ci}"
    # prior attainment raises belonging (0.10 latent units per SD): a small positive correlation
    assert truth["survey"]["belonging_structural"]["prior_attainment_z"]["value"] == 0.10
    r = np.corrcoef(d["prior_c"], d["pc"])[0, 1]
    assert 0.0 < r < 0.3, r


def test_timing_and_ks2_only_for_pupils_who_have_taken_it(survey, truth):
    timing = truth["survey"]["timing"]
    assert {"prior_attainment", "ks2_score", "survey", "attainment"} <= set(timing)
    order = truth["survey"]["causal_order"]["value"]
    assert order[1].startswith("prior attainment") and order[-1].startswith("end-of-year")
    primary = survey["phase"] == "primary"
    # Year 5 and Year 6 pupils surveyed in the autumn have not taken KS2
    assert survey.loc[primary, "ks2_score"].isna().all()
    assert set(survey.loc[primary, "year_group"]) == {5, 6}
    sec = survey[~primary]
    same = sec["ks2_score"].notna()
    assert (sec.loc[same, "ks2_score"] == sec.loc[same, "prior_attainment"]).all()
    assert (sec["ks2_score"].isna() == sec["prior_attainment"].isna()).all()
    # the end-of-year test exists for primary and secondary pupils
    assert survey.loc[primary, "attainment"].notna().mean() > 0.9
    assert survey.loc[~primary, "attainment"].notna().mean() > 0.9


def test_trial_effect_recovered(truth):
    trial = pd.read_csv(SAMPLE / "trial.csv")
    t = truth["trial"]
    sd = t["control_post_sd"]["value"]
    d = trial.dropna(subset=["post_belonging"]).reset_index(drop=True)
    # unadjusted: school-level difference in means (analysis of cluster means)
    means = d.groupby(["school_id", "treat"], as_index=False)["post_belonging"].mean()
    fit = smf.ols("post_belonging ~ treat", means).fit()
    lo, hi = fit.conf_int().loc["treat"] / sd
    assert lo <= t["effect_sd"]["value"] <= hi, (lo, hi)
    # adjusted (MAR given pre-test and FSM): mixed model with school intercepts
    mfit = smf.mixedlm("post_belonging ~ treat + pre_belonging + fsm", d,
                       groups=d["school_id"]).fit(reml=True, method="powell")
    lo, hi = mfit.conf_int().loc["treat"] / sd
    assert lo <= t["effect_sd"]["value"] <= hi, (lo, hi)
    # design facts
    assert trial.groupby("school_id")["treat"].first().sum() == 20
    assert (trial.groupby(["block", "school_id"])["treat"].first().groupby("block").sum()
            == 2).all()
    comp = trial[trial["treat"] == 1].groupby("school_id")["complied"].first()
    assert comp.sum() == 16
    assert (trial.loc[trial["treat"] == 0, "complied"] == 0).all()
    rate = trial.groupby("arm")["attrited"].mean()
    assert 0.04 < rate["control"] < 0.12 and 0.08 < rate["programme"] < 0.17, rate.to_dict()
    r = trial[["pre_belonging", "post_belonging"]].corr().iloc[0, 1]
    assert 0.5 < r < 0.7


def test_trial_icc_near_design(truth):
    trial = pd.read_csv(SAMPLE / "trial.csv")
    # one-way ANOVA estimator of ICC(1) with the average cluster size
    g = trial.groupby("school_id")["pre_belonging"]
    k, n = g.ngroups, len(trial)
    n0 = (n - (g.size() ** 2).sum() / n) / (k - 1)
    msb = (g.size() * (g.mean() - trial["pre_belonging"].mean()) ** 2).sum() / (k - 1)
    msw = ((trial["pre_belonging"] - g.transform("mean")) ** 2).sum() / (n - k)
    icc = (msb - msw) / (msb + (n0 - 1) * msw)
    assert 0.06 < icc < 0.22, icc  # design 0.13; 40 schools give a wide sampling range


def _brr_coef(pisa, pv, reps):
    """Weighted least squares coefficients for the final weight and each replicate."""
    d = pisa.dropna(subset=["BELONG"])
    X = pd.get_dummies(d["CNT"], dtype=float)
    X["ESCS"] = d["ESCS"]
    X["BELONG"] = d["BELONG"]
    X = X.to_numpy()
    y = d[pv].to_numpy()
    W = d[["W_FSTUWT"] + reps].to_numpy()
    out = []
    for j in range(W.shape[1]):
        sw = np.sqrt(W[:, j])
        beta, *_ = np.linalg.lstsq(X * sw[:, None], y * sw, rcond=None)
        out.append(beta[-2:])
    out = np.array(out)
    return out[0], out[1:]


def test_pisa_math_on_escs_recovered(truth):
    pisa = pd.read_csv(SAMPLE / "pisa.csv.gz")
    reps = [f"W_FSTURWT{r}" for r in range(1, 81)]
    full, rep = _brr_coef(pisa, "PV1MATH", reps)
    k = truth["pisa"]["fay_k"]["value"]
    se = np.sqrt(((rep - full) ** 2).sum(axis=0) / (80 * (1 - k) ** 2))
    for j, key in enumerate(["math_escs", "math_belong"]):
        true = truth["pisa"][key]["value"]
        assert abs(full[j] - true) < 1.96 * se[j], (key, full[j], se[j])
    # BRR standard errors are plausible (between naive OLS and a few times it)
    assert 0.5 < se[0] < 4.0


def test_pisa_design_facts(truth):
    pisa = pd.read_csv(SAMPLE / "pisa.csv.gz")
    assert sorted(pisa["CNT"].unique()) == ["AAA", "BBB", "CCC", "DDD", "EEE", "FFF"]
    assert pisa["CNTSTUID"].is_unique
    assert (pisa.groupby("CNT")["CNTSCHID"].nunique() == 40).all()
    reps = pisa[[f"W_FSTURWT{r}" for r in range(1, 81)]].to_numpy()
    ratio = reps / pisa["W_FSTUWT"].to_numpy()[:, None]
    assert np.allclose(np.sort(np.unique(np.round(ratio, 2))), [0.5, 1.5])
    # every replicate perturbs half the schools up, half down (fully balanced design)
    assert np.allclose((np.round(ratio, 2) == 1.5).mean(axis=1).reshape(-1).mean(), 0.5, atol=0.05)
    # between-PV variance is realistic: a few hundred points squared
    pv = pisa[[f"PV{v}MATH" for v in range(1, 11)]]
    between = pv.var(axis=1).mean()
    assert 200 < between < 900, between
    H = sim.paley_hadamard(79)
    assert (H @ H.T == 80 * np.eye(80)).all()


# ----------------------------------------------------------------------------------------
# (3) Structural facts
# ----------------------------------------------------------------------------------------
def test_row_counts_and_ids(survey, truth):
    schools = pd.read_csv(SAMPLE / "schools.csv")
    staff = pd.read_csv(SAMPLE / "staff.csv")
    trans = pd.read_csv(SAMPLE / "transition.csv")
    trial = pd.read_csv(SAMPLE / "trial.csv")
    assert 2700 <= len(survey) <= 3400 and survey["pupil_id"].is_unique
    assert survey["school_id"].nunique() == 40 and len(schools) == 40
    assert (schools["phase"] == "primary").sum() == 16
    assert survey.groupby("school_id")["class_id"].nunique().between(3, 6).all()
    assert schools.set_index("school_id")["n_pupils"].equals(
        survey.groupby("school_id").size().rename("n_pupils"))
    assert staff["staff_id"].is_unique
    assert staff.groupby("school_id").size().between(20, 35).all()
    assert not trans.duplicated(["pupil_id", "wave"]).any()
    assert trans["pupil_id"].nunique() == 1200
    assert trans["primary_id"].nunique() == 20 and trans["secondary_id"].nunique() == 8
    assert trial["pupil_id"].is_unique and trial["school_id"].nunique() == 40
    assert truth["sizes"]["survey_pupils"]["value"] == len(survey)


def test_item_ranges_match_codebook(survey, codebook):
    for _, row in codebook[(codebook.file == "survey.csv")
                           & (codebook.type == "item")].iterrows():
        lo, hi = map(int, row["allowed"].split("-"))
        vals = survey[row["variable"]].dropna()
        assert vals.between(lo, hi).all() and (vals == vals.round()).all(), row["variable"]
    assert survey["ks2_score"].dropna().between(80, 120).all()
    assert survey["attendance"].between(60, 100).all()
    assert survey["prior_attainment"].dropna().between(80, 120).all()
    assert survey["ks2_score"][survey["phase"] == "primary"].isna().all()
    assert survey["lgbt"][survey["phase"] == "primary"].isna().all()
    assert set(survey["gender"]) == {"girl", "boy"}


def test_reverse_keyed_items_correlate_negatively(survey):
    blocks = [(sim.PSSM_ITEMS, sim.PSSM_REVERSED, 6), (sim.PISA_ITEMS, sim.PISA_REVERSED, 5)]
    for items, rev, top in blocks:
        keyed = _keyed(survey, items, rev, top)
        for it in items:
            rest = keyed.drop(columns=it).mean(axis=1)
            r = survey[it].corr(rest)
            assert (r < -0.2) if it in rev else (r > 0.2), (it, r)
    keyed = _keyed(survey, sim.SDQ_ITEMS, sim.SDQ_REVERSED, 2)
    for sub, numbers in sim.SDQ_SUBSCALES.items():
        cols = [f"sdq_{n:02d}" for n in numbers]
        for c in cols:
            r = survey[c].corr(keyed[[x for x in cols if x != c]].mean(axis=1))
            assert (r < -0.1) if c in sim.SDQ_REVERSED else (r > 0.1), (c, r)


def _alpha(frame):
    x = frame.dropna()
    k = x.shape[1]
    c = x.cov().to_numpy()
    return k / (k - 1) * (1 - np.trace(c) / c.sum())


def test_reliabilities_look_like_published(survey):
    assert 0.88 <= _alpha(_keyed(survey, sim.PSSM_ITEMS, sim.PSSM_REVERSED, 6)) <= 0.94
    assert 0.72 <= _alpha(_keyed(survey, sim.PISA_ITEMS, sim.PISA_REVERSED, 5)) <= 0.88
    for sc in sim.SHORT_SCALES:
        a = _alpha(survey[[f"{sc}_{i}" for i in range(1, 5)]])
        assert 0.68 <= a <= 0.86, (sc, a)
    keyed = _keyed(survey, sim.SDQ_ITEMS, sim.SDQ_REVERSED, 2)
    for sub, numbers in sim.SDQ_SUBSCALES.items():
        a = _alpha(keyed[[f"sdq_{n:02d}" for n in numbers]])
        assert 0.55 <= a <= 0.78, (sub, a)
    assert 0.78 <= _alpha(survey[sim.SWEMWBS_ITEMS]) <= 0.88


def test_teacher_care_is_strongest_correlate(survey):
    bel = _keyed(survey, sim.PSSM_ITEMS, sim.PSSM_REVERSED, 6).mean(axis=1)
    r = {sc: bel.corr(survey[[f"{sc}_{i}" for i in range(1, 5)]].mean(axis=1))
         for sc in sim.SHORT_SCALES if sc != "bully"}
    assert max(r, key=r.get) == "tr_care", r


def test_missingness_as_documented(survey, truth):
    m = truth["survey"]["missing"]
    item_cols = [c for c in survey.columns if c.startswith(tuple(
        [f"{s}_" for s in sim.SHORT_SCALES] + ["pssm_", "pisa_belong_", "sdq_", "swemwbs_",
                                               "parent_engage_"]))]
    assert int(survey[item_cols].isna().sum().sum()) == m["item_cells_missing"]["value"]
    share = survey[item_cols].isna().mean().mean()
    assert 0.02 <= share <= 0.06, share
    assert int(survey["ks2_score"].isna().sum()) == m["ks2_missing"]["value"]
    assert int(survey["prior_attainment"].isna().sum()) == m["prior_missing"]["value"]
    assert int(survey["attainment"].isna().sum()) == m["attainment_missing"]["value"]
    assert int(survey[sim.SDQ_ITEMS].isna().all(axis=1).sum()) == \
        m["whole_scale_missing"]["value"]["sdq"]
    # MAR, not MCAR: more missing for lower attendance and for boys
    miss = survey[sim.PSSM_ITEMS].isna().mean(axis=1)
    low = survey["attendance"] < survey["attendance"].median()
    assert miss[low].mean() > miss[~low].mean()
    boy = survey["gender"] == "boy"
    assert miss[boy].mean() > miss[~boy].mean()


def test_mental_health_high_need_band(survey, truth):
    keyed = _keyed(survey, sim.SDQ_ITEMS, sim.SDQ_REVERSED, 2)
    total = 0
    for sub, nums in sim.SDQ_SUBSCALES.items():
        if sub == "prosocial":
            continue
        block = keyed[[f"sdq_{n:02d}" for n in nums]]
        # SDQ rule: prorate when >= 3 of 5 answered (mean x 5, rounded half up)
        score = np.floor(block.mean(axis=1) * 5 + 0.5 + 1e-9)
        total = total + score.where(block.notna().sum(axis=1) >= 3)
    share = (total >= 18).sum() / total.notna().sum()
    assert 0.10 <= share <= 0.15, share
    assert np.isclose(share, truth["survey"]["mental_health"]["high_need_share"]["value"],
                      atol=1e-6)


def test_transition_dip_and_recovery():
    trans = pd.read_csv(SAMPLE / "transition.csv")
    b = trans.pivot(index="pupil_id", columns="wave", values="belonging")
    sd1 = b[1].std()
    d2 = (b[2] - b[1]).mean() / sd1
    d3 = (b[3] - b[1]).mean() / sd1
    assert -0.45 < d2 < -0.18, d2
    assert d2 < d3 < 0, d3
    sizes = trans.groupby("wave").size()
    assert 0.86 < sizes[2] / sizes[1] < 0.96 and 0.86 < sizes[3] / sizes[2] < 0.96
    # SEND pupils drop more
    send = trans.groupby("pupil_id")["send"].first()
    change = b[2] - b[1]
    assert change[send == 1].mean() < change[send == 0].mean()


def test_raw_export_maps_back_through_codebook(survey, codebook):
    """A loader using only the codebook reproduces survey.csv's items from the raw export."""
    raw = pd.read_csv(SAMPLE / "survey_raw_export.csv", dtype=str, keep_default_na=False)
    rows = codebook[(codebook.file == "survey.csv") & (codebook.type == "item")]
    assert len(rows) == 91
    for _, r in rows.iterrows():
        labels = {}
        for part in r["value_labels"].split(";"):
            code, text = part.split("=", 1)
            labels[text.strip().casefold()] = float(code)
        missing = set(r["missing_codes"].split(";"))
        col = raw[r["source_name"]].str.strip()
        mapped = [np.nan if (v == "" or v in missing) else labels.get(v.casefold(), None)
                  if v.casefold() in labels else float(v) for v in col]
        mapped = pd.Series(mapped, dtype=float)
        assert mapped.equals(survey[r["variable"]].astype(float)), r["variable"]
    # the mess is really there
    assert raw["Q1_1"].isin(["9", "-99"]).any() and (raw["Q1_1"] == "").any()
    assert raw["Q1_1"].str.islower().any() and raw["Gender"].str.startswith(" ").any()


def test_raw_sav_has_labels_and_maps_back(survey, codebook):
    pyreadstat = pytest.importorskip("pyreadstat")
    df, meta = pyreadstat.read_sav(str(SAMPLE / "survey_raw_export.sav"))
    rows = codebook[(codebook.file == "survey.csv") & (codebook.type == "item")]
    for _, r in rows.iterrows():
        assert df[r["source_name"]].equals(survey[r["variable"]].astype(float)), r["variable"]
    assert meta.variable_value_labels["Q1_1"][1.0] == "Not at all true"
    _, meta_um = pyreadstat.read_sav(str(SAMPLE / "survey_raw_export.sav"), user_missing=True,
                                     metadataonly=True)
    assert meta_um.missing_ranges["Q1_1"]


def test_everything_says_synthetic(codebook, truth):
    assert (codebook["synthetic"] == "yes").all()
    assert "SYNTHETIC" in truth["note"]
    assert "SYNTHETIC" in (SAMPLE / "README.md").read_text(encoding="utf-8")
    files = set(codebook["file"])
    assert {"survey.csv", "schools.csv", "staff.csv", "transition.csv", "trial.csv",
            "pisa.csv.gz", "survey_raw_export.csv", "survey_raw_export.sav"} <= files
    for name, fname in [("survey.csv", "survey.csv"), ("trial.csv", "trial.csv")]:
        cols = pd.read_csv(SAMPLE / fname, nrows=1).columns
        assert list(codebook.loc[codebook.file == name, "variable"]) == list(cols)


def test_truth_entries_are_documented(truth):
    def walk(node, path):
        if isinstance(node, dict) and "value" in node:
            assert isinstance(node.get("description"), str), path
            return 1
        if isinstance(node, dict):
            return sum(walk(v, f"{path}.{k}") for k, v in node.items()
                       if k not in ("note", "seed", "generator", "by_construction"))
        return 0

    assert walk(truth, "truth") > 50
    assert truth["seed"] == sim.DEFAULT_SEED
    assert truth["survey"]["belonging_structural"]["tr_care"]["value"] == 0.30


# ----------------------------------------------------------------------------------------
# (4) The simulator does not depend on estimator modules
# ----------------------------------------------------------------------------------------
def test_simulate_imports_no_estimator_modules():
    package = Path(sim.__file__).parent
    modules = sorted(package.glob("*.py"))
    assert len(modules) >= 10  # one module per data set
    siblings = {p.stem for p in modules}
    for path in modules:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:   # the package's own modules
                assert (node.module or "") in siblings, (path.name, node.module)
            if isinstance(node, ast.ImportFrom) and node.level == 2:   # the library's base only
                # the library's base: errors, checks, the formula-safe writer, the resource finder and
                # the progress rule (none imports anything of ours)
                assert (node.module or "") in {"_validation", "_errors", "_safe_write", "_resources", "_progress"}, (
                    path.name, node.module)
            if isinstance(node, ast.ImportFrom):
                assert node.level <= 2, (path.name, node.module)
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                assert not (node.module or "").startswith("belonging_lib"), (path.name, node.module)
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("belonging_lib") for a in node.names), path.name
    code = ("import sys, belonging_lib.simulate; "
            "print(sorted(m for m in sys.modules if m.startswith('belonging_lib')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout
    loaded = {m for m in eval(out) if not m.startswith("belonging_lib.simulate.")}  # noqa: S307
    base = {"belonging_lib", "belonging_lib._errors", "belonging_lib._validation",
            "belonging_lib._results", "belonging_lib.datasets", "belonging_lib.simulate",
            "belonging_lib._safe_write", "belonging_lib._resources", "belonging_lib._progress"}
    assert loaded <= base, loaded - base


def test_the_simulator_is_one_module_per_data_set_with_its_truth_as_data():
    """simulate/ is a package; TRUTH.json's descriptions live in truth.yaml, shipped as package data."""
    import tomllib

    import belonging_lib.simulate.truth as truth_module

    package = Path(sim.__file__).parent
    for name in ["survey", "staff", "transition", "trial", "pisa", "export", "truth", "random_intercept",
                 "sample", "__main__"]:
        assert (package / f"{name}.py").exists(), name
    assert truth_module.DESCRIPTIONS_FILE.parent == package and truth_module.DESCRIPTIONS_FILE.exists()
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert any(package.joinpath(truth_module.DESCRIPTIONS_FILE.name).match(f"*/belonging_lib/{g}")
               for g in globs["belonging_lib"]), "truth.yaml is not in pyproject's package-data"
    # no description is typed into the code that computes the values: no prose outside error messages
    tree = ast.parse((package / "truth.py").read_text(encoding="utf-8"))
    make = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "make_truth")
    in_raise = {id(c) for r in ast.walk(make) if isinstance(r, ast.Raise) for c in ast.walk(r)}
    prose = [n.value for n in ast.walk(make) if isinstance(n, ast.Constant) and isinstance(n.value, str)
             and " " in n.value and id(n) not in in_raise and n.value != ast.get_docstring(make, clean=False)]
    assert not prose, prose


def _small_sample():
    survey, schools, staff, latent = sim.simulate_survey_with_latent(11, n_primary=2, n_secondary=2)
    survey = sim.assign_send_level(survey, 12)
    return dict(seed=11, survey=survey, schools=schools, staff=staff,
                transition=sim.simulate_transition(13, n_pupils=120, n_primary=4, n_secondary=2),
                trial=sim.simulate_trial(14, n_schools=8, n_blocks=2),
                pisa=sim.simulate_pisa(15, pupils_per_country=900), latent=latent)


def test_truth_fills_every_description_and_describes_every_value(monkeypatch):
    """make_truth stops when truth.yaml and the computed values disagree (either way)."""
    import belonging_lib.simulate.truth as truth_module

    kw = _small_sample()
    truth = sim.make_truth(**kw)
    assert truth["seed"] == 11 and truth["sizes"]["trial_pupils"]["value"] == len(kw["trial"])
    n_sdq = truth["survey"]["mental_health"]["high_need_n"]["description"]
    assert "{" not in n_sdq and "with a total" in n_sdq
    text = truth_module.DESCRIPTIONS_FILE.read_text(encoding="utf-8")
    # a description without a value
    extra = text.replace("  survey_pupils:\n", "  not_computed:\n    description: nothing computes this\n"
                         "  survey_pupils:\n", 1)
    monkeypatch.setattr(truth_module, "_template_text", lambda: extra)
    with pytest.raises(RuntimeError, match="sizes.not_computed"):
        sim.make_truth(**kw)
    # a computed value without a description
    missing = text.replace("  survey_pupils:\n    description: rows of survey.csv\n", "", 1)
    assert missing != text
    monkeypatch.setattr(truth_module, "_template_text", lambda: missing)
    with pytest.raises(RuntimeError, match="sizes.survey_pupils"):
        sim.make_truth(**kw)


def test_survey_with_latent_gives_the_same_tables():
    survey, schools, staff = sim.simulate_survey(9, n_primary=2, n_secondary=2)
    s2, sc2, st2, latent = sim.simulate_survey_with_latent(9, n_primary=2, n_secondary=2)
    pd.testing.assert_frame_equal(survey, s2)
    pd.testing.assert_frame_equal(schools, sc2)
    pd.testing.assert_frame_equal(staff, st2)
    assert len(latent) == len(survey) and {"eta_belong", "pssm_mean_complete"} <= set(latent)


def test_codebook_covers_the_export_of_a_small_sample():
    kw = _small_sample()
    export_csv, export_sav, meta = sim.simulate_export(kw["survey"], 16)
    assert list(export_sav.columns) == list(export_csv.columns)
    assert set(meta["missing_ranges"]) <= set(export_sav.columns)
    codebook = sim.make_codebook(**{k: kw[k] for k in ["survey", "schools", "staff", "transition", "trial",
                                                       "pisa"]}, export=export_csv)
    shown = codebook.loc[codebook["file"] == "survey_raw_export.csv", "variable"].tolist()
    assert shown == list(export_csv.columns)
    assert (codebook["synthetic"] == "yes").all()


def test_simulate_random_intercept_shape_and_truth():
    d = sim.simulate_random_intercept(400, 25, seed=3)
    assert d.shape == (10_000, 3) and d["school"].nunique() == 400
    fit = smf.ols("y ~ x", d).fit()
    assert abs(fit.params["x"] - 0.5) < 3 * fit.bse["x"]
    school_var = d.groupby("school")["y"].mean().var() - 0.9 / 25 - 0.25 / 25
    assert 0.06 < school_var < 0.14


def test_engage_3_has_dif_for_send_only(survey, truth):
    """engage_3 is answered lower by SEND pupils at the same engagement; the others are not."""
    d = survey.dropna(subset=[f"engage_{i}" for i in range(1, 5)])
    gaps = {}
    for i in range(1, 5):
        rest = d[[f"engage_{j}" for j in range(1, 5) if j != i]].mean(axis=1)
        fit = smf.ols(f"engage_{i} ~ rest + send", d.assign(rest=rest)).fit()
        gaps[i] = fit.params["send"]
    assert gaps[3] < -0.25 and all(abs(gaps[i]) < 0.15 for i in (1, 2, 4)), gaps
    assert truth["survey"]["dif_engage_3_send"]["value"] < 0


def test_functions_simulate_other_sizes():
    survey, schools, staff = sim.simulate_survey(5, n_primary=2, n_secondary=3)
    assert len(schools) == 5 and survey["school_id"].nunique() == 5
    assert set(staff["school_id"]) == set(schools["school_id"])
    trial = sim.simulate_trial(5, n_schools=12, n_blocks=3)
    assert trial["school_id"].nunique() == 12
    assert trial.groupby("school_id")["treat"].first().sum() == 6
    panel = sim.simulate_transition(5, n_pupils=200, n_primary=5, n_secondary=2)
    assert panel.loc[panel["wave"] == 1, "pupil_id"].nunique() == 200
    pisa = sim.simulate_pisa(5, pupils_per_country=900)
    assert len(pisa) == 5400
    # the same seed gives the same data
    pd.testing.assert_frame_equal(sim.simulate_trial(7), sim.simulate_trial(7))


def test_bad_rng_raises():
    from belonging_lib import DataError

    with pytest.raises(DataError, match="rng"):
        sim.simulate_trial("seed")
    with pytest.raises(DataError, match="n_schools"):
        sim.simulate_random_intercept(0, 10)


def test_item_semantics_match_the_instruments(survey):
    """Coding direction as instruments.md says, checked against the PSSM mean."""
    pssm = _keyed(survey, sim.PSSM_ITEMS, sim.PSSM_REVERSED, 6).mean(axis=1)
    # PISA: 1 = strongly agree; negative items 1, 4, 6 -> high raw code = more belonging
    for it in sim.PISA_ITEMS:
        r = survey[it].corr(pssm)
        assert (r > 0.3) if it in sim.PISA_NEGATIVE else (r < -0.3), (it, r)
    # bullying: higher = more bullied = less belonging
    assert survey[[f"bully_{i}" for i in range(1, 5)]].mean(axis=1).corr(pssm) < -0.1
    # SDQ difficulties and wellbeing
    sdq = _keyed(survey, sim.SDQ_ITEMS, sim.SDQ_REVERSED, 2)
    diff_items = [f"sdq_{n:02d}" for sub, nums in sim.SDQ_SUBSCALES.items()
                  if sub != "prosocial" for n in nums]
    assert sdq[diff_items].mean(axis=1).corr(pssm) < -0.1
    assert survey[sim.SWEMWBS_ITEMS].mean(axis=1).corr(pssm) > 0.2
    pisa = pd.read_csv(SAMPLE / "pisa.csv.gz")
    assert pisa["ST034Q01TA"].corr(pisa["BELONG"]) > 0.4
    assert pisa["ST034Q02TA"].corr(pisa["BELONG"]) < -0.4


# ----------------------------------------------------------------------------------------
# (3) SEND level: drawn at random within SEND pupils from its own stream
# ----------------------------------------------------------------------------------------
def test_send_level_follows_send_and_is_drawn_from_its_own_stream(survey, truth):
    """none <-> send 0; among SEND pupils EHCP exactly where the sixth stream's draw says so."""
    assert list(survey.columns).index("send_level") == list(survey.columns).index("send") + 1
    assert set(survey.loc[survey["send"] == 0, "send_level"]) == {"none"}
    assert set(survey.loc[survey["send"] == 1, "send_level"]) == {"SEN support", "EHCP"}
    share = truth["survey"]["send_level"]["ehcp_share_within_send"]["value"]
    assert share == sim.EHCP_SHARE_OF_SEND
    rng = np.random.default_rng(np.random.SeedSequence(sim.DEFAULT_SEED).spawn(6)[5])
    ehcp = rng.random(len(survey)) < share
    expected = np.where(survey["send"] == 1, np.where(ehcp, "EHCP", "SEN support"), "none")
    assert (survey["send_level"].to_numpy() == expected).all()
    counts = survey["send_level"].value_counts().to_dict()
    assert truth["survey"]["send_level"]["counts"]["value"] == counts
    # the realised share lies in its 95% interval around the simulated share
    n_send = int((survey["send"] == 1).sum())
    assert abs(counts["EHCP"] / n_send - share) < 1.96 * np.sqrt(share * (1 - share) / n_send)


def test_send_level_carries_no_gap_of_its_own(survey, truth):
    """Among SEND pupils, the EHCP - SEN support gap in the PSSM mean covers the true value 0."""
    assert truth["survey"]["send_level"]["extra_gap_ehcp_vs_sen_support"]["value"] == 0.0
    d = survey[survey["send"] == 1].copy()
    d["pssm"] = _keyed(d, sim.PSSM_ITEMS, sim.PSSM_REVERSED, 6).mean(axis=1)
    d = d.dropna(subset=["pssm"])
    fit = smf.ols("pssm ~ C(send_level, Treatment('SEN support'))", d).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(d["school_id"])[0]})
    ok, ci = _in_ci(fit, "C(send_level, Treatment('SEN support'))[T.EHCP]", 0.0)
    assert ok, ci


def test_send_level_leaves_every_other_survey_column_unchanged():
    """The survey of the first stream alone (the layout before send_level) is survey.csv minus it."""
    stream = np.random.default_rng(np.random.SeedSequence(sim.DEFAULT_SEED).spawn(5)[0])
    alone = sim.simulate_survey(stream)[0]
    assert "send_level" not in alone.columns
    text = alone.to_csv(index=False, lineterminator="\n")
    shipped = pd.read_csv(SAMPLE / "survey.csv", dtype=str, keep_default_na=False)
    assert text == shipped.drop(columns="send_level").to_csv(index=False, lineterminator="\n")
    with_level = sim.assign_send_level(alone, 1)
    pd.testing.assert_frame_equal(with_level.drop(columns="send_level"), alone)


def test_send_level_bad_input():
    from belonging_lib import DataError

    with pytest.raises(DataError, match="'send'"):
        sim.assign_send_level(pd.DataFrame({"x": [0, 1]}), 1)
    with pytest.raises(DataError, match="ehcp_share"):
        sim.assign_send_level(pd.DataFrame({"send": [0, 1]}), 1, ehcp_share=1.5)
