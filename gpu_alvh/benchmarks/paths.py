"""Path generation: the fused Heston QE generator in path-steps per second, against QuantLib (CPU) or 5e10 (GPU).

The fused per-path generator (:func:`gpu_alvh.kernels.market.simulate_path`: Philox4x32-10, Box-Muller,
Andersen QE with martingale correction) on the Fang-Oosterlee (2008) Heston parameters, through
:func:`gpu_alvh.paths.launch_paths` on the backend's kernel target:

* ``terminal``: only the terminal state is written (``terminal=True``): generation, not memory traffic
  (QuantLib's engine keeps no paths either); float64 and float32;
* ``every step``: spot, variance and VIX stored for every step (what ``simulate`` writes), float64.

On the CPU, QuantLib's ``MCEuropeanHestonEngine`` (QE discretisation, pseudo-random numbers, one thread)
runs on the same model in the same process: the ratio is the SPEC section 11 measurement (target >= 5x).
On a GPU the reference is the 5e10 path-steps/s target.  QuantLib is optional (``pip install
'gpu-alvh[bench]'``); without it that row is skipped, and said so.
"""

from __future__ import annotations

from .common import Row, Sizes, Suite

__all__ = ["run_paths", "PARAMS", "GPU_TARGET", "CPU_TARGET_VS_QUANTLIB", "heston_scenario"]

PARAMS = dict(kappa=1.5768, theta=0.0398, sigma=0.5751, rho=-0.5711, v0=0.0175)
GPU_TARGET = 5e10  # path-steps/s (SPEC section 11, H100)
CPU_TARGET_VS_QUANTLIB = 5.0


def heston_scenario(steps: int) -> dict:
    """The benchmark scenario: Heston QE, Fang & Oosterlee (2008) parameters, ``steps`` daily steps."""
    return {"name": "bench_heston", "model": "heston", "scheme": "qe", "params": PARAMS, "spot": 100.0, "rate": 0.0,
            "start": "2024-01-02", "horizon": int(steps), "source": "Fang & Oosterlee (2008) Heston test case"}


def _fused(backend, n_paths: int, steps: int, dtype: str, repeats: int, terminal: bool) -> tuple[float, list[float]]:
    """Median seconds (and every time) of ``n_paths`` paths through the fused kernel, in memory-sized batches."""
    from ..batching import choose_batch_size, plan_batches
    from ..compile import compile_scenario
    from ..paths import launch_paths, market_records
    from .records import median_time

    compiled = compile_scenario(heston_scenario(steps), dtype=dtype)
    records = market_records(compiled, backend)
    rows = 1 if terminal else compiled.n_steps + 1
    if backend.is_gpu:
        size = choose_batch_size(n_paths, backend, 3 * rows * compiled.dtype.itemsize + 8)
    else:  # terminal: one launch over every core; stored paths: batches that stay in memory comfortably
        size = n_paths if terminal else 1 << 15
    batches = plan_batches(n_paths, size)

    def run():
        for start, count in batches:
            launch_paths(compiled, backend, records, start, count, 1, terminal=terminal)
        backend.synchronize()

    return median_time(run, repeats=repeats, warmup=1)


def _quantlib(n_paths: int, steps: int, repeats: int):
    """Median seconds, every time and the version of QuantLib's MCEuropeanHestonEngine on the same model."""
    import QuantLib as ql

    from .records import median_time

    today = ql.Date(2, 1, 2024)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    flat = lambda r: ql.YieldTermStructureHandle(ql.FlatForward(today, r, dc))  # noqa: E731
    proc = ql.HestonProcess(flat(0.0), flat(0.0), ql.QuoteHandle(ql.SimpleQuote(100.0)), PARAMS["v0"], PARAMS["kappa"],
                            PARAMS["theta"], PARAMS["sigma"], PARAMS["rho"])
    option = ql.EuropeanOption(ql.PlainVanillaPayoff(ql.Option.Call, 100.0), ql.EuropeanExercise(today + 365))

    def run():
        option.setPricingEngine(ql.MCEuropeanHestonEngine(proc, "pseudorandom", timeSteps=steps, requiredSamples=n_paths, seed=42))
        option.NPV()

    med, times = median_time(run, repeats=repeats, warmup=0)
    return med, times, ql.__version__


def run_paths(suite: Suite, backend, sizes: Sizes) -> None:
    """Add the path-generation rows of ``backend`` to ``suite`` (QuantLib once per suite, on a CPU backend)."""
    steps, reps = sizes.steps, sizes.repeats
    ql_rate = None
    if not backend.is_gpu:
        ql_rate = suite.shared.get("quantlib_rate")
        if ql_rate is None and "quantlib_rate" not in suite.shared:
            try:
                med, times, version = _quantlib(sizes.ql_paths, steps, reps)
            except ImportError:
                suite.note("QuantLib is not installed (pip install 'gpu-alvh[bench]'): the QuantLib row and the ratios to it are skipped")
                suite.shared["quantlib_rate"] = None
            else:
                ql_rate = sizes.ql_paths * steps / med
                suite.shared["quantlib_rate"] = ql_rate
                suite.add(Row("paths.quantlib", "path generation", "QuantLib MCEuropeanHestonEngine (QE, 1 thread)", "quantlib", "float64",
                              f"{sizes.ql_paths:,} x {steps}", med, ql_rate, "path-steps/s"),
                          benchmark="paths_quantlib", device="cpu (1 thread)",
                          sizes={"paths": sizes.ql_paths, "steps": steps}, extra={"times": times, "quantlib": version})
    cases = [("float64", True, sizes.paths), ("float32", True, sizes.paths), ("float64", False, sizes.paths_store)]
    for dtype, terminal, n in cases:
        med, times = _fused(backend, n, steps, dtype, reps, terminal)
        rate = n * steps / med
        if backend.is_gpu:
            ref, ref_value = f"{rate / GPU_TARGET:.1%} of the 5e10 target", rate / GPU_TARGET
        elif ql_rate:
            target = f" (target {CPU_TARGET_VS_QUANTLIB:g}x)" if terminal and dtype == "float64" else ""
            ref, ref_value = f"{rate / ql_rate:.1f}x QuantLib{target}", rate / ql_rate
        else:
            ref, ref_value = "", None
        what = "fused Heston QE, terminal state" if terminal else "fused Heston QE, every step stored"
        key = f"paths.{'terminal' if terminal else 'store'}.{dtype}"
        suite.add(Row(key, "path generation", what, backend.name, dtype, f"{n:,} x {steps}", med, rate, "path-steps/s", ref),
                  benchmark="paths_fused_terminal" if terminal else "paths_fused_store", device=backend.device,
                  sizes={"paths": n, "steps": steps, "terminal_only": terminal, "workers": backend.workers},
                  extra={"times": times, "reference": ref_value, "quantlib_path_steps_per_s": ql_rate,
                         "gpu_target_path_steps_per_s": GPU_TARGET if backend.is_gpu else None})
