"""Shared benchmark helpers: timing, the JSON record, the table.

Every benchmark appends one JSON file per record to ``bench/results/``:
``{benchmark, backend, device, dtype, sizes, median_seconds, throughput,
throughput_unit, git_revision, timestamp, host, extra}``.  Benchmarks measure;
no test ever asserts a wall-clock time.
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any, Callable

RESULTS = Path(__file__).resolve().parent / "results"


def median_time(fn: Callable[[], Any], repeats: int = 3, warmup: int = 1) -> tuple[float, list[float]]:
    """Median wall time of ``fn()`` over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def record(benchmark: str, *, backend: str, device: str, dtype: str | None, sizes: dict, median_seconds: float,
           throughput: float, throughput_unit: str, extra: dict | None = None, save: bool = True) -> dict:
    """Build a record and append it to ``bench/results/`` as its own JSON file."""
    from gpu_alvh.results import git_revision

    now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
    rec = {
        "benchmark": benchmark,
        "backend": backend,
        "device": device,
        "dtype": dtype,
        "sizes": sizes,
        "median_seconds": median_seconds,
        "throughput": throughput,
        "throughput_unit": throughput_unit,
        "git_revision": git_revision() or "unknown",
        "timestamp": now.isoformat(),
        "host": {"machine": platform.machine(), "python": platform.python_version(), "node": platform.node()},
        "extra": extra or {},
    }
    if save:
        RESULTS.mkdir(parents=True, exist_ok=True)
        stamp = now.strftime("%Y%m%dT%H%M%SZ")
        path = RESULTS / f"{benchmark}-{backend}-{dtype or 'na'}-{stamp}.json"
        n = 1
        while path.exists():
            path = RESULTS / f"{benchmark}-{backend}-{dtype or 'na'}-{stamp}-{n}.json"
            n += 1
        path.write_text(json.dumps(rec, indent=2, sort_keys=True) + "\n")
        rec["_path"] = str(path)
    return rec


def print_table(rows: list[dict], columns: list[tuple[str, str]]) -> None:
    """Print rows (dicts) as an aligned table; ``columns`` = [(key, header), ...]."""
    cells = [[h for _, h in columns]] + [[_fmt(r.get(k)) for k, _ in columns] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(columns))]
    for j, row in enumerate(cells):
        print("  ".join(c.rjust(w) for c, w in zip(row, widths)))
        if j == 0:
            print("  ".join("-" * w for w in widths))


def _fmt(x) -> str:
    if isinstance(x, float):
        return f"{x:.4g}" if abs(x) < 1e4 else f"{x:.3e}"
    return "" if x is None else str(x)


def latest(benchmark: str, backend: str | None = None) -> dict | None:
    """Newest saved record of a benchmark (optionally for one backend)."""
    best = None
    for p in RESULTS.glob(f"{benchmark}-*.json"):
        try:
            rec = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if backend and rec.get("backend") != backend:
            continue
        if best is None or rec.get("timestamp", "") > best.get("timestamp", ""):
            best = rec
    return best
