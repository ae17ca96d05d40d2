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
from usbench.generators._lib.label_maps import (
    Conditioning,
    LayoutInjection,
    guided_noise,
    inject_layout,
    one_hot_layout,
)
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
    conditioning: ``class`` (as ``class_conditional`` says) or ``label-map``: the SDM design
        of seed 002 — the label map enters the decoder through spatially-adaptive
        normalisation (:mod:`usbench.generators._lib.label_maps`), samples are drawn from
        given label maps and paired with the image each map belongs to.
    label_hidden: channels of the SPADE convolution predicting γ, β (SPADE: 128) [>= 1].
    label_drop_rate: share of training rows whose label map is replaced by the empty map,
        for classifier-free guidance (SDM: 0.2) [0, 1).
    guidance_scale: classifier-free guidance scale s when sampling from label maps
        (SDM: 1.5; 1 = no guidance) [>= 0].
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
    conditioning: Literal["class", "label-map"] = "class"
    label_hidden: int = 32
    label_drop_rate: float = 0.2
    guidance_scale: float = 1.5
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
        drop_ok = 0.0 <= self.label_drop_rate < 1.0
        if not drop_ok or self.guidance_scale < 0 or self.label_hidden < 1:
            raise ValueError("label_drop_rate in [0, 1), guidance_scale >= 0, label_hidden >= 1")

    @property
    def label_maps(self) -> bool:
        """True when the model is conditioned on label maps."""
        return self.conditioning == "label-map"


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
        self.layout: LayoutInjection | None = None
        self.drop_rate = 0.0
        self.guidance_scale = 1.0

    def condition_on_label_maps(
        self, n_classes: int, *, hidden: int, drop_rate: float, guidance_scale: float
    ) -> None:
        """Put SPADE into the decoder (see :mod:`usbench.generators._lib.label_maps`);
        labels passed to :meth:`forward`/:meth:`sample` are then :class:`Conditioning`."""
        self.layout = inject_layout(self.unet, n_classes, hidden)
        self.drop_rate, self.guidance_scale = drop_rate, guidance_scale

    @property
    def timesteps(self) -> int:
        return int(self.scheduler.config.num_train_timesteps)

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Draw ``x_t ~ q(x_t | x_0)``: ``x0`` B×1×H×W in [-1,1], ``t`` B int64."""
        return self.scheduler.add_noise(x0, noise, t)

    def predict_noise(self, x: torch.Tensor, t: torch.Tensor, labels) -> torch.Tensor:
        """ε̂(x_t, t, y) with the same shape as ``x`` (guided when sampling from label maps)."""
        if isinstance(labels, Conditioning):
            scale = 1.0 if self.training else self.guidance_scale
            return guided_noise(self._predict_with_layout, x, t, labels, scale)
        class_labels = labels if self.conditional else None
        return self.unet(x, t, class_labels=class_labels).sample

    def _predict_with_layout(self, x: torch.Tensor, t: torch.Tensor, cond: Conditioning):
        if self.layout is None:
            raise RuntimeError("label maps given to a model built without label-map conditioning")
        self.layout.set(cond.layouts)
        class_labels = cond.labels if self.conditional else None
        return self.unet(x, t, class_labels=class_labels).sample

    def forward(self, images: torch.Tensor, labels, generator: torch.Generator) -> torch.Tensor:
        x0 = images * 2.0 - 1.0
        t = torch.randint(self.timesteps, (x0.shape[0],), generator=generator)
        noise = torch.randn(x0.shape, generator=generator).to(x0.device)
        x_t = self.q_sample(x0, t.to(x0.device), noise)
        if isinstance(labels, Conditioning):
            labels = labels.dropped(self.drop_rate, generator)
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
        self.mask_names: tuple[str, ...] = ()
        self.model: DenoisingDiffusion | None = None

    # -- building ---------------------------------------------------------------------
    def build_model(self, num_classes: int | None) -> DenoisingDiffusion:
        """The diffusion module; subclasses return their own variant."""
        unet = build_unet(self.config, num_classes)
        return DenoisingDiffusion(unet, build_scheduler(self.config), conditional=bool(num_classes))

    def _num_classes(self) -> int | None:
        return len(self.class_names) if self.config.class_conditional else None

    def _assemble(self) -> DenoisingDiffusion:
        """:meth:`build_model`, then label-map conditioning if the config asks for it."""
        model = self.build_model(self._num_classes())
        if self.config.label_maps:
            model.condition_on_label_maps(
                len(self.mask_names),
                hidden=self.config.label_hidden,
                drop_rate=self.config.label_drop_rate,
                guidance_scale=self.config.guidance_scale,
            )
        return model

    def uses_label_maps(self) -> bool:
        """True when samples are drawn from label maps (:meth:`sample_from_maps`)."""
        return self.config.label_maps

    # -- protocol ---------------------------------------------------------------------
    def fit(self, train_set: ImageSet, ctx: FitContext) -> None:
        if train_set.image_size != (self.config.image_size, self.config.image_size):
            raise ValueError(
                f"{self.name} is configured for {self.config.image_size} px images but the "
                f"data are {train_set.image_size}; load the dataset with "
                f"--image-size {self.config.image_size} or --set image_size=..."
            )
        self.class_names = train_set.class_names
        if self.config.label_maps and not train_set.has_masks:
            raise ValueError(
                f"{self.name}:conditioning=label-map needs a dataset with label maps "
                f"({train_set.name} has none): use lus-phantom, or a folder dataset with a "
                "masks/ sub-folder"
            )
        self.mask_names = train_set.mask_names if self.config.label_maps else ()
        torch.manual_seed(ctx.seed)
        self.model = self._assemble()
        batch_size = self.config.train.batch_size
        batches = (
            LayoutBatches(train_set, batch_size, conditional=self.config.class_conditional)
            if self.config.label_maps
            else RandomBatches(train_set, batch_size)
        )
        outcome = train(self.model, batches, self.config.train, ctx, tag=self.name)
        self.model.load_state_dict(outcome.ema_state)

    def sample(self, n: int, *, seed: int, labels: torch.Tensor | None = None) -> SampleBatch:
        """``n`` images; sample ``i`` draws its noise from a stream seeded by ``(seed, i)``,
        so it does not depend on ``sample_batch_size`` (only on ``seed`` and ``i``)."""
        if self.model is None:
            raise RuntimeError(f"{self.name} has no weights: call fit() or load() first")
        if self.config.label_maps:
            raise ValueError(
                f"{self.name}:conditioning=label-map draws samples from label maps: "
                "call sample_from_maps(masks, seed=...)"
            )
        labels = self._sample_labels(n, labels)
        return SampleBatch(self._denoise(n, seed, lambda a, b: _rows(labels, a, b)), labels)

    def sample_from_maps(
        self,
        masks: torch.Tensor,
        *,
        seed: int,
        labels: torch.Tensor | None = None,
        sources: tuple[str, ...] | None = None,
    ) -> SampleBatch:
        """One image per ``N×H×W`` label map (values index the training ``mask_names``).

        ``sources``: the names of the real images the maps belong to; recorded so paired
        metrics pair each sample with that image (``pairing="label-map"``).
        """
        if self.model is None or not self.config.label_maps:
            raise RuntimeError(f"{self.name} is not a fitted label-map-conditioned model")
        n = masks.shape[0]
        labels = self._sample_labels(n, labels)
        layouts = one_hot_layout(masks, len(self.mask_names))

        def condition(start: int, stop: int) -> Conditioning:
            return Conditioning(_rows(labels, start, stop), layouts[start:stop])

        images = self._denoise(n, seed, condition)
        return SampleBatch(images, labels, sources, pairing="label-map" if sources else None)

    def _denoise(self, n: int, seed: int, condition) -> torch.Tensor:
        """``n`` images in chunks of ``sample_batch_size``; ``condition(start, stop)`` gives
        the labels/conditioning of rows ``start:stop``. Row ``i``'s noise comes from a
        stream seeded by ``(seed, i)``, so chunking never changes a sample."""
        chunks = []
        size = self.config.sample_batch_size
        with progress_bar(n, f"sample {self.name}") as bar:
            for start in range(0, n, size):
                count = min(size, n - start)
                generators = sample_generators(seed, range(start, start + count))
                shape = (count, 1, self.config.image_size, self.config.image_size)
                chunks.append(self.model.sample(shape, condition(start, start + count), generators))
                bar.update(count)
        return torch.cat(chunks).float()

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
        return {"class_names": list(self.class_names), "mask_names": list(self.mask_names)}

    def restore(self, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        self.class_names = tuple(meta["class_names"])
        self.mask_names = tuple(meta.get("mask_names", ()))
        self.model = self._assemble()
        self.model.load_state_dict(tensors)


def _rows(labels: torch.Tensor | None, start: int, stop: int) -> torch.Tensor | None:
    return None if labels is None else labels[start:stop]


class LayoutBatches:
    """Training batches of images with their label maps: ``(B×1×H×W, Conditioning)``.

    Uniform draws with replacement, as :class:`usbench.training.RandomBatches`.
    """

    def __init__(self, data: ImageSet, batch_size: int, *, conditional: bool) -> None:
        if len(data) == 0 or data.masks is None:
            raise ValueError("training on label maps needs a non-empty dataset with masks")
        self.data = data
        self.batch_size = batch_size
        self.conditional = conditional

    def batch(self, step: int, generator: torch.Generator) -> tuple[torch.Tensor, Conditioning]:
        idx = torch.randint(len(self.data), (self.batch_size,), generator=generator)
        layouts = one_hot_layout(self.data.masks[idx], len(self.data.mask_names))
        labels = self.data.labels[idx] if self.conditional else None
        return self.data.images[idx], Conditioning(labels, layouts)
