"""Patient-level train/test splits and k-fold cross-validation.

No patient ever has images on both sides of a split. Stratification works on patients:
each patient is assigned the class of most of its images (ties → the lower class index),
and classes are balanced across sides "where possible" — a class with a single patient
cannot be on both sides and stays in training. Every function is deterministic in
``seed``.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from collections.abc import Sequence

import numpy as np

from usbench.data.imageset import ImageSet

IndexPair = tuple[np.ndarray, np.ndarray]


def patient_split(data: ImageSet, *, test_fraction: float, seed: int) -> IndexPair:
    """Split ``data`` into ``(train_idx, test_idx)`` (sorted int64 arrays) by patient.

    For each class, ``round(test_fraction × patients of that class)`` (halves rounded up)
    of its patients go to test, but never all of them; if that leaves the test side
    empty, one patient of the largest class is moved there.

    Raises:
        ValueError: ``test_fraction`` outside (0, 1) or fewer than two patients.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction}")
    patients, patient_of_image, patient_class = _patients(data)
    if len(patients) < 2:
        raise ValueError(
            f"{data.name} has {len(patients)} patient(s); a patient-level split needs at "
            "least 2 (add patient ids, or evaluate on the training images)."
        )
    rng = np.random.default_rng(seed)
    test_patients: list[int] = []
    for cls in np.unique(patient_class):
        members = rng.permutation(np.flatnonzero(patient_class == cls))
        n_test = min(math.floor(test_fraction * len(members) + 0.5), len(members) - 1)
        test_patients += members[:n_test].tolist()
    if not test_patients:
        largest = np.bincount(patient_class).argmax()
        test_patients = [int(rng.choice(np.flatnonzero(patient_class == largest)))]
    is_test = np.isin(patient_of_image, test_patients)
    _warn_untested_classes(data, patient_class, patient_class[test_patients])
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def _warn_untested_classes(data: ImageSet, patient_class: np.ndarray, tested: np.ndarray) -> None:
    """Say which classes the test side lacks (too few patients to put one there)."""
    lacking = [int(c) for c in np.unique(patient_class) if c not in set(tested.tolist())]
    if not lacking:
        return
    described = ", ".join(
        f"{data.class_names[c]!r} ({int(np.sum(patient_class == c))} patient(s))" for c in lacking
    )
    warnings.warn(
        f"{data.name}: the test split has no image of class {described}: a class needs at "
        "least 2 patients to appear on both sides, so it only trains and test-set metrics "
        "do not cover it. Add patients of that class, or raise the test fraction.",
        stacklevel=3,
    )


def patient_kfold(data: ImageSet, *, k: int, seed: int, stratify: bool = True) -> list[IndexPair]:
    """``k`` folds of ``(train_idx, test_idx)``; every image is in exactly one test fold.

    ``stratify=True`` balances classes across folds (scikit-learn
    ``StratifiedGroupKFold``, shuffled with ``seed``); ``False`` only balances fold sizes
    (``GroupKFold`` over patients in a seeded random order).

    Raises:
        ValueError: ``k < 2``, or fewer patients than folds (the message gives both numbers).
    """
    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

    if k < 2:
        raise ValueError(f"k must be at least 2, got {k}")
    patients, patient_of_image, _ = _patients(data)
    if len(patients) < k:
        raise ValueError(
            f"{data.name} has {len(patients)} patients, fewer than k={k} folds; "
            f"use k <= {len(patients)} or a dataset with more patients."
        )
    labels = data.labels.numpy()
    if stratify:
        splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
        groups = patient_of_image
    else:
        splitter = GroupKFold(n_splits=k)
        groups = np.random.default_rng(seed).permutation(len(patients))[patient_of_image]
    with warnings.catch_warnings():
        # "The least populated class has only n members": stratification is best effort.
        warnings.filterwarnings("ignore", message=".*least populated class.*")
        folds = [
            (np.sort(tr).astype(np.int64), np.sort(te).astype(np.int64))
            for tr, te in splitter.split(np.zeros(len(data)), labels, groups)
        ]
    for i, (_, test) in enumerate(folds):
        if test.size == 0:
            raise ValueError(f"fold {i} of {k} got no test images; use fewer folds")
    return folds


def split_hash(data: ImageSet, splits: Sequence[tuple[Sequence[int], Sequence[int]]]) -> str:
    """sha256 identifying a split (or a list of folds) of ``data`` by image names.

    Pass ``[(train_idx, test_idx)]`` for one split or the list from
    :func:`patient_kfold`. Independent of index order within a side; changes when any
    image moves side, when folds are reordered, or when the dataset's name changes.
    """
    payload = {
        "dataset": data.name,
        "folds": [
            [sorted(data.names[int(i)] for i in train), sorted(data.names[int(i)] for i in test)]
            for train, test in splits
        ],
    }
    return hashlib.sha256(json.dumps(payload, separators=(",", ":")).encode()).hexdigest()


def _patients(data: ImageSet) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Distinct patients, the patient index of each image, and each patient's class."""
    patients = sorted(set(data.patient_ids))
    position = {p: i for i, p in enumerate(patients)}
    patient_of_image = np.array([position[p] for p in data.patient_ids], dtype=np.int64)
    counts = np.zeros((len(patients), max(len(data.class_names), 1)), dtype=np.int64)
    np.add.at(counts, (patient_of_image, data.labels.numpy()), 1)
    return patients, patient_of_image, counts.argmax(axis=1)
