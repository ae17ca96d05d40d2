"""usbench: a benchmark harness for ultrasound image generators.

``usbench.score(real, fake, metrics="fid,kid")`` scores images generated anywhere and
``usbench.save_stats(real, "stats.npz")`` saves FID reference statistics to score against
without the images (:mod:`usbench.quick_score`); both are imported on first use so
``import usbench`` stays light.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["score", "save_stats"]


def __getattr__(name: str) -> Any:
    if name in ("score", "save_stats"):
        from usbench import quick_score

        return getattr(quick_score, name)
    raise AttributeError(f"module 'usbench' has no attribute {name!r}")
