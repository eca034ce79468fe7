"""COS pricer: published Heston values (SPEC section 12), Merton limit, SVCJ/Bates nesting, QuantLib."""

import math

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.stats import norm

from gpu_alvh.backend import get_backend
from gpu_alvh.models import SVCJ, Bates, Heston
from gpu_alvh.pricing.affine import log_price_ab, log_price_cumulants, variance_ab
from gpu_alvh.pricing.cos import CosSettings, cos_price
from tests.conftest import to_numpy

ql = pytest.importorskip("QuantLib")
NP = get_backend("numpy")


def heston(v0, kappa, theta, sigma, rho):
    return Heston(kappa=kappa, theta=theta, sigma=sigma, rho=rho), v0


# --------------------------------------------------------------------------- SPEC section 12
def test_fang_oosterlee_T1():
    m, v0 = heston(0.0175, 1.5768, 0.0398, 0.5751, -0.5711)
    p = float(cos_price(m, spot=100.0, strikes=100.0, expiries=1.0, v=v0, backend=NP))
    assert abs(p - 5.78515543) <= 2e-8  # the stated tolerance of the reference value


def test_fang_oosterlee_T10():
    m, v0 = heston(0.0175, 1.5768, 0.0398, 0.5751, -0.5711)
    p = float(cos_price(m, spot=100.0, strikes=100.0, expiries=10.0, v=v0, backend=NP))
    assert p == pytest.approx(22.318945791, rel=1e-7)


def test_lewis_values():
    m, v0 = heston(0.04, 4.0, 0.25, 1.0, -0.5)
    K = np.array([100.0, 120.0, 80.0])
    call = np.array([True, True, False])
    p = cos_price(m, spot=100.0, strikes=K, expiries=1.0, v=v0, rate=0.01, dividend_yield=0.02, is_call=call, backend=NP)
    np.testing.assert_allclose(p, [16.070154917028834, 9.024913483457836, 7.958878113256768], rtol=1e-7)


def test_broadie_kaya():
    """6.8061 is published to 4 decimals: match it to half a unit of the last digit, and QuantLib to 1e-7."""
    m, v0 = heston(0.010201, 6.21, 0.019, 0.61, -0.7)
    p = float(cos_price(m, spot=100.0, strikes=100.0, expiries=1.0, v=v0, rate=0.0319, backend=NP))
    assert abs(p - 6.8061) <= 5e-5
    assert p == pytest.approx(_ql_price(v0, 6.21, 0.019, 0.61, -0.7, 0.0319, 0.0, 1.0, 100.0, True), rel=1e-7)


def test_heavy_tailed_long_dated():
    """kappa = 0.5, sigma = 1, rho = -0.9, T = 10: the cumulant range still captures the tails."""
    m, v0 = heston(0.04, 0.5, 0.04, 1.0, -0.9)
    K = np.array([20.0, 50.0, 80.0, 100.0, 120.0, 150.0, 200.0, 300.0])
    ref = np.array([_ql_price(v0, 0.5, 0.04, 1.0, -0.9, 0.0, 0.0, 10.0, k, True) for k in K])
    p = cos_price(m, spot=100.0, strikes=K, expiries=10.0, v=v0, backend=NP)
    assert np.all((np.abs(p - ref) <= 1e-8) | (np.abs(p / ref - 1) <= 1e-6))


def test_put_call_parity():
    m = Bates(kappa=3.0, theta=0.03, sigma=0.6, rho=-0.7, jump_intensity=0.5, jump_mean=-0.1, jump_std=0.1)
    K = np.linspace(60, 160, 21)
    T = np.array([[0.02], [0.5], [2.0]])
    c = cos_price(m, spot=100.0, strikes=K, expiries=T, v=0.05, rate=0.03, dividend_yield=0.01, is_call=True, backend=NP)
    p = cos_price(m, spot=100.0, strikes=K, expiries=T, v=0.05, rate=0.03, dividend_yield=0.01, is_call=False, backend=NP)
    np.testing.assert_allclose(c - p, 100.0 * np.exp(-0.01 * T) - K * np.exp(-0.03 * T), atol=1e-10)
    # and the call side against an independent engine
    T1 = 182 / 365  # QuantLib expiries are whole days
    ref = _ql_price(0.05, 3.0, 0.03, 0.6, -0.7, 0.03, 0.01, T1, 130.0, True, bates=(0.5, -0.1, 0.1))
    assert float(cos_price(m, spot=100.0, strikes=130.0, expiries=T1, v=0.05, rate=0.03, dividend_yield=0.01, backend=NP)) == pytest.approx(ref, rel=1e-7)


# --------------------------------------------------------------------------- nesting / limits
def _merton(S, K, T, r, q, sig, lam, mu, delta, call=True, n_max=80):
    m = math.exp(mu + 0.5 * delta * delta) - 1.0
    lam_p = lam * (1.0 + m)
    total = 0.0
    for n in range(n_max):
        sn = math.sqrt(sig * sig + n * delta * delta / T)
        rn = r - lam * m + n * math.log(1.0 + m) / T
        w = math.exp(-lam_p * T + n * math.log(lam_p * T) - math.lgamma(n + 1))
        F = S * math.exp((rn - q) * T)
        d1 = (math.log(F / K) + 0.5 * sn * sn * T) / (sn * math.sqrt(T))
        d2 = d1 - sn * math.sqrt(T)
        c = math.exp(-rn * T) * (F * norm.cdf(d1) - K * norm.cdf(d2))
        if not call:
            c = c - math.exp(-rn * T) * (F - K)
        total += w * c
    return total


def test_bates_without_variance_noise_is_merton():
    theta = 0.04
    lam, mu, dl = 0.8, -0.12, 0.15
    K = np.array([70.0, 90.0, 100.0, 110.0, 140.0])
    errs = {}
    for sigma in (0.0, 1e-3, 1e-4):
        m = Bates(kappa=2.0, theta=theta, sigma=sigma, rho=-0.5, jump_intensity=lam, jump_mean=mu, jump_std=dl)
        err = 0.0
        for T in (0.1, 1.0):
            for call in (True, False):
                p = cos_price(m, spot=100.0, strikes=K, expiries=T, v=theta, rate=0.03, dividend_yield=0.01, is_call=call, backend=NP)
                ref = np.array([_merton(100.0, k, T, 0.03, 0.01, math.sqrt(theta), lam, mu, dl, call) for k in K])
                err = max(err, float(np.max(np.abs(p - ref))))
        errs[sigma] = err
    assert errs[0.0] < 1e-9  # the limit itself: the Merton (1976) series
    assert errs[1e-4] == pytest.approx(errs[1e-3] / 10.0, rel=0.05)  # approached linearly in sigma


def test_tiny_vol_of_vol_does_not_lose_precision():
    """The little-trap formula cancels near sigma ~ 1e-8; the pricer must not."""
    base = dict(kappa=2.0, theta=0.04, rho=-0.5, jump_intensity=0.8, jump_mean=-0.12, jump_std=0.15)
    K = np.array([70.0, 100.0, 140.0])
    p0 = cos_price(Bates(sigma=0.0, **base), spot=100.0, strikes=K, expiries=0.5, v=0.04, backend=NP)
    for s in (1e-9, 1e-8, 1e-7):
        p = cos_price(Bates(sigma=s, **base), spot=100.0, strikes=K, expiries=0.5, v=0.04, backend=NP)
        np.testing.assert_allclose(p, p0, rtol=0, atol=1e-6)


def test_svcj_without_variance_jumps_is_bates():
    base = dict(kappa=2.5, theta=0.03, sigma=0.5, rho=-0.7, jump_intensity=1.2, jump_mean=-0.08, jump_std=0.1)
    bates = Bates(**base)
    K = np.array([70.0, 95.0, 100.0, 105.0, 130.0])
    pb = cos_price(bates, spot=100.0, strikes=K, expiries=0.4, v=0.05, rate=0.02, backend=NP)
    ps = cos_price(SVCJ(**base, var_jump_mean=0.0, jump_corr=0.0), spot=100.0, strikes=K, expiries=0.4, v=0.05, rate=0.02, backend=NP)
    np.testing.assert_allclose(ps, pb, rtol=0, atol=1e-12)
    # the closed-form variance-jump path converges to Bates as mu_v -> 0 (linearly)
    diffs = []
    for mu_v in (1e-3, 1e-4):
        p = cos_price(SVCJ(**base, var_jump_mean=mu_v, jump_corr=-0.5), spot=100.0, strikes=K, expiries=0.4, v=0.05, rate=0.02, backend=NP)
        diffs.append(np.max(np.abs(p - pb)))
    assert diffs[1] == pytest.approx(diffs[0] / 10.0, rel=0.1)  # |P_svcj - P_bates| ~ C mu_v


def _random_svcj(rng):
    return SVCJ(kappa=rng.uniform(0.3, 8), theta=rng.uniform(0.005, 0.2), sigma=rng.uniform(0.05, 1.5), rho=rng.uniform(-0.95, 0.3),
                jump_intensity=rng.uniform(0.05, 5), jump_mean=rng.uniform(-0.3, 0.1), jump_std=rng.uniform(0.0, 0.3),
                var_jump_mean=rng.uniform(0.005, 0.3), jump_corr=rng.uniform(-1, 0.5))


def test_svcj_closed_form_jump_transforms_match_quadrature():
    """The models' closed-form SVCJ price-jump integral vs a fine graded Gauss-Legendre quadrature."""
    from gpu_alvh.models.base import graded_quadrature

    rng = np.random.default_rng(11)
    u = np.concatenate([[1e-6, 1e-3], np.exp(np.linspace(-3, math.log(2000), 40))])
    worst = 0.0
    for _ in range(40):
        m = _random_svcj(rng)
        T = float(np.exp(rng.uniform(math.log(1e-4), math.log(10))))
        s, w = graded_quadrature(T, n_panels=70, nodes_per_panel=16)
        _, Bs = m.heston_ab(u[:, None], s)
        inner = 1.0 / (1.0 - (Bs + 1j * u[:, None] * m.jump_corr) * m.var_jump_mean)
        ref = m.jump_intensity * (m.price_jump_cf(u) * (inner * w).sum(-1) - T)
        A_model = m.jump_a(u, T)
        worst = max(worst, float(np.max(np.abs(A_model - ref) / np.maximum(1.0, np.abs(ref)))))
        A1, B1 = log_price_ab(m, u, T)
        A2, B2 = m.log_price_ab(u, T)
        np.testing.assert_array_equal(B1, B2)
        np.testing.assert_array_equal(A1, A2)
    assert worst < 1e-10


def test_svcj_variance_jump_closed_form_matches_adaptive_quadrature():
    m = SVCJ(kappa=6.9, theta=0.089, sigma=0.055, rho=-0.68, jump_intensity=3.8, jump_mean=-0.24, jump_std=0.06,
             var_jump_mean=0.089, jump_corr=-0.086)
    T = 1.52
    k, s, mv = m.kappa, m.sigma, m.var_jump_mean
    for w in (0.5, 30.0, 1953.0):
        def f(x, part):
            E = math.exp(-k * x)
            c = s * s * (1 - E) / (2 * k)
            Bv = 1j * w * E / (1 - 1j * w * c)
            val = 1 / (1 - mv * Bv) - 1
            return val.real if part == 0 else val.imag
        ref = m.jump_intensity * complex(quad(f, 0, T, args=(0,), limit=500, epsabs=1e-14, epsrel=1e-13)[0],
                                         quad(f, 0, T, args=(1,), limit=500, epsabs=1e-14, epsrel=1e-13)[0])
        A, _ = variance_ab(m, np.array([w]), T)
        A0, _ = Heston(kappa=m.kappa, theta=m.theta, sigma=m.sigma, rho=m.rho).variance_ab(np.array([w]), T)
        assert abs((A - A0)[0] - ref) < 1e-12


def test_cumulants_match_moments():
    """c1, c2 of ln(S_T/F) against E[Y] = -E[int v]/2 - jump terms ... checked through the CF itself."""
    m = Bates(kappa=2.0, theta=0.04, sigma=0.7, rho=-0.7, jump_intensity=1.0, jump_mean=-0.1, jump_std=0.1)
    for T in (1 / (365 * 24), 0.01, 1.0):
        (c1a, c1b), (c2a, c2b), _ = log_price_cumulants(m, T)
        v = 0.03
        h = 1e-4 / math.sqrt(T)
        A, B = log_price_ab(m, np.array([h, -h]), T)
        psi = A + B * v
        mean = ((psi[0] - psi[1]) / (2j * h)).real
        var = -((psi[0] + psi[1]).real) / (h * h)
        assert c1a + c1b * v == pytest.approx(mean, rel=1e-5)
        assert c2a + c2b * v == pytest.approx(var, rel=1e-4)


# --------------------------------------------------------------------------- QuantLib, random parameters
def _ql_price(v0, k, th, s, r, rate, q, T, K, call, S=100.0, bates=None):
    today = ql.Date(2, 1, 2024)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    rts = ql.YieldTermStructureHandle(ql.FlatForward(today, rate, dc))
    qts = ql.YieldTermStructureHandle(ql.FlatForward(today, q, dc))
    spot = ql.QuoteHandle(ql.SimpleQuote(S))
    if bates is None:
        model = ql.HestonModel(ql.HestonProcess(rts, qts, spot, v0, k, th, s, r))
        engine = ql.AnalyticHestonEngine(model, 1e-13, 1000000)
    else:
        lam, nu, dl = bates
        model = ql.BatesModel(ql.BatesProcess(rts, qts, spot, v0, k, th, s, r, lam, nu, dl))
        engine = ql.BatesEngine(model, 1e-13, 1000000)
    opt = ql.VanillaOption(ql.PlainVanillaPayoff(ql.Option.Call if call else ql.Option.Put, K),
                           ql.EuropeanExercise(today + int(round(T * 365))))
    opt.setPricingEngine(engine)
    return opt.NPV()


def test_cos_matches_quantlib_on_random_parameters():
    """200 random Heston / Bates sets: within 1e-6 relative or 1e-8 absolute of QuantLib."""
    rng = np.random.default_rng(5)
    worst = 0.0
    for i in range(200):
        v0, k, th = rng.uniform(0.005, 0.3), rng.uniform(0.3, 6), rng.uniform(0.01, 0.2)
        s, r = rng.uniform(0.1, 1.2), rng.uniform(-0.95, 0.3)
        T = float(np.round(rng.uniform(0.02, 3) * 365) / 365)
        rate, q = rng.uniform(0, 0.06), rng.uniform(0, 0.03)
        K, call = rng.uniform(60, 150), bool(rng.integers(2))
        bates = None if i % 2 == 0 else (rng.uniform(0, 2), rng.uniform(-0.3, 0.1), rng.uniform(0.01, 0.3))
        if bates:
            m = Bates(kappa=k, theta=th, sigma=s, rho=r, jump_intensity=bates[0], jump_mean=bates[1], jump_std=bates[2])
        else:
            m = Heston(kappa=k, theta=th, sigma=s, rho=r)
        ref = _ql_price(v0, k, th, s, r, rate, q, T, K, call, bates=bates)
        p = float(cos_price(m, spot=100.0, strikes=K, expiries=T, v=v0, rate=rate, dividend_yield=q, is_call=call, backend=NP))
        err = abs(p - ref)
        worst = max(worst, min(err / 1e-8, err / max(abs(ref), 1e-300) / 1e-6))
    assert worst <= 1.0


def test_fixed_number_of_terms_is_respected():
    m, v0 = heston(0.04, 4.0, 0.25, 1.0, -0.5)
    ref = _ql_price(v0, 4.0, 0.25, 1.0, -0.5, 0.0, 0.0, 1.0, 100.0, True)
    few = float(cos_price(m, spot=100.0, strikes=100.0, expiries=1.0, v=v0, settings=CosSettings(n_terms=8), backend=NP))
    many = float(cos_price(m, spot=100.0, strikes=100.0, expiries=1.0, v=v0, settings=CosSettings(n_terms=1024), backend=NP))
    assert abs(few - ref) > 1e-3  # 8 terms are visibly not enough ...
    assert many == pytest.approx(ref, rel=1e-9)  # ... 1024 are


def test_backend_parity(backend):
    m = SVCJ(kappa=3.0, theta=0.02, sigma=0.5, rho=-0.7, jump_intensity=0.8, jump_mean=-0.05, jump_std=0.05,
             var_jump_mean=0.04, jump_corr=-0.5)
    xp = backend.xp
    K = xp.asarray(np.linspace(4000, 6000, 9))
    T = np.array([[1 / 365], [0.1], [0.4]])
    p = cos_price(m, spot=5000.0, strikes=K, expiries=T, v=0.03, rate=0.04, dividend_yield=0.01, is_call=K > 5000, backend=backend)
    ref = cos_price(m, spot=5000.0, strikes=to_numpy(K), expiries=T, v=0.03, rate=0.04, dividend_yield=0.01, is_call=to_numpy(K) > 5000, backend=NP)
    np.testing.assert_allclose(to_numpy(p), ref, rtol=1e-10, atol=1e-10)
