"""Reader-study results in ``usbench report``: tables (Markdown, LaTeX, CSV), the ROC
figure, and the answer export of ``usbench study export``.

For every study under ``<store>/studies`` with at least one answer, the report writes
``study_<name>.md`` / ``.tex`` / ``.csv`` (per-reader and pooled accuracy with Wilson 95 %
interval and binomial p vs 50 %, sensitivity, specificity, AUC; per-generator detection
rate; Cohen's and Fleiss' κ) and ``figures/study_<name>_roc.png/.pdf`` (each reader's
operating point and empirical ROC curve from the confidence ratings).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd

from usbench.fileio import atomic_write_text
from usbench.latex import tex_escape
from usbench.paper_cells import Cell, PaperTable
from usbench.reference_rows import published_rows
from usbench.study.blinding import StudyPaths, read_key
from usbench.study.database import StudyDatabase
from usbench.study.statistics import (
    StudyScores,
    answer_table,
    generator_table,
    score_answers,
    synthetic_rating,
)

EXPORT_COLUMNS = (
    "reader", "image_id", "truth", "generator", "run_id", "source", "real_source",
    "answer", "confidence", "correct", "comment", "answered_at",
)  # fmt: skip


def study_names(store_root: Path) -> list[str]:
    """Names of the studies in a store (folders holding a ``study.sqlite``)."""
    folder = Path(store_root) / "studies"
    return sorted(p.parent.name for p in folder.glob("*/study.sqlite"))


def study_frame(store_root: Path, name: str) -> pd.DataFrame:
    """The answer table of one study (:func:`usbench.study.statistics.answer_table`)."""
    paths = StudyPaths.of(store_root, name)
    return answer_table(StudyDatabase(paths.database).all_answers(), read_key(paths))


def export_csv(store_root: Path, name: str) -> str:
    """Every answer with its truth, generator, run and source image (2afc: and the real
    image beside it), as CSV text."""
    paths = StudyPaths.of(store_root, name)
    key = read_key(paths)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for a in StudyDatabase(paths.database).all_answers():
        truth = key[a.image_id]
        writer.writerow(
            {
                **{k: getattr(a, k) for k in ("reader", "image_id", "answer", "confidence")},
                **{k: truth[k] for k in ("truth", "generator", "run_id", "source")},
                "real_source": truth.get("real_source", ""),  # 2afc: the real image beside
                "correct": int(a.answer == truth["truth"]),
                "comment": a.comment,
                "answered_at": a.answered_at,
            }
        )
    return buffer.getvalue()


def _fmt(value: float, digits: int = 2) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def _p(value: float) -> str:
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def reader_lines(scores: StudyScores) -> list[list[str]]:
    """Rows of the reader table: reader, N, accuracy [95 % CI], p, sens., spec., AUC."""
    return [
        [
            r.reader,
            str(r.n),
            f"{_fmt(r.accuracy)} [{_fmt(r.ci_low)}, {_fmt(r.ci_high)}]",
            _p(r.p_value),
            _fmt(r.sensitivity),
            _fmt(r.specificity),
            _fmt(r.auc),
        ]
        for r in scores.readers.itertuples()
    ]


READER_HEADER = ["reader", "N", "accuracy [95% CI]", "p vs 50%", "sens.", "spec.", "AUC"]
GENERATOR_HEADER = ["images of", "N", "called synthetic [95% CI]"]


def generator_lines(scores: StudyScores) -> list[list[str]]:
    """Rows of the per-generator table."""
    return [
        [g.generator, str(g.n), f"{_fmt(g.detection_rate)} [{_fmt(g.ci_low)}, {_fmt(g.ci_high)}]"]
        for g in scores.generators.itertuples()
    ]


def agreement_text(scores: StudyScores) -> str:
    """One line: Fleiss' κ and the pairwise Cohen's κ."""
    kappa, items, raters = scores.fleiss
    pairs = ", ".join(
        f"{p.reader_a}–{p.reader_b} {_fmt(p.kappa)}" for p in scores.pairs.itertuples()
    )
    return (
        f"Fleiss' κ = {_fmt(kappa)} ({raters} readers, {items} images answered by all); "
        f"Cohen's κ: {pairs or 'n/a (one reader)'}."
    )


def to_markdown(scores: StudyScores) -> str:
    """The study's tables as Markdown."""

    def table(header, lines):
        rows = [header, ["---"] * len(header), *lines]
        return "\n".join("| " + " | ".join(row) + " |" for row in rows)

    return (
        f"## Reader study {scores.name}: can readers tell synthetic from real?\n\n"
        f"{table(READER_HEADER, reader_lines(scores))}\n\n"
        f"{table(GENERATOR_HEADER, generator_lines(scores))}\n\n"
        f"{agreement_text(scores)} Accuracy: Wilson 95 % interval, exact two-sided binomial "
        "test against 50 %; AUC from the confidence ratings; synthetic is the positive class.\n"
    )


def to_latex(scores: StudyScores) -> str:
    """The study's reader and generator tables as booktabs LaTeX."""

    def table(header, lines, caption):
        spec = "l" + "r" * (len(header) - 1)
        body = "\n".join(" & ".join(tex_escape(c) for c in row) + r" \\" for row in lines)
        return (
            "\\begin{table}[t]\n\\centering\n"
            f"\\caption{{{tex_escape(caption)}}}\n\\begin{{tabular}}{{{spec}}}\n\\toprule\n"
            + " & ".join(tex_escape(h) for h in header)
            + " \\\\\n\\midrule\n"
            + body
            + "\n\\bottomrule\n\\end{tabular}\n\\end{table}\n"
        )

    return table(
        READER_HEADER,
        reader_lines(scores),
        f"Reader study {scores.name}: fake-detection accuracy. {agreement_text(scores)}",
    ) + table(GENERATOR_HEADER, generator_lines(scores), "Share of images called synthetic.")


def roc_figure(scores: StudyScores, frame: pd.DataFrame, out: Path) -> list[Path]:
    """Per-reader operating points (1 − specificity, sensitivity) on their ROC curves."""
    from sklearn.metrics import roc_curve

    from usbench.figures import _pyplot, _save

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    for name, group in frame.groupby("reader", sort=True):
        if set(group["truth"]) == {"real", "synthetic"}:
            fpr, tpr, _ = roc_curve(group["truth"] == "synthetic", synthetic_rating(group))
            line = ax.plot(fpr, tpr, linewidth=0.8, alpha=0.6)[0]
            row = scores.readers[scores.readers["reader"] == name].iloc[0]
            ax.plot(1 - row.specificity, row.sensitivity, "o", color=line.get_color(), label=name)
    ax.set(xlabel="1 − specificity (real called synthetic)", ylabel="sensitivity", xlim=(0, 1),
           ylim=(0, 1), title=f"Reader study {scores.name}")  # fmt: skip
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    paths = _save(fig, out, f"study_{scores.name}_roc")
    plt.close(fig)
    return paths


def seed003_detection_tables(store_root: Path, with_published: bool) -> list[PaperTable]:
    """Seed 003 Table 4 for each study with answers: the fake detection rate (%) of each
    generator (share of its images the readers called synthetic; lower = more realistic),
    with the paper's sonographer's rates below when ``with_published``."""
    published = published_rows("003", "4") if with_published else None
    tables = []
    for name in study_names(store_root):
        frame = study_frame(store_root, name)
        if frame.empty:
            continue
        rates = generator_table(frame[frame["generator"] != "real"])
        caption = (
            f"Fake detection rate per model, reader study {name} "
            f"({frame['reader'].nunique()} reader(s), {len(frame)} answers; Wilson 95 % "
            f"intervals in study_{name}.md)"
        )
        table = PaperTable(caption, ["Model"], [("Fake detection rate (%)", False)], digits=2)
        for row in rates.itertuples():
            table.rows.append(([row.generator], [Cell(100.0 * row.detection_rate)]))
        for row in [] if published is None else published.itertuples():
            table.published.append(([row.method], [Cell(float(row.value))]))
        table.mark_best()
        tables.append(table)
    return tables


def write_study_reports(
    store_root: Path, out: Path, formats: tuple[str, ...], figures: bool
) -> list[Path]:
    """The files above for every study with answers; studies without answers are skipped."""
    written = []
    for name in study_names(store_root):
        frame = study_frame(store_root, name)
        if frame.empty:
            continue
        scores = score_answers(name, frame)
        if "markdown" in formats:
            written.append(atomic_write_text(out / f"study_{name}.md", to_markdown(scores)))
        if "latex" in formats:
            written.append(atomic_write_text(out / f"study_{name}.tex", to_latex(scores)))
        if "csv" in formats:
            written.append(
                atomic_write_text(out / f"study_{name}.csv", scores.readers.to_csv(index=False))
            )
        if figures:
            written += roc_figure(scores, frame, out / "figures")
    return written
