"""A frozen open_clip model (BiomedCLIP for AWDiff) used as text and image encoder.

``load_clip(spec)`` accepts
* a local directory holding ``open_clip_config.json`` (with ``model_cfg`` and optionally
  ``preprocess_cfg``) and the weights (``open_clip_model.safetensors`` preferred), i.e.
  open_clip's own ``local-dir:`` layout, or
* an ``hf-hub:org/name`` id (default BiomedCLIP). For BiomedCLIP the weights come, in this
  order, from the usbench weights cache (:mod:`usbench.weights`, entry ``biomedclip``,
  checksummed; ``usbench weights fetch|import``), from the local Hugging Face cache, or
  are fetched into the weights cache when online. The architecture config and tokenizer
  (small files) always come from the hub id, cached by Hugging Face.

Whatever cannot be had raises :class:`usbench.protocols.MetricUnavailable` whose ``fix``
names the ``usbench weights`` command, the local-directory option and the documented
``text_encoder=label-embedding`` fallback.

The model is frozen (``requires_grad=False``, eval mode); gradients still flow through
:meth:`FrozenCLIP.encode_image` to its *input*, which the alignment loss needs.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from usbench import paths, weights
from usbench.protocols import MetricUnavailable

BIOMEDCLIP = "hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224"

#: ``hf-hub:`` ids whose weights have an entry in the usbench weights manifest.
CACHED_WEIGHTS: dict[str, str] = {BIOMEDCLIP: "biomedclip"}


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
    return paths.offline()


def _hub_cached(repo_id: str) -> bool:
    """Whether the config and some weights file of ``repo_id`` are in the local HF cache."""
    from huggingface_hub import try_to_load_from_cache

    if not isinstance(try_to_load_from_cache(repo_id, "open_clip_config.json"), str):
        return False
    names = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
    return any(isinstance(try_to_load_from_cache(repo_id, n), str) for n in names)


def unavailable(spec: str, why: str) -> MetricUnavailable:
    """The error for CLIP weights that cannot be had, with every way to fix it."""
    name = CACHED_WEIGHTS.get(spec)
    cache_fix = f"{weights.fix_command(name)}; " if name else ""
    return MetricUnavailable(
        f"CLIP weights {spec!r} are not available here ({why.rstrip('.')}).",
        f"{cache_fix}or point --set clip_model=/path/to/dir at a folder with "
        "open_clip_config.json and the weights; or run without BiomedCLIP with "
        "--set text_encoder=label-embedding (recorded as a different variant, no "
        "alignment loss).",
    )


def load_clip(spec: str) -> FrozenCLIP:
    """Load the frozen CLIP named by ``spec`` (local directory or ``hf-hub:`` id).

    Raises :class:`MetricUnavailable` (with the fix) when the weights cannot be had.
    """
    if Path(spec).expanduser().is_dir():
        return _open_clip(spec, f"local-dir:{Path(spec).expanduser()}")
    if not spec.startswith("hf-hub:"):
        raise unavailable(spec, "neither an existing directory nor an 'hf-hub:' id")
    name = CACHED_WEIGHTS.get(spec)
    in_hf_cache = _hub_cached(spec.removeprefix("hf-hub:"))
    if name and (weights.verify(name).state.startswith("ok") or not in_hf_cache):
        return model_from_weights_cache(spec, name)  # fetches when online
    if not in_hf_cache and _offline():
        raise unavailable(spec, "not in the local Hugging Face cache and offline")
    return _open_clip(spec, spec)


def _open_clip(spec: str, name: str) -> FrozenCLIP:
    """open_clip's own loading of config and weights (``local-dir:`` or ``hf-hub:``)."""
    import open_clip

    try:
        model = open_clip.create_model(name)
        tokenizer = open_clip.get_tokenizer(name)
    except (OSError, RuntimeError, ValueError) as err:
        raise unavailable(spec, f"{type(err).__name__}: {err}") from err
    return FrozenCLIP(model, tokenizer, spec)


def model_from_weights_cache(spec: str, weights_name: str) -> FrozenCLIP:
    """Architecture and tokenizer from ``spec``, weights from the usbench cache entry.

    ``spec`` is an ``hf-hub:`` id or ``local-dir:`` folder holding the config; the
    verified file is loaded by open_clip's ``load_checkpoint`` with
    ``weights_only=True`` (its key fix-ups for older transformers apply), strictly.
    """
    import open_clip
    from open_clip.factory import load_checkpoint

    try:
        path = weights.resolve(weights_name)
    except MetricUnavailable as err:  # add the clip_model and fallback routes to its fix
        raise unavailable(spec, err.reason) from err
    try:
        model = open_clip.create_model(spec, load_weights=False, pretrained_text=False)
        tokenizer = open_clip.get_tokenizer(spec)
    except (OSError, RuntimeError, ValueError) as err:
        raise unavailable(spec, f"config/tokenizer: {type(err).__name__}: {err}") from err
    load_checkpoint(model, str(path), strict=True, weights_only=True)
    return FrozenCLIP(model, tokenizer, f"{spec} (weights: usbench cache {weights_name!r})")
