"""Figures of seed 002 Figs. 1–2: B-maps over time and a forward-noising strip."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from usbench.generators._lib.bmaps import BMapDiffusion


def figure_timesteps(steps: int, columns: int) -> list[int]:
    """``columns`` timesteps evenly spread over ``0..steps−1`` (first and last included)."""
    return [round(i * (steps - 1) / max(columns - 1, 1)) for i in range(columns)]


def forward_strip(diffusion: BMapDiffusion, image: Tensor, timesteps: list[int], seed: int):
    """``x_t`` of one image at each of ``timesteps`` with one shared noise draw.

    ``image``: ``1×H×W`` in [0, 1]; returns ``len(timesteps)×1×H×W`` in model units
    ([−1, 1] data plus noise).
    """
    tables = diffusion.tables()
    x0 = (image * 2 - 1)[None].expand(len(timesteps), -1, -1, -1)
    noise = torch.randn(image.shape, generator=torch.Generator().manual_seed(seed))
    t = torch.tensor(timesteps)
    return tables.q_sample(x0, t, noise[None].expand_as(x0))


def bmap_figure(
    diffusion: BMapDiffusion, image: Tensor, path: str | Path, *, columns: int = 6, seed: int = 0
) -> Path:
    """Write a PNG: row 1 the maps ``B_t``, row 2 ``ᾱ_t·B̄_t``, row 3 the noised image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ts = figure_timesteps(diffusion.steps, columns)
    rows = [
        (diffusion.maps[ts, 0], "B_t", (0, 1)),
        (diffusion.signal[ts, 0], "ᾱ_t·B̄_t", (0, 1)),
        (forward_strip(diffusion, image, ts, seed)[:, 0], "x_t", (-1, 1)),
    ]
    fig, axes = plt.subplots(3, columns, figsize=(2 * columns, 6.4), squeeze=False)
    for r, (values, label, (lo, hi)) in enumerate(rows):
        for c, t in enumerate(ts):
            ax = axes[r][c]
            ax.imshow(
                values[c].float().numpy(), cmap="gray" if r == 2 else "viridis", vmin=lo, vmax=hi
            )
            ax.set_xticks([]), ax.set_yticks([])
            if r == 0:
                ax.set_title(f"t = {t}")
        axes[r][0].set_ylabel(label)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path
