"""Stable Diffusion 1.5 hybrid generator: LoRA + textual inversion + img2img (seed 004).

The method: class labels become radiology-style prompts ending in a learned token
``<ultrasound>``; SD1.5 is adapted with a learned token embedding (textual inversion)
and a rank-4 LoRA on the UNet attention layers, both trained with the noise-prediction
loss on (image, prompt) pairs; samples come from text-to-image followed by img2img
refinement at strength 0.3. Grayscale images are replicated to RGB for the VAE and
averaged back to one channel. Only the adapters (LoRA matrices + token vector) are saved.

The four ablation rows of seed 004 Table 1 are :data:`ABLATION_ROWS` (Config overrides):
``sd15`` (LoRA only), ``sd15+img2img``, ``sd15+ti``, ``sd15+ti+img2img`` (the default).

Needs the ``sd`` extra (``pip install 'usbench[sd]'``: peft, transformers) and the SD1.5
base weights (``base_model``: a local diffusers folder or a hub id in the HF cache).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch

from usbench.data.imageset import ImageSet
from usbench.generators._sd15.adapters import LORA_TARGETS
from usbench.generators._sd15.base_model import DEFAULT_BASE_MODEL
from usbench.generators._sd15.prompts import (
    DEFAULT_CLASS_PROMPTS,
    DEFAULT_PROMPT_TEMPLATE,
    parse_class_prompts,
)
from usbench.progress import progress_bar
from usbench.protocols import Capabilities, FitContext, Generator
from usbench.samples import SampleBatch
from usbench.training import TRAIN_KEYS_RENAMED, TrainSettings


@dataclass(frozen=True)
class SD15HybridConfig:
    """Hyper-parameters of the SD1.5 hybrid generator (``paper`` = these defaults).

    Base model and data:
        base_model: local diffusers folder or hub id of SD1.5 (paper: SD v1.5;
            ``stable-diffusion-v1-5/stable-diffusion-v1-5`` is the hub mirror).
        image_size: training/sampling resolution (paper: 512 px, SD1.5's native size).
            Samples are resized back to the training images' size [>= 8].
    Prompts (paper sec. 3.1):
        class_prompts: ``"class=prompt"`` entries (paper's BUSI wording; LUS ours).
        prompt_template: prompt for a class without an entry, ``{label}`` = class name.
    Textual inversion (paper sec. 3.2; 2000 steps, lr 5e-4 per the issue):
        textual_inversion: learn ``placeholder_token`` and append it to every prompt.
        placeholder_token, initializer_token: the new token and the word its embedding
            starts from (paper: ``<ultrasound>``; initializer ours: ``ultrasound``).
        ti_steps, ti_lr: the token stage's steps and learning rate; every other setting
            of that stage is ``train``'s (without its ``lr_milestones``) [> 0].
    LoRA (paper sec. 3.2; rank 4, lr 1e-4, batch 4, 3000 steps per the issue):
        lora_rank, lora_alpha: the adapters' rank and scale (alpha = rank as in diffusers'
            LoRA example: not stated) [> 0].
        lora_targets: the adapted layers (attention projections, diffusers' LoRA example).
    train: the LoRA stage's settings (:class:`usbench.training.TrainSettings`):
        ``train.steps`` 3000, ``train.lr`` 1e-4, ``train.batch_size`` 4 (both stages).
        Not stated: Adam, weight_decay 0, grad_clip 1.0 (max grad norm, as diffusers'
        example scripts), constant learning rate, no EMA (``train.ema_decay`` must stay
        0), checkpoints every 500 steps, a loss logged every 50.
    Sampling (paper sec. 3.3):
        inference_steps, guidance_scale: denoising steps and classifier-free guidance (not
            stated; diffusers' SD1.5 defaults 50 and 7.5) [> 0].
        img2img_strength: refinement strength, 0.3 (0 disables refinement; img2img runs
            int(inference_steps·strength) steps) [0, 1].
        sample_batch_size: images generated at once [>= 1].
    Order (not stated; our choice): the token is learned first on the frozen base model,
    then LoRA is trained with prompts that contain it (the paper appends the token "during
    both training and inference").
    device: ``auto`` (CUDA when available) or ``cpu``/``cuda``.
    """

    base_model: str = DEFAULT_BASE_MODEL
    image_size: int = 512
    class_prompts: tuple[str, ...] = DEFAULT_CLASS_PROMPTS
    prompt_template: str = DEFAULT_PROMPT_TEMPLATE
    textual_inversion: bool = True
    placeholder_token: str = "<ultrasound>"
    initializer_token: str = "ultrasound"
    ti_steps: int = 2000
    ti_lr: float = 5e-4
    lora_rank: int = 4
    lora_alpha: float = 4.0
    lora_targets: tuple[str, ...] = LORA_TARGETS
    train: TrainSettings = TrainSettings(
        steps=3000, batch_size=4, lr=1e-4, ema_decay=0.0, checkpoint_every=500, log_every=50
    )
    inference_steps: int = 50
    guidance_scale: float = 7.5
    img2img_strength: float = 0.3
    sample_batch_size: int = 8
    device: Literal["auto", "cpu", "cuda"] = "auto"

    renamed: ClassVar[Mapping[str, str]] = {
        **TRAIN_KEYS_RENAMED,
        "lora_steps": "train.steps",
        "lora_learning_rate": "train.lr",
        "ti_learning_rate": "ti_lr",
    }

    def __post_init__(self) -> None:
        if self.image_size <= 0 or self.image_size % 8:
            raise ValueError(f"image_size={self.image_size} must be a positive multiple of 8")
        if not 0.0 <= self.img2img_strength <= 1.0:
            raise ValueError(f"img2img_strength={self.img2img_strength} must lie in [0, 1]")
        if self.ti_steps < 0:
            raise ValueError("ti_steps must be >= 0")
        for key in ("sample_batch_size", "inference_steps", "lora_rank"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1")
        if self.train.ema_decay:
            raise ValueError("sd15_hybrid trains its adapters without EMA: train.ema_decay=0")
        parse_class_prompts(self.class_prompts)


ABLATION_ROWS: dict[str, dict[str, Any]] = {
    "sd15": {"textual_inversion": False, "img2img_strength": 0.0},
    "sd15+img2img": {"textual_inversion": False, "img2img_strength": 0.3},
    "sd15+ti": {"textual_inversion": True, "img2img_strength": 0.0},
    "sd15+ti+img2img": {"textual_inversion": True, "img2img_strength": 0.3},
}
"""Seed 004 Table 1 rows as Config overrides, e.g. ``--set textual_inversion=false``."""


class SD15Hybrid(Generator):
    """SD1.5 with LoRA, a learned ``<ultrasound>`` token and img2img refinement.

    ``fit`` trains the adapters (resumable, into ``ctx.workdir/textual_inversion`` and
    ``ctx.workdir/lora``); ``sample`` returns ``n×1×S×S`` float32 in [0, 1] (``S`` = the
    training images' size), class-balanced when ``labels`` is ``None``.
    """

    name: ClassVar[str] = "sd15_hybrid"
    Config: ClassVar[type] = SD15HybridConfig
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {},
        "quick": {
            "image_size": 64,
            "ti_steps": 100,
            "train": {"steps": 200, "checkpoint_every": 50, "log_every": 10},
            "inference_steps": 20,
        },
        "smoke": {
            "image_size": 32,
            "ti_steps": 2,
            "train": {"steps": 2, "batch_size": 2, "checkpoint_every": 1, "log_every": 1},
            "inference_steps": 4,
            "img2img_strength": 0.5,
            "device": "cpu",
        },
    }
    capabilities: ClassVar[Capabilities] = Capabilities(class_conditional=True)

    def __init__(self, config: SD15HybridConfig) -> None:
        super().__init__(config)
        self._pipe = None
        self._img2img = None
        self._class_names: tuple[str, ...] = ()
        self._output_size = config.image_size
        self._token_id: int | None = None
        self._fingerprint = ""
        self._prompts: list[str] = []
        self.losses: dict[str, list[tuple[int, float]]] = {}

    # -- training --------------------------------------------------------------------
    def published_weights(self) -> bool:
        """False on a stand-in pipeline labelled as test weights (never stored as scores)."""
        from usbench.generators._sd15.base_model import is_test_pipeline

        return not is_test_pipeline(self.config.base_model)

    def fit(self, train: ImageSet, ctx: FitContext) -> None:
        """Learn the token (if on) then the LoRA on ``train``; resumable via ``ctx``."""
        from usbench.generators._sd15 import fitting

        if len(train) == 0:
            raise ValueError("sd15_hybrid needs at least one training image")
        fitted = fitting.fit_adapters(self.config, train, ctx, device=self._device())
        self.losses = fitted.losses
        self._install(fitted.pipe, fitted.token_id, train.class_names, train.image_size[0])

    # -- sampling --------------------------------------------------------------------
    def sample(self, n: int, *, seed: int, labels: torch.Tensor | None = None) -> SampleBatch:
        """``n`` images for ``labels`` (``n`` int64; default: classes in turn)."""
        from usbench.generators._sd15 import generation

        if self._pipe is None:
            raise RuntimeError("sd15_hybrid has no adapters yet: call fit() or load() first")
        labels = self._labels_for(n, labels)
        if n == 0:
            empty = torch.zeros(0, 1, self._output_size, self._output_size)
            return SampleBatch(empty, labels)
        chunks = []
        with progress_bar(n, "sample sd15_hybrid") as bar:
            for start in range(0, n, self.config.sample_batch_size):
                indices = list(range(start, min(n, start + self.config.sample_batch_size)))
                prompts = [self._prompts[int(labels[i])] for i in indices]
                latents = self._sample_latents(prompts, seed, indices)
                images = generation.decode_latents(self._pipe.vae, latents)
                chunks.append(generation.resize_square(images, self._output_size))
                bar.update(len(indices))
        return SampleBatch(torch.cat(chunks).float().contiguous(), labels)

    def _sample_latents(self, prompts: list[str], seed: int, indices: list[int]) -> torch.Tensor:
        from usbench.generators._sd15 import generation

        cfg = self.config
        generators = generation.seeded_generators(seed, indices, "cpu")
        latents = generation.text_to_latents(
            self._pipe,
            prompts,
            generators,
            size=cfg.image_size,
            steps=cfg.inference_steps,
            guidance_scale=cfg.guidance_scale,
        )
        return generation.refine_latents(
            self._img2img,
            latents,
            prompts,
            generators,
            strength=cfg.img2img_strength,
            steps=cfg.inference_steps,
            guidance_scale=cfg.guidance_scale,
        )

    def _labels_for(self, n: int, labels: torch.Tensor | None) -> torch.Tensor:
        k = len(self._class_names)
        if labels is None:
            return torch.arange(n, dtype=torch.int64) % k
        labels = torch.as_tensor(labels, dtype=torch.int64).reshape(-1)
        if labels.shape != (n,):
            raise ValueError(f"labels must hold {n} class indices, got shape {tuple(labels.shape)}")
        if n and (int(labels.min()) < 0 or int(labels.max()) >= k):
            raise ValueError(f"labels must lie in 0..{k - 1} ({', '.join(self._class_names)})")
        return labels

    # -- persistence -----------------------------------------------------------------
    def state_tensors(self) -> dict[str, torch.Tensor]:
        """LoRA matrices (``lora.<peft name>``) and the token vector (``token.embedding``)."""
        from usbench.generators._sd15.adapters import lora_state, token_embedding

        if self._pipe is None:
            raise RuntimeError("nothing to save: call fit() first")
        tensors = {f"lora.{k}": v for k, v in lora_state(self._pipe.unet).items()}
        if self._token_id is not None:
            tensors["token.embedding"] = token_embedding(self._pipe.text_encoder, self._token_id)
        return tensors

    def state_meta(self) -> dict[str, Any]:
        """Class names, output size and the base-weights fingerprint."""
        return {
            "class_names": list(self._class_names),
            "output_size": self._output_size,
            "base_fingerprint": self._fingerprint,
        }

    def restore(self, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        """Load the base model named in the Config and put the saved adapters on it."""
        from usbench.generators._sd15 import fitting

        pipe, token_id = fitting.pipeline_with_adapters(self.config, meta, tensors)
        self._install(pipe, token_id, tuple(meta["class_names"]), int(meta["output_size"]))

    # -- helpers ---------------------------------------------------------------------
    def _install(self, pipe, token_id: int | None, class_names, output_size: int) -> None:
        from diffusers import StableDiffusionImg2ImgPipeline

        from usbench.generators._sd15 import fitting
        from usbench.generators._sd15.base_model import base_fingerprint

        pipe.to(self._device())
        self._pipe = pipe
        self._img2img = StableDiffusionImg2ImgPipeline(
            **pipe.components, requires_safety_checker=False
        )
        self._img2img.set_progress_bar_config(disable=True)
        self._token_id = token_id
        self._class_names = tuple(class_names)
        self._output_size = output_size
        self._prompts = fitting.class_prompts(self.config, self._class_names)
        self._fingerprint = base_fingerprint(pipe)

    def _device(self) -> str:
        if self.config.device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        return self.config.device
