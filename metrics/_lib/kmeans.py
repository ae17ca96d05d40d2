"""k-means over feature rows read in blocks: scikit-learn's ``KMeans`` without its copies.

``sklearn.cluster.KMeans.fit`` centres a private copy of the data (``copy_x``) and takes
the per-feature variance through another ``N×d`` temporary, so clustering 20 000 pool3
rows (d = 2048, float64) holds about 660 MB at once. :func:`kmeans` runs the same
algorithm — scikit-learn's ``KMeans(n_clusters, n_init=..., random_state=seed)`` with its
defaults ``init="k-means++"``, ``algorithm="lloyd"``, ``max_iter=300``, ``tol=1e-4`` and unit
sample weights — visiting the rows in blocks of at most ``block_bytes``, centred on the fly,
with the pages of a memory-mapped input released after each block
(:func:`usbench.metrics._lib.rows.blocks`). Memory is ``O(N + k·d)`` beside one block:

1. Centre on the column mean; the stopping tolerance is ``tol`` × the mean per-feature
   variance.
2. ``n_init`` runs drawing from one ``numpy.random.RandomState(seed)``. Each starts from
   greedy k-means++ (Arthur & Vassilvitskii 2007): the first centre uniformly
   (``RandomState.choice``), each further one the best of ``2 + ⌊ln k⌋`` candidates drawn
   with probability proportional to the squared distance to the nearest centre so far,
   best meaning the lowest total squared distance once it is added.
3. Lloyd iterations: every row goes to its nearest centre (squared distance, the lowest
   index on ties), every centre to the mean of its rows; a cluster left empty takes the
   row farthest from its own centre. Stop when no label changes, or when the summed squared
   centre shift is within the tolerance (then assign once more, so the labels belong to
   the final centres); at most ``max_iter`` iterations.
4. Keep the run of least inertia (the summed squared distance to the assigned centres),
   unless it is the same partition as the best so far.

The random draws are scikit-learn's, but sums and products are grouped by block, so the
centres agree with ``KMeans`` to round-off rather than bit for bit, and the partition is the
same unless round-off decides a draw or a tie (``tests/test_kmeans_blocks.py`` compares
both on separated and on unstructured data).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from usbench.metrics._lib import rows
from usbench.metrics._lib.rows import BLOCK_BYTES


@dataclass(frozen=True)
class Clustering:
    """A k-means partition.

    centres: ``k×d`` float64 in the coordinates of the input rows.
    labels: ``N`` int64, each row's centre.
    inertia: summed squared Euclidean distance of the rows to their centres.
    n_iter: Lloyd iterations of the kept run.
    """

    centres: np.ndarray
    labels: np.ndarray
    inertia: float
    n_iter: int


def kmeans(
    x: np.ndarray,
    n_clusters: int,
    *,
    n_init: int = 10,
    seed: int = 0,
    init: np.ndarray | None = None,
    max_iter: int = 300,
    tol: float = 1e-4,
    block_bytes: int = BLOCK_BYTES,
) -> Clustering:
    """k-means of the rows of ``x`` (``N×d``, may be a read-only memory map).

    ``init``: ``k×d`` starting centres instead of k-means++ (one run, as scikit-learn does
    with an array ``init``). Raises ValueError when there are fewer rows than clusters.
    """
    n = len(x)
    if n < n_clusters:
        raise ValueError(f"{n} rows cannot form {n_clusters} k-means clusters")
    data = _CentredRows(x, rows.mean(x, block_bytes), block_bytes)
    threshold = tol * data.mean_variance() if tol else 0.0
    rng = np.random.RandomState(seed)
    best = None
    for _ in range(1 if init is not None else n_init):
        if init is not None:
            start = np.asarray(init, np.float64) - data.mu
        else:
            start = _plusplus(data, n_clusters, rng)
        result = _lloyd(data, start, max_iter, threshold)
        if best is None or (
            result.inertia < best.inertia and not _same_partition(result.labels, best.labels)
        ):
            best = result
    return replace(best, centres=best.centres + data.mu)


def assign(x: np.ndarray, centres: np.ndarray, block_bytes: int = BLOCK_BYTES) -> np.ndarray:
    """Index of each row's nearest centre (``N`` int64; the lowest index on ties), rows
    read in blocks — scikit-learn's ``KMeans.predict``."""
    return _CentredRows(x, np.zeros(x.shape[1]), block_bytes).labels(centres)


class _CentredRows:
    """The rows of ``x`` minus ``mu``, visited in blocks (never materialised)."""

    def __init__(self, x: np.ndarray, mu: np.ndarray, block_bytes: int) -> None:
        self.x, self.mu, self.block_bytes = x, mu, block_bytes
        self.n, self.d = x.shape
        self._squared_norms: np.ndarray | None = None

    def blocks(self):
        return rows.centred_blocks(self.x, self.mu, self.block_bytes)

    def take(self, index: np.ndarray) -> np.ndarray:
        """Centred copies of the rows ``index``."""
        out = np.asarray(self.x[index], np.float64) - self.mu
        rows.release(self.x)
        return out

    def squared_norms(self) -> np.ndarray:
        """``N`` squared norms of the centred rows (computed once)."""
        if self._squared_norms is None:
            self._squared_norms = np.empty(self.n)
            for r, c in self.blocks():
                self._squared_norms[r] = np.einsum("ij,ij->i", c, c)
        return self._squared_norms

    def mean_variance(self) -> float:
        """Mean over features of the per-feature variance."""
        first, second = np.zeros(self.d), np.zeros(self.d)
        for _, c in self.blocks():
            first += c.sum(0)
            second += np.einsum("ij,ij->j", c, c)
        return float(np.mean(second / self.n - (first / self.n) ** 2))

    def squared_distances(self, centres: np.ndarray) -> np.ndarray:
        """``m×N`` squared distances of ``centres`` (``m×d``, centred) to every row."""
        out = np.empty((len(centres), self.n))
        centre_norms = np.einsum("ij,ij->i", centres, centres)[:, None]
        norms = self.squared_norms()
        for r, c in self.blocks():
            block = -2.0 * (centres @ c.T)
            block += centre_norms
            block += norms[r]
            np.maximum(block, 0.0, out=out[:, r])
        return out

    def labels(self, centres: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Nearest centre of every row by ``|c|² - 2 x·c`` (the row's own norm is common)."""
        out = np.empty(self.n, np.int64) if out is None else out
        centre_norms = np.einsum("ij,ij->i", centres, centres)
        for r, c in self.blocks():
            out[r] = np.argmin(centre_norms - 2.0 * (c @ centres.T), axis=1)
        return out

    def cluster_sums(self, labels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(k×d sums, k counts)`` of the rows of each cluster."""
        sums, counts = np.zeros((k, self.d)), np.bincount(labels, minlength=k).astype(float)
        for r, c in self.blocks():
            sums += np.eye(k)[labels[r]].T @ c
        return sums, counts

    def residuals(self, centres: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """``N`` squared distances of the rows to their assigned centres."""
        out = np.empty(self.n)
        for r, c in self.blocks():
            diff = c - centres[labels[r]]
            out[r] = np.einsum("ij,ij->i", diff, diff)
        return out


def _plusplus(data: _CentredRows, k: int, rng: np.random.RandomState) -> np.ndarray:
    """Greedy k-means++ starting centres (``k×d``, centred)."""
    weights = np.ones(data.n)
    trials = 2 + int(np.log(k))
    centres = np.empty((k, data.d))
    centres[0] = data.take(np.array([rng.choice(data.n, p=weights / weights.sum())]))[0]
    closest = data.squared_distances(centres[:1])[0]
    potential = closest @ weights
    for c in range(1, k):
        draws = rng.uniform(size=trials) * potential
        candidates = np.searchsorted(np.cumsum(closest), draws)
        np.clip(candidates, None, data.n - 1, out=candidates)
        points = data.take(candidates)
        distances = data.squared_distances(points)
        np.minimum(closest, distances, out=distances)
        potentials = distances @ weights
        best = int(np.argmin(potentials))
        potential, closest, centres[c] = potentials[best], distances[best], points[best]
    return centres


def _lloyd(data: _CentredRows, start: np.ndarray, max_iter: int, threshold: float) -> Clustering:
    """Lloyd iterations from ``start`` (``k×d``, centred); the centres stay centred."""
    k = len(start)
    centres = start.copy()
    labels, previous = np.full(data.n, -1, np.int64), np.full(data.n, -1, np.int64)
    converged, n_iter = False, 0
    while n_iter < max_iter:
        n_iter += 1
        data.labels(centres, out=labels)
        sums, counts = data.cluster_sums(labels, k)
        _relocate_empty(data, centres, labels, sums, counts)
        # a cluster still empty (more clusters than distinct rows) keeps a zero sum
        moved = sums * np.divide(1.0, counts, out=np.ones(k), where=counts > 0)[:, None]
        shift = float(((moved - centres) ** 2).sum())
        centres = moved
        if np.array_equal(labels, previous):
            converged = True
            break
        if shift <= threshold:
            break
        previous[:] = labels
    if not converged:
        data.labels(centres, out=labels)
    inertia = float(data.residuals(centres, labels).sum())
    return Clustering(centres, labels, inertia, n_iter)


def _relocate_empty(
    data: _CentredRows,
    centres: np.ndarray,
    labels: np.ndarray,
    sums: np.ndarray,
    counts: np.ndarray,
) -> None:
    """Give each empty cluster the row farthest from its current centre, taking that row
    out of its own cluster's sum (its label stays until the next assignment)."""
    empty = np.flatnonzero(counts == 0)
    if len(empty) == 0:
        return
    distances = data.residuals(centres, labels)
    if distances.max() == 0:  # more clusters than distinct rows: nothing to move
        return
    farthest = np.argpartition(distances, -len(empty))[: -len(empty) - 1 : -1]
    for cluster, row in zip(empty, farthest, strict=True):
        point = data.take(np.array([row]))[0]
        sums[labels[row]] -= point
        counts[labels[row]] -= 1
        sums[cluster], counts[cluster] = point, 1.0


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether every cluster of ``a`` lies inside one cluster of ``b``."""
    pairs = np.unique(np.stack([a, b]), axis=1)
    return pairs.shape[1] == len(np.unique(a))
