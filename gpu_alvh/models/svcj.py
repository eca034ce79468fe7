"""SVCJ: stochastic volatility with correlated jumps in price and variance.

Duffie, Pan & Singleton (2000), Econometrica 68(6); Eraker (2004), JF 59(3).

.. code-block:: text

    dS/S = (r - q - lambda m) dt + sqrt(v) dW_s + (e^J - 1) dN
    dv   = kappa (theta - v) dt + sigma sqrt(v) dW_v + Z_v dN
    Z_v ~ Exp(mean mu_v),   J | Z_v ~ N(mu_J + rho_J Z_v, delta^2)
    m    = exp(mu_J + delta^2/2) / (1 - rho_J mu_v) - 1

Parameters beside Bates's: ``var_jump_mean`` (mu_v) and ``jump_corr`` (rho_J).
A joint jump moves VIX up at once, which a pure diffusion cannot do (the +115%
VIX day of 2018-02-05) and gives VIX options their upward skew.

Log-price CF: the Heston ``B(u, s)`` is unchanged; the jump part of ``A`` is
``lambda \\int_0^T (theta_J(u, B(u, s)) - 1) ds`` with
``theta_J(u, b) = e^{i u mu_J - delta^2 u^2/2} / (1 - (b + i u rho_J) mu_v)``,
in closed form (see :meth:`SVCJ.jump_a`).  Variance CF: CIR ``B_v(w, s)`` and
jump part ``lambda \\int_0^T (1/(1 - mu_v B_v(w, s)) - 1) ds``, also closed form.

VIX: ``theta`` becomes ``theta + lambda mu_v / kappa`` and
``b = theta_eff (1 - a) + 2 lambda (E[e^J] - 1 - E[J])``, ``E[J] = mu_J + rho_J mu_v``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..errors import SpecIssue
from ..rng import Block
from .base import SIGMA_FLOOR, ParamRule
from .bates import Bates

__all__ = ["SVCJ"]

_SERIES = 1e-4  # below this |z| the log-ratios use their series


@dataclass(frozen=True)
class SVCJ(Bates):
    """Bates + exponential variance jumps arriving with the price jumps."""

    name: ClassVar[str] = "svcj"
    RULES: ClassVar[dict[str, ParamRule]] = {
        **Bates.RULES,
        "var_jump_mean": ParamRule(0.0, 4.0, doc="mean variance jump (exponential)"),
        "jump_corr": ParamRule(-50.0, 50.0, doc="rho_J: price-jump loading on the variance jump"),
    }

    var_jump_mean: float = 0.0
    jump_corr: float = 0.0

    @classmethod
    def _check_joint(cls, params: dict[str, float]) -> list[SpecIssue]:
        mu_v = params.get("var_jump_mean", 0.0)
        rho_j = params.get("jump_corr", 0.0)
        if rho_j * mu_v >= 0.99:
            return [SpecIssue("jump_corr", rho_j, f"jump_corr * var_jump_mean must be < 0.99 so that E[e^J] is finite (var_jump_mean={mu_v})")]
        return []

    def mean_variance_jump(self) -> float:
        return self.var_jump_mean

    def jump_compensator(self) -> float:
        return math.exp(self.jump_mean + 0.5 * self.jump_std**2) / (1.0 - self.jump_corr * self.var_jump_mean) - 1.0

    def jump_qv_term(self) -> float:
        mean_j = self.jump_mean + self.jump_corr * self.var_jump_mean
        return 2.0 * self.jump_intensity * (self.jump_compensator() - mean_j)

    def jump_a(self, u, T: float, xp=np):
        """Jump part of ``A(u, T)``: ``lambda (E[e^{iuJ}] I(u, T) - T)``, closed form.

        ``I = int_0^T ds / (1 - mu_v (B(u, s) + i u rho_J))``.  With the
        little-trap ``B``, ``E = e^{-dT}``, ``m = mu_v (beta - d)/sigma^2``,
        ``c0 = 1 - i u rho_J mu_v``, ``P = c0 - m``, ``Q = m - c0 g``:
        ``I = T/P + (g/Q + 1/P) L / d`` with
        ``L = [ln(1 - g E) - ln(1 - g)] + [ln(1 - mu_v (B(u,T) + i u rho_J)) - ln c0]``
        (differences of principal logs of right-half-plane numbers, continuous in
        ``u`` and ``T``; ``L/Q`` by its series where ``Q -> 0``).  For
        ``sigma < SIGMA_FLOOR``, ``B = b0 (1 - e^{-kappa s})`` with
        ``b0 = -(iu + u^2)/(2 kappa)`` and ``I = [T + ln((a + b E_k)/(a + b))/kappa]/a``,
        ``a = c0 - mu_v b0``, ``b = mu_v b0``, ``E_k = e^{-kappa T}``.
        """
        u = xp.asarray(u, dtype=complex)
        if self.jump_intensity == 0.0:
            return xp.zeros_like(u)
        if self.var_jump_mean == 0.0:
            return super().jump_a(u, T, xp=xp)
        k, s, r = self.kappa, self.sigma, self.rho
        mu_v, rho_j = self.var_jump_mean, self.jump_corr
        iu = 1j * u
        c0 = 1.0 - iu * rho_j * mu_v
        if s < SIGMA_FLOOR:
            b0 = -0.5 * (iu + u * u) / k
            a, b = c0 - mu_v * b0, mu_v * b0
            integral = (T + (xp.log(a + b * math.exp(-k * T)) - xp.log(a + b)) / k) / a
        else:
            beta = k - r * s * iu
            d = xp.sqrt(beta * beta + s * s * (iu + u * u))
            g = (beta - d) / (beta + d)
            e = xp.exp(-d * T)
            B_T = (beta - d) / (s * s) * (1 - e) / (1 - g * e)
            m = mu_v * (beta - d) / (s * s)
            P = c0 - m
            Q = m - c0 * g
            L = (xp.log(1.0 - g * e) - xp.log(1.0 - g)) + (xp.log(1.0 - mu_v * (B_T + iu * rho_j)) - xp.log(c0))
            PQ = P + Q
            z = Q * (e - 1.0) / PQ
            small = xp.abs(z) < _SERIES
            series = (e - 1.0) / PQ * (1.0 - z / 2.0 + z * z / 3.0 - z * z * z / 4.0)
            L_over_Q = xp.where(small, series, L / xp.where(small, 1.0, Q))
            integral = T / P + (g * L_over_Q + L / P) / d
        return self.jump_intensity * (self.price_jump_cf(u, xp=xp) * integral - T)

    def variance_jump_a(self, w, T: float, xp=np):
        """Jump part of ``A_v(w, T)``, closed form.

        With ``gamma = sigma^2 / (2 kappa)`` and ``E = e^{-kappa T}``:
        ``lambda mu_v / kappa [ln(1 - i w mu_v) - ln(1 - i w (gamma (1 - E) + mu_v E))] / (gamma - mu_v)``,
        whose limit for ``gamma -> mu_v`` is ``lambda mu_v / kappa * i w (1 - E) / (1 - i w mu_v)``.
        """
        w = xp.asarray(w, dtype=complex)
        if self.jump_intensity == 0.0 or self.var_jump_mean == 0.0:
            return xp.zeros_like(w)
        k, s, mu_v = self.kappa, self.sigma, self.var_jump_mean
        gam = s * s / (2.0 * k)
        E = math.exp(-k * T)
        iw = 1j * w
        num = 1.0 - iw * mu_v
        den = 1.0 - iw * (gam * (1.0 - E) + mu_v * E)
        eps = gam - mu_v
        z = den / num - 1.0  # = -i w eps (1 - E) / num
        series = iw * (1.0 - E) / num * (1.0 - z / 2.0 + z * z / 3.0 - z * z * z / 4.0)
        if eps == 0.0:
            val = series
        else:
            val = xp.where(xp.abs(z) < _SERIES, series, (xp.log(num) - xp.log(den)) / eps)
        return self.jump_intensity * mu_v / k * val

    #: Variance jumps summed exactly (one uniform each); more use Wilson-Hilferty.
    EXACT_VAR_JUMPS: ClassVar[int] = 4

    def sample_jumps(self, draw, count, max_count: int, xp, special, dt: float = 0.0):
        """Joint jumps of one step given the count ``N``.

        ``Z = mu_v * sum_{i<N} E_i`` with ``E_i = -ln u_i`` (exact for
        ``N <= 4``: four uniforms from the VAR_JUMP_A/B blocks; the rare
        remainder ``N - 4`` is a Gamma(N-4) variate by the Wilson-Hilferty cube
        of a normal from VAR_JUMP_TAIL, computed only in steps where
        ``max_count > 4``).  ``sum J_i = N mu_J + rho_J Z + sqrt(N) delta z``.

        The variance jumps come at a uniform time ``U`` within the step (block VAR_JUMP_TIME, one ``U``
        for the step's total), so the price diffuses with the raised variance for the rest of it: the
        step's integrated variance gains ``I = Z (1 - U) dt`` (mean ``Z dt / 2``), added to the log price
        as ``-I/2 + sqrt(I) z_I`` (``z_I = ndtri(u_norm)``, independent: a martingale given ``I``).
        Without it a step's own diffusion never sees its jump, and one-step-a-day SVCJ paths carry
        ``lambda mu_v dt / 2`` too little variance a year.
        """
        _, u_size = draw(Block.JUMP)
        z = special.ndtri(u_size)
        ua, ub = draw(Block.VAR_JUMP_A)
        uc, ud = draw(Block.VAR_JUMP_B)
        expo = None
        for i, u in enumerate((ua, ub, uc, ud)):
            term = -xp.log(u) * (count > i)
            expo = term if expo is None else expo + term
        if max_count > self.EXACT_VAR_JUMPS:
            k = xp.maximum(count - self.EXACT_VAR_JUMPS, 0.0)
            zt = special.ndtri(draw(Block.VAR_JUMP_TAIL)[0])
            kk = xp.maximum(k, 1.0)
            h = 1.0 / (9.0 * kk)
            gamma = kk * xp.maximum(1.0 - h + zt * xp.sqrt(h), 0.0) ** 3
            expo = expo + gamma * (k > 0)
        var_jump = self.var_jump_mean * expo
        log_jump = count * self.jump_mean + self.jump_corr * var_jump + xp.sqrt(count) * (self.jump_std * z)
        if dt > 0.0:
            u_time, u_norm = draw(Block.VAR_JUMP_TIME)
            added = var_jump * (1.0 - u_time) * dt
            log_jump = log_jump + (-0.5 * added + xp.sqrt(added) * special.ndtri(u_norm))
        return log_jump, var_jump
