"""Letting go of the pages a pass over a memory-mapped image set has read.

A set loaded from ``folder:...,cache=memmap`` (:mod:`usbench.data.image_cache`) is a tensor
over a copy-on-write file mapping. A pass over it (hashing, a feature pass, a score per
image) faults every page in, and the kernel keeps them mapped into the process: at 64 px
that is 16 KB per image, 650 MB of resident set for two 20 000-image sets, although every
page is a clean copy of the file that the page cache holds anyway.

:func:`release` drops such pages from the process again (``madvise(MADV_DONTNEED)``) —
but only pages that are still the file's: a page the process has written (a copy-on-write
page, now anonymous memory), a swapped page and anything not backed by a file are kept,
so no write is ever lost. Which pages are which comes from ``/proc/self/pagemap`` (bit 63
present, 62 swapped, 61 file page or shared memory; readable by any process, Linux ≥ 3.5).
On other systems, or where pagemap cannot be read, :func:`release` does nothing.

Ordinary in-memory tensors are anonymous memory, so :func:`release` leaves them alone;
:func:`batches` can therefore walk any image tensor. The one requirement: no other thread
writes the same images while :func:`release` runs (a write between the pagemap read and the
``madvise`` would be dropped). Every caller is a read-only pass over its inputs.
"""

from __future__ import annotations

import ctypes
import mmap
import os
from collections.abc import Iterator
from functools import cache

import numpy as np
import torch

PAGE = mmap.PAGESIZE
FOLIO_BYTES = 2 * 2**20  # the largest page-cache folio a fault maps at once (x86-64)
_PRESENT, _SWAPPED, _FILE = np.uint64(1 << 63), np.uint64(1 << 62), np.uint64(1 << 61)


def batches(images: torch.Tensor, size: int) -> Iterator[torch.Tensor]:
    """``images[start:start + size]`` for consecutive batches; the clean file pages each
    batch touched are released (:func:`release`) once the consumer asks for the next one,
    so a pass keeps a few megabytes of a mapped set resident, whatever its length.

    The kernel maps file pages in whole folios (up to :data:`FOLIO_BYTES`), so a fault in
    one batch can map pages of the rows before it; each release therefore also covers
    that many bytes of the rows before the batch.
    """
    row_bytes = images[0].numel() * images.element_size() if len(images) else 1
    back = -(-FOLIO_BYTES // max(row_bytes, 1))
    for start in range(0, len(images), size):
        batch = images[start : start + size]
        yield batch
        release(images[max(start - back, 0) : start + size])


def in_unit_range(images: torch.Tensor, size: int = 1024) -> bool:
    """Whether every value lies in [0, 1], read in :func:`batches` of ``size`` rows."""
    return all(float(b.min()) >= 0.0 and float(b.max()) <= 1.0 for b in batches(images, size))


def all_finite(images: torch.Tensor, size: int = 1024) -> bool:
    """Whether every value is finite, read in :func:`batches` of ``size`` rows."""
    return all(bool(torch.isfinite(b).all()) for b in batches(images, size))


def release(x: torch.Tensor | np.ndarray) -> int:
    """Drop the clean file pages under ``x``'s bytes from this process; returns the bytes
    released (0 where nothing is file-backed or the system has no pagemap).

    ``x`` must be contiguous (a batch ``images[a:b]`` of a contiguous set is). Pages at the
    ends shared with neighbouring data are included: releasing a clean page is invisible to
    every reader (the next access reads it back from the page cache).
    """
    madvise = _madvise()
    if madvise is None:
        return 0
    address, length = _extent(x)
    if length == 0:
        return 0
    first, last = address // PAGE, (address + length - 1) // PAGE
    flags = _page_flags(first, last - first + 1)
    if flags is None:
        return 0
    present = (flags & _PRESENT) != 0
    clean = np.where(present, (flags & _FILE) != 0, (flags & _SWAPPED) == 0)
    released = 0
    for run_start, run_stop in _runs(clean & present):
        if madvise((first + run_start) * PAGE, (run_stop - run_start) * PAGE, _DONTNEED) == 0:
            released += (run_stop - run_start) * PAGE
    return released


_DONTNEED = getattr(mmap, "MADV_DONTNEED", 4)


def _extent(x: torch.Tensor | np.ndarray) -> tuple[int, int]:
    if isinstance(x, torch.Tensor):
        if not x.is_contiguous() or x.device.type != "cpu":
            return 0, 0
        return x.data_ptr(), x.numel() * x.element_size()
    if not x.flags.c_contiguous:
        return 0, 0
    return x.ctypes.data, x.nbytes


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` of the runs of True in a 1-D boolean array."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _page_flags(first: int, count: int) -> np.ndarray | None:
    """The pagemap entries (uint64) of ``count`` pages from page number ``first``."""
    fd = _pagemap()
    if fd is None:
        return None
    raw = os.pread(fd, 8 * count, 8 * first)
    if len(raw) != 8 * count:
        return None
    return np.frombuffer(raw, dtype=np.uint64)


_OPEN: dict[int, int | None] = {}  # pid -> its pagemap descriptor


def _pagemap() -> int | None:
    """This process's ``/proc/self/pagemap``, opened once per process id (a forked child
    must not read its parent's map through an inherited descriptor)."""
    pid = os.getpid()
    if pid not in _OPEN:
        try:
            _OPEN[pid] = os.open("/proc/self/pagemap", os.O_RDONLY)
        except OSError:
            _OPEN[pid] = None
    return _OPEN[pid]


@cache
def _madvise():
    """libc's ``madvise(addr, length, advice)``, or None where there is none."""
    if not hasattr(os, "pread"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        function = libc.madvise
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    function.restype = ctypes.c_int
    return function
