"""Ladder rules that must not surprise (issue 9 section 3, issue 8 "costs at extremes").

* the time exit fires on the last session on or before the exit DTE (Monday and post-holiday expiries);
* a cascade roll continues the condor's life: its entry credit and P&L carry on, rolls and their
  outcomes are counted per layer;
* the realised stop multiple (loss at the stop's mark / entry credit) is reported per layer;
* excess P&L over cash;
* closing a vertical never costs more than its width x 100 per contract plus commissions.

Deterministic paths as in ``test_strategy`` (Heston with zero vol of vol, SPX moved by daily shocks).
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from gpu_alvh import calendar as cal
from gpu_alvh.results import scenario_dataset
from gpu_alvh.runner import trace
from gpu_alvh.strategy import ladder
from gpu_alvh.strategy.params import STRAT
from gpu_alvh.strategy.state import OUT_EXPIRY, OUT_STOP, OUT_TIME, local_state

from .test_strategy import det_scenario, ends, marks

NO_EXITS = {"hedge": {"enabled": False}, "baselines": [], "cascade": {"enabled": False}, "profit_target": 1.0, "stop_multiple": 50.0}


def per_path(tr):
    return tr["result"]["parts"][0]["per_path"]


def _session_on_or_before(d: dt.date) -> dt.date:
    while not cal.is_session(d):
        d -= dt.timedelta(days=1)
    return d


# ----------------------------------------------------------------------------- time exit
@pytest.mark.parametrize("start, why", [("2026-08-03", "Monday expiry"), ("2026-09-01", "Tuesday expiry after Labor Day"),
                                        ("2026-08-04", "Tuesday expiry, Monday a session")])
def test_time_exit_fires_on_the_last_session_on_or_before_the_exit_dte(start, why):
    """A 7-DTE condor opened on ``start`` expires 7 days later; its 1-DTE exit falls on the last session
    on or before the day before expiry - the Friday when the expiry is a Monday or follows a holiday."""
    strat = {**NO_EXITS, "layers": [7], "time_exit_dte": [1]}
    tr = trace(det_scenario([0.0] * 8, strategy=strat, start=start), [0])
    e = ends(tr)
    d0 = dt.date.fromisoformat(start)
    expiry = d0 + dt.timedelta(days=7)
    assert cal.is_session(expiry), why
    want = _session_on_or_before(expiry - dt.timedelta(days=1))
    closed = min(t for t in e if t > 0 and e[t]["n_put"][0, 0] == 0)
    assert e[0]["expiry"][0, 0] == pytest.approx((expiry - d0).days, abs=1e-9)  # the 16:00 expiry close, in days since the start close
    assert e[closed]["now"] == pytest.approx((want - d0).days, abs=1e-9), why
    assert e[closed]["outcome"][0, 0] == OUT_TIME
    pp = per_path(tr)
    assert pp["layer_time_exits"][0, 0, 0] >= 1 and pp["layer_settled"][0, 0, 0] == 0  # no life of the layer reaches settlement


def test_time_exit_zero_still_holds_to_settlement():
    strat = {**NO_EXITS, "layers": [7], "time_exit_dte": [0]}
    tr = trace(det_scenario([0.0] * 8, strategy=strat, start="2026-08-03"), [0])
    e = ends(tr)
    closed = min(t for t in e if t > 0 and e[t]["n_put"][0, 0] == 0)
    assert e[closed]["now"] == pytest.approx(7.0) and e[closed]["outcome"][0, 0] == OUT_EXPIRY


# ----------------------------------------------------------------------------- cascade roll
CASCADE = {"layers": [7, 21], "hedge": {"enabled": False}, "baselines": [], "time_exit_dte": [0, 0]}


def _roll(tr, k=1):
    e, m = ends(tr), marks(tr)
    t_r = min(t for t in e if e[t]["rolled"][k, 0])
    return e, m, t_r


def test_cascade_roll_continues_the_life_and_a_losing_rolled_life_is_no_profit_target():
    """Five -1.2% days stop the 7-DTE condor and roll the 21-DTE put side; SPX then recovers slowly.  The
    roll realises a loss, so the rolled life's P&L stays below its target and it is held to expiry (before,
    the roll reset its credit and the life closed as a 'profit target' two days later with a $37k loss)."""
    tr = trace(det_scenario([-0.012] * 5 + [0.004] * 15, strategy=CASCADE), [0])
    e, m, t_r = _roll(tr)
    k = 1
    assert e[t_r]["stopped"][0, 0]  # the front layer's stop made the roll
    credit0 = e[0]["cr_put"][k, 0] * e[0]["n_put"][k, 0] + e[0]["cr_call"][k, 0] * e[0]["n_call"][k, 0]
    n = e[0]["n_put"][k, 0]
    assert e[t_r]["credit0"][k, 0] == pytest.approx(credit0, rel=1e-12)  # the entry credit survives the roll
    assert e[t_r]["life_rolls"][k, 0] == 1 and e[t_r]["kps"][k, 0] < e[0]["kps"][k, 0]
    # life mid cash: entry credit - the tested side bought back at mid + the new side sold at mid
    want = credit0 - n * m[t_r]["val_put"][k, 0] + e[t_r]["n_put"][k, 0] * e[t_r]["cr_put"][k, 0]
    assert e[t_r]["life_mid"][k, 0] == pytest.approx(want, rel=1e-12)
    closed = min(t for t in e if t > t_r and e[t]["n_put"][k, 0] == 0)
    for t in range(t_r + 1, closed):  # never at its target while open: life P&L at the marks < 50% of the entry credit
        pnl = e[t - 1]["life_mid"][k, 0] - n * (m[t]["val_put"][k, 0] + m[t]["val_call"][k, 0])
        assert pnl < 0.5 * credit0
    assert e[closed]["outcome"][k, 0] == OUT_EXPIRY
    assert e[closed]["realized"][k, 0] - e[closed]["life_start"][k, 0] < 0  # a losing life (cash, costs included)
    pp = per_path(tr)
    lay = tr["layers"].index(21)
    assert pp["layer_rolls"][0, lay, 0] == 1 and pp["n_rolls"][0, 0] == 1
    assert pp["layer_rolled_settled"][0, lay, 0] == 1
    assert pp["layer_rolled_targets"][0, lay, 0] == 0 and pp["layer_targets"][0, lay, 0] == 0


def test_a_rolled_life_that_keeps_losing_is_stopped_on_its_whole_loss():
    """SPX keeps falling after the roll: the rolled life is stopped when its whole loss - the roll's
    realised loss included - reaches 2.2 x its entry credit, and counts as a stop of a rolled life."""
    tr = trace(det_scenario([-0.012] * 10 + [0.0] * 3, strategy=CASCADE), [0])
    e, m, t_r = _roll(tr)
    k = 1
    t_s = min(t for t in e if t > t_r and e[t]["stopped"][k, 0])
    assert e[t_s]["outcome"][k, 0] == OUT_STOP
    credit0 = e[0]["credit0"][k, 0]
    n, n_new = e[0]["n_put"][k, 0], e[t_r]["n_put"][k, 0]
    life = credit0 - n * m[t_r]["val_put"][k, 0] + n_new * e[t_r]["cr_put"][k, 0] - n_new * m[t_s]["val_put"][k, 0] - e[0]["n_call"][k, 0] * m[t_s]["val_call"][k, 0]
    assert -life >= 2.2 * credit0
    # the open position alone had not lost 2.2 x its (post-roll) credit: the old rule would not have stopped
    post_credit = n_new * e[t_r]["cr_put"][k, 0] + e[0]["n_call"][k, 0] * e[0]["cr_call"][k, 0]
    assert n_new * m[t_s]["val_put"][k, 0] + e[0]["n_call"][k, 0] * m[t_s]["val_call"][k, 0] - post_credit < 2.2 * post_credit
    pp = per_path(tr)
    lay = tr["layers"].index(21)
    assert pp["layer_rolled_stops"][0, lay, 0] == 1 and pp["layer_stops"][0, lay, 0] == 1
    assert pp["layer_stop_multiple"][0, lay, 0] == pytest.approx(-life / credit0, rel=1e-9)


# ----------------------------------------------------------------------------- realised stop multiple
def test_realised_stop_multiple_is_the_loss_at_the_stop_mark_over_the_entry_credit():
    strat = {**NO_EXITS, "layers": [7], "time_exit_dte": [0], "stop_multiple": 2.2}
    rets = [-0.012] * 6 + [0.0]
    tr = trace(det_scenario(rets, strategy=strat), [0])
    e, m = ends(tr), marks(tr)
    credit = e[0]["cr_put"][0, 0] + e[0]["cr_call"][0, 0]
    t_s = min(t for t in e if e[t]["stopped"][0, 0])
    mult = (m[t_s]["val_put"][0, 0] + m[t_s]["val_call"][0, 0] - credit) / credit
    assert mult >= 2.2
    n = e[0]["n_put"][0, 0]
    net = -e[t_s]["realized"][0, 0] / (100.0 * n * credit)  # the slot's only life: all its cash flows, costs included
    assert net > mult  # costs add to the loss
    pp = per_path(tr)
    assert pp["layer_stops"][0, 0, 0] == 1
    assert pp["layer_stop_multiple"][0, 0, 0] == pytest.approx(mult, rel=1e-9)
    assert pp["layer_stop_multiple_net"][0, 0, 0] == pytest.approx(net, rel=1e-9)
    ds = scenario_dataset(tr["result"])
    assert float(ds["stop_multiple_mean"].sel(strategy="alvh", layer=7)) == pytest.approx(mult, rel=1e-9)
    assert float(ds["stop_multiple_net_mean"].sel(strategy="alvh", layer=7)) == pytest.approx(net, rel=1e-9)
    assert float(ds["stopped_lives"].sel(strategy="alvh", layer=7)) == 1
    for k in ("stop_multiple_mean", "layer_rolls", "layer_time_exits", "excess_pnl", "excess_pnl_mean"):
        assert ds[k].attrs["units"] and ds[k].attrs["long_name"], k


# ----------------------------------------------------------------------------- excess P&L over cash
def test_excess_pnl_is_pnl_less_the_cash_return_of_the_starting_nav():
    """A book that cannot size a contract holds cash only: all its P&L is interest and its excess is zero;
    the trading book's excess is its P&L less NAV_0 (exp(r days / 365) - 1) over the same calendar days."""
    horizon = 10
    d0 = dt.date(2026, 7, 31)
    last = d0
    for _ in range(horizon):
        last = cal.next_session(last, inclusive=False)
    days = (last - d0).days
    cash_return = 1_000_000.0 * (math.exp(0.04 * days / 365.0) - 1.0)
    idle = {**NO_EXITS, "layers": [21], "max_loss_pct": 1e-6}
    pp = per_path(trace(det_scenario([0.001] * horizon, strategy=idle), [0]))
    assert pp["n_entries"][0, 0] == 0
    assert pp["final_pnl"][0, 0] == pytest.approx(cash_return, abs=0.01)
    assert abs(pp["excess_pnl"][0, 0]) < 0.01
    tr = trace(det_scenario([0.001] * horizon, strategy={**NO_EXITS, "layers": [21]}), [0])
    pp = per_path(tr)
    assert pp["n_entries"][0, 0] > 0
    assert pp["excess_pnl"][0, 0] == pytest.approx(pp["final_pnl"][0, 0] - cash_return, abs=0.01)
    ds = scenario_dataset(tr["result"])
    assert float(ds["excess_pnl_mean"].sel(strategy="alvh")) == pytest.approx(pp["excess_pnl"][0, 0], abs=1e-9)


# ----------------------------------------------------------------------------- costs at extremes
def _strat_record(comm, pts, pct):
    st = np.zeros(1, STRAT)
    st[0]["spx_comm"], st[0]["spx_hs_pts"], st[0]["spx_hs_pct"] = comm, pts, pct
    return st[0]


def _bs(spot, strike, tau, vol, is_call, rate=0.04, q=0.012):
    if tau <= 0.0 or vol <= 0.0:
        return max(spot - strike, 0.0) if is_call else max(strike - spot, 0.0)
    sd = vol * math.sqrt(tau)
    fwd = spot * math.exp((rate - q) * tau)
    d1 = (math.log(fwd / strike) + 0.5 * sd * sd) / sd
    nd = lambda x: 0.5 * math.erfc(-x / math.sqrt(2.0))  # noqa: E731
    df = math.exp(-rate * tau)
    return df * (fwd * nd(d1) - strike * nd(d1 - sd)) if is_call else df * (strike * nd(sd - d1) - fwd * nd(-d1))


def _condor(kps, wp, kcs, wc, n_put, n_call, prices):
    L, legs, *_ = local_state()
    L[0]["kps"], L[0]["kpl"], L[0]["kcs"], L[0]["kcl"] = kps, kps - wp, kcs, kcs + wc
    L[0]["n_put"], L[0]["n_call"] = n_put, n_call
    for leg, p in enumerate(prices):
        legs[0, leg, 0] = p
    ladder.derive(L, legs, 0)
    return L, legs


COSTS = dict(comm=hs.floats(0.0, 10.0), pts=hs.floats(0.0, 20.0), pct=hs.floats(0.0, 0.5))


def _check_close(L, legs, st, n_put, n_call, wp, wc):
    realized0, costs0 = L[0]["realized"], L[0]["costs"]
    mark = 100.0 * (n_put * L[0]["val_put"] + n_call * L[0]["val_call"])
    flow = ladder._close(L, legs, 0, True, True, False, st)
    bound = 100.0 * (n_put * wp + n_call * wc) + 2.0 * st["spx_comm"] * (n_put + n_call)
    assert -flow <= bound * (1.0 + 1e-12) + 1e-9
    assert L[0]["costs"] - costs0 >= -1e-9  # costs are never negative
    assert -flow == pytest.approx(mark + (L[0]["costs"] - costs0), rel=1e-12, abs=1e-6)  # cash = mark + costs
    assert L[0]["realized"] - realized0 == flow


@settings(max_examples=300, deadline=None)
@given(spot_ratio=hs.floats(0.02, 200.0), vol=hs.floats(0.01, 8.0), tau=hs.floats(0.0, 1.0), kps_ratio=hs.floats(0.3, 1.0),
       wp=hs.sampled_from([5.0, 25.0, 50.0, 100.0]), kcs_ratio=hs.floats(1.0, 3.0), wc=hs.sampled_from([5.0, 25.0, 50.0, 100.0]),
       n_put=hs.integers(0, 500), n_call=hs.integers(0, 500), **COSTS)
def test_closing_a_condor_never_costs_more_than_its_width_plus_commissions(spot_ratio, vol, tau, kps_ratio, wp, kcs_ratio, wc, n_put, n_call,
                                                                           comm, pts, pct):
    """Any market state (spot from 2% to 200x the strikes' reference, vol, strikes, time to expiry): the
    cash paid to buy the condor back is at most 100 x contracts x width per side plus commissions."""
    s0 = 7500.0
    kps, kcs = round(s0 * kps_ratio / 5) * 5 + wp, round(s0 * kcs_ratio / 5) * 5
    spot = s0 * spot_ratio
    prices = [_bs(spot, kps, tau, vol, False), _bs(spot, kps - wp, tau, vol, False), _bs(spot, kcs, tau, vol, True),
              _bs(spot, kcs + wc, tau, vol, True)]
    L, legs = _condor(kps, wp, kcs, wc, float(n_put), float(n_call), prices)
    _check_close(L, legs, _strat_record(comm, pts, pct), n_put, n_call, wp, wc)


@settings(max_examples=200, deadline=None)
@given(prices=hs.lists(hs.floats(0.0, 1e7), min_size=4, max_size=4), wp=hs.integers(1, 40).map(lambda i: 5.0 * i),
       wc=hs.integers(1, 40).map(lambda i: 5.0 * i),
       n_put=hs.integers(0, 500), n_call=hs.integers(0, 500), **COSTS)
def test_closing_is_bounded_for_any_leg_marks(prices, wp, wc, n_put, n_call, comm, pts, pct):
    """The bound is structural: it holds for any leg prices a pricer might give, consistent or not
    (strikes on the 5-point grid, as the engine's are)."""
    L, legs = _condor(5000.0, wp, 6000.0, wc, float(n_put), float(n_call), prices)
    assert 0.0 <= L[0]["val_put"] <= wp and 0.0 <= L[0]["val_call"] <= wc
    _check_close(L, legs, _strat_record(comm, pts, pct), n_put, n_call, wp, wc)


@settings(max_examples=200, deadline=None)
@given(ps=hs.floats(0.0, 1e6), pl=hs.floats(0.0, 1e6), width=hs.integers(1, 40).map(lambda i: 5.0 * i), ncon=hs.integers(0, 500), **COSTS)
def test_selling_a_vertical_never_pays_and_never_receives_more_than_its_width(ps, pl, width, ncon, comm, pts, pct):
    L, legs, *_ = local_state()
    legs[0, 0, 0], legs[0, 1, 0] = ps, pl
    flow = ladder._book_side(L, legs, 0, False, 5000.0, 5000.0 - width, float(ncon), _strat_record(comm, pts, pct))
    assert -2.0 * comm * ncon - 1e-9 <= flow <= 100.0 * ncon * width + 1e-9
    assert 0.0 <= L[0]["cr_put"] <= width


def test_a_jump_storm_never_costs_a_condor_more_than_its_width_in_a_day():
    """Issue 8: ``jump_intensity: 500`` (with 15% mean jumps here, whose compensator drives SPX up 34% on
    the first day of path 0) put the call legs deep in the money; the per-leg percentage half-spread on
    their full prices made closing a 50-point vertical cost more than 50 points.  Now every layer's
    one-step loss is at most 100 x contracts x width plus commissions (a roll: twice, it trades twice)."""
    strat = {"hedge": {"enabled": False}, "baselines": []}
    over = {"horizon": 3, "params.jump_intensity": 500.0, "params.jump_mean": -0.15, "params.jump_std": 0.05}
    tr = trace("base", [0, 1, 2], overrides={**over, "strategy": strat})
    e = [r for r in tr["records"] if r["stage"] == "end"]
    comm = 1.2
    worst = 0.0
    moved = 0.0
    for a, b in zip(e[:-1], e[1:]):
        moved = max(moved, float(np.max(np.abs(b["spot"] / a["spot"] - 1.0))))
        pnl = lambda r: r["realized"] - 100.0 * (r["n_put"] * r["val_put"] + r["n_call"] * r["val_call"])  # noqa: E731
        loss = pnl(a) - pnl(b)
        width = np.maximum(a["kps"] - a["kpl"], a["kcl"] - a["kcs"])
        n = np.maximum(a["n_put"], a["n_call"])
        bound = (1.0 + b["rolled"]) * (100.0 * n * width + 4.0 * comm * n)
        open_ = n > 0
        assert np.all(loss[open_] <= bound[open_] + 1e-6), (b["t"], loss, bound)
        worst = max(worst, float(np.max(np.where(open_, loss / np.where(open_, 100.0 * n * width, 1.0), 0.0))))
    assert moved > 0.2, "the storm should move SPX by more than 20% in a step (else the test sees nothing extreme)"
    assert worst > 0.5, "some condor should lose at least half its width in a step"


# ----------------------------------------------------------------------------- the summary of `alvh run`
def test_run_summary_prints_excess_pnl_and_the_per_layer_table(tmp_path):
    import yaml
    from click.testing import CliRunner

    from gpu_alvh.cli import main
    from gpu_alvh.results import open_results

    sc = tmp_path / "det.yaml"
    strat = {"layers": [7, 21], "hedge": {"enabled": False}, "baselines": []}
    sc.write_text(yaml.safe_dump(det_scenario([-0.012] * 10 + [0.0] * 3, strategy=strat, name="det_rules")))
    out = tmp_path / "r.zarr"
    r = CliRunner().invoke(main, ["run", str(sc), "--paths", "2", "--backend", "numpy", "--no-progress", "--out", str(out)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    ds = open_results(out).sel(scenario="det_rules", strategy="alvh")
    lines = r.output.splitlines()
    head = next(i for i, s in enumerate(lines) if "mean P&L $" in s)
    assert "over cash $" in lines[head]
    assert f"{float(ds['excess_pnl_mean']):,.0f}" in lines[head + 1] and lines[head + 1].startswith("alvh")
    table = next(i for i, s in enumerate(lines) if s.startswith("layers (means per path"))
    rows = [s for s in lines[table + 2: table + 4]]
    for s, lay in zip(rows, (7, 21)):
        x = ds.sel(layer=lay)
        assert s.split()[:2] == ["alvh", str(lay)]
        assert f"{float(x['stop_multiple_mean']):.2f}" in s and f"({float(x['stopped_lives']):.0f})" in s
        assert f"{float(x['layer_rolls'].mean()):.2f}" in s
