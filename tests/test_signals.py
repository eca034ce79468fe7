"""Activation conditions and indicators of the hedge overlay, as the per-path program runs them."""

import numpy as np
import pytest

from gpu_alvh.strategy.params import COND, MAX_COND, _postfix
from gpu_alvh.strategy.signals import SIGNALS, compile_condition, condition_holds, macd_update, rsi_update, rsi_value

from .kernel_harness import map_kernel

IDX = {name: i for i, name in enumerate(SIGNALS)}


def _program(spec, j=0, value_of=None):
    cond = compile_condition(spec) if value_of is None else compile_condition(spec, value_of=value_of)
    rows = []
    if cond.items:
        _postfix(cond, j, rows)
    prog = np.zeros(max(len(rows), 1), COND)
    for i, r in enumerate(rows):
        prog[i] = r
    return prog, len(rows)


def _holds(prog, n, today: dict, yesterday: dict, target="python"):
    k = len(next(iter(today.values()))) if today else 1
    out = []
    for p in range(k):
        sig = np.zeros((2, len(SIGNALS)))
        for name, vals in today.items():
            sig[0, IDX[name]] = vals[p]
            sig[1, IDX[name]] = yesterday[name][p]
        out.append(bool(condition_holds(prog, 0, n, sig)))
    return out


def test_comparisons_groups_and_crossings():
    prog, n = _program({"any": [
        {"signal": "vix", "op": ">=", "value": 30.0},
        {"all": [{"signal": "spx_rsi14", "op": "<", "value": 40.0}, {"signal": "term_slope", "op": "crosses_below", "value": 0.0}]},
    ]})
    prev = {"vix": [20.0, 20, 20, 20], "spx_rsi14": [35.0, 35, 35, 50], "term_slope": [1.0, -1.0, 1.0, 1.0]}
    now = {"vix": [20.0, 20, 31, 20], "spx_rsi14": [35.0, 35, 50, 35], "term_slope": [-0.5, -2.0, 1.0, -1.0]}
    # path 0: slope crosses below 0 with RSI < 40; path 1: already below (no crossing);
    # path 2: VIX >= 30; path 3: RSI was 50 yesterday but is 35 now and the slope crosses: true
    assert _holds(prog, n, now, prev) == [True, False, True, True]
    up, n_up = _program({"all": [{"signal": "vix_macd_hist", "op": "crosses_above", "value": 0.0}]})
    assert _holds(up, n_up, {"vix_macd_hist": [0.1, 0.0, 0.2]}, {"vix_macd_hist": [0.0, -1.0, 0.1]}) == [True, False, False]


def test_deep_nesting_and_every_operator():
    leaf = lambda op, v: {"signal": "drawdown", "op": op, "value": v}  # noqa: E731
    spec = {"all": [{"any": [leaf("<", 0.1), {"all": [leaf(">", 0.5), leaf(">=", 0.6)]}]}, {"any": [leaf("<=", 0.05), leaf(">", 0.7)]}]}
    prog, n = _program(spec)
    for x in np.linspace(0, 1, 41):
        want = (x < 0.1 or (x > 0.5 and x >= 0.6)) and (x <= 0.05 or x > 0.7)
        assert _holds(prog, n, {"drawdown": [x]}, {"drawdown": [x]}) == [want], x
    assert n <= MAX_COND


def test_per_strategy_thresholds_and_empty_condition():
    spec = {"all": [{"signal": "vix", "op": ">", "value": 0.0}]}
    vals = lambda path, v: np.array([[20.0], [30.0]])  # noqa: E731 - two strategies' thresholds
    for j, want in ((0, [True, True]), (1, [False, True])):
        prog, n = _program(spec, j=j, value_of=vals)
        assert _holds(prog, n, {"vix": [25.0, 35.0]}, {"vix": [25.0, 35.0]}) == want
    empty, n0 = _program(None)
    assert n0 == 0 and condition_holds(empty, 0, 0, np.zeros((2, len(SIGNALS))))


@pytest.mark.parametrize("target", ["cpu", "cudasim"])
def test_wilder_rsi_and_macd_against_loops(target):
    rng = np.random.default_rng(0)
    x = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 80)))
    g = lo = 0.5
    e12 = e26 = x[0]
    sig = 0.0
    prev, gk, lk = x[0], 0.5, 0.5
    fast, slow, s9, hist = x[0], x[0], 0.0, 0.0
    for xi, xprev in zip(x[1:], x[:-1]):
        prev, gk, lk = map_kernel(rsi_update, target, np.array([prev]), np.array([gk]), np.array([lk]), np.array([xi]), n_out=3)
        fast, slow, s9, hist = map_kernel(macd_update, target, np.array([fast]), np.array([slow]), np.array([s9]), np.array([xi]), n_out=4)
        prev, gk, lk, fast, slow, s9, hist = (float(a[0]) for a in (prev, gk, lk, fast, slow, s9, hist))
        d = xi - xprev
        g += (max(d, 0) - g) / 14
        lo += (max(-d, 0) - lo) / 14
        e12 += 2 / 13 * (xi - e12)
        e26 += 2 / 27 * (xi - e26)
        sig += 0.2 * ((e12 - e26) - sig)
    assert rsi_value(gk, lk) == pytest.approx(100 * g / (g + lo), rel=1e-12)
    assert hist == pytest.approx((e12 - e26) - sig, rel=1e-10, abs=1e-12)
    assert rsi_value(0.0, 0.0) == 50.0


def test_front_strike_distance_is_shared_only_by_the_same_front_condor():
    """A row takes an earlier row's strike-distance signal of the step only when its front condor is the
    same (strikes, expiry, open or not); otherwise it computes its own, the value it has run alone.
    The per-path program runs as plain Python here."""
    from gpu_alvh.runner import baseline_rows, build_tables, compile_book, compile_scenario, get_backend, load_scenario
    from gpu_alvh.strategy import engine, marks
    from gpu_alvh.strategy.state import local_state

    spec = load_scenario("base")
    compiled = compile_scenario(spec)
    spx_table, _ = build_tables(compiled, compile_book(baseline_rows(spec.strategy_spec()), compiled), get_backend("numpy"))
    rec, nu = marks.spx_arrays(spx_table)
    spx = (rec, np.asarray(nu))
    Lg, _, _, Rg, *_ = local_state(2)
    Rg["front_t"] = -1
    for r in range(2):
        Lg[r, 0]["n_put"] = Lg[r, 0]["n_call"] = 3.0
        Lg[r, 0]["kps"], Lg[r, 0]["kcs"], Lg[r, 0]["expiry"], Lg[r, 0]["expiry_v"] = 4750.0, 5200.0, 30.0, 21.0 / 252.0
    market = (5.0, 5.0 / 252.0, 5000.0, (0.03, 0.0), 0.04, 0.013, spx)  # now, tv, spot, vs, rate, q, spx

    def distance(r, t=4):
        return engine._front_distance(Lg, Rg, r, t, *market)

    alone = distance(0)
    assert 0.0 < alone < 5.0
    Rg[0]["front_t"], Rg[0]["front_dist"] = 4, 123.0  # row 0's value of step 4 (a marker)
    assert distance(1) == 123.0  # the same front condor: shared
    assert distance(1, t=5) == alone  # another step: computed
    for field, value in (("kps", 4700.0), ("kcs", 5250.0), ("expiry", 31.0), ("expiry_v", 22.0 / 252.0)):
        keep = Lg[1, 0][field]
        Lg[1, 0][field] = value
        Rg[0]["front_t"] = -1
        own = distance(1)
        Rg[0]["front_t"] = 4
        assert distance(1) == own != 123.0, field  # a different front condor: its own value
        Lg[1, 0][field] = keep
    Lg[1, 0]["n_put"] = Lg[1, 0]["n_call"] = 0.0
    assert distance(1) == 99.0  # nothing open: 99, not row 0's
