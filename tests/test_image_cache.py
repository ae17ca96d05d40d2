"""``folder:PATH,cache=memmap``: the same pixels, hash, features and scores as the eager
loader, decoded once, memory-mapped, and rebuilt when a file changes."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from _metric_fixtures import imageset, phantom_images, random_fid_state, write_pngs

from usbench.data import image_cache
from usbench.data.folder import FolderConfig, FolderDataset
from usbench.data.imageset import ImageSet
from usbench.metrics._lib import features as feat
from usbench.metrics._lib.fid_inception import build_fid_inception
from usbench.metrics.inception import SIFID
from usbench.metrics.memorization import Memorization
from usbench.protocols import EvalInputs
from usbench.samples import SampleBatch

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("USBENCH_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "frames"
    write_pngs(phantom_images(10, size=72, seed=1), root / "a")
    write_pngs(phantom_images(8, size=72, seed=2), root / "b")
    return root


def _load(root, cache: str) -> ImageSet:
    with pytest.warns(UserWarning, match="NOT patient-level"):
        return FolderDataset(FolderConfig(path=str(root), cache=cache)).load(image_size=64)


def test_memmap_cache_gives_the_eager_pixels_and_hash(folder) -> None:
    eager, lazy = _load(folder, "none"), _load(folder, "memmap")
    assert torch.equal(eager.images, lazy.images)
    assert lazy.content_hash() == eager.content_hash()
    assert (lazy.names, lazy.labels.tolist()) == (eager.names, eager.labels.tolist())
    entries = list(image_cache.cache_dir().glob("*.npy"))
    assert len(entries) == 1
    assert isinstance(np.load(entries[0], mmap_mode="r"), np.memmap)
    assert entries[0].stat().st_size >= 18 * 64 * 64 * 4


def test_cache_is_built_once_and_rebuilt_when_a_file_changes(folder, monkeypatch) -> None:
    _load(folder, "memmap")
    built = []
    real_build = image_cache._build

    def counting_build(*args, **kwargs):
        built.append(1)
        return real_build(*args, **kwargs)

    monkeypatch.setattr(image_cache, "_build", counting_build)
    _load(folder, "memmap")
    assert built == []  # the second load only maps the file
    changed = phantom_images(1, size=72, seed=9)
    write_pngs(changed, folder / "tmp")
    os.replace(folder / "tmp" / "0000.png", folder / "a" / "0003.png")
    (folder / "tmp").rmdir()
    data = _load(folder, "memmap")
    assert built == [1]
    assert len(list(image_cache.cache_dir().glob("*.npy"))) == 2
    assert torch.equal(data.images, _load(folder, "none").images)


def test_cache_is_not_part_of_the_dataset_identity() -> None:
    from usbench.plugins import resolve

    plain = resolve("datasets", "folder:/data/x", positional=True)
    cached = resolve("datasets", "folder:/data/x,cache=memmap", positional=True)
    assert cached.selector == plain.selector == "folder:path=/data/x"


@pytest.fixture(scope="module")
def body():
    net = build_fid_inception()
    net.load_state_dict(random_fid_state(0))
    return net.eval()


def test_streamed_features_equal_one_pass(folder, body) -> None:
    """Batches of 4 from the memory-mapped set vs one batch of all images, eager."""
    eager, lazy = _load(folder, "none"), _load(folder, "memmap")
    net = feat.InceptionFeatures(body)
    layers = ("pool1", "pool2")
    one = feat.extract(net, eager.images, mode="native", layers=layers, batch_size=len(eager))
    streamed = feat.extract(net, lazy.images, mode="native", layers=layers, batch_size=4)
    for layer in layers:
        assert streamed[layer].shape == (18, feat.LAYER_CHANNELS[layer])
        np.testing.assert_allclose(streamed[layer], one[layer], rtol=0, atol=1e-6)
        assert np.abs(one[layer]).max() > 1e-2  # real activations, not zeros
    assert feat.tensor_hash(lazy.images) == feat.tensor_hash(eager.images)


def test_lazy_set_scores_like_the_eager_set(folder, body, monkeypatch) -> None:
    feat.clear_memory()
    eager, lazy = _load(folder, "none"), _load(folder, "memmap")
    generated = SampleBatch(phantom_images(6, size=64, seed=5))
    heldout = imageset(phantom_images(5, size=64, seed=6), "held")
    scores = {}
    for kind, train in (("eager", eager), ("lazy", lazy)):
        feat.clear_memory()
        inputs = EvalInputs(generated, train, heldout, seed=3)
        sifid = SIFID(network=body).compute(inputs)
        memo = Memorization(Memorization.Config(max_shift=2), extractors=()).compute(inputs)
        scores[kind] = (sifid.value, list(sifid.per_sample), memo.value, memo.details)
    assert scores["lazy"] == scores["eager"]
    assert scores["eager"][0] > 0.0


def test_sample_check_reads_in_chunks_and_still_finds_a_late_nan() -> None:
    images = torch.rand(2600, 1, 4, 4)
    assert len(SampleBatch(images)) == 2600
    images[2500, 0, 1, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinite"):
        SampleBatch(images)


def test_chunked_hashes_equal_one_pass_hashes(folder) -> None:
    import hashlib

    data = _load(folder, "memmap")
    for tensor in (torch.rand(2500, 1, 4, 4), torch.tensor(5), data.images[:, 0, :, 3]):
        one_pass = hashlib.sha256(repr((tuple(tensor.shape), str(tensor.dtype))).encode())
        one_pass.update(tensor.contiguous().numpy().tobytes())
        assert feat.tensor_hash(tensor) == one_pass.hexdigest()
    digest = hashlib.sha256(repr((data.class_names, data.image_size, len(data))).encode())
    digest.update((data.images.numpy() * 255.0 + 0.5).astype(np.uint8).tobytes())
    digest.update(data.labels.numpy().tobytes())
    digest.update("\x00".join(data.patient_ids).encode())
    digest.update("\x00".join(data.names).encode())
    assert data.content_hash() == digest.hexdigest()


def test_a_large_subset_of_a_cached_set_is_cached_too(folder, monkeypatch) -> None:
    eager, lazy = _load(folder, "none"), _load(folder, "memmap")
    monkeypatch.setattr(image_cache, "MAPPED_SUBSET_BYTES", 0)  # every subset counts as large
    order = [5, 0, 17, 3, 11, 9]
    part = lazy.subset(order)
    files = sorted(image_cache.cache_dir().glob("*.npy"))
    assert len(files) == 2  # the set and this subset
    assert torch.equal(part.images, eager.subset(order).images)
    assert part.content_hash() == eager.subset(order).content_hash()
    assert part.names == tuple(eager.names[i] for i in order)
    again = lazy.subset(order)  # the same subset maps the same file
    assert torch.equal(again.images, part.images)
    assert sorted(image_cache.cache_dir().glob("*.npy")) == files
    nested = part.subset([4, 1])  # a subset of a cached subset is cached as well
    assert torch.equal(nested.images, eager.images[[11, 0]])
    assert len(list(image_cache.cache_dir().glob("*.npy"))) == 3
    eager.subset(order)  # an in-memory set is never written to the cache
    assert len(list(image_cache.cache_dir().glob("*.npy"))) == 3
    assert not list(image_cache.cache_dir().glob(".*tmp*"))


def test_small_subsets_stay_in_memory_and_freed_maps_are_forgotten(folder) -> None:
    import gc

    lazy = _load(folder, "memmap")
    small = lazy.subset([0, 1, 2])  # 3 × 16 KB, far below the threshold
    assert image_cache.mapped_subset(small.images, [0, 1]) is None
    assert len(list(image_cache.cache_dir().glob("*.npy"))) == 1
    pointer = lazy.images.data_ptr()
    assert pointer in image_cache._MAPPED
    del lazy
    gc.collect()
    assert pointer not in image_cache._MAPPED  # a later tensor at that address is not taken for it
