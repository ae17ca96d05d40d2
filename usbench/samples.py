"""What a generator returns: images plus, where it has them, labels and source images."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from usbench.data import resident_pages


@dataclass(frozen=True, eq=False)
class SampleBatch:
    """Generated images.

    Attributes:
        images: ``N×1×H×W`` float32 in ``[0, 1]``, on the CPU.
        labels: ``N`` int64 class indices the samples were conditioned on, or ``None``
            for an unconditional generator.
        sources: ``N`` names of the real training image each sample was derived from
            (single-image models, image-guided sampling), or ``None``. Paired metrics
            pair a sample with this image; it is never guessed from file order.
        pairing: how ``sources`` relate to the samples: ``None`` (derived from that
            training image) or ``"label-map"`` (generated from that real image's label
            map, which may be a held-out image: seed 002's paired protocol).
    """

    images: torch.Tensor
    labels: torch.Tensor | None = None
    sources: tuple[str, ...] | None = None
    pairing: str | None = None

    def __post_init__(self) -> None:
        n = self.images.shape[0]
        if self.images.ndim != 4 or self.images.shape[1] != 1:
            raise ValueError(f"samples must be N×1×H×W, got {tuple(self.images.shape)}")
        if self.images.dtype != torch.float32:
            raise ValueError(f"samples must be float32, got {self.images.dtype}")
        if not resident_pages.all_finite(self.images):
            raise ValueError("samples contain NaN or infinite values")
        if n and not resident_pages.in_unit_range(self.images):
            raise ValueError("samples must lie in [0, 1]; clamp before returning them")
        if self.labels is not None and self.labels.shape != (n,):
            raise ValueError("labels must have one entry per sample")
        if self.sources is not None and len(self.sources) != n:
            raise ValueError("sources must have one entry per sample")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @staticmethod
    def concat(batches: list[SampleBatch]) -> SampleBatch:
        """Join batches in order; labels/sources are kept only when every batch has them."""
        if not batches:
            raise ValueError("nothing to concatenate")
        labels = None
        if all(b.labels is not None for b in batches):
            labels = torch.cat([b.labels for b in batches])
        sources = None
        if all(b.sources is not None for b in batches):
            sources = tuple(s for b in batches for s in b.sources)
        pairings = {b.pairing for b in batches}
        pairing = pairings.pop() if len(pairings) == 1 and sources is not None else None
        return SampleBatch(torch.cat([b.images for b in batches]), labels, sources, pairing)
