"""Progress bars of the work done outside the training loop (sampling, scoring).

Generators do not take a progress flag in :meth:`usbench.protocols.Generator.sample`;
the harness switches the bars on around the call (:func:`showing_progress`) and a
generator's sampling loop draws one with :func:`progress_bar`, updated per image chunk.
Outside :func:`showing_progress` the bars stay hidden (tests, library use).
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

from tqdm.auto import tqdm

_SHOW = contextvars.ContextVar("usbench_show_progress", default=False)


@contextmanager
def showing_progress(enabled: bool) -> Iterator[None]:
    """Within this block, :func:`progress_bar` shows its bars when ``enabled``."""
    token = _SHOW.set(enabled)
    try:
        yield
    finally:
        _SHOW.reset(token)


def progress_bar(total: int, desc: str) -> tqdm:
    """A bar of ``total`` steps (e.g. images), visible only inside ``showing_progress(True)``;
    use it as a context manager and call ``update(k)`` after each chunk."""
    return tqdm(total=total, desc=desc, unit="img", disable=not _SHOW.get(), dynamic_ncols=True)
