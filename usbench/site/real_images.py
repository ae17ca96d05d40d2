"""Real training images of a run's split, for its page: the dataset is opened again from
the request stored in the run's provenance and split as the run split it (same seed, same
test fraction), and its content hash is checked against the stored one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from usbench.images import to_uint8


class RealImages:
    """Real training images of runs; each dataset is opened once for all its runs."""

    def __init__(self) -> None:
        self._opened: dict[str, Any] = {}

    def of(self, run: dict[str, Any], count: int) -> tuple[list[np.ndarray], str]:
        """Up to ``count`` ``H×W`` uint8 training images of ``run`` (a row of
        :meth:`ResultStore.runs`) and a note: empty when they were found, else why not."""
        request = run["provenance"].get("request")
        if not request or "image_size" not in request:
            return [], "the run records no data request, so its real images cannot be reopened"
        key = json.dumps([request[k] for k in _OPENS_DATA if k in request], sort_keys=True)
        if key not in self._opened:
            self._opened[key] = _open(request)
        data = self._opened[key]
        if isinstance(data, str):
            return [], data
        return _training_images(run, request, data, count)


_OPENS_DATA = ("dataset", "data_options", "data_root", "image_size")


def _open(request: dict[str, Any]) -> Any:
    """The dataset of ``request``, or why it could not be opened here."""
    from usbench.data.open import open_dataset

    root = request.get("data_root")
    try:
        return open_dataset(
            request["dataset"],
            image_size=int(request["image_size"]),
            root=None if root is None else Path(root),
            options=request.get("data_options") or {},
        )
    except Exception as err:  # the data may live on another machine: say so, go on
        return f"real images not shown: opening {request['dataset']} failed ({err})"


def _training_images(
    run: dict[str, Any], request: dict[str, Any], data: Any, count: int
) -> tuple[list[np.ndarray], str]:
    from usbench.harness import split_by_patient

    if data.content_hash() != run["data_hash"]:
        return [], (
            f"real images not shown: {request['dataset']} here differs from the data the "
            "run used (content hash mismatch)"
        )
    train, _test, _split = split_by_patient(
        data, test_fraction=float(request["test_fraction"]), seed=int(run["seed"])
    )
    return [to_uint8(image) for image in train.images[:count]], ""
