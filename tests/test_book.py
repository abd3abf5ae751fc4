"""The book's machinery: execution, caching, glue, glossary links and warnings as errors.

Each test builds a two-chapter book in a temporary folder with the project's
Sphinx configuration (``docs/conf.py``) and a one-page API reference, so that
it takes seconds; the full book is built by ``make notebooks`` and checked in
a browser by ``tests/test_site.py``.
"""

import re
import shutil
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("myst_nb")
pytest.importorskip("papermill")

from belonging_lib.book import (OWN_DATA_NOTICE, SAMPLE_NOTICE, BuildError, build_book,  # noqa: E402
                                execute_chapters)

ROOT = Path(__file__).resolve().parents[1]
HEADER = textwrap.dedent("""\
    ---
    jupytext:
      text_representation:
        extension: .md
        format_name: myst
        format_version: 0.13
    kernelspec:
      display_name: Python 3
      language: python
      name: python3
    ---
    """)

CHAPTER_A = HEADER + textwrap.dedent("""\
    # 00 · A chapter

    > **All data in this collection are synthetic.** Simulated pupils only.

    ```{code-cell} ipython3
    :tags: [parameters]

    DATA_DIR = None
    ```

    ```{code-cell} ipython3
    import numpy as np
    from IPython.display import Markdown
    from myst_nb import glue

    share = np.float64(0.4321)
    glue("share", share, display=False)
    glue("verdict", Markdown("**above**" if share > 0.3 else "**below**"), display=False)
    glue("n", np.int64(1200), display=False)
    ```

    The {term}`intraclass correlation` is {glue:text}`share:.2f`, {glue:md}`verdict` the line, in {glue:text}`n:,d` pupils.

    **1.** An exercise.

    ```{code-cell} ipython3
    :tags: [solution]

    print("the worked answer")
    ```

    +++ {"tags": ["solution"]}

    The prose of the solution.
    """)

CHAPTER_B = HEADER + textwrap.dedent("""\
    # 01 · Another chapter

    > **Synthetic data.** The panel was simulated.

    ```{code-cell} ipython3
    x = 1 + 1
    ```

    Two is {glue:text}`two`.

    ```{code-cell} ipython3
    from myst_nb import glue
    glue("two", x, display=False)
    ```
    """)

GLOSSARY = textwrap.dedent("""\
    # Glossary

    ```{glossary}
    intraclass correlation
      The share of the variation that lies between groups.
    ```
    """)


def _project(tmp_path, chapters=None, glossary=GLOSSARY):
    src = tmp_path / "notebooks"
    src.mkdir()
    for name, text in (chapters or {"00_a.md": CHAPTER_A, "01_b.md": CHAPTER_B}).items():
        (src / name).write_text(text, encoding="utf-8")
    (src / "glossary.md").write_text(glossary, encoding="utf-8")
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy2(ROOT / "docs" / "conf.py", docs / "conf.py")
    shutil.copytree(ROOT / "docs" / "_static", docs / "_static")
    (docs / "api").mkdir()
    (docs / "api" / "index.md").write_text(textwrap.dedent("""\
        # API reference

        ```{eval-rst}
        .. autofunction:: belonging_lib.notebook.recorded
        ```
        """), encoding="utf-8")
    return src, docs


def _build(tmp_path, src, docs, **kwargs):
    executed = tmp_path / "build" / "notebooks"
    runs = execute_chapters(src, executed, workers=2, cache_dir=tmp_path / "build" / ".cache",
                            parameters=kwargs.pop("parameters", None))
    assert all(r.error is None for r in runs), [r.error for r in runs]
    index = build_book(executed, tmp_path / "build" / "site", glossary=src / "glossary.md", docs=docs,
                       **kwargs)
    return runs, index


def test_book_renders_glue_terms_solutions_and_downloads(tmp_path):
    src, docs = _project(tmp_path)
    runs, index = _build(tmp_path, src, docs)
    assert [r.cached for r in runs] == [False, False]
    site = index.parent
    page = (site / "00_a.html").read_text(encoding="utf-8")
    text = re.sub(r"<[^>]+>", "", page)
    assert "0.43" in text and "above the line" in text            # glue: computed, formatted
    assert "<strong>above</strong>" in page and "1,200 pupils" in text
    assert 'href="glossary.html#term-intraclass-correlation"' in page
    assert "Show solution" in page and "dropdown" in page          # folded code and prose solutions
    assert SAMPLE_NOTICE in page                                   # the notice on every page
    home = (site / "index.html").read_text(encoding="utf-8")
    for name in ("00_a", "01_b"):
        assert f'href="{name}.html"' in home                       # the glob toctree found both
        assert re.search(rf'href="_downloads/[0-9a-f]+/{name}\.ipynb"', home)
    assert (site / "_sources" / "00_a.ipynb").exists()             # the download button's file
    assert "2" in re.sub(r"<[^>]+>", "", (site / "01_b.html").read_text(encoding="utf-8"))
    # a second build takes every chapter from the cache; a changed chapter runs again
    runs, _ = _build(tmp_path, src, docs)
    assert [r.cached for r in runs] == [True, True]
    (src / "01_b.md").write_text(CHAPTER_B.replace("1 + 1", "2 + 0"), encoding="utf-8")
    runs, _ = _build(tmp_path, src, docs)
    assert [r.cached for r in runs] == [True, False]


def test_own_data_book_is_not_called_synthetic(tmp_path):
    src, docs = _project(tmp_path)
    _, index = _build(tmp_path, src, docs, notice=OWN_DATA_NOTICE, chapter_notice=OWN_DATA_NOTICE,
                      title="Your survey")
    for page in ("index.html", "00_a.html", "01_b.html"):
        html = (index.parent / page).read_text(encoding="utf-8")
        assert "synthetic" not in re.sub(r"<[^>]+>", "", html).lower().replace(
            OWN_DATA_NOTICE.lower(), ""), page
        assert OWN_DATA_NOTICE in html


def test_a_missing_glossary_term_fails_the_build(tmp_path):
    src, docs = _project(tmp_path, chapters={"00_a.md": CHAPTER_A.replace(
        "{term}`intraclass correlation`", "{term}`intraclass corelation`")})
    with pytest.raises(BuildError, match="intraclass corelation"):
        _build(tmp_path, src, docs)


def test_a_broken_cross_reference_fails_the_build(tmp_path):
    src, docs = _project(tmp_path, chapters={"00_a.md": CHAPTER_A.replace(
        "An exercise.", "An exercise on {func}`belonging_lib.reliability.no_such_function` "
        "(see [the transitions chapter](07_no_such_chapter.md)).")})
    with pytest.raises(BuildError) as err:
        _build(tmp_path, src, docs)
    assert "no_such_function" in str(err.value) and "07_no_such_chapter" in str(err.value)


def test_a_missing_glue_key_fails_the_build(tmp_path):
    src, docs = _project(tmp_path, chapters={"01_b.md": CHAPTER_B.replace("{glue:text}`two`",
                                                                          "{glue:text}`three`")})
    with pytest.raises(BuildError, match="three"):
        _build(tmp_path, src, docs)


def test_a_failing_cell_names_the_chapter_and_the_cell(tmp_path):
    src, _docs = _project(tmp_path, chapters={"01_b.md": CHAPTER_B.replace(
        "x = 1 + 1", "x = 1 + 1\nraise ValueError('deliberate failure')")})
    runs = execute_chapters(src, tmp_path / "out", workers=1)
    (run,) = runs
    assert run.error is not None
    assert "code cell 1" in run.error and "line 17 of 01_b.md" in run.error  # the cell's first line
    assert "ValueError: deliberate failure" in run.error


def test_command_line_fails_on_a_failing_cell(tmp_path, capsys):
    from belonging_lib.book import main

    src, _docs = _project(tmp_path, chapters={"01_b.md": CHAPTER_B.replace(
        "x = 1 + 1", "x = 1 / 0")})
    assert main(["--src", str(src), "--out", str(tmp_path / "build")]) == 1
    err = capsys.readouterr().err
    assert "chapter 01_b" in err and "ZeroDivisionError" in err
    assert not (tmp_path / "build" / "site" / "index.html").exists()
