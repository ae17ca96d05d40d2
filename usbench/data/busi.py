"""BUSI: the public Breast Ultrasound Images dataset (Al-Dhabyani et al., Data in Brief 2020).

780 grayscale breast ultrasound images of 600 women, in three classes: benign (437),
malignant (210), normal (133). The usual distribution (``Dataset_BUSI_with_GT``) is one
folder per class holding PNG images (``benign (1).png``) and their lesion masks
(``benign (1)_mask.png``, sometimes ``_mask_1.png``); masks are not images and are skipped.

It cannot be downloaded automatically (the authors' page and Kaggle need a manual click),
so ``--data-root`` must point at the unpacked folder. BUSI publishes no patient ids; each
image is its own patient here, so patient-level splits are image-level splits.

Pixels are read by :func:`usbench.data.imageio.read_grayscale` (the project's bit-depth,
colour and alpha policy). Options (``--data-option key=value``):
    resize: ``stretch`` (default: the whole non-square frame squeezed to a square with
        Lanczos-3, as the paper "resized all images to a uniform resolution"), or one of
        :data:`usbench.data.imageio.RESIZE_MODES` (``center-crop+lanczos`` keeps the aspect
        ratio but drops the frame's sides).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import torch
from PIL import Image

from usbench.data import imageio
from usbench.data.imageset import ImageSet
from usbench.data.label_maps import fit_label_map
from usbench.protocols import DatasetSource

BUSI_CLASSES: tuple[str, ...] = ("benign", "malignant", "normal")
BUSI_FOLDER = "Dataset_BUSI_with_GT"
MASK_NAMES = ("background", "lesion")
_WHERE = (
    "Download BUSI by hand from https://scholar.cu.edu.eg/?q=afahmy/pages/dataset "
    "(or Kaggle: 'Breast Ultrasound Images Dataset', aryashah2k/breast-ultrasound-images-dataset), "
    f"unpack it and pass the folder holding benign/, malignant/, normal/ (usually {BUSI_FOLDER}) "
    "with --data-root /path/to/Dataset_BUSI_with_GT"
)
RESIZE_MODES = ("stretch", *imageio.RESIZE_MODES)


@dataclass(frozen=True)
class BUSIConfig:
    """Settings of ``busi``.

    resize: stretch (seed 004 resized every image to the square), or
        center-crop+lanczos, center-crop+bilinear, none.
    masks: load the lesion masks as label maps (background, lesion) for segmentation.
    """

    resize: Literal[RESIZE_MODES] = "stretch"
    masks: bool = False


class BUSIMissing(FileNotFoundError):
    """The BUSI folder is absent or not in the expected layout; the message says where to get it."""


class BUSI(DatasetSource):
    """The BUSI breast ultrasound set read from a local root (see module docstring).

    ``load`` returns ``N×1×S×S`` float32 in [0, 1], labels indexing
    ``("benign", "malignant", "normal")``, names ``"<class>/<file name>"``; with
    ``masks=true`` also ``N×S×S`` int64 label maps indexing ``("background", "lesion")``.
    """

    name: ClassVar[str] = "busi"
    Config: ClassVar[type] = BUSIConfig
    description: ClassVar[str] = (
        "BUSI breast ultrasound (780 images: benign/malignant/normal), local --data-root"
    )

    def load(self, *, image_size: int, root: Path | None = None) -> ImageSet:
        """Read every image (masks excluded) under ``root``, resized to ``image_size``."""
        resize = self.config.resize
        folder = find_busi_root(root)
        files = list_busi_images(folder)
        images = [read_grayscale(folder / rel, image_size, resize) for rel, _ in files]
        names = tuple(rel.as_posix() for rel, _ in files)
        maps = {}
        if self.config.masks:
            stack = [read_lesion_mask(folder / rel, image_size, resize) for rel, _ in files]
            maps = {"masks": torch.from_numpy(np.stack(stack)), "mask_names": MASK_NAMES}
        return ImageSet(
            images=torch.from_numpy(np.stack(images)[:, None]),
            labels=torch.tensor([label for _, label in files], dtype=torch.int64),
            class_names=BUSI_CLASSES,
            patient_ids=names,
            names=names,
            name=self.name,
            probes=("linear",) * len(files),
            **maps,
        )


def find_busi_root(root: Path | None) -> Path:
    """The folder holding ``benign/``, ``malignant/``, ``normal/``: ``root`` or
    ``root/Dataset_BUSI_with_GT``. Raises :class:`BUSIMissing` with the download hint."""
    if root is None:
        raise BUSIMissing(f"The busi dataset needs a local copy. {_WHERE}.")
    root = Path(root).expanduser()
    for candidate in (root, root / BUSI_FOLDER):
        if all((candidate / c).is_dir() for c in BUSI_CLASSES):
            return candidate
    raise BUSIMissing(
        f"{root} does not contain the BUSI class folders {', '.join(BUSI_CLASSES)}. {_WHERE}."
    )


def is_mask(path: Path) -> bool:
    """True for BUSI segmentation masks (``_mask`` in the file name)."""
    return "_mask" in path.stem.lower()


def list_busi_images(folder: Path) -> list[tuple[Path, int]]:
    """``(relative path, label)`` of every image, masks excluded, sorted within each class
    by the number in ``benign (12).png`` (then by name)."""
    files: list[tuple[Path, int]] = []
    for label, cls in enumerate(BUSI_CLASSES):
        found = [p for p in (folder / cls).iterdir() if imageio.is_image_file(p) and not is_mask(p)]
        if not found:
            raise BUSIMissing(f"{folder / cls} holds no images. {_WHERE}.")
        files += [(p.relative_to(folder), label) for p in sorted(found, key=_file_order)]
    return files


def mask_files(image: Path) -> list[Path]:
    """The mask files of ``image``: ``<stem>_mask.png`` and ``<stem>_mask_<k>.png``."""
    pattern = re.compile(re.escape(image.stem) + r"_mask(_\d+)?", re.IGNORECASE)
    found = [p for p in image.parent.iterdir() if pattern.fullmatch(p.stem) and p.is_file()]
    return sorted(found, key=lambda p: (len(p.stem), p.name))


def read_lesion_mask(image: Path, size: int, resize: str) -> np.ndarray:
    """``size×size`` int64 label map of ``image``: 1 where any of its masks is non-zero."""
    files = mask_files(image)
    if not files:
        raise BUSIMissing(
            f"{image} has no mask ({image.stem}_mask.png); every BUSI image ships one. "
            f"Restore it from the download, or load without masks=true. {_WHERE}."
        )
    union = np.zeros(imageio.read_grayscale(files[0]).shape, dtype=bool)
    for path in files:
        plane = imageio.read_grayscale(path)
        if plane.shape != union.shape:
            raise ValueError(f"{path} is {plane.shape}, unlike {files[0]} {union.shape}")
        union |= plane > 0
    if resize == "stretch":
        img = Image.fromarray(union.astype(np.uint8))
        return np.asarray(img.resize((size, size), Image.Resampling.NEAREST)).astype(np.int64)
    return fit_label_map(union.astype(np.int64), size, resize=resize)


def _file_order(path: Path) -> tuple[int, str]:
    digits = "".join(ch if ch.isdigit() else " " for ch in path.stem).split()
    return (int(digits[-1]) if digits else -1, path.name)


def read_grayscale(path: Path, size: int, resize: str = "stretch") -> np.ndarray:
    """One image as ``size×size`` float32 in [0, 1]: ``stretch`` resizes the whole frame
    (Lanczos-3 on the float image, clipped), other modes go to
    :func:`usbench.data.imageio.fit_square`."""
    plane = imageio.read_grayscale(path)
    if resize != "stretch":
        return imageio.fit_square(plane, size, resize=resize, path=path)
    if plane.shape == (size, size):
        return np.ascontiguousarray(plane, dtype=np.float32)
    resized = Image.fromarray(plane.astype(np.float32)).resize(
        (size, size), resample=Image.Resampling.LANCZOS
    )
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)
