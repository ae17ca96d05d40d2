"""Patient-level splits: no patient on both sides, full coverage, stratification, errors."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from usbench.data.imageset import ImageSet
from usbench.data.splits import patient_kfold, patient_split, split_hash

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# The lus layout: (label, patient, images) — 3 classes, 8 patients, 105 images.
LUS_LIKE = [
    (0, "84", 1), (0, "134", 39),
    (1, "114", 12), (1, "117", 12), (1, "219", 1),
    (2, "1", 12), (2, "3", 12), (2, "4", 16),
]  # fmt: skip


def _imageset(layout) -> ImageSet:
    labels, patients = [], []
    for label, patient, n in layout:
        labels += [label] * n
        patients += [patient] * n
    n = len(labels)
    return ImageSet(
        images=torch.zeros(n, 1, 2, 2),
        labels=torch.tensor(labels, dtype=torch.int64),
        class_names=tuple(f"c{i}" for i in range(max(labels) + 1)),
        patient_ids=tuple(patients),
        names=tuple(f"img{i:03d}" for i in range(n)),
        name="toy",
    )


def _patients(data, idx) -> set[str]:
    return {data.patient_ids[i] for i in idx}


@pytest.mark.parametrize("seed", range(10))
def test_patient_split_never_shares_a_patient(seed):
    data = _imageset(LUS_LIKE)
    train, test = patient_split(data, test_fraction=0.25, seed=seed)
    assert not _patients(data, train) & _patients(data, test)
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(len(data)))
    # round(0.25 × patients per class), halves up: 1 of 2 covid, 1 of 3 pneumonia, 1 of 3 regular
    assert len(_patients(data, test)) == 3
    assert {int(data.labels[i]) for i in test} == {0, 1, 2}


def test_patient_split_is_deterministic_and_seed_dependent():
    data = _imageset(LUS_LIKE)
    a = patient_split(data, test_fraction=0.25, seed=3)
    b = patient_split(data, test_fraction=0.25, seed=3)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    distinct = {tuple(patient_split(data, test_fraction=0.25, seed=s)[1]) for s in range(10)}
    assert len(distinct) > 1


def test_patient_split_keeps_single_patient_classes_in_training():
    data = _imageset([(0, "a", 3), (1, "b", 2), (1, "c", 2)])
    for seed in range(5):
        train, test = patient_split(data, test_fraction=0.5, seed=seed)
        assert _patients(data, train) >= {"a"} and len(_patients(data, test)) == 1


def test_patient_split_errors():
    with pytest.raises(ValueError, match="1 patient.*at least 2"):
        patient_split(_imageset([(0, "a", 4)]), test_fraction=0.2, seed=0)
    with pytest.raises(ValueError, match="strictly between 0 and 1, got 1.0"):
        patient_split(_imageset(LUS_LIKE), test_fraction=1.0, seed=0)


@pytest.mark.parametrize("stratify", [True, False])
@pytest.mark.parametrize("seed", range(5))
def test_kfold_covers_every_image_once(seed, stratify):
    data = _imageset(LUS_LIKE)
    folds = patient_kfold(data, k=4, seed=seed, stratify=stratify)
    assert len(folds) == 4
    tests = np.concatenate([te for _, te in folds])
    assert sorted(tests.tolist()) == list(range(len(data)))  # each image in one test fold
    for train, test in folds:
        assert not _patients(data, train) & _patients(data, test)
        assert len(train) + len(test) == len(data) and len(test) > 0


def test_kfold_stratifies_where_possible():
    # 12 patients, 6 per class, 3 images each: every fold gets both classes
    layout = [(p % 2, f"p{p}", 3) for p in range(12)]
    data = _imageset(layout)
    for seed in range(5):
        for _, test in patient_kfold(data, k=3, seed=seed):
            counts = np.bincount(data.labels[test].numpy(), minlength=2)
            assert counts.tolist() == [6, 6]


def test_kfold_needs_as_many_patients_as_folds():
    with pytest.raises(ValueError, match="has 8 patients, fewer than k=9 folds; use k <= 8"):
        patient_kfold(_imageset(LUS_LIKE), k=9, seed=0)
    with pytest.raises(ValueError, match="at least 2"):
        patient_kfold(_imageset(LUS_LIKE), k=1, seed=0)


def test_split_hash_identifies_the_split():
    data = _imageset(LUS_LIKE)
    train, test = patient_split(data, test_fraction=0.25, seed=0)
    h = split_hash(data, [(train, test)])
    assert len(h) == 64
    assert split_hash(data, [(train[::-1], test[::-1])]) == h  # order within a side is moot
    moved = (train[1:], np.sort(np.append(test, train[0])))
    assert split_hash(data, [moved]) != h
    folds = patient_kfold(data, k=3, seed=0)
    assert split_hash(data, folds) != split_hash(data, folds[::-1])
    assert split_hash(data, folds) == split_hash(data, patient_kfold(data, k=3, seed=0))
