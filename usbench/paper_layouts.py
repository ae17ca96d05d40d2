"""The seed papers' table layouts (``usbench report --layout``).

``seed000`` (method × steps × SIFID/LPIPS/NIMA, mean ± std), ``seed002`` (FID on the
1st/2nd max-pool layer; LPIPS/SSIM/PSNR mean/std/range over images), ``seed003``
(SIFID/SSIM; per-class precision/recall/F1, accuracy and balanced accuracy per arm of
``classifier_gain``) and ``seed004`` (ablation rows: accuracy, F1, AUC-ROC, PPV, FID).
Each builder takes the long-form scores and, optionally, the paper's published rows.
"""

from __future__ import annotations

import pandas as pd

from usbench.paper_cells import (
    Cell,
    PaperTable,
    pick_metric,
    published_cell,
    score_cell,
    table_caption,
)
from usbench.reference_rows import published_rows
from usbench.score_frames import methods_by_config

LAYOUTS = ("seed000", "seed002", "seed003", "seed004")
_LPIPS = ("lpips", "lpips:mode=paired")
_TASK = "classifier_gain"


def seed000_table(frame: pd.DataFrame, published: pd.DataFrame | None) -> PaperTable:
    """Seed 000 Table 1: method × steps, SIFID↓ LPIPS↑ NIMA↑ (mean ± std)."""
    metrics = frame[frame["source"] == "metric"] if not frame.empty else frame
    lpips = pick_metric(metrics, _LPIPS) or "lpips"
    table = PaperTable(
        table_caption(
            "SIFID, LPIPS and NIMA per method and training steps",
            metrics,
            f"LPIPS variant: {lpips}",
        ),  # fmt: skip
        ["Method", "Steps"],
        [("SIFID", False), ("LPIPS", True), ("NIMA", True)],
        digits=2,
    )
    for (gen, steps), group in metrics.groupby(["generator", "steps"], sort=True):
        cells = [score_cell(group, metric=m) for m in ("sifid", lpips, "nima")]
        if any(cells):
            table.rows.append(([gen, _steps(steps)], cells))
    for (method, setting), group in _groups(published, ["method", "setting"]):
        cells = [published_cell(group, metric=m) for m in ("sifid", "lpips", "nima")]
        table.published.append(([method, setting], cells))
    return table


def _steps(steps) -> str:
    if isinstance(steps, (int, float)) and steps >= 1000:
        return f"{steps / 1000:g}k"
    return str(steps)


def _groups(published: pd.DataFrame | None, keys: list[str]):
    if published is None or published.empty:
        return []
    return list(published.groupby(keys, sort=False))


def seed002_fid_table(frame: pd.DataFrame, published: pd.DataFrame | None) -> PaperTable:
    """Seed 002 Table 1: rows datasets, columns generator × {1st MP, 2nd MP} FID↓."""
    layers = ["fid:layer=pool1", "fid:layer=pool2"]
    metrics = frame[frame["metric"].isin(layers)] if not frame.empty else frame
    methods = sorted(set(metrics["generator"])) if not metrics.empty else []
    if published is not None and not published.empty:
        methods += [m for m in dict.fromkeys(published["method"]) if m not in methods]
    columns = [(f"{m} {layer}", False) for m in methods for layer in ("1st MP", "2nd MP")]
    table = PaperTable(
        table_caption(
            "FID from the 1st and 2nd max-pool layers of Inception",
            metrics,
            "Published methods' columns are the papers' own numbers",
        ),  # fmt: skip
        ["Dataset"],
        columns,
    )
    for dataset, group in metrics.groupby("dataset", sort=True) if not metrics.empty else []:
        cells = [score_cell(group, spread=False, generator=m, metric=f"fid:layer=pool{k}")
                 for m in methods for k in (1, 2)]  # fmt: skip
        table.rows.append(([dataset], cells))
    for (dataset,), group in _groups(published, ["dataset"]):
        cells = [published_cell(group, method=m, metric=f"fid-pool{k}") for m in methods
                 for k in (1, 2)]  # fmt: skip
        table.published.append(([dataset], cells))
    return table


def seed002_stats_table(frame: pd.DataFrame, published: pd.DataFrame | None) -> PaperTable:
    """Seed 002 Table 2: rows metric × {Mean, Std. Dev., Range} over images, columns
    dataset × generator (ours), published columns after them."""
    names = [m for m in (pick_metric(frame, ("lpips:mode=paired", "lpips")), "ssim", "psnr") if m]
    metrics = frame[frame["metric"].isin(names)] if not frame.empty else frame
    ours = sorted({(d, g) for d, g in zip(metrics["dataset"], metrics["generator"], strict=True)})
    pub_cols = []
    if published is not None and not published.empty:
        pub_cols = list(dict.fromkeys(zip(published["dataset"], published["method"], strict=True)))
    columns = [(f"{g} ({d})", None) for d, g in ours]
    columns += [(f"{m} ({d})†", None) for d, m in pub_cols]
    pairing = _pairings(metrics, ours)
    table = PaperTable(
        table_caption(
            "LPIPS, SSIM and PSNR over generated images: mean, std and range",
            metrics,
            f"pairs: {pairing}; † published numbers, not comparable",
        ),  # fmt: skip
        ["Metric", "Statistic"],
        columns,
    )
    for name in names:
        for stat, label in (("mean", "Mean"), ("std", "Std. Dev."), ("range", "Range")):
            cells = [_stat_cell(metrics, d, g, name, stat) for d, g in ours]
            pub_metric = "lpips" if name.startswith("lpips") else name
            cells += [published_cell(published, dataset=d, method=m, metric=pub_metric, stat=stat)
                      for d, m in pub_cols]  # fmt: skip
            table.rows.append(([name.upper() if stat == "mean" else "", label], cells))
    return table


def _pairings(metrics: pd.DataFrame, ours) -> str:
    """How each column's images were paired with real ones (seed 002: by label map)."""
    if metrics.empty or "pairing" not in metrics:
        return "none"
    said = []
    for d, g in ours:
        rule = metrics[(metrics["dataset"] == d) & (metrics["generator"] == g)]["pairing"]
        said.append(f"{g} ({d}) by {rule.iloc[0] or 'unknown'}")
    return ", ".join(said) or "none"


def _stat_cell(frame, dataset, generator, metric, stat) -> Cell | None:
    sel = frame[(frame["dataset"] == dataset) & (frame["generator"] == generator)
                & (frame["metric"] == metric)]  # fmt: skip
    if sel.empty or not sel["per_sample"].iloc[0]:
        return None
    values = pd.Series(sel["per_sample"].iloc[0], dtype=float)
    number = {"mean": values.mean(), "std": values.std(ddof=0),
              "range": values.max() - values.min()}[stat]  # fmt: skip
    return Cell(float(number))


def seed003_quality_table(frame: pd.DataFrame, published: pd.DataFrame | None) -> PaperTable:
    """Seed 003 Table 2: average SIFID↓ and SSIM↑ per generator."""
    metrics = frame[frame["metric"].isin(["sifid", "ssim"])] if not frame.empty else frame
    table = PaperTable(
        table_caption("Average SIFID and SSIM per generator", metrics), ["Dataset", "Model"],
        [("SIFID", False), ("SSIM", True)], digits=2,
    )  # fmt: skip
    for (dataset, gen), group in metrics.groupby(["dataset", "generator"]) if len(metrics) else []:
        table.rows.append(
            ([dataset, gen], [score_cell(group, metric=m) for m in ("sifid", "ssim")])
        )
    for (dataset, method), group in _groups(published, ["dataset", "method"]):
        cells = [published_cell(group, metric=m) for m in ("sifid", "ssim")]
        table.published.append(([dataset, method], cells))
    return table


_ARM_LABEL = {
    "real": "w/o data aug.",
    "real+aug": "w/ regular aug.",
    "real+synthetic": "w/ {g} aug.",
    "real+synthetic+aug": "w/ {g} aug. and regular aug.",
}


def seed003_task_tables(frame: pd.DataFrame, published: pd.DataFrame | None) -> list[PaperTable]:
    """Seed 003 Table 3, one per (dataset, minority share): per arm and class, Prec./Rec./
    F1 (and Acc./Bal. Acc. and the kept epoch of the classifier on each arm's first row),
    mean ± std over folds. The real and
    regular-augmentation arms come from the first generator's run (they do not depend on
    the generator)."""
    tasks = frame[frame["task"] == _TASK] if not frame.empty else frame
    tables = []
    if tasks.empty:
        return tables
    tasks = tasks.assign(share=tasks["setting"].str.split("/").str[1])
    for (dataset, share), group in tasks.groupby(["dataset", "share"], sort=True):
        table = PaperTable(
            table_caption(
                f"Classifier gain on {dataset}, {share.replace('%', ' %')} of the "
                "minority's real training images; mean ± std over folds",
                group,
                _variant_note(group),
            ),  # fmt: skip
            ["Arm", "Class"],
            [
                ("Prec.", True),
                ("Rec.", True),
                ("F1", True),
                ("Acc.", True),
                ("Bal. Acc.", True),
                ("Kept epoch", None),
            ],  # fmt: skip
            digits=2,
        )
        first = sorted(set(group["generator"]))[0]
        for gen in sorted(set(group["generator"])):
            for arm, label in _ARM_LABEL.items():
                if "synthetic" not in arm and gen != first:
                    continue
                _arm_rows(table.rows, group[group["generator"] == gen], arm, label.format(g=gen))
        pub = None if published is None else published[published["setting"].str.endswith(share)]
        for (method, setting), pg in _groups(pub, ["method", "setting"]):
            arm = setting.split("/")[0]
            label = _ARM_LABEL[arm].format(g=method)
            _arm_rows(table.published, pg.rename(columns={"method": "generator"}), arm, label,
                      published=True)  # fmt: skip
        tables.append(table)
    return tables


def _arm_rows(out, group, arm, label, published: bool = False) -> None:
    get = published_cell if published else score_cell
    sel = group[group["setting"].str.startswith(arm + "/")]
    if sel.empty:
        return
    classes = [c for c in dict.fromkeys(sel["class"]) if c]
    for i, cls in enumerate(classes):
        cells = [get(sel, metric=m, **{"class": cls}) for m in ("precision", "recall", "f1")]
        overall = [get(sel, metric=m, **{"class": ""})
                   for m in ("accuracy", "balanced_accuracy", "kept_epoch")]  # fmt: skip
        out.append(([label if i == 0 else "", cls], cells + (overall if i == 0 else [None] * 3)))


def _variant_note(group: pd.DataFrame) -> str:
    variant = group["variant"].iloc[0] or {}
    keys = (
        "classifier",
        "pretrained",
        "folds",
        "epochs",
        "patience",
        "image_size",
        "synthetic_mode",
    )
    return "Variant: " + ", ".join(f"{k}={variant.get(k)}" for k in keys if k in variant)


def seed004_table(frame: pd.DataFrame, published: pd.DataFrame | None) -> PaperTable:
    """Seed 004 Table 1: ablation rows (real, real + generator, + regular aug.) ×
    Accuracy↑ F1↑ AUC-ROC↑ PPV↑ and the generator's FID↓, at the largest minority share."""
    cols = [("Accuracy", True), ("F1-Score", True), ("AUC-ROC", True), ("PPV", True),
            ("FID", False)]  # fmt: skip
    names = ("accuracy", "macro_f1", "auc_roc", "ppv")
    tasks = frame[frame["task"] == _TASK] if not frame.empty else frame
    table = PaperTable(table_caption("Ablation: classification with and without synthetic images",
                                tasks, _variant_note(tasks) if len(tasks) else ""),
                       ["Components"], cols)  # fmt: skip
    if not tasks.empty:
        share = max(set(tasks["setting"].str.split("/").str[1]), key=lambda s: int(s[9:-1]))
        for gen in sorted(set(tasks["generator"])):
            mine = tasks[(tasks["generator"] == gen) & tasks["setting"].str.endswith(share)]
            fid = score_cell(frame[(frame["generator"] == gen)], metric="fid")
            for arm, label in (("real", "Baseline (Real)"), ("real+synthetic", f"Real + {gen}"),
                               ("real+synthetic+aug", f"Real + {gen} + aug.")):  # fmt: skip
                if arm == "real" and gen != sorted(set(tasks["generator"]))[0]:
                    continue
                cells = [score_cell(mine, setting=f"{arm}/{share}", metric=m, **{"class": ""})
                         for m in names]  # fmt: skip
                table.rows.append(([label], cells + [None if arm == "real" else fid]))
    for (method, setting), group in _groups(published, ["method", "setting"]):
        label = "Baseline (Real)" if setting.startswith("real/") else f"Real + {method}"
        table.published.append(
            ([label], [published_cell(group, metric=m) for m in (*names, "fid")])
        )
    return table


def build_tables(
    layout: str, frame: pd.DataFrame, with_published: bool = False
) -> list[PaperTable]:
    """The tables of ``layout`` (one of :data:`LAYOUTS`), best cells marked."""

    def pub(seed: str, table: str) -> pd.DataFrame | None:
        return published_rows(seed, table) if with_published else None

    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}, generic")
    frame = methods_by_config(frame)
    tables = {
        "seed000": lambda: [seed000_table(frame, pub("000", "1"))],
        "seed002": lambda: [
            seed002_fid_table(frame, pub("002", "1")),
            seed002_stats_table(frame, pub("002", "2")),
        ],  # fmt: skip
        "seed003": lambda: [
            seed003_quality_table(frame, pub("003", "2")),
            *seed003_task_tables(frame, pub("003", "3")),
        ],  # fmt: skip
        "seed004": lambda: [seed004_table(frame, pub("004", "1"))],
    }[layout]()
    for table in tables:
        table.mark_best()
    return tables
