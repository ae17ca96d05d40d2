"""FRD equal to the ``frd-score`` package (FRDv1) on the same 8-bit images, feature by
feature and as the final distance; its invariants, N warning and missing-package path.

pyradiomics and frd-score are installed by the README's install block (pyradiomics with
``--no-build-isolation``, frd-score with ``--no-deps``); where they are missing the tests
skip with the command, unless ``USBENCH_CROSSCHECK=1`` (set by CI) makes that an error.
"""

from __future__ import annotations

import importlib.util
import os
import sys

import numpy as np
import pytest
import torch
from _metric_fixtures import imageset, lus_images, write_pngs

from usbench.protocols import EvalInputs, MetricUnavailable
from usbench.samples import SampleBatch
from usbench.testing import tiny_dataset


def _require(module: str, install: str) -> None:
    if importlib.util.find_spec(module) is None:
        message = f"{module} not installed: {install} (README install block) runs this test"
        if os.environ.get("USBENCH_CROSSCHECK") == "1":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def frd_score():
    _require("radiomics", "pip install --no-build-isolation pyradiomics==3.0.1")
    _require("frd_score", "pip install --no-deps frd-score==1.0.1")
    import frd_score.frd

    return frd_score.frd


def _frd(real: torch.Tensor, generated: torch.Tensor, selector: str = "frd"):
    from usbench.testing import MetricCase

    inputs = EvalInputs(SampleBatch(generated, None, None), imageset(real, "real"), None, 0)
    return MetricCase.from_selector(selector).compute(inputs)


def _sets(source: str) -> tuple[torch.Tensor, torch.Tensor]:
    if source == "lus":
        images = lus_images(12, 64)
        return images[::2], images[1::2]
    return tiny_dataset(48, 6, seed=0).images, tiny_dataset(48, 6, seed=3).images


def test_image_features_equal_frd_score(frd_score, tmp_path):
    from usbench.metrics._lib import radiomics_features as rad

    image = tiny_dataset(48, 1, seed=5).images[:1]
    path = write_pngs(image, tmp_path) / "0000.png"
    frd_score._ensure_radiomics()
    extractor = frd_score.get_feature_extractor(frd_version="v1")
    values, named, _ = frd_score.process_image_mask_pair((path, None), feature_extractor=extractor)
    names, ours = rad.image_features(rad.build_extractor(), rad.to_grey_levels(image[0, 0].numpy()))
    assert names == list(named)
    # 77 features of the image and of its 4 two-dimensional wavelet bands, 13 diagnostics
    # (pyradiomics skips LoG on a one-slice volume)
    prefixes = [n.split("_")[0] for n in names]
    assert [prefixes.count(p) for p in ("wavelet-LH", "wavelet-HH", "diagnostics")] == [77, 77, 13]
    assert len(names) == 398 and not any(n.startswith("log-sigma") for n in names)
    np.testing.assert_array_equal(ours, np.asarray(values))


@pytest.mark.parametrize("source", ["tiny", "lus"])
def test_frd_equals_frd_score(frd_score, tmp_path, source):
    real, generated = _sets(source)
    folders = [write_pngs(x, tmp_path / n) for n, x in (("real", real), ("gen", generated))]
    files = [sorted(folder.glob("*.png")) for folder in folders]
    expected = frd_score.compute_frd(files, frd_version="v1", num_workers=1)
    result = _frd(real, generated)
    # frd-score takes scipy's sqrtm of the (rank-deficient) covariance product; usbench
    # the exact trace through an SVD: the log distances agree to ~1e-8
    assert result.value == pytest.approx(float(expected), rel=1e-6)
    assert result.n == len(generated)
    assert result.details["warning"].startswith(f"N={len(generated)} <= ")


def test_frd_invariants(frd_score):
    real, generated = _sets("tiny")
    raw = _frd(real, generated, "frd:log=false")
    assert raw.value > 0 and raw.value == pytest.approx(raw.details["fd"])
    assert _frd(real, generated).value == pytest.approx(np.log(raw.value))
    order = torch.tensor([3, 0, 5, 1, 4, 2])
    assert _frd(real, generated[order]).value == pytest.approx(_frd(real, generated).value)
    same = _frd(real, real.clone(), "frd:log=false")
    assert abs(same.value) < 1e-6 * raw.value


def test_missing_pyradiomics_names_the_fix(monkeypatch):
    from usbench.plugins import resolve
    from usbench.scoring import score_one

    monkeypatch.setitem(sys.modules, "radiomics", None)
    real, generated = _sets("tiny")
    with pytest.raises(MetricUnavailable, match="no-build-isolation pyradiomics"):
        _frd(real, generated)
    inputs = EvalInputs(SampleBatch(generated, None, None), imageset(real, "real"), None, 0)
    row = score_one(resolve("metrics", "frd"), lambda metric: metric.compute(inputs)).row
    assert row.status == "unavailable" and "--no-build-isolation" in row.message
    assert row.variant["pyradiomics"] == "not installed"
