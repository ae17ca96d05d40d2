"""AWDiff's networks: wavelet feature encoder, conditional UNet, schedule and the model
whose ``forward`` is the training loss (private to ``awdiff``; equations in its docstring).

Images are ``B×1×H×W``; the model works in [−1, 1].
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from usbench.generators._lib.clip_encoder import FrozenCLIP
from usbench.generators._lib.seeding import sample_noise
from usbench.generators._lib.wavelets import dwt_planes, wavelet_planes

if TYPE_CHECKING:
    from usbench.generators.awdiff import AWDiffConfig


class WaveletFeatureEncoder(nn.Module):
    """E_ψ: images → wavelet planes → dilated convolutions → context tokens.

    Input ``B×1×H×W`` in [−1, 1]; output ``B×(S·g²)×cond_dim`` (S scales, g = token_grid).
    """

    def __init__(self, config: AWDiffConfig) -> None:
        super().__init__()
        self.kind, self.scales, self.grid = config.encoder, config.wavelet_scales, config.token_grid
        per_scale = 1 if self.kind == "atrous" else 3
        c = config.feature_channels
        self.convs = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(per_scale, c, 3, padding=2**s, dilation=2**s),
                nn.SiLU(),
                nn.Conv2d(c, c, 3, padding=2**s, dilation=2**s),
            )
            for s in range(self.scales)
        )
        self.project = nn.Linear(c, config.cond_dim)
        self.position = nn.Parameter(torch.zeros(1, self.grid**2, config.cond_dim))
        self.scale_embed = nn.Parameter(torch.zeros(self.scales, 1, config.cond_dim))
        nn.init.normal_(self.position, std=0.02)
        nn.init.normal_(self.scale_embed, std=0.02)

    def planes(self, x: Tensor) -> list[Tensor]:
        """Per-scale wavelet inputs, each ``B×(1 or 3)×H×W`` (finest first)."""
        if self.kind == "atrous":
            return list(wavelet_planes(x, self.scales).split(1, dim=1))
        return list(dwt_planes(x, self.scales).split(3, dim=1))

    def forward(self, x: Tensor) -> Tensor:
        tokens = []
        for s, (plane, conv) in enumerate(zip(self.planes(x), self.convs, strict=True)):
            pooled = F.adaptive_avg_pool2d(conv(plane), self.grid)  # B×C×g×g
            tok = self.project(pooled.flatten(2).transpose(1, 2))  # B×g²×D
            tokens.append(tok + self.position + self.scale_embed[s])
        return torch.cat(tokens, dim=1)


def build_unet(config: AWDiffConfig) -> nn.Module:
    """diffusers ``UNet2DConditionModel`` with cross-attention at ``attention_levels``."""
    from diffusers import UNet2DConditionModel

    levels = range(len(config.channel_mults))
    attn = set(config.attention_levels)
    return UNet2DConditionModel(
        sample_size=config.image_size,
        in_channels=1,
        out_channels=1,
        down_block_types=tuple(
            "CrossAttnDownBlock2D" if i in attn else "DownBlock2D" for i in levels
        ),
        up_block_types=tuple(
            "CrossAttnUpBlock2D" if i in attn else "UpBlock2D" for i in reversed(levels)
        ),
        block_out_channels=tuple(config.base_channels * m for m in config.channel_mults),
        layers_per_block=config.layers_per_block,
        cross_attention_dim=config.cond_dim,
        attention_head_dim=config.attention_heads,
        norm_num_groups=min(32, config.base_channels),
    )


def build_scheduler(config: AWDiffConfig):
    """diffusers ``DDPMScheduler``: linear β, ε-prediction, x̂₀ clipped to [−1, 1]."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(
        num_train_timesteps=config.timesteps,
        beta_schedule="linear",
        beta_start=config.beta_start,
        beta_end=config.beta_end,
        prediction_type="epsilon",
        clip_sample=True,
    )


class AWDiffModel(nn.Module):
    """UNet + wavelet encoder + text conditioning; ``forward`` returns the training loss.

    ``class_text``: ``K×E`` unit-norm text embeddings of the class prompts (a buffer, so
    sampling needs no CLIP), or ``None`` with ``label_embedding`` as the fallback.
    ``clip``: the frozen CLIP for the alignment loss (training only; not saved).
    """

    def __init__(self, config: AWDiffConfig, class_text: Tensor | None, num_classes: int) -> None:
        super().__init__()
        self.config = config
        self.encoder = WaveletFeatureEncoder(config)
        self.unet = build_unet(config)
        self.scheduler = build_scheduler(config)
        self.clip: FrozenCLIP | None = None
        if class_text is None:
            self.label_embedding = nn.Embedding(num_classes, config.cond_dim)
            self.register_buffer("class_text", None)
            self.text_proj = nn.Identity()
        else:
            self.label_embedding = None
            self.register_buffer("class_text", class_text.float().clone())
            self.text_proj = nn.Linear(class_text.shape[1], config.cond_dim)

    def context(self, reference: Tensor, labels: Tensor) -> Tensor:
        """Cross-attention tokens ``[z_y; f]``: ``B×(1 + S·g²)×cond_dim``."""
        if self.class_text is None:
            text = self.label_embedding(labels)
        else:
            text = self.text_proj(self.class_text[labels])
        return torch.cat([text[:, None], self.encoder(reference)], dim=1)

    def predict_noise(self, x: Tensor, t: Tensor, context: Tensor) -> Tensor:
        """ε̂(x_t, t, y, f), same shape as ``x``."""
        return self.unet(x, t, encoder_hidden_states=context).sample

    def forward(self, images: Tensor, labels: Tensor | None, generator: torch.Generator):
        if labels is None:
            raise ValueError("AWDiff is class-conditional: the training data need labels")
        x0 = images * 2.0 - 1.0
        t = torch.randint(self.config.timesteps, (x0.shape[0],), generator=generator)
        t = t.to(x0.device)
        noise = torch.randn(x0.shape, generator=generator).to(x0.device)
        x_t = self.scheduler.add_noise(x0, noise, t)
        eps = self.predict_noise(x_t, t, self.context(x0, labels))
        loss = F.mse_loss(eps, noise)
        if self.clip is not None and self.class_text is not None and self.config.alignment_weight:
            loss = loss + self.config.alignment_weight * self.alignment_loss(x_t, t, eps, labels)
        return loss

    def alignment_loss(self, x_t: Tensor, t: Tensor, eps: Tensor, labels: Tensor) -> Tensor:
        """Eq. 13: mean ``1 − cos(Φ_image(x̂₀(t)), Φ_text(y))`` over the batch."""
        alpha_bar = self.scheduler.alphas_cumprod.to(x_t)[t].view(-1, 1, 1, 1)
        x0_hat = (x_t - (1 - alpha_bar).sqrt() * eps) / alpha_bar.sqrt()
        image = (x0_hat.clamp(-1, 1) + 1) / 2
        z_image = self.clip.encode_image(image)
        return (1 - (z_image * self.class_text[labels]).sum(-1)).mean()

    @torch.no_grad()
    def sample(
        self, reference: Tensor, labels: Tensor, generators: list[torch.Generator]
    ) -> Tensor:
        """Ancestral sampling guided by ``reference`` images (B×1×H×W in [0,1]) → [0, 1].

        Row ``b`` draws its initial and per-step noise from ``generators[b]``, so a sample
        does not depend on the other rows of the batch.
        """
        self.eval()
        context = self.context(reference * 2.0 - 1.0, labels)
        x = sample_noise(reference.shape, generators)
        self.scheduler.set_timesteps(self.config.timesteps)
        for t in tqdm(self.scheduler.timesteps, desc="sample", leave=False, disable=True):
            t_batch = torch.full((x.shape[0],), int(t), dtype=torch.long)
            eps = self.predict_noise(x, t_batch, context)
            x = self.scheduler.step(eps, int(t), x, generator=generators).prev_sample
        return ((x.clamp(-1, 1) + 1) / 2).float()
