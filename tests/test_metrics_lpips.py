"""LPIPS against lpips.LPIPS itself, with the same (seeded random) backbone on both sides."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from _metric_fixtures import imageset, lus_images, phantom_images

from usbench.metrics.perceptual import (
    LPIPS,
    build_lpips,
    sample_groups,
)
from usbench.protocols import EvalInputs, MetricUnavailable
from usbench.samples import SampleBatch


@pytest.fixture(autouse=True)
def _offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("USBENCH_OFFLINE", "1")
    monkeypatch.setenv("USBENCH_WEIGHTS_DIR", str(tmp_path / "weights"))


@pytest.fixture(scope="module")
def backbone():
    torch.manual_seed(0)
    return torchvision.models.alexnet(weights=None).state_dict()


@pytest.fixture(scope="module")
def reference(backbone):
    import lpips

    ref = lpips.LPIPS(pretrained=True, net="alex", pnet_rand=True, verbose=False)
    ours = build_lpips("alex", backbone)
    ref.net.load_state_dict(ours.net.state_dict())
    return ref.eval()


@pytest.fixture(scope="module")
def images():
    return torch.cat([lus_images(5), phantom_images(5, seed=3)])


def test_paired_equals_lpips_forward(backbone, reference, images):
    real = images
    gen = images.flip(0) * 0.7 + 0.3 * torch.rand(
        images.shape, generator=torch.Generator().manual_seed(1)
    )
    train = imageset(real)
    inputs = EvalInputs(SampleBatch(gen.clamp(0, 1), sources=train.names), train)
    result = LPIPS(
        LPIPS.Config(mode="paired", batch_size=4), model=build_lpips("alex", backbone)
    ).compute(inputs)
    with torch.no_grad():
        ref = (
            reference(
                gen.clamp(0, 1).expand(-1, 3, -1, -1), real.expand(-1, 3, -1, -1), normalize=True
            )
            .flatten()
            .double()
            .numpy()
        )
    np.testing.assert_allclose(result.per_sample, ref, atol=1e-5, rtol=1e-5)
    assert result.details["pairing"] == "source"
    assert result.value == pytest.approx(ref.mean(), abs=1e-6)


def test_pairwise_diversity_equals_lpips_pair_loop(backbone, reference, images):
    gen = images
    result = LPIPS(LPIPS.Config(batch_size=3), model=build_lpips("alex", backbone)).compute(
        EvalInputs(SampleBatch(gen), imageset(images))
    )
    expected = []
    with torch.no_grad():
        for i in range(len(gen)):
            for j in range(i + 1, len(gen)):
                d = reference(
                    gen[i : i + 1].expand(-1, 3, -1, -1),
                    gen[j : j + 1].expand(-1, 3, -1, -1),
                    normalize=True,
                )
                expected.append(float(d))
    np.testing.assert_allclose(result.per_sample, expected, atol=1e-5, rtol=1e-5)
    assert result.n == 45 and result.details["grouping"] == "all"
    assert result.ci_low <= result.value <= result.ci_high


def test_diversity_groups_by_source_then_label(backbone, images):
    train = imageset(images)
    sources = (train.names[0],) * 3 + (train.names[1],) * 2 + (train.names[2],)
    gen = SampleBatch(images[:6], sources=sources)
    groups, rule = sample_groups(EvalInputs(gen, train))
    assert rule == "source" and [g.tolist() for g in groups] == [[0, 1, 2], [3, 4], [5]]
    result = LPIPS(model=build_lpips("alex", backbone)).compute(EvalInputs(gen, train))
    assert result.n == 3 + 1  # pairs within the two groups of size 3 and 2
    one_each = SampleBatch(images[:3], sources=train.names[:3])
    assert sample_groups(EvalInputs(one_each, train))[1] == "all"  # nothing to compare within
    labelled = SampleBatch(images[:4], labels=torch.tensor([1, 0, 1, 0]))
    groups, rule = sample_groups(EvalInputs(labelled, train))
    assert rule == "label" and [g.tolist() for g in groups] == [[0, 2], [1, 3]]


def test_identical_images_have_zero_distance(backbone, images):
    train = imageset(images)
    result = LPIPS(LPIPS.Config(mode="paired"), model=build_lpips("alex", backbone)).compute(
        EvalInputs(SampleBatch(images, sources=train.names), train)
    )
    assert np.abs(result.per_sample).max() < 1e-6


def test_missing_backbone_is_unavailable_with_fix(images):
    train = imageset(images)
    with pytest.raises(MetricUnavailable) as info:
        LPIPS(LPIPS.Config(mode="paired")).compute(
            EvalInputs(SampleBatch(images, sources=train.names), train)
        )
    assert "usbench weights fetch alexnet-imagenet" in info.value.fix
