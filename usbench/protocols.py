"""The four plugin contracts: Generator, Metric, DatasetSource and Task.

A plugin author needs nothing but these docstrings and :mod:`usbench.testing`. Shapes:
images are always ``N×1×H×W`` float32 in ``[0, 1]`` on the CPU (see
:class:`usbench.data.imageset.ImageSet` and :class:`usbench.samples.SampleBatch`).

This module imports no torch at import time, so listing plugins stays cheap. It is a
little over 400 lines on purpose: the shared :class:`Plugin` base, the four contracts and
the small data types they exchange stay in one file, so a plugin author reads one module.
"""

from __future__ import annotations

import enum
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import numpy as np
    import torch

    from usbench.data.imageset import ImageSet
    from usbench.samples import SampleBatch


# --------------------------------------------------------------------------------------
# What every plugin kind shares
# --------------------------------------------------------------------------------------
class Plugin:
    """The contract every plugin kind shares: one name, one documented Config, presets.

    name: the registry name; may be left out (the registry sets it from the entry point,
        and refuses a class that states a different one).
    Config: a frozen dataclass of the plugin's settings, every field with a default and a
        ``key: text`` line in its docstring (``None``: no settings). A field whose type is
        itself such a dataclass is a section, set with dotted keys (``train.lr``).
    presets: named overrides of the Config defaults (``{"quick": {...}}``), or none.
    default_preset: the preset used when none is named (``None``: the Config defaults).

    Users reach the settings through a selector (``fid:layer=pool2``,
    ``-g sinddm:preset=paper``, ``-d lus-phantom:n_per_class=8``), resolved by
    :func:`usbench.plugins.resolve`; code builds the same with :meth:`from_preset`.
    """

    name: ClassVar[str] = ""
    Config: ClassVar[type | None] = None
    presets: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    default_preset: ClassVar[str | None] = None

    def __init__(self, config: Any = None) -> None:
        config_cls = type(self).Config
        if config_cls is None:
            if config is not None:
                raise TypeError(f"{type(self).__name__} has no settings")
        elif config is None:
            config = config_cls()
        elif not isinstance(config, config_cls):
            raise TypeError(f"{type(self).__name__} needs a {config_cls.__name__}")
        self.config = config

    @classmethod
    def from_preset(cls, preset: str | None = None, overrides: Mapping[str, Any] | None = None):
        """An instance built from ``preset`` (default :attr:`default_preset`) plus
        ``overrides`` (``--set``-style strings or values; dotted keys for sections)."""
        from usbench.config import plugin_config

        return cls(plugin_config(cls, preset, overrides or {}))


# --------------------------------------------------------------------------------------
# Generators
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Capabilities:
    """What a generator can do; the harness and tasks read this.

    class_conditional: ``sample(labels=...)`` produces images of the requested classes.
    single_image: trains on one image (SinGAN, SinDDM); the harness may pass a dataset of one.
    few_image: trains on a handful of images (FewDDM).
    source_guided: every sample derives from a training image and carries its name in
        ``SampleBatch.sources`` (paired metrics use it).
    """

    class_conditional: bool = False
    single_image: bool = False
    few_image: bool = False
    source_guided: bool = False


@dataclass
class FitContext:
    """Where and how a generator trains.

    workdir: a folder private to this fit, for checkpoints and logs; resuming a run reuses it.
    seed: the run seed; training must be a deterministic function of (data, config, seed).
    resume: continue from the newest checkpoint in ``workdir`` if there is one.
    progress: show progress bars.
    """

    workdir: Path
    seed: int = 0
    resume: bool = False
    progress: bool = True


class Generator(Plugin, ABC):
    """An image generator plugin.

    Class attributes a plugin sets:
        name: registry name (``"ddpm"``); may be left out (the registry sets it), and a
            name that differs from the entry point's is refused.
        Config: a frozen dataclass of every hyper-parameter, each with a default and a
            ``key: text`` line in its docstring; trained generators hold the shared
            optimisation settings in a ``train`` section (:class:`usbench.training.
            TrainSettings`, set as ``train.lr=1e-4``).
        presets: ``{"paper": {...}, "quick": {...}, "smoke": {...}}`` — overrides of the
            Config defaults. ``paper`` reproduces the source paper (GPU), ``quick`` runs in
            minutes on a laptop CPU, ``smoke`` in seconds (tests).
        default_preset: the preset used when none is named (``quick``).
        capabilities: a :class:`Capabilities`.

    Persistence: :meth:`save` writes ``config.json`` (the Config), ``state.json``
    (:meth:`state_meta`) and ``weights.safetensors`` (:meth:`state_tensors`); :meth:`load`
    rebuilds the generator from the Config and calls :meth:`restore`. Nothing is pickled.
    """

    Config: ClassVar[type]
    default_preset: ClassVar[str | None] = "quick"
    capabilities: ClassVar[Capabilities] = Capabilities()

    def __init__(self, config: Any) -> None:
        if not isinstance(config, self.Config):
            raise TypeError(f"{type(self).__name__} needs a {self.Config.__name__}")
        self.config = config

    @classmethod
    def data_image_size(cls, config: Any) -> int | None:
        """The side (px) at which the harness loads the data when ``--image-size`` is not
        given; ``None`` lets the harness choose (256).

        Default: the Config's ``image_size`` field when it has one. Override it when the
        size the generator needs is named otherwise or derived.
        """
        return getattr(config, "image_size", None)

    @abstractmethod
    def fit(self, train: ImageSet, ctx: FitContext) -> None:
        """Train on ``train`` (``N×1×H×W`` in [0,1]); deterministic given ``ctx.seed``."""

    def fit_parts(self, train: ImageSet) -> list[str] | None:
        """Names of the independent pieces :meth:`fit` trains on ``train`` (e.g. one model
        per source image), in a stable order, or ``None``: the fit is one piece.

        A generator that lists parts implements :meth:`fit_part`; ``usbench sweep`` then
        trains each part as a job of its own and the run's :meth:`fit` (with ``resume``)
        loads them. The conformance suite checks that parts fitted one by one, in any
        order, give the very generator :meth:`fit` gives.
        """
        return None

    def fit_part(self, train: ImageSet, ctx: FitContext, part: str) -> None:
        """Train only ``part`` (a name from :meth:`fit_parts`) of ``fit(train, ctx)``, into
        the same place under ``ctx.workdir``; the generator itself is left unfitted.
        Raises ``ValueError`` naming the valid parts for an unknown one."""
        raise NotImplementedError(f"{self.name} trains in one piece (fit_parts is None)")

    @abstractmethod
    def sample(self, n: int, *, seed: int, labels: torch.Tensor | None = None) -> SampleBatch:
        """Draw ``n`` images; the same ``seed`` gives the same images, however they are
        batched internally (e.g. a ``sample_batch_size`` setting must not change them).

        ``labels`` (``n`` int64) asks a class-conditional generator for those classes;
        an unconditional generator ignores them and returns ``labels=None``.
        """

    def uses_label_maps(self) -> bool:
        """True when samples are drawn from label maps: the harness then calls
        :meth:`sample_from_maps` with the held-out images' maps instead of :meth:`sample`."""
        return False

    def sample_from_maps(
        self,
        masks: torch.Tensor,
        *,
        seed: int,
        labels: torch.Tensor | None = None,
        sources: tuple[str, ...] | None = None,
    ) -> SampleBatch:
        """One image per ``N×H×W`` int64 label map; ``sources`` names the real image of each
        map (recorded in the batch with ``pairing="label-map"``). Only generators whose
        :meth:`uses_label_maps` is true implement it."""
        raise NotImplementedError(f"{self.name} does not sample from label maps")

    @abstractmethod
    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Every tensor needed to sample again (usually EMA weights), flat names → tensors."""

    def state_meta(self) -> dict[str, Any]:
        """JSON-able facts learned in ``fit`` that :meth:`restore` needs (sizes, names)."""
        return {}

    def published_weights(self) -> bool | None:
        """Whether the pretrained networks this generator builds on are the published ones.

        ``None``: it uses no pretrained network (trained from scratch). ``True``: it loaded
        published weights (e.g. SD1.5). ``False``: it runs on stand-in weights of the right
        shape (tests); the harness then refuses to store its samples' scores.
        """
        return None

    @abstractmethod
    def restore(self, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        """Inverse of :meth:`state_meta` + :meth:`state_tensors`."""

    # -- persistence, shared by every generator --------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write config, meta and weights into ``directory`` (created)."""
        from safetensors.torch import save_file

        from usbench.config import config_to_dict
        from usbench.fileio import atomic_write_text

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.state_tensors().items()}
        save_file(tensors, str(directory / "weights.safetensors"))
        atomic_write_text(directory / "state.json", json.dumps(self.state_meta(), indent=2))
        payload = {"generator": self.name, "config": config_to_dict(self.config)}
        atomic_write_text(directory / "config.json", json.dumps(payload, indent=2))
        return directory

    @classmethod
    def load(cls, directory: str | Path):
        """Rebuild a generator saved by :meth:`save`."""
        from safetensors.torch import load_file

        from usbench.config import config_from_dict

        directory = Path(directory)
        payload = json.loads((directory / "config.json").read_text())
        if payload.get("generator") != cls.name:
            raise ValueError(
                f"{directory} holds a {payload.get('generator')!r} generator, not {cls.name!r}"
            )
        gen = cls(config_from_dict(cls.Config, payload["config"]))
        meta = json.loads((directory / "state.json").read_text())
        gen.restore(meta, load_file(str(directory / "weights.safetensors")))
        return gen


# --------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------
class MetricKind(str, enum.Enum):
    """How a metric looks at the data."""

    NO_REFERENCE = "no-reference"  # each generated image alone (NIMA)
    PAIRED = "paired"  # generated vs its real counterpart (SSIM, PSNR, paired LPIPS)
    SET_VS_SET = "set-vs-set"  # generated set vs real set (FID, KID)
    DIVERSITY = "diversity"  # among generated images (LPIPS diversity)


class MetricUnavailable(RuntimeError):
    """A metric cannot be computed here; ``fix`` says exactly what to do about it.

    Raised, for instance, when pretrained weights are missing and cannot be downloaded.
    The harness records the metric as unavailable with this message and goes on.
    """

    def __init__(self, reason: str, fix: str, *, weights: str | None = None) -> None:
        super().__init__(f"{reason} Fix: {fix}")
        self.weights = weights
        """Name of the missing weights entry (``usbench weights status``), if that is why."""
        self.reason = reason
        self.fix = fix


@dataclass(frozen=True)
class EvalInputs:
    """Everything a metric may look at.

    generated: the samples (``N×1×H×W`` in [0,1]; ``labels``/``sources`` if known).
    train: the real images the generator was trained on.
    heldout: real images it never saw (the test split), or ``None``.
    seed: for any randomness in the metric (subsets, bootstrap).
    """

    generated: SampleBatch
    train: ImageSet
    heldout: ImageSet | None = None
    seed: int = 0


@dataclass(frozen=True)
class MetricResult:
    """One metric's answer for one run.

    value: the headline number (mean over pairs/images, or the set statistic).
    spread: standard deviation over ``per_sample`` (0.0 for a single set statistic).
    n: how many generated images (or pairs) it rests on.
    per_sample: one value per image/pair, for distributions and bootstraps, or ``None``.
    ci_low, ci_high: a 95 % bootstrap interval, or ``None``.
    details: extra JSON-able facts (e.g. the pairing used).
    """

    value: float
    spread: float
    n: int
    per_sample: np.ndarray | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of_samples(
        cls,
        values: np.ndarray,
        *,
        seed: int,
        details: dict[str, Any] | None = None,
        n: int | None = None,
    ) -> MetricResult:
        """Mean ± std of per-sample ``values`` with a 95 % percentile-bootstrap interval.

        ``n`` defaults to ``len(values)`` (give it when the values are not one per image,
        e.g. KID's subsets).
        """
        import numpy as np

        from usbench.stats import bootstrap_ci

        values = np.asarray(values, dtype=np.float64)
        low, high = bootstrap_ci(values, seed=seed)
        return cls(
            value=float(values.mean()),
            spread=float(values.std()),
            n=len(values) if n is None else n,
            per_sample=values,
            ci_low=low,
            ci_high=high,
            details=dict(details or {}),
        )


class Metric(Plugin, ABC):
    """A metric plugin.

    Class attributes besides :class:`Plugin`'s: ``version`` (bump when numbers can
    change), ``kind`` (a :class:`MetricKind`), ``higher_is_better``, ``weights`` (names of
    pretrained weight files it needs, see :mod:`usbench.weights`), ``value_range``
    (``(low, high)``, either may be ``None``). A setting of its ``Config`` picks a variant
    (``fid:layer=pool2``), so a variant is never a subclass; ``@suites`` and old names
    are data in :mod:`usbench.catalog`. ``kind``,
    ``higher_is_better`` and ``weights`` may be set per instance when a setting changes them
    (LPIPS ``mode``); the harness reads them from the instance.

    :meth:`variant` returns the exact recipe (layer, resize, grayscale to RGB policy,
    weights hash...); it is stored with every score, and two scores are comparable only
    when name, version and variant agree.
    """

    version: ClassVar[str] = "1"
    kind: ClassVar[MetricKind] = MetricKind.PAIRED
    higher_is_better: ClassVar[bool] = True
    weights: ClassVar[tuple[str, ...]] = ()
    value_range: ClassVar[tuple[float | None, float | None]] = (None, None)

    def variant(self) -> dict[str, Any]:
        """JSON-able identity of the exact computation (empty when there is one way)."""
        return {}

    @abstractmethod
    def compute(self, inputs: EvalInputs) -> MetricResult:
        """Score ``inputs``; raise :class:`MetricUnavailable` when it cannot be done here."""

    def figure(self, result: MetricResult, inputs: EvalInputs, path: Path) -> Path | None:
        """Draw this metric's figure of ``result`` to ``path`` (PNG); ``None`` if it has none.

        The harness calls it after :meth:`compute` and keeps the file in the run folder.
        """
        return None


# --------------------------------------------------------------------------------------
# Datasets
# --------------------------------------------------------------------------------------
class DatasetSource(Plugin, ABC):
    """A dataset plugin: knows where images live and loads them into an ImageSet.

    Its settings are a :class:`Plugin` ``Config`` (``-d lus-phantom:n_per_class=8``,
    ``--data-option key=value``); ``positional`` names the setting a bare value after the
    colon fills (``folder:PATH`` → ``path``). ``description``: one line for listings.
    """

    description: ClassVar[str] = ""
    positional: ClassVar[str | None] = None

    @abstractmethod
    def load(self, *, image_size: int, root: Path | None = None) -> ImageSet:
        """Every image resized to ``image_size`` (square): ``N×1×S×S`` float32 in [0,1],
        with labels, class names and patient ids. ``root`` is a user-given local folder
        (``--data-root``) or ``None`` for the source's default (a cache, an embedded
        generator...)."""


# --------------------------------------------------------------------------------------
# Tasks
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TaskScore:
    """One number a task produced, stored like a metric score.

    metric: e.g. ``"balanced_accuracy"``; group: what it belongs to (arm, class, fold
    aggregate), e.g. ``"real+synthetic/minority=25%"``.
    """

    metric: str
    group: str
    value: float
    spread: float
    n: int
    higher_is_better: bool = True
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FitUnit:
    """One generator fit a task asks for, known before the task runs (so a sweep can run
    it as a job of its own).

    tag: the name ``run`` passes to ``train_generator`` for this fit; unique in a plan.
    indices: positions in the task's ``data`` of the fit's training images, in the order
        ``run`` passes them (``data.subset(indices)`` is that training set).
    """

    tag: str
    indices: tuple[int, ...]


class Task(Plugin, ABC):
    """A downstream experiment, e.g. the gain of a classifier trained with synthetic data.

    ``run`` receives the real dataset and a factory that trains a fresh generator on a
    given ImageSet (so generators can be trained per fold, never on test patients) and
    returns :class:`TaskScore` rows. Settings and presets as every :class:`Plugin`
    (``--tasks classifier_gain:folds=5`` or ``--task-preset``/``--task-set``).
    """

    version: ClassVar[str] = "1"
    default_preset: ClassVar[str | None] = "quick"

    def variant(self) -> dict[str, Any]:
        """JSON-able identity of the protocol (folds, classifier, arms...)."""
        return {}

    @abstractmethod
    def run(self, data: ImageSet, train_generator: Any, *, seed: int) -> list[TaskScore]:
        """Run the experiment.

        ``train_generator(train: ImageSet, tag: str) -> Generator`` fits (or loads from a
        cache keyed by ``tag``) a generator configured as in the current run.
        """

    def fit_plan(
        self, data: ImageSet, capabilities: Capabilities, *, seed: int
    ) -> list[FitUnit] | None:
        """Every ``train_generator`` call :meth:`run` will make on ``data`` with ``seed``
        for a generator of these ``capabilities``, in order, without fitting anything.

        ``None`` (the default): the task does not say, and its fits happen inside ``run``.
        A plan must be exactly what ``run`` asks for (the task conformance suite checks
        it); ``usbench sweep`` runs each planned fit as a job of its own beforehand.
        """
        return None
