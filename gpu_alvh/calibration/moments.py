"""Model market statistics in semi-closed form: the stationary daily chain of an affine model.

For a pair of models - ``p`` (the simulation measure: drives the paths through the QE scheme
and Poisson jumps, one step per session, ``dt = 1/252``) and ``q`` (the pricing measure:
defines ``VIX_tau^2 = a_q(tau) v + b_q(tau)``) - :func:`model_statistics` computes the
long-run values of the statistics of :mod:`gpu_alvh.calibration.stats` without simulating:

1. **Law of one step** (:func:`qe_step_law`): the QE step of :mod:`gpu_alvh.schemes` is, given
   ``v``, either ``v' = a (b + Z)^2`` (quadratic branch) or ``v' = 0`` with probability ``p``
   and ``Exp(beta)`` otherwise (exponential branch); the log-price step is, given ``(v, v')``,
   normal with mean ``mu dt - ln M - K3 v / 2 + K2 v'`` and variance ``K3 (v + v')``.  Jumps:
   ``N ~ Poisson(lambda dt)`` (0, 1 or 2; more has probability below 1e-5 for lambda <= 10),
   ``Z_v ~ Gamma(N, mu_v)``, log jump ``N mu_J + rho_J Z_v + sqrt(N) delta eps`` plus the diffusion of
   the raised variance for the rest of the step, ``-I/2 + sqrt(I) eps'`` with ``I = Z_v (1 - U) dt``
   (its mean and variance given ``Z_v``).
2. **Stationary law** of ``v``: a Markov chain on ``n_cells`` cells uniform in ``sqrt(v)``, whose
   transition matrix is the step law integrated over each cell (closed-form CDFs), jumps applied
   after the diffusion as in the simulator; ``pi P = pi`` is solved by GTH state reduction.
3. **Statistics**: level statistics (VIX quantiles, VIX3M/VIX, VIX9D/VIX, the inversion line,
   ``E[VIX_tau^2]``) are integrals over ``pi``; one-day statistics (VIX log-change moments,
   tail shares, the VIX/SPX beta, SPX return moments and tails, the lag-one autocovariance of
   ``ln VIX``) integrate the step law from each cell centre by Gauss quadrature (Gauss-Hermite in
   the QE normal, Gauss-Laguerre in the exponential parts), with threshold probabilities from the
   closed-form CDFs.  ``E[RV^n] = 252 E[r^2]`` for every window ``n`` (stationarity).

Not available in closed form (simulate them with ``alvh scenarios check``): ``vrp_vol_*``
(expected square roots of realised variance) and ``vix_half_life_252`` (a small-sample
estimator).  VVIX comes from the pricing layer (:func:`vvix_curve`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import special

from ..backend import get_backend
from ..models import AffineModel
from ..pricing.black import implied_vol
from ..pricing.vix import vix_curves
from ..schemes import PSI_C, QEScheme

__all__ = ["StepLaw", "qe_step_law", "Stationary", "stationary_law", "model_statistics", "vvix_curve", "CLOSED_FORM", "TENORS", "DT"]

#: One session in years of trading time (the simulator's clock).
DT = 1.0 / 252.0
#: VIX tenors in years: VIX9D, VIX, VIX3M.
TENORS = {"9": 9.0 / 365.0, "30": 30.0 / 365.0, "93": 93.0 / 365.0}
#: Statistics :func:`model_statistics` returns.
CLOSED_FORM = (
    "vrp_var_9", "vrp_var_30", "vrp_var_93", "vix_dlog_sd", "vix_move10", "vix_move20", "vix_beta", "vix_spx_corr",
    "vix_p5", "vix_p50", "vix_p95", "spx_vol", "spx_log_growth", "spx_down4", "spx_down8", "spx_up4",
    "ts_ratio_p50", "ts_contango", "ts_inversion", "ts9_ratio_p50", "vix_half_life",
)


@lru_cache(maxsize=8)
def _nodes(k: int):
    z, w = np.polynomial.hermite_e.hermegauss(k)
    t, wl = np.polynomial.laguerre.laggauss(k)
    t2, wl2 = special.roots_genlaguerre(k, 1.0)
    return z, w / math.sqrt(2.0 * math.pi), t, wl, t2, wl2


@dataclass(frozen=True)
class StepLaw:
    """Law of one QE step from states ``v`` [n] (arrays [n] unless stated).

    ``quad`` marks the quadratic branch (``v' = a (b + Z)^2``), else exponential
    (``P(v' = 0) = p``, otherwise ``Exp`` with rate ``beta``).  ``shift = mu dt - ln M - K3 v / 2``
    and ``k2, k3`` give the log-price step ``N(shift + k2 v', k3 (v + v'))``.
    """

    v: np.ndarray
    quad: np.ndarray
    a: np.ndarray
    b: np.ndarray
    p: np.ndarray
    beta: np.ndarray
    shift: np.ndarray
    k2: float
    k3: float

    def cdf(self, y):
        """``P(v' <= y)``; ``y`` broadcasts against ``v[:, None]``-shaped arrays."""
        a, b, p, beta = (x.reshape(x.shape + (1,) * (np.ndim(y) - 1)) for x in (self.a, self.b, self.p, self.beta))
        quad = self.quad.reshape(self.quad.shape + (1,) * (np.ndim(y) - 1))
        yp = np.maximum(y, 0.0)
        r = np.sqrt(yp / a)
        fq = special.ndtr(r - b) - special.ndtr(-r - b)
        fe = 1.0 - (1.0 - p) * np.exp(-beta * yp)
        return np.where(y < 0.0, 0.0, np.where(quad, fq, fe))

    def nodes(self, k: int):
        """Quadrature of ``v'``: ``(v' [n, k+1], weights [n, k+1])``; each row sums to 1."""
        z, wz, t, wt, _, _ = _nodes(k)
        quad = self.quad[:, None]
        vq = self.a[:, None] * (self.b[:, None] + z[None, :]) ** 2
        ve = t[None, :] / self.beta[:, None]
        v1 = np.where(quad, vq, ve)
        w1 = np.where(quad, wz[None, :], (1.0 - self.p[:, None]) * wt[None, :])
        v0 = np.zeros((self.v.size, 1))
        w0 = np.where(self.quad, 0.0, self.p)[:, None]
        return np.concatenate([v1, v0], axis=1), np.concatenate([w1, w0], axis=1)


def qe_step_law(model: AffineModel, v, mu_dt: float, dt: float = DT) -> StepLaw:
    """Law of :meth:`gpu_alvh.schemes.QEScheme.step` from states ``v`` (same formulas, as a law)."""
    v = np.asarray(v, dtype=float)
    c = QEScheme.coefficients(model.kappa, model.theta, model.sigma, model.rho, dt)
    m = v * c.E + c.theta_1mE
    psi = (v * c.c1 + c.c2) / (m * m)
    quad = psi <= PSI_C
    inv = 2.0 / np.minimum(psi, PSI_C)
    b2 = inv - 1.0 + np.sqrt(inv * (inv - 1.0))
    a = m / (1.0 + b2)
    one_m_2aa = np.maximum(1.0 - 2.0 * c.A * a, 1e-12)
    lnm_q = b2 * a * c.A / one_m_2aa - 0.5 * np.log(one_m_2aa)
    psi_e = np.maximum(psi, PSI_C)
    p = (psi_e - 1.0) / (psi_e + 1.0)
    beta = (1.0 - p) / m
    lnm_e = np.log(p + beta * (1.0 - p) / np.maximum(beta - c.A, 1e-12 * beta))
    lnm = np.where(quad, lnm_q, lnm_e)
    shift = mu_dt - lnm - 0.5 * c.K3 * v
    return StepLaw(v, quad, a, np.sqrt(b2), p, beta, shift, c.K2, c.K3)


# --------------------------------------------------------------------------- jumps
def _jump_probs(model: AffineModel, dt: float):
    lam = model.jump_intensity * dt
    p = np.array([1.0, lam, lam * lam / 2.0]) * math.exp(-lam)
    return p / p.sum()


def _jump_gamma_cdf(x, n: int, mu: float):
    """CDF of ``Gamma(n, mu)`` (sum of ``n`` exponential variance jumps), ``n`` in {1, 2}."""
    x = np.maximum(x, 0.0) / mu
    return -np.expm1(-x) if n == 1 else 1.0 - np.exp(-x) * (1.0 + x)


def _jump_nodes(model: AffineModel, dt: float, k: int):
    """Jump outcomes: ``(count [J], Z_v [J], weight [J])`` with N = 0, 1, 2."""
    pr = _jump_probs(model, dt)
    mu = model.mean_variance_jump()
    _, _, t, wt, t2, wt2 = _nodes(k)
    if mu == 0.0:
        return np.array([0.0, 1.0, 2.0]), np.zeros(3), pr
    count = np.concatenate([[0.0], np.ones(k), np.full(k, 2.0)])
    z = np.concatenate([[0.0], mu * t, mu * t2])
    w = np.concatenate([[pr[0]], pr[1] * wt, pr[2] * wt2])
    return count, z, w


# --------------------------------------------------------------------------- stationary law
@dataclass(frozen=True)
class Stationary:
    """Stationary law of ``v`` on cells uniform in ``sqrt(v)``.

    ``edges`` [n+1] and ``centres`` [n] in ``v``; ``pi`` [n] cell probabilities;
    ``particles`` / ``weights``: 8 sub-points per cell (piecewise-constant density in ``sqrt(v)``).
    """

    edges: np.ndarray
    centres: np.ndarray
    pi: np.ndarray
    particles: np.ndarray
    weights: np.ndarray

    def quantile(self, prob) -> np.ndarray:
        """Quantiles of ``v`` (linear in the CDF over the particles)."""
        c = np.cumsum(self.weights)
        return np.interp(prob, c - 0.5 * self.weights, self.particles)


def _v_max(model: AffineModel) -> float:
    th = model.effective_theta()
    var = (model.sigma**2 * th + 2.0 * model.jump_intensity * model.mean_variance_jump() ** 2) / (2.0 * model.kappa)
    return float(min(max(th + 30.0 * math.sqrt(var), 6.0 * th, 0.25), 9.0))


def _gth(P: np.ndarray) -> np.ndarray:
    """Stationary distribution of a stochastic matrix by Grassmann-Taksar-Heyman state reduction.

    Subtraction-free (accurate for nearly decomposable chains) and made of elementwise updates
    only, so it does not depend on a multithreaded LAPACK (which stalls on busy machines).
    """
    A = np.array(P, dtype=float)
    n = A.shape[0]
    for k in range(n - 1, 0, -1):
        s = A[k, :k].sum()
        if s > 0.0:
            A[:k, k] /= s
        A[:k, :k] += A[:k, k, None] * A[None, k, :k]
    pi = np.zeros(n)
    pi[0] = 1.0
    for k in range(1, n):
        pi[k] = float(np.sum(pi[:k] * A[:k, k]))
    return pi / pi.sum()


def stationary_law(model: AffineModel, mu_dt: float = 0.0, *, n_cells: int = 400, dt: float = DT) -> Stationary:
    """Stationary distribution of the simulated daily variance chain of ``model`` (see module doc)."""
    s_edges = np.linspace(0.0, math.sqrt(_v_max(model)), n_cells + 1)
    edges = s_edges**2
    centres = (0.5 * (s_edges[:-1] + s_edges[1:])) ** 2
    law = qe_step_law(model, centres, mu_dt, dt)
    F = law.cdf(np.broadcast_to(edges[None, :], (n_cells, n_cells + 1)))
    F[:, 0], F[:, -1] = 0.0, 1.0  # the first cell holds v' = 0 (the QE atom), the last the upper tail
    P = np.diff(F, axis=1)
    pr = _jump_probs(model, dt)
    mu = model.mean_variance_jump()
    if mu > 0.0 and pr[0] < 1.0:
        K = pr[0] * np.eye(n_cells)
        for n in (1, 2):
            G = _jump_gamma_cdf(edges[None, :] - centres[:, None], n, mu)
            G[:, -1] = 1.0
            K += pr[n] * np.diff(G, axis=1)
        P = np.einsum("ij,jk->ik", P, K, optimize=False)
    pi = _gth(P)
    sub = (np.arange(8) + 0.5) / 8.0
    s_part = s_edges[:-1, None] + (s_edges[1:] - s_edges[:-1])[:, None] * sub[None, :]
    return Stationary(edges, centres, pi, (s_part**2).ravel(), np.repeat(pi / 8.0, 8))


# --------------------------------------------------------------------------- statistics
def _vix(q: AffineModel, v, tau: float):
    a, b = q.vix2_coefficients(tau)
    return 100.0 * np.sqrt(np.maximum(a * v + b, 0.0))


def _wquantile(x, w, prob):
    order = np.argsort(x)
    xs, ws = x[order], w[order]
    c = np.cumsum(ws)
    return float(np.interp(prob, c - 0.5 * ws, xs))


def _threshold_prob(law: StepLaw, model: AffineModel, y, above: bool, k: int = 32):
    """``P(v' + Z_v > y)`` (``above``) or ``P(v' + Z_v < y)`` from each state, thresholds ``y`` [n].

    ``P(v' + Z <= y) = p_0 F(y) + sum_{N=1,2} p_N int_0^y F(y - z) g_N(z) dz`` with the closed-form
    CDF ``F`` of the QE step and the Gamma(N, mu_v) density ``g_N`` (Gauss-Legendre on ``[0, y]``).
    """
    pr = _jump_probs(model, DT)
    mu = model.mean_variance_jump()
    below = pr[0] * law.cdf(y)
    if mu > 0.0:
        t, wt = np.polynomial.legendre.leggauss(k)
        yy = np.maximum(y, 0.0)
        z = 0.5 * yy[:, None] * (1.0 + t[None, :])
        Fz = law.cdf(y[:, None] - z)
        e = np.exp(-z / mu) / mu
        for n, g in ((1, e), (2, e * z / mu)):
            below = below + pr[n] * 0.5 * yy * (Fz * g * wt[None, :]).sum(axis=1)
    else:
        below = below + (pr[1] + pr[2]) * law.cdf(y)
    return 1.0 - below if above else below


def model_statistics(p: AffineModel, q: AffineModel, drift: float, *, n_cells: int = 400, nodes: int = 32) -> dict[str, float]:
    """Long-run values of the :data:`CLOSED_FORM` statistics for paths under ``p`` priced under ``q``.

    ``drift`` is the P equity drift (``mu``; the step carries ``(mu - lambda m) dt``).
    Units as in :data:`gpu_alvh.calibration.stats.STATISTICS`.
    """
    mu_dt = (drift - p.jump_intensity * p.jump_compensator()) * DT
    st = stationary_law(p, mu_dt, n_cells=n_cells)
    out: dict[str, float] = {}
    # ---- level statistics over the particles
    x, w = st.particles, st.weights
    vix = {k: _vix(q, x, tau) for k, tau in TENORS.items()}
    for name, prob in (("p5", 0.05), ("p50", 0.5), ("p95", 0.95)):
        out[f"vix_{name}"] = _wquantile(vix["30"], w, prob)
    out["ts_ratio_p50"] = _wquantile(vix["93"] / vix["30"], w, 0.5)
    out["ts9_ratio_p50"] = _wquantile(vix["9"] / vix["30"], w, 0.5)
    spread = vix["93"] - vix["30"]
    out["ts_contango"] = 100.0 * float(w @ (spread > 1.0))
    mx, my = w @ vix["30"], w @ spread
    slope = (w @ ((vix["30"] - mx) * (spread - my))) / (w @ (vix["30"] - mx) ** 2)
    out["ts_inversion"] = float(mx - my / slope)
    # ---- one-day statistics from each cell centre
    v0 = st.centres
    pi = st.pi
    law = qe_step_law(p, v0, mu_dt)
    vq, wq = law.nodes(nodes)  # [n, K]
    jc, jz, jw = _jump_nodes(p, DT, nodes)  # [J]
    v1 = vq[:, :, None] + jz[None, None, :]  # [n, K, J]
    w1 = wq[:, :, None] * jw[None, None, :]
    mu_j, sd_j, rho_j = (getattr(p, k, 0.0) for k in ("jump_mean", "jump_std", "jump_corr"))  # 0 without jumps
    # the variance jumps' own diffusion within the step, I = Z (1 - U) dt (models.SVCJ.sample_jumps):
    # mean -E[I]/2 = -Z dt/4, variance E[I] + Var(I)/4 = Z dt/2 + (Z dt)^2/48 (taken as normal)
    mean_r = law.shift[:, None, None] + law.k2 * vq[:, :, None] + jc * mu_j + rho_j * jz - 0.25 * jz * DT
    var_r = law.k3 * (v0[:, None, None] + vq[:, :, None]) + jc * sd_j**2 + 0.5 * jz * DT + (jz * DT) ** 2 / 48.0
    vix0 = _vix(q, v0, TENORS["30"])
    vix1 = _vix(q, v1, TENORS["30"])
    lv0 = np.log(vix0)
    d = np.log(vix1) - lv0[:, None, None]
    e_d = (w1 * d).sum((1, 2))
    e_d2 = (w1 * d * d).sum((1, 2))
    m_d = pi @ e_d
    out["vix_dlog_sd"] = 100.0 * math.sqrt(max(pi @ e_d2 - m_d**2, 0.0))
    a30, b30 = q.vix2_coefficients(TENORS["30"])
    for pct in (10, 20):
        up = ((vix0 * (1 + pct / 100.0) / 100.0) ** 2 - b30) / a30
        dn = ((vix0 * (1 - pct / 100.0) / 100.0) ** 2 - b30) / a30
        pu = _threshold_prob(law, p, up, True, nodes)
        pd_ = np.where(dn > 0.0, _threshold_prob(law, p, dn, False, nodes), 0.0)
        out[f"vix_move{pct}"] = 100.0 * float(pi @ (pu + pd_))
    # ---- returns
    e_r = (w1 * mean_r).sum((1, 2))
    e_r2 = (w1 * (mean_r**2 + var_r)).sum((1, 2))
    m_r, m_r2 = pi @ e_r, pi @ e_r2
    out["spx_vol"] = 100.0 * math.sqrt(252.0 * max(m_r2 - m_r**2, 0.0))
    out["spx_log_growth"] = 100.0 * 252.0 * m_r
    sd_r = np.sqrt(var_r)
    for key, level, lower in (("spx_down4", 0.96, True), ("spx_down8", 0.92, True), ("spx_up4", 1.04, False)):
        z = (math.log(level) - mean_r) / sd_r
        prob = special.ndtr(z) if lower else special.ndtr(-z)
        out[key] = 252.0 * float(pi @ (w1 * prob).sum((1, 2)))
    g1 = np.exp(mean_r + 0.5 * var_r) - 1.0  # E[S'/S - 1 | nodes]
    g2 = np.exp(2.0 * mean_r + 2.0 * var_r) - 2.0 * np.exp(mean_r + 0.5 * var_r) + 1.0
    dv = vix1 - vix0[:, None, None]
    e_R, e_R2 = 100.0 * (pi @ (w1 * g1).sum((1, 2))), 1e4 * (pi @ (w1 * g2).sum((1, 2)))
    e_dv, e_dvR = pi @ (w1 * dv).sum((1, 2)), 100.0 * (pi @ (w1 * dv * g1).sum((1, 2)))
    e_dv2 = pi @ (w1 * dv * dv).sum((1, 2))
    cov = e_dvR - e_dv * e_R
    out["vix_beta"] = float(cov / (e_R2 - e_R**2))
    out["vix_spx_corr"] = float(cov / math.sqrt((e_R2 - e_R**2) * (e_dv2 - e_dv**2)))
    # ---- variance risk premia: E[VIX_tau^2] - E[RV] with E[RV] = 252 E[r^2]
    for key, tau in TENORS.items():
        out[f"vrp_var_{key}"] = 1e4 * (float(w @ (vix[key] / 100.0) ** 2) - 252.0 * m_r2)
    # ---- AR(1) of ln VIX: lag-one autocovariance over the stationary law
    e_l1 = (w1 * np.log(vix1)).sum((1, 2))
    mean_l = pi @ lv0
    g0 = pi @ (lv0 - mean_l) ** 2
    g1c = pi @ (lv0 * e_l1) - mean_l * (pi @ e_l1)
    phi = g1c / g0
    out["vix_half_life"] = math.log(0.5) / math.log(phi) if 0.0 < phi < 1.0 else math.inf
    return out


def vvix_curve(q: AffineModel, v, *, rate: float = 0.0, tau: float = TENORS["30"], n_strikes: int = 1200):
    """Model VVIX and ATM VIX-option implied vol at ``tau`` for variance states ``v`` [n].

    VVIX is Cboe's model-free definition in the continuous-strike limit,
    ``VVIX^2 = (2 / tau) (ln F - E^Q[ln VIX_tau])``, from the VIX call curves of
    :func:`gpu_alvh.pricing.vix.vix_curves` (puts by parity):
    ``ln F - E ln X = int_0^F P(k)/k^2 dk + int_F^inf C(k)/k^2 dk``.  ATM: the Black-76 vol of the
    call struck at the futures price.  Returns ``(vvix [n], atm_iv [n])`` in points (x100).
    """
    be = get_backend("numpy")
    v = np.atleast_1d(np.asarray(v, dtype=float))
    cur = vix_curves(q, float(tau), v, backend=be)
    F = np.asarray(cur.futures)
    floor = math.sqrt(max(cur.b, 0.0))
    u = (np.arange(n_strikes) + 0.5) / n_strikes  # midpoint rule in a stretched strike variable
    k_put = floor + (F[:, None] - floor) * u[None, :]
    k_call = F[:, None] / (1.0 - u[None, :] * (1.0 - 1.0 / 40.0))  # F .. 40 F
    c_put = np.asarray(cur.call(k_put, be.xp))
    put = c_put - (F[:, None] - k_put)
    c_call = np.asarray(cur.call(k_call, be.xp))
    dk_put = (F - floor)[:, None] / n_strikes
    dk_call = np.gradient(k_call, axis=1)
    log_contract = (np.maximum(put, 0.0) / k_put**2 * dk_put).sum(1) + (np.maximum(c_call, 0.0) / k_call**2 * dk_call).sum(1)
    vvix = 100.0 * np.sqrt(np.maximum(2.0 * log_contract / tau, 0.0))
    c_atm = np.asarray(cur.call(F[:, None], be.xp))[:, 0] * math.exp(-rate * tau)
    atm = 100.0 * np.asarray(implied_vol(c_atm, F, F, tau, discount=math.exp(-rate * tau), backend=be))
    return vvix, atm
