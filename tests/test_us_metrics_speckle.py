"""Speckle statistics: Rayleigh speckle gives SNR ≈ 1.91 and m ≈ 1; smoothing moves both."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from scipy import ndimage

from usbench.data.imageset import ImageSet
from usbench.metrics._lib.synthetic_speckle import RAYLEIGH_SNR, speckled_image
from usbench.metrics.speckle import SpeckleStatistics, to_envelope
from usbench.protocols import EvalInputs, MetricUnavailable
from usbench.samples import SampleBatch

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def rayleigh_images(n: int, seed: int, cell: float = 0.7, size: int = 64) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    stack = [speckled_image(np.ones((size, size)), rng, cell=cell) for _ in range(n)]
    return torch.from_numpy(np.stack(stack)[:, None])


def as_imageset(images: torch.Tensor) -> ImageSet:
    n = len(images)
    return ImageSet(
        images=images,
        labels=torch.zeros(n, dtype=torch.int64),
        class_names=("speckle",),
        patient_ids=tuple(str(i) for i in range(n)),
        names=tuple(f"s/{i}" for i in range(n)),
        name="rayleigh",
    )


def test_theory_constant() -> None:
    assert pytest.approx(1.9131, abs=1e-4) == RAYLEIGH_SNR


@pytest.mark.parametrize("cell", [0.0, 0.7, 1.0])
def test_rayleigh_speckle_lands_on_theory(cell: float) -> None:
    stats = SpeckleStatistics().statistics(rayleigh_images(8, seed=1, cell=cell))
    assert stats.snr.size >= 100  # nearly every 16×16 patch of a uniform medium is kept
    assert np.median(stats.snr) == pytest.approx(RAYLEIGH_SNR, abs=0.06)
    assert np.median(stats.nakagami_m) == pytest.approx(1.0, abs=0.06)


def test_smoothing_moves_the_statistics_and_the_distance() -> None:
    real = as_imageset(rayleigh_images(8, seed=1))
    same = SampleBatch(rayleigh_images(8, seed=2))
    blurred = SampleBatch(
        torch.from_numpy(ndimage.gaussian_filter(same.images.numpy(), (0, 0, 1, 1)))
    )
    metric = SpeckleStatistics()
    honest = metric.compute(EvalInputs(same, real, seed=0))
    smooth = metric.compute(EvalInputs(blurred, real, seed=0))
    assert honest.value < 0.1
    assert smooth.details["generated_median_snr"] > RAYLEIGH_SNR + 1.0
    assert smooth.details["generated_median_m"] > 2.0
    assert smooth.value > 10 * honest.value
    assert smooth.ci_low <= smooth.value <= smooth.ci_high
    assert smooth.ci_low > honest.ci_high
    assert smooth.per_sample.shape == (8,)


def test_log_envelope_inverts_compression() -> None:
    amplitude = np.array([1.0, 0.1, 0.01])
    grey = 1.0 + 20 * np.log10(amplitude) / 40.0  # 40 dB display
    images = torch.tensor(grey, dtype=torch.float32).reshape(1, 1, 1, 3)
    np.testing.assert_allclose(to_envelope(images, "log", 40.0)[0, 0], amplitude, rtol=1e-5)


def test_log_compressed_rayleigh_is_recovered() -> None:
    env = rayleigh_images(6, seed=3) / 0.25 * 0.05  # unit-mean-square envelope × 0.05
    grey = (1.0 + 20 * torch.log10(env.clamp_min(1e-6)) / 50.0).clamp(0, 1)
    stats = SpeckleStatistics(
        SpeckleStatistics.Config(envelope="log", dynamic_range_db=50.0, min_mean=0.2)
    )
    assert np.median(stats.statistics(grey).snr) == pytest.approx(RAYLEIGH_SNR, abs=0.08)


def test_black_images_are_unavailable() -> None:
    real = as_imageset(rayleigh_images(2, seed=1))
    with pytest.raises(MetricUnavailable, match="patch"):
        SpeckleStatistics().compute(EvalInputs(SampleBatch(torch.zeros(2, 1, 64, 64)), real))


def test_constant_patches_carry_no_speckle() -> None:
    """A flat grey block (an overlay, padding) is not a speckle patch: it is skipped, so
    one such block in a real frame cannot make the set distance infinite."""
    images = rayleigh_images(4, seed=1)
    with_block = images.clone()
    with_block[0, 0, :32, :32] = 0.3  # four constant 16×16 patches, bright and homogeneous
    clean = SpeckleStatistics().statistics(images)
    blocked = SpeckleStatistics().statistics(with_block)
    assert len(blocked.snr) == len(clean.snr) - 4
    assert np.isfinite(blocked.snr).all() and blocked.snr.max() < 10
    generated = SampleBatch(rayleigh_images(4, seed=2))
    result = SpeckleStatistics().compute(EvalInputs(generated, as_imageset(with_block), seed=0))
    assert result.value < 0.2 and result.ci_high < 1.0
