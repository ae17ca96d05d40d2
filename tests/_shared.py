"""Where the shared data (the 105 real POCUS lung frames) lives for the tests.

``$USBENCH_SHARED`` if set (``$USBENCH_SHARED_DIR``, its older name, is read too), else the
``shared/`` folder beside the repository. Tests that need the frames skip with the reason
when they are absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    """The shared folder (it may not exist)."""
    env = os.environ.get("USBENCH_SHARED") or os.environ.get("USBENCH_SHARED_DIR")
    return Path(env) if env else REPO.parent / "shared"


def lus_dir() -> Path:
    """The processed POCUS lung frames: ``<shared>/data/pocus-lus`` (it may not exist)."""
    return shared_dir() / "data" / "pocus-lus"


def has_lus() -> bool:
    """Whether the processed frames (with their manifest) are there."""
    return (lus_dir() / "manifest.csv").is_file()


def require_lus() -> Path:
    """:func:`lus_dir`, or skip the calling test with the reason."""
    if not has_lus():
        pytest.skip(f"no processed lus copy at {lus_dir()} (set USBENCH_SHARED)")
    return lus_dir()
