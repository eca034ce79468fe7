"""Historical replay paths: the real closes at dispersion 0, the dispersion law, the intraday bridge, reproducibility.

Closed forms (gpu_alvh.historical), at the close of day k, dt = 1/252, vbar_i = (v_{i-1} + v_i)/2 (the real
variance), s_i^2 = d^2 vbar_i dt:

    e_k ~ N(0, E_k),  E_k = sum_{i<=k} s_i^2                                  log-price deviation
    w_k ~ N(0, W_k),  W_k = e^{-2 kappa dt} W_{k-1} + sigma^2 s_k^2           variance deviation
    C_k = Cov(e_k, w_k) = e^{-kappa dt} C_{k-1} + rho sigma s_k^2
    v_k = F(v^h_k, w_k),  F(vh, w) = vh + w (w >= 0), vh e^{w/vh} (w < 0):  quantiles F(vh, sqrt(W) z_q),
    median vh, mean vh/2 + sqrt(W/(2 pi)) + vh e^{W/(2 vh^2)} Phi(-sqrt(W)/vh).

Statistical checks use 4 standard errors and fixed seeds.  Checks of exact values use first-order rounding
bounds derived from the code's own arithmetic (tests/rounding.py).  The model's VIX coefficients (a, b) are
checked against SPEC section 3 in tests/test_models.py and are inputs here.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special, stats

from gpu_alvh import rng
from gpu_alvh.backend import get_backend
from gpu_alvh.compile import compile_scenario
from gpu_alvh.data import load_history
from gpu_alvh.historical import provenance, replay_step, replay_step_xp
from gpu_alvh.kernels import market
from gpu_alvh.paths import PathStepper, simulate
from gpu_alvh.rng import Block
from gpu_alvh.spec import load_scenario
from gpu_alvh.spec.historical import EPISODES

from .rounding import _STATE, T, ULPS, tracked

U = 2.0**-53
TAU = 30.0 / 365.0


def real(name: str):
    ep = EPISODES[name]
    vol = "vxo" if ep.first.year < 1990 else "vix"
    return load_history("spx", ep.first, ep.last).values, load_history(vol, ep.first, ep.last).values


def covid(d: float, **over):
    return load_scenario("covid_2020", overrides={"historical.dispersion": d, **over})


def real_variance(spec, vol):
    """v^h: the variance at which the pricing model's VIX is the real close (0 below the floor)."""
    a, b = spec.model_q().vix2_coefficients()
    return np.maximum(((vol / 100.0) ** 2 - b) / a, 0.0)


def moments(spec, vh, d, dt=1.0 / 252.0):
    """``(E, W, C)`` [N+1] of the module docstring (closes of a daily replay)."""
    p = spec.model_p()
    s2 = d * d * 0.5 * (vh[1:] + vh[:-1]) * dt
    decay = math.exp(-p.kappa * dt)
    E, W, C = (np.zeros(vh.size) for _ in range(3))
    for k in range(1, vh.size):
        E[k] = E[k - 1] + s2[k - 1]
        W[k] = W[k - 1] * decay**2 + p.sigma**2 * s2[k - 1]
        C[k] = C[k - 1] * decay + p.rho * p.sigma * s2[k - 1]
    return E, W, C


def f_inverse(v, vh):
    """``w`` from ``v = F(vh, w)`` (``vh > 0``)."""
    return np.where(v >= vh, v - vh, vh * np.log(np.maximum(v, 1e-300) / vh))


def mean_variance(vh, W):
    """``E F(vh, w)``, ``w ~ N(0, W)`` (``e^{x^2/2} Phi(-x) = erfcx(x / sqrt 2) / 2``)."""
    sd = np.sqrt(W)
    return 0.5 * vh + sd / math.sqrt(2.0 * math.pi) + vh * 0.5 * special.erfcx(sd / vh / math.sqrt(2.0))


def _quantile_se(sd: float, q: float, n: int) -> float:
    """Standard error of the sample q-quantile of n normals N(., sd^2)."""
    return sd * math.sqrt(q * (1.0 - q) / n) / stats.norm.pdf(stats.norm.ppf(q))


def _log_ratio(s, s0):
    return math.log(s / s0)


def vix_bound(q: float, a: float, b: float) -> float:
    """First-order bound on |100 sqrt(a v + b) - q| for v = ((q/100)^2 - b)/a, both evaluated in float64."""
    _STATE.table64, _STATE.bx, _STATE.bv = ULPS["numpy"], 0.0, 0.0
    return tracked(market.vix_from_variance)(tracked(market.variance_from_vix)(T(q), a, b), a, b).total()


def close_bounds(spec, spx, vol):
    """First-order bounds on |reported - real| of every close at dispersion 0, from the arithmetic:
    spot ``S_0 exp(x^h)`` with ``x^h = log(S^h / S_0)`` (compile_replay, NumPy) and the kernel's exp;
    VIX ``100 sqrt(a v^h + b)`` with ``v^h = ((VIX/100)^2 - b)/a`` (the model's formula, same operations
    as the kernel's variance_from_vix).  NumPy's ulp table (the larger) for every function."""
    mk = market.compile_market(compile_scenario(spec))[0][0]
    a, b = spec.model_q().vix2_coefficients()
    _STATE.table64, _STATE.bx, _STATE.bv = ULPS["numpy"], 0.0, 0.0
    bs = np.array([tracked(market.spot)(tracked(_log_ratio)(T(s), T(spx[0])), mk).total() for s in spx])
    bv = np.array([vix_bound(q, a, b) for q in vol])
    return bs, bv


# --------------------------------------------------------------------------- dispersion 0: the real sequence
@pytest.mark.parametrize("name", list(EPISODES))
def test_dispersion_zero_reproduces_every_close(name):
    spec = load_scenario(name, overrides={"historical.dispersion": 0.0})
    ds = simulate(spec, n_paths=3, seed=5, backend="numpy")
    spx, vol = real(name)
    s, v, q = (ds[k].values for k in ("spx", "variance", "vix"))
    bs, bv = close_bounds(spec, spx, vol)
    assert (np.abs(s - spx) <= bs).all(), np.abs(s - spx).max()  # every SPX close
    floor = spec.model_q().vix_floor()
    below = vol < floor
    assert (np.abs(q[:, ~below] - vol[~below]) <= bv[~below]).all()  # every VIX close above the model's floor
    assert (q[:, below] == floor).all() and (v[:, below] == 0.0).all()  # the model's floor on the days below it
    assert (v[:, ~below] > 0.0).all()  # ... and only there
    p = provenance(spec)
    dates = spec.session_dates()
    assert p["model_vix_floor"] == floor and p["closes_below_floor"] == below.sum()
    assert p["dates_below_floor"] == [dates[k].isoformat() for k in np.flatnonzero(below)]
    # the library's only closes below the calibrated floor (11.79) are January 2018's (docs, README)
    assert below.any() == (name == "volmageddon_2018")


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
    below = vol < floor
    assert 5 <= below.sum() < vol.size
    p = provenance(spec)
    # two evaluations of 100 sqrt(theta (1 - a)), each <= 8 roundings of <= 2u (exp: 1 ulp), amplified by
    # a / (1 - a) < 1.2 in 1 - a: relative difference < 2 * 8 * 2u * 1.2 < 64u
    assert p["closes_below_floor"] == below.sum() and p["model_vix_floor"] == pytest.approx(floor, rel=64 * U, abs=0)
    ds = simulate(spec, n_paths=2, seed=0, backend="numpy")
    assert (ds["variance"].values[:, below] == 0.0).all()
    assert (ds["vix"].values[:, below] == p["model_vix_floor"]).all()
    _, bv = close_bounds(spec, vol, vol)
    assert (np.abs(ds["vix"].values[:, ~below] - vol[~below]) <= bv[~below]).all()


def test_float32_keeps_the_closes_to_rounding():
    ds = simulate(covid(0.0), n_paths=2, seed=0, backend="numpy", dtype="float32")
    spx, vol = real("covid_2020")
    assert ds["spx"].dtype == np.float32
    # float32 chain, relative errors in units of 2^-24: spot = S_0 exp(x) with x rounded to float32 (|x| < 0.4),
    # S_0 rounded (1), exp (2 ulps: 4), product (1): < 6.4; VIX = 100 sqrt(a v + b) with v, a, b rounded (3),
    # product and sum (2), halved by sqrt, sqrt (1) and x100 (1): < 4.5.  Both < 8.
    assert (np.abs(ds["spx"].values - spx) <= 8 * 2.0**-24 * spx).all() and (np.abs(ds["vix"].values - vol) <= 8 * 2.0**-24 * vol).all()


# --------------------------------------------------------------------------- dispersion > 0
N_BAND = 4000


@pytest.fixture(scope="module")
def bands():
    spec = covid(0.5)
    spx, vol = real("covid_2020")
    vh = real_variance(spec, vol)
    return spec, simulate(spec, n_paths=N_BAND, seed=3, backend="numpy"), spx, vh, moments(spec, vh, 0.5)


def test_log_price_deviation_law(bands):
    """e_k ~ N(0, E_k): the median SPX path is the real one every day, and the quantile bands."""
    spec, ds, spx, vh, (E, W, C) = bands
    sd = np.sqrt(E)
    dev = np.log(ds["spx"].values / spx)
    assert (dev[:, 0] == 0.0).all()
    med = np.median(dev, axis=0)
    for k in range(1, spx.size):
        assert abs(med[k]) <= 4 * _quantile_se(sd[k], 0.5, N_BAND), (k, med[k], sd[k])
    for day in ("2020-03-16", "2020-03-23", "2020-04-30"):
        k = spec.day_index(day)
        for q in (0.05, 0.25, 0.75, 0.95):
            pred = sd[k] * stats.norm.ppf(q)
            assert abs(np.quantile(dev[:, k], q) - pred) <= 4 * _quantile_se(sd[k], q, N_BAND), (day, q)


def test_variance_stays_positive_and_its_median_is_the_real_path(bands):
    spec, ds, spx, vh, (E, W, C) = bands
    v = ds["variance"].values
    assert (vh > 0).all()  # covid_2020 stays above the floor: v^h > 0 every day
    assert (v > 0.0).all()  # no flooring on any path-step
    assert (np.abs(v[:, 0] - vh[0]) == 0).all()
    # F is increasing with F(vh, 0) = vh and dF/dw = 1 there: the sample median of v has the standard error of
    # the median of w ~ N(0, W_k)
    med = np.median(v, axis=0)
    for k in range(1, spx.size):
        assert abs(med[k] - vh[k]) <= 4 * _quantile_se(math.sqrt(W[k]), 0.5, N_BAND), (k, med[k], vh[k])
    # the mean is above the real path, by the closed form
    mean, se = v.mean(axis=0), v.std(axis=0, ddof=1) / math.sqrt(N_BAND)
    pred = mean_variance(vh, W)
    assert (np.abs(mean[1:] - pred[1:]) <= 4 * se[1:]).all(), np.max(np.abs(mean[1:] - pred[1:]) / se[1:])
    assert (pred[1:] > vh[1:]).all() and np.max((pred[1:] - vh[1:]) / se[1:]) > 8  # the test can tell them apart


def test_variance_deviation_follows_the_model(bands):
    """w = F^{-1}(v) is the Gaussian OU deviation: quantiles on the shock days and at the end."""
    spec, ds, spx, vh, (E, W, C) = bands
    w = f_inverse(ds["variance"].values, vh)
    for day in ("2020-02-24", "2020-03-16", "2020-04-30"):
        k = spec.day_index(day)
        sd = math.sqrt(W[k])
        for q in (0.05, 0.25, 0.5, 0.75, 0.95):
            assert abs(np.quantile(w[:, k], q) - sd * stats.norm.ppf(q)) <= 4 * _quantile_se(sd, q, N_BAND), (day, q)
    below = (w[:, -1] < 0).mean()  # half the paths on F's exponential branch: binomial SE sqrt(1/4n)
    assert abs(below - 0.5) <= 4 * math.sqrt(0.25 / N_BAND)


def test_price_and_variance_deviations_correlate_by_rho(bands):
    """corr(e_k, w_k) = C_k / sqrt(E_k W_k) (leverage); sample correlation of bivariate normals: SE (1 - r^2)/sqrt(n)."""
    spec, ds, spx, vh, (E, W, C) = bands
    e = np.log(ds["spx"].values / spx)
    w = f_inverse(ds["variance"].values, vh)
    for day in ("2020-03-16", "2020-04-30"):
        k = spec.day_index(day)
        r = C[k] / math.sqrt(E[k] * W[k])
        r_hat = np.corrcoef(e[:, k], w[:, k])[0, 1]
        assert r < -0.5 and abs(r_hat - r) <= 4 * (1 - r * r) / math.sqrt(N_BAND - 1), (day, r_hat, r)


def test_deviations_are_linear_and_spread_monotone_in_dispersion():
    """With one seed, e and w at 2d are exactly twice those at d (d in powers of 2: every operation scales
    exactly), so |v - v^h| grows with d on every path and step (F increasing); the spread grows."""
    ds = (0.25, 0.5, 1.0)
    cs = [compile_scenario(covid(d, **{"historical.to": "2020-03-31", "steps_per_day": 2})) for d in ds]
    b = get_backend("numpy")
    st = [PathStepper(c, b, 0, 200, 9) for c in cs]
    h = cs[0].historical
    for t in range(1, cs[0].n_steps + 1):
        for s in st:
            s.step()
        for j in (1, 2):
            np.testing.assert_array_equal(st[j].e, (ds[j] / ds[0]) * st[0].e)
            np.testing.assert_array_equal(st[j].w, (ds[j] / ds[0]) * st[0].w)
        dev = [np.abs(s.v - h.v_anchor[t - 1]) for s in st]
        assert (dev[0] <= dev[1]).all() and (dev[1] <= dev[2]).all()
        assert (dev[0] < dev[2]).any()
    out = [simulate(c, n_paths=300, seed=9, backend="numpy") for c in cs]
    spx, vol = (a[: cs[0].horizon + 1] for a in real("covid_2020"))
    m = cs[0].steps_per_day
    sd = [np.log(o["spx"].values[:, ::m] / spx)[:, 1:].std(axis=0) for o in out]
    assert (sd[0] < sd[1]).all() and (sd[1] < sd[2]).all()
    iqr = [np.subtract(*np.quantile(o["vix"].values[:, -1], [0.75, 0.25])) for o in out]
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
    bs, _ = close_bounds(spec, spx, vol)
    assert (np.abs(s[:, ::m] - spx) <= bs).all()  # the closes: as with one step a day
    assert s[:, 1:].std(axis=0)[np.arange(spx.size * m - m) % m != m - 1].min() > 0  # intraday steps are random
    vh = real_variance(spec, vol)
    for j in range(1, m):  # the variance is interpolated linearly inside each day (compile_replay's operations)
        np.testing.assert_array_equal(v[:, j::m], np.broadcast_to((1.0 - j / m) * vh[:-1] + (j / m) * vh[1:], (n, spx.size - 1)))
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
#: |F_array - F_scalar| on the exponential branch: the same quotient w / vh, NumPy's exp (<= 4 ulps) and
#: libm's (<= 1 ulp), 1 ulp <= 2u, and one rounding of each product: (8 + 2 + 2) u |v|
EXP_BRANCH = 12 * U


def test_scalar_step_equals_the_array_step():
    g = np.random.default_rng(1)
    n = 2000
    x, e, w = g.normal(0, 0.1, n), g.normal(0, 0.02, n), g.normal(0, 0.01, n)
    zb, zv, zs = g.normal(size=(3, n))
    for v_anchor in (0.04, 1e-4, 0.0):
        for n_left in (1, 2, 7):
            args = (0.05, v_anchor, 0.09, n_left, 0.7, 4.75, 0.59, -0.89, 1 / (252 * 7))
            xa, va, ea, wa = replay_step_xp(x, e, w, *args, zb, zv, zs, np)
            assert (va > 0).all() if v_anchor > 0 else (va[wa < 0] == 0).all() and (va[wa >= 0] == wa[wa >= 0]).all()
            for i in range(0, n, 37):
                xs, vs, es, ws = replay_step(x[i], e[i], w[i], *args, zb[i], zv[i], zs[i])
                assert (xs, es, ws) == (xa[i], ea[i], wa[i])  # basic operations and host-scalar functions only
                assert vs == va[i] if ws >= 0 else abs(vs - va[i]) <= EXP_BRANCH * abs(vs), (v_anchor, ws, vs, va[i])
            if n_left == 1:  # the close: x = fl(x_close + e), so |x - e - x_close| <= u |x| + u |x - e| (first order)
                assert (np.abs(xa - ea - 0.05) <= U * (np.abs(xa) + np.abs(xa - ea))).all()


def test_stepper_is_the_scalar_step_with_its_keyed_normals():
    """PathStepper = replay_step per path with z_b from Block.DIFFUSION and (z_v, z_s) from Block.BRIDGE,
    keyed (seed, crc32(scenario), path, step) - the layout the kernel reproduces (tests/test_historical_kernel.py)."""
    spec = covid(0.5, **{"historical.to": "2020-02-14", "steps_per_day": 3})
    c = compile_scenario(spec)
    seed, paths = 8, [0, 3]
    st = PathStepper(c, get_backend("numpy"), 0, 4, seed)
    h = c.historical
    state = {p: (0.0, 0.0, 0.0) for p in paths}
    for t in range(1, c.n_steps + 1):
        st.step()
        i = t - 1
        for p in paths:
            ids = rng.path_ids(p, 1)
            x, e, w = state[p]
            z_b = float(rng.normals(ids, t, Block.DIFFUSION, seed, c.key)[0][0]) if h.n_left[i] > 1 else 0.0
            zv, zs = (float(z[0]) for z in rng.normals(ids, t, Block.BRIDGE, seed, c.key))
            x, v, e, w = replay_step(x, e, w, h.x_close[i], h.v_anchor[i], h.v_day[i], int(h.n_left[i]), h.dispersion,
                                     h.kappa, h.sigma, h.rho, c.dt, z_b, zv, zs)
            state[p] = (x, e, w)
            assert (st.x[p], st.e[p], st.w[p]) == (x, e, w)
            assert st.v[p] == v if w >= 0 else abs(st.v[p] - v) <= EXP_BRANCH * v
