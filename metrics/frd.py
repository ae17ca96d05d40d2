"""Fréchet Radiomics Distance (FRD v1): the Fréchet distance between radiomic features.

Radiomic features need no pretrained network, so FRD is computed offline on any machine.
Features are pyradiomics' own (:mod:`usbench.metrics._lib.radiomics_features`, configured
as the ``frd-score`` package's FRDv1 2-D extraction); the real set's features are cached
on disk by content, generated ones memoised in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from usbench.data.imageset import ImageSet
from usbench.metrics._lib import features as feat
from usbench.metrics._lib import radiomics_features as rad
from usbench.metrics._lib.frechet import frechet_distance, rank_warning
from usbench.progress import progress_bar
from usbench.protocols import EvalInputs, Metric, MetricKind, MetricResult, MetricUnavailable


@dataclass(frozen=True)
class FRDConfig:
    """Settings of ``frd``.

    log: report log(FD) as frd-score's FRDv1 does (true) or the plain Fréchet distance
        of the normalised features (false).
    """

    log: bool = True


class FRD(Metric):
    """Fréchet Radiomics Distance (Osuala et al. 2024; Konz, Osuala et al. 2026), FRDv1.

    Each image's 398-d radiomic vector (first-order, GLCM, GLRLM, GLSZM and NGTDM features
    of the original image and its 4 wavelet bands, plus pyradiomics' numeric diagnostics;
    8-bit grey levels, whole-image mask) is z-scored by the training set's mean and standard
    deviation; columns not finite in both sets are dropped; the value is
    ``log FD(generated, train)`` of the Gaussians fitted to the two sets, FD being the
    squared Fréchet distance as in FID (``frd-score``'s default; the paper's Eq. 3 takes the
    log of the unsquared distance, half this value), equal to ``frd-score`` 1.0.1 on the
    same images. ``log=false`` gives the distance itself. The details hold the raw distance,
    the feature count and a warning when N does not exceed it. Identical sets give −∞.
    """

    name: ClassVar[str] = "frd"
    kind: ClassVar[MetricKind] = MetricKind.SET_VS_SET
    higher_is_better: ClassVar[bool] = False
    value_range: ClassVar[tuple[float | None, float | None]] = (None, None)
    Config: ClassVar[type] = FRDConfig

    def variant(self) -> dict[str, Any]:
        return {
            "features": "pyradiomics",
            "pyradiomics": rad.installed_pyradiomics() or "not installed",
            "definition": "frd-score 1.0.1, FRDv1 2D",
            "extraction": rad.extraction_parameters(),
            "mask": "whole image except the corner pixel",
            "image": "8-bit grey levels, native size, spacing 1",
            "normalisation": "z-score by the train set (float32); non-finite columns dropped",
            "value": "log FD" if self.config.log else "FD",
            "reference": "train",
        }

    def compute(self, inputs: EvalInputs) -> MetricResult:
        rad.pyradiomics_version()
        n_gen, n_real = len(inputs.generated), len(inputs.train)
        if min(n_gen, n_real) < 2:
            raise MetricUnavailable(
                f"frd compares image sets and needs at least 2 images in each (got {n_gen} "
                f"generated, {n_real} real).",
                "score more images (set metrics are only stable with hundreds).",
            )
        real = self.reference_features(inputs.train)
        gen = self.generated_features(inputs.generated.images)
        try:
            real_z, gen_z, kept = rad.normalise_to_reference(real, gen)
        except ValueError as err:
            raise MetricUnavailable(f"frd: {err}.", "score more (or larger) images.") from err
        distance = frechet_distance(real_z, gen_z)
        value = distance if not self.config.log else _log(distance)
        details = {
            "fd": distance,
            "n_real": int(len(real_z)),
            "n_generated_used": int(len(gen_z)),
            "dims": int(kept.sum()),
            "dims_extracted": int(kept.size),
            "warning": rank_warning(len(gen_z), int(kept.sum())),
        }
        return MetricResult(value, 0.0, n_gen, details=details)

    def generated_features(self, images: torch.Tensor) -> np.ndarray:
        """Raw radiomic rows (float64 ``N×F``) of ``N×1×H×W`` images, memoised in memory."""
        return self._features(images, on_disk=False, data=feat.tensor_hash(images))

    def reference_features(self, real: ImageSet) -> np.ndarray:
        """Raw radiomic rows of the real images, cached on disk by content."""
        return self._features(real.images, on_disk=True, data=real.content_hash())

    def _features(self, images: torch.Tensor, *, on_disk: bool, data: str) -> np.ndarray:
        fields = {
            "extractor": "pyradiomics",
            "pyradiomics": rad.pyradiomics_version(),
            "parameters": rad.extraction_parameters(),
            "preprocessing": "8-bit grey levels, whole-image mask",
            "data": data,
        }
        arrays = feat.cached_arrays(fields, lambda: _extract(images), on_disk=on_disk)
        return arrays["features"]


def _extract(images: torch.Tensor) -> dict[str, np.ndarray]:
    extractor = rad.build_extractor()
    rows = []
    with progress_bar(len(images), "radiomic features") as bar:
        for image in images[:, 0].double().numpy():
            rows.append(rad.image_features(extractor, rad.to_grey_levels(image))[1])
            bar.update(1)
    return {"features": np.stack(rows)}


def _log(distance: float) -> float:
    """frd-score's FRDv1 value: log of the (squared) Fréchet distance, −∞ at 0."""
    return float(np.log(distance)) if distance > 0 else float("-inf")
