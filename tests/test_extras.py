"""A command whose optional dependencies are missing says, in one line, which extra to install."""

import re
import sys
import tomllib
from pathlib import Path

import pytest

from belonging_lib._optional import EXTRAS, MissingExtraError, extra_of_module, require_extra
from belonging_lib.cli import main

ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / "tests" / "fixtures"


def _import_name(spec: str) -> str:
    name = re.split(r"[<>=!~ \[;]", spec.strip(), maxsplit=1)[0]
    return name if name == "sphinx-mathjax-offline" else name.replace("-", "_").lower()


def test_the_extras_table_lists_every_module_of_each_extra_in_pyproject():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for extra, modules in EXTRAS.items():
        assert sorted(modules) == sorted(_import_name(s) for s in extras[extra]), extra


def test_run_without_jupytext_names_the_notebooks_extra_in_one_line_and_does_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "jupytext", None)  # as if jupytext were not installed
    out = tmp_path / "out"
    code = main(
        ["run", "--data", str(FIX / "own_survey.csv"), "--codebook", str(FIX / "own_codebook.csv"), "--out", str(out)]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == (
        "belonging run: error: needs the notebooks extra (jupytext is not installed): "
        "pip install 'belonging_lib[notebooks]'"
    )
    assert not out.exists(), "nothing is mapped or written before the missing extra is reported"


def test_a_module_of_an_extra_missing_inside_any_command_is_a_one_line_error_with_status_2(capsys, monkeypatch):
    import belonging_lib.cli as cli

    def needs_papermill(args):
        raise ModuleNotFoundError("No module named 'papermill'", name="papermill")

    monkeypatch.setattr(cli, "_cmd_validate", needs_papermill)
    assert cli.main(["validate", "--data", "a.csv", "--codebook", "b.csv"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err] and "pip install 'belonging_lib[notebooks]'" in err and "bug" not in err


def test_a_module_no_extra_brings_is_still_reported_as_a_bug(capsys, monkeypatch):
    import belonging_lib.cli as cli

    def broken(args):
        raise ModuleNotFoundError("No module named 'not_a_dependency'", name="not_a_dependency")

    monkeypatch.setattr(cli, "_cmd_validate", broken)
    monkeypatch.delenv("BELONGING_DEBUG", raising=False)
    assert cli.main(["validate", "--data", "a.csv", "--codebook", "b.csv"]) == 3
    assert extra_of_module("not_a_dependency") is None


def test_require_extra_lists_every_missing_module(monkeypatch):
    monkeypatch.setitem(sys.modules, "papermill", None)
    monkeypatch.setitem(sys.modules, "myst_nb", None)
    with pytest.raises(MissingExtraError, match=r"\(papermill, myst_nb are not installed\)"):
        require_extra("notebooks")


def test_the_book_command_without_the_extra_is_one_line_with_status_2(capsys, monkeypatch, tmp_path):
    from belonging_lib.book import main as book_main

    monkeypatch.setitem(sys.modules, "papermill", None)
    assert book_main(["--out", str(tmp_path / "b"), "--only", "00"]) == 2
    assert "pip install 'belonging_lib[notebooks]'" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()
