"""SinDDM (Kulikov et al., 2023) and FewDDM (seed 003 §5.3): multi-scale single-image diffusion.

One small fully convolutional denoiser is trained on every scale of an image pyramid. The
forward process at scale ``s > 0`` mixes the clean image with a blurry one (the previous
scale upsampled) and noise (seed 003 Eq. 1)::

    x_t^s = sqrt(ᾱ_t) (γ_t^s x̃^s + (1 − γ_t^s) x^s) + sqrt(1 − ᾱ_t) ε

with ``γ_t^s = clamp(σ_t / (loss_factor · ℓ^s), 0, 1)``, ``σ_t = sqrt((1 − ᾱ_t) / ᾱ_t)``
and ``ℓ^s`` the rescaling loss of scale ``s``. Sampling runs coarse to fine: DDPM from pure
noise at the coarsest scale, then at each finer scale the previous sample is upsampled,
noised to the step where ``σ_t`` first exceeds ``ℓ^s`` and denoised deterministically with
the blur-aware posterior (γ clamped to 0.55).

FewDDM is the same model trained on 2–3 images of one class: every training step draws
one of them at random (seed 003 §5.3).

Image size: the Config has no image size, since the pyramid is built from whatever image it
gets (capped at ``max_pixels``); :meth:`SinDDM.data_image_size` asks the harness for
256 px, the harness's general default, on which the paper values give 5 scales of
55–223 px (the 50 000-pixel cap).

Shapes: training images ``N×1×H×W`` float32 in [0, 1]; the networks work in [-1, 1].
The pyramid, denoiser, schedule and samplers live in
:mod:`usbench.generators._lib.sinddm_model` and ``sinddm_sampling``; this module keeps the
Config (its documented settings make it a little over 400 lines), the presets and the two
registered plugins, which share them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from usbench.data.imageset import ImageSet
from usbench.generators._lib.sinddm_model import (
    DiffusionSchedule,
    MultiScaleDiffusion,
    Pyramid,
    PyramidDraws,
    SinDDMDenoiser,
    blurry_scales,
    build_scales,
    pyramid_sizes,
    rescale_loss,
)
from usbench.generators._lib.sinddm_sampling import TrainedPyramid
from usbench.generators._lib.single_source import (
    PerSourceParts,
    assign_models,
    group_sources,
    part_name,
    resize,
    select_sources,
    to_signed,
    to_unit,
)
from usbench.progress import progress_bar
from usbench.protocols import Capabilities, FitContext, Generator
from usbench.samples import SampleBatch
from usbench.training import TRAIN_KEYS_RENAMED, TrainSettings

# --------------------------------------------------------------------------------------
# Generator plugins
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SinDDMConfig:
    """SinDDM hyper-parameters. Defaults = the official code (fallenshock/SinDDM ``main.py``,
    ``create_img_scales``, ``MultiscaleTrainer``) and seed 003 §4.2.1.

    Network: ``dim`` 160 (widest block; blocks dim/2, dim, dim, dim/2), ``embed_dim`` 32
    (time and scale sinusoidal embeddings). Diffusion: ``timesteps`` T = 100 (cosine),
    ``loss_factor`` 1 (γ = σ_t / (loss_factor·ℓ^s)), ``gamma_clamp`` 0.55 (γ limit when
    sampling), ``rescale_loss_wraparound`` (ℓ^s computed with 8-bit wrap-around, as the
    official code does — see :func:`rescale_loss`). Pyramid: ``max_pixels`` 50 000,
    ``scale_step`` 1.411 (refitted), ``coarsest_area`` 3110 and ``coarsest_side`` (42, 55).
    Training (``train``, :class:`usbench.training.TrainSettings`): ``train.steps``
    120 000, ``train.batch_size`` 32, Adam ``train.lr`` 1e-3 halved (``train.lr_gamma``) at
    ``train.lr_milestones`` 20/40/70/80/90/110k, no gradient clipping (``train.grad_clip``
    None). ``train.ema_decay`` 0.9995 per step ≈ the official 0.995 applied every 10 steps.
    ``train.checkpoint_every`` 10 000 (official save interval).

    Sources (usbench choice, seed 003 trained one model per pneumonia image):
    ``source_names`` explicit images, else ``source_classes`` (all when empty) with at most
    ``sources_per_class`` images per class (0 = all) in dataset order;
    ``images_per_model`` 1 = SinDDM, 2–3 = FewDDM (groups of one class).

    Sampling: ``scale_hw`` (height, width) multipliers of the output size relative to the
    training image (the official ``scale_mul``): every pyramid scale is scaled by them, and
    the finest sample is resized to ``round(H·scale_hw[0]) × round(W·scale_hw[1])`` of the
    training image ``H×W``. ``sample_batch_size`` samples are denoised together.

    Settings, one line each:
        dim: widest block's channels (blocks dim/2, dim, dim, dim/2) [>= 2].
        embed_dim: width of the time and scale sinusoidal embeddings [>= 2].
        timesteps: diffusion steps T per scale (cosine schedule) [>= 1].
        loss_factor: γ = σ_t / (loss_factor·ℓ^s) [> 0].
        gamma_clamp: the γ limit when sampling [> 0].
        rescale_loss_wraparound: ℓ^s with the official 8-bit wrap-around.
        max_pixels: pixel cap of the finest scale [>= 1].
        scale_step: ratio between pyramid scales (refitted) [> 1].
        coarsest_area, coarsest_side: area and (low, high) side bounds of the coarsest scale [>= 1].
        source_names: explicit training images (one model each).
        source_classes: classes to take images from (all when empty).
        sources_per_class: images per class (0 = all), in dataset order [>= 0].
        images_per_model: 1 = SinDDM, 2–3 = FewDDM (groups of one class) [1, 3].
        scale_hw: (height, width) multipliers of the output size [> 0].
        sample_batch_size: samples denoised together [>= 1].
    """

    dim: int = 160
    embed_dim: int = 32
    timesteps: int = 100
    loss_factor: float = 1.0
    gamma_clamp: float = 0.55
    rescale_loss_wraparound: bool = True
    max_pixels: int = 50_000
    scale_step: float = 1.411
    coarsest_area: int = 3110
    coarsest_side: tuple[int, ...] = (42, 55)
    train: TrainSettings = TrainSettings(
        steps=120_000,
        batch_size=32,
        lr=1e-3,
        lr_milestones=(20_000, 40_000, 70_000, 80_000, 90_000, 110_000),
        lr_gamma=0.5,
        grad_clip=None,
        ema_decay=0.9995,
        checkpoint_every=10_000,
    )
    source_names: tuple[str, ...] = ()
    source_classes: tuple[str, ...] = ()
    sources_per_class: int = 0
    images_per_model: int = 1
    scale_hw: tuple[float, ...] = (1.0, 1.0)
    sample_batch_size: int = 16

    renamed: ClassVar[Mapping[str, str]] = TRAIN_KEYS_RENAMED

    def __post_init__(self) -> None:
        if len(self.coarsest_side) != 2 or self.coarsest_side[0] > self.coarsest_side[1]:
            raise ValueError("coarsest_side must be two sizes low,high, e.g. coarsest_side=42,55")
        if len(self.scale_hw) != 2 or min(self.scale_hw) <= 0:
            raise ValueError("scale_hw must be two positive factors, e.g. scale_hw=1,1.5")
        if self.timesteps < 2 or self.train.steps < 1:
            raise ValueError("timesteps must be >= 2 and train.steps >= 1")
        if self.scale_step <= 1:
            raise ValueError("scale_step must be > 1, e.g. scale_step=1.411")
        if self.images_per_model < 1:
            raise ValueError("images_per_model must be >= 1 (1 = SinDDM, 2-3 = FewDDM)")


_QUICK = {
    "dim": 32,
    "max_pixels": 4096,
    "coarsest_side": (24, 24),
    "train": {
        "steps": 1000,
        "batch_size": 8,
        "lr_milestones": (600, 800),
        "ema_decay": 0.995,
        "checkpoint_every": 250,
    },
}
_SMOKE = {
    "dim": 16,
    "timesteps": 12,
    "max_pixels": 1024,
    "coarsest_side": (16, 16),
    "train": {
        "steps": 20,
        "batch_size": 4,
        "lr_milestones": (),
        "ema_decay": 0.0,
        "checkpoint_every": 10,
    },
    "sample_batch_size": 8,
}


class SinDDM(PerSourceParts, Generator):
    """SinDDM: one multi-scale diffusion model per source image (see module docstring).

    ``fit`` selects the sources (Config ``source_*``), builds each pyramid and trains
    each model with :func:`usbench.training.train` under ``tag=f"src-{i}"``.
    ``sample(n, seed=…, labels=None)`` assigns samples round-robin over the models, or,
    with ``labels``, round-robin over the models of each requested class; every sample
    carries its source image name and the class of that source.

    The seed 003 setting (8 pneumonia images, 32 samples from each)::

        usbench run -g sinddm -d lus --preset paper --set source_classes=pneumonia \
            --set sources_per_class=8 --n-samples 256
    """

    name: ClassVar[str] = "sinddm"
    Config: ClassVar[type] = SinDDMConfig
    presets: ClassVar[dict[str, dict[str, Any]]] = {"paper": {}, "quick": _QUICK, "smoke": _SMOKE}
    capabilities: ClassVar[Capabilities] = Capabilities(
        class_conditional=True, single_image=True, source_guided=True
    )

    def __init__(self, config: SinDDMConfig) -> None:
        super().__init__(config)
        self.models: list[TrainedPyramid] = []
        self.image_size: tuple[int, int] = (0, 0)
        self.class_names: tuple[str, ...] = ()

    @classmethod
    def data_image_size(cls, config: SinDDMConfig) -> int:
        """256 px (the harness's general default), stated rather than left to a fallback:
        the pyramid adapts to any size, so the Config has no ``image_size``; a 256×256 image
        gives the paper's 5 scales of 55–223 px."""
        return 256

    # -- training --------------------------------------------------------------------
    def pyramid(self, height: int, width: int) -> Pyramid:
        """The pyramid this config builds for an ``height×width`` image."""
        c = self.config
        return pyramid_sizes(
            height,
            width,
            max_pixels=c.max_pixels,
            scale_step=c.scale_step,
            coarsest_area=c.coarsest_area,
            coarsest_side=(c.coarsest_side[0], c.coarsest_side[1]),
        )

    def fit(self, train: ImageSet, ctx: FitContext) -> None:
        """Train one model per source group; deterministic given ``ctx.seed``."""
        groups = self.models_of(train)
        self.image_size = train.image_size
        self.class_names = train.class_names
        self.models = [self.fit_model(train, group, i, ctx) for i, group in enumerate(groups)]

    def models_of(self, train: ImageSet) -> list[list[int]]:
        """The source groups of ``train``, one model each (Config ``source_*``)."""
        c = self.config
        chosen = select_sources(
            train,
            source_names=c.source_names,
            source_classes=c.source_classes,
            sources_per_class=c.sources_per_class,
        )
        return group_sources(chosen, train.labels.tolist(), c.images_per_model)

    def build_objective(self, images: torch.Tensor, *, seed: int) -> MultiScaleDiffusion:
        """The training module for ``images`` (``n×1×H×W`` in [0, 1]), weights from ``seed``."""
        c = self.config
        pyramid = self.pyramid(*images.shape[-2:])
        per_image = [build_scales(img[None], pyramid.sizes) for img in images]
        blurry = [blurry_scales(scales) for scales in per_image]
        losses = self._scale_losses(per_image, blurry)
        schedule = DiffusionSchedule.cosine(c.timesteps)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            denoiser = SinDDMDenoiser(dim=c.dim, embed_dim=c.embed_dim)
        stack = [torch.cat([to_signed(p[s]) for p in per_image]) for s in range(len(pyramid.sizes))]
        stack_b = [torch.cat([to_signed(b[s]) for b in blurry]) for s in range(len(pyramid.sizes))]
        return MultiScaleDiffusion(
            denoiser,
            clean=stack,
            blurry=stack_b,
            schedule=schedule,
            scale_losses=losses,
            loss_factor=c.loss_factor,
            batch_size=c.train.batch_size,
        )

    def _scale_losses(
        self, per_image: list[list[torch.Tensor]], blurry: list[list[torch.Tensor]]
    ) -> list[float]:
        """ℓ^s per finer scale, averaged over the images of a FewDDM group."""
        wrap = self.config.rescale_loss_wraparound
        losses = []
        for s in range(1, len(per_image[0])):
            pairs = zip(per_image, blurry, strict=True)
            losses.append(
                float(np.mean([rescale_loss(p[s], b[s], wraparound=wrap) for p, b in pairs]))
            )
        return losses

    def fit_model(
        self, train: ImageSet, group: list[int], index: int, ctx: FitContext
    ) -> TrainedPyramid:
        """Train model ``index`` on the images ``group`` under ``workdir/src-<index>``."""
        from usbench.training import train as run_training

        images = train.images[group]
        objective = self.build_objective(images, seed=ctx.seed * 100_003 + index)
        draws = PyramidDraws(objective.n_scales, len(group))
        outcome = run_training(objective, draws, self.config.train, ctx, tag=part_name(index))
        objective.load_state_dict(outcome.ema_state)
        pyramid = self.pyramid(*images.shape[-2:])
        return TrainedPyramid(
            denoiser=objective.denoiser.eval(),
            sources=tuple(train.names[i] for i in group),
            label=int(train.labels[group[0]]),
            sizes=pyramid.sizes,
            losses=objective.scale_losses,
            coarsest=objective.get_buffer("clean_0").clone(),
        )

    # -- sampling --------------------------------------------------------------------
    def _require_fitted(self) -> None:
        if not self.models:
            raise RuntimeError(f"{self.name} is not trained; call fit() or load() first")

    def output_size(self) -> tuple[int, int]:
        """``(H, W)`` of the samples: the training size times ``scale_hw``."""
        mh, mw = self.config.scale_hw
        return max(1, round(self.image_size[0] * mh)), max(1, round(self.image_size[1] * mw))

    def sample(self, n: int, *, seed: int, labels: torch.Tensor | None = None) -> SampleBatch:
        """``n`` samples ``n×1×H'×W'`` in [0, 1] (H', W' = :meth:`output_size`).

        Sample ``i`` uses its own random stream seeded from ``(seed, i)``, so a sample does
        not depend on ``n`` or on ``sample_batch_size``.
        """
        self._require_fitted()
        owners = assign_models(n, [m.label for m in self.models], labels)
        images = torch.empty(n, 1, *self.output_size())
        sources: list[str] = [""] * n
        with progress_bar(n, f"sample {self.name}") as bar:
            for m, model in enumerate(self.models):
                mine = [i for i in range(n) if owners[i] == m]
                for k in range(0, len(mine), self.config.sample_batch_size):
                    chunk = mine[k : k + self.config.sample_batch_size]
                    gens = [torch.Generator().manual_seed(seed * 1_000_003 + i) for i in chunk]
                    out, names = self._sample_model(model, gens)
                    images[chunk] = out
                    for i, name in zip(chunk, names, strict=True):
                        sources[i] = name
                    bar.update(len(chunk))
        owner_labels = torch.tensor([self.models[m].label for m in owners], dtype=torch.long)
        return SampleBatch(images, owner_labels, tuple(sources))

    def _sample_model(
        self, model: TrainedPyramid, gens: list[torch.Generator]
    ) -> tuple[torch.Tensor, list[str]]:
        c = self.config
        x, names = model.sample(
            gens,
            timesteps=c.timesteps,
            loss_factor=c.loss_factor,
            gamma_clamp=c.gamma_clamp,
            scale_hw=(c.scale_hw[0], c.scale_hw[1]),
        )
        return to_unit(resize(x, self.output_size())), names

    # -- state -----------------------------------------------------------------------
    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Denoiser weights ``model{m}.<param>`` and coarsest images ``model{m}.coarsest``."""
        self._require_fitted()
        out: dict[str, torch.Tensor] = {}
        for m, model in enumerate(self.models):
            for key, value in model.denoiser.state_dict().items():
                out[f"model{m}.{key}"] = value
            out[f"model{m}.coarsest"] = model.coarsest
        return out

    def state_meta(self) -> dict[str, Any]:
        """Image size, class names and per model: sources, label, pyramid sizes, ℓ^s."""
        self._require_fitted()
        return {
            "image_size": list(self.image_size),
            "class_names": list(self.class_names),
            "models": [
                {
                    "sources": list(m.sources),
                    "label": m.label,
                    "sizes": [list(s) for s in m.sizes],
                    "losses": m.losses,
                }
                for m in self.models
            ],
        }

    def restore(self, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        """Inverse of :meth:`state_meta` + :meth:`state_tensors`."""
        c = self.config
        self.image_size = (int(meta["image_size"][0]), int(meta["image_size"][1]))
        self.class_names = tuple(meta["class_names"])
        self.models = []
        for m, info in enumerate(meta["models"]):
            prefix = f"model{m}."
            denoiser = SinDDMDenoiser(dim=c.dim, embed_dim=c.embed_dim)
            weights = {
                k[len(prefix) :]: v
                for k, v in tensors.items()
                if k.startswith(prefix) and k != f"{prefix}coarsest"
            }
            denoiser.load_state_dict(weights)
            self.models.append(
                TrainedPyramid(
                    denoiser=denoiser.eval(),
                    sources=tuple(info["sources"]),
                    label=int(info["label"]),
                    sizes=tuple((int(h), int(w)) for h, w in info["sizes"]),
                    losses=[float(v) for v in info["losses"]],
                    coarsest=tensors[f"{prefix}coarsest"],
                )
            )


@dataclass(frozen=True)
class FewDDMConfig(SinDDMConfig):
    """FewDDM = SinDDM trained on a few images of one class (seed 003 §5.3): every training
    step draws one image of the group at random. ``images_per_model`` defaults to 3 (the
    paper used 2–3 pneumonia images per training fold). All other fields as
    :class:`SinDDMConfig`. The γ schedule uses ℓ^s averaged over the group's images, and a
    sample's ``source`` is the group image nearest to it at the coarsest scale (both are
    usbench choices; the paper publishes no code for FewDDM).
    """

    images_per_model: int = 3


class FewDDM(SinDDM):
    """FewDDM: one SinDDM per group of 2–3 same-class images (see :class:`FewDDMConfig`)."""

    name: ClassVar[str] = "fewddm"
    Config: ClassVar[type] = FewDDMConfig
    capabilities: ClassVar[Capabilities] = Capabilities(
        class_conditional=True, few_image=True, source_guided=True
    )
