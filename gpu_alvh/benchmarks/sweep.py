"""Sweep scaling: cells per minute of one sweep on 1 and 2 local Dask workers (CPU), in this process on a GPU
or with ``--quick``.

The sweep: :data:`.common.HESTON_BOOK` (a Heston market with one VIX shock) x ``short_delta`` x the shock's
VIX level, one cell per pass (``variants_per_pass: 1``) so that cells spread over workers.  CPU:
``LocalCluster(N)`` worker processes with one thread each, *warm*: every worker builds the pricing tables
and compiles (or loads) the kernels before the clock starts, so the rate is the sweep's own; the ratio
``cells/min(N) / cells/min(1)`` is the scaling.  In this process (``workers`` 0: a GPU, or ``--quick``,
where starting worker processes would cost more than the sweep): after a small untimed sweep (tables,
kernels); that row counts as one worker.  Each row also gives path-days/s (cells x paths x days / wall
seconds): the GPU/CPU ratio is taken on it, since the cells differ in size.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from .common import HESTON_BOOK, Row, Sizes, Suite

__all__ = ["run_sweep_scaling", "sweep_spec"]

_DELTAS = [0.08, 0.10, 0.12, 0.14, 0.16, 0.18, 0.20, 0.22, 0.24, 0.26, 0.28, 0.30]


def sweep_spec(cells: int, paths: int, days: int) -> dict:
    """``cells`` cells (an even number: deltas x two VIX levels, or one cell) of ``paths`` x ``days``."""
    levels = [30, 60] if cells >= 2 else [30]
    deltas = _DELTAS[: max(1, cells // len(levels))]
    return {"name": "bench", "scenarios": [{**HESTON_BOOK, "horizon": int(days)}], "paths": int(paths), "seed": 1, "variants_per_pass": 1,
            "grid": {"strategy.short_delta": deltas, "scenario.shocks[0].vix_level": levels}}


def _measure(spec: dict, **kw) -> dict:
    from ..sweeps import sweep

    tmp = Path(tempfile.mkdtemp(prefix="alvh-bench-sweep-"))
    try:
        t0 = time.perf_counter()
        sweep(spec, out=tmp / "s.zarr", **kw)
        wall = time.perf_counter() - t0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    n = len(spec["grid"]["strategy.short_delta"]) * len(spec["grid"]["scenario.shocks[0].vix_level"])
    return {"cells": n, "wall_s": wall, "cells_per_min": n / wall * 60.0}


def _warm_cluster(spec: dict, workers: int) -> dict:
    """The sweep on a ``LocalCluster`` whose workers have built the tables and compiled the kernels already."""
    import logging

    from distributed import Client, LocalCluster

    from ..sweeps import resolve_sweep
    from ..sweeps.worker import probe_schema

    plan = resolve_sweep(spec)
    sp = plan.passes[0]
    scen, strat = plan.pass_scenario(sp).to_dict(), plan.cells[sp.cells[0]].spec.strategy_spec().to_dict()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        client.run(probe_schema, scen, strat, seed=plan.seed, dtype=plan.dtype, backend="numpy", cpu_threads=1)
        return _measure(spec, scheduler=cluster.scheduler_address, backend="numpy", cpu_threads=1)


def run_sweep_scaling(suite: Suite, backend, sizes: Sizes) -> None:
    """Add the sweep rows of ``backend`` to ``suite``: one per entry of ``sizes.sweep_workers``."""
    spec = sweep_spec(sizes.sweep_cells, sizes.sweep_paths, sizes.sweep_days)
    size = f"{sizes.sweep_cells} cells of {sizes.sweep_paths:,} x {sizes.sweep_days}"
    per_cell = sizes.sweep_paths * sizes.sweep_days
    results = {}
    for w in sizes.sweep_workers:
        if w == 0:
            suite.say(f"  {backend.name:8s} sweep: warm-up in this process ...")
            _measure(sweep_spec(2, min(sizes.sweep_paths, 64), sizes.sweep_days), backend=backend.name)  # kernels, tables
            results[w] = _measure(spec, backend=backend.name)
        else:
            suite.say(f"  {backend.name:8s} sweep: LocalCluster({w}) starting, workers compiling / loading the kernels ...")
            results[w] = _warm_cluster(spec, w)
    one = results[min(results)]
    for w, r in results.items():
        rate = r["cells"] * per_cell / r["wall_s"]
        ratio = r["cells_per_min"] / one["cells_per_min"]
        ref = f"{ratio:.2f}x 1 worker" if w != min(results) else f"{rate:.3g} path-days/s"
        mode = f"in this process ({backend.name})" if w == 0 else f"LocalCluster({w}), 1 thread each, warm"
        suite.add(Row(f"sweep.workers{max(w, 1)}", "sweep scaling", f"sweep, {mode}", backend.name, "float64", size, r["wall_s"], r["cells_per_min"],
                      "cells/min", ref, rate=rate),
                  benchmark="sweep_cells", device=backend.device,
                  sizes={"cells": r["cells"], "paths": sizes.sweep_paths, "days": sizes.sweep_days, "workers": max(w, 1),
                         "mode": "in-process" if w == 0 else "LocalCluster warm"},
                  extra={"path_days_per_s": rate, "scaling_vs_1_worker": ratio if w else None, "threads_per_worker": 1 if w else None})
    if 0 in results and not backend.is_gpu:
        suite.note("--quick: the sweep ran in this process; the 1 vs 2 worker scaling is measured without --quick")
