"""Market statistics (gpu_alvh.calibration.stats): synthetic series with known answers, the real history."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from gpu_alvh.calibration.history import shipped_frame
from gpu_alvh.calibration.stats import BLOCK, history_statistics, path_statistics

Z = 4.0  # |z| bound of the statistical checks


def _z(sv, truth):
    return (sv.value - truth) / sv.se


def _iid_market(rng, n_paths=300, n_days=756, sd_r=0.01, vix_level=20.0, vix_noise=0.05):
    """SPX with iid N(0, sd_r^2) log returns; VIX iid lognormal around ``vix_level``."""
    r = rng.normal(0.0, sd_r, (n_paths, n_days))
    spx = 100.0 * np.exp(np.concatenate([np.zeros((n_paths, 1)), np.cumsum(r, axis=1)], axis=1))
    vix = vix_level * np.exp(vix_noise * rng.standard_normal((n_paths, n_days + 1)))
    return spx, vix


def test_ar1_half_lives_have_the_known_values():
    rng = np.random.default_rng(1)
    half_life = 5.0
    phi = 0.5 ** (1.0 / half_life)
    n_paths, n_days = 200, 5 * BLOCK
    x = np.empty((n_paths, n_days + 1))
    x[:, 0] = rng.standard_normal(n_paths) / math.sqrt(1 - phi * phi)
    eps = rng.standard_normal((n_paths, n_days))
    for t in range(n_days):
        x[:, t + 1] = phi * x[:, t] + eps[:, t]
    vix = 20.0 * np.exp(0.1 * x)
    spx = np.full_like(vix, 100.0)
    st = path_statistics(spx, vix)
    assert abs(_z(st["vix_half_life"], half_life)) <= Z
    # within 252-session windows the OLS slope (intercept fitted) is biased by -(1 + 3 phi)/n (Kendall 1954)
    n = BLOCK - 1
    phi_w = phi - (1.0 + 3.0 * phi) / n
    assert abs(_z(st["vix_half_life_252"], math.log(0.5) / math.log(phi_w))) <= Z
    assert st["vix_half_life_252"].value < st["vix_half_life"].value - 5 * st["vix_half_life_252"].se


def test_beta_of_vix_to_spx_is_recovered():
    rng = np.random.default_rng(2)
    beta = -1.3
    spx, _ = _iid_market(rng)
    R = 100.0 * (spx[:, 1:] / spx[:, :-1] - 1.0)
    level = 20.0 + beta * np.concatenate([np.zeros((R.shape[0], 1)), R], axis=1) + 0.3 * rng.standard_normal(spx.shape)
    # dVIX_t = beta (R_t - R_{t-1}) + noise: the slope on R_t is beta
    st = path_statistics(spx, level)
    assert abs(_z(st["vix_beta"], beta)) <= Z


def test_variance_premium_and_spx_statistics_of_iid_returns():
    rng = np.random.default_rng(3)
    sd_r = 0.012
    spx, _ = _iid_market(rng, sd_r=sd_r)
    vix = np.full_like(spx, 22.0)
    st = path_statistics(spx, vix, vix9d=np.full_like(spx, 20.0), vix3m=np.full_like(spx, 24.0))
    ann = 252.0 * sd_r**2
    for key, level in (("9", 20.0), ("30", 22.0), ("93", 24.0)):
        assert abs(_z(st[f"vrp_var_{key}"], 1e4 * ((level / 100) ** 2 - ann))) <= Z
    assert abs(_z(st["spx_vol"], 100 * math.sqrt(ann))) <= Z
    assert abs(_z(st["spx_log_growth"], 0.0)) <= Z
    # simple return below -4% <=> log return below ln 0.96
    p4 = sps.norm.cdf(math.log(0.96) / sd_r)
    assert abs(_z(st["spx_down4"], 252 * p4)) <= Z
    assert abs(_z(st["spx_up4"], 252 * sps.norm.sf(math.log(1.04) / sd_r))) <= Z
    # a constant term structure: exact values
    assert st["ts_ratio_p50"].value == pytest.approx(24 / 22)
    assert st["ts_contango"].value == pytest.approx(100.0)
    assert st["ts9_ratio_p50"].value == pytest.approx(20 / 22)


def test_vix_distribution_and_daily_moves_of_iid_lognormal_vix():
    rng = np.random.default_rng(4)
    s = 0.05
    spx, vix = _iid_market(rng, vix_noise=s)
    st = path_statistics(spx, vix)
    for name, p in (("p5", 0.05), ("p50", 0.5), ("p95", 0.95)):
        assert abs(_z(st[f"vix_{name}"], 20.0 * math.exp(s * sps.norm.ppf(p)))) <= Z
    sd = s * math.sqrt(2.0)  # ln V_t - ln V_{t-1} ~ N(0, 2 s^2)
    assert abs(_z(st["vix_dlog_sd"], 100 * sd)) <= Z
    for pct in (10, 20):
        share = sps.norm.sf(math.log(1 + pct / 100) / sd) + sps.norm.cdf(math.log(1 - pct / 100) / sd)
        assert abs(_z(st[f"vix_move{pct}"], 100 * share)) <= Z


def test_inversion_point_of_a_linear_term_structure_is_exact():
    rng = np.random.default_rng(5)
    spx, vix = _iid_market(rng, n_paths=20, vix_noise=0.3)
    vix3m = 0.8 * vix + 6.0  # VIX3M - VIX = 6 - 0.2 VIX crosses 0 at VIX = 30
    st = path_statistics(spx, vix, vix3m=vix3m)
    assert st["ts_inversion"].value == pytest.approx(30.0, rel=1e-9)
    assert st["ts_contango"].value == pytest.approx(100.0 * np.mean(vix3m - vix > 1.0))


def test_bootstrap_error_of_a_mean_matches_the_textbook_error():
    rng = np.random.default_rng(6)
    n_paths, n_days, sd_r = 400, 300, 0.01
    spx, _ = _iid_market(rng, n_paths=n_paths, n_days=n_days, sd_r=sd_r)
    st = path_statistics(spx, np.full_like(spx, 20.0), n_boot=2000)
    # spx_log_growth = 100 * 252 * mean(r): se = 100 * 252 * sd_r / sqrt(N)
    expected = 100 * 252 * sd_r / math.sqrt(n_paths * n_days)
    # relative error of a bootstrap se over U units ~ 1/sqrt(2 U) (+ 1/sqrt(2 B))
    tol = Z * math.sqrt(1 / (2 * n_paths) + 1 / (2 * 2000))
    assert st["spx_log_growth"].se == pytest.approx(expected, rel=tol)


def test_missing_series_give_no_statistic_and_missing_days_are_skipped():
    rng = np.random.default_rng(7)
    spx, vix = _iid_market(rng, n_paths=5, n_days=600)
    st = path_statistics(spx, vix)
    assert "ts_ratio_p50" not in st and "vrp_var_9" not in st and "vvix_p50" not in st
    holes = vix.copy()
    holes[:, 100:110] = np.nan
    st2 = path_statistics(spx, holes)
    assert st2["vix_p50"].n == st["vix_p50"].n - 5 * 10
    assert all(math.isfinite(v.value) for v in st2.values.values())


# ----------------------------------------------------------------------------- the real history
#: issue 9, section 2, "real" column (rounded as printed there)
ISSUE_TABLE = {
    "vrp_var_30": (113, 0.5),
    "vrp_vol_30": (4.1, 0.05),
    "vix_dlog_sd": (6.8, 0.05),
    "vix_move10": (10.9, 0.05),
    "vix_move20": (1.66, 0.005),
    "vix_beta": (-1.16, 0.01),
    "vix_p5": (11.4, 0.05),
    "vix_p50": (17.6, 0.05),
    "vix_p95": (32.9, 0.1),
    "spx_down8": (0.14, 0.005),
    "ts_ratio_p50": (1.13, 0.005),
    "ts_contango": (81, 0.5),
    "vix_half_life_252": (8, 0.5),
}


@pytest.fixture(scope="module")
def history():
    return history_statistics(shipped_frame())


@pytest.mark.parametrize("key", sorted(ISSUE_TABLE))
def test_real_history_reproduces_the_issue_table(history, key):
    value, tol = ISSUE_TABLE[key]
    assert history[key].value == pytest.approx(value, abs=tol)
    assert 0 < history[key].se < abs(history[key].value)


def test_real_history_windows_and_term_premia(history):
    assert history.window.startswith("spx 1990-01-02..")
    assert "vix3m 2009-09-18" in history.window and "vix9d 2011-01-04" in history.window
    # the premium is positive at every tenor (issue 9: VIX9D, VIX and VIX3M above the realised vol that follows)
    for key in ("vrp_vol_9", "vrp_vol_30", "vrp_vol_93", "vrp_var_9", "vrp_var_93"):
        assert history[key].value > 3 * history[key].se
    # the full-sample AR(1) half-life is far longer than the within-year one
    assert 30 < history["vix_half_life"].value < 40
