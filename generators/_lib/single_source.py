"""Shared plumbing of the single- and few-image generators (SinDDM, FewDDM, SinGAN).

These models train one network per source image (or per small group of images) and
remember which image each model learned, so that every sample can name its source for
paired metrics (SIFID, CW-SSIM, paired LPIPS).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from usbench.data.imageset import ImageSet


def select_sources(
    train: ImageSet,
    *,
    source_names: Sequence[str] = (),
    source_classes: Sequence[str] = (),
    sources_per_class: int = 0,
) -> list[int]:
    """Indices of the training images that get their own model, in a stable order.

    ``source_names`` (non-empty) picks exactly those images, in that order. Otherwise the
    images of ``source_classes`` (all classes when empty) are taken in dataset order, at
    most ``sources_per_class`` per class (0 = every image). Raises ``ValueError`` naming
    the valid names/classes when a request cannot be met.
    """
    if len(train) == 0:
        raise ValueError("the training set is empty; a single-image model needs one image")
    if source_names:
        missing = [n for n in source_names if n not in train.names]
        if missing:
            shown = ", ".join(train.names[:10])
            raise ValueError(f"unknown source image(s) {missing}; valid names include: {shown}")
        return [train.index_of(n) for n in source_names]
    unknown = [c for c in source_classes if c not in train.class_names]
    if unknown:
        raise ValueError(
            f"unknown class(es) {unknown} in source_classes; choose from {train.class_names}"
        )
    wanted = set(source_classes) or set(train.class_names)
    taken: dict[int, int] = {}
    chosen = []
    for i, label in enumerate(train.labels.tolist()):
        if train.class_names[label] not in wanted:
            continue
        if sources_per_class and taken.get(label, 0) >= sources_per_class:
            continue
        taken[label] = taken.get(label, 0) + 1
        chosen.append(i)
    if not chosen:
        raise ValueError(f"no training image belongs to the classes {sorted(wanted)}")
    return chosen


def group_sources(indices: Sequence[int], labels: Sequence[int], size: int) -> list[list[int]]:
    """Split source ``indices`` into groups of at most ``size`` images of one class.

    ``size=1`` gives one group per image (SinDDM, SinGAN); FewDDM uses 2–3. Groups keep the
    order of ``indices``; a class with 5 images and ``size=3`` gives groups of 3 and 2.
    """
    if size < 1:
        raise ValueError(f"images_per_model must be >= 1, got {size}")
    by_class: dict[int, list[int]] = {}
    for i in indices:
        by_class.setdefault(int(labels[i]), []).append(int(i))
    groups = []
    for members in by_class.values():
        groups.extend(members[k : k + size] for k in range(0, len(members), size))
    return groups


def assign_models(n: int, model_labels: Sequence[int], labels: torch.Tensor | None) -> list[int]:
    """Which model draws each of ``n`` samples.

    Without ``labels``: round-robin over the models (sample ``i`` → model ``i % M``).
    With ``labels`` (``n`` int64): sample ``i`` comes from the models trained on class
    ``labels[i]``, round-robin among them. A class without a model raises ``ValueError``.
    """
    if labels is None:
        return [i % len(model_labels) for i in range(n)]
    if labels.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), got {tuple(labels.shape)}")
    per_class: dict[int, list[int]] = {}
    for m, label in enumerate(model_labels):
        per_class.setdefault(int(label), []).append(m)
    seen: dict[int, int] = {}
    chosen = []
    for label in labels.tolist():
        models = per_class.get(int(label))
        if not models:
            raise ValueError(
                f"no model was trained on class {label}; trained classes: {sorted(per_class)}. "
                "Add images of that class with source_classes / sources_per_class."
            )
        chosen.append(models[seen.get(label, 0) % len(models)])
        seen[label] = seen.get(label, 0) + 1
    return chosen


def to_signed(images: torch.Tensor) -> torch.Tensor:
    """``[0, 1]`` → ``[-1, 1]`` (the range both SinDDM and SinGAN train in)."""
    return images * 2.0 - 1.0


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """``[-1, 1]`` → ``[0, 1]``, clamped."""
    return ((images + 1.0) * 0.5).clamp(0.0, 1.0)


def resize(images: torch.Tensor, size: tuple[int, int], mode: str = "bicubic") -> torch.Tensor:
    """Resize ``B×C×H×W`` to ``size`` (antialiased when shrinking with bicubic/bilinear)."""
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    antialias = mode in ("bicubic", "bilinear")
    return torch.nn.functional.interpolate(
        images, size=size, mode=mode, align_corners=False, antialias=antialias
    )


def part_name(index: int) -> str:
    """The fit part (and checkpoint folder under the fit's workdir) of model ``index``."""
    return f"src-{index}"


def part_names(n_models: int) -> list[str]:
    """The fit parts of a generator with ``n_models`` models: ``src-0`` … ``src-<n-1>``."""
    return [part_name(i) for i in range(n_models)]


def part_index(part: str, n_models: int) -> int:
    """The model index of ``part``; ``ValueError`` naming the valid parts otherwise."""
    names = part_names(n_models)
    if part not in names:
        shown = ", ".join(names[:5]) + (" …" if len(names) > 5 else "")
        raise ValueError(f"unknown fit part {part!r}; this fit has {len(names)}: {shown}")
    return names.index(part)


class PerSourceParts:
    """``fit_parts`` / ``fit_part`` of a generator with one model per source (or group).

    The generator provides ``models_of(train)`` (its sources or groups, one model each, in
    the order ``fit`` trains them) and ``fit_model(train, source, index, ctx)`` (trains
    model ``index`` into ``ctx.workdir / part_name(index)``, as ``fit`` does).
    """

    def fit_parts(self, train: ImageSet) -> list[str]:
        """One part per model, ``src-<i>`` (its checkpoint folder)."""
        return part_names(len(self.models_of(train)))

    def fit_part(self, train: ImageSet, ctx, part: str) -> None:
        """Train the model of one source (or group), as ``fit`` trains it."""
        sources = self.models_of(train)
        i = part_index(part, len(sources))
        self.fit_model(train, sources[i], i, ctx)
