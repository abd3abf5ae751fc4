"""When a progress bar is shown, and how: one rule for the whole package (not public).

Every loop that may run for a while (bootstraps, re-randomisations, simulated trials, writing the
sample data) asks :func:`show_progress` whether to show a bar and draws it with
:func:`progress_bar`.

The rule for ``progress=None`` (the default of the public functions):

- a bar is shown when the work is estimated to take :data:`MIN_SECONDS` (2 s) or more, and
- someone is watching: standard error is a terminal or the code runs in a Jupyter kernel, and
- the code is not running under pytest or continuous integration (the ``CI`` variable).

``progress=True`` or ``False`` is obeyed as given.  The environment variable
``BELONGING_PROGRESS`` overrides both: ``0`` (or ``off``, ``false``, ``no``) silences every bar,
``1`` (or ``on``, ``true``, ``yes``) shows a bar for every long loop whoever is watching.

The bars are tqdm's (``tqdm.auto``: a widget in a notebook, text in a terminal), left on screen
only while they run.  Imports nothing from the rest of the package.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterable

__all__ = ["ENV_VAR", "MIN_SECONDS", "show_progress", "progress_bar"]

#: The environment variable that silences (``0``) or forces (``1``) the progress bars.
ENV_VAR = "BELONGING_PROGRESS"
#: Work estimated to take this long or longer shows a bar when ``progress=None``.
MIN_SECONDS = 2.0

_OFF = {"0", "off", "false", "no"}
_ON = {"1", "on", "true", "yes"}


def _setting() -> bool | None:
    """``BELONGING_PROGRESS``: False (silence), True (force) or None (not set, or not understood)."""
    value = os.environ.get(ENV_VAR, "").strip().lower()
    if value in _OFF:
        return False
    if value in _ON:
        return True
    return None


def _someone_watching() -> bool:
    """A terminal or a Jupyter kernel, and neither pytest nor continuous integration."""
    if os.environ.get("PYTEST_CURRENT_TEST") or os.environ.get("CI"):
        return False
    try:
        if sys.stderr is not None and sys.stderr.isatty():
            return True
    except (AttributeError, ValueError):  # a replaced or closed stream
        pass
    return "ipykernel" in sys.modules


def show_progress(progress: bool | None, *, seconds: float) -> bool:
    """Whether to show a bar for work estimated to take ``seconds``, given the caller's ``progress``.

    >>> show_progress(False, seconds=100.0)
    False
    """
    setting = _setting()
    if setting is False:
        return False
    if progress is not None:
        return bool(progress)
    if seconds < MIN_SECONDS:
        return False
    return setting is True or _someone_watching()


def progress_bar(
    iterable: Iterable | None = None, *, desc: str, enabled: bool, total: int | None = None, unit: str = "it"
):
    """A tqdm bar over ``iterable`` (or one updated by hand, of ``total`` steps) when ``enabled``.

    Disabled, it is a bar that draws nothing, so callers may use ``update`` and ``with`` either way.
    A notebook without ipywidgets falls back to a text bar without a warning.
    """
    with warnings.catch_warnings():
        from tqdm import TqdmWarning

        warnings.simplefilter("ignore", TqdmWarning)
        from tqdm.auto import tqdm

        return tqdm(iterable, total=total, desc=desc, unit=unit, disable=not enabled, leave=False)
