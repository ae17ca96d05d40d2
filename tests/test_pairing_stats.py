"""Pairing of samples with real images, and the bootstrap interval."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from usbench.data.imageset import ImageSet
from usbench.metrics._lib.pairing import nearest_train_indices, pair_with_real
from usbench.protocols import EvalInputs
from usbench.samples import SampleBatch
from usbench.stats import bootstrap_ci


def _train(n: int = 5, size: int = 8) -> ImageSet:
    g = torch.Generator().manual_seed(0)
    images = torch.rand(n, 1, size, size, generator=g)
    return ImageSet(
        images=images,
        labels=torch.zeros(n, dtype=torch.int64),
        class_names=("a",),
        patient_ids=tuple(f"p{i}" for i in range(n)),
        names=tuple(f"img/{i}" for i in range(n)),
        name="toy",
    )


def test_pairing_by_source_follows_names_not_order() -> None:
    train = _train()
    gen = SampleBatch(train.images[[3, 0, 3]].clone(), sources=("img/1", "img/4", "img/2"))
    real, pairing = pair_with_real(EvalInputs(generated=gen, train=train))
    assert pairing == "source"
    assert torch.equal(real, train.images[[1, 4, 2]])


def test_pairing_nearest_train_finds_the_perturbed_original() -> None:
    train = _train()
    noisy = (train.images[[4, 2, 2, 0]] + 0.01 * torch.randn(4, 1, 8, 8)).clamp(0, 1)
    real, pairing = pair_with_real(EvalInputs(generated=SampleBatch(noisy), train=train))
    assert pairing == "nearest-train"
    assert torch.equal(real, train.images[[4, 2, 2, 0]])


def test_nearest_train_matches_brute_force() -> None:
    g = torch.Generator().manual_seed(1)
    a, b = torch.rand(7, 1, 6, 6, generator=g), torch.rand(9, 1, 6, 6, generator=g)
    brute = torch.cdist(a.flatten(1).double(), b.flatten(1).double()).argmin(1)
    assert torch.equal(nearest_train_indices(a, b, chunk=3), brute)


def test_pairing_rejects_unknown_source_and_size_mismatch() -> None:
    train = _train()
    with pytest.raises(KeyError):
        pair_with_real(EvalInputs(SampleBatch(train.images[:1], sources=("nope",)), train))
    with pytest.raises(ValueError, match="training image size"):
        pair_with_real(EvalInputs(SampleBatch(torch.zeros(1, 1, 4, 4)), train))


def test_bootstrap_ci_brackets_mean_and_is_seeded() -> None:
    values = np.random.default_rng(0).normal(3.0, 1.0, size=400)
    lo, hi = bootstrap_ci(values, seed=1)
    assert lo < values.mean() < hi
    # standard error ~ 0.05 -> 95 % interval width ~ 0.2
    assert 0.14 < hi - lo < 0.26
    assert bootstrap_ci(values, seed=1) == (lo, hi)
    assert bootstrap_ci([2.0], seed=0) == (2.0, 2.0)


def test_bootstrap_ci_accepts_statistic_without_axis() -> None:
    values = np.arange(20.0)
    lo, hi = bootstrap_ci(values, seed=0, statistic=lambda v: float(np.median(v)), n_boot=200)
    assert lo <= 9.5 <= hi
    with pytest.raises(ValueError):
        bootstrap_ci([1.0, float("nan")], seed=0)
