"""Joint SPX / variance / VIX paths: the fused per-path kernel and the array stepper.

:func:`simulate` (and :func:`simulate_arrays`, :func:`launch_paths`) runs the
fused per-path program :func:`gpu_alvh.kernels.market.simulate_path` on every
backend: Numba on the CPU (``numpy``), numba-cuda on CuPy arrays (``cupy``),
Numba's CUDA simulator (``cudasim``).  :class:`PathStepper` is the array
engine: it advances one batch of paths step by step on the array namespace
(the strategy engine drives it inside its own time loop) and is the reference
the fused kernel is tested against.  Both do, for one step ``t``
(``1..n_steps``), in order:

1. diffusion of ``(x, v)`` by the scenario's scheme (QE or full-truncation
   Euler) with the step's ``sigma`` and ``rho`` (regime windows);
2. jumps (Bates / SVCJ): Poisson count by inversion of a uniform, then the
   model's jump sizes; the drift carries ``-lambda_t m``;
3. scheduled events: log jump ``N(mean, std^2)`` of S, then variance bump /
   crush (``var_mult``);
4. shocks: ``spx_return`` replaces the step's price move; ``vix_level`` /
   ``vix_change`` set the variance through the pricing model's VIX formula.

A historical scenario (``compiled.historical`` set) runs
:func:`gpu_alvh.historical.replay_step_xp` instead (real closes plus
dispersion, see :mod:`gpu_alvh.historical`), with two more state arrays
``e, w`` (deviations from the real path).

State: ``x = ln(S / S_0)`` and the variance ``v`` [paths], in the compiled
dtype; a two-factor model (:class:`~gpu_alvh.models.SVCJ2`) adds its slow variance ``v2``, which
diffuses by the same scheme with its own normals (block DIFFUSION2) and adds its own price diffusion
(the drift is carried once, by the fast factor's step); a variance bump / crush scales both factors,
and a VIX shock moves the fast factor at the current ``v2``.  Random numbers come from
:mod:`gpu_alvh.rng` (the kernel: its scalar
twin :mod:`gpu_alvh.kernels.rng`), keyed by global path index, so results do not
depend on the batching.  Per-step parameters are host floats (the kernel:
records built once by :func:`gpu_alvh.kernels.market.compile_market`): nothing
is read back from the device inside the loop.
"""

from __future__ import annotations

import math
import time as _time
from functools import lru_cache

import numpy as np

from . import rng
from .backend import Backend, get_backend
from .batching import run_batches
from .compile import CompiledScenario, compile_scenario, resolve_dtype
from .rng import Block
from .schemes import get_scheme

__all__ = ["PathStepper", "simulate", "simulate_arrays", "launch_paths", "market_records", "VARIABLES", "variables"]

_POISSON_TAIL = 1e-15


@lru_cache(maxsize=1024)
def poisson_thresholds(lam_dt: float) -> tuple[float, ...]:
    """CDF values ``F(0..K-1)`` of Poisson(``lam_dt``) with ``P(N > K) < 1e-15``.

    The count is ``N = #{k : u > F(k)}`` for a uniform ``u`` (inversion), capped
    at ``K`` (probability of the cap below 1e-15).  Terms ``e^{-l} l^k / k!`` are
    summed directly; the tail beyond ``K`` is bounded by the next term times
    ``1 / (1 - l / (K + 2))``.
    """
    if lam_dt <= 0:
        return ()
    term = math.exp(-lam_dt)
    cdf = [term]
    k = 0
    while True:
        k += 1
        term *= lam_dt / k
        ratio = lam_dt / (k + 1)
        tail = term * lam_dt / (k + 1) / (1.0 - ratio) if ratio < 1.0 else 1.0
        if (tail < _POISSON_TAIL and k >= 1) or k >= 10_000:
            return tuple(cdf)
        cdf.append(cdf[-1] + term)


class PathStepper:
    """One batch of paths of a compiled scenario.

    Parameters
    ----------
    compiled : CompiledScenario
    backend : Backend
    start, count : int
        Global index of the batch's first path, and the number of paths.
    seed : int
        Seed in ``[0, 2^32)``.

    Attributes
    ----------
    t : int
        Last completed step (0 after construction).
    x, v : arrays [count]
        ``ln(S/S_0)`` and variance state after step ``t``.
    v2 : array [count] or None
        Slow variance of a two-factor model (None for one-factor models).
    """

    def __init__(self, compiled: CompiledScenario, backend: Backend, start: int, count: int, seed: int):
        if not 0 <= int(seed) <= rng.MAX_SEED:
            raise ValueError(f"seed must be in [0, {rng.MAX_SEED}], got {seed}")
        self.c = compiled
        self.b = backend
        self.xp = backend.xp
        self.seed = int(seed)
        self.start = int(start)
        self.count = int(count)
        self.ids = rng.path_ids(self.start, self.count, self.xp)
        self.dtype = compiled.dtype
        self.x = self.xp.zeros(self.count, dtype=self.dtype)
        self.v = self.xp.full(self.count, compiled.v0, dtype=self.dtype)
        self.v2 = self.xp.full(self.count, compiled.v2_0, dtype=self.dtype) if compiled.n_factors == 2 else None
        self.t = 0
        if compiled.historical is not None:  # replay: deviations from the real path
            self.e = self.xp.zeros(self.count, dtype=self.dtype)
            self.w = self.xp.zeros(self.count, dtype=self.dtype)
        self.scheme = get_scheme(compiled.scheme)
        # VIX^2 = a v + a2 v2 + b of each pricing regime (compiled.regime[t] prices the state after step t)
        self._vix_coef = [q.vix2_terms() for q in compiled.pricing_models]

    # ------------------------------------------------------------------ views
    @property
    def spot(self):
        """SPX level [count]."""
        return self.c.spot * self.xp.exp(self.x)

    @property
    def variance(self):
        """Reported variance ``max(v, 0)`` [count] (decimal, per year)."""
        return self.xp.maximum(self.v, 0.0)

    @property
    def slow_variance(self):
        """Reported slow variance ``max(v2, 0)`` [count] of a two-factor model (None for one factor)."""
        return None if self.v2 is None else self.xp.maximum(self.v2, 0.0)

    def _vix2(self, v, t: int):
        """``VIX^2 = a max(v, 0) + b`` (+ ``a2 max(v2, 0)``) in the pricing regime of step ``t``."""
        a, a2, b = self._vix_coef[int(self.c.regime[t])]
        q = a * self.xp.maximum(v, 0.0)
        if self.v2 is not None:
            q = q + a2 * self.slow_variance
        return q + b

    def _fast_from_vix2(self, q, t: int):
        """Fast variance with ``VIX^2 = q`` at the current ``v2`` (floored at 0)."""
        a, a2, b = self._vix_coef[int(self.c.regime[t])]
        q = q - b
        if self.v2 is not None:
            q = q - a2 * self.slow_variance
        return self.xp.maximum(q / a, 0.0)

    @property
    def vix(self):
        """Model VIX in points [count] from the pricing model of the current step's regime: ``100 sqrt(a v + a2 v2 + b)``."""
        return 100.0 * self.xp.sqrt(self._vix2(self.v, self.t))

    # ------------------------------------------------------------------ stepping
    def _jumps(self, x, v, t: int, lam_dt: float, model):
        """Add the step's jumps.  The Poisson count uses one uniform per path;
        jump sizes are drawn for every path on a GPU (dense) and only for the
        paths that jump on the CPU - the same numbers either way, since a path
        with no jump adds exact zeros."""
        xp, sp, dtype = self.xp, self.b.special, self.dtype
        seed, key = self.seed, self.c.key
        thresholds = poisson_thresholds(lam_dt)
        u_count, _ = rng.uniforms(self.ids, t, Block.JUMP, seed, key, xp=xp)
        count = xp.zeros(self.count, dtype=np.float64)
        for f in thresholds:
            count += u_count > f
        if self.b.is_gpu:
            sub, ids = None, self.ids
        else:
            sub = xp.flatnonzero(count > 0)
            if not sub.size:
                return x, v
            lo, hi = self.ids
            ids = (lo[sub], hi if isinstance(hi, int) else hi[sub])
            count = count[sub]

        def draw(block):
            return rng.uniforms(ids, t, int(block), seed, key, xp=xp)

        log_jump, var_jump = model.sample_jumps(draw, count, len(thresholds), xp, sp, dt=self.c.dt)
        if sub is None:
            if log_jump is not None:
                x = x + log_jump.astype(dtype, copy=False)
            if var_jump is not None:
                v = v + var_jump.astype(dtype, copy=False)
        else:
            if log_jump is not None:
                x[sub] += log_jump.astype(dtype, copy=False)
            if var_jump is not None:
                v[sub] += var_jump.astype(dtype, copy=False)
        return x, v

    def step(self) -> None:
        """Advance all paths of the batch by one step."""
        c, xp, sp = self.c, self.xp, self.b.special
        t = self.t + 1
        if t > c.n_steps:
            raise IndexError(f"scenario {c.name!r} has only {c.n_steps} steps")
        if c.historical is not None:
            return self._replay_step(t)
        i = t - 1
        dt = c.dt
        model = c.model_p
        lam = float(c.jump_intensity[i])
        lam_dt = lam * dt
        mu_dt = c.drift * float(c.dcal[i]) - lam * model.jump_compensator() * dt  # carry in calendar time, jumps in trading time
        coef = self.scheme.coefficients(model.kappa, model.theta, float(c.sigma[i]), float(c.rho[i]), dt)
        z_v, z_s = rng.normals(self.ids, t, Block.DIFFUSION, self.seed, c.key, xp=xp)
        dtype = self.dtype
        if dtype != np.float64:
            z_v = z_v.astype(dtype)
            z_s = z_s.astype(dtype)
        x, v = self.scheme.step(self.x, self.v, z_v, z_s, coef, mu_dt, dt, xp, sp, dense=self.b.is_gpu)
        v2 = self.v2
        if v2 is not None:
            coef2 = self.scheme.coefficients(model.kappa2, model.theta2, float(c.sigma2[i]), float(c.rho2[i]), dt)
            z_v2, z_s2 = rng.normals(self.ids, t, Block.DIFFUSION2, self.seed, c.key, xp=xp)
            if dtype != np.float64:
                z_v2, z_s2 = z_v2.astype(dtype), z_s2.astype(dtype)
            x, v2 = self.scheme.step(x, v2, z_v2, z_s2, coef2, 0.0, dt, xp, sp, dense=self.b.is_gpu)

        if lam_dt > 0.0:
            x, v = self._jumps(x, v, t, lam_dt, model)

        ev_mean = c.event_mean[i]
        if not math.isnan(ev_mean):
            ev_std = float(c.event_std[i])
            if ev_std > 0:
                z_e, _ = rng.normals(self.ids, t, Block.EVENT, self.seed, c.key, xp=xp)
                x = x + (float(ev_mean) + ev_std * z_e).astype(dtype, copy=False)
            else:
                x = x + float(ev_mean)
        vm = float(c.var_mult[i])
        if vm != 1.0:
            v = v * vm
            if v2 is not None:
                v2 = v2 * vm
        self.v2 = v2

        r = c.spx_return[i]
        if not math.isnan(r):
            x = self.x + math.log1p(float(r))
        lvl = c.vix_level[i]
        if not math.isnan(lvl):
            v = xp.broadcast_to(self._fast_from_vix2((float(lvl) / 100.0) ** 2, t), (self.count,)).astype(dtype)
        chg = c.vix_change[i]
        if not math.isnan(chg):
            vix_now = 100.0 * xp.sqrt(self._vix2(v, t))
            v = self._fast_from_vix2(((vix_now + float(chg)) / 100.0) ** 2, t).astype(dtype, copy=False)
        self.x, self.v, self.t = x, v, t

    # ------------------------------------------------------------------ historical replay branch
    def _replay_normals(self, t: int, block: int):
        z1, z2 = rng.normals(self.ids, t, block, self.seed, self.c.key, xp=self.xp)
        return (z1, z2) if self.dtype == np.float64 else (z1.astype(self.dtype), z2.astype(self.dtype))

    def _replay_step(self, t: int) -> None:
        """Step ``t`` of a replay: :func:`gpu_alvh.historical.replay_step_xp` with the step's real values;
        ``z_b`` from ``Block.DIFFUSION`` (before a day's close only), ``(z_v, z_s)`` from ``Block.BRIDGE`` (``d > 0`` only)."""
        from .historical import replay_step_xp

        h, i = self.c.historical, t - 1
        n_left = int(h.n_left[i])
        z_b = self._replay_normals(t, Block.DIFFUSION)[0] if n_left > 1 else 0.0
        z_v, z_s = self._replay_normals(t, Block.BRIDGE) if h.dispersion > 0.0 else (0.0, 0.0)
        self.x, self.v, self.e, self.w = replay_step_xp(self.x, self.e, self.w, float(h.x_close[i]), float(h.v_anchor[i]), float(h.v_day[i]),
                                                        n_left, h.dispersion, h.kappa, h.sigma, h.rho, self.c.dt, z_b, z_v, z_s, self.xp)
        self.t = t


#: Reported variables of a path, in the order of the fused kernel's non-finite codes.
VARIABLES = ("spx", "variance", "vix")
#: The slow variance, reported by two-factor models after the three.
SLOW_VARIANCE = "slow_variance"


def variables(compiled: CompiledScenario) -> tuple[str, ...]:
    """Reported variables of the scenario's paths: :data:`VARIABLES`, and ``slow_variance`` for two factors."""
    return VARIABLES + ((SLOW_VARIANCE,) if compiled.n_factors == 2 else ())
_NO_CODE = np.iinfo(np.int64).max


def market_records(compiled: CompiledScenario, backend: Backend) -> tuple:
    """The fused kernel's ``(mk, steps)`` records, on the device of ``backend`` (built once per run)."""
    from .kernels.market import compile_market

    records = compile_market(compiled)
    if backend.kernel_target == "cuda":
        from .kernels.target import register_cuda

        return tuple(register_cuda().to_device(r) for r in records)
    return records


def _check_finite(compiled: CompiledScenario, backend: Backend, bad, start: int) -> None:
    """Raise :class:`~gpu_alvh.errors.NonFiniteError` for the kernel's first non-finite code (two scalars read)."""
    xp = backend.xp
    codes = xp.where(bad < 0, _NO_CODE, bad)
    p = int(codes.argmin())
    code = int(codes[p])
    if code != _NO_CODE:
        from .errors import NonFiniteError

        step = code // 3
        raise NonFiniteError(compiled.name, VARIABLES[code % 3], start + p, step, str(compiled.times[step])[:19])


def launch_paths(compiled: CompiledScenario, backend: Backend, records, start: int, count: int, seed: int, *, out=None, terminal: bool = False):
    """Paths ``start .. start+count-1`` by the fused kernel on ``backend``.

    Returns ``(spx, variance, vix)`` (and ``slow_variance`` for two factors, :func:`variables`), arrays
    ``[count, rows]`` on the backend's device: ``rows =
    n_steps + 1`` (every step), or 1 with ``terminal=True`` (the terminal state only; nothing else is
    written, for generation benchmarks).  On the CPU targets they are C-contiguous and ``out`` (three
    such arrays, e.g. rows of the final host arrays) receives the values; on a GPU they are transposed
    views of step-major ``[rows, count]`` arrays (one thread per path writes a column: coalesced).  A
    non-finite value raises :class:`~gpu_alvh.errors.NonFiniteError` naming the first step, and the
    path at that step.
    """
    from .kernels.build import launch

    if not 0 <= int(seed) <= rng.MAX_SEED:
        raise ValueError(f"seed must be in [0, {rng.MAX_SEED}], got {seed}")
    xp = backend.xp
    rows = 1 if terminal else compiled.n_steps + 1
    target = backend.kernel_target
    names = variables(compiled)
    if target == "cuda":
        step_major = tuple(xp.empty((rows, count), dtype=compiled.dtype) for _ in names)
        out = tuple(a.T for a in step_major)
        unused = xp.empty((0, count), dtype=compiled.dtype)
    else:
        out = tuple(np.empty((count, rows), dtype=compiled.dtype) for _ in names) if out is None else tuple(out)
        # the CPU entry takes [count, rows] (and transposes inside); the simulator runs the CUDA entry
        step_major = out if target == "cpu" else tuple(a.T for a in out)
        unused = np.empty((count, 0) if target == "cpu" else (0, count), dtype=compiled.dtype)
    if len(names) == len(VARIABLES):  # one factor: the slow-variance output is never written
        step_major = (*step_major, unused)
    bad = xp.empty(count, dtype=np.int64)
    launch("simulate", target, count, count, np.int64(start), *records, np.uint64(seed), np.uint64(compiled.key), *step_major, bad)
    _check_finite(compiled, backend, bad, start)
    return out


def simulate_arrays(compiled: CompiledScenario, backend: Backend, start: int, count: int, seed: int, *, records=None, out=None):
    """Simulate one batch; host arrays ``spx, variance, vix`` (``slow_variance``) [count, n_steps+1].

    ``out`` (a dict of C-contiguous host ``[count, n_steps+1]`` arrays) is filled in place: on the CPU
    targets the kernel writes into it directly; from a GPU the batch is copied once (through
    :func:`gpu_alvh.results.to_host`).
    """
    from .results import to_host

    records = market_records(compiled, backend) if records is None else records
    n1 = compiled.n_steps + 1
    names = variables(compiled)
    if out is None:
        out = {k: np.empty((count, n1), dtype=compiled.dtype) for k in names}
    if backend.is_gpu:
        for k, a in zip(names, launch_paths(compiled, backend, records, start, count, seed)):
            out[k][...] = to_host(backend, a)
    else:
        launch_paths(compiled, backend, records, start, count, seed, out=[out[k] for k in names])
    return out


def simulate(
    scenario,
    *,
    n_paths: int | None = None,
    seed: int | None = None,
    backend="auto",
    dtype="float64",
    batch_size: int | None = None,
    progress: bool = False,
):
    """Simulate joint SPX / variance / VIX paths of a scenario.

    Parameters
    ----------
    scenario
        A :class:`~gpu_alvh.spec.ScenarioSpec`, a YAML path, a dict, a library
        name, or a :class:`~gpu_alvh.compile.CompiledScenario`.
    n_paths, seed
        Default to the scenario's ``paths`` and ``seed``.
    backend
        ``"auto"``, ``"numpy"``, ``"cupy"`` or a :class:`~gpu_alvh.backend.Backend`.
    dtype
        ``"float64"`` or ``"float32"``.
    batch_size
        Paths per batch (default: sized to the device / CPU cache).

    Returns
    -------
    xarray.Dataset
        ``spx`` (index points), ``variance`` (decimal, annualised), ``vix``
        (points) - and ``slow_variance`` for a two-factor model - over ``(path, step)``, with coordinates ``time(step)``
        (New York) and ``day(step)`` (trading-day index), and provenance attrs.
    """
    from .results import paths_dataset

    b = get_backend(backend)
    compiled = scenario if isinstance(scenario, CompiledScenario) else compile_scenario(scenario, dtype=dtype)
    if compiled.dtype != resolve_dtype(dtype):
        compiled = compile_scenario(compiled.spec, dtype=dtype)
    spec = compiled.spec
    n_paths = int(spec.paths if n_paths is None else n_paths)
    seed = int(spec.seed if seed is None else seed)
    if n_paths < 1:
        raise ValueError(f"n_paths must be >= 1, got {n_paths}")
    n1 = compiled.n_steps + 1
    t0 = _time.perf_counter()
    records = market_records(compiled, b)
    host = {k: np.empty((n_paths, n1), dtype=compiled.dtype) for k in variables(compiled)}

    def task(start: int, count: int):
        simulate_arrays(compiled, b, start, count, seed, records=records, out={k: a[start : start + count] for k, a in host.items()})
        return count

    # the kernel spreads one batch over every CPU thread (prange): batches run one after another
    run_batches(
        task,
        n_paths,
        backend=b.with_workers(1),
        bytes_per_path=len(host) * n1 * compiled.dtype.itemsize + 8,
        batch_size=batch_size,
        progress=progress,
        desc=f"simulate {compiled.name}",
    )
    return paths_dataset(compiled, host, backend=b, seed=seed, elapsed=_time.perf_counter() - t0)
