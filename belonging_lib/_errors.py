"""Exception and warning types of belonging_lib.

Every input check in the library raises one of these (never ``assert``), so
callers can catch the library's own errors with ``except BelongingError``.
This module imports nothing from the rest of the package.
"""

__all__ = [
    "BelongingError",
    "DataError",
    "ColumnError",
    "ModelError",
    "DisclosureError",
    "BelongingWarning",
]


class BelongingError(Exception):
    """Base class of every error raised on purpose by belonging_lib."""


class DataError(BelongingError, ValueError):
    """The data hold a value the analysis cannot use.

    The message names the column, the first offending rows (and how many
    there are) and the offending value.
    """


class ColumnError(BelongingError, ValueError):
    """A column the analysis needs is absent, or a column role is invalid.

    Subclasses ``ValueError`` rather than ``KeyError`` so the message prints
    without extra quoting.
    """


class ModelError(BelongingError, RuntimeError):
    """A model cannot be estimated (singular design, no variation, ...)."""


class DisclosureError(BelongingError):
    """An output would reveal a group smaller than the disclosure threshold."""


class BelongingWarning(UserWarning):
    """Something worth knowing happened (a boundary fit, rows excluded, ...)."""
