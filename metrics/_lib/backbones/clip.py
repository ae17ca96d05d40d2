"""CLIP image towers: OpenAI CLIP ViT-L/14 (CLIP-FID) and BiomedCLIP, through open_clip.

* ``clip-vitl14``: clean-fid's CLIP-FID recipe (``cleanfid/clip_features.py``:
  ``img_preprocess_clip`` then ``CLIP_fx``) with the ViT-L/14 network instead of
  clean-fid's default ViT-B/32: PIL bicubic resize of the shorter side to 224, centre
  crop 224, 8-bit, ``/255``, CLIP mean/std; the feature is ``encode_image`` (the
  projected 768-d image embedding, not normalised). The network is open_clip's
  ``ViT-L-14`` with QuickGELU, OpenAI's architecture. OpenAI publishes the checkpoint
  (a TorchScript archive) under its sha256; :func:`convert_openai_archive` checks that
  hash and keeps the image tower's tensors in float32.
* ``biomedclip``: BiomedCLIP's image tower (timm ``vit_base_patch16_224`` trunk, class
  token, linear projection to 512-d without bias: the ``vision_cfg`` of
  ``microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224``) wrapped by open_clip's
  ``TimmModel``; open_clip's eval transform for it (bicubic resize of the shorter side to
  224, centre crop, CLIP mean/std); the feature is ``encode_image`` (512-d).
  :func:`convert_biomedclip_checkpoint` keeps the ``visual.*`` tensors of the published
  ``open_clip_pytorch_model.bin``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from usbench.metrics._lib.backbones.loading import with_state
from usbench.weights.cache import sha256_file

OPENAI_VITL14_SHA256 = "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836"
BIOMEDCLIP_VISION = {"model_name": "vit_base_patch16_224", "embed_dim": 512, "pool": ""}


def visual_tensors(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The ``visual.*`` tensors of a whole-CLIP state dict, prefix removed, float32."""
    return {
        k.removeprefix("visual."): v.float().contiguous()
        for k, v in state.items()
        if k.startswith("visual.")
    }


def build_openai_vitl14(state: dict[str, torch.Tensor], *, depth: int | None = None) -> nn.Module:
    """open_clip's ViT-L/14 image tower (QuickGELU) with ``state`` (image-tower keys, as
    :func:`visual_tensors` gives them) loaded strictly; ``forward(N×3×224×224) → N×768``.

    ``depth`` builds fewer transformer blocks (tests with random weights only).
    """
    import open_clip
    from open_clip.model import _build_vision_tower

    cfg = dict(open_clip.get_model_config("ViT-L-14"))
    vision = dict(cfg["vision_cfg"], **({} if depth is None else {"layers": depth}))
    return with_state(lambda: _build_vision_tower(cfg["embed_dim"], vision, quick_gelu=True), state)


def build_biomedclip(state: dict[str, torch.Tensor], *, depth: int | None = None) -> nn.Module:
    """BiomedCLIP's image tower with ``state`` (image-tower keys) loaded strictly;
    ``forward(N×3×224×224) → N×512``.

    ``depth`` keeps the first blocks only (tests with random weights only).
    """
    from open_clip.timm_model import TimmModel

    def factory() -> nn.Module:
        net = TimmModel(**BIOMEDCLIP_VISION, image_size=224, proj="linear", pretrained=False)
        if depth is not None:
            net.trunk.blocks = net.trunk.blocks[:depth]
        return net

    return with_state(factory, state)


def _save_visual(state: dict[str, torch.Tensor], out: Path, note: str) -> None:
    from safetensors.torch import save_file

    save_file(visual_tensors(state), str(out), metadata={"format": note})


def convert_openai_archive(src: Path, out: Path) -> str:
    """OpenAI's ``ViT-L-14.pt`` (sha256 checked) → its image tower as safetensors."""
    digest = sha256_file(src)
    if digest != OPENAI_VITL14_SHA256:
        raise ValueError(
            f"{src.name}: sha256 {digest[:12]}… is not OpenAI's ViT-L-14.pt "
            f"({OPENAI_VITL14_SHA256[:12]}…)"
        )
    state = torch.jit.load(str(src), map_location="cpu").state_dict()
    _save_visual(state, out, f"usbench clip-vitl14 image tower; source sha256 {digest}")
    return f"image tower of OpenAI ViT-L-14.pt (sha256 {digest[:12]}…)"


def convert_biomedclip_checkpoint(src: Path, out: Path) -> str:
    """BiomedCLIP's ``open_clip_pytorch_model.bin`` → its image tower as safetensors."""
    digest = sha256_file(src)
    state = torch.load(src, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state)
    if not any(k.startswith("visual.trunk.") for k in state):
        raise ValueError(f"{src.name} holds no BiomedCLIP image tower (visual.trunk.*)")
    _save_visual(state, out, f"usbench biomedclip image tower; source sha256 {digest}")
    return f"image tower of BiomedCLIP open_clip_pytorch_model.bin (sha256 {digest[:12]}…)"
