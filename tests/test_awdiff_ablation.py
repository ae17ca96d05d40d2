"""Seed 000 Fig. 4 ablation plumbing: à trous vs DWT encoder scored on identical pairs."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

os.environ["HF_HUB_OFFLINE"] = "1"

from bench.awdiff_ablation import ENCODERS, encoder_ablation  # noqa: E402
from usbench.plugins import resolve  # noqa: E402
from usbench.protocols import EvalInputs  # noqa: E402
from usbench.samples import SampleBatch  # noqa: E402
from usbench.testing import tiny_dataset  # noqa: E402

SIZE = 32
OVERRIDES = {"text_encoder": "label-embedding", "image_size": str(SIZE), "train.steps": "2"}


# at 32 px the steerable pyramid has room for 3 levels (the default 4 needs 64 px)
METRICS = ("ssim", "cw-ssim:levels=3", "cw-ssim:transform=dtcwt")


def test_both_encoders_scored_on_the_same_pairs(tmp_path):
    data = tiny_dataset(image_size=SIZE, n=6)
    scores = encoder_ablation(
        data, metric=METRICS, overrides=OVERRIDES, n_samples=5, workdir=tmp_path, seed=2
    )
    assert [s.encoder for s in scores] == list(ENCODERS)
    atrous, dwt = scores
    # same references for both variants, so the comparison is paired
    assert atrous.samples.sources == dwt.samples.sources and len(atrous.samples.sources) == 5
    assert not torch.equal(atrous.samples.images, dwt.samples.images)  # encoders differ
    for s in scores:
        assert list(s.results) == list(METRICS) and s.result is s.results["ssim"]
        sources = torch.stack([data.images[data.index_of(n)] for n in s.samples.sources])
        own = SampleBatch(sources, s.samples.labels, s.samples.sources)
        for selector, r in s.results.items():
            assert r.n == 5 and r.details["pairing"] == "source"
            assert r.value == pytest.approx(float(np.mean(r.per_sample)), abs=1e-9)
            assert -1.0 <= r.value <= 1.0
            # upper reference: each source against itself scores the maximum, 1
            metric = resolve("metrics", selector).build()
            ceiling = metric.compute(EvalInputs(generated=own, train=data, seed=0))
            assert ceiling.value == pytest.approx(1.0, abs=1e-6)
            assert r.value < ceiling.value  # a 2-step model does not reproduce its sources
