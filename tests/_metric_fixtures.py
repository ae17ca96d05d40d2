"""Shared helpers for the metric tests: images, seeded random networks, offline cache dirs."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
from _shared import lus_dir, require_lus
from PIL import Image

from usbench.data.imageset import ImageSet
from usbench.metrics._lib.fid_inception import build_fid_inception


def lus_images(n: int, size: int = 64) -> torch.Tensor:
    """``n`` real lung-ultrasound frames, grayscale, resized, 8-bit quantised, ``n×1×s×s``.

    Skips the calling test when the shared frames are absent."""
    require_lus()
    return _lus_images(n, size).clone()


@functools.lru_cache(maxsize=8)
def _lus_images(n: int, size: int) -> torch.Tensor:
    all_files = sorted(lus_dir().glob("*/*.png"))
    files = all_files[:: max(1, len(all_files) // n)]
    arrays = []
    for f in files[:n]:
        img = Image.open(f).convert("L").resize((size, size), Image.BILINEAR)
        arrays.append(np.asarray(img, dtype=np.float32) / 255.0)
    return torch.from_numpy(np.stack(arrays))[:, None]


def phantom_images(n: int, size: int = 64, seed: int = 0) -> torch.Tensor:
    """Speckled fan-like phantoms with a bright pleural line and A-lines, 8-bit quantised."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = []
    for _ in range(n):
        base = 0.25 + 0.1 * rng.random()
        img = base * rng.rayleigh(1.0, (size, size)) * (1.0 - 0.6 * yy)
        line = 0.2 + 0.15 * rng.random()
        for k in range(1, 4):
            img += 0.5 / k * np.exp(-(((yy - k * line) * size / 1.5) ** 2))
        img *= (np.abs(xx - 0.5) < 0.45 - 0.2 * (1 - yy)).astype(float)
        out.append(np.clip(img, 0, 1))
    arr = np.round(np.stack(out) * 255.0) / 255.0
    return torch.from_numpy(arr.astype(np.float32))[:, None]


def imageset(images: torch.Tensor, prefix: str = "img") -> ImageSet:
    """An ImageSet of one class around ``images``."""
    n = len(images)
    return ImageSet(
        images=images,
        labels=torch.zeros(n, dtype=torch.int64),
        class_names=("x",),
        patient_ids=tuple(f"p{i}" for i in range(n)),
        names=tuple(f"{prefix}/{i:04d}" for i in range(n)),
        name="test",
    )


def calibrated_random_state(net: torch.nn.Module, seed: int, size: int = 160) -> dict:
    """Seeded random weights whose BN statistics keep activations well scaled.

    Conv weights get PyTorch's default init under ``seed``; BN running statistics are then
    set by one train-mode pass over seeded noise (cumulative average), so features are
    neither exploding nor vanishing.
    """
    torch.manual_seed(seed)
    for module in net.modules():
        if isinstance(module, torch.nn.Conv2d | torch.nn.Linear):
            module.reset_parameters()
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None
    net.train()
    with torch.no_grad():
        net(torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1)
    net.eval()
    return {k: v.clone() for k, v in net.state_dict().items()}


def random_fid_state(seed: int = 0) -> dict:
    """Calibrated random weights for the FID Inception body (no ``fc``)."""
    return calibrated_random_state(build_fid_inception(), seed)


def write_pngs(images: torch.Tensor, folder: Path) -> Path:
    """Write ``N×1×H×W`` [0,1] images as 8-bit grayscale PNGs named 0000.png, ..."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images):
        arr = np.round(img[0].numpy() * 255.0).astype(np.uint8)
        Image.fromarray(arr, mode="L").save(folder / f"{i:04d}.png")
    return folder
