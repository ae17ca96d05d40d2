"""A dataset plugin: horizontal stripes at a class-dependent depth, generated on the fly."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch

from usbench.data.imageset import ImageSet
from usbench.protocols import DatasetSource


@dataclass(frozen=True)
class StripesConfig:
    """Settings of ``stripes`` (``-d stripes:n_per_class=8``).

    n_per_class: images per class.
    """

    n_per_class: int = 4


class Stripes(DatasetSource):
    """Two classes (``shallow``, ``deep``): a bright stripe at 1/3 or 2/3 of the depth."""

    name: ClassVar[str] = "stripes"
    description: ClassVar[str] = "Toy stripes at two depths, generated (no files)"
    Config: ClassVar[type] = StripesConfig

    def load(self, *, image_size: int, root: Path | None = None) -> ImageSet:
        """One stripe image per (class, k), returned as an ImageSet."""
        rows = torch.arange(image_size, dtype=torch.float32)[:, None] / image_size
        images, labels = [], []
        for label, depth in enumerate((1 / 3, 2 / 3)):
            for k in range(self.config.n_per_class):
                stripe = torch.exp(-(((rows - depth - 0.02 * k) / 0.05) ** 2))
                images.append(stripe.expand(image_size, image_size))
                labels.append(label)
        n = len(images)
        return ImageSet(
            images=torch.stack(images)[:, None].clamp(0, 1).contiguous(),
            labels=torch.tensor(labels, dtype=torch.int64),
            class_names=("shallow", "deep"),
            patient_ids=tuple(f"p{i}" for i in range(n)),
            names=tuple(f"stripes/{i:03d}" for i in range(n)),
            name=self.name,
        )
