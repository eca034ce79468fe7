"""Scalar special functions for the per-path programs: ``ndtr``, ``ndtri``, ``erfcx``.

Each matches its SciPy counterpart (``scipy.special``) to a few units in the last place over the
ranges the engine uses (tests in ``tests/test_kernel_special.py``):

* ``ndtr(x) = Phi(x)`` from libm ``erf``/``erfc`` (relative differences from SciPy grow like
  ``x^2 eps`` in the far tails: the conditioning of ``erfc`` at a rounded argument);
* ``ndtri(p) = Phi^{-1}(p)``: Acklam's rational approximation (relative error 1.15e-9) refined by one
  Halley step on ``Phi(x) - p`` (cubic convergence, so the result is limited by ``erfc``'s own accuracy);
  the upper half uses ``ndtri(p) = -ndtri(1 - p)`` (exact subtraction for ``p >= 1/2``);
* ``erfcx(x) = exp(x^2) erfc(x)``: for ``0 <= x < 12`` the product with ``x^2`` split into two floats
  (Dekker) so that ``exp`` sees no rounding error of the square; for ``x >= 12`` the asymptotic series
  ``1/(x sqrt pi) sum_n (-1)^n (2n-1)!! / (2 x^2)^n`` (12 terms: below 1e-17 relative); for ``x < 0``
  the reflection ``erfcx(x) = 2 exp(x^2) - erfcx(-x)`` (``inf`` beyond ``x < -26.6``, like SciPy).
"""

from __future__ import annotations

import math

from .floats import jitable as register_jitable

__all__ = ["ndtr", "ndtri", "erfcx", "exp_square"]

SQRT1_2 = 0.7071067811865476
SQRT_2PI = 2.5066282746310002
INV_SQRT_PI = 0.5641895835477563
_SPLIT = 134217729.0  # 2^27 + 1

# Acklam's coefficients (P. J. Acklam, "An algorithm for computing the inverse normal cumulative
# distribution function", 2003)
_A0, _A1, _A2, _A3, _A4, _A5 = -3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02, 1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00
_B0, _B1, _B2, _B3, _B4 = -5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02, 6.680131188771972e01, -1.328068155288572e01
_C0, _C1, _C2, _C3, _C4, _C5 = -7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00, -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00
_D0, _D1, _D2, _D3 = 7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00
_P_LOW = 0.02425


@register_jitable
def ndtr(x):
    """Standard normal CDF (``erf`` near 0, ``erfc`` in the tails, as Cephes does)."""
    y = x * SQRT1_2
    if abs(y) < SQRT1_2:
        return 0.5 + 0.5 * math.erf(y)
    if y > 0.0:
        return 1.0 - 0.5 * math.erfc(y)
    return 0.5 * math.erfc(-y)


@register_jitable
def _ndtri_lower(p):
    """``Phi^{-1}(p)`` for ``0 < p <= 1/2``."""
    if p < _P_LOW:
        q = math.sqrt(-2.0 * math.log(p))
        x = (((((_C0 * q + _C1) * q + _C2) * q + _C3) * q + _C4) * q + _C5) / ((((_D0 * q + _D1) * q + _D2) * q + _D3) * q + 1.0)
    else:
        q = p - 0.5
        r = q * q
        x = (((((_A0 * r + _A1) * r + _A2) * r + _A3) * r + _A4) * r + _A5) * q / (((((_B0 * r + _B1) * r + _B2) * r + _B3) * r + _B4) * r + 1.0)
    # one Halley step on Phi(x) - p
    e = 0.5 * math.erfc(-x * SQRT1_2) - p
    u = e * SQRT_2PI * math.exp(0.5 * x * x)
    return x - u / (1.0 + 0.5 * x * u)


@register_jitable
def ndtri(p):
    """Inverse standard normal CDF for ``0 < p < 1`` (``-inf`` / ``inf`` at 0 / 1, NaN outside)."""
    if not (p > 0.0 and p < 1.0):
        if p == 0.0:
            return -math.inf
        if p == 1.0:
            return math.inf
        return math.nan
    if p > 0.5:
        return -_ndtri_lower(1.0 - p)
    return _ndtri_lower(p)


@register_jitable
def exp_square(x):
    """``exp(x^2)`` without the rounding error of ``x * x`` (Dekker's exact square)."""
    c = _SPLIT * x
    hi = c - (c - x)
    lo = x - hi
    x2 = x * x
    err = ((hi * hi - x2) + 2.0 * hi * lo) + lo * lo
    return math.exp(x2) * (1.0 + err)


@register_jitable
def _erfcx_pos(x):
    if x < 12.0:
        return math.erfc(x) * exp_square(x)
    h = 0.5 / (x * x)
    term = 1.0
    total = 1.0
    for n in range(1, 13):
        term = -term * (2.0 * n - 1.0) * h
        total += term
    return INV_SQRT_PI * total / x


@register_jitable
def erfcx(x):
    """Scaled complementary error function ``exp(x^2) erfc(x)``."""
    if x >= 0.0:
        return _erfcx_pos(x)
    if x < -26.7:
        return math.inf
    return 2.0 * exp_square(x) - _erfcx_pos(-x)
