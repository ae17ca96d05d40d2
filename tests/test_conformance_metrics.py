"""Every registered metric passes :class:`usbench.testing.MetricConformance`.

Parametrised over the entry points of ``usbench.metrics``: a newly registered metric runs
the suite at its default settings. Metrics whose pretrained networks accept injection get
seeded random weights (FID/KID/SIFID: the FID Inception body; LPIPS: an AlexNet backbone;
memorization: pixel space only);
those whose weights cannot be had offline and that take no injection (NIMA) must fail
cleanly with :class:`~usbench.protocols.MetricUnavailable`. Test-only settings keep it
fast (fewer bootstrap resamples, KID subsets that fit 8 images).
"""

from __future__ import annotations

import functools

import pytest
import torch
from _metric_fixtures import random_fid_state

from usbench.metrics._lib.fid_inception import build_fid_inception
from usbench.testing import MetricCase, MetricConformance, registered

# Test-only settings keep the suite fast (KID/FID draw their subsets from features in a
# canonical row order, so the image order does not change them).
SETTINGS = {"fid": "fid:n_boot=2", "kid": "kid:n_subsets=2"}
UNAVAILABLE_OFFLINE = {"nima"}


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    monkeypatch.setenv("USBENCH_OFFLINE", "1")
    monkeypatch.setenv("USBENCH_WEIGHTS_DIR", str(tmp_path / "no-weights"))


@functools.cache
def _fid_state() -> dict:
    return random_fid_state(seed=0)


@functools.cache
def _alexnet_state() -> dict:
    import torchvision

    torch.manual_seed(0)
    return torchvision.models.alexnet(weights=None).state_dict()


def _with_inception(plugin):
    def build(config):
        net = build_fid_inception()
        net.load_state_dict(_fid_state())
        return plugin(config, network=net.eval())

    return build


def _with_lpips_backbone(plugin):
    def build(config):
        from usbench.metrics.perceptual import build_lpips

        return plugin(config, model=build_lpips(config.net, _alexnet_state()))

    return build


INJECT = {"fid": _with_inception, "kid": _with_inception, "sifid": _with_inception}
INJECT["lpips"] = _with_lpips_backbone
_ON_FID_FEATURES = ("prdc", "vendi", "fd-inf", "relative-fd", "authenticity", "data-copying")
INJECT.update(dict.fromkeys(_ON_FID_FEATURES, _with_inception))
# pixel space only: its Inception space would convert the FID weights (tested elsewhere)
INJECT["memorization"] = lambda plugin: lambda config: plugin(config, extractors=())


def metric_case(name: str) -> MetricCase:
    case = MetricCase.from_selector(SETTINGS.get(name, name))
    inject = INJECT.get(name)
    return MetricCase(
        case.plugin,
        case.config,
        build=inject(case.plugin) if inject else None,
        expect_unavailable=name in UNAVAILABLE_OFFLINE,
    )


class TestEveryMetric(MetricConformance):
    @pytest.fixture(scope="class", params=registered("metrics"))
    @classmethod
    def case(cls, request) -> MetricCase:
        return metric_case(request.param)


class TestPairedLPIPS(MetricConformance):
    """The paired mode changes kind and direction: check that variant too."""

    @pytest.fixture(scope="class")
    @classmethod
    def case(cls) -> MetricCase:
        case = MetricCase.from_selector("lpips:mode=paired")
        return MetricCase(case.plugin, case.config, build=_with_lpips_backbone(case.plugin))
