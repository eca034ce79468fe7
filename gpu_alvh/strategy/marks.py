"""The book's view of the pricing kernels: SPX legs and VIX instruments (per-path code).

``spx = (rec, nu)`` and ``vx = (rec, data)`` are the kernel data of the scenario's SPX implied-vol
table and VIX table (:mod:`gpu_alvh.kernels.spx`, :mod:`gpu_alvh.kernels.vix`).  Legs of one condor
(one VIX instrument) share a *slice* - the part of a lookup that depends only on the state and the
expiry - so the per-leg work is the moneyness stencil and one Black-Scholes evaluation.

State: ``vs = (v, v2)`` the pricing state, fast and slow variance (decimal; ``v2 = 0`` for one-factor
models, whose tables ignore it).  Times: ``tau`` calendar years (discounting, carry), ``tau_v`` variance years (the tables' axis and the
total variance).  Leg marks are written to ``legs[k, leg, :]`` as price, delta, gamma, vega, per option
(theta is the one-day change of the mark, :func:`gpu_alvh.strategy.ladder.theta_day`).
"""

from __future__ import annotations

from ..kernels.floats import jitable as register_jitable

from ..kernels.spx import spx_iv_at, spx_kernel_data, spx_leg, spx_leg_price, spx_slice, spx_strike_for_delta
from ..kernels.vix import vix_future as _vix_future
from ..kernels.vix import vix_kernel_data, vix_leg, vix_slice

__all__ = ["spx_arrays", "vix_arrays", "spx_ctx", "mark_leg", "leg_price", "strike_for_delta", "iv_ctx", "iv_at", "vix_ctx", "vix_price", "vix_future"]

SPX_GRID = 5.0
STRIKE_ITERATIONS = 6


def spx_arrays(tables):
    """``(rec, nu)`` of an :class:`~gpu_alvh.pricing.tables.SpxTable`, or of one per pricing regime (host
    records, tables on their backend; :func:`gpu_alvh.kernels.spx.spx_kernel_data`)."""
    d = spx_kernel_data(tables)
    return d.rec, d.nu


def vix_arrays(tables):
    """``(rec, data)`` of a :class:`~gpu_alvh.pricing.vix.VixTable`, or of one per pricing regime."""
    d = vix_kernel_data(tables)
    return d.rec, d.data


@register_jitable
def spx_ctx(spx, spot, vs, tau, tau_v):
    return spx_slice(spx[0], spot, vs[0], vs[1], tau, tau_v)


@register_jitable
def mark_leg(spx, ctx, strike, is_call, legs, k, leg):
    p, d, g, ve, _tc, _tv = spx_leg(spx[0], spx[1], ctx, strike, is_call)
    legs[k, leg, 0] = p
    legs[k, leg, 1] = d
    legs[k, leg, 2] = g
    legs[k, leg, 3] = ve


@register_jitable
def leg_price(spx, ctx, strike, is_call):
    return spx_leg_price(spx[0], spx[1], ctx, strike, is_call)


@register_jitable
def strike_for_delta(spx, spot, vs, tau, tau_v, delta, is_call):
    """Strike on the 5-point grid whose Black-Scholes |delta| at the table vol is ``delta``."""
    return spx_strike_for_delta(spx[0], spx[1], spot, vs[0], vs[1], tau, tau_v, delta, is_call, SPX_GRID, STRIKE_ITERATIONS)


@register_jitable
def iv_ctx(spx, vs, tau_v):
    """The slice of implied-vol lookups at the pricing state ``vs``, variance time ``tau_v`` (:func:`iv_at`)."""
    return spx_slice(spx[0], 1.0, vs[0], vs[1], 0.0, tau_v)


@register_jitable
def iv_at(spx, ctx, log_moneyness):
    """Table implied vol (decimal) at forward log-moneyness ``ln(K/F)`` in the slice ``ctx`` of :func:`iv_ctx`
    (``SpxTable.iv``)."""
    return spx_iv_at(spx[0], spx[1], ctx, log_moneyness)


@register_jitable
def vix_ctx(vx, vs, tau, tau_v):
    return vix_slice(vx[0], vx[1], vs[0], vs[1], tau, tau_v)


@register_jitable
def vix_price(vx, ctx, strike, is_call):
    return vix_leg(vx[0], vx[1], ctx, strike, is_call)


@register_jitable
def vix_future(vx, vs, tau_v):
    return _vix_future(vx[0], vx[1], vs[0], vs[1], tau_v)
