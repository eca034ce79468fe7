"""The fused market kernel: equal to the array engine, on every target, batching and float type.

Tolerances are error bounds derived from the arithmetic of each path (:mod:`tests.rounding`): the
fused kernel and :class:`~gpu_alvh.paths.PathStepper` evaluate the same operations in the same order
with different libm / SIMD functions, so each lies within its bound of the exact value; float32
paths lie within their float32 bound of the exact value of the same formulas.  A bound is only
computed where the values differ at all (equal values pass any bound).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from gpu_alvh.backend import get_backend
from gpu_alvh.compile import compile_scenario
from gpu_alvh.errors import NonFiniteError
from gpu_alvh.kernels import market
from gpu_alvh.paths import VARIABLES, PathStepper, launch_paths, market_records, simulate
from gpu_alvh.schemes import QEScheme
from tests.conftest import to_numpy

from .rounding import U32, U64, path_bounds
from .test_paths import H, JUMPS, VJ, scen

# historical episodes replay the data (tests/test_historical_kernel.py compares those against the array replay)
LIBRARY = sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "scenarios").glob("*.yaml")
                 if "historical:" not in p.read_text() and "model: svcj2" not in p.read_text())  # two factors: tests/test_two_factor.py


def fused(c, n, seed, backend="numpy", **kw):
    """[3, n, n_steps + 1] spot / variance / VIX of the fused kernel."""
    ds = simulate(c, n_paths=n, seed=seed, backend=backend, dtype=c.dtype.name, **kw)
    return np.stack([to_numpy(ds[k].values) for k in VARIABLES])


def array_engine(c, n, seed, n_steps):
    """[3, n, n_steps + 1]: the array engine's states (PathStepper, NumPy), reported by the kernel's
    formulas (:func:`~gpu_alvh.kernels.market.spot`, ...: the same libm calls as the fused kernel, so
    equal states give equal values)."""
    mk_, steps = market.compile_market(c)
    mk = mk_[0]
    st = PathStepper(c, get_backend("numpy"), 0, n, seed)
    out = np.empty((3, n, n_steps + 1))
    for t in range(n_steps + 1):
        if t:
            st.step()
        r = steps[t - 1] if t else mk  # the VIX formula of the step's pricing regime
        out[:, :, t] = np.array([[market.spot(x, mk), market.variance(v), market.model_vix(v, 0.0, mk, r)] for x, v in zip(st.x, st.v)]).T
    return out


def assert_within_bounds(got, ref, c, seed, n_steps, unit):
    """``|got - ref| <= B_got + B_ref`` on every path that differs (see the module docstring).

    ``unit`` is the float type of ``got`` (bounded with the kernel's functions).  ``ref`` is float64:
    for ``unit = U64`` the array engine (both bounds with NumPy's ulps, which are no smaller than the
    kernel's), for ``U32`` the float64 fused kernel.  Returns the number of path-steps compared
    (a path is not compared from an ambiguous branch on).
    """
    records = market.compile_market(compile_scenario(c.spec, dtype="float64"))
    differ = np.flatnonzero(np.any(got[:, :, : n_steps + 1] != ref[:, :, : n_steps + 1], axis=(0, 2)))
    covered = got.shape[1] * (n_steps + 1)
    for p in differ:
        if unit == U64:
            _, b, ok = path_bounds(records, int(p), n_steps, seed, c.key, U64, table64="numpy")
            bound = 2 * b
        else:
            _, b_got, ok_got = path_bounds(records, int(p), n_steps, seed, c.key, U32)
            _, b_ref, ok_ref = path_bounds(records, int(p), n_steps, seed, c.key, U64)
            bound, ok = b_got + b_ref, ok_got & ok_ref
        covered -= int((~ok).sum())
        diff = np.abs(got[:, p, : n_steps + 1] - ref[:, p, : n_steps + 1])
        bad = (diff > bound) & ok
        assert not bad.any(), (c.name, int(p), np.argwhere(bad)[:3], diff[bad][:3], bound[bad][:3])
    return covered


@pytest.mark.parametrize("name", LIBRARY)
def test_library_scenarios_equal_the_array_engine(name):
    c = compile_scenario(name)
    n, n_steps = 256, min(c.n_steps, 30 if c.steps_per_day == 1 else 65)
    got = fused(c, n, c.spec.seed)
    ref = array_engine(c, n, c.spec.seed, n_steps)
    covered = assert_within_bounds(got, ref, c, c.spec.seed, n_steps, U64)
    assert covered >= 0.99 * n * (n_steps + 1), covered


def test_full_horizon_base_equals_the_array_engine():
    c = compile_scenario("base")
    got = fused(c, 24, 5)
    ref = array_engine(c, 24, 5, c.n_steps)
    covered = assert_within_bounds(got, ref, c, 5, c.n_steps, U64)
    assert covered >= 0.99 * 24 * (c.n_steps + 1), covered


STRESS = {"sigma": 1.5}  # frequent QE exponential branch
MANY_JUMPS = {"jump_intensity": 1000.0, "jump_mean": -0.002, "jump_std": 0.004, "var_jump_mean": 0.0005}  # > 4 jumps a step
FEATURES = dict(
    shocks=[{"spx_return": -0.03, "day": 3}, {"vix_level": 31.0, "day": 4}, {"vix_change": -2.5, "day": 6},
            {"vol_of_vol_multiplier": 2.0, "start": 2, "end": 5}, {"correlation": 0.2, "start": 5, "end": 8},
            {"jump_intensity_multiplier": 3.0, "start": 7, "end": 9}],
    events=[{"kind": "fomc", "dates": ["2024-01-09"], "spx_jump": {"mean": -0.01, "std": 0.02}, "variance_crush": 0.3},
            {"kind": "cpi", "dates": ["2024-01-11"], "spx_jump": {"mean": 0.005, "std": 0.0}, "variance_bump": 0.4, "pre_days": 2}],
)
VARIANTS = {
    "heston-qe": dict(model="heston", **FEATURES),
    "heston-euler": dict(model="heston", scheme="euler", **FEATURES),
    "bates-qe-stress": dict(model="bates", params={**H, **JUMPS, **STRESS}, v0=0.002, **FEATURES),
    "bates-euler": dict(model="bates", scheme="euler", **FEATURES),
    "svcj-qe-many-jumps": dict(model="svcj", params={**H, **VJ, **MANY_JUMPS}, **FEATURES),
    "svcj-euler-stress": dict(model="svcj", scheme="euler", params={**H, **JUMPS, **VJ, **STRESS}, v0=0.002),
    "deterministic-variance": dict(model="bates", params={**H, **JUMPS, "sigma": 0.0}, **FEATURES),
    "intraday": dict(model="svcj", steps_per_day=7, **FEATURES),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_models_schemes_events_and_shocks_equal_the_array_engine(variant):
    kw = dict(VARIANTS[variant])
    c = compile_scenario(scen(kw.pop("model"), horizon=12, name=variant, **kw))
    n_steps = min(c.n_steps, 40)
    got, ref = fused(c, 128, 3), array_engine(c, 128, 3, n_steps)
    covered = assert_within_bounds(got, ref, c, 3, n_steps, U64)
    assert covered >= 0.99 * 128 * (n_steps + 1), covered


def test_the_variants_reach_every_branch():
    """The variants above exercise what they claim: > 4 jumps a step, the QE exponential branch, Euler's
    negative variance, every event and shock flag."""
    c = compile_scenario(scen("svcj", params={**H, **VJ, **MANY_JUMPS}, horizon=12))
    lam_dt = c.jump_intensity[0] * c.dt
    assert 1.0 - sum(math.exp(-lam_dt) * lam_dt**k / math.factorial(k) for k in range(5)) > 0.3
    _, steps = market.compile_market(compile_scenario(scen("heston", horizon=12, **FEATURES)))
    flags = np.bitwise_or.reduce(steps["flags"])
    for f in (market.F_EVENT, market.F_EVENT_NOISE, market.F_VAR_MULT, market.F_GAP, market.F_VIX_LEVEL, market.F_VIX_CHANGE):
        assert flags & f
    stress = compile_scenario(scen("bates", params={**H, **JUMPS, **STRESS}, v0=0.002, horizon=12))
    m = stress.model_p
    co = QEScheme.coefficients(m.kappa, m.theta, m.sigma, m.rho, stress.dt)
    v = array_engine(stress, 128, 3, 5)[1][:, :-1]
    mean = v * co.E + co.theta_1mE
    assert ((v * co.c1 + co.c2) / mean**2 > 1.5).mean() > 0.05  # psi beyond psi_c: exponential branch
    euler = fused(compile_scenario(scen("svcj", scheme="euler", params={**H, **JUMPS, **VJ, **STRESS}, v0=0.002, horizon=12)), 128, 3)
    assert (euler[1] == 0.0).any()  # truncated negative variance is reported as 0


def test_cudasim_equals_cpu():
    c = compile_scenario(scen("svcj", params={**H, **VJ, **MANY_JUMPS}, horizon=10, name="sim", **FEATURES))
    cpu, sim = fused(c, 40, 9), fused(c, 40, 9, backend="cudasim")
    np.testing.assert_array_equal(sim, cpu)  # the simulator runs the same source with the same libm


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_any_batching_gives_the_same_paths(dtype):
    c = compile_scenario(scen("svcj", horizon=15, name="batches", **FEATURES), dtype=dtype)
    whole = fused(c, 23, 4)
    for size in (1, 3, 7):
        np.testing.assert_array_equal(fused(c, 23, 4, batch_size=size), whole)
    assert whole.dtype == np.dtype(dtype)


def test_terminal_layout_is_the_last_step():
    c = compile_scenario(scen("svcj", horizon=15, name="terminal", **FEATURES))
    b = get_backend("numpy")
    records = market_records(c, b)
    full = launch_paths(c, b, records, 5, 50, 2)
    last = launch_paths(c, b, records, 5, 50, 2, terminal=True)
    for a, t in zip(full, last):
        assert t.shape == (50, 1) and a.shape == (50, c.n_steps + 1)
        np.testing.assert_array_equal(t[:, 0], a[:, -1])


FLOAT32_CASES = {
    "base": lambda: compile_scenario("base"),
    "melt_up": lambda: compile_scenario("melt_up"),
    "bates-euler": lambda: compile_scenario(scen("bates", scheme="euler", horizon=30, name="f32", **FEATURES)),
    "svcj-qe-stress": lambda: compile_scenario(scen("svcj", params={**H, **JUMPS, **VJ, **STRESS}, v0=0.002, horizon=30, name="f32s")),
}


@pytest.mark.parametrize("case", sorted(FLOAT32_CASES))
def test_float32_paths_within_float32_rounding_of_float64(case):
    c64 = FLOAT32_CASES[case]()
    c32 = compile_scenario(c64.spec, dtype="float32")
    n, n_steps = 48, 30
    p64, p32 = fused(c64, n, 1), fused(c32, n, 1)
    assert p32.dtype == np.float32
    covered = assert_within_bounds(p32.astype(np.float64), p64, c64, 1, n_steps, U32)
    assert covered >= 0.95 * n * (n_steps + 1), covered


def test_float32_diffusion_has_no_float64_arithmetic():
    """Every operation of a jump-free step and of the reported values is float32 in a float32 run
    (the tracker follows Numba's promotion rules: a float64 operand makes a float64 operation)."""
    from .rounding import T, _STATE, tracked

    for scheme in ("qe", "euler"):
        c = compile_scenario(scen("heston", scheme=scheme, horizon=5, name=scheme), dtype="float32")
        mk, steps = market.compile_market(c)
        step = tracked(market.market_step)
        x, v = T(0.0, u=U32), T(float(c.v0), u=U32)
        _STATE.ops = {U32: 0, U64: 0}
        for t in range(1, 6):
            x, v, _ = step(t, 0, x, v, 0.0, mk[0], steps[t - 1], steps[t - 1], 1, c.key)
            for r in (tracked(market.spot)(x, mk[0]), tracked(market.model_vix)(v, 0.0, mk[0], mk[0])):
                assert r.u == U32
        assert _STATE.ops[U64] == 0 and _STATE.ops[U32] > 100, (scheme, _STATE.ops)
    # the check can fail: a jump step does float64 work by design
    c = compile_scenario(scen("svcj", params={**H, **VJ, **MANY_JUMPS}, horizon=5), dtype="float32")
    mk, steps = market.compile_market(c)
    _STATE.ops = {U32: 0, U64: 0}
    tracked(market.market_step)(1, 0, T(0.0, u=U32), T(0.03, u=U32), 0.0, mk[0], steps[0], steps[0], 1, c.key)
    assert _STATE.ops[U64] > 0
    _STATE.ops = None


def test_records():
    c = compile_scenario(scen("svcj", horizon=12, name="rec", **FEATURES), dtype="float32")
    mk, steps = market.compile_market(c)
    assert mk.dtype["spot"] == np.float32 and steps.dtype["E"] == np.float32 and steps.dtype["ev_mean"] == np.float64
    assert (steps["mode"] == market.STEP_MODEL).all()
    gap = np.flatnonzero(steps["flags"] & market.F_GAP)
    assert steps["gap"][gap].tolist() == [math.log1p(-0.03)]
    # the jump-intensity window (days 7-9, x3) changes lambda dt, and with it e^{-l} and the cap
    assert len(set(steps["lam_dt"].tolist())) == 2 and (steps["flags"] & market.F_JUMPS).all()


def test_poisson_thresholds_are_the_array_engines():
    """The kernel's running CDF is bit for bit :func:`~gpu_alvh.paths.poisson_thresholds`: a uniform
    just above / at each threshold counts the same jumps as the array engine's inversion."""
    from gpu_alvh.paths import poisson_thresholds

    for lam_dt in (1e-4, 0.02, 0.7, 4.0, 40.0):
        f = np.array(poisson_thresholds(lam_dt))
        s = np.zeros(1, market.step_dtype(np.float64))[0]
        s["lam_dt"], s["pois_e0"], s["pois_n"] = lam_dt, math.exp(-lam_dt), f.size
        for u in np.concatenate([f, np.nextafter(f, 2.0), [0.0, 1.0]]):
            assert market.poisson_count(u, s) == int((u > f).sum()), (lam_dt, u)


def test_vix_formula_is_the_pricing_models():
    """``vix_from_variance`` is the pricing model's formula; ``variance_from_vix`` inverts it (within
    the bounds of both evaluations)."""
    from .rounding import T, ULPS, _STATE, tracked

    c = compile_scenario("base")
    a, b = c.model_q.vix2_coefficients()
    _STATE.table64, _STATE.bx, _STATE.bv = ULPS["numpy"], 0.0, 0.0
    for v in (0.0, 1e-4, 0.02, 0.04, 0.3, 2.0):
        vix = tracked(market.vix_from_variance)(T(v), a, b)
        assert vix.v == market.vix_from_variance(v, a, b)
        assert abs(vix.v - float(c.model_q.vix_from_variance(v))) <= 2 * vix.total()
        back = tracked(market.variance_from_vix)(vix, a, b)
        assert abs(back.v - v) <= back.total(), (v, back)
    assert market.variance_from_vix(0.5 * c.model_q.vix_floor(), a, b) == 0.0  # below the floor: v = 0


def test_nonfinite_stops_the_run_on_the_cpu(monkeypatch):
    c = compile_scenario(scen("heston", horizon=6, name="poisoned"))
    mk, steps = market.compile_market(c)
    steps["mu_dt"][3] = np.nan  # step 4 of every path
    monkeypatch.setattr(market, "compile_market", lambda compiled: (mk, steps))
    with pytest.raises(NonFiniteError) as err:
        simulate(c, n_paths=30, seed=1, backend="numpy", batch_size=10)
    assert (err.value.path, err.value.step, err.value.variable) == (0, 4, "spx")


def test_seed_outside_32_bits_is_refused():
    c = compile_scenario(scen("heston", horizon=3))
    with pytest.raises(ValueError, match="seed"):
        simulate(c, n_paths=2, seed=2**32, backend="numpy")


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cuda_equals_cpu_within_rounding(gpu_backend, dtype):
    c = compile_scenario(scen("svcj", params={**H, **VJ, **MANY_JUMPS}, horizon=20, name="gpu", **FEATURES), dtype=dtype)
    cpu, gpu = fused(c, 64, 9), fused(c, 64, 9, backend=gpu_backend)
    unit = U32 if dtype == "float32" else U64
    ref = cpu if dtype == "float64" else fused(compile_scenario(c.spec, dtype="float64"), 64, 9)
    covered = assert_within_bounds(gpu.astype(np.float64), ref, c, 9, c.n_steps, unit)
    assert covered >= 0.95 * 64 * (c.n_steps + 1)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_simulate_kernel_compiles_for_cuda(ptx_sm90, dtype):
    """The CUDA entry compiles to PTX for sm_90 (device functions ask a device for its compute capability)."""
    from numba import from_dtype, types

    from gpu_alvh.kernels import build

    ft = np.dtype(dtype)
    arr = lambda ty, nd=1, layout="C": types.Array(ty, nd, layout)  # noqa: E731
    out = arr(from_dtype(ft), 2, "A")
    sig = (types.int64, types.int64, arr(from_dtype(market.market_dtype(ft))), arr(from_dtype(market.step_dtype(ft))),
           types.uint64, types.uint64, out, out, out, out, arr(types.int64))
    ptx, _ = ptx_sm90.compile_ptx(build.cuda_entry("simulate"), sig, cc=(9, 0))
    assert ".entry" in ptx and "simulate_cuda" in ptx


def test_reported_values_are_the_array_engines():
    """The kernel's spot / variance / VIX of a state are the array engine's, within the two evaluations'
    rounding bounds (the dynamics tests above report the array engine's states by the kernel's formulas)."""
    from .rounding import T, ULPS, _STATE, tracked

    c = compile_scenario("base")
    mk_, steps = market.compile_market(c)
    mk = mk_[0]
    st = PathStepper(c, get_backend("numpy"), 0, 256, 2)
    for _ in range(5):
        st.step()
    _STATE.table64, _STATE.bx, _STATE.bv = ULPS["numpy"], 0.0, 0.0
    for got, fn, arg in ((st.spot, market.spot, "x"), (st.variance, market.variance, "v"), (st.vix, market.model_vix, "v")):
        for j in range(st.count):
            x = float(getattr(st, arg)[j])
            r = tracked(fn)(T(x)) if fn is market.variance else (tracked(fn)(T(x), 0.0, mk, mk) if fn is market.model_vix else tracked(fn)(T(x), mk))
            assert abs(got[j] - r.v) <= 2 * r.total(), (fn.__name__, j, got[j], r)
