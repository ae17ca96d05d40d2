"""What `usbench score` does with awkward sample folders: duplicate files, mixed sizes,
tensor files, labels the reference does not have, empty folders and non-images."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from safetensors.torch import save_file

import usbench
from usbench.cli import entry, main
from usbench.data.folder import FolderDataset
from usbench.input_notes import InputNote
from usbench.sample_sources import read_samples
from usbench.store import ResultStore


def _copy_flat(tiny_folder: Path, target: Path, count: int) -> list[Path]:
    target.mkdir()
    files = sorted(tiny_folder.rglob("*.png"))[:count]
    return [Path(shutil.copy(f, target / f.name)) for f in files]


def test_duplicate_files_are_named_in_a_note_and_scored_anyway(tiny_folder, tmp_path):
    """Two of six files are byte copies of others: one note names the count and the pairs;
    all six images are scored (PSNR over 6 images equals the same six as a tensor)."""
    folder, real = tmp_path / "dups", tiny_folder / "class0"
    first, _, third, *_ = _copy_flat(tiny_folder / "class1", folder, 4)
    shutil.copy(first, folder / "zz_copy_a.png")
    shutil.copy(third, folder / "zz_copy_b.png")
    with pytest.warns(InputNote) as notes:
        batch = read_samples(folder, image_size=16)
    (note,) = [str(n.message) for n in notes if "duplicate" in str(n.message)]
    assert note.startswith(f"2 duplicate file(s) in {folder}")
    assert f"zz_copy_a.png = {first.name}" in note and f"zz_copy_b.png = {third.name}" in note
    assert len(batch) == 6

    result = CliRunner().invoke(main, ["score", str(real), str(folder), "--metrics", "psnr"])
    assert result.exit_code == 0, result.output
    assert result.stderr.count("note: 2 duplicate file(s)") == 1
    by_tensor = usbench.score(real, batch.images, metrics="psnr")
    assert f"{by_tensor.loc[0, 'value']:.4g}" in result.stdout and by_tensor.loc[0, "n"] == 6


def test_mixed_sizes_are_resized_as_datasets_are_and_the_output_says_so(tiny_folder, tmp_path):
    """Two 16×16 images, one 20×24 and one 32×32, loaded at 16: the pixels equal what the
    `folder` dataset loads from the same files, and one line reports "2 of 4"."""
    folder = tmp_path / "mixed"
    files = _copy_flat(tiny_folder, folder, 4)
    rng = np.random.default_rng(0)
    for file, (w, h) in zip(files[2:], [(20, 24), (32, 32)], strict=True):
        Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8)).save(file)
    with pytest.warns(InputNote, match=r"2 of 4 generated images resized from 20×24, 32×32 "):
        batch = read_samples(folder, image_size=16)
    dataset = FolderDataset(FolderDataset.Config(path=str(folder)))
    with pytest.warns(UserWarning, match="no patient ids"):
        expected = dataset.load(image_size=16)
    assert torch.equal(batch.images, expected.images)

    result = CliRunner().invoke(
        main, ["score", str(tiny_folder), str(folder), "--metrics", "ssim", "--image-size", "16"]
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if "resized" in line]
    assert lines == [
        "note: 2 of 4 generated images resized from 20×24, 32×32 to 16×16 (centre crop to a "
        "square, then Lanczos, as datasets are loaded)"
    ]


def test_samples_from_a_tensor_file_keep_labels_and_exact_values(tiny_folder, tmp_path):
    """`--samples x.safetensors` (images N×1×H×W float, labels N): stored without 8-bit
    rounding, labels kept; PSNR equals the API given the same tensor."""
    g = torch.Generator().manual_seed(0)
    images = torch.rand(4, 1, 16, 16, generator=g)
    labels = torch.tensor([0, 1, 1, 0])
    file = tmp_path / "gen.safetensors"
    save_file({"images": images, "labels": labels}, str(file))
    store = tmp_path / "store"
    result = CliRunner().invoke(
        main,
        [
            "score",
            "--samples",
            str(file),
            "--dataset",
            f"folder:{tiny_folder}",
            "--name",
            "t",
            "--metrics",
            "psnr",
            "--store",
            str(store),
        ],  # fmt: skip
    )
    assert result.exit_code == 0, result.output
    (run,) = ResultStore(store).runs()
    assert (
        run["config"]["samples_sha256"]
        == __import__("hashlib").sha256(file.read_bytes()).hexdigest()
    )
    batch = read_samples(file, image_size=16, class_names=("class0", "class1"))
    assert torch.equal(batch.images, images) and batch.labels.tolist() == [0, 1, 1, 0]
    (stored,) = ResultStore(store).scores()
    assert stored["n"] == 4 and np.isfinite(stored["value"])


def _bad_sample_input(tmp: Path, tiny_folder: Path, kind: str) -> Path:
    target = tmp / kind
    if kind == "unknown-class-folder":
        _copy_flat(tiny_folder / "class0", target, 2)
        shutil.move(target, tmp / "x")
        target.mkdir()
        shutil.move(tmp / "x", target / "Class0")
    elif kind == "unknown-manifest-label":
        _copy_flat(tiny_folder / "class0", target, 2)
        names = sorted(p.name for p in target.iterdir())
        (target / "manifest.csv").write_text(f"file,label\n{names[0]},class0\n{names[1]},cat\n")
    elif kind == "tensor-label-out-of-range":
        target = tmp / "labels.safetensors"
        save_file(
            {"images": torch.zeros(2, 1, 16, 16), "labels": torch.tensor([0, 5])}, str(target)
        )
    elif kind == "tensor-without-images":
        target = tmp / "other.safetensors"
        save_file({"x": torch.zeros(2, 1, 16, 16)}, str(target))
    elif kind == "empty-folder":
        target.mkdir()
    else:  # only files that are not images
        target.mkdir()
        (target / "notes.txt").write_text("not an image")
    return target


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("unknown-class-folder", "sample class folder(s) ['Class0']"),
        ("unknown-manifest-label", "sample label 'cat' is not a class"),
        ("tensor-label-out-of-range", "label 5 is not a class of the reference data"),
        ("tensor-without-images", "holds ['x'] but no 'images' tensor"),
        ("empty-folder", "no images in"),
        ("no-image-files", "no images in"),
    ],
)
def test_bad_sample_inputs_are_one_clear_line(
    kind, message, tiny_folder, tmp_path, monkeypatch, capsys
):
    samples = _bad_sample_input(tmp_path, tiny_folder, kind)
    argv = ["usbench", "score", "--samples", str(samples), "--dataset", f"folder:{tiny_folder}",
            "--name", "x", "--metrics", "psnr", "--store", str(tmp_path / "store")]  # fmt: skip
    monkeypatch.setattr("sys.argv", argv)
    with pytest.raises(SystemExit) as exit_info:
        entry()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usbench: error:") and message in err and "Traceback" not in err
