"""Features on disk, statistics in blocks: the set metrics keep their values, the blocked
moments equal numpy's, the features cache is read back (and rebuilt when damaged).

The set-metric values in ``PINNED`` were computed by the in-memory implementation this
one replaced (features held as arrays, ``x - mu`` / ``np.cov`` / gathered subsets), on
the same tiny sets and projection features, before the change.
"""

from __future__ import annotations

import mmap
import os

import numpy as np
import pytest
import torch
from _smaps import resident_kb
from scipy.spatial.distance import cdist

from usbench.data.imageset import ImageSet
from usbench.metrics._lib import feature_cache, rows
from usbench.metrics._lib import features as feat
from usbench.metrics._lib.frechet import (
    _psd_product_eigenvalues,
    frechet_distance,
    frechet_distance_to_moments,
    mean_and_covariance,
    psd_root,
)
from usbench.metrics._lib.manifold import cosine_vendi_score
from usbench.metrics._lib.nearest import distance_blocks
from usbench.metrics.copying import Authenticity, DataCopying
from usbench.metrics.frechet_extended import FDInfinity, RelativeFD
from usbench.metrics.inception import FID, KID, _SetFeatures
from usbench.metrics.manifold import PRDCMetric, Vendi
from usbench.protocols import EvalInputs
from usbench.samples import SampleBatch

# Values of the in-memory implementation, pinned on an AVX-512 CPU. Another CPU's BLAS and
# LAPACK kernels (AVX2 here) move the 64-d pool1 Fréchet distances by up to 1e-8 relative
# (the matrix square root), so the pins hold to PIN_REL; a change of algorithm moves them
# by orders of magnitude more. Disk against memory is compared bit for bit below.
PIN_REL = 1e-7
PINNED = {
    "fid": (71.69872406229804, 70.92542300043715, 72.66429002645228),
    "fid-pool1": (0.31015061653174847, 0.26405520621253953, 0.36207657913902735),
    "fid-boot": (71.69872406229804, 80.03438002082424, 84.5841687177203),
    "kid": (0.000747518596829111, 0.0004798018194527776, 0.0010019112096422088),
    "fd-inf": (73.28375761169806, 68.8965882447358, 77.67092697866033),
    "fd-inf-pool1": (0.20474742227333853, 0.11787154965517765, 0.2916232948914994),
    "relative-fd": (0.7593712323623069, None, None),
    "relative-fd-pool1": (0.5263484177953601, None, None),
    "prdc": (1.0, None, None),
    "vendi": (3.392139130269197, None, None),
    "vendi-pool1": (2.8150541490140535, None, None),
    "authenticity": (0.1375, None, None),
    "data-copying": (-4.160075959648773, None, None),
}
_WEIGHTS = {
    layer: torch.randn(256, c, generator=torch.Generator().manual_seed(i), dtype=torch.float64) / 16
    for i, (layer, c) in enumerate(feat.LAYER_CHANNELS.items())
}


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("USBENCH_CACHE", str(tmp_path / "cache"))
    feat.clear_memory()
    yield
    feat.clear_memory()


@pytest.fixture
def calls(monkeypatch) -> list[int]:
    """Project 16×16 images to the three layer widths instead of Inception (2 rows per
    batch, so entries are written in many batches); counts the feature passes."""
    seen: list[int] = []

    def batches(self, images):
        seen.append(len(images))
        for start in range(0, len(images), 2):
            x = images[start : start + 2].flatten(1).double()
            yield {k: torch.relu(x @ w).numpy() for k, w in _WEIGHTS.items()}

    monkeypatch.setattr(_SetFeatures, "_extract", batches)
    return seen


def _imageset(images: torch.Tensor, prefix: str) -> ImageSet:
    k = len(images)
    names = tuple(f"{prefix}{i}" for i in range(k))
    paths = tuple(f"{prefix}/{i}" for i in range(k))
    return ImageSet(images, torch.zeros(k, dtype=torch.int64), ("x",), names, paths, prefix)


def _inputs() -> EvalInputs:
    g = torch.Generator().manual_seed(0)
    real = _imageset(torch.rand(96, 1, 16, 16, generator=g), "real")
    held = _imageset(torch.rand(40, 1, 16, 16, generator=g), "held")
    gen = SampleBatch(torch.rand(80, 1, 16, 16, generator=g) * 0.9 + 0.05)
    return EvalInputs(gen, real, held, seed=0)


def _metrics() -> dict:
    return {
        "fid": FID(),
        "fid-pool1": FID(FID.Config(layer="pool1")),
        "fid-boot": FID(FID.Config(ci="bootstrap", n_boot=50)),
        "kid": KID(KID.Config(n_subsets=20)),
        "fd-inf": FDInfinity(),
        "fd-inf-pool1": FDInfinity(FDInfinity.Config(features="inception-pool1")),
        "relative-fd": RelativeFD(),
        "relative-fd-pool1": RelativeFD(RelativeFD.Config(features="inception-pool1")),
        "prdc": PRDCMetric(),
        "vendi": Vendi(),
        "vendi-pool1": Vendi(Vendi.Config(features="inception-pool1")),
        "authenticity": Authenticity(),
        "data-copying": DataCopying(DataCopying.Config(n_cells=3)),
    }


def test_set_metrics_keep_their_values_and_read_features_from_disk(calls):
    """Every set metric equals the in-memory implementation's value (to PIN_REL), with its
    interval; the features come from one pass per set, and a fresh process memo reads
    the disk entries back (no feature pass) and gives bit-identical results."""
    inputs = _inputs()
    first = {name: m.compute(inputs) for name, m in _metrics().items()}
    assert sorted(calls) == [40, 80, 96]  # one pass per image set, shared by all metrics
    for name, result in first.items():
        got_all = (result.value, result.ci_low, result.ci_high)
        for got, want in zip(got_all, PINNED[name], strict=True):
            assert (got is None) == (want is None), name
            if want is not None:
                assert got == pytest.approx(want, rel=PIN_REL, abs=1e-15), name
    feat.clear_memory()
    again = {name: m.compute(inputs) for name, m in _metrics().items()}
    assert sorted(calls) == [40, 80, 96]  # no new pass: read from the cache
    for name, result in again.items():
        assert (result.value, result.ci_low, result.ci_high) == (
            first[name].value,
            first[name].ci_low,
            first[name].ci_high,
        ), name


def test_features_come_back_as_readonly_maps_bit_identical(calls):
    images = _inputs().generated.images
    stored = FID().image_features(images, on_disk=True)
    assert isinstance(stored["pool3"], np.memmap) and not stored["pool3"].flags.writeable
    computed = feature_cache.concatenate_batches(_SetFeatures._extract(None, images))
    for layer, value in computed.items():
        assert stored[layer].dtype == np.float64
        assert np.array_equal(stored[layer], value), layer


@pytest.mark.parametrize("damage", ["truncate", "header", "manifest", "missing"])
def test_damaged_entry_is_recomputed(calls, tmp_path, damage):
    images = _inputs().generated.images
    first = {k: np.array(v) for k, v in FID().image_features(images, on_disk=True).items()}
    folder = tmp_path / "cache" / "features"
    (manifest,) = folder.glob("*.json")
    array = sorted(folder.glob("*.pool3.npy"))[0]
    if damage == "truncate":
        os.truncate(array, array.stat().st_size // 2)
    elif damage == "header":
        array.write_bytes(b"not a numpy file" + array.read_bytes()[16:])
    elif damage == "manifest":
        manifest.write_text("{")
    else:
        array.unlink()
    feat.clear_memory()
    second = FID().image_features(images, on_disk=True)
    assert len(calls) == 2  # recomputed
    for layer, value in first.items():
        assert np.array_equal(second[layer], value), layer
    assert not list(folder.glob(".*.tmp"))  # no temporary file left behind


def test_old_npz_entry_is_ignored(calls, tmp_path):
    images = _inputs().generated.images
    key = feat.cache_key(
        {
            "extractor": "fid-inception",
            "weights": FID().weights_id(),
            "preprocessing": "pytorch-fid",
            "layers": ["pool1", "pool2", "pool3"],
            "reduce": "spatial-mean",
            "data": feat.tensor_hash(images),
        }
    )
    folder = tmp_path / "cache" / "features"
    folder.mkdir(parents=True)
    np.savez(folder / f"{key}.npz", pool3=np.zeros((80, 2048)))
    (folder / f"{key}.json").write_text('{"extractor": "fid-inception"}')  # the old manifest
    assert np.abs(FID().image_features(images, on_disk=True)["pool3"]).max() > 0
    assert len(calls) == 1


def _stored(tmp_path, x: np.ndarray) -> np.ndarray:
    np.save(tmp_path / "x.npy", x)
    return np.load(tmp_path / "x.npy", mmap_mode="r")


@pytest.mark.parametrize("block_bytes", [8 * 7, 8 * 7 * 5, rows.BLOCK_BYTES])
def test_blocked_moments_equal_numpy(tmp_path, block_bytes):
    rng = np.random.default_rng(1)
    x = rng.normal(3.0, 2.0, size=(203, 7)) * rng.random(7) * 100
    mapped = _stored(tmp_path, x)
    index = rng.integers(0, len(x), 150)  # with repeats, as a bootstrap draw
    for rows_, dense in ((x, x), (mapped, x), (rows.subset(mapped, index), x[index])):
        mu = rows.mean(rows_, block_bytes)
        assert np.array_equal(mu, dense.mean(0))  # the same additions in the same order
        cov = rows.scatter(rows_, mu, block_bytes) / (len(dense) - 1)
        reference = np.cov(dense, rowvar=False)
        assert np.abs(cov - reference).max() <= 1e-12 * np.abs(reference).max()
        sum_sq = rows.centred_sum_of_squares(rows_, mu, block_bytes)
        assert sum_sq == pytest.approx(((dense - mu) ** 2).sum(), rel=1e-12)
        unit = dense / np.linalg.norm(dense, axis=1, keepdims=True)
        gram = rows.unit_gram(rows_, block_bytes)
        assert np.abs(gram - unit.T @ unit).max() <= 1e-12 * np.abs(unit.T @ unit).max()
    y = rng.normal(size=(31, 7))
    cross = rows.centred_cross(mapped, x.mean(0), y, y.mean(0), block_bytes)
    assert np.allclose(cross, (x - x.mean(0)) @ (y - y.mean(0)).T, rtol=1e-12, atol=1e-12)
    mu, sigma = mean_and_covariance(mapped)
    assert np.abs(sigma - np.cov(x, rowvar=False)).max() <= 1e-12 * np.abs(sigma).max()


def test_canonical_index_equals_lexsort_with_ties(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.integers(0, 3, size=(300, 4)).astype(np.float64)  # many ties, whole-row repeats
    assert np.array_equal(rows.canonical_index(_stored(tmp_path, x)), np.lexsort(x.T[::-1]))
    y = rng.normal(size=(50, 6))
    assert np.array_equal(rows.canonical_index(y), np.lexsort(y.T[::-1]))


def _old_frechet(x, y):
    """The replaced in-memory formula (centred copies, SVD or d×d eigenvalues, the root
    taken of ``x``'s covariance where the blocked one takes ``y``'s)."""
    mu_x, mu_y = x.mean(0), y.mean(0)
    a, b = x - mu_x, y - mu_y
    n1, n2, d = len(x), len(y), x.shape[1]
    if n1 * n2 <= d * d:
        trace = np.linalg.svd(a @ b.T, compute_uv=False).sum() / np.sqrt((n1 - 1) * (n2 - 1))
    else:
        eig = _psd_product_eigenvalues(psd_root(a.T @ a / (n1 - 1)), b.T @ b / (n2 - 1))
        trace = np.sqrt(np.clip(eig, 0.0, None)).sum()
    diff = mu_x - mu_y
    tr = (a * a).sum() / (n1 - 1) + (b * b).sum() / (n2 - 1)
    return float(diff @ diff + tr - 2.0 * trace)


@pytest.mark.parametrize("n1, n2, d", [(12, 15, 8), (300, 200, 16), (40, 9, 6)])
def test_frechet_in_blocks_equals_in_memory_formula(tmp_path, n1, n2, d):
    rng = np.random.default_rng(n1)
    x, y = rng.normal(size=(n1, d)), rng.normal(0.3, 1.2, size=(n2, d))
    mapped = _stored(tmp_path, x)
    assert frechet_distance(mapped, y) == pytest.approx(_old_frechet(x, y), rel=1e-12)
    index = rng.permutation(n1)[: n1 // 2]
    # 6 rows in 8 dims: Σx is singular, and the square roots of its round-off eigenvalues
    # (~1e-16) put ~8e-9 relative error on the trace term whichever side's root is taken
    # (both formulas measured against a 50-digit evaluation); full rank agrees to 1e-12
    rel = 1e-12 if len(index) > d else 1e-7
    assert frechet_distance(rows.subset(mapped, index), y) == pytest.approx(
        _old_frechet(x[index], y), rel=rel
    )
    sigma = np.cov(y, rowvar=False)
    a = x - x.mean(0)
    if n1 <= d:
        eig = np.linalg.eigvalsh(a @ sigma @ a.T / (n1 - 1))
    else:
        eig = _psd_product_eigenvalues(psd_root(a.T @ a / (n1 - 1)), sigma)
    diff = x.mean(0) - y.mean(0)
    old = diff @ diff + (a * a).sum() / (n1 - 1) + np.trace(sigma)
    old -= 2.0 * np.sqrt(np.clip(eig, 0.0, None)).sum()
    assert frechet_distance_to_moments(mapped, y.mean(0), sigma) == pytest.approx(old, rel=1e-12)


def test_vendi_in_blocks_equals_in_memory_formula(tmp_path):
    x = np.abs(np.random.default_rng(3).normal(size=(90, 5)))
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    p = np.linalg.eigvalsh(unit.T @ unit / len(x))
    p = p[p > 0]
    expected = float(np.exp(-(p * np.log(p)).sum()))
    assert cosine_vendi_score(_stored(tmp_path, x)) == pytest.approx(expected, rel=1e-12)


def test_distance_blocks_over_reference_blocks_are_exact(tmp_path):
    rng = np.random.default_rng(4)
    q, r = rng.normal(size=(23, 5)), rng.normal(size=(37, 5))
    full = cdist(q, r)
    for rows_, block in distance_blocks(q, _stored(tmp_path, r), 40, reference_bytes=8 * 5 * 3):
        assert np.array_equal(block, full[rows_])


@pytest.mark.skipif(
    not hasattr(mmap, "MADV_DONTNEED") or not os.path.exists("/proc/self/smaps"),
    reason="needs madvise(MADV_DONTNEED) and /proc/self/smaps (Linux)",
)
def test_block_readers_release_the_pages_they_read(tmp_path):
    """Reading a mapped 32 MB feature file in blocks leaves at most about one block of
    it resident; reading it whole, without release, leaves all of it."""
    x = np.random.default_rng(5).normal(size=(4096, 1024))
    mapped = _stored(tmp_path, x)
    path = tmp_path / "x.npy"
    rows.mean(mapped, block_bytes=1 << 20)
    assert resident_kb(path) <= 2 * 1024  # ~1 MB blocks, each released
    float(np.asarray(mapped).sum())
    assert resident_kb(path) >= 30 * 1024  # plain reading keeps the 32 MB resident
    rows.release(mapped)
    assert resident_kb(path) <= 64


def test_release_keeps_copy_on_write_changes(tmp_path):
    mapped = _stored(tmp_path, np.ones((1000, 512)))
    cow = np.load(tmp_path / "x.npy", mmap_mode="c")
    cow[0, 0] = 5.0
    rows.release(cow[:10])
    assert cow[0, 0] == 5.0 and mapped[0, 0] == 1.0
