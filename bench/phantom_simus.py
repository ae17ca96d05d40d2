"""Time the ``renderer=simus`` phantom against the procedural renderer; draw both.

    python bench/phantom_simus.py --densities 0.05 0.5 \\
        --out leaderboards/figures/lus-phantom-simus.png

Renders dataset image ``--index`` of ``lus-phantom`` (convex) with the procedural renderer
and with pymust at each scatterer density (scatterers per square wavelength), with an empty
envelope cache so every simulation is timed, and prints seconds per image and the ratio to
the procedural renderer. Needs ``pip install usbench[sim]``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def render(options: dict[str, str], index: int, size: int) -> tuple[np.ndarray, float]:
    from usbench.data.phantom import LUSPhantom, render_dataset_image

    start = time.perf_counter()
    image, _, _ = render_dataset_image(LUSPhantom.from_preset(None, options).config, index, size)
    return image, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--densities", type=float, nargs="+", default=[0.05, 0.5])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--index", type=int, default=2, help="dataset image (2: a 3+ B-line image)")
    parser.add_argument("--out", type=Path, default=Path("lus-phantom-simus.png"))
    args = parser.parse_args()

    convex = {"geometry": "convex"}
    panels = []
    with tempfile.TemporaryDirectory() as cache:
        os.environ["USBENCH_CACHE"] = cache  # nothing cached: every simulation is timed
        image, base = render(convex, args.index, args.size)
        panels.append(("procedural", image))
        print(f"procedural: {base:.3f} s/image")
        for density in args.densities:
            options = {**convex, "renderer": "simus", "simus_density": str(density)}
            image, seconds = render(options, args.index, args.size)
            panels.append((f"simus, {density:g} per λ²", image))
            print(f"simus {density:g}/λ²: {seconds:.1f} s/image ({seconds / base:.0f}× procedural)")
    draw(panels, args.out)
    print(f"wrote {args.out}")


def draw(panels: list[tuple[str, np.ndarray]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.4), squeeze=False)
    for ax, (title, image) in zip(axes[0], panels, strict=True):
        ax.imshow(image, cmap="gray", vmin=0.0, vmax=1.0)
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    fig.suptitle("lus-phantom: one anatomy, procedural vs pymust-simulated speckle", fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
