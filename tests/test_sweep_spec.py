"""Sweep specs expand to the grid they describe, and bad specs fail before submission."""

from __future__ import annotations

from pathlib import Path

import pytest

from usbench.config import ConfigError
from usbench.sweep.spec import load_spec, spec_from_dict
from usbench.sweep.units import Unit

REPO = Path(__file__).resolve().parents[1]


def test_leaderboard_spec_expands_to_every_runnable_generator_on_both_datasets():
    spec = load_spec(REPO / "leaderboards" / "sweep.toml")
    units = spec.check()  # every selector resolves against the registry
    assert spec.name == "leaderboard"
    generators = {
        "ddpm",
        "bmap_ddpm",
        "awdiff:text_encoder=label-embedding",
        "sinddm:sources_per_class=2",
        "fewddm:sources_per_class=3",
        "singan:sources_per_class=2",
    }
    assert {(u.generator, u.dataset) for u in units} == {
        (g, d) for g in generators for d in ("lus-phantom", "lus-mini")
    }
    assert len(units) == 12 and len({u.unit_id for u in units}) == 12
    assert {(u.preset, u.seed, u.metrics, u.tasks) for u in units} == {("quick", 0, "@all", "")}


def test_set_lists_are_grid_axes_and_scalars_are_fixed(tmp_path):
    raw = {
        "generators": ["ddpm", "sinddm:preset=smoke"],
        "datasets": ["lus-phantom:n_per_class=2"],
        "presets": "smoke",
        "seeds": [0, 1],
        "set": {"train.lr": [1e-3, 5e-4], "train.steps": 3, "train.grad_clip": 0.5},
        "task_set": {"pretrained": False},
        "data_roots": {"lus": "frames"},
    }
    spec = spec_from_dict(raw, default_name="grid", base=tmp_path)
    units = spec.check()
    assert len(units) == 2 * 1 * 1 * 2 * 2
    assert units[0] == Unit(
        generator="ddpm",
        dataset="lus-phantom:n_per_class=2",
        preset="smoke",
        seed=0,
        overrides=(("train.grad_clip", "0.5"), ("train.lr", "0.001"), ("train.steps", "3")),
        task_overrides=(("pretrained", "false"),),
    )
    assert {dict(u.overrides)["train.lr"] for u in units} == {"0.001", "0.0005"}
    assert spec.data_roots == {"lus": str((tmp_path / "frames").resolve())}
    # a unit's id depends on every field, and survives a round trip through JSON
    assert Unit.from_dict(units[3].to_dict()).unit_id == units[3].unit_id
    assert len({u.unit_id for u in units}) == len(units)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"generators": ["ddpm"], "datasets": ["lus"], "seed": [1]}, "unknown key"),
        ({"generators": [], "datasets": ["lus"]}, "generators.* empty"),
        ({"generators": ["ddpn"], "datasets": ["lus"]}, "ddpm"),  # did you mean
        ({"generators": ["ddpm"], "datasets": ["lus"], "set": {"train.nope": 1}}, "nope"),
        ({"name": "../up", "generators": ["ddpm"], "datasets": ["lus"]}, "letters, digits"),
    ],
)
def test_bad_specs_fail_before_anything_runs(raw, message, tmp_path):
    with pytest.raises((ConfigError, LookupError), match=message):
        spec_from_dict(raw, default_name="bad", base=tmp_path).check()


def test_invalid_toml_names_the_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("generators = [ddpm\n")
    with pytest.raises(ConfigError, match="broken.toml"):
        load_spec(path)


def test_flags_build_the_same_grid_and_status_lists_it(tmp_path):
    from click.testing import CliRunner

    from usbench.cli import main

    args = ["sweep", "status", "-g", "ddpm", "-g", "singan", "-d", "lus-phantom"]
    args += ["--preset", "smoke", "--seed", "0", "--seed", "3", "--name", "flags"]
    result = CliRunner().invoke(main, [*args, "--store", str(tmp_path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = [line.split()[:2] for line in result.output.splitlines()[1:-1]]
    assert rows == [
        [f"{g}/lus-phantom/smoke/s{seed}", "missing"] for g in ("ddpm", "singan") for seed in (0, 3)
    ]
    assert result.output.splitlines()[-1] == "4 missing"
    no_grid = CliRunner().invoke(main, ["sweep", "status", "--store", str(tmp_path)])
    assert no_grid.exit_code != 0 and "give a sweep spec" in str(no_grid.exception)


def test_task_flags_give_the_units_a_spec_gives(tmp_path):
    from usbench.sweep.cli import _load

    flags = _load(
        None, "tasks", ("ddpm",), ("lus-phantom",), ("smoke",), (0,), (), None,
        "classifier_gain", "smoke", ("epochs=1", "pretrained=false"), (), tmp_path,
    )  # fmt: skip
    raw = {
        "name": "tasks",
        "generators": ["ddpm"],
        "datasets": ["lus-phantom"],
        "presets": ["smoke"],
        "tasks": "classifier_gain",
        "task_preset": "smoke",
        "task_set": {"epochs": "1", "pretrained": "false"},
    }
    spec = spec_from_dict(raw, default_name="x", base=tmp_path)
    (unit,) = flags.units()
    assert flags.units() == spec.units()
    assert unit.task_preset == "smoke"
    assert unit.task_overrides == (("epochs", "1"), ("pretrained", "false"))


def test_split_tasks_is_read_as_split_fits(tmp_path):
    raw = {"generators": ["ddpm"], "datasets": ["lus-phantom"], "split_tasks": False}
    assert spec_from_dict(raw, default_name="x", base=tmp_path).split_fits is False
