"""Paper-ready tables in the layouts of the seed papers (``usbench report --layout``).

Layouts: ``seed000`` (method × steps × SIFID/LPIPS/NIMA, mean ± std), ``seed002`` (FID on
the 1st/2nd max-pool layer; LPIPS/SSIM/PSNR mean/std/range over images), ``seed003``
(SIFID/SSIM; per-class precision/recall/F1, accuracy and balanced accuracy per arm of
``classifier_gain``) and ``seed004`` (ablation rows: accuracy, F1, AUC-ROC, PPV, FID).

Every table is a :class:`PaperTable` built from the store's scores in a long form
(:func:`long_scores`), rendered to booktabs LaTeX or Markdown. Headers carry ↑/↓, the
best of our rows per column is bold, and the caption gives N, runs and the variant.
Published reference rows (:mod:`usbench.reference_rows`) are appended below a rule,
in italics with their citation, only when asked, and never count for "best".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from usbench.store import ResultStore

LAYOUTS = ("seed000", "seed002", "seed003", "seed004")
_LPIPS = ("lpips-diversity", "lpips", "lpips-paired")
_TASK = "classifier_gain"


@dataclass(frozen=True)
class Cell:
    """A number with an optional ± spread; ``best`` marks it bold."""

    value: float
    spread: float | None = None
    best: bool = False

    def text(self, digits: int, latex: bool) -> str:
        if self.value is None or not math.isfinite(self.value):
            return "--"
        body = f"{self.value:.{digits}f}"
        if self.spread is not None and math.isfinite(self.spread):
            body += (r" \pm " if latex else " ± ") + f"{self.spread:.{digits}f}"
        if latex:
            return rf"$\mathbf{{{body}}}$" if self.best else f"${body}$"
        return f"**{body}**" if self.best else body


@dataclass
class PaperTable:
    """One table: ``keys`` label columns, then value ``columns`` (label, higher-is-better
    or ``None`` for no direction); ``rows`` of ours, ``published`` rows below a rule."""

    caption: str
    keys: list[str]
    columns: list[tuple[str, bool | None]]
    rows: list[tuple[list[str], list[Cell | None]]] = field(default_factory=list)
    published: list[tuple[list[str], list[Cell | None]]] = field(default_factory=list)
    digits: int = 3

    def mark_best(self) -> None:
        """Bold the best of *our* rows per column (by its direction); published rows never."""
        for j, (_label, higher) in enumerate(self.columns):
            cells = [r[1][j] for r in self.rows if r[1][j] is not None]
            finite = [c.value for c in cells if c.value is not None and math.isfinite(c.value)]
            if higher is None or len(finite) < 2:
                continue
            target = max(finite) if higher else min(finite)
            for _keys, values in self.rows:
                if values[j] is not None and values[j].value == target:
                    values[j] = Cell(values[j].value, values[j].spread, best=True)


# -- scores in long form -----------------------------------------------------------------
def long_scores(store: ResultStore, filters: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Every ``ok`` score, one line per (dataset, generator, preset, setting, class,
    metric), averaged over runs: ``value`` = mean over runs, ``spread`` = std over runs
    when there are several, else the run's own spread; ``n`` = smallest N; ``runs``;
    ``steps`` (the generator's ``steps`` setting, "" if it has none); ``per_sample``
    pooled over runs; ``variant`` of the first run."""
    runs = {r["run_id"]: r for r in store.runs()}
    records = []
    for s in store.scores():
        if s["status"] != "ok" or s["value"] is None:
            continue
        if any(s.get(k) != v for k, v in (filters or {}).items()):
            continue
        setting, cls = _split_group(s["grp"])
        metric = s["name"]
        if s["source"] == "task":
            metric = metric.split("/", 1)[1]
        steps = runs[s["run_id"]]["config"].get("steps", "")
        records.append({**{k: s[k] for k in ("dataset", "generator", "preset", "run_id",
                                             "config_hash")},
                        "source": s["source"], "task": s["name"].split("/")[0],
                        "setting": setting, "class": cls, "metric": metric, "steps": steps,
                        "value": s["value"], "spread": s["spread"], "n": s["n"],
                        "hib": bool(s["higher_is_better"]), "variant": s["variant"],
                        "per_sample": s["per_sample"]})  # fmt: skip
    frame = pd.DataFrame.from_records(records)
    if frame.empty:
        return frame
    from usbench.report import config_labels

    frame["preset"] = config_labels(frame)
    return _over_runs(frame)


def _split_group(group: str) -> tuple[str, str]:
    if "/class=" in group:
        setting, cls = group.split("/class=", 1)
        return setting, cls
    return group, ""


def _over_runs(frame: pd.DataFrame) -> pd.DataFrame:
    keys = ["dataset", "generator", "preset", "source", "task", "setting", "class", "metric",
            "steps"]  # fmt: skip
    out = []
    for key, group in frame.groupby(keys, sort=True):
        many = len(group) > 1
        pooled = [v for ps in group["per_sample"] if ps for v in ps]
        out.append({**dict(zip(keys, key, strict=True)),
                    "value": group["value"].mean(),
                    "spread": group["value"].std(ddof=1) if many else group["spread"].iloc[0],
                    "n": int(group["n"].min()), "runs": len(group), "hib": group["hib"].iloc[0],
                    "variant": group["variant"].iloc[0], "per_sample": pooled or None})  # fmt: skip
    return pd.DataFrame.from_records(out)


def _pick(frame: pd.DataFrame, names: tuple[str, ...]) -> str | None:
    present = set(frame["metric"]) if not frame.empty else set()
    return next((n for n in names if n in present), None)


def _cell(frame: pd.DataFrame, spread: bool = True, **where: str) -> Cell | None:
    sel = frame
    for k, v in where.items():
        sel = sel[sel[k] == v]
    if sel.empty:
        return None
    row = sel.iloc[0]
    return Cell(float(row["value"]), float(row["spread"]) if spread else None)


def _pub_cell(pub: pd.DataFrame, **where: str) -> Cell | None:
    sel = pub
    for k, v in where.items():
        sel = sel[sel[k] == v]
    if sel.empty:
        return None
    spread = sel["spread"].iloc[0]
    return Cell(float(sel["value"].iloc[0]), None if math.isnan(spread) else float(spread))


def _caption(title: str, frame: pd.DataFrame, note: str = "") -> str:
    n = int(frame["n"].min()) if not frame.empty else 0
    runs = int(frame["runs"].max()) if not frame.empty else 0
    presets = ", ".join(sorted(set(frame["preset"]))) if not frame.empty else "-"
    spread = "std over seeds" if runs > 1 else "std over samples or folds of one run"
    text = f"{title} (ours: preset {presets}; N ≥ {n}; up to {runs} run(s); ± is the {spread})"
    return text + (f". {note}" if note else "")


# -- layouts -----------------------------------------------------------------------------
def seed000_table(frame: pd.DataFrame, published: pd.DataFrame | None) -> PaperTable:
    """Seed 000 Table 1: method × steps, SIFID↓ LPIPS↑ NIMA↑ (mean ± std)."""
    metrics = frame[frame["source"] == "metric"] if not frame.empty else frame
    lpips = _pick(metrics, _LPIPS) or "lpips-diversity"
    table = PaperTable(
        _caption(
            "SIFID, LPIPS and NIMA per method and training steps",
            metrics,
            f"LPIPS variant: {lpips}",
        ),  # fmt: skip
        ["Method", "Steps"],
        [("SIFID", False), ("LPIPS", True), ("NIMA", True)],
        digits=2,
    )
    for (gen, steps), group in metrics.groupby(["generator", "steps"], sort=True):
        cells = [_cell(group, metric=m) for m in ("sifid", lpips, "nima")]
        if any(cells):
            table.rows.append(([gen, _steps(steps)], cells))
    for (method, setting), group in _groups(published, ["method", "setting"]):
        cells = [_pub_cell(group, metric=m) for m in ("sifid", "lpips", "nima")]
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
    metrics = frame[frame["metric"].isin(["fid-pool1", "fid-pool2"])] if not frame.empty else frame
    methods = sorted(set(metrics["generator"])) if not metrics.empty else []
    if published is not None and not published.empty:
        methods += [m for m in dict.fromkeys(published["method"]) if m not in methods]
    columns = [(f"{m} {layer}", False) for m in methods for layer in ("1st MP", "2nd MP")]
    table = PaperTable(
        _caption(
            "FID from the 1st and 2nd max-pool layers of Inception",
            metrics,
            "Published methods' columns are the papers' own numbers",
        ),  # fmt: skip
        ["Dataset"],
        columns,
    )
    for dataset, group in metrics.groupby("dataset", sort=True) if not metrics.empty else []:
        cells = [_cell(group, spread=False, generator=m, metric=f"fid-pool{k}")
                 for m in methods for k in (1, 2)]  # fmt: skip
        table.rows.append(([dataset], cells))
    for (dataset,), group in _groups(published, ["dataset"]):
        cells = [_pub_cell(group, method=m, metric=f"fid-pool{k}") for m in methods
                 for k in (1, 2)]  # fmt: skip
        table.published.append(([dataset], cells))
    return table


def seed002_stats_table(frame: pd.DataFrame, published: pd.DataFrame | None) -> PaperTable:
    """Seed 002 Table 2: rows metric × {Mean, Std. Dev., Range} over images, columns
    dataset × generator (ours), published columns after them."""
    names = [m for m in (_pick(frame, ("lpips-paired", "lpips")), "ssim", "psnr") if m]
    metrics = frame[frame["metric"].isin(names)] if not frame.empty else frame
    ours = sorted({(d, g) for d, g in zip(metrics["dataset"], metrics["generator"], strict=True)})
    pub_cols = []
    if published is not None and not published.empty:
        pub_cols = list(dict.fromkeys(zip(published["dataset"], published["method"], strict=True)))
    columns = [(f"{g} ({d})", None) for d, g in ours]
    columns += [(f"{m} ({d})†", None) for d, m in pub_cols]
    table = PaperTable(
        _caption(
            "LPIPS, SSIM and PSNR over generated images: mean, std and range",
            metrics,
            "† published numbers, not comparable",
        ),  # fmt: skip
        ["Metric", "Statistic"],
        columns,
    )
    for name in names:
        for stat, label in (("mean", "Mean"), ("std", "Std. Dev."), ("range", "Range")):
            cells = [_stat_cell(metrics, d, g, name, stat) for d, g in ours]
            pub_metric = "lpips" if name.startswith("lpips") else name
            cells += [_pub_cell(published, dataset=d, method=m, metric=pub_metric, stat=stat)
                      for d, m in pub_cols]  # fmt: skip
            table.rows.append(([name.upper() if stat == "mean" else "", label], cells))
    return table


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
        _caption("Average SIFID and SSIM per generator", metrics), ["Dataset", "Model"],
        [("SIFID", False), ("SSIM", True)], digits=2,
    )  # fmt: skip
    for (dataset, gen), group in metrics.groupby(["dataset", "generator"]) if len(metrics) else []:
        table.rows.append(([dataset, gen], [_cell(group, metric=m) for m in ("sifid", "ssim")]))
    for (dataset, method), group in _groups(published, ["dataset", "method"]):
        cells = [_pub_cell(group, metric=m) for m in ("sifid", "ssim")]
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
    F1 (and Acc./Bal. Acc. on each arm's first row), mean ± std over folds. The real and
    regular-augmentation arms come from the first generator's run (they do not depend on
    the generator)."""
    tasks = frame[frame["task"] == _TASK] if not frame.empty else frame
    tables = []
    if tasks.empty:
        return tables
    tasks = tasks.assign(share=tasks["setting"].str.split("/").str[1])
    for (dataset, share), group in tasks.groupby(["dataset", "share"], sort=True):
        table = PaperTable(
            _caption(
                f"Classifier gain on {dataset}, {share.replace('%', ' %')} of the "
                "minority's real training images; mean ± std over folds",
                group,
                _variant_note(group),
            ),  # fmt: skip
            ["Arm", "Class"],
            [("Prec.", True), ("Rec.", True), ("F1", True), ("Acc.", True), ("Bal. Acc.", True)],
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
    get = _pub_cell if published else _cell
    sel = group[group["setting"].str.startswith(arm + "/")]
    if sel.empty:
        return
    classes = [c for c in dict.fromkeys(sel["class"]) if c]
    for i, cls in enumerate(classes):
        cells = [get(sel, metric=m, **{"class": cls}) for m in ("precision", "recall", "f1")]
        overall = [get(sel, metric=m, **{"class": ""}) for m in ("accuracy", "balanced_accuracy")]
        out.append(([label if i == 0 else "", cls], cells + (overall if i == 0 else [None, None])))


def _variant_note(group: pd.DataFrame) -> str:
    variant = group["variant"].iloc[0] or {}
    keys = ("classifier", "pretrained", "folds", "epochs", "image_size", "synthetic_mode")
    return "Variant: " + ", ".join(f"{k}={variant.get(k)}" for k in keys if k in variant)


def seed004_table(frame: pd.DataFrame, published: pd.DataFrame | None) -> PaperTable:
    """Seed 004 Table 1: ablation rows (real, real + generator, + regular aug.) ×
    Accuracy↑ F1↑ AUC-ROC↑ PPV↑ and the generator's FID↓, at the largest minority share."""
    cols = [("Accuracy", True), ("F1-Score", True), ("AUC-ROC", True), ("PPV", True),
            ("FID", False)]  # fmt: skip
    names = ("accuracy", "macro_f1", "auc_roc", "ppv")
    tasks = frame[frame["task"] == _TASK] if not frame.empty else frame
    table = PaperTable(_caption("Ablation: classification with and without synthetic images",
                                tasks, _variant_note(tasks) if len(tasks) else ""),
                       ["Components"], cols)  # fmt: skip
    if not tasks.empty:
        share = max(set(tasks["setting"].str.split("/").str[1]), key=lambda s: int(s[9:-1]))
        for gen in sorted(set(tasks["generator"])):
            mine = tasks[(tasks["generator"] == gen) & tasks["setting"].str.endswith(share)]
            fid = _cell(frame[(frame["generator"] == gen)], metric="fid")
            for arm, label in (("real", "Baseline (Real)"), ("real+synthetic", f"Real + {gen}"),
                               ("real+synthetic+aug", f"Real + {gen} + aug.")):  # fmt: skip
                if arm == "real" and gen != sorted(set(tasks["generator"]))[0]:
                    continue
                cells = [_cell(mine, setting=f"{arm}/{share}", metric=m, **{"class": ""})
                         for m in names]  # fmt: skip
                table.rows.append(([label], cells + [None if arm == "real" else fid]))
    for (method, setting), group in _groups(published, ["method", "setting"]):
        label = "Baseline (Real)" if setting.startswith("real/") else f"Real + {method}"
        table.published.append(([label], [_pub_cell(group, metric=m) for m in (*names, "fid")]))
    return table


def build_tables(
    layout: str, frame: pd.DataFrame, with_published: bool = False
) -> list[PaperTable]:
    """The tables of ``layout`` (one of :data:`LAYOUTS`), best cells marked."""
    from usbench.reference_rows import published_rows

    def pub(seed: str, table: str) -> pd.DataFrame | None:
        return published_rows(seed, table) if with_published else None

    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}, generic")
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


# -- rendering -----------------------------------------------------------------------------
def _arrow(higher: bool | None, latex: bool) -> str:
    if higher is None:
        return ""
    if latex:
        return r" $\uparrow$" if higher else r" $\downarrow$"
    return " ↑" if higher else " ↓"


def table_to_latex(table: PaperTable) -> str:
    """booktabs ``table`` environment; published rows in italics below a midrule."""
    from usbench.report import _tex

    spec = "l" * len(table.keys) + "c" * len(table.columns)
    head = [*table.keys, *(_tex(label) + _arrow(h, True) for label, h in table.columns)]
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        r"\small",
        rf"\caption{{{_tex_caption(table.caption)}}}",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(head) + r" \\",
        r"\midrule",
    ]
    lines += [_latex_row(keys, cells, table.digits) for keys, cells in table.rows]
    if table.published:
        span = len(table.keys) + len(table.columns)
        lines += [
            r"\midrule",
            rf"\multicolumn{{{span}}}{{l}}{{\emph{{Published (not ranked)}}}} \\",
        ]
        lines += [
            _latex_row(
                [rf"\emph{{{_tex(k)}}}" if k else "" for k in keys],
                cells,
                table.digits,
                escaped=True,
            )  # fmt: skip
            for keys, cells in table.published
        ]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def _tex_caption(caption: str) -> str:
    """Escape a caption but keep the ``$...$`` math it contains."""
    from usbench.report import _tex

    parts = caption.split("$")
    text = "$".join(p if i % 2 else _tex(p) for i, p in enumerate(parts))
    return text.replace("≥", r"$\geq$")


def _latex_row(keys, cells, digits, escaped: bool = False) -> str:
    from usbench.report import _tex

    keys = list(keys) if escaped else [_tex(k) for k in keys]
    texts = ["--" if c is None else c.text(digits, latex=True) for c in cells]
    return " & ".join([*keys, *texts]) + r" \\"


def table_to_markdown(table: PaperTable) -> str:
    """GitHub Markdown with the caption above and published rows marked †."""
    head = [*table.keys, *(label + _arrow(h, False) for label, h in table.columns)]
    lines = [f"**{table.caption}**", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for keys, cells in table.rows:
        texts = ["–" if c is None else c.text(table.digits, latex=False) for c in cells]
        lines.append("| " + " | ".join([*keys, *texts]) + " |")
    for keys, cells in table.published:
        texts = ["–" if c is None else c.text(table.digits, latex=False) for c in cells]
        lines.append("| " + " | ".join([f"*{k}* †" if k else "" for k in keys] + texts) + " |")
    if table.published:
        lines += ["", "† published numbers (usbench/data/published.csv), not ranked."]
    return "\n".join(lines) + "\n"


def latex_document(tables: list[PaperTable]) -> str:
    """A standalone article holding ``tables`` (to compile and look at)."""
    body = "\n".join(table_to_latex(t) for t in tables)
    return (
        "\\documentclass{article}\n\\usepackage{booktabs}\n\\usepackage[T1]{fontenc}\n"
        "\\usepackage[margin=1.5cm,landscape]{geometry}\n\\begin{document}\n"
        + body
        + "\\end{document}\n"
    )
