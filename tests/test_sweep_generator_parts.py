"""The parts of a run's own generator fit as jobs of their own (local workers): a
single-image generator's models (one per source image) are planned as fit jobs, trained by
them, and only loaded by the run job, whose scores equal the same ``usbench run`` done as
one job."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_sweep_task_fits import _submitted

from usbench.cli import main
from usbench.store import ResultStore

pytestmark = [pytest.mark.slow, pytest.mark.subprocess]

SETTINGS = {"sources_per_class": "1", "train.steps": "3", "coarsest_side": "8,8"}


def _spec(tmp_path: Path, tiny_folder: Path) -> Path:
    settings = "\n".join(f'"{k}" = "{v}"' for k, v in SETTINGS.items())
    spec = tmp_path / "parts.toml"
    spec.write_text(
        f"""
name = "parts-check"
generators = ["sinddm"]
datasets = ["folder:{tiny_folder.as_posix()}"]
presets = ["smoke"]
seeds = [0]
metrics = "psnr,ssim"
image_size = 16
n_samples = 4

[set]
{settings}
"""
    )
    return spec


def _files(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.suffix != ".lock"
    }


def _metric_rows(store: Path) -> list[tuple]:
    rows = [s for s in ResultStore(store).scores() if s["source"] != "task"]
    return sorted((s["name"], s["value"], s["spread"], s["n"]) for s in rows)


def test_generator_parts_run_as_jobs_and_the_run_only_loads_them(tiny_folder, tmp_path, one_thread):
    runner = CliRunner()
    spec, store = _spec(tmp_path, tiny_folder), tmp_path / "store"
    base = ["sweep", str(spec), "--store", str(store), "--no-progress", "--poll-seconds", "0.5"]

    # no waiting: the plan is written and only the two part jobs are submitted
    first = runner.invoke(main, [*base, "--max-parallel", "2", "--no-wait"])
    assert first.exit_code == 0, first.output
    assert _submitted(first.output) == 2
    (unit_dir,) = (store / "sweeps" / "parts-check" / "units").iterdir()
    plan = json.loads((unit_dir / "fits.json").read_text())
    assert [(f["task"], f["tag"]) for f in plan] == [("generator", "src-0"), ("generator", "src-1")]
    status = ["sweep", "status", str(spec), "--store", str(store)]
    waited = runner.invoke(main, [*status, "--wait"])
    assert re.search(r"fit generator/src-0\s+done", runner.invoke(main, status).output)
    (key,) = {Path(f["folder"]).parent.name for f in plan}
    trained = _files(store / "work" / key)
    assert {name.split("/")[0] for name in trained} == {"src-0", "src-1"}, waited.output

    # the sweep again: only the run job; it loads both models without training them
    second = runner.invoke(main, [*base, "--max-parallel", "2"])
    assert second.exit_code == 0, second.output
    assert _submitted(second.output) == 1 and "1 done" in second.output
    assert _files(store / "work" / key) == trained
    fit_jobs = {json.loads(p.read_text())["job_id"] for p in unit_dir.glob("fits/*/result.json")}
    (run,) = ResultStore(store).runs()
    assert len(fit_jobs) == 2 and run["provenance"]["sweep"]["job_id"] not in fit_jobs

    # the same run as one `usbench run`: identical scores
    serial = tmp_path / "serial"
    args = ["run", "-g", "sinddm", "-d", f"folder:{tiny_folder.as_posix()}", "--preset", "smoke"]
    args += ["--image-size", "16", "--n-samples", "4", "--metrics", "psnr,ssim"]
    args += ["--no-progress", "--store", str(serial)]
    for key_, value in SETTINGS.items():
        args += ["--set", f"{key_}={value}"]
    one = runner.invoke(main, args, catch_exceptions=False)
    assert one.exit_code == 0, one.output
    split_rows, serial_rows = _metric_rows(store), _metric_rows(serial)
    assert len(split_rows) == 2 and split_rows == serial_rows


def test_no_split_fits_trains_the_parts_inside_the_run_job(tiny_folder, tmp_path, one_thread):
    runner = CliRunner()
    spec, store = _spec(tmp_path, tiny_folder), tmp_path / "store"
    args = ["sweep", str(spec), "--store", str(store), "--no-progress", "--poll-seconds", "0.5"]
    done = runner.invoke(main, [*args, "--no-split-fits"])
    assert done.exit_code == 0, done.output
    assert _submitted(done.output) == 1 and "1 done" in done.output
    (unit_dir,) = (store / "sweeps" / "parts-check" / "units").iterdir()
    assert not (unit_dir / "fits.json").exists()
