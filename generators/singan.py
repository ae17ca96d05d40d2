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

Each finished scale is written to ``ctx.workdir/src-<i>/scale-<n>/`` (safetensors + JSON);
``ctx.resume`` reloads the finished scales and continues with the next one. Training of a
scale is a deterministic function of ``(ctx.seed, source index, scale)``, so a resumed run
ends with the weights of an uninterrupted one.

Shapes: training images ``N×1×H×W`` float32 in [0, 1]; the networks work in [-1, 1].
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from usbench.data.imageset import ImageSet
from usbench.fileio import atomic_write_text
from usbench.generators._lib.single_source import (
    assign_models,
    resize,
    select_sources,
    to_signed,
    to_unit,
)
from usbench.protocols import Capabilities, FitContext, Generator
from usbench.samples import SampleBatch

log = logging.getLogger(__name__)


def singan_pyramid_sizes(
    height: int, width: int, *, min_size: int, max_size: int, scale_factor: float
) -> tuple[tuple[int, int], ...]:
    """The SinGAN pyramid rule (official ``adjust_scales2image`` + ``creat_reals_pyramid``).

    With ``r = scale_factor``: ``N = ceil(log_r(min_size / short)) + 1``,
    ``drop = ceil(log_r(min(max_size, long) / long))`` and ``stop = N − drop``; the image
    is first shrunk by ``min(max_size / long, 1)`` (sides rounded up), the factor refitted
    to ``r' = (min_size / short')^(1 / stop)``, and scales ``i = 0 … stop`` have sides
    ``ceil(side' · r'^(stop − i))`` — ``stop + 1`` scales, coarsest first. A 256×256 image
    with the paper values gives 10 scales, 26 … 250 px.
    """
    short, long = min(height, width), max(height, width)
    if short <= min_size:
        return ((height, width),)
    n_scales = math.ceil(math.log(min_size / short, scale_factor)) + 1
    drop = math.ceil(math.log(min(max_size, long) / long, scale_factor))
    stop = n_scales - drop
    shrink = min(max_size / long, 1.0)
    h1, w1 = math.ceil(height * shrink), math.ceil(width * shrink)
    if stop < 1:
        return ((h1, w1),)
    factor = (min_size / min(h1, w1)) ** (1.0 / stop)
    return tuple(
        (math.ceil(h1 * factor ** (stop - i)), math.ceil(w1 * factor ** (stop - i)))
        for i in range(stop + 1)
    )


def scale_width(scale: int, *, nfc: int, cap: int) -> int:
    """Channels of every layer at ``scale``: ``nfc`` doubled every 4 scales, at most ``cap``."""
    return min(nfc * 2 ** (scale // 4), cap)


def _conv_block(c_in: int, c_out: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel),
        nn.BatchNorm2d(c_out, track_running_stats=False),
        nn.LeakyReLU(0.2),
    )


def _init_weights(module: nn.Module) -> None:
    """Official init: conv weights N(0, 0.02); BatchNorm weights N(1, 0.02), bias 0."""
    if isinstance(module, nn.Conv2d):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class PatchNet(nn.Module):
    """``layers`` unpadded 3×3 convolutions: ``layers − 1`` conv–BN–LeakyReLU(0.2) blocks
    and a last conv to ``out_channels``. ``B×1×H×W`` → ``B×out×(H−2p)×(W−2p)`` with
    ``p = layers·(kernel−1)/2`` (5 for the paper's 5 layers of 3×3)."""

    def __init__(self, *, width: int, layers: int, kernel: int, out_channels: int) -> None:
        super().__init__()
        blocks = [_conv_block(1, width, kernel)]
        blocks += [_conv_block(width, width, kernel) for _ in range(layers - 2)]
        self.features = nn.Sequential(*blocks)
        self.tail = nn.Conv2d(width, out_channels, kernel)
        self.apply(_init_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the convolutions."""
        return self.tail(self.features(x))


class SinGANGenerator(nn.Module):
    """One scale's generator: ``prev + tanh(net(pad(noisy)))`` (sizes equal to ``prev``)."""

    def __init__(self, *, width: int, layers: int, kernel: int) -> None:
        super().__init__()
        self.pad = layers * (kernel - 1) // 2
        self.net = PatchNet(width=width, layers=layers, kernel=kernel, out_channels=1)

    def forward(self, noisy: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
        """``noisy = σ z + prev`` and ``prev``, both ``B×1×h×w`` → ``B×1×h×w``."""
        return prev + torch.tanh(self.net(F.pad(noisy, [self.pad] * 4)))


def gradient_penalty(
    critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, weight: float, generator
) -> torch.Tensor:
    """WGAN-GP term as in the official code: one uniform mixing weight for the image, the
    gradient norm taken over channels per pixel, ``weight · mean((‖∇‖ − 1)²)``."""
    mix = torch.rand(1, generator=generator).item()
    point = (mix * real + (1 - mix) * fake).requires_grad_(True)
    grad = torch.autograd.grad(critic(point).sum(), point, create_graph=True)[0]
    return weight * ((grad.norm(2, dim=1) - 1) ** 2).mean()


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
    Optimisation per scale: ``iterations`` 2000, Adam ``lr_g`` = ``lr_d`` 5e-4,
    ``beta1`` 0.5 (β2 0.999), LR × ``lr_gamma`` 0.1 at iteration ``lr_milestone`` 1600,
    ``d_steps`` 3 and ``g_steps`` 3 per iteration.

    Sources and output size as in SinDDM: ``source_names`` / ``source_classes`` /
    ``sources_per_class`` pick the images (one model each); ``scale_hw`` multiplies the
    height and width of every noise map (the official ``scale_v``/``scale_h``) and the
    output is resized to ``round(H·scale_hw[0]) × round(W·scale_hw[1])`` of the training
    image ``H×W``.
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
    iterations: int = 2000
    lr_g: float = 5e-4
    lr_d: float = 5e-4
    beta1: float = 0.5
    lr_milestone: int = 1600
    lr_gamma: float = 0.1
    d_steps: int = 3
    g_steps: int = 3
    source_names: tuple[str, ...] = ()
    source_classes: tuple[str, ...] = ()
    sources_per_class: int = 0
    scale_hw: tuple[float, ...] = (1.0, 1.0)

    def __post_init__(self) -> None:
        if not 0 < self.scale_factor < 1:
            raise ValueError("scale_factor must lie in (0, 1), e.g. scale_factor=0.75")
        if self.min_size < 2 * (self.layers * (self.kernel - 1) // 2) + 1:
            raise ValueError(
                f"min_size={self.min_size} is smaller than the discriminator's receptive "
                "field; raise min_size or lower layers"
            )
        if self.layers < 2 or self.iterations < 1 or self.d_steps < 1 or self.g_steps < 1:
            raise ValueError("layers must be >= 2; iterations, d_steps and g_steps >= 1")
        if len(self.scale_hw) != 2 or min(self.scale_hw) <= 0:
            raise ValueError("scale_hw must be two positive factors, e.g. scale_hw=1,1.5")


_QUICK = {
    "max_size": 64,
    "min_size": 20,
    "nfc": 16,
    "nfc_cap": 32,
    "iterations": 100,
    "lr_milestone": 80,
}
_SMOKE = {
    "max_size": 24,
    "min_size": 12,
    "layers": 3,
    "nfc": 8,
    "nfc_cap": 8,
    "iterations": 12,
    "lr_milestone": 10,
    "d_steps": 1,
    "g_steps": 1,
}


# --------------------------------------------------------------------------------------
# One trained pyramid
# --------------------------------------------------------------------------------------


@dataclass
class ScaleModel:
    """A finished scale: its generator, fixed reconstruction noise and noise amplitude."""

    generator: SinGANGenerator
    z_opt: torch.Tensor  # 1×1×h×w
    noise_amp: float
    size: tuple[int, int]
    rec_losses: list[float] = field(default_factory=list)


@dataclass
class SinGANPyramid:
    """All scales of one source image, coarsest first, plus the source's name and class."""

    scales: list[ScaleModel]
    source: str
    label: int

    @torch.no_grad()
    def generate(
        self,
        generator: torch.Generator | None,
        *,
        scale_hw: tuple[float, float] = (1.0, 1.0),
        upto: int | None = None,
        reconstruct: bool = False,
    ) -> torch.Tensor:
        """Run scales ``0 … upto − 1`` (all by default) coarse to fine; ``1×1×h×w`` in [-1, 1].

        ``reconstruct=True`` uses the fixed noise maps ``z_opt`` (the reconstruction path,
        sizes unscaled); otherwise fresh noise from ``generator`` at sizes × ``scale_hw``.
        """
        x = None
        for scale in self.scales[: len(self.scales) if upto is None else upto]:
            size = scale.size if reconstruct else _scaled(scale.size, scale_hw)
            prev = torch.zeros(1, 1, *size) if x is None else resize(x, size)
            z = scale.z_opt if reconstruct else torch.randn(1, 1, *size, generator=generator)
            x = scale.generator(scale.noise_amp * z + prev, prev)
        return x


def _scaled(size: tuple[int, int], scale_hw: tuple[float, float]) -> tuple[int, int]:
    return max(1, round(size[0] * scale_hw[0])), max(1, round(size[1] * scale_hw[1]))


# --------------------------------------------------------------------------------------
# Training of one scale
# --------------------------------------------------------------------------------------


class ScaleTrainer:
    """Trains scale ``n`` of a pyramid whose scales ``0 … n−1`` are finished and frozen.

    ``real`` is the image at this scale (``1×1×h×w`` in [-1, 1]); ``g_init``/``d_init``
    are the previous scale's state dicts (used when the width is unchanged) or ``None``.
    All randomness comes from ``generator``.
    """

    def __init__(
        self,
        config: SinGANConfig,
        pyramid: SinGANPyramid,
        real: torch.Tensor,
        *,
        width: int,
        generator: torch.Generator,
    ) -> None:
        c = self.config = config
        self.pyramid, self.real, self.rng = pyramid, real, generator
        self.size = (int(real.shape[-2]), int(real.shape[-1]))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator)))
            self.G = SinGANGenerator(width=width, layers=c.layers, kernel=c.kernel)
            self.D = PatchNet(width=width, layers=c.layers, kernel=c.kernel, out_channels=1)

    def warm_start(self, g_state: dict | None, d_state: dict | None) -> None:
        """Start from the previous scale's weights (official: when the width is unchanged)."""
        if g_state is not None and d_state is not None:
            self.G.load_state_dict(g_state)
            self.D.load_state_dict(d_state)

    def run(self) -> ScaleModel:
        """Train for ``iterations`` and return the frozen scale."""
        c, first = self.config, not self.pyramid.scales
        z_opt = (
            torch.randn(1, 1, *self.size, generator=self.rng)
            if first
            else torch.zeros(1, 1, *self.size)
        )
        prev_rec = self._upsampled(self.pyramid.generate(None, reconstruct=True))
        amp = 1.0 if first else c.noise_amp * float(F.mse_loss(prev_rec, self.real).sqrt())
        opt_d = torch.optim.Adam(self.D.parameters(), lr=c.lr_d, betas=(c.beta1, 0.999))
        opt_g = torch.optim.Adam(self.G.parameters(), lr=c.lr_g, betas=(c.beta1, 0.999))
        rec_losses = []
        for it in range(c.iterations):
            lr_scale = c.lr_gamma if it >= c.lr_milestone else 1.0
            for opt, lr in ((opt_d, c.lr_d), (opt_g, c.lr_g)):
                for group in opt.param_groups:
                    group["lr"] = lr * lr_scale
            noise = torch.randn(1, 1, *self.size, generator=self.rng)
            prev = self._critic_steps(opt_d, noise, amp)
            rec_losses.append(self._generator_steps(opt_g, noise, amp, prev, z_opt, prev_rec))
        for p in self.G.parameters():
            p.requires_grad_(False)
        return ScaleModel(self.G.eval(), z_opt, amp, self.size, rec_losses)

    def _upsampled(self, coarser: torch.Tensor | None) -> torch.Tensor:
        return torch.zeros_like(self.real) if coarser is None else resize(coarser, self.size)

    def _random_prev(self) -> torch.Tensor:
        return self._upsampled(self.pyramid.generate(self.rng))

    def _critic_steps(self, opt_d, noise: torch.Tensor, amp: float) -> torch.Tensor:
        prev = self._random_prev()
        for step in range(self.config.d_steps):
            if step > 0:
                prev = self._random_prev()
            with torch.no_grad():
                fake = self.G(amp * noise + prev, prev)
            opt_d.zero_grad(set_to_none=True)
            loss = -self.D(self.real).mean() + self.D(fake).mean()
            loss = loss + gradient_penalty(
                self.D, self.real, fake, self.config.lambda_grad, self.rng
            )
            loss.backward()
            opt_d.step()
        return prev

    def _generator_steps(self, opt_g, noise, amp, prev, z_opt, prev_rec) -> float:
        rec_value = 0.0
        for _ in range(self.config.g_steps):
            opt_g.zero_grad(set_to_none=True)
            adversarial = -self.D(self.G(amp * noise + prev, prev)).mean()
            rec = F.mse_loss(self.G(amp * z_opt + prev_rec, prev_rec), self.real)
            (adversarial + self.config.alpha * rec).backward()
            opt_g.step()
            rec_value = float(rec.detach())
        return rec_value


# --------------------------------------------------------------------------------------
# Per-scale checkpoints
# --------------------------------------------------------------------------------------


def _scale_dir(root: Path, scale: int) -> Path:
    return root / f"scale-{scale}"


def save_scale(root: Path, scale: int, model: ScaleModel, d_state: dict) -> None:
    """Write a finished scale: ``weights.safetensors`` (G, D, z_opt) then ``scale.json``.

    The JSON is written last and atomically, so a scale counts as finished only when its
    weights are complete.
    """
    from safetensors.torch import save_file

    folder = _scale_dir(root, scale)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {f"G.{k}": v.contiguous() for k, v in model.generator.state_dict().items()}
    tensors |= {f"D.{k}": v.contiguous() for k, v in d_state.items()}
    tensors["z_opt"] = model.z_opt.contiguous()
    tmp = folder / ".weights.safetensors.tmp"
    save_file(tensors, str(tmp))
    os.replace(tmp, folder / "weights.safetensors")
    meta = {"noise_amp": model.noise_amp, "size": list(model.size), "rec_losses": model.rec_losses}
    atomic_write_text(folder / "scale.json", json.dumps(meta))


def load_scale(
    root: Path, scale: int, config: SinGANConfig, width: int
) -> tuple[ScaleModel, dict, dict] | None:
    """A finished scale from :func:`save_scale` (model, G state, D state) or ``None``."""
    from safetensors.torch import load_file

    folder = _scale_dir(root, scale)
    if not (folder / "scale.json").exists():
        return None
    meta = json.loads((folder / "scale.json").read_text())
    tensors = load_file(str(folder / "weights.safetensors"))
    g_state = {k[2:]: v for k, v in tensors.items() if k.startswith("G.")}
    d_state = {k[2:]: v for k, v in tensors.items() if k.startswith("D.")}
    gen = SinGANGenerator(width=width, layers=config.layers, kernel=config.kernel)
    gen.load_state_dict(g_state)
    gen.requires_grad_(False)
    size = (int(meta["size"][0]), int(meta["size"][1]))
    model = ScaleModel(
        gen.eval(),
        tensors["z_opt"],
        float(meta["noise_amp"]),
        size,
        [float(v) for v in meta["rec_losses"]],
    )
    return model, g_state, d_state


# --------------------------------------------------------------------------------------
# Generator plugin
# --------------------------------------------------------------------------------------


class SinGAN(Generator):
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
        c = self.config
        chosen = select_sources(
            train,
            source_names=c.source_names,
            source_classes=c.source_classes,
            sources_per_class=c.sources_per_class,
        )
        self.image_size, self.class_names = train.image_size, train.class_names
        self.pyramids = []
        for i, index in enumerate(chosen):
            root = Path(ctx.workdir) / f"src-{i}"
            pyramid = SinGANPyramid([], train.names[index], int(train.labels[index]))
            self._fit_pyramid(pyramid, train.images[index : index + 1], root, ctx, i)
            self.pyramids.append(pyramid)

    def _fit_pyramid(
        self, pyramid: SinGANPyramid, image: torch.Tensor, root: Path, ctx: FitContext, i: int
    ) -> None:
        sizes = self.pyramid_sizes(*image.shape[-2:])
        states: tuple[dict, dict] | None = None
        for n, size in enumerate(sizes):
            loaded = load_scale(root, n, self.config, self.width(n)) if ctx.resume else None
            if loaded is None:
                real = to_signed(resize(image, size).clamp(0.0, 1.0))
                rng = torch.Generator().manual_seed(ctx.seed * 1_000_003 + i * 1009 + n)
                trainer = ScaleTrainer(
                    self.config, pyramid, real, width=self.width(n), generator=rng
                )
                if states is not None and self.width(n) == self.width(n - 1):
                    trainer.warm_start(*states)
                model = trainer.run()
                d_state = {k: v.detach().clone() for k, v in trainer.D.state_dict().items()}
                g_state = {k: v.detach().clone() for k, v in model.generator.state_dict().items()}
                save_scale(root, n, model, d_state)
                states = (g_state, d_state)
            else:
                model, g_state, d_state = loaded
                states = (g_state, d_state)
            pyramid.scales.append(model)
            log.info("singan src-%d scale %d %s: rec mse %.4f", i, n, size, model.rec_losses[-1])

    # -- sampling --------------------------------------------------------------------
    def output_size(self) -> tuple[int, int]:
        """``(H, W)`` of the samples: the training size times ``scale_hw``."""
        return _scaled(self.image_size, tuple(self.config.scale_hw))

    def sample(self, n: int, *, seed: int, labels: torch.Tensor | None = None) -> SampleBatch:
        """``n`` samples ``n×1×H'×W'`` in [0, 1]; sample ``i`` uses the stream ``(seed, i)``."""
        if not self.pyramids:
            raise RuntimeError("singan is not trained; call fit() or load() first")
        owners = assign_models(n, [p.label for p in self.pyramids], labels)
        out = torch.empty(n, 1, *self.output_size())
        for i, m in enumerate(owners):
            rng = torch.Generator().manual_seed(seed * 1_000_003 + i)
            x = self.pyramids[m].generate(rng, scale_hw=tuple(self.config.scale_hw))
            out[i] = to_unit(resize(x, self.output_size()))[0]
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
