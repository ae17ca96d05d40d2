"""Loading the Stable Diffusion 1.5 base weights from a local folder or the hub cache.

``base_model`` is either a local diffusers directory (one with ``model_index.json``) or a
hub repository id. A hub id is served from the local Hugging Face cache when it is there;
it is downloaded only when the machine is online (``HF_HUB_OFFLINE`` unset). When the
weights cannot be found, :class:`BaseModelMissing` says exactly what to type.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from usbench import paths
from usbench.errors import UsbenchError

if TYPE_CHECKING:
    from diffusers import StableDiffusionPipeline

DEFAULT_BASE_MODEL = "stable-diffusion-v1-5/stable-diffusion-v1-5"
_FIX = (
    "download the SD1.5 weights once with "
    "`hf download stable-diffusion-v1-5/stable-diffusion-v1-5` "
    "(`hf` comes with huggingface_hub; needs network; the weights land in the Hugging "
    "Face cache), or point at a local diffusers folder with "
    "`--set base_model=/path/to/stable-diffusion-v1-5` "
    "(a folder containing model_index.json, unet/, vae/, text_encoder/, tokenizer/)."
)


class BaseModelMissing(UsbenchError, FileNotFoundError):
    """The Stable Diffusion base weights are not available; ``fix`` says how to get them."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"{reason} Fix: {_FIX}")
        self.reason = reason
        self.fix = _FIX


def hub_offline() -> bool:
    """True when the Hugging Face hub must not be contacted (``HF_HUB_OFFLINE``)."""
    if paths.hub_offline():
        return True
    try:
        from huggingface_hub import constants
    except ImportError:
        return True
    return bool(constants.HF_HUB_OFFLINE)


def resolve_base_model(base_model: str) -> tuple[str, bool]:
    """Where to load ``base_model`` from: ``(path_or_id, local_files_only)``.

    Raises :class:`BaseModelMissing` when it is a missing folder, a folder that is not a
    diffusers pipeline, or a hub id absent from the cache while offline.
    """
    path = Path(base_model).expanduser()
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise BaseModelMissing(
                f"{path} is not a diffusers pipeline folder (no model_index.json)."
            )
        return str(path), True
    if _looks_like_path(base_model):
        raise BaseModelMissing(f"Base model folder {path} does not exist.")
    if _in_hub_cache(base_model):
        return base_model, True
    if hub_offline():
        raise BaseModelMissing(
            f"{base_model!r} is not in the Hugging Face cache and the hub is offline "
            "(HF_HUB_OFFLINE)."
        )
    return base_model, False


def _looks_like_path(text: str) -> bool:
    # hub ids are "name" or "owner/name"; anything else is meant as a folder
    return text.startswith((".", "/", "~")) or text.count("/") > 1 or "\\" in text


def _in_hub_cache(repo_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    found = try_to_load_from_cache(repo_id, "model_index.json")
    return isinstance(found, str)


def load_base_pipeline(base_model: str) -> StableDiffusionPipeline:
    """Load a ``StableDiffusionPipeline`` (fp32, CPU, no safety checker) from ``base_model``.

    ``base_model``: a local diffusers folder or a hub id (see module docstring). The
    safety checker is dropped: it is not part of the method and would blank ultrasound
    images it misreads.
    """
    from diffusers import StableDiffusionPipeline

    source, local_only = resolve_base_model(base_model)
    try:
        pipe = StableDiffusionPipeline.from_pretrained(
            source,
            safety_checker=None,
            requires_safety_checker=False,
            local_files_only=local_only,
        )
    except (OSError, ValueError) as err:  # the library's first line only: no trace is shown
        first_line = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise BaseModelMissing(f"Could not load {base_model!r}: {first_line}") from err
    pipe.set_progress_bar_config(disable=True)
    return pipe


def base_fingerprint(pipe) -> str:
    """A short hash of the base weights the adapters sit on (UNet ``conv_in`` + VAE
    ``quant_conv`` + the first rows of the token table), checked when adapters are loaded."""
    import hashlib

    h = hashlib.sha256()
    tensors = (
        pipe.unet.conv_in.weight,
        pipe.vae.quant_conv.weight
        if pipe.vae.quant_conv is not None
        else pipe.vae.encoder.conv_in.weight,
        pipe.text_encoder.get_input_embeddings().weight[:8],
    )
    for tensor in tensors:
        h.update(tensor.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


TEST_WEIGHTS_MARKER = "usbench_test_weights.json"


def mark_test_weights(directory: Path) -> None:
    """Label a locally built stand-in pipeline so no score computed on it is ever stored."""
    (Path(directory) / TEST_WEIGHTS_MARKER).write_text(
        '{"published": false, "why": "random weights built for tests"}\n'
    )


def is_test_pipeline(base_model: str) -> bool:
    """True when ``base_model`` is a local folder labelled by :func:`mark_test_weights`."""
    return (Path(base_model).expanduser() / TEST_WEIGHTS_MARKER).is_file()
