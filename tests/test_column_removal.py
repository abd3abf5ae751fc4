"""Each optional column of the sample survey removed in turn: every chapter runs or is skipped,
and no cell of a chapter that runs raises.

A chapter's run depends on the data only through its plan key: the sections the plan skips, and
which of the optional columns its code reads are in the file. The columns a chapter reads are found
by scanning the code cells that run (after the skipped sections are taken out) for each column's
name, so a column a chapter uses without declaring it still changes the key. A removal that leaves
the key as it is on the full sample runs exactly what ``make notebooks`` runs, and is not run again.

To keep the run short, for each chapter the removals that skip the same sections are run once with
all their columns removed together (provided the plan is then the same as with each removed alone),
and the chapter runs are shared out over two workers, longest first.
"""

from __future__ import annotations

import copy
import functools
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from belonging_lib.book import chapter_sources, execute_chapters, plan_chapters, skip_sections
from test_own_data_safety import OPTIONAL_COLUMNS as _OPTIONAL

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SAMPLE = ROOT / "data" / "sample"
#: Rough seconds of each chapter on the sample, to start the longest runs first.
_SECONDS = {"02": 45, "03": 40, "11": 30, "06": 20, "04": 17, "05": 15}
#: Columns of the sample survey that a user's file may lack: the same list as the plan-level test's.
OPTIONAL_COLUMNS = tuple(_OPTIONAL)


@functools.cache
def _notebook(source: Path):
    import jupytext

    return jupytext.read(source)


def _code_that_runs(source: Path, skipped: dict[str, str]) -> str:
    """The code of a chapter's cells that run when the given sections are skipped."""
    nb = skip_sections(copy.deepcopy(_notebook(source)), skipped)
    return "\n".join(c.source for c in nb.cells if c.cell_type == "code")


def _reads(code: str, columns) -> frozenset[str]:
    """The columns whose name the code uses (as a word, not as part of a longer name)."""
    return frozenset(c for c in columns if re.search(rf"(?<![\w]){re.escape(c)}(?![\w])", code))


class _Planner:
    """Plan keys of the chapters for a sample survey with some optional columns removed."""

    def __init__(self, src: Path, survey: pd.DataFrame, folder: Path, columns=OPTIONAL_COLUMNS, others=()):
        self.src, self.survey, self.folder, self.columns = src, survey, folder, tuple(columns)
        self.others = tuple(others)
        self.sources = {s.stem: s for s in chapter_sources(src)}
        self._keys: dict[frozenset, dict] = {}

    def data(self, removed) -> Path:
        """A data folder holding the sample survey without the ``removed`` columns, and the sample's
        other files as they are (so that the chapters built on them are planned too); the truth file
        is left out, as a user's own data have none."""
        removed = sorted(removed)
        folder = self.folder / ("no-" + "-".join(removed) if removed else "full")
        if not folder.exists():
            folder.mkdir(parents=True)
            self.survey.drop(columns=removed).to_csv(folder / "survey.csv", index=False)
            for f in self.others:
                shutil.copy2(f, folder / f.name)
        return folder

    def keys(self, removed) -> dict[str, tuple]:
        """For each chapter that runs: (sections skipped, optional columns it reads that are present)."""
        removed = frozenset(removed)
        if removed not in self._keys:
            out = {}
            for plan in plan_chapters(self.src, self.data(removed)):
                if plan.runs:
                    skipped = plan.skipped
                    code = _code_that_runs(self.sources[plan.name], skipped)
                    out[plan.name] = (frozenset(skipped), _reads(code, set(self.columns) - removed), plan.skipped)
            self._keys[removed] = out
        return self._keys[removed]

    def key(self, chapter: str, removed):
        got = self.keys(removed).get(chapter)
        return None if got is None else got[:2]

    def runs(self) -> list[tuple[str, frozenset]]:
        """The chapter runs that removals call for: each a chapter and the columns removed for it."""
        groups: dict[tuple[str, frozenset], set[str]] = {}
        for col in self.columns:
            for chapter in self.keys([col]):
                if self.key(chapter, [col]) != self.key(chapter, []):
                    groups.setdefault((chapter, self.keys([col])[chapter][0]), set()).add(col)
        # one chapter, several removals with the same skipped sections: one run with all removed,
        # provided the chapter's plan is then the same as with each removed alone
        items: list[tuple[str, frozenset]] = []
        for (chapter, skipped), cols in sorted(groups.items(), key=lambda kv: (kv[0][0], sorted(kv[1]))):
            together = frozenset(cols)
            got = self.keys(together).get(chapter)
            if got is not None and got[0] == skipped:
                items.append((chapter, together))
            else:
                items += [(chapter, frozenset([c])) for c in sorted(cols)]
        return items


def test_plan_keys_count_a_column_read_but_not_declared(tmp_path):
    """A chapter that reads a column it does not declare gets a key of its own when the column is
    removed; one that neither reads nor declares it keeps the full data's key."""
    from test_own_data_safety import _chapter

    src = tmp_path / "nb"  # chapters that need the survey alone (no needs block)
    _chapter(src, "# 01\n\n```{code-cell} ipython3\nx = survey['eal']\n```\n", "01_reads.md")
    _chapter(src, "# 02\n\n```{code-cell} ipython3\nx = survey['gender']\n```\n", "02_other.md")
    survey = pd.DataFrame({"pupil_id": ["a", "b"], "eal": ["0", "1"], "gender": ["boy", "girl"]})
    planner = _Planner(src, survey, tmp_path / "data", columns=("eal", "gender"))
    assert planner.key("01_reads", ["eal"]) != planner.key("01_reads", [])
    assert planner.key("01_reads", ["gender"]) == planner.key("01_reads", [])
    assert planner.runs() == [("01_reads", frozenset({"eal"})), ("02_other", frozenset({"gender"}))]


@pytest.mark.slow
def test_removing_any_optional_column_runs_or_skips_each_chapter(tmp_path, monkeypatch):
    """For every chapter, each optional column removed from the sample survey: the chapter is
    skipped by its plan, or runs with no cell that raises (no failed section)."""
    monkeypatch.delenv("BELONGING_EXPECTED", raising=False)  # own data: no sample results to compare
    monkeypatch.delenv("BELONGING_RECORD_DIR", raising=False)
    survey = pd.read_csv(SAMPLE / "survey.csv", dtype=str, keep_default_na=False)
    assert set(OPTIONAL_COLUMNS) <= set(survey.columns)
    others = [f for f in SAMPLE.iterdir() if f.is_file() and f.name not in ("survey.csv", "TRUTH.json", "README.md")]
    planner = _Planner(NOTEBOOKS, survey, tmp_path / "data", others=others)
    runs = planner.runs()
    assert runs, "no removal changes any chapter's plan: the test would run nothing"
    jobs = sorted(runs, key=lambda job: -_SECONDS.get(job[0][:2], 60))  # longest first: the workers finish together

    def run(n: int, job) -> tuple:
        chapter, removed = job
        got = execute_chapters(
            NOTEBOOKS,
            tmp_path / f"nb{n}",
            parameters={"DATA_DIR": str(planner.data(removed))},
            only=[chapter],
            workers=1,
            cwd=str(ROOT),
            contain=True,
            skipped={chapter: planner.keys(removed)[chapter][2]},
        )
        assert [r.name for r in got] == [chapter]
        return sorted(removed), chapter, got[0].error, got[0].failed

    # one queue of chapter runs over two workers (each run is a kernel of its own)
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = list(pool.map(run, range(len(jobs)), jobs))
    assert [d for d in done if d[2] or d[3]] == []
