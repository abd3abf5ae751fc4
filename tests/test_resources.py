"""Where the course's files are found: the packaged copy first, the checkout's folders otherwise."""

from pathlib import Path

import pytest

import belonging_lib._resources as res
from belonging_lib._errors import DataError

ROOT = Path(__file__).resolve().parents[1]


def test_in_a_checkout_the_course_is_read_from_the_repository_folders():
    assert res.checkout_root() == ROOT
    for name, folder in res.COURSE_FOLDERS.items():
        assert res.course_path(name) == ROOT / folder
        assert res.course_path(name).is_dir(), folder
    with pytest.raises(KeyError):
        res.course_path("tests")


def test_a_packaged_copy_is_read_before_the_checkout(tmp_path, monkeypatch):
    package = tmp_path / "belonging_lib"
    (package / "_course" / "sample").mkdir(parents=True)
    monkeypatch.setattr(res.resources, "files", lambda name: package)
    assert res.course_path("sample") == package / "_course" / "sample"
    assert res.course_path("docs") == ROOT / "docs"  # not packaged here: the checkout's


def test_load_sample_reads_the_course_sample():
    from belonging_lib.datasets import sample_dir

    assert sample_dir() == res.course_path("sample")


def test_copy_course_never_overwrites_a_file_the_user_has(tmp_path):
    mine = tmp_path / "notebooks" / "02_measuring_belonging.md"
    mine.parent.mkdir(parents=True)
    mine.write_text("my notes", encoding="utf-8")
    written, kept = res.copy_course(tmp_path)
    assert kept == [mine] and mine.read_text(encoding="utf-8") == "my notes"
    chapters = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.md"))
    assert sorted(p.name for p in (tmp_path / "notebooks").glob("[0-9][0-9]_*.md")) == chapters
    assert (tmp_path / "jupyter-config" / "jupyter_server_config.json") in written
    assert not [p for p in written if "__pycache__" in p.parts or ".ipynb_checkpoints" in p.parts]


def test_the_simulator_never_writes_into_an_installed_package(monkeypatch):
    from belonging_lib.simulate import sample

    monkeypatch.setattr(res, "checkout_root", lambda: None)
    with pytest.raises(DataError, match="name the folder"):
        sample.write_sample_data()


def test_setup_py_ships_every_course_folder_and_the_sdist_carries_them():
    setup = (ROOT / "setup.py").read_text(encoding="utf-8")
    assert "COURSE_FOLDERS" in setup and "_resources.py" in setup
    manifest = (ROOT / "MANIFEST.in").read_text(encoding="utf-8")
    for folder in res.COURSE_FOLDERS.values():
        assert f"graft {folder}\n" in manifest, folder
