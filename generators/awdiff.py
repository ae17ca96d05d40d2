"""``awdiff``: À trous Wavelet Diffusion (seed 000, Heidari et al.), implemented from the paper.

The denoiser is ``ε_θ(x_t, t, y, f) = UNet(x_t, t, CrossAttention(z_y, f))`` (Eq. 2):
a diffusers ``UNet2DConditionModel`` whose cross-attention context is one token for the
text embedding ``z_y = Φ_text(prompt(y))`` followed by tokens of the multi-scale wavelet
features ``f = E_ψ(x)`` (Eq. 7–10): the à trous planes ``WP⁽¹⁾…WP⁽ˢ⁾`` of the image
(:mod:`usbench.generators._lib.wavelets`), each through two learned 3×3 convolutions dilated by
``2^(s−1)`` (Eq. 7), pooled to a ``token_grid × token_grid`` grid and projected, with a
learned position and scale embedding. DDPM (Eq. 3–6) with a linear β schedule, T = 100;
loss ``MSE + λ1·(1 − cos(Φ_image(x̂₀), Φ_text(y)))`` (Eq. 12–14) with the frozen
BiomedCLIP (:mod:`usbench.generators._lib.clip_encoder`); Adam 1e-4 (0.9, 0.999); EMA weights
for sampling. The networks live in :mod:`usbench.generators._lib.awdiff_model`.

Choices where the paper is silent (all Config values, stated in the report):
* ``f`` at sampling time: the paper (Fig. 2) generates variants of given input images, so
  each sample takes its structure from a reference training image (stored with the
  generator) and carries that image's name in ``SampleBatch.sources``; the label is the
  reference's (or the requested class, choosing references of that class).
* How ``f`` enters the cross-attention: pooled tokens as above (``token_grid``).
* β range: Ho et al.'s 1e-4…0.02 is for T = 1000; at T = 100 it would leave ᾱ_T ≈ 0.37,
  so the ends are rescaled by 1000/T (1e-3…0.2, as in improved DDPM), giving ᾱ_T ≈ 5e-5.
* λ1 (not given): 0.1. Prompts: ``prompt_template`` with the class name, or ``prompts``.
* ``encoder=dwt`` is the ablation of Fig. 4: a decimated Haar DWT whose detail sub-bands
  (3 per level, repeated back to full size) replace the à trous planes.
* ``text_encoder=label-embedding`` is the documented fallback when BiomedCLIP weights are
  unavailable: a learned class embedding and no alignment loss. It is part of the config,
  hence of the run's identity, so it is never reported as AWDiff-with-BiomedCLIP.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor

from usbench.data.imageset import ImageSet
from usbench.generators._lib.awdiff_model import AWDiffModel
from usbench.generators._lib.clip_encoder import BIOMEDCLIP, FrozenCLIP, load_clip
from usbench.generators._lib.seeding import sample_generators
from usbench.generators.ddpm import DDPMGenerator
from usbench.progress import progress_bar
from usbench.protocols import Capabilities, FitContext, Generator
from usbench.samples import SampleBatch
from usbench.training import TRAIN_KEYS_RENAMED, RandomBatches, TrainSettings, train


@dataclass(frozen=True)
class AWDiffConfig:
    """Hyper-parameters of AWDiff (seed 000 §2–3.1 unless marked *ours*).

    image_size: square image side; seed 000: 256 [>= 8].
    base_channels, channel_mults, layers_per_block, attention_levels, attention_heads:
        UNet widths and the levels with cross-attention (*ours*; not in the paper) [>= 0].
    cond_dim: width of the cross-attention context tokens (*ours*) [>= 1].
    encoder: ``atrous`` (the paper) or ``dwt`` (Fig. 4 ablation).
    wavelet_scales: S, the number of wavelet planes (*ours*: 4) [>= 1].
    feature_channels: channels of the learned dilated convolutions (Eq. 7) (*ours*) [>= 1].
    token_grid: each scale's features are pooled to token_grid² tokens (*ours*) [>= 1].
    text_encoder: ``biomedclip`` (the paper) or ``label-embedding`` (fallback, no Eq. 13).
    clip_model: local open_clip directory or ``hf-hub:`` id of BiomedCLIP.
    prompt_template, prompts: class → prompt; ``prompts`` (one per class) overrides.
    alignment_weight: λ1 of Eq. 14 (*ours*: 0.1; 0 disables the CLIP loss) [>= 0].
    timesteps, beta_start, beta_end: DDPM with linear β, T = 100 (ends rescaled, *ours*) [> 0].
    train: the shared training settings (:class:`usbench.training.TrainSettings`): 120k
        steps, batch 128, Adam 1e-4 (0.9, 0.999), EMA; clipping and checkpoints *ours*.
    sample_batch_size: images denoised at once when sampling (*ours*) [>= 1].
    """

    image_size: int = 256
    base_channels: int = 64
    channel_mults: tuple[int, ...] = (1, 2, 2, 4)
    layers_per_block: int = 2
    attention_levels: tuple[int, ...] = (1, 2, 3)
    attention_heads: int = 8
    cond_dim: int = 256
    encoder: Literal["atrous", "dwt"] = "atrous"
    wavelet_scales: int = 4
    feature_channels: int = 32
    token_grid: int = 8
    text_encoder: Literal["biomedclip", "label-embedding"] = "biomedclip"
    clip_model: str = BIOMEDCLIP
    prompt_template: str = "lung ultrasound with {}"
    prompts: tuple[str, ...] = ()
    alignment_weight: float = 0.1
    timesteps: int = 100
    beta_start: float = 1e-3
    beta_end: float = 0.2
    train: TrainSettings = TrainSettings(steps=120_000, batch_size=128, lr=1e-4)
    sample_batch_size: int = 16

    renamed: ClassVar[Mapping[str, str]] = TRAIN_KEYS_RENAMED

    def __post_init__(self) -> None:
        levels = len(self.channel_mults)
        if self.image_size % (2 ** max(levels - 1, self.wavelet_scales)):
            raise ValueError(
                f"image_size={self.image_size} must be divisible by 2^{levels - 1} (UNet "
                f"levels) and 2^{self.wavelet_scales} (wavelet scales)"
            )
        if any(not 0 <= a < levels for a in self.attention_levels):
            raise ValueError(f"attention_levels must lie in 0..{levels - 1}")

    def class_prompts(self, class_names: tuple[str, ...]) -> list[str]:
        """One text prompt per class."""
        if self.prompts:
            if len(self.prompts) != len(class_names):
                raise ValueError(
                    f"prompts has {len(self.prompts)} entries but the data have "
                    f"{len(class_names)} classes ({', '.join(class_names)}); give one each"
                )
            return list(self.prompts)
        return [
            self.prompt_template.format(c.replace("_", " ").replace("-", " ")) for c in class_names
        ]


class AWDiffGenerator(Generator):
    """AWDiff (see module docstring)."""

    name: ClassVar[str] = "awdiff"
    Config: ClassVar[type] = AWDiffConfig
    capabilities: ClassVar[Capabilities] = Capabilities(class_conditional=True, source_guided=True)
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # seed 000 §3.1: 256×256, Adam 1e-4 (0.9, 0.999), linear β, T = 100, 120k steps,
        # batch 128, EMA; UNet widths are ours.
        "paper": {
            "image_size": 256,
            "base_channels": 128,
            "channel_mults": (1, 1, 2, 2, 4),
            "attention_levels": (2, 3, 4),
            "cond_dim": 512,
            "train": {"steps": 120_000, "batch_size": 128},
        },
        # same resolution, widths and training as the ddpm/bmap_ddpm quick presets
        "quick": {
            "image_size": 64,
            "base_channels": 16,
            "channel_mults": (1, 2, 2),
            "layers_per_block": 1,
            "attention_levels": (1, 2),
            "attention_heads": 4,
            "cond_dim": 64,
            "feature_channels": 16,
            "token_grid": 4,
            "train": dict(DDPMGenerator.presets["quick"]["train"]),
        },
        "smoke": {
            "image_size": 16,
            "base_channels": 8,
            "channel_mults": (1, 2),
            "layers_per_block": 1,
            "attention_levels": (1,),
            "attention_heads": 2,
            "cond_dim": 16,
            "feature_channels": 4,
            "token_grid": 2,
            "timesteps": 10,
            "train": dict(DDPMGenerator.presets["smoke"]["train"]),
            "sample_batch_size": 8,
        },
    }

    def __init__(self, config: AWDiffConfig) -> None:
        super().__init__(config)
        self.model: AWDiffModel | None = None
        self.class_names: tuple[str, ...] = ()
        self.references: ImageSet | None = None
        self.clip_source = ""

    # -- training ---------------------------------------------------------------------
    def fit(self, train_set: ImageSet, ctx: FitContext) -> None:
        size = self.config.image_size
        if train_set.image_size != (size, size):
            raise ValueError(
                f"awdiff is configured for {size} px images but the data are "
                f"{train_set.image_size}; use --image-size {size} or --set image_size=..."
            )
        self.class_names, self.references = train_set.class_names, _quantised(train_set)
        clip, class_text = self._text_conditioning()
        torch.manual_seed(ctx.seed)
        self.model = AWDiffModel(self.config, class_text, len(self.class_names))
        self.model.clip = clip
        batches = RandomBatches(train_set, self.config.train.batch_size)
        outcome = train(self.model, batches, self.config.train, ctx, tag=self.name)
        self.model.load_state_dict(outcome.ema_state)
        self.model.clip = None  # only the loss needs it; sampling uses class_text

    def _text_conditioning(self) -> tuple[FrozenCLIP | None, Tensor | None]:
        """Load CLIP and embed the class prompts, or nothing for the fallback."""
        if self.config.text_encoder == "label-embedding":
            self.clip_source = ""
            return None, None
        clip = load_clip(self.config.clip_model)
        self.clip_source = clip.source
        return clip, clip.encode_text(self.config.class_prompts(self.class_names)).cpu()

    # -- sampling ---------------------------------------------------------------------
    def choose_references(self, n: int, seed: int, labels: Tensor | None) -> tuple[Tensor, Tensor]:
        """Indices of the reference images for ``n`` samples and their labels.

        Without ``labels``: a seeded permutation of all references, cycled. With labels:
        for each sample, the next reference of that class in a seeded permutation.
        """
        refs = self._require_refs()
        perm = torch.randperm(len(refs), generator=torch.Generator().manual_seed(seed))
        if labels is None:
            idx = perm[torch.arange(n) % len(refs)]
            return idx, refs.labels[idx]
        if labels.shape != (n,):
            raise ValueError(f"labels must have shape ({n},), got {tuple(labels.shape)}")
        idx = torch.empty(n, dtype=torch.long)
        for cls in labels.unique().tolist():
            pool = perm[refs.labels[perm] == cls]
            if len(pool) == 0:
                raise ValueError(
                    f"no training image of class {cls} to take structure from; "
                    f"classes present: {sorted(set(refs.labels.tolist()))}"
                )
            where = (labels == cls).nonzero().flatten()
            idx[where] = pool[torch.arange(len(where)) % len(pool)]
        return idx, labels.long()

    def sample(self, n: int, *, seed: int, labels: Tensor | None = None) -> SampleBatch:
        if self.model is None:
            raise RuntimeError("awdiff has no weights: call fit() or load() first")
        idx, out_labels = self.choose_references(n, seed, labels)
        refs = self._require_refs()
        chunks, size = [], self.config.sample_batch_size
        with progress_bar(n, "sample awdiff") as bar:
            for start in range(0, n, size):
                part = slice(start, min(n, start + size))
                generators = sample_generators(seed, range(part.start, part.stop))
                reference = refs.images[idx[part]]
                chunks.append(self.model.sample(reference, out_labels[part], generators))
                bar.update(part.stop - part.start)
        sources = tuple(refs.names[int(i)] for i in idx)
        return SampleBatch(torch.cat(chunks), out_labels, sources)

    def _require_refs(self) -> ImageSet:
        if self.references is None or len(self.references) == 0:
            raise RuntimeError("awdiff has no reference images: call fit() or load() first")
        return self.references

    # -- persistence ------------------------------------------------------------------
    def state_tensors(self) -> dict[str, Tensor]:
        if self.model is None:
            raise RuntimeError("awdiff has nothing to save before fit()")
        refs = self._require_refs()
        tensors = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        tensors["references.images"] = torch.round(refs.images * 255.0).to(torch.uint8)
        tensors["references.labels"] = refs.labels
        return tensors

    def state_meta(self) -> dict[str, Any]:
        refs = self._require_refs()
        return {
            "class_names": list(self.class_names),
            "reference_names": list(refs.names),
            "reference_dataset": refs.name,
            "reference_patients": list(refs.patient_ids),
            "text_encoder": self.config.text_encoder,
            "clip_source": self.clip_source,
        }

    def restore(self, meta: dict[str, Any], tensors: dict[str, Tensor]) -> None:
        self.class_names = tuple(meta["class_names"])
        self.clip_source = meta["clip_source"]
        names = tuple(meta["reference_names"])
        self.references = ImageSet(
            images=tensors["references.images"].float() / 255.0,
            labels=tensors["references.labels"].long(),
            class_names=self.class_names,
            patient_ids=tuple(meta["reference_patients"]),
            names=names,
            name=meta["reference_dataset"],
        )
        weights = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
        class_text = weights.get("class_text")
        self.model = AWDiffModel(self.config, class_text, len(self.class_names))
        self.model.load_state_dict(weights)


def _quantised(data: ImageSet) -> ImageSet:
    """``data`` with pixels rounded to 8 bits, exactly as they are saved for sampling."""
    images = torch.round(data.images * 255.0) / 255.0
    return ImageSet(
        images=images,
        labels=data.labels,
        class_names=data.class_names,
        patient_ids=data.patient_ids,
        names=data.names,
        name=data.name,
        probes=data.probes,
    )
