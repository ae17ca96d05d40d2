"""Figures of the ultrasound-aware metrics (matplotlib, no display needed).

Each function takes the :class:`~usbench.protocols.MetricResult` a metric returned (and,
where images are drawn, the :class:`~usbench.protocols.EvalInputs` it scored), writes one
PNG/PDF to ``path`` and returns the path:

- :func:`memorization_figure` — closest generated/training pairs and the nearest-distance
  histograms of generated vs held-out images with the near-copy threshold;
- :func:`depth_profile_figure` — real and generated depth profiles overlaid (± 1 std);
- :func:`speckle_figure` — speckle SNR and Nakagami m histograms with the Rayleigh values;
- :func:`bline_figure` — generated images with the detected pleura and B-lines drawn.

:func:`figure` dispatches on the metric name (``FIGURES``). Figures are built with
``matplotlib.figure.Figure`` (Agg canvas), so they never touch pyplot's global state.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from usbench.protocols import EvalInputs, MetricResult


def memorization_figure(result: MetricResult, inputs: EvalInputs, path: str | Path) -> Path:
    """Top row: up to 6 closest (generated, nearest training) pairs; bottom: histograms."""
    pairs = result.details["worst_pairs"][:6]
    fig = Figure(figsize=(2.0 * max(len(pairs), 3), 6.0))
    grid = fig.add_gridspec(3, max(len(pairs), 3))
    for col, pair in enumerate(pairs):
        gen = inputs.generated.images[pair["generated"], 0].numpy()
        train = inputs.train.images[inputs.train.index_of(pair["train"]), 0].numpy()
        for row, (image, label) in enumerate(
            ((gen, f"gen {pair['generated']}"), (train, pair["train"]))
        ):
            ax = fig.add_subplot(grid[row, col])
            ax.imshow(image, cmap="gray", vmin=0, vmax=1)
            ax.set_title(label if row else f"{label}\nd={pair['distance']:.3f}", fontsize=7)
            ax.axis("off")
    ax = fig.add_subplot(grid[2, :])
    pixel = result.details["spaces"]["pixel"]
    ax.hist(pixel["heldout_nn"], bins=20, alpha=0.6, label="held-out real → train")
    ax.hist(pixel["generated_nn"], bins=20, alpha=0.6, label="generated → train")
    ax.axvline(pixel["threshold"], color="k", linestyle="--", label="near-copy threshold")
    ax.set_xlabel("nearest-training RMSE (pixel space, shift-tolerant)")
    ax.legend(fontsize=7)
    return _save(fig, path)


def depth_profile_figure(result: MetricResult, path: str | Path) -> Path:
    """Mean grey level vs depth, real and generated, with ±1 std bands."""
    fig = Figure(figsize=(5.0, 3.5))
    ax = fig.add_subplot()
    for key, label in (("real", "real"), ("generated", "generated")):
        mean = np.array(result.details[f"{key}_profile"], dtype=np.float64)
        std = np.array(result.details[f"{key}_profile_std"], dtype=np.float64)
        depth = (np.arange(mean.size) + 0.5) / mean.size
        ax.plot(depth, mean, label=label)
        ax.fill_between(depth, mean - std, mean + std, alpha=0.2)
    kinds = sorted({g["kind"] for g in result.details["geometry"].values()})
    ax.set_xlabel(f"depth (fraction of imaged depth, {'+'.join(kinds)} geometry)")
    ax.set_ylabel("mean grey level")
    ax.set_title(f"depth profile gap = {result.value:.4f}", fontsize=9)
    ax.legend()
    return _save(fig, path)


def speckle_figure(result: MetricResult, path: str | Path) -> Path:
    """Histograms of patch speckle SNR and Nakagami m, real vs generated."""
    fig = Figure(figsize=(8.0, 3.2))
    d = result.details
    panels = (("snr", "speckle SNR", d["rayleigh_snr"]), ("m", "Nakagami m", 1.0))
    for i, (key, label, theory) in enumerate(panels):
        ax = fig.add_subplot(1, 2, i + 1)
        ax.hist(d[f"real_{key}"], bins=30, alpha=0.6, density=True, label="real")
        ax.hist(d[f"generated_{key}"], bins=30, alpha=0.6, density=True, label="generated")
        ax.axvline(theory, color="k", linestyle="--", label="Rayleigh")
        ax.set_xlabel(label)
        ax.legend(fontsize=7)
    return _save(fig, path)


def bline_figure(result: MetricResult, inputs: EvalInputs, path: str | Path) -> Path:
    """Generated images with the detected pleura (cyan) and B-lines (yellow) drawn."""
    from usbench.metrics.bline import geometries_for

    geometries = geometries_for(inputs)[1]
    detections = result.details["detections"]
    fig = Figure(figsize=(2.2 * max(len(detections), 1), 2.6))
    for i, det in enumerate(detections):
        ax, geometry = fig.add_subplot(1, len(detections), i + 1), geometries[i]
        ax.imshow(inputs.generated.images[i, 0].numpy(), cmap="gray", vmin=0, vmax=1)
        ys, xs = geometry.to_pixels(det["pleura_depth"], np.linspace(0, 1, 50))
        style = "-" if det["pleura_continuous"] else ":"
        ax.plot(xs, ys, style, color="cyan", linewidth=1)
        for pos in det["bline_positions"]:
            ys, xs = geometry.to_pixels(np.linspace(det["pleura_depth"], 1, 20), pos)
            ax.plot(xs, ys, color="yellow", linewidth=1)
        ax.set_title(f"{len(det['bline_positions'])} B-lines", fontsize=8)
        ax.axis("off")
    return _save(fig, path)


FIGURES: dict[str, Callable[..., Path]] = {
    "memorization": memorization_figure,
    "depth_profile": depth_profile_figure,
    "speckle": speckle_figure,
    "bline": bline_figure,
}


def figure(name: str, result: MetricResult, inputs: EvalInputs, path: str | Path) -> Path:
    """Draw the figure of metric ``name`` (a key of :data:`FIGURES`) to ``path``."""
    if name not in FIGURES:
        raise KeyError(f"no figure for metric {name!r}; figures exist for {', '.join(FIGURES)}")
    if name in ("depth_profile", "speckle"):
        return FIGURES[name](result, path)
    return FIGURES[name](result, inputs, path)


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path
