"""VIX futures and options: closed forms, exact-in-distribution Monte Carlo, limits, no-arbitrage, table."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from gpu_alvh.backend import get_backend
from gpu_alvh.models import SVCJ, Bates, Heston
from gpu_alvh.pricing.vix import VixTable, vix_curves, vix_prices
from tests.conftest import to_numpy, vix_spec_errors

NP = get_backend("numpy")
RATE = 0.04
HESTON = Heston(kappa=2.0, theta=0.04, sigma=0.7, rho=-0.7)  # Feller ratio 0.33: mass piles up near v = 0
BATES = Bates(kappa=3.0, theta=0.03, sigma=0.5, rho=-0.6, jump_intensity=0.8, jump_mean=-0.08, jump_std=0.08)
SVCJ_M = SVCJ(kappa=4.0, theta=0.02, sigma=0.4, rho=-0.6, jump_intensity=1.5, jump_mean=-0.05, jump_std=0.05,
              var_jump_mean=0.05, jump_corr=-0.5)
_TABLES = {}


def vix_table(model, key):
    if key not in _TABLES:
        _TABLES[key] = VixTable.build(model, rate=RATE, backend=NP)
    return _TABLES[key]


# --------------------------------------------------------------------------- references
def laplace_future(model, v, T):
    """E[VIX_T] = 100/(2 sqrt(pi)) int_0^inf (1 - E[e^{-s X}]) s^{-3/2} ds, X = a v_T + b.

    Uses the model's own variance transform (for SVCJ its quadrature), trapezoid in
    ln s, analytic head (two moments) and tail: an independent route to the futures.
    """
    a, b = model.vix2_coefficients()
    m1 = model.mean_variance(v, T)
    ex = a * m1 + b
    ex2 = a * a * (model.variance_of_variance(v, T) + m1 * m1) + 2 * a * b * m1 + b * b
    s0, s1 = 1e-9 / ex, 1e20
    y = np.arange(math.log(s0), math.log(s1), 0.05)
    s = np.exp(y)
    A, B = model.variance_ab(1j * s * a, T)
    lap = -np.expm1((A + B * v).real - s * b)
    f = lap * s ** -0.5  # ds = s dy
    body = 0.05 * (f.sum() - 0.5 * (f[0] + f[-1]))
    head = 2 * ex * math.sqrt(s0) - ex2 * s0 ** 1.5 / 3
    tail = 2 / math.sqrt(s[-1])
    return 100.0 / (2 * math.sqrt(math.pi)) * (head + body + tail)


def ncx2_call(model, v, T, K):
    """Heston/Bates: E[(VIX_T - K)^+] by adaptive quadrature against the non-central chi-square law."""
    a, b = model.vix2_coefficients()
    k, th, s = model.kappa, model.theta, model.sigma
    c = s * s * (1 - math.exp(-k * T)) / (4 * k)
    law = stats.ncx2(4 * k * th / s**2, v * math.exp(-k * T) / c, scale=c)
    y_k = max(((K / 100.0) ** 2 - b) / a, 0.0)
    top = law.ppf(1 - 1e-15)
    g = lambda x: (100.0 * math.sqrt(a * x + b) - K) * law.pdf(x)  # noqa: E731
    pts = [p for p in (law.ppf(0.1), law.median(), law.ppf(0.9)) if y_k < p < top]
    return integrate.quad(g, y_k, top, points=pts or None, limit=500, epsabs=1e-13, epsrel=1e-11)[0]


def sample_vT(model, v0, T, n, rng):
    """Exact draws of v_T: CIR transitions (non-central chi-square) between the jump times of a
    compound Poisson process of Exp(mu_v) variance jumps (SVCJ; none for Heston/Bates)."""
    k, th, s = model.kappa, model.theta, model.sigma
    df = 4 * k * th / s**2

    def cir(v, dt):
        c = s * s * (-np.expm1(-k * dt)) / (4 * k)
        out = v.copy()
        pos = dt > 0
        out[pos] = c[pos] * rng.noncentral_chisquare(df, v[pos] * np.exp(-k * dt[pos]) / c[pos])
        return out

    v = np.full(n, float(v0))
    lam = model.jump_intensity if isinstance(model, SVCJ) else 0.0
    if lam == 0.0:
        return cir(v, np.full(n, T))
    nj = rng.poisson(lam * T, n)
    jmax = int(nj.max())
    times = rng.uniform(0, T, (n, jmax))
    times[np.arange(jmax)[None, :] >= nj[:, None]] = np.inf  # only the first nj draws are jumps
    times = np.sort(times, axis=1)
    t = np.zeros(n)
    for j in range(jmax):
        active = j < nj
        dt = np.where(active, times[:, j] - t, 0.0)
        v = cir(v, dt)
        v = v + np.where(active, rng.exponential(model.var_jump_mean, n), 0.0)
        t = np.where(active, times[:, j], t)
    return cir(v, T - t)


# --------------------------------------------------------------------------- SPEC section 12 and limits
def test_spec_vix_coefficients_and_expiry_limit():
    m = Heston(kappa=2.0, theta=0.04, sigma=0.5, rho=-0.7)
    a, b = m.vix2_coefficients()
    assert a == pytest.approx(0.9221327, abs=5e-8)
    assert b == pytest.approx(0.0031147, abs=5e-8)
    v = 0.0325
    spot_vix = 100.0 * math.sqrt(a * v + b)
    q = vix_prices(m, v, expiries=[0.0, 1e-6, 1e-5, 1e-4, 1e-3], backend=NP)
    assert q.futures[0] == pytest.approx(spot_vix, rel=1e-14)
    gaps = np.abs(q.futures[1:] - spot_vix)
    assert np.all(np.diff(gaps) > 0) and gaps[0] < 1e-4  # F(T) -> model VIX as T -> 0
    tab = vix_table(HESTON, "heston")
    vs = np.array([0.0, 0.001, 0.04, 0.5])
    np.testing.assert_allclose(tab.future(vs, 0.0), HESTON.vix_from_variance(vs), rtol=1e-13)


@pytest.mark.parametrize("model", [HESTON, BATES, SVCJ_M], ids=["heston", "bates", "svcj"])
def test_futures_match_laplace_transform(model):
    for v in (0.0, 0.004, 0.03, 0.3):
        for days in (1.0, 10.0, 45.0, 120.0):
            T = days / 365
            F = float(vix_prices(model, v, expiries=[T], backend=NP).futures[0])
            assert F == pytest.approx(laplace_future(model, v, T), rel=1e-6)


def test_heston_calls_match_noncentral_chi_square():
    K = np.array([8.0, 12.0, 16.0, 20.0, 25.0, 30.0, 40.0, 60.0])
    worst = 0.0
    for v in (0.005, 0.04, 0.2):
        for days in (3.0, 30.0, 120.0):
            T = days / 365
            c = to_numpy(vix_curves(HESTON, T, np.array([v]), backend=NP).call(K[None, :] / 100.0, np))[0] * 100.0
            ref = np.array([ncx2_call(HESTON, v, T, k) for k in K])
            worst = max(worst, float(np.max(np.abs(c - ref) / np.maximum(1e-6, 1e-5 * ref))))
    assert worst <= 1.0


@pytest.mark.parametrize("model,v0,days", [(HESTON, 0.04, 30.0), (SVCJ_M, 0.02, 60.0), (SVCJ_M, 0.1, 10.0)],
                         ids=["heston", "svcj-calm", "svcj-stressed"])
def test_futures_and_calls_match_exact_monte_carlo(model, v0, days):
    """Exact-in-distribution v_T draws; means within 4 standard errors."""
    T = days / 365
    rng = np.random.default_rng(2024)
    vT = sample_vT(model, v0, T, 200_000, rng)
    a, b = model.vix2_coefficients()
    vix = 100.0 * np.sqrt(a * vT + b)
    q = vix_prices(model, v0, expiries=[T], strikes=[float(np.quantile(vix, 0.5)), float(np.quantile(vix, 0.9))], rate=RATE, backend=NP)
    se = vix.std(ddof=1) / math.sqrt(vix.size)
    assert abs(q.futures[0] - vix.mean()) <= 4 * se
    for j, K in enumerate(q.strikes):
        pay = np.exp(-RATE * T) * np.maximum(vix - K, 0.0)
        assert abs(q.calls[0, j] - pay.mean()) <= 4 * pay.std(ddof=1) / math.sqrt(pay.size)


@pytest.mark.parametrize("model", [HESTON, SVCJ_M], ids=["heston", "svcj"])
def test_direct_calls_decreasing_and_convex_in_strike(model):
    K = np.linspace(5.0, 80.0, 751)
    for v in (0.002, 0.03, 0.4):
        q = vix_prices(model, v, expiries=[3 / 365, 30 / 365, 120 / 365], strikes=K, rate=RATE, backend=NP)
        d1 = np.diff(q.calls, axis=1)
        d2 = np.diff(q.calls, 2, axis=1)
        disc = np.exp(-RATE * q.expiries)[:, None]
        noise = 1e-7  # index points: rounding level of the far tails
        assert np.all(d1 <= noise) and np.all(d1 >= -disc * 0.1 - noise)
        assert np.all(d2 >= -noise)
        np.testing.assert_allclose(q.calls - q.puts, disc * (q.futures[:, None] - K[None, :]), atol=1e-9)


# --------------------------------------------------------------------------- table
@pytest.mark.parametrize("model,key", [(HESTON, "heston"), (SVCJ_M, "svcj")])
def test_table_matches_direct(model, key):
    """Table vs direct prices: futures to 1e-4 relative, options within SPEC section 5's max(0.02 points,
    0.5% of price) over its region (|delta| >= 0.01, expiries 0.1-120 days)."""
    tab = vix_table(model, key)
    rng = np.random.default_rng(3)
    worst_f, worst_o, n = 0.0, 0.0, 0
    for _ in range(60):
        v = float(np.exp(rng.uniform(math.log(1e-3), math.log(1.5))))
        T = float(rng.uniform(0.1, 120.0)) / 365
        F = float(vix_prices(model, v, expiries=[T], backend=NP).futures[0])
        K = np.maximum(F * np.exp(rng.uniform(-0.5, 1.2, 10)), 1.0)
        q = vix_prices(model, v, expiries=[T], strikes=K, rate=RATE, backend=NP)
        worst_f = max(worst_f, abs(float(tab.future(v, T)) - F) / F)
        for is_call, ref in ((True, q.calls[0]), (False, q.puts[0])):
            err = vix_spec_errors(tab.option(v, T, K, is_call), ref, F, K, T, is_call, RATE)
            n += err.size
            worst_o = max(worst_o, float(err.max(initial=0.0)))
    print(f"\n{key}: futures {worst_f:.2e} relative, options {worst_o:.3f} of the tolerance ({n} points)")
    assert n >= 600
    assert worst_f < 1e-4
    assert worst_o <= 1.0


@settings(max_examples=300, deadline=None)
@given(
    lv=st.floats(math.log(1e-4), math.log(2.0)),
    days=st.floats(0.0, 140.0),
    k1=st.floats(3.0, 120.0),
    width=st.floats(1e-3, 20.0),
    model=st.sampled_from(["heston", "svcj"]),
)
def test_table_spreads_and_butterflies_are_arbitrage_free(lv, days, k1, width, model):
    tab = vix_table(HESTON if model == "heston" else SVCJ_M, model)
    v, T = math.exp(lv), days / 365
    K = np.array([k1, k1 + width, k1 + 2 * width])
    c = tab.option(v, T, K, True)
    p = tab.option(v, T, K, False)
    D = math.exp(-RATE * T)
    eps = 1e-12 * (1.0 + c[0])
    spread = c[0] - c[1]
    assert -eps <= spread <= D * width + eps
    assert c[0] - 2 * c[1] + c[2] >= -eps
    assert -eps <= p[1] - p[0] <= D * width + eps
    assert np.all(c >= 0) and np.all(p >= 0)


def test_option_greeks_dv_matches_direct_finite_difference():
    tab = vix_table(SVCJ_M, "svcj")
    for v, days, K in ((0.02, 30.0, 18.0), (0.05, 60.0, 25.0), (0.2, 10.0, 45.0), (0.5, 90.0, 40.0)):
        T = days / 365
        h = 1e-3 * v
        up = vix_prices(SVCJ_M, v + h, expiries=[T], strikes=[K], rate=RATE, backend=NP)
        dn = vix_prices(SVCJ_M, v - h, expiries=[T], strikes=[K], rate=RATE, backend=NP)
        for is_call, ref in ((True, (up.calls - dn.calls)[0, 0] / (2 * h)), (False, (up.puts - dn.puts)[0, 0] / (2 * h))):
            price, dv = tab.option_greeks(v, T, K, is_call)
            assert float(price) == pytest.approx(float(tab.option(v, T, K, is_call)), rel=1e-12)
            assert float(dv) == pytest.approx(ref, rel=0.05)


def test_table_iv_is_reported():
    tab = vix_table(SVCJ_M, "svcj")
    iv = tab.implied_vol(0.03, 45 / 365, np.array([15.0, 20.0, 30.0]))
    assert np.all(np.isfinite(iv)) and np.all((iv > 0.1) & (iv < 5.0))


def test_backend_parity(backend):
    xp = backend.xp
    tab_np = vix_table(SVCJ_M, "svcj")
    tab = tab_np if backend.name == "numpy" else VixTable.build(SVCJ_M, rate=RATE, backend=backend)
    np.testing.assert_allclose(to_numpy(tab.cn), to_numpy(tab_np.cn), rtol=1e-8, atol=1e-10)
    rng = np.random.default_rng(5)
    v = rng.uniform(0.0, 1.0, 500)
    T = rng.uniform(0.0, 0.4, 500)
    K = rng.uniform(5.0, 80.0, 500)
    call = rng.integers(0, 2, 500).astype(bool)
    np.testing.assert_allclose(to_numpy(tab.future(xp.asarray(v), xp.asarray(T))), tab_np.future(v, T), rtol=1e-10)
    np.testing.assert_allclose(to_numpy(tab.option(xp.asarray(v), xp.asarray(T), xp.asarray(K), xp.asarray(call))),
                               tab_np.option(v, T, K, call), rtol=1e-9, atol=1e-10)
    q = vix_prices(SVCJ_M, 0.03, expiries=[0.1], strikes=xp.asarray([15.0, 25.0]), rate=RATE, backend=backend)
    q_np = vix_prices(SVCJ_M, 0.03, expiries=[0.1], strikes=[15.0, 25.0], rate=RATE, backend=NP)
    np.testing.assert_allclose(to_numpy(q.calls), q_np.calls, rtol=1e-10)
