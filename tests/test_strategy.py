"""The ALVH engine: bookkeeping, exit rules, re-entry, hedge budget and timing, reproducibility.

Deterministic paths come from a Heston scenario with zero vol of vol and an
``spx_return`` shock on every day: the shocks replace the price moves, so SPX
follows the shocks exactly and the variance follows its deterministic ODE.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from gpu_alvh.results import open_results, write_zarr
from gpu_alvh.runner import run, run_scenario, trace
from gpu_alvh.spec import load_scenario
from gpu_alvh.spec.baselines import BASELINES

H0 = {"kappa": 2.0, "theta": 0.03, "sigma": 0.0, "rho": -0.7, "v0": 0.03}


def det_scenario(returns, *, horizon=None, strategy=None, name="det", start="2026-07-31", spot=7500.0):
    """Heston, sigma = 0, SPX moved by ``returns[d-1]`` on day ``d``."""
    horizon = horizon or len(returns)
    shocks = [{"spx_return": float(r), "day": d + 1} for d, r in enumerate(returns)]
    d = {"name": name, "model": "heston", "params": dict(H0), "spot": spot, "rate": 0.04, "dividend_yield": 0.01,
         "start": start, "horizon": horizon, "shocks": shocks, "paths": 1, "seed": 0}
    if strategy is not None:
        d["strategy"] = strategy
    return d


ONE_LAYER = {"layers": [21], "hedge": {"enabled": False}, "baselines": [], "cascade": {"enabled": False}}


def ends(tr):
    return {r["t"]: r for r in tr["records"] if r["stage"] == "end"}


def marks(tr):
    return {r["t"]: r for r in tr["records"] if r["stage"] == "marked"}


# ----------------------------------------------------------------------------- bookkeeping
@pytest.mark.parametrize("name", ["volmageddon", "vol_expansion"])
def test_nav_balances_to_the_cent_and_positions_stay_in_bounds(name):
    tr = trace(name, [0, 1, 2, 3], n_paths=60, overrides={"horizon": 30})
    audit = tr["audit"]
    assert audit["nav_error"] < 0.01, audit  # dollars, at every step and path
    assert audit["value_excess"] <= 1e-9, audit  # a vertical's mark stays in [0, width]
    assert audit["budget_excess"] <= 1e-6, audit
    pp = tr["result"]["parts"][0]["per_path"]
    total = pp["layer_pnl"].sum(axis=1) + pp["hedge_pnl"] + pp["interest"]
    np.testing.assert_allclose(pp["final_pnl"], total, rtol=0, atol=0.01)


def test_single_condor_held_to_expiry_equals_hand_computed_payoff():
    rets = [0.0, -0.10] + [0.0] * 18
    strat = {**ONE_LAYER, "profit_target": 1.0, "stop_multiple": 50.0, "time_exit_dte": [0]}
    tr = trace(det_scenario(rets, strategy=strat), [0], n_paths=1)
    e = ends(tr)
    r0 = e[0]
    k = 0
    n = r0["n_put"][k, 0]
    assert n > 0 and r0["n_call"][k, 0] == n
    kps, kpl, kcs, kcl = (r0[f][k, 0] for f in ("kps", "kpl", "kcs", "kcl"))
    legs = r0["leg_price"][:, k, 0]
    credit = r0["cr_put"][k, 0] + r0["cr_call"][k, 0]
    assert credit == pytest.approx((legs[0] - legs[1]) + (legs[2] - legs[3]), rel=1e-12)
    half_spreads = (0.05 + 0.003 * legs).sum()
    entry = n * 100.0 * (credit - half_spreads) - 4 * 1.2 * n
    expiry_t = min(t for t, r in e.items() if r["n_put"][k, 0] == 0 and t > 0)
    s_T = e[expiry_t]["spot"][0]
    assert r0["expiry"][k, 0] <= e[expiry_t]["now"] + 1e-9 < r0["expiry"][k, 0] + 4  # settled on its expiry date
    intrinsic = max(kps - s_T, 0) - max(kpl - s_T, 0) + max(s_T - kcs, 0) - max(s_T - kcl, 0)
    assert intrinsic == pytest.approx(kps - kpl)  # the -10% gap put the whole put spread in the money
    expected = entry - n * 100.0 * intrinsic
    at = e[expiry_t]
    assert float(at["realized"][k, 0]) == pytest.approx(expected, abs=0.005)
    # nothing else is open at that close: NAV = NAV_0 + this condor's P&L + interest, to the cent
    assert float(at["nav"][0, 0]) == pytest.approx(1_000_000.0 + expected + float(at["interest"][0, 0]), abs=0.005)


def test_stop_fires_on_the_first_step_the_loss_reaches_the_multiple():
    rets = [-0.012] * 6 + [0.0]
    strat = {**ONE_LAYER, "layers": [7], "time_exit_dte": [0], "profit_target": 1.0}
    tr = trace(det_scenario(rets, strategy=strat), [0], n_paths=1)
    e, m = ends(tr), marks(tr)
    credit = e[0]["cr_put"][0, 0] + e[0]["cr_call"][0, 0]
    loss = {t: m[t]["val_put"][0, 0] + m[t]["val_call"][0, 0] - credit for t in m}
    first = min(t for t in sorted(loss) if loss[t] >= 2.2 * credit)
    assert first >= 2, "the path should need a few days to reach the stop"
    for t in range(1, first):
        assert e[t]["n_put"][0, 0] > 0 and not e[t]["stopped"][0, 0]
    assert e[first]["stopped"][0, 0] and e[first]["n_put"][0, 0] == 0
    assert e[first]["reopen"][0, 0]  # due again from the next step, not re-opened in the same one
    assert e[first + 1]["n_put"][0, 0] > 0


def test_profit_target_fires_on_the_first_step_it_is_reached():
    rets = [0.0] * 15
    strat = {**ONE_LAYER, "stop_multiple": 50.0, "time_exit_dte": [0]}
    tr = trace(det_scenario(rets, strategy=strat), [0], n_paths=1)
    e, m = ends(tr), marks(tr)
    credit = e[0]["cr_put"][0, 0] + e[0]["cr_call"][0, 0]
    value = {t: m[t]["val_put"][0, 0] + m[t]["val_call"][0, 0] for t in m}
    first = min(t for t in sorted(value) if value[t] <= 0.5 * credit)
    assert first >= 2
    for t in range(1, first):
        assert e[t]["n_put"][0, 0] > 0
    assert e[first]["n_put"][0, 0] == 0 and not e[first]["stopped"][0, 0]
    # re-opened at its DTE on the next step
    assert e[first + 1]["n_put"][0, 0] > 0
    assert e[first + 1]["expiry"][0, 0] - e[first + 1]["now"] == pytest.approx(21.0, abs=3.0)


def test_ladder_refills_on_the_next_step():
    tr = trace("base", [0, 1, 2, 3, 4, 5], n_paths=6, overrides={"horizon": 40})
    e = ends(tr)
    ts = sorted(e)
    closes = 0
    for t0, t1 in zip(ts[:-1], ts[1:]):
        empty = (e[t0]["n_put"] == 0) & (e[t0]["n_call"] == 0)
        closes += int(empty.sum())
        ok = e[t1]["nav"][tr["slot_strategy"]] > 0
        refilled = (e[t1]["n_put"] > 0) | (e[t1]["n_call"] > 0)
        assert np.all(refilled | ~empty | ~ok), f"a slot empty at step {t0} was not re-opened at step {t1}"
    assert closes > 0  # layers did close and re-open on these paths
    assert np.all((e[ts[0]]["n_put"] > 0))  # full after the opening trades


# ----------------------------------------------------------------------------- hedge overlay
def test_hedge_budget_binds_and_is_never_exceeded():
    strat = {"hedge": {"budget_pct": 0.2, "budget_lead_years": 0.1, "target_fraction": 1.0}}
    sc = load_scenario("vol_expansion", overrides={"horizon": 40, "strategy": strat})
    tr = trace(sc, list(range(8)), n_paths=8)
    assert tr["audit"]["budget_excess"] <= 1e-6
    e = ends(tr)
    tight = 0
    for t, r in e.items():
        spent, allow = r["spent"][0], np.broadcast_to(r["allowance"][0], r["spent"][0].shape)
        assert np.all(spent <= allow + 1e-6)
        tight += int(np.sum(spent > 0.8 * allow))
    assert tight > 0, "the budget never came close to binding; the test would not see a breach"


def test_underhedge_only_on_the_days_before_events():
    tr = trace("fomc_cpi_month", [0, 1], n_paths=2)
    e = ends(tr)
    seen = {True: 0, False: 0}
    for t, r in e.items():
        before = r["days_to_event"] <= 2
        under = np.asarray(r["under"])[0]  # ALVH row
        assert np.all((under > 0) == before), (t, r["days_to_event"], under)
        seen[bool(before)] += 1
    assert seen[True] > 0 and seen[False] > 0


def test_activation_conditions_switch_exactly_when_signals_cross():
    tr = trace("vol_expansion", list(range(6)), n_paths=6)
    e = ends(tr)
    states = {0: set(), 2: set()}
    for t, r in e.items():
        sig = {k[len("signal_"):]: np.asarray(v) for k, v in r.items() if k.startswith("signal_")}
        row = lambda a: a[0] if a.ndim == 2 else a  # noqa: E731 - strategy-level signals: the ALVH row
        want0 = (row(sig["vix_macd_hist"]) > 0) | (row(sig["front_strike_distance_sd"]) < 1.5)
        want2 = (row(sig["spx_rsi14"]) < 40) & (row(sig["term_slope"]) < 0)
        np.testing.assert_array_equal(np.asarray(r["active_0"])[0], want0)
        np.testing.assert_array_equal(np.asarray(r["active_2"])[0], want2)
        states[0] |= set(want0.tolist())
        states[2] |= set(want2.tolist())
    assert states[0] == {True, False}, "layer one's condition never switched on these paths"


# ----------------------------------------------------------------------------- reproducibility
def test_one_batch_equals_several():
    """Per-path values, bands and claims are bit-identical for any batching, batches of 1-3 paths included
    (each path is its own program); the mean greeks are float sums whose last bits follow the layout."""
    from gpu_alvh.results import scenario_dataset

    da = scenario_dataset(run_scenario("gap_1p8", n_paths=12, seed=3, batch_size=12))
    for bs in (5, 3, 2, 1):
        db = scenario_dataset(run_scenario("gap_1p8", n_paths=12, seed=3, batch_size=bs))
        for k in ("final_pnl", "max_drawdown", "worst_day", "hedge_pnl", "layer_pnl", "n_stops", "nav_band", "vix_band", "measured"):
            np.testing.assert_array_equal(da[k].values, db[k].values, err_msg=f"{k}, batches of {bs}")
        np.testing.assert_allclose(da["mean_delta"].values, db["mean_delta"].values, rtol=1e-12)


def test_zero_budget_alvh_is_the_unhedged_ladder():
    """Baselines run on the same paths: with no hedge budget ALVH and the unhedged ladder coincide."""
    sc = load_scenario("vol_expansion", overrides={"horizon": 30, "strategy": {"hedge": {"budget_pct": 0.0}}})
    ds = run(sc, n_paths=30, seed=1)
    np.testing.assert_array_equal(ds["final_pnl"].sel(strategy="alvh").values, ds["final_pnl"].sel(strategy="ladder_unhedged").values)
    assert float(ds["hedge_premium"].sel(strategy="alvh").max()) == 0.0


def test_worked_example_gap_moves_the_7dte_short_put_delta():
    """The seeds' example: a 1.8% gap against a fresh 7-DTE 16-delta iron condor (seed 000 claims 0.16 -> 0.41)."""
    tr = trace("gap_1p8", [0], n_paths=1, overrides={"shocks[0].day": 1, "shocks[1].day": 1})
    e, m = ends(tr), marks(tr)
    ss, dte = tr["slot_strategy"], tr["slot_dte"]
    k7 = int(np.flatnonzero((ss == 0) & (dte == 7))[0])
    k45 = int(np.flatnonzero((ss == 0) & (dte == 45))[0])
    before, after = -e[0]["short_put_delta"][k7, 0], -m[1]["short_put_delta"][k7, 0]
    credit7 = e[0]["cr_put"][k7, 0] + e[0]["cr_call"][k7, 0]
    loss7 = m[1]["val_put"][k7, 0] + m[1]["val_call"][k7, 0] - credit7
    loss45 = m[1]["val_put"][k45, 0] + m[1]["val_call"][k45, 0] - (e[0]["cr_put"][k45, 0] + e[0]["cr_call"][k45, 0])
    print(f"7-DTE short put delta {before:.3f} -> {after:.3f}; 7-DTE condor MTM loss {loss7:.2f} pts on {credit7:.2f} credit; 45-DTE condor {loss45:+.2f} pts")
    assert before == pytest.approx(0.16, abs=0.02)
    assert 0.3 < after < 0.6
    assert loss7 > 0  # the front condor loses on a down gap with a VIX rise
    # The 45-DTE condor's sign is the market's, not a rule: with the calibrated skew (45-day 16-delta put
    # IV ~20%, call ~11% at VIX 16) the fixed 50-point call spread carries more delta than the put spread,
    # so a -1.8% gap can be a gain there (COS repricing of the same condor: +0.8 pts). What holds in any
    # model: the longer expiry's short put delta moves less than the 7-DTE one.
    before45, after45 = -e[0]["short_put_delta"][k45, 0], -m[1]["short_put_delta"][k45, 0]
    assert 0 < after45 - before45 < after - before


def test_volmageddon_hedge_cuts_the_worst_day():
    ds = run("volmageddon", n_paths=200, seed=2, strategy=None)
    a = ds["worst_day"].sel(strategy="alvh").values.ravel()
    u = ds["worst_day"].sel(strategy="ladder_unhedged").values.ravel()
    d = a - u  # worst-day losses are negative: ALVH's is smaller when d > 0
    se = d.std(ddof=1) / math.sqrt(d.size)
    assert d.mean() > 4 * se, (d.mean(), se)


def test_run_dataset_schema_and_store_round_trip(tmp_path):
    ds = run(["gap_1p8", "volmageddon"], n_paths=20, seed=1)
    assert set(ds.dims) >= {"scenario", "strategy", "path", "day", "layer", "quantile", "claim"}
    assert list(ds["strategy"].values) == ["alvh", *BASELINES]
    for k, v in ds.data_vars.items():
        assert v.attrs.get("units") and v.attrs.get("long_name"), k
    assert ds["final_pnl"].dims == ("scenario", "strategy", "path")
    assert ds["nav_band"].dims == ("scenario", "strategy", "day", "quantile")
    assert ds["mean_gamma"].dims == ("scenario", "strategy", "day", "layer")
    assert ds["measured"].dims == ("scenario", "claim")
    for k in ("gpu_alvh_version", "git_revision", "spec_json", "spec_hash", "seed", "rng", "backend", "device", "n_paths", "created", "history"):
        assert k in ds.attrs, k
    store = tmp_path / "run.zarr"
    write_zarr(ds, store)
    back = open_results(store)
    assert back["final_pnl"].chunks is not None  # lazy (dask)
    np.testing.assert_array_equal(back["final_pnl"].values, ds["final_pnl"].values)
    assert list(back["verdict"].sel(scenario="gap_1p8").values) == list(ds["verdict"].sel(scenario="gap_1p8").values)


def test_gpu_code_path_matches_cpu_on_numpy():
    """The dense (GPU) form of the engine - every element computed and blended by masks,
    no host-side index selection - gives the CPU results, run here on NumPy arrays."""
    from dataclasses import replace

    from gpu_alvh.backend import get_backend

    b = get_backend("numpy")
    dense = replace(b, is_gpu=True, workers=1)
    sc = load_scenario("vol_expansion", overrides={"horizon": 30})
    cpu = run_scenario(sc, n_paths=24, seed=5, backend=b)
    gpu = run_scenario(sc, n_paths=24, seed=5, backend=dense)
    from gpu_alvh.results import scenario_dataset

    a, g = scenario_dataset(cpu), scenario_dataset(gpu)
    for k in ("final_pnl", "hedge_pnl", "layer_pnl", "n_stops", "n_rolls", "worst_day", "peak_gamma"):
        np.testing.assert_allclose(g[k].values, a[k].values, rtol=1e-9, atol=1e-6, err_msg=k)


def test_nonfinite_in_the_book_stops_the_run_with_path_and_day(monkeypatch):
    """A NaN made inside the per-path program (run in the CUDA simulator, where it is Python) stops the run
    naming the path and the step."""
    from gpu_alvh.errors import NonFiniteError
    from gpu_alvh.kernels import market

    orig = market.advance

    def poisoned(t, path, x, v, v2, e, w, *args):
        x, v, v2, e, w = orig(t, path, x, v, v2, e, w, *args)
        return (np.float64(np.nan) if path == 3 and t >= 3 else x), v, v2, e, w

    monkeypatch.setattr(market, "advance", poisoned)
    with pytest.raises(NonFiniteError) as err:
        run_scenario(det_scenario([0.0] * 5), n_paths=6, seed=1, backend="cudasim")
    assert err.value.path == 3 and err.value.step == 3
    assert "det" in str(err.value)


def test_save_paths_agree_with_the_per_path_results():
    ds = run("gap_1p8", n_paths=6, seed=4, save_paths=True).isel(scenario=0)
    assert ds["nav_path"].dims == ("strategy", "day", "path")
    np.testing.assert_allclose(ds["nav_path"].isel(day=-1).values, ds["final_nav"].values, rtol=1e-12)
    np.testing.assert_allclose(ds["spx_path"].isel(day=0).values, load_scenario("gap_1p8").spot, rtol=1e-12)
    np.testing.assert_allclose(ds["spx_path"].isel(day=-1).values, ds["spx_final"].values, rtol=1e-12)
    low = ds["nav_path"].min("day")
    np.testing.assert_allclose(low.values, ds["min_nav"].values, rtol=1e-12)
    # days 1..N below the running peak (which starts at the NAV before day 0's entry costs)
    nav = ds["nav_path"].transpose("strategy", "path", "day").values
    nav0 = (ds["final_nav"] - ds["final_pnl"]).transpose("strategy", "path").values[..., None]
    peak = np.maximum.accumulate(np.concatenate([nav0, nav], -1), -1)[..., 1:]
    under = (nav < peak * (1 - 1e-12))[..., 1:].mean(-1)
    np.testing.assert_allclose(ds["time_under_water"].transpose("strategy", "path").values, under, rtol=1e-12)
    assert (ds["time_under_water"] <= 1).all()


def test_vix_futures_hedge_balances_and_monetises_on_the_spike():
    strat = {"hedge": {"layers": [{"name": "fut", "instrument": "future", "weight": 0.4, "tenor": "auto"}]}}
    sc = load_scenario("volmageddon", overrides={"strategy": strat, "horizon": 10})
    tr = trace(sc, [0, 1, 2], n_paths=3)
    assert tr["audit"]["nav_error"] < 0.01
    e = ends(tr)
    n0, px0 = e[0]["h_n"][0], e[0]["h_entry_px"][0]
    assert np.all(n0 > 0)
    # day 1: VIX 17.3 -> 37.3 is above the monetisation level: half of the futures are sold, once
    assert np.all(e[1]["h_monetized"][0]) and np.all(e[1]["h_n"][0] == n0 - np.floor(0.5 * n0 + 0.5))
    assert np.all(e[1]["h_unit"][0] > px0 + 5.0)  # the futures price rose with the variance jump
