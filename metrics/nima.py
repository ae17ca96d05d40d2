"""NIMA (Talebi & Milanfar 2018): mean of the predicted 1–10 aesthetic score distribution.

Computed through pyiqa's ``nima`` (Inception-ResNet-v2 trained on AVA), which lives in
the optional extra ``pip install 'usbench[nima]'`` because pyiqa pulls many packages and
its model zoo's licence is non-commercial. Grayscale is replicated to RGB; pyiqa does its
own resizing/normalisation. The weights file comes from the usbench weights cache
(``usbench weights fetch nima-inception-resnet-v2-ava``), never from a silent download.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from usbench.data import resident_pages
from usbench.protocols import EvalInputs, Metric, MetricKind, MetricResult, MetricUnavailable

WEIGHTS_NAME = "nima-inception-resnet-v2-ava"


def _pyiqa():
    try:
        import pyiqa
    except ImportError as err:
        raise MetricUnavailable(
            f"NIMA needs pyiqa, which is not installed ({err}); it is an optional extra "
            "because of its dependencies and non-commercial licence.",
            "pip install 'usbench[nima]'",
        ) from err
    return pyiqa


@dataclass(frozen=True)
class NIMAConfig:
    """Settings of ``nima``.

    batch_size: images per network pass (does not change the value) [>= 1].
    """

    batch_size: int = 8
    not_identity: ClassVar[tuple[str, ...]] = ("batch_size",)


class NIMA(Metric):
    """No-reference aesthetic quality of each generated image (higher is better, 1–10)."""

    name: ClassVar[str] = "nima"
    kind: ClassVar[MetricKind] = MetricKind.NO_REFERENCE
    higher_is_better: ClassVar[bool] = True
    weights: ClassVar[tuple[str, ...]] = (WEIGHTS_NAME,)
    value_range: ClassVar[tuple[float | None, float | None]] = (1.0, 10.0)
    Config: ClassVar[type] = NIMAConfig

    def __init__(self, config: NIMAConfig | None = None) -> None:
        super().__init__(config)
        self._model = None

    def variant(self) -> dict[str, Any]:
        from usbench import weights

        return {
            "implementation": "pyiqa nima (inception_resnet_v2, AVA)",
            "weights_sha256": weights.verify(WEIGHTS_NAME).sha256 or "missing",
            "preprocessing": "gray→RGB by replication; pyiqa's own resize and normalisation",
            "score": "mean of the 10-bin distribution",
        }

    def model(self):
        """The pyiqa metric with cached weights (raises MetricUnavailable with the fix)."""
        if self._model is None:
            pyiqa = _pyiqa()
            from usbench import weights

            path = weights.resolve(WEIGHTS_NAME)
            self._model = pyiqa.create_metric(
                "nima", device="cpu", as_loss=False, pretrained_model_path=str(path)
            )
        return self._model

    def compute(self, inputs: EvalInputs) -> MetricResult:
        model = self.model()
        images = inputs.generated.images
        scores = []
        with torch.no_grad():
            size = self.config.batch_size
            for batch in resident_pages.batches(images, size):
                scores.append(model(batch.expand(-1, 3, -1, -1)).flatten().double().numpy())
        return MetricResult.of_samples(np.concatenate(scores), seed=inputs.seed)
