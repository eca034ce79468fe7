"""No edge: in a market where P = Q, every option held to expiry has zero expected P&L (SPEC section 3).

The market: no ``pricing`` override (the paths' parameters are the pricing parameters), ``drift`` left
at its default ``rate - dividend_yield`` (an arithmetic rate: ``E[S_T] = S_0 e^{(r - q) T}`` with ``T``
in calendar years, the forward of the prices), no costs, no hedge.  If the paths and the prices keep
one clock, the discounted payoff of every option is a martingale, so for each entry

    X_p = e^{-r tau} payoff(S_T on path p) - price at entry,      E[X] = 0,

with ``tau`` calendar years to the expiry close, ``S_T`` the SPX close of the expiry session, the
expiries the engine's (:func:`~gpu_alvh.strategy.book.compile_book`), and the price and the strikes
(from delta, on the 5-point grid) the engine's functions (:mod:`gpu_alvh.strategy.marks`: the scalar
kernels the ladder calls, variance time = sessions / 252) on an IV table with the engine's time and
moneyness axes (:func:`_table`).
The test statistic is ``z = mean(X) / (std(X) / sqrt(n))``; for a condor ``X`` is the signed sum of
its four legs on the same paths (the P&L of the ladder's condor: short the inner legs, long the wings),
so the standard error includes their covariance.  Each statistic is also taken with the discounted
index ``e^{-r tau} S_T - S_0 e^{-q tau}`` (zero mean; its own z is checked) as control variate, which
removes the noise of the index level and leaves the variance the clock is about: the assertions use
that form.  (The raw form, ``measure(...)[dte]["z_raw"]``, reaches -4.0 for one long call, Monday 7 DTE,
on paths whose forward sits 2.85 standard errors low; 400,000 other paths put that call at +0.9.)

A residual this check found, since fixed: SVCJ variance jumps used to land at the end of a step, so the
step's own diffusion never saw them (``lambda mu_v dt / 2`` of integrated variance a year too little:
short-call z of -7 against COS at 2 million paths).  They now come at a uniform time within the step
(:mod:`gpu_alvh.kernels.market`, block VAR_JUMP_TIME).

Entries: Monday 2026-11-16 .. Friday 2026-11-20 (the 7-DTE lives of Thursday and Friday span
Thanksgiving and expire at the 13:00 early close of 2026-11-27; every 21/45/90-DTE life spans
Thanksgiving and the 45/90-DTE ones Christmas and New Year) and Thursday 2026-07-02 (before the
Independence Day holiday of Friday 2026-07-03), each at 7/21/45/90 DTE, one simulation per entry
date (all DTEs read the same paths at their expiry closes).  Markets: Heston, and the library's
SVCJ ``base`` and two-factor SVCJ2 ``base_2f``, each with its pricing override and drift removed.

The same check with the old clock (variance time = calendar days / 365 in the prices) fails
(:func:`test_the_check_sees_a_calendar_day_clock`), so the zeros above are a measurement.

Engine level: a one-layer 7-DTE ladder run through the engine in the no-edge market (Heston; and
``base_2f``, on coarse tables and, ``-m heavy``, on the engine's own), with exits that never fire
before expiry, has zero expected excess P&L over cash (:func:`test_engine_condor_lives_have_no_edge`).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import pytest

from gpu_alvh.backend import get_backend
from gpu_alvh.compile import compile_scenario
from gpu_alvh.paths import simulate_arrays
from gpu_alvh.pricing.tables import SpxTable
from gpu_alvh.spec import load_scenario, load_strategy
from gpu_alvh.spec.strategy import StrategySpec
from gpu_alvh.strategy import marks
from gpu_alvh.strategy.book import StrategyRow, compile_book

N_PATHS = 50_000
SEED = 20261116
Z_MAX = 4.0
DTES = (7, 21, 45, 90)
SHORT_DELTA = StrategySpec().short_delta  # the engine's defaults: 16-delta shorts, 50-point wings
WING = StrategySpec().wing_width
ENTRIES = ("2026-11-16", "2026-11-17", "2026-11-18", "2026-11-19", "2026-11-20", "2026-07-02")
LEGS = (("short_put", False, -1.0), ("long_put", False, 1.0), ("short_call", True, -1.0), ("long_call", True, 1.0))
# the engine's SPX table for a ladder up to 90 DTE (gpu_alvh.runner.build_tables: ceil((90 + 10) / 30) * 30 days)
TABLE_DAYS = 120.0
NO_COSTS = {k: {"commission": 0.0, "half_spread_points": 0.0, "half_spread_pct": 0.0} for k in ("spx", "vix", "vix_future")}


def _heston() -> dict:
    return {"name": "noedge_heston", "model": "heston", "params": {"kappa": 2.0, "theta": 0.03, "sigma": 0.5, "rho": -0.7},
            "vix": 16.0, "spot": 7500.0, "rate": 0.04, "dividend_yield": 0.012, "start": "2026-07-31", "horizon": 1}


def _no_edge(library_name: str) -> dict:
    """A library scenario's market with P = Q: its pricing override and drift removed."""
    d = load_scenario(library_name).to_dict()
    for k in ("pricing", "drift", "description", "source"):
        d.pop(k, None)
    d["name"] = f"noedge_{library_name}"
    return d


MARKETS = {"heston": _heston, "svcj_base": lambda: _no_edge("base"), "svcj2_base": lambda: _no_edge("base_2f")}


def _scenario(market: str, start: str, horizon: int, **extra) -> dict:
    d = {**MARKETS[market](), "start": start, "horizon": horizon, **extra}
    d["name"] = f"{d['name']}_{start.replace('-', '')}"
    return d


@lru_cache(maxsize=None)
def _table(market: str) -> SpxTable:
    """The SPX implied-vol table the prices are read from: the engine's time and moneyness axes (those of
    ``build_tables`` for a ladder up to 90 DTE) with a two-node variance axis whose first node is the
    entry variance ``v0`` (two factors: ``v0 + v2_0``), so the variance interpolation is exact at the entry state (the engine's
    61-node variance axis costs 30x the COS work; it is checked against COS in ``tests/test_tables.py``,
    and the engine's own table is the one :func:`test_engine_condor_lives_have_no_edge` runs on).
    """
    c = compile_scenario(_scenario(market, ENTRIES[0], 1))
    v_total = c.v0 + c.v2_0  # two factors: the variance axis holds v + v2 (the share axis is the table's own)
    narrow = {"v_min": v_total, "v_max": 2.0 * v_total, "n_v": 2, "order": (1, 1, 3)}  # linear in the 2 variance nodes
    return SpxTable.build(c.model_q, rate=c.rate, dividend_yield=c.dividend_yield, backend="numpy", max_days=TABLE_DAYS, **narrow)


def _expiries(compiled) -> tuple[np.ndarray, np.ndarray]:
    """The engine's expiries of new positions at step 0: calendar days since the start close, variance years."""
    spec = load_strategy({"layers": list(DTES), "hedge": {"enabled": False}, "baselines": []})
    book = compile_book([StrategyRow("probe", spec)], compiled)
    return book.spx_expiry[0], book.spx_expiry_v[0]


def _entry(spx, spot, vs, tau, tau_v):
    """Strikes and mid prices of the four legs of a new condor, as :func:`gpu_alvh.strategy.ladder.enter` opens it."""
    kps = marks.strike_for_delta(spx, spot, vs, tau, tau_v, SHORT_DELTA, False)
    kcs = marks.strike_for_delta(spx, spot, vs, tau, tau_v, SHORT_DELTA, True)
    strikes = (kps, max(kps - WING, marks.SPX_GRID), kcs, kcs + WING)
    ctx = marks.spx_ctx(spx, spot, vs, tau, tau_v)
    return strikes, tuple(marks.leg_price(spx, ctx, k, leg[1]) for k, leg in zip(strikes, LEGS))


def _z(x: np.ndarray, control: np.ndarray | None = None) -> float:
    """``mean / standard error`` of ``x``, or of ``x - b control`` (``b`` the regression coefficient on
    the same draws) for a zero-mean ``control``: the same null hypothesis with the noise of the index
    level taken out."""
    if control is not None:
        c = control - control.mean()
        x = x - (np.dot(x - x.mean(), c) / np.dot(c, c)) * control
    return float(x.mean() / (x.std(ddof=1) / math.sqrt(x.size)))


@lru_cache(maxsize=None)
def measure(market: str, start: str, clock: str = "sessions") -> dict:
    """Per DTE: z of the forward, and z of each leg and of the condor (raw, and with the forward as
    control variate), for entries at the start close of ``start`` (see module doc).

    ``clock="calendar"`` prices with the old clock (variance time = calendar days / 365) on the same paths.
    """
    probe = compile_scenario(_scenario(market, start, 70))
    exp_days, exp_v = _expiries(probe)
    n_exp = np.rint(exp_v * 252.0).astype(int)
    assert np.allclose(n_exp / 252.0, exp_v, rtol=0, atol=1e-12)  # expiries at session closes
    compiled = compile_scenario(_scenario(market, start, int(n_exp.max())))
    t0 = compiled.times[0]
    for days, n in zip(exp_days, n_exp):  # the expiry close is a step of the paths: one clock
        assert compiled.times[n] == t0 + np.timedelta64(int(round(days * 86_400e9)), "ns")
    paths = simulate_arrays(compiled, get_backend("numpy"), 0, N_PATHS, seed=SEED)
    spx = marks.spx_arrays(_table(market))
    s0, r, q = compiled.spot, compiled.rate, compiled.dividend_yield
    out = {}
    for j, dte in enumerate(DTES):
        tau = exp_days[j] / 365.0
        tau_v = exp_v[j] if clock == "sessions" else tau
        strikes, prices = _entry(spx, s0, (compiled.v0, compiled.v2_0), tau, tau_v)
        s_t = paths["spx"][:, n_exp[j]]  # the SPX close of the expiry session
        disc = math.exp(-r * tau)
        x = {}
        for (name, is_call, _), k, p in zip(LEGS, strikes, prices):
            x[name] = disc * np.maximum(s_t - k if is_call else k - s_t, 0.0) - p
        x["condor"] = sum(sign * x[name] for name, _, sign in LEGS)  # the ladder's condor (short the inner legs), per unit
        fwd = disc * s_t - s0 * math.exp(-q * tau)  # the discounted index: a zero-strike call, zero mean
        out[dte] = {"z": {k: _z(v, fwd) for k, v in x.items()}, "z_raw": {k: _z(v) for k, v in x.items()},
                    "forward": _z(fwd), "credit": -sum(sign * p for (_, _, sign), p in zip(LEGS, prices)), "sessions": int(n_exp[j])}
    return out


@pytest.mark.parametrize("start", ENTRIES)
@pytest.mark.parametrize("market", list(MARKETS))
def test_options_and_condors_held_to_expiry_have_no_edge(market, start):
    res = measure(market, start)
    bad = {(dte, k): round(z, 2) for dte, row in res.items() for k, z in row["z"].items() if abs(z) > Z_MAX}
    bad.update({(dte, "forward"): round(row["forward"], 2) for dte, row in res.items() if abs(row["forward"]) > Z_MAX})
    assert not bad, f"{market}, entry {start}: |z| > {Z_MAX} for {bad}; all: {res}"
    assert all(row["credit"] > 0.0 for row in res.values())  # real condors (not degenerate zero-price legs)


def test_the_check_sees_a_calendar_day_clock():
    """Priced with variance time = calendar days / 365, the Friday 7-DTE condor (4 sessions in 7 days
    over Thanksgiving) is overpriced: the statistic that stays within 4 standard errors above leaves them."""
    res = measure("heston", "2026-11-20", clock="calendar")[7]
    assert res["sessions"] == 4
    assert res["z"]["short_put"] < -Z_MAX and res["z"]["short_call"] < -Z_MAX, res


# ----------------------------------------------------------------------------- the engine
ENGINE_PATHS = 8000
ENGINE_STRATEGY = {"layers": [7], "hedge": {"enabled": False}, "baselines": [], "cascade": {"enabled": False},
                   "profit_target": 1.0, "stop_multiple": 50.0, "time_exit_dte": [0], "costs": NO_COSTS}
# the two-factor engine run of the default suite reads tables on coarser grids than the engine's own (its
# SPX table takes 1.5-2.5 minutes to build, its VIX table ~70 s): the clock, the two-factor state in the marks
# and the settlement are what it checks; the tables' own accuracy is checked in tests/test_tables_2f.py
# and tests/test_vix_table_2f.py, and the heavy variant runs on the engine's own tables
COARSE_2F = {"spx": {"n_tau": 27, "n_v": 31, "n_f": 5, "n_z": 81}, "vix": {"n_tau": 17, "n_v": 21, "n_xi": 81, "n_v2": 9}}


def _engine_excess(market: str, coarse: bool) -> tuple[np.ndarray, object]:
    """Per-path P&L in excess of cash, ``NAV_T - NAV_0 e^{r T}``, of the one-layer 7-DTE ladder of
    :func:`test_engine_condor_lives_have_no_edge` over a quarter, and the run's dataset row."""
    from gpu_alvh.pricing.vix import VixTable
    from gpu_alvh.results import run_dataset
    from gpu_alvh.runner import run_scenario

    sc = _scenario(market, "2026-11-16", 63, strategy=ENGINE_STRATEGY)
    compiled = compile_scenario(sc)
    tables = None
    if coarse:  # the expiry ranges of the engine's own tables for this book (build_tables: 30 and 150 days), on the COARSE_2F grids
        q, kw = compiled.model_q, {"rate": compiled.rate, "backend": "numpy"}
        tables = ((SpxTable.build(q, dividend_yield=compiled.dividend_yield, max_days=30.0, **kw, **COARSE_2F["spx"]),),
                  (VixTable.build(q, max_days=150.0, **kw, **COARSE_2F["vix"]),))
    out = run_scenario(sc, n_paths=ENGINE_PATHS, seed=SEED, backend="numpy", tables=tables)
    ds = run_dataset([out]).isel(scenario=0, strategy=0)
    growth = math.exp(compiled.rate * float(compiled.dcal.sum()))
    return ds["final_nav"].values - float(load_strategy(ENGINE_STRATEGY).nav) * growth, ds


ENGINE_CASES = [
    pytest.param("heston", False, id="heston"),
    pytest.param("svcj2_base", True, id="svcj2_base-coarse_tables"),
    pytest.param("svcj2_base", False, id="svcj2_base-engine_tables", marks=pytest.mark.heavy),
]


@pytest.mark.parametrize("market, coarse", ENGINE_CASES)
def test_engine_condor_lives_have_no_edge(market, coarse):
    """A one-layer 7-DTE ladder over a quarter (12 condor lives per path, each held to its
    settlement: no stops, no targets, no time exit, no cascade, no hedge, no costs) run by the engine
    (:func:`gpu_alvh.runner.run_scenario`, as :func:`gpu_alvh.run`): its P&L in excess of cash,
    ``NAV_T - NAV_0 e^{r T}``, is a sum of discounted payoffs minus prices, each of zero mean, and the
    last life's mark at its price.  Heston: the same run on the code before the one-clock fix (variance
    time = calendar days / 365 in the prices) made $421 per life, z = +5.5; after it, -$51 per life,
    z = -0.7.  Two factors (base_2f with P = Q): both variances carried through entry, marks and
    settlement."""
    excess, ds = _engine_excess(market, coarse)
    entries = ds["n_entries"].values
    assert entries.min() == entries.max() >= 12  # the same schedule on every path: every life ran to its settlement
    assert ds["n_stops"].values.max() == 0 and float(ds["costs"].values.max()) == 0.0
    z = _z(excess)
    assert abs(z) <= Z_MAX, (z, excess.mean(), excess.std(ddof=1) / math.sqrt(excess.size))
