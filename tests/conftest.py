"""Shared test setup: offline hub, small thread pools, the repository's shared data."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# Never let a test wait on the hub: loaders must find local files or fail at once.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from _shared import REPO, require_lus  # noqa: E402

# bench/ (experiments and synthetic scenes some tests reuse) is not installed; import it
# as the ``bench`` package from the repository root.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


@pytest.fixture(scope="session")
def pocus_dir() -> Path:
    """The 105 real POCUS frames; tests that need them skip when they are absent."""
    return require_lus()


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> Path:
    """Ten 16×16 images of :func:`usbench.testing.tiny_dataset` in class folders."""
    from PIL import Image

    from usbench.images import to_uint8
    from usbench.testing import tiny_dataset

    root = tmp_path_factory.mktemp("tiny-folder")
    data = tiny_dataset(image_size=16, n=10)
    for i, image in enumerate(data.images):
        folder = root / data.class_names[int(data.labels[i])]
        folder.mkdir(exist_ok=True)
        Image.fromarray(to_uint8(image)).save(folder / f"img{i:02d}.png")
    return root


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Keep caches, weights and stores of every test out of the user's home."""
    base = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("USBENCH_CACHE", str(base / "usbench-cache"))
    monkeypatch.setenv("USBENCH_WEIGHTS_DIR", str(base / "usbench-weights"))
    monkeypatch.delenv("USBENCH_CACHE_DIR", raising=False)
    monkeypatch.setenv("USBENCH_STORE", str(tmp_path_factory.getbasetemp() / "store"))


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread: tiny networks run much faster so on the shared 2-core machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
