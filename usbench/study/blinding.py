"""Creating a reader study: a balanced, shuffled, blinded set of real and generated images.

Generated images are drawn from the ``samples/`` folders of stored runs; real ones from the
held-out test split of the runs' dataset, rebuilt exactly as ``usbench run`` made it (same
dataset, options, image size, test fraction and seed; the split's name hash is checked),
or from a folder given with ``--real-folder``. Every image is decoded to 8-bit grey
pixels and written again as a bare PNG (no text chunks, no time stamp, no file name)
under a random 16-character id. The key — truth, run, generator and source of every id —
is written to ``<store>/study-keys/<name>.json``, outside the folder the web app reads.

Layout: ``<store>/studies/<name>/study.sqlite`` (:mod:`usbench.study.database`) and
``<store>/studies/<name>/images/<id>.png``.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from usbench.fileio import atomic_write_text
from usbench.images import to_uint8
from usbench.store import ResultStore
from usbench.study.database import SIDES, StudyDatabase
from usbench.study.tokens import new_image_id, new_token, token_digest

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
RUN_FILTER_KEYS = ("run_id", "dataset", "generator", "preset")
MODES = ("single", "2afc")


@dataclass(frozen=True)
class StudyPaths:
    """Where one study lives inside a results store."""

    folder: Path
    database: Path
    images: Path
    key: Path

    @staticmethod
    def of(store_root: Path, name: str) -> StudyPaths:
        """The paths of study ``name`` in the store at ``store_root``."""
        if not NAME_PATTERN.fullmatch(name):
            raise ValueError(
                f"study name {name!r} must be letters, digits, '.', '_' or '-' (max 64)"
            )
        folder = Path(store_root) / "studies" / name
        key = Path(store_root) / "study-keys" / f"{name}.json"
        return StudyPaths(folder, folder / "study.sqlite", folder / "images", key)


@dataclass(frozen=True)
class StudyRequest:
    """What ``usbench study create`` was asked for.

    name: the study's name (folder and key file name).
    run_filter: keep runs whose run_id/dataset/generator/preset equal these values.
    per_run: generated images drawn from each chosen run.
    n_real: real test images (``None``: as many as generated images, a balanced study).
    seed: seed of the draws and the shuffle (``None``: fresh randomness).
    real_folder: take the real images from this folder instead of the runs' test split.
    mode: single (one image per trial: real or synthetic?) or 2afc (a real and a generated
        image side by side, sides at random: which one is synthetic?).
    """

    name: str
    run_filter: Mapping[str, str]
    per_run: int
    n_real: int | None = None
    seed: int | None = None
    real_folder: Path | None = None
    mode: str = "single"


@dataclass(frozen=True)
class CreatedStudy:
    """A new study: its paths, image counts and the admin token (shown once)."""

    paths: StudyPaths
    n_real: int
    n_generated: int
    admin_token: str


def create_study(store: ResultStore, request: StudyRequest) -> CreatedStudy:
    """Build the study folder, database and key (see the module docstring)."""
    paths = StudyPaths.of(store.root, request.name)
    if request.mode not in MODES:
        raise ValueError(f"mode {request.mode!r}: choose single or 2afc")
    if paths.folder.exists() or paths.key.exists():
        raise FileExistsError(f"a study called {request.name!r} exists already in {store.root}")
    runs = chosen_runs(store, request.run_filter)
    rng = random.Random(request.seed) if request.seed is not None else random.SystemRandom()
    generated = [item for run in runs for item in _draw_samples(run, request.per_run, rng)]
    n_real = len(generated) if request.n_real is None else request.n_real
    real = _draw_real(runs, request.real_folder, n_real, rng)
    _check_one_size(generated + real)
    if request.mode == "2afc":
        trials = _pairs(generated, real, rng)
    else:
        trials = [{"images": [item.pop("pixels")], **item} for item in generated + real]
        rng.shuffle(trials)
    return _write_study(paths, request.mode, trials, len(real), len(generated))


def _pairs(generated: list[dict], real: list[dict], rng: random.Random) -> list[dict]:
    """Each generated image beside a different real one, the generated one left or right
    at random; the trial's truth is the side of the generated image."""
    if len(real) != len(generated):
        raise ValueError(
            f"a 2afc study pairs each of the {len(generated)} generated images with a real "
            f"one; ask for --real {len(generated)} (or leave --real out)"
        )
    rng.shuffle(real)
    trials = []
    for fake, true in zip(generated, real, strict=True):
        side = rng.choice(SIDES)
        images = [fake.pop("pixels"), true["pixels"]][:: 1 if side == "left" else -1]
        trials.append({"images": images, **fake, "truth": side, "real_source": true["source"]})
    rng.shuffle(trials)
    return trials


def chosen_runs(store: ResultStore, run_filter: Mapping[str, str]) -> list[dict]:
    """Stored runs matching every ``key=value`` of ``run_filter`` (keys: run_id, dataset,
    generator, preset), oldest first; refuses an empty choice with the runs there are."""
    unknown = set(run_filter) - set(RUN_FILTER_KEYS)
    if unknown:
        raise ValueError(
            f"cannot choose runs by {sorted(unknown)}; use {', '.join(RUN_FILTER_KEYS)}"
        )
    every = store.runs()
    runs = [r for r in every if all(str(r[k]) == v for k, v in run_filter.items())]
    if not runs:
        known = ", ".join(f"{r['run_id']} ({r['generator']}, {r['dataset']})" for r in every)
        raise LookupError(
            f"no stored run matches {dict(run_filter)}; stored runs: {known or 'none'}. "
            "Make one with `usbench run` or `usbench score --samples`."
        )
    return runs


def _draw_samples(run: dict, per_run: int, rng: random.Random) -> list[dict]:
    files = sorted((Path(run["run_dir"]) / "samples").glob("*.png"))
    if len(files) < per_run:
        raise ValueError(
            f"run {run['run_id']} has {len(files)} samples, fewer than --per-run {per_run}"
        )
    return [
        {
            "truth": "synthetic",
            "run_id": run["run_id"],
            "generator": run["generator"],
            "source": f"{run['run_id']}/samples/{path.name}",
            "pixels": _grey_pixels(path),
        }
        for path in rng.sample(files, per_run)
    ]


def _draw_real(
    runs: list[dict], folder: Path | None, n_real: int, rng: random.Random
) -> list[dict]:
    if folder is not None:
        names, pixels = _real_folder(folder)
    else:
        names, pixels = _real_test_split(_one_test_split(runs))
    if len(names) < n_real:
        raise ValueError(f"only {len(names)} real test images are available, --real asks {n_real}")
    chosen = rng.sample(range(len(names)), n_real)
    return [
        {
            "truth": "real",
            "run_id": "",
            "generator": "real",
            "source": names[i],
            "pixels": pixels[i],
        }
        for i in chosen
    ]


def _one_test_split(runs: list[dict]) -> dict:
    """The run whose test split gives the real images; all runs must share that split."""
    splits = {(r["dataset"], r["data_hash"], r["split"].get("test_names_sha256")) for r in runs}
    if len(splits) > 1:
        raise ValueError(
            "the chosen runs were tested on different real images (datasets or splits "
            f"{sorted(s[0] for s in splits)}); choose runs of one dataset and split with "
            "--runs, or give the real images with --real-folder DIR"
        )
    return runs[0]


def _real_folder(folder: Path) -> tuple[list[str], list[np.ndarray]]:
    files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in {".png", ".jpg"})
    if not files:
        raise FileNotFoundError(f"no .png/.jpg images under --real-folder {folder}")
    return [str(p.relative_to(folder)) for p in files], [_grey_pixels(p) for p in files]


def _real_test_split(run: dict) -> tuple[list[str], list[np.ndarray]]:
    from usbench.data.open import open_dataset
    from usbench.harness import split_by_patient

    record = run["provenance"].get("request")
    if not record or "test_fraction" not in record or run["split"].get("kind") != "patient":
        raise ValueError(
            f"run {run['run_id']} has no held-out real test split to draw from; "
            "give the real images with --real-folder DIR"
        )
    root = record.get("data_root")
    data = open_dataset(
        record["dataset"],
        image_size=int(record["image_size"]),
        root=None if root is None else Path(root),
        options=record.get("data_options") or {},
    )
    _, test, split = split_by_patient(
        data, test_fraction=float(record["test_fraction"]), seed=int(run["seed"])
    )
    if split.get("test_names_sha256") != run["split"].get("test_names_sha256"):
        raise ValueError(
            f"the test split of {record['dataset']} differs from the one run {run['run_id']} "
            "held out (the data changed?); give the real images with --real-folder DIR"
        )
    return list(test.names), [to_uint8(image) for image in test.images]


def _grey_pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("L"), dtype=np.uint8)


def _check_one_size(items: list[dict]) -> None:
    sizes = {item["pixels"].shape for item in items}
    if len(sizes) > 1:
        raise ValueError(
            f"the images have different sizes {sorted(sizes)}, which would give the real ones "
            "away; choose runs made at the real images' size"
        )


def _write_study(
    paths: StudyPaths, mode: str, trials: list[dict], n_real: int, n_gen: int
) -> CreatedStudy:
    paths.images.mkdir(parents=True)
    key, rows, pairs = {}, [], []
    for trial in trials:
        images = trial.pop("images")
        trial_id = new_image_id()
        ids = [trial_id] if mode == "single" else [new_image_id() for _ in images]
        for image_id, pixels in zip(ids, images, strict=True):
            Image.fromarray(pixels, mode="L").save(paths.images / f"{image_id}.png", format="PNG")
        if mode == "2afc":
            pairs += [(trial_id, side, image_id) for side, image_id in zip(SIDES, ids, strict=True)]
        key[trial_id] = trial
        rows.append((trial_id, int(images[0].shape[1]), int(images[0].shape[0])))
    admin = new_token()
    meta = {
        "name": paths.folder.name,
        "mode": mode,
        "secret": new_token(),
        "admin_sha256": token_digest(admin),
    }
    StudyDatabase(paths.database).initialise(meta, rows, pairs)
    atomic_write_text(paths.key, json.dumps(key, indent=1, sort_keys=True))
    paths.key.chmod(0o600)  # the key is for the study's organiser only
    return CreatedStudy(paths, n_real, n_gen, admin)


def read_key(paths: StudyPaths) -> dict[str, dict]:
    """The study's key: ``trial id → {truth, run_id, generator, source}`` (``2afc``: truth
    is the side of the generated image, and ``real_source`` names the real one)."""
    if not paths.key.exists():
        raise FileNotFoundError(f"the key of this study is missing: {paths.key}")
    return json.loads(paths.key.read_text())
