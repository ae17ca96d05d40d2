"""Figures for reports: a titled sample grid per run (PNG and PDF)."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import numpy as np
from PIL import Image

from usbench.selectors import file_stem
from usbench.store import ResultStore


def sample_grid_figures(store: ResultStore, out: Path, run_ids: set[str]) -> list[Path]:
    """One figure per run in ``run_ids``: its sample grid titled with the run identity."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for run in store.runs():
        grid_path = Path(run["run_dir"]) / "samples_grid.png"
        if run["run_id"] not in run_ids or not grid_path.exists():
            continue
        image = np.asarray(Image.open(grid_path))
        fig, ax = plt.subplots(figsize=(6, 6 * image.shape[0] / image.shape[1] + 0.4))
        ax.imshow(image, cmap="gray", vmin=0, vmax=255)
        ax.set_axis_off()
        title = f"{run['generator']} ({run['preset']}) on {run['dataset']}, seed {run['seed']}"
        ax.set_title(fitted_title(title, fig, 10), fontsize=10)
        fig.tight_layout()
        for suffix in ("png", "pdf"):
            path = out / f"{run['run_id']}_samples.{suffix}"
            fig.savefig(path, dpi=150)
            written.append(path)
        plt.close(fig)
    return written


def comparison_grid_figures(
    store: ResultStore, out: Path, run_ids: set[str], *, per_row: int = 8
) -> list[Path]:
    """Per dataset, one figure with a row of ``per_row`` samples for each run (seed 000
    Fig. 2 style, generators side by side): ``comparison_<dataset>.png/.pdf``.

    Samples are the first ``per_row`` files of each run's ``samples/`` folder; a run with
    fewer shows blanks. Rows are labelled ``generator (preset), seed``.
    """
    plt = _pyplot()
    by_dataset: dict[str, list[tuple[str, list[Path]]]] = {}
    for run in sorted(store.runs(), key=lambda r: (r["dataset"], r["generator"], r["seed"])):
        files = sorted((Path(run["run_dir"]) / "samples").glob("*.png"))[:per_row]
        if run["run_id"] in run_ids and files:
            label = f"{run['generator']} ({run['preset']}), seed {run['seed']}"
            by_dataset.setdefault(run["dataset"], []).append((label, files))
    written = []
    for dataset, rows in by_dataset.items():
        fig, axes = plt.subplots(
            len(rows), per_row, figsize=(1.3 * per_row + 1.6, 1.35 * len(rows) + 0.5),
            squeeze=False,
        )  # fmt: skip
        for axis_row, (label, files) in zip(axes, rows, strict=True):
            for column, ax in enumerate(axis_row):
                ax.set_xticks([])
                ax.set_yticks([])
                for spine in ax.spines.values():
                    spine.set_visible(False)
                if column < len(files):
                    ax.imshow(np.asarray(Image.open(files[column]).convert("L")), cmap="gray",
                              vmin=0, vmax=255)  # fmt: skip
            axis_row[0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
        fig.suptitle(fitted_title(f"samples on {dataset}: one row per run", fig, 10), fontsize=10)
        fig.tight_layout()
        written += _save(fig, out, f"comparison_{_slug(dataset)}")
        plt.close(fig)
    return written


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text)


def run_metric_figures(store: ResultStore, out: Path, run_ids: set[str]) -> list[Path]:
    """Copy each run's per-metric figures (drawn by the metrics at run time, e.g. speckle
    histograms or detected B-lines) to ``out/<run id>_<metric>.png``."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for run in store.runs():
        folder = Path(run["run_dir"]) / "figures"
        if run["run_id"] not in run_ids or not folder.is_dir():
            continue
        for figure in sorted(folder.glob("*.png")):
            target = out / f"{run['run_id']}_{figure.name}"
            shutil.copyfile(figure, target)
            written.append(target)
    return written


def fitted_title(text: str, fig, fontsize: float) -> str:
    """``text`` wrapped onto lines that fit the width of ``fig`` at ``fontsize`` points
    (a character is taken as 0.6 em wide, generous for DejaVu Sans)."""
    width_points = fig.get_figwidth() * 72 * 0.95
    per_line = max(10, int(width_points / (0.6 * fontsize)))
    return textwrap.fill(text, per_line, break_long_words=True)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out: Path, stem: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix in ("png", "pdf"):
        path = out / f"{stem}.{suffix}"
        fig.savefig(path, dpi=150)
        paths.append(path)
    return paths


def metric_distribution_figures(frame, out: Path) -> list[Path]:
    """Per metric with per-sample values, a box plot per (dataset, generator) of them
    (seed 000 Figs. 3–4). ``frame`` is :func:`usbench.score_frames.long_scores`."""
    plt = _pyplot()
    written: list[Path] = []
    if frame.empty:
        return written
    metrics = frame[(frame["source"] == "metric") & frame["per_sample"].notna()]
    for metric, group in metrics.groupby("metric", sort=True):
        labels = [f"{g}\n{d}" for d, g in zip(group["dataset"], group["generator"], strict=True)]
        fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(group), 3.2))
        ax.boxplot(list(group["per_sample"]), showmeans=True)
        ax.set_xticks(range(1, len(labels) + 1), labels, fontsize=8)
        arrow = "↑" if group["hib"].iloc[0] else "↓"
        ax.set_ylabel(f"{metric} {arrow}")
        title = f"{metric} per generated image (n = {int(group['n'].min())}+ per box)"
        ax.set_title(fitted_title(title, fig, 9), fontsize=9)
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        written += _save(fig, out, f"distribution_{file_stem(metric)}")
        plt.close(fig)
    return written


def minority_curve_figures(frame, out: Path, metric: str = "balanced_accuracy") -> list[Path]:
    """``metric`` of ``classifier_gain`` (mean ± std over folds) against the share of
    the minority's real training images, one line per arm and generator (seed 003 Fig. 3)."""
    plt = _pyplot()
    written: list[Path] = []
    if frame.empty:
        return written
    tasks = frame[(frame["task"] == "classifier_gain") & (frame["metric"] == metric)]
    for dataset, group in tasks.groupby("dataset", sort=True):
        group = group.assign(
            arm=group["setting"].str.split("/").str[0],
            share=group["setting"].str.extract(r"minority=(\d+)%")[0].astype(int),
        )
        fig, ax = plt.subplots(figsize=(5.2, 3.4))
        first = sorted(set(group["generator"]))[0]
        for (gen, arm), line in group.groupby(["generator", "arm"], sort=True):
            if "synthetic" not in arm and gen != first:
                continue  # real-only arms do not depend on the generator
            line = line.sort_values("share")
            label = arm if "synthetic" not in arm else f"{arm} ({gen})"
            ax.errorbar(line["share"], line["value"], yerr=line["spread"], marker="o",
                        capsize=3, label=label)  # fmt: skip
        ax.set_xlabel("minority real training images kept (%)")
        ax.set_ylabel(metric.replace("_", " ") + " ↑")
        title = f"classifier gain on {dataset} (mean ± std over folds)"
        ax.set_title(fitted_title(title, fig, 9), fontsize=9)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        written += _save(fig, out, f"minority_{metric}_{dataset}")
        plt.close(fig)
    return written
