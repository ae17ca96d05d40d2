"""Grayscale loading: bit depths, colour modes, alpha, geometry and broken files."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from usbench.data.imageio import (
    ImageLoadError,
    center_crop,
    load_grayscale,
    load_stack,
    read_grayscale,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _save(tmp_path, name, img: Image.Image):
    path = tmp_path / name
    img.save(path)
    return path


def test_8bit_values_are_divided_by_255(tmp_path):
    arr = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
    path = _save(tmp_path, "a.png", Image.fromarray(arr))
    out = load_grayscale(path, 8)
    assert out.dtype == np.float32 and out.shape == (8, 8)
    np.testing.assert_allclose(out, arr / 255.0, atol=1e-7)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_keeps_full_precision(tmp_path, suffix):
    arr = (np.arange(100, dtype=np.uint32).reshape(10, 10) * 655 + 7).astype(np.uint16)
    path = _save(tmp_path, "deep" + suffix, Image.fromarray(arr))
    assert Image.open(path).mode.startswith("I")
    out = load_grayscale(path, 10)
    np.testing.assert_allclose(out, arr / 65535.0, atol=1e-7)
    # 8-bit quantisation would lose this: neighbouring values 655 apart in 16 bits
    assert len(np.unique(out)) == 100


def test_rgb_uses_bt601_luma(tmp_path):
    rgb = np.zeros((4, 4, 3), dtype=np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 200, 100, 50
    path = _save(tmp_path, "c.png", Image.fromarray(rgb))
    expected = (0.299 * 200 + 0.587 * 100 + 0.114 * 50) / 255.0
    np.testing.assert_allclose(load_grayscale(path, 4), expected, atol=1e-6)


def test_rgba_is_composited_on_black(tmp_path):
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[..., :3] = 255
    rgba[0, :, 3] = 255  # opaque white row
    rgba[1, :, 3] = 128  # half transparent
    path = _save(tmp_path, "d.png", Image.fromarray(rgba, mode="RGBA"))
    out = load_grayscale(path, 4)
    np.testing.assert_allclose(out[0], 1.0, atol=1e-6)
    np.testing.assert_allclose(out[1], 128 / 255.0, atol=1e-6)
    np.testing.assert_allclose(out[2:], 0.0)


def test_palette_image_goes_through_its_palette(tmp_path):
    img = Image.new("P", (4, 4), 0)
    img.putpalette([0, 0, 0, 255, 255, 255, 10, 200, 30] + [0] * (256 * 3 - 9))
    img.putpixel((1, 2), 2)
    img.putpixel((3, 0), 1)
    path = _save(tmp_path, "p.png", img)
    assert Image.open(path).mode == "P"
    out = load_grayscale(path, 4)
    assert out[2, 1] == pytest.approx((0.299 * 10 + 0.587 * 200 + 0.114 * 30) / 255, abs=1e-6)
    assert out[0, 3] == pytest.approx(1.0) and out[0, 0] == 0.0


def test_palette_transparency_is_composited_on_black(tmp_path):
    img = Image.new("P", (2, 2), 1)
    img.putpalette([0, 0, 0, 255, 255, 255] + [0] * (254 * 3))
    img.info["transparency"] = 1
    path = tmp_path / "pt.png"
    img.save(path, transparency=1)
    np.testing.assert_allclose(load_grayscale(path, 2), 0.0)


def test_odd_non_square_is_centre_cropped_then_resized(tmp_path):
    # 31 wide, 17 high; each column holds its own index so the crop offset is visible
    arr = np.tile(np.arange(31, dtype=np.uint8) * 8, (17, 1))
    path = _save(tmp_path, "odd.png", Image.fromarray(arr))
    native = load_grayscale(path, 17)  # crop only, no resampling
    np.testing.assert_allclose(native[0], np.arange(7, 24) * 8 / 255.0, atol=1e-7)
    small = load_grayscale(path, 8)
    reference = Image.fromarray(center_crop(arr / 255.0).astype(np.float32)).resize(
        (8, 8), Image.Resampling.LANCZOS
    )
    np.testing.assert_allclose(small, np.clip(np.asarray(reference), 0, 1), atol=1e-6)
    assert small.shape == (8, 8) and small.min() >= 0.0 and small.max() <= 1.0


def test_lanczos_ringing_is_clipped_and_bilinear_keeps_constants(tmp_path):
    checker = ((np.indices((33, 33)).sum(0) % 2) * 255).astype(np.uint8)
    path = _save(tmp_path, "checker.png", Image.fromarray(checker))
    out = load_grayscale(path, 10)
    assert out.min() >= 0.0 and out.max() <= 1.0
    flat = _save(tmp_path, "flat.png", Image.fromarray(np.full((40, 50), 77, np.uint8)))
    np.testing.assert_allclose(
        load_grayscale(flat, 16, resize="center-crop+bilinear"), 77 / 255.0, atol=1e-6
    )


@pytest.mark.parametrize("suffix", [".jpg", ".jpeg", ".bmp", ".tiff"])
def test_other_formats(tmp_path, suffix):
    path = _save(tmp_path, "x" + suffix, Image.new("L", (12, 12), 128))
    np.testing.assert_allclose(load_grayscale(path, 12), 128 / 255.0, atol=1.5 / 255.0)


def test_resize_none_refuses_wrong_size(tmp_path):
    path = _save(tmp_path, "r.png", Image.new("L", (20, 10)))
    with pytest.raises(ImageLoadError, match=r"20×10.*center-crop\+lanczos") as err:
        load_grayscale(path, 16, resize="none")
    assert err.value.path == path


def test_resize_none_accepts_exact_size(tmp_path):
    arr = np.arange(36, dtype=np.uint8).reshape(6, 6)
    path = _save(tmp_path, "ok.png", Image.fromarray(arr))
    np.testing.assert_allclose(load_grayscale(path, 6, resize="none"), arr / 255.0)


def test_unknown_resize_mode_names_the_valid_ones(tmp_path):
    path = _save(tmp_path, "u.png", Image.new("L", (4, 4)))
    with pytest.raises(ValueError, match="center-crop\\+bilinear"):
        load_grayscale(path, 4, resize="bicubic")


def test_corrupt_file_names_the_file_and_the_fix(tmp_path):
    path = tmp_path / "broken.png"
    path.write_bytes(b"this is not a png at all" * 10)
    with pytest.raises(ImageLoadError, match="broken.png.*corrupt.*replace it") as err:
        load_grayscale(path, 8)
    assert err.value.path == path


def test_truncated_png_is_refused(tmp_path):
    good = _save(
        tmp_path,
        "full.png",
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)),
    )
    cut = tmp_path / "cut.png"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ImageLoadError, match="cut.png.*truncated"):
        load_grayscale(cut, 8)


def test_empty_file_is_refused(tmp_path):
    path = tmp_path / "empty.jpg"
    path.touch()
    with pytest.raises(ImageLoadError, match=r"empty.jpg: the file is empty \(0 bytes\)"):
        load_grayscale(path, 8)


def test_missing_file_and_unsupported_type(tmp_path):
    with pytest.raises(ImageLoadError, match="nope.png: no such file"):
        read_grayscale(tmp_path / "nope.png")
    gif = tmp_path / "anim.gif"
    Image.new("L", (4, 4)).save(gif)
    with pytest.raises(ImageLoadError, match="unsupported file type '.gif'.*convert"):
        read_grayscale(gif)


def test_load_stack_shapes(tmp_path):
    paths = [_save(tmp_path, f"{i}.png", Image.new("L", (9, 7), i * 50)) for i in range(3)]
    stack = load_stack(paths, 5)
    assert stack.shape == (3, 5, 5) and stack.dtype == np.float32
    np.testing.assert_allclose(stack[:, 2, 2], [0.0, 50 / 255, 100 / 255], atol=1e-6)
