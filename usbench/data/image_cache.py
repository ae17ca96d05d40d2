"""A memory-mapped pixel cache for large folder datasets (``folder:PATH,cache=memmap``).

Decoding 100 000 PNG frames into one float32 array costs minutes and all of it sits in
memory. With the cache, the frames are decoded once, in chunks, into
``$USBENCH_CACHE/images/<key>.npy`` (``N×1×S×S`` float32, exactly the values the eager
loader gives); later loads open that file memory-mapped, so an :class:`ImageSet` backed
by it reads only the pages a consumer touches (a training batch, a feature batch) and the
operating system may drop them again. Every consumer that reads ``ImageSet.images`` works
unchanged: it is an ordinary CPU tensor over the mapping (copy-on-write, so an accidental
in-place change never reaches the file).

A subset of a cached set (a patient split, a task's fold) is cached the same way once it
holds more than :data:`MAPPED_SUBSET_BYTES`: its rows are gathered in chunks into a file of
its own, keyed by the parent file and the indices, so a 80 000-image training split never
sits in memory either. Smaller subsets are ordinary in-memory tensors.

The key is sha256 of what determines the pixels: each file's relative path, size and
modification time, the image size and the resize mode. A changed, added or removed file
gives a new key, hence a rebuild; old entries are left for ``usbench`` cache cleaning by
hand (``rm -r $USBENCH_CACHE/images``). Writes are atomic (a temporary file renamed into
place), so an interrupted build is never read.
"""

from __future__ import annotations

import hashlib
import json
import os
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from usbench import paths
from usbench.data.imageio import load_stack
from usbench.progress import progress_bar

DECODE_CHUNK = 1024
GATHER_CHUNK = 1024
MAPPED_SUBSET_BYTES = 256 * 2**20  # smaller subsets of a cached set are copied into memory

_MAPPED: dict[int, Path] = {}  # data_ptr of a whole-file tensor -> its cache file


def cache_dir() -> Path:
    """``$USBENCH_CACHE/images``."""
    return paths.cache_root() / "images"


def source_key(files: Sequence[Path], root: Path, *, image_size: int, resize: str) -> str:
    """sha256 of the files' paths relative to ``root``, sizes and modification times,
    with ``image_size`` and ``resize``."""
    digest = hashlib.sha256(json.dumps({"size": image_size, "resize": resize}).encode())
    for file in files:
        stat = file.stat()
        relative = file.relative_to(root).as_posix()
        digest.update(f"{relative}\x00{stat.st_size}\x00{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def cached_pixels(
    files: Sequence[Path], root: Path, *, image_size: int, resize: str
) -> torch.Tensor:
    """``N×1×S×S`` float32 pixels of ``files`` as a tensor over a memory-mapped cache file,
    decoding (with :func:`usbench.data.imageio.load_stack`) only when no cache entry
    for these files exists yet."""
    key = source_key(files, root, image_size=image_size, resize=resize)
    path = cache_dir() / f"{key}.npy"
    if not path.exists():
        _build(files, path, image_size=image_size, resize=resize)
    return _mapped(path)


def mapped_subset(images: torch.Tensor, indices: Sequence[int]) -> torch.Tensor | None:
    """``images[indices]`` as a tensor over a cache file of its own when ``images`` is a
    whole cached tensor (from :func:`cached_pixels` or this function) and the subset holds
    more than :data:`MAPPED_SUBSET_BYTES`; ``None`` otherwise (the caller copies)."""
    parent = _MAPPED.get(images.data_ptr())
    per_image = images[0].numel() * images.element_size() if len(images) else 0
    if parent is None or len(indices) * per_image <= MAPPED_SUBSET_BYTES:
        return None
    digest = hashlib.sha256(parent.name.encode())
    digest.update(np.asarray(indices, dtype=np.int64).tobytes())
    path = cache_dir() / f"{digest.hexdigest()}.npy"
    if not path.exists():
        _gather(images, indices, path)
    return _mapped(path)


def _mapped(path: Path) -> torch.Tensor:
    """A copy-on-write tensor over the cache file ``path``, remembered as whole-file."""
    tensor = torch.from_numpy(np.load(path, mmap_mode="c"))
    pointer = tensor.data_ptr()
    _MAPPED[pointer] = path
    weakref.finalize(tensor, _MAPPED.pop, pointer, None)  # the address may be reused later
    return tensor


def _gather(images: torch.Tensor, indices: Sequence[int], path: Path) -> None:
    shape = (len(indices), *images.shape[1:])
    bar = progress_bar(len(indices), "writing a cached subset")
    with _atomic_npy(path, shape) as out, bar:
        for start in range(0, len(indices), GATHER_CHUNK):
            chunk = list(indices[start : start + GATHER_CHUNK])
            out[start : start + len(chunk)] = images[chunk].numpy()
            bar.update(len(chunk))


def _build(files: Sequence[Path], path: Path, *, image_size: int, resize: str) -> None:
    shape = (len(files), 1, image_size, image_size)
    bar = progress_bar(len(files), "decoding images into the cache")
    with _atomic_npy(path, shape) as out, bar:
        for start in range(0, len(files), DECODE_CHUNK):
            chunk = files[start : start + DECODE_CHUNK]
            out[start : start + len(chunk), 0] = load_stack(chunk, image_size, resize=resize)
            bar.update(len(chunk))


@contextmanager
def _atomic_npy(path: Path, shape: tuple[int, ...]) -> Iterator[np.memmap]:
    """A float32 ``.npy`` memmap of ``shape`` written under a temporary name and renamed to
    ``path`` when the ``with`` block ends without error (removed otherwise)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npy")
    try:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=shape)
        yield out
        out.flush()
        del out
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
