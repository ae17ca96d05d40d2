"""Train the smoke DDPM on the tiny dataset; run as a script by the training tests.

usage: python _train_ddpm.py WORKDIR STEPS [--resume]
Writes WORKDIR/final-rank<R>.safetensors (the EMA weights) from every process.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from safetensors.torch import save_file

from usbench.generators.ddpm import DDPMGenerator
from usbench.protocols import FitContext
from usbench.testing import tiny_dataset


def main() -> None:
    workdir, steps = Path(sys.argv[1]), sys.argv[2]
    generator = DDPMGenerator.from_preset(
        "smoke", {"train.steps": steps, "train.checkpoint_every": "3", "base_channels": "16"}
    )
    ctx = FitContext(workdir=workdir, seed=7, resume="--resume" in sys.argv, progress=False)
    generator.fit(tiny_dataset(image_size=16, n=8), ctx)
    rank = os.environ.get("RANK", "0")
    save_file(generator.state_tensors(), str(workdir / f"final-rank{rank}.safetensors"))


if __name__ == "__main__":
    main()
