"""What the contract tests (test_contracts*.py) share: one copy of each helper and setting."""

from __future__ import annotations

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


def attempt(fn, *args, **kwargs):
    """Call ``fn``; return its result, or None after checking a library error's message."""
    try:
        return fn(*args, **kwargs)
    except BelongingError as exc:
        assert str(exc).strip(), f"{type(exc).__name__} raised without a message"
        event(f"{getattr(fn, '__name__', 'call')} raised {type(exc).__name__}: {str(exc)[:70]}")
        return None


def finite(*values) -> bool:
    """True when every value is a finite number."""
    return all(np.isfinite(np.asarray(v, dtype=float)).all() for v in values)
