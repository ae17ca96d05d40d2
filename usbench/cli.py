"""The ``usbench`` command line: a thin layer over :mod:`usbench.harness` and friends."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import click

from usbench import paths
from usbench.config import ConfigError, parse_assignments
from usbench.errors import UsbenchError
from usbench.protocols import MetricUnavailable
from usbench.registry import KINDS, PluginLoadError, UnknownPluginError

DEFAULT_STORE = paths.DEFAULT_STORE


def store_option(func):
    return click.option(
        "--store",
        "store_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=paths.store_dir,
        show_default=f"$USBENCH_STORE or ./{DEFAULT_STORE}",
        help="Folder of the results database and run folders.",
    )(func)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="usbench")
@click.option("--debug", is_flag=True, help="Show the full traceback of an error.")
def main(debug: bool) -> None:
    """usbench: train, sample and score ultrasound image generators; build leaderboards.

    \b
    Examples:
      usbench list generators
      usbench run --generator ddpm --dataset lus-phantom --preset quick
      usbench run --generator sinddm --dataset lus --preset quick --seed 1
      usbench report --format latex          # into usbench-results/leaderboards/
      usbench sweep leaderboards/sweep.toml --executor slurm
      usbench --debug run -g ddpm -d lus     # an error with its full traceback
    """
    if debug:
        os.environ[paths.DEBUG_ENV] = "1"


@main.command()
@click.option(
    "--generator",
    "-g",
    required=True,
    help="Generator selector: NAME or NAME:key=value,... (e.g. sinddm:preset=paper).",
)
@click.option(
    "--dataset",
    "-d",
    required=True,
    help="Dataset selector: NAME, NAME:key=value,... or folder:PATH.",
)
@click.option(
    "--preset",
    "-p",
    default="quick",
    show_default=True,
    help="Config preset: paper (GPU), quick (CPU minutes), smoke (seconds).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override one generator setting; repeatable (e.g. --set train.steps=500).",
)
@click.option(
    "--data-root",
    type=click.Path(path_type=Path),
    help="Local copy of the dataset (for datasets that are not embedded).",
)
@click.option(
    "--data-option",
    "data_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Dataset option; repeatable (e.g. --data-option n_per_class=16).",
)
@click.option(
    "--image-size", type=int, help="Load images at this side length (default: the generator's)."
)
@click.option(
    "--n-samples",
    type=int,
    help="Images to generate (default: size of the real test split, at least 16).",
)
@click.option(
    "--metrics",
    help="Metric selectors and @suites, comma-separated (e.g. fid:layer=pool2,kid or "
    "@seed002; default @all: every metric and variant). See `usbench list metrics`.",
)
@click.option(
    "--tasks", default="", help="Downstream task selectors, comma-separated (e.g. classifier_gain)."
)
@click.option(
    "--task-preset",
    default="quick",
    show_default=True,
    help="Preset of the tasks' config: paper, quick or smoke (see the task's docs).",
)
@click.option(
    "--task-set",
    "task_overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override one task setting; repeatable (e.g. --task-set pretrained=false).",
)
@click.option("--resume", is_flag=True, help="Continue a killed run from its newest checkpoint.")
@click.option(
    "--restart", is_flag=True, help="Delete this run's checkpoints and train from step 0."
)
@click.option(
    "--load",
    "load_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Sample from a saved generator folder instead of training.",
)
@click.option("--no-progress", is_flag=True, help="Hide progress bars.")
@store_option
def run(
    generator,
    dataset,
    preset,
    seed,
    overrides,
    data_root,
    data_options,
    image_size,
    n_samples,
    metrics,
    tasks,
    task_preset,
    task_overrides,
    resume,
    restart,
    load_dir,
    no_progress,
    store_dir,
) -> None:
    """Train (or load) a generator, sample, score every metric and store the run.

    \b
    Examples:
      usbench run --generator ddpm --dataset lus-phantom
      usbench run -g ddpm -d lus-phantom --preset smoke --set train.steps=20
      usbench run -g ddpm -d lus-phantom:n_per_class=8 --preset smoke \\
          --metrics fid:layer=pool2,lpips:net=vgg,mode=paired
      usbench run -g awdiff -d lus-mini --data-root ~/data/pocus-lus --metrics @seed000
      usbench run -g ddpm -d folder:/data/my_us_images --image-size 64 --metrics ssim,psnr
      usbench run -g ddpm -d lus --tasks classifier_gain --task-preset quick \\
          --task-set minority_class=pneumonia
      usbench run -g ddpm -d lus-phantom --resume      # continue (or reuse) its checkpoint

    A run already stored with the same settings is shown, not run again.
    """
    from usbench.harness import RunRequest, execute
    from usbench.store import ResultStore

    request = RunRequest(
        generator=generator,
        dataset=dataset,
        preset=preset,
        overrides=parse_assignments(overrides),
        seed=seed,
        data_root=data_root,
        data_options=parse_assignments(data_options),
        image_size=image_size,
        n_samples=n_samples,
        metrics=metrics,
        tasks=tasks,
        task_preset=task_preset,
        task_overrides=parse_assignments(task_overrides),
        resume=resume,
        load=load_dir,
        progress=not no_progress,
        restart=restart,
    )
    result = execute(request, ResultStore(store_dir))
    if result is None:
        return
    stored = "already stored, not run again" if result.reused else "stored"
    click.echo(f"run {result.run_id} ({stored}): {len(result.samples)} samples in {result.run_dir}")
    from usbench.run_summary import summary_lines

    for line in summary_lines(result.scores, result.run_dir, score_line):
        click.echo(line)


def score_line(score) -> str:
    arrow = "↑" if score.higher_is_better else "↓"
    name = f"{score.name}{'[' + score.group + ']' if score.group else ''} {arrow}"
    if score.status == "ok":
        spread = score.spread
        if spread is not None and math.isfinite(spread) and spread > 0:
            return f"{name:<28} {score.value:.4g} ± {spread:.3g}  (n={score.n})"
        # a set statistic (FID, KID...) of one run has no spread: its interval, never "± 0"
        if score.ci_low is not None and score.ci_high is not None:
            interval = f" [{score.ci_low:.4g}, {score.ci_high:.4g}]"
            return f"{name:<28} {score.value:.4g}{interval}  (n={score.n})"
        return f"{name:<28} {score.value:.4g}  (n={score.n})"
    return f"{name:<28} {score.status.upper()}: {score.message.splitlines()[0]}"


@main.command()
@click.option(
    "--format",
    "formats",
    type=click.Choice(["latex", "markdown", "csv", "all", "html"]),
    multiple=True,
    default=("all",),
    show_default=True,
    help="Repeatable. html: a static site (OUT/index.html) of every run; all = the others.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    show_default="STORE/leaderboards",
    help="Folder of the tables and figures (default: inside the store).",
)
@click.option(
    "--filter",
    "filters",
    multiple=True,
    metavar="KEY=VALUE",
    help="Keep runs with dataset=, generator= or preset=; repeatable.",
)
@click.option(
    "--metrics",
    default="@default",
    show_default=True,
    help="Leaderboard columns: metric selectors and @suites (@all: every stored metric). "
    "The CSV always holds every stored metric.",
)
@click.option("--no-figures", is_flag=True, help="Skip the figures.")
@click.option(
    "--layout",
    type=click.Choice(["generic", "seed000", "seed002", "seed003", "seed004"]),
    default="generic",
    show_default=True,
    help="Also write tables in a seed paper's layout (tables_<layout>.tex/.md).",
)
@click.option(
    "--with-published",
    is_flag=True,
    help="Add the papers' published numbers (shipped with usbench) below ours.",
)
@store_option
def report(formats, out, filters, metrics, no_figures, layout, with_published, store_dir) -> None:
    """Write leaderboards (LaTeX, Markdown, CSV, or a static HTML site) and figures from
    every stored run.

    \b
    Examples:
      usbench report --format latex --out leaderboards/
      usbench report --filter dataset=lus-phantom --format markdown
      usbench report --layout seed003 --with-published --format latex
      usbench report --metrics @seed002 --format markdown
      usbench report --format html --out site/     # then open site/index.html
    """
    from usbench.report import FORMATS, write_report
    from usbench.store import ResultStore

    chosen = FORMATS if "all" in formats else tuple(f for f in formats if f != "html")
    paths = []
    if chosen:
        paths = write_report(
            ResultStore(store_dir),
            out or Path(store_dir) / "leaderboards",
            chosen,
            parse_assignments(filters),
            figures=not no_figures,
            layout=layout,
            with_published=with_published,
            metrics=metrics,
        )
    if "html" in formats:
        from usbench.site import write_site

        paths += write_site(
            ResultStore(store_dir),
            out or Path(store_dir) / "leaderboards" / "site",
            parse_assignments(filters),
        )
    for path in paths:
        click.echo(str(path))


@main.command("list")
@click.argument("kind", type=click.Choice(KINDS))
@click.argument("name", required=False)
def list_plugins(kind: str, name: str | None) -> None:
    """List registered plugins of KIND (built-in and third-party), their aliases and, for
    metrics, the named suites; with NAME, that plugin's settings and presets.

    \b
    Examples:
      usbench list generators
      usbench list metrics
      usbench list metrics fid
    """
    from usbench.listing import describe_plugin, list_kind

    for line in describe_plugin(kind, name) if name else list_kind(kind):
        click.echo(line)


def _attach_optional_groups() -> None:
    from usbench.score_cli import score

    main.add_command(score)
    from usbench.sweep.cli import sweep

    main.add_command(sweep)
    from usbench.data_cli import data

    main.add_command(data)

    from usbench.study.cli import study

    main.add_command(study)

    from usbench.store_cli import store

    main.add_command(store)
    try:
        from usbench.weights_cli import weights
    except ImportError:
        return
    main.add_command(weights)


_attach_optional_groups()

_USER_ERRORS = (
    ConfigError,
    UnknownPluginError,
    PluginLoadError,
    FileNotFoundError,
    LookupError,
    ValueError,
    MetricUnavailable,  # e.g. a generator's pretrained weights are missing: says the fix
    UsbenchError,  # data unavailable, disk full, damaged store...: the message says the fix
)


def entry() -> None:
    """Console entry point: an error prints one clear line instead of a traceback
    (``usbench --debug ...`` or ``USBENCH_DEBUG=1`` shows it)."""
    try:
        main(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except _USER_ERRORS as err:
        if paths.debug():
            raise
        click.echo(f"usbench: error: {err}", err=True)
        sys.exit(2)
    except Exception as err:  # a bug: say so in one line, the traceback is one flag away
        if paths.debug():
            raise
        click.echo(
            f"usbench: internal error: {type(err).__name__}: {err}\n"
            "Run the same command with `usbench --debug ...` for the traceback, and please "
            "report it.",
            err=True,
        )
        sys.exit(1)
