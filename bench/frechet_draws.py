"""Benchmark: one subsample draw of FID's interval on the ``d×d`` route.

FID's 95 % interval is 200 Fréchet distances between half of the generated features and
the whole real set. Above ``n₁·n₂ > d²`` each is computed from ``d×d`` covariances, and a
draw costs a scatter of its rows plus the trace term ``tr (Σx Σy)^{1/2}``. Three ways of
computing one draw, interleaved round by round on the same rows in one process:

``root per draw``
    ``Σx^{1/2}`` of the draw by ``eigh`` (with vectors), then the eigenvalues of
    ``Σx^{1/2} Σy Σx^{1/2}`` — the route before the reference's root was kept.
``reference root``
    :func:`usbench.metrics._lib.frechet.frechet_distance` against a
    :class:`~usbench.metrics._lib.frechet.Reference` whose ``Σy^{1/2}`` is computed once
    (its cost printed apart): per draw only ``eigvalsh`` of ``Σy^{1/2} Σx Σy^{1/2}``.
``pytorch-fid``
    the reference tool: ``np.cov`` of the draw and ``calculate_frechet_distance`` (scipy's
    ``sqrtm`` of ``Σx Σy``).

Synthetic Gaussian features with a decaying spectrum (no network): only the algebra is
timed. Prints the median seconds per draw, the ratio to ``root per draw`` and to
pytorch-fid, and the three values (they agree to round-off).

    python bench/frechet_draws.py [--n 4000] [--d 2048] [--rounds 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def _features(n: int, d: int, seed: int, shift: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scale = 1.0 / np.sqrt(1.0 + np.arange(d))  # a decaying spectrum, like pool3's
    return rng.normal(size=(n, d)) * scale + shift


def _root_per_draw(x: np.ndarray, y) -> float:
    from usbench.metrics._lib.frechet import Reference, _psd_product_eigenvalues, psd_root

    xr = Reference(x)
    n1, n2 = len(xr), len(y)
    eig = _psd_product_eigenvalues(psd_root(xr.scatter / (n1 - 1)), y.scatter / (n2 - 1))
    trace_sqrt = float(np.sqrt(np.clip(eig, 0.0, None)).sum())
    diff = xr.mu - y.mu
    return float(
        diff @ diff + xr.sum_of_squares / (n1 - 1) + y.sum_of_squares / (n2 - 1) - 2 * trace_sqrt
    )


def _pytorch_fid(x: np.ndarray, y_moments: tuple[np.ndarray, np.ndarray]) -> float:
    from pytorch_fid.fid_score import calculate_frechet_distance

    return float(calculate_frechet_distance(x.mean(0), np.cov(x, rowvar=False), *y_moments))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="example:\n  python bench/frechet_draws.py --n 4000 --rounds 3",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--n", type=int, default=4000, help="generated = real set size")
    parser.add_argument("--d", type=int, default=2048, help="feature width (pool3: 2048)")
    parser.add_argument("--rounds", type=int, default=3, help="draws timed per method")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads")
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    from usbench.metrics._lib.frechet import Reference, frechet_distance

    if (args.n // 2) * args.n <= args.d * args.d:
        parser.error(f"n={args.n} draws take the n₁×n₂ route; use n > {2 * args.d * args.d}**0.5")
    with threadpool_limits(args.threads):
        gen, real = _features(args.n, args.d, 0, 0.0), _features(args.n, args.d, 1, 0.05)
        reference = Reference(real)
        t = time.perf_counter()
        _ = reference.scatter, reference.covariance_root
        once = time.perf_counter() - t
        y_moments = (real.mean(0), np.cov(real, rowvar=False))
        methods = {
            "root per draw": lambda x: _root_per_draw(x, reference),
            "reference root": lambda x: frechet_distance(x, reference),
            "pytorch-fid": lambda x: _pytorch_fid(x, y_moments),
        }
        rng = np.random.default_rng(2)
        seconds: dict[str, list[float]] = {name: [] for name in methods}
        for r in range(args.rounds):
            draw = gen[np.sort(rng.permutation(args.n)[: args.n // 2])]
            values = {}
            for name, method in methods.items():
                t = time.perf_counter()
                values[name] = method(draw)
                seconds[name].append(time.perf_counter() - t)
            shown = ", ".join(f"{k} {v:.10g}" for k, v in values.items())
            print(f"round {r}: {shown}", flush=True)
    print(f"\nn={args.n} (draws of {args.n // 2}), d={args.d}, {args.threads} BLAS thread(s)")
    print(f"reference scatter + root, once: {once:.2f} s")
    base, tool = (statistics.median(seconds[k]) for k in ("root per draw", "pytorch-fid"))
    print(f"{'method':<16} {'median s/draw':>14} {'× root per draw':>16} {'× pytorch-fid':>14}")
    for name, times in seconds.items():
        med = statistics.median(times)
        print(f"{name:<16} {med:>14.2f} {base / med:>16.2f} {tool / med:>14.2f}")


if __name__ == "__main__":
    main()
