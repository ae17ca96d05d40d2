"""Seed 000 Fig. 4: CW-SSIM of AWDiff samples vs their source image, à trous vs DWT encoder.

    python bench/awdiff_encoder_ablation.py --preset smoke --image-size 64
    python bench/awdiff_encoder_ablation.py --metric cw-ssim --metric cw-ssim:transform=dtcwt
    python bench/awdiff_encoder_ablation.py --preset quick --dataset lus-mini \
        --data-root ../shared/data/pocus-lus --n-samples 32

Trains both ``encoder`` variants with the same data, seed and config (label-embedding
fallback: BiomedCLIP weights are not assumed) and prints the paired metric of each
(mean ± std over samples, bootstrap 95 % interval) plus the seconds taken; several
``--metric`` selectors score the same samples. Run by hand; numbers from a few training
steps say nothing about the paper's claim. The default ``cw-ssim`` (steerable pyramid)
needs images of at least 64 px.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

from usbench.data import open_dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/, run as a script
from bench.awdiff_ablation import encoder_ablation  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="smoke")
    parser.add_argument("--dataset", default="lus-phantom")
    parser.add_argument("--data-root", type=Path)
    parser.add_argument("--n-per-class", type=int, default=8, help="lus-phantom only")
    parser.add_argument("--image-size", type=int, help="default: the preset's")
    parser.add_argument("--steps", type=int, help="default: the preset's")
    parser.add_argument("--n-samples", type=int, default=16)
    parser.add_argument(
        "--metric", action="append", help="metric selector, repeatable (default: cw-ssim)"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other awdiff setting, e.g. train.checkpoint_every=1000",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    overrides = {"text_encoder": "label-embedding"}
    if args.image_size:
        overrides["image_size"] = str(args.image_size)
    if args.steps:
        overrides["train.steps"] = str(args.steps)
    overrides.update(item.split("=", 1) for item in args.set)
    from usbench.generators.awdiff import AWDiffGenerator

    size = AWDiffGenerator.from_preset(args.preset, overrides).config.image_size
    options = {"n_per_class": str(args.n_per_class)} if args.dataset == "lus-phantom" else {}
    data = open_dataset(args.dataset, image_size=size, root=args.data_root, options=options)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        scores = encoder_ablation(
            data,
            metric=args.metric or ["cw-ssim"],
            preset=args.preset,
            overrides=overrides,
            n_samples=args.n_samples,
            workdir=Path(tmp),
            seed=args.seed,
        )
    seconds = time.perf_counter() - start
    print(f"{args.dataset} ({len(data)} images, {size} px) preset={args.preset} seed={args.seed}")
    print(f"{'encoder':<8}{'metric':<26}{'mean':>8}{'± std':>9}{'95% CI':>20}{'n':>5}")
    for s in scores:
        for selector, r in s.results.items():
            ci = f"[{r.ci_low:.4f}, {r.ci_high:.4f}]" if r.ci_low is not None else "-"
            print(f"{s.encoder:<8}{selector:<26}{r.value:>8.4f}{r.spread:>9.4f}{ci:>20}{r.n:>5}")
    print(f"{seconds:.1f} s for both variants")


if __name__ == "__main__":
    main()
