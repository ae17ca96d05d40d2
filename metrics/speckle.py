"""Speckle statistics in homogeneous patches: speckle SNR and Nakagami m, real vs generated.

In fully developed speckle the envelope ``A`` is Rayleigh distributed: speckle SNR
``mean(A)/std(A) = 1.913`` and Nakagami ``m = E[A²]² / Var(A²) = 1``. Fewer, stronger
scatterers push ``m`` below 1 (pre-Rayleigh); coherent structure or smoothing pushes the
SNR up. A generator that blurs speckle or paints texture with the wrong statistics moves
these numbers away from the real images' values.

Patches: non-overlapping ``patch×patch`` squares whose mean grey level is above
``min_mean`` (inside the fan, not anechoic), with under 1 % saturated pixels, and whose
four quadrant means vary by less than ``max_quadrant_cv`` (relative std), so that the
echogenicity is roughly constant, and whose grey levels are not all equal: a constant
patch (a flat overlay, padding, a filled region) carries no speckle, and its SNR and
``m`` would be infinite (version 1 kept such patches; one of them in a real frame made
the whole set distance meaningless). Grey levels are taken as the envelope (``envelope =
"linear"``) or first decompressed from a log scale with ``dynamic_range_db`` (``"log"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from scipy.stats import wasserstein_distance

from usbench.metrics._lib.set_bootstrap import set_distance_result
from usbench.metrics._lib.synthetic_speckle import RAYLEIGH_SNR
from usbench.protocols import EvalInputs, Metric, MetricKind, MetricResult, MetricUnavailable

MAX_STORED_PATCHES = 2000  # patch values kept in ``details`` for the histogram figure


@dataclass(frozen=True)
class PatchStatistics:
    """Statistics of the homogeneous patches of a set of images.

    snr, nakagami_m, mean: one float64 per patch; image: ``int`` index of the image each
    patch came from.
    """

    snr: np.ndarray
    nakagami_m: np.ndarray
    mean: np.ndarray
    image: np.ndarray

    def per_image(self, values: np.ndarray, n_images: int) -> list[np.ndarray]:
        """``values`` (one per patch) grouped by image, in image order."""
        return [values[self.image == i] for i in range(n_images)]


def to_envelope(
    images: torch.Tensor, mode: Literal["linear", "log"], dynamic_range_db: float
) -> np.ndarray:
    """Grey levels ``N×1×H×W`` in [0,1] → envelope amplitude ``N×H×W`` float64.

    ``log`` inverts ``g = 1 + 20 log10(A)/DR``: ``A = 10^((g-1)·DR/20)``; black pixels
    (``g = 0``) become ``10^(-DR/20)``.
    """
    grey = images[:, 0].double().numpy()
    if mode == "linear":
        return grey
    return np.power(10.0, (grey - 1.0) * dynamic_range_db / 20.0)


def patch_statistics(
    grey: np.ndarray,
    envelope: np.ndarray,
    *,
    patch: int,
    min_mean: float,
    max_quadrant_cv: float,
) -> PatchStatistics:
    """Speckle SNR and Nakagami m of every homogeneous patch of ``N×H×W`` images.

    ``grey`` (display levels in [0,1]) selects patches (brightness, saturation);
    ``envelope`` (same shape) provides the statistics.
    """
    n, h, w = envelope.shape
    rows, cols = h // patch, w // patch
    tiles = envelope[:, : rows * patch, : cols * patch].reshape(n, rows, patch, cols, patch)
    tiles = tiles.transpose(0, 1, 3, 2, 4).reshape(n * rows * cols, patch, patch)
    grey_tiles = grey[:, : rows * patch, : cols * patch].reshape(n, rows, patch, cols, patch)
    grey_tiles = grey_tiles.transpose(0, 1, 3, 2, 4).reshape(n * rows * cols, patch, patch)
    keep = (grey_tiles.mean(axis=(1, 2)) > min_mean) & ((grey_tiles >= 0.999).mean((1, 2)) < 0.01)
    keep &= quadrant_cv(tiles) < max_quadrant_cv
    keep &= grey_tiles.max(axis=(1, 2)) > grey_tiles.min(axis=(1, 2))  # not constant
    flat = tiles[keep].reshape(int(keep.sum()), patch * patch)
    mean, std = flat.mean(axis=1), flat.std(axis=1)
    power = flat**2
    m = power.mean(axis=1) ** 2 / np.maximum(power.var(axis=1), 1e-30)
    image = np.repeat(np.arange(n), rows * cols)[keep]
    return PatchStatistics(mean / np.maximum(std, 1e-30), m, mean, image)


def quadrant_cv(tiles: np.ndarray) -> np.ndarray:
    """Relative std of the four quadrant means of each ``K×p×p`` tile (``K`` float64)."""
    half = tiles.shape[1] // 2
    quads = np.stack(
        [
            tiles[:, :half, :half].mean((1, 2)),
            tiles[:, :half, half:].mean((1, 2)),
            tiles[:, half:, :half].mean((1, 2)),
            tiles[:, half:, half:].mean((1, 2)),
        ],
        axis=1,
    )
    return quads.std(axis=1) / np.maximum(quads.mean(axis=1), 1e-30)


def _pooled_distance(real: np.ndarray, generated: np.ndarray) -> float:
    """Wasserstein-1 distance between the pooled patch values of two lists of images."""
    return float(wasserstein_distance(np.concatenate(list(real)), np.concatenate(list(generated))))


def _object_array(groups: list[np.ndarray]) -> np.ndarray:
    out = np.empty(len(groups), dtype=object)
    out[:] = groups
    return out


@dataclass(frozen=True)
class SpeckleConfig:
    """Settings of ``speckle``.

    patch: side of the square patches, even and at least 4 px [>= 4].
    min_mean: a patch counts when its mean grey level exceeds this [0, 1].
    max_quadrant_cv: ... and its four quadrant means agree within this fraction [>= 0].
    envelope: linear (the image is the envelope) or log (undo a log compression first).
    dynamic_range_db: the log compression's dynamic range (only with envelope=log) [> 0].
    """

    patch: int = 16
    min_mean: float = 0.05
    max_quadrant_cv: float = 0.25
    envelope: Literal["linear", "log"] = "linear"
    dynamic_range_db: float = 50.0

    def __post_init__(self) -> None:
        if self.patch < 4 or self.patch % 2:
            raise ValueError(f"patch must be an even size ≥ 4 pixels, got {self.patch}")


class SpeckleStatistics(Metric):
    """Wasserstein-1 distance between real and generated speckle-SNR distributions.

    Value ≥ 0, lower is better (same SNR statistics as the real images). ``per_sample``
    is the median patch SNR of each generated image that has homogeneous patches (``n``
    counts those images). ``details`` holds medians of SNR and Nakagami ``m`` for both
    sets, the W1 distance between ``m`` distributions, patch counts and the patch values
    themselves (``real_snr``, ``generated_snr``, ``real_m``, ``generated_m``; a seeded
    subsample of at most ``MAX_STORED_PATCHES``) for the histogram figure
    (:func:`speckle_figure`).
    """

    name: ClassVar[str] = "speckle"
    version: ClassVar[str] = "2"
    kind: ClassVar[MetricKind] = MetricKind.SET_VS_SET
    higher_is_better: ClassVar[bool] = False
    value_range: ClassVar[tuple[float | None, float | None]] = (0.0, None)
    Config: ClassVar[type] = SpeckleConfig

    def __init__(self, config: SpeckleConfig | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        self.patch, self.min_mean, self.envelope = cfg.patch, cfg.min_mean, cfg.envelope
        self.max_quadrant_cv, self.dynamic_range_db = cfg.max_quadrant_cv, cfg.dynamic_range_db

    def variant(self) -> dict[str, Any]:
        """Patch rule and envelope model."""
        out: dict[str, Any] = {
            "patch": self.patch,
            "min_mean": self.min_mean,
            "max_quadrant_cv": self.max_quadrant_cv,
            "envelope": self.envelope,
            "distance": "wasserstein1(snr)",
        }
        if self.envelope == "log":
            out["dynamic_range_db"] = self.dynamic_range_db
        return out

    def statistics(self, images: torch.Tensor) -> PatchStatistics:
        """Patch statistics of ``N×1×H×W`` images under this metric's settings."""
        envelope = to_envelope(images, self.envelope, self.dynamic_range_db)
        return patch_statistics(
            images[:, 0].double().numpy(),
            envelope,
            patch=self.patch,
            min_mean=self.min_mean,
            max_quadrant_cv=self.max_quadrant_cv,
        )

    def figure(self, result: MetricResult, inputs: EvalInputs, path: Path) -> Path:
        """Histograms of patch speckle SNR and Nakagami m, real vs generated."""
        return speckle_figure(result, path)

    def compute(self, inputs: EvalInputs) -> MetricResult:
        """Compare the patch SNR distributions of ``inputs.train`` and the samples."""
        real = self.statistics(inputs.train.images)
        gen = self.statistics(inputs.generated.images)
        if real.snr.size == 0 or gen.snr.size == 0:
            which = "real" if real.snr.size == 0 else "generated"
            raise MetricUnavailable(
                f"no homogeneous {self.patch}×{self.patch} speckle patch (mean grey level > "
                f"{self.min_mean}, quadrant means within {self.max_quadrant_cv:.0%}) in the "
                f"{which} images.",
                "load the data with a larger --image-size (≥ 64 px), or, for generated images "
                "of pure noise, train longer (a larger preset); from Python, "
                "SpeckleStatistics(patch=8) accepts smaller images.",
            )
        gen_groups = gen.per_image(gen.snr, len(inputs.generated))
        real_groups = real.per_image(real.snr, len(inputs.train))
        per_sample = np.array([np.median(g) for g in gen_groups if g.size])
        value = float(wasserstein_distance(real.snr, gen.snr))
        return set_distance_result(
            _object_array([g for g in real_groups if g.size]),
            _object_array([g for g in gen_groups if g.size]),
            _pooled_distance,
            per_sample,
            seed=inputs.seed,
            details=self._details(real, gen),
            value=value,
        )

    @staticmethod
    def _details(real: PatchStatistics, gen: PatchStatistics) -> dict[str, Any]:
        def sample(values: np.ndarray) -> list[float]:  # keeps stored details small
            if values.size <= MAX_STORED_PATCHES:
                return values.tolist()
            keep = np.random.default_rng(0).choice(values.size, MAX_STORED_PATCHES, replace=False)
            return values[np.sort(keep)].tolist()

        return {
            "rayleigh_snr": RAYLEIGH_SNR,
            "real_median_snr": float(np.median(real.snr)),
            "generated_median_snr": float(np.median(gen.snr)),
            "real_median_m": float(np.median(real.nakagami_m)),
            "generated_median_m": float(np.median(gen.nakagami_m)),
            "nakagami_m_w1": float(wasserstein_distance(real.nakagami_m, gen.nakagami_m)),
            "real_patches": int(real.snr.size),
            "generated_patches": int(gen.snr.size),
            "real_snr": sample(real.snr),
            "generated_snr": sample(gen.snr),
            "real_m": sample(real.nakagami_m),
            "generated_m": sample(gen.nakagami_m),
        }


def speckle_figure(result: MetricResult, path: str | Path) -> Path:
    """Histograms of patch speckle SNR and Nakagami m, real vs generated."""
    from usbench.metrics._lib.figures import new_figure, save_figure

    fig = new_figure(8.0, 3.2)
    d = result.details
    panels = (("snr", "speckle SNR", d["rayleigh_snr"]), ("m", "Nakagami m", 1.0))
    for i, (key, label, theory) in enumerate(panels):
        ax = fig.add_subplot(1, 2, i + 1)
        ax.hist(d[f"real_{key}"], bins=30, alpha=0.6, density=True, label="real")
        ax.hist(d[f"generated_{key}"], bins=30, alpha=0.6, density=True, label="generated")
        ax.axvline(theory, color="k", linestyle="--", label="Rayleigh")
        ax.set_xlabel(label)
        ax.legend(fontsize=7)
    return save_figure(fig, path)
