"""Checkpoints of the feature backbones, for the ``usbench.weights`` manifest.

Where the publisher gives a hash it is pinned (OpenAI's CLIP archive is published under
its sha256); the others publish none, so the first fetch records the file's sha256 and
later loads are checked against that record.
"""

from __future__ import annotations

from usbench.weights.specs import WeightSpec

_SET_METRICS = (
    "fid",
    "kid",
    "prdc",
    "vendi",
    "fd-inf",
    "relative-fd",
    "authenticity",
    "data-copying",
)
_DINOV2 = "https://dl.fbaipublicfiles.com/dinov2/"
_CLIP = "usbench.metrics._lib.backbones.clip"
_OPENAI_VITL14 = (
    "https://openaipublic.azureedge.net/clip/models/"
    "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836/ViT-L-14.pt"
)
_BIOMEDCLIP = (
    "https://huggingface.co/microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224/"
    "resolve/main/open_clip_pytorch_model.bin"
)
# the ported RadImageNet weights the MONAI generative metrics load (Warvito/radimagenet-models)
_RADIMAGENET = "https://drive.google.com/uc?export=download&id=1VOWHgOq0rm7OkE_JxlWXhMAH4CvcXUHT"


def used_by(features: str) -> tuple[str, ...]:
    """Every set metric's selector with ``features=<features>``."""
    return tuple(f"{metric}:features={features}" for metric in _SET_METRICS)


def _dinov2(arch: str) -> WeightSpec:
    """A DINOv2 backbone of torch.hub facebookresearch/dinov2 (``arch``: vitb14, vitl14)."""
    name = f"dinov2_{arch}"
    return WeightSpec(
        name=f"dinov2-{arch}",
        filename=f"{name}_pretrain.pth",
        description=f"DINOv2 ViT-{arch[3].upper()}/14 backbone (torch.hub facebookresearch/dinov2)",
        used_by=used_by(f"dinov2-{arch}"),
        url=f"{_DINOV2}{name}/{name}_pretrain.pth",
        licence="Apache-2.0 (facebookresearch/dinov2)",
    )


def specs() -> list[WeightSpec]:
    """DINOv2 ViT-B/14 and ViT-L/14, CLIP ViT-L/14, SwAV, RadImageNet, BiomedCLIP."""
    return [
        _dinov2("vitb14"),
        _dinov2("vitl14"),
        WeightSpec(
            name="clip-vitl14",
            filename="clip_vitl14_openai_image_tower.safetensors",
            description="OpenAI CLIP ViT-L/14 image tower (from OpenAI's ViT-L-14.pt)",
            used_by=used_by("clip-vitl14"),
            url=_OPENAI_VITL14,
            licence="MIT (openai/CLIP)",
            converter=f"{_CLIP}:convert_openai_archive",
            derived=True,  # the source's sha256 is checked by the converter
        ),
        WeightSpec(
            name="swav-resnet50",
            filename="swav_800ep_pretrain.pth.tar",
            description="SwAV ResNet-50, 800 epochs (facebookresearch/swav)",
            used_by=used_by("swav-resnet50"),
            url="https://dl.fbaipublicfiles.com/deepcluster/swav_800ep_pretrain.pth.tar",
            licence="CC-BY-NC-4.0 (facebookresearch/swav)",
        ),
        WeightSpec(
            name="radimagenet-resnet50",
            filename="RadImageNet-ResNet50_notop.pth",
            description="RadImageNet ResNet-50, no top, PyTorch port of the Keras weights",
            used_by=used_by("radimagenet-resnet50"),
            url=_RADIMAGENET,
            licence="RadImageNet terms (academic, non-commercial)",
        ),
        WeightSpec(
            name="biomedclip-image",
            filename="biomedclip_image_tower.safetensors",
            description="BiomedCLIP ViT-B/16 image tower (from open_clip_pytorch_model.bin)",
            used_by=used_by("biomedclip"),
            url=_BIOMEDCLIP,
            licence="MIT (microsoft/BiomedCLIP)",
            converter=f"{_CLIP}:convert_biomedclip_checkpoint",
            import_converters=((".bin", f"{_CLIP}:convert_biomedclip_checkpoint"),),
        ),
    ]
