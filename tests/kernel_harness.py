"""Run a per-path scalar function elementwise on every kernel target (tests only).

``map_kernel(fn, target, *arrays, n_out=k)`` calls ``fn(a0[i], a1[i], ...)`` for every ``i`` inside a
CPU ``prange`` loop compiled by Numba (``target="cpu"``) or inside a CUDA kernel run by Numba's simulator
(``target="cudasim"``), or as plain Python (``target="python"``), and returns ``k`` float64 arrays (one
per returned value).  Scalar (0-d) inputs are broadcast; array arguments that ``fn`` indexes itself
(tables, records) go in ``extra=(...)`` and are passed whole, after the elementwise ones.
"""

from __future__ import annotations

import numpy as np

__all__ = ["map_kernel", "TARGETS"]

TARGETS = ("cpu", "cudasim")
_CACHE: dict = {}


def _source(n_in: int, n_extra: int, n_out: int, target: str) -> str:
    ins = [f"a{k}" for k in range(n_in)]
    extras = [f"e{k}" for k in range(n_extra)]
    outs = [f"o{k}" for k in range(n_out)]
    call = f"fn({', '.join([f'{a}[i]' for a in ins] + extras)})"
    lhs = ", ".join(f"r{k}" for k in range(n_out))  # one value: r0 = fn(...)
    assign = "\n".join(f"        {o}[i] = r{k}" for k, o in enumerate(outs))
    args = ", ".join(["n"] + ins + extras + outs)
    if target == "cudasim":
        return f"def kernel({args}):\n    i = cuda.grid(1)\n    if i < n:\n        {lhs} = {call}\n{assign}\n"
    return f"def kernel({args}):\n    for i in prange(n):\n        {lhs} = {call}\n{assign}\n"


def map_kernel(fn, target: str, *arrays, extra=(), n_out: int = 1):
    arrays = np.broadcast_arrays(*[np.asarray(a) for a in arrays])
    n = arrays[0].size
    flat = [np.ascontiguousarray(a).reshape(-1) for a in arrays]
    outs = [np.full(n, np.nan) for _ in range(n_out)]
    if target == "python":
        for i in range(n):
            r = fn(*[a[i] for a in flat], *extra)
            r = r if isinstance(r, tuple) else (r,)
            for o, v in zip(outs, r):
                o[i] = v
        return outs if n_out > 1 else outs[0]
    key = (fn, target, len(flat), len(extra), n_out)
    if key not in _CACHE:
        import numba
        from numba import cuda, prange

        ns = {"fn": fn, "prange": prange, "cuda": cuda}
        exec(_source(len(flat), len(extra), n_out, target), ns)
        if target == "cpu":
            _CACHE[key] = numba.njit(parallel=True)(ns["kernel"])
        else:
            from numba.cuda import simulator as sim

            _CACHE[key] = sim.jit(ns["kernel"])
    k = _CACHE[key]
    if target == "cpu":
        k(n, *flat, *extra, *outs)
    else:
        k[max(1, -(-n // 32)), 32](n, *flat, *extra, *outs)
    return outs if n_out > 1 else outs[0]
