"""CW-SSIM equal to pyiqa's cw_ssim on real frames, its invariants and stored identity, the
dtcwt numpy-2 shim, and NIMA's optional-dependency handling.

The cross-check needs pyiqa (``pip install -e '.[crosscheck]'``, which CI installs); where
it is missing those tests skip with that command, unless ``USBENCH_CROSSCHECK=1`` (set by
CI) makes a missing pyiqa an error.
"""

from __future__ import annotations

import importlib.util
import os
import sys

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from _metric_fixtures import imageset, lus_images, phantom_images, write_pngs
from _shared import has_lus

from usbench import catalog
from usbench.metrics.cwssim import CWSSIM, CWSSIMConfig, cw_ssim
from usbench.plugins import resolve
from usbench.protocols import EvalInputs, MetricUnavailable
from usbench.samples import SampleBatch
from usbench.store import ResultStore, RunRow, ScoreRow

DTCWT = CWSSIMConfig(transform="dtcwt")


@pytest.fixture(autouse=True)
def _offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("USBENCH_OFFLINE", "1")
    monkeypatch.setenv("USBENCH_WEIGHTS_DIR", str(tmp_path / "weights"))


@pytest.fixture(scope="module")
def images():
    """Three real frames and three phantoms (six phantoms without the shared data)."""
    real = lus_images(3) if has_lus() else phantom_images(3, seed=4)
    return torch.cat([real, phantom_images(3, seed=5)])


@pytest.fixture(scope="module")
def frames():
    """Four 128 px real lung frames, or speckle phantoms where the shared data is absent."""
    if has_lus():
        return lus_images(4, size=128)
    return phantom_images(4, size=128, seed=3)


def _noisy(x: torch.Tensor, sigma: float, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (x + sigma * torch.randn(x.shape, generator=g)).clamp(0, 1)


def _shifted(x: torch.Tensor, px: int) -> torch.Tensor:
    """Translated right and down by ``px`` pixels, the uncovered border black."""
    out = torch.zeros_like(x)
    out[..., px:, px:] = x[..., :-px, :-px]
    return out


DISTORTIONS = {
    "noise-0.03": lambda x: _noisy(x, 0.03),
    "noise-0.2": lambda x: _noisy(x, 0.2, seed=1),
    "blur-1": lambda x: TF.gaussian_blur(x, [7, 7], [1.0, 1.0]),
    "blur-3": lambda x: TF.gaussian_blur(x, [15, 15], [3.0, 3.0]),
    "shift-1": lambda x: _shifted(x, 1),
    "shift-6": lambda x: _shifted(x, 6),
    "gamma-0.7": lambda x: x**0.7,
    "unrelated": lambda x: torch.roll(x, 1, dims=0),
}


def _pyiqa_cw_ssim():
    if importlib.util.find_spec("pyiqa") is None:
        message = "pyiqa not installed: pip install -e '.[crosscheck]' runs this cross-check"
        if os.environ.get("USBENCH_CROSSCHECK") == "1":
            pytest.fail(message)
        pytest.skip(message)
    import pyiqa

    return pyiqa.create_metric("cw_ssim", device="cpu")


@pytest.fixture(scope="module")
def reference():
    return _pyiqa_cw_ssim()


# -- equal to the reference ---------------------------------------------------------------
@pytest.mark.parametrize("distortion", list(DISTORTIONS))
def test_equals_pyiqa_on_rgb_input(reference, frames, distortion):
    """Default settings = pyiqa at its defaults on RGB input (8-bit Y channel)."""
    other = DISTORTIONS[distortion](frames)
    rgb = (other.expand(-1, 3, -1, -1), frames.expand(-1, 3, -1, -1))
    theirs = reference(*rgb).flatten().numpy()
    ours = cw_ssim(other, frames)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-4)
    assert np.all(ours < 1.0)


def test_equals_pyiqa_on_one_channel_input(reference, frames):
    """``input_range=1``: pyiqa given one-channel [0, 1] tensors (no rounding)."""
    config = CWSSIMConfig(input_range="1")
    for distortion in ("noise-0.03", "shift-1"):
        other = DISTORTIONS[distortion](frames)
        theirs = reference(other, frames).flatten().numpy()
        np.testing.assert_allclose(cw_ssim(other, frames, config), theirs, rtol=0, atol=1e-4)


def test_equals_pyiqa_on_image_files(reference, frames, tmp_path):
    """How papers call it: two grayscale PNG files, which pyiqa reads as RGB."""
    other = DISTORTIONS["blur-1"](frames[:2])
    a, b = write_pngs(other, tmp_path / "a"), write_pngs(frames[:2], tmp_path / "b")
    theirs = [reference(str(a / f"{i:04d}.png"), str(b / f"{i:04d}.png")).item() for i in range(2)]
    quantised = [torch.round(t * 255) / 255 for t in (other, frames[:2])]
    np.testing.assert_allclose(cw_ssim(*quantised), theirs, rtol=0, atol=1e-4)


def test_equals_pyiqa_on_odd_non_square_images(reference):
    """Odd and unequal sides exercise the pyramid's DFT crops and the pooling window."""
    x = phantom_images(2, size=144, seed=9)[..., :135, 3:]  # 135 × 141
    y = _noisy(x, 0.1)
    theirs = reference(y.expand(-1, 3, -1, -1), x.expand(-1, 3, -1, -1)).flatten().numpy()
    np.testing.assert_allclose(cw_ssim(y, x), theirs, rtol=0, atol=1e-4)


def test_equals_pyiqa_at_other_levels_and_orientations(frames):
    _pyiqa_cw_ssim()
    from pyiqa.archs.ssim_arch import CW_SSIM

    other = DISTORTIONS["noise-0.03"](frames[:2])
    for level, ori in ((3, 4), (5, 6)):
        theirs = CW_SSIM(level=level, ori=ori)(
            other.expand(-1, 3, -1, -1), frames[:2].expand(-1, 3, -1, -1)
        )
        ours = cw_ssim(other, frames[:2], CWSSIMConfig(levels=level, orientations=ori))
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=0, atol=1e-4)


# -- invariants (no reference needed) -----------------------------------------------------
@pytest.mark.parametrize("config", [CWSSIMConfig(), DTCWT], ids=["steerable", "dtcwt"])
def test_identity_is_one_symmetric_and_decreasing_with_noise(images, config):
    assert np.allclose(cw_ssim(images, images, config), 1.0, atol=1e-12)
    other = _noisy(images, 0.1)
    np.testing.assert_allclose(
        cw_ssim(images, other, config), cw_ssim(other, images, config), rtol=1e-12
    )
    scores = [
        cw_ssim(images, _noisy(images, s), config).mean() for s in (0.02, 0.05, 0.1, 0.2, 0.4)
    ]
    assert all(a > b for a, b in zip(scores, scores[1:], strict=False)), scores
    assert min(scores) >= 0.0 and max(scores) < 1.0


@pytest.mark.parametrize("config", [CWSSIMConfig(), DTCWT], ids=["steerable", "dtcwt"])
def test_insensitive_to_small_shift_more_than_to_noise(images, config):
    """The point of CW-SSIM: a 1-px translation costs less than visible noise."""
    shifted = torch.roll(images, shifts=1, dims=-1)
    noisy = _noisy(images, 0.15)
    assert cw_ssim(images, shifted, config).mean() > cw_ssim(images, noisy, config).mean()


def test_batch_and_order_invariance(images):
    other = _noisy(images, 0.1)
    whole = cw_ssim(images, other)
    perm = torch.tensor([3, 1, 5, 0, 2, 4])
    np.testing.assert_allclose(cw_ssim(images[perm], other[perm]), whole[perm], rtol=1e-12)
    np.testing.assert_allclose(cw_ssim(images[:2], other[:2]), whole[:2], rtol=1e-12)


def test_too_small_images_say_what_to_do():
    x = phantom_images(2, size=32)
    with pytest.raises(ValueError, match=r"at least 64 px a side, or choose cw-ssim:levels=3"):
        cw_ssim(x, x)
    assert np.allclose(cw_ssim(x, x, CWSSIMConfig(levels=3)), 1.0)
    assert np.allclose(cw_ssim(x, x, DTCWT), 1.0)  # the DTCWT caps its levels instead
    with pytest.raises(MetricUnavailable) as info:  # in a run: a row that says what to do
        CWSSIM().compute(EvalInputs(SampleBatch(x), imageset(x)))
    assert info.value.fix == (
        "score images of at least 64 px a side, or use cw-ssim:levels=3 (another variant) "
        "or cw-ssim:transform=dtcwt"
    )


def test_metric_pairs_by_source(images):
    train = imageset(images)
    gen = SampleBatch(_noisy(images[[2, 0]], 0.05), sources=(train.names[2], train.names[0]))
    result = CWSSIM().compute(EvalInputs(gen, train))
    expected = cw_ssim(gen.images, images[[2, 0]])
    np.testing.assert_allclose(result.per_sample, expected)
    assert result.details["pairing"] == "source"


# -- identity of the two variants ---------------------------------------------------------
OLD_DTCWT_VARIANT = {  # what versions before the steerable default stored under "cw-ssim"
    "transform": "dtcwt near_sym_a/qshift_a, 6 orientations",
    "levels": 4,
    "window": 7,
    "K": 1e-6,
    "pairing": "source, else nearest-train (pixel L2)",
}


def test_dtcwt_variant_keeps_its_old_identity_and_values():
    spec = resolve("metrics", "cw-ssim:transform=dtcwt")
    assert spec.selector == "cw-ssim:transform=dtcwt"
    assert resolve("metrics", "cw-ssim-dtcwt").selector == spec.selector
    assert spec.build().variant() == OLD_DTCWT_VARIANT
    assert resolve("metrics", "cw-ssim").build().variant()["transform"].startswith("complex")
    # the values the DTCWT code of earlier versions gave on these inputs
    x = phantom_images(3, seed=5)
    before = [0.88856753, 0.85871684, 0.86313411]
    np.testing.assert_allclose(cw_ssim(x, _noisy(x, 0.1), DTCWT), before, rtol=0, atol=1e-8)


def test_old_stored_scores_land_in_the_dtcwt_column(tmp_path):
    store = ResultStore(tmp_path)
    run = RunRow("r1", "2026-01-01", "ddpm", "quick", {}, "c", "lus", "d", {}, 0, 4, "x", {})
    rows = [
        ScoreRow("metric", "cw-ssim", "1", OLD_DTCWT_VARIANT, "ok", True, value=0.3),
        ScoreRow("metric", "cw-ssim", "1", CWSSIM().variant(), "ok", True, value=0.9),
    ]
    store.add_run(run, rows)
    names = {r["value"]: r["name"] for r in store.scores()}
    assert names == {0.3: "cw-ssim:transform=dtcwt", 0.9: "cw-ssim"}
    assert catalog.stored_metric_name("cw-ssim", CWSSIM().variant()) == "cw-ssim"


# -- dtcwt shim and NIMA ------------------------------------------------------------------
def test_dtcwt_shim_leaves_numpy_alone_and_round_trips():
    from usbench.metrics._lib.dtcwt_compat import load_dtcwt

    dtcwt = load_dtcwt()
    assert not hasattr(np, "asfarray")  # the shim does not patch numpy globally
    img = np.random.default_rng(0).random((32, 32))
    t = dtcwt.Transform2d()
    pyramid = t.forward(img, nlevels=3)
    np.testing.assert_allclose(t.inverse(pyramid), img, atol=1e-10)


def test_nima_without_pyiqa_is_unavailable_with_the_extra(images, monkeypatch):
    from usbench.metrics.nima import NIMA

    monkeypatch.setitem(sys.modules, "pyiqa", None)  # as if not installed, installed or not
    with pytest.raises(MetricUnavailable) as info:
        NIMA().compute(EvalInputs(SampleBatch(images), imageset(images)))
    assert info.value.fix == "pip install 'usbench[nima]'"
