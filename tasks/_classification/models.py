"""Downstream classifiers: a POCOVID-Net style VGG16, a ResNet-18 and a small CNN.

Every classifier takes ``N×1×H×W`` float32 images in ``[0, 1]`` and returns ``N×C``
logits. The torchvision backbones see the grayscale image repeated on three channels and
normalised with the ImageNet mean and std (the statistics their weights were trained with).

ImageNet weights come from the weights cache (:mod:`usbench.weights`, entries
``vgg16-imagenet`` and ``resnet18-imagenet``); when they are missing,
:func:`build_classifier` raises :class:`usbench.protocols.MetricUnavailable` with the fix.
``pretrained=False`` builds the same network from a seeded random initialisation.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

ClassifierName = Literal["pocovid", "resnet18", "small-cnn"]
CLASSIFIERS: tuple[str, ...] = ("pocovid", "resnet18", "small-cnn")
WEIGHTS_OF: dict[str, str] = {"pocovid": "vgg16-imagenet", "resnet18": "resnet18-imagenet"}

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


class GrayToImageNet(nn.Module):
    """``N×1×H×W`` in [0,1] → ``N×3×H×W`` normalised with the ImageNet mean/std."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.expand(-1, 3, -1, -1) - self.mean) / self.std


class POCOVIDNet(nn.Module):
    """VGG16 convolutional base + the POCOVID-Net head (seed 003 §3.3, Born et al. 2021).

    Head: global average pool → dense 64 → ReLU → dropout 0.5 → batch norm → dense C
    (softmax is applied by the loss / at prediction). Only the last convolution of the
    base (``conv5_3``) and the head are trainable: ~2.39 M trainable and ~12.35 M frozen
    parameters for three classes, the counts seed 003 reports (~2.4 M / ~12.4 M).

    The Keras original pools 4×4 windows of the 7×7 map of a 224 px input; this head
    averages the whole map, so that small inputs (32–64 px) still work.
    """

    def __init__(self, n_classes: int, *, features: nn.Sequential) -> None:
        super().__init__()
        self.to_rgb = GrayToImageNet()
        self.features = features
        for param in self.features.parameters():
            param.requires_grad_(False)
        last_conv = [m for m in self.features if isinstance(m, nn.Conv2d)][-1]
        for param in last_conv.parameters():
            param.requires_grad_(True)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(512, 64),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.BatchNorm1d(64),
            nn.Linear(64, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``N×1×H×W`` in [0,1] (H, W ≥ 32) → ``N×C`` logits."""
        return self.head(self.features(self.to_rgb(x)))


class ResNet18Classifier(nn.Module):
    """torchvision ResNet-18 with a new ``C``-way final layer; every layer trains (seed 004)."""

    def __init__(self, n_classes: int, *, backbone: nn.Module) -> None:
        super().__init__()
        self.to_rgb = GrayToImageNet()
        backbone.fc = nn.Linear(backbone.fc.in_features, n_classes)
        self.backbone = backbone

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``N×1×H×W`` in [0,1] → ``N×C`` logits."""
        return self.backbone(self.to_rgb(x))


class SmallCNN(nn.Module):
    """Three conv blocks (16-32-64 channels, BN, ReLU, max-pool) + linear; for CPU runs."""

    def __init__(self, n_classes: int, *, width: int = 16) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = [1, width, 2 * width, 4 * width]
        for c_in, c_out in zip(channels[:-1], channels[1:], strict=True):
            layers += [
                nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(4 * width, n_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``N×1×H×W`` in [0,1] (H, W ≥ 8) → ``N×C`` logits."""
        return self.head(self.features(x))


def build_classifier(name: str, n_classes: int, *, pretrained: bool, seed: int) -> nn.Module:
    """A fresh classifier ``name`` (one of :data:`CLASSIFIERS`) for ``n_classes`` classes.

    ``pretrained=True`` loads ImageNet weights into the torchvision backbone from the
    weights cache and raises :class:`usbench.protocols.MetricUnavailable` (with the
    ``usbench weights fetch``/``import`` fix) when they are not there; it is ignored for
    ``small-cnn``, which has no pretrained form. New layers are initialised from ``seed``
    (PyTorch's default layer initialisation; the VGG16 base is built without its
    120 M-parameter classifier, which POCOVID-Net does not use).
    """
    if name not in CLASSIFIERS:
        raise ValueError(f"unknown classifier {name!r}; choose one of {', '.join(CLASSIFIERS)}")
    state = None
    if pretrained and name in WEIGHTS_OF:
        from usbench.weights import load_state_dict

        state = load_state_dict(WEIGHTS_OF[name])  # raises MetricUnavailable with the fix
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _construct(name, n_classes, state)


def _construct(name: str, n_classes: int, state: dict | None) -> nn.Module:
    import torchvision

    if name == "small-cnn":
        return SmallCNN(n_classes)
    if name == "pocovid":
        from torchvision.models.vgg import cfgs, make_layers

        # Only the convolutional base: the 120 M-parameter VGG classifier is never used.
        features = make_layers(cfgs["D"], batch_norm=False)
        if state is not None:
            prefix = "features."
            features.load_state_dict(
                {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
            )
        return POCOVIDNet(n_classes, features=features)
    resnet = torchvision.models.resnet18(weights=None)
    if state is not None:
        resnet.load_state_dict(state)
    return ResNet18Classifier(n_classes, backbone=resnet)


def parameter_counts(model: nn.Module) -> tuple[int, int]:
    """``(trainable, frozen)`` parameter counts of ``model``."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    return trainable, frozen


def train_classifier(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    recipe: TrainRecipe,
    seed: int,
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
    val: tuple[torch.Tensor, torch.Tensor] | None = None,
    monitor: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> TrainingHistory:
    """Fit ``model`` with Adam + cross-entropy on ``images`` (``N×1×H×W``) / ``labels`` (``N``).

    ``augment`` transforms each batch (see
    :class:`usbench.tasks._classification.augment.RegularAugment`).
    With ``val`` and ``recipe.patience > 0``, training stops when the validation loss
    has not improved for ``patience`` epochs and the weights of the best epoch are restored
    (early stopping); the best epoch is at least 1, so the model is never left untrained.
    ``monitor`` (e.g. the test fold) is only evaluated after each epoch for the curves;
    it never chooses an epoch and does not change the weights. Deterministic in ``seed``;
    ``model`` ends in eval mode; returns its :class:`TrainingHistory`.
    """
    generator = torch.Generator().manual_seed(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.Adam(params, lr=recipe.learning_rate)
    history = TrainingHistory()
    best, best_state, waited = math.inf, None, 0
    early = val is not None and recipe.patience > 0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # dropout
        for epoch in range(1, recipe.epochs + 1):
            loss, accuracy = _train_epoch(
                model, images, labels, recipe.batch_size, optimiser, generator, augment
            )
            history.add("train", loss, accuracy)
            for split, pair in (("val", val), ("monitor", monitor)):
                if pair is not None:
                    history.add(split, *_loss_accuracy(model, *pair, recipe.batch_size))
            history.kept_epoch = epoch
            if not early:
                continue
            if history.val_loss[-1] < best - 1e-6:
                best, waited, best_epoch = history.val_loss[-1], 0, epoch
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                waited += 1
                if waited >= recipe.patience:
                    history.stopped_early = epoch < recipe.epochs
                    break
    if best_state is not None:
        model.load_state_dict(best_state)
        history.kept_epoch = best_epoch
    model.eval()
    return history


@dataclass(frozen=True)
class TrainRecipe:
    """Optimiser settings: epochs, batch size, Adam learning rate, early-stopping patience."""

    epochs: int
    batch_size: int
    learning_rate: float
    patience: int = 0


@dataclass
class TrainingHistory:
    """The curves of one classifier training and the epoch whose weights were kept.

    train_loss, train_accuracy: mean cross-entropy and accuracy over each epoch's training
        batches (as trained: augmented, dropout on), one value per epoch.
    val_loss, val_accuracy: on the early-stopping validation images after each epoch
        (empty without them).
    monitor_loss, monitor_accuracy: on the monitored images (the test fold) after each
        epoch, for reading only (empty without them).
    kept_epoch: 1-based epoch whose weights the model holds at the end (the best
        validation epoch with early stopping, else the last one run); 0 before training.
    stopped_early: whether the patience ran out before the last epoch.
    """

    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    monitor_loss: list[float] = field(default_factory=list)
    monitor_accuracy: list[float] = field(default_factory=list)
    kept_epoch: int = 0
    stopped_early: bool = False

    @property
    def epochs_run(self) -> int:
        """Epochs trained (the length of every curve)."""
        return len(self.train_loss)

    def add(self, split: str, loss: float, accuracy: float) -> None:
        """Append one epoch's ``loss`` and ``accuracy`` of ``split`` (train/val/monitor)."""
        getattr(self, f"{split}_loss").append(loss)
        getattr(self, f"{split}_accuracy").append(accuracy)


def _train_epoch(
    model, images, labels, batch_size, optimiser, generator, augment
) -> tuple[float, float]:
    """One pass over the shuffled images; returns the mean batch loss and the accuracy."""
    model.train()
    order = torch.randperm(len(images), generator=generator)
    total, correct, seen = 0.0, 0, 0
    for start in range(0, len(images), batch_size):
        idx = order[start : start + batch_size]
        if len(idx) < 2 and len(images) >= 2:
            continue  # batch norm needs two samples; the leftover image is seen next epoch
        batch = images[idx] if augment is None else augment(images[idx], generator)
        logits = model(batch)
        loss = nn.functional.cross_entropy(logits, labels[idx])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        total += loss.item() * len(idx)
        correct += int((logits.argmax(1) == labels[idx]).sum())
        seen += len(idx)
    return total / max(seen, 1), correct / max(seen, 1)


@torch.no_grad()
def _loss_accuracy(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int
) -> tuple[float, float]:
    logits = predict_logits(model, images, batch_size=batch_size)
    loss = float(nn.functional.cross_entropy(logits, labels))
    return loss, float((logits.argmax(1) == labels).float().mean())


@torch.no_grad()
def predict_logits(model: nn.Module, images: torch.Tensor, *, batch_size: int = 64) -> torch.Tensor:
    """``N×C`` logits of ``images`` (``N×1×H×W``) with ``model`` in eval mode."""
    model.eval()
    return torch.cat([model(images[i : i + batch_size]) for i in range(0, len(images), batch_size)])
