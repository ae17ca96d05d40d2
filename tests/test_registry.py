"""The plugin registry: entry points, lazy loading, clear errors, broken plugins."""

from __future__ import annotations

import subprocess
import sys

import pytest

from usbench.protocols import Generator
from usbench.registry import PluginLoadError, Registry, UnknownPluginError, registry


def test_builtins_come_from_entry_points():
    reg = registry("generators")
    assert "ddpm" in reg.names()
    assert reg.origin("ddpm") == "usbench"
    assert reg.target("ddpm") == "usbench.generators.ddpm:DDPMGenerator"
    assert issubclass(reg.get("ddpm"), Generator)


def test_listing_imports_no_model_code():
    code = (
        "import sys; from usbench.registry import registry;"
        "names = [registry(k).names() for k in ('generators','metrics','datasets','tasks')];"
        "heavy = [m for m in ('torch','diffusers','usbench.generators.ddpm') if m in sys.modules];"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_unknown_name_suggests_close_matches():
    with pytest.raises(UnknownPluginError) as err:
        registry("generators").get("dpm")
    message = str(err.value)
    assert "Did you mean 'ddpm'" in message
    assert "Registered generators:" in message and "ddpm" in message


def test_broken_plugin_is_named_and_others_survive():
    reg = Registry("generators", base=Generator)
    reg.register("broken", "usbench_no_such_module.x:Gen")
    reg.register("ddpm", "usbench.generators.ddpm:DDPMGenerator")
    with pytest.raises(PluginLoadError, match="broken.*usbench_no_such_module"):
        reg.get("broken")
    with pytest.warns(UserWarning, match="broken"):
        loaded = reg.load_all()
    assert "ddpm" in loaded and "broken" not in loaded


def test_a_plugin_has_one_name_the_registrys():
    reg = Registry("generators", base=Generator)
    reg.register("other", "usbench.generators.ddpm:DDPMGenerator")
    with pytest.raises(PluginLoadError, match="says its name is 'ddpm'.*alias"):
        reg.get("other")

    class Nameless(Generator):  # a third-party class that states no name gets the registry's
        pass

    reg.register("nameless", Nameless)
    assert reg.get("nameless").name == "nameless"


def test_wrong_base_class_is_refused():
    reg = Registry("generators", base=Generator)
    reg.register("notagen", "collections:OrderedDict")
    with pytest.raises(PluginLoadError, match="not a subclass"):
        reg.get("notagen")


def test_duplicate_name_is_refused():
    reg = Registry("generators", base=Generator)
    reg.register("x", "a:B")
    with pytest.raises(ValueError, match="already registered"):
        reg.register("x", "c:D")


def test_unknown_kind():
    with pytest.raises(UnknownPluginError, match="kinds are"):
        registry("widgets")


def test_one_cache_variable_and_its_deprecated_spelling(tmp_path, monkeypatch) -> None:
    from usbench import paths

    monkeypatch.delenv("USBENCH_CACHE", raising=False)
    monkeypatch.delenv("USBENCH_WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("USBENCH_CACHE_DIR", str(tmp_path / "old"))
    with pytest.warns(DeprecationWarning, match="USBENCH_CACHE"):
        assert paths.features_dir() == tmp_path / "old" / "features"
    monkeypatch.setenv("USBENCH_CACHE", str(tmp_path / "new"))
    assert paths.weights_dir() == tmp_path / "new" / "weights"
    assert paths.dataset_dir("lus") == tmp_path / "new" / "datasets" / "lus"
    assert paths.simus_dir() == tmp_path / "new" / "simus"
