"""Leg pricing: the fused scalar legs (what the per-path program calls) against the array pricing layer.

Same tables (the benchmark scenario's pricing model - ``base``'s SVCJ, or :data:`.common.HESTON_BOOK` with
``--quick`` - built once per backend as a run builds them: :func:`gpu_alvh.runner.build_tables`), same legs:

* ``n / 4`` slices ``(spot, variance, tau)`` with four condor strikes each (puts at -1.6 / -1.0, calls at
  +1.0 / +1.6 standard deviations times U(0.5, 1.5), on the 5-point grid: the legs a ladder marks);
* fused SPX legs, price + delta, gamma, vega, two thetas (:func:`gpu_alvh.kernels.spx.spx_slice` once per
  slice, :func:`~gpu_alvh.kernels.spx.spx_leg` per leg), one CPU thread per slice over every core
  (Numba ``prange``) or one CUDA thread per slice;
* the array layer on the same ``n`` legs: ``SpxTable.price_greeks`` (NumPy or CuPy, one call);
* the fused SPX legs' two parts on the same legs, to show where a leg's time goes: the table lookup alone
  (:func:`~gpu_alvh.kernels.spx.spx_leg_iv`, the slice included; the vols written out) and Black-Scholes
  alone at those vols (:func:`~gpu_alvh.kernels.blackscholes.bs_leg` with the slice's forward, discount
  and ``log``); its checksum equals the full legs' bit for bit (the record says so: ``parts_equal``);
* VIX options, four strikes per ``(variance, tau)`` slice: fused :func:`~gpu_alvh.kernels.vix.vix_leg`
  against ``VixTable.option``;
* the table build itself (SPX implied-vol table + VIX table), seconds.

Each fused kernel sums its outputs into one value per slice (nothing is optimised away).
"""

from __future__ import annotations

import numpy as np

from .common import Row, Sizes, Suite, scenario_name

__all__ = ["run_pricing", "leg_kernel", "condor_legs", "tables_for"]

_CPU_KERNELS: dict = {}
_CUDA_KERNELS: dict = {}


def _slice_sums():
    """The per-slice work of both targets, written once: ``spx(rec, nu, S, V, T, K, i)`` the sum of price
    and greeks of slice ``i``'s four SPX legs, ``vix(rec, data, V, T, K, i)`` its futures price plus its four
    VIX legs (checksums, so the compiler cannot drop the work); the SPX legs' parts: ``iv(rec, nu, S, V, T,
    K, i, vol)`` writes the four table vols to ``vol[i, :]``, ``bs(rec, vol, S, V, T, K, i)`` the
    Black-Scholes checksum at those vols (equal to ``spx``'s)."""
    import math

    from ..kernels import blackscholes as kb
    from ..kernels import spx as ks
    from ..kernels import vix as kv
    from ..kernels.floats import jitable

    @jitable
    def iv(rec, nu, S, V, T, K, i, vol):
        ctx = ks.spx_slice(rec, S[i], V[i], 0.0, T[i], T[i])
        for j in range(4):
            vol[i, j] = ks.spx_leg_iv(rec, nu, ctx, K[i, j])

    @jitable
    def bs(rec, vol, S, V, T, K, i):
        r = rec[0]
        fwd, disc, dq = kb.bs_market(S[i], T[i], r["rate"], r["dividend_yield"])
        sq = math.sqrt(T[i])
        acc = 0.0
        for j in range(4):
            p, d, g, ve, tc, tv = kb.bs_leg(S[i], fwd, disc, dq, sq, K[i, j], math.log(fwd / K[i, j]), vol[i, j], r["rate"], r["dividend_yield"],
                                            j >= 2, r["sd_floor"])
            acc += p + d + g + ve + tc + tv
        return acc

    @jitable
    def spx(rec, nu, S, V, T, K, i):
        ctx = ks.spx_slice(rec, S[i], V[i], 0.0, T[i], T[i])
        acc = 0.0
        for j in range(4):
            p, d, g, ve, tc, tv = ks.spx_leg(rec, nu, ctx, K[i, j], j >= 2)
            acc += p + d + g + ve + tc + tv
        return acc

    @jitable
    def vix(rec, data, V, T, K, i):
        ctx = kv.vix_slice(rec, data, V[i], 0.0, T[i], T[i])
        acc = ctx[0]
        for j in range(4):
            acc += kv.vix_leg(rec, data, ctx, K[i, j], j < 3)
        return acc

    return spx, vix, iv, bs


def _kernels_cpu():
    """CPU kernels (compiled on first call, cached on disk): ``name -> fn(rec, data, S, V, T, K, out)``."""
    if not _CPU_KERNELS:
        import numba

        spx_sum, vix_sum, iv_legs, bs_sum = _slice_sums()
        jit = numba.njit(parallel=True, cache=True, error_model="numpy")  # the per-path programs' error model

        @jit
        def spx(rec, nu, S, V, T, K, out):
            for i in numba.prange(S.size):
                out[i] = spx_sum(rec, nu, S, V, T, K, i)

        @jit
        def vix(rec, data, S, V, T, K, out):  # S unused: one signature for both
            for i in numba.prange(V.size):
                out[i] = vix_sum(rec, data, V, T, K, i)

        @jit
        def spx_iv(rec, nu, S, V, T, K, out):  # out [n, 4]: the vols
            for i in numba.prange(S.size):
                iv_legs(rec, nu, S, V, T, K, i, out)

        @jit
        def spx_bs(rec, vol, S, V, T, K, out):
            for i in numba.prange(S.size):
                out[i] = bs_sum(rec, vol, S, V, T, K, i)

        _CPU_KERNELS.update(spx=spx, vix=vix, spx_iv=spx_iv, spx_bs=spx_bs)
    return _CPU_KERNELS


def _kernels_cuda():
    """CUDA kernels (numba-cuda): one thread per slice, the CPU kernels' arithmetic.  (Not for Numba's
    CUDA simulator: it swaps a kernel's global ``cuda``, not the closure's; the fused legs run in the
    simulator in ``tests/test_kernel_pricing.py``.)"""
    if not _CUDA_KERNELS:
        from ..kernels.target import register_cuda

        cuda = register_cuda()

        spx_sum, vix_sum, iv_legs, bs_sum = _slice_sums()

        def spx(rec, nu, S, V, T, K, out):
            i = cuda.grid(1)
            if i < S.size:
                out[i] = spx_sum(rec, nu, S, V, T, K, i)

        def vix(rec, data, S, V, T, K, out):
            i = cuda.grid(1)
            if i < V.size:
                out[i] = vix_sum(rec, data, V, T, K, i)

        def spx_iv(rec, nu, S, V, T, K, out):
            i = cuda.grid(1)
            if i < S.size:
                iv_legs(rec, nu, S, V, T, K, i, out)

        def spx_bs(rec, vol, S, V, T, K, out):
            i = cuda.grid(1)
            if i < S.size:
                out[i] = bs_sum(rec, vol, S, V, T, K, i)

        _CUDA_KERNELS.update(spx=cuda.jit(spx), vix=cuda.jit(vix), spx_iv=cuda.jit(spx_iv), spx_bs=cuda.jit(spx_bs))
    return _CUDA_KERNELS


def leg_kernel(name: str, target: str):
    """``fn(rec, data, S, V, T, K, out)`` running fused kernel ``name`` (``"spx"``, ``"vix"``, ``"spx_iv"``,
    ``"spx_bs"``: :func:`_slice_sums`) on ``target``
    (``"cpu"`` or ``"cuda"``); on CUDA ``rec`` is copied to the device and the arrays are CuPy's."""
    if target == "cpu":
        return _kernels_cpu()[name]
    if target != "cuda":
        raise ValueError(f"leg kernels run on the cpu or cuda targets, not {target!r}")
    k = _kernels_cuda()[name]
    threads = 256

    def launch(rec, data, S, V, T, K, out):
        from numba import cuda

        k[max(1, -(-int(S.size) // threads)), threads](cuda.to_device(rec), data, S, V, T, K, out)

    return launch


def condor_legs(n_slices: int, spot: float, seed: int = 1) -> dict:
    """Host inputs: ``S, V, T [n]`` and condor strikes ``K [n, 4]`` (SPX), VIX strikes ``Kv [n, 4]``."""
    rng = np.random.default_rng(seed)
    S = rng.uniform(0.8, 1.2, n_slices) * spot
    V = rng.uniform(0.002, 0.5, n_slices)
    T = rng.uniform(1.0, 120.0, n_slices) / 365.0
    z = np.array([-1.6, -1.0, 1.0, 1.6]) * rng.uniform(0.5, 1.5, (n_slices, 1))
    K = np.maximum(np.round(S[:, None] * np.exp(z * np.sqrt(V * T)[:, None]) / 5.0) * 5.0, 5.0)
    Kv = np.sort(rng.uniform(10.0, 60.0, (n_slices, 4)), axis=1)
    return {"S": S, "V": V, "T": T, "K": np.ascontiguousarray(K), "Kv": np.ascontiguousarray(Kv)}


def tables_for(suite: Suite, backend, scenario, dtype: str = "float64"):
    """``(compiled, spx, vix, seconds, built)`` of ``scenario`` (a library name or a mapping) on ``backend``,
    made once per suite (``spx``, ``vix``: a table per pricing regime, as :func:`gpu_alvh.runner.build_tables`);
    ``seconds`` of the call are kept (the book benchmark records them for ``alvh sweep plan``); ``built``:
    whether a table was built, rather than every one read from the disk cache or this process's memory
    (the H200 record of 2026-12-04 timed a read: 0.02 s against 18 s for a build on 2 cores)."""
    import time

    from ..compile import compile_scenario
    from ..runner import build_tables
    from ..spec import default_strategy, load_scenario
    from ..strategy.book import baseline_rows, compile_book

    key = ("tables", backend.name, scenario_name(scenario), dtype)
    if key not in suite.shared:
        spec = load_scenario(scenario)
        compiled = compile_scenario(spec, dtype=dtype)
        book = compile_book(baseline_rows(spec.strategy_spec() or default_strategy()), compiled)
        builds = []
        t0 = time.perf_counter()
        spx, vix = build_tables(compiled, book, backend, on_build=builds.append)
        backend.synchronize()
        suite.shared[key] = (compiled, spx, vix, time.perf_counter() - t0, bool(builds))
    return suite.shared[key]


def run_pricing(suite: Suite, backend, sizes: Sizes) -> None:
    """Add the leg-pricing rows of ``backend`` to ``suite``."""
    from ..kernels.spx import spx_kernel_data
    from ..kernels.vix import vix_kernel_data
    from .records import median_time

    xp, dev, reps = backend.xp, backend.device, sizes.repeats
    name = scenario_name(sizes.scenario)
    compiled, spx_all, vix_all, t_tables, built = tables_for(suite, backend, sizes.scenario)
    spx, vix = spx_all[0], vix_all[0]  # the base market's tables
    nodes = int(spx.info.get("nodes", 0)) + int(vix.info.get("nodes", 0))
    how = "built" if built else "read from the cache: no build timed"
    suite.add(Row(f"pricing.tables.{name}", "leg pricing", f"pricing tables (SPX implied vol + VIX), {name}", backend.name, "float64",
                  f"{nodes:,} nodes", t_tables, None, "s", how),
              benchmark="pricing_tables", device=dev, sizes={"nodes": nodes}, extra={"scenario": name, "built": built})
    n_slices = sizes.legs // 4
    n = 4 * n_slices
    h = condor_legs(n_slices, float(compiled.spot))
    d = {k: xp.asarray(v) for k, v in h.items()}
    flat = {"S": xp.repeat(d["S"], 4), "V": xp.repeat(d["V"], 4), "T": xp.repeat(d["T"], 4), "K": d["K"].reshape(-1),
            "Kv": d["Kv"].reshape(-1)}
    call = xp.asarray(np.tile([False, False, True, True], n_slices))
    vix_call = xp.asarray(np.tile([True, True, True, False], n_slices))

    def timed(fn):
        def run():
            fn()
            backend.synchronize()
        return median_time(run, repeats=reps, warmup=1)

    med_a, times_a = timed(lambda: spx.price_greeks(flat["S"], flat["K"], flat["V"], flat["T"], call))
    med_av, times_av = timed(lambda: vix.option(flat["V"], flat["T"], flat["Kv"], vix_call))
    ds, dv = spx_kernel_data(spx), vix_kernel_data(vix)
    out = xp.empty(n_slices)
    spx_k, vix_k = leg_kernel("spx", backend.kernel_target), leg_kernel("vix", backend.kernel_target)
    med_f, times_f = timed(lambda: spx_k(ds.rec, ds.nu, d["S"], d["V"], d["T"], d["K"], out))
    full = float(out.sum())
    vol = xp.empty((n_slices, 4))
    iv_k, bs_k = leg_kernel("spx_iv", backend.kernel_target), leg_kernel("spx_bs", backend.kernel_target)
    med_iv, times_iv = timed(lambda: iv_k(ds.rec, ds.nu, d["S"], d["V"], d["T"], d["K"], vol))
    med_bs, times_bs = timed(lambda: bs_k(ds.rec, vol, d["S"], d["V"], d["T"], d["K"], out))
    parts_equal = float(out.sum()) == full
    med_fv, times_fv = timed(lambda: vix_k(dv.rec, dv.data, d["S"], d["V"], d["T"], d["Kv"], out))
    size = f"{n:,} legs"
    base = {"legs": n, "legs_per_slice": 4, "workers": backend.workers}
    part = lambda med: f"{med / med_f:.0%} of a fused leg" + ("" if parts_equal else "; checksum differs from the full legs'")  # noqa: E731
    for key, what, med, times, bench, ref_rate in (
            ("pricing.array_spx", "array layer SpxTable.price_greeks", med_a, times_a, "pricing_spx_legs", None),
            ("pricing.fused_spx", "fused SPX legs, price + greeks (4 per slice)", med_f, times_f, "pricing_fused_spx_legs", n / med_a),
            ("pricing.fused_spx_iv", "fused SPX legs: the table lookups alone (vol)", med_iv, times_iv, "pricing_fused_spx_lookups", None),
            ("pricing.fused_spx_bs", "fused SPX legs: Black-Scholes alone (price + greeks)", med_bs, times_bs, "pricing_fused_spx_black_scholes", None),
            ("pricing.array_vix", "array layer VixTable.option", med_av, times_av, "pricing_vix_options", None),
            ("pricing.fused_vix", "fused VIX legs (4 per slice)", med_fv, times_fv, "pricing_fused_vix_legs", n / med_av)):
        rate = n / med
        is_part = key.startswith("pricing.fused_spx_")
        ref = f"{rate / ref_rate:.1f}x the array layer" if ref_rate else (part(med) if is_part else "")
        extra = {"times": times, "scenario": name, "over_array": rate / ref_rate if ref_rate else None}
        if is_part:
            extra.update(share_of_leg=med / med_f, parts_equal=parts_equal)
        suite.add(Row(key, "leg pricing", what, backend.name, "float64", size, med, rate, "legs/s", ref),
                  benchmark=bench, device=dev, sizes=base, extra=extra)
