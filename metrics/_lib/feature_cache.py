"""The features cache: arrays streamed batch by batch to ``.npy`` files, read back mapped.

An entry is keyed by sha256 of its JSON-able ``fields`` (data hash, extractor, weights
sha256, preprocessing, layers) and lives in ``$USBENCH_CACHE/features``
(:func:`usbench.paths.features_dir`) as one ``<key>.<name>.npy`` per array plus a
``<key>.json`` manifest written last (the fields, and each array's file and shape).

Writing: every batch's rows are appended to a temporary file with plain writes behind a
header of fixed size that is filled in at the end, then the file is renamed into place —
nothing ``N×d`` is ever held in memory, and a crash leaves no entry. Reading: each array
is ``np.load(..., mmap_mode="r")`` (read-only, float64 as written, so bit-identical to
the rows computed); a missing, truncated or otherwise unreadable entry is recomputed.
Entries are also memoised in the process (a small LRU of the mapped arrays).
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np

from usbench import paths
from usbench.fileio import DiskFull, atomic_write_text, disk_full_error, is_disk_full

Batches = Iterable[Mapping[str, np.ndarray]]
HEADER_BYTES = 256  # a .npy v1.0 header padded to this size (a multiple of 64)

_MEMORY: OrderedDict[str, dict[str, np.ndarray]] = OrderedDict()
_MEMORY_ITEMS = 8


def cache_dir() -> Path:
    """``$USBENCH_CACHE/features`` (see :func:`usbench.paths.features_dir`)."""
    return paths.features_dir()


def cache_key(fields: dict) -> str:
    """Stable sha256 of a JSON-able key."""
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def cached_arrays(
    fields: dict, compute: Callable[[], Batches | Mapping[str, np.ndarray]], *, on_disk: bool
) -> dict[str, np.ndarray]:
    """Name → array of ``compute()`` memoised under ``fields`` in memory and, if
    ``on_disk``, in the features cache (then read-only memory maps).

    ``compute()`` returns either the arrays (name → ``N×...``) or an iterable of batches
    (dicts name → ``b×...``, rows in order), which are streamed to disk as they come.
    """
    key = cache_key(fields)
    if key in _MEMORY:
        _MEMORY.move_to_end(key)
        return _MEMORY[key]
    if on_disk:
        arrays = read_entry(key)
        if arrays is None:
            write_entry(key, fields, _as_batches(compute()))
            arrays = read_entry(key)
            if arrays is None:
                raise OSError(f"the features cache entry {key} in {cache_dir()} is unreadable")
    else:
        arrays = concatenate_batches(_as_batches(compute()))
    _MEMORY[key] = arrays
    while len(_MEMORY) > _MEMORY_ITEMS:
        _MEMORY.popitem(last=False)
    return arrays


def clear_memory() -> None:
    """Forget in-memory features (tests use it to force a read from disk)."""
    _MEMORY.clear()


def _as_batches(result: Batches | Mapping[str, np.ndarray]) -> Batches:
    return [result] if isinstance(result, Mapping) else result


def concatenate_batches(batches: Batches) -> dict[str, np.ndarray]:
    """Name → the batches' rows concatenated (in memory)."""
    parts: dict[str, list[np.ndarray]] = {}
    for batch in batches:
        for name, value in batch.items():
            parts.setdefault(name, []).append(value)
    return {name: np.concatenate(chunks) for name, chunks in parts.items()}


def _array_file(key: str, name: str) -> Path:
    return cache_dir() / f"{key}.{name.replace('/', '-')}.npy"


def read_entry(key: str) -> dict[str, np.ndarray] | None:
    """The arrays of entry ``key`` as read-only memory maps, or None if it is missing or
    damaged (a manifest that does not parse, a file that is absent, truncated or of
    another shape than the manifest says)."""
    manifest = cache_dir() / f"{key}.json"
    try:
        listing = json.loads(manifest.read_text())["arrays"]
        arrays = {}
        for name, entry in listing.items():
            array = np.load(cache_dir() / entry["file"], mmap_mode="r", allow_pickle=False)
            if list(array.shape) != entry["shape"]:
                return None
            arrays[name] = array
        return arrays
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_entry(key: str, fields: dict, batches: Batches) -> None:
    """Stream ``batches`` into one ``.npy`` per name (temp file + rename), then write the
    manifest."""
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    writers: dict[str, _RowWriter] = {}
    try:
        for batch in batches:
            for name, value in batch.items():
                if name not in writers:
                    writers[name] = _RowWriter(folder, value)
                writers[name].append(value)
        listing = {}
        for name, writer in writers.items():
            path = _array_file(key, name)
            listing[name] = {"file": path.name, "shape": list(writer.close_into(path))}
    except BaseException as err:
        for writer in writers.values():
            writer.discard()
        if is_disk_full(err) and not isinstance(err, DiskFull):
            raise disk_full_error(folder, 0, "writing features") from err
        raise
    atomic_write_text(folder / f"{key}.json", json.dumps({"fields": fields, "arrays": listing}))


class _RowWriter:
    """Appends ``b×...`` batches of one dtype and row shape to a temporary ``.npy``."""

    def __init__(self, folder: Path, first: np.ndarray) -> None:
        self.dtype, self.row_shape, self.rows = first.dtype, first.shape[1:], 0
        fd, self.tmp = tempfile.mkstemp(dir=folder, prefix=".features.", suffix=".tmp")
        self.handle = os.fdopen(fd, "wb")
        self.handle.write(b"\0" * HEADER_BYTES)

    def append(self, batch: np.ndarray) -> None:
        if batch.dtype != self.dtype or batch.shape[1:] != self.row_shape:
            raise ValueError(
                f"feature batches differ: {batch.dtype} {batch.shape[1:]} after "
                f"{self.dtype} {self.row_shape}"
            )
        self.handle.write(np.ascontiguousarray(batch).tobytes())
        self.rows += len(batch)

    def close_into(self, path: Path) -> tuple[int, ...]:
        shape = (self.rows, *self.row_shape)
        self.handle.seek(0)
        self.handle.write(npy_header(self.dtype, shape))
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        os.replace(self.tmp, path)
        return shape

    def discard(self) -> None:
        self.handle.close()
        Path(self.tmp).unlink(missing_ok=True)


def npy_header(dtype: np.dtype, shape: tuple[int, ...]) -> bytes:
    """A ``.npy`` format 1.0 header for a C-ordered array, padded to ``HEADER_BYTES``."""
    descr = np.lib.format.dtype_to_descr(np.dtype(dtype))
    text = repr({"descr": descr, "fortran_order": False, "shape": tuple(shape)}).encode("latin1")
    padding = HEADER_BYTES - 10 - len(text) - 1
    if padding < 0:
        raise ValueError(f"shape {shape} does not fit a {HEADER_BYTES}-byte .npy header")
    return (
        b"\x93NUMPY\x01\x00" + struct.pack("<H", HEADER_BYTES - 10) + text + b" " * padding + b"\n"
    )
