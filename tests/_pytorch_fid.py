"""pytorch-fid's own command line as the reference, run offline on our FID weights."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import torch


def pytorch_fid_cli(args: list[str], torch_home: Path) -> str:
    """Run ``python -m pytorch_fid ARGS --device cpu`` and return its stdout.

    pytorch-fid downloads its weights from a URL that is unreachable offline, so the
    converted FID Inception weights of the weights cache are placed, under the file name
    it expects, in a private ``torch_home`` first.
    """
    checkpoint = torch_home / "hub" / "checkpoints" / "pt_inception-2015-12-05-6726825d.pth"
    if not checkpoint.is_file():
        from safetensors.torch import load_file

        from usbench import weights

        state = load_file(str(weights.fetch("fid-inception", allow_download=False)))
        state["fc.weight"] = torch.zeros(1008, 2048)  # loaded strictly; fc is unused
        state["fc.bias"] = torch.zeros(1008)
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        torch.save(state, checkpoint)
    env = {**os.environ, "TORCH_HOME": str(torch_home)}
    command = [sys.executable, "-m", "pytorch_fid", *args, "--device", "cpu"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return done.stdout


def pytorch_fid_value(first: Path, second: Path, torch_home: Path) -> float:
    """pytorch-fid's FID of two folders or ``.npz`` statistics files."""
    stdout = pytorch_fid_cli([str(first), str(second)], torch_home)
    return float(re.search(r"FID:\s*([0-9.eE+-]+)", stdout).group(1))
