"""The thin target layer: the few operations whose code differs between CPU, CUDA and the simulator.

``scatter_add(out, i, j, value)`` adds ``value`` to a shared output ``out[., i, j]`` written by many
paths at once (greek sums; the band histograms through ``hist_add``):

* CPU (``prange`` has no atomics): ``out`` is ``[n_threads, I, J]`` and each thread adds into its own
  copy ``out[numba.get_thread_id(), i, j]``; the copies are summed on the host after the launch;
* CUDA: ``out`` is ``[1, I, J]`` and the add is ``cuda.atomic.add`` (registered by :func:`register_cuda`
  when a CUDA kernel is first compiled, so that a CPU process never imports Numba's CUDA target, ~0.7 s);
* Python (the CUDA simulator, traces): ``out[0, i, j] += value`` under a lock (simulated threads are
  Python threads).

:func:`n_copies` gives the leading dimension a target needs.

``hist_add(buf, r, d, out, i, j)`` counts one path in histogram bin ``out[., i, j]`` (a day's band of row
``r``).  On the CPU it only notes the bin, ``buf[r, d] = j`` (``buf`` [rows, days] int32, the thread's,
``-1`` where nothing is noted), and ``hist_flush(buf, r, out, i0)`` adds row ``r``'s notes at the end of
the path, ``out[thread, i0 + d, buf[r, d]] += 1``, resetting them: a path's day-close counts land in
~250 rows of a histogram of megabytes, and in one loop their cache misses overlap instead of each
stalling a day close (base book ~7% faster on one thread, the counts the same).  CUDA and Python add at once (an
atomic add / :func:`scatter_add`; ``buf`` is not read) and their ``hist_flush`` does nothing.
"""

from __future__ import annotations

import threading
from functools import lru_cache

import numba
from numba.extending import overload

__all__ = ["scatter_add", "hist_add", "hist_flush", "n_copies", "register_cuda"]

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


def hist_add(buf, r, d, out, i, j):
    """Python fallback: ``out[0, i, j] += 1`` at once (``buf``, ``r``, ``d`` unused)."""
    scatter_add(out, i, j, 1)


def hist_flush(buf, r, out, i0):
    """Python fallback: nothing is noted, nothing to add."""


@overload(hist_add, target="cpu")
def _hist_add_cpu(buf, r, d, out, i, j):
    def impl(buf, r, d, out, i, j):
        buf[r, d] = j

    return impl


@overload(hist_flush, target="cpu")
def _hist_flush_cpu(buf, r, out, i0):
    def impl(buf, r, out, i0):
        tid = numba.get_thread_id()
        for d in range(buf.shape[1]):
            j = buf[r, d]
            if j >= 0:
                out[tid, i0 + d, j] += 1
                buf[r, d] = -1

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

    @overload(hist_add, target="cuda")
    def _hist_add_cuda(buf, r, d, out, i, j):
        def impl(buf, r, d, out, i, j):
            cuda.atomic.add(out, (0, i, j), 1)

        return impl

    @overload(hist_flush, target="cuda")
    def _hist_flush_cuda(buf, r, out, i0):
        def impl(buf, r, out, i0):
            pass

        return impl

    return cuda


def n_copies(target: str) -> int:
    """Leading dimension of scatter-add outputs for ``target`` (``"cpu"``, ``"cuda"``, ``"cudasim"``)."""
    return int(numba.get_num_threads()) if target == "cpu" else 1
