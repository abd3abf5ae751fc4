"""The PISA-style international file (``pisa.csv.gz``): six fictional countries, Fay-BRR weights."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._common import _as_int, _as_rng, _logistic
from .items import _pisa_items

__all__ = ["simulate_pisa", "paley_hadamard", "PISA"]

#: Generating parameters of the file (described in ``TRUTH.json["pisa"]``).
PISA = {
    "countries": ["AAA", "BBB", "CCC", "DDD", "EEE", "FFF"],
    "math_mean": [468.0, 489.0, 502.0, 511.0, 523.0, 538.0],
    "read_mean": [472.0, 485.0, 498.0, 516.0, 519.0, 530.0],
    "escs_mean": [-0.45, -0.20, 0.00, 0.10, 0.25, 0.35],
    "math_escs": 30.0, "math_belong": 8.0, "read_escs": 28.0, "read_belong": 10.0,
    "school_sd": 35.0, "resid_sd": 62.0, "pv_noise_sd": 22.0, "fay_k": 0.5,
    "n_schools": 40, "n_replicates": 80,
}



def paley_hadamard(q: int = 79) -> np.ndarray:
    """Hadamard matrix of order q + 1 by Paley's first construction (q prime, q % 4 == 3).

    Normalised so that its first column is all ones.  ``paley_hadamard(79)``
    is the order-80 matrix used for the 80 Fay-BRR replicates.

    Examples
    --------
    >>> H = paley_hadamard(79)
    >>> bool((H @ H.T == 80 * np.eye(80)).all()), bool((H[:, 0] == 1).all())
    (True, True)
    """
    squares = {(i * i) % q for i in range(1, q)}
    chi = np.array([0] + [1 if k in squares else -1 for k in range(1, q)])
    idx = np.arange(q)
    Q = chi[(idx[None, :] - idx[:, None]) % q]
    S = np.zeros((q + 1, q + 1), dtype=int)
    S[0, 1:] = 1
    S[1:, 0] = -1
    S[1:, 1:] = Q
    H = np.eye(q + 1, dtype=int) + S
    H = H * H[:, [0]]  # make the first column all ones
    return H


def simulate_pisa(rng, *, pupils_per_country: int = 1200) -> pd.DataFrame:
    """PISA-style file: 6 fictional countries, Fay-BRR weights, 10 PVs per domain.

    Parameters
    ----------
    rng : numpy.random.Generator or int
        Random generator or seed.
    pupils_per_country : int
        Students per country (at least 20 per school, 40 schools).

    Returns
    -------
    DataFrame
        Columns as ``pisa.csv.gz``.

    Notes
    -----
    True score in mathematics: country mean + 30 ESCS + 8 BELONG + school
    effect (SD 35) + residual (SD 62); each PV adds independent noise (SD 22).
    Replicate weights: Fay BRR with k = 0.5 over 20 pseudo-strata (pairs of
    schools) per country and the order-80 Hadamard matrix of
    :func:`paley_hadamard`; sampling variance = sum_r (t_r - t)^2 / (80 * 0.25).

    Examples
    --------
    >>> pisa = simulate_pisa(1, pupils_per_country=1000)
    >>> pisa.shape
    (6000, 114)
    """
    rng = _as_rng(rng)
    p = PISA
    # rows = replicates, columns 1..20 = pseudo-strata (column 0, all ones, unused): full
    # orthogonal balance across the 80 replicates.
    H = paley_hadamard(79)
    frames = []
    for ci, cnt in enumerate(p["countries"]):
        ns = p["n_schools"]
        sizes = rng.multinomial(pupils_per_country - 20 * ns, np.full(ns, 1 / ns)) + 20
        sch_escs = p["escs_mean"][ci] + 0.45 * rng.standard_normal(ns)
        order = np.argsort(sch_escs, kind="stable")  # pseudo-strata: pairs of similar schools
        sch_escs = sch_escs[order]
        sch = np.repeat(np.arange(ns), sizes)
        n = len(sch)
        escs = sch_escs[sch] + 0.85 * rng.standard_normal(n)
        female = rng.random(n) < 0.5
        immig = 1 + (rng.random(n) < 0.10).astype(int) + (rng.random(n) < 0.09).astype(int)
        immig = np.minimum(immig, 3)
        u_b = 0.25 * rng.standard_normal(ns)
        lat = (0.10 * escs - 0.15 * (immig == 3) + u_b[sch] + 0.95 * rng.standard_normal(n))
        items = _pisa_items(rng, lat, [0.72, 0.68, 0.70, 0.64, 0.66, 0.62])
        keyed = items.astype(float)
        keyed[:, [1, 2, 4]] = 5 - keyed[:, [1, 2, 4]]
        raw_belong = keyed.mean(axis=1)
        u_m = p["school_sd"] * rng.standard_normal(ns)
        frames.append(dict(ci=ci, cnt=cnt, sch=sch, n=n, escs=escs, female=female, immig=immig,
                           items=items, raw_belong=raw_belong, u_m=u_m, sch_escs=sch_escs,
                           sizes=sizes))
    # BELONG: standardised item mean, pooled mean 0 SD 1 with countries weighted equally.
    allb = np.concatenate([f["raw_belong"] for f in frames])
    wts = np.concatenate([np.full(f["n"], 1.0 / f["n"]) for f in frames])
    mu = np.sum(wts * allb) / wts.sum()
    sd = np.sqrt(np.sum(wts * (allb - mu) ** 2) / wts.sum())
    out = []
    for f in frames:
        ci, n, sch = f["ci"], f["n"], f["sch"]
        belong = (f["raw_belong"] - mu) / sd
        belong_r = np.round(belong, 4)
        theta_m = (p["math_mean"][ci] + p["math_escs"] * f["escs"].round(2)
                   + p["math_belong"] * belong_r + f["u_m"][sch]
                   + p["resid_sd"] * rng.standard_normal(n))
        e_read = 0.8 * (theta_m - (p["math_mean"][ci] + p["math_escs"] * f["escs"].round(2)
                                   + p["math_belong"] * belong_r)) + np.sqrt(1 - 0.64) * (
            np.sqrt(p["school_sd"] ** 2 + p["resid_sd"] ** 2)) * rng.standard_normal(n)
        theta_r = (p["read_mean"][ci] + p["read_escs"] * f["escs"].round(2)
                   + p["read_belong"] * belong_r + e_read)
        pv_m = theta_m[:, None] + p["pv_noise_sd"] * rng.standard_normal((n, 10))
        pv_r = theta_r[:, None] + p["pv_noise_sd"] * rng.standard_normal((n, 10))
        # Final weights: schools with lower ESCS under-sampled (higher weights); pupil adj.
        sch_w = np.exp(3.0 - 0.35 * f["sch_escs"] + 0.30 * rng.standard_normal(len(f["sizes"])))
        w = sch_w[sch] * (1 + 0.15 * rng.random(n))
        w = np.round(w, 4)
        stratum = sch // 2
        first = (sch % 2 == 0)
        sign = H[:, 1 + stratum].T * np.where(first, 1, -1)[:, None]
        rep = np.round(w[:, None] * (1 + p["fay_k"] * sign), 4)
        d = {
            "CNT": f["cnt"],
            "CNTSCHID": (ci + 1) * 1000 + sch + 1,
            "CNTSTUID": (ci + 1) * 100000 + np.arange(1, n + 1),
            "ST004D01T": np.where(f["female"], 1, 2),
            "ESCS": f["escs"].round(2),
            "IMMIG": f["immig"],
        }
        for j in range(6):
            d[f"ST034Q0{j + 1}TA"] = f["items"][:, j]
        d["BELONG"] = belong_r
        d["W_FSTUWT"] = w
        for r in range(p["n_replicates"]):
            d[f"W_FSTURWT{r + 1}"] = rep[:, r]
        for v in range(10):
            d[f"PV{v + 1}MATH"] = np.round(pv_m[:, v], 3)
        for v in range(10):
            d[f"PV{v + 1}READ"] = np.round(pv_r[:, v], 3)
        out.append(pd.DataFrame(d))
    pisa = pd.concat(out, ignore_index=True)
    # A few pupils skipped the belonging block (MAR on ESCS) and a few IMMIG missing.
    nn = len(pisa)
    skip = rng.random(nn) < _logistic(-3.9 - 0.5 * pisa["ESCS"].to_numpy())
    for c in [f"ST034Q0{j}TA" for j in range(1, 7)] + ["BELONG"]:
        pisa[c] = pisa[c].astype("float").mask(skip)
    pisa = _as_int(pisa, [f"ST034Q0{j}TA" for j in range(1, 7)])
    imm_miss = rng.random(nn) < 0.02
    pisa["IMMIG"] = pisa["IMMIG"].astype("Int64").mask(imm_miss)
    return pisa
