"""A results store with stored runs (sample PNGs, no training) for the reader-study tests.

The runs record the ``lus-phantom`` dataset (6 per class at 32×32, test fraction 0.25),
so the study draws its real images from the same held-out split ``usbench run`` made.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from usbench.data.open import open_dataset
from usbench.harness import split_by_patient
from usbench.store import ResultStore, RunRow, ScoreRow
from usbench.study.blinding import StudyRequest, create_study

SIZE = 32
DATA_OPTIONS = {"n_per_class": "6"}
TEST_FRACTION = 0.25


def phantom_split(seed: int = 0) -> dict:
    """The split record ``usbench run --seed SEED`` stores for the phantom above."""
    data = open_dataset("lus-phantom", image_size=SIZE, options=DATA_OPTIONS)
    return split_by_patient(data, test_fraction=TEST_FRACTION, seed=seed)[2]


def add_run(store: ResultStore, run_id: str, generator: str, n: int, split: dict) -> Path:
    """Store a run whose folder holds ``n`` random-texture 32×32 sample PNGs."""
    run_dir = store.runs_dir / run_id
    (run_dir / "samples").mkdir(parents=True)
    rng = np.random.default_rng(zlib.crc32(run_id.encode()))
    for i in range(n):
        pixels = rng.integers(0, 256, (SIZE, SIZE), dtype=np.uint8)
        Image.fromarray(pixels, mode="L").save(run_dir / "samples" / f"sample_{i:04d}.png")
    request = {
        "generator": generator,
        "dataset": "lus-phantom",
        "data_options": DATA_OPTIONS,
        "data_root": None,
        "image_size": SIZE,
        "test_fraction": TEST_FRACTION,
        "metrics": "ssim",
        "tasks": "",
    }
    row = RunRow(
        run_id=run_id,
        created_at=f"2026-01-01T00:00:{len(store.runs()):02d}",
        generator=generator,
        preset="smoke",
        config={},
        config_hash="c0ffee",
        dataset="lus-phantom",
        data_hash="d" * 64,
        split=split,
        seed=0,
        n_samples=n,
        run_dir=str(run_dir),
        provenance={"request": request},
    )
    ssim = ScoreRow("metric", "ssim", "1", {}, "ok", True, value=0.5, spread=0.1, n=n)
    store.add_run(row, [ssim])
    return run_dir


def study_store(root: Path, generators: tuple[str, ...] = ("ddpm", "sinddm")) -> ResultStore:
    """A store with one run of 8 samples per generator (run ids ``run-<generator>``)."""
    store = ResultStore(root)
    split = phantom_split()
    for generator in generators:
        add_run(store, f"run-{generator}", generator, 8, split)
    return store


def new_study(
    store: ResultStore, name: str, per_run: int, n_real: int | None = None, mode: str = "single"
):
    """:func:`create_study` over every run of ``store`` with seed 0."""
    request = StudyRequest(
        name=name, run_filter={}, per_run=per_run, n_real=n_real, seed=0, mode=mode
    )
    return create_study(store, request)
