"""Build a network without initialising it, then give it a checkpoint's tensors."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def with_state(factory: Callable[[], nn.Module], state: dict[str, torch.Tensor]) -> nn.Module:
    """``factory()`` built on the meta device (no random initialisation is computed),
    then every parameter and buffer taken from ``state`` (strict: missing or unexpected
    keys raise), in eval mode."""
    with torch.device("meta"):
        net = factory()
    net.load_state_dict(state, strict=True, assign=True)
    left = [name for name, t in (*net.named_parameters(), *net.named_buffers()) if t.is_meta]
    if left:
        raise ValueError(f"the checkpoint does not set {left[:5]}")
    return net.eval()
