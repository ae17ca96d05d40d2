"""Figures of the ultrasound metrics are written, and drawn lines sit where detected."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

from bench.synthetic_lus import APEX, RADII, lus_scene
from usbench.data.imageset import ImageSet
from usbench.metrics._lib.fan_geometry import estimate_geometry
from usbench.metrics.bline import BLineFidelity
from usbench.metrics.depth_profile import DepthProfile
from usbench.metrics.memorization import Memorization
from usbench.metrics.speckle import SpeckleStatistics
from usbench.protocols import EvalInputs
from usbench.samples import SampleBatch

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def lus_set(n: int, seed: int) -> ImageSet:
    rng = np.random.default_rng(seed)
    images = torch.from_numpy(np.stack([lus_scene(rng, i % 4)[0] for i in range(n)])[:, None])
    return ImageSet(
        images=images,
        labels=torch.zeros(n, dtype=torch.int64),
        class_names=("lung",),
        patient_ids=tuple(f"{seed}-{i}" for i in range(n)),
        names=tuple(f"{seed}/{i}" for i in range(n)),
        name="lus-synthetic",
    )


def test_to_pixels_inverts_the_fan() -> None:
    geometry = estimate_geometry(lus_set(8, 0).images[:, 0].numpy())
    y, x = geometry.to_pixels(0.0, 0.5)  # top of the centre scan line
    assert float(y) == pytest.approx(APEX[0] + RADII[0], abs=2.0)
    assert float(x) == pytest.approx(APEX[1], abs=1.0)


def test_every_metric_draws_its_figure(tmp_path) -> None:
    train, held = lus_set(12, 1), lus_set(6, 2)
    inputs = EvalInputs(SampleBatch(lus_set(6, 3).images), train, held, seed=0)
    metrics = {
        "memorization": Memorization(extractors=()),
        "depth_profile": DepthProfile(DepthProfile.Config(n_bins=12)),
        "speckle": SpeckleStatistics(SpeckleStatistics.Config(patch=8)),
        "bline": BLineFidelity(BLineFidelity.Config(n_figure=4)),
    }
    for name, metric in metrics.items():
        path = metric.figure(metric.compute(inputs), inputs, tmp_path / f"{name}.png")
        with Image.open(path) as img:
            assert img.size[0] >= 300 and img.size[1] >= 200
            assert np.asarray(img.convert("L")).std() > 5  # not a blank canvas
