"""The static site's data: leaderboard cells equal the report's, published rows are labelled
and never ranked, metric agreement, task tables, the reproduce command, the link check."""

from __future__ import annotations

import pandas as pd
import pytest
from _shared import REPO
from scipy.stats import kendalltau

from usbench.report import best_mask, columns, leaderboard, load_scores
from usbench.site.agreement import metric_agreement
from usbench.site.boards import boards_from_csv, boards_from_store
from usbench.site.links import broken_links
from usbench.site.runs import run_href, task_tables
from usbench.store import ResultStore, RunRow, ScoreRow


def _row(run_id: str, generator: str, seed: int) -> RunRow:
    return RunRow(
        run_id=run_id, created_at=f"2026-02-0{seed}T00:00:00", generator=generator,
        preset="quick", config={"train": {"steps": 2}}, config_hash="c0", dataset="lus",
        data_hash="e" * 64, split={"kind": "patient"}, seed=seed, n_samples=8,
        run_dir=f"/absent/{run_id}", provenance={},
    )  # fmt: skip


def _metric(name: str, value: float, higher: bool, ci: tuple[float, float]) -> ScoreRow:
    return ScoreRow(source="metric", name=name, version="1", variant={}, status="ok",
                    higher_is_better=higher, value=value, spread=0.1, n=8,
                    ci_low=ci[0], ci_high=ci[1])  # fmt: skip


@pytest.fixture
def store(tmp_path) -> ResultStore:
    store = ResultStore(tmp_path)
    for run_id, gen, seed, ssim, fid in [
        ("d1", "ddpm", 1, 0.50, 40.0), ("d2", "ddpm", 2, 0.70, 44.0),
        ("b1", "bmap_ddpm", 1, 0.40, 30.0), ("x1", "external:mine", 1, 0.55, 35.0),
    ]:  # fmt: skip
        store.add_run(_row(run_id, gen, seed), [
            _metric("ssim", ssim, True, (ssim - 0.05, ssim + 0.05)),
            _metric("fid", fid, False, (fid - 3, fid + 3)),
            _metric("fid:layer=pool1", fid / 10, False, (0, 9)),
        ])  # fmt: skip
    return store


def test_board_cells_are_the_report_cells(store):
    frame = load_scores(store)
    (ours, *published) = boards_from_store(frame, run_href)
    assert ours.dataset == "lus" and all(b.published_only for b in published)
    report = leaderboard(frame).set_index(["generator", "column"])
    best = best_mask(leaderboard(frame), columns(frame))
    rows = {row.generator: row for row in ours.rows}
    assert rows["external:mine"].kind == "external" and rows["ddpm"].kind == "run"
    for row in rows.values():
        for key, cell in row.cells.items():
            assert cell.value == pytest.approx(report.loc[(row.generator, key)]["value"])
            assert cell.spread == pytest.approx(report.loc[(row.generator, key)]["spread"])
            assert cell.best == ((row.dataset, row.generator, row.preset, key) in best)
    ssim = next(c for c in ours.columns if c.label == "ssim")
    fid = next(c for c in ours.columns if c.label == "fid")
    assert rows["ddpm"].cells[ssim.key].value == pytest.approx(0.6)  # mean of two seeds
    assert rows["ddpm"].cells[ssim.key].best and rows["bmap_ddpm"].cells[fid.key].best
    assert not rows["ddpm"].cells[ssim.key].has_ci  # two runs: std over seeds, no CI
    assert rows["bmap_ddpm"].cells[fid.key].ci_low == pytest.approx(27.0)
    assert rows["ddpm"].run_pages == ["runs/d1.html", "runs/d2.html"]
    headline = [c.label for c in ours.columns if c.headline]
    assert headline == ["fid", "ssim"]  # @default order; the pool1 variant is picked
    assert [c.label for c in ours.columns if not c.headline] == ["fid:layer=pool1"]


def test_published_rows_are_labelled_and_never_best(store):
    boards = {b.dataset: b for b in boards_from_store(load_scores(store), run_href)}
    camus = boards["camus"]
    assert {row.kind for row in camus.rows} == {"published"}
    assert all("seed 002, Table" in row.note and not row.run_pages for row in camus.rows)
    cells = [c for row in camus.rows for c in row.cells.values()]
    assert cells and not any(c.best for c in cells)
    # seed 002 Table 1, B-maps on CAMUS, FID at the first max-pool: 3.17 (published.csv)
    bmaps = next(r for r in camus.rows if r.generator == "B-maps" and "fid:layer=pool1" in r.cells)
    published = pd.read_csv(REPO / "usbench/data/published.csv", dtype=str)
    line = published[(published["dataset"] == "camus") & (published["method"] == "B-maps")
                     & (published["metric"] == "fid-pool1")].iloc[0]  # fmt: skip
    assert bmaps.cells["fid:layer=pool1"].value == pytest.approx(float(line["value"]))
    # seed 002 Table 2 compares samples with real images: its LPIPS is our paired one (↓)
    paired = next(r for r in camus.rows if r.generator == "B-maps" and "ssim" in r.cells)
    assert paired.cells["lpips:mode=paired"].value == pytest.approx(0.161)
    assert "lpips" not in paired.cells
    awdiff = next(r for r in boards["lus-dialysis"].rows if r.generator == "AWDiff")
    assert "lpips" in awdiff.cells and "lpips:mode=paired" not in awdiff.cells  # diversity ↑
    # a dataset filter keeps other datasets' published boards out
    only = boards_from_store(load_scores(store, {"dataset": "lus"}), run_href, False)
    assert [b.dataset for b in only] == ["lus"]


def test_boards_from_the_committed_leaderboard_csv():
    path = REPO / "leaderboards" / "lus" / "leaderboard.csv"
    (board, *_published) = boards_from_csv(path)
    csv = pd.read_csv(path)
    by_gen = {row.generator: row for row in board.rows}
    for line in csv.itertuples():
        cell = by_gen[line.generator].cells[line.column]
        assert cell.status == line.status
        if line.status == "ok":
            assert cell.value == pytest.approx(line.value) and cell.n == line.n
    arrows = {c.label: c.arrow for c in board.columns}
    assert arrows["fid"] == "↓" and arrows["ssim"] == "↑" and arrows["lpips:mode=paired"] == "↓"
    # the same best cells as the committed Markdown table's bold ones
    md = (path.parent / "leaderboard.md").read_text()
    header = [h.strip().rsplit(" ", 1)[0] for h in md.splitlines()[0].strip("|").split("|")]
    for line in md.splitlines()[2:4]:
        texts = [t.strip() for t in line.strip("|").split("|")]
        row = by_gen[texts[1]]
        for label, text in zip(header[3:], texts[3:], strict=True):
            key = next(k for k in row.cells if k.startswith(label + "@"))
            assert row.cells[key].best == text.startswith("**"), (texts[1], label)


def test_metric_agreement_is_kendall_tau_on_oriented_values():
    values = {
        "ssim": [0.2, 0.5, 0.4, 0.9],
        "fid": [90.0, 40.0, 60.0, 10.0],
        "psnr": [30, 10, 20, 5],
    }
    higher = {"ssim": True, "fid": False, "psnr": True}
    frame = pd.DataFrame([
        {"run_id": f"r{i}", "name": name, "value": v, "higher_is_better": higher[name],
         "status": "ok"}
        for name, vs in values.items() for i, v in enumerate(vs)
    ])  # fmt: skip
    pairs = {(a.first, a.second): a for a in metric_agreement(frame, ["fid", "ssim", "psnr"])}
    assert pairs[("fid", "ssim")].tau == pytest.approx(1.0)  # lower FID ↔ higher SSIM
    expected = kendalltau(values["ssim"], values["psnr"]).statistic
    assert pairs[("ssim", "psnr")].tau == pytest.approx(expected) and expected < 0
    assert pairs[("fid", "ssim")].n == 4
    assert metric_agreement(frame[frame["run_id"].isin(["r0", "r1"])], ["fid", "ssim"]) == []


def test_task_tables_pivot_groups_and_metrics():
    def task(metric, group, value, status="ok"):
        return {
            "name": f"classifier_gain/{metric}",
            "grp": group,
            "value": value,
            "spread": 0.01,
            "status": status,
            "message": "no fold" if value is None else "",
        }

    (table,) = task_tables([
        task("balanced_accuracy", "real/minority=50%", 0.61),
        task("balanced_accuracy", "real+synthetic/minority=50%", 0.66),
        task("f1", "real/minority=50%", None, "failed"),
    ])  # fmt: skip
    assert table.task == "classifier_gain" and table.columns == ["balanced_accuracy", "f1"]
    assert table.rows == ["real/minority=50%", "real+synthetic/minority=50%"]
    assert table.cells["real+synthetic/minority=50%"]["balanced_accuracy"] == "0.66 ± 0.01"
    assert table.cells["real/minority=50%"]["f1"] == "n/a (no fold)"


def test_link_check_finds_missing_files_and_outside_links(tmp_path):
    (tmp_path / "runs").mkdir()
    (tmp_path / "a.png").write_bytes(b"png")
    (tmp_path / "index.html").write_text(
        '<a href="runs/r1.html#metrics">r</a><img src="a.png"><a href="#top">t</a>'
        '<link rel="icon" href="data:,"><img src="missing.png">'
        '<a href="https://example.org/x">web</a><a href="../outside.html">up</a>'
        '<h2 id="top">x</h2><a href="runs/r1.html#nowhere">n</a>'
    )
    (tmp_path / "runs" / "r1.html").write_text(
        '<img src="../a.png"><a href="../index.html#top">i</a><p id="metrics"></p>'
    )
    assert broken_links(tmp_path) == [
        "index.html: missing.png", "index.html: https://example.org/x",
        "index.html: ../outside.html", "index.html: runs/r1.html#nowhere",
    ]  # fmt: skip


def test_a_run_with_a_task_gets_its_tables_curve_and_figures(tmp_path):
    import numpy as np
    from PIL import Image

    from usbench.site import write_site

    run_dir = tmp_path / "runs" / "t1"
    (run_dir / "samples").mkdir(parents=True)
    (run_dir / "figures").mkdir()
    for i in range(3):
        Image.fromarray(np.full((8, 8), 60 * i, np.uint8)).save(run_dir / f"samples/s{i}.png")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(run_dir / "figures" / "speckle.png")
    store = ResultStore(tmp_path / "store")
    row = _row("t1", "ddpm", 1)
    row.run_dir = str(run_dir)
    arms = [("real", 0.55, 0.60), ("real+synthetic", 0.58, 0.66)]
    tasks = [
        ScoreRow(source="task", name="classifier_gain/balanced_accuracy", version="1",
                 variant={}, status="ok", higher_is_better=True, value=value, spread=0.02,
                 n=3, group=f"{arm}/minority={share}%")
        for arm, at50, at100 in arms for share, value in ((50, at50), (100, at100))
    ]  # fmt: skip
    store.add_run(row, [_metric("ssim", 0.5, True, (0.4, 0.6)), *tasks])
    out = tmp_path / "site"
    write_site(store, out, real_images=False)
    page = (out / "runs" / "t1.html").read_text()
    assert "classifier_gain" in page and "real+synthetic/minority=100%" in page
    assert "0.66 ± 0.02" in page and "real images not requested for this site" in page
    assert (out / "runs/t1/figures/speckle.png").is_file()
    assert (out / "runs/t1/figures/minority_balanced_accuracy_lus.png").is_file()
    assert page.count('<img src="../runs/t1/samples/') == 3
    assert broken_links(out) == [] and not list(out.rglob("*.pdf"))


def test_a_single_runs_set_statistic_shows_no_zero_spread():
    """FID of one run has spread 0 in the CSV: the page shows the value alone (and its CI)."""
    from usbench.site.model import Cell

    assert not Cell(value=233.3, spread=0.0, runs=1, n=18).shows_spread
    assert Cell(value=0.12, spread=0.027, runs=1, n=18).shows_spread
    assert Cell(value=233.3, spread=0.0, runs=2, n=18).shows_spread  # two runs that agree
    assert not Cell(value=233.3, runs=1).shows_spread  # no spread recorded
