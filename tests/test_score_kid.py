"""KID against torchmetrics' `KernelInceptionDistance` fed the same features.

torchmetrics takes a custom feature module; `nn.Identity()` makes it use exactly the
features we pass (our pool3 features of the FID Inception network). Both use the cubic
polynomial kernel `(x·y/d + 1)^3` (degree 3, gamma = 1/d, coef 1) and the unbiased MMD².

Subset sampling differs (numpy `Generator.choice` here, `torch.randperm` there), so:
with one subset of all N images the unbiased MMD² is a deterministic function of the two
sets (order does not matter) and the two must agree to float64 round-off (1e-9 relative:
sums of N² kernel values of size ~10³ in a different order); with many smaller subsets
our mean must lie within the reference's standard deviation over subsets.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torchmetrics.image.kid import KernelInceptionDistance

import usbench
from usbench.metrics._lib.frechet import kid_subsets
from usbench.plugins import resolve_list
from usbench.protocols import EvalInputs
from usbench.sample_sources import as_imageset, as_samples

# torchmetrics warns that it keeps every feature in memory; here that is 40 vectors
pytestmark = pytest.mark.filterwarnings("ignore:Metric `Kernel Inception Distance`")


def _torchmetrics_kid(
    fake: np.ndarray, real: np.ndarray, *, subsets: int, subset_size: int
) -> tuple[float, float]:
    torch.manual_seed(0)
    kid = KernelInceptionDistance(
        feature=nn.Identity(), subsets=subsets, subset_size=subset_size, degree=3, coef=1.0
    )
    kid.update(torch.from_numpy(real), real=True)
    kid.update(torch.from_numpy(fake), real=False)
    mean, std = kid.compute()
    return float(mean), float(std)


def test_kid_of_one_full_subset_equals_torchmetrics_on_random_features():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 64)) + 0.2
    y = rng.normal(size=(30, 64))
    (ours,) = kid_subsets(x, y, n_subsets=1, subset_size=30, seed=0)
    reference, _ = _torchmetrics_kid(x, y, subsets=1, subset_size=30)
    assert ours == pytest.approx(reference, rel=1e-9)


@pytest.mark.slow
def test_kid_equals_torchmetrics_on_the_same_inception_features(pocus_dir):
    """POCUS REGULAR (40, real) vs COVID (40, generated) at 256 px, real FID weights."""
    real_dir, fake_dir = pocus_dir / "regular", pocus_dir / "covid"
    real = as_imageset(real_dir, image_size=256)
    fake = as_samples(fake_dir, image_size=256)
    (spec,) = resolve_list("metrics", "kid")
    gen, ref = spec.build().set_features(EvalInputs(generated=fake, train=real, seed=0))
    x, y = gen["pool3"], ref["pool3"]
    assert x.shape == y.shape == (40, 2048)

    # the metric's MMD² on one subset of all 40 (the metric itself caps its subsets at half
    # the smaller set, so that subsets differ; the estimator is the same)
    (ours,) = kid_subsets(x, y, n_subsets=1, subset_size=40, seed=0)
    reference, _ = _torchmetrics_kid(x, y, subsets=1, subset_size=40)
    print(f"one subset of 40: usbench {ours:.8f} torchmetrics {reference:.8f}")
    assert ours == pytest.approx(reference, rel=1e-9)

    table = usbench.score(real_dir, fake_dir, metrics="kid:subset_size=20", image_size=256)
    mean = float(table.loc[0, "value"])
    ref_mean, ref_std = _torchmetrics_kid(x, y, subsets=100, subset_size=20)
    print(f"100 subsets of 20: usbench {mean:.6f} torchmetrics {ref_mean:.6f} ± {ref_std:.6f}")
    assert abs(mean - ref_mean) <= ref_std
    assert table.loc[0, "n"] == 40
