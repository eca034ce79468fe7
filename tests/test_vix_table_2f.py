"""Two-factor VIX tables (``VixTable`` of an SVCJ2 model) and their kernel lookups.

The reference is :mod:`gpu_alvh.pricing.vix_laplace` (futures by the Gamma-function identity, calls by
Bromwich inversion), an independent route to the same law of ``VIX_T^2 = a v_T + a2 v2_T + b``.  The
model is the library's fitted two-factor pricing model (``scenarios/base_2f.yaml``), whose factors both
fail the Feller condition (``2 kappa theta / sigma^2`` 0.24 fast, 0.12 slow): the law of each has a
singular density at 0, the hard case for the table's COS / hat-mass construction.

Tolerances
----------
Options are measured in units of SPEC section 5's tolerance ``max(0.02 points, 0.5% of price)`` over its
region (``|delta| >= 0.01``; :func:`tests.conftest.vix_spec_errors`), strikes rounded to whole points.

* at table nodes (no interpolation in the state or the expiry): futures 1e-4 relative (our own
  target), options the SPEC tolerance (measured worst: 1.4e-5 relative and 0.11 of the tolerance);
* between nodes on the small test grid (``SMALL``: 21 x 9 x 12 state/expiry nodes and 81 moneyness
  nodes instead of the default 41 x 33 x 34 and 241, a 6 s build instead of 44 s) the interpolation
  error dominates: measured worst over the 42 states of the test 2.1e-3 relative (futures) and 4.3
  option tolerances; asserted 5e-3 and 5;
* the default grid (``-m heavy``: built once, kept by ``cached_table``), 60 states x 12 strikes from
  0.55 F to 4.5 F: SPEC's tolerance, measured 0.49 of it (futures 3.2e-5), and 0.67 within a point of
  the VIX floor ``100 sqrt(b) = 11.72`` (two more samples, seeds 6 and 8: 0.67 and 0.86).  The floor
  region is what sized the grid: 17 slow-variance nodes 1.6x there, 161 moneyness nodes 1.17x
  (``VixTable.build``);
* kernel vs array: the rounding bound of ``tests/test_kernel_pricing.py`` with the slow variance as one
  more partial derivative (the lookups evaluate the same formulas in the same order).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba.extending import register_jitable

from gpu_alvh import load_scenario
from gpu_alvh.kernels import vix as kvix
from gpu_alvh.pricing import vix_laplace as vl
from gpu_alvh.pricing.cache import _load, _save
from gpu_alvh.pricing.vix import VixTable

from .conftest import vix_spec_errors
from .kernel_harness import map_kernel
from .test_kernel_pricing import C, C_NU, U64, check, partials

RATE = 0.04
MODEL = load_scenario("base_2f").model_q()
SMALL = dict(n_v=21, n_tau=12, n_xi=81, n_v2=9)
NODES = dict(n_v=11, n_tau=8, n_xi=161, n_v2=5)


@lru_cache(maxsize=None)
def table(kind: str) -> VixTable:
    return VixTable.build(MODEL, rate=RATE, backend="numpy", **(SMALL if kind == "small" else NODES))


def node_states(tab):
    v = (tab.v_scale * np.sinh(tab.v_axis.nodes())) ** 2
    v2 = (tab.v2_scale * np.sinh(tab.v2_axis.nodes())) ** 2
    tau = (tab.t_scale * np.sinh(tab.st_axis.nodes())) ** 2
    return v, v2, tau


def reference(v, v2, T, K):
    """Laplace-transform futures and discounted calls/puts at one state."""
    F = float(vl.vix_future(MODEL, T, [v], [v2])[0])
    D = math.exp(-RATE * T)
    calls = D * vl.vix_calls(MODEL, T, v, v2, K)
    return F, calls, np.maximum(calls - D * (F - K), 0.0)


def errors(tab, states, rng, n_k=4, span=(-0.4, 0.9), floor_band=0.0):
    """Worst futures relative error and worst option errors in units of SPEC's max(0.02, 0.5% of price) over
    its region (|delta| >= 0.01; :func:`tests.conftest.vix_spec_errors`), ``n_k`` strikes a state at
    ``F e^U``, ``U`` uniform on ``span``, rounded to whole points: ``(futures, options, options near the
    floor)``, the last over strikes below ``100 sqrt(b) + floor_band`` (the VIX floor), not in the second."""
    floor = 100.0 * math.sqrt(MODEL.vix2_terms()[2]) + floor_band
    worst_f, worst_o, worst_floor = 0.0, 0.0, 0.0
    for v, v2, T in states:
        F_ref = float(vl.vix_future(MODEL, T, [v], [v2])[0])
        K = np.maximum(np.round(F_ref * np.exp(rng.uniform(*span, n_k))), 1.0)
        F, calls, puts = reference(v, v2, T, K)
        worst_f = max(worst_f, abs(float(tab.future(v, T, v2=v2)) - F) / F)
        near = K < floor
        for is_call, ref in ((True, calls), (False, puts)):
            p = tab.option(v, T, K, is_call, v2=v2)
            err = vix_spec_errors(p[~near], ref[~near], F, K[~near], T, is_call, RATE)
            worst_o = max(worst_o, float(err.max(initial=0.0)))
            if near.any():
                err = vix_spec_errors(p[near], ref[near], F, K[near], T, is_call, RATE)
                worst_floor = max(worst_floor, float(err.max(initial=0.0)))
    return worst_f, worst_o, worst_floor


# --------------------------------------------------------------------------- law and table vs reference
def test_nodes_match_laplace():
    """At the table's nodes (states spanning both factors, expiries 0.7 h .. 130 days): the SPEC tolerance."""
    tab = table("nodes")
    v, v2, tau = node_states(tab)
    rng = np.random.default_rng(7)
    states = [(v[i], v2[j], tau[k]) for i in (0, 3, 5, 7, 10) for j in (0, 2, 4) for k in (1, 3, 5, 7)]
    states = [s for s in states if 1e-3 <= s[0] + s[1] <= 2.5] + [(v[0], v2[0], tau[1])]
    worst_f, worst_o, _ = errors(tab, states, rng)
    print(f"\nnodes: {len(states)} states x 4 strikes: futures {worst_f:.2e} relative, options {worst_o:.3f} tolerances")
    assert worst_f < 1e-4
    assert worst_o <= 1.0


def test_between_nodes_match_laplace():
    """Off-node states (total variance 1e-3..1.5, fast shares 0..1), expiries 0.1..120 days, small grid (module doc)."""
    tab = table("small")
    rng = np.random.default_rng(3)
    tot = np.exp(rng.uniform(math.log(1e-3), math.log(1.5), 14))
    share = rng.choice([0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0], 14)
    days = (0.1, 1.0, 5.0, 20.0, 60.0, 120.0)
    states = [(t * f, t * (1.0 - f), d / 365.0) for t, f in zip(tot, share) for d in days[::2]]
    worst_f, worst_o, _ = errors(tab, states, rng)
    print(f"\nbetween nodes: {len(states)} states: futures {worst_f:.2e} relative, options {worst_o:.3f} tolerances")
    assert worst_f < 5e-3
    assert worst_o <= 5.0


@pytest.mark.heavy
def test_default_table_within_spec():
    """The engine's table (default grid, ``cached_table``) against the Laplace reference: 60 states (total
    variance 2e-3..1, shares 0..1), expiries 0.5..120 days, 12 strikes each from 0.55 F to 4.5 F (module doc)."""
    from gpu_alvh.pricing.cache import cached_table

    tab = cached_table(VixTable, MODEL, backend="numpy", dtype="float64", rate=RATE)
    rng = np.random.default_rng(5)
    tot = np.exp(rng.uniform(math.log(2e-3), 0.0, 60))
    share = rng.choice([0.0, 0.2, 0.5, 0.8, 1.0], 60)
    days = rng.uniform(0.5, 120.0, 60)
    states = [(t * f, t * (1.0 - f), d / 365.0) for t, f, d in zip(tot, share, days)]
    worst_f, worst_o, worst_floor = errors(tab, states, rng, n_k=12, span=(-0.6, 1.5), floor_band=1.0)
    print(f"\ndefault grid: {len(states)} states x 12 strikes: futures {worst_f:.2e} relative, options {worst_o:.3f} tolerances, "
          f"within a point of the floor {worst_floor:.3f}")
    assert worst_f < 1e-4
    assert worst_o <= 1.0
    assert 0.0 < worst_floor <= 1.0  # strikes within a point of the floor were sampled, and meet SPEC


# --------------------------------------------------------------------------- structure
@settings(max_examples=200, deadline=None)
@given(
    lv=st.floats(math.log(1e-4), math.log(2.0)),
    lv2=st.floats(math.log(1e-5), math.log(2.0)),
    days=st.floats(0.0, 140.0),
    k1=st.floats(3.0, 120.0),
    width=st.floats(1e-3, 20.0),
)
def test_spreads_and_butterflies_are_arbitrage_free(lv, lv2, days, k1, width):
    tab = table("small")
    v, v2, T = math.exp(lv), math.exp(lv2), days / 365
    K = np.array([k1, k1 + width, k1 + 2 * width])
    c = tab.option(v, T, K, True, v2=v2)
    p = tab.option(v, T, K, False, v2=v2)
    D = math.exp(-RATE * T)
    eps = 1e-12 * (1.0 + c[0])
    assert -eps <= c[0] - c[1] <= D * width + eps
    assert c[0] - 2 * c[1] + c[2] >= -eps
    assert -eps <= p[1] - p[0] <= D * width + eps
    assert np.all(c >= 0) and np.all(p >= 0)


def test_expiry_limit_and_edges():
    """tau = 0: futures = model VIX of both factors, options = intrinsic; v2 = 0 and clamped states stay finite."""
    tab = table("small")
    v = np.array([0.0, 1e-4, 0.02, 0.3, 2.0, 5.0, 0.02, 0.02])
    v2 = np.array([0.0, 0.0, 0.05, 1.0, 0.0, 0.1, 3.0, 10.0])
    spot = MODEL.vix_from_state(v, v2)
    np.testing.assert_array_equal(tab.future(v, 0.0, v2=v2), spot)  # exact: the drift table is 0 at tau = 0
    K = np.full(v.size, 20.0)
    np.testing.assert_allclose(tab.option(v, 0.0, K, True, v2=v2), np.maximum(spot - K, 0.0), rtol=0, atol=1e-12)
    np.testing.assert_allclose(tab.option(v, 0.0, K, False, v2=v2), np.maximum(K - spot, 0.0), rtol=0, atol=1e-12)
    # the slow factor matters: at a fixed fast state the futures rise with v2
    f = tab.future(np.full(5, 0.02), 30 / 365, v2=np.array([0.0, 0.01, 0.05, 0.2, 1.0]))
    assert np.all(np.diff(f) > 0)
    # v2 = 0 edge against the reference (a node of the slow axis, between fast nodes)
    F, calls, _ = reference(0.015, 0.0, 10 / 365, np.array([12.0, 15.0, 20.0]))
    assert abs(float(tab.future(0.015, 10 / 365, v2=0.0)) / F - 1.0) < 5e-3
    assert np.all(np.abs(tab.option(0.015, 10 / 365, np.array([12.0, 15.0, 20.0]), True, v2=0.0) - calls)
                  <= 5.0 * np.maximum(0.02, 0.02 * calls))
    # clamping: negative and far-out states, expiries beyond the last node, extreme strikes
    for T in (1e-7, 0.1, 1.0):
        for K in (0.5, 20.0, 500.0):
            for call in (True, False):
                out = tab.option(np.array([-0.01, 0.04, 9.0]), T, K, call, v2=np.array([0.04, -0.01, 9.0]))
                assert np.all(np.isfinite(out)) and np.all(out >= 0.0)
        assert np.all(np.isfinite(tab.future(np.array([-0.01, 9.0]), T, v2=np.array([9.0, -1.0]))))
    p, d = tab.option_greeks(np.array([1e-3, 0.02, 0.5]), 30 / 365, np.array([15.0, 25.0, 60.0]), True, v2=0.05)
    assert np.all(np.isfinite(p)) and np.all(np.isfinite(d)) and np.all(d >= 0.0)


def test_greeks_dv_matches_finite_difference():
    tab = table("small")
    for v, v2, days, K in ((0.02, 0.05, 30.0, 18.0), (0.2, 0.02, 10.0, 45.0), (0.05, 0.5, 60.0, 80.0)):
        T = days / 365
        p, d = tab.option_greeks(v, T, K, True, v2=v2)
        h = 1e-5
        fd = (tab.option(v + h, T, K, True, v2=v2) - tab.option(v - h, T, K, True, v2=v2)) / (2 * h)
        np.testing.assert_allclose(p, tab.option(v, T, K, True, v2=v2), rtol=1e-13)
        assert abs(float(d) - float(fd)) <= 0.02 * abs(float(fd)) + 1e-6


def test_cache_round_trip(tmp_path):
    tab = table("small")
    path = tmp_path / "t.npz"
    _save(tab, path)
    back = _load(VixTable, path, MODEL, tab.backend)
    assert back.v2_axis == tab.v2_axis and back.v2_scale == tab.v2_scale
    v, T, K = np.array([0.01, 0.3]), np.array([5.0, 50.0]) / 365, np.array([18.0, 40.0])
    np.testing.assert_array_equal(back.option(v, T, K, True, v2=0.1), tab.option(v, T, K, True, v2=0.1))


# --------------------------------------------------------------------------- kernels
@register_jitable
def _vix2_probe(v, v2, tau, tau_v, strike, is_call, rec, data):
    ctx = kvix.vix_slice(rec, data, v, v2, tau, tau_v)
    return kvix.vix_future(rec, data, v, v2, tau_v), kvix.vix_leg(rec, data, ctx, strike, is_call), ctx[0], \
        kvix.vix_option(rec, data, v, v2, tau, tau_v, strike, is_call)


def points(rng, n):
    """Both variances log-uniform over the table's range, tau in [0, 120] days, strikes 5-150, plus edges."""
    v = np.exp(rng.uniform(math.log(1e-4), math.log(2.25), n))
    v2 = np.exp(rng.uniform(math.log(1e-5), math.log(2.25), n))
    tau = rng.uniform(0.0, 120.0, n) / 365.0
    K = rng.uniform(5.0, 150.0, n)
    call = rng.random(n) < 0.5
    # edges: expiry, beyond the last node, v or v2 = 0 / negative / above the grid, moneyness beyond the grid
    ev = np.array([0.04, 0.04, 0.04, 0.0, -0.01, 4.0, 0.04, 0.04, 0.04, 0.3, 0.02, 0.02])
    ev2 = np.array([0.05, 0.05, 0.05, 0.0, 0.05, 0.05, 0.0, -0.01, 4.0, 0.05, 0.0, 3.0])
    et = np.array([0.0, 0.0, 200.0 / 365.0, 0.1, 0.1, 0.1, 1e-6, 0.1, 0.1, 0.25, 0.05, 0.05])
    eK = np.array([15.0, 30.0, 20.0, 10.0, 10.0, 60.0, 20.0, 5.0, 1000.0, 150.0, 12.0, 40.0])
    ec = np.array([True, False, True, False, True, False, True, False, True, False, True, False])
    return [np.concatenate(p) for p in ((v, ev), (v2, ev2), (tau, et), (K, eK), (call, ec))]


def bound(tab, v, v2, tau, K, call, u=U64, c=C, c_nu=C_NU):
    """Oracle values and rounding bounds of (futures, option) (``test_kernel_pricing.vix_bound`` plus ``v2``)."""
    def f(v, v2, tau, K):
        return tab.future(v, tau, v2=v2), tab.option(v, tau, K, call, v2=v2)

    F, P = (np.asarray(a, dtype=float) for a in f(v, v2, tau, K))
    sens = partials(f, {"v": v, "v2": v2, "tau": tau, "K": K}, ("v", "v2", "tau", "K"))
    spot = MODEL.vix_from_state(v, v2)
    tol_f = u * (c * (spot + sens[0]) + c_nu * np.abs(F - spot))
    D = np.exp(-RATE * np.maximum(tau, 0.0))
    call_und = np.asarray(tab.option(v, tau, K, True, v2=v2), dtype=float) / D
    terms = np.where(call, np.abs(P), D * (call_und + F + K))
    tol_p = u * (c * sens[1] + c_nu * terms) + (np.abs(P) + D * K) / F * tol_f
    return F, P, tol_f, tol_p


def test_kernel_record():
    tab = table("small")
    d = kvix.vix_kernel_data(tab)
    r = d.rec[0]
    assert (r["n_corner"], r["v2_n"], r["t_stride"]) == (8, 9, 9 * 21)
    assert (r["a_vix"], r["a2_vix"], r["b_vix"]) == MODEL.vix2_terms()
    assert d.data.size == 5 * tab.fut.size + tab.xi.size + tab.cn.size
    np.testing.assert_array_equal(d.data[r["off_cn"]:], tab.cn.reshape(-1))


@pytest.mark.parametrize("target", ["cpu", "cudasim"])
def test_kernel_matches_table(target):
    tab = table("small")
    rng = np.random.default_rng(51)
    v, v2, tau, K, call = points(rng, 2000 if target == "cpu" else 200)
    d = kvix.vix_kernel_data(tab)
    out = map_kernel(_vix2_probe, target, v, v2, tau, tau, K, call, extra=(d.rec, d.data), n_out=4)
    F, P, tol_f, tol_p = bound(tab, v, v2, tau, K, call)
    print(f"\nVIX table, two factors ({target}, {v.size} points)")
    check("futures", out[0], F, tol_f, report=np.ones(v.size, bool))
    check("option", out[1], P, tol_p, report=(tau > 0) & (P > 1e-3))
    np.testing.assert_array_equal(out[2], out[0])
    np.testing.assert_array_equal(out[3], out[1])
    # two clocks: the table at tau_v, the discount at tau
    tau_c = tau + rng.uniform(0.0, 0.2, tau.size) * tau
    out2 = map_kernel(_vix2_probe, target, v, v2, tau_c, tau, K, call, extra=(d.rec, d.data), n_out=4)
    ratio = np.exp(-RATE * tau_c) / np.exp(-RATE * tau)
    check("option 2 clocks", out2[1], P * ratio, tol_p * ratio + C * U64 * np.abs(P))
    if target == "cpu":  # NaN in the slow variance reaches the price (compiled code; Python's floor raises)
        nan = map_kernel(_vix2_probe, "cpu", np.array([0.04]), np.array([math.nan]), np.array([0.1]), np.array([0.1]),
                         np.array([20.0]), np.array([True]), extra=(d.rec, d.data), n_out=4)
        assert np.isnan(nan[0]).all() and np.isnan(nan[1]).all()


def test_regime_records_mix_one_and_two_factor_tables():
    """One concatenated kernel data for a one-factor and a two-factor table: each record reads its own."""
    one = VixTable.build(load_scenario("base").model_q(), rate=RATE, backend="numpy", n_v=11, n_tau=6, n_xi=41)
    two = table("small")
    both = kvix.vix_kernel_data([one, two])
    rng = np.random.default_rng(5)
    v, v2, tau, K, call = points(rng, 200)
    for j, tab in enumerate((one, two)):
        alone = kvix.vix_kernel_data(tab)
        got = map_kernel(_vix2_probe, "cpu", v, v2, tau, tau, K, call, extra=(both.rec[j:j + 1], both.data), n_out=4)
        want = map_kernel(_vix2_probe, "cpu", v, v2, tau, tau, K, call, extra=(alone.rec, alone.data), n_out=4)
        np.testing.assert_array_equal(got[1], want[1])
    # the one-factor record ignores v2
    a = map_kernel(_vix2_probe, "cpu", v, v2, tau, tau, K, call, extra=(both.rec[0:1], both.data), n_out=4)
    b = map_kernel(_vix2_probe, "cpu", v, 0.0 * v2, tau, tau, K, call, extra=(both.rec[0:1], both.data), n_out=4)
    np.testing.assert_array_equal(a[1], b[1])
