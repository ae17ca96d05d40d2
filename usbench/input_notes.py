"""Notes about input images that do not stop scoring: duplicate files, resized images.

Each note is an :class:`InputNote` warning, so the Python API shows it as a warning and
``usbench score`` prints it as one ``note:`` line (:func:`notes_to`).
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from PIL import Image

_SHOWN = 3  # file names or sizes listed in a note before "..."


class InputNote(UserWarning):
    """Something about the input images worth knowing; the images are scored anyway."""


def warn_duplicates(folder: Path, files: Sequence[Path]) -> None:
    """Warn when files under ``folder`` have identical bytes, naming the first few."""
    first_of: dict[str, Path] = {}
    repeats: list[tuple[Path, Path]] = []
    for file in files:
        digest = hashlib.sha256(file.read_bytes()).hexdigest()
        if digest in first_of:
            repeats.append((file, first_of[digest]))
        else:
            first_of[digest] = file
    if not repeats:
        return
    pairs = [f"{_name(a, folder)} = {_name(b, folder)}" for a, b in repeats[:_SHOWN]]
    more = ", ..." if len(repeats) > _SHOWN else ""
    warnings.warn(
        InputNote(
            f"{len(repeats)} duplicate file(s) in {folder} (identical content: "
            f"{', '.join(pairs)}{more}); scored anyway, but copies count twice in every "
            "metric: remove them if the generator did not really repeat itself."
        ),
        stacklevel=2,
    )


def warn_resized(files: Sequence[Path], image_size: int, role: str) -> None:
    """Warn when some of ``files`` are not ``image_size²`` and were therefore cropped and
    resized (as datasets load them); one line with the count and the original sizes."""
    sizes = []
    for file in files:
        with Image.open(file) as image:
            sizes.append(image.size)
    changed = sorted({size for size in sizes if size != (image_size, image_size)})
    if not changed:
        return
    count = sum(size != (image_size, image_size) for size in sizes)
    listed = ", ".join(f"{w}×{h}" for w, h in changed[:_SHOWN])
    more = ", ..." if len(changed) > _SHOWN else ""
    warnings.warn(
        InputNote(
            f"{count} of {len(sizes)} {role} images resized from {listed}{more} to "
            f"{image_size}×{image_size} (centre crop to a square, then Lanczos, as datasets "
            "are loaded)"
        ),
        stacklevel=2,
    )


@contextmanager
def notes_to(echo: Callable[[str], None]) -> Iterator[None]:
    """Collect the :class:`InputNote` warnings raised inside and pass each to ``echo`` as
    one ``note: ...`` line on leaving; other warnings are shown as usual."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InputNote)
        yield
    for item in caught:
        if issubclass(item.category, InputNote):
            echo(f"note: {item.message}")
        else:
            warnings.showwarning(item.message, item.category, item.filename, item.lineno)


def _name(file: Path, folder: Path) -> str:
    return file.relative_to(folder).as_posix()
