"""AWDiff: wavelet encoder, CLIP conditioning (tiny random CLIP), generator behaviour."""

from __future__ import annotations

import json
import os

import pytest
import torch

os.environ["HF_HUB_OFFLINE"] = "1"

from usbench import weights  # noqa: E402
from usbench.data.imageset import ImageSet  # noqa: E402
from usbench.generators._lib.awdiff_model import WaveletFeatureEncoder  # noqa: E402
from usbench.generators._lib.clip_encoder import load_clip, model_from_weights_cache  # noqa: E402
from usbench.generators.awdiff import AWDiffConfig, AWDiffGenerator  # noqa: E402
from usbench.protocols import FitContext, MetricUnavailable  # noqa: E402

EMBED = 16


@pytest.fixture(scope="module")
def tiny_clip_dir(tmp_path_factory):
    """A random CLIP written in open_clip's own local-dir layout (config JSON + safetensors)."""
    import open_clip
    from safetensors.torch import save_file

    model_cfg = {
        "embed_dim": EMBED,
        "vision_cfg": {
            "image_size": 32,
            "layers": 1,
            "width": 32,
            "head_width": 16,
            "patch_size": 8,
        },
        "text_cfg": {
            "context_length": 16,
            "vocab_size": 49408,
            "width": 32,
            "heads": 2,
            "layers": 1,
        },
    }
    torch.manual_seed(0)
    model = open_clip.CLIP(**model_cfg)
    folder = tmp_path_factory.mktemp("tiny_clip")
    preprocess = {"size": 32, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}
    (folder / "open_clip_config.json").write_text(
        json.dumps({"model_cfg": model_cfg, "preprocess_cfg": preprocess})
    )
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / "open_clip_model.safetensors"))
    return folder, model


def tiny_images(n: int = 6, size: int = 16) -> ImageSet:
    g = torch.Generator().manual_seed(5)
    return ImageSet(
        images=torch.rand(n, 1, size, size, generator=g),
        labels=torch.tensor([0, 1, 2, 0, 1, 2])[:n],
        class_names=("a_lines", "b-lines", "consolidation"),
        patient_ids=tuple(f"p{i}" for i in range(n)),
        names=tuple(f"img{i:02d}" for i in range(n)),
        name="tiny",
    )


def _fit(tmp_path, clip_dir=None, **overrides):
    values = {k: str(v) for k, v in overrides.items()}
    if clip_dir is not None:
        values["clip_model"] = str(clip_dir)
    gen = AWDiffGenerator.from_preset("smoke", values)
    gen.fit(tiny_images(), FitContext(tmp_path, seed=3, progress=False))
    return gen


def test_local_clip_loads_weights_exactly(tiny_clip_dir):
    folder, reference = tiny_clip_dir
    clip = load_clip(str(folder))
    assert clip.embed_dim == EMBED and clip.image_size == (32, 32)
    for name, tensor in reference.state_dict().items():
        torch.testing.assert_close(clip.model.state_dict()[name], tensor, atol=0, rtol=0)
    import open_clip

    tokens = open_clip.get_tokenizer("ViT-B-32", context_length=16)(["lung ultrasound"])
    with torch.no_grad():
        expected = torch.nn.functional.normalize(reference.encode_text(tokens), dim=-1)
    torch.testing.assert_close(clip.encode_text(["lung ultrasound"]), expected)
    # image path: grey → RGB, resize, normalise with the config's mean/std
    image = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    x = torch.nn.functional.interpolate(
        image.expand(-1, 3, -1, -1), size=(32, 32), mode="bilinear", align_corners=False
    )
    with torch.no_grad():
        ref_img = torch.nn.functional.normalize(reference.encode_image((x - 0.5) / 0.25), dim=-1)
    torch.testing.assert_close(clip.encode_image(image), ref_img)


def test_missing_biomedclip_offline_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv(weights.ENV_DIR, str(tmp_path / "empty-weights"))
    with pytest.raises(MetricUnavailable) as err:
        load_clip("hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224")
    assert "usbench weights fetch biomedclip" in err.value.fix
    assert "usbench weights import FILE --name biomedclip" in err.value.fix
    assert "text_encoder=label-embedding" in err.value.fix
    assert "clip_model=" in err.value.fix
    assert "\n" not in str(err.value)  # the CLI prints it as one line
    with pytest.raises(MetricUnavailable):  # the default config stops the run with the fix
        AWDiffGenerator.from_preset("smoke").fit(tiny_images(), FitContext(tmp_path))
    assert not (tmp_path / "awdiff").exists()  # stopped before the loop made checkpoints


def test_clip_weights_from_the_weights_cache(tiny_clip_dir, tmp_path, monkeypatch):
    """Architecture from a config-only folder, weights imported into the usbench cache."""
    folder, reference = tiny_clip_dir
    config_only = tmp_path / "config-only"
    config_only.mkdir()
    (config_only / "open_clip_config.json").write_text(
        (folder / "open_clip_config.json").read_text()
    )
    monkeypatch.setenv(weights.ENV_DIR, str(tmp_path / "weights"))
    entry = weights.WeightSpec(
        name="tiny-clip",
        filename="tiny_clip.safetensors",
        description="random tiny CLIP (test)",
        used_by=("test",),
        url=None,
    )
    monkeypatch.setitem(weights.WEIGHTS, "tiny-clip", entry)
    with pytest.raises(MetricUnavailable, match="text_encoder=label-embedding"):
        model_from_weights_cache(f"local-dir:{config_only}", "tiny-clip")  # not imported yet
    weights.import_file(folder / "open_clip_model.safetensors", name="tiny-clip")
    clip = model_from_weights_cache(f"local-dir:{config_only}", "tiny-clip")
    assert "usbench cache 'tiny-clip'" in clip.source
    for name, tensor in reference.state_dict().items():
        torch.testing.assert_close(clip.model.state_dict()[name], tensor, atol=0, rtol=0)
    direct = load_clip(str(folder))
    torch.testing.assert_close(clip.encode_text(["b lines"]), direct.encode_text(["b lines"]))


def test_prompts_from_class_names():
    cfg = AWDiffConfig()
    assert cfg.class_prompts(("b-lines", "a_lines")) == [
        "lung ultrasound with b lines",
        "lung ultrasound with a lines",
    ]
    with pytest.raises(ValueError, match="one each"):
        AWDiffConfig(prompts=("x",)).class_prompts(("a", "b"))


def test_encoder_tokens_and_dilations():
    cfg = AWDiffGenerator.from_preset("smoke").config
    enc = WaveletFeatureEncoder(cfg)
    x = torch.rand(2, 1, 16, 16) * 2 - 1
    tokens = enc(x)
    assert tokens.shape == (2, cfg.wavelet_scales * cfg.token_grid**2, cfg.cond_dim)
    assert [c[0].dilation for c in enc.convs] == [(1, 1), (2, 2), (4, 4), (8, 8)]
    dwt = WaveletFeatureEncoder(AWDiffConfig(**{**cfg.__dict__, "encoder": "dwt"}))
    assert dwt.convs[0][0].in_channels == 3 and dwt(x).shape == tokens.shape
    # the atrous planes the encoder sees sum back to the image minus its coarse part
    planes = torch.cat(enc.planes(x), 1)
    assert planes.shape == (2, 4, 16, 16)


def test_alignment_loss_matches_manual_cosine(tiny_clip_dir):
    folder, _ = tiny_clip_dir
    clip = load_clip(str(folder))
    cfg = AWDiffGenerator.from_preset("smoke", {"clip_model": str(folder)}).config
    from usbench.generators._lib.awdiff_model import AWDiffModel

    text = clip.encode_text(cfg.class_prompts(("a", "b")))
    model = AWDiffModel(cfg, text, 2)
    model.clip = clip
    g = torch.Generator().manual_seed(1)
    x_t, eps = torch.randn(3, 1, 16, 16, generator=g), torch.randn(3, 1, 16, 16, generator=g)
    t, labels = torch.tensor([0, 4, 9]), torch.tensor([1, 0, 1])
    ab = model.scheduler.alphas_cumprod[t].view(-1, 1, 1, 1)
    x0 = ((x_t - (1 - ab).sqrt() * eps) / ab.sqrt()).clamp(-1, 1)
    z = clip.encode_image((x0 + 1) / 2)
    expected = torch.stack([1 - torch.dot(z[i], text[labels[i]]) for i in range(3)]).mean()
    torch.testing.assert_close(model.alignment_loss(x_t, t, eps, labels), expected)
    # the loss is differentiable w.r.t. the prediction but CLIP stays frozen
    eps.requires_grad_(True)
    model.alignment_loss(x_t, t, eps, labels).backward()
    assert eps.grad is not None and float(eps.grad.abs().sum()) > 0
    assert all(p.grad is None for p in clip.model.parameters())


def test_fit_sample_save_load_with_tiny_clip(tiny_clip_dir, tmp_path):
    folder, _ = tiny_clip_dir
    gen = _fit(tmp_path / "run", clip_dir=folder)
    assert gen.state_meta()["clip_source"] == str(folder)
    assert "model.class_text" in gen.state_tensors()
    assert not any("clip" in k and "class_text" not in k for k in gen.state_tensors())
    batch = gen.sample(5, seed=0)
    assert batch.images.shape == (5, 1, 16, 16) and len(batch.sources) == 5
    data = tiny_images()
    for name, label in zip(batch.sources, batch.labels.tolist(), strict=True):
        assert int(data.labels[data.index_of(name)]) == label  # label follows the reference
    torch.testing.assert_close(gen.sample(5, seed=0).images, batch.images, atol=0, rtol=0)
    wanted = torch.tensor([2, 2, 0])
    cond = gen.sample(3, seed=4, labels=wanted)
    assert cond.labels.tolist() == [2, 2, 0]
    assert all(
        int(data.labels[data.index_of(s)]) == c
        for s, c in zip(cond.sources, [2, 2, 0], strict=True)
    )
    loaded = AWDiffGenerator.load(gen.save(tmp_path / "saved"))
    again = loaded.sample(5, seed=0)
    torch.testing.assert_close(again.images, batch.images, atol=0, rtol=0)
    assert again.sources == batch.sources


def test_fallback_is_recorded_and_resume_is_exact(tmp_path):
    gen = _fit(tmp_path / "a", text_encoder="label-embedding", encoder="dwt", steps=4)
    assert gen.config.text_encoder == "label-embedding"
    assert gen.state_meta()["text_encoder"] == "label-embedding"
    from usbench.config import config_hash

    assert config_hash(gen.config) != config_hash(
        AWDiffGenerator.from_preset("smoke", {"encoder": "dwt", "train.steps": "4"}).config
    )
    _fit(tmp_path / "b", text_encoder="label-embedding", encoder="dwt", steps=2)
    values = {"text_encoder": "label-embedding", "encoder": "dwt", "train.steps": "4"}
    resumed = AWDiffGenerator.from_preset("smoke", values)
    resumed.fit(tiny_images(), FitContext(tmp_path / "b", seed=3, resume=True, progress=False))
    for name, tensor in gen.state_tensors().items():
        torch.testing.assert_close(resumed.state_tensors()[name], tensor, atol=0, rtol=0)


def test_paper_preset_matches_seed():
    cfg = AWDiffGenerator.from_preset("paper").config
    train = cfg.train
    assert (cfg.image_size, train.batch_size, train.steps, cfg.timesteps) == (
        256,
        128,
        120_000,
        100,
    )
    assert (train.lr, train.betas) == (1e-4, (0.9, 0.999))
    assert (cfg.encoder, cfg.text_encoder) == ("atrous", "biomedclip")
