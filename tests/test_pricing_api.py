"""Public pricing API (price_options / price_vix) and the ``alvh price`` command."""

import math

import numpy as np
import pytest
from click.testing import CliRunner

import gpu_alvh.pricing as pricing
from gpu_alvh.errors import SpecError
from gpu_alvh.pricing import VixPrices, price_options, price_vix

ql = pytest.importorskip("QuantLib")

LEWIS = dict(v0=0.04, kappa=4.0, theta=0.25, sigma=1.0, rho=-0.5)
SVCJ_P = dict(v0=0.03, kappa=3.0, theta=0.02, sigma=0.5, rho=-0.7, jump_intensity=0.8, jump_mean=-0.05,
              jump_std=0.05, var_jump_mean=0.04, jump_corr=-0.5)


def test_reexports():
    for name in ("price_options", "price_vix", "SpxTable", "VixTable", "black_scholes", "implied_vol"):
        assert hasattr(pricing, name)


def test_price_options_published_values_and_kinds():
    p = price_options("heston", LEWIS, spot=100.0, strikes=[80.0, 100.0, 120.0], expiries=1.0, rate=0.01,
                      dividend_yield=0.02, kind=["put", "call", "call"], backend="numpy")
    assert isinstance(p, np.ndarray)
    np.testing.assert_allclose(p, [7.958878113256768, 16.070154917028834, 9.024913483457836], rtol=1e-7)
    puts = price_options("heston", LEWIS, spot=100.0, strikes=100.0, expiries=1.0, rate=0.01, dividend_yield=0.02,
                         kind="put", backend="numpy")
    assert float(puts) == pytest.approx(16.070154917028834 - 100 * math.exp(-0.02) + 100 * math.exp(-0.01), rel=1e-9)


def test_price_options_broadcasting():
    K = np.array([90.0, 100.0, 110.0])
    T = np.array([[0.25], [1.0]])
    p = price_options("svcj", SVCJ_P, spot=100.0, strikes=K, expiries=T, rate=0.03, backend="numpy")
    assert p.shape == (2, 3)
    for i, t in enumerate(T[:, 0]):
        row = price_options("svcj", SVCJ_P, spot=100.0, strikes=K, expiries=float(t), rate=0.03, backend="numpy")
        np.testing.assert_allclose(p[i], row, rtol=1e-13)
    assert np.all(np.diff(p, axis=1) < 0) and np.all(np.diff(p, axis=0) > 0)


def test_price_options_model_instance_and_bates_vs_quantlib():
    params = dict(v0=0.05, kappa=2.0, theta=0.05, sigma=0.4, rho=-0.6, jump_intensity=0.6, jump_mean=-0.1, jump_std=0.12)
    T = 91 / 365
    p = float(price_options("bates", params, spot=100.0, strikes=95.0, expiries=T, rate=0.02, kind="put", backend="numpy"))
    today = ql.Date(2, 1, 2024)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    proc = ql.BatesProcess(ql.YieldTermStructureHandle(ql.FlatForward(today, 0.02, dc)),
                           ql.YieldTermStructureHandle(ql.FlatForward(today, 0.0, dc)), ql.QuoteHandle(ql.SimpleQuote(100.0)),
                           0.05, 2.0, 0.05, 0.4, -0.6, 0.6, -0.1, 0.12)
    opt = ql.VanillaOption(ql.PlainVanillaPayoff(ql.Option.Put, 95.0), ql.EuropeanExercise(today + 91))
    opt.setPricingEngine(ql.BatesEngine(ql.BatesModel(proc), 1e-13, 1000000))
    assert p == pytest.approx(opt.NPV(), rel=1e-7)
    from gpu_alvh.models import Bates

    inst = Bates(**{k: v for k, v in params.items() if k != "v0"})
    q = float(price_options(inst, {"v0": 0.05}, spot=100.0, strikes=95.0, expiries=T, rate=0.02, kind="put", backend="numpy"))
    assert q == p


def test_price_options_errors():
    with pytest.raises(SpecError, match="v0"):
        price_options("heston", {k: v for k, v in LEWIS.items() if k != "v0"}, spot=100.0, strikes=100.0, expiries=1.0)
    with pytest.raises(SpecError, match="kappa"):
        price_options("heston", {**LEWIS, "kappa": -1.0}, spot=100.0, strikes=100.0, expiries=1.0, backend="numpy")
    with pytest.raises(ValueError, match="unknown model"):
        price_options("sabr", LEWIS, spot=100.0, strikes=100.0, expiries=1.0, backend="numpy")
    with pytest.raises(ValueError, match="kind"):
        price_options("heston", LEWIS, spot=100.0, strikes=100.0, expiries=1.0, kind="straddle", backend="numpy")
    with pytest.raises(ValueError, match="expiries"):
        price_options("heston", LEWIS, spot=100.0, strikes=100.0, expiries=0.0, backend="numpy")


def test_price_vix_shapes_parity_and_spot():
    K = np.array([15.0, 20.0, 25.0, 35.0])
    q = price_vix("svcj", SVCJ_P, expiries=[0.0, 7 / 365, 30 / 365, 90 / 365], strikes=K, rate=0.04, backend="numpy")
    assert isinstance(q, VixPrices)
    assert q.futures.shape == (4,) and q.calls.shape == (4, 4) and q.puts.shape == (4, 4)
    from gpu_alvh.models import SVCJ

    m = SVCJ(**{k: v for k, v in SVCJ_P.items() if k != "v0"})
    a, b = m.vix2_coefficients()
    assert q.spot_vix == pytest.approx(100 * math.sqrt(a * SVCJ_P["v0"] + b), rel=1e-14)
    assert q.futures[0] == pytest.approx(q.spot_vix, rel=1e-14)
    D = np.exp(-0.04 * q.expiries)[:, None]
    np.testing.assert_allclose(q.calls - q.puts, D * (q.futures[:, None] - K[None, :]), atol=1e-10)
    np.testing.assert_allclose(q.calls[0], np.maximum(q.spot_vix - K, 0.0), atol=1e-12)
    assert np.all(np.isnan(q.implied_vols[0])) and np.all(np.isfinite(q.implied_vols[1:]))
    only = price_vix("heston", LEWIS, expiries=0.1, backend="numpy")
    assert only.calls is None and only.futures.shape == (1,)
    with pytest.raises(ValueError):
        price_vix("heston", LEWIS, expiries=[-1.0], backend="numpy")


def test_cli_price_command():
    from gpu_alvh.cli import main

    runner = CliRunner()
    res = runner.invoke(main, ["price", "base", "--dte", "7,45", "--backend", "numpy"])
    assert res.exit_code == 0, res.output
    out = res.output
    assert "SPX 7 DTE" in out and "SPX 45 DTE" in out and "VIX futures curve" in out
    rows = [ln.split() for ln in out.splitlines() if ln.strip().startswith(("P ", "C "))]
    assert len(rows) >= 10
    for kind, strike, price, iv, delta in rows:
        assert float(strike) % 5 == 0 and float(price) > 0 and 1.0 < float(iv) < 200.0
        assert (0.0 < float(delta) < 1.0) if kind == "C" else (-1.0 < float(delta) < 0.0)
    bad = runner.invoke(main, ["price", "no_such_scenario"])
    assert bad.exit_code == 2 and "no_such_scenario" in bad.output
    bad_dte = runner.invoke(main, ["price", "base", "--dte", "7,abc"])
    assert bad_dte.exit_code == 2
