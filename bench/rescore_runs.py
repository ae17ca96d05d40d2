"""Re-score stored runs with the current metric code and compare with what was stored.

A refactor of the metric code must not move a number. This script takes a store of runs
(``usbench run`` output), rebuilds each run's real split from the dataset (checking the
data hash and the split against the stored ones), scores the run's own samples again
with every metric the run stored (old names resolve through their aliases) and prints,
per metric, the stored value, the new value and their difference. With ``--against``,
the values are also checked against a committed leaderboard CSV.

Samples are read from ``samples.safetensors`` (float32, written by the harness since the
plugin-contract redesign). A run folder written before that holds only 8-bit PNGs;
``--resample`` then redraws the float samples from the run's saved generator with the
run's seed (the generator's own ``load``/``sample``) and checks them against the PNGs
before scoring.

Usage::

    python bench/rescore_runs.py --store usbench-results \\
        --dataset lus-phantom --against leaderboards/leaderboard.csv
    python bench/rescore_runs.py --store runs-lus --dataset lus-mini \\
        --data-root ../shared/data/pocus-lus --against leaderboards/lus/leaderboard.csv

Exit status 1 when any metric differs by more than ``--rtol`` (relative) or its status
changed.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import pandas as pd
import torch


def load_samples(run: dict, resample: bool):
    """The run's samples as a SampleBatch (float32), from safetensors or by resampling."""
    from safetensors.torch import load_file

    from usbench.data.imageio import read_grayscale
    from usbench.samples import SampleBatch

    run_dir = Path(run["run_dir"])
    meta = json.loads((run_dir / "samples.json").read_text())
    labels = None if meta["labels"] is None else torch.tensor(meta["labels"])
    sources = None if meta["sources"] is None else tuple(meta["sources"])
    stored = run_dir / "samples.safetensors"
    if stored.exists():
        return SampleBatch(load_file(str(stored))["images"], labels, sources), "safetensors"
    if not resample:
        raise SystemExit(f"{run_dir} has no samples.safetensors; pass --resample")
    from usbench.images import to_uint8
    from usbench.registry import registry

    generator = registry("generators").get(run["generator"]).load(run_dir / "generator")
    batch = generator.sample(run["n_samples"], seed=run["seed"], labels=labels)
    pngs = sorted((run_dir / "samples").glob("*.png"))
    for image, png in zip(batch.images, pngs, strict=True):
        written = (read_grayscale(png) * 255.0 + 0.5).astype("uint8")
        if not (to_uint8(image) == written).all():
            raise SystemExit(f"resampled image differs from {png}: not the run's samples")
    return batch, "resampled (equal to the stored PNGs)"


def real_split(run: dict, args: argparse.Namespace):
    """``(train, test)`` of the run, rebuilt and checked against the stored hashes."""
    from usbench.data import open_dataset
    from usbench.harness import RunRequest, split_data

    request_record = run["provenance"].get("request", {})
    dataset = args.dataset or request_record.get("dataset")
    if dataset is None:
        raise SystemExit("this run does not record its dataset: pass --dataset (and options)")
    root = args.data_root or request_record.get("data_root")
    size = args.image_size or request_record.get("image_size") or run["config"].get("image_size")
    data = open_dataset(
        dataset,
        image_size=int(size),
        root=None if root is None else Path(root),
        options=request_record.get("data_options", {}),
    )
    if data.content_hash() != run["data_hash"]:
        raise SystemExit(f"{dataset} at {size} px is not the data run {run['run_id']} used")
    test_fraction = run["split"].get("test_fraction", request_record.get("test_fraction", 0.2))
    request = RunRequest(run["generator"], dataset, seed=run["seed"], test_fraction=test_fraction)
    train, test, split = split_data(data, request)
    if split != run["split"]:
        raise SystemExit(f"the split differs from the stored one: {split} vs {run['split']}")
    return train, test


def rescore(run: dict, stored: list[dict], args: argparse.Namespace) -> pd.DataFrame:
    """One row per stored metric score: stored and new value, spread, n and status."""
    from usbench.plugins import resolve
    from usbench.scoring import score_metrics

    samples, origin = load_samples(run, args.resample)
    train, test = real_split(run, args)
    specs = [resolve("metrics", row["name"]) for row in stored]
    _, outcomes = score_metrics(specs, samples, train, test, run["seed"])
    print(f"{run['run_id']}: {len(samples)} samples ({origin}), {len(specs)} metrics")
    rows = []
    for old, outcome in zip(stored, outcomes, strict=True):
        new = outcome.row
        rows.append(
            {
                "run_id": run["run_id"],
                "metric": new.name,
                "status": f"{old['status']}→{new.status}",
                "stored": old["value"],
                "rescored": new.value,
                "abs_diff": _diff(old["value"], new.value),
                "spread_diff": _diff(old["spread"], new.spread),
                "n": f"{old['n']}→{new.n}",
                "same_variant": old["variant"] == new.variant,
            }
        )
    return pd.DataFrame(rows)


def _diff(a, b) -> float:
    if a is None or b is None or (isinstance(a, float) and math.isnan(a)):
        return 0.0 if (a is None) == (b is None) else math.inf
    return abs(float(a) - float(b))


def against_leaderboard(table: pd.DataFrame, runs: dict, csv: Path) -> pd.DataFrame:
    """The committed leaderboard's value beside each rescored value (old names mapped)."""
    from usbench import catalog

    board = pd.read_csv(csv)
    board["metric"] = [catalog.canonical_alias("metrics", c.split("@")[0]) for c in board["column"]]
    out = []
    for row in table.itertuples():
        run = runs[row.run_id]
        match = board[
            (board["dataset"] == run["dataset"])
            & (board["generator"] == run["generator"])
            & (board["metric"] == row.metric)
        ]
        committed = float(match["value"].iloc[0]) if len(match) == 1 else math.nan
        out.append(committed)
    table = table.copy()
    table["committed"] = out
    table["committed_diff"] = [_diff(a, b) for a, b in zip(out, table["rescored"], strict=True)]
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--run", action="append", help="run id (default: every run)")
    parser.add_argument("--dataset", help="dataset selector, if the run does not record it")
    parser.add_argument("--data-root", type=Path)
    parser.add_argument("--image-size", type=int)
    parser.add_argument("--resample", action="store_true")
    parser.add_argument("--against", type=Path, help="a committed leaderboard.csv")
    parser.add_argument("--rtol", type=float, default=1e-6)
    args = parser.parse_args(argv)

    from usbench.store import ResultStore

    store = ResultStore(args.store)
    runs = {r["run_id"]: r for r in store.runs() if not args.run or r["run_id"] in args.run}
    scores = [s for s in store.scores() if s["run_id"] in runs and s["source"] == "metric"]
    tables = []
    for run_id, run in runs.items():
        stored = [s for s in scores if s["run_id"] == run_id]
        tables.append(rescore(run, stored, args))
    table = pd.concat(tables, ignore_index=True)
    if args.against is not None:
        table = against_leaderboard(table, runs, args.against)
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        print(table.to_string(index=False))
    scale = table["stored"].abs().fillna(0.0).clip(lower=1.0)
    bad = (table["abs_diff"] > args.rtol * scale) | (
        table["status"].str.split("→").str[0] != table["status"].str.split("→").str[1]
    )
    if args.against is not None:
        bad |= table["committed_diff"].fillna(0.0) > args.rtol * scale
    print(f"{len(table)} scores re-scored; {int(bad.sum())} differ beyond rtol={args.rtol}")
    return int(bad.any())


if __name__ == "__main__":
    sys.exit(main())
