"""Build step of the wheel: the course's folders ship inside the package.

Everything else is declared in ``pyproject.toml``. The chapters, the sample data, the book's
configuration and the JupyterLab configuration stay at the top of the repository (where ``make lab``,
``make notebooks`` and the tests use them); this step copies them into the wheel as package data,
under ``belonging_lib/_course/``, where ``belonging_lib._resources`` finds them through
``importlib.resources``. An editable install skips the copy: it reads the repository's folders.
The sdist carries the same folders (``MANIFEST.in``), so a wheel built from the sdist is complete.
"""

import runpy
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
_RES = runpy.run_path(str(HERE / "belonging_lib" / "_resources.py"))


class BuildWithCourse(build_py):
    """``build_py`` plus a copy of the course's folders into ``belonging_lib/_course/``."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        bundle = Path(self.build_lib) / "belonging_lib" / "_course"
        shutil.rmtree(bundle, ignore_errors=True)
        for name, folder in _RES["COURSE_FOLDERS"].items():
            source = HERE / folder
            if not source.is_dir():
                raise SystemExit(f"setup.py: the course folder {folder!r} is missing; the wheel would be incomplete")
            shutil.copytree(source, bundle / name, ignore=shutil.ignore_patterns(*_RES["COURSE_IGNORED"]))


setup(cmdclass={"build_py": BuildWithCourse})
