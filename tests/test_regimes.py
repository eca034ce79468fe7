"""Regime windows and the prices: a window the market sees is priced in its regime (docs/scenarios.md,
"Regimes and prices"; issue 9 section 2).

A window effect (``vol_of_vol_multiplier``, ``jump_intensity_multiplier``, ``correlation``) changes the
paths' dynamics over its sessions.  Without ``surprise`` the pricing model changes with them, and a
close is priced in the regime of the session that follows it.  Checked here:

* the compiled regimes (which closes, which parameters; overlapping windows; ``surprise``);
* the VIX index is the regime's formula at the regime's closes, in the kernel and the array paths;
* the kernel's regime lookup (one concatenated table, a record per regime) is the regime's own table;
* the measurement that decides it: in a no-edge market (P = Q, no costs) with a window over the whole
  quarter, a one-layer 7-DTE ladder held to settlement has zero expected excess P&L when the window is
  priced, and a large one when it is a ``surprise`` (so the check can fail);
* bad input: ``surprise`` on a point effect, a VIX under the regime's floor.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import gpu_alvh
from gpu_alvh.compile import compile_scenario
from gpu_alvh.errors import SpecError
from gpu_alvh.spec import load_scenario, load_strategy

from .test_no_edge import NO_COSTS, SEED, Z_MAX, _scenario, _z

HESTON = {"name": "regime_heston", "model": "heston", "params": {"kappa": 2.0, "theta": 0.03, "sigma": 0.5, "rho": -0.7},
          "vix": 16.0, "spot": 7500.0, "rate": 0.04, "dividend_yield": 0.012, "start": "2026-07-31", "horizon": 20}


def _heston(**extra) -> dict:
    return {**HESTON, **extra}


# ----------------------------------------------------------------------------- compiled regimes
def test_a_window_is_priced_from_the_close_before_it_to_the_close_before_its_last_session():
    c = compile_scenario("vol_expansion")  # vol-of-vol x1.5 and jump intensity x1.5 on sessions 5..30
    assert len(c.pricing_models) == 2 and c.pricing_models[0] is c.model_q
    expect = np.zeros(c.n_steps + 1, dtype=int)
    expect[4:30] = 1  # closes of days 4..29 price sessions 5..30
    np.testing.assert_array_equal(c.regime, expect)
    q, r = c.model_q, c.pricing_models[1]
    assert r.sigma == pytest.approx(1.5 * q.sigma, rel=1e-15) and r.jump_intensity == pytest.approx(1.5 * q.jump_intensity, rel=1e-15)
    assert (r.kappa, r.theta, r.rho, r.jump_mean, r.var_jump_mean) == (q.kappa, q.theta, q.rho, q.jump_mean, q.var_jump_mean)
    p, pr = c.model_p, c.regime_models_p[1]  # the paths' model in the regime: what the hedge's VIX beta assumes
    assert pr.sigma == pytest.approx(1.5 * p.sigma, rel=1e-15) and pr.jump_intensity == pytest.approx(1.5 * p.jump_intensity, rel=1e-15)


def test_surprise_windows_change_only_the_paths():
    d = load_scenario("vol_expansion").to_dict()
    d["shocks"] = [dict(s, surprise=True) if "start" in s else s for s in d["shocks"]]
    seen, surprise = compile_scenario("vol_expansion"), compile_scenario(d)
    assert len(surprise.pricing_models) == 1 and not surprise.regime.any()
    for k in ("sigma", "rho", "jump_intensity"):  # the same dynamics
        np.testing.assert_array_equal(getattr(surprise, k), getattr(seen, k))
    assert surprise.v0 == seen.v0


def test_overlapping_windows_multiply_and_each_combination_is_a_regime():
    sc = _heston(shocks=[{"vol_of_vol_multiplier": 2.0, "start": 3, "end": 8}, {"vol_of_vol_multiplier": 1.5, "start": 6, "end": 10},
                         {"correlation": -0.2, "start": 6, "end": 7}, {"vol_of_vol_multiplier": 4.0, "start": 12, "end": 13, "surprise": True}])
    c = compile_scenario(sc)
    sigma = [m.sigma for m in c.pricing_models]
    rho = [m.rho for m in c.pricing_models]
    # the regime of each session 1..20, read through the close before it
    by_session = [(sigma[c.regime[d - 1]], rho[c.regime[d - 1]]) for d in range(1, 21)]
    s0, r0 = 0.5, -0.7
    want = [(s0, r0)] * 2 + [(1.0, r0)] * 3 + [(1.5, -0.2)] * 2 + [(1.5, r0)] + [(0.75, r0)] * 2 + [(s0, r0)] * 10
    np.testing.assert_allclose(np.array(by_session), np.array(want), rtol=1e-15)
    assert len(c.pricing_models) == 5  # base, x2, x3 with rho -0.2, x3, x1.5; the surprise window adds none
    assert c.sigma[11] == pytest.approx(4 * s0) and c.sigma[12] == pytest.approx(4 * s0)  # ... but moves the paths


def test_a_window_from_day_one_prices_the_start_close_and_vix_is_read_in_it():
    sc = _heston(model="bates", params={**HESTON["params"], "jump_intensity": 2.0, "jump_mean": -0.05, "jump_std": 0.05},
                 shocks=[{"jump_intensity_multiplier": 3.0, "start": 1, "end": 20}], vix=22.0)
    c = compile_scenario(sc)
    assert c.regime.tolist() == [1] * 21
    start = c.pricing_models[1]
    assert float(start.vix_from_variance(c.v0)) == pytest.approx(22.0, rel=1e-12)
    assert float(c.model_q.vix_from_variance(c.v0)) < 22.0 - 1.0  # the same variance reads lower without the regime's jump risk


# ----------------------------------------------------------------------------- the VIX index
@pytest.mark.parametrize("engine", ["kernel", "arrays"])
def test_the_vix_index_is_the_regime_formula_at_its_closes(engine):
    from gpu_alvh.backend import get_backend
    from gpu_alvh.paths import simulate, simulate_arrays

    c = compile_scenario(load_scenario("vol_expansion", overrides={"horizon": 35}))
    if engine == "kernel":
        ds = simulate(c, n_paths=64, seed=3, backend="numpy")
        v, vix = np.asarray(ds["variance"].values), np.asarray(ds["vix"].values)
    else:
        out = simulate_arrays(c, get_backend("numpy"), 0, 64, seed=3)
        v, vix = out["variance"], out["vix"]
    for t in range(c.n_steps + 1):
        model = c.pricing_models[c.regime[t]]
        np.testing.assert_allclose(vix[:, t], model.vix_from_variance(v[:, t]), rtol=1e-13, err_msg=f"step {t}")
    # the onset: from the close of day 4 on, the index carries the regime's extra jump risk (b_1 > b_0: a lift
    # at every variance), 1.8 points at the start variance, as docs/scenarios.md and the scenario file say
    assert (vix[:, 3] == c.model_q.vix_from_variance(v[:, 3])).all()
    assert (vix[:, 4] > c.model_q.vix_from_variance(v[:, 4])).all()
    lift0 = float(c.pricing_models[1].vix_from_variance(c.v0) - c.model_q.vix_from_variance(c.v0))
    assert round(lift0, 1) == 1.8


# ----------------------------------------------------------------------------- the kernel's lookups
def test_a_regime_lookup_reads_the_regimes_own_table():
    from gpu_alvh.kernels import spx as kspx
    from gpu_alvh.kernels import vix as kvix
    from gpu_alvh.pricing.tables import SpxTable
    from gpu_alvh.pricing.vix import VixTable

    c = compile_scenario(_heston(shocks=[{"vol_of_vol_multiplier": 2.0, "start": 3, "end": 8}, {"correlation": -0.2, "start": 6, "end": 7}]))
    small = {"n_v": 7, "n_tau": 8, "n_z": 33, "max_days": 40.0}
    spx = [SpxTable.build(m, rate=c.rate, dividend_yield=c.dividend_yield, backend="numpy", **small) for m in c.pricing_models]
    vix = [VixTable.build(m, rate=c.rate, backend="numpy", max_days=60.0) for m in c.pricing_models]
    assert len(spx) == 3
    both_s, both_v = kspx.spx_kernel_data(spx), kvix.vix_kernel_data(vix)
    for j in range(3):
        one_s, one_v = kspx.spx_kernel_data(spx[j]), kvix.vix_kernel_data(vix[j])
        rs, rv = both_s.rec[j:j + 1], both_v.rec[j:j + 1]
        for spot, k, v, tau in ((7500.0, 7000.0, 0.03, 0.05), (7400.0, 7800.0, 0.09, 0.1), (7600.0, 7600.0, 0.01, 0.02)):
            args = (spot, k, v, 0.0, tau, tau * 0.7, k > spot)
            assert kspx.spx_price_greeks(rs, both_s.nu, *args) == kspx.spx_price_greeks(one_s.rec, one_s.nu, *args)
            vargs = (v, 0.0, tau, tau * 0.7, 18.0, True)
            assert kvix.vix_option(rv, both_v.data, *vargs) == kvix.vix_option(one_v.rec, one_v.data, *vargs)
    # and the regimes do price differently (the view is not always table 0)
    a = kspx.spx_price(both_s.rec[0:1], both_s.nu, 7500.0, 6800.0, 0.03, 0.0, 0.05, 0.035, False)
    b = kspx.spx_price(both_s.rec[1:2], both_s.nu, 7500.0, 6800.0, 0.03, 0.0, 0.05, 0.035, False)
    assert abs(a - b) > 0.05 * a


# ----------------------------------------------------------------------------- no edge in a priced regime
ENGINE_PATHS = 8000
SURPRISE_PATHS = 2000  # the surprise's edge is 22-31 standard errors at 8,000 paths: 11-15 at 2,000
LADDER = {"layers": [7], "hedge": {"enabled": False}, "baselines": [], "cascade": {"enabled": False},
          "profit_target": 1.0, "stop_multiple": 50.0, "time_exit_dte": [0], "costs": NO_COSTS}
#: (market, windows over the whole quarter, extra keys, sign of the surprise's excess P&L)
REGIMES = {
    "heston_volvol": ("heston", [{"vol_of_vol_multiplier": 2.0, "start": 1, "end": 63}, {"correlation": -0.9, "start": 1, "end": 63}], {}, +1),
    "svcj_jumps": ("svcj_base", [{"jump_intensity_multiplier": 4.0, "start": 1, "end": 63}], {"vix": 22.0}, -1),
}


def _excess_z(market, windows, extra, surprise):
    shocks = [dict(w, surprise=surprise) for w in windows]
    sc = _scenario(market, "2026-11-16", 63, strategy=LADDER, shocks=shocks, **extra)
    ds = gpu_alvh.run(sc, n_paths=SURPRISE_PATHS if surprise else ENGINE_PATHS, seed=SEED).isel(scenario=0, strategy=0)
    c = compile_scenario(sc)
    excess = ds["final_nav"].values - float(load_strategy(LADDER).nav) * math.exp(c.rate * float(c.dcal.sum()))
    entries = ds["n_entries"].values
    assert entries.min() == entries.max() >= 12 and ds["n_stops"].values.max() == 0
    return _z(excess), excess.mean()


@pytest.mark.parametrize("case", sorted(REGIMES))
def test_condor_lives_have_no_edge_in_a_priced_regime_and_an_edge_in_a_surprise(case):
    """Measured (8,000 paths, 12 lives a path): Heston with vol-of-vol x2 and rho -0.9 over the quarter,
    priced +$985 (z = +1.1), surprise +$19,029 (z = +21.8: more vol-of-vol puts more of a week's return
    in the centre and the far tails and less at the 16-delta shoulders, so condors sold at the base
    smile win); SVCJ with jump intensity x4 (VIX 22), priced -$1,074 (z = -1.1), surprise -$34,143
    (z = -30.8: crashes the base prices do not charge for).  The surprise runs 2,000 paths
    (``SURPRISE_PATHS``: z ~ 11-15)."""
    market, windows, extra, sign = REGIMES[case]
    z_seen, _ = _excess_z(market, windows, extra, surprise=False)
    z_surprise, _ = _excess_z(market, windows, extra, surprise=True)
    assert abs(z_seen) <= Z_MAX, (case, z_seen)
    assert sign * z_surprise > Z_MAX, (case, z_surprise)


# ----------------------------------------------------------------------------- bad input
def test_surprise_is_only_for_window_effects():
    with pytest.raises(SpecError, match=r"shocks\[0\]\.surprise.*only on window effects"):
        load_scenario(_heston(shocks=[{"vix_change": 1.0, "day": 3, "surprise": True}]))
    with pytest.raises(SpecError, match=r"shocks\[0\]\.surprise"):
        load_scenario(_heston(shocks=[{"vol_of_vol_multiplier": 2.0, "start": 3, "end": 5, "surprise": "yes"}]))


def test_a_vix_under_the_floor_of_its_regime_is_refused():
    params = {**HESTON["params"], "jump_intensity": 1.0, "jump_mean": -0.05, "jump_std": 0.05}  # VIX floor 8.6, 32 at x20
    with pytest.raises(SpecError, match=r"shocks\[1\]\.vix_level: 12.0 .*floor at the close of trading day 3, priced for a jump-intensity window \(x20\)"):
        load_scenario(_heston(model="bates", params=params, shocks=[{"jump_intensity_multiplier": 20.0, "start": 2, "end": 6},
                                                                    {"vix_level": 12.0, "day": 3}]))
    with pytest.raises(SpecError, match=r"vix: 16.0 .*close of trading day 0"):
        load_scenario(_heston(model="bates", params=params, shocks=[{"jump_intensity_multiplier": 20.0, "start": 1, "end": 6}]))
    # the same level outside the window, and the same window as a surprise, are fine
    load_scenario(_heston(model="bates", params=params, shocks=[{"jump_intensity_multiplier": 20.0, "start": 5, "end": 6},
                                                                {"vix_level": 12.0, "day": 3}]))
    load_scenario(_heston(model="bates", params=params, shocks=[{"jump_intensity_multiplier": 20.0, "start": 1, "end": 6, "surprise": True}]))


def test_the_cuda_kernels_in_the_simulator_read_the_regimes_as_the_cpu_kernels():
    from gpu_alvh.results import _combine
    from gpu_alvh.runner import run_scenario

    sc = _heston(horizon=12, shocks=[{"vol_of_vol_multiplier": 2.0, "start": 3, "end": 8}, {"correlation": -0.2, "start": 6, "end": 7},
                                     {"vix_change": 2.0, "day": 5}])
    cpu = run_scenario(sc, n_paths=4, seed=5, backend="numpy")
    sim = run_scenario(sc, n_paths=4, seed=5, backend="cudasim")
    a, _, _ = _combine(cpu["parts"])
    b, _, _ = _combine(sim["parts"])
    for k in a:
        np.testing.assert_allclose(b[k], a[k], rtol=1e-12, atol=1e-8, err_msg=k)
    assert a["n_entries"].sum() > 0
