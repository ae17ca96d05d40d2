"""The run folder: everything a run produced, assembled under a temporary name and renamed
into place when complete, so a crash never leaves a folder that looks finished.

A full disk (``ENOSPC``) while writing it becomes :class:`usbench.fileio.DiskFull`, naming
the folder and the space needed; the partial folder is removed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from safetensors.torch import save_file

from usbench.fileio import atomic_write_text, disk_full_error, folder_bytes, is_disk_full
from usbench.images import save_png_grid, save_pngs
from usbench.protocols import Generator
from usbench.samples import SampleBatch
from usbench.scoring import draw_metric_figures
from usbench.store import ResultStore, RunRow, ScoreRow
from usbench.store_rebuild import RECORD_NAME, run_record


def write_run_folder(
    store: ResultStore,
    row: RunRow,
    samples: SampleBatch,
    scores: list[ScoreRow],
    metric_outcomes: tuple,
    generator: Generator | None = None,
) -> Path:
    """Assemble the run folder under a temporary name, then rename it into place.

    ``metric_outcomes`` is what :func:`usbench.scoring.score_metrics` returned; the
    generator is saved under ``generator/`` when there is one (external samples have none).
    """
    final = Path(row.run_dir)
    tmp = final.with_name(f".partial-{final.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        if generator is not None:
            generator.save(tmp / "generator")
        save_pngs(samples.images, tmp / "samples")
        save_file({"images": samples.images.contiguous()}, str(tmp / "samples.safetensors"))
        save_png_grid(samples.images, tmp / "samples_grid.png")
        draw_metric_figures(*metric_outcomes, tmp / "figures")
        meta = {
            "labels": None if samples.labels is None else samples.labels.tolist(),
            "sources": None if samples.sources is None else list(samples.sources),
            "pairing": samples.pairing,
        }
        atomic_write_text(tmp / "samples.json", json.dumps(meta, indent=2))
        atomic_write_text(tmp / "config.json", json.dumps(row.config, indent=2))
        atomic_write_text(tmp / "provenance.json", json.dumps(row.provenance, indent=2))
        summary = [{k: v for k, v in vars(s).items() if k != "per_sample"} for s in scores]
        atomic_write_text(tmp / "scores.json", json.dumps(summary, indent=2, default=str))
        atomic_write_text(tmp / RECORD_NAME, run_record(row, scores))
        tmp.rename(final)
    except BaseException as err:
        written = folder_bytes(tmp)
        shutil.rmtree(tmp, ignore_errors=True)
        if is_disk_full(err):
            needed = written + 5 * samples.images.numel()  # + float32 tensor + 8-bit PNGs
            raise disk_full_error(final.parent, needed, f"the run folder {final.name}") from err
        raise
    return final
