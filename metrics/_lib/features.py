"""Inception features for FID, KID and SIFID, and their on-disk cache.

Preprocessing is a named mode and part of every cache key and metric variant:

* ``"pytorch-fid"`` — grayscale replicated to 3 channels, bilinear resize to 299×299
  (``F.interpolate``, ``align_corners=False``, as pytorch-fid's InceptionV3 does), then
  ``2x - 1``. Used by FID/KID.
* ``"native"`` — replicated to 3 channels and ``2x - 1``, no resize (SinGAN's SIFID
  script feeds images at their own size). Used by SIFID.

Layers (pytorch-fid's block boundaries): ``pool1`` is the 64-channel output of the first
max-pool, ``pool2`` the 192-channel output of the second, ``pool3`` the 2048-d global
average pool. Set-level layers are spatially averaged, as pytorch-fid's ``fid_score``
does for 64/192 dims.

Features of real and generated sets are streamed batch by batch to the features cache,
``$USBENCH_CACHE/features`` (:mod:`usbench.metrics._lib.feature_cache`), keyed by sha256
of (data hash — the tensor hash for generated images —, extractor, weights sha256,
preprocessing, layers), and read back as read-only memory maps: every image passes
through the network once, FID, KID and both FID layers share that pass, and no ``N×C``
array is held in memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from usbench.data import resident_pages
from usbench.metrics._lib.feature_cache import (
    Batches,
    cache_dir,
    cache_key,
    cached_arrays,
    clear_memory,
    concatenate_batches,
)

__all__ = [
    "Batches",
    "cache_dir",
    "cache_key",
    "cached_arrays",
    "clear_memory",
    "extract",
    "tensor_hash",
]

PREPROCESSING = {
    "pytorch-fid": (
        "gray→RGB by replication; bilinear resize to 299×299 (align_corners=False); 2x-1"
    ),
    "native": "gray→RGB by replication; no resize; 2x-1",
}
LAYER_CHANNELS = {"pool1": 64, "pool2": 192, "pool3": 2048}
EXTRACTOR_WEIGHTS = {"fid-inception": "fid-inception", "tv-inception": "inception-v3-imagenet"}
# the ``features=`` choices of the set metrics built on FID's pass → Inception layer
FEATURE_SPACES = {
    "inception-pool3": "pool3",
    "inception-pool2": "pool2",
    "inception-pool1": "pool1",
}


class InceptionFeatures(nn.Module):
    """pytorch-fid's block structure over an Inception-v3 body.

    ``forward(x)`` takes ``N×3×H×W`` already preprocessed and returns a dict with the
    requested ``layers``: ``pool1`` (``N×64×h×w``), ``pool2`` (``N×192×h'×w'``),
    ``pool3`` (``N×2048``). It stops after the deepest requested block.
    """

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.block0 = nn.Sequential(
            body.Conv2d_1a_3x3, body.Conv2d_2a_3x3, body.Conv2d_2b_3x3, nn.MaxPool2d(3, 2)
        )
        self.block1 = nn.Sequential(body.Conv2d_3b_1x1, body.Conv2d_4a_3x3, nn.MaxPool2d(3, 2))
        names = ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c")
        names += ("Mixed_6d", "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c")
        self.block23 = nn.Sequential(*(getattr(body, n) for n in names), nn.AdaptiveAvgPool2d(1))
        self.eval()

    def forward(self, x: torch.Tensor, layers: tuple[str, ...]) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        x = self.block0(x)
        if "pool1" in layers:
            out["pool1"] = x
        if "pool2" in layers or "pool3" in layers:
            x = self.block1(x)
            if "pool2" in layers:
                out["pool2"] = x
        if "pool3" in layers:
            out["pool3"] = self.block23(x).flatten(1)
        return out


def build_extractor(kind: str, state: dict[str, torch.Tensor] | None = None) -> nn.Module:
    """The Inception body of ``kind`` (``fid-inception`` or ``tv-inception``).

    ``state`` injects weights (tests use seeded random ones); ``None`` loads the real
    ones from the weights cache (raising ``MetricUnavailable`` with the fix if absent).
    """
    from usbench import weights

    if kind == "fid-inception":
        from usbench.metrics._lib.fid_inception import build_fid_inception

        body = build_fid_inception()
    elif kind == "tv-inception":
        import torchvision

        body = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False)
    else:
        raise ValueError(f"unknown extractor {kind!r}; use one of {sorted(EXTRACTOR_WEIGHTS)}")
    if state is None:
        state = weights.load_state_dict(EXTRACTOR_WEIGHTS[kind])
    body.load_state_dict(state, strict=kind == "fid-inception")
    return body.eval()


def preprocess(images: torch.Tensor, mode: str) -> torch.Tensor:
    """``N×1×H×W`` in [0,1] → ``N×3×H'×W'`` in [-1,1] under the named ``mode``."""
    if mode not in PREPROCESSING:
        raise ValueError(f"unknown preprocessing {mode!r}; use one of {sorted(PREPROCESSING)}")
    x = images.expand(-1, 3, -1, -1)
    if mode == "pytorch-fid":
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
    return 2.0 * x - 1.0


def extract(
    net: InceptionFeatures,
    images: torch.Tensor,
    *,
    mode: str,
    layers: tuple[str, ...],
    batch_size: int = 16,
    reduce: Callable[[str, torch.Tensor], torch.Tensor] | None = None,
) -> dict[str, np.ndarray]:
    """Run ``net`` over ``images`` in batches; one float64 array per layer (in memory:
    :func:`extract_batches` streams them instead)."""
    return concatenate_batches(
        extract_batches(net, images, mode=mode, layers=layers, batch_size=batch_size, reduce=reduce)
    )


def extract_batches(
    net: InceptionFeatures,
    images: torch.Tensor,
    *,
    mode: str,
    layers: tuple[str, ...],
    batch_size: int = 16,
    reduce: Callable[[str, torch.Tensor], torch.Tensor] | None = None,
) -> Iterator[dict[str, np.ndarray]]:
    """Run ``net`` over ``images`` in batches; yields layer → float64 ``b×C`` per batch.

    ``reduce(layer, batch_output)`` turns each batch output into what is kept; the
    default averages spatial maps (pytorch-fid's ``adaptive_avg_pool2d``) to ``b×C``.
    """
    reduce = reduce or _spatial_mean
    dtype = next(net.parameters()).dtype
    for batch in resident_pages.batches(images, batch_size):
        with torch.no_grad():
            x = preprocess(batch.to(dtype), mode)
            out = net(x, layers)
        yield {layer: reduce(layer, value).double().numpy() for layer, value in out.items()}


def _spatial_mean(layer: str, value: torch.Tensor) -> torch.Tensor:
    return value.mean(dim=(2, 3)) if value.ndim == 4 else value


# -- caching (the store itself is :mod:`usbench.metrics._lib.feature_cache`) ------------
def tensor_hash(images: torch.Tensor) -> str:
    """sha256 of a tensor's shape, dtype and exact bytes (hashed in chunks of 1024 rows,
    the same digest as one pass, so a large set is never copied whole)."""
    digest = hashlib.sha256(repr((tuple(images.shape), str(images.dtype))).encode())
    if images.ndim == 0:
        images = images.reshape(1)
    for chunk in resident_pages.batches(images, 1024):
        digest.update(chunk.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()
