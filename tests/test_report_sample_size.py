"""The leaderboard shows N beside every set-metric cell and warns, in a numbered note under
the Markdown and LaTeX tables, where N is below what the metric needs."""

from __future__ import annotations

import pytest
from test_store_report import _run

from usbench.metrics._lib.frechet import rank_warning
from usbench.report import chosen_columns, leaderboard, load_scores, to_latex, to_markdown
from usbench.sample_size_notes import small_n_note
from usbench.store import ResultStore, ScoreRow


def _score(name: str, n: int, variant: dict, details: dict, higher: bool = False) -> ScoreRow:
    return ScoreRow(
        source="metric",
        name=name,
        version="1",
        variant=variant,
        status="ok",
        higher_is_better=higher,
        value=12.5,
        spread=0.0,
        n=n,
        details=details,
    )


def _scores(n: int) -> list[ScoreRow]:
    return [
        _score("fid", n, {"dims": 2048}, {"n_real": 40, "warning": rank_warning(n, 2048)}),
        _score("kid", n, {"subset_size": 1000}, {"subset_size": max(2, n // 2)}),
        _score("prdc", n, {"k": 5}, {"n_real": 40}, higher=True),
        _score("ssim", n, {}, {}, higher=True),
    ]


@pytest.fixture
def store(tmp_path) -> ResultStore:
    store = ResultStore(tmp_path)
    store.add_run(_run("small", "ddpm", 1), _scores(4))
    store.add_run(_run("large", "sinddm", 1), _scores(3000))
    return store


def _board(store):
    frame = load_scores(store)
    return leaderboard(frame), chosen_columns(frame, "fid,kid,prdc,ssim")


def test_board_records_n_and_the_notes(store):
    board, _ = _board(store)
    small = board[board["generator"] == "ddpm"].set_index("column")
    large = board[board["generator"] == "sinddm"].set_index("column")
    fid = next(c for c in small.index if c.startswith("fid@"))
    assert small.loc[fid, "n"] == 4 and bool(small.loc[fid, "set_metric"])
    assert small.loc[fid, "note"] == "N=4 <= 2048 feature dims: the covariance is rank-deficient"
    assert large.loc[fid, "note"] == "" and large.loc[fid, "n"] == 3000
    ssim = next(c for c in small.index if c.startswith("ssim@"))
    assert not small.loc[ssim, "set_metric"] and small.loc[ssim, "note"] == ""


def test_markdown_shows_n_and_numbered_warnings(store):
    board, cols = _board(store)
    md = to_markdown(board, cols)
    ddpm = next(line for line in md.splitlines() if "| ddpm |" in line)
    sinddm = next(line for line in md.splitlines() if "| sinddm |" in line)
    assert ddpm.count("(N=4)") == 3 and "[1]" in ddpm and "[2]" in ddpm and "[3]" in ddpm
    assert sinddm.count("(N=3000)") == 3 and "[" not in sinddm
    ssim_cell = ddpm.rstrip(" |").rsplit("|", 1)[-1]
    assert "N=" not in ssim_cell  # a per-image metric has no set size to show
    notes = md.split("Sample-size warnings")[1]
    assert "[1] fid: N=4 <= 2048 feature dims: the covariance is rank-deficient." in notes
    assert "[2] kid: KID subsets of 2 images, fewer than subset_size=1000 (N=4)." in notes
    assert "[3] prdc: N=4 <= k=5: every k-NN ball holds the whole set." in notes


def test_latex_shows_n_and_a_table_note(store):
    board, cols = _board(store)
    tex = to_latex(board, cols, "small N")
    assert r"$ {\scriptsize(N=4)}$^{1}$ & " in tex  # value, N, note mark
    assert r"$ {\scriptsize(N=3000)} & " in tex
    assert r"$^{1}$\,fid: N=4 $\le$ 2048 feature dims" in tex
    assert tex.count("{") == tex.count("}")
    note = tex.split(r"\end{tabular}")[1]
    assert note.index(r"\footnotesize") < note.index(r"\end{table}")


def test_notes_for_rows_stored_without_a_warning():
    # FID rows stored before the warning field existed are judged from the variant's dims
    assert small_n_note("fid:layer=pool2", {"dims": 192}, {}, 150).startswith("N=150 <= 192")
    assert small_n_note("fid:layer=pool2", {"dims": 192}, {}, 193) is None
    assert small_n_note("kid", {"subset_size": 1000}, {"subset_size": 1000}, 5000) is None
    assert small_n_note("vendi", {"dims": 2048}, {}, 10) is None
