"""Paired pixel metrics: SSIM and PSNR (torchmetrics, as seed 002 computed them).

Each generated image is compared with its real counterpart (its source image when the
generator reports one, otherwise the pairing rule of :mod:`usbench.metrics._lib.pairing`);
the value is
the mean over pairs, the spread their standard deviation, with per-pair values and a
bootstrap interval. Images are compared as 1-channel float in ``[0, 1]``
(``data_range = 1``).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar

import torch
from torchmetrics.functional.image import (
    peak_signal_noise_ratio,
    structural_similarity_index_measure,
)

from usbench.metrics._lib.pairing import pair_with_real
from usbench.protocols import EvalInputs, Metric, MetricKind, MetricResult


class _PairedPixelMetric(Metric):
    """Shared mechanics: pair, score each pair, summarise."""

    kind: ClassVar[MetricKind] = MetricKind.PAIRED

    @abstractmethod
    def per_pair(self, generated: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """``N`` scores for ``N×1×H×W`` generated/real pairs in [0,1]."""

    def compute(self, inputs: EvalInputs) -> MetricResult:
        real, pairing = pair_with_real(inputs)
        generated = inputs.generated.images.double()
        values = self.per_pair(generated, real.double()).cpu().numpy()
        details = {"pairing": pairing, "min": float(values.min()), "max": float(values.max())}
        return MetricResult.of_samples(values, seed=inputs.seed, details=details)


class SSIM(_PairedPixelMetric):
    """Structural similarity (Wang et al. 2004): Gaussian window 11, σ 1.5, K = (0.01, 0.03)."""

    name: ClassVar[str] = "ssim"
    higher_is_better: ClassVar[bool] = True
    value_range: ClassVar[tuple[float | None, float | None]] = (-1.0, 1.0)

    def variant(self) -> dict[str, Any]:
        return {"window": "gaussian", "kernel": 11, "sigma": 1.5, "data_range": 1.0}

    def per_pair(self, generated: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        return structural_similarity_index_measure(
            generated, real, data_range=1.0, reduction="none"
        )


class PSNR(_PairedPixelMetric):
    """Peak signal-to-noise ratio in dB with peak 1 (images in [0, 1]); per pair."""

    name: ClassVar[str] = "psnr"
    higher_is_better: ClassVar[bool] = True
    value_range: ClassVar[tuple[float | None, float | None]] = (0.0, None)

    def variant(self) -> dict[str, Any]:
        return {"data_range": 1.0, "unit": "dB"}

    def per_pair(self, generated: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        return peak_signal_noise_ratio(
            generated, real, data_range=1.0, reduction="none", dim=(1, 2, 3)
        )
