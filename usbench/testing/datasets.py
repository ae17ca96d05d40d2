"""Conformance suite for dataset plugins.

Usage in a plugin's test module::

    from usbench.testing import DatasetConformance

    class TestMyData(DatasetConformance):
        dataset_name = "mydata"          # or dataset_class = MyData
        options = {"n_per_class": "2"}   # a small load
        # root: a fixture folder, set by overriding make_root(tmp_path_factory)

The suite builds the dataset from ``options`` (its ``Config`` settings, as a selector or
``--data-option`` gives them), loads it twice at ``image_size`` and checks: ``N×1×S×S``
float32 in [0, 1], labels int64 indexing ``class_names``, one patient id and one unique
name per image, the same :meth:`~usbench.data.imageset.ImageSet.content_hash` on both
loads, every setting documented, and that an unknown setting is refused with an error
naming it and the valid ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch

from usbench.config import field_docs, valid_keys
from usbench.data.imageset import ImageSet
from usbench.protocols import DatasetSource
from usbench.registry import registry


@dataclass(frozen=True)
class DatasetCase:
    """One dataset under test: its class, how to make its root, the load options.

    make_root: ``make_root(tmp_path_factory) -> Path | None`` (``None``: the default root).
    """

    plugin: type[DatasetSource]
    make_root: Callable[[Any], Path | None] = lambda _factory: None
    options: Mapping[str, str] = field(default_factory=dict)
    image_size: int = 32


class DatasetConformance:
    """Pytest base class; see the module docstring."""

    dataset_name: ClassVar[str | None] = None
    dataset_class: ClassVar[type[DatasetSource] | None] = None
    options: ClassVar[dict[str, str]] = {}
    image_size: ClassVar[int] = 32

    @classmethod
    def make_root(cls, tmp_path_factory) -> Path | None:
        """The ``root`` to load from (``None``: the dataset's default)."""
        return None

    @pytest.fixture(scope="class")
    @classmethod
    def case(cls) -> DatasetCase:
        """The dataset under test (override with ``params=`` to run several)."""
        plugin = cls.dataset_class or registry("datasets").get(cls.dataset_name or "")
        return DatasetCase(plugin, cls.make_root, cls.options, cls.image_size)

    @pytest.fixture(scope="class")
    @classmethod
    def loaded(cls, case: DatasetCase, tmp_path_factory) -> tuple[ImageSet, ImageSet]:
        root = case.make_root(tmp_path_factory)
        first = case.plugin.from_preset(None, case.options)
        second = case.plugin.from_preset(None, case.options)
        return (
            first.load(image_size=case.image_size, root=root),
            second.load(image_size=case.image_size, root=root),
        )

    def test_declares_metadata(self, case: DatasetCase) -> None:
        assert case.plugin.name, "a dataset needs a registry name"
        assert case.plugin.description, "describe the dataset in one line"

    def test_images(self, case: DatasetCase, loaded) -> None:
        data, _ = loaded
        size = case.image_size
        assert data.images.ndim == 4 and data.images.shape[1:] == (1, size, size)
        assert len(data) > 0 and data.images.dtype == torch.float32
        assert float(data.images.min()) >= 0.0 and float(data.images.max()) <= 1.0

    def test_labels_patients_names(self, loaded) -> None:
        data, _ = loaded
        assert data.labels.dtype == torch.int64 and data.labels.shape == (len(data),)
        assert int(data.labels.min()) >= 0 and int(data.labels.max()) < len(data.class_names)
        assert len(data.patient_ids) == len(data) and all(data.patient_ids)
        assert len(data.names) == len(data) and len(set(data.names)) == len(data)

    def test_content_hash_is_stable(self, loaded) -> None:
        first, second = loaded
        assert first.content_hash() == second.content_hash()

    def test_unknown_option_is_refused(self, case: DatasetCase) -> None:
        options = {**case.options, "no_such_option": "1"}
        with pytest.raises(ValueError, match="no_such_option") as raised:
            case.plugin.from_preset(None, options)
        assert "valid" in str(raised.value).lower(), "list the valid options in the error"

    def test_settings_are_documented(self, case: DatasetCase) -> None:
        if case.plugin.Config is None:
            return
        undocumented = set(valid_keys(case.plugin.Config)) - set(field_docs(case.plugin.Config))
        assert not undocumented, f"add `key: text` lines to the Config docstring: {undocumented}"
