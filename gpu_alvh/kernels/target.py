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


def _numpy_for_numba_cuda() -> None:
    """numba-cuda 0.30.x registers an overload of ``np.row_stack`` when its CUDA target starts, and NumPy 2.5
    removed that alias of ``np.vstack`` (NVIDIA/numba-cuda#907, not to be fixed there: the package is in
    maintenance): every CUDA compilation then fails with ``AttributeError: module 'numpy' has no attribute
    'row_stack'`` (seen on the lent H200's image, NumPy 2.5.2).  Put the alias back before the target starts;
    a NumPy that still has it is left alone."""
    import numpy as np

    if not hasattr(np, "row_stack"):
        np.row_stack = np.vstack


@lru_cache(maxsize=1)
def register_cuda():
    """``numba.cuda``, ready to compile: NumPy made acceptable to numba-cuda (:func:`_numpy_for_numba_cuda`)
    and the CUDA form of :func:`scatter_add` registered.  Once per process; every CUDA compilation of the
    package comes through here."""
    _numpy_for_numba_cuda()
    from numba import cuda

    @overload(scatter_add, target="cuda")
    def _scatter_add_cuda(out, i, j, value):
        def impl(out, i, j, value):
            cuda.atomic.add(out, (0, i, j), value)

        return impl

    return cuda


def n_copies(target: str) -> int:
    """Leading dimension of scatter-add outputs for ``target`` (``"cpu"``, ``"cuda"``, ``"cudasim"``)."""
    return int(numba.get_num_threads()) if target == "cpu" else 1
