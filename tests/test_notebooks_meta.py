"""The notebooks follow the collection's structure, and their key-result checks can fail.

The notebooks themselves are executed by ``make notebooks`` (under ``make test``, with their key
results compared; see test_executed_chapters.py); these tests read their MyST sources.
"""

import json
import re
from pathlib import Path

import jupytext
import pytest

from belonging_lib.notebook import ExpectationError, record

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.md"))
REQUIRED_HEADINGS = ["learning objectives", "what this means for your classroom", "limitations",
                     "exercises", "references"]


def test_collection_has_a_starter_notebook():
    assert SOURCES and SOURCES[0].name == "00_start_here.md"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_notebook_structure(path):
    nb = jupytext.read(path)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown").lower()
    for heading in REQUIRED_HEADINGS:
        assert re.search(rf"^#+ .*{heading}", markdown, flags=re.M), f"{path.name}: no '{heading}' section"
    assert "synthetic" in markdown, f"{path.name} does not say the data are synthetic"
    code = [c for c in nb.cells if c.cell_type == "code"]
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, f"{path.name}: needs exactly one cell tagged 'parameters'"
    assert "DATA_DIR" in params[0].source
    tags = [t for c in nb.cells for t in c.metadata.get("tags", [])]
    assert "solution" in tags, f"{path.name}: exercises need solutions in cells tagged 'solution'"
    assert "!pip" not in "\n".join(c.source for c in code)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_key_results_are_recorded_and_expected(path):
    nb = jupytext.read(path)
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    keys = re.findall(r"record\(\s*[\"'](\d\d\.[\w.-]+)[\"']", source)
    number = path.name[:2]
    assert len(keys) >= 2, f"{path.name}: record at least two key results"
    assert all(k.startswith(number + ".") for k in keys), f"{path.name}: keys must start with '{number}.'"
    expected_file = ROOT / "tests" / "notebook_expected" / f"{number}.json"
    assert expected_file.exists(), f"run `make expected` to create {expected_file.name}"
    expected = json.loads(expected_file.read_text())
    assert set(keys) == set(expected), (
        f"{path.name}: recorded keys and {expected_file.name} differ: "
        f"only in notebook {sorted(set(keys) - set(expected))}, only in json {sorted(set(expected) - set(keys))}")


# Code that builds a table or figure of groups of pupils, and the calls that apply the disclosure policy.
GROUPING = re.compile(r"\.groupby\(|value_counts\(|crosstab\(|pivot_table\(|\.pivot\(|\bby=|"
                      r"\.by_group\b|design\.diff\(|\.diff\(\s*[\"']|crt_subgroups\(|trials\.attrition\(|trials\.balance\(")
DISCLOSED = re.compile(r"\bsuppress\(|\bsummarise_by\(|\bcount_by\(|# disclosure:")


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_group_tables_go_through_the_disclosure_policy(path):
    """Every shown cell that groups pupils calls the disclosure policy, or says why it need not.

    Hidden check cells (``remove-cell``) only record numbers and are exempt.  A cell may
    opt out with a ``# disclosure: <reason>`` comment (for example, groups used to
    compute something that is not shown).
    """
    nb = jupytext.read(path)
    offenders = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or "remove-cell" in cell.metadata.get("tags", []):
            continue
        if GROUPING.search(cell.source) and not DISCLOSED.search(cell.source):
            offenders.append(f"cell {i}: {cell.source.strip().splitlines()[0][:70]}")
    assert not offenders, (f"{path.name}: cells that show groups of pupils without bl.disclosure "
                           f"(suppress / summarise_by / count_by): {offenders}")


def test_disclosure_check_would_catch_a_bare_groupby():
    bare = 'pupils.groupby("class_id")["pssm"].mean()'
    assert GROUPING.search(bare) and not DISCLOSED.search(bare)
    assert DISCLOSED.search('summarise_by(pupils, outcome="pssm", by="class_id")')
    assert GROUPING.search('design.percent("belongs", by="CNT")')


def test_record_passes_on_the_expected_value(tmp_path, monkeypatch):
    (tmp_path / "99.json").write_text(json.dumps({"99.alpha": 0.8123456}))
    monkeypatch.setenv("BELONGING_EXPECTED", str(tmp_path))
    assert record("99.alpha", 0.8123456) == 0.8123456


def test_record_fails_when_a_key_result_changes(tmp_path, monkeypatch):
    (tmp_path / "99.json").write_text(json.dumps({"99.alpha": 0.8123456}))
    monkeypatch.setenv("BELONGING_EXPECTED", str(tmp_path))
    with pytest.raises(ExpectationError, match="changed"):
        record("99.alpha", 0.8133456)
    with pytest.raises(ExpectationError, match="no expected value"):
        record("99.omega", 0.9)


def test_record_writes_when_recording(tmp_path, monkeypatch):
    monkeypatch.delenv("BELONGING_EXPECTED", raising=False)
    monkeypatch.setenv("BELONGING_RECORD_DIR", str(tmp_path))
    record("98.n", 42)
    assert json.loads((tmp_path / "98.json").read_text()) == {"98.n": 42.0}


def test_glue_writes_what_myst_nb_glue_writes(monkeypatch):
    """The chapters' glue shows the same output, with the same metadata, as MyST-NB's own glue, and a
    chapter's kernel then has not loaded nbformat (whose schema validator takes seconds to import)."""
    pytest.importorskip("myst_nb")
    import subprocess
    import sys

    import IPython.display
    import myst_nb.ext.glue as myst_glue
    import pandas as pd
    from IPython.display import Markdown

    from belonging_lib.notebook import glue

    theirs, ours = [], []
    monkeypatch.setattr(myst_glue, "ipy_display", lambda *a, **k: theirs.append((a, k)))
    monkeypatch.setattr(IPython.display, "display", lambda *a, **k: ours.append((a, k)))
    values = [0.25, 3, "a phrase", Markdown("**above** the line"), pd.DataFrame({"school": ["S1"], "n": [12]})]
    for value in values:
        for shown in (True, False):
            myst_glue.glue("key", value, display=shown)
            glue("key", value, display=shown)
    assert len(ours) == len(theirs) == 2 * len(values)
    assert ours == theirs
    assert any(k["metadata"]["scrapbook"]["mime_prefix"] for _, k in ours)   # the hidden form is exercised
    code = "import sys; from belonging_lib.notebook import glue; glue('x', 1.5, display=False); print('nbformat' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
