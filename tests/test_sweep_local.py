"""``usbench sweep`` with local worker processes: a failing unit is reported with its log
and does not stop the others; the re-run submits only it; status and ingest from the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from usbench.cli import main
from usbench.store import ResultStore

pytestmark = [pytest.mark.slow, pytest.mark.subprocess]


def _spec(tmp_path: Path, tiny_folder: Path) -> Path:
    spec = tmp_path / "local.toml"
    spec.write_text(
        f"""
name = "local-check"
generators = ["ddpm"]
datasets = ["folder:{tiny_folder.as_posix()}", "folder:{(tmp_path / "absent").as_posix()}"]
presets = ["smoke"]
seeds = [0]
metrics = "psnr"
image_size = 16
n_samples = 4
"""
    )
    return spec


def test_failing_unit_is_reported_and_resubmitted_alone(tiny_folder, tmp_path):
    runner = CliRunner()
    spec, store = _spec(tmp_path, tiny_folder), tmp_path / "store"
    args = ["sweep", str(spec), "--store", str(store), "--max-parallel", "2", "--no-progress"]
    args += ["--poll-seconds", "0.5"]
    first = runner.invoke(main, args, catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert "submitted 2 job(s)" in first.output
    assert "1 done, 1 failed" in first.output
    failed_line = next(line for line in first.output.splitlines() if " failed " in line)
    assert "absent" in failed_line and "log:" in failed_line and "_log.err" in failed_line
    (run,) = ResultStore(store).runs()
    assert run["provenance"]["sweep"]["sweep"] == "local-check"

    status = runner.invoke(main, ["sweep", "status", str(spec), "--store", str(store)])
    assert status.exit_code == 0 and "1 done, 1 failed" in status.output
    assert run["run_id"] in status.output

    again = runner.invoke(main, args, catch_exceptions=False)
    assert "submitted 1 job(s)" in again.output and "1 done, 1 failed" in again.output
    assert len(ResultStore(store).runs()) == 1
    ingest_args = ["sweep", "ingest", str(spec), "--store", str(store)]
    assert "ingested 0 run(s)" in runner.invoke(main, ingest_args).output

    # ingestion is safe to repeat after a crash at any point
    (marker,) = (store / "sweeps" / "local-check" / "units").glob("*/ingested.json")
    marker.unlink()  # crashed after the database insert, before the marker
    assert "ingested 0 run(s)" in runner.invoke(main, ingest_args).output
    marker.unlink()
    ResultStore(store).delete_run(run["run_id"])  # crashed after moving the folder
    assert f"ingested 1 run(s)\n  {run['run_id']}" in runner.invoke(main, ingest_args).output
    (again_run,) = ResultStore(store).runs()
    assert again_run["run_dir"] == run["run_dir"] and Path(run["run_dir"]).is_dir()
