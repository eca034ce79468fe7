"""Model maths: VIX identity, jump terms, characteristic functions, moments, validation."""

import math

import numpy as np
import pytest

from gpu_alvh.errors import SpecError
from gpu_alvh.models import MODELS, SVCJ, Bates, Heston, get_model

H = dict(kappa=2.0, theta=0.04, sigma=0.5, rho=-0.7)
J = dict(jump_intensity=0.8, jump_mean=-0.06, jump_std=0.08)
SV = dict(var_jump_mean=0.03, jump_corr=-0.6)


def all_models():
    return [Heston(**H), Bates(**H, **J), SVCJ(**H, **J, **SV)]


def test_spec_vix_coefficients():
    a, b = Heston(kappa=2.0, theta=0.04, sigma=0.3, rho=-0.5).vix2_coefficients()
    assert a == pytest.approx(0.9221327, abs=5e-8)
    assert b == pytest.approx(0.0031147, abs=5e-8)


def test_bates_jump_term():
    m = Bates(**H, **J)
    a, b = m.vix2_coefficients()
    lam, mu, d = J["jump_intensity"], J["jump_mean"], J["jump_std"]
    assert b == pytest.approx(H["theta"] * (1 - a) + 2 * lam * (math.exp(mu + d * d / 2) - 1 - mu), rel=1e-14)


def _vix2_from_cf(model, tau=30 / 365, h=1e-5):
    """VIX^2 = -(2/tau) E[ln(S_tau/S_0)] at r=q=0, with E[x] = -i phi'(0) by central differences."""
    v = 0.03
    cf = lambda u: model.log_price_cf(np.array([u]), tau, v)[0]  # noqa: E731
    mean_x = ((cf(h) - cf(-h)) / (2j * h)).real
    a, b = model.vix2_coefficients(tau)
    return -2.0 / tau * mean_x, a * v + b


@pytest.mark.parametrize("model", all_models(), ids=lambda m: m.name)
def test_vix_formula_agrees_with_characteristic_function(model):
    from_cf, closed = _vix2_from_cf(model)
    assert from_cf == pytest.approx(closed, rel=1e-7)


@pytest.mark.parametrize("model", all_models(), ids=lambda m: m.name)
def test_martingale_cf(model):
    for T in (0.02, 0.5, 3.0):
        assert model.log_price_cf(np.array([-1j]), T, 0.05, rate=0.03, dividend_yield=0.01)[0] == pytest.approx(math.exp(0.02 * T), rel=1e-10)


def test_svcj_without_variance_jumps_is_bates():
    u = np.linspace(0.05, 80, 64)
    b = Bates(**H, **J)
    s0 = SVCJ(**H, **J, var_jump_mean=0.0, jump_corr=-0.6)
    np.testing.assert_allclose(s0.log_price_cf(u, 0.7, 0.03), b.log_price_cf(u, 0.7, 0.03), rtol=1e-13, atol=1e-15)
    s_small = SVCJ(**H, **J, var_jump_mean=1e-10, jump_corr=-0.6)
    np.testing.assert_allclose(s_small.log_price_cf(u, 0.7, 0.03), b.log_price_cf(u, 0.7, 0.03), atol=1e-8)


def test_svcj_jump_integral_closed_form():
    """The closed-form SVCJ jump term agrees with a fine graded quadrature, also for sigma -> 0."""
    from gpu_alvh.models import base

    m = SVCJ(**H, **J, **SV)
    u = np.array([0.3, 5.0, 60.0, 400.0])
    coarse = m.jump_a(u, 2.0)
    s, w = base.graded_quadrature(2.0, n_panels=60, nodes_per_panel=24)
    _, Bs = m.heston_ab(u[:, None], s)
    inner = 1.0 / (1.0 - (Bs + 1j * u[:, None] * m.jump_corr) * m.var_jump_mean)
    fine = m.jump_intensity * (m.price_jump_cf(u) * (inner * w).sum(-1) - 2.0)
    np.testing.assert_allclose(coarse, fine, rtol=1e-10, atol=1e-12)
    # deterministic variance (sigma below the floor) uses its own closed form
    m0 = m.replace(sigma=0.0)
    _, B0 = m0.heston_ab(u[:, None], s)
    inner0 = 1.0 / (1.0 - (B0 + 1j * u[:, None] * m0.jump_corr) * m0.var_jump_mean)
    ref0 = m0.jump_intensity * (m0.price_jump_cf(u) * (inner0 * w).sum(-1) - 2.0)
    np.testing.assert_allclose(m0.jump_a(u, 2.0), ref0, rtol=1e-10, atol=1e-12)


def test_little_trap_is_stable_for_tiny_sigma():
    """Below SIGMA_FLOOR the deterministic limit is used; just above it the formulas agree with it to O(sigma)."""
    u = np.array([0.5, 5.0, 50.0])
    det = Heston(kappa=2.0, theta=0.04, sigma=0.0, rho=-0.5).heston_ab(u, 1.0)
    for sig, tol in ((1e-9, 1e-12), (1e-8, 1e-12), (2e-5, 1e-3)):
        ab = Heston(kappa=2.0, theta=0.04, sigma=sig, rho=-0.5).heston_ab(u, 1.0)
        for x, y in zip(ab, det):
            np.testing.assert_allclose(x, y, rtol=tol, atol=tol)


@pytest.mark.parametrize("model", all_models(), ids=lambda m: m.name)
def test_variance_moments_match_variance_cf(model):
    v0, T, h = 0.02, 0.75, 1e-3
    cf = lambda w: model.variance_cf(np.array([w]), T, v0)[0]  # noqa: E731
    # cumulants from ln CF: k1 = -i d/dw, k2 = -d2/dw2 (central differences)
    lc = lambda w: np.log(cf(w))  # noqa: E731
    k1 = ((lc(h) - lc(-h)) / (2j * h)).real
    k2 = -((lc(h) - 2 * lc(0.0) + lc(-h)) / h**2).real
    assert k1 == pytest.approx(float(model.mean_variance(v0, T)), rel=1e-6)
    assert k2 == pytest.approx(float(model.variance_of_variance(v0, T)), rel=1e-4)


def test_vix_round_trip_and_floor():
    m = SVCJ(**H, **J, **SV)
    v = m.variance_from_vix(25.0)
    assert float(m.vix_from_variance(v)) == pytest.approx(25.0, rel=1e-12)
    assert float(m.variance_from_vix(m.vix_floor() * 0.5)) == 0.0


def test_registry():
    assert set(MODELS) == {"heston", "bates", "svcj", "svcj2"}
    assert get_model("Heston") is Heston
    with pytest.raises(ValueError, match="registered models: heston, bates, svcj"):
        get_model("sabr")


@pytest.mark.parametrize(
    "params,field",
    [
        ({**H, "kappa": -1.0}, "kappa"),
        ({**H, "rho": 1.5}, "rho"),
        ({**H, "sigma": "0.5"}, "sigma"),
        ({**H, "nu": 0.1}, "nu"),
        ({k: v for k, v in H.items() if k != "theta"}, "theta"),
        ({**H, "kappa": float("nan")}, "kappa"),
    ],
)
def test_param_validation(params, field):
    with pytest.raises(SpecError) as err:
        Heston.from_params(params, source="here.yaml")
    assert err.value.field == field
    assert "here.yaml" in str(err.value)


def test_svcj_joint_constraint():
    issues = SVCJ.check_params({**H, **J, "var_jump_mean": 0.5, "jump_corr": 2.0})
    assert [i.field for i in issues] == ["jump_corr"]
