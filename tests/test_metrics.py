"""Summary statistics, claim estimators and daily-band quantiles."""

import math

import numpy as np
import pytest

from gpu_alvh.metrics import CLAIMS, Claim, hist_quantiles, mean_ci, ratio_ci, summary_statistics, verdict


def test_ratio_ci_covers_the_true_ratio_at_about_95_percent():
    rng = np.random.default_rng(0)
    hits = 0
    trials = 400
    for _ in range(trials):
        den = rng.gamma(2.0, 1.0, 300)
        num = 0.3 * den + rng.normal(0.0, 0.5, 300)
        r, lo, hi = ratio_ci(num, den)
        hits += lo <= 0.3 <= hi
    # binomial(400, 0.95): 4 standard deviations ~ 0.044
    assert abs(hits / trials - 0.95) < 0.045


def test_ratio_ci_without_data_is_nan():
    r, lo, hi = ratio_ci(np.zeros(5), np.zeros(5))
    assert math.isnan(r) and math.isnan(lo)


def test_mean_ci():
    x = np.random.default_rng(1).normal(2.0, 1.0, 10_000)
    m, lo, hi = mean_ci(x)
    assert lo < 2.0 < hi and hi - lo == pytest.approx(2 * 1.96 / 100, rel=0.05)


def test_hist_quantiles_match_sample_quantiles_to_a_bin():
    rng = np.random.default_rng(2)
    x = rng.normal(1.0, 0.2, 50_000)
    bins = (0.0, 2.0, 2000)
    idx = np.clip(np.floor((x - 0) / 2.0 * 2000), 0, 1999).astype(int)
    hist = np.bincount(idx, minlength=2000)[None, :]
    qs = (0.05, 0.5, 0.95)
    got = hist_quantiles(hist, bins, qs)[0]
    np.testing.assert_allclose(got, np.quantile(x, qs), atol=2.0 / 2000)


def test_var_and_cvar_definitions():
    pnl = np.arange(-50.0, 50.0)[None, :]  # 100 equally likely outcomes
    n = pnl.shape[1]
    derived = {k: np.zeros((1, n)) for k in ("sharpe", "sortino", "time_under_water", "ruined", "annualized_return")}
    pp = {"max_drawdown": np.zeros((1, n)), "hedge_pnl": np.zeros((1, n))}
    s = summary_statistics(pnl, derived, pp, np.array([1.0]), 1.0)
    assert s["var95"][0] == pytest.approx(-np.quantile(pnl, 0.05))
    tail = pnl[pnl <= np.quantile(pnl, 0.05)]
    assert s["cvar95"][0] == pytest.approx(-tail.mean())
    assert s["prob_loss"][0] == pytest.approx(0.5)


def test_verdicts():
    rng_claim = Claim("X", "x", "1", 0.35, 0.55)
    assert verdict(0.4, 0.3, 0.5, rng_claim) == "holds"
    assert verdict(0.1, 0.05, 0.2, rng_claim) == "not supported"
    assert verdict(0.6, 0.5, 0.7, rng_claim) == "holds"  # CI overlaps the claimed range
    assert verdict(0.8, 0.7, 0.9, rng_claim) == "exceeds"
    assert verdict(float("nan"), float("nan"), float("nan"), rng_claim) == "n/a"
    assert [c.key for c in CLAIMS][:3] == ["C1", "C1_life", "C2"]
