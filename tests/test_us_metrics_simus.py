"""Speckle statistics on speckle simulated by pymust (convex C5-2v probe, diverging wave).

Each image takes one to two minutes on a shared 2-core CPU, so the test is marked slow
and the envelopes are cached in pytest's cache folder (``.pytest_cache``) between runs.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from usbench.data.simus_render import SimusConfig, cached_envelope, log_compress
from usbench.metrics._lib.synthetic_speckle import RAYLEIGH_SNR
from usbench.metrics.speckle import patch_statistics

os.environ.setdefault("HF_HUB_OFFLINE", "1")
pytest.importorskip("pymust", reason="the simulator is the optional extra usbench[sim]")

SECTOR = dict(grid=(32, 32), depth_m=(0.025, 0.035), half_angle=0.05)


def envelope(cache: Path, density: float) -> np.ndarray:
    config = SimusConfig(scatterer_density=density, **SECTOR)
    return cached_envelope(np.ones((8, 8)), seed=0, config=config, cache_dir=cache)


def stats(env: np.ndarray):
    grey = log_compress(env, 50.0).astype(np.float64)
    return patch_statistics(grey[None], env[None], patch=8, min_mean=0.0, max_quadrant_cv=1.0)


@pytest.mark.slow
def test_simulated_speckle_matches_theory(tmp_path) -> None:
    dense = stats(envelope(tmp_path, 10.0))
    assert dense.snr.size >= 15  # a patch holding the brightest pixel may count as saturated
    # ~10 scatterers per resolution cell: fully developed speckle
    assert np.median(dense.snr) == pytest.approx(RAYLEIGH_SNR, abs=0.15)
    assert np.median(dense.nakagami_m) == pytest.approx(1.0, abs=0.15)
    # ~1 scatterer per cell: pre-Rayleigh, lower SNR and m < 1
    sparse = stats(envelope(tmp_path, 1.0))
    assert np.median(sparse.snr) < RAYLEIGH_SNR - 0.25
    assert np.median(sparse.nakagami_m) < 0.8


def test_log_compress_range() -> None:
    env = np.array([[1.0, 0.1, 1e-4]])
    np.testing.assert_allclose(log_compress(env, 40.0), [[1.0, 0.5, 0.0]], atol=1e-6)


def test_scan_conversion_puts_a_depth_row_on_its_arc() -> None:
    from usbench.data.simus_render import _fan_from_polar

    polar = np.zeros((50, 40))
    polar[25] = 1.0  # one bright depth, halfway between r0 and r1
    radii, half = (0.06, 0.10), 0.3
    image = _fan_from_polar(polar, radii, half, size=64)
    ys, xs = np.nonzero(image > 0.5)
    scale = 64 / max(2 * radii[1] * np.sin(half), radii[1] - radii[0] * np.cos(half))
    top = radii[0] * np.cos(half)
    radius = np.hypot((xs + 0.5 - 32) / scale, (ys + 0.5) / scale + top)
    expected = radii[0] + 25 / 49 * (radii[1] - radii[0])
    assert ys.size > 20
    np.testing.assert_allclose(radius, expected, atol=1.0 / scale)
    assert image[0, 0] == 0.0  # outside the sector
