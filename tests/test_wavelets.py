"""À trous (starlet) and Haar wavelet transforms."""

from __future__ import annotations

import numpy as np
import torch
from scipy.ndimage import convolve1d

from usbench.generators._lib.wavelets import (
    B3_SPLINE,
    atrous_decompose,
    atrous_reconstruct,
    b3_smooth,
    dwt_planes,
    haar_decompose,
    haar_reconstruct,
    mirror_indices,
    wavelet_planes,
)


def _image(n=2, size=32, seed=0):
    return torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(seed))


def test_mirror_indices_whole_sample_symmetric():
    assert mirror_indices(4, 5).tolist() == [1, 2, 3, 2, 1, 0, 1, 2, 3, 2, 1, 0, 1, 2]


def test_b3_smooth_matches_scipy_dilated_kernel():
    x = _image(1, 24, seed=3).double()
    for dilation in (1, 2, 4):
        kernel = np.zeros(4 * dilation + 1)
        kernel[::dilation] = B3_SPLINE
        ref = convolve1d(x[0, 0].numpy(), kernel, axis=0, mode="mirror")
        ref = convolve1d(ref, kernel, axis=1, mode="mirror")
        np.testing.assert_allclose(b3_smooth(x, dilation)[0, 0].numpy(), ref, atol=1e-12)


def test_atrous_exact_reconstruction_and_no_subsampling():
    x = _image(3, 16)  # the coarsest kernel (33 taps) is wider than the image
    planes, coarse = atrous_decompose(x, 4)
    assert len(planes) == 4 and all(p.shape == x.shape for p in planes)
    torch.testing.assert_close(atrous_reconstruct(planes, coarse), x, atol=1e-6, rtol=0)
    assert wavelet_planes(x, 4).shape == (3, 4, 16, 16)


def test_planes_are_zero_mean_and_constant_images_have_no_detail():
    x = _image(1, 64, seed=1).double()
    planes, coarse = atrous_decompose(x, 3)
    # the B3 kernel sums to 1, so the smooth image keeps the mean; planes nearly zero mean
    for p in planes:
        assert abs(float(p.mean())) < 5e-3
    const = torch.full((1, 1, 16, 16), 0.7)
    for p in atrous_decompose(const, 4)[0]:
        assert float(p.abs().max()) < 1e-6


def test_planes_separate_scales():
    """A fine checkerboard lives in plane 1; a broad ramp is almost all in the coarse image."""
    size = 64
    ii, jj = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    checker = ((ii + jj) % 2).double().view(1, 1, size, size)
    planes, _ = atrous_decompose(checker, 4)
    energy = torch.stack([p.pow(2).sum() for p in planes])
    assert int(energy.argmax()) == 0 and float(energy[0] / energy.sum()) > 0.9


def test_haar_perfect_reconstruction_and_energy():
    x = _image(2, 32).double()
    details, approx = haar_decompose(x, 3)
    assert approx.shape == (2, 1, 4, 4) and details[0].shape == (2, 1, 3, 16, 16)
    torch.testing.assert_close(haar_reconstruct(details, approx), x)
    energy = approx.pow(2).sum() + sum(d.pow(2).sum() for d in details)
    torch.testing.assert_close(energy, x.pow(2).sum())  # orthonormal


def test_dwt_planes_full_size_blocks():
    x = _image(1, 16)
    planes = dwt_planes(x, 2)
    assert planes.shape == (1, 6, 16, 16)
    level2 = planes[0, 3]
    torch.testing.assert_close(level2[:4, :4], level2[0, 0].expand(4, 4))  # 4×4 blocks
