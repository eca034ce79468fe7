"""Philox4x32-10 for one path: the random numbers of :mod:`gpu_alvh.rng`, as scalars.

Per-path counterpart of the array generator, with the same layout, so a fused kernel and the array
engine draw identical random integers:

* key ``(k0, k1) = (seed, scenario key)``; counter ``(c0, c1, c2, c3) = (path mod 2^32, step, block,
  path >> 32)`` (``path`` = global path index, ``block`` = :class:`gpu_alvh.rng.Block`);
* ten rounds of ``(c0, c1, c2, c3) <- (hi(M1 c2) ^ c1 ^ k0, lo(M1 c2), hi(M0 c0) ^ c3 ^ k1, lo(M0 c0))``
  with the Weyl key schedule ``k += (W0, W1)`` (Salmon et al. 2011).  The 32-bit words are held in
  uint64, so the 32x32 -> 64-bit products are exact;
* 53-bit integers ``a = (w0 >> 5) 2^26 + (w1 >> 6)``, ``b = (w2 >> 5) 2^26 + (w3 >> 6)`` and the uniforms
  ``u = fl(a + 1/2) 2^-53`` in (0, 1] (``a + 1/2`` is exact below ``2^52``, above it rounds to even, as in
  the array generator; ``u = 1`` for ``a = 2^53 - 1``, probability ``2^-53``): :func:`uniforms`;
* Box-Muller ``z1 = r cos(theta)``, ``z2 = r sin(theta)``, ``r = sqrt(-2 ln u1)``, ``theta = pi (2 u2 - 1)``.
  :func:`normals` (float64) evaluates it with the array generator's operations in the same order
  (``q = theta / 4``, one cosine, ``sin q = sign(q) sqrt(1 - cos^2 q)``, two double-angle steps), so
  both give the same numbers up to the last bits of the libm functions.

:func:`normals32` is the float32 form from the same 53-bit integers, with no float64 operation.  Each
input is one correctly rounded conversion of an exact integer, so its relative error is 2^-24:

* ``-ln u1``: for ``a < 2^52`` (``u1 < 1/2``) ``-log(f32(a) + 1/2) 2^-53``; for ``a >= 2^52`` it is
  ``-log1p(-w)`` of the complement ``w = 1 - u1 = (2^53 - 1 - a + 1/2) 2^-53``, formed from the integer
  ``2^53 - 1 - a``, so ``-ln u1`` keeps its relative precision as ``u1 -> 1`` (where ``log`` of a rounded
  ``u1`` would lose it all);
* ``2 u2 - 1 = (2 b + 1 - 2^53) 2^-53`` from the exact signed integer ``2 b + 1 - 2^53``;
* then ``cos`` and ``sin`` of ``theta`` directly (the half-angle trick would return ``sin q = 0`` for
  ``|q| < 2.4e-4`` in float32).
"""

from __future__ import annotations

import math

import numpy as np

from .floats import jitable

__all__ = ["philox4x32", "block_words", "uniforms", "normals", "normals32", "box_muller32"]

_M0 = np.uint64(0xD2511F53)
_M1 = np.uint64(0xCD9E8D57)
_W0 = np.uint64(0x9E3779B9)
_W1 = np.uint64(0xBB67AE85)
_MASK = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)
_S26 = np.uint64(26)
_S6 = np.uint64(6)
_S5 = np.uint64(5)
_TWO52 = np.uint64(1 << 52)
_TOP53 = np.uint64((1 << 53) - 1)
_TWO53_I = 1 << 53
_SCALE = 2.0**-53
_HALF_PI = 0.5 * math.pi
_QUARTER_PI = 0.25 * math.pi
_SCALE32 = np.float32(2.0**-53)
_HALF32 = np.float32(0.5)
_PI32 = np.float32(math.pi)


@jitable
def philox4x32(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 of the counter ``(c0..c3)`` under the key ``(k0, k1)`` (uint64 holding 32 bits)."""
    for _ in range(10):
        p0 = _M0 * c0
        p1 = _M1 * c2
        c0, c1, c2, c3 = (p1 >> _S32) ^ c1 ^ k0, p1 & _MASK, (p0 >> _S32) ^ c3 ^ k1, p0 & _MASK
        k0 = (k0 + _W0) & _MASK
        k1 = (k1 + _W1) & _MASK
    return c0, c1, c2, c3


@jitable
def block_words(path, step, block, seed, key):
    """Four uint64-held 32-bit words of block ``block`` of ``step`` for global path ``path`` (>= 0)."""
    g = np.uint64(path)
    return philox4x32(g & _MASK, np.uint64(step), np.uint64(block), g >> _S32, seed, key)


@jitable
def _bits53(hi, lo):
    return ((hi >> _S5) << _S26) | (lo >> _S6)


@jitable
def uniforms(path, step, block, seed, key):
    """Two U(0, 1) float64 of ``(path, step, block)``: ``(a + 1/2) 2^-53``, ``(b + 1/2) 2^-53``."""
    w0, w1, w2, w3 = block_words(path, step, block, seed, key)
    return (float(_bits53(w0, w1)) + 0.5) * _SCALE, (float(_bits53(w2, w3)) + 0.5) * _SCALE


@jitable
def normals(path, step, block, seed, key):
    """Two N(0, 1) float64 by Box-Muller, in the array generator's order of operations."""
    u1, u2 = uniforms(path, step, block, seed, key)
    r = math.sqrt(math.log(u1) * -2.0)
    q = u2 * _HALF_PI - _QUARTER_PI
    c = math.cos(q)
    s = math.copysign(math.sqrt(1.0 - c * c), q)
    for _ in range(2):
        s = s * c * 2.0
        c = c * c * 2.0 - 1.0
    return c * r, s * r


@jitable
def box_muller32(a, b):
    """Two N(0, 1) float32 from the 53-bit integers ``a``, ``b`` (uint64) of one block."""
    if a < _TWO52:
        minus_log_u = -math.log((np.float32(a) + _HALF32) * _SCALE32)
    else:
        minus_log_u = -math.log1p(-((np.float32(_TOP53 - a) + _HALF32) * _SCALE32))
    r = math.sqrt(minus_log_u + minus_log_u)
    theta = _PI32 * (np.float32(np.int64(b) * 2 + 1 - _TWO53_I) * _SCALE32)
    return r * math.cos(theta), r * math.sin(theta)


@jitable
def normals32(path, step, block, seed, key):
    """Two N(0, 1) float32 by Box-Muller from the same 53-bit integers (see the module docstring)."""
    w0, w1, w2, w3 = block_words(path, step, block, seed, key)
    return box_muller32(_bits53(w0, w1), _bits53(w2, w3))
