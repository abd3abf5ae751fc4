"""Disclosure control: no output describes fewer pupils than a threshold.

One policy (:class:`DisclosurePolicy`) governs every table, figure and
report that shows groups of pupils.  It is **on by default** with a threshold
of 10 pupils (the rule used by secure research services in England).  Set it
per project with :func:`set_default_policy`, the environment variable
``BELONGING_DISCLOSURE_THRESHOLD`` or a JSON/YAML file named by
``BELONGING_DISCLOSURE_CONFIG`` (keys ``threshold``, ``symbol``,
``secondary``, ``enabled``, ``nk_n``, ``nk_k``, ``p_ratio``,
``min_residual_df``).

:func:`suppress` applies primary suppression (cells describing fewer than
``threshold`` pupils: counts, percentages, means, SDs) and secondary
suppression (so that no total or margin lets a suppressed cell be worked
out).  Suppressed cells are missing in the numbers and shown as ``[c]`` in
the display, with a footnote.

Protection rule
---------------
A reader who knows every published cell, the table's totals and margins
(published or not) and that counts are never negative can bound each
suppressed count between a smallest and a largest value (two linear
programmes).  A suppressed cell describing fewer than ``threshold`` pupils is
**protected** when that feasible interval is at least ``threshold`` wide.
So no suppressed cell is pinned to one value, and the suppressed cells of a
line never add up to a known group smaller than the threshold (cells of 3
and 4 suppressed together would still publish a group of 7).  Secondary
suppression adds cells, the smallest first, until every small cell is
protected; the check is exact for the table's linear constraints
(:func:`feasible_interval`).

Across a whole output
---------------------
Tables in one chapter or report can undo each other: a chapter that shows
Year 5's 59 pupils in one table and Year 5's 50 boys in another has shown
its 9 girls.  A :class:`DisclosureContext` (one per chapter or report; see
:func:`context`, which :func:`belonging_lib.notebook.setup` opens for a
chapter) keeps every count that the output has published, as the set of
pupils (row labels of the data) behind it, and checks each new table built
from pupil data (:func:`count_by`, :func:`summarise_by`,
:func:`magnitude_by`, the school report and ``SurveyDesign`` breakdowns)
against all of them with the same linear programmes, suppressing more cells
of the new table until every small group published so far is protected.
Pupils are matched by their ID column (``pupil_id``, ``UPN`` ...) when the
data have one, and otherwise by a fingerprint of their rows' values, never
by row labels: a shuffled copy or a fresh index (``reset_index``) still
describes the same pupils.  Without an open context, the tables made from
one data set in a process share an automatic context
(:func:`automatic_context`), so ``count_by(d, by="year")`` followed by a
year-by-gender table of ``d`` is protected even when nobody opened one.
Separate commands on one file share what they published through a
disclosure ledger (:mod:`belonging_lib.disclosure_ledger`).

Magnitude tables and models
---------------------------
Totals of a quantity (for example funding or minutes of support) can reveal
one contributor even in a large group.  :func:`nk_rule` (the largest ``n``
contributors make up at least ``k`` of the total) and :func:`p_ratio_rule`
(the total less its two largest contributors is within ``p`` of the
largest, so the second largest could estimate the largest to within ``p``)
are the dominance rules of the statistical disclosure control handbooks;
:func:`check_model_df` asks a regression for enough residual degrees of
freedom.  Defaults follow the SACRO / ACRO defaults (threshold 10, n = 2,
k = 0.9, p = 0.1, 10 residual df).

References
----------
Hundepool, A., Domingo-Ferrer, J., Franconi, L., Giessing, S., Nordholt, E. S.,
Spicer, K. and de Wolf, P.-P. (2012). *Statistical Disclosure Control*. Wiley.
(Chapters 4 and 5: the (n, k) and p% rules, protection intervals, linear
programming audits of suppressed tables.)

Eurostat (2024). *Handbook on Statistical Disclosure Control*, version 2 (ESSnet),
sections on magnitude tables and secondary cell suppression.

Office for National Statistics (2019). *Disclosure control guidance for
output checking* (Secure Research Service): the threshold of 10 units and the
residual degrees-of-freedom rule for models.

Green, E., Ritchie, F., Tava, F., Ashford, W. and Ferrer Breda, P. (2021).
*Handbook on Statistical Disclosure Control for Outputs* (SDC Handbook,
version 2), Safe Data Access Professionals working group; and the SACRO
project's output checker ACRO (Smith et al., 2023), against which the
library's verdicts are cross-checked in ``tests/test_hostile_disclosure.py``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ._errors import DataError, DisclosureError
from ._validation import as_frame, as_list, require_columns, require_finite, require_numeric

__all__ = ["DisclosurePolicy", "get_default_policy", "set_default_policy", "suppress",
           "SuppressedTable", "summarise_by", "count_by", "check_model_df", "drop_identifiers",
           "ID_PATTERNS", "DisclosureContext", "context", "get_context", "set_context",
           "feasible_interval", "nk_rule", "p_ratio_rule", "magnitude_by", "automatic_context"]

_POLICY_KEYS = ("threshold", "symbol", "secondary", "enabled", "nk_n", "nk_k", "p_ratio",
                "min_residual_df")


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
            raise DataError(f"DisclosurePolicy: `threshold` must be a whole number of at least 1, "
                            f"but {self.threshold!r} was passed.")
        for name in ("secondary", "enabled"):
            value = getattr(self, name)
            if not isinstance(value, (bool, np.bool_)):
                raise DataError(f"DisclosurePolicy: `{name}` must be True or False, but {value!r} was "
                                "passed (a string such as 'no' would count as true).")
            object.__setattr__(self, name, bool(value))
        if not isinstance(self.symbol, str) or not self.symbol.strip():
            raise DataError(f"DisclosurePolicy: `symbol` must be a non-empty string, but {self.symbol!r} "
                            "was passed.")
        if not _whole(self.nk_n) or self.nk_n < 1:
            raise DataError(f"DisclosurePolicy: `nk_n` must be a whole number of at least 1, but "
                            f"{self.nk_n!r} was passed.")
        for name, lo_open in (("nk_k", True), ("p_ratio", False)):
            value = getattr(self, name)
            ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
                and np.isfinite(value) and (0 < value <= 1 if lo_open else 0 <= value <= 1)
            if not ok:
                rng = "above 0 and at most 1" if lo_open else "from 0 to 1"
                raise DataError(f"DisclosurePolicy: `{name}` must be a proportion {rng}, but {value!r} "
                                "was passed.")
            object.__setattr__(self, name, float(value))
        if not _whole(self.min_residual_df) or self.min_residual_df < 0:
            raise DataError(f"DisclosurePolicy: `min_residual_df` must be a whole number of at least 0, "
                            f"but {self.min_residual_df!r} was passed.")

    @property
    def footnote(self) -> str:
        return (f"{self.symbol} = suppressed: the cell describes fewer than {self.threshold} pupils, "
                "or would let a suppressed cell be worked out from a total.")

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
            raise DataError(f"Disclosure config {str(path)!r} has unknown keys {sorted(unknown)} "
                            f"(known: {list(_POLICY_KEYS)}).")
        return cls(**conf)


_DEFAULT: DisclosurePolicy | None = None


def set_default_policy(policy: DisclosurePolicy | None) -> None:
    """Set the project's default policy (``None`` returns to the environment/default)."""
    global _DEFAULT
    if policy is not None and not isinstance(policy, DisclosurePolicy):
        raise DataError("set_default_policy expects a DisclosurePolicy or None.")
    _DEFAULT = policy


def get_default_policy() -> DisclosurePolicy:
    """The policy in force: set_default_policy, else the environment, else threshold 10."""
    if _DEFAULT is not None:
        return _DEFAULT
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
            raise DataError(f"BELONGING_DISCLOSURE_THRESHOLD must be a whole number of pupils of at "
                            f"least 1 (such as 10), not {thr!r}.")
        return DisclosurePolicy(threshold=value)
    return DisclosurePolicy()


@dataclasses.dataclass(frozen=True)
class SuppressedTable:
    """A table after disclosure control.

    Attributes
    ----------
    data : DataFrame
        Numbers, with suppressed cells set to missing.
    mask : DataFrame of bool
        ``True`` where a cell was suppressed.
    policy : DisclosurePolicy
    n_primary, n_secondary : int
        Cells suppressed because they are small, and to protect them.
    """

    data: pd.DataFrame
    mask: pd.DataFrame
    policy: DisclosurePolicy
    n_primary: int = 0
    n_secondary: int = 0
    digits: int = 2
    int_columns: tuple = ()
    label_columns: tuple = ()

    @property
    def footnote(self) -> str:
        return self.policy.footnote if (self.n_primary or self.n_secondary) else ""

    @property
    def shown(self) -> pd.DataFrame:
        """The rows with nothing suppressed (for example, the groups a figure may draw)."""
        return self.data[~self.mask.any(axis=1).to_numpy()].copy()

    def pivot(self, *, index: str, columns: str, values: str) -> SuppressedTable:
        """Reshape a long table to wide, keeping which cells are suppressed.

        Examples
        --------
        >>> t = pd.DataFrame({"country": ["A", "A", "B", "B"], "q": [25, 75, 25, 75],
        ...                   "value": [1.0, 2.0, 3.0, 4.0], "n": [40, 40, 6, 6]})
        >>> suppress(t, count_col="n", labels="q").pivot(index="country", columns="q",
        ...                                                    values="value").display()[25].tolist()
        ['1.00', '[c]']
        """
        require_columns(self.data, [index, columns, values], role="pivot column")
        data = self.data.pivot(index=index, columns=columns, values=values)
        mask = self.mask.assign(**{index: self.data[index], columns: self.data[columns]}) \
            .pivot(index=index, columns=columns, values=values).fillna(False).astype(bool)
        mask = mask.loc[data.index, data.columns]
        whole = [int(c) if isinstance(c, float) and c.is_integer() else c for c in data.columns]
        data.columns = mask.columns = pd.Index(whole, name=columns)       # 25.0 -> 25 in the header
        return dataclasses.replace(self, data=data, mask=mask, int_columns=(), label_columns=())

    def round(self, digits: int) -> SuppressedTable:
        """The same table, displayed with ``digits`` decimals."""
        return dataclasses.replace(self, digits=int(digits))

    def display(self, *, digits: int | None = None) -> pd.DataFrame:
        """Strings for showing: numbers rounded, suppressed cells as the symbol."""
        digits = self.digits if digits is None else digits
        out = self.data.copy().astype(object)
        for col in out.columns:
            values = self.data[col]
            if col in self.label_columns and pd.api.types.is_float_dtype(values):
                out[col] = ["" if pd.isna(v) else f"{v:g}" for v in values]   # a code: 3, not 3.00
            elif pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
                is_int = col in self.int_columns or col in ("n", "count") or str(col).startswith("n_")
                out[col] = [("" if pd.isna(v) else (f"{int(v)}" if is_int else f"{v:.{digits}f}")) for v in values]
            out[col] = out[col].where(~self.mask[col], self.policy.symbol)
        return out

    def to_frame(self) -> pd.DataFrame:
        return self.data.copy()

    def to_markdown(self, *, digits: int | None = None) -> str:
        shown = self.display(digits=digits)
        if not isinstance(shown.index, pd.RangeIndex):
            shown = shown.reset_index()
        head = "| " + " | ".join(map(str, shown.columns)) + " |"
        rule = "|" + "---|" * shown.shape[1]
        body = ["| " + " | ".join(map(str, r)) + " |" for r in shown.itertuples(index=False)]
        text = "\n".join([head, rule] + body)
        return text + (f"\n\n{self.footnote}" if self.footnote else "")

    def _repr_html_(self) -> str:
        html = self.display().to_html(border=0, classes="bl-table", na_rep="")
        note = f"<p style='margin:0'><small>{self.footnote}</small></p>" if self.footnote else ""
        return f"<div class='bl-suppressed'>{html}{note}</div>"

    def __str__(self) -> str:
        return self.display().to_string() + (f"\n{self.footnote}" if self.footnote else "")


# ----------------------------------------------------------------------------- protection engine

_TOL = 1e-6


def feasible_interval(A, b, target) -> tuple[float, float]:
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
    (float, float)
        The bounds; the upper one is ``inf`` when nothing caps the cell.

    Raises
    ------
    DataError
        When the published counts contradict each other (totals that do not
        add up).

    Examples
    --------
    >>> feasible_interval([[1, 1, 1]], [57], [1, 0, 0])   # a row total of 57
    (0.0, 57.0)
    >>> feasible_interval([[1, 1, 1], [0, 0, 1]], [57, 50], [1, 0, 0])
    (0.0, 7.0)
    """
    from scipy import sparse
    from scipy.optimize import linprog

    c = np.asarray(target, dtype=float)
    k = c.size
    if sparse.issparse(A):
        A_eq = A.tocsr()
    else:
        A_eq = np.asarray(A, dtype=float).reshape(-1, k)
    b_eq = np.asarray(b, dtype=float).reshape(-1)
    if A_eq.shape[0] == 0:
        return 0.0, float("inf")
    out = []
    for sign in (1.0, -1.0):
        res = linprog(sign * c, A_eq=A_eq, b_eq=b_eq, bounds=(0, None), method="highs")
        if res.status == 2:
            raise DataError("The published counts contradict each other (a total does not equal the sum "
                            "of its cells), so the table's totals cannot be trusted.")
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


def _audit(facts: list[tuple[np.ndarray, float]], sensitive: list[np.ndarray], n_ids: int,
           threshold: int) -> list[tuple[float, float]]:
    """Feasible interval of each sensitive set of pupils, given the published facts."""
    from scipy import sparse

    sets = [f[0] for f in facts] + list(sensitive)
    sizes, members = _atoms(sets, n_ids)
    k = len(sizes)
    rows, cols = [], []
    for r, m in enumerate(members[:len(facts)]):
        rows.extend([r] * len(m))
        cols.extend(m.tolist())
    A = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(facts), k))
    b = np.array([f[1] for f in facts], dtype=float)
    # Only the facts connected to a sensitive set matter; solve on that component.
    out = []
    for m in members[len(facts):]:
        target = np.zeros(k)
        target[m] = 1.0
        comp_atoms, comp_rows = _component(A, m)
        if not len(comp_rows):
            out.append((0.0, float("inf")))
            continue
        sub = A[comp_rows][:, comp_atoms]
        out.append(feasible_interval(sub, b[comp_rows], target[comp_atoms]))
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


def _line_rule(counts: np.ndarray, primary: np.ndarray) -> np.ndarray:
    """The classic first pass: add cells until no row or column has exactly one suppressed cell.

    The extra cell is the smallest unsuppressed one in the line (least
    information lost).  :func:`_protect_cross` then audits the result.
    """
    sup = primary.copy()
    changed = True
    while changed:
        changed = False
        lines = [(i, None) for i in range(sup.shape[0])] + [(None, j) for j in range(sup.shape[1])]
        for i, j in lines:
            line = sup[i, :] if j is None else sup[:, j]
            if line.sum() == 1:
                cand = ~line
                if not cand.any():
                    continue
                vals = np.where(cand, counts[i, :] if j is None else counts[:, j], np.inf)
                k = int(np.argmin(vals))
                if j is None:
                    sup[i, k] = True
                else:
                    sup[k, j] = True
                changed = True
    return sup


_MARGIN_WORDS = re.compile(r"(?i)(^|[^a-z])(total|totals|all|subtotal|overall|sum)([^a-z]|$)")


def _margin_candidates(labels: list, is_tot: np.ndarray, i: int) -> list[np.ndarray]:
    """Blocks of inner lines that the margin line ``i`` may add up, most likely first.

    Every inner line; the inner lines since the previous margin (a subtotal
    under its group); those up to the next margin (a subtotal above its
    group); the inner lines whose label starts like the margin's ('Y7' of
    'Y7 all', or the first level of a two-level label).
    """
    n = len(labels)
    inner = ~is_tot
    out = [inner.copy()]
    above = np.zeros(n, bool)
    k = i - 1
    while k >= 0 and not is_tot[k]:
        above[k] = True
        k -= 1
    below = np.zeros(n, bool)
    k = i + 1
    while k < n and not is_tot[k]:
        below[k] = True
        k += 1
    out += [above, below]
    lab = labels[i]
    head = lab[0] if isinstance(lab, tuple) else (str(lab).split()[0] if str(lab).split() else "")
    if head != "":
        same = np.array([(la[0] == head) if isinstance(la, tuple) else
                         (bool(str(la).split()) and str(la).split()[0] == head) for la in labels]) & inner
        out.append(same)
    return [b for b in out if b.any()]


def _margin_blocks(c: np.ndarray, labels: list, is_tot: np.ndarray, other_tot: np.ndarray,
                   what: str) -> dict:
    """For each margin line (row of ``c``), the inner lines it adds up (a boolean over inner lines).

    Tables may hold several levels of margins (subtotal rows 'Y7 all' and
    'Y8 all' under a grand 'Total'): each margin is matched to the block of
    inner lines that its numbers add up to.  A margin that adds up no block
    is an error naming it.
    """
    inner_pos = np.nonzero(~is_tot)[0]
    cols = ~other_tot
    out = {}
    for i in np.nonzero(is_tot)[0]:
        for block in _margin_candidates(labels, is_tot, int(i)):
            if np.allclose(c[block][:, cols].sum(axis=0), c[i, cols], rtol=0, atol=1e-9):
                out[int(i)] = block[inner_pos]
                break
        else:
            raise DataError(f"suppress: the {what} {labels[i]!r} is named as a total, but its counts are not the "
                            f"sum of all the other {what}s, nor of the {what}s of its own group (above or below "
                            f"it, or sharing its first word), so the table's totals cannot be trusted.")
    return out


def _named_margins(c: np.ndarray, labels: list, is_tot: np.ndarray, other_tot: np.ndarray) -> np.ndarray:
    """Lines not declared as margins whose label says 'total' or 'all' and whose counts add up a block."""
    found = np.zeros(len(labels), dtype=bool)
    cols = ~other_tot
    for i, lab in enumerate(labels):
        text = " ".join(map(str, lab)) if isinstance(lab, tuple) else str(lab)
        if is_tot[i] or not _MARGIN_WORDS.search(text):
            continue
        trial = is_tot | found
        trial[i] = True
        for block in _margin_candidates(labels, trial, i):
            if block.sum() >= 2 and np.allclose(c[block][:, cols].sum(axis=0), c[i, cols], rtol=0, atol=1e-9):
                found[i] = True
                break
    return found


def _protect_cross(c: np.ndarray, primary: np.ndarray, threshold: int, tot_rows: np.ndarray,
                   tot_cols: np.ndarray, *, row_blocks: dict | None = None,
                   col_blocks: dict | None = None) -> np.ndarray:
    """Secondary suppression of a cross-table of counts ``c`` (totals rows/columns included).

    The unknowns are the inner cells; a total cell is the sum of its line.
    A reader knows every shown cell.  When the table shows no totals, its
    row and column sums (and the grand total) count as known whenever they
    describe at least ``threshold`` pupils, because they are usually
    published elsewhere.  Cells are added until every small cell (inner or
    total) passes :func:`_protected`: first the smallest inner cell in the
    line of an unprotected cell, then a total in its line, then the
    smallest inner cell anywhere.
    """
    R, K = c.shape
    in_r = np.nonzero(~tot_rows)[0]
    in_c = np.nonzero(~tot_cols)[0]
    nr, nc = len(in_r), len(in_c)
    pos_r = {int(i): k for k, i in enumerate(in_r)}
    pos_c = {int(j): k for k, j in enumerate(in_c)}
    inner = np.ix_(in_r, in_c)

    row_blocks = row_blocks or {}
    col_blocks = col_blocks or {}

    def vec(i, j):
        v = np.zeros((nr, nc))
        rs = row_blocks.get(int(i), np.ones(nr, bool)) if tot_rows[i] else pos_r[int(i)]
        cs = col_blocks.get(int(j), np.ones(nc, bool)) if tot_cols[j] else pos_c[int(j)]
        if isinstance(rs, np.ndarray) and isinstance(cs, np.ndarray):
            v[np.ix_(rs, cs)] = 1
        else:
            v[rs, cs] = 1
        return v.ravel()

    assumed = []
    if not tot_rows.any() and not tot_cols.any():
        ci = c[inner]
        for k in range(nr):
            if ci[k].sum() >= threshold:
                v = np.zeros((nr, nc))
                v[k] = 1
                assumed.append((v.ravel(), ci[k].sum()))
        for k in range(nc):
            if ci[:, k].sum() >= threshold:
                v = np.zeros((nr, nc))
                v[:, k] = 1
                assumed.append((v.ravel(), ci[:, k].sum()))
        if ci.sum() >= threshold:
            assumed.append((np.ones(nr * nc), ci.sum()))
    sup = primary.copy()
    sup[inner] = _line_rule(c[inner], primary[inner])
    sensitive = np.argwhere(primary)
    vecs = {(int(i), int(j)): vec(i, j) for i in range(R) for j in range(K)}

    verified: set = set()       # suppressing more only widens intervals: a protected cell stays so

    def first_bad():
        facts = assumed + [(vecs[(i, j)], c[i, j]) for i in range(R) for j in range(K) if not sup[i, j]]
        A = np.array([f[0] for f in facts]).reshape(-1, nr * nc)
        b = [f[1] for f in facts]
        for i, j in sensitive:
            key = (int(i), int(j))
            if key in verified:
                continue
            lo, hi = feasible_interval(A, b, vecs[key])
            if not _protected(lo, hi, threshold):
                return key
            verified.add(key)
        return None

    is_inner = np.zeros((R, K), dtype=bool)
    is_inner[inner] = True
    while True:
        bad = first_bad()
        if bad is None:
            return sup
        i, j = bad
        line = np.zeros((R, K), dtype=bool)
        line[i, :] = True
        line[:, j] = True
        open_ = ~sup & (c > 0)
        for pool in (line & open_ & is_inner, line & open_ & ~is_inner, open_ & is_inner, open_):
            if pool.any():
                k = np.unravel_index(int(np.argmin(np.where(pool, c, np.inf))), c.shape)
                sup[k] = True
                break
        else:
            return sup              # everything that could be suppressed is
        sup[inner] = _line_rule(c[inner], sup[inner])      # no inner line left with one suppressed cell


# ----------------------------------------------------------------------------- disclosure context

@dataclasses.dataclass
class _Cell:
    """One published (or withheld) count of a table, as the set of pupils behind it."""

    ids: np.ndarray
    count: int
    unit: int              # cells of one unit are shown or suppressed together (a table row)
    suppressed: bool
    sensitive: bool        # a count that must stay protected when suppressed
    label: str
    where: tuple | None = None   # the group as conditions on the data's columns (for a ledger), if known


class DisclosureContext:
    """The counts that one output (a chapter, a report) has published so far.

    Every table built from pupil data in the output is checked against the
    counts already published: a suppressed small group must stay protected
    (see the module's protection rule) given everything the output shows,
    and cells of the new table are suppressed until it is.  Use one context
    per chapter or report: :func:`context` makes one (and, used in a
    ``with`` block, makes it the active context that :func:`count_by`,
    :func:`summarise_by`, :func:`magnitude_by` and ``SurveyDesign``
    breakdowns use by default); :func:`belonging_lib.notebook.setup` opens
    one for each chapter.

    Pupils are identified by their ID column, or by a fingerprint of their
    rows (:meth:`pupils_of`), never by row labels.

    Parameters
    ----------
    policy : DisclosurePolicy, optional
        Default: the project's policy at the time of each check.
    name : str, optional
        For messages (the chapter or report).

    Examples
    --------
    >>> d = pd.DataFrame({"year": ["Y5"] * 59 + ["Y6"] * 60,
    ...                   "gender": ["F"] * 9 + ["M"] * 50 + ["F"] * 30 + ["M"] * 30,
    ...                   "y": 1.0})
    >>> with context() as ctx:
    ...     years = count_by(d, by="year")
    ...     both = summarise_by(d, outcome="y", by=["year", "gender"])
    >>> years.display()["n"].tolist()
    ['59', '60']
    >>> both.display()["n"].tolist()     # the boys' 50 would give away the girls' 9
    ['[c]', '[c]', '[c]', '30']
    """

    def __init__(self, policy: DisclosurePolicy | None = None, *, name: str | None = None):
        if policy is not None and not isinstance(policy, DisclosurePolicy):
            raise DataError("DisclosureContext: `policy` must be a DisclosurePolicy or None.")
        self._policy = policy
        self.name = name or "this output"
        self._ids: dict = {}
        self._by_id: dict = {}                  # (ID column, ID) -> pupil
        self._id_owner: set = set()             # pupils known by an ID
        self._colhash: dict = {}                # column -> per-pupil hash of its value (0: not seen)
        self._facts: list[tuple[np.ndarray, float, str]] = []
        self._sensitive: list[tuple[np.ndarray, str, int]] = []
        self._log: list[dict] = []               # what this context published or protected, for a ledger
        self._previous: list[DisclosureContext | None] = []

    @property
    def policy(self) -> DisclosurePolicy:
        return self._policy or get_default_policy()

    def __repr__(self) -> str:
        return (f"DisclosureContext({self.name!r}: {len(self._facts)} published counts, "
                f"{len(self._sensitive)} protected small groups)")

    def __enter__(self) -> DisclosureContext:
        global _ACTIVE
        self._previous.append(_ACTIVE)
        _ACTIVE = self
        return self

    def __exit__(self, *exc) -> None:
        global _ACTIVE
        _ACTIVE = self._previous.pop() if self._previous else None

    def published(self) -> pd.DataFrame:
        """The counts published so far: ``label, n``."""
        return pd.DataFrame({"label": [f[2] for f in self._facts],
                             "n": [f[1] for f in self._facts]})

    def assume_published(self, ids: np.ndarray, label: str) -> None:
        """Record a count as public although this output does not show it (a sample's size).

        Counts below the threshold are not recorded: they would never be
        published.
        """
        ids = np.unique(np.asarray(ids, dtype=np.int64))
        if len(ids) >= self.policy.threshold:
            self._facts.append((ids, float(len(ids)), label))

    # -- ids
    def ids_of(self, labels) -> np.ndarray:
        """Context-wide integer ids of arbitrary keys (the same key -> the same pupil).

        Tables of pupil data find their pupils with :meth:`pupils_of`; this
        lower-level mapping serves callers that already hold a key per pupil.
        """
        table = self._ids
        return np.fromiter((table.setdefault(lab, len(table)) for lab in labels), dtype=np.int64,
                           count=len(labels))

    def private_ids(self, n: int) -> np.ndarray:
        """Ids that match no other table's pupils."""
        token = object()
        return self.ids_of([(token, i) for i in range(n)])

    def pupils_of(self, data: pd.DataFrame) -> np.ndarray:
        """Context ids of the pupils in the rows of ``data``, whatever its row labels.

        A pupil is recognised by the frame's pupil ID column when it has one
        (a column named like an identifier, such as ``pupil_id``, whose values
        are all present and different), and otherwise, or for pupils not yet
        seen with their ID, by a fingerprint of the row's values in the
        columns this context has seen before.  Row labels (the index) play no
        part, so a shuffled copy or one with a fresh index (``reset_index``)
        still describes the same pupils.  Rows that agree in every shared
        column are told apart by their order of appearance: no table of those
        columns can tell them apart either.
        """
        n = len(data)
        out = np.full(n, -1, dtype=np.int64)
        id_col = _pupil_id_column(data)
        if id_col is not None:
            keys = [(str(id_col), _id_text(v)) for v in data[id_col].tolist()]
            known = np.fromiter((self._by_id.get(k, -1) for k in keys), dtype=np.int64, count=n)
            out[:] = known
        hashes = _column_hashes(data, skip=id_col)
        todo = np.nonzero(out < 0)[0]
        if len(todo):
            common = [c for c in hashes if c in self._colhash]
            if common:
                taken = np.zeros(len(self._ids), dtype=bool)
                taken[out[out >= 0]] = True
                if id_col is not None:      # a pupil known by another ID is another pupil
                    taken[list(self._id_owner)] = True
                cand = np.nonzero(~taken)[0]
                mine = self._colhash_of(common, cand)
                ok = np.all([self._hashes(c)[cand] != 0 for c in common], axis=0)
                cand, mine = cand[ok], mine[ok]
                theirs = _combine({c: hashes[c][todo] for c in common})
                match = _pair_by_hash(theirs, mine)
                found = match >= 0
                out[todo[found]] = cand[match[found]]
        fresh = out < 0
        if fresh.any():
            out[fresh] = self.private_ids(int(fresh.sum()))
        for c, h in hashes.items():                 # remember each pupil's values (as hashes)
            if c not in self._colhash:
                self._colhash[c] = np.zeros(0, dtype=np.uint64)
            arr = self._hashes(c)
            unset = arr[out] == 0
            arr[out[unset]] = h[unset]
        if id_col is not None:
            for k, i in zip(keys, out.tolist()):
                self._by_id.setdefault(k, i)
                self._id_owner.add(i)
        return out

    def _hashes(self, column: str) -> np.ndarray:
        """The stored hash of ``column`` for every pupil so far (0 where not seen)."""
        arr = self._colhash[column]
        size = len(self._ids)
        if len(arr) < size:
            grown = np.zeros(max(size, 2 * len(arr)), dtype=np.uint64)
            grown[:len(arr)] = arr
            arr = self._colhash[column] = grown
        return arr[:size]

    def _colhash_of(self, columns: list, ids: np.ndarray) -> np.ndarray:
        return _combine({c: self._hashes(c)[ids] for c in columns})

    def protect(self, cells: list[_Cell], *, universe: np.ndarray | None = None,
                threshold: int | None = None, expand=None, where: tuple | None = None) -> set[int]:
        """Suppress more units of a new table until every small group is protected; record it.

        ``universe``: the pupils of the whole table, when the table publishes
        their number (a percentage of all rows does).  ``expand``: the table's
        own secondary rule, applied to the set of suppressed units after each
        addition.  ``where``: ``universe`` as conditions on the data's
        columns, for a disclosure ledger (each cell carries its own).
        Returns the units suppressed in the end (those already suppressed
        included).
        """
        thr = int(threshold or self.policy.threshold)
        suppressed = {c.unit for c in cells if c.suppressed}
        if expand is not None:
            suppressed = set(expand(suppressed))
        extra_facts = []
        if universe is not None and len(universe) >= thr:
            extra_facts.append((universe, float(len(universe)), "all pupils of a table"))
        new_ids = np.unique(np.concatenate([c.ids for c in cells] + ([universe] if universe is not None
                                                                          else []) + [np.zeros(0, np.int64)]))
        n_ids = len(self._ids)
        touched = np.zeros(n_ids, dtype=bool)
        touched[new_ids] = True
        old_sens = [(s, lab, t) for s, lab, t in self._sensitive if touched[s].any()]
        old_facts = [(f, v) for f, v, _ in self._facts]
        # A small group that the output had already given away before this table (a count shown
        # earlier, such as a small number of missing values) cannot be protected by it: it is not
        # held against this table.
        fresh = [k for k, c in enumerate(cells) if c.sensitive]
        if fresh:
            before = _audit(old_facts + [(f, v) for f, v, _ in extra_facts], [cells[k].ids for k in fresh],
                            n_ids, thr)
            out_already = {k for k, (lo, hi) in zip(fresh, before) if not _protected(lo, hi, thr)}
        else:
            out_already = set()
        watch = [k for k in fresh if k not in out_already]
        verified: set = set()     # suppressing more only widens intervals: a protected group stays so
        while True:
            facts = old_facts + [(f, v) for f, v, _ in extra_facts] + \
                [(c.ids, float(c.count)) for c in cells if c.unit not in suppressed]
            sens = [(("old", i),) + item for i, item in enumerate(old_sens)] + \
                [(("new", k), cells[k].ids, cells[k].label, thr) for k in watch if cells[k].unit in suppressed]
            sens = [item for item in sens if item[0] not in verified]
            if not sens:
                break
            intervals = _audit(facts, [item[1] for item in sens], n_ids, thr)
            bad = []
            for pos, ((key, _, _, t), (lo, hi)) in enumerate(zip(sens, intervals)):
                if _protected(lo, hi, t):
                    verified.add(key)
                else:
                    bad.append(pos)
            if not bad:
                break
            _, target, label, _ = sens[bad[0]]
            unit = self._choose(cells, suppressed, target, facts)
            if unit is None:
                lo, hi = intervals[bad[0]]
                raise DisclosureError(
                    f"In {self.name}, the counts already published pin the small group {label!r} to "
                    f"between {lo:g} and {hi:g} pupils, and suppressing more of the new table cannot "
                    "protect it. Leave this table out, or publish the earlier tables at a coarser level.")
            suppressed.add(unit)
            if expand is not None:
                suppressed = set(expand(suppressed))
        for k, c in enumerate(cells):
            if c.unit not in suppressed:
                self._facts.append((c.ids, float(c.count), c.label))
                self._log.append({"kind": "published", "ids": c.ids, "n": int(c.count), "label": c.label,
                                  "where": c.where})
            elif c.sensitive and k not in out_already:
                self._sensitive.append((c.ids, c.label, thr))
                self._log.append({"kind": "protected", "ids": c.ids, "label": c.label, "where": c.where,
                                  "threshold": thr})
        self._facts.extend(extra_facts)
        for f, v, lab in extra_facts:
            self._log.append({"kind": "published", "ids": f, "n": int(v), "label": lab, "where": where})
        return suppressed

    @staticmethod
    def _choose(cells, suppressed, target, facts):
        """A shown unit of the new table to suppress next, to widen ``target``'s interval.

        The published counts that overlap the unprotected group are taken
        from the most specific (fewest pupils) up; the first one that shares
        pupils with shown cells of the new table gives the candidates, and
        the smallest of them is chosen.  Failing that, the smallest shown
        unit of the table.
        """
        n_ids = 1 + max([int(target.max(initial=-1))] + [int(c.ids.max(initial=-1)) for c in cells] +
                        [int(f.max(initial=-1)) for f, _ in facts])
        in_target = np.zeros(n_ids, dtype=bool)
        in_target[target] = True
        open_cells = [c for c in cells if c.unit not in suppressed and c.count > 0]
        if not open_cells:
            return None
        linked = sorted((len(f), k) for k, (f, _) in enumerate(facts) if in_target[f].any())
        for _, k in linked:
            inside = np.zeros(n_ids, dtype=bool)
            inside[facts[k][0]] = True
            near = [c for c in open_cells if inside[c.ids].any()]
            if near:
                return min(near, key=lambda c: c.count).unit
        return min(open_cells, key=lambda c: c.count).unit


_ACTIVE: DisclosureContext | None = None


def context(policy: DisclosurePolicy | None = None, *, name: str | None = None) -> DisclosureContext:
    """A new disclosure context for one output (use it in a ``with`` block, or :func:`set_context`)."""
    return DisclosureContext(policy, name=name)


def get_context() -> DisclosureContext | None:
    """The active disclosure context, or ``None``."""
    return _ACTIVE


def set_context(ctx: DisclosureContext | None) -> DisclosureContext | None:
    """Make ``ctx`` the active context (``None``: no context); returns it."""
    global _ACTIVE
    if ctx is not None and not isinstance(ctx, DisclosureContext):
        raise DataError("set_context expects a DisclosureContext or None.")
    _ACTIVE = ctx
    return ctx


def _resolve_context(ctx, data: pd.DataFrame | None = None,
                     policy: DisclosurePolicy | None = None) -> DisclosureContext | None:
    """The context a table goes through: the one passed, else the active one, else ``data``'s own.

    ``False`` means none.  Without an explicit or active context, tables made
    from the same data in one process share an automatic context
    (:func:`automatic_context`), so two tables of one data frame cannot undo
    each other even when nobody opened a context.
    """
    if ctx is False:
        return None
    if ctx is None:
        if _ACTIVE is not None:
            return _ACTIVE
        return automatic_context(data, policy=policy) if data is not None else None
    if not isinstance(ctx, DisclosureContext):
        raise DataError(f"`context` must be a DisclosureContext (bl.disclosure.context()), None or False, "
                        f"not {type(ctx).__name__}.")
    return ctx


_AUTOMATIC: dict = {}
_AUTOMATIC_KEEP = 16


def _data_key(data: pd.DataFrame) -> str:
    """A fingerprint of a data set: its columns and the multiset of its rows (not their order or labels)."""
    import hashlib

    hashes = _column_hashes(data, skip=None)
    rows = np.sort(_combine(hashes)) if hashes else np.zeros(0, dtype=np.uint64)
    h = hashlib.sha256()
    h.update(json.dumps(sorted(hashes), default=str).encode("utf-8"))
    h.update(np.int64(len(data)).tobytes())
    h.update(rows.tobytes())
    return h.hexdigest()


def automatic_context(data: pd.DataFrame, *, policy: DisclosurePolicy | None = None) -> DisclosureContext:
    """The disclosure context that tables of ``data`` share when no context is open.

    One per data set in this process, found by a fingerprint of the data's
    rows (so a shuffled copy, or one with a fresh index, is the same data
    set); the most recent 16 data sets are kept.  Tables made under another
    policy (another threshold) share another one.  Open a context
    (:func:`context`) to share one across several data frames, such as a
    data set and a subset of it.

    Examples
    --------
    >>> d = pd.DataFrame({"year": ["Y5"] * 59 + ["Y6"] * 60,
    ...                   "gender": ["F"] * 9 + ["M"] * 50 + ["F"] * 30 + ["M"] * 30, "y": 1.0})
    >>> automatic_context(d) is automatic_context(d.sample(frac=1, random_state=1).reset_index(drop=True))
    True
    """
    data = as_frame(data)
    policy = policy or get_default_policy()
    key = (_data_key(data), repr(policy))
    ctx = _AUTOMATIC.pop(key, None)
    if ctx is None:
        ctx = DisclosureContext(policy, name="the tables of this data set")
    _AUTOMATIC[key] = ctx                     # most recent last
    while len(_AUTOMATIC) > _AUTOMATIC_KEEP:
        _AUTOMATIC.pop(next(iter(_AUTOMATIC)))
    return ctx


def _forget_automatic() -> None:
    """Drop every automatic context (a fresh start, as in a new process; used between tests)."""
    _AUTOMATIC.clear()


def _row_ids(ctx: DisclosureContext, data: pd.DataFrame) -> np.ndarray:
    """Context ids of the pupils in the rows of ``data`` (see :meth:`DisclosureContext.pupils_of`)."""
    return ctx.pupils_of(data)


_PREFERRED_ID_WORDS = ("pupil", "student", "upn", "response", "cntstuid", "respondent", "child")


def _pupil_id_column(data: pd.DataFrame):
    """The column that identifies the pupils of ``data``, or ``None``.

    A column named like an identifier whose values are all present and all
    different; among several, one named for pupils (``pupil_id``, ``UPN``)
    first.
    """
    from .privacy import looks_like_id_column

    found = []
    for c in data.columns:
        if not isinstance(c, str) or not looks_like_id_column(c):
            continue
        col = data[c]
        if isinstance(col, pd.DataFrame) or col.isna().any() or not col.is_unique:
            continue
        found.append(c)
    if not found:
        return None
    preferred = [c for c in found if any(w in c.lower().replace(" ", "") for w in _PREFERRED_ID_WORDS)]
    return (preferred or found)[0]


def _id_text(value) -> str:
    """An ID as text: 1, 1.0 and '1' are one pupil; ' P001 ' is 'P001'."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)
    return str(value).strip()


def _column_hashes(data: pd.DataFrame, *, skip=None) -> dict:
    """A 64-bit hash of each row's value in each column (numbers as floats; never 0)."""
    out = {}
    seen = set()
    for c in data.columns:
        if c == skip or c in seen:
            continue
        seen.add(c)
        col = data[c]
        if isinstance(col, pd.DataFrame):
            continue
        if pd.api.types.is_bool_dtype(col) or (pd.api.types.is_numeric_dtype(col)
                                               and not isinstance(col.dtype, pd.CategoricalDtype)):
            col = col.astype(float)
        try:
            h = pd.util.hash_pandas_object(col, index=False).to_numpy(dtype=np.uint64)
        except TypeError:             # unhashable cells (lists): their text
            h = pd.util.hash_pandas_object(col.astype(str), index=False).to_numpy(dtype=np.uint64)
        h = h.copy()
        h[h == 0] = 1
        out[str(c)] = h
    return out


def _column_weight(name: str) -> np.uint64:
    import hashlib

    return np.uint64(int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "little") | 1)


def _combine(hashes: dict) -> np.ndarray:
    """One hash per row from the hashes of its columns (independent of the columns' order)."""
    out = None
    with np.errstate(over="ignore"):
        for c, h in hashes.items():
            term = h * _column_weight(c)
            out = term if out is None else out + term
    return out if out is not None else np.zeros(0, dtype=np.uint64)


def _pair_by_hash(new: np.ndarray, old: np.ndarray) -> np.ndarray:
    """For each of ``new``, the position in ``old`` of a row with the same hash (k-th with k-th), or -1."""
    a = pd.DataFrame({"h": new, "k": pd.Series(new).groupby(new).cumcount().to_numpy(), "i": np.arange(len(new))})
    b = pd.DataFrame({"h": old, "k": pd.Series(old).groupby(old).cumcount().to_numpy(), "j": np.arange(len(old))})
    m = a.merge(b, on=["h", "k"], how="left")
    out = np.full(len(new), -1, dtype=np.int64)
    hit = m["j"].notna().to_numpy()
    out[m["i"].to_numpy()[hit]] = m["j"].to_numpy()[hit].astype(np.int64)
    return out


def suppress(table: pd.DataFrame, *, count_col: str | Sequence[str] | None = None,
             counts: pd.DataFrame | None = None,
             within: str | Sequence[str] | None = None, labels: str | Sequence[str] | None = None,
             policy: DisclosurePolicy | None = None, totals: Sequence[str] = ()) -> SuppressedTable:
    """Suppress cells that describe fewer pupils than the policy's threshold.

    Two shapes of table are handled:

    * **a group summary** (one row per group) with a count column
      ``count_col``: a row whose count is below the threshold has every cell
      suppressed (its count, mean, SD, percentage ...).  A row that compares
      groups (a difference, an effect size) names each group's count column
      (``count_col=["n_treated", "n_control"]``): the smallest decides.  Secondary: if only
      one row (within each ``within`` block) is suppressed, the next-smallest
      row is suppressed too, so the block's total cannot reveal it.
    * **a cross-table** (cells are groups) with ``counts`` (same shape, the
      number of pupils behind each cell; for a table of counts pass the
      table itself): cells below the threshold are suppressed, then more
      cells until no row or column has exactly one suppressed cell.  Rows or
      columns named in ``totals`` are margins: never chosen for secondary
      suppression, and suppressed only if they are small themselves.  Margins
      may have several levels (subtotal rows such as 'Y7 all' beside a grand
      'Total'): each is matched to the block of rows or columns it adds up.
      A row or column named like a margin ('Total', 'Y7 all') whose counts
      add up such a block is a margin even when ``totals`` leaves it out.

    Parameters
    ----------
    table : DataFrame
    count_col : str or list of str, optional
    counts : DataFrame, optional
    within : str or list of str, optional
        Columns defining blocks for secondary suppression of a group summary
        (for example the grouping variable when several are stacked).
        They are never suppressed.
    labels : str or list of str, optional
        Numeric columns that name a row rather than describe pupils (a group
        code, a percentile, a category): shown even in a suppressed row.
        Text columns are always shown.
    policy : DisclosurePolicy, optional
        Default: :func:`get_default_policy`.
    totals : list of str
        Labels of margin rows/columns in a cross-table.

    Returns
    -------
    SuppressedTable

    Examples
    --------
    >>> t = pd.DataFrame({"group": ["a", "b", "c"], "n": [40, 4, 30], "mean": [3.1, 2.0, 3.4]})
    >>> s = suppress(t, count_col="n")
    >>> s.display()["n"].tolist()
    ['40', '[c]', '[c]']
    """
    table = as_frame(table, name="table")
    policy = policy or get_default_policy()
    if (count_col is None) == (counts is None):
        raise DataError("suppress: pass exactly one of `count_col` (group summary) or `counts` (cross-table).")
    if count_col is not None:
        count_cols = require_columns(table, count_col, role="count column")
        if not count_cols:
            raise DataError("suppress: `count_col` names no column.")
        table = table.copy()
        for col in count_cols:      # counts stored as text ("9") are counts
            require_numeric(table, col)
            if not pd.api.types.is_numeric_dtype(table[col]) or pd.api.types.is_bool_dtype(table[col]):
                table[col] = pd.to_numeric(table[col], errors="coerce")
    else:
        counts = as_frame(counts, name="counts")
        if counts.shape != table.shape or not counts.index.equals(table.index) \
                or not counts.columns.equals(table.columns):
            raise DataError("suppress: `counts` must have the same rows and columns as `table`.")
        table = table.copy()
        for col in table.columns:   # a table of counts stored as text is a table of counts
            if not pd.api.types.is_numeric_dtype(table[col]):
                require_numeric(table, col)
                table[col] = pd.to_numeric(table[col], errors="coerce")
    mask = pd.DataFrame(False, index=table.index, columns=table.columns)
    ints = tuple(c for c in table.columns if pd.api.types.is_integer_dtype(table[c])
                 and not pd.api.types.is_bool_dtype(table[c]))
    if not policy.enabled:
        return SuppressedTable(table.copy(), mask, policy, int_columns=ints)
    if count_col is not None:
        for col in count_cols:
            bad = table.index[pd.to_numeric(table[col], errors="coerce").isna().to_numpy()]
            if len(bad):
                raise DataError(f"suppress: the count column {col!r} has missing values "
                                f"(rows {', '.join(map(str, bad[:5]))}).")
            values = pd.to_numeric(table[col], errors="coerce").to_numpy(dtype=float)
            neg = np.nonzero(values < 0)[0]
            if len(neg):
                from ._validation import describe_rows

                raise DataError(f"suppress: the count column {col!r} holds negative numbers "
                                f"({describe_rows((neg + 1).tolist())} counted from 1, first value "
                                f"{values[neg[0]]:g}); a count of pupils is 0 or more.")
        n = np.min(np.column_stack([pd.to_numeric(table[c]).to_numpy(dtype=float) for c in count_cols]), axis=1)
        primary = n < policy.threshold
        rows = primary.copy()
        if policy.secondary:
            keys = as_list(within)
            require_columns(table, keys, role="block column")
            blocks = [np.arange(len(table))] if not keys else \
                [np.asarray(ix) for ix in table.groupby(keys, sort=False, dropna=False).indices.values()]
            for ix in blocks:
                _protect_block(n[ix], rows, ix, policy.threshold)
        require_columns(table, labels, role="label column")
        value_cols = [c for c in table.columns if c not in as_list(within) + as_list(labels)
                      and pd.api.types.is_numeric_dtype(table[c]) and not pd.api.types.is_bool_dtype(table[c])]
        return _mask_rows(table, rows, value_cols, policy, int(primary.sum()), ints,
                          tuple(as_list(within) + as_list(labels)))
    c = counts.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    if np.isnan(c).any():
        raise DataError("suppress: `counts` has missing or non-numeric cells.")
    if (c < 0).any():
        raise DataError("suppress: `counts` holds negative numbers; counts of pupils are 0 or more.")
    primary = (c < policy.threshold) & (c > 0)
    tot = set(totals)
    sup = primary.copy()
    if policy.secondary:
        tot_rows = np.array([r in tot for r in table.index])
        tot_cols = np.array([col in tot for col in table.columns])
        if tot_rows.all() or tot_cols.all():
            raise DataError("suppress: `totals` names every row or every column; name only the margins.")
        # margins not declared but named and added up as margins ('Y7 all', 'Total') are margins too
        tot_rows |= _named_margins(c, list(table.index), tot_rows, tot_cols)
        tot_cols |= _named_margins(c.T, list(table.columns), tot_cols, tot_rows)
        row_blocks = _margin_blocks(c, list(table.index), tot_rows, tot_cols, "row")
        col_blocks = _margin_blocks(c.T, list(table.columns), tot_cols, tot_rows, "column")
        sup = _protect_cross(c, primary, policy.threshold, tot_rows, tot_cols,
                             row_blocks=row_blocks, col_blocks=col_blocks)
    mask = pd.DataFrame(sup, index=table.index, columns=table.columns)
    data = table.astype(float).where(~sup)
    numeric_counts = counts.apply(pd.to_numeric, errors="coerce")
    ints = tuple(col for col in ints if numeric_counts[col].equals(table[col]))   # counts stay whole numbers
    return SuppressedTable(data, mask, policy, int(primary.sum()), int(sup.sum() - primary.sum()),
                           int_columns=ints)


def _protect_block(n: np.ndarray, rows: np.ndarray, ix: np.ndarray, threshold: int) -> None:
    """Secondary suppression in a block of groups whose total is known (in place on ``rows``).

    With the total known, the suppressed groups add up to a known number, and
    each lies between 0 and that number: the protection rule asks for at least
    two suppressed groups adding up to ``threshold`` pupils or more.
    """
    if n.sum() < threshold:          # the block is small itself: its total is not published
        return
    while True:
        s = rows[ix]
        if not s.any() or (s.sum() >= 2 and n[s].sum() >= threshold):
            return
        cand = np.where(s, np.inf, n)
        if np.isinf(cand).all():
            return
        rows[ix[int(np.argmin(cand))]] = True


def _mask_rows(table: pd.DataFrame, rows: np.ndarray, value_cols: list, policy: DisclosurePolicy,
               n_primary: int, ints: tuple, label_columns: tuple) -> SuppressedTable:
    mask = pd.DataFrame(False, index=table.index, columns=table.columns)
    for c in value_cols:
        mask.loc[rows, c] = True
    data = table.copy()
    for c in value_cols:
        data[c] = data[c].astype(float).where(~mask[c].to_numpy())
    return SuppressedTable(data, mask, policy, n_primary, int(rows.sum() - n_primary),
                           int_columns=ints, label_columns=label_columns)


def _through_context(st: SuppressedTable, ctx: DisclosureContext | None, cells: list[_Cell],
                     universe: np.ndarray | None, value_cols: list, *, counts: np.ndarray | None = None,
                     blocks: list | None = None, universe_where: tuple | None = None) -> SuppressedTable:
    """Check a group table (one unit per row) against the output's published counts.

    ``counts`` (one per row) and ``blocks`` (lists of rows) re-apply the
    table's own secondary rule whenever the context suppresses a row.
    """
    if ctx is None or not st.policy.enabled:
        return st
    rows = st.mask[value_cols].any(axis=1).to_numpy() if value_cols else np.zeros(len(st.data), bool)
    for c in cells:
        c.suppressed = bool(rows[c.unit])
    expand = None
    if counts is not None and st.policy.secondary:
        blocks = blocks if blocks is not None else [np.arange(len(rows))]
        n = np.asarray(counts, dtype=float)

        def expand(units):
            r = np.zeros(len(rows), dtype=bool)
            r[list(units)] = True
            for ix in blocks:
                ix = np.asarray(ix)
                _protect_block(n[ix], r, ix, st.policy.threshold)
            return set(np.nonzero(r)[0].tolist())
    units = ctx.protect(cells, universe=universe, threshold=st.policy.threshold, expand=expand,
                        where=universe_where)
    extra = np.array([i in units for i in range(len(rows))], dtype=bool) & ~rows
    if not extra.any():
        return st
    mask = st.mask.copy()
    data = st.data.copy()
    for col in value_cols:
        mask.loc[extra, col] = True
        data[col] = data[col].astype(float).where(~mask[col].to_numpy())
    return dataclasses.replace(st, data=data, mask=mask, n_secondary=st.n_secondary + int(extra.sum()))


def _plain(value):
    """A group value as JSON can hold it (numpy numbers to Python ones)."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def _key_where(keys: list, values: list) -> tuple:
    """Conditions that select a group: each key equal to its value (or missing)."""
    out = []
    for k, v in zip(keys, values):
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT:
            out.append(("isna", str(k)))
        elif isinstance(_plain(v), (str, int, float, bool)):
            out.append(("eq", str(k), _plain(v)))
        else:
            return None            # a value a ledger cannot write (a date): the group is not recorded
    return tuple(out)


def _group_cells(ctx: DisclosureContext, data: pd.DataFrame, keys: list, out_keys: pd.DataFrame,
                 parts: dict, threshold: int, shown_small: tuple = (),
                 part_where: dict | None = None) -> tuple[list[_Cell], np.ndarray]:
    """Cells (sets of pupil ids) of a group table: ``parts`` maps a name to a row mask of ``data``.

    Every output row is one unit; ``parts`` splits each group into the
    published counts of that row (for example pupils with and without a
    value).  Parts named in ``shown_small`` are counts the table shows
    even when small (missing values): published, never protected.  Returns
    the cells and the ids of every row of ``data``.
    """
    ids = _row_ids(ctx, data)
    codes = data.groupby(keys, dropna=False, sort=True, observed=True).ngroup().to_numpy()
    # output rows follow the same sorted group order
    cells = []
    for unit in range(len(out_keys)):
        member = codes == unit
        label = ", ".join(f"{k}={v}" for k, v in zip(keys, out_keys.iloc[unit].tolist()))
        key_where = _key_where(keys, out_keys.iloc[unit].tolist())
        whole = ids[member]
        protected_sizes = []
        for name, part in parts.items():
            sel = ids[member & part]
            if name not in shown_small:
                protected_sizes.append(len(sel))
            extra = (part_where or {}).get(name, None)
            where = None if key_where is None or extra is None else key_where + tuple(extra)
            cells.append(_Cell(sel, len(sel), unit, False,
                               name not in shown_small and 0 < len(sel) < threshold, f"{label} ({name})", where))
        # the whole group is protected too, unless a protected part already is the whole group (a part
        # shown even when small, such as the missing values, does not protect a group made only of it)
        if 0 < len(whole) < threshold and len(whole) not in protected_sizes:
            cells.append(_Cell(whole, len(whole), unit, False, True, label, key_where))
    return cells, ids


def _outcome_by(data: pd.DataFrame, outcome: str, by, what: str):
    """The grouping columns and the numeric outcome of a table by group (checked: present, numeric, finite)."""
    keys = require_columns(data, by, role="grouping column")
    require_columns(data, outcome, role="outcome column")
    require_numeric(data, outcome)
    require_finite(data, outcome, what=what)
    return keys, pd.to_numeric(data[outcome], errors="coerce")


def summarise_by(data: pd.DataFrame, *, outcome: str, by: str | Sequence[str],
                 policy: DisclosurePolicy | None = None,
                 context: DisclosureContext | None = None) -> SuppressedTable:
    """Group summary (n, mean, SD) with disclosure control applied.

    Parameters
    ----------
    data : DataFrame
    outcome : str
        Numeric column summarised.
    by : str or list of str
        Grouping column(s).
    policy : DisclosurePolicy, optional
    context : DisclosureContext or False, optional
        The output's disclosure context (default: the active one, if any);
        the table is checked against the counts the output has already
        published.  ``False``: no context.

    Returns
    -------
    SuppressedTable
        Columns ``by..., n, n_missing, mean, sd``; ``n`` counts pupils with a
        value (pupils missing ``outcome`` are counted in ``n_missing``).

    Examples
    --------
    >>> d = pd.DataFrame({"g": ["a"] * 12 + ["b"] * 3 + ["c"] * 20, "y": range(35)})
    >>> summarise_by(d, outcome="y", by="g").display()["mean"].tolist()
    ['[c]', '[c]', '24.50']

    Group ``b`` has 3 pupils (primary suppression); with the overall total
    known, ``a`` and ``c`` would reveal it, so the smaller (``a``, 12 pupils)
    is suppressed too (secondary suppression).
    """
    data = as_frame(data)
    keys, y = _outcome_by(data, outcome, by, "summary by group")
    g = y.groupby([data[k] for k in keys], dropna=False, sort=True)
    out = pd.DataFrame({"n": g.count(), "n_missing": g.size() - g.count(), "mean": g.mean(), "sd": g.std()})
    out = out.reset_index()
    policy = policy or get_default_policy()
    st = suppress(out, count_col="n", labels=keys, policy=policy)
    ctx = _resolve_context(context, data, policy)
    if ctx is None or not policy.enabled:
        return st
    has = y.notna().to_numpy()
    cells, ids = _group_cells(ctx, data, keys, out[keys], {"with a value": has, "missing": ~has},
                              policy.threshold, shown_small=("missing",),
                              part_where={"with a value": (("notna", str(outcome)),),
                                          "missing": (("isna", str(outcome)),)})
    value_cols = ["n", "n_missing", "mean", "sd"]
    # the table does not publish its total: the context links it only through its shown cells
    return _through_context(st, ctx, cells, None, value_cols, counts=out["n"].to_numpy())


def count_by(data: pd.DataFrame, *, by: str | Sequence[str],
             policy: DisclosurePolicy | None = None,
             context: DisclosureContext | None = None) -> SuppressedTable:
    """Number and percentage of pupils in each group, with disclosure control applied.

    Every row of ``data`` is counted once; a missing group value is a group
    of its own (shown as missing), so the counts always add up to the rows
    passed in.

    Parameters
    ----------
    data : DataFrame
    by : str or list of str
        Grouping column(s).
    policy : DisclosurePolicy, optional
    context : DisclosureContext or False, optional
        The output's disclosure context (default: the active one, if any).

    Returns
    -------
    SuppressedTable
        Columns ``by..., n, percent`` (percent of all rows).

    Examples
    --------
    >>> d = pd.DataFrame({"band": ["low"] * 4 + ["mid"] * 30 + ["high"] * 50})
    >>> count_by(d, by="band").display()["n"].tolist()
    ['50', '[c]', '[c]']
    """
    data = as_frame(data)
    keys = require_columns(data, by, role="grouping column")
    sizes = data.groupby(keys, dropna=False, sort=True, observed=True).size()
    out = sizes.rename("n").reset_index()
    total = int(out["n"].sum())
    out["percent"] = out["n"] / total * 100 if total else np.nan
    policy = policy or get_default_policy()
    st = suppress(out, count_col="n", labels=keys, policy=policy)
    ctx = _resolve_context(context, data, policy)
    if ctx is None or not policy.enabled:
        return st
    cells, ids = _group_cells(ctx, data, keys, out[keys], {"pupils": np.ones(len(data), bool)},
                              policy.threshold, part_where={"pupils": ()})
    # percentages of all rows publish the table's total
    return _through_context(st, ctx, cells, ids, ["n", "percent"], counts=out["n"].to_numpy(), universe_where=())


def nk_rule(values, *, n: int | None = None, k: float | None = None,
            policy: DisclosurePolicy | None = None) -> bool:
    """The (n, k) dominance rule: ``True`` when a magnitude cell must be suppressed.

    A cell (a total of non-negative contributions, one per pupil, school or
    business) is sensitive when its ``n`` largest contributions make up at
    least a share ``k`` of the total: a reader who is one of the largest
    contributors learns too much about the others.

    Parameters
    ----------
    values : array-like
        The contributions to one cell (missing values are left out).
    n, k : optional
        Default: the policy's ``nk_n`` and ``nk_k`` (2 and 0.9).

    Raises
    ------
    DataError
        For negative contributions (dominance is undefined then).

    Notes
    -----
    Hundepool et al. (2012), section 4.2.2; Eurostat SDC handbook; ACRO's
    ``check_nk_dominance`` uses the same comparison (share >= k).

    Examples
    --------
    >>> nk_rule([100, 5, 3, 2])          # the two largest make up 95% of 110
    True
    >>> nk_rule([30, 25, 20, 15, 10])
    False
    """
    policy = policy or get_default_policy()
    n = policy.nk_n if n is None else n
    k = policy.nk_k if k is None else k
    x = _contributions(values)
    total = x.sum()
    if total <= 0:
        return False
    top = np.sort(x)[::-1][:int(n)].sum()
    return bool(top / total >= k)


def p_ratio_rule(values, *, p: float | None = None, policy: DisclosurePolicy | None = None) -> bool:
    """The p% rule: ``True`` when a magnitude cell must be suppressed.

    The second-largest contributor, knowing the total, can estimate the
    largest contribution by subtracting its own; the cell is sensitive when
    what remains besides the two largest, ``total - x1 - x2``, is less than
    ``p`` times the largest ``x1`` (so that estimate is within ``p`` of the
    truth).

    Notes
    -----
    Hundepool et al. (2012), section 4.2.2 (the p% rule); ACRO's
    ``check_ppercent_dominance`` uses ``(total - x1 - x2) / x1 < p``.

    Examples
    --------
    >>> p_ratio_rule([100, 40, 5])        # 5 < 0.1 * 100
    True
    >>> p_ratio_rule([100, 40, 30])
    False
    """
    policy = policy or get_default_policy()
    p = policy.p_ratio if p is None else p
    x = np.sort(_contributions(values))[::-1]
    if len(x) == 0 or x[0] <= 0:
        return False
    rest = x.sum() - x[:2].sum()
    return bool(rest / x[0] < p)


def _contributions(values) -> np.ndarray:
    x = pd.to_numeric(pd.Series(np.asarray(values).reshape(-1)), errors="coerce").dropna().to_numpy(float)
    if np.isinf(x).any():
        raise DataError("A magnitude cell holds infinite contributions.")
    if (x < 0).any():
        raise DataError(f"Dominance rules need contributions of 0 or more, but {x[x < 0][0]!r} was passed "
                        "(dominance is undefined with negative values).")
    return x


def magnitude_by(data: pd.DataFrame, *, outcome: str, by: str | Sequence[str],
                 policy: DisclosurePolicy | None = None,
                 context: DisclosureContext | None = None) -> SuppressedTable:
    """Totals of a quantity by group (a magnitude table), with threshold and dominance rules.

    A group's row is suppressed when it has fewer contributors than the
    threshold, or its total fails the (n, k) rule (:func:`nk_rule`) or the
    p% rule (:func:`p_ratio_rule`); then secondary suppression as for any
    group table (the grand total counts as known).

    Returns
    -------
    SuppressedTable
        Columns ``by..., n, total, mean``, plus ``rule``: why a row was
        suppressed (``"threshold"``, ``"nk"``, ``"p%"``, ``"secondary"`` or
        empty).

    Examples
    --------
    >>> d = pd.DataFrame({"school": ["A"] * 12 + ["B"] * 12,
    ...                   "minutes": [500] + [1] * 11 + [10] * 12})
    >>> magnitude_by(d, outcome="minutes", by="school", context=False).display()["rule"].tolist()
    ['nk', 'secondary']
    """
    data = as_frame(data)
    policy = policy or get_default_policy()
    keys, y = _outcome_by(data, outcome, by, "magnitude table")
    if (y < 0).any():
        bad = data.index[(y < 0).to_numpy()]
        raise DataError(f"magnitude_by: column {outcome!r} holds negative values (rows "
                        f"{', '.join(map(str, bad[:5]))}); dominance rules need contributions of 0 or more.")
    g = y.groupby([data[k] for k in keys], dropna=False, sort=True)
    out = pd.DataFrame({"n": g.count(), "total": g.sum(), "mean": g.mean()}).reset_index()
    nk = np.array([nk_rule(v, policy=policy) for _, v in g], dtype=bool)
    pp = np.array([p_ratio_rule(v, policy=policy) for _, v in g], dtype=bool)
    small = out["n"].to_numpy() < policy.threshold
    rule = np.where(small, "threshold", np.where(nk, "nk", np.where(pp, "p%", "")))
    if not policy.enabled:
        out["rule"] = ""
        return suppress(out, count_col="n", labels=keys + ["rule"], policy=policy)
    primary = rule != ""
    rows = primary.copy()
    if policy.secondary:
        # the protection rule on the contributors' counts, the grand total known
        _protect_block(out["n"].to_numpy(dtype=float), rows, np.arange(len(out)), policy.threshold)
        if rows.sum() == 1 and len(rows) > 1:
            rows[int(np.argmin(np.where(rows, np.inf, out["total"].to_numpy(dtype=float))))] = True
    out["rule"] = np.where(primary, rule, np.where(rows, "secondary", ""))
    ints = tuple(c for c in out.columns if pd.api.types.is_integer_dtype(out[c]))
    st = _mask_rows(out, rows, ["n", "total", "mean"], policy, int(primary.sum()), ints,
                    tuple(keys + ["rule"]))
    ctx = _resolve_context(context, data, policy)
    if ctx is None:
        return st
    has = y.notna().to_numpy()
    cells, ids = _group_cells(ctx, data, keys, out[keys], {"contributors": has}, policy.threshold,
                              part_where={"contributors": (("notna", str(outcome)),)})
    st = _through_context(st, ctx, cells, None, ["n", "total", "mean"], counts=out["n"].to_numpy())
    rule = st.data["rule"].where(~(st.mask["n"] & (st.data["rule"] == "")), "secondary")
    return dataclasses.replace(st, data=st.data.assign(rule=rule))


def check_model_df(residual_df: float, *, minimum: int | None = None,
                   policy: DisclosurePolicy | None = None) -> float:
    """Raise unless a model has at least ``minimum`` residual degrees of freedom.

    Output checkers (for example in ONS/SRS secure settings, and ACRO's
    ``safe_dof_threshold``) refuse models whose residual degrees of freedom
    are below 10, because such a model can nearly reproduce individual
    pupils' values.  ``minimum`` defaults to the policy's ``min_residual_df``.

    Examples
    --------
    >>> check_model_df(25)
    25.0
    """
    try:
        df = float(residual_df)
    except (TypeError, ValueError):
        raise DataError(f"check_model_df: residual_df must be a number, not {residual_df!r}.") from None
    if np.isnan(df):
        raise DataError("check_model_df: residual_df is missing (NaN).")
    policy = policy or get_default_policy()
    minimum = policy.min_residual_df if minimum is None else minimum
    if policy.enabled and df < minimum:
        raise DisclosureError(f"The model has {df:g} residual degrees of freedom; at least {minimum} are "
                              "needed before its results can be released.")
    return df


#: Column names treated as pupil identifiers by :func:`drop_identifiers`.
ID_PATTERNS = (r"(?i)^(pupil_?id|student_?id|responseid|response_id|upn|cntstuid|staff_?id|name|"
               r"first_?name|surname|last_?name|dob|date_?of_?birth|postcode|email)$")


def drop_identifiers(data: pd.DataFrame, *, columns: Sequence[str] | None = None,
                     key: str | bytes | None = None) -> pd.DataFrame:
    """Remove (or, with ``key``, pseudonymise) pupil identifier columns before display.

    Parameters
    ----------
    data : DataFrame
    columns : list of str, optional
        Identifier columns; by default those matching :data:`ID_PATTERNS`
        (pupil_id, ResponseId, UPN, name, date of birth, postcode, email ...).
    key : str or bytes, optional
        If given, identifiers are replaced by keyed pseudonyms
        (:func:`belonging_lib.privacy.pseudonymise`) instead of dropped.

    Examples
    --------
    >>> drop_identifiers(pd.DataFrame({"pupil_id": ["P1"], "y": [3]})).columns.tolist()
    ['y']
    """
    import re

    data = as_frame(data)
    from .privacy import normalise_column_name  # "Pupil ID", "UPN " (spaces, hyphens, NFC) match too

    cols = as_list(columns) if columns is not None else [
        c for c in data.columns if re.match(ID_PATTERNS, normalise_column_name(c))]
    require_columns(data, cols, role="identifier column")
    if key is not None:
        from .privacy import pseudonymise

        return pseudonymise(data, columns=cols, key=key)
    return data.drop(columns=cols)
