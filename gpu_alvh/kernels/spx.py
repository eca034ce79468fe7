"""SPX legs for the per-path programs: lookups on a :class:`~gpu_alvh.pricing.tables.SpxTable`.

The scalar counterpart of ``SpxTable.iv`` / ``price_greeks`` / ``price`` / ``strike_for_delta`` (the
oracle; equal to float rounding, ``tests/test_kernel_pricing.py``), with two clocks: ``tau`` calendar
years (forward, discount, carry), ``tau_v`` variance years (the table's time axis, the mean variance
``w(v, tau_v)`` and the total variance ``vol^2 tau_v``).  With ``tau_v == tau`` it is the one-clock
array version; theta comes in two parts (:mod:`gpu_alvh.kernels.blackscholes`).

Kernel data (:func:`spx_kernel_data`, built once per table on the host): a record ``rec`` (NumPy
structured array of shape ``(1,)``, :data:`SPX_RECORD`: axes, stencil orders, strides, model constants,
rate, yield, floors, the table's offset in ``nu``) and the flat table ``nu`` (``[n_tau * n_v * n_z]``;
two-factor tables ``[n_tau * n_v * n_f * n_z]``; the table's dtype, on its backend).  Every function reads them as ``rec[0]["field"]`` and ``nu[i]``.
The tables of several pricing regimes share one ``nu`` (concatenated) and one record array with a
record per regime; a lookup in regime ``j`` is given the one-element view ``rec[j:j + 1]``.

Per condor, per leg
-------------------
The legs of a condor (and the strike search) share ``(spot, v, tau, tau_v)``; only the strike differs.
:func:`spx_slice` computes once what depends on those: the time and variance stencils (weights and base
index), the scale ``w(v, tau_v)`` and ``sd_w = sqrt(w tau_v)``, forward, discount and yield factors.
Each leg then costs one ``log`` (``ln(F/K)``, shared by the lookup and Black-Scholes), the moneyness
stencil (``order_z + 1`` weights), ``prod(order + 1)`` table reads (16 for the default
linear-linear-cubic table) and one Black-Scholes evaluation (two ``erfc``, and one ``exp`` for the greeks;
:mod:`gpu_alvh.kernels.blackscholes`):

.. code-block:: python

    ctx = spx_slice(rec, spot, v, v2, tau, tau_v)        # once per (path, expiry)
    for leg in range(4):
        price, delta, gamma, vega, theta_cal, theta_var = spx_leg(rec, nu, ctx, strike[leg], is_call[leg])

``ctx`` is a tuple (registers), opaque to callers.  :func:`spx_leg` and :func:`spx_leg_price` are
leaves (they call no function that takes an array).  Per-path code is compiled without reference
counts and with IEEE division (:mod:`gpu_alvh.kernels.floats`); records are passed on as ``rec[0]``.

Arithmetic deviations from the array version, each an ulp of an intermediate (within the bounds of
the tests): one forward ``S e^{-q tau} / e^{-r tau}`` for the table and Black-Scholes (the array version
also computes ``S e^{(r - q) tau}``), ``k = -ln(F/K)``, multiplications by the reciprocal grid steps and
by ``1 / sd_w``, and the out-of-the-money value from ``erfc`` rather than the scaled ``erfcx`` form for
``d1_o >= -3`` (:mod:`gpu_alvh.kernels.blackscholes`).

Two-factor tables (record ``f_n > 1``): :func:`spx_slice` reads ``V = v + v2`` on the variance axis and the
fast share ``f = v / V`` (1 at ``V = 0``) on the share axis (``f_start, f_inv, f_n, order_f, stride_f``; a
stencil of ``nf = order_f + 1`` share nodes in ``ctx``), and the leaf maps the moneyness to
``asinh((z - z_c) / z_s)`` (``z_map == 1``) before its stencil, contracted by the loops of the general
orders in the array version's order (moneyness, share, variance, time).  One-factor records have
``f_n == 1``, ``z_map == 0``: one share node of weight 1 and no map; the default one-factor table takes
the straight-line 16-node stencil.

Clamping, as the array version: ``v`` outside the variance grid and ``tau_v`` outside the time grid
use the end node's normalised smile with the actual ``w`` and ``z``; ``z`` outside the moneyness grid is
flat; ``tau_v = 0`` prices the intrinsic value.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from .floats import jitable as register_jitable

from .blackscholes import bs_leg, bs_leg_price, bs_market, sd_floor
from .interp import axis_weights
from .special import ndtri

__all__ = ["SPX_RECORD", "SpxKernelData", "spx_kernel_data", "spx_slice", "spx_leg", "spx_leg_price", "spx_leg_iv",
           "spx_iv_at", "spx_iv", "spx_price_greeks", "spx_price", "spx_strike_for_delta"]

_F8, _I8 = np.float64, np.int64
#: Record of the constants an SPX lookup reads (one element).
SPX_RECORD = np.dtype([
    ("st_start", _F8), ("st_inv", _F8), ("st_n", _I8), ("sv_start", _F8), ("sv_inv", _F8), ("sv_n", _I8),
    ("z_start", _F8), ("z_inv", _F8), ("z_n", _I8), ("order_t", _I8), ("order_v", _I8), ("order_z", _I8),
    ("stride_t", _I8), ("stride_v", _I8), ("kappa", _F8), ("theta_eff", _F8), ("jump_var", _F8), ("v_scale", _F8),
    ("rate", _F8), ("dividend_yield", _F8), ("tau_min", _F8), ("sd_floor", _F8), ("offset", _I8),
    ("f_start", _F8), ("f_inv", _F8), ("f_n", _I8), ("order_f", _I8), ("stride_f", _I8),
    ("z_map", _I8), ("z_c", _F8), ("z_s", _F8),
], align=True)


class SpxKernelData(NamedTuple):
    """What the kernels read of one or more :class:`~gpu_alvh.pricing.tables.SpxTable` (one per pricing regime)."""

    rec: np.ndarray  # SPX_RECORD, shape (n_tables,), host; rec[j]["offset"] = start of table j in nu
    nu: object  # [sum of n_tau * n_v * (n_f *) n_z], table dtype, on the tables' backend


def spx_kernel_data(tables) -> SpxKernelData:
    """Kernel data of a built :class:`~gpu_alvh.pricing.tables.SpxTable`, or of a sequence of them (the
    pricing regimes of a scenario: their node arrays concatenated, record ``j`` pointing at table ``j``;
    a lookup reads the one-element record view ``rec[j:j + 1]``).  One table: no copy of it."""
    tables = (tables,) if not isinstance(tables, (list, tuple)) else tuple(tables)
    rec = np.zeros(len(tables), dtype=SPX_RECORD)
    off = 0
    for j, table in enumerate(tables):
        two = table.f_axis is not None
        d = 4 if two else 3
        orders = (int(table.order),) * d if np.ndim(table.order) == 0 else tuple(int(o) for o in table.order)
        if len(orders) != d or any(o not in (1, 3) for o in orders):
            raise ValueError(f"SpxTable.order must be 1 or 3 per axis ({d} axes), got {table.order!r}")
        r = rec[j]
        if two:
            n_t, n_v, n_f, n_z = table.nu.shape
            r["f_start"], r["f_inv"], r["f_n"] = table.f_axis.start, 1.0 / table.f_axis.step, n_f
            r["order_f"], r["stride_f"] = orders[2], n_z
            orders = (orders[0], orders[1], orders[3])
        else:
            n_t, n_v, n_z = table.nu.shape
            n_f = 1
            r["f_start"], r["f_inv"], r["f_n"], r["order_f"], r["stride_f"] = 1.0, 1.0, 1, 0, 0
        zm = getattr(table, "z_map", None)
        r["z_map"], r["z_c"], r["z_s"] = (0, 0.0, 1.0) if zm is None else (1, float(zm[0]), float(zm[1]))
        for name, ax in (("st", table.st_axis), ("sv", table.sv_axis), ("z", table.z_axis)):
            r[f"{name}_start"], r[f"{name}_inv"], r[f"{name}_n"] = ax.start, 1.0 / ax.step, ax.n
        r["order_t"], r["order_v"], r["order_z"] = orders
        r["stride_t"], r["stride_v"] = n_v * n_f * n_z, n_f * n_z
        r["kappa"], r["theta_eff"], r["jump_var"], r["v_scale"] = table.model.kappa, table.theta_eff, table.jump_var, table.v_scale
        r["rate"], r["dividend_yield"] = table.rate, table.dividend_yield
        r["tau_min"] = table.st_axis.start ** 2
        r["sd_floor"] = sd_floor(table.dtype)
        r["offset"] = off
        off += int(table.nu.size)
    if len(tables) == 1:
        return SpxKernelData(rec, tables[0].nu.reshape(-1))
    xp = tables[0].xp
    return SpxKernelData(rec, xp.ascontiguousarray(xp.concatenate([t.nu.reshape(-1) for t in tables])))


@register_jitable
def _mean_var(v, tau, kappa, theta_eff, jump_var):
    """``w(v, tau) = a v + (1 - a) theta_eff + lambda E[J^2]``, ``a = (1 - e^{-kappa tau}) / (kappa tau)``, >= 1e-12."""
    kt = kappa * tau
    if kt < 1e-8:
        a = 1.0 - 0.5 * kt
    else:
        a = -math.expm1(-kt) / kt
    w = a * v + (1.0 - a) * theta_eff + jump_var
    return 1e-12 if w < 1e-12 else w  # NaN stays NaN


@register_jitable
def _table_slice(r, v, v2, tau_v):
    """``(base, wt0..wt3, wv0..wv3, nf, wf0..wf3, 1 / sd_w, sqrt_w)``: the (time, variance, share) part of a
    lookup (``r = rec[0]``).  One-factor records (``f_n == 1``) ignore ``v2``: ``nf = 1``, ``wf0 = 1``;
    two-factor ones read ``V = v + v2`` on the variance axis and ``f = v / V`` (1 at ``V = 0``) on the share
    axis, with a stencil of ``nf = order_f + 1`` share nodes."""
    if v < 0.0:
        v = 0.0
    if tau_v < 0.0:
        tau_v = 0.0
    nf, i_f, wf0, wf1, wf2, wf3 = 1, 0, 1.0, 0.0, 0.0, 0.0
    if r["f_n"] > 1:
        v2 = 0.0 if v2 < 0.0 else v2
        total = v + v2
        share = v / total if total > 0.0 else 1.0
        v = total
        i_f, wf0, wf1, wf2, wf3 = axis_weights(share, r["f_start"], r["f_inv"], r["f_n"], r["order_f"])
        nf = r["order_f"] + 1
    w = _mean_var(v, tau_v, r["kappa"], r["theta_eff"], r["jump_var"])
    sd_w = math.sqrt(w * max(tau_v, 1e-12))
    sv = math.asinh(math.sqrt(v) / r["v_scale"])
    it, wt0, wt1, wt2, wt3 = axis_weights(math.sqrt(tau_v), r["st_start"], r["st_inv"], r["st_n"], r["order_t"])
    iv, wv0, wv1, wv2, wv3 = axis_weights(sv, r["sv_start"], r["sv_inv"], r["sv_n"], r["order_v"])
    base = r["offset"] + it * r["stride_t"] + iv * r["stride_v"] + i_f * r["stride_f"]
    return base, wt0, wt1, wt2, wt3, wv0, wv1, wv2, wv3, nf, wf0, wf1, wf2, wf3, 1.0 / sd_w, math.sqrt(w)


@register_jitable
def spx_slice(rec, spot, v, v2, tau, tau_v):
    """Per-(path, expiry) context of the legs at ``(spot, v, tau, tau_v)`` (see module doc).

    ``spot`` index points, ``v`` variance state (decimal; a two-factor model's fast factor), ``v2`` the slow
    variance of a two-factor model (ignored by one-factor tables), ``tau`` calendar years, ``tau_v`` variance
    years (negative values count as 0).  Returns a tuple for :func:`spx_leg_iv` and friends.
    """
    r = rec[0]
    if tau < 0.0:
        tau = 0.0
    if tau_v < 0.0:
        tau_v = 0.0
    fwd, disc, dq = bs_market(spot, tau, r["rate"], r["dividend_yield"])
    return _table_slice(r, v, v2, tau_v), spot, fwd, disc, dq, math.sqrt(tau_v)


_IV, _IV_K, _GREEKS, _PRICE = 0, 1, 2, 3


def _leaf(mode: int, name: str, doc: str):
    """One leg function (a leaf: no call passes ``nu`` on) of signature ``(rec, nu, ctx, x, is_call)``.

    ``x`` is the strike (``k = ln(K/F) = -ln(F/K)``, one ``log`` shared with Black-Scholes) or, for
    ``_IV_K``, ``k`` itself.  The stencil is contracted in the array version's order (moneyness, then
    variance, then time; ``0 + x`` is exact, so the first term of a sum needs no special case).  One
    source for four leaves: ``mode`` is a compile-time constant.
    """

    def leaf(rec, nu, ctx, x, is_call):
        r = rec[0]
        tctx, spot, fwd, disc, dq, sq = ctx
        base, wt0, wt1, wt2, wt3, wv0, wv1, wv2, wv3, nf, wf0, wf1, wf2, wf3, inv_sd_w, sqrt_w = tctx
        if mode == _IV_K:
            k = x
            lfk = 0.0
        else:
            lfk = math.log(fwd / x)  # ln(F/K)
            k = -lfk
        oz, ov, ot = r["order_z"], r["order_v"], r["order_t"]
        st, sv, sf = np.uint64(r["stride_t"]), np.uint64(r["stride_v"]), np.uint64(r["stride_f"])
        zc = k * inv_sd_w
        if r["z_map"] != 0:  # two-factor tables: moneyness axis uniform in asinh((z - z_c) / z_s)
            zc = math.asinh((zc - r["z_c"]) / r["z_s"])
        iz, z0, z1, z2, z3 = axis_weights(zc, r["z_start"], r["z_inv"], r["z_n"], oz)
        # unsigned indices: no negative-index wraparound test per read
        p0 = np.uint64(base + iz)
        one, two, three = np.uint64(1), np.uint64(2), np.uint64(3)
        if oz == 3 and ov == 1 and ot == 1 and nf == 1:  # the default one-factor table: straight-line 16-node stencil
            q = p0 + sv
            a0 = nu[p0] * z0
            a0 += nu[p0 + one] * z1
            a0 += nu[p0 + two] * z2
            a0 += nu[p0 + three] * z3
            a1 = nu[q] * z0
            a1 += nu[q + one] * z1
            a1 += nu[q + two] * z2
            a1 += nu[q + three] * z3
            p = p0 + st
            q += st
            b0 = nu[p] * z0
            b0 += nu[p + one] * z1
            b0 += nu[p + two] * z2
            b0 += nu[p + three] * z3
            b1 = nu[q] * z0
            b1 += nu[q + one] * z1
            b1 += nu[q + two] * z2
            b1 += nu[q + three] * z3
            a = a0 * wv0
            a += a1 * wv1
            b = b0 * wv0
            b += b1 * wv1
            acc = a * wt0
            acc += b * wt1
            vol = acc * sqrt_w
        else:  # other orders and two-factor tables: loops
            acc_t = 0.0
            for a in range(ot + 1):
                wt = wt0 if a == 0 else (wt1 if a == 1 else (wt2 if a == 2 else wt3))
                acc_v = 0.0
                for b in range(ov + 1):
                    wv = wv0 if b == 0 else (wv1 if b == 1 else (wv2 if b == 2 else wv3))
                    acc_f = 0.0
                    for c in range(nf):  # share nodes (one for a one-factor table, weight 1)
                        wf = wf0 if c == 0 else (wf1 if c == 1 else (wf2 if c == 2 else wf3))
                        q = p0 + np.uint64(a) * st + np.uint64(b) * sv + np.uint64(c) * sf
                        acc = nu[q] * z0
                        acc += nu[q + one] * z1
                        if oz == 3:
                            acc += nu[q + two] * z2
                            acc += nu[q + three] * z3
                        acc_f += acc * wf
                    acc_v += acc_f * wv
                acc_t += acc_v * wt
            vol = acc_t * sqrt_w
        if mode == _GREEKS:
            return bs_leg(spot, fwd, disc, dq, sq, x, lfk, vol, r["rate"], r["dividend_yield"], is_call, r["sd_floor"])
        if mode == _PRICE:
            return bs_leg_price(fwd, disc, sq, x, lfk, vol, is_call, r["sd_floor"])
        return vol

    leaf.__name__ = leaf.__qualname__ = name
    leaf.__doc__ = doc
    return register_jitable(leaf)


spx_leg = _leaf(_GREEKS, "spx_leg", """``spx_leg(rec, nu, ctx, strike, is_call)``: ``(price, delta, gamma, vega, theta_cal, theta_var)``.

    One leg in the slice ``ctx``, per option (no multiplier): index points, per point, per point^2, per
    1.00 vol, per year of calendar time (``-dV/dtau``), per year of variance time (``-dV/dtau_v``);
    vega and thetas at the table vol (sticky strike), as ``SpxTable.price_greeks``.""")
spx_leg_price = _leaf(_PRICE, "spx_leg_price", "``spx_leg_price(rec, nu, ctx, strike, is_call)``: price of one leg "
                      "(index points).")
_iv_strike = _leaf(_IV, "_iv_strike", "``_iv_strike(rec, nu, ctx, strike, is_call)``: table vol of ``strike``.")
_iv_at = _leaf(_IV_K, "_iv_at", "``_iv_at(rec, nu, ctx, k, is_call)``: table implied vol at ``k = ln(K/F)``.")


@register_jitable
def spx_leg_iv(rec, nu, ctx, strike):
    """Table implied vol (decimal) of ``strike`` in the slice ``ctx`` (not a leaf: for reports, not per leg)."""
    return _iv_strike(rec, nu, ctx, strike, True)


@register_jitable
def spx_iv_at(rec, nu, ctx, log_moneyness):
    """Table implied vol (decimal) at forward log-moneyness ``ln(K/F)`` in the slice ``ctx`` (its spot and
    calendar time are not read: e.g. ``spx_slice(rec, 1.0, v, v2, 0.0, tau_v)``)."""
    return _iv_at(rec, nu, ctx, log_moneyness, True)


@register_jitable
def spx_iv(rec, nu, log_moneyness, v, v2, tau_v):
    """Implied vol at forward log-moneyness ``ln(K/F)``, variance ``v`` and variance time ``tau_v`` (``SpxTable.iv``)."""
    return spx_iv_at(rec, nu, spx_slice(rec, 1.0, v, v2, 0.0, tau_v), log_moneyness)


@register_jitable
def spx_price_greeks(rec, nu, spot, strike, v, v2, tau, tau_v, is_call):
    """``(price, delta, gamma, vega, theta_cal, theta_var)`` of one option (``SpxTable.price_greeks``)."""
    return spx_leg(rec, nu, spx_slice(rec, spot, v, v2, tau, tau_v), strike, is_call)


@register_jitable
def spx_price(rec, nu, spot, strike, v, v2, tau, tau_v, is_call):
    """Price of one option (``SpxTable.price``)."""
    return spx_leg_price(rec, nu, spx_slice(rec, spot, v, v2, tau, tau_v), strike, is_call)


@register_jitable
def _round_half_even(x):
    f = math.floor(x)
    d = x - f
    if d > 0.5 or (d == 0.5 and f - 2.0 * math.floor(0.5 * f) != 0.0):
        return f + 1.0
    return f


@register_jitable
def spx_strike_for_delta(rec, nu, spot, v, v2, tau, tau_v, delta, is_call, grid, iterations):
    """Strike whose Black-Scholes delta at the table vol is ``|delta|``, rounded to ``grid`` (``SpxTable.strike_for_delta``).

    Both clocks are raised to the first time node (the delta of an expiring option is a step function).
    With ``d1* = +-N^{-1}(|delta| e^{q tau})`` (call / put) the log-moneyness ``k = ln(K/F)`` solves
    ``k = sigma(k)^2 tau_v / 2 - d1* sigma(k) sqrt(tau_v)``: secant steps on the residual from ``k = 0``
    (``iterations`` steps after the first two evaluations; the table part of the lookup is computed
    once).  Returns the strike (index points), a multiple of ``grid`` and >= ``grid`` (raw when ``grid <= 0``).
    """
    r = rec[0]
    tau_min = r["tau_min"]
    tau = max(tau, tau_min)
    tau_v = max(tau_v, tau_min)
    target = abs(delta) * math.exp(r["dividend_yield"] * tau)
    target = min(max(target, 1e-9), 1.0 - 1e-9)
    d1 = ndtri(target)
    if not is_call:
        d1 = -d1
    ctx = spx_slice(rec, spot, v, v2, tau, tau_v)
    sq = ctx[5]
    k0 = 0.0
    s = _iv_at(rec, nu, ctx, k0, True)
    g0 = k0 - (0.5 * s * s * tau_v - d1 * s * sq)
    k1 = k0 - g0
    s = _iv_at(rec, nu, ctx, k1, True)
    g1 = k1 - (0.5 * s * s * tau_v - d1 * s * sq)
    for it in range(iterations):
        den = g1 - g0
        k2 = k1 - g1 * (k1 - k0) / den if abs(den) > 1e-14 else k1
        k0, g0 = k1, g1
        k1 = k2
        if it < iterations - 1:  # the array version's last residual is not used
            s = _iv_at(rec, nu, ctx, k1, True)
            g1 = k1 - (0.5 * s * s * tau_v - d1 * s * sq)
    strike = ctx[2] * math.exp(k1)
    if grid > 0.0:
        strike = max(_round_half_even(strike / grid) * grid, grid)
    return strike
