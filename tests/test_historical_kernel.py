"""The historical replay in the fused market kernel equals the array replay (PathStepper), on every target.

``simulate`` runs :func:`gpu_alvh.kernels.market.replay_move` (the compiled
:func:`gpu_alvh.historical.replay_step`); :class:`gpu_alvh.paths.PathStepper` runs
:func:`gpu_alvh.historical.replay_step_xp`, the same operations on NumPy arrays.  They differ only in
the elementary functions (scalar libm in the kernel, NumPy's SIMD loops in the array engine, in the
Box-Muller normals and in ``F``'s exponential), so each lies within a rounding bound of the exact
value of the same formulas, and ``|kernel - array| <= 2 B`` with ``B`` the bound for the larger
(NumPy) ulp table, computed by running the kernel's own source on numbers that carry an error bound
(:mod:`tests.rounding`; running error analysis: each input carries the bound accumulated so far).
``F``'s branch at ``w = 0`` is not an ambiguity: ``F`` is continuous and 1-Lipschitz in ``w``, so a
branch that either evaluation could take adds at most the bound of ``w``.  The Numba CUDA simulator
runs the same source with the same libm: bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest

from gpu_alvh.backend import get_backend
from gpu_alvh.compile import compile_scenario
from gpu_alvh.historical import replay_step
from gpu_alvh.kernels import market
from gpu_alvh.paths import VARIABLES, PathStepper, simulate
from gpu_alvh.spec import load_scenario

from .rounding import _STATE, T, ULPS, tracked

#: short windows through each episode's shock: covid_2020 through the 2020-03-16 gap, volmageddon_2018
#: through 2018-02-05 (with its closes below the model's VIX floor)
EPISODES = {"covid_2020": "2020-03-20", "volmageddon_2018": "2018-02-09"}


def episode(name: str, d: float, m: int = 2):
    return compile_scenario(load_scenario(name, overrides={"historical.to": EPISODES[name], "historical.dispersion": d, "steps_per_day": m}))


def kernel_paths(c, n, seed, backend="numpy"):
    """[3, n, n_steps + 1] spot / variance / VIX of the fused kernel."""
    ds = simulate(c, n_paths=n, seed=seed, backend=backend)
    return np.stack([ds[k].values for k in VARIABLES])


def array_paths(c, n, seed):
    """[3, n, n_steps + 1]: PathStepper's states reported by the kernel's formulas (equal states, equal values)."""
    mk_, steps = market.compile_market(c)
    mk = mk_[0]
    st = PathStepper(c, get_backend("numpy"), 0, n, seed)
    out = np.empty((3, n, c.n_steps + 1))
    for t in range(c.n_steps + 1):
        if t:
            st.step()
        r = steps[t - 1] if t else mk  # the VIX formula of the step's pricing regime
        out[:, :, t] = np.array([[market.spot(x, mk), market.variance(v), market.model_vix(v, 0.0, mk, r)] for x, v in zip(st.x, st.v)]).T
    return out


def _step_with_lipschitz_branch():
    step = tracked(replay_step)

    def run(*args):
        before = _STATE.ambiguous
        _STATE.ambiguous = False
        x, v, e, w = step(*args)
        if _STATE.ambiguous:  # only F's test w >= 0 compares tracked numbers in replay_step
            v = T(v.v, v.e + w.e, u=v.u)
        _STATE.ambiguous = before
        return x, v, e, w

    return run


def replay_bounds(c, path: int, seed: int):
    """``(bounds [3, n_steps + 1], ok [n_steps + 1])`` of one path: error bounds of spot, variance and VIX
    with NumPy's ulps, and False from the first step whose branch is ambiguous (the normals' sign)."""
    mk, steps = market.compile_market(c)
    m = mk[0]
    move = tracked(market.replay_move)
    move.__globals__["_replay_step"] = _step_with_lipschitz_branch()  # the tracked copy's globals only
    spot, variance, vix = tracked(market.spot), tracked(market.variance), tracked(market.model_vix)
    _STATE.table64, _STATE.bx, _STATE.bv, _STATE.ambiguous = ULPS["numpy"], 0.0, 0.0, False
    x, v, e, w = T(0.0), T(float(m["v0"])), T(0.0), T(0.0)
    bounds, ok = np.zeros((3, c.n_steps + 1)), np.ones(c.n_steps + 1, dtype=bool)
    for t in range(c.n_steps + 1):
        if t:
            x, v, e, w = move(t, path, x, e, w, m, steps[t - 1], seed, c.key)
            x, v, e, w = (T(a.v, a.e) if isinstance(a, T) else T(a) for a in (x, v, e, w))  # next inputs: value, bound so far
        bounds[:, t] = spot(x, m).total(), variance(v).total(), vix(v, 0.0, m, m).total()
        ok[t] = not _STATE.ambiguous
    return bounds, np.logical_and.accumulate(ok)


@pytest.mark.parametrize("d", [0.0, 0.5])
@pytest.mark.parametrize("name", list(EPISODES))
def test_kernel_replay_equals_the_array_replay(name, d):
    c = episode(name, d)
    n, seed = 24, 7
    got, ref = kernel_paths(c, n, seed), array_paths(c, n, seed)
    if d == 0.0:  # every close is the real one on both
        np.testing.assert_array_equal(got[:, :, :: c.steps_per_day], ref[:, :, :: c.steps_per_day])
    # paths where the libms round F's exponential differently must stay within the rounding bound; where
    # NumPy's exp is glibc's on this CPU (no SIMD path) the paths are bit-equal and no bound is needed
    differ = np.flatnonzero(np.any(got != ref, axis=(0, 2)))
    covered = n * (c.n_steps + 1)
    for p in differ:
        bound, ok = replay_bounds(c, int(p), seed)
        covered -= int((~ok).sum())
        diff = np.abs(got[:, p] - ref[:, p])
        bad = (diff > 2 * bound) & ok
        assert not bad.any(), (name, d, int(p), np.argwhere(bad)[:3], diff[bad][:3], 2 * bound[bad][:3])
    assert covered >= 0.99 * n * (c.n_steps + 1), covered


def test_the_episodes_reach_both_branches_of_F():
    """The comparison above covers F's exponential branch (w < 0), its tangent (w >= 0) and v^h = 0."""
    c = episode("volmageddon_2018", 0.5)
    h = c.historical
    st = PathStepper(c, get_backend("numpy"), 0, 24, 7)
    below = above = zero = 0
    for t in range(1, c.n_steps + 1):
        st.step()
        pos = h.v_anchor[t - 1] > 0
        below += int(((st.w < 0) & pos).sum())
        above += int(((st.w >= 0) & pos).sum())
        zero += int(not pos) * st.count
    assert below > 0 and above > 0 and zero > 0


def test_cudasim_equals_numpy_bit_for_bit():
    c = episode("volmageddon_2018", 0.5)
    cpu, sim = kernel_paths(c, 4, 3), kernel_paths(c, 4, 3, backend="cudasim")
    np.testing.assert_array_equal(sim, cpu)


@pytest.mark.gpu
def test_cuda_replay_equals_cpu_within_rounding(gpu_backend):
    c = episode("covid_2020", 0.5)
    n, seed = 64, 7
    cpu, gpu = kernel_paths(c, n, seed), kernel_paths(c, n, seed, backend=gpu_backend)
    for p in np.flatnonzero(np.any(gpu != cpu, axis=(0, 2))):
        bound, ok = replay_bounds(c, int(p), seed)  # NumPy's ulps bound libdevice's and glibc's
        assert not ((np.abs(gpu[:, p] - cpu[:, p]) > 2 * bound) & ok).any(), int(p)
