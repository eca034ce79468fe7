"""Black-Scholes / Black-76 prices, greeks and implied volatility on the array namespace.

Every function takes its arrays from one namespace (NumPy or CuPy) and a
:class:`~gpu_alvh.backend.Backend` (or a name) for the special functions, so
the same code runs on the CPU and the GPU.  Inputs broadcast elementwise.

Conventions
-----------
* ``tau`` - time to expiry in years (calendar days / 365); ``tau = 0`` gives
  the expiry limit (intrinsic value, step delta, zero gamma / vega), never NaN.
* ``vol`` - annualised Black volatility (decimal, 0.20 = 20%).
* ``rate``, ``dividend_yield`` - continuously compounded, per year.
* ``is_call`` - bool scalar or bool array.
* greeks are per one option (no multiplier): ``delta = dV/dS``,
  ``gamma = d2V/dS2``, ``vega = dV/dvol`` per 1.00 of vol, ``theta = dV/dt``
  per year of calendar time (``= -dV/dtau``) at constant vol.

Implied volatility
------------------
:func:`implied_vol` inverts the normalised Black price of the out-of-the-money
option (Jaeckel's normalisation, ``b = price / (D sqrt(F K))``, ``x = ln(F/K)``)

.. code-block:: text

    b(x, s) = e^{x/2} N(x/s + s/2) - e^{-x/2} N(x/s - s/2),      x <= 0, s = vol sqrt(tau)
            = 1/2 exp(x/2 - d1^2/2) [erfcx(-d1/sqrt2) - erfcx(-d2/sqrt2)]

The second form has no cancellation between two tiny numbers, so prices down
to ~1e-300 of the forward invert accurately (deep OTM, minutes to expiry).
The root of ``ln b(s) = ln beta`` is found by Newton steps, safeguarded by a
bisection bracket (``d ln b/ds = sqrt(2/pi) / [erfcx(-d1/sqrt2) - erfcx(-d2/sqrt2)]``
is overflow-free), for a fixed number of iterations (no host round-trip).
Prices outside the no-arbitrage bounds give NaN; a price at (or below) the
intrinsic value gives 0.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from ..backend import Backend, get_backend

__all__ = [
    "Greeks",
    "black_scholes",
    "black76",
    "implied_vol",
    "normalized_black",
    "normalized_implied_total_vol",
]

SQRT2 = math.sqrt(2.0)
SQRT2PI = math.sqrt(2.0 * math.pi)
INV_SQRT2PI = 1.0 / SQRT2PI
SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_D_CAP = 40.0  # |d| beyond which N(d) is 0 or 1 in double precision


class Greeks(NamedTuple):
    """Price and greeks of one option (per unit, no multiplier)."""

    price: object
    delta: object
    gamma: object
    vega: object
    theta: object


def _resolve(backend) -> Backend:
    return get_backend(backend) if not isinstance(backend, Backend) else backend


def _scalar_or_array(x, xp):
    """Keep Python scalars weak (no float32 -> float64 promotion); arrays go to ``xp``."""
    return float(x) if isinstance(x, (int, float)) else xp.asarray(x)


def _d1_d2(xp, log_fk, sd):
    """``d1, d2`` with the ``sd = 0`` limit (+-40 or 0 at the money); ``sd_safe`` > 0."""
    pos = sd > 0.0
    sd_safe = xp.where(pos, sd, 1.0)
    d1 = xp.where(pos, log_fk / sd_safe + 0.5 * sd, xp.sign(log_fk) * _D_CAP)
    d1 = xp.clip(d1, -1e6, 1e6)
    d2 = xp.where(pos, d1 - sd, d1)
    return d1, d2, sd_safe, pos


def _price_from_otm(xp, sp, fwd, strike, sd, log_fk, disc, is_call):
    """Price = OTM value (normalised erfcx form, exact for tiny values) + discounted intrinsic."""
    x = -xp.abs(log_fk)
    # floor the standard deviation so that d1^2 stays finite in the array's precision
    floor, cap = (1e-150, 1e150) if sd.dtype.itemsize >= 8 else (1e-15, 1e15)
    s = xp.maximum(sd, floor)
    d1 = xp.clip(x / s, -cap, cap) + 0.5 * s
    d2 = d1 - s
    b = 0.5 * xp.exp(0.5 * x - 0.5 * d1 * d1) * (sp.erfcx(-d1 / SQRT2) - sp.erfcx(-d2 / SQRT2))
    otm = disc * xp.sqrt(fwd * strike) * xp.maximum(b, 0.0)
    intrinsic = xp.where(is_call, xp.maximum(fwd - strike, 0.0), xp.maximum(strike - fwd, 0.0))
    return otm + disc * intrinsic


def black_scholes(spot, strike, tau, vol, *, rate=0.0, dividend_yield=0.0, is_call=True, backend=None) -> Greeks:
    """Black-Scholes price and greeks of European options on a spot with yield.

    Parameters
    ----------
    spot, strike : array, index points
    tau : array, years (>= 0)
    vol : array, decimal annual volatility (>= 0)
    rate, dividend_yield : float or array
    is_call : bool or bool array
    backend : Backend or name

    Returns
    -------
    Greeks
        ``(price, delta, gamma, vega, theta)``, broadcast shape of the inputs.
    """
    be = _resolve(backend)
    xp, sp = be.xp, be.special
    spot = xp.asarray(spot)
    strike = xp.asarray(strike)
    tau = xp.maximum(xp.asarray(tau), 0.0)
    vol = xp.maximum(xp.asarray(vol), 0.0)
    r = _scalar_or_array(rate, xp)
    q = _scalar_or_array(dividend_yield, xp)
    is_call = xp.asarray(is_call, dtype=bool)

    disc = xp.exp(-r * tau)
    dq = xp.exp(-q * tau)
    fwd = spot * dq / disc
    sqrt_tau = xp.sqrt(tau)
    sd = vol * sqrt_tau
    log_fk = xp.log(fwd / strike)
    d1, d2, sd_safe, pos = _d1_d2(xp, log_fk, sd)
    nd1, nd2 = sp.ndtr(d1), sp.ndtr(d2)
    nmd1, nmd2 = sp.ndtr(-d1), sp.ndtr(-d2)
    pdf1 = INV_SQRT2PI * xp.exp(-0.5 * d1 * d1)

    price = _price_from_otm(xp, sp, fwd, strike, sd, log_fk, disc, is_call)
    delta = xp.where(is_call, dq * nd1, -dq * nmd1)
    gamma = xp.where(pos, dq * pdf1 / (spot * sd_safe), 0.0)
    vega = spot * dq * pdf1 * sqrt_tau
    tpos = tau > 0.0
    decay = xp.where(tpos, -spot * dq * pdf1 * vol / (2.0 * xp.where(tpos, sqrt_tau, 1.0)), 0.0)
    theta_call = decay + q * spot * dq * nd1 - r * strike * disc * nd2
    theta_put = decay - q * spot * dq * nmd1 + r * strike * disc * nmd2
    theta = xp.where(is_call, theta_call, theta_put)
    return Greeks(price, delta, gamma, vega, theta)


def black76(forward, strike, tau, vol, *, discount=1.0, is_call=True, backend=None) -> Greeks:
    """Black-76 price and greeks of European options on a forward / futures price.

    ``price = D [F N(d1) - K N(d2)]`` (call).  ``delta = dV/dF``, ``gamma =
    d2V/dF2``, ``vega = dV/dvol``, ``theta = dV/dt`` per year at constant ``F``,
    ``vol`` and continuously compounded rate ``-ln(D)/tau``.
    """
    be = _resolve(backend)
    xp, sp = be.xp, be.special
    fwd = xp.asarray(forward)
    strike = xp.asarray(strike)
    tau = xp.maximum(xp.asarray(tau), 0.0)
    vol = xp.maximum(xp.asarray(vol), 0.0)
    disc = _scalar_or_array(discount, xp)
    is_call = xp.asarray(is_call, dtype=bool)
    sqrt_tau = xp.sqrt(tau)
    sd = vol * sqrt_tau
    d1, d2, sd_safe, pos = _d1_d2(xp, xp.log(fwd / strike), sd)
    nd1, nmd1 = sp.ndtr(d1), sp.ndtr(-d1)
    pdf1 = INV_SQRT2PI * xp.exp(-0.5 * d1 * d1)
    price = _price_from_otm(xp, sp, fwd, strike, sd, xp.log(fwd / strike), disc, is_call)
    delta = xp.where(is_call, disc * nd1, -disc * nmd1)
    gamma = xp.where(pos, disc * pdf1 / (fwd * sd_safe), 0.0)
    vega = disc * fwd * pdf1 * sqrt_tau
    tpos = tau > 0.0
    tau_safe = xp.where(tpos, tau, 1.0)
    r = xp.where(tpos, -xp.log(xp.asarray(disc, dtype=fwd.dtype)) / tau_safe, 0.0)
    decay = xp.where(tpos, -disc * fwd * pdf1 * vol / (2.0 * xp.sqrt(tau_safe)), 0.0)
    theta = decay + r * price
    return Greeks(price, delta, gamma, vega, theta)


# --------------------------------------------------------------------------- implied volatility
def normalized_black(x, s, *, backend=None):
    """Normalised OTM Black price ``b(x, s)`` for ``x = ln(F/K) <= 0`` and total vol ``s > 0``.

    Computed as ``1/2 exp(x/2 - d1^2/2) [erfcx(-d1/sqrt2) - erfcx(-d2/sqrt2)]``
    (accurate for tiny values).
    """
    be = _resolve(backend)
    xp, sp = be.xp, be.special
    s = xp.maximum(s, 1e-150)
    d1 = x / s + 0.5 * s
    d2 = d1 - s
    diff = sp.erfcx(-d1 / SQRT2) - sp.erfcx(-d2 / SQRT2)
    return 0.5 * xp.exp(0.5 * x - 0.5 * d1 * d1) * diff


def normalized_implied_total_vol(x, beta, *, backend=None, iterations: int = 32):
    """Total implied volatility ``s = vol sqrt(tau)`` from a normalised OTM price.

    Parameters
    ----------
    x : array, ``ln(F/K)``; only ``-|x|`` is used (OTM side).
    beta : array, normalised OTM price ``price / (D sqrt(F K))``.
    iterations : fixed number of safeguarded Newton steps (32 reach machine
        precision from any start on ``|x| <= 20``, ``beta >= 1e-300``).

    Returns
    -------
    array
        ``s >= 0``; 0 where ``beta <= 0``; NaN where ``beta >= e^{x/2}`` (above
        the upper no-arbitrage bound) or ``beta`` is not finite.
    """
    be = _resolve(backend)
    xp, sp = be.xp, be.special
    x = -xp.abs(xp.asarray(x))
    beta = xp.asarray(beta)
    x, beta = xp.broadcast_arrays(x, beta)
    upper = xp.exp(0.5 * x)
    valid = (beta > 0.0) & (beta < upper) & xp.isfinite(beta)
    beta_s = xp.where(valid, beta, 0.5 * upper)
    log_beta = xp.log(beta_s)

    # Start: the larger of the at-the-money guess b ~ s/sqrt(2 pi) and the
    # deep-OTM asymptote s ~ |x| / sqrt(-2 ln beta) (both lie near the root in
    # their own regime; the bracket catches overshoots).
    atm_guess = SQRT2PI * beta_s  # b(0, s) ~ s / sqrt(2 pi)
    lowb = -x / xp.sqrt(xp.maximum(-2.0 * log_beta, 1e-300))
    s = xp.maximum(xp.maximum(lowb, atm_guess), 1e-12)
    lo = xp.zeros_like(s)
    hi = xp.full_like(s, xp.inf)
    for _ in range(iterations):
        d1 = x / s + 0.5 * s
        d2 = d1 - s
        diff = sp.erfcx(-d1 / SQRT2) - sp.erfcx(-d2 / SQRT2)
        diff = xp.maximum(diff, 1e-300)
        log_b = math.log(0.5) + 0.5 * x - 0.5 * d1 * d1 + xp.log(diff)
        f = log_b - log_beta
        fprime = SQRT_2_OVER_PI / diff
        too_high = f > 0.0
        hi = xp.where(too_high, xp.minimum(hi, s), hi)
        lo = xp.where(too_high, lo, xp.maximum(lo, s))
        step = s - f / fprime
        bisect = xp.where(xp.isfinite(hi), 0.5 * (lo + hi), 2.0 * s + 1.0)
        ok = (step >= lo) & (step <= hi) & xp.isfinite(step)
        s = xp.where(ok, step, bisect)
    return xp.where(valid, s, xp.where(beta <= 0.0, 0.0, xp.nan))


def implied_vol(price, forward, strike, tau, *, discount=1.0, is_call=True, backend=None, iterations: int = 32):
    """Black implied volatility of European option prices.

    Works for Black-76 (``forward`` = futures price) and Black-Scholes (pass
    ``forward = S e^{(r-q) tau}``, ``discount = e^{-r tau}``).  In-the-money
    prices are converted to the out-of-the-money option by parity first.

    Returns annualised vol (decimal); 0 at or below intrinsic value (within
    rounding), NaN above the no-arbitrage upper bound or for ``tau <= 0``.
    """
    be = _resolve(backend)
    xp = be.xp
    price = xp.asarray(price)
    fwd = xp.asarray(forward)
    strike = xp.asarray(strike)
    tau = xp.asarray(tau)
    disc = xp.asarray(discount)
    is_call = xp.asarray(is_call, dtype=bool)
    undisc = price / disc
    # OTM price: call OTM when K > F, put OTM when K < F.
    call_otm_side = strike >= fwd
    otm = xp.where(is_call == call_otm_side, undisc, undisc - xp.where(is_call, fwd - strike, strike - fwd))
    beta = otm / xp.sqrt(fwd * strike)
    x = xp.log(fwd / strike)
    s = normalized_implied_total_vol(x, beta, backend=be, iterations=iterations)
    tpos = tau > 0.0
    return xp.where(tpos, s / xp.sqrt(xp.where(tpos, tau, 1.0)), xp.nan)
