"""From per-fold results of ``classifier_gain`` to the rows it stores.

Per (arm, share): the :data:`~usbench.tasks._classification.scores.OVERALL` and per-class
scores as mean ± std over folds with the paired difference to the ``real`` arm, and a
``kept_epoch`` row (mean ± std over folds of the epoch whose weights were kept). The
``accuracy`` row's ``details["training"]`` holds one record per fold: the training curves,
the kept epoch, the real and synthetic images per class the classifier saw and the
confusion matrix on the test fold (see
:meth:`usbench.tasks.classifier_gain.ClassifierGain.train_arm`), so that a reader can see
why an arm scored what it did (``usbench report`` draws them).
"""

from __future__ import annotations

import numpy as np
import torch

from usbench.protocols import TaskScore
from usbench.tasks._classification.models import TrainingHistory
from usbench.tasks._classification.scores import OVERALL, PER_CLASS, fold_score_row, mean_std

KEPT_EPOCH = "kept_epoch"


def class_counts(labels: torch.Tensor, n_classes: int) -> list[int]:
    """Images per class of ``labels`` (``N`` int class indices), a list of ``n_classes``."""
    return np.bincount(labels.numpy(), minlength=n_classes).tolist()


def training_record(
    history: TrainingHistory, labels: torch.Tensor, n_real: int, n_classes: int
) -> dict:
    """The JSON record of one training: kept epoch, curves and the images per class it
    saw (``labels``: real images first, ``n_real`` of them, then the synthetic ones)."""
    curves = {
        f"{split}_{kind}": getattr(history, f"{split}_{kind}")
        for split in ("train", "val", "monitor")
        for kind in ("loss", "accuracy")
    }
    curves = {k.replace("monitor_", "test_"): v for k, v in curves.items() if v}
    return {
        "kept_epoch": history.kept_epoch,
        "epochs_run": history.epochs_run,
        "stopped_early": history.stopped_early,
        "curves": curves,
        "train_images": {
            "real": class_counts(labels[:n_real], n_classes),
            "synthetic": class_counts(labels[n_real:], n_classes),
        },
    }


def aggregate(per_fold, training, counts, class_names, *, seed: int) -> list[TaskScore]:
    """Mean ± std over folds per (arm, share, metric[, class]), paired differences, the
    kept epoch, and the per-fold training records (see the module docstring)."""
    rows = []
    for (arm, share), folds in per_fold.items():
        group = f"{arm}/minority={round(share * 100)}%"
        reference = per_fold[("real", share)]
        info = {"arm": arm, "minority_pct": round(share * 100), "folds": len(folds),
                "real_synthetic_per_fold": counts[share]}  # fmt: skip
        records = training[(arm, share)]
        for metric in OVERALL:
            values = [f[metric] for f in folds]
            ref = [f[metric] for f in reference]
            extra = {"training": records} if metric == "accuracy" else {}
            rows.append(_row(metric, group, values, ref, {**info, **extra}, seed))
        for metric in PER_CLASS:
            for c, cls in enumerate(class_names):
                values = [f[metric][c] for f in folds]
                ref = [f[metric][c] for f in reference]
                details = {**info, "class": cls}
                rows.append(_row(metric, f"{group}/class={cls}", values, ref, details, seed))
        rows.append(_kept_epoch_row(group, records, info))
    return [row for row in rows if row is not None]


def _kept_epoch_row(group: str, records: list[dict], info: dict) -> TaskScore:
    epochs = [r["kept_epoch"] for r in records]
    mean, std, n = mean_std(epochs)
    details = {**info, "per_fold": epochs, "epochs_run": [r["epochs_run"] for r in records]}
    return TaskScore(metric=KEPT_EPOCH, group=group, value=mean, spread=std, n=n,
                     higher_is_better=True, details=details)  # fmt: skip


def _row(metric, group, values, reference, info, seed) -> TaskScore | None:
    return fold_score_row(metric, group, values, reference, info, seed=seed)
