"""``lus-phantom`` with ``renderer=simus``: the same anatomy scanned by the pymust simulator.

A full-density fan takes hours on a CPU; the rendering test uses 0.05 scatterers per
square wavelength (≈ 4,000 scatterers, under a minute) — enough for the depth structure
(pleura, A-lines), not for developed speckle, which ``test_us_metrics_simus`` checks on a
small sector.
"""

from __future__ import annotations

import numpy as np
import pytest

from usbench.data.phantom import LUSPhantom, render_dataset_image
from usbench.data.phantom_anatomy import PhantomParams

SIZE = 64


def radial_profile(image: np.ndarray, truth, bins: int = 30) -> np.ndarray:
    """Mean grey level inside the fan in ``bins`` rings from r_min to r_max."""
    y, x = np.mgrid[0 : image.shape[0], 0 : image.shape[1]]
    radius = np.hypot(x - truth.apex[0], y - truth.apex[1])
    ring = np.digitize(radius, np.linspace(truth.r_min, truth.r_max, bins + 1))
    return np.array([image[(ring == k) & truth.mask].mean() for k in range(1, bins + 1)])


def _options(values: dict[str, str]):
    """The phantom's Config for ``--data-option``-style strings."""
    return LUSPhantom.from_preset(None, values).config


def test_simus_renderer_options_are_validated() -> None:
    with pytest.raises(ValueError, match="geometry=convex"):
        _options({"renderer": "simus"})  # default geometry is mixed
    with pytest.raises(ValueError, match="choose one of procedural, simus"):
        LUSPhantom.from_preset(None, {"renderer": "field2"})
    with pytest.raises(ValueError, match="simus_density"):
        _options({"simus_density": "0"})
    with pytest.raises(ValueError, match="convex"):
        PhantomParams(geometry="linear", speckle="simus")
    opts = _options({"renderer": "simus", "geometry": "convex"})
    assert opts.speckle == "simus" and opts.simus_density == 10.0
    assert _options({}).speckle == "rayleigh"


@pytest.mark.slow
def test_simus_render_keeps_anatomy_and_truth(tmp_path, monkeypatch) -> None:
    pytest.importorskip("pymust", reason="the simulator is the optional extra usbench[sim]")
    monkeypatch.setenv("USBENCH_CACHE", str(tmp_path))
    procedural = _options({"geometry": "convex"})
    simus = _options({"geometry": "convex", "renderer": "simus", "simus_density": "0.05"})
    reference, truth, label = render_dataset_image(procedural, 2, SIZE)
    image, sim_truth, sim_label = render_dataset_image(simus, 2, SIZE)

    # the anatomy and its ground truth do not depend on the renderer
    assert sim_label == label and sim_truth.n_b_lines == truth.n_b_lines
    assert sim_truth.b_line_angles_or_columns == truth.b_line_angles_or_columns
    assert sim_truth.pleura_radius == truth.pleura_radius
    # a display image: [0, 1], black outside the fan, textured inside
    assert image.shape == (SIZE, SIZE) and image.dtype == np.float32
    assert image.min() >= 0.0 and image.max() <= 1.0
    assert not image[~truth.mask].any() and image[truth.mask].std() > 0.05
    # physics, not noise: the simulated depth structure (pleura, A-lines) follows this
    # image's anatomy far better than another image's (a different pleural depth)
    others = [render_dataset_image(procedural, i, SIZE) for i in range(3, 12)]
    other, other_truth, _ = max(others, key=lambda o: abs(o[1].pleura_radius - truth.pleura_radius))
    assert abs(other_truth.pleura_radius - truth.pleura_radius) > 4  # px
    # (ring-to-ring changes, so the common fall-off with depth does not count; measured:
    # 0.80 against its own procedural render, -0.07 against the other image)
    steps = lambda im: np.diff(radial_profile(im, truth))  # noqa: E731
    own = np.corrcoef(steps(image), steps(reference))[0, 1]
    foreign = np.corrcoef(steps(image), steps(other))[0, 1]
    assert own > 0.6 and own > foreign + 0.4, (own, foreign)
    # the expensive simulation is cached: one envelope file, the same image again
    assert len(list((tmp_path / "simus").glob("*.npy"))) == 1
    again, *_ = render_dataset_image(simus, 2, SIZE)
    np.testing.assert_array_equal(again, image)
    assert len(list((tmp_path / "simus").glob("*.npy"))) == 1


def test_dataset_rejects_simus_on_mixed_geometry() -> None:
    with pytest.raises(ValueError, match="renderer=simus,geometry=convex"):
        LUSPhantom.from_preset(None, {"renderer": "simus", "n_per_class": "1"}).load(image_size=32)
