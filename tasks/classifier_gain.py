"""``classifier_gain``: do a generator's synthetic images help a classifier on real images?

Protocol (seed 003 §3.3, §5.2, Fig. 3; seed 004 §4):

1. k folds split by patient (:func:`usbench.data.splits.patient_kfold`); each fold's test
   images are real and no test patient has an image in training.
2. For each share ``p`` of ``minority_fractions``: keep ``p`` of the minority class's real
   training images, whole patients first (patients in a seeded order, then images).
3. A generator (this run's config) is trained on that fold's kept real training images
   only — never on test patients: a single-image generator once per image of the class
   it must synthesise (even when it is also class-conditional, as SinDDM is: one model per
   image is what it trains anyway), any other class-conditional generator once on all of
   them, any other generator once per class it must synthesise. Synthetic images:
   ``synthetic_mode="minority"`` adds ``synthetic_per_image`` per kept minority image
   (seed 003: 32 per single-image model); ``"balance"`` pads every class to the largest
   one (seed 004).
4. Arms, each a fresh classifier: ``real``, ``real+aug`` (rotation ≤10°, translation
   ≤10 %, flips), ``real+synthetic``, ``real+synthetic+aug``. Test images are never
   synthetic and never augmented.
5. Scores per arm and share: accuracy, balanced accuracy, macro F1, PPV, AUC-ROC and
   per-class precision / recall / F1 as mean ± std over folds, plus the fold-wise paired
   difference to the ``real`` arm (bootstrap interval and Wilcoxon p in ``details``),
   and the mean kept epoch. Each arm × fold × share also records its training curves,
   kept epoch, real and synthetic images per class and test confusion matrix
   (:mod:`usbench.tasks._classification.summary`).

ImageNet weights for ``pocovid`` (VGG16) and ``resnet18`` come from the weights cache;
without them the task raises :class:`usbench.protocols.MetricUnavailable` with the fix,
unless ``pretrained=false`` (recorded in :meth:`ClassifierGain.variant`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F

from usbench.config import config_to_dict
from usbench.data.imageset import ImageSet
from usbench.data.splits import patient_split
from usbench.protocols import Capabilities, FitUnit, Task, TaskScore
from usbench.tasks._classification.augment import RegularAugment
from usbench.tasks._classification.fit_plan import (
    FoldShare,
    PlannedFit,
    fold_shares,
    minority_kept,
    planned_fits,
)
from usbench.tasks._classification.models import (
    WEIGHTS_OF,
    TrainRecipe,
    build_classifier,
    predict_logits,
    train_classifier,
)
from usbench.tasks._classification.scores import confusion_counts, fold_scores
from usbench.tasks._classification.summary import aggregate, class_counts, training_record

ARMS = ("real", "real+aug", "real+synthetic", "real+synthetic+aug")


@dataclass(frozen=True)
class ClassifierGainConfig:
    """Every setting of the protocol (defaults: seed 003 with POCOVID-Net).

    folds: k of the patient-level k-fold cross-validation [>= 2].
    minority_class: class whose real training images are reduced and synthesised;
        empty → the class with the fewest images.
    minority_fractions: shares of the minority's real training images kept (0 < p ≤ 1) (0, 1].
    synthetic_mode: ``minority`` (add ``synthetic_per_image`` per kept minority image)
        or ``balance`` (pad every class to the largest class).
    synthetic_per_image: synthetic images per kept minority image (seed 003: 32) [>= 0].
    arms: which of ``real``, ``real+aug``, ``real+synthetic``, ``real+synthetic+aug``.
    classifier: ``pocovid`` (VGG16 + head), ``resnet18`` or ``small-cnn``.
    pretrained: ImageNet weights for the backbone (from the weights cache).
    image_size: side the classifier sees (images and samples are resized to it) [>= 8].
    epochs, batch_size, learning_rate: Adam training of the classifier [> 0].
    patience: early stopping on a patient-level validation split of the real training
        images (``val_fraction`` of the patients); 0 disables it, and so does a fold
        whose held-out patients would cover a single class (with a warning) [>= 0].
    val_fraction: share of the training patients held out for early stopping [0, 1).
    """

    folds: int = 5
    minority_class: str = ""
    minority_fractions: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0)
    synthetic_mode: Literal["minority", "balance"] = "minority"
    synthetic_per_image: int = 32
    arms: tuple[str, ...] = ARMS
    classifier: Literal["pocovid", "resnet18", "small-cnn"] = "pocovid"
    pretrained: bool = True
    image_size: int = 224
    epochs: int = 40
    batch_size: int = 8
    learning_rate: float = 1e-4
    patience: int = 5
    val_fraction: float = 0.1

    def __post_init__(self) -> None:
        bad_arms = sorted(set(self.arms) - set(ARMS))
        if bad_arms or "real" not in self.arms:
            raise ValueError(f"arms must include 'real' and come from {', '.join(ARMS)}")
        if not self.minority_fractions or not all(0 < p <= 1 for p in self.minority_fractions):
            raise ValueError("minority_fractions must be shares in (0, 1], e.g. 0.25,1.0")
        if self.folds < 2 or self.epochs < 1 or self.batch_size < 2:
            raise ValueError("folds >= 2, epochs >= 1 and batch_size >= 2 are needed")
        if self.image_size < 8 or (self.classifier == "pocovid" and self.image_size < 32):
            raise ValueError("image_size must be >= 8 (>= 32 for pocovid)")


class ClassifierGain(Task):
    """The classifier-gain experiment (see the module docstring)."""

    name: ClassVar[str] = "classifier_gain"
    version: ClassVar[str] = "1"
    Config: ClassVar[type] = ClassifierGainConfig
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # seed 003: POCOVID-Net, Adam, 40 epochs, batch 8, early stopping, 5 folds.
        "paper": {},
        # seed 004: ResNet-18, Adam 1e-4, batch 16, 30 epochs, classes padded to balance.
        "paper-resnet18": {
            "classifier": "resnet18",
            "batch_size": 16,
            "epochs": 30,
            "patience": 0,
            "synthetic_mode": "balance",
            "minority_fractions": (1.0,),
        },
        # CPU minutes. 30 epochs: on lus at 64 px the small CNN's real-only balanced
        # accuracy is 0.39 after 8 epochs (one class predicted) and 0.78 after 30 or 60.
        "quick": {
            "folds": 3,
            "minority_fractions": (0.25, 1.0),
            "synthetic_per_image": 4,
            "classifier": "small-cnn",
            "image_size": 64,
            "epochs": 30,
            "batch_size": 16,
            "learning_rate": 1e-3,
            "patience": 0,
        },
        "smoke": {
            "folds": 2,
            "minority_fractions": (0.5, 1.0),
            "synthetic_per_image": 2,
            "classifier": "small-cnn",
            "image_size": 32,
            "epochs": 2,
            "batch_size": 16,
            "learning_rate": 1e-3,
            "patience": 0,
        },
    }

    def variant(self) -> dict[str, Any]:
        """The full protocol, including whether the backbone was ImageNet-pretrained."""
        variant = config_to_dict(self.config)
        variant["pretrained"] = self.config.pretrained and self.config.classifier in WEIGHTS_OF
        return variant

    def run(self, data: ImageSet, train_generator: Any, *, seed: int) -> list[TaskScore]:
        """Run every fold, share and arm; return mean ± std rows (see module docstring)."""
        cfg = self.config
        self._require_weights(seed)
        caps = getattr(train_generator, "capabilities", Capabilities())
        per_fold: dict[tuple[str, float], list[dict]] = {}
        training: dict[tuple[str, float], list[dict]] = {}
        counts: dict[float, list[tuple[int, int]]] = {}
        for cell, fits in self._plan(data, caps, seed):
            kept, test = data.subset(cell.kept), data.subset(cell.test)
            synthetic = self._synthesise(data, fits, train_generator)
            counts.setdefault(cell.share, []).append((len(kept), len(synthetic[0])))
            for arm in cfg.arms:
                scores, record = self._score_arm(arm, kept, synthetic, test, cell.seed)
                per_fold.setdefault((arm, cell.share), []).append(scores)
                training.setdefault((arm, cell.share), []).append({"fold": cell.fold, **record})
        return aggregate(per_fold, training, counts, data.class_names, seed=seed)

    def fit_plan(self, data: ImageSet, capabilities: Capabilities, *, seed: int) -> list[FitUnit]:
        """The generator fits of :meth:`run`, in order (see :meth:`Task.fit_plan`)."""
        self._require_weights(seed)  # no fit jobs for a run that cannot score
        return [fit.unit for _, fits in self._plan(data, capabilities, seed) for fit in fits]

    def _require_weights(self, seed: int) -> None:
        """Fail before any training when ImageNet weights are missing."""
        cfg = self.config
        build_classifier(cfg.classifier, 2, pretrained=cfg.pretrained, seed=seed)

    def _plan(self, data, caps, seed) -> list[tuple[FoldShare, list[PlannedFit]]]:
        """Every fold and share with the generator fits it draws synthetic images from."""
        cfg = self.config
        minority = _minority_label(data, cfg.minority_class)
        cells = fold_shares(
            data, folds=cfg.folds, shares=cfg.minority_fractions, minority=minority, seed=seed
        )
        if not any(a.startswith("real+synthetic") for a in cfg.arms):
            return [(cell, []) for cell in cells]
        plan = []
        for cell in cells:
            wanted = _synthetic_counts(data.subset(cell.kept), minority, cfg)
            plan.append((cell, planned_fits(data, cell, wanted, caps)))
        return plan

    # -- synthetic images --------------------------------------------------------------
    def _synthesise(self, data, fits: list[PlannedFit], train_generator) -> _Labelled:
        """Synthetic images (classifier size) and labels drawn from the planned fits."""
        if not any(a.startswith("real+synthetic") for a in self.config.arms):
            return _empty(self.config.image_size)
        parts = []
        for fit in fits:
            generator = train_generator(data.subset(fit.unit.indices), fit.unit.tag)
            parts += [_draw(generator, d.n, d.label, d.seed) for d in fit.draws]
        images = torch.cat([p[0] for p in parts]) if parts else _empty(1)[0]
        labels = torch.cat([p[1] for p in parts]) if parts else _empty(1)[1]
        return _resize(images, self.config.image_size), labels

    # -- one arm ---------------------------------------------------------------------
    def _score_arm(self, arm, kept: ImageSet, synthetic, test: ImageSet, seed: int):
        """Train ``arm`` on one fold; its scores on the real ``test`` images and its record
        (curves, kept epoch, image counts, confusion matrix)."""
        test_images = _resize(test.images, self.config.image_size)
        model, record = self.train_arm(arm, kept, synthetic, (test_images, test.labels), seed)
        probs = torch.softmax(predict_logits(model, test_images), dim=1).numpy()
        record["confusion"] = confusion_counts(test.labels.numpy(), probs)
        return fold_scores(test.labels.numpy(), probs), record

    def train_arm(self, arm: str, kept: ImageSet, synthetic, test, seed: int):
        """A fresh classifier trained for ``arm`` on the real ``kept`` images (and the
        ``synthetic`` ``(images, labels)`` in the synthetic arms); ``test`` ``(images,
        labels)`` is only monitored. Returns the model and a record: ``kept_epoch``,
        ``epochs_run``, ``stopped_early``, ``curves`` (per epoch: train, val and test loss
        and accuracy), ``train_images`` (``real`` / ``synthetic`` counts per class as the
        classifier saw them), ``val_images`` and ``test_images`` per class, ``augmented``,
        ``early_stopping`` (whether a validation set chose the kept epoch).
        """
        cfg = self.config
        n_classes = len(kept.class_names)
        real_train, val = self._validation_split(kept, seed)
        images, labels, n_real = _training_set(arm, real_train, synthetic, cfg.image_size)
        model = build_classifier(cfg.classifier, n_classes, pretrained=cfg.pretrained, seed=seed)
        recipe = TrainRecipe(cfg.epochs, cfg.batch_size, cfg.learning_rate, cfg.patience)
        augment = RegularAugment() if arm.endswith("+aug") else None
        val_pair = None if val is None else (_resize(val.images, cfg.image_size), val.labels)
        history = train_classifier(
            model, images, labels, recipe=recipe, seed=seed, augment=augment, val=val_pair,
            monitor=test,
        )  # fmt: skip
        record = training_record(history, labels, n_real, n_classes)
        record["val_images"] = class_counts(labels[:0] if val is None else val.labels, n_classes)
        record["test_images"] = class_counts(test[1], n_classes)
        record["augmented"] = augment is not None
        record["early_stopping"] = val is not None
        return model, record

    def _validation_split(self, kept: ImageSet, seed: int) -> tuple[ImageSet, ImageSet | None]:
        """Real training images → (train, early-stopping validation) by patient.

        No validation (and no early stopping: all ``epochs`` on every kept image) when
        patience is off, with fewer than three patients, or when the held-out patients
        would cover a single class: a validation loss of one class is lowest for a model
        that predicts that class everywhere, so it would choose the epoch by bias (with
        few patients per class, :func:`patient_split` holds out one patient of one class).
        """
        cfg = self.config
        if cfg.patience <= 0 or cfg.val_fraction <= 0 or len(set(kept.patient_ids)) < 3:
            return kept, None
        train_idx, val_idx = patient_split(kept, test_fraction=cfg.val_fraction, seed=seed)
        if len(set(kept.labels[val_idx].tolist())) < 2:
            warnings.warn(
                f"{kept.name}: the early-stopping validation patients cover one class, so "
                "this fold trains all epochs without early stopping (recorded as "
                "early_stopping = false); more patients per class, or a larger "
                "val_fraction, give it a validation set.",
                stacklevel=2,
            )
            return kept, None
        return kept.subset(train_idx), kept.subset(val_idx)


# --------------------------------------------------------------------------------------
_Labelled = tuple[torch.Tensor, torch.Tensor]


def _empty(size: int) -> _Labelled:
    return torch.zeros(0, 1, size, size), torch.zeros(0, dtype=torch.int64)


def _resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """``N×1×h×w`` → ``N×1×size×size`` (bilinear, antialiased), clamped to [0, 1]."""
    if images.shape[-2:] == (size, size) or len(images) == 0:
        return images if len(images) else torch.zeros(0, 1, size, size)
    out = F.interpolate(images, size=(size, size), mode="bilinear", antialias=True)
    return out.clamp(0.0, 1.0)


def _training_set(arm: str, real: ImageSet, synthetic: _Labelled, size: int):
    """The images and labels an arm trains on: the real ones (resized), then the
    synthetic ones in the ``real+synthetic`` arms. Returns ``(images, labels, n_real)``."""
    images, labels = _resize(real.images, size), real.labels
    if "synthetic" in arm:
        images, labels = torch.cat([images, synthetic[0]]), torch.cat([labels, synthetic[1]])
    return images, labels, len(real)


def _minority_label(data: ImageSet, name: str) -> int:
    if not name:
        return int(np.bincount(data.labels.numpy(), minlength=len(data.class_names)).argmin())
    if name not in data.class_names:
        raise ValueError(
            f"minority_class={name!r} is not a class of {data.name}; "
            f"use --task-set minority_class=<one of {', '.join(data.class_names)}>"
        )
    return data.class_names.index(name)


def _reduce_minority(train: ImageSet, minority: int, share: float, *, seed: int) -> ImageSet:
    """Keep ``ceil(share × n)`` (at least 1) minority images, whole patients first."""
    return train.subset(minority_kept(train, minority, share, seed=seed))


def _synthetic_counts(kept: ImageSet, minority: int, cfg: ClassifierGainConfig) -> dict[int, int]:
    counts = np.bincount(kept.labels.numpy(), minlength=len(kept.class_names))
    if cfg.synthetic_mode == "minority":
        return {minority: int(counts[minority]) * cfg.synthetic_per_image}
    return {c: int(counts.max() - n) for c, n in enumerate(counts) if counts.max() > n > 0}


def _draw(generator, n: int, label: int, seed: int) -> _Labelled:
    if n <= 0:
        return _empty(1)
    batch = generator.sample(n, seed=seed, labels=torch.full((n,), label, dtype=torch.int64))
    return batch.images, torch.full((n,), label, dtype=torch.int64)
