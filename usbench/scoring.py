"""Scoring samples: every requested metric on one sample set, each failure a row that says so.

:func:`score_metrics` is what ``usbench run`` calls after sampling; it knows nothing of
training, so it scores samples from anywhere (``bench/rescore_runs.py`` re-scores stored
runs with it). A score's name is the metric's canonical selector (``fid:layer=pool2``).
"""

from __future__ import annotations

import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from usbench.data.imageset import ImageSet
from usbench.plugins import PluginSpec
from usbench.protocols import EvalInputs, Metric, MetricResult, MetricUnavailable
from usbench.registry import PluginLoadError
from usbench.samples import SampleBatch
from usbench.selectors import file_stem
from usbench.store import ScoreRow


@dataclass
class MetricOutcome:
    """A metric's stored row plus, when it succeeded, the metric and its full result."""

    row: ScoreRow
    metric: Metric | None = None
    result: MetricResult | None = None


def score_metrics(
    specs: list[PluginSpec],
    samples: SampleBatch,
    train_set: ImageSet,
    test_set: ImageSet | None,
    seed: int,
    *,
    progress: bool = False,
) -> tuple[EvalInputs, list[MetricOutcome]]:
    """Every metric of ``specs``; unavailable and failing metrics become rows that say so.

    A score's name is the metric's canonical selector (``fid:layer=pool2``). An
    unavailable row for missing weights names them in ``details["missing_weights"]``.
    ``progress`` shows a bar over the metrics.
    """
    inputs = EvalInputs(generated=samples, train=train_set, heldout=test_set, seed=seed)
    outcomes = []
    with tqdm(total=len(specs), desc="score", disable=not progress, dynamic_ncols=True) as bar:
        for spec in specs:
            bar.set_postfix_str(spec.selector)
            outcomes.append(score_one(spec, lambda metric: metric.compute(inputs)))
            bar.update(1)
    return inputs, outcomes


def score_one(
    spec: PluginSpec,
    compute: Callable[[Metric], MetricResult],
    variant_update: dict[str, Any] | None = None,
) -> MetricOutcome:
    """Build the metric of ``spec`` and run ``compute(metric)``; a broken plugin, a
    ``MetricUnavailable`` or any other error becomes a row that says so.
    ``variant_update`` overrides entries of the metric's variant (e.g. its reference)."""
    try:
        metric = spec.build()
    except PluginLoadError as err:  # a broken plugin is reported by name, the rest go on
        row = ScoreRow(
            source="metric",
            name=spec.selector,
            version="?",
            variant={},
            status="failed",
            higher_is_better=True,
            message=str(err),
        )
        return MetricOutcome(row)
    base = dict(
        source="metric",
        name=spec.selector,
        version=metric.version,
        variant={**metric.variant(), **(variant_update or {})},
        higher_is_better=metric.higher_is_better,
    )
    try:
        result = compute(metric)
    except MetricUnavailable as err:
        details = {"missing_weights": err.weights} if getattr(err, "weights", None) else {}
        row = ScoreRow(**base, status="unavailable", message=str(err), details=details)
        return MetricOutcome(row)
    except Exception as err:  # recorded, never silently dropped
        message = f"{type(err).__name__}: {err}\n{traceback.format_exc(limit=3)}"
        return MetricOutcome(ScoreRow(**base, status="failed", message=message))
    row = ScoreRow(
        **base,
        status="ok",
        value=result.value,
        spread=result.spread,
        n=result.n,
        ci_low=result.ci_low,
        ci_high=result.ci_high,
        details=result.details,
        per_sample=None if result.per_sample is None else list(result.per_sample),
    )
    return MetricOutcome(row, metric, result)


def draw_metric_figures(inputs: EvalInputs, outcomes: list[MetricOutcome], folder: Path) -> None:
    """Each successful metric's own figure (if it has one) as ``folder/<metric>.png``, the
    metric named by :func:`usbench.selectors.file_stem` of its selector."""
    for outcome in outcomes:
        if outcome.metric is None:
            continue
        try:
            path = folder / f"{file_stem(outcome.row.name)}.png"
            outcome.metric.figure(outcome.result, inputs, path)
        except Exception as err:  # a figure must not cost the run its numbers
            warnings.warn(f"figure of {outcome.row.name} failed: {err}", stacklevel=2)
