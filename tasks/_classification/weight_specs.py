"""The pretrained backbones of the classifier_gain task, for the ``usbench.weights``
manifest (the VGG16 it shares with LPIPS is declared by the metrics)."""

from __future__ import annotations

from usbench.weights.specs import WeightSpec, torchvision_spec


def specs() -> list[WeightSpec]:
    """torchvision ResNet-18 ImageNet."""
    return [
        torchvision_spec(
            "resnet18-imagenet",
            "resnet18-f37072fd.pth",
            "torchvision ResNet-18 ImageNet (downstream classifiers)",
            ("classifier_gain",),
        )
    ]
