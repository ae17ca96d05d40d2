"""Every registered dataset passes :class:`usbench.testing.DatasetConformance`.

Parametrised over the entry points of ``usbench.datasets``. ``folder`` and ``busi`` load a
tiny folder written here in the layout they expect, ``camus`` a fake download
(``_fake_camus``); ``lus-mini`` loads the shared copy of the
POCUS frames (``<repo>/../shared/data/pocus-lus`` or ``$USBENCH_SHARED/data/pocus-lus``)
and is skipped with the reason when it is absent; ``lus`` reads a small fake of the upstream
repository (a git clone made here, see ``_fake_pocus``); ``lus-phantom`` is generated. A newly
registered dataset runs the suite with its default root.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from _fake_camus import write_camus
from _fake_pocus import make_clone
from _shared import require_lus
from PIL import Image

from usbench.data.busi import BUSI, BUSIMissing
from usbench.images import to_uint8
from usbench.registry import registry
from usbench.testing import DatasetCase, DatasetConformance, registered, tiny_dataset


def write_class_folders(root: Path, classes: tuple[str, ...], per_class: int = 2) -> Path:
    """``root/<class>/<class> (k).png`` toy images (plus a BUSI-style mask, to be ignored)."""
    images = tiny_dataset(image_size=24, n=len(classes) * per_class, seed=3).images
    for i, image in enumerate(images):
        cls = classes[i % len(classes)]
        (root / cls).mkdir(parents=True, exist_ok=True)
        Image.fromarray(to_uint8(image)).save(root / cls / f"{cls} ({i}).png")
        Image.fromarray(to_uint8(image)).save(root / cls / f"{cls} ({i})_mask.png")
    return root


def folder_root(factory) -> Path:
    return write_class_folders(factory.mktemp("folder"), ("a", "b"))


def busi_root(factory) -> Path:
    return write_class_folders(factory.mktemp("busi") / "Dataset_BUSI_with_GT", BUSI_CLASSES)


def camus_root(factory) -> Path:
    return write_camus(factory.mktemp("camus"), patients=2)


def lus_root(_factory) -> Path:
    return require_lus()


BUSI_CLASSES = ("benign", "malignant", "normal")
ROOTS = {"folder": folder_root, "busi": busi_root, "lus-mini": lus_root, "camus": camus_root}
OPTIONS = {"lus-phantom": {"n_per_class": "2"}}


@pytest.mark.filterwarnings("ignore:.*no patient ids")
class TestEveryDataset(DatasetConformance):
    @pytest.fixture(scope="class", params=registered("datasets"))
    @classmethod
    def case(cls, request, tmp_path_factory) -> DatasetCase:
        name = request.param
        plugin = registry("datasets").get(name)
        if name == "lus":  # the fake clone's commit is only known once it is made
            clone, commit = make_clone(tmp_path_factory.mktemp("pocus-upstream"))
            return DatasetCase(plugin, lambda _factory: clone, {"commit": commit}, 32)
        root = ROOTS.get(name, lambda _factory: None)
        return DatasetCase(plugin, root, OPTIONS.get(name, {}), image_size=32)


def test_busi_without_data_says_how_to_get_it(tmp_path):
    with pytest.raises(BUSIMissing, match="--data-root"):
        BUSI().load(image_size=32, root=None)
    with pytest.raises(BUSIMissing, match="Download BUSI"):
        BUSI().load(image_size=32, root=tmp_path)


def test_lus_with_a_wrong_root_says_what_to_give(tmp_path):
    from usbench.data.pocus import POCUSLung

    with pytest.raises(FileNotFoundError, match="covid/, pneumonia/ and regular/"):
        POCUSLung().load(image_size=32, root=tmp_path / "missing")
