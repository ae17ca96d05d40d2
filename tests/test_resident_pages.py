"""Releasing the clean file pages a pass over a memory-mapped image set has read."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _smaps import HAS_SMAPS, resident_kb

from usbench.data import resident_pages
from usbench.metrics._lib import features as feat

pytestmark = pytest.mark.skipif(
    not HAS_SMAPS or resident_pages._pagemap() is None,
    reason="needs /proc/self/pagemap and /proc/self/smaps (Linux)",
)


def _mapped_images(tmp_path, n: int = 512, size: int = 64) -> tuple[torch.Tensor, np.ndarray]:
    """An ``n×1×size×size`` float32 set as a copy-on-write tensor over a ``.npy`` file (as
    ``folder:...,cache=memmap`` loads one), and the same values in memory."""
    values = np.random.default_rng(0).random((n, 1, size, size), dtype=np.float32)
    np.save(tmp_path / "images.npy", values)
    return torch.from_numpy(np.load(tmp_path / "images.npy", mmap_mode="c")), values


def test_a_batched_pass_keeps_a_few_megabytes_resident(tmp_path):
    """32 MB walked in 512 KB batches: at most a few folios resident at any time (the
    kernel maps up to 2 MB around a fault), nothing after the pass; a plain pass keeps all."""
    images, values = _mapped_images(tmp_path, n=2048)  # 16 KB per image
    path = tmp_path / "images.npy"
    total, peak = 0.0, 0
    for batch in resident_pages.batches(images, 32):
        total += float(batch.double().sum())
        peak = max(peak, resident_kb(path))
    assert peak <= 6 * 1024
    assert resident_kb(path) <= 8
    assert total == pytest.approx(float(values.astype(np.float64).sum()), rel=1e-12)
    float(images.sum())
    assert resident_kb(path) >= 32 * 1024 - 8


def test_written_pages_are_kept(tmp_path):
    images, values = _mapped_images(tmp_path, n=64)
    images[3, 0, 5, 5] = -1.0  # a copy-on-write page, now the process's own
    float(images.sum())
    released = resident_pages.release(images)
    assert resident_kb(tmp_path / "images.npy") <= 8  # only the written page stays mapped
    assert 0 < released < images.numel() * 4 + resident_pages.PAGE
    assert images[3, 0, 5, 5] == -1.0
    assert torch.equal(images[4], torch.from_numpy(values[4]))


def test_in_memory_tensors_are_left_alone():
    x = torch.rand(256, 1, 64, 64)
    before = x.clone()
    assert resident_pages.release(x) == 0
    assert torch.equal(x, before)


def test_non_contiguous_views_are_skipped(tmp_path):
    images, _ = _mapped_images(tmp_path, n=16)
    float(images.sum())
    assert resident_pages.release(images[:, :, ::2]) == 0


def test_hash_and_features_release_the_set_they_read(tmp_path):
    images, values = _mapped_images(tmp_path)
    assert feat.tensor_hash(images) == feat.tensor_hash(torch.from_numpy(values))
    assert resident_kb(tmp_path / "images.npy") <= 8


def _write_release_read(images: torch.Tensor, queue) -> None:
    images[3, 0, 5, 5] = -1.0  # the child's copy of the page; the parent's stays clean
    resident_pages.release(images)
    queue.put(float(images[3, 0, 5, 5]))


def test_a_forked_child_reads_its_own_page_map(tmp_path):
    """The parent opened its pagemap and holds the set's pages clean; a forked child that
    writes one must judge it by its own map (the parent's would call it clean, and the
    release would drop the child's write)."""
    import multiprocessing

    images, _ = _mapped_images(tmp_path, n=64)
    float(images.sum())
    resident_pages.release(images[:1])  # opens the parent's pagemap
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_write_release_read, args=(images, queue))
    child.start()
    child.join(60)
    assert queue.get(timeout=5) == -1.0
    assert images[3, 0, 5, 5] != -1.0
