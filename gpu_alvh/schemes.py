"""Discretisation schemes for the CIR variance and the log price.

Both schemes advance ``(x, v)`` over one step of length ``dt`` (years of
trading time), where ``x = ln(S/S_0)``, given two independent standard normals
``z_v, z_s`` [paths].  The drift ``mu_dt`` (equity drift minus jump
compensator, times ``dt``) is added by the caller's argument.  Jumps, events and
shocks are applied afterwards by :mod:`gpu_alvh.paths`.

* :class:`QEScheme` - Andersen (2008) quadratic-exponential scheme with the
  martingale correction (``K0*``), central discretisation ``gamma1 = gamma2 = 1/2``:

  .. code-block:: text

      m = theta + (v - theta) e^{-kappa dt},  s^2 = v c1 + c2,  psi = s^2 / m^2
      psi <= 1.5:  b^2 = 2/psi - 1 + sqrt(2/psi) sqrt(2/psi - 1), a = m/(1 + b^2),
                   v' = a (b + z_v)^2,                       ln M = A b^2 a/(1-2Aa) - ln(1-2Aa)/2
      psi >  1.5:  p = (psi-1)/(psi+1), beta = (1-p)/m,
                   v' = 0 if U <= p else ln((1-p)/(1-U))/beta, ln M = ln(p + beta(1-p)/(beta-A))
      x' = x + mu dt - ln M - K3 v / 2 + K2 v' + sqrt(K3 v + K4 v') z_s

  with ``U = Phi(z_v)``, ``A = K2 + K4/2``, ``K2 = dt/2 (kappa rho/sigma - 1/2) + rho/sigma``,
  ``K3 = K4 = dt (1 - rho^2)/2``.  The discounted price is an exact martingale
  of the discrete scheme.  Where ``1 - 2Aa`` or ``beta - A`` is not positive
  (extreme ``rho > 0`` with tiny ``sigma``), the correction is floored instead
  of producing NaN.  ``sigma = 0`` uses the exact deterministic variance.
* :class:`EulerScheme` - full-truncation Euler (Lord, Koekkoek & van Dijk 2010):
  ``v' = v + kappa (theta - v+) dt + sigma sqrt(v+ dt) z_v``,
  ``x' = x + mu dt - v+ dt/2 + sqrt(v+ dt) (rho z_v + sqrt(1-rho^2) z_s)``; the
  state may dip below 0, every *reported* variance is ``max(v, 0)``.

Reference: L. Andersen, "Simple and efficient simulation of the Heston
stochastic volatility model", J. Comp. Finance 11(3), 2008.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

__all__ = ["SCHEMES", "get_scheme", "QEScheme", "EulerScheme"]

PSI_C = 1.5
_TINY = 1e-300


@dataclass(frozen=True)
class QECoefficients:
    E: float  # e^{-kappa dt}
    theta_1mE: float  # theta (1 - E)
    c1: float
    c2: float
    K2: float
    K3: float
    A: float
    deterministic: bool
    sqrt_1mrho2: float


class QEScheme:
    """Andersen's quadratic-exponential scheme with martingale correction."""

    name: ClassVar[str] = "qe"

    @staticmethod
    @lru_cache(maxsize=256)
    def coefficients(kappa: float, theta: float, sigma: float, rho: float, dt: float) -> QECoefficients:
        one_m_E = -math.expm1(-kappa * dt)
        E = 1.0 - one_m_E
        if sigma < 1e-10:
            return QECoefficients(E, theta * one_m_E, 0.0, 0.0, 0.0, 0.0, 0.0, True, math.sqrt(1 - rho * rho))
        c1 = sigma * sigma * E * one_m_E / kappa
        c2 = theta * sigma * sigma * one_m_E**2 / (2 * kappa)
        K2 = 0.5 * dt * (kappa * rho / sigma - 0.5) + rho / sigma
        K3 = 0.5 * dt * (1 - rho * rho)
        A = K2 + 0.5 * K3
        return QECoefficients(E, theta * one_m_E, c1, c2, K2, K3, A, False, math.sqrt(1 - rho * rho))

    @staticmethod
    def _exponential(m, psi, z_v, c: QECoefficients, xp, special):
        """Exponential branch (psi > 1.5): ``(v', ln M)``; psi is clipped to >= 1.5 first."""
        psi_e = xp.maximum(psi, PSI_C)
        p = (psi_e - 1.0) / (psi_e + 1.0)
        beta = (1.0 - p) / m
        u = special.ndtr(z_v)
        ve = xp.log(xp.maximum((1.0 - p) / xp.maximum(1.0 - u, _TINY), 1.0)) / beta
        lnM = xp.log(p + beta * (1.0 - p) / xp.maximum(beta - c.A, 1e-12 * beta))
        return ve, lnM

    @classmethod
    def step(cls, x, v, z_v, z_s, c: QECoefficients, mu_dt: float, dt: float, xp, special, dense: bool = True):
        """One QE step; returns ``(x', v')`` (new arrays; inputs untouched).

        ``dense=True`` (GPU) evaluates both branches everywhere and blends them;
        ``dense=False`` (CPU) evaluates the exponential branch only on the paths
        that take it (typically a tiny fraction: psi > 1.5 means v near 0).
        Both give identical numbers.
        """
        m = v * c.E
        m += c.theta_1mE
        if c.deterministic:
            vbar = 0.5 * (v + m)
            x_new = x + mu_dt - 0.5 * dt * vbar + xp.sqrt(dt * vbar) * z_s
            return x_new, m
        psi = v * c.c1
        psi += c.c2
        psi /= m * m
        # quadratic branch (psi clipped so its arithmetic stays finite where unused)
        inv = xp.minimum(psi, PSI_C)
        xp.divide(2.0, inv, out=inv)
        b2 = inv - 1.0
        b2 *= inv
        xp.sqrt(b2, out=b2)
        b2 += inv
        b2 -= 1.0
        a = b2 + 1.0
        xp.divide(m, a, out=a)
        v_new = xp.sqrt(b2)
        v_new += z_v
        v_new *= v_new
        v_new *= a
        one_m_2Aa = a * (-2.0 * c.A)
        one_m_2Aa += 1.0
        xp.maximum(one_m_2Aa, 1e-12, out=one_m_2Aa)
        lnM = b2 * a
        lnM *= c.A
        lnM /= one_m_2Aa
        lnM -= 0.5 * xp.log(one_m_2Aa)
        if dense:
            quad = psi <= PSI_C
            ve, lnM_e = cls._exponential(m, psi, z_v, c, xp, special)
            v_new = xp.where(quad, v_new, ve)
            lnM = xp.where(quad, lnM, lnM_e)
        else:
            sub = xp.flatnonzero(psi > PSI_C)
            if sub.size:
                ve, lnM_e = cls._exponential(m[sub], psi[sub], z_v[sub], c, xp, special)
                v_new[sub] = ve
                lnM[sub] = lnM_e
        # x' = x + mu dt - ln M - K3 v / 2 + K2 v' + sqrt(K3 (v + v')) z_s   (K3 = K4)
        vol = v + v_new
        vol *= c.K3
        xp.sqrt(vol, out=vol)
        vol *= z_s
        x_new = v * (-0.5 * c.K3)
        x_new += x
        x_new += mu_dt
        x_new -= lnM
        x_new += c.K2 * v_new
        x_new += vol
        return x_new, v_new


@dataclass(frozen=True)
class EulerCoefficients:
    kappa_dt: float
    kappa_theta_dt: float
    sigma_sqrt_dt: float
    sqrt_dt: float
    rho: float
    sqrt_1mrho2: float


class EulerScheme:
    """Full-truncation Euler."""

    name: ClassVar[str] = "euler"

    @staticmethod
    @lru_cache(maxsize=256)
    def coefficients(kappa: float, theta: float, sigma: float, rho: float, dt: float) -> EulerCoefficients:
        sd = math.sqrt(dt)
        return EulerCoefficients(kappa * dt, kappa * theta * dt, sigma * sd, sd, rho, math.sqrt(max(1 - rho * rho, 0.0)))

    @staticmethod
    def step(x, v, z_v, z_s, c: EulerCoefficients, mu_dt: float, dt: float, xp, special, dense: bool = True):
        vp = xp.maximum(v, 0.0)
        sv = xp.sqrt(vp)
        v_new = v + (c.kappa_theta_dt - c.kappa_dt * vp) + (c.sigma_sqrt_dt * sv) * z_v
        x_new = x + (mu_dt - 0.5 * dt * vp) + (c.sqrt_dt * sv) * (c.rho * z_v + c.sqrt_1mrho2 * z_s)
        return x_new, v_new


#: Schemes by name (YAML ``scheme:``).
SCHEMES = {"qe": QEScheme, "euler": EulerScheme}


def get_scheme(name: str):
    """Scheme class by name; ``ValueError`` lists the valid names."""
    try:
        return SCHEMES[name]
    except KeyError:
        raise ValueError(f"unknown scheme {name!r}; valid schemes: {', '.join(SCHEMES)}") from None
