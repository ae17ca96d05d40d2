"""CW-SSIM invariants, the dtcwt numpy-2 shim, and NIMA's optional-dependency handling."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from _metric_fixtures import imageset, lus_images, phantom_images

from usbench.metrics.cwssim import CWSSIM, cw_ssim
from usbench.protocols import EvalInputs, MetricUnavailable
from usbench.samples import SampleBatch


@pytest.fixture(autouse=True)
def _offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("USBENCH_OFFLINE", "1")
    monkeypatch.setenv("USBENCH_WEIGHTS_DIR", str(tmp_path / "weights"))


@pytest.fixture(scope="module")
def images():
    return torch.cat([lus_images(3), phantom_images(3, seed=5)])


def _noisy(x: torch.Tensor, sigma: float, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (x + sigma * torch.randn(x.shape, generator=g)).clamp(0, 1)


def test_identity_is_one_symmetric_and_decreasing_with_noise(images):
    assert np.allclose(cw_ssim(images, images), 1.0, atol=1e-12)
    other = _noisy(images, 0.1)
    np.testing.assert_allclose(cw_ssim(images, other), cw_ssim(other, images), rtol=1e-12)
    scores = [cw_ssim(images, _noisy(images, s)).mean() for s in (0.02, 0.05, 0.1, 0.2, 0.4)]
    assert all(a > b for a, b in zip(scores, scores[1:], strict=False)), scores
    assert min(scores) >= 0.0 and max(scores) < 1.0


def test_insensitive_to_small_shift_more_than_to_noise(images):
    """The point of CW-SSIM: a 1-px translation costs less than visible noise."""
    shifted = torch.roll(images, shifts=1, dims=-1)
    assert cw_ssim(images, shifted).mean() > cw_ssim(images, _noisy(images, 0.15)).mean()


def test_batch_and_order_invariance(images):
    other = _noisy(images, 0.1)
    whole = cw_ssim(images, other)
    perm = torch.tensor([3, 1, 5, 0, 2, 4])
    np.testing.assert_allclose(cw_ssim(images[perm], other[perm]), whole[perm], rtol=1e-12)
    np.testing.assert_allclose(cw_ssim(images[:2], other[:2]), whole[:2], rtol=1e-12)


def test_metric_pairs_by_source(images):
    train = imageset(images)
    gen = SampleBatch(_noisy(images[[2, 0]], 0.05), sources=(train.names[2], train.names[0]))
    result = CWSSIM().compute(EvalInputs(gen, train))
    expected = cw_ssim(gen.images, images[[2, 0]])
    np.testing.assert_allclose(result.per_sample, expected)
    assert result.details["pairing"] == "source"


def test_dtcwt_shim_leaves_numpy_alone_and_round_trips():
    from usbench.metrics._lib.dtcwt_compat import load_dtcwt

    dtcwt = load_dtcwt()
    assert not hasattr(np, "asfarray")  # the shim does not patch numpy globally
    img = np.random.default_rng(0).random((32, 32))
    t = dtcwt.Transform2d()
    pyramid = t.forward(img, nlevels=3)
    np.testing.assert_allclose(t.inverse(pyramid), img, atol=1e-10)


@pytest.mark.skipif(importlib.util.find_spec("pyiqa") is not None, reason="pyiqa is installed here")
def test_nima_without_pyiqa_is_unavailable_with_the_extra(images):
    from usbench.metrics.nima import NIMA

    with pytest.raises(MetricUnavailable) as info:
        NIMA().compute(EvalInputs(SampleBatch(images), imageset(images)))
    assert info.value.fix == "pip install 'usbench[nima]'"


@pytest.mark.skipif(
    importlib.util.find_spec("pyiqa") is None,
    reason="pyiqa not installed (optional extra usbench[nima]); cross-check not possible",
)
def test_cw_ssim_cross_check_with_pyiqa(images):  # pragma: no cover - needs the extra
    import pyiqa

    ref = pyiqa.create_metric("cw_ssim", device="cpu")
    other = _noisy(images, 0.1)
    theirs = ref(other.expand(-1, 3, -1, -1), images.expand(-1, 3, -1, -1)).flatten().numpy()
    ours = cw_ssim(images, other)
    # Different transforms (steerable pyramid vs DTCWT): same ordering, not same values.
    assert np.corrcoef(theirs, ours)[0, 1] > 0.5
