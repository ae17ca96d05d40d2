"""Feature backbones: each extraction equals its reference toolkit's, with seeded random
weights on both sides, on real POCUS frames and random images.

References: clean-fid's ``img_preprocess_clip`` (the package itself), open_clip's eval
transform (the package), torch-fidelity's copy of OpenAI's CLIP image tower (the
package); dgm-eval is not on PyPI, so its DINOv2 and SwAV transforms, DINOv2's hub
position-embedding interpolation, dgm-eval's SwAV ResNet and RadImageNet's Keras
ResNet-50 are written here from their published definitions.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _metric_fixtures import imageset
from _shared import has_lus, lus_dir
from PIL import Image
from torchvision import transforms as T

from usbench.metrics._lib import backbones as bb
from usbench.metrics._lib.backbones import clip, dinov2, resnet
from usbench.metrics._lib.backbones.preprocess import CLIP_MEAN, CLIP_STD, prepare
from usbench.metrics._lib.frechet import frechet_distance
from usbench.metrics.inception import FID
from usbench.metrics.manifold import PRDCMetric
from usbench.protocols import EvalInputs, MetricUnavailable
from usbench.samples import SampleBatch

TOL = 1e-5


@pytest.fixture(autouse=True)
def _env(tmp_path, monkeypatch):
    monkeypatch.setenv("USBENCH_OFFLINE", "1")
    monkeypatch.setenv("USBENCH_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("USBENCH_CACHE", str(tmp_path / "cache"))


def _crosscheck(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        message = f"{module} not installed: pip install -e '.[crosscheck]' runs this check"
        if os.environ.get("USBENCH_CROSSCHECK") == "1":
            pytest.fail(message)
        pytest.skip(message)


def _pil_images(kind: str) -> list[Image.Image]:
    """Two 8-bit grey images as the toolkits read them: real frames or random pixels."""
    if kind == "lus":
        if not has_lus():
            pytest.skip(f"no processed lus copy at {lus_dir()} (set USBENCH_SHARED)")
        files = sorted(lus_dir().glob("*/*.png"))[:2]
        return [Image.open(f).convert("L") for f in files]
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (200, 170), dtype=np.uint8)) for _ in range(2)]


def _ours(images: list[Image.Image], name: str) -> torch.Tensor:
    x = torch.stack([T.functional.to_tensor(i) for i in images])
    return prepare(x, bb.get(name).prep)


def _reference(images: list[Image.Image], transform) -> torch.Tensor:
    return torch.stack([transform(i.convert("RGB")) for i in images])


def _assert_close(a: torch.Tensor, b: torch.Tensor, tol: float = TOL) -> None:
    assert a.shape == b.shape
    assert float((a - b).abs().max()) <= tol * max(1.0, float(b.abs().max()))


KINDS = ["lus", "random"]


# -- preprocessing -------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_dinov2_and_swav_preprocessing_equal_dgm_eval_definition(kind):
    images = _pil_images(kind)
    norm = T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    dino = T.Compose([T.Resize((224, 224), T.InterpolationMode.BICUBIC), T.ToTensor(), norm])
    swav = T.Compose([T.Resize(224), T.ToTensor(), norm])
    _assert_close(_ours(images, "dinov2-vitb14"), _reference(images, dino))
    _assert_close(_ours(images, "swav-resnet50"), _reference(images, swav))


@pytest.mark.parametrize("kind", KINDS)
def test_clip_preprocessing_equals_clean_fid(kind):
    _crosscheck("cleanfid")
    # clean-fid's module imports OpenAI's ``clip`` package for its model only; its
    # ``img_preprocess_clip`` does not use it, so an empty module stands in for it here
    sys.modules.setdefault("clip", types.ModuleType("clip"))
    from cleanfid.clip_features import img_preprocess_clip

    images = _pil_images(kind)
    norm = T.Normalize(CLIP_MEAN, CLIP_STD)  # clean-fid's CLIP_fx: x / 255, then this

    def clean_fid(image):
        pixels = img_preprocess_clip(np.asarray(image))
        return norm(torch.from_numpy(pixels).permute(2, 0, 1).float() / 255.0)

    _assert_close(_ours(images, "clip-vitl14"), _reference(images, clean_fid))


@pytest.mark.parametrize("kind", KINDS)
def test_biomedclip_preprocessing_equals_open_clip_eval_transform(kind):
    from open_clip.transform import image_transform

    images = _pil_images(kind)
    transform = image_transform(224, is_train=False, mean=CLIP_MEAN, std=CLIP_STD)
    _assert_close(_ours(images, "biomedclip"), _reference(images, transform))


@pytest.mark.parametrize("kind", KINDS)
def test_radimagenet_preprocessing_is_monai_recipe_at_224(kind):
    images = _pil_images(kind)

    def monai(image):  # [0, 1], BGR, minus the BGR ImageNet mean, no division
        x = T.ToTensor()(T.Resize((224, 224), T.InterpolationMode.BILINEAR)(image))[[2, 1, 0]]
        return x - torch.tensor([0.406, 0.456, 0.485]).view(3, 1, 1)

    _assert_close(_ours(images, "radimagenet-resnet50"), _reference(images, monai))


# -- networks ------------------------------------------------------------------------------
def _input(seed: int = 0) -> torch.Tensor:
    x = torch.stack([T.functional.to_tensor(i) for i in _pil_images("random")])
    return x[:, :, :160, :160]


def test_dinov2_equals_hub_model_definition():
    """timm at 224 px with the checkpoint loaded ≡ a 518-px hub model interpolating its
    position embeddings on the fly (DINOv2's ``interpolate_pos_encoding``)."""
    import timm

    torch.manual_seed(0)
    hub = timm.create_model("vit_base_patch14_dinov2", pretrained=False, num_classes=0, depth=2)
    state = {**hub.state_dict(), "mask_token": torch.zeros(1, 768)}  # the hub layout
    state["pos_embed"] = torch.randn_like(state["pos_embed"]) * 0.1
    hub.load_state_dict({k: v for k, v in state.items() if k != "mask_token"})
    ours = dinov2.build("dinov2-vitb14", state, depth=2)
    x = prepare(_input(), bb.get("dinov2-vitb14").prep)

    with torch.no_grad():
        tokens = F.conv2d(x, hub.patch_embed.proj.weight, hub.patch_embed.proj.bias, stride=14)
        tokens = tokens.flatten(2).transpose(1, 2)
        tokens = torch.cat([hub.cls_token.expand(len(x), -1, -1), tokens], dim=1)
        side, grid = 37, x.shape[-1] // 14
        patches = hub.pos_embed[:, 1:].reshape(1, side, side, -1).permute(0, 3, 1, 2)
        s = (grid + 0.1) / side
        patches = F.interpolate(patches, scale_factor=(s, s), mode="bicubic", antialias=False)
        pos = torch.cat([hub.pos_embed[:, :1], patches.flatten(2).transpose(1, 2)], dim=1)
        reference = hub.norm(hub.blocks(tokens + pos))[:, 0]
        _assert_close(ours(x), reference)
    assert bb.get("dinov2-vitb14").dims == reference.shape[1] == 768


def test_clip_vitl14_equals_torch_fidelity_openai_tower(tmp_path):
    _crosscheck("torch_fidelity")
    from torch_fidelity.feature_extractor_clip import CLIPVisual

    torch.manual_seed(0)
    reference = CLIPVisual(768, 224, 2, 1024, 14).eval()  # ViT-L/14, two blocks
    ours = clip.build_openai_vitl14(clip.visual_tensors(reference.state_dict()), depth=2)
    x = prepare(_input(), bb.get("clip-vitl14").prep)
    with torch.no_grad():
        _assert_close(ours(x), reference.visual(x))


def test_biomedclip_tower_from_checkpoint_equals_open_clip(tmp_path):
    from open_clip.timm_model import TimmModel

    torch.manual_seed(0)
    reference = TimmModel(**clip.BIOMEDCLIP_VISION, image_size=224, proj="linear").eval()
    reference.trunk.blocks = reference.trunk.blocks[:2]
    checkpoint = {f"visual.{k}": v for k, v in reference.state_dict().items()}
    checkpoint["text.proj.weight"] = torch.zeros(2, 2)  # text tower, not kept
    torch.save(checkpoint, tmp_path / "open_clip_pytorch_model.bin")
    clip.convert_biomedclip_checkpoint(tmp_path / "open_clip_pytorch_model.bin", tmp_path / "v")
    from safetensors.torch import load_file

    ours = clip.build_biomedclip(load_file(str(tmp_path / "v")), depth=2)
    x = prepare(_input()[:1], bb.get("biomedclip").prep)
    with torch.no_grad():
        _assert_close(ours(x), reference(x))


def test_swav_equals_dgm_eval_resnet_definition():
    """dgm-eval's SwAV ResNet pads by 1 then convolves with padding 2; heads unused."""
    torch.manual_seed(0)
    reference = resnet._resnet50().eval()
    for m in reference.modules():  # non-trivial BN statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1), m.running_var.uniform_(0.5, 1.5)
    state = {f"module.{k}": v for k, v in reference.state_dict().items()}
    state["module.projection_head.0.weight"] = torch.zeros(4, 4)
    state["module.prototypes.weight"] = torch.zeros(4, 4)
    ours = bb.build("swav-resnet50", state)
    x = prepare(_input()[:1], bb.get("swav-resnet50").prep)
    r = reference
    with torch.no_grad():
        h = F.conv2d(F.pad(x, (1, 1, 1, 1)), r.conv1.weight, stride=2, padding=2)
        h = r.maxpool(r.relu(r.bn1(h)))
        h = r.layer4(r.layer3(r.layer2(r.layer1(h)))).mean(dim=(2, 3))
        _assert_close(ours(x), h)


def _keras_bottleneck(state, prefix, x, stride):
    def conv(name, h, s=1, pad=0):
        return F.conv2d(h, state[f"{name}.weight"], state[f"{name}.bias"], stride=s, padding=pad)

    def bn(name, h):
        return F.batch_norm(
            h, state[f"{name}.running_mean"], state[f"{name}.running_var"],
            state[f"{name}.weight"], state[f"{name}.bias"], eps=1.001e-5,
        )  # fmt: skip

    h = F.relu(bn(f"{prefix}.bn1", conv(f"{prefix}.conv1", x, stride)))
    h = F.relu(bn(f"{prefix}.bn2", conv(f"{prefix}.conv2", h, 1, 1)))
    h = bn(f"{prefix}.bn3", conv(f"{prefix}.conv3", h))
    if f"{prefix}.downsample.0.weight" in state:
        x = bn(f"{prefix}.downsample.1", conv(f"{prefix}.downsample.0", x, stride))
    return F.relu(h + x)


def test_radimagenet_equals_keras_resnet50_definition():
    """Keras ResNet-50: biased convolutions, stride in the first 1×1, BN eps 1.001e-5."""
    torch.manual_seed(0)
    state = {k: v.clone() for k, v in resnet.keras_resnet50().state_dict().items()}
    for k, v in state.items():
        if k.endswith(("running_var",)):
            v.uniform_(0.5, 1.5)
        elif k.endswith(("bias", "running_mean")):
            v.uniform_(-0.1, 0.1)
    ours = bb.build("radimagenet-resnet50", state)
    x = prepare(_input()[:1], bb.get("radimagenet-resnet50").prep)
    with torch.no_grad():
        h = F.conv2d(x, state["conv1.weight"], state["conv1.bias"], stride=2, padding=3)
        h = F.batch_norm(
            h, state["bn1.running_mean"], state["bn1.running_var"], state["bn1.weight"],
            state["bn1.bias"], eps=1.001e-5,
        )  # fmt: skip
        h = F.max_pool2d(F.relu(h), 3, 2, 1)
        for stage, blocks in enumerate((3, 4, 6, 3), start=1):
            for i in range(blocks):
                stride = 2 if i == 0 and stage > 1 else 1
                h = _keras_bottleneck(state, f"layer{stage}.{i}", h, stride)
        _assert_close(ours(x), h.mean(dim=(2, 3)))


# -- the metrics ---------------------------------------------------------------------------
def _sets():
    rng = np.random.default_rng(1)
    gen = torch.from_numpy(rng.random((6, 1, 48, 48), dtype=np.float32))
    real = torch.from_numpy(rng.random((7, 1, 48, 48), dtype=np.float32))
    return gen, real


def test_fid_and_prdc_on_another_backbone_use_its_features():
    import timm

    torch.manual_seed(0)
    net = timm.create_model("vit_base_patch14_dinov2", num_classes=0, img_size=224, depth=1)
    gen, real = _sets()
    inputs = EvalInputs(SampleBatch(gen), imageset(real))
    fid = FID(FID.Config(features="dinov2-vitb14", n_boot=5), network=net.eval())
    result = fid.compute(inputs)
    backbone = bb.get("dinov2-vitb14")
    x, y = (bb.embed(net, backbone, s) for s in (gen, real))
    assert result.value == pytest.approx(frechet_distance(x, y), rel=1e-9)
    variant = fid.variant()
    assert variant["extractor"] == "dinov2-vitb14" and variant["dims"] == 768
    assert "dgm-eval" in variant["preprocessing"] and "class token" in variant["feature"]
    assert fid.weights == ("dinov2-vitb14",)
    prdc = PRDCMetric(PRDCMetric.Config(features="dinov2-vitb14", k=2), network=net)
    assert prdc.variant()["features"] == "dinov2-vitb14"
    assert prdc.compute(inputs).details["n_real"] == 7


def test_missing_backbone_weights_are_unavailable_with_the_fetch_fix():
    gen, real = _sets()
    inputs = EvalInputs(SampleBatch(gen), imageset(real))
    with pytest.raises(MetricUnavailable) as info:
        FID(FID.Config(features="dinov2-vitb14", n_boot=5)).compute(inputs)
    assert "usbench weights fetch dinov2-vitb14" in info.value.fix


def test_fid_layer_and_features_cannot_both_choose():
    with pytest.raises(ValueError, match="give only one"):
        FID.Config(layer="pool2", features="dinov2-vitb14")
    assert set(bb.BACKBONES) <= set(bb.FEATURE_NAMES)


def test_clip_archive_with_another_hash_is_refused(tmp_path):
    (tmp_path / "ViT-L-14.pt").write_bytes(b"not the archive")
    with pytest.raises(ValueError, match="is not OpenAI's ViT-L-14.pt"):
        clip.convert_openai_archive(tmp_path / "ViT-L-14.pt", tmp_path / "out")
