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
integrated on graded Gauss-Legendre panels (the integrand has a boundary layer
of width ~1/|d| at s = 0).  Variance CF: CIR ``B_v(w, s)`` and jump part
``lambda \\int_0^T (1/(1 - mu_v B_v(w, s)) - 1) ds``.

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
from .base import ParamRule, graded_quadrature
from .bates import Bates

__all__ = ["SVCJ"]


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
        u = xp.asarray(u, dtype=complex)
        if self.jump_intensity == 0.0:
            return xp.zeros_like(u)
        if self.var_jump_mean == 0.0:
            return super().jump_a(u, T, xp=xp)
        s, wq = graded_quadrature(T)
        s = xp.asarray(s)
        wq = xp.asarray(wq)
        ue = u[..., None]
        _, Bs = self.heston_ab(ue, s, xp=xp) if self.sigma >= 1e-10 else self._heston_b_det(ue, s, xp)
        inner = 1.0 / (1.0 - (Bs + 1j * ue * self.jump_corr) * self.var_jump_mean)
        integral = (inner * wq).sum(axis=-1)
        return self.jump_intensity * (self.price_jump_cf(u, xp=xp) * integral - T)

    def _heston_b_det(self, u, s, xp):
        k = self.kappa
        iu = 1j * u
        return None, -0.5 * (iu + u * u) * (1 - xp.exp(-k * s)) / k

    def variance_jump_a(self, w, T: float, xp=np):
        w = xp.asarray(w, dtype=complex)
        if self.jump_intensity == 0.0 or self.var_jump_mean == 0.0:
            return xp.zeros_like(w)
        s, wq = graded_quadrature(T)
        s = xp.asarray(s)
        wq = xp.asarray(wq)
        we = w[..., None]
        k, sg = self.kappa, self.sigma
        ek = xp.exp(-k * s)
        c = sg * sg * (1 - ek) / (2 * k)
        Bv = 1j * we * ek / (1 - 1j * we * c)
        inner = 1.0 / (1.0 - self.var_jump_mean * Bv) - 1.0
        return self.jump_intensity * (inner * wq).sum(axis=-1)

    #: Variance jumps summed exactly (one uniform each); more use Wilson-Hilferty.
    EXACT_VAR_JUMPS: ClassVar[int] = 4

    def sample_jumps(self, draw, count, max_count: int, xp, special):
        """Joint jumps of one step given the count ``N``.

        ``Z = mu_v * sum_{i<N} E_i`` with ``E_i = -ln u_i`` (exact for
        ``N <= 4``: four uniforms from the VAR_JUMP_A/B blocks; the rare
        remainder ``N - 4`` is a Gamma(N-4) variate by the Wilson-Hilferty cube
        of a normal from VAR_JUMP_TAIL, computed only in steps where
        ``max_count > 4``).  ``sum J_i = N mu_J + rho_J Z + sqrt(N) delta z``.
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
        return log_jump, var_jump
