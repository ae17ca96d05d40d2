"""Set metrics on k-NN manifolds and kernels of FID's features: PRDC and the Vendi score.

Both read the features FID and KID use (one Inception pass per image, memoised; real
features cached on disk), chosen by ``features=`` (default FID-Inception pool3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from usbench.metrics._lib import backbones
from usbench.metrics._lib.manifold import cosine_vendi_score, prdc
from usbench.metrics.inception import _not_identity, _SetFeatures
from usbench.protocols import EvalInputs, MetricKind, MetricResult, MetricUnavailable

Features = backbones.Features


@dataclass(frozen=True)
class PRDCConfig:
    """Settings of ``prdc``.

    statistic: which number is the value: precision, recall, density or coverage (all four
        are in the details).
    k: nearest neighbour defining each point's ball (Naeem et al. recommend 5) [>= 1].
    features: feature space: inception-pool3 (FID's 2048-d), inception-pool2 (192-d),
        inception-pool1 (64-d), dinov2-vitb14, dinov2-vitl14, clip-vitl14, swav-resnet50,
        radimagenet-resnet50 (medical) or biomedclip (medical).
    batch_size: images per network pass (does not change the value) [>= 1].
    """

    statistic: Literal["precision", "recall", "density", "coverage"] = "precision"
    k: int = 5
    features: Features = "inception-pool3"
    batch_size: int = 16
    not_identity: ClassVar[tuple[str, ...]] = _not_identity()


@dataclass(frozen=True)
class VendiConfig:
    """Settings of ``vendi``.

    q: order of the Rényi entropy (1: Shannon, the paper's default) [>= 0].
    features: feature space: inception-pool3, inception-pool2, inception-pool1,
        dinov2-vitb14, dinov2-vitl14, clip-vitl14, swav-resnet50, radimagenet-resnet50
        (medical) or biomedclip (medical).
    batch_size: images per network pass (does not change the value) [>= 1].
    """

    q: float = 1.0
    features: Features = "inception-pool3"
    batch_size: int = 16
    not_identity: ClassVar[tuple[str, ...]] = _not_identity()


class _FeatureSpaceMetric(_SetFeatures):
    """A set metric on one feature space (an Inception layer or another backbone),
    chosen by ``config.features``."""

    def layer(self) -> str:
        return self.feature_key()

    def feature_variant(self) -> dict[str, Any]:
        return {
            **self._base_variant(self.mode),
            "features": self.config.features,
            "dims": self.dims(),
        }

    def features_of(self, inputs: EvalInputs, at_least: int) -> tuple[Any, Any]:
        """``(generated, real)`` float64 features; unavailable below ``at_least`` images."""
        n_gen, n_real = len(inputs.generated), len(inputs.train)
        if min(n_gen, n_real) < at_least:
            raise MetricUnavailable(
                f"{self.name} needs at least {at_least} images in each set (got {n_gen} "
                f"generated, {n_real} real).",
                "score more images, or lower the metric's k / sample-size settings.",
            )
        gen, real = self.set_features(inputs)
        return gen[self.layer()], real[self.layer()]


class PRDCMetric(_FeatureSpaceMetric):
    """Precision, recall, density and coverage (Kynkäänniemi et al. 2019; Naeem et al. 2020).

    k-NN balls (``k``, default 5) around real and generated features; precision and
    density measure fidelity (generated points in the real manifold), recall and coverage
    diversity (real points reached by the generated set). Equal to the ``prdc`` package
    on the same features. ``per_sample`` (precision: 1 if the generated image lies in the
    real manifold; density: real balls holding it / k; none for recall and coverage,
    which count real images) is a per-image diagnostic of the set statistic.
    """

    name: ClassVar[str] = "prdc"
    higher_is_better: ClassVar[bool] = True
    value_range: ClassVar[tuple[float | None, float | None]] = (0.0, None)
    Config: ClassVar[type] = PRDCConfig

    def variant(self) -> dict[str, Any]:
        return {
            **self.feature_variant(),
            "statistic": self.config.statistic,
            "k": self.config.k,
            "distance": "euclidean",
            "reference": "train",
        }

    def compute(self, inputs: EvalInputs) -> MetricResult:
        gen, real = self.features_of(inputs, at_least=self.config.k + 1)
        stats = prdc(real, gen, k=self.config.k)
        per_sample = {"precision": stats.inside_real, "density": stats.real_balls}
        per_sample = per_sample.get(self.config.statistic)
        details = {s: getattr(stats, s) for s in ("precision", "recall", "density", "coverage")}
        details["n_real"] = int(len(real))
        return MetricResult(
            getattr(stats, self.config.statistic), 0.0, len(gen), per_sample, details=details
        )


class Vendi(_FeatureSpaceMetric):
    """Vendi score (Friedman & Dieng 2023): the effective number of distinct generated
    images, exp of the entropy of the eigenvalues of the cosine-similarity matrix / N.

    Between 1 (all samples alike) and N; compare only at equal N. Equal to the
    ``vendi-score`` package (``score_X`` for q = 1, ``score_K`` otherwise) on the same
    features.
    """

    name: ClassVar[str] = "vendi"
    kind: ClassVar[MetricKind] = MetricKind.DIVERSITY
    higher_is_better: ClassVar[bool] = True
    value_range: ClassVar[tuple[float | None, float | None]] = (1.0, None)
    Config: ClassVar[type] = VendiConfig

    def variant(self) -> dict[str, Any]:
        return {**self.feature_variant(), "kernel": "cosine", "q": self.config.q}

    def compute(self, inputs: EvalInputs) -> MetricResult:
        gen, _ = self.features_of(inputs, at_least=2)
        value = cosine_vendi_score(gen, q=self.config.q)
        return MetricResult(value, 0.0, len(gen), details={"max_possible": len(gen)})
