"""Cost of ``frd``: seconds per image of the radiomic features, and FRD on N vs N frames.

Run by hand (never part of the tests); results go to bench/RESULTS.md::

    python bench/frd_cost.py                  # 40 regular vs 40 COVID-19 frames, 256 px
    python bench/frd_cost.py --n 10 --size 128
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from usbench.metrics.frd import FRD
from usbench.protocols import EvalInputs
from usbench.sample_sources import as_imageset
from usbench.samples import SampleBatch

SHARED = Path(os.environ.get("USBENCH_SHARED", Path(__file__).resolve().parents[2] / "shared"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40, help="frames per set (default 40)")
    parser.add_argument("--size", type=int, default=256, help="image side in px (default 256)")
    args = parser.parse_args()
    frames = SHARED / "data" / "pocus-lus"
    real = as_imageset(str(frames / "regular"), image_size=args.size)
    covid = as_imageset(str(frames / "covid"), image_size=args.size)
    real = real.subset(range(min(args.n, len(real))))
    generated = covid.images[: args.n]
    start, cpu = time.perf_counter(), time.process_time()
    result = FRD().compute(EvalInputs(SampleBatch(generated), real))
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    images = len(real) + len(generated)
    print(f"{len(real)} vs {len(generated)} frames at {args.size} px: FRD {result.value:.4f}")
    print(f"wall {wall:.1f} s, CPU {cpu:.1f} s, {cpu / images:.2f} CPU s per image")
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
