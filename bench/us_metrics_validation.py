"""Validation numbers of the ultrasound-aware metrics on scenes with known truth.

Run by hand (not part of the tests): ``python bench/us_metrics_validation.py``. Prints
B-line count accuracy vs noise, depth-profile distance vs attenuation gap, speckle SNR
of Rayleigh vs smoothed speckle, memorisation flags of copies vs independent images, and
the seconds each step took. Numbers in the README come from this script.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from usbench.data.imageset import ImageSet
from usbench.metrics._lib.fan_geometry import estimate_geometry, synthetic_fan_mask
from usbench.metrics._lib.lines import detect_lines
from usbench.metrics._lib.synthetic_speckle import speckled_image
from usbench.metrics.depth_profile import DepthProfile
from usbench.metrics.memorization import Memorization
from usbench.metrics.speckle import SpeckleStatistics
from usbench.protocols import EvalInputs
from usbench.samples import SampleBatch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/, run as a script
from bench.synthetic_lus import APEX, HALF_ANGLE, RADII, SIZE, lus_scene  # noqa: E402


def as_set(images: torch.Tensor, name: str) -> ImageSet:
    n = len(images)
    return ImageSet(
        images=images,
        labels=torch.zeros(n, dtype=torch.int64),
        class_names=("x",),
        patient_ids=tuple(f"{name}{i}" for i in range(n)),
        names=tuple(f"{name}/{i}" for i in range(n)),
        name=name,
    )


def bline_accuracy(n: int = 200) -> None:
    print("B-line detector on synthetic convex LUS scenes (0-4 B-lines, 64 px):")
    print(" noise  exact  MAE   pleura-continuous")
    for noise in (0.0, 0.05, 0.1, 0.2):
        rng = np.random.default_rng(0)
        counts = rng.integers(0, 5, n)
        images = np.stack([lus_scene(rng, int(c), noise=noise)[0] for c in counts])
        geometry = estimate_geometry(images)
        found = [detect_lines(img, geometry) for img in images]
        errors = np.array([d.bline_count for d in found]) - counts
        cont = np.mean([d.pleura_continuous for d in found])
        print(
            f" {noise:4.2f}  {np.mean(errors == 0):5.3f}  {np.mean(np.abs(errors)):.3f}  {cont:.3f}"
        )


def phantom_bline_accuracy(n: int = 90, size: int = 128) -> None:
    """Count accuracy on ``lus-phantom`` images (classes 0 / 1-2 / 3-5 B-lines), with
    additive Gaussian noise inside the imaged region; skipped when the phantom is absent."""
    try:
        from usbench.data.phantom import sample_params
        from usbench.data.phantom_render import render_phantom
    except ImportError:
        print("lus-phantom is not installed; skipping the phantom validation\n")
        return
    for geometry in ("convex", "linear"):
        rng = np.random.default_rng(0)
        rendered = [
            render_phantom(sample_params(i % 3, rng, size=size, geometry=geometry), rng)
            for i in range(n)
        ]
        clean = np.stack([image for image, _ in rendered])
        counts = np.array([truth.n_b_lines for _, truth in rendered])
        mask = rendered[0][1].mask
        print(f"B-line detector on lus-phantom, {geometry}, {size} px, {n} images (0-5 B-lines):")
        print(" noise  exact  MAE   pleura-continuous")
        for noise in (0.0, 0.05, 0.1, 0.2):
            noisy = np.clip(clean + noise * rng.standard_normal(clean.shape) * mask, 0, 1)
            geometry_fit = estimate_geometry(noisy, geometry)
            found = [detect_lines(img, geometry_fit) for img in noisy]
            errors = np.array([d.bline_count for d in found]) - counts
            cont = np.mean([d.pleura_continuous for d in found])
            exact, mae = np.mean(errors == 0), np.mean(np.abs(errors))
            print(f" {noise:4.2f}  {exact:5.3f}  {mae:.3f}  {cont:.3f}")


def phantom_depth_profile(n: int = 24, size: int = 64) -> None:
    """depth_profile between lus-phantom sets rendered with different attenuation."""
    try:
        from usbench.data.phantom import sample_params
        from usbench.data.phantom_render import render_phantom
    except ImportError:
        return

    def rendered(attenuation: float, seed: int) -> torch.Tensor:
        rng = np.random.default_rng(seed)
        images = [
            render_phantom(
                sample_params(i % 3, rng, size=size, geometry="convex", attenuation=attenuation),
                rng,
            )[0]
            for i in range(n)
        ]
        return torch.from_numpy(np.stack(images)[:, None])

    print(f"depth_profile on lus-phantom (convex, {size} px, {n} images, real 0.5 dB/cm/MHz):")
    real = as_set(rendered(0.5, seed=1), "real")
    for attenuation in (0.5, 0.6, 0.7, 0.9):
        gen = SampleBatch(rendered(attenuation, seed=2))
        r = DepthProfile().compute(EvalInputs(gen, real))
        print(f" {attenuation:.1f} dB/cm/MHz: {r.value:.4f}  [{r.ci_low:.4f}, {r.ci_high:.4f}]")


def fan_images(n: int, attenuation: float, seed: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    mask = synthetic_fan_mask((SIZE, SIZE), APEX, RADII, HALF_ANGLE)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    r = np.hypot(yy - APEX[0], xx - APEX[1])
    depth = np.clip((r - RADII[0]) / (RADII[1] - RADII[0]), 0, 1)
    echo = 3.0 * np.exp(-attenuation * depth) * mask
    stack = [speckled_image(echo, rng, cell=0.7) for _ in range(n)]
    return torch.from_numpy(np.stack(stack)[:, None])


def depth_profile_gap() -> None:
    print("depth_profile: real attenuation 1.0 (per unit depth), 32 images each:")
    real = as_set(fan_images(32, 1.0, seed=1), "real")
    for alpha in (1.0, 1.25, 1.5, 2.0, 3.0):
        r = DepthProfile().compute(EvalInputs(SampleBatch(fan_images(32, alpha, 2)), real))
        print(f" gap {alpha - 1.0:4.2f}: {r.value:.4f}  [{r.ci_low:.4f}, {r.ci_high:.4f}]")


def speckle_snr() -> None:
    print("speckle: median patch SNR / Nakagami m (64 px, 16 images, cell 0.7 px):")
    rng = np.random.default_rng(0)
    real_images = np.stack([speckled_image(np.ones((64, 64)), rng, cell=0.7) for _ in range(16)])
    real = as_set(torch.from_numpy(real_images[:, None]), "rayleigh")
    images = np.stack([speckled_image(np.ones((64, 64)), rng, cell=0.7) for _ in range(16)])
    for sigma in (0.0, 0.5, 1.0, 2.0):
        gen = ndimage.gaussian_filter(images, (0, sigma, sigma)) if sigma else images
        r = SpeckleStatistics().compute(
            EvalInputs(SampleBatch(torch.from_numpy(gen[:, None].copy())), real)
        )
        d = r.details
        print(
            f" blur σ={sigma}: SNR {d['generated_median_snr']:.3f}  m {d['generated_median_m']:.3f}"
            f"  W1 {r.value:.3f}"
        )


def memorisation() -> None:
    print("memorization: fraction flagged (pixel space, 64 px scenes, shift ≤ 4 px):")
    rng = np.random.default_rng(0)
    scenes = torch.from_numpy(np.stack([lus_scene(rng, i % 5)[0] for i in range(72)])[:, None])
    train, held, fresh = as_set(scenes[:40], "t"), as_set(scenes[40:56], "h"), scenes[56:]
    gen = torch.Generator().manual_seed(0)
    copies = torch.stack(
        [torch.roll(train.images[i], (i % 5 - 2, 2 - i % 4), (1, 2)) for i in range(16)]
    )
    copies = (copies + 0.03 * torch.randn(copies.shape, generator=gen)).clamp(0, 1)
    metric = Memorization(extractors=())
    for label, images in (("noised shifted copies", copies), ("independent scenes", fresh)):
        r = metric.compute(EvalInputs(SampleBatch(images), train, held))
        ratio = r.details["spaces"]["pixel"]["median_ratio"]
        print(f" {label}: {r.value:.3f}  (median NN ratio {ratio:.2f})")


if __name__ == "__main__":
    torch.set_num_threads(1)
    steps = (
        phantom_bline_accuracy,
        phantom_depth_profile,
        bline_accuracy,
        depth_profile_gap,
        speckle_snr,
        memorisation,
    )
    for step in steps:
        start = time.perf_counter()
        step()
        print(f" [{time.perf_counter() - start:.1f} s]\n")
