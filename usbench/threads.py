"""How many threads one process may use, for every thread pool in it.

torch's own pool follows :func:`torch.set_num_threads`, but numpy and scipy each bring their
own OpenBLAS, and scikit-learn and others an OpenMP runtime, which start one thread per core
of the machine whatever torch was told. A sweep job given one CPU next to other jobs then
runs its matrix algebra with as many threads as the machine has cores, on cores that are
busy: measured on 2 cores with another job on the other one, FID's 200 subsample draws at
N = 1000 took 313 s with numpy/scipy at their default 2 threads and 44 s at one
(``bench/RESULTS.md``). :func:`limited_threads` caps all of them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
"""Read by OpenMP, OpenBLAS and MKL when they are loaded (and by child processes)."""


@contextmanager
def limited_threads(threads: int) -> Iterator[None]:
    """Run the body with at most ``threads`` threads in every pool of this process.

    Pools already loaded are capped through ``threadpoolctl`` and torch's through
    :func:`torch.set_num_threads`; libraries loaded later inside the body, and processes it
    starts, read :data:`THREAD_VARIABLES`. Everything is restored on exit.
    """
    import torch
    from threadpoolctl import threadpool_limits

    threads = max(1, int(threads))
    saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    torch_threads = torch.get_num_threads()
    os.environ.update({name: str(threads) for name in THREAD_VARIABLES})
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        torch.set_num_threads(torch_threads)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
