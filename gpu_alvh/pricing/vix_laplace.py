"""VIX futures, the VIX log contract and VVIX from the Laplace transform of VIX^2 (any affine model).

With ``X = VIX_T^2`` (decimal) and its Laplace transform ``L(s) = E^Q[e^{-s X}]`` - the model's
transform of ``X`` at ``w = i s``: :meth:`~gpu_alvh.models.SVCJ2.vix2_cf` for the two-factor model,
``e^{-s b} E[e^{-s a v_T}]`` for a one-factor one - two identities of the Gamma function give the
moments the VIX index and its options need without the density of ``X``:

.. code-block:: text

    E[sqrt(X)] = 1/(2 sqrt(pi)) int_0^inf (1 - L(s)) s^{-3/2} ds          (sqrt x = int (1 - e^{-sx}) s^{-3/2} ds / Gamma(-1/2) (-1))
    E[ln X]    = int_0^inf (e^{-s} - L(s)) / s ds                        (Frullani: ln x = int (e^{-s} - e^{-sx}) / s ds)

``L`` is real, in ``(0, 1]``, and below ``e^{-s b}``, so both integrands decay at both ends; in
``t = ln s`` they are smooth and the trapezoid rule on ``t in [-40, 40]`` (step 1/32) converges
geometrically.  From them:

* the VIX future ``F = 100 E[sqrt(X)]`` (points);
* the VIX log contract ``E[ln VIX_T] = ln 100 + E[ln X] / 2``;
* **VVIX** (Cboe's model-free definition in the continuous-strike limit, as
  :func:`gpu_alvh.calibration.moments.vvix_curve`): ``VVIX^2 = (2/tau) (ln F - E[ln VIX_tau])`` at
  ``tau = 30/365``, x100.

Cross-checked against the COS VIX curves of :mod:`gpu_alvh.pricing.vix` on one-factor models and
against a Monte Carlo of the two-factor model (``tests/test_two_factor.py``).
"""

from __future__ import annotations

import math

import numpy as np

from ..models.base import VIX_TAU

__all__ = ["vix2_laplace", "vix_future", "vix_log_mean", "vvix", "vix_calls"]

_T_LO, _T_HI, _H = -40.0, 40.0, 1.0 / 32.0


def _nodes():
    t = np.arange(_T_LO, _T_HI + 0.5 * _H, _H)
    return t, np.exp(t)


def _vix2_transform(model, T: float, v, v2, w):
    """``E^Q[exp(i w VIX_T^2)]`` [n_states, ...] for states ``v``, ``v2`` [n_states] and complex ``w`` [...]
    (where the transform exists; ``v2`` ignored by one-factor models)."""
    v = np.atleast_1d(np.asarray(v, dtype=float)).reshape((-1,) + (1,) * np.ndim(w))
    w = np.asarray(w, dtype=complex)[None, ...]
    if model.n_factors == 2:
        v2 = np.broadcast_to(np.atleast_1d(np.asarray(v2, dtype=float)), (v.shape[0],)).reshape(v.shape)
        return model.vix2_cf(w, T, v, v2)
    a, b = model.vix2_coefficients()
    A, B = model.variance_ab(a * w, T)
    return np.exp(1j * w * b + A + B * v)


def vix2_laplace(model, T: float, v, v2=0.0, s=None):
    """``L(s) = E^Q[exp(-s VIX_T^2)]`` [n_states, n_s] for states ``v``, ``v2`` [n_states] (``v2`` ignored
    by one-factor models; ``s`` defaults to the quadrature nodes)."""
    s = _nodes()[1] if s is None else np.asarray(s, dtype=float)
    return np.clip(_vix2_transform(model, T, v, v2, 1j * s).real, 0.0, 1.0)


def _moments(model, T: float, v, v2):
    t, s = _nodes()
    L = vix2_laplace(model, T, v, v2, s)
    root = (1.0 - L) * np.exp(-0.5 * t)[None, :]  # (1 - L) s^{-3/2} ds, ds = s dt
    log = np.exp(-s)[None, :] - L  # (e^{-s} - L) / s ds
    return np.trapezoid(root, dx=_H, axis=1) / (2.0 * math.sqrt(math.pi)), np.trapezoid(log, dx=_H, axis=1)


def vix_future(model, T: float, v, v2=0.0):
    """VIX future (points) expiring in ``T`` years (> 0) at states ``v``, ``v2`` [n]: ``100 E[sqrt(VIX_T^2)]``."""
    return 100.0 * _moments(model, T, v, v2)[0]


def vix_log_mean(model, T: float, v, v2=0.0):
    """``E^Q[ln VIX_T]`` (VIX in points) at states ``v``, ``v2`` [n]."""
    return math.log(100.0) + 0.5 * _moments(model, T, v, v2)[1]


def vvix(model, v, v2=0.0, tau: float = VIX_TAU):
    """Model VVIX (points) at states ``v``, ``v2`` [n]: ``100 sqrt((2/tau)(ln F - E[ln VIX_tau]))``."""
    root, log = _moments(model, tau, v, v2)
    gap = np.log(100.0 * root) - (math.log(100.0) + 0.5 * log)
    return 100.0 * np.sqrt(np.maximum(2.0 * gap / tau, 0.0))


def _mgf_bound(model, T: float) -> float:
    """Largest ``c`` with ``E[exp(c VIX_T^2)] < inf``: each CIR factor needs ``c a_i c_i < 1``
    (``c_i = sigma_i^2 (1 - e^{-kappa_i T}) / (2 kappa_i)``), the exponential variance jumps ``c a mu_v < 1``
    and ``c a (gamma (1 - E) + mu_v E) < 1`` (the arguments of the logarithms of the SVCJ transform)."""
    a, a2, _ = model.vix2_terms()
    bounds = []
    for k, s, w in ((model.kappa, model.sigma, a), (getattr(model, "kappa2", 1.0), getattr(model, "sigma2", 0.0), a2)):
        cs = s * s * -math.expm1(-k * T) / (2.0 * k)
        if w > 0.0 and cs > 0.0:
            bounds.append(1.0 / (w * cs))
    mu_v = getattr(model, "var_jump_mean", 0.0)
    if model.jump_intensity > 0.0 and mu_v > 0.0:
        E = math.exp(-model.kappa * T)
        gam = model.sigma**2 / (2.0 * model.kappa)
        bounds += [1.0 / (a * mu_v), 1.0 / (a * (gam * (1.0 - E) + mu_v * E))]
    return min(bounds) if bounds else math.inf


def vix_calls(model, T: float, v: float, v2: float, strikes) -> np.ndarray:
    """Undiscounted VIX calls ``E^Q[(VIX_T - K)^+]`` (points) [n_strikes] at one state, by Bromwich inversion.

    With ``X = VIX_T^2``, ``k = K / 100`` and ``g(x) = (sqrt x - k)^+``, whose Laplace transform is
    ``G(s) = int g(x) e^{-s x} dx = (sqrt(pi)/2) erfc(k sqrt s) / s^{3/2}`` (``Re s > 0``),

    .. code-block:: text

        E[g(X)] = 1/(2 pi i) int_{c - i inf}^{c + i inf} G(s) E[e^{s X}] ds = (1/pi) int_0^inf Re[G(c + i w) M(c + i w)] dw

    with ``M(s) = E[e^{s X}]`` the model's transform of ``X`` at ``-i s``, finite for
    ``0 < c < c_max`` (:func:`_mgf_bound`; ``c = min(c_max / 2, 2 / E[X])``).  The integrand decays like
    ``w^{-2}`` times the transform's own decay (slowly where the law of a variance factor is singular at 0);
    the trapezoid rule on ``[0, 400 / sd(X)]`` (65,536 nodes) agrees with the one-factor COS curves of
    :mod:`gpu_alvh.pricing.vix` to ~1e-5 points (``tests/test_two_factor.py``).  ``T <= 0``: intrinsic
    value of the model VIX.  About 0.1 s for a handful of strikes: a pricer for quotes, not for tables.
    """
    from scipy.special import erfc

    K = np.atleast_1d(np.asarray(strikes, dtype=float))
    if T <= 0.0:
        return np.maximum(float(model.vix_from_state(v, v2)) - K, 0.0)
    a, a2, b = model.vix2_terms()
    two = model.n_factors == 2
    mean = a * float(model.mean_variance(v, T)) + (a2 * float(model.slow_mean(v2, T)) if two else 0.0) + b
    var = a * a * float(model.variance_of_variance(v, T)) + (a2 * a2 * float(model.slow_variance(v2, T)) if two else 0.0)
    sd = max(math.sqrt(max(var, 0.0)), 1e-4 * mean)
    c = min(0.5 * _mgf_bound(model, T), 2.0 / mean)
    w = np.linspace(0.0, 400.0 / sd, 65536)
    s = c + 1j * w
    M = _vix2_transform(model, T, [v], [v2], -1j * s)[0]  # E[e^{s X}]
    k = K[:, None] / 100.0
    G = 0.5 * math.sqrt(math.pi) * erfc(k * np.sqrt(s)[None, :]) / s[None, :] ** 1.5
    vals = (G * M[None, :]).real
    return 100.0 * np.trapezoid(vals, w, axis=1) / math.pi
