"""Reader study creation: balanced, shuffled, blinded, re-encoded, key kept apart."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
from _study_fixtures import DATA_OPTIONS, SIZE, TEST_FRACTION, add_run, new_study, study_store
from PIL import Image

from usbench.data.open import open_dataset
from usbench.harness import split_by_patient
from usbench.images import to_uint8
from usbench.study.blinding import StudyRequest, create_study, read_key
from usbench.study.tokens import well_formed_image_id


@pytest.fixture(scope="module")
def created(tmp_path_factory):
    store = study_store(tmp_path_factory.mktemp("store"))
    return store, new_study(store, "pilot", per_run=3)


def test_balanced_and_every_pixel_from_its_source(created):
    store, study = created
    key = read_key(study.paths)
    assert study.n_generated == 6 and study.n_real == 6  # default: as many real as generated
    truths = [k["truth"] for k in key.values()]
    assert truths.count("real") == 6 and truths.count("synthetic") == 6
    assert {k["generator"] for k in key.values()} == {"real", "ddpm", "sinddm"}
    data = open_dataset("lus-phantom", image_size=SIZE, options=DATA_OPTIONS)
    _, test, _ = split_by_patient(data, test_fraction=TEST_FRACTION, seed=0)
    for image_id, item in key.items():
        served = np.asarray(Image.open(study.paths.images / f"{image_id}.png"))
        if item["truth"] == "real":  # a held-out test image, never a training one
            original = to_uint8(test.images[test.names.index(item["source"])])
        else:
            original = np.asarray(Image.open(store.runs_dir / item["source"]))
        np.testing.assert_array_equal(served, original)


def test_blinded_ids_no_metadata_and_key_apart(created):
    store, study = created
    key = read_key(study.paths)
    files = sorted(study.paths.images.iterdir())
    assert len(files) == 12 and all(well_formed_image_id(p.stem) for p in files)
    for path in files:
        with Image.open(path) as image:
            assert image.info == {} and image.mode == "L"  # no text chunks, no time stamp
        assert b"tEXt" not in path.read_bytes() and b"sample_" not in path.read_bytes()
    assert study.paths.folder not in study.paths.key.parents  # the key is outside the study
    assert study.paths.key.stat().st_mode & 0o777 == 0o600
    with sqlite3.connect(study.paths.database) as con:
        dump = "\n".join(con.iterdump())
    for item in key.values():  # the served database names no source, run or truth
        assert item["source"] not in dump and "run-ddpm" not in dump


def test_shuffle_is_not_the_draw_order(created):
    _, study = created
    order = [read_key(study.paths)[i]["truth"] for i in _database_order(study)]
    assert order != sorted(order) and order != sorted(order, reverse=True)


def _database_order(study):
    with sqlite3.connect(study.paths.database) as con:
        return [r[0] for r in con.execute("SELECT image_id FROM images ORDER BY rowid")]


def test_refusals_say_what_to_do(tmp_path):
    store = study_store(tmp_path)
    with pytest.raises(LookupError, match="stored runs: run-ddpm"):
        new_study_filtered(store, {"generator": "singan"})
    with pytest.raises(ValueError, match="use run_id, dataset, generator, preset"):
        new_study_filtered(store, {"seed": "1"})
    with pytest.raises(ValueError, match="fewer than --per-run 9"):
        new_study(store, "too-many", per_run=9)
    with pytest.raises(ValueError, match="only 6 real test images"):
        new_study(store, "too-real", per_run=2, n_real=7)
    with pytest.raises(ValueError, match="must be letters"):
        new_study(store, "../escape", per_run=2)
    new_study(store, "once", per_run=1)
    with pytest.raises(FileExistsError):
        new_study(store, "once", per_run=1)


def test_images_of_another_size_are_refused(tmp_path):
    store = study_store(tmp_path, generators=("ddpm",))
    run_dir = add_run(store, "run-big", "singan", 2, store.runs()[0]["split"])
    for path in (run_dir / "samples").iterdir():
        Image.new("L", (64, 64)).save(path)
    with pytest.raises(ValueError, match="give the real ones away"):
        new_study(store, "mixed", per_run=2)


def test_runs_tested_on_other_real_images_are_refused(tmp_path):
    store = study_store(tmp_path, generators=("ddpm",))
    other = dict(store.runs()[0]["split"], test_names_sha256="0" * 64)
    add_run(store, "run-other", "singan", 2, other)
    with pytest.raises(ValueError, match="tested on different real images"):
        new_study(store, "mixed", per_run=2)
    request = StudyRequest(name="one", run_filter={"generator": "singan"}, per_run=2, seed=0)
    with pytest.raises(ValueError, match="differs from the one run run-other held out"):
        create_study(store, request)


def new_study_filtered(store, run_filter):
    request = StudyRequest(name="x", run_filter=run_filter, per_run=1, seed=0)
    return create_study(store, request)
