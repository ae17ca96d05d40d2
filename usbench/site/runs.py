"""Run pages: one per stored run — samples beside real training images of the same
split, every metric with its variant, N and CI, the metric figures, downstream-task tables
and curves, and the full provenance with the command line that reproduces the run."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tqdm import tqdm

from usbench.site.files import SiteFiles
from usbench.site.model import MetricLine, RunPage, TaskTable
from usbench.site.real_images import RealImages
from usbench.site.reproduce import reproduce_command

SAMPLES_SHOWN = 16


def run_href(run_id: str) -> str:
    """Where the page of ``run_id`` lives, relative to the site root."""
    return f"runs/{run_id}.html"


def build_run_pages(
    runs: Iterable[dict[str, Any]], scores: list[dict[str, Any]], files: SiteFiles,
    real_images: bool = True,
) -> list[RunPage]:  # fmt: skip
    """A :class:`RunPage` per run (rows of :meth:`ResultStore.runs`), copying its images
    into the site. ``scores``: :meth:`ResultStore.scores`. ``real_images``: reopen each
    run's dataset to show real training images beside the samples."""
    by_run: dict[str, list[dict[str, Any]]] = {}
    for score in scores:
        by_run.setdefault(score["run_id"], []).append(score)
    real = RealImages() if real_images else None
    return [
        _page(run, by_run.get(run["run_id"], []), files, real)
        for run in tqdm(list(runs), desc="run pages", unit="run", disable=None)
    ]


def _page(
    run: dict[str, Any], scores: list[dict], files: SiteFiles, real: RealImages | None
) -> RunPage:
    run_id, folder = run["run_id"], Path(run["run_dir"])
    base = f"runs/{run_id}"
    samples = [files.copy(p, f"{base}/samples/{p.name}")
               for p in sorted((folder / "samples").glob("*.png"))[:SAMPLES_SHOWN]]  # fmt: skip
    real_hrefs, note = [], "real images not requested for this site"
    if real is not None:
        pixels, note = real.of(run, SAMPLES_SHOWN)
        real_hrefs = [files.image(p, f"{base}/real/real_{i:04d}.png") for i, p in enumerate(pixels)]
    figures = [(p.stem.replace("_", " "), files.copy(p, f"{base}/figures/{p.name}"))
               for p in sorted((folder / "figures").glob("*.png"))]  # fmt: skip
    metric_rows = sorted((s for s in scores if s["source"] == "metric"), key=lambda s: s["name"])
    return RunPage(
        run_id=run_id,
        href=run_href(run_id),
        generator=run["generator"],
        preset=run["preset"],
        dataset=run["dataset"],
        seed=int(run["seed"]),
        kind="external" if run["generator"].startswith("external:") else "run",
        facts=_facts(run),
        metrics=[_metric_line(s) for s in metric_rows],
        tasks=task_tables([s for s in scores if s["source"] == "task"]),
        samples=samples,
        real=real_hrefs,
        real_note=note if not real_hrefs else "",
        figures=figures,
        config=run["config"],
        provenance=run["provenance"],
        command=reproduce_command(run),
    )


def _facts(run: dict[str, Any]) -> dict[str, str]:
    split = run["split"]
    return {
        "run id": run["run_id"],
        "created (UTC)": run["created_at"],
        "generator": f"{run['generator']} ({run['preset']})",
        "dataset": run["dataset"],
        "seed": str(run["seed"]),
        "samples": str(run["n_samples"]),
        "split": ", ".join(f"{k} {v}" for k, v in split.items()),
        "config hash": run["config_hash"],
        "data hash": run["data_hash"],
        "usbench revision": str(run["provenance"].get("usbench_revision", "unknown")),
    }


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def _metric_line(score: dict[str, Any]) -> MetricLine:
    return MetricLine(
        name=score["name"],
        variant=json.dumps(score["variant"], sort_keys=True),
        higher_is_better=bool(score["higher_is_better"]),
        value=_number(score["value"]),
        spread=_number(score["spread"]),
        ci_low=_number(score["ci_low"]),
        ci_high=_number(score["ci_high"]),
        n=int(score["n"] or 0),
        status=score["status"],
        message=score["message"],
    )


def task_tables(scores: list[dict[str, Any]]) -> list[TaskTable]:
    """Per task, a table: rows = score groups (arm/setting/class), columns = its metrics,
    cells ``value ± spread`` (``n/a`` with the reason for unavailable or failed rows)."""
    tables: dict[str, TaskTable] = {}
    for score in scores:
        task, metric = score["name"].split("/", 1)
        table = tables.setdefault(task, TaskTable(task, [], [], {}))
        if metric not in table.columns:
            table.columns.append(metric)
        group = score["grp"] or "all"
        if group not in table.cells:
            table.rows.append(group)
            table.cells[group] = {}
        ok = score["status"] == "ok" and score["value"] is not None
        spread = "" if score["spread"] is None else f" ± {score['spread']:.2g}"
        text = f"{score['value']:.4g}{spread}" if ok else f"n/a ({score['message']})"
        table.cells[group][metric] = text
    return list(tables.values())
