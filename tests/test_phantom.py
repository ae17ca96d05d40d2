"""Invariants of the procedural lung-ultrasound phantom (``lus-phantom``)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from usbench.data.phantom import LUSPhantom, PhantomConfig, phantom_truth, sample_params
from usbench.data.phantom_anatomy import (
    DEFAULT_CLASSES,
    PhantomParams,
    PhantomTruth,
    echogenicity_map,
)
from usbench.data.phantom_render import depth_gain_db, render_phantom, speckle_envelope

os.environ["HF_HUB_OFFLINE"] = "1"

RAYLEIGH_SNR = float(np.sqrt(np.pi / (4.0 - np.pi)))  # 1.9131


def plain(geometry: str, **changes) -> PhantomParams:
    """A phantom without ribs or A-lines, so profiles are easy to read."""
    base = {"geometry": geometry, "size": 96, "rib_shadows": 0, "n_a_lines": 0}
    return PhantomParams(**{**base, **changes})


def lateral_profile(image: np.ndarray, truth: PhantomTruth, position: float) -> float:
    """Mean intensity along one B-line position from just below the pleura to the bottom."""
    if truth.geometry == "linear":
        col = int(round(position))
        return float(image[truth.pleura_row + 4 :, col].mean())
    ax, ay = truth.apex
    radii = np.arange(truth.pleura_radius + 4, truth.r_max - 2)
    xs = np.round(ax + radii * np.sin(position)).astype(int)
    ys = np.round(ay + radii * np.cos(position)).astype(int)
    keep = (xs >= 0) & (xs < image.shape[1]) & (ys >= 0) & (ys < image.shape[0])
    return float(image[ys[keep], xs[keep]].mean())


def depth_profile(image: np.ndarray, truth: PhantomTruth) -> tuple[np.ndarray, np.ndarray]:
    """(depth px, mean intensity) per row (linear) or per 1-px radius ring (convex)."""
    if truth.geometry == "linear":
        return np.arange(image.shape[0]), image.mean(axis=1)
    y, x = np.mgrid[0 : image.shape[0], 0 : image.shape[1]]
    r = np.hypot(x - truth.apex[0], y - truth.apex[1])
    ring = np.round(r).astype(int)
    inside = truth.mask
    sums = np.bincount(ring[inside], weights=image[inside])
    counts = np.bincount(ring[inside])
    depths = np.nonzero(counts)[0]
    return depths, sums[depths] / counts[depths]


@pytest.mark.parametrize("geometry", ["convex", "linear"])
@pytest.mark.parametrize("size", [32, 64])
def test_image_shape_dtype_and_range(geometry, size):
    rng = np.random.default_rng(0)
    image, truth = render_phantom(sample_params(2, rng, size=size, geometry=geometry), rng)
    assert image.shape == (size, size) and image.dtype == np.float32
    assert image.min() >= 0.0 and image.max() <= 1.0
    assert truth.mask.shape == (size, size) and truth.mask.dtype == bool
    assert 0.2 < image[truth.mask].mean() < 0.8


def test_convex_outside_fan_is_exactly_zero_and_inside_is_not():
    rng = np.random.default_rng(3)
    image, truth = render_phantom(PhantomParams(geometry="convex", size=96), rng)
    assert truth.apex[1] < 0 and truth.half_angle == pytest.approx(np.deg2rad(32.0))
    assert np.all(image[~truth.mask] == 0.0)
    assert (~truth.mask).sum() > 0.2 * image.size  # corners and the area above the probe
    y, x = np.mgrid[0:96, 0:96]
    r = np.hypot(x - truth.apex[0], y - truth.apex[1])
    chest_wall = truth.mask & (r < truth.pleura_radius - 3)
    assert (image[chest_wall] > 0).mean() > 0.99  # soft tissue never clips to black
    theta = np.arctan2(x - truth.apex[0], y - truth.apex[1])
    expected = (r >= truth.r_min) & (r <= truth.r_max) & (np.abs(theta) <= truth.half_angle)
    assert np.array_equal(truth.mask, expected)


def test_linear_images_the_whole_square():
    rng = np.random.default_rng(1)
    _, truth = render_phantom(plain("linear"), rng)
    assert truth.mask.all() and truth.apex is None and truth.pleura_radius is None


def test_rayleigh_speckle_envelope_snr():
    env = speckle_envelope(np.ones((384, 384)), (1.0, 2.0), np.random.default_rng(0))
    assert env.mean() / env.std() == pytest.approx(RAYLEIGH_SNR, rel=0.05)
    assert (env**2).mean() == pytest.approx(1.0, rel=0.05)  # unit-energy PSF


def test_speckle_scales_with_echogenicity():
    rng = np.random.default_rng(1)
    env = speckle_envelope(np.full((256, 256), 4.0), (1.0, 2.0), rng)
    assert (env**2).mean() == pytest.approx(4.0, rel=0.06)


@pytest.mark.parametrize("geometry", ["convex", "linear"])
def test_attenuation_darkens_depth_by_the_expected_decibels(geometry):
    low = plain(geometry, attenuation=0.3, dynamic_range_db=80.0)
    high = plain(geometry, attenuation=0.8, dynamic_range_db=80.0)
    image_low, truth = render_phantom(low, np.random.default_rng(7))
    image_high, _ = render_phantom(high, np.random.default_rng(7))
    rows, profile_low = depth_profile(image_low, truth)
    _, profile_high = depth_profile(image_high, truth)
    start = truth.pleura_row if truth.pleura_row is not None else truth.pleura_radius
    deep = rows > start + 6
    loss = profile_low[deep] - profile_high[deep]  # display units
    assert np.all(np.diff(loss[::8]) > 0)  # the gap widens with depth
    # bottom: extra round-trip loss 2·Δα·f·depth over the dynamic range (display is linear
    # in dB where nothing clips)
    expected = 2 * 0.5 * low.frequency_mhz * low.depth_cm / low.dynamic_range_db
    assert loss[-3] == pytest.approx(expected * rows[deep][-3] / rows[-1], rel=0.15)


def test_mean_intensity_falls_with_depth_below_the_pleura():
    params = plain("linear", attenuation=0.7, speckle="none", dynamic_range_db=80.0)
    means = []
    for seed in range(4):
        image, truth = render_phantom(params, np.random.default_rng(seed))
        lung = image[truth.pleura_row + 6 :]
        bands = np.array_split(lung, 4, axis=0)
        means.append([band.mean() for band in bands])
    assert np.all(np.diff(np.mean(means, axis=0)) < 0)


def test_depth_gain_is_exponential_in_depth():
    params = PhantomParams(attenuation=0.5, frequency_mhz=3.5, depth_cm=10.0, tgc_db_per_cm=1.0)
    gain = depth_gain_db(params, np.array([0.0, 0.5, 1.0]))
    np.testing.assert_allclose(gain, [0.0, -12.5, -25.0])


@pytest.mark.parametrize("geometry", ["convex", "linear"])
def test_b_lines_are_brighter_than_their_neighbourhood(geometry):
    params = plain(geometry, n_b_lines=3, size=128)
    for seed in range(3):
        image, truth = render_phantom(params, np.random.default_rng(seed))
        assert truth.n_b_lines == 3 == len(truth.b_line_angles_or_columns)
        for pos in truth.b_line_angles_or_columns:
            line = lateral_profile(image, truth, pos)
            for side in (-1, 1):
                beside = lateral_profile(image, truth, pos + side * 2.5 * truth.b_line_width)
                assert line > beside + 0.05


@pytest.mark.parametrize("geometry", ["convex", "linear"])
def test_pleura_is_the_brightest_band_near_its_depth(geometry):
    for seed in range(3):
        image, truth = render_phantom(plain(geometry, size=128), np.random.default_rng(seed))
        depths, profile = depth_profile(image, truth)
        pleura = truth.pleura_row if geometry == "linear" else truth.pleura_radius
        near = np.abs(depths - pleura) <= 12
        brightest = depths[near][np.argmax(profile[near])]
        assert abs(brightest - pleura) <= 2


def test_a_lines_sit_at_multiples_of_the_pleural_depth():
    params = plain("linear", n_a_lines=3, pleura_depth=0.25, size=128)
    image, truth = render_phantom(params, np.random.default_rng(0))
    np.testing.assert_allclose([(a + 0.5) / 128 for a in truth.a_line_positions], [0.5, 0.75])
    assert truth.pleura_row == 32  # round(0.25·128 − 0.5)
    rows = image.mean(axis=1)
    first = int(round(truth.a_line_positions[0]))
    assert rows[first - 1 : first + 2].max() > rows[first + 6 : first + 12].mean() + 0.05


def test_rib_shadow_is_dark_below_the_rib():
    params = plain("linear", rib_shadows=2, size=128)
    image, truth = render_phantom(params, np.random.default_rng(2))
    assert len(truth.rib_shadow_spans) == 2
    lung = image[truth.pleura_row + 4 :]
    low, high = truth.rib_shadow_spans[0]
    cols = np.arange(128)
    shadow = (cols > low + 2) & (cols < high - 2)
    centre = np.abs(cols - 64) < 20
    assert lung[:, shadow].mean() < 0.5 * lung[:, centre].mean()


def test_echogenicity_map_is_the_anatomy_without_speckle():
    params = PhantomParams(geometry="convex", size=96, n_b_lines=2)
    echo = echogenicity_map(params, np.random.default_rng(4))
    _, truth = render_phantom(params, np.random.default_rng(4))
    assert echo.shape == (96, 96) and np.all(echo[~truth.mask] == 0) and echo.min() >= 0
    again = echogenicity_map(params, np.random.default_rng(4))
    np.testing.assert_array_equal(echo, again)
    depths, profile = depth_profile(echo, truth)
    pleura = depths[np.argmin(np.abs(depths - truth.pleura_radius))]
    assert profile[depths == pleura][0] > 5 * np.median(profile[depths > pleura + 8])


def test_dataset_is_deterministic_and_independent_of_n_per_class():

    small = LUSPhantom.from_preset(None, {"n_per_class": "2", "seed": "5"}).load(image_size=32)
    again = LUSPhantom.from_preset(None, {"n_per_class": "2", "seed": "5"}).load(image_size=32)
    large = LUSPhantom.from_preset(None, {"n_per_class": "4", "seed": "5"}).load(image_size=32)
    other = LUSPhantom.from_preset(None, {"n_per_class": "2", "seed": "6"}).load(image_size=32)
    assert len(small) == 6 and len(large) == 12
    assert np.array_equal(small.images.numpy(), again.images.numpy())
    assert np.array_equal(small.images.numpy(), large.images[:6].numpy())
    assert small.names == large.names[:6]
    assert not np.array_equal(small.images.numpy(), other.images.numpy())


def test_dataset_metadata_labels_and_truth():
    data, truths = LUSPhantom.from_preset(None, {"n_per_class": "4"}).load_with_truth(image_size=32)
    assert data.name == "lus-phantom"
    assert data.class_names == ("0 B-lines", "1-2 B-lines", "3+ B-lines")
    assert data.labels.tolist() == [0, 1, 2] * 4
    assert data.names[7] == "phantom/00007" and data.patient_ids[7] == "phantom-0-7"
    assert set(data.probes) == {"convex", "linear"}
    for label, truth, probe in zip(data.labels.tolist(), truths, data.probes, strict=True):
        assert truth.n_b_lines in DEFAULT_CLASSES[label]
        assert len(truth.b_line_angles_or_columns) == truth.n_b_lines
        assert truth.geometry == probe
    again = phantom_truth(PhantomConfig(n_per_class=4), 32)
    assert [t.b_line_angles_or_columns for t in again] == [
        t.b_line_angles_or_columns for t in truths
    ]


def test_options_geometry_attenuation_and_classes():
    options = {"n_per_class": "2", "geometry": "linear", "classes": "0;4-6", "attenuation": "1"}
    data, truths = LUSPhantom.from_preset(None, options).load_with_truth(image_size=32)
    assert data.class_names == ("0 B-lines", "4-6 B-lines")
    assert set(data.probes) == {"linear"}
    assert [t.n_b_lines == 0 for t in truths] == [True, False, True, False]
    assert all(4 <= t.n_b_lines <= 6 for t in truths[1::2])


@pytest.mark.parametrize(
    "options, fragment",
    [
        ({"n_per_clas": "3"}, "Valid keys: n_per_class, seed, geometry, attenuation, classes"),
        ({"geometry": "sector"}, "choose one of convex, linear, mixed"),
        ({"n_per_class": "0"}, "positive integer"),
        ({"attenuation": "lots"}, "dB/cm/MHz"),
        ({"classes": "0"}, "0;1-2;3-5"),
    ],
)
def test_bad_options_say_what_to_type(options, fragment):
    with pytest.raises(ValueError, match=fragment):
        LUSPhantom.from_preset(None, options).load(image_size=32)


def test_params_reject_bad_values():
    with pytest.raises(ValueError, match="geometry"):
        PhantomParams(geometry="sector")
    with pytest.raises(ValueError, match="rib_shadows"):
        PhantomParams(rib_shadows=3)
