"""Benchmark: wall time and peak memory of evaluation and data loading as N grows.

Three parts, each measured in a child process of its own (so each peak is its own):

``suite``
    The metric suite that needs no unavailable weights — fid, kid, fd-inf, relative-fd,
    prdc, vendi, authenticity, data-copying and memorization — on N synthetic 64 px
    generated images vs N real ones (plus N/4 held-out), all memory-mapped from ``.npy``
    files as a ``folder:...,cache=memmap`` dataset is. ``--features inception`` runs the
    real FID Inception over every image (about 1 image/s on a loaded 2-core CPU, so only
    small N are practical); ``--features projection`` (default) replaces the Inception
    pass by a fixed random projection of 8×8-pooled pixels to the same 64/192/2048 widths,
    streamed in batches and memoised like the real features: it measures everything that
    grows with N after the network (statistics, k-NN search, the feature memo, image
    hashing and streaming). The network's own cost is linear in N and is the
    ``throughput`` part. These scores are timing fixtures, never results.
``throughput``
    Inception feature extraction (:func:`usbench.metrics._lib.features.extract`, with
    preprocessing, layer reduction and the float64 copy) vs a bare ``torch.no_grad()`` loop
    over the same network, batch size and already-preprocessed inputs, interleaved in one
    process; images per second of each and their ratio.
``folder``
    Writes N 64 px PNGs once (two class folders), then loads them as
    ``folder:DIR,cache=memmap`` (first load decodes into the cache, second maps it), splits
    by patient as ``usbench run`` does and trains the ``smoke`` ddpm a few steps at 64 px.

Each child runs with ``--threads`` threads in every thread pool (torch, numpy's and scipy's
BLAS, OpenMP; default 1), so a busy second core cannot make BLAS threads wait on each other
(that cost FID 7× at N = 1000, bench/RESULTS.md) and figures from different machines and
loads compare. Peak RSS is the child's ``ru_maxrss`` (includes file pages of memory maps it touched,
which the OS can drop); peak anonymous memory (``RssAnon``, what cannot be dropped) is
polled from ``/proc`` every 50 ms.

    nice -n 10 python bench/scale.py suite --n 1000 5000 20000
    nice -n 10 python bench/scale.py throughput --n 48 --batch-size 16
    nice -n 10 python bench/scale.py folder --n 100000 --dir /tmp/frames100k
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from usbench.threads import THREAD_VARIABLES

SIZE = 64
SUITE = "fid,kid,fd-inf,relative-fd,prdc,vendi,authenticity,data-copying,memorization"


def synthetic_frames(n: int, seed: int, path: Path, *, brightness: float = 0.3) -> Path:
    """``n×1×64×64`` float32 speckle frames (Rayleigh speckle, depth ramp, fan mask, bright
    line), 8-bit quantised, written in chunks to a ``.npy`` file; returns its path."""
    from usbench.metrics._lib.rows import release

    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, 1, SIZE, SIZE))
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    fan = (np.abs(xx - 0.5) < 0.45 - 0.2 * (1 - yy)).astype(np.float32)
    rng = np.random.default_rng(seed)
    for start in range(0, n, 1024):
        m = min(1024, n - start)
        base = brightness + 0.1 * rng.random((m, 1, 1))
        line = 0.2 + 0.2 * rng.random((m, 1, 1))
        img = base * rng.rayleigh(1.0, (m, SIZE, SIZE)) * (1.0 - 0.6 * yy)
        img += 0.5 * np.exp(-(((yy - line) * SIZE / 1.5) ** 2))
        img = np.clip(img * fan, 0, 1)
        out[start : start + m, 0] = np.round(img * 255.0) / 255.0
        out.flush()
        release(out)  # written pages leave the process (they would count in its peak RSS)
    return path


# -- the child processes -----------------------------------------------------------------
def _mapped(path: Path):
    import torch

    return torch.from_numpy(np.load(path, mmap_mode="c"))


def _projection_features():
    """Swap the Inception pass of every set metric for a fixed random projection, streamed
    in batches through the features cache as the real features are; returns the
    projection of a batch (layer → ``b×C`` float64)."""
    import torch

    from usbench.data import resident_pages
    from usbench.metrics._lib import features as feat
    from usbench.metrics.inception import _SetFeatures

    gen = torch.Generator().manual_seed(0)
    weights = {
        k: torch.randn(64, c, generator=gen, dtype=torch.float64) / 8
        for k, c in feat.LAYER_CHANNELS.items()
    }

    def project(batch) -> dict[str, np.ndarray]:
        pooled = torch.nn.functional.adaptive_avg_pool2d(batch, 8).flatten(1).double()
        return {layer: torch.relu(pooled @ w).numpy() for layer, w in weights.items()}

    def batches(self, images):
        for batch in resident_pages.batches(images, 256):
            yield project(batch)

    _SetFeatures._extract = batches
    return batches


def child_suite(n: int, features: str, names: list[str]) -> dict:
    """Score the suite on memory-mapped synthetic sets of ``n``; wall time per metric."""
    import torch

    from usbench.data.imageset import ImageSet
    from usbench.metrics.copying import Authenticity, DataCopying
    from usbench.metrics.frechet_extended import FDInfinity, RelativeFD
    from usbench.metrics.inception import FID, KID
    from usbench.metrics.manifold import PRDCMetric, Vendi
    from usbench.metrics.memorization import InceptionPool3, Memorization
    from usbench.protocols import EvalInputs
    from usbench.samples import SampleBatch

    tmp = Path(tempfile.mkdtemp(prefix="usbench-scale-"))
    os.environ["USBENCH_CACHE"] = str(tmp / "cache")

    def image_set(images, prefix):
        k = len(images)
        return ImageSet(
            images,
            torch.zeros(k, dtype=torch.int64),
            ("x",),
            tuple(f"{prefix}{i}" for i in range(k)),
            tuple(f"{prefix}/{i}" for i in range(k)),
            prefix,
        )

    real = image_set(_mapped(synthetic_frames(n, 1, tmp / "real.npy")), "real")
    held = image_set(_mapped(synthetic_frames(max(8, n // 4), 2, tmp / "held.npy")), "held")
    generated = SampleBatch(_mapped(synthetic_frames(n, 3, tmp / "gen.npy", brightness=0.35)))
    inputs = EvalInputs(generated, real, held, seed=0)
    extractor = InceptionPool3()
    if features == "projection":
        _projection_features()
        extractor = _ProjectionPool3()
    metrics = [
        FID(),
        KID(),
        FDInfinity(),
        RelativeFD(),
        PRDCMetric(),
        Vendi(),
        Authenticity(),
        DataCopying(),
        Memorization(extractors=(extractor,)),
    ]
    metrics = [m for m in metrics if m.name in names]
    seconds, values = {}, {}
    start = time.perf_counter()
    cpu_seconds = {}
    for metric in metrics:
        t, c = time.perf_counter(), time.process_time()
        values[metric.name] = metric.compute(inputs).value
        seconds[metric.name] = round(time.perf_counter() - t, 2)
        cpu_seconds[metric.name] = round(time.process_time() - c, 2)
        done = f"{seconds[metric.name]} s wall, {cpu_seconds[metric.name]} s CPU"
        print(f"  n={n} {metric.name}: {done}", file=sys.stderr, flush=True)
    return {
        "n": n,
        "wall_s": round(time.perf_counter() - start, 1),
        "metric_s": seconds,
        "metric_cpu_s": cpu_seconds,
        "values": values,
    }


class _ProjectionPool3:
    """Memorisation's feature space in ``projection`` mode: the projected pool3 rows, from
    the features cache (the entry the set metrics wrote for the same images)."""

    name = "projection-pool3"

    def variant(self) -> dict:
        return {"extractor": "random projection (bench only)"}

    def __call__(self, images):
        from usbench.metrics.inception import FID

        return FID().image_features(images, on_disk=True)["pool3"]


def child_throughput(n: int, batch_size: int, rounds: int) -> dict:
    """Images/s of ``extract`` and of a bare no-grad loop, interleaved ``rounds`` times."""
    import torch

    from usbench.metrics._lib import features as feat

    net = feat.InceptionFeatures(feat.build_extractor("fid-inception"))
    layers = ("pool1", "pool2", "pool3")
    images = _mapped(synthetic_frames(n, 1, Path(tempfile.mkdtemp()) / "x.npy"))
    ready = [
        feat.preprocess(images[s : s + batch_size], "pytorch-fid") for s in range(0, n, batch_size)
    ]

    def bare() -> None:
        with torch.no_grad():
            for x in ready:
                net(x, layers)

    def streamed() -> None:
        feat.extract(net, images, mode="pytorch-fid", layers=layers, batch_size=batch_size)

    rates: dict[str, list[float]] = {"bare": [], "extract": []}
    for _ in range(rounds):
        for name, run in (("bare", bare), ("extract", streamed)):
            t = time.perf_counter()
            run()
            rates[name].append(n / (time.perf_counter() - t))
    median = {k: float(np.median(v)) for k, v in rates.items()}
    return {
        "n": n,
        "batch_size": batch_size,
        "rounds": rates,
        "median_img_s": median,
        "ratio": median["extract"] / median["bare"],
        "threads": torch.get_num_threads(),
    }


def write_pngs(n: int, folder: Path) -> None:
    """``n`` 64 px PNGs in two class folders (``folder/a``, ``folder/b``), once."""
    from PIL import Image

    if (folder / "done").exists():
        return
    frames = np.load(synthetic_frames(n, 5, folder.parent / f".{folder.name}.npy"), mmap_mode="r")
    for i in range(n):
        cls = folder / ("a" if i % 2 else "b")
        cls.mkdir(parents=True, exist_ok=True)
        Image.fromarray((frames[i, 0] * 255 + 0.5).astype(np.uint8), mode="L").save(
            cls / f"{i:06d}.png"
        )
    (folder.parent / f".{folder.name}.npy").unlink()
    (folder / "done").write_text(str(n))


def child_folder(folder: Path, cache: Path, steps: int, train: bool) -> dict:
    """Load ``folder`` with ``cache=memmap`` (timed) and, if ``train``, fit smoke ddpm."""
    import warnings

    os.environ["USBENCH_CACHE"] = str(cache)
    from usbench.data.open import open_dataset
    from usbench.generators.ddpm import DDPMGenerator
    from usbench.harness import split_by_patient
    from usbench.protocols import FitContext

    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = open_dataset(f"folder:{folder},cache=memmap", image_size=SIZE)
    out = {"n": len(data), "load_s": round(time.perf_counter() - t, 1)}
    if train:
        t = time.perf_counter()
        train_set, _, _ = split_by_patient(data, test_fraction=0.2, seed=0)
        out["split_s"] = round(time.perf_counter() - t, 1)
        generator = DDPMGenerator.from_preset(
            "smoke", {"image_size": str(SIZE), "train.steps": str(steps)}
        )
        t = time.perf_counter()
        generator.fit(train_set, FitContext(workdir=cache / "fit", seed=0, progress=False))
        out.update(n_train=len(train_set), fit_s=round(time.perf_counter() - t, 1), steps=steps)
    return out


# -- the parent: one child per measurement ------------------------------------------------
def measure(args: list[str], threads: int) -> dict:
    """Run ``scale.py _child ARGS`` with ``threads`` threads per pool and return its JSON
    plus peak RSS and RssAnon (MB)."""
    cmd = [sys.executable, __file__, "_child", *args]
    env = {**os.environ, **{name: str(threads) for name in THREAD_VARIABLES}}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    peak_anon = 0
    while proc.poll() is None:
        peak_anon = max(peak_anon, _rss_anon_kb(proc.pid))
        time.sleep(0.05)
    result = json.loads(proc.stdout.read().strip().splitlines()[-1])
    result["peak_anon_mb"] = round(peak_anon / 1024)
    return result


def _rss_anon_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _child(argv: list[str]) -> None:
    import resource

    kind, rest = argv[0], argv[1:]
    if kind == "suite":
        out = child_suite(int(rest[0]), rest[1], rest[2].split(","))
    elif kind == "throughput":
        out = child_throughput(*(int(v) for v in rest))
    else:
        out = child_folder(Path(rest[0]), Path(rest[1]), int(rest[2]), rest[3] == "train")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out["peak_rss_mb"] = round(usage.ru_maxrss / 1024)
    out["cpu_s"] = round(usage.ru_utime + usage.ru_stime, 1)
    print(json.dumps(out))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        return _child(sys.argv[2:])
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="examples:\n  nice -n 10 python bench/scale.py suite --n 1000 5000\n"
        "  nice -n 10 python bench/scale.py throughput --n 48\n"
        "  nice -n 10 python bench/scale.py folder --n 100000 --dir /tmp/frames",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("part", choices=["suite", "throughput", "folder"])
    parser.add_argument(
        "--n",
        type=int,
        nargs="+",
        default=[1000],
        help="set sizes (suite), images (throughput, folder)",
    )
    parser.add_argument("--features", choices=["projection", "inception"], default="projection")
    parser.add_argument("--metrics", default=SUITE, help=f"suite part (default {SUITE})")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", type=Path, help="folder for the PNGs (folder part)")
    parser.add_argument("--steps", type=int, default=3, help="smoke ddpm steps (folder part)")
    parser.add_argument("--threads", type=int, default=1, help="threads per pool in each child")
    args = parser.parse_args()
    print(
        f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs, "
        f"{args.threads} thread(s) per pool",
        flush=True,
    )
    if args.part == "suite":
        for n in args.n:
            print(
                json.dumps(measure(["suite", str(n), args.features, args.metrics], args.threads)),
                flush=True,
            )
    elif args.part == "throughput":
        print(
            json.dumps(
                measure(
                    ["throughput", str(args.n[0]), str(args.batch_size), str(args.rounds)],
                    args.threads,
                )
            ),
            flush=True,
        )
    else:
        folder = args.dir or Path(tempfile.gettempdir()) / f"usbench-frames-{args.n[0]}"
        t = time.perf_counter()
        write_pngs(args.n[0], folder)
        print(json.dumps({"write_pngs_s": round(time.perf_counter() - t, 1)}), flush=True)
        cache = Path(tempfile.mkdtemp(prefix="usbench-scale-cache-"))
        for stage in ("build", "train"):
            print(
                json.dumps(
                    measure(
                        ["folder", str(folder), str(cache), str(args.steps), stage], args.threads
                    )
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
