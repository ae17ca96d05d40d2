"""``lus-phantom``: an embedded, procedural lung-ultrasound phantom with ground truth.

Offline and deterministic by seed. This module samples per-class parameters, declares the
dataset's settings and builds the :class:`LUSPhantom` dataset; the anatomy is in
:mod:`usbench.data.phantom_anatomy` and the speckle and display in
:mod:`usbench.data.phantom_render`. Each image is built in three separate steps so a
physical simulator can replace the last two:

1. :func:`echogenicity_map` — the scatterer-amplitude (anatomy) map: soft-tissue layers, a
   bright irregular pleural line, A-line reverberations at multiples of the pleural depth,
   B-line comet tails from the pleura to the bottom (erasing A-lines), ribs with their
   acoustic shadows. No speckle, no attenuation.
2. :func:`speckle_envelope` — Rayleigh speckle: complex Gaussian scatterers weighted by the
   map, convolved with an anisotropic Gaussian PSF (lateral wider than axial), envelope.
   Or, with ``speckle="simus"`` (dataset option ``renderer=simus``), :func:`simus_envelope`:
   the map is scanned by the pymust ultrasound simulator (point scatterers, a convex C5-2v
   probe, delay-and-sum beamforming), so speckle and point-spread are physical.
3. :func:`depth_gain_db` + :func:`log_compress` — round-trip exponential attenuation,
   time-gain compensation, log compression to ``[0, 1]``.

Everything is computed on a scan grid (depth × scan line) and scan-converted to the image,
so B-lines are radial and the PSF widens with depth on a convex fan. Labels are B-line
count classes, by default ``("0 B-lines", "1-2 B-lines", "3+ B-lines")`` = counts
``{0}``, ``{1, 2}``, ``{3, 4, 5}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from usbench.data.phantom_anatomy import (
    DEFAULT_CLASS_NAMES,
    DEFAULT_CLASSES,
    Geometry,
    PhantomParams,
    PhantomTruth,
)
from usbench.data.phantom_labels import LABEL_NAMES
from usbench.data.phantom_render import render_phantom
from usbench.protocols import DatasetSource


# --------------------------------------------------------------------------------------
# Sampling parameters per class, the dataset, the figure
# --------------------------------------------------------------------------------------
def sample_params(
    label: int,
    rng: np.random.Generator,
    *,
    size: int,
    geometry: Geometry,
    classes: Sequence[Sequence[int]] = DEFAULT_CLASSES,
    attenuation: float | None = None,
    speckle: Literal["rayleigh", "none", "simus"] = "rayleigh",
    simus_density: float = 10.0,
) -> PhantomParams:
    """Random but plausible parameters for class ``label`` (B-line count from ``classes``).

    Convex: 3.5 MHz, 10–14 cm; linear: 7.5 MHz, 4–6 cm. TGC makes up 75 % of a nominal
    0.5 dB/cm/MHz tissue loss, so a larger ``attenuation`` darkens depth visibly.
    ``speckle`` and ``simus_density`` are passed through (they draw nothing from ``rng``).
    """
    if not 0 <= label < len(classes):
        raise ValueError(f"label must be in 0..{len(classes) - 1}, got {label}")
    f_mhz, depth = (3.5, rng.uniform(10, 14)) if geometry == "convex" else (7.5, rng.uniform(4, 6))
    return PhantomParams(
        geometry=geometry,
        size=size,
        n_b_lines=int(rng.choice(np.asarray(classes[label]))),
        attenuation=float(rng.uniform(0.4, 0.6)) if attenuation is None else attenuation,
        frequency_mhz=f_mhz,
        depth_cm=float(depth),
        tgc_db_per_cm=0.75 * 2 * 0.5 * f_mhz,
        pleura_depth=float(
            rng.uniform(0.18, 0.34) if geometry == "convex" else rng.uniform(0.28, 0.42)
        ),
        n_a_lines=int(rng.integers(2, 5)),
        rib_shadows=int(rng.choice([0, 1, 2], p=[0.2, 0.3, 0.5])),
        gain_db=float(rng.uniform(-3, 3)),
        half_angle_deg=float(rng.uniform(29, 35)),
        speckle=speckle,
        simus_density=simus_density,
    )


_HINTS = {
    "n_per_class": "a positive integer, e.g. 32",
    "seed": "a non-negative integer, e.g. 0",
    "attenuation": "dB/cm/MHz between 0 and 5, e.g. 0.5",
    "simus_density": "scatterers per square wavelength in (0, 100], e.g. 10",
    "classes": "B-line count ranges separated by ';', e.g. 0;1-2;3-5",
}


@dataclass(frozen=True)
class PhantomConfig:
    """Settings of ``lus-phantom`` (``-d lus-phantom:n_per_class=16,geometry=convex``).

    n_per_class: images per class, a positive integer [>= 1].
    seed: the phantom seed; image ``i`` is drawn from ``(seed, i)`` only [>= 0].
    geometry: convex, linear, or mixed (alternating per round of classes).
    attenuation: dB/cm/MHz for every image; None: drawn in 0.4–0.6 per image [0, 5].
    classes: one B-line count range per class, ';'-separated, e.g. 0;1-2;3-5.
    renderer: procedural speckle, or simus: the anatomy scanned by pymust (convex only,
        cached, minutes to hours per image; needs usbench[sim]).
    simus_density: scatterers per square wavelength with renderer=simus (0, 100].
    """

    n_per_class: int = 32
    seed: int = 0
    geometry: Literal["convex", "linear", "mixed"] = "mixed"
    attenuation: float | None = None
    classes: str = "0;1-2;3-5"
    renderer: Literal["procedural", "simus"] = "procedural"
    simus_density: float = 10.0

    def __post_init__(self) -> None:
        checks = {
            "n_per_class": self.n_per_class >= 1,
            "seed": self.seed >= 0,
            "attenuation": self.attenuation is None or 0.0 <= self.attenuation <= 5.0,
            "simus_density": 0.0 < self.simus_density <= 100.0,
            "classes": _parse_classes(self.classes) is not None,
        }
        for key, ok in checks.items():
            if not ok:
                value = getattr(self, key)
                raise ValueError(f"Bad lus-phantom option {key}={value!r}; use {_HINTS[key]}.")
        if self.renderer == "simus" and self.geometry != "convex":
            raise ValueError(
                "lus-phantom renderer=simus simulates a convex probe only; "
                "use -d lus-phantom:renderer=simus,geometry=convex."
            )

    @property
    def class_ranges(self) -> tuple[tuple[int, ...], ...]:
        """``classes`` as B-line counts per class: ``((0,), (1, 2), (3, 4, 5))``."""
        return _parse_classes(self.classes)

    @property
    def speckle(self) -> Literal["rayleigh", "simus"]:
        """The :class:`PhantomParams` speckle model that ``renderer`` selects."""
        return "simus" if self.renderer == "simus" else "rayleigh"


def _parse_classes(raw: str) -> tuple[tuple[int, ...], ...] | None:
    """``"0;1-2;3-5"`` → ``((0,), (1, 2), (3, 4, 5))``; ``None`` if malformed."""
    classes = []
    try:
        for part in raw.split(";"):
            low, _, high = part.strip().partition("-")
            lo, hi = int(low), int(high or low)
            if lo < 0 or hi < lo or hi > 12:
                return None
            classes.append(tuple(range(lo, hi + 1)))
    except ValueError:
        return None
    return tuple(classes) if len(classes) >= 2 else None


def class_names(classes: Sequence[Sequence[int]]) -> tuple[str, ...]:
    """Readable class names: ``"0 B-lines"``, ``"1-2 B-lines"``; the default's last is ``"3+"``."""
    if tuple(map(tuple, classes)) == DEFAULT_CLASSES:
        return DEFAULT_CLASS_NAMES
    return tuple(f"{c[0]} B-lines" if len(c) == 1 else f"{c[0]}-{c[-1]} B-lines" for c in classes)


def image_geometry(opts: PhantomConfig, index: int) -> Geometry:
    """Probe of image ``index``: fixed, or for ``mixed`` alternating per round of classes."""
    if opts.geometry != "mixed":
        return opts.geometry
    return ("convex", "linear")[(index // len(opts.class_ranges)) % 2]


def render_dataset_image(
    opts: PhantomConfig, index: int, image_size: int
) -> tuple[np.ndarray, PhantomTruth, int]:
    """Image ``index`` of the dataset (its label is ``index % n_classes``): image, truth, label.

    Seeded from ``(seed, index)`` only, so it does not depend on ``n_per_class``.
    """
    label = index % len(opts.class_ranges)
    rng = np.random.default_rng([opts.seed, index])
    params = sample_params(
        label,
        rng,
        size=image_size,
        geometry=image_geometry(opts, index),
        classes=opts.class_ranges,
        attenuation=opts.attenuation,
        speckle=opts.speckle,
        simus_density=opts.simus_density,
    )
    image, truth = render_phantom(params, rng)
    return image, truth, label


class LUSPhantom(DatasetSource):
    """The embedded procedural lung-ultrasound phantom (offline, deterministic by seed).

    Settings: :class:`PhantomConfig`. The anatomy and the truth do not depend on the
    renderer. Every image carries its anatomy label map (``masks``, classes
    :data:`usbench.data.phantom_labels.LABEL_NAMES`). Image ``i`` has label
    ``i % n_classes``, patient id ``phantom-<seed>-<i>`` and name ``phantom/<i:05d>``.
    """

    name = "lus-phantom"
    description = "Procedural lung ultrasound phantom with B-line count classes (no download)."
    Config = PhantomConfig

    def load(self, *, image_size: int, root: Path | None = None):
        """All ``n_per_class × n_classes`` images as an ImageSet (``root`` is ignored)."""
        return self.load_with_truth(image_size=image_size)[0]

    def load_with_truth(self, *, image_size: int):
        """``(ImageSet, list[PhantomTruth])``, truth in the same order as the images."""
        import torch

        from usbench.data.imageset import ImageSet

        opts = self.config
        count = opts.n_per_class * len(opts.class_ranges)
        indices = range(count)
        if opts.renderer == "simus":
            from tqdm.auto import tqdm

            indices = tqdm(indices, desc="lus-phantom: simulating with pymust", unit="image")
        rendered = [render_dataset_image(opts, i, image_size) for i in indices]
        images = torch.from_numpy(np.stack([r[0] for r in rendered])[:, None])
        data = ImageSet(
            images=images.contiguous(),
            labels=torch.tensor([r[2] for r in rendered], dtype=torch.int64),
            class_names=class_names(opts.class_ranges),
            patient_ids=tuple(f"phantom-{opts.seed}-{i}" for i in range(count)),
            names=tuple(f"phantom/{i:05d}" for i in range(count)),
            name=self.name,
            probes=tuple(r[1].geometry for r in rendered),
            masks=torch.from_numpy(np.stack([r[1].labels for r in rendered])),
            mask_names=LABEL_NAMES,
        )
        return data, [r[1] for r in rendered]


def phantom_truth(config: PhantomConfig, image_size: int) -> list[PhantomTruth]:
    """Ground truth of every image that ``LUSPhantom(config).load`` returns."""
    return LUSPhantom(config).load_with_truth(image_size=image_size)[1]
