"""The pretrained networks the built-in generators load from the weights cache, for the
``usbench.weights`` manifest. (SD1.5 comes from the Hugging Face cache or a local folder,
see :mod:`usbench.generators._sd15.base_model`.)"""

from __future__ import annotations

from usbench.weights.specs import WeightSpec

_HF_BIOMEDCLIP = (
    "https://huggingface.co/microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224/"
    "resolve/main/open_clip_pytorch_model.bin"
)


def specs() -> list[WeightSpec]:
    """BiomedCLIP (AWDiff's text and image encoders)."""
    return [
        WeightSpec(
            name="biomedclip",
            filename="biomedclip_open_clip_pytorch_model.bin",
            description="BiomedCLIP PubMedBERT_256 ViT-B/16 (open_clip), for AWDiff",
            used_by=("awdiff",),
            url=_HF_BIOMEDCLIP,
            licence="MIT (microsoft/BiomedCLIP)",
        ),
    ]
