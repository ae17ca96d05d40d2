"""ResNet-50 features: SwAV (ImageNet, self-supervised) and RadImageNet (medical).

Both are torchvision's ``resnet50`` with the classifier removed, so the feature is the
2048-d global average pool of the last stage.

* ``swav-resnet50``: dgm-eval's ``swav`` encoder (``dgm_eval/models/swav.py``, from
  Morozov et al.'s self-supervised GAN evaluation): SwAV's 800-epoch checkpoint with the
  ``module.`` prefix removed; its projection head and prototypes are not used
  (``output_dim=0``). That ResNet pads by one and convolves with padding 2, which is
  torchvision's padding 3. Transform: ``Resize(224)`` (bilinear, shorter side, no crop),
  ``ToTensor``, ImageNet mean/std.
* ``radimagenet-resnet50``: RadImageNet's ResNet-50 (Mei et al. 2022, Keras, no top) in
  the PyTorch port the MONAI generative-model metrics load
  (``Warvito/radimagenet-models``, ``RadImageNet-ResNet50_notop.pth``). Keras's ResNet-50
  differs from torchvision's: every convolution has a bias, a bottleneck strides in its
  first 1×1 convolution (not the 3×3), and batch norms use ``eps=1.001e-5``;
  :func:`build_radimagenet` adapts torchvision's network accordingly, keeping its
  parameter names, which are the port's. Transform as MONAI's FID tutorial for it:
  channels in BGR order, [0, 1] minus the mean ``(0.406, 0.456, 0.485)``, no division;
  images resized to RadImageNet's 224×224 training size (bilinear).
"""

from __future__ import annotations

import torch
from torch import nn

from usbench.metrics._lib.backbones.loading import with_state

KERAS_BN_EPS = 1.001e-5


def _resnet50() -> nn.Module:
    import torchvision

    net = torchvision.models.resnet50(weights=None)
    net.fc = nn.Identity()
    return net


def from_swav_checkpoint(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """SwAV's state dict → torchvision keys (``module.`` removed, heads dropped)."""
    state = state.get("state_dict", state)
    out = {k.removeprefix("module."): v for k, v in state.items()}
    return {k: v for k, v in out.items() if not k.startswith(("projection_head.", "prototypes"))}


def build_swav(state: dict[str, torch.Tensor]) -> nn.Module:
    """torchvision ResNet-50 with SwAV's checkpoint; ``forward(N×3×H×W) → N×2048``."""
    return with_state(_resnet50, from_swav_checkpoint(state))


def _biased(conv: nn.Conv2d, stride: int) -> nn.Conv2d:
    return nn.Conv2d(
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        stride=stride,
        padding=conv.padding,
        bias=True,
    )


def keras_resnet50() -> nn.Module:
    """torchvision's ResNet-50 changed into Keras's ResNet-50 layout (random weights)."""
    net = _resnet50()
    net.conv1 = _biased(net.conv1, 2)
    for stage in (net.layer1, net.layer2, net.layer3, net.layer4):
        for block in stage:
            stride = block.conv2.stride[0]
            block.conv1 = _biased(block.conv1, stride)
            block.conv2 = _biased(block.conv2, 1)
            block.conv3 = _biased(block.conv3, 1)
            if block.downsample is not None:
                block.downsample[0] = _biased(block.downsample[0], stride)
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.eps = KERAS_BN_EPS
    return net


def build_radimagenet(state: dict[str, torch.Tensor]) -> nn.Module:
    """Keras-layout ResNet-50 with RadImageNet's ported weights;
    ``forward(N×3×224×224) → N×2048`` (global average pool of the last stage)."""
    return with_state(keras_resnet50, state)
