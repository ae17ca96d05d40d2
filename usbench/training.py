"""The training loop shared by the diffusion generators, on HF Accelerate.

A model hands the loop an ``nn.Module`` whose ``forward(images, labels, generator)``
returns the scalar loss. All randomness of a step (batch choice, timesteps, noise, dropout)
derives from ``(seed, step, process rank)``, so a run that is killed and resumed from its
newest checkpoint ends with exactly the weights of an uninterrupted run.

What the loop provides: Adam (``train.optimizer_impl``), mixed precision through
Accelerate (``train.precision``), ``train.channels_last`` and ``train.compile`` (see
:mod:`usbench.train_speed`), a step-wise learning-rate schedule (multi-step decay),
gradient clipping, EMA (diffusers ``EMAModel``), a progress bar, atomic checkpoints
(safetensors + JSON, never pickle) every ``checkpoint_every`` steps, ``resume``, a NaN
guard and multi-process data parallelism under ``accelerate launch``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import ClassVar, Literal, Protocol

import torch
from torch import nn
from tqdm.auto import tqdm

from usbench.checkpoints import CheckpointDir, TrainingState
from usbench.data.imageset import ImageSet
from usbench.errors import UsbenchError
from usbench.protocols import FitContext
from usbench.train_speed import (
    accelerate_precision,
    adam,
    check_precision,
    images_layout,
    prepare_module,
    release_module,
)


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation settings of one training run: the ``train`` section of every trained
    generator's Config (``--set train.lr=1e-4``, ``-g ddpm:train.steps=200``). Counts are
    optimizer steps; each generator gives its own defaults.

    steps: optimizer steps (SinGAN: iterations per scale) [>= 1].
    batch_size: images per step [>= 1].
    lr: Adam learning rate before any decay (0, 1].
    lr_milestones: steps at which the learning rate is multiplied by ``lr_gamma`` [>= 1].
    lr_gamma: factor applied at every milestone (0, 1].
    betas: Adam (β1, β2); a single value sets β1 alone (β2 = 0.999) [0, 1).
    weight_decay: Adam's L2 weight decay [>= 0].
    ema_decay: decay of the EMA weights used for sampling (0 = no EMA) [0, 1).
    grad_clip: maximum gradient norm (None or 0 = no clipping) [>= 0].
    checkpoint_every: steps between resumable checkpoints (the last step always writes
        one) [>= 1].
    log_every: steps between logged losses (None or 0 = ten entries a run, at most every
        50 steps) [>= 0].
    precision: arithmetic of forward and backward: fp32, bf16 (autocast; weights, Adam and
        EMA stay float32) or fp16 (autocast with a gradient scaler, CUDA only).
    channels_last: convolution weights and image batches in NHWC memory layout.
    compile: torch.compile mode of the trained network: off, default or reduce-overhead.
    optimizer_impl: Adam implementation: default (torch's choice), foreach or fused.
    """

    steps: int = 1000
    batch_size: int = 16
    lr: float = 1e-4
    lr_milestones: tuple[int, ...] = ()
    lr_gamma: float = 0.5
    betas: tuple[float, ...] = (0.9, 0.999)
    weight_decay: float = 0.0
    ema_decay: float = 0.9999
    grad_clip: float | None = 1.0
    checkpoint_every: int = 1000
    log_every: int | None = None
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    channels_last: bool = False
    compile: Literal["off", "default", "reduce-overhead"] = "off"
    optimizer_impl: Literal["default", "foreach", "fused"] = "default"

    omitted_at_default: ClassVar[tuple[str, ...]] = (
        "precision",
        "channels_last",
        "compile",
        "optimizer_impl",
    )
    """Settings added after runs were stored: left out of run keys and config hashes while
    they hold their defaults, so those runs keep their identity."""

    def __post_init__(self) -> None:
        if len(self.betas) == 1:  # SinGAN's former ``beta1`` key
            object.__setattr__(self, "betas", (float(self.betas[0]), 0.999))
        if len(self.betas) != 2:
            raise ValueError(f"betas must be two values b1,b2, got {self.betas}")
        if self.steps < 1 or self.batch_size < 1 or self.checkpoint_every < 1:
            raise ValueError("steps, batch_size and checkpoint_every must be >= 1")

    @property
    def log_interval(self) -> int:
        """Steps between logged losses (``log_every``, or its automatic value)."""
        return self.log_every or max(1, min(50, self.steps // 10))

    def learning_rate_at(self, step: int) -> float:
        """Learning rate used for optimizer step ``step`` (0-based)."""
        decays = sum(1 for m in self.lr_milestones if step >= m)
        return self.lr * self.lr_gamma**decays


TRAIN_KEYS_RENAMED: Mapping[str, str] = MappingProxyType(
    {
        "steps": "train.steps",
        "batch_size": "train.batch_size",
        "learning_rate": "train.lr",
        "lr_milestones": "train.lr_milestones",
        "lr_gamma": "train.lr_gamma",
        "weight_decay": "train.weight_decay",
        "ema_decay": "train.ema_decay",
        "grad_clip": "train.grad_clip",
        "checkpoint_every": "train.checkpoint_every",
        "log_every": "train.log_every",
    }
)
"""The flat keys generators had before the ``train`` section, for a Config's ``renamed``:
old command lines (``--set steps=500``) and saved ``config.json`` files keep working."""


class BatchSource(Protocol):
    """Supplies the training batch of each step."""

    def batch(
        self, step: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(images B×C×H×W float32, labels B int64 or None)`` for ``step``.

        All randomness must come from ``generator`` (seeded per step and process).
        """


class RandomBatches:
    """Uniform draws, with replacement, of ``batch_size`` images from ``data``."""

    def __init__(self, data: ImageSet, batch_size: int) -> None:
        if len(data) == 0:
            raise ValueError("cannot train on an empty dataset")
        self.data = data
        self.batch_size = batch_size

    def batch(
        self, step: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        idx = torch.randint(len(self.data), (self.batch_size,), generator=generator)
        return self.data.images[idx], self.data.labels[idx]


class TrainingDiverged(UsbenchError, RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


@dataclass
class TrainOutcome:
    """Result of :func:`train`.

    ema_state: the EMA weights as a ``state_dict`` (raw weights when EMA is off).
    losses: ``(step, loss)`` every ``log_interval`` steps (mean over processes).
    steps: optimizer steps done in total (including those before a resume).
    """

    ema_state: dict[str, torch.Tensor]
    losses: list[tuple[int, float]] = field(default_factory=list)
    steps: int = 0


def step_seed(seed: int, step: int, rank: int) -> int:
    """A 63-bit seed derived from (run seed, step, process rank)."""
    digest = hashlib.sha256(f"{seed}:{step}:{rank}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def train(
    model: nn.Module,
    batches: BatchSource,
    settings: TrainSettings,
    ctx: FitContext,
    *,
    tag: str = "model",
) -> TrainOutcome:
    """Train ``model`` for ``settings.steps`` steps; see the module docstring."""
    from diffusers.training_utils import EMAModel

    accelerator = _accelerator(settings.precision)
    check_precision(settings.precision, accelerator.device)
    prepare_module(model, channels_last=settings.channels_last, compile_mode=settings.compile)
    optimizer = adam(
        model.parameters(),
        lr=settings.lr,
        betas=settings.betas,
        weight_decay=settings.weight_decay,
        impl=settings.optimizer_impl,
    )
    ema = EMAModel(model.parameters(), decay=settings.ema_decay) if settings.ema_decay else None
    store = CheckpointDir(Path(ctx.workdir) / tag)
    state = TrainingState()
    if ctx.resume and store.latest() is not None:
        state = store.load(model, optimizer, ema)
    state.num_processes = accelerator.num_processes
    wrapped, optimizer = accelerator.prepare(model, optimizer)
    if ema is not None:
        ema.to(accelerator.device)

    loop = _Loop(accelerator, wrapped, optimizer, ema, batches, settings, ctx, store)
    loop.run(state)
    accelerator.wait_for_everyone()
    ema_state = _ema_state_dict(accelerator.unwrap_model(wrapped), ema)
    accelerator.unwrap_model(wrapped, keep_fp32_wrapper=False)  # sampling runs without autocast
    if settings.channels_last or settings.compile != "off":
        release_module(model)
    return TrainOutcome(ema_state=ema_state, losses=list(state.losses), steps=state.step)


def _accelerator(precision: str):
    """An ``Accelerator`` with ``precision``'s ``mixed_precision``. Accelerate keeps one
    precision per process; a training that asks for another starts its state afresh (the
    process group, if any, is kept)."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    wanted = accelerate_precision(precision)
    current = AcceleratorState._shared_state.get("_mixed_precision")
    if current is not None and current != wanted:
        AcceleratorState._reset_state(reset_partial_state=False)
    return Accelerator(cpu=not torch.cuda.is_available(), mixed_precision=wanted)


class _Loop:
    """The per-step mechanics of :func:`train` (kept apart to keep each piece small)."""

    def __init__(self, accelerator, model, optimizer, ema, batches, settings, ctx, store):
        self.accelerator = accelerator
        self.model = model
        self.optimizer = optimizer
        self.ema = ema
        self.batches = batches
        self.settings = settings
        self.ctx = ctx
        self.store = store

    def run(self, state: TrainingState) -> None:
        settings = self.settings
        show = self.ctx.progress and self.accelerator.is_main_process
        bar = tqdm(
            total=settings.steps,
            initial=state.step,
            desc=f"train {self.store.root.name}",
            disable=not show,
            dynamic_ncols=True,
        )
        running, count = 0.0, 0  # loss summed over the steps since the last log entry
        for step in self._steps(state.step):
            running += self._one_step(step)
            count += 1
            state.step = step + 1
            bar.update(1)
            if state.step % settings.log_interval == 0 or state.step == settings.steps:
                state.losses.append((state.step, running / count))
                bar.set_postfix(loss=f"{running / count:.4f}")
                running, count = 0.0, 0
            if state.step % settings.checkpoint_every == 0 or state.step == settings.steps:
                self._checkpoint(state)
        bar.close()

    def _steps(self, start: int) -> Iterator[int]:
        return iter(range(start, self.settings.steps))

    def _one_step(self, step: int) -> float:
        rank = self.accelerator.process_index
        seed = step_seed(self.ctx.seed, step, rank)
        torch.manual_seed(seed)  # dropout and any other global-RNG use inside forward
        generator = torch.Generator().manual_seed(seed)
        images, labels = self.batches.batch(step, generator)
        images = images_layout(
            images.to(self.accelerator.device), channels_last=self.settings.channels_last
        )
        labels = labels.to(self.accelerator.device) if labels is not None else None
        for group in self.optimizer.param_groups:
            group["lr"] = self.settings.learning_rate_at(step)
        self.model.train()
        loss = self.model(images, labels, generator)
        mean_loss = float(self.accelerator.reduce(loss.detach(), reduction="mean"))
        if not math.isfinite(mean_loss):
            last = self.store.latest()
            where = f"step {last.step} in {last.path}" if last else "none was written yet"
            raise TrainingDiverged(
                f"loss became {mean_loss} at step {step}; the last good checkpoint is {where}. "
                "Lower the learning rate (--set train.lr=...) and resume with --resume."
            )
        self.optimizer.zero_grad(set_to_none=True)
        self.accelerator.backward(loss)
        if self.settings.grad_clip:
            self.accelerator.clip_grad_norm_(self.model.parameters(), self.settings.grad_clip)
        self.optimizer.step()
        if self.ema is not None:
            self.ema.step(self.accelerator.unwrap_model(self.model).parameters())
        return mean_loss

    def _checkpoint(self, state: TrainingState) -> None:
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            model = self.accelerator.unwrap_model(self.model)
            optimizer = getattr(self.optimizer, "optimizer", self.optimizer)
            self.store.save(state, model, optimizer, self.ema)
        self.accelerator.wait_for_everyone()


def _ema_state_dict(model: nn.Module, ema) -> dict[str, torch.Tensor]:
    if ema is None:
        return _plain_copy(model.state_dict())
    params = list(model.parameters())
    ema.store(params)
    ema.copy_to(params)
    state = _plain_copy(model.state_dict())
    ema.restore(params)
    return state


def _plain_copy(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """CPU copies in the default (contiguous) layout, whatever ``channels_last`` did."""
    return {
        k: v.detach().cpu().clone(memory_format=torch.contiguous_format) for k, v in tensors.items()
    }


def read_loss_log(workdir: Path, tag: str = "model") -> list[tuple[int, float]]:
    """The loss log of the newest checkpoint of ``workdir/tag`` (for reports)."""
    latest = CheckpointDir(Path(workdir) / tag).latest()
    if latest is None:
        return []
    return [tuple(x) for x in json.loads((latest.path / "state.json").read_text())["losses"]]
