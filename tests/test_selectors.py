"""The selector grammar, nested config sections, renamed keys, aliases and suites."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import pytest

from usbench import catalog
from usbench.config import ConfigError, build_config, config_to_dict, field_docs, valid_keys
from usbench.plugins import resolve, resolve_list
from usbench.selectors import Selector, parse_selector, parse_selector_list


def test_list_grammar_groups_settings_with_their_name():
    items = parse_selector_list("fid:layer=pool2,kid,lpips:net=vgg,mode=paired")
    assert items == [
        Selector("fid", (("layer", "pool2"),)),
        Selector("kid"),
        Selector("lpips", (("net", "vgg"), ("mode", "paired"))),
    ]


def test_quotes_and_brackets_hold_commas():
    (item,) = parse_selector_list("x:a='1,2',b=[3,4],c=\"p=q\"")
    assert item.options == {"a": "1,2", "b": "[3,4]", "c": "p=q"}
    assert str(item) == 'x:a="1,2",b=[3,4],c="p=q"'


def test_positional_only_where_allowed():
    assert parse_selector("folder:/data/x", positional=True).positional == "/data/x"
    with pytest.raises(ConfigError, match="expected key=value after 'fid:'"):
        parse_selector_list("fid:layer")
    with pytest.raises(ConfigError, match="not closed"):
        parse_selector_list("fid:layer='pool2")


@dataclass(frozen=True)
class _Train:
    """Toy section.

    lr: learning rate.
    steps: optimizer steps.
    """

    lr: float = 1e-3
    steps: int = 10


@dataclass(frozen=True)
class _Model:
    """Toy config.

    width: channels, a description that
        goes on over two lines.
    kind: a or b.
    """

    width: int = 8
    kind: Literal["a", "b"] = "a"
    train: _Train = _Train()
    renamed: ClassVar[dict[str, str]] = {"learning_rate": "train.lr"}


def test_sections_take_dotted_keys_and_nested_mappings():
    cfg = build_config(_Model, {"train.lr": "1e-4", "width": "16"})
    assert cfg.train == _Train(lr=1e-4, steps=10) and cfg.width == 16
    again = build_config(_Model, config_to_dict(cfg))  # what a saved config.json holds
    assert again == cfg
    assert valid_keys(_Model) == ["width", "kind", "train.lr", "train.steps"]


def test_renamed_keys_keep_old_commands_and_saved_configs_working():
    assert build_config(_Model, {"learning_rate": "0.5"}).train.lr == 0.5


def test_unknown_and_bad_values_name_the_valid_ones():
    with pytest.raises(ConfigError, match=r"'train.lrr'.*Valid keys: width, kind, train.lr"):
        build_config(_Model, {"train.lrr": "1"})
    with pytest.raises(ConfigError, match="choose one of a, b"):
        build_config(_Model, {"kind": "c"})
    with pytest.raises(ConfigError, match="expected float"):
        build_config(_Model, {"train.lr": "fast"})


def test_field_docs_read_the_docstring_with_continuations():
    docs = field_docs(_Model)
    assert docs["width"] == "channels, a description that goes on over two lines."
    assert docs["train.steps"] == "optimizer steps."


def test_aliases_resolve_to_the_canonical_selector():
    assert resolve("metrics", "fid-pool2").selector == "fid:layer=pool2"
    assert resolve("metrics", "lpips-paired-vgg").selector == "lpips:mode=paired,net=vgg"
    assert resolve("metrics", "lpips:net=vgg,mode=paired").selector == "lpips:mode=paired,net=vgg"
    # a setting that cannot change the value is not part of the identity
    assert resolve("metrics", "kid:batch_size=4").selector == "kid"
    # every alias target is written canonically, so stored old names map onto new columns
    for alias, target in catalog.ALIASES["metrics"].items():
        assert (
            resolve("metrics", alias).selector
            == target
            == catalog.canonical_alias("metrics", alias)
        )


def test_metric_settings_reach_the_metric_and_its_direction():
    paired = resolve("metrics", "lpips:mode=paired").build()
    assert paired.higher_is_better is False and paired.config.mode == "paired"
    assert resolve("metrics", "lpips").build().higher_is_better is True
    assert resolve("metrics", "fid:layer=pool1").build().variant.__self__.config.layer == "pool1"


def test_suites_expand_and_deduplicate():
    seed002 = [s.selector for s in resolve_list("metrics", "@seed002,ssim")]
    assert seed002 == ["fid:layer=pool1", "fid:layer=pool2", "lpips:mode=paired", "ssim", "psnr"]
    everything = {s.selector for s in resolve_list("metrics", "@all")}
    assert set(catalog.ALIASES["metrics"].values()) <= everything
    # the 20 metric names of earlier versions, 6 set and copying metrics, 3 PRDC statistics
    # and cw-ssim's DTCWT variant
    assert len(everything) == 30
    with pytest.raises(KeyError, match="Suites: @default"):
        resolve_list("metrics", "@nope")


def test_generator_selector_picks_preset_and_train_settings():
    spec = resolve("generators", "ddpm:preset=smoke,image_size=32", preset="quick")
    assert spec.preset == "smoke" and spec.config.image_size == 32
    with pytest.raises(ConfigError, match="Unknown preset 'fast'.*paper, quick, smoke"):
        resolve("generators", "ddpm:preset=fast")


def test_file_stems_are_portable():
    from usbench.selectors import file_stem

    assert (
        file_stem("sifid:layer=pool2,network=tv-inception")
        == "sifid_layer-pool2_network-tv-inception"
    )
    assert file_stem('folder:"/a b/c"') == "folder_abc"
    assert file_stem("fid") == "fid"


@pytest.mark.parametrize("kind", ["generators", "metrics", "datasets", "tasks"])
def test_every_setting_of_every_registered_plugin_is_documented(kind):
    """``usbench list KIND NAME`` shows a description for every key users can set."""
    from usbench.registry import registry

    for name in registry(kind).names():
        config_cls = registry(kind).get(name).Config
        if config_cls is None:
            continue
        docs = field_docs(config_cls)
        undocumented = [k for k in valid_keys(config_cls) if not docs.get(k)]
        assert not undocumented, (
            f"{kind} {name}: add `key: text` docstring lines for {undocumented}"
        )
