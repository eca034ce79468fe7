"""Affine transforms as the pricers use them: forward-measure CFs, cumulants, law of ``v_T``.

The characteristic functions themselves live in the models
(:mod:`gpu_alvh.models`, SVCJ jump integrals in closed form there); this module
adds what only the pricers need: the CF of ``Y = ln(S_T / F_T)`` (no carry),
its cumulants as affine functions of ``v`` (COS truncation ranges), and the
singular Gamma component of the law of ``v_T`` (VIX pricing).
"""

from __future__ import annotations

import math

import numpy as np

from ..models import SVCJ, AffineModel
from ..models.base import SIGMA_FLOOR

__all__ = [
    "log_price_ab",
    "log_price_abc",
    "slow_cumulants",
    "variance_ab",
    "log_price_cumulants",
    "jump_second_moment",
    "jump_scale",
    "variance_singular_part",
]



def _has_var_jumps(model: AffineModel) -> bool:
    return isinstance(model, SVCJ) and model.jump_intensity > 0.0 and model.var_jump_mean > 0.0


def log_price_ab(model: AffineModel, u, T: float, xp=np):
    """``(A, B)`` with ``E[exp(i u Y)] = exp(A + B v)``, ``Y = ln(S_T / F_T)``.

    The forward drift ``(r - q) T`` is removed (rate = dividend yield = 0), so
    ``E[e^Y] = 1``; ``u`` any shape, ``T`` a scalar (years).
    """
    return model.log_price_ab(u, T, rate=0.0, dividend_yield=0.0, xp=xp)


def log_price_abc(model: AffineModel, u, T: float, xp=np):
    """``(A, B, C)`` with ``E[exp(i u Y)] = exp(A + B v + C v2)`` (``C = 0`` for one-factor models,
    ``v2`` the slow variance of :class:`~gpu_alvh.models.SVCJ2`); no carry, as :func:`log_price_ab`."""
    if model.n_factors == 2:
        return model.log_price_abc(u, T, rate=0.0, dividend_yield=0.0, xp=xp)
    A, B = model.log_price_ab(u, T, rate=0.0, dividend_yield=0.0, xp=xp)
    return A, B, 0.0


def variance_ab(model: AffineModel, w, T: float, xp=np):
    """``(A_v, B_v)`` with ``E[exp(i w v_T) | v_0 = v] = exp(A_v + B_v v)``."""
    return model.variance_ab(w, T, xp=xp)


def jump_second_moment(model: AffineModel) -> float:
    """``lambda E[J^2]``: jump contribution to the variance of log returns per year."""
    lam = model.jump_intensity
    if lam == 0.0:
        return 0.0
    mu, d = getattr(model, "jump_mean", 0.0), getattr(model, "jump_std", 0.0)
    if isinstance(model, SVCJ):
        mv, rj = model.var_jump_mean, model.jump_corr
        return lam * (mu * mu + 2.0 * mu * rj * mv + 2.0 * rj * rj * mv * mv + d * d)
    return lam * (mu * mu + d * d)


def _cumulants_from(psi1, psi2, h):
    """``(c1, c2, c4)`` from ``psi(h), psi(2h)`` (Richardson, error ``O(h^2)`` relative)."""
    re1, re2, im1, im2 = psi1.real, psi2.real, psi1.imag, psi2.imag
    c4 = 2.0 * (re2 - 4.0 * re1) / h**4
    c2 = (c4 * h**4 / 12.0 - 2.0 * re1) / h**2
    c1 = (8.0 * im1 - im2) / (6.0 * h)
    return c1, c2, c4


def jump_scale(model: AffineModel) -> float:
    """Typical size of a log price jump (sets the differentiation step of the jump CF)."""
    if model.jump_intensity == 0.0:
        return 0.0
    scale = abs(getattr(model, "jump_mean", 0.0)) + 3.0 * getattr(model, "jump_std", 0.0)
    if isinstance(model, SVCJ):
        scale += 3.0 * abs(model.jump_corr) * model.var_jump_mean + model.var_jump_mean
    return scale


def log_price_cumulants(model: AffineModel, T: float, *, v_min: float = 0.0, xp=np):
    """Cumulants ``c1, c2, c4`` of ``Y = ln(S_T/F_T)`` as affine functions of ``v``.

    Returns ``((c1A, c1B), (c2A, c2B), (c4A, c4B))`` (host floats) with
    ``c_n(v) = c_nA + c_nB v``, read off the log-CF at ``u = h, 2h``
    (``Re psi = -c2 u^2/2 + c4 u^4/24 - ...``, ``Im psi = c1 u - c3 u^3/6 + ...``).
    The diffusive (Heston) part and the jump part are differentiated separately,
    each with a step that keeps ``h`` inside the range where the expansion holds
    (``h sigma T << 1`` for the real part, ``h^2 sigma T << 1`` for the imaginary
    part, ``h * jump size << 1``) and the signal well above rounding
    (``h sd(v_min) ~ 0.05``).
    """
    cA, cB, h_d = _factor_cumulants(lambda u: model.heston_ab(u, T, xp=xp), model.kappa, model.theta, model.sigma, T, v_min, xp)
    js = jump_scale(model)
    if js > 0.0:
        h_j = min(0.05 / js, h_d) if js > 0 else h_d
        u = xp.asarray(np.array([h_j, 2.0 * h_j]))
        A = log_price_abc(model, u, T, xp=xp)[0]
        AH2, _ = model.heston_ab(u, T, xp=xp)
        if model.n_factors == 2:
            AH2 = AH2 + model.slow_ab(u, T, xp=xp)[0]
        AJ = _to_host(A) - _to_host(AH2)
        cJ = _cumulants_from(AJ[0], AJ[1], h_j)
        cA = [x + y for x, y in zip(cA, cJ)]
    return (cA[0], cB[0]), (cA[1], cB[1]), (cA[2], cB[2])


def _factor_cumulants(ab, k: float, th: float, s: float, T: float, v_min: float, xp):
    """``([c1A, c2A, c4A], [c1B, c2B, c4B], h)`` of one CIR factor's log-price transform ``ab(u) = (A, B)``
    (steps of :func:`log_price_cumulants`; ``h`` the step of the even cumulants)."""
    kt = k * T
    a = -math.expm1(-kt) / kt if kt > 1e-12 else 1.0
    sd_min = math.sqrt(max(T * (a * v_min + (1.0 - a) * th), 1e-300))
    # Re psi expands in (u sigma T), Im psi in (u^2 sigma T): c2, c4 use h_d, c1 the smaller h_1
    h_d = min(0.05 / max(sd_min, 1e-300), 0.1 / max(s * T, 1e-300))
    h_d = max(min(h_d, 1e6), 1e-3)
    h_1 = max(min(h_d, 0.1 / math.sqrt(max(s * T, 1e-300))), 1e-3)
    AH, BH = ab(xp.asarray(np.array([h_d, 2.0 * h_d, h_1, 2.0 * h_1])))
    AH, BH = _to_host(AH), _to_host(BH)
    cA = list(_cumulants_from(AH[0], AH[1], h_d))
    cB = list(_cumulants_from(BH[0], BH[1], h_d))
    cA[0] = _cumulants_from(AH[2], AH[3], h_1)[0]
    cB[0] = _cumulants_from(BH[2], BH[3], h_1)[0]
    return cA, cB, h_d


def slow_cumulants(model: AffineModel, T: float, *, v2_min: float = 0.0, xp=np):
    """The slow factor's part of the cumulants of :func:`log_price_cumulants`:
    ``((c1A, c1C), (c2A, c2C), (c4A, c4C))``, ``c_n += c_nA + c_nC v2`` (zeros for one-factor models)."""
    if model.n_factors != 2:
        return (0.0, 0.0), (0.0, 0.0), (0.0, 0.0)
    cA, cC, _ = _factor_cumulants(lambda u: model.slow_ab(u, T, xp=xp), model.kappa2, model.theta2, model.sigma2, T, v2_min, xp)
    return (cA[0], cC[0]), (cA[1], cC[1]), (cA[2], cC[2])


def _to_host(a):
    return np.asarray(a.get() if hasattr(a, "get") else a)


def variance_singular_part(model: AffineModel, T: float, v, xp=np):
    """Weight, shape and scale of the singular Gamma component of the law of ``v_T``.

    The CIR transition is a Poisson(``e v / c``) mixture of ``Gamma(alpha + j, c)``
    laws, ``alpha = 2 kappa theta / sigma^2``, ``c = sigma^2 (1 - e^{-kappa T}) / (2 kappa)``,
    ``e = e^{-kappa T}``; the ``j = 0`` term (density ``~ v^{alpha-1}`` at 0) times the
    probability ``q0`` that the variance jumps leave no mass (SVCJ; 1 otherwise)
    is the non-smooth part of the law.  Returns ``(weight[v], alpha, c, lam[v])``
    with ``weight = q0 e^{-lam}`` and ``lam = e v / c`` (the ``j``-th term of the
    mixture has weight ``weight lam^j / j!``); weight is 0 when sigma is 0.
    """
    k, th, s = model.kappa, model.theta, model.sigma
    v = xp.asarray(v)
    if s < SIGMA_FLOOR:
        return xp.zeros_like(v), 1.0, 1.0, xp.zeros_like(v)
    ek = math.exp(-k * T)
    c = s * s * (1.0 - ek) / (2.0 * k)
    alpha = 2.0 * k * th / (s * s)
    q0 = 1.0
    if _has_var_jumps(model):
        mu_v = model.var_jump_mean
        gam = s * s / (2.0 * k)
        eps = gam - mu_v
        target = gam * (1.0 - ek) + mu_v * ek
        if abs(eps) > 1e-12:
            q0 = (mu_v / target) ** (model.jump_intensity * mu_v / (k * eps))
        else:
            q0 = math.exp(-model.jump_intensity * (1.0 - ek) / k)
    lam = ek * v / c
    return q0 * xp.exp(-lam), alpha, c, lam
