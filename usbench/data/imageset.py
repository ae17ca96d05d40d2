"""The in-memory form of every dataset: grayscale images with labels and patient ids."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from usbench.data import resident_pages

HASH_CHUNK = 1024


@dataclass(frozen=True, eq=False)
class ImageSet:
    """A labelled set of grayscale ultrasound images.

    Attributes:
        images: ``N×1×H×W`` float32 tensor, values in ``[0, 1]``, on the CPU.
        labels: ``N`` int64 tensor of class indices into ``class_names``.
        class_names: name of each class, index = label.
        patient_ids: ``N`` strings; images of one patient never straddle a split.
        names: ``N`` stable identifiers (relative file path, or ``phantom/000017``);
            samples refer to their source image by this name.
        name: dataset name as registered (``lus-phantom``, ``folder:/data/x``, ...).
        probes: ``N`` probe geometries (``"convex"``, ``"linear"`` or ``""`` if unknown).
        masks: optional ``N×H×W`` int64 label maps (segmentation), values index
            ``mask_names``; resized with nearest neighbour, never interpolated.
        mask_names: name of each label-map class (``()`` without masks).
    """

    images: torch.Tensor
    labels: torch.Tensor
    class_names: tuple[str, ...]
    patient_ids: tuple[str, ...]
    names: tuple[str, ...]
    name: str
    probes: tuple[str, ...] = field(default=())
    masks: torch.Tensor | None = None
    mask_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        n = self.images.shape[0]
        if self.images.ndim != 4 or self.images.shape[1] != 1:
            raise ValueError(f"images must be N×1×H×W, got {tuple(self.images.shape)}")
        if self.images.dtype != torch.float32:
            raise ValueError(f"images must be float32, got {self.images.dtype}")
        if n and not resident_pages.in_unit_range(self.images):
            raise ValueError("images must lie in [0, 1]")
        if self.labels.shape != (n,) or len(self.patient_ids) != n or len(self.names) != n:
            raise ValueError("labels, patient_ids and names must have one entry per image")
        if len(set(self.names)) != n:
            raise ValueError("image names must be unique within a dataset")
        if self.probes == ():
            object.__setattr__(self, "probes", ("",) * n)
        elif len(self.probes) != n:
            raise ValueError("probes must have one entry per image")
        if n and (int(self.labels.min()) < 0 or int(self.labels.max()) >= len(self.class_names)):
            raise ValueError("labels must index class_names")
        self._check_masks()

    def _check_masks(self) -> None:
        if self.masks is None:
            if self.mask_names:
                raise ValueError("mask_names given without masks")
            return
        n, _, h, w = self.images.shape
        if self.masks.shape != (n, h, w) or self.masks.dtype != torch.int64:
            raise ValueError(f"masks must be {n}×{h}×{w} int64, got {tuple(self.masks.shape)}")
        if n and (int(self.masks.min()) < 0 or int(self.masks.max()) >= len(self.mask_names)):
            raise ValueError("mask values must index mask_names")

    @property
    def has_masks(self) -> bool:
        """True when every image carries a label map."""
        return self.masks is not None

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def image_size(self) -> tuple[int, int]:
        """``(H, W)`` of the images."""
        return int(self.images.shape[2]), int(self.images.shape[3])

    def subset(self, indices: Sequence[int] | np.ndarray | torch.Tensor) -> ImageSet:
        """The images at ``indices`` (in that order), with all their metadata. A large
        subset of a memory-mapped set is memory-mapped too
        (:func:`usbench.data.image_cache.mapped_subset`)."""
        from usbench.data.image_cache import mapped_subset

        idx = [int(i) for i in (indices.tolist() if hasattr(indices, "tolist") else indices)]
        mapped = mapped_subset(self.images, idx)
        return ImageSet(
            images=self.images[idx].contiguous() if mapped is None else mapped,
            labels=self.labels[idx].contiguous(),
            class_names=self.class_names,
            patient_ids=tuple(self.patient_ids[i] for i in idx),
            names=tuple(self.names[i] for i in idx),
            name=self.name,
            probes=tuple(self.probes[i] for i in idx),
            masks=None if self.masks is None else self.masks[idx].contiguous(),
            mask_names=self.mask_names,
        )

    def index_of(self, name: str) -> int:
        """Position of the image called ``name``."""
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"no image named {name!r} in {self.name}") from None

    def content_hash(self) -> str:
        """sha256 over pixels (quantised to 8 bits), labels, class names, patient ids and,
        when present, the label maps and their class names.

        Quantising makes the hash independent of float round-off in loaders while still
        changing when any image changes visibly. The pixels are hashed in chunks of
        :data:`HASH_CHUNK` images (same digest as one pass), so a memory-mapped set is
        never copied whole.
        """
        h = hashlib.sha256()
        h.update(repr((self.class_names, self.image_size, len(self))).encode())
        for chunk in resident_pages.batches(self.images, HASH_CHUNK):
            h.update((chunk.numpy() * 255.0 + 0.5).astype(np.uint8).tobytes())
        h.update(self.labels.numpy().astype(np.int64).tobytes())
        h.update("\x00".join(self.patient_ids).encode())
        h.update("\x00".join(self.names).encode())
        if self.masks is not None:
            h.update(repr(self.mask_names).encode())
            h.update(self.masks.numpy().astype(np.uint8).tobytes())
        return h.hexdigest()
