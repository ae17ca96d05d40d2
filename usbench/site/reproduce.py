"""The command line that reproduces a stored run, rebuilt from its stored request, config,
seed and N (the recorded ``argv`` is shown beside it on the run page)."""

from __future__ import annotations

import json
import shlex
from typing import Any


def reproduce_command(run: dict[str, Any]) -> str:
    """``usbench run ...`` (or ``usbench score --samples ...`` for an external run) for a
    :meth:`usbench.store.ResultStore.runs` row; "" when the run records no request."""
    request = run["provenance"].get("request")
    if not request:
        return ""
    if "samples" in request:
        args = ["usbench", "score", "--samples", request["samples"], "--name", request["name"]]
    else:
        args = ["usbench", "run", "--generator", request["generator"], "--preset", run["preset"]]
        args += _set_flags(request["generator"], run["preset"], run["config"])
    args += ["--dataset", request["dataset"], "--seed", str(run["seed"])]
    if request.get("data_root"):
        args += ["--data-root", request["data_root"]]
    for key, value in sorted((request.get("data_options") or {}).items()):
        args += ["--data-option", f"{key}={value}"]
    if "samples" not in request:
        args += ["--image-size", str(request["image_size"]), "--n-samples", str(run["n_samples"])]
    if request.get("metrics"):
        args += ["--metrics", request["metrics"]]
    if request.get("tasks"):
        args += ["--tasks", request["tasks"]]
    return shlex.join(args)


def _set_flags(generator: str, preset: str, stored: dict[str, Any]) -> list[str]:
    """``--set key=value`` for each stored setting that differs from the preset's."""
    from usbench.config import config_to_dict, dotted
    from usbench.plugins import resolve

    try:
        base = config_to_dict(resolve("generators", generator, preset=preset).config)
    except Exception:  # plugin gone or renamed: the stored config below still says it all
        return []
    flags = []
    ours, theirs = dotted(stored), dotted(base)
    for key in sorted(ours):
        if theirs.get(key) != ours[key]:
            value = ours[key]
            text = value if isinstance(value, str) else json.dumps(value)
            flags += ["--set", f"{key}={text}"]
    return flags
