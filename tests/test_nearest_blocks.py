"""Nearest-neighbour search in blocks equals the full distance matrix, exactly."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from usbench.metrics._lib import manifold
from usbench.metrics._lib.copying import authentic_mask
from usbench.metrics._lib.manifold import (
    PRDC,
    cosine_similarity_matrix,
    cosine_vendi_score,
    vendi_score,
)
from usbench.metrics._lib.nearest import kth_neighbour_distance, nearest_rows, row_blocks
from usbench.metrics.memorization import pixel_grid, shifted_nearest


@pytest.fixture(scope="module")
def rows() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(53, 7)), rng.normal(size=(41, 7))


def test_row_blocks_cover_every_row_once() -> None:
    blocks = list(row_blocks(10, 3, block_entries=7))
    assert [(b.start, b.stop) for b in blocks] == [(0, 2), (2, 4), (4, 6), (6, 8), (8, 10)]
    assert [(b.start, b.stop) for b in row_blocks(3, 100, block_entries=5)] == [
        (0, 1),
        (1, 2),
        (2, 3),
    ]


@pytest.mark.parametrize("block_entries", [1, 50, 1 << 22])
def test_nearest_rows_equal_the_full_matrix(rows, block_entries) -> None:
    queries, refs = rows
    full = cdist(queries, refs)
    distance, index = nearest_rows(queries, refs, block_entries=block_entries)
    np.testing.assert_array_equal(index, full.argmin(axis=1))
    np.testing.assert_array_equal(distance, full.min(axis=1))
    own = cdist(refs, refs)
    np.fill_diagonal(own, np.inf)
    distance, index = nearest_rows(refs, refs, exclude_self=True, block_entries=block_entries)
    np.testing.assert_array_equal(index, own.argmin(axis=1))
    np.testing.assert_array_equal(distance, own.min(axis=1))


@pytest.mark.parametrize("block_entries", [1, 60])
def test_kth_neighbour_distance_equals_the_full_matrix(rows, block_entries) -> None:
    x = rows[0]
    expected = np.partition(cdist(x, x), 5, axis=1)[:, 5]
    got = kth_neighbour_distance(x, 5, block_entries=block_entries)
    np.testing.assert_array_equal(got, expected)


def _full_matrix_prdc(real: np.ndarray, gen: np.ndarray, k: int) -> PRDC:
    """Naeem et al.'s PRDC on the whole ``N×M`` matrix (the formulation of the prdc package)."""
    real_radii = np.partition(cdist(real, real), k, axis=1)[:, k]
    gen_radii = np.partition(cdist(gen, gen), k, axis=1)[:, k]
    d = cdist(real, gen)
    in_real = d < real_radii[:, None]
    return PRDC(
        precision=float(in_real.any(axis=0).mean()),
        recall=float((d < gen_radii[None, :]).any(axis=1).mean()),
        density=float((in_real.sum(axis=0) / k).mean()),
        coverage=float((d.min(axis=1) < real_radii).mean()),
        inside_real=in_real.any(axis=0).astype(float),
        real_balls=in_real.sum(axis=0) / k,
    )


def test_prdc_in_tiny_blocks_equals_the_full_matrix(rows, monkeypatch) -> None:
    real, gen = rows
    tiny = functools.partial(manifold.distance_blocks, block_entries=45)
    monkeypatch.setattr(manifold, "distance_blocks", tiny)
    got, expected = manifold.prdc(real, gen, k=3), _full_matrix_prdc(real, gen, 3)
    for name in ("precision", "recall", "density", "coverage"):
        assert getattr(got, name) == getattr(expected, name), name
    np.testing.assert_array_equal(got.inside_real, expected.inside_real)
    np.testing.assert_array_equal(got.real_balls, expected.real_balls)
    assert 0.0 < got.precision < 1.0 and 0.0 < got.coverage <= 1.0


def test_authenticity_equals_the_full_matrix(rows) -> None:
    real, gen = rows
    real_real = cdist(real, real)
    np.fill_diagonal(real_real, np.inf)
    to_real = cdist(gen, real)
    nearest = to_real.argmin(axis=1)
    expected = to_real.min(axis=1) > real_real.min(axis=1)[nearest]
    np.testing.assert_array_equal(authentic_mask(real, gen), expected.astype(float))


def test_vendi_over_features_equals_the_kernel_form_and_the_package() -> None:
    from vendi_score import vendi

    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 12)) + 0.5  # n > d: the d×d form is used
    kernel_form = vendi_score(cosine_similarity_matrix(x))
    assert cosine_vendi_score(x) == pytest.approx(kernel_form, rel=1e-10)
    assert cosine_vendi_score(x) == pytest.approx(vendi.score_X(x), rel=1e-10)
    for q in (2.0, np.inf):
        expected = vendi_score(cosine_similarity_matrix(x), q=q)
        assert cosine_vendi_score(x, q=q) == pytest.approx(expected, rel=1e-8)
    # q < 1 weights the n - d round-off eigenvalues (~1e-17) of the n×n form, which the
    # d×d form does not have: the two agree to that round-off only
    expected = vendi_score(cosine_similarity_matrix(x), q=0.5)
    assert cosine_vendi_score(x, q=0.5) == pytest.approx(expected, rel=1e-6)


def test_shifted_search_in_blocks_equals_one_block() -> None:
    gen = torch.Generator().manual_seed(0)
    refs = torch.rand(9, 20, 20, generator=gen)
    queries = torch.roll(refs[[1, 4, 4, 7, 0]], shifts=(1, -2), dims=(1, 2))
    queries = queries + 0.05 * torch.rand(queries.shape, generator=gen)
    whole = shifted_nearest(queries, refs, max_shift=2)
    blocked = shifted_nearest(queries, refs, max_shift=2, block_entries=1)
    np.testing.assert_array_equal(blocked.index, whole.index)
    np.testing.assert_array_equal(blocked.shift, whole.shift)
    np.testing.assert_allclose(blocked.distance, whole.distance, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(whole.index, [1, 4, 4, 7, 0])


def test_shifted_search_over_reference_blocks_equals_one_block() -> None:
    """Reference blocks of 2 rows (and query blocks of 1) give the one-block answer,
    including the tie rules: equal distances go to the earlier shift, then the lower index."""
    gen = torch.Generator().manual_seed(1)
    refs = torch.rand(9, 20, 20, generator=gen)
    refs[6] = refs[2]  # a duplicate: the lower index must win
    refs[8] = 0.0  # a flat image: every shift ties, the first shift must win
    queries = torch.roll(refs[[1, 2, 4, 7, 0]], shifts=(1, -2), dims=(1, 2))
    queries = torch.cat([queries + 0.05 * torch.rand(queries.shape, generator=gen), refs[[2]]])
    queries = torch.cat([queries, torch.zeros(1, 20, 20)])
    crop_bytes = 8 * 16 * 16
    whole = shifted_nearest(queries, refs, max_shift=2)
    for block_bytes in (crop_bytes, 2 * crop_bytes, 5 * crop_bytes):
        blocked = shifted_nearest(queries, refs, max_shift=2, block_bytes=block_bytes)
        np.testing.assert_array_equal(blocked.index, whole.index)
        np.testing.assert_array_equal(blocked.shift, whole.shift)
        # squared RMSE to round-off (the expanded form q² + r² − 2qr cancels for a copy)
        np.testing.assert_allclose(blocked.distance**2, whole.distance**2, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(whole.index, [1, 2, 4, 7, 0, 2, 8])
    assert whole.distance[5] < 1e-6 and list(whole.shift[5]) == [0, 0]
    assert whole.distance[6] == 0.0 and list(whole.shift[6]) == [-2, -2]


def test_pixel_grid_at_full_size_is_a_view_with_the_pooled_values() -> None:
    images = torch.rand(5, 1, 12, 12, generator=torch.Generator().manual_seed(2))
    grid = pixel_grid(images, 64)
    assert grid.data_ptr() == images.data_ptr()
    assert torch.equal(grid, torch.nn.functional.adaptive_avg_pool2d(images, (12, 12))[:, 0])
    small = pixel_grid(images, 4)
    assert torch.equal(small, torch.nn.functional.adaptive_avg_pool2d(images, (4, 4))[:, 0])
