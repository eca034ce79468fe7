"""Heston (1993) stochastic-volatility model.

.. code-block:: text

    dS/S = (r - q) dt + sqrt(v) dW_s
    dv   = kappa (theta - v) dt + sigma sqrt(v) dW_v,   d<W_s, W_v> = rho dt

Model-implied VIX: ``VIX^2 = a v + b`` with ``a = (1 - e^{-kappa tau})/(kappa tau)``,
``b = theta (1 - a)``, ``tau = 30/365``.  For ``kappa = 2, theta = 0.04``:
``a = 0.9221327, b = 0.0031147`` (SPEC section 12).

Example
-------
>>> m = Heston(kappa=2.0, theta=0.04, sigma=0.5, rho=-0.7)
>>> a, b = m.vix2_coefficients()
>>> round(a, 7), round(b, 7)
(0.9221327, 0.0031147)

References: Heston (1993), RFS 6(2); Albrecher et al. (2007), "The little Heston trap".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .base import AffineModel

__all__ = ["Heston"]


@dataclass(frozen=True)
class Heston(AffineModel):
    """Heston model: CIR variance, no jumps (parameters: kappa, theta, sigma, rho)."""

    name: ClassVar[str] = "heston"
