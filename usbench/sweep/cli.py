"""``usbench sweep``: run, follow and ingest a grid of runs (see :mod:`usbench.sweep`)."""

from __future__ import annotations

from pathlib import Path

import click

from usbench.cli import store_option
from usbench.config import ConfigError, parse_assignments

_EXAMPLES = """
\b
Examples:
  usbench sweep leaderboards/sweep.toml --data-root lus-mini=~/data/pocus-lus
  usbench sweep spec.toml --executor local --max-parallel 2
  usbench sweep spec.toml --executor slurm --slurm-partition gpu --slurm-gres gpu:1 \\
      --time-min 720 --mem-gb 32 --cpus 8 --slurm-option qos=long
  usbench sweep run -g ddpm -g sinddm -d lus-phantom --preset smoke --seed 0 --seed 1 \\
      --name smoke-check
  usbench sweep status spec.toml
  usbench sweep ingest spec.toml
"""


_HELP = """Run a grid of usbench runs (generators x datasets x presets x seeds x --set values)
on local worker processes or a SLURM cluster (submitit), follow it, and ingest the
finished runs into the store. Re-running the same sweep submits only what is missing or
failed; a killed unit resumes from its checkpoint. Planned generator fits (a task's fold x
share fits; one per source image of a single-image generator, for its tasks and for the
run's own fit) run as jobs of their own before their run (--no-split-fits: inside it);
`sweep status` lists them under their unit.
"""


class _SpecFirstGroup(click.Group):
    """``usbench sweep SPEC.toml ...`` is short for ``usbench sweep run SPEC.toml ...``."""

    def resolve_command(self, ctx, args):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["run", *args]
        return super().resolve_command(ctx, args)


def _spec_options(func):
    options = [
        click.argument("spec_path", required=False, type=click.Path(path_type=Path)),
        click.option("--name", help="Sweep name when the grid is given by flags."),
        click.option("-g", "--generator", "generators", multiple=True, help="Repeatable."),
        click.option("-d", "--dataset", "datasets", multiple=True, help="Repeatable."),
        click.option("--preset", "presets", multiple=True, help="Repeatable (default quick)."),
        click.option("--seed", "seeds", type=int, multiple=True, help="Repeatable (default 0)."),
        click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE"),
        click.option("--metrics", help="Metric selectors (default @all)."),
        click.option("--tasks", default="", help="Task selectors, e.g. classifier_gain."),
        click.option(
            "--task-preset", default="quick", show_default=True, help="Preset of every task."
        ),
        click.option(
            "--task-set",
            "task_overrides",
            multiple=True,
            metavar="KEY=VALUE",
            help="A task setting (fixed across the grid); repeatable.",
        ),  # fmt: skip
        click.option(
            "--data-root",
            "data_roots",
            multiple=True,
            metavar="DATASET=PATH",
            help="Local copy of a dataset; repeatable (e.g. lus-mini=~/data/pocus-lus).",
        ),
        store_option,
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _load(spec_path, name, generators, datasets, presets, seeds, overrides, metrics, tasks,
          task_preset, task_overrides, data_roots, store_dir):  # fmt: skip
    from usbench.sweep.driver import Sweep
    from usbench.sweep.spec import SweepSpec, load_spec

    roots = {
        k: str(Path(v).expanduser().resolve()) for k, v in parse_assignments(data_roots).items()
    }
    if spec_path is not None:
        spec = load_spec(spec_path)
        spec = _with(spec, data_roots={**spec.data_roots, **roots})
    else:
        if not (name and generators and datasets):
            raise ConfigError(
                "give a sweep spec (usbench sweep SPEC.toml) or --name, -g and -d flags"
            )
        spec = SweepSpec(
            name=name,
            generators=generators,
            datasets=datasets,
            presets=presets or ("quick",),
            seeds=seeds or (0,),
            set=parse_assignments(overrides),
            metrics=metrics,
            tasks=tasks,
            task_preset=task_preset,
            task_set=parse_assignments(task_overrides),
            data_roots=roots,
        )
    return Sweep(spec, store_dir)


def _with(obj, /, **changes):
    import dataclasses

    return dataclasses.replace(obj, **changes)


@click.group("sweep", cls=_SpecFirstGroup, help=_HELP + _EXAMPLES)
def sweep() -> None:
    pass


@sweep.command("run", help="Submit every missing or failed unit, wait, ingest." + _EXAMPLES)
@_spec_options
@click.option("--executor", type=click.Choice(["local", "slurm"]), default="local",
              show_default=True)  # fmt: skip
@click.option("--max-parallel", type=int, default=2, show_default=True, help="Jobs at once.")
@click.option("--cpus", type=int, default=1, show_default=True, help="CPUs (threads) per job.")
@click.option("--mem-gb", type=float, default=4.0, show_default=True, help="Memory per job.")
@click.option("--time-min", type=int, default=240, show_default=True, help="Time limit per job.")
@click.option("--slurm-partition")
@click.option("--slurm-gres", help="e.g. gpu:1")
@click.option("--slurm-account")
@click.option("--slurm-option", "slurm_options", multiple=True, metavar="KEY=VALUE",
              help="Extra #SBATCH option; repeatable (e.g. qos=long).")  # fmt: skip
@click.option("--no-split-fits", "--no-split-tasks", "no_split_fits", is_flag=True,
              help="Fit every generator (the run's, its tasks') inside each run job instead "
              "of as jobs of their own (same as split_fits = false in the spec).")  # fmt: skip
@click.option("--no-wait", is_flag=True, help="Submit and return (SLURM); ingest later.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
@click.option("--poll-seconds", type=float, default=5.0, show_default=True,
              help="Seconds between looks at the jobs while waiting.")  # fmt: skip
def run(executor, max_parallel, cpus, mem_gb, time_min, slurm_partition, slurm_gres,
        slurm_account, slurm_options, no_split_fits, no_wait, no_progress, poll_seconds,
        **spec_args) -> None:  # fmt: skip
    from usbench.sweep.driver import run_sweep
    from usbench.sweep.executors import ExecutorSettings

    target = _load(**spec_args)
    if no_split_fits:
        target = _with(target, spec=_with(target.spec, split_fits=False))
    settings = ExecutorSettings(
        kind=executor,
        max_parallel=max_parallel,
        cpus=cpus,
        mem_gb=mem_gb,
        time_min=time_min,
        partition=slurm_partition,
        gres=slurm_gres,
        account=slurm_account,
        sbatch=parse_assignments(slurm_options),
    )
    statuses = run_sweep(
        target,
        settings,
        wait=not no_wait,
        poll_s=poll_seconds,
        progress=not no_progress,
        on_submit=lambda ids: click.echo(f"submitted {len(ids)} job(s): {', '.join(ids)}"),
    )
    _echo_table(statuses)


@sweep.command("status", help="A table of every unit: missing/pending/running/done/failed.")
@_spec_options
@click.option(
    "--wait", is_flag=True, help="Show a progress bar until no unit is pending or running."
)
def status(wait, **spec_args) -> None:
    from usbench.sweep.driver import follow

    target = _load(**spec_args)
    _echo_table(follow(target) if wait else target.status())


@sweep.command("ingest", help="Move finished runs into the store (the single writer).")
@_spec_options
def ingest(**spec_args) -> None:
    added = _load(**spec_args).ingest()
    click.echo(f"ingested {len(added)} run(s)" + "".join(f"\n  {r}" for r in added))


def _echo_table(statuses) -> None:
    from usbench.sweep.status import counts

    labels = [s.unit.label for s in statuses]
    labels += [f"  fit {f.fit.label}" for s in statuses for f in s.fits]
    width = max([len(label) for label in labels] + [4])
    click.echo(f"{'unit':<{width}}  {'state':<8} {'job':<10} run / message")
    for s in statuses:
        click.echo(f"{s.unit.label:<{width}}  {s.state:<8} {s.job_id or '-':<10} "
                   f"{s.run_id or s.message}")  # fmt: skip
        for f in s.fits:
            name = f"  fit {f.fit.label}"
            click.echo(f"{name:<{width}}  {f.state:<8} {f.job_id or '-':<10} {f.message}")
    summary = ", ".join(f"{n} {state}" for state, n in counts(statuses).items() if n)
    click.echo(summary)
