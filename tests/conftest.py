"""Shared test setup: offline hub, small thread pools, the repository's shared data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Never let a test wait on the hub: loaders must find local files or fail at once.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path | None:
    """The ``shared/`` folder beside the repository (or ``$USBENCH_SHARED_DIR``)."""
    candidates = [os.environ.get("USBENCH_SHARED_DIR"), REPO.parent / "shared"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "data" / "pocus-lus").is_dir():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def pocus_dir() -> Path:
    """The 105 real POCUS frames; tests that need them skip when they are absent."""
    shared = shared_dir()
    if shared is None:
        pytest.skip("shared/data/pocus-lus not found beside the repository")
    return shared / "data" / "pocus-lus"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Keep caches, weights and stores of every test out of the user's home."""
    base = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("USBENCH_CACHE", str(base / "usbench-cache"))
    monkeypatch.setenv("USBENCH_WEIGHTS_DIR", str(base / "usbench-weights"))
    monkeypatch.setenv("USBENCH_CACHE_DIR", str(base / "usbench-features"))
    monkeypatch.setenv("USBENCH_STORE", str(tmp_path_factory.getbasetemp() / "store"))


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread: tiny networks run much faster so on the shared 2-core machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
