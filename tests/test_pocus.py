"""The ``lus-mini`` dataset: shipped manifest, verified local copies, mirror and upstream fetch."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import shutil
import socket
import threading
from pathlib import Path

import numpy as np
import pytest
from _shared import has_lus, lus_dir
from PIL import Image

from usbench.data import open_dataset
from usbench.data.download import ChecksumError, download_verified, file_digest, git_blob_sha1
from usbench.data.folder import label_counts
from usbench.data.pocus import (
    CACHE_ENV,
    MIRROR_ENV,
    REPRODUCED_NAME,
    DatasetIntegrityError,
    DatasetUnavailable,
    LUSFrame,
    LUSSource,
    POCUSLung,
    default_cache_dir,
    ensure_cached,
    fetch_from_mirror,
    fetch_from_upstream,
    preprocess,
    shipped_frames,
    shipped_sources,
)
from usbench.data.splits import patient_kfold

os.environ.setdefault("HF_HUB_OFFLINE", "1")


LUS_DIR = lus_dir()
needs_lus = pytest.mark.skipif(not has_lus(), reason=f"no processed lus copy at {LUS_DIR}")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(MIRROR_ENV, raising=False)


@pytest.fixture
def http_root(tmp_path):
    """A folder served by a local HTTP server on 127.0.0.1; yields (folder, base URL)."""
    folder = tmp_path / "served"
    folder.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # keep test output clean
            pass

    handler = functools.partial(Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# -- the shipped manifest --------------------------------------------------------------
def test_shipped_manifest_facts():
    frames = shipped_frames()
    assert len(frames) == 105 and len({f.file for f in frames}) == 105
    counts = {c: sum(f.label == c for f in frames) for c in ("covid", "pneumonia", "regular")}
    assert counts == {"covid": 40, "pneumonia": 25, "regular": 40}
    assert len({f.patient_id for f in frames}) == 8
    assert sum(f.probe == "linear" for f in frames) == 24
    assert all(len(f.sha256) == 64 for f in frames)
    sources = shipped_sources()
    assert len(sources) == 29 and all(len(s.git_blob) == 40 for s in sources.values())
    assert {f.source_file for f in frames} == set(sources)
    for src in sources.values():  # n_images agrees with the per-frame manifest
        assert src.n_images == sum(f.source_file == src.source_file for f in frames)


def test_git_blob_sha1_matches_git():
    # `printf 'hello\n' | git hash-object --stdin`
    assert git_blob_sha1(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"


def test_default_cache_dir_follows_env(tmp_path):
    assert default_cache_dir() == tmp_path / "cache" / "datasets" / "lus-mini"


# -- a local copy (--data-root) ---------------------------------------------------------
@needs_lus
def test_load_real_frames_from_data_root():
    data = open_dataset("lus-mini", image_size=32, root=LUS_DIR)
    assert data.images.shape == (105, 1, 32, 32) and data.name == "lus-mini"
    assert label_counts(data) == {"covid": 40, "pneumonia": 25, "regular": 40}
    assert len(set(data.patient_ids)) == 8
    pneumonia = data.labels == data.class_names.index("pneumonia")
    assert (
        sum(p == "linear" for p, m in zip(data.probes, pneumonia.tolist(), strict=True) if m) == 24
    )
    assert float(data.images.min()) >= 0.0 and float(data.images.max()) <= 1.0


@needs_lus
def test_real_lus_folds_are_patient_level():
    data = POCUSLung().load(image_size=8, root=LUS_DIR)
    for seed in range(3):
        folds = patient_kfold(data, k=3, seed=seed)
        assert sorted(np.concatenate([te for _, te in folds]).tolist()) == list(range(105))
        for train, test in folds:
            train_patients = {data.patient_ids[i] for i in train}
            assert not train_patients & {data.patient_ids[i] for i in test}


@needs_lus
def test_native_size_is_bit_exact():
    frame = shipped_frames()[5]
    data = POCUSLung().load(image_size=256, root=LUS_DIR)
    raw = np.asarray(Image.open(LUS_DIR / frame.file), dtype=np.float64) / 255.0
    np.testing.assert_array_equal(
        data.images[data.index_of(frame.file), 0].numpy(), raw.astype(np.float32)
    )


@needs_lus
def test_tampered_data_root_is_refused_and_kept(tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(LUS_DIR, copy)
    victim = copy / shipped_frames()[0].file
    img = np.asarray(Image.open(victim)).copy()
    img[0, 0] ^= 1  # one bit of one pixel
    Image.fromarray(img).save(victim)
    (copy / shipped_frames()[1].file).unlink()
    with pytest.raises(DatasetIntegrityError, match=r"1 frame\(s\) missing.*1 with a different"):
        POCUSLung().load(image_size=16, root=copy)
    assert victim.is_file()  # the user's files are never deleted


def test_missing_data_root(tmp_path):
    with pytest.raises(FileNotFoundError, match="--data-root .*nowhere does not exist"):
        POCUSLung().load(image_size=16, root=tmp_path / "nowhere")


# -- mirror downloads ---------------------------------------------------------------------
@needs_lus
def test_full_load_through_file_mirror_then_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(MIRROR_ENV, LUS_DIR.as_uri())
    data = POCUSLung().load(image_size=16)
    cache = default_cache_dir()
    assert len(list(cache.rglob("*.png"))) == 105
    assert (cache / "manifest.csv").read_text().startswith("file,label,patient_id,probe\n")
    # the cache now works offline and equals the reference copy
    monkeypatch.setenv(MIRROR_ENV, _closed_port_url())
    again = POCUSLung().load(image_size=16)
    reference = POCUSLung().load(image_size=16, root=LUS_DIR)
    assert again.content_hash() == data.content_hash() == reference.content_hash()
    # the cache is itself a valid folder: dataset with patient ids
    assert open_dataset(f"folder:{cache}", image_size=16).patient_ids == data.patient_ids


@needs_lus
def test_http_mirror_refuses_a_tampered_frame(http_root, tmp_path):
    folder, base = http_root
    frames = shipped_frames()[:3]
    for frame in frames:
        (folder / frame.file).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(LUS_DIR / frame.file, folder / frame.file)
    tampered = folder / frames[2].file
    tampered.write_bytes(tampered.read_bytes() + b"\0")
    cache = tmp_path / "c"
    with pytest.raises(ChecksumError, match=f"{frames[2].file}.*deleted"):
        fetch_from_mirror(base, cache, frames)
    assert (cache / frames[0].file).is_file() and (cache / frames[1].file).is_file()
    assert file_digest(cache / frames[0].file) == frames[0].sha256
    assert not (cache / frames[2].file).exists()
    assert not [p for p in cache.rglob("*") if p.name.endswith(".part")]


@needs_lus
def test_corrupted_cache_file_is_deleted_and_fetched_again(tmp_path):
    frames = shipped_frames()[:2]
    cache = tmp_path / "c"
    ensure_cached(cache, frames, mirror=LUS_DIR.as_uri(), upstream=_closed_port_url())
    (cache / frames[1].file).write_bytes(b"junk")
    with pytest.warns(UserWarning, match="does not match its checksum"):
        ensure_cached(cache, frames, mirror=LUS_DIR.as_uri(), upstream=_closed_port_url())
    assert file_digest(cache / frames[1].file) == frames[1].sha256


def test_offline_and_not_cached_says_how_to_provide_the_data(tmp_path):
    url = _closed_port_url()
    with pytest.raises(DatasetUnavailable) as err:
        POCUSLung.from_preset(None, {"upstream": url}).load(image_size=16)
    message = str(err.value)
    for hint in ("--data-root", MIRROR_ENV, "github.com/jannisborn/covid19_ultrasound", url):
        assert hint in message
    with pytest.raises(DatasetUnavailable, match="could not download"):
        POCUSLung.from_preset(None, {"mirror": url}).load(image_size=16)


def test_unknown_option_is_refused():
    with pytest.raises(ValueError, match="Did you mean .mirror.*Valid keys: resize, mirror"):
        POCUSLung.from_preset(None, {"mirorr": "x"}).load(image_size=16)


def test_download_verified_sha256(tmp_path):
    src = tmp_path / "a.bin"
    src.write_bytes(b"ultrasound")
    good = hashlib.sha256(b"ultrasound").hexdigest()
    out = download_verified(src.as_uri(), tmp_path / "out" / "a.bin", expected=good)
    assert out.read_bytes() == b"ultrasound"
    with pytest.raises(ChecksumError):
        download_verified(src.as_uri(), tmp_path / "out" / "b.bin", expected="0" * 64)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.bin"]


# -- reproducing frames from upstream files -------------------------------------------------
def _fake_upstream(folder: Path) -> tuple[list[LUSFrame], dict[str, LUSSource]]:
    cv2 = pytest.importorskip("cv2")
    still = folder / "data" / "pocus_images" / "convex" / "still.png"
    still.parent.mkdir(parents=True)
    rgb = np.zeros((300, 400, 3), np.uint8)
    rgb[:, 200:] = (60, 120, 240)
    Image.fromarray(rgb).save(still)
    video = folder / "data" / "pocus_videos" / "convex" / "clip.avi"
    video.parent.mkdir(parents=True)
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (96, 64))
    for i in range(6):
        writer.write(np.full((64, 96, 3), 20 * i + 10, np.uint8))
    writer.release()
    sources = {}
    for path, n in ((still, 1), (video, 2)):
        rel = path.relative_to(folder).as_posix()
        sources[rel] = LUSSource(rel, git_blob_sha1(path.read_bytes()), n)
    frames = [
        LUSFrame(
            "covid/still.png",
            "covid",
            "1",
            "convex",
            "data/pocus_images/convex/still.png",
            None,
            "0" * 64,
        ),
        LUSFrame(
            "regular/clip_f0001.png",
            "regular",
            "2",
            "convex",
            "data/pocus_videos/convex/clip.avi",
            1,
            "0" * 64,
        ),
        LUSFrame(
            "regular/clip_f0004.png",
            "regular",
            "2",
            "convex",
            "data/pocus_videos/convex/clip.avi",
            4,
            "0" * 64,
        ),
    ]
    return frames, sources


def test_upstream_reproduction(http_root, tmp_path):
    folder, base = http_root
    frames, sources = _fake_upstream(folder)
    cache = tmp_path / "c"
    with pytest.warns(UserWarning, match="3 lus-mini frame\\(s\\) reproduced"):
        fetch_from_upstream(base, cache, frames, sources)
    still = np.asarray(Image.open(cache / "covid/still.png"))
    assert still.shape == (256, 256) and still.dtype == np.uint8
    # 400×300 → 341×256, crop columns 42..297: the colour edge (x=200 → 170.7) lands at ~129
    luma = round(0.299 * 60 + 0.587 * 120 + 0.114 * 240)
    assert still[128, 0] == 0 and abs(int(still[128, 255]) - luma) <= 1
    for frame, value in ((frames[1], 30), (frames[2], 90)):
        got = np.asarray(Image.open(cache / frame.file))
        assert got.shape == (256, 256) and abs(float(got.mean()) - value) < 3
    recorded = json.loads((cache / REPRODUCED_NAME).read_text())
    assert set(recorded) == {f.file for f in frames}
    assert recorded[frames[0].file] == file_digest(cache / frames[0].file)
    # verified source files already in cache/upstream are reused without any network
    first = (cache / frames[0].file).read_bytes()
    for frame in frames:
        (cache / frame.file).unlink()
    with pytest.warns(UserWarning, match="reproduced"):
        fetch_from_upstream(_closed_port_url(), cache, frames, sources)
    assert (cache / frames[0].file).read_bytes() == first


def test_upstream_file_with_wrong_blob_is_refused(http_root, tmp_path):
    folder, base = http_root
    frames, sources = _fake_upstream(folder)
    still = frames[0].source_file
    sources[still] = LUSSource(still, "f" * 40, 1)
    with pytest.raises(ChecksumError, match="git-blob-sha1.*deleted"):
        fetch_from_upstream(base, tmp_path / "c", frames[:1], sources)
    assert not (tmp_path / "c" / "upstream" / still).exists()


def test_preprocess_matches_the_documented_recipe():
    gray = np.random.default_rng(0).integers(0, 256, (300, 500), dtype=np.uint8)
    out = preprocess(gray)
    resized = np.asarray(Image.fromarray(gray).resize((427, 256), Image.Resampling.LANCZOS))
    np.testing.assert_array_equal(out, resized[:, 85:341])
    tall = preprocess(np.zeros((600, 256), np.uint8))
    assert tall.shape == (256, 256)
