"""Plotting helpers shared by the metrics' own figures (matplotlib, no display needed).

Each metric draws its figure in its own :meth:`~usbench.protocols.Metric.figure`; this
module only holds what those drawings have in common. Figures are built with
``matplotlib.figure.Figure`` (Agg canvas), so they never touch pyplot's global state.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure


def new_figure(width: float, height: float) -> Figure:
    """A pyplot-free figure of ``width × height`` inches."""
    return Figure(figsize=(width, height))


def show_gray(ax: Axes, image: np.ndarray, title: str, fontsize: float) -> None:
    """``image`` (``H×W`` in ``[0, 1]``) in grey on ``ax``, titled, without axes."""
    ax.imshow(image, cmap="gray", vmin=0, vmax=1)
    ax.set_title(title, fontsize=fontsize)
    ax.axis("off")


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Lay ``fig`` out tightly and write it to ``path`` (parents created) at 120 dpi."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path
