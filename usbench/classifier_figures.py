"""Per-run figures of ``classifier_gain``: why each arm scored what it did.

For every stored run with ``classifier_gain`` results, two figures (PNG and PDF):

- ``<run id>_classifier_gain_curves``: per minority share, a loss row and an accuracy row;
  per arm a panel with one colour per fold — training (solid), validation (dashed, when
  early stopping held patients out) and the test fold (dotted, monitored only) — and a dot
  at the epoch whose weights were kept.
- ``<run id>_classifier_gain_confusion``: per share and arm, the confusion matrix of the
  test images pooled over folds (each real image is tested in exactly one fold), with the
  real and synthetic training images per class and the mean kept epoch in the title.

The numbers come from the ``training`` records the task stores in the ``details`` of its
``accuracy`` rows (see :mod:`usbench.tasks._classification.summary`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from usbench.figures import _pyplot, _save
from usbench.store import ResultStore

_TASK_ACCURACY = "classifier_gain/accuracy"
_SPLITS = (("train", "-"), ("val", "--"), ("test", ":"))


def classifier_training_figures(store: ResultStore, out: Path, run_ids: set[str]) -> list[Path]:
    """The curve and confusion-matrix figures of every run in ``run_ids`` that ran
    ``classifier_gain`` (see the module docstring); the paths written."""
    written: list[Path] = []
    for run_id, panels, classes in _runs_with_training(store, run_ids):
        written += _curves_figure(run_id, panels, out)
        written += _confusion_figure(run_id, panels, classes, out)
    return written


def _runs_with_training(store: ResultStore, run_ids: set[str]):
    """``(run id, {(share, arm): [fold records]}, class names)`` per run, arms in the
    task's order and shares ascending."""
    per_run: dict[str, dict] = {}
    classes: dict[str, list[str]] = {}
    for score in store.scores():
        if score["run_id"] not in run_ids or not score["name"].startswith("classifier_gain/"):
            continue
        details = score.get("details") or {}
        names = classes.setdefault(score["run_id"], [])
        if details.get("class") and details["class"] not in names:
            names.append(details["class"])
        if score["name"] == _TASK_ACCURACY and details.get("training"):
            key = (details["minority_pct"], details["arm"])
            per_run.setdefault(score["run_id"], {})[key] = details["training"]
    for run_id in sorted(per_run):
        panels = dict(sorted(per_run[run_id].items(), key=lambda kv: (kv[0][0], len(kv[0][1]))))
        yield run_id, panels, classes.get(run_id, [])


def _grid(panels: dict):
    shares = sorted({share for share, _ in panels})
    arms = list(dict.fromkeys(arm for _, arm in panels))
    return shares, arms


def _curves_figure(run_id: str, panels: dict, out: Path) -> list[Path]:
    plt = _pyplot()
    shares, arms = _grid(panels)
    fig, axes = plt.subplots(
        2 * len(shares), len(arms), figsize=(3.2 * len(arms), 2.3 * 2 * len(shares)),
        squeeze=False, sharex=True,
    )  # fmt: skip
    for r, share in enumerate(shares):
        for c, arm in enumerate(arms):
            records = panels.get((share, arm), [])
            for row, kind in ((2 * r, "loss"), (2 * r + 1, "accuracy")):
                ax = axes[row][c]
                _plot_folds(ax, records, kind)
                ax.set_title(f"{arm}, minority {share} %: {kind}", fontsize=7)
                ax.tick_params(labelsize=6)
                ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("epoch", fontsize=7)
    handles = [plt.Line2D([], [], color="k", linestyle=s, label=n) for n, s in _SPLITS]
    handles.append(plt.Line2D([], [], color="k", marker="o", linestyle="", label="kept epoch"))
    fig.legend(handles=handles, loc="upper right", fontsize=7, ncols=4)
    fig.suptitle(f"{run_id}: classifier training per arm (colour = fold)", fontsize=9, x=0.3)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    paths = _save(fig, out, f"{run_id}_classifier_gain_curves")
    plt.close(fig)
    return paths


def _plot_folds(ax, records: list[dict], kind: str) -> None:
    for record in records:
        colour = f"C{record['fold']}"
        curves = record["curves"]
        for split, style in _SPLITS:
            values = curves.get(f"{split}_{kind}")
            if values:
                ax.plot(range(1, len(values) + 1), values, style, color=colour, linewidth=1)
        kept = record["kept_epoch"]
        train = curves.get(f"train_{kind}") or []
        if 1 <= kept <= len(train):
            ax.plot([kept], [train[kept - 1]], "o", color=colour, markersize=4)


def _confusion_figure(run_id: str, panels: dict, classes: list[str], out: Path) -> list[Path]:
    plt = _pyplot()
    shares, arms = _grid(panels)
    fig, axes = plt.subplots(
        len(shares), len(arms), figsize=(3.3 * len(arms), 3.3 * len(shares)), squeeze=False
    )
    for r, share in enumerate(shares):
        for c, arm in enumerate(arms):
            ax = axes[r][c]
            records = panels.get((share, arm), [])
            if not records:
                ax.axis("off")
                continue
            pooled = np.sum([np.asarray(rec["confusion"]) for rec in records], axis=0)
            _draw_matrix(ax, pooled, classes or [str(k) for k in range(len(pooled))])
            ax.set_title(_confusion_title(arm, share, records), fontsize=6.5)
    fig.suptitle(f"{run_id}: test confusion matrices pooled over folds", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    paths = _save(fig, out, f"{run_id}_classifier_gain_confusion")
    plt.close(fig)
    return paths


def _draw_matrix(ax, matrix: np.ndarray, classes: list[str]) -> None:
    ax.imshow(matrix, cmap="Blues")
    for (i, j), count in np.ndenumerate(matrix):
        colour = "white" if count > matrix.max() / 2 else "black"
        ax.text(j, i, str(int(count)), ha="center", va="center", fontsize=8, color=colour)
    ticks = range(len(classes))
    ax.set_xticks(ticks, classes, fontsize=6, rotation=30)
    ax.set_yticks(ticks, classes, fontsize=6)
    ax.set_xlabel("predicted", fontsize=6)
    ax.set_ylabel("true", fontsize=6)


def _confusion_title(arm: str, share: int, records: list[dict]) -> str:
    real = np.sum([r["train_images"]["real"] for r in records], axis=0).astype(int)
    synthetic = np.sum([r["train_images"]["synthetic"] for r in records], axis=0).astype(int)
    kept = np.mean([r["kept_epoch"] for r in records])
    return (
        f"{arm}, minority {share} %\ntrain real {real.tolist()} + synthetic "
        f"{synthetic.tolist()}\n(summed over folds); mean kept epoch {kept:.1f}"
    )
