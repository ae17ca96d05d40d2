"""Segmentation scores with MONAI's metrics: Dice and the 95th-percentile Hausdorff distance.

Shapes: ``pred`` and ``target`` are ``N×H×W`` int64 class maps with values in
``0..n_classes-1``; class 0 is the background and is not scored (MONAI's
``include_background=False``). Per image and class: Dice ``2|P∩T| / (|P|+|T|)``; HD95 in
pixels (MONAI ``HausdorffDistanceMetric(percentile=95)``, between the masks' edges). A
class absent from the truth of an image has no Dice (NaN, MONAI's ``ignore_empty=True``);
HD95 is defined only where both the prediction and the truth contain the class — an
image where exactly one does is counted in ``hd95_missing`` instead (a missed or
hallucinated structure, which no distance describes).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
import torch.nn.functional as F


def one_hot(maps: torch.Tensor, n_classes: int) -> torch.Tensor:
    """``N×H×W`` int64 → ``N×K×H×W`` float one-hot (MONAI's metric input layout)."""
    return F.one_hot(maps.long(), n_classes).permute(0, 3, 1, 2).float()


def dice_per_image(pred: torch.Tensor, target: torch.Tensor, n_classes: int) -> np.ndarray:
    """``N×(K-1)`` Dice of every image and foreground class (NaN where both are empty)."""
    from monai.metrics import DiceMetric

    metric = DiceMetric(include_background=False, reduction="none", ignore_empty=True)
    return metric(one_hot(pred, n_classes), one_hot(target, n_classes)).numpy()


def hd95_per_image(pred: torch.Tensor, target: torch.Tensor, n_classes: int) -> np.ndarray:
    """``N×(K-1)`` HD95 in pixels (NaN where the prediction or the truth lacks the class)."""
    from monai.metrics import HausdorffDistanceMetric

    metric = HausdorffDistanceMetric(include_background=False, percentile=95, reduction="none")
    with warnings.catch_warnings():  # MONAI warns per empty class; handled in summarise
        warnings.filterwarnings("ignore", message=".*is all 0, this may result in nan")
        warnings.filterwarnings("ignore", ".*always_return_as_numpy", FutureWarning)
        return metric(one_hot(pred, n_classes), one_hot(target, n_classes)).numpy()


def summarise(pred: torch.Tensor, target: torch.Tensor, n_classes: int) -> dict[str, list[float]]:
    """Per foreground class: mean Dice, mean HD95 where defined, and ``hd95_missing``: the
    images where exactly one of prediction and truth contains the class."""
    dice = dice_per_image(pred, target, n_classes)
    hd = hd95_per_image(pred, target, n_classes)
    out: dict[str, list[float]] = {"dice": [], "hd95": [], "hd95_missing": []}
    for k in range(n_classes - 1):
        in_pred = (pred == k + 1).flatten(1).any(1).numpy()
        in_true = (target == k + 1).flatten(1).any(1).numpy()
        d = dice[:, k][~np.isnan(dice[:, k])]
        h = hd[:, k][in_pred & in_true & np.isfinite(hd[:, k])]
        out["dice"].append(float(d.mean()) if d.size else math.nan)
        out["hd95"].append(float(h.mean()) if h.size else math.nan)
        out["hd95_missing"].append(float((in_pred != in_true).sum()))
    return out
