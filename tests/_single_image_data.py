"""Tiny deterministic images shared by the single-image generator tests."""

from __future__ import annotations

import torch

from usbench.data.imageset import ImageSet


def striped_images(labels: tuple[int, ...] = (0, 1), size: int = 32) -> ImageSet:
    """``len(labels)`` smooth striped images (``N×1×size×size`` in [0, 1]), classes a/b."""
    gen = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    images = []
    for i in range(len(labels)):
        base = 0.5 + 0.3 * torch.sin(8 * xx + 2 * i) * torch.cos(5 * yy)
        images.append((base + 0.1 * torch.rand(size, size, generator=gen)).clamp(0, 1))
    n = len(labels)
    return ImageSet(
        images=torch.stack(images)[:, None].float(),
        labels=torch.tensor(labels, dtype=torch.long),
        class_names=("a", "b"),
        patient_ids=tuple(f"p{i}" for i in range(n)),
        names=tuple(f"img{i}" for i in range(n)),
        name="striped",
    )
