"""usbench: a benchmark harness for ultrasound image generators.

``usbench.score(real, fake, metrics="fid,kid")`` scores images generated anywhere
(:mod:`usbench.quick_score`); it is imported on first use so ``import usbench`` stays light.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["score"]


def __getattr__(name: str) -> Any:
    if name == "score":
        from usbench.quick_score import score

        return score
    raise AttributeError(f"module 'usbench' has no attribute {name!r}")
