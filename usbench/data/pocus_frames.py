"""Frames of the POCUS videos at a fixed rate, as Born et al. (2021) sample them.

Born et al.'s dataset script (``pocovidnet/scripts/build_image_dataset.py`` upstream)
reads each video with OpenCV, takes every ``k``-th frame with ``k = int(fps / rate)``
(frame number ``i`` is kept when ``i % k == 0``, counting from 0) and stops after
``max_frames`` frames; seed 003 states 3 Hz. Two choices where the script is silent:

* a video slower than ``rate`` (``int(fps / rate) == 0``, which the script divides by)
  keeps every frame (``k = 1``);
* a container that reports no frame rate is read as ``fps = rate`` (every frame).

:func:`sampled_indices` is the rule alone (``fps=30, rate=3, n=25`` → ``[0, 10, 20]``);
:func:`read_sampled_frames` applies it to a file and returns ``H×W×3`` uint8 RGB frames.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def frame_step(fps: float, rate_hz: float) -> int:
    """``k`` of the rule: every ``k``-th frame is kept (at least 1)."""
    if fps <= 0:
        return 1
    return max(1, int(fps / rate_hz))


def sampled_indices(fps: float, rate_hz: float, n_frames: int, max_frames: int) -> list[int]:
    """Indices of the kept frames of an ``n_frames`` video (``max_frames=0``: no cap)."""
    kept = list(range(0, n_frames, frame_step(fps, rate_hz)))
    return kept[:max_frames] if max_frames else kept


def read_sampled_frames(
    path: Path, rate_hz: float, max_frames: int
) -> list[tuple[int, np.ndarray]]:
    """``[(frame index, H×W×3 uint8 RGB)]`` of the kept frames, decoded sequentially.

    Raises:
        ImportError: OpenCV is missing (the message names the extra).
        ValueError: the file cannot be decoded or holds no frame.
    """
    try:
        import cv2
    except ImportError as err:  # pragma: no cover - opencv is a dependency
        raise ImportError("decoding videos needs OpenCV: pip install 'usbench[video]'") from err
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise ValueError(f"OpenCV cannot open {path}")
    try:
        step = frame_step(capture.get(cv2.CAP_PROP_FPS) or rate_hz, rate_hz)
        frames: list[tuple[int, np.ndarray]] = []
        index = 0
        while not max_frames or len(frames) < max_frames:
            ok, bgr = capture.read()
            if not ok:
                break
            if index % step == 0:
                frames.append((index, np.ascontiguousarray(bgr[..., ::-1])))
            index += 1
    finally:
        capture.release()
    if not frames:
        raise ValueError(f"{path} holds no decodable frame")
    return frames
