"""Regular (geometric) data augmentation of the POCOVID-Net training scheme.

Seed 003 §3.3 after Born et al. (2021): rotations up to 10°, translations up to 10 % of
the side, horizontal and vertical flips. Applied on the fly to each training batch, with
a caller-supplied ``torch.Generator`` so that a run is reproducible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class RegularAugment:
    """Random affine + flips for ``N×1×H×W`` float32 images in [0,1].

    max_rotation_deg: rotation drawn uniformly in ``[-max, max]`` degrees.
    max_translation: shift drawn uniformly in ``[-max, max]`` × side, per axis.
    hflip, vflip: each flip applied with probability 0.5.
    Pixels moved in from outside the image are 0 (black, like the ultrasound background).
    """

    max_rotation_deg: float = 10.0
    max_translation: float = 0.1
    hflip: bool = True
    vflip: bool = True

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Augmented copy of ``images`` (same shape, dtype and range)."""
        n = images.shape[0]
        angle = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(self.max_rotation_deg)
        shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * self.max_translation * 2
        sign_x = self._flip_signs(n, self.hflip, generator)
        sign_y = self._flip_signs(n, self.vflip, generator)
        cos, sin = torch.cos(angle), torch.sin(angle)
        theta = torch.stack(
            [
                torch.stack([cos * sign_x, -sin * sign_y, shift[:, 0]], dim=1),
                torch.stack([sin * sign_x, cos * sign_y, shift[:, 1]], dim=1),
            ],
            dim=1,
        )
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        out = F.grid_sample(
            images, grid, mode="bilinear", padding_mode="zeros", align_corners=False
        )
        return out.clamp(0.0, 1.0)

    @staticmethod
    def _flip_signs(n: int, enabled: bool, generator: torch.Generator) -> torch.Tensor:
        if not enabled:
            return torch.ones(n)
        return torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
