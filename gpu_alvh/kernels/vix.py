"""VIX futures and options for the per-path programs: lookups on a :class:`~gpu_alvh.pricing.vix.VixTable`.

The scalar counterpart of ``VixTable.future`` / ``VixTable.option`` (the oracle; equal to float
rounding, ``tests/test_kernel_pricing.py``), with two clocks: ``tau_v`` variance years index the
table (futures drift, node scales, normalised calls), ``tau`` calendar years discount the options
(``D = e^{-r tau}``).  With ``tau_v == tau`` it is the one-clock array version.

Kernel data (:func:`vix_kernel_data`, once per table on the host): a record ``rec``
(:data:`VIX_RECORD`, shape ``(1,)`` - or one per pricing regime, read as the view ``rec[j:j + 1]``: axes,
scales, clamps, VIX^2 coefficients, rate, offsets) and one
flat array ``data`` (the table's dtype, on its backend) holding, at the record's offsets, the futures
drift ``fut`` and node scales ``sig`` (``[n_tau * n_v2 * n_v]``, ``n_v2 = 1`` for one factor), the end
values ``c_first``, ``c_last`` and end slopes ``slope_last`` of the node curves (same shape), the
moneyness nodes ``xi`` (``[n_xi]``) and the normalised calls ``cn`` (``[n_tau * n_v2 * n_v * n_xi]``).
Two-factor tables add the record fields ``v2_start``, ``v2_inv``, ``v2_n``, ``v2_scale``, ``v2_hi`` (slow
axis and clamp), ``a2_vix`` and set ``t_stride = n_v2 n_v`` and ``n_corner = 8``; one-factor records
have ``n_corner = 4``, ``t_stride = n_v``, and the lookups run exactly today's one-factor arithmetic
(the slow-factor terms sit behind ``if n_corner == 8`` branches; their neutral values multiply by an
exact 1.0), so one-factor results are bit-identical to the one-factor kernels.

Maths (as the array version):

.. code-block:: text

    F(v, v2, tau_v)    = 100 sqrt(max(a v + b + a2 v2, 0)) + D_fut(c_t, c_2, c_v)    (tri)cubic drift table
    C(v, v2, tau_v, K) = F sum_c w_c s_c c_c((K/F - 1) / s_c)                       4 (tau, v) / 8 (tau, v2, v) corners
    call = D C,    put = D max(C - (F - K), 0)

with ``c_v = asinh(sqrt(clip(v)) / eps_v)``, ``c_2 = asinh(sqrt(clip(v2)) / eps_2)`` (two factors),
``c_t = asinh(sqrt(clip(tau_v)) / eps_t)``, multilinear corner weights ``w_c >= 0``,
``s_c = max(sig_c sqrt(tau_v), 1e-12)`` and ``c_c`` the node curve, linear in
``xi`` between the nodes (bracket found on the ``asinh`` grid), continued with slope -1 below the grid
and with the last slope, floored at 0, above it.  The context tuple has one type for both: 8 corner
slots (the last 4 unused by one-factor tables).

Per expiry, per strike: :func:`vix_slice` computes what depends on ``(v, tau, tau_v)`` (futures
price, discount, corners, their weights and scales) once; :func:`vix_leg` prices one strike from it:

.. code-block:: python

    ctx = vix_slice(rec, data, v, v2, tau, tau_v)    # once per (path, expiry); ctx[0] is the futures price
    for leg in range(n_legs):
        price = vix_leg(rec, data, ctx, strike[leg], is_call[leg])
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from .floats import jitable as register_jitable

from .interp import axis_weights, clamp

__all__ = ["VIX_RECORD", "VixKernelData", "vix_kernel_data", "vix_slice", "vix_leg", "vix_future", "vix_option"]

_F8, _I8 = np.float64, np.int64
#: Record of the constants a VIX lookup reads (one element).
VIX_RECORD = np.dtype([
    ("v_start", _F8), ("v_inv", _F8), ("v_n", _I8), ("t_start", _F8), ("t_inv", _F8), ("t_n", _I8),
    ("eta_start", _F8), ("eta_inv", _F8), ("eta_n", _I8), ("v_scale", _F8), ("t_scale", _F8), ("xi_scale", _F8),
    ("v_lo", _F8), ("v_hi", _F8), ("tau_max", _F8), ("a_vix", _F8), ("b_vix", _F8), ("rate", _F8),
    ("off_fut", _I8), ("off_sig", _I8), ("off_c_first", _I8), ("off_c_last", _I8), ("off_slope_last", _I8),
    ("off_xi", _I8), ("off_cn", _I8),
    # two-factor tables (one factor: v2_n = 1, n_corner = 4, t_stride = v_n, a2_vix = 0)
    ("v2_start", _F8), ("v2_inv", _F8), ("v2_n", _I8), ("v2_scale", _F8), ("v2_hi", _F8), ("a2_vix", _F8),
    ("t_stride", _I8), ("n_corner", _I8),
], align=True)

_PARTS = ("fut", "sig", "c_first", "c_last", "slope_last", "xi", "cn")


class VixKernelData(NamedTuple):
    """What the kernels read of one or more :class:`~gpu_alvh.pricing.vix.VixTable` (one per pricing regime)."""

    rec: np.ndarray  # VIX_RECORD, shape (n_tables,), host
    data: object  # flat, table dtype, on the tables' backend


def vix_kernel_data(tables) -> VixKernelData:
    """Kernel data of a built :class:`~gpu_alvh.pricing.vix.VixTable`, or of a sequence of them (the
    pricing regimes of a scenario: one concatenated copy of all their arrays, record ``j``'s offsets
    pointing at table ``j``'s; a lookup reads the one-element record view ``rec[j:j + 1]``)."""
    tables = (tables,) if not isinstance(tables, (list, tuple)) else tuple(tables)
    xp = tables[0].xp
    rec = np.zeros(len(tables), dtype=VIX_RECORD)
    parts, off = [], 0
    for j, table in enumerate(tables):
        r = rec[j]
        for name, ax in (("v", table.v_axis), ("t", table.st_axis), ("eta", table.eta_axis)):
            r[f"{name}_start"], r[f"{name}_inv"], r[f"{name}_n"] = ax.start, 1.0 / ax.step, ax.n
        r["v_scale"], r["t_scale"], r["xi_scale"] = table.v_scale, table.t_scale, table.xi_scale
        # the clamps exactly as VixTable._coords computes them
        r["v_lo"] = (table.v_scale * math.sinh(table.v_axis.start)) ** 2
        r["v_hi"] = (table.v_scale * math.sinh(table.v_axis.stop)) ** 2
        r["tau_max"] = (table.t_scale * math.sinh(table.st_axis.stop)) ** 2
        if table.v2_axis is None:
            r["a_vix"], r["b_vix"] = table.model.vix2_coefficients()
            r["v2_start"], r["v2_inv"], r["v2_n"], r["v2_scale"] = 0.0, 0.0, 1, 1.0
            r["t_stride"], r["n_corner"] = table.v_axis.n, 4
        else:
            r["a_vix"], r["a2_vix"], r["b_vix"] = table.model.vix2_terms()
            ax2 = table.v2_axis
            r["v2_start"], r["v2_inv"], r["v2_n"], r["v2_scale"] = ax2.start, 1.0 / ax2.step, ax2.n, table.v2_scale
            r["v2_hi"] = (table.v2_scale * math.sinh(ax2.stop)) ** 2
            r["t_stride"], r["n_corner"] = ax2.n * table.v_axis.n, 8
        r["rate"] = table.rate
        for name in _PARTS:
            a = getattr(table, name).reshape(-1)
            r[f"off_{name}"] = off
            parts.append(a)
            off += int(a.size)
    return VixKernelData(rec, xp.ascontiguousarray(xp.concatenate(parts)))


@register_jitable
def _coords(r, v, tau_v):
    """Table coordinates ``(c_v, c_t, sqrt(tau_v))`` with the clamps of the array version."""
    cv = math.asinh(math.sqrt(clamp(v, r["v_lo"], r["v_hi"])) / r["v_scale"])
    st = math.sqrt(clamp(tau_v, 0.0, r["tau_max"]))
    return cv, math.asinh(st / r["t_scale"]), st


@register_jitable
def vix_slice(rec, data, v, v2, tau, tau_v):
    """Per-(path, expiry) context of VIX legs at variances ``v``, ``v2``, calendar ``tau`` and variance ``tau_v`` years.

    Returns ``(F, D, nodes, weights, inverse scales)``: the futures price (index points), the discount
    factor and, per corner (8 slots: (tau, v) corners at the lower ``v2`` node, then at the upper one;
    one-factor tables fill the first 4, ``rec["n_corner"]``), its flat node index, ``w_c s_c`` and
    ``1 / s_c`` - for :func:`vix_leg`.  ``v2`` is read by two-factor tables only.
    A leaf (no call passes ``data`` on; see :mod:`gpu_alvh.kernels.spx`).
    """
    r = rec[0]
    cv, ct, st = _coords(r, v, tau_v)
    nt, nv, ts = r["t_n"], r["v_n"], r["t_stride"]
    two = r["n_corner"] == 8
    # futures: model VIX of the actual state + (bi/tri)cubic drift table (VixTable._future); NaN inputs give
    # a NaN price (the clamps of the coordinates keep indices in bounds, not NaNs)
    x = r["a_vix"] * v + r["b_vix"]
    i2, u0, u1, u2, u3, n2, c2 = 0, 1.0, 0.0, 0.0, 0.0, 1, 0.0
    if two:
        x = x + r["a2_vix"] * v2
        c2 = math.asinh(math.sqrt(clamp(v2, 0.0, r["v2_hi"])) / r["v2_scale"])
        i2, u0, u1, u2, u3 = axis_weights(c2, r["v2_start"], r["v2_inv"], r["v2_n"], 3)
        n2 = 4
    spot = 100.0 * math.sqrt(0.0 if x < 0.0 else x)
    if tau_v != tau_v or tau != tau:
        spot = math.nan
    it, t0, t1, t2, t3 = axis_weights(ct, r["t_start"], r["t_inv"], nt, 3)
    iv, w0, w1, w2, w3 = axis_weights(cv, r["v_start"], r["v_inv"], nv, 3)
    drift = 0.0
    for a in range(4):
        acc2 = 0.0
        for c in range(n2):
            p = r["off_fut"] + (it + a) * ts + (i2 + c) * nv + iv
            acc = data[p] * w0
            acc += data[p + 1] * w1
            acc += data[p + 2] * w2
            acc += data[p + 3] * w3
            acc2 += acc * (u0 if c == 0 else (u1 if c == 1 else (u2 if c == 2 else u3)))
        drift += acc2 * (t0 if a == 0 else (t1 if a == 1 else (t2 if a == 2 else t3)))
    fut = spot + drift
    disc = math.exp(-r["rate"] * max(tau, 0.0))
    # the (tau, v2, v) corners of the forward calls (VixTable._forward_call), multilinear weights
    ft = clamp((ct - r["t_start"]) * r["t_inv"], 0.0, nt - 1.0)
    fv = clamp((cv - r["v_start"]) * r["v_inv"], 0.0, nv - 1.0)
    it_f = min(math.floor(ft), nt - 2.0)
    iv_f = min(math.floor(fv), nv - 2.0)
    wt, wv = ft - it_f, fv - iv_f
    lo2, hi2, up = 1.0, 0.0, 0
    if two:
        f2 = clamp((c2 - r["v2_start"]) * r["v2_inv"], 0.0, r["v2_n"] - 1.0)
        i2_f = min(math.floor(f2), r["v2_n"] - 2.0)
        hi2 = f2 - i2_f
        lo2 = 1.0 - hi2
        up = nv
        node = int(it_f) * ts + int(i2_f) * nv + int(iv_f)
    else:
        node = int(it_f) * ts + int(iv_f)
    sig = r["off_sig"]
    s00 = max(data[sig + node] * st, 1e-12)
    s01 = max(data[sig + node + 1] * st, 1e-12)
    s10 = max(data[sig + node + ts] * st, 1e-12)
    s11 = max(data[sig + node + ts + 1] * st, 1e-12)
    q00, q01, q10, q11 = 1.0, 1.0, 1.0, 1.0
    if two:
        q00 = max(data[sig + node + up] * st, 1e-12)
        q01 = max(data[sig + node + up + 1] * st, 1e-12)
        q10 = max(data[sig + node + up + ts] * st, 1e-12)
        q11 = max(data[sig + node + up + ts + 1] * st, 1e-12)
    nodes = (node, node + 1, node + ts, node + ts + 1, node + up, node + up + 1, node + up + ts, node + up + ts + 1)
    # weights as the array version multiplies them: (w_t w_v) s w_2 (w_2 = 1 exactly for one factor)
    weights = ((1.0 - wt) * (1.0 - wv) * s00 * lo2, (1.0 - wt) * wv * s01 * lo2, wt * (1.0 - wv) * s10 * lo2,
               wt * wv * s11 * lo2, (1.0 - wt) * (1.0 - wv) * q00 * hi2, (1.0 - wt) * wv * q01 * hi2,
               wt * (1.0 - wv) * q10 * hi2, wt * wv * q11 * hi2)
    return fut, disc, nodes, weights, (1.0 / s00, 1.0 / s01, 1.0 / s10, 1.0 / s11, 1.0 / q00, 1.0 / q01, 1.0 / q10, 1.0 / q11)


@register_jitable
def vix_future(rec, data, v, v2, tau_v):
    """VIX futures price (index points) at variance ``v`` and variance time to expiry ``tau_v`` (``VixTable.future``)."""
    return vix_slice(rec, data, v, v2, 0.0, tau_v)[0]


@register_jitable
def vix_leg(rec, data, ctx, strike, is_call):
    """Discounted VIX option price (index points per 1 unit; x100 per contract) of ``strike`` in the slice ``ctx``.

    A leaf: the four (one factor) or eight (two factors) node curves ``c(xi)`` (linear between the moneyness nodes, slope -1 below the
    grid, the last slope floored at 0 above it) are evaluated inline.  The first corner inside the grid finds
    its moneyness interval as the array version does (``asinh``); the others, whose moneyness differs only by
    the ratio of neighbouring sigma nodes, walk to theirs from it on the stored nodes (no ``asinh``: the
    interval can differ from the array version's only where ``xi`` is a node to rounding, where both
    interpolants give the node's value).
    """
    r = rec[0]
    fut, disc, nodes, weights, inv_scales = ctx
    n = r["eta_n"]
    nc = r["n_corner"]
    ox = np.uint64(r["off_xi"])  # unsigned indices: no negative-index wraparound test per read
    one = np.uint64(1)
    first, last = data[ox], data[ox + np.uint64(n - 1)]
    mny = strike / fut - 1.0
    out = 0.0
    jw = -1  # the moneyness interval of the last corner inside the grid (-1: none yet)
    for c in range(8):
        if c >= nc:
            break
        node = np.uint64(nodes[c])
        xi = mny * inv_scales[c]
        if xi < first:
            val = data[np.uint64(r["off_c_first"]) + node] - (xi - first)
        elif xi > last:
            val = data[np.uint64(r["off_c_last"]) + node] + data[np.uint64(r["off_slope_last"]) + node] * (xi - last)
            if val < 0.0:
                val = 0.0
        else:
            if jw < 0:
                jw = int(clamp(math.floor((math.asinh(xi / r["xi_scale"]) - r["eta_start"]) * r["eta_inv"]), 0.0, n - 2.0))
            else:  # the corners' moneyness lie close together: walk from the last interval on the nodes
                while jw > 0 and xi < data[ox + np.uint64(jw)]:
                    jw -= 1
                while jw < n - 2 and xi >= data[ox + np.uint64(jw + 1)]:
                    jw += 1
            j = np.uint64(jw)
            x0, x1 = data[ox + j], data[ox + j + one]
            t = clamp((xi - x0) / (x1 - x0), 0.0, 1.0)
            p = np.uint64(r["off_cn"]) + node * np.uint64(n) + j
            c0 = data[p]
            val = c0 + t * (data[p + one] - c0)
        out = out + weights[c] * val
    call = fut * out
    if is_call:
        return disc * call
    put = call - (fut - strike)
    return disc * (put if put > 0.0 else 0.0)


@register_jitable
def vix_option(rec, data, v, v2, tau, tau_v, strike, is_call):
    """Discounted VIX option price (``VixTable.option``); ``tau`` calendar years, ``tau_v`` variance years."""
    return vix_leg(rec, data, vix_slice(rec, data, v, v2, tau, tau_v), strike, is_call)
