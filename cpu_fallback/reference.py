"""Loop-level reference implementations (pure Python scalars).

They follow the papers line by line, without vectorisation tricks, so that the
array versions in :mod:`gpu_alvh` (and any fused GPU kernel) can be checked
against them:

* :func:`philox4x32_10` - Salmon et al. (2011), Random123 ``philox4x32_10``;
* :func:`qe_step` - Andersen (2008) QE step with martingale correction, one path.
"""

from __future__ import annotations

import math

from scipy.special import ndtr

MASK32 = 0xFFFFFFFF
PHILOX_M4x32_0 = 0xD2511F53
PHILOX_M4x32_1 = 0xCD9E8D57
PHILOX_W32_0 = 0x9E3779B9
PHILOX_W32_1 = 0xBB67AE85


def _mulhilo32(a: int, b: int) -> tuple[int, int]:
    product = a * b
    return (product >> 32) & MASK32, product & MASK32


def philox4x32_10(ctr: tuple[int, int, int, int], key: tuple[int, int]) -> tuple[int, int, int, int]:
    """Philox4x32 with 10 rounds on Python ints (the Random123 reference algorithm)."""
    c0, c1, c2, c3 = (int(c) & MASK32 for c in ctr)
    k0, k1 = (int(k) & MASK32 for k in key)
    for _ in range(10):
        hi0, lo0 = _mulhilo32(PHILOX_M4x32_0, c0)
        hi1, lo1 = _mulhilo32(PHILOX_M4x32_1, c2)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
        k0 = (k0 + PHILOX_W32_0) & MASK32
        k1 = (k1 + PHILOX_W32_1) & MASK32
    return c0, c1, c2, c3


def qe_step(x: float, v: float, z_v: float, z_s: float, *, kappa: float, theta: float, sigma: float, rho: float, dt: float, mu: float) -> tuple[float, float]:
    """One Andersen QE step (gamma1 = gamma2 = 1/2, psi_c = 1.5) for one path.

    Follows Andersen (2008), sections 3.2.4 and 4.3 (martingale correction),
    with ``U_v = Phi(z_v)`` for the exponential branch.
    """
    E = math.exp(-kappa * dt)
    m = theta + (v - theta) * E
    s2 = v * sigma**2 * E * (1 - E) / kappa + theta * sigma**2 * (1 - E) ** 2 / (2 * kappa)
    psi = s2 / m**2
    g1 = g2 = 0.5
    K1 = g1 * dt * (kappa * rho / sigma - 0.5) - rho / sigma
    K2 = g2 * dt * (kappa * rho / sigma - 0.5) + rho / sigma
    K3 = g1 * dt * (1 - rho**2)
    K4 = g2 * dt * (1 - rho**2)
    A = K2 + 0.5 * K4
    if psi <= 1.5:
        b2 = 2 / psi - 1 + math.sqrt(2 / psi) * math.sqrt(2 / psi - 1)
        a = m / (1 + b2)
        v_new = a * (math.sqrt(b2) + z_v) ** 2
        K0 = -A * b2 * a / (1 - 2 * A * a) + 0.5 * math.log(1 - 2 * A * a) - (K1 + 0.5 * K3) * v
    else:
        p = (psi - 1) / (psi + 1)
        beta = (1 - p) / m
        u = float(ndtr(z_v))
        v_new = 0.0 if u <= p else math.log((1 - p) / (1 - u)) / beta
        K0 = -math.log(p + beta * (1 - p) / (beta - A)) - (K1 + 0.5 * K3) * v
    x_new = x + mu * dt + K0 + K1 * v + K2 * v_new + math.sqrt(K3 * v + K4 * v_new) * z_s
    return x_new, v_new
