"""Scalar stencils of :mod:`gpu_alvh.pricing.interp` for the per-path programs.

``axis_weights(x, start, step, n, order)`` is the scalar form of
:func:`gpu_alvh.pricing.interp.axis_weights` on a uniform axis ``x_i = start + i step`` (``i < n``):
the coordinate is clamped to ``[start, stop]`` (a NaN coordinate to ``start``, so that an index stays in
bounds; the caller's NaN still reaches its result through the other inputs), and the stencil is

* ``order = 1``: nodes ``i0, i0 + 1``, weights ``(1 - s, s)`` (returned as ``(1 - s, s, 0, 0)``);
* ``order = 3``: the 4-point Lagrange stencil ``i0 .. i0 + 3``, shifted inward at the edges.

The lookups contract the stencil values in the array version's order (last axis first, ``acc = v0 w0;
acc += v1 w1; ...``), so that with the same coordinates they round exactly like
:func:`gpu_alvh.pricing.interp.interp`.  The gathers live in the lookup functions themselves (see
:mod:`gpu_alvh.kernels.spx` on why per-leg functions must not pass arrays on).
"""

from __future__ import annotations

import math

from numba.extending import register_jitable

__all__ = ["clamp", "axis_weights"]


@register_jitable
def clamp(x, lo, hi):
    """``x`` clamped to ``[lo, hi]``; NaN gives ``lo`` (keeps table indices in bounds)."""
    if not x > lo:
        return lo
    return hi if x > hi else x


@register_jitable
def axis_weights(x, start, step, n, order):
    """``(i0, w0, w1, w2, w3)``: first node and stencil weights of ``x`` (see module doc)."""
    t = clamp((x - start) / step, 0.0, n - 1.0)
    if order == 1:
        i0 = math.floor(t)
        if i0 > n - 2.0:
            i0 = n - 2.0
        s = t - i0
        return int(i0), 1.0 - s, s, 0.0, 0.0
    i0 = math.floor(t) - 1.0
    if i0 > n - 4.0:
        i0 = n - 4.0
    if i0 < 0.0:
        i0 = 0.0
    s = t - i0
    s1, s2, s3 = s - 1.0, s - 2.0, s - 3.0
    return int(i0), -(s1 * s2 * s3) / 6.0, s * s2 * s3 / 2.0, -(s * s1 * s3) / 2.0, s * s1 * s2 / 6.0
