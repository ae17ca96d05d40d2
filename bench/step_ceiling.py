"""The arithmetic ceiling of a training step: how much faster any fp32 option could make it.

    python bench/step_ceiling.py                       # SinDDM scales 0, 1; SinGAN scales 0, 5
    python bench/step_ceiling.py --units sinddm:0,singan:5 --reps 5

A step's floating-point work is fixed by the model (its convolutions and products), whatever
the memory layout, compiler or optimizer implementation; those options can only raise the
rate at which the CPU does that work. This bench measures both sides in one process, at
one torch thread:

* the work of one step: every multiply-add of one training step counted by torch's own
  formulas (``torch.utils.flop_counter.flop_registry``: convolutions, their backward, matrix
  products; 2 FLOPs per multiply-add) over the aten operations the step runs, SinGAN's
  gradient penalty's double backward included, through the same calls that
  ``bench/training_speed.py`` times (SinDDM: one optimizer step of the ``paper`` config at
  one scale, batch 32; SinGAN: ``paper`` iterations, 3 critic + 3 generator steps each);
* the step's time (median of ``--reps`` interleaved rounds) and so the rate it achieves (the
  time includes the step's small fixed costs with no arithmetic, such as its checkpoint, so
  the rate is a slight underestimate and the ceiling below a slight overestimate);
* the rate of a dense fp32 matrix product (``torch.mm``, ``--gemm``-sized squares), the best
  rate this core reaches on any fp32 arithmetic, timed in the same rounds.

``gemm rate / step rate`` bounds the speed-up of every fp32 option set: a step cannot do its
fixed work faster than the core multiplies matrices. Only fewer FLOPs (another model) or
cheaper ones (bf16/fp16 on a CPU with native instructions for them, or a GPU) go past it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/, run as a script
from bench.training_speed import (  # noqa: E402
    machine,
    sinddm_paper_step,
    singan_paper_scale,
)
from usbench.testing import tiny_dataset  # noqa: E402


def gemm_seconds(size: int) -> tuple[float, float]:
    """Seconds and FLOPs of one ``size×size`` fp32 matrix product (after one warm call)."""
    a = torch.randn(size, size)
    b = torch.randn(size, size)
    torch.mm(a, b)
    start = time.perf_counter()
    torch.mm(a, b)
    return time.perf_counter() - start, 2.0 * size**3


class Unit(NamedTuple):
    """A timed unit: ``run()`` trains ``steps`` steps (SinGAN: iterations) in fp32 and returns
    the seconds per step."""

    run: Callable[[], float]
    steps: int


def step_units(image: torch.Tensor, singan_iters: int) -> dict[str, Unit]:
    """``{"model:scale": unit}`` for SinDDM scales 0, 1 and SinGAN scales 0, 5."""
    units: dict[str, Unit] = {}
    for scale in (0, 1):
        units[f"sinddm:{scale}"] = Unit(lambda s=scale: sinddm_paper_step("fp32", s, image), 1)
    for scale in (0, 5):
        units[f"singan:{scale}"] = Unit(
            lambda s=scale: singan_paper_scale("fp32", s, singan_iters, image)[0], singan_iters
        )
    return units


class CountFlops(TorchDispatchMode):
    """Sums ``flop_registry``'s count of every aten operation run inside it into ``total``.

    ``FlopCounterMode`` does the same but also tracks modules with hooks that
    ``torch.autograd.grad`` (SinGAN's gradient penalty) refuses, hence this plain mode.
    """

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.total += formula(*args, **kwargs, out_val=out)
        return out


def counted_flops(unit: Unit) -> float:
    """FLOPs of one step of ``unit``, counted on a run of its own."""
    counter = CountFlops()
    with counter:
        unit.run()
    return counter.total / unit.steps


def main() -> None:
    """Count each unit's FLOPs, then time units and the GEMM interleaved; print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--units", default="sinddm:0,sinddm:1,singan:0,singan:5")
    parser.add_argument("--reps", type=int, default=3, help="interleaved timed rounds")
    parser.add_argument("--warmup", type=int, default=1, help="discarded rounds first")
    parser.add_argument("--singan-iters", type=int, default=2)
    parser.add_argument("--gemm", type=int, default=2048, help="side of the fp32 GEMM")
    args = parser.parse_args()
    torch.set_num_threads(1)
    image = tiny_dataset(image_size=256, n=1).images
    print(f"machine: {machine()}", flush=True)
    names = args.units.split(",")
    every_unit = step_units(image, args.singan_iters)
    units = {n: every_unit[n] for n in names}
    flops = {n: counted_flops(u) for n, u in units.items()}
    for n in names:
        print(f"  {n}: {flops[n] / 1e9:.2f} GFLOP per step", flush=True)
    seconds: dict[str, list[float]] = {n: [] for n in [*names, "gemm"]}
    gemm_flops = 0.0
    for rep in range(args.warmup + args.reps):
        gemm_s, gemm_flops = gemm_seconds(args.gemm)
        timed = {"gemm": gemm_s, **{n: u.run() for n, u in units.items()}}
        for n, s in timed.items():
            print(f"  round {rep} {n:10s} {s:9.3f} s", flush=True)
            if rep >= args.warmup:
                seconds[n].append(s)
    gemm_rate = gemm_flops / statistics.median(seconds["gemm"])
    print(f"\nfp32 GEMM {args.gemm}²: {gemm_rate / 1e9:.1f} GFLOP/s (median of {args.reps})\n")
    print("| unit | GFLOP per step | median s per step | GFLOP/s | of GEMM rate | ceiling × |")
    print("|---|---|---|---|---|---|")
    for n in names:
        rate = flops[n] / statistics.median(seconds[n])
        print(
            f"| {n} | {flops[n] / 1e9:.2f} | {statistics.median(seconds[n]):.3f} "
            f"| {rate / 1e9:.1f} | {rate / gemm_rate:.0%} | {gemm_rate / rate:.2f} |"
        )
    print(f"\nmachine at the end: {machine()}")


if __name__ == "__main__":
    main()
