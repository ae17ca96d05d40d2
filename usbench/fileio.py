"""Atomic file writes: a crash leaves either the old file or the new one, never half.

A full disk is reported as :class:`DiskFull`, which names the folder, the space the write
needed and the space that is free (:func:`disk_full_error`).
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path

from usbench.errors import UsbenchError


class DiskFull(UsbenchError, OSError):
    """No space left on the device of a folder usbench writes to; nothing partial is kept."""


def is_disk_full(err: BaseException) -> bool:
    """Whether ``err`` is a full disk (``ENOSPC``; safetensors reports it only in its text)."""
    if isinstance(err, OSError) and err.errno == errno.ENOSPC:
        return True
    return "No space left on device" in str(err) or "code: 28," in str(err)


def disk_full_error(folder: str | Path, needed_bytes: int, what: str) -> DiskFull:
    """A :class:`DiskFull` for writing ``what`` (about ``needed_bytes``) into ``folder``."""
    folder = Path(folder)
    existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("."))
    free = shutil.disk_usage(existing).free
    message = (
        f"The disk holding {folder} is full: {what} needs about {_megabytes(needed_bytes)} "
        f"and {_megabytes(free)} is free. Nothing partial was kept. Free some space there "
        "(or point --store / USBENCH_STORE at a disk with room) and run the command again; "
        "--resume continues from the last complete checkpoint."
    )
    return DiskFull(errno.ENOSPC, message)


def _megabytes(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.1f} MB"


def folder_bytes(folder: Path) -> int:
    """Bytes of the files under ``folder`` (0 if it does not exist)."""
    if not folder.exists():
        return 0
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder + rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if is_disk_full(err) and not isinstance(err, DiskFull):
            raise disk_full_error(path.parent, len(data), f"writing {path.name}") from err
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Text form of :func:`atomic_write_bytes` (UTF-8)."""
    return atomic_write_bytes(path, text.encode("utf-8"))
