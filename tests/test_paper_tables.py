"""Paper layouts from a hand-made store: cell values, best marks, arrows, published rows
kept apart, figures written; LaTeX compiled when pdflatex is installed."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from usbench import paper_tables as pt
from usbench.reference_rows import load_published, published_rows
from usbench.report import write_report
from usbench.store import ResultStore, RunRow, ScoreRow


def _run(store: ResultStore, generator: str, steps: int, scores: list[ScoreRow]) -> None:
    run_id = f"r-{generator}-{steps}"
    row = RunRow(run_id, "2025-01-01T00:00:00", generator, "quick", {"steps": steps}, "h",
                 "lus", "d", {}, 0, 16, str(store.runs_dir / run_id), {})  # fmt: skip
    store.add_run(row, scores)


def _metric(name: str, value: float, per_sample: list[float], hib: bool) -> ScoreRow:
    return ScoreRow("metric", name, "1", {}, "ok", hib, value=value, spread=0.01, n=len(per_sample),
                    per_sample=per_sample)  # fmt: skip


def _task(metric: str, group: str, value: float) -> ScoreRow:
    return ScoreRow("task", f"classifier_gain/{metric}", "1", {"classifier": "small-cnn",
                    "pretrained": False}, "ok", True, value=value, spread=0.05, n=3,
                    group=group)  # fmt: skip


def _task_rows(bonus: float) -> list[ScoreRow]:
    rows = []
    for arm, gain in (("real", 0.0), ("real+aug", 0.01), ("real+synthetic", bonus),
                      ("real+synthetic+aug", bonus + 0.01)):  # fmt: skip
        for share, base in (("25%", 0.6), ("100%", 0.8)):
            group = f"{arm}/minority={share}"
            for m in ("accuracy", "balanced_accuracy", "macro_f1", "ppv", "auc_roc"):
                rows.append(_task(m, group, base + gain))
            rows.append(_task("kept_epoch", group, 20 + 100 * gain))
            for cls in ("covid", "pneumonia"):
                for m in ("precision", "recall", "f1"):
                    rows.append(_task(m, f"{group}/class={cls}", base + gain))
    return rows


@pytest.fixture()
def store(tmp_path) -> ResultStore:
    store = ResultStore(tmp_path / "store")
    common = [_metric("fid", 40.0, [], False), _metric("fid-pool1", 2.0, [], False),
              _metric("fid-pool2", 9.0, [], False)]  # fmt: skip
    _run(store, "ddpm", 1500, [
        _metric("sifid", 0.5, [0.4, 0.6], False), _metric("ssim", 0.3, [0.2, 0.4], True),
        _metric("psnr", 12.0, [10.0, 14.0], True), *common, *_task_rows(0.05)])  # fmt: skip
    _run(store, "toygen", 0, [
        _metric("sifid", 0.2, [0.1, 0.3], False), _metric("ssim", 0.25, [0.2, 0.3], True),
        _metric("psnr", 13.0, [12.0, 14.0], True), *common, *_task_rows(0.10)])  # fmt: skip
    return store


def test_published_csv_has_the_seed_numbers():
    frame = load_published()
    t1 = published_rows("000", "1")
    awdiff = t1[(t1["method"] == "AWDiff") & (t1["setting"] == "120k")]
    assert dict(zip(awdiff["metric"], awdiff["value"], strict=True)) == {
        "sifid": 0.03, "lpips": 0.37, "nima": 5.45}  # fmt: skip
    t3 = published_rows("003", "3")
    best = t3[(t3["method"] == "FewDDM") & (t3["metric"] == "balanced_accuracy")
              & (t3["setting"] == "real+synthetic+aug/minority=25%")]  # fmt: skip
    assert best["value"].tolist() == [0.90] and best["spread"].tolist() == [0.05]
    assert len(t3) == 8 * (3 * 3 + 2)
    assert set(frame["seed"]) == {"000", "002", "003", "004"} and frame["citation"].all()


def test_seed000_values_best_and_published_apart(store):
    frame = pt.long_scores(store)
    (table,) = pt.build_tables("seed000", frame, with_published=True)
    rows = {tuple(k): c for k, c in table.rows}
    assert rows[("ddpm", "1.5k")][0].value == 0.5 and rows[("toygen", "0")][0].best  # SIFID ↓
    assert not rows[("ddpm", "1.5k")][0].best
    assert all(c is None or not c.best for _, cells in table.published for c in cells)
    assert len(table.published) == 5  # AWDiff 0.03 is lower but never marked best
    tex = pt.table_to_latex(table)
    assert r"SIFID $\downarrow$" in tex and r"NIMA $\uparrow$" in tex
    assert r"$\mathbf{0.20 \pm 0.01}$" in tex and r"\emph{Published (not ranked)}" in tex
    (plain,) = pt.build_tables("seed000", frame)
    assert plain.published == []


def test_seed002_stats_from_per_sample(store):
    fid, stats = pt.build_tables("seed002", pt.long_scores(store))
    assert [k for k, _ in fid.rows] == [["lus"]]
    assert [c.value for c in fid.rows[0][1]] == [2.0, 9.0, 2.0, 9.0]
    psnr_range = next(c for k, c in stats.rows if k == ["", "Range"] and c[0].value == 4.0)
    assert psnr_range[1].value == 2.0  # toygen PSNR 12..14
    mean_ssim = next(c for k, c in stats.rows if k == ["SSIM", "Mean"])
    assert [c.value for c in mean_ssim] == pytest.approx([0.3, 0.25])


def test_seed003_task_table_layout(store):
    tables = pt.build_tables("seed003", pt.long_scores(store), with_published=True)
    quality, *task_tables = tables
    assert len(task_tables) == 2  # minority 100 % and 25 %
    t25 = next(t for t in task_tables if "25 \\%" in t.caption or "25 %" in t.caption)
    labels = [k[0] for k, _ in t25.rows if k[0]]
    assert labels == ["w/o data aug.", "w/ regular aug.", "w/ ddpm aug.",
                      "w/ ddpm aug. and regular aug.", "w/ toygen aug.",
                      "w/ toygen aug. and regular aug."]  # fmt: skip
    best_bal = [c[4] for _, c in t25.rows if c[4] is not None and c[4].best]
    assert [b.value for b in best_bal] == [pytest.approx(0.71)]  # toygen + aug: 0.6+0.11
    kept = [c[5].value for _, c in t25.rows if c[5] is not None]
    assert kept == pytest.approx([20, 21, 25, 26, 30, 31])  # mean kept epoch per arm, never bold
    assert not any(c[5].best for _, c in t25.rows if c[5] is not None)
    assert len(t25.published) == 8 * 3 and "small-cnn" in t25.caption


def test_seed004_ablation_rows(store):
    (table,) = pt.build_tables("seed004", pt.long_scores(store), with_published=True)
    labels = [k[0] for k, _ in table.rows]
    assert labels == ["Baseline (Real)", "Real + ddpm", "Real + ddpm + aug.", "Real + toygen",
                      "Real + toygen + aug."]  # fmt: skip
    assert table.rows[0][1][0].value == pytest.approx(0.8) and table.rows[0][1][4] is None
    assert table.rows[1][1][4].value == 40.0
    assert [k[0] for k, _ in table.published][0] == "Baseline (Real)"


def test_report_writes_tables_and_figures(store, tmp_path):
    out = tmp_path / "out"
    paths = write_report(store, out, ("latex", "markdown", "csv"), layout="seed003",
                         with_published=True)  # fmt: skip
    names = {p.name for p in paths}
    assert {"tables_seed003.tex", "tables_seed003_document.tex", "tables_seed003.md"} <= names
    assert {"minority_balanced_accuracy_lus.png", "minority_balanced_accuracy_lus.pdf",
            "distribution_sifid.png"} <= names  # fmt: skip
    tex = (out / "tables_seed003.tex").read_text()
    assert tex.count(r"\begin{tabular}") == tex.count(r"\end{tabular}") == 3
    assert tex.count(r"\toprule") == 3 and "±" not in tex and "%" not in tex.replace(r"\%", "")
    for line in tex.splitlines():
        if line.endswith(r"\\") and "multicolumn" not in line:
            assert line.count("&") + 1 in (4, 8), line  # keys + columns per table
    with pytest.raises(ValueError, match="layout"):
        write_report(store, out, ("latex",), with_published=True)


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
@pytest.mark.parametrize("layout", ["seed000", "seed002", "seed003", "seed004"])
def test_latex_compiles(store, tmp_path, layout):
    paths = write_report(store, tmp_path, ("latex",), layout=layout, with_published=True,
                         figures=False)  # fmt: skip
    doc = next(p for p in paths if p.name.endswith("_document.tex"))
    result = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:]
    assert not re.search(r"Overfull \\hbox \((\d{3,})", result.stdout)
    assert (tmp_path / doc.name.replace(".tex", ".pdf")).stat().st_size > 1000


def test_cli_report_layout(store, tmp_path):
    from click.testing import CliRunner

    from usbench.cli import main

    args = ["report", "--store", str(store.root), "--out", str(tmp_path / "o"), "--layout",
            "seed004", "--format", "markdown", "--no-figures"]  # fmt: skip
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    md = Path(tmp_path / "o" / "tables_seed004.md").read_text()
    assert "| Baseline (Real) |" in md and "Accuracy ↑" in md and "FID ↓" in md
