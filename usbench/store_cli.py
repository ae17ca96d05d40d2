"""``usbench store``: look after the results database (``rebuild`` it from the run folders)."""

from __future__ import annotations

from pathlib import Path

import click

from usbench import paths


@click.group()
def store() -> None:
    """Look after the results database of a store.

    \b
    Examples:
      usbench store rebuild
      usbench store rebuild --store /data/usbench-results
    """


@store.command()
@click.option(
    "--store",
    "store_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=paths.store_dir,
    show_default=f"$USBENCH_STORE or ./{paths.DEFAULT_STORE}",
    help="Folder of the results database and run folders.",
)
def rebuild(store_dir: Path) -> None:
    """Re-create results.sqlite from the complete run folders (each holds its own rows).

    The old database file, damaged or not, is kept beside it as
    results.sqlite.damaged-<time>; run folders are never changed.

    \b
    Examples:
      usbench store rebuild
      usbench store rebuild --store /data/usbench-results
    """
    from usbench.store_rebuild import describe, rebuild_store

    for line in describe(rebuild_store(store_dir)):
        click.echo(line)
