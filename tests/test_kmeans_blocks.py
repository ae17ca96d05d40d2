"""Blocked k-means (C_T's cells) against scikit-learn's KMeans, and its memory."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from sklearn.cluster import KMeans

from usbench.metrics._lib.kmeans import assign, kmeans


def _blobs(seed: int, n: int = 300, d: int = 6, k: int = 4) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = 4.0 * rng.normal(size=(k, d))
    return centres[rng.integers(0, k, n)] + rng.normal(size=(n, d)) + 3.0


def _same_as_sklearn(
    x: np.ndarray, k: int, seed: int, block_bytes: int, n_init: int = 10, init=None
) -> None:
    """Labels, centres, inertia, iterations and predictions equal ``KMeans``'s."""
    ref = KMeans(k, init="k-means++" if init is None else init, n_init=n_init, random_state=seed)
    ref.fit(x)
    ours = kmeans(x, k, n_init=n_init, seed=seed, init=init, block_bytes=block_bytes)
    np.testing.assert_array_equal(ours.labels, ref.labels_)
    np.testing.assert_allclose(ours.centres, ref.cluster_centers_, rtol=1e-10, atol=1e-12)
    assert ours.inertia == pytest.approx(ref.inertia_, rel=1e-10)
    assert ours.n_iter == ref.n_iter_
    probe = np.random.default_rng(seed + 100).normal(size=(50, x.shape[1])) * x.std() + x.mean()
    predicted = assign(probe, ours.centres, block_bytes=8 * 8 * x.shape[1])
    np.testing.assert_array_equal(predicted, ref.predict(probe))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("data", ["blobs", "noise"])
def test_same_partition_as_sklearn_whatever_the_blocks(data, seed):
    """Separated clusters and structureless noise (where the 10 restarts end in different
    local optima, so the draws and the choice of the best run both matter); blocks of 7
    rows, so every pass crosses many blocks."""
    x = _blobs(seed) if data == "blobs" else np.random.default_rng(seed).normal(size=(200, 5))
    _same_as_sklearn(x, 4, seed, block_bytes=7 * 8 * x.shape[1])


def test_empty_cluster_takes_the_farthest_row_as_sklearn_does():
    """A starting centre far from every row gets none in the first assignment and is
    moved to the row farthest from its centre, as scikit-learn relocates it."""
    x = _blobs(3, n=120, d=3, k=3)
    init = np.vstack([x[:2], np.full((1, 3), 1e3)])
    _same_as_sklearn(x, 3, 0, block_bytes=11 * 8 * 3, n_init=1, init=init)


def test_fewer_rows_than_clusters_is_an_error():
    with pytest.raises(ValueError, match="cannot form"):
        kmeans(np.zeros((2, 3)), 3)


def test_no_copy_of_the_rows(tmp_path):
    """Clustering a 16 MB memory-mapped matrix in 256 KB blocks allocates about a block
    at a time (numpy's allocations, traced); scikit-learn copies and centres the whole."""
    x = _blobs(4, n=2048, d=1024, k=3)
    np.save(tmp_path / "x.npy", x)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    tracemalloc.start()
    ours = kmeans(mapped, 3, n_init=2, seed=0, block_bytes=1 << 18)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 2 << 20  # 256 KB blocks, k×d centres and sums, N-long vectors
    tracemalloc.start()
    ref = KMeans(n_clusters=3, n_init=2, random_state=0).fit(mapped)
    _, sk_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert sk_peak > x.nbytes
    np.testing.assert_array_equal(ours.labels, ref.labels_)
