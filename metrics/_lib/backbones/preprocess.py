"""Preprocessing of the feature backbones as named, frozen recipes.

Each recipe reproduces the reference toolkit's transform of a decoded image file: the
toolkits open 8-bit files with PIL and convert them to RGB, so a grey ``N×1×H×W`` image
in [0, 1] is first quantised to 8 bits (``round(255·x)``, exact for images read from
8-bit files), replicated to three channels by PIL's ``convert("RGB")``, then resized by
PIL (through torchvision's functional transforms, which antialias PIL resizes), centre
cropped, scaled to [0, 1] and normalised with the recipe's mean/std.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class ImagePrep:
    """How one backbone's reference toolkit turns an image into network input.

    size: side of the network input in pixels.
    resize: square (both sides to ``size``) or shorter (the shorter side to ``size``,
        aspect ratio kept).
    interpolation: PIL filter of the resize: bicubic or bilinear.
    crop: whether a ``size×size`` centre crop follows the resize.
    mean: per-channel mean subtracted after scaling to [0, 1].
    std: per-channel divisor after the mean.
    order: channel order handed to the network: rgb, or bgr (Keras/Caffe-trained nets).
    source: the toolkit and function whose transform this is.
    """

    size: int
    resize: Literal["square", "shorter"]
    interpolation: Literal["bicubic", "bilinear"]
    crop: bool
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    order: Literal["rgb", "bgr"] = "rgb"
    source: str = ""

    def describe(self) -> str:
        """One line naming every step, for cache keys and metric variants."""
        square = self.resize == "square"
        side = f"{self.size}×{self.size}" if square else f"shorter side {self.size}"
        crop = f", centre crop {self.size}" if self.crop else ""
        return (
            f"gray→RGB (8-bit, PIL); PIL {self.interpolation} resize to {side}{crop}; "
            f"/255; {self.order}; mean {list(self.mean)}, std {list(self.std)} ({self.source})"
        )


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """``N×1×H×W`` floats in [0, 1] → ``N×H×W`` uint8 (``round(255·x)``, clamped)."""
    return (images[:, 0].float() * 255.0).round().clamp(0, 255).to(torch.uint8)


def prepare(images: torch.Tensor, prep: ImagePrep) -> torch.Tensor:
    """``N×1×H×W`` grey images in [0, 1] → ``N×3×S×S'`` float32 network input.

    ``S×S'`` is ``size×size`` unless ``resize="shorter"`` without a crop keeps the aspect.
    """
    from PIL import Image
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as TF

    mode = {"bicubic": InterpolationMode.BICUBIC, "bilinear": InterpolationMode.BILINEAR}
    size = [prep.size, prep.size] if prep.resize == "square" else prep.size
    out = []
    for pixels in to_uint8(images).cpu().numpy():
        image = Image.fromarray(pixels).convert("RGB")
        image = TF.resize(image, size, interpolation=mode[prep.interpolation])
        if prep.crop:
            image = TF.center_crop(image, [prep.size, prep.size])
        x = TF.to_tensor(image)
        if prep.order == "bgr":
            x = x.flip(0)
        out.append(TF.normalize(x, list(prep.mean), list(prep.std)))
    return torch.stack(out)
