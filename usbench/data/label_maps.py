"""Reading segmentation label maps from files, with the geometry images get.

A label map is a single-channel integer image (8- or 16-bit PNG/TIFF) whose values are
class indices. It is centre-cropped exactly as its image (:func:`usbench.data.imageio.
center_crop`) and resized with nearest neighbour, so a label is never interpolated.

``load_label_maps([paths], image_size=64)`` → ``N×64×64`` int64.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from usbench.data.imageio import ImageLoadError, center_crop


def read_label_map(path: str | Path) -> np.ndarray:
    """``H×W`` int64 class indices of one file (RGB files are refused: not a label map)."""
    try:
        with Image.open(path) as img:
            if img.mode not in ("L", "P", "I", "I;16", "1"):
                raise ImageLoadError(
                    path, f"is a {img.mode} image; a label map holds one integer per pixel"
                )
            return np.asarray(img).astype(np.int64)
    except (OSError, ValueError) as err:
        if isinstance(err, ImageLoadError):
            raise
        raise ImageLoadError(path, f"cannot be read as a label map ({err})") from err


def fit_label_map(labels: np.ndarray, image_size: int, *, resize: str) -> np.ndarray:
    """Centre crop (unless ``resize="none"``) and nearest-neighbour resize to ``image_size²``."""
    square = labels if resize == "none" else center_crop(labels)
    if square.shape != (image_size, image_size):
        if resize == "none":
            raise ValueError(f"label map is {square.shape}, resize='none' needs {image_size}²")
        img = Image.fromarray(square.astype(np.int32), mode="I")
        square = np.asarray(img.resize((image_size, image_size), Image.Resampling.NEAREST))
    return np.ascontiguousarray(square, dtype=np.int64)


def load_label_maps(paths: Sequence[str | Path], image_size: int, *, resize: str) -> np.ndarray:
    """``N×image_size×image_size`` int64 label maps of ``paths``."""
    out = np.empty((len(paths), image_size, image_size), dtype=np.int64)
    for i, path in enumerate(paths):
        out[i] = fit_label_map(read_label_map(path), image_size, resize=resize)
    return out


def mask_names(declared: str, maps: np.ndarray) -> tuple[str, ...]:
    """Class names: ``declared`` (``"background;lesion"``) or ``"0".."K"`` from the values.

    Raises:
        ValueError: a value in the maps has no declared name.
    """
    top = int(maps.max()) if maps.size else 0
    if not declared:
        return tuple(str(k) for k in range(top + 1))
    names = tuple(n.strip() for n in declared.split(";"))
    if top >= len(names):
        raise ValueError(f"label maps hold value {top} but only {len(names)} names: {names}")
    return names
