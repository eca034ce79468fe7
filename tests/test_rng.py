"""Counter-based RNG: Random123 known answers, keying, batch invariance, distributions."""

import numpy as np
import pytest
from scipy import stats

from cpu_fallback.reference import philox4x32_10
from gpu_alvh import rng
from tests.conftest import to_numpy

# Random123 kat_vectors, philox4x32_10: (counter, key, expected output)
KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF, 0xFFFFFFFF), (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0), (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


@pytest.mark.parametrize("ctr,key,expected", KAT)
def test_reference_known_answers(ctr, key, expected):
    assert philox4x32_10(ctr, key) == expected


@pytest.mark.parametrize("ctr,key,expected", KAT)
def test_array_known_answers(xp, ctr, key, expected):
    c0 = xp.asarray([ctr[0]], dtype=xp.uint64)
    out = rng.philox4x32(c0, ctr[1], ctr[2], ctr[3], key[0], key[1], xp=xp)
    got = tuple(int(to_numpy(xp.asarray(o)).ravel()[0]) for o in out)
    assert got == expected


def test_array_matches_reference_on_random_counters():
    g = np.random.default_rng(1)
    for _ in range(50):
        ctr = tuple(int(x) for x in g.integers(0, 2**32, 4))
        key = tuple(int(x) for x in g.integers(0, 2**32, 2))
        # every word as an array once, to exercise the scalar/array mixing
        for pos in range(4):
            words = list(ctr)
            words[pos] = np.asarray([ctr[pos]], dtype=np.uint64)
            out = rng.philox4x32(*words, *key, xp=np)
            assert tuple(int(np.asarray(o).ravel()[0]) for o in out) == philox4x32_10(ctr, key)


def test_uniforms_from_reference_words():
    """u = (53-bit integer from words 0,1 + 1/2) 2^-53, exactly."""
    seed, key, step, block = 7, rng.scenario_key("base"), 11, 0
    ids = rng.path_ids(0, 5)
    u1, u2 = rng.uniforms(ids, step, block, seed, key)
    for p in range(5):
        w = philox4x32_10((p, step, block, 0), (seed, key))
        a = ((w[0] >> 5) << 26) | (w[1] >> 6)
        b = ((w[2] >> 5) << 26) | (w[3] >> 6)
        assert u1[p] == (a + 0.5) * 2.0**-53
        assert u2[p] == (b + 0.5) * 2.0**-53


def test_batch_invariance():
    seed, key = 3, rng.scenario_key("x")
    whole = rng.normals(rng.path_ids(0, 1000), 5, 0, seed, key)
    parts = [rng.normals(rng.path_ids(s, n), 5, 0, seed, key) for s, n in [(0, 1), (1, 499), (500, 500)]]
    for lane in range(2):
        np.testing.assert_array_equal(whole[lane], np.concatenate([p[lane] for p in parts]))


def test_high_path_ids_use_the_fourth_counter_word():
    seed, key = 1, 2
    lo, hi = rng.path_ids(2**32 - 2, 4)
    assert not isinstance(hi, int)
    u = rng.uniforms((lo, hi), 1, 0, seed, key)[0]
    for j, p in enumerate(range(2**32 - 2, 2**32 + 2)):
        w = philox4x32_10((p & 0xFFFFFFFF, 1, 0, p >> 32), (seed, key))
        assert u[j] == ((((w[0] >> 5) << 26) | (w[1] >> 6)) + 0.5) * 2.0**-53
    assert len(set(u.tolist())) == 4


def test_keys_separate_streams():
    ids = rng.path_ids(0, 20000)
    a = rng.normals(ids, 1, 0, 0, rng.scenario_key("a"))[0]
    b = rng.normals(ids, 1, 0, 0, rng.scenario_key("b"))[0]
    c = rng.normals(ids, 1, 0, 1, rng.scenario_key("a"))[0]
    d = rng.normals(ids, 2, 0, 0, rng.scenario_key("a"))[0]
    e = rng.normals(ids, 1, 1, 0, rng.scenario_key("a"))[0]
    for other in (b, c, d, e):
        # independent N(0,1) samples: correlation ~ N(0, 1/n); 5 SE bound
        assert abs(np.corrcoef(a, other)[0, 1]) < 5 / np.sqrt(a.size)


def test_uniform_and_normal_distributions():
    ids = rng.path_ids(0, 200_000)
    u1, u2 = rng.uniforms(ids, 3, 2, 11, 12)
    assert 0.0 < u1.min() and u1.max() < 1.0
    z1, z2 = rng.normals(ids, 3, 0, 11, 12)
    n = z1.size
    for z in (z1, z2):
        assert abs(z.mean()) < 4 / np.sqrt(n)
        assert abs(z.var() - 1) < 4 * np.sqrt(2 / n)
        assert stats.kstest(z, "norm").pvalue > 1e-3
    assert abs(np.corrcoef(z1, z2)[0, 1]) < 4 / np.sqrt(n)
    assert stats.kstest(u1, "uniform").pvalue > 1e-3
    # Box-Muller radius: z1^2 + z2^2 ~ chi2(2)
    assert stats.kstest(z1**2 + z2**2, "chi2", args=(2,)).pvalue > 1e-3


def test_normals_equal_direct_box_muller():
    ids = rng.path_ids(0, 100_000)
    u1, u2 = rng.uniforms(ids, 9, 0, 5, 6)
    r, th = np.sqrt(-2 * np.log(u1)), np.pi * (2 * u2 - 1)
    z1, z2 = rng.normals(ids, 9, 0, 5, 6)
    np.testing.assert_allclose(z1, r * np.cos(th), rtol=0, atol=1e-12)
    np.testing.assert_allclose(z2, r * np.sin(th), rtol=0, atol=1e-7)


@pytest.mark.gpu
def test_numpy_cupy_identical(gpu_backend):
    cp = gpu_backend.xp
    key = rng.scenario_key("base")
    for block in (0, 1, 4):
        a = rng.uniforms(rng.path_ids(0, 4096), 17, block, 42, key, xp=np)
        b = rng.uniforms(rng.path_ids(0, 4096, cp), 17, block, 42, key, xp=cp)
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, cp.asnumpy(y))
        za = rng.normals(rng.path_ids(0, 4096), 17, block, 42, key, xp=np)
        zb = rng.normals(rng.path_ids(0, 4096, cp), 17, block, 42, key, xp=cp)
        for x, y in zip(za, zb):
            np.testing.assert_allclose(x, cp.asnumpy(y), rtol=1e-12, atol=1e-12)
