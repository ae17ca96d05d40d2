"""LPIPS (Zhang et al. 2018, ``lpips`` package, v0.1 linear layers) in two modes.

* ``lpips`` (``mode=diversity``, seed 000's "LPIPS ↑"): mean pairwise LPIPS among samples
  that share a source image (or, without sources, a label; else all samples form one
  group).
* ``lpips:mode=paired`` (seed 002's "LPIPS ↓"): each sample against its real counterpart
  (:func:`usbench.metrics._lib.pairing.pair_with_real`).

Grayscale is replicated to 3 channels, ``[0,1]`` mapped to ``[-1,1]`` and then lpips'
own scaling layer applied; no resize. Each image's unit-normalised backbone features are
computed once; a pair's distance is ``Σ_l mean_hw Σ_c w_lc (f_i - f_j)²`` expanded as
``‖f_i‖²_w + ‖f_j‖²_w - 2⟨f_i, f_j⟩_w`` so all pairs of a group come from one weighted
Gram matrix (float64), not from O(n²) network passes.

Weights: the linear layers ship inside the ``lpips`` wheel (loaded with
``weights_only=True``); the backbone is torchvision's ImageNet AlexNet/VGG16 from the
weights cache (``usbench weights fetch alexnet-imagenet``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import nn

from usbench.data import resident_pages
from usbench.metrics._lib.pairing import pair_with_real
from usbench.protocols import EvalInputs, Metric, MetricKind, MetricResult

BACKBONE_WEIGHTS = {"alex": "alexnet-imagenet", "vgg": "vgg16-imagenet"}


def build_lpips(net: str, backbone: dict[str, torch.Tensor] | None = None) -> nn.Module:
    """An ``lpips.LPIPS`` (v0.1) with shipped linear layers and the given backbone.

    ``backbone`` is a torchvision ``features.*`` state dict (AlexNet or VGG16); ``None``
    loads the real ImageNet weights from the weights cache.
    """
    import lpips

    from usbench import weights

    with warnings.catch_warnings():  # lpips still calls torchvision's old `pretrained=` API
        warnings.filterwarnings("ignore", category=UserWarning, module="torchvision")
        model = lpips.LPIPS(pretrained=False, net=net, pnet_rand=True, verbose=False)
    lin_path = Path(lpips.__file__).parent / "weights" / "v0.1" / f"{net}.pth"
    model.load_state_dict(torch.load(lin_path, map_location="cpu", weights_only=True), strict=False)
    if backbone is None:
        backbone = weights.load_state_dict(BACKBONE_WEIGHTS[net])
    model.net.load_state_dict(_slice_state(model.net, backbone), strict=True)
    return model.eval()


def _slice_state(pnet: nn.Module, tv_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map torchvision ``features.<i>.*`` keys onto lpips' ``slice<k>.<i>.*`` keys."""
    out = {}
    for key in pnet.state_dict():
        _, index, param = key.split(".")
        out[key] = tv_state[f"features.{index}.{param}"]
    return out


class LPIPSFeatures:
    """Unit-normalised backbone features of images, and LPIPS distances between them."""

    def __init__(self, model: nn.Module, batch_size: int = 16) -> None:
        self.model = model
        self.batch_size = batch_size
        self.lin_weights = [_lin_conv(lin).weight.detach().flatten().double() for lin in model.lins]

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """``N×1×H×W`` [0,1] → per layer ``N×C×h×w`` unit-normalised features (float64)."""
        import lpips

        layers: list[list[torch.Tensor]] = [[] for _ in self.lin_weights]
        for batch in resident_pages.batches(images, self.batch_size):
            x = 2.0 * batch.expand(-1, 3, -1, -1) - 1.0
            outs = self.model.net(self.model.scaling_layer(x))
            for k, out in enumerate(outs):
                layers[k].append(lpips.normalize_tensor(out).double())
        return [torch.cat(parts) for parts in layers]

    def paired(self, a: list[torch.Tensor], b: list[torch.Tensor]) -> np.ndarray:
        """LPIPS between row ``i`` of ``a`` and row ``i`` of ``b`` → ``N`` float64."""
        total = 0.0
        for fa, fb, w in zip(a, b, self.lin_weights, strict=True):
            diff = (fa - fb) ** 2
            total = total + (diff * w.view(1, -1, 1, 1)).sum(1).mean((1, 2))
        return total.numpy()

    def pairwise(self, feats: list[torch.Tensor]) -> np.ndarray:
        """All-pairs LPIPS ``N×N`` (symmetric, zero diagonal) from one Gram per layer."""
        n = feats[0].shape[0]
        total = torch.zeros(n, n, dtype=torch.float64)
        for f, w in zip(feats, self.lin_weights, strict=True):
            hw = f.shape[2] * f.shape[3]
            flat = f.flatten(2)  # N × C × hw
            weighted = (flat * w.view(1, -1, 1)).flatten(1)
            gram = weighted @ flat.flatten(1).T
            sq = gram.diagonal()
            total += (sq[:, None] + sq[None, :] - 2.0 * gram) / hw
        total.fill_diagonal_(0.0)
        return total.clamp_min(0.0).numpy()


def _lin_conv(lin: nn.Module) -> nn.Conv2d:
    return next(m for m in lin.modules() if isinstance(m, nn.Conv2d))


@dataclass(frozen=True)
class LPIPSConfig:
    """Settings of ``lpips``.

    mode: diversity (mean pairwise LPIPS among samples of one source/label group; seed
        000's "LPIPS ↑") or paired (each sample against its real counterpart; seed 002's
        "LPIPS ↓").
    net: the backbone: alex (lpips' default) or vgg (≈25× slower on CPU).
    batch_size: images per network pass (does not change the value) [>= 1].
    """

    mode: Literal["diversity", "paired"] = "diversity"
    net: Literal["alex", "vgg"] = "alex"
    batch_size: int = 16
    not_identity: ClassVar[tuple[str, ...]] = ("batch_size",)


class LPIPS(Metric):
    """LPIPS in ``mode=diversity`` (higher = more diverse) or ``mode=paired`` (lower = closer).

    Diversity: ``per_sample`` holds every within-group pair's distance and ``n`` is the
    number of pairs. Paired: one value per generated image. ``model``: an
    ``lpips.LPIPS`` with injected (test) weights instead of the real ones.
    """

    name: ClassVar[str] = "lpips"
    value_range: ClassVar[tuple[float | None, float | None]] = (0.0, None)
    Config: ClassVar[type] = LPIPSConfig

    def __init__(self, config: LPIPSConfig | None = None, *, model: nn.Module | None = None):
        super().__init__(config)
        paired = self.config.mode == "paired"
        self.kind = MetricKind.PAIRED if paired else MetricKind.DIVERSITY
        self.higher_is_better = not paired
        self.weights = (BACKBONE_WEIGHTS[self.config.net],)
        self._injected = model
        self._features: LPIPSFeatures | None = None

    def lpips_features(self) -> LPIPSFeatures:
        """The feature computer (real weights loaded on first use)."""
        if self._features is None:
            net = self.config.net
            model = self._injected if self._injected is not None else build_lpips(net)
            self._features = LPIPSFeatures(model, self.config.batch_size)
        return self._features

    def variant(self) -> dict[str, Any]:
        from usbench import weights

        backbone = "injected"
        if self._injected is None:
            backbone = weights.verify(BACKBONE_WEIGHTS[self.config.net]).sha256 or "missing"
        rule = {
            "diversity": ("groups", "source, else label, else all samples"),
            "paired": ("pairing", "source, else nearest-train (pixel L2)"),
        }[self.config.mode]
        return {
            "package": "lpips",
            "version": "0.1",
            "net": self.config.net,
            "backbone_sha256": backbone,
            "preprocessing": "gray→RGB by replication; 2x-1; lpips scaling layer; no resize",
            rule[0]: rule[1],
        }

    def compute(self, inputs: EvalInputs) -> MetricResult:
        if self.config.mode == "paired":
            return self._paired(inputs)
        return self._diversity(inputs)

    def _diversity(self, inputs: EvalInputs) -> MetricResult:
        groups, grouping = sample_groups(inputs)
        lf = self.lpips_features()
        values = []
        for idx in groups:
            if len(idx) < 2:
                continue
            feats = lf.features(inputs.generated.images[idx])
            dist = lf.pairwise(feats)
            values.append(dist[np.triu_indices(len(idx), k=1)])
        if not values:
            raise ValueError("LPIPS diversity needs at least two samples in one group")
        details = {"grouping": grouping, "groups": len(values), "per_sample": "pairs"}
        return MetricResult.of_samples(np.concatenate(values), seed=inputs.seed, details=details)

    def _paired(self, inputs: EvalInputs) -> MetricResult:
        real, pairing = pair_with_real(inputs)
        lf = self.lpips_features()
        values = lf.paired(lf.features(inputs.generated.images), lf.features(real))
        return MetricResult.of_samples(values, seed=inputs.seed, details={"pairing": pairing})


def sample_groups(inputs: EvalInputs) -> tuple[list[np.ndarray], str]:
    """Indices of samples grouped by source, else label, else one group; and the rule.

    A rule is used only if some group holds two or more samples (a source-guided
    generator that drew one sample per source falls through to labels, then to all).
    """
    gen = inputs.generated
    candidates: list[tuple[list[Any], str]] = []
    if gen.sources is not None:
        candidates.append((list(gen.sources), "source"))
    if gen.labels is not None:
        candidates.append((gen.labels.tolist(), "label"))
    candidates.append(([0] * len(gen), "all"))
    for keys, rule in candidates:
        order: dict[Any, list[int]] = {}
        for i, key in enumerate(keys):
            order.setdefault(key, []).append(i)
        if any(len(v) > 1 for v in order.values()):
            return [np.array(v) for v in order.values()], rule
    return [np.arange(len(gen))], "all"
