"""Real training images of a run's split, for its page: the dataset is opened again from
the request stored in the run's provenance and split as the run split it (same seed, same
test fraction), and its content hash is checked against the stored one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from usbench.images import to_uint8


def real_training_images(run: dict[str, Any], count: int) -> tuple[list[np.ndarray], str]:
    """Up to ``count`` ``H×W`` uint8 training images of ``run`` (a :meth:`ResultStore.runs`
    row), and a note: empty when they were found, else why there are none (what to do)."""
    request = run["provenance"].get("request")
    if not request or "image_size" not in request:
        return [], "the run records no data request, so its real images cannot be reopened"
    from usbench.data.open import open_dataset
    from usbench.harness import split_by_patient

    root = request.get("data_root")
    try:
        data = open_dataset(
            request["dataset"],
            image_size=int(request["image_size"]),
            root=None if root is None else Path(root),
            options=request.get("data_options") or {},
        )
    except Exception as err:  # the data may live on another machine: say so, go on
        return [], f"real images not shown: opening {request['dataset']} failed ({err})"
    if data.content_hash() != run["data_hash"]:
        return [], (
            f"real images not shown: {request['dataset']} here differs from the data the "
            "run used (content hash mismatch)"
        )
    train, _test, _split = split_by_patient(
        data, test_fraction=float(request["test_fraction"]), seed=int(run["seed"])
    )
    return [to_uint8(image) for image in train.images[:count]], ""
