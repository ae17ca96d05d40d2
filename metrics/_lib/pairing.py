"""Pair every generated image with its real counterpart, for paired metrics.

Three rules, and the name of the rule is part of every paired score's variant:

* ``"source"`` — the sample carries the name of the training image it was derived from
  (``SampleBatch.sources``); its counterpart is ``train.images[train.index_of(name)]``.
* ``"label-map"`` — the sample was generated from a real image's label map (seed 002's
  protocol; ``SampleBatch.pairing == "label-map"``); its counterpart is that image,
  looked up in the held-out split first, then in training.
* ``"nearest-train"`` — the sample carries no source; its counterpart is the training
  image nearest to it in pixel L2 distance (ties go to the lower training index). This
  rewards memorisation, so it is a fidelity proxy only; report it as such.
"""

from __future__ import annotations

import torch

from usbench.data import resident_pages
from usbench.data.imageset import ImageSet
from usbench.protocols import EvalInputs
from usbench.samples import SampleBatch

SOURCE = "source"
LABEL_MAP = "label-map"
NEAREST_TRAIN = "nearest-train"


def pair_with_real(inputs: EvalInputs) -> tuple[torch.Tensor, str]:
    """Real counterpart of every generated image.

    Returns ``(real, pairing)``: ``real`` is ``N×1×H×W`` float32 in [0, 1], row ``i``
    the counterpart of ``inputs.generated.images[i]``; ``pairing`` is ``"source"`` or
    ``"nearest-train"`` or ``"label-map"`` (see the module docstring).
    """
    return pair_images(inputs.generated, inputs.train, inputs.heldout)


def pair_images(
    generated: SampleBatch, train: ImageSet, heldout: ImageSet | None = None
) -> tuple[torch.Tensor, str]:
    """:func:`pair_with_real` on its parts."""
    if len(train) == 0:
        raise ValueError("no training images to pair the samples with")
    if generated.images.shape[2:] != train.images.shape[2:]:
        raise ValueError(
            f"generated images are {tuple(generated.images.shape[2:])} but training images "
            f"are {tuple(train.images.shape[2:])}; sample at the training image size"
        )
    if generated.sources is not None and generated.pairing == LABEL_MAP:
        pools = [d for d in (heldout, train) if d is not None]
        return torch.stack([_find(name, pools) for name in generated.sources]), LABEL_MAP
    if generated.sources is not None:
        index = torch.tensor([train.index_of(name) for name in generated.sources])
        return train.images[index].contiguous(), SOURCE
    return train.images[nearest_train_indices(generated.images, train.images)], NEAREST_TRAIN


def _find(name: str, pools: list[ImageSet]) -> torch.Tensor:
    for pool in pools:
        if name in pool.names:
            return pool.images[pool.index_of(name)]
    raise KeyError(f"no real image named {name!r} for a label-map sample")


def nearest_train_indices(
    images: torch.Tensor, train_images: torch.Tensor, *, chunk: int = 256
) -> torch.Tensor:
    """Index (``N`` int64) of the training image nearest in pixel L2 to each image.

    ``images`` is ``N×C×H×W``, ``train_images`` ``M×C×H×W``; distances are computed in
    float64 so that ties and near-ties resolve the same way on every machine.
    """
    flat_train = train_images.reshape(len(train_images), -1).double()
    train_sq = (flat_train * flat_train).sum(1)
    out = []
    for batch in resident_pages.batches(images, chunk):
        flat = batch.reshape(-1, flat_train.shape[1]).double()
        dist = (flat * flat).sum(1, keepdim=True) - 2.0 * flat @ flat_train.T + train_sq
        out.append(dist.argmin(dim=1))
    if not out:
        return torch.zeros(0, dtype=torch.int64)
    return torch.cat(out)
