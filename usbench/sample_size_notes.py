"""N of set-metric cells in the leaderboard, and notes where N is below what a metric needs.

A set metric (kind ``set_vs_set``: FID, KID, FD∞, PRDC, FRD...) gives one number for a whole
set of N generated images; the same generator scores differently at another N, so its
leaderboard cells show N. A note is written under the table when N is too small for the
statistic to mean what it usually means:

* Fréchet distances (``fid``, ``fd-inf``, ``relative-fd``, ``frd``): N ≤ feature dims, the
  covariance is rank-deficient (the metric records this in ``details["warning"]``; older
  rows without it are judged from ``variant["dims"]``);
* ``kid``: the subsets were capped below the requested ``subset_size`` (too few images);
* ``prdc``: N (or the real set) ≤ k, every k-NN ball holds the whole set.

Other metrics may record their own ``details["warning"]``, which is shown as well.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

FRECHET = frozenset({"fid", "fd-inf", "relative-fd", "frd"})


@functools.cache
def is_set_metric(name: str) -> bool:
    """Whether the registered metric behind selector ``name`` scores whole sets (False when
    it is not registered here)."""
    from usbench.plugins import resolve
    from usbench.protocols import MetricKind

    try:
        plugin = resolve("metrics", name).plugin
    except Exception:  # an unknown or broken plugin: show its cells as they are
        return False
    return getattr(plugin, "kind", None) == MetricKind.SET_VS_SET


def small_n_note(name: str, variant: Mapping[str, Any], details: Mapping[str, Any], n: int):
    """Why ``n`` generated images are too few for this stored score, or None."""
    base = name.split(":")[0]
    if details.get("warning"):
        return str(details["warning"])
    dims = variant.get("dims")
    if base in FRECHET and isinstance(dims, int) and n <= dims:
        return f"N={n} <= {dims} feature dims: the covariance is rank-deficient"
    if base == "kid":
        used, wanted = details.get("subset_size"), variant.get("subset_size")
        if isinstance(used, int) and isinstance(wanted, int) and used < wanted:
            return f"KID subsets of {used} images, fewer than subset_size={wanted} (N={n})"
    if base == "prdc":
        k, n_real = variant.get("k"), details.get("n_real", n)
        if isinstance(k, int) and min(n, n_real) <= k:
            return f"N={min(n, n_real)} <= k={k}: every k-NN ball holds the whole set"
    return None


def numbered_notes(notes: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Footnote number (from 1) of each distinct ``(column label, note)``, in first-seen order."""
    numbers: dict[tuple[str, str], int] = {}
    for key in notes:
        numbers.setdefault(key, len(numbers) + 1)
    return numbers


def markdown_notes(numbers: Mapping[tuple[str, str], int]) -> str:
    """The Markdown lines under a table: ``[k] label: note``; empty without notes."""
    if not numbers:
        return ""
    lines = [f"[{k}] {label}: {note}." for (label, note), k in numbers.items()]
    return "\nSample-size warnings (N = generated images):\n\n" + "\n".join(
        f"- {line}" for line in lines
    )


def latex_notes(numbers: Mapping[tuple[str, str], int], escape) -> list[str]:
    """Table-note lines (``$^{k}$ label: note``) to put under a tabular; [] without notes."""
    if not numbers:
        return []
    items = [
        rf"$^{{{k}}}$\,{escape(label)}: {_le(escape(note))}."
        for (label, note), k in numbers.items()
    ]
    return [r"\par\smallskip{\footnotesize " + r" \\ ".join(items) + "}"]


def _le(text: str) -> str:
    return text.replace("<=", r"$\le$")
