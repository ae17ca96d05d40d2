"""Nearest-neighbour search over feature rows in blocks, so memory stays flat in N.

Every function here computes Euclidean distances with :func:`scipy.spatial.distance.cdist`
on a block of query rows against all reference rows at a time, and keeps only what the
caller needs (the nearest row, the k-th distance, counts). Each distance is computed pair
by pair, so a block's rows are bit-identical to the same rows of the full ``N×M`` matrix:
the results equal the full-matrix computation exactly, for any block size.

``block_entries`` caps the distances held at once (default :data:`BLOCK_ENTRIES`, 32 MB
of float64); a block always holds at least one query row.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from scipy.spatial.distance import cdist

from usbench.metrics._lib.rows import BLOCK_BYTES, block_rows, release

BLOCK_ENTRIES = 1 << 22


def row_blocks(n_rows: int, n_cols: int, block_entries: int = BLOCK_ENTRIES) -> Iterator[slice]:
    """Consecutive row slices of an ``n_rows×n_cols`` matrix, each with at most
    ``block_entries`` entries (at least one row)."""
    step = max(1, block_entries // max(1, n_cols))
    for start in range(0, n_rows, step):
        yield slice(start, min(start + step, n_rows))


def distance_blocks(
    queries: np.ndarray,
    references: np.ndarray,
    block_entries: int = BLOCK_ENTRIES,
    *,
    reference_bytes: int = BLOCK_BYTES,
) -> Iterator[tuple[slice, np.ndarray]]:
    """``(rows, D)`` pairs: ``D`` = Euclidean distances of ``queries[rows]`` (``B×d``) to
    every row of ``references`` (``M×d``), float64 ``B×M``.

    The references are read in row blocks of at most ``reference_bytes`` too, whose
    pages are released after each (:func:`usbench.metrics._lib.rows.release`), so
    memory-mapped features never become resident whole."""
    queries = np.asarray(queries, np.float64)
    references = np.asarray(references, np.float64)
    step = block_rows(references.shape[1], reference_bytes)
    for rows in row_blocks(len(queries), len(references), block_entries):
        block = queries[rows]
        out = np.empty((len(block), len(references)))
        for start in range(0, len(references), step):
            cols = slice(start, min(start + step, len(references)))
            out[:, cols] = cdist(block, references[cols])
            release(references)
        release(queries)
        yield rows, out


def nearest_rows(
    queries: np.ndarray,
    references: np.ndarray,
    *,
    exclude_self: bool = False,
    block_entries: int = BLOCK_ENTRIES,
) -> tuple[np.ndarray, np.ndarray]:
    """``(distance, index)``: each query row's nearest reference row (``N`` float64,
    ``N`` int64; the first such row on ties, as ``argmin``). ``exclude_self``: queries
    and references are the same set and a row may not be its own neighbour."""
    distance = np.empty(len(queries), np.float64)
    index = np.empty(len(queries), np.int64)
    for rows, block in distance_blocks(queries, references, block_entries):
        if exclude_self:
            block[np.arange(block.shape[0]), np.arange(rows.start, rows.stop)] = np.inf
        index[rows] = block.argmin(axis=1)
        distance[rows] = block[np.arange(block.shape[0]), index[rows]]
    return distance, index


def kth_neighbour_distance(
    x: np.ndarray, k: int, *, block_entries: int = BLOCK_ENTRIES
) -> np.ndarray:
    """Distance of each row of ``x`` (``N×d``) to its ``k``-th nearest row, counting the
    row itself as the 0-th (``N`` float64; Naeem et al.'s k-NN radius)."""
    radii = np.empty(len(x), np.float64)
    for rows, block in distance_blocks(x, x, block_entries):
        radii[rows] = np.partition(block, k, axis=1)[:, k]
    return radii
