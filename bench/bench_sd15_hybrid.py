"""Training and sampling speed of the SD1.5 hybrid generator, per preset (run by hand).

    python bench/bench_sd15_hybrid.py                          # tiny random SD-shaped model
    python bench/bench_sd15_hybrid.py --base-model /path/sd15  # the real SD1.5 folder

Each preset is run with its own image size and batch size but only ``--steps`` steps per
stage, then ``--samples`` images are drawn. Prints steps/s of the textual-inversion and
LoRA stages and seconds per sample. Numbers from the tiny model measure the harness and
the diffusers overhead only, never SD1.5 itself.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

from usbench.data.imageset import ImageSet
from usbench.generators.sd15_hybrid import SD15Hybrid
from usbench.protocols import FitContext

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _sd15_tiny import build_tiny_pipeline  # noqa: E402


def fake_busi(size: int, n: int = 12) -> ImageSet:
    """``n`` random images in three BUSI classes, ``size×size``."""
    images = torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(0))
    return ImageSet(
        images=images,
        labels=torch.arange(n) % 3,
        class_names=("benign", "malignant", "normal"),
        patient_ids=tuple(f"p{i}" for i in range(n)),
        names=tuple(f"i{i}" for i in range(n)),
        name="bench",
    )


def timed_fit(preset: str, base_model: str, steps: int, workdir: Path) -> tuple[SD15Hybrid, float]:
    """Fit with ``steps`` steps per stage; return the generator and the wall seconds."""
    overrides = {
        "base_model": base_model,
        "ti_steps": steps,
        "train.steps": steps,
        "train.checkpoint_every": 10**9,
        "device": "cpu",
    }
    gen = SD15Hybrid.from_preset(preset, overrides)
    data = fake_busi(gen.config.image_size)
    start = time.perf_counter()
    gen.fit(data, FitContext(workdir=workdir, seed=0, progress=False))
    return gen, time.perf_counter() - start


def run_preset(preset: str, base_model: str, steps: int, samples: int, workdir: Path) -> dict:
    """Time loading alone (0 steps), then a fit of ``steps`` per stage, then sampling."""
    _, overhead = timed_fit(preset, base_model, 0, workdir / f"{preset}-0")
    gen, fit_seconds = timed_fit(preset, base_model, steps, workdir / preset)
    start = time.perf_counter()
    gen.sample(samples, seed=0)
    sample_seconds = time.perf_counter() - start
    return {
        "preset": preset,
        "size": gen.config.image_size,
        "batch": gen.config.train.batch_size,
        "load_s": overhead,
        "steps_per_s": 2 * steps / max(fit_seconds - overhead, 1e-9),
        "s_per_sample": sample_seconds / samples,
        "infer_steps": gen.config.inference_steps,
        "strength": gen.config.img2img_strength,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-model", default=None, help="SD1.5 diffusers folder or hub id")
    parser.add_argument("--presets", default="smoke,quick")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        base = args.base_model or str(build_tiny_pipeline(Path(tmp) / "tiny"))
        rows = [
            run_preset(p, base, args.steps, args.samples, Path(tmp))
            for p in args.presets.split(",")
        ]
    print(
        f"base model: {args.base_model or 'tiny random SD-shaped pipeline'}; "
        f"threads={args.threads}; {args.steps} steps per stage (TI + LoRA); steps/s "
        "excludes loading and latent encoding (load s)"
    )
    print(
        f"{'preset':8} {'px':>5} {'batch':>5} {'load s':>8} {'steps/s':>8} "
        f"{'steps':>5} {'strength':>8} {'s/sample':>9}"
    )
    for r in rows:
        print(
            f"{r['preset']:8} {r['size']:5d} {r['batch']:5d} {r['load_s']:8.2f} "
            f"{r['steps_per_s']:8.2f} {r['infer_steps']:5d} {r['strength']:8.2f} "
            f"{r['s_per_sample']:9.3f}"
        )


if __name__ == "__main__":
    main()
