"""SinGAN's networks, pyramid and the training of one scale (private to ``singan``).

A scale trains through the shared checkpoints (:class:`usbench.checkpoints.CheckpointDir`
under ``<workdir>/src-<i>/scale-<n>/``): generator and discriminator weights, both Adam
states, the scale's ``torch.Generator`` state, its fixed noise ``z_opt`` and ``σ_n``.
Every random draw of a scale comes from that one generator, so a scale resumed from a
checkpoint continues the exact random stream and ends bit-identical to an uninterrupted run.

Speed options (:mod:`usbench.train_speed`): ``train.precision=bf16`` runs every iteration
(the frozen coarser scales, both networks and their backward passes, the gradient
penalty's double backward) under CPU autocast; ``fp16`` is refused (SinGAN trains on the
CPU). ``train.channels_last`` applies to G and D, ``train.optimizer_impl`` to both Adams,
``train.compile`` to G only: the critic's gradient penalty needs a double backward, which
compiled graphs do not support.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from usbench.checkpoints import CheckpointDir, TrainingState
from usbench.generators._lib.single_source import resize
from usbench.train_speed import adam, autocast, check_precision, prepare_module, release_module


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
            size = scale.size if reconstruct else scaled_size(scale.size, scale_hw)
            prev = torch.zeros(1, 1, *size) if x is None else resize(x, size)
            z = scale.z_opt if reconstruct else torch.randn(1, 1, *size, generator=generator)
            x = scale.generator(scale.noise_amp * z + prev, prev)
        return x


def scaled_size(size: tuple[int, int], scale_hw: tuple[float, float]) -> tuple[int, int]:
    """``size`` times ``scale_hw`` (rounded, at least 1 px)."""
    return max(1, round(size[0] * scale_hw[0])), max(1, round(size[1] * scale_hw[1]))


# --------------------------------------------------------------------------------------
# Training of one scale
# --------------------------------------------------------------------------------------


class ScaleTrainer:
    """Trains scale ``n`` of a pyramid whose scales ``0 … n−1`` are finished and frozen.

    ``config`` is a ``SinGANConfig`` (its ``train`` section gives steps, learning rate,
    milestones, Adam betas and the checkpoint interval); ``real`` is the image at this
    scale (``1×1×h×w`` in [-1, 1]). All randomness comes from ``generator``; progress is
    checkpointed into ``store``.
    """

    def __init__(
        self,
        config: Any,
        pyramid: SinGANPyramid,
        real: torch.Tensor,
        *,
        width: int,
        generator: torch.Generator,
        store: CheckpointDir,
    ) -> None:
        c = self.config = config
        self.pyramid, self.real, self.rng, self.store = pyramid, real, generator, store
        self.size = (int(real.shape[-2]), int(real.shape[-1]))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator)))
            self.G = SinGANGenerator(width=width, layers=c.layers, kernel=c.kernel)
            self.D = PatchNet(width=width, layers=c.layers, kernel=c.kernel, out_channels=1)
        self.nets = nn.ModuleDict({"G": self.G, "D": self.D})
        t = c.train
        check_precision(t.precision, "cpu")
        prepare_module(self.G, channels_last=t.channels_last, compile_mode=t.compile)
        prepare_module(self.D, channels_last=t.channels_last, compile_mode="off")

    def warm_start(self, g_state: dict | None, d_state: dict | None) -> None:
        """Start from the previous scale's weights (official: when the width is unchanged)."""
        if g_state is not None and d_state is not None:
            self.G.load_state_dict(g_state)
            self.D.load_state_dict(d_state)

    def run(self, *, resume: bool = False) -> ScaleModel:
        """Train for ``train.steps`` iterations (continuing the newest checkpoint when
        ``resume``) and return the frozen scale."""
        c, first = self.config, not self.pyramid.scales
        z_opt = (
            torch.randn(1, 1, *self.size, generator=self.rng)
            if first
            else torch.zeros(1, 1, *self.size)
        )
        prev_rec = self._upsampled(self.pyramid.generate(None, reconstruct=True))
        amp = 1.0 if first else c.noise_amp * float(F.mse_loss(prev_rec, self.real).sqrt())
        opts = {"D": self._adam(self.D), "G": self._adam(self.G)}
        state = TrainingState()
        if resume and self.store.latest() is not None:
            state = self.store.load(self.nets, opts)
            self.rng.set_state(state.extra["rng"])
            z_opt, amp = state.extra["z_opt"], float(state.extra["noise_amp"])
        for it in range(state.step, c.train.steps):
            for opt in opts.values():
                for group in opt.param_groups:
                    group["lr"] = c.train.learning_rate_at(it)
            noise = torch.randn(1, 1, *self.size, generator=self.rng)
            with autocast(c.train.precision, "cpu"):
                prev = self._critic_steps(opts["D"], noise, amp)
                rec = self._generator_steps(opts["G"], noise, amp, prev, z_opt, prev_rec)
            state.step, state.losses = it + 1, [*state.losses, (it + 1, rec)]
            if state.step % c.train.checkpoint_every == 0 or state.step == c.train.steps:
                self._checkpoint(state, opts, z_opt, amp)
        for p in self.G.parameters():
            p.requires_grad_(False)
        if c.train.channels_last or c.train.compile != "off":
            release_module(self.G)
            release_module(self.D)
        rec_losses = [loss for _, loss in state.losses]
        return ScaleModel(self.G.eval(), z_opt, amp, self.size, rec_losses)

    def _adam(self, net: nn.Module) -> torch.optim.Adam:
        t = self.config.train
        return adam(
            net.parameters(),
            lr=t.lr,
            betas=t.betas,
            weight_decay=t.weight_decay,
            impl=t.optimizer_impl,
        )

    def _checkpoint(self, state: TrainingState, opts, z_opt: torch.Tensor, amp: float) -> None:
        state.extra = {
            "rng": self.rng.get_state(),
            "z_opt": z_opt,
            "noise_amp": torch.tensor(amp, dtype=torch.float64),
        }
        self.store.save(state, self.nets, opts)

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
            loss = -self.D(self.real).float().mean() + self.D(fake).float().mean()
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
            adversarial = -self.D(self.G(amp * noise + prev, prev)).float().mean()
            rec = F.mse_loss(self.G(amp * z_opt + prev_rec, prev_rec).float(), self.real)
            (adversarial + self.config.alpha * rec).backward()
            opt_g.step()
            rec_value = float(rec.detach())
        return rec_value
