"""Which generators ``classifier_gain`` fits, on which real images, and what each draws.

One source of truth for :meth:`ClassifierGain.run` (which fits and samples them) and
:meth:`ClassifierGain.fit_plan` (which lists the fits beforehand, so a sweep can run each
as a job of its own). Indices are positions in the task's whole dataset.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from usbench.data.imageset import ImageSet
from usbench.data.splits import patient_kfold
from usbench.protocols import Capabilities, FitUnit


@dataclass(frozen=True)
class Draw:
    """``n`` synthetic images of class ``label``, sampled with ``seed``."""

    label: int
    n: int
    seed: int


@dataclass(frozen=True)
class PlannedFit:
    """A generator fit (``unit``: tag and training images) and the draws made from it."""

    unit: FitUnit
    draws: tuple[Draw, ...]


@dataclass(frozen=True)
class FoldShare:
    """One fold at one minority share.

    fold: the fold's number; share: the minority share kept.
    kept: the real training images kept; test: the fold's held-out images.
    tag: names this fold and share's generator fits; seed: its draws and classifiers.
    """

    fold: int
    share: float
    kept: tuple[int, ...]
    test: tuple[int, ...]
    tag: str
    seed: int


def fold_shares(
    data: ImageSet, *, folds: int, shares: tuple[float, ...], minority: int, seed: int
) -> list[FoldShare]:
    """Every fold × minority share, in the order the task runs them."""
    cells = []
    for i, (train_idx, test_idx) in enumerate(patient_kfold(data, k=folds, seed=seed)):
        train = data.subset(train_idx)
        for share in shares:
            kept = minority_kept(train, minority, share, seed=seed + i)
            cells.append(
                FoldShare(
                    fold=i,
                    share=share,
                    kept=tuple(int(train_idx[j]) for j in kept),
                    test=tuple(int(j) for j in test_idx),
                    tag=f"fold{i}-min{round(share * 100)}",
                    seed=seed * 1000 + i,
                )
            )
    return cells


def minority_kept(train: ImageSet, minority: int, share: float, *, seed: int) -> list[int]:
    """Positions in ``train`` kept when ``ceil(share × n)`` (at least 1) minority images
    stay, whole patients first (patients in a seeded order, then images)."""
    idx = np.flatnonzero(train.labels.numpy() == minority)
    if share >= 1.0 or idx.size == 0:
        return list(range(len(train)))
    rng = np.random.default_rng(seed)
    patients = sorted({train.patient_ids[i] for i in idx})
    rank = {p: r for r, p in enumerate(rng.permutation(patients))}
    jitter = rng.random(idx.size)
    order = sorted(range(idx.size), key=lambda j: (rank[train.patient_ids[idx[j]]], jitter[j]))
    n_keep = max(1, math.ceil(share * idx.size))
    dropped = set(idx[order[n_keep:]].tolist())
    return [i for i in range(len(train)) if i not in dropped]


def planned_fits(
    data: ImageSet, cell: FoldShare, wanted: dict[int, int], caps: Capabilities
) -> list[PlannedFit]:
    """The fits of one fold and share that draw ``wanted`` (``class -> n``) images: one
    per image of the class for single-image generators, one on every kept image for other
    class-conditional ones, one per class otherwise. Fits with nothing to draw are left
    out."""
    kept = np.asarray(cell.kept, dtype=np.int64)
    wanted = {label: n for label, n in wanted.items() if n > 0}
    if caps.class_conditional and not caps.single_image:
        if not wanted:
            return []
        draws = tuple(Draw(label, n, cell.seed + label) for label, n in wanted.items())
        return [PlannedFit(FitUnit(cell.tag, cell.kept), draws)]
    fits = []
    labels = data.labels.numpy()[kept]
    for label, n in wanted.items():
        members = np.flatnonzero(labels == label)  # positions among the kept images
        if not caps.single_image:
            unit = FitUnit(f"{cell.tag}-class{label}", tuple(int(i) for i in kept[members]))
            fits.append(PlannedFit(unit, (Draw(label, n, cell.seed + label),)))
            continue
        shares = np.array_split(np.arange(n), len(members))
        for member, share in zip(members, shares, strict=True):
            if len(share) == 0:
                continue
            index = int(kept[member])
            digest = hashlib.sha256(data.names[index].encode()).hexdigest()[:10]
            unit = FitUnit(f"{cell.tag}-img{digest}", (index,))
            fits.append(PlannedFit(unit, (Draw(label, len(share), cell.seed + int(member)),)))
    return fits
