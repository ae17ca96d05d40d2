"""Read any ordinary image file as one grayscale ``H×W`` float32 array in ``[0, 1]``.

The conversion policy, applied in this order:

1. **Formats**: ``.png``, ``.jpg``/``.jpeg``, ``.bmp``, ``.tif``/``.tiff`` (see
   :data:`IMAGE_SUFFIXES`). Multi-page files give their first page. EXIF orientation is
   applied, so a phone photo of a screen is upright.
2. **Bit depth**: 8-bit images are divided by 255; 16-bit (``I;16``, ``I;16B``, ``I``
   holding 16-bit data) by 65535; 1-bit to {0, 1}; 32-bit float (``F``) is taken as is and
   must already lie in ``[0, 1]``.
3. **Colour**: RGB is reduced with ITU-R BT.601 luma, ``Y = 0.299 R + 0.587 G + 0.114 B``,
   computed in float (not Pillow's rounded integer ``L`` conversion). Palette (``P``)
   images are expanded through their palette first. **Alpha is composited on black**:
   ``Y·α``, so transparent pixels become 0, the colour of an ultrasound background.
4. **Geometry** (the ``resize`` mode, a named recipe stored with results):

   * ``"center-crop+lanczos"`` (default): centre-crop the longer side to a square, then
     resize to ``image_size`` with Lanczos-3 (antialiased when shrinking). The result is
     clipped to ``[0, 1]`` because Lanczos rings slightly past the input range.
   * ``"center-crop+bilinear"``: the same with antialiased bilinear (triangle) filtering,
     which never overshoots.
   * ``"none"``: no resizing; the file must already be ``image_size × image_size``.

   Resizing runs on the float image, so 16-bit precision survives it. An image whose
   square crop is already ``image_size`` is returned without resampling.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
RESIZE_MODES: tuple[str, ...] = ("center-crop+lanczos", "center-crop+bilinear", "none")
DEFAULT_RESIZE = "center-crop+lanczos"

_BT601 = np.array([0.299, 0.587, 0.114], dtype=np.float64)
_FILTERS = {
    "center-crop+lanczos": Image.Resampling.LANCZOS,
    "center-crop+bilinear": Image.Resampling.BILINEAR,
}


class ImageLoadError(ValueError):
    """An image file could not be read; the message names the file and what to do.

    Attributes:
        path: the offending file.
    """

    def __init__(self, path: str | Path, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = Path(path)


def is_image_file(path: Path) -> bool:
    """True when ``path`` has one of :data:`IMAGE_SUFFIXES` (case-insensitive)."""
    return path.suffix.lower() in IMAGE_SUFFIXES


def load_grayscale(
    path: str | Path, image_size: int, *, resize: str = DEFAULT_RESIZE
) -> np.ndarray:
    """Load ``path`` as an ``image_size × image_size`` float32 array in ``[0, 1]``.

    See the module docstring for the exact bit-depth, colour, alpha and geometry policy.

    Raises:
        ImageLoadError: missing, empty, corrupt or unsupported file, or a size that
            ``resize="none"`` cannot accept.
        ValueError: an unknown ``resize`` mode or a non-positive ``image_size``.
    """
    _check_resize_args(image_size, resize)
    plane = read_grayscale(path)
    return fit_square(plane, image_size, resize=resize, path=path)


def load_stack(
    paths: Sequence[str | Path], image_size: int, *, resize: str = DEFAULT_RESIZE
) -> np.ndarray:
    """Load several files into one ``N×H×W`` float32 array (``H = W = image_size``).

    Warns once (``UserWarning``) when some images are smaller than ``image_size`` and
    therefore upsampled, which adds no detail, naming how many and the smallest side.
    """
    _check_resize_args(image_size, resize)
    out = np.empty((len(paths), image_size, image_size), dtype=np.float32)
    small_sides = []
    for i, path in enumerate(paths):
        plane = read_grayscale(path)
        if min(plane.shape) < image_size:
            small_sides.append(min(plane.shape))
        out[i] = fit_square(plane, image_size, resize=resize, path=path)
    if small_sides and resize != "none":
        side = min(small_sides)
        warnings.warn(
            f"{len(small_sides)} of {len(paths)} images are smaller than "
            f"{image_size}×{image_size} (the smallest {side} px) and were upsampled, which "
            f"adds no detail; load them at --image-size {side} or use larger images.",
            stacklevel=2,
        )
    return out


def read_grayscale(path: str | Path) -> np.ndarray:
    """Read ``path`` at its own size as an ``H×W`` float32 array in ``[0, 1]``."""
    path = Path(path)
    if not is_image_file(path):
        raise ImageLoadError(
            path,
            f"unsupported file type {path.suffix or '(no suffix)'!r}; convert it to one of "
            f"{', '.join(IMAGE_SUFFIXES)} or remove it from the dataset.",
        )
    if not path.is_file():
        raise ImageLoadError(path, "no such file; check the path or the manifest entry.")
    if path.stat().st_size == 0:
        raise ImageLoadError(path, "the file is empty (0 bytes); copy it again or delete it.")
    try:
        with Image.open(path) as img:
            img.seek(0)
            img.load()
            img = ImageOps.exif_transpose(img)
            plane = pil_to_gray(img)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ImageLoadError(
            path,
            f"not a readable image ({type(err).__name__}: {err}); the file is corrupt or "
            "truncated — replace it with an intact copy or delete it.",
        ) from err
    if plane.size == 0:
        raise ImageLoadError(path, "the image has no pixels; replace it or delete it.")
    return plane


def pil_to_gray(img: Image.Image) -> np.ndarray:
    """Convert a Pillow image of any common mode to ``H×W`` float32 in ``[0, 1]``.

    Raises ``ValueError`` for a mode outside the documented policy (e.g. float data
    outside ``[0, 1]``).
    """
    mode = img.mode
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        mode = img.mode
    if mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        img = img.convert("RGB")
        mode = "RGB"
    if mode.startswith("I;16") or mode == "I":
        return _integer_plane(img)
    if mode == "F":
        return _float_plane(img)
    if mode == "1":
        return np.asarray(img, dtype=np.float32)
    if mode in ("L", "LA", "PA", "La"):
        arr = np.asarray(img.convert("LA"), dtype=np.float64) / 255.0
        return (arr[..., 0] * arr[..., 1]).astype(np.float32)
    if mode in ("RGB", "RGBA", "RGBa", "RGBX"):
        arr = np.asarray(img.convert("RGBA"), dtype=np.float64) / 255.0
        luma = arr[..., :3] @ _BT601
        return np.clip(luma * arr[..., 3], 0.0, 1.0).astype(np.float32)
    raise ValueError(f"image mode {mode!r} is not supported; save it as 8-bit or 16-bit")


def _integer_plane(img: Image.Image) -> np.ndarray:
    arr = np.asarray(img).astype(np.float64)
    if img.mode == "I" and (arr.min() < 0 or arr.max() > 65535):
        raise ValueError(
            f"32-bit integer image with values {arr.min():.0f}..{arr.max():.0f} outside "
            "16-bit range; rescale it to 16-bit or 8-bit"
        )
    return (arr / 65535.0).astype(np.float32)


def _float_plane(img: Image.Image) -> np.ndarray:
    arr = np.asarray(img, dtype=np.float32)
    if not np.isfinite(arr).all() or arr.min() < 0.0 or arr.max() > 1.0:
        raise ValueError("float image must hold finite values in [0, 1]; rescale it first")
    return arr


def fit_square(
    plane: np.ndarray,
    image_size: int,
    *,
    resize: str = DEFAULT_RESIZE,
    path: str | Path = "<array>",
) -> np.ndarray:
    """Apply a ``resize`` mode to an ``H×W`` float plane → ``image_size²`` float32 in [0,1]."""
    _check_resize_args(image_size, resize)
    h, w = plane.shape
    if resize == "none":
        if (h, w) != (image_size, image_size):
            raise ImageLoadError(
                path,
                f"is {w}×{h} but resize='none' needs {image_size}×{image_size}; choose "
                f"resize={DEFAULT_RESIZE!r} or resize the file.",
            )
        return np.ascontiguousarray(plane, dtype=np.float32)
    square = center_crop(plane)
    if square.shape[0] == image_size:
        return np.ascontiguousarray(square, dtype=np.float32)
    resized = Image.fromarray(square.astype(np.float32)).resize(
        (image_size, image_size), resample=_FILTERS[resize]
    )
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


def center_crop(plane: np.ndarray) -> np.ndarray:
    """The central ``S×S`` block of an ``H×W`` array, ``S = min(H, W)`` (left/top bias 0)."""
    h, w = plane.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return plane[top : top + side, left : left + side]


def _check_resize_args(image_size: int, resize: str) -> None:
    if resize not in RESIZE_MODES:
        raise ValueError(f"unknown resize mode {resize!r}; use one of {', '.join(RESIZE_MODES)}")
    if int(image_size) != image_size or image_size < 1:
        raise ValueError(f"image_size must be a positive integer, got {image_size!r}")
