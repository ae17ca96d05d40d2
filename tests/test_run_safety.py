"""Repeating, resuming, racing and breaking `usbench run`: every case ends in a clear
message or a reused result, never a lost or duplicated run."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from usbench import checkpoints, harness, run_folder
from usbench.cli import entry
from usbench.fileio import DiskFull
from usbench.run_guard import CheckpointExists, job_lock, training_lock
from usbench.store import ResultStore, StoreDamaged
from usbench.store_rebuild import rebuild_store


def _request(tiny_folder: Path, **changes) -> harness.RunRequest:
    values = dict(
        generator="ddpm",
        dataset=f"folder:{tiny_folder}",
        preset="smoke",
        image_size=16,
        n_samples=3,
        metrics=("psnr",),
        progress=False,
    )
    return harness.RunRequest(**{**values, **changes})


@pytest.fixture(scope="module")
def stored(tiny_folder, tmp_path_factory):
    """One finished smoke run in a store of its own: ``(store, request, result)``."""
    store = ResultStore(tmp_path_factory.mktemp("safety-store"))
    request = _request(tiny_folder)
    return store, request, harness.execute(request, store)


def test_finished_run_is_reused_not_stored_twice(stored):
    store, request, first = stored
    for again in (request, harness.RunRequest(**{**vars(request), "resume": True})):
        result = harness.execute(again, store)
        assert result.reused and result.run_id == first.run_id
        assert [s.value for s in result.scores] == [s.value for s in first.scores]
        assert result.samples.images.equal(first.samples.images)
    assert len(store.runs()) == 1


def test_existing_checkpoint_is_named_with_resume_and_restart(stored, tiny_folder):
    store, request, _ = stored
    other_metrics = _request(tiny_folder, metrics=("ssim",))
    with pytest.raises(CheckpointExists, match=r"step 4.*--resume.*--restart"):
        harness.execute(other_metrics, store)
    resumed = harness.execute(_request(tiny_folder, metrics=("ssim",), resume=True), store)
    assert not resumed.reused and resumed.scores[0].name == "ssim"
    # resuming a finished training reuses its weights: the same samples as the first run
    assert resumed.samples.images.equal(stored[2].samples.images)
    keys = {r["provenance"]["run_key"] for r in store.runs()}
    jobs = {r["provenance"]["job_key"] for r in store.runs()}
    assert len(store.runs()) == 2 and len(keys) == 1 and len(jobs) == 2


def test_load_stores_the_loaded_config(stored, tiny_folder, tmp_path):
    _, _, first = stored
    saved = json.loads((first.run_dir / "generator" / "config.json").read_text())["config"]
    request = _request(
        tiny_folder, load=first.run_dir / "generator", overrides={"train.steps": "7"}
    )
    store = ResultStore(tmp_path)
    result = harness.execute(request, store)
    (run,) = store.runs()
    assert run["config"] == saved and run["config"]["train"]["steps"] == 4
    assert result.samples.images.equal(first.samples.images)


def test_rebuild_restores_every_run_from_the_run_folders(stored, tmp_path):
    import shutil

    store, _, _ = stored
    copy = tmp_path / "copy"
    shutil.copytree(store.root, copy)
    before = ResultStore(copy).scores()
    n_runs = len(ResultStore(copy).runs())
    (copy / "results.sqlite").write_bytes(os.urandom(4096))
    for name in ("results.sqlite-wal", "results.sqlite-shm"):
        (copy / name).unlink(missing_ok=True)
    with pytest.raises(StoreDamaged, match="usbench store rebuild"):
        ResultStore(copy)
    report = rebuild_store(copy)
    assert len(report.restored) == n_runs and not report.skipped
    assert any(p.name.startswith("results.sqlite.damaged-") for p in report.moved_aside)
    after = ResultStore(copy).scores()
    key = lambda row: (row["run_id"], row["name"])  # noqa: E731
    for old, new in zip(sorted(before, key=key), sorted(after, key=key), strict=True):
        assert {k: v for k, v in old.items() if k != "run_dir"} == {
            k: v for k, v in new.items() if k != "run_dir"
        }


@pytest.mark.parametrize("damage", ["truncated", "zero-bytes"])
def test_damaged_store_is_one_clear_line(stored, tmp_path, damage, monkeypatch, capsys):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(stored[0].root, copy, ignore=shutil.ignore_patterns("*-wal", "*-shm"))
    database = copy / "results.sqlite"
    data = database.read_bytes()
    database.write_bytes(data[: len(data) // 3] if damage == "truncated" else b"")
    monkeypatch.setattr("sys.argv", ["usbench", "report", "--store", str(copy)])
    with pytest.raises(SystemExit) as exit_info:
        entry()
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in err
    assert "is damaged" in err and "usbench store rebuild" in err and " run folder(s) " in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "steps=-5"], "train.steps=-5 is out of range: it must be ≥ 1"),
        (["--set", "steps=0"], "train.steps=0 is out of range"),
        (["--set", "batch_size=0"], "train.batch_size=0 is out of range"),
        (["--set", "train.betas=0.9,1.5"], "it must be in [0, 1)"),
        (["--n-samples", "0"], "n_samples=0: generate at least 1 image"),
        (["--n-samples", "-3"], "n_samples=-3"),
        (["--image-size", "0"], "image_size=0: load images at 8 px or more"),
        (["--resume", "--restart"], "exclude each other"),
    ],
)
def test_out_of_range_values_are_refused_up_front(args, message, tmp_path, monkeypatch, capsys):
    def never(*_args, **_kwargs):
        raise AssertionError("the data were opened before the values were checked")

    monkeypatch.setattr(harness, "open_dataset", never)
    argv = ["usbench", "run", "-g", "ddpm", "-d", "lus-phantom", "--store", str(tmp_path)]
    monkeypatch.setattr("sys.argv", [*argv, *args])
    with pytest.raises(SystemExit) as exit_info:
        entry()
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in err and "Traceback" not in err


def test_data_unavailable_is_one_line_and_debug_shows_the_traceback(monkeypatch, capsys):
    from usbench.data.pocus import DatasetUnavailable

    def offline(*_args, **_kwargs):
        raise DatasetUnavailable("The lus dataset is not here. Provide it with --data-root DIR.")

    monkeypatch.setattr(harness, "open_dataset", offline)
    argv = ["usbench", "run", "-g", "ddpm", "-d", "lus"]
    monkeypatch.setattr("sys.argv", argv)
    with pytest.raises(SystemExit) as exit_info:
        entry()
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err == "usbench: error: The lus dataset is not here. Provide it with --data-root DIR.\n"
    monkeypatch.setattr("sys.argv", [argv[0], "--debug", *argv[1:]])
    monkeypatch.delenv("USBENCH_DEBUG", raising=False)
    with pytest.raises(DatasetUnavailable):  # --debug: the exception, with its traceback
        entry()
    os.environ.pop("USBENCH_DEBUG", None)


def test_disk_full_in_the_run_folder_names_it_and_leaves_nothing(
    tiny_folder, tmp_path, monkeypatch
):
    def no_space(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(run_folder, "save_file", no_space)
    store = ResultStore(tmp_path)
    with pytest.raises(DiskFull) as info:
        harness.execute(_request(tiny_folder), store)
    message = str(info.value)
    assert str(store.runs_dir) in message and " MB and " in message and "is free" in message
    needed = float(message.split("needs about ")[1].split(" MB")[0])
    assert needed >= 5 * 3 * 16 * 16 / 1e6  # at least the samples' tensor and PNGs
    assert store.runs() == [] and list(store.runs_dir.iterdir()) == []


def test_disk_full_at_a_checkpoint_names_the_folder_and_size(tmp_path, monkeypatch):
    import torch

    def no_space(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    model = torch.nn.Linear(1000, 250)  # 250 250 float32 parameters: 1.001 MB
    optimizer = torch.optim.Adam(model.parameters())
    folder = checkpoints.CheckpointDir(tmp_path)
    monkeypatch.setattr(checkpoints, "save_file", no_space)
    with pytest.raises(DiskFull) as info:
        folder.save(checkpoints.TrainingState(step=3), model, optimizer)
    message = str(info.value)
    assert str(folder.folder) in message and "checkpoint step-00000003" in message
    assert "needs about 3.0 MB" in message  # weights + Adam's two moments
    assert list(folder.folder.iterdir()) == [] and folder.latest() is None


_HOLD = """
import sys, time
from pathlib import Path
from usbench.run_guard import job_lock
with job_lock(Path(sys.argv[1]), "k"):
    print("acquired", time.time(), flush=True)
"""


def _wait_for_note(child: subprocess.Popen, words: str) -> str:
    """Read the child's stderr until ``words`` appear (it then blocks on a lock)."""
    note = ""
    while words not in note:
        line = child.stderr.readline()
        assert line, f"the child ended without waiting: {child.communicate()}"
        note += line
    return note


def test_job_lock_makes_a_second_process_wait(tmp_path):
    with job_lock(tmp_path, "k"):
        child = subprocess.Popen(
            [sys.executable, "-c", _HOLD, str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        note = _wait_for_note(child, "in progress")
        time.sleep(1.0)
        released = time.time()
    out, _ = child.communicate(timeout=120)
    assert "an identical run (job k) is in progress" in note
    assert out.startswith("acquired") and float(out.split()[1]) >= released


def test_a_run_waits_only_while_its_generator_trains_elsewhere(tiny_folder, tmp_path):
    """Another job of the same run key (other metrics) holds the key's training lock: the
    run waits for it with a note, then goes on and is stored."""
    request = _request(tiny_folder)
    key = harness.open_run(request, harness.resolve_generator(request))[-1]
    args = [
        sys.executable, "-m", "usbench", "run", "-g", "ddpm", "-d", f"folder:{tiny_folder}",
        "--preset", "smoke", "--image-size", "16", "--n-samples", "3", "--metrics", "psnr",
        "--no-progress", "--store", str(tmp_path),
    ]  # fmt: skip
    with training_lock(tmp_path / "locks", key):
        child = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        note = _wait_for_note(child, "is training this generator")
        assert child.poll() is None and ResultStore(tmp_path).runs() == []
    out, err = child.communicate(timeout=600)
    assert child.returncode == 0, err
    assert f"key {key}" in note and len(ResultStore(tmp_path).runs()) == 1


def test_two_identical_runs_at_once_store_one_run(tiny_folder, tmp_path):
    args = [
        sys.executable, "-m", "usbench", "run", "-g", "ddpm", "-d", f"folder:{tiny_folder}",
        "--preset", "smoke", "--image-size", "16", "--n-samples", "3", "--metrics", "psnr",
        "--no-progress", "--store", str(tmp_path),
    ]  # fmt: skip
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)]
    procs.append(subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    (run,) = ResultStore(tmp_path).runs()
    assert all(f"run {run['run_id']} (" in out for out, _ in outputs)
    assert sum("already stored, not run again" in out for out, _ in outputs) == 1


def test_unavailable_metrics_are_grouped_by_missing_weights(monkeypatch, tmp_path):
    """LPIPS variants offline with an empty weights cache: one line per weights entry."""
    from usbench.cli import score_line
    from usbench.plugins import resolve_list
    from usbench.run_summary import summary_lines
    from usbench.samples import SampleBatch
    from usbench.scoring import score_metrics
    from usbench.testing import tiny_dataset

    monkeypatch.setenv("USBENCH_OFFLINE", "1")
    monkeypatch.setenv("USBENCH_WEIGHTS_DIR", str(tmp_path / "empty-weights"))
    data = tiny_dataset(image_size=16, n=6)
    specs = resolve_list("metrics", "lpips-diversity,lpips-paired,lpips-diversity-vgg,psnr")
    samples = SampleBatch(images=data.images[:3], sources=tuple(data.names[:3]))
    _, outcomes = score_metrics(specs, samples, data, None, 0, progress=False)
    rows = [o.row for o in outcomes]
    missing = {r.name: r.details.get("missing_weights") for r in rows}
    assert missing["lpips"] == missing["lpips:mode=paired"] == "alexnet-imagenet"
    assert missing["lpips:net=vgg"] == "vgg16-imagenet" and missing["psnr"] is None
    lines = summary_lines(rows, tmp_path / "run", score_line)
    assert lines[0].startswith("  psnr ↑")
    assert lines[1] == "  UNAVAILABLE: 3 metric(s) need weights that are not in the cache:"
    assert lines[2] == "    alexnet-imagenet: lpips, lpips:mode=paired"
    assert lines[3] == "    vgg16-imagenet: lpips:net=vgg"
    assert lines[4] == "  fetch them all: usbench weights fetch alexnet-imagenet vgg16-imagenet"
    assert str(tmp_path / "run" / "scores.json") in lines[5]
    assert all(len(line) < 120 for line in lines[:5])


def test_a_class_without_test_images_is_named(tmp_path):
    """Three patients of class0, one of class1: class1 only trains, and a warning says so."""
    import torch

    from usbench.data.imageset import ImageSet
    from usbench.data.splits import patient_split

    data = ImageSet(
        images=torch.rand(5, 1, 8, 8),
        labels=torch.tensor([0, 0, 0, 1, 1]),
        class_names=("covid", "regular"),
        patient_ids=("p1", "p2", "p3", "p4", "p4"),
        name="toy",
        names=tuple(f"img{i}" for i in range(5)),
    )
    with pytest.warns(UserWarning, match=r"no image of class 'regular' \(1 patient\(s\)\)"):
        train, test = patient_split(data, test_fraction=0.34, seed=0)
    assert set(data.labels[test].tolist()) == {0} and 3 in train and 4 in train


def test_upsampled_small_images_are_warned_about(tmp_path):
    from PIL import Image

    from usbench.data.imageio import load_stack

    for i, side in enumerate((8, 12, 32)):
        Image.fromarray((np.arange(side * side).reshape(side, side) % 256).astype("uint8")).save(
            tmp_path / f"img{i}.png"
        )
    files = sorted(tmp_path.glob("*.png"))
    with pytest.warns(UserWarning, match=r"2 of 3 images are smaller than 16×16 \(the smallest 8"):
        stack = load_stack(files, 16)
    assert stack.shape == (3, 16, 16)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_stack(files[:1], 8)  # no upsampling, no warning


def test_sampling_and_scoring_show_progress_only_when_asked(stored, capsys):
    from usbench.generators.ddpm import DDPMGenerator
    from usbench.plugins import resolve_list
    from usbench.progress import showing_progress
    from usbench.scoring import score_metrics
    from usbench.testing import tiny_dataset

    _, _, first = stored
    generator = DDPMGenerator.load(first.run_dir / "generator")
    quiet = generator.sample(3, seed=0)
    assert capsys.readouterr().err == ""
    with showing_progress(True):
        shown = generator.sample(3, seed=0)
    err = capsys.readouterr().err
    assert "sample ddpm" in err and "3/3" in err
    assert shown.images.equal(quiet.images) and shown.images.equal(first.samples.images)
    data = tiny_dataset(image_size=16, n=4)
    score_metrics(resolve_list("metrics", "psnr,ssim"), shown, data, None, 0, progress=True)
    assert "score" in capsys.readouterr().err


def test_store_rebuild_command_then_report_into_the_store(stored, tmp_path, monkeypatch):
    """`usbench store rebuild` on an emptied database, then `usbench report` without --out
    writes inside the store, never into the working directory."""
    import shutil

    from click.testing import CliRunner

    from usbench.cli import main

    copy = tmp_path / "copy"
    shutil.copytree(stored[0].root, copy)
    n_runs = len(ResultStore(copy).runs())
    (copy / "results.sqlite").write_bytes(b"")
    for name in ("results.sqlite-wal", "results.sqlite-shm"):
        (copy / name).unlink(missing_ok=True)
    runner = CliRunner()
    rebuilt = runner.invoke(main, ["store", "rebuild", "--store", str(copy)])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert f"restored {n_runs} run(s) from their run folders" in rebuilt.output
    assert len(ResultStore(copy).runs()) == n_runs
    monkeypatch.chdir(tmp_path)
    report = runner.invoke(main, ["report", "--store", str(copy), "--no-figures"])
    assert report.exit_code == 0, report.output
    assert (copy / "leaderboards" / "leaderboard.md").is_file()
    assert not (tmp_path / "leaderboards").exists()


def test_a_set_statistic_of_one_run_prints_no_zero_spread():
    """FID of one run has no spread: the run's printout shows the value alone, not "± 0"."""
    from usbench.cli import score_line
    from usbench.store import ScoreRow

    def row(name, value, spread, **ci):
        return ScoreRow(
            source="metric", name=name, version="1", variant={}, status="ok",
            higher_is_better=name == "ssim", value=value, spread=spread, n=40, **ci,
        )  # fmt: skip

    assert score_line(row("fid", 226.6, 0.0)) == f"{'fid ↓':<28} 226.6  (n=40)"
    with_ci = row("fid", 226.6, 0.0, ci_low=218.58, ci_high=234.47)
    assert score_line(with_ci) == f"{'fid ↓':<28} 226.6 [218.6, 234.5]  (n=40)"
    assert score_line(row("ssim", 0.5, 0.1)) == f"{'ssim ↑':<28} 0.5 ± 0.1  (n=40)"
