"""Per-sample random streams for samplers, so a sample never depends on the batching.

Sample ``i`` of ``sample(n, seed=s)`` draws its initial noise and every per-step noise from
its own ``torch.Generator`` seeded by ``(s, i)`` (the rule of ``sinddm`` and
``sd15_hybrid``). Hence the same seed gives the same images whatever ``sample_batch_size``
is, and the first ``k`` of ``n`` samples are the ``k`` samples of ``sample(k, seed=s)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def sample_generators(seed: int, indices: Sequence[int]) -> list[torch.Generator]:
    """One CPU generator per sample index, seeded by ``(seed, index)``."""
    return [torch.Generator().manual_seed(seed * 1_000_003 + int(i)) for i in indices]


def sample_noise(shape: Sequence[int], generators: Sequence[torch.Generator]) -> torch.Tensor:
    """Standard normal noise of ``shape`` (``B×…``), row ``b`` drawn from ``generators[b]``."""
    if len(generators) != shape[0]:
        raise ValueError(f"{len(generators)} generators for a batch of {shape[0]}")
    row = (1, *shape[1:])
    return torch.cat([torch.randn(row, generator=g) for g in generators])
