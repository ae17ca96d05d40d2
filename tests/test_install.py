"""Packaging: plugin folders install inside the usbench namespace (regular and editable),
and a third-party generator package registers through entry points alone."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PLUGIN = Path(__file__).resolve().parent / "plugin_example"

pytestmark = [pytest.mark.subprocess, pytest.mark.slow]


def _copy_repo(dest: Path) -> Path:
    """Copy what a source install needs: the package folders and build files only (never a
    virtual environment or results that happen to sit in the checkout)."""
    dest.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, dest / name)
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for folder in ("usbench", "generators", "metrics", "tasks"):
        shutil.copytree(REPO / folder, dest / folder, ignore=skip)
    return dest


def _pip(*args: str, python: str = sys.executable) -> None:
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "--no-deps", *args],
        check=True,
        timeout=600,
        capture_output=True,
    )


def _plugin_paths(python: str, cwd: Path) -> list[str]:
    code = (
        "import usbench.generators as g, usbench.metrics as m, usbench.tasks as t;"
        "from usbench.registry import registry;"
        "print(g.__file__); print(m.__file__); print(t.__file__);"
        "print(','.join(registry('generators').names()))"
    )
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, cwd=cwd, check=True)
    return out.stdout.split()


@pytest.fixture(scope="module")
def bare_venv(tmp_path_factory) -> str:
    """A fresh venv without torch: importing the plugin packages must not need it."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    return str(venv / "bin" / "python")


def test_wheel_maps_plugin_folders_into_the_namespace(tmp_path):
    source = _copy_repo(tmp_path / "src")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "-w",
            str(tmp_path / "dist"),
            str(source),
        ],
        check=True,
        timeout=600,
    )
    (wheel,) = (tmp_path / "dist").glob("usbench-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "usbench/generators/ddpm.py" in names and "usbench/metrics/pixel.py" in names
    assert "usbench/tasks/__init__.py" in names and "usbench/data/lus_manifest.csv" in names
    assert not any(n.startswith(("metrics/", "generators/", "tasks/")) for n in names)


def test_regular_install(bare_venv, tmp_path):
    _pip(str(_copy_repo(tmp_path / "src")), python=bare_venv)
    g, m, t, names = _plugin_paths(bare_venv, tmp_path)
    site = "site-packages" + os.sep + "usbench" + os.sep
    assert site + "generators" in g and site + "metrics" in m and site + "tasks" in t
    assert "ddpm" in names.split(",")


def test_editable_install(bare_venv, tmp_path):
    source = _copy_repo(tmp_path / "src")
    _pip("-e", str(source), python=bare_venv)
    g, m, t, names = _plugin_paths(bare_venv, tmp_path)
    assert g == str(source / "generators" / "__init__.py")
    assert m == str(source / "metrics" / "__init__.py")
    assert t == str(source / "tasks" / "__init__.py")
    (source / "generators" / "added_later.py").write_text("VALUE = 3\n")
    code = "import usbench.generators.added_later as a; print(a.VALUE)"
    out = subprocess.run([bare_venv, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "3"  # new modules are seen without re-installing


def test_third_party_generator_via_entry_points(tmp_path):
    target = tmp_path / "site"
    _pip("--target", str(target), str(PLUGIN))
    env = {**os.environ, "PYTHONPATH": str(target), "HF_HUB_OFFLINE": "1"}
    usbench = [sys.executable, "-c", "from usbench.cli import entry; entry()"]
    listing = subprocess.run(
        [*usbench, "list", "generators"], capture_output=True, text=True, env=env, check=True
    )
    assert "toygen" in listing.stdout and "usbench-toygen" in listing.stdout
    data = tmp_path / "data"
    from PIL import Image

    from usbench.images import to_uint8
    from usbench.testing import tiny_dataset

    for i, image in enumerate(tiny_dataset(image_size=16, n=6).images):
        (data / f"c{i % 2}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(to_uint8(image)).save(data / f"c{i % 2}" / f"{i}.png")
    run = subprocess.run(
        [
            *usbench,
            "run",
            "--generator",
            "toygen",
            "--dataset",
            f"folder:{data}",
            "--preset",
            "smoke",
            "--metrics",
            "ssim,psnr",
            "--no-progress",
            "--store",
            str(tmp_path / "store"),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert run.returncode == 0, run.stderr
    assert "ssim ↑" in run.stdout


def test_example_plugins_pass_their_conformance_suites(tmp_path):
    """The README's example package, installed: its generator, metric and dataset are
    registered through entry points and pass the three conformance suites."""
    source = tmp_path / "src"
    shutil.copytree(PLUGIN, source, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    target = tmp_path / "site"
    _pip("--target", str(target), str(source))
    env = {**os.environ, "PYTHONPATH": str(target), "HF_HUB_OFFLINE": "1"}
    env |= {k: str(tmp_path / k.lower()) for k in ("USBENCH_CACHE", "USBENCH_WEIGHTS_DIR")}
    code = (
        "from usbench.testing import registered;"
        "print(registered('generators'), registered('metrics'), registered('datasets'))"
    )
    names = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    ).stdout
    assert all(name in names for name in ("'toygen'", "'brightness_gap'", "'stripes'"))
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider", "-rs"],
        capture_output=True,
        text=True,
        env=env,
        cwd=source,
        timeout=600,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "failed" not in tests.stdout and " passed" in tests.stdout
    assert "not registered" not in tests.stdout  # installed: the selector checks ran
