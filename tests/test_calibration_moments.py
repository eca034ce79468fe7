"""Semi-closed-form model statistics (gpu_alvh.calibration.moments) against the simulator and exact laws."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special, stats as sps

from gpu_alvh.backend import get_backend
from gpu_alvh.calibration.check import simulate_market
from gpu_alvh.calibration.moments import CLOSED_FORM, DT, model_statistics, qe_step_law, stationary_law, vvix_curve
from gpu_alvh.models import SVCJ, Heston
from gpu_alvh.pricing.black import black76
from gpu_alvh.schemes import QEScheme

Z = 4.0
#: an SVCJ pair of the calibrated shape (P paths, Q pricing), written out here so the test does not
#: depend on the library files
P = dict(kappa=4.2, theta=0.0085, sigma=0.6, rho=-0.95, jump_intensity=6.0, jump_mean=-0.001, jump_std=0.012,
         var_jump_mean=0.013, jump_corr=-0.9)
Q = {**P, "kappa": 1.1, "theta": 0.034, "sigma": 0.43, "jump_intensity": 2.3, "jump_mean": -0.028, "var_jump_mean": 0.032}
DRIFT = 0.1


def test_step_law_is_the_law_of_the_qe_step():
    m = SVCJ(**P)
    v = np.array([1e-6, 2e-4, 0.003, 0.02, 0.3])
    law = qe_step_law(m, v, mu_dt=0.0004)
    assert law.quad.tolist() == [False, False, True, True, True]  # both branches are exercised
    z = np.random.default_rng(0).standard_normal((200_000, 1))
    c = QEScheme.coefficients(m.kappa, m.theta, m.sigma, m.rho, DT)
    vv = np.broadcast_to(v, (z.shape[0], v.size))
    zz = np.broadcast_to(z, vv.shape)
    x0, v1 = QEScheme.step(np.zeros_like(vv), vv, zz, np.zeros_like(vv), c, 0.0004, DT, np, special)
    x1, _ = QEScheme.step(np.zeros_like(vv), vv, zz, np.ones_like(vv), c, 0.0004, DT, np, special)
    # log-price step given (v, v'): mean shift + K2 v', standard deviation sqrt(K3 (v + v'))
    np.testing.assert_allclose(x0, law.shift + law.k2 * v1, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(x1 - x0, np.sqrt(law.k3 * (v + v1)), rtol=1e-12)
    # CDF of v' against the scheme's draws: DKW bound, P(sup|F_n - F| > eps) <= 2 exp(-2 n eps^2) ~ 1e-7
    eps = math.sqrt(math.log(2 / 1e-7) / (2 * z.shape[0]))
    for j in range(v.size):
        xs = np.sort(v1[:, j])
        Fj = qe_step_law(m, v[j : j + 1], 0.0).cdf(xs[None, :])[0]
        emp = np.searchsorted(xs, xs, side="right") / xs.size  # ties: the atom at v' = 0
        assert np.max(np.abs(emp - Fj)) < eps, j


def test_stationary_mean_is_the_discrete_scheme_mean():
    m = SVCJ(**P)
    st = stationary_law(m, n_cells=400)
    # one step: E[v'] = v E + theta (1 - E) + lambda dt mu_v  =>  mean = theta + lambda dt mu_v / (1 - E)
    E = math.exp(-m.kappa * DT)
    lam = m.jump_intensity * DT
    pr = np.array([1, lam, lam * lam / 2]) * math.exp(-lam)
    pr /= pr.sum()
    mean = m.theta + (pr[1] + 2 * pr[2]) * m.var_jump_mean / (1 - E)
    assert st.pi @ st.centres == pytest.approx(mean, rel=2e-3)  # cell discretisation, O(h^2)
    assert st.pi.sum() == pytest.approx(1.0) and (st.pi >= 0).all()


def test_coarse_chains_converge_to_the_fine_one():
    p, q = SVCJ(**P), SVCJ(**Q)
    fine = model_statistics(p, q, DRIFT, n_cells=800, nodes=40)
    for (n, k), tol in (((120, 12), 0.035), ((200, 16), 0.015), ((400, 32), 0.004)):
        m = model_statistics(p, q, DRIFT, n_cells=n, nodes=k)
        worst = max(abs(m[key] - fine[key]) / abs(fine[key]) for key in CLOSED_FORM)
        assert worst < tol, (n, k, worst)


def test_heston_vix_quantiles_match_the_gamma_stationary_law():
    h = Heston(kappa=3.0, theta=0.03, sigma=0.35, rho=-0.7)
    out = model_statistics(h, h, 0.05, n_cells=600)
    alpha, scale = 2 * h.kappa * h.theta / h.sigma**2, h.sigma**2 / (2 * h.kappa)
    for name, p in (("p5", 0.05), ("p50", 0.5), ("p95", 0.95)):
        v = sps.gamma.ppf(p, alpha, scale=scale)
        # continuous-time law vs the daily QE chain: differences O(dt) + O(h^2), below 0.5%
        assert out[f"vix_{name}"] == pytest.approx(float(h.vix_from_variance(v)), rel=5e-3)
    # no jumps, P = Q: the 30-day premium is only the mean-reversion term (1 - a)(theta - E v) = 0 up to O(dt)
    assert abs(out["vrp_var_30"]) < 2.0
    assert out["spx_vol"] == pytest.approx(100 * math.sqrt(h.theta), rel=3e-3)


@pytest.fixture(scope="module")
def simulated():
    scen = {"name": "calib-test", "model": "svcj", "params": P, "pricing": {k: Q[k] for k in ("kappa", "theta", "sigma", "jump_intensity", "jump_mean", "var_jump_mean")},
            "drift": DRIFT, "spot": 5000.0, "vix": 17.0, "rate": 0.03, "dividend_yield": 0.01, "start": "2026-07-31", "horizon": 20, "seed": 11}
    return simulate_market(scen, n_paths=400, years=3, backend="numpy")


@pytest.fixture(scope="module")
def closed_form():
    return model_statistics(SVCJ(**P), SVCJ(**Q), DRIFT)


@pytest.mark.parametrize("key", CLOSED_FORM)
def test_closed_form_statistics_match_the_simulator(simulated, closed_form, key):
    cf = closed_form
    sv = simulated[key]
    assert abs(cf[key] - sv.value) <= Z * sv.se, (key, cf[key], sv.value, sv.se)


def test_vvix_and_atm_vol_match_exact_monte_carlo_of_vix():
    q = Heston(kappa=2.0, theta=0.04, sigma=0.6, rho=-0.7)
    tau = 30 / 365
    v0 = np.array([0.015, 0.04, 0.12])
    vvix, atm = vvix_curve(q, v0)
    rng = np.random.default_rng(3)
    a, b = q.vix2_coefficients()
    c = q.sigma**2 * (1 - math.exp(-q.kappa * tau)) / (4 * q.kappa)
    df = 4 * q.kappa * q.theta / q.sigma**2
    be = get_backend("numpy")
    for i, v in enumerate(v0):
        vT = c * rng.noncentral_chisquare(df, v * math.exp(-q.kappa * tau) / c, size=(40, 50_000))
        X = np.sqrt(a * vT + b)  # VIX_T / 100, exact law of the CIR transition
        # VVIX^2 tau / 2 = ln E[X] - E[ln X], by batch means
        batches = np.log(X.mean(axis=1)) - np.log(X).mean(axis=1)
        target = 2 / tau * batches.mean()
        se = 2 / tau * batches.std(ddof=1) / math.sqrt(batches.size)
        assert abs((vvix[i] / 100) ** 2 - target) <= Z * se + 1e-4 * target, i  # + strike-grid quadrature
        F = X.mean()
        pay = np.maximum(X - F, 0.0).mean(axis=1)
        model = float(black76(F, F, tau, atm[i] / 100, backend=be).price)
        assert abs(model - pay.mean()) <= Z * pay.std(ddof=1) / math.sqrt(pay.size) + 1e-4 * model, i
