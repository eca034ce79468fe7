"""Benchmark: Heston QE path generation (path-steps per second), fused kernel vs QuantLib.

Runs the fused per-path generator (:func:`gpu_alvh.kernels.market.simulate_path`: Philox4x32-10,
Box-Muller, Andersen QE with martingale correction; the Fang-Oosterlee 2008 parameters) on the
chosen backend - ``numpy``: Numba on every CPU core; ``cupy``: numba-cuda on the GPU - in the same
run as QuantLib's ``MCEuropeanHestonEngine`` (QE discretisation, pseudo-random, one thread) on the
same model.  Rows:

* ``terminal``: only the terminal state is written (``launch_paths(terminal=True)``): path generation,
  not memory traffic (QuantLib's engine keeps no paths either), float64 and float32;
* ``every step``: spot / variance / VIX stored for every step (what ``simulate`` writes), float64;
* on the CPU, the array engine (:class:`gpu_alvh.paths.PathStepper` on NumPy), float64;
* with a GPU backend, the CPU fused kernel as well (GPU / CPU ratio);
* compile time of the kernels: the first ``simulate`` in a fresh process with an empty kernel cache
  (cold: compilation) and again with the cache filled (warm: loading).

Prints a table and appends a JSON record per row to ``bench/results/`` (``--label`` is stored with
each record: say when the machine was shared with other work).

    python bench/bench_paths.py [--backend auto|numpy|cupy] [--paths N] [--steps 252] [--ql-paths N] [--label TEXT]

Targets (SPEC section 11): CPU float64 >= 5x QuantLib in the same run; GPU (H100) >= 5e10 path-steps/s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import median_time, print_table, record  # noqa: E402
from gpu_alvh.backend import get_backend  # noqa: E402
from gpu_alvh.batching import choose_batch_size, plan_batches  # noqa: E402
from gpu_alvh.compile import compile_scenario  # noqa: E402
from gpu_alvh.paths import PathStepper, launch_paths, market_records  # noqa: E402

PARAMS = dict(kappa=1.5768, theta=0.0398, sigma=0.5751, rho=-0.5711, v0=0.0175)


def scenario(steps: int) -> dict:
    return {
        "name": "bench_heston",
        "model": "heston",
        "scheme": "qe",
        "params": PARAMS,
        "spot": 100.0,
        "rate": 0.0,
        "start": "2024-01-02",
        "horizon": steps,
        "source": "Fang & Oosterlee (2008) Heston test case",
    }


def fused_throughput(backend, n_paths: int, steps: int, dtype: str, repeats: int, terminal: bool):
    """Median seconds and path-steps/s of the fused kernel over ``n_paths`` paths (batches sized from memory)."""
    compiled = compile_scenario(scenario(steps), dtype=dtype)
    records = market_records(compiled, backend)
    rows = 1 if terminal else compiled.n_steps + 1
    size = choose_batch_size(n_paths, backend, (3 * rows + 1) * 8) if backend.is_gpu else (n_paths if terminal else 1 << 15)
    batches = plan_batches(n_paths, size)

    def run():
        for start, count in batches:
            launch_paths(compiled, backend, records, start, count, 1, terminal=terminal)
        backend.synchronize()

    med, times = median_time(run, repeats=repeats)
    return med, n_paths * compiled.n_steps / med, times


def array_throughput(backend, n_paths: int, steps: int, repeats: int):
    """The array engine (PathStepper) on NumPy: batches on the backend's worker threads."""
    from gpu_alvh.batching import run_batches

    compiled = compile_scenario(scenario(steps))

    def task(start, count):
        st = PathStepper(compiled, backend, start, count, seed=1)
        for _ in range(compiled.n_steps):
            st.step()
        return count

    med, times = median_time(lambda: run_batches(task, n_paths, backend=backend, bytes_per_path=512), repeats=repeats)
    return med, n_paths * compiled.n_steps / med, times


def quantlib_throughput(n_paths: int, steps: int, repeats: int):
    import QuantLib as ql

    today = ql.Date(2, 1, 2024)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    flat = lambda r: ql.YieldTermStructureHandle(ql.FlatForward(today, r, dc))  # noqa: E731
    proc = ql.HestonProcess(flat(0.0), flat(0.0), ql.QuoteHandle(ql.SimpleQuote(100.0)), PARAMS["v0"], PARAMS["kappa"], PARAMS["theta"], PARAMS["sigma"], PARAMS["rho"])
    option = ql.EuropeanOption(ql.PlainVanillaPayoff(ql.Option.Call, 100.0), ql.EuropeanExercise(today + 365))

    def run():
        option.setPricingEngine(ql.MCEuropeanHestonEngine(proc, "pseudorandom", timeSteps=steps, requiredSamples=n_paths, seed=42))
        option.NPV()

    med, times = median_time(run, repeats=repeats, warmup=0)
    return med, n_paths * steps / med, times, ql.__version__


_FIRST_CALL = """
import json, time
t0 = time.perf_counter()
from gpu_alvh.paths import simulate
t1 = time.perf_counter()
simulate({scenario!r}, n_paths=64, seed=1, backend={backend!r}, dtype={dtype!r})
print(json.dumps({{"import_s": t1 - t0, "first_simulate_s": time.perf_counter() - t1}}))
"""


def compile_times(backend: str, dtype: str) -> dict:
    """First ``simulate`` in a fresh process: with an empty kernel cache (cold), then with it filled (warm)."""
    out = {}
    with tempfile.TemporaryDirectory(prefix="alvh-bench-cache-") as cache:
        env = {**os.environ, "ALVH_CACHE_DIR": cache}
        code = _FIRST_CALL.format(scenario=scenario(21), backend=backend, dtype=dtype)
        for label in ("cold", "warm"):
            res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
            out[label] = json.loads(res.stdout.strip().splitlines()[-1])
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--paths", type=int, default=None, help="fused kernel paths [CPU 262144, GPU 16777216]")
    ap.add_argument("--cpu-paths", type=int, default=1 << 16, help="CPU paths of the comparison rows (array engine; CPU kernel of a GPU run)")
    ap.add_argument("--steps", type=int, default=252)
    ap.add_argument("--ql-paths", type=int, default=20000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--label", default="", help="stored with every record (e.g. 'machine shared with other jobs')")
    ap.add_argument("--no-quantlib", action="store_true")
    ap.add_argument("--no-compile-times", action="store_true")
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args(argv)

    b = get_backend(args.backend)
    n = args.paths or (1 << 24 if b.is_gpu else 1 << 18)
    extra0 = {"label": args.label, "load_average": list(os.getloadavg())}
    if not args.no_compile_times:  # in fresh processes, before this one has compiled anything
        extra0["first_simulate_seconds"] = {dtype: compile_times(b.name, dtype) for dtype in ("float64", "float32")}
    rows, rec = [], {}
    ql_rate = None

    def add(what, bk, dtype, paths, med, rate, times, bench_name, terminal=None):
        row = {"what": what, "backend": bk.name if hasattr(bk, "name") else bk, "dtype": dtype, "paths": paths, "seconds": med,
               "path_steps_per_s": rate, "vs_quantlib": rate / ql_rate if ql_rate else None}
        rows.append(row)
        rec[what, row["backend"], dtype] = rate
        device = bk.device if hasattr(bk, "device") else "cpu (1 thread)"
        sizes = {"paths": paths, "steps": args.steps, "cpu_threads": os.cpu_count()}
        if terminal is not None:
            sizes["terminal_only"] = terminal
        record(bench_name, backend=row["backend"], device=device, dtype=dtype, sizes=sizes, median_seconds=med, throughput=rate,
               throughput_unit="path-steps/s", extra={**extra0, "times": times, "vs_quantlib": row["vs_quantlib"], "quantlib_path_steps_per_s": ql_rate},
               save=not args.no_save)
        return row

    if not args.no_quantlib:
        med, rate, times, qlv = quantlib_throughput(args.ql_paths, args.steps, args.repeats)
        ql_rate = rate
        add("QuantLib MCEuropeanHestonEngine (QE, 1 thread)", "quantlib", "float64", args.ql_paths, med, rate, times, "paths_quantlib")
        extra0["quantlib"] = qlv
    for dtype in ("float64", "float32"):
        med, rate, times = fused_throughput(b, n, args.steps, dtype, args.repeats, terminal=True)
        add("fused Heston QE, terminal state", b, dtype, n, med, rate, times, "paths_fused_terminal", terminal=True)
    n_store = max(1, n // 8)
    med, rate, times = fused_throughput(b, n_store, args.steps, "float64", args.repeats, terminal=False)
    add("fused Heston QE, every step stored", b, "float64", n_store, med, rate, times, "paths_fused_store", terminal=False)
    cpu = get_backend("numpy")
    if b.is_gpu:
        for dtype in ("float64", "float32"):
            med, rate, times = fused_throughput(cpu, args.cpu_paths, args.steps, dtype, args.repeats, terminal=True)
            add("fused Heston QE, terminal state", cpu, dtype, args.cpu_paths, med, rate, times, "paths_fused_terminal", terminal=True)
    else:
        med, rate, times = array_throughput(cpu, args.cpu_paths, args.steps, args.repeats)
        add("array engine (PathStepper, NumPy) Heston QE", cpu, "float64", args.cpu_paths, med, rate, times, "paths_heston_qe")
    print(f"device: {b.device}; load average {extra0['load_average']}")
    for dtype, t in extra0.get("first_simulate_seconds", {}).items():
        print(f"first simulate in a new process ({b.name}, {dtype}): cold cache {t['cold']['first_simulate_s']:.1f} s (compilation), "
              f"warm cache {t['warm']['first_simulate_s']:.2f} s (import {t['warm']['import_s']:.2f} s)")
    print_table(rows, [("what", "benchmark"), ("backend", "backend"), ("dtype", "dtype"), ("paths", "paths"), ("seconds", "median s"),
                       ("path_steps_per_s", "path-steps/s"), ("vs_quantlib", "x QuantLib")])
    if b.is_gpu:
        for dtype in ("float64", "float32"):
            key = "fused Heston QE, terminal state"
            print(f"GPU / CPU ({dtype}, terminal state): {rec[key, b.name, dtype] / rec[key, 'numpy', dtype]:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
