"""Historical replay paths: the real closes at dispersion 0, the dispersion law, the intraday bridge, reproducibility.

Closed forms (gpu_alvh.historical): at the close of day k the log-price deviation is exactly
N(0, d^2 sum_{i<=k} vbar_i / 252), vbar_i = (v_{i-1} + v_i)/2, and the variance deviation is Gaussian with
Var' = e^{-2 kappa dt} Var + sigma^2 d^2 vbar dt.  Statistical checks use 4 standard errors, fixed seeds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from gpu_alvh import rng
from gpu_alvh.compile import compile_scenario
from gpu_alvh.data import load_history
from gpu_alvh.historical import provenance, replay_step, replay_step_xp
from gpu_alvh.paths import simulate
from gpu_alvh.rng import Block
from gpu_alvh.spec import load_scenario
from gpu_alvh.spec.historical import EPISODES

TAU = 30.0 / 365.0


def svcj_ab(p: dict) -> tuple[float, float]:
    """VIX^2 = a v + b of SVCJ (SPEC section 3), written out independently of gpu_alvh.models."""
    k, th = p["kappa"], p["theta"]
    a = (1.0 - math.exp(-k * TAU)) / (k * TAU)
    lam, mu, d, mu_v, rho_j = p["jump_intensity"], p["jump_mean"], p["jump_std"], p["var_jump_mean"], p["jump_corr"]
    m = math.exp(mu + 0.5 * d * d) / (1.0 - rho_j * mu_v) - 1.0
    return a, (th + lam * mu_v / k) * (1.0 - a) + 2.0 * lam * (m - (mu + rho_j * mu_v))


def real(name: str):
    ep = EPISODES[name]
    vol = "vxo" if ep.first.year < 1990 else "vix"
    return load_history("spx", ep.first, ep.last).values, load_history(vol, ep.first, ep.last).values


def covid(d: float, **over):
    return load_scenario("covid_2020", overrides={"historical.dispersion": d, **over})


def real_variance(spec, vol):
    a, b = svcj_ab({**spec.params, **(spec.pricing or {})})
    return np.maximum(((vol / 100.0) ** 2 - b) / a, 0.0)


# --------------------------------------------------------------------------- dispersion 0: the real sequence
@pytest.mark.parametrize("name", list(EPISODES))
def test_dispersion_zero_reproduces_every_close(name):
    spec = load_scenario(name, overrides={"historical.dispersion": 0.0})
    ds = simulate(spec, n_paths=3, seed=5, backend="numpy")
    spx, vol = real(name)
    np.testing.assert_allclose(ds["spx"].values, np.broadcast_to(spx, (3, spx.size)), rtol=1e-12)
    floor = spec.model_q().vix_floor()
    assert (vol > floor).all(), "the library episodes stay above the model's VIX floor"
    np.testing.assert_allclose(ds["vix"].values, np.broadcast_to(vol, (3, vol.size)), rtol=1e-12)
    assert provenance(spec)["closes_below_floor"] == 0


@pytest.mark.parametrize(
    "name, day, spx_return, vix_before, vix_after",
    [("crash_1987", "1987-10-19", -0.205, 36.37, 150.19), ("covid_2020", "2020-03-16", -0.120, 57.83, 82.69),
     ("volmageddon_2018", "2018-02-05", -0.041, 17.31, 37.32)],
)
def test_gap_days(name, day, spx_return, vix_before, vix_after):
    spec = load_scenario(name, overrides={"historical.dispersion": 0.0})
    ds = simulate(spec, n_paths=2, seed=0, backend="numpy")
    k = spec.day_index(day)
    s, v = ds["spx"].values[0], ds["vix"].values[0]
    assert s[k] / s[k - 1] - 1.0 == pytest.approx(spx_return, abs=5e-4)
    assert (round(v[k - 1], 2), round(v[k], 2)) == (vix_before, vix_after)
    assert provenance(spec)["worst_day"]["date"] == day  # the worst real day of the episode


def test_closes_below_the_model_floor_floor_the_variance():
    # Heston with kappa 10, theta 0.09: VIX floor 100 sqrt(theta (1 - a)) = 16.9, above most of January 2018
    params = {"kappa": 10.0, "theta": 0.09, "sigma": 0.5, "rho": -0.7}
    spec = load_scenario({"name": "floor", "model": "heston", "params": params, "historical": {"from": "2018-01-16", "to": "2018-02-28"}})
    a = (1.0 - math.exp(-10.0 * TAU)) / (10.0 * TAU)
    floor = 100.0 * math.sqrt(0.09 * (1.0 - a))
    vol = load_history("vix", "2018-01-16", "2018-02-28").values
    below = vol <= floor
    assert 5 <= below.sum() < vol.size
    p = provenance(spec)
    assert p["closes_below_floor"] == below.sum() and p["model_vix_floor"] == pytest.approx(floor, rel=1e-12)
    ds = simulate(spec, n_paths=2, seed=0, backend="numpy")
    assert (ds["variance"].values[:, below] == 0.0).all()
    np.testing.assert_allclose(ds["vix"].values[:, below], floor, rtol=1e-12)
    np.testing.assert_allclose(ds["vix"].values[:, ~below], np.broadcast_to(vol[~below], (2, (~below).sum())), rtol=1e-12)


def test_float32_keeps_the_closes_to_rounding():
    ds = simulate(covid(0.0), n_paths=2, seed=0, backend="numpy", dtype="float32")
    spx, vol = real("covid_2020")
    assert ds["spx"].dtype == np.float32
    assert np.abs(ds["spx"].values - spx).max() < 0.005 and np.abs(ds["vix"].values - vol).max() < 0.005


# --------------------------------------------------------------------------- dispersion > 0
N_BAND = 4000


@pytest.fixture(scope="module")
def bands():
    spec = covid(0.5)
    return spec, simulate(spec, n_paths=N_BAND, seed=3, backend="numpy")


def _quantile_se(sd: float, q: float, n: int) -> float:
    return sd * math.sqrt(q * (1.0 - q) / n) / stats.norm.pdf(stats.norm.ppf(q))


def test_median_and_bands_track_the_real_path(bands):
    spec, ds = bands
    spx, vol = real("covid_2020")
    vh = real_variance(spec, vol)
    vbar = 0.5 * (vh[1:] + vh[:-1])
    sd = 0.5 * np.sqrt(np.concatenate([[0.0], np.cumsum(vbar / 252.0)]))  # d = 0.5
    dev = np.log(ds["spx"].values / spx)
    assert (dev[:, 0] == 0.0).all()
    med = np.median(dev, axis=0)
    for k in range(1, spx.size):  # the median path is the real path, every day
        assert abs(med[k]) <= 4 * _quantile_se(sd[k], 0.5, N_BAND), (k, med[k], sd[k])
    for day in ("2020-03-16", "2020-03-23", "2020-04-30"):
        k = spec.day_index(day)
        for q in (0.05, 0.25, 0.75, 0.95):
            pred = sd[k] * stats.norm.ppf(q)
            assert abs(np.quantile(dev[:, k], q) - pred) <= 4 * _quantile_se(sd[k], q, N_BAND), (day, q)


def test_variance_band_and_leverage_follow_the_model(bands):
    spec, ds = bands
    spx, vol = real("covid_2020")
    vh = real_variance(spec, vol)
    vbar = 0.5 * (vh[1:] + vh[:-1])
    p = spec.model_p()
    dt, decay, d = 1.0 / 252.0, math.exp(-p.kappa / 252.0), 0.5
    s2 = d * d * vbar * dt
    W = np.zeros(spx.size)
    for k in range(1, spx.size):
        W[k] = W[k - 1] * decay**2 + p.sigma**2 * s2[k - 1]
    w = ds["variance"].values - vh
    assert (ds["variance"].values > 0).all()  # no flooring here: w is the whole deviation
    for day in ("2020-03-16", "2020-04-30"):
        k = spec.day_index(day)
        for q in (0.05, 0.5, 0.95):
            assert abs(np.quantile(w[:, k], q) - math.sqrt(W[k]) * stats.norm.ppf(q)) <= 4 * _quantile_se(math.sqrt(W[k]), q, N_BAND)
    # correlation of the price and variance deviations at the end: sum s^2 sigma rho decay^(N-t) / sqrt(...)
    N = spx.size - 1
    lag = decay ** (N - np.arange(1, N + 1))
    r = np.sum(s2 * p.sigma * p.rho * lag) / math.sqrt(np.sum(s2) * np.sum(p.sigma**2 * s2 * lag**2))
    e = np.log(ds["spx"].values[:, -1] / spx[-1])
    r_hat = np.corrcoef(e, w[:, -1])[0, 1]
    assert r < -0.1 and abs(r_hat - r) <= 4 * (1 - r * r) / math.sqrt(N_BAND - 1), (r_hat, r)


def test_spread_is_linear_in_dispersion_with_one_seed():
    spx, vol = real("covid_2020")
    out = {d: simulate(covid(d), n_paths=300, seed=9, backend="numpy") for d in (0.25, 0.5, 1.0)}
    spec = covid(0.25)
    vh = real_variance(spec, vol)
    dev = {d: np.log(ds["spx"].values / spx) for d, ds in out.items()}
    wdev = {d: ds["variance"].values - vh for d, ds in out.items()}
    positive = out[1.0]["variance"].values > 0  # where the widest spread is not floored, no narrower one is
    assert positive.mean() > 0.99
    for d in (0.5, 1.0):
        np.testing.assert_allclose(dev[d] / d, dev[0.25] / 0.25, rtol=1e-9, atol=1e-13)
        np.testing.assert_allclose((wdev[d] / d)[positive], (wdev[0.25] / 0.25)[positive], rtol=1e-9, atol=1e-13)
    sd = [dev[d][:, 1:].std(axis=0) for d in (0.25, 0.5, 1.0)]
    assert (sd[0] < sd[1]).all() and (sd[1] < sd[2]).all()
    iqr = [np.subtract(*np.quantile(out[d]["vix"].values[:, -1], [0.75, 0.25])) for d in (0.25, 0.5, 1.0)]
    assert iqr[0] < iqr[1] < iqr[2]


@pytest.mark.parametrize("batch", [1, 3, 7, 10])
def test_same_seed_same_paths_for_any_batching(batch):
    spec = covid(0.5, **{"historical.to": "2020-03-20", "steps_per_day": 2})
    ref = simulate(spec, n_paths=10, seed=4, backend="numpy", batch_size=10)
    ds = simulate(spec, n_paths=10, seed=4, backend="numpy", batch_size=batch)
    for k in ("spx", "variance", "vix"):
        np.testing.assert_array_equal(ds[k].values, ref[k].values)


# --------------------------------------------------------------------------- intraday bridge
def test_intraday_bridge_hits_every_close():
    m, n = 4, 4000
    spec = covid(0.0, **{"historical.to": "2020-03-20", "steps_per_day": m})
    ds = simulate(spec, n_paths=n, seed=2, backend="numpy")
    spx, vol = (a[: spec.horizon + 1] for a in real("covid_2020"))
    s, v = ds["spx"].values, ds["variance"].values
    np.testing.assert_allclose(s[:, ::m], np.broadcast_to(spx, (n, spx.size)), rtol=1e-12)
    assert s[:, 1:].std(axis=0)[np.arange(spx.size * m - m) % m != m - 1].min() > 0  # intraday steps are random
    vh = real_variance(spec, vol)
    for j in range(1, m):  # the variance is interpolated linearly inside each day
        np.testing.assert_allclose(v[0, j::m], (1 - j / m) * vh[:-1] + (j / m) * vh[1:], rtol=1e-12, atol=1e-15)
    # Brownian bridge: mid-day log price ~ N(mean of the closes' logs, vbar/252 * (1/2)(1/2))
    x = np.log(s / spx[0])
    xh = np.log(spx / spx[0])
    for day in ("2020-02-24", "2020-03-16"):
        k = spec.day_index(day)
        col = x[:, (k - 1) * m + 2]
        var = 0.5 * (vh[k - 1] + vh[k]) / 252.0 * 0.25
        assert abs(col.mean() - 0.5 * (xh[k - 1] + xh[k])) <= 4 * math.sqrt(var / n)
        assert abs(col.var(ddof=1) - var) <= 4 * var * math.sqrt(2.0 / (n - 1))


def test_intraday_steps_do_not_change_the_law_of_the_closes():
    m, n, d = 4, 4000, 0.5
    spec = covid(d, **{"historical.to": "2020-03-20", "steps_per_day": m})
    ds = simulate(spec, n_paths=n, seed=6, backend="numpy")
    spx, vol = (a[: spec.horizon + 1] for a in real("covid_2020"))
    vh = real_variance(spec, vol)
    dev = np.log(ds["spx"].values[:, -1] / spx[-1])
    var = d * d * np.sum(0.5 * (vh[1:] + vh[:-1])) / 252.0
    assert abs(dev.var(ddof=1) - var) <= 4 * var * math.sqrt(2.0 / (n - 1)) and abs(dev.mean()) <= 4 * math.sqrt(var / n)


# --------------------------------------------------------------------------- the scalar step
def test_scalar_step_equals_the_array_step():
    g = np.random.default_rng(1)
    n = 2000
    x, e, w = g.normal(0, 0.1, n), g.normal(0, 0.02, n), g.normal(0, 0.01, n)
    zb, zv, zs = g.normal(size=(3, n))
    for n_left in (1, 2, 7):
        args = (0.05, 0.04, 0.09, n_left, 0.7, 3.46, 0.14, -0.82, 1 / (252 * 7))
        xa, va, ea, wa = replay_step_xp(x, e, w, *args, zb, zv, zs, np)
        for i in range(0, n, 97):
            got = replay_step(x[i], e[i], w[i], *args, zb[i], zv[i], zs[i])
            assert got == (xa[i], va[i], ea[i], wa[i])
        if n_left == 1:
            np.testing.assert_allclose(xa - ea, 0.05, rtol=1e-14)  # the close: the historical part is x_close


def test_stepper_is_the_scalar_step_with_its_keyed_normals():
    """PathStepper = replay_step per path with z_b from Block.DIFFUSION and (z_v, z_s) from Block.BRIDGE,
    keyed (seed, crc32(scenario), path, step) - what a per-path kernel computes."""
    spec = covid(0.5, **{"historical.to": "2020-02-14", "steps_per_day": 3})
    c = compile_scenario(spec)
    seed, paths = 8, [0, 3]
    ds = simulate(c, n_paths=4, seed=seed, backend="numpy")
    h = c.historical
    for p in paths:
        ids = rng.path_ids(p, 1)
        x = e = w = 0.0
        for t in range(1, c.n_steps + 1):
            i = t - 1
            z_b = float(rng.normals(ids, t, Block.DIFFUSION, seed, c.key)[0][0])
            zv, zs = (float(z[0]) for z in rng.normals(ids, t, Block.BRIDGE, seed, c.key))
            x, v, e, w = replay_step(x, e, w, h.x_close[i], h.v_anchor[i], h.v_day[i], int(h.n_left[i]), h.dispersion,
                                     h.kappa, h.sigma, h.rho, c.dt, z_b if h.n_left[i] > 1 else 0.0, zv, zs)
            assert ds["spx"].values[p, t] == pytest.approx(c.spot * math.exp(x), rel=1e-13)
            assert ds["variance"].values[p, t] == pytest.approx(v, rel=1e-13, abs=1e-16)
