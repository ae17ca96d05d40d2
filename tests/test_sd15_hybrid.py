"""SD1.5 hybrid generator on a tiny random SD-shaped pipeline (no hub, no real weights).

The pipeline is saved with ``save_pretrained`` and loaded through the same
``load_base_pipeline`` path that real SD1.5 weights take. Numbers from it are never scores.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"

import pytest  # noqa: E402
import torch  # noqa: E402
from _sd15_tiny import build_tiny_pipeline  # noqa: E402

from usbench.data.imageset import ImageSet  # noqa: E402
from usbench.generators._sd15 import adapters, generation  # noqa: E402
from usbench.generators._sd15.base_model import (  # noqa: E402
    BaseModelMissing,
    load_base_pipeline,
    resolve_base_model,
)
from usbench.generators._sd15.prompts import class_prompt, parse_class_prompts  # noqa: E402
from usbench.generators.sd15_hybrid import ABLATION_ROWS, SD15Hybrid  # noqa: E402
from usbench.protocols import FitContext  # noqa: E402

# The module fixture below builds the tiny pipeline here (the generator's conformance run is
# in test_conformance_generators.py).
TINY_DIR = Path(tempfile.mkdtemp(prefix="usbench-sd15-tiny-"))
BUSI_NAMES = ("benign", "malignant", "normal")


@pytest.fixture(scope="module", autouse=True)
def tiny_base():
    # Tiny convolutions run >10x faster on one thread than on oversubscribed cores.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    build_tiny_pipeline(TINY_DIR, seed=0)
    yield TINY_DIR
    shutil.rmtree(TINY_DIR, ignore_errors=True)
    torch.set_num_threads(threads)


def toy_busi(n: int = 6, size: int = 32) -> ImageSet:
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(n, 1, size, size, generator=gen) * 0.5 + torch.linspace(0, 0.5, size)
    return ImageSet(
        images=images.clamp(0, 1),
        labels=torch.arange(n) % 3,
        class_names=BUSI_NAMES,
        patient_ids=tuple(f"p{i}" for i in range(n)),
        names=tuple(f"img{i}" for i in range(n)),
        name="toy-busi",
    )


@pytest.fixture(scope="module")
def fitted(tiny_base, tmp_path_factory):
    gen = SD15Hybrid.from_preset("smoke", {"base_model": str(tiny_base)})
    workdir = tmp_path_factory.mktemp("sd15-fit")
    gen.fit(toy_busi(), FitContext(workdir=workdir, seed=0, progress=False))
    return gen, workdir


# -- prompts ---------------------------------------------------------------------------
def test_prompts_follow_the_paper_and_carry_the_token() -> None:
    table = parse_class_prompts(SD15Hybrid.Config().class_prompts)
    assert class_prompt("benign", table=table, template="x {label}", placeholder="<u>") == (
        "ultrasound image of a benign breast lesion <u>"
    )
    assert table["normal"] == "ultrasound image of a benign breast tissue"
    assert class_prompt("b_lines", table=table, template="lung {label}", placeholder=None) == (
        "lung b lines"
    )
    with pytest.raises(ValueError, match="class=prompt"):
        parse_class_prompts(("no equals sign",))


def test_ablation_rows_are_valid_configs() -> None:
    configs = {row: SD15Hybrid.from_preset("paper", v).config for row, v in ABLATION_ROWS.items()}
    assert configs["sd15"].textual_inversion is False and configs["sd15"].img2img_strength == 0
    assert configs["sd15+ti+img2img"] == SD15Hybrid.Config()  # the default is the full method
    assert SD15Hybrid.Config().lora_rank == 4 and SD15Hybrid.Config().train.steps == 3000


# -- base model ------------------------------------------------------------------------
def test_missing_weights_stop_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(BaseModelMissing, match="`hf download stable-diffusion-v1-5") as err:
        resolve_base_model("nobody-here/no-such-sd15")
    assert "--set base_model=" in str(err.value)
    with pytest.raises(BaseModelMissing, match="does not exist"):
        resolve_base_model(str(tmp_path / "absent"))
    with pytest.raises(BaseModelMissing, match="model_index.json"):
        resolve_base_model(str(tmp_path))
    gen = SD15Hybrid.from_preset("smoke", {"base_model": str(tmp_path / "absent")})
    with pytest.raises(BaseModelMissing):
        gen.fit(toy_busi(), FitContext(workdir=tmp_path / "w", progress=False))


def test_local_folder_is_loaded_offline(tiny_base) -> None:
    assert resolve_base_model(str(tiny_base)) == (str(tiny_base), True)


def test_hub_id_is_served_from_the_local_cache(tiny_base, tmp_path, monkeypatch) -> None:
    import huggingface_hub.constants

    repo = tmp_path / "models--someone--tiny-sd"
    shutil.copytree(tiny_base, repo / "snapshots" / ("a" * 40))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    assert resolve_base_model("someone/tiny-sd") == ("someone/tiny-sd", True)
    pipe = load_base_pipeline("someone/tiny-sd")
    reference = load_base_pipeline(str(tiny_base))
    assert torch.equal(pipe.unet.conv_in.weight, reference.unet.conv_in.weight)


# -- adapters --------------------------------------------------------------------------
def test_fresh_lora_leaves_the_unet_unchanged(tiny_base) -> None:
    pipe = load_base_pipeline(str(tiny_base))
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 4, 16, 16, generator=gen)
    states = torch.randn(2, 77, 16, generator=gen)
    t = torch.tensor([10, 500])
    with torch.no_grad():
        before = pipe.unet(x, t, encoder_hidden_states=states).sample
        params = adapters.add_lora(
            pipe.unet, rank=4, alpha=4, targets=adapters.LORA_TARGETS, seed=0
        )
        after = pipe.unet(x, t, encoder_hidden_states=states).sample
    assert torch.equal(before, after)  # B starts at zero
    assert all(p.requires_grad for p in params.values())
    trainable = {n for n, p in pipe.unet.named_parameters() if p.requires_grad}
    assert trainable == set(params) and len(params) > 0


def _base_name(name: str) -> str:
    return name.replace(".base_layer", "")


def test_training_changes_only_adapter_parameters(fitted, tiny_base) -> None:
    gen, _ = fitted
    base = load_base_pipeline(str(tiny_base))
    reference = dict(base.unet.named_parameters())
    lora_b = []
    for name, param in gen._pipe.unet.named_parameters():
        if "lora_" in name:
            lora_b += [param] if "lora_B" in name else []
            continue
        assert torch.equal(param.detach().cpu(), reference[_base_name(name)]), name
    assert (
        lora_b and max(float(p.detach().abs().max()) for p in lora_b) > 0
    )  # B left zero → trained
    for part in ("vae", "text_encoder"):
        ref = getattr(base, part).state_dict()
        for name, tensor in getattr(gen._pipe, part).state_dict().items():
            if name.endswith("token_embedding.weight"):
                continue
            assert torch.equal(tensor, ref[name]), name


def test_textual_inversion_changes_only_the_new_row(fitted, tiny_base) -> None:
    gen, _ = fitted
    base = load_base_pipeline(str(tiny_base))
    old = base.text_encoder.get_input_embeddings().weight.detach()
    new = gen._pipe.text_encoder.get_input_embeddings().weight.detach()
    token_id = gen._token_id
    assert new.shape[0] == old.shape[0] + 1 and token_id == old.shape[0]
    assert torch.equal(new[:token_id], old)
    init_ids = base.tokenizer.encode("ultrasound", add_special_tokens=False)
    start = old[init_ids].mean(dim=0)
    assert float((new[token_id] - start).abs().max()) > 1e-6  # two AdamW steps at lr 5e-4
    ids = gen._pipe.tokenizer("a <ultrasound>").input_ids
    assert ids.count(token_id) == 1  # the token is one id, not spelled out


def test_only_adapters_are_saved(fitted, tmp_path: Path) -> None:
    gen, _ = fitted
    tensors = gen.state_tensors()
    assert "token.embedding" in tensors and tensors["token.embedding"].shape == (16,)
    assert all(k == "token.embedding" or k.startswith("lora.") for k in tensors)
    n_lora = sum(v.numel() for k, v in tensors.items() if k.startswith("lora."))
    assert n_lora == sum(p.numel() for p in adapters.lora_parameters(gen._pipe.unet).values())
    gen.save(tmp_path / "g")
    unet_bytes = sum(p.numel() * 4 for p in gen._pipe.unet.parameters())
    assert (tmp_path / "g" / "weights.safetensors").stat().st_size < unet_bytes / 4


# -- sampling --------------------------------------------------------------------------
def _with_strength(gen: SD15Hybrid, strength: float) -> SD15Hybrid:
    other = SD15Hybrid(dataclasses.replace(gen.config, img2img_strength=strength))
    other.restore(gen.state_meta(), gen.state_tensors())
    return other


def test_strength_zero_returns_the_decode_of_the_text_to_image_latents(fitted) -> None:
    gen, _ = fitted
    plain = _with_strength(gen, 0.0)
    labels = torch.tensor([2, 0])
    samples = plain.sample(2, seed=7, labels=labels)
    gens = generation.seeded_generators(7, [0, 1], "cpu")
    prompts = [plain._prompts[2], plain._prompts[0]]
    latents = generation.text_to_latents(
        plain._pipe, prompts, gens, size=32, steps=4, guidance_scale=7.5
    )
    assert (
        generation.refine_latents(
            plain._img2img, latents, prompts, gens, strength=0.0, steps=4, guidance_scale=7.5
        )
        is latents
    )
    expected = generation.resize_square(generation.decode_latents(plain._pipe.vae, latents), 32)
    assert torch.equal(samples.images, expected)
    refined = gen.sample(2, seed=7, labels=labels)  # smoke: strength 0.5 → 2 img2img steps
    assert float((refined.images - samples.images).abs().mean()) > 1e-4


def test_samples_are_class_balanced_grayscale_at_training_size(fitted) -> None:
    gen, _ = fitted
    batch = gen.sample(5, seed=0)
    assert batch.labels.tolist() == [0, 1, 2, 0, 1]
    assert batch.images.shape == (5, 1, 32, 32)
    with pytest.raises(ValueError, match="0..2"):
        gen.sample(2, seed=0, labels=torch.tensor([0, 3]))


def test_sample_does_not_depend_on_the_batch_size(fitted) -> None:
    gen, _ = fitted
    small = SD15Hybrid(dataclasses.replace(gen.config, sample_batch_size=1))
    small.restore(gen.state_meta(), gen.state_tensors())
    a, b = gen.sample(3, seed=4), small.sample(3, seed=4)
    assert float((a.images - b.images).abs().max()) < 1e-4


def test_adapters_refuse_other_base_weights(fitted, tmp_path: Path) -> None:
    gen, _ = fitted
    other = build_tiny_pipeline(tmp_path / "other", seed=1)
    moved = SD15Hybrid(dataclasses.replace(gen.config, base_model=str(other)))
    with pytest.raises(ValueError, match="other base weights"):
        moved.restore(gen.state_meta(), gen.state_tensors())


# -- training and resume -----------------------------------------------------------------
def test_checkpoints_hold_only_the_adapters(fitted) -> None:
    from safetensors.torch import load_file

    gen, workdir = fitted
    lora = load_file(
        str(next((workdir / "lora" / "checkpoints").glob("step-*")) / "model.safetensors")
    )
    assert len(lora) == len(adapters.lora_parameters(gen._pipe.unet))
    assert all("lora_" in k for k in lora)
    token = next((workdir / "textual_inversion" / "checkpoints").glob("step-*"))
    assert list(load_file(str(token / "model.safetensors"))) == ["adapters.token__embedding"]


def test_killed_and_resumed_fit_equals_an_uninterrupted_one(
    tiny_base, tmp_path: Path, monkeypatch
) -> None:
    def fit(ti_steps: int, lora_steps: int, resume: bool) -> SD15Hybrid:
        overrides = {"base_model": str(tiny_base), "ti_steps": ti_steps, "train.steps": lora_steps}
        gen = SD15Hybrid.from_preset("smoke", overrides)
        gen.fit(
            toy_busi(),
            FitContext(
                workdir=tmp_path / ("b" if resume or ti_steps < 3 else "a"),
                seed=5,
                resume=resume,
                progress=False,
            ),
        )
        return gen

    full = fit(3, 3, resume=False)
    with monkeypatch.context() as patch:  # killed after the token stage, before any LoRA step
        from usbench.generators._sd15 import fitting

        def killed(*_args, **_kwargs):
            raise KeyboardInterrupt

        patch.setattr(fitting, "_train_lora", killed)
        with pytest.raises(KeyboardInterrupt):
            fit(2, 3, resume=False)
    resumed = fit(3, 3, resume=True)
    assert resumed.losses == full.losses
    for name, tensor in full.state_tensors().items():
        assert torch.equal(resumed.state_tensors()[name], tensor), name


def test_fit_resumes_finished_stages_without_training(fitted) -> None:
    gen, workdir = fitted
    again = SD15Hybrid(gen.config)
    again.fit(toy_busi(), FitContext(workdir=workdir, seed=0, resume=True, progress=False))
    assert again.losses == gen.losses
    for name, tensor in gen.state_tensors().items():
        assert torch.equal(again.state_tensors()[name], tensor), name


# -- the shared generator contract ------------------------------------------------------
@pytest.mark.subprocess
@pytest.mark.slow
def test_two_processes_keep_the_adapters_in_lockstep(tiny_base, tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    from safetensors.torch import load_file

    script = Path(__file__).with_name("_fit_sd15_tiny.py")
    # accelerate's --cpu flag starts a single process; the torchrun launcher runs 2 on gloo
    command = [
        sys.executable,
        "-P",
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        str(script),
        str(tiny_base),
        str(tmp_path),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    subprocess.run(command, check=True, timeout=600, env=env)
    state = json.loads((tmp_path / "lora/checkpoints/step-00000003/state.json").read_text())
    assert state["num_processes"] == 2
    rank0 = load_file(str(tmp_path / "adapters-rank0.safetensors"))
    rank1 = load_file(str(tmp_path / "adapters-rank1.safetensors"))
    assert rank0.keys() == rank1.keys() and "token.embedding" in rank0
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
