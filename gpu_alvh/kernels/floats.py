"""Precision helpers for per-path code written once for float32 and float64.

Numba types a float literal as float64 and promotes ``float32 op float64`` to float64, so a literal
in float32 code silently turns the rest of the expression into double precision.  Per-path code
therefore takes its precision from its state and converts constants and record fields explicitly:

* ``like(ref, value)`` - ``value`` converted to the float type of ``ref`` (a float scalar or an
  array of floats): ``float32`` when ``ref`` is float32, else ``float64``.  Compiled, it is a
  conversion instruction (or nothing); a constant argument is folded by LLVM.
* ``single(ref)`` - True when ``ref`` is float32 (a compile-time constant once compiled, so the
  branch it guards is removed), for the few places where the float32 form uses another formula.
* ``fmax(a, b)`` - ``b`` if ``b > a`` else ``a``: NaN in ``a`` propagates (like ``numpy.maximum``
  for the floors of the schemes) on every target, where the builtin ``max`` depends on the order of
  its arguments.

Decorators of the per-path functions (both with IEEE division, ``error_model="numpy"``: a division
by zero gives inf / NaN, as in CUDA and NumPy, never an exception inside a kernel; and without
reference counts, ``_nrt=False``: per-path code must not allocate arrays - the entries do):

* :data:`jitable` - ``register_jitable`` for every target;
* :func:`jitable_inline` - inlined at the Numba IR level on the CPU, where LLVM keeps the calls
  of the per-step chain (each costs more than a step's arithmetic), and an ordinary device
  function on CUDA (NVVM inlines; numba-cuda's IR inliner does not handle these bodies).

In Python (the CUDA simulator) the same functions act on NumPy scalars.
"""

from __future__ import annotations

import numpy as np
from numba import types
from numba.core.target_extension import current_target
from numba.extending import overload, register_jitable

__all__ = ["like", "single", "fmax", "jitable", "jitable_inline"]

#: IEEE division, and no reference counting (``_nrt=False``): per-path code never allocates or keeps an
#: array - the kernel entries (:mod:`gpu_alvh.kernels.templates`) own every array for the whole launch -
#: so the counts would only cost: on the CPU every array passed on or taken out of a tuple is two atomic
#: updates, ~11% of the book's time when they were on (measured with perf).
_OPTIONS = {"error_model": "numpy", "_nrt": False}
#: ``register_jitable`` with IEEE division and no reference counts.
jitable = register_jitable(**_OPTIONS)


def jitable_inline(fn):
    """``fn`` for every target, inlined into its callers on the CPU (see the module docstring).

    Two overloads, each answering only while its target compiles (numba-cuda compiles under
    ``target_override("cuda")``): the inlining one must never be tried by a CUDA compilation."""

    def only(target):
        return lambda *args, **kwargs: fn if current_target() == target else None

    overload(fn, inline="always", jit_options=_OPTIONS, strict=False)(only("cpu"))
    overload(fn, jit_options=_OPTIONS, strict=False)(only("cuda"))
    return fn


def _dtype(ref):
    dt = getattr(ref, "dtype", None)
    return np.dtype(np.float64) if dt is None else np.dtype(dt)


def like(ref, value):
    """``value`` as the float type of ``ref`` (Python: NumPy scalars)."""
    return np.float32(value) if _dtype(ref) == np.float32 else np.float64(value)


def single(ref):
    """True when ``ref`` (a float or an array of floats) is float32."""
    return _dtype(ref) == np.float32


def _is_f32(ref) -> bool:
    ty = ref.dtype if isinstance(ref, types.Array) else ref
    return ty == types.float32


@overload(like)
def _like(ref, value):
    if _is_f32(ref):
        return lambda ref, value: np.float32(value)
    return lambda ref, value: np.float64(value)


@overload(single)
def _single(ref):
    if _is_f32(ref):
        return lambda ref: True
    return lambda ref: False


@jitable
def fmax(a, b):
    """``max(a, b)`` that keeps a NaN in ``a``."""
    return b if b > a else a
