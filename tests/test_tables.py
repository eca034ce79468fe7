"""SPX implied-vol table: accuracy against direct COS, delta -> strike inversion, limits, backends."""

import math

import numpy as np
import pytest
from scipy.optimize import brentq

from gpu_alvh.backend import get_backend
from gpu_alvh.models import SVCJ, Bates, Heston
from gpu_alvh.pricing.black import black_scholes, implied_vol
from gpu_alvh.pricing.cos import cos_price
from gpu_alvh.pricing.tables import SpxTable
from tests.conftest import to_numpy

NP = get_backend("numpy")
S, R, Q = 5000.0, 0.04, 0.013

MODELS = {
    # calibration-like parameter sets; all three violate the Feller condition
    "svcj": SVCJ(kappa=4.0, theta=0.02, sigma=0.4, rho=-0.6, jump_intensity=1.0, jump_mean=-0.05, jump_std=0.05,
                 var_jump_mean=0.05, jump_corr=-0.5),
    "heston": Heston(kappa=2.0, theta=0.04, sigma=0.7, rho=-0.7),
    "bates": Bates(kappa=3.0, theta=0.03, sigma=0.5, rho=-0.6, jump_intensity=0.8, jump_mean=-0.08, jump_std=0.08),
}
_TABLES = {}


def table(name, dtype="float64"):
    key = (name, dtype)
    if key not in _TABLES:
        _TABLES[key] = SpxTable.build(MODELS[name], rate=R, dividend_yield=Q, backend=NP, dtype=dtype)
    return _TABLES[key]


def _region_points(model, rng, n_pairs, per_pair):
    """Random (v, tau, K, kind) in the strategy's region with direct COS prices and deltas.

    v log-uniform in [1e-4, 2.25] (VIX ~ 6 to 150), tau uniform in [1 hour, 120 days],
    strikes spread over +-7 sd, calls and puts; kept where |delta| >= 0.01.
    """
    out = []
    for _ in range(n_pairs):
        v = float(np.exp(rng.uniform(math.log(1e-4), math.log(2.25))))
        tau = float(rng.uniform(1.0 / 24.0, 120.0)) / 365.0
        F = S * math.exp((R - Q) * tau)
        sd = math.sqrt(max(v, 0.01) * tau)
        K = F * np.exp(rng.uniform(-5.0, 3.5, per_pair) * 1.5 * sd)
        call = rng.integers(0, 2, per_pair).astype(bool)
        ref = cos_price(model, spot=S, strikes=K, expiries=tau, v=v, rate=R, dividend_yield=Q, is_call=call, backend=NP)
        iv = implied_vol(ref, F, K, tau, discount=math.exp(-R * tau), is_call=call, backend=NP)
        delta = black_scholes(S, K, tau, iv, rate=R, dividend_yield=Q, is_call=call, backend=NP).delta
        keep = np.abs(delta) >= 0.01
        out.append((np.full(keep.sum(), v), np.full(keep.sum(), tau), K[keep], call[keep], ref[keep]))
    return [np.concatenate(x) for x in zip(*out)]


@pytest.mark.parametrize("name,n_pairs", [("svcj", 560), ("heston", 190), ("bates", 190)])
def test_table_matches_direct_cos(name, n_pairs):
    """Table prices within max(0.02 index points, 0.5% of price) of direct COS (SPEC section 5).

    10,000+ points for SVCJ (the library's model), 3,000+ each for Heston and Bates.
    """
    rng = np.random.default_rng({"svcj": 1, "heston": 2, "bates": 3}[name])
    v, tau, K, call, ref = _region_points(MODELS[name], rng, n_pairs, 25)
    assert v.size >= (10_000 if name == "svcj" else 3_000)
    tab = table(name)
    p = tab.price(S, K, v, tau, call)
    tol = np.maximum(0.02, 0.005 * ref)
    ratio = np.abs(p - ref) / tol
    assert np.all(np.isfinite(p))
    print(f"{name}: {v.size} points, worst error {ratio.max():.3f} of the tolerance")
    assert ratio.max() <= 1.0, f"worst point at {ratio.argmax()}: {ratio.max():.3f} of tolerance"


def _exact_strike(model, v, tau, target, call):
    """Strike where the Black-Scholes delta at the direct-COS implied vol equals +-target."""
    F = S * math.exp((R - Q) * tau)

    def f(lk):
        K = F * math.exp(lk)
        p = cos_price(model, spot=S, strikes=K, expiries=tau, v=v, rate=R, dividend_yield=Q, is_call=call, backend=NP)
        iv = implied_vol(p, F, K, tau, discount=math.exp(-R * tau), is_call=call, backend=NP)
        d = black_scholes(S, K, tau, iv, rate=R, dividend_yield=Q, is_call=call, backend=NP).delta
        return abs(float(d)) - target

    sd = math.sqrt(max(v, 0.01) * tau)
    return F * math.exp(brentq(f, -15 * sd, 10 * sd, xtol=1e-12))


def test_strike_for_delta_within_one_strike():
    rng = np.random.default_rng(4)
    model = MODELS["svcj"]
    n = 120
    v = np.exp(rng.uniform(math.log(0.003), math.log(0.6), n))
    tau = rng.uniform(1.0, 120.0, n) / 365.0
    target = rng.uniform(0.03, 0.5, n)
    call = rng.integers(0, 2, n).astype(bool)
    K = table("svcj").strike_for_delta(S, v, tau, target, call, grid=5.0)
    assert np.all(np.mod(K, 5.0) == 0.0)
    exact = np.array([_exact_strike(model, v[i], tau[i], target[i], call[i]) for i in range(n)])
    assert np.max(np.abs(K - exact)) <= 5.0
    raw = table("svcj").strike_for_delta(S, v, tau, target, call, grid=0.0)
    assert np.max(np.abs(raw - exact)) <= 2.5  # the unrounded inversion alone is well inside one strike


def test_expiry_and_clamping_are_finite():
    tab = table("svcj")
    spot = np.array([4900.0, 5000.0, 5100.0, 5000.0, 5000.0, 5000.0])
    K = np.array([5000.0, 5000.0, 5000.0, 4000.0, 6500.0, 5000.0])
    v = np.array([0.02, 0.02, 0.02, 0.0, 9.0, 0.02])  # v = 0, v far above v_max
    tau = np.array([0.0, 0.0, 0.0, 1e-9, 0.5, 5.0])  # expiry, below the first node, beyond max_days
    for call in (True, False):
        g = tab.price_greeks(spot, K, v, tau, call)
        for a in g:
            assert np.all(np.isfinite(a))
        intrinsic = np.maximum(spot - K, 0.0) if call else np.maximum(K - spot, 0.0)
        np.testing.assert_array_equal(g.price[:3], intrinsic[:3])
        assert g.delta[1] == pytest.approx(0.5 if call else -0.5)
        assert np.all(g.gamma[:3] == 0.0)
    # clamping keeps the level of the actual variance: v = 9 prices well above v = v_max
    hi = tab.price(5000.0, 5000.0, np.array([2.25, 9.0]), 0.1, True)
    assert hi[1] > 1.5 * hi[0]


def test_iv_consistent_with_price_and_greeks():
    tab = table("heston")
    K = np.linspace(4000.0, 6000.0, 41)
    g = tab.price_greeks(S, K, 0.03, 30 / 365, K > S * math.exp((R - Q) * 30 / 365))
    F = S * math.exp((R - Q) * 30 / 365)
    iv = tab.iv(np.log(K / F), 0.03, 30 / 365)
    ref = black_scholes(S, K, 30 / 365, iv, rate=R, dividend_yield=Q, is_call=K > F, backend=NP)
    for a, b in zip(g, ref):
        np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-14)


def test_float32_table():
    t32, t64 = table("svcj", "float32"), table("svcj")
    K = np.linspace(4500.0, 5500.0, 11).astype(np.float32)
    v = np.full(11, 0.025, np.float32)
    tau = np.full(11, 21 / 365, np.float32)
    g = t32.price_greeks(np.float32(S), K, v, tau, K > S)
    assert all(a.dtype == np.float32 for a in g)
    p64 = t64.price(S, K.astype(float), 0.025, 21 / 365, K > S)
    np.testing.assert_allclose(g.price, p64, rtol=2e-3, atol=2e-3)
    assert t32.strike_for_delta(S, v, tau, 0.16, True).dtype == np.float32


def test_backend_parity(backend):
    xp = backend.xp
    tab_np = table("bates")
    tab = tab_np if backend.name == "numpy" else SpxTable.build(MODELS["bates"], rate=R, dividend_yield=Q, backend=backend)
    np.testing.assert_allclose(to_numpy(tab.nu), to_numpy(tab_np.nu), rtol=1e-9, atol=1e-9)
    rng = np.random.default_rng(9)
    n = 1000
    spot = rng.uniform(4000, 6000, n)
    K = np.round(spot * rng.uniform(0.8, 1.15, n) / 5) * 5
    v = rng.uniform(0.001, 1.0, n)
    tau = rng.uniform(0.0, 0.35, n)
    call = rng.integers(0, 2, n).astype(bool)
    g = tab.price_greeks(xp.asarray(spot), xp.asarray(K), xp.asarray(v), xp.asarray(tau), xp.asarray(call))
    ref = tab_np.price_greeks(spot, K, v, tau, call)
    for a, b in zip(g, ref):
        np.testing.assert_allclose(to_numpy(a), b, rtol=1e-9, atol=1e-9)
    ks = tab.strike_for_delta(xp.asarray(spot), xp.asarray(v), xp.asarray(tau), 0.16, xp.asarray(call))
    np.testing.assert_array_equal(to_numpy(ks), tab_np.strike_for_delta(spot, v, tau, 0.16, call))
