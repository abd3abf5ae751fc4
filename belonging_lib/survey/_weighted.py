"""The weighted sums and checks that a survey design's estimates share, in memory and on Dask (private).

A weighted least-squares fit for every weight column needs only sums over pupils (``_wls_sums``),
which ``_wls_solve`` turns into coefficients and R-squared; sums over parts of the rows add up to
the sums over all of them, which is how a design of a Dask DataFrame computes them
(:mod:`belonging_lib.survey._dask`).  Also the design's column conventions (replicate weights by
prefix, plausible-value groups) and the errors both kinds of design raise, in one wording.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from .._errors import ColumnError, DataError
from .._validation import describe_rows, require_columns

_PV_PATTERN = re.compile(r"^PV(\d+)([A-Za-z_][A-Za-z0-9_]*)$")


# rows per block of the weighted cross-products in _wls_all (a block of C stays in the cache)
_WLS_BLOCK = 4096


def _wls_sums(
    W: np.ndarray, Xs: list[np.ndarray], Y: np.ndarray, shifts: list, Ybar: np.ndarray, ones: np.ndarray | None = None
) -> np.ndarray:
    """Every weighted sum a regression needs, (R+1, width): ``W' C`` for the columns of X and Y
    less ``shifts`` and ``Ybar``.

    C holds, side by side: x_j x_k (j <= k, per design matrix), x_j y_m, y_m, y_m^2, 1.  Sums over
    rows, so the sums of parts of the rows add up to the sums over all of them (the Dask path).
    ``ones`` marks a column of X that is 1 for every row (the intercept, not shifted): its
    products with itself and with y_m repeat the columns 1 and y_m, so they are not multiplied
    again but copied after the product (the same numbers, a sixth fewer columns in PISA's case).
    """
    n, M = Y.shape
    p = Xs[0].shape[1]
    iu = np.triu_indices(p)
    nq = len(iu[0])
    shared = len(Xs) == 1
    nX = len(Xs)
    Yc = Y - Ybar
    width = nX * nq + p * M + 2 * M + 1
    k = int(np.flatnonzero(ones)[0]) if ones is not None and np.any(ones) else -1
    if k >= 0 and not all(shift[k] == 0 and np.all(X[:, k] == 1) for X, shift in zip(Xs, shifts)):
        k = -1  # not a column of ones in every design matrix (or shifted): every product is multiplied
    # the columns that are multiplied (C's layout less the repeats), and where each goes in S
    pairs = np.array([t for t in range(nq) if not (iu[0][t] == k and iu[1][t] == k)], dtype=int)
    xcols = np.array([a for a in range(p) if a != k], dtype=int)
    nqk, pk = len(pairs), len(xcols)
    dest = [j * nq + pairs for j in range(nX)]
    if shared:
        dest.append((nX * nq + xcols[:, None] * M + np.arange(M)[None, :]).ravel())
    else:
        dest += [nX * nq + j * p + xcols for j in range(M)]
    pos = nX * nq + p * M
    dest.append(np.arange(pos, width))
    dest_all = np.concatenate(dest)
    kept = len(dest_all)
    Sc = np.zeros((W.shape[1], kept))
    # C is built transposed (a row of CT per column of C), so that every product is a contiguous run
    # over pupils; X and Y are read by column for the same reason
    Xcs = [np.asfortranarray(X - shift) for X, shift in zip(Xs, shifts)]
    Yc = np.asfortranarray(Yc)
    # filled in place, a block of rows at a time so that each block stays in the processor's cache
    # while W' C is summed
    block = _WLS_BLOCK
    CT_buf = np.empty((kept, min(n, block)))
    at_y = nX * nqk + pk * M
    ia, ib = iu[0][pairs], iu[1][pairs]
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        CT = CT_buf[:, : hi - lo]
        YcT = Yc[lo:hi].T
        for j, Xc_all in enumerate(Xcs):
            XcT = Xc_all[lo:hi].T
            np.multiply(XcT[ia], XcT[ib], out=CT[j * nqk : (j + 1) * nqk])
            XkT = XcT[xcols] if k >= 0 else XcT
            if shared:
                np.multiply(XkT[:, None, :], YcT[None, :, :], out=CT[nX * nqk : at_y].reshape(pk, M, hi - lo))
            else:
                np.multiply(XkT, YcT[[j]], out=CT[nX * nqk + j * pk : nX * nqk + (j + 1) * pk])
        CT[at_y : at_y + M] = YcT
        np.multiply(YcT, YcT, out=CT[at_y + M : at_y + 2 * M])
        CT[-1] = 1.0
        Sc += W[lo:hi].T @ CT.T  # (R+1, columns): every weighted sum of the block at once
    S = np.empty((W.shape[1], width))
    S[:, dest_all] = Sc
    if k >= 0:  # the repeats: 1 * 1 is the column 1, 1 * y_m is y_m
        S[:, [j * nq + int(np.flatnonzero((iu[0] == k) & (iu[1] == k))[0]) for j in range(nX)]] = Sc[:, [-1]]
        if shared:
            S[:, nX * nq + k * M : nX * nq + (k + 1) * M] = S[:, pos : pos + M]
        else:
            S[:, [nX * nq + j * p + k for j in range(M)]] = S[:, pos : pos + M]
    return S


def _wls_solve(S: np.ndarray, shifts: list, Ybar: np.ndarray, ones: np.ndarray, M: int) -> np.ndarray:
    """Coefficients and R^2, (R+1, M, p + 1), from the sums of :func:`_wls_sums`.

    ``ones`` marks the intercept column (never shifted); with one, the intercept is restored from
    the shifts, whatever they are (the group's means in memory).
    """
    p = len(ones)
    has_icept = bool(ones.any())
    iu = np.triu_indices(p)
    nq = len(iu[0])
    nX = len(shifts)
    shared = nX == 1
    pos = nX * nq
    if shared:
        XtWY = S[:, pos : pos + p * M].reshape(-1, p, M)
        pos += p * M
    else:
        XtWY = np.stack([S[:, pos + j * p : pos + (j + 1) * p] for j in range(M)], axis=2)
        pos += p * M
    swy = S[:, pos : pos + M]
    swyy = S[:, pos + M : pos + 2 * M]
    sw = S[:, pos + 2 * M]
    sst = swyy - swy**2 / sw[:, None]
    R1 = S.shape[0]
    coefs = np.empty((R1, M, p))
    sse = np.empty((R1, M))
    for j in range(nX):
        A = np.empty((R1, p, p))
        A[:, iu[0], iu[1]] = S[:, j * nq : (j + 1) * nq]
        A[:, iu[1], iu[0]] = S[:, j * nq : (j + 1) * nq]
        cols = list(range(M)) if shared else [j]
        Bm = XtWY[:, :, cols]
        b = np.linalg.solve(A, Bm)  # (R+1, p, m)
        sse[:, cols] = swyy[:, cols] - np.einsum("rpm,rpm->rm", b, Bm)
        if has_icept:  # intercept = a_c + ybar - sum(b * shift)
            k = int(np.nonzero(ones)[0][0])
            b[:, k, :] += Ybar[cols][None, :] - np.einsum("p,rpm->rm", shifts[j], b)
        coefs[:, cols, :] = np.transpose(b, (0, 2, 1))
    r2 = 1.0 - sse / sst
    return np.concatenate([coefs, r2[:, :, None]], axis=2)


def _check_total_weight(total: np.ndarray, where: str, n: int, weight_cols: list) -> None:
    """A group whose total weight is 0 in a weight column has no estimate there."""
    zero = np.nonzero(total <= 0)[0]
    if len(zero):
        raise DataError(
            f"The {n} pupils of {where} have a total weight of 0 in column "
            f"{weight_cols[zero[0]]!r} ({len(zero)} weight column(s) in all), so no "
            "estimate or replicate variance exists there. Merge it with another group."
        )


def _check_statistic(checked: np.ndarray, names, where: str, n: int, weight_cols: list) -> None:
    """A statistic that is not a finite number for some weight column is an error naming it."""
    if not np.all(np.isfinite(checked)):
        r = int(np.nonzero(~np.isfinite(checked).reshape(checked.shape[0], -1).all(axis=1))[0][0])
        raise DataError(
            f"The statistic of {names} is undefined in {where} ({n} pupils) "
            f"with weight column {weight_cols[r]!r}: a variable does not vary there "
            "(or only one pupil carries weight)."
        )


def _empty_pv_error(name: str, empty: list) -> DataError:
    return DataError(
        f"The plausible value{'s' if len(empty) > 1 else ''} {', '.join(map(repr, empty))} "
        f"of {name!r} {'are' if len(empty) > 1 else 'is'} empty for every pupil: every "
        "plausible value is needed for Rubin's rules. Check that the column was read "
        "from the right file, or leave the group's plausible values out."
    )


def _replicate_columns(data: pd.DataFrame, replicates) -> list[str]:
    if isinstance(replicates, str):
        pat = re.compile("^" + re.escape(replicates) + r"(\d+)$")
        found = [(int(m.group(1)), c) for c in data.columns if (m := pat.match(str(c)))]
        if not found:
            raise ColumnError(
                f"No replicate weight columns named {replicates!r} + number "
                f"(for example {replicates}1) are in the data."
            )
        return [c for _, c in sorted(found)]
    cols = require_columns(data, list(replicates), role="replicate weight column")
    if not cols:
        raise ColumnError("`replicates` is empty.")
    return cols


def _replicate_weight_error(
    cols: list[str], any_positive: bool, all_equal: bool, n_zero: int, rows: list, example
) -> DataError | None:
    """The error of replicate weights that cannot give a standard error (``rows``: positions from 0 of
    the pupils with final weight 0 but a positive replicate weight; ``example``: one's replicate
    index and value), or None."""
    if not any_positive:
        return DataError(f"Every final weight in {cols[0]!r} is 0: no pupil counts, so nothing can be estimated.")
    if all_equal:
        return DataError(
            f"Every replicate weight ({cols[1]!r} ... {cols[-1]!r}) equals the final weight {cols[0]!r} for every "
            "pupil, so the replicates carry no variance: every standard error would be 0 and every interval "
            "of no width. Check that the replicate columns are the survey's replicate weights (for PISA, "
            "W_FSTR1-80), not copies of the final weight."
        )
    if n_zero:
        j, value = example
        return DataError(
            f"{n_zero} pupil{'s have' if n_zero != 1 else ' has'} final weight 0 in {cols[0]!r} but a "
            f"positive replicate weight ({describe_rows([r + 1 for r in rows])}, counted from 1; for example "
            f"{cols[1 + j]!r} = {value:g}). A replicate weight is the final weight times a factor, "
            "so the two cannot both hold: check that the weights come from one file and one release."
        )
    return None


def _pv_groups(data: pd.DataFrame, pv) -> dict[str, list[str]]:
    if pv is None:
        return {}
    if isinstance(pv, str):
        if pv != "auto":
            raise DataError(f"`pv` must be a dict, 'auto' or None, but {pv!r} was passed.")
        groups: dict[str, list[tuple[int, str]]] = {}
        for c in data.columns:
            m = _PV_PATTERN.match(str(c))
            if m:
                groups.setdefault(m.group(2), []).append((int(m.group(1)), c))
        out = {}
        for name, items in groups.items():
            nums = sorted(i for i, _ in items)
            if len(items) >= 2 and nums == list(range(1, len(items) + 1)):
                out[name] = [c for _, c in sorted(items)]
        return out
    out = {}
    for name, cols in dict(pv).items():
        cols = require_columns(data, list(cols), role=f"plausible value of {name!r}")
        if len(cols) < 2:
            raise DataError(f"Plausible-value group {name!r} needs at least 2 columns.")
        if name in data.columns:
            raise ColumnError(f"Plausible-value name {name!r} is also a column of the data; rename one.")
        out[str(name)] = cols
    return out
