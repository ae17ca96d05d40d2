"""Depth-attenuation profile: mean grey level as a function of depth, real vs generated.

Sound loses energy with depth (≈0.5 dB/cm/MHz in soft tissue), and the scanner's time-gain
compensation only partly undoes it, so every ultrasound set has a characteristic decay of
brightness with depth. A generator that ignores it paints images too bright or too dark
at depth. Depth is the row for linear geometry and the distance from the fan apex inside
the fan for convex geometry (see :mod:`usbench.metrics._lib.fan_geometry`); the geometry is
estimated once from the real training images and applied to both sets. The profile is
the mean grey level of the imaged pixels in each of ``n_bins`` equal depth bins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch

from usbench.metrics._lib.fan_geometry import FanGeometry, best_geometry, estimate_geometries
from usbench.metrics._lib.set_bootstrap import set_distance_result
from usbench.protocols import EvalInputs, Metric, MetricKind, MetricResult


def depth_profiles(
    images: torch.Tensor, geometries: Sequence[FanGeometry], n_bins: int
) -> np.ndarray:
    """Mean grey level per depth bin, ``N×n_bins`` float64, for ``N×1×H×W`` images;
    image ``i`` is read on ``geometries[i]``. Bins with no imaged pixel hold NaN."""
    out = np.full((len(images), n_bins), np.nan)
    pixels = images[:, 0].double().numpy()
    for geometry in {id(g): g for g in geometries}.values():
        rows = [i for i, g in enumerate(geometries) if g is geometry]
        depth = geometry.depth_map()
        inside = ~np.isnan(depth)
        bins = np.minimum((depth[inside] * n_bins).astype(np.int64), n_bins - 1)
        counts = np.bincount(bins, minlength=n_bins).astype(np.float64)
        sums = np.stack(
            [np.bincount(bins, weights=pixels[i][inside], minlength=n_bins) for i in rows]
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            out[rows] = sums / counts[None, :]
    return out


def profile_distance(real: np.ndarray, generated: np.ndarray) -> float:
    """Mean absolute difference between the mean profiles (``N×B`` arrays), grey levels."""
    gap = np.abs(imaged_mean(real, 0) - imaged_mean(generated, 0))
    return float(imaged_mean(gap[None, :], 1)[0])


def imaged_mean(values: np.ndarray, axis: int) -> np.ndarray:
    """``np.nanmean`` without its warning: NaN (bins no image reaches) where all are NaN."""
    count = np.sum(~np.isnan(values), axis=axis)
    total = np.nansum(values, axis=axis)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def imaged_std(values: np.ndarray, axis: int) -> np.ndarray:
    """``np.nanstd`` (ddof 0) without its warning, NaN where all values are NaN."""
    centred = values - np.expand_dims(imaged_mean(values, axis), axis)
    return np.sqrt(imaged_mean(centred**2, axis))


@dataclass(frozen=True)
class DepthProfileConfig:
    """Settings of ``depth_profile``.

    n_bins: depth bins of the profile [>= 1].
    geometry: auto (decided from the edge slopes of the content region, see
        :func:`usbench.metrics._lib.fan_geometry.estimate_geometry`), linear or convex.
    """

    n_bins: int = 32
    geometry: Literal["auto", "linear", "convex"] = "auto"


class DepthProfile(Metric):
    """Mean absolute gap between real and generated mean depth profiles.

    Value in [0, 1] grey levels, lower is better. ``per_sample`` is each generated
    image's mean absolute gap to the real mean profile. ``details`` holds the geometry
    (kind, apex, radii), both mean profiles and their per-bin standard deviations, for
    the overlay figure (:func:`depth_profile_figure`).

    Settings: :class:`DepthProfileConfig`.
    """

    name: ClassVar[str] = "depth_profile"
    version: ClassVar[str] = "1"
    kind: ClassVar[MetricKind] = MetricKind.SET_VS_SET
    higher_is_better: ClassVar[bool] = False
    value_range: ClassVar[tuple[float | None, float | None]] = (0.0, 1.0)

    Config: ClassVar[type] = DepthProfileConfig

    def __init__(self, config: DepthProfileConfig | None = None) -> None:
        super().__init__(config)
        self.n_bins, self.geometry = self.config.n_bins, self.config.geometry

    def variant(self) -> dict[str, Any]:
        """Bins, geometry rule and distance."""
        return {"n_bins": self.n_bins, "geometry": self.geometry, "distance": "mean_abs"}

    def figure(self, result: MetricResult, inputs: EvalInputs, path: Path) -> Path:
        """Mean grey level vs depth, real and generated, with ±1 std bands."""
        return depth_profile_figure(result, path)

    def compute(self, inputs: EvalInputs) -> MetricResult:
        """Profiles of ``inputs.train`` and the samples on the real images' geometry.

        One geometry is estimated per probe of the training set; each generated image
        is read on the geometry whose imaged region it fills best."""
        if inputs.generated.images.shape[-2:] != inputs.train.images.shape[-2:]:
            raise ValueError(
                "depth_profile needs generated images of the training size "
                f"{tuple(inputs.train.images.shape[-2:])}, got "
                f"{tuple(inputs.generated.images.shape[-2:])}; sample at the training size"
            )
        probes = self._probes(inputs)
        geometries = estimate_geometries(inputs.train.images[:, 0].numpy(), probes)
        gen_np = inputs.generated.images[:, 0].numpy()
        real = depth_profiles(inputs.train.images, [geometries[p] for p in probes], self.n_bins)
        gen_geo = [best_geometry(img, geometries) for img in gen_np]
        gen = depth_profiles(inputs.generated.images, gen_geo, self.n_bins)
        per_sample = imaged_mean(np.abs(gen - imaged_mean(real, 0)[None, :]), 1)
        details = _details(geometries, real, gen)
        return set_distance_result(
            real, gen, profile_distance, per_sample, seed=inputs.seed, details=details
        )

    def _probes(self, inputs: EvalInputs) -> list[str]:
        """Probe name per training image: the configured geometry, else the dataset's."""
        if self.geometry != "auto":
            return [self.geometry] * len(inputs.train)
        return list(inputs.train.probes)


def _details(
    geometries: dict[str, FanGeometry], real: np.ndarray, gen: np.ndarray
) -> dict[str, Any]:
    def clean(values: np.ndarray) -> list[float | None]:
        return [None if np.isnan(v) else float(v) for v in values]

    return {
        "geometry": {
            probe or "unknown": {
                "kind": g.kind,
                "apex": list(g.apex),
                "r_min": g.r_min,
                "r_max": g.r_max,
            }
            for probe, g in geometries.items()
        },
        "real_profile": clean(imaged_mean(real, 0)),
        "real_profile_std": clean(imaged_std(real, 0)),
        "generated_profile": clean(imaged_mean(gen, 0)),
        "generated_profile_std": clean(imaged_std(gen, 0)),
    }


def depth_profile_figure(result: MetricResult, path: str | Path) -> Path:
    """Mean grey level vs depth, real and generated, with ±1 std bands."""
    from usbench.metrics._lib.figures import new_figure, save_figure

    fig = new_figure(5.0, 3.5)
    ax = fig.add_subplot()
    for key, label in (("real", "real"), ("generated", "generated")):
        mean = np.array(result.details[f"{key}_profile"], dtype=np.float64)
        std = np.array(result.details[f"{key}_profile_std"], dtype=np.float64)
        depth = (np.arange(mean.size) + 0.5) / mean.size
        ax.plot(depth, mean, label=label)
        ax.fill_between(depth, mean - std, mean + std, alpha=0.2)
    kinds = sorted({g["kind"] for g in result.details["geometry"].values()})
    ax.set_xlabel(f"depth (fraction of imaged depth, {'+'.join(kinds)} geometry)")
    ax.set_ylabel("mean grey level")
    ax.set_title(f"depth profile gap = {result.value:.4f}", fontsize=9)
    ax.legend()
    return save_figure(fig, path)
