"""The linear-programming audit: what a reader can work out from published counts.

A reader who knows every published count and that counts are never negative
can bound an unknown count between a smallest and a largest value (two
linear programmes, :func:`feasible_interval`).  A suppressed small count is
protected when that interval is at least the threshold wide
(``_protected``).  ``_audit`` applies this to sets of pupils: the
finest groups the published sets define (``_atoms``) are the unknowns.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from .._errors import DataError

__all__ = ["FeasibleInterval", "feasible_interval"]

_TOL = 1e-6


@dataclasses.dataclass(frozen=True)
class FeasibleInterval:
    """The range a reader can work out for one unknown count (:func:`feasible_interval`).

    Attributes
    ----------
    low, high : float
        The smallest and largest value the published counts allow; ``high``
        is ``inf`` when nothing caps the count.
    """

    low: float
    high: float

    @property
    def width(self) -> float:
        """``high - low``: a suppressed small cell is protected when this is at least the threshold."""
        return self.high - self.low

    def to_frame(self) -> pd.DataFrame:
        """One row: ``low, high, width``."""
        return pd.DataFrame({"low": [self.low], "high": [self.high], "width": [self.width]})

    def __str__(self) -> str:
        return f"from {self.low:g} to {self.high:g}"


def feasible_interval(A, b, target) -> FeasibleInterval:
    """Smallest and largest value of ``target @ x`` over ``A @ x = b, x >= 0``.

    The audit a reader can do: ``x`` are the unknown counts (cells, or the
    finest groups the published cells define), each row of ``A`` one
    published count and ``b`` its value.  Solved with two linear programmes
    (HiGHS through :func:`scipy.optimize.linprog`).

    Parameters
    ----------
    A : array-like or sparse matrix, shape (m, k)
    b : array-like, shape (m,)
    target : array-like, shape (k,)
        Which unknowns make up the cell whose range is wanted (0/1).

    Returns
    -------
    FeasibleInterval
        The bounds ``low`` and ``high``; ``high`` is ``inf`` when nothing
        caps the cell.

    Raises
    ------
    DataError
        When the published counts contradict each other (totals that do not
        add up).

    Examples
    --------
    >>> feasible_interval([[1, 1, 1]], [57], [1, 0, 0])   # a row total of 57
    FeasibleInterval(low=0.0, high=57.0)
    >>> feasible_interval([[1, 1, 1], [0, 0, 1]], [57, 50], [1, 0, 0]).high
    7.0
    """
    low, high = _interval(A, b, target)
    return FeasibleInterval(low, high)


# Intervals already found in this process, by the exact programme solved (the audit of a chapter
# solves the same programme again each time a table is checked against the same counts).
_SOLVED: dict[bytes, tuple[float, float]] = {}
_SOLVED_MAX = 512


def _interval(A, b, target) -> tuple[float, float]:
    """:func:`feasible_interval` as a pair ``(low, high)`` (the engine's own form)."""
    import hashlib

    from scipy import sparse

    c = np.asarray(target, dtype=float)
    k = c.size
    A_eq = (
        sparse.csr_matrix(A, dtype=float)
        if sparse.issparse(A)
        else sparse.csr_matrix(np.asarray(A, dtype=float).reshape(-1, k))
    )
    b_eq = np.asarray(b, dtype=float).reshape(-1)
    if A_eq.shape[0] == 0:
        return 0.0, float("inf")
    A_eq, b_eq = _distinct_facts(A_eq, b_eq)
    key = hashlib.sha256(
        b"".join(
            [
                np.asarray(A_eq.shape, dtype=np.int64).tobytes(),
                A_eq.indptr.astype(np.int64).tobytes(),
                A_eq.indices.astype(np.int64).tobytes(),
                A_eq.data.tobytes(),
                b_eq.tobytes(),
                c.tobytes(),
            ]
        )
    ).digest()
    if key not in _SOLVED:
        if len(_SOLVED) >= _SOLVED_MAX:
            _SOLVED.clear()
        _SOLVED[key] = _solve_interval(A_eq, b_eq, c)
    return _SOLVED[key]


def _distinct_facts(A_eq, b_eq):
    """Each published fact once: a row of ``A_eq`` with the same value in ``b_eq`` as an earlier row
    (a count shown in two tables) is dropped, which changes neither bound.  Rows that disagree
    (the same pupils, two different counts) both stay, so a contradiction is still found."""
    A_eq = A_eq.copy()
    A_eq.sum_duplicates()
    A_eq.sort_indices()
    seen: set = set()
    keep = []
    for i in range(A_eq.shape[0]):
        lo, hi = A_eq.indptr[i], A_eq.indptr[i + 1]
        row = (A_eq.indices[lo:hi].tobytes(), A_eq.data[lo:hi].tobytes(), float(b_eq[i]))
        if row not in seen:
            seen.add(row)
            keep.append(i)
    if len(keep) == A_eq.shape[0]:
        return A_eq, b_eq
    return A_eq[keep], b_eq[keep]


def _solve_interval(A_eq, b_eq, c) -> tuple[float, float]:
    """The two linear programmes of :func:`feasible_interval`."""
    from scipy.optimize import linprog

    out = []
    for sign in (1.0, -1.0):
        res = linprog(sign * c, A_eq=A_eq, b_eq=b_eq, bounds=(0, None), method="highs")
        if res.status == 2:
            raise DataError(
                "The published counts contradict each other (a total does not equal the sum "
                "of its cells), so the table's totals cannot be trusted."
            )
        if res.status == 3:
            out.append(float("inf"))
            continue
        if res.status != 0:
            raise DataError(f"The disclosure audit failed: {res.message}")
        out.append(sign * float(res.fun))
    lo, hi = out[0], out[1]
    return (max(lo, 0.0) if abs(lo) > _TOL else 0.0), hi


def _protected(lo: float, hi: float, threshold: int) -> bool:
    """The protection rule: the feasible interval is at least ``threshold`` wide."""
    return hi - lo >= threshold - _TOL


def _atoms(sets: list[np.ndarray], n_ids: int):
    """The finest groups (atoms) that a list of sets of pupil ids defines.

    Returns the size of each atom and, for each set, the atoms it is made of.
    Pupils in two atoms differ in membership of at least one set; a random
    64-bit code per set (fixed seed) labels each pupil's memberships.
    """
    rng = np.random.default_rng(20_261_128)
    codes = rng.integers(1, np.iinfo(np.int64).max, size=max(len(sets), 1), dtype=np.int64).astype(np.uint64)
    h = np.zeros(n_ids, dtype=np.uint64)
    inside = np.zeros(n_ids, dtype=bool)
    for k, s in enumerate(sets):
        h[s] += codes[k]
        inside[s] = True
    ids = np.nonzero(inside)[0]
    _, atom_of = np.unique(h[ids], return_inverse=True)
    atom_map = np.full(n_ids, -1, dtype=np.int64)
    atom_map[ids] = atom_of
    sizes = np.bincount(atom_of) if len(ids) else np.zeros(0, dtype=np.int64)
    members = [np.unique(atom_map[s]) for s in sets]
    return sizes, members


def _audit(
    facts: list[tuple[np.ndarray, float]], sensitive: list[np.ndarray], n_ids: int, threshold: int
) -> list[tuple[float, float]]:
    """Feasible interval of each sensitive set of pupils, given the published facts."""
    from scipy import sparse

    sets = [f[0] for f in facts] + list(sensitive)
    sizes, members = _atoms(sets, n_ids)
    k = len(sizes)
    rows, cols = [], []
    for r, m in enumerate(members[: len(facts)]):
        rows.extend([r] * len(m))
        cols.extend(m.tolist())
    A = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(facts), k))
    b = np.array([f[1] for f in facts], dtype=float)
    # Only the facts connected to a sensitive set matter; solve on that component.
    out = []
    for m in members[len(facts) :]:
        target = np.zeros(k)
        target[m] = 1.0
        comp_atoms, comp_rows = _component(A, m)
        if not len(comp_rows):
            out.append((0.0, float("inf")))
            continue
        sub = A[comp_rows][:, comp_atoms]
        out.append(_interval(sub, b[comp_rows], target[comp_atoms]))
    return out


def _component(A, start_atoms: np.ndarray):
    """Atoms and fact rows connected to ``start_atoms`` through shared facts."""
    At = A.T.tocsr()
    atoms = set(int(a) for a in start_atoms)
    facts: set[int] = set()
    frontier = list(atoms)
    while frontier:
        new_facts = set(At[frontier].indices.tolist()) - facts
        facts |= new_facts
        if not new_facts:
            break
        new_atoms = set(A[sorted(new_facts)].indices.tolist()) - atoms
        atoms |= new_atoms
        frontier = list(new_atoms)
    return np.array(sorted(atoms), dtype=np.int64), np.array(sorted(facts), dtype=np.int64)
