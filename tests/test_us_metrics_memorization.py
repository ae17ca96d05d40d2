"""Memorisation metric: copies of training images are flagged, independent images are not."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from scipy import ndimage

from usbench.data.imageset import ImageSet
from usbench.metrics._lib.synthetic_speckle import speckled_image
from usbench.metrics.memorization import InceptionPool3, Memorization, shifted_nearest
from usbench.protocols import EvalInputs, MetricUnavailable
from usbench.samples import SampleBatch

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def textured_images(n: int, seed: int, size: int = 32) -> torch.Tensor:
    """Independent images: smooth random echogenicity × Rayleigh speckle, N×1×H×W."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        blobs = ndimage.gaussian_filter(rng.random((size, size)), 4)
        echo = 0.4 + 2.5 * (blobs - blobs.min()) / (blobs.max() - blobs.min())
        out.append(speckled_image(echo, rng, cell=0.8, scale=0.2))
    return torch.from_numpy(np.stack(out)[:, None])


def image_set(images: torch.Tensor, prefix: str) -> ImageSet:
    n = len(images)
    return ImageSet(
        images=images,
        labels=torch.zeros(n, dtype=torch.int64),
        class_names=("any",),
        patient_ids=tuple(f"{prefix}{i}" for i in range(n)),
        names=tuple(f"{prefix}/{i:03d}" for i in range(n)),
        name="synthetic",
    )


class PooledProjection:
    """A deterministic feature space for tests: 8×8 pooled pixels, randomly projected."""

    name = "pooled-projection"

    def __init__(self) -> None:
        self.matrix = np.random.default_rng(0).standard_normal((64, 16))

    def variant(self) -> dict:
        return {"pool": 8, "dims": 16}

    def __call__(self, images: torch.Tensor) -> np.ndarray:
        pooled = torch.nn.functional.adaptive_avg_pool2d(images, 8).reshape(len(images), -1)
        return pooled.double().numpy() @ self.matrix


@pytest.fixture(scope="module")
def data() -> dict[str, ImageSet]:
    return {
        "train": image_set(textured_images(24, seed=1), "train"),
        "heldout": image_set(textured_images(12, seed=2), "held"),
    }


def copies_of_train(train: ImageSet, seed: int) -> SampleBatch:
    """Training images shifted by up to 3 px and noised: what a copying generator returns."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for i in range(12):
        dy, dx = (int(v) for v in torch.randint(-3, 4, (2,), generator=gen))
        moved = torch.roll(train.images[i], shifts=(dy, dx), dims=(1, 2))
        out.append(moved + 0.03 * torch.randn(moved.shape, generator=gen))
    return SampleBatch(torch.stack(out).clamp(0, 1))


def test_shift_is_recovered_exactly() -> None:
    refs = textured_images(5, seed=3)[:, 0]
    query = torch.roll(refs[2:3], shifts=(2, -3), dims=(1, 2))
    nn = shifted_nearest(query, refs, max_shift=4)
    assert nn.index[0] == 2
    assert nn.distance[0] == pytest.approx(0.0, abs=1e-6)
    assert tuple(nn.shift[0]) == (-2, 3)


def test_copies_are_flagged_and_independent_images_are_not(data) -> None:
    metric = Memorization(Memorization.Config(max_shift=4), extractors=(PooledProjection(),))
    copies = metric.compute(
        EvalInputs(copies_of_train(data["train"], 0), data["train"], data["heldout"])
    )
    assert copies.value >= 0.9
    assert copies.details["spaces"]["pixel"]["fraction_flagged"] >= 0.9
    # the feature space is the extractor's Euclidean nearest neighbour, checked by brute force
    proj = PooledProjection()
    feats_gen = proj(copies_of_train(data["train"], 0).images)
    feats_train = proj(data["train"].images)
    brute = np.linalg.norm(feats_gen[:, None] - feats_train[None], axis=2).min(axis=1)
    space = copies.details["spaces"]["pooled-projection"]
    np.testing.assert_allclose(space["generated_nn"], brute, rtol=1e-9)
    # the worst pair of a copy generator names the very image it copied
    worst = copies.details["worst_pairs"][0]
    assert worst["train"] == f"train/{worst['generated']:03d}"

    fresh = SampleBatch(textured_images(12, seed=4))
    indep = metric.compute(EvalInputs(fresh, data["train"], data["heldout"]))
    assert indep.value <= 0.25
    assert 0.6 < indep.details["spaces"]["pixel"]["median_ratio"] < 1.6
    assert indep.per_sample.shape == (12,)
    assert set(np.unique(indep.per_sample)) <= {0.0, 1.0}


def test_variant_lists_spaces_and_missing_heldout_is_unavailable(data) -> None:
    metric = Memorization(extractors=())
    assert metric.variant()["spaces"] == ["pixel"]
    with pytest.raises(MetricUnavailable, match="test split"):
        metric.compute(EvalInputs(SampleBatch(data["train"].images[:2]), data["train"], None))


def test_inception_space_needs_cached_weights(tmp_path, monkeypatch) -> None:
    # an empty weights cache: pixel space only, and the note says why
    monkeypatch.setenv("USBENCH_WEIGHTS_DIR", str(tmp_path / "empty"))
    metric = Memorization()
    assert metric.variant()["spaces"] == ["pixel"]
    assert "usbench weights fetch fid-inception" in metric._unavailable


@pytest.mark.slow  # Inception at 299×299 on a shared CPU
def test_inception_pool3_space_with_injected_weights(data) -> None:
    from usbench.metrics._lib.fid_inception import build_fid_inception

    torch.manual_seed(0)
    extractor = InceptionPool3(network=build_fid_inception().eval())
    assert extractor.variant()["weights_sha256"] == "injected"
    train = data["train"].subset(range(3))
    metric = Memorization(extractors=(extractor,))
    copies = SampleBatch(train.images[[2, 0]].clone())
    result = metric.compute(EvalInputs(copies, train, data["heldout"].subset(range(1))))
    space = result.details["spaces"]["inception-pool3"]
    # random weights give tiny features; copies still find their exact source
    assert space["generated_nn"] == pytest.approx([0.0, 0.0], abs=1e-9)
    assert space["nearest_train"] == ["train/002", "train/000"]
    assert len(space["heldout_nn"]) == 1
