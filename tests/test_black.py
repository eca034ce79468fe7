"""Black-Scholes / Black-76 prices, greeks and implied vols (against QuantLib and calculus)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_alvh.backend import get_backend
from gpu_alvh.pricing.black import (
    black76,
    black_scholes,
    implied_vol,
    normalized_black,
    normalized_implied_total_vol,
)
from tests.conftest import to_numpy

ql = pytest.importorskip("QuantLib")
NP = get_backend("numpy")


def _ql_bs(S, K, T, vol, r, q, call):
    """QuantLib analytic European engine: price, delta, gamma, vega, theta (per year)."""
    today = ql.Date(2, 1, 2024)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    proc = ql.BlackScholesMertonProcess(
        ql.QuoteHandle(ql.SimpleQuote(S)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, q, dc)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, r, dc)),
        ql.BlackVolTermStructureHandle(ql.BlackConstantVol(today, ql.NullCalendar(), vol, dc)),
    )
    opt = ql.VanillaOption(ql.PlainVanillaPayoff(ql.Option.Call if call else ql.Option.Put, K),
                           ql.EuropeanExercise(today + int(round(T * 365))))
    opt.setPricingEngine(ql.AnalyticEuropeanEngine(proc))
    return opt.NPV(), opt.delta(), opt.gamma(), opt.vega(), opt.theta()


CASES = [
    (5000.0, 5000.0, 30, 0.18, 0.04, 0.013, True),
    (5000.0, 4500.0, 7, 0.25, 0.04, 0.013, False),
    (5000.0, 5600.0, 120, 0.15, 0.05, 0.0, True),
    (100.0, 80.0, 365, 0.40, 0.01, 0.02, False),
    (100.0, 130.0, 3, 0.60, 0.0, 0.0, True),
]


@pytest.mark.parametrize("case", CASES)
def test_black_scholes_matches_quantlib(case):
    S, K, days, vol, r, q, call = case
    T = days / 365.0
    ref = _ql_bs(S, K, T, vol, r, q, call)
    g = black_scholes(S, K, T, vol, rate=r, dividend_yield=q, is_call=call, backend=NP)
    for ours, theirs in zip(g, ref):
        assert float(ours) == pytest.approx(theirs, rel=1e-9, abs=1e-10)


def test_greeks_are_derivatives_of_price():
    S, K, T, vol, r, q = 5000.0, 4800.0, 40 / 365, 0.22, 0.04, 0.013
    for call in (True, False):
        f = lambda s=S, t=T, sig=vol: float(black_scholes(s, K, t, sig, rate=r, dividend_yield=q, is_call=call, backend=NP).price)  # noqa: E731
        g = black_scholes(S, K, T, vol, rate=r, dividend_yield=q, is_call=call, backend=NP)
        hs, ht, hv = 0.5, 1e-5, 1e-5
        assert float(g.delta) == pytest.approx((f(s=S + hs) - f(s=S - hs)) / (2 * hs), rel=1e-6)  # O(h^2) FD error
        assert float(g.gamma) == pytest.approx((f(s=S + hs) - 2 * f() + f(s=S - hs)) / hs**2, rel=1e-4)
        assert float(g.vega) == pytest.approx((f(sig=vol + hv) - f(sig=vol - hv)) / (2 * hv), rel=1e-7)
        assert float(g.theta) == pytest.approx(-(f(t=T + ht) - f(t=T - ht)) / (2 * ht), rel=1e-6)


def test_put_call_parity_black_scholes():
    S, r, q, T = 5000.0, 0.04, 0.013, 0.3
    K = np.linspace(3000, 7000, 41)
    c = black_scholes(S, K, T, 0.2, rate=r, dividend_yield=q, is_call=True, backend=NP)
    p = black_scholes(S, K, T, 0.2, rate=r, dividend_yield=q, is_call=False, backend=NP)
    np.testing.assert_allclose(c.price - p.price, S * math.exp(-q * T) - K * math.exp(-r * T), rtol=0, atol=1e-9)
    np.testing.assert_allclose(c.delta - p.delta, math.exp(-q * T), rtol=0, atol=1e-14)


def test_expiry_limit_has_no_nan():
    S = np.array([4990.0, 5000.0, 5010.0])
    g = black_scholes(S, 5000.0, 0.0, 0.2, rate=0.04, dividend_yield=0.01, is_call=True, backend=NP)
    for a in g:
        assert np.all(np.isfinite(a))
    np.testing.assert_array_equal(g.price, [0.0, 0.0, 10.0])
    np.testing.assert_array_equal(g.delta, [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(g.gamma, 0.0)
    gp = black_scholes(S, 5000.0, 0.0, 0.2, is_call=False, backend=NP)
    np.testing.assert_array_equal(gp.price, [10.0, 0.0, 0.0])
    np.testing.assert_array_equal(gp.delta, [-1.0, -0.5, 0.0])
    # zero vol with time left: discounted forward intrinsic value
    z = black_scholes(5000.0, 4000.0, 0.5, 0.0, rate=0.04, backend=NP)
    assert float(z.price) == pytest.approx(5000.0 - 4000.0 * math.exp(-0.02), rel=1e-14)


def test_black76_matches_quantlib_formula():
    for F, K, T, vol, D, call in [(20.0, 25.0, 30 / 365, 1.1, 0.997, True), (18.0, 15.0, 0.2, 0.8, 0.99, False)]:
        ref = ql.blackFormula(ql.Option.Call if call else ql.Option.Put, K, F, vol * math.sqrt(T), D)
        g = black76(F, K, T, vol, discount=D, is_call=call, backend=NP)
        assert float(g.price) == pytest.approx(ref, rel=1e-12)
        h = 1e-4
        up = float(black76(F + h, K, T, vol, discount=D, is_call=call, backend=NP).price)
        dn = float(black76(F - h, K, T, vol, discount=D, is_call=call, backend=NP).price)
        assert float(g.delta) == pytest.approx((up - dn) / (2 * h), rel=1e-7)


def test_implied_vol_round_trip_extremes():
    """Deep OTM (1e-250 of the forward) and minutes-to-expiry prices invert to their vol."""
    rng = np.random.default_rng(7)
    n = 20000
    x = -np.abs(rng.uniform(-1, 1, n)) ** 2 * 10.0
    s = np.exp(rng.uniform(math.log(1e-4), math.log(5.0), n))
    b = normalized_black(x, s, backend=NP)
    ok = (b > 1e-250) & (b < np.exp(x / 2) * (1 - 1e-9))
    s2 = normalized_implied_total_vol(x[ok], b[ok], backend=NP)
    b2 = normalized_black(x[ok], s2, backend=NP)
    assert np.max(np.abs(b2 / b[ok] - 1.0)) < 1e-9
    # where the price is well conditioned in the vol, the vol itself comes back
    cond = (np.abs(x[ok]) / s[ok] < 30) & (s[ok] < 2)
    assert np.max(np.abs(s2[cond] / s[ok][cond] - 1.0)) < 1e-8


def test_implied_vol_short_dated_and_deep_otm_spx():
    S, r, q = 5000.0, 0.04, 0.013
    T = np.array([1 / (365 * 24 * 4), 1 / (365 * 24), 1 / 365, 7 / 365, 120 / 365])  # 15 min ... 120 d
    K = np.array([5005.0, 4900.0, 4000.0, 6500.0, 2500.0])
    vol = np.array([0.12, 0.30, 0.9, 0.25, 0.6])
    F = S * np.exp((r - q) * T)
    otm_call = K > F  # an ITM price carries its time value only to ~1e-16 of the price
    p = black_scholes(S, K, T, vol, rate=r, dividend_yield=q, is_call=otm_call, backend=NP).price
    assert p[1] < 1e-9  # 6 sd out of the money, one hour to expiry
    iv = implied_vol(p, F, K, T, discount=np.exp(-r * T), is_call=otm_call, backend=NP)
    np.testing.assert_allclose(iv, vol, rtol=1e-9)


def test_implied_vol_against_quantlib():
    for F, K, sd, D in [(100.0, 100.0, 0.2, 0.99), (100.0, 60.0, 0.35, 1.0), (100.0, 160.0, 0.5, 0.95), (20.0, 35.0, 0.4, 0.999)]:
        for call in (True, False):
            typ = ql.Option.Call if call else ql.Option.Put
            price = ql.blackFormula(typ, K, F, sd, D)
            ref = ql.blackFormulaImpliedStdDev(typ, K, F, price, D, 0.0, 0.3, 1e-14, 200)
            ours = float(implied_vol(price, F, K, 1.0, discount=D, is_call=call, backend=NP))
            assert ours == pytest.approx(ref, rel=1e-8)
            assert ours == pytest.approx(sd, rel=1e-8)


def test_implied_vol_bounds():
    F, K, T = 100.0, 110.0, 0.5
    iv = implied_vol(np.array([0.0, -1e-3, 200.0, np.nan]), F, K, T, is_call=True, backend=NP)
    assert iv[0] == 0.0 and iv[1] == 0.0
    assert np.isnan(iv[2]) and np.isnan(iv[3])
    assert np.isnan(implied_vol(1.0, F, K, 0.0, backend=NP))


@settings(max_examples=200, deadline=None)
@given(
    logm=st.floats(-1.5, 1.5),
    vol=st.floats(0.03, 2.0),
    days=st.floats(0.01, 400.0),
    call=st.booleans(),
)
def test_implied_vol_inverts_black_scholes(logm, vol, days, call):
    T = days / 365.0
    S, r, q = 5000.0, 0.03, 0.01
    F = S * math.exp((r - q) * T)
    K = F * math.exp(logm)
    p = float(black_scholes(S, K, T, vol, rate=r, dividend_yield=q, is_call=call, backend=NP).price)
    otm = p - max(0.0, (F - K) if call else (K - F)) * math.exp(-r * T)
    if otm < 1e-10 * K:  # below what double precision can resolve
        return
    iv = float(implied_vol(p, F, K, T, discount=math.exp(-r * T), is_call=call, backend=NP))
    assert iv == pytest.approx(vol, rel=1e-6)


def test_backend_parity(backend):
    xp = backend.xp
    S = xp.asarray(np.linspace(4000, 6000, 201))
    T = xp.asarray(np.linspace(0.0, 0.5, 201))
    g = black_scholes(S, 5000.0, T, 0.2, rate=0.04, dividend_yield=0.01, is_call=S > 5000, backend=backend)
    ref = black_scholes(to_numpy(S), 5000.0, to_numpy(T), 0.2, rate=0.04, dividend_yield=0.01, is_call=to_numpy(S) > 5000, backend=NP)
    for a, b in zip(g, ref):
        np.testing.assert_allclose(to_numpy(a), b, rtol=1e-12, atol=1e-12)
    F = S * xp.exp(0.03 * T)
    sel = slice(100, None)  # expiries >= 0.25 y: every price well above rounding
    iv = implied_vol(g.price[sel], F[sel], 5000.0, T[sel], discount=xp.exp(-0.04 * T[sel]), is_call=S[sel] > 5000, backend=backend)
    np.testing.assert_allclose(to_numpy(iv), 0.2, rtol=1e-7)
