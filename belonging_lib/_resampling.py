"""Cluster resampling: the cluster bootstrap and re-randomisation, written once (not public).

Every estimator that resamples clusters draws them here, so that one seed gives the same draws
wherever they are used:

- :func:`cluster_bootstrap_indices`: clusters drawn with replacement from all clusters
  (the bootstrap of ICCs and variance components in :mod:`belonging_lib.reliability`);
- :func:`stratified_cluster_draws`: clusters drawn with replacement within strata (the trial
  arms), stratum by stratum in the order given (:func:`belonging_lib.trials.crt_effect`,
  :func:`belonging_lib.trials.cace`);
- :func:`cluster_bootstrap`: runs a statistic on each drawn set of clusters;
- :func:`unit_sums` and :func:`bootstrap_counts`: the bootstrap as counts, each replicate a
  multinomial draw of how often each unit (a pupil, or a whole cluster) enters, in chunks, for
  statistics computed from sums of per-unit terms (:func:`belonging_lib.models.mediation`,
  :func:`belonging_lib.models.dominance`);
- :func:`rerandomise`: permutes the clusters' arms, within blocks if there are blocks
  (randomisation inference in :func:`belonging_lib.trials.crt_effect`).

The draws are made up front (vectorised) and the statistic is computed replicate by replicate, so
the random stream does not depend on the statistic.  Imports nothing from the rest of the package
except ``_validation`` and ``_progress`` (the one rule for progress bars).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import pandas as pd

from ._progress import progress_bar
from ._validation import check_positive_int

__all__ = ["cluster_bootstrap_indices", "stratified_cluster_draws", "cluster_rows", "resampled_rows",
           "cluster_bootstrap", "unit_sums", "bootstrap_counts", "rerandomise", "progress_bar"]


def cluster_bootstrap_indices(n_clusters: int, n_boot: int, seed=None) -> np.ndarray:
    """``(n_boot, n_clusters)`` cluster indices drawn with replacement (a cluster bootstrap).

    Row ``b`` lists the clusters (codes 0..J-1, in sorted order of the cluster labels)
    that make up replicate ``b``; a cluster drawn twice enters as two clusters.

    >>> cluster_bootstrap_indices(4, 2, seed=1).shape
    (2, 4)
    """
    n_boot = check_positive_int("n_boot", n_boot, minimum=1)
    return np.random.default_rng(seed).integers(0, int(n_clusters), size=(n_boot, int(n_clusters)))


def stratified_cluster_draws(strata: Sequence[np.ndarray], n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_boot, J)`` cluster codes drawn with replacement within each stratum.

    ``strata`` lists, for each stratum in the order to draw them, the codes of its clusters.
    Columns are the strata's draws side by side in that order, so each replicate holds as many
    clusters of each stratum as the data do.

    >>> rng = np.random.default_rng(0)
    >>> d = stratified_cluster_draws([np.array([0, 1]), np.array([2, 3, 4])], 3, rng)
    >>> d.shape, bool(np.isin(d[:, :2], [0, 1]).all()), bool(np.isin(d[:, 2:], [2, 3, 4]).all())
    ((3, 5), True, True)
    """
    sizes = [len(s) for s in strata]
    draws = np.empty((int(n_boot), sum(sizes)), dtype=int)
    pos = 0
    for members, size in zip(strata, sizes):
        draws[:, pos:pos + size] = rng.choice(np.asarray(members), size=(int(n_boot), size), replace=True)
        pos += size
    return draws


def cluster_rows(codes: np.ndarray, n_clusters: int | None = None) -> list[np.ndarray]:
    """Row positions of each cluster, for cluster codes ``0..J-1``."""
    codes = np.asarray(codes)
    n = int(codes.max()) + 1 if n_clusters is None else int(n_clusters)
    return [np.flatnonzero(codes == c) for c in range(n)]


def resampled_rows(rows_of: Sequence[np.ndarray], draw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of one bootstrap replicate and their new cluster labels.

    A cluster drawn twice enters twice, as two clusters (labels are positions in ``draw``).
    """
    idx = np.concatenate([rows_of[c] for c in draw])
    labels = np.repeat(np.arange(len(draw)), [len(rows_of[c]) for c in draw])
    return idx, labels


def cluster_bootstrap(statistic: Callable[[np.ndarray, np.ndarray], float], rows_of: Sequence[np.ndarray],
                      draws: np.ndarray, *, progress: bool = False, desc: str = "cluster bootstrap") -> np.ndarray:
    """``statistic(rows, cluster_labels)`` on each replicate of ``draws``; one value per replicate."""
    out = np.empty(len(draws))
    for r in progress_bar(range(len(draws)), desc=desc, enabled=progress):
        idx, labels = resampled_rows(rows_of, draws[r])
        out[r] = statistic(idx, labels)
    return out


def unit_sums(terms: np.ndarray, units=None) -> np.ndarray:
    """Per-row ``terms`` (n, m) summed within each unit of ``units`` (clusters numbered in order of
    first appearance), or the rows themselves when ``units`` is None (a bootstrap of rows).

    >>> unit_sums(np.array([[1.0], [2.0], [4.0]]), ["b", "a", "b"]).ravel().tolist()
    [5.0, 2.0]
    """
    if units is None:
        return terms
    codes, _ = pd.factorize(pd.Series(units))
    sums = np.zeros((int(codes.max() + 1), terms.shape[1]))
    np.add.at(sums, codes, terms)
    return sums


def bootstrap_counts(n_units: int, n_boot: int, rng: np.random.Generator, *, max_cells: int = 2_000_000,
                     progress: bool = False, desc: str = "bootstrap") -> Iterator[tuple[int, np.ndarray]]:
    """Bootstrap replicates as counts: ``(start, counts)`` chunks, ``counts`` (size, n_units) floats.

    Row ``b`` of a chunk is replicate ``start + b``: how often each unit enters it, a multinomial draw
    of ``n_units`` among ``n_units`` equally likely units (the same as drawing the units with
    replacement).  A chunk holds at most ``max_cells`` counts; the draws do not depend on
    ``progress``.  A statistic of sums of per-unit terms (:func:`unit_sums`) is then
    ``counts @ sums`` for a whole chunk at once.

    >>> [(s, c.shape) for s, c in bootstrap_counts(3, 5, np.random.default_rng(0), max_cells=6)]
    [(0, (2, 3)), (2, (2, 3)), (4, (1, 3))]
    """
    probs = np.full(n_units, 1.0 / n_units)
    chunk = max(1, min(n_boot, max_cells // n_units))
    with progress_bar(total=n_boot, desc=desc, unit="draw", enabled=progress) as bar:
        for start in range(0, n_boot, chunk):
            size = min(chunk, n_boot - start)
            yield start, rng.multinomial(n_units, probs, size=size).astype(float)
            bar.update(size)


def rerandomise(cluster_arm: np.ndarray, cluster_block: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """The clusters' arms permuted at random (within blocks when ``cluster_block`` is given).

    >>> arms = np.array([1, 1, 0, 0])
    >>> new = rerandomise(arms, np.array(["a", "a", "b", "b"]), np.random.default_rng(0))
    >>> sorted(new[:2]) == [1, 1] and sorted(new[2:]) == [0, 0]
    True
    """
    if cluster_block is None:
        return rng.permutation(cluster_arm)
    new = cluster_arm.copy()
    for b in np.unique(cluster_block):
        idx = np.flatnonzero(cluster_block == b)
        new[idx] = rng.permutation(cluster_arm[idx])
    return new
