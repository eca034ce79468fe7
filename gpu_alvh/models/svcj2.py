"""SVCJ2: SVCJ with a second, slow variance factor (a two-factor affine model).

.. code-block:: text

    dS/S = (r - q - lambda m) dt + sqrt(v) dW_1 + sqrt(v2) dW_2 + (e^J - 1) dN
    dv   = kappa  (theta  - v)  dt + sigma  sqrt(v)  dZ_1 + Z_v dN        (fast factor, SVCJ jumps)
    dv2  = kappa2 (theta2 - v2) dt + sigma2 sqrt(v2) dZ_2                 (slow factor, CIR)
    d<W_1, Z_1> = rho dt,   d<W_2, Z_2> = rho2 dt,   (W_1, Z_1) independent of (W_2, Z_2)

The instantaneous variance of the log price is ``v + v2``.  Two timescales are what one factor
cannot give (``alvh scenarios check``): the VIX falls back fast after a spike (the fast factor's
half-life, ~8 sessions in the daily history within a year) while its level wanders for years (the
slow factor's, ~34 sessions over all days), and the vol of VIX depends on how much of the variance
sits in the fast factor, not on the VIX level alone (VVIX spikes when the VIX jumps from a low level).
Christoffersen, Heston & Jacobs (2009), "The shape and term structure of the index option smirk",
Management Science 55(12), for the two-factor diffusion; Duffie, Pan & Singleton (2000) for the
jumps (:mod:`gpu_alvh.models.svcj`).

Because the factors are independent, every transform is a product:

* log price: ``ln E[e^{iu x_T}] = i u (r - q - lambda m) T + A_1 + B v + A_2 + C v2 + (jump part)``, with
  ``(A_1, B)`` the SVCJ fast factor's and ``(A_2, C)`` the Heston little-trap pair of the slow factor
  (:func:`gpu_alvh.models.base.heston_ab`) - :meth:`SVCJ2.log_price_abc`;
* variances: ``ln E[e^{i w v_T + i w2 v2_T}] = A_v(w) + B_v(w) v + A_2(w2) + C(w2) v2`` (the SVCJ
  variance transform and the CIR one, :func:`gpu_alvh.models.base.cir_ab`) - :meth:`SVCJ2.variance_abc`;
* VIX: ``VIX^2 = a v + a2 v2 + b`` with ``a = (1 - e^{-kappa tau})/(kappa tau)``, ``a2`` the same with
  ``kappa2``, ``b = theta_eff (1 - a) + theta2 (1 - a2) + 2 lambda (E[e^J] - 1 - E[J])`` -
  :meth:`SVCJ2.vix2_terms`.

The one-factor API of :class:`~gpu_alvh.models.base.AffineModel` (``log_price_ab``,
``vix2_coefficients``, ``variance_from_vix``) has no place for ``v2``: on this class those methods
raise :class:`TypeError` rather than drop the slow factor.  State names: ``v0`` (fast) and ``v2_0``
(slow).  ``sigma2 = 0`` makes the slow factor deterministic: ``v2_t = theta2 + (v2_0 - theta2) e^{-kappa2 t}``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .base import VIX_TAU, AffineModel, ParamRule, cir_ab, heston_ab
from .svcj import SVCJ

__all__ = ["SVCJ2"]

_ONE_FACTOR = "model 'svcj2' has two variance factors: use {good} (the one-factor {bad} has no slow variance v2)"


@dataclass(frozen=True)
class SVCJ2(SVCJ):
    """SVCJ (fast factor ``v``, jumps) plus an independent slow CIR factor ``v2``."""

    name: ClassVar[str] = "svcj2"
    n_factors: ClassVar[int] = 2
    RULES: ClassVar[dict[str, ParamRule]] = {
        **SVCJ.RULES,
        "kappa2": ParamRule(1e-3, 100.0, doc="mean-reversion speed of the slow variance, 1/yr"),
        "theta2": ParamRule(0.0, 4.0, doc="long-run slow variance, decimal"),
        "sigma2": ParamRule(0.0, 10.0, doc="volatility of the slow variance"),
        "rho2": ParamRule(-1.0, 1.0, doc="price/slow-variance correlation"),
    }
    STATE_RULES: ClassVar[dict[str, ParamRule]] = {
        **AffineModel.STATE_RULES,
        "v2_0": ParamRule(0.0, 16.0, doc="initial slow variance, decimal"),
    }

    kappa2: float = 1.0
    theta2: float = 0.0
    sigma2: float = 0.0
    rho2: float = 0.0

    # ------------------------------------------------------------------ the slow factor alone
    def slow_mean(self, v2_0, t):
        """``E[v2_t | v2_0]`` (decimal variance; ``t`` years)."""
        return self.theta2 + (v2_0 - self.theta2) * np.exp(-self.kappa2 * t)

    def slow_variance(self, v2_0, t):
        """``Var[v2_t | v2_0]``: the CIR variance
        ``sigma2^2 theta2 (1 - e^{-2kt})/(2k) + sigma2^2 (v2_0 - theta2)(e^{-kt} - e^{-2kt})/k``."""
        k, s, th = self.kappa2, self.sigma2, self.theta2
        e1, e2 = np.exp(-k * t), np.exp(-2 * k * t)
        return s * s * th * (1 - e2) / (2 * k) + s * s * (v2_0 - th) * (e1 - e2) / k

    # ------------------------------------------------------------------ VIX
    def vix2_terms(self, tau: float = VIX_TAU) -> tuple[float, float, float]:
        """``(a, a2, b)`` of ``VIX_t^2 = a v_t + a2 v2_t + b`` (decimal variance per year; module doc)."""
        a, b1 = SVCJ.vix2_coefficients(self, tau)
        kt = self.kappa2 * tau
        a2 = -math.expm1(-kt) / kt
        return a, a2, b1 + self.theta2 * (1.0 - a2)

    def vix_from_state(self, v, v2=0.0, xp=np, tau: float = VIX_TAU):
        """Model VIX in index points from the two variance states."""
        a, a2, b = self.vix2_terms(tau)
        return 100.0 * xp.sqrt(xp.maximum(a * v + a2 * v2 + b, 0.0))

    def fast_variance_from_vix(self, vix, v2=0.0, xp=np, tau: float = VIX_TAU):
        """Fast variance ``v`` that gives VIX = ``vix`` points at slow variance ``v2`` (floored at 0)."""
        a, a2, b = self.vix2_terms(tau)
        return xp.maximum(((vix / 100.0) ** 2 - b - a2 * v2) / a, 0.0)

    def vix_floor(self, tau: float = VIX_TAU) -> float:
        """Lowest VIX the model can produce (at ``v = v2 = 0``), in points."""
        return 100.0 * math.sqrt(max(self.vix2_terms(tau)[2], 0.0))

    def vix2_coefficients(self, tau: float = VIX_TAU):
        raise TypeError(_ONE_FACTOR.format(good="vix2_terms", bad="vix2_coefficients"))

    def vix_from_variance(self, v, xp=np, tau: float = VIX_TAU):
        raise TypeError(_ONE_FACTOR.format(good="vix_from_state", bad="vix_from_variance"))

    def variance_from_vix(self, vix, xp=np, tau: float = VIX_TAU):
        raise TypeError(_ONE_FACTOR.format(good="fast_variance_from_vix", bad="variance_from_vix"))

    # ------------------------------------------------------------------ transforms
    def slow_ab(self, u, T: float, xp=np):
        """``(A_2, C)``: the slow factor's part of the log-price CF, ``A_2 + C v2``."""
        return heston_ab(u, T, self.kappa2, self.theta2, self.sigma2, self.rho2, xp=xp)

    def log_price_abc(self, u, T: float, *, rate: float = 0.0, dividend_yield: float = 0.0, xp=np):
        """``(A, B, C)`` with ``ln E[e^{i u ln(S_T/S_0)}] = A + B v + C v2`` (drift and jumps in ``A``)."""
        A, B = SVCJ.log_price_ab(self, u, T, rate=rate, dividend_yield=dividend_yield, xp=xp)
        A2, C = self.slow_ab(u, T, xp=xp)
        return A + A2, B, C

    def log_price_cf(self, u, T: float, v, v2=0.0, *, rate: float = 0.0, dividend_yield: float = 0.0, xp=np):
        """``E[exp(i u ln(S_T/S_0))]`` at the states ``v``, ``v2`` (broadcast with ``u``)."""
        A, B, C = self.log_price_abc(u, T, rate=rate, dividend_yield=dividend_yield, xp=xp)
        return xp.exp(A + B * v + C * v2)

    def log_price_ab(self, u, T: float, *, rate: float = 0.0, dividend_yield: float = 0.0, xp=np):
        raise TypeError(_ONE_FACTOR.format(good="log_price_abc", bad="log_price_ab"))

    def variance_abc(self, w, w2, T: float, xp=np):
        """``(A, B, C)`` with ``ln E[e^{i w v_T + i w2 v2_T} | v, v2] = A + B v + C v2`` (``w``, ``w2`` broadcast)."""
        A1, B = SVCJ.variance_ab(self, w, T, xp=xp)
        A2, C = cir_ab(w2, T, self.kappa2, self.theta2, self.sigma2, xp=xp)
        return A1 + A2, B, C

    def vix2_cf(self, w, T: float, v, v2, tau: float = VIX_TAU, xp=np):
        """``E[exp(i w VIX_T^2) | v, v2]``: the law of the VIX^2 at ``T`` (VIX futures and options).

        ``VIX_T^2 = a v_T + a2 v2_T + b`` (:meth:`vix2_terms`), so the transform is
        ``e^{i w b}`` times the joint variance transform at ``(a w, a2 w)``."""
        a, a2, b = self.vix2_terms(tau)
        w = xp.asarray(w, dtype=complex)
        A, B, C = self.variance_abc(a * w, a2 * w, T, xp=xp)
        return xp.exp(1j * w * b + A + B * v + C * v2)
