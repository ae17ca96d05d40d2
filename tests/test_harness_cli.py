"""`usbench run` / `report` / `list` end to end on tiny data, and their error paths."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from usbench import harness, run_folder
from usbench.cli import entry, main
from usbench.store import ResultStore


def _run_args(tiny_folder: Path, store: Path, *extra: str) -> list[str]:
    return [
        "run",
        "--generator",
        "ddpm",
        "--dataset",
        f"folder:{tiny_folder}",
        "--preset",
        "smoke",
        "--image-size",
        "16",
        "--n-samples",
        "4",
        "--metrics",
        "ssim,psnr",
        "--no-progress",
        "--store",
        str(store),
        *extra,
    ]


def test_run_then_report(tiny_folder, tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, _run_args(tiny_folder, tmp_path / "store"), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "ssim ↑" in result.output and "psnr ↑" in result.output
    store = ResultStore(tmp_path / "store")
    (run,) = store.runs()
    run_dir = Path(run["run_dir"])
    assert sorted(p.name for p in (run_dir / "samples").iterdir()) == [
        f"sample_{i:04d}.png" for i in range(4)
    ]
    assert {
        "config.json",
        "provenance.json",
        "scores.json",
        "samples.json",
        "generator",
        "samples_grid.png",
    } <= {p.name for p in run_dir.iterdir()}
    assert run["provenance"]["versions"]["torch"] != "absent"
    assert run["split"]["kind"] == "patient" and run["split"]["train"] + run["split"]["test"] == 10
    scores = {s["name"]: s for s in store.scores()}
    assert scores["ssim"]["status"] == "ok" and scores["ssim"]["n"] == 4
    assert len(scores["psnr"]["per_sample"]) == 4
    assert scores["psnr"]["details"]["pairing"] == "nearest-train"
    in_folder = {s["name"]: s for s in json.loads((run_dir / "scores.json").read_text())}
    assert in_folder["ssim"]["value"] == pytest.approx(scores["ssim"]["value"])

    # loading the stored generator reproduces the stored samples exactly
    again = runner.invoke(
        main, _run_args(tiny_folder, tmp_path / "store2", "--load", str(run_dir / "generator"))
    )
    assert again.exit_code == 0, again.output
    (run2,) = ResultStore(tmp_path / "store2").runs()
    first = Image.open(run_dir / "samples" / "sample_0000.png")
    second = Image.open(Path(run2["run_dir"]) / "samples" / "sample_0000.png")
    assert np.array_equal(np.asarray(first), np.asarray(second))

    out = tmp_path / "lb"
    report = runner.invoke(main, ["report", "--store", str(tmp_path / "store"), "--out", str(out)])
    assert report.exit_code == 0, report.output
    assert r"\begin{tabular}" in (out / "leaderboard.tex").read_text()
    assert (out / "figures" / f"{run['run_id']}_samples.pdf").stat().st_size > 1000


def test_crash_leaves_no_partial_run(tiny_folder, tmp_path, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(run_folder, "save_png_grid", explode)
    request = harness.RunRequest(
        generator="ddpm",
        dataset=f"folder:{tiny_folder}",
        preset="smoke",
        image_size=16,
        n_samples=2,
        metrics=("psnr",),
        progress=False,
    )
    store = ResultStore(tmp_path)
    with pytest.raises(RuntimeError, match="disk full"):
        harness.execute(request, store)
    assert store.runs() == []
    assert not store.runs_dir.exists() or list(store.runs_dir.iterdir()) == []
    with sqlite3.connect(store.path) as con:
        assert con.execute("SELECT COUNT(*) FROM scores").fetchone()[0] == 0


def test_failing_metric_is_recorded_not_dropped(tiny_folder, tmp_path):
    from usbench.registry import registry

    registry("metrics").register("broken-metric", "usbench.no_such_module:Metric")
    try:
        request = harness.RunRequest(
            generator="ddpm",
            dataset=f"folder:{tiny_folder}",
            preset="smoke",
            image_size=16,
            n_samples=2,
            metrics=("psnr", "broken-metric"),
            progress=False,
        )
        result = harness.execute(request, ResultStore(tmp_path))
        assert [s.status for s in result.scores] == ["ok", "failed"]
        assert "usbench.no_such_module" in result.scores[1].message
    finally:
        registry("metrics").unregister("broken-metric")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "-g", "dpm", "-d", "lus-phantom"], "Did you mean 'ddpm'"),
        (["run", "-g", "ddpm", "-d", "lus-phantom", "--set", "stepz=3"], "Valid keys:"),
        (["run", "-g", "ddpm", "-d", "lus-phantom", "--set", "steps"], "key=value"),
        (["run", "-g", "ddpm", "-d", "lus-phantom", "--set", "steps=many"], "expected int"),
        (["run", "-g", "ddpm", "-d", "folder:/no/such/dir"], "/no/such/dir"),
        (["run", "-g", "ddpm", "-d", "no-such-data"], "No dataset called 'no-such-data'"),
        (["run", "-g", "ddpm", "-d", "lus-phantom", "--metrics", "sim"], "Did you mean 'ssim'"),
        (["run", "-g", "ddpm", "-d", "lus-phantom:n_per_clas=8"], "Did you mean 'n_per_class'"),
        (
            ["run", "-g", "ddpm", "-d", "lus-phantom", "--metrics", "fid:layr=pool2,kid"],
            "Valid keys: layer, n_boot",
        ),
        (
            ["run", "-g", "ddpm", "-d", "lus-phantom", "--metrics", "fid:layer=pool4"],
            "choose one of pool3, pool1, pool2",
        ),
        (["run", "-g", "ddpm:preset=fast", "-d", "lus-phantom"], "choose one of: paper, quick"),
        (["run", "-g", "ddpm", "-d", "lus-phantom", "--set", "train.lr=fast"], "expected float"),
        (["report", "--out", "x"], "usbench run"),
    ],
)
def test_user_errors_are_one_clear_line(args, message, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("sys.argv", ["usbench", *args, "--store", str(tmp_path)])
    with pytest.raises(SystemExit) as exit_info:
        entry()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usbench: error:") and message in err
    assert "Traceback" not in err


def test_list_and_help():
    runner = CliRunner()
    listing = runner.invoke(main, ["list", "generators"])
    assert listing.exit_code == 0 and "ddpm" in listing.output
    datasets = runner.invoke(main, ["list", "datasets"]).output
    assert "lus-phantom" in datasets and "folder" in datasets
    helptext = runner.invoke(main, ["run", "--help"]).output
    assert "Examples:" in helptext and "usbench run --generator ddpm" in helptext
    # a continued example stays two lines, as a shell would take it
    assert "--task-preset quick \\\n        --task-set" in helptext


def test_generators_on_stand_in_weights_are_never_stored(tiny_folder, tmp_path):
    from usbench.generators.ddpm import DDPMGenerator
    from usbench.registry import registry
    from usbench.store import RandomWeightsRefused

    class StandIn(DDPMGenerator):
        name = "stand-in"

        def published_weights(self) -> bool:
            return False

    registry("generators").register("stand-in", StandIn)
    try:
        request = harness.RunRequest(
            generator="stand-in",
            dataset=f"folder:{tiny_folder}",
            preset="smoke",
            image_size=16,
            n_samples=2,
            metrics=("psnr",),
            progress=False,
        )
        store = ResultStore(tmp_path)
        with pytest.raises(RandomWeightsRefused, match="stand-in .*nothing is stored"):
            harness.execute(request, store)
        assert store.runs() == [] and store.scores() == []
    finally:
        registry("generators").unregister("stand-in")


def test_phantom_run_draws_metric_figures_into_the_report(tmp_path):
    runner = CliRunner()
    args = [
        "run",
        "-g",
        "ddpm",
        "-d",
        "lus-phantom",
        "--preset",
        "smoke",
        "--set",
        "image_size=64",
        "--data-option",
        "n_per_class=4",
        "--n-samples",
        "6",
        "--metrics",
        "speckle,depth_profile,psnr",
        "--no-progress",
        "--store",
        str(tmp_path / "store"),
    ]
    result = runner.invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (run,) = ResultStore(tmp_path / "store").runs()
    assert run["dataset"] == "lus-phantom" and run["split"]["test"] > 0
    drawn = {p.name for p in (Path(run["run_dir"]) / "figures").iterdir()}
    status = {s["name"]: s["status"] for s in ResultStore(tmp_path / "store").scores()}
    # smoke samples are near-noise: no homogeneous speckle patch, said so with the fix
    assert status == {"speckle": "unavailable", "depth_profile": "ok", "psnr": "ok"}
    assert drawn == {"depth_profile.png"}  # every scored metric that has a figure drew it
    out = tmp_path / "report"
    assert (
        runner.invoke(
            main, ["report", "--store", str(tmp_path / "store"), "--out", str(out)]
        ).exit_code
        == 0
    )
    assert (out / "figures" / f"{run['run_id']}_depth_profile.png").stat().st_size > 5000
    board = (out / "leaderboard.md").read_text()
    assert "speckle" in board and "depth_profile" in board and "psnr" in board
