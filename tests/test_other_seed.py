"""The course runs on a sample drawn with another seed (2027), not only on the committed one (2026).

The sample is written with ``belonging_lib.simulate`` into a temporary folder and every chapter is
executed against it (``BELONGING_SAMPLE_DIR``), through the book's own runner, in parallel, without
the Sphinx build. The key-result checks are off (their values belong to seed 2026); what must hold is
that no cell fails, that every glue key the prose uses is glued, and that no truth value or verdict
the prose shows comes out as "nan" (the truth file of seed 2027 is read like the committed one).
Marked slow: it executes the whole course.
"""

import re
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("myst_nb")
pytest.importorskip("papermill")

from belonging_lib.book import _glued_values, execute_chapters  # noqa: E402
from belonging_lib.simulate import write_sample_data  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SEED = 2027
GLUE_ROLE = re.compile(r"\{glue(?::text|:md)?\}`([A-Za-z0-9_]+)")


@pytest.mark.slow
def test_every_chapter_runs_on_seed_2027(tmp_path, monkeypatch):
    data = tmp_path / "sample"
    write_sample_data(data, seed=SEED, progress=False)
    assert f'"seed": {SEED}' in (data / "TRUTH.json").read_text(encoding="utf-8")
    monkeypatch.setenv("BELONGING_SAMPLE_DIR", str(data))
    monkeypatch.delenv("BELONGING_EXPECTED", raising=False)
    monkeypatch.delenv("BELONGING_RECORD_DIR", raising=False)
    runs = execute_chapters(ROOT / "notebooks", tmp_path / "nb", workers=2, cache_dir=None)
    assert len(runs) == len(list((ROOT / "notebooks").glob("[0-9][0-9]_*.md")))
    failed = [f"{r.name}: {r.error}" for r in runs if r.error is not None or r.failed]
    assert not failed, "\n".join(failed)
    problems = []
    for run in runs:
        nb = nbformat.read(run.path, as_version=4)
        glued = _glued_values(nb)
        used = {k for c in nb.cells if c.cell_type == "markdown" for k in GLUE_ROLE.findall(c.source)}
        problems += [f"{run.name}: {{glue}}`{k}` is never glued" for k in sorted(used - set(glued))]
        problems += [
            f"{run.name}: {k} = {glued[k]!r}"
            for k in sorted(used & set(glued))
            if re.fullmatch(r"\s*'?nan'?\s*", glued[k])
        ]
    assert not problems, "\n".join(problems)
