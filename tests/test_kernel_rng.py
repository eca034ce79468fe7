"""Scalar Philox of the kernels: the array generator's integers, uniforms and normals, on every target.

Normals are compared within error bounds derived from their arithmetic (:mod:`tests.rounding`): the
float64 kernel and the array generator evaluate the same operations with different libm / SIMD
functions; float32 normals come from the same integers by another evaluation of the same formula.
"""

from __future__ import annotations

import numpy as np
import pytest
from numba.extending import register_jitable

from gpu_alvh import rng
from gpu_alvh.kernels import rng as krng

from .kernel_harness import map_kernel
from .rounding import U32, U64, tracked
from .test_rng import KAT

TARGETS = ["cpu", "cudasim", "python"]


@register_jitable
def _draws(c0, c1, c2, c3, path, step, block, seed, key):
    """Everything the kernels draw, in one function (one compilation per target)."""
    k0, k1, k2, k3 = krng.philox4x32(c0, c1, c2, c3, seed, key)
    w0, w1, w2, w3 = krng.block_words(path, step, block, seed, key)
    u1, u2 = krng.uniforms(path, step, block, seed, key)
    z1, z2 = krng.normals(path, step, block, seed, key)
    y1, y2 = krng.normals32(path, step, block, seed, key)
    return k0, k1, k2, k3, w0, w1, w2, w3, u1, u2, z1, z2, y1, y2


def draws(target, counters, keys, paths, steps, blocks):
    """``_draws`` mapped over arrays: [14] float64 arrays (uint64 words below 2^32 are exact)."""
    c = np.asarray(counters, dtype=np.uint64).reshape(4, -1)
    k = np.asarray(keys, dtype=np.uint64).reshape(2, -1)
    return map_kernel(_draws, target, *c, np.asarray(paths, np.int64), steps, blocks, *k, n_out=14)


def _counters(n: int, seed: int = 1):
    """Random global paths (some >= 2^32), steps, blocks, seeds and keys."""
    g = np.random.default_rng(seed)
    paths = np.concatenate([g.integers(0, 2**32, n // 2), g.integers(2**32 - 3, 2**40, n - n // 2)]).astype(np.int64)
    return paths, g.integers(0, 5000, n), g.integers(0, 20, n), g.integers(0, 2**32, n).astype(np.uint64), g.integers(0, 2**32, n).astype(np.uint64)


@pytest.mark.parametrize("target", TARGETS)
def test_known_answers(target):
    c = np.array([k[0] for k in KAT], dtype=np.uint64).T
    key = np.array([k[1] for k in KAT], dtype=np.uint64).T
    out = draws(target, c, key, 0, 0, 0)[:4]
    assert [tuple(int(o[j]) for o in out) for j in range(len(KAT))] == [k[2] for k in KAT]


@pytest.mark.parametrize("target", TARGETS)
def test_words_and_uniforms_equal_the_array_generator(target):
    n = 64 if target != "cpu" else 2000
    paths, steps, blocks, seeds, keys = _counters(n)
    out = draws(target, np.zeros(4), np.stack([seeds, keys]), paths, steps, blocks)
    words, u = out[4:8], out[8:10]
    for j in range(n):
        ids = rng.path_ids(int(paths[j]), 1)
        ref = rng.philox4x32(ids[0], int(steps[j]), int(blocks[j]), ids[1], int(seeds[j]), int(keys[j]))
        assert tuple(int(w[j]) for w in words) == tuple(int(np.asarray(r).ravel()[0]) for r in ref)
        ru = rng.uniforms(ids, int(steps[j]), int(blocks[j]), int(seeds[j]), int(keys[j]))
        assert (u[0][j], u[1][j]) == (ru[0][0], ru[1][0])  # identical bits


def _normal_bounds(fn, args, table64):
    """Values and bounds of a tracked normal pair (``table64`` as in :func:`tests.rounding.path_bounds`)."""
    from .rounding import ULPS, _STATE

    _STATE.table64 = ULPS["numpy"] if table64 == "numpy" else ULPS[U64]
    _STATE.bx = _STATE.bv = 0.0
    z = tracked(fn)(*args)
    return np.array([t.v for t in z]), np.array([t.total() for t in z])


@pytest.mark.parametrize("target", ["cpu", "cudasim"])
def test_normals_equal_the_array_generator_within_rounding(target):
    n = 400 if target == "cpu" else 48
    paths, steps, blocks, seeds, keys = _counters(n, seed=2)
    out = draws(target, np.zeros(4), np.stack([seeds, keys]), paths, steps, blocks)
    z64, z32 = out[10:12], out[12:14]
    for j in range(n):
        args = (int(paths[j]), int(steps[j]), int(blocks[j]), int(seeds[j]), int(keys[j]))
        ref = rng.normals(rng.path_ids(args[0], 1), *args[1:])
        ref = np.array([ref[0][0], ref[1][0]])
        _, b_kernel = _normal_bounds(krng.normals, args, "cuda")
        _, b_numpy = _normal_bounds(krng.normals, args, "numpy")
        _, b32 = _normal_bounds(krng.normals32, args, "cuda")
        got64, got32 = np.array([z64[0][j], z64[1][j]]), np.array([z32[0][j], z32[1][j]])
        assert np.all(np.abs(got64 - ref) <= b_kernel + b_numpy), (j, got64, ref, b_kernel + b_numpy)
        # the float32 form evaluates the same Box-Muller formula: each within its bound of the exact value
        assert np.all(np.abs(got32 - ref) <= b32 + b_numpy), (j, got32, ref, b32 + b_numpy)


def test_float32_box_muller_at_the_ends_of_the_integers():
    """u1 -> 0 and u1 -> 1 (where log of a rounded u1 would lose every digit), theta -> 0 and -> +-pi."""
    top = 2**53 - 1
    a = np.array([0, 1, 2**24, 2**52 - 1, 2**52, top - 2**24, top - 1, top], dtype=np.uint64)
    b = np.array([0, 2**52 - 1, 2**52, top, 2**52 + 1, 12345, 2**51, top - 7], dtype=np.uint64)
    z1, z2 = map_kernel(krng.box_muller32, "cpu", a, b, n_out=2)
    ld = np.longdouble  # 64-bit significand on x86: the reference is exact to float64 rounding
    for j in range(a.size):
        u1 = (ld(int(a[j])) + ld(0.5)) / ld(2.0**53)
        w = (ld(top - int(a[j])) + ld(0.5)) / ld(2.0**53)  # 1 - u1, exact
        r = np.sqrt(-2 * (np.log(u1) if u1 < 0.5 else np.log1p(-w)))
        theta = np.pi * (ld(2 * int(b[j]) + 1 - 2**53) / ld(2.0**53))
        exact = np.array([r * np.cos(theta), r * np.sin(theta)], dtype=float)
        _, bound = _normal_bounds(krng.box_muller32, (int(a[j]), int(b[j])), "cuda")
        assert np.all(np.abs(np.array([z1[j], z2[j]]) - exact) <= bound + 4 * U64 * float(r)), (j, z1[j], z2[j], exact, bound)
        # relative precision in r is kept at both ends (each input is one rounding of an exact integer:
        # the bound is a few float32 roundings of r, not the 2^-24 / (1 - u1) of a rounded u1)
        assert np.all(bound <= 32 * U32 * float(r)), (j, bound, float(r))
