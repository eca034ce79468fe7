"""The full book: ALVH + its two baselines per path-day, and the default ``alvh run`` in a fresh process.

* ``full book``: :func:`gpu_alvh.runner.run_scenario` (the fused engine) on the ``base`` scenario
  (:data:`.common.HESTON_BOOK` with ``--quick``), ``N`` paths
  x ``D`` trading days, the pricing tables built beforehand (:func:`.pricing.tables_for`) and the kernels
  compiled by an untimed small run; ``throughput`` in path-days/s, all three strategies of a path-day
  counted once (the ``run_alvh`` record ``alvh sweep plan`` reads: ``sizes.strategies`` and
  ``extra.table_build_seconds`` too).  Targets (SPEC section 11): CPU >= 3e5 path-days/s on 2 cores;
  GPU 1M paths x 252 days in under 1 s, i.e. >= 2.52e8 path-days/s.  On the GPU sizes a timed run of 2^16
  paths comes first: where 2^20 would take over a minute, the row runs fewer repeats, then fewer paths
  (:func:`_fit_to_budget`; the record's ``extra.probe`` and a note under the table say so).
* ``default alvh run``: the run of the speed target (issue 10), ``alvh run base`` (``gpu_alvh.run(["base"])``,
  the one-factor market; ``alvh run`` without a name now runs ``base_2f``, ~2.3x longer): 4,000 paths, 252 days,
  tables, kernels, engine, Dataset) in a new Python process, first with an empty kernel cache
  (``ALVH_CACHE_DIR`` and ``NUMBA_CACHE_DIR`` pointing at an empty temporary folder: cold, compilation
  included) and then in a second process on the cache the first one filled (warm).  Each process also
  runs the engine a second time (tables cached, kernels loaded): the run alone.  Target: the warm
  default run under 5 s on 2 CPU cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

from .common import Row, Sizes, Suite, scenario_name

__all__ = ["run_book", "first_process", "CPU_TARGET", "GPU_TARGET", "TARGET_BASELINES"]

CPU_TARGET = 3e5  # path-days/s, 2 cores
GPU_TARGET = (1 << 20) * 252 / 1.0  # 1M paths x 252 days in 1 s
#: the baselines of the target rows (ALVH + 2 baselines, SPEC section 11)
TARGET_BASELINES = ("ladder_unhedged", "single_45")
DEFAULT_RUN_TARGET_S = 5.0

_FIRST = """
import json, time
t0 = time.perf_counter()
from gpu_alvh.runner import run, run_scenario
t1 = time.perf_counter()
ds = run(["base"], n_paths={paths}, backend={backend!r})
t2 = time.perf_counter()
out = run_scenario("base", n_paths={paths}, backend={backend!r})
t3 = time.perf_counter()
print(json.dumps({{"import_s": t1 - t0, "run_s": t2 - t1, "tables_s": float(ds.attrs["table_build_seconds"]),
                  "second_run_s": t3 - t2, "engine_s": out["elapsed"], "days": int(ds.sizes["day"]) - 1}}))
"""


def first_process(backend: str, paths: int, timeout: float | None = None) -> dict:
    """``{"cold": {...}, "warm": {...}}``: seconds of the default run in two fresh processes (module docstring)."""
    out = {}
    with tempfile.TemporaryDirectory(prefix="alvh-bench-cache-") as cache:
        env = {**os.environ, "ALVH_CACHE_DIR": cache, "NUMBA_CACHE_DIR": cache, "PYTHONUNBUFFERED": "1"}
        code = _FIRST.format(paths=int(paths), backend=backend)
        for label in ("cold", "warm"):
            res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout)
            if res.returncode != 0:
                raise RuntimeError(f"{label} process failed ({res.returncode}): {res.stderr.strip()[-400:]}")
            out[label] = json.loads(res.stdout.strip().splitlines()[-1])
            out[label]["total_s"] = out[label]["import_s"] + out[label]["run_s"]
    return out


def _fit_to_budget(suite: Suite, sizes: Sizes, run_scenario, spec, backend, tables, strat) -> tuple[int, int, dict | None]:
    """``(paths, repeats, probe)`` of the timed full-book runs.  Without ``sizes.book_probe_paths`` (or with
    ``book_paths`` no larger): ``sizes.book_paths`` and ``sizes.book_repeats``.  Else one timed run of the probe
    size projects the full size's time (linear in paths): repeats drop to fit ``sizes.book_budget_s``, then the
    paths halve until one run fits it (never below the probe).  ``probe``: its paths, seconds and the projection."""
    n, repeats, m = sizes.book_paths, sizes.book_repeats, sizes.book_probe_paths
    if m <= 0 or m >= n:
        return n, repeats, None
    t0 = time.perf_counter()
    run_scenario(spec, n_paths=m, seed=1, backend=backend, tables=tables, strategy=strat)
    backend.synchronize()
    t = time.perf_counter() - t0
    per_run = t * n / m
    probe = {"paths": m, "seconds": t, "projected_seconds": per_run}
    budget = sizes.book_budget_s
    repeats = max(1, min(repeats, int(budget // per_run)))
    while n > m and per_run > budget:
        n //= 2
        per_run /= 2
    if n != sizes.book_paths:
        suite.note(f"full book on {backend.name}: {n:,} paths, not {sizes.book_paths:,} (a run of {m:,} took {t:.2f} s: "
                   f"{sizes.book_paths:,} would take ~{probe['projected_seconds']:.0f} s, over the {budget:g} s budget)")
    return n, repeats, probe


def run_book(suite: Suite, backend, sizes: Sizes) -> None:
    """Add the full-book rows (and, with ``sizes.first_process``, the fresh-process rows) of ``backend``."""
    from ..runner import run_scenario
    from ..spec import load_scenario
    from .pricing import tables_for
    from .records import median_time

    n, days, name = sizes.book_paths, sizes.book_days, scenario_name(sizes.scenario)
    _, spx, vix, t_tables, built = tables_for(suite, backend, sizes.scenario)
    spec = load_scenario(sizes.scenario, overrides={"horizon": days})
    # the rows of SPEC section 11's target: ALVH and two baselines (the default run has all of BASELINES)
    strat = spec.strategy_spec().model_copy(update={"baselines": TARGET_BASELINES})
    tables = (spx, vix)
    suite.say(f"  {backend.name:8s} full book: compiling / loading the kernels (small untimed run) ...")
    warm = run_scenario(spec, n_paths=min(n, 64), seed=1, backend=backend, tables=tables, strategy=strat)
    book = warm["book"]
    last = {}

    def go():
        last["out"] = run_scenario(spec, n_paths=n, seed=1, backend=backend, tables=tables, strategy=strat)
        backend.synchronize()

    n, repeats, probe = _fit_to_budget(suite, sizes, run_scenario, spec, backend, tables, strat)
    med, times = median_time(go, repeats=repeats, warmup=0)
    rate = n * days / med
    target = GPU_TARGET if backend.is_gpu else CPU_TARGET
    ref = f"{rate / target:.2g}x the target {target:.3g}"
    suite.add(Row(f"book.full.{name}", "full book", f"full book: {' + '.join(book.labels)} ({name})", backend.name, "float64", f"{n:,} x {days}",
                  med, rate, "path-days/s", ref),
              benchmark="run_alvh", device=backend.device,
              sizes={"paths": n, "days": days, "strategies": book.n_strategies, "ladder_slots": book.n_slots,
                     "hedge_slots": book.n_hedge_slots, "workers": backend.workers},
              extra={"times": times, "table_build_seconds": t_tables if built else None, "table_seconds": t_tables, "tables_built": built,
                     "scenario": name, "engine": "fused", "engine_seconds": last["out"]["elapsed"], "target_path_days_per_s": target,
                     "probe": probe})
    if not sizes.first_process:
        suite.note("the default `alvh run` in fresh processes (cold / warm kernel cache) was not measured (--quick, --no-fresh-process)")
        return
    suite.say(f"  {backend.name:8s} default alvh run in two fresh processes (cold cache, then warm) ...")
    t = first_process(backend.name, sizes.first_paths)
    for label in ("cold", "warm"):
        r = t[label]
        compile_s = max(r["run_s"] - r["tables_s"] - r["second_run_s"], 0.0)
        # the first run less its tables and the engine-only second run: the kernels (compiled or loaded) and
        # the first run's own Dataset and claims
        ref = (f"import {r['import_s']:.1f} + tables {r['tables_s']:.1f} + kernels, Dataset, claims ~{compile_s:.1f} + run {r['second_run_s']:.1f} s"
               + (f"; target < {DEFAULT_RUN_TARGET_S:g} s" if label == "warm" and not backend.is_gpu else ""))
        suite.add(Row(f"book.default_{label}", "full book", f"default alvh run, new process, {label} kernel cache", backend.name, "float64",
                      f"{sizes.first_paths:,} x {r['days']}", r["total_s"], None, "s", ref),
                  benchmark=f"run_default_{label}", device=backend.device,
                  sizes={"paths": sizes.first_paths, "days": r["days"], "workers": backend.workers},
                  extra={**r, "kernels_seconds_estimate": compile_s, "scenario": "base"})
