"""A frozen open_clip model (BiomedCLIP for AWDiff) used as text and image encoder.

``load_clip(spec)`` accepts
* a local directory holding ``open_clip_config.json`` (with ``model_cfg`` and optionally
  ``preprocess_cfg``) and the weights (``open_clip_model.safetensors`` preferred), i.e.
  open_clip's own ``local-dir:`` layout, or
* an ``hf-hub:org/name`` id (default BiomedCLIP). The local Hugging Face cache is checked
  first; when the files are not cached and ``HF_HUB_OFFLINE``/``USBENCH_OFFLINE`` is set,
  or the download fails, :class:`WeightsUnavailable` says how to provide them.

The model is frozen (``requires_grad=False``, eval mode); gradients still flow through
:meth:`FrozenCLIP.encode_image` to its *input*, which the alignment loss needs.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

BIOMEDCLIP = "hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224"


class WeightsUnavailable(RuntimeError):
    """Pretrained weights are missing here; ``fix`` says exactly what to do.

    (Kept local until the shared weights cache offers the same exception.)
    """

    def __init__(self, reason: str, fix: str) -> None:
        super().__init__(f"{reason} Fix: {fix}")
        self.reason = reason
        self.fix = fix


class FrozenCLIP:
    """Frozen CLIP wrapper for ``B×1×H×W`` images in ``[0, 1]`` and text prompts.

    Not an ``nn.Module`` on purpose: a generator holding it does not save, train or
    average (EMA) its weights. ``embed_dim`` is the joint embedding size.
    """

    def __init__(self, model: nn.Module, tokenizer, source: str) -> None:
        self.model = model.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.source = source
        cfg = getattr(model.visual, "preprocess_cfg", {}) or {}
        size = cfg.get("size", getattr(model.visual, "image_size", 224))
        self.image_size = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
        self.mean = torch.tensor(cfg.get("mean", (0.48145466, 0.4578275, 0.40821073)))
        self.std = torch.tensor(cfg.get("std", (0.26862954, 0.26130258, 0.27577711)))

    @property
    def embed_dim(self) -> int:
        """Size of the joint text/image embedding."""
        return int(self.encode_text(["x"]).shape[-1])

    def to(self, device: torch.device | str) -> FrozenCLIP:
        """Move the model to ``device`` (in place); returns ``self``."""
        self.model.to(device)
        return self

    @torch.no_grad()
    def encode_text(self, prompts: list[str]) -> Tensor:
        """Unit-norm text embeddings, ``len(prompts)×embed_dim`` float32."""
        device = next(self.model.parameters()).device
        tokens = self.tokenizer(prompts).to(device)
        return F.normalize(self.model.encode_text(tokens).float(), dim=-1)

    def encode_image(self, images: Tensor) -> Tensor:
        """Unit-norm image embeddings of ``B×1×H×W`` images in ``[0, 1]``, ``B×embed_dim``.

        Grey is repeated to RGB, bilinearly resized to the model's input size and
        normalised with its mean/std; differentiable with respect to ``images``.
        """
        x = images.expand(-1, 3, -1, -1)
        x = F.interpolate(x, size=self.image_size, mode="bilinear", align_corners=False)
        mean, std = self.mean.to(x), self.std.to(x)
        x = (x - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
        return F.normalize(self.model.encode_image(x).float(), dim=-1)


def _offline() -> bool:
    flags = (os.environ.get("HF_HUB_OFFLINE", ""), os.environ.get("USBENCH_OFFLINE", ""))
    return any(f.lower() in ("1", "true", "yes", "on") for f in flags)


def _hub_cached(repo_id: str) -> bool:
    """Whether the config and some weights file of ``repo_id`` are in the local HF cache."""
    from huggingface_hub import try_to_load_from_cache

    if not isinstance(try_to_load_from_cache(repo_id, "open_clip_config.json"), str):
        return False
    names = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
    return any(isinstance(try_to_load_from_cache(repo_id, n), str) for n in names)


def _unavailable(spec: str, why: str) -> WeightsUnavailable:
    return WeightsUnavailable(
        f"CLIP weights {spec!r} are not available here ({why}).",
        "download them once on a machine with internet (open_clip caches "
        f"'{BIOMEDCLIP}' in the Hugging Face cache) and copy the cache here, or point "
        "--set clip_model=/path/to/dir at a folder with open_clip_config.json and the "
        "weights; or run without BiomedCLIP with --set text_encoder=label-embedding "
        "(recorded as a different variant, no alignment loss).",
    )


def load_clip(spec: str) -> FrozenCLIP:
    """Load the frozen CLIP named by ``spec`` (local directory or ``hf-hub:`` id)."""
    import open_clip

    if Path(spec).expanduser().is_dir():
        name = f"local-dir:{Path(spec).expanduser()}"
    elif spec.startswith("hf-hub:"):
        name = spec
        if not _hub_cached(spec.removeprefix("hf-hub:")) and _offline():
            raise _unavailable(spec, "not in the local Hugging Face cache and offline")
    else:
        raise _unavailable(spec, "neither an existing directory nor an 'hf-hub:' id")
    try:
        model = open_clip.create_model(name)
        tokenizer = open_clip.get_tokenizer(name)
    except (OSError, RuntimeError, ValueError) as err:
        raise _unavailable(spec, f"{type(err).__name__}: {err}") from err
    return FrozenCLIP(model, tokenizer, spec)
