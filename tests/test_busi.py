"""The BUSI loader on a tiny fake tree in the dataset's published layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from usbench.data.busi import BUSI, BUSIMissing, is_mask, list_busi_images
from usbench.registry import registry


def _png(path: Path, array: np.ndarray, mode: str = "L") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(array.astype(np.uint8), mode="L")
    (image.convert("RGB") if mode == "RGB" else image).save(path)


@pytest.fixture()
def busi_tree(tmp_path: Path) -> Path:
    """benign: 3 images (1, 2, 10) + masks; malignant: 2 (RGB) + mask; normal: 1 + mask."""
    root = tmp_path / "Dataset_BUSI_with_GT"
    flat = np.full((30, 40), 128)
    for number in (10, 2, 1):
        _png(root / "benign" / f"benign ({number}).png", flat)
        _png(root / "benign" / f"benign ({number})_mask.png", np.full((30, 40), 255))
    _png(root / "benign" / "benign (2)_mask_1.png", np.zeros((30, 40)))
    left_white = np.zeros((20, 40))
    left_white[:, :10] = 255  # a quarter of the columns, all outside the central square
    _png(root / "malignant" / "malignant (1).png", left_white, mode="RGB")
    _png(root / "malignant" / "malignant (2).png", np.full((25, 25), 255), mode="RGB")
    _png(root / "malignant" / "malignant (1)_mask.png", np.full((20, 40), 255))
    _png(root / "normal" / "normal (1).png", np.zeros((50, 35)))
    _png(root / "normal" / "normal (1)_mask.png", np.full((50, 35), 255))
    return root


def test_masks_are_excluded_and_order_is_numeric(busi_tree: Path) -> None:
    files = list_busi_images(busi_tree)
    assert [p.as_posix() for p, _ in files] == [
        "benign/benign (1).png",
        "benign/benign (2).png",
        "benign/benign (10).png",
        "malignant/malignant (1).png",
        "malignant/malignant (2).png",
        "normal/normal (1).png",
    ]
    assert [label for _, label in files] == [0, 0, 0, 1, 1, 2]
    assert is_mask(Path("benign (2)_mask_1.png")) and not is_mask(Path("benign (2).png"))


def test_load_shapes_labels_and_pixel_values(busi_tree: Path) -> None:
    data = BUSI().load(image_size=16, root=busi_tree)
    assert data.images.shape == (6, 1, 16, 16) and data.images.dtype == torch.float32
    assert data.class_names == ("benign", "malignant", "normal")
    assert data.labels.tolist() == [0, 0, 0, 1, 1, 2]
    assert data.patient_ids == data.names and len(set(data.patient_ids)) == 6
    assert torch.allclose(data.images[0], torch.full((1, 16, 16), 128 / 255), atol=1e-6)
    assert float(data.images[4].min()) == 1.0 and float(data.images[5].max()) == 0.0
    # stretching keeps the white quarter of the columns: mean close to 0.25
    assert abs(float(data.images[3].mean()) - 0.25) < 0.02


def test_center_crop_drops_the_margins(busi_tree: Path) -> None:
    data = BUSI.from_preset(None, {"resize": "center-crop+bilinear"}).load(
        image_size=16, root=busi_tree
    )
    assert float(data.images[3].max()) == 0.0  # the white columns lie outside the square


def test_parent_folder_is_accepted(busi_tree: Path) -> None:
    assert len(BUSI().load(image_size=8, root=busi_tree.parent)) == 6


def test_missing_root_says_where_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(BUSIMissing, match="--data-root") as err:
        BUSI().load(image_size=8, root=None)
    assert "scholar.cu.edu.eg" in str(err.value)
    with pytest.raises(BUSIMissing, match="benign, malignant, normal"):
        BUSI().load(image_size=8, root=tmp_path)


def test_empty_class_folder_is_an_error(busi_tree: Path) -> None:
    for path in (busi_tree / "normal").iterdir():
        path.unlink()
    with pytest.raises(BUSIMissing, match="no images"):
        BUSI().load(image_size=8, root=busi_tree)


def test_unknown_option_names_the_valid_ones(busi_tree: Path) -> None:
    with pytest.raises(ValueError, match="Did you mean .resize.*Valid keys: resize"):
        BUSI.from_preset(None, {"size": "3"}).load(image_size=8, root=busi_tree)
    with pytest.raises(ValueError, match="center-crop\\+lanczos"):
        BUSI.from_preset(None, {"resize": "pad"}).load(image_size=8, root=busi_tree)


def test_registered_as_busi() -> None:
    assert registry("datasets").get("busi") is BUSI


@pytest.fixture()
def masked_tree(tmp_path: Path) -> Path:
    """benign (1): two lesions in two mask files; benign (10): one; malignant (1): one
    (RGB file); normal (1): the all-black mask BUSI ships. Images 40×40."""
    root = tmp_path / "Dataset_BUSI_with_GT"
    image = np.full((40, 40), 100)
    first, second, third = np.zeros((3, 40, 40))
    first[4:12, 6:20] = 255
    second[25:33, 22:30] = 255
    third[10:30, 10:30] = 255
    _png(root / "benign" / "benign (1).png", image)
    _png(root / "benign" / "benign (1)_mask.png", first)
    _png(root / "benign" / "benign (1)_mask_1.png", second)
    _png(root / "benign" / "benign (10).png", image)
    _png(root / "benign" / "benign (10)_mask.png", third)
    _png(root / "malignant" / "malignant (1).png", image)
    _png(root / "malignant" / "malignant (1)_mask.png", third, mode="RGB")
    _png(root / "normal" / "normal (1).png", image)
    _png(root / "normal" / "normal (1)_mask.png", np.zeros((40, 40)))
    return root


def test_masks_are_the_union_of_every_lesion_file(masked_tree: Path) -> None:
    data = BUSI.from_preset(None, {"masks": "true"}).load(image_size=40, root=masked_tree)
    assert data.mask_names == ("background", "lesion") and data.masks.dtype == torch.int64
    union = np.zeros((40, 40), dtype=np.int64)
    union[4:12, 6:20] = 1
    union[25:33, 22:30] = 1
    np.testing.assert_array_equal(data.masks[0].numpy(), union)  # benign (1): both files
    box = np.zeros((40, 40), dtype=np.int64)
    box[10:30, 10:30] = 1
    np.testing.assert_array_equal(data.masks[1].numpy(), box)  # benign (10), not (1)'s
    np.testing.assert_array_equal(data.masks[2].numpy(), box)  # RGB mask file
    assert int(data.masks[3].sum()) == 0  # normal


def test_masks_follow_the_image_geometry(masked_tree: Path) -> None:
    stretched = BUSI.from_preset(None, {"masks": "true"}).load(image_size=20, root=masked_tree)
    full = BUSI.from_preset(None, {"masks": "true"}).load(image_size=40, root=masked_tree)
    # nearest neighbour 40 → 20 samples the pixel under each output centre: 1, 3, 5, ...
    np.testing.assert_array_equal(stretched.masks.numpy(), full.masks.numpy()[:, 1::2, 1::2])
    assert set(stretched.masks.unique().tolist()) == {0, 1}


def test_masks_change_the_identity_only_when_asked(masked_tree: Path) -> None:
    plain = BUSI().load(image_size=16, root=masked_tree)
    masked = BUSI.from_preset(None, {"masks": "true"}).load(image_size=16, root=masked_tree)
    assert not plain.has_masks and masked.has_masks
    assert torch.equal(plain.images, masked.images)
    assert plain.content_hash() != masked.content_hash()


def test_a_missing_mask_names_the_file(masked_tree: Path) -> None:
    (masked_tree / "normal" / "normal (1)_mask.png").unlink()
    assert len(BUSI().load(image_size=8, root=masked_tree)) == 4  # images alone still load
    with pytest.raises(BUSIMissing, match=r"normal \(1\)\.png has no mask"):
        BUSI.from_preset(None, {"masks": "true"}).load(image_size=8, root=masked_tree)
