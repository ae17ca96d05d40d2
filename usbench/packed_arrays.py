"""Small 8-bit arrays inside JSON score details: zlib-compressed bytes in base64.

``pack_uint8(a)`` → ``{"shape": [...], "zlib_base64": "..."}``; ``unpack_uint8`` inverts it
exactly. Used for the few example images and label maps a task keeps for its figures, so
that they travel with the score rows (store, ``run.json``, rebuilds) at a few kB each.
"""

from __future__ import annotations

import base64
import zlib

import numpy as np


def pack_uint8(array: np.ndarray) -> dict:
    """An array of values in 0..255 (any integer or bool dtype) as a JSON-able dict."""
    values = np.asarray(array)
    if values.size and (values.min() < 0 or values.max() > 255):
        raise ValueError("pack_uint8 holds values 0..255 only")
    raw = np.ascontiguousarray(values, dtype=np.uint8).tobytes()
    return {
        "shape": list(values.shape),
        "zlib_base64": base64.b64encode(zlib.compress(raw, 9)).decode(),
    }


def unpack_uint8(packed: dict) -> np.ndarray:
    """The uint8 array of :func:`pack_uint8`."""
    raw = zlib.decompress(base64.b64decode(packed["zlib_base64"]))
    return np.frombuffer(raw, dtype=np.uint8).reshape(packed["shape"]).copy()
