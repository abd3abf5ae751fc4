"""Where the course's own files are: inside the installed package, or in a source checkout.

The sample data, the chapters (with the glossary), the book's configuration and the JupyterLab
configuration live at the top of the repository (``data/sample/``, ``notebooks/``, ``docs/``,
``jupyter-config/``), where ``make lab``, ``make notebooks`` and the tests use them. A wheel
carries copies of the same folders as package data under ``belonging_lib/_course/`` (the build
step in ``setup.py`` puts them there), read through :mod:`importlib.resources`. A source checkout
or an editable install has no ``_course/`` folder and reads the repository's folders.

This is a base module: it imports nothing else of the package.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["COURSE_FOLDERS", "course_path", "checkout_root", "copy_course"]

#: The course's folders shipped in the wheel: name under ``belonging_lib/_course/`` -> folder of the
#: repository it is copied from (``setup.py`` reads this mapping, so the two cannot drift apart).
COURSE_FOLDERS = {
    "sample": "data/sample",
    "notebooks": "notebooks",
    "docs": "docs",
    "jupyter-config": "jupyter-config",
}

#: Entries of those folders that are not part of the course (written by Jupyter or Python at run time).
COURSE_IGNORED = ("__pycache__", "*.pyc", ".ipynb_checkpoints", "migrated", "lab", "build")

_PACKAGE = "belonging_lib"
_BUNDLE = "_course"


def checkout_root() -> Path | None:
    """The repository the package is imported from, or ``None`` for an installed wheel."""
    root = Path(__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() and (root / "notebooks").is_dir() else None


def course_path(name: str) -> Path:
    """Folder of the course's ``name`` (one of :data:`COURSE_FOLDERS`): packaged copy first.

    A wheel is installed as files on disk, so the packaged folder is a real path (the package is not
    meant to be imported from a zip file).
    """
    if name not in COURSE_FOLDERS:
        raise KeyError(f"{name!r} is not one of the course's folders {sorted(COURSE_FOLDERS)}")
    packaged = resources.files(_PACKAGE) / _BUNDLE / name
    if packaged.is_dir():
        return Path(str(packaged))
    root = checkout_root()
    if root is not None:
        return root / COURSE_FOLDERS[name]
    # neither: an installation made without the build step; say where the files were looked for
    return Path(str(packaged))


def copy_course(out) -> tuple[list[Path], list[Path]]:
    """Copy the chapters (with the glossary) and the JupyterLab configuration into the folder ``out``.

    ``out/notebooks/`` receives the chapters' MyST sources, ``out/jupyter-config/`` the configuration
    that opens them as notebooks. A file already there is kept as it is (it may hold the user's own
    edits), never overwritten. Returns the files written and the files kept.
    """
    import fnmatch
    import shutil

    out = Path(out)
    written: list[Path] = []
    kept: list[Path] = []
    for name in ("notebooks", "jupyter-config"):
        source = course_path(name)
        for path in sorted(source.rglob("*")):
            rel = path.relative_to(source)
            if not path.is_file() or any(fnmatch.fnmatch(part, pat) for part in rel.parts for pat in COURSE_IGNORED):
                continue
            target = out / name / rel
            if target.exists():
                kept.append(target)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            written.append(target)
    return written, kept
