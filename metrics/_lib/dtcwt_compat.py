"""Import ``dtcwt`` 0.13/0.14 under numpy 2 without touching numpy itself.

dtcwt calls three functions numpy 2 removed: ``np.asfarray`` and ``np.issubsctype``
(``dtcwt/utils.py``) and ``np.product`` (``dtcwt/keypoint.py``). Rather than adding them
to the global ``numpy`` module (which would hide the same bug in other packages), the
``np`` name inside exactly those two dtcwt modules is rebound to a thin namespace that
forwards everything to numpy and supplies the three functions with their numpy 1.x
meaning. Nothing else in the process sees a change. :func:`load_dtcwt` is idempotent.
"""

from __future__ import annotations

import types
from typing import Any

import numpy as np

_PATCHED_MODULES = ("dtcwt.utils", "dtcwt.keypoint")


def _asfarray(a: Any, dtype: Any = np.float64) -> np.ndarray:
    """numpy 1.x ``asfarray``: an array of an inexact dtype (float64 unless given one)."""
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.inexact):
        dtype = np.dtype(np.float64)
    return np.asarray(a, dtype=dtype)


def _issubsctype(arg1: Any, arg2: Any) -> bool:
    """numpy 1.x ``issubsctype``: is the scalar type of ``arg1`` a subclass of ``arg2``'s."""
    return issubclass(np.dtype(arg1).type, np.dtype(arg2).type)


class _NumpyForDtcwt(types.ModuleType):
    """numpy, plus the three functions dtcwt still calls."""

    asfarray = staticmethod(_asfarray)
    issubsctype = staticmethod(_issubsctype)
    product = staticmethod(np.prod)

    def __getattr__(self, name: str) -> Any:
        return getattr(np, name)


def load_dtcwt() -> types.ModuleType:
    """Import dtcwt and rebind ``np`` in the modules that use removed numpy functions."""
    import importlib

    import dtcwt

    shim = _NumpyForDtcwt("numpy_for_dtcwt")
    for name in _PATCHED_MODULES:
        module = importlib.import_module(name)
        if getattr(module, "np", None) is np:
            module.np = shim
    return dtcwt
