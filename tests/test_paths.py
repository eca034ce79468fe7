"""Path simulation: moments, martingale, published prices, shocks, events, reproducibility.

Monte Carlo checks use tolerances of 4 standard errors with fixed seeds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from cpu_fallback.reference import qe_step
from gpu_alvh.compile import compile_scenario
from gpu_alvh.errors import NonFiniteError
from gpu_alvh.paths import PathStepper, simulate
from gpu_alvh.schemes import QEScheme
from tests.conftest import to_numpy

H = {"kappa": 2.0, "theta": 0.04, "sigma": 0.6, "rho": -0.7}
JUMPS = {"jump_intensity": 2.0, "jump_mean": -0.05, "jump_std": 0.06}
VJ = {"var_jump_mean": 0.02, "jump_corr": -0.5}
MODEL_PARAMS = {"heston": H, "bates": {**H, **JUMPS}, "svcj": {**H, **JUMPS, **VJ}}


def scen(model="heston", params=None, *, v0=0.03, horizon=63, scheme="qe", **kw):
    d = {
        "name": kw.pop("name", "test"),
        "model": model,
        "scheme": scheme,
        "params": {**(params or MODEL_PARAMS[model]), "v0": v0},
        "spot": 100.0,
        "rate": kw.pop("rate", 0.02),
        "dividend_yield": kw.pop("dividend_yield", 0.01),
        "start": kw.pop("start", "2024-01-02"),
        "horizon": horizon,
    }
    d.update(kw)
    return d


def within(x: np.ndarray, target: float, k: float = 4.0) -> tuple[bool, float, float]:
    m, se = float(np.mean(x)), float(np.std(x, ddof=1) / math.sqrt(x.size))
    return abs(m - target) <= k * se, m, se


@pytest.mark.parametrize("scheme", ["qe", "euler"])
@pytest.mark.parametrize("model", ["heston", "bates", "svcj"])
def test_variance_moments_and_martingale(model, scheme):
    d = scen(model, scheme=scheme)
    c = compile_scenario(d)
    ds = simulate(c, n_paths=40_000, seed=11, backend="numpy")
    T = c.n_steps * c.dt
    m = c.model_p
    vT = ds["variance"].values[:, -1]
    ok, mean, se = within(vT, float(m.mean_variance(0.03, T)))
    assert ok, (mean, float(m.mean_variance(0.03, T)), se)
    # variance of v_T: SE of the sample variance from the fourth central moment
    var_true = float(m.variance_of_variance(0.03, T))
    dev = vT - vT.mean()
    se_var = math.sqrt(max(np.mean(dev**4) - np.mean(dev**2) ** 2, 0.0) / vT.size)
    assert abs(dev.var() - var_true) <= 4 * se_var, (dev.var(), var_true, se_var)
    # discounted S is a martingale (drift = r - q when not given)
    disc = ds["spx"].values[:, -1] * math.exp(-(0.02 - 0.01) * T)
    ok, mean, se = within(disc, 100.0)
    assert ok, (mean, se)


@pytest.mark.parametrize(
    "params,rate,ref",
    [
        ({"kappa": 6.21, "theta": 0.019, "sigma": 0.61, "rho": -0.7, "v0": 0.010201}, 0.0319, 6.8061),  # Broadie-Kaya 2006
        ({"kappa": 1.5768, "theta": 0.0398, "sigma": 0.5751, "rho": -0.5711, "v0": 0.0175}, 0.0, 5.78515543),  # Fang-Oosterlee 2008
    ],
    ids=["broadie_kaya", "fang_oosterlee"],
)
def test_european_call_matches_published_values(params, rate, ref):
    d = {"name": "call", "model": "heston", "params": params, "spot": 100.0, "rate": rate, "start": "2024-01-02", "horizon": 252}
    ds = simulate(d, n_paths=60_000, seed=3, backend="numpy")
    payoff = np.maximum(ds["spx"].values[:, -1] - 100.0, 0.0) * math.exp(-rate * 1.0)
    ok, mean, se = within(payoff, ref)
    assert ok, (mean, ref, se)


def test_vix_at_start_equals_scenario_vix():
    ds = simulate(scen("svcj", v0=None, vix=21.5) | {"params": MODEL_PARAMS["svcj"]}, n_paths=16, seed=0, backend="numpy")
    np.testing.assert_allclose(ds["vix"].values[:, 0], 21.5, rtol=1e-12)


def test_qe_step_matches_loop_reference():
    """The vectorised QE step equals Andersen's algorithm written out for one path."""
    c = QEScheme.coefficients(1.5, 0.04, 0.8, -0.6, 1 / 252)
    g = np.random.default_rng(5)
    v = np.concatenate([g.uniform(0.0, 0.2, 500), np.zeros(5), g.uniform(0, 1e-4, 50)])
    x = g.normal(0, 0.1, v.size)
    zv, zs = g.normal(size=v.size), g.normal(size=v.size)
    import scipy.special as sp

    for dense in (True, False):
        xn, vn = QEScheme.step(x, v, zv, zs, c, 0.03 / 252, 1 / 252, np, sp, dense=dense)
        for i in range(v.size):
            xr, vr = qe_step(x[i], v[i], zv[i], zs[i], kappa=1.5, theta=0.04, sigma=0.8, rho=-0.6, dt=1 / 252, mu=0.03)
            assert vn[i] == pytest.approx(vr, rel=1e-12, abs=1e-15)
            assert xn[i] == pytest.approx(xr, rel=1e-12, abs=1e-14)


def test_zero_vol_of_vol_gives_deterministic_variance():
    d = scen("heston", params={**H, "sigma": 0.0}, horizon=30)
    ds = simulate(d, n_paths=50, seed=1, backend="numpy")
    c = compile_scenario(d)
    t = np.arange(31) * c.dt
    expected = H["theta"] + (0.03 - H["theta"]) * np.exp(-H["kappa"] * t)
    np.testing.assert_allclose(ds["variance"].values, np.broadcast_to(expected, (50, 31)), rtol=1e-10)
    assert np.isfinite(ds["spx"].values).all()


def test_gap_and_vix_level_land_exactly_on_their_day():
    d = scen("svcj", horizon=10, shocks=[{"spx_return": -0.041, "day": 4}, {"vix_level": 37.32, "day": 4}])
    ds = simulate(d, n_paths=2000, seed=5, backend="numpy")
    s = ds["spx"].values
    np.testing.assert_allclose(s[:, 4] / s[:, 3], 1 - 0.041, rtol=1e-13)
    np.testing.assert_allclose(ds["vix"].values[:, 4], 37.32, rtol=1e-12)
    # other days move randomly
    assert np.std(s[:, 5] / s[:, 4]) > 1e-3
    assert str(ds["time"].values[4])[:10] == "2024-01-08"


def test_vix_change_moves_every_path_by_the_points():
    d = scen("heston", horizon=6, shocks=[{"vix_change": 10.0, "day": 2}])
    base = simulate(scen("heston", horizon=6), n_paths=500, seed=5, backend="numpy")
    shocked = simulate(d, n_paths=500, seed=5, backend="numpy")
    np.testing.assert_allclose(shocked["vix"].values[:, 2], base["vix"].values[:, 2] + 10.0, rtol=1e-12)
    np.testing.assert_array_equal(shocked["spx"].values[:, :3], base["spx"].values[:, :3])


def test_gap_with_intraday_steps_is_the_opening_step():
    d = scen("heston", horizon=3, steps_per_day=4, shocks=[{"spx_return": 0.02, "day": 2}])
    ds = simulate(d, n_paths=100, seed=1, backend="numpy")
    s = ds["spx"].values
    first_step_day2 = 4 + 1  # steps 1..4 are day 1
    np.testing.assert_allclose(s[:, first_step_day2] / s[:, first_step_day2 - 1], 1.02, rtol=1e-13)
    assert list(ds["day"].values[:6]) == [0, 1, 1, 1, 1, 2]


def test_regime_window_raises_realised_variance_spread():
    calm = scen("heston", horizon=40)
    stressed = scen("heston", horizon=40, shocks=[{"vol_of_vol_multiplier": 3.0, "start": 1, "end": 40}])
    a = simulate(calm, n_paths=4000, seed=2, backend="numpy")["variance"].values[:, -1]
    b = simulate(stressed, n_paths=4000, seed=2, backend="numpy")["variance"].values[:, -1]
    assert b.std() > 2.0 * a.std()


def test_jump_intensity_window_only_inside_window():
    d = scen("bates", params={**H, "sigma": 0.0, "jump_intensity": 0.0, "jump_mean": -0.2, "jump_std": 0.0001}, horizon=20,
             shocks=[{"jump_intensity_multiplier": 5.0, "start": 5, "end": 6}])
    # zero base intensity: the multiplier keeps it zero, so no path jumps anywhere
    ds = simulate(d, n_paths=20000, seed=3, backend="numpy")
    r = np.diff(np.log(ds["spx"].values), axis=1)
    assert r.min() > -0.15
    d2 = scen("bates", params={**H, "sigma": 0.0, "jump_intensity": 10.0, "jump_mean": -0.3, "jump_std": 0.0001}, horizon=20,
              shocks=[{"jump_intensity_multiplier": 0.0, "start": 1, "end": 9}, {"jump_intensity_multiplier": 0.0, "start": 12, "end": 20}])
    r2 = np.diff(np.log(simulate(d2, n_paths=20000, seed=3, backend="numpy")["spx"].values), axis=1)
    big = (r2 < -0.2).sum(axis=0)
    assert big[:9].sum() == 0 and big[11:].sum() == 0
    # days 10-11: Poisson(10/252) per path per day -> about 790 jumps each day
    lam = 10.0 / 252 * 20000
    assert all(abs(big[d] - lam) < 4 * math.sqrt(lam) for d in (9, 10))


def test_event_fires_on_its_date_with_crush():
    d = scen("heston", params={**H, "sigma": 0.0}, horizon=10, start="2026-01-02",
             events=[{"kind": "fomc", "dates": ["2026-01-09"], "spx_jump": {"mean": -0.03, "std": 0.0}, "variance_crush": 0.5}])
    base = simulate(scen("heston", params={**H, "sigma": 0.0}, horizon=10, start="2026-01-02"), n_paths=200, seed=4, backend="numpy")
    ev = simulate(d, n_paths=200, seed=4, backend="numpy")
    day = int(np.where(ev["time"].values.astype("datetime64[D]") == np.datetime64("2026-01-09"))[0][0])
    ratio = ev["spx"].values / base["spx"].values
    np.testing.assert_allclose(ratio[:, :day], 1.0, rtol=1e-13)
    np.testing.assert_allclose(ratio[:, day], math.exp(-0.03), rtol=1e-12)
    np.testing.assert_allclose(ev["variance"].values[:, day], 0.5 * base["variance"].values[:, day], rtol=1e-12)


def test_event_jump_distribution():
    d = scen("heston", params={**H, "sigma": 0.0}, v0=1e-6, horizon=5, start="2026-01-02",
             events=[{"kind": "cpi", "dates": ["2026-01-07"], "spx_jump": {"mean": 0.01, "std": 0.02}}], rate=0.0, dividend_yield=0.0)
    ev = simulate(d, n_paths=20000, seed=9, backend="numpy")
    day = int(np.where(ev["time"].values.astype("datetime64[D]") == np.datetime64("2026-01-07"))[0][0])
    r = np.log(ev["spx"].values[:, day] / ev["spx"].values[:, day - 1])
    # the day's return = event jump N(0.01, 0.02^2) + diffusion with the (deterministic) variance of that day
    var_day = float(ev["variance"].values[0, day - 1: day + 1].mean()) / 252.0
    sd = math.sqrt(0.02**2 + var_day)
    assert abs(r.mean() - (0.01 - 0.5 * var_day)) < 4 * sd / math.sqrt(r.size)
    assert abs(r.std() - sd) < 4 * sd / math.sqrt(2 * (r.size - 1))  # SE of a normal sample stdev


def test_one_batch_equals_many_batches_and_workers():
    d = scen("svcj", horizon=20)
    a = simulate(d, n_paths=3000, seed=7, backend="numpy", batch_size=3000)
    b = simulate(d, n_paths=3000, seed=7, backend="numpy", batch_size=257)
    for k in ("spx", "variance", "vix"):
        np.testing.assert_array_equal(a[k].values, b[k].values)


def test_dense_and_sparse_paths_agree(monkeypatch):
    """The GPU form (both QE branches everywhere, dense jumps) gives the CPU numbers."""
    from dataclasses import replace

    from gpu_alvh.backend import get_backend

    d = scen("svcj", params={**H, **JUMPS, **VJ, "sigma": 1.5}, v0=0.002, horizon=30)
    c = compile_scenario(d)
    b = get_backend("numpy")
    dense = replace(b, is_gpu=True)  # NumPy arrays, GPU code path
    s1 = PathStepper(c, b, 0, 4000, 3)
    s2 = PathStepper(c, dense, 0, 4000, 3)
    for _ in range(c.n_steps):
        s1.step()
        s2.step()
    np.testing.assert_allclose(s1.x, s2.x, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(s1.v, s2.v, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("variable", ["spx", "variance"])
def test_nonfinite_is_reported_with_path_and_step(monkeypatch, variable):
    """A NaN made by the per-path program (run in the CUDA simulator, where it is Python) stops the run."""
    from gpu_alvh.kernels import market

    c = compile_scenario(scen("heston", horizon=5))
    orig = market.market_step

    def poisoned(t, path, x, v, v2, *args):
        x, v, v2 = orig(t, path, x, v, v2, *args)
        if path == 7 and t >= 3:
            return (np.float64(np.nan), v, v2) if variable == "spx" else (x, np.float64(np.nan), v2)
        return x, v, v2

    monkeypatch.setattr(market, "market_step", poisoned)
    with pytest.raises(NonFiniteError) as err:
        simulate(c, n_paths=20, seed=1, backend="cudasim", batch_size=6)
    assert err.value.path == 7 and err.value.step == 3 and err.value.variable == variable
    assert "test" in str(err.value)


def test_dataset_schema_and_provenance():
    ds = simulate(scen("heston", horizon=5), n_paths=10, seed=1, backend="numpy")
    assert ds["spx"].dims == ("path", "step")
    for k in ("spx", "variance", "vix"):
        assert ds[k].attrs["units"] and ds[k].attrs["long_name"]
    for k in ("gpu_alvh_version", "seed", "rng", "backend", "device", "n_paths", "created", "history", "spec_json", "spec_hash"):
        assert k in ds.attrs
    assert ds.attrs["seed"] == 1 and ds.attrs["n_paths"] == 10
    assert np.issubdtype(ds["time"].dtype, np.datetime64)


@pytest.mark.gpu
def test_numpy_cupy_paths_agree(gpu_backend):
    d = scen("svcj", horizon=40)
    a = simulate(d, n_paths=5000, seed=7, backend="numpy")
    b = simulate(d, n_paths=5000, seed=7, backend=gpu_backend)
    for k in ("spx", "variance", "vix"):
        np.testing.assert_allclose(to_numpy(b[k].values), a[k].values, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("backend", ["numpy", "stepper"])
def test_variance_jumps_feed_the_price_diffusion_of_their_own_step(backend):
    """SVCJ variance jumps come at a uniform time ``U`` within a step, so the step's price diffusion sees
    ``I = Z (1 - U) dt`` more integrated variance.  One step with ``sigma = 0``, ``v0 = theta`` and no price
    jumps: ``ln(S_1/S_0) = mu dt - (theta dt + I)/2 + sqrt(theta dt) z + sqrt(I) z'``, so
    ``Var = theta dt + E[I] + Var(I)/4`` with ``E[I] = lambda dt mu_v dt/2`` and
    ``E[I^2] = dt^2 mu_v^2 ((lambda dt)^2 + 2 lambda dt)/3`` (Z = mu_v Gamma(N), N ~ Poisson(lambda dt)).
    Without the term the variance is ``theta dt`` (z = -100 here)."""
    lam, mu_v, theta = 504.0, 0.2, 0.04
    p = {"kappa": 2.0, "theta": theta, "sigma": 0.0, "rho": 0.0, "jump_intensity": lam, "jump_mean": 0.0, "jump_std": 0.0,
         "var_jump_mean": mu_v, "jump_corr": 0.0}
    from gpu_alvh.backend import get_backend

    c = compile_scenario(scen("svcj", p, v0=theta, horizon=1))
    n = 40_000
    if backend == "stepper":
        st = PathStepper(c, get_backend("numpy"), 0, n, seed=3)
        st.step()
        x = np.log(to_numpy(st.spot) / c.spec.spot)
    else:
        ds = simulate(c, n_paths=n, seed=3, backend="numpy")
        x = np.log(ds["spx"].values[:, 1] / c.spec.spot)
    dt, l = c.dt, lam * c.dt
    e_i = l * mu_v * dt / 2.0
    var_i = dt**2 * mu_v**2 * (l * l + 2.0 * l) / 3.0 - e_i**2
    want = theta * dt + e_i + var_i / 4.0
    d = x - x.mean()
    got = (d**2).sum() / (n - 1)
    se = math.sqrt(max(np.mean(d**4) - got**2, 0.0) / n)
    assert abs(got - want) <= 4.0 * se, (got, want, (got - want) / se)
