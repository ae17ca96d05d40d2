"""The B-line detector and the depth profile against the lung phantom's ground truth.

Runs once ``usbench.data.phantom`` (the ``lus-phantom`` dataset) is installed.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from usbench.data.imageset import ImageSet
from usbench.metrics._lib.fan_geometry import estimate_geometry
from usbench.metrics._lib.lines import detect_lines
from usbench.metrics.depth_profile import DepthProfile
from usbench.protocols import EvalInputs
from usbench.samples import SampleBatch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
phantom = pytest.importorskip("usbench.data.phantom", reason="lus-phantom is not installed")


def render(n: int, size: int, geometry: str, seed: int, attenuation: float | None = None):
    rng = np.random.default_rng(seed)
    out = [
        phantom.render_phantom(
            phantom.sample_params(
                i % 3, rng, size=size, geometry=geometry, attenuation=attenuation
            ),
            rng,
        )
        for i in range(n)
    ]
    return np.stack([image for image, _ in out]), np.array([t.n_b_lines for _, t in out])


@pytest.mark.parametrize("geometry", ["convex", "linear"])
def test_bline_counts_on_clean_phantom_images(geometry: str) -> None:
    images, counts = render(45, 128, geometry, seed=0)
    fit = estimate_geometry(images, geometry)
    found = [detect_lines(img, fit) for img in images]
    errors = np.array([d.bline_count for d in found]) - counts
    assert np.mean(errors == 0) >= 0.85  # 0.91 (convex) / 0.93 (linear) on 90 images
    assert np.mean(np.abs(errors)) <= 0.4
    assert np.mean([d.pleura_continuous for d in found]) >= 0.85


def test_depth_profile_grows_with_the_attenuation_gap() -> None:
    real_images, _ = render(16, 64, "convex", seed=1, attenuation=0.5)
    real = ImageSet(
        images=torch.from_numpy(real_images[:, None]),
        labels=torch.zeros(16, dtype=torch.int64),
        class_names=("x",),
        patient_ids=tuple(str(i) for i in range(16)),
        names=tuple(f"p/{i}" for i in range(16)),
        name="lus-phantom",
        probes=("convex",) * 16,
    )
    values = []
    for attenuation in (0.5, 0.7, 0.9):
        gen, _ = render(16, 64, "convex", seed=2, attenuation=attenuation)
        batch = SampleBatch(torch.from_numpy(gen[:, None]))
        values.append(DepthProfile().compute(EvalInputs(batch, real)).value)
    assert values == sorted(values)
    assert values[2] > 3 * values[0]
