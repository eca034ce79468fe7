"""Benchmark: pricing layer - table builds, interpolated leg prices per second, vs QuantLib.

Measures, in one run and on the chosen backend:

* ``SpxTable.build`` and ``VixTable.build`` wall time for the library's ``base``
  scenario pricing model (SVCJ);
* interpolated SPX leg prices with greeks per second (``SpxTable.price_greeks`` on
  random spot / strike / variance / expiry arrays), and VIX option lookups per second;
* the fused scalar path (``gpu_alvh.kernels.spx`` / ``.vix``, Numba ``prange`` over condors, one and two
  threads): SPX legs with price + greeks (4 legs of a condor per (spot, v, tau) slice, and one slice
  per leg; the random strikes of the array benchmark, and condor-shaped ones), price only (stress
  probes), and VIX option legs (4 strikes per slice) per second, next to the array numbers of the same
  run (and of the array layer in batches of 16,384 legs, what an engine step hands it); the CPU time
  per leg is the cost per core;
* direct COS prices per second (one expiry, many strikes, ``cos_price``);
* QuantLib ``AnalyticHestonEngine`` options per second (the Heston part of the same
  model, one option at a time, default Gauss-Laguerre integration) - the ratio
  ``leg prices/s / QuantLib options/s`` is reported.

Prints a table and appends one JSON record per measurement to ``bench/results/``.

    python bench/bench_pricing.py [--backend auto|numpy|cupy] [--legs N] [--ql-options N] [--note TEXT]

``--note`` is stored in every record's ``extra`` (e.g. "loaded machine: 3 other sessions").
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import median_time, print_table, record  # noqa: E402
from gpu_alvh.backend import get_backend  # noqa: E402
from gpu_alvh.pricing.cos import cos_price  # noqa: E402
from gpu_alvh.pricing.tables import SpxTable  # noqa: E402
from gpu_alvh.pricing.vix import VixTable  # noqa: E402
from gpu_alvh.spec import load_scenario  # noqa: E402


def fused_kernels(error_model: str = "numpy"):
    """CPU kernels of the fused scalar path (compiled on first call): ``name -> fn(..., out)``.

    Each sums its results into ``out[i]`` so that nothing is optimised away.  ``error_model="numpy"``
    (no zero-division branches) is what the per-path programs should be compiled with; see
    :mod:`gpu_alvh.kernels.spx`.
    """
    import numba

    from gpu_alvh.kernels import spx as ks
    from gpu_alvh.kernels import vix as kv

    jit = numba.njit(parallel=True, error_model=error_model)

    @jit
    def condor_greeks(rec, nu, S, V, T, K, out):
        for i in numba.prange(S.size):
            ctx = ks.spx_slice(rec, S[i], V[i], T[i], T[i])
            acc = 0.0
            for j in range(4):
                p, d, g, ve, tc, tv = ks.spx_leg(rec, nu, ctx, K[i, j], j >= 2)
                acc += p + d + g + ve + tc + tv
            out[i] = acc

    @jit
    def leg_greeks(rec, nu, S, V, T, K, out):  # one slice per leg (no factoring)
        for i in numba.prange(S.size):
            acc = 0.0
            for j in range(4):
                p, d, g, ve, tc, tv = ks.spx_price_greeks(rec, nu, S[i], K[i, j], V[i], T[i], T[i], j >= 2)
                acc += p + d + g + ve + tc + tv
            out[i] = acc

    @jit
    def condor_price(rec, nu, S, V, T, K, out):
        for i in numba.prange(S.size):
            ctx = ks.spx_slice(rec, S[i], V[i], T[i], T[i])
            acc = 0.0
            for j in range(4):
                acc += ks.spx_leg_price(rec, nu, ctx, K[i, j], j >= 2)
            out[i] = acc

    @jit
    def vix_legs(rec, data, S, V, T, K, out):  # S unused: same signature
        for i in numba.prange(V.size):
            ctx = kv.vix_slice(rec, data, V[i], T[i], T[i])
            acc = ctx[0]
            for j in range(4):
                acc += kv.vix_leg(rec, data, ctx, K[i, j], j < 3)
            out[i] = acc

    return {"condor_greeks": condor_greeks, "leg_greeks": leg_greeks, "condor_price": condor_price, "vix_legs": vix_legs}


def condor_strikes(S, V, T, rng):
    """Iron-condor strikes per (S, v, tau) of a group of 4: puts at -1.6 / -1.0, calls at +1.0 / +1.6
    standard deviations (x U(0.5, 1.5)), on the 5-point grid: the legs a ladder marks (legs 0-1 puts)."""
    n = S.size // 4
    s, v, t = S[::4][:n], V[::4][:n], T[::4][:n]
    z = np.array([-1.6, -1.0, 1.0, 1.6]) * rng.uniform(0.5, 1.5, (n, 1))
    return np.maximum(np.round(s[:, None] * np.exp(z * np.sqrt(v * t)[:, None]) / 5.0) * 5.0, 5.0).reshape(-1)


def fused_rates(spx, vix, S, K, V, T, Kv, Kc, repeats: int, threads=(1, 2)):
    """Legs per second of the fused scalar kernels.

    Returns ``{(kernel, threads): (median wall s, legs/s, wall times, CPU s per leg)}``; the CPU time
    (all threads of the process) per leg is the cost per core, robust to other load on the machine.
    """
    import numba

    from gpu_alvh.kernels.spx import spx_kernel_data
    from gpu_alvh.kernels.vix import vix_kernel_data

    ds, dv = spx_kernel_data(spx), vix_kernel_data(vix)
    n = S.size // 4
    args = [np.ascontiguousarray(a) for a in (S[::4][:n], V[::4][:n], T[::4][:n], K[: 4 * n].reshape(n, 4))]
    kv = np.ascontiguousarray(Kv[: 4 * n].reshape(n, 4))
    kc = np.ascontiguousarray(Kc[: 4 * n].reshape(n, 4))
    out = np.empty(n)
    res = {}
    default = numba.get_num_threads()
    kernels = fused_kernels()
    try:
        for name in ("condor_greeks", "condor_greeks_condor_strikes", "leg_greeks", "condor_price", "vix_legs"):
            fn = kernels[name.replace("_condor_strikes", "")]
            tab = (dv.rec, dv.data) if name == "vix_legs" else (ds.rec, ds.nu)
            strikes = kv if name == "vix_legs" else (kc if name.endswith("condor_strikes") else args[3])
            fn(*tab, *args[:3], strikes, out)  # compile
            for th in threads:
                if th > default:
                    continue
                numba.set_num_threads(th)
                cpu = []

                def run(fn=fn, tab=tab, strikes=strikes, cpu=cpu):
                    c0 = time.process_time()
                    fn(*tab, *args[:3], strikes, out)
                    cpu.append(time.process_time() - c0)

                med, times = median_time(run, repeats=repeats)
                res[(name, th)] = (med, 4 * n / med, times, statistics.median(cpu[-repeats:]) / (4 * n))
    finally:
        numba.set_num_threads(default)
    return res


def quantlib_rate(model, v0, spot, rate, q, n_options: int, repeats: int):
    import QuantLib as ql

    today = ql.Date(2, 1, 2024)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    flat = lambda r: ql.YieldTermStructureHandle(ql.FlatForward(today, r, dc))  # noqa: E731
    proc = ql.HestonProcess(flat(rate), flat(q), ql.QuoteHandle(ql.SimpleQuote(spot)), v0, model.kappa, model.theta,
                            model.sigma, model.rho)
    engine = ql.AnalyticHestonEngine(ql.HestonModel(proc))
    rng = np.random.default_rng(0)
    opts = []
    for _ in range(n_options):
        K = float(np.round(spot * rng.uniform(0.85, 1.1) / 5) * 5)
        days = int(rng.integers(1, 121))
        opt = ql.VanillaOption(ql.PlainVanillaPayoff(ql.Option.Put if K < spot else ql.Option.Call, K),
                               ql.EuropeanExercise(today + days))
        opt.setPricingEngine(engine)
        opts.append(opt)

    def run():
        for o in opts:
            o.recalculate()
            o.NPV()

    med, times = median_time(run, repeats=repeats, warmup=1)
    return med, n_options / med, times, ql.__version__


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--scenario", default="base")
    ap.add_argument("--legs", type=int, default=None, help="legs per lookup batch [CPU 1e6, GPU 1.6e7]")
    ap.add_argument("--ql-options", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-save", action="store_true")
    ap.add_argument("--no-fused", action="store_true", help="skip the fused scalar kernels (Numba, CPU)")
    ap.add_argument("--note", default=None, help="label stored in every record (e.g. the machine's load)")
    args = ap.parse_args(argv)

    be = get_backend(args.backend)
    xp = be.xp
    spec = load_scenario(args.scenario)
    model, v0 = spec.model_q(), spec.v0()
    spot, rate, q = float(spec.spot), float(spec.rate), float(spec.dividend_yield)
    n = args.legs or (16_000_000 if be.is_gpu else 1_000_000)
    rows, fused_rows, save = [], [], not args.no_save

    def add(name, what, dtype, sizes, med, thr, unit, times, extra=None):
        rows.append({"what": what, "backend": be.name, "dtype": dtype, "size": str(sizes), "seconds": med, "throughput": thr, "unit": unit})
        note = {"note": args.note} if args.note else {}
        record(name, backend=be.name, device=be.device, dtype=dtype, sizes=sizes, median_seconds=med, throughput=thr,
               throughput_unit=unit, extra={"times": times, "scenario": spec.name, **note, **(extra or {})}, save=save)

    # --- table builds
    tables = {}
    for dtype in ("float64", "float32"):
        holder = {}

        def build_spx(dtype=dtype, holder=holder):
            holder["spx"] = SpxTable.build(model, rate=rate, dividend_yield=q, backend=be, dtype=dtype)
            be.synchronize()

        med, times = median_time(build_spx, repeats=args.repeats, warmup=0)
        tab = holder["spx"]
        add("pricing_spx_table_build", "SpxTable.build", dtype, {"nodes": tab.info["nodes"]}, med, tab.info["nodes"] / med, "nodes/s", times,
            {"max_cos_terms": max(tab.info["cos_terms"])})

        def build_vix(dtype=dtype, holder=holder):
            holder["vix"] = VixTable.build(model, rate=rate, backend=be, dtype=dtype)
            be.synchronize()

        med, times = median_time(build_vix, repeats=args.repeats, warmup=0)
        add("pricing_vix_table_build", "VixTable.build", dtype, {"nodes": holder["vix"].info["nodes"]}, med,
            holder["vix"].info["nodes"] / med, "nodes/s", times)
        tables[dtype] = (holder["spx"], holder["vix"])

    # --- interpolated leg prices (price + 4 greeks) and VIX option lookups
    rng = np.random.default_rng(1)
    S = rng.uniform(0.8, 1.2, n) * spot
    K = np.round(S * rng.uniform(0.85, 1.1, n) / 5.0) * 5.0
    V = rng.uniform(0.002, 0.5, n)
    T = rng.uniform(0.0, 120.0, n) / 365.0
    C = K > S
    legs_rate, legs_rate_small = {}, {}
    for dtype, (spx, vix) in tables.items():
        dt = np.dtype(dtype)
        Sd, Kd, Vd, Td, Cd = (xp.asarray(a.astype(dt) if a.dtype.kind == "f" else a) for a in (S, K, V, T, C))

        def legs():
            g = spx.price_greeks(Sd, Kd, Vd, Td, Cd)
            be.synchronize()
            return g

        med, times = median_time(legs, repeats=args.repeats)
        legs_rate[dtype] = n / med
        add("pricing_spx_legs", "SpxTable.price_greeks (legs)", dtype, {"legs": n}, med, n / med, "legs/s", times)
        # the batch an engine step hands the array layer (4,096 paths x 4 legs): cache-resident, faster per leg
        m = min(n, 16_384)
        small = [xp.asarray(a[:m]) for a in (Sd, Kd, Vd, Td, Cd)]
        reps = max(1, n // m)

        def legs_small():
            for _ in range(reps):
                spx.price_greeks(*small)
            be.synchronize()

        med, times = median_time(legs_small, repeats=args.repeats)
        legs_rate_small[dtype] = reps * m / med
        add("pricing_spx_legs_batch", f"SpxTable.price_greeks (batches of {m})", dtype, {"legs": reps * m, "batch": m},
            med, reps * m / med, "legs/s", times)

        Kv = xp.asarray(rng.uniform(10.0, 60.0, n).astype(dt))

        def vix_opts():
            p = vix.option(Vd, Td, Kv, Cd)
            be.synchronize()
            return p

        med, times = median_time(vix_opts, repeats=args.repeats)
        add("pricing_vix_options", "VixTable.option (lookups)", dtype, {"options": n}, med, n / med, "options/s", times)

        if not args.no_fused:  # the fused scalar path on the CPU, same tables and inputs
            K_v = rng.uniform(10.0, 60.0, n)
            cast = (lambda a: a.astype(dt).astype(float)) if dt != np.float64 else (lambda a: a)
            K_c = condor_strikes(S, V, T, rng)
            what = {"condor_greeks": "fused SPX legs, price+greeks (4 per slice)",
                    "condor_greeks_condor_strikes": "fused SPX legs, price+greeks (4 per slice, condor strikes)",
                    "leg_greeks": "fused SPX legs, price+greeks (slice per leg)",
                    "condor_price": "fused SPX legs, price only (4 per slice)", "vix_legs": "fused VIX legs (4 per slice)"}
            for (kname, th), (med, thr, times, cpu_leg) in fused_rates(spx, vix, cast(S), cast(K), cast(V), cast(T), cast(K_v),
                                                                       cast(K_c), args.repeats).items():
                ns_core = th / thr * 1e9
                array_rate = legs_rate[dtype] if kname not in ("vix_legs", "condor_greeks_condor_strikes") else None
                small_rate = legs_rate_small[dtype] if array_rate else None
                fused_rows.append({"what": what[kname], "dtype": dtype, "threads": th, "legs/s": thr,
                                   "ns/leg (CPU)": cpu_leg * 1e9, "x array": thr / array_rate if array_rate else None,
                                   "x array (16k batches)": thr / small_rate if small_rate else None})
                add(f"pricing_fused_{kname}", f"{what[kname]}, {th} thread{'s' if th > 1 else ''}", dtype,
                    {"legs": 4 * (n // 4), "threads": th}, med, thr, "legs/s", times,
                    {"ns_per_leg_per_core_wall": ns_core, "ns_per_leg_cpu": cpu_leg * 1e9, "threads": th, "error_model": "numpy",
                     "over_array": thr / array_rate if array_rate else None,
                     "over_array_small_batches": thr / small_rate if small_rate else None})

    # --- direct COS (one expiry, many strikes)
    m_cos = 2000
    Kc = xp.asarray(np.linspace(0.7, 1.2, m_cos) * spot)

    def direct():
        cos_price(model, spot=spot, strikes=Kc, expiries=45 / 365, v=v0, rate=rate, dividend_yield=q, is_call=Kc > spot, backend=be)
        be.synchronize()

    med, times = median_time(direct, repeats=args.repeats)
    add("pricing_cos_direct", "cos_price (45 DTE, 1 expiry)", "float64", {"strikes": m_cos}, med, m_cos / med, "options/s", times)

    # --- QuantLib analytic Heston engine, same run
    try:
        med, ql_rate, times, qlv = quantlib_rate(model, v0, spot, rate, q, args.ql_options, args.repeats)
    except ImportError:
        ql_rate = None
    if ql_rate:
        rows.append({"what": "QuantLib AnalyticHestonEngine", "backend": "quantlib", "dtype": "float64",
                     "size": str({"options": args.ql_options}), "seconds": med, "throughput": ql_rate, "unit": "options/s"})
        record("pricing_quantlib_analytic_heston", backend="quantlib", device="cpu (1 thread)", dtype="float64",
               sizes={"options": args.ql_options}, median_seconds=med, throughput=ql_rate, throughput_unit="options/s",
               extra={"quantlib": qlv, "times": times, "scenario": spec.name,
                      "legs_per_s_over_quantlib": {k: v / ql_rate for k, v in legs_rate.items()}}, save=save)
    print(f"device: {be.device}; scenario {spec.name} ({model.name})")
    print_table(rows, [("what", "benchmark"), ("backend", "backend"), ("dtype", "dtype"), ("size", "size"), ("seconds", "median s"),
                       ("throughput", "throughput"), ("unit", "unit")])
    if fused_rows:
        print("\nfused scalar path (CPU): ns/leg (CPU) = CPU time of all threads per leg, i.e. the cost per core")
        print_table(fused_rows, [(k, k) for k in ("what", "dtype", "threads", "legs/s", "ns/leg (CPU)", "x array",
                                                  "x array (16k batches)")])
    if ql_rate:
        for dtype, r in legs_rate.items():
            print(f"interpolated legs/s ({dtype}) / QuantLib analytic options/s = {r / ql_rate:,.0f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
