"""The one rule for progress bars (belonging_lib._progress)."""

from __future__ import annotations

import io
import sys

import pytest

from belonging_lib import _progress
from belonging_lib._progress import progress_bar, show_progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def watched(monkeypatch):
    """A terminal outside pytest and CI, with no setting (pytest sets its variable again before each
    test's call, so ``_watched`` is called inside the test)."""
    return lambda: _watched(monkeypatch)


def _watched(monkeypatch):
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv(_progress.ENV_VAR, raising=False)
    monkeypatch.setattr(sys, "stderr", _Terminal())


def test_long_work_shows_a_bar_in_a_terminal_and_short_work_does_not(watched):
    watched()
    assert show_progress(None, seconds=_progress.MIN_SECONDS)
    assert not show_progress(None, seconds=_progress.MIN_SECONDS / 2)


def test_an_explicit_choice_is_obeyed(watched):
    watched()
    assert show_progress(True, seconds=0.0)
    assert not show_progress(False, seconds=1e6)


@pytest.mark.parametrize("where", ["PYTEST_CURRENT_TEST", "CI"])
def test_no_bar_by_default_under_tests_or_ci(watched, monkeypatch, where):
    watched()
    monkeypatch.setenv(where, "1")
    assert not show_progress(None, seconds=1e6)
    assert show_progress(True, seconds=0.0)


def test_no_bar_by_default_when_nobody_watches(watched, monkeypatch):
    watched()
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    assert not show_progress(None, seconds=1e6)


@pytest.mark.parametrize("value", ["0", "off", "False"])
def test_the_variable_silences_every_bar(watched, monkeypatch, value):
    watched()
    monkeypatch.setenv(_progress.ENV_VAR, value)
    assert not show_progress(True, seconds=1e6)
    assert not show_progress(None, seconds=1e6)


def test_the_variable_forces_a_long_run_s_bar(monkeypatch):
    monkeypatch.setenv("CI", "1")
    monkeypatch.setenv(_progress.ENV_VAR, "1")
    assert show_progress(None, seconds=1e6)
    assert not show_progress(None, seconds=0.1)
    assert not show_progress(False, seconds=1e6)


def test_a_disabled_bar_passes_the_items_through_and_counts_by_hand():
    assert list(progress_bar(range(3), desc="x", enabled=False)) == [0, 1, 2]
    with progress_bar(total=5, desc="x", enabled=False) as bar:
        bar.update(5)


def test_an_enabled_bar_writes_to_stderr(capsys):
    assert list(progress_bar(range(3), desc="counting", enabled=True)) == [0, 1, 2]
    assert "counting" in capsys.readouterr().err


def test_no_module_draws_a_bar_of_its_own():
    """Every bar goes through the one helper: no other module imports tqdm."""
    from pathlib import Path

    package = Path(_progress.__file__).parent
    own = [
        p.relative_to(package).as_posix()
        for p in package.rglob("*.py")
        if p.name != "_progress.py" and "tqdm" in p.read_text(encoding="utf-8")
    ]
    assert not own, f"modules using tqdm directly: {own}"
