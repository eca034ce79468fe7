"""Scalar stencils of :mod:`gpu_alvh.pricing.interp` for the per-path programs.

``axis_weights(x, start, inv_step, n, order)`` is the scalar form of
:func:`gpu_alvh.pricing.interp.axis_weights` on a uniform axis ``x_i = start + i step`` (``i < n``,
``inv_step = 1 / step``: a multiplication instead of the array version's division - the fractional index
differs by at most an ulp - and the Lagrange weights divide by 6 as a multiplication too):
the coordinate is clamped to ``[start, stop]`` (a NaN coordinate to ``start``, so that an index stays in
bounds; the caller's NaN still reaches its result through the other inputs), and the stencil is

* ``order = 1``: nodes ``i0, i0 + 1``, weights ``(1 - s, s)`` (returned as ``(1 - s, s, 0, 0)``);
* ``order = 3``: the 4-point Lagrange stencil ``i0 .. i0 + 3``, shifted inward at the edges.

The lookups contract the stencil values in the array version's order (last axis first, ``acc = v0 w0;
acc += v1 w1; ...``).  The gathers live in the lookup functions themselves (see
:mod:`gpu_alvh.kernels.spx` on why per-leg functions must not pass arrays on).
"""

from __future__ import annotations

import math

from .floats import jitable as register_jitable

__all__ = ["clamp", "axis_weights"]

_SIXTH = 1.0 / 6.0


@register_jitable
def clamp(x, lo, hi):
    """``x`` clamped to ``[lo, hi]``; NaN gives ``lo`` (keeps table indices in bounds)."""
    if not x > lo:
        return lo
    return hi if x > hi else x


@register_jitable
def axis_weights(x, start, inv_step, n, order):
    """``(i0, w0, w1, w2, w3)``: first node and stencil weights of ``x`` (see module doc)."""
    t = clamp((x - start) * inv_step, 0.0, n - 1.0)
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
    return int(i0), -(s1 * s2 * s3) * _SIXTH, s * s2 * s3 * 0.5, -(s * s1 * s3) * 0.5, s * s1 * s2 * _SIXTH
