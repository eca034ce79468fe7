"""Scalar Black-Scholes price and greeks for the per-path programs, with two clocks.

The scalar counterpart of :func:`gpu_alvh.pricing.black.black_scholes` (the oracle; same formulas, same
limits, equal to float rounding - ``tests/test_kernel_pricing.py``), written for
:mod:`gpu_alvh.kernels` (``register_jitable``, scalars only).

Two clocks
----------
``tau`` is calendar time to expiry (years, days / 365): discounting ``D = e^{-r tau}`` and carry
``F = S e^{-q tau} / D``.  ``tau_v`` is variance time (years, e.g. trading sessions / 252): the total
standard deviation is ``sd = vol sqrt(tau_v)``.  With ``tau_v == tau`` everything equals the one-clock
array version, and its theta is ``theta_cal + theta_var``:

.. code-block:: text

    theta_var = -dV/dtau_v = -S e^{-q tau} phi(d1) vol / (2 sqrt(tau_v))          (variance decay)
    theta_cal = -dV/dtau   =  q S e^{-q tau} N(d1) - r K D N(d2)    (call)        (carry, discounting)
                           = -q S e^{-q tau} N(-d1) + r K D N(-d2)  (put)

(both at constant vol; per year of their own clock).  ``delta = dV/dS``, ``gamma = d2V/dS2``,
``vega = dV/dvol = S e^{-q tau} phi(d1) sqrt(tau_v)``; per option, no multiplier.

Price (the array version's out-of-the-money form): with ``x = ln(F/K)``, ``x_o = -|x|``,
``d1_o = x_o / s + s/2``, ``d2_o = d1_o - s``, ``G = exp(-d1_o^2 / 2)``,
``E_i = erfcx(-d_i_o / sqrt 2)``:

.. code-block:: text

    OTM value  = D min(F, K) G (E_1 - E_2) / 2     (= D sqrt(FK) b(x_o, s) of the array version)
    price      = OTM value + D (intrinsic of the forward)

and the normal CDF values of the greeks come from the same two ``erfcx`` values,
``N(d1_o) = E_1 G / 2``, ``N(d2_o) = E_2 G e^{x_o} / 2`` (``d2_o^2 = d1_o^2 - 2 x_o``), their
complements by ``1 - N``; ``phi(d1) = G / sqrt(2 pi)`` when the call is out of the money, else
``G e^{x_o} / sqrt(2 pi)``.  So a leg costs one ``log``, one ``exp`` and two ``erfcx``.

Limits: ``s`` is floored (``sd_floor``: ``1e-150`` for float64 tables, ``1e-15`` for float32, as in
the array version); ``sd`` below the floor - ``tau_v = 0`` (expiry) or ``vol = 0`` - takes the array
version's limit branch: ``d1 = d2 = +-40`` (0 at the money), intrinsic price, zero gamma, zero vega and
``theta_var`` at ``tau_v = 0``.  A NaN input gives NaN price and greeks (the array version keeps
finite ``delta``/``gamma``/``vega`` for a NaN vol).  Arithmetic is float64 whatever the dtype of the inputs.
"""

from __future__ import annotations

import math

import numpy as np
from .floats import jitable as register_jitable

from .special import erfcx, ndtr

__all__ = ["SD_FLOOR_F64", "SD_FLOOR_F32", "sd_floor", "bs_market", "bs_leg", "bs_leg_price", "black_scholes",
           "black_scholes_price"]

SD_FLOOR_F64 = 1e-150
SD_FLOOR_F32 = 1e-15
SQRT1_2 = 0.7071067811865476
INV_SQRT2PI = 0.3989422804014327
_D_CAP = 40.0  # |d| of the sd = 0 limit (N(d) is 0 or 1 in double precision)
_D_CLIP = 1e6  # greeks' |d1| clip of the array version


def sd_floor(dtype) -> float:
    """Floor of the total standard deviation for tables of ``dtype`` (the array version's)."""
    return SD_FLOOR_F64 if np.dtype(dtype).itemsize >= 8 else SD_FLOOR_F32


@register_jitable
def bs_market(spot, tau, rate, dividend_yield):
    """``(fwd, disc, dq)``: forward ``S dq / disc``, ``disc = e^{-r tau}``, ``dq = e^{-q tau}`` (``tau`` calendar, >= 0)."""
    if tau < 0.0:
        tau = 0.0
    disc = math.exp(-rate * tau)
    dq = math.exp(-dividend_yield * tau)
    return spot * dq / disc, disc, dq


@register_jitable
def _otm(fwd, strike, x, s, floor):
    """``(OTM value / D, G, E_1, E_2, call_otm)`` for ``s >= floor`` (see module doc)."""
    call_otm = x <= 0.0
    xo = x if call_otm else -x
    cap = 1.0 / floor
    q = xo / s
    if q < -cap:
        q = -cap
    d1 = q + 0.5 * s
    d2 = d1 - s
    g = math.exp(-0.5 * d1 * d1)
    e1 = erfcx(-d1 * SQRT1_2)
    e2 = erfcx(-d2 * SQRT1_2)
    lo = fwd if call_otm else strike
    b = e1 - e2
    if b < 0.0:
        b = 0.0
    return 0.5 * lo * g * b, g, e1, e2, call_otm


@register_jitable
def bs_leg_price(fwd, disc, sqrt_tau_v, strike, x, vol, is_call, floor):
    """Price of one option (see :func:`bs_leg`)."""
    if vol < 0.0:
        vol = 0.0
    s = vol * sqrt_tau_v
    if s < floor:
        s = floor
    otm = _otm(fwd, strike, x, s, floor)[0]
    intrinsic = fwd - strike if is_call else strike - fwd
    if intrinsic < 0.0:
        intrinsic = 0.0
    return disc * otm + disc * intrinsic


@register_jitable
def _limit(spot, fwd, disc, dq, sqrt_tau_v, strike, x, sd, vol, rate, dividend_yield, is_call, floor):
    """The array version's greeks for ``sd < floor`` (``d1 = d2 = +-40`` at ``sd = 0``); NaN for a NaN ``sd``."""
    if sd != sd:
        return math.nan, math.nan, math.nan, math.nan, math.nan, math.nan
    if sd > 0.0:
        d1 = x / sd + 0.5 * sd
        d1 = min(max(d1, -_D_CLIP), _D_CLIP)
        d2 = d1 - sd
    else:
        d1 = _D_CAP if x > 0.0 else (-_D_CAP if x < 0.0 else 0.0)
        d2 = d1
    otm = _otm(fwd, strike, x, floor, floor)[0]
    intrinsic = fwd - strike if is_call else strike - fwd
    if intrinsic < 0.0:
        intrinsic = 0.0
    price = disc * otm + disc * intrinsic
    pdf1 = INV_SQRT2PI * math.exp(-0.5 * d1 * d1)
    gamma = dq * pdf1 / (spot * sd) if sd > 0.0 else 0.0
    vega = spot * dq * pdf1 * sqrt_tau_v
    theta_var = -spot * dq * pdf1 * vol / (2.0 * sqrt_tau_v) if sqrt_tau_v > 0.0 else 0.0
    if is_call:
        delta = dq * ndtr(d1)
        theta_cal = dividend_yield * spot * dq * ndtr(d1) - rate * strike * disc * ndtr(d2)
    else:
        delta = -dq * ndtr(-d1)
        theta_cal = -dividend_yield * spot * dq * ndtr(-d1) + rate * strike * disc * ndtr(-d2)
    return price, delta, gamma, vega, theta_cal, theta_var


@register_jitable
def bs_leg(spot, fwd, disc, dq, sqrt_tau_v, strike, x, vol, rate, dividend_yield, is_call, floor):
    """``(price, delta, gamma, vega, theta_cal, theta_var)`` of one option (see module doc).

    ``fwd, disc, dq`` from :func:`bs_market` (calendar ``tau``), ``sqrt_tau_v = sqrt(tau_v)`` (variance
    years), ``x = ln(fwd / strike)`` (computed once by the caller, e.g. shared with a table lookup),
    ``vol`` decimal, ``is_call`` bool, ``floor`` from :func:`sd_floor`.
    """
    if vol < 0.0:
        vol = 0.0
    sd = vol * sqrt_tau_v
    if not sd >= floor:
        return _limit(spot, fwd, disc, dq, sqrt_tau_v, strike, x, sd, vol, rate, dividend_yield, is_call, floor)
    otm, g, e1, e2, call_otm = _otm(fwd, strike, x, sd, floor)
    m = fwd / strike if call_otm else strike / fwd  # e^{x_o}
    n1 = 0.5 * e1 * g  # N(d1_o)
    n2 = 0.5 * e2 * g * m  # N(d2_o)
    if call_otm:  # d1_o = d1, d2_o = d2
        nd1, nd2 = n1, n2
        pdf1 = INV_SQRT2PI * g
    else:  # d1_o = -d2, d2_o = -d1
        nd1, nd2 = 1.0 - n2, 1.0 - n1
        pdf1 = INV_SQRT2PI * g * m
    intrinsic = fwd - strike if is_call else strike - fwd
    if intrinsic < 0.0:
        intrinsic = 0.0
    price = disc * otm + disc * intrinsic
    sdq = spot * dq
    gamma = dq * pdf1 / (spot * sd)
    vega = sdq * pdf1 * sqrt_tau_v
    theta_var = -sdq * pdf1 * vol / (2.0 * sqrt_tau_v)
    if is_call:
        delta = dq * nd1
        theta_cal = dividend_yield * sdq * nd1 - rate * strike * disc * nd2
    else:
        nmd1 = n2 if not call_otm else 1.0 - n1
        nmd2 = n1 if not call_otm else 1.0 - n2
        delta = -dq * nmd1
        theta_cal = -dividend_yield * sdq * nmd1 + rate * strike * disc * nmd2
    return price, delta, gamma, vega, theta_cal, theta_var


@register_jitable
def black_scholes(spot, strike, tau, tau_v, vol, rate, dividend_yield, is_call, floor):
    """``(price, delta, gamma, vega, theta_cal, theta_var)``; ``tau`` calendar, ``tau_v`` variance years."""
    fwd, disc, dq = bs_market(spot, tau, rate, dividend_yield)
    sq = math.sqrt(tau_v) if tau_v > 0.0 else 0.0
    return bs_leg(spot, fwd, disc, dq, sq, strike, math.log(fwd / strike), vol, rate, dividend_yield, is_call, floor)


@register_jitable
def black_scholes_price(spot, strike, tau, tau_v, vol, rate, dividend_yield, is_call, floor):
    """Price only (see :func:`black_scholes`)."""
    fwd, disc, dq = bs_market(spot, tau, rate, dividend_yield)
    sq = math.sqrt(tau_v) if tau_v > 0.0 else 0.0
    return bs_leg_price(fwd, disc, sq, strike, math.log(fwd / strike), vol, is_call, floor)
