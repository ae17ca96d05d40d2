"""Grayscale ↔ VAE conversions, the noise-prediction loss, and two-stage sampling.

Sampling (seed 004, sec. 3.3): text-to-image with the LoRA UNet and the learned token,
stopped at the latents, then img2img refinement of those latents at ``strength`` (0.3 in
the paper) with the same UNet and prompt, then one VAE decode. The refinement starts from
the text-to-image latents directly instead of decoding and re-encoding them (the VAE round
trip is close to the identity and would add an encoder sample); ``strength = 0`` skips
refinement, so the output is exactly the decode of the text-to-image latents.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def gray_to_vae(images: torch.Tensor) -> torch.Tensor:
    """``N×1×H×W`` in [0, 1] → ``N×3×H×W`` in [-1, 1] (channel replicated) for the VAE."""
    return (images * 2.0 - 1.0).expand(-1, 3, -1, -1).contiguous()


def vae_to_gray(images: torch.Tensor) -> torch.Tensor:
    """``N×3×H×W`` VAE output in [-1, 1] → ``N×1×H×W`` float32 in [0, 1] (channel mean)."""
    return ((images.float().mean(dim=1, keepdim=True) + 1.0) / 2.0).clamp(0.0, 1.0)


def resize_square(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize ``N×C×H×W`` to ``size×size`` (bilinear, antialiased when shrinking)."""
    if images.shape[-2:] == (size, size):
        return images
    return F.interpolate(
        images, size=(size, size), mode="bilinear", antialias=True, align_corners=False
    ).clamp(0.0, 1.0)


@torch.no_grad()
def encode_latent_stats(
    vae, images: torch.Tensor, *, batch_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std (``N×4×h×w``, unscaled) of the VAE posterior of grayscale ``images``.

    Computed once per fit; each training step draws ``mean + std·ε`` itself.
    """
    means, stds = [], []
    device = next(vae.parameters()).device
    for chunk in images.split(batch_size):
        posterior = vae.encode(gray_to_vae(chunk).to(device)).latent_dist
        means.append(posterior.mean.float().cpu())
        stds.append(posterior.std.float().cpu())
    return torch.cat(means), torch.cat(stds)


@torch.no_grad()
def decode_latents(vae, latents: torch.Tensor) -> torch.Tensor:
    """Scaled latents (``N×4×h×w``) → grayscale images ``N×1×H×W`` in [0, 1] on the CPU."""
    decoded = vae.decode(latents / vae.config.scaling_factor).sample
    return vae_to_gray(decoded).cpu()


def noise_prediction_loss(
    unet,
    scheduler,
    latents: torch.Tensor,
    text_states: torch.Tensor,
    generator: torch.Generator,
) -> torch.Tensor:
    """The SD training loss: MSE between the UNet output and noise (or velocity).

    latents: scaled clean latents ``B×4×h×w``; text_states: ``B×77×D`` text-encoder
    states; timesteps and noise are drawn from ``generator`` (CPU) and moved to the
    UNet's device. The target follows ``scheduler.config.prediction_type``.
    """
    noise = torch.randn(latents.shape, generator=generator).to(latents.device, latents.dtype)
    steps = scheduler.config.num_train_timesteps
    timesteps = torch.randint(0, steps, (latents.shape[0],), generator=generator).to(latents.device)
    noisy = scheduler.add_noise(latents, noise, timesteps)
    kind = scheduler.config.prediction_type
    if kind == "epsilon":
        target = noise
    elif kind == "v_prediction":
        target = scheduler.get_velocity(latents, noise, timesteps)
    else:
        raise ValueError(f"unsupported prediction_type {kind!r}; SD1.5 uses 'epsilon'")
    prediction = unet(noisy, timesteps, encoder_hidden_states=text_states).sample
    return F.mse_loss(prediction.float(), target.float())


def seeded_generators(seed: int, indices: Sequence[int], device: str) -> list[torch.Generator]:
    """One generator per sample index, so sample ``i`` never depends on the batch size."""
    return [torch.Generator(device=device).manual_seed(seed * 1_000_003 + i) for i in indices]


@torch.no_grad()
def text_to_latents(
    pipe,
    prompts: list[str],
    generators: list[torch.Generator],
    *,
    size: int,
    steps: int,
    guidance_scale: float,
) -> torch.Tensor:
    """Run the text-to-image pipeline up to its final (scaled) latents ``B×4×h×w``."""
    out = pipe(
        prompt=prompts,
        height=size,
        width=size,
        num_inference_steps=steps,
        guidance_scale=guidance_scale,
        generator=generators,
        output_type="latent",
    )
    return out.images


@torch.no_grad()
def refine_latents(
    img2img,
    latents: torch.Tensor,
    prompts: list[str],
    generators: list[torch.Generator],
    *,
    strength: float,
    steps: int,
    guidance_scale: float,
) -> torch.Tensor:
    """img2img refinement of scaled latents at ``strength`` (0 returns them unchanged).

    With ``steps`` scheduler steps, ``int(steps·strength)`` of them are run (diffusers'
    img2img convention); when that is zero the latents are returned as they are.
    """
    if strength <= 0.0 or int(steps * strength) == 0:
        return latents
    out = img2img(
        prompt=prompts,
        image=latents,
        strength=strength,
        num_inference_steps=steps,
        guidance_scale=guidance_scale,
        generator=generators,
        output_type="latent",
    )
    return out.images
