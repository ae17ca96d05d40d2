"""Data-copying checks on FID's features, beside ``memorization``: authenticity (Alaa et
al. 2022) and Meehan et al. 2020's C_T statistic.

Both read the features FID uses (one Inception pass per image, memoised; real features
cached on disk), chosen by ``features=`` (default FID-Inception pool3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from usbench.metrics._lib.copying import authentic_mask, ct_statistic
from usbench.metrics.inception import _not_identity
from usbench.metrics.manifold import Features, _FeatureSpaceMetric
from usbench.protocols import EvalInputs, MetricResult, MetricUnavailable


@dataclass(frozen=True)
class AuthenticityConfig:
    """Settings of ``authenticity``.

    features: feature space: inception-pool3, inception-pool2, inception-pool1,
        dinov2-vitb14, dinov2-vitl14, clip-vitl14, swav-resnet50, radimagenet-resnet50
        (medical) or biomedclip (medical).
    batch_size: images per network pass (does not change the value) [>= 1].
    """

    features: Features = "inception-pool3"
    batch_size: int = 16
    not_identity: ClassVar[tuple[str, ...]] = _not_identity()


@dataclass(frozen=True)
class DataCopyingConfig:
    """Settings of ``data-copying``.

    n_cells: k-means cells on the training features (few at small N: each cell needs test
        and generated points) [>= 1].
    tau: cells holding less than this share of the generated images are left out [0, 1).
    features: feature space: inception-pool3, inception-pool2, inception-pool1,
        dinov2-vitb14, dinov2-vitl14, clip-vitl14, swav-resnet50, radimagenet-resnet50
        (medical) or biomedclip (medical).
    batch_size: images per network pass (does not change the value) [>= 1].
    """

    n_cells: int = 3
    tau: float = 0.05
    features: Features = "inception-pool3"
    batch_size: int = 16
    not_identity: ClassVar[tuple[str, ...]] = _not_identity()


class Authenticity(_FeatureSpaceMetric):
    """Authenticity (Alaa et al. 2022): share of generated images that are not inside
    their nearest training image's nearest-neighbour ball.

    An independent generator scores about 1 - (share of fresh real images that land in
    such a ball); copies score 0. ``per_sample``: 1 authentic, 0 not.
    """

    name: ClassVar[str] = "authenticity"
    higher_is_better: ClassVar[bool] = True
    value_range: ClassVar[tuple[float | None, float | None]] = (0.0, 1.0)
    Config: ClassVar[type] = AuthenticityConfig

    def variant(self) -> dict[str, Any]:
        return {**self.feature_variant(), "distance": "euclidean", "reference": "train"}

    def compute(self, inputs: EvalInputs) -> MetricResult:
        gen, real = self.features_of(inputs, at_least=2)
        mask = authentic_mask(real, gen)
        details = {"n_real": int(len(real))}
        if inputs.heldout is not None and len(inputs.heldout) > 0:
            test = self.image_features(
                inputs.heldout.images, on_disk=True, data=inputs.heldout.content_hash()
            )[self.layer()]
            details["heldout_authenticity"] = float(authentic_mask(real, test).mean())
        return MetricResult(float(mask.mean()), 0.0, len(gen), mask, details=details)


class DataCopying(_FeatureSpaceMetric):
    """Meehan et al. 2020's C_T: per k-means cell of the training features, a Mann–Whitney
    z-score of generated vs held-out nearest-training distances, averaged over cells.

    Needs the held-out test split. ``C_T ≪ 0`` (e.g. below -3): generated images are
    closer to the training set than fresh real images are — data copying; about 0: no
    evidence; well above 0: underfitting. Higher is marked better because lower values
    mean copying; the details hold each cell's z and shares.
    """

    name: ClassVar[str] = "data-copying"
    higher_is_better: ClassVar[bool] = True
    value_range: ClassVar[tuple[float | None, float | None]] = (None, None)
    Config: ClassVar[type] = DataCopyingConfig

    def variant(self) -> dict[str, Any]:
        return {
            **self.feature_variant(),
            "statistic": "C_T (Meehan et al. 2020)",
            "cells": "k-means on train (scikit-learn, n_init=10, seeded)",
            "n_cells": self.config.n_cells,
            "tau": self.config.tau,
        }

    def compute(self, inputs: EvalInputs) -> MetricResult:
        if inputs.heldout is None or len(inputs.heldout) < 2:
            raise MetricUnavailable(
                "data-copying compares generated with held-out real images, but fewer than "
                "2 were given.",
                "run on a dataset with a test split (the harness passes it as heldout).",
            )
        gen, train = self.features_of(inputs, at_least=self.config.n_cells)
        test = self.image_features(
            inputs.heldout.images, on_disk=True, data=inputs.heldout.content_hash()
        )[self.layer()]
        result = ct_statistic(
            train, test, gen, n_cells=self.config.n_cells, tau=self.config.tau, seed=inputs.seed
        )
        if np.isnan(result.value):
            raise MetricUnavailable(
                "no k-means cell holds both held-out and enough generated images.",
                "score more images or use fewer cells (data-copying:n_cells=2).",
            )
        details = {
            "z_per_cell": [None if np.isnan(z) else float(z) for z in result.z],
            "test_share": result.test_share.tolist(),
            "generated_share": result.generated_share.tolist(),
            "n_test": int(len(test)),
        }
        return MetricResult(result.value, 0.0, len(gen), details=details)
