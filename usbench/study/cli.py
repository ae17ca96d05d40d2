"""``usbench study``: create, serve, add readers to, export and score a reader study."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import click

from usbench.cli import store_option
from usbench.config import parse_assignments


@click.group()
def study() -> None:
    """Blinded reader study: can clinicians tell generated images from real ones?

    \b
    Examples:
      usbench study create --runs generator=ddpm --per-run 20 --name lus-vtt
      usbench study add-reader lus-vtt --reader dr-a
      usbench study serve lus-vtt                      # http://127.0.0.1:8765
      usbench study export lus-vtt --out answers.csv
      usbench study score lus-vtt                      # or: usbench report
    """


@study.command()
@click.option("--name", required=True, help="Name of the study (letters, digits, . _ -).")
@click.option(
    "--runs",
    "run_filter",
    multiple=True,
    metavar="KEY=VALUE",
    help="Choose runs by run_id=, dataset=, generator= or preset=; repeatable (all must "
    "match). Default: every stored run.",
)
@click.option("--per-run", type=int, default=10, show_default=True, help="Samples per run.")
@click.option("--real", "n_real", type=int, help="Real test images (default: as many as samples).")
@click.option(
    "--real-folder",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Take the real images from this folder instead of the runs' held-out test split.",
)
@click.option(
    "--mode",
    type=click.Choice(["single", "2afc"]),
    default="single",
    show_default=True,
    help="single: one image at a time, real or synthetic?  2afc: a real and a generated "
    "image side by side, which one is synthetic?",
)
@click.option("--seed", type=int, help="Seed of the draws and shuffle (default: random).")
@store_option
def create(name, run_filter, per_run, n_real, real_folder, mode, seed, store_dir) -> None:
    """Draw a balanced, shuffled, blinded set of real and generated images.

    \b
    Examples:
      usbench study create --name lus-vtt --runs dataset=lus --per-run 20
      usbench study create --name pilot --runs run_id=20260101T000000-ddpm-1a2b3c4d \\
          --per-run 10 --real 10 --real-folder ~/data/held-out
      usbench study create --name lus-2afc --runs generator=sinddm --per-run 30 --mode 2afc
    """
    from usbench.store import ResultStore
    from usbench.study.blinding import StudyRequest, create_study

    request = StudyRequest(
        name=name,
        run_filter=parse_assignments(run_filter),
        per_run=per_run,
        n_real=n_real,
        seed=seed,
        real_folder=real_folder,
        mode=mode,
    )
    created = create_study(ResultStore(store_dir), request)
    click.echo(
        f"study {name} ({mode}): {created.n_real} real + {created.n_generated} generated images in "
        f"{created.paths.folder}\nkey (keep it from readers): {created.paths.key}\n"
        f"admin page: /admin/{created.admin_token}  (shown once; keep it)\n"
        f"next: usbench study add-reader {name} --reader NAME"
    )


@study.command("add-reader")
@click.argument("name")
@click.option("--reader", required=True, help="Reader's name or pseudonym (unique).")
@click.option("--images", "n_images", type=int, help="Give this reader a random subset.")
@click.option("--base-url", default="http://127.0.0.1:8765", show_default=True)
@store_option
def add_reader(name, reader, n_images, base_url, store_dir) -> None:
    """Register a reader and print their personal link (shown once: only its hash is kept).

    \b
    Examples:
      usbench study add-reader lus-vtt --reader dr-a
      usbench study add-reader lus-vtt --reader dr-b --base-url http://10.0.0.5:8765
    """
    from usbench.study.database import StudyDatabase
    from usbench.study.tokens import new_token

    paths = _existing(store_dir, name)
    token = new_token()
    added = StudyDatabase(paths.database).add_reader(reader, token, n_images, seed=None)
    click.echo(f"{added.name}: {len(added.image_ids)} images\n{base_url.rstrip('/')}/r/{token}")


@study.command()
@click.argument("name")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=8765, show_default=True)
@store_option
def serve(name, host, port, store_dir) -> None:
    """Serve the study to its readers (Ctrl-C stops; answers are already saved).

    Listens on the loopback address unless --host says otherwise; on a shared network put
    it behind HTTPS (the links carry the readers' tokens).

    \b
    Examples:
      usbench study serve lus-vtt
      usbench study serve lus-vtt --host 0.0.0.0 --port 8080   # a hospital intranet
    """
    import uvicorn

    from usbench.study.webapp import build_app

    app = build_app(_existing(store_dir, name))
    if not _loopback(host):
        click.echo(f"warning: serving on {host}: anyone who can reach it may try tokens", err=True)
    click.echo(f"serving study {name} at http://{host}:{port}/r/<reader token>  (Ctrl-C stops)")
    uvicorn.run(app, host=host, port=port, log_level="warning")


@study.command()
@click.argument("name")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="CSV file (default: stdout)."
)
@store_option
def export(name, out, store_dir) -> None:
    """Write every answer with its truth, generator, run and source image as CSV.

    \b
    Examples:
      usbench study export lus-vtt --out answers.csv
    """
    from usbench.fileio import atomic_write_text
    from usbench.study.report_tables import export_csv

    _existing(store_dir, name)
    text = export_csv(store_dir, name)
    if out is None:
        click.echo(text, nl=False)
    else:
        atomic_write_text(out, text)
        click.echo(str(out))


@study.command()
@click.argument("name")
@store_option
def score(name, store_dir) -> None:
    """Print the study's reader table (the same as in `usbench report`).

    \b
    Examples:
      usbench study score lus-vtt
    """
    from usbench.study.report_tables import study_frame, to_markdown
    from usbench.study.statistics import score_answers

    _existing(store_dir, name)
    click.echo(to_markdown(score_answers(name, study_frame(store_dir, name))))


def _existing(store_dir: Path, name: str):
    from usbench.study.blinding import StudyPaths

    paths = StudyPaths.of(store_dir, name)
    if not paths.database.exists():
        raise FileNotFoundError(
            f"no study {name!r} in {store_dir}; create it with `usbench study create`"
        )
    return paths


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
