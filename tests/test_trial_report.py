"""The evaluator's report: design file, report tables, .docx, HTML in a browser, disclosure, files.

Two trials: the chapter's synthetic trial (data/sample/trial.csv) and a hand-built fixture with
pupil attrition above 20% (lost pupils concentrated in the programme arm) and a baseline measure
that is badly imbalanced between the arms, with a subgroup too small to show.
"""

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from belonging_lib._errors import DataError
from belonging_lib.cli import main
from belonging_lib.trials import THREATS, design_template, read_design, security_rating, trial_report
from belonging_lib._safe_write import neutralise_frame as _csv_safe
from belonging_lib.trials.trial_report import refuse_repository

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = [
    "Executive summary",
    "CONSORT flow",
    "MDES",
    "Attrition",
    "Balance at randomisation",
    "Balance at analysis",
    "Primary analysis model",
    "Effect sizes (primary outcome)",
    "Secondary outcomes",
    "Subgroup analysis",
    "Compliance (CACE)",
    "Sensitivity analyses",
    "Security rating",
]
BANDS = {
    "source": "worked example (test edges)",
    "design": {"randomised": 5},
    "mdes": [0.2, 0.3, 0.4, 0.5, 0.6],
    "attrition": [0.1, 0.2, 0.3, 0.4, 0.5],
    "downgrade": {"moderate": 1, "high": 2},
}


def chapter_design(**change):
    spec = {
        "title": "Belonging programme trial (synthetic)",
        "synthetic": True,
        "arms": {"column": "treat", "treated": 1, "labels": ["programme", "control"]},
        "randomisation": {"design": "randomised", "unit": "school", "cluster": "school_id", "block": "block"},
        "outcomes": {
            "primary": {"column": "post_attain", "label": "Attainment", "attainment": True, "pretest": "pre_attain"},
            "secondary": [
                {"column": "post_belonging", "label": "Belonging", "attainment": False, "pretest": "pre_belonging"}
            ],
        },
        "balance": ["pre_belonging", "pre_attain", "fsm", "send"],
        "attrition_column": "attrited",
        "protocol_mdes": {
            "n_clusters": 40,
            "cluster_size": 50,
            "icc": 0.15,
            "r2_level1": 0.36,
            "r2_level2": 0.36,
            "p_treated": 0.5,
        },
        "subgroup": "fsm",
        "compliance_column": "complied",
        "analysis": {"n_perm": 40, "n_boot": 0, "n_imputations": 2, "seed": 0, "months_table": "project"},
        "threats": {t: {"risk": "low", "direction": "unclear"} for t in THREATS},
        "security_bands": BANDS,
    }
    spec.update(change)
    return spec


def write_design(folder, spec):
    path = Path(folder) / "design.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def fixture_trial():
    """16 schools of 30 pupils (synthetic); 30% of programme and 14% of control pupils lost; `absence`
    imbalanced (the programme schools were drawn with more absence); 12 FSM pupils in 6 schools (fewer than 10 analysed)."""
    rng = np.random.default_rng(29)
    rows = []
    for s in range(16):
        treat = s % 2
        u = rng.normal(0, 0.4)
        for i in range(30):
            pre = rng.normal()
            absence = rng.normal(0.6 if treat else 0.0, 1.0)
            post = 0.6 * pre + 0.2 * treat - 0.2 * absence + u + rng.normal(0, 0.8)
            lost = rng.random() < (0.30 if treat else 0.14)
            rows.append(
                {
                    "pupil_id": f"P{s:02d}{i:02d}",
                    "school": f"S{s:02d}",
                    "arm": "programme" if treat else "control",
                    "pre": pre,
                    "absence": absence,
                    "post": np.nan if lost else post,
                    "fsm": int(s in range(6) and i < 2),
                    "delivered": treat,
                }
            )
    return pd.DataFrame(rows)


def fixture_design():
    return {
        "title": "Hand-built fixture trial (synthetic)",
        "synthetic": True,
        "arms": {"column": "arm", "treated": "programme", "labels": ["programme", "control"]},
        "randomisation": {"design": "randomised", "unit": "school", "cluster": "school"},
        "outcomes": {"primary": {"column": "post", "label": "Reading", "attainment": True, "pretest": "pre"}},
        "balance": ["pre", "absence", "fsm"],
        "protocol_mdes": {"n_clusters": 16, "cluster_size": 30, "icc": 0.1, "r2_level1": 0.3, "r2_level2": 0.3},
        "subgroup": "fsm",
        "compliance_column": "delivered",
        "analysis": {"n_perm": 40, "n_imputations": 2},
        "threats": {
            t: {"risk": "high" if t == "missing data" else "low", "direction": "overstates the effect"} for t in THREATS
        },
        "security_bands": BANDS,
    }


@pytest.fixture(scope="module")
def outdir():
    folder = Path(tempfile.mkdtemp(prefix="trial-report-test-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def chapter(outdir):
    data = pd.read_csv(ROOT / "data/sample/trial.csv")
    path = write_design(outdir, chapter_design())
    return trial_report(data, design=path, out=outdir / "chapter")


@pytest.fixture(scope="module")
def fixture(outdir):
    folder = outdir / "fixture-in"
    folder.mkdir()
    return trial_report(fixture_trial(), design=write_design(folder, fixture_design()), out=outdir / "fixture")


# ----------------------------------------------------------------------------- the design file
def test_template_is_yaml_and_names_every_threat_and_refuses_to_rate_unfilled(tmp_path):
    spec = yaml.safe_load(design_template())
    assert set(spec["threats"]) == set(THREATS)
    assert spec["security_bands"]["mdes"] == []  # no band edge is typed in for the user
    path = tmp_path / "design.yaml"
    path.write_text(design_template())
    with pytest.raises(DataError, match="title"):
        read_design(path)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"colour": "red"}, "unknown key"),
        ({"arms": {"column": "treat", "labels": ["a", "b"]}}, "arms.treated"),
        ({"outcomes": {"primary": {"column": "post_attain"}}}, "outcomes.primary.attainment"),
        ({"randomisation": {"cluster": "school_id", "unit": "county"}}, "randomisation.unit"),
        (
            {"protocol_mdes": {"n_clusters": 2, "cluster_size": 10, "icc": 0.1, "r2_level1": 0, "r2_level2": 0}},
            "at least 3",
        ),
        ({"threats": {"confounding": {"risk": "low"}}}, "'concurrent interventions' is not declared"),
        ({"security_bands": dict(BANDS, mdes=[])}, "5 upper edges"),
        ({"analysis": {"months_table": "weeks"}}, "months_table"),
        ({"synthetic": "yes"}, "synthetic"),
    ],
)
def test_a_bad_design_file_names_the_key_and_value(tmp_path, change, message):
    with pytest.raises(DataError, match=message):
        read_design(write_design(tmp_path, chapter_design(**change)))


def test_invalid_yaml_is_reported_with_its_line(tmp_path):
    (tmp_path / "design.yaml").write_text("title: x\narms: [unclosed\n")
    with pytest.raises(DataError, match="not valid YAML at line"):
        read_design(tmp_path / "design.yaml")


def test_a_design_naming_a_missing_column_is_refused(tmp_path):
    spec = chapter_design(balance=["pre_belonging", "shoe_size"])
    with pytest.raises(DataError, match="shoe_size"):
        trial_report(
            pd.read_csv(ROOT / "data/sample/trial.csv"), design=write_design(tmp_path, spec), out=tmp_path / "out"
        )


# ----------------------------------------------------------------------------- the chapter's trial
def test_chapter_report_files_and_every_table(chapter):
    import docx

    assert chapter.html.exists() and chapter.docx.exists()
    doc = docx.Document(str(chapter.docx))
    headings = [p.text for p in doc.paragraphs if p.style.name == "Heading 1"]
    assert headings == SECTIONS
    assert len(doc.tables) == len(SECTIONS)
    # the executive summary's table in the .docx holds both outcomes
    first = doc.tables[0]
    assert [c.text for c in first.rows[0].cells][:2] == ["outcome", "effect_size"]
    assert [r.cells[0].text for r in first.rows[1:]] == ["Attainment (primary)", "Belonging"]
    html = chapter.html.read_text()
    for name in SECTIONS:
        assert name in html
    assert "synthetic" in html and "size: A4" in html and "data:image/png;base64," in html


def test_months_only_for_attainment_and_the_rating_only_for_the_primary(chapter):
    es = chapter.tables["Executive summary"].set_index("outcome")
    assert not np.isnan(es.loc["Attainment (primary)", "months_progress"])
    assert np.isnan(es.loc["Belonging", "months_progress"])
    assert es.loc["Belonging", "security_rating"] == "not rated"
    assert es.loc["Attainment (primary)", "security_rating"] == f"{chapter.rating.padlocks} of 5"


def test_models_adjust_for_every_measure_the_balance_rule_flags(chapter):
    bal = chapter.tables["Balance at analysis"]
    flagged = set(bal.loc[bal["status"].isin(["adjustment required", "fails"]), "covariate"])
    assert flagged, "the chapter's trial has measures that need adjustment (SEND, pre-test belonging)"
    assert flagged <= set(chapter.covariates)
    assert "pre_attain" in chapter.covariates
    for term in flagged:
        assert term in set(chapter.tables["Primary analysis model"]["term"])


def test_rating_is_the_procedure_applied_to_the_report_numbers(chapter):
    mdes = chapter.tables["MDES"].set_index("stage").loc["analysis", "mdes"]
    overall = chapter.tables["Attrition"].set_index("arm").loc["overall", "attrition"]
    again = security_rating(
        mdes=mdes, attrition=overall, bands=BANDS, threats={t: {"risk": "low", "direction": "unclear"} for t in THREATS}
    )
    assert again.padlocks == chapter.rating.padlocks
    assert list(chapter.tables["Security rating"]["step"]) == list(again.to_frame()["step"])


def test_primary_gets_a_permutation_p_and_the_sensitivity_rows(chapter):
    assert chapter.primary.n_perm == 40
    sens = chapter.tables["Sensitivity analyses"]["analysis"].tolist()
    assert sens[0] == "primary (complete cases)"
    assert sens[1].startswith("multiple imputation") and sens[2] == "unconditional model (arm only)"


# ----------------------------------------------------------------------------- the hand-built fixture
def test_fixture_high_attrition_lowers_the_attrition_band(fixture):
    att = fixture.tables["Attrition"].set_index("arm")
    assert att.loc["overall", "attrition"] > 0.20
    steps = fixture.rating.to_frame().set_index("step")
    assert steps.loc["pupil attrition", "padlocks"] <= 3
    # the declared high risk from missing data removes 2
    assert steps.loc["threat: missing data", "padlocks"] == -2
    assert fixture.rating.padlocks == max(0, fixture.rating.interim - 2)


def test_fixture_imbalanced_covariate_fails_and_is_adjusted_for(fixture):
    bal = fixture.tables["Balance at analysis"].set_index("covariate")
    assert bal.loc["absence", "status"] == "fails"
    assert "absence" in fixture.covariates


def test_fixture_small_subgroup_is_suppressed_everywhere_it_is_shown(fixture):
    import docx

    sub = fixture.tables["Subgroup analysis"].set_index("term")
    assert np.isnan(sub.loc["fsm = 1", "n"]) and np.isnan(sub.loc["fsm = 1", "estimate"])
    # secondary suppression: with one of two rows hidden, the other goes too (the total is public)
    assert np.isnan(sub.loc["fsm = 0", "n"])
    doc = docx.Document(str(fixture.docx))
    table = doc.tables[SECTIONS.index("Subgroup analysis")]
    cells = [c.text for r in table.rows[1:] for c in r.cells[1:]]
    assert set(cells) == {"[c]"}
    assert "[c]" in fixture.html.read_text()
    # the balance table's FSM row would give the count (mean x n) of FSM pupils in each arm: hidden
    bal = fixture.tables["Balance at analysis"].set_index("covariate")
    assert np.isnan(bal.loc["fsm", "mean_treated"]) and not np.isnan(bal.loc["pre", "mean_treated"])


# ----------------------------------------------------------------------------- files and safety
def test_out_inside_a_git_working_tree_is_refused(tmp_path):
    with pytest.raises(DataError, match="git working tree"):
        refuse_repository(ROOT / "build" / "report")
    subprocess.run(["git", "init", "-q", str(tmp_path / "repo")], check=True)
    with pytest.raises(DataError, match="git working tree"):
        refuse_repository(tmp_path / "repo" / "deep" / "out")
    assert refuse_repository(tmp_path / "fine") == (tmp_path / "fine").resolve()


def test_csv_cells_that_could_run_as_formulas_are_neutralised(chapter):
    t = pd.DataFrame(
        {"label": ['=HYPERLINK("x")', "+cmd", "@SUM(A1)", "-2+3", "plain"], "n": ["-0.25", "3", "1e-3", "+1", "4"]}
    )
    safe = _csv_safe(t)
    assert safe["label"].tolist() == ['\'=HYPERLINK("x")', "'+cmd", "'@SUM(A1)", "'-2+3", "plain"]
    assert safe["n"].tolist() == ["-0.25", "3", "1e-3", "+1", "4"]  # numbers stay numbers
    text = (chapter.html.parent / "summary.csv").read_text()
    assert "Attainment (primary)" in text and "\n=" not in text and ",=" not in text


def test_cli_template_and_no_overwrite(tmp_path, capsys):
    target = tmp_path / "design.yaml"
    assert main(["trial-report", "--template", "--out", str(target)]) == 0
    before = target.read_text()
    assert main(["trial-report", "--template", "--out", str(target)]) == 2
    assert target.read_text() == before
    assert "already exists" in capsys.readouterr().err
    assert (
        main(
            [
                "trial-report",
                "--data",
                str(ROOT / "data/sample/trial.csv"),
                "--design",
                str(target),
                "--out",
                str(tmp_path / "r"),
            ]
        )
        == 2
    )
    assert "title" in capsys.readouterr().err


@pytest.mark.browser
def test_report_opens_in_a_browser(chapter):
    from test_site import CHROMIUM, Browser

    if CHROMIUM is None:
        pytest.skip("chromium is not installed; `apt-get install chromium` to run the browser test")
    pytest.importorskip("websocket")
    with tempfile.TemporaryDirectory() as profile:
        b = Browser(Path(profile))
        try:
            b.goto(chapter.html.as_uri())
            assert b.eval("document.title") == "Belonging programme trial (synthetic)"
            heads = b.eval("[...document.querySelectorAll('h2')].map(h => h.innerText)")
            assert [h.split(". ", 1)[1] for h in heads] == SECTIONS
            assert b.eval("document.querySelectorAll('table').length") == len(SECTIONS)
            assert b.eval("document.querySelector('img.figure').naturalWidth") > 200
            assert b.eval("[...document.images].every(i => i.alt.length > 0)")
            assert "padlocks" in b.eval("document.body.innerText")
            assert b.errors() == []
        finally:
            b.close()


def test_eef_table_gives_months_only_for_attainment_rows():
    from belonging_lib.trials import eef_table

    rows = {
        "Belonging": {"estimate": 0.19, "ci_low": 0.0, "ci_high": 0.38, "n": 100},
        "Attainment": {"estimate": 0.19, "ci_low": 0.0, "ci_high": 0.38, "n": 100},
    }
    result = eef_table(rows, attainment=["Attainment"], table="project")
    assert result.months_table == "project" and len(result) == 2
    assert list(result.to_frame().columns) == [
        "outcome",
        "effect_size",
        "ci_low",
        "ci_high",
        "months_progress",
        "n_schools",
        "n_pupils",
        "p",
    ]
    t = eef_table(rows, attainment=["Attainment"]).to_frame().set_index("outcome")
    assert np.isnan(t.loc["Belonging", "months_progress"]) and t.loc["Attainment", "months_progress"] == 3
    assert eef_table(rows).to_frame().set_index("outcome").loc["Belonging", "months_progress"] == 3  # default: all
    with pytest.raises(DataError, match="not labels"):
        eef_table(rows, attainment=["Maths"])


def test_sample_design_is_valid_and_says_its_band_edges_are_illustrative():
    from belonging_lib.trials import sample_design

    d = sample_design()
    assert d.synthetic and d.primary.column == "post_belonging" and not d.primary.attainment
    assert [o.column for o in d.secondary] == ["post_attain"] and d.secondary[0].attainment
    assert "illustrative" in d.bands["source"] and "NOT copied" in d.bands["source"]
