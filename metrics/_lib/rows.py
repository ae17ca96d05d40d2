"""Feature rows read in blocks: moments, Gram matrices and row subsets with flat memory.

Features arrive as ``N×d`` float64 arrays, often read-only memory maps of the feature
cache (:mod:`usbench.metrics._lib.features`). Everything here visits them in blocks of at
most :data:`BLOCK_BYTES` and never builds an ``N×d`` temporary:

* :func:`blocks` yields consecutive row blocks and, after each, drops the pages the block
  touched from the process (``madvise(MADV_DONTNEED)`` on the file mapping: the data stays
  in the page cache, but the pages no longer count in the process's resident set);
* :class:`RowSubset` is ``base[index]`` gathered lazily, block by block (the draws of the
  subsample intervals, FD∞'s subsets, KID's canonical order);
* :func:`mean` sums rows in order through a reused buffer, the same additions in the same
  order as ``x.mean(0)`` (bit-identical); :func:`scatter` is the centred cross-product
  ``Σ_b (x_b - μ)ᵀ(x_b - μ)`` and :func:`gram` ``Σ_b u_bᵀ u_b`` (their sums are grouped by
  block, so they equal ``AᵀA`` to round-off, ~1e-15 relative).
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

BLOCK_BYTES = 1 << 24


@dataclass(frozen=True)
class RowSubset:
    """The rows ``base[index]`` of an ``N×...`` array, never gathered whole.

    base: the array (may be a memory map); index: int64 row numbers (repeats allowed).
    ``subset[i]`` gathers (a copy of) rows ``index[i]``; :func:`blocks` reads it in blocks.
    """

    base: np.ndarray
    index: np.ndarray

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.index), *self.base.shape[1:])

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, item) -> np.ndarray:
        out = self.base[self.index[item]]
        release(self.base)
        return out


Rows = np.ndarray | RowSubset


def subset(x: Rows, index: np.ndarray) -> RowSubset:
    """Rows ``x[index]`` as a :class:`RowSubset` (a subset of a subset stays one level)."""
    index = np.asarray(index, np.int64)
    if isinstance(x, RowSubset):
        return RowSubset(x.base, x.index[index])
    return RowSubset(x, index)


def release(x: np.ndarray) -> None:
    """Drop the resident pages of the file mapping behind ``x`` (no-op for plain arrays
    and for copy-on-write maps, ``mode="c"``, whose private pages would be lost).

    The pages stay in the kernel's page cache; touching them again maps them back."""
    base = x
    while base is not None and not isinstance(base, mmap.mmap):
        if isinstance(base, np.memmap) and base.mode == "c":
            return
        base = getattr(base, "base", None)
    if base is not None and hasattr(mmap, "MADV_DONTNEED") and not base.closed:
        base.madvise(mmap.MADV_DONTNEED)


def block_rows(width: int, block_bytes: int = BLOCK_BYTES) -> int:
    """Rows of ``width`` float64 values that fit in ``block_bytes`` (at least one)."""
    return max(1, block_bytes // (8 * max(1, width)))


def blocks(x: Rows, block_bytes: int = BLOCK_BYTES) -> Iterator[tuple[slice, np.ndarray]]:
    """``(rows, x[rows])`` for consecutive row blocks of ``x`` (``N×d``).

    A block of an array is a view, valid until the next block (its pages are then
    released); a block of a :class:`RowSubset` is a gathered copy."""
    n = len(x)
    step = block_rows(int(np.prod(x.shape[1:], dtype=np.int64)), block_bytes)
    base = x.base if isinstance(x, RowSubset) else x
    for start in range(0, n, step):
        rows = slice(start, min(start + step, n))
        yield rows, (x.base[x.index[rows]] if isinstance(x, RowSubset) else x[rows])
        release(base)


def mean(x: Rows, block_bytes: int = BLOCK_BYTES) -> np.ndarray:
    """Column means of ``x`` (``N×d`` → ``d`` float64), bit-identical to ``x.mean(0)``.

    Rows are added one after the other (numpy's order for an axis-0 reduction), the
    running sum carried as the first row of a reused buffer."""
    d = x.shape[1]
    buffer = np.empty((block_rows(d, block_bytes) + 1, d))
    total = None
    for rows, block in blocks(x, block_bytes):
        b = rows.stop - rows.start
        if total is None:
            total = np.add.reduce(np.asarray(block, np.float64), axis=0)
            continue
        buffer[0] = total
        buffer[1 : b + 1] = block
        total = np.add.reduce(buffer[: b + 1], axis=0)
    return total / len(x)


def centred_blocks(
    x: Rows, mu: np.ndarray, block_bytes: int = BLOCK_BYTES
) -> Iterator[tuple[slice, np.ndarray]]:
    """``(rows, x[rows] - mu)`` in a reused buffer, valid until the next block."""
    buffer = np.empty((block_rows(x.shape[1], block_bytes), x.shape[1]))
    for rows, block in blocks(x, block_bytes):
        out = buffer[: rows.stop - rows.start]
        np.subtract(block, mu, out=out)
        yield rows, out


def scatter(x: Rows, mu: np.ndarray, block_bytes: int = BLOCK_BYTES) -> np.ndarray:
    """``Σ (x_i - mu)ᵀ(x_i - mu)`` (``d×d``), accumulated block by block."""
    out = np.zeros((x.shape[1], x.shape[1]))
    for _, c in centred_blocks(x, mu, block_bytes):
        out += c.T @ c
    return out


def centred_sum_of_squares(x: Rows, mu: np.ndarray, block_bytes: int = BLOCK_BYTES) -> float:
    """``Σ_i |x_i - mu|²`` (the trace of :func:`scatter` without the ``d×d`` product)."""
    return float(sum((c * c).sum() for _, c in centred_blocks(x, mu, block_bytes)))


def centred_cross(
    x: Rows, mu_x: np.ndarray, y: Rows, mu_y: np.ndarray, block_bytes: int = BLOCK_BYTES
) -> np.ndarray:
    """``(x - mu_x)(y - mu_y)ᵀ`` (``n₁×n₂``) from blocks of both sets."""
    out = np.empty((len(x), len(y)))
    for rx, a in centred_blocks(x, mu_x, block_bytes):
        for ry, b in centred_blocks(y, mu_y, block_bytes):
            out[rx, ry] = a @ b.T
    return out


def gathered(x: Rows) -> np.ndarray:
    """``x`` as one in-memory float64 array (for the routes whose size is bounded by
    ``d²``, e.g. ``n <= d``); releases the mapping's pages afterwards."""
    out = x[np.arange(len(x))] if isinstance(x, RowSubset) else np.array(x, np.float64)
    release(x.base if isinstance(x, RowSubset) else x)
    return out


def unit_gram(x: Rows, block_bytes: int = BLOCK_BYTES) -> np.ndarray:
    """``Uᵀ U`` (``d×d``) with ``U`` the rows of ``x`` scaled to unit length.

    Raises ValueError for an all-zero row (the cosine kernel is undefined there)."""
    out = np.zeros((x.shape[1], x.shape[1]))
    for _, block in blocks(x, block_bytes):
        norms = np.linalg.norm(block, axis=1, keepdims=True)
        if np.any(norms == 0):
            raise ValueError("the cosine kernel is undefined for an all-zero feature vector")
        unit = block / norms
        out += unit.T @ unit
    return out


def first_column(x: Rows, block_bytes: int = BLOCK_BYTES) -> np.ndarray:
    """``x[:, 0]`` read block by block."""
    out = np.empty(len(x), dtype=x.base.dtype if isinstance(x, RowSubset) else x.dtype)
    for rows, block in blocks(x, block_bytes):
        out[rows] = block[:, 0]
    return out


def canonical_index(x: Rows) -> np.ndarray:
    """The row order sorting ``x`` (``N×d``) lexicographically, first column first, equal
    rows in their original order — ``np.lexsort(x.T[::-1])`` without a transposed copy:
    a stable sort on the first column, then a full lexsort inside each run of ties."""
    first = first_column(x)
    order = np.argsort(first, kind="stable")
    ties = np.flatnonzero(np.diff(first[order]) == 0)
    if len(ties) == 0:
        return order
    starts = ties[np.r_[True, np.diff(ties) > 1]]
    for start in starts:
        stop = start + 1
        while stop < len(order) and first[order[stop]] == first[order[start]]:
            stop += 1
        group = order[start:stop]
        rows = subset(x, group)[np.arange(len(group))]
        order[start:stop] = group[np.lexsort(rows.reshape(len(group), -1).T[::-1])]
    return order
