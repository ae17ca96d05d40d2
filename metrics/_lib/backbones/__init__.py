"""Feature backbones of the set metrics, selected by name (``fid:features=dinov2-vitb14``).

``inception-pool3`` (FID's network, the default) and its ``pool2``/``pool1`` layers are
computed by :mod:`usbench.metrics._lib.features`; the others are listed in
:data:`BACKBONES`, each with its network builder, its weights (a ``usbench weights``
entry), the reference toolkit's preprocessing (:class:`ImagePrep`) and which output is
the feature. :func:`build` makes the network, :func:`embed` turns ``N×1×H×W`` images into
``N×D`` float64 features.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from usbench.data import resident_pages
from usbench.metrics._lib.backbones.preprocess import (
    CLIP_MEAN,
    CLIP_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImagePrep,
    prepare,
)
from usbench.protocols import MetricUnavailable

#: every ``features=`` value of the set metrics
Features = Literal[
    "inception-pool3",
    "inception-pool2",
    "inception-pool1",
    "dinov2-vitb14",
    "dinov2-vitl14",
    "clip-vitl14",
    "swav-resnet50",
    "radimagenet-resnet50",
    "biomedclip",
]
FEATURE_NAMES: tuple[str, ...] = get_args(Features)


@dataclass(frozen=True)
class Backbone:
    """One feature extractor.

    name: the ``features=`` value.
    description: what network and weights.
    weights: the ``usbench weights`` entry holding its checkpoint.
    dims: feature width D.
    feature: which output is the feature.
    prep: the reference toolkit's preprocessing.
    reference: the toolkit whose extraction this reproduces.
    medical: trained on medical images.
    """

    name: str
    description: str
    weights: str
    dims: int
    feature: str
    prep: ImagePrep
    reference: str
    medical: bool = False


_DGM_EVAL_DINOV2 = ImagePrep(
    224, "square", "bicubic", False, IMAGENET_MEAN, IMAGENET_STD, source="dgm-eval dinov2"
)
_CLEAN_FID_CLIP = ImagePrep(
    224, "shorter", "bicubic", True, CLIP_MEAN, CLIP_STD, source="clean-fid CLIP-FID"
)
_OPEN_CLIP_EVAL = ImagePrep(
    224, "shorter", "bicubic", True, CLIP_MEAN, CLIP_STD, source="open_clip eval transform"
)
_DGM_EVAL_SWAV = ImagePrep(
    224, "shorter", "bilinear", False, IMAGENET_MEAN, IMAGENET_STD, source="dgm-eval swav"
)
_MONAI_RADIMAGENET = ImagePrep(
    224,
    "square",
    "bilinear",
    False,
    (0.406, 0.456, 0.485),
    (1.0, 1.0, 1.0),
    order="bgr",
    source="MONAI generative FID tutorial",
)
_CLS = "class token after the final LayerNorm"
_EMBED = "encode_image: projected image embedding (not normalised)"
_GAP = "global average pool of the last stage"

BACKBONES: dict[str, Backbone] = {
    b.name: b
    for b in (
        Backbone("dinov2-vitb14", "DINOv2 ViT-B/14 (LVD-142M)", "dinov2-vitb14", 768, _CLS,
                 _DGM_EVAL_DINOV2, "dgm-eval"),
        Backbone("dinov2-vitl14", "DINOv2 ViT-L/14 (LVD-142M), dgm-eval's default",
                 "dinov2-vitl14", 1024, _CLS, _DGM_EVAL_DINOV2, "dgm-eval"),
        Backbone("clip-vitl14", "OpenAI CLIP ViT-L/14 image tower", "clip-vitl14", 768,
                 _EMBED, _CLEAN_FID_CLIP, "clean-fid"),
        Backbone("swav-resnet50", "SwAV ResNet-50 (ImageNet, 800 epochs)", "swav-resnet50",
                 2048, _GAP, _DGM_EVAL_SWAV, "dgm-eval"),
        Backbone("radimagenet-resnet50", "RadImageNet ResNet-50 (CT, MRI, ultrasound)",
                 "radimagenet-resnet50", 2048, _GAP, _MONAI_RADIMAGENET, "MONAI generative",
                 medical=True),
        Backbone("biomedclip", "BiomedCLIP ViT-B/16 image tower (PMC-15M)",
                 "biomedclip-image", 512, _EMBED, _OPEN_CLIP_EVAL, "open_clip", medical=True),
    )
}  # fmt: skip


def get(name: str) -> Backbone:
    """The backbone called ``name``; unknown names list the known ones."""
    if name not in BACKBONES:
        raise ValueError(f"unknown feature backbone {name!r}; use one of {sorted(BACKBONES)}")
    return BACKBONES[name]


def _builders() -> dict[str, Callable[..., nn.Module]]:
    from usbench.metrics._lib.backbones import clip, dinov2, resnet

    return {
        "dinov2-vitb14": lambda s: dinov2.build("dinov2-vitb14", s),
        "dinov2-vitl14": lambda s: dinov2.build("dinov2-vitl14", s),
        "clip-vitl14": clip.build_openai_vitl14,
        "swav-resnet50": resnet.build_swav,
        "radimagenet-resnet50": resnet.build_radimagenet,
        "biomedclip": clip.build_biomedclip,
    }


def build(name: str, state: dict[str, torch.Tensor] | None = None) -> nn.Module:
    """The network of backbone ``name``, ``forward(N×3×S×S) → N×D``.

    ``state`` injects weights in the checkpoint's own layout (tests use seeded random
    ones); ``None`` loads the real ones from the weights cache, raising
    ``MetricUnavailable`` with the ``usbench weights fetch`` fix when they are missing.
    """
    backbone = get(name)
    for module in ("timm", "open_clip"):
        if importlib.util.find_spec(module) is None:
            raise MetricUnavailable(
                f"features={name} needs the {module} package, which is not installed.",
                "pip install 'usbench[clip]' (open_clip and timm)",
            )
    if state is None:
        from usbench import weights

        state = weights.load_state_dict(backbone.weights)
    return _builders()[name](state)


def embed(
    net: nn.Module, backbone: Backbone, images: torch.Tensor, *, batch_size: int = 16
) -> np.ndarray:
    """``N×1×H×W`` images in [0, 1] → ``N×D`` float64 features of ``net`` (in memory:
    :func:`embed_batches` streams them instead)."""
    batches = embed_batches(net, backbone, images, batch_size=batch_size)
    return np.concatenate([batch[backbone.name] for batch in batches])


def embed_batches(
    net: nn.Module, backbone: Backbone, images: torch.Tensor, *, batch_size: int = 16
) -> Iterator[dict[str, np.ndarray]]:
    """``N×1×H×W`` images in [0, 1] → ``{backbone.name: b×D}`` float64 features of
    ``net``, per batch."""
    dtype = next(net.parameters()).dtype
    batches = resident_pages.batches(images, batch_size)
    total = -(-len(images) // batch_size)
    bar = tqdm(batches, total=total, desc=f"{backbone.name} features", leave=False, disable=None)
    for batch in bar:
        x = prepare(batch, backbone.prep).to(dtype)
        with torch.no_grad():
            out = net(x).double().numpy()
        yield {backbone.name: out}
