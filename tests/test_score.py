"""`usbench score` and `usbench.score`: images from anywhere, against references and runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from _pytorch_fid import pytorch_fid_value
from click.testing import CliRunner

import usbench
from usbench.cli import entry, main
from usbench.store import ResultStore


@pytest.mark.slow
def test_fid_of_two_folders_equals_pytorch_fid(pocus_dir, tmp_path):
    """`usbench score REGULAR COVID --metrics fid --image-size 256` on the real POCUS frames
    (40 vs 40, 256×256 8-bit grayscale PNGs) equals pytorch-fid's CLI on the same two
    folders with the same real FID Inception weights, to 1e-3.

    Like for like: the frames are square and 256 px, so usbench loads them without
    resampling (gray/255); pytorch-fid reads them as RGB (the gray value in all three
    channels, /255). Both then resize to 299 bilinearly inside the network and use
    pool3 features; only batching, float summation order and the matrix square root differ.
    """
    real, fake = pocus_dir / "regular", pocus_dir / "covid"
    reference = pytorch_fid_value(real, fake, tmp_path / "torch-home")
    result = CliRunner().invoke(
        main, ["score", str(real), str(fake), "--metrics", "fid", "--image-size", "256", "--json"]
    )
    assert result.exit_code == 0, result.output
    table = usbench.score(real, fake, metrics="fid", image_size=256)
    ours = float(table.loc[0, "value"])
    print(f"pytorch-fid {reference:.6f}  usbench {ours:.6f}  diff {ours - reference:.2e}")
    assert ours == pytest.approx(reference, abs=1e-3)
    assert f'"value":{ours}'.replace(" ", "")[:14] in result.output.replace(" ", "")
    assert table.loc[0, "n"] == 40 and table.loc[0, "ci_low"] <= ours <= table.loc[0, "ci_high"]


def test_stored_external_run_matches_the_run_itself(tiny_folder, tmp_path):
    """The PNG samples of a `usbench run` (ddpm smoke), stored with `usbench score --samples`
    against the same dataset, give the run's own scores: the same patient split and
    reference set, so the only difference is 8-bit rounding of the PNGs (at most 0.5/255
    per pixel), here below 1 % relative. The run folder itself (its samples.safetensors)
    gives the run's numbers to round-off. The external run appears in the report."""
    runner = CliRunner()
    store = tmp_path / "store"
    common = ["--dataset", f"folder:{tiny_folder}", "--metrics", "ssim,psnr", "--store", str(store)]
    run = runner.invoke(
        main,
        [
            "run",
            "-g",
            "ddpm",
            "--preset",
            "smoke",
            "--image-size",
            "16",
            "--n-samples",
            "4",
            "--no-progress",
            *common,
        ],  # fmt: skip
        catch_exceptions=False,
    )
    assert run.exit_code == 0, run.output
    (trained,) = ResultStore(store).runs()
    samples = Path(trained["run_dir"]) / "samples"
    scored = runner.invoke(
        main,
        [
            "score",
            "--samples",
            str(samples),
            "--name",
            "my-gan",
            "--description",
            "a test",
            *common,
        ],  # fmt: skip
        catch_exceptions=False,
    )
    assert scored.exit_code == 0, scored.output
    runs = {r["generator"]: r for r in ResultStore(store).runs()}
    external = runs["external:my-gan"]
    assert external["preset"] == "external" and external["split"] == trained["split"]
    assert external["config"]["description"] == "a test"
    assert len(external["config"]["samples_sha256"]) == 64
    assert external["provenance"]["request"]["samples"] == str(samples)
    assert (Path(external["run_dir"]) / "samples.safetensors").is_file()
    by_run = {(s["run_id"], s["name"]): s["value"] for s in ResultStore(store).scores()}
    for metric in ("ssim", "psnr"):
        mine, theirs = by_run[external["run_id"], metric], by_run[trained["run_id"], metric]
        assert mine == pytest.approx(theirs, rel=1e-2)
    from_tensors = runner.invoke(
        main,
        ["score", "--samples", trained["run_dir"], "--name", "my-gan-tensors", *common],
        catch_exceptions=False,
    )
    assert from_tensors.exit_code == 0, from_tensors.output
    tensor_run = {r["generator"]: r for r in ResultStore(store).runs()}["external:my-gan-tensors"]
    by_run = {(s["run_id"], s["name"]): s["value"] for s in ResultStore(store).scores()}
    for metric in ("ssim", "psnr"):  # the run folder's float tensors: no rounding at all
        mine, theirs = by_run[tensor_run["run_id"], metric], by_run[trained["run_id"], metric]
        assert mine == pytest.approx(theirs, rel=1e-12)
    report = runner.invoke(main, ["report", "--store", str(store), "--out", str(tmp_path / "lb")])
    assert report.exit_code == 0, report.output
    assert "external:my-gan" in (tmp_path / "lb" / "leaderboard.md").read_text()


def test_api_from_tensors_reports_uncomputable_metrics_as_rows():
    """Tensors go straight in; FID of one generated image is an `unavailable` row with the
    reason while SSIM is computed (5 generated images paired with their nearest real)."""
    g = torch.Generator().manual_seed(0)
    real = torch.rand(6, 1, 16, 16, generator=g)
    table = usbench.score(real, real[:1], metrics="fid,ssim")
    fid, ssim = table.set_index("metric").loc[["fid", "ssim"]].to_dict("records")
    assert fid["status"] == "unavailable" and "at least 2 images" in fid["message"]
    assert ssim["status"] == "ok" and ssim["value"] == pytest.approx(1.0) and ssim["n"] == 1
    assert list(table.columns) == [
        "metric", "value", "spread", "ci_low", "ci_high", "n", "status", "message", "variant"
    ]  # fmt: skip


def _bad_input(tmp: Path, kind: str) -> Path:
    if kind == "empty-folder":
        (tmp / "empty").mkdir()
        return tmp / "empty"
    if kind == "file-not-folder":
        (tmp / "x.png").write_bytes(b"text")
        return tmp / "x.png"
    if kind == "non-image-file":
        (tmp / "bad").mkdir()
        (tmp / "bad" / "a.png").write_bytes(b"not a png")
        return tmp / "bad"
    return tmp / "missing"


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("missing-folder", "does not exist"),
        ("empty-folder", "no images in"),
        ("file-not-folder", "is a file"),
        ("non-image-file", "not a readable image"),
    ],
)
def test_bad_inputs_are_one_clear_line(kind, message, tiny_folder, tmp_path, monkeypatch, capsys):
    fake = _bad_input(tmp_path, kind)
    monkeypatch.setattr("sys.argv", ["usbench", "score", str(tiny_folder), str(fake)])
    with pytest.raises(SystemExit) as exit_info:
        entry()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usbench: error:") and message in err and "Traceback" not in err
    assert err.count("\n") == 1
