"""A metric plugin: how far each sample's mean brightness is from the real images'."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from usbench.protocols import EvalInputs, Metric, MetricKind, MetricResult


@dataclass(frozen=True)
class BrightnessGapConfig:
    """reference: ``train`` or ``heldout`` — which real images set the target brightness."""

    reference: str = "train"


class BrightnessGap(Metric):
    """|mean(sample) − mean(real images)| per generated image; the value is their mean."""

    name: ClassVar[str] = "brightness_gap"
    kind: ClassVar[MetricKind] = MetricKind.SET_VS_SET
    higher_is_better: ClassVar[bool] = False
    value_range: ClassVar[tuple[float | None, float | None]] = (0.0, 1.0)
    Config: ClassVar[type] = BrightnessGapConfig

    def variant(self) -> dict[str, Any]:
        return {"reference": self.config.reference, "statistic": "mean pixel value"}

    def compute(self, inputs: EvalInputs) -> MetricResult:
        real = inputs.train if self.config.reference == "train" else inputs.heldout
        target = real.images.double().mean()
        gaps = (inputs.generated.images.double().mean(dim=(1, 2, 3)) - target).abs()
        return MetricResult.of_samples(gaps.numpy(), seed=inputs.seed)
