"""SinGAN (Shaham et al., 2019): a pyramid of patch GANs learned from one image.

Scale 0 (coarsest) maps noise to an image; every finer scale ``n`` adds a residual to the
upsampled output of scale ``n − 1``, driven by noise of amplitude ``σ_n``::

    x_n = G_n(σ_n z_n + ↑x_{n−1}, ↑x_{n−1}) = ↑x_{n−1} + net_n(σ_n z_n + ↑x_{n−1})

Each scale is trained in turn (coarse to fine, earlier scales frozen) with WGAN-GP against
a patch discriminator plus ``alpha`` × the MSE of reconstructing the image from a fixed
noise map (``z_opt``: random at scale 0, zero above). ``σ_n = noise_amp × RMSE`` between
the real image at scale ``n`` and the upsampled reconstruction from scale ``n − 1``.

usbench choices (documented Config values): BatchNorm always normalises with the
statistics of the current image (the official code never switches to running statistics,
and samples one image at a time, which we also do, so samples do not depend on the batch);
resizing is torch's antialiased bicubic instead of the official MATLAB-style ``imresize``,
and the upsampled image is resized straight to the next pyramid size instead of resized by
``1/scale_factor`` and cropped; the generator loss re-runs the generator at every G step.

Training goes through the shared checkpoints (:mod:`usbench.checkpoints`): every
``train.checkpoint_every`` iterations and at the end of each scale, scale ``n`` of source
``i`` is saved under ``ctx.workdir/src-<i>/scale-<n>/`` (G, D, both Adam states, the scale's
random-generator state, ``z_opt`` and ``σ_n``). ``ctx.resume`` reloads finished scales and
continues an interrupted scale from its newest checkpoint. Training of a scale is a
deterministic function of ``(ctx.seed, source index, scale)``, so a resumed run ends with
the weights of an uninterrupted one.

Image size: the Config has no image size, since the pyramid is built from whatever image it
gets (capped at ``max_size``); :meth:`SinGAN.data_image_size` asks the harness for 256 px,
the harness's general default, on which the paper values give 10 scales of 26–250 px.
The networks, pyramid and per-scale trainer live in
:mod:`usbench.generators._lib.singan_model`.

Shapes: training images ``N×1×H×W`` float32 in [0, 1]; the networks work in [-1, 1].
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

from usbench.checkpoints import CheckpointDir
from usbench.data.imageset import ImageSet
from usbench.generators._lib.singan_model import (
    ScaleModel,
    ScaleTrainer,
    SinGANGenerator,
    SinGANPyramid,
    scale_width,
    scaled_size,
    singan_pyramid_sizes,
)
from usbench.generators._lib.single_source import (
    PerSourceParts,
    assign_models,
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

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SinGANConfig:
    """SinGAN hyper-parameters. Defaults = the official code (tamarott/SinGAN
    ``config.py``) as used by seed 003 §4.2.2.

    Pyramid: ``scale_factor`` 0.75 (refitted), ``min_size`` 25, ``max_size`` 250 px.
    Networks: ``layers`` 5 convolutions of ``kernel`` 3, BatchNorm, LeakyReLU 0.2, tanh tail;
    ``nfc`` 32 channels doubled every 4 scales up to ``nfc_cap`` 128 (G and D alike).
    Losses: WGAN-GP with ``lambda_grad`` 0.1 plus ``alpha`` 10 × reconstruction MSE;
    ``noise_amp`` 0.1 (σ_n = noise_amp × RMSE of the upsampled reconstruction).
    Optimisation per scale (``train``, :class:`usbench.training.TrainSettings`):
    ``train.steps`` 2000 iterations, Adam ``train.lr`` 5e-4 for G and D alike,
    ``train.betas`` (0.5, 0.999), LR × ``train.lr_gamma`` 0.1 from iteration
    ``train.lr_milestones`` 1600, a checkpoint every ``train.checkpoint_every`` 500
    iterations; ``d_steps`` 3 and ``g_steps`` 3 per iteration. One image per step, no EMA,
    no gradient clipping (``train.batch_size`` 1, ``train.ema_decay`` 0,
    ``train.grad_clip`` None are required); the reconstruction loss is kept for every
    iteration (``train.log_every`` does not apply).

    Sources and output size as in SinDDM: ``source_names`` / ``source_classes`` /
    ``sources_per_class`` pick the images (one model each); ``scale_hw`` multiplies the
    height and width of every noise map (the official ``scale_v``/``scale_h``) and the
    output is resized to ``round(H·scale_hw[0]) × round(W·scale_hw[1])`` of the training
    image ``H×W``.

    Settings, one line each:
        scale_factor: ratio between pyramid scales (refitted) (0, 1).
        min_size, max_size: shortest side of the coarsest scale, longest of the finest (px) [>= 1].
        layers, kernel: convolutions per network and their kernel size [>= 1].
        nfc, nfc_cap: channels at the coarsest scale (doubled every 4 scales) and their cap [>= 1].
        lambda_grad: WGAN-GP gradient-penalty weight [>= 0].
        alpha: weight of the reconstruction MSE [>= 0].
        noise_amp: σ_n = noise_amp × RMSE of the upsampled reconstruction [>= 0].
        d_steps, g_steps: discriminator and generator updates per iteration [>= 1].
        source_names: explicit training images (one model each).
        source_classes: classes to take images from (all when empty).
        sources_per_class: images per class (0 = all), in dataset order [>= 0].
        scale_hw: (height, width) multipliers of every noise map and of the output [> 0].
    """

    scale_factor: float = 0.75
    min_size: int = 25
    max_size: int = 250
    layers: int = 5
    kernel: int = 3
    nfc: int = 32
    nfc_cap: int = 128
    lambda_grad: float = 0.1
    alpha: float = 10.0
    noise_amp: float = 0.1
    train: TrainSettings = TrainSettings(
        steps=2000,
        batch_size=1,
        lr=5e-4,
        lr_milestones=(1600,),
        lr_gamma=0.1,
        betas=(0.5, 0.999),
        ema_decay=0.0,
        grad_clip=None,
        checkpoint_every=500,
    )
    d_steps: int = 3
    g_steps: int = 3
    source_names: tuple[str, ...] = ()
    source_classes: tuple[str, ...] = ()
    sources_per_class: int = 0
    scale_hw: tuple[float, ...] = (1.0, 1.0)

    renamed: ClassVar[Mapping[str, str]] = {
        **TRAIN_KEYS_RENAMED,
        "iterations": "train.steps",
        "lr_g": "train.lr",
        "lr_d": "train.lr",
        "beta1": "train.betas",
        "lr_milestone": "train.lr_milestones",
    }

    def __post_init__(self) -> None:
        if not 0 < self.scale_factor < 1:
            raise ValueError("scale_factor must lie in (0, 1), e.g. scale_factor=0.75")
        if self.min_size < 2 * (self.layers * (self.kernel - 1) // 2) + 1:
            raise ValueError(
                f"min_size={self.min_size} is smaller than the discriminator's receptive "
                "field; raise min_size or lower layers"
            )
        if self.layers < 2 or self.train.steps < 1 or self.d_steps < 1 or self.g_steps < 1:
            raise ValueError("layers must be >= 2; train.steps, d_steps and g_steps >= 1")
        t = self.train
        if t.batch_size != 1 or t.ema_decay or t.grad_clip:
            raise ValueError(
                "SinGAN trains on one image per step without EMA or gradient clipping: "
                "keep train.batch_size=1, train.ema_decay=0 and train.grad_clip=none"
            )
        if len(self.scale_hw) != 2 or min(self.scale_hw) <= 0:
            raise ValueError("scale_hw must be two positive factors, e.g. scale_hw=1,1.5")


_QUICK = {
    "max_size": 64,
    "min_size": 20,
    "nfc": 16,
    "nfc_cap": 32,
    "train": {"steps": 100, "lr_milestones": (80,)},
}
_SMOKE = {
    "max_size": 24,
    "min_size": 12,
    "layers": 3,
    "nfc": 8,
    "nfc_cap": 8,
    "train": {"steps": 12, "lr_milestones": (10,)},
    "d_steps": 1,
    "g_steps": 1,
}


# --------------------------------------------------------------------------------------
# Generator plugin
# --------------------------------------------------------------------------------------


class SinGAN(PerSourceParts, Generator):
    """SinGAN: one pyramid of patch GANs per source image (see the module docstring).

    ``sample`` assigns samples round-robin over the trained pyramids, or per requested
    class when ``labels`` are given, and names each sample's source image.
    """

    name: ClassVar[str] = "singan"
    Config: ClassVar[type] = SinGANConfig
    presets: ClassVar[dict[str, dict[str, Any]]] = {"paper": {}, "quick": _QUICK, "smoke": _SMOKE}
    capabilities: ClassVar[Capabilities] = Capabilities(
        class_conditional=True, single_image=True, source_guided=True
    )

    def __init__(self, config: SinGANConfig) -> None:
        super().__init__(config)
        self.pyramids: list[SinGANPyramid] = []
        self.image_size: tuple[int, int] = (0, 0)
        self.class_names: tuple[str, ...] = ()

    @classmethod
    def data_image_size(cls, config: SinGANConfig) -> int:
        """256 px (the harness's general default), stated rather than left to a fallback:
        the pyramid adapts to any size, so the Config has no ``image_size``; a 256×256 image
        gives the paper's 10 scales of 26–250 px."""
        return 256

    def pyramid_sizes(self, height: int, width: int) -> tuple[tuple[int, int], ...]:
        """Scale sizes this config gives an ``height×width`` image, coarsest first."""
        c = self.config
        return singan_pyramid_sizes(
            height, width, min_size=c.min_size, max_size=c.max_size, scale_factor=c.scale_factor
        )

    def width(self, scale: int) -> int:
        """Channels of scale ``scale``."""
        return scale_width(scale, nfc=self.config.nfc, cap=self.config.nfc_cap)

    def fit(self, train: ImageSet, ctx: FitContext) -> None:
        """Train one pyramid per selected source, scale by scale, with per-scale checkpoints."""
        self.image_size, self.class_names = train.image_size, train.class_names
        sources = self.models_of(train)
        self.pyramids = [self.fit_model(train, index, i, ctx) for i, index in enumerate(sources)]

    def models_of(self, train: ImageSet) -> list[int]:
        """Indices of the selected source images (Config ``source_*``), one pyramid each."""
        c = self.config
        return select_sources(
            train,
            source_names=c.source_names,
            source_classes=c.source_classes,
            sources_per_class=c.sources_per_class,
        )

    def fit_model(self, train: ImageSet, index: int, i: int, ctx: FitContext) -> SinGANPyramid:
        """Train the pyramid of source ``index`` (model ``i``) under ``workdir/src-<i>``."""
        root = Path(ctx.workdir) / part_name(i)
        pyramid = SinGANPyramid([], train.names[index], int(train.labels[index]))
        self._fit_pyramid(pyramid, train.images[index : index + 1], root, ctx, i)
        return pyramid

    def _fit_pyramid(
        self, pyramid: SinGANPyramid, image: torch.Tensor, root: Path, ctx: FitContext, i: int
    ) -> None:
        sizes = self.pyramid_sizes(*image.shape[-2:])
        states: tuple[dict, dict] | None = None
        for n, size in enumerate(sizes):
            real = to_signed(resize(image, size).clamp(0.0, 1.0))
            rng = torch.Generator().manual_seed(ctx.seed * 1_000_003 + i * 1009 + n)
            store = CheckpointDir(root / f"scale-{n}")
            trainer = ScaleTrainer(
                self.config, pyramid, real, width=self.width(n), generator=rng, store=store
            )
            if states is not None and self.width(n) == self.width(n - 1):
                trainer.warm_start(*states)
            model = trainer.run(resume=ctx.resume)
            d_state = {k: v.detach().clone() for k, v in trainer.D.state_dict().items()}
            g_state = {k: v.detach().clone() for k, v in model.generator.state_dict().items()}
            states = (g_state, d_state)
            pyramid.scales.append(model)
            log.info("singan src-%d scale %d %s: rec mse %.4f", i, n, size, model.rec_losses[-1])

    # -- sampling --------------------------------------------------------------------
    def output_size(self) -> tuple[int, int]:
        """``(H, W)`` of the samples: the training size times ``scale_hw``."""
        return scaled_size(self.image_size, tuple(self.config.scale_hw))

    def sample(self, n: int, *, seed: int, labels: torch.Tensor | None = None) -> SampleBatch:
        """``n`` samples ``n×1×H'×W'`` in [0, 1]; sample ``i`` uses the stream ``(seed, i)``."""
        if not self.pyramids:
            raise RuntimeError("singan is not trained; call fit() or load() first")
        owners = assign_models(n, [p.label for p in self.pyramids], labels)
        out = torch.empty(n, 1, *self.output_size())
        with progress_bar(n, "sample singan") as bar:
            for i, m in enumerate(owners):
                rng = torch.Generator().manual_seed(seed * 1_000_003 + i)
                x = self.pyramids[m].generate(rng, scale_hw=tuple(self.config.scale_hw))
                out[i] = to_unit(resize(x, self.output_size()))[0]
                bar.update(1)
        labels_out = torch.tensor([self.pyramids[m].label for m in owners], dtype=torch.long)
        return SampleBatch(out, labels_out, tuple(self.pyramids[m].source for m in owners))

    def reconstruct(self, index: int = 0) -> torch.Tensor:
        """Pyramid ``index``'s reconstruction from its fixed noise, ``1×1×h×w`` in [0, 1]."""
        return to_unit(self.pyramids[index].generate(None, reconstruct=True))

    # -- state -----------------------------------------------------------------------
    def state_tensors(self) -> dict[str, torch.Tensor]:
        """``model{m}.scale{n}.<G param>`` and ``model{m}.scale{n}.z_opt``."""
        out: dict[str, torch.Tensor] = {}
        for m, pyramid in enumerate(self.pyramids):
            for n, scale in enumerate(pyramid.scales):
                for key, value in scale.generator.state_dict().items():
                    out[f"model{m}.scale{n}.{key}"] = value
                out[f"model{m}.scale{n}.z_opt"] = scale.z_opt
        return out

    def state_meta(self) -> dict[str, Any]:
        """Image size, class names, and per model its source, label, sizes and σ_n."""
        return {
            "image_size": list(self.image_size),
            "class_names": list(self.class_names),
            "models": [
                {
                    "source": p.source,
                    "label": p.label,
                    "sizes": [list(s.size) for s in p.scales],
                    "noise_amps": [s.noise_amp for s in p.scales],
                }
                for p in self.pyramids
            ],
        }

    def restore(self, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        """Inverse of :meth:`state_meta` + :meth:`state_tensors`."""
        c = self.config
        self.image_size = (int(meta["image_size"][0]), int(meta["image_size"][1]))
        self.class_names = tuple(meta["class_names"])
        self.pyramids = []
        for m, info in enumerate(meta["models"]):
            scales = []
            for n, (size, amp) in enumerate(zip(info["sizes"], info["noise_amps"], strict=True)):
                prefix = f"model{m}.scale{n}."
                gen = SinGANGenerator(width=self.width(n), layers=c.layers, kernel=c.kernel)
                gen.load_state_dict(
                    {
                        k[len(prefix) :]: v
                        for k, v in tensors.items()
                        if k.startswith(prefix) and not k.endswith("z_opt")
                    }
                )
                gen.requires_grad_(False)
                scales.append(
                    ScaleModel(
                        gen.eval(),
                        tensors[f"{prefix}z_opt"],
                        float(amp),
                        (int(size[0]), int(size[1])),
                    )
                )
            self.pyramids.append(SinGANPyramid(scales, info["source"], int(info["label"])))
