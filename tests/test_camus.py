"""The camus loader on tiny fake downloads in both published layouts (never real data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from _fake_camus import SHAPE, grey_level, label_map, write_camus

from usbench.data.camus import CAMUS, MASK_NAMES, CAMUSMissing, pad_square
from usbench.registry import registry


@pytest.fixture(scope="module")
def nifti_root(tmp_path_factory) -> Path:
    return write_camus(tmp_path_factory.mktemp("camus"))


def test_frames_masks_patients_and_names(nifti_root: Path) -> None:
    data = CAMUS().load(image_size=SHAPE[0], root=nifti_root)
    assert len(data) == 12 and data.images.shape == (12, 1, 30, 30)
    assert data.names[:4] == ("patient0001/2CH_ED", "patient0001/2CH_ES",
                              "patient0001/4CH_ED", "patient0001/4CH_ES")  # fmt: skip
    assert data.patient_ids == tuple(f"patient000{k}" for k in (1, 2, 3) for _ in range(4))
    assert data.class_names == ("2CH", "4CH") and data.labels[:4].tolist() == [0, 0, 1, 1]
    assert data.mask_names == MASK_NAMES and data.probes[0] == "convex"
    for i, name in enumerate(data.names):
        patient, frame = int(name[7:11]), name.split("/")[1]
        # the stretched constant frame keeps its grey level / 255 exactly
        expected = grey_level(patient, *frame.split("_")) / 255
        assert torch.allclose(data.images[i], torch.full_like(data.images[i], expected), atol=1e-6)


def test_masks_are_resized_with_nearest_neighbour(nifti_root: Path) -> None:
    data = CAMUS().load(image_size=10, root=nifti_root)
    assert data.masks.dtype == torch.int64 and set(data.masks.unique().tolist()) == {0, 1, 2, 3}
    # nearest neighbour samples the source pixel under each output pixel's centre:
    # height 30 → 10 takes rows 1, 4, 7, ...; width 20 → 10 columns 1, 3, 5, ...
    rows, cols = np.arange(10) * 3 + 1, np.arange(10) * 2 + 1
    expected = label_map(1)[np.ix_(rows, cols)]
    np.testing.assert_array_equal(data.masks[0].numpy(), expected)


def test_pad_keeps_the_aspect_ratio(nifti_root: Path) -> None:
    data = CAMUS.from_preset(None, {"resize": "pad", "views": "2CH"}).load(
        image_size=30, root=nifti_root
    )
    assert len(data) == 6 and data.class_names == ("2CH",)
    np.testing.assert_array_equal(data.masks[0].numpy(), pad_square(label_map(1)))
    assert float(data.images[0, 0, :, :5].max()) == 0.0  # the black side bands
    grey = grey_level(1, "2CH", "ED") / 255
    assert float(data.images[0, 0, :, 5:25].min()) == pytest.approx(grey)


def test_selection_by_phase_quality_and_label(nifti_root: Path) -> None:
    options = {"phases": "ES", "label": "view+phase", "min_quality": "medium"}
    data = CAMUS.from_preset(None, options).load(image_size=8, root=nifti_root)
    # patient 1 is Good, 2 Medium, 3 Poor
    assert sorted(set(data.patient_ids)) == ["patient0001", "patient0002"]
    assert data.class_names == ("2CH_ES", "4CH_ES") and len(data) == 4
    good = CAMUS.from_preset(None, {"min_quality": "good"}).load(image_size=8, root=nifti_root)
    assert set(good.patient_ids) == {"patient0001"}


def test_mhd_layout_and_unannotated_patients(tmp_path: Path) -> None:
    root = write_camus(tmp_path, patients=2, layout="mhd", unannotated=1)
    with pytest.warns(UserWarning, match="4 frame.*no label map"):
        data = CAMUS().load(image_size=10, root=root)
    assert len(data) == 8 and set(data.patient_ids) == {"patient0001", "patient0002"}
    expected = grey_level(2, "4CH", "ES") / 255
    assert float(data.images[data.index_of("patient0002/4CH_ES")].mean()) == pytest.approx(expected)


def test_sub_folders_are_found(nifti_root: Path) -> None:
    inner = nifti_root / "CAMUS_public" / "database_nifti"
    for root in (nifti_root / "CAMUS_public", inner):
        assert len(CAMUS.from_preset(None, {"views": "4CH"}).load(image_size=8, root=root)) == 6


def test_missing_data_names_the_download_page_and_the_flag(tmp_path: Path) -> None:
    with pytest.raises(CAMUSMissing, match="--data-root") as err:
        CAMUS().load(image_size=8, root=None)
    assert "humanheart-project.creatis.insa-lyon.fr" in str(err.value)
    with pytest.raises(CAMUSMissing, match="no CAMUS patient folders"):
        CAMUS().load(image_size=8, root=tmp_path)


def test_an_incomplete_download_names_the_file(tmp_path: Path) -> None:
    root = write_camus(tmp_path, patients=1)
    next((root / "CAMUS_public/database_nifti/patient0001").glob("*_4CH_ES.nii.gz")).unlink()
    with pytest.raises(CAMUSMissing, match="patient0001_4CH_ES.nii.gz.*incomplete"):
        CAMUS().load(image_size=8, root=root)


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="choose one of 2CH, 4CH"):
        CAMUS.from_preset(None, {"views": "3CH"})
    with pytest.raises(ValueError, match="Valid keys"):
        CAMUS.from_preset(None, {"view": "2CH"})


def test_registered_as_camus() -> None:
    assert registry("datasets").get("camus") is CAMUS
