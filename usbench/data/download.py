"""Checksummed downloads: stream into a temporary file, verify, then rename atomically.

A file whose digest does not match is deleted and refused with :class:`ChecksumError`; a
network failure raises :class:`DownloadError` at once (short timeout, no retries), so an
offline machine learns within seconds what to do instead.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Literal

from usbench.errors import UsbenchError

Digest = Literal["sha256", "git-blob-sha1"]
TIMEOUT_SECONDS = 15.0
_CHUNK = 1 << 16


class DownloadError(UsbenchError, OSError):
    """A URL could not be fetched (offline, 404, refused...)."""


class ChecksumError(ValueError):
    """A file's content does not match its pinned digest; the file was deleted."""


def join_url(base: str, relative: str) -> str:
    """``base`` (a folder URL, with or without trailing ``/``) + a POSIX relative path."""
    return base.rstrip("/") + "/" + urllib.parse.quote(relative)


def file_digest(path: str | Path, kind: Digest = "sha256") -> str:
    """Hex digest of a local file: plain sha256, or git's blob SHA-1 (``git hash-object``)."""
    path = Path(path)
    h = _hasher(kind, path.stat().st_size)
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def git_blob_sha1(data: bytes) -> str:
    """The SHA-1 git gives ``data`` as a blob: ``sha1(b"blob <len>\\0" + data)``."""
    h = _hasher("git-blob-sha1", len(data))
    h.update(data)
    return h.hexdigest()


def download_verified(
    url: str, dest: str | Path, *, expected: str, kind: Digest = "sha256"
) -> Path:
    """Fetch ``url`` to ``dest`` only if its ``kind`` digest equals ``expected``.

    Raises:
        DownloadError: the URL could not be read (the message names it).
        ChecksumError: content mismatch; nothing is left at ``dest``.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            _stream(url, handle)
        actual = file_digest(tmp, kind)
        if actual != expected.lower():
            raise ChecksumError(
                f"{url}: {kind} is {actual}, expected {expected}; the file was deleted. The "
                "source changed or the transfer was corrupted — use a trusted copy."
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def fetch_bytes(url: str) -> bytes:
    """The body of ``url`` (small documents only); :class:`DownloadError` on failure."""
    buffer = io.BytesIO()
    _stream(url, buffer)
    return buffer.getvalue()


def _stream(url: str, handle) -> None:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                handle.write(chunk)
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise DownloadError(f"could not download {url}: {reason}") from err


def _hasher(kind: Digest, size: int):
    if kind == "sha256":
        return hashlib.sha256()
    if kind == "git-blob-sha1":
        h = hashlib.sha1()
        h.update(f"blob {size}\0".encode())
        return h
    raise ValueError(f"unknown digest {kind!r}; use 'sha256' or 'git-blob-sha1'")
