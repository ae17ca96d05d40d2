"""Fréchet distances that are honest at small N: FD∞ and relative FD.

Both read FID's features (one Inception pass per image, memoised; real features cached
on disk), chosen by ``features=`` (default FID-Inception pool3), and compare the
generated set with the training set, as ``fid`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from usbench.metrics._lib.fd_extrapolation import fd_infinity, split_half_distances
from usbench.metrics._lib.frechet import frechet_distance, rank_warning
from usbench.metrics.inception import _not_identity
from usbench.metrics.manifold import Features, _FeatureSpaceMetric
from usbench.protocols import EvalInputs, MetricResult, MetricUnavailable


@dataclass(frozen=True)
class FDInfinityConfig:
    """Settings of ``fd-inf``.

    n_points: subset sizes the line is fitted through (the authors' code: 15) [>= 2].
    min_fraction: smallest subset as a share of the generated set (the authors' code:
        5 000 of 50 000 = 0.1; at least 2 images) (0, 1].
    features: feature space: inception-pool3, inception-pool2, inception-pool1,
        dinov2-vitb14, dinov2-vitl14, clip-vitl14, swav-resnet50, radimagenet-resnet50
        (medical) or biomedclip (medical).
    batch_size: images per network pass (does not change the value) [>= 1].
    """

    n_points: int = 15
    min_fraction: float = 0.1
    features: Features = "inception-pool3"
    batch_size: int = 16
    not_identity: ClassVar[tuple[str, ...]] = _not_identity()


@dataclass(frozen=True)
class RelativeFDConfig:
    """Settings of ``relative-fd``.

    n_splits: random halvings of the real set whose FDs are averaged into the denominator
        [>= 1].
    features: feature space: inception-pool3, inception-pool2, inception-pool1,
        dinov2-vitb14, dinov2-vitl14, clip-vitl14, swav-resnet50, radimagenet-resnet50
        (medical) or biomedclip (medical).
    batch_size: images per network pass (does not change the value) [>= 1].
    """

    n_splits: int = 10
    features: Features = "inception-pool3"
    batch_size: int = 16
    not_identity: ClassVar[tuple[str, ...]] = _not_identity()


class FDInfinity(_FeatureSpaceMetric):
    """FD∞ (Chong & Forsyth 2020): FID extrapolated to an infinite generated set.

    FID on random subsets (without replacement) of ``n_points`` sizes from
    ``min_fraction``·N to N, an ordinary least-squares line in 1/N, its intercept. The
    interval is the intercept's 95 % t-interval from the fit; the details hold the sizes,
    the FIDs and the slope. At small N the intercept is noisy and may be negative.
    """

    name: ClassVar[str] = "fd-inf"
    value_range: ClassVar[tuple[float | None, float | None]] = (None, None)
    Config: ClassVar[type] = FDInfinityConfig

    def variant(self) -> dict[str, Any]:
        return {
            **self.feature_variant(),
            "n_points": self.config.n_points,
            "min_fraction": self.config.min_fraction,
            "subsets": "one per size, without replacement, canonical row order",
            "fit": "OLS of FD on 1/N, intercept; 95% t-interval",
            "reference": "train",
        }

    def compute(self, inputs: EvalInputs) -> MetricResult:
        gen, real = self.features_of(inputs, at_least=3)
        try:
            fit = fd_infinity(
                gen,
                real,
                n_points=self.config.n_points,
                min_fraction=self.config.min_fraction,
                seed=inputs.seed,
            )
        except ValueError as err:
            raise MetricUnavailable(
                f"fd-inf cannot fit a line here: {err}.",
                "score more images or lower min_fraction (fd-inf:min_fraction=0.05).",
            ) from err
        details = {
            "sizes": fit.sizes.tolist(),
            "fd_at_size": fit.distances.tolist(),
            "slope": fit.slope,
            "n_real": int(len(real)),
            "warning": rank_warning(len(gen), gen.shape[1]),
        }
        return MetricResult(fit.value, 0.0, len(gen), None, fit.ci_low, fit.ci_high, details)


class RelativeFD(_FeatureSpaceMetric):
    """Relative FD (Woodland et al., MICCAI 2024): FD(generated, real) divided by the FD
    between two random halves of the real set.

    1 means the generated set is as far from the real data as the real data is from
    itself at this sample size; the denominator is the mean over ``n_splits`` seeded
    halvings. The details hold both distances.
    """

    name: ClassVar[str] = "relative-fd"
    value_range: ClassVar[tuple[float | None, float | None]] = (0.0, None)
    Config: ClassVar[type] = RelativeFDConfig

    def variant(self) -> dict[str, Any]:
        return {
            **self.feature_variant(),
            "numerator": "FD(generated, train)",
            "denominator": "mean FD(train half A, train half B)",
            "n_splits": self.config.n_splits,
            "reference": "train",
        }

    def compute(self, inputs: EvalInputs) -> MetricResult:
        if len(inputs.train) < 4:
            raise MetricUnavailable(
                f"relative-fd halves the real set and needs at least 4 real images (got "
                f"{len(inputs.train)}).",
                "train/score on a dataset with more real images.",
            )
        gen, real = self.features_of(inputs, at_least=2)
        numerator = frechet_distance(gen, real)
        halves = split_half_distances(real, n_splits=self.config.n_splits, seed=inputs.seed)
        denominator = float(np.mean(halves))
        details = {
            "fd_generated_real": numerator,
            "fd_real_halves": denominator,
            "n_real": int(len(real)),
            "warning": rank_warning(len(gen), gen.shape[1]),
        }
        return MetricResult(numerator / denominator, 0.0, len(gen), details=details)
