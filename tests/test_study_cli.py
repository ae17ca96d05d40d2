"""``usbench study create | add-reader | export | score`` on a store of stored runs."""

from __future__ import annotations

import csv
import io
import re

from _study_fixtures import study_store
from click.testing import CliRunner

from usbench.cli import main
from usbench.study.blinding import StudyPaths, read_key
from usbench.study.database import StudyDatabase


def _invoke(*args: str):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_create_add_reader_export_score(tmp_path):
    store = study_store(tmp_path / "store")
    root = str(store.root)
    created = _invoke(
        "study", "create", "--name", "cli", "--runs", "generator=ddpm", "--per-run", "4",
        "--seed", "1", "--store", root,
    )  # fmt: skip
    assert "study cli (single): 4 real + 4 generated images" in created
    admin = re.search(r"/admin/([A-Za-z0-9_-]{43})", created).group(1)
    paths = StudyPaths.of(store.root, "cli")
    assert {item["generator"] for item in read_key(paths).values()} == {"real", "ddpm"}
    added = _invoke("study", "add-reader", "cli", "--reader", "dr-a", "--store", root)
    token = re.search(r"http://127\.0\.0\.1:8765/r/([A-Za-z0-9_-]{43})$", added.strip()).group(1)
    assert token != admin and "dr-a: 8 images" in added
    db = StudyDatabase(paths.database)
    reader = db.reader_by_token(token)
    key = read_key(paths)
    for image_id in reader.image_ids:
        db.record_answer(reader, image_id, key[image_id]["truth"], 5, "sure")
    rows = list(csv.DictReader(io.StringIO(_invoke("study", "export", "cli", "--store", root))))
    assert len(rows) == 8 and all(r["correct"] == "1" and r["reader"] == "dr-a" for r in rows)
    assert [r["image_id"] for r in rows] == list(reader.image_ids)
    assert {r["generator"] for r in rows if r["truth"] == "synthetic"} == {"ddpm"}
    assert all(r["source"].startswith("run-ddpm/samples/") for r in rows if r["run_id"])
    table = _invoke("study", "score", "cli", "--store", root)
    assert "| dr-a | 8 | 1.00 [0.68, 1.00] | 0.008 | 1.00 | 1.00 | 1.00 |" in table


def test_errors_name_the_fix(tmp_path):
    store = study_store(tmp_path / "store", generators=("ddpm",))
    runner = CliRunner()
    missing = runner.invoke(main, ["study", "serve", "nope", "--store", str(store.root)])
    assert isinstance(missing.exception, FileNotFoundError)
    assert "usbench study create" in str(missing.exception)
    _invoke("study", "create", "--name", "s", "--per-run", "2", "--store", str(store.root))
    args = ["study", "add-reader", "s", "--reader", "x", "--store", str(store.root)]
    _invoke(*args)
    again = runner.invoke(main, args)
    assert "exists already" in str(again.exception)
    too_many = runner.invoke(main, [*args[:4], "y", "--images", "9", "--store", str(store.root)])
    assert "--images must be between 1 and 4" in str(too_many.exception)
