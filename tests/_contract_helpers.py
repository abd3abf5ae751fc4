"""What the contract tests (test_contracts*.py) share: one copy of each helper and setting."""

from __future__ import annotations

import re

import numpy as np
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st

from belonging_lib import BelongingError

FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SLOWER = settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SLOW = settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

labels = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=8)
scales = st.sampled_from([1e-9, 1e-3, 1.0, 1e3, 1e9])   # multiplies the data: tiny to huge values
odd = st.sampled_from([False, False, True])              # an odd feature, in a third of the examples


def attempt(fn, *args, refuse=None, **kwargs):
    """Call ``fn`` on a drawn input; its result, or None when it refused the input for a warranted reason.

    ``refuse`` maps each problem the drawn input may have to whether it has it: a regular expression
    that the library's message for that problem matches (case-insensitive), and a bool computed from
    the input.  A :class:`BelongingError` is warranted only when its message matches a problem the
    input has; any other library error fails the test, so an estimator that refused good input (or
    raised on every input) cannot pass.  With no ``refuse`` the input is known to be good and the
    call must not raise.  Errors that are not the library's propagate (a bug in any case).
    """
    try:
        return fn(*args, **kwargs)
    except BelongingError as exc:
        message = str(exc).strip()
        name = getattr(fn, "__name__", "call")
        assert message, f"{type(exc).__name__} raised without a message"
        has = [pattern for pattern, present in (refuse or {}).items() if present]
        assert has, f"{name} refused an input with none of the problems it may have: {type(exc).__name__}: {message}"
        assert any(re.search(pattern, message, re.IGNORECASE) for pattern in has), (
            f"{name} raised {type(exc).__name__}: {message!r}, which names none of this input's problems "
            f"({', '.join(map(repr, has))})")
        event(f"{name} raised {type(exc).__name__}: {message[:70]}")
        return None


def refuses(fn, *args, names, error=BelongingError, **kwargs) -> str:
    """Call ``fn`` on a known-bad input: it must raise ``error`` with a message matching ``names``."""
    try:
        fn(*args, **kwargs)
    except error as exc:
        message = str(exc)
        assert re.search(names, message, re.IGNORECASE), f"the message {message!r} does not name {names!r}"
        return message
    raise AssertionError(f"{getattr(fn, '__name__', 'call')} accepted a known-bad input (expected {error.__name__} "
                         f"naming {names!r})")


def fitted_exactly(X, codes) -> bool:
    """Whether some cluster's hat block has an eigenvalue of 1 (CR2 is then undefined)."""
    X = np.asarray(X, dtype=float)
    codes = np.asarray(codes)
    norms = np.sqrt((X * X).sum(axis=0))
    if len(X) <= X.shape[1] or not (norms > 0).all():
        return True
    X = X / norms      # the hat matrix does not depend on the columns' scale
    M = np.linalg.pinv(X.T @ X)
    return any(np.linalg.eigvalsh(X[codes == c] @ M @ X[codes == c].T).max() > 1 - 1e-9 for c in np.unique(codes))


def finite(*values) -> bool:
    """True when every value is a finite number."""
    return all(np.isfinite(np.asarray(v, dtype=float)).all() for v in values)
