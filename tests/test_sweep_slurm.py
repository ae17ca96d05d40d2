"""A 2 generators × 2 seeds sweep on a real (single-node) SLURM: one job is killed with
``scancel`` mid-training, the sweep is re-run, and every run lands in the store exactly
once with the scores of the same runs done one after the other in this process.

The cluster comes from ``scripts/slurm-local.sh`` (``.ci/run`` starts it); without one
the test skips and says how to start it.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from usbench import harness
from usbench.data import open_dataset
from usbench.plugins import resolve
from usbench.store import ResultStore
from usbench.sweep.driver import Sweep, run_sweep
from usbench.sweep.executors import ExecutorSettings
from usbench.sweep.spec import SweepSpec
from usbench.sweep.status import unit_folder
from usbench.sweep.units import Unit

pytestmark = [pytest.mark.slow, pytest.mark.subprocess]

STEPS = 600  # long enough (~20 s a unit here) that a cancelled unit is caught mid-training


def _slurm_up() -> str | None:
    """Why SLURM cannot be used here, or ``None`` when ``sinfo`` shows a usable node."""
    if shutil.which("sbatch") is None:
        return "no SLURM here: run scripts/slurm-local.sh as root (it installs and starts one)"
    out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    if out.returncode != 0 or not any(s in out.stdout for s in ("idle", "mix", "alloc", "comp")):
        why = out.stderr.strip() or f"node state {out.stdout.strip()!r}"
        return f"SLURM is not usable ({why}): run scripts/slurm-local.sh as root"
    return None


@pytest.fixture(scope="module")
def slurm() -> None:
    reason = _slurm_up()
    if reason:
        pytest.skip(reason)


def _spec() -> SweepSpec:
    return SweepSpec(
        name="smoke-slurm",
        generators=("ddpm", "bmap_ddpm"),
        datasets=("lus-phantom:n_per_class=2",),
        presets=("smoke",),
        seeds=(0, 1),
        set={"train.steps": STEPS, "train.checkpoint_every": 20},
        metrics="ssim,psnr",
        image_size=16,
        n_samples=4,
    )


def _checkpoint_dir(store: Path, unit: Unit) -> Path:
    """Where the unit's training checkpoints go: the store's ``work`` folder, by run key."""
    request = unit.request()
    gen_spec = resolve(
        "generators", unit.generator, preset=unit.preset, overrides=request.overrides
    )
    data = open_dataset(unit.dataset, image_size=unit.image_size, root=None, options={})
    _, _, split = harness.split_data(data, request)
    return store / "work" / harness.run_key(gen_spec, data.content_hash(), split, unit.seed)


def _steps(folder: Path) -> list[int]:
    return sorted(int(p.name.split("-")[1]) for p in folder.glob("**/checkpoints/step-*"))


def _wait(predicate, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_cancelled_unit_resumes_and_every_run_lands_once(slurm, tmp_path, one_thread):
    store_root = tmp_path / "store"
    sweep = Sweep(_spec(), store_root)
    units = sweep.units()
    settings = ExecutorSettings(
        kind="slurm", max_parallel=4, cpus=1, mem_gb=2, time_min=20, sbatch={"comment": "usb"}
    )
    submitted: list[list[str]] = []
    run_sweep(sweep, settings, wait=False, on_submit=submitted.append)
    assert len(submitted) == 1 and len(submitted[0]) == 4  # one job array
    base = submitted[0][0].split("_")[0]
    queued = subprocess.run(
        ["squeue", "-h", "-r", "-j", base, "-o", "%i|%C|%m|%l|%k"], capture_output=True, text=True
    ).stdout.split()
    assert sorted(queued) == sorted(f"{j}|1|2G|20:00|usb" for j in submitted[0])

    # kill the first unit's job once it has checkpoints but has not finished training
    victim = units[0]
    work = _checkpoint_dir(store_root, victim)
    _wait(lambda: _steps(work), 600, "the first checkpoint of the victim unit")
    (job_id,) = [s.job_id for s in sweep.status() if s.unit == victim]
    subprocess.run(["scancel", job_id], check=True)  # SIGTERM, SIGKILL after KillWait
    _wait(lambda: sweep.status()[0].state == "failed", 120, "SLURM to end the cancelled job")
    assert "cancelled or killed" in sweep.status()[0].message
    killed_at = _steps(work)[-1]
    assert killed_at < STEPS, "the unit finished training before it could be cancelled"

    # the others finish; the re-run submits only the cancelled unit, which resumes
    _wait(lambda: all(s.state in ("done", "failed") for s in sweep.status()), 900, "the others")
    submitted.clear()
    final = run_sweep(sweep, settings, poll_s=1, progress=False, on_submit=submitted.append)
    assert len(submitted) == 1 and len(submitted[0]) == 1
    assert [s.state for s in final] == ["done"] * 4
    # the resubmitted job continued from the checkpoint it was killed after
    log = Path(_job_record(sweep, victim)["stderr"]).read_text()
    first_bar = re.search(rf"train \S+:\s+\d+%\|[^|]*\|\s*(\d+)/{STEPS}", log)
    assert first_bar is not None and int(first_bar.group(1)) == killed_at, log[-2000:]

    store = ResultStore(store_root)
    runs = store.runs()
    assert sorted((r["generator"], r["seed"]) for r in runs) == sorted(
        (u.generator, u.seed) for u in units
    )
    assert sorted(p.name for p in store.runs_dir.iterdir()) == sorted(r["run_id"] for r in runs)
    assert sweep.ingest() == []  # ingesting again adds nothing

    # the same four runs, one after the other, in this process
    serial = ResultStore(tmp_path / "serial")
    for unit in units:
        harness.execute(dataclasses.replace(unit.request(), resume=False), serial)
    assert _scores_by_run(store) == _scores_by_run(serial)


def _job_record(sweep: Sweep, unit: Unit) -> dict:
    return unit_folder(sweep.folder, unit).read("job")


def _scores_by_run(store: ResultStore) -> dict:
    return {
        (s["generator"], s["seed"], s["name"]): (s["value"], s["per_sample"])
        for s in store.scores()
    }
