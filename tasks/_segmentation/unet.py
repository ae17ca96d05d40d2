"""The segmentation network of ``segmentation_gain``: MONAI's 2-D ``UNet``, trained with
MONAI's ``DiceCELoss`` (softmax Dice + cross-entropy) and Adam.

Shapes: images ``N×1×H×W`` float in [0, 1]; masks ``N×H×W`` int64; predictions ``N×H×W``.
Training is seeded (weights, batch order) and runs on the CPU here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class UNetRecipe:
    """channels: feature maps per level; strides: down-sampling between levels;
    res_units: residual units per block; epochs, batch_size, learning_rate: Adam training."""

    channels: tuple[int, ...]
    strides: tuple[int, ...]
    res_units: int
    epochs: int
    batch_size: int
    learning_rate: float


def build_unet(n_classes: int, recipe: UNetRecipe, *, seed: int) -> nn.Module:
    """A seeded MONAI ``UNet`` (1 input channel, ``n_classes`` output channels)."""
    from monai.networks.nets import UNet

    torch.manual_seed(seed)
    return UNet(
        spatial_dims=2,
        in_channels=1,
        out_channels=n_classes,
        channels=recipe.channels,
        strides=recipe.strides,
        num_res_units=recipe.res_units,
    )


def train_unet(
    model: nn.Module,
    images: torch.Tensor,
    masks: torch.Tensor,
    recipe: UNetRecipe,
    *,
    seed: int,
) -> list[float]:
    """Train in place; returns the mean loss of every epoch."""
    from monai.losses import DiceCELoss

    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.learning_rate)
    generator = torch.Generator().manual_seed(seed)
    curve = []
    model.train()
    for _ in range(recipe.epochs):
        order = torch.randperm(len(images), generator=generator)
        total = 0.0
        for start in range(0, len(order), recipe.batch_size):
            idx = order[start : start + recipe.batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(images[idx] * 2 - 1), masks[idx][:, None])
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(idx)
        curve.append(total / len(order))
    return curve


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
    """Class map (argmax over the output channels) of every image, ``N×H×W`` int64."""
    model.eval()
    starts = range(0, len(images), batch_size)
    return torch.cat([model(images[i : i + batch_size] * 2 - 1).argmax(1) for i in starts])
