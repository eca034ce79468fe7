"""``alvh sweep plan``: cells, passes, memory per pass/cell and device time from the newest benchmark record.

Formulas (bytes; ``R`` = strategy rows of a pass after sharing identical rows,
``L`` = ladder layers, ``D`` = trading days, ``B`` = paths per batch,
``T`` = batches in flight: 1 on a GPU, ``min(threads, batches)`` on the CPU):

* engine outputs per batch: ``bytes_per_path x B`` with ``bytes_per_path`` =
  ``gpu_alvh.runner._bytes_per_path`` = ``64 x 8 x R`` (per-path outputs of every row; the per-path
  state of the fused engine lives in registers / local memory);
* histograms per batch: ``(R + 2) x (D + 1) x 2000 x 8`` (NAV per row, SPX, VIX);
* host results of the pass: ``R x P x 8 x (21 + 3 L) + 16 P`` (per-path
  metrics of every row);
* peak per pass = ``T x (state + histograms) + results``; per cell = peak / cells in the pass.

Device time: the newest ``run_alvh-<backend>-*.json`` record (``alvh bench``, group ``book``;
``throughput`` in path-days/s for ``sizes.strategies`` rows) gives
``seconds(pass) = P x D x R / (strategies x throughput)``, plus one pricing-table
build per distinct pricing model per worker (``extra.table_build_seconds``).
Records are searched in ``$ALVH_BENCH_RESULTS`` if set (point it at the
``bench/results`` folder of your own benchmark runs), else in ``bench/results/``
of a source checkout, in the user folder ``alvh bench`` writes to from an installed
package (``$XDG_DATA_HOME/gpu_alvh/bench_results``) and in the records shipped with the package
(``gpu_alvh.bench_records``: the ``run_alvh`` records of the repository, made on
the machine named in each record); the newest record of the backend wins.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


from .plan import SweepPlan
from .worker import pass_batch_size, pass_bytes_per_path

__all__ = ["plan_report", "bench_record_dirs", "newest_run_record", "format_report"]

HIST_BINS = 2000
#: Seconds to build one pricing model's SPX + VIX tables when they are not on disk yet: the library's SVCJ
#: market on the 2-core development machine (22 s + 3.6 s, docs/pricing.md "Pricing regimes").  Used when
#: the benchmark record read its tables from the disk cache (its own build time is then ~0).
COLD_TABLE_SECONDS = 26.0
#: The same for a two-factor pricing model (SVCJ2, base_2f): SPX table 77 s, VIX table 71 s on the same
#: machine unloaded (docs/pricing.md), more under load.
COLD_TABLE_SECONDS_2F = 180.0


def bench_record_dirs() -> list[Path]:
    """Folders searched for benchmark records: :func:`gpu_alvh.benchmarks.records.search_dirs`
    (``[$ALVH_BENCH_RESULTS]`` if set, else the source checkout's ``bench/results``, the user folder
    ``alvh bench`` writes to from an installed package, and the records shipped with the package)."""
    from ..benchmarks.records import search_dirs

    return search_dirs()


def newest_run_record(backend: str, dtype: str | None = None, folder: Path | None = None) -> tuple[dict | None, Path | None]:
    """Newest ``run_alvh`` record of ``backend`` (same dtype preferred) and its file, from :func:`bench_record_dirs`."""
    best: tuple[tuple, dict, Path] | None = None
    for d in ([folder] if folder is not None else bench_record_dirs()):
        for p in d.glob(f"run_alvh-{backend}-*.json") if d.is_dir() else []:
            try:
                rec = json.loads(p.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            if rec.get("backend") != backend or not rec.get("throughput"):
                continue
            rank = (rec.get("dtype") == dtype, str(rec.get("timestamp", "")))
            if best is None or rank > best[0]:
                best = (rank, rec, p)
    return (best[1], best[2]) if best else (None, None)


def _backend_kind(backend: str) -> str:
    name = str(backend).lower()
    if name == "auto":
        from ..backend import cupy_status

        return "cupy" if cupy_status()[0] else "numpy"
    return name


def plan_report(plan: SweepPlan, *, backend: str = "auto", max_memory: int | None = None, threads: int | None = None,
                workers: int = 1) -> dict[str, Any]:
    """Numbers behind ``alvh sweep plan`` (see the module docstring for the formulas)."""
    from ..runner import _cell_rows

    kind = _backend_kind(backend)
    is_gpu = kind == "cupy"
    if threads is None:
        from cpu_fallback.numpy_backend import cpu_count

        threads = cpu_count()
    rec, rec_path = newest_run_record(kind, plan.dtype)
    passes = []
    for sp in plan.passes:
        strategies = plan.pass_strategies(sp)
        rows, _ = _cell_rows(strategies)
        R = len(rows)
        spec = plan.pass_scenario(sp)
        D = int(spec.horizon) * int(spec.steps_per_day)
        L = len({int(d) for r in rows for d in r.spec.layers})
        bpp = pass_bytes_per_path(strategies)
        B = pass_batch_size(plan.n_paths, bpp, is_gpu=is_gpu, batch_size=plan.spec.batch_size, max_memory=max_memory)
        n_batches = -(-plan.n_paths // B)
        T = 1 if is_gpu else max(1, min(threads, n_batches))
        state = bpp * B
        hist = (R + 2) * (int(spec.horizon) + 1) * HIST_BINS * 8
        results = R * plan.n_paths * 8 * (21 + 3 * L) + 16 * plan.n_paths
        peak = T * (state + hist) + results
        seconds = None
        if rec is not None:
            strat_rec = max(int(rec.get("sizes", {}).get("strategies", 3) or 3), 1)
            seconds = plan.n_paths * D * R / (strat_rec * float(rec["throughput"]))
        passes.append({"pass": sp.index, "cells": len(sp.cells), "rows": R, "days": int(spec.horizon), "bytes_per_path": bpp, "batch": B,
                       "batches": n_batches, "in_flight": T, "state_bytes": state, "hist_bytes": hist, "result_bytes": results,
                       "peak_bytes": peak, "seconds": seconds, "scenario": spec.name})
    n_labels = len(plan.strategy_labels)
    L_all = len(plan.layers)
    store_bytes = len(plan.cells) * (n_labels * plan.n_paths * 8 * (21 + 3 * L_all) + 16 * plan.n_paths)
    report: dict[str, Any] = {
        "sweep": plan.name,
        "source": plan.source,
        "hash": plan.hash,
        "backend": kind,
        "dtype": plan.dtype,
        "scenarios": [{"name": s.name, "model": s.model, "days": int(s.horizon)} for s in plan.scenarios],
        "params": [{"dim": p.dim, "key": p.key, "level": p.level, "values": list(p.values)} for p in plan.params],
        "grid_points": plan.n_grid,
        "cells": len(plan.cells),
        "passes": len(plan.passes),
        "variants_per_pass": int(plan.spec.variants_per_pass),
        "paths": plan.n_paths,
        "seed": plan.seed,
        "max_days": plan.n_days,
        "path_days": int(sum(plan.n_paths * p["days"] * p["cells"] for p in passes)),
        "pass_detail": passes,
        "peak_bytes_per_pass": max(p["peak_bytes"] for p in passes),
        "peak_bytes_per_cell": max(p["peak_bytes"] / p["cells"] for p in passes),
        "batch": sorted({p["batch"] for p in passes}),
        "store_bytes_uncompressed": store_bytes,
        "benchmark": None,
    }
    if rec is not None:
        total = float(sum(p["seconds"] for p in passes))
        tables = float(rec.get("extra", {}).get("table_build_seconds", 0.0) or 0.0)
        tables = tables if tables >= 1.0 else COLD_TABLE_SECONDS
        # every cell's pricing models (a swept pricing parameter or a priced window makes new ones), cold
        models = {json.dumps(m.to_dict(), sort_keys=True) + f"{c.spec.rate}/{c.spec.dividend_yield}": m.n_factors for c in plan.cells.values()
                  for m in c.spec.pricing_models()}
        n_models = len(models)
        n_two = sum(1 for k in models.values() if k == 2)
        report["pricing_models"] = n_models
        report["benchmark"] = {"file": str(rec_path), "timestamp": rec.get("timestamp"), "device": rec.get("device"), "dtype": rec.get("dtype"),
                               "throughput": float(rec["throughput"]), "throughput_unit": rec.get("throughput_unit"),
                               "strategies": rec.get("sizes", {}).get("strategies")}
        report["seconds_compute"] = total
        tables = tables * (n_models - n_two) + COLD_TABLE_SECONDS_2F * n_two  # every model's, per worker
        report["seconds_tables_per_worker"] = tables
        report["seconds_per_cell"] = total / max(len(plan.cells), 1)
        report["device_hours"] = (total + tables * max(workers, 1)) / 3600.0
        report["wall_seconds_estimate"] = total / max(workers, 1) + tables
    else:
        report["benchmark_missing"] = (f"no run_alvh-{kind}-*.json record with a throughput in {', '.join(str(d) for d in bench_record_dirs())}"
                                       "; measure one with `python bench/bench_run.py --backend " + kind + "` in a source checkout and set "
                                       "ALVH_BENCH_RESULTS to its bench/results folder")
    return report


def _size(n: float) -> str:
    for unit, k in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= k:
            return f"{n / k:.1f} {unit}"
    return f"{int(n)} B"


def _dur(s: float) -> str:
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.2f} h"


def format_report(r: dict[str, Any]) -> str:
    """Human-readable ``alvh sweep plan`` output."""
    lines = [f"sweep {r['sweep']}  ({r['source']}, hash {r['hash'][:12]})"]
    lines.append("scenarios: " + ", ".join(f"{s['name']} ({s['model']}, {s['days']} days)" for s in r["scenarios"]))
    for p in r["params"]:
        lines.append(f"  {p['dim']:>16s} = {p['key']} ({p['level']}): {p['values']}")
    lines.append(f"cells: {r['cells']} (of {r['grid_points']} grid points)   passes: {r['passes']} (<= {r['variants_per_pass']} variants each, "
                 f"variants of a pass share its paths)")
    lines.append(f"paths: {r['paths']} per cell, seed {r['seed']}, dtype {r['dtype']}, backend {r['backend']}; "
                 f"{r['path_days']:.3g} path-days in all; batch {', '.join(str(b) for b in r['batch'])} paths")
    worst = max(r["pass_detail"], key=lambda p: p["peak_bytes"])
    lines.append(f"memory: peak ~{_size(r['peak_bytes_per_pass'])} per pass, ~{_size(r['peak_bytes_per_cell'])} per cell "
                 f"(largest pass: {worst['rows']} strategy rows, {_size(worst['bytes_per_path'])}/path x {worst['batch']} paths x "
                 f"{worst['in_flight']} batch(es) in flight + histograms {_size(worst['hist_bytes'])} + results {_size(worst['result_bytes'])})")
    lines.append(f"store: ~{_size(r['store_bytes_uncompressed'])} uncompressed")
    if r.get("benchmark"):
        b = r["benchmark"]
        lines.append(f"estimate: {_dur(r['seconds_compute'])} of engine time ({_dur(r['seconds_per_cell'])} per cell) + "
                     f"pricing tables ~{_dur(r['seconds_tables_per_worker'])} per worker ({r['pricing_models']} pricing model(s), if not on disk yet) "
                     f"= {r['device_hours']:.3g} device-hours")
        lines.append(f"  from {Path(b['file']).name}: {b['throughput']:.3g} {b['throughput_unit']} for {b['strategies']} strategies "
                     f"on {b['device']} ({b['dtype']}, {b['timestamp']})")
    else:
        lines.append(f"estimate: none - {r['benchmark_missing']}")
    return "\n".join(lines)
