"""The adapters' training objective in the form the shared loop trains.

:func:`usbench.training.train` optimises, checkpoints and resumes ``model.parameters()``
and ``model.state_dict()``. :class:`AdapterObjective` registers *only* the adapter tensors
(LoRA matrices or the token vector, shared with the pipeline's modules, not copies) and
keeps the frozen SD1.5 networks out of its module tree, so checkpoints hold the adapters
and their Adam state only (kilobytes to megabytes, not the 4 GB base model).

:class:`LatentBatches` is the loop's batch source: the VAE posterior of the training
images is computed once (``encode_latent_stats``); each step draws indices and a posterior
sample from the step's generator.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from usbench.generators._sd15.generation import noise_prediction_loss

TextStates = Callable[[torch.Tensor], torch.Tensor]


class LatentBatches:
    """Uniform draws (with replacement) of scaled latents ``B×4×h×w`` and labels ``B``.

    mean, std: the unscaled VAE posterior of every training image (``N×4×h×w``);
    scale: the VAE ``scaling_factor`` (0.18215 for SD1.5).
    """

    def __init__(
        self,
        mean: torch.Tensor,
        std: torch.Tensor,
        labels: torch.Tensor,
        *,
        batch_size: int,
        scale: float,
    ) -> None:
        if mean.shape[0] == 0:
            raise ValueError("cannot train on an empty dataset")
        self.mean, self.std, self.labels = mean, std, labels
        self.batch_size, self.scale = batch_size, scale

    def batch(self, step: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch of ``step``; all randomness from ``generator``."""
        idx = torch.randint(0, self.mean.shape[0], (self.batch_size,), generator=generator)
        eps = torch.randn(self.mean[idx].shape, generator=generator)
        return (self.mean[idx] + self.std[idx] * eps) * self.scale, self.labels[idx]


class AdapterObjective(nn.Module):
    """Noise-prediction loss of a frozen UNet + adapters; only ``adapters`` are registered.

    adapters: name → parameter (already living inside ``unet`` or the text encoder);
    text_states: labels ``B`` → text-encoder states ``B×77×D`` (through the learned token
    when it trains); forward(latents ``B×4×h×w``, labels ``B``, generator) → scalar loss.
    """

    def __init__(
        self, adapters: dict[str, nn.Parameter], *, unet, scheduler, text_states: TextStates
    ) -> None:
        super().__init__()
        self.adapters = nn.ParameterDict({k.replace(".", "__"): p for k, p in adapters.items()})
        # plain attributes, not submodules: the base model stays out of state_dict()
        self.__dict__["_unet"] = unet
        self.__dict__["_scheduler"] = scheduler
        self.__dict__["_text_states"] = text_states

    def forward(
        self, latents: torch.Tensor, labels: torch.Tensor, generator: torch.Generator
    ) -> torch.Tensor:
        states = self._text_states(labels)
        return noise_prediction_loss(self._unet, self._scheduler, latents, states, generator)
