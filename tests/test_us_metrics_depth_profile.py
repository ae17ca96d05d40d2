"""Depth profile: geometry is recovered, and distance grows with the attenuation gap."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from usbench.data.imageset import ImageSet
from usbench.metrics._lib.fan_geometry import estimate_geometry, synthetic_fan_mask
from usbench.metrics._lib.synthetic_speckle import speckled_image
from usbench.metrics.depth_profile import DepthProfile, depth_profiles
from usbench.protocols import EvalInputs
from usbench.samples import SampleBatch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SIZE = 64
APEX = (-20.0, 31.5)
RADII = (24.0, 82.0)
HALF_ANGLE = 0.6


def fan_images(n: int, attenuation: float, seed: int) -> torch.Tensor:
    """Convex-fan speckle whose mean amplitude decays as ``exp(-attenuation·depth)``."""
    rng = np.random.default_rng(seed)
    mask = synthetic_fan_mask((SIZE, SIZE), APEX, RADII, HALF_ANGLE)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    depth = np.clip((np.hypot(yy - APEX[0], xx - APEX[1]) - RADII[0]) / (RADII[1] - RADII[0]), 0, 1)
    echo = 3.0 * np.exp(-attenuation * depth) * mask
    return torch.from_numpy(
        np.stack([speckled_image(echo, rng, cell=0.7) for _ in range(n)])[:, None]
    )


def as_imageset(images: torch.Tensor, probe: str = "") -> ImageSet:
    n = len(images)
    return ImageSet(
        images=images,
        labels=torch.zeros(n, dtype=torch.int64),
        class_names=("x",),
        patient_ids=tuple(str(i) for i in range(n)),
        names=tuple(f"f/{i}" for i in range(n)),
        name="fan",
        probes=(probe,) * n,
    )


def test_convex_geometry_is_recovered() -> None:
    geometry = estimate_geometry(fan_images(8, 1.0, seed=0)[:, 0].numpy())
    assert geometry.kind == "convex"
    assert geometry.apex[0] == pytest.approx(APEX[0], abs=3.0)
    assert geometry.apex[1] == pytest.approx(APEX[1], abs=1.5)
    assert geometry.r_min == pytest.approx(RADII[0], abs=2.0)


def test_linear_geometry_is_recognised() -> None:
    rng = np.random.default_rng(0)
    images = np.stack([speckled_image(np.ones((32, 32)), rng) for _ in range(4)])
    geometry = estimate_geometry(images)
    assert geometry.kind == "linear"
    assert (geometry.r_min, geometry.r_max) == (0.0, 31.0)


def test_profile_follows_the_attenuation_law() -> None:
    images = fan_images(8, 2.0, seed=1)
    geometry = estimate_geometry(images[:, 0].numpy())
    profile = depth_profiles(images, [geometry] * len(images), 8).mean(axis=0)
    # amplitude ∝ exp(-2·depth): the log profile has slope ≈ -2 per unit depth
    centres = (np.arange(8) + 0.5) / 8
    slope = np.polyfit(centres[1:-1], np.log(profile[1:-1]), 1)[0]
    assert slope == pytest.approx(-2.0, abs=0.35)


def test_distance_grows_with_the_attenuation_gap() -> None:
    real = as_imageset(fan_images(12, 1.0, seed=2), probe="convex")
    metric = DepthProfile(DepthProfile.Config(n_bins=16))
    results = [
        metric.compute(EvalInputs(SampleBatch(fan_images(12, alpha, seed=3)), real, seed=0))
        for alpha in (1.0, 1.5, 2.5, 4.0)
    ]
    values = [r.value for r in results]
    assert values == sorted(values)
    assert values[0] < 0.01
    assert results[0].ci_high < results[1].ci_low  # a 0.5 gap is resolved
    assert results[3].details["geometry"]["convex"]["kind"] == "convex"
    assert len(results[3].details["real_profile"]) == 16
    assert results[3].per_sample.shape == (12,)


def test_empty_depth_bins_give_numpy_nanmean_without_warnings():
    """16-px images leave depth bins that no pixel reaches: the metric equals numpy's
    nan-aware means, and raises no RuntimeWarning while computing them."""
    import warnings

    from usbench.metrics.depth_profile import imaged_mean, imaged_std, profile_distance
    from usbench.testing import tiny_dataset

    values = np.array([[1.0, np.nan, 3.0], [2.0, np.nan, np.nan]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.allclose(imaged_mean(values, 0), [1.5, np.nan, 3.0], equal_nan=True)
        assert np.allclose(imaged_std(values, 0), [0.5, np.nan, 0.0], equal_nan=True)
        assert profile_distance(values, values + 1) == 1.0
        data = tiny_dataset(image_size=16, n=6)
        noise = torch.rand(4, 1, 16, 16, generator=torch.Generator().manual_seed(0))
        inputs = EvalInputs(generated=SampleBatch(images=noise), train=data, heldout=None, seed=0)
        result = DepthProfile().compute(inputs)
    real, gen = (
        np.array([np.nan if v is None else v for v in result.details[key]], dtype=float)
        for key in ("real_profile", "generated_profile")
    )
    assert np.isnan(real).any()  # some bins are empty
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert result.value == pytest.approx(float(np.nanmean(np.abs(real - gen))))
