"""Rounding-error bounds of the per-path kernels, derived from their own arithmetic (tests only).

The kernels are plain Python (``register_jitable``), so their source can run on numbers that carry,
beside the value (evaluated in float64), a bound on the rounding error and the derivatives with
respect to the step's inputs ``(x, v)``:

* :class:`T` - ``value``, ``err`` (first-order bound on |computed - exact| from the roundings inside
  the current step; exact inputs), ``dx``, ``dv`` (exact derivatives, forward mode), and the unit
  roundoff ``u`` of its float type (``2^-24`` float32, ``2^-53`` float64).  An operation rounds to the
  finer of its operands' types (Numba's promotion: float32 op float64 is float64):
  ``fl(a o b) = (a o b)(1 + d)``, ``|d| <= u``; a math function adds its maximum error in ulps
  (:data:`ULPS`, 1 ulp <= 2u relative) to the propagated input error;
* :func:`tracked` - a kernel function re-bound to globals where ``math``, ``like``, ``single``, ``fmax``,
  ``float`` and NumPy's scalar constructors act on :class:`T` (the functions it calls, recursively);
  Philox words come from the reference implementation (exact integers either way);
* :func:`path_bounds` - one path step by step: the local bounds ``beta_t`` of each step (inputs exact)
  and the bound on the accumulated error ``B_{t+1} = |J_t| B_t + beta_t`` with ``J_t`` the step's
  Jacobian in ``(x, v)``, also mapped onto the reported spot / variance / VIX.

A comparison whose operands are closer than their error bounds (a branch either float type could
take) makes the step *ambiguous*: the bound does not cover the path from that step on (``fmax`` and
``sqrt`` at 0 are continuous and need no exclusion: their deviation is bounded by their operands').  First order:
terms of order ``u^2`` are left out.
"""

from __future__ import annotations

import builtins
import math
from types import FunctionType, SimpleNamespace

import numpy as np

from cpu_fallback.reference import philox4x32_10

__all__ = ["T", "tracked", "path_bounds", "U32", "U64", "ULPS"]

U32, U64 = 2.0**-24, 2.0**-53
#: Maximum errors in ulps of the math functions: the larger of the CUDA C programming guide's tables
#: (libdevice, also what numba-cuda calls) and the bounds of glibc / LLVM on the CPU; ``sqrt`` and the
#: four operations are correctly rounded (IEEE).  ``"numpy"``: NumPy's SIMD float64 loops (and
#: SciPy's Cephes for ``ndtr``'s ``erf``/``erfc``), for the array engine.
ULPS = {
    U32: {"sqrt": 0.5, "log": 1, "log1p": 1, "exp": 2, "cos": 2, "sin": 2, "erf": 2, "erfc": 4, "pow": 4},
    U64: {"sqrt": 0.5, "log": 1, "log1p": 1, "exp": 1, "cos": 2, "sin": 2, "erf": 2, "erfc": 5, "pow": 2},
    "numpy": {"sqrt": 0.5, "log": 4, "log1p": 4, "exp": 4, "cos": 4, "sin": 4, "erf": 4, "erfc": 5, "pow": 4},
}
#: bounds of the current step's inputs, ambiguity flag, float64 ulp table, and (when a dict) a count
#: of the operations per unit roundoff
_STATE = SimpleNamespace(bx=0.0, bv=0.0, ambiguous=False, table64=ULPS[U64], ops=None)


def _op(u: float) -> float:
    if _STATE.ops is not None:
        _STATE.ops[u] += 1
    return u


class T:
    """A float with a rounding-error bound and derivatives in the step inputs (see module doc)."""

    __slots__ = ("v", "e", "dx", "dv", "u")
    __array_ufunc__ = None  # NumPy scalars defer to T's reflected operators

    def __init__(self, v, e=0.0, dx=0.0, dv=0.0, u=U64):
        self.v, self.e, self.dx, self.dv, self.u = float(v), e, dx, dv, u

    def total(self) -> float:
        """Bound on the deviation including the inputs' accumulated error."""
        return self.e + abs(self.dx) * _STATE.bx + abs(self.dv) * _STATE.bv

    def __add__(self, o):
        o = _c(o)
        u = _op(min(self.u, o.u))
        v = self.v + o.v
        return T(v, self.e + o.e + u * abs(v), self.dx + o.dx, self.dv + o.dv, u)

    __radd__ = __add__

    def __neg__(self):
        return T(-self.v, self.e, -self.dx, -self.dv, self.u)

    def __abs__(self):
        return -self if self.v < 0 else self

    def __sub__(self, o):
        return self + (-_c(o))

    def __rsub__(self, o):
        return _c(o) + (-self)

    def __mul__(self, o):
        o = _c(o)
        u = _op(min(self.u, o.u))
        v = self.v * o.v
        e = abs(o.v) * self.e + abs(self.v) * o.e + self.e * o.e + u * abs(v)
        return T(v, e, self.v * o.dx + o.v * self.dx, self.v * o.dv + o.v * self.dv, u)

    __rmul__ = __mul__

    def __truediv__(self, o):
        o = _c(o)
        u = _op(min(self.u, o.u))
        v = self.v / o.v
        e = (self.e + abs(v) * o.e) / (abs(o.v) - o.e) + u * abs(v)
        return T(v, e, (self.dx - v * o.dx) / o.v, (self.dv - v * o.dv) / o.v, u)

    def __rtruediv__(self, o):
        return _c(o) / self

    def _cmp(self, o, op):
        o = _c(o)
        if abs(self.v - o.v) <= self.total() + o.total():
            _STATE.ambiguous = True
        return op(self.v, o.v)

    def __lt__(self, o):
        return self._cmp(o, float.__lt__)

    def __le__(self, o):
        return self._cmp(o, float.__le__)

    def __gt__(self, o):
        return self._cmp(o, float.__gt__)

    def __ge__(self, o):
        return self._cmp(o, float.__ge__)

    def __float__(self):
        return self.v

    def __repr__(self):
        return f"T({self.v!r}, err={self.e:.3g}, d=({self.dx:.3g}, {self.dv:.3g}), u=2^{math.log2(self.u):.0f})"


def _c(a) -> T:
    if isinstance(a, T):
        return a
    return T(float(a), u=U32 if isinstance(a, np.float32) else U64)


def _fn(name, a, y, slope, err_in):
    """Result ``y = f(a)``: propagated input error ``err_in`` plus ``f``'s own ulps; derivative ``slope``."""
    table = ULPS[U32] if _op(a.u) == U32 else _STATE.table64
    return T(y, err_in + table[name] * 2.0 * a.u * abs(y), slope * a.dx, slope * a.dv, a.u)


def _sqrt(a):
    a = _c(a)
    y = math.sqrt(a.v)
    if y == 0.0:  # not differentiable at 0, but |sqrt(d)| <= sqrt(|d|): a local bound, no derivative
        return T(0.0, math.sqrt(a.total()), 0.0, 0.0, a.u)
    return _fn("sqrt", a, y, 0.5 / y, a.e / (y + math.sqrt(max(a.v - a.e, 0.0))))


def _log(a):
    a = _c(a)
    return _fn("log", a, math.log(a.v), 1.0 / a.v, a.e / (a.v - a.e) if a.v > a.e else math.inf)


def _log1p(a):
    a = _c(a)
    return _fn("log1p", a, math.log1p(a.v), 1.0 / (1.0 + a.v), a.e / (1.0 + a.v - a.e))


def _exp(a):
    a = _c(a)
    y = math.exp(a.v)
    return _fn("exp", a, y, y, y * math.expm1(a.e))


def _cos(a):
    a = _c(a)
    return _fn("cos", a, math.cos(a.v), -math.sin(a.v), a.e)


def _sin(a):
    a = _c(a)
    return _fn("sin", a, math.sin(a.v), math.cos(a.v), a.e)


def _gauss_slope(a, sign):
    peak = 2.0 / math.sqrt(math.pi) * math.exp(-max(abs(a.v) - a.e, 0.0) ** 2)
    return sign * 2.0 / math.sqrt(math.pi) * math.exp(-a.v * a.v), peak * a.e


def _erf(a):
    a = _c(a)
    slope, err = _gauss_slope(a, 1.0)
    return _fn("erf", a, math.erf(a.v), slope, err)


def _erfc(a):
    a = _c(a)
    slope, err = _gauss_slope(a, -1.0)
    return _fn("erfc", a, math.erfc(a.v), slope, err)


def _pow(a, p):
    a, p = _c(a), float(p)
    return _fn("pow", a, a.v**p, p * a.v ** (p - 1.0), p * (abs(a.v) + a.e) ** (p - 1.0) * a.e)


def _copysign(a, b):
    a, b = _c(a), _c(b)
    if abs(b.v) <= b.total():
        _STATE.ambiguous = True
    y = math.copysign(a.v, b.v)
    f = 1.0 if (y >= 0) == (a.v >= 0) else -1.0
    return T(y, a.e, f * a.dx, f * a.dv, a.u)


MATH = SimpleNamespace(sqrt=_sqrt, log=_log, log1p=_log1p, exp=_exp, cos=_cos, sin=_sin, erf=_erf, erfc=_erfc,
                       pow=_pow, copysign=_copysign, isfinite=lambda a: math.isfinite(float(a)),
                       isnan=lambda a: math.isnan(float(a)), pi=math.pi, inf=math.inf, nan=math.nan)


def _fmax(a, b):
    """``max`` is 1-Lipschitz: where the operands are within their bounds, the deviation of the result
    is at most the larger deviation (kept as a local error; no derivative through the kink)."""
    a, b = _c(a), _c(b)
    big = b if b.v > a.v else a
    if abs(a.v - b.v) > a.total() + b.total():
        return big
    return T(big.v, max(a.total(), b.total()), 0.0, 0.0, min(a.u, b.u))


def _unit(ref) -> float:
    if isinstance(ref, T):
        return ref.u
    return U32 if getattr(ref, "dtype", None) == np.float32 else U64


def _like(ref, value):
    value, u = _c(value), _unit(ref)
    if u == U32 and value.u == U64:  # one rounding to float32
        return T(value.v, value.e + U32 * abs(value.v), value.dx, value.dv, U32)
    return T(value.v, value.e, value.dx, value.dv, u)


def _float(a):
    """``float(a)``: a float64 (exact for the kernels' integers and for float32 values)."""
    return T(a.v, a.e, a.dx, a.dv, U64) if isinstance(a, T) else T(builtins.float(a))


def _to_f32(k):
    k = int(k)
    return T(float(k), 0.0 if abs(k) < 2**24 else U32 * abs(k), u=U32)  # exact integer, one rounding


NUMPY = SimpleNamespace(float32=_to_f32, float64=_float, int64=int, uint64=int)
_OVERRIDES = {
    "math": MATH, "like": _like, "fmax": _fmax, "single": lambda ref: _unit(ref) == U32, "float": _float, "np": NUMPY,
    "block_words": lambda path, step, block, seed, key: philox4x32_10((path & 0xFFFFFFFF, step, block, path >> 32), (seed, key)),
    "_bits53": lambda hi, lo: ((hi >> 5) << 26) | (lo >> 6),
}
_MEMO: dict = {}


def tracked(fn):
    """``fn`` running on :class:`T` numbers (the kernels' functions it calls too)."""
    if fn in _MEMO:
        return _MEMO[fn]
    g = dict(fn.__globals__)
    new = FunctionType(fn.__code__, g, fn.__name__, fn.__defaults__, fn.__closure__)
    _MEMO[fn] = new
    for name, obj in list(g.items()):
        if name not in _OVERRIDES and isinstance(obj, FunctionType) and obj.__module__.startswith("gpu_alvh.kernels"):
            g[name] = tracked(obj)
    g.update(_OVERRIDES)  # also shadows the builtin float
    return new


def path_bounds(records, path: int, n_steps: int, seed: int, key: int, unit: float, table64="cuda"):
    """Values and error bounds of one path over ``n_steps`` steps.

    ``records`` are float64 records (:func:`~gpu_alvh.kernels.market.compile_market`); ``unit`` selects
    the float type analysed (``U32`` or ``U64``); ``table64="numpy"`` uses NumPy's ulps for float64
    functions (the array engine).  Returns ``(values, bounds, ok)``: arrays ``[3, n_steps + 1]`` for
    spot, variance, VIX, and ``ok[t]`` False from the first ambiguous step on.
    """
    from gpu_alvh.kernels import market

    mk, steps = records
    m = mk[0]
    step, outs = tracked(market.market_step), (tracked(market.spot), tracked(market.variance), tracked(market.model_vix))
    _STATE.table64 = ULPS["numpy"] if table64 == "numpy" else ULPS[U64]
    proto = T(0.0, u=unit)
    x0, v0, _ = tracked(market.market_init)(m, proto)
    x, v, bx, bv = x0.v, v0.v, x0.e, v0.e
    values, bounds = np.zeros((3, n_steps + 1)), np.zeros((3, n_steps + 1))
    ok = np.ones(n_steps + 1, dtype=bool)
    _STATE.ambiguous = False
    for t in range(n_steps + 1):
        if t:
            _STATE.bx, _STATE.bv = bx, bv
            x1, v1, _ = step(t, path, T(x, 0.0, 1.0, 0.0, unit), T(v, 0.0, 0.0, 1.0, unit), 0.0, m, steps[t - 1], steps[t - 1], seed, key)
            x, v = x1.v, v1.v
            bx, bv = x1.e + abs(x1.dx) * bx + abs(x1.dv) * bv, v1.e + abs(v1.dx) * bx + abs(v1.dv) * bv
        _STATE.bx, _STATE.bv = bx, bv
        r_vix = steps[t - 1] if t else m  # the VIX formula of the step's pricing regime (of the start close at t = 0)
        for k, (f, arg) in enumerate(zip(outs, ((T(x, 0.0, 1.0, 0.0, unit), m), (T(v, 0.0, 0.0, 1.0, unit),), (T(v, 0.0, 0.0, 1.0, unit), 0.0, m, r_vix)))):
            r = f(*arg)
            values[k, t], bounds[k, t] = r.v, r.total()
        ok[t] = not _STATE.ambiguous
    ok = np.logical_and.accumulate(ok)
    return values, bounds, ok
