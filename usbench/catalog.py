"""Names that are data, not code: aliases of plugin settings and named metric suites.

An alias is an old or convenient name for a plugin with some settings fixed
(``fid-pool2`` = ``fid:layer=pool2``); it resolves like the selector it stands for, so old
command lines and stored runs keep working and score the same column. A suite is a named
list of metric selectors (``--metrics @seed002``).

Third-party packages add theirs at run time with :func:`add_alias` / :func:`add_suite`
(e.g. from their plugin module).
"""

from __future__ import annotations

ALIASES: dict[str, dict[str, str]] = {
    "metrics": {
        "fid-pool1": "fid:layer=pool1",
        "fid-pool2": "fid:layer=pool2",
        "sifid-pool2": "sifid:layer=pool2",
        "sifid-tv": "sifid:network=tv-inception",
        "sifid-tv-pool2": "sifid:layer=pool2,network=tv-inception",
        "lpips-diversity": "lpips",
        "lpips-paired": "lpips:mode=paired",
        "lpips-diversity-vgg": "lpips:net=vgg",
        "lpips-paired-vgg": "lpips:mode=paired,net=vgg",
        "precision": "prdc",
        "recall": "prdc:statistic=recall",
        "density": "prdc:statistic=density",
        "coverage": "prdc:statistic=coverage",
        "cw-ssim-dtcwt": "cw-ssim:transform=dtcwt",
    },
    "generators": {},
    "datasets": {},
    "tasks": {},
}

SUITES: dict[str, tuple[str, ...]] = {
    # the leaderboard's headline columns: every metric once, at its default settings
    "default": (
        "fid",
        "kid",
        "sifid",
        "lpips",
        "lpips:mode=paired",
        "ssim",
        "psnr",
        "cw-ssim",
        "nima",
        "memorization",
        "depth_profile",
        "speckle",
        "bline",
        "prdc",
        "vendi",
        "fd-inf",
        "relative-fd",
        "authenticity",
        "data-copying",
    ),
    # seed 000 (AWDiff): Table 1 SIFID, LPIPS diversity, NIMA; the ablation's CW-SSIM
    "seed000": ("sifid", "lpips", "nima", "cw-ssim"),
    # seed 002 (B-maps): FID on the 64-d and 192-d Inception layers; paired LPIPS/SSIM/PSNR
    "seed002": ("fid:layer=pool1", "fid:layer=pool2", "lpips:mode=paired", "ssim", "psnr"),
    # seed 003 (SinDDM/FewDDM for LUS): SIFID and SSIM
    "seed003": ("sifid", "ssim"),
    # seed 004 (SD1.5 hybrid, BUSI): FID
    "seed004": ("fid",),
    # set metrics for small test sets, all fed by FID's one Inception pass (frd: radiomics)
    "sets": (
        "fid",
        "kid",
        "fd-inf",
        "relative-fd",
        "prdc",
        "prdc:statistic=recall",
        "prdc:statistic=density",
        "prdc:statistic=coverage",
        "vendi",
        "frd",
    ),
    # data-copying checks: pixel/Inception near-copies, authenticity, Meehan's C_T
    "copying": ("memorization", "authenticity", "data-copying"),
}
"""``@all`` is not listed: it is ``@default`` plus every metric alias (every variant)."""


FORMER_DEFAULTS: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    # (name, variant key, what its value started with, the selector of that variant now):
    # cw-ssim's default was the DTCWT before it became the complex steerable pyramid
    "metrics": (("cw-ssim", "transform", "dtcwt", "cw-ssim:transform=dtcwt"),),
}
"""Metrics whose default settings changed: a row stored under the bare name with the old
default's variant belongs to the selector that names that variant today."""


def stored_metric_name(name: str, variant: dict) -> str:
    """The canonical selector of a metric row stored as ``name`` with ``variant``.

    Old aliases resolve (:func:`canonical_alias`), and so do rows scored before a metric's
    default changed (:data:`FORMER_DEFAULTS`), so old runs land in their variant's column.
    """
    for former, key, prefix, selector in FORMER_DEFAULTS.get("metrics", ()):
        if name == former and str(variant.get(key, "")).startswith(prefix):
            return selector
    return canonical_alias("metrics", name)


def canonical_alias(kind: str, name: str) -> str:
    """The selector ``name`` stands for if it is an alias of ``kind``, else ``name``.

    Alias targets are written in canonical form (settings in Config field order), so this
    maps a name stored by an older version onto the name a new run stores.
    """
    return ALIASES.get(kind, {}).get(name, name)


def add_alias(kind: str, alias: str, selector: str) -> None:
    """Register ``alias`` for ``selector`` among ``kind``'s names (refuses a clash)."""
    table = ALIASES.setdefault(kind, {})
    if table.get(alias, selector) != selector:
        raise ValueError(f"{kind} alias {alias!r} already means {table[alias]!r}")
    table[alias] = selector


def add_suite(name: str, selectors: tuple[str, ...]) -> None:
    """Register the metric suite ``@name`` (refuses to redefine a different one)."""
    if SUITES.get(name, selectors) != selectors or name == "all":
        raise ValueError(f"metric suite @{name} already exists")
    SUITES[name] = tuple(selectors)


def suite(name: str) -> tuple[str, ...]:
    """The selectors of ``@name``; ``all`` = ``default`` plus every metric alias."""
    if name == "all":
        extra = tuple(ALIASES["metrics"].values())
        return tuple(dict.fromkeys(SUITES["default"] + extra))
    if name not in SUITES:
        known = ", ".join("@" + s for s in (*SUITES, "all"))
        raise KeyError(f"No metric suite @{name}. Suites: {known}.")
    return SUITES[name]
