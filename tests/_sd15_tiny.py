"""A tiny, randomly initialised pipeline with the exact Stable Diffusion 1.5 layout.

Used by the tests and the benchmark to exercise the real code path (loading a local
diffusers directory, LoRA injection, textual inversion, text-to-image and img2img) without
the 4 GB of SD1.5 weights. Its samples are noise-like and are never scores.

The tokenizer is a character-level CLIP BPE tokenizer written to disk here (every
lower-case letter, digit and a few punctuation marks, no merges), so nothing comes from
a hub.
"""

from __future__ import annotations

import json
import string
from pathlib import Path

import torch

from usbench.generators._sd15.base_model import mark_test_weights

TINY_TEXT_WIDTH = 16
TINY_MAX_TOKENS = 77


def write_tiny_tokenizer_files(directory: Path) -> tuple[Path, Path]:
    """Write ``vocab.json`` and ``merges.txt`` of a character-level CLIP tokenizer."""
    directory.mkdir(parents=True, exist_ok=True)
    symbols = string.ascii_lowercase + string.digits + ",.-<>()'_"
    tokens = ["<|startoftext|>", "<|endoftext|>"]
    tokens += list(symbols) + [f"{c}</w>" for c in symbols]
    vocab = {token: index for index, token in enumerate(tokens)}
    vocab_file = directory / "vocab.json"
    merges_file = directory / "merges.txt"
    vocab_file.write_text(json.dumps(vocab))
    merges_file.write_text("#version: 0.2\n")
    return vocab_file, merges_file


def build_tiny_pipeline(directory: Path, *, seed: int = 0):
    """Build a random SD-shaped ``StableDiffusionPipeline`` and ``save_pretrained`` it.

    Layout: UNet2DConditionModel (channels 8/16, cross-attention width 16), AutoencoderKL
    (2 blocks → latents at half the image size, 4 channels), CLIPTextModel (2 layers,
    width 16), DDIM scheduler, no safety checker. Returns ``directory`` (a diffusers
    folder that :func:`usbench.generators._sd15.base_model.load_base_pipeline` accepts).
    """
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(seed)
    vocab_file, merges_file = write_tiny_tokenizer_files(directory / "_tokenizer_src")
    tokenizer = CLIPTokenizer(str(vocab_file), str(merges_file), model_max_length=TINY_MAX_TOKENS)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=TINY_TEXT_WIDTH,
            intermediate_size=32,
            num_attention_heads=2,
            num_hidden_layers=2,
            max_position_embeddings=TINY_MAX_TOKENS,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    unet = UNet2DConditionModel(
        sample_size=16,
        in_channels=4,
        out_channels=4,
        block_out_channels=(8, 16),
        layers_per_block=1,
        norm_num_groups=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=TINY_TEXT_WIDTH,
        attention_head_dim=4,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        block_out_channels=(8, 16),
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        norm_num_groups=4,
        sample_size=32,
    )
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(str(directory))
    mark_test_weights(directory)
    return directory
