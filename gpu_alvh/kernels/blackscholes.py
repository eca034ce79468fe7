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

Price (the out-of-the-money form): with ``x = ln(F/K)``, ``x_o = -|x|``, ``d1_o = x_o / s + s/2``,
``d2_o = d1_o - s``, ``lo = min(F, K)``, ``hi = max(F, K)``:

.. code-block:: text

    OTM value  = D (lo erfc(-d1_o / sqrt 2) - hi erfc(-d2_o / sqrt 2)) / 2  = D (lo N(d1_o) - hi N(d2_o))
    price      = OTM value + D (intrinsic of the forward)

and the normal CDF values of the greeks are the same two terms, ``N(d_i_o) = erfc(-d_i_o / sqrt 2) / 2``,
their complements by ``1 - N``; ``phi(d1) = G / sqrt(2 pi)``, ``G = exp(-d1_o^2 / 2)``, when the call is
out of the money, else ``G e^{x_o} / sqrt(2 pi)``.  So a price costs one ``log`` and two ``erfc``, a leg
with greeks one ``exp`` more.  The array version computes the same value in the scaled form
``D lo G (E_1 - E_2) / 2``, ``E_i = erfcx(-d_i_o / sqrt 2)`` (``lo G E_1 = lo erfc(-d1_o / sqrt 2)``, ``lo G
E_2 = hi erfc(-d2_o / sqrt 2)`` since ``d2_o^2 = d1_o^2 - 2 x_o``): the two terms whose difference is
the value are the same in both (they cancel by up to ``1/s`` in both), only their rounding differs: an
``erfc`` term also carries ``erfc``'s sensitivity to its rounded argument, ``2 y^2`` ulps at ``y = -d_o /
sqrt 2``, which the cancellation amplifies, where the scaled form puts that sensitivity in the common factor
``G``.  So below ``d1_o = -3`` (``2 y^2 > 9``) the kernel takes the scaled form too (two ``erfcx``, three
``exp``); a condor's legs sit above it (16-delta shorts: ``d1_o`` about -1).

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


_D1_SCALED = -3.0  # below: the scaled (erfcx) form of the OTM value (module doc)


@register_jitable
def _otm(fwd, strike, x, s, floor):
    """``(OTM value / D, N(d1_o), N(d2_o), call_otm, d1_o)`` for ``s >= floor`` (see module doc)."""
    call_otm = x <= 0.0
    xo = x if call_otm else -x
    cap = 1.0 / floor
    q = xo / s
    if q < -cap:
        q = -cap
    d1 = q + 0.5 * s
    d2 = d1 - s
    lo, hi = (fwd, strike) if call_otm else (strike, fwd)
    if d1 >= _D1_SCALED:
        n1 = 0.5 * math.erfc(-d1 * SQRT1_2)
        n2 = 0.5 * math.erfc(-d2 * SQRT1_2)
        b = lo * n1 - hi * n2
    else:  # far tail: the scaled form
        g = math.exp(-0.5 * d1 * d1)
        e1 = erfcx(-d1 * SQRT1_2)
        e2 = erfcx(-d2 * SQRT1_2)
        n1 = 0.5 * e1 * g
        n2 = 0.5 * e2 * g * (lo / hi)
        b = 0.5 * lo * g * (e1 - e2)
    if b < 0.0:
        b = 0.0
    return b, n1, n2, call_otm, d1


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
    otm, n1, n2, call_otm, d1o = _otm(fwd, strike, x, sd, floor)  # n1 = N(d1_o), n2 = N(d2_o)
    g = math.exp(-0.5 * d1o * d1o)
    if call_otm:  # d1_o = d1, d2_o = d2
        nd1, nd2 = n1, n2
        pdf1 = INV_SQRT2PI * g
    else:  # d1_o = -d2, d2_o = -d1
        nd1, nd2 = 1.0 - n2, 1.0 - n1
        pdf1 = INV_SQRT2PI * g * (strike / fwd)  # e^{x_o}
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
