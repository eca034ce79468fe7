"""The thin target layer: the few operations whose code differs between CPU, CUDA and the simulator.

``scatter_add(out, i, j, value)`` adds ``value`` to a shared output ``out[., i, j]`` written by many
paths at once (daily band histograms, greek sums):

* CPU (``prange`` has no atomics): ``out`` is ``[n_threads, I, J]`` and each thread adds into its own
  copy ``out[numba.get_thread_id(), i, j]``; the copies are summed on the host after the launch;
* CUDA: ``out`` is ``[1, I, J]`` and the add is ``cuda.atomic.add`` (registered by :func:`register_cuda`
  when a CUDA kernel is first compiled, so that a CPU process never imports Numba's CUDA target, ~0.7 s);
* Python (the CUDA simulator, traces): ``out[0, i, j] += value`` under a lock (simulated threads are
  Python threads).

:func:`n_copies` gives the leading dimension a target needs.
"""

from __future__ import annotations

import threading
from functools import lru_cache

import numba
from numba.extending import overload

__all__ = ["scatter_add", "n_copies", "register_cuda"]

_LOCK = threading.Lock()


def scatter_add(out, i, j, value):
    """Python fallback (simulator and pure-Python runs): ``out[0, i, j] += value``, serialised."""
    with _LOCK:
        out[0, i, j] += value


@overload(scatter_add, target="cpu")
def _scatter_add_cpu(out, i, j, value):
    def impl(out, i, j, value):
        out[numba.get_thread_id(), i, j] += value

    return impl


@lru_cache(maxsize=1)
def register_cuda() -> None:
    """Register the CUDA form of :func:`scatter_add` (imports ``numba.cuda``; once per process)."""
    from numba import cuda

    @overload(scatter_add, target="cuda")
    def _scatter_add_cuda(out, i, j, value):
        def impl(out, i, j, value):
            cuda.atomic.add(out, (0, i, j), value)

        return impl


def n_copies(target: str) -> int:
    """Leading dimension of scatter-add outputs for ``target`` (``"cpu"``, ``"cuda"``, ``"cudasim"``)."""
    return int(numba.get_num_threads()) if target == "cpu" else 1
