"""Results store (atomic, provenance, refuses random-weight scores) and leaderboards."""

from __future__ import annotations

import re
import sqlite3

import pytest

from usbench.report import columns, leaderboard, load_scores, to_latex, to_markdown, write_report
from usbench.store import RandomWeightsRefused, ResultStore, RunRow, ScoreRow


def _run(run_id: str, generator: str, seed: int) -> RunRow:
    return RunRow(
        run_id=run_id,
        created_at=f"2026-01-01T00:00:0{seed}",
        generator=generator,
        preset="quick",
        config={"steps": 1},
        config_hash="abc",
        dataset="lus-phantom",
        data_hash="d" * 64,
        split={"kind": "patient"},
        seed=seed,
        n_samples=4,
        run_dir=f"/nonexistent/{run_id}",
        provenance={"usbench_revision": "x"},
    )


def _score(name: str, value: float, spread: float = 0.1, higher: bool = True, **kw) -> ScoreRow:
    return ScoreRow(
        source="metric",
        name=name,
        version="1",
        variant={"v": 1},
        status="ok",
        higher_is_better=higher,
        value=value,
        spread=spread,
        n=4,
        per_sample=[value] * 4,
        **kw,
    )


@pytest.fixture
def store(tmp_path) -> ResultStore:
    store = ResultStore(tmp_path)
    store.add_run(_run("a1", "ddpm", 1), [_score("ssim", 0.5), _score("fid", 30.0, higher=False)])
    store.add_run(_run("a2", "ddpm", 2), [_score("ssim", 0.7), _score("fid", 50.0, higher=False)])
    store.add_run(
        _run("b1", "sinddm", 1),
        [_score("ssim", 0.4, spread=0.05), _score("fid", 20.0, spread=2.0, higher=False)],
    )
    unavailable = ScoreRow(
        source="metric",
        name="nima",
        version="1",
        variant={},
        higher_is_better=True,
        status="unavailable",
        message="weights missing. Fix: usbench weights fetch nima",
    )
    store.add_run(_run("c1", "singan", 1), [_score("ssim", 0.1), unavailable])
    return store


def test_roundtrip_and_wal(store):
    rows = store.scores()
    assert len(rows) == 8
    first = next(r for r in rows if r["run_id"] == "a1" and r["name"] == "ssim")
    assert first["variant"] == {"v": 1} and first["per_sample"] == [0.5] * 4
    assert first["generator"] == "ddpm" and first["data_hash"] == "d" * 64
    with sqlite3.connect(store.path) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_failing_insert_leaves_nothing(store):
    bad = _score("ssim", 1.0)
    bad.status = "bogus"  # violates the CHECK constraint after the run row went in
    with pytest.raises(sqlite3.IntegrityError):
        store.add_run(_run("z9", "ddpm", 3), [_score("psnr", 1.0), bad])
    assert "z9" not in {r["run_id"] for r in store.runs()}
    assert not [r for r in store.scores() if r["run_id"] == "z9"]


def test_random_weight_scores_are_refused(tmp_path):
    store = ResultStore(tmp_path)
    fake = _score("fid", 1.0, details={"weights_published": False})
    with pytest.raises(RandomWeightsRefused, match="never stored"):
        store.add_run(_run("r1", "ddpm", 1), [fake])
    assert store.runs() == []


def test_leaderboard_numbers(store):
    frame = load_scores(store)
    board = leaderboard(frame).set_index(["generator", "column"])
    ssim = next(c for c in columns(frame) if c.label == "ssim").key
    ddpm = board.loc[("ddpm", ssim)]
    assert ddpm["value"] == pytest.approx(0.6) and ddpm["runs"] == 2
    assert ddpm["spread"] == pytest.approx(0.1414213, rel=1e-5)  # std over the two seeds
    assert board.loc[("sinddm", ssim)]["spread"] == pytest.approx(0.05)  # one run: its spread
    nima = next(c for c in columns(frame) if c.label == "nima").key
    assert board.loc[("singan", nima)]["status"] == "unavailable"


def test_markdown_and_latex_mark_the_best(store):
    frame = load_scores(store)
    board, cols = leaderboard(frame), columns(frame)
    md = to_markdown(board, cols)
    assert "fid ↓" in md and "ssim ↑" in md
    sinddm = next(line for line in md.splitlines() if "| sinddm |" in line)
    assert "**20 ± 2**" in sinddm  # lowest FID wins
    ddpm = next(line for line in md.splitlines() if "| ddpm |" in line)
    assert "**0.6 ± 0.14**" in ddpm  # highest SSIM wins
    assert "n/a" in next(line for line in md.splitlines() if "| singan |" in line)
    tex = to_latex(board, cols, "caption_with_underscore")
    assert tex.count(r"\toprule") == 1 and tex.count(r"\bottomrule") == 1
    assert r"fid $\downarrow$" in tex and r"$\mathbf{20 \pm 2}$" in tex
    assert r"caption\_with\_underscore" in tex
    body = tex.split(r"\midrule")[1].split(r"\bottomrule")[0]
    for line in body.strip().splitlines():  # every row has every column
        assert line.count("&") == 3 + len(cols) - 1 and line.endswith(r"\\")
    assert re.search(r"lus-phantom & singan & quick & .*--", tex)


def test_write_report_filters_and_errors(store, tmp_path):
    written = write_report(store, tmp_path / "out", filters={"generator": "ddpm"}, figures=False)
    assert {p.name for p in written} == {"leaderboard.tex", "leaderboard.md", "leaderboard.csv"}
    assert "sinddm" not in (tmp_path / "out" / "leaderboard.md").read_text()
    with pytest.raises(LookupError, match="usbench run"):
        write_report(store, tmp_path / "none", filters={"generator": "nope"})
    with pytest.raises(ValueError, match="cannot filter on 'colour'"):
        write_report(store, tmp_path / "none", filters={"colour": "red"})


def test_runs_of_different_configs_never_share_a_row(store):
    other = _run("a3", "ddpm", 3)
    other.config_hash = "fff999"  # e.g. a --set override or a documented fallback
    store.add_run(other, [_score("ssim", 0.9)])
    frame = load_scores(store)
    presets = sorted(set(frame[frame["generator"] == "ddpm"]["preset"]))
    assert presets == ["quick (abc)", "quick (fff999)"]
    board = leaderboard(frame).set_index(["generator", "preset", "column"])
    ssim = next(c for c in columns(frame) if c.label == "ssim").key
    assert board.loc[("ddpm", "quick (abc)", ssim)]["value"] == pytest.approx(0.6)
    assert board.loc[("ddpm", "quick (fff999)", ssim)]["value"] == pytest.approx(0.9)
    assert set(frame[frame["generator"] == "sinddm"]["preset"]) == {"quick"}


def test_lone_rows_are_not_bold_and_wide_boards_are_split(tmp_path):
    store = ResultStore(tmp_path)
    names = [f"m{i}" for i in range(8)]
    store.add_run(_run("x1", "ddpm", 1), [_score(n, 0.5) for n in names])
    frame = load_scores(store)
    board, cols = leaderboard(frame), columns(frame)
    tex = to_latex(board, cols, "one run")
    assert r"\mathbf" not in tex and "**" not in to_markdown(board, cols)
    assert tex.count(r"\begin{tabular}") == 2 and "(part 2 of 2)" in tex
    assert tex.count(r"\toprule") == 2 and tex.count("{") == tex.count("}")
    first, second = tex.split(r"\end{table}")[:2]
    assert "m3" in first and "m4" not in first and "m4" in second and "m7" in second


def test_comparison_grid_has_one_figure_per_dataset_and_a_row_per_run(tmp_path):
    import numpy as np
    from PIL import Image

    from usbench.figures import comparison_grid_figures

    store = ResultStore(tmp_path / "store")
    for run_id, generator, dataset, n_files in [
        ("r1", "ddpm", "lus", 3),
        ("r2", "bmap_ddpm", "lus", 9),
        ("r3", "ddpm", "folder:/x y", 2),
        ("r4", "ddpm", "lus", 0),  # no samples folder: no row
    ]:
        run = _run(run_id, generator, 1)
        run_dir = tmp_path / run_id
        (run_dir / "samples").mkdir(parents=True) if n_files else run_dir.mkdir()
        for i in range(n_files):
            grey = np.full((16, 16), 25 * i, dtype=np.uint8)
            Image.fromarray(grey).save(run_dir / "samples" / f"sample_{i:04d}.png")
        store.add_run(RunRow(**{**run.__dict__, "run_dir": str(run_dir), "dataset": dataset}), [])
    out = tmp_path / "figures"
    written = comparison_grid_figures(store, out, {"r1", "r2", "r3", "r4"})
    assert sorted(p.name for p in written) == sorted(
        ["comparison_lus.png", "comparison_lus.pdf",
         "comparison_folder--x-y.png", "comparison_folder--x-y.pdf"]
    )  # fmt: skip
    lus = np.asarray(Image.open(out / "comparison_lus.png"))
    # two rows (r1, r2; r4 has no samples) → taller than the one-row folder figure
    assert lus.shape[0] > np.asarray(Image.open(out / "comparison_folder--x-y.png")).shape[0]
    assert comparison_grid_figures(store, tmp_path / "none", {"r4"}) == []


def test_leaderboard_columns_follow_a_metric_selection(store, tmp_path):
    old = _run("d1", "ddpm", 4)
    store.add_run(old, [_score("fid-pool2", 9.0, higher=False)])  # stored by an older version
    frame = load_scores(store)
    assert "fid:layer=pool2" in set(frame["name"])  # old alias read as the canonical selector
    write_report(store, tmp_path / "seed", metrics="@seed002", figures=False)
    md = (tmp_path / "seed" / "leaderboard.md").read_text()
    assert "fid:layer=pool2" in md and "| ssim" in md and "nima" not in md
    csv = (tmp_path / "seed" / "leaderboard.csv").read_text()
    assert "nima" in csv  # the CSV keeps every stored metric
    write_report(store, tmp_path / "default", figures=False)
    default = (tmp_path / "default" / "leaderboard.md").read_text()
    assert "fid:layer=pool2" not in default and "nima" in default  # headline suite only
    with pytest.raises(LookupError, match="stored metrics: fid, fid:layer=pool2"):
        write_report(store, tmp_path / "x", metrics="kid", figures=False)


def test_configs_are_labelled_by_the_settings_that_differ(tmp_path):
    store = ResultStore(tmp_path)
    for run_id, conditioning, digest in (("c1", "class", "aaa111"), ("c2", "label-map", "bbb222")):
        run = _run(run_id, "bmap_ddpm", 0)
        run.config = {"conditioning": conditioning, "train": {"steps": 1000}}
        run.config_hash = digest
        store.add_run(run, [_score("ssim", 0.5 if conditioning == "class" else 0.8)])
    frame = load_scores(store)
    labels = dict(zip(frame["run_id"], frame["preset"], strict=True))
    assert labels == {"c1": "quick (conditioning=class)", "c2": "quick (conditioning=label-map)"}


def test_jobs_of_one_training_count_once(tmp_path):
    """Two jobs of one run key (the same fit and samples; one also ran a task) store the
    same metric scores: the leaderboard shows them as one run, not as two seeds."""
    store = ResultStore(tmp_path)
    for run_id in ("j1", "j2"):
        run = _run(run_id, "ddpm", 0)
        run.provenance = {"run_key": "k" * 16}
        store.add_run(run, [_score("ssim", 0.6, spread=0.05)])
    store.add_run(_run("j3", "ddpm", 1), [_score("ssim", 0.8, spread=0.05)])  # another seed
    row = leaderboard(load_scores(store)).iloc[0]
    assert row["runs"] == 2 and row["value"] == pytest.approx(0.7)
    assert row["spread"] == pytest.approx(0.1414213, rel=1e-5)  # std over the two seeds


def test_paper_tables_give_each_config_its_own_column(tmp_path):
    from usbench.paper_layouts import build_tables
    from usbench.score_frames import long_scores

    store = ResultStore(tmp_path)
    for run_id, conditioning in (("p1", "class"), ("p2", "label-map")):
        run = _run(run_id, "bmap_ddpm", 0)
        run.config = {"conditioning": conditioning}
        run.config_hash = run_id * 3
        scores = [_score(f"fid:layer=pool{k}", 10.0 * k + len(conditioning)) for k in (1, 2)]
        store.add_run(run, scores)
    (fid, _stats) = build_tables("seed002", long_scores(store))
    heads = [label for label, _ in fid.columns]
    assert heads == [
        "bmap_ddpm quick (conditioning=class) 1st MP",
        "bmap_ddpm quick (conditioning=class) 2nd MP",
        "bmap_ddpm quick (conditioning=label-map) 1st MP",
        "bmap_ddpm quick (conditioning=label-map) 2nd MP",
    ]
    ((_, cells),) = fid.rows
    assert [c.value for c in cells] == [15.0, 25.0, 19.0, 29.0]
