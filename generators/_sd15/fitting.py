"""The fit procedure of the SD1.5 hybrid generator, and rebuilding it from saved adapters.

Stages, each a run of the shared loop :func:`usbench.training.train` (Adam, gradient
clipping, no EMA, checkpoints + resume in ``ctx.workdir/<tag>``):

1. ``textual_inversion`` (when on): the token vector is the only trainable tensor; UNet,
   VAE and the rest of the text encoder are frozen. Each step encodes the batch's prompts.
2. ``lora``: LoRA matrices on the UNet attention are the only trainable tensors; the
   prompts (with the learned token) are encoded once, since the text encoder is frozen.

Both minimise the noise-prediction loss on latents of the training images (VAE posterior
computed once, sampled every step) with their class prompts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch

from usbench.data.imageset import ImageSet
from usbench.generators._sd15 import adapters, generation
from usbench.generators._sd15.base_model import base_fingerprint, load_base_pipeline
from usbench.generators._sd15.objective import AdapterObjective, LatentBatches
from usbench.generators._sd15.prompts import class_prompt, parse_class_prompts
from usbench.protocols import FitContext

LORA_SEED_OFFSET = 7919


@dataclass
class FittedAdapters:
    """A base pipeline carrying trained adapters, the token id (or ``None``) and losses."""

    pipe: Any
    token_id: int | None
    losses: dict[str, list[tuple[int, float]]]


def class_prompts(config, class_names: tuple[str, ...]) -> list[str]:
    """The prompt of each class, in label order, with the token appended when TI is on."""
    table = parse_class_prompts(config.class_prompts)
    token = config.placeholder_token if config.textual_inversion else None
    return [
        class_prompt(name, table=table, template=config.prompt_template, placeholder=token)
        for name in class_names
    ]


def _add_token(pipe, config) -> int | None:
    """The placeholder token's id after adding it to the tokenizer and text encoder, or
    ``None`` when textual inversion is off."""
    if not config.textual_inversion:
        return None
    return adapters.add_placeholder_token(
        pipe.tokenizer,
        pipe.text_encoder,
        token=config.placeholder_token,
        initializer=config.initializer_token,
    )


def fit_adapters(config, train: ImageSet, ctx: FitContext, *, device: str) -> FittedAdapters:
    """Load the base model, learn the token (if on) and the LoRA on ``train``."""
    pipe = load_base_pipeline(config.base_model)
    pipe.to(device)
    token_id = _add_token(pipe, config)
    prompt_ids = _prompt_ids(pipe.tokenizer, class_prompts(config, train.class_names), token_id)
    batches = _latent_batches(pipe, train, config)
    losses: dict[str, list[tuple[int, float]]] = {}
    if token_id is not None and config.ti_steps > 0:
        losses["textual_inversion"] = _train_token(pipe, token_id, batches, prompt_ids, config, ctx)
    adapters.add_lora(
        pipe.unet,
        rank=config.lora_rank,
        alpha=config.lora_alpha,
        targets=config.lora_targets,
        seed=ctx.seed,
    )
    losses["lora"] = _train_lora(pipe, batches, prompt_ids, config, ctx)
    return FittedAdapters(pipe=pipe, token_id=token_id, losses=losses)


def _prompt_ids(tokenizer, prompts: list[str], token_id: int | None) -> torch.Tensor:
    ids = tokenizer(
        prompts,
        padding="max_length",
        max_length=tokenizer.model_max_length,
        truncation=True,
        return_tensors="pt",
    ).input_ids
    if token_id is not None:
        for prompt, row in zip(prompts, ids, strict=True):
            if not bool((row == token_id).any()):
                raise ValueError(
                    f"The prompt {prompt!r} is too long for the tokenizer "
                    f"({tokenizer.model_max_length} tokens): the learned token was cut off. "
                    "Shorten it with --set class_prompts=..."
                )
    return ids


def _latent_batches(pipe, train: ImageSet, config) -> LatentBatches:
    images = generation.resize_square(train.images, config.image_size)
    batch_size = config.train.batch_size
    mean, std = generation.encode_latent_stats(pipe.vae, images, batch_size=batch_size)
    return LatentBatches(
        mean,
        std,
        train.labels.clone(),
        batch_size=batch_size,
        scale=pipe.vae.config.scaling_factor,
    )


def _token_settings(config):
    """The token stage: ``config.train`` with the stage's own steps and learning rate."""
    return dataclasses.replace(
        config.train, steps=config.ti_steps, lr=config.ti_lr, lr_milestones=()
    )


def _train_token(pipe, token_id, batches, prompt_ids, config, ctx) -> list[tuple[int, float]]:
    from diffusers import DDPMScheduler

    from usbench.training import train

    pipe.unet.requires_grad_(False)
    pipe.vae.requires_grad_(False)
    device = pipe.unet.device
    with adapters.trainable_token(pipe.text_encoder, token_id) as vector:
        objective = AdapterObjective(
            {"token.embedding": vector},
            unet=pipe.unet,
            scheduler=DDPMScheduler.from_config(pipe.scheduler.config),
            text_states=lambda labels: pipe.text_encoder(prompt_ids[labels.cpu()].to(device))[0],
        )
        outcome = train(
            objective,
            batches,
            _token_settings(config),
            ctx,
            tag="textual_inversion",
        )
    return outcome.losses


def _train_lora(pipe, batches, prompt_ids, config, ctx) -> list[tuple[int, float]]:
    from diffusers import DDPMScheduler

    from usbench.training import train

    pipe.text_encoder.requires_grad_(False)
    with torch.no_grad():
        class_states = pipe.text_encoder(prompt_ids.to(pipe.unet.device))[0]
    objective = AdapterObjective(
        adapters.lora_parameters(pipe.unet),
        unet=pipe.unet,
        scheduler=DDPMScheduler.from_config(pipe.scheduler.config),
        text_states=lambda labels: class_states[labels.to(class_states.device)],
    )
    # its own seed stream, so LoRA step s does not reuse the noise of token step s
    lora_ctx = dataclasses.replace(ctx, seed=ctx.seed + LORA_SEED_OFFSET)
    outcome = train(
        objective,
        batches,
        config.train,
        lora_ctx,
        tag="lora",
    )
    return outcome.losses


def pipeline_with_adapters(config, meta: dict[str, Any], tensors: dict[str, torch.Tensor]):
    """Load the base model and put saved adapters on it; returns ``(pipe, token_id)``.

    Refuses adapters trained on other base weights (fingerprint in ``meta``).
    """
    pipe = load_base_pipeline(config.base_model)
    expected = meta.get("base_fingerprint")
    if expected and base_fingerprint(pipe) != expected:
        raise ValueError(
            f"These adapters were trained on other base weights than {config.base_model!r} "
            f"(fingerprint {expected}); pass the original one with --set base_model=..."
        )
    token_id = _add_token(pipe, config)
    if token_id is not None:
        adapters.set_token_embedding(pipe.text_encoder, token_id, tensors["token.embedding"])
    adapters.add_lora(
        pipe.unet,
        rank=config.lora_rank,
        alpha=config.lora_alpha,
        targets=config.lora_targets,
        seed=0,
    )
    lora = {k[len("lora.") :]: v for k, v in tensors.items() if k.startswith("lora.")}
    adapters.load_lora_state(pipe.unet, lora)
    return pipe, token_id
