"""Optional dependencies: which extra of the package brings each one, and a one-line error naming it.

``pip install belonging_lib`` brings the library; the chapters, the book and ``belonging run`` need
the ``notebooks`` extra (Jupyter, jupytext, papermill, Sphinx and myst-nb). A command that needs an
extra that is not installed stops at once with :class:`MissingExtraError`, whose one-line message
says which extra to install, instead of failing half-way with ``ModuleNotFoundError``.

This is a base module: it imports only :mod:`belonging_lib._errors`.
"""

from __future__ import annotations

from importlib.util import find_spec

from ._errors import BelongingError

__all__ = ["EXTRAS", "MissingExtraError", "require_extra", "extra_of_module"]

#: Import names of the modules each extra brings (``pyproject.toml``'s optional dependencies;
#: ``tests/test_packaging.py`` keeps the two in step).
EXTRAS = {
    "notebooks": (
        "jupyterlab",
        "ipykernel",
        "jupytext",
        "papermill",
        "nbconvert",
        "nbclient",
        "nbformat",
        "sphinx",
        "myst_nb",
        "sphinx_book_theme",
        "sphinx_togglebutton",
        "sphinx-mathjax-offline",
    ),
    # Dask DataFrames in multilevel() and SurveyDesign: dask.dataframe, dask.distributed, and pyarrow to read Parquet
    "dask": ("dask", "distributed", "pyarrow"),
}


class MissingExtraError(BelongingError, ImportError):
    """A command needs an optional dependency that is not installed; the message names the extra."""


def _installed(module: str) -> bool:
    try:
        return find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _message(extra: str, missing) -> str:
    return (
        f"needs the {extra} extra ({', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed): "
        f"pip install 'belonging_lib[{extra}]'"
    )


def require_extra(extra: str) -> None:
    """Raise :class:`MissingExtraError` when a module of ``extra`` is not installed."""
    missing = [m for m in EXTRAS[extra] if not _installed(m)]
    if missing:
        raise MissingExtraError(_message(extra, missing))


def extra_of_module(name: str | None) -> str | None:
    """The one-line advice for a module that could not be imported, if an extra brings it."""
    top = (name or "").split(".")[0]
    for extra, modules in EXTRAS.items():
        if top in modules:
            return _message(extra, [top])
    return None
