"""Activation conditions and indicators (signals of the hedge overlay)."""

import numpy as np
import pytest

from gpu_alvh.strategy.signals import Macd, WilderRsi, compile_condition


def test_comparisons_groups_and_crossings():
    cond = compile_condition({"any": [
        {"signal": "vix", "op": ">=", "value": 30.0},
        {"all": [{"signal": "spx_rsi14", "op": "<", "value": 40.0}, {"signal": "term_slope", "op": "crosses_below", "value": 0.0}]},
    ]})
    prev = {"vix": np.array([20.0, 20, 20, 20]), "spx_rsi14": np.array([35.0, 35, 35, 50]), "term_slope": np.array([1.0, -1.0, 1.0, 1.0])}
    now = {"vix": np.array([20.0, 20, 31, 20]), "spx_rsi14": np.array([35.0, 35, 50, 35]), "term_slope": np.array([-0.5, -2.0, 1.0, -1.0])}
    # path 0: slope crosses below 0 with RSI < 40; path 1: already below (no crossing);
    # path 2: VIX >= 30; path 3: RSI was 50 yesterday but is 35 now and the slope crosses: true
    np.testing.assert_array_equal(cond.evaluate(now, prev, np), [True, False, True, True])
    up = compile_condition({"all": [{"signal": "vix_macd_hist", "op": "crosses_above", "value": 0.0}]})
    np.testing.assert_array_equal(up.evaluate({"vix_macd_hist": np.array([0.1, 0.0, 0.2])}, {"vix_macd_hist": np.array([0.0, -1.0, 0.1])}, np),
                                  [True, False, False])


def test_per_strategy_thresholds_and_empty_condition():
    cond = compile_condition({"all": [{"signal": "vix", "op": ">", "value": 0.0}]},
                             value_of=lambda path, v: np.array([[20.0], [30.0]]))
    got = cond.evaluate({"vix": np.array([25.0, 35.0])}, {"vix": np.array([25.0, 35.0])}, np)
    np.testing.assert_array_equal(got, [[True, True], [False, True]])
    assert compile_condition(None).evaluate({}, {}, np) is True


def test_wilder_rsi_and_macd_against_loops():
    rng = np.random.default_rng(0)
    x = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 80)))
    rsi, macd = WilderRsi(14, np.array([x[0]]), 0.5, np), Macd(np.array([x[0]]))
    g = l = 0.5
    e12 = e26 = x[0]
    sig = 0.0
    for xi, xprev in zip(x[1:], x[:-1]):
        rsi.update(np.array([xi]))
        macd.update(np.array([xi]))
        d = xi - xprev
        g += (max(d, 0) - g) / 14
        l += (max(-d, 0) - l) / 14
        e12 += 2 / 13 * (xi - e12)
        e26 += 2 / 27 * (xi - e26)
        sig += 0.2 * ((e12 - e26) - sig)
    assert rsi.value[0] == pytest.approx(100 * g / (g + l), rel=1e-12)
    assert macd.hist[0] == pytest.approx((e12 - e26) - sig, rel=1e-10, abs=1e-12)
