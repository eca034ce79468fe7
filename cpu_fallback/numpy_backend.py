"""The NumPy backend: the CPU fallback of the one engine.

NumPy ufuncs release the GIL, so independent path batches run concurrently on
``workers`` threads (default: the CPUs this process may use).  Override with
the environment variable ``ALVH_CPU_THREADS``.
"""

from __future__ import annotations

import os
import platform

import numpy as np
import scipy
import scipy.special


def cpu_count() -> int:
    """CPUs available to this process (affinity-aware)."""
    env = os.environ.get("ALVH_CPU_THREADS")
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            pass
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def cpu_name() -> str:
    """CPU model name, best effort."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:  # pragma: no cover
        pass
    return platform.processor() or platform.machine() or "cpu"


def make_backend():
    """Build the NumPy :class:`~gpu_alvh.backend.Backend`."""
    from gpu_alvh.backend import Backend

    return Backend(
        name="numpy",
        xp=np,
        special=scipy.special,
        device=f"{cpu_name()} ({cpu_count()} threads)",
        is_gpu=False,
        workers=cpu_count(),
        oom_errors=(MemoryError,),
        versions={"numpy": np.__version__, "scipy": scipy.__version__},
    )
