"""Per-run figure of ``segmentation_gain``: what each arm's U-Net predicts on test images.

For every stored run with ``segmentation_gain`` results, ``<run id>_segmentation_gain_examples``
(PNG and PDF): per real share a block of rows, one per example test image of the first
fold; columns: the image, its ground truth over it, then the prediction of each arm
(``real``, ``real+synthetic``) over it, titled with that image's Dice (mean over the
foreground classes in its truth). One colour per label-map class (background left
uncoloured), with a legend of the class names.

The images and maps come from the ``examples`` record the task stores in the ``details`` of
each arm's mean ``dice`` row (see :mod:`usbench.tasks._segmentation.examples`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from usbench.figures import _pyplot, _save
from usbench.packed_arrays import unpack_uint8
from usbench.store import ResultStore

_TASK_DICE = "segmentation_gain/dice"
_ALPHA = 0.45


def segmentation_example_figures(store: ResultStore, out: Path, run_ids: set[str]) -> list[Path]:
    """The prediction figure of every run in ``run_ids`` that ran ``segmentation_gain``
    with stored examples (see the module docstring); the paths written."""
    per_run: dict[str, dict[tuple[int, str], dict]] = {}
    for score in store.scores():
        details = score.get("details") or {}
        if score["run_id"] not in run_ids or score["name"] != _TASK_DICE:
            continue
        if details.get("examples") and "class" not in details:
            key = (details["real_pct"], details["arm"])
            per_run.setdefault(score["run_id"], {})[key] = details["examples"]
    written: list[Path] = []
    for run_id in sorted(per_run):
        written += _examples_figure(run_id, per_run[run_id], out)
    return written


def class_colours(n_classes: int) -> np.ndarray:
    """``n_classes×4`` RGBA: background transparent, then matplotlib's ``tab10`` cycle."""
    plt = _pyplot()
    colours = np.array([plt.get_cmap("tab10")(k % 10) for k in range(max(n_classes - 1, 0))])
    return np.vstack([np.zeros((1, 4)), colours.reshape(-1, 4)])


def overlay(labels: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """``H×W×4`` RGBA image of a label map: class colours at :data:`_ALPHA`, background clear."""
    rgba = colours[labels].copy()
    rgba[..., 3] = np.where(labels > 0, _ALPHA, 0.0)
    return rgba


def _examples_figure(run_id: str, panels: dict[tuple[int, str], dict], out: Path) -> list[Path]:
    plt = _pyplot()
    shares = sorted({share for share, _ in panels})
    arms = list(dict.fromkeys(arm for _, arm in sorted(panels, key=lambda k: len(k[1]))))
    first = next(iter(panels.values()))
    classes = first["classes"]
    colours = class_colours(len(classes))
    n_rows = sum(len(_record(panels, share)["names"]) for share in shares)
    n_cols = 2 + len(arms)
    height = 2.45 * n_rows + 0.8  # inches: panels, title above, legend below
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(2.1 * n_cols, height), squeeze=False)
    row = 0
    for share in shares:
        reference = _record(panels, share)
        images, truth = unpack_uint8(reference["images"]), unpack_uint8(reference["truth"])
        for k, name in enumerate(reference["names"]):
            axes[row][0].imshow(images[k], cmap="gray", vmin=0, vmax=255)
            axes[row][0].set_title(f"real {share} %: {name}", fontsize=6)
            _draw(axes[row][1], images[k], truth[k], colours, "ground truth")
            for c, arm in enumerate(arms):
                record = panels.get((share, arm))
                if record is None:
                    axes[row][2 + c].axis("off")
                    continue
                dice = record["dice"][k]
                title = f"{arm}: Dice {dice:.2f}" if dice is not None else f"{arm}: no truth"
                _draw(axes[row][2 + c], images[k], unpack_uint8(record["prediction"])[k],
                      colours, title)  # fmt: skip
            for ax in axes[row]:
                ax.set_xticks([])
                ax.set_yticks([])
            row += 1
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[k], alpha=0.8, label=classes[k])
               for k in range(1, len(classes))]  # fmt: skip
    fig.legend(handles=handles, loc="lower center", ncols=min(len(handles), 4), fontsize=7)
    fig.suptitle(f"{run_id}: segmentation_gain test predictions (fold 0)", fontsize=9)
    fig.tight_layout(rect=(0, 0.45 / height, 1, 1 - 0.3 / height))
    paths = _save(fig, out, f"{run_id}_segmentation_gain_examples")
    plt.close(fig)
    return paths


def _record(panels: dict[tuple[int, str], dict], share: int) -> dict:
    """The ``real`` arm's record of ``share`` (any arm's if ``real`` is absent)."""
    return panels.get((share, "real")) or next(v for (s, _), v in panels.items() if s == share)


def _draw(ax, image: np.ndarray, labels: np.ndarray, colours: np.ndarray, title: str) -> None:
    ax.imshow(image, cmap="gray", vmin=0, vmax=255)
    ax.imshow(overlay(labels, colours), interpolation="nearest")
    ax.set_title(title, fontsize=6)
