"""``usbench data info DATASET``: what a dataset holds, per class, before anything is run.

Every dataset gets one row per class: images, patients and probes. A dataset source may
also describe where its images come from through an optional method
``source_summary(root) -> (per-class DataFrame, exclusions DataFrame)``; ``lus`` uses it for
videos and still images per class and for the upstream files its selection excluded.
"""

from __future__ import annotations

from pathlib import Path

import click
import pandas as pd

from usbench.data.imageset import ImageSet
from usbench.plugins import resolve


@click.group("data")
def data() -> None:
    """Inspect datasets (classes, patients, probes, sources).

    \b
    Examples:
      usbench data info lus-phantom
      usbench data info lus-mini --data-root ../shared/data/pocus-lus
      usbench data info lus --data-root covid19_ultrasound
    """


@data.command("info")
@click.argument("dataset")
@click.option("--data-root", type=click.Path(path_type=Path), help="Local copy of the data.")
@click.option("--image-size", type=int, default=32, show_default=True, help="Load size.")
def info(dataset: str, data_root: Path | None, image_size: int) -> None:
    """Images, patients and probes per class of DATASET (a dataset selector).

    \b
    Examples:
      usbench data info lus-phantom:n_per_class=8
      usbench data info lus --data-root covid19_ultrasound
    """
    source = resolve("datasets", dataset, positional=True).build()
    loaded = source.load(image_size=image_size, root=data_root)
    table = class_table(loaded)
    summary = getattr(source, "source_summary", None)
    exclusions = None
    if summary is not None:
        per_class, exclusions = summary(data_root)
        table = (
            per_class.join(table, how="right").fillna(0).astype({c: int for c in per_class.columns})
        )
    click.echo(f"{loaded.name}: {len(loaded)} images, {len(set(loaded.patient_ids))} patients")
    click.echo(table.to_string())
    if exclusions is not None and len(exclusions):
        click.echo("\nexcluded upstream files:")
        click.echo(exclusions.to_string())


def class_table(data: ImageSet) -> pd.DataFrame:
    """Per class: ``images``, ``patients`` and the images per probe (``probe:<name>``)."""
    frame = pd.DataFrame(
        {
            "class": [data.class_names[int(i)] for i in data.labels],
            "patient": data.patient_ids,
            "probe": [p or "unknown" for p in data.probes],
        }
    )
    grouped = frame.groupby("class")
    table = pd.DataFrame({"images": grouped.size(), "patients": grouped["patient"].nunique()})
    probes = pd.crosstab(frame["class"], frame["probe"]).add_prefix("probe:")
    return table.join(probes)
