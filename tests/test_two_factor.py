"""The two-factor model SVCJ2: its transforms, VIX formula and COS prices against independent references.

References that the model's own code does not produce: the one-factor SVCJ it must reduce to, the
symmetry of two jump-free factors, the CF's own derivatives (VIX, martingale, moments) and an Euler
Monte Carlo of the SDEs written out here.
"""

import math

import numpy as np
import pytest

from gpu_alvh.errors import SpecError
from gpu_alvh.models import SVCJ
from gpu_alvh.models.svcj2 import SVCJ2
from gpu_alvh.pricing.cos import cos_price

FAST = dict(kappa=12.0, theta=0.012, sigma=0.9, rho=-0.8)
SLOW = dict(kappa2=0.8, theta2=0.02, sigma2=0.25, rho2=-0.6)
JUMPS = dict(jump_intensity=1.5, jump_mean=-0.04, jump_std=0.03, var_jump_mean=0.02, jump_corr=-0.8)


def model(**changes):
    return SVCJ2(**{**FAST, **SLOW, **JUMPS, **changes})


def test_without_slow_variance_it_is_svcj():
    one = SVCJ(**FAST, **JUMPS)
    two = model(theta2=0.0)
    u = np.linspace(0.05, 60.0, 50)
    for T in (0.02, 0.3, 1.5):
        A1, B1 = one.log_price_ab(u, T, rate=0.03, dividend_yield=0.01)
        A2, B2, C = two.log_price_abc(u, T, rate=0.03, dividend_yield=0.01)
        np.testing.assert_allclose(A2, A1, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(B2, B1, rtol=1e-13, atol=1e-15)
    K = np.array([4000.0, 4800.0, 5000.0, 5300.0])
    p1 = cos_price(one, spot=5000.0, strikes=K, expiries=0.25, v=0.02, rate=0.03, dividend_yield=0.01, is_call=False)
    p2 = cos_price(two, spot=5000.0, strikes=K, expiries=0.25, v=0.02, v2=0.0, rate=0.03, dividend_yield=0.01, is_call=False)
    np.testing.assert_allclose(p2, p1, rtol=1e-12, atol=1e-10)
    assert two.vix2_terms()[0] == pytest.approx(one.vix2_coefficients()[0], rel=1e-15)
    assert two.vix2_terms()[2] == pytest.approx(one.vix2_coefficients()[1], rel=1e-14)


def test_two_jump_free_factors_are_exchangeable():
    """Without jumps the model is symmetric in its factors: swapping the parameter sets and the states
    leaves the log-price law unchanged (B and C, and the two Heston A's, trade places)."""
    m = model(jump_intensity=0.0)
    swapped = SVCJ2(kappa=SLOW["kappa2"], theta=SLOW["theta2"], sigma=SLOW["sigma2"], rho=SLOW["rho2"],
                    kappa2=FAST["kappa"], theta2=FAST["theta"], sigma2=FAST["sigma"], rho2=FAST["rho"])
    u = np.linspace(0.1, 40.0, 30)
    np.testing.assert_allclose(m.log_price_cf(u, 0.4, 0.03, 0.01), swapped.log_price_cf(u, 0.4, 0.01, 0.03), rtol=1e-12)
    K = np.array([4500.0, 5000.0, 5400.0])
    a = cos_price(m, spot=5000.0, strikes=K, expiries=0.4, v=0.03, v2=0.01, is_call=True)
    b = cos_price(swapped, spot=5000.0, strikes=K, expiries=0.4, v=0.01, v2=0.03, is_call=True)
    np.testing.assert_allclose(a, b, rtol=1e-10)
    # and the slow factor is priced: moving v2 moves the price like moving v in the swapped model
    c = cos_price(m, spot=5000.0, strikes=K, expiries=0.4, v=0.03, v2=0.04, is_call=True)
    assert np.all(c > a + 1.0)


@pytest.mark.parametrize("tau", [9 / 365, 30 / 365, 93 / 365])
def test_vix_formula_agrees_with_characteristic_function(tau):
    """VIX^2 = -(2/tau) E[ln(S_tau/S_0)] at r = q = 0, E[x] = -i phi'(0) by central differences."""
    m = model()
    v, v2, h = 0.03, 0.015, 1e-5
    cf = lambda u: m.log_price_cf(np.array([u]), tau, v, v2)[0]  # noqa: E731
    mean_x = ((cf(h) - cf(-h)) / (2j * h)).real
    a, a2, b = m.vix2_terms(tau)
    assert -2.0 / tau * mean_x == pytest.approx(a * v + a2 * v2 + b, rel=1e-7)
    assert float(m.vix_from_state(v, v2, tau=tau)) == pytest.approx(100 * math.sqrt(a * v + a2 * v2 + b), rel=1e-14)
    assert float(m.fast_variance_from_vix(m.vix_from_state(v, v2, tau=tau), v2, tau=tau)) == pytest.approx(v, rel=1e-12)


def test_martingale():
    m = model()
    for T in (0.02, 0.5, 3.0):
        got = m.log_price_cf(np.array([-1j]), T, 0.05, 0.02, rate=0.03, dividend_yield=0.01)[0]
        assert got == pytest.approx(math.exp(0.02 * T), rel=1e-10)


def test_variance_moments_match_the_joint_transform():
    m = model()
    v0, v20, T, h = 0.02, 0.03, 0.75, 1e-3

    def cumulants(f):
        k1 = ((f(h) - f(-h)) / (2j * h)).real
        k2 = -((f(h) - 2 * f(0.0) + f(-h)) / h**2).real
        return k1, k2

    def lc(w, w2):
        A, B, C = m.variance_abc(np.array([w]), np.array([w2]), T)
        return (A + B * v0 + C * v20)[0]

    k1, k2 = cumulants(lambda w: lc(0.0, w))
    assert k1 == pytest.approx(float(m.slow_mean(v20, T)), rel=1e-6)
    assert k2 == pytest.approx(float(m.slow_variance(v20, T)), rel=1e-4)
    k1, k2 = cumulants(lambda w: lc(w, 0.0))
    assert k1 == pytest.approx(float(m.mean_variance(v0, T)), rel=1e-6)
    assert k2 == pytest.approx(float(m.variance_of_variance(v0, T)), rel=1e-4)
    # VIX^2 law: its mean is a E[v_T] + a2 E[v2_T] + b
    a, a2, b = m.vix2_terms()
    g = lambda w: np.log(m.vix2_cf(np.array([w]), T, v0, v20)[0])  # noqa: E731
    mean = ((g(h) - g(-h)) / (2j * h)).real
    assert mean == pytest.approx(a * float(m.mean_variance(v0, T)) + a2 * float(m.slow_mean(v20, T)) + b, rel=1e-6)


def _euler_paths(m, v0, v20, T, n_paths, n_steps, seed):
    """Full-truncation Euler of the SDEs in the module docstring of gpu_alvh.models.svcj2 (r = q = 0),
    jumps at most one per step (lambda dt << 1).  Returns ln(S_T / S_0) [n_paths]."""
    rng = np.random.default_rng(seed)
    dt = T / n_steps
    x = np.zeros(n_paths)
    v = np.full(n_paths, v0)
    w = np.full(n_paths, v20)
    comp = m.jump_intensity * m.jump_compensator()
    for _ in range(n_steps):
        z = rng.standard_normal((4, n_paths))
        vp, wp = np.maximum(v, 0.0), np.maximum(w, 0.0)
        zs1 = m.rho * z[0] + math.sqrt(1 - m.rho**2) * z[1]
        zs2 = m.rho2 * z[2] + math.sqrt(1 - m.rho2**2) * z[3]
        x += -comp * dt - 0.5 * (vp + wp) * dt + np.sqrt(vp * dt) * zs1 + np.sqrt(wp * dt) * zs2
        v += m.kappa * (m.theta - vp) * dt + m.sigma * np.sqrt(vp * dt) * z[0]
        w += m.kappa2 * (m.theta2 - wp) * dt + m.sigma2 * np.sqrt(wp * dt) * z[2]
        jump = rng.random(n_paths) < m.jump_intensity * dt
        zv = rng.exponential(m.var_jump_mean, n_paths)
        jx = m.jump_mean + m.jump_corr * zv + m.jump_std * rng.standard_normal(n_paths)
        x += np.where(jump, jx, 0.0)
        v += np.where(jump, zv, 0.0)
    return x


def test_cos_prices_match_monte_carlo():
    """COS puts of the two-factor model = an Euler Monte Carlo of its SDEs, within 4 standard errors (the
    scheme's bias at 250 steps is below them: measured |z| <= 1.3)."""
    m = model()
    spot, T, v0, v20 = 100.0, 0.25, 0.02, 0.025
    x = _euler_paths(m, v0, v20, T, 80_000, 250, seed=11)
    K = np.array([85.0, 95.0, 100.0, 105.0])
    payoff = np.maximum(K[:, None] - spot * np.exp(x)[None, :], 0.0)
    mc, se = payoff.mean(1), payoff.std(1) / math.sqrt(x.size)
    cos = cos_price(m, spot=spot, strikes=K, expiries=T, v=v0, v2=v20, is_call=False)
    assert np.all(np.abs(cos - mc) <= 4 * se), (cos, mc, se)
    # the slow factor matters at this size: the one-factor part alone misprices by many standard errors
    cos_fast = cos_price(m, spot=spot, strikes=K, expiries=T, v=v0, v2=0.0, is_call=False)
    assert np.all(np.abs(cos_fast - mc) > 10 * se)


def test_one_factor_api_refuses_the_two_factor_model():
    m = model()
    for call in (lambda: m.vix2_coefficients(), lambda: m.vix_from_variance(0.02), lambda: m.variance_from_vix(20.0),
                 lambda: m.log_price_ab(np.array([1.0]), 0.5)):
        with pytest.raises(TypeError, match="two variance factors"):
            call()
    assert m.vix_floor() == pytest.approx(100 * math.sqrt(m.vix2_terms()[2]))


def test_parameters_are_validated():
    good = {**FAST, **SLOW, **JUMPS}
    assert SVCJ2.from_params({**good, "v0": 0.02, "v2_0": 0.01}) == SVCJ2(**good)
    for field, bad in (("kappa2", 0.0), ("theta2", -0.1), ("sigma2", 11.0), ("rho2", 1.5), ("v2_0", -1.0)):
        with pytest.raises(SpecError, match=field):
            SVCJ2.from_params({**good, "v0": 0.02, field: bad})
    missing = dict(good)
    del missing["kappa2"]
    with pytest.raises(SpecError, match="kappa2"):
        SVCJ2.from_params(missing)


# ---------------------------------------------------------------------------- VIX futures and VVIX


def test_laplace_vix_moments_equal_the_cos_curves_on_one_factor_models():
    """Two independent methods on the one-factor SVCJ: the Laplace identities of vix_laplace and the COS
    law of v_T with its closed-form singular part (pricing.vix, calibration.moments.vvix_curve)."""
    from gpu_alvh.calibration.moments import vvix_curve
    from gpu_alvh.pricing.vix import vix_curves
    from gpu_alvh.pricing.vix_laplace import vix_future, vvix

    q = SVCJ(kappa=1.16, theta=0.042, sigma=0.5, rho=-0.89, jump_intensity=2.5, jump_mean=-0.04, jump_std=0.01,
             var_jump_mean=0.028, jump_corr=-0.65)
    v = np.array([0.005, 0.02, 0.09])
    np.testing.assert_allclose(vvix(q, v), vvix_curve(q, v)[0], rtol=2e-5)
    for T in (9 / 365, 60 / 365):
        np.testing.assert_allclose(vix_future(q, T, v), 100 * np.asarray(vix_curves(q, T, v).futures), rtol=1e-6)  # decimals there


def _exact_cir(rng, k, th, s, v0, T, n):
    """Exact CIR transition: c times a non-central chi-square (Cox, Ingersoll & Ross 1985)."""
    c = s * s * (1 - math.exp(-k * T)) / (4 * k)
    return c * rng.noncentral_chisquare(4 * k * th / (s * s), v0 * math.exp(-k * T) / c, n)


def test_two_factor_vix_future_and_log_contract_match_exact_sampling():
    """Jump-free SVCJ2: both factors sampled exactly, E[VIX_T] and E[ln VIX_T] within 4 standard errors."""
    from gpu_alvh.pricing.vix_laplace import vix_future, vix_log_mean, vvix

    m = model(jump_intensity=0.0)
    rng = np.random.default_rng(5)
    v0, v20, n = 0.03, 0.015, 400_000
    a, a2, b = m.vix2_terms()
    for T in (10 / 365, 45 / 365):
        vT = _exact_cir(rng, m.kappa, m.theta, m.sigma, v0, T, n)
        v2T = _exact_cir(rng, m.kappa2, m.theta2, m.sigma2, v20, T, n)
        vix = 100 * np.sqrt(a * vT + a2 * v2T + b)
        f, lg = vix_future(m, T, [v0], [v20])[0], vix_log_mean(m, T, [v0], [v20])[0]
        assert abs(f - vix.mean()) < 4 * vix.std() / math.sqrt(n), (T, f, vix.mean())
        assert abs(lg - np.log(vix).mean()) < 4 * np.log(vix).std() / math.sqrt(n), (T, lg, np.log(vix).mean())
    # VVIX follows from the two at 30 days; more variance in the fast factor at the same VIX -> higher VVIX
    v_lo = m.fast_variance_from_vix(20.0, 0.03)
    v_hi = m.fast_variance_from_vix(20.0, 0.0)
    assert m.vix_from_state(v_hi, 0.0) == pytest.approx(m.vix_from_state(v_lo, 0.03), rel=1e-12)
    assert vvix(m, [v_hi], [0.0])[0] > vvix(m, [v_lo], [0.03])[0] + 5.0


# ---------------------------------------------------------------------------- paths, scenarios, gates

P2 = {**FAST, **SLOW, **JUMPS}


def _scenario(scheme="qe", horizon=12, **kw):
    from tests.test_kernel_market import FEATURES
    from tests.test_paths import scen

    from gpu_alvh.compile import compile_scenario

    feats = FEATURES if kw.pop("features", True) else {}
    return compile_scenario(scen("svcj2", params={**P2, "v2_0": kw.pop("v2_0", 0.015)}, horizon=horizon, scheme=scheme,
                                 name=kw.pop("name", "two"), **{**feats, **kw}))


@pytest.mark.parametrize("scheme", ["qe", "euler"])
def test_fused_paths_equal_the_array_stepper(scheme):
    """Kernel and PathStepper do the same operations in the same order (both factors, jumps, events, every
    shock and window); what differs is libm's last bit, so 1e-12 relative is ~5000 ulps of room."""
    from gpu_alvh.backend import get_backend
    from gpu_alvh.paths import PathStepper, simulate

    c = _scenario(scheme)
    ds = simulate(c, n_paths=64, seed=3, backend="numpy")
    assert set(ds.data_vars) == {"spx", "variance", "vix", "slow_variance"}
    st = PathStepper(c, get_backend("numpy"), 0, 64, 3)
    for t in range(1, c.n_steps + 1):
        st.step()
        for k, ref in (("spx", st.spot), ("variance", st.variance), ("vix", st.vix), ("slow_variance", st.slow_variance)):
            np.testing.assert_allclose(ds[k].values[:, t], ref, rtol=1e-12, atol=1e-300, err_msg=f"{k} step {t}")
    sim = simulate(c, n_paths=6, seed=3, backend="cudasim")  # the CUDA compilation, in the simulator
    for k in ds.data_vars:
        np.testing.assert_array_equal(sim[k].values, ds[k].values[:6])
    # float32 (the GPU type): the same paths within 1e-4 relative over 12 steps (measured: <= 4e-6; a loose
    # bound - the one-factor paths have derived ones, tests/test_kernel_market.py)
    f32 = simulate(c.spec, n_paths=64, seed=3, backend="numpy", dtype="float32")
    for k in ds.data_vars:
        assert f32[k].dtype == np.float32
        np.testing.assert_allclose(f32[k].values, ds[k].values, rtol=1e-4, atol=1e-7, err_msg=k)


def test_slow_factor_and_price_have_the_model_law():
    """Jump-free, shock-free paths over 63 sessions: the slow variance has the CIR mean and variance
    (z-tests at 4 standard errors), and the discounted-by-drift SPX is a martingale."""
    from gpu_alvh.paths import simulate

    c = _scenario(horizon=63, features=False, name="law", v2_0=0.03)
    m = c.model_p
    n = 6000
    ds = simulate(c, n_paths=n, seed=7, backend="numpy")
    T = c.n_steps * c.dt
    v2 = ds["slow_variance"].values[:, -1]
    mean, var = float(m.slow_mean(0.03, T)), float(m.slow_variance(0.03, T))
    assert abs(v2.mean() - mean) < 4 * math.sqrt(var / n), (v2.mean(), mean)
    se_var = math.sqrt(((v2 - v2.mean()) ** 4).mean() / n)
    assert abs(v2.var() - var) < 4 * se_var, (v2.var(), var)
    growth = ds["spx"].values[:, -1] / c.spot / math.exp(c.drift * float(c.dcal.sum()))
    assert abs(growth.mean() - 1.0) < 4 * growth.std() / math.sqrt(n), growth.mean()
    # and the slow factor is really there: the terminal VIX spread exceeds the fast factor's alone
    assert v2.std() > 0.25 * math.sqrt(var) and v2.min() >= 0.0


def test_vix_shocks_hit_their_targets_with_two_factors():
    """A VIX level sets the fast variance at the current slow one; a VIX change moves the model VIX of the
    close by exactly its points (same random numbers with and without it: same scenario name)."""
    from gpu_alvh.paths import simulate

    level = {"vix_level": 31.0, "day": 4}
    a = simulate(_scenario(features=False, name="shock", shocks=[level, {"vix_change": -2.5, "day": 6}]), n_paths=50, seed=2, backend="numpy")
    b = simulate(_scenario(features=False, name="shock", shocks=[level]), n_paths=50, seed=2, backend="numpy")
    np.testing.assert_allclose(a["vix"].values[:, 4], 31.0, rtol=1e-12)
    np.testing.assert_array_equal(a["vix"].values[:, :6], b["vix"].values[:, :6])
    np.testing.assert_allclose(a["vix"].values[:, 6], b["vix"].values[:, 6] - 2.5, rtol=1e-12)
    np.testing.assert_array_equal(a["slow_variance"].values[:, :7], b["slow_variance"].values[:, :7])  # the slow factor is untouched
    assert np.all(a["variance"].values[:, 6] < b["variance"].values[:, 6])


def test_start_states_split_the_vix_between_the_factors():
    from tests.test_paths import scen

    from gpu_alvh.spec import load_scenario

    d = scen("svcj2", params=dict(P2), horizon=5, name="split")
    d["params"].pop("v0")
    d["vix"] = 19.0
    spec = load_scenario(d)
    p, q = spec.model_p(), spec.model_q()
    f = spec.v0() / p.effective_theta()
    assert spec.v2_0() == pytest.approx(f * p.theta2, rel=1e-12) and f > 0
    assert spec.initial_vix() == pytest.approx(19.0, rel=1e-12)
    # an explicit slow variance: v0 comes from the VIX at it
    d["params"]["v2_0"] = 0.01
    spec = load_scenario(d)
    assert spec.v2_0() == 0.01 and float(q.vix_from_state(spec.v0(), 0.01)) == pytest.approx(19.0, rel=1e-12)
    # a slow variance whose VIX alone is above the start VIX is refused, naming the field
    d["params"]["v2_0"] = 0.2
    with pytest.raises(SpecError, match="params.v2_0"):
        load_scenario(d)
    d["params"].pop("v2_0")
    d["params"]["v2_0_typo"] = 0.01
    with pytest.raises(SpecError, match="v2_0_typo"):
        load_scenario(d)


def _coarse_two_factor_tables(monkeypatch):
    """The engine's two-factor tables on the coarse grids of tests/test_no_edge.py (COARSE_2F): the default
    grids take 2-3 minutes to build (tests/test_tables_2f.py checks them, ``-m heavy``)."""
    from gpu_alvh.pricing import cache
    from .test_no_edge import COARSE_2F

    real = cache.cached_table

    def coarse(cls, model, **kw):
        if model.n_factors == 2:
            kw = {**kw, **COARSE_2F["spx" if cls.__name__ == "SpxTable" else "vix"]}
        return real(cls, model, **kw)

    monkeypatch.setattr(cache, "cached_table", coarse)


def test_library_two_factor_market_runs_everywhere(monkeypatch, tmp_path):
    """base_2f loads, is priced (alvh price, price_options, price_vix), checked against the history, and run
    by the strategy engine (alvh run: the ALVH book, its baselines and the claims)."""
    from click.testing import CliRunner

    from gpu_alvh.cli import main
    from gpu_alvh.pricing import price_options, price_vix
    from gpu_alvh.spec import load_scenario
    from gpu_alvh.results import open_results

    spec = load_scenario("base_2f")
    assert spec.model == "svcj2" and spec.initial_vix() == pytest.approx(spec.vix, rel=1e-10)
    _coarse_two_factor_tables(monkeypatch)
    out = tmp_path / "r.zarr"
    r = CliRunner().invoke(main, ["run", "base_2f", "--paths", "6", "--backend", "numpy", "--out", str(out), "--no-progress"])
    assert r.exit_code == 0, r.output
    for text in ("scenario base_2f", "alvh", "ladder_unhedged", "single_45", "C1", "C5", "claimed"):
        assert text in r.output
    ds = open_results(out)
    assert ds.sizes["path"] == 6 and "verdict" in ds
    nav = ds["final_nav"].isel(scenario=0)
    assert bool(np.isfinite(nav).all()) and int(ds["n_entries"].isel(scenario=0).min()) > 0
    r = CliRunner().invoke(main, ["price", "base_2f", "--dte", "21", "--backend", "numpy"])
    assert r.exit_code == 0 and f"v2_0 {spec.v2_0():.6f}" in r.output and "VIX futures curve" in r.output, r.output
    params = {**P2, "v0": 0.02, "v2_0": 0.01}
    q = price_vix("svcj2", params, expiries=[0.1], strikes=[15.0, 25.0], backend="numpy")
    np.testing.assert_allclose(q.calls - q.puts, q.futures[:, None] - np.array([15.0, 25.0]), rtol=1e-12)  # parity (rate 0)
    assert q.spot_vix == pytest.approx(float(SVCJ2(**P2).vix_from_state(0.02, 0.01)), rel=1e-14)
    got = price_options("svcj2", params, spot=100.0, strikes=[90.0, 100.0], expiries=0.25, kind="put", backend="numpy")
    ref = cos_price(SVCJ2(**P2), spot=100.0, strikes=np.array([90.0, 100.0]), expiries=0.25, v=0.02, v2=0.01, is_call=False)
    np.testing.assert_allclose(got, ref, rtol=1e-14)
    with pytest.raises(SpecError, match="v2_0"):
        price_options("svcj", {**FAST, **JUMPS, "v0": 0.02, "v2_0": 0.01}, spot=100.0, strikes=[90.0], expiries=0.25)
    r = CliRunner().invoke(main, ["scenarios", "check", "base_2f", "--paths", "40", "--years", "2", "--backend", "numpy"])
    assert r.exit_code == 0, r.output
    assert "VVIX 95th percentile" in r.output and "VIX half-life, mean AR(1) within 252-session windows" in r.output


def test_laplace_vix_calls_equal_the_cos_curves_and_exact_sampling():
    """VIX calls by Bromwich inversion: on SVCJ equal to the COS law of v_T within 5e-5 points (two methods,
    1 to 120 days, low to high variance); on jump-free SVCJ2 equal to exact sampling of both factors within
    4 standard errors."""
    from gpu_alvh.pricing.vix import vix_prices
    from gpu_alvh.pricing.vix_laplace import vix_calls, vix_future

    q = SVCJ(kappa=1.16, theta=0.042, sigma=0.5, rho=-0.89, jump_intensity=2.5, jump_mean=-0.04, jump_std=0.01,
             var_jump_mean=0.028, jump_corr=-0.65)
    K = np.array([10.0, 15.0, 18.0, 22.0, 30.0, 45.0])
    for v in (0.005, 0.09):
        for T in (1 / 365, 30 / 365, 120 / 365):
            ref = np.asarray(vix_prices(q, v, expiries=[T], strikes=K).calls)[0]
            np.testing.assert_allclose(vix_calls(q, T, v, 0.0, K), ref, atol=5e-5)
    m = model(jump_intensity=0.0)
    rng = np.random.default_rng(8)
    n, T, v0, v20 = 400_000, 40 / 365, 0.03, 0.015
    a, a2, b = m.vix2_terms()
    vix = 100 * np.sqrt(a * _exact_cir(rng, m.kappa, m.theta, m.sigma, v0, T, n) + a2 * _exact_cir(rng, m.kappa2, m.theta2, m.sigma2, v20, T, n) + b)
    K = np.array([12.0, 18.0, 25.0, 35.0])
    pay = np.maximum(vix[None, :] - K[:, None], 0.0)
    got = vix_calls(m, T, v0, v20, K)
    assert np.all(np.abs(got - pay.mean(1)) < 4 * pay.std(1) / math.sqrt(n)), (got, pay.mean(1))
    # the call at strike 0 is the future
    assert vix_calls(m, T, v0, v20, [0.0])[0] == pytest.approx(vix_future(m, T, [v0], [v20])[0], rel=1e-5)


def test_a_historical_replay_refuses_two_factors():
    from gpu_alvh.spec import library_path, load_scenario
    from gpu_alvh.spec.loader import load_yaml

    raw = load_yaml(library_path("covid_2020"))
    raw.update(name="covid_2f", model="svcj2", params=dict(P2))
    raw.pop("pricing", None)
    with pytest.raises(SpecError, match="allowed with historical: a one-factor model"):
        load_scenario(raw)


def test_a_sweep_plans_a_two_factor_market(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from gpu_alvh.cli import main

    f = tmp_path / "sw.yaml"
    f.write_text("name: two\nscenarios: [base, base_2f]\ngrid:\n  strategy.short_delta: [0.10, 0.16]\npaths: 8\n")
    r = CliRunner().invoke(main, ["sweep", "plan", str(f)])
    assert r.exit_code == 0 and "base_2f (svcj2, 252 days)" in r.output and "cells: 4" in r.output, r.output
    # the cold-table estimate counts the two-factor model's longer builds
    from gpu_alvh.sweeps import resolve_sweep
    from gpu_alvh.sweeps.estimate import COLD_TABLE_SECONDS_2F, plan_report
    from .test_sweep_spec import _fake_record

    _fake_record(tmp_path / "bench", "numpy", 1000.0, "2026-02-01T00:00:00+00:00")  # its one-factor tables: 2 s
    monkeypatch.setenv("ALVH_BENCH_RESULTS", str(tmp_path / "bench"))
    rep = plan_report(resolve_sweep(str(f)), backend="numpy")
    assert rep["pricing_models"] == 2
    assert rep["seconds_tables_per_worker"] == pytest.approx(2.0 + COLD_TABLE_SECONDS_2F), rep
    assert "Traceback" not in r.output
