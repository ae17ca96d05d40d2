"""Memorisation check: is each generated image closer to a training image than real
held-out images ever are?

For every generated image we find its nearest TRAINING image, in pixel space with a small
translation tolerance and, when available, in a feature space (the FID Inception
features, pool3). The same nearest-training distance is computed for the held-out real images;
they show how close an honest new image of this anatomy gets to the training set. A
generated image closer than ``threshold`` (by default the smallest held-out distance, i.e.
closer than any held-out image ever is) is flagged as a near-copy.

Feature spaces are pluggable: any object with ``name``, ``variant()`` and
``__call__(images N×1×H×W float32 [0,1]) -> N×D float array`` can be passed as an
extractor. By default the FID Inception pool3 space (:class:`InceptionPool3`, built on
:mod:`usbench.metrics._lib.features`) is added when the ``fid-inception`` weights are in the weights
cache (``usbench weights fetch fid-inception``); without them only the pixel space is
used, ``details["feature_space_note"]`` says why, and the ``spaces`` entry of
:meth:`Memorization.variant` records it, so the two kinds of score never mix.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
import torch
import torch.nn.functional as F

from usbench.data import resident_pages
from usbench.metrics._lib.nearest import nearest_rows
from usbench.metrics._lib.rows import BLOCK_BYTES
from usbench.protocols import EvalInputs, Metric, MetricKind, MetricResult, MetricUnavailable


class FeatureExtractor(Protocol):
    """Maps images ``N×1×H×W`` float32 in [0,1] to features ``N×D`` (float, numpy)."""

    name: str

    def variant(self) -> dict[str, Any]:
        """JSON-able identity of the extractor (network, layer, resize, weights hash)."""
        ...

    def __call__(self, images: torch.Tensor) -> np.ndarray:
        """Features of ``images``."""
        ...


@dataclass(frozen=True)
class NearestNeighbours:
    """Nearest training image of every query image in one space.

    distance: ``N`` float64, the distance to the nearest training image.
    index: ``N`` int64, row of that training image.
    shift: ``N×2`` int64 ``(dy, dx)`` of the best alignment (zeros in feature spaces).
    """

    distance: np.ndarray
    index: np.ndarray
    shift: np.ndarray


def pixel_grid(images: torch.Tensor, size: int) -> torch.Tensor:
    """Area-downsample ``N×1×H×W`` images to ``N×size×size`` float32 (no upsampling).

    Images already at most ``size`` pixels are returned as the view ``images[:, 0]`` (the
    pooling would be the identity), so a memory-mapped set is not copied; others are pooled
    in batches that release the pages they read (:mod:`usbench.data.resident_pages`).
    """
    height, width = images.shape[-2:]
    target = (min(size, height), min(size, width))
    if target == (height, width):
        return images[:, 0]
    parts = [
        F.adaptive_avg_pool2d(b.float(), target)[:, 0] for b in resident_pages.batches(images, 256)
    ]
    return torch.cat(parts) if parts else images.new_zeros((0, *target))


def shifted_nearest(
    queries: torch.Tensor,
    references: torch.Tensor,
    max_shift: int,
    *,
    block_entries: int = 1 << 22,
    block_bytes: int = BLOCK_BYTES,
) -> NearestNeighbours:
    """Nearest reference of each query by RMSE, minimised over integer translations.

    ``queries`` ``N×h×w`` and ``references`` ``M×h×w`` (same ``h, w``). The query's centre
    crop (``max_shift`` pixels trimmed on every side) is compared with every reference
    crop displaced by ``(dy, dx)`` in ``[-max_shift, max_shift]²``; the smallest RMSE wins,
    ties going to the earlier shift (``dy`` then ``dx`` ascending), then to the lower
    reference index — whatever the blocks.

    Memory stays flat as N and M grow: queries and references are read in row blocks whose
    float64 crops hold at most ``block_bytes``, with at most ``block_entries`` distances
    per query block × reference block; each block's pages are released after use, so
    memory-mapped sets stay mapped, not resident.
    """
    n, h, w = queries.shape
    s = max_shift
    if h <= 2 * s or w <= 2 * s:
        raise ValueError(f"max_shift={s} is too large for {h}×{w} images; use a smaller one")
    crop_bytes = 8 * (h - 2 * s) * (w - 2 * s)
    ref_rows = max(1, min(len(references), block_bytes // crop_bytes))
    query_rows = max(1, min(block_bytes // crop_bytes, block_entries // ref_rows))
    parts = []
    for start in range(0, n, query_rows):
        block = queries[start : start + query_rows]
        parts.append(_shifted_nearest_block(block, references, s, ref_rows))
        resident_pages.release(block)
    if not parts:
        return _shifted_nearest_block(queries, references, s, ref_rows)
    return NearestNeighbours(*(np.concatenate(p) for p in zip(*map(astuple, parts), strict=True)))


def _shifted_nearest_block(
    queries: torch.Tensor, references: torch.Tensor, s: int, ref_rows: int
) -> NearestNeighbours:
    n, h, w = queries.shape
    q = queries[:, s : h - s, s : w - s].reshape(n, -1).double()
    q_sq = (q * q).sum(1, keepdim=True)
    best = torch.full((n,), float("inf"), dtype=torch.float64)
    best_idx = torch.zeros(n, dtype=torch.int64)
    best_rank = torch.full((n,), len(_shifts(s)), dtype=torch.int64)
    for start in range(0, len(references), ref_rows):
        block = references[start : start + ref_rows]
        for rank, (dy, dx) in enumerate(_shifts(s)):
            r = block[:, s + dy : h - s + dy, s + dx : w - s + dx]
            r = r.reshape(r.shape[0], -1).double()
            d2 = (q_sq + (r * r).sum(1)[None, :] - 2.0 * q @ r.T).clamp_min(0.0)
            dmin, imin = d2.min(dim=1)  # the first (lowest) index among equal minima
            better = (dmin < best) | ((dmin == best) & (rank < best_rank))
            best = torch.where(better, dmin, best)
            best_idx = torch.where(better, imin + start, best_idx)
            best_rank = torch.where(better, rank, best_rank)
        resident_pages.release(block)
    shifts = torch.tensor([*_shifts(s), (0, 0)], dtype=torch.int64)  # last: no reference
    best_shift = shifts[best_rank]
    rmse = torch.sqrt(best / q.shape[1])
    return NearestNeighbours(rmse.numpy(), best_idx.numpy(), best_shift.numpy())


def _shifts(s: int) -> list[tuple[int, int]]:
    """The translations searched, in their tie-breaking order."""
    return [(dy, dx) for dy in range(-s, s + 1) for dx in range(-s, s + 1)]


def feature_nearest(queries: np.ndarray, references: np.ndarray) -> NearestNeighbours:
    """Nearest reference of each query by Euclidean distance between feature rows
    (searched in blocks, :func:`usbench.metrics._lib.nearest.nearest_rows`)."""
    distance, index = nearest_rows(queries, references)
    return NearestNeighbours(distance, index, np.zeros((len(distance), 2), np.int64))


class InceptionPool3:
    """FID Inception pool3 features (2048-d, pytorch-fid preprocessing) as a feature space.

    ``network`` injects an Inception body (tests use seeded random weights); by default
    the verified ``fid-inception`` weights are loaded from the weights cache on first use.
    """

    name = "inception-pool3"

    def __init__(self, *, network: torch.nn.Module | None = None, batch_size: int = 16) -> None:
        self._network = network
        self._features = None
        self.batch_size = batch_size

    def variant(self) -> dict[str, Any]:
        """Extractor, layer, preprocessing and weights identity."""
        from usbench import weights
        from usbench.metrics._lib import features

        sha = "injected" if self._network is not None else weights.verify("fid-inception").sha256
        return {
            "extractor": "fid-inception",
            "layer": "pool3",
            "preprocessing": features.PREPROCESSING["pytorch-fid"],
            "weights_sha256": sha,
        }

    def __call__(self, images: torch.Tensor) -> np.ndarray:
        """``N×2048`` float64 features of ``N×1×H×W`` images in [0, 1]: FID's entry in the
        features cache (one pass per image shared with the set metrics; memory-mapped)."""
        from usbench.metrics.inception import FID

        if self._features is None:
            config = FID.Config(batch_size=self.batch_size)
            self._features = FID(config, network=self._network)
        return self._features.image_features(images, on_disk=True)["pool3"]


def load_inception_extractor() -> tuple[FeatureExtractor | None, str]:
    """:class:`InceptionPool3` when its weights are in the cache, else ``(None, why not)``.

    Nothing is downloaded here: the pixel space is always available, so missing weights
    narrow the metric to pixels (its variant says so) instead of failing it.
    """
    try:
        from usbench import weights
    except ImportError:
        return None, "usbench.weights is not installed"
    status = weights.verify("fid-inception")
    if not status.state.startswith("ok"):
        return None, f"fid-inception weights are {status.state}; to add them: {status.fix}"
    return InceptionPool3(), ""


@dataclass(frozen=True)
class MemorizationConfig:
    """Settings of ``memorization``.

    pixel_size: images are area-downsampled to at most this square size [>= 4].
    max_shift: translation tolerance, in those pixels [>= 0].
    threshold_quantile: quantile of the held-out nearest distances used as the threshold
        (0 = their minimum); in [0, 1).
    n_worst: closest generated/training pairs kept for the figure [>= 0].
    """

    pixel_size: int = 64
    max_shift: int = 4
    threshold_quantile: float = 0.0
    n_worst: int = 8
    not_identity: ClassVar[tuple[str, ...]] = ("n_worst",)

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold_quantile < 1.0:
            raise ValueError(
                f"threshold_quantile must lie in [0, 1), got {self.threshold_quantile}"
            )


class Memorization(Metric):
    """Fraction of generated images nearer to a training image than held-out images get.

    Value in [0, 1], lower is better; an independent generator scores about
    ``1/(n_heldout+1)`` with the default minimum threshold. ``per_sample`` holds 1.0 for a
    flagged near-copy and 0.0 otherwise. ``details`` holds, per space, the threshold, the
    generated and held-out nearest distances and the nearest training names, plus the
    ``worst_pairs`` (closest generated/training pairs) that :meth:`Memorization.figure` draws.

    Settings: :class:`MemorizationConfig`. ``extractors`` (feature spaces besides pixels;
    ``None`` = the Inception hook when available) is injected by tests.
    """

    name: ClassVar[str] = "memorization"
    version: ClassVar[str] = "1"
    kind: ClassVar[MetricKind] = MetricKind.SET_VS_SET
    higher_is_better: ClassVar[bool] = False
    value_range: ClassVar[tuple[float | None, float | None]] = (0.0, 1.0)

    Config: ClassVar[type] = MemorizationConfig

    def __init__(
        self,
        config: MemorizationConfig | None = None,
        *,
        extractors: tuple[FeatureExtractor, ...] | None = None,
    ) -> None:
        super().__init__(config)
        cfg = self.config
        self.pixel_size, self.max_shift, self.n_worst = cfg.pixel_size, cfg.max_shift, cfg.n_worst
        self.threshold_quantile = cfg.threshold_quantile
        self._extractors = extractors
        self._unavailable = ""

    def feature_extractors(self) -> tuple[FeatureExtractor, ...]:
        """The feature spaces used besides pixels (resolved once)."""
        if self._extractors is None:
            extractor, self._unavailable = load_inception_extractor()
            self._extractors = (extractor,) if extractor is not None else ()
        return self._extractors

    def variant(self) -> dict[str, Any]:
        """Pixel recipe, threshold rule and each feature extractor's identity."""
        return {
            "pixel": {"size": self.pixel_size, "max_shift": self.max_shift, "distance": "rmse"},
            "threshold_quantile": self.threshold_quantile,
            "spaces": ["pixel"] + [e.name for e in self.feature_extractors()],
            "extractors": {e.name: e.variant() for e in self.feature_extractors()},
        }

    def figure(self, result: MetricResult, inputs: EvalInputs, path: Path) -> Path:
        """Top row: up to 6 closest (generated, nearest training) pairs; bottom: histograms
        of nearest-training distances, generated vs held-out, with the near-copy threshold."""
        return memorization_figure(result, inputs, path)

    def compute(self, inputs: EvalInputs) -> MetricResult:
        """Flag near-copies in every space; a sample flagged in any space counts."""
        if inputs.heldout is None or len(inputs.heldout) == 0:
            raise MetricUnavailable(
                "memorization compares with held-out real images, but none were given.",
                "run on a dataset with a test split (the harness passes it as heldout).",
            )
        spaces = {"pixel": self._pixel_space(inputs)}
        for extractor in self.feature_extractors():
            spaces[extractor.name] = self._feature_space(extractor, inputs)
        flags = np.zeros(len(inputs.generated), dtype=bool)
        details: dict[str, Any] = {"spaces": {}, "feature_space_note": self._unavailable}
        for space, (gen, held) in spaces.items():
            summary, flagged = self._summarise(gen, held, inputs)
            flags |= flagged
            details["spaces"][space] = summary
        details["worst_pairs"] = self._worst_pairs(spaces["pixel"][0], inputs)
        per_sample = flags.astype(np.float64)
        return MetricResult.of_samples(per_sample, seed=inputs.seed, details=details)

    def _pixel_space(self, inputs: EvalInputs) -> tuple[NearestNeighbours, NearestNeighbours]:
        train = pixel_grid(inputs.train.images, self.pixel_size)
        gen = pixel_grid(inputs.generated.images, self.pixel_size)
        held = pixel_grid(inputs.heldout.images, self.pixel_size)
        if gen.shape[1:] != train.shape[1:] or held.shape[1:] != train.shape[1:]:
            raise ValueError(
                f"generated {tuple(gen.shape[1:])}, train {tuple(train.shape[1:])} and "
                f"held-out {tuple(held.shape[1:])} images differ in size after resizing; "
                "sample at the training image size"
            )
        return (
            shifted_nearest(gen, train, self.max_shift),
            shifted_nearest(held, train, self.max_shift),
        )

    def _feature_space(
        self, extractor: FeatureExtractor, inputs: EvalInputs
    ) -> tuple[NearestNeighbours, NearestNeighbours]:
        train = extractor(inputs.train.images)
        return (
            feature_nearest(extractor(inputs.generated.images), train),
            feature_nearest(extractor(inputs.heldout.images), train),
        )

    def _summarise(
        self, gen: NearestNeighbours, held: NearestNeighbours, inputs: EvalInputs
    ) -> tuple[dict[str, Any], np.ndarray]:
        threshold = float(np.quantile(held.distance, self.threshold_quantile))
        flagged = gen.distance < threshold
        summary = {
            "threshold": threshold,
            "fraction_flagged": float(flagged.mean()),
            "median_ratio": float(np.median(gen.distance) / max(np.median(held.distance), 1e-12)),
            "generated_nn": gen.distance.tolist(),
            "heldout_nn": held.distance.tolist(),
            "nearest_train": [inputs.train.names[i] for i in gen.index],
        }
        return summary, flagged

    def _worst_pairs(self, gen: NearestNeighbours, inputs: EvalInputs) -> list[dict[str, Any]]:
        order = np.argsort(gen.distance, kind="stable")[: self.n_worst]
        return [
            {
                "generated": int(i),
                "train": inputs.train.names[int(gen.index[i])],
                "distance": float(gen.distance[i]),
                "shift": [int(v) for v in gen.shift[i]],
            }
            for i in order
        ]


def memorization_figure(result: MetricResult, inputs: EvalInputs, path: str | Path) -> Path:
    """Top row: up to 6 closest (generated, nearest training) pairs; bottom: histograms."""
    from usbench.metrics._lib.figures import new_figure, save_figure, show_gray

    pairs = result.details["worst_pairs"][:6]
    fig = new_figure(2.0 * max(len(pairs), 3), 6.0)
    grid = fig.add_gridspec(3, max(len(pairs), 3))
    for col, pair in enumerate(pairs):
        gen = inputs.generated.images[pair["generated"], 0].numpy()
        train = inputs.train.images[inputs.train.index_of(pair["train"]), 0].numpy()
        for row, (image, label) in enumerate(
            ((gen, f"gen {pair['generated']}"), (train, pair["train"]))
        ):
            title = label if row else f"{label}\nd={pair['distance']:.3f}"
            show_gray(fig.add_subplot(grid[row, col]), image, title, fontsize=7)
    ax = fig.add_subplot(grid[2, :])
    pixel = result.details["spaces"]["pixel"]
    ax.hist(pixel["heldout_nn"], bins=20, alpha=0.6, label="held-out real → train")
    ax.hist(pixel["generated_nn"], bins=20, alpha=0.6, label="generated → train")
    ax.axvline(pixel["threshold"], color="k", linestyle="--", label="near-copy threshold")
    ax.set_xlabel("nearest-training RMSE (pixel space, shift-tolerant)")
    ax.legend(fontsize=7)
    return save_figure(fig, path)
