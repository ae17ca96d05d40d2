"""PRDC, Vendi, FD∞, relative FD, authenticity and C_T against their reference packages /
published definitions, on the same features."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _metric_fixtures import imageset, lus_images, phantom_images, random_fid_state

from usbench.metrics._lib import features as feat
from usbench.metrics._lib.copying import authentic_mask, ct_statistic
from usbench.metrics._lib.fd_extrapolation import fd_infinity, split_half_distances
from usbench.metrics._lib.fid_inception import build_fid_inception
from usbench.metrics._lib.frechet import frechet_distance
from usbench.metrics._lib.manifold import cosine_similarity_matrix, prdc, vendi_score
from usbench.metrics.copying import Authenticity, DataCopying
from usbench.metrics.frechet_extended import FDInfinity, RelativeFD
from usbench.metrics.manifold import PRDCMetric, Vendi
from usbench.protocols import EvalInputs
from usbench.samples import SampleBatch


@pytest.fixture(scope="module", autouse=True)
def _offline(tmp_path_factory):
    """Offline, no weights; one feature cache for the module (one Inception pass)."""
    root = tmp_path_factory.mktemp("sets")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("USBENCH_OFFLINE", "1")
        patch.setenv("USBENCH_WEIGHTS_DIR", str(root / "weights"))
        patch.setenv("USBENCH_CACHE", str(root / "cache"))
        feat.clear_memory()
        yield


@pytest.fixture(scope="module")
def body():
    net = build_fid_inception()
    net.load_state_dict(random_fid_state(0))
    return net.eval()


@pytest.fixture(scope="module")
def inputs():
    """6 real lung frames + 6 phantoms as the real set; 6 other frames + 4 phantoms."""
    real = torch.cat([lus_images(12)[::2], phantom_images(6, seed=1)])
    gen = torch.cat([lus_images(12)[1::2], phantom_images(4, seed=2)])
    return EvalInputs(SampleBatch(gen), imageset(real), seed=3)


def _scipy_fd(x: np.ndarray, y: np.ndarray) -> float:
    """pytorch-fid's Fréchet distance (scipy sqrtm) from the two feature sets."""
    from pytorch_fid.fid_score import calculate_frechet_distance

    return float(
        calculate_frechet_distance(
            x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False)
        )
    )


# -- PRDC -------------------------------------------------------------------------------
@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("seed", [0, 1])
def test_prdc_equals_prdc_package(k, seed):
    from prdc import compute_prdc

    rng = np.random.default_rng(seed)
    real = rng.normal(size=(60, 32))
    fake = rng.normal(0.3, 1.2, size=(45, 32))
    ref = compute_prdc(real, fake, nearest_k=k)
    ours = prdc(real, fake, k=k)
    for name, value in ref.items():
        assert getattr(ours, name) == pytest.approx(float(value), abs=1e-12), name
    assert ours.inside_real.mean() == pytest.approx(ours.precision)
    assert ours.real_balls.mean() == pytest.approx(ours.density)


def test_prdc_identical_sets_are_perfect():
    x = np.random.default_rng(0).normal(size=(30, 8))
    stats = prdc(x, x + 1e-9, k=5)
    assert (stats.precision, stats.recall, stats.coverage) == (1.0, 1.0, 1.0)


@pytest.mark.parametrize("statistic", ["precision", "recall", "density", "coverage"])
def test_prdc_metric_equals_prdc_package_on_its_features(body, inputs, statistic):
    from prdc import compute_prdc

    metric = PRDCMetric(PRDCMetric.Config(statistic=statistic), network=body)
    result = metric.compute(inputs)
    gen, real = metric.set_features(inputs)
    ref = compute_prdc(real["pool3"], gen["pool3"], nearest_k=5)
    assert result.value == pytest.approx(float(ref[statistic]), abs=1e-12)
    assert result.n == 10 and result.details["n_real"] == 12
    for name, value in ref.items():
        assert result.details[name] == pytest.approx(float(value), abs=1e-12)


# -- Vendi ------------------------------------------------------------------------------
def test_vendi_equals_vendi_score_package():
    from vendi_score import vendi

    x = np.random.default_rng(0).normal(size=(40, 16))
    assert vendi_score(cosine_similarity_matrix(x)) == pytest.approx(vendi.score_X(x), rel=1e-10)
    for q in (0.5, 2.0, float("inf")):
        ref = vendi.score_K(x @ x.T, q="inf" if np.isinf(q) else q, normalize=True)
        assert vendi_score(cosine_similarity_matrix(x), q=q) == pytest.approx(ref, rel=1e-8)


def test_vendi_counts_distinct_samples():
    identical = np.tile(np.array([[1.0, 2.0, 3.0]]), (7, 1))
    assert vendi_score(cosine_similarity_matrix(identical)) == pytest.approx(1.0)
    orthogonal = np.eye(5)
    assert vendi_score(cosine_similarity_matrix(orthogonal)) == pytest.approx(5.0)
    two_groups = np.repeat(np.eye(2), 4, axis=0)
    assert vendi_score(cosine_similarity_matrix(two_groups)) == pytest.approx(2.0)


def test_vendi_metric_equals_package_on_generated_features(body, inputs):
    from vendi_score import vendi

    metric = Vendi(network=body)
    result = metric.compute(inputs)
    gen, _ = metric.set_features(inputs)
    assert result.value == pytest.approx(vendi.score_X(gen["pool3"]), rel=1e-9)
    assert 1.0 <= result.value <= 10


# -- FD∞ --------------------------------------------------------------------------------
def _reference_fd_infinity(gen, real, n_points, min_fraction, seed, distance=_scipy_fd):
    """The published definition: FIDs on subsets without replacement at evenly spaced N,
    least-squares line in 1/N (numpy lstsq), intercept."""
    n = len(gen)
    sizes = np.linspace(max(2, int(np.ceil(min_fraction * n))), n, n_points).astype(int)
    rows = gen[np.lexsort(gen.T[::-1])]
    rng = np.random.default_rng(seed)
    fds = [distance(rows[rng.permutation(n)[:s]], real) for s in sizes]
    design = np.stack([np.ones(len(sizes)), 1.0 / sizes], axis=1)
    (intercept, slope), *_ = np.linalg.lstsq(design, np.array(fds), rcond=None)
    return intercept, slope


def test_fd_infinity_equals_least_squares_definition():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(500, 6))
    gen = rng.normal(0.2, 1.1, size=(200, 6))
    fit = fd_infinity(gen, real, n_points=15, min_fraction=0.1, seed=4)
    intercept, slope = _reference_fd_infinity(gen, real, 15, 0.1, 4)
    assert fit.value == pytest.approx(intercept, rel=1e-8)
    assert fit.slope == pytest.approx(slope, rel=1e-8)
    assert fit.sizes[0] == 20 and fit.sizes[-1] == 200
    assert fit.ci_low < fit.value < fit.ci_high


def test_fd_infinity_removes_the_small_n_bias():
    """Same Gaussian on both sides: FID_N ≈ c/N > 0, FD∞ ≈ 0 (true distance)."""
    rng = np.random.default_rng(1)
    real = rng.normal(size=(40000, 8))
    gen = rng.normal(size=(400, 8))
    fit = fd_infinity(gen, real, n_points=15, min_fraction=0.1, seed=0)
    assert fit.distances[0] > 0.5  # N = 40: heavily biased
    assert abs(fit.value) < 0.1 * fit.distances[0]
    assert fit.ci_low < 0.0 < fit.ci_high or abs(fit.value) < 0.02


def test_fd_inf_metric_equals_definition_on_its_features(body, inputs):
    metric = FDInfinity(FDInfinity.Config(features="inception-pool1", n_points=6), network=body)
    result = metric.compute(inputs)
    gen, real = metric.set_features(inputs)
    # N < 64 dims: scipy's sqrtm is inaccurate there, so the FDs use the exact formula
    # (itself checked against pytorch-fid in test_metrics_inception.py)
    intercept, _ = _reference_fd_infinity(
        gen["pool1"], real["pool1"], 6, 0.1, inputs.seed, distance=frechet_distance
    )
    assert result.value == pytest.approx(intercept, rel=1e-6)
    assert result.details["sizes"] == [2, 3, 5, 6, 8, 10]
    assert result.details["warning"] is not None  # 10 images < 64 dims


# -- relative FD ------------------------------------------------------------------------
def test_relative_fd_equals_definition(body, inputs):
    metric = RelativeFD(RelativeFD.Config(features="inception-pool1", n_splits=3), network=body)
    result = metric.compute(inputs)
    gen, real = (d["pool1"] for d in metric.set_features(inputs))
    rows = real[np.lexsort(real.T[::-1])]
    rng = np.random.default_rng(inputs.seed)
    halves = []
    for _ in range(3):
        order = rng.permutation(len(rows))
        halves.append(frechet_distance(rows[order[:6]], rows[order[6:12]]))
    expected = frechet_distance(gen, real) / np.mean(halves)
    assert result.value == pytest.approx(expected, rel=1e-6)
    assert result.details["fd_real_halves"] == pytest.approx(np.mean(halves), rel=1e-6)


def test_split_halves_of_one_gaussian_match_generated_from_it():
    """A generated set from the real distribution scores about as far as a real half."""
    rng = np.random.default_rng(2)
    real = rng.normal(size=(400, 4))
    halves = split_half_distances(real, n_splits=20, seed=0)
    same = np.mean([_scipy_fd(rng.normal(size=(200, 4)), real[:200]) for _ in range(20)])
    assert same / halves.mean() == pytest.approx(1.0, abs=0.35)


# -- authenticity and C_T -----------------------------------------------------------------
def _reference_authenticity(real, gen):
    """Alaa et al.'s rule with explicit loops: unauthentic when closer to its nearest real
    point than that point's nearest other real point."""
    flags = []
    for g in gen:
        d = np.linalg.norm(real - g, axis=1)
        i = int(d.argmin())
        others = np.linalg.norm(np.delete(real, i, axis=0) - real[i], axis=1)
        flags.append(float(d[i] > others.min()))
    return np.array(flags)


def test_authenticity_equals_its_definition_and_flags_copies():
    rng = np.random.default_rng(5)
    real = rng.normal(size=(50, 6))
    fresh = rng.normal(size=(40, 6))
    np.testing.assert_array_equal(authentic_mask(real, fresh), _reference_authenticity(real, fresh))
    copies = real[:20] + 1e-6 * rng.normal(size=(20, 6))
    assert authentic_mask(real, copies).sum() == 0
    assert authentic_mask(real, fresh).mean() > 0.5


def _reference_ct(train, test, gen, n_cells, tau, seed):
    """Meehan et al.'s C_T with scipy's Mann–Whitney U and explicit per-cell loops."""
    from scipy.stats import mannwhitneyu
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=n_cells, n_init=10, random_state=seed).fit(train)
    tc, gc = km.predict(test), km.predict(gen)
    nearest = lambda a: np.array([np.linalg.norm(train - r, axis=1).min() for r in a])  # noqa: E731
    td, gd = nearest(test), nearest(gen)
    num = den = 0.0
    for c in range(n_cells):
        pn, qm = np.mean(tc == c), np.mean(gc == c)
        if qm < tau or qm == 0 or pn == 0:
            continue
        m, n = int(np.sum(gc == c)), int(np.sum(tc == c))
        u = mannwhitneyu(gd[gc == c], td[tc == c]).statistic
        num += pn * (u - m * n / 2) / np.sqrt(m * n * (m + n + 1) / 12)
        den += pn
    return num / den


def test_ct_equals_its_definition_and_detects_copying():
    rng = np.random.default_rng(6)
    train = rng.normal(size=(200, 5))
    test = rng.normal(size=(100, 5))
    fresh = rng.normal(size=(100, 5))
    copies = train[:100] + 0.05 * rng.normal(size=(100, 5))
    for gen in (fresh, copies):
        ours = ct_statistic(train, test, gen, n_cells=4, tau=0.05, seed=0).value
        assert ours == pytest.approx(_reference_ct(train, test, gen, 4, 0.05, 0), rel=1e-10)
    assert abs(ct_statistic(train, test, fresh, n_cells=4, tau=0.05, seed=0).value) < 3
    assert ct_statistic(train, test, copies, n_cells=4, tau=0.05, seed=0).value < -5


def test_copying_metrics_on_inception_features(body, inputs):
    heldout = imageset(torch.cat([lus_images(16)[12:], phantom_images(4, seed=7)]), "test")
    full = EvalInputs(inputs.generated, inputs.train, heldout, seed=0)
    auth = Authenticity(network=body)
    result = auth.compute(full)
    gen, real = (d["pool3"] for d in auth.set_features(full))
    np.testing.assert_array_equal(result.per_sample, _reference_authenticity(real, gen))
    copy = DataCopying(DataCopying.Config(n_cells=2, tau=0.0), network=body)
    ct = copy.compute(full)
    test = copy.image_features(heldout.images, on_disk=True, data=heldout.content_hash())["pool3"]
    assert ct.value == pytest.approx(_reference_ct(real, test, gen, 2, 0.0, 0), rel=1e-9)
