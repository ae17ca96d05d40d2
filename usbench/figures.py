"""Figures for reports: a titled sample grid per run (PNG and PDF)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from usbench.store import ResultStore


def sample_grid_figures(store: ResultStore, out: Path, run_ids: set[str]) -> list[Path]:
    """One figure per run in ``run_ids``: its sample grid titled with the run identity."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for run in store.runs():
        grid_path = Path(run["run_dir"]) / "samples_grid.png"
        if run["run_id"] not in run_ids or not grid_path.exists():
            continue
        image = np.asarray(Image.open(grid_path))
        fig, ax = plt.subplots(figsize=(6, 6 * image.shape[0] / image.shape[1] + 0.4))
        ax.imshow(image, cmap="gray", vmin=0, vmax=255)
        ax.set_axis_off()
        ax.set_title(
            f"{run['generator']} ({run['preset']}) on {run['dataset']}, seed {run['seed']}",
            fontsize=10,
        )
        fig.tight_layout()
        for suffix in ("png", "pdf"):
            path = out / f"{run['run_id']}_samples.{suffix}"
            fig.savefig(path, dpi=150)
            written.append(path)
        plt.close(fig)
    return written
