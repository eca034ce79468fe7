"""The claims table on a small run, the baseline registry, and the combined estimators' intervals."""

import math

import numpy as np
import pytest

from gpu_alvh.claims import CLAIMS, NO_CLAIM, Claim, Estimate, verdict
from gpu_alvh.spec.baselines import BASELINES, REGISTRY
from gpu_alvh.spec.strategy import StrategySpec, default_strategy
from gpu_alvh.strategy.book import baseline_rows


def test_baselines_come_from_the_registry():
    assert BASELINES == tuple(REGISTRY) and StrategySpec().baselines == BASELINES
    rows = baseline_rows(default_strategy())
    assert [r.label for r in rows] == ["alvh", *BASELINES]
    spec = {r.label: r.spec for r in rows}
    assert not spec["alvh_no_cascade"].cascade.enabled and spec["alvh_no_cascade"].hedge == spec["alvh"].hedge
    fly = spec["butterfly_only"].hedge
    assert [lay.instrument for lay in fly.layers] == ["butterfly"] and fly.layers[0].when is None and fly.layers[0].weight == 1.0
    assert 2.0 <= fly.budget_pct <= 5.0 and fly.enabled
    assert not spec["ladder_unhedged"].hedge.enabled and spec["single_45"].layers == (45,)


def test_ratio_of_ratios_ci_covers_at_about_95_percent():
    rng = np.random.default_rng(5)
    hits, trials = 0, 400
    for _ in range(trials):
        d1, d0 = rng.gamma(2.0, 1.0, 300), rng.gamma(3.0, 1.0, 300)
        n1 = 0.3 * d1 + rng.normal(0.0, 0.5, 300)
        n0 = 0.5 * d0 + 0.3 * (n1 - 0.3 * d1) + rng.normal(0.0, 0.5, 300)  # correlated on the same paths
        _, lo, hi = (Estimate.ratio(n1, d1) / Estimate.ratio(n0, d0)).ci()
        hits += lo <= 0.6 <= hi
    assert abs(hits / trials - 0.95) < 0.045  # binomial(400, 0.95): 4 sd


def test_value_claims_and_reported_lines():
    value = Claim("X", "", "fraction", 0.3, 0.3, direction="value")
    assert verdict(0.5, 0.45, 0.55, value) == "not supported" and verdict(0.1, 0.05, 0.15, value) == "not supported"
    assert verdict(0.31, 0.25, 0.35, value) == "holds"
    line = Claim("Y", "", "bp/yr", math.nan, math.nan)
    assert verdict(12.0, 5.0, 20.0, line) == NO_CLAIM and verdict(math.nan, math.nan, math.nan, line) == "n/a"


@pytest.fixture(scope="module")
def small_run():
    import gpu_alvh as ga
    from gpu_alvh.spec import load_scenario

    return ga.run(load_scenario("vol_expansion", overrides={"horizon": 40}), n_paths=200, backend="numpy").isel(scenario=0)


def test_claims_table_on_a_small_run(small_run):
    d = small_run
    assert list(d["strategy"].values) == ["alvh", *BASELINES]
    assert [str(k) for k in d["claim"].values] == [c.key for c in CLAIMS]
    claims = {c.key: c for c in CLAIMS}
    for key in d["claim"].values:
        r = d.sel(claim=key)
        m, lo, hi = float(r["measured"]), float(r["ci_low"]), float(r["ci_high"])
        v = str(r["verdict"].values)
        c = claims[str(key)]
        if math.isfinite(m):
            assert math.isfinite(lo) and math.isfinite(hi) and lo <= m <= hi, key
            assert v == verdict(m, lo, hi, c)
        else:
            assert v == "n/a", key
        assert bool(r["annualised"]) == str(key).startswith("C4")
    # rows that must have data in a 40-day vol expansion with the default book
    for key in ("C1", "C1_life", "C3_without", "C3_with", "C3_lift", "C4", "C4_overlay", "C5", "C5_loss", "C6_up", "C6_probe"):
        assert math.isfinite(float(d["measured"].sel(claim=key))), key
    assert "under a quarter" in str(d["claim_note"].sel(claim="C4").values)


def test_claims_are_the_paired_differences_they_say(small_run):
    d = small_run
    nav = d["final_nav"]
    nav0 = float(nav.sel(strategy="alvh").isel(path=0) - d["final_pnl"].sel(strategy="alvh").isel(path=0))
    from gpu_alvh.compile import compile_scenario
    from gpu_alvh.spec import load_scenario

    times = compile_scenario(load_scenario("vol_expansion", overrides={"horizon": 40})).times
    years = float((times[-1] - times[0]) / np.timedelta64(1, "D")) / 365.0
    diff = (nav.sel(strategy="alvh") - nav.sel(strategy="alvh_no_cascade")).values / nav0 * 1e4 / years
    assert float(d["measured"].sel(claim="C4")) == pytest.approx(diff.mean(), rel=1e-9)
    lift = float(d["measured"].sel(claim="C3_with")) - float(d["measured"].sel(claim="C3_without"))
    assert float(d["measured"].sel(claim="C3_lift")) == pytest.approx(lift, abs=1e-12)
    rel = float(d["measured"].sel(claim="C7_fomc")) / float(d["measured"].sel(claim="C1"))
    m = float(d["measured"].sel(claim="C7_fomc_rel"))
    assert (math.isnan(m) and math.isnan(rel)) or m == pytest.approx(rel)
