"""Benchmark: sweep throughput (cells per minute) for 1 vs 2 local Dask workers on the CPU, and cost per cell on a GPU.

CPU (``--backend numpy``, the default without a GPU): the same sweep (a Heston
scenario x short_delta x VIX-shock level, one cell per pass so that cells can
spread over workers) runs in-process and on ``LocalCluster(1)`` /
``LocalCluster(2)`` with one NumPy thread per worker; the scaling ratio is
cells/min(2 workers) / cells/min(1 worker).  Two rates per run: end to end
(cluster start, pricing tables in every worker, template) and steady state
(cells completed per minute between the first and the last completion, from
the store's ``.sweep/events``).

GPU (``--backend cupy``): in-process on the device, larger cells; reports
seconds and device-hours per cell.

Prints a table and appends JSON records ``sweep_cells-<backend>-...`` to
``bench/results/``.

    python bench/bench_sweep.py [--backend auto|numpy|cupy] [--paths N] [--days D] [--cells 8]
"""

from __future__ import annotations

import argparse
import datetime as _dt
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import print_table, record  # noqa: E402
from gpu_alvh.backend import get_backend  # noqa: E402
from gpu_alvh.sweeps import sweep  # noqa: E402
from gpu_alvh.sweeps.store import read_events  # noqa: E402

SCENARIO = {
    "name": "bench_sweep",
    "model": "heston",
    "params": {"kappa": 2.0, "theta": 0.04, "sigma": 0.5, "rho": -0.7},
    "spot": 5000.0,
    "vix": 18.0,
    "rate": 0.03,
    "start": "2026-07-31",
    "shocks": [{"vix_level": 40.0, "day": 5}],
}


def sweep_spec(cells: int, paths: int, days: int) -> dict:
    deltas = [0.08, 0.10, 0.12, 0.14, 0.16, 0.18, 0.20, 0.22][: max(1, cells // 2)]
    return {"name": "bench", "scenarios": [{**SCENARIO, "horizon": days}], "paths": paths, "seed": 1, "variants_per_pass": 1,
            "grid": {"strategy.short_delta": deltas, "scenario.shocks[0].vix_level": [30, 60][: 1 if cells < 2 else 2]}}


def _t(s: str) -> float:
    return _dt.datetime.fromisoformat(s).timestamp()


def measure(spec: dict, *, workers: int = 0, backend: str, cpu_threads: int | None, scheduler: str | None = None) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="bench_sweep_"))
    try:
        out = tmp / "s.zarr"
        t0 = time.perf_counter()
        sweep(spec, out=out, workers=workers, scheduler=scheduler, backend=backend, cpu_threads=cpu_threads)
        wall = time.perf_counter() - t0
        times = sorted(_t(e["time"]) for e in read_events(out, "done"))
        n = len(times)
        steady = (n - 1) / (times[-1] - times[0]) * 60.0 if n > 1 and times[-1] > times[0] else float("nan")
        return {"cells": n, "wall_s": wall, "cells_per_min": n / wall * 60.0, "steady_cells_per_min": steady}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def warm_cluster_run(spec: dict, workers: int) -> dict:
    """Sweep on a LocalCluster whose workers have already built the scenario's pricing tables."""
    import logging

    from distributed import Client, LocalCluster

    from gpu_alvh.sweeps import resolve_sweep
    from gpu_alvh.sweeps.worker import probe_schema

    plan = resolve_sweep(spec)
    sp = plan.passes[0]
    scen, strat = plan.pass_scenario(sp).to_dict(), plan.cells[sp.cells[0]].spec.strategy_spec().to_dict()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        client.run(probe_schema, scen, strat, seed=plan.seed, dtype=plan.dtype, backend="numpy", cpu_threads=1)
        return measure(spec, scheduler=cluster.scheduler_address, backend="numpy", cpu_threads=1)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--paths", type=int, default=None, help="paths per cell [CPU 1000, GPU 262144]")
    ap.add_argument("--days", type=int, default=None, help="trading days [CPU 42, GPU 252]")
    ap.add_argument("--cells", type=int, default=8)
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args(argv)

    b = get_backend(args.backend)
    rows = []
    if b.is_gpu:
        paths, days = args.paths or 262144, args.days or 252
        spec = sweep_spec(args.cells, paths, days)
        measure(sweep_spec(2, 1024, days), workers=0, backend="cupy", cpu_threads=None)  # warm-up: kernels, pricing tables
        r = measure(spec, workers=0, backend="cupy", cpu_threads=None)
        per_cell = r["wall_s"] / r["cells"]
        rows.append({"mode": "in-process (GPU)", "workers": 1, **r, "s_per_cell": per_cell})
        record("sweep_cells", backend=b.name, device=b.device, dtype="float64",
               sizes={"cells": r["cells"], "paths": paths, "days": days, "workers": 1}, median_seconds=r["wall_s"],
               throughput=r["cells_per_min"], throughput_unit="cells/min",
               extra={"seconds_per_cell": per_cell, "device_hours_per_cell": per_cell / 3600.0,
                      "steady_cells_per_min": r["steady_cells_per_min"]}, save=not args.no_save)
    else:
        paths, days = args.paths or 1000, args.days or 42
        spec = sweep_spec(args.cells, paths, days)
        results = {}
        for mode, workers, threads in (("in-process", 0, None), ("LocalCluster cold", 1, 1), ("LocalCluster cold", 2, 1)):
            r = measure(spec, workers=workers, backend="numpy", cpu_threads=threads)
            results[(mode, workers)] = r
            rows.append({"mode": mode, "workers": workers, "threads": threads or b.workers, **r})
        for workers in (1, 2):  # warm: workers started and pricing tables built before the clock starts
            r = warm_cluster_run(spec, workers)
            results[("LocalCluster warm", workers)] = r
            rows.append({"mode": "LocalCluster warm", "workers": workers, "threads": 1, **r})
        one, two = results[("LocalCluster warm", 1)], results[("LocalCluster warm", 2)]
        ratio = two["cells_per_min"] / one["cells_per_min"]
        ratio_steady = two["steady_cells_per_min"] / one["steady_cells_per_min"]
        cold = results[("LocalCluster cold", 2)]["cells_per_min"] / results[("LocalCluster cold", 1)]["cells_per_min"]
        for row in rows:
            row["ratio_vs_1"] = row["cells_per_min"] / one["cells_per_min"]
        for (mode, workers), r in results.items():
            record("sweep_cells", backend=b.name, device=b.device, dtype="float64",
                   sizes={"cells": r["cells"], "paths": paths, "days": days, "workers": workers, "mode": mode},
                   median_seconds=r["wall_s"], throughput=r["cells_per_min"], throughput_unit="cells/min",
                   extra={"steady_cells_per_min": r["steady_cells_per_min"], "scaling_ratio_2_vs_1": ratio,
                          "scaling_ratio_2_vs_1_steady": ratio_steady, "scaling_ratio_2_vs_1_cold": cold,
                          "threads_per_worker": 1 if workers else b.workers},
                   save=not args.no_save)
        print(f"scaling 2 vs 1 worker (warm workers): {ratio:.2f}x cells/min, {ratio_steady:.2f}x steady state; cold (cluster start + "
              f"pricing tables inside the timing): {cold:.2f}x")
    print(f"device: {b.device}; {paths} paths x {days} days per cell")
    print_table(rows, [("mode", "mode"), ("workers", "workers"), ("cells", "cells"), ("wall_s", "wall s"), ("cells_per_min", "cells/min"),
                       ("steady_cells_per_min", "steady cells/min"), ("ratio_vs_1", "vs 1 worker"), ("s_per_cell", "s/cell")])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
