"""A deliberately simple generator: each pixel an independent Gaussian fitted per class."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from usbench.protocols import Capabilities, FitContext, Generator
from usbench.samples import SampleBatch


@dataclass(frozen=True)
class PixelGaussianConfig:
    """image_size: side length (px); temperature: scales the fitted standard deviation."""

    image_size: int = 64
    temperature: float = 1.0


class PixelGaussian(Generator):
    """Per-class, per-pixel mean and standard deviation; samples are independent draws."""

    name: ClassVar[str] = "toygen"
    Config: ClassVar[type] = PixelGaussianConfig
    capabilities: ClassVar[Capabilities] = Capabilities(class_conditional=True)
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {"image_size": 256},
        "quick": {"image_size": 64},
        "smoke": {"image_size": 16},
    }

    def fit(self, train, ctx: FitContext) -> None:
        means, stds = [], []
        for label in range(len(train.class_names)):
            images = train.images[train.labels == label]
            if len(images) == 0:
                images = train.images
            means.append(images.mean(0))
            stds.append(images.std(0, unbiased=False))
        self.mean, self.std = torch.stack(means), torch.stack(stds)

    def sample(self, n: int, *, seed: int, labels: torch.Tensor | None = None) -> SampleBatch:
        labels = labels if labels is not None else torch.arange(n) % len(self.mean)
        noise = torch.randn(
            (n, *self.mean.shape[1:]), generator=torch.Generator().manual_seed(seed)
        )
        images = self.mean[labels] + self.config.temperature * self.std[labels] * noise
        return SampleBatch(images.clamp(0, 1).float(), labels.long())

    def state_tensors(self) -> dict[str, torch.Tensor]:
        return {"mean": self.mean, "std": self.std}

    def restore(self, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        self.mean, self.std = tensors["mean"], tensors["std"]
