"""VIX futures and options from the law of the variance state, and the VIX table.

VIX is model-implied: ``VIX_T^2 = X = a v_T + b`` (``a, b`` from
:meth:`~gpu_alvh.models.AffineModel.vix2_coefficients`; decimal units, VIX
points = 100 sqrt(X)).  Prices are expectations over the law of ``v_T`` given
``v_t = v`` under the pricing model:

* **law of v_T** - COS expansion (Fang & Oosterlee 2008) of its density from the
  affine transform ``E[e^{i w v_T}] = exp(A_v + B_v v)``: the CIR transition
  (non-central chi-square, Heston and Bates) times, for SVCJ, the closed-form
  exponential variance-jump factor (:mod:`gpu_alvh.pricing.affine`).  When the
  support reaches ``v_T = 0`` the non-smooth part of the law - the ``j = 0``
  Gamma(``alpha = 2 kappa theta / sigma^2``, ``c``) term of the Poisson-Gamma
  mixture, weighted by ``e^{-e v / c}`` and by the probability that no variance
  jump survives - is removed from the transform and added back in closed form
  (regularised incomplete gamma functions), so the series converges fast even
  when the Feller condition fails badly;
* **variance calls** ``C_v(y) = E[(v_T - y)^+]`` on a uniform grid of ``y`` from
  the cosine coefficients (elementary payoff coefficients, one real FFT);
* **VIX calls** by the Carr-Madan spanning of ``(sqrt(X) - k)^+`` over calls on
  ``X``:

  .. code-block:: text

      E[(sqrt(X) - k)^+] = C_X(k^2) / (2k) - 1/4 int_{k^2}^inf x^{-3/2} C_X(x) dx,    C_X(x) = a C_v((x - b)/a)

  (fourth-order cumulative quadrature on the grid); **futures** follow as
  ``F = E[sqrt(X)] = c(k_0) + k_0`` at the bottom of the support.

The :class:`VixTable` stores, per (variance state, expiry), the futures price and
the *normalised forward call price* ``c(xi) = C / (F s)`` on a moneyness grid
``K = F (1 + xi s)``, ``s = sigma_node(v, tau) sqrt(tau)`` (``sigma_node``: the
instantaneous relative VIX vol at the mean variance over the option's life,
floored at 10%, so that ``xi`` is roughly in standard deviations).  Lookups interpolate with
non-negative weights only (bilinear in ``(asinh(sqrt(v)/eps_v), asinh(sqrt(tau)/eps_t))``,
linear in ``xi``), and each node curve is projected on convex, non-increasing
curves with slopes in ``[-1, 0]``, so interpolated prices of every strike obey
``0 <= C(K1) - C(K2) <= D (K2 - K1)`` and butterflies ``>= 0`` exactly.  The
``tau = 0`` nodes hold the exact limit (futures = model VIX, normalised prices
= Bachelier with the instantaneous VIX vol), so short expiries need no clamping.

**Two-factor models** (``model.n_factors == 2``, :class:`~gpu_alvh.models.SVCJ2`:
``X = a v_T + a2 v2_T + b``, independent factors).  The table has a third state axis, the slow
variance on ``asinh(sqrt(v2)/sqrt(theta2))`` (``[0, max(2.25, 4 theta2)]``, ``v2_axis``/``v2_scale``), and
node arrays ``[n_tau, n_v2, n_v(, n_xi)]``.  The law of ``X`` (:func:`vix_curves_2f`): in
``y = (X - b)/a`` it is the law of ``v_T + Z``, ``Z = (a2/a) v2_T``; the fast factor's variance calls
and puts (the COS construction above) on one grid step ``h`` are convolved (FFT) with the hat masses
of ``Z`` on the same step, from the exact CIR (non-central chi-square) law (:func:`_slow_masses`);
the singular part's cusps, now at every slow node, get the graded-panel correction through a Taylor
expansion of the spanning weight (:func:`_cusp_errors`).  Lookups take ``v2`` (ignored by one-factor
tables): the futures drift is tricubic in ``(tau, v2, v)``, the forward calls sum the 8
``(tau, v2, v)`` corners with trilinear non-negative weights (the same no-arbitrage argument),
``v2`` clamped to the axis inside the tables only; ``tau = 0`` gives the model VIX of both factors,
``100 sqrt(a v + a2 v2 + b)``.  One-factor tables are unchanged.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from ..backend import Backend, get_backend
from ..models import AffineModel
from .affine import variance_ab, variance_singular_part
from .black import implied_vol
from .interp import UniformAxis, interp

__all__ = ["VixCurves", "vix_curves", "vix_prices", "VixTable", "VixQuote"]

SQRT2PI = math.sqrt(2.0 * math.pi)


def _host(a):
    return np.asarray(a.get() if hasattr(a, "get") else a)


def _resolve(backend) -> Backend:
    return backend if isinstance(backend, Backend) else get_backend(backend)


# --------------------------------------------------------------------------- law of v_T -> VIX curves
@dataclass(frozen=True)
class VixCurves:
    """Undiscounted VIX call prices on a grid, per variance state (decimal VIX units).

    Attributes
    ----------
    y0, dy : arrays [nv]: grid ``y_m = y0 + m dy`` of ``v_T`` values, m = 0..M
    calls : array [nv, M+1]: ``E[(VIX_T/100 - kappa_m)^+]`` at ``kappa_m = sqrt(a y_m + b)``
    futures : array [nv]: ``E[VIX_T]/100``
    a, b : VIX^2 coefficients
    """

    y0: Any
    dy: Any
    calls: Any
    futures: Any
    a: float
    b: float

    def call(self, kappa, xp):
        """Undiscounted calls at decimal strikes ``kappa`` [nv, nk] (cubic in ``y`` of ``C + kappa``)."""
        M = self.calls.shape[-1] - 1
        # interpolate C + kappa (= F + put: smooth at the VIX floor, where kappa(y) = sqrt(a y + b)
        # itself is strongly curved) and subtract the exact kappa of the strike
        y_grid = self.y0[:, None] + self.dy[:, None] * xp.arange(M + 1, dtype=float)[None, :]
        smooth = self.calls + xp.sqrt(self.a * y_grid + self.b)
        y = (kappa * kappa - self.b) / self.a
        t = (y - self.y0[:, None]) / self.dy[:, None]
        tc = xp.clip(t, 0.0, float(M))
        i0 = xp.clip(xp.floor(tc) - 1.0, 0, M - 3).astype(xp.int64)
        s = tc - i0
        s1, s2, s3 = s - 1.0, s - 2.0, s - 3.0
        w = [-(s1 * s2 * s3) / 6.0, s * s2 * s3 / 2.0, -(s * s1 * s3) / 2.0, s * s1 * s2 / 6.0]
        val = sum(w[o] * xp.take_along_axis(smooth, i0 + o, axis=-1) for o in range(4)) - kappa
        below = t <= 0.0
        above = t >= M
        val = xp.where(below, self.futures[:, None] - kappa, val)
        return xp.where(above, 0.0, xp.maximum(val, xp.maximum(self.futures[:, None] - kappa, 0.0)))


def _fast_support(model: AffineModel, T: float, v, truncation: float, xp):
    """``(mean, sd, lo, reach)`` of the fast variance ``v_T`` given ``v`` [nv]: its mean and standard
    deviation, the bottom of the tabulated support ``max(mean - truncation sd, 0)`` and its reach above the
    mean, ``max(truncation sd, 36 c, 36 mu_v)`` (``c = sigma^2 (1 - e^{-kappa T}) / (2 kappa)`` the CIR
    scale, ``mu_v`` the mean variance jump: the exponential tails)."""
    k, th_e = model.kappa, model.effective_theta()
    ek = math.exp(-k * T)
    mean = th_e + (v - th_e) * ek
    sd = xp.sqrt(xp.maximum(xp.asarray(model.variance_of_variance(v, T)), 0.0))
    s = model.sigma
    c_scale = s * s * (1.0 - ek) / (2.0 * k)
    tail = max(36.0 * c_scale, 36.0 * getattr(model, "var_jump_mean", 0.0) if model.jump_intensity > 0 else 0.0)
    lo = xp.maximum(mean - truncation * sd, 0.0)
    return mean, sd, lo, xp.maximum(truncation * sd, tail)


def vix_curves(model: AffineModel, T: float, v, *, backend=None, n_terms: int = 2048, grid: "int | None" = None,
               truncation: float = 12.0, n_subtract: int = 4) -> VixCurves:
    """VIX call curves and futures at expiry ``T`` (years, > 0) for variance states ``v`` [nv].

    ``n_terms``: cosine terms of the law of ``v_T``; ``n_subtract``: Poisson-Gamma
    terms handled in closed form; ``grid``: number of grid intervals in ``v_T`` (default: enough to put >= 8 nodes inside the floor
    scale ``b/a`` of the spanning weight, between 2048 and 32768).
    """
    be = _resolve(backend)
    xp, sp = be.xp, be.special
    v = xp.asarray(v, dtype=float).reshape(-1)
    a_vix, b_vix = model.vix2_coefficients()
    mean, sd, lo, reach = _fast_support(model, T, v, truncation, xp)
    hi = xp.maximum(mean + reach, lo + 1e-10)
    L = hi - lo
    if grid is None:
        # resolve the floor scale b/a of the spanning weight where the law has mass
        # near v_T = 0, and the spread of the law elsewhere
        floor_scale = b_vix / a_vix
        near_floor = (lo <= 0.0) & (mean - 4.0 * sd < 10.0 * floor_scale)
        h_target = xp.where(near_floor, floor_scale / 8.0, xp.maximum(sd / 16.0, floor_scale / 8.0))
        need = float(_host(xp.max(L / h_target)))
        grid = int(min(max(2048, 2 * n_terms, 2 ** math.ceil(math.log2(max(need, 1.0)))), 32768))
    M = int(grid)
    C, P, y, rows_h, sing = _variance_calls(model, T, v, lo, hi, M, n_terms, n_subtract, xp, sp)
    m = xp.arange(M + 1, dtype=float)
    # Carr-Madan spanning: calls above the pivot, puts below it (the weight x^{-3/2}
    # peaks at the VIX floor, where puts are small and calls are not).
    X = a_vix * y + b_vix
    kap = xp.sqrt(X)
    h = (L / M)[:, None]
    Ic = _cum_integral(X ** -1.5 * C, h, xp, from_top=True)
    Ip = _cum_integral(X ** -1.5 * P, h, xp, from_top=False)
    if rows_h.size:
        rows = xp.asarray(rows_h)
        # the singular part has a (y - 0)^(alpha+1) cusp at the floor, which costs the grid
        # rule O(h^(alpha+2)); redo its first intervals with graded Gauss-Legendre panels
        dc, dp = _floor_correction(sing, a_vix, b_vix, h[rows], xp)
        m0 = dc.shape[1] - 1
        Ic[rows] = Ic[rows] + xp.concatenate([dc[:, -1:] - dc, xp.zeros_like(Ic[rows][:, m0 + 1:])], axis=1)
        Ip[rows] = Ip[rows] + xp.concatenate([dp, xp.broadcast_to(dp[:, -1:], Ip[rows][:, m0 + 1:].shape)], axis=1)
    call = a_vix * C / (2.0 * kap) - 0.25 * a_vix * a_vix * Ic
    put = a_vix * P / (2.0 * kap) + 0.25 * a_vix * a_vix * Ip
    piv = xp.clip(xp.round((xp.maximum(mean, lo) - lo) / (L / M)), 0, M).astype(xp.int64)[:, None]
    take = lambda arr: xp.take_along_axis(arr, piv, axis=1)[:, 0]  # noqa: E731
    futures = take(kap) + take(call) - take(put)
    calls = xp.where(m[None, :] >= piv, call, put + futures[:, None] - kap)
    calls = xp.maximum(calls, xp.maximum(futures[:, None] - kap, 0.0))
    return VixCurves(y0=lo, dy=L / M, calls=calls, futures=futures, a=a_vix, b=b_vix)


def _variance_calls(model, T: float, v, lo, hi, M: int, n_terms: int, n_subtract: int, xp, sp):
    """Variance calls and puts ``E[(v_T - y)^+]``, ``E[(y - v_T)^+]`` [nv, M+1] on ``y_m = lo + m (hi - lo) / M``.

    COS expansion of the law of ``v_T`` on ``[lo, hi]`` (``n_terms`` terms) with the first ``n_subtract``
    Poisson-Gamma terms of its singular part in closed form where ``lo <= 0`` (module doc).  Returns
    ``(C, P, y, rows, sing)``: ``y`` [nv, M+1], the host indices of the rows with a singular part and
    its :class:`_SingularPart` (None when there are none).
    """
    L = hi - lo
    s = model.sigma
    sing = None
    # non-smooth part of the law (first Poisson-Gamma terms x P(no surviving variance
    # jump)), removed from the transform and added back in closed form; only where the
    # support reaches 0
    w_s, alpha, c_g, lam_p = variance_singular_part(model, T, v, xp=xp)
    w_s = xp.where(lo <= 0.0, w_s, 0.0)
    J = int(n_subtract) if s >= 1e-10 else 0
    N = int(min(n_terms, M))
    j = xp.arange(N, dtype=float)
    u = j[None, :] * (math.pi / L[:, None])  # [nv, N]
    A, B = variance_ab(model, u, T, xp=xp)
    phi = xp.exp(A + B * v[:, None])
    if J:
        log1 = xp.log(1.0 - 1j * u * c_g)
        wj = w_s
        for jj in range(J):
            phi = phi - wj[:, None] * xp.exp(-(alpha + jj) * log1)
            wj = wj * lam_p / (jj + 1.0)
    F = (phi * xp.exp(-1j * u * lo[:, None])).real * (2.0 / L[:, None])  # [nv, N]
    # variance calls / puts of the smooth part on y_m = lo + m L / M (one real FFT):
    # C = F0/2 (hi-y)^2/2 + sum_k F_k ((-1)^k - cos u_k(y-lo)) / u_k^2,  P = F0/2 (y-lo)^2/2 + sum_k F_k (1 - cos) / u_k^2
    m = xp.arange(M + 1, dtype=float)
    y = lo[:, None] + m[None, :] * (L[:, None] / M)
    u_safe = xp.where(u == 0.0, 1.0, u)
    ak = xp.where(u == 0.0, 0.0, F / (u_safe * u_safe))
    sign = xp.where(j % 2 == 0, 1.0, -1.0)
    cos_sum = xp.fft.rfft(ak, n=2 * M, axis=-1).real[:, : M + 1]
    half0 = 0.25 * F[:, :1]
    C = half0 * (hi[:, None] - y) ** 2 + (ak * sign[None, :]).sum(axis=1)[:, None] - cos_sum
    P = half0 * (y - lo[:, None]) ** 2 + ak.sum(axis=1)[:, None] - cos_sum
    rows_h = np.nonzero(_host(w_s * (1.0 + lam_p) ** J) > 1e-17)[0] if J else np.zeros(0, dtype=np.int64)
    if rows_h.size:
        rows = xp.asarray(rows_h)
        sing = _SingularPart(w_s[rows][:, None], lam_p[rows][:, None], alpha, c_g, J, xp, sp)
        Cs, Ps = sing(y[rows])
        C[rows] = C[rows] + Cs
        P[rows] = P[rows] + Ps
    C = xp.maximum(C, 0.0)
    P = xp.maximum(P, 0.0)
    return C, P, y, rows_h, sing


def _slow_masses(model, T: float, v2, h: float, r: float, truncation: float, xp):
    """Hat masses of the slow factor's share ``Z = r v2_T`` of ``(X - b) / a`` on the grid ``z_l = (l0 + l) h``.

    ``v2_T = c' W``, ``W`` non-central chi-square (``df = 4 kappa2 theta2 / sigma2^2``,
    ``nc = e^{-kappa2 T} v2 / c'``, ``c' = sigma2^2 (1 - e^{-kappa2 T}) / (4 kappa2)``), and
    ``E[(W - w)^+] = df Q_{df+2}(w) + nc Q_{df+4}(w) - w Q_df(w)`` (``Q``: survival functions).  The
    hat masses ``omega_l = E[hat_l(Z)]`` (``hat_l``: the piecewise-linear basis function of node ``l``)
    are the second differences of ``E[(Z - z)^+]`` over ``h``: non-negative, summing to 1, with the exact
    mean.  Returns host arrays ``(l0 [n2], omega [n2, Mz + 1])``; the window ``[l0, l0 + Mz]`` covers
    ``truncation`` standard deviations (and 36 Gamma scales above).
    """
    from scipy.special import chndtr

    v2 = np.asarray(_host(v2), dtype=float).reshape(-1)
    k2, th2, s2 = model.kappa2, model.theta2, model.sigma2
    e2 = math.exp(-k2 * T)
    mean = r * np.asarray(model.slow_mean(v2, T), dtype=float)
    if s2 < 1e-10:  # deterministic slow factor: the hat masses of a point
        l0 = np.floor(mean / h).astype(np.int64)
        t = mean / h - l0
        return l0, np.stack([1.0 - t, t], axis=1)
    sd = r * np.sqrt(np.maximum(np.asarray(model.slow_variance(v2, T), dtype=float), 0.0))
    cp = s2 * s2 * -math.expm1(-k2 * T) / (4.0 * k2)
    df, nc = 4.0 * k2 * th2 / (s2 * s2), e2 * v2 / cp
    lo = np.maximum(mean - truncation * sd, 0.0)
    hi = mean + np.maximum(truncation * sd, 72.0 * r * cp)
    l0 = np.floor(lo / h).astype(np.int64)
    Mz = int(max(np.max(np.ceil(hi / h).astype(np.int64) - l0), 2))
    z = (l0[:, None] + np.arange(-1, Mz + 2, dtype=float)[None, :]) * h  # l = -1 .. Mz + 1
    w = z / (r * cp)
    ncb = nc[:, None]
    Q0 = 1.0 - chndtr(np.maximum(w, 0.0), df, ncb)
    Q2 = 1.0 - chndtr(np.maximum(w, 0.0), df + 2.0, ncb)
    Q4 = 1.0 - chndtr(np.maximum(w, 0.0), df + 4.0, ncb)
    call = (r * cp) * (df * Q2 + ncb * Q4 - w * Q0)
    call = np.where(w <= 0.0, mean[:, None] - z, call)  # Z >= 0: exact below the support
    omega = np.maximum((call[:, :-2] - 2.0 * call[:, 1:-1] + call[:, 2:]) / h, 0.0)
    return l0, omega / omega.sum(axis=1, keepdims=True)


def _cusp_errors(sing, h: float, xp, m0: "int | None" = None):
    """Exact-minus-grid-rule integrals of ``t^p f(t)`` (p = 0, 1, 2) over the intervals next to a cusp.

    ``f``: the singular part's calls ``C_sing(t)`` / puts ``P_sing(t)`` of a cusp at ``t = 0`` on a grid
    node (continued below it: ``C_sing(0) - t m_sing``, ``0``), on intervals ``[k h, (k+1) h]``,
    ``k = -1 .. m0 - 1`` (graded Gauss-Legendre panels; the 4-point grid rule of :func:`_cum_integral`).
    Returns ``(ec, ep, fc, fp)`` [rows, 3, m0 + 1]: interior cusps (``mid`` rule everywhere) and a cusp at
    the grid start (``first`` rule on interval 0; ``k = -1`` unused).  The rule error of the weighted
    integrand ``w(t) f(t)`` is ``sum_p w^(p)(0) / p! x`` these (Taylor in the smooth weight).
    """
    from ..models.base import graded_quadrature

    m0 = _FLOOR_INTERVALS if m0 is None else int(m0)
    mass = sing.w.reshape(-1, 1) * 0.0
    wj = sing.w.reshape(-1, 1)
    for jj in range(sing.J):
        mass = mass + wj
        wj = wj * sing.lam.reshape(-1, 1) / (jj + 1.0)

    def f(t):
        tp = xp.maximum(t, 0.0)
        c, p = sing(tp)
        c0, _ = sing(xp.zeros_like(t[:, :1]) if t.ndim == 2 else xp.zeros_like(t[:, :1, :1]))
        mass_ = mass if t.ndim == 2 else mass[:, :, None]
        return xp.where(t < 0.0, c0 - t * mass_, c), xp.where(t < 0.0, 0.0, p)

    tg = h * xp.arange(-2, m0 + 2, dtype=float)[None, :]  # grid nodes j = -2 .. m0 + 1
    tg = xp.broadcast_to(tg, (sing.w.shape[0], tg.shape[1]))
    cg, pg = f(tg)
    s_n, w_n = graded_quadrature(1.0, n_panels=30, nodes_per_panel=8)
    s_n, w_n = xp.asarray(s_n), xp.asarray(w_n)
    ks = xp.arange(-1, m0, dtype=float)
    tq = h * (ks[None, :, None] + s_n[None, None, :])
    tq = xp.broadcast_to(tq, (sing.w.shape[0],) + tq.shape[1:])
    cq, pq = f(tq)
    out = []
    for gq, gg in ((cq, cg), (pq, pg)):
        mid, first = [], []
        for pw in range(3):
            ex = (h * w_n[None, None, :] * tq ** pw * gq).sum(axis=-1)  # [rows, m0 + 1]
            g = tg ** pw * gg  # index j + 2
            rule = h * (-g[:, 0:m0 + 1] + 13.0 * g[:, 1:m0 + 2] + 13.0 * g[:, 2:m0 + 3] - g[:, 3:m0 + 4]) / 24.0
            mid.append(ex - rule)
            r_first = rule.copy()
            r_first[:, 1] = h * (9.0 * g[:, 2] + 19.0 * g[:, 3] - 5.0 * g[:, 4] + g[:, 5]) / 24.0
            first.append(ex - r_first)
        out.append((xp.stack(mid, axis=1), xp.stack(first, axis=1)))
    (ec, fc), (ep, fp) = out
    return ec, ep, fc, fp


def vix_curves_2f(model, T: float, v, v2, *, backend=None, truncation: float = 12.0, n_subtract: int = 4,
                  min_cells: int = 64, min_grid: int = 4096, max_grid: int = 32768):
    """VIX call curves and futures at expiry ``T`` (years, > 0) of a two-factor model on the state grid ``v`` x ``v2``.

    ``X = VIX_T^2 = a v_T + a2 v2_T + b`` with independent factors, so in ``y = (X - b) / a`` the law is
    that of the sum ``v_T + Z``, ``Z = (a2 / a) v2_T``:

    1. variance calls and puts of ``v_T`` (COS with the closed-form singular part, as the one-factor
       :func:`vix_curves`) on ``y_m = lo(v) + m h`` with one step ``h`` for every fast state (the finest
       of the one-factor targets - ``b / (8 a)`` near the floor, else ``sd(v_T) / 16`` - and of
       ``min_cells`` cells per support; ``min_grid`` to ``max_grid`` cells, as the one-factor grid);
    2. the law of ``Z`` as hat masses on the same step (:func:`_slow_masses`, exact CIR law);
    3. calls / puts of the sum: ``C_S(y) = sum_l omega_l C_v(y - z_l)`` (``C_v`` continued with slope -1
       below its support, ``P_v`` with slope 1 above it), one FFT convolution per state pair; the
       hat-mass discretisation errs by ``O(h^2 x density)``;
    4. Carr-Madan spanning to VIX calls and futures, as :func:`vix_curves` (without its floor correction).

    Returns a list over ``v2`` of :class:`VixCurves` over ``v`` [n_v].
    """
    be = _resolve(backend)
    xp, sp = be.xp, be.special
    v = xp.asarray(v, dtype=float).reshape(-1)
    a, a2, b = model.vix2_terms()
    r = a2 / a
    mean, sd, lo, reach = _fast_support(model, T, v, truncation, xp)
    L = xp.maximum(reach + mean - lo, 1e-10)
    floor_scale = b / a
    near_floor = (lo <= 0.0) & (mean - 4.0 * sd < 10.0 * floor_scale)
    h_target = xp.where(near_floor, floor_scale / 8.0, xp.maximum(sd / 16.0, floor_scale / 8.0))
    h = float(_host(xp.min(xp.minimum(h_target, L / min_cells))))
    M = int(min(max(min_grid, 2 ** math.ceil(math.log2(max(float(_host(xp.max(L))) / h, 1.0)))), max_grid))
    h = float(_host(xp.max(L))) / M
    hi = lo + M * h
    C, P, y, rows_h, sing = _variance_calls(model, T, v, lo, hi, M, M, n_subtract, xp, sp)
    l0, omega = _slow_masses(model, T, v2, h, r, truncation, xp)
    cusp = _cusp_errors(sing, h, xp) if rows_h.size else None
    Mz = omega.shape[1] - 1
    # continuations: C_v slope -1 below lo, P_v slope +1 above hi; indices k = -Mz .. M + Mz
    kk = xp.arange(-Mz, M + Mz + 1, dtype=float)[None, :]
    c_ext = xp.where(kk < 0, C[:, :1] - kk * h, 0.0)
    p_ext = xp.where(kk > M, P[:, -1:] + (kk - M) * h, 0.0)
    c_ext[:, Mz:Mz + M + 1] = C
    p_ext[:, Mz:Mz + M + 1] = P
    n_out = M + Mz + 1
    nfft = 1 << math.ceil(math.log2(c_ext.shape[1] + Mz))
    fc = xp.fft.rfft(c_ext, n=nfft, axis=-1)
    fp = xp.fft.rfft(p_ext, n=nfft, axis=-1)
    fo = xp.fft.rfft(xp.asarray(omega), n=nfft, axis=-1)
    m = xp.arange(n_out, dtype=float)
    out = []
    for j in range(omega.shape[0]):
        Cs = xp.fft.irfft(fc * fo[j][None, :], n=nfft, axis=-1)[:, Mz:Mz + n_out]
        Ps = xp.fft.irfft(fp * fo[j][None, :], n=nfft, axis=-1)[:, Mz:Mz + n_out]
        Cs, Ps = xp.maximum(Cs, 0.0), xp.maximum(Ps, 0.0)
        y0 = lo + float(l0[j]) * h
        ys = y0[:, None] + h * m[None, :]
        X = a * ys + b
        kap = xp.sqrt(X)
        hh = xp.full((v.shape[0], 1), h)
        Ic = _cum_integral(X ** -1.5 * Cs, hh, xp, from_top=True)
        Ip = _cum_integral(X ** -1.5 * Ps, hh, xp, from_top=False)
        if cusp is not None:
            # the cusps of the singular part at every slow node z_l: rule errors (Taylor in the weight)
            rows = xp.asarray(rows_h)
            z = (float(l0[j]) + xp.arange(Mz + 1, dtype=float)) * h
            X_l = a * z + b
            wts = (X_l ** -1.5, -1.5 * a * X_l ** -2.5, 1.875 * a * a * X_l ** -3.5)  # w, w', w''/2
            om = xp.asarray(omega[j])
            sc = xp.zeros((rows_h.size, n_out))
            spp = xp.zeros((rows_h.size, n_out))
            ec, ep, fc_, fp_ = cusp
            for kk_ in range(ec.shape[2]):  # interval k = kk_ - 1 relative to the cusp
                k = kk_ - 1
                lo_n, hi_n = max(k, 0), min(Mz + k, n_out - 1)  # n = l + k for l in [0, Mz]
                if hi_n < lo_n:
                    continue
                ls = slice(lo_n - k, hi_n - k + 1)
                for pw in range(3):
                    A = (om * wts[pw])[ls][None, :]
                    sc[:, lo_n:hi_n + 1] += A * ec[:, pw, kk_][:, None]
                    spp[:, lo_n:hi_n + 1] += A * ep[:, pw, kk_][:, None]
            if int(l0[j]) == 0:  # the cusp of l = 0 sits at the grid start: first-interval rule there
                for kk_ in range(1, ec.shape[2]):
                    for pw in range(3):
                        A0 = om[0] * wts[pw][0]
                        sc[:, kk_ - 1] += A0 * (fc_[:, pw, kk_] - ec[:, pw, kk_])
                        spp[:, kk_ - 1] += A0 * (fp_[:, pw, kk_] - ep[:, pw, kk_])
            Ic[rows] = Ic[rows] + xp.cumsum(sc[:, ::-1], axis=1)[:, ::-1]
            Ip[rows] = Ip[rows] + xp.concatenate([xp.zeros_like(spp[:, :1]), xp.cumsum(spp[:, :-1], axis=1)], axis=1)
        call = a * Cs / (2.0 * kap) - 0.25 * a * a * Ic
        put = a * Ps / (2.0 * kap) + 0.25 * a * a * Ip
        mean_s = mean + r * float(model.slow_mean(float(_host(xp.asarray(v2))[j]), T))
        piv = xp.clip(xp.round((xp.maximum(mean_s, y0) - y0) / h), 0, n_out - 1).astype(xp.int64)[:, None]
        take = lambda arr: xp.take_along_axis(arr, piv, axis=1)[:, 0]  # noqa: E731
        futures = take(kap) + take(call) - take(put)
        calls = xp.where(m[None, :] >= piv, call, put + futures[:, None] - kap)
        calls = xp.maximum(calls, xp.maximum(futures[:, None] - kap, 0.0))
        out.append(VixCurves(y0=y0, dy=xp.full(v.shape[0], h), calls=calls, futures=futures, a=a, b=b))
    return out


class _SingularPart:
    """Closed-form variance calls / puts of the first ``J`` Poisson-Gamma terms of the law of v_T.

    Term ``j``: weight ``w lam^j / j!``, law Gamma(``alpha + j``, ``c``):
    ``E[(G - y)^+] = a c Q(a+1, y/c) - y Q(a, y/c)``, ``E[(y - G)^+] = y P(a, y/c) - a c P(a+1, y/c)``,
    with one incomplete gamma per point and ``P(a+1, x) = P(a, x) - x^a e^{-x} / Gamma(a+1)``.
    """

    def __init__(self, w, lam, alpha, c, J, xp, sp):
        self.w, self.lam, self.alpha, self.c, self.J, self.xp, self.sp = w, lam, alpha, c, J, xp, sp

    def __call__(self, y):
        xp = self.xp
        shape = (self.w.shape[0],) + (1,) * (y.ndim - 1)
        w, lam = self.w.reshape(shape), self.lam.reshape(shape)
        x = y / self.c
        Pa = self.sp.gammainc(self.alpha, x)
        t = xp.exp(self.alpha * xp.log(xp.maximum(x, 1e-300)) - x - math.lgamma(self.alpha + 1.0))
        t = xp.where(x > 0.0, t, 0.0)
        wj = w
        Cs = xp.zeros_like(y)
        Ps = xp.zeros_like(y)
        for jj in range(self.J):
            a_j = self.alpha + jj
            Qa = 1.0 - Pa
            Cs = Cs + wj * (a_j * self.c * (Qa + t) - y * Qa)
            Ps = Ps + wj * (y * Pa - a_j * self.c * (Pa - t))
            Pa = xp.maximum(Pa - t, 0.0)
            t = t * x / (a_j + 1.0)
            wj = wj * lam / (jj + 1.0)
        return Cs, Ps


_FLOOR_INTERVALS = 6


def _floor_correction(sing, a, b, h, xp, m0: int = _FLOOR_INTERVALS):
    """Exact-minus-grid-rule cumulative integrals ``int_0^{y_m} X^{-3/2} (C_sing, P_sing) dy``, m = 0..m0.

    ``h`` [rows, 1]: grid step (the grid starts at y = 0 for these rows).
    Returns ``(dc, dp)`` [rows, m0 + 1].
    """
    from ..models.base import graded_quadrature

    # grid-rule values on the first intervals (same segment formulas as _cum_integral)
    yg = h * xp.arange(m0 + 3, dtype=float)[None, :]
    cg, pg = sing(yg)
    wgt = (a * yg + b) ** -1.5
    gc, gp = wgt * cg, wgt * pg

    def rule(g):
        first = (9.0 * g[:, :1] + 19.0 * g[:, 1:2] - 5.0 * g[:, 2:3] + g[:, 3:4]) / 24.0
        mid = (-g[:, : m0 - 1] + 13.0 * g[:, 1:m0] + 13.0 * g[:, 2 : m0 + 1] - g[:, 3 : m0 + 2]) / 24.0
        seg = h * xp.concatenate([first, mid], axis=1)  # intervals 0 .. m0-1
        return xp.concatenate([xp.zeros_like(seg[:, :1]), xp.cumsum(seg, axis=1)], axis=1)

    # exact: graded panels toward y = 0 on each interval [y_i, y_{i+1}] (grading only on the first)
    s_n, w_n = graded_quadrature(1.0, n_panels=30, nodes_per_panel=8)
    s_n, w_n = xp.asarray(s_n), xp.asarray(w_n)
    ys = h[:, :, None] * (xp.arange(m0, dtype=float)[None, :, None] + s_n[None, None, :])  # [rows, m0, q]
    cs, ps = sing(ys)
    wq = (a * ys + b) ** -1.5 * (h[:, :, None] * w_n[None, None, :])
    seg_c = (wq * cs).sum(axis=-1)
    seg_p = (wq * ps).sum(axis=-1)
    zero = xp.zeros_like(seg_c[:, :1])
    exact_c = xp.concatenate([zero, xp.cumsum(seg_c, axis=1)], axis=1)
    exact_p = xp.concatenate([zero, xp.cumsum(seg_p, axis=1)], axis=1)
    return exact_c - rule(gc), exact_p - rule(gp)


def _cum_integral(g, h, xp, *, from_top: bool):
    """Cumulative integral of grid samples ``g`` [nv, M+1] (4th-order, Lagrange-cubic panels).

    ``from_top``: ``int_{y_m}^{y_M}``; else ``int_{y_0}^{y_m}``.
    """
    mid = (-g[:, :-3] + 13.0 * g[:, 1:-2] + 13.0 * g[:, 2:-1] - g[:, 3:]) / 24.0
    first = (9.0 * g[:, :1] + 19.0 * g[:, 1:2] - 5.0 * g[:, 2:3] + g[:, 3:4]) / 24.0
    last = (g[:, -4:-3] - 5.0 * g[:, -3:-2] + 19.0 * g[:, -2:-1] + 9.0 * g[:, -1:]) / 24.0
    seg = h * xp.concatenate([first, mid, last], axis=1)  # [nv, M]
    zero = xp.zeros_like(seg[:, :1])
    if from_top:
        return xp.concatenate([xp.cumsum(seg[:, ::-1], axis=1)[:, ::-1], zero], axis=1)
    return xp.concatenate([zero, xp.cumsum(seg, axis=1)], axis=1)


class VixQuote(NamedTuple):
    """VIX futures and option prices (index points; options discounted, per 1 unit)."""

    expiries: Any
    futures: Any
    strikes: Any
    calls: Any
    puts: Any
    implied_vols: Any


def vix_prices(model: AffineModel, v: float, *, expiries, strikes=None, rate: float = 0.0, backend=None, v2: float = 0.0) -> VixQuote:
    """Direct VIX futures (and call/put) prices for one variance state ``v`` (and slow state ``v2`` of a
    two-factor model, priced by :mod:`gpu_alvh.pricing.vix_laplace`).

    ``expiries`` in years (1-D); ``strikes`` in VIX points (1-D) or None.
    Returns arrays on the backend: futures ``[n_exp]``, calls/puts/implied vols
    ``[n_exp, n_strikes]`` (Black-76 vols of the calls on the futures price).
    """
    be = _resolve(backend)
    xp = be.xp
    exp_h = np.atleast_1d(np.asarray(_host(xp.asarray(expiries, dtype=float)), dtype=float))
    two = model.n_factors == 2
    fut = []
    calls = []
    K = None if strikes is None else xp.atleast_1d(xp.asarray(strikes, dtype=float))
    for T in exp_h:
        if T <= 0.0:
            f = xp.asarray(model.vix_from_state(np.array([v], dtype=float), v2))
            fut.append(f)
            if K is not None:
                calls.append(xp.maximum(f[:, None] - K[None, :], 0.0))
            continue
        if two:
            from .vix_laplace import vix_calls, vix_future

            fut.append(xp.asarray(vix_future(model, float(T), [v], [v2])))
            if K is not None:
                calls.append(xp.asarray(math.exp(-rate * T) * vix_calls(model, float(T), v, v2, _host(K))[None, :]))
            continue
        cur = vix_curves(model, float(T), xp.asarray([v], dtype=float), backend=be)
        fut.append(100.0 * cur.futures)
        if K is not None:
            calls.append(100.0 * math.exp(-rate * T) * cur.call(K[None, :] / 100.0, xp))
    futures = xp.concatenate(fut)
    if K is None:
        return VixQuote(xp.asarray(exp_h), futures, None, None, None, None)
    C = xp.concatenate(calls, axis=0)
    T = xp.asarray(exp_h)[:, None]
    D = xp.exp(-rate * T)
    P = C - D * (futures[:, None] - K[None, :])
    P = xp.maximum(P, 0.0)
    iv = implied_vol(C, futures[:, None], K[None, :], T, discount=D, is_call=True, backend=be)
    return VixQuote(xp.asarray(exp_h), futures, K, C, P, iv)


# --------------------------------------------------------------------------- table
def _bachelier_norm(xi, xp, sp):
    """``E[(Z - xi)^+]`` for standard normal ``Z``."""
    return xp.exp(-0.5 * xi * xi) / SQRT2PI - xi * sp.ndtr(-xi)


def _state_time_axes(model, v_min, v_max, v_scale, n_v, max_days, t_scale_days, n_tau):
    """The fast-variance and expiry axes of a VIX table (both builds): ``(th_e, vmin, vmax, eps, v_axis,
    eps_t, st_axis, tau_nodes, v_h)``, variance uniform in ``asinh(sqrt(v)/eps)`` on ``[vmin, vmax]``
    (``v_h`` its nodes), expiry uniform in ``asinh(sqrt(tau)/eps_t)`` from 0 to ``max_days`` (``tau_nodes``,
    years)."""
    from .tables import DEFAULT_V_MAX

    th_e = model.effective_theta()
    vmin = 0.0 if v_min is None else float(v_min)
    vmax = max(DEFAULT_V_MAX, 4.0 * th_e) if v_max is None else float(v_max)
    eps = math.sqrt(th_e) if v_scale is None else float(v_scale)
    v_axis = UniformAxis.between(math.asinh(math.sqrt(vmin) / eps), math.asinh(math.sqrt(vmax) / eps), n_v)
    eps_t = math.sqrt(t_scale_days / 365.0)
    st_axis = UniformAxis.between(0.0, math.asinh(math.sqrt(max_days / 365.0) / eps_t), n_tau)
    tau_nodes = (eps_t * np.sinh(st_axis.nodes())) ** 2
    v_h = (eps * np.sinh(v_axis.nodes())) ** 2
    return th_e, vmin, vmax, eps, v_axis, eps_t, st_axis, tau_nodes, v_h


def _xi_axis(xi_range, strikes, b_vix, sig_max, n_xi, xp):
    """The normalised-moneyness axis (uniform in ``asinh(xi)``): ``(xi_lo, xi_hi, eta_axis, xi_h)``; with
    ``strikes``, ``xi_hi`` widened so that the largest lies inside it from 7 days on (at the VIX floor
    ``100 sqrt(b_vix)`` and the largest node scale ``sig_max``), at most 2000."""
    xi_lo, xi_hi = float(xi_range[0]), float(xi_range[1])
    if strikes is not None:
        kmax = float(np.max(_host(xp.asarray(strikes, dtype=float))))
        floor = 100.0 * math.sqrt(max(b_vix, 1e-12))
        xi_hi = min(max(xi_hi, (kmax / floor - 1.0) / (sig_max * math.sqrt(7.0 / 365.0))), 2000.0)
    eta_axis = UniformAxis.between(math.asinh(xi_lo), math.asinh(xi_hi), n_xi)
    return xi_lo, xi_hi, eta_axis, np.sinh(eta_axis.nodes())


def _node_sigma(model, v, tau, floor):
    """Moneyness scale of a table node: instantaneous relative VIX vol ``a sigma sqrt(vbar) / (2 VIX^2)``
    at the mean variance ``vbar`` over ``[0, tau]`` (host arrays), floored."""
    a_vix, b_vix = model.vix2_coefficients()
    th_e, k = model.effective_theta(), model.kappa
    kt = k * np.asarray(tau, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(kt > 1e-12, -np.expm1(-kt) / np.where(kt > 1e-12, kt, 1.0), 1.0)
    vbar = w * v + (1.0 - w) * th_e
    sig = a_vix * model.sigma * np.sqrt(vbar) / (2.0 * (a_vix * vbar + b_vix))
    return np.maximum(sig, floor)


def _node_sigma_2f(model, v, v2, tau, floor):
    """Two-factor node scale: ``sqrt(a^2 sigma^2 vbar + a2^2 sigma2^2 v2bar) / (2 VIX^2)`` at the mean variances
    over ``[0, tau]`` (host arrays, broadcast), floored."""
    a, a2, b = model.vix2_terms()

    def avg(k, x, th):
        kt = k * np.asarray(tau, dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            w = np.where(kt > 1e-12, -np.expm1(-kt) / np.where(kt > 1e-12, kt, 1.0), 1.0)
        return w * x + (1.0 - w) * th

    vbar, v2bar = avg(model.kappa, v, model.effective_theta()), avg(model.kappa2, v2, model.theta2)
    sig = np.sqrt(a * a * model.sigma ** 2 * vbar + a2 * a2 * model.sigma2 ** 2 * v2bar) / (2.0 * (a * vbar + a2 * v2bar + b))
    return np.maximum(sig, floor)


def _cummax(x, xp):
    """Running maximum along the last axis (log-step scan; NumPy and CuPy)."""
    n = x.shape[-1]
    shift = 1
    while shift < n:
        y = x.copy()
        y[..., shift:] = xp.maximum(x[..., shift:], x[..., :-shift])
        x = y
        shift *= 2
    return x


def _project_convex(c, xi, xp):
    """Nearest-by-construction convex, non-increasing curve with slopes in [-1, 0]."""
    dxi = xi[1:] - xi[:-1]
    slope = (c[..., 1:] - c[..., :-1]) / dxi
    slope = _cummax(xp.clip(slope, -1.0, 0.0), xp)
    end = xp.maximum(c[..., -1:], 0.0)
    inc = slope * dxi  # c_{j+1} - c_j
    tail = xp.cumsum(inc[..., ::-1], axis=-1)[..., ::-1]  # c_{n-1} - c_j
    return xp.concatenate([end - tail, end], axis=-1), slope


@dataclass(frozen=True, eq=False)
class VixTable:
    """VIX futures and options of one pricing model, tabulated over (v, tau, moneyness)."""

    backend: Backend
    model: AffineModel
    rate: float
    dtype: Any
    v_axis: UniformAxis  # asinh(sqrt(v) / v_scale)
    st_axis: UniformAxis  # asinh(sqrt(tau) / t_scale)
    eta_axis: UniformAxis  # asinh(xi / xi_scale)
    v_scale: float
    t_scale: float
    xi_scale: float
    sigma_floor: float
    xi: Any = field(repr=False)  # [n_xi]
    sig: Any = field(repr=False)  # [n_tau, n_v] moneyness scale per node (per sqrt(year))
    fut: Any = field(repr=False)  # [n_tau, n_v] F(v, tau) - VIX(v), points (0 at tau = 0)
    cn: Any = field(repr=False)  # [n_tau, n_v, n_xi] normalised forward calls
    c_first: Any = field(repr=False)
    c_last: Any = field(repr=False)
    slope_last: Any = field(repr=False)
    v2_axis: Any = None  # two-factor tables: asinh(sqrt(v2) / v2_scale); None for one factor
    v2_scale: float = 0.0
    info: dict = field(default_factory=dict, compare=False)

    @classmethod
    def build(cls, model: AffineModel, *, rate: float, backend=None, dtype="float64", max_days: float = 130.0,
              v_min: "float | None" = None, v_max: "float | None" = None, strikes=None, n_v: int = 41,
              n_tau: int = 34, n_xi: "int | None" = None, xi_range: tuple = (-10.0, 100.0),
              v_scale: "float | None" = None, t_scale_days: float = 3.0, n_v2: int = 33,
              v2_max: "float | None" = None) -> "VixTable":
        """Tabulate VIX futures and calls of ``model`` (pricing measure).

        Parameters
        ----------
        rate : float, discount rate of the options
        max_days : last expiry node (calendar days); grid uniform in ``asinh(sqrt(tau)/eps_t)``
            from 0 (``eps_t = sqrt(t_scale_days/365)``: ~uniform in ``sqrt(tau)`` below a few
            days, ~uniform in ``log(tau)`` above)
        v_min, v_max : variance range (defaults 0 and ``max(2.25, 4 theta_eff)``)
        strikes : optional VIX strikes the caller will use; the moneyness grid is
            widened so that the largest one lies inside it from 7 days on.
        n_v, n_tau, n_xi, xi_range : grid sizes and normalised moneyness range (``n_xi`` default 161
            nodes, 241 for two factors: below)

        n_v2, v2_max : two-factor models only: nodes and upper end of the slow-variance axis
            (uniform in ``asinh(sqrt(v2)/sqrt(theta2))`` from 0; default ``max(2.25, 4 theta2)``).  Near the
            VIX floor (strikes a few tenths above ``100 sqrt(b)``) both factors fail the Feller condition and
            the law of VIX piles up just above the floor: puts there bend within a fraction of a point.  33
            slow nodes follow it between states (``base_2f``, SPEC's tolerance: 17 nodes 1.6x, 25 1.17x, 33
            0.92x), 241 moneyness nodes within a state (161: the node curves, right at their nodes to 1e-3
            points, interpolate the put at K = 12 half a point from the nodes 0.012 too high; worst within a
            point of the floor 1.17x, 241 nodes 0.86x; ``tests/test_vix_table_2f.py``)

        Build cost (NumPy, 2 cores, defaults): ~1-3 s one factor; see ``info["build_seconds"]``.
        """
        if n_xi is None:
            n_xi = 241 if model.n_factors == 2 else 161
        if model.n_factors == 2:
            return cls._build_2f(model, rate=rate, backend=backend, dtype=dtype, max_days=max_days, v_min=v_min,
                                 v_max=v_max, strikes=strikes, n_v=n_v, n_tau=n_tau, n_xi=n_xi, xi_range=xi_range,
                                 v_scale=v_scale, t_scale_days=t_scale_days, n_v2=n_v2, v2_max=v2_max)

        be = _resolve(backend)
        xp, sp = be.xp, be.special
        t0 = time.perf_counter()
        th_e, vmin, vmax, eps, v_axis, eps_t, st_axis, tau_nodes, v_h = _state_time_axes(
            model, v_min, v_max, v_scale, n_v, max_days, t_scale_days, n_tau)
        a_vix, b_vix = model.vix2_coefficients()
        sig_floor, xi_scale = 0.1, 1.0
        sig_h = _node_sigma(model, v_h[None, :], tau_nodes[:, None], sig_floor)  # [n_tau, n_v]; tau > 0 rows reset below
        xi_lo, xi_hi, eta_axis, xi_h = _xi_axis(xi_range, strikes, b_vix, float(sig_h.max()), n_xi, xp)
        xi = xp.asarray(xi_h)
        v_nodes = xp.asarray(v_h)
        sig = xp.asarray(sig_h.copy())
        fut = xp.empty((n_tau, n_v), dtype=float)
        cn = xp.empty((n_tau, n_v, n_xi), dtype=float)
        # tau = 0: futures = model VIX, normalised calls = Bachelier limit with the instantaneous VIX vol
        vix0 = 100.0 * xp.sqrt(a_vix * v_nodes + b_vix)
        fut[0] = vix0
        sig_vix = a_vix * model.sigma * xp.sqrt(v_nodes) / (2.0 * (a_vix * v_nodes + b_vix))
        r = (sig_vix / sig[0])[:, None]
        r_safe = xp.where(r > 1e-12, r, 1.0)
        cn[0] = xp.where(r > 1e-12, r * _bachelier_norm(xi[None, :] / r_safe, xp, sp), xp.maximum(-xi[None, :], 0.0))
        for it in range(1, n_tau):
            tau = float(tau_nodes[it])
            cur = vix_curves(model, tau, v_nodes, backend=be)
            F = 100.0 * cur.futures
            # node scale: the relative standard deviation of VIX_tau per sqrt(year)
            ex2 = 1e4 * (a_vix * (th_e + (v_nodes - th_e) * math.exp(-model.kappa * tau)) + b_vix)
            sd_rel = xp.sqrt(xp.maximum(ex2 - F * F, 0.0)) / F
            sig[it] = xp.maximum(sd_rel / math.sqrt(tau), sig_floor)
            s = (sig[it] * math.sqrt(tau))[:, None]
            K = F[:, None] * (1.0 + xi[None, :] * s)
            kap = xp.maximum(K, 0.0) / 100.0
            call = 100.0 * cur.call(kap, xp)
            call = xp.where(K <= 0.0, F[:, None] - K, call)
            fut[it] = F
            cn[it] = call / (F[:, None] * s)
        cn, slope = _project_convex(cn, xi, xp)
        dt = np.dtype(dtype)
        info = {"build_seconds": time.perf_counter() - t0, "nodes": n_tau * n_v * n_xi, "v_range": (vmin, vmax),
                "xi_range": (xi_lo, xi_hi)}
        return cls(backend=be, model=model, rate=float(rate), dtype=dt, v_axis=v_axis, st_axis=st_axis, t_scale=eps_t,
                   eta_axis=eta_axis, v_scale=eps, xi_scale=xi_scale, sigma_floor=sig_floor, xi=xi.astype(dt),
                   sig=sig.astype(dt),
                   fut=(fut - vix0[None, :]).astype(dt), cn=cn.astype(dt), c_first=cn[..., 0].astype(dt), c_last=cn[..., -1].astype(dt),
                   slope_last=slope[..., -1].astype(dt), info=info)

    @classmethod
    def _build_2f(cls, model, *, rate, backend, dtype, max_days, v_min, v_max, strikes, n_v, n_tau, n_xi, xi_range,
                  v_scale, t_scale_days, n_v2, v2_max) -> "VixTable":
        """Two-factor build (module doc): node arrays ``[n_tau, n_v2, n_v(, n_xi)]``, curves by :func:`vix_curves_2f`."""
        from .tables import DEFAULT_V_MAX

        be = _resolve(backend)
        xp, sp = be.xp, be.special
        t0 = time.perf_counter()
        th_e, vmin, vmax, eps, v_axis, eps_t, st_axis, tau_nodes, v_h = _state_time_axes(
            model, v_min, v_max, v_scale, n_v, max_days, t_scale_days, n_tau)
        v2top = max(DEFAULT_V_MAX, 4.0 * model.theta2) if v2_max is None else float(v2_max)
        a, a2, b = model.vix2_terms()
        eps2 = math.sqrt(max(model.theta2, 1e-4))
        v2_axis = UniformAxis.between(0.0, math.asinh(math.sqrt(v2top) / eps2), n_v2)
        v2_h = (eps2 * np.sinh(v2_axis.nodes())) ** 2
        sig_floor, xi_scale = 0.1, 1.0
        sig_h = _node_sigma_2f(model, v_h[None, None, :], v2_h[None, :, None], tau_nodes[:, None, None], sig_floor)
        xi_lo, xi_hi, eta_axis, xi_h = _xi_axis(xi_range, strikes, b, float(sig_h.max()), n_xi, xp)
        xi = xp.asarray(xi_h)
        v_nodes = xp.asarray(v_h)[None, :]
        v2_nodes = xp.asarray(v2_h)[:, None]
        sig = xp.asarray(sig_h.copy())
        fut = xp.empty((n_tau, n_v2, n_v), dtype=float)
        cn = xp.empty((n_tau, n_v2, n_v, n_xi), dtype=float)
        # tau = 0: futures = model VIX, normalised calls = Bachelier limit with the instantaneous VIX vol
        x0 = a * v_nodes + b + a2 * v2_nodes
        vix0 = 100.0 * xp.sqrt(x0)
        fut[0] = vix0
        sig_vix = xp.sqrt(a * a * model.sigma ** 2 * v_nodes + a2 * a2 * model.sigma2 ** 2 * v2_nodes) / (2.0 * x0)
        rr = (sig_vix / sig[0])[..., None]
        r_safe = xp.where(rr > 1e-12, rr, 1.0)
        cn[0] = xp.where(rr > 1e-12, rr * _bachelier_norm(xi / r_safe, xp, sp), xp.maximum(-xi, 0.0))
        for it in range(1, n_tau):
            tau = float(tau_nodes[it])
            curves = vix_curves_2f(model, tau, v_h, v2_h, backend=be)
            ev = th_e + (v_nodes - th_e) * math.exp(-model.kappa * tau)
            ev2 = xp.asarray(model.slow_mean(v2_h, tau))[:, None]
            ex2 = 1e4 * (a * ev + a2 * ev2 + b)  # [n_v2, n_v]
            for j, cur in enumerate(curves):
                F = 100.0 * cur.futures
                sd_rel = xp.sqrt(xp.maximum(ex2[j] - F * F, 0.0)) / F
                sig[it, j] = xp.maximum(sd_rel / math.sqrt(tau), sig_floor)
                s_ = (sig[it, j] * math.sqrt(tau))[:, None]
                K = F[:, None] * (1.0 + xi[None, :] * s_)
                call = 100.0 * cur.call(xp.maximum(K, 0.0) / 100.0, xp)
                call = xp.where(K <= 0.0, F[:, None] - K, call)
                fut[it, j] = F
                cn[it, j] = call / (F[:, None] * s_)
        cn, slope = _project_convex(cn, xi, xp)
        dt = np.dtype(dtype)
        info = {"build_seconds": time.perf_counter() - t0, "nodes": n_tau * n_v2 * n_v * n_xi, "v_range": (vmin, vmax),
                "v2_range": (0.0, v2top), "xi_range": (xi_lo, xi_hi)}
        return cls(backend=be, model=model, rate=float(rate), dtype=dt, v_axis=v_axis, st_axis=st_axis, t_scale=eps_t,
                   eta_axis=eta_axis, v_scale=eps, xi_scale=xi_scale, sigma_floor=sig_floor, xi=xi.astype(dt),
                   sig=sig.astype(dt), fut=(fut - vix0[None]).astype(dt), cn=cn.astype(dt),
                   c_first=cn[..., 0].astype(dt), c_last=cn[..., -1].astype(dt), slope_last=slope[..., -1].astype(dt),
                   v2_axis=v2_axis, v2_scale=eps2, info=info)

    # ------------------------------------------------------------------ lookups
    @property
    def xp(self):
        return self.backend.xp

    @property
    def two_factor(self) -> bool:
        return self.v2_axis is not None

    def _coords(self, v, tau):
        xp = self.xp
        v = xp.asarray(v, dtype=self.dtype)
        tau = xp.asarray(tau, dtype=self.dtype)
        lo_v, hi_v = (self.v_scale * math.sinh(self.v_axis.start)) ** 2, (self.v_scale * math.sinh(self.v_axis.stop)) ** 2
        vc = xp.clip(v, lo_v, hi_v)
        cv = xp.arcsinh(xp.sqrt(vc) / self.v_scale)
        st = xp.sqrt(xp.clip(tau, 0.0, (self.t_scale * math.sinh(self.st_axis.stop)) ** 2))
        ct = xp.arcsinh(st / self.t_scale)
        return cv, ct, st, tau

    def _c2(self, v2):
        """Slow-variance coordinate ``asinh(sqrt(clip(v2)) / eps_2)`` (two-factor tables), else None."""
        if not self.two_factor:
            return None
        xp = self.xp
        hi = (self.v2_scale * math.sinh(self.v2_axis.stop)) ** 2
        return xp.arcsinh(xp.sqrt(xp.clip(xp.asarray(v2, dtype=self.dtype), 0.0, hi)) / self.v2_scale)

    def future(self, v, tau, v2=0.0):
        """VIX futures price (index points) for variance state ``v`` (and slow state ``v2``) and expiry ``tau`` (years).

        ``F = VIX(v, v2) + D(v, v2, tau)``: the model VIX of the actual state plus the
        tabulated futures drift ``D`` (cubic in every table coordinate; ``tau``
        clamped to ``[0, max_days]``, ``v`` to ``[v_min, v_max]``, ``v2`` to ``[0, v2_max]`` inside ``D``
        only).  ``tau = 0`` gives exactly the model VIX of the state.  ``v2`` is ignored by one-factor tables.
        """
        cv, ct, _, _ = self._coords(v, tau)
        return self._future(v, cv, ct, v2, self._c2(v2))

    def _future(self, v, cv, ct, v2=0.0, c2=None):
        # model VIX of the actual state + tabulated drift of the futures price (smooth, 0 at tau = 0)
        xp = self.xp
        if c2 is None:
            a, b = self.model.vix2_coefficients()
            spot = 100.0 * xp.sqrt(xp.maximum(a * xp.asarray(v, dtype=self.dtype) + b, 0.0))
            return spot + interp(self.fut, (self.st_axis, self.v_axis), (ct, cv), 3, xp)
        a, a2, b = self.model.vix2_terms()
        x = a * xp.asarray(v, dtype=self.dtype) + b
        x = x + a2 * xp.asarray(v2, dtype=self.dtype)
        spot = 100.0 * xp.sqrt(xp.maximum(x, 0.0))
        return spot + interp(self.fut, (self.st_axis, self.v2_axis, self.v_axis), (ct, c2, cv), 3, xp)

    def _forward_call(self, cv, ct, st, F, strike, c2=None):
        """Undiscounted call: sum over the 4 (tau, v) corners - 8 (tau, v2, v) corners for two factors - of
        ``F s_c c_c((K/F - 1)/s_c)``.

        Each corner term is convex and non-increasing in ``K`` with slope in
        ``[-1, 0]`` (affine change of variable of a projected node curve) and the
        multilinear weights are >= 0 and sum to 1, so the sum keeps those properties.
        """
        xp = self.xp
        n = self.eta_axis.n
        ax_t, ax_v = self.st_axis, self.v_axis
        ft = xp.clip((ct - ax_t.start) / ax_t.step, 0.0, ax_t.n - 1.0)
        fv = xp.clip((cv - ax_v.start) / ax_v.step, 0.0, ax_v.n - 1.0)
        it_f = xp.clip(xp.floor(ft), 0, ax_t.n - 2)
        iv_f = xp.clip(xp.floor(fv), 0, ax_v.n - 2)
        wt, wv = ft - it_f, fv - iv_f
        it, iv = it_f.astype(xp.int64), iv_f.astype(xp.int64)
        if c2 is None:
            i2, v2_corners, t_stride = 0, ((0, 1.0),), ax_v.n
        else:
            ax2 = self.v2_axis
            f2 = xp.clip((c2 - ax2.start) / ax2.step, 0.0, ax2.n - 1.0)
            i2_f = xp.clip(xp.floor(f2), 0, ax2.n - 2)
            w2 = f2 - i2_f
            i2, v2_corners, t_stride = i2_f.astype(xp.int64), ((0, 1.0 - w2), (1, w2)), ax2.n * ax_v.n
        flat = self.cn.reshape(-1)
        sig_flat = self.sig.reshape(-1)
        cf_flat, cl_flat, sl_flat = self.c_first.reshape(-1), self.c_last.reshape(-1), self.slope_last.reshape(-1)
        xi_first, xi_last = self.xi[0], self.xi[-1]
        mny = strike / F - 1.0
        out = xp.zeros(xp.broadcast_shapes(F.shape, strike.shape, st.shape), dtype=self.dtype)
        for d2_, w2_ in v2_corners:
            for dt_, wt_ in ((0, 1.0 - wt), (1, wt)):
                for dv_, wv_ in ((0, 1.0 - wv), (1, wv)):
                    if c2 is None:
                        node = (it + dt_) * ax_v.n + (iv + dv_)
                    else:
                        node = (it + dt_) * t_stride + (i2 + d2_) * ax_v.n + (iv + dv_)
                    s = xp.take(sig_flat, node) * st
                    xi = mny / xp.maximum(s, 1e-12)
                    eta = xp.arcsinh(xi / self.xi_scale)
                    j = xp.clip(xp.floor((eta - self.eta_axis.start) / self.eta_axis.step), 0, n - 2).astype(xp.int64)
                    x0 = xp.take(self.xi, j)
                    x1 = xp.take(self.xi, j + 1)
                    t = xp.clip((xi - x0) / (x1 - x0), 0.0, 1.0)
                    base = node * n
                    c0 = xp.take(flat, base + j)
                    c1 = xp.take(flat, base + j + 1)
                    val = c0 + t * (c1 - c0)
                    val = xp.where(xi < xi_first, xp.take(cf_flat, node) - (xi - xi_first), val)
                    val = xp.where(xi > xi_last,
                                   xp.maximum(xp.take(cl_flat, node) + xp.take(sl_flat, node) * (xi - xi_last), 0.0), val)
                    if c2 is None:
                        out = out + wt_ * wv_ * xp.maximum(s, 1e-12) * val
                    else:
                        out = out + wt_ * wv_ * xp.maximum(s, 1e-12) * w2_ * val
        return F * out

    def option(self, v, tau, strike, is_call, v2=0.0):
        """Discounted VIX option price, index points per 1 unit (multiply by 100 per contract).

        Calls from the table; puts by parity ``P = C - D (F - K)``.  ``tau = 0``
        gives the intrinsic value against the model VIX.  ``v2``: slow variance (two-factor tables).
        """
        xp = self.xp
        cv, ct, st, tau_raw = self._coords(v, tau)
        c2 = self._c2(v2)
        strike = xp.asarray(strike, dtype=self.dtype)
        F = self._future(v, cv, ct, v2, c2)
        C = self._forward_call(cv, ct, st, F, strike, c2)
        D = xp.exp(-self.rate * xp.maximum(tau_raw, 0.0))
        call = D * C
        put = D * xp.maximum(C - (F - strike), 0.0)
        return xp.where(xp.asarray(is_call, dtype=bool), call, put)

    def option_greeks(self, v, tau, strike, is_call, v2=0.0):
        """``(price, dprice/dv)``; price as :meth:`option`, derivative per unit of (fast) variance at fixed ``v2``.

        With ``C(v) = G(v, F(v))`` (``G``: the interpolated forward call at a given
        futures price), ``dC/dv = dG/dF F'(v) + dG/dv|_F``: ``F'`` from the smooth
        futures table, ``dG/dF`` from the moneyness interpolation, and ``dG/dv|_F``
        by differentiating the cubic Lagrange interpolant (in ``asinh(sqrt(v)/eps_v)``)
        of ``G`` at the four surrounding variance nodes - the normalised curves
        change slowly in ``v`` at fixed ``F``, so this stays accurate even where the
        price itself changes by orders of magnitude between variance nodes.
        """
        xp = self.xp
        v = xp.maximum(xp.asarray(v, dtype=self.dtype), 0.0)
        strike = xp.asarray(strike, dtype=self.dtype)
        cv, ct, st, tau_raw = self._coords(v, tau)
        c2 = self._c2(v2)
        F = self._future(v, cv, ct, v2, c2)
        C = self._forward_call(cv, ct, st, F, strike, c2)
        D = xp.exp(-self.rate * xp.maximum(tau_raw, 0.0))
        ax, eps = self.v_axis, self.v_scale
        # F'(v): central difference on the cubic futures table
        dv_cv = 1e-4 * ax.step
        cv_up, cv_dn = cv + dv_cv, xp.maximum(cv - dv_cv, 0.0)
        v_up, v_dn = (eps * xp.sinh(cv_up)) ** 2, (eps * xp.sinh(cv_dn)) ** 2
        dF = (self._future(v_up, xp.minimum(cv_up, ax.stop), ct, v2, c2)
              - self._future(v_dn, xp.maximum(cv_dn, ax.start), ct, v2, c2))
        dF_dv = dF / (v_up - v_dn)
        # dG/dF at fixed curves
        hF = 1e-6 * F
        dG_dF = (self._forward_call(cv, ct, st, F + hF, strike, c2) - self._forward_call(cv, ct, st, F - hF, strike, c2)) / (2.0 * hF)
        # dG/dv at fixed F: cubic in the variance coordinate through four nodes
        cvc = xp.clip(cv, ax.start, ax.stop)
        i0 = xp.clip(xp.floor((cvc - ax.start) / ax.step) - 1.0, 0, ax.n - 4)
        s = (cvc - ax.start) / ax.step - i0
        s1, s2, s3 = s - 1.0, s - 2.0, s - 3.0
        dw = [-(s2 * s3 + s1 * s3 + s1 * s2) / 6.0, (s2 * s3 + s * s3 + s * s2) / 2.0,
              -(s1 * s3 + s * s3 + s * s1) / 2.0, (s1 * s2 + s * s2 + s * s1) / 6.0]
        dG_dcv = xp.zeros_like(C)
        for o in range(4):
            dG_dcv = dG_dcv + dw[o] * self._forward_call(ax.start + (i0 + o) * ax.step, ct, st, F, strike, c2)
        v_eff = xp.maximum(v, (0.1 * eps * ax.step) ** 2)
        dcv_dv = 1.0 / (2.0 * xp.sqrt(v_eff) * xp.sqrt(eps * eps + v_eff))
        dC_dv = dG_dF * dF_dv + dG_dcv / ax.step * dcv_dv
        is_call = xp.asarray(is_call, dtype=bool)
        price = xp.where(is_call, D * C, D * xp.maximum(C - (F - strike), 0.0))
        deriv = xp.where(is_call, D * dC_dv, D * (dC_dv - dF_dv))
        return price, deriv

    def implied_vol(self, v, tau, strike, v2=0.0):
        """Black-76 implied vol of the table's call price on the table's futures price."""
        xp = self.xp
        tau = xp.asarray(tau, dtype=self.dtype)
        F = self.future(v, tau, v2=v2)
        C = self.option(v, tau, strike, True, v2=v2)
        return implied_vol(C, F, xp.asarray(strike, dtype=self.dtype), tau, discount=xp.exp(-self.rate * tau),
                           is_call=True, backend=self.backend)
