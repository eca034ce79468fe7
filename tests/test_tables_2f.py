"""SPX implied-vol tables of a two-factor model (``SpxTable`` with the fast-share axis and the stretched
moneyness axis; module doc of :mod:`gpu_alvh.pricing.tables`) and their kernel lookups.

The model is the library's two-factor pricing model (``base_2f``'s ``pricing`` block, rho = rho2 = -0.99:
its call wing ends in a near-hard upper bound of the log price, a cliff of the smile at z ~ 0.5-1.5).

* default grid (built once, ~1.5 minutes on 2 cores, kept by ``cached_table``; ``-m heavy``) against direct
  COS over the strategy's region, four samples: measured worst 0.45 of SPEC section 5's ``max(0.02 points,
  0.5% of price)`` on 7,181 points (the cliff moves across neighbouring (expiry, variance, share) nodes:
  9 share nodes gave 1.60, the uniform-z grid of the one-factor tables 55x);
* a small table (10 expiries, 21 total-variance nodes, 5 share nodes, the default 161 moneyness nodes;
  ~15 s) at its (expiry, variance, share) nodes - interpolation exact there except in moneyness - within
  the SPEC tolerance, and the kernels against the array lookups between the nodes, to float rounding.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import pytest

from gpu_alvh.kernels import spx as kspx
from gpu_alvh.pricing.black import black_scholes, implied_vol
from gpu_alvh.pricing.cos import cos_price
from gpu_alvh.pricing.tables import SpxTable
from gpu_alvh.spec import load_scenario

from .kernel_harness import map_kernel
from .test_kernel_pricing import check, leg_bounds, strike_bound
from numba.extending import register_jitable

S, R, Q = 7500.0, 0.04, 0.012


@lru_cache(maxsize=None)
def model():
    """``base_2f``'s pricing model (Q)."""
    return load_scenario("base_2f").model_q()


@lru_cache(maxsize=None)
def table() -> SpxTable:
    return SpxTable.build(model(), rate=R, dividend_yield=Q, backend="numpy", max_days=120.0, n_tau=10, n_v=21, n_f=5)


def _nodes(tab):
    V = (tab.v_scale * np.sinh(tab.sv_axis.nodes())) ** 2
    return V, tab.f_axis.nodes(), tab.st_axis.nodes() ** 2


def test_layout_and_one_factor_limit():
    tab = table()
    assert tab.nu.shape == (10, 21, 5, 161) and tab.order == (1, 3, 3, 3) and tuple(tab.z_map) == (1.0, 0.75)
    assert np.all(np.isfinite(tab.nu)) and np.all(tab.nu > 0.0)
    r = kspx.spx_kernel_data(tab).rec[0]
    assert (r["f_n"], r["order_f"], r["stride_f"], r["stride_v"], r["stride_t"]) == (5, 3, 161, 5 * 161, 21 * 5 * 161)
    assert (r["z_map"], r["z_c"], r["z_s"]) == (1, 1.0, 0.75) and r["theta_eff"] == tab.theta_eff
    # the lookup clamps, never NaN: negative / huge variances, zero expiry, far strikes
    p = tab.price(S, np.array([10.0, 5000.0, 7500.0, 60000.0]), np.array([-0.1, 0.0, 5.0, 0.02]), np.array([0.0, 0.1, 0.5, 200 / 365]),
                  np.array([False, False, True, True]), v2=np.array([0.0, -1.0, 3.0, 0.0]))
    assert np.all(np.isfinite(p)) and p[0] == 0.0


def test_node_prices_match_direct_cos():
    """At 48 (expiry, total variance, share) nodes - interpolation exact in expiry, variance and share -
    prices of strikes over the strategy's region (|delta| >= 0.01) within max(0.02, 0.5%) of COS."""
    tab = table()
    V, F_nodes, taus = _nodes(tab)
    rng = np.random.default_rng(11)
    worst, n = 0.0, 0
    for _ in range(48):
        tau = float(taus[rng.integers(1, taus.size)])
        tot = float(V[rng.integers(3, V.size - 2)])
        f = float(F_nodes[rng.integers(0, F_nodes.size)])
        v, v2 = f * tot, (1.0 - f) * tot
        F = S * math.exp((R - Q) * tau)
        sd = math.sqrt(max(tot, 0.01) * tau)
        K = F * np.exp(np.linspace(-5.0, 3.5, 21) * 1.5 * sd)
        call = K > F
        ref = np.asarray(cos_price(model(), spot=S, strikes=K, expiries=tau, v=v, v2=v2, rate=R, dividend_yield=Q, is_call=call,
                                   backend="numpy")).reshape(-1)
        iv = implied_vol(ref, F, K, tau, discount=math.exp(-R * tau), is_call=call, backend="numpy")
        keep = np.abs(black_scholes(S, K, tau, iv, rate=R, dividend_yield=Q, is_call=call, backend="numpy").delta) >= 0.01
        p = tab.price(S, K[keep], v, tau, call[keep], v2=v2)
        worst = max(worst, float((np.abs(p - ref[keep]) / np.maximum(0.02, 0.005 * ref[keep])).max()))
        n += int(keep.sum())
    print(f"{n} points at the nodes, worst {worst:.3f} of the tolerance")
    assert n >= 400 and worst <= 1.0


def test_share_changes_the_smile_and_the_edges_are_the_factors():
    """f = 1 is all fast variance, f = 0 all slow: at the same total variance the two smiles differ (the
    slow factor's vol of vol and mean reversion are its own), and the table reads them apart."""
    tab = table()
    tau, tot = 30 / 365, 0.03
    k = np.linspace(-0.15, 0.05, 9)
    fast, slow = tab.iv(k, tot, tau, v2=0.0), tab.iv(k, 0.0, tau, v2=tot)
    assert np.max(np.abs(fast - slow)) > 0.005  # more than half a vol point somewhere
    mid = tab.iv(k, 0.5 * tot, tau, v2=0.5 * tot)
    assert np.all(np.minimum(fast, slow) - 1e-3 <= mid) and np.all(mid <= np.maximum(fast, slow) + 1e-3)


def test_strike_for_delta_hits_its_delta():
    tab = table()
    rng = np.random.default_rng(2)
    n = 200
    v, v2 = np.exp(rng.uniform(math.log(2e-3), math.log(0.3), (2, n)))
    tau = rng.uniform(2.0, 110.0, n) / 365.0
    call = rng.random(n) < 0.5
    K = tab.strike_for_delta(S, v, tau, 0.16, call, grid=0.0, v2=v2)
    g = tab.price_greeks(S, K, v, tau, call, v2=v2)
    np.testing.assert_allclose(np.abs(g.delta), 0.16, atol=2e-4)


# ----------------------------------------------------------------------------- kernels
@register_jitable
def _probe(spot, strike, v, v2, tau, is_call, rec, nu):
    ctx = kspx.spx_slice(rec, spot, v, v2, tau, tau)
    p, d, g, ve, _tc, _tv = kspx.spx_leg(rec, nu, ctx, strike, is_call)
    return kspx.spx_leg_iv(rec, nu, ctx, strike), p, d, kspx.spx_strike_for_delta(rec, nu, spot, v, v2, tau, tau, 0.16, is_call, 0.0, 6)


@pytest.mark.parametrize("target", ["cpu", "cudasim"])
def test_kernel_lookups_equal_the_array_lookups(target):
    """Kernel vs array between the nodes: the same stencil contracted in the same order (moneyness,
    share, variance, time) - they differ by roundings only, within the bounds of
    ``tests/test_kernel_pricing.py`` (derived from the lookups' arithmetic and their sensitivities, here
    to the slow variance too); the ill-conditioned corner (an hour to expiry) is left out by starting at
    2 days."""
    tab = table()
    rng = np.random.default_rng(4 if target == "cpu" else 5)
    n = 300 if target == "cpu" else 40
    v, v2 = np.exp(rng.uniform(math.log(1e-4), math.log(1.5), (2, n)))
    v2[:5] = 0.0
    v[5:10] = 0.0
    tau = rng.uniform(2.0, 120.0, n) / 365.0
    sd = np.sqrt(np.maximum(v + v2, 0.01) * tau)
    K = np.round(S * np.exp(rng.uniform(-4.0, 3.0, n) * sd) / 5.0) * 5.0
    call = rng.random(n) < 0.5
    d = kspx.spx_kernel_data(tab)
    vol, price, delta, strike = map_kernel(_probe, target, np.full(n, S), K, v, v2, tau, call, extra=(d.rec, d.nu), n_out=4)
    Sv = np.full(n, S)
    sigma, tol_sigma, g, tol = leg_bounds(tab, Sv, K, v, tau, call, v2=v2)
    region = np.abs(np.asarray(g.delta)) >= 0.01
    print(f"\nSPX table legs, two factors ({target}, {n} points)")
    check("vol", vol, sigma, tol_sigma, report=region)
    check("price", price, g.price, tol[0], report=region)
    check("delta", delta, g.delta, tol[1], report=region)
    raw = tab.strike_for_delta(S, v, tau, 0.16, call, grid=0.0, v2=v2)
    check("raw strike", strike, raw, strike_bound(tab, Sv, v, tau, np.full(n, 0.16), call, raw, v2=v2))


def test_one_factor_record_ignores_v2():
    """A one-factor table's kernel lookups are the same numbers whatever v2 says (its share axis is absent)."""
    one = SpxTable.build(load_scenario("base").model_q(), rate=R, dividend_yield=Q, backend="numpy", n_z=21, n_v=9, n_tau=6, max_days=40.0)
    d = kspx.spx_kernel_data(one)
    assert d.rec[0]["f_n"] == 1
    a = map_kernel(_probe, "cpu", np.full(3, S), np.array([7000.0, 7500.0, 8000.0]), np.full(3, 0.03), np.zeros(3), np.full(3, 0.05),
                   np.array([False, True, True]), extra=(d.rec, d.nu), n_out=4)
    b = map_kernel(_probe, "cpu", np.full(3, S), np.array([7000.0, 7500.0, 8000.0]), np.full(3, 0.03), np.full(3, 0.7), np.full(3, 0.05),
                   np.array([False, True, True]), extra=(d.rec, d.nu), n_out=4)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


# ----------------------------------------------------------------------------- the default grid
def _region(q, rng, n_states, per_state):
    """Random states and strikes of the strategy's region with direct COS prices: v, v2 log-uniform in
    [1e-4, 1], tau uniform in [1 hour, 120 days], strikes over -7.5..+5.25 sd, calls and puts, |delta| >= 0.01."""
    out = []
    for _ in range(n_states):
        v, v2 = np.exp(rng.uniform(math.log(1e-4), 0.0, 2))
        tau = rng.uniform(1.0 / 24.0, 120.0) / 365.0
        F = S * math.exp((R - Q) * tau)
        sd = math.sqrt(max(v + v2, 0.01) * tau)
        K = F * np.exp(rng.uniform(-5.0, 3.5, per_state) * 1.5 * sd)
        call = rng.random(per_state) < 0.5
        ref = np.asarray(cos_price(q, spot=S, strikes=K, expiries=tau, v=v, v2=v2, rate=R, dividend_yield=Q, is_call=call,
                                   backend="numpy")).reshape(-1)
        iv = implied_vol(ref, F, K, tau, discount=math.exp(-R * tau), is_call=call, backend="numpy")
        keep = np.abs(black_scholes(S, K, tau, iv, rate=R, dividend_yield=Q, is_call=call, backend="numpy").delta) >= 0.01
        n = int(keep.sum())
        out.append((np.full(n, v), np.full(n, v2), np.full(n, tau), K[keep], call[keep], ref[keep]))
    return [np.concatenate(x) for x in zip(*out)]


@pytest.mark.heavy
def test_default_table_matches_direct_cos():
    """The engine's table (default grid) against direct COS with both factors over the strategy's region
    (module doc), as a fraction of SPEC's max(0.02, 0.5%).  Measured on four samples (seeds 7, 11, 13, 17;
    7,181 points): worst 0.29 / 0.32 / 0.36 / 0.45; with 9 share nodes 0.65 / 0.62 / 1.15 / 1.60 (5 points
    above 1, all calls at the call wing's cliff, z ~ 0.9-1.5).  Asserted: every point within SPEC."""
    from gpu_alvh.pricing.cache import cached_table

    tab = cached_table(SpxTable, model(), backend="numpy", dtype="float64", rate=R, dividend_yield=Q)
    assert tab.nu.shape == (72, 61, 13, 161) and tab.order == (1, 3, 3, 3)
    for seed, n_states in ((7, 70), (11, 110), (13, 110), (17, 110)):
        v, v2, tau, K, call, ref = _region(model(), np.random.default_rng(seed), n_states, 25)
        assert v.size >= 1200
        p = tab.price(S, K, v, tau, call, v2=v2)
        ratio = np.abs(p - ref) / np.maximum(0.02, 0.005 * ref)
        print(f"seed {seed}, {v.size} points: worst {ratio.max():.3f} of the tolerance, {np.sum(ratio > 1.0)} above it, p99 {np.quantile(ratio, 0.99):.3f}")
        assert np.all(np.isfinite(p))
        assert ratio.max() <= 1.0, (seed, ratio.max(), np.sum(ratio > 1.0))


def test_dead_slow_factor_is_the_one_factor_table():
    """v2 = 0 with a slow factor that stays at 0 (theta2 = sigma2 = 0): the two-factor table at the share
    f = 1 (a node), built on the one-factor moneyness grid (``z_map=None``, 81 nodes), is the SVCJ table of
    the fast factor: the same scale w and grids, the same node prices up to the COS truncation (the share
    nodes' shared range and term count).  Measured: 1.0e-8 relative in vol (400 points); asserted 1e-6."""
    import dataclasses

    from gpu_alvh.models import SVCJ

    q2 = dataclasses.replace(model(), theta2=0.0, sigma2=0.0)
    q1 = SVCJ(**{k: getattr(q2, k) for k in SVCJ.RULES})
    kw = dict(rate=R, dividend_yield=Q, backend="numpy", max_days=40.0, n_tau=6, n_v=9)
    t2, t1 = SpxTable.build(q2, n_f=5, z_map=None, order=(1, 1, 3), **kw), SpxTable.build(q1, **kw)  # the same stencil
    assert t2.nu.shape[-1] == t1.nu.shape[-1] == 81
    assert t2.theta_eff == t1.theta_eff and t2.jump_var == t1.jump_var
    rng = np.random.default_rng(3)
    n = 400
    v = np.exp(rng.uniform(math.log(1e-3), math.log(0.5), n))
    tau = rng.uniform(1.0, 40.0, n) / 365.0
    k = rng.uniform(-2.0, 1.0, n) * np.sqrt(np.maximum(v, 0.01) * tau)
    a, b = t2.iv(k, v, tau, v2=0.0), t1.iv(k, v, tau)
    print(f"max rel diff {np.max(np.abs(a / b - 1.0)):.2e}")
    np.testing.assert_allclose(a, b, rtol=1e-6)


def test_share_edges_and_clamping():
    """f = 1 (v2 = 0) and f = 0 (v = 0) are the end nodes of the share axis: lookups there equal the
    share-interpolated lookups an ulp inside; negative, NaN-free clamped states stay finite."""
    tab = table()
    tau, k = 20 / 365, np.linspace(-0.1, 0.03, 7)
    for v, v2 in ((0.04, 0.0), (0.0, 0.04)):
        at = tab.iv(k, v, tau, v2=v2)
        near = tab.iv(k, v + 1e-12 * v2, tau, v2=v2 + 1e-12 * v)
        np.testing.assert_allclose(at, near, rtol=1e-9)
    # negative variances count as 0; V = 0 reads f = 1; beyond v_max the level follows the actual V
    np.testing.assert_array_equal(tab.iv(k, -0.01, tau, v2=0.02), tab.iv(k, 0.0, tau, v2=0.02))
    np.testing.assert_array_equal(tab.iv(k, 0.0, tau, v2=0.0), tab.iv(k, 0.0, tau, v2=-1.0))
    hi = tab.price(S, S, np.array([1.0, 4.0]), 0.1, True, v2=np.array([1.25, 5.0]))
    assert np.all(np.isfinite(hi)) and hi[1] > 1.5 * hi[0]
