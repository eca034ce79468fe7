"""Bates (1996): Heston plus log-normal price jumps.

.. code-block:: text

    dS/S = (r - q - lambda m) dt + sqrt(v) dW_s + (e^J - 1) dN,   J ~ N(mu_J, delta^2)
    dv   = kappa (theta - v) dt + sigma sqrt(v) dW_v
    m    = exp(mu_J + delta^2 / 2) - 1

Parameters beside Heston's: ``jump_intensity`` (lambda, per year),
``jump_mean`` (mu_J, mean log jump), ``jump_std`` (delta, log-jump stdev).

Log-price CF: Heston's times ``exp(lambda T (e^{i u mu_J - delta^2 u^2/2} - 1) - i u lambda m T)``.
VIX: ``b = theta (1 - a) + 2 lambda (e^{mu_J + delta^2/2} - 1 - mu_J)``.

Reference: Bates (1996), RFS 9(1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..rng import Block
from .base import AffineModel, ParamRule
from .heston import Heston

__all__ = ["Bates"]

JUMP_RULES = {
    "jump_intensity": ParamRule(0.0, 1000.0, doc="jump arrivals per year"),
    "jump_mean": ParamRule(-2.0, 2.0, doc="mean log price jump"),
    "jump_std": ParamRule(0.0, 2.0, doc="stdev of the log price jump"),
}


@dataclass(frozen=True)
class Bates(AffineModel):
    """Heston + compound-Poisson log-normal price jumps."""

    name: ClassVar[str] = "bates"
    RULES: ClassVar[dict[str, ParamRule]] = {**Heston.RULES, **JUMP_RULES}

    jump_intensity: float = 0.0
    jump_mean: float = 0.0
    jump_std: float = 0.0

    def jump_compensator(self) -> float:
        return math.expm1(self.jump_mean + 0.5 * self.jump_std**2)

    def jump_qv_term(self) -> float:
        lam, mu, d = self.jump_intensity, self.jump_mean, self.jump_std
        return 2.0 * lam * (math.expm1(mu + 0.5 * d * d) - mu)

    def price_jump_cf(self, u, xp=np):
        """``E[exp(i u J)]`` of one price jump."""
        u = xp.asarray(u, dtype=complex)
        return xp.exp(1j * u * self.jump_mean - 0.5 * (self.jump_std * u) ** 2)

    def jump_a(self, u, T: float, xp=np):
        return self.jump_intensity * T * (self.price_jump_cf(u, xp=xp) - 1.0)

    def sample_jumps(self, draw, count, max_count: int, xp, special, dt: float = 0.0):
        """Sum of ``N`` log-normal jumps: ``N mu_J + sqrt(N) delta z`` (exact in law).

        ``z = ndtri(u)`` from the second lane of the JUMP block (the first lane
        drew the count).
        """
        _, u_size = draw(Block.JUMP)
        z = special.ndtri(u_size)
        log_jump = count * self.jump_mean + xp.sqrt(count) * (self.jump_std * z)
        return log_jump, None
