"""``folder:PATH`` datasets: layouts, manifests, errors, and open_dataset resolution."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
from PIL import Image

from usbench.data import open_dataset
from usbench.data.folder import DatasetLayoutError, FolderDataset, label_counts
from usbench.data.imageio import ImageLoadError
from usbench.registry import UnknownPluginError, registry

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _png(path, value: int, size=(12, 10)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", size, value).save(path)
    return path


@pytest.fixture
def two_classes(tmp_path):
    root = tmp_path / "ds"
    _png(root / "b_line" / "x1.png", 10)
    _png(root / "b_line" / "sub" / "x2.png", 20)
    _png(root / "a_line" / "y1.png", 30)
    (root / "a_line" / "notes.txt").write_text("ignored")
    _png(root / "a_line" / ".hidden.png", 40)
    return root


def test_class_subfolders_give_sorted_classes(two_classes):
    with pytest.warns(UserWarning, match="NOT patient-level") as record:
        data = FolderDataset().load(image_size=8, root=two_classes)
    assert len(record) == 1  # one warning per load, not one per image
    assert data.class_names == ("a_line", "b_line")
    assert data.names == ("a_line/y1.png", "b_line/sub/x2.png", "b_line/x1.png")
    assert data.labels.tolist() == [0, 1, 1]
    assert data.patient_ids == data.names  # every image its own patient
    assert data.images.shape == (3, 1, 8, 8)
    np.testing.assert_allclose(
        data.images[:, 0, 4, 4].numpy(), [30 / 255, 20 / 255, 10 / 255], atol=1e-6
    )
    assert data.name == f"folder:{two_classes}"
    assert label_counts(data) == {"a_line": 1, "b_line": 2}


def test_empty_class_folder_is_an_error_naming_it(two_classes):
    (two_classes / "c_empty").mkdir()
    (two_classes / "c_empty" / "readme.md").write_text("no images here")
    with pytest.raises(DatasetLayoutError, match=r"class folder .*c_empty holds no images"):
        FolderDataset().load(image_size=8, root=two_classes)


def test_dataset_of_one_image(tmp_path):
    root = tmp_path / "single"
    _png(root / "only.png", 200, size=(30, 20))
    with pytest.warns(UserWarning):
        data = FolderDataset().load(image_size=16, root=root)
    assert len(data) == 1 and data.class_names == ("single",)
    assert data.names == ("only.png",) and data.labels.tolist() == [0]
    np.testing.assert_allclose(data.images.numpy(), 200 / 255, atol=1e-6)


def test_missing_path_names_it(tmp_path):
    missing = tmp_path / "does_not_exist"
    with pytest.raises(FileNotFoundError, match="does_not_exist does not exist"):
        FolderDataset().load(image_size=8, root=missing)


def test_folder_without_images(tmp_path):
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(DatasetLayoutError, match="no images in .*class folders"):
        FolderDataset().load(image_size=8, root=tmp_path)


def test_loose_images_next_to_class_folders_are_refused(two_classes):
    _png(two_classes / "stray.png", 0)
    with pytest.raises(DatasetLayoutError, match="1 loose image.*stray.png"):
        FolderDataset().load(image_size=8, root=two_classes)


def test_corrupt_image_inside_a_dataset_names_the_file(two_classes):
    (two_classes / "a_line" / "bad.png").write_bytes(b"garbage")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ImageLoadError, match="a_line/bad.png"):
            FolderDataset().load(image_size=8, root=two_classes)


def test_manifest_is_the_authority(two_classes):
    (two_classes / "manifest.csv").write_text(
        "file,label,patient_id,probe\n"
        "b_line/x1.png,sick,p1,linear\n"
        "a_line/y1.png,healthy,p2,convex\n"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # patient ids given: no warning
        data = FolderDataset().load(image_size=8, root=two_classes)
    assert data.names == ("b_line/x1.png", "a_line/y1.png")  # manifest order, x2 ignored
    assert data.class_names == ("healthy", "sick") and data.labels.tolist() == [1, 0]
    assert data.patient_ids == ("p1", "p2") and data.probes == ("linear", "convex")


def test_manifest_errors_name_line_and_fix(two_classes):
    manifest = two_classes / "manifest.csv"
    manifest.write_text("file,label\nb_line/x1.png,a\nb_line/gone.png,b\n")
    with pytest.raises(DatasetLayoutError, match=r"line 3: .*gone.png does not exist"):
        FolderDataset().load(image_size=8, root=two_classes)
    manifest.write_text("path,class\nb_line/x1.png,a\n")
    with pytest.raises(DatasetLayoutError, match=r"lacks column\(s\) \['file', 'label'\]"):
        FolderDataset().load(image_size=8, root=two_classes)
    manifest.write_text("file,label\nb_line/x1.png,a\nb_line/x1.png,a\n")
    with pytest.raises(DatasetLayoutError, match="listed twice"):
        FolderDataset().load(image_size=8, root=two_classes)
    manifest.write_text("file,label,patient_id\nb_line/x1.png,a,p1\na_line/y1.png,b,\n")
    with pytest.raises(DatasetLayoutError, match="line 3: empty patient_id"):
        FolderDataset().load(image_size=8, root=two_classes)


def test_unknown_option_lists_valid_ones(two_classes):
    with pytest.raises(ValueError, match="Unknown setting 'resise'.*Valid keys: path, resize"):
        FolderDataset.from_preset(None, {"resise": "none"}).load(image_size=8, root=two_classes)


def test_resize_option_is_passed_through(tmp_path):
    _png(tmp_path / "a" / "x.png", 5, size=(10, 12))
    with pytest.raises(ImageLoadError, match="resize='none'"):
        FolderDataset.from_preset(None, {"resize": "none"}).load(image_size=8, root=tmp_path)


def test_open_dataset_resolves_folder_prefix(two_classes):
    with pytest.warns(UserWarning):
        data = open_dataset(f"folder:{two_classes}", image_size=4)
    assert len(data) == 3 and data.images.shape[-1] == 4
    with pytest.raises(ValueError, match="needs a path"):
        open_dataset("folder:", image_size=4)
    with pytest.raises(ValueError, match="drop --data-root"):
        open_dataset(f"folder:{two_classes}", image_size=4, root=two_classes)


def test_registry_knows_folder_and_suggests_names():
    assert registry("datasets").get("folder") is FolderDataset
    with pytest.raises(UnknownPluginError, match="Did you mean 'folder'"):
        open_dataset("foldr", image_size=8)
