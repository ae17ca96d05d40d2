"""B-line and pleural-line fidelity: do generated lung images keep what a clinician reads?

The detector of :mod:`usbench.metrics._lib.lines` counts B-lines and measures pleural continuity in
every real training image and every generated image (on the geometry estimated from the
real images). Scores:

- headline: Wasserstein-1 distance between the real and generated B-line count
  distributions (in B-lines; 0 = same distribution), lower is better;
- ``label_fidelity`` (conditional generators): fraction of generated images whose count
  lies within the 10–90 % range of the counts detected in real images of the class they
  were conditioned on;
- ``pleural_continuity_rate`` of both sets (fraction of images with a continuous pleura).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from scipy.stats import wasserstein_distance

from usbench.metrics._lib.fan_geometry import FanGeometry, best_geometry, estimate_geometries
from usbench.metrics._lib.lines import LineDetection, LineDetectorConfig, detect_lines
from usbench.metrics._lib.set_bootstrap import set_distance_result
from usbench.protocols import EvalInputs, Metric, MetricKind, MetricResult


def detect_all(
    images: torch.Tensor, geometries: Sequence[FanGeometry], config: LineDetectorConfig
) -> list[LineDetection]:
    """:func:`usbench.metrics._lib.lines.detect_lines` on each of ``N×1×H×W`` images, image ``i``
    read on ``geometries[i]``."""
    pixels = images[:, 0].double().numpy()
    return [detect_lines(img, geo, config) for img, geo in zip(pixels, geometries, strict=True)]


def geometries_for(inputs: EvalInputs) -> tuple[list[FanGeometry], list[FanGeometry]]:
    """Geometry of every training image (one per probe) and of every generated image
    (the training geometry whose imaged region it fills best)."""
    probes = list(inputs.train.probes)
    geometries = estimate_geometries(inputs.train.images[:, 0].numpy(), probes)
    real = [geometries[p] for p in probes]
    gen = [best_geometry(img, geometries) for img in inputs.generated.images[:, 0].numpy()]
    return real, gen


def count_distance(real: np.ndarray, generated: np.ndarray) -> float:
    """Wasserstein-1 distance between two 1-D arrays of B-line counts."""
    return float(wasserstein_distance(real, generated))


def label_fidelity(
    real_counts: np.ndarray,
    real_labels: np.ndarray,
    gen_counts: np.ndarray,
    gen_labels: np.ndarray,
) -> tuple[float, dict[str, list[float]]]:
    """Fraction of generated counts inside the 10–90 % range of real counts of their class.

    Returns the fraction (NaN when no generated label has real images) and, per class
    index (as a string), the ``[low, high]`` range used.
    """
    ranges: dict[str, list[float]] = {}
    hits = []
    for label in np.unique(gen_labels):
        reference = real_counts[real_labels == label]
        if reference.size == 0:
            continue
        low, high = np.quantile(reference, [0.1, 0.9])
        ranges[str(int(label))] = [float(low), float(high)]
        counts = gen_counts[gen_labels == label]
        hits.extend(((counts >= np.floor(low)) & (counts <= np.ceil(high))).tolist())
    return (float(np.mean(hits)) if hits else float("nan")), ranges


@dataclass(frozen=True)
class BLineConfig:
    """Settings of ``bline``.

    detector: the line detector's thresholds (``detector.bline_contrast=0.5``, ...; see
        :class:`usbench.metrics._lib.lines.LineDetectorConfig`).
    n_figure: detections kept for the figure (does not change the value) [>= 0].
    """

    detector: LineDetectorConfig = LineDetectorConfig()
    n_figure: int = 8
    not_identity: ClassVar[tuple[str, ...]] = ("n_figure",)


class BLineFidelity(Metric):
    """B-line count distribution distance plus label fidelity and pleural continuity.

    Value ≥ 0 (B-lines), lower is better. ``per_sample`` holds the B-line count of every
    generated image. ``details``: ``label_fidelity`` (or ``None`` for unconditional
    samples), per-class count ranges, ``pleural_continuity_rate`` for real and generated,
    count histograms, mean counts, and the first ``n_figure`` detections
    (``detections``: positions, pleura depth) for :func:`bline_figure`.
    """

    name: ClassVar[str] = "bline"
    version: ClassVar[str] = "1"
    kind: ClassVar[MetricKind] = MetricKind.SET_VS_SET
    higher_is_better: ClassVar[bool] = False
    value_range: ClassVar[tuple[float | None, float | None]] = (0.0, None)

    Config: ClassVar[type] = BLineConfig

    def __init__(self, config: BLineConfig | None = None) -> None:
        super().__init__(config)
        self.detector, self.n_figure = self.config.detector, self.config.n_figure

    def variant(self) -> dict[str, Any]:
        """Detector thresholds and the distance used."""
        return {"detector": asdict(self.detector), "distance": "wasserstein1(count)"}

    def figure(self, result: MetricResult, inputs: EvalInputs, path: Path) -> Path:
        """Generated images with the detected pleura (cyan) and B-lines (yellow) drawn."""
        return bline_figure(result, inputs, path)

    def compute(self, inputs: EvalInputs) -> MetricResult:
        """Detect lines in ``inputs.train`` and the samples and compare."""
        if inputs.generated.images.shape[-2:] != inputs.train.images.shape[-2:]:
            raise ValueError(
                "bline needs generated images of the training size "
                f"{tuple(inputs.train.images.shape[-2:])}; sample at that size"
            )
        real_geo, gen_geo = geometries_for(inputs)
        real = detect_all(inputs.train.images, real_geo, self.detector)
        gen = detect_all(inputs.generated.images, gen_geo, self.detector)
        real_counts = np.array([d.bline_count for d in real], dtype=np.float64)
        gen_counts = np.array([d.bline_count for d in gen], dtype=np.float64)
        details = self._details(inputs, real, gen, real_counts, gen_counts)
        return set_distance_result(
            real_counts, gen_counts, count_distance, gen_counts, seed=inputs.seed, details=details
        )

    def _details(
        self,
        inputs: EvalInputs,
        real: list[LineDetection],
        gen: list[LineDetection],
        real_counts: np.ndarray,
        gen_counts: np.ndarray,
    ) -> dict[str, Any]:
        fidelity, ranges = None, {}
        if inputs.generated.labels is not None:
            fidelity, ranges = label_fidelity(
                real_counts,
                inputs.train.labels.numpy(),
                gen_counts,
                inputs.generated.labels.numpy(),
            )
        top = int(max(real_counts.max(), gen_counts.max()))
        if fidelity is not None and np.isnan(fidelity):
            fidelity = None
        return {
            "label_fidelity": fidelity,
            "label_count_ranges": ranges,
            "pleural_continuity_rate": {
                "real": float(np.mean([d.pleura_continuous for d in real])),
                "generated": float(np.mean([d.pleura_continuous for d in gen])),
            },
            "mean_count": {
                "real": float(real_counts.mean()),
                "generated": float(gen_counts.mean()),
            },
            "count_histogram": {
                "real": np.bincount(real_counts.astype(int), minlength=top + 1).tolist(),
                "generated": np.bincount(gen_counts.astype(int), minlength=top + 1).tolist(),
            },
            "detections": [_detection_dict(d) for d in gen[: self.n_figure]],
        }


def _detection_dict(detection: LineDetection) -> dict[str, Any]:
    return {
        "bline_positions": list(detection.bline_positions),
        "pleura_depth": detection.pleura_depth,
        "pleura_coverage": detection.pleura_coverage,
        "pleura_continuous": detection.pleura_continuous,
    }


def bline_figure(result: MetricResult, inputs: EvalInputs, path: str | Path) -> Path:
    """Generated images with the detected pleura (cyan) and B-lines (yellow) drawn."""
    from usbench.metrics._lib.figures import new_figure, save_figure, show_gray

    geometries = geometries_for(inputs)[1]
    detections = result.details["detections"]
    fig = new_figure(2.2 * max(len(detections), 1), 2.6)
    for i, det in enumerate(detections):
        ax, geometry = fig.add_subplot(1, len(detections), i + 1), geometries[i]
        title = f"{len(det['bline_positions'])} B-lines"
        show_gray(ax, inputs.generated.images[i, 0].numpy(), title, fontsize=8)
        ys, xs = geometry.to_pixels(det["pleura_depth"], np.linspace(0, 1, 50))
        style = "-" if det["pleura_continuous"] else ":"
        ax.plot(xs, ys, style, color="cyan", linewidth=1)
        for pos in det["bline_positions"]:
            ys, xs = geometry.to_pixels(np.linspace(det["pleura_depth"], 1, 20), pos)
            ax.plot(xs, ys, color="yellow", linewidth=1)
    return save_figure(fig, path)
