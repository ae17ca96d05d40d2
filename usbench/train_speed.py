"""Training speed options of :class:`usbench.training.TrainSettings`, implemented once.

Every trained generator reads the same four settings, through the shared loop
(:func:`usbench.training.train`) or its own loop (SinGAN's per-scale trainer):

* ``train.precision``: ``fp32`` (default, bit-identical to earlier versions), ``bf16``
  (forward and backward under ``torch.autocast`` in bfloat16; weights, gradients, Adam
  moments and EMA stay float32) or ``fp16`` (float16 autocast with a gradient scaler;
  CUDA only: a CPU run is refused, because CPU float16 convolutions are slow and a
  gradient scaler is needed against underflow).
* ``train.channels_last``: the network's weights (and 4-D image batches) in NHWC memory
  layout, which oneDNN on a CPU and cuDNN tensor cores convolve faster. The values are
  equal up to float rounding (a different summation order).
* ``train.compile``: ``torch.compile`` mode of the trained network (``off``, ``default``,
  ``reduce-overhead``); the module is compiled in place (``nn.Module.compile``), so its
  ``state_dict`` keys and checkpoints are unchanged.
* ``train.optimizer_impl``: torch's Adam implementation: ``default`` (torch's choice),
  ``foreach`` (one multi-tensor kernel per update) or ``fused`` (one fused kernel).

Determinism: on a given machine and thread count, fp32, bf16 and channels_last resume
from a checkpoint to the weights of an uninterrupted run (tested). fp16's gradient scaler
state is not checkpointed, so an fp16 resume is close but not exact; compile and the Adam
kernels are deterministic in practice but their resume is not tested. Only fp32 with the
other options at their defaults reproduces earlier versions' weights bit for bit; the
others change the rounding of every step, so their values are part of a run's identity.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Literal

import torch
from torch import nn

from usbench.errors import UsbenchError

Precision = Literal["fp32", "bf16", "fp16"]
CompileMode = Literal["off", "default", "reduce-overhead"]
OptimizerImpl = Literal["default", "foreach", "fused"]

AUTOCAST_DTYPES: dict[str, torch.dtype] = {"bf16": torch.bfloat16, "fp16": torch.float16}
"""The autocast dtype of each reduced precision."""


class PrecisionUnsupported(UsbenchError, ValueError):
    """The requested precision cannot train on this device."""


def check_precision(precision: str, device: torch.device | str) -> None:
    """Refuse ``fp16`` off CUDA, with the settings that work instead."""
    if precision == "fp16" and torch.device(device).type != "cuda":
        raise PrecisionUnsupported(
            "train.precision=fp16 needs a CUDA GPU (float16 autocast with a gradient "
            "scaler); on a CPU use --set train.precision=bf16 or fp32"
        )


def autocast(precision: str, device: torch.device | str) -> contextlib.AbstractContextManager:
    """``torch.autocast`` for ``precision`` on ``device`` (a no-op context for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    check_precision(precision, device)
    return torch.autocast(device_type=torch.device(device).type, dtype=AUTOCAST_DTYPES[precision])


def accelerate_precision(precision: str) -> str:
    """Accelerate's ``mixed_precision`` name for ``precision`` (``no``, ``bf16``, ``fp16``)."""
    return "no" if precision == "fp32" else precision


def prepare_module(module: nn.Module, *, channels_last: bool, compile_mode: str) -> nn.Module:
    """Apply ``channels_last`` and ``compile`` to ``module`` in place (parameters keep their
    identity, so optimizers and EMA built before or after see the same tensors)."""
    if channels_last:
        module.to(memory_format=torch.channels_last)
    if compile_mode != "off":
        module.compile(mode=compile_mode)
    return module


def release_module(module: nn.Module) -> nn.Module:
    """Undo ``compile`` after training (sampling runs other shapes, eagerly) and return the
    weights to the default layout, so saved tensors are contiguous as before."""
    module._compiled_call_impl = None
    module.to(memory_format=torch.contiguous_format)
    return module


def images_layout(images: torch.Tensor, *, channels_last: bool) -> torch.Tensor:
    """A 4-D image batch in NHWC layout when ``channels_last``, else unchanged."""
    if channels_last and images.dim() == 4:
        return images.contiguous(memory_format=torch.channels_last)
    return images


def adam(
    params: Iterable[nn.Parameter],
    *,
    lr: float,
    betas: tuple[float, ...],
    weight_decay: float,
    impl: str,
) -> torch.optim.Adam:
    """``torch.optim.Adam`` with the implementation ``impl`` (``default``, ``foreach``,
    ``fused``); the update rule is the same for all three."""
    return torch.optim.Adam(
        params,
        lr=lr,
        betas=(betas[0], betas[1]),
        weight_decay=weight_decay,
        foreach=True if impl == "foreach" else None,
        fused=True if impl == "fused" else None,
    )
