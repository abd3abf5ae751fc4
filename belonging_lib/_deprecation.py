"""Keyword arguments renamed in one release and still read, with a warning, until the next.

Imports nothing from the rest of the package.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["renamed_keywords"]


def renamed_keywords(**old_to_new: str) -> Callable[[F], F]:
    """Let a function still take its old keyword names, with a :class:`DeprecationWarning`.

    ``@renamed_keywords(by="group")`` passes ``f(by="x")`` on as ``f(group="x")`` and warns; giving
    both names is a ``TypeError``.  The signature (``inspect.signature``) shows the new names only.
    """

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            for old, new in old_to_new.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(
                            f"{fn.__name__}() got both `{old}` and its new name `{new}`; give `{new}` only."
                        )
                    warnings.warn(
                        f"{fn.__name__}({old}=...) is now {fn.__name__}({new}=...); the old name "
                        "will stop working in the next release.",
                        DeprecationWarning,
                        stacklevel=2,
                    )
                    kwargs[new] = kwargs.pop(old)
            return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
