"""Benchmark: Heston QE path generation (path-steps per second) vs QuantLib.

Runs the engine's path generator (Philox normals + Andersen QE with martingale
correction, the Fang-Oosterlee 2008 parameters) for float64 and float32 on the
chosen backend, and QuantLib's ``MCEuropeanHestonEngine`` (QE discretisation,
pseudo-random) on the same model in the same run.  Prints a table and appends a
JSON record per measurement to ``bench/results/``.

    python bench/bench_paths.py [--backend auto|numpy|cupy] [--paths N] [--steps 252] [--ql-paths N]

Targets (SPEC section 11): CPU float64 >= 1.5e7 path-steps/s on 2 cores and >= 5x
QuantLib; GPU (H100) >= 5e10 path-steps/s.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import median_time, print_table, record  # noqa: E402
from gpu_alvh.backend import get_backend  # noqa: E402
from gpu_alvh.batching import run_batches  # noqa: E402
from gpu_alvh.compile import compile_scenario  # noqa: E402
from gpu_alvh.paths import PathStepper  # noqa: E402

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


def engine_throughput(backend, n_paths: int, steps: int, dtype: str, repeats: int):
    compiled = compile_scenario(scenario(steps), dtype=dtype)

    def task(start, count):
        st = PathStepper(compiled, backend, start, count, seed=1)
        for _ in range(compiled.n_steps):
            st.step()
        return float(backend.to_host(st.spot.mean()))

    def run():
        run_batches(task, n_paths, backend=backend, bytes_per_path=64 * compiled.dtype.itemsize)
        backend.synchronize()

    med, times = median_time(run, repeats=repeats)
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--paths", type=int, default=None, help="engine paths [CPU 262144, GPU 16777216]")
    ap.add_argument("--steps", type=int, default=252)
    ap.add_argument("--ql-paths", type=int, default=20000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-quantlib", action="store_true")
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args(argv)

    b = get_backend(args.backend)
    n = args.paths or (1 << 24 if b.is_gpu else 1 << 18)
    rows = []
    ql_rate = None
    if not args.no_quantlib:
        med, rate, times, qlv = quantlib_throughput(args.ql_paths, args.steps, args.repeats)
        ql_rate = rate
        rows.append({"what": "QuantLib MCEuropeanHestonEngine (QE, 1 thread)", "backend": "quantlib", "dtype": "float64", "paths": args.ql_paths, "seconds": med, "path_steps_per_s": rate, "vs_quantlib": 1.0})
        record("paths_quantlib", backend="quantlib", device="cpu (1 thread)", dtype="float64", sizes={"paths": args.ql_paths, "steps": args.steps},
               median_seconds=med, throughput=rate, throughput_unit="path-steps/s", extra={"quantlib": qlv, "times": times}, save=not args.no_save)
    for dtype in ("float64", "float32"):
        med, rate, times = engine_throughput(b, n, args.steps, dtype, args.repeats)
        ratio = rate / ql_rate if ql_rate else None
        rows.append({"what": "gpu_alvh Heston QE", "backend": b.name, "dtype": dtype, "paths": n, "seconds": med, "path_steps_per_s": rate, "vs_quantlib": ratio})
        record("paths_heston_qe", backend=b.name, device=b.device, dtype=dtype, sizes={"paths": n, "steps": args.steps, "workers": b.workers},
               median_seconds=med, throughput=rate, throughput_unit="path-steps/s",
               extra={"times": times, "vs_quantlib": ratio, "quantlib_path_steps_per_s": ql_rate}, save=not args.no_save)
    print(f"device: {b.device}")
    print_table(rows, [("what", "benchmark"), ("backend", "backend"), ("dtype", "dtype"), ("paths", "paths"), ("seconds", "median s"), ("path_steps_per_s", "path-steps/s"), ("vs_quantlib", "x QuantLib")])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
