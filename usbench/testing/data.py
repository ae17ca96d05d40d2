"""Small deterministic inputs for the conformance suites."""

from __future__ import annotations

import numpy as np
import torch

from usbench.data.imageset import ImageSet
from usbench.protocols import Capabilities, EvalInputs
from usbench.samples import SampleBatch


def tiny_dataset(
    image_size: int = 16, n: int = 8, num_classes: int = 2, seed: int = 0, masks: bool = False
) -> ImageSet:
    """``n`` smooth, ultrasound-like toy images (bright band + speckle), ``num_classes``
    classes alternating, one patient per image. Deterministic by ``seed``.

    ``masks=True`` adds label maps: 1 on the bright band (within 1.5 band widths), else 0
    (classes ``background``, ``band``)."""
    rng = np.random.default_rng(seed)
    rows = np.linspace(0.0, 1.0, image_size, dtype=np.float32)[:, None]
    images, maps = [], []
    for i in range(n):
        centre = 0.3 + 0.1 * (i % num_classes)
        band = np.exp(-(((rows - centre) / 0.08) ** 2))
        maps.append(np.broadcast_to(np.abs(rows - centre) < 0.12, (image_size, image_size)))
        speckle = rng.rayleigh(0.25, (image_size, image_size)).astype(np.float32)
        image = np.clip(0.2 + 0.6 * band * np.ones((1, image_size)) + 0.3 * speckle, 0, 1)
        images.append(image * np.exp(-1.5 * rows))
    return ImageSet(
        images=torch.from_numpy(np.stack(images)[:, None].astype(np.float32)),
        labels=torch.arange(n) % num_classes,
        class_names=tuple(f"class{c}" for c in range(num_classes)),
        patient_ids=tuple(f"patient{i}" for i in range(n)),
        names=tuple(f"tiny/{i:03d}" for i in range(n)),
        name="tiny",
        masks=torch.from_numpy(np.stack(maps).astype(np.int64)) if masks else None,
        mask_names=("background", "band") if masks else (),
    )


def tiny_eval_inputs(image_size: int = 64, n: int = 8) -> EvalInputs:
    """Metric inputs: ``n`` generated images, each naming a training image as its source
    (paired metrics), ``n`` training and ``n`` held-out real images, all toy images of
    :func:`tiny_dataset` drawn with different seeds."""
    train = tiny_dataset(image_size, n, seed=0)
    heldout = tiny_dataset(image_size, n, seed=1)
    fake = tiny_dataset(image_size, n, seed=2)
    generated = SampleBatch(fake.images, fake.labels, tuple(reversed(train.names)))
    return EvalInputs(generated=generated, train=train, heldout=heldout, seed=0)


class CopyGenerator:
    """A trivial generator factory result for task tests: samples are its training images
    of the requested class (in turn) plus a little seeded noise.

    ``CopyGenerator(train, tag)`` has the signature of a task's ``train_generator``.
    """

    capabilities = Capabilities(class_conditional=True)

    def __init__(self, train: ImageSet, tag: str) -> None:
        self.train, self.tag = train, tag

    def sample(self, n: int, *, seed: int, labels: torch.Tensor | None = None) -> SampleBatch:
        """``n`` noisy copies of training images of ``labels`` (default: every image)."""
        gen = torch.Generator().manual_seed(seed)
        if labels is None:
            labels = self.train.labels[torch.arange(n) % len(self.train)]
        picks = []
        for i, label in enumerate(labels.tolist()):
            pool = (self.train.labels == label).nonzero().flatten()
            pool = pool if len(pool) else torch.arange(len(self.train))
            picks.append(int(pool[i % len(pool)]))
        noise = 0.05 * torch.rand(n, *self.train.images.shape[1:], generator=gen)
        images = (self.train.images[picks] + noise).clamp(0, 1)
        return SampleBatch(images, labels.long())

    def uses_label_maps(self) -> bool:
        """True when the training set has label maps: then it also draws from maps."""
        return self.train.has_masks

    def sample_from_maps(
        self,
        masks: torch.Tensor,
        *,
        seed: int,
        labels: torch.Tensor | None = None,
        sources: tuple[str, ...] | None = None,
    ) -> SampleBatch:
        """An image per map: bright (0.8) on the map's foreground, dark (0.2), plus noise."""
        gen = torch.Generator().manual_seed(seed)
        noise = 0.05 * torch.rand(masks.shape, generator=gen)
        images = (0.2 + 0.6 * (masks > 0).float() + noise).clamp(0, 1)[:, None]
        return SampleBatch(images, labels, sources, "label-map" if sources else None)
