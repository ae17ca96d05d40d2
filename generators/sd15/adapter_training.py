"""A small resumable training loop for adapter parameters (LoRA matrices, a token vector).

Why not the shared full-model loop: only a few thousand adapter numbers train while the
~1 B frozen SD1.5 weights stay fixed, so checkpoints hold the adapter tensors and their
AdamW state only (kilobytes to megabytes instead of gigabytes). The guarantees are the
shared loop's:

* every random draw of step ``s`` (batch indices, timesteps, noise) comes from a
  ``torch.Generator`` seeded from ``(seed, stage, s, process rank)``, so a resumed run is
  bit-identical to an uninterrupted one;
* atomic checkpoints every ``checkpoint_every`` steps and at the end, into
  ``workdir/<stage>/checkpoint-<step>/`` (``adapter.safetensors``,
  ``optimizer.safetensors``, ``state.json`` with the step counter and losses); only the
  newest is kept; a run with ``resume`` continues from it (and skips a finished stage);
* a NaN/inf loss raises :class:`AdapterTrainingDiverged` naming the step (the last good
  checkpoint stays on disk);
* HF Accelerate places tensors and, under ``accelerate launch``, averages the adapter
  gradients across processes; only the main process writes checkpoints.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

CHECKPOINT_PREFIX = "checkpoint-"


class AdapterTrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite; the message names the step and the last checkpoint."""


@dataclass(frozen=True)
class StageSettings:
    """Optimiser settings of one training stage (AdamW, constant learning rate).

    steps: optimiser steps; learning_rate: AdamW lr; weight_decay: AdamW decoupled decay;
    grad_clip: max global gradient norm (``None``/0 disables); checkpoint_every: steps
    between checkpoints (a checkpoint is always written at the end).
    """

    steps: int
    learning_rate: float
    weight_decay: float = 1e-2
    adam_betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float | None = 1.0
    checkpoint_every: int = 500


@dataclass(frozen=True)
class StageOutcome:
    """What a stage returns: the loss at each step run here or restored, and the last step."""

    losses: list[tuple[int, float]]
    steps: int


def step_generator(seed: int, stage: str, step: int, rank: int) -> torch.Generator:
    """A CPU generator seeded from ``(seed, stage, step, rank)`` (sha256, 63 bits)."""
    digest = hashlib.sha256(f"{seed}:{stage}:{step}:{rank}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1)


LossFn = Callable[[torch.Generator], torch.Tensor]


def train_adapter(
    params: dict[str, nn.Parameter],
    loss_fn: LossFn,
    settings: StageSettings,
    *,
    workdir: Path,
    stage: str,
    seed: int,
    resume: bool,
    progress: bool = False,
) -> StageOutcome:
    """Minimise ``loss_fn(generator)`` over ``params`` (which must already require grad).

    ``loss_fn`` draws all its randomness from the generator it is given and returns a
    scalar tensor. Checkpoints go to ``workdir/stage``. Returns the loss history.
    """
    from accelerate import Accelerator

    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    names = sorted(params)
    optimizer = torch.optim.AdamW(
        [params[n] for n in names],
        lr=settings.learning_rate,
        betas=settings.adam_betas,
        weight_decay=settings.weight_decay,
    )
    folder = Path(workdir) / stage
    start, losses = 0, []
    if resume:
        start, losses = _restore_newest(folder, params, optimizer, names)
    bar = _progress_bar(progress and accelerator.is_main_process, settings.steps, start, stage)
    for step in range(start, settings.steps):
        generator = step_generator(seed, stage, step, accelerator.process_index)
        loss = _one_step(accelerator, params, names, optimizer, loss_fn(generator), settings)
        if not torch.isfinite(loss):
            raise AdapterTrainingDiverged(
                f"{stage}: loss became {float(loss)} at step {step}; the last good checkpoint "
                f"is in {folder}. Lower the learning rate (--set) and rerun with resume."
            )
        losses.append((step, float(loss)))
        done = step + 1
        if done == settings.steps or done % max(settings.checkpoint_every, 1) == 0:
            if accelerator.is_main_process:
                _save_checkpoint(folder, done, params, optimizer, names, losses, settings)
            accelerator.wait_for_everyone()
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{float(loss):.4f}")
    if bar is not None:
        bar.close()
    return StageOutcome(losses=losses, steps=settings.steps)


def _one_step(accelerator, params, names, optimizer, loss, settings) -> torch.Tensor:
    optimizer.zero_grad(set_to_none=True)
    if not torch.isfinite(loss):
        return loss.detach()
    accelerator.backward(loss)
    if accelerator.num_processes > 1:
        for name in names:
            grad = params[name].grad
            if grad is not None:
                params[name].grad = accelerator.reduce(grad, reduction="mean")
    if settings.grad_clip:
        torch.nn.utils.clip_grad_norm_([params[n] for n in names], settings.grad_clip)
    optimizer.step()
    return loss.detach()


def _progress_bar(enabled: bool, total: int, start: int, stage: str):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=start, desc=stage, leave=False)


# -- checkpoints -----------------------------------------------------------------------
def _save_checkpoint(folder, step, params, optimizer, names, losses, settings) -> Path:
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{CHECKPOINT_PREFIX}{step:08d}"
    tmp = folder / f".tmp-{step:08d}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_file(
        {n: params[n].detach().cpu().contiguous() for n in names}, str(tmp / "adapter.safetensors")
    )
    opt_tensors, groups = _optimizer_to_tensors(optimizer, names)
    save_file(opt_tensors, str(tmp / "optimizer.safetensors"))
    state = {"step": step, "losses": losses, "param_groups": groups, "settings": asdict(settings)}
    (tmp / "state.json").write_text(json.dumps(state))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    for older in folder.glob(f"{CHECKPOINT_PREFIX}*"):
        if older != final:
            shutil.rmtree(older, ignore_errors=True)
    return final


def newest_checkpoint(folder: Path) -> Path | None:
    """The newest complete ``checkpoint-<step>`` folder under ``folder``, or ``None``."""
    done = [p for p in Path(folder).glob(f"{CHECKPOINT_PREFIX}*") if (p / "state.json").is_file()]
    return max(done, key=lambda p: int(p.name[len(CHECKPOINT_PREFIX) :]), default=None)


def _restore_newest(folder, params, optimizer, names) -> tuple[int, list[tuple[int, float]]]:
    from safetensors.torch import load_file

    checkpoint = newest_checkpoint(folder)
    if checkpoint is None:
        return 0, []
    state = json.loads((checkpoint / "state.json").read_text())
    weights = load_file(str(checkpoint / "adapter.safetensors"))
    if sorted(weights) != names:
        raise ValueError(
            f"{checkpoint} holds other adapter tensors than this run trains; "
            "use a fresh workdir or rerun without resume."
        )
    with torch.no_grad():
        for name in names:
            params[name].copy_(weights[name])
    tensors = load_file(str(checkpoint / "optimizer.safetensors"))
    optimizer.load_state_dict(_optimizer_from_tensors(tensors, state["param_groups"], names))
    return int(state["step"]), [(int(s), float(v)) for s, v in state["losses"]]


def _optimizer_to_tensors(optimizer, names) -> tuple[dict[str, torch.Tensor], list[dict]]:
    raw = optimizer.state_dict()
    tensors = {}
    for index, slots in raw["state"].items():
        for key, value in slots.items():
            tensors[f"{names[index]}::{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    return tensors, raw["param_groups"]


def _optimizer_from_tensors(tensors, groups, names) -> dict:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        name, _, slot = key.rpartition("::")
        state.setdefault(names.index(name), {})[slot] = value
    for group in groups:
        group["betas"] = tuple(group["betas"])
    return {"state": state, "param_groups": groups}
