"""``usbench score``: score generated images from anywhere (two folders), or store a folder
of samples as a run beside trained generators (``--samples``)."""

from __future__ import annotations

from pathlib import Path

import click

from usbench.cli import score_line, store_option
from usbench.config import parse_assignments
from usbench.input_notes import notes_to


@click.command()
@click.argument("real", required=False, type=click.Path(path_type=Path))
@click.argument("fake", required=False, type=click.Path(path_type=Path))
@click.option(
    "--metrics",
    help="Metric selectors and @suites, comma-separated (default: fid,kid for two folders, "
    "@all with --samples).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--image-size",
    type=int,
    help="Load both folders at this side (default: the first real image's shorter side).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON.")
@click.option(
    "--save-stats",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Save REAL's FID statistics (pytorch-fid's .npz: mu, sigma of pool3 features) to "
    "this file; give it in place of REAL later to score without the images.",
)
@click.option(
    "--samples",
    type=click.Path(path_type=Path),
    help="Store these samples as a run: a folder of images (optional manifest.csv with "
    "file,label,source), a .safetensors file (images N×1×H×W, optional labels) or a "
    "usbench run folder; needs --dataset and --name.",
)
@click.option("--dataset", "-d", help="With --samples: the dataset selector trained on.")
@click.option("--data-root", type=click.Path(path_type=Path), help="With --samples.")
@click.option(
    "--data-option", "data_options", multiple=True, metavar="KEY=VALUE", help="With --samples."
)
@click.option("--name", help="With --samples: the generator's name (stored as external:NAME).")
@click.option("--description", default="", help="With --samples: what made the samples.")
@store_option
def score(
    real,
    fake,
    metrics,
    seed,
    image_size,
    as_json,
    save_stats,
    samples,
    dataset,
    data_root,
    data_options,
    name,
    description,
    store_dir,
) -> None:
    """Score generated images against real ones (REAL FAKE; REAL may be a .npz of saved
    FID statistics), or store generated samples as a run beside trained generators
    (--samples).

    \b
    Examples:
      usbench score data/real my_samples --metrics fid,kid
      usbench score data/real my_samples --image-size 256 --json
      usbench score data/real --save-stats real_stats.npz
      usbench score real_stats.npz my_samples --metrics fid
      usbench score --samples my_samples --dataset lus-mini --data-root ~/data/pocus-lus \\
          --name my-gan --description "StyleGAN2, 10k steps" --metrics @default
      usbench score --samples usbench-results/runs/RUN_ID --dataset lus-mini \\
          --data-root ~/data/pocus-lus --name rescored --metrics fid,kid
    """
    if samples is not None:
        if real is not None or fake is not None:
            raise click.UsageError("give either REAL FAKE or --samples, not both")
        if not dataset or not name:
            raise click.UsageError("--samples needs --dataset and --name")
        from usbench.external_runs import ExternalRequest

        request = ExternalRequest(
            samples=samples,
            dataset=dataset,
            name=name,
            description=description,
            data_root=data_root,
            data_options=parse_assignments(data_options),
            metrics=metrics or "@all",
            seed=seed,
        )
        _score_external(request, store_dir)
        return
    if save_stats is not None:
        if real is None:
            raise click.UsageError("--save-stats needs REAL, the folder of real images")
        _save_stats(real, save_stats, image_size, quiet_stdout=as_json)
        if fake is None:
            return
    if real is None or fake is None:
        raise click.UsageError("give two folders, REAL FAKE (or --samples DIR --dataset ...)")
    from usbench.quick_score import score as score_images

    with notes_to(_note):
        table = score_images(
            real, fake, metrics=metrics or "fid,kid", seed=seed, image_size=image_size
        )
    if as_json:
        click.echo(table.to_json(orient="records", indent=2))
        return
    for line in _score_table_lines(table):
        click.echo(line)


def _note(line: str) -> None:
    click.echo(line, err=True)


def _save_stats(real: Path, path: Path, image_size: int | None, quiet_stdout: bool) -> None:
    from usbench.quick_score import save_stats
    from usbench.reference_stats import load_statistics

    with notes_to(_note):
        saved = save_stats(real, path, image_size=image_size)
    stats = load_statistics(saved)
    message = f"saved FID statistics of {stats.n} images ({stats.mu.shape[0]}-d) to {path}"
    click.echo(message, err=quiet_stdout)  # stdout stays pure JSON with --json


def _score_external(request, store_dir: Path) -> None:
    from usbench.external_runs import score_external
    from usbench.store import ResultStore

    with notes_to(_note):
        result = score_external(request, ResultStore(store_dir))
    click.echo(f"run {result.run_id}: {len(result.samples)} samples in {result.run_dir}")
    for row in result.scores:
        click.echo("  " + score_line(row))


def _missing(value) -> bool:
    return value is None or value != value  # None or NaN


def _score_table_lines(table) -> list[str]:
    lines = [f"{'metric':<24} {'value ± spread':<22} {'95 % CI':<24} N"]
    for row in table.itertuples():
        if row.status != "ok":
            reason = str(row.message).splitlines()[0] if row.message else ""
            lines.append(f"{row.metric:<24} {row.status.upper()}: {reason}")
            continue
        ci = "" if _missing(row.ci_low) else f"[{row.ci_low:.4g}, {row.ci_high:.4g}]"
        lines.append(
            f"{row.metric:<24} {f'{row.value:.4g} ± {row.spread:.3g}':<22} {ci:<24} {row.n}"
        )
    return lines
