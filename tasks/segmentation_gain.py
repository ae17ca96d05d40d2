"""``segmentation_gain``: do a label-map-conditioned generator's (image, mask) pairs help a
segmentation network on real images?

The question of mask-conditioned ultrasound generators (seed 002 puts B-maps into SDM;
Stojanovski et al. study it on CAMUS). Protocol:

1. k folds split by patient; each fold's test images are real, never seen in training.
2. For each share ``p`` of ``real_fractions``: keep ``p`` of the training patients (whole
   patients, seeded order) — fewer real annotated images, the case synthesis should help.
3. A generator (this run's config, which must be ``conditioning=label-map``) is trained on
   the kept real images and their label maps only; it then draws ``synthetic_per_image``
   images from each kept label map (flipped left-right on every other draw, so the maps
   differ from the real ones as an annotator's would). Each synthetic image is paired with
   the label map it was drawn from.
4. Arms, each a fresh MONAI ``UNet`` (:mod:`usbench.tasks._segmentation.unet`): ``real``
   and ``real+synthetic``. Test images are never synthetic.
5. Scores per arm and share: Dice and HD95 (MONAI, foreground classes, see
   :mod:`usbench.tasks._segmentation.scores`) per class and their mean over classes, as
   mean ± std over folds, with the fold-wise paired difference to ``real`` (bootstrap
   interval and Wilcoxon p in ``details``).
6. For the report's figure, the mean ``dice`` row of each arm and share keeps a few test
   images of the first fold with their truth and prediction
   (:mod:`usbench.tasks._segmentation.examples`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from usbench.config import config_to_dict
from usbench.data.imageset import ImageSet
from usbench.data.splits import patient_kfold
from usbench.protocols import Capabilities, FitUnit, Task, TaskScore
from usbench.tasks._classification.scores import fold_score_row
from usbench.tasks._segmentation.examples import example_record
from usbench.tasks._segmentation.scores import summarise
from usbench.tasks._segmentation.unet import UNetRecipe, build_unet, predict, train_unet

ARMS = ("real", "real+synthetic")


@dataclass(frozen=True)
class SegmentationGainConfig:
    """Every setting of the protocol.

    folds: k of the patient-level k-fold cross-validation [>= 2].
    real_fractions: shares of the training patients kept (0, 1].
    synthetic_per_image: synthetic images drawn per kept real label map [>= 1].
    arms: ``real`` and/or ``real+synthetic`` (``real`` is always needed).
    channels: U-Net feature maps per level [>= 1].
    strides: down-sampling factor between consecutive levels [>= 1].
    res_units: residual units per U-Net block [>= 0].
    epochs, batch_size, learning_rate: Adam training of the U-Net (DiceCE loss) [> 0].
    """

    folds: int = 5
    real_fractions: tuple[float, ...] = (0.25, 0.5, 1.0)
    synthetic_per_image: int = 2
    arms: tuple[str, ...] = ARMS
    channels: tuple[int, ...] = (32, 64, 128, 256)
    strides: tuple[int, ...] = (2, 2, 2)
    res_units: int = 2
    epochs: int = 100
    batch_size: int = 8
    learning_rate: float = 1e-3

    def __post_init__(self) -> None:
        if "real" not in self.arms or set(self.arms) - set(ARMS):
            raise ValueError(f"arms must include 'real' and come from {', '.join(ARMS)}")
        if not self.real_fractions or not all(0 < p <= 1 for p in self.real_fractions):
            raise ValueError("real_fractions must be shares in (0, 1], e.g. 0.5,1.0")
        if self.folds < 2 or self.epochs < 1 or self.batch_size < 1:
            raise ValueError("folds >= 2, epochs >= 1 and batch_size >= 1 are needed")
        if len(self.strides) != len(self.channels) - 1 or self.synthetic_per_image < 1:
            raise ValueError("one stride between each pair of channels; synthetic_per_image >= 1")

    def recipe(self) -> UNetRecipe:
        """The U-Net settings."""
        return UNetRecipe(
            self.channels, self.strides, self.res_units, self.epochs, self.batch_size,
            self.learning_rate,
        )  # fmt: skip


class SegmentationGain(Task):
    """The segmentation-gain experiment (see the module docstring)."""

    name: ClassVar[str] = "segmentation_gain"
    version: ClassVar[str] = "1"
    Config: ClassVar[type] = SegmentationGainConfig
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # a GPU-sized protocol: 5 folds, three real shares, a 4-level residual U-Net.
        "paper": {},
        # CPU minutes on lus-phantom at 32-64 px.
        "quick": {
            "folds": 3,
            "real_fractions": (0.5, 1.0),
            "synthetic_per_image": 2,
            "channels": (8, 16, 32),
            "strides": (2, 2),
            "res_units": 1,
            "epochs": 30,
        },
        "smoke": {
            "folds": 2,
            "real_fractions": (1.0,),
            "synthetic_per_image": 1,
            "channels": (4, 8),
            "strides": (2,),
            "res_units": 0,
            "epochs": 2,
        },
    }

    def variant(self) -> dict[str, Any]:
        """The full protocol."""
        return config_to_dict(self.config)

    def run(self, data: ImageSet, train_generator: Any, *, seed: int) -> list[TaskScore]:
        """Every fold, share and arm; mean ± std rows (see the module docstring)."""
        if not data.has_masks:
            raise ValueError(
                f"segmentation_gain needs label maps; {data.name} has none (lus-phantom has)"
            )
        cfg = self.config
        per_fold: dict[tuple[str, float], list[dict[str, list[float]]]] = {}
        counts: dict[float, list[tuple[int, int]]] = {}
        for fold, share, fit, test_idx, fold_seed in self._folds(data, seed):
            kept, test = data.subset(fit.indices), data.subset(test_idx)
            synthetic = self._synthesise(kept, train_generator, fit.tag, fold_seed)
            counts.setdefault(share, []).append((len(kept), len(synthetic[0])))
            for arm in cfg.arms:
                scores = self._score_arm(arm, kept, synthetic, test, fold_seed, fold=fold)
                per_fold.setdefault((arm, share), []).append(scores)
        return _aggregate(per_fold, counts, data.mask_names[1:], seed=seed)

    def fit_plan(self, data: ImageSet, capabilities: Capabilities, *, seed: int) -> list[FitUnit]:
        """One fit per fold and share on the kept images (see :meth:`Task.fit_plan`)."""
        if "real+synthetic" not in self.config.arms:
            return []
        return [fit for _, _, fit, _, _ in self._folds(data, seed)]

    def _folds(self, data: ImageSet, seed: int) -> list[tuple[int, float, FitUnit, list[int], int]]:
        """``(fold, share, kept images as a fit, test indices, seed)`` of every fold and
        share."""
        cells = []
        for i, (train_idx, test_idx) in enumerate(
            patient_kfold(data, k=self.config.folds, seed=seed)
        ):
            train = data.subset(train_idx)
            for share in self.config.real_fractions:
                kept = keep_patient_positions(train, share, seed=seed + i)
                fit = FitUnit(
                    f"fold{i}-real{round(share * 100)}", tuple(int(train_idx[j]) for j in kept)
                )
                cells.append((i, share, fit, test_idx, seed * 1000 + i))
        return cells

    def _synthesise(
        self, kept: ImageSet, train_generator: Any, tag: str, seed: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(images N×1×H×W, masks N×H×W)`` drawn from the kept label maps."""
        if "real+synthetic" not in self.config.arms:
            return kept.images[:0], kept.masks[:0]
        generator = train_generator(kept, tag)
        if not generator.uses_label_maps():
            raise ValueError(
                "segmentation_gain needs a generator conditioned on label maps: e.g. "
                "-g ddpm:conditioning=label-map or -g bmap_ddpm:conditioning=label-map"
            )
        reps = self.config.synthetic_per_image
        masks = kept.masks.repeat(reps, 1, 1)
        flip = (torch.arange(len(masks)) // len(kept)) % 2 == 1
        masks[flip] = masks[flip].flip(-1)
        labels = kept.labels.repeat(reps) if generator.capabilities.class_conditional else None
        batch = generator.sample_from_maps(masks, seed=seed, labels=labels)
        return batch.images, masks

    def _score_arm(self, arm, kept: ImageSet, synthetic, test: ImageSet, seed: int, fold: int):
        images, masks = kept.images, kept.masks
        if arm == "real+synthetic":
            images, masks = torch.cat([images, synthetic[0]]), torch.cat([masks, synthetic[1]])
        n_classes = len(kept.mask_names)
        model = build_unet(n_classes, self.config.recipe(), seed=seed)
        train_unet(model, images, masks, self.config.recipe(), seed=seed)
        pred = predict(model, test.images)
        scores: dict = summarise(pred, test.masks, n_classes)
        if fold == 0:
            scores["examples"] = example_record(test, pred, fold)
        return scores


def keep_patients(train: ImageSet, share: float, *, seed: int) -> ImageSet:
    """``ceil(share × patients)`` (at least 1) whole patients, in a seeded order."""
    return train.subset(keep_patient_positions(train, share, seed=seed))


def keep_patient_positions(train: ImageSet, share: float, *, seed: int) -> list[int]:
    """Positions in ``train`` of the images :func:`keep_patients` keeps."""
    patients = sorted(set(train.patient_ids))
    order = np.random.default_rng(seed).permutation(len(patients))
    chosen = {patients[j] for j in order[: max(1, math.ceil(share * len(patients)))]}
    return [i for i, p in enumerate(train.patient_ids) if p in chosen]


def _aggregate(per_fold, counts, class_names, *, seed: int) -> list[TaskScore]:
    rows = []
    for (arm, share), folds in per_fold.items():
        group = f"{arm}/real={round(share * 100)}%"
        reference = per_fold[("real", share)]
        info = {"arm": arm, "real_pct": round(share * 100), "folds": len(folds),
                "real_synthetic_per_fold": counts[share]}  # fmt: skip
        for metric, higher in (("dice", True), ("hd95", False)):
            values = [_class_mean(f[metric]) for f in folds]
            ref = [_class_mean(f[metric]) for f in reference]
            extra = {"examples": folds[0]["examples"]} if metric == "dice" else {}
            rows.append(_row(metric, group, values, ref, {**info, **extra}, higher, seed))
            for c, cls in enumerate(class_names):
                values = [f[metric][c] for f in folds]
                ref = [f[metric][c] for f in reference]
                details = {**info, "class": cls}
                cls_group = f"{group}/class={cls}"
                rows.append(_row(metric, cls_group, values, ref, details, higher, seed))
    return [row for row in rows if row is not None]


def _class_mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def _row(metric, group, values, reference, info, higher, seed) -> TaskScore | None:
    return fold_score_row(
        metric, group, values, reference, info, seed=seed, higher_is_better=higher
    )
