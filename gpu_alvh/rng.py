"""Counter-based random numbers: Philox4x32-10 on the array namespace.

Every random number is a pure function of ``(seed, scenario, path, step,
draw)``, so the same seed gives the same paths on NumPy and CuPy, for any batch
size, shard layout or worker count.

Layout of one Philox block (Salmon et al. 2011, "Parallel random numbers: as
easy as 1, 2, 3"; Random123 known-answer vectors in the tests):

* key ``(k0, k1) = (seed, scenario_key)``; ``seed`` in ``[0, 2^32)``,
  ``scenario_key = crc32(scenario id)`` so grid variants of one scenario share
  random numbers (common random numbers) and different scenarios do not;
* counter ``(c0, c1, c2, c3) = (path mod 2^32, step, block, path >> 32)``.

A block gives 128 bits, turned into two uniforms with 53 random bits each,
``u = (k + 1/2) 2^-53`` (never 0 or 1), or two standard normals by Box-Muller.
Draw ``2*block + lane`` is lane ``lane`` of block ``block``.  The blocks used
per step are fixed in :class:`Block`, so adding a feature never shifts the
numbers of another.

Uniforms are always computed in float64 and cast afterwards, so a float32 run
uses the same random numbers as a float64 run up to rounding.
"""

from __future__ import annotations

import zlib
from enum import IntEnum

import numpy as np

__all__ = [
    "Block",
    "philox4x32",
    "scenario_key",
    "uniforms",
    "normals",
    "path_ids",
    "MAX_SEED",
]

MAX_SEED = 2**32 - 1
_M0 = 0xD2511F53
_M1 = 0xCD9E8D57
_W0 = 0x9E3779B9
_W1 = 0xBB67AE85
_MASK = 0xFFFFFFFF
_TWO_PI = 2.0 * np.pi


class Block(IntEnum):
    """Philox block (``c2`` of the counter) reserved for each use within a step."""

    DIFFUSION = 0  #: (Z_v, Z_s) normals of the variance and price diffusions
    JUMP = 1  #: (u_count, u_size) for the Poisson count and the price-jump size
    VAR_JUMP_A = 2  #: two exponential variance-jump sizes
    VAR_JUMP_B = 3  #: two more (SVCJ sums up to four exactly)
    EVENT = 4  #: event-day jump of S
    BRIDGE = 5  #: historical-replay dispersion (reserved)
    VAR_JUMP_TAIL = 6  #: normal for the Gamma remainder of > 4 variance jumps in one step
    VAR_JUMP_TIME = 7  #: (u_time, u_norm): when in the step the variance jumps come, the price diffusion they add
    DIFFUSION2 = 8  #: (Z_v2, Z_s2) normals of the slow variance factor and its price diffusion (two-factor models)
    USER = 16  #: first block free for extensions


def scenario_key(name: str) -> int:
    """32-bit key of a scenario id: ``crc32(name)``; stable across runs and machines."""
    return zlib.crc32(str(name).encode("utf-8")) & _MASK


def path_ids(start: int, count: int, xp=np):
    """Counter words of global paths ``start .. start+count-1``.

    Returns ``(low, high)``: ``low`` a uint64 array of the low 32 bits, ``high``
    the high 32 bits as an array, or the Python int 0 when every index is below
    2^32 (then the Philox rounds can keep that word scalar).  Computed once per
    batch, so nothing is read back from the device inside the time loop.
    """
    if start < 0 or count < 0:
        raise ValueError("path ranges must be non-negative")
    ids = xp.arange(start, start + count, dtype=xp.uint64)
    if start + count <= 2**32:
        return ids, 0
    return ids & _MASK, ids >> 32


def _is_array(x) -> bool:
    return hasattr(x, "dtype") and getattr(x, "ndim", 0) > 0


def philox4x32(c0, c1, c2, c3, k0: int, k1: int, xp=np, rounds: int = 10):
    """Philox4x32 bijection of a 128-bit counter under a 64-bit key.

    Each of ``c0..c3`` is a Python int or a uint64 array holding 32-bit values
    (they broadcast together).  Returns four uint64 arrays (or ints) holding
    32-bit words.  Scalar counter words stay scalars as long as possible, so a
    block keyed by one array word costs about 20% less than a full one.

    The 32x32->64 multiply is done in uint64, exact because both factors are
    below 2^32; ``hi = p >> 32``, ``lo = p & 0xFFFFFFFF``.
    """
    k0 &= _MASK
    k1 &= _MASK
    # Arrays are updated in place (augmented operators); Python ints just rebind.
    c0 = c0.copy() if _is_array(c0) else c0
    c2 = c2.copy() if _is_array(c2) else c2
    for _ in range(rounds):
        c0 *= _M0  # p0 = M0 * c0 (< 2^64)
        c2 *= _M1  # p1 = M1 * c2
        hi0 = c0 >> 32
        hi1 = c2 >> 32
        hi1 ^= c1
        hi1 ^= k0
        hi0 ^= c3
        hi0 ^= k1
        c0 &= _MASK
        c2 &= _MASK
        c0, c1, c2, c3 = hi1, c2, hi0, c0
        k0 = (k0 + _W0) & _MASK
        k1 = (k1 + _W1) & _MASK
    return c0, c1, c2, c3


def uniforms(ids, step: int, block: int, seed: int, key: int, xp=np):
    """Two independent U(0,1) float64 arrays for ``(path ids, step, block)``.

    ``ids`` is the ``(low, high)`` pair from :func:`path_ids`.
    """
    lo, hi = ids
    x0, x1, x2, x3 = philox4x32(lo, int(step), int(block), hi, int(seed), int(key), xp=xp)
    scale = 2.0**-53
    a = ((x0 >> 5) << 26) | (x1 >> 6)
    b = ((x2 >> 5) << 26) | (x3 >> 6)
    u1 = (a.astype(xp.float64) + 0.5) * scale
    u2 = (b.astype(xp.float64) + 0.5) * scale
    return u1, u2


def normals(ids, step: int, block: int, seed: int, key: int, xp=np):
    """Two independent N(0,1) float64 arrays by Box-Muller of :func:`uniforms`.

    ``z1 = r cos(theta)``, ``z2 = r sin(theta)``, ``r = sqrt(-2 ln u1)``,
    ``theta = pi (2 u2 - 1)`` uniform on (-pi, pi).  The angle is evaluated from
    ``q = theta / 4`` (one cosine on [-pi/4, pi/4], where vectorised libm is
    fastest) and two double-angle steps; ``sin q = sign(q) sqrt(1 - cos^2 q)``
    has an absolute error below 1e-8 only for ``|q| < 1e-7``.
    """
    u1, u2 = uniforms(ids, step, block, seed, key, xp=xp)
    r = xp.log(u1)
    r *= -2.0
    xp.sqrt(r, out=r)
    q = u2  # reuse: q = (pi/4) (2 u2 - 1)
    q *= 0.5 * np.pi
    q -= 0.25 * np.pi
    c = xp.cos(q)
    s = c * c
    xp.subtract(1.0, s, out=s)
    xp.sqrt(s, out=s)
    xp.copysign(s, q, out=s)
    # double angle twice: (c, s) <- (2c^2 - 1, 2 s c)
    for _ in range(2):
        s *= c
        s *= 2.0
        c *= c
        c *= 2.0
        c -= 1.0
    c *= r
    s *= r
    return c, s
