"""Benchmark: the usbench metric suite vs the reference tools used as their READMEs show.

Scores N generated vs N real 256×256 images (phantom + noise; the numbers themselves are
meaningless, only the seconds matter) with FID (pool3, pool1, pool2), KID, SIFID (both
layers), LPIPS (paired and diversity) and CW-SSIM, then does the same work with:

* pytorch-fid on two PNG folders, once per ``--dims`` (64, 192, 2048), KID not available;
* a per-pair SIFID loop in SinGAN's style (one Inception call per image and layer,
  ``np.cov`` and ``scipy.linalg.sqrtm`` per pair);
* an ``lpips.LPIPS`` forward per pair (N paired + N(N-1)/2 diversity pairs);
* a per-pair dtcwt CW-SSIM loop with ``scipy.ndimage.uniform_filter`` windows.

usbench runs twice: cold (reference features computed) and warm (reference features read
from the cache, as when a second generator is scored against the same data). FID weights
are the real converted ones; the LPIPS backbone is seeded random on both sides (same cost).

    python bench/metrics.py [--n 64] [--size 256] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _metric_fixtures import imageset, phantom_images, write_pngs  # noqa: E402


def _timed(label: str, fn, timings: dict) -> object:
    start = time.perf_counter()
    out = fn()
    timings[label] = time.perf_counter() - start
    print(f"  {label:<34} {timings[label]:8.1f} s", flush=True)
    return out


def usbench_suite(gen: torch.Tensor, real: torch.Tensor, lpips_backbone: dict) -> dict:
    """Every usbench metric once; returns the values."""
    from usbench.metrics._lib import features
    from usbench.metrics.perceptual import LPIPS, build_lpips
    from usbench.plugins import resolve_list
    from usbench.protocols import EvalInputs
    from usbench.samples import SampleBatch

    features.clear_memory()  # generated features are per run; the disk cache persists
    train = imageset(real)
    inputs = EvalInputs(SampleBatch(gen, sources=train.names), train)
    model = build_lpips("alex", lpips_backbone)
    selectors = "fid,fid:layer=pool1,fid:layer=pool2,kid,sifid,sifid:layer=pool2,cw-ssim-dtcwt"
    metrics = {spec.selector: spec.build() for spec in resolve_list("metrics", selectors)}
    for mode in ("paired", "diversity"):  # seeded random backbone, as the reference gets
        metrics[f"lpips:mode={mode}"] = LPIPS(LPIPS.Config(mode=mode), model=model)
    values = {}
    for name, metric in metrics.items():
        start = time.perf_counter()
        values[name] = metric.compute(inputs).value
        print(f"    {name:<32} {time.perf_counter() - start:8.1f} s", flush=True)
    return values


def reference_fid(gen_dir: Path, real_dir: Path) -> dict:
    """pytorch-fid as its README runs it, one call per feature dimension."""
    from pytorch_fid import fid_score

    out = {}
    for dims in (2048, 64, 192):
        try:
            out[dims] = fid_score.calculate_fid_given_paths(
                [str(gen_dir), str(real_dir)], 50, "cpu", dims, num_workers=0
            )
        except ValueError as err:  # sqrtm of a singular covariance (N < dims) may fail
            print(f"    pytorch-fid dims={dims}: {err}")
            out[dims] = float("nan")
    return out


def reference_sifid(gen: torch.Tensor, real: torch.Tensor) -> dict:
    """SinGAN-style loop: per pair and layer, one Inception call per image, sqrtm."""
    import scipy.linalg
    from pytorch_fid.inception import InceptionV3

    out = {}
    for dims in (64, 192):
        model = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[dims]], resize_input=False).eval()
        values = []
        for g, r in zip(gen, real, strict=True):
            stats = []
            for img in (g, r):
                with torch.no_grad():
                    act = model(img[None].expand(-1, 3, -1, -1))[0][0]
                act = act.double().numpy().reshape(act.shape[0], -1).T
                stats.append((act.mean(0), np.cov(act, rowvar=False)))
            (m1, s1), (m2, s2) = stats
            covmean = scipy.linalg.sqrtm(s1 @ s2).real
            values.append(((m1 - m2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))
        out[dims] = float(np.mean(values))
    return out


def reference_lpips(gen: torch.Tensor, real: torch.Tensor, backbone: dict) -> dict:
    """lpips.LPIPS forward per pair: N paired pairs and all N(N-1)/2 diversity pairs."""
    import lpips

    from usbench.metrics.perceptual import build_lpips

    model = lpips.LPIPS(pretrained=True, net="alex", pnet_rand=True, verbose=False).eval()
    model.net.load_state_dict(build_lpips("alex", backbone).net.state_dict())
    rgb_g, rgb_r = gen.expand(-1, 3, -1, -1), real.expand(-1, 3, -1, -1)
    with torch.no_grad():
        paired = [
            float(model(rgb_g[i : i + 1], rgb_r[i : i + 1], normalize=True))
            for i in range(len(gen))
        ]
        diversity = [
            float(model(rgb_g[i : i + 1], rgb_g[j : j + 1], normalize=True))
            for i in range(len(gen))
            for j in range(i + 1, len(gen))
        ]
    return {"paired": float(np.mean(paired)), "diversity": float(np.mean(diversity))}


def reference_cw_ssim(gen: torch.Tensor, real: torch.Tensor) -> float:
    """Per-pair dtcwt CW-SSIM with scipy windows (the definition of cw-ssim:transform=dtcwt)."""
    from scipy.ndimage import uniform_filter

    from usbench.metrics._lib.dtcwt_compat import load_dtcwt

    transform = load_dtcwt().Transform2d(biort="near_sym_a", qshift="qshift_a")
    scores = []
    for g, r in zip(gen[:, 0].double().numpy(), real[:, 0].double().numpy(), strict=True):
        hg, hr = (
            transform.forward(g, nlevels=4).highpasses,
            transform.forward(r, nlevels=4).highpasses,
        )
        per_level = []
        for cx, cy in zip(hg, hr, strict=True):
            per_o = []
            for o in range(6):
                a, b = cx[..., o], cy[..., o]
                cross = a * np.conj(b)

                def wsum(z):
                    return uniform_filter(z, 7, mode="constant")[3:-3, 3:-3] * 49

                num = 2 * np.abs(wsum(cross.real) + 1j * wsum(cross.imag)) + 1e-6
                den = wsum(np.abs(a) ** 2) + wsum(np.abs(b) ** 2) + 1e-6
                per_o.append((num / den).mean())
            per_level.append(np.mean(per_o))
        scores.append(np.mean(per_level))
    return float(np.mean(scores))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="usbench-bench-"))
    os.environ.setdefault("USBENCH_CACHE", str(work / "cache"))
    os.environ["HF_HUB_OFFLINE"] = "1"

    from usbench import weights

    weights.fetch("fid-inception", allow_download=False)
    import torchvision
    from pytorch_fid import inception as pf
    from safetensors.torch import load_file

    fid_state = load_file(str(weights.resolve("fid-inception")))
    fid_state["fc.weight"] = torch.zeros(1008, 2048)
    fid_state["fc.bias"] = torch.zeros(1008)
    pf.load_state_dict_from_url = lambda *a, **k: fid_state  # same real weights, no download
    torch.manual_seed(0)
    backbone = torchvision.models.alexnet(weights=None).state_dict()

    real = phantom_images(args.n, size=args.size, seed=1)
    noise = 0.05 * torch.randn(real.shape, generator=torch.Generator().manual_seed(2))
    gen = (phantom_images(args.n, size=args.size, seed=1).roll(3, dims=-1) + noise).clamp(0, 1)
    gen_dir, real_dir = write_pngs(gen, work / "gen"), write_pngs(real, work / "real")
    print(
        f"{args.n} generated vs {args.n} real, {args.size}×{args.size}, "
        f"{torch.get_num_threads()} threads"
    )

    t: dict[str, float] = {}
    print("usbench")
    cold = _timed("suite, cold cache", lambda: usbench_suite(gen, real, backbone), t)
    _timed("suite, warm reference cache", lambda: usbench_suite(gen, real, backbone), t)
    print("reference tools")
    fid = _timed("pytorch-fid ×3 dims (folders)", lambda: reference_fid(gen_dir, real_dir), t)
    sif = _timed("SIFID per-pair loop ×2 layers", lambda: reference_sifid(gen, real), t)
    lp = _timed("lpips pair loop (paired+div.)", lambda: reference_lpips(gen, real, backbone), t)
    cw = _timed("dtcwt CW-SSIM loop", lambda: reference_cw_ssim(gen, real), t)
    ref_total = sum(t[k] for k in t if not k.startswith("suite"))
    cold_s, warm_s = t["suite, cold cache"], t["suite, warm reference cache"]
    print(
        f"reference total {ref_total:.1f} s; usbench cold {cold_s:.1f} s "
        f"(×{ref_total / cold_s:.1f}), warm {warm_s:.1f} s (×{ref_total / warm_s:.1f})"
    )
    print("agreement: usbench vs reference")
    for name, ref in (
        ("fid", fid[2048]),
        ("fid:layer=pool1", fid[64]),
        ("fid:layer=pool2", fid[192]),
        ("sifid", sif[64]),
        ("sifid:layer=pool2", sif[192]),
        ("lpips:mode=paired", lp["paired"]),
        ("lpips:mode=diversity", lp["diversity"]),
        ("cw-ssim:transform=dtcwt", cw),
    ):
        print(f"  {name:<20} {cold[name]:12.5f} {ref:12.5f}")
    print(f"  kid                  {cold['kid']:12.5f}   (no reference tool)")


if __name__ == "__main__":
    main()
