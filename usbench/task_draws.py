"""Synthetic draws of a task's fitted generator, kept in the fit's folder.

A task samples its synthetic training images from each fit (``classifier_gain``: one draw
per class; ``segmentation_gain``: one image per kept label map). Those images are a
deterministic function of the fit and of the draw's arguments, and drawing them is a good
part of a task's time (classifier-free guidance doubles every denoising step). So the
generator a task receives keeps every draw in ``<fit folder>/draws/<key>.safetensors``,
keyed by sha256 of the method, its arguments (sample count or label maps, seed, labels,
sources) and the usbench version; a run resumed after it was killed (a sweep unit cut off
mid-task) reads the draws already made instead of sampling again. The tensors are stored
exactly, so a kept draw equals a fresh one bit for bit. Files are written atomically.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save

import usbench
from usbench.fileio import atomic_write_bytes
from usbench.protocols import Generator
from usbench.samples import SampleBatch

_LABELS_ABSENT = "none"


class KeptDraws:
    """``generator`` (fitted) whose :meth:`sample` and :meth:`sample_from_maps` keep their
    results in ``folder``; every other attribute is the generator's own."""

    def __init__(self, generator: Generator, folder: Path) -> None:
        self.generator = generator
        self.folder = Path(folder)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.generator, name)

    def sample(self, n: int, *, seed: int, labels: torch.Tensor | None = None) -> SampleBatch:
        """``generator.sample(n, seed=seed, labels=labels)``, read from the folder when this
        very draw was made before."""
        key = _key("sample", repr(n), repr(seed), _tensor_digest(labels))
        return self._kept(key, lambda: self.generator.sample(n, seed=seed, labels=labels))

    def sample_from_maps(
        self,
        masks: torch.Tensor,
        *,
        seed: int,
        labels: torch.Tensor | None = None,
        sources: tuple[str, ...] | None = None,
    ) -> SampleBatch:
        """``generator.sample_from_maps(...)`` (``masks`` ``N×H×W`` int64), kept likewise."""
        key = _key(
            "sample_from_maps",
            _tensor_digest(masks),
            repr(seed),
            _tensor_digest(labels),
            json.dumps(sources),
        )
        return self._kept(
            key,
            lambda: self.generator.sample_from_maps(
                masks, seed=seed, labels=labels, sources=sources
            ),
        )

    def _kept(self, key: str, draw) -> SampleBatch:
        path = self.folder / f"{key[:24]}.safetensors"
        if path.is_file():
            return _read(path)
        batch = draw()
        _write(path, batch)
        return batch


def _key(*parts: str) -> str:
    text = "\x00".join((usbench.__version__, *parts))
    return hashlib.sha256(text.encode()).hexdigest()


def _tensor_digest(tensor: torch.Tensor | None) -> str:
    if tensor is None:
        return _LABELS_ABSENT
    data = tensor.detach().cpu().contiguous()
    digest = hashlib.sha256(repr((tuple(data.shape), str(data.dtype))).encode())
    digest.update(data.numpy().tobytes())
    return digest.hexdigest()


def _write(path: Path, batch: SampleBatch) -> None:
    tensors = {"images": batch.images.contiguous()}
    if batch.labels is not None:
        tensors["labels"] = batch.labels.contiguous()
    meta = {"sources": json.dumps(batch.sources), "pairing": json.dumps(batch.pairing)}
    atomic_write_bytes(path, save(tensors, metadata=meta))


def _read(path: Path) -> SampleBatch:
    from safetensors import safe_open

    tensors = load_file(str(path))
    with safe_open(str(path), framework="pt") as handle:
        meta = handle.metadata()
    sources = json.loads(meta["sources"])
    return SampleBatch(
        images=tensors["images"],
        labels=tensors.get("labels"),
        sources=None if sources is None else tuple(sources),
        pairing=json.loads(meta["pairing"]),
    )
