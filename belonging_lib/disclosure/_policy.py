"""The disclosure policy, and the settings the disclosure layer holds for the running code.

The settings (the project's default policy set by :func:`set_default_policy`,
the active :class:`~belonging_lib.disclosure.DisclosureContext` and the
automatic contexts of data sets) are one immutable value held in a
``contextvars.ContextVar``, never in a module global: code run in
another context (a thread, an asyncio task) starts from the defaults, and a
change is a new value set in the running context.
"""

from __future__ import annotations

import contextvars
import dataclasses
import json
import os
from typing import Any

import numpy as np

from .._errors import DataError

_POLICY_KEYS = ("threshold", "symbol", "secondary", "enabled", "nk_n", "nk_k", "p_ratio", "min_residual_df")


def _whole(value) -> bool:
    return not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, np.integer))


@dataclasses.dataclass(frozen=True)
class DisclosurePolicy:
    """The project's disclosure rule.

    Parameters
    ----------
    threshold : int
        Smallest number of pupils a cell may describe (default 10); a whole
        number of at least 1.
    symbol : str
        Shown in place of a suppressed cell (default ``"[c]"``, "confidential").
    secondary : bool
        Apply secondary suppression (default ``True``).
    enabled : bool
        ``False`` switches suppression off (only for secure, non-published work).
        Must be ``True`` or ``False``: a string such as ``"no"`` is an error.
    nk_n, nk_k : int, float
        The (n, k) dominance rule of magnitude tables: a cell whose ``nk_n``
        largest contributions make up at least ``nk_k`` of its total is
        suppressed (default n = 2, k = 0.9).
    p_ratio : float
        The p% rule: a cell is suppressed when its total less the two largest
        contributions is below ``p_ratio`` times the largest (default 0.1).
    min_residual_df : int
        Fewest residual degrees of freedom a released model may have (default 10).

    Examples
    --------
    >>> DisclosurePolicy(threshold=5).threshold
    5
    """

    threshold: int = 10
    symbol: str = "[c]"
    secondary: bool = True
    enabled: bool = True
    nk_n: int = 2
    nk_k: float = 0.9
    p_ratio: float = 0.1
    min_residual_df: int = 10

    def __post_init__(self):
        if not _whole(self.threshold) or self.threshold < 1:
            raise DataError(
                f"DisclosurePolicy: `threshold` must be a whole number of at least 1, "
                f"but {self.threshold!r} was passed."
            )
        for name in ("secondary", "enabled"):
            value = getattr(self, name)
            if not isinstance(value, (bool, np.bool_)):
                raise DataError(
                    f"DisclosurePolicy: `{name}` must be True or False, but {value!r} was "
                    "passed (a string such as 'no' would count as true)."
                )
            object.__setattr__(self, name, bool(value))
        if not isinstance(self.symbol, str) or not self.symbol.strip():
            raise DataError(f"DisclosurePolicy: `symbol` must be a non-empty string, but {self.symbol!r} was passed.")
        if not _whole(self.nk_n) or self.nk_n < 1:
            raise DataError(
                f"DisclosurePolicy: `nk_n` must be a whole number of at least 1, but {self.nk_n!r} was passed."
            )
        for name, lo_open in (("nk_k", True), ("p_ratio", False)):
            value = getattr(self, name)
            ok = (
                isinstance(value, (int, float, np.integer, np.floating))
                and not isinstance(value, bool)
                and np.isfinite(value)
                and (0 < value <= 1 if lo_open else 0 <= value <= 1)
            )
            if not ok:
                rng = "above 0 and at most 1" if lo_open else "from 0 to 1"
                raise DataError(f"DisclosurePolicy: `{name}` must be a proportion {rng}, but {value!r} was passed.")
            object.__setattr__(self, name, float(value))
        if not _whole(self.min_residual_df) or self.min_residual_df < 0:
            raise DataError(
                f"DisclosurePolicy: `min_residual_df` must be a whole number of at least 0, "
                f"but {self.min_residual_df!r} was passed."
            )

    @property
    def footnote(self) -> str:
        return (
            f"{self.symbol} = suppressed: the cell describes fewer than {self.threshold} pupils, "
            "or would let a suppressed cell be worked out from a total."
        )

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> DisclosurePolicy:
        """Read a policy from a JSON or YAML file."""
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            raise DataError(f"Disclosure config {str(path)!r} cannot be read: {exc.strerror}.") from None
        try:
            conf = json.loads(text)
        except json.JSONDecodeError:
            import yaml

            try:
                conf = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                raise DataError(f"Disclosure config {str(path)!r} is neither JSON nor YAML: {exc}") from None
        if not isinstance(conf, dict):
            raise DataError(f"Disclosure config {str(path)!r} must hold a mapping such as {{'threshold': 10}}.")
        unknown = set(conf) - set(_POLICY_KEYS)
        if unknown:
            raise DataError(
                f"Disclosure config {str(path)!r} has unknown keys {sorted(unknown)} (known: {list(_POLICY_KEYS)})."
            )
        return cls(**conf)


@dataclasses.dataclass(frozen=True)
class _Settings:
    """What the disclosure layer holds for the running code (one immutable value).

    ``policy``: the default policy set by :func:`set_default_policy`
    (``None``: the environment, else threshold 10).  ``context``: the active
    disclosure context (``None``: none).  ``automatic``: the automatic
    contexts of data sets, as ``(key, context)`` pairs, the most recent last.
    """

    policy: DisclosurePolicy | None = None
    context: Any = None
    automatic: tuple = ()


# The default is immutable (a frozen dataclass): every change sets a new value.
_SETTINGS: contextvars.ContextVar[_Settings] = contextvars.ContextVar("belonging_lib.disclosure", default=_Settings())  # noqa: B039


def _settings() -> _Settings:
    """The settings in force in the running context."""
    return _SETTINGS.get()


def _change(**changes) -> None:
    """Set new settings in the running context (the fields named changed, the others kept)."""
    _SETTINGS.set(dataclasses.replace(_SETTINGS.get(), **changes))


def set_default_policy(policy: DisclosurePolicy | None) -> None:
    """Set the project's default policy (``None`` returns to the environment/default)."""
    if policy is not None and not isinstance(policy, DisclosurePolicy):
        raise DataError("set_default_policy expects a DisclosurePolicy or None.")
    _change(policy=policy)


def get_default_policy() -> DisclosurePolicy:
    """The policy in force: set_default_policy, else the environment, else threshold 10."""
    chosen = _settings().policy
    if chosen is not None:
        return chosen
    conf = os.environ.get("BELONGING_DISCLOSURE_CONFIG")
    if conf:
        return DisclosurePolicy.from_file(conf)
    thr = os.environ.get("BELONGING_DISCLOSURE_THRESHOLD")
    if thr:
        try:
            value = int(thr.strip())
        except ValueError:
            value = None
        if value is None or value < 1:
            raise DataError(
                f"BELONGING_DISCLOSURE_THRESHOLD must be a whole number of pupils of at "
                f"least 1 (such as 10), not {thr!r}."
            )
        return DisclosurePolicy(threshold=value)
    return DisclosurePolicy()
