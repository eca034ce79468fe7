"""The P / Q fit (gpu_alvh.calibration.fit): round trip on known targets, the library's closed-form match."""

from __future__ import annotations

import pytest

from gpu_alvh.calibration.check import compare, simulate_market
from gpu_alvh.calibration.fit import FIT_TARGETS, START, calibrate
from gpu_alvh.calibration.history import shipped_frame
from gpu_alvh.calibration.moments import model_statistics
from gpu_alvh.calibration.stats import MarketStats, StatValue, history_statistics
from gpu_alvh.models import SVCJ
from gpu_alvh.spec import list_library, load_scenario

#: a market 10-30% away from the fit's starting point in every free parameter
TRUTH_P = {**START["p"], "kappa": 6.0, "theta": 0.02, "sigma": 0.7, "rho": -0.8, "jump_intensity": 2.5, "jump_mean": -0.03,
           "var_jump_mean": 0.025, "jump_corr": -0.8}
TRUTH_Q = {"kappa": 2.0, "theta": 0.06, "jump_intensity": 4.0, "jump_mean": -0.06, "var_jump_mean": 0.05}
TRUTH_DRIFT = 0.09


def _targets(rel_se: float) -> MarketStats:
    m = model_statistics(SVCJ(**TRUTH_P), SVCJ(**{**TRUTH_P, **TRUTH_Q}), TRUTH_DRIFT)
    keys = list(FIT_TARGETS) + ["spx_log_growth"]
    return MarketStats({k: StatValue(m[k], rel_se * abs(m[k]), 1000) for k in keys}, "synthetic", 10)


def test_fit_round_trips_known_moments():
    targets = _targets(0.05)
    # a coarse chain inside the objective (errors below 3.5%, see test_calibration_moments); the
    # reported fitted values use the fine one
    res = calibrate(targets, starts=(START,), max_nfev=40, n_cells=120, nodes=12)
    # every statistic back within its (5%) error, the drift exact
    for key, _, _, t, se, fitted, z, used in res.rows():
        assert abs(z) <= 1.0, (key, t, fitted)
    assert res.fitted["spx_log_growth"] == pytest.approx(targets.value("spx_log_growth"), abs=1e-6)
    assert res.drift == pytest.approx(TRUTH_DRIFT, abs=5e-3)
    # the identified parameters come back close to the truth
    assert res.params["kappa"] == pytest.approx(TRUTH_P["kappa"], rel=0.2)
    assert res.pricing["kappa"] == pytest.approx(TRUTH_Q["kappa"], rel=0.2)
    assert "sigma" not in res.pricing  # no VVIX target: Q keeps the P vol of variance


def test_fit_without_term_structure_uses_what_is_there():
    full = _targets(0.05)
    keep = {k: v for k, v in full.values.items() if not (k.startswith("ts") or k in ("vrp_var_9", "vrp_var_93"))}
    res = calibrate(MarketStats(keep, "synthetic", 10), starts=(START,), max_nfev=5, n_cells=120, nodes=10)
    assert not any(k.startswith("ts") for k in res.used) and "vrp_var_30" in res.used
    assert set(res.pricing) >= {"kappa", "theta"}


@pytest.fixture(scope="module")
def history():
    return history_statistics(shipped_frame())


#: statistics the library calibration claims to match, and those it does not (docs/scenarios.md, Calibration)
CLAIMED = FIT_TARGETS + ("spx_log_growth", "vrp_vol_30", "vrp_vol_93", "vvix_p5", "vvix_p50")
NOT_MATCHED = ("vrp_vol_9", "vix_half_life_252", "vvix_p95")


def test_library_base_matches_the_history_in_closed_form(history):
    spec = load_scenario("base")
    m = model_statistics(spec.model_p(), spec.model_q(), spec.effective_drift())
    for key in FIT_TARGETS:
        t = history[key]
        z = (m[key] - t.value) / max(t.se, 0.01 * abs(t.value))
        assert abs(z) <= 2.0, (key, t.value, m[key], z)
    assert m["spx_log_growth"] == pytest.approx(history.value("spx_log_growth"), abs=0.05)


def test_svcj_library_files_share_the_calibrated_market():
    base = load_scenario("base")
    for name in list_library():
        spec = load_scenario(name)
        if spec.model != "svcj":
            continue
        assert dict(spec.params) == dict(base.params), name
        assert dict(spec.pricing) == dict(base.pricing), name
        if spec.historical is not None:
            continue  # an episode takes its drift and start from the real closes
        assert spec.effective_drift() == base.effective_drift(), name
        assert "alvh calibrate" in spec.source, name
        assert spec.vix > spec.model_q().vix_floor() + 1.0, name  # the start is not pinned at the model's floor


def test_scenarios_check_base_is_within_sampling_error_of_history(history):
    model = simulate_market("base", n_paths=300, years=4, backend="numpy")
    rows = {r.key: r for r in compare(model, history)}
    assert set(rows) == set(CLAIMED) | set(NOT_MATCHED)  # every statistic is claimed or listed as a miss
    for key in CLAIMED:
        assert abs(rows[key].z) <= 4.0, (key, rows[key])


def test_two_factor_library_market_matches_what_one_factor_cannot(history):
    """base_2f (docs/scenarios.md, Two variance factors): every statistic within 4 combined standard errors at
    300 paths x 4 years, the three base misses among them, each with |z| <= 2 - and the same check fails them
    for base (the test can fail)."""
    two = {r.key: r for r in compare(simulate_market("base_2f", n_paths=300, years=4, backend="numpy", atm=False), history)}
    assert set(two) == set(CLAIMED) | set(NOT_MATCHED)
    for key, r in two.items():
        assert abs(r.z) <= 4.0, (key, r)
    one = {r.key: r for r in compare(simulate_market("base", n_paths=300, years=4, backend="numpy"), history)}
    for key in NOT_MATCHED:
        assert abs(two[key].z) <= 2.0 < abs(one[key].z), (key, two[key], one[key])
