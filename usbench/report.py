"""``usbench report``: leaderboards from the results store (LaTeX, Markdown, CSV, figures).

A leaderboard row is one (dataset, generator, preset); a column is one metric *variant*
(name + version + variant JSON: two variants of one metric are two columns). A cell is
the mean of the runs' values; its ± is the standard deviation over runs (seeds) when there
are several, otherwise the run's own spread over samples — the caption says which. The
best value per dataset and column is bold, by the metric's direction. Unavailable metrics
are shown as such, with the fix, never as numbers.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from usbench import paper_tables as pt
from usbench.fileio import atomic_write_text
from usbench.latex import tex_escape
from usbench.sample_size_notes import latex_notes, markdown_notes, numbered_notes
from usbench.score_frames import config_labels, long_scores, once_per_training, run_facts
from usbench.store import ResultStore

FORMATS = ("latex", "markdown", "csv")
_ROW_KEYS = ["dataset", "generator", "preset"]


@dataclass(frozen=True)
class Column:
    """One leaderboard column: a metric variant and its direction."""

    key: str
    label: str
    higher_is_better: bool


def load_scores(store: ResultStore, filters: Mapping[str, str] | None = None) -> pd.DataFrame:
    """All metric score rows as a DataFrame, optionally filtered by run fields."""
    frame = pd.DataFrame(store.scores())
    if frame.empty:
        return frame
    frame = frame[frame["source"] == "metric"].copy()
    for key, value in (filters or {}).items():
        if key not in frame.columns:
            raise ValueError(f"cannot filter on {key!r}; use dataset, generator or preset")
        frame = frame[frame[key] == value]
    frame["column"] = [_column_key(r) for r in frame.itertuples()]
    keys, configs = run_facts(store.runs())
    frame = once_per_training(frame, keys, ["column", "grp"]).copy()
    frame["preset"] = config_labels(frame, configs)
    return frame


def _column_key(row) -> str:
    variant = json.dumps(row.variant, sort_keys=True)
    digest = hashlib.sha256(f"{row.version}{variant}".encode()).hexdigest()[:6]
    return f"{row.name}@{digest}"


def columns(frame: pd.DataFrame) -> list[Column]:
    """Columns in name order; a metric's label gets its variant tag only if it has several."""
    out = []
    per_name = frame.groupby("name")["column"].nunique()
    for key, group in frame.groupby("column", sort=True):
        first = group.iloc[0]
        label = first["name"] if per_name[first["name"]] == 1 else key
        out.append(Column(key, label, bool(first["higher_is_better"])))
    return out


def chosen_columns(frame: pd.DataFrame, metrics: str) -> list[Column]:
    """The :func:`columns` whose metric is in the selector list ``metrics`` (in its order);
    ``@all`` keeps every column. Raises ``LookupError`` when none of them was stored."""
    every = columns(frame)
    if metrics.strip() == "@all":
        return every
    from usbench.plugins import resolve_list

    wanted = [spec.selector for spec in resolve_list("metrics", metrics)]
    names = dict(zip(frame["column"], frame["name"], strict=True))
    chosen = [c for w in wanted for c in every if names[c.key] == w]
    if not chosen:
        stored = ", ".join(sorted(set(frame["name"])))
        raise LookupError(f"none of {metrics} was stored; stored metrics: {stored}")
    return chosen


def leaderboard(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, generator, preset) and, per column, value/spread/runs/status,
    the smallest N, whether it is a set metric and its sample-size note ("" if none; see
    :mod:`usbench.sample_size_notes`)."""
    records = []
    for (dataset, generator, preset, column), group in frame.groupby(_ROW_KEYS + ["column"]):
        ok = group[group["status"] == "ok"]
        record = {"dataset": dataset, "generator": generator, "preset": preset, "column": column}
        record.update(_sample_size(group["name"].iloc[0], ok))
        if ok.empty:
            record.update(
                value=math.nan,
                spread=math.nan,
                runs=0,
                n=0,
                status=group["status"].iloc[0],
                message=group["message"].iloc[0],
            )
        else:
            spread = ok["value"].std(ddof=1) if len(ok) > 1 else ok["spread"].iloc[0]
            record.update(
                value=ok["value"].mean(),
                spread=spread,
                runs=len(ok),
                n=int(ok["n"].min()),
                status="ok",
                message="",
            )
        records.append(record)
    return pd.DataFrame.from_records(records)


def _sample_size(name: str, ok: pd.DataFrame) -> dict:
    from usbench.sample_size_notes import is_set_metric, small_n_note

    notes = [
        small_n_note(name, row.variant, row.details, int(row.n))
        for row in ok.sort_values("n").itertuples()
        if isinstance(getattr(row, "details", None), dict)
    ]
    return {"set_metric": is_set_metric(name), "note": next(filter(None, notes), "")}


def best_mask(board: pd.DataFrame, cols: list[Column]) -> set[tuple[str, str, str, str]]:
    """(dataset, generator, preset, column) of the best cell per dataset and column, where
    at least two rows compete (a lone row is not "best" of anything)."""
    best = set()
    direction = {c.key: c.higher_is_better for c in cols}
    for (_dataset, column), group in board[board["status"] == "ok"].groupby(["dataset", "column"]):
        if len(group) < 2 or column not in direction:
            continue
        values = group["value"]
        target = values.max() if direction[column] else values.min()
        for row in group[values == target].itertuples():
            best.add((row.dataset, row.generator, row.preset, column))
    return best


def _cell(board_row: pd.Series, fmt: str) -> tuple[str, bool]:
    if board_row is None or board_row["status"] != "ok":
        return ("n/a", False)
    spread = board_row["spread"]
    if not math.isfinite(spread) or (board_row["runs"] == 1 and spread == 0):
        # one run of a set statistic (FID, KID...) has no spread: print none, not "± 0"
        return (f"{board_row['value']:{fmt}}", True)
    return (f"{board_row['value']:{fmt}} ± {spread:.2g}", True)


class _Shown(NamedTuple):
    """One printed cell: its text, whether it is the best, whether it is a number, the N
    to print beside it (set metrics, else None) and its sample-size note (or None)."""

    text: str
    best: bool
    is_number: bool
    n: int | None
    note: str | None


def _rows(board: pd.DataFrame, cols: list[Column]):
    """Yield ``(keys, [_Shown])`` per leaderboard row."""
    best = best_mask(board, cols)
    indexed = board.set_index(_ROW_KEYS + ["column"])
    for keys in board[_ROW_KEYS].drop_duplicates().itertuples(index=False):
        cells = []
        for col in cols:
            key = (*keys, col.key)
            row = indexed.loc[key] if key in indexed.index else None
            text, is_number = _cell(row, ".4g")
            shown_n = is_number and bool(row.get("set_metric", False))
            note = row.get("note") if is_number else None
            n = int(row["n"]) if shown_n else None
            note = note if isinstance(note, str) and note else None
            cells.append(_Shown(text, key in best, is_number, n, note))
        yield tuple(keys), cells


def spread_note(board: pd.DataFrame) -> str:
    """Caption text saying what the ± means in this board."""
    multi = (board["runs"] > 1).any()
    single = (board["runs"] == 1).any()
    if multi and single:
        return "± is the std over seeds where a row has several runs, else over samples"
    return "± is the std over seeds" if multi else "± is the std over samples (one run)"


def to_markdown(board: pd.DataFrame, cols: list[Column]) -> str:
    """GitHub-flavoured Markdown table, best values in bold."""
    head = ["dataset", "generator", "preset"] + [
        f"{c.label} {'↑' if c.higher_is_better else '↓'}" for c in cols
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    numbers = _note_numbers(board, cols)
    for keys, cells in _rows(board, cols):
        texts = []
        for col, cell in zip(cols, cells, strict=True):
            text = f"**{cell.text}**" if cell.best else cell.text
            text += f" (N={cell.n})" if cell.n is not None else ""
            text += f" [{numbers[(col.label, cell.note)]}]" if cell.note else ""
            texts.append(text)
        lines.append("| " + " | ".join([*keys, *texts]) + " |")
    legend = f"{spread_note(board)}; ↑ higher is better, ↓ lower."
    return "\n".join(lines) + f"\n\n{legend}\n" + markdown_notes(numbers)


def _note_numbers(board: pd.DataFrame, cols: list[Column]) -> dict[tuple[str, str], int]:
    """Footnote numbers of the sample-size notes of the cells in ``cols``."""
    notes = [
        (col.label, cell.note)
        for _, cells in _rows(board, cols)
        for col, cell in zip(cols, cells, strict=True)
        if cell.note
    ]
    return numbered_notes(notes)


LATEX_COLUMNS_PER_TABLE = 4


def to_latex(board: pd.DataFrame, cols: list[Column], caption: str) -> str:
    """Booktabs tables: mean ± std, best in bold, arrows in the header. A board with more
    than :data:`LATEX_COLUMNS_PER_TABLE` metric columns is split into several tables with
    the same rows, so every table stays readable at text width."""
    per = LATEX_COLUMNS_PER_TABLE
    chunks = [cols[k : k + per] for k in range(0, len(cols), per)] or [[]]
    tables = []
    for number, chunk in enumerate(chunks, start=1):
        part = f" (part {number} of {len(chunks)})" if len(chunks) > 1 else ""
        tables.append(_latex_table(board, chunk, cols, caption + part))
    return "% needs \\usepackage{booktabs}\n" + "\n".join(tables)


def _latex_table(board: pd.DataFrame, chunk: list[Column], cols: list[Column], caption: str) -> str:
    arrows = [
        rf"{tex_escape(c.label)} $\{'uparrow' if c.higher_is_better else 'downarrow'}$"
        for c in chunk
    ]
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{tex_escape(caption)}; {tex_escape(spread_note(board))}.}}",
        rf"\begin{{tabular}}{{lll{'c' * len(chunk)}}}",
        r"\toprule",
        " & ".join(["Dataset", "Generator", "Preset", *arrows]) + r" \\",
        r"\midrule",
    ]
    keep = {c.key for c in chunk}
    numbers = _note_numbers(board, chunk)
    for keys, cells in _rows(board, cols):
        texts = []
        for col, cell in zip(cols, cells, strict=True):
            if col.key not in keep:
                continue
            if not cell.is_number:
                texts.append("--")
                continue
            value, _, spread = cell.text.partition(" ± ")
            body = rf"{value} \pm {spread}" if spread else value
            text = rf"$\mathbf{{{body}}}$" if cell.best else rf"${body}$"
            text += rf" {{\scriptsize(N={cell.n})}}" if cell.n is not None else ""
            text += rf"$^{{{numbers[(col.label, cell.note)]}}}$" if cell.note else ""
            texts.append(text)
        lines.append(" & ".join([*(tex_escape(k) for k in keys), *texts]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", *latex_notes(numbers, tex_escape), r"\end{table}"]
    return "\n".join(lines) + "\n"


def to_csv(board: pd.DataFrame) -> str:
    """Long-form CSV: one line per (dataset, generator, preset, metric column)."""
    return board.to_csv(index=False)


def write_report(
    store: ResultStore,
    out: Path,
    formats: tuple[str, ...] = FORMATS,
    filters: Mapping[str, str] | None = None,
    figures: bool = True,
    layout: str = "generic",
    with_published: bool = False,
    metrics: str = "@default",
) -> list[Path]:
    """Write the leaderboard in ``formats`` (and figures) into ``out``.

    ``metrics``: the columns of the LaTeX and Markdown leaderboards, a metric selector list
    (``@default``, the headline suite; ``@seed002``; ``fid:layer=pool2,kid``; ``@all`` =
    every stored metric). The CSV always holds every stored metric.

    ``layout``: ``generic`` (one leaderboard of every metric) or a seed paper's layout
    (:data:`usbench.paper_tables.LAYOUTS`), written as ``tables_<layout>.tex`` (table
    environments to ``\\input``), ``tables_<layout>_document.tex`` (compilable) and
    ``tables_<layout>.md``. ``with_published`` adds the papers' reference rows to the
    layout tables (never ranked). Figures: sample grids, metric distributions and, when
    ``classifier_gain`` ran, balanced accuracy against the minority share and, per run,
    the classifiers' training curves and confusion matrices; when ``segmentation_gain``
    ran, per run, test images with their truth and each arm's prediction.
    """
    frame = load_scores(store, filters)
    if frame.empty:
        raise LookupError(
            f"No scores in {store.path}"
            + (f" matching {dict(filters)}" if filters else "")
            + ". Run `usbench run --generator ddpm --dataset lus-phantom` first."
        )
    board = leaderboard(frame)
    cols = chosen_columns(frame, metrics)
    written = []
    n_runs = frame["run_id"].nunique()
    caption = f"usbench leaderboard ({n_runs} run{'s' if n_runs != 1 else ''})"
    for fmt in formats:
        text = {
            "latex": lambda: to_latex(board, cols, caption),
            "markdown": lambda: to_markdown(board, cols),
            "csv": lambda: to_csv(board),
        }[fmt]()
        suffix = {"latex": "tex", "markdown": "md", "csv": "csv"}[fmt]
        written.append(atomic_write_text(out / f"leaderboard.{suffix}", text))
    written += write_agreement(store, board, cols, out, filters)
    if layout != "generic":
        written += write_paper_tables(store, out, layout, formats, filters, with_published)
    elif with_published:
        raise ValueError("--with-published needs a paper layout, e.g. --layout seed003")
    from usbench.segmentation_table import write_segmentation_table
    from usbench.study.report_tables import write_study_reports

    long = long_scores(store, filters)
    written += write_segmentation_table(long, out)

    written += write_study_reports(store.root, out, formats, figures)
    if figures:
        from usbench.classifier_figures import classifier_training_figures
        from usbench.figures import (
            comparison_grid_figures,
            metric_distribution_figures,
            minority_curve_figures,
            run_metric_figures,
            sample_grid_figures,
        )
        from usbench.segmentation_figures import segmentation_example_figures

        written += sample_grid_figures(store, out / "figures", run_ids=set(frame["run_id"]))
        written += comparison_grid_figures(store, out / "figures", run_ids=set(frame["run_id"]))
        written += metric_distribution_figures(long, out / "figures")
        written += minority_curve_figures(long, out / "figures")
        written += run_metric_figures(store, out / "figures", run_ids=set(frame["run_id"]))
        # task figures of every run: a job of the same training with a task has its own
        task_runs = _run_ids(store, filters)
        written += classifier_training_figures(store, out / "figures", task_runs)
        written += segmentation_example_figures(store, out / "figures", task_runs)
    return written


def _run_ids(store: ResultStore, filters: Mapping[str, str] | None) -> set[str]:
    """Every stored run matching ``filters`` (run fields: dataset, generator, preset)."""
    return {
        r["run_id"]
        for r in store.runs()
        if all(str(r.get(k)) == v for k, v in (filters or {}).items())
    }


def write_agreement(store, board, cols, out: Path, filters) -> list[Path]:
    """``metric_agreement.md``/``.csv`` (see :mod:`usbench.metric_agreement`) when some
    dataset has at least three generators; nothing otherwise."""
    from usbench import metric_agreement

    long = long_scores(store, filters)
    tasks = long[long["source"] == "task"] if not long.empty else None
    table = metric_agreement.agreement(board, cols, tasks)
    if table.empty:
        return []
    return [
        atomic_write_text(out / "metric_agreement.md", metric_agreement.to_markdown(table)),
        atomic_write_text(out / "metric_agreement.csv", table.to_csv(index=False)),
    ]


def write_paper_tables(
    store: ResultStore,
    out: Path,
    layout: str,
    formats: tuple[str, ...],
    filters: Mapping[str, str] | None,
    with_published: bool,
) -> list[Path]:
    """The tables of one seed-paper layout in LaTeX and/or Markdown (see write_report)."""
    tables = pt.build_tables(layout, long_scores(store, filters), with_published)
    if layout == "seed003":  # Table 4: fake detection rate, from the reader studies
        from usbench.study.report_tables import seed003_detection_tables

        tables += seed003_detection_tables(store.root, with_published)
    written = []
    if "latex" in formats:
        body = "\n".join(pt.table_to_latex(t) for t in tables)
        written.append(atomic_write_text(out / f"tables_{layout}.tex", body))
        doc = pt.latex_document(tables)
        written.append(atomic_write_text(out / f"tables_{layout}_document.tex", doc))
    if "markdown" in formats:
        text = "\n".join(pt.table_to_markdown(t) for t in tables)
        written.append(atomic_write_text(out / f"tables_{layout}.md", text))
    return written
