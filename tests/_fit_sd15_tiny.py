"""Fit the smoke SD1.5 hybrid on a tiny random pipeline; run as a script by its tests.

usage: python _fit_sd15_tiny.py BASE_MODEL_DIR WORKDIR
Writes WORKDIR/adapters-rank<R>.safetensors (LoRA + token) from every process.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

from usbench.generators.sd15_hybrid import SD15Hybrid
from usbench.protocols import FitContext
from usbench.testing import tiny_dataset


def main() -> None:
    base, workdir = sys.argv[1], Path(sys.argv[2])
    torch.set_num_threads(1)
    overrides = {"base_model": base, "ti_steps": "3", "train.steps": "3"}
    generator = SD15Hybrid.from_preset("smoke", overrides)
    generator.fit(tiny_dataset(image_size=32, n=6, num_classes=3), FitContext(workdir, seed=3))
    rank = os.environ.get("RANK", "0")
    save_file(generator.state_tensors(), str(workdir / f"adapters-rank{rank}.safetensors"))


if __name__ == "__main__":
    main()
