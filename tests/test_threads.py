"""A process's thread pools are capped together: torch's, the BLAS libraries' and
OpenMP's, also for libraries loaded inside the capped body and in sweep jobs."""

import json
import os
import subprocess
import sys

import torch
from threadpoolctl import threadpool_info

from usbench.sweep.jobs import recording_failure
from usbench.sweep.units import UnitFolder
from usbench.threads import THREAD_VARIABLES, limited_threads


def _largest_pool() -> int:
    return max(pool["num_threads"] for pool in threadpool_info())


def test_every_loaded_pool_is_capped_and_restored(monkeypatch):
    import scipy.linalg  # noqa: F401  (scipy's own OpenBLAS, beside numpy's)

    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    before = [(p["filepath"], p["num_threads"]) for p in threadpool_info()]
    torch_before = torch.get_num_threads()
    with limited_threads(1):
        assert _largest_pool() == 1 and torch.get_num_threads() == 1
        assert all(os.environ[name] == "1" for name in THREAD_VARIABLES)
    assert [(p["filepath"], p["num_threads"]) for p in threadpool_info()] == before
    assert torch.get_num_threads() == torch_before
    assert os.environ["OMP_NUM_THREADS"] == "3" and "OPENBLAS_NUM_THREADS" not in os.environ


def test_a_library_loaded_inside_the_body_is_capped_too():
    # scipy's OpenBLAS is loaded only after the cap, so only the variables can reach it
    code = (
        "import json, numpy, torch\n"
        "from threadpoolctl import threadpool_info\n"
        "from usbench.threads import limited_threads\n"
        "def scipy_threads():\n"
        "    import scipy.linalg\n"
        "    return [p['num_threads'] for p in threadpool_info() if 'scipy' in p['filepath']]\n"
        "if __import__('sys').argv[1] == 'capped':\n"
        "    with limited_threads(1):\n"
        "        print(json.dumps(scipy_threads()))\n"
        "else:\n"
        "    print(json.dumps(scipy_threads()))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}

    def pools(mode: str) -> list[int]:
        out = subprocess.run(
            [sys.executable, "-c", code, mode], env=env, capture_output=True, text=True, check=True
        )
        return json.loads(out.stdout.strip().splitlines()[-1])

    capped = pools("capped")
    assert capped and all(n == 1 for n in capped)
    if (os.cpu_count() or 1) > 1:  # without the cap the same library starts one per core
        assert max(pools("free")) > 1


def test_a_sweep_job_runs_with_its_cpus_as_threads(tmp_path):
    import scipy.linalg  # noqa: F401

    with recording_failure(UnitFolder(tmp_path), 1) as _job:
        assert _largest_pool() == 1 and torch.get_num_threads() == 1
