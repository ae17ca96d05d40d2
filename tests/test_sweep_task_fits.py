"""A unit's task fits as jobs of their own (local workers): the fits a task plans run as
separate jobs before the run job, a re-run submits only the fits still missing, every fit
is trained by a fit job (the run only loads them), and the task's scores equal those of
the same run done as one ``usbench run``."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from usbench.cli import main
from usbench.store import ResultStore
from usbench.task_fits import DONE_MARKER

pytestmark = [pytest.mark.slow, pytest.mark.subprocess]

TASK_SET = {
    "pretrained": "false",
    "epochs": "1",
    "minority_fractions": "1.0",
    "arms": "real,real+synthetic",
}


def _spec(tmp_path: Path, tiny_folder: Path) -> Path:
    task_set = "\n".join(f'{k} = "{v}"' for k, v in TASK_SET.items())
    spec = tmp_path / "fits.toml"
    spec.write_text(
        f"""
name = "fits-check"
generators = ["ddpm"]
datasets = ["folder:{tiny_folder.as_posix()}"]
presets = ["smoke"]
seeds = [0]
metrics = "psnr"
tasks = "classifier_gain"
task_preset = "smoke"
image_size = 16
n_samples = 4

[task_set]
{task_set}
"""
    )
    return spec


def _submitted(output: str) -> int:
    return sum(int(n) for n in re.findall(r"submitted (\d+) job\(s\)", output))


def _task_rows(store: Path) -> list[tuple]:
    rows = [s for s in ResultStore(store).scores() if s["source"] == "task"]
    return sorted(
        (s["name"], s["grp"], s["value"], s["spread"], s["n"], json.dumps(s["details"]))
        for s in rows
    )


def test_task_fits_run_as_jobs_and_the_run_scores_as_one_run(tiny_folder, tmp_path, one_thread):
    """The serial reference runs with one thread, as every sweep job does (``--cpus 1``):
    other thread counts sum in other orders and may flip a tiny classifier's predictions."""
    runner = CliRunner()
    spec, store = _spec(tmp_path, tiny_folder), tmp_path / "store"
    base = ["sweep", str(spec), "--store", str(store), "--no-progress", "--poll-seconds", "0.5"]

    # one slot, no waiting: the plan is written and only its first fit is submitted
    first = runner.invoke(main, [*base, "--max-parallel", "1", "--no-wait"])
    assert first.exit_code == 0, first.output
    assert _submitted(first.output) == 1
    (unit_dir,) = (store / "sweeps" / "fits-check" / "units").iterdir()
    plan = json.loads((unit_dir / "fits.json").read_text())
    assert [f["tag"] for f in plan] == ["fold0-min100", "fold1-min100"]  # 2 folds × 1 share
    status = ["sweep", "status", str(spec), "--store", str(store)]
    waited = runner.invoke(main, [*status, "--wait"])
    assert "fit classifier_gain/fold0-min100" in waited.output
    first_fit = json.loads(next(unit_dir.glob("fits/*fold0*/job.json")).read_text())

    # the full sweep: the finished fit is not submitted again; the other fit, then the run
    second = runner.invoke(main, [*base, "--max-parallel", "2"])
    assert second.exit_code == 0, second.output
    assert _submitted(second.output) == 2 and "1 done" in second.output
    assert json.loads(next(unit_dir.glob("fits/*fold0*/job.json")).read_text()) == first_fit
    fit_procs = {json.loads(p.read_text())["job_id"] for p in unit_dir.glob("fits/*/result.json")}
    table = runner.invoke(main, status).output
    assert re.search(r"fit classifier_gain/fold0-min100\s+done", table)
    assert re.search(r"fit classifier_gain/fold1-min100\s+done", table)
    assert "submitted" not in runner.invoke(main, [*base, "--max-parallel", "2"]).output

    # every task fit was finished by a fit job's process, none by the run job
    markers = [json.loads(p.read_text()) for p in (store / "work").glob(f"**/{DONE_MARKER}")]
    (run,) = ResultStore(store).runs()
    assert len(fit_procs) == 2 and run["provenance"]["sweep"]["job_id"] not in fit_procs
    assert len(markers) == 2 and {str(m["pid"]) for m in markers} == fit_procs

    # the same run as one `usbench run`: identical task rows
    serial = tmp_path / "serial"
    args = ["run", "-g", "ddpm", "-d", f"folder:{tiny_folder.as_posix()}", "--preset", "smoke"]
    args += ["--image-size", "16", "--n-samples", "4", "--metrics", "psnr", "--no-progress"]
    args += ["--tasks", "classifier_gain", "--task-preset", "smoke", "--store", str(serial)]
    for key, value in TASK_SET.items():
        args += ["--task-set", f"{key}={value}"]
    one = runner.invoke(main, args, catch_exceptions=False)
    assert one.exit_code == 0, one.output
    split_rows, serial_rows = _task_rows(store), _task_rows(serial)
    assert len(split_rows) > 20 and split_rows == serial_rows


def test_slurm_run_job_waits_for_its_fit_jobs(tiny_folder, tmp_path):
    from test_sweep_slurm import _slurm_up

    reason = _slurm_up()
    if reason:
        pytest.skip(reason)
    runner = CliRunner()
    spec, store = _spec(tmp_path, tiny_folder), tmp_path / "store"
    base = ["sweep", str(spec), "--store", str(store), "--no-progress", "--poll-seconds", "1"]
    first = runner.invoke(main, [*base, "--executor", "slurm", "--no-wait"])
    assert first.exit_code == 0, first.output
    (unit_dir,) = (store / "sweeps" / "fits-check" / "units").iterdir()
    fit_ids = sorted(json.loads(p.read_text())["job_id"] for p in unit_dir.glob("fits/*/job.json"))
    run_id = json.loads((unit_dir / "job.json").read_text())["job_id"]
    shown = subprocess.run(["scontrol", "show", "job", run_id], capture_output=True, text=True)
    assert "JobState=PENDING" in shown.stdout  # fit jobs take seconds to start python
    assert all(f"afterok:{fit}" in shown.stdout for fit in fit_ids) and len(fit_ids) == 2

    waited = runner.invoke(main, ["sweep", "status", str(spec), "--store", str(store), "--wait"])
    assert waited.exit_code == 0 and "1 done" in waited.output, waited.output
    ingested = runner.invoke(main, ["sweep", "ingest", str(spec), "--store", str(store)])
    assert "ingested 1 run(s)" in ingested.output
    fit_jobs = sorted(
        json.loads(p.read_text())["job_id"] for p in unit_dir.glob("fits/*/result.json")
    )
    assert fit_jobs == fit_ids  # each fit finished in its own job (its SLURM id recorded)
    assert len(list((store / "work").glob(f"**/{DONE_MARKER}"))) == 2
    (run,) = ResultStore(store).runs()
    assert run["provenance"]["sweep"]["job_id"] == run_id
