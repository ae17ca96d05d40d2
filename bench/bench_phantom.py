"""Time ``lus-phantom`` rendering: seconds for 96 images at several sizes on one thread.

Run by hand: ``python bench/bench_phantom.py``. Prints seconds per dataset and per image.
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
        start = time.perf_counter()
        data = LUSPhantom().load(image_size=size, options={"n_per_class": "32"})
        seconds = time.perf_counter() - start
        per_image_ms = seconds / len(data) * 1e3
        print(f"{size:4d} px: {len(data)} images in {seconds:6.2f} s ({per_image_ms:.1f} ms/image)")


if __name__ == "__main__":
    main()
