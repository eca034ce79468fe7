"""The market half of the per-path program: SPX / variance / VIX of one path, step by step.

State: ``x = ln(S / S_0)`` and the variance ``v`` of one path, in the run's float type; a two-factor model
(``mk["factors"] == 2``, :class:`~gpu_alvh.models.SVCJ2`) adds its slow variance ``v2``, stepped by
:func:`factor_move` after ``v`` with the normals of block DIFFUSION2 and its own scheme records
``steps[n_steps + t - 1]`` (no drift, no jumps), so that the price takes both factors' diffusions; events
scale both variances, VIX shocks set the fast one at the current ``v2``, and the VIX is
``100 sqrt(a v + a2 v2 + b)``.  For one factor ``steps`` has ``n_steps`` records and ``v2`` stays 0.  One step
``t = 1..n_steps`` (record ``i = t - 1``) does what :meth:`gpu_alvh.paths.PathStepper.step` does, in
the same order, with the same random-number blocks (:class:`gpu_alvh.rng.Block`):

1. diffusion by the scenario's scheme (:mod:`gpu_alvh.schemes` has the maths) with the normals
   ``(z_v, z_s)`` of block DIFFUSION and the step's ``sigma``, ``rho`` (coefficients precomputed per
   step on the host by the schemes' own ``coefficients``):

   * QE (Andersen 2008, martingale correction): ``m = v E + theta (1 - E)``, ``psi = (v c1 + c2)/m^2``;
     ``psi <= 1.5``: ``b^2 = 2/psi - 1 + sqrt(2/psi (2/psi - 1))``, ``a = m/(1 + b^2)``,
     ``v' = a (b + z_v)^2``, ``ln M = A b^2 a/(1 - 2Aa) - ln(1 - 2Aa)/2``; else ``p = (psi-1)/(psi+1)``,
     ``beta = (1-p)/m``, ``v' = ln(max((1-p)/(1-U), 1))/beta`` with ``1 - U = 1 - Phi(z_v)``,
     ``ln M = ln(p + beta(1-p)/(beta - A))`` (floors as in the array scheme); then
     ``x' = x + mu dt - ln M - K3 v/2 + K2 v' + sqrt(K3 (v + v')) z_s``.  ``sigma = 0``: exact mean of v.
     One path takes one branch, so this is the array scheme's dense and sparse form at once;
   * full-truncation Euler: ``v' = v + kappa (theta - v+) dt + sigma sqrt(v+ dt) z_v``,
     ``x' = x + mu dt - v+ dt/2 + sqrt(v+ dt) (rho z_v + sqrt(1 - rho^2) z_s)``;

2. jumps where ``lambda_t dt > 0``: the count ``N = #{k < K : u > F(k)}`` by inversion of the first
   uniform of block JUMP against the Poisson CDF ``F(k) = F(k-1) + e^{-l} l^k / k!``, summed in the
   kernel with the operations, in the order, of :func:`gpu_alvh.paths.poisson_thresholds` (which also
   gives the cap ``K``; ``e^{-l}`` and ``K`` are stored per step), so the thresholds are the array
   engine's; with ``N > 0``, ``z = ndtri(u_2)`` from its second uniform and Bates ``sum J = N mu_J + sqrt(N) delta z``; SVCJ ``Z = mu_v sum_{i<N} (-ln u_i)`` (blocks VAR_JUMP_A/B;
   beyond 4 jumps the remainder is a Gamma(N - 4) by the Wilson-Hilferty cube of the normal
   ``ndtri(u)`` of block VAR_JUMP_TAIL), ``sum J = N mu_J + rho_J Z + sqrt(N) delta z``; ``v += Z``,
   and the price diffusion the jumps add within the step, ``x += -I/2 + sqrt(I) ndtri(u_n)`` with
   ``I = Z (1 - u_t) dt`` (block VAR_JUMP_TIME: the jumps' uniform time ``u_t`` in the step);
3. events: ``x += mean + std z_e`` (``z_e`` from block EVENT), then ``v *= var_mult`` (bump / crush);
4. shocks: ``spx_return`` replaces the step's move, ``x' = x + ln(1 + r)``; ``vix_level`` sets
   ``v' = variance_from_vix(level)``; ``vix_change`` sets ``v' = variance_from_vix(VIX(v') + change)``.

Reported values: spot ``S_0 e^x``, variance ``max(v, 0)``, model VIX ``100 sqrt(a max(v, 0) + b)`` with
``(a, b)`` the *pricing* model's :meth:`~gpu_alvh.models.AffineModel.vix2_coefficients` - of the pricing
regime of the state after step ``t`` (field ``regime`` and the VIX formula of ``steps[t - 1]``, of ``mk``
for step 0: a window without ``surprise`` changes the VIX formula with the prices, :mod:`gpu_alvh.compile`).
VIX shocks go through the same formula.
:func:`vix_from_variance` / :func:`variance_from_vix` are the one VIX <-> variance formula of the kernels.

Records (host NumPy structured arrays built once by :func:`compile_market`):

* ``mk`` [1] (:func:`market_dtype`): model constants;
* ``steps`` [n_steps] (:func:`step_dtype`): per-step mode, flags, drift, scheme coefficients, events,
  shocks, Poisson ``lambda dt``, ``e^{-lambda dt}`` and cap.

Compiled form: the per-step functions take the records ``m = mk[0]``, ``s = steps[t - 1]`` (pointers)
and no array; :func:`market_step` is inlined into its caller with the scheme steps it calls (a call
level costs more than the step's arithmetic).  Division follows IEEE (``error_model="numpy"``, see
:mod:`gpu_alvh.kernels.floats`): inf / NaN, reported by the non-finite check, never an exception.

Step modes: :data:`STEP_MODEL` is the model step above; :data:`STEP_REPLAY` (every step of a historical
scenario) replaces it by :func:`gpu_alvh.historical.replay_step` - the real close plus the dispersion
deviations ``(e, w)`` of log price and variance (``v = F(v^h, w)``, positive without a floor), which
are two more numbers of path state (0 on model steps) - with ``z_b`` lane 0 of block DIFFUSION (before
a day's close only) and ``(z_v, z_s)`` of block BRIDGE (``dispersion > 0`` only); no jumps, events or
shocks.  The replay runs in float64; its record fields are ``x_close``, ``v_anchor``, ``v_day``,
``n_left`` per step and ``disp``, ``kappa_p``, ``sigma_p``, ``rho_p`` in ``mk``.

float32 (module :mod:`gpu_alvh.kernels.floats`): the fields used every step are stored in the run's
float type and the diffusion (Philox integers as in float64, Box-Muller by
:func:`gpu_alvh.kernels.rng.normals32`, the scheme, the reported values) is float32 arithmetic, with
one change of formula: the QE exponential branch uses ``1 - U = Phi(-z_v) = erfc(z_v / sqrt 2)/2``
(float32 ``1 - Phi(z)`` is 0 beyond ``z = 5.4``).  Float64 stays where it is part of the meaning:
the Poisson inversion (thresholds within 1e-15 of 1 decide identical counts), the jump sizes, event
jumps and shock formulas (rare steps, inverse normal CDF tails from 53-bit uniforms); their results
are rounded once into the float32 state.  (On the CPU scalar float32 libm is no faster than float64;
the float32 form is for GPUs, where float64 runs at a fraction of the float32 rate.)
"""

from __future__ import annotations

import math

import numpy as np

from ..historical import replay_step
from ..rng import Block
from ..schemes import SCHEMES, get_scheme
from .floats import fmax, jitable, jitable_inline, like, single
from .rng import normals, normals32, uniforms
from .special import ndtr, ndtri

__all__ = [
    "compile_market", "step_dtype", "market_dtype", "STEP_MODEL", "JUMP_KINDS",
    "market_init", "market_step", "advance", "STEP_REPLAY", "model_move", "spot", "variance", "model_vix", "vix_from_variance",
    "variance_from_vix", "simulate_path",
]

#: Scheme ids in the records, from the scheme registry.
SCHEME_IDS = {name: k for k, name in enumerate(SCHEMES)}
_QE = SCHEME_IDS["qe"]
#: Jump samplers by model name (0: none).
JUMP_KINDS = {"heston": 0, "bates": 1, "svcj": 2, "svcj2": 2}
_SVCJ = JUMP_KINDS["svcj"]
#: ``mode`` of a model step (the replay branch adds its own value).
STEP_MODEL = 0
STEP_REPLAY = 1

F_JUMPS, F_EVENT, F_EVENT_NOISE, F_VAR_MULT, F_GAP, F_VIX_LEVEL, F_VIX_CHANGE = 1, 2, 4, 8, 16, 32, 64

_B_DIFFUSION, _B_JUMP, _B_VJ_A, _B_VJ_B = int(Block.DIFFUSION), int(Block.JUMP), int(Block.VAR_JUMP_A), int(Block.VAR_JUMP_B)
_B_EVENT, _B_VJ_TAIL, _B_BRIDGE = int(Block.EVENT), int(Block.VAR_JUMP_TAIL), int(Block.BRIDGE)
_B_VJ_TIME, _B_DIFFUSION2 = int(Block.VAR_JUMP_TIME), int(Block.DIFFUSION2)
_replay_step = jitable(replay_step)  # the replay maths exists once, in gpu_alvh.historical
_EXACT_VAR_JUMPS = 4  # SVCJ.EXACT_VAR_JUMPS
_PSI_C = 1.5
_SQRT1_2 = 0.7071067811865476

_F8 = np.float64
_HOT_MARKET = ("spot", "dt", "half_dt", "sqrt_dt", "vix_a", "vix_b", "vix_a2", "v2_0")
_HOT_STEP = ("mu_dt", "E", "theta_1mE", "c1", "c2", "K2", "K3", "mhalf_K3", "A", "m2A",
             "kappa_dt", "kappa_theta_dt", "sigma_sqrt_dt", "rho", "sqrt_1mrho2", "var_mult", "vix_a", "vix_b", "vix_a2")


def market_dtype(dtype) -> np.dtype:
    """Record of the model constants; the per-step fields in ``dtype``, the rare ones in float64."""
    return np.dtype([("n_steps", np.int64), ("scheme", np.int64), ("jumps", np.int64), ("regime", np.int64), ("factors", np.int64), ("v0", _F8),
                     ("disp", _F8), ("kappa_p", _F8), ("sigma_p", _F8), ("rho_p", _F8),
                     *[(k, dtype) for k in _HOT_MARKET],
                     ("vix_a64", _F8), ("vix_b64", _F8), ("vix_a2_64", _F8), ("jump_mean", _F8), ("jump_std", _F8),
                     ("var_jump_mean", _F8), ("jump_corr", _F8)], align=True)


def step_dtype(dtype) -> np.dtype:
    """Record of one step; the fields used every step in ``dtype``, events and shocks in float64."""
    return np.dtype([*[(k, dtype) for k in _HOT_STEP],
                     ("ev_mean", _F8), ("ev_std", _F8), ("gap", _F8), ("vix_level", _F8), ("vix_change", _F8),
                     ("vix_a64", _F8), ("vix_b64", _F8), ("vix_a2_64", _F8),
                     ("lam_dt", _F8), ("pois_e0", _F8), ("pois_n", np.int32), ("flags", np.int32), ("qe_det", np.int32),
                     ("mode", np.int32), ("regime", np.int32), ("x_close", _F8), ("v_anchor", _F8), ("v_day", _F8), ("n_left", np.int32)], align=True)


def compile_market(compiled):
    """``(mk, steps)`` records of a :class:`~gpu_alvh.compile.CompiledScenario` (see module doc).

    Coefficients come from the same host functions as the array engine (``scheme.coefficients``,
    ``model.jump_compensator``, :func:`~gpu_alvh.paths.poisson_thresholds`), once per distinct
    ``(sigma, rho, lambda)`` of the schedules.
    """
    c, m = compiled, compiled.model_p
    if m.name not in JUMP_KINDS:
        raise ValueError(f"model {m.name!r} has no per-path jump sampler; known: {', '.join(JUMP_KINDS)}")
    ft = np.dtype(c.dtype)
    scheme = get_scheme(c.scheme)
    two = c.n_factors == 2
    a, a2, b = c.pricing_models[c.regime[0]].vix2_terms()  # the start close's VIX formula
    mk = np.zeros(1, market_dtype(ft))
    h = c.historical
    r = mk[0]
    r["n_steps"], r["scheme"], r["jumps"], r["regime"], r["factors"], r["v0"] = c.n_steps, SCHEME_IDS[c.scheme], JUMP_KINDS[m.name], c.regime[0], c.n_factors, c.v0
    r["disp"], r["kappa_p"], r["sigma_p"], r["rho_p"] = (h.dispersion, h.kappa, h.sigma, h.rho) if h is not None else (0.0,) * 4
    r["spot"], r["dt"], r["half_dt"], r["sqrt_dt"], r["v2_0"] = c.spot, c.dt, 0.5 * c.dt, math.sqrt(c.dt), c.v2_0
    r["vix_a"], r["vix_b"], r["vix_a2"], r["vix_a64"], r["vix_b64"], r["vix_a2_64"] = a, b, a2, a, b, a2
    for name in ("jump_mean", "jump_std", "var_jump_mean", "jump_corr"):
        r[name] = getattr(m, name, 0.0)
    st = np.zeros(c.n_steps * c.n_factors, step_dtype(ft))
    st[: c.n_steps] = _scheme_rows(scheme, m.kappa, m.theta, c.sigma, c.rho, c.jump_intensity, c.dt, st.dtype, m.jump_compensator())
    if two:  # the slow factor's scheme records: steps[n_steps + t - 1] (no drift, no jumps)
        st[c.n_steps:] = _scheme_rows(scheme, m.kappa2, m.theta2, c.sigma2, c.rho2, np.zeros(c.n_steps), c.dt, st.dtype, 0.0)
    s0 = st[: c.n_steps]
    s0["regime"] = c.regime[1:]
    coef = np.array([q.vix2_terms() for q in c.pricing_models])[c.regime[1:]]  # the VIX formula of each step's pricing regime
    s0["vix_a"], s0["vix_a2"], s0["vix_b"] = coef[:, 0], coef[:, 1], coef[:, 2]
    s0["vix_a64"], s0["vix_a2_64"], s0["vix_b64"] = coef[:, 0], coef[:, 1], coef[:, 2]
    s0["mu_dt"] = c.drift * c.dcal + s0["mu_dt"]  # one clock: carry in calendar time, jump compensator in trading time
    s0["mode"] = STEP_MODEL
    s0["var_mult"] = c.var_mult
    ev = ~np.isnan(c.event_mean)
    s0["ev_mean"], s0["ev_std"] = np.where(ev, c.event_mean, 0.0), np.where(ev, c.event_std, 0.0)
    s0["flags"] |= np.where(ev, F_EVENT, 0) | np.where(ev & (s0["ev_std"] > 0), F_EVENT_NOISE, 0) | np.where(c.var_mult != 1.0, F_VAR_MULT, 0)
    for field, values, flag in (("gap", c.spx_return, F_GAP), ("vix_level", c.vix_level, F_VIX_LEVEL), ("vix_change", c.vix_change, F_VIX_CHANGE)):
        for i in np.flatnonzero(~np.isnan(values)):
            s0[field][i] = math.log1p(float(values[i])) if field == "gap" else float(values[i])
            s0["flags"][i] |= flag
    if h is not None:  # historical replay: every step is the real close plus dispersion (no jumps, events, shocks)
        s0["mode"] = STEP_REPLAY
        s0["flags"] = 0
        s0["x_close"], s0["v_anchor"], s0["v_day"], s0["n_left"] = h.x_close, h.v_anchor, h.v_day, h.n_left
    return mk, st


def _scheme_rows(scheme, kappa, theta, sigma, rho, lam, dt, dtype, compensator):
    """Step records [n_steps] of one variance factor: the scheme's coefficients and the Poisson constants,
    computed once per distinct ``(sigma, rho, lambda)`` of the schedules; ``mu_dt`` holds the jump
    compensator's part of the drift."""
    from ..paths import poisson_thresholds

    keys, inverse = np.unique(np.stack([sigma, rho, lam], axis=1), axis=0, return_inverse=True)
    table = np.zeros(len(keys), dtype)
    for j, (sig, rh, lm) in enumerate(keys.tolist()):
        lam_dt = lm * dt
        row = table[j]
        row["mu_dt"] = -lm * compensator * dt  # + the drift over the step's calendar time, for the fast factor
        co = scheme.coefficients(kappa, theta, sig, rh, dt)
        if scheme.name == "qe":
            row["E"], row["theta_1mE"], row["c1"], row["c2"], row["K2"], row["K3"], row["A"] = co.E, co.theta_1mE, co.c1, co.c2, co.K2, co.K3, co.A
            row["mhalf_K3"], row["m2A"], row["qe_det"] = -0.5 * co.K3, -2.0 * co.A, int(co.deterministic)
        else:
            row["kappa_dt"], row["kappa_theta_dt"], row["sigma_sqrt_dt"] = co.kappa_dt, co.kappa_theta_dt, co.sigma_sqrt_dt
            row["rho"], row["sqrt_1mrho2"] = co.rho, co.sqrt_1mrho2
        if lam_dt > 0.0:
            row["lam_dt"], row["pois_e0"], row["pois_n"], row["flags"] = lam_dt, math.exp(-lam_dt), len(poisson_thresholds(lam_dt)), F_JUMPS
    return table[inverse.ravel()]


# ---------------------------------------------------------------------------------- VIX <-> variance
@jitable
def vix_from_variance(v, a, b):
    """Model VIX in points, ``100 sqrt(a max(v, 0) + b)``, in the float type of ``v``."""
    return like(v, 100.0) * math.sqrt(like(v, a) * fmax(v, like(v, 0.0)) + like(v, b))


@jitable
def variance_from_vix(vix, a, b):
    """Variance state with model VIX ``vix`` points: ``max(((vix/100)^2 - b)/a, 0)``."""
    q = vix / like(vix, 100.0)
    return fmax((q * q - like(vix, b)) / like(vix, a), like(vix, 0.0))


# ---------------------------------------------------------------------------------- reported values
@jitable
def spot(x, m):
    """SPX level ``S_0 e^x``."""
    return like(x, m["spot"]) * math.exp(x)


@jitable
def variance(v):
    """Reported variance ``max(v, 0)`` (decimal, per year)."""
    return fmax(v, like(v, 0.0))


@jitable
def model_vix(v, v2, m, r):
    """Model VIX in points from the pricing model's ``VIX^2 = a v + b`` (``+ a2 v2`` for two factors): of
    the base pricing model with ``r = mk[0]`` (step 0), of step ``t``'s pricing regime with
    ``r = steps[t - 1]``; ``m = mk[0]``."""
    if m["factors"] == 1:
        return vix_from_variance(v, r["vix_a"], r["vix_b"])
    return vix_from_state(v, v2, r["vix_a"], r["vix_a2"], r["vix_b"])


@jitable
def vix_from_state(v, v2, a, a2, b):
    """Two-factor model VIX in points, ``100 sqrt(a max(v, 0) + a2 max(v2, 0) + b)``, in the float type of ``v``."""
    zero = like(v, 0.0)
    return like(v, 100.0) * math.sqrt(like(v, a) * fmax(v, zero) + like(v, a2) * fmax(v2, zero) + like(v, b))


@jitable
def fast_variance_from_vix(vix, v2, m, r):
    """Fast variance with model VIX ``vix`` points at slow variance ``v2`` (float64, record ``r`` as
    :func:`model_vix`): :func:`variance_from_vix` for one factor."""
    if m["factors"] == 1:
        return variance_from_vix(vix, r["vix_a64"], r["vix_b64"])
    q = vix / 100.0
    return fmax((q * q - r["vix_b64"] - r["vix_a2_64"] * fmax(float(v2), 0.0)) / r["vix_a64"], 0.0)


# ---------------------------------------------------------------------------------- schemes
@jitable_inline
def qe_step(x, v, z_v, z_s, m, s):
    """One QE step of ``(x, v)`` (operations in the array scheme's order)."""
    one = like(x, 1.0)
    mu_dt = like(x, s["mu_dt"])
    mean = v * like(x, s["E"]) + like(x, s["theta_1mE"])
    if s["qe_det"]:
        vbar = like(x, 0.5) * (v + mean)
        return x + mu_dt - like(x, m["half_dt"]) * vbar + math.sqrt(like(x, m["dt"]) * vbar) * z_s, mean
    A = like(x, s["A"])
    psi = (v * like(x, s["c1"]) + like(x, s["c2"])) / (mean * mean)
    if psi <= like(x, _PSI_C):
        inv = like(x, 2.0) / psi
        b2 = math.sqrt((inv - one) * inv) + inv - one
        a = mean / (b2 + one)
        root = math.sqrt(b2) + z_v
        v1 = root * root * a
        d = fmax(a * like(x, s["m2A"]) + one, like(x, 1e-12))
        ln_m = b2 * a * A / d - like(x, 0.5) * math.log(d)
    else:
        p = (psi - one) / (psi + one)
        beta = (one - p) / mean
        if single(x):  # 1 - Phi(z) = erfc(z/sqrt 2)/2, without cancellation
            tail = like(x, 0.5) * math.erfc(z_v * like(x, _SQRT1_2))
        else:  # the array scheme's form
            tail = like(x, fmax(1.0 - ndtr(z_v), 1e-300))
        v1 = math.log(fmax((one - p) / tail, one)) / beta
        ln_m = math.log(p + beta * (one - p) / fmax(beta - A, like(x, 1e-12) * beta))
    vol = math.sqrt((v + v1) * like(x, s["K3"])) * z_s
    return v * like(x, s["mhalf_K3"]) + x + mu_dt - ln_m + like(x, s["K2"]) * v1 + vol, v1


@jitable_inline
def euler_step(x, v, z_v, z_s, m, s):
    """One full-truncation Euler step of ``(x, v)``."""
    vp = fmax(v, like(x, 0.0))
    sv = math.sqrt(vp)
    v1 = v + (like(x, s["kappa_theta_dt"]) - like(x, s["kappa_dt"]) * vp) + (like(x, s["sigma_sqrt_dt"]) * sv) * z_v
    drift = like(x, s["mu_dt"]) - like(x, m["half_dt"]) * vp
    corr = like(x, s["rho"]) * z_v + like(x, s["sqrt_1mrho2"]) * z_s
    return x + drift + (like(x, m["sqrt_dt"]) * sv) * corr, v1


# ---------------------------------------------------------------------------------- jumps
@jitable
def poisson_count(u, s):
    """``#{k < K : u > F(k)}``: the CDF summed as :func:`gpu_alvh.paths.poisson_thresholds` sums it,
    up to the first ``u <= F(k)`` (usually ``F(0)``)."""
    lam_dt, cap = s["lam_dt"], s["pois_n"]
    term = s["pois_e0"]
    cdf = term
    k = 0
    while k < cap and u > cdf:
        k += 1
        term *= lam_dt / k
        cdf = cdf + term
    return k


@jitable
def jumps(t, path, m, n, u_size, seed, key):
    """``(sum of log price jumps, sum of variance jumps)`` of ``n >= 1`` jumps in step ``t`` (float64);
    ``u_size`` is the second uniform of block JUMP (the first drew ``n``)."""
    count = float(n)
    z = ndtri(u_size)
    spread = math.sqrt(count) * (m["jump_std"] * z)
    if m["jumps"] != _SVCJ:
        return count * m["jump_mean"] + spread, 0.0
    ua, ub = uniforms(path, t, _B_VJ_A, seed, key)
    expo = -math.log(ua)
    if n > 1:
        expo += -math.log(ub)
    if n > 2:
        uc, ud = uniforms(path, t, _B_VJ_B, seed, key)
        expo += -math.log(uc)
        if n > 3:
            expo += -math.log(ud)
    if n > _EXACT_VAR_JUMPS:  # Gamma(n - 4) remainder, Wilson-Hilferty
        k = count - _EXACT_VAR_JUMPS
        zt = ndtri(uniforms(path, t, _B_VJ_TAIL, seed, key)[0])
        h = 1.0 / (9.0 * k)
        expo += k * math.pow(fmax(1.0 - h + zt * math.sqrt(h), 0.0), 3.0)
    var_jump = m["var_jump_mean"] * expo
    log_jump = count * m["jump_mean"] + m["jump_corr"] * var_jump + spread
    u_time, u_norm = uniforms(path, t, _B_VJ_TIME, seed, key)  # the jumps' time in the step (model doc)
    added = var_jump * (1.0 - u_time) * float(m["dt"])
    return log_jump + (-0.5 * added + math.sqrt(added) * ndtri(u_norm)), var_jump


# ---------------------------------------------------------------------------------- the step
@jitable
def market_init(m, proto):
    """``(x, v, v2)`` at step 0 in the float type of ``proto`` (a float or an array of floats); ``v2`` the
    slow variance of a two-factor model (0 for one factor)."""
    return like(proto, 0.0), like(proto, m["v0"]), like(proto, m["v2_0"])


@jitable_inline
def replay_move(t, path, x, e, w, m, s, seed, key):
    """A historical replay step (:func:`gpu_alvh.historical.replay_step`, in float64)."""
    n_left = s["n_left"]
    z_b = normals(path, t, _B_DIFFUSION, seed, key)[0] if n_left > 1 else 0.0
    z_v, z_s = 0.0, 0.0
    if m["disp"] > 0.0:
        z_v, z_s = normals(path, t, _B_BRIDGE, seed, key)
    return _replay_step(float(x), float(e), float(w), s["x_close"], s["v_anchor"], s["v_day"], n_left, m["disp"], m["kappa_p"],
                        m["sigma_p"], m["rho_p"], float(m["dt"]), z_b, z_v, z_s)


@jitable_inline
def diffusion_normals(path, t, block, seed, key, x):
    """The two normals of a diffusion ``block`` of step ``t``, in the float type of ``x``."""
    if single(x):
        z_v, z_s = normals32(path, t, block, seed, key)
    else:
        z_v, z_s = normals(path, t, block, seed, key)
    return like(x, z_v), like(x, z_s)


@jitable_inline
def factor_move(t, path, block, x, v, m, s, seed, key):
    """One variance factor's diffusion and its part of ``x`` by the scenario's scheme, with the normals of
    ``block`` and the factor's step records ``s``."""
    z_v, z_s = diffusion_normals(path, t, block, seed, key, x)
    if m["scheme"] == _QE:
        return qe_step(x, v, z_v, z_s, m, s)
    return euler_step(x, v, z_v, z_s, m, s)


@jitable_inline
def model_move(t, path, x, v, v2, m, s, s2, seed, key):
    """Item 1 of step ``t``: the diffusion of ``(x, v)`` (block DIFFUSION, records ``s``), then of the slow
    factor ``v2`` of a two-factor model (block DIFFUSION2, its records ``s2 = steps[n_steps + t - 1]``, no
    drift)."""
    x1, v1 = factor_move(t, path, _B_DIFFUSION, x, v, m, s, seed, key)
    if m["factors"] == 2:
        x1, v2 = slow_move(t, path, x1, v2, m, s2, seed, key)
    return x1, v1, v2


@jitable
def slow_move(t, path, x, v2, m, s2, seed, key):
    """The slow factor's :func:`factor_move`, as an ordinary call, so that its copy of the step stays out of
    the inlined per-step chain: inlined as well, it doubled the step's code and the cold compile of the
    simulate entry (36 s -> 85-107 s here; as a call ~56 s).  The fast factor's step stays inlined: as a
    call it cut the compile to 14 s but path generation by 10-25% (5.9x -> 4.3x QuantLib in one run)."""
    return factor_move(t, path, _B_DIFFUSION2, x, v2, m, s2, seed, key)


@jitable_inline
def advance(t, path, x, v, v2, e, w, m, s, s2, seed, key):
    """``(x, v, v2, e, w)`` after step ``t``: a replay step or a model step (``e, w``: replay deviations,
    0 otherwise; ``v2``: the slow variance of a two-factor model, records ``s2 = steps[n_steps + t - 1]``,
    else ``s2`` is unused)."""
    if s["mode"] == STEP_REPLAY:
        x1, v1, e1, w1 = replay_move(t, path, x, e, w, m, s, seed, key)
        return like(x, x1), like(x, v1), v2, like(x, e1), like(x, w1)
    x1, v1, v21 = market_step(t, path, x, v, v2, m, s, s2, seed, key)
    return x1, v1, v21, e, w


@jitable_inline
def market_step(t, path, x, v, v2, m, s, s2, seed, key):
    """``(x, v, v2)`` after model step ``t`` (1-based) of global path ``path``.

    Records ``m = mk[0]``, ``s = steps[t - 1]`` (and ``s2``, see :func:`advance`); ``seed``, ``key`` uint64.
    """
    flags = s["flags"]
    x1, v1, v2 = model_move(t, path, x, v, v2, m, s, s2, seed, key)
    if flags != 0:
        if flags & F_JUMPS:
            u_count, u_size = uniforms(path, t, _B_JUMP, seed, key)
            n = poisson_count(u_count, s)
            if n > 0:
                log_jump, var_jump = jumps(t, path, m, n, u_size, seed, key)
                x1 = x1 + like(x, log_jump)
                if m["jumps"] == _SVCJ:
                    v1 = v1 + like(x, var_jump)
        if flags & F_EVENT:
            move = s["ev_mean"]
            if flags & F_EVENT_NOISE:
                move = move + s["ev_std"] * normals(path, t, _B_EVENT, seed, key)[0]
            x1 = x1 + like(x, move)
        if flags & F_VAR_MULT:
            v1 = v1 * like(x, s["var_mult"])
            if m["factors"] == 2:
                v2 = v2 * like(x, s["var_mult"])
        if flags & F_GAP:
            x1 = x + like(x, s["gap"])
        if flags & F_VIX_LEVEL:
            v1 = like(x, fast_variance_from_vix(s["vix_level"], v2, m, s))
        if flags & F_VIX_CHANGE:
            if m["factors"] == 1:
                now = vix_from_variance(float(v1), s["vix_a64"], s["vix_b64"])
            else:
                now = vix_from_state(float(v1), float(v2), s["vix_a64"], s["vix_a2_64"], s["vix_b64"])
            v1 = like(x, fast_variance_from_vix(now + s["vix_change"], v2, m, s))
    return x1, v1, v2


# ---------------------------------------------------------------------------------- whole path
@jitable_inline
def _report(row, t, p, x, v, v2, m, r, spx, var, vix, var2, code):
    """Write the reported values of ``(x, v, v2)`` into row ``row`` (``r``: the record of the VIX formula, see
    :func:`model_vix`; ``var2`` only for two factors); first non-finite code ``3t + k`` kept (a slow
    variance counts as ``k = 1``, variance)."""
    s, w, q, w2 = spot(x, m), variance(v), model_vix(v, v2, m, r), variance(v2)
    spx[row, p], var[row, p], vix[row, p] = s, w, q
    if m["factors"] == 2:
        var2[row, p] = w2
    if code < 0:
        if not math.isfinite(s):
            return 3 * t
        if not (math.isfinite(w) and math.isfinite(w2)):
            return 3 * t + 1
        if not math.isfinite(q):
            return 3 * t + 2
    return code


@jitable
def simulate_path(p, start, mk, steps, seed, key, spx, var, vix, var2, bad):
    """Simulate path ``start + p`` over the whole horizon.

    ``spx, var, vix`` (and ``var2``, the slow variance of a two-factor model; not written for one factor)
    are ``[n_steps + 1, n]`` (every step; any strides) or ``[1, n]`` (the terminal state only, for
    benchmarks).  ``bad[p]`` gets ``3 t + k`` for the first step ``t`` whose reported value ``k`` (0 spot,
    1 variance, 2 VIX) is not finite, or -1.  With the terminal layout the state ``(x, v)`` is checked
    every step (``k`` = 0 for x, 1 for v) and the reported values at the end.
    """
    path = start + p
    m = mk[0]
    n = m["n_steps"]
    slow = n if m["factors"] == 2 else 0  # the slow factor's records follow the steps'
    x, v, v2 = market_init(m, spx)
    e, w = like(x, 0.0), like(x, 0.0)
    every = spx.shape[0] > 1
    code = -1
    if every:
        code = _report(0, 0, p, x, v, v2, m, m, spx, var, vix, var2, code)
    for t in range(1, n + 1):
        x, v, v2, e, w = advance(t, path, x, v, v2, e, w, m, steps[t - 1], steps[slow + t - 1], seed, key)
        if every:
            code = _report(t, t, p, x, v, v2, m, steps[t - 1], spx, var, vix, var2, code)
        elif code < 0 and not (math.isfinite(x) and math.isfinite(v) and math.isfinite(v2)):
            code = 3 * t if not math.isfinite(x) else 3 * t + 1
    if not every:
        code = _report(0, n, p, x, v, v2, m, steps[n - 1], spx, var, vix, var2, code)  # n >= 1
    bad[p] = code
