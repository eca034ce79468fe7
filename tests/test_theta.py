"""Theta is the one-session change of the marks on a day with no move (SPEC section 3, issue 9).

The engine reports a layer's theta (``mean_theta``, $ per trading day) as the change of its marks from a
day close to the next session's close at unchanged spot and variance state: one session of variance time
(1/252) and the calendar time between the two closes (3 days over a weekend, 45 hours from a Wednesday
close to the 13:00 early close after Thanksgiving).  The market here has no smile and no move: Heston with
zero vol of vol and ``v0 = theta`` (the variance stays at ``theta``, every implied vol is ``sqrt(theta)``)
and an ``spx_return`` shock of 0 on day 1 (the close equals the previous one).  Checked, for a 7-DTE and a
45-DTE condor opened at a day close:

* every leg's mark, at the entry close and at the next close, against an independent Black-Scholes
  (SciPy's normal CDF; calendar years from the session closes of ``exchange_calendars``, variance years
  from its session count);
* the reported theta against that Black-Scholes one-session change of the condor, and against the layer
  P&L of the no-move day itself.
"""

from __future__ import annotations

import math

import exchange_calendars as xcals
import pandas as pd
import pytest
from scipy.stats import norm

import gpu_alvh
from gpu_alvh.runner import trace

THETA = 0.03
R, Q = 0.04, 0.012
NO_COSTS = {k: {"commission": 0.0, "half_spread_points": 0.0, "half_spread_pct": 0.0} for k in ("spx", "vix", "vix_future")}
STRATEGY = {"layers": [7, 45], "hedge": {"enabled": False}, "baselines": [], "cascade": {"enabled": False},
            "profit_target": 1.0, "stop_multiple": 50.0, "time_exit_dte": [0, 0], "costs": NO_COSTS}
XNYS = xcals.get_calendar("XNYS")
YEAR = pd.Timedelta(days=365)


def _scenario(start: str) -> dict:
    return {"name": f"theta_{start.replace('-', '')}", "model": "heston",
            "params": {"kappa": 2.0, "theta": THETA, "sigma": 0.0, "rho": -0.7, "v0": THETA}, "spot": 7500.0, "rate": R,
            "dividend_yield": Q, "start": start, "horizon": 1, "shocks": [{"spx_return": 0.0, "day": 1}], "paths": 1, "seed": 0,
            "strategy": STRATEGY}


def _close(day: pd.Timestamp) -> pd.Timestamp:
    """Session close, New York wall-clock time (tz-naive)."""
    return XNYS.session_close(day).tz_convert("America/New_York").tz_localize(None)


def _bs(spot, strike, tau, tau_v, is_call):
    """Black-Scholes at vol sqrt(THETA): forward and discount over calendar ``tau``, variance over ``tau_v``."""
    fwd, disc = spot * math.exp((R - Q) * tau), math.exp(-R * tau)
    sd = math.sqrt(THETA * tau_v)
    d1 = math.log(fwd / strike) / sd + 0.5 * sd
    d2 = d1 - sd
    if is_call:
        return disc * (fwd * norm.cdf(d1) - strike * norm.cdf(d2))
    return disc * (strike * norm.cdf(-d2) - fwd * norm.cdf(-d1))


CASES = [
    ("2026-11-13", "2026-11-16", 3.0),  # Friday -> Monday: one session, three days
    ("2026-11-17", "2026-11-18", 1.0),  # Tuesday -> Wednesday
    ("2026-11-25", "2026-11-27", 1.875),  # Wednesday -> the 13:00 close after Thanksgiving: 45 hours
]


@pytest.mark.parametrize("start, next_day, days", CASES)
def test_theta_is_the_one_session_change_of_the_marks(start, next_day, days):
    sc = _scenario(start)
    ds = gpu_alvh.run(sc, n_paths=1, seed=0).isel(scenario=0, strategy=0, path=0, missing_dims="ignore")
    tr = trace(sc, [0])
    ends = {r["t"]: r for r in tr["records"] if r["stage"] == "end"}
    marked = {r["t"]: r for r in tr["records"] if r["stage"] == "marked"}
    e0, m1 = ends[0], marked[1]
    assert m1["spot"] == e0["spot"] == 7500.0  # the no-move day
    t0, t1 = _close(pd.Timestamp(start)), _close(pd.Timestamp(next_day))
    assert (t1 - t0) / pd.Timedelta(days=1) == pytest.approx(days)
    is_call = (False, False, True, True)
    sign = (-1.0, 1.0, -1.0, 1.0)  # short put, long put, short call, long call
    for k, dte in enumerate(STRATEGY["layers"]):
        expiry = t0 + pd.Timedelta(days=float(e0["expiry"][k, 0]))
        session = expiry.normalize()
        assert XNYS.is_session(session) and expiry == _close(session)
        assert abs((session - pd.Timestamp(start)).days - dte) <= 3
        sessions = len(XNYS.sessions_in_range(pd.Timestamp(start), session)) - 1
        tau, tau_v = (expiry - t0) / YEAR, sessions / 252.0
        tau1, tau_v1 = (expiry - t1) / YEAR, (sessions - 1) / 252.0
        strikes = [float(e0[f][k, 0]) for f in ("kps", "kpl", "kcs", "kcl")]
        n = float(e0["n_put"][k, 0])
        assert n > 0 and float(e0["n_call"][k, 0]) == n
        change = 0.0
        for leg in range(4):
            now = _bs(7500.0, strikes[leg], tau, tau_v, is_call[leg])
            nxt = _bs(7500.0, strikes[leg], tau1, tau_v1, is_call[leg])
            assert float(e0["leg_price"][leg, k, 0]) == pytest.approx(now, rel=1e-7, abs=1e-7)  # single legs, both days
            assert float(m1["leg_price"][leg, k, 0]) == pytest.approx(nxt, rel=1e-7, abs=1e-7)
            change += sign[leg] * (nxt - now)
        expected = 100.0 * n * change  # $ per session: the condor's marks move by -change, its holder gains change
        theta = float(ds["mean_theta"].sel(layer=ds["layer"].values[k], day=0))
        assert theta == pytest.approx(expected, rel=1e-6)
        assert expected > 0.0  # a short condor earns time decay on a quiet day
        # and it is the layer P&L of the no-move day (horizon 1: entry at day 0, marked at day 1, no costs)
        assert float(ds["layer_pnl"].sel(layer=ds["layer"].values[k])) == pytest.approx(theta, rel=1e-9)
