"""Training checkpoints as safetensors + JSON, written atomically.

Layout of one training folder::

    <root>/checkpoints/step-00000100/model.safetensors      weights
                                    /ema.safetensors        EMA shadow weights
                                    /optimizer.safetensors  optimizer tensors
                                    /extra.safetensors      trainer tensors (RNG state, ...)
                                    /state.json             step, loss log, optimizer/EMA scalars
    <root>/checkpoints/latest                               name of the newest complete one

A trainer with several optimizers (a GAN's generator and discriminator) passes them as a
mapping ``{name: optimizer}``; each is saved as ``optimizer-<name>.safetensors``.

A checkpoint folder is first written under a temporary name and renamed when complete;
``latest`` is replaced atomically afterwards. A crash therefore leaves the previous
checkpoint as ``latest``; a full disk is reported as :class:`usbench.fileio.DiskFull`
naming the folder and the space a checkpoint needs. Only the newest ``keep`` checkpoints are kept.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from usbench.fileio import atomic_write_text, disk_full_error, is_disk_full


@dataclass
class TrainingState:
    """Progress of a training run: optimizer steps done and the loss log."""

    step: int = 0
    losses: list[tuple[int, float]] = field(default_factory=list)
    num_processes: int = 1
    extra: dict[str, torch.Tensor] = field(default_factory=dict)
    """Tensors a trainer needs to continue exactly (e.g. a ``torch.Generator`` state)."""


@dataclass(frozen=True)
class CheckpointRef:
    """A complete checkpoint on disk."""

    path: Path
    step: int


class CheckpointDir:
    """Saves and restores (model, optimizer, EMA, progress) under ``root/checkpoints``."""

    def __init__(self, root: Path, keep: int = 2) -> None:
        self.root = Path(root)
        self.folder = self.root / "checkpoints"
        self.keep = keep

    def latest(self) -> CheckpointRef | None:
        """The newest complete checkpoint, or ``None``."""
        pointer = self.folder / "latest"
        if not pointer.exists():
            return None
        path = self.folder / pointer.read_text().strip()
        if not (path / "state.json").exists():
            return None
        return CheckpointRef(path, json.loads((path / "state.json").read_text())["step"])

    def save(self, state: TrainingState, model: nn.Module, optimizer, ema=None) -> CheckpointRef:
        """Write a checkpoint of the current step and make it ``latest``.

        ``optimizer``: one optimizer or a mapping ``{name: optimizer}``.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"step-{state.step:08d}"
        tmp = Path(tempfile.mkdtemp(dir=self.folder, prefix=f".{name}."))
        try:
            save_file(_cpu(model.state_dict()), str(tmp / "model.safetensors"))
            meta: dict[str, Any] = {
                "step": state.step,
                "losses": state.losses,
                "num_processes": state.num_processes,
            }
            for stem, opt in _named(optimizer).items():
                opt_tensors, meta[stem] = flatten_optimizer_state(opt.state_dict())
                save_file(opt_tensors, str(tmp / f"{stem}.safetensors"))
            if state.extra:
                save_file(_cpu(state.extra), str(tmp / "extra.safetensors"))
            if ema is not None:
                ema_tensors, meta["ema"] = flatten_ema_state(ema.state_dict())
                save_file(ema_tensors, str(tmp / "ema.safetensors"))
            (tmp / "state.json").write_text(json.dumps(meta))
            final = self.folder / name
            if final.exists():
                shutil.rmtree(final)
            tmp.rename(final)
        except BaseException as err:
            shutil.rmtree(tmp, ignore_errors=True)
            if is_disk_full(err):
                needed = _tensor_bytes(model.state_dict()) * (3 if ema is None else 4)
                what = f"checkpoint {name} (weights, Adam moments{', EMA' if ema else ''})"
                raise disk_full_error(self.folder, needed, what) from err
            raise
        atomic_write_text(self.folder / "latest", name)
        self._prune()
        return CheckpointRef(final, state.step)

    def load(self, model: nn.Module, optimizer, ema=None) -> TrainingState:
        """Restore the newest checkpoint into the given objects; returns the progress."""
        ref = self.latest()
        if ref is None:
            raise FileNotFoundError(f"no checkpoint under {self.folder}")
        meta = json.loads((ref.path / "state.json").read_text())
        model.load_state_dict(load_file(str(ref.path / "model.safetensors")))
        for stem, opt in _named(optimizer).items():
            opt_tensors = load_file(str(ref.path / f"{stem}.safetensors"))
            opt.load_state_dict(unflatten_optimizer_state(opt_tensors, meta[stem]))
        if ema is not None:
            if "ema" not in meta:
                raise ValueError(f"{ref.path} has no EMA state but EMA is enabled")
            ema_tensors = load_file(str(ref.path / "ema.safetensors"))
            ema.load_state_dict(unflatten_ema_state(ema_tensors, meta["ema"]))
        losses = [(int(s), float(v)) for s, v in meta["losses"]]
        extra_file = ref.path / "extra.safetensors"
        return TrainingState(
            step=int(meta["step"]),
            losses=losses,
            num_processes=int(meta["num_processes"]),
            extra=load_file(str(extra_file)) if extra_file.exists() else {},
        )

    def _prune(self) -> None:
        done = sorted(p for p in self.folder.glob("step-*") if p.is_dir())
        for old in done[: -self.keep]:
            shutil.rmtree(old, ignore_errors=True)


def _named(optimizer) -> dict[str, Any]:
    """``{file stem: optimizer}``: ``optimizer`` alone, or ``optimizer-<name>`` each."""
    if isinstance(optimizer, Mapping):
        return {f"optimizer-{name}": opt for name, opt in optimizer.items()}
    return {"optimizer": optimizer}


def _tensor_bytes(tensors: dict[str, torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors.values())


def _cpu(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in tensors.items()}


def flatten_optimizer_state(state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """Split a torch optimizer ``state_dict`` into flat tensors and JSON-able metadata."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, pstate in state["state"].items():
        for key, value in pstate.items():
            if torch.is_tensor(value):
                tensors[f"state.{pid}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(pid), {})[key] = value
    groups = [
        {k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()}
        for g in state["param_groups"]
    ]
    return tensors, {"param_groups": groups, "scalars": scalars}


def unflatten_optimizer_state(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    """Inverse of :func:`flatten_optimizer_state`."""
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        _, pid, key = name.split(".", 2)
        state.setdefault(int(pid), {})[key] = value
    for pid, values in meta["scalars"].items():
        state.setdefault(int(pid), {}).update(values)
    groups = [
        {k: (tuple(v) if k == "betas" else v) for k, v in g.items()} for g in meta["param_groups"]
    ]
    return {"state": state, "param_groups": groups}


def flatten_ema_state(state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """Split diffusers ``EMAModel.state_dict()`` into shadow tensors and scalars."""
    shadow = state["shadow_params"]
    tensors = {f"shadow.{i:05d}": p.detach().cpu().contiguous() for i, p in enumerate(shadow)}
    scalars = {k: v for k, v in state.items() if k != "shadow_params"}
    return tensors, scalars


def unflatten_ema_state(tensors: dict[str, torch.Tensor], scalars: dict) -> dict:
    """Inverse of :func:`flatten_ema_state`."""
    shadow = [tensors[k] for k in sorted(tensors)]
    return {**scalars, "shadow_params": shadow}
