"""``ddpm``: a denoising diffusion probabilistic model (Ho et al., 2020).

The "baseline without B-maps" of seed 002 and the base class the B-map DDPM extends.
The denoiser is diffusers' ``UNet2DModel`` (optionally class-conditional through
``num_class_embeds``); the noise schedule and the ancestral sampler are diffusers'
``DDPMScheduler``. Training predicts the noise with an MSE loss through the shared
training loop (:mod:`usbench.training`); sampling uses the EMA weights.

Choices where the seed paper is silent (all Config values): the UNet widths and attention
levels (seed 002 only says it follows earlier work: we use the diffusers layout of the
"google/ddpm" models), the image scaling to ``[-1, 1]``, and class-balanced labels when
a conditional model is asked for samples without labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from usbench.data.imageset import ImageSet
from usbench.generators._lib.seeding import sample_generators, sample_noise
from usbench.progress import progress_bar
from usbench.protocols import Capabilities, FitContext, Generator
from usbench.samples import SampleBatch
from usbench.training import TRAIN_KEYS_RENAMED, RandomBatches, TrainSettings, train


@dataclass(frozen=True)
class DDPMConfig:
    """Hyper-parameters of the DDPM baseline.

    image_size: side of the square images (px). seed 002: 128 (CAMUS, SegThy), 256 (liver) [>= 8].
    base_channels, channel_mults, layers_per_block: UNet widths (channels = base × mult per
        resolution level) and residual blocks per level [>= 1].
    attention_levels: indices of the levels (0 = full resolution) with self-attention [>= 0].
    dropout: dropout inside the residual blocks [0, 1).
    timesteps: diffusion steps T (seed 002: 2000) [>= 1].
    beta_schedule: ``linear`` (Ho et al.) or ``cosine`` (Nichol & Dhariwal; seed 002).
    beta_start, beta_end: ends of the linear schedule (0, 1).
    class_conditional: learn a class embedding and sample requested classes.
    train: the shared training settings (:class:`usbench.training.TrainSettings`;
        seed 002: batch 4, learning rate 1e-4, 28k–50k iterations).
    sample_batch_size: images denoised at once when sampling [>= 1].
    """

    image_size: int = 64
    base_channels: int = 64
    channel_mults: tuple[int, ...] = (1, 2, 2, 4)
    layers_per_block: int = 2
    attention_levels: tuple[int, ...] = (2,)
    dropout: float = 0.0
    timesteps: int = 1000
    beta_schedule: Literal["linear", "cosine"] = "linear"
    beta_start: float = 1e-4
    beta_end: float = 0.02
    class_conditional: bool = False
    train: TrainSettings = TrainSettings(steps=10_000, batch_size=16, lr=1e-4)
    sample_batch_size: int = 16

    renamed: ClassVar[Mapping[str, str]] = TRAIN_KEYS_RENAMED

    def __post_init__(self) -> None:
        levels = len(self.channel_mults)
        if self.image_size % (2 ** (levels - 1)):
            raise ValueError(
                f"image_size={self.image_size} must be divisible by 2^{levels - 1} "
                f"for {levels} UNet levels"
            )
        if any(not 0 <= a < levels for a in self.attention_levels):
            raise ValueError(f"attention_levels must lie in 0..{levels - 1}")


def build_unet(config: DDPMConfig, num_classes: int | None) -> nn.Module:
    """diffusers ``UNet2DModel`` for 1-channel images as ``config`` describes."""
    from diffusers import UNet2DModel

    levels = range(len(config.channel_mults))
    attn = set(config.attention_levels)
    return UNet2DModel(
        sample_size=config.image_size,
        in_channels=1,
        out_channels=1,
        layers_per_block=config.layers_per_block,
        block_out_channels=tuple(config.base_channels * m for m in config.channel_mults),
        down_block_types=tuple("AttnDownBlock2D" if i in attn else "DownBlock2D" for i in levels),
        up_block_types=tuple(
            "AttnUpBlock2D" if i in attn else "UpBlock2D" for i in reversed(levels)
        ),
        dropout=config.dropout,
        num_class_embeds=num_classes,
        norm_num_groups=min(32, config.base_channels),
    )


def build_scheduler(config: DDPMConfig):
    """diffusers ``DDPMScheduler`` (ε-prediction, clipped x̂₀) for ``config``."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(
        num_train_timesteps=config.timesteps,
        beta_schedule="squaredcos_cap_v2" if config.beta_schedule == "cosine" else "linear",
        beta_start=config.beta_start,
        beta_end=config.beta_end,
        prediction_type="epsilon",
        clip_sample=True,
    )


class DenoisingDiffusion(nn.Module):
    """UNet + schedule; ``forward`` returns the training loss (noise-prediction MSE).

    Images enter in ``[0, 1]`` and are mapped to ``[-1, 1]``. Subclasses change the
    forward process by overriding :meth:`q_sample` and the reverse step by overriding
    :meth:`p_step`.
    """

    def __init__(self, unet: nn.Module, scheduler, *, conditional: bool) -> None:
        super().__init__()
        self.unet = unet
        self.scheduler = scheduler
        self.conditional = conditional

    @property
    def timesteps(self) -> int:
        return int(self.scheduler.config.num_train_timesteps)

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Draw ``x_t ~ q(x_t | x_0)``: ``x0`` B×1×H×W in [-1,1], ``t`` B int64."""
        return self.scheduler.add_noise(x0, noise, t)

    def predict_noise(self, x: torch.Tensor, t: torch.Tensor, labels) -> torch.Tensor:
        """ε̂(x_t, t, y) with the same shape as ``x``."""
        class_labels = labels if self.conditional else None
        return self.unet(x, t, class_labels=class_labels).sample

    def forward(self, images: torch.Tensor, labels, generator: torch.Generator) -> torch.Tensor:
        x0 = images * 2.0 - 1.0
        t = torch.randint(self.timesteps, (x0.shape[0],), generator=generator)
        noise = torch.randn(x0.shape, generator=generator).to(x0.device)
        x_t = self.q_sample(x0, t.to(x0.device), noise)
        return F.mse_loss(self.predict_noise(x_t, t.to(x0.device), labels), noise)

    def p_step(self, x: torch.Tensor, t: int, labels, generators: list[torch.Generator]):
        """One ancestral step ``x_t → x_{t-1}``; row ``b``'s noise from ``generators[b]``
        (diffusers draws one ``1×…`` normal per generator, as :func:`sample_noise` does)."""
        t_batch = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
        eps = self.predict_noise(x, t_batch, labels)
        return self.scheduler.step(eps, t, x, generator=generators).prev_sample

    @torch.no_grad()
    def sample(self, shape, labels, generators: list[torch.Generator], progress: bool = False):
        """Ancestral sampling from pure noise; returns images in ``[0, 1]``.

        Row ``b`` draws all its noise from ``generators[b]`` (:mod:`usbench.generators.
        seeding`), so a sample does not depend on the other rows of the batch.
        """
        self.eval()
        device = next(self.parameters()).device
        x = sample_noise(shape, generators).to(device)
        self.scheduler.set_timesteps(self.timesteps)
        for t in tqdm(self.scheduler.timesteps, desc="sample", disable=not progress, leave=False):
            x = self.p_step(x, int(t), labels, generators)
        return ((x.clamp(-1, 1) + 1) / 2).cpu()


class DDPMGenerator(Generator):
    """DDPM baseline (see module docstring)."""

    name: ClassVar[str] = "ddpm"
    Config: ClassVar[type] = DDPMConfig
    capabilities: ClassVar[Capabilities] = Capabilities(class_conditional=True)
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # seed 002 §3 (baseline trained like the B-map model): batch 4, lr 1e-4, T = 2000,
        # cosine alphas, 128 px, 50k iterations (SegThy; CAMUS 28k, liver 36k).
        "paper": {
            "image_size": 128,
            "base_channels": 128,
            "channel_mults": (1, 1, 2, 2, 4),
            "attention_levels": (3,),
            "timesteps": 2000,
            "beta_schedule": "cosine",
            "train": {"steps": 50_000, "batch_size": 4, "lr": 1e-4, "checkpoint_every": 2000},
        },
        "quick": {
            "image_size": 64,
            "base_channels": 16,
            "channel_mults": (1, 2, 2),
            "layers_per_block": 1,
            "attention_levels": (2,),
            "timesteps": 200,
            "beta_schedule": "cosine",
            "train": {
                "steps": 1000,
                "batch_size": 8,
                "lr": 2e-4,
                "ema_decay": 0.995,
                "checkpoint_every": 250,
            },
        },
        "smoke": {
            "image_size": 16,
            "base_channels": 8,
            "channel_mults": (1, 2),
            "layers_per_block": 1,
            "attention_levels": (),
            "timesteps": 10,
            "train": {
                "steps": 4,
                "batch_size": 4,
                "lr": 1e-3,
                "ema_decay": 0.9,
                "checkpoint_every": 2,
            },
            "sample_batch_size": 8,
        },
    }

    def __init__(self, config: DDPMConfig) -> None:
        super().__init__(config)
        self.class_names: tuple[str, ...] = ()
        self.model: DenoisingDiffusion | None = None

    # -- building ---------------------------------------------------------------------
    def build_model(self, num_classes: int | None) -> DenoisingDiffusion:
        """The diffusion module; subclasses return their own variant."""
        unet = build_unet(self.config, num_classes)
        return DenoisingDiffusion(unet, build_scheduler(self.config), conditional=bool(num_classes))

    def _num_classes(self) -> int | None:
        return len(self.class_names) if self.config.class_conditional else None

    # -- protocol ---------------------------------------------------------------------
    def fit(self, train_set: ImageSet, ctx: FitContext) -> None:
        if train_set.image_size != (self.config.image_size, self.config.image_size):
            raise ValueError(
                f"{self.name} is configured for {self.config.image_size} px images but the "
                f"data are {train_set.image_size}; load the dataset with "
                f"--image-size {self.config.image_size} or --set image_size=..."
            )
        self.class_names = train_set.class_names
        torch.manual_seed(ctx.seed)
        self.model = self.build_model(self._num_classes())
        batches = RandomBatches(train_set, self.config.train.batch_size)
        outcome = train(self.model, batches, self.config.train, ctx, tag=self.name)
        self.model.load_state_dict(outcome.ema_state)

    def sample(self, n: int, *, seed: int, labels: torch.Tensor | None = None) -> SampleBatch:
        """``n`` images; sample ``i`` draws its noise from a stream seeded by ``(seed, i)``,
        so it does not depend on ``sample_batch_size`` (only on ``seed`` and ``i``)."""
        if self.model is None:
            raise RuntimeError(f"{self.name} has no weights: call fit() or load() first")
        labels = self._sample_labels(n, labels)
        chunks = []
        size = self.config.sample_batch_size
        with progress_bar(n, f"sample {self.name}") as bar:
            for start in range(0, n, size):
                count = min(size, n - start)
                generators = sample_generators(seed, range(start, start + count))
                chunk_labels = labels[start : start + count] if labels is not None else None
                shape = (count, 1, self.config.image_size, self.config.image_size)
                chunks.append(self.model.sample(shape, chunk_labels, generators))
                bar.update(count)
        return SampleBatch(torch.cat(chunks).float(), labels)

    def _sample_labels(self, n: int, labels: torch.Tensor | None) -> torch.Tensor | None:
        if not self.config.class_conditional:
            return None
        if labels is None:
            return torch.arange(n) % len(self.class_names)
        if labels.shape != (n,):
            raise ValueError(f"labels must have shape ({n},), got {tuple(labels.shape)}")
        return labels.long()

    def state_tensors(self) -> dict[str, torch.Tensor]:
        if self.model is None:
            raise RuntimeError(f"{self.name} has nothing to save before fit()")
        return dict(self.model.state_dict())

    def state_meta(self) -> dict[str, Any]:
        return {"class_names": list(self.class_names)}

    def restore(self, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        self.class_names = tuple(meta["class_names"])
        self.model = self.build_model(self._num_classes())
        self.model.load_state_dict(tensors)
