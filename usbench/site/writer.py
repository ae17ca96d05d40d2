"""``usbench report --format html``: the whole static site, from a results store (or, with
no store, from written ``leaderboard.csv`` files and their figures).

Layout of the site folder::

    index.html            leaderboards, one per dataset, filters and column picker
    compare.html          runs side by side, metric agreement
    runs/<run id>.html    one page per run; its images under runs/<run id>/
    figures/              report figures (metric distributions, task curves)
    assets/               site.css, site.js

Every page works from the file system (no server, no internet); the writer checks that
every ``src`` and ``href`` resolves before it returns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from usbench import catalog
from usbench import report as rp
from usbench.site.agreement import metric_agreement
from usbench.site.boards import boards_from_csv, boards_from_store
from usbench.site.files import SiteFiles
from usbench.site.links import broken_links
from usbench.site.model import ROW_KINDS, Board, Comparison, RunPage
from usbench.site.render import Renderer
from usbench.site.runs import build_run_pages, run_href
from usbench.store import ResultStore

STRIP = 8  # samples per run on the comparison page


def write_site(
    store: ResultStore,
    out: Path,
    filters: Mapping[str, str] | None = None,
    real_images: bool = True,
    with_published: bool = True,
) -> list[Path]:
    """Write the site for every run in ``store`` matching ``filters`` into ``out``.

    ``real_images``: reopen each run's dataset to show real training images of its split
    beside its samples (a run whose data cannot be opened here says so on its page).
    ``with_published``: add the papers' published numbers as labelled, unranked rows.
    Returns the pages written. Raises ``LookupError`` when nothing matches and
    ``RuntimeError`` naming any link that does not resolve.
    """
    frame = rp.load_scores(store, filters)
    if frame.empty:
        raise LookupError(
            f"No scores in {store.path}" + (f" matching {dict(filters)}" if filters else "")
            + ". Run `usbench run --generator ddpm --dataset lus-phantom` first."
        )  # fmt: skip
    kept = set(frame["run_id"])
    runs = [r for r in store.runs() if r["run_id"] in kept]
    files = SiteFiles(out)
    pages = build_run_pages(runs, store.scores(), files, real_images)
    _task_curves(store, pages, out)
    every_dataset = "dataset" not in (filters or {})
    boards = boards_from_store(frame, run_href, with_published and every_dataset)
    renderer = Renderer(out, f"the results store {store.path.name} ({len(runs)} runs)")
    written = renderer.assets()
    figures = _report_figures(store, filters, out)
    written.append(_index(renderer, boards, figures))
    written += [renderer.page("run.html", p.href, title=p.run_id, page="run", run=p) for p in pages]
    comparisons = _comparisons(frame, pages)
    written.append(renderer.page("compare.html", "compare.html", title="Comparison",
                                 page="compare", comparisons=comparisons, strip=STRIP))  # fmt: skip
    _check(out)
    return written


def write_site_from_leaderboards(folders: Sequence[Path], out: Path) -> list[Path]:
    """A leaderboard-only site from folders that ``usbench report`` wrote (each with a
    ``leaderboard.csv`` and a ``figures/`` folder), for when the store is not at hand: the
    same numbers and figures, no CIs, no run pages."""
    boards: list[Board] = []
    figures: list[tuple[str, str]] = []
    files = SiteFiles(out)
    for number, folder in enumerate(folders):
        boards += boards_from_csv(folder / "leaderboard.csv", with_published=number == 0)
        for png in sorted((folder / "figures").glob("*.png")):
            figures.append(
                (png.stem.replace("_", " "), files.copy(png, f"figures/{number}/{png.name}"))
            )
    names = ", ".join(str(f / "leaderboard.csv") for f in folders)
    renderer = Renderer(out, names)
    written = renderer.assets()
    written.append(_index(renderer, boards, figures))
    written.append(renderer.page("compare.html", "compare.html", title="Comparison",
                                 page="compare", comparisons=[], strip=STRIP))  # fmt: skip
    _check(out)
    return written


def _index(renderer: Renderer, boards: list[Board], figures: list[tuple[str, str]]) -> Path:
    boards = sorted(boards, key=lambda b: b.published_only)  # ours first, papers' data last
    rows = [row for board in boards for row in board.rows]
    filters = {
        name: sorted({str(getattr(row, name)) for row in rows})
        for name in ("dataset", "preset", "generator")
    }
    kinds = [k for k in ROW_KINDS if any(row.kind == k for row in rows)]
    extra = sorted({c.label for board in boards for c in board.columns if not c.headline})
    return renderer.page(
        "index.html", "index.html", title="Leaderboard", page="index", boards=boards,
        filters=filters, kinds=kinds, extra_columns=extra,
        figures=figures,
    )  # fmt: skip


def _comparisons(frame: pd.DataFrame, pages: list[RunPage]) -> list[Comparison]:
    headline = list(catalog.suite("default"))
    out = []
    for dataset, part in frame.groupby("dataset", sort=True):
        runs = sorted((p for p in pages if p.dataset == dataset),
                      key=lambda p: (p.generator, p.preset, p.seed))  # fmt: skip
        metrics = [m for m in headline if m in set(part["name"])]
        out.append(Comparison(str(dataset), runs, metric_agreement(part, metrics), metrics))
    return out


def _report_figures(store: ResultStore, filters, out: Path) -> list[tuple[str, str]]:
    """Metric distributions and task curves of the whole report, as on the index page."""
    from usbench.figures import metric_distribution_figures, minority_curve_figures
    from usbench.score_frames import long_scores

    long = long_scores(store, filters)
    drawn = metric_distribution_figures(long, out / "figures")
    drawn += minority_curve_figures(long, out / "figures")
    return _pngs(drawn, out)


def _task_curves(store: ResultStore, pages: list[RunPage], out: Path) -> None:
    """Each run with a downstream task gets its own curve (balanced accuracy vs share)."""
    from usbench.figures import minority_curve_figures
    from usbench.score_frames import long_scores

    for page in pages:
        if page.tasks:
            drawn = minority_curve_figures(
                long_scores(store, {"run_id": page.run_id}), out / f"runs/{page.run_id}/figures"
            )
            page.figures += _pngs(drawn, out)


def _pngs(paths: list[Path], out: Path) -> list[tuple[str, str]]:
    keep = []
    for path in paths:
        if path.suffix == ".pdf":
            path.unlink()  # the site shows PNGs; the PDFs are for papers (usbench report)
            continue
        keep.append((path.stem.replace("_", " "), path.relative_to(out).as_posix()))
    return keep


def _check(out: Path) -> None:
    broken = broken_links(out)
    if broken:
        raise RuntimeError("the site has links that do not resolve: " + "; ".join(broken[:10]))
