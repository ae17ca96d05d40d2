"""Training speed options (``train.precision``, ``channels_last``, ``compile``,
``optimizer_impl``) against the fp32 baseline, per step, interleaved in one process.

    python bench/training_speed.py                           # everything (an hour or more)
    python bench/training_speed.py --models singan --reps 5 --options fp32,channels_last
    python bench/training_speed.py --losses-only --loss-steps 100

Timing (``--reps`` rounds after one discarded warm-up round; in each round every option runs
once, in turn, so a change of machine load hits all options alike; the table gives the
median and its ratio to fp32):

* ``ddpm`` at its ``quick`` preset: ``--ddpm-steps`` steps of the shared training loop.
* ``sinddm`` at its ``paper`` config: one optimizer step at each of the two coarsest scales
  (55×55 and 78×78 px for a 256×256 image, batch 32), each through the shared loop.
* ``singan`` at its ``paper`` config: ``--singan-iters`` iterations (3 D + 3 G steps each) at
  scales 0 and 5 (the coarser scales of scale 5 are untrained networks of the right size).

Each timed run is a real training call (the shared loop or SinGAN's scale trainer) with one
checkpoint at its end, so a run's seconds / steps include that small fixed cost; with
``compile`` it also includes tracing the model (compiling it in the first round, loading
the cached graph after that), which a real fit pays once — time compile with a warm-up
round (``--sinddm-warmup 1`` for SinDDM).

Loss after K steps (``--loss-steps``): for every option with seed 0 and for fp32 with seeds 0
and 1 (the seed-to-seed spread that a precision change has to stay within): ddpm quick,
SinDDM quick (all scales; the paper config needs ~40 s per step here) and SinGAN paper
scale 0 (reconstruction MSE). Torch uses ``--threads`` threads (1 by default).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch

from usbench.checkpoints import CheckpointDir
from usbench.generators._lib.singan_model import (
    ScaleModel,
    ScaleTrainer,
    SinGANGenerator,
    SinGANPyramid,
)
from usbench.generators._lib.single_source import resize, to_signed
from usbench.generators.ddpm import DDPMGenerator
from usbench.generators.sinddm import SinDDM
from usbench.generators.singan import SinGAN
from usbench.protocols import FitContext
from usbench.testing import tiny_dataset
from usbench.training import read_loss_log
from usbench.training import train as run_training

OPTIONS: dict[str, dict[str, object]] = {
    "fp32": {},
    "foreach": {"optimizer_impl": "foreach"},
    "fused": {"optimizer_impl": "fused"},
    "channels_last": {"channels_last": True},
    "cl+fused": {"channels_last": True, "optimizer_impl": "fused"},
    "bf16": {"precision": "bf16"},
    "bf16+cl": {"precision": "bf16", "channels_last": True},
    "compile": {"compile": "default"},
    "cl+compile": {"channels_last": True, "compile": "default"},
}
"""The option sets compared, as ``train`` settings."""


def with_options(config, option: str, **train_values):
    """``config`` with the option set ``option`` and ``train_values`` in its ``train``."""
    return replace(config, train=replace(config.train, **OPTIONS[option], **train_values))


def ctx_in(folder: Path, seed: int = 0) -> FitContext:
    """A quiet fit context writing under ``folder``."""
    return FitContext(workdir=folder, seed=seed, progress=False)


# -- the timed units ---------------------------------------------------------------------
def ddpm_run(option: str, steps: int, seed: int = 0) -> tuple[float, list]:
    """Seconds per step of ddpm quick and its loss log."""
    base = DDPMGenerator.from_preset("quick").config
    config = with_options(base, option, steps=steps, checkpoint_every=steps, log_every=1)
    gen = DDPMGenerator(config)
    data = tiny_dataset(image_size=config.image_size, n=16)
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        gen.fit(data, ctx_in(Path(folder), seed))
        seconds = (time.perf_counter() - start) / steps
        return seconds, read_loss_log(Path(folder), gen.name)


class FixedScale:
    """Batch source of SinDDM's objective that always draws scale ``scale`` of image 0."""

    def __init__(self, scale: int) -> None:
        self.scale = scale

    def batch(self, step: int, generator: torch.Generator):
        """``[scale, 0]``."""
        return torch.tensor([self.scale, 0]), None


def sinddm_paper_step(option: str, scale: int, image: torch.Tensor) -> float:
    """Seconds of one paper-config SinDDM step at ``scale``."""
    base = SinDDM.from_preset("paper").config
    config = with_options(base, option, steps=1, checkpoint_every=1)
    gen = SinDDM(config)
    objective = gen.build_objective(image, seed=0)
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        run_training(objective, FixedScale(scale), config.train, ctx_in(Path(folder)))
        return time.perf_counter() - start


def sinddm_quick_losses(option: str, steps: int, seed: int, image: torch.Tensor) -> list:
    """The loss log of SinDDM quick trained ``steps`` steps on ``image``."""
    base = SinDDM.from_preset("quick").config
    gen = SinDDM(with_options(base, option, steps=steps, checkpoint_every=steps, log_every=1))
    data = tiny_dataset(image_size=image.shape[-1], n=1)
    data.images[:] = image
    with tempfile.TemporaryDirectory() as folder:
        gen.fit(data, ctx_in(Path(folder), seed))
        return read_loss_log(Path(folder), "src-0")


def singan_paper_scale(
    option: str, scale: int, iterations: int, image: torch.Tensor, seed: int = 0
) -> tuple[float, list[float]]:
    """Seconds per iteration of SinGAN paper at ``scale`` and its reconstruction losses."""
    base = SinGAN.from_preset("paper")
    config = with_options(base.config, option, steps=iterations, checkpoint_every=iterations)
    sizes = base.pyramid_sizes(*image.shape[-2:])
    pyramid = SinGANPyramid([], "bench", 0)
    for n in range(scale):  # untrained coarser scales: the cost of running them is the same
        net = SinGANGenerator(width=base.width(n), layers=config.layers, kernel=config.kernel)
        z = torch.randn(1, 1, *sizes[n]) if n == 0 else torch.zeros(1, 1, *sizes[n])
        pyramid.scales.append(ScaleModel(net.eval().requires_grad_(False), z, 0.1, sizes[n]))
    real = to_signed(resize(image, sizes[scale]).clamp(0, 1))
    with tempfile.TemporaryDirectory() as folder:
        trainer = ScaleTrainer(
            config,
            pyramid,
            real,
            width=base.width(scale),
            generator=torch.Generator().manual_seed(seed),
            store=CheckpointDir(Path(folder)),
        )
        start = time.perf_counter()
        model = trainer.run()
        return (time.perf_counter() - start) / iterations, model.rec_losses


# -- interleaved timing -------------------------------------------------------------------
def interleaved(
    units: dict[str, Callable[[str], float]], options: list[str], reps: int, warmup: int
) -> dict:
    """``{unit: {option: [seconds per rep]}}``, every option once per round, in turn; the
    first ``warmup`` rounds are run and discarded."""
    times: dict[str, dict[str, list[float]]] = {u: {o: [] for o in options} for u in units}
    for rep in range(warmup + reps):
        for unit, run in units.items():
            for option in options:
                seconds = run(option)
                if rep >= warmup:
                    times[unit][option].append(seconds)
                print(f"  round {rep} {unit:22s} {option:14s} {seconds:9.3f} s", flush=True)
    return times


def print_times(title: str, times: dict) -> None:
    """Markdown table: median seconds and speed-up over fp32 per unit and option."""
    print(f"\n### {title}\n")
    print("| unit | option | median s | runs | × fp32 (speed-up) |")
    print("|---|---|---|---|---|")
    for unit, per_option in times.items():
        base = statistics.median(per_option["fp32"])
        for option, values in per_option.items():
            med = statistics.median(values)
            runs = " ".join(f"{v:.3g}" for v in values)
            print(f"| {unit} | {option} | {med:.4g} | {runs} | {base / med:.2f} |")


def tail_mean(losses: list, count: int) -> float:
    """Mean of the last ``count`` entries of a loss log (``(step, loss)`` pairs or floats)."""
    values = [x[1] if isinstance(x, (list, tuple)) else x for x in losses][-count:]
    return statistics.fmean(values)


def loss_table(options: list[str], steps: int, image: torch.Tensor, which: list[str]) -> None:
    """Loss after ``steps`` steps: each option (seed 0) and fp32 seed 1."""
    window = max(1, steps // 5)
    runs = [(o, 0) for o in options] + [("fp32", 1)]
    print(f"\n### Loss after {steps} steps (mean of the last {window})\n")
    print("| model | option | seed | loss | − fp32 seed 0 |")
    print("|---|---|---|---|---|")
    models = {
        "ddpm quick": lambda o, s: ddpm_run(o, steps, s)[1],
        "sinddm quick": lambda o, s: sinddm_quick_losses(o, steps, s, image),
        "singan paper scale 0 (rec)": lambda o, s: singan_paper_scale(o, 0, steps, image, s)[1],
    }
    for model, run in models.items():
        if model.split()[0] not in which:
            continue
        base = None
        for option, seed in runs:
            value = tail_mean(run(option, seed), window)
            base = value if base is None else base
            print(
                f"| {model} | {option} | {seed} | {value:.5f} | {value - base:+.5f} |", flush=True
            )


def machine() -> str:
    """CPU model, torch version and threads, and the load average."""
    cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = next((ln.split(":", 1)[1].strip() for ln in cpu.splitlines() if "Model name" in ln), "")
    flags = next((ln for ln in cpu.splitlines() if ln.startswith("Flags")), "")
    native = [f for f in ("avx512_bf16", "amx_bf16", "avx512_fp16") if f in flags.split()]
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    return (
        f"{model} ({platform.machine()}), torch {torch.__version__}, "
        f"{torch.get_num_threads()} thread(s), native bf16/fp16 flags: {native or 'none'}, "
        f"load average {' '.join(load)}"
    )


def main() -> None:
    """Parse the options, time and print the tables."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", default="ddpm,singan,sinddm")
    parser.add_argument("--options", default="fp32,fused,channels_last,cl+fused,bf16")
    parser.add_argument("--sinddm-options", default="fp32,channels_last,bf16")
    parser.add_argument("--loss-options", default="fp32,cl+fused,bf16")
    parser.add_argument("--reps", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--sinddm-reps", type=int, default=2, help="SinDDM paper rounds")
    parser.add_argument(
        "--sinddm-warmup",
        type=int,
        default=0,
        help="discarded SinDDM rounds first (1 when timing compile: it fills the compile cache)",
    )
    parser.add_argument("--ddpm-steps", type=int, default=10)
    parser.add_argument("--singan-iters", type=int, default=10)
    parser.add_argument("--loss-steps", type=int, default=100)
    parser.add_argument("--losses-only", action="store_true")
    parser.add_argument("--no-losses", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    image = tiny_dataset(image_size=256, n=1).images
    print(f"machine: {machine()}")
    options = args.options.split(",")
    models = args.models.split(",")
    if not args.losses_only:
        units: dict[str, Callable[[str], float]] = {}
        if "ddpm" in models:
            units["ddpm quick s/step"] = lambda o: ddpm_run(o, args.ddpm_steps)[0]
        for n in (0, 5) if "singan" in models else ():
            units[f"singan paper scale {n} s/it"] = lambda o, n=n: singan_paper_scale(
                o, n, args.singan_iters, image
            )[0]
        if units:
            print_times("Seconds per step", interleaved(units, options, args.reps, 1))
        if "sinddm" in models:
            paper = {
                f"sinddm paper scale {s} s/step": (lambda o, s=s: sinddm_paper_step(o, s, image))
                for s in (0, 1)
            }
            print_times(
                "SinDDM paper",
                interleaved(
                    paper, args.sinddm_options.split(","), args.sinddm_reps, args.sinddm_warmup
                ),
            )
    if not args.no_losses:
        loss_table(args.loss_options.split(","), args.loss_steps, image, models)
    print(f"\nmachine at the end: {machine()}")


if __name__ == "__main__":
    main()
