"""B-line detector and metric on synthetic lung scenes with known B-line counts."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from scipy import ndimage

from bench.synthetic_lus import HALF_ANGLE, PLEURA, lus_scene
from usbench.data.imageset import ImageSet
from usbench.metrics._lib.fan_geometry import estimate_geometry
from usbench.metrics._lib.lines import LineDetectorConfig, detect_lines, pleural_coverage
from usbench.metrics.bline import BLineFidelity, label_fidelity
from usbench.protocols import EvalInputs
from usbench.samples import SampleBatch

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def scenes(n: int, seed: int, **kwargs) -> tuple[torch.Tensor, np.ndarray, list[list[float]]]:
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 5, n)
    made = [lus_scene(rng, int(c), **kwargs) for c in counts]
    images = torch.from_numpy(np.stack([m[0] for m in made])[:, None])
    return images, counts, [m[1] for m in made]


def as_imageset(images: torch.Tensor, counts: np.ndarray) -> ImageSet:
    n = len(images)
    labels = torch.as_tensor(np.minimum(counts, 3), dtype=torch.int64)  # 0,1,2,3+ B-lines
    return ImageSet(
        images=images,
        labels=labels,
        class_names=("0", "1", "2", "3+"),
        patient_ids=tuple(str(i) for i in range(n)),
        names=tuple(f"l/{i}" for i in range(n)),
        name="lus-synthetic",
        probes=("convex",) * n,
    )


def test_counts_positions_and_pleura_on_clean_scenes() -> None:
    images, counts, angles = scenes(30, seed=0)
    geometry = estimate_geometry(images[:, 0].numpy())
    detections = [detect_lines(img, geometry) for img in images[:, 0].numpy()]
    found = np.array([d.bline_count for d in detections])
    assert np.mean(found == counts) >= 0.85
    assert np.mean(np.abs(found - counts)) <= 0.2
    assert all(abs(d.pleura_depth - PLEURA) < 0.05 for d in detections)
    assert np.mean([d.pleura_continuous for d in detections]) >= 0.9
    # positions: fraction of the width ↔ angle across the fan
    for det, truth in zip(detections, angles, strict=True):
        if det.bline_count == len(truth):
            lateral = (np.array(truth) + HALF_ANGLE) / (2 * HALF_ANGLE)
            np.testing.assert_allclose(det.bline_positions, lateral, atol=0.04)


def test_pleural_gap_breaks_continuity() -> None:
    # scan-line domain: chest wall 0.3, pleura 0.8 at row 30, lung 0.1 below; a
    # consolidated stretch (lines 10-39) has no pleura and tissue-like lung
    scan = np.full((96, 96), 0.3)
    scan[30, :] = 0.8
    scan[31:, :] = 0.1
    intact = pleural_coverage(ndimage.gaussian_filter(scan, 1.0), 30, LineDetectorConfig())
    scan[30:, 10:40] = 0.3
    broken = pleural_coverage(ndimage.gaussian_filter(scan, 1.0), 30, LineDetectorConfig())
    assert intact == (1.0, True)
    # 66 of 96 lines keep the pleura; lateral smoothing (sigma 3) may lend it ~3 more a side
    assert 66 / 96 <= broken[0] <= 72 / 96
    assert broken[1] is False


def test_metric_separates_faithful_from_b_line_free_samples() -> None:
    images, counts, _ = scenes(24, seed=1)
    real = as_imageset(images, counts)
    same_images, same_counts, _ = scenes(16, seed=2)
    labels = torch.as_tensor(np.minimum(same_counts, 3))
    faithful = SampleBatch(same_images, labels=labels)
    rng = np.random.default_rng(3)
    no_blines = SampleBatch(
        torch.from_numpy(np.stack([lus_scene(rng, 0)[0] for _ in range(16)])[:, None]),
        labels=labels,
    )
    metric = BLineFidelity()
    good = metric.compute(EvalInputs(faithful, real, seed=0))
    bad = metric.compute(EvalInputs(no_blines, real, seed=0))
    assert good.value < 0.5
    assert bad.value > 1.0
    assert bad.value == pytest.approx(bad.details["mean_count"]["real"], abs=0.3)
    assert good.details["label_fidelity"] >= 0.8
    assert bad.details["label_fidelity"] <= 0.5
    assert good.details["pleural_continuity_rate"]["generated"] >= 0.9
    assert good.per_sample.shape == (16,)


def test_label_fidelity_reference() -> None:
    real_counts = np.array([0, 0, 1, 1, 2, 2, 3, 4])
    real_labels = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    fraction, ranges = label_fidelity(
        real_counts, real_labels, np.array([0, 1, 2, 0, 4]), np.array([0, 1, 2, 2, 3])
    )
    assert fraction == pytest.approx(4 / 5)
    assert ranges["3"] == pytest.approx([3.1, 3.9])
