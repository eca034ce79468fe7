"""Scalar pricing kernels (``gpu_alvh.kernels.blackscholes``, ``.spx``, ``.vix``) against the array layer.

The array pricing layer (``black_scholes``, ``SpxTable``, ``VixTable``) is the oracle.  The kernels run
compiled for the CPU and in the CUDA simulator (``tests/kernel_harness.py``); a PTX compilation for
sm_90 checks that they are valid CUDA device code.

Error bound (float64, per point)
--------------------------------
Kernel and oracle evaluate the same formulas with the same operations in the same order, except: libm
(glibc in the kernels, NumPy's own ``exp``/``log``/``expm1``/``arcsinh``: each within a few ulps of the
correctly rounded value), SciPy's ``erfcx``/``ndtr``/``ndtri`` against :mod:`gpu_alvh.kernels.special`,
and the kernel's out-of-the-money value and normal CDF values, from two ``erfc`` for ``d1_o >= -3`` (the
scaled ``erfcx`` form below that, as the oracle everywhere).  To first order in
``u = 2^-53``:

* table vol: every coordinate (``ln K/F``, ``sqrt(w tau)``, ``asinh(sqrt(v)/eps)``, ``sqrt(tau)``) differs by
  at most ``C/2`` ulps; with the same coordinates the stencil arithmetic is identical, but a coordinate
  an ulp apart rounds every weight and partial sum differently, so each side contributes its forward
  error: ``n u Lambda sigma`` with ``n = 11`` roundings along the deepest path (4 + 2 + 2 terms, 3
  products) and ``Lambda = 1.25`` (Lebesgue constant of the 4-point stencil): ``C_nu = 2 n Lambda ~ 28``,
  taken as 32.  ``|d sigma| <= u [C_nu sigma + C (|d sigma/dk| (1 + |k|) + |v d sigma/dv| + |tau d sigma/dtau|)]``;
* Black-Scholes at a given vol: every input-equivalent perturbation (forward from two ``exp`` and a
  quotient, ``ln F/K``, ``vol sqrt(tau)``) is at most ``C/2`` ulps, so
  ``|d f| <= u [C (T_f + sum_{p = S, K, tau, vol} |p df/dp|) + C_E T_E]``, where ``T_f`` is the sum of the
  magnitudes of the terms that ``f`` adds (theta: ``|theta_var| + q S |delta| + r K D N(+-d2)``) and, for the
  price only, ``T_E = D min(F, K) G (E_1 + E_2) / 2`` is the size of the two ``erfcx`` terms whose
  difference is the out-of-the-money value (they cancel by up to ``1/s``: an ulp of ``erfcx`` is an ulp of
  ``T_E``, not of the price); ``C_E`` is the largest distance, in ulps, between the two ``erfcx``
  implementations on the arguments of the test (measured below, asserted <= 16), and at least
  ``ERFC_FORM_ULPS = 11``: for ``d1_o >= -3`` the kernel's terms are ``lo erfc(y1)``, ``hi erfc(y2)``, each
  off by ``erfc``'s own rounding (~2 ulps) plus its sensitivity to the rounded argument, ``2 y^2 <= 9``
  ulps at ``y = 3 / sqrt 2`` (measured: 0.57 of the bound; 0.34 with the scaled form throughout);
* a table leg: the sum of the two, the vol difference carried by ``|df/dvol|``.

``C = 8`` (four ulps each side).  The partial derivatives are central differences of the oracle
(relative step 1e-6; in ``k`` a step of 1e-4 of ``sqrt(w tau)``, the scale of the moneyness axis:
their own error is far below the factor of two a bound can spare).  Over the
strategy's region the bound is ~1e-12 relative or less, except where the formulas are ill-conditioned
(an hour to expiry: ``|d ln P / d ln F| ~ |d| / s`` reaches 1e4) - there the oracle itself is no more
accurate than the bound; both are printed by ``pytest -s``.  VIX lookups: the same model with
``T`` = the price (calls), ``D (C + F + K)`` (puts by parity), ``|VIX(v)| + |drift|`` (futures) and partials
over ``v, tau, K``.  float32 tables: the same bound with ``u = 2^-24`` and ``C = 32`` (the float32 oracle
rounds every step of the ~30-operation lookup chain; the kernels compute in float64).
"""

from __future__ import annotations

import dataclasses
import math
from functools import lru_cache

import numpy as np
import pytest
import scipy.special as sc
from numba.extending import register_jitable

from gpu_alvh import load_scenario
from gpu_alvh.kernels import blackscholes as kbs
from gpu_alvh.kernels import spx as kspx
from gpu_alvh.kernels import vix as kvix
from gpu_alvh.models import Bates, Heston
from gpu_alvh.pricing.black import black_scholes
from gpu_alvh.pricing.tables import SpxTable
from gpu_alvh.pricing.vix import VixTable

from .kernel_harness import map_kernel

U64, U32 = 2.0**-53, 2.0**-24
C, C_NU = 8.0, 32.0
R, Q = 0.04, 0.013
MODELS = {
    "base": load_scenario("base").model_q(),  # the library's SVCJ pricing model
    "heston": Heston(kappa=2.0, theta=0.04, sigma=0.7, rho=-0.7),
    "bates": Bates(kappa=3.0, theta=0.03, sigma=0.5, rho=-0.6, jump_intensity=0.8, jump_mean=-0.08, jump_std=0.08),
}
H = 1e-6  # relative step of the partial derivatives


@lru_cache(maxsize=None)
def spx_table(name: str, dtype: str = "float64") -> SpxTable:
    if dtype == "float32":  # what build(dtype="float32") does with the same nodes: store them as float32
        t = spx_table(name)
        return dataclasses.replace(t, dtype=np.dtype(np.float32), nu=t.nu.astype(np.float32))
    return SpxTable.build(MODELS[name], rate=R, dividend_yield=Q, backend="numpy", n_z=41, n_v=21, n_tau=18)


@lru_cache(maxsize=None)
def vix_table(name: str, dtype: str = "float64") -> VixTable:
    if dtype == "float32":
        t = vix_table(name)
        f32 = {k: getattr(t, k).astype(np.float32) for k in ("xi", "sig", "fut", "cn", "c_first", "c_last", "slope_last")}
        return dataclasses.replace(t, dtype=np.dtype(np.float32), **f32)
    return VixTable.build(MODELS[name], rate=R, backend="numpy", n_v=21, n_tau=12, n_xi=81)


# ----------------------------------------------------------------------------- probes (one kernel each)
@register_jitable
def _spx_leg_probe(spot, strike, v, tau, tau_v, is_call, rec, nu):
    ctx = kspx.spx_slice(rec, spot, v, 0.0, tau, tau_v)
    p, d, g, ve, tc, tv = kspx.spx_leg(rec, nu, ctx, strike, is_call)
    return kspx.spx_leg_iv(rec, nu, ctx, strike), p, d, g, ve, tc, tv, kspx.spx_leg_price(rec, nu, ctx, strike, is_call)


@register_jitable
def _spx_strike_probe(spot, v, tau, tau_v, delta, is_call, grid, rec, nu):
    return kspx.spx_strike_for_delta(rec, nu, spot, v, 0.0, tau, tau_v, delta, is_call, grid, 6)


@register_jitable
def _spx_call_probe(spot, strike, v, tau, tau_v, is_call, k, rec, nu):
    """The one-call forms (thin compositions; compiled in the PTX test, run here in the simulator)."""
    return (kspx.spx_price_greeks(rec, nu, spot, strike, v, 0.0, tau, tau_v, is_call)[0],
            kspx.spx_price(rec, nu, spot, strike, v, 0.0, tau, tau_v, is_call), kspx.spx_iv(rec, nu, k, v, 0.0, tau_v))


@register_jitable
def _bs_probe(spot, strike, tau, tau_v, vol, is_call, floor):
    p, d, g, ve, tc, tv = kbs.black_scholes(spot, strike, tau, tau_v, vol, R, Q, is_call, floor)
    return p, d, g, ve, tc, tv, kbs.black_scholes_price(spot, strike, tau, tau_v, vol, R, Q, is_call, floor)


@register_jitable
def _vix_probe(v, tau, tau_v, strike, is_call, rec, data):
    ctx = kvix.vix_slice(rec, data, v, 0.0, tau, tau_v)
    return kvix.vix_future(rec, data, v, 0.0, tau_v), kvix.vix_leg(rec, data, ctx, strike, is_call), ctx[0], \
        kvix.vix_option(rec, data, v, 0.0, tau, tau_v, strike, is_call)


def run_spx(target, tab, S, K, v, tau, tau_v, call):
    """``(vol, price, delta, gamma, vega, theta_cal, theta_var, leg price)`` of the legs."""
    d = kspx.spx_kernel_data(tab)
    return map_kernel(_spx_leg_probe, target, S, K, v, tau, tau_v, call, extra=(d.rec, d.nu), n_out=8)


def run_strikes(target, tab, S, v, tau, delta, call, grid):
    d = kspx.spx_kernel_data(tab)
    return map_kernel(_spx_strike_probe, target, S, v, tau, tau, delta, call, np.full(S.size, grid), extra=(d.rec, d.nu))


def run_vix(target, tab, v, tau, tau_v, K, call):
    d = kvix.vix_kernel_data(tab)
    return map_kernel(_vix_probe, target, v, tau, tau_v, K, call, extra=(d.rec, d.data), n_out=4)


# ----------------------------------------------------------------------------- inputs
def spx_points(rng, n, tab):
    """Random points over the strategy's region and beyond, plus the edge cases of the module doc.

    v log-uniform over the table's range (VIX ~ 6 to 150), tau uniform in [0, 120] days (a tenth within
    the first hour), strikes on the 5-point grid over +-6 standard deviations of the forward (|delta|
    from ~1e-9 to 1: the strategy's region |delta| >= 0.01 is inside).
    """
    S = 5000.0 * np.exp(rng.normal(0.0, 0.15, n))
    v = np.exp(rng.uniform(math.log(1e-4), math.log(2.25), n))
    tau = rng.uniform(0.0, 120.0, n) / 365.0
    tau[: n // 10] = rng.uniform(0.0, 1.0 / 24.0, n // 10) / 365.0
    sd = np.sqrt(np.maximum(v, 0.01) * np.maximum(tau, 1.0 / (24 * 365)))
    K = np.maximum(np.round(S * np.exp(rng.uniform(-6.0, 6.0, n) * sd) / 5.0) * 5.0, 5.0)
    call = rng.random(n) < 0.5
    tau_min = tab.st_axis.start ** 2
    # edges: expiry (at, in and out of the money, exactly at the forward), below the first node, beyond
    # the last one, v = 0 / negative / above the grid, moneyness beyond the z grid, deep ITM / OTM
    eS = np.array([5000.0, 5000.0, 4900.0, 5100.0, 5000.0, 5000.0, 5000.0, 5000.0, 5000.0, 5000.0, 5000.0, 5000.0])
    eK = np.array([5000.0, 5000.0, 5000.0, 5000.0, 5050.0, 5000.0, 4000.0, 6500.0, 5000.0, 1000.0, 20000.0, 4995.0])
    ev = np.array([0.02, 0.02, 0.02, 0.02, 0.02, 0.0, -0.01, 9.0, 0.04, 0.02, 0.02, 0.04])
    et = np.array([0.0, 0.0, 0.0, 0.0, 0.3 * tau_min, 1e-9, 0.5, 0.5, 200.0 / 365.0, 0.1, 0.1, tau_min])
    ec = np.array([True, False, True, False, True, False, True, False, True, True, False, True])
    return [np.concatenate(p) for p in ((S, eS), (K, eK), (v, ev), (tau, et), (call, ec))]


# ----------------------------------------------------------------------------- bounds
def partials(f, args, names):
    """``sum_p |p df/dp|`` over the named arguments (central differences, relative step ``H``), per output."""
    total = None
    for name in names:
        up, dn = dict(args), dict(args)
        up[name] = args[name] * (1.0 + H)
        dn[name] = args[name] * (1.0 - H)
        term = [np.abs(np.asarray(a) - np.asarray(b)) / (2.0 * H) for a, b in zip(f(**up), f(**dn))]
        total = term if total is None else [t + s for t, s in zip(total, term)]
    return total


def bs_terms(S, K, tau, vol, call, g, theta_var):
    """``T_f`` of (price, delta, gamma, vega, theta) and the erfcx term ``T_E`` of the price (module doc)."""
    disc, dq = np.exp(-R * tau), np.exp(-Q * tau)
    F = S * dq / disc
    s = np.maximum(vol * np.sqrt(tau), 1e-150)
    x = -np.abs(np.log(F / K))
    d1 = x / s + 0.5 * s
    with np.errstate(under="ignore", over="ignore", invalid="ignore"):
        TE = disc * np.minimum(F, K) * np.exp(-0.5 * d1 * d1) * (sc.erfcx(-d1 / math.sqrt(2.0)) + sc.erfcx(-(d1 - s) / math.sqrt(2.0))) / 2.0
    TE = np.nan_to_num(TE, nan=0.0, posinf=0.0)
    P, D, G, V, _ = (np.asarray(a) for a in g)
    kn2 = np.where(call, S * D - P, P - S * D)  # K D N(+-d2) from the price and delta
    return [np.abs(P), np.abs(D), np.abs(G), np.abs(V), np.abs(theta_var) + Q * S * np.abs(D) + R * np.abs(kn2)], TE


ERFC_FORM_ULPS = 2.0 + 2.0 * (3.0 / math.sqrt(2.0)) ** 2  # the kernel's erfc terms for d1_o >= -3 (module doc)


def erfcx_ulps(S, K, tau, vol):
    """Largest distance (ulps) between SciPy's and the kernel's erfcx on the price's arguments."""
    F = S * np.exp((R - Q) * tau)
    s = np.maximum(vol * np.sqrt(tau), 1e-150)
    d1 = np.clip(-np.abs(np.log(F / K)) / s, -30.0, None) + 0.5 * s
    y = np.concatenate([-d1, -(d1 - s)]) / math.sqrt(2.0)
    y = y[np.isfinite(y) & (y < 26.0)]
    from gpu_alvh.kernels.special import erfcx

    got = map_kernel(erfcx, "python", y)  # the same function, compiled or not (test_kernel_special)
    return float(np.max(np.abs(got - sc.erfcx(y)) / (sc.erfcx(y) * U64)))


def check(name, got, want, tol, report=None):
    """Assert ``|got - want| <= tol``, plus the oracle's smallest normal number (subnormals round absolutely)."""
    floor = np.finfo(np.asarray(want).dtype).tiny if np.asarray(want).dtype.kind == "f" else 0.0
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    bad = ~(np.abs(got - want) <= tol + floor)
    if report is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(np.abs(want) > 1e-12, tol / np.abs(want), 0.0)
        print(f"  {name:>10}: max |diff|/bound {np.max(np.abs(got - want) / np.maximum(tol, 1e-300)):.3f}, "
              f"bound/|value| in the region: median {np.median(rel[report]):.1e}, max {np.max(rel[report]):.1e}")
    assert not bad.any(), f"{name}: {bad.sum()} points beyond the bound, first {np.argmax(bad)}: {got[bad][:3]} vs {want[bad][:3]}"


def bs_bound(S, K, tau, vol, call, u=U64, c=C, ce=None):
    """Per-point bound of (price, delta, gamma, vega, theta) of Black-Scholes at a given vol, and df/dvol."""
    def f(S, K, tau, vol):
        return black_scholes(S, K, tau, vol, rate=R, dividend_yield=Q, is_call=call, backend="numpy")

    g = f(S, K, tau, vol)
    sens = partials(f, {"S": S, "K": K, "tau": tau, "vol": vol}, ("S", "K", "tau", "vol"))
    theta_var = -np.asarray(g.vega) * vol / (2.0 * np.where(tau > 0.0, tau, 1.0)) * (tau > 0.0)
    terms, TE = bs_terms(S, K, tau, vol, call, g, theta_var)
    ce = max(erfcx_ulps(S, K, tau, vol), ERFC_FORM_ULPS) if ce is None else ce
    tol = [u * c * (t + s) for t, s in zip(terms, sens)]
    tol[0] = tol[0] + u * ce * TE
    dvol = [np.abs(np.asarray(a) - np.asarray(b)) / (2.0 * H * vol + 1e-300)
            for a, b in zip(f(S, K, tau, vol * (1 + H)), f(S, K, tau, vol * (1 - H)))]
    return g, tol, dvol, ce


def iv_bound(tab, k, v, tau, u=U64, c=C, c_nu=C_NU, v2=0.0):
    """Per-point bound of the table vol (module doc); ``v2``: the slow variance of a two-factor table (one
    more input whose sensitivity enters the bound)."""
    v2 = np.broadcast_to(np.asarray(v2, dtype=float), np.shape(v))

    def f(k, v, tau, v2):
        return (tab.iv(k, v, tau, v2=v2),)

    sigma = np.asarray(f(k, v, tau, v2)[0], dtype=float)
    # k enters as z = k / sqrt(w tau): step on the scale of z (sqrt(w tau) is ~1e-10 a second before expiry)
    hk = 1e-4 * np.sqrt(np.asarray(tab.mean_variance(np.maximum(v, 0.0), tau, np.maximum(v2, 0.0)), dtype=float) * np.maximum(tau, 1e-12))
    dk = np.abs(np.asarray(f(k + hk, v, tau, v2)[0], dtype=float) - np.asarray(f(k - hk, v, tau, v2)[0], dtype=float)) / (2.0 * hk)
    sens = partials(f, {"k": k, "v": v, "tau": tau, "v2": v2}, ("v", "tau", "v2"))[0]
    return sigma, u * (c_nu * sigma + c * (dk * (1.0 + np.abs(k)) + sens))


@pytest.mark.parametrize("target", ["cpu", "cudasim"])
def test_black_scholes_matches_array(target):
    rng = np.random.default_rng(11)
    n = 4000 if target == "cpu" else 300
    S = 5000.0 * np.exp(rng.normal(0.0, 0.2, n))
    vol = np.exp(rng.uniform(math.log(0.01), math.log(1.5), n))
    tau = rng.uniform(0.0, 120.0, n) / 365.0
    tau[: n // 10] = rng.uniform(0.0, 1.0 / 24.0, n // 10) / 365.0
    tau[:5] = 0.0
    K = S * np.exp(rng.uniform(-6.0, 6.0, n) * vol * np.sqrt(np.maximum(tau, 1e-5)))
    K[:2] = S[:2] * np.exp((R - Q) * tau[:2])  # at the forward (x = 0)
    call = rng.random(n) < 0.5
    out = map_kernel(_bs_probe, target, S, K, tau, tau, vol, call, np.full(n, kbs.SD_FLOOR_F64), n_out=7)
    g, tol, _, ce = bs_bound(S, K, tau, vol, call)
    assert ce <= 16.0
    region = np.abs(np.asarray(g.delta)) >= 0.01
    print(f"\nBlack-Scholes ({target}, {n} points, C_E {ce:.1f} ulps: erfcx distance or ERFC_FORM_ULPS)")
    for name, got, want, t in zip(("price", "delta", "gamma", "vega", "theta"), out[:4] + [out[4] + out[5]], g, tol):
        check(name, got, want, t, report=region)
    np.testing.assert_array_equal(out[6], out[0])  # the price-only path is the same arithmetic
    expired = tau == 0.0
    np.testing.assert_array_equal(out[0][expired], np.asarray(g.price)[expired])
    assert np.all(out[2][expired] == 0.0) and np.all(out[3][expired] == 0.0) and np.all(out[5][expired] == 0.0)


def test_black_scholes_two_clocks():
    """``tau_v != tau``: total variance vol^2 tau_v, discount and carry over tau; theta in two parts."""
    rng = np.random.default_rng(12)
    n = 2000
    S = 5000.0 * np.exp(rng.normal(0.0, 0.1, n))
    vol = rng.uniform(0.05, 0.8, n)
    tau = rng.uniform(1.0, 120.0, n) / 365.0
    tau_v = tau * rng.uniform(0.6, 1.0, n)  # e.g. sessions / 252 against days / 365 across weekends
    K = S * np.exp(rng.uniform(-4.0, 4.0, n) * vol * np.sqrt(tau_v))
    call = rng.random(n) < 0.5
    out = map_kernel(_bs_probe, "cpu", S, K, tau, tau_v, vol, call, np.full(n, kbs.SD_FLOOR_F64), n_out=7)
    ratio = np.sqrt(tau_v / tau)  # the one-clock vol with the same total variance over tau
    g, tol, _, _ = bs_bound(S, K, tau, vol * ratio, call)
    check("price", out[0], g.price, tol[0])
    check("delta", out[1], g.delta, tol[1])
    check("gamma", out[2], g.gamma, tol[2])
    check("vega", out[3], np.asarray(g.vega) * ratio, tol[3] * ratio)
    # one-clock theta at fixed vol*ratio moves tau_v with tau: dtau_v/dtau = tau_v / tau
    check("theta", out[4] + out[5] * tau_v / tau, g.theta, tol[4])
    # each part is the derivative along its own clock (central differences of the kernel's price, O(h^2))
    h = 1e-5 * tau
    floor = np.full(n, kbs.SD_FLOOR_F64)
    pc = [map_kernel(_bs_probe, "cpu", S, K, tau + e * h, tau_v, vol, call, floor, n_out=7)[0] for e in (1, -1)]
    pv = [map_kernel(_bs_probe, "cpu", S, K, tau, tau_v + e * h, vol, call, floor, n_out=7)[0] for e in (1, -1)]
    scale = np.abs(out[4]) + np.abs(out[5]) + 1e-6 * out[0]
    assert np.all(np.abs(out[4] + (pc[0] - pc[1]) / (2 * h)) <= 1e-6 * scale)
    assert np.all(np.abs(out[5] + (pv[0] - pv[1]) / (2 * h)) <= 1e-6 * scale)


def leg_bounds(tab, S, K, v, tau, call, u=U64, c=C, v2=0.0):
    """Oracle values and per-point bounds of (vol, price, delta, gamma, vega, theta) of a table leg."""
    F = np.asarray(tab.forward(S, tau), dtype=float)
    k = np.log(K / F)
    sigma, tol_sigma = iv_bound(tab, k, v, np.maximum(tau, 0.0), u, c, v2=v2)
    g = tab.price_greeks(S, K, v, tau, call, v2=v2)
    _, tol, dvol, _ = bs_bound(S, K, np.maximum(tau, 0.0), sigma, call, u, c, ce=16.0 if u == U32 else None)
    return sigma, tol_sigma, g, [t + dv * tol_sigma for t, dv in zip(tol, dvol)]


def strike_bound(tab, S, v, tau, delta, call, raw, v2=0.0):
    """Bound of the unrounded strike from a delta: the secant root moves by the residual's difference.

    At the oracle's root ``k*`` the residual ``g(k) = k - sigma^2 tau / 2 + d1 sigma sqrt(tau)`` differs by
    ``|d d1| sigma sqrt(tau) + |dg/dsigma| |d sigma|`` (``d1`` from ``ndtri``: <= 2e-15 max(|d1|, 1) apart,
    ``tests/test_kernel_special.py``; ``d sigma`` the vol bound), so ``k*`` by that over ``|dg/dk|``;
    plus the forward and ``exp`` of the strike (``C`` ulps).  Assumes both iterations converged.
    """
    tau = np.maximum(tau, tab.st_axis.start ** 2)
    F = np.asarray(tab.forward(S, tau), dtype=float)
    k = np.log(raw / F)
    d1 = sc.ndtri(np.clip(np.abs(delta) * np.exp(Q * tau), 1e-9, 1 - 1e-9)) * np.where(call, 1.0, -1.0)
    sigma, tol_sigma = iv_bound(tab, k, v, tau, v2=v2)
    hk = 1e-4 * np.sqrt(np.asarray(tab.mean_variance(np.maximum(v, 0.0), tau, np.maximum(v2, 0.0)), dtype=float) * tau)
    sig_k = (np.asarray(tab.iv(k + hk, v, tau, v2=v2)) - np.asarray(tab.iv(k - hk, v, tau, v2=v2))) / (2.0 * hk)
    dg_ds = -(sigma * tau - d1 * np.sqrt(tau))
    dg_dk = np.abs(1.0 + dg_ds * sig_k)
    dk = (2e-15 * np.maximum(np.abs(d1), 1.0) * sigma * np.sqrt(tau) + np.abs(dg_ds) * tol_sigma) / dg_dk
    return raw * (dk + C * U64 * (1.0 + np.abs(k)))


def tie_or_equal(got, want, raw_want, raw_tol, grid=5.0):
    """Rounded strikes equal, or the oracle's raw strike within its own uncertainty of a half-grid tie."""
    dist = np.abs(np.mod(raw_want / grid, 1.0) - 0.5) * grid
    return (got == want) | (dist <= raw_tol)


@pytest.mark.parametrize("target,name", [("cpu", "base"), ("cpu", "heston"), ("cpu", "bates"), ("cudasim", "base"),
                                         ("cudasim", "bates")])
def test_spx_legs_match_table(target, name):
    tab = spx_table(name)
    rng = np.random.default_rng({"base": 21, "heston": 22, "bates": 23}[name])
    S, K, v, tau, call = spx_points(rng, 3000 if target == "cpu" else 250, tab)
    out = run_spx(target, tab, S, K, v, tau, tau, call)
    sigma, tol_sigma, g, tol = leg_bounds(tab, S, K, v, tau, call)
    region = (np.abs(np.asarray(g.delta)) >= 0.01) & (tau >= tab.st_axis.start ** 2)
    print(f"\nSPX table legs ({name}, {target}, {S.size} points; region: |delta| >= 0.01 from the first node on)")
    check("vol", out[0], sigma, tol_sigma, report=region)
    for i, (nm, want) in enumerate(zip(("price", "delta", "gamma", "vega"), g)):
        check(nm, out[1 + i], want, tol[i], report=region)
    check("theta", out[5] + out[6], g.theta, tol[4], report=region)
    np.testing.assert_array_equal(out[7], out[1])  # the price-only path is the same arithmetic
    assert np.all(np.isfinite(np.stack(out)))
    if target == "cudasim":
        k = np.log(K / np.asarray(tab.forward(S, np.maximum(tau, 0.0))))
        d = kspx.spx_kernel_data(tab)
        one = map_kernel(_spx_call_probe, target, S, K, v, tau, tau, call, k, extra=(d.rec, d.nu), n_out=3)
        np.testing.assert_array_equal(one[0], out[1])
        np.testing.assert_array_equal(one[1], out[1])
        check("iv(k)", one[2], sigma, tol_sigma)
    # strikes from deltas: the same grid strike (ties: see tie_or_equal)
    delta = rng.uniform(0.01, 0.5, S.size)
    ks, raw = (run_strikes(target, tab, S, v, tau, delta, call, grid) for grid in (5.0, 0.0))
    ks_a = tab.strike_for_delta(S, v, tau, delta, call, grid=5.0)
    raw_a = tab.strike_for_delta(S, v, tau, delta, call, grid=0.0)
    raw_tol = strike_bound(tab, S, v, tau, delta, call, raw_a)
    check("raw strike", raw, raw_a, raw_tol)
    ok = tie_or_equal(ks, ks_a, raw_a, raw_tol)
    assert ok.all(), (ks[~ok], ks_a[~ok])
    print(f"  strikes: {np.sum(ks == ks_a)} of {ks.size} equal, raw max rel diff {np.max(np.abs(raw - raw_a) / raw_a):.1e}")


def test_spx_two_clocks():
    """``tau_v != tau``: the table at ``tau_v``, the forward and discount at ``tau``, total variance sigma^2 tau_v."""
    tab = spx_table("base")
    rng = np.random.default_rng(24)
    S, K, v, tau, call = spx_points(rng, 1500, tab)
    tau = np.maximum(tau, 1.0 / 365.0)
    tau_v = tau * rng.uniform(0.6, 1.0, tau.size)
    F = np.asarray(tab.forward(S, tau))
    out = run_spx("cpu", tab, S, K, v, tau, tau_v, call)
    sigma, tol_sigma = iv_bound(tab, np.log(K / F), v, tau_v)
    check("vol", out[0], sigma, tol_sigma)
    ratio = np.sqrt(tau_v / tau)  # the one-clock vol with the same total variance over tau
    g, tol, dvol, _ = bs_bound(S, K, tau, sigma * ratio, call)
    tol = [t + dv * tol_sigma * ratio for t, dv in zip(tol, dvol)]
    for i, nm in enumerate(("price", "delta", "gamma")):
        check(nm, out[1 + i], g[i], tol[i])
    check("vega", out[4], np.asarray(g.vega) * ratio, tol[3] * ratio)
    check("theta", out[5] + out[6] * tau_v / tau, g.theta, tol[4])


def test_spx_table_orders():
    """Every per-axis order of the table (1 or 3) is looked up as ``SpxTable`` does."""
    base = spx_table("base")
    rng = np.random.default_rng(25)
    S, K, v, tau, call = spx_points(rng, 800, base)
    for order in ((1, 1, 1), (3, 3, 3), (3, 1, 3), (1, 3, 1), 3):
        tab = dataclasses.replace(base, order=order)
        F = np.asarray(tab.forward(S, np.maximum(tau, 0.0)))
        out = run_spx("cpu", tab, S, K, v, tau, tau, call)
        sigma, tol_sigma = iv_bound(tab, np.log(K / F), v, np.maximum(tau, 0.0))
        check(f"vol {order}", out[0], sigma, tol_sigma)
    with pytest.raises(ValueError, match="order"):
        kspx.spx_kernel_data(dataclasses.replace(base, order=(1, 2, 3)))


def vix_points(rng, n, tab):
    """VIX lookups: v log-uniform over the table's range, tau in [0, 120] days, strikes 5-150, plus edges."""
    v = np.exp(rng.uniform(math.log(1e-4), math.log(2.25), n))
    tau = rng.uniform(0.0, 120.0, n) / 365.0
    K = rng.uniform(5.0, 150.0, n)
    call = rng.random(n) < 0.5
    # edges: expiry, beyond the last node, v = 0 / negative / above the grid, moneyness beyond the grid
    ev = np.array([0.04, 0.04, 0.04, 0.0, -0.01, 4.0, 0.04, 0.04, 0.04, 0.3])
    et = np.array([0.0, 0.0, 200.0 / 365.0, 0.1, 0.1, 0.1, 1e-6, 0.1, 0.1, 0.25])
    eK = np.array([15.0, 30.0, 20.0, 10.0, 10.0, 60.0, 20.0, 5.0, 1000.0, 150.0])
    ec = np.array([True, False, True, False, True, False, True, False, True, False])
    return [np.concatenate(p) for p in ((v, ev), (tau, et), (K, eK), (call, ec))]


def vix_bound(tab, tab64, v, tau, K, call, u=U64, c=C, c_nu=C_NU):
    """Oracle values and bounds of (futures, option): ``T`` terms and partials over v, tau, K (module doc)."""
    def f(v, tau, K):
        return tab64.future(v, tau), tab64.option(v, tau, K, call)

    F, P = (np.asarray(a, dtype=float) for a in (tab.future(v, tau), tab.option(v, tau, K, call)))
    sens = partials(f, {"v": v, "tau": tau, "K": K}, ("v", "tau", "K"))
    a, b = tab.model.vix2_coefficients()
    spot = 100.0 * np.sqrt(np.maximum(a * v + b, 0.0))
    tol_f = u * (c * (spot + sens[0]) + c_nu * np.abs(F - spot))
    D = np.exp(-R * np.maximum(tau, 0.0))
    call_und = np.asarray(tab64.option(v, tau, K, True), dtype=float) / D
    terms = np.where(call, np.abs(P), D * (call_und + F + K))
    tol_p = u * (c * sens[1] + c_nu * terms) + (np.abs(P) + D * K) / F * tol_f
    return F, P, tol_f, tol_p


@pytest.mark.parametrize("target,name", [("cpu", "base"), ("cpu", "heston"), ("cpu", "bates"), ("cudasim", "base")])
def test_vix_matches_table(target, name):
    tab = vix_table(name)
    rng = np.random.default_rng({"base": 31, "heston": 32, "bates": 33}[name])
    v, tau, K, call = vix_points(rng, 3000 if target == "cpu" else 300, tab)
    out = run_vix(target, tab, v, tau, tau, K, call)
    F, P, tol_f, tol_p = vix_bound(tab, tab, v, tau, K, call)
    print(f"\nVIX table ({name}, {target}, {v.size} points)")
    check("futures", out[0], F, tol_f, report=np.ones(v.size, bool))
    check("option", out[1], P, tol_p, report=(tau > 0) & (P > 1e-3))
    np.testing.assert_array_equal(out[2], out[0])  # the slice's futures price
    np.testing.assert_array_equal(out[3], out[1])  # the one-call form
    # two clocks: the table at tau_v, the discount at tau
    tau_c = tau + rng.uniform(0.0, 0.2, tau.size) * tau
    out2 = run_vix(target, tab, v, tau_c, tau, K, call)
    ratio = np.exp(-R * tau_c) / np.exp(-R * tau)
    check("option 2 clocks", out2[1], P * ratio, tol_p * ratio + C * U64 * np.abs(P))


def test_vix_corners_on_moneyness_nodes():
    """The corners of a VIX lookup after the first find their moneyness interval by walking the stored nodes
    (no ``asinh``): at strikes that put a corner's moneyness exactly on a node, or a few ulps either side,
    where the walk and the array version's ``asinh`` can choose neighbouring intervals, the price stays
    within the bound of the random points (both interpolants give the node's value there)."""
    tab = vix_table("base")
    d = kvix.vix_kernel_data(tab)
    xi = np.asarray(tab.xi, dtype=float)
    v_s, tau_s, K_s, call_s, walked = [], [], [], [], 0
    for v, tau in ((0.02, 10.0 / 365.0), (0.05, 30.0 / 365.0), (0.3, 75.0 / 365.0), (1.2, 5.0 / 365.0)):
        fut, _, _, _, inv = kvix.vix_slice(d.rec, d.data, v, 0.0, tau, tau)
        for c in range(4):
            for j in range(1, xi.size - 1, 3):
                for ulps in (-3, 0, 3):
                    K = fut * (1.0 + xi[j] / inv[c])
                    K = float(K + ulps * np.spacing(K))
                    if K <= 0.0:
                        continue
                    mny = K / fut - 1.0
                    x = [mny * inv[cc] for cc in range(4)]
                    inside = [xi[0] <= xc <= xi[-1] for xc in x]
                    # a later corner inside the grid in another interval than the first one inside: a walk
                    ins = [int(np.searchsorted(xi, xc, side="right")) for xc, ok in zip(x, inside) if ok]
                    walked += len(set(ins)) > 1
                    for call in (True, False):
                        v_s.append(v), tau_s.append(tau), K_s.append(K), call_s.append(call)
    assert walked > 20  # the walk moved across nodes, not only stayed in the first corner's interval
    v, tau, K, call = (np.array(a) for a in (v_s, tau_s, K_s, call_s))
    out = run_vix("cpu", tab, v, tau, tau, K, call)
    F, P, tol_f, tol_p = vix_bound(tab, tab, v, tau, K, call)
    check("futures", out[0], F, tol_f)
    check("option", out[1], P, tol_p)


def test_float32_tables():
    """float32 tables: the kernels (float64 arithmetic on float32 nodes) agree within the float32 oracle's rounding."""
    rng = np.random.default_rng(41)
    t32, t64 = spx_table("base", "float32"), spx_table("base")
    S, K, v, tau, call = (a.astype(np.float32).astype(float) if a.dtype.kind == "f" else a for a in spx_points(rng, 1500, t64))
    F = np.asarray(t32.forward(S.astype(np.float32), tau.astype(np.float32)), dtype=float)
    out = run_spx("cpu", t32, S, K, v, tau, tau, call)
    c32, cnu32, ce32 = 32.0, 64.0, 16.0
    _, tol_sigma = iv_bound(t64, np.log(K / F), v, tau, U32, c32, cnu32)
    f32 = lambda a: a.astype(np.float32)  # noqa: E731
    sigma = np.asarray(t32.iv(f32(np.log(K / F)), f32(v), f32(tau)), dtype=float)
    check("vol f32", out[0], sigma, tol_sigma)
    g32 = t32.price_greeks(f32(S), f32(K), f32(v), f32(tau), call)
    _, tol, dvol, _ = bs_bound(S, K, tau, np.asarray(t64.iv(np.log(K / F), v, tau)), call, U32, c32, ce32)
    for i, nm in enumerate(("price", "delta", "gamma", "vega", "theta")):
        got = out[1 + i] if i < 4 else out[5] + out[6]
        check(f"{nm} f32", got, g32[i], tol[i] + dvol[i] * tol_sigma)
    v32, v64 = vix_table("base", "float32"), vix_table("base")
    vv, tt, KK, cc = (a.astype(np.float32).astype(float) if a.dtype.kind == "f" else a for a in vix_points(rng, 1000, v64))
    out = run_vix("cpu", v32, vv, tt, tt, KK, cc)
    F, P, tol_f, tol_p = vix_bound(v32, v64, f32(vv), f32(tt), f32(KK), cc, U32, c32, cnu32)
    check("futures f32", out[0], F, tol_f)
    check("option f32", out[1], P, tol_p)


def test_kernel_data_records():
    tab, vt = spx_table("heston"), vix_table("heston")
    d = kspx.spx_kernel_data(tab)
    r = d.rec[0]
    assert (r["z_n"], r["sv_n"], r["st_n"]) == (41, 21, 18) and r["stride_t"] == 21 * 41 and r["stride_v"] == 41
    assert (r["order_t"], r["order_v"], r["order_z"]) == (1, 1, 3) and r["kappa"] == MODELS["heston"].kappa
    assert r["tau_min"] == tab.st_axis.start ** 2 and r["sd_floor"] == 1e-150
    assert d.nu.base is tab.nu or np.shares_memory(d.nu, tab.nu)  # no copy of the table
    assert kspx.spx_kernel_data(spx_table("base", "float32")).rec[0]["sd_floor"] == 1e-15
    dv = kvix.vix_kernel_data(vt)
    r = dv.rec[0]
    n_tv = vt.fut.size
    assert dv.data.size == 5 * n_tv + vt.xi.size + vt.cn.size
    np.testing.assert_array_equal(dv.data[r["off_cn"]:], vt.cn.reshape(-1))
    np.testing.assert_array_equal(dv.data[r["off_xi"]:r["off_xi"] + vt.xi.size], vt.xi)
    assert (r["a_vix"], r["b_vix"]) == MODELS["heston"].vix2_coefficients()


def test_kernels_compile_for_cuda(ptx_sm90):
    """Every public device function compiles to PTX for sm_90 (H100/H200) (float32 tables: the CPU test compiles them)."""
    import numba
    from numba import types

    cuda = ptx_sm90

    def kernel(rec, nu, vrec, data, S, K, v, t, out):
        i = cuda.grid(1)
        if i < S.size:
            ctx = kspx.spx_slice(rec, S[i], v[i], 0.0, t[i], 0.9 * t[i])
            p, d, g, ve, tc, tv = kspx.spx_leg(rec, nu, ctx, K[i], True)
            a = kspx.spx_leg_price(rec, nu, ctx, K[i], False) + kspx.spx_price(rec, nu, S[i], K[i], v[i], 0.0, t[i], t[i], True)
            a += kspx.spx_leg_iv(rec, nu, ctx, K[i])
            a += kspx.spx_price_greeks(rec, nu, S[i], K[i], v[i], 0.0, t[i], t[i], False)[1] + kspx.spx_iv(rec, nu, 0.1, v[i], 0.0, t[i])
            a += kspx.spx_strike_for_delta(rec, nu, S[i], v[i], 0.0, t[i], t[i], 0.16, False, 5.0, 6)
            vc = kvix.vix_slice(vrec, data, v[i], 0.0, t[i], t[i])
            a += kvix.vix_leg(vrec, data, vc, 20.0, True) + kvix.vix_future(vrec, data, v[i], 0.0, t[i])
            a += kvix.vix_option(vrec, data, v[i], 0.0, t[i], t[i], 25.0, False)
            a += kbs.black_scholes_price(S[i], K[i], t[i], t[i], 0.2, R, Q, True, 1e-150)
            out[i] = a + p + d + g + ve + tc + tv

    table = types.float64[::1]
    sig = (types.Array(numba.from_dtype(kspx.SPX_RECORD), 1, "C"), table, types.Array(numba.from_dtype(kvix.VIX_RECORD), 1, "C"),
           table) + (types.float64[::1],) * 5
    ptx, _ = cuda.compile_ptx(kernel, sig, cc=(9, 0))
    assert ".entry" in ptx and "sm_90" in ptx
    assert ".local" not in ptx  # no local-memory arrays: contexts stay in registers


def test_nan_inputs_give_nan():
    """A NaN input never comes out as a finite price (the engine stops on non-finite values)."""
    nan = math.nan
    tab, vt = spx_table("base"), vix_table("base")
    S = np.array([nan, 5000.0, 5000.0, 5000.0, 5000.0])
    K = np.array([5000.0, nan, 5000.0, 5000.0, 5000.0])
    v = np.array([0.04, 0.04, nan, 0.04, 0.04])
    tau = np.array([0.1, 0.1, 0.1, nan, 0.1])
    tau_v = np.array([0.1, 0.1, 0.1, 0.1, nan])
    out = run_spx("cpu", tab, S, K, v, tau, tau_v, np.ones(5, bool))
    assert np.isnan(out[1]).all() and np.isnan(out[7]).all()
    one = np.ones(1)
    bs = map_kernel(_bs_probe, "cpu", 5000.0 * one, 5000.0 * one, 0.1 * one, 0.1 * one, nan * one, one > 0,
                    kbs.SD_FLOOR_F64 * one, n_out=7)
    assert all(np.isnan(a).all() for a in bs)
    vo = run_vix("cpu", vt, np.array([nan, 0.04, 0.04]), np.array([0.1, nan, 0.1]), np.array([0.1, 0.1, nan]),
                 np.full(3, 20.0), np.ones(3, bool))
    assert np.isnan(vo[0][[0, 2]]).all() and np.isfinite(vo[0][1])  # the futures price has no calendar tau
    assert np.isnan(vo[1]).all() and np.isnan(vo[3]).all()
