"""`usbench run` end to end for awdiff and bmap_ddpm on lus-phantom and lus, then report.

Smoke presets at 16 px, 4 samples, ``--metrics ssim,psnr``. ``lus`` runs on the verified
local copy under ``$USBENCH_SHARED/data/pocus-lus`` and is skipped (with the reason)
where that copy is absent.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from _shared import has_lus, lus_dir, require_lus
from click.testing import CliRunner

os.environ["HF_HUB_OFFLINE"] = "1"

from usbench.cli import entry, main  # noqa: E402
from usbench.data import open_dataset  # noqa: E402
from usbench.data.splits import patient_split  # noqa: E402
from usbench.generators.bmap_ddpm import choose_probe  # noqa: E402
from usbench.store import ResultStore  # noqa: E402

LUS_ROOT = lus_dir()
PHANTOM = ("-d", "lus-phantom", "--data-option", "n_per_class=3")
LUS = ("-d", "lus-mini", "--data-root", str(LUS_ROOT))
FALLBACK = ("--set", "text_encoder=label-embedding")
CASES = {
    ("awdiff", "lus-phantom"): PHANTOM + FALLBACK,
    ("bmap_ddpm", "lus-phantom"): PHANTOM,
    ("awdiff", "lus-mini"): LUS + FALLBACK,
    ("bmap_ddpm", "lus-mini"): LUS,
}


def _run_args(generator: str, store: Path, extra: tuple[str, ...]) -> list[str]:
    return [
        "run",
        "-g",
        generator,
        *extra,
        "--preset",
        "smoke",
        "--n-samples",
        "4",
        "--metrics",
        "ssim,psnr",
        "--no-progress",
        "--store",
        str(store),
    ]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """One store holding every case that can run here."""
    folder = tmp_path_factory.mktemp("store")
    runner = CliRunner()
    for (generator, dataset), extra in CASES.items():
        if dataset == "lus-mini" and not has_lus():
            continue
        result = runner.invoke(main, _run_args(generator, folder, extra), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert "ssim ↑" in result.output and "psnr ↑" in result.output
    return folder


def _runs(store: Path) -> dict[tuple[str, str], dict]:
    return {(r["generator"], r["dataset"]): r for r in ResultStore(store).runs()}


@pytest.mark.parametrize("case", list(CASES), ids=lambda c: "-".join(c))
def test_run_lands_in_the_store(store, case):
    if case[1] == "lus-mini":
        require_lus()
    run = _runs(store)[case]
    scores = {s["name"]: s for s in ResultStore(store).scores() if s["run_id"] == run["run_id"]}
    assert set(scores) == {"ssim", "psnr"}
    for score in scores.values():
        assert score["status"] == "ok" and score["n"] == 4
        assert len(score["per_sample"]) == 4
    assert -1.0 <= scores["ssim"]["value"] <= 1.0 and scores["psnr"]["value"] > 0
    state = json.loads((Path(run["run_dir"]) / "generator" / "state.json").read_text())
    if case[0] == "awdiff":
        # the fallback is part of the run's identity, and samples are paired with sources
        assert run["config"]["text_encoder"] == "label-embedding"
        assert state["text_encoder"] == "label-embedding"
        assert scores["ssim"]["details"]["pairing"] == "source"
        sources = json.loads((Path(run["run_dir"]) / "samples.json").read_text())["sources"]
        assert len(sources) == 4 and set(sources) <= set(state["reference_names"])
    else:
        assert run["config"]["probe"] == "auto"
        assert state["probe"] == _expected_probe(case[1], run)


def _expected_probe(dataset: str, run: dict) -> str:
    """The majority probe of the run's training split, recomputed independently."""
    options = {"n_per_class": "3"} if dataset == "lus-phantom" else {}
    root = LUS_ROOT if dataset == "lus-mini" else None
    data = open_dataset(dataset, image_size=16, root=root, options=options)
    train_idx, _ = patient_split(data, test_fraction=0.2, seed=run["seed"])
    assert len(train_idx) == run["split"]["train"]
    return choose_probe("auto", [data.probes[i] for i in train_idx])


def test_report_lists_every_run(store, tmp_path):
    out = tmp_path / "lb"
    result = CliRunner().invoke(
        main, ["report", "--store", str(store), "--out", str(out), "--no-figures"]
    )
    assert result.exit_code == 0, result.output
    table = (out / "leaderboard.md").read_text()
    for generator, dataset in _runs(store):
        assert f"| {dataset} | {generator} | smoke |" in table
    assert r"\begin{tabular}" in (out / "leaderboard.tex").read_text()


def test_awdiff_without_weights_stops_before_training(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("USBENCH_WEIGHTS_DIR", str(tmp_path / "no-weights"))
    argv = _run_args("awdiff", tmp_path / "store", PHANTOM)
    monkeypatch.setattr("sys.argv", ["usbench", *argv])
    with pytest.raises(SystemExit) as exit_info:
        entry()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usbench: error:") and err.count("\n") == 1
    assert "BiomedCLIP" in err or "biomedclip" in err
    assert "--set text_encoder=label-embedding" in err
    assert "usbench weights fetch biomedclip" in err
    assert "Traceback" not in err
    work = tmp_path / "store" / "work"
    assert not any(work.rglob("*")) if work.exists() else True  # no checkpoint written
    assert ResultStore(tmp_path / "store").runs() == []
