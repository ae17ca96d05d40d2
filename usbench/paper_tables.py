"""Paper-ready tables in the layouts of the seed papers (``usbench report --layout``).

Layouts: ``seed000`` (method × steps × SIFID/LPIPS/NIMA, mean ± std), ``seed002`` (FID on
the 1st/2nd max-pool layer; LPIPS/SSIM/PSNR mean/std/range over images), ``seed003``
(SIFID/SSIM; per-class precision/recall/F1, accuracy and balanced accuracy per arm of
``classifier_gain``) and ``seed004`` (ablation rows: accuracy, F1, AUC-ROC, PPV, FID).

Every table is a :class:`~usbench.paper_cells.PaperTable` built by a layout
(:mod:`usbench.paper_layouts`) from the store's scores in a long form
(:func:`usbench.score_frames.long_scores`); this module renders it to booktabs LaTeX or
Markdown. Headers carry ↑/↓, the
best of our rows per column is bold, and the caption gives N, runs and the variant.
Published reference rows (:mod:`usbench.reference_rows`) are appended below a rule,
in italics with their citation, only when asked, and never count for "best".
"""

from __future__ import annotations

from usbench.latex import tex_escape
from usbench.paper_cells import Cell, PaperTable
from usbench.paper_layouts import LAYOUTS, build_tables
from usbench.score_frames import long_scores

__all__ = [
    "LAYOUTS",
    "Cell",
    "PaperTable",
    "build_tables",
    "latex_document",
    "long_scores",
    "table_to_latex",
    "table_to_markdown",
]


def _arrow(higher: bool | None, latex: bool) -> str:
    if higher is None:
        return ""
    if latex:
        return r" $\uparrow$" if higher else r" $\downarrow$"
    return " ↑" if higher else " ↓"


def table_to_latex(table: PaperTable) -> str:
    """booktabs ``table`` environment; published rows in italics below a midrule."""
    spec = "l" * len(table.keys) + "c" * len(table.columns)
    head = [*table.keys, *(tex_escape(label) + _arrow(h, True) for label, h in table.columns)]
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
                [rf"\emph{{{tex_escape(k)}}}" if k else "" for k in keys],
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
    parts = caption.split("$")
    text = "$".join(p if i % 2 else tex_escape(p) for i, p in enumerate(parts))
    return text.replace("≥", r"$\geq$")


def _latex_row(keys, cells, digits, escaped: bool = False) -> str:
    keys = list(keys) if escaped else [tex_escape(k) for k in keys]
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
