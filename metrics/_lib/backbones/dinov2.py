"""DINOv2 ViT-B/14 and ViT-L/14 image features, as dgm-eval computes them.

dgm-eval (Stein et al. 2023, ``dgm_eval/models/dinov2.py``) loads
``torch.hub.load("facebookresearch/dinov2", "dinov2_vit{b,l}14")`` and takes the model's
output, the class token after the final LayerNorm (``x_norm_clstoken``; the hub head is
the identity): 768-d for ViT-B/14, 1024-d for ViT-L/14. Its transform: RGB, bicubic
resize to 224×224 (torchvision ``Resize((224, 224))`` on the PIL image), ``ToTensor``,
ImageNet mean/std. dgm-eval is not on PyPI; the recipe is taken from its definition.

The network is timm's ``vit_{base,large}_patch14_dinov2``, which has the hub models'
architecture and parameter names. The hub checkpoints hold position embeddings for a
37×37 grid (518 px); at 224 px the hub model interpolates them to 16×16 on every forward
(``interpolate_pos_encoding``: bicubic ``F.interpolate`` with
``scale_factor = (16 + 0.1) / 37``, no antialias). The input size is fixed here, so the
same interpolation is done once when the checkpoint is loaded and the result is the hub
model's. The hub's ``mask_token`` (used only in training) is dropped.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from usbench.metrics._lib.backbones.loading import with_state

INPUT_SIZE = 224
PATCH = 14
INTERPOLATE_OFFSET = 0.1  # the hub models' ``interpolate_offset``
TIMM_ARCH = {
    "dinov2-vitb14": "vit_base_patch14_dinov2",
    "dinov2-vitl14": "vit_large_patch14_dinov2",
}


def hub_pos_embed(pos_embed: torch.Tensor, grid: int) -> torch.Tensor:
    """``1×(1+M²)×D`` position embeddings → ``1×(1+grid²)×D`` as the hub model's
    ``interpolate_pos_encoding`` resamples them for a ``grid×grid`` patch input."""
    n_patches = pos_embed.shape[1] - 1
    side = math.isqrt(n_patches)
    if side == grid:
        return pos_embed
    dim = pos_embed.shape[-1]
    patches = pos_embed[:, 1:].float().reshape(1, side, side, dim).permute(0, 3, 1, 2)
    scale = (grid + INTERPOLATE_OFFSET) / side
    patches = F.interpolate(patches, scale_factor=(scale, scale), mode="bicubic", antialias=False)
    patches = patches.permute(0, 2, 3, 1).reshape(1, grid * grid, dim)
    return torch.cat([pos_embed[:, :1].float(), patches], dim=1).to(pos_embed.dtype)


def from_hub_checkpoint(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A hub DINOv2 state dict → timm's keys at 224 px (mask token dropped, position
    embeddings interpolated once as the hub model does at run time)."""
    out = {k: v for k, v in state.items() if k != "mask_token"}
    out["pos_embed"] = hub_pos_embed(state["pos_embed"], INPUT_SIZE // PATCH)
    return out


def build(name: str, state: dict[str, torch.Tensor], *, depth: int | None = None) -> nn.Module:
    """timm's DINOv2 ViT for ``name`` at 224 px with the hub checkpoint ``state`` loaded
    strictly; ``forward(N×3×224×224) → N×D`` class tokens after the final norm.

    ``depth`` builds fewer blocks (tests with random weights only).
    """
    import timm

    extra = {} if depth is None else {"depth": depth}

    def factory() -> nn.Module:
        return timm.create_model(
            TIMM_ARCH[name], pretrained=False, num_classes=0, img_size=INPUT_SIZE, **extra
        )

    return with_state(factory, from_hub_checkpoint(state))
