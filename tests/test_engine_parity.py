"""The fused per-path engine equals the vectorised (array) engine it replaces.

Every library scenario (shortened) and strategy variants covering every rule: the dense and sparse hedge
rules, every hedge instrument, cascade on / off / deeper, wing deltas, events, shocks, intraday steps.
Per-path results must agree to float rounding: both engines run the same formulas, in a different order
of summation only (matrix products over slots in the array engine), so a relative difference of 1e-9
(1e-6 $ absolute) already means a different rule fired.
"""

from __future__ import annotations

import numpy as np
import pytest

from gpu_alvh.run import run_scenario
from gpu_alvh.spec import list_library, load_scenario

RTOL, ATOL = 1e-9, 1e-6
KEYS = ("final_pnl", "min_nav", "max_drawdown", "worst_day", "n_stops", "n_rolls", "n_entries", "hedge_premium", "hedge_pnl", "interest",
        "costs", "peak_gamma", "peak_gamma_near_expiry", "margin_peak", "under_water_days", "sum_r", "sum_r2", "sum_neg2", "c1_loss",
        "c1_off", "c3_off", "c7f_loss", "c7f_off", "c7c_loss", "c7c_off", "c2_num", "c2_den", "c6_num", "c6_den", "layer_pnl", "layer_stops",
        "layer_peak_gamma", "spx_final", "vix_final")


def _compare(spec, n_paths=16, seed=3, **kw):
    a = run_scenario(spec, n_paths=n_paths, seed=seed, backend="numpy", engine="vectorised", **kw)
    b = run_scenario(spec, n_paths=n_paths, seed=seed, backend="numpy", engine="fused", **kw)
    pa, pb = a["parts"][0]["per_path"], b["parts"][0]["per_path"]
    for k in KEYS:
        np.testing.assert_allclose(pb[k], pa[k], rtol=RTOL, atol=ATOL, err_msg=f"{spec.name}: {k}")
    sa, sb = a["parts"][0]["sums"], b["parts"][0]["sums"]
    for k in ("nav_hist", "spx_hist", "vix_hist"):
        np.testing.assert_array_equal(sb[k], sa[k], err_msg=k)
    np.testing.assert_allclose(sb["greek_sums"], sa["greek_sums"], rtol=RTOL, atol=1e-6)
    return a, b


@pytest.mark.parametrize("name", [n for n in list_library()])
def test_fused_equals_vectorised_on_the_library(name):
    spec = load_scenario(name)
    if spec.horizon > 60 and spec.historical is None:  # shortened (base has no shocks or events to cut)
        spec = load_scenario(name, overrides={"horizon": 30})
    _compare(spec, batch_size=16)


VARIANTS = {
    "future_hedge": {"hedge": {"layers": [{"name": "fut", "instrument": "future", "weight": 0.6, "tenor": "auto"}]}},
    "call_hedge_fixed_tenor": {"hedge": {"layers": [{"name": "c", "instrument": "call", "weight": 0.5, "tenor": [20, 50],
                                                       "when": {"any": [{"signal": "vix", "op": "crosses_above", "value": 18.0},
                                                                        {"signal": "drawdown", "op": ">", "value": 0.01}]}}]}},
    "butterfly_only": {"hedge": {"layers": [{"name": "fly", "instrument": "butterfly", "weight": 1.0, "width": 4.0,
                                              "when": {"all": [{"signal": "spx_rsi14", "op": "<", "value": 55.0},
                                                               {"any": [{"signal": "term_slope", "op": "<", "value": 2.0},
                                                                        {"signal": "ladder_delta", "op": "<", "value": 0.0}]}]}}]}},
    "cascade_deep_half": {"cascade": {"enabled": True, "fraction": 0.5, "depth": 3}, "stop_multiple": 1.2},
    "cascade_off": {"cascade": {"enabled": False}, "stop_multiple": 1.2},
    "wing_delta": {"wing_delta": 0.05, "short_delta": 0.2},
    "tight_budget": {"hedge": {"budget_pct": 0.3, "budget_lead_years": 0.05, "target_fraction": 1.5, "rebalance_band": 0.0}},
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_fused_equals_vectorised_on_strategy_variants(variant):
    spec = load_scenario("vol_expansion", overrides={"horizon": 30, "strategy": VARIANTS[variant]})
    _compare(spec, n_paths=12)
