"""Time ``lus-phantom`` rendering: 96 images at several sizes on one thread.

Run by hand: ``python bench/bench_phantom.py``. Prints wall and CPU seconds; CPU time is
the figure to trust on a shared, loaded machine.
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

from usbench.data.phantom import LUSPhantom  # noqa: E402


def main() -> None:
    """Render 96 images (32 per class, mixed geometry) at 64, 128 and 256 px."""
    import torch

    torch.set_num_threads(1)
    for size in (64, 128, 256):
        start, cpu_start = time.perf_counter(), time.process_time()
        data = LUSPhantom(LUSPhantom.Config(n_per_class=32)).load(image_size=size)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        print(f"{size:4d} px: {len(data)} images, {wall:6.2f} s wall, {cpu:6.2f} s CPU")


if __name__ == "__main__":
    main()
