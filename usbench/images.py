"""Writing images to disk: one 8-bit PNG per sample, and sample grids for reports."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def to_uint8(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """``H×W`` (or ``1×H×W``) float in [0,1] → ``H×W`` uint8, rounding to nearest."""
    array = image.detach().cpu().numpy() if torch.is_tensor(image) else np.asarray(image)
    array = np.squeeze(array)
    if array.ndim != 2:
        raise ValueError(f"expected one grayscale image, got shape {array.shape}")
    return (np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def save_pngs(images: torch.Tensor, folder: Path, prefix: str = "sample") -> list[Path]:
    """Write ``N×1×H×W`` images as ``folder/<prefix>_0000.png`` …; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, image in enumerate(images):
        path = folder / f"{prefix}_{i:04d}.png"
        Image.fromarray(to_uint8(image), mode="L").save(path)
        paths.append(path)
    return paths


def grid(images: torch.Tensor, columns: int | None = None, pad: int = 2) -> np.ndarray:
    """Tile ``N×1×H×W`` images into one uint8 ``H'×W'`` array, row-major, white padding."""
    n, _, h, w = images.shape
    columns = columns or min(n, max(1, math.ceil(math.sqrt(n))))
    rows = math.ceil(n / columns)
    canvas = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad), 255, np.uint8)
    for i in range(n):
        r, c = divmod(i, columns)
        top, left = pad + r * (h + pad), pad + c * (w + pad)
        canvas[top : top + h, left : left + w] = to_uint8(images[i])
    return canvas


def save_png_grid(images: torch.Tensor, path: Path, columns: int | None = None) -> Path:
    """Write :func:`grid` of the first 64 images to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid(images[:64], columns), mode="L").save(path)
    return path
