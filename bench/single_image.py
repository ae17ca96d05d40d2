"""Training speed of SinDDM and SinGAN per preset and per pyramid scale (run by hand).

    python bench/single_image.py                       # smoke and quick, 1 thread
    python bench/single_image.py --presets paper --paper-scales 2 --threads 2

SinDDM: every training step picks one scale, so the table gives the median seconds of one
optimizer step (forward + backward + Adam) at each scale, the resulting steps/s for the
uniform scale choice, and the estimated time of the preset's whole schedule for one image.
SinGAN: seconds per iteration (3 D + 3 G steps in the paper preset) at each scale, and the
estimated time of all scales. The input is a 256×256 toy ultrasound-like image.

Reference (the official code, paper config, one 256² LUS frame, this 2-core CPU):
SinDDM 5 scales 55→223 px: 6.1 / 13.1 / 32.3 / 66.5 / 138.8 s per step;
SinGAN 10 scales: scale 0 all 2000 iterations in 225 s, ≈0.8 → 3.2 s/it at scales 4–7,
≈27 s/it at the finest.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from usbench.checkpoints import CheckpointDir
from usbench.generators._lib.singan_model import ScaleTrainer, SinGANPyramid
from usbench.generators._lib.single_source import resize, to_signed
from usbench.generators.sinddm import SinDDM
from usbench.generators.singan import SinGAN
from usbench.testing import tiny_dataset


def sinddm_scale_times(preset: str, image: torch.Tensor, repeats: int, max_scales: int):
    """Median seconds per optimizer step at each scale (up to ``max_scales``) and the config."""
    gen = SinDDM.from_preset(preset)
    objective = gen.build_objective(image, seed=0)
    optimizer = torch.optim.Adam(objective.parameters(), lr=gen.config.train.lr)
    rng = torch.Generator().manual_seed(0)
    times, sizes = [], gen.pyramid(*image.shape[-2:]).sizes
    for scale in range(min(objective.n_scales, max_scales)):
        samples = []
        for _ in range(repeats + 1):  # the first step warms up
            start = time.perf_counter()
            loss = objective(torch.tensor([scale, 0]), None, rng)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            samples.append(time.perf_counter() - start)
        times.append(statistics.median(samples[1:]))
    return gen.config, sizes, times


def singan_scale_times(preset: str, image: torch.Tensor, iterations: int, max_scales: int):
    """Seconds per iteration at each scale (trains ``iterations`` per scale) and the config."""
    gen = SinGAN.from_preset(preset)
    config = replace(gen.config, train=replace(gen.config.train, steps=iterations))
    workdir = Path(tempfile.mkdtemp(prefix="bench-singan-"))
    pyramid = SinGANPyramid([], "bench", 0)
    sizes = gen.pyramid_sizes(*image.shape[-2:])
    times = []
    for n, size in enumerate(sizes[:max_scales]):
        real = to_signed(resize(image, size).clamp(0, 1))
        trainer = ScaleTrainer(
            config,
            pyramid,
            real,
            width=gen.width(n),
            generator=torch.Generator().manual_seed(n),
            store=CheckpointDir(workdir / f"scale-{n}"),
        )
        start = time.perf_counter()
        pyramid.scales.append(trainer.run())
        times.append((time.perf_counter() - start) / iterations)
    shutil.rmtree(workdir, ignore_errors=True)
    return gen.config, sizes, times


def report_sinddm(preset: str, image: torch.Tensor, repeats: int, max_scales: int) -> None:
    """Print one SinDDM row per scale and the schedule estimate."""
    config, sizes, times = sinddm_scale_times(preset, image, repeats, max_scales)
    for s, t in enumerate(times):
        print(f"sinddm  {preset:6s} scale {s} {sizes[s][0]:>3d}x{sizes[s][1]:<3d} {t:9.3f} s/step")
    if len(times) == len(sizes):
        mean = statistics.fmean(times)
        total = config.train.steps * mean
        print(
            f"sinddm  {preset:6s} all scales: {1 / mean:.2f} steps/s, "
            f"{config.train.steps} steps ≈ {total / 60:.1f} min per image"
        )


def report_singan(preset: str, image: torch.Tensor, iterations: int, max_scales: int) -> None:
    """Print one SinGAN row per scale and the schedule estimate."""
    config, sizes, times = singan_scale_times(preset, image, iterations, max_scales)
    for n, t in enumerate(times):
        print(f"singan  {preset:6s} scale {n} {sizes[n][0]:>3d}x{sizes[n][1]:<3d} {t:9.3f} s/iter")
    if len(times) == len(sizes):
        total = config.train.steps * sum(times)
        print(
            f"singan  {preset:6s} all scales: {config.train.steps} it/scale ≈ "
            f"{total / 60:.1f} min per image"
        )


def main() -> None:
    """Parse the options and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="smoke,quick")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3, help="SinDDM steps timed per scale")
    parser.add_argument("--iterations", type=int, default=5, help="SinGAN iterations per scale")
    parser.add_argument(
        "--paper-scales",
        type=int,
        default=2,
        help="time only this many scales of the paper preset (it is slow)",
    )
    parser.add_argument("--models", default="sinddm,singan")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    image = tiny_dataset(image_size=256, n=1).images
    print(f"torch threads: {torch.get_num_threads()}; input 256x256")
    for preset in args.presets.split(","):
        limit = args.paper_scales if preset == "paper" else 99
        if "sinddm" in args.models:
            report_sinddm(preset, image, args.repeats if preset != "paper" else 1, limit)
        if "singan" in args.models:
            report_singan(preset, image, args.iterations if preset != "paper" else 2, limit)


if __name__ == "__main__":
    main()
