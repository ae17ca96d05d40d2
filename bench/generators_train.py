"""Training speed of ``ddpm``, ``bmap_ddpm`` and ``awdiff`` (steps/s), run by hand.

    python bench/generators_train.py --preset quick --steps 20

Every generator is timed on the same random images at its preset's resolution and batch,
plus ``awdiff`` at the ``ddpm`` preset's resolution and batch when its own preset differs.
AWDiff uses the label-embedding fallback here (BiomedCLIP weights are not assumed), so its
numbers exclude the CLIP alignment loss. Prints a table with seconds and ratios to ddpm.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from usbench.protocols import FitContext
from usbench.registry import registry
from usbench.testing import tiny_dataset


def time_fit(
    name: str, preset: str, steps: int, overrides: dict[str, str]
) -> tuple[float, int, int]:
    """Seconds per training step of ``name`` (one warm-up step excluded), size, batch."""
    cls = registry("generators").get(name)
    values = {"train.steps": str(steps), "train.checkpoint_every": str(10**9), **overrides}
    gen = cls.from_preset(preset, values)
    data = tiny_dataset(image_size=gen.config.image_size, n=32)
    with tempfile.TemporaryDirectory() as tmp:
        warm = cls.from_preset(preset, {**values, "train.steps": "1"})
        warm.fit(data, FitContext(Path(tmp) / "warm", progress=False))
        start = time.perf_counter()
        gen.fit(data, FitContext(Path(tmp) / "run", progress=False))
        seconds = time.perf_counter() - start
    return seconds / steps, gen.config.image_size, gen.config.train.batch_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    fallback = {"text_encoder": "label-embedding"}
    base = registry("generators").get("ddpm").presets[args.preset]
    same = {"image_size": str(base["image_size"]), "batch_size": str(base["batch_size"])}
    runs = [("ddpm", {}), ("bmap_ddpm", {}), ("awdiff", fallback)]
    own = registry("generators").get("awdiff").presets[args.preset]
    if (own["image_size"], own["batch_size"]) != (base["image_size"], base["batch_size"]):
        runs.append(("awdiff", {**fallback, **same}))  # like-for-like with ddpm
    rows = [(n, o, *time_fit(n, args.preset, args.steps, o)) for n, o in runs]
    ref = rows[0][2]
    print(f"preset={args.preset} steps={args.steps} threads={args.threads}")
    print(f"{'generator':<12}{'px':>5}{'batch':>7}{'s/step':>9}{'steps/s':>9}{'× ddpm':>8}")
    for name, _, sec, px, batch in rows:
        print(f"{name:<12}{px:>5}{batch:>7}{sec:>9.3f}{1 / sec:>9.2f}{sec / ref:>8.2f}")


if __name__ == "__main__":
    main()
