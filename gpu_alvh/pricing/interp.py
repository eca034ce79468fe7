"""Interpolation kernel on uniform grids, on the array namespace (NumPy or CuPy).

A table is an array of node values over a tensor grid whose axes are uniform in
a *transformed* coordinate (``sqrt(v)``, ``sqrt(tau)``, scaled moneyness ...).
A lookup is pure array arithmetic: fractional index, clamp, gathers
(``xp.take`` on the flattened table) and a weighted sum - no host round-trip,
no search.  Out-of-range coordinates are clamped to the end nodes (flat
extrapolation); callers decide what clamping means for them.

``order=1`` is multilinear (``2^d`` gathers, weights >= 0, shape-preserving);
``order=3`` is the 4-point Lagrange (cubic) stencil per axis (``4^d`` gathers,
error ``O(h^4)``), shifted inward at the edges.  Orders may differ per axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["UniformAxis", "axis_weights", "interp"]


@dataclass(frozen=True)
class UniformAxis:
    """A uniform axis ``x_i = start + i * step``, ``i = 0 .. n-1``."""

    start: float
    step: float
    n: int

    @classmethod
    def between(cls, lo: float, hi: float, n: int) -> "UniformAxis":
        if n < 2 or not hi > lo:
            raise ValueError(f"axis needs n >= 2 and hi > lo (got {lo}, {hi}, {n})")
        return cls(float(lo), (float(hi) - float(lo)) / (n - 1), int(n))

    @property
    def stop(self) -> float:
        return self.start + self.step * (self.n - 1)

    def nodes(self) -> np.ndarray:
        """Host array of the node coordinates."""
        return self.start + self.step * np.arange(self.n, dtype=float)


def axis_weights(x, axis: UniformAxis, order: int, xp):
    """First node index and stencil weights of coordinates ``x`` on ``axis``.

    Returns ``(i0, [w_0, ..., w_order])``: the stencil covers nodes
    ``i0 .. i0 + order``; ``x`` is clamped to ``[start, stop]``.
    """
    t = (x - axis.start) / axis.step
    t = xp.clip(t, 0.0, axis.n - 1.0)
    if order == 1:
        i0 = xp.clip(xp.floor(t), 0, axis.n - 2)
        s = t - i0
        return i0.astype(xp.int64), [1.0 - s, s]
    if order == 3:
        if axis.n < 4:
            raise ValueError("cubic interpolation needs at least 4 nodes per axis")
        i0 = xp.clip(xp.floor(t) - 1.0, 0, axis.n - 4)
        s = t - i0  # in [0, 3]
        s1, s2, s3 = s - 1.0, s - 2.0, s - 3.0
        w0 = -(s1 * s2 * s3) / 6.0
        w1 = s * s2 * s3 / 2.0
        w2 = -(s * s1 * s3) / 2.0
        w3 = s * s1 * s2 / 6.0
        return i0.astype(xp.int64), [w0, w1, w2, w3]
    raise ValueError(f"order must be 1 or 3, got {order}")


def interp(table, axes, coords, order, xp):
    """Interpolate ``table`` (shape ``[n_0, ..., n_{d-1}]``) at broadcast ``coords``.

    Parameters
    ----------
    table : array on the backend
    axes : sequence of :class:`UniformAxis`, one per table dimension
    coords : sequence of arrays (same length), broadcastable together
    order : 1 or 3, or one order per axis (e.g. ``(1, 1, 3)``: linear in the
        first two axes, cubic in the last)
    xp : array namespace

    Returns
    -------
    array of the broadcast shape of ``coords``, dtype of ``table``.

    The stencil of a point has ``prod(order_k + 1)`` nodes; their flat indices
    are the point's base index plus a fixed offset pattern, so the lookup is
    one gather of ``[..., nodes]`` values, then contraction with the stencil
    weights one axis at a time, from the last (contiguous) axis to the first.
    """
    d = len(axes)
    orders = (int(order),) * d if np.ndim(order) == 0 else tuple(int(o) for o in order)
    if len(orders) != d:
        raise ValueError(f"need one order per axis ({d}), got {orders}")
    coords = xp.broadcast_arrays(*[xp.asarray(c, dtype=table.dtype) for c in coords])
    flat = table.reshape(-1)
    strides = [int(np.prod(table.shape[i + 1:])) for i in range(d)]
    stencils = [axis_weights(c, ax, o, xp) for c, ax, o in zip(coords, axes, orders)]
    base = stencils[0][0] * strides[0]
    for (i0, _), stride in zip(stencils[1:], strides[1:]):
        base = base + i0 * stride
    offsets = np.zeros(1, dtype=np.int64)
    for o, stride in zip(orders, strides):
        offsets = (offsets[:, None] + np.arange(o + 1, dtype=np.int64)[None, :] * stride).reshape(-1)
    vals = xp.take(flat, base[..., None] + xp.asarray(offsets))  # [..., nodes]
    shape = vals.shape[:-1]
    for (_, ws), o in zip(reversed(stencils), reversed(orders)):
        vals = vals.reshape(shape + (-1, o + 1))
        acc = vals[..., 0] * ws[0][..., None]
        for j in range(1, o + 1):
            acc += vals[..., j] * ws[j][..., None]
        vals = acc
    return vals.reshape(shape)
