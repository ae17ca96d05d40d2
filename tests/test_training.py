"""The shared training loop: exact resume (also after SIGKILL), NaN guard, 2 processes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from usbench.checkpoints import CheckpointDir
from usbench.protocols import FitContext
from usbench.testing import tiny_dataset
from usbench.training import RandomBatches, TrainingDiverged, TrainSettings, train

SCRIPT = Path(__file__).with_name("_train_ddpm.py")


class NoisyRegression(nn.Module):
    """A tiny model whose loss uses the step generator, like a diffusion loss does."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.Dropout(0.1), nn.Linear(8, 64))

    def forward(self, images, labels, generator):
        noise = torch.randn(images.shape, generator=generator)
        target = images.flatten(1)
        return ((self.net(images + 0.1 * noise) - target) ** 2).mean()


def _settings(steps: int, log_every: int = 1) -> TrainSettings:
    return TrainSettings(
        steps=steps,
        batch_size=4,
        lr=1e-2,
        ema_decay=0.9,
        lr_milestones=(3,),
        checkpoint_every=2,
        log_every=log_every,
    )


def _fit(workdir: Path, steps: int, resume: bool = False, log_every: int = 1):
    torch.manual_seed(0)
    model = NoisyRegression()
    data = RandomBatches(tiny_dataset(image_size=8), 4)
    ctx = FitContext(workdir=workdir, seed=1, resume=resume, progress=False)
    return model, train(model, data, _settings(steps, log_every), ctx)


def test_resume_gives_identical_weights(tmp_path):
    full_model, full = _fit(tmp_path / "full", 6)
    _fit(tmp_path / "part", 4)  # stops after step 4, as a killed run would have
    part_model, resumed = _fit(tmp_path / "part", 6, resume=True)
    for key, value in full.ema_state.items():
        assert torch.equal(value, resumed.ema_state[key]), key
    for a, b in zip(full_model.parameters(), part_model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert resumed.steps == 6 and [s for s, _ in resumed.losses] == [1, 2, 3, 4, 5, 6]
    assert resumed.losses == full.losses


def test_loss_log_after_resume_between_log_entries(tmp_path):
    _, full = _fit(tmp_path / "full", 8, log_every=4)
    _fit(tmp_path / "part", 2, log_every=4)  # ends (and logs) at step 2, mid-way to entry 4
    _, resumed = _fit(tmp_path / "part", 8, resume=True, log_every=4)
    _, per_step = _fit(tmp_path / "per-step", 4, log_every=1)
    assert [s for s, _ in full.losses] == [4, 8]
    assert [s for s, _ in resumed.losses] == [2, 4, 8]
    assert resumed.losses[2] == full.losses[1]  # entry 8 covers steps 5-8 in both runs
    steps_3_4 = [loss for _, loss in per_step.losses[2:4]]
    assert resumed.losses[1][1] == pytest.approx(sum(steps_3_4) / 2)  # only what it ran


def test_learning_rate_schedule():
    settings = TrainSettings(steps=10, batch_size=1, lr=1.0, lr_milestones=(2, 5), lr_gamma=0.5)
    assert [settings.learning_rate_at(s) for s in (0, 1, 2, 4, 5, 9)] == [
        1,
        1,
        0.5,
        0.5,
        0.25,
        0.25,
    ]


def test_checkpoints_are_safetensors_and_pruned(tmp_path):
    _fit(tmp_path, 6)
    folder = tmp_path / "model" / "checkpoints"
    assert sorted(p.name for p in folder.iterdir()) == ["latest", "step-00000004", "step-00000006"]
    files = {p.name for p in (folder / "step-00000006").iterdir()}
    assert files == {"model.safetensors", "ema.safetensors", "optimizer.safetensors", "state.json"}
    assert json.loads((folder / "step-00000006" / "state.json").read_text())["step"] == 6


class ExplodingModel(NoisyRegression):
    def forward(self, images, labels, generator):
        loss = super().forward(images, labels, generator)
        self.calls = getattr(self, "calls", 0) + 1
        return loss * float("nan") if self.calls == 4 else loss


def test_nan_loss_stops_with_step_and_keeps_last_good_checkpoint(tmp_path):
    model = ExplodingModel()
    data = RandomBatches(tiny_dataset(image_size=8), 4)
    ctx = FitContext(workdir=tmp_path, seed=0, progress=False)
    with pytest.raises(TrainingDiverged, match=r"at step 3.*step 2 in .*step-00000002"):
        train(model, data, _settings(6), ctx)
    assert CheckpointDir(tmp_path / "model").latest().step == 2


@pytest.mark.subprocess
def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path):
    steps = "24"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path / "full"), steps],
        check=True,
        env=env,
        timeout=600,
    )
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(SCRIPT), str(killed), steps], env=env)
    latest = killed / "ddpm" / "checkpoints" / "latest"
    deadline = time.time() + 300
    while not latest.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    interrupted_at = CheckpointDir(killed / "ddpm").latest().step
    assert 0 < interrupted_at < int(steps), "the run finished before it could be killed"
    assert not (killed / "final-rank0.safetensors").exists()
    subprocess.run(
        [sys.executable, str(SCRIPT), str(killed), steps, "--resume"],
        check=True,
        env=env,
        timeout=600,
    )
    full = load_file(str(tmp_path / "full" / "final-rank0.safetensors"))
    resumed = load_file(str(killed / "final-rank0.safetensors"))
    assert full.keys() == resumed.keys()
    for key in full:
        assert torch.equal(full[key], resumed[key]), key


@pytest.mark.subprocess
@pytest.mark.slow
def test_two_cpu_processes_under_accelerate_launch(tmp_path):
    launcher = shutil.which("accelerate", path=str(Path(sys.executable).parent))
    assert launcher is not None, "the accelerate launcher is installed with usbench"
    # accelerate's --cpu flag starts one process; --multi_gpu with no visible GPU runs
    # torchrun with the gloo backend, i.e. data parallelism over CPU processes.
    subprocess.run(
        [
            launcher,
            "launch",
            "--multi_gpu",
            "--num_processes",
            "2",
            "--num_machines",
            "1",
            "--mixed_precision",
            "no",
            "--dynamo_backend",
            "no",
            str(SCRIPT),
            str(tmp_path),
            "6",
        ],
        check=True,
        timeout=900,
        env={**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""},
    )
    latest = CheckpointDir(tmp_path / "ddpm").latest()
    state = json.loads((latest.path / "state.json").read_text())
    assert state["num_processes"] == 2 and state["step"] == 6
    rank0 = load_file(str(tmp_path / "final-rank0.safetensors"))
    rank1 = load_file(str(tmp_path / "final-rank1.safetensors"))
    for key in rank0:  # data-parallel replicas stay in lockstep
        assert torch.equal(rank0[key], rank1[key]), key


TRAINED = {
    "ddpm": "usbench.generators.ddpm:DDPMGenerator",
    "bmap_ddpm": "usbench.generators.bmap_ddpm:BMapDDPMGenerator",
    "awdiff": "usbench.generators.awdiff:AWDiffGenerator",
    "sinddm": "usbench.generators.sinddm:SinDDM",
    "fewddm": "usbench.generators.sinddm:FewDDM",
    "singan": "usbench.generators.singan:SinGAN",
    "sd15_hybrid": "usbench.generators.sd15_hybrid:SD15Hybrid",
}


def _plugin(target: str):
    import importlib

    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)


@pytest.mark.parametrize("name", sorted(TRAINED))
def test_every_trained_generator_reads_the_train_section(name):
    from usbench.config import field_docs, parse_assignments, plugin_config

    plugin = _plugin(TRAINED[name])
    config = plugin_config(plugin, "smoke", parse_assignments(["train.steps=5", "train.lr=2e-3"]))
    assert isinstance(config.train, TrainSettings)
    assert (config.train.steps, config.train.lr) == (5, 2e-3)
    # old command lines: --set steps=5 still sets train.steps
    old = plugin_config(plugin, "smoke", parse_assignments(["steps=5", "learning_rate=2e-3"]))
    assert old == config
    assert {"train.steps", "train.lr", "train.lr_milestones"} <= set(field_docs(plugin.Config))
    assert not hasattr(config, "steps") and not hasattr(config, "learning_rate")


def test_auto_log_interval_is_ten_entries_at_most_every_50_steps():
    assert [TrainSettings(steps=s).log_interval for s in (4, 60, 10_000)] == [1, 6, 50]
    assert TrainSettings(steps=60, log_every=7).log_interval == 7
    assert TrainSettings(betas=(0.5,)).betas == (0.5, 0.999)


def test_configs_saved_with_the_old_flat_keys_still_load():
    from usbench.config import config_from_dict, config_to_dict
    from usbench.generators.ddpm import DDPMGenerator
    from usbench.generators.singan import SinGAN

    # config.json of a SinGAN saved before the train section (every field, paper values)
    old_singan = {
        **{k: v for k, v in config_to_dict(SinGAN.Config()).items() if k != "train"},
        **{"iterations": 2000, "lr_g": 5e-4, "lr_d": 5e-4, "beta1": 0.5},
        **{"lr_milestone": 1600, "lr_gamma": 0.1},
    }
    assert config_from_dict(SinGAN.Config, old_singan) == SinGAN.Config()
    old_ddpm = {
        **{k: v for k, v in config_to_dict(DDPMGenerator.Config()).items() if k != "train"},
        **{"steps": 60, "batch_size": 4, "learning_rate": 2e-3, "ema_decay": 0.9},
        **{"grad_clip": 1.0, "checkpoint_every": 1000},
    }
    train = config_from_dict(DDPMGenerator.Config, old_ddpm).train
    assert (train.steps, train.batch_size, train.lr, train.ema_decay) == (60, 4, 2e-3, 0.9)
