"""The few test images a ``segmentation_gain`` arm keeps for its prediction figure.

For the first fold of every (arm, real share), :data:`EXAMPLES` test images spread over
the test fold (first, last and evenly between, in test order) with their ground truth and
the U-Net's prediction (the argmax over its output channels, as scored), stored packed
(:mod:`usbench.packed_arrays`) in the ``details["examples"]`` of the arm's mean ``dice``
row; ``usbench report`` draws them (:mod:`usbench.segmentation_figures`).
"""

from __future__ import annotations

import numpy as np
import torch

from usbench.data.imageset import ImageSet
from usbench.packed_arrays import pack_uint8
from usbench.tasks._segmentation.scores import dice_per_image

EXAMPLES = 3


def example_indices(n: int, k: int = EXAMPLES) -> list[int]:
    """Up to ``k`` distinct positions in ``range(n)``, first and last included."""
    return sorted({int(round(x)) for x in np.linspace(0, n - 1, min(k, n))}) if n else []


def example_record(test: ImageSet, pred: torch.Tensor, fold: int) -> dict:
    """The JSON record of a fold's examples: names, class names, the images (8-bit), the
    truth and predicted ``K×H×W`` maps (``pred``: ``N×H×W`` of the whole test fold), and
    each image's Dice (MONAI) averaged over the foreground classes in its truth."""
    idx = example_indices(len(test))
    truth = test.masks[idx]
    dice = dice_per_image(pred[idx], truth, len(test.mask_names))
    images = (test.images[idx, 0].numpy() * 255.0 + 0.5).astype(np.uint8)
    per_image = [float(np.nanmean(row)) if np.isfinite(row).any() else None for row in dice]
    return {
        "fold": fold,
        "names": [test.names[i] for i in idx],
        "classes": list(test.mask_names),
        "images": pack_uint8(images),
        "truth": pack_uint8(truth.numpy()),
        "prediction": pack_uint8(pred[idx].numpy()),
        "dice": per_image,
    }
