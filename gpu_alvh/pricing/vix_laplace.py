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

__all__ = ["vix2_laplace", "vix_future", "vix_log_mean", "vvix"]

_T_LO, _T_HI, _H = -40.0, 40.0, 1.0 / 32.0


def _nodes():
    t = np.arange(_T_LO, _T_HI + 0.5 * _H, _H)
    return t, np.exp(t)


def vix2_laplace(model, T: float, v, v2=0.0, s=None):
    """``L(s) = E^Q[exp(-s VIX_T^2)]`` [n_states, n_s] for states ``v``, ``v2`` [n_states] (``v2`` ignored
    by one-factor models; ``s`` defaults to the quadrature nodes)."""
    s = _nodes()[1] if s is None else np.asarray(s, dtype=float)
    v = np.atleast_1d(np.asarray(v, dtype=float))[:, None]
    w = 1j * s[None, :]
    if getattr(model, "n_factors", 1) == 2:
        v2 = np.broadcast_to(np.atleast_1d(np.asarray(v2, dtype=float)), (v.shape[0],))[:, None]
        out = model.vix2_cf(w, T, v, v2)
    else:
        a, b = model.vix2_coefficients()
        A, B = model.variance_ab(a * w, T)
        out = np.exp(1j * w * b + A + B * v)
    return np.clip(out.real, 0.0, 1.0)


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
